//! Property-based fuzzing of the pipeline grammar: sequences of words — stage names, their
//! options with random values, separators, braces (balanced, unbalanced, nested deeply),
//! quotes, words that are not UTF-8 — go through what `copipe` does before it reads any
//! input: split (for one quoted string), parse, type check, `--explain` rendering, the
//! error message with its caret, and the build of every stage. For each:
//!
//! * nothing panics and nothing overflows the stack (the cases run on a thread with a
//!   1 MiB stack, an eighth of what the binary gets on Linux);
//! * every error points inside the input: its word index is one of the words (or, for
//!   "something is missing at the end", just past the last one);
//! * the error message renders, with its caret on the line it belongs to.
//!
//! `cargo test` runs a few hundred cases. A long run (reported in the README):
//!
//!     CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true \
//!     COPIPE_FUZZ_SECONDS=600 cargo test --release --test it grammar_fuzz:: -- --nocapture
//!
//! runs batches (of `PROPTEST_CASES` cases, 2000 by default) until the time is up and
//! prints how many pipelines it tried; `PROPTEST_CASES` alone sets the number of cases of
//! a single batch; `COPIPE_FUZZ_SEED` replays a run.

use std::cell::RefCell;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use copipe::pipeline::build::{Shared, build, check};
use copipe::pipeline::explain::explain;
use copipe::pipeline::grammar::{self, Call, Pipeline, SyntaxError};
use copipe::pipeline::registry;
use copipe::protocol::def::{Options, Status};
use copipe::runtime::meter::Meter;
use copipe::runtime::output::Output;
use copipe::runtime::signal::Interrupt;
use copipe::runtime::timer::Timers;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

/// Every stage name and alias, and a few that are not stages.
fn stage_names() -> Vec<String> {
    let mut v: Vec<String> = registry::all()
        .iter()
        .flat_map(|d| std::iter::once(d.name).chain(d.aliases.iter().copied()))
        .map(String::from)
        .collect();
    v.extend(["gerp", "", "-", "--help", "help", "tee{", "{}"].map(String::from));
    v
}

/// Every option of every stage (`--long`, `-s`, `--long=`), for any stage: options of
/// other stages are errors to be reported too.
fn option_words() -> Vec<String> {
    let mut v = Vec::new();
    for d in registry::all() {
        for a in (d.command)().get_arguments() {
            if let Some(l) = a.get_long() {
                v.push(format!("--{l}"));
                v.push(format!("--{l}="));
            }
            if let Some(s) = a.get_short() {
                v.push(format!("-{s}"));
            }
        }
    }
    v.sort();
    v.dedup();
    v
}

/// Values: numbers at the edges, files that exist or not, regex and template syntax,
/// quotes, and the grammar's own special words.
const VALUES: &[&str] = &[
    "0",
    "1",
    "-1",
    "+1",
    "+0",
    "3",
    "4294967295",
    "18446744073709551616",
    "1e400",
    "-",
    "",
    " ",
    "=",
    "x",
    "a.b",
    "a=1",
    "route=22",
    "a>=2",
    "b?",
    "{id}",
    "{",
    "}",
    "{{",
    ":",
    "|",
    "'",
    "\"",
    "\\",
    "#",
    "(",
    "[",
    "a|b",
    "(?i)x",
    "\\p{Greek}",
    "$1",
    "1s",
    "0.5",
    "10ms",
    "in.txt",
    "doc.xml",
    "missing.txt",
    "out.txt",
    "/dev/null",
    "/",
    ".",
    "sub/dir/x",
    "bus",
    "é",
    "\u{0}",
];

/// One word: a stage name, an option, a value, a separator or a brace, or raw bytes.
fn word(names: Vec<String>, options: Vec<String>) -> impl Strategy<Value = OsString> {
    prop_oneof![
        3 => proptest::sample::select(names).prop_map(OsString::from),
        3 => proptest::sample::select(options).prop_map(OsString::from),
        4 => proptest::sample::select(VALUES).prop_map(OsString::from),
        3 => proptest::sample::select(vec![":", "|", "{", "}"]).prop_map(OsString::from),
        1 => proptest::collection::vec(any::<u8>(), 0..6)
            .prop_map(|b| OsStr::from_bytes(&b).to_os_string()),
    ]
}

/// A word soup: any words in any order.
fn soup() -> impl Strategy<Value = Vec<OsString>> {
    proptest::collection::vec(word(stage_names(), option_words()), 0..40)
}

/// Plausible calls of each stage (some still wrong: a bad regex, a write into an input,
/// records where lines arrive).
const SOURCES: &[&str] = &[
    "cat in.txt",
    "cat -H in.txt missing.txt",
    "cat",
    "cat -",
    "follow -n 0 in.txt",
    "range 1 3",
    "range 0 4294967295",
    "naturals",
    "xml doc.xml",
    "xml --threads 2 doc.xml",
    "xml --no-check doc.xml",
];
const FILTERS: &[&str] = &[
    "records bus",
    "records --depth 2",
    "json",
    "where id=1",
    "where a>=2 b?",
    "select id",
    "fmt {id}",
    "fmt {",
    "grep x",
    "grep -F -i -e ( -e :",
    "grep --field id 1",
    "grep (",
    "head 5",
    "skip 1",
    "uniq",
    "number",
    "replace a b",
    "replace ( x",
];
const SINKS: &[&str] = &[
    "print",
    "write out.txt",
    "write -t out.txt",
    "write in.txt",
    "count",
    "discard",
    "exec cat",
];

fn calls(list: &'static [&'static str]) -> impl Strategy<Value = Vec<OsString>> + Clone {
    let random = (
        proptest::sample::select(stage_names()),
        proptest::collection::vec(word(stage_names(), option_words()), 0..4),
    )
        .prop_map(|(name, mut args)| {
            args.insert(0, OsString::from(name));
            args
        });
    let plausible =
        proptest::sample::select(list).prop_map(|c| grammar::split_text(c).expect("split"));
    prop_oneof![12 => plausible, 1 => random]
}

/// A pipeline that is well formed in shape: a source or not, filters and fan-outs with
/// nested branches, a sink or not, separated by `:` or `|` (mostly plausible calls, some
/// a name with random words after it).
fn shaped() -> impl Strategy<Value = Vec<OsString>> {
    // A chain without a source: filters, then maybe a sink.
    let leaf = (
        proptest::collection::vec(calls(FILTERS), 0..3),
        proptest::option::of(calls(SINKS)),
    )
        .prop_map(|(mut f, sink)| {
            f.extend(sink);
            if f.is_empty() {
                f.push(vec![OsString::from("count")]);
            }
            f
        });
    let chain = leaf.prop_recursive(6, 64, 4, |inner| {
        (
            proptest::collection::vec(calls(FILTERS), 0..3),
            proptest::sample::select(vec!["tee", "broadcast"]),
            proptest::collection::vec(
                (inner.clone(), proptest::sample::select(vec![":", "|"])),
                1..3,
            ),
            inner,
        )
            .prop_map(|(mut calls, fan, branches, after)| {
                let mut f = vec![OsString::from(fan)];
                for (b, sep) in branches {
                    f.push("{".into());
                    f.extend(join(b, sep));
                    f.push("}".into());
                }
                calls.push(f);
                if fan == "tee" {
                    calls.extend(after);
                }
                calls
            })
    });
    (proptest::option::of(calls(SOURCES)), chain).prop_map(|(source, chain)| {
        let mut all: Vec<Vec<OsString>> = source.into_iter().collect();
        all.extend(chain);
        join(all, ":")
    })
}

fn join(calls: Vec<Vec<OsString>>, sep: &str) -> Vec<OsString> {
    let mut out = Vec::new();
    for (i, c) in calls.into_iter().enumerate() {
        if i > 0 {
            out.push(OsString::from(sep));
        }
        out.extend(c);
    }
    out
}

/// Deep nesting around a small pipeline, near and far beyond the limit, sometimes with a
/// brace missing or one too many.
fn deep() -> impl Strategy<Value = Vec<OsString>> {
    (
        prop_oneof![0usize..80, 50usize..70, 60usize..3000],
        proptest::sample::select(vec!["tee", "broadcast"]),
        -1i32..=1,
        any::<bool>(),
    )
        .prop_map(|(levels, fan, off, source)| {
            let mut w: Vec<OsString> = Vec::new();
            if source {
                w.extend(["range", "1", "3", ":"].map(OsString::from));
            }
            for _ in 0..levels {
                w.push(fan.into());
                w.push("{".into());
            }
            w.push("count".into());
            let closing = (levels as i64 + i64::from(off)).max(0) as usize;
            w.extend(std::iter::repeat_n(OsString::from("}"), closing));
            w
        })
}

/// Long chains around the stage limit.
fn long() -> impl Strategy<Value = Vec<OsString>> {
    (
        500usize..530,
        proptest::sample::select(vec!["grep 1", "head 5", "tee { count }"]),
    )
        .prop_map(|(n, stage)| {
            let mut text = String::from("range 1 3");
            for _ in 0..n {
                text.push_str(" : ");
                text.push_str(stage);
            }
            grammar::split_text(&text).unwrap()
        })
}

/// One input: words, or one string split as the shell would (`copipe 'cat f | …'`).
#[derive(Debug, Clone)]
enum Input {
    Words(Vec<OsString>),
    Text(Vec<u8>),
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        4 => soup().prop_map(Input::Words),
        10 => shaped().prop_map(Input::Words),
        1 => deep().prop_map(Input::Words),
        1 => long().prop_map(Input::Words),
        2 => shaped().prop_map(|w| {
            // Quote some words, break some quotes.
            let mut t = Vec::new();
            for (i, x) in w.iter().enumerate() {
                if i > 0 {
                    t.push(if i % 7 == 0 { b'\n' } else { b' ' });
                }
                match i % 5 {
                    0 => {
                        t.push(b'\'');
                        t.extend(x.as_bytes());
                        t.push(b'\'');
                    }
                    3 => {
                        t.push(b'"');
                        t.extend(x.as_bytes());
                    }
                    _ => t.extend(x.as_bytes()),
                }
            }
            Input::Text(t)
        }),
        1 => proptest::collection::vec(any::<u8>(), 0..80).prop_map(Input::Text),
    ]
}

/// What every build shares; made once (the signal handlers are installed once).
struct Env {
    stdout: Rc<RefCell<Output>>,
    interrupt: Interrupt,
    /// How far the cases went: [refused by the split or the parse, by the type check, at
    /// build, built].
    reached: RefCell<[u64; 4]>,
}

/// Stages whose build starts something outside the test: a shell (`exec`), a socket
/// (`listen`, `send`), a connection to a NATS server, which would look up a random server
/// name in the DNS (`publish`, `subscribe`), threads that run sources or branches (`merge`,
/// `tee --parallel`).
fn starts_something(calls: &[Call], words: &[OsString]) -> bool {
    if words.iter().any(|w| w == "--parallel") {
        return true;
    }
    // An explicit stack: the walk must not recurse more than the code under test does.
    let mut todo: Vec<&Call> = calls.iter().collect();
    while let Some(c) = todo.pop() {
        if ["exec", "listen", "send", "publish", "subscribe", "merge"].contains(&c.def.name) {
            return true;
        }
        todo.extend(c.branches.iter().flat_map(|b| &b.calls));
    }
    false
}

fn points_inside(e: &SyntaxError, words: &[OsString], what: &str) -> Result<(), TestCaseError> {
    if let Some(i) = e.at {
        prop_assert!(
            i < words.len(),
            "{what} error points at word {i} of {}: {}",
            words.len(),
            e.message
        );
    }
    if !e.help {
        let text = grammar::pointed(e, words);
        let lines: Vec<&str> = text.lines().collect();
        let n = lines.len();
        prop_assert!(n >= 3, "{text}");
        // The caret line has carets and nothing else, and they stand under the line above.
        let caret = lines[n - 1].trim_start();
        prop_assert!(
            !caret.is_empty() && caret.chars().all(|c| c == '^'),
            "{text}"
        );
        let col = lines[n - 1].chars().count();
        prop_assert!(col <= lines[n - 2].chars().count() + 2, "{text}");
    }
    Ok(())
}

fn run_case(input: &Input, env: &Env, stats: bool) -> Result<(), TestCaseError> {
    let words = match input {
        Input::Words(w) => w.clone(),
        Input::Text(t) => match grammar::split_text(t) {
            Ok(w) => w,
            Err(e) => {
                env.reached.borrow_mut()[0] += 1;
                prop_assert!(e.starts_with("line "), "{e}");
                return Ok(());
            }
        },
    };
    let mut p: Pipeline = match grammar::parse(&words) {
        Ok(p) => p,
        Err(e) => {
            env.reached.borrow_mut()[0] += 1;
            return points_inside(&e, &words, "parse");
        }
    };
    let checked = check(&mut p);
    let tree = explain(&p, checked.as_ref().err());
    prop_assert!(tree.lines().count() >= 2, "{tree}");
    if let Err(e) = checked {
        env.reached.borrow_mut()[1] += 1;
        return points_inside(&e, &words, "type");
    }
    if starts_something(&p.calls, &words) {
        return Ok(());
    }
    let opts = Options {
        stats,
        color: stats,
        ..Options::default()
    };
    let status = Status::default();
    let meter = Meter::default();
    let timers = Timers::default();
    let shared = Shared {
        opts: &opts,
        stdout: &env.stdout,
        status: &status,
        meter: &meter,
        interrupt: &env.interrupt,
        timers: &timers,
    };
    match build(&p, &shared) {
        Ok(built) => {
            env.reached.borrow_mut()[3] += 1;
            drop(built)
        }
        Err(e) => {
            env.reached.borrow_mut()[2] += 1;
            points_inside(&e, &words, "build")?
        }
    }
    Ok(())
}

fn fuzz() {
    // The files the words name: some exist, some do not.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.txt"), "a\nb\n").unwrap();
    std::fs::write(dir.path().join("doc.xml"), "<r><bus id='1'/></r>").unwrap();
    std::env::set_current_dir(dir.path()).unwrap();
    let interrupt = Interrupt::install().unwrap();
    let env = Env {
        stdout: Rc::new(RefCell::new(Output::stdout(false, &interrupt).unwrap())),
        interrupt,
        reached: RefCell::new([0; 4]),
    };
    let seconds: u64 = std::env::var("COPIPE_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let batch: u32 = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if seconds > 0 { 2000 } else { 300 });
    let base: u64 = std::env::var("COPIPE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    let strategy = (input(), any::<bool>());
    let start = Instant::now();
    let mut runs = 0u64;
    for batch_no in 0u64.. {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&base.to_le_bytes());
        seed[8..16].copy_from_slice(&batch_no.to_le_bytes());
        let mut runner = TestRunner::new_with_rng(
            Config {
                cases: batch,
                failure_persistence: None,
                ..Config::default()
            },
            TestRng::from_seed(RngAlgorithm::ChaCha, &seed),
        );
        if let Err(e) = runner.run(&strategy, |(input, stats)| run_case(&input, &env, stats)) {
            panic!("seed {base}, batch {batch_no}, after {runs} pipelines: {e}");
        }
        runs += u64::from(batch);
        if start.elapsed() >= Duration::from_secs(seconds) {
            break;
        }
    }
    let [parse, types, built, ok] = *env.reached.borrow();
    println!(
        "fuzz: {runs} pipelines in {:.0?} (seed {base}), no failure; refused by the split or \
         parse {parse}, the type check {types}, the build {built}; built {ok} (shrinking \
         included)",
        start.elapsed()
    );
}

#[test]
fn fuzz_the_pipeline_grammar() {
    // In a process of its own: it changes the current directory and installs signal handlers, both the
    // whole process's.
    if crate::common::in_own_process("grammar_fuzz::fuzz_the_pipeline_grammar") {
        return;
    }
    // A small stack, so that a walk that recurses without bound shows at once.
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(fuzz)
        .unwrap()
        .join()
        .unwrap();
}
