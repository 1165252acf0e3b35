//! A recorded run of protocol calls — lines, records, events, origins, flushes — in flat
//! storage, to carry items from one thread to another (the thread bridge) or from a branch's
//! chain into the stream it joins (`merge`). Lines are copied as they come, one buffer for
//! many lines; records are cloned into slots that are reused from batch to batch; events are
//! encoded into the byte buffer; lines that lie in a shared map of a file are kept as a
//! reference to the map and a range (no copy; see `Stage::send_mapped`). [`Batch::replay`]
//! makes the same calls on another stage.

use std::ops::Range;
use std::sync::Arc;

use anyhow::Result;

use crate::item::{Attr, Event, Item, Origin, Record, Show};
use crate::protocol::{Flow, Stage};
use crate::runtime::map::SharedMap;

/// How many bytes make a batch worth handing over.
pub const FULL: usize = 64 * 1024;

#[derive(Clone, Debug)]
enum Op {
    /// Whole lines, each ending in `\n` but perhaps the last.
    Lines(Range<usize>),
    Record(usize),
    Event(Range<usize>),
    Origin(Range<usize>, Show),
    Flush,
    /// Whole lines in a shared map: `mapped[i]`.
    Mapped(usize),
    /// A record already rendered: its compact JSON and a newline (see
    /// [`Stage::send_rendered`]).
    Rendered(Range<usize>),
}

/// See the module docs.
#[derive(Default)]
pub struct Batch {
    data: Vec<u8>,
    ops: Vec<Op>,
    records: Vec<Record>,
    used_records: usize,
    /// About the bytes of those records (see [`Record::size`]).
    record_bytes: usize,
    /// The maps the `Mapped` ops refer to, and their ranges.
    mapped: Vec<(Arc<SharedMap>, Range<usize>)>,
    /// The bytes of those ranges.
    mapped_bytes: usize,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// About the bytes it holds: its lines and events (those in maps included), and its
    /// records.
    pub fn bytes(&self) -> usize {
        self.data.len() + self.mapped_bytes + self.record_bytes
    }

    /// Whether it holds enough to be handed over.
    pub fn is_full(&self) -> bool {
        self.is_full_at(1)
    }

    /// Whether it holds `scale` times what [`Batch::is_full`] asks.
    pub fn is_full_at(&self, scale: usize) -> bool {
        self.bytes() >= FULL * scale
            || self.used_records >= 1024 * scale
            || self.ops.len() >= 4096 * scale
    }

    /// Empty it, keeping its storage.
    pub fn clear(&mut self) {
        self.data.clear();
        self.ops.clear();
        self.used_records = 0;
        self.record_bytes = 0;
        self.release_maps();
    }

    /// Drop the references to maps (the rest of the batch stays, unread): a batch kept for
    /// reuse must not keep a finished file's map alive.
    pub fn release_maps(&mut self) {
        self.mapped.clear();
        self.mapped_bytes = 0;
        self.ops.retain(|op| !matches!(op, Op::Mapped(_)));
    }

    /// Whole lines that lie in `map`, kept as a reference to it (no copy).
    pub fn push_mapped(&mut self, map: &Arc<SharedMap>, range: Range<usize>) {
        if range.is_empty() {
            return;
        }
        self.mapped_bytes += range.len();
        self.ops.push(Op::Mapped(self.mapped.len()));
        self.mapped.push((map.clone(), range));
    }

    /// The maps this batch refers to, with the end of the range used in each.
    pub fn maps(&self) -> impl Iterator<Item = (&SharedMap, usize)> {
        self.mapped.iter().map(|(m, r)| (&**m, r.end))
    }

    pub fn push_lines(&mut self, lines: &[u8]) {
        if lines.is_empty() {
            return;
        }
        let start = self.data.len();
        self.data.extend_from_slice(lines);
        self.extend_lines(start);
    }

    /// Whole lines as an op of their own, never joined to the previous one: a source that
    /// needs to know which of its calls the chain took (`subscribe --durable`, see
    /// [`Batch::replay_counted`]) pushes each call apart.
    pub fn push_lines_apart(&mut self, lines: &[u8]) {
        if lines.is_empty() {
            return;
        }
        let start = self.data.len();
        self.data.extend_from_slice(lines);
        self.ops.push(Op::Lines(start..self.data.len()));
    }

    /// One line as an op of its own (see [`Batch::push_lines_apart`]).
    pub fn push_line_apart(&mut self, line: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(line);
        self.data.push(b'\n');
        self.ops.push(Op::Lines(start..self.data.len()));
    }

    pub fn push_line(&mut self, line: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(line);
        self.data.push(b'\n');
        self.extend_lines(start);
    }

    /// The lines from `start` to the end of the data join the previous op when they can.
    fn extend_lines(&mut self, start: usize) {
        let end = self.data.len();
        if let Some(Op::Lines(r)) = self.ops.last_mut()
            && r.end == start
            && self.data[start - 1] == b'\n'
        {
            r.end = end;
            return;
        }
        self.ops.push(Op::Lines(start..end));
    }

    pub fn push_record(&mut self, rec: &Record) {
        if self.used_records < self.records.len() {
            self.records[self.used_records].clone_from(rec);
        } else {
            self.records.push(rec.clone());
        }
        self.ops.push(Op::Record(self.used_records));
        self.used_records += 1;
        self.record_bytes += rec.size();
    }

    /// A record as its compact JSON and a newline, replayed through
    /// [`Stage::send_rendered`] (to a stage that [`Stage::takes_rendered`]).
    pub fn push_rendered(&mut self, rec: &Record) {
        let start = self.data.len();
        rec.write_json(&mut self.data);
        self.data.push(b'\n');
        self.ops.push(Op::Rendered(start..self.data.len()));
    }

    pub fn push_event(&mut self, ev: &Event<'_>) {
        let start = self.data.len();
        let d = &mut self.data;
        match ev {
            Event::Start { name, attrs } => {
                d.push(b'S');
                put(d, name);
                d.extend_from_slice(&(attrs.len() as u32).to_le_bytes());
                for a in *attrs {
                    put(d, a.name);
                    put(d, a.value);
                }
            }
            Event::Text { text, cdata } => {
                d.push(if *cdata { b'C' } else { b'T' });
                put(d, text);
            }
            Event::End { name } => {
                d.push(b'E');
                put(d, name);
            }
        }
        let end = self.data.len();
        self.ops.push(Op::Event(start..end));
    }

    pub fn push_origin(&mut self, origin: Origin<'_>) {
        let start = self.data.len();
        self.data.extend_from_slice(origin.name.as_bytes());
        self.ops
            .push(Op::Origin(start..self.data.len(), origin.show));
    }

    pub fn push_flush(&mut self) {
        self.ops.push(Op::Flush);
    }

    /// Make the recorded calls on `out`, in order; stops at the first `Stop`.
    pub fn replay(&self, out: &mut dyn Stage) -> Result<Flow> {
        self.replay_with(out, true)
    }

    /// The last origin recorded, if any.
    pub fn last_origin(&self) -> Option<Origin<'_>> {
        self.ops.iter().rev().find_map(|op| match op {
            Op::Origin(r, show) => Some(Origin {
                name: std::str::from_utf8(&self.data[r.clone()]).unwrap_or("?"),
                show: *show,
            }),
            _ => None,
        })
    }

    /// [`Batch::replay`], leaving out the origins unless `origins`.
    pub fn replay_with(&self, out: &mut dyn Stage, origins: bool) -> Result<Flow> {
        self.replay_counting(out, origins, &mut Taken::default())
    }

    /// [`Batch::replay`], counting the item ops (a line op, a record, an event) the chain
    /// took: every op replayed, the one the chain stopped at included (a `head` stops on the
    /// item it passed last), and how many of them were followed by a flush.
    pub fn replay_counted(&self, out: &mut dyn Stage, taken: &mut Taken) -> Result<Flow> {
        self.replay_counting(out, true, taken)
    }

    fn replay_counting(
        &self,
        out: &mut dyn Stage,
        origins: bool,
        taken: &mut Taken,
    ) -> Result<Flow> {
        for op in &self.ops {
            if !origins && matches!(op, Op::Origin(..)) {
                continue;
            }
            let flow = match op {
                Op::Lines(r) => out.send_lines(&self.data[r.clone()])?,
                Op::Record(i) => out.send(Item::Record(&self.records[*i]))?,
                Op::Rendered(r) => out.send_rendered(&self.data[r.clone()])?,
                Op::Event(r) => {
                    // Allocates only for a start event with attributes.
                    let mut attrs = Vec::new();
                    let ev = decode_event(&self.data[r.clone()], &mut attrs);
                    out.send(Item::Event(&ev))?
                }
                Op::Origin(r, show) => {
                    let name = std::str::from_utf8(&self.data[r.clone()]).unwrap_or("?");
                    out.origin(Origin { name, show: *show })?;
                    Flow::Continue
                }
                Op::Flush => {
                    out.flush()?;
                    taken.flushed = Some(taken.items);
                    Flow::Continue
                }
                Op::Mapped(i) => {
                    let (m, r) = &self.mapped[*i];
                    // A file truncated since: its zeros are not lines (reported by the
                    // receiver, see `maps`).
                    if !m.map.intact(r.end) {
                        continue;
                    }
                    out.send_lines(&m.map[r.clone()])?
                }
            };
            if !matches!(op, Op::Origin(..) | Op::Flush) {
                taken.items += 1;
            }
            if flow.is_stop() {
                return Ok(Flow::Stop);
            }
        }
        Ok(Flow::Continue)
    }
}

/// What [`Batch::replay_counted`] counts: the item ops replayed, and how many of them the
/// last replayed flush wrote out (`None`: no flush replayed).
#[derive(Debug, Default, Clone, Copy)]
pub struct Taken {
    pub items: u64,
    pub flushed: Option<u64>,
}

fn put(d: &mut Vec<u8>, s: &str) {
    d.extend_from_slice(&(s.len() as u32).to_le_bytes());
    d.extend_from_slice(s.as_bytes());
}

/// Read one string written by [`put`] at `*at`.
fn take<'a>(d: &'a [u8], at: &mut usize) -> &'a str {
    let n = u32::from_le_bytes(d[*at..*at + 4].try_into().expect("4 bytes")) as usize;
    *at += 4;
    let s = &d[*at..*at + n];
    *at += n;
    // Written from a `&str` by `push_event`.
    std::str::from_utf8(s).unwrap_or_default()
}

fn decode_event<'a>(d: &'a [u8], attrs: &'a mut Vec<Attr<'a>>) -> Event<'a> {
    let mut at = 1;
    match d[0] {
        b'S' => {
            let name = take(d, &mut at);
            let n = u32::from_le_bytes(d[at..at + 4].try_into().expect("4 bytes")) as usize;
            at += 4;
            attrs.clear();
            for _ in 0..n {
                let name = take(d, &mut at);
                let value = take(d, &mut at);
                attrs.push(Attr { name, value });
            }
            Event::Start { name, attrs }
        }
        b'E' => Event::End {
            name: take(d, &mut at),
        },
        c => Event::Text {
            text: take(d, &mut at),
            cdata: c == b'C',
        },
    }
}

/// A stage that records what it is sent into a batch (the end of a `merge` branch's chain).
impl Stage for Batch {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        match item {
            Item::Line(l) => self.push_line(l),
            Item::Record(r) => self.push_record(r),
            Item::Event(e) => self.push_event(e),
        }
        Ok(Flow::Continue)
    }
    fn send_lines(&mut self, batch: &[u8]) -> Result<Flow> {
        self.push_lines(batch);
        Ok(Flow::Continue)
    }
    fn origin(&mut self, origin: Origin<'_>) -> Result<()> {
        self.push_origin(origin);
        Ok(())
    }
    fn flush(&mut self) -> Result<()> {
        self.push_flush();
        Ok(())
    }
    fn close(&mut self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::testing::Collect;

    #[test]
    fn a_batch_replays_every_call_in_order() {
        let mut b = Batch::default();
        b.push_origin(Origin {
            name: "a.log",
            show: Show::Tag,
        });
        b.push_lines(b"one\ntwo\n");
        b.push_line(b"three");
        b.push_lines(b"four");
        b.push_line(b"five");
        b.push_event(&Event::Start {
            name: "bus",
            attrs: &[Attr {
                name: "id",
                value: "7",
            }],
        });
        b.push_event(&Event::Text {
            text: "x",
            cdata: true,
        });
        b.push_flush();
        let mut rec = Record::new();
        rec.fill_from_map(serde_json::json!({"a": 1}).as_object().unwrap());
        b.push_record(&rec);
        let mut c = Collect::default();
        assert_eq!(b.replay(&mut c).unwrap(), Flow::Continue);
        let got: Vec<String> = c
            .calls
            .iter()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect();
        assert_eq!(
            got,
            [
                "\0origin a.log",
                "one",
                "two",
                "three",
                "four",
                "five",
                r#"{"event":"start","name":"bus","attrs":{"id":"7"}}"#,
                r#"{"event":"text","text":"x","cdata":true}"#,
                "\0flush",
                r#"{"a":1}"#,
            ]
        );
        b.clear();
        assert!(b.is_empty());
    }

    #[test]
    fn mapped_lines_replay_from_the_map_and_a_cleared_batch_lets_go_of_it() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(b"one\ntwo\nthree\n").unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let map = crate::runtime::map::SafeMap::new(&file).unwrap();
        let shared = Arc::new(SharedMap::new(map, "f".into()));
        let mut b = Batch::default();
        b.push_line(b"zero");
        b.push_mapped(&shared, 4..14);
        b.push_flush();
        assert_eq!(Arc::strong_count(&shared), 2);
        let mut c = Collect::default();
        assert_eq!(b.replay(&mut c).unwrap(), Flow::Continue);
        assert_eq!(c.strings(), ["zero", "two", "three"]);
        assert_eq!(b.maps().map(|(_, end)| end).collect::<Vec<_>>(), [14]);
        b.release_maps();
        assert_eq!(Arc::strong_count(&shared), 1);
        let mut c = Collect::default();
        let _ = b.replay(&mut c).unwrap();
        assert_eq!(c.strings(), ["zero"]);
        b.push_mapped(&shared, 0..4);
        b.clear();
        assert_eq!(Arc::strong_count(&shared), 1);
        assert!(b.is_empty());
    }
}
