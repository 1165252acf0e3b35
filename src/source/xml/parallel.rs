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
//! Memory stays bounded: at most [`Pool::batches`] parts are parsed ahead, and the pages
//! of the map that are behind the main parser are released.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};

use anyhow::Result;
use memchr::memmem::Finder;

use super::input::{self, Input};
use super::parser::{Declarations, Fail, Parser, Reach};
use crate::item::{Item, Origin};
use crate::runtime::map::{SafeMap, Truncated};
use crate::runtime::meter::{Meter, Parts};
use crate::runtime::signal::{Interrupt, Stopped};
use crate::stage::records::{Batch, Counter, Records, Target};
use crate::stage::{Flow, Stage};

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

/// Stops the workers however the main thread leaves.
struct StopOnDrop<'a>(&'a Pool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.stop();
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

/// The stage the main parser pushes its events into: `records`, counted for `--stats`.
pub(super) struct Counting<'a> {
    pub(super) records: &'a mut Records,
    pub(super) counters: &'a [Counter],
}

impl Stage for Counting<'_> {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        for c in self.counters {
            c.add(1);
        }
        self.records.send(item)
    }
    fn origin(&mut self, origin: Origin<'_>) -> Result<()> {
        self.records.origin(origin)
    }
    fn flush(&mut self) -> Result<()> {
        self.records.flush()
    }
    fn close(&mut self) -> Result<()> {
        Ok(())
    }
}

/// A worker's `records`, counting the events pushed into it.
struct WorkerOut {
    records: Records,
    events: u64,
}

impl Stage for WorkerOut {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        self.events += 1;
        self.records.send(item)
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
struct Job<'a> {
    data: &'a [u8],
    /// Where the parts begin (the first part starts at the first cut at or after it).
    first: usize,
    part: usize,
    key: &'a [u8],
    decl: &'a Declarations,
    target: Target,
    /// The depth a part is assumed to start at.
    depth: usize,
    strict: bool,
}

fn work(job: &Job<'_>, pool: &Pool, done: mpsc::Sender<(usize, Outcome)>) {
    let key = Finder::new(job.key);
    let mut parser = Parser::speculative(job.decl);
    let mut out = WorkerOut {
        records: Records::batched(job.target.clone(), job.depth),
        events: 0,
    };
    while let Some((k, batch)) = pool.take() {
        let bound = |k: usize| {
            let from = job.first.checked_add(k.checked_mul(job.part)?)?;
            if from >= job.data.len() {
                return None;
            }
            cut(job.data, from, &key)
        };
        let (Some(start), Some(end)) = (bound(k), bound(k + 1)) else {
            pool.give_back(batch);
            let _ = done.send((k, Outcome::End));
            return;
        };
        let outcome = if start == end {
            Outcome::Empty(batch)
        } else {
            out.records.restart(job.depth, batch);
            out.events = 0;
            let parsed = panic::catch_unwind(AssertUnwindSafe(|| {
                parse_part(job, start, end, &mut parser, &mut out)
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
                    parser = Parser::speculative(job.decl);
                    out.records = Records::batched(job.target.clone(), job.depth);
                    Outcome::Failed(batch)
                }
            }
        };
        if done.send((k, outcome)).is_err() {
            return;
        }
    }
}

/// Parse `data[start..end]`; its line ends and the characters after the last one, or
/// `None` when the part cannot be used as it is.
fn parse_part(
    job: &Job<'_>,
    start: usize,
    end: usize,
    parser: &mut Parser,
    out: &mut WorkerOut,
) -> Option<(u64, u64)> {
    let part = &job.data[start..end];
    // The tokenizer reads only checked text: what the main parser's input would check.
    if std::str::from_utf8(part).is_err()
        || (job.strict && input::first_illegal_char(part).is_some())
    {
        return None;
    }
    // The part and the `<` that starts the next one, so that text ends where it does.
    let d = &job.data[start..=end];
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
    records: &mut Records,
    counters: &[Counter],
    located: &dyn Fn(Fail, Option<&Input>) -> anyhow::Error,
) -> Result<()> {
    let reader = MapReader {
        map: map.clone(),
        pos: 0,
        interrupt: interrupt.clone(),
    };
    let input = Input::with_capacity(Box::new(reader), strict, input::CAPACITY, Meter::default())
        .map_err(|e| located(e.into(), None))?;
    let mut seq = Counting { records, counters };
    let mut p = Parser::new(input, strict);
    // The file's name, for warnings: the one `located` puts in its errors.
    p.file = located(Fail::Abs(0, String::new()), None)
        .downcast_ref::<super::XmlError>()
        .map(|e| e.file.as_str().into());
    let mut metered = 0;
    let r = run(
        &mut p,
        &mut seq,
        &map,
        split,
        strict,
        interrupt,
        meter,
        &mut metered,
    );
    let r = match r {
        Ok(()) => Ok(()),
        Err(e) => Err(located(e, Some(&p.input))),
    };
    if r.is_ok() {
        meter.read(map.len().saturating_sub(metered));
    }
    r
}

#[allow(clippy::too_many_arguments)]
fn run(
    p: &mut Parser,
    seq: &mut Counting<'_>,
    map: &Arc<SafeMap>,
    split: Split,
    strict: bool,
    interrupt: &Interrupt,
    meter: &Meter,
    metered: &mut usize,
) -> Result<(), Fail> {
    let data: &[u8] = map;
    let skipped = p.input.skipped;
    // Parse alone until inside the root (past the DOCTYPE), and, for `--depth D`, inside
    // the first record, whose name is the key to cut at.
    const STEP: u64 = 4096;
    let target = seq.records.target().clone();
    let (key, depth) = loop {
        let here = p.input.offset(0);
        match p.run_to(here + STEP, seq)? {
            Reach::Ended | Reach::Stopped => return Ok(()),
            Reach::At | Reach::Past => {}
        }
        if !p.input.is_plain_utf8() || here > 1 << 20 {
            return p.run(seq);
        }
        if p.depth() == 0 {
            continue;
        }
        match &target {
            Target::Name(n) => break (n.clone(), p.depth() + super::parser::MAX_DEPTH),
            Target::Depth(d) if *d >= 2 && p.depth() >= *d => {
                break (p.open_names()[*d - 1].clone(), *d - 1);
            }
            Target::Depth(1) => return p.run(seq),
            Target::Depth(_) => continue,
        }
    };
    let Some(decl) = p.declarations() else {
        return p.run(seq);
    };
    let key = format!("<{key}");
    let job = Job {
        data,
        first: p.input.offset(0) as usize + skipped,
        part: split.part,
        key: key.as_bytes(),
        decl: &decl,
        target,
        depth,
        strict,
    };
    let pool = Pool {
        state: Mutex::new(PoolState {
            free: (0..Pool::batches(split.threads))
                .map(|_| Batch::default())
                .collect(),
            next: 0,
            stop: false,
        }),
        wake: Condvar::new(),
    };
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|scope| {
        let _stop = StopOnDrop(&pool);
        for _ in 0..split.threads {
            let tx = tx.clone();
            let (job, pool) = (&job, &pool);
            scope.spawn(move || work(job, pool, tx));
        }
        drop(tx);
        let mut waiting = BTreeMap::new();
        let mut parts = Parts {
            threads: split.threads,
            ..Parts::default()
        };
        let mut released = 0;
        for k in 0.. {
            let outcome = loop {
                if let Some(o) = waiting.remove(&k) {
                    break o;
                }
                match rx.recv() {
                    Ok((j, o)) => {
                        waiting.insert(j, o);
                    }
                    // Every worker is gone (none should be before the end).
                    Err(_) => break Outcome::End,
                }
            };
            if let Some(sig) = interrupt.pending() {
                return Err(Fail::Other(io::Error::other(Stopped(sig)).into()));
            }
            let part = match outcome {
                Outcome::End => break,
                Outcome::Empty(b) => {
                    pool.give_back(b);
                    continue;
                }
                Outcome::Failed(b) => {
                    parts.again += 1;
                    pool.give_back(b);
                    continue;
                }
                Outcome::Parsed(part) => part,
            };
            let reach = p.run_to((part.start - skipped) as u64, seq)?;
            let stop = match reach {
                // The part was parsed from the map: adopted only if the file still holds
                // it (a truncated file is then read, and reported, by the main parser).
                Reach::At if adoptable(p, seq.records, &part) && map.intact(part.end + 1) => {
                    parts.parallel += 1;
                    meter.set_parts(parts);
                    let reader = MapReader {
                        map: map.clone(),
                        pos: part.end,
                        interrupt: interrupt.clone(),
                    };
                    adopt(p, seq, &part, reader)?
                }
                Reach::At | Reach::Past => {
                    parts.again += 1;
                    false
                }
                Reach::Ended | Reach::Stopped => true,
            };
            let at = p.input.offset(0) as usize + skipped;
            meter.read(at - *metered);
            *metered = at;
            release(map.map(), &mut released, at);
            pool.give_back(part.batch);
            meter.set_parts(parts);
            if stop {
                return Ok(());
            }
        }
        p.run(seq)
    })
}

/// Whether the main parser, standing at the part's start, can take the part as parsed.
fn adoptable(p: &Parser, records: &Records, part: &Part) -> bool {
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
    seq: &mut Counting<'_>,
    part: &Part,
    reader: MapReader,
) -> Result<bool, Fail> {
    for c in seq.counters {
        c.add(part.events);
    }
    let next = seq.records.next_stage();
    for rec in part.batch.records() {
        if next.send(Item::Record(rec))?.is_stop() {
            return Ok(true);
        }
    }
    p.adopt(part.popped.len(), &part.open, part.expanded);
    let depth = seq.records.depth() - part.popped.len() + part.open.len();
    seq.records.set_depth(depth);
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
