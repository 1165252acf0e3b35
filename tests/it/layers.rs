//! The layers of the code, top to bottom, and a check that every `crate::…` path in `src/`
//! points down (or across, inside its own layer), never up. Read [`LAYERS`] as the map of
//! the code; the tests fail when a module reaches above its layer, or when a new module
//! belongs to no layer yet (decide where it goes and add it).
//!
//! Inside the stages layer a second rule holds: no component imports another component. A
//! component is one source, filter or sink (`source::cat`, `stage::grep`, `sink::send`,
//! `fanout`, with everything inside it); what several of them use lives below them
//! (`net`, `nats`, `xmlchars`, `runtime::units`, …) or is one of the shared pieces named in
//! [`SHARED`].
//!
//! The check reads the source text of whole files: every `crate::…` path (in `use` lines,
//! grouped `use crate::{a, b::{c}}` included, and written out in code), and `super::…`,
//! `self::…`. Comments are skipped; unit-test modules are read like the rest.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

/// One layer: its name, the modules in it, and what it is.
struct Layer {
    name: &'static str,
    /// `a` is module `a` and everything inside it; `a::*` only what is inside it. The most
    /// specific pattern wins.
    modules: &'static [&'static str],
    #[allow(dead_code)]
    what: &'static str,
}

/// Top to bottom. A module may use its own layer and the layers below it.
const LAYERS: &[Layer] = &[
    Layer {
        name: "cli",
        modules: &["cli"],
        what: "the command line: arguments, help, man page, completions, exit status \
               (main.rs only calls cli::main)",
    },
    Layer {
        name: "pipeline",
        modules: &["pipeline"],
        what: "the grammar, the catalogue that collects every stage's DEF (registry), the \
               type check and build, --explain, --stats, and the run (direct, or on the \
               scheduler)",
    },
    Layer {
        name: "stages",
        modules: &["source", "stage", "fanout", "sink"],
        what: "the stage definitions, one file per stage (and the pieces they share: readers, \
               parsers, labels); a stage may use another's pieces, never the pipeline above",
    },
    Layer {
        name: "shared",
        modules: &["net", "nats", "xmlchars"],
        what: "what several components use and none owns: network addresses (`net`), how to \
               reach a NATS server with its login options (`nats`), the XML character \
               classes (`xmlchars`)",
    },
    Layer {
        name: "engine",
        modules: &["engine"],
        what: "the scheduler, the thread bridge and batches: runs tasks and bridged sources; \
               knows the protocol, never a particular stage",
    },
    Layer {
        name: "protocol",
        modules: &["protocol"],
        what: "what a stage is: the Stage, Source and Task traits, Flow, pass_on!, and what a \
               definition is made of (StageDef, Build, BuildCx, Options, Status)",
    },
    Layer {
        name: "runtime",
        modules: &["runtime"],
        what: "the process around the run: signals, the buffered output, the meter and \
               progress bar, the open-file limit, timers, the raw descriptor calls (`fd`), \
               the units of durations and sizes (`units`)",
    },
    Layer {
        name: "item",
        modules: &["item"],
        what: "what travels between stages: lines, XML events, records, origins",
    },
    Layer {
        name: "record",
        modules: &["record"],
        what: "the record (a JSON tree in flat storage) and its parser",
    },
];

/// The pieces inside the stages layer that several components share: each is declared
/// here rather than moved below, because it is made of what its folder's stages are made
/// of (and moving it would only rename it). A shared piece may be used by any component;
/// it uses no component itself.
const SHARED: &[(&str, &str)] = &[
    (
        "source::reader",
        "the line reader of cat, follow and the xml source's inputs",
    ),
    (
        "source::decompress",
        "gzip/zstd/bzip2/xz decoders of cat, follow and xml",
    ),
    (
        "stage::lineparse",
        "the line-to-record frame of csv, kv, combined, syslog, parse",
    ),
    ("stage::fieldtype", "the --types of the line parsers"),
    ("sink::printer", "the NDJSON printer of print and write"),
    ("sink::label", "the --label prefixes of print and exec"),
    ("sink::color", "the --color painter of print and label"),
];

/// Component-to-component imports allowed for now, each with the reason it is still there.
/// Remove an entry as soon as its edge is gone: the test fails on an entry that is unused.
const EXCEPTIONS: &[(&str, &str, &str)] = &[(
    "stage::records",
    "source::xml",
    "records' unit tests feed it the events of the xml source's parser (test code only)",
)];

/// The component a module of the stages layer belongs to (`source::follow::wait` is in
/// `source::follow`), or `None` for the folder modules themselves (`source`, `stage`,
/// `sink`, which only declare their children) and for modules of other layers.
fn component_of(module: &str) -> Option<String> {
    if module == "fanout" || module.starts_with("fanout::") {
        return Some("fanout".to_string());
    }
    let mut segs = module.split("::");
    let folder = segs.next()?;
    let child = segs.next()?;
    ["source", "stage", "sink"]
        .contains(&folder)
        .then(|| format!("{folder}::{child}"))
}

fn is_shared(component: &str) -> bool {
    SHARED.iter().any(|(m, _)| *m == component)
}

/// The module a file under `src/` is: `stage/grep.rs` is `stage::grep`, `stage/mod.rs` is
/// `stage`; `lib.rs` is the root, "".
fn module_of(rel: &Path) -> String {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_string());
    }
    parts.join("::")
}

/// Every `.rs` file under `dir`, with its path relative to `root`.
fn rust_files(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap()).collect();
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            rust_files(root, &p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            out.push((
                rel.to_string_lossy().into_owned(),
                fs::read_to_string(&p).unwrap(),
            ));
        }
    }
}

/// The code of a whole file without its comments (unit-test modules included).
fn code_of(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("//") {
            continue;
        }
        let code = match line.find(" //") {
            Some(i) => &line[..i],
            None => line,
        };
        out.push_str(code);
        out.push('\n');
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Expand a use tree at the start of `s` (after `crate::`): `a::b::C` or `a::{b, c::{D}}`;
/// each path found is pushed with `prefix` before it.
fn use_tree(s: &str, prefix: &str, out: &mut Vec<String>) {
    let s = s.trim_start();
    if let Some(rest) = s.strip_prefix('{') {
        // Split the group at its top-level commas.
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in rest.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    use_tree(&rest[start..i], prefix, out);
                    return;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    use_tree(&rest[start..i], prefix, out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        return;
    }
    let end = s.find(|c: char| !is_ident(c)).unwrap_or(s.len());
    let ident = &s[..end];
    if ident.is_empty() {
        return;
    }
    let path = if prefix.is_empty() {
        ident.to_string()
    } else {
        format!("{prefix}::{ident}")
    };
    match s[end..].strip_prefix("::") {
        Some(rest) => use_tree(rest, &path, out),
        None => out.push(path),
    }
}

/// The crate paths the code of module `module` names, resolved from the crate root.
fn paths_in(module: &str, code: &str) -> Vec<String> {
    let parent = module.rsplit_once("::").map_or("", |(p, _)| p);
    let mut out = Vec::new();
    for (word, base) in [("crate::", ""), ("super::", parent), ("self::", module)] {
        let mut from = 0;
        while let Some(i) = code[from..].find(word) {
            let at = from + i;
            from = at + word.len();
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| is_ident(c) || c == '$' || c == ':') {
                continue;
            }
            use_tree(&code[from..], base, &mut out);
        }
    }
    out
}

/// The layer of a module: the index in [`LAYERS`] of its most specific pattern.
fn layer_of(module: &str) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for (i, layer) in LAYERS.iter().enumerate() {
        for pat in layer.modules {
            let score = if let Some(parent) = pat.strip_suffix("::*") {
                module
                    .strip_prefix(parent)
                    .is_some_and(|r| r.starts_with("::"))
                    .then(|| 2 * parent.len() + 1)
            } else if module == *pat {
                Some(2 * pat.len() + 2)
            } else {
                module
                    .strip_prefix(pat)
                    .is_some_and(|r| r.starts_with("::"))
                    .then(|| 2 * pat.len())
            };
            if let Some(s) = score
                && best.is_none_or(|(b, _)| s > b)
            {
                best = Some((s, i));
            }
        }
    }
    best.map(|(_, i)| i)
}

/// The module a path lands in: its longest prefix that is a module of the crate.
fn target_module<'a>(path: &str, modules: &'a BTreeSet<String>) -> Option<&'a str> {
    let segs: Vec<&str> = path.split("::").collect();
    (1..=segs.len())
        .rev()
        .map(|n| segs[..n].join("::"))
        .find_map(|p| modules.get(&p).map(String::as_str))
}

/// Every import of one component by another, said as the test reports it, and the
/// exceptions of [`EXCEPTIONS`] that were used.
fn sideways_imports(
    file: &str,
    module: &str,
    code: &str,
    modules: &BTreeSet<String>,
    used: &mut BTreeSet<(String, String)>,
) -> Vec<String> {
    let Some(own) = component_of(module) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for path in paths_in(module, code) {
        let Some(target) = target_module(&path, modules) else {
            continue;
        };
        let Some(theirs) = component_of(target) else {
            continue;
        };
        if theirs == own || is_shared(&theirs) {
            continue;
        }
        if EXCEPTIONS.iter().any(|(a, b, _)| *a == own && *b == theirs) {
            used.insert((own.clone(), theirs));
            continue;
        }
        let what = if is_shared(&own) {
            "a shared piece may use no component"
        } else {
            "components do not import each other"
        };
        found.push(format!(
            "{file} (`{own}`) uses crate::{path}, in component `{theirs}`: {what}; give \
             what they share a home below the components (or declare it in SHARED)"
        ));
    }
    found.sort();
    found.dedup();
    found
}

/// Every import of a module from a layer above its own, said as the test reports it.
fn upward_imports(file: &str, module: &str, code: &str, modules: &BTreeSet<String>) -> Vec<String> {
    let Some(own) = layer_of(module) else {
        return vec![format!("{file} (module `{module}`) belongs to no layer")];
    };
    let mut found = Vec::new();
    for path in paths_in(module, code) {
        let Some(target) = target_module(&path, modules) else {
            continue;
        };
        if target.is_empty() {
            continue;
        }
        match layer_of(target) {
            Some(t) if t < own => found.push(format!(
                "{file} ({}) uses crate::{path}, in `{}` above it",
                LAYERS[own].name, LAYERS[t].name
            )),
            _ => {}
        }
    }
    found.sort();
    found.dedup();
    found
}

fn sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &root, &mut files);
    files
}

/// The modules of the crate (main.rs is the binary's, not one of them).
fn modules_of(files: &[(String, String)]) -> BTreeSet<String> {
    files
        .iter()
        .filter(|(f, _)| f != "main.rs")
        .map(|(f, _)| module_of(Path::new(f)))
        .collect()
}

#[test]
fn no_module_uses_a_layer_above_its_own() {
    let files = sources();
    let modules = modules_of(&files);
    let mut bad = Vec::new();
    for (file, text) in &files {
        let module = module_of(Path::new(file));
        // The root only declares the modules; main.rs is checked below.
        if module.is_empty() || file == "main.rs" {
            continue;
        }
        bad.extend(upward_imports(
            &format!("src/{file}"),
            &module,
            &code_of(text),
            &modules,
        ));
    }
    assert!(
        bad.is_empty(),
        "imports against the layers (see LAYERS in tests/it/layers.rs):\n{}",
        bad.join("\n")
    );
}

#[test]
fn no_component_imports_another() {
    let files = sources();
    let modules = modules_of(&files);
    let mut bad = Vec::new();
    let mut used = BTreeSet::new();
    for (file, text) in &files {
        if file == "main.rs" {
            continue;
        }
        let module = module_of(Path::new(file));
        bad.extend(sideways_imports(
            &format!("src/{file}"),
            &module,
            &code_of(text),
            &modules,
            &mut used,
        ));
    }
    assert!(
        bad.is_empty(),
        "imports between components (see SHARED in tests/layers.rs):\n{}",
        bad.join("\n")
    );
    for (a, b, why) in EXCEPTIONS {
        assert!(
            used.contains(&(a.to_string(), b.to_string())),
            "the exception {a} -> {b} ({why}) is no longer needed: remove it from EXCEPTIONS"
        );
    }
    for (m, why) in SHARED {
        assert!(
            modules.contains(*m),
            "the shared piece {m} ({why}) is gone: remove it from SHARED"
        );
    }
}

#[test]
fn every_module_opens_with_a_header() {
    let missing: Vec<String> = sources()
        .into_iter()
        .filter(|(_, text)| !text.starts_with("//!"))
        .map(|(f, _)| format!("src/{f}"))
        .collect();
    assert!(
        missing.is_empty(),
        "modules without a `//!` header saying what they are: {missing:?}"
    );
}

#[test]
fn main_only_calls_the_library() {
    let text =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/main.rs")).unwrap();
    let code = code_of(&text);
    let lines: Vec<&str> = code
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(
        lines,
        [
            "fn main() {",
            "std::process::exit(copipe::cli::main());",
            "}"
        ],
        "main.rs is to stay a call into the library"
    );
}

// The checker itself: it must see what it is there to refuse.

fn modules_for_tests() -> BTreeSet<String> {
    [
        "cli",
        "pipeline",
        "pipeline::registry",
        "pipeline::build",
        "protocol",
        "protocol::def",
        "protocol::task",
        "stage",
        "stage::grep",
        "engine",
        "engine::sched",
        "source",
        "source::xml",
        "source::listen",
        "source::reader",
        "sink",
        "sink::send",
        "sink::count",
        "sink::count::every",
        "fanout",
        "net",
        "runtime",
        "runtime::signal",
        "item",
        "record",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

#[test]
fn the_checker_refuses_a_stage_that_imports_the_registry() {
    let m = modules_for_tests();
    let code = code_of("use crate::pipeline::registry::{Build, BuildCx};\n");
    let bad = upward_imports("src/stage/grep.rs", "stage::grep", &code, &m);
    assert_eq!(bad.len(), 2, "{bad:?}");
    assert!(bad[0].contains("in `pipeline` above it"), "{bad:?}");
}

#[test]
fn the_checker_reads_groups_paths_in_code_and_super() {
    let m = modules_for_tests();
    // A group, nested.
    let code = code_of("use crate::{item::Item, protocol::{Flow, def::BuildCx}, cli};\n");
    let bad = upward_imports("src/engine/sched.rs", "engine::sched", &code, &m);
    assert_eq!(
        bad,
        ["src/engine/sched.rs (engine) uses crate::cli, in `cli` above it"]
    );
    // A path written out in code.
    let code = code_of("    let x = crate::source::xml::DEF.name;\n");
    assert_eq!(
        upward_imports("src/engine/mod.rs", "engine", &code, &m).len(),
        1
    );
    // `super` from a file module is its parent: engine::sched's is engine, which is fine
    // from the engine, and so are the layers below.
    let code = code_of("use super::Scheduler;\nuse crate::runtime::signal::Interrupt;\n");
    assert!(upward_imports("src/engine/sched.rs", "engine::sched", &code, &m).is_empty());
    // From the protocol, `super::super` would not parse as a module path we know; from the
    // protocol, the engine is above.
    let code = code_of("use crate::engine::sched::Scheduler;\n");
    assert_eq!(
        upward_imports("src/protocol/mod.rs", "protocol", &code, &m).len(),
        1
    );
}

#[test]
fn the_checker_skips_comments_but_reads_test_modules() {
    let m = modules_for_tests();
    let code =
        code_of("//! see crate::cli\n/// [`crate::pipeline::build`]\nlet a = 1; // crate::cli\n");
    assert!(upward_imports("src/stage/grep.rs", "stage::grep", &code, &m).is_empty());
    // A unit-test module is part of the file: what it imports counts.
    let code = code_of(
        "use crate::item::Item;\n#[cfg(test)]\nmod tests {\n    use crate::pipeline::build::check;\n}\n",
    );
    assert_eq!(
        upward_imports("src/stage/grep.rs", "stage::grep", &code, &m).len(),
        1
    );
}

#[test]
fn the_checker_refuses_a_component_that_imports_another() {
    let m = modules_for_tests();
    let mut used = BTreeSet::new();
    // A sink taking a source's address type: sideways.
    let code = code_of("use crate::source::listen::Address;\n");
    let bad = sideways_imports("src/sink/send.rs", "sink::send", &code, &m, &mut used);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(bad[0].contains("in component `source::listen`"), "{bad:?}");
    // A filter reaching into a sink's child module, written out in code: sideways too.
    let code = code_of("    value_parser = crate::sink::count::every::parse_duration,\n");
    assert_eq!(
        sideways_imports("src/stage/grep.rs", "stage::grep", &code, &m, &mut used).len(),
        1
    );
    // A source using `fanout`: sideways.
    let code = code_of("use crate::fanout::Tee;\n");
    assert_eq!(
        sideways_imports("src/source/xml.rs", "source::xml", &code, &m, &mut used).len(),
        1
    );
    // Inside one component, a shared piece, and the layers below: all fine.
    let code = code_of(
        "use crate::sink::count::Tally;\nuse crate::source::reader::LineReader;\n\
         use crate::net::Address;\nuse crate::runtime::signal::Interrupt;\n",
    );
    assert!(
        sideways_imports(
            "src/sink/count/every.rs",
            "sink::count::every",
            &code,
            &m,
            &mut used
        )
        .is_empty()
    );
    // A shared piece may not use a component.
    let code = code_of("use crate::sink::send::Send;\n");
    let bad = sideways_imports(
        "src/source/reader.rs",
        "source::reader",
        &code,
        &m,
        &mut used,
    );
    assert!(
        bad.len() == 1 && bad[0].contains("a shared piece"),
        "{bad:?}"
    );
    // The folder modules only declare their children.
    assert_eq!(component_of("sink"), None);
    assert_eq!(
        component_of("source::follow::wait").as_deref(),
        Some("source::follow")
    );
    assert_eq!(component_of("net"), None);
}

#[test]
fn layers_place_the_protocol_below_the_stages() {
    let name = |m: &str| layer_of(m).map(|i| LAYERS[i].name);
    assert_eq!(name("protocol"), Some("protocol"));
    assert_eq!(name("protocol::def"), Some("protocol"));
    assert_eq!(name("stage"), Some("stages"));
    assert_eq!(name("stage::grep"), Some("stages"));
    assert_eq!(name("source::xml::parallel"), Some("stages"));
    assert_eq!(name("pipeline::registry"), Some("pipeline"));
    assert_eq!(name("net"), Some("shared"));
    assert_eq!(name("nats"), Some("shared"));
    assert_eq!(name("xmlchars"), Some("shared"));
    assert_eq!(name("runtime::units"), Some("runtime"));
    assert_eq!(name("nowhere"), None);
}
