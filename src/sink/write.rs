//! `write FILE` — append items to a file (or start it empty with `--truncate`); the same
//! output format as `print`. The file is opened when the pipeline is built, so a path that
//! cannot be written is reported before any input is read.

use std::path::PathBuf;

use anyhow::Result;
use clap::{ArgMatches, FromArgMatches, Parser};

use crate::item::Kind;
use crate::protocol::Stage;
use crate::protocol::def::{Build, BuildCx, Emits, Role, StageDef};
use crate::runtime::output::Output;
use crate::sink::printer::{Printer, Target};

/// Append each item to FILE, one per line (records and events as NDJSON).
///
/// FILE must not be a file the source reads (the same file, through a link or as
/// redirected standard input too): the pipeline is refused before anything is read or
/// emptied, as GNU cat refuses "input file is output file".
#[derive(Parser)]
#[command(name = "write", disable_version_flag = true)]
pub struct Args {
    /// The file to append to (created if missing).
    pub file: PathBuf,
    /// Empty the file first instead of appending.
    #[arg(short, long)]
    pub truncate: bool,
}

pub const DEF: StageDef = StageDef {
    name: "write",
    aliases: &[],
    role: Role::Sink,
    summary: "append items to a file (--truncate to start it empty)",
    accepts: Kind::ALL,
    emits: Emits::Nothing,
    examples: &["copipe cat app.log : tee { grep ERROR : write --truncate errors.log } : count"],
    command: <Args as clap::CommandFactory>::command,
    fusion: None,
    build: Build::Sink(build),
};

/// The file a `write` writes to (checked against the source's inputs before anything is
/// opened: see `pipeline::same_file`).
pub fn target(m: &ArgMatches) -> Option<&PathBuf> {
    m.try_get_one::<PathBuf>("file").ok().flatten()
}

fn build(m: &ArgMatches, cx: &BuildCx<'_>) -> Result<Box<dyn Stage>> {
    let a = Args::from_arg_matches(m)?;
    let out = Output::file(&a.file, a.truncate, cx.opts.line_buffered)?.interruptible(cx.interrupt);
    Ok(Box::new(Printer::new(Target::Own(out), cx.status.clone())))
}
