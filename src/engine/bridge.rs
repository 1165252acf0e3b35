//! The thread bridge (Beazley's): a bounded queue of [`Batch`]es between a thread and the
//! scheduler. Items cross in batches — one buffer of many lines — and the buffers go back
//! to the sender to be reused, so nothing is allocated per item.
//!
//! The sending thread wakes the scheduler by writing a byte into a socket the receiving task
//! waits on ([`handoff::Rx::fd`]; the queue is [`handoff`]'s, which `send` uses too). (The
//! branches of `tee --parallel` are fed otherwise: see `crate::fanout`.)
//!
//! [`SourceThread`] is the task that runs a pulled source that is not a native task
//! (`subscribe`, `xml --lenient`) on a thread of its own behind the bridge.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::ArgMatches;

use super::batch::{Batch, Taken};
use crate::item::{Item, Origin};
use crate::protocol::def::{BuildCx, Options, SourceFn, Status};
use crate::protocol::task::{Cx, Task, Wait};
use crate::protocol::{Flow, Stage, Through, Written};
use crate::runtime::meter::Meter;
use crate::runtime::signal::Interrupt;

use super::handoff;

/// What crosses the bridge.
pub enum Msg {
    /// Items, with the bytes the source read and announced since the last batch.
    Batch {
        batch: Batch,
        read: u64,
        expected: u64,
    },
    /// The sending side has ended, with its result.
    Done(Result<()>),
}

/// The sending end: messages, and the emptied batches that come back.
pub type Tx = handoff::Tx<Msg, Batch>;

/// The receiving end.
pub type Rx = handoff::Rx<Msg, Batch>;

/// A bridge of `depth` batches in flight; `wake`: the receiver is a scheduler task that
/// needs a descriptor to wait on.
pub fn channel(depth: usize, wake: bool) -> Result<(Tx, Rx)> {
    handoff::channel(depth, wake)
}

/// The watermark that comes back from the scheduler thread: how many of the batches a
/// bridged source handed over have been replayed into the chain (a batch ending in a flush:
/// flushed by the sinks), `u64::MAX` once the chain takes nothing more (stopped or gone);
/// and how many of the items pushed (each `send`, each `send_lines` call) the chain took
/// and its sinks flushed, for a source that acknowledges exactly those
/// ([`Stage::taken`]).
#[derive(Default)]
struct Replayed {
    count: Mutex<Marks>,
    moved: Condvar,
}

#[derive(Default, Clone, Copy)]
struct Marks {
    batches: u64,
    /// Items replayed, and of them written out by a flush.
    items: u64,
    flushed: u64,
}

impl Replayed {
    fn set(&self, f: impl FnOnce(&mut Marks)) {
        let mut n = self.count.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut n);
        self.moved.notify_all();
    }

    fn get(&self) -> Marks {
        *self.count.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wait until `k` batches were replayed (or the chain takes nothing more).
    fn wait(&self, k: u64) {
        let mut n = self.count.lock().unwrap_or_else(|e| e.into_inner());
        while n.batches < k {
            n = self
                .moved
                .wait_timeout(n, Duration::from_millis(200))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// The stage a bridged source pushes into, on its thread: it fills a batch and hands it
/// over when full or when the source is about to wait (`flush`).
struct Sending {
    tx: Tx,
    batch: Batch,
    meter: Meter,
    read: u64,
    expected: u64,
    /// Batches handed over, and how many the scheduler thread replayed (shared with the
    /// source's [`Written`] handle).
    marks: Rc<Handed>,
}

/// What a bridged source handed over, and what the scheduler thread replayed of it.
struct Handed {
    gone: Cell<bool>,
    sent: Cell<u64>,
    replayed: Arc<Replayed>,
}

impl Through for Handed {
    /// Wait until the scheduler thread has replayed every batch handed over (each ends in
    /// a flush when the source flushed): the sinks then have written it.
    fn wait(&self) {
        if !self.gone.get() {
            self.replayed.wait(self.sent.get());
        }
    }
    fn taken(&self) -> u64 {
        self.replayed.get().flushed
    }
}

impl Sending {
    fn hand_over(&mut self) -> Flow {
        if self.marks.gone.get() || self.marks.replayed.get().batches == u64::MAX {
            self.marks.gone.set(true);
            return Flow::Stop;
        }
        let batch = std::mem::replace(&mut self.batch, self.tx.spare().unwrap_or_default());
        let (read, expected) = (self.meter.bytes(), self.meter.expected());
        let msg = Msg::Batch {
            batch,
            read: read - self.read,
            expected: expected - self.expected,
        };
        (self.read, self.expected) = (read, expected);
        if !self.tx.send(msg) {
            self.marks.gone.set(true);
            return Flow::Stop;
        }
        self.marks.sent.set(self.marks.sent.get() + 1);
        Flow::Continue
    }

    fn after_push(&mut self) -> Flow {
        if self.marks.gone.get() {
            Flow::Stop
        } else if self.batch.is_full() {
            self.hand_over()
        } else {
            Flow::Continue
        }
    }
}

impl Stage for Sending {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        let _ = self.batch.send(item)?;
        Ok(self.after_push())
    }
    fn send_lines(&mut self, batch: &[u8]) -> Result<Flow> {
        // Each call an op of its own, so that the replay counts calls (see `taken`).
        self.batch.push_lines_apart(batch);
        Ok(self.after_push())
    }
    fn origin(&mut self, origin: Origin<'_>) -> Result<()> {
        self.batch.push_origin(origin);
        Ok(())
    }
    fn flush(&mut self) -> Result<()> {
        self.batch.push_flush();
        let _ = self.hand_over();
        Ok(())
    }
    fn close(&mut self) -> Result<()> {
        Ok(())
    }
}

/// A pulled source running on a thread of its own, seen by the scheduler as a task.
pub struct SourceThread {
    rx: Rx,
    meter: Meter,
    done: bool,
    replayed: Arc<Replayed>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How long the end of a run waits for a bridged source's thread to finish after the chain
/// stopped (a `subscribe --durable` acknowledging what the chain took).
const JOIN_GRACE: Duration = Duration::from_secs(5);

impl Drop for SourceThread {
    fn drop(&mut self) {
        // Nothing more will be replayed: a source waiting in `Written::flush_through` goes on, and
        // its next hand-over says the chain stopped.
        self.replayed.set(|n| n.batches = u64::MAX);
        // Let it finish (what it does after the chain stopped — acknowledging what was
        // written, sending back the rest — must not be cut by the process's exit), taking
        // what it still hands over so that it never waits on a full queue.
        let Some(t) = self.thread.take() else {
            return;
        };
        let until = std::time::Instant::now() + JOIN_GRACE;
        while !t.is_finished() && std::time::Instant::now() < until {
            while let Some(Ok(_)) = self.rx.try_recv() {}
            std::thread::sleep(Duration::from_millis(5));
        }
        if t.is_finished() {
            let _ = t.join();
        }
    }
}

/// How many batches may wait in the bridge.
const DEPTH: usize = 4;

impl SourceThread {
    /// Build the source on a new thread (its stages hold thread-local handles) and run it
    /// there. A build error is returned here, before anything runs.
    pub fn start(
        build: SourceFn,
        matches: ArgMatches,
        opts: Options,
        status: Status,
        interrupt: Interrupt,
        meter: Meter,
    ) -> Result<Self> {
        let (tx, rx) = channel(DEPTH, true)?;
        let (built_tx, built_rx) = mpsc::channel::<Result<()>>();
        let thread_status = status.clone();
        let replayed = Arc::new(Replayed::default());
        let thread_replayed = replayed.clone();
        let thread = std::thread::Builder::new()
            .name("copipe-source".into())
            .spawn(move || {
                let source_meter = Meter::default();
                let marks = Rc::new(Handed {
                    gone: Cell::new(false),
                    sent: Cell::new(0),
                    replayed: thread_replayed,
                });
                let built = (|| {
                    let stdout = std::rc::Rc::new(std::cell::RefCell::new(
                        crate::runtime::output::Output::stdout(false, &interrupt)?,
                    ));
                    let timers = crate::runtime::timer::Timers::default();
                    let cx = BuildCx {
                        opts: &opts,
                        input: crate::item::Kind::Line,
                        stdout: &stdout,
                        status: &thread_status,
                        meter: &source_meter,
                        interrupt: &interrupt,
                        timers: &timers,
                        source_waits: true,
                        highlight: &[],
                        inputs: Default::default(),
                        written: Written::new(marks.clone()),
                        notes: &Default::default(),
                    };
                    build(&matches, &cx)
                })();
                let mut source = match built {
                    Ok(s) => {
                        let _ = built_tx.send(Ok(()));
                        s
                    }
                    Err(e) => {
                        let _ = built_tx.send(Err(e));
                        return;
                    }
                };
                let batch = tx.spare().unwrap_or_default();
                let mut out = Sending {
                    tx,
                    batch,
                    meter: source_meter,
                    read: 0,
                    expected: 0,
                    marks,
                };
                let ran = source.run(&mut out);
                if !out.batch.is_empty() {
                    let _ = out.hand_over();
                }
                let _ = out.tx.send(Msg::Done(ran));
            })
            .context("cannot start a source thread")?;
        match built_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => anyhow::bail!("the source thread ended before it started"),
        }
        Ok(SourceThread {
            rx,
            meter,
            done: false,
            replayed,
            thread: Some(thread),
        })
    }

    /// Replay what has arrived; whether the source has ended.
    fn pump(&mut self, out: &mut dyn Stage, cx: Option<&mut Cx<'_>>) -> Result<Flow> {
        self.rx.drain_wakes();
        let mut flow = Flow::Continue;
        let mut pushed = false;
        while let Some(msg) = self.rx.try_recv() {
            match msg {
                Ok(Msg::Batch {
                    batch,
                    read,
                    expected,
                }) => {
                    self.meter.expect(expected);
                    self.meter.read(read as usize);
                    let mut taken = Taken::default();
                    let mut replayed = batch.replay_counted(out, &mut taken);
                    if matches!(replayed, Ok(Flow::Stop)) {
                        // The chain stopped partway (a `head`): what it took is written out
                        // now, before the source hears that it stopped.
                        match out.flush() {
                            Ok(()) => taken.flushed = Some(taken.items),
                            Err(e) => replayed = Err(e),
                        }
                    }
                    self.replayed.set(|n| {
                        if let Some(f) = taken.flushed {
                            n.flushed = n.items + f;
                        }
                        n.items += taken.items;
                        n.batches = match replayed {
                            Ok(Flow::Continue) => n.batches.saturating_add(1),
                            _ => u64::MAX,
                        }
                    });
                    flow = replayed?;
                    pushed = true;
                    let mut batch = batch;
                    batch.clear();
                    self.rx.recycle(batch);
                    if flow.is_stop() {
                        break;
                    }
                }
                Ok(Msg::Done(ran)) => {
                    self.done = true;
                    ran?;
                    break;
                }
                Err(()) => {
                    self.done = true;
                    break;
                }
            }
        }
        if pushed && let Some(cx) = cx {
            cx.pushed();
        }
        Ok(flow)
    }
}

impl Task for SourceThread {
    fn resume(&mut self, cx: &mut Cx<'_>, out: &mut dyn Stage) -> Result<Wait> {
        if self.pump(out, Some(cx))?.is_stop() {
            cx.stop_all();
            return Ok(Wait::Done);
        }
        if self.done {
            return Ok(Wait::Done);
        }
        Ok(Wait::Readable(self.rx.fd().expect("a waking bridge")))
    }

    /// The source sees the signal on its own thread and ends after pushing what it read.
    fn interrupted(&mut self, _out: &mut dyn Stage) -> Result<bool> {
        Ok(false)
    }
}
