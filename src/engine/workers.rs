//! Per-file workers: the per-file part of a pipeline (a source that reads one file, or one
//! part of a big file, and the filters after it that treat each file on its own) run on
//! several threads, one job at a time each, and what they push is handed on to the rest of
//! the chain in the order of the jobs — so that the output is the one a single thread
//! gives, byte for byte. A job that continues the one before (a part of the same file) does
//! not announce its input again, and a line cut by `--max-line` is said once per file.
//!
//! * Jobs (files) are taken in ascending order by the workers (an atomic counter): the job
//!   the main thread waits for is always being run, so no worker waits for one that waits.
//! * Each job has a bounded queue of [`Part`]s (see [`Pace`]), made when a worker takes
//!   the job; a worker waits while its job's queue is full. A worker takes a job only
//!   within [`window`] jobs of the one the main thread replays, so memory stays bounded —
//!   `window × depth` hand-overs, whatever the number and size of the files — also when
//!   the output is blocked: without that gate, the workers went on through every small
//!   file while the main thread waited on its output, and held them all in memory (40
//!   files of 8 MB: 324 MB).
//! * A worker records what its chain pushes into a [`Batch`], each call apart, and makes
//!   it a [`Part`] with each push of the source (one read) and whenever the batch is full
//!   (parts are sent to the main thread a few at a time, see [`SEND_BYTES`]), with
//!   what the push cost besides its items: the items each per-file stage received (the
//!   `--stats` counts), the bytes the source read and announced, the lines `--max-line`
//!   cut, what the counts of the stages' closing notes grew by, item by item (see
//!   [`crate::runtime::notes`]), the errors it reported and the diagnostics it said (held, see
//!   [`crate::runtime::say::hold`], and said by the main thread in their turn). The main
//!   thread replays the parts of job 0, then of job 1, …: a `head` that stops, an error
//!   that ends the run, a signal, are met at the same item as on one thread, and the counts
//!   and exit status are the same (a part handed over after a stop is dropped unseen).
//! * A stop (`head`, an error, a signal) drops the queues: a worker's next hand-over fails
//!   and its chain stops its source, as a `head` would; the workers are joined before the
//!   run returns.
//!
//! What runs in the workers (which stages are per-file) is decided above, in the pipeline
//! (`pipeline::per_file`); this module knows the protocol, never a particular stage.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use anyhow::{Result, anyhow};

use super::batch::{Batch, Taken};
use crate::item::{Item, Origin};
use crate::protocol::def::Status;
use crate::protocol::{Flow, Mapped, Source, Stage};
use crate::runtime::counter::Counter;
use crate::runtime::meter::{Decompressed, Meter};

/// How many hand-overs each job may have sent and the main thread not yet replayed, with
/// lines (see [`Pace`]). The parts of a job are sent together ([`SEND_BYTES`]): a
/// hand-over is [`HAND_OVER_BYTES`] of input, or 64 KB of items and up to one read more, so
/// 64 of them let a worker go through a file of 256 MB that matches rarely, or 4–20 MB of
/// items, ahead of the main thread before it waits. (When each read was a hand-over of its
/// own, 4 of them made the workers run one after the other, 1.0 CPU used; 64, 1.07x
/// ripgrep's time on 16 files of 64 MB; 256, 1.06x.)
pub const DEPTH: usize = 64;

/// How the workers hand over what their stages push: hand-overs of [`SEND_BYTES`] ×
/// `scale` of items, `depth` of them a job. Lines: 64 KB, 64 of them. Records: 512 KB, 8
/// of them — records in batches of 64 KB, a message each, woke the main thread for each
/// (54,000 context switches for `cat big.log : parse RE : count` on 1 GB, 1.1 CPUs used;
/// 16 of 512 KB were as fast as 8 and took 84–94 MB of RSS for `: parse RE : head N`
/// against 57–63 MB);
/// lines in hand-overs of 512 KB made `grep 'ion$'`, whose lines are nearly all its
/// output, 1.05x slower (0.999 s against 0.951 s, medians of 9).
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    depth: usize,
    scale: usize,
}

impl Pace {
    /// For stages that push records, or lines.
    pub fn of(records: bool) -> Pace {
        if records {
            Pace { depth: 8, scale: 8 }
        } else {
            Pace {
                depth: DEPTH,
                scale: 1,
            }
        }
    }
}

/// How many jobs, from the one the main thread replays on, the workers may run or have
/// run: one more than the workers, so that a worker done with its job starts the next at
/// once, without waiting for the main thread to finish replaying the one it did.
pub fn window(threads: usize) -> usize {
    threads + 1
}

/// A worker hands over what its pushes gave once they hold this much input, or any
/// item, diagnostic or error (and at the end of a job). Handing over each 256 KB
/// read made a part per read: a worker on a later file then filled its queue after
/// `DEPTH` reads and waited for the file being replayed, and the workers ran nearly one
/// after the other (1.28 CPUs on 16 files of 64 MB, rg 1.93).
const HAND_OVER_BYTES: u64 = 4 << 20;

/// A worker sends the parts it recorded once their items hold this many bytes, their input
/// reaches [`HAND_OVER_BYTES`], or the job ends — not each part apart: a part ends at each
/// read that gave items, and sending every one woke the main thread at every read (2,200–
/// 3,000 context switches for `grep ERROR : count` on 16 files of 64 MB, which matches in
/// most reads; the main thread has little to do with each). The parts keep their own
/// tallies, so a `head` meeting one counts what one thread counts.
const SEND_BYTES: usize = super::batch::FULL;

/// What one push of a job's source came to (see the module docs).
pub struct Part {
    pub batch: Batch,
    /// The items each per-file stage received, in chain order.
    pub counts: Vec<u64>,
    /// What the counts of the per-file stages' closing notes grew by, and where: (the item
    /// ops of `batch` recorded before, which count, by how much). A `head` that stops at
    /// the item `i` of the batch sees the growth before it, as on one thread, where the
    /// stages stop at that item.
    pub notes: Vec<(u64, usize, u64)>,
    /// Bytes read, and announced (`Meter::expect`).
    pub read: u64,
    pub expected: u64,
    /// Lines cut by `--max-line`.
    pub cut: u64,
    /// The warning about a line cut in a part of a file (said once per file).
    pub cut_warning: Option<String>,
    /// Errors reported (and said in `said`).
    pub soft_errors: u32,
    /// The source found its file truncated: the file's later parts (jobs that continue
    /// this one) are dropped unseen, their error unsaid — what they held is gone, and a
    /// part read before the truncation would put lines after the gap.
    pub truncated: bool,
    /// What the worker said on stderr meanwhile.
    pub said: Vec<u8>,
}

/// What a worker hands over for a job.
pub enum Msg {
    /// Parts in order, sent together (see [`SEND_BYTES`]).
    Parts(Vec<Part>),
    /// The job is over: its source's result, the signal that stopped it, the compressed
    /// inputs it read.
    Done {
        result: Result<()>,
        interrupted: Option<i32>,
        decompressed: Vec<Decompressed>,
    },
}

/// What a worker builds in its own thread, once: the per-file stages, ending in `end`.
pub struct Chain {
    pub chain: Box<dyn Stage>,
    /// The counters of `--stats` of those stages (their items in), in chain order; empty
    /// without `--stats`.
    pub counters: Vec<Counter>,
    /// The counts of those stages' closing notes, in the order they were registered.
    pub notes: Vec<Counter>,
    /// The records the stages push are handed over rendered, their compact JSON (the main
    /// thread's chain [`Stage::takes_rendered`]).
    pub render: bool,
    /// The source of job `i`, built with the job's own meter and status.
    pub source: SourceOf,
    /// Whether job `i` continues job `i - 1` (a part of the same file after the first):
    /// its source announces the input to the worker's stages, which need its name, but the
    /// main thread, which had it from the job before, is not told again.
    pub continues: Arc<[bool]>,
}

/// Builds the source of job `i` with the job's own meter and status.
pub type SourceOf = Box<dyn FnMut(usize, &Meter, &Status) -> Result<Box<dyn Source>>>;

/// Builds a worker's [`Chain`] in the worker's thread (stages are not `Send`).
pub type MakeChain = Arc<dyn Fn(Box<dyn Stage>) -> Result<Chain> + Send + Sync>;

/// Where the main thread puts what the parts say besides their items.
pub struct Tally<'a> {
    pub meter: &'a Meter,
    pub status: &'a Status,
    /// The per-file stages' `--stats` counters (as many as a worker's, or none).
    pub counters: &'a [Counter],
    /// The counts of the per-file stages' closing notes (as many as a worker's): see
    /// [`crate::runtime::notes`].
    pub notes: &'a [Counter],
    /// Which jobs continue the one before (see [`Chain::continues`]).
    pub continues: &'a [bool],
    /// A line to put between the items of two jobs, when both have some (grep's group
    /// separator: the workers' greps leave it out before a job's first group).
    pub separator: Option<&'a [u8]>,
    /// How the workers hand over (lines or records).
    pub pace: Pace,
}

/// Run `jobs` jobs on `threads` workers and replay what they push into `out`, in job order.
/// Returns as a source's `run` does: `Ok` at the end, at a stop or a signal; the first
/// error otherwise. See the module docs.
pub fn run(
    jobs: usize,
    threads: usize,
    make: MakeChain,
    out: &mut dyn Stage,
    into: &Tally<'_>,
) -> Result<()> {
    let workers = threads.clamp(1, jobs.max(1));
    let shared = Arc::new(Shared {
        spare: Arc::default(),
        pace: into.pace,
        next: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        meeting: Mutex::new(Meeting {
            replaying: 0,
            queues: HashMap::new(),
            workers,
        }),
        changed: Condvar::new(),
        window: window(threads),
        jobs,
    });
    let handles: Vec<JoinHandle<()>> = (0..workers)
        .map(|_| {
            let shared = shared.clone();
            let make = make.clone();
            std::thread::spawn(move || work(&shared, &make))
        })
        .collect();
    let ran = replay(out, into, &shared);
    // Stopped or done: the queues are dropped, the workers' next hand-over fails, and they
    // end.
    shared.stop.store(true, Ordering::SeqCst);
    shared.replay_at(usize::MAX);
    let mut panicked = false;
    for h in handles {
        panicked |= h.join().is_err();
    }
    match ran {
        Ok(()) if panicked => Err(anyhow!("a worker thread failed")),
        r => r,
    }
}

/// The main thread's side: every job's parts, in order.
fn replay(out: &mut dyn Stage, into: &Tally<'_>, shared: &Shared) -> Result<()> {
    // Whether the file of the job being replayed had its cut line said (once a file).
    let mut cut_said = false;
    // Whether a job before gave items (then the separator goes before the next one's).
    let mut gave = false;
    // Whether a part of the file being replayed found it truncated (see [`Part::truncated`]).
    let mut truncated = false;
    for i in 0..shared.jobs {
        shared.replay_at(i);
        let Some(rx) = shared.queue(i) else {
            return Err(anyhow!("a worker thread failed"));
        };
        if !into.continues.get(i).copied().unwrap_or(false) {
            cut_said = false;
            truncated = false;
        }
        let mut out = Separated {
            out: &mut *out,
            pending: into.separator.filter(|_| gave),
            gave: false,
        };
        loop {
            let Ok(msg) = rx.recv() else {
                return Err(anyhow!("a worker thread failed"));
            };
            match msg {
                Msg::Parts(parts) => {
                    for p in parts {
                        if truncated {
                            continue;
                        }
                        truncated = p.truncated;
                        for (c, n) in into.counters.iter().zip(&p.counts) {
                            c.add(*n);
                        }
                        if p.expected > 0 {
                            into.meter.expect(p.expected);
                        }
                        if p.read > 0 {
                            into.meter.read(p.read as usize);
                        }
                        if p.cut > 0 {
                            into.meter.cut_lines(p.cut);
                        }
                        if !p.said.is_empty() {
                            crate::say_part!("{}", String::from_utf8_lossy(&p.said));
                        }
                        if let Some(w) = p.cut_warning
                            && !std::mem::replace(&mut cut_said, true)
                        {
                            crate::say!("{w}");
                        }
                        into.status.count_soft_errors(p.soft_errors);
                        let flow = if p.notes.is_empty() {
                            p.batch.replay(&mut out)?
                        } else {
                            let mut taken = Taken::default();
                            let flow = p.batch.replay_counted(&mut out, &mut taken)?;
                            for &(at, k, n) in &p.notes {
                                if !flow.is_stop() || at < taken.items {
                                    into.notes[k].add(n);
                                }
                            }
                            flow
                        };
                        gave |= out.gave;
                        if flow.is_stop() {
                            return Ok(());
                        }
                        shared.spare.give(p.batch);
                    }
                }
                Msg::Done {
                    result,
                    interrupted,
                    decompressed,
                } => {
                    for d in decompressed {
                        for _ in 0..d.files {
                            into.meter.decompressing(d.format);
                        }
                        into.meter.decompressed(d.format, d.compressed, d.bytes);
                    }
                    result?;
                    if let Some(sig) = interrupted {
                        into.status.interrupt(sig);
                        return Ok(());
                    }
                    break;
                }
            }
        }
    }
    Ok(())
}

/// The main thread's chain, with a separator line held until the job's first item.
struct Separated<'a> {
    out: &'a mut dyn Stage,
    pending: Option<&'a [u8]>,
    /// The job gave an item.
    gave: bool,
}

impl Separated<'_> {
    fn before_item(&mut self) -> Result<Flow> {
        self.gave = true;
        match self.pending.take() {
            Some(sep) => self.out.send_lines(sep),
            None => Ok(Flow::Continue),
        }
    }
}

impl Stage for Separated<'_> {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        if self.before_item()?.is_stop() {
            return Ok(Flow::Stop);
        }
        self.out.send(item)
    }
    fn send_lines(&mut self, lines: &[u8]) -> Result<Flow> {
        if lines.is_empty() {
            return Ok(Flow::Continue);
        }
        if self.before_item()?.is_stop() {
            return Ok(Flow::Stop);
        }
        self.out.send_lines(lines)
    }
    fn send_mapped(&mut self, lines: Mapped<'_>) -> Result<Flow> {
        if self.before_item()?.is_stop() {
            return Ok(Flow::Stop);
        }
        self.out.send_mapped(lines)
    }
    fn takes_rendered(&self) -> bool {
        self.out.takes_rendered()
    }
    fn send_rendered(&mut self, ndjson: &[u8]) -> Result<Flow> {
        if self.before_item()?.is_stop() {
            return Ok(Flow::Stop);
        }
        self.out.send_rendered(ndjson)
    }
    fn origin(&mut self, origin: Origin<'_>) -> Result<()> {
        self.out.origin(origin)
    }
    fn flush(&mut self) -> Result<()> {
        self.out.flush()
    }
    fn close(&mut self) -> Result<()> {
        Ok(())
    }
}

struct Shared {
    /// Batches replayed, cleared, for the workers to record into again.
    spare: Arc<Spare>,
    pace: Pace,
    next: AtomicUsize,
    stop: AtomicBool,
    /// What the main thread and the workers wait on, and the signal that it changed.
    meeting: Mutex<Meeting>,
    changed: Condvar,
    window: usize,
    jobs: usize,
}

/// See [`Shared::meeting`].
struct Meeting {
    /// The job the main thread replays (`usize::MAX` once it is done or stopped): the
    /// workers take jobs within [`window`] of it.
    replaying: usize,
    /// The queues of the jobs taken and not yet read by the main thread. A job's queue is
    /// made when a worker takes it, so that memory goes with the jobs in flight, not with
    /// all of them (`DEPTH` slots each, made at once for every job, were 3.6 KB a job).
    queues: HashMap<usize, Receiver<Msg>>,
    /// The workers still running: with none, a queue not made will never be.
    workers: usize,
}

/// A worker: builds its chain, then takes jobs until there are none or the run stopped.
fn work(shared: &Shared, make: &MakeChain) {
    let _leaving = Leaving(shared);
    crate::runtime::say::hold();
    let rec = Rc::new(RefCell::new(Recorder {
        spare: shared.spare.clone(),
        scale: shared.pace.scale,
        ..Recorder::default()
    }));
    let built = make(Box::new(End(rec.clone())));
    let mut built = match built {
        Ok(b) => Some(b),
        Err(e) => {
            // Said where the first job this worker takes would have been.
            let i = shared.next.fetch_add(1, Ordering::SeqCst);
            if let Some(tx) = shared.open(i) {
                let _ = tx.send(Msg::Done {
                    result: Err(e),
                    interrupted: None,
                    decompressed: Vec::new(),
                });
            }
            None
        }
    };
    if let Some(Chain {
        chain,
        counters,
        notes,
        source,
        continues,
        render,
    }) = built.as_mut()
    {
        {
            let mut r = rec.borrow_mut();
            r.render = *render;
            r.last_counts = vec![0; counters.len()];
            r.notes = notes.clone();
            r.notes_seen = vec![0; notes.len()];
        }
        loop {
            if shared.stop.load(Ordering::SeqCst) {
                break;
            }
            let i = shared.next.fetch_add(1, Ordering::SeqCst);
            if i >= shared.jobs || !shared.wait_for_turn(i) {
                break;
            }
            let Some(tx) = shared.open(i) else {
                break;
            };
            let meter = Meter::default();
            let status = Status::default();
            {
                let mut r = rec.borrow_mut();
                r.tx = Some(tx);
                r.meter = meter.clone();
                r.status = status.clone();
                r.last_read = 0;
                r.last_expected = 0;
                r.last_cut = 0;
                r.last_soft = 0;
                r.counters = counters.clone();
                r.continuing = continues.get(i).copied().unwrap_or(false);
            }
            let result = source(i, &meter, &status).and_then(|mut s| {
                let mut top = Top {
                    chain: &mut **chain,
                    rec: &rec,
                };
                s.run(&mut top)
            });
            let mut r = rec.borrow_mut();
            let failed = result.is_err();
            let handed = r.hand_over(true);
            if let Some(tx) = r.tx.take()
                && handed
            {
                let _ = tx.send(Msg::Done {
                    result,
                    interrupted: status.interrupted(),
                    decompressed: meter.decompressions(),
                });
            }
            if failed {
                break;
            }
        }
        // Per-file stages push nothing at their close (that is what makes them per-file):
        // anything they did would have no job to go with, and is dropped.
        rec.borrow_mut().tx = None;
        let _ = chain.close();
    }
    crate::runtime::say::release();
}

/// Says that a worker ended, however it ended (a panic too).
struct Leaving<'a>(&'a Shared);

impl Drop for Leaving<'_> {
    fn drop(&mut self) {
        self.0.meet().workers -= 1;
        self.0.changed.notify_all();
    }
}

impl Shared {
    fn meet(&self) -> std::sync::MutexGuard<'_, Meeting> {
        self.meeting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The main thread replays job `i` now (`usize::MAX`: it is done, and the queues left
    /// are dropped).
    fn replay_at(&self, i: usize) {
        let mut m = self.meet();
        m.replaying = i;
        if i == usize::MAX {
            m.queues.clear();
        }
        drop(m);
        self.changed.notify_all();
    }

    /// Make the queue of job `i`, which a worker takes: the sending end, `None` when there
    /// is no such job or the run has stopped.
    fn open(&self, i: usize) -> Option<SyncSender<Msg>> {
        if i >= self.jobs {
            return None;
        }
        let mut m = self.meet();
        if self.stop.load(Ordering::SeqCst) {
            return None;
        }
        let (tx, rx) = sync_channel(self.pace.depth);
        m.queues.insert(i, rx);
        drop(m);
        self.changed.notify_all();
        Some(tx)
    }

    /// The main thread's end of job `i`'s queue, once a worker made it; `None` when no
    /// worker is left to make it.
    fn queue(&self, i: usize) -> Option<Receiver<Msg>> {
        let mut m = self.meet();
        loop {
            if let Some(rx) = m.queues.remove(&i) {
                return Some(rx);
            }
            if m.workers == 0 {
                return None;
            }
            m = self.changed.wait(m).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Wait until job `i` is within the window of the one being replayed; `false` when the
    /// run has stopped meanwhile. No worker waits for a job that waits: the jobs before
    /// `i` were all taken before it, and are done or being run by workers past this gate.
    fn wait_for_turn(&self, i: usize) -> bool {
        let mut m = self.meet();
        while m.replaying != usize::MAX && i >= m.replaying.saturating_add(self.window) {
            m = self.changed.wait(m).unwrap_or_else(|e| e.into_inner());
        }
        !self.stop.load(Ordering::SeqCst)
    }
}

/// Batches the main thread has replayed, cleared and kept for the workers: a batch keeps
/// its storage, and its records their own (`Record::clone_from`), so that carrying records
/// allocates nothing once the first batches are made. (A new batch for every part made
/// `cat big.log : parse RE : count` spend a third of its time in `malloc` and `free`, and
/// take 1.6x the time of one thread. About as many are kept as may be in flight: with 4
/// kept, the rest were dropped and made again, and `: parse RE : where a? : count` took
/// 1.89 s against one thread's 1.46 s; with 64, 1.16 s; with 32 (and 8 hand-overs of
/// records a job), 0.98 s against 0.93 s, in 47–49 MB of RSS against 59–63 MB.)
#[derive(Default)]
struct Spare(Mutex<Vec<Batch>>);

impl Spare {
    /// At most this many are kept (the others are dropped).
    const KEEP: usize = 32;

    fn take(&self) -> Batch {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_default()
    }

    fn give(&self, mut batch: Batch) {
        batch.clear();
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() < Self::KEEP {
            kept.push(batch);
        }
    }
}

/// A worker's record of the current job's items and tallies since the last hand-over.
#[derive(Default)]
struct Recorder {
    tx: Option<SyncSender<Msg>>,
    batch: Batch,
    spare: Arc<Spare>,
    /// Records are recorded rendered (see [`Chain::render`]).
    render: bool,
    /// See [`Pace`].
    scale: usize,
    meter: Meter,
    status: Status,
    counters: Vec<Counter>,
    last_counts: Vec<u64>,
    /// The counts of the closing notes, their values when last looked at, the growth seen
    /// since the last hand-over (see [`Part::notes`]), and the item ops recorded since.
    notes: Vec<Counter>,
    notes_seen: Vec<u64>,
    marks: Vec<(u64, usize, u64)>,
    items: u64,
    last_read: u64,
    last_expected: u64,
    last_cut: u64,
    last_soft: u32,
    /// The job continues the one before: its first announcement is not recorded.
    continuing: bool,
    /// Parts recorded and not sent yet, the bytes of their items and their input.
    pending: Vec<Part>,
    pending_bytes: usize,
    pending_read: u64,
}

impl Recorder {
    /// Make a part of what was recorded since the last time, if anything, and send the
    /// parts made when they add up (see [`SEND_BYTES`]), or `now`; `false` when the main
    /// thread has stopped (or there is no job).
    fn hand_over(&mut self, now: bool) -> bool {
        if self.tx.is_none() {
            return false;
        }
        let counts = grown(&self.counters, &mut self.last_counts);
        self.mark();
        self.items = 0;
        let notes = std::mem::take(&mut self.marks);
        let (read, expected, cut) = (
            self.meter.bytes(),
            self.meter.expected(),
            self.meter.lines_cut(),
        );
        let soft = self.status.soft_errors();
        let said = crate::runtime::say::take_held();
        let part = Part {
            batch: std::mem::replace(&mut self.batch, self.spare.take()),
            counts,
            notes,
            read: read - self.last_read,
            expected: expected - self.last_expected,
            cut: cut - self.last_cut,
            cut_warning: self.meter.take_cut_warning(),
            soft_errors: soft - self.last_soft,
            said,
            truncated: self.meter.take_truncated(),
        };
        (
            self.last_read,
            self.last_expected,
            self.last_cut,
            self.last_soft,
        ) = (read, expected, cut, soft);
        let empty = part.batch.is_empty()
            && part.counts.iter().all(|&n| n == 0)
            && part.notes.is_empty()
            && part.read == 0
            && part.expected == 0
            && part.cut == 0
            && part.cut_warning.is_none()
            && part.soft_errors == 0
            && !part.truncated
            && part.said.is_empty();
        if !empty {
            self.pending_bytes += part.batch.bytes();
            self.pending_read += part.read;
            self.pending.push(part);
        }
        let due = now
            || self.pending_bytes >= SEND_BYTES * self.scale
            || self.pending_read >= HAND_OVER_BYTES;
        if self.pending.is_empty() || !due {
            return true;
        }
        (self.pending_bytes, self.pending_read) = (0, 0);
        let parts = std::mem::take(&mut self.pending);
        self.tx
            .as_ref()
            .is_some_and(|tx| tx.send(Msg::Parts(parts)).is_ok())
    }

    /// Whether what was recorded since the last hand-over is to go now (see
    /// [`HAND_OVER_BYTES`]): items, diagnostics and errors at once, reads that gave nothing
    /// (their counts and bytes) when they add up. A part with items thus ends at the read
    /// its last item came from, so that a `head` meeting it counts (`--stats`) the same
    /// reads as one thread does.
    fn due(&self) -> bool {
        !self.batch.is_empty()
            || self.meter.bytes() - self.last_read >= HAND_OVER_BYTES
            || self.status.soft_errors() != self.last_soft
            || self.meter.lines_cut() != self.last_cut
            || crate::runtime::say::has_held()
    }

    /// Note how the counts of the closing notes grew before the next item op.
    fn mark(&mut self) {
        for (k, (c, seen)) in self.notes.iter().zip(&mut self.notes_seen).enumerate() {
            let now = c.get();
            if now != *seen {
                self.marks.push((self.items, k, now - *seen));
                *seen = now;
            }
        }
    }

    /// An item op is about to be recorded.
    fn item(&mut self) {
        self.mark();
        self.items += 1;
    }

    fn flow(&mut self) -> Flow {
        if self.batch.is_full_at(self.scale) && !self.hand_over(true) {
            return Flow::Stop;
        }
        Flow::Continue
    }
}

/// What each of `counters` grew by since `last`, which is brought up to date.
fn grown(counters: &[Counter], last: &mut [u64]) -> Vec<u64> {
    counters
        .iter()
        .zip(last)
        .map(|(c, last)| {
            let now = c.get();
            let d = now - *last;
            *last = now;
            d
        })
        .collect()
}

/// The end of a worker's chain: records into the current job's batch.
struct End(Rc<RefCell<Recorder>>);

/// Each call is recorded as an op of its own, replayed as the same call: a `head` after
/// the workers stops at the same call, and `--stats` counts the same items.
impl Stage for End {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        let mut r = self.0.borrow_mut();
        r.item();
        match item {
            Item::Line(l) => r.batch.push_line_apart(l),
            Item::Record(rec) if r.render => r.batch.push_rendered(rec),
            other => {
                if r.batch.send(other)?.is_stop() {
                    return Ok(Flow::Stop);
                }
            }
        }
        Ok(r.flow())
    }
    fn send_lines(&mut self, lines: &[u8]) -> Result<Flow> {
        let mut r = self.0.borrow_mut();
        if !lines.is_empty() {
            r.item();
        }
        r.batch.push_lines_apart(lines);
        Ok(r.flow())
    }
    fn send_mapped(&mut self, lines: Mapped<'_>) -> Result<Flow> {
        self.send_lines(lines.bytes())
    }
    fn origin(&mut self, origin: Origin<'_>) -> Result<()> {
        let mut r = self.0.borrow_mut();
        if std::mem::take(&mut r.continuing) {
            return Ok(());
        }
        r.batch.origin(origin)
    }
    fn flush(&mut self) -> Result<()> {
        self.0.borrow_mut().batch.flush()
    }
    fn close(&mut self) -> Result<()> {
        Ok(())
    }
}

/// The top of a worker's chain, where its source pushes: hands over what the previous push
/// gave before each push (then the source has counted the bytes of the read that push
/// came from, as it does after pushing), and the last one when the source ends.
struct Top<'a> {
    chain: &'a mut dyn Stage,
    rec: &'a Rc<RefCell<Recorder>>,
}

impl Top<'_> {
    fn before(&mut self) -> bool {
        let mut r = self.rec.borrow_mut();
        if r.due() {
            r.hand_over(false)
        } else {
            r.tx.is_some()
        }
    }
}

impl Stage for Top<'_> {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        if !self.before() {
            return Ok(Flow::Stop);
        }
        self.chain.send(item)
    }
    fn send_lines(&mut self, lines: &[u8]) -> Result<Flow> {
        if !self.before() {
            return Ok(Flow::Stop);
        }
        self.chain.send_lines(lines)
    }
    fn send_mapped(&mut self, lines: Mapped<'_>) -> Result<Flow> {
        if !self.before() {
            return Ok(Flow::Stop);
        }
        self.chain.send_mapped(lines)
    }
    fn origin(&mut self, origin: Origin<'_>) -> Result<()> {
        self.chain.origin(origin)
    }
    fn flush(&mut self) -> Result<()> {
        self.chain.flush()
    }
    fn tick(&mut self, now: std::time::Instant) -> Result<()> {
        self.chain.tick(now)
    }
    fn close(&mut self) -> Result<()> {
        Ok(())
    }
}
