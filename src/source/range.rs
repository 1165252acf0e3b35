//! `range START END [STEP]` and `naturals` — the counting generators of Beazley's course.
//!
//! `range` follows Python's `range`: END is excluded, STEP may be negative, never zero.
//! `naturals` counts 0, 1, 2, … without end (until a downstream `head` stops it). Numbers are
//! formatted straight into a reused batch buffer, so `range 1 1e9` costs no allocation per
//! line and `range 1 1000000000000 : head 3` returns at once.

use anyhow::{Result, bail};
use clap::{ArgMatches, FromArgMatches, Parser};

use crate::item::Kind;
use crate::protocol::def::{Build, BuildCx, Emits, Role, StageDef, Status};
use crate::protocol::task::{Cx, Task, Wait};
use crate::protocol::{Flow, Source, Stage};
use crate::runtime::signal::Interrupt;

/// Emit the integers from START up to END (excluded), by STEP (default 1), like Python.
#[derive(Parser)]
#[command(
    name = "range",
    disable_version_flag = true,
    allow_negative_numbers = true
)]
pub struct RangeArgs {
    /// The first number.
    pub start: i64,
    /// The end (not included).
    pub end: i64,
    /// The step; negative counts down.
    #[arg(default_value_t = 1)]
    pub step: i64,
}

/// Emit 0, 1, 2, … without end.
#[derive(Parser)]
#[command(name = "naturals", disable_version_flag = true)]
pub struct NaturalsArgs {
    /// Start from this number instead of 0.
    #[arg(long, default_value_t = 0)]
    pub from: i64,
}

pub const RANGE: StageDef = StageDef {
    name: "range",
    aliases: &["seq"],
    role: Role::Source,
    summary: "emit START, START+STEP, … up to END (excluded), like Python's range",
    accepts: &[],
    emits: Emits::Kind(Kind::Line),
    examples: &[
        "copipe range 1 1000000000000 : head 3",
        "copipe range 10 0 -2",
    ],
    command: <RangeArgs as clap::CommandFactory>::command,
    fusion: None,
    build: Build::Source(build_range),
};

pub const NATURALS: StageDef = StageDef {
    name: "naturals",
    aliases: &[],
    role: Role::Source,
    summary: "emit 0, 1, 2, … without end",
    accepts: &[],
    emits: Emits::Kind(Kind::Line),
    examples: &["copipe naturals : grep 7 : head 5"],
    command: <NaturalsArgs as clap::CommandFactory>::command,
    fusion: None,
    build: Build::Source(build_naturals),
};

fn build_range(m: &ArgMatches, cx: &BuildCx<'_>) -> Result<Box<dyn Source>> {
    let a = RangeArgs::from_arg_matches(m)?;
    if a.step == 0 {
        bail!("STEP must not be zero");
    }
    Ok(Box::new(Counter {
        next: Some(a.start),
        end: Some(a.end),
        step: a.step,
        interrupt: cx.interrupt.clone(),
        status: cx.status.clone(),
    }))
}

fn build_naturals(m: &ArgMatches, cx: &BuildCx<'_>) -> Result<Box<dyn Source>> {
    let a = NaturalsArgs::from_arg_matches(m)?;
    Ok(Box::new(Counter {
        next: Some(a.from),
        end: None,
        step: 1,
        interrupt: cx.interrupt.clone(),
        status: cx.status.clone(),
    }))
}

struct Counter {
    next: Option<i64>,
    end: Option<i64>,
    step: i64,
    interrupt: Interrupt,
    status: Status,
}

const BATCH: usize = 64 * 1024;

impl Counter {
    /// Format the next batch of numbers into `buf` and push it; `Flow::Stop` once the
    /// count is over (or downstream stopped), `None` when a signal arrived.
    fn push_batch(
        &mut self,
        buf: &mut Vec<u8>,
        digits: &mut itoa::Buffer,
        out: &mut dyn Stage,
    ) -> Result<Option<Flow>> {
        buf.clear();
        while let Some(n) = self.next {
            let more = match self.end {
                Some(end) if self.step > 0 => n < end,
                Some(end) => n > end,
                None => true,
            };
            if !more {
                self.next = None;
                break;
            }
            buf.extend_from_slice(digits.format(n).as_bytes());
            buf.push(b'\n');
            self.next = n.checked_add(self.step);
            if buf.len() >= BATCH {
                break;
            }
        }
        if !buf.is_empty() && out.send_lines(buf)?.is_stop() {
            return Ok(Some(Flow::Stop));
        }
        if self.next.is_none() {
            return Ok(Some(Flow::Stop));
        }
        if let Some(sig) = self.interrupt.pending() {
            self.status.interrupt(sig);
            return Ok(None);
        }
        Ok(Some(Flow::Continue))
    }
}

impl Source for Counter {
    fn waits(&self) -> bool {
        false
    }

    fn run(&mut self, out: &mut dyn Stage) -> Result<()> {
        let mut buf = Vec::with_capacity(BATCH + 32);
        let mut digits = itoa::Buffer::new();
        while let Some(Flow::Continue) = self.push_batch(&mut buf, &mut digits, out)? {}
        Ok(())
    }

    fn into_task(mut self: Box<Self>) -> Option<Box<dyn Task>> {
        Some(Box::new(CounterTask {
            counter: Counter {
                next: self.next.take(),
                end: self.end,
                step: self.step,
                interrupt: self.interrupt.clone(),
                status: self.status.clone(),
            },
            buf: Vec::with_capacity(BATCH + 32),
            digits: itoa::Buffer::new(),
        }))
    }
}

/// `range` and `naturals` as a task of the scheduler: one batch per turn.
struct CounterTask {
    counter: Counter,
    buf: Vec<u8>,
    digits: itoa::Buffer,
}

impl Task for CounterTask {
    fn resume(&mut self, cx: &mut Cx<'_>, out: &mut dyn Stage) -> Result<Wait> {
        let flow = self
            .counter
            .push_batch(&mut self.buf, &mut self.digits, out)?;
        cx.pushed();
        Ok(match flow {
            Some(Flow::Continue) => Wait::Soon,
            // Downstream stopped, or the count is over: tell them apart.
            Some(Flow::Stop) if self.counter.next.is_some() => {
                cx.stop_all();
                Wait::Done
            }
            _ => Wait::Done,
        })
    }
}
