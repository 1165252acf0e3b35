//! `print` — write items to standard output: lines as they are (a final line without a
//! newline gets one), records and events as one compact JSON object per line (NDJSON).
//!
//! Accepts every kind; emits nothing. `write FILE` is the same sink on a file.

use std::cell::RefCell;
use std::rc::Rc;

use anyhow::Result;
use clap::{ArgMatches, Parser};

use crate::item::{Item, Kind, Origin, render};
use crate::pipeline::registry::{Build, BuildCx, Emits, Role, StageDef, Status};
use crate::sink::label::Labels;
use crate::sink::output::Output;
use crate::stage::{Flow, Stage};

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
    build: Build::Sink(build),
};

fn build(_m: &ArgMatches, cx: &BuildCx<'_>) -> Result<Box<dyn Stage>> {
    Ok(Box::new(Printer::new(
        Target::Shared(cx.stdout.clone()),
        cx.status.clone(),
    )))
}

/// Where a printer writes: the shared standard output, or a file of its own.
pub enum Target {
    Shared(Rc<RefCell<Output>>),
    Own(Output),
}

impl Target {
    fn with<R>(&mut self, f: impl FnOnce(&mut Output) -> R) -> R {
        match self {
            Target::Shared(o) => f(&mut o.borrow_mut()),
            Target::Own(o) => f(o),
        }
    }
}

/// The sink behind `print` and `write`.
pub struct Printer {
    out: Target,
    scratch: Vec<u8>,
    labels: Labels,
    status: Status,
}

impl Printer {
    pub fn new(out: Target, status: Status) -> Self {
        Printer {
            out,
            scratch: Vec::new(),
            labels: Labels::default(),
            status,
        }
    }
}

impl Stage for Printer {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        self.status.mark_delivered();
        let bytes: &[u8] = match item {
            Item::Line(l) if self.labels.label_line(l, &mut self.scratch) => &self.scratch,
            Item::Line(l) => l,
            _ => {
                self.scratch.clear();
                render(&mut self.scratch, &item);
                &self.scratch
            }
        };
        self.out.with(|o| {
            o.write_all(bytes)?;
            o.write_all(b"\n")?;
            o.pushed()
        })?;
        Ok(Flow::Continue)
    }

    fn send_lines(&mut self, batch: &[u8]) -> Result<Flow> {
        if batch.is_empty() {
            return Ok(Flow::Continue);
        }
        self.status.mark_delivered();
        let batch = if self.labels.label(batch, &mut self.scratch) {
            &self.scratch[..]
        } else {
            batch
        };
        self.out.with(|o| {
            o.write_all(batch)?;
            if batch.last() != Some(&b'\n') {
                o.write_all(b"\n")?;
            }
            o.pushed()
        })?;
        Ok(Flow::Continue)
    }

    fn origin(&mut self, origin: Origin<'_>) -> Result<()> {
        self.labels.set(origin);
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.out.with(|o| o.flush())
    }

    fn close(&mut self) -> Result<()> {
        self.flush()
    }
}
