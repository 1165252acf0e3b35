//! `tee { BRANCH }...` and `broadcast { BRANCH }...` — send every item to each branch, in
//! order; `tee` also passes it on to the next stage.
//!
//! Accepts every kind and emits the kind it receives (tee) or nothing (broadcast). A branch
//! that stops (its own `head`) is sent nothing more while the others go on; the fan-out
//! stops, and so lets its source stop, only when every consumer has stopped. `close` reaches
//! every branch, stopped or not — the step Beazley's `broadcast` leaves out.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Instant;

use anyhow::{Result, anyhow};
use clap::Parser;

use crate::engine::batch::Batch;
use crate::runtime::timer::Timers;

use crate::item::{Item, Kind, Origin};
use crate::protocol::def::{Build, Emits, Role, StageDef, Status};
use crate::protocol::{Flow, Mapped, Stage};

/// Send every item to each { branch } and on to the next stage.
///
/// Each branch is a pipeline in braces; it ends in a sink (or `print` is added). Branches
/// nest. A branch that stops early does not stop the others.
///
/// With `--parallel`, the branches run on worker threads beside the rest of the pipeline
/// (as many as the other cores, at most one per branch), fed shared batches of items: a
/// branch runs on one thread at a time, and a free worker takes the next batch of the
/// branch furthest behind, so the work spreads over the cores whatever each branch costs. A
/// slow branch does not stall the others until the tee is 4 batches ahead of it (then the
/// tee's own thread replays batches of the branches behind, or waits). Order within a branch
/// is kept; what branches print interleaves by blocks of whole lines; their outputs at the
/// end (`count`) come in branch order, before the stages after the tee. The lines of a big
/// file that `cat` maps reach the branches as slices of the map itself, not copies. A
/// branch's timers (`count --every`) wake a worker, between two batches of items.
#[derive(Parser)]
#[command(name = "tee", disable_version_flag = true)]
pub struct TeeArgs {
    /// Run the branches on worker threads, beside the rest of the pipeline.
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
    fusion: None,
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
    fusion: None,
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
                crate::say!("copipe: {e:#}");
            }
        }
        first
    }
}

/// How many batches the tee may be ahead of the branch furthest behind before it helps (or
/// waits). A batch of a mapped file is 1 MiB, and `cat` releases its pages 8 MiB behind
/// while branches hold the map: a deeper queue would have branches fault released pages in
/// again.
const DEPTH: u64 = 4;

/// Batches kept for reuse.
const SPARE: usize = DEPTH as usize + 2;

/// A `tee --parallel` branch as the pipeline's builder made it: its chain, and the timers
/// its stages asked for (the branch's own: the pool wakes for them).
///
/// The chain must have been built with handles of its own — its own standard output, meter
/// and timers, which it shares with nothing outside — since the pool moves it from thread
/// to thread (see [`Run`]).
pub struct ParallelBranch {
    pub chain: Box<dyn Stage>,
    pub timers: Timers,
}

/// A branch in the pool: its chain and timers, and the first error of its run (the branch
/// stops there).
struct Run {
    chain: Box<dyn Stage>,
    timers: Timers,
    ran: Result<()>,
}

// SAFETY: what is not `Send` in a branch's chain is its handles (`Rc`s of its standard
// output, meter and timers, and cells of its stages), and every clone of them lives inside
// this `Run`: the builder gave the branch handles of its own (see `ParallelBranch`), and
// nothing else was built with them. So the `Run` moves between threads as a whole; one
// thread at a time uses it, behind its mutex (which orders one thread's accesses before the
// next one's), and no thread keeps anything of it (stages hold no thread-local state of
// their thread). What stages share with other threads (`Status`, `Interrupt`, counters,
// shared maps) is `Sync` already.
unsafe impl Send for Run {}

/// A unit of work: replay a batch into one branch, or pass the clock on to it (`None`).
type Job = (usize, Option<Arc<Batch>>);

/// Which batch each branch is at, under the pool's lock.
struct State {
    /// The batches not yet replayed by every branch still running; `queue[0]` is number
    /// `first` (batches are numbered from 0 in the order the tee handed them over).
    queue: VecDeque<Arc<Batch>>,
    first: u64,
    /// Per branch: the number of the next batch it replays.
    next: Vec<u64>,
    /// Per branch: a thread is running it now.
    busy: Vec<bool>,
    /// Per branch: it stopped (its own `head`, or an error); it is given nothing more.
    stopped: Vec<bool>,
    /// Per branch: the earliest deadline of its timers.
    due: Vec<Option<Instant>>,
    /// Emptied batches, for the tee to fill again.
    spare: Vec<Batch>,
    /// Workers asleep, and whether the tee waits for room.
    idle: usize,
    tee_waits: bool,
    /// No batch will come any more: the workers end once none is left to replay.
    ending: bool,
    /// The pipeline is being dropped without a close: the workers end now.
    abandoned: bool,
}

impl State {
    fn end(&self) -> u64 {
        self.first + self.queue.len() as u64
    }

    /// How many batches the branch furthest behind has still to replay.
    fn lag(&self) -> u64 {
        let end = self.end();
        (0..self.next.len())
            .filter(|&i| !self.stopped[i])
            .map(|i| end - self.next[i])
            .max()
            .unwrap_or(0)
    }

    /// The next job of a branch no thread runs: a due timer first (a branch's timers fire
    /// between two batches even when they keep coming), then a batch of the branch furthest
    /// behind. The branch is marked busy.
    fn pick(&mut self, ticks: bool) -> Option<Job> {
        let now = Instant::now();
        let end = self.end();
        let mut best: Option<usize> = None;
        for i in 0..self.next.len() {
            if self.busy[i] || self.stopped[i] {
                continue;
            }
            if ticks && self.due[i].is_some_and(|d| d <= now) {
                self.busy[i] = true;
                return Some((i, None));
            }
            if self.next[i] < end && best.is_none_or(|b| self.next[i] < self.next[b]) {
                best = Some(i);
            }
        }
        let i = best?;
        self.busy[i] = true;
        let batch = self.queue[(self.next[i] - self.first) as usize].clone();
        Some((i, Some(batch)))
    }

    /// The earliest deadline of a branch no thread runs.
    fn next_due(&self) -> Option<Instant> {
        (0..self.next.len())
            .filter(|&i| !self.busy[i] && !self.stopped[i])
            .filter_map(|i| self.due[i])
            .min()
    }

    /// Drop the batches every running branch has replayed; they are emptied (their maps let
    /// go of at once: a finished file is unmapped when the branches are done with it) and
    /// kept for reuse.
    fn collect(&mut self) {
        while !self.queue.is_empty()
            && (0..self.next.len()).all(|i| self.stopped[i] || self.next[i] > self.first)
        {
            let b = self.queue.pop_front().expect("not empty");
            self.first += 1;
            if let Ok(mut b) = Arc::try_unwrap(b)
                && self.spare.len() < SPARE
            {
                b.clear();
                self.spare.push(b);
            }
        }
    }
}

/// The branches of a `tee --parallel` and the threads that run them.
struct Pool {
    state: Mutex<State>,
    /// Wakes a worker: a batch came, a branch is free again, the end.
    work: Condvar,
    /// Wakes the tee waiting for room.
    room: Condvar,
    runs: Vec<Mutex<Run>>,
    /// Branches still running (not stopped).
    active: AtomicUsize,
    /// Hears of a shared map that shrank.
    status: Status,
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Run a job (without the pool's lock); then, under it, note where the branch is.
    fn run<'a>(&'a self, (i, batch): Job) -> MutexGuard<'a, State> {
        let (stop, due) = {
            let mut run = self.runs[i].lock().unwrap_or_else(|e| e.into_inner());
            let run = &mut *run;
            // A stage that panics (a bug) stops its branch with an error, rather than leave
            // it marked busy for ever with the tee waiting for it.
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match &batch {
                Some(b) => b.replay(&mut *run.chain),
                None => {
                    let now = Instant::now();
                    if run.timers.take_due(now) {
                        run.chain.tick(now).map(|()| Flow::Continue)
                    } else {
                        Ok(Flow::Continue)
                    }
                }
            }))
            .unwrap_or_else(|_| Err(anyhow!("a parallel branch failed")));
            let stop = match r {
                Ok(f) => f.is_stop(),
                Err(e) => {
                    run.ran = Err(e);
                    true
                }
            };
            // Lines of a shared map whose file shrank before they were read here are left
            // out (see `Batch::replay`), and the truncation said once.
            for (m, end) in batch.iter().flat_map(|b| b.maps()) {
                if !m.map.intact(end)
                    && let Some(e) = m.report_truncation()
                {
                    self.status.soft_error(&e);
                }
            }
            (stop, run.timers.next())
        };
        let replayed = batch.is_some();
        drop(batch);
        let mut st = self.lock();
        st.busy[i] = false;
        st.due[i] = due;
        if replayed {
            st.next[i] += 1;
        }
        if stop && !st.stopped[i] {
            st.stopped[i] = true;
            self.active.fetch_sub(1, Ordering::Relaxed);
        }
        st.collect();
        if st.tee_waits {
            self.room.notify_one();
        }
        // The branch is free again: a sleeping worker may take its next batch.
        if st.idle > 0 {
            self.work.notify_one();
        }
        st
    }

    /// The tee's side: while it is more than `limit` batches ahead of a branch, run jobs
    /// itself, or wait when every branch behind is running elsewhere.
    fn make_room<'a>(&'a self, mut st: MutexGuard<'a, State>, limit: u64) -> MutexGuard<'a, State> {
        while st.lag() > limit {
            if let Some(job) = st.pick(true) {
                drop(st);
                st = self.run(job);
                continue;
            }
            st.tee_waits = true;
            st = self.room.wait(st).unwrap_or_else(|e| e.into_inner());
            st.tee_waits = false;
        }
        st
    }

    /// A worker: run jobs until the end, sleeping when there is none (until the earliest
    /// timer of a branch).
    fn work(&self) {
        let mut st = self.lock();
        loop {
            if st.abandoned {
                return;
            }
            let ticks = !st.ending;
            if let Some(job) = st.pick(ticks) {
                drop(st);
                st = self.run(job);
                continue;
            }
            if st.ending {
                return;
            }
            st.idle += 1;
            st = match st.next_due() {
                None => self.work.wait(st).unwrap_or_else(|e| e.into_inner()),
                Some(at) => {
                    let wait = at.saturating_duration_since(Instant::now());
                    self.work
                        .wait_timeout(st, wait)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
            st.idle -= 1;
        }
    }
}

/// The `tee --parallel` branches, one consumer of the fan-out. Items are recorded once into
/// a batch, and each full batch is shared by every branch (no copy; the lines of a mapped
/// file are slices of the map). The branches are run by a pool of worker threads, as many as
/// there are cores besides this one (and no more than branches): a worker takes the next
/// batch of the branch furthest behind that no other thread runs, so that a branch runs on
/// one thread at a time, in order, and the work spreads over the cores whatever each branch
/// costs. When the tee gets [`DEPTH`] batches ahead of a branch, it runs batches of the
/// branches behind itself, or waits when they all run elsewhere.
pub struct ParallelGroup {
    pool: Arc<Pool>,
    workers: Vec<JoinHandle<()>>,
    batch: Batch,
}

impl ParallelGroup {
    /// Start the workers; `status` hears of a shared map that shrank.
    pub fn new(branches: Vec<ParallelBranch>, status: Status) -> Result<Self> {
        let n = branches.len();
        let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
        let workers = cores.saturating_sub(1).clamp(1, n.max(1));
        let state = State {
            queue: VecDeque::new(),
            first: 0,
            next: vec![0; n],
            busy: vec![false; n],
            stopped: vec![false; n],
            due: branches.iter().map(|b| b.timers.next()).collect(),
            spare: Vec::new(),
            idle: 0,
            tee_waits: false,
            ending: false,
            abandoned: false,
        };
        let pool = Arc::new(Pool {
            state: Mutex::new(state),
            work: Condvar::new(),
            room: Condvar::new(),
            runs: branches
                .into_iter()
                .map(|b| {
                    Mutex::new(Run {
                        chain: b.chain,
                        timers: b.timers,
                        ran: Ok(()),
                    })
                })
                .collect(),
            active: AtomicUsize::new(n),
            status,
        });
        let mut group = ParallelGroup {
            pool,
            workers: Vec::new(),
            batch: Batch::default(),
        };
        for _ in 0..workers {
            let pool = group.pool.clone();
            let worker = std::thread::Builder::new()
                .name("copipe-branch".into())
                .spawn(move || pool.work())
                .map_err(|e| anyhow!("cannot start a thread for the parallel branches: {e}"))?;
            group.workers.push(worker);
        }
        Ok(group)
    }

    fn flow(&self) -> Flow {
        if self.pool.active.load(Ordering::Relaxed) > 0 {
            Flow::Continue
        } else {
            Flow::Stop
        }
    }

    fn hand_over(&mut self) -> Flow {
        if self.flow().is_stop() {
            self.batch.clear();
            return Flow::Stop;
        }
        if self.batch.is_empty() {
            return Flow::Continue;
        }
        let mut st = self.pool.lock();
        let next = st.spare.pop().unwrap_or_default();
        st.queue
            .push_back(Arc::new(std::mem::replace(&mut self.batch, next)));
        if st.idle > 0 {
            self.pool.work.notify_all();
        }
        drop(self.pool.make_room(st, DEPTH));
        self.flow()
    }

    fn after_push(&mut self) -> Flow {
        if self.batch.is_full() {
            self.hand_over()
        } else {
            self.flow()
        }
    }

    /// Let the workers end (after the batches left, unless `abandon`), and wait for them.
    fn stop_workers(&mut self, abandon: bool) {
        {
            let mut st = self.pool.lock();
            st.ending = true;
            st.abandoned |= abandon;
            self.pool.work.notify_all();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
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

    /// Hand over the rest, help the workers replay it, let them end, then close the
    /// branches in order: their output at the end comes in branch order, before what the
    /// stages after the tee print at theirs. Every branch is closed, even after an error in
    /// one; the first is reported.
    fn close(&mut self) -> Result<()> {
        let _ = self.hand_over();
        drop(self.pool.make_room(self.pool.lock(), 0));
        self.stop_workers(false);
        let mut first = Ok(());
        for run in &self.pool.runs {
            let mut run = run.lock().unwrap_or_else(|e| e.into_inner());
            let ran = std::mem::replace(&mut run.ran, Ok(()));
            // Closed always, after an error too, as every chain is.
            let closed = run.chain.close();
            let r = crate::protocol::finish(ran, closed);
            if first.is_ok() {
                first = r;
            } else if let Err(e) = r {
                crate::say!("copipe: {e:#}");
            }
        }
        first
    }
}

impl Drop for ParallelGroup {
    /// Not closed (the pipeline failed to start): the workers end at once.
    fn drop(&mut self) {
        self.stop_workers(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::timer::Timer;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    /// What the test branches saw, shared with the test (through `Arc`s: the branches move
    /// between threads).
    #[derive(Default)]
    struct Log {
        /// Per branch: the lines it received, in order.
        lines: Vec<Mutex<Vec<u64>>>,
        /// Branches as they were closed, and ticks.
        events: Mutex<Vec<String>>,
    }

    /// A branch: records its lines; stops after `stop_after` lines; fails at line `fail_at`;
    /// sleeps `slow` per batch; asserts that no two threads run it at once.
    struct Branch {
        id: usize,
        log: Arc<Log>,
        stop_after: Option<usize>,
        fail_at: Option<u64>,
        panic_at: Option<u64>,
        slow: Duration,
        running: Arc<AtomicBool>,
        timer: Option<(Timer, Duration)>,
    }

    impl Branch {
        fn new(id: usize, log: &Arc<Log>) -> Self {
            Branch {
                id,
                log: log.clone(),
                stop_after: None,
                fail_at: None,
                panic_at: None,
                slow: Duration::ZERO,
                running: Arc::new(AtomicBool::new(false)),
                timer: None,
            }
        }
    }

    impl Stage for Branch {
        fn send(&mut self, item: Item<'_>) -> Result<Flow> {
            match item {
                Item::Line(l) => self.send_lines(&[l, b"\n"].concat()),
                _ => Ok(Flow::Continue),
            }
        }
        fn send_lines(&mut self, batch: &[u8]) -> Result<Flow> {
            assert!(
                !self.running.swap(true, Ordering::SeqCst),
                "a branch ran on two threads at once"
            );
            std::thread::sleep(self.slow);
            let mut flow = Flow::Continue;
            for line in batch.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                let n: u64 = std::str::from_utf8(line).unwrap().parse().unwrap();
                if self.fail_at == Some(n) {
                    self.running.store(false, Ordering::SeqCst);
                    anyhow::bail!("branch {} failed at {n}", self.id);
                }
                if self.panic_at == Some(n) {
                    self.running.store(false, Ordering::SeqCst);
                    panic!("branch {} panics at {n}", self.id);
                }
                let mut seen = self.log.lines[self.id].lock().unwrap();
                seen.push(n);
                if self.stop_after.is_some_and(|s| seen.len() >= s) {
                    flow = Flow::Stop;
                    break;
                }
            }
            self.running.store(false, Ordering::SeqCst);
            Ok(flow)
        }
        fn origin(&mut self, _: Origin<'_>) -> Result<()> {
            Ok(())
        }
        fn flush(&mut self) -> Result<()> {
            Ok(())
        }
        fn tick(&mut self, now: Instant) -> Result<()> {
            self.log
                .events
                .lock()
                .unwrap()
                .push(format!("tick {}", self.id));
            if let Some((t, every)) = &self.timer {
                t.wake_at(now + *every);
            }
            Ok(())
        }
        fn close(&mut self) -> Result<()> {
            self.log
                .events
                .lock()
                .unwrap()
                .push(format!("close {}", self.id));
            Ok(())
        }
    }

    fn group(branches: Vec<Branch>, timers: Vec<Timers>) -> ParallelGroup {
        let parallel = branches
            .into_iter()
            .zip(timers)
            .map(|(b, timers)| ParallelBranch {
                chain: Box::new(b),
                timers,
            })
            .collect();
        ParallelGroup::new(parallel, Status::default()).unwrap()
    }

    fn log(n: usize) -> Arc<Log> {
        Arc::new(Log {
            lines: (0..n).map(|_| Mutex::new(Vec::new())).collect(),
            events: Mutex::default(),
        })
    }

    /// Send the numbers `0..n` as lines, `per` to a call; the flow after the last.
    fn feed(g: &mut ParallelGroup, n: u64, per: u64) -> Flow {
        let mut text = Vec::new();
        let mut flow = Flow::Continue;
        for start in (0..n).step_by(per as usize) {
            text.clear();
            for i in start..(start + per).min(n) {
                text.extend_from_slice(format!("{i}\n").as_bytes());
            }
            flow = g.send_lines(&text).unwrap();
            if flow.is_stop() {
                break;
            }
        }
        flow
    }

    #[test]
    fn every_branch_gets_every_line_in_order_and_closes_in_branch_order() {
        let log = log(4);
        let mut branches: Vec<Branch> = (0..4).map(|i| Branch::new(i, &log)).collect();
        // Branches of very different costs: the fast ones run ahead on whatever thread is
        // free, the slow one is never run on two threads at once.
        branches[1].slow = Duration::from_micros(300);
        branches[3].slow = Duration::from_micros(100);
        let mut g = group(branches, (0..4).map(|_| Timers::default()).collect());
        assert_eq!(feed(&mut g, 200_000, 1000), Flow::Continue);
        g.close().unwrap();
        let want: Vec<u64> = (0..200_000).collect();
        for (i, seen) in log.lines.iter().enumerate() {
            assert!(*seen.lock().unwrap() == want, "branch {i}");
        }
        assert_eq!(
            *log.events.lock().unwrap(),
            ["close 0", "close 1", "close 2", "close 3"]
        );
    }

    #[test]
    fn a_branch_that_stops_stops_alone_and_all_stopped_stop_the_tee() {
        let log = log(2);
        let mut branches: Vec<Branch> = (0..2).map(|i| Branch::new(i, &log)).collect();
        branches[0].stop_after = Some(5);
        branches[1].stop_after = Some(150_000);
        let mut g = group(branches, vec![Timers::default(), Timers::default()]);
        // The tee goes on while one branch runs, and stops once both have stopped (within
        // the batches it may be ahead).
        assert_eq!(feed(&mut g, 1_000_000, 1000), Flow::Stop);
        g.close().unwrap();
        assert_eq!(*log.lines[0].lock().unwrap(), [0, 1, 2, 3, 4]);
        let b = log.lines[1].lock().unwrap();
        assert!(*b == (0..150_000).collect::<Vec<_>>());
    }

    #[test]
    fn an_error_in_a_branch_stops_it_and_every_branch_is_still_closed() {
        let log = log(3);
        let mut branches: Vec<Branch> = (0..3).map(|i| Branch::new(i, &log)).collect();
        branches[1].fail_at = Some(70_000);
        let mut g = group(branches, (0..3).map(|_| Timers::default()).collect());
        assert_eq!(feed(&mut g, 100_000, 1000), Flow::Continue);
        let err = g.close().unwrap_err();
        assert_eq!(err.to_string(), "branch 1 failed at 70000");
        assert_eq!(
            *log.events.lock().unwrap(),
            ["close 0", "close 1", "close 2"]
        );
        assert_eq!(log.lines[0].lock().unwrap().len(), 100_000);
        assert!(*log.lines[1].lock().unwrap() == (0..70_000).collect::<Vec<_>>());
        assert_eq!(log.lines[2].lock().unwrap().len(), 100_000);
    }

    #[test]
    fn a_branch_that_panics_is_an_error_and_nothing_waits_for_it() {
        let log = log(2);
        let mut branches: Vec<Branch> = (0..2).map(|i| Branch::new(i, &log)).collect();
        branches[0].panic_at = Some(5_000);
        let mut g = group(branches, vec![Timers::default(), Timers::default()]);
        assert_eq!(feed(&mut g, 100_000, 1000), Flow::Continue);
        let err = g.close().unwrap_err();
        assert_eq!(err.to_string(), "a parallel branch failed");
        assert_eq!(*log.events.lock().unwrap(), ["close 0", "close 1"]);
        assert_eq!(log.lines[1].lock().unwrap().len(), 100_000);
    }

    #[test]
    fn a_branch_timer_ticks_while_no_items_come() {
        let log = log(2);
        let timers = Timers::default();
        let mut b = Branch::new(1, &log);
        let t = timers.timer();
        t.wake_at(Instant::now() + Duration::from_millis(20));
        b.timer = Some((t, Duration::from_millis(20)));
        let mut g = group(
            vec![Branch::new(0, &log), b],
            vec![Timers::default(), timers],
        );
        let _ = feed(&mut g, 10, 1);
        g.flush().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while log.events.lock().unwrap().len() < 3 {
            assert!(Instant::now() < deadline, "no ticks");
            std::thread::sleep(Duration::from_millis(5));
        }
        g.close().unwrap();
        let events = log.events.lock().unwrap();
        assert!(events[..3].iter().all(|e| e == "tick 1"), "{events:?}");
        assert_eq!(events[events.len() - 2..], ["close 0", "close 1"]);
        assert_eq!(*log.lines[1].lock().unwrap(), (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn the_tee_stays_within_depth_of_a_slow_branch() {
        let log = log(2);
        let mut branches: Vec<Branch> = (0..2).map(|i| Branch::new(i, &log)).collect();
        branches[0].slow = Duration::from_millis(2);
        let mut g = group(branches, vec![Timers::default(), Timers::default()]);
        // One line a batch: a batch handed over per flush.
        for i in 0..40u64 {
            let _ = g.send_lines(format!("{i}\n").as_bytes()).unwrap();
            g.flush().unwrap();
            let seen = log.lines[0].lock().unwrap().len() as u64;
            // The branch being run holds one more than those queued.
            assert!(i + 1 - seen <= DEPTH + 1, "{} ahead", i + 1 - seen);
        }
        g.close().unwrap();
        assert_eq!(log.lines[0].lock().unwrap().len(), 40);
        assert_eq!(log.lines[1].lock().unwrap().len(), 40);
    }

    #[test]
    fn dropped_without_close_the_workers_end() {
        let log = log(1);
        let mut g = group(vec![Branch::new(0, &log)], vec![Timers::default()]);
        let _ = feed(&mut g, 1000, 10);
        drop(g);
    }
}
