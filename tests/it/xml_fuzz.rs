//! Property-based fuzzing of the `xml` source: random bytes, XML-ish token soup, and
//! mutations of the fixture documents are parsed, and for each:
//!
//! * nothing panics (a panic fails the case);
//! * memory stays bounded: the peak of live heap bytes during the parse (a counting global
//!   allocator) stays under 64 MiB + 4 × the input (entity expansion may reach 16 MiB);
//! * a rejection is an `XmlError` whose line and column lie inside the input;
//! * the result does not depend on how the input arrives: a 16-byte window fed by a reader
//!   that returns a few bytes per read gives the same events and the same error as the
//!   normal 128 KiB window;
//! * `--no-check` accepts whatever strict mode accepts, with the same events.
//!
//! `cargo test` runs a few hundred cases. A long run (reported in the README):
//!
//!     COPIPE_FUZZ_SECONDS=600 cargo test --release --test it xml_fuzz:: -- --nocapture
//!
//! runs batches until the time is up and prints how many documents it tried.

use crate::common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use copipe::item::{Item, Origin, render};
use copipe::protocol::{Flow, Stage};
use copipe::runtime::meter::Meter;
use copipe::source::xml::{XmlError, parse_with_capacity};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

/// Counts live heap bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: forwarded to the system allocator with the same layout.
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: forwarded to the system allocator with the same layout.
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        // SAFETY: forwarded to the system allocator with the same layout.
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            if new >= l.size() {
                let now = LIVE.fetch_add(new - l.size(), Ordering::Relaxed) + new - l.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(l.size() - new, Ordering::Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Keeps the events as NDJSON, up to a bound (entity expansion can make many).
#[derive(Default)]
struct Events {
    text: Vec<u8>,
    n: usize,
}

impl Stage for Events {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        self.n += 1;
        if self.text.len() < 1 << 20 {
            render(&mut self.text, &item);
            self.text.push(b'\n');
        }
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

/// A reader that hands out a few bytes per read.
struct Trickle {
    data: Vec<u8>,
    pos: usize,
    step: usize,
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (1 + self.pos % self.step)
            .min(buf.len())
            .min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

type Outcome = (Vec<u8>, usize, Option<XmlError>);

fn run(doc: &[u8], strict: bool, small: bool) -> Result<Outcome, TestCaseError> {
    let mut ev = Events::default();
    let reader: Box<dyn Read> = if small {
        Box::new(Trickle {
            data: doc.to_vec(),
            pos: 0,
            step: 7,
        })
    } else {
        Box::new(std::io::Cursor::new(doc.to_vec()))
    };
    let cap = if small { 16 } else { 128 * 1024 };
    let r = parse_with_capacity("fuzz", reader, strict, cap, &Meter::default(), &mut ev);
    let err = match r {
        Ok(()) => None,
        Err(e) => match e.downcast::<XmlError>() {
            Ok(x) => Some(x),
            Err(e) => return Err(TestCaseError::fail(format!("not an XmlError: {e:#}"))),
        },
    };
    Ok((ev.text, ev.n, err))
}

fn check(doc: &[u8]) -> Result<(), TestCaseError> {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let strict = run(doc, true, false)?;
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    let bound = (64 << 20) + 4 * doc.len();
    prop_assert!(
        peak <= bound,
        "peak heap {peak} bytes for a {}-byte input",
        doc.len()
    );
    if let Some(x) = &strict.2 {
        let lines = doc.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        prop_assert!(
            x.line >= 1 && x.line <= lines,
            "line {} of {lines}: {x}",
            x.line
        );
        prop_assert!(
            x.column >= 1 && x.column <= doc.len() as u64 + 1,
            "column {} of a {}-byte input: {x}",
            x.column,
            doc.len()
        );
        prop_assert!(x.message.len() > 5, "{x}");
    }
    let small = run(doc, true, true)?;
    prop_assert_eq!(&small.2, &strict.2, "error depends on the window");
    prop_assert_eq!(small.1, strict.1, "event count depends on the window");
    prop_assert!(small.0 == strict.0, "events depend on the window");
    if strict.2.is_none() {
        let loose = run(doc, false, false)?;
        prop_assert!(loose.2.is_none(), "--no-check refuses: {:?}", loose.2);
        prop_assert!(loose.0 == strict.0, "--no-check gives other events");
    }
    Ok(())
}

/// The fixture documents, as seeds for mutation.
fn seeds() -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    for dir in ["xml/wf", "xml/not-wf", "xml", "xml/bad"] {
        let Ok(rd) = std::fs::read_dir(common::fixture(dir)) else {
            continue;
        };
        let mut paths: Vec<_> = rd
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        paths.sort();
        for p in paths {
            v.push(std::fs::read(p).unwrap());
        }
    }
    v.push(std::fs::read(common::fixture("buses.xml")).unwrap());
    v
}

const TOKENS: &[&str] = &[
    "<",
    ">",
    "</",
    "/>",
    "<?",
    "?>",
    "<!--",
    "-->",
    "<![CDATA[",
    "]]>",
    "<!DOCTYPE r [",
    "]>",
    "<!ENTITY e \"",
    "<!ENTITY % p \"",
    "\">",
    "<!ELEMENT r (a|b)*>",
    "<!ATTLIST r a CDATA \"",
    "&amp;",
    "&e;",
    "&#",
    "&#x",
    ";",
    "%p;",
    "r",
    "a",
    "bus",
    "ns:a",
    "=",
    "\"",
    "'",
    " ",
    "\n",
    "\r\n",
    "\t",
    "x",
    "é",
    "\u{FFFF}",
    "\u{0}",
    "-",
    "--",
    "]",
    "[",
    "#PCDATA",
    "SYSTEM",
    "<?xml version=\"1.0\"?>",
    "encoding=\"UTF-16\"",
    "\u{FEFF}",
    "&lt;",
    "<r>",
    "</r>",
    "<a b='c'>",
    "</a>",
];

fn doc_strategy(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let n = seeds.len();
    let mutated = (
        0..n,
        prop::collection::vec(
            (any::<u8>(), any::<u16>(), any::<u16>(), 0..TOKENS.len()),
            1..8,
        ),
    )
        .prop_map(move |(i, edits)| {
            let mut d = seeds[i].clone();
            for (op, a, b, t) in edits {
                let len = d.len().max(1);
                let (a, b) = (a as usize % len, b as usize % len);
                let (lo, hi) = (a.min(b).min(d.len()), a.max(b).min(d.len()));
                match op % 6 {
                    0 => {
                        d.insert(lo.min(d.len()), op);
                    }
                    1 => {
                        d.drain(lo..hi.min(lo + 16));
                    }
                    2 => {
                        let chunk = d[lo..hi].to_vec();
                        let at = hi.min(d.len());
                        d.splice(at..at, chunk);
                    }
                    3 => {
                        let at = lo.min(d.len());
                        d.splice(at..at, TOKENS[t].bytes());
                    }
                    4 => {
                        if lo < d.len() {
                            d[lo] ^= 1 << (op % 8);
                        }
                    }
                    _ => d.truncate(hi),
                }
            }
            d.truncate(32 * 1024);
            d
        });
    let soup = prop::collection::vec(0..TOKENS.len(), 0..60).prop_map(|ts| {
        ts.into_iter()
            .flat_map(|t| TOKENS[t].bytes())
            .collect::<Vec<u8>>()
    });
    let bytes = prop::collection::vec(any::<u8>(), 0..200);
    prop_oneof![6 => mutated, 3 => soup, 1 => bytes]
}

#[test]
fn fuzz_the_xml_source() {
    // In a process of its own: the peak of live heap bytes counts every thread of the process: alone, it
    // counts this parse and not the other tests'.
    if common::in_own_process("xml_fuzz::fuzz_the_xml_source") {
        return;
    }
    let seconds: u64 = std::env::var("COPIPE_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let batch = if seconds > 0 { 5000 } else { 300 };
    let strategy = doc_strategy(seeds());
    // Each batch gets its own seed (a runner counts its successes across runs); the base
    // seed is printed so that a failure can be replayed with COPIPE_FUZZ_SEED.
    let base: u64 = std::env::var("COPIPE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    let start = Instant::now();
    let mut runs = 0u64;
    for batch_no in 0u64.. {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&base.to_le_bytes());
        seed[8..16].copy_from_slice(&batch_no.to_le_bytes());
        let mut runner = TestRunner::new_with_rng(
            Config {
                cases: batch,
                failure_persistence: None,
                ..Config::default()
            },
            TestRng::from_seed(RngAlgorithm::ChaCha, &seed),
        );
        if let Err(e) = runner.run(&strategy, |doc| check(&doc)) {
            panic!("seed {base}, batch {batch_no}, after {runs} documents: {e}");
        }
        runs += u64::from(batch);
        if start.elapsed() >= Duration::from_secs(seconds) {
            break;
        }
    }
    if seconds > 0 {
        println!(
            "fuzz: {runs} documents (each parsed 3 or 4 ways) in {:.0?}, no failure",
            start.elapsed()
        );
    }
}
