//! The protocol of a native task: a source that waits on descriptors or clocks itself
//! (`listen`, `merge`, and on the scheduler `cat`, `range`, `follow`, `xml`) is not pulled,
//! it is resumed by the scheduler (see [`crate::engine`]) whenever what it waits for is
//! ready, pushes what it can into the chain, and yields back the [`Wait`] it needs next.
//! A task never sleeps in a read: a source whose reads may block (a pipe, a FIFO, a socket)
//! reads only what is there and waits for [`Wait::Readable`] (`xml` keeps the token it is
//! in the middle of and goes on with it when more comes); one that never waits (a regular
//! file) does a bounded amount of work per turn and says [`Wait::Soon`]; one that waits on
//! threads of its own (the workers of `xml`'s parallel parse) waits for a descriptor they
//! write into. A [`crate::protocol::Source`] becomes its task, consumed, through
//! `Source::into_task`. The scheduler that drives tasks lives above, in the engine; what a task
//! and the scheduler say to each other is defined here, beside the stage protocol.

use std::time::Instant;

use anyhow::Result;

use std::os::fd::RawFd;

use super::Stage;

/// What a task waits for when it yields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// The descriptor has something to read (or is at its end, or failed).
    Readable(RawFd),
    /// The descriptor can be written.
    Writable(RawFd),
    /// A deadline.
    Until(Instant),
    /// The descriptor has something to read, or the deadline has passed, whichever comes
    /// first (`follow`: its inotify descriptor, and the once-a-second check).
    ReadableUntil(RawFd, Instant),
    /// Nothing: run again after the other ready tasks.
    Soon,
    /// The task has ended.
    Done,
}

/// A task of the scheduler: a source, or part of one (a client of `listen`).
pub trait Task {
    /// Do what can be done now, push items into `out`, and say what to wait for next. An
    /// `Err` ends the run (the chain is still closed); a task reports its own soft errors
    /// through `Status` and carries on or ends.
    fn resume(&mut self, cx: &mut Cx<'_>, out: &mut dyn Stage) -> Result<Wait>;

    /// A signal arrived: push what is held (a partial line) and say whether the task ends
    /// now (`true`, the default) or must still be run to its end (a bridged source, which
    /// ends on its own thread after pushing what it read).
    fn interrupted(&mut self, _out: &mut dyn Stage) -> Result<bool> {
        Ok(true)
    }

    /// The chain's clock has ticked (see `Stage::tick`); a task that owns a chain of its
    /// own (a `merge` branch) passes it on.
    fn tick(&mut self, _now: Instant) -> Result<()> {
        Ok(())
    }
}

/// What a running task may ask of the scheduler besides waiting.
pub struct Cx<'a> {
    spawned: &'a mut Vec<Box<dyn Task>>,
    stop: &'a mut bool,
    pushed: &'a mut bool,
    /// The time the scheduler woke.
    pub now: Instant,
}

impl<'a> Cx<'a> {
    /// The scheduler's side: what the task may touch while it runs.
    pub(crate) fn new(
        spawned: &'a mut Vec<Box<dyn Task>>,
        stop: &'a mut bool,
        pushed: &'a mut bool,
        now: Instant,
    ) -> Self {
        Cx {
            spawned,
            stop,
            pushed,
            now,
        }
    }

    /// Start a new task (a client the listener accepted); it is run at once.
    pub fn spawn(&mut self, task: Box<dyn Task>) {
        self.spawned.push(task);
    }

    /// How many tasks were spawned in this turn so far (see [`Cx::wrap_spawned`]).
    pub fn spawned_len(&self) -> usize {
        self.spawned.len()
    }

    /// Wrap the tasks spawned since `from` (a `merge` branch keeps the clients of its
    /// `listen` inside the branch).
    pub fn wrap_spawned(&mut self, from: usize, mut f: impl FnMut(Box<dyn Task>) -> Box<dyn Task>) {
        let wrapped: Vec<_> = self.spawned.drain(from..).map(&mut f).collect();
        self.spawned.extend(wrapped);
    }

    /// The chain stopped (`head`): end every task and the run.
    pub fn stop_all(&mut self) {
        *self.stop = true;
    }

    /// Items were pushed: the chain will be flushed at the end of the turn.
    pub fn pushed(&mut self) {
        *self.pushed = true;
    }
}
