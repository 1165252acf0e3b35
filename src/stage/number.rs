//! `number` — prefix each line with its number, as `cat -n` does (`     1\tline`).
//!
//! Accepts lines; emits lines. Numbering starts at 1 (`--start` to change it). A batch is
//! rewritten into one reused buffer and passed on as one batch.

use anyhow::Result;
use clap::{ArgMatches, FromArgMatches, Parser};

use crate::item::{Item, Kind, map_lines};
use crate::protocol::def::{Build, BuildCx, Emits, Role, StageDef};
use crate::protocol::{Flow, Stage};

/// Prefix each line with its number, right-aligned in six columns and a tab (`cat -n`).
#[derive(Parser)]
#[command(name = "number", disable_version_flag = true)]
pub struct Args {
    /// The number of the first line.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub start: i64,
}

pub const DEF: StageDef = StageDef {
    name: "number",
    aliases: &["nl"],
    role: Role::Filter,
    summary: "prefix each line with its number (like cat -n)",
    accepts: &[Kind::Line],
    emits: Emits::Same,
    examples: &["copipe cat app.log : number : grep ERROR"],
    command: <Args as clap::CommandFactory>::command,
    fusion: None,
    build: Build::Filter(build),
};

fn build(m: &ArgMatches, _cx: &BuildCx<'_>, next: Box<dyn Stage>) -> Result<Box<dyn Stage>> {
    let a = Args::from_arg_matches(m)?;
    Ok(Box::new(Number {
        n: a.start,
        buf: Vec::new(),
        next,
    }))
}

struct Number {
    n: i64,
    buf: Vec<u8>,
    next: Box<dyn Stage>,
}

/// Append `n` right-aligned in six columns and a tab, and count on.
fn prefix(n: &mut i64, out: &mut Vec<u8>) {
    let mut digits = itoa::Buffer::new();
    let s = digits.format(*n);
    for _ in s.len()..6 {
        out.push(b' ');
    }
    out.extend_from_slice(s.as_bytes());
    out.push(b'\t');
    *n += 1;
}

impl Stage for Number {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        let Item::Line(l) = item else {
            return self.next.send(item);
        };
        self.buf.clear();
        prefix(&mut self.n, &mut self.buf);
        self.buf.extend_from_slice(l);
        self.next.send(Item::Line(&self.buf))
    }

    fn send_lines(&mut self, batch: &[u8]) -> Result<Flow> {
        map_lines(batch, &mut self.buf, |l, out| {
            prefix(&mut self.n, out);
            out.extend_from_slice(l);
        });
        self.next.send_lines(&self.buf)
    }

    crate::pass_on!(origin, flush, close);
}
