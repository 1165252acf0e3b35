//! `print` — write items to standard output: lines as they are (a final line without a
//! newline gets one), records and events as one compact JSON object per line (NDJSON).
//!
//! Accepts every kind; emits nothing. `write FILE` is the same sink on a file.

use anyhow::Result;
use clap::{ArgMatches, Parser};

use crate::item::Kind;
use crate::protocol::Stage;
use crate::protocol::def::{Build, BuildCx, Emits, Role, StageDef};
use crate::sink::printer::{Printer, Target};

/// Write each item to standard output, one per line.
///
/// Lines are written byte for byte; records and XML events as compact JSON, one per line
/// (NDJSON, ready for `jq`). `print` is added at the end of a pipeline that does not end in
/// a sink.
#[derive(Parser)]
#[command(name = "print", no_binary_name = false, disable_version_flag = true)]
pub struct Args {}

pub const DEF: StageDef = StageDef {
    name: "print",
    aliases: &["stdout"],
    role: Role::Sink,
    summary: "write items to standard output (records and events as NDJSON)",
    accepts: Kind::ALL,
    emits: Emits::Nothing,
    examples: &["copipe cat log.txt : grep -i error : print"],
    command: <Args as clap::CommandFactory>::command,
    fusion: None,
    build: Build::Sink(build),
};

fn build(_m: &ArgMatches, cx: &BuildCx<'_>) -> Result<Box<dyn Stage>> {
    let p = Printer::new(Target::Shared(cx.stdout.clone()), cx.status.clone());
    Ok(Box::new(if cx.opts.color {
        p.colored(cx.highlight.to_vec())
    } else {
        p
    }))
}
