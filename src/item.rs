//! The items that travel through a pipeline, and the helpers for line batches.
//!
//! Three kinds exist (SPEC §3): a *line* (bytes without their `\n`, never required to be
//! UTF-8), an XML *event*, and a *record* (a JSON object). Items are always borrowed: the
//! source or the stage that produced an item owns its storage and reuses it for the next one,
//! so nothing is allocated per item on the hot paths.
//!
//! Lines also travel in *batches*: a byte slice made of whole lines, each ending in `\n`,
//! except that the very last line of an input may lack its newline. Sending a batch is
//! equivalent to sending each of its lines in order (see [`crate::protocol::Stage::send_lines`]).

use std::fmt;

pub mod xml_records;

pub use crate::record::{Record, Type, Val};

/// What kind of item travels on an edge of the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Line,
    Event,
    Record,
}

impl Kind {
    pub const ALL: &'static [Kind] = &[Kind::Line, Kind::Event, Kind::Record];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Line => "line",
            Kind::Event => "event",
            Kind::Record => "record",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            Kind::Line => "lines",
            Kind::Event => "events",
            Kind::Record => "records",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One attribute of a start event, already entity-decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attr<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

/// A SAX event produced by the `xml` source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// `<name a="1">`; an empty element `<name/>` is a `Start` followed by an `End`.
    Start {
        name: &'a str,
        attrs: &'a [Attr<'a>],
    },
    /// Character data with entities decoded; `cdata` tells a CDATA section apart.
    Text { text: &'a str, cdata: bool },
    /// `</name>`.
    End { name: &'a str },
}

/// Where the items that follow come from, announced by a source that reads files (`cat`,
/// `follow`) whenever it switches input. See [`crate::protocol::Stage::origin`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin<'a> {
    /// The input's name as the user wrote it (`standard input` for `-`).
    pub name: &'a str,
    /// How sinks that write lines show it.
    pub show: Show,
}

/// How the origin of lines is shown by `print`, `write` and `exec`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Show {
    /// Not at all.
    Hidden,
    /// A `==> name <==` line before the first line of each run from one input, as
    /// `tail` does with several files (a blank line before every header but the first).
    Header,
    /// `name:` in front of every line, as `grep -H` does; `json` puts the name in a `file`
    /// field of its records instead.
    Tag,
}

/// One item, borrowed from whoever produced it.
#[derive(Clone, Copy, Debug)]
pub enum Item<'a> {
    /// A line without its `\n` terminator (a `\r` before it is kept).
    Line(&'a [u8]),
    Event(&'a Event<'a>),
    Record(&'a Record),
}

impl Item<'_> {
    pub fn kind(&self) -> Kind {
        match self {
            Item::Line(_) => Kind::Line,
            Item::Event(_) => Kind::Event,
            Item::Record(_) => Kind::Record,
        }
    }
}

/// Split a dotted path (`stop.name`) into its steps.
pub fn split_path(path: &str) -> Vec<String> {
    path.split('.').map(str::to_string).collect()
}

/// Iterate over the lines of a batch, without their `\n`.
pub fn lines(batch: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = batch;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match memchr::memchr(b'\n', rest) {
            Some(i) => {
                let line = &rest[..i];
                rest = &rest[i + 1..];
                Some(line)
            }
            None => {
                let line = rest;
                rest = &[];
                Some(line)
            }
        }
    })
}

/// The number of lines in a batch (an unterminated last line counts).
pub fn count_lines(batch: &[u8]) -> u64 {
    let n = memchr::memchr_iter(b'\n', batch).count() as u64;
    if batch.last().is_some_and(|&b| b != b'\n') {
        n + 1
    } else {
        n
    }
}

/// The end (exclusive, after its `\n`) of the first `n` lines of a batch, and how many
/// lines that is (fewer than `n` when the batch is shorter).
pub fn split_after_lines(batch: &[u8], n: u64) -> (usize, u64) {
    if n == 0 {
        return (0, 0);
    }
    let mut seen = 0;
    for i in memchr::memchr_iter(b'\n', batch) {
        seen += 1;
        if seen == n {
            return (i + 1, seen);
        }
    }
    if batch.last().is_some_and(|&b| b != b'\n') {
        seen += 1;
    }
    (batch.len(), seen)
}

/// Rewrite each line of a batch into `out` (cleared first) with `f(line, out)`, keeping the
/// batch's shape: every rewritten line ends in `\n`, except an unterminated last line.
pub fn map_lines(batch: &[u8], out: &mut Vec<u8>, mut f: impl FnMut(&[u8], &mut Vec<u8>)) {
    out.clear();
    for l in lines(batch) {
        f(l, out);
        out.push(b'\n');
    }
    if batch.last().is_some_and(|&b| b != b'\n') {
        out.pop();
    }
}

/// Strip one trailing `\r` (used in `--crlf` mode, where `\r\n` is the terminator).
pub fn strip_cr(line: &[u8]) -> &[u8] {
    match line.split_last() {
        Some((b'\r', rest)) => rest,
        _ => line,
    }
}

/// Write an event as one compact JSON object (its NDJSON form), without a newline.
pub fn write_event_json(out: &mut Vec<u8>, ev: &Event<'_>) {
    use crate::record::write_json_str;
    match ev {
        Event::Start { name, attrs } => {
            out.extend_from_slice(b"{\"event\":\"start\",\"name\":");
            write_json_str(out, name);
            out.extend_from_slice(b",\"attrs\":{");
            for (i, a) in attrs.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_str(out, a.name);
                out.push(b':');
                write_json_str(out, a.value);
            }
            out.extend_from_slice(b"}}");
        }
        Event::Text { text, cdata } => {
            out.extend_from_slice(b"{\"event\":\"text\",\"text\":");
            write_json_str(out, text);
            if *cdata {
                out.extend_from_slice(b",\"cdata\":true");
            }
            out.push(b'}');
        }
        Event::End { name } => {
            out.extend_from_slice(b"{\"event\":\"end\",\"name\":");
            write_json_str(out, name);
            out.push(b'}');
        }
    }
}

/// Write an item as the bytes `print` shows for it (no newline): a line as it is, a record
/// or an event as compact JSON.
pub fn render(out: &mut Vec<u8>, item: &Item<'_>) {
    match item {
        Item::Line(l) => out.extend_from_slice(l),
        Item::Record(r) => r.write_json(out),
        Item::Event(e) => write_event_json(out, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_a_batch() {
        let got: Vec<&[u8]> = lines(b"a\nbb\n\nc").collect();
        assert_eq!(got, vec![&b"a"[..], b"bb", b"", b"c"]);
        assert_eq!(lines(b"").count(), 0);
        assert_eq!(lines(b"\n").collect::<Vec<_>>(), vec![&b""[..]]);
    }

    #[test]
    fn counting_lines() {
        assert_eq!(count_lines(b""), 0);
        assert_eq!(count_lines(b"a"), 1);
        assert_eq!(count_lines(b"a\n"), 1);
        assert_eq!(count_lines(b"a\nb"), 2);
        assert_eq!(count_lines(b"\n\n"), 2);
    }

    #[test]
    fn splitting_after_lines() {
        assert_eq!(split_after_lines(b"a\nb\nc\n", 2), (4, 2));
        assert_eq!(split_after_lines(b"a\nb\nc", 5), (5, 3));
        assert_eq!(split_after_lines(b"a\nb\n", 0), (0, 0));
        assert_eq!(split_after_lines(b"a\nb\n", 2), (4, 2));
    }

    #[test]
    fn events_render_as_json() {
        let attrs = [Attr {
            name: "id",
            value: "7\"",
        }];
        let mut out = Vec::new();
        write_event_json(
            &mut out,
            &Event::Start {
                name: "bus",
                attrs: &attrs,
            },
        );
        assert_eq!(
            out,
            br#"{"event":"start","name":"bus","attrs":{"id":"7\""}}"#
        );
        out.clear();
        write_event_json(
            &mut out,
            &Event::Text {
                text: "x",
                cdata: false,
            },
        );
        assert_eq!(out, br#"{"event":"text","text":"x"}"#);
    }
}
