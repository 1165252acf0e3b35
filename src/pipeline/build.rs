//! Type check and construction: a parsed [`Pipeline`] becomes a source and a chain of
//! stages. Everything that can be wrong with a pipeline (item kinds that do not fit, a bad
//! regex, an output file that cannot be opened) is found here, before any input is read.

use std::cell::RefCell;
use std::rc::Rc;

use regex::bytes::Regex;

use crate::fanout::{FanOut, ParallelBranch, ParallelGroup};
use crate::item::Kind;
use crate::protocol::{Source, Stage};
use crate::runtime::output::Output;
use crate::runtime::timer::Timers;

use super::grammar::{Call, Pipeline, SyntaxError};
use super::stats::{Counted, Counter, Row, Stats};
use crate::protocol::def::{
    Branch, Build, BuildCx, Fusion, Inputs, MergeFn, Options, Role, SourceFn, Status,
};
use crate::runtime::meter::Meter;
use crate::runtime::notes::Notes;
use crate::runtime::signal::Interrupt;

/// A pipeline ready to run.
pub struct Built {
    pub source: Box<dyn Source>,
    pub chain: Box<dyn Stage>,
    /// The counters of `--stats`, when asked for.
    pub stats: Option<Stats>,
    /// How the source was built, to build it again on a thread of its own when the
    /// pipeline runs on the scheduler (see [`crate::engine`]); `None` for `merge`, which
    /// is built with its branches and always runs as a task.
    pub source_def: Option<(SourceFn, clap::ArgMatches)>,
}

/// Check that every stage receives a kind of item it accepts; records the kinds in the tree.
pub fn check(p: &mut Pipeline) -> Result<(), SyntaxError> {
    let source = &p.calls[0];
    debug_assert_eq!(source.def.role, Role::Source);
    let kind = source
        .def
        .emits
        .given(Kind::Line)
        .expect("a source emits something");
    let name = source.def.name;
    let kind = if source.def.fans_in() {
        merged_kind(&mut p.calls[0])?
    } else {
        kind
    };
    check_calls(&mut p.calls[1..], kind, name).map(|_| ())
}

/// Check each branch of a `merge`; they must all end with the same kind, which it emits.
fn merged_kind(merge: &mut Call) -> Result<Kind, SyntaxError> {
    let mut kind: Option<(Kind, String)> = None;
    for b in &mut merge.branches {
        let src = &b.calls[0];
        let k0 = src.def.emits.given(Kind::Line).expect("a source emits");
        let name = src.def.name;
        let label = src.label();
        let at = src.word_index();
        let k = check_calls(&mut b.calls[1..], k0, name)?;
        match &kind {
            None => kind = Some((k, label)),
            Some((first, first_label)) if *first != k => {
                return Err(SyntaxError::new(
                    format!(
                        "the branches of `merge` must emit one kind: `{first_label}` gives {}, `{label}` gives {}",
                        first.plural(),
                        k.plural()
                    ),
                    at,
                ));
            }
            Some(_) => {}
        }
    }
    Ok(kind.map_or(Kind::Line, |k| k.0))
}

/// Check a chain receiving `kind` from `from`; the kind it emits at its end.
fn check_calls(
    calls: &mut [Call],
    mut kind: Kind,
    mut from: &'static str,
) -> Result<Kind, SyntaxError> {
    for call in calls {
        // Known even when refused: `--explain` shows what arrives.
        call.input = Some(kind);
        if !call.def.accepts(kind) {
            let what = call.def.accepts_text();
            return Err(SyntaxError::new(
                format!(
                    "`{}` takes {what}, but receives {} from `{from}`{}",
                    call.def.name,
                    kind.plural(),
                    conversion_hint(kind, call.def.accepts)
                ),
                call.word_index(),
            ));
        }
        for b in &mut call.branches {
            check_calls(&mut b.calls, kind, call.def.name)?;
        }
        if let Some(k) = call.def.emits.given_args(kind, &call.matches) {
            kind = k;
        }
        from = call.def.name;
    }
    Ok(kind)
}

fn conversion_hint(have: Kind, want: &[Kind]) -> &'static str {
    match (have, want.first()) {
        (Kind::Line, Some(Kind::Record)) => " (put `json` before it to parse lines as JSON)",
        (Kind::Event, Some(Kind::Record)) => {
            " (put `records NAME` before it to turn XML events into records)"
        }
        (Kind::Record, Some(Kind::Line)) => {
            " (put `fmt TEMPLATE` before it to turn records into lines)"
        }
        _ => "",
    }
}

/// What every stage of one run is built with.
#[derive(Clone, Copy)]
pub(super) struct Env<'a> {
    pub(super) opts: &'a Options,
    pub(super) stdout: &'a Rc<RefCell<Output>>,
    pub(super) status: &'a Status,
    pub(super) meter: &'a Meter,
    pub(super) interrupt: &'a Interrupt,
    pub(super) timers: &'a Timers,
    /// [`Source::waits`] of the pipeline's source (`true` until it is built).
    pub(super) source_waits: bool,
    /// What the pipeline's source says of its inputs.
    pub(super) inputs: Inputs,
    /// Whether what follows the chain being built is a sink (the end of the pipeline: yes;
    /// per-file stages built apart from the rest: whether the rest starts with one).
    pub(super) tail_is_sink: bool,
    /// Where the stages register their closing notes (read by the per-file workers).
    pub(super) notes: &'a Notes,
}

impl<'a> Env<'a> {
    pub(super) fn cx(&self, input: Kind, highlight: &'a [Regex]) -> BuildCx<'a> {
        BuildCx {
            opts: self.opts,
            input,
            stdout: self.stdout,
            status: self.status,
            meter: self.meter,
            interrupt: self.interrupt,
            timers: self.timers,
            source_waits: self.source_waits,
            highlight,
            inputs: self.inputs,
            written: Default::default(),
            notes: self.notes,
        }
    }
}

/// What a run shares with every stage it builds.
pub struct Shared<'a> {
    pub opts: &'a Options,
    /// Standard output, shared by every `print` and `count`.
    pub stdout: &'a Rc<RefCell<Output>>,
    pub status: &'a Status,
    pub meter: &'a Meter,
    pub interrupt: &'a Interrupt,
    pub timers: &'a Timers,
}

/// Construct the stages of a checked pipeline.
pub fn build(p: &Pipeline, shared: &Shared<'_>) -> Result<Built, SyntaxError> {
    let &Shared {
        opts,
        stdout,
        status,
        meter,
        interrupt,
        timers,
    } = shared;
    // (Nothing reads the notes of this chain's stages: each says its own.)
    let notes = Notes::default();
    let mut env = Env {
        opts,
        stdout,
        status,
        meter,
        interrupt,
        timers,
        source_waits: true,
        inputs: Inputs::default(),
        tail_is_sink: true,
        notes: &notes,
    };
    // Before the source opens its files and before a `write --truncate` empties one.
    super::same_file::refuse_outputs_that_are_inputs(p)?;
    super::same_file::refuse_stdout_that_is_an_input(p)?;
    let source_call = &p.calls[0];
    let source_fn = source_call.def.build.source_fn();
    let mut source_rows = Vec::new();
    // A fusion the source declares: it absorbs the stage after it (counted for `--stats`).
    let absorbed_count = opts.stats.then(Counter::default);
    let fused = fusion(p).and_then(|(f, absorbed)| {
        let source = (f.build)(
            &source_call.matches,
            &absorbed.matches,
            &env.cx(Kind::Line, &[]),
            absorbed_count.clone(),
        )?;
        Some((source, absorbed))
    });
    let (source, absorbed) = match fused {
        Some((source, absorbed)) => (source, Some(absorbed)),
        None => match source_call.def.build {
            Build::Merge(merge) => (
                build_merge(merge, source_call, &env, &mut source_rows)?,
                None,
            ),
            _ => {
                let source_fn = source_fn.expect("checked: the first stage is a source");
                (
                    source_fn(&source_call.matches, &env.cx(Kind::Line, &[]))
                        .map_err(|e| at_call(source_call, e))?,
                    None,
                )
            }
        },
    };
    env.source_waits = source.waits();
    env.inputs = inputs_of(source_call);
    let mut rows = Vec::new();
    let rest = &p.calls[1 + usize::from(absorbed.is_some())..];
    // Many files through filters that treat each file on its own: per-file workers.
    let (source, chain) =
        match super::per_file::plan(p, env.opts.crlf).filter(|_| absorbed.is_none()) {
            Some(per_file) => super::per_file::build(p, per_file, source, &env, &mut rows)?,
            None => {
                let chain = build_chain_into(rest, &env, &[], &mut rows, None)?;
                (source, chain)
            }
        };
    if let Some(absorbed) = absorbed {
        // The absorbed stage's row, as if it were in the chain.
        let output = rows.first().and_then(|r| r.input.clone());
        rows.insert(
            0,
            Row {
                label: absorbed.label(),
                branches: Vec::new(),
                input: absorbed_count,
                output,
                delivery: None,
                notes: Vec::new(),
            },
        );
    }
    let stats = opts.stats.then(|| {
        let first = rows.first().and_then(|r| r.input.clone());
        let mut all = vec![Row {
            label: source_call.label(),
            branches: source_rows,
            input: None,
            output: first,
            delivery: None,
            notes: Vec::new(),
        }];
        all.extend(rows);
        Stats { rows: all }
    });
    Ok(Built {
        source,
        chain,
        stats,
        source_def: source_fn.map(|f| (f, source_call.matches.clone())),
    })
}

/// What `grep` needs to know of the source's inputs: how many files `cat` and `follow` name
/// (a `follow` pattern may name several), and whether `cat` announces each anew.
fn inputs_of(source: &Call) -> Inputs {
    let files = || {
        source
            .matches
            .get_many::<std::path::PathBuf>("files")
            .map(|f| f.collect::<Vec<_>>())
            .unwrap_or_default()
    };
    match source.def.name {
        "cat" => Inputs {
            several: files().len() > 1,
            renumber: true,
            ..Inputs::default()
        },
        "follow" => {
            let f = files();
            let glob = |p: &std::path::PathBuf| {
                p.as_os_str()
                    .as_encoded_bytes()
                    .iter()
                    .any(|b| matches!(b, b'*' | b'?' | b'['))
            };
            Inputs {
                several: f.len() > 1 || f.iter().any(|p| glob(p)),
                renumber: false,
                ..Inputs::default()
            }
        }
        _ => Inputs::default(),
    }
}

/// The fusion the pipeline's source declares (see [`Fusion`]), and the call it absorbs: the
/// stage right after the source, when a stage comes after that one.
fn fusion(p: &Pipeline) -> Option<(Fusion, &Call)> {
    let f = p.calls.first()?.def.fusion?;
    let absorbed = p.calls.get(1).filter(|c| c.def.name == f.absorbs)?;
    p.calls.get(2)?;
    Some((f, absorbed))
}

/// Build a `merge` through its [`MergeFn`]: it has each branch built in turn — the
/// branch's source, then its filters, pushing into the end the merge gives.
fn build_merge(
    merge: MergeFn,
    call: &Call,
    env: &Env<'_>,
    rows: &mut Vec<Vec<Row>>,
) -> Result<Box<dyn Source>, SyntaxError> {
    // A branch's error is a `SyntaxError` pointing at its own stage; kept here, since the
    // merge's constructor carries it as an `anyhow` error.
    let mut failed: Option<SyntaxError> = None;
    let mut branch = |i: usize, end: Box<dyn Stage>| -> anyhow::Result<Branch> {
        build_branch(&call.branches[i], env, rows, end).map_err(|e| {
            let shown = anyhow::anyhow!("{}", e.message);
            failed = Some(e);
            shown
        })
    };
    let built = merge(
        &call.matches,
        &env.cx(Kind::Line, &[]),
        call.branches.len(),
        &mut branch,
    );
    match (built, failed) {
        (_, Some(e)) => Err(e),
        (Ok(source), None) => Ok(source),
        (Err(e), None) => Err(at_call(call, e)),
    }
}

/// One branch of a `merge`: its source, and its filters ending in `end`.
fn build_branch(
    b: &Pipeline,
    env: &Env<'_>,
    rows: &mut Vec<Vec<Row>>,
    end: Box<dyn Stage>,
) -> Result<Branch, SyntaxError> {
    let src = &b.calls[0];
    let f = src
        .def
        .build
        .source_fn()
        .expect("checked: a merge branch starts with a source");
    let source = f(&src.matches, &env.cx(Kind::Line, &[])).map_err(|e| at_call(src, e))?;
    let mut r = Vec::new();
    let chain = if b.calls.len() > 1 {
        build_chain_into(&b.calls[1..], env, &[], &mut r, Some(end))?
    } else {
        end
    };
    let mut all = vec![Row {
        label: src.label(),
        branches: Vec::new(),
        input: None,
        output: r.first().and_then(|row: &Row| row.input.clone()),
        delivery: None,
        notes: Vec::new(),
    }];
    all.extend(r);
    rows.push(all);
    let native = source.into_task();
    Ok(Branch {
        label: src.label(),
        native,
        bridged: (f, src.matches.clone()),
        chain,
    })
}

/// Build one chain (the main one or a branch), last stage first, since each filter owns the
/// stage it pushes to. `inherited` are the regexes whose matches `print` colours on the
/// items entering the chain; `rows` receives the chain's `--stats` rows.
fn build_chain(
    calls: &[Call],
    env: &Env<'_>,
    inherited: &[Regex],
    rows: &mut Vec<Row>,
) -> Result<Box<dyn Stage>, SyntaxError> {
    build_chain_into(calls, env, inherited, rows, None)
}

/// Build a `tee --parallel` branch's chain with handles of its own — its standard output (a
/// buffer of its own on descriptor 1, flushed at close), meter and timers — since the
/// branch's chain moves between the threads that run it (see `crate::fanout::ParallelBranch`).
fn build_parallel_branch(
    tee: &Call,
    calls: &[Call],
    env: &Env<'_>,
    highlight: &[Regex],
    rows: &mut Vec<Row>,
) -> Result<ParallelBranch, SyntaxError> {
    let stdout =
        Output::stdout(env.opts.line_buffered, env.interrupt).map_err(|e| at_call(tee, e))?;
    let stdout = Rc::new(RefCell::new(stdout));
    let meter = Meter::default();
    let timers = Timers::default();
    // (A registry of its own too: the branch's stages go to another thread, the registry's
    // `Rc`s must not be shared with this one's.)
    let notes = Notes::default();
    let own = Env {
        stdout: &stdout,
        meter: &meter,
        timers: &timers,
        notes: &notes,
        source_waits: true,
        ..*env
    };
    let chain = build_chain(calls, &own, highlight, rows)?;
    Ok(ParallelBranch { chain, timers })
}

/// [`build_chain`] for a chain of filters that pushes into `end` (a `merge` branch, the
/// per-file workers).
pub(super) fn build_chain_into(
    calls: &[Call],
    env: &Env<'_>,
    inherited: &[Regex],
    rows: &mut Vec<Row>,
    end: Option<Box<dyn Stage>>,
) -> Result<Box<dyn Stage>, SyntaxError> {
    let highlights = highlights(calls, env.opts, inherited);
    let mut next: Option<Box<dyn Stage>> = end;
    let mut next_count: Option<Counter> = None;
    let mut built_rows = Vec::with_capacity(calls.len());
    for (i, (call, hl)) in calls.iter().zip(&highlights).enumerate().rev() {
        let input = call.input.expect("checked pipelines know every input kind");
        let mut bcx = env.cx(input, hl);
        bcx.inputs.to_sink = calls
            .get(i + 1)
            .map_or(env.tail_is_sink, |c| matches!(c.def.build, Build::Sink(_)));
        let deliveries = env.status.deliveries();
        let mut branch_rows = Vec::new();
        let stage = match call.def.build {
            Build::Sink(f) => f(&call.matches, &bcx),
            Build::Filter(f) => f(
                &call.matches,
                &bcx,
                next.take().expect("a filter is followed by a stage"),
            ),
            Build::FanOut { continues } => {
                let parallel = call
                    .matches
                    .try_get_one::<bool>("parallel")
                    .ok()
                    .flatten()
                    .copied()
                    .unwrap_or(false);
                let branches = if parallel {
                    // Each built once, with handles of its own; the pool runs them.
                    let mut parallels = Vec::new();
                    for b in &call.branches {
                        let mut r = Vec::new();
                        parallels.push(build_parallel_branch(call, &b.calls, env, hl, &mut r)?);
                        branch_rows.push(r);
                    }
                    let group = ParallelGroup::new(parallels, env.status.clone())
                        .map_err(|e| at_call(call, e))?;
                    vec![Box::new(group) as Box<dyn Stage>]
                } else {
                    call.branches
                        .iter()
                        .map(|b| {
                            let mut r = Vec::new();
                            let chain = build_chain(&b.calls, env, hl, &mut r);
                            branch_rows.push(r);
                            chain
                        })
                        .collect::<Result<Vec<_>, _>>()?
                };
                let after = if continues { next.take() } else { None };
                Ok(Box::new(FanOut::new(branches, after)) as Box<dyn Stage>)
            }
            Build::Source(_) | Build::Task(_) | Build::Merge(_) => {
                unreachable!("sources only come first")
            }
        };
        let stage = stage.map_err(|e| at_call(call, e))?;
        let notes = if env.opts.stats {
            stage.counters()
        } else {
            Vec::new()
        };
        let passes_on = match call.def.role {
            Role::Filter => true,
            Role::FanOut => matches!(call.def.build, Build::FanOut { continues: true }),
            _ => false,
        };
        let (stage, count) = if env.opts.stats {
            let count = Counter::default();
            let counted = Counted {
                inner: stage,
                count: count.clone(),
            };
            (Box::new(counted) as Box<dyn Stage>, Some(count))
        } else {
            (stage, None)
        };
        built_rows.push(Row {
            label: call.label(),
            branches: branch_rows,
            input: count.clone(),
            output: if passes_on { next_count.take() } else { None },
            // An asynchronous sink registered while this stage was built (a fan-out's
            // branches have their own rows).
            delivery: match call.def.build {
                Build::Sink(_) => env.status.delivery(deliveries),
                _ => None,
            },
            notes,
        });
        next_count = count;
        next = Some(stage);
    }
    built_rows.reverse();
    rows.extend(built_rows);
    Ok(next.expect("a pipeline has at least one stage after its source"))
}

/// For each call, the regexes whose matches `print` colours in the items it receives: every
/// `grep` upstream on lines adds its own (not `-v`, not `--field`); a stage that turns items
/// into another kind starts afresh. Empty unless colour is on.
pub(super) fn highlights(calls: &[Call], opts: &Options, inherited: &[Regex]) -> Vec<Vec<Regex>> {
    let mut cur = inherited.to_vec();
    let mut out = Vec::with_capacity(calls.len());
    for call in calls {
        out.push(cur.clone());
        if !opts.color {
            continue;
        }
        let input = call.input.unwrap_or(Kind::Line);
        if call.def.name == crate::stage::grep::DEF.name && input == Kind::Line {
            cur.extend(crate::stage::grep::highlight(&call.matches, opts));
        } else if matches!(call.def.emits.given_args(input, &call.matches), Some(k) if k != input) {
            cur.clear();
        }
    }
    out
}

pub(super) fn at_call(call: &Call, e: anyhow::Error) -> SyntaxError {
    SyntaxError::new(format!("{}: {e:#}", call.def.name), call.word_index())
}

#[cfg(test)]
mod tests {
    use super::super::grammar::{parse, split_text};
    use super::*;

    fn checked(s: &str) -> Result<Pipeline, SyntaxError> {
        let mut p = parse(&split_text(s).unwrap())?;
        check(&mut p)?;
        Ok(p)
    }

    #[test]
    fn xml_declares_that_it_absorbs_records() {
        // The fusion is declared on the source's definition, not recognised by name here.
        let f = crate::source::xml::DEF
            .fusion
            .expect("xml declares a fusion");
        assert_eq!(f.absorbs, crate::stage::records::DEF.name);
        let p = checked("xml f.xml : records bus : head 1").unwrap();
        assert_eq!(fusion(&p).map(|(_, c)| c.def.name), Some("records"));
        // Nothing after `records`, or another stage after `xml`: no fusion.
        assert!(fusion(&checked("xml f.xml : head 1").unwrap()).is_none());
        assert!(
            crate::pipeline::registry::all()
                .iter()
                .all(|d| d.fusion.is_none() || d.name == "xml")
        );
    }

    #[test]
    fn kinds_flow_through_branches() {
        let p = checked("range 1 5 : tee { grep 1 : count } : head 2").unwrap();
        assert_eq!(p.calls[1].input, Some(Kind::Line));
        assert_eq!(p.calls[1].branches[0].calls[1].input, Some(Kind::Line));
    }

    #[test]
    fn highlights_follow_the_greps_upstream() {
        let p = checked("range 1 5 : grep 1 : grep -v 2 : tee { grep -i x } : print").unwrap();
        let opts = Options {
            color: true,
            ..Options::default()
        };
        let hl = highlights(&p.calls[1..], &opts, &[]);
        let n: Vec<usize> = hl.iter().map(Vec::len).collect();
        assert_eq!(n, [0, 1, 1, 1]);
        let branch = highlights(&p.calls[3].branches[0].calls, &opts, &hl[2]);
        assert_eq!(branch.iter().map(Vec::len).collect::<Vec<_>>(), [1, 2]);
        let off = highlights(&p.calls[1..], &Options::default(), &[]);
        assert!(off.iter().all(Vec::is_empty));
    }

    /// Whether building `pipeline` asks for a timer (and so the scheduler).
    fn wants_timer(pipeline: &str) -> bool {
        let p = checked(pipeline).unwrap();
        let interrupt = Interrupt::none();
        let stdout = Rc::new(RefCell::new(Output::stdout(false, &interrupt).unwrap()));
        let timers = Timers::default();
        let shared = Shared {
            opts: &Options::default(),
            stdout: &stdout,
            status: &Status::default(),
            meter: &Meter::default(),
            interrupt: &interrupt,
            timers: &timers,
        };
        let _built = build(&p, &shared).unwrap();
        timers.wanted()
    }

    #[test]
    fn multiline_asks_for_a_timer_only_when_the_source_can_wait() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.log");
        std::fs::write(&file, "S\n1\n").unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let (file, fifo) = (file.display(), fifo.display());
        let ml = "multiline --start ^S : count";
        assert!(
            !wants_timer(&format!("cat {file} : {ml}")),
            "regular files never wait"
        );
        assert!(!wants_timer(&format!("cat {file} {file} : {ml}")));
        assert!(!wants_timer(&format!("range 1 5 : {ml}")));
        assert!(
            wants_timer(&format!("cat {file} {fifo} : {ml}")),
            "a pipe can wait"
        );
        assert!(wants_timer(&format!("follow {file} : {ml}")));
        assert!(
            wants_timer(&format!("cat {file} : count --every 1h")),
            "count --every wants its timer whatever the source"
        );
    }
}
