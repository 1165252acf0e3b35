//! `uniq` — drop consecutive duplicates, like uniq(1).
//!
//! Accepts lines and records; emits the kind it receives. Lines compare as bytes (with
//! `--crlf`, without their `\r`); records compare field by field. Only the previous item is
//! kept, so memory is bounded by one item. Runs of distinct lines in a batch are passed on as
//! sub-batches.

use anyhow::Result;
use clap::{ArgMatches, Parser};

use crate::item::{Item, Kind, Record, strip_cr};
use crate::protocol::def::{Build, BuildCx, Emits, Role, StageDef};
use crate::protocol::{Flow, Stage};

/// Drop items equal to the one just before them.
#[derive(Parser)]
#[command(name = "uniq", disable_version_flag = true)]
pub struct Args {}

pub const DEF: StageDef = StageDef {
    name: "uniq",
    aliases: &[],
    role: Role::Filter,
    summary: "drop consecutive duplicates",
    accepts: &[Kind::Line, Kind::Record],
    emits: Emits::Same,
    examples: &["copipe cat sorted.txt : uniq : count"],
    command: <Args as clap::CommandFactory>::command,
    fusion: None,
    build: Build::Filter(build),
};

fn build(_m: &ArgMatches, cx: &BuildCx<'_>, next: Box<dyn Stage>) -> Result<Box<dyn Stage>> {
    Ok(Box::new(Uniq {
        prev_line: None,
        prev_record: None,
        crlf: cx.opts.crlf,
        next,
    }))
}

struct Uniq {
    /// The previous line (buffer reused), `None` before the first.
    prev_line: Option<Vec<u8>>,
    prev_record: Option<Record>,
    crlf: bool,
    next: Box<dyn Stage>,
}

impl Uniq {
    fn key<'a>(&self, line: &'a [u8]) -> &'a [u8] {
        if self.crlf { strip_cr(line) } else { line }
    }

    /// Whether `line` differs from the previous one; remembers it.
    fn fresh_line(&mut self, line: &[u8]) -> bool {
        let key = self.key(line);
        match &mut self.prev_line {
            Some(prev) if prev.as_slice() == key => false,
            Some(prev) => {
                prev.clear();
                prev.extend_from_slice(key);
                true
            }
            None => {
                self.prev_line = Some(key.to_vec());
                true
            }
        }
    }
}

impl Stage for Uniq {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        let fresh = match item {
            Item::Line(l) => self.fresh_line(l),
            Item::Record(r) => match &mut self.prev_record {
                Some(prev) if prev == r => false,
                Some(prev) => {
                    prev.clone_from(r);
                    true
                }
                None => {
                    self.prev_record = Some(r.clone());
                    true
                }
            },
            Item::Event(_) => true,
        };
        if fresh {
            self.next.send(item)
        } else {
            Ok(Flow::Continue)
        }
    }

    fn send_lines(&mut self, batch: &[u8]) -> Result<Flow> {
        let (mut run_s, mut pos) = (0, 0);
        while pos < batch.len() {
            let end = memchr::memchr(b'\n', &batch[pos..]).map_or(batch.len(), |i| pos + i);
            let next_pos = (end + 1).min(batch.len());
            if !self.fresh_line(&batch[pos..end]) {
                if pos > run_s && self.next.send_lines(&batch[run_s..pos])?.is_stop() {
                    return Ok(Flow::Stop);
                }
                run_s = next_pos;
            }
            pos = next_pos;
        }
        if batch.len() > run_s {
            return self.next.send_lines(&batch[run_s..]);
        }
        Ok(Flow::Continue)
    }

    crate::pass_on!(origin, flush, close);
}
