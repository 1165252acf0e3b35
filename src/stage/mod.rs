//! The coroutine protocol, and the filter stages.
//!
//! # The protocol
//!
//! A pipeline is one [`Source`] that is *pulled* (it reads its input at its own pace) and a
//! chain of [`Stage`]s that are *pushed*: each one receives items through [`Stage::send`],
//! may push items on to the stage it owns, and is told through [`Stage::close`] that the
//! stream has ended. This is Beazley's coroutine pipeline with the three promises made
//! explicit:
//!
//! * `send` returns [`Flow::Continue`] to ask for more, or [`Flow::Stop`] when the stage
//!   will never want another item (`head 3` after three). A stopped stage is sent nothing
//!   more; the sender passes `Stop` upstream as soon as none of *its* consumers wants items,
//!   which is how `head` makes a source stop reading.
//! * `close` is called exactly once on every stage, whether or not it stopped, after the
//!   last `send`. A filter flushes what it holds, then closes the stage after it; a fan-out
//!   closes every branch. Sinks flush their output in `close` and report write errors there.
//! * `flush` is a hint that the source is about to wait for input (a followed file with no
//!   new data): everything buffered must be made visible now. Filters pass it on.
//! * An `Err` from any call aborts the run: the error is reported, every stage is still
//!   closed so that output produced before the error is not lost.
//!
//! Lines may also be pushed in batches with [`Stage::send_lines`], a byte slice of whole
//! lines (see [`crate::item`]). Its default splits the batch and calls `send` per line, so
//! only stages that gain from whole-buffer work (grep, head, count, print) override it.

pub mod grep;
pub mod head;
pub mod number;
pub mod replace;
pub mod skip;
pub mod uniq;

use anyhow::Result;

use crate::item::{Item, lines};

/// What a stage tells its sender after an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Flow {
    /// Send more.
    Continue,
    /// Send nothing more; `close` will still be called.
    Stop,
}

impl Flow {
    pub fn is_stop(self) -> bool {
        self == Flow::Stop
    }
}

/// A pushed coroutine: a filter, a fan-out or a sink. See the module docs for the protocol.
pub trait Stage {
    /// Push one item.
    fn send(&mut self, item: Item<'_>) -> Result<Flow>;

    /// Push a batch of whole lines; the same as sending each line in order.
    fn send_lines(&mut self, batch: &[u8]) -> Result<Flow> {
        for line in lines(batch) {
            if self.send(Item::Line(line))?.is_stop() {
                return Ok(Flow::Stop);
            }
        }
        Ok(Flow::Continue)
    }

    /// The source is about to wait for input: make buffered output visible.
    fn flush(&mut self) -> Result<()>;

    /// End of stream: flush, release, pass the close on. Called exactly once.
    fn close(&mut self) -> Result<()>;
}

/// A pulled generator: reads its input and pushes it into `out` until the input ends or
/// `out` returns [`Flow::Stop`]. It does not close `out`; the engine does.
pub trait Source {
    fn run(&mut self, out: &mut dyn Stage) -> Result<()>;
}

impl<S: Stage + ?Sized> Stage for Box<S> {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        (**self).send(item)
    }
    fn send_lines(&mut self, batch: &[u8]) -> Result<Flow> {
        (**self).send_lines(batch)
    }
    fn flush(&mut self) -> Result<()> {
        (**self).flush()
    }
    fn close(&mut self) -> Result<()> {
        (**self).close()
    }
}
