//! `records NAME` / `records --depth D` — turn the events of each `<NAME>` element (or of
//! each element at depth D, the root being depth 1) into one record, with xmltodict's
//! conventions so that jq users meet no surprise.
//!
//! Accepts events; emits records. The rules, for an element's value:
//! * attributes become `@attr` fields, first, in document order;
//! * a child element becomes a field named as written (`ns:tag` keeps its prefix); a
//!   repeated child becomes an array at the place of its first occurrence;
//! * the text directly inside an element (all its pieces, CDATA included, joined) is
//!   stripped of surrounding XML whitespace; an element with only text is that string; text
//!   beside attributes or children goes to a last `#text` field; an element with neither is
//!   `null`;
//! * values stay strings: XML has no numbers.
//!
//! A record is a JSON object, so the record element itself, if it has only text, becomes
//! `{"#text": "…"}`, and if it is empty, `{}`. Nested NAME elements: the outermost wins (an
//! inner one is a field of it). Memory: one record's storage, reused from record to record.

use std::cell::RefCell;
use std::rc::Rc;

use anyhow::{Result, bail};
use clap::{ArgMatches, FromArgMatches, Parser};

use crate::item::{Event, Item, Kind};
use crate::protocol::def::{Build, BuildCx, Emits, Role, StageDef};
use crate::protocol::{Flow, Stage};
use crate::record::{NodeId, ROOT, Record, Type};

/// Turn each <NAME> element (or each element at --depth D) into a JSON record.
///
/// The xmltodict conventions: attributes are `@attr` fields, child elements are fields
/// (repeated ones an array), an element with only text is a string, text beside
/// attributes or children is `#text`, an empty element is null, CDATA is text, whitespace
/// around text is stripped. Values stay strings.
#[derive(Parser)]
#[command(name = "records", disable_version_flag = true)]
pub struct Args {
    /// The element name, as written (with its prefix, if any: `ns:item`).
    #[arg(required_unless_present = "depth", conflicts_with = "depth")]
    pub name: Option<String>,
    /// Take every element at this depth instead (the root element is depth 1).
    #[arg(short, long, value_name = "D", value_parser = clap::value_parser!(u32).range(1..))]
    pub depth: Option<u32>,
}

pub const DEF: StageDef = StageDef {
    name: "records",
    aliases: &["xml2json"],
    role: Role::Filter,
    summary: "turn each <NAME> element (or each at --depth D) into a JSON record",
    accepts: &[Kind::Event],
    emits: Emits::Kind(Kind::Record),
    examples: &[
        "copipe xml allroutes.xml : records bus",
        "copipe xml feed.xml : records --depth 2 : select id route",
    ],
    command: <Args as clap::CommandFactory>::command,
    build: Build::Filter(build),
};

fn build(m: &ArgMatches, _cx: &BuildCx<'_>, next: Box<dyn Stage>) -> Result<Box<dyn Stage>> {
    Ok(Box::new(Records::new(target(m)?, next)))
}

/// Which elements the arguments ask for.
fn target(m: &ArgMatches) -> Result<Target> {
    let a = Args::from_arg_matches(m)?;
    Ok(match (a.name, a.depth) {
        (Some(n), None) => {
            if n.is_empty() {
                bail!("the element name is empty");
            }
            Target::Name(n)
        }
        (None, Some(d)) => Target::Depth(d as usize),
        _ => bail!("give an element NAME or --depth D"),
    })
}

/// Which elements become records.
#[derive(Clone, Debug)]
pub enum Target {
    Name(String),
    Depth(usize),
}

/// One open element of the record being built.
struct Frame {
    node: NodeId,
    /// Where its text starts in `Records::text`.
    text: usize,
}

pub struct Records {
    target: Target,
    /// The depth of the current element in the document (0 outside the root).
    depth: usize,
    rec: Record,
    /// The open elements of the record, outermost first (empty: not in a record).
    frames: Vec<Frame>,
    /// The text of the open elements, end to end (each frame's from its `text` on).
    text: String,
    /// Where finished records go instead of `next`, in a speculative parse of a part of the
    /// document (see `source::xml::parallel`).
    batch: Option<Batch>,
    next: Box<dyn Stage>,
}

/// Records kept in order, their storage reused from batch to batch.
#[derive(Default)]
pub struct Batch {
    recs: Vec<Record>,
    len: usize,
}

impl Batch {
    /// The records, in order.
    pub fn records(&self) -> &[Record] {
        &self.recs[..self.len]
    }

    /// Empty it, keeping the storage.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Move `rec` in, leaving an empty record (storage from an earlier batch) in its place.
    fn take(&mut self, rec: &mut Record) {
        if self.len == self.recs.len() {
            self.recs.push(Record::new());
        }
        std::mem::swap(&mut self.recs[self.len], rec);
        self.len += 1;
        rec.clear();
    }
}

/// A shared item counter of `--stats`.
pub type Counter = crate::runtime::counter::Counter;

/// A `records` stage that the source before it may drive itself: the `xml` source does, in
/// parallel, for a big file (see `source::xml::parallel`), turning parts of its input into
/// records on several threads and pushing them, in order, to the stage after `records`.
///
/// The pipeline's builder makes a plan when `records` directly follows `xml`, gives it to
/// the source, and builds the `records` stage through it ([`RecordsPlan::build`]): the chain
/// then holds the stage behind a shared handle, and the source, when it parses in parallel,
/// takes the stage from the plan ([`RecordsPlan::take`]) and drives it for the length of
/// its run. Otherwise the source pushes its events into the chain as any source does. So
/// the optimisation is an agreement between the two definitions and the builder; the
/// protocol every stage implements knows nothing of it.
#[derive(Clone, Default)]
pub struct RecordsPlan(Rc<RefCell<Planned>>);

#[derive(Default)]
struct Planned {
    records: Option<Rc<RefCell<Records>>>,
    /// Counters of the items pushed into `records` (`--stats`).
    counters: Vec<Counter>,
}

impl RecordsPlan {
    /// Build the `records` stage of arguments `m`, pushing into `next`, as one that the
    /// source holding this plan can drive.
    pub fn build(&self, m: &ArgMatches, next: Box<dyn Stage>) -> Result<Box<dyn Stage>> {
        let records = Rc::new(RefCell::new(Records::new(target(m)?, next)));
        self.0.borrow_mut().records = Some(records.clone());
        Ok(Box::new(SharedRecords(records)))
    }

    /// `--stats` counts the items pushed into the stage with `counter`: a source that
    /// drives the stage itself adds the events it turned into records.
    pub fn count_into(&self, counter: Counter) {
        self.0.borrow_mut().counters.push(counter);
    }

    /// The stage, once built, and its counters; the source that takes them drives the
    /// stage, which must not be sent anything through the chain meanwhile.
    pub fn take(&self) -> Option<(Rc<RefCell<Records>>, Vec<Counter>)> {
        let mut p = self.0.borrow_mut();
        let records = p.records.take()?;
        Some((records, std::mem::take(&mut p.counters)))
    }
}

/// The `records` stage of a plan, as the chain holds it.
struct SharedRecords(Rc<RefCell<Records>>);

impl Stage for SharedRecords {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        self.0.borrow_mut().send(item)
    }
    fn origin(&mut self, origin: crate::item::Origin<'_>) -> Result<()> {
        self.0.borrow_mut().origin(origin)
    }
    fn flush(&mut self) -> Result<()> {
        self.0.borrow_mut().flush()
    }
    fn tick(&mut self, now: std::time::Instant) -> Result<()> {
        self.0.borrow_mut().tick(now)
    }
    fn close(&mut self) -> Result<()> {
        self.0.borrow_mut().close()
    }
}

impl Records {
    pub fn new(target: Target, next: Box<dyn Stage>) -> Self {
        Records {
            target,
            depth: 0,
            rec: Record::new(),
            frames: Vec::new(),
            text: String::new(),
            batch: None,
            next,
        }
    }

    /// A `records` that keeps its records in a [`Batch`] (for a speculative parse of part
    /// of a document, where the depth there is assumed to be `depth`).
    pub fn batched(target: Target, depth: usize) -> Self {
        let mut r = Records::new(target, Box::new(Nowhere));
        r.batch = Some(Batch::default());
        r.depth = depth;
        r
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

    /// The stage records go to.
    pub fn next_stage(&mut self) -> &mut dyn Stage {
        &mut *self.next
    }

    fn starts_record(&self, name: &str) -> bool {
        match &self.target {
            Target::Name(n) => n == name,
            Target::Depth(d) => *d == self.depth,
        }
    }

    /// The element of the top frame ends: give it its value; the record's own element ends
    /// the record.
    fn end_element(&mut self) -> Result<Flow> {
        let f = self.frames.pop().expect("an open frame");
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
            return Ok(Flow::Continue);
        }
        if let Some(batch) = &mut self.batch {
            batch.take(&mut self.rec);
            return Ok(Flow::Continue);
        }
        let flow = self.next.send(Item::Record(&self.rec));
        self.rec.clear();
        flow
    }
}

impl Stage for Records {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        let Item::Event(ev) = item else {
            return Ok(Flow::Continue);
        };
        match *ev {
            Event::Start { name, attrs } => {
                self.depth += 1;
                let node = if let Some(top) = self.frames.last() {
                    self.rec.add_child(top.node, name)
                } else if self.starts_record(name) {
                    ROOT
                } else {
                    return Ok(Flow::Continue);
                };
                for a in attrs {
                    self.rec.add_str(node, "@", a.name, a.value);
                }
                self.frames.push(Frame {
                    node,
                    text: self.text.len(),
                });
                Ok(Flow::Continue)
            }
            Event::Text { text, .. } => {
                if let Some(top) = self.frames.last() {
                    // Whitespace before the element's first other character is stripped in
                    // the end: it need not be kept.
                    if self.text.len() > top.text || !text.bytes().all(is_space) {
                        self.text.push_str(text);
                    }
                }
                Ok(Flow::Continue)
            }
            Event::End { .. } => {
                // (Only a speculative parse can close elements it did not see open.)
                self.depth = self.depth.saturating_sub(1);
                if self.frames.is_empty() {
                    return Ok(Flow::Continue);
                }
                self.end_element()
            }
        }
    }

    crate::pass_on!(origin, flush, close);
}

/// The `next` of a batched `records`, which never pushes.
struct Nowhere;

impl Stage for Nowhere {
    fn send(&mut self, _item: Item<'_>) -> Result<Flow> {
        Ok(Flow::Continue)
    }
    fn origin(&mut self, _origin: crate::item::Origin<'_>) -> Result<()> {
        Ok(())
    }
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
    fn close(&mut self) -> Result<()> {
        Ok(())
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
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
    use crate::protocol::testing::Collect;
    use crate::runtime::meter::Meter;

    /// The records of a document, as JSON lines (the boxed collector is shared).
    fn records(doc: &str, target: Target) -> Vec<String> {
        let c = Collect::shared();
        let mut r = Records::new(target, Box::new(c.clone()));
        crate::source::xml::parse(
            "t.xml",
            Box::new(std::io::Cursor::new(doc.as_bytes().to_vec())),
            true,
            &Meter::default(),
            &mut r,
        )
        .unwrap();
        c.borrow().strings()
    }

    fn name(n: &str) -> Target {
        Target::Name(n.into())
    }

    #[test]
    fn xmltodict_conventions() {
        let doc = r#"<r><bus id="7" x:y="z">
            <route> 22 </route>
            <stop>A</stop><empty/><stop>B</stop>
            <note lang="en">hi <b>there</b> you</note>
            <cd><![CDATA[a & b]]></cd>
            <nested><stop>C</stop><stop>D</stop></nested>
        </bus></r>"#;
        assert_eq!(
            records(doc, name("bus")),
            [concat!(
                r#"{"@id":"7","@x:y":"z","route":"22","stop":["A","B"],"empty":null,"#,
                r##""note":{"@lang":"en","b":"there","#text":"hi  you"},"cd":"a & b","##,
                r#""nested":{"stop":["C","D"]}}"#
            )]
        );
    }

    #[test]
    fn record_element_with_text_or_nothing() {
        let doc = "<r><v>1</v><v/><v> </v><v a='b'>t</v></r>";
        assert_eq!(
            records(doc, name("v")),
            [
                r##"{"#text":"1"}"##,
                "{}",
                "{}",
                r##"{"@a":"b","#text":"t"}"##
            ]
        );
    }

    #[test]
    fn by_depth_and_outermost_wins() {
        let doc = "<a><b><b>in</b></b><c>x</c></a>";
        assert_eq!(records(doc, name("b")), [r#"{"b":"in"}"#]);
        assert_eq!(
            records(doc, Target::Depth(2)),
            [r#"{"b":"in"}"#, r##"{"#text":"x"}"##]
        );
        assert_eq!(
            records(doc, Target::Depth(1)),
            [r#"{"b":{"b":"in"},"c":"x"}"#]
        );
        assert!(records(doc, Target::Depth(9)).is_empty());
    }
}
