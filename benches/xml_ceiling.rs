//! The ceiling for `copipe xml FEED : records bus`: quick-xml's bare event loop over the same
//! bytes (no decoding of text, no checks beyond its own, nothing done with the events),
//! beside copipe's own tokenizer pushing events into a stage that drops them, and the
//! whole `xml : records` pipeline into a stage that renders each record's JSON. The bare
//! loop is also run on two threads at once, each over one half of the feed (cut at a
//! `<bus>`): the most two cores can do with quick-xml's tokenizer, the ceiling of
//! `xml --threads 2`.
//!
//!     COPIPE_BENCH_FEED=/tmp/copipe-bench/feed-64.xml cargo bench --bench xml_ceiling
//!
//! Without `COPIPE_BENCH_FEED` an 8 MB CTA-style feed is made in memory. Throughput is
//! reported in bytes of XML per second.

use std::hint::black_box;
use std::io::Cursor;

use anyhow::Result;
use copipe::item::{Item, Origin};
use copipe::protocol::{Flow, Stage};
use copipe::runtime::meter::Meter;
use copipe::stage::records::{Records, Target};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use quick_xml::events::Event;
use quick_xml::reader::Reader;

fn feed() -> Vec<u8> {
    if let Ok(path) = std::env::var("COPIPE_BENCH_FEED") {
        return std::fs::read(&path).expect("read COPIPE_BENCH_FEED");
    }
    let mut s = String::from("<?xml version=\"1.0\"?>\r\n<buses>\r\n");
    let mut n = 0u64;
    while s.len() < 8 << 20 {
        n += 1;
        s.push_str(&format!(
            "\t<bus>\r\n\t\t<id>{}</id>\r\n\t\t<route>{}</route>\r\n\t\t<color>#3300ff</color>\r\n\t\t<revenue>true</revenue>\r\n\t\t<direction>North Bound</direction>\r\n\t\t<latitude>41.{:015}</latitude>\r\n\t\t<longitude>-87.{:014}</longitude>\r\n\t\t<pattern>{}</pattern>\r\n\t\t<patternDirection>North Bound</patternDirection>\r\n\t\t<run>P{}</run>\r\n\t\t<finalStop><![CDATA[Paulina & Howard Terminal]]></finalStop>\r\n\t\t<operator>{}</operator>\r\n\t</bus>\r\n",
            6000 + n % 4000, n % 200, n * 7919 % 1_000_000_007, n * 104_729 % 100_000_007, n % 9000, n % 999, n % 99999
        ));
    }
    s.push_str("</buses>\r\n");
    s.into_bytes()
}

/// The bare quick-xml loop: every event read, borrowed from the slice, and dropped.
fn quick_xml_loop(xml: &[u8]) -> usize {
    let mut r = Reader::from_reader(xml);
    let mut n = 0;
    loop {
        match r.read_event() {
            Ok(Event::Eof) => break,
            Ok(e) => {
                black_box(&e);
                n += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    n
}

/// The bare loop over a part of the feed that starts at a record: end tags of elements
/// opened before the part are not checked, and the error for the elements left open at its
/// end ends the loop.
fn quick_xml_part(xml: &[u8]) -> usize {
    let mut r = Reader::from_reader(xml);
    r.config_mut().check_end_names = false;
    let mut n = 0;
    loop {
        match r.read_event() {
            Ok(Event::Eof) | Err(_) => break,
            Ok(e) => {
                black_box(&e);
                n += 1;
            }
        }
    }
    n
}

/// The feed in two halves, the second starting at the first `<bus` after the middle.
fn halves(xml: &[u8]) -> (&[u8], &[u8]) {
    let mid = xml.len() / 2;
    let at = mid
        + memchr::memmem::find(&xml[mid..], b"<bus")
            .expect("a record after the middle of the feed");
    xml.split_at(at)
}

/// The two halves parsed at once on two threads.
fn quick_xml_two_threads(xml: &[u8]) -> usize {
    let (a, b) = halves(xml);
    std::thread::scope(|s| {
        let t = s.spawn(|| quick_xml_part(b));
        quick_xml_part(a) + t.join().unwrap()
    })
}

struct Sink {
    n: usize,
    json: Vec<u8>,
}

impl Stage for Sink {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        self.n += 1;
        if let Item::Record(r) = item {
            self.json.clear();
            r.write_json(&mut self.json);
            black_box(&self.json);
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

fn copipe_events(xml: &[u8], strict: bool) -> usize {
    let mut sink = Sink {
        n: 0,
        json: Vec::new(),
    };
    copipe::source::xml::parse(
        "feed",
        Box::new(Cursor::new(xml.to_vec())),
        strict,
        &Meter::default(),
        &mut sink,
    )
    .unwrap();
    sink.n
}

fn copipe_records(xml: &[u8]) -> usize {
    let mut rec = Records::new(
        Target::Name("bus".into()),
        Box::new(Sink {
            n: 0,
            json: Vec::new(),
        }),
    );
    copipe::source::xml::parse(
        "feed",
        Box::new(Cursor::new(xml.to_vec())),
        true,
        &Meter::default(),
        &mut rec,
    )
    .unwrap();
    0
}

fn bench(c: &mut Criterion) {
    let xml = feed();
    let mut g = c.benchmark_group("bus-feed");
    g.throughput(Throughput::Bytes(xml.len() as u64));
    g.sample_size(10);
    g.bench_function("quick-xml event loop (ceiling)", |b| {
        b.iter(|| quick_xml_loop(&xml))
    });
    g.bench_function(
        "quick-xml event loop, two halves one after the other",
        |b| {
            let (h1, h2) = halves(&xml);
            b.iter(|| quick_xml_part(h1) + quick_xml_part(h2))
        },
    );
    g.bench_function("quick-xml event loop, two halves on two threads", |b| {
        b.iter(|| quick_xml_two_threads(&xml))
    });
    g.bench_function("copipe xml events", |b| {
        b.iter(|| copipe_events(&xml, true))
    });
    g.bench_function("copipe xml : records bus (JSON rendered)", |b| {
        b.iter(|| copipe_records(&xml))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
