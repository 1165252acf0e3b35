//! The command line: global options, the pipeline words (argv form, one quoted string, or a
//! pipeline file), `copipe help …`, `copipe completions SHELL`, and the exit status.
//!
//! Two steps, as in ripgrep and fd: the raw arguments become a checked, built pipeline —
//! every syntax, type, regex and file error is reported here, before any input is read —
//! and only then does the pipeline run.

pub mod complete;
pub mod exit_codes;
pub mod help;

use std::cell::RefCell;
use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{CommandFactory, Parser, ValueEnum};

use self::exit_codes::ExitCode;
use crate::pipeline::build::{Shared, build, check};
use crate::pipeline::explain::explain;
use crate::pipeline::grammar::{self, SyntaxError};
use crate::pipeline::run::{Scheduled, needs_scheduler, run, run_scheduled};
use crate::protocol::def::{Options, Status};
use crate::protocol::is_broken_pipe;
use crate::runtime::meter::Meter;
use crate::runtime::output::Output;
use crate::runtime::signal::{Interrupt, abandoned_by};
use crate::runtime::timer::Timers;

const AFTER_HELP: &str = "\
A pipeline is a source, then filters, then a sink, separated by `:` (or a quoted `|`):

  copipe cat app.log : grep -i error : head 5
  copipe 'cat app.log | grep -i error | count'
  copipe range 1 1000000000000 : grep 7 : head 3
  copipe cat app.log : tee { grep ERROR : write errors.log } : count
  copipe -f pipeline.txt

Without a source the pipeline reads standard input (`cat -`); without a sink it prints.
`{ … }` holds a branch of `tee` or `broadcast`; branches nest (up to 64 deep, 512
stages in all). A literal `:`, `|`, `{` or `}` is written as an option's value
(`grep -e :`).

`copipe help stages` lists the stages; `copipe help STAGE` explains one;
`copipe --explain PIPELINE` shows how a pipeline is put together without running it.
Exit status: 0 if an item reached a sink, 1 if none did, 2 on an error; a follow ended by
Ctrl-C exits with 130, by SIGTERM with 0, once its output is flushed.";

/// When to colour output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// When standard output is a terminal and `NO_COLOR` is not set.
    Auto,
    /// Always, even into pipes and files (overrides `NO_COLOR`).
    Always,
    /// Never.
    Never,
}

/// Streaming pipelines in one process: `tail -F | grep | tee | jq`, as coroutines.
#[derive(Parser, Debug)]
#[command(name = "copipe", version, about, after_long_help = AFTER_HELP, after_help = AFTER_HELP)]
pub struct Cli {
    /// Flush output after every item (the default when standard output is a terminal).
    #[arg(long)]
    pub line_buffered: bool,
    /// Treat `\r\n` as the line terminator when matching (`$` matches before `\r`); lines
    /// are still output with their `\r`.
    #[arg(long)]
    pub crlf: bool,
    /// Cut lines longer than BYTES (suffixes K, M, G: 64K, 10M, 1G; default 16M): the
    /// line is passed on with its first BYTES bytes, the rest of it up to its newline is
    /// dropped, and a warning names the input and the line (once per input; `--stats`
    /// counts them all). Memory then stays within a few times BYTES whatever the input.
    #[arg(long, value_name = "BYTES", value_parser = crate::runtime::units::parse_size)]
    pub max_line: Option<usize>,
    /// Read the pipeline from FILE (`#` starts a comment).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Colour grep matches, record keys and file-name tags in what `print` writes.
    #[arg(long, value_name = "WHEN", value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Print the parsed pipeline as a tree — each stage, its role, the kind of item on
    /// every edge, the branches — and exit without reading any input.
    #[arg(long)]
    pub explain: bool,
    /// At the end (also after an error, Ctrl-C or a closed pipe), print per stage the items
    /// in and out, and the bytes the source read and its throughput, on standard error.
    #[arg(long)]
    pub stats: bool,
    /// Never show the progress bar (shown on standard error for long reads of regular files
    /// when standard error is a terminal and standard output is not).
    #[arg(long)]
    pub no_progress: bool,
    /// The pipeline: stages separated by `:` or `|` (one quoted word is split like a shell
    /// would). Words need not be UTF-8 (file names, grep patterns).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "PIPELINE"
    )]
    pub pipeline: Vec<OsString>,
}

/// Run copipe with the process arguments; returns the exit status.
pub fn main() -> i32 {
    run_cli().code()
}

fn run_cli() -> ExitCode {
    crate::runtime::rlimit::raise_open_files();
    let cli = match Cli::try_parse_from(std::env::args_os()) {
        Ok(c) => c,
        Err(e) if e.use_stderr() => {
            // clap's own errors in copipe's form: `copipe: what`, then clap's hints.
            let text = e.render().to_string();
            let text = text.strip_prefix("error: ").unwrap_or(&text);
            crate::say_part!("copipe: {text}");
            return ExitCode::Error;
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::Success;
        }
    };
    match main_with(cli) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::Success,
        Err(e) => {
            crate::say!("copipe: {e:#}");
            ExitCode::Error
        }
    }
}

fn main_with(cli: Cli) -> Result<ExitCode> {
    if cli.file.is_none() {
        // `help` and `completions` take names, which are UTF-8 (anything else matches none).
        let rest = || -> Vec<String> {
            cli.pipeline[1..]
                .iter()
                .map(|w| w.to_string_lossy().into_owned())
                .collect()
        };
        match cli.pipeline.first().map(|w| w.to_str()) {
            None => {
                let mut err = std::io::stderr();
                writeln!(err, "copipe: no pipeline given\n")?;
                write!(err, "{}", Cli::command().render_help())?;
                return Ok(ExitCode::Error);
            }
            Some(Some("help")) => return help::help(&rest()),
            Some(Some("completions")) => return complete::completions(&rest()),
            Some(Some(complete::HIDDEN)) => return complete::candidates(&rest()),
            _ => {}
        }
    }
    let words = words(&cli)?;
    let stdout_tty = std::io::stdout().is_terminal();
    let opts = Options {
        crlf: cli.crlf,
        line_buffered: cli.line_buffered,
        color: use_color(cli.color, stdout_tty),
        progress: !cli.no_progress
            && !cli.explain
            && std::io::stderr().is_terminal()
            && !stdout_tty,
        stats: cli.stats,
        max_line: cli.max_line,
    };
    let mut pipeline = match grammar::parse(&words) {
        Ok(p) => p,
        Err(e) => return Ok(syntax_error(&e, &words)),
    };
    let checked = check(&mut pipeline);
    if cli.explain {
        crate::say_out!("{}", explain(&pipeline, checked.as_ref().err()));
        std::io::stdout().flush()?;
        return Ok(match checked {
            Ok(()) => ExitCode::Success,
            Err(e) => syntax_error(&e, &words),
        });
    }
    if let Err(e) = checked {
        return Ok(syntax_error(&e, &words));
    }
    // Before the outputs are made: their writes are interruptible.
    let interrupt = Interrupt::install()?;
    // Standard output is line-buffered on a terminal too; files and child processes only
    // with `--line-buffered` (they are flushed whenever the source waits anyway).
    let stdout = Rc::new(RefCell::new(Output::stdout(
        opts.line_buffered || stdout_tty,
        &interrupt,
    )?));
    let status = Status::default();
    let meter = if opts.progress {
        Meter::with_progress()
    } else {
        Meter::default()
    };
    let timers = Timers::default();
    let shared = Shared {
        opts: &opts,
        stdout: &stdout,
        status: &status,
        meter: &meter,
        interrupt: &interrupt,
        timers: &timers,
    };
    let mut built = match build(&pipeline, &shared) {
        Ok(b) => b,
        Err(e) => return Ok(syntax_error(&e, &words)),
    };
    drop(pipeline);
    let stats = built.stats.take();
    let started = Instant::now();
    let ran = if needs_scheduler(&mut built, &timers) {
        let r = Scheduled {
            opts: &opts,
            status: &status,
            meter: &meter,
            interrupt: &interrupt,
            timers: &timers,
        };
        run_scheduled(built, &r)
    } else {
        run(built, &status)
    };
    meter.finish();
    if let Some(stats) = stats {
        crate::say_part!("{}", stats.report(&meter, started.elapsed()));
    }
    // A signal that came while the chain was closing (waiting for an `exec` child, say)
    // interrupted the run too.
    if let Some(sig) = interrupt.pending() {
        status.interrupt(sig);
    }
    match ran {
        Ok(()) => {}
        // A write given up after Ctrl-C: the run was interrupted (said, and 130).
        Err(e) if let Some(sig) = abandoned_by(&e) => {
            status.interrupt(sig);
            crate::say!("copipe: {e:#}");
        }
        // The reader went away: quietly 0, unless a signal had already ended the run.
        Err(e) if is_broken_pipe(&e) => {
            if status.interrupted().is_none() {
                return Ok(ExitCode::Success);
            }
        }
        Err(e) => {
            crate::say!("copipe: {e:#}");
            return Ok(ExitCode::Error);
        }
    }
    Ok(exit_status(&status))
}

/// grep's exit status (0 an item reached a sink, 1 none did, 2 an error was reported;
/// 0 after an error when `grep -q` selected a line, as GNU grep's),
/// except after a signal that ended a follow cleanly: 130 after Ctrl-C (SIGINT, the shell's
/// convention), 0 after SIGTERM (a requested stop) unless an error was reported.
fn exit_status(status: &Status) -> ExitCode {
    match status.interrupted() {
        Some(libc::SIGINT) => ExitCode::Interrupted,
        Some(_) if status.soft_errors() == 0 => ExitCode::Success,
        _ if status.quietly_succeeded() => ExitCode::Success,
        _ if status.soft_errors() > 0 => ExitCode::Error,
        _ if status.succeeded() => ExitCode::Success,
        _ => ExitCode::NoMatch,
    }
}

/// `--color`: `auto` colours a terminal unless `NO_COLOR` is set to something (no-color.org;
/// an explicit `--color=always` wins over it).
fn use_color(choice: ColorChoice, stdout_tty: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            stdout_tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    }
}

/// The pipeline words from a file, one quoted string, or argv.
fn words(cli: &Cli) -> Result<Vec<OsString>> {
    if let Some(path) = &cli.file {
        let text = std::fs::read(path)
            .with_context(|| format!("cannot read pipeline file {}", path.display()))?;
        let mut words =
            grammar::split_text(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        words.extend(cli.pipeline.iter().cloned());
        return Ok(words);
    }
    if let [one] = cli.pipeline.as_slice()
        && one.as_encoded_bytes().iter().any(u8::is_ascii_whitespace)
    {
        return grammar::split_text(one.as_encoded_bytes())
            .map_err(|e| anyhow::anyhow!("in the pipeline string: {e}"));
    }
    Ok(cli.pipeline.clone())
}

fn syntax_error(e: &SyntaxError, words: &[OsString]) -> ExitCode {
    if e.help {
        crate::say_out!("{}", e.message);
        return ExitCode::Success;
    }
    crate::say!("copipe: {}", grammar::pointed(e, words));
    ExitCode::Error
}
