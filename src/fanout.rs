//! `tee { BRANCH }...` and `broadcast { BRANCH }...` — send every item to each branch, in
//! order; `tee` also passes it on to the next stage.
//!
//! Accepts every kind and emits the kind it receives (tee) or nothing (broadcast). A branch
//! that stops (its own `head`) is sent nothing more while the others go on; the fan-out
//! stops, and so lets its source stop, only when every consumer has stopped. `close` reaches
//! every branch, stopped or not — the step Beazley's `broadcast` leaves out.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

use anyhow::{Result, anyhow};
use clap::Parser;

use crate::engine::batch::Batch;
use crate::engine::bridge::{self, Msg, Tx};
use crate::runtime::timer::Timers;

use crate::item::{Item, Kind, Origin};
use crate::stage::def::{Build, Emits, Role, StageDef, Status};
use crate::stage::{Flow, Mapped, Stage};

/// Send every item to each { branch } and on to the next stage.
///
/// Each branch is a pipeline in braces; it ends in a sink (or `print` is added). Branches
/// nest. A branch that stops early does not stop the others.
///
/// With `--parallel`, each branch runs on a thread of its own, fed batches of items through
/// a bounded queue: a slow branch does not stall the others (until its queue is full), and
/// the work is spread over the cores. Order within a branch is kept; what branches print
/// interleaves by blocks of whole lines; their outputs at the end (`count`) come in branch
/// order, before the stages after the tee. The lines of a big file that `cat` maps reach
/// the branches as slices of the map itself, not copies. A branch's timers (`count --every`)
/// wake its own thread, between two batches of items.
#[derive(Parser)]
#[command(name = "tee", disable_version_flag = true)]
pub struct TeeArgs {
    /// Run each branch on a thread of its own.
    #[arg(short, long)]
    pub parallel: bool,
}

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
    examples: &[
        "copipe cat words.txt : grep 'ion$' : tee { grep ^con : write con.txt } : count",
        "copipe cat big.log : tee --parallel { grep ERROR : count } { grep WARN : count } : grep ion : count",
    ],
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

    fn send_mapped(&mut self, lines: Mapped<'_>) -> Result<Flow> {
        self.each(|s| s.send_mapped(lines.clone()))
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

/// How many batches may wait for a parallel branch.
const DEPTH: usize = 4;

/// A `tee --parallel` branch, seen from the tee: the branch's chain is built and run on a
/// thread of its own, fed shared batches through a bounded queue (the thread bridge).
pub struct Parallel {
    tx: Option<Tx>,
    /// Set by the thread when the branch's chain stopped (its own `head`).
    stopped: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<()>>>,
}

impl Parallel {
    /// Start the branch's thread; `build` builds its chain there (the pipeline's builder
    /// gives it: a fan-out does not build pipelines itself), with the timers its stages
    /// asked for (the thread wakes for them) and what the builder wants back from the
    /// thread (its `--stats` rows, counted there), returned here with the branch. An error
    /// building it is returned here; `status` hears of a shared map that shrank.
    pub fn start<R: Send + 'static>(
        status: Status,
        build: impl FnOnce() -> Result<(Box<dyn Stage>, Timers, R)> + Send + 'static,
    ) -> Result<(Self, R)> {
        let (tx, rx) = bridge::channel(DEPTH, false)?;
        let stopped = Arc::new(AtomicBool::new(false));
        let stop = stopped.clone();
        let (built_tx, built_rx) = mpsc::channel::<Result<R>>();
        let thread = std::thread::Builder::new()
            .name("copipe-branch".into())
            .spawn(move || -> Result<()> {
                let (mut chain, timers) = match build() {
                    Ok((chain, timers, report)) => {
                        let _ = built_tx.send(Ok(report));
                        (chain, timers)
                    }
                    Err(e) => {
                        let _ = built_tx.send(Err(e));
                        return Ok(());
                    }
                };
                let mut ran = Ok(());
                // Replay a batch, or pass the clock on (`None`), unless the branch stopped.
                let mut step = |chain: &mut dyn Stage, batch: Option<&Batch>| {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let r = match batch {
                        Some(b) => b.replay(chain),
                        None => chain
                            .tick(std::time::Instant::now())
                            .map(|()| Flow::Continue),
                    };
                    match r {
                        Ok(f) if f.is_stop() => stop.store(true, Ordering::Relaxed),
                        Ok(_) => {}
                        Err(e) => {
                            stop.store(true, Ordering::Relaxed);
                            ran = Err(e);
                        }
                    }
                    // Lines of a shared map whose file shrank before they were read here
                    // are left out (see `Batch::replay`), and the truncation said once.
                    for (m, end) in batch.iter().flat_map(|b| b.maps()) {
                        if !m.map.intact(end)
                            && let Some(e) = m.report_truncation()
                        {
                            status.soft_error(&e);
                        }
                    }
                };
                loop {
                    // The branch's own timers (`count --every`): the thread wakes at the
                    // earliest deadline, and ticks between two batches even when they
                    // keep coming.
                    let msg = match timers.next() {
                        None => rx.recv(),
                        Some(at) => {
                            if timers.take_due(std::time::Instant::now()) {
                                step(&mut *chain, None);
                                continue;
                            }
                            match rx.recv_until(at) {
                                Ok(m) => Some(m),
                                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                                Err(mpsc::RecvTimeoutError::Disconnected) => None,
                            }
                        }
                    };
                    match msg {
                        Some(Msg::Batch { batch, .. }) => {
                            step(&mut *chain, Some(&batch));
                            rx.recycle(batch);
                        }
                        // Dropped here: the tee reuses it once every branch has.
                        Some(Msg::Shared(batch)) => step(&mut *chain, Some(&batch)),
                        Some(Msg::Done(_)) | None => break,
                    }
                }
                // Closed always, after an error too, as every chain is.
                let closed = chain.close();
                crate::stage::finish(ran, closed)
            })?;
        let report = match built_rx.recv() {
            Ok(Ok(report)) => report,
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(anyhow!("a parallel branch ended before it started")),
        };
        let branch = Parallel {
            tx: Some(tx),
            stopped,
            thread: Some(thread),
        };
        Ok((branch, report))
    }

    /// Whether the branch still takes items.
    fn active(&self) -> bool {
        self.tx.is_some() && !self.stopped.load(Ordering::Relaxed)
    }

    /// Hand a shared batch over, waiting while the queue is full.
    fn hand_over(&mut self, batch: &Arc<Batch>) {
        if !self.active() {
            return;
        }
        if let Some(tx) = &self.tx
            && !tx.send(Msg::Shared(batch.clone()))
        {
            self.tx = None;
        }
    }

    /// Let the thread close the branch, and wait for it.
    fn close(&mut self) -> Result<()> {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Msg::Done(Ok(())));
        }
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| anyhow!("a parallel branch failed"))?,
            None => Ok(()),
        }
    }
}

/// The `tee --parallel` branches, one consumer of the fan-out: items are recorded once into
/// a batch, and each full batch is shared by every branch (one reference each, no copy);
/// a batch is reused once every branch has dropped it.
pub struct ParallelGroup {
    branches: Vec<Parallel>,
    batch: Batch,
    /// Batches handed over, perhaps still held by a branch.
    out: Vec<Arc<Batch>>,
}

impl ParallelGroup {
    pub fn new(branches: Vec<Parallel>) -> Self {
        ParallelGroup {
            branches,
            batch: Batch::default(),
            out: Vec::new(),
        }
    }

    fn flow(&self) -> Flow {
        if self.branches.iter().any(Parallel::active) {
            Flow::Continue
        } else {
            Flow::Stop
        }
    }

    /// A batch no branch holds any more, or a new one.
    fn spare(&mut self) -> Batch {
        if let Some(i) = self.out.iter().position(|b| Arc::strong_count(b) == 1)
            && let Ok(mut b) = Arc::try_unwrap(self.out.swap_remove(i))
        {
            b.clear();
            return b;
        }
        Batch::default()
    }

    fn hand_over(&mut self) -> Flow {
        // The batches no branch holds any more let go of their maps at once: a finished
        // file's map is unmapped (and its SIGBUS registration freed) when the branches are
        // done with it, not when the batch is next reused.
        for b in &mut self.out {
            if let Some(b) = Arc::get_mut(b) {
                b.release_maps();
            }
        }
        if self.flow().is_stop() {
            self.batch.clear();
            return Flow::Stop;
        }
        if self.batch.is_empty() {
            return Flow::Continue;
        }
        let next = self.spare();
        let batch = Arc::new(std::mem::replace(&mut self.batch, next));
        for b in &mut self.branches {
            b.hand_over(&batch);
        }
        self.out.push(batch);
        self.flow()
    }

    fn after_push(&mut self) -> Flow {
        if self.batch.is_full() {
            self.hand_over()
        } else {
            self.flow()
        }
    }
}

impl Stage for ParallelGroup {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        let _ = self.batch.send(item)?;
        Ok(self.after_push())
    }

    fn send_lines(&mut self, batch: &[u8]) -> Result<Flow> {
        self.batch.push_lines(batch);
        Ok(self.after_push())
    }

    /// The branches get the map itself (one reference per batch), not a copy of the lines.
    fn send_mapped(&mut self, lines: Mapped<'_>) -> Result<Flow> {
        self.batch.push_mapped(lines.map, lines.range);
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

    /// Hand over the rest, let the threads close their branches, and wait for them: the
    /// branches' output at the end comes before what the stages after the tee print at
    /// theirs. Every branch is closed, even after an error in one; the first is reported.
    fn close(&mut self) -> Result<()> {
        let _ = self.hand_over();
        let mut first = Ok(());
        for b in &mut self.branches {
            let r = b.close();
            if first.is_ok() {
                first = r;
            } else if let Err(e) = r {
                eprintln!("copipe: {e:#}");
            }
        }
        first
    }
}
