//! How XML events become records, with xmltodict's conventions: the builder that both the
//! `records` stage (`stage::records`, which documents the rules) and the `xml` source use
//! — the source when it absorbs `records` (the declared fusion `xml : records`, see
//! `protocol::def::Fusion`), then building records itself, on several threads for a big
//! file (`source::xml::parallel`). It sits below both, so neither imports the other.
//!
//! The builder knows events and records only: it hands each finished record back to its
//! caller ([`RecordBuilder::event`]), or keeps it in a [`Batch`] in a speculative parse of
//! a part of a document. Memory: one record's storage, reused from record to record.

use anyhow::{Result, bail};
use clap::ArgMatches;

use super::Event;
use crate::record::{NodeId, ROOT, Record, Type, key_hash};

/// [`Frame::direct`] of an element whose text is kept in `RecordBuilder::text`.
const NOT_DIRECT: usize = usize::MAX;

/// Which elements become records.
#[derive(Clone, Debug)]
pub enum Target {
    Name(String),
    Depth(usize),
}

impl Target {
    /// The target that the arguments of `records` ask for (an element NAME, or `--depth D`).
    pub fn from_args(m: &ArgMatches) -> Result<Target> {
        let name = m.try_get_one::<String>("name").ok().flatten();
        let depth = m.try_get_one::<u32>("depth").ok().flatten();
        Ok(match (name, depth) {
            (Some(n), None) => {
                if n.is_empty() {
                    bail!("the element name is empty");
                }
                Target::Name(n.clone())
            }
            (None, Some(&d)) => Target::Depth(d as usize),
            _ => bail!("give an element NAME or --depth D"),
        })
    }
}

/// One open element of the record being built.
struct Frame {
    node: NodeId,
    /// Where its text starts in `RecordBuilder::text`.
    text: usize,
    /// A 64-bit Bloom filter of its members' keys (two bits each): a child element whose
    /// bits are not both set is new, and is added without looking for a member of its name
    /// (a walk over the members, the cost of `Record::add_child`).
    bloom: u64,
    /// While the element may still be a leaf (no attribute, no child element yet, not the
    /// record's own element): where its text starts in the record's own text, into which
    /// its text goes directly (its key is the last thing before it there), to become its
    /// value in place when it ends — no copy through `RecordBuilder::text`. A child element
    /// moves the text read so far to `RecordBuilder::text` and ends this ([`NOT_DIRECT`]).
    direct: usize,
}

/// The two bits of a key's [`key_hash`] in a [`Frame::bloom`].
#[inline]
fn bloom_bits(h: u32) -> u64 {
    1u64 << (h & 63) | 1u64 << ((h >> 6) & 63)
}

/// Turns the events of a document into records, one at a time.
pub struct RecordBuilder {
    target: Target,
    /// The depth of the current element in the document (0 outside the root).
    depth: usize,
    rec: Record,
    /// The open elements of the record, outermost first (empty: not in a record).
    frames: Vec<Frame>,
    /// The text of the open elements, end to end (each frame's from its `text` on).
    text: String,
    /// Where finished records go instead of back to the caller, in a speculative parse of
    /// a part of the document (see `source::xml::parallel`).
    batch: Option<Batch>,
    /// Scratch for an attribute's key (`@name`), for the Bloom filter.
    key: Vec<u8>,
}

/// Records kept in order, their storage reused from batch to batch; or, in a batch that
/// [`Batch::renders`], only their compact JSON, one per line.
#[derive(Default)]
pub struct Batch {
    recs: Vec<Record>,
    len: usize,
    /// Whether the records are rendered into `json` rather than kept.
    render: bool,
    json: Vec<u8>,
}

impl Batch {
    /// A batch that keeps each record's compact JSON (`Record::write_json`) and a newline
    /// instead of the record: for a consumer that would write only that.
    pub fn rendering() -> Self {
        Batch {
            render: true,
            ..Batch::default()
        }
    }

    /// Whether the records are kept rendered ([`Batch::rendered`]) rather than as records.
    pub fn renders(&self) -> bool {
        self.render
    }

    /// The records, in order (none in a batch that renders).
    pub fn records(&self) -> &[Record] {
        &self.recs[..self.len]
    }

    /// The records rendered, in order: each one's compact JSON and a newline (empty
    /// unless the batch renders).
    pub fn rendered(&self) -> &[u8] {
        &self.json
    }

    /// Empty it, keeping the storage.
    pub fn clear(&mut self) {
        self.len = 0;
        self.json.clear();
    }

    /// Move `rec` in, leaving an empty record (storage from an earlier batch) in its place;
    /// or render it, leaving it empty.
    fn take(&mut self, rec: &mut Record) {
        if self.render {
            rec.write_json(&mut self.json);
            self.json.push(b'\n');
            rec.clear();
            return;
        }
        if self.len == self.recs.len() {
            self.recs.push(Record::new());
        }
        std::mem::swap(&mut self.recs[self.len], rec);
        self.len += 1;
        rec.clear();
    }
}

impl RecordBuilder {
    pub fn new(target: Target) -> Self {
        RecordBuilder {
            target,
            depth: 0,
            rec: Record::new(),
            frames: Vec::new(),
            text: String::new(),
            batch: None,
            key: Vec::new(),
        }
    }

    /// A builder that keeps its records in a [`Batch`] (for a speculative parse of part of
    /// a document, where the depth there is assumed to be `depth`).
    pub fn batched(target: Target, depth: usize) -> Self {
        let mut b = RecordBuilder::new(target);
        b.batch = Some(Batch::default());
        b.depth = depth;
        b
    }

    /// Start a new part at `depth`, with an empty batch (given back by its consumer).
    pub fn restart(&mut self, depth: usize, batch: Batch) {
        self.depth = depth;
        self.frames.clear();
        self.text.clear();
        self.rec.clear();
        self.batch = Some(batch);
    }

    /// The batch of a speculative parse.
    pub fn take_batch(&mut self) -> Batch {
        self.batch.take().unwrap_or_default()
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The depth in the document (the root element is 1).
    pub fn depth(&self) -> usize {
        self.depth
    }

    pub fn set_depth(&mut self, depth: usize) {
        self.depth = depth;
    }

    /// Whether no record is being built (between records).
    pub fn idle(&self) -> bool {
        self.frames.is_empty()
    }

    fn starts_record(&self, name: &str) -> bool {
        match &self.target {
            Target::Name(n) => n == name,
            Target::Depth(d) => *d == self.depth,
        }
    }

    /// Take one event. A record it finishes is given back (unless the builder keeps a
    /// batch): push it on, then call [`RecordBuilder::pushed`] before the next event.
    #[inline(always)]
    pub fn event(&mut self, ev: &Event<'_>) -> Option<&Record> {
        match *ev {
            Event::Start { name, attrs } => {
                self.depth += 1;
                let node = if let Some(top) = self.frames.last_mut() {
                    if top.direct != NOT_DIRECT {
                        // Not a leaf: its text so far joins the general path.
                        self.rec.move_text_from(top.direct, &mut self.text);
                        top.direct = NOT_DIRECT;
                    }
                    let h = key_hash(name.as_bytes());
                    let bits = bloom_bits(h);
                    let new = top.bloom & bits != bits;
                    top.bloom |= bits;
                    if new {
                        self.rec.add_object_hashed(top.node, name, h)
                    } else {
                        self.rec.add_child_hashed(top.node, name, h)
                    }
                } else if self.starts_record(name) {
                    ROOT
                } else {
                    return None;
                };
                let mut bloom = 0;
                for a in attrs {
                    self.rec.add_str(node, "@", a.name, a.value);
                    // (An element name cannot start with `@`; with `--no-check` it might.)
                    self.key.clear();
                    self.key.push(b'@');
                    self.key.extend_from_slice(a.name.as_bytes());
                    bloom |= bloom_bits(key_hash(&self.key));
                }
                let direct = if attrs.is_empty() && node != ROOT {
                    self.rec.text_len()
                } else {
                    NOT_DIRECT
                };
                self.frames.push(Frame {
                    node,
                    text: self.text.len(),
                    bloom,
                    direct,
                });
                None
            }
            Event::Text { text, .. } => {
                if let Some(top) = self.frames.last() {
                    // Whitespace before the element's first other character is stripped in
                    // the end: it need not be kept.
                    if top.direct != NOT_DIRECT {
                        if self.rec.text_len() > top.direct {
                            self.rec.push_text_raw(text);
                        } else {
                            let t = trim_start(text);
                            if !t.is_empty() {
                                self.rec.push_text_raw(t);
                            }
                        }
                    } else if self.text.len() > top.text || !text.bytes().all(is_space) {
                        self.text.push_str(text);
                    }
                }
                None
            }
            Event::End { .. } => {
                // (Only a speculative parse can close elements it did not see open.)
                self.depth = self.depth.saturating_sub(1);
                if self.frames.is_empty() {
                    return None;
                }
                self.end_element()
            }
        }
    }

    /// The record given back by [`RecordBuilder::event`] was pushed on: start the next.
    #[inline]
    pub fn pushed(&mut self) {
        self.rec.clear();
    }

    /// The element of the top frame ends: give it its value; the record's own element ends
    /// the record.
    #[inline(always)]
    fn end_element(&mut self) -> Option<&Record> {
        let f = self.frames.pop().expect("an open frame");
        if f.direct != NOT_DIRECT {
            // A leaf (not the record's element): its text, from its first character other
            // than white space on, is at the end of the record's text.
            let end = f.direct + trim_end(self.rec.text_from(f.direct)).len();
            let ty = if end == f.direct {
                Type::Null
            } else {
                Type::String
            };
            self.rec.set_text_span(f.node, ty, f.direct, end);
            return None;
        }
        self.end_general(f)
    }

    /// [`RecordBuilder::end_element`] of an element that is not a leaf read in place: the
    /// record's own element, or one with attributes or children.
    #[inline(never)]
    fn end_general(&mut self, f: Frame) -> Option<&Record> {
        let text = trim(&self.text[f.text..]);
        let is_record = self.frames.is_empty();
        if self.rec.count(f.node) > 0 || is_record {
            if !text.is_empty() {
                self.rec.add_str(f.node, "", "#text", text);
            }
        } else if text.is_empty() {
            self.rec.set_text(f.node, Type::Null, "");
        } else {
            self.rec.set_text(f.node, Type::String, text);
        }
        self.text.truncate(f.text);
        if !is_record {
            return None;
        }
        if let Some(batch) = &mut self.batch {
            batch.take(&mut self.rec);
            return None;
        }
        Some(&self.rec)
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Strip XML whitespace from the start.
fn trim_start(s: &str) -> &str {
    let b = s.as_bytes();
    let start = b.iter().position(|&c| !is_space(c)).unwrap_or(b.len());
    // Cut at an ASCII byte: a character boundary.
    &s[start..]
}

/// Strip XML whitespace from the end.
fn trim_end(s: &str) -> &str {
    let b = s.as_bytes();
    let end = b.iter().rposition(|&c| !is_space(c)).map_or(0, |i| i + 1);
    // Cut after an ASCII byte: a character boundary.
    &s[..end]
}

/// Strip XML whitespace from both ends.
fn trim(s: &str) -> &str {
    let b = s.as_bytes();
    let start = b.iter().position(|&c| !is_space(c)).unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|&c| !is_space(c))
        .map_or(start, |i| i + 1);
    // Cut at ASCII bytes: character boundaries.
    &s[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::Attr;

    /// The records of a document given as events: `("<", name, attrs)`, `("t", text)`,
    /// `(">", name)`.
    fn build(target: Target, events: &[(&str, &str, &[Attr<'_>])]) -> Vec<String> {
        let mut b = RecordBuilder::new(target);
        let mut out = Vec::new();
        for &(k, s, attrs) in events {
            let ev = match k {
                "<" => Event::Start { name: s, attrs },
                ">" => Event::End { name: s },
                _ => Event::Text {
                    text: s,
                    cdata: false,
                },
            };
            if let Some(r) = b.event(&ev) {
                out.push(r.to_json());
                b.pushed();
            }
        }
        out
    }

    /// A leaf's text goes straight into the record (no copy through the builder's own
    /// text); an element that turns out to have children, attributes or to be the record
    /// keeps the general path. Both must give xmltodict's values: text split over several
    /// events, white space trimmed at both ends (inside kept), empty leaves null, text
    /// before, between and after children joined into `#text`, and a record's text after
    /// a leaf not taken for the leaf's.
    #[test]
    fn leaf_text_in_place_and_mixed_content_give_the_same_values() {
        let a = [Attr {
            name: "k",
            value: "v",
        }];
        let ev: &[(&str, &str, &[Attr<'_>])] = &[
            ("<", "r", &[]),
            ("t", "\n  ", &[]),
            ("<", "leaf", &[]),
            ("t", " \t", &[]),
            ("t", "  a b", &[]),
            ("t", "\n", &[]),
            ("t", "c  ", &[]),
            (">", "leaf", &[]),
            ("<", "empty", &[]),
            ("t", " \r\n ", &[]),
            (">", "empty", &[]),
            ("<", "none", &[]),
            (">", "none", &[]),
            ("<", "mixed", &[]),
            ("t", "  one ", &[]),
            ("<", "kid", &[]),
            ("t", "x", &[]),
            (">", "kid", &[]),
            ("t", " two", &[]),
            ("<", "kid", &[]),
            (">", "kid", &[]),
            ("t", " three  ", &[]),
            (">", "mixed", &[]),
            ("<", "attr", &a),
            ("t", " y ", &[]),
            (">", "attr", &[]),
            ("<", "leaf", &[]),
            ("t", "again", &[]),
            (">", "leaf", &[]),
            ("t", " tail ", &[]),
            (">", "r", &[]),
        ];
        assert_eq!(
            build(Target::Name("r".into()), ev),
            [concat!(
                r#"{"leaf":["a b\nc","again"],"empty":null,"none":null,"#,
                r##""mixed":{"kid":["x",null],"#text":"one  two three"},"##,
                r##""attr":{"@k":"v","#text":"y"},"#text":"tail"}"##
            )]
        );
    }

    /// The Bloom filter that spares the search for a child's name must never hide a
    /// repeat: past its 64 bits (here 100 distinct names), after attributes, and where an
    /// element name (`--no-check`) could be an attribute's key.
    #[test]
    fn repeated_children_are_found_however_many_names_come_first() {
        let names: Vec<String> = (0..100).map(|i| format!("n{i}")).collect();
        let mut ev: Vec<(&str, &str, &[Attr<'_>])> = vec![("<", "r", &[])];
        for round in 0..2 {
            for n in &names {
                ev.push(("<", n, &[]));
                ev.push(("t", if round == 0 { "a" } else { "b" }, &[]));
                ev.push((">", n, &[]));
            }
        }
        ev.push((">", "r", &[]));
        let rec = build(Target::Depth(1), &ev);
        let want: Vec<String> = names
            .iter()
            .map(|n| format!(r#""{n}":["a","b"]"#))
            .collect();
        assert_eq!(rec, [format!("{{{}}}", want.join(","))]);

        let attrs = [Attr {
            name: "id",
            value: "7",
        }];
        let ev: &[(&str, &str, &[Attr<'_>])] = &[
            ("<", "bus", &attrs),
            ("<", "@id", &[]),
            ("t", "x", &[]),
            (">", "@id", &[]),
            ("<", "s", &[]),
            (">", "s", &[]),
            ("<", "s", &[]),
            ("t", "y", &[]),
            (">", "s", &[]),
            (">", "bus", &[]),
        ];
        assert_eq!(
            build(Target::Name("bus".into()), ev),
            [r#"{"@id":["7","x"],"s":[null,"y"]}"#]
        );
    }
}
