//! `xml --lenient`: quick-xml's reader for broken feeds. Same events as the strict reader on
//! the well-formed corpus; warnings `FILE:LINE:COLUMN` and every record on the faults of
//! Debian's iso-codes (`fixtures/xml/lenient`, written to have them).

use crate::common;

use std::path::PathBuf;

use anyhow::Result;
use common::*;
use copipe::item::{Event, Item, Origin, write_event_json};
use copipe::protocol::{Flow, Stage};
use copipe::runtime::meter::Meter;
use copipe::source::xml::{lenient, parse};

/// The events as NDJSON lines, adjacent plain texts joined (where a reader cuts text is
/// not part of the contract: `records` joins it).
#[derive(Default)]
struct Events(Vec<String>, bool);

impl Stage for Events {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        let Item::Event(e) = item else {
            panic!("not an event")
        };
        if let Event::Text { text, cdata: false } = e
            && self.1
        {
            let last = self.0.last_mut().unwrap();
            let mut prev: serde_json::Value = serde_json::from_str(last).unwrap();
            let joined = format!("{}{text}", prev["text"].as_str().unwrap());
            prev["text"] = joined.into();
            *last = prev.to_string();
            return Ok(Flow::Continue);
        }
        self.1 = matches!(e, Event::Text { cdata: false, .. });
        let mut v = Vec::new();
        write_event_json(&mut v, e);
        // Through serde_json, so both sides are written alike.
        let v: serde_json::Value = serde_json::from_slice(&v).unwrap();
        self.0.push(v.to_string());
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

fn corpus(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixture(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

fn strict(p: &PathBuf) -> Result<Vec<String>> {
    let mut e = Events::default();
    parse(
        "doc",
        Box::new(std::fs::File::open(p)?),
        true,
        &Meter::default(),
        &mut e,
    )?;
    Ok(e.0)
}

fn lenient(p: &PathBuf) -> Result<Vec<String>> {
    let mut e = Events::default();
    lenient::parse(
        "doc",
        Box::new(std::fs::File::open(p)?),
        &Meter::default(),
        &mut e,
    )?;
    Ok(e.0)
}

/// What `--lenient` does not do, by design (see src/source/xml/lenient.rs): apply the
/// declarations of a DOCTYPE, decode anything but UTF-8; and with an external DTD, the
/// strict reader leaves an undeclared entity out where --lenient keeps it as written.
fn out_of_scope(p: &PathBuf) -> bool {
    let b = std::fs::read(p).unwrap();
    let t = String::from_utf8_lossy(&b).to_ascii_lowercase();
    t.contains("<!entity")
        || t.contains("<!attlist")
        || (t.contains("<!doctype") && (t.contains(" system ") || t.contains(" public ")))
        || b.starts_with(b"\xff\xfe")
        || b.starts_with(b"\xfe\xff")
        || (t.contains("encoding=")
            && !t.contains("encoding=\"utf-8\"")
            && !t.contains("encoding='utf-8'"))
}

#[test]
fn lenient_gives_the_strict_readers_events_on_the_well_formed_corpus() {
    let docs = corpus("xml/wf");
    let mut compared = 0;
    for p in &docs {
        if out_of_scope(p) {
            continue;
        }
        let want = strict(p).unwrap();
        let got = lenient(p).unwrap_or_else(|e| panic!("{}: {e:#}", p.display()));
        assert_eq!(got, want, "{}", p.display());
        compared += 1;
    }
    assert!(compared >= 30, "{compared} documents compared");
    // The bus feed too, and its records through the binary.
    let buses = fixture("buses.xml");
    assert_eq!(lenient(&buses).unwrap(), strict(&buses).unwrap());
    let f = buses.display().to_string();
    let a = copipe(["xml", &f, ":", "records", "bus"]).run();
    let b = copipe(["xml", "--lenient", &f, ":", "records", "bus"]).run();
    a.code(0);
    b.code(0);
    assert_eq!(a.out, b.out);
    assert_eq!(b.err, "");
}

#[test]
fn lenient_refuses_some_not_well_formed_documents_and_never_panics() {
    let docs = corpus("xml/not-wf");
    let refused = docs.iter().filter(|p| lenient(p).is_err()).count();
    // The figure quoted in docs/xml.md ("Two readers").
    eprintln!(
        "--lenient refuses {refused} of {} not-wf documents",
        docs.len()
    );
    assert!(refused > 0 && refused < docs.len());
}

#[test]
fn lenient_reads_every_record_past_a_bare_ampersand_with_a_positioned_warning() {
    let f = fixture("xml/lenient/bare-amp.xml").display().to_string();
    let strict = copipe(["xml", &f, ":", "records", "iso_3166_2_entry", ":", "count"]).run();
    strict
        .code(2)
        .out("29\n")
        .err_has("bare-amp.xml:33:65: `&` must start a reference");
    let r = copipe([
        "xml",
        "--lenient",
        &f,
        ":",
        "records",
        "iso_3166_2_entry",
        ":",
        "where",
        "@code=XX-30",
    ])
    .run();
    r.code(0)
        .out("{\"@code\":\"XX-30\",\"@type\":\"Province\",\"@name\":\"Trinidad & Tobago\"}\n");
    assert_eq!(
        r.err,
        format!("copipe: {f}:33:65: warning: bare `&` in an attribute value, kept as `&`\n")
    );
    let all = copipe([
        "xml",
        "--lenient",
        &f,
        ":",
        "records",
        "iso_3166_2_entry",
        ":",
        "count",
    ])
    .run();
    all.code(0).out("40\n");
}

#[test]
fn lenient_keeps_unknown_entities_and_skips_unmatched_end_tags_counting_lines_after_a_bom() {
    let f = fixture("xml/lenient/faults.xml").display().to_string();
    let r = copipe(["xml", "--lenient", &f, ":", "records", "item"]).run();
    r.code(0).out(
        "{\"@id\":\"1\",\"#text\":\"A &nbsp; B\"}\n{\"@id\":\"2\",\"#text\":\"C & D\"}\n{\"@id\":\"3\",\"#text\":\"E\"}\n",
    );
    assert_eq!(
        r.err,
        format!(
            "copipe: {f}:2:16: warning: unknown entity `&nbsp;`, kept as written\n\
             copipe: {f}:3:16: warning: bare `&`, kept as `&`\n\
             copipe: {f}:4:1: warning: end tag </oops> closes no open element, left out\n"
        )
    );
}

#[test]
fn lenient_shows_at_most_twenty_warnings_then_a_count() {
    let mut doc = String::from("<r>\n");
    for i in 0..30 {
        doc.push_str(&format!("<a>{i} & {i}</a>\n"));
    }
    doc.push_str("</r>\n");
    let r = copipe(["xml", "--lenient", "-", ":", "records", "a", ":", "count"])
        .stdin(doc)
        .run();
    r.code(0).out("30\n");
    assert_eq!(
        r.err
            .lines()
            .filter(|l| l.contains("warning: bare"))
            .count(),
        20
    );
    r.err_has("copipe: standard input:21:7: warning")
        .err_has("10 more warnings (30 in all)");
}

#[test]
fn lenient_stops_with_status_2_where_it_cannot_go_on_after_the_records_before() {
    let r = copipe(["xml", "--lenient", "-", ":", "records", "a"])
        .stdin("<r>\n<a>1</a>\n<a>2</a>\n<a x=\"1>")
        .run();
    r.code(2)
        .out("{\"#text\":\"1\"}\n{\"#text\":\"2\"}\n")
        .err_has("standard input:4:");
}

mod fuzz {
    use super::*;
    use copipe::source::xml::XmlError;
    use proptest::prelude::*;

    fn docs() -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = ["xml/wf", "xml/not-wf", "xml/lenient"]
            .iter()
            .flat_map(|d| corpus(d))
            .map(|p| std::fs::read(p).unwrap())
            .collect();
        v.push(std::fs::read(fixture("buses.xml")).unwrap());
        v
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        /// Mutated corpus documents and token soup: --lenient never panics, and when it
        /// stops, the error is an XmlError with a line inside the input.
        #[test]
        fn lenient_never_panics_and_positions_its_errors(
            pick in any::<prop::sample::Index>(),
            edits in prop::collection::vec((any::<prop::sample::Index>(), prop_oneof![
                Just(&b"&"[..]), Just(&b"<"[..]), Just(&b"</x>"[..]), Just(&b"&bogus;"[..]),
                Just(&b"\xef\xbb\xbf"[..]), Just(&b"\r\n"[..]), Just(&b"<![CDATA["[..]),
                Just(&b"\xff"[..]), Just(&b"\""[..]), Just(&b""[..]),
            ]), 0..6),
            cut in any::<prop::sample::Index>(),
        ) {
            let all = docs();
            let mut doc = all[pick.index(all.len())].clone();
            for (at, what) in edits {
                let i = at.index(doc.len() + 1);
                doc.splice(i..i, what.iter().copied());
            }
            doc.truncate(cut.index(doc.len() + 1).max(doc.len() / 2));
            let mut e = Events::default();
            let r = lenient::parse("doc", Box::new(std::io::Cursor::new(doc.clone())), &Meter::default(), &mut e);
            if let Err(err) = r {
                let x = err.downcast_ref::<XmlError>();
                prop_assert!(x.is_some(), "not an XmlError: {err:#}");
                let lines = doc.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
                prop_assert!(x.unwrap().line >= 1 && x.unwrap().line <= lines, "{err:#}");
            }
        }
    }
}
