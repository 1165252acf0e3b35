//! The printer of `print` and `write`: lines as they are (a final line without a newline
//! gets one), records and events as one compact JSON object per line (NDJSON), with the
//! labels of `--label` and the colours of `--color`; on the shared standard output or on a
//! file of its own.

use std::cell::RefCell;
use std::rc::Rc;

use anyhow::Result;
use regex::bytes::Regex;

use crate::item::{Item, Origin, render};
use crate::protocol::def::Status;
use crate::protocol::{Flow, Stage};
use crate::runtime::output::Output;
use crate::sink::color::{self, Painter};
use crate::sink::label::Labels;

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
    labels: Labels,
    /// With `--color`: the matches to colour (record keys are coloured too).
    painter: Option<Painter>,
    /// Scratch buffers: a rendered item or labelled lines, painted lines, one line.
    scratch: Vec<u8>,
    painted: Vec<u8>,
    one: Vec<u8>,
    status: Status,
}

impl Printer {
    pub fn new(out: Target, status: Status) -> Self {
        Printer {
            out,
            labels: Labels::default(),
            painter: None,
            scratch: Vec::new(),
            painted: Vec::new(),
            one: Vec::new(),
            status,
        }
    }

    /// Colour matches of `highlight`, tags and record keys.
    pub fn colored(mut self, highlight: Vec<Regex>) -> Self {
        self.painter = Some(Painter::new(highlight));
        self.labels.color(true);
        self
    }

    /// Whether lines are written otherwise than as they are (colour, labels).
    fn decorates(&self) -> bool {
        self.painter.as_ref().is_some_and(Painter::is_active) || self.labels.shows()
    }

    /// Write whole lines, decorated as asked (colour, then origin labels).
    fn write_lines(&mut self, batch: &[u8]) -> Result<()> {
        let mut bytes = batch;
        if let Some(p) = self.painter.as_mut().filter(|p| p.is_active()) {
            p.paint_batch(bytes, &mut self.painted);
            bytes = &self.painted;
        }
        if self.labels.label(bytes, &mut self.scratch) {
            bytes = &self.scratch;
        }
        // Whether the batch ends its last line, asked before writing it: a batch of a
        // mapped file may vanish during the write (the file truncated), and a zero read
        // after it must not add a newline the file never had.
        let terminated = bytes.last() == Some(&b'\n');
        self.out.with(|o| {
            o.write_all(bytes)?;
            if !terminated {
                o.write_all(b"\n")?;
            }
            o.pushed()
        })
    }
}

impl Printer {
    /// Write the rendered record or event in `scratch`, with its newline (added to it: one
    /// copy into the output's buffer).
    fn write_item(&mut self) -> Result<()> {
        self.scratch.push(b'\n');
        let bytes = &self.scratch;
        self.out.with(|o| {
            o.write_all(bytes)?;
            o.pushed()
        })
    }
}

impl Stage for Printer {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        self.status.mark_delivered();
        match item {
            Item::Line(l) if !self.decorates() => self.out.with(|o| {
                o.write_all(l)?;
                o.write_all(b"\n")?;
                o.pushed()
            })?,
            Item::Line(l) => {
                // One line is a one-line batch (its newline makes an empty line a line).
                let mut one = std::mem::take(&mut self.one);
                one.clear();
                one.extend_from_slice(l);
                one.push(b'\n');
                let r = self.write_lines(&one);
                self.one = one;
                r?;
            }
            Item::Record(r) if self.painter.is_some() => {
                self.scratch.clear();
                color::record(r, &mut self.scratch);
                self.write_item()?;
            }
            _ => {
                self.scratch.clear();
                render(&mut self.scratch, &item);
                self.write_item()?;
            }
        }
        Ok(Flow::Continue)
    }

    fn send_lines(&mut self, batch: &[u8]) -> Result<Flow> {
        if batch.is_empty() {
            return Ok(Flow::Continue);
        }
        self.status.mark_delivered();
        self.write_lines(batch)?;
        Ok(Flow::Continue)
    }

    /// A record is written as its compact JSON and a newline, unless coloured (labels are
    /// for lines only).
    fn takes_rendered(&self) -> bool {
        self.painter.is_none()
    }

    fn send_rendered(&mut self, ndjson: &[u8]) -> Result<Flow> {
        if ndjson.is_empty() {
            return Ok(Flow::Continue);
        }
        self.status.mark_delivered();
        self.out.with(|o| {
            o.write_all(ndjson)?;
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
