//! `skip N` — drop the first N items, pass the rest on.
//!
//! Accepts every kind; emits the kind it receives.

use anyhow::Result;
use clap::{ArgMatches, FromArgMatches, Parser};

use crate::item::{Item, Kind, split_after_lines};
use crate::protocol::def::{Build, BuildCx, Emits, Role, StageDef};
use crate::protocol::{Flow, Stage};

/// Drop the first N items and pass the rest on.
#[derive(Parser)]
#[command(name = "skip", disable_version_flag = true)]
pub struct Args {
    /// How many items to drop.
    #[arg(value_name = "N")]
    pub n: u64,
}

pub const DEF: StageDef = StageDef {
    name: "skip",
    aliases: &["drop"],
    role: Role::Filter,
    summary: "drop the first N items",
    accepts: Kind::ALL,
    emits: Emits::Same,
    examples: &["copipe cat data.csv : skip 1 : head 5"],
    command: <Args as clap::CommandFactory>::command,
    fusion: None,
    build: Build::Filter(build),
};

fn build(m: &ArgMatches, _cx: &BuildCx<'_>, next: Box<dyn Stage>) -> Result<Box<dyn Stage>> {
    let a = Args::from_arg_matches(m)?;
    Ok(Box::new(Skip { left: a.n, next }))
}

struct Skip {
    left: u64,
    next: Box<dyn Stage>,
}

impl Stage for Skip {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        if self.left > 0 {
            self.left -= 1;
            return Ok(Flow::Continue);
        }
        self.next.send(item)
    }

    fn send_lines(&mut self, batch: &[u8]) -> Result<Flow> {
        let mut batch = batch;
        if self.left > 0 {
            let (end, seen) = split_after_lines(batch, self.left);
            self.left -= seen;
            batch = &batch[end..];
        }
        if batch.is_empty() {
            Ok(Flow::Continue)
        } else {
            self.next.send_lines(batch)
        }
    }

    crate::pass_on!(origin, flush, close);
}
