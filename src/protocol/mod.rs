//! The coroutine protocol (this module, with [`task`] for native sources and [`def`] for
//! what a stage definition is made of). It is a layer below the engine and below every
//! source, filter and sink, which implement it; it uses none of them.
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
//! * `origin` announces the input the items that follow come from (a file of `cat`, a
//!   followed file); a source reading files sends it before the first item of each input,
//!   with how sinks are to show it ([`crate::item::Show`]: not at all, a header, a tag).
//!   Filters pass it on untouched; sinks that write lines show it as asked; `json` names
//!   the input in its errors, and puts the name in a `file` field when it is a tag.
//! * `flush` is a hint that the source is about to wait for input (a followed file with no
//!   new data): everything buffered must be made visible now. Filters pass it on.
//! * `tick(now)` is the clock: a stage that asked to be woken at a deadline (through the
//!   [`crate::runtime::timer::Timer`] it got from `BuildCx::timers` when it was built) is
//!   called when that deadline has passed, in the scheduler's thread (in a `tee --parallel`
//!   branch: in the branch's thread, which wakes for its own timers), between two items —
//!   never in the middle of one. Ticks are broadcast down the chain: a stage is also
//!   called for deadlines other stages asked for, so it compares `now` with its own.
//!   Filters and fan-outs pass it on (`pass_on!(flush)` does, with `flush`); the default
//!   does nothing. A pipeline in which a stage asked for a timer runs on the scheduler
//!   (see [`crate::engine`]).
//! * An `Err` from any call aborts the run: the error is reported, every stage is still
//!   closed so that output produced before the error is not lost.
//!
//! Lines may also be pushed in batches with [`Stage::send_lines`], a byte slice of whole
//! lines (see [`crate::item`]). Its default splits the batch and calls `send` per line, so
//! only stages that gain from whole-buffer work (grep, head, count, print) override it.
//! A batch that lies in a shared map of a file (`cat` of a big file) may come through
//! [`Stage::send_mapped`] instead: the same lines, but a stage that keeps them beyond the
//! call (a `tee --parallel` handing them to its threads) keeps the map alive rather than
//! copying them. Its default is `send_lines`; filters that only count pass it on.
//!
//! Records may come already rendered, through [`Stage::send_rendered`]: a stage that
//! says it [`Stage::takes_rendered`] records (`print` and `write` without colour: they would
//! only write each record's compact JSON and a newline) gets the JSON of many records at
//! once, one per line, made by the source on another thread (`xml FILE : records` on
//! several cores). Every other stage says no, and is sent each record.

pub mod def;
pub mod task;

use anyhow::Result;

use crate::item::{Item, Origin, lines};
use crate::runtime::map::SharedMap;

/// Whole lines that lie in a shared map of a file: `map[range]` (see
/// [`Stage::send_mapped`]).
#[derive(Clone)]
pub struct Mapped<'a> {
    pub map: &'a std::sync::Arc<SharedMap>,
    pub range: std::ops::Range<usize>,
}

impl Mapped<'_> {
    /// The lines.
    pub fn bytes(&self) -> &[u8] {
        &self.map.map[self.range.clone()]
    }
}

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

    /// Push a batch of whole lines that lie in a shared map (see the module docs); the same
    /// as `send_lines(lines.bytes())`, which is what it does unless the stage keeps lines
    /// beyond the call.
    fn send_mapped(&mut self, lines: Mapped<'_>) -> Result<Flow> {
        self.send_lines(lines.bytes())
    }

    /// Whether the stage does with a record nothing but write its compact JSON
    /// (`Record::write_json`) and a newline, so that records may be sent already rendered
    /// through [`Stage::send_rendered`]. Asked before any record is sent; the default says
    /// no.
    fn takes_rendered(&self) -> bool {
        false
    }

    /// Push records already rendered: `ndjson` is each one's compact JSON followed by a
    /// newline, in order; the same as sending each record. Sent only to a stage that
    /// [`Stage::takes_rendered`]; any other refuses it.
    fn send_rendered(&mut self, ndjson: &[u8]) -> Result<Flow> {
        let _ = ndjson;
        anyhow::bail!("internal error: rendered records sent to a stage that takes none")
    }

    /// The items that follow come from `origin` (see the module docs). Filters pass it on.
    fn origin(&mut self, origin: Origin<'_>) -> Result<()>;

    /// The source is about to wait for input: make buffered output visible.
    fn flush(&mut self) -> Result<()>;

    /// End of stream: flush, release, pass the close on. Called exactly once.
    fn close(&mut self) -> Result<()>;

    /// A deadline has passed (see the module docs); filters pass it on. Sinks that did not
    /// ask for a timer ignore it.
    fn tick(&mut self, _now: std::time::Instant) -> Result<()> {
        Ok(())
    }

    /// Counters of the stage's own that `--stats` shows as rows under it (`send`'s dropped
    /// and undelivered items); asked once, right after the stage is built.
    fn counters(&self) -> Vec<(&'static str, crate::runtime::counter::Counter)> {
        Vec::new()
    }
}

/// The calls a filter passes on to `self.next` untouched, written once: `pass_on!(origin,
/// flush, close)` in its `impl Stage` (a filter that must do something in one of them writes
/// that one itself). Passing `close` on is the step Beazley's coroutines forget. `flush`
/// brings `tick` along (both say that time passes); a filter that writes its own `flush`
/// writes `pass_on!(tick)` too.
#[macro_export]
macro_rules! pass_on {
    ($($call:ident),+ $(,)?) => {
        $( $crate::pass_on!(@one $call); )+
    };
    (@one origin) => {
        fn origin(&mut self, origin: $crate::item::Origin<'_>) -> ::anyhow::Result<()> {
            self.next.origin(origin)
        }
    };
    (@one flush) => {
        fn flush(&mut self) -> ::anyhow::Result<()> {
            self.next.flush()
        }
        $crate::pass_on!(@one tick);
    };
    (@one tick) => {
        fn tick(&mut self, now: ::std::time::Instant) -> ::anyhow::Result<()> {
            self.next.tick(now)
        }
    };
    (@one close) => {
        fn close(&mut self) -> ::anyhow::Result<()> {
            self.next.close()
        }
    };
}

/// A pulled generator: reads its input and pushes it into `out` until the input ends or
/// `out` returns [`Flow::Stop`]. It does not close `out`; the engine does.
pub trait Source {
    fn run(&mut self, out: &mut dyn Stage) -> Result<()>;

    /// A source that can run as a task of the scheduler becomes that task, consumed by it:
    /// `cat`, `range`, `follow`, `listen`, `merge`, `xml`. The others (`subscribe`, `xml
    /// --lenient`) say `None` (and are dropped) and are run behind the thread bridge when the
    /// pipeline needs the scheduler (see [`crate::engine`]).
    fn into_task(self: Box<Self>) -> Option<Box<dyn task::Task>> {
        None
    }

    /// Whether the source cannot run without the scheduler (`listen`, `merge`), so that the
    /// pipeline runs on it even with no timer. A source that merely can (`cat`) says
    /// `false`, and keeps the direct path when nothing else asks for the scheduler.
    fn needs_scheduler(&self) -> bool {
        false
    }

    /// Whether the source may wait for its input for an unbounded time (a followed file, a
    /// socket, a pipe or a terminal): only then does a stage that acts on quiet (the
    /// `--timeout` of `multiline`) need a timer, and so the scheduler. A source of regular
    /// files or of generated numbers, which never waits, says `false`.
    fn waits(&self) -> bool {
        true
    }
}

impl<S: Stage + ?Sized> Stage for Box<S> {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        (**self).send(item)
    }
    fn send_lines(&mut self, batch: &[u8]) -> Result<Flow> {
        (**self).send_lines(batch)
    }
    fn send_mapped(&mut self, lines: Mapped<'_>) -> Result<Flow> {
        (**self).send_mapped(lines)
    }
    fn takes_rendered(&self) -> bool {
        (**self).takes_rendered()
    }
    fn send_rendered(&mut self, ndjson: &[u8]) -> Result<Flow> {
        (**self).send_rendered(ndjson)
    }
    fn origin(&mut self, origin: Origin<'_>) -> Result<()> {
        (**self).origin(origin)
    }
    fn flush(&mut self) -> Result<()> {
        (**self).flush()
    }
    fn close(&mut self) -> Result<()> {
        (**self).close()
    }
    fn tick(&mut self, now: std::time::Instant) -> Result<()> {
        (**self).tick(now)
    }
    fn counters(&self) -> Vec<(&'static str, crate::runtime::counter::Counter)> {
        (**self).counters()
    }
}

/// The result of a run from the source's result and the chain's close: the first error
/// wins; a second one is reported unless it is a closed pipe.
pub fn finish(ran: Result<()>, closed: Result<()>) -> Result<()> {
    match (ran, closed) {
        (Err(e), Err(c)) => {
            // (The same write given up twice, in the run and in the close, is said once.)
            let said = crate::runtime::signal::abandoned_by(&c).is_some()
                && crate::runtime::signal::abandoned_by(&e).is_some();
            if !is_broken_pipe(&c) && !said {
                crate::say!("copipe: {c:#}");
            }
            Err(e)
        }
        (Err(e), Ok(())) => Err(e),
        (Ok(()), closed) => closed,
    }
}

/// Whether an error comes from writing into a closed pipe (the reader went away): copipe
/// then ends quietly with status 0, as grep and ripgrep do.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// A sink for unit tests: records everything it is sent, as text./// The source-side handle of a source that acknowledges what it read (`subscribe
/// --durable`), given in `BuildCx::written`: it flushes the chain the source pushes into and
/// returns once the sinks have written what was pushed, and says how much of it the chain
/// took — also where the chain runs on another thread, behind the scheduler's thread bridge,
/// where a `flush` only hands the items over and a `Stop` comes later than the call it
/// answers. Everywhere else (the default) a flush already is that, and the flows returned
/// say what was taken.
#[derive(Clone, Default)]
pub struct Written(Option<std::rc::Rc<dyn Through>>);

/// What the thread bridge tells a [`Written`] handle.
pub trait Through {
    /// Wait until what was handed over so far has been replayed into the chain and flushed
    /// (or the chain takes nothing more).
    fn wait(&self);
    /// How many of the items pushed so far (each `send`, each `send_lines` call, counted
    /// from the first) the chain took and its sinks wrote.
    fn taken(&self) -> u64;
}

impl Written {
    pub fn new(through: std::rc::Rc<dyn Through>) -> Self {
        Written(Some(through))
    }

    /// [`Stage::flush`] `out`, returning once the sinks have written what was pushed.
    pub fn flush_through(&self, out: &mut dyn Stage) -> Result<()> {
        out.flush()?;
        if let Some(t) = &self.0 {
            t.wait();
        }
        Ok(())
    }

    /// After [`Written::flush_through`]: how many of the items pushed so far the chain took
    /// and its sinks wrote, where the flows returned cannot say it (behind the bridge).
    /// `None` everywhere else: the calls answered `Continue` were taken, and the one
    /// answered `Stop` too (a `head` stops on the item it passed last).
    pub fn taken(&self) -> Option<u64> {
        self.0.as_ref().map(|t| t.taken())
    }
}

#[cfg(test)]
pub mod testing {
    use super::*;
    use crate::item::render;

    /// Every call it receives, in order: items rendered as `print` would show them,
    /// origins as `origin NAME`, and `flush` / `close`.
    #[derive(Default, Debug)]
    pub struct Collect {
        pub calls: Vec<Vec<u8>>,
    }

    impl Collect {
        /// One that a test can box into a stage and still read afterwards.
        pub fn shared() -> std::rc::Rc<std::cell::RefCell<Collect>> {
            std::rc::Rc::new(std::cell::RefCell::new(Collect::default()))
        }

        /// The items received, without the other calls.
        pub fn lines(&self) -> Vec<Vec<u8>> {
            self.calls
                .iter()
                .filter(|c| !c.starts_with(b"\0"))
                .cloned()
                .collect()
        }

        /// The items received, as strings.
        pub fn strings(&self) -> Vec<String> {
            self.lines()
                .into_iter()
                .map(|l| String::from_utf8_lossy(&l).into_owned())
                .collect()
        }
    }

    impl Stage for Collect {
        fn send(&mut self, item: Item<'_>) -> Result<Flow> {
            let mut v = Vec::new();
            render(&mut v, &item);
            self.calls.push(v);
            Ok(Flow::Continue)
        }
        fn origin(&mut self, origin: Origin<'_>) -> Result<()> {
            self.calls
                .push(format!("\0origin {}", origin.name).into_bytes());
            Ok(())
        }
        fn flush(&mut self) -> Result<()> {
            self.calls.push(b"\0flush".to_vec());
            Ok(())
        }
        fn close(&mut self) -> Result<()> {
            self.calls.push(b"\0close".to_vec());
            Ok(())
        }
    }

    impl Stage for std::rc::Rc<std::cell::RefCell<Collect>> {
        fn send(&mut self, item: Item<'_>) -> Result<Flow> {
            self.borrow_mut().send(item)
        }
        fn origin(&mut self, origin: Origin<'_>) -> Result<()> {
            self.borrow_mut().origin(origin)
        }
        fn flush(&mut self) -> Result<()> {
            self.borrow_mut().flush()
        }
        fn close(&mut self) -> Result<()> {
            self.borrow_mut().close()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use super::testing::Collect;
    use super::*;

    struct Bridge {
        waited: Cell<u32>,
    }

    impl Through for Bridge {
        fn wait(&self) {
            self.waited.set(self.waited.get() + 1);
        }
        fn taken(&self) -> u64 {
            7
        }
    }

    #[test]
    fn written_flushes_the_chain_and_waits_only_behind_a_bridge() {
        // In one thread: a flush, and the flows say what was taken.
        let mut out = Collect::default();
        let w = Written::default();
        w.flush_through(&mut out).unwrap();
        assert_eq!(out.calls, [b"\0flush".to_vec()]);
        assert_eq!(w.taken(), None);
        // Behind the bridge: a flush, then a wait for the replay, and the bridge's count.
        let bridge = Rc::new(Bridge {
            waited: Cell::new(0),
        });
        let w = Written::new(bridge.clone());
        let mut out = Collect::default();
        w.flush_through(&mut out).unwrap();
        assert_eq!(out.calls, [b"\0flush".to_vec()]);
        assert_eq!(bridge.waited.get(), 1);
        assert_eq!(w.taken(), Some(7));
    }
}
