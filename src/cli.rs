//! The command line: global options, the pipeline words (argv form, one quoted string, or a
//! pipeline file), `copipe help …`, and the exit status.
//!
//! Two steps, as in ripgrep and fd: the raw arguments become a checked, built pipeline —
//! every syntax, type, regex and file error is reported here, before any input is read —
//! and only then does the pipeline run.

use std::cell::RefCell;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::rc::Rc;

use anyhow::{Context, Result};
use clap::{CommandFactory, Parser};

use crate::pipeline::build::{build, check};
use crate::pipeline::grammar::{self, SyntaxError};
use crate::pipeline::meter::Meter;
use crate::pipeline::registry::{self, Options, Role, Status};
use crate::pipeline::run::{is_broken_pipe, run};
use crate::sink::output::Output;

const AFTER_HELP: &str = "\
A pipeline is a source, then filters, then a sink, separated by `:` (or a quoted `|`):

  copipe cat app.log : grep -i error : head 5
  copipe 'cat app.log | grep -i error | count'
  copipe range 1 1000000000000 : grep 7 : head 3
  copipe cat app.log : tee { grep ERROR : write errors.log } : count
  copipe -f pipeline.txt

Without a source the pipeline reads standard input (`cat -`); without a sink it prints.
`{ … }` holds a branch of `tee` or `broadcast`; branches nest.

`copipe help stages` lists the stages; `copipe help STAGE` explains one.
Exit status: 0 if an item reached a sink, 1 if none did, 2 on an error; a follow ended by
Ctrl-C exits with 130, by SIGTERM with 0, once its output is flushed.";

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
    /// Read the pipeline from FILE (`#` starts a comment).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The pipeline: stages separated by `:` or `|` (one quoted word is split like a shell
    /// would).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "PIPELINE"
    )]
    pub pipeline: Vec<String>,
}

/// Run copipe with the process arguments; returns the exit status.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match main_with(cli) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => 0,
        Err(e) => {
            eprintln!("copipe: {e:#}");
            2
        }
    }
}

fn main_with(cli: Cli) -> Result<i32> {
    if cli.file.is_none() {
        match cli.pipeline.first().map(String::as_str) {
            None => {
                let mut err = std::io::stderr();
                writeln!(err, "copipe: no pipeline given\n")?;
                write!(err, "{}", Cli::command().render_help())?;
                return Ok(2);
            }
            Some("help") => return help(&cli.pipeline[1..]),
            _ => {}
        }
    }
    let words = words(&cli)?;
    let opts = Options {
        crlf: cli.crlf,
        line_buffered: cli.line_buffered,
        color: false,
        progress: false,
    };
    let pipeline = match grammar::parse(&words).and_then(|mut p| check(&mut p).map(|()| p)) {
        Ok(p) => p,
        Err(e) => return Ok(syntax_error(&e, &words)),
    };
    // Standard output is line-buffered on a terminal too; files and child processes only
    // with `--line-buffered` (they are flushed whenever the source waits anyway).
    let tty = std::io::stdout().is_terminal();
    let stdout = Rc::new(RefCell::new(Output::stdout(opts.line_buffered || tty)?));
    let status = Status::default();
    let meter = Meter::default();
    let built = match build(&pipeline, &opts, &stdout, &status, &meter) {
        Ok(b) => b,
        Err(e) => return Ok(syntax_error(&e, &words)),
    };
    drop(pipeline);
    match run(built) {
        Ok(()) => {}
        Err(e) if is_broken_pipe(&e) => return Ok(0),
        Err(e) => {
            eprintln!("copipe: {e:#}");
            return Ok(2);
        }
    }
    Ok(exit_status(&status))
}

/// grep's exit status (0 an item reached a sink, 1 none did, 2 an error was reported),
/// except after a signal that ended a follow cleanly: 130 after Ctrl-C (SIGINT, the shell's
/// convention), 0 after SIGTERM (a requested stop) unless an error was reported.
fn exit_status(status: &Status) -> i32 {
    match status.interrupted() {
        Some(libc::SIGINT) => 130,
        Some(_) if status.soft_errors() == 0 => 0,
        _ if status.soft_errors() > 0 => 2,
        _ if status.delivered() => 0,
        _ => 1,
    }
}

/// The pipeline words from a file, one quoted string, or argv.
fn words(cli: &Cli) -> Result<Vec<String>> {
    if let Some(path) = &cli.file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read pipeline file {}", path.display()))?;
        let mut words =
            grammar::split_text(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        words.extend(cli.pipeline.iter().cloned());
        return Ok(words);
    }
    if let [one] = cli.pipeline.as_slice()
        && one.chars().any(char::is_whitespace)
    {
        return grammar::split_text(one)
            .map_err(|e| anyhow::anyhow!("in the pipeline string: {e}"));
    }
    Ok(cli.pipeline.clone())
}

fn syntax_error(e: &SyntaxError, words: &[String]) -> i32 {
    if e.help {
        print!("{}", e.message);
        return 0;
    }
    eprintln!("copipe: {}", grammar::pointed(e, words));
    2
}

/// `copipe help`, `copipe help stages`, `copipe help STAGE`.
fn help(args: &[String]) -> Result<i32> {
    let mut out = std::io::stdout().lock();
    match args.first().map(String::as_str) {
        None => write!(out, "{}", Cli::command().render_long_help())?,
        Some("stages") => write!(out, "{}", stages_text())?,
        Some(name) => match registry::find(name) {
            Some(def) => write!(out, "{}", stage_help(def))?,
            None => {
                let hint = registry::suggest(name)
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                eprintln!("copipe: unknown stage `{name}`{hint}; `copipe help stages` lists them");
                return Ok(2);
            }
        },
    }
    out.flush()?;
    Ok(0)
}

/// The list of stages by role.
pub fn stages_text() -> String {
    let mut s = String::new();
    for (role, title) in [
        (
            Role::Source,
            "Sources (pulled generators, first in a pipeline)",
        ),
        (Role::Filter, "Filters (pushed coroutines)"),
        (Role::FanOut, "Fan-out (every item to each { branch })"),
        (Role::Sink, "Sinks (end a pipeline)"),
    ] {
        s.push_str(title);
        s.push_str(":\n");
        for d in registry::all().iter().filter(|d| d.role == role) {
            s.push_str(&format!("  {:<10} {}\n", d.name, d.summary));
        }
        s.push('\n');
    }
    s.push_str("`copipe help STAGE` explains one.\n");
    s
}

/// One stage's help: clap's long help, then the kinds and examples.
pub fn stage_help(def: &registry::StageDef) -> String {
    let mut cmd = (def.command)();
    let mut s = cmd.render_long_help().to_string();
    s.push_str(&format!(
        "\nRole:    {}\nAccepts: {}\nEmits:   {}\n",
        def.role.describe(),
        def.accepts_text(),
        def.emits_text()
    ));
    if !def.aliases.is_empty() {
        s.push_str(&format!("Aliases: {}\n", def.aliases.join(", ")));
    }
    s.push_str("\nExamples:\n");
    for e in def.examples {
        s.push_str(&format!("  {e}\n"));
    }
    s
}
