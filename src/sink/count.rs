//! `count` — count the items that reach it and print the number on standard output when the
//! stream ends (like `grep -c` and `wc -l`). With no item the exit status is 1, as `grep -c`.

use std::cell::RefCell;
use std::rc::Rc;

use anyhow::Result;
use clap::{ArgMatches, Parser};

use crate::item::{Item, Kind, Origin, count_lines};
use crate::pipeline::registry::{Build, BuildCx, Emits, Role, StageDef, Status};
use crate::sink::output::Output;
use crate::stage::{Flow, Stage};

/// Print the number of items received, once the stream ends.
#[derive(Parser)]
#[command(name = "count", disable_version_flag = true)]
pub struct Args {}

pub const DEF: StageDef = StageDef {
    name: "count",
    aliases: &["wc"],
    role: Role::Sink,
    summary: "print the number of items at the end",
    accepts: Kind::ALL,
    emits: Emits::Nothing,
    examples: &["copipe cat words.txt : grep 'ion$' : count"],
    command: <Args as clap::CommandFactory>::command,
    build: Build::Sink(build),
};

fn build(_m: &ArgMatches, cx: &BuildCx<'_>) -> Result<Box<dyn Stage>> {
    Ok(Box::new(Count {
        n: 0,
        out: cx.stdout.clone(),
        status: cx.status.clone(),
    }))
}

struct Count {
    n: u64,
    out: Rc<RefCell<Output>>,
    status: Status,
}

impl Stage for Count {
    fn send(&mut self, _item: Item<'_>) -> Result<Flow> {
        self.n += 1;
        Ok(Flow::Continue)
    }

    fn send_lines(&mut self, batch: &[u8]) -> Result<Flow> {
        self.n += count_lines(batch);
        Ok(Flow::Continue)
    }

    fn origin(&mut self, _origin: Origin<'_>) -> Result<()> {
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        if self.n > 0 {
            self.status.mark_delivered();
        }
        let mut out = self.out.borrow_mut();
        let mut digits = itoa::Buffer::new();
        out.write_all(digits.format(self.n).as_bytes())?;
        out.write_all(b"\n")?;
        out.flush()
    }
}
