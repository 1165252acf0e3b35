//! `tee { BRANCH }...` and `broadcast { BRANCH }...` — send every item to each branch, in
//! order; `tee` also passes it on to the next stage.
//!
//! Accepts every kind and emits the kind it receives (tee) or nothing (broadcast). A branch
//! that stops (its own `head`) is sent nothing more while the others go on; the fan-out
//! stops, and so lets its source stop, only when every consumer has stopped. `close` reaches
//! every branch, stopped or not — the step Beazley's `broadcast` leaves out.

use anyhow::Result;
use clap::Parser;

use crate::item::{Item, Kind, Origin};
use crate::pipeline::registry::{Build, Emits, Role, StageDef};
use crate::stage::{Flow, Stage};

/// Send every item to each { branch } and on to the next stage.
///
/// Each branch is a pipeline in braces; it ends in a sink (or `print` is added). Branches
/// nest. A branch that stops early does not stop the others.
#[derive(Parser)]
#[command(name = "tee", disable_version_flag = true)]
pub struct TeeArgs {}

/// Send every item to each { branch }; nothing continues after it.
///
/// Each branch is a pipeline in braces; it ends in a sink (or `print` is added). The
/// pipeline ends when every branch has stopped or the input ends.
#[derive(Parser)]
#[command(name = "broadcast", disable_version_flag = true)]
pub struct BroadcastArgs {}

pub const TEE: StageDef = StageDef {
    name: "tee",
    aliases: &[],
    role: Role::FanOut,
    summary: "send every item to each { branch } and on to the next stage",
    accepts: Kind::ALL,
    emits: Emits::Same,
    examples: &["copipe cat words.txt : grep 'ion$' : tee { grep ^con : write con.txt } : count"],
    command: <TeeArgs as clap::CommandFactory>::command,
    build: Build::FanOut { continues: true },
};

pub const BROADCAST: StageDef = StageDef {
    name: "broadcast",
    aliases: &[],
    role: Role::FanOut,
    summary: "send every item to each { branch }; nothing continues after it",
    accepts: Kind::ALL,
    emits: Emits::Nothing,
    examples: &[
        "copipe cat app.log : broadcast { grep ERROR : write errors.log } { grep WARN : write warnings.log } { count }",
    ],
    command: <BroadcastArgs as clap::CommandFactory>::command,
    build: Build::FanOut { continues: false },
};

/// The fan-out coroutine: every consumer in order, each with its own stopped flag.
pub struct FanOut {
    /// The branches, then the next stage for `tee`.
    consumers: Vec<(Box<dyn Stage>, bool)>,
}

impl FanOut {
    pub fn new(branches: Vec<Box<dyn Stage>>, next: Option<Box<dyn Stage>>) -> Self {
        let consumers = branches
            .into_iter()
            .chain(next)
            .map(|s| (s, true))
            .collect();
        FanOut { consumers }
    }

    fn each(&mut self, mut f: impl FnMut(&mut dyn Stage) -> Result<Flow>) -> Result<Flow> {
        let mut any = false;
        for (stage, active) in &mut self.consumers {
            if *active {
                if f(stage.as_mut())?.is_stop() {
                    *active = false;
                } else {
                    any = true;
                }
            }
        }
        Ok(if any { Flow::Continue } else { Flow::Stop })
    }
}

impl Stage for FanOut {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        self.each(|s| s.send(item))
    }

    fn send_lines(&mut self, batch: &[u8]) -> Result<Flow> {
        self.each(|s| s.send_lines(batch))
    }

    fn origin(&mut self, origin: Origin<'_>) -> Result<()> {
        for (s, active) in &mut self.consumers {
            if *active {
                s.origin(origin)?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        for (s, _) in &mut self.consumers {
            s.flush()?;
        }
        Ok(())
    }

    fn tick(&mut self, now: std::time::Instant) -> Result<()> {
        for (s, active) in &mut self.consumers {
            if *active {
                s.tick(now)?;
            }
        }
        Ok(())
    }

    /// Close every consumer, even after an error in one of them; report the first error.
    fn close(&mut self) -> Result<()> {
        let mut first = Ok(());
        for (s, _) in &mut self.consumers {
            let r = s.close();
            if first.is_ok() {
                first = r;
            } else if let Err(e) = r {
                eprintln!("copipe: {e:#}");
            }
        }
        first
    }
}
