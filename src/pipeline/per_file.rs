//! Which part of a pipeline runs in per-file workers (see [`crate::engine::workers`]), and
//! building it.
//!
//! `cat` of regular files (no standard input, `--threads` or the number of cores above one)
//! followed by filters that treat each file on its own: those filters run in the workers,
//! one job per worker at a time; the rest of the chain — from the first stage that needs
//! the whole stream in order — runs in the main thread on what the workers hand on, in the
//! order of the jobs. A job is a file, or, when the filters treat each line on its own (no
//! `-n`, `-b`), a part of a big file (`cat --part-size`, from a line's start to the next
//! part's): one big file is then searched on both cores. A `grep -c` at the end of the
//! per-file stages selects in the workers and counts in the main thread, where the parts
//! of a file are one file again (see [`crate::protocol::def::CountSplit`]). A grep with
//! context (`-A`, `-B`, `-C`) is the last stage in the workers: each job's groups are its
//! own, and the main thread puts the group separator between two jobs' groups; alone in
//! the workers, it has its big files cut where no group can cross ([`Quiet`]). There must
//! be two jobs at least.
//!
//! Per-file (safe in a worker), as decided by [`per_file_safe`]: `grep` on lines with any
//! of its matching options (`-e`, `-f`, `-i`, `-v`, `-w`, `-x`, `-F`, `-E`, `-G`, `-P`) and
//! the output options that depend on the line and its own file alone (`-n` and `-b`,
//! counted from each file's start; `-o`; `-H`, `-h`; `--color`; context without `-o`);
//! `replace` on lines (per-part too: it rewrites each line on its own); the line parsers
//! `parse`, `logfmt`, `kv`, `syslog`, `combined` (per-part too but with `--strict`, whose
//! error names the line by its number in the file), whose notes at the end (lines dropped,
//! values that did not convert) are counted in the workers and said once by the main thread
//! (see [`crate::runtime::notes`]); `where`, `select` and `fmt` (per-part too).
//! Not per-file, so the workers stop before them: `grep` with `-l`, `-L`, `-q`, `-m` (which
//! stop at a file's end, or end the run), or with `--field`; every other filter, fan-out and sink
//! (`head`, `uniq`, `count`, `json`, `csv` … : they keep state across the stream, name a
//! position in it, or act at the end of an input, which a worker's job does not announce:
//! `json`'s and `csv`'s value or row left unfinished by a file is said at the next
//! file's start or at the close). A pipeline whose stage after `cat` is not per-file runs
//! as before, as does one that asked for a timer (the scheduler runs `cat` as a task of its
//! own).

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
use crate::protocol::def::{BuildCx, CountSplit, Inputs, Options, Status};
use crate::protocol::{Source, Stage};
use crate::runtime::meter::Meter;
use crate::runtime::notes::Notes;
use crate::runtime::output::Output;
use crate::runtime::signal::Interrupt;
use crate::runtime::timer::Timers;

/// What runs in the workers: the files, the jobs (files, or parts of big ones), the
/// threads, and how many stages after `cat`.
pub(super) struct Plan {
    files: Vec<PathBuf>,
    jobs: Vec<Job>,
    threads: usize,
    stages: usize,
    /// The last stage in the workers is a `grep -c`, whose count is made after them.
    count_split: bool,
}

/// One job of the workers: whole files (one, or several small ones in a row), or the
/// lines that start in a part of one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Job {
    /// Which of the files: the first, and how many (one for a part).
    file: usize,
    files: usize,
    /// The part: from a line's start to the next part's (`None`: to the file's end).
    part: Option<(u64, Option<u64>)>,
}

/// The per-file part of `p`, if it has one (see the module docs).
pub(super) fn plan(p: &Pipeline, crlf: bool) -> Option<Plan> {
    plan_grouping(p, crlf, GROUP_BYTES)
}

/// [`plan`], small files grouped up to `group_bytes` (see [`jobs`]).
fn plan_grouping(p: &Pipeline, crlf: bool, group_bytes: u64) -> Option<Plan> {
    let source = p.calls.first()?;
    if source.def.name != crate::source::cat::DEF.name || source.name.is_none() {
        return None;
    }
    // (`cat --part-size`, 32 MB: enough parts to keep two cores busy to the end of a file
    // of a few hundred megabytes, few enough that a part's cost, a `cat` built and the
    // file opened, is lost in its reading.)
    let (files, threads, part) = crate::source::cat::per_file(&source.matches)?;
    let mut per_file = p.calls[1..].iter().take_while(|c| per_file_safe(c)).count();
    // A grep with context ends the stages in the workers (its groups are their output).
    if let Some(k) = p.calls[1..1 + per_file].iter().position(has_context) {
        per_file = k + 1;
    }
    let mut per_part = p.calls[1..].iter().take_while(|c| per_part_safe(c)).count();
    // A `grep -c` after them selects in the workers and counts after them.
    let count_split = per_part == per_file && p.calls.get(1 + per_part).is_some_and(count_splits);
    if count_split {
        per_part += 1;
        per_file = per_part;
    }
    // Big files are read in parts when every stage in the workers allows it, or when
    // there is one file (the stages that do run in the workers).
    let (stages, split) = if per_part > 0 && (per_part == per_file || files.len() == 1) {
        (per_part, true)
    } else {
        (per_file, false)
    };
    // A grep with context alone in the workers: its file in parts cut where no group can
    // cross (see [`Quiet`]).
    let quiet = (!split && stages == 1)
        .then(|| Quiet::of(&p.calls[1], crlf))
        .flatten();
    let split = split || quiet.is_some();
    let group = (!p.calls[1..1 + stages].iter().any(has_context)).then_some(group_bytes);
    // A parser's records (their JSON) outweigh its lines: parts of 32 MB made more than a
    // job's queue holds (`DEPTH` hand-overs), and the worker on the next part waited for
    // the main thread. Parts of 4 MB unless `--part-size` says otherwise.
    let part = if p.calls[1..1 + stages].iter().any(is_line_parser) && !given(source, "part_size") {
        part.min(PARSER_PART)
    } else {
        part
    };
    let jobs = jobs(&files, split.then_some(part), quiet.as_ref(), group, |f| {
        crate::source::cat::reads_decompressed(&source.matches, f)
    });
    // Something must follow in the main thread (the implicit `print` at least).
    (stages > 0 && stages < p.calls.len() - 1 && jobs.len() > 1).then_some(Plan {
        files,
        jobs,
        threads,
        stages,
        count_split,
    })
}

/// Small files in a row make one job up to this many bytes (see [`jobs`]).
const GROUP_BYTES: u64 = 4 << 20;

/// The jobs for `files`: a file each, those at least twice `split` in parts of about
/// `split` (not those read decompressed, which have to be read from their start), and
/// small files in a row together up to `group` bytes ([`GROUP_BYTES`]): a job costs its
/// hand-overs and wake-ups (about 30 µs of CPU), more than reading a file of a few KB —
/// 2,000 files of 8 KB took 0.099 s on two threads, a file a job, against 0.026 s on one.
/// (Not with context: the separator between two files' groups is put between jobs.)
fn jobs(
    files: &[PathBuf],
    split: Option<u64>,
    quiet: Option<&Quiet>,
    group: Option<u64>,
    decompressed: impl Fn(&std::path::Path) -> bool,
) -> Vec<Job> {
    let mut jobs: Vec<Job> = Vec::with_capacity(files.len());
    // The bytes of the last job while it is small whole files that the next may join.
    let mut open: Option<u64> = None;
    for (i, path) in files.iter().enumerate() {
        let whole = Job {
            file: i,
            files: 1,
            part: None,
        };
        let len = std::fs::metadata(path).map_or(0, |m| m.len());
        if let Some(group) = group.filter(|&g| len < g) {
            match (open, jobs.last_mut()) {
                (Some(bytes), Some(last)) if bytes + len <= group => {
                    last.files += 1;
                    open = Some(bytes + len);
                }
                _ => {
                    jobs.push(whole);
                    open = Some(len);
                }
            }
            continue;
        }
        open = None;
        let Some(part) = split.filter(|&p| len >= 2 * p && !decompressed(path)) else {
            jobs.push(whole);
            continue;
        };
        let Ok(file) = std::fs::File::open(path) else {
            jobs.push(whole);
            continue;
        };
        let mut starts = vec![0];
        let mut at = part;
        while at + part / 2 < len {
            let start = match quiet {
                Some(q) => q.start_from(&file, at),
                None => line_start_from(&file, at),
            };
            match start {
                Some(s) if s < len => {
                    if s > *starts.last().unwrap_or(&0) {
                        starts.push(s);
                    }
                    at = s.max(at) + part;
                }
                _ => break,
            }
        }
        if starts.len() == 1 {
            jobs.push(whole);
            continue;
        }
        for (k, &s) in starts.iter().enumerate() {
            let end = starts.get(k + 1).copied();
            jobs.push(Job {
                file: i,
                files: 1,
                part: Some((s, end)),
            });
        }
    }
    jobs
}

/// Where a file read by a grep with context (`-A`, `-B`, `-C`) may be cut into parts: at a
/// line with `after + 1` lines before it and `before` lines from it on, none selected. The
/// groups of each part then end before the cut and start after it with a line between them
/// that no group prints, so that each part's groups are those of the whole file, and the
/// separator between two parts' groups, which the main thread puts, is always due.
struct Quiet {
    matcher: crate::stage::grep::Matcher,
    after: usize,
    before: usize,
}

impl Quiet {
    /// For `call`, a grep with context that treats each line on its own (no `-n`, `-b`,
    /// `-P`, `-o`), alone in the workers.
    fn of(call: &Call, crlf: bool) -> Option<Quiet> {
        use clap::FromArgMatches;
        if !has_context(call)
            || !per_file_safe(call)
            || BY_POSITION.iter().any(|id| given(call, id))
        {
            return None;
        }
        let a = crate::stage::grep::Args::from_arg_matches(&call.matches).ok()?;
        let after = a.after_context.or(a.context).unwrap_or(0);
        let before = a.before_context.or(a.context).unwrap_or(0);
        // (Long context would need long quiet stretches: not worth looking for.)
        if after > 1000 || before > 1000 {
            return None;
        }
        Some(Quiet {
            matcher: crate::stage::grep::Matcher::new(&a, crlf).ok()?,
            after: after as usize,
            before: before as usize,
        })
    }

    /// The start of the first line at `at` or after it (within 112 KB) where the file can
    /// be cut, if there is one.
    fn start_from(&self, file: &std::fs::File, at: u64) -> Option<u64> {
        use std::os::unix::fs::FileExt;
        const BACK: u64 = 16 << 10;
        let from = at.saturating_sub(BACK);
        let mut buf = vec![0u8; (BACK as usize) + (112 << 10)];
        let mut n = 0;
        while n < buf.len() {
            match file.read_at(&mut buf[n..], from + n as u64) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return None,
            }
        }
        let buf = &buf[..n];
        // The whole lines of the window: where they start and end in it.
        let mut lines: Vec<(usize, usize)> = Vec::new();
        let mut pos = if from == 0 {
            0
        } else {
            memchr::memchr(b'\n', buf)? + 1
        };
        while let Some(i) = memchr::memchr(b'\n', &buf[pos..]) {
            lines.push((pos, pos + i));
            pos += i + 1;
        }
        // Whether each line is selected, found when first needed.
        let mut selected: Vec<Option<bool>> = vec![None; lines.len()];
        let mut is_selected = |k: usize| {
            *selected[k].get_or_insert_with(|| {
                let (s, e) = lines[k];
                self.matcher.selects(&buf[s..e]).unwrap_or(true)
            })
        };
        let (need_before, need_after) = (self.after + 1, self.before);
        let first = lines.iter().position(|&(s, _)| from + s as u64 >= at)?;
        (first.max(need_before)..lines.len().saturating_sub(need_after))
            .find(|&i| (i - need_before..=i + need_after).all(|k| !is_selected(k)))
            .map(|i| from + lines[i].0 as u64)
    }
}

/// Which jobs continue the one before: the parts of a file after its first.
fn continuing(jobs: &[Job]) -> Arc<[bool]> {
    jobs.iter()
        .map(|j| j.part.is_some_and(|(start, _)| start > 0))
        .collect()
}

/// The start of the first line that starts at `at` or after it in `file` (the byte after
/// the first newline at `at - 1` or later), `None` when there is none (or the file cannot
/// be read there).
fn line_start_from(file: &std::fs::File, at: u64) -> Option<u64> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; 64 << 10];
    let mut pos = at.checked_sub(1)?;
    loop {
        let n = match file.read_at(&mut buf, pos) {
            Ok(0) => return None,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        };
        if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
            return Some(pos + i as u64 + 1);
        }
        pos += n as u64;
    }
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

/// Whether `call` is a `grep -c` whose selection can run in the workers and whose count
/// after them (see [`crate::protocol::def::CountSplit`]): its other options per-part, and
/// not `-P`, whose match can give up in the middle of a file (that file then has no count,
/// which the count made after the workers could not know).
fn count_splits(call: &Call) -> bool {
    call.def.name == crate::stage::grep::DEF.name
        && call.input == Some(Kind::Line)
        && given(call, "count")
        && !BY_POSITION
            .iter()
            .chain(GREP_CONTEXT)
            .any(|id| given(call, id))
        && call.matches.ids().all(|id| {
            id == "count" || GREP_PER_FILE.contains(&id.as_str()) || !given(call, id.as_str())
        })
}

/// Whether `call` treats each line on its own, wherever it is in its file: per-file, and
/// not numbering lines or bytes from the file's start (`-n`, `-b`; nor `-P`, whose error
/// when a match gives up names the line by its number), so that it can run on parts of a
/// file.
fn per_part_safe(call: &Call) -> bool {
    if is_replace(call) || is_record_filter(call) {
        return true;
    }
    if is_line_parser(call) {
        return !given(call, "strict");
    }
    per_file_safe(call) && !has_context(call) && !BY_POSITION.iter().any(|id| given(call, id))
}

/// The size of the parts of a big file read by the workers when a line parser runs there
/// (see [`plan_grouping`]).
const PARSER_PART: u64 = 4 << 20;

/// Whether `call` is a line parser (`parse`, `logfmt`, `kv`, `syslog`, `combined`): each
/// line made a record on its own; the counts of its notes at the end (lines dropped, values
/// that did not convert) are handed over by the workers and said once by the main thread
/// (see [`crate::runtime::notes`]). Per-part too, but with `--strict`, whose error names
/// the line by its number in the file.
fn is_line_parser(call: &Call) -> bool {
    use crate::stage::{combined, kv, parse, syslog};
    call.input == Some(Kind::Line)
        && [
            parse::DEF.name,
            kv::LOGFMT.name,
            kv::KV.name,
            syslog::DEF.name,
            combined::DEF.name,
        ]
        .contains(&call.def.name)
}

/// Whether `call` is `where`, `select` or `fmt`: each record kept, cut or written on its
/// own, nothing kept, nothing said — per-file, and per-part too.
fn is_record_filter(call: &Call) -> bool {
    use crate::stage::{fmt, select, where_};
    call.input == Some(Kind::Record)
        && [where_::DEF.name, select::DEF.name, fmt::DEF.name].contains(&call.def.name)
}

/// Whether `call` is a `replace` on lines: each line rewritten on its own, nothing said,
/// nothing kept — per-file, and per-part too.
fn is_replace(call: &Call) -> bool {
    call.def.name == crate::stage::replace::DEF.name && call.input == Some(Kind::Line)
}

/// `grep`'s options that need a line's position in its file (`-n`, `-b`; `-P`, whose error
/// when a match gives up names the line by its number): not on parts of a file.
const BY_POSITION: &[&str] = &["line_number", "byte_offset", "perl_regexp"];

/// Whether `call` treats each file on its own (see the module docs).
pub(super) fn per_file_safe(call: &Call) -> bool {
    if is_replace(call) || is_line_parser(call) || is_record_filter(call) {
        return true;
    }
    call.def.name == crate::stage::grep::DEF.name
        && call.input == Some(Kind::Line)
        && call.matches.ids().all(|id| {
            GREP_PER_FILE.contains(&id.as_str())
                || (GREP_CONTEXT.contains(&id.as_str()) && !given(call, "only_matching"))
                || !given(call, id.as_str())
        })
}

/// `grep`'s context options: per-file too, the group separator between two files' groups
/// put by the main thread (see [`crate::protocol::def::Inputs::separated_after`]), when the
/// grep is the last stage in the workers (its groups are the workers' output) and not
/// `-o` (whose groups are matches).
const GREP_CONTEXT: &[&str] = &[
    "after_context",
    "before_context",
    "context",
    "group_separator",
    "no_group_separator",
];

/// Whether option `id` of `call` was given on the command line.
fn given(call: &Call, id: &str) -> bool {
    // (An option the stage does not have was not given: asked first, as clap's
    // `value_source` panics on an unknown name in a debug build.)
    call.matches.try_contains_id(id).is_ok()
        && call.matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
}

/// Whether `call` prints groups of context lines.
fn has_context(call: &Call) -> bool {
    GREP_CONTEXT.iter().any(|id| given(call, id))
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
    if plan.count_split && !env.timers.wanted() {
        // The `grep -c` counts in the main thread what it selected in the workers; its
        // row is the workers' (in: the lines it read there; out: the counts).
        let tally_env = Env {
            inputs: Inputs {
                count: CountSplit::Tally,
                ..env.inputs
            },
            ..*env
        };
        let rest = build_chain_into(
            &per_file[k - 1..],
            &tally_env,
            &hl[k - 1],
            &mut Vec::new(),
            Some(rest),
        )?;
        return build_workers(p, &plan, per_file, rest, rest_rows, first_after, env, rows);
    }
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
    build_workers(p, &plan, per_file, rest, rest_rows, first_after, env, rows)
}

/// The workers' source for `per_file` ahead of `rest` (see [`build`]).
#[allow(clippy::too_many_arguments)]
fn build_workers(
    p: &Pipeline,
    plan: &Plan,
    per_file: &[Call],
    rest: Box<dyn Stage>,
    rest_rows: Vec<Row>,
    first_after: Option<Counter>,
    env: &Env<'_>,
    rows: &mut Vec<Row>,
) -> Result<Parts, SyntaxError> {
    let k = plan.stages;
    let tail_is_sink = matches!(
        p.calls[1 + k].def.build,
        crate::protocol::def::Build::Sink(_)
    );
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
        plan.jobs.clone(),
        Run {
            opts: env.opts.clone(),
            interrupt: env.interrupt.clone(),
            status: env.status.clone(),
            // Records for a `print` or `write`: rendered by the workers.
            render: p.calls[1 + k].input == Some(Kind::Record) && rest.takes_rendered(),
        },
        Inputs {
            count: if plan.count_split {
                CountSplit::Select
            } else {
                CountSplit::Whole
            },
            separated_after: true,
            ..env.inputs
        },
        tail_is_sink,
    );
    // The group separator the main thread puts between two files' groups of context.
    let last = &per_file[k - 1];
    let separator = if has_context(last) {
        crate::stage::grep::separator_line(&last.matches, &env.cx(Kind::Line, &[]))
            .map_err(|e| at_call(last, e))?
    } else {
        None
    };
    let parts = plan.jobs.iter().filter(|j| j.part.is_some()).count() as u64;
    let split_files = plan
        .jobs
        .iter()
        .filter(|j| j.part.is_some_and(|(start, _)| start == 0))
        .count() as u64;
    env.meter.set_read_by(crate::runtime::meter::ReadBy {
        threads: plan.threads.clamp(1, plan.jobs.len()),
        split_files,
        parts,
    });
    // (A build error of the per-file stages was found when `plan` was checked... in the
    // worker, it would be said in the first file's turn: build them once here to say it now.)
    let notes = check_build(per_file, env, tail_is_sink).map_err(|e| at_call(&per_file[0], e))?;
    let workers = PerFile {
        separator,
        jobs: plan.jobs.len(),
        continues: continuing(&plan.jobs),
        threads: plan.threads,
        make,
        meter: env.meter.clone(),
        status: env.status.clone(),
        counters,
        notes: notes.counters(),
        pace: workers::Pace::of(p.calls[1 + k].input == Some(Kind::Record)),
    };
    let rest: Box<dyn Stage> = if notes.is_empty() {
        rest
    } else {
        Box::new(SayNotes { notes, next: rest })
    };
    Ok((Box::new(workers), rest))
}

/// Build the per-file stages once in this thread, for their errors (a bad pattern) to be
/// found before any input is read, as for every other stage; and for the notes they say at
/// their close, whose counts the workers hand over (see [`crate::runtime::notes`]): the
/// stages themselves are dropped unclosed (a `grep -c` would print its counts).
fn check_build(per_file: &[Call], env: &Env<'_>, tail_is_sink: bool) -> anyhow::Result<Notes> {
    let timers = Timers::default();
    let notes = Notes::default();
    let env = Env {
        tail_is_sink,
        timers: &timers,
        notes: &notes,
        ..*env
    };
    build_chain_into(
        per_file,
        &env,
        &[],
        &mut Vec::new(),
        Some(Box::new(Discard)),
    )
    .map_err(|e| anyhow!("{e}"))?;
    Ok(notes)
}

/// The head of the main thread's chain when the per-file stages say notes at their close:
/// says them, with the counts the workers handed over, where one thread would have (the
/// per-file stages close before the rest of the chain).
struct SayNotes {
    notes: Notes,
    next: Box<dyn Stage>,
}

impl Stage for SayNotes {
    fn send(&mut self, item: crate::item::Item<'_>) -> anyhow::Result<crate::protocol::Flow> {
        self.next.send(item)
    }
    fn send_lines(&mut self, batch: &[u8]) -> anyhow::Result<crate::protocol::Flow> {
        self.next.send_lines(batch)
    }
    fn send_mapped(
        &mut self,
        lines: crate::protocol::Mapped<'_>,
    ) -> anyhow::Result<crate::protocol::Flow> {
        self.next.send_mapped(lines)
    }
    fn takes_rendered(&self) -> bool {
        self.next.takes_rendered()
    }
    fn send_rendered(&mut self, ndjson: &[u8]) -> anyhow::Result<crate::protocol::Flow> {
        self.next.send_rendered(ndjson)
    }
    fn counters(&self) -> Vec<(&'static str, Counter)> {
        self.next.counters()
    }
    crate::pass_on!(origin, flush);
    fn close(&mut self) -> anyhow::Result<()> {
        self.notes.say();
        self.next.close()
    }
}

/// What the run shares with the workers' chains: its options, its Ctrl-C, and its status;
/// and whether the workers render the records they hand over (see [`Chain::render`]).
struct Run {
    opts: Options,
    interrupt: Interrupt,
    status: Status,
    render: bool,
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
    jobs: Vec<Job>,
    run: Run,
    inputs: crate::protocol::def::Inputs,
    tail_is_sink: bool,
) -> MakeChain {
    let Run {
        opts,
        interrupt,
        status,
        render,
    } = run;
    let files = Arc::new(files);
    let continues = continuing(&jobs);
    let jobs = Arc::new(jobs);
    Arc::new(move |end: Box<dyn Stage>| {
        let stdout = Rc::new(RefCell::new(Output::stdout(
            opts.line_buffered,
            &interrupt,
        )?));
        let meter = Meter::default();
        let timers = Timers::default();
        let notes = Notes::default();
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
            notes: &notes,
        };
        let mut rows = Vec::new();
        let chain = build_chain_into(&per_file, &env, &[], &mut rows, Some(end))
            .map_err(|e| anyhow!("{e}"))?;
        let counters = rows.iter().filter_map(|r| r.input.clone()).collect();
        let notes = notes.counters();
        let (opts, interrupt, files, jobs) =
            (opts.clone(), interrupt.clone(), files.clone(), jobs.clone());
        let cat = crate::source::cat::job_args(&cat)?;
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
                notes: &Notes::default(),
            };
            let job = jobs[i];
            Ok(match job.part {
                None => {
                    crate::source::cat::build_one(&cat, &files[job.file..job.file + job.files], &cx)
                }
                Some(part) => crate::source::cat::build_part(&cat, &files[job.file], part, &cx),
            })
        });
        Ok(Chain {
            chain,
            counters,
            notes,
            render,
            source,
            continues: continues.clone(),
        })
    })
}

/// `cat` of many files with its per-file stages, run by the workers.
struct PerFile {
    separator: Option<Vec<u8>>,
    jobs: usize,
    continues: Arc<[bool]>,
    threads: usize,
    make: MakeChain,
    meter: Meter,
    status: Status,
    counters: Vec<Counter>,
    /// The counters of the notes of the main thread's copy of the per-file stages.
    notes: Vec<Counter>,
    pace: workers::Pace,
}

impl Source for PerFile {
    fn run(&mut self, out: &mut dyn Stage) -> anyhow::Result<()> {
        let tally = Tally {
            meter: &self.meter,
            status: &self.status,
            counters: &self.counters,
            notes: &self.notes,
            continues: &self.continues,
            separator: self.separator.as_deref(),
            pace: self.pace,
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
        // (The files do not exist: not grouped, each is a job.)
        plan_grouping(&p, false, 0).map(|p| p.stages)
    }

    #[test]
    fn small_files_in_a_row_make_one_job_up_to_the_group_size() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        for (name, len) in [("a", 10), ("b", 20), ("big", 500), ("c", 30), ("d", 40)] {
            let p = dir.path().join(name);
            std::fs::write(&p, vec![b'x'; len]).unwrap();
            files.push(p);
        }
        files.push(dir.path().join("missing"));
        files.push(dir.path().join("big"));
        let job = |file, files| Job {
            file,
            files,
            part: None,
        };
        // 10 + 20; 500 alone; 30 + 40 + a missing file (0 bytes); 500 alone again.
        assert_eq!(
            jobs(&files, None, None, Some(100), |_| false),
            [job(0, 2), job(2, 1), job(3, 3), job(6, 1)]
        );
        // Without grouping (context), a file a job.
        assert_eq!(
            jobs(&files, None, None, None, |_| false),
            (0..7).map(|i| job(i, 1)).collect::<Vec<_>>()
        );
        // A group that would pass the size starts a new job.
        assert_eq!(
            jobs(&files[3..5], None, None, Some(60), |_| false),
            [job(0, 1), job(1, 1)]
        );
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
        assert_eq!(stages(&format!("{cat} : grep -c x")), Some(1));
        assert_eq!(stages(&format!("{cat} : grep -c -n x")), None);
        assert_eq!(stages(&format!("{cat} : grep -m 1 x")), None);
        assert_eq!(stages(&format!("{cat} : grep -A 1 x")), Some(1));
        assert_eq!(stages(&format!("{cat} : grep -C 1 x : grep y")), Some(1));
        assert_eq!(stages(&format!("{cat} : grep -o -A 1 x")), None);
        assert_eq!(stages(&format!("{cat} : head 1 : grep x")), None);
        assert_eq!(
            stages(&format!("{cat} : replace a b : grep x : count")),
            Some(2)
        );
        assert_eq!(
            stages(&format!("{cat} : grep x : replace a b : head 1")),
            Some(2)
        );
        assert_eq!(
            stages(&format!("{cat} : replace a b : json : count")),
            Some(1)
        );
        assert_eq!(stages("cat --threads 1 a.log b.log : grep x"), None);
        assert_eq!(stages("cat --threads 2 a.log : grep x"), None);
        assert_eq!(stages("cat --threads 2 a.log - : grep x"), None);
    }
}
