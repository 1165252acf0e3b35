//! The scheduler: Beazley's `pyos` in Rust. Tasks are resumed when what they wait for is
//! ready and yield back a [`Wait`] saying what they wait for next; the scheduler sleeps in
//! one readiness call (mio's epoll) until a descriptor is ready, a deadline passes (a task's
//! or a stage's timer, see [`crate::runtime::timer`]) or a signal arrives.
//!
//! Every task pushes into the one chain the scheduler was given, passed to
//! [`Task::resume`]; since everything runs in the scheduler's thread, items from different
//! tasks never interleave inside a push, and `tick` calls fall between pushes.
//!
//! Readiness is edge-triggered: a task that waits for `Readable(fd)` must first have read
//! `fd` until it would block (or read less than it asked for, on a stream socket). A task
//! that stops with more to read says [`Wait::Soon`] and is run again after the others: this
//! is how a flood on one socket does not starve the rest.

use std::io::{self, Read};
use std::os::fd::RawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use crate::protocol::Stage;
use crate::protocol::def::Status;
use crate::protocol::task::{Cx, Task, Wait};
use crate::runtime::signal::Interrupt;
use crate::runtime::timer::Timers;

struct Slot {
    task: Box<dyn Task>,
    /// The descriptor registered for it, and for what.
    registered: Option<(RawFd, Interest)>,
    deadline: Option<Instant>,
    ready: bool,
}

const SIGNAL: Token = Token(usize::MAX);

/// See the module docs.
pub struct Scheduler {
    poll: Poll,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    timers: Timers,
    interrupt: Interrupt,
    status: Status,
    /// Readable when SIGINT or SIGTERM arrives (a signal-hook pipe of the scheduler's own,
    /// so that a bridged source waiting on the run's interrupt descriptor does not take the
    /// wake-up from it).
    signal_rx: Option<UnixStream>,
    signal_ids: Vec<signal_hook::SigId>,
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        for id in self.signal_ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

impl Scheduler {
    pub fn new(interrupt: Interrupt, timers: Timers, status: Status) -> Result<Self> {
        let poll = Poll::new().context("cannot create the scheduler's poller")?;
        let mut s = Scheduler {
            poll,
            slots: Vec::new(),
            free: Vec::new(),
            timers,
            status,
            signal_rx: None,
            signal_ids: Vec::new(),
            interrupt,
        };
        if s.interrupt.fd().is_some() {
            let (tx, rx) = UnixStream::pair().context("cannot create a signal socket")?;
            tx.set_nonblocking(true)?;
            rx.set_nonblocking(true)?;
            for sig in [libc::SIGINT, libc::SIGTERM] {
                s.signal_ids.push(signal_hook::low_level::pipe::register(
                    sig,
                    tx.try_clone()?,
                )?);
            }
            use std::os::fd::AsRawFd;
            s.poll.registry().register(
                &mut SourceFd(&rx.as_raw_fd()),
                SIGNAL,
                Interest::READABLE,
            )?;
            s.signal_rx = Some(rx);
        }
        Ok(s)
    }

    /// Add a task; it is run first thing.
    pub fn spawn(&mut self, task: Box<dyn Task>) {
        let slot = Slot {
            task,
            registered: None,
            deadline: None,
            ready: true,
        };
        match self.free.pop() {
            Some(i) => self.slots[i] = Some(slot),
            None => self.slots.push(Some(slot)),
        }
    }

    fn live(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Run every task to its end (or until the chain stops or a signal arrives), pushing
    /// into `out`. Does not close `out`.
    pub fn run(&mut self, out: &mut dyn Stage) -> Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut spawned = Vec::new();
        let mut stop = false;
        let mut pushed = false;
        let mut interrupted = false;
        loop {
            if !interrupted && let Some(sig) = self.interrupt.pending() {
                interrupted = true;
                self.status.interrupt(sig);
                for i in 0..self.slots.len() {
                    if let Some(slot) = &mut self.slots[i]
                        && slot.task.interrupted(out)?
                    {
                        self.end(i);
                    }
                }
                pushed = true;
            }
            if self.live() == 0 || stop {
                break;
            }
            // Run every ready task once; those spawned meanwhile are ready too.
            let now = Instant::now();
            for i in 0..self.slots.len() {
                let Some(slot) = &mut self.slots[i] else {
                    continue;
                };
                if !slot.ready && slot.deadline.is_none_or(|d| d > now) {
                    continue;
                }
                slot.ready = false;
                slot.deadline = None;
                let mut cx = Cx::new(&mut spawned, &mut stop, &mut pushed, now);
                let wait = slot.task.resume(&mut cx, out)?;
                self.wait(i, wait)?;
                if stop {
                    break;
                }
            }
            for t in spawned.drain(..) {
                self.spawn(t);
            }
            if stop || self.live() == 0 {
                break;
            }
            // Sleep until a descriptor is ready, the earliest deadline, or a signal.
            let any_ready = self.slots.iter().flatten().any(|s| s.ready);
            let deadline = self
                .slots
                .iter()
                .flatten()
                .filter_map(|s| s.deadline)
                .chain(self.timers.next())
                .min();
            // What this turn pushed is made visible now, before the next readiness call,
            // also when a task is to run again at once (a client that filled its 64 KiB
            // budget): otherwise, under a steady flood, the lines of the quiet clients
            // would wait in buffers for as long as the flood lasts. One flush per turn,
            // a turn being up to 64 KiB per ready client.
            if pushed {
                out.flush()?;
                pushed = false;
            }
            let timeout = if any_ready {
                Some(Duration::ZERO)
            } else {
                deadline.map(|d| d.saturating_duration_since(Instant::now()))
            };
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(anyhow::Error::new(e).context("poll failed")),
            }
            for ev in &events {
                if ev.token() == SIGNAL {
                    if let Some(rx) = &self.signal_rx {
                        let mut sink = [0u8; 64];
                        while matches!((&*rx).read(&mut sink), Ok(n) if n > 0) {}
                    }
                    continue;
                }
                if let Some(Some(slot)) = self.slots.get_mut(ev.token().0) {
                    slot.ready = true;
                }
            }
            let now = Instant::now();
            if self.timers.take_due(now) {
                out.tick(now)?;
                for slot in self.slots.iter_mut().flatten() {
                    slot.task.tick(now)?;
                }
            }
        }
        // Dropping the tasks closes their descriptors; deregister first.
        for i in 0..self.slots.len() {
            if self.slots[i].is_some() {
                self.end(i);
            }
        }
        if pushed {
            out.flush()?;
        }
        Ok(())
    }

    fn wait(&mut self, i: usize, wait: Wait) -> Result<()> {
        let (fd, interest) = match wait {
            Wait::Readable(fd) => (fd, Interest::READABLE),
            Wait::ReadableUntil(fd, at) => {
                self.slots[i].as_mut().expect("live").deadline = Some(at);
                (fd, Interest::READABLE)
            }
            Wait::Writable(fd) => (fd, Interest::WRITABLE),
            Wait::Until(at) => {
                self.slots[i].as_mut().expect("live").deadline = Some(at);
                return Ok(());
            }
            Wait::Soon => {
                self.slots[i].as_mut().expect("live").ready = true;
                return Ok(());
            }
            Wait::Done => {
                self.end(i);
                return Ok(());
            }
        };
        let registry = self.poll.registry();
        let slot = self.slots[i].as_mut().expect("live");
        match slot.registered {
            Some((f, int)) if f == fd && int == interest => {}
            Some((f, _)) if f == fd => {
                registry.reregister(&mut SourceFd(&fd), Token(i), interest)?;
            }
            old => {
                if let Some((f, _)) = old {
                    let _ = registry.deregister(&mut SourceFd(&f));
                }
                registry
                    .register(&mut SourceFd(&fd), Token(i), interest)
                    .context("cannot watch a descriptor")?;
            }
        }
        slot.registered = Some((fd, interest));
        Ok(())
    }

    fn end(&mut self, i: usize) {
        if let Some(slot) = self.slots[i].take() {
            if let Some((fd, _)) = slot.registered {
                let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
            }
            self.free.push(i);
        }
    }
}
