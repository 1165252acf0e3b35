//! `--explain`: the parsed pipeline as a tree, without reading any input (but the first
//! bytes of the files that `cat` and `xml` name, to say which are compressed and will be
//! decompressed on a thread of their own).
//!
//! Each stage is shown as written, with its role (pulled generator, scheduler task, pushed
//! coroutine, fan-out, sink); every edge between two stages carries the kind of item that travels on
//! it; the branches of `tee` and `broadcast` hang off their fan-out. When the type check
//! rejected the pipeline, the stage it rejected is marked and the edges after it show `?`:
//! this is how users see why a pipeline was refused.
//!
//! A source is a pulled generator (it reads and pushes in a loop of its own), or a task of
//! the scheduler (`listen`, `merge`: resumed when a descriptor is ready, see
//! [`crate::engine`]); a generator inside a `merge` branch runs as a task of the scheduler
//! too, yielding between batches (`xml --lenient` alone still runs on a thread of its own
//! behind the bridge). The branches of `tee --parallel` run on worker threads.
//!
//! ```text
//! cat app.log                     source: pulled generator
//! │ lines
//! tee                             fan-out: pushed coroutine, every item to each branch and on
//! ├── branch 1
//! │   │ lines
//! │   grep ^con                   filter: pushed coroutine
//! │   │ lines
//! │   write con.txt               sink: pushed coroutine
//! │ lines
//! count                           sink: pushed coroutine
//! ```

use super::grammar::{Call, Pipeline, SyntaxError};
use crate::protocol::def::{Build, Role};
use crate::source::decompress;

/// The column where the role starts.
const ROLE_COLUMN: usize = 36;

/// The tree of a parsed pipeline; `rejected` is the type-check error, if any.
pub fn explain(p: &Pipeline, rejected: Option<&SyntaxError>) -> String {
    let mut out = String::new();
    let at = rejected.and_then(|e| e.at);
    calls(&p.calls, "", false, Place::Main, at, &mut out);
    if rejected.is_some() {
        out.push_str("rejected: the pipeline does not type-check (see the error below)\n");
    }
    out
}

/// Where a run of calls stands: the source of a `merge` branch and the branches of
/// `tee --parallel` run apart from the main chain.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Main,
    MergeBranch,
    ParallelBranch,
}

fn calls(
    calls: &[Call],
    prefix: &str,
    edge_first: bool,
    place: Place,
    at: Option<usize>,
    out: &mut String,
) {
    for (i, call) in calls.iter().enumerate() {
        if (i > 0 || edge_first) && call.def.role != Role::Source {
            let kind = call.input.map_or("?", |k| k.plural());
            out.push_str(&format!("{prefix}│ {kind}\n"));
        }
        let mut line = format!("{prefix}{}", call.label());
        let width = line.chars().count();
        line.push_str(&" ".repeat(ROLE_COLUMN.saturating_sub(width).max(2)));
        line.push_str(role(call, place));
        if at.is_some() && touches(call, at) {
            line.push_str("   ✗ rejected");
        }
        out.push_str(line.trim_end());
        out.push('\n');
        if let Some(note) = decompression(call) {
            out.push_str(&format!("{prefix}  {note}\n"));
        }
        let n = call.branches.len();
        let continues = matches!(call.def.build, Build::FanOut { continues: true });
        for (j, b) in call.branches.iter().enumerate() {
            let last = j + 1 == n && !continues && i + 1 == calls.len();
            let (fork, inner) = if last {
                ("└── ", "    ")
            } else {
                ("├── ", "│   ")
            };
            let (inner_place, note) = if call.def.name == "merge" {
                (Place::MergeBranch, "")
            } else if parallel(call) {
                (Place::ParallelBranch, " (worker threads)")
            } else {
                (place, "")
            };
            out.push_str(&format!("{prefix}{fork}branch {}{note}\n", j + 1));
            self::calls(
                &b.calls,
                &format!("{prefix}{inner}"),
                true,
                inner_place,
                at,
                out,
            );
        }
    }
}

/// Whether a fan-out runs its branches on worker threads (`tee --parallel`).
fn parallel(call: &Call) -> bool {
    call.def.role == Role::FanOut
        && call
            .matches
            .try_get_one::<bool>("parallel")
            .ok()
            .flatten()
            .copied()
            .unwrap_or(false)
}

fn role(call: &Call, place: Place) -> &'static str {
    match (call.def.role, call.def.build) {
        (Role::Source, Build::Merge(_)) => "source: scheduler task, fan-in of its branches",
        (Role::Source, _) if call.def.scheduler_task() => {
            "source: scheduler task, woken when a descriptor is ready"
        }
        (Role::Source, _) if place == Place::MergeBranch && lenient_xml(call) => {
            "source: pulled generator, on a thread of its own (bridged: quick-xml's reader cannot resume)"
        }
        (Role::Source, _) if place == Place::MergeBranch => {
            "source: generator run as a scheduler task, yielding between batches"
        }
        (Role::Source, _) => "source: pulled generator",
        (Role::Filter, _) if matches!(call.def.name, "csv" | "tsv") => {
            "filter: pushed coroutine, big batches read on a second thread"
        }
        (Role::Filter, _) => "filter: pushed coroutine",
        (Role::FanOut, Build::FanOut { continues: true }) => {
            "fan-out: pushed coroutine, every item to each branch and on"
        }
        (Role::FanOut, _) => "fan-out: pushed coroutine, every item to each branch",
        (Role::Sink, _) => "sink: pushed coroutine",
    }
}

/// `xml --lenient`, the one source that still runs behind the bridge (see
/// `source::xml::lenient`).
fn lenient_xml(call: &Call) -> bool {
    call.def.name == "xml"
        && call
            .matches
            .try_get_one::<bool>("lenient")
            .ok()
            .flatten()
            .copied()
            .unwrap_or(false)
}

/// What a `cat` or `xml` will decompress: the files it names that are compressed
/// (recognised by their first bytes, as the sources do).
fn decompression(call: &Call) -> Option<String> {
    let flag = |name: &str| {
        call.matches
            .try_get_one::<bool>(name)
            .ok()
            .flatten()
            .copied()
            .unwrap_or(false)
    };
    let files: Vec<&std::path::PathBuf> = match call.def.name {
        "cat" if !flag("no_decompress") => call
            .matches
            .try_get_many::<std::path::PathBuf>("files")
            .ok()
            .flatten()?
            .collect(),
        "xml" if !flag("no_decompress") => {
            vec![
                call.matches
                    .try_get_one::<std::path::PathBuf>("file")
                    .ok()??,
            ]
        }
        _ => return None,
    };
    let found: Vec<String> = files
        .iter()
        .filter_map(|p| {
            let f = std::fs::File::open(p).ok()?;
            let format = decompress::sniff_file(&f)?;
            Some(format!("{} ({format})", p.display()))
        })
        .collect();
    let (first, rest) = found.split_at(found.len().min(3));
    let mut note = format!(
        "decompressed on a second thread, beside the pipeline: {}",
        first.first()?
    );
    for f in &first[1..] {
        note.push_str(&format!(", {f}"));
    }
    if !rest.is_empty() {
        note.push_str(&format!(" and {} more", rest.len()));
    }
    Some(note)
}

/// Whether the error points at this call's name or one of its arguments.
fn touches(call: &Call, at: Option<usize>) -> bool {
    let Some(at) = at else { return false };
    call.name.as_ref().is_some_and(|w| w.index == at) || call.args.iter().any(|w| w.index == at)
}

#[cfg(test)]
mod tests {
    use super::super::build::check;
    use super::super::grammar::{parse, split_text};
    use super::*;

    fn tree(s: &str) -> String {
        let mut p = parse(&split_text(s).unwrap()).unwrap();
        let e = check(&mut p).err();
        explain(&p, e.as_ref())
    }

    #[test]
    fn nested_branches_and_kinds() {
        let t = tree("cat a : tee { grep x : tee { count } : write f } : head 2");
        let want = "\
cat a                               source: pulled generator
│ lines
tee                                 fan-out: pushed coroutine, every item to each branch and on
├── branch 1
│   │ lines
│   grep x                          filter: pushed coroutine
│   │ lines
│   tee                             fan-out: pushed coroutine, every item to each branch and on
│   ├── branch 1
│   │   │ lines
│   │   count                       sink: pushed coroutine
│   │ lines
│   write f                         sink: pushed coroutine
│ lines
head 2                              filter: pushed coroutine
│ lines
print (implicit)                    sink: pushed coroutine
";
        assert_eq!(t, want, "\n{t}");
    }

    #[test]
    fn csv_says_it_reads_big_batches_on_a_second_thread() {
        for (stage, shown) in [("tsv", "tsv"), ("csv --sep ';'", "csv --sep ';'")] {
            let t = tree(&format!("cat a.csv : {stage}"));
            let want = format!(
                "\n{shown:<36}filter: pushed coroutine, big batches read on a second thread\n"
            );
            assert!(t.contains(&want), "{t}");
        }
    }

    #[test]
    fn scheduler_tasks_are_not_called_pulled_generators() {
        let t = tree(
            "merge { cat a : grep x } { xml b : records r : fmt x } { listen tcp://127.0.0.1:0 } : tee --parallel { count } : head 1",
        );
        assert!(
            t.starts_with("merge                               source: scheduler task, fan-in of its branches\n"),
            "{t}"
        );
        assert!(
            t.contains("│   cat a                           source: generator run as a scheduler task, yielding between batches\n"),
            "{t}"
        );
        assert!(
            t.contains("│   xml b                           source: generator run as a scheduler task, yielding between batches\n"),
            "{t}"
        );
        assert!(
            t.contains("│   listen tcp://127.0.0.1:0        source: scheduler task, woken when a descriptor is ready\n"),
            "{t}"
        );
        assert!(t.contains("├── branch 1 (worker threads)\n"), "{t}");
        // `xml --lenient` alone is still a thread behind the bridge.
        let t = tree("merge { xml --lenient b : records r : fmt x } { cat a }");
        assert!(
            t.contains("│   xml --lenient b                 source: pulled generator, on a thread of its own (bridged: quick-xml's reader cannot resume)\n"),
            "{t}"
        );
        let t = tree("listen udp://127.0.0.1:0 : count");
        assert!(
            t.starts_with("listen udp://127.0.0.1:0            source: scheduler task"),
            "{t}"
        );
        // A pulled generator elsewhere is still one; a sequential tee's branches are not
        // on threads.
        let t = tree("cat a : tee { count } : head 1");
        assert!(
            t.starts_with("cat a                               source: pulled generator\n"),
            "{t}"
        );
        assert!(t.contains("├── branch 1\n"), "{t}");
    }

    #[test]
    fn broadcast_ends_the_line_and_implicit_source() {
        let t = tree("grep x : broadcast { count } { head 1 }");
        assert!(t.starts_with("cat - (implicit: standard input)"), "{t}");
        assert!(t.contains("├── branch 1\n│   │ lines\n│   count"), "{t}");
        assert!(t.contains("└── branch 2\n    │ lines\n    head 1"), "{t}");
        assert!(
            t.ends_with("    print (implicit)                sink: pushed coroutine\n"),
            "{t}"
        );
    }
}
