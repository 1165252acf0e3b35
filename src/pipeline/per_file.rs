//! Which part of a pipeline runs in per-file workers (see [`crate::engine::workers`]), and
//! building it.
//!
//! `cat` of several regular files (at least two, no standard input, `--threads` or the
//! number of cores above one) followed by filters that treat each file on its own: those
//! filters run in the workers, one file per worker at a time; the rest of the chain — from
//! the first stage that needs the whole stream in order — runs in the main thread on what
//! the workers hand on, in the order of the files.
//!
//! Per-file (safe in a worker), as decided by [`per_file_safe`]: `grep` on lines with any
//! of its matching options (`-e`, `-f`, `-i`, `-v`, `-w`, `-x`, `-F`, `-E`, `-G`, `-P`) and
//! the output options that depend on the line and its own file alone (`-n` and `-b`,
//! counted from each file's start; `-o`; `-H`, `-h`; `--color`). Not per-file, so the
//! workers stop before them: `grep` with `-c`, `-l`, `-L`, `-q`, `-m` (which stop or count
//! at a file's end, or end the run), with context (`-A`, `-B`, `-C`: the separators between
//! groups run across files), or with `--field`; every other filter, fan-out and sink
//! (`head`, `uniq`, `count`, `json` … : they keep state across the stream, or name a
//! position in it). A pipeline whose stage after `cat` is not per-file runs as before,
//! as does one that asked for a timer (the scheduler runs `cat` as a task of its own).

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use anyhow::anyhow;

use super::build::{Env, at_call, build_chain_into, highlights};
use super::grammar::{Call, Pipeline, SyntaxError};
use super::stats::{Counter, Row};
use crate::engine::workers::{self, Chain, MakeChain, Tally};
use crate::item::Kind;
use crate::protocol::def::{BuildCx, Options, Status};
use crate::protocol::{Source, Stage};
use crate::runtime::meter::Meter;
use crate::runtime::output::Output;
use crate::runtime::signal::Interrupt;
use crate::runtime::timer::Timers;

/// What runs in the workers: the files, the threads, and how many stages after `cat`.
pub(super) struct Plan {
    files: Vec<PathBuf>,
    threads: usize,
    stages: usize,
}

/// The per-file part of `p`, if it has one (see the module docs).
pub(super) fn plan(p: &Pipeline) -> Option<Plan> {
    let source = p.calls.first()?;
    if source.def.name != crate::source::cat::DEF.name || source.name.is_none() {
        return None;
    }
    let (files, threads) = crate::source::cat::per_file(&source.matches)?;
    let stages = p.calls[1..].iter().take_while(|c| per_file_safe(c)).count();
    // Something must follow in the main thread (the implicit `print` at least).
    (stages > 0 && stages < p.calls.len() - 1).then_some(Plan {
        files,
        threads,
        stages,
    })
}

/// `grep`'s options that depend on the line and its own file alone.
const GREP_PER_FILE: &[&str] = &[
    // The group clap's derive makes of all the arguments.
    "Args",
    "pattern",
    "regexp",
    "file",
    "ignore_case",
    "invert_match",
    "word_regexp",
    "line_regexp",
    "fixed_strings",
    "extended_regexp",
    "basic_regexp",
    "perl_regexp",
    "line_number",
    "byte_offset",
    "with_filename",
    "no_filename",
    "only_matching",
    "color",
];

/// Whether `call` treats each file on its own (see the module docs).
pub(super) fn per_file_safe(call: &Call) -> bool {
    call.def.name == crate::stage::grep::DEF.name
        && call.input == Some(Kind::Line)
        && call.matches.ids().all(|id| {
            GREP_PER_FILE.contains(&id.as_str())
                || call.matches.value_source(id.as_str())
                    != Some(clap::parser::ValueSource::CommandLine)
        })
}

/// The source and the chain of a built pipeline.
type Parts = (Box<dyn Source>, Box<dyn Stage>);

/// Build the pipeline's chain after the per-file stages, and the source that runs `cat`
/// and those stages in workers; or, when a stage asked for a timer (the pipeline then runs
/// on the scheduler, where `cat` is a task), the whole chain as usual behind `cat`.
pub(super) fn build(
    p: &Pipeline,
    plan: Plan,
    cat: Box<dyn Source>,
    env: &Env<'_>,
    rows: &mut Vec<Row>,
) -> Result<Parts, SyntaxError> {
    let k = plan.stages;
    let (per_file, after) = p.calls[1..].split_at(k);
    let hl = highlights(&p.calls[1..], env.opts, &[]);
    let mut rest_rows = Vec::new();
    let rest = build_chain_into(after, env, &hl[k], &mut rest_rows, None)?;
    let first_after = rest_rows.first().and_then(|r| r.input.clone());
    let tail_is_sink = matches!(after[0].def.build, crate::protocol::def::Build::Sink(_));
    if env.timers.wanted() {
        let env = Env {
            tail_is_sink,
            ..*env
        };
        let mut own = Vec::new();
        let chain = build_chain_into(per_file, &env, &[], &mut own, Some(rest))?;
        if let Some(last) = own.last_mut() {
            last.output = first_after;
        }
        rows.extend(own);
        rows.extend(rest_rows);
        return Ok((cat, chain));
    }
    drop(cat);
    // The per-file stages' rows, counted by the main thread from what the workers say.
    let counters: Vec<Counter> = if env.opts.stats {
        (0..k).map(|_| Counter::default()).collect()
    } else {
        Vec::new()
    };
    for (j, call) in per_file.iter().enumerate() {
        rows.push(Row {
            label: call.label(),
            branches: Vec::new(),
            input: counters.get(j).cloned(),
            output: if j + 1 < k {
                counters.get(j + 1).cloned()
            } else {
                first_after.clone()
            },
            delivery: None,
            notes: Vec::new(),
        });
    }
    rows.extend(rest_rows);
    let source_call = &p.calls[0];
    let make = make_chain(
        per_file.to_vec(),
        source_call.matches.clone(),
        plan.files.clone(),
        Run {
            opts: env.opts.clone(),
            interrupt: env.interrupt.clone(),
            status: env.status.clone(),
        },
        env.inputs,
        tail_is_sink,
    );
    let workers = PerFile {
        jobs: plan.files.len(),
        threads: plan.threads,
        make,
        meter: env.meter.clone(),
        status: env.status.clone(),
        counters,
    };
    // (A build error of the per-file stages was found when `plan` was checked... in the
    // worker, it would be said in the first file's turn: build them once here to say it now.)
    check_build(per_file, env, tail_is_sink).map_err(|e| at_call(&per_file[0], e))?;
    Ok((Box::new(workers), rest))
}

/// Build the per-file stages once in this thread, for their errors (a bad pattern) to be
/// found before any input is read, as for every other stage.
fn check_build(per_file: &[Call], env: &Env<'_>, tail_is_sink: bool) -> anyhow::Result<()> {
    let timers = Timers::default();
    let env = Env {
        tail_is_sink,
        timers: &timers,
        ..*env
    };
    build_chain_into(
        per_file,
        &env,
        &[],
        &mut Vec::new(),
        Some(Box::new(Discard)),
    )
    .map(drop)
    .map_err(|e| anyhow!("{e}"))
}

/// What the run shares with the workers' chains: its options, its Ctrl-C, and its status.
struct Run {
    opts: Options,
    interrupt: Interrupt,
    status: Status,
}

/// How a worker builds its chain: the per-file stages as the main thread would, with
/// handles of its own (standard output, meter, timers), ending in the workers' recorder;
/// and each file's `cat`. The stages report into the run's own status: a `grep -o -v` or
/// `grep -o ''` selects lines but passes nothing on, and its selection is what makes the
/// exit status 0 (the workers' chains are closed before the run ends).
fn make_chain(
    per_file: Vec<Call>,
    cat: clap::ArgMatches,
    files: Vec<PathBuf>,
    run: Run,
    inputs: crate::protocol::def::Inputs,
    tail_is_sink: bool,
) -> MakeChain {
    let Run {
        opts,
        interrupt,
        status,
    } = run;
    let files = Arc::new(files);
    Arc::new(move |end: Box<dyn Stage>| {
        let stdout = Rc::new(RefCell::new(Output::stdout(
            opts.line_buffered,
            &interrupt,
        )?));
        let meter = Meter::default();
        let timers = Timers::default();
        let env = Env {
            opts: &opts,
            stdout: &stdout,
            status: &status,
            meter: &meter,
            interrupt: &interrupt,
            timers: &timers,
            source_waits: false,
            inputs,
            tail_is_sink,
        };
        let mut rows = Vec::new();
        let chain = build_chain_into(&per_file, &env, &[], &mut rows, Some(end))
            .map_err(|e| anyhow!("{e}"))?;
        let counters = rows.iter().filter_map(|r| r.input.clone()).collect();
        let (opts, interrupt, cat, files) =
            (opts.clone(), interrupt.clone(), cat.clone(), files.clone());
        let source = Box::new(move |i: usize, meter: &Meter, status: &Status| {
            let cx = BuildCx {
                opts: &opts,
                input: Kind::Line,
                stdout: &stdout,
                status,
                meter,
                interrupt: &interrupt,
                timers: &timers,
                source_waits: false,
                highlight: &[],
                inputs,
                written: Default::default(),
            };
            crate::source::cat::build_one(&cat, &files[i], &cx)
        });
        Ok(Chain {
            chain,
            counters,
            source,
        })
    })
}

/// `cat` of many files with its per-file stages, run by the workers.
struct PerFile {
    jobs: usize,
    threads: usize,
    make: MakeChain,
    meter: Meter,
    status: Status,
    counters: Vec<Counter>,
}

impl Source for PerFile {
    fn run(&mut self, out: &mut dyn Stage) -> anyhow::Result<()> {
        let tally = Tally {
            meter: &self.meter,
            status: &self.status,
            counters: &self.counters,
        };
        workers::run(self.jobs, self.threads, self.make.clone(), out, &tally)
    }

    /// Regular files only (see [`crate::source::cat::per_file`]).
    fn waits(&self) -> bool {
        false
    }
}

/// Takes everything, keeps nothing.
struct Discard;

impl Stage for Discard {
    fn send(&mut self, _item: crate::item::Item<'_>) -> anyhow::Result<crate::protocol::Flow> {
        Ok(crate::protocol::Flow::Continue)
    }
    fn origin(&mut self, _origin: crate::item::Origin<'_>) -> anyhow::Result<()> {
        Ok(())
    }
    fn flush(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
    fn close(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::build::check;
    use super::super::grammar::{parse, split_text};
    use super::*;

    /// How many stages after `cat` run in the workers, if any.
    fn stages(s: &str) -> Option<usize> {
        let mut p = parse(&split_text(s).unwrap()).unwrap();
        check(&mut p).unwrap();
        plan(&p).map(|p| p.stages)
    }

    #[test]
    fn only_per_file_greps_of_many_files_run_in_workers() {
        let cat = "cat --threads 2 a.log b.log";
        assert_eq!(stages(&format!("{cat} : grep ERROR : count")), Some(1));
        assert_eq!(
            stages(&format!("{cat} : grep -n -i x : grep -v y")),
            Some(2)
        );
        assert_eq!(
            stages(&format!("{cat} : grep x : head 1 : grep y")),
            Some(1)
        );
        assert_eq!(stages(&format!("{cat} : grep -c x")), None);
        assert_eq!(stages(&format!("{cat} : grep -m 1 x")), None);
        assert_eq!(stages(&format!("{cat} : grep -A 1 x")), None);
        assert_eq!(stages(&format!("{cat} : head 1 : grep x")), None);
        assert_eq!(stages("cat --threads 1 a.log b.log : grep x"), None);
        assert_eq!(stages("cat --threads 2 a.log : grep x"), None);
        assert_eq!(stages("cat --threads 2 a.log - : grep x"), None);
    }
}
