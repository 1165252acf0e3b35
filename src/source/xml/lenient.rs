//! `xml --lenient`: broken real-world feeds read with quick-xml's reader, each problem a
//! warning `FILE:LINE:COLUMN: warning: …` on stderr rather than the end of the run.
//!
//! What it goes on past, and what it makes of it:
//! * a bare `&` (in text or an attribute value) is kept as the character `&`;
//! * a reference to an entity that is not one of the five predefined ones, or a character
//!   reference to a character XML does not allow, is kept as written (`&nbsp;`);
//! * an end tag that closes no open element is left out; one that closes an element further
//!   out closes the ones inside it first; elements still open at the end are closed;
//! * text outside the root element is left out.
//!
//! The events are the strict reader's for a well-formed document (the same text pieces,
//! line ends normalized, attribute values normalized, CDATA marked), so that adding
//! `--lenient` to a pipeline changes nothing on good input. What it cannot go on past (a tag
//! never closed, a `<` that starts nothing, input that is not UTF-8) is an error, as in
//! strict mode. Entities and attribute defaults declared in a DOCTYPE are not applied (a warning), nor is
//! anything but UTF-8 (with or without a byte order mark) decoded: the strict reader does
//! both.
//!
//! Positions: quick-xml reports byte offsets; [`Lines`] turns them into a line and a column
//! (characters from 1) by counting the newlines of the bytes as they are read, keeping only
//! the bytes of the current line window.

use std::io::{self, BufReader, Read};

use anyhow::{Result, bail};
use quick_xml::Reader;
use quick_xml::events::Event as Qx;

use super::XmlError;
use super::chars::{is_name, is_xml_char};
use super::predefined::predefined;
use crate::item::{Attr, Event, Item};
use crate::protocol::Stage;
use crate::runtime::meter::Meter;

/// At most this many warnings are shown; the rest are counted at the end.
pub const MAX_WARNINGS: u64 = 20;

/// The bytes read so far, as lines: byte offsets to line and column.
struct Lines<R> {
    inner: R,
    /// The offset of `window[0]`, its line, and the column (in characters, from 0) of it.
    base: u64,
    line: u64,
    col: u64,
    window: Vec<u8>,
    /// The length of a UTF-8 byte order mark at the start, once the window has moved on
    /// (quick-xml drops the mark and counts its offsets from after it).
    shift: u64,
    meter: Meter,
}

impl<R: Read> Read for Lines<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.meter.read(n);
        if self.window.len() > 1 << 20 {
            // Forget all but the last 64 KiB: positions asked for are of the current event.
            let bom = self.bom();
            let cut = self.window.len() - (64 << 10);
            let old = &self.window[..cut];
            match memchr::memrchr(b'\n', old) {
                Some(i) => {
                    self.line += memchr::memchr_iter(b'\n', old).count() as u64;
                    self.col = chars(&old[i + 1..]);
                }
                // A byte order mark is no column.
                None => self.col += chars(old) - u64::from(self.base == 0 && bom > 0),
            }
            self.shift = bom;
            self.base += cut as u64;
            self.window.drain(..cut);
        }
        self.window.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

/// The characters of UTF-8 bytes (every byte that does not continue a character).
fn chars(b: &[u8]) -> u64 {
    b.iter().filter(|&&c| c & 0xC0 != 0x80).count() as u64
}

impl<R> Lines<R> {
    /// The bytes of a byte order mark at the start of the input (however it was read).
    fn bom(&self) -> u64 {
        if self.base == 0 && self.window.starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            self.shift
        }
    }

    /// The line and column (from 1) of a byte offset (quick-xml's: after the BOM).
    fn at(&self, offset: u64) -> (u64, u64) {
        let bom = self.bom();
        // On the first line, after the mark: it is no column.
        let skip = if self.base == 0 { bom as usize } else { 0 };
        let i = ((offset + bom).saturating_sub(self.base) as usize).min(self.window.len());
        let before = &self.window[skip.min(i)..i];
        match memchr::memrchr(b'\n', before) {
            Some(j) => (
                self.line + memchr::memchr_iter(b'\n', before).count() as u64,
                chars(&before[j + 1..]) + 1,
            ),
            None => (self.line, self.col + chars(before) + 1),
        }
    }
}

struct Warn<'a> {
    name: &'a str,
    shown: u64,
    more: u64,
}

impl Warn<'_> {
    fn warn(&mut self, (line, col): (u64, u64), what: std::fmt::Arguments<'_>) {
        if self.shown < MAX_WARNINGS {
            self.shown += 1;
            crate::say!("copipe: {}:{line}:{col}: warning: {what}", self.name);
        } else {
            self.more += 1;
        }
    }
}

/// Append `raw` to `out` with line ends normalized (`\r\n` and `\r` to `\n`); in an
/// attribute value (`attr`) every whitespace character then becomes a space.
fn push_normalized(out: &mut String, raw: &str, attr: bool) {
    let mut it = raw.chars().peekable();
    while let Some(c) = it.next() {
        let c = match c {
            '\r' => {
                it.next_if_eq(&'\n');
                '\n'
            }
            c => c,
        };
        out.push(if attr && matches!(c, '\n' | '\t') {
            ' '
        } else {
            c
        });
    }
}

/// What a reference `&name;` stands for: the five predefined entities and character
/// references; `None` for anything else.
fn resolve(name: &str) -> Option<char> {
    if let Some(c) = predefined(name) {
        return Some(c);
    }
    let n = name.strip_prefix('#')?;
    let v = match n.strip_prefix('x') {
        Some(h) => u32::from_str_radix(h, 16).ok()?,
        None => n.parse::<u32>().ok()?,
    };
    char::from_u32(v).filter(|&c| is_xml_char(c))
}

/// Decode an attribute value: normalized, references resolved, a bare `&` or an unknown
/// entity kept as written (each a warning at `offset + its place`).
fn attr_value(out: &mut String, raw: &str, at: impl Fn(usize) -> (u64, u64), warn: &mut Warn<'_>) {
    let mut rest = raw;
    let mut done = 0;
    while let Some(i) = rest.find('&') {
        push_normalized(out, &rest[..i], true);
        let after = &rest[i + 1..];
        let end = after
            .find(';')
            .filter(|&e| !after[..e].contains(['&', ' ', '<', '"', '\'']));
        match end.map(|e| (&after[..e], resolve(&after[..e]))) {
            Some((_, Some(c))) => {
                out.push(c);
                let e = end.unwrap();
                done += i + 1 + e + 1;
                rest = &after[e + 1..];
                continue;
            }
            Some((name, None)) => {
                warn.warn(
                    at(done + i),
                    format_args!(
                        "unknown entity `&{name};` in an attribute value, kept as written"
                    ),
                );
            }
            None => warn.warn(
                at(done + i),
                format_args!("bare `&` in an attribute value, kept as `&`"),
            ),
        }
        out.push('&');
        done += i + 1;
        rest = after;
    }
    push_normalized(out, rest, true);
}

/// Parse `reader` leniently, pushing events into `out`.
pub fn parse(name: &str, reader: Box<dyn Read>, meter: &Meter, out: &mut dyn Stage) -> Result<()> {
    let lines = Lines {
        inner: reader,
        base: 0,
        line: 1,
        col: 0,
        window: Vec::new(),
        shift: 0,
        meter: meter.clone(),
    };
    let mut r = Reader::from_reader(BufReader::with_capacity(64 << 10, lines));
    {
        let c = r.config_mut();
        c.allow_dangling_amp = true;
        c.allow_unmatched_ends = true;
        c.check_end_names = false;
        c.check_comments = false;
        c.expand_empty_elements = false;
        c.trim_text(false);
    }
    let mut warn = Warn {
        name,
        shown: 0,
        more: 0,
    };
    let r = run(name, &mut r, &mut warn, out);
    if warn.more > 0 {
        crate::say!(
            "copipe: {name}: {} more warnings ({} in all)",
            warn.more,
            warn.more + warn.shown
        );
    }
    r
}

/// An empty vector with the storage of `v`, for borrows of another lifetime (the in-place
/// collect of an empty iterator keeps the allocation): no allocation per element.
fn reuse<'b>(mut v: Vec<Attr<'_>>) -> Vec<Attr<'b>> {
    v.clear();
    v.into_iter().map(|_| unreachable!()).collect()
}

type Qr = Reader<BufReader<Lines<Box<dyn Read>>>>;

fn pos(r: &Qr, offset: u64) -> (u64, u64) {
    r.get_ref().get_ref().at(offset)
}

fn run(name: &str, r: &mut Qr, warn: &mut Warn<'_>, out: &mut dyn Stage) -> Result<()> {
    let mut buf = Vec::new();
    // The text being gathered (pushed as one event before the next markup).
    let mut text = String::new();
    // The open elements' names, end to end, and where each ends.
    let mut names = String::new();
    let mut open: Vec<usize> = Vec::new();
    let mut values = String::new();
    let mut spans: Vec<(usize, usize, usize, usize)> = Vec::new();
    let mut scratch = String::new();
    let mut attr_store: Vec<Attr<'static>> = Vec::new();
    let mut had_root = false;
    let fail = |r: &Qr, offset: u64, message: String| -> anyhow::Error {
        let (line, column) = pos(r, offset);
        anyhow::Error::new(XmlError {
            file: name.to_string(),
            line,
            column,
            message,
        })
    };
    macro_rules! flush_text {
        () => {
            if !text.is_empty() {
                if !open.is_empty() {
                    let ev = Event::Text {
                        text: &text,
                        cdata: false,
                    };
                    if out.send(Item::Event(&ev))?.is_stop() {
                        return Ok(());
                    }
                }
                text.clear();
            }
        };
    }
    loop {
        let before = r.buffer_position();
        buf.clear();
        let ev = match r.read_event_into(&mut buf) {
            Ok(ev) => ev,
            Err(e) => {
                flush_text!();
                let at = r.error_position();
                return Err(fail(r, at, format!("cannot go on: {e}")));
            }
        };
        match ev {
            Qx::Start(ref e) | Qx::Empty(ref e) => {
                flush_text!();
                let empty = matches!(ev, Qx::Empty(_));
                let qname: &str = e.name().into_inner();
                if open.is_empty() && had_root {
                    warn.warn(
                        pos(r, before),
                        format_args!("a second root element <{qname}>"),
                    );
                }
                values.clear();
                spans.clear();
                for a in e.html_attributes().with_checks(false) {
                    let a = match a {
                        Ok(a) => a,
                        Err(err) => {
                            warn.warn(
                                pos(r, before),
                                format_args!("a broken attribute in <{qname}>, left out: {err}"),
                            );
                            continue;
                        }
                    };
                    let (k, v): (&str, &str) = (a.key.into_inner(), &a.value);
                    let ks = values.len();
                    values.push_str(k);
                    let vs = values.len();
                    // The value's place in the tag, for positions (`<` + the tag's text).
                    let raw = e.as_ref();
                    let off = (v.as_ptr() as usize).wrapping_sub(raw.as_ptr() as usize);
                    let off = if off < raw.len() { off + 1 } else { 0 };
                    scratch.clear();
                    attr_value(&mut scratch, v, |i| pos(r, before + (off + i) as u64), warn);
                    values.push_str(&scratch);
                    spans.push((ks, vs, vs, values.len()));
                }
                let mut attrs = reuse(std::mem::take(&mut attr_store));
                attrs.extend(spans.iter().map(|&(ks, ke, vs, ve)| Attr {
                    name: &values[ks..ke],
                    value: &values[vs..ve],
                }));
                let start = Event::Start {
                    name: qname,
                    attrs: &attrs,
                };
                let flow = out.send(Item::Event(&start))?;
                attr_store = reuse(attrs);
                if flow.is_stop() {
                    return Ok(());
                }
                if empty {
                    if out
                        .send(Item::Event(&Event::End { name: qname }))?
                        .is_stop()
                    {
                        return Ok(());
                    }
                    if open.is_empty() {
                        had_root = true;
                    }
                } else {
                    names.push_str(qname);
                    open.push(names.len());
                }
            }
            Qx::End(ref e) => {
                flush_text!();
                let qname: &str = e.name().into_inner();
                // Which open element it closes (the innermost of that name).
                let mut which = None;
                let mut end = names.len();
                for (k, &e_) in open.iter().enumerate().rev() {
                    let s = if k == 0 { 0 } else { open[k - 1] };
                    debug_assert_eq!(e_, end);
                    if &names[s..e_] == qname {
                        which = Some(k);
                        break;
                    }
                    end = s;
                }
                let Some(k) = which else {
                    warn.warn(
                        pos(r, before),
                        format_args!("end tag </{qname}> closes no open element, left out"),
                    );
                    continue;
                };
                while open.len() > k {
                    let e_ = open.pop().expect("open");
                    let s = open.last().copied().unwrap_or(0);
                    if open.len() > k {
                        warn.warn(
                            pos(r, before),
                            format_args!(
                                "end tag </{qname}> closes <{}> too, left open",
                                &names[s..e_]
                            ),
                        );
                    }
                    let ev = Event::End {
                        name: &names[s..e_],
                    };
                    if out.send(Item::Event(&ev))?.is_stop() {
                        return Ok(());
                    }
                    names.truncate(s);
                }
                if open.is_empty() {
                    had_root = true;
                }
            }
            Qx::Text(ref t) => {
                let s: &str = t.as_ref();
                if s.starts_with('&') {
                    warn.warn(pos(r, before), format_args!("bare `&`, kept as `&`"));
                }
                if open.is_empty() {
                    if !s.bytes().all(super::chars::is_space) {
                        warn.warn(
                            pos(r, before),
                            format_args!("text outside the root element, left out"),
                        );
                    }
                    continue;
                }
                push_normalized(&mut text, s, false);
            }
            Qx::GeneralRef(ref g) => {
                let s: &str = g.as_ref();
                match resolve(s) {
                    Some(c) => text.push(c),
                    None => {
                        if is_name(s) {
                            warn.warn(
                                pos(r, before),
                                format_args!("unknown entity `&{s};`, kept as written"),
                            );
                        } else {
                            warn.warn(pos(r, before), format_args!("bare `&`, kept as `&`"));
                        }
                        text.push('&');
                        push_normalized(&mut text, s, false);
                        text.push(';');
                    }
                }
            }
            Qx::CData(ref c) => {
                flush_text!();
                let s: &str = c.as_ref();
                // An empty section is no event (as in the strict reader).
                if !open.is_empty() && !s.is_empty() {
                    push_normalized(&mut text, s, false);
                    let ev = Event::Text {
                        text: &text,
                        cdata: true,
                    };
                    if out.send(Item::Event(&ev))?.is_stop() {
                        return Ok(());
                    }
                    text.clear();
                }
            }
            Qx::DocType(ref d) => {
                if d.as_ref().contains("<!ENTITY") || d.as_ref().contains("<!ATTLIST") {
                    warn.warn(
                        pos(r, before),
                        format_args!(
                            "the DOCTYPE's entity and attribute declarations are not read \
                             in --lenient mode"
                        ),
                    );
                }
            }
            Qx::Comment(_) | Qx::PI(_) => flush_text!(),
            Qx::Decl(_) => {}
            Qx::Eof => {
                flush_text!();
                let at = r.buffer_position();
                if open.is_empty() && !had_root {
                    bail!(fail(r, at, "no root element".into()));
                }
                while let Some(e_) = open.pop() {
                    let s = open.last().copied().unwrap_or(0);
                    warn.warn(
                        pos(r, at),
                        format_args!("<{}> is not closed, closed at the end", &names[s..e_]),
                    );
                    let ev = Event::End {
                        name: &names[s..e_],
                    };
                    if out.send(Item::Event(&ev))?.is_stop() {
                        return Ok(());
                    }
                    names.truncate(s);
                }
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out `step` bytes at a time.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.1.min(self.0.len()).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn lines(doc: &[u8], step: usize) -> Lines<Trickle<'_>> {
        let mut l = Lines {
            inner: Trickle(doc, step),
            base: 0,
            line: 1,
            col: 0,
            window: Vec::new(),
            shift: 0,
            meter: Meter::default(),
        };
        let mut sink = Vec::new();
        l.read_to_end(&mut sink).unwrap();
        l
    }

    #[test]
    fn offsets_become_lines_and_columns_after_a_bom_read_a_byte_at_a_time() {
        let doc = "\u{feff}<a>é\n<b>&</b>".as_bytes();
        for step in [1, 2, 7, 100] {
            let l = lines(doc, step);
            // quick-xml's offsets start after the mark: `<a>` is 0, `&` is 4 + 2 + 3 = 9.
            assert_eq!(l.at(0), (1, 1), "step {step}");
            assert_eq!(l.at(3), (1, 4), "step {step}");
            assert_eq!(l.at(9), (2, 4), "step {step}");
        }
    }

    #[test]
    fn positions_stay_right_when_the_window_moves_on() {
        let mut doc = vec![0xEF, 0xBB, 0xBF];
        doc.extend_from_slice("é".repeat(700_000).as_bytes()); // one line of 1.4 MB
        doc.extend_from_slice(b"\nxy&");
        let l = lines(&doc, 64 << 10);
        assert!(l.base > 0, "the window moved on");
        let amp = doc.len() as u64 - 3 - 1;
        assert_eq!(l.at(amp), (2, 3));
        // The newline ends line 1 after its 700,000 characters.
        assert_eq!(l.at(amp - 3), (1, 700_000 + 1));
    }

    #[test]
    fn attribute_values_keep_a_bare_ampersand_and_unknown_entities() {
        let mut w = Warn {
            name: "t",
            shown: 0,
            more: 0,
        };
        let mut out = String::new();
        attr_value(&mut out, "a & b &nbsp; &lt;&#x41;\r\nz", |_| (1, 1), &mut w);
        assert_eq!(out, "a & b &nbsp; <A z");
        assert_eq!(w.shown, 2);
    }
}
