//! `xml FILE : records …` on several cores.
//!
//! A big regular UTF-8 file is mapped and cut into parts of about [`PART`] bytes, each
//! beginning where a record element seems to start (`<bus` followed by a space, `>` or
//! `/`). Worker threads parse the parts at once, each into a batch of records, with a
//! speculative [`Parser`]: it assumes that its part starts at a token in the content of the
//! root, outside any record, with the open elements unknown (an end tag of one of them is
//! noted, not refused).
//!
//! The main thread keeps the one true parse. It parses, itself and in order, every byte
//! that no part covers, and at the start of each part it checks the guess: the main parser
//! must stand exactly at the part's first byte (not inside a comment, CDATA section or
//! tag that happens to hold `<bus`), outside any record, at the depth the part assumed,
//! with the part's closing end tags matching the innermost open elements, and the root
//! still open after them. Then the part's records are pushed on, in order, and the main
//! parser jumps to the part's end with the part's effect on the open elements, line count
//! and entity budget. A part that fails its check, or that its worker could not parse (an
//! error, bad bytes, a record cut by the part's end), is parsed again by the main parser,
//! which reports any error with its true position, after every record before it. So the
//! output, the errors and the exit status are exactly those of the single-threaded parse;
//! only the time differs.
//!
//! Where the stage after `records` would only write each record's compact JSON (`print`,
//! see `Stage::takes_rendered`), the workers render their records as well, and the main
//! thread hands each adopted part's JSON on in one piece (`Stage::send_rendered`): the
//! serialisation is then parallel too. A part parsed again by the main parser sends its
//! records one by one, as always; the bytes written are the same.
//!
//! Memory stays bounded: at most [`Pool::batches`] parts are parsed ahead, and the pages
//! of the map that are behind the main parser are released.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};

use anyhow::Result;
use memchr::memmem::Finder;

use super::input::{self, Input};
use super::parser::{Declarations, Fail, Parser, Reach};
use crate::item::xml_records::{Batch, RecordBuilder, Target};
use crate::item::{Item, Origin};
use crate::protocol::{Flow, Stage};
use crate::runtime::counter::Counter;
use crate::runtime::map::{SafeMap, Truncated};
use crate::runtime::meter::{Meter, Parts};
use crate::runtime::signal::{Interrupt, Stopped};

/// The size of a part, unless told otherwise.
pub const PART: usize = 512 * 1024;

/// How the file is cut and parsed.
#[derive(Clone, Copy, Debug)]
pub struct Split {
    /// Worker threads.
    pub threads: usize,
    /// The size of a part.
    pub part: usize,
}

impl Split {
    /// Whether a file of `len` bytes is worth cutting.
    pub fn worth_it(&self, len: u64) -> bool {
        self.threads > 1 && len >= 4 * self.part as u64
    }
}

/// Reads the mapped file for the main parser; a pending signal stops it. It copies, then
/// checks that the file still held the bytes copied: a file truncated under the parse ends
/// it with [`Truncated`], and no zero put in place of a vanished page reaches the parser.
struct MapReader {
    map: Arc<SafeMap>,
    pos: usize,
    interrupt: Interrupt,
}

impl Read for MapReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(sig) = self.interrupt.pending() {
            return Err(io::Error::other(Stopped(sig)));
        }
        let end = self.map.available();
        if self.pos >= end && end < self.map.len() {
            return Err(io::Error::other(Truncated));
        }
        let rest = &self.map[self.pos.min(end)..end];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        if !self.map.intact(self.pos + n) {
            return Err(io::Error::other(Truncated));
        }
        self.pos += n;
        Ok(n)
    }
}

/// What a worker made of one part.
enum Outcome {
    /// No part here: the key does not occur again; the rest is the main parser's.
    End,
    /// The part is empty (two cuts at the same record start).
    Empty(Batch),
    /// Not parsed (bad bytes, an error, a token or record running over its end): the main
    /// parser reads it.
    Failed(Batch),
    Parsed(Part),
}

/// A parsed part: `data[start..end]` (offsets in the file).
struct Part {
    start: usize,
    end: usize,
    batch: Batch,
    /// Events pushed into `records` (for `--stats`).
    events: u64,
    /// End tags of elements open before the part, innermost first.
    popped: Vec<String>,
    /// Elements opened in the part and still open at its end, outermost first.
    open: Vec<String>,
    deepest: usize,
    expanded: u64,
    /// Line ends in the part, and characters after the last one (or in all).
    newlines: u64,
    tail: u64,
}

/// The parts' bookkeeping shared with the workers: batches free to fill (which bounds how
/// far ahead they run), the next part to take, and whether to stop.
struct Pool {
    state: Mutex<PoolState>,
    wake: Condvar,
}

struct PoolState {
    free: Vec<Batch>,
    next: usize,
    stop: bool,
}

impl Pool {
    fn batches(threads: usize) -> usize {
        2 * threads + 2
    }

    /// The next part to parse and a batch for it; `None` once stopped.
    fn take(&self) -> Option<(usize, Batch)> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if s.stop {
                return None;
            }
            if let Some(b) = s.free.pop() {
                let k = s.next;
                s.next += 1;
                return Some((k, b));
            }
            s = self.wake.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn give_back(&self, mut batch: Batch) {
        batch.clear();
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.free.push(batch);
        self.wake.notify_one();
    }

    fn stop(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.stop = true;
        self.wake.notify_all();
    }
}

/// The first record start at or after `from`: `<NAME` followed by a space, `>` or `/`.
fn cut(data: &[u8], from: usize, key: &Finder<'_>) -> Option<usize> {
    let mut at = from;
    while at < data.len() {
        let s = at + key.find(&data[at..])?;
        match data.get(s + key.needle().len()) {
            Some(b' ' | b'\t' | b'\r' | b'\n' | b'>' | b'/') => return Some(s),
            None => return None,
            Some(_) => at = s + 1,
        }
    }
    None
}

/// The stage the main parser pushes its events into: the records builder the source
/// absorbed (counted for `--stats`), its records going to `next`.
pub struct Building<'a> {
    pub(super) builder: &'a mut RecordBuilder,
    pub(super) next: &'a mut dyn Stage,
    pub(super) counter: Option<&'a Counter>,
}

impl Stage for Building<'_> {
    #[inline(always)]
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        if let Some(c) = self.counter {
            c.add(1);
        }
        let Item::Event(ev) = item else {
            return Ok(Flow::Continue);
        };
        let Some(rec) = self.builder.event(ev) else {
            return Ok(Flow::Continue);
        };
        let flow = self.next.send(Item::Record(rec));
        self.builder.pushed();
        flow
    }
    fn origin(&mut self, origin: Origin<'_>) -> Result<()> {
        self.next.origin(origin)
    }
    fn flush(&mut self) -> Result<()> {
        self.next.flush()
    }
    fn close(&mut self) -> Result<()> {
        Ok(())
    }
}

/// A worker's records builder (keeping a batch), counting the events pushed into it.
struct WorkerOut {
    records: RecordBuilder,
    events: u64,
}

impl Stage for WorkerOut {
    #[inline(always)]
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        self.events += 1;
        if let Item::Event(ev) = item {
            // A batched builder keeps its records.
            let _ = self.records.event(ev);
        }
        Ok(Flow::Continue)
    }
    fn origin(&mut self, _origin: Origin<'_>) -> Result<()> {
        Ok(())
    }
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
    fn close(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Everything a worker needs to know.
struct Job {
    map: Arc<SafeMap>,
    /// Where the parts begin (the first part starts at the first cut at or after it).
    first: usize,
    part: usize,
    key: Vec<u8>,
    decl: Declarations,
    target: Target,
    /// The depth a part is assumed to start at.
    depth: usize,
    strict: bool,
}

fn work(job: &Job, pool: &Pool, done: mpsc::Sender<(usize, Outcome)>, wake: Option<UnixStream>) {
    let data: &[u8] = &job.map;
    let key = Finder::new(&job.key);
    let mut parser = Parser::speculative(&job.decl);
    let mut out = WorkerOut {
        records: RecordBuilder::batched(job.target.clone(), job.depth),
        events: 0,
    };
    let send = |k: usize, outcome: Outcome| {
        let sent = done.send((k, outcome)).is_ok();
        if let Some(w) = &wake {
            // A full socket already holds a wake-up.
            let _ = (&*w).write(&[1]);
        }
        sent
    };
    while let Some((k, batch)) = pool.take() {
        let bound = |k: usize| {
            let from = job.first.checked_add(k.checked_mul(job.part)?)?;
            if from >= data.len() {
                return None;
            }
            cut(data, from, &key)
        };
        let (Some(start), Some(end)) = (bound(k), bound(k + 1)) else {
            pool.give_back(batch);
            send(k, Outcome::End);
            return;
        };
        let outcome = if start == end {
            Outcome::Empty(batch)
        } else {
            out.records.restart(job.depth, batch);
            out.events = 0;
            let parsed = panic::catch_unwind(AssertUnwindSafe(|| {
                parse_part(job, data, start, end, &mut parser, &mut out)
            }));
            let batch = out.records.take_batch();
            match parsed {
                Ok(Some((newlines, tail))) => Outcome::Parsed(Part {
                    start,
                    end,
                    batch,
                    events: out.events,
                    popped: std::mem::take(&mut parser.popped),
                    open: parser.open_names(),
                    deepest: parser.deepest,
                    expanded: parser.expanded(),
                    newlines,
                    tail,
                }),
                Ok(None) => Outcome::Failed(batch),
                Err(_) => {
                    // A bug, not the input's fault: start afresh; the main thread parses
                    // the part (and meets the same bug in its own thread).
                    parser = Parser::speculative(&job.decl);
                    out.records = RecordBuilder::batched(job.target.clone(), job.depth);
                    Outcome::Failed(batch)
                }
            }
        };
        if !send(k, outcome) {
            return;
        }
    }
}

/// Parse `data[start..end]`; its line ends and the characters after the last one, or
/// `None` when the part cannot be used as it is.
fn parse_part(
    job: &Job,
    data: &[u8],
    start: usize,
    end: usize,
    parser: &mut Parser,
    out: &mut WorkerOut,
) -> Option<(u64, u64)> {
    let part = &data[start..end];
    // The tokenizer reads only checked text: what the main parser's input would check.
    if std::str::from_utf8(part).is_err()
        || (job.strict && input::first_illegal_char(part).is_some())
    {
        return None;
    }
    // The part and the `<` that starts the next one, so that text ends where it does.
    let d = &data[start..=end];
    match parser.parse_part(d, end - start, out) {
        Ok(true) if out.records.idle() => {}
        _ => return None,
    }
    let newlines = memchr::memchr_iter(b'\n', part).count() as u64;
    let last_line = memchr::memrchr(b'\n', part).map_or(part, |i| &part[i + 1..]);
    Some((newlines, input::count_chars(last_line)))
}

/// Parse the mapped file `map` into `plan.records`, cutting it into parts parsed in
/// parallel when it has record starts to cut at (see the module docs). `located` makes a
/// parser failure an error with its position.
#[allow(clippy::too_many_arguments)]
pub fn parse(
    map: Arc<SafeMap>,
    strict: bool,
    split: Split,
    meter: &Meter,
    interrupt: &Interrupt,
    seq: &mut Building<'_>,
    located: &dyn Fn(Fail, Option<&Input>) -> anyhow::Error,
) -> Result<()> {
    let mut d = Driver::new(map, strict, split, meter, interrupt, false, located)?;
    match d.advance(seq, u64::MAX) {
        Ok(_) => Ok(()),
        Err(e) => Err(located(e, Some(&d.p.input))),
    }
}

/// What [`Driver::advance`] came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// The budget is spent: call again.
    More,
    /// The next part is still being parsed by a worker: call again once this descriptor
    /// is readable (a worker writes into it after each part).
    Waiting(RawFd),
    /// The parse has ended: the input ended, or the stage after `records` stopped.
    Done,
}

/// The parse of a mapped file in parts (see the module docs) as a state machine that does
/// a bounded amount of work per call ([`Driver::advance`]): the direct path calls it once
/// with no bound; the `xml` task of the scheduler calls it once per turn, and while the
/// next part is still being parsed it waits for the workers' wake-up descriptor in the
/// scheduler's readiness call, never in a blocking receive.
pub struct Driver {
    /// The main parser: the one true parse.
    pub p: Parser,
    map: Arc<SafeMap>,
    split: Split,
    strict: bool,
    interrupt: Interrupt,
    meter: Meter,
    /// The bytes of the file told to the meter so far.
    metered: usize,
    skipped: usize,
    /// Whether the workers wake a waiting task ([`Progress::Waiting`]) rather than the
    /// main thread blocking on them.
    wakes: bool,
    phase: Phase,
}

enum Phase {
    /// Alone until inside the root (past the DOCTYPE), and, for `--depth D`, inside the
    /// first record, whose name is the key to cut at.
    Start,
    /// Workers parse the parts.
    Parts(Box<Running>),
    /// The main parser alone to the end (the workers, if any, are stopped at the end).
    Rest(Option<Box<Running>>),
    Done,
}

/// The workers and what came back from them.
struct Running {
    pool: Arc<Pool>,
    rx: mpsc::Receiver<(usize, Outcome)>,
    /// The read end of the workers' wake-ups (when the driver `wakes`).
    wake: Option<UnixStream>,
    workers: Vec<std::thread::JoinHandle<()>>,
    waiting: BTreeMap<usize, Outcome>,
    /// The next part to take on.
    k: usize,
    parts: Parts,
    released: usize,
    /// A parsed part the main parser is on its way to (its budget was spent).
    next: Option<Part>,
}

impl Drop for Running {
    /// Stop the workers (each finishes the part it is parsing) and wait for them.
    fn drop(&mut self) {
        self.pool.stop();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl Driver {
    /// The main parser over the map; `located` names the file (for warnings) and makes
    /// an error of a failure to start (the encoding).
    pub fn new(
        map: Arc<SafeMap>,
        strict: bool,
        split: Split,
        meter: &Meter,
        interrupt: &Interrupt,
        wakes: bool,
        located: &dyn Fn(Fail, Option<&Input>) -> anyhow::Error,
    ) -> Result<Self> {
        let reader = MapReader {
            map: map.clone(),
            pos: 0,
            interrupt: interrupt.clone(),
        };
        let input =
            Input::with_capacity(Box::new(reader), strict, input::CAPACITY, Meter::default())
                .map_err(|e| located(e.into(), None))?;
        let mut p = Parser::new(input, strict);
        // The file's name, for warnings: the one `located` puts in its errors.
        p.file = located(Fail::Abs(0, String::new()), None)
            .downcast_ref::<super::XmlError>()
            .map(|e| e.file.as_str().into());
        let skipped = p.input.skipped;
        Ok(Driver {
            p,
            map,
            split,
            strict,
            interrupt: interrupt.clone(),
            meter: meter.clone(),
            metered: 0,
            skipped,
            wakes,
            phase: Phase::Start,
        })
    }

    /// Parse on, pushing into `seq`, until about `budget` bytes of the file were parsed
    /// or adopted, the next part is not ready (when the driver `wakes`), or the end.
    pub fn advance(&mut self, seq: &mut Building<'_>, budget: u64) -> Result<Progress, Fail> {
        let start = self.p.input.offset(0);
        let spent = |p: &Parser| p.input.offset(0).saturating_sub(start);
        loop {
            match std::mem::replace(&mut self.phase, Phase::Done) {
                Phase::Done => return Ok(Progress::Done),
                Phase::Start => {
                    const STEP: u64 = 4096;
                    if spent(&self.p) >= budget {
                        self.phase = Phase::Start;
                        return Ok(Progress::More);
                    }
                    let here = self.p.input.offset(0);
                    match self.p.run_to(here + STEP, seq)? {
                        Reach::Ended | Reach::Stopped => return Ok(self.done()),
                        Reach::At | Reach::Past | Reach::Blocked(_) => {}
                    }
                    self.phase = self.cut_at(seq, here)?;
                }
                Phase::Rest(running) => {
                    let stop = start.saturating_add(budget);
                    match self.p.run_to(stop, seq)? {
                        Reach::Ended | Reach::Stopped => return Ok(self.done()),
                        Reach::At | Reach::Past | Reach::Blocked(_) => {
                            self.phase = Phase::Rest(running);
                            return Ok(Progress::More);
                        }
                    }
                }
                Phase::Parts(mut running) => {
                    let left = budget.saturating_sub(spent(&self.p));
                    match self.parts(&mut running, seq, left)? {
                        Some(progress) => {
                            self.phase = if progress == Progress::Done {
                                Phase::Done
                            } else {
                                Phase::Parts(running)
                            };
                            return Ok(if progress == Progress::Done {
                                self.done()
                            } else {
                                progress
                            });
                        }
                        None => self.phase = Phase::Rest(Some(running)),
                    }
                }
            }
        }
    }

    /// The parse ended well: the rest of the file is told to the meter.
    fn done(&mut self) -> Progress {
        self.phase = Phase::Done;
        self.meter.read(self.map.len().saturating_sub(self.metered));
        self.metered = self.map.len();
        Progress::Done
    }

    /// After a step of the start: still [`Phase::Start`], or the parts (the key found),
    /// or the main parser alone when the file cannot be cut.
    fn cut_at(&mut self, seq: &mut Building<'_>, here: u64) -> Result<Phase, Fail> {
        let p = &self.p;
        if !p.input.is_plain_utf8() || here > 1 << 20 {
            return Ok(Phase::Rest(None));
        }
        if p.depth() == 0 {
            return Ok(Phase::Start);
        }
        let target = seq.builder.target().clone();
        let (key, depth) = match &target {
            Target::Name(n) => (n.clone(), p.depth() + super::parser::MAX_DEPTH),
            Target::Depth(d) if *d >= 2 && p.depth() >= *d => {
                (p.open_names()[*d - 1].clone(), *d - 1)
            }
            Target::Depth(1) => return Ok(Phase::Rest(None)),
            Target::Depth(_) => return Ok(Phase::Start),
        };
        let Some(decl) = p.declarations() else {
            return Ok(Phase::Rest(None));
        };
        // Where the stage after `records` only writes each record's JSON (`print`), the
        // workers render the records too, and the main thread only copies their bytes out.
        let render = seq.next.takes_rendered();
        let job = Arc::new(Job {
            map: self.map.clone(),
            first: p.input.offset(0) as usize + self.skipped,
            part: self.split.part,
            key: format!("<{key}").into_bytes(),
            decl,
            target,
            depth,
            strict: self.strict,
        });
        let pool = Arc::new(Pool {
            state: Mutex::new(PoolState {
                free: (0..Pool::batches(self.split.threads))
                    .map(|_| {
                        if render {
                            Batch::rendering()
                        } else {
                            Batch::default()
                        }
                    })
                    .collect(),
                next: 0,
                stop: false,
            }),
            wake: Condvar::new(),
        });
        let (wake_tx, wake_rx) = if self.wakes {
            let (a, b) = UnixStream::pair().map_err(|e| {
                Fail::Other(anyhow::Error::new(e).context("cannot create a socket"))
            })?;
            for s in [&a, &b] {
                s.set_nonblocking(true).map_err(|e| Fail::Other(e.into()))?;
            }
            (Some(a), Some(b))
        } else {
            (None, None)
        };
        let (tx, rx) = mpsc::channel();
        let mut running = Box::new(Running {
            pool: pool.clone(),
            rx,
            wake: wake_rx,
            workers: Vec::with_capacity(self.split.threads),
            waiting: BTreeMap::new(),
            k: 0,
            parts: Parts {
                threads: self.split.threads,
                ..Parts::default()
            },
            released: 0,
            next: None,
        });
        for _ in 0..self.split.threads {
            let (job, pool, tx) = (job.clone(), pool.clone(), tx.clone());
            let wake = match &wake_tx {
                Some(w) => Some(w.try_clone().map_err(|e| Fail::Other(e.into()))?),
                None => None,
            };
            let spawned = std::thread::Builder::new()
                .name("copipe-xml".into())
                .spawn(move || work(&job, &pool, tx, wake))
                .map_err(|e| Fail::Other(anyhow::Error::new(e).context("cannot start a thread")))?;
            running.workers.push(spawned);
        }
        Ok(Phase::Parts(running))
    }

    /// Take on the parts in order, parsing what no part covers, until `budget` bytes
    /// were parsed or adopted (`Some(More)`), the next part is not ready (`Some(Waiting)`),
    /// the parse ended (`Some(Done)`) or the parts did (`None`: the rest is the main
    /// parser's).
    fn parts(
        &mut self,
        r: &mut Running,
        seq: &mut Building<'_>,
        budget: u64,
    ) -> Result<Option<Progress>, Fail> {
        let p = &mut self.p;
        let (map, skipped, meter) = (&self.map, self.skipped, &self.meter);
        let start = p.input.offset(0);
        loop {
            let part = match r.next.take() {
                Some(part) => part,
                None => {
                    let k = r.k;
                    let outcome = loop {
                        if let Some(o) = r.waiting.remove(&k) {
                            break o;
                        }
                        match &r.wake {
                            Some(w) => {
                                // The wake-ups first, then the outcomes: one sent after
                                // the last taken leaves a wake-up behind.
                                let mut sink = [0u8; 64];
                                while matches!((&*w).read(&mut sink), Ok(n) if n > 0) {}
                                let mut any = false;
                                loop {
                                    match r.rx.try_recv() {
                                        Ok((j, o)) => {
                                            r.waiting.insert(j, o);
                                            any = true;
                                        }
                                        Err(mpsc::TryRecvError::Empty) => break,
                                        Err(mpsc::TryRecvError::Disconnected) => {
                                            r.waiting.entry(k).or_insert(Outcome::End);
                                            any = true;
                                            break;
                                        }
                                    }
                                }
                                if !any {
                                    return Ok(Some(Progress::Waiting(w.as_raw_fd())));
                                }
                            }
                            None => match r.rx.recv() {
                                Ok((j, o)) => {
                                    r.waiting.insert(j, o);
                                }
                                // Every worker is gone (none should be before the end).
                                Err(_) => break Outcome::End,
                            },
                        }
                    };
                    r.k += 1;
                    if let Some(sig) = self.interrupt.pending() {
                        return Err(Fail::Other(io::Error::other(Stopped(sig)).into()));
                    }
                    match outcome {
                        Outcome::End => return Ok(None),
                        Outcome::Empty(b) => {
                            r.pool.give_back(b);
                            continue;
                        }
                        Outcome::Failed(b) => {
                            r.parts.again += 1;
                            r.pool.give_back(b);
                            continue;
                        }
                        Outcome::Parsed(part) => part,
                    }
                }
            };
            // The main parser goes to the part's start: parsing, itself, what no part
            // covered (the parts that failed), within the budget.
            let target = (part.start - skipped) as u64;
            let spent = p.input.offset(0).saturating_sub(start);
            if spent >= budget && p.input.offset(0) < target {
                r.next = Some(part);
                return Ok(Some(Progress::More));
            }
            let stop = target.min(p.input.offset(0).saturating_add(budget - spent));
            let mut reach = p.run_to(stop, seq)?;
            if matches!(reach, Reach::At | Reach::Past) {
                if p.input.offset(0) < target {
                    r.next = Some(part);
                    return Ok(Some(Progress::More));
                }
                reach = p.run_to(target, seq)?;
            }
            let stop = match reach {
                // The part was parsed from the map: adopted only if the file still holds
                // it (a truncated file is then read, and reported, by the main parser).
                Reach::At if adoptable(p, seq.builder, &part) && map.intact(part.end + 1) => {
                    r.parts.parallel += 1;
                    meter.set_parts(r.parts);
                    let reader = MapReader {
                        map: map.clone(),
                        pos: part.end,
                        interrupt: self.interrupt.clone(),
                    };
                    adopt(p, seq, &part, reader)?
                }
                Reach::At | Reach::Past | Reach::Blocked(_) => {
                    r.parts.again += 1;
                    false
                }
                Reach::Ended | Reach::Stopped => true,
            };
            let at = p.input.offset(0) as usize + skipped;
            meter.read(at - self.metered);
            self.metered = at;
            release(map.map(), &mut r.released, at);
            r.pool.give_back(part.batch);
            meter.set_parts(r.parts);
            if stop {
                return Ok(Some(Progress::Done));
            }
            if p.input.offset(0).saturating_sub(start) >= budget {
                return Ok(Some(Progress::More));
            }
        }
    }
}

/// Whether the main parser, standing at the part's start, can take the part as parsed.
fn adoptable(p: &Parser, records: &RecordBuilder, part: &Part) -> bool {
    records.idle()
        && match records.target() {
            Target::Depth(d) => records.depth() == d - 1,
            Target::Name(_) => true,
        }
        && p.can_adopt(&part.popped, part.deepest, part.expanded)
}

/// Push the part's records on and move the main parser to its end; `true` when the
/// stage after `records` wants nothing more.
fn adopt(
    p: &mut Parser,
    seq: &mut Building<'_>,
    part: &Part,
    reader: MapReader,
) -> Result<bool, Fail> {
    if let Some(c) = seq.counter {
        c.add(part.events);
    }
    let next = &mut *seq.next;
    if part.batch.renders() {
        if next.send_rendered(part.batch.rendered())?.is_stop() {
            return Ok(true);
        }
    } else {
        for rec in part.batch.records() {
            if next.send(Item::Record(rec))?.is_stop() {
                return Ok(true);
            }
        }
    }
    p.adopt(part.popped.len(), &part.open, part.expanded);
    let depth = seq.builder.depth() - part.popped.len() + part.open.len();
    seq.builder.set_depth(depth);
    let to = (part.end - p.input.skipped) as u64;
    p.input.jump(to, part.newlines, part.tail, Box::new(reader));
    Ok(false)
}

/// Give the pages of the map before `upto` back (they stay in the page cache): the resident
/// size stays that of the parts in flight, whatever the size of the file.
fn release(map: &memmap2::Mmap, released: &mut usize, upto: usize) {
    // In steps of 8 MiB: each release interrupts the other threads (to flush their TLBs).
    const STEP: usize = 8 << 20;
    let upto = upto / STEP * STEP;
    if upto <= *released {
        return;
    }
    // SAFETY: the map is a read-only shared mapping of a file: dropped pages are read
    // again from the file if touched (the main parser has copied what it read before
    // `upto`, and the workers read only later parts; a worker still reading a page would
    // see the same bytes again).
    let _ = unsafe {
        map.unchecked_advise_range(
            memmap2::UncheckedAdvice::DontNeed,
            *released,
            upto - *released,
        )
    };
    *released = upto;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::render;

    /// A `print`: what it writes, and how each piece came (record by record or rendered).
    #[derive(Default)]
    struct Printed {
        out: Vec<u8>,
        rendered: bool,
        sent: usize,
        batches: usize,
    }

    impl Stage for Printed {
        fn send(&mut self, item: Item<'_>) -> Result<Flow> {
            self.sent += 1;
            render(&mut self.out, &item);
            self.out.push(b'\n');
            Ok(Flow::Continue)
        }
        fn takes_rendered(&self) -> bool {
            self.rendered
        }
        fn send_rendered(&mut self, ndjson: &[u8]) -> Result<Flow> {
            assert!(
                self.rendered,
                "rendered records sent to a stage that takes none"
            );
            self.batches += 1;
            self.out.extend_from_slice(ndjson);
            Ok(Flow::Continue)
        }
        fn origin(&mut self, _: Origin<'_>) -> Result<()> {
            Ok(())
        }
        fn flush(&mut self) -> Result<()> {
            Ok(())
        }
        fn close(&mut self) -> Result<()> {
            Ok(())
        }
    }

    fn parse_in_parts(doc: &[u8], target: Target, rendered: bool) -> (Printed, Result<()>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feed.xml");
        std::fs::write(&path, doc).unwrap();
        let map = Arc::new(SafeMap::new(&std::fs::File::open(&path).unwrap()).unwrap());
        let mut builder = RecordBuilder::new(target);
        let mut printed = Printed {
            rendered,
            ..Printed::default()
        };
        let r = parse(
            map,
            true,
            Split {
                threads: 2,
                part: 256,
            },
            &Meter::default(),
            &Interrupt::none(),
            &mut Building {
                builder: &mut builder,
                next: &mut printed,
                counter: None,
            },
            &|fail, input| super::super::located("feed.xml", fail, input),
        );
        (printed, r)
    }

    /// Where the stage after `records` takes records rendered (`print`), the workers render
    /// them and adopted parts come as one piece of JSON lines: the same bytes as each record
    /// sent and rendered by the stage, the parts parsed again (a bad one here) sent record
    /// by record, and nothing rendered for a stage that does not take it.
    #[test]
    fn workers_render_the_records_of_parts_for_a_stage_that_takes_them() {
        let mut doc = String::from("<?xml version=\"1.0\"?>\n<buses>\n");
        for i in 0..600 {
            doc += &format!(
                "  <bus id=\"{i}\"><route>{}</route><dir> North &amp; Bound </dir>\
                 <stop>A</stop><stop>B\n</stop><empty/></bus>\n",
                i % 7
            );
            if i == 300 {
                // A part the workers cannot take (a comment holding a record start).
                doc += "  <!-- <bus id=\"no\"> -->\n";
            }
        }
        doc += "</buses>\n";
        for target in [Target::Name("bus".into()), Target::Depth(2)] {
            let (one, r) = parse_in_parts(doc.as_bytes(), target.clone(), false);
            r.unwrap();
            assert_eq!(one.batches, 0);
            assert_eq!(one.sent, 600);
            let (got, r) = parse_in_parts(doc.as_bytes(), target.clone(), true);
            r.unwrap();
            assert_eq!(
                String::from_utf8_lossy(&got.out),
                String::from_utf8_lossy(&one.out),
                "{target:?}"
            );
            assert!(
                got.batches > 10,
                "{target:?}: {} parts rendered",
                got.batches
            );
            assert!(got.sent < 600, "{target:?}");
        }
        // An error after many parts: every record before it is out, rendered or not.
        let bad = doc.replace(
            "<bus id=\"450\"><route>2</route>",
            "<bus id=\"450\"><route>2</rout>",
        );
        assert_ne!(bad, doc);
        let (one, r1) = parse_in_parts(bad.as_bytes(), Target::Name("bus".into()), false);
        let (got, r2) = parse_in_parts(bad.as_bytes(), Target::Name("bus".into()), true);
        let (e1, e2) = (r1.unwrap_err().to_string(), r2.unwrap_err().to_string());
        assert_eq!(e1, e2);
        assert_eq!(got.out, one.out);
        assert!(e1.contains("feed.xml:"), "{e1}");
        assert_eq!(one.out.iter().filter(|&&b| b == b'\n').count(), 450);
        assert!(got.batches > 0);
    }
}
