//! `number` — prefix each line with its number, as `cat -n` does (`     1\tline`).
//!
//! Accepts lines; emits lines. Numbering starts at 1 (`--start` to change it). A batch is
//! rewritten into one reused buffer and passed on as one batch.

use anyhow::Result;
use clap::{ArgMatches, FromArgMatches, Parser};

use crate::item::{Item, Kind, lines};
use crate::pipeline::registry::{Build, BuildCx, Emits, Role, StageDef};
use crate::stage::{Flow, Stage};

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

impl Number {
    fn prefix(&mut self) {
        let mut digits = itoa::Buffer::new();
        let s = digits.format(self.n);
        for _ in s.len()..6 {
            self.buf.push(b' ');
        }
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(b'\t');
        self.n += 1;
    }
}

impl Stage for Number {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        let Item::Line(l) = item else {
            return self.next.send(item);
        };
        self.buf.clear();
        self.prefix();
        self.buf.extend_from_slice(l);
        self.next.send(Item::Line(&self.buf))
    }

    fn send_lines(&mut self, batch: &[u8]) -> Result<Flow> {
        self.buf.clear();
        for l in lines(batch) {
            self.prefix();
            self.buf.extend_from_slice(l);
            self.buf.push(b'\n');
        }
        if batch.last() != Some(&b'\n') {
            self.buf.pop(); // keep an unterminated last line unterminated
        }
        let buf = std::mem::take(&mut self.buf);
        let flow = self.next.send_lines(&buf);
        self.buf = buf;
        flow
    }

    fn flush(&mut self) -> Result<()> {
        self.next.flush()
    }

    fn close(&mut self) -> Result<()> {
        self.next.close()
    }
}
