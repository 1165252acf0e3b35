//! `head N` — pass the first N items on, then stop.
//!
//! Accepts every kind; emits the kind it receives. After the N-th item it returns
//! [`Flow::Stop`], which travels upstream and makes the source stop reading: `yes | copipe
//! grep y : head 1` and `copipe range 1 1000000000000 : head 3` end at once. `head 0` passes
//! nothing and stops at the first item.

use anyhow::Result;
use clap::{ArgMatches, FromArgMatches, Parser};

use crate::item::{Item, Kind, split_after_lines};
use crate::protocol::def::{Build, BuildCx, Emits, Role, StageDef};
use crate::protocol::{Flow, Stage};

/// Pass the first N items on, then make the source stop.
#[derive(Parser)]
#[command(name = "head", disable_version_flag = true)]
pub struct Args {
    /// How many items to pass.
    #[arg(value_name = "N")]
    pub n: u64,
}

pub const DEF: StageDef = StageDef {
    name: "head",
    aliases: &["take"],
    role: Role::Filter,
    summary: "pass the first N items, then stop the source",
    accepts: Kind::ALL,
    emits: Emits::Same,
    examples: &[
        "copipe range 1 1000000000000 : head 3",
        "copipe follow app.log : grep ERROR : head 1",
    ],
    command: <Args as clap::CommandFactory>::command,
    fusion: None,
    build: Build::Filter(build),
};

fn build(m: &ArgMatches, _cx: &BuildCx<'_>, next: Box<dyn Stage>) -> Result<Box<dyn Stage>> {
    let a = Args::from_arg_matches(m)?;
    Ok(Box::new(Head { left: a.n, next }))
}

struct Head {
    left: u64,
    next: Box<dyn Stage>,
}

impl Stage for Head {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        if self.left == 0 {
            return Ok(Flow::Stop);
        }
        self.left -= 1;
        let flow = self.next.send(item)?;
        Ok(if self.left == 0 { Flow::Stop } else { flow })
    }

    fn send_lines(&mut self, batch: &[u8]) -> Result<Flow> {
        if self.left == 0 {
            return Ok(Flow::Stop);
        }
        let (end, seen) = split_after_lines(batch, self.left);
        self.left -= seen;
        let flow = self.next.send_lines(&batch[..end])?;
        Ok(if self.left == 0 { Flow::Stop } else { flow })
    }

    crate::pass_on!(origin, flush, close);
}
