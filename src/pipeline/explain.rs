//! `--explain`: the parsed pipeline as a tree, without reading any input.
//!
//! Each stage is shown as written, with its role (pulled generator, pushed coroutine,
//! fan-out, sink); every edge between two stages carries the kind of item that travels on
//! it; the branches of `tee` and `broadcast` hang off their fan-out. When the type check
//! rejected the pipeline, the stage it rejected is marked and the edges after it show `?`:
//! this is how users see why a pipeline was refused.
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
use crate::stage::def::{Build, Role};

/// The column where the role starts.
const ROLE_COLUMN: usize = 36;

/// The tree of a parsed pipeline; `rejected` is the type-check error, if any.
pub fn explain(p: &Pipeline, rejected: Option<&SyntaxError>) -> String {
    let mut out = String::new();
    let at = rejected.and_then(|e| e.at);
    calls(&p.calls, "", false, at, &mut out);
    if rejected.is_some() {
        out.push_str("rejected: the pipeline does not type-check (see the error below)\n");
    }
    out
}

fn calls(calls: &[Call], prefix: &str, edge_first: bool, at: Option<usize>, out: &mut String) {
    for (i, call) in calls.iter().enumerate() {
        if (i > 0 || edge_first) && call.def.role != Role::Source {
            let kind = call.input.map_or("?", |k| k.plural());
            out.push_str(&format!("{prefix}│ {kind}\n"));
        }
        let mut line = format!("{prefix}{}", call.label());
        let width = line.chars().count();
        line.push_str(&" ".repeat(ROLE_COLUMN.saturating_sub(width).max(2)));
        line.push_str(role(call));
        if at.is_some() && touches(call, at) {
            line.push_str("   ✗ rejected");
        }
        out.push_str(line.trim_end());
        out.push('\n');
        let n = call.branches.len();
        let continues = matches!(call.def.build, Build::FanOut { continues: true });
        for (j, b) in call.branches.iter().enumerate() {
            let last = j + 1 == n && !continues && i + 1 == calls.len();
            let (fork, inner) = if last {
                ("└── ", "    ")
            } else {
                ("├── ", "│   ")
            };
            out.push_str(&format!("{prefix}{fork}branch {}\n", j + 1));
            self::calls(&b.calls, &format!("{prefix}{inner}"), true, at, out);
        }
    }
}

fn role(call: &Call) -> &'static str {
    match (call.def.role, call.def.build) {
        (Role::Source, _) => "source: pulled generator",
        (Role::Filter, _) => "filter: pushed coroutine",
        (Role::FanOut, Build::FanOut { continues: true }) => {
            "fan-out: pushed coroutine, every item to each branch and on"
        }
        (Role::FanOut, _) => "fan-out: pushed coroutine, every item to each branch",
        (Role::Sink, _) => "sink: pushed coroutine",
    }
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
