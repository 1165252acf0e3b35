//! `discard` — consume items and drop them (a sink for branches kept only for their side
//! effects, and for timing a pipeline without output).

use anyhow::Result;
use clap::{ArgMatches, Parser};

use crate::item::{Item, Kind, Origin};
use crate::protocol::def::{Build, BuildCx, Emits, Role, StageDef, Status};
use crate::protocol::{Flow, Stage};

/// Drop every item (the exit status still tells whether any arrived).
#[derive(Parser)]
#[command(name = "discard", disable_version_flag = true)]
pub struct Args {}

pub const DEF: StageDef = StageDef {
    name: "discard",
    aliases: &["null"],
    role: Role::Sink,
    summary: "drop every item",
    accepts: Kind::ALL,
    emits: Emits::Nothing,
    examples: &["copipe cat big.log : grep ERROR : head 1 : discard && echo found"],
    command: <Args as clap::CommandFactory>::command,
    fusion: None,
    build: Build::Sink(build),
};

fn build(_m: &ArgMatches, cx: &BuildCx<'_>) -> Result<Box<dyn Stage>> {
    Ok(Box::new(Discard(cx.status.clone())))
}

struct Discard(Status);

impl Stage for Discard {
    fn send(&mut self, _item: Item<'_>) -> Result<Flow> {
        self.0.mark_delivered();
        Ok(Flow::Continue)
    }
    fn send_lines(&mut self, batch: &[u8]) -> Result<Flow> {
        if !batch.is_empty() {
            self.0.mark_delivered();
        }
        Ok(Flow::Continue)
    }
    fn origin(&mut self, _origin: Origin<'_>) -> Result<()> {
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
    fn close(&mut self) -> Result<()> {
        Ok(())
    }
}
