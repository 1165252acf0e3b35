//! quick-xml's bare event loop over a file, as a command that `bench/alternate.py` can time
//! beside `copipe xml FILE : records …` (the criterion bench `benches/xml_ceiling.rs` runs
//! the same loops, but not alternated with other commands):
//!
//!     cargo build --release --example quick_xml_loop
//!     target/release/examples/quick_xml_loop FEED [THREADS]
//!
//! With THREADS 2 the file is cut in two at the first `<bus` after its middle and the
//! halves are read at once on two threads (end names unchecked; the error for the elements
//! left open at a half's end ends its loop). Prints the number of events.

use std::hint::black_box;

use quick_xml::events::Event;
use quick_xml::reader::Reader;

fn events(xml: &[u8], whole: bool) -> usize {
    let mut r = Reader::from_reader(xml);
    r.config_mut().check_end_names = whole;
    let mut n = 0;
    loop {
        match r.read_event() {
            Ok(Event::Eof) => break,
            Err(e) if whole => panic!("{e}"),
            Err(_) => break,
            Ok(e) => {
                black_box(&e);
                n += 1;
            }
        }
    }
    n
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: quick_xml_loop FILE [THREADS]");
    let threads: usize = args
        .next()
        .map_or(1, |t| t.parse().expect("THREADS: 1 or 2"));
    let xml = std::fs::read(&path).expect("read FILE");
    let n = if threads < 2 {
        events(&xml, true)
    } else {
        let mid = xml.len() / 2;
        let at =
            mid + memchr::memmem::find(&xml[mid..], b"<bus").expect("a record after the middle");
        let (a, b) = xml.split_at(at);
        std::thread::scope(|s| {
            let t = s.spawn(|| events(b, false));
            events(a, false) + t.join().expect("the second half")
        })
    };
    println!("{n}");
}
