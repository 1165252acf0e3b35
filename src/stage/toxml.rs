//! `toxml` — write records (or XML events) back out as one XML document, with xmltodict's
//! `unparse` conventions, written with quick-xml's writer.
//!
//! Accepts records or events; emits lines (so `: write out.xml` and `: print` both work).
//!
//! Records: the document is `<?xml …?>`, `<ROOT>`, then one `<ITEM>` element per record, one
//! line each, then `</ROOT>` (`--root`, default `root`; `--item`, default `item`: a record
//! does not know the name of the element it came from). A record is the item element's
//! value, and a value becomes XML as xmltodict's `unparse` writes it:
//! * an `@name` field is an attribute (a string, number or bool; null is an empty value);
//! * a `#text` field is the text, written after the child elements;
//! * any other field is a child element of that name: an array is the element repeated, an
//!   object its attributes, text and children, null an empty element, a string its text, a
//!   number or bool its text as written.
//!
//! Nothing is made up to keep the output well-formed: a field name that is not an XML name
//! (`1abc`, `a b`, ``), an object or array where an attribute or `#text` is, an array inside
//! an array, a character XML cannot carry (a control character) are each an error naming
//! the record (its number, from 1) and the field. The records before it are written and the
//! root is still closed, so the output stays a well-formed document.
//!
//! Events: each start, text and end is written back as a tag or text (CDATA as CDATA). With
//! `--root` the events are wrapped in it; without, they must make one element (a second
//! top-level element, or text outside it, is an error: give `--root`). Elements left open
//! when the stream ends (after `head`) are closed. Lines are cut where the text has newlines;
//! a line that grows past 64 KiB is cut inside the next tag, before its `>` (XML ignores that
//! space), so memory stays bounded whatever the document's shape.
//!
//! Memory: one record's output, and the names of the open elements for events. Every buffer
//! is reused from item to item.

use std::borrow::Cow;

use anyhow::{Result, bail};
use clap::{ArgMatches, FromArgMatches, Parser};
use quick_xml::Writer;
use quick_xml::escape::{escape, partial_escape};
use quick_xml::events::{BytesCData, BytesEnd, BytesStart, BytesText, Event as Xml};

use crate::item::{Event, Item, Kind, Origin, Record, Type, Val};
use crate::protocol::def::{Build, BuildCx, Emits, Role, StageDef};
use crate::protocol::{Flow, Stage};
use crate::record::Step;
use crate::xmlchars::{is_name, is_xml_char};

/// Write records (or XML events) back out as one XML document, xmltodict's unparse style.
///
/// Records: `@attr` fields become attributes, `#text` the text, arrays repeated elements,
/// objects child elements, null an empty element, numbers and bools their text. Each record
/// is one <ITEM> element (--item, default `item`; a record does not know the element it
/// came from), one line each, all inside one <ROOT> element (--root, default `root`), after
/// an XML declaration. A field name that is not an XML name, or a character XML cannot
/// carry, is an error naming the record; the document written so far is still closed.
///
/// Events (straight from `xml`, or filtered): written back as tags and text. Without --root
/// they must make one element; with it they are wrapped in <ROOT>. Elements still open at
/// the end are closed.
#[derive(Parser)]
#[command(name = "toxml", disable_version_flag = true)]
pub struct Args {
    /// The root element around everything (records: default `root`; events: none).
    #[arg(long, value_name = "NAME")]
    pub root: Option<String>,
    /// The element each record becomes.
    #[arg(long, value_name = "NAME", default_value = "item")]
    pub item: String,
    /// Indent child elements with a tab on lines of their own, as xmltodict's
    /// `unparse(pretty=True)` does (text beside children gets the indentation too).
    #[arg(long)]
    pub pretty: bool,
    /// Leave out the `<?xml version="1.0" encoding="utf-8"?>` line.
    #[arg(long)]
    pub no_declaration: bool,
}

pub const DEF: StageDef = StageDef {
    name: "toxml",
    aliases: &["json2xml"],
    role: Role::Filter,
    summary: "write records (or events) back out as an XML document",
    accepts: &[Kind::Record, Kind::Event],
    emits: Emits::Kind(Kind::Line),
    examples: &[
        "copipe xml allroutes.xml : records bus : where route=22 : toxml --root buses --item bus : write route22.xml",
        "copipe cat events.ndjson : json : toxml --root events --item event --pretty",
        "copipe xml doc.xml : skip 1 : head 40 : toxml --root part",
    ],
    command: <Args as clap::CommandFactory>::command,
    fusion: None,
    build: Build::Filter(build),
};

fn build(m: &ArgMatches, cx: &BuildCx<'_>, next: Box<dyn Stage>) -> Result<Box<dyn Stage>> {
    let a = Args::from_arg_matches(m)?;
    let root = match (a.root, cx.input) {
        (Some(r), _) => Some(r),
        (None, Kind::Record) => Some("root".to_string()),
        (None, _) => None,
    };
    for (what, name) in [("--root", root.as_deref()), ("--item", Some(&a.item[..]))] {
        if let Some(n) = name
            && !is_name(n)
        {
            bail!("toxml {what}: `{n}` is not an XML element name");
        }
    }
    Ok(Box::new(ToXml::new(
        root,
        a.item,
        a.pretty,
        cx.input == Kind::Record,
        !a.no_declaration,
        next,
    )))
}

/// Past this many bytes without a newline, events output is cut inside the next tag.
const LONG_LINE: usize = 64 * 1024;

/// One open element of a record being written.
enum Frame<'r> {
    /// An object's element: its name, its `#text` (written before its end tag), its depth
    /// and whether it has child elements (`--pretty` then breaks the line after its start
    /// tag and indents its end tag).
    Elem(&'r str, Option<Val<'r>>, usize, bool),
    /// An array: its items are elements named after it, at this depth.
    Array(&'r str, usize),
}

/// Whether an object has a member that becomes a child element (not an `@` attribute, not
/// `#text`, not an empty array: xmltodict writes nothing for one).
fn has_children(obj: Val<'_>) -> bool {
    obj.members().any(|(k, v)| {
        !(k.starts_with('@')
            || k == "#text"
            || (v.ty() == Type::Array && v.items().next().is_none()))
    })
}

pub struct ToXml {
    root: Option<String>,
    item: String,
    /// Records: indented as xmltodict's `unparse(pretty=True)` (see [`ToXml::indent`]);
    /// events: by quick-xml's indenting writer, which puts a newline before each tag.
    pretty: bool,
    /// It receives records (else events).
    records: bool,
    declaration: bool,
    /// The output not yet pushed on: everything after the last newline stays here.
    w: Writer<Vec<u8>>,
    /// A start tag's contents (`name a="v"`), built here.
    tag: String,
    /// Attribute values that need more escaping than quick-xml gives.
    attr: String,
    started: bool,
    /// Records written (the number of the record in errors).
    n: u64,
    /// The open frames of the record being written (empty between records; the storage is
    /// kept, see `reuse`).
    frames: Vec<Frame<'static>>,
    /// Events: the names of the open elements (each name's end in `names`).
    open: Vec<usize>,
    names: String,
    /// Events: a top-level element has been closed.
    had_root: bool,
    next: Box<dyn Stage>,
}

/// An empty vector of frames borrowing from `'a`, with the storage of `v` (the in-place
/// collect of an empty iterator keeps the allocation).
fn reuse<'a>(mut v: Vec<Frame<'static>>) -> Vec<Frame<'a>> {
    v.clear();
    v.into_iter().map(|_| unreachable!()).collect()
}

fn unborrow(v: Vec<Frame<'_>>) -> Vec<Frame<'static>> {
    let mut v = v;
    v.clear();
    v.into_iter().map(|_| unreachable!()).collect()
}

/// A string's first character XML cannot carry, if any.
fn bad_char(s: &str) -> Option<char> {
    // Most text is printable ASCII: check it by bytes first.
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return None;
    }
    s.chars().find(|&c| !is_xml_char(c))
}

/// What went wrong with a record, before the record number is put in front.
fn fail<T>(field: &str, what: impl std::fmt::Display) -> Result<T> {
    bail!("field `{field}` {what}")
}

impl ToXml {
    pub fn new(
        root: Option<String>,
        item: String,
        pretty: bool,
        records: bool,
        declaration: bool,
        next: Box<dyn Stage>,
    ) -> Self {
        let w = if pretty && !records {
            Writer::new_with_indent(Vec::new(), b'\t', 1)
        } else {
            Writer::new(Vec::new())
        };
        ToXml {
            root,
            item,
            pretty,
            records,
            declaration,
            w,
            tag: String::new(),
            attr: String::new(),
            started: false,
            n: 0,
            frames: Vec::new(),
            open: Vec::new(),
            names: String::new(),
            had_root: false,
            next,
        }
    }

    /// The declaration and the root's start tag, once.
    fn start(&mut self) -> Result<()> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        if self.declaration {
            self.w
                .get_mut()
                .extend_from_slice(b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
        }
        if let Some(r) = &self.root {
            self.w
                .write_event(Xml::Start(BytesStart::new(r.as_str())))?;
            // Records go one a line (pretty: each a block); events carry their own
            // whitespace.
            if self.records {
                self.w.get_mut().push(b'\n');
            }
        }
        Ok(())
    }

    /// Push on every whole line written so far; keep the rest.
    fn push_lines(&mut self) -> Result<Flow> {
        let buf = self.w.get_mut();
        let Some(end) = memchr::memrchr(b'\n', buf) else {
            return Ok(Flow::Continue);
        };
        let flow = self.next.send_lines(&buf[..=end])?;
        let buf = self.w.get_mut();
        buf.drain(..=end);
        Ok(flow)
    }

    /// `--pretty` for records, as xmltodict's `unparse(pretty=True)` writes: `depth` tabs
    /// before a start tag; a newline after it when the element has children; the same tabs
    /// before its end tag then; a newline after each end tag but the root's. An element
    /// without children (`{}`, `null`, only attributes or text) is `<a></a>` on one line.
    fn indent(&mut self, depth: usize) {
        if self.pretty {
            let buf = self.w.get_mut();
            buf.resize(buf.len() + depth, b'\t');
        }
    }

    fn newline(&mut self) {
        if self.pretty {
            self.w.get_mut().push(b'\n');
        }
    }

    /// Add ` name="value"` to the start tag being built.
    fn push_attr(tag: &mut String, attr: &mut String, name: &str, value: &str) {
        tag.push(' ');
        tag.push_str(name);
        tag.push_str("=\"");
        let esc = escape(value);
        if esc.contains(['\n', '\t']) {
            // Attribute-value normalization would turn these into spaces.
            attr.clear();
            for c in esc.chars() {
                match c {
                    '\n' => attr.push_str("&#10;"),
                    '\t' => attr.push_str("&#9;"),
                    c => attr.push(c),
                }
            }
            tag.push_str(attr);
        } else {
            tag.push_str(&esc);
        }
        tag.push('"');
    }

    /// Start tag of an object element `name`: its `@` fields are its attributes. Returns
    /// its `#text`.
    fn open_object<'r>(&mut self, name: &str, obj: Val<'r>) -> Result<Option<Val<'r>>> {
        self.tag.clear();
        self.tag.push_str(name);
        let mut text = None;
        for (k, v) in obj.members() {
            if let Some(a) = k.strip_prefix('@') {
                if !is_name(a) {
                    return fail(k, "is not an XML attribute name after its `@`");
                }
                match v.ty() {
                    Type::Array | Type::Object => {
                        return fail(k, "is an attribute but holds an array or object");
                    }
                    _ => {}
                }
                if let Some(c) = bad_char(v.text()) {
                    return fail(k, format_args!("holds {c:?}, a character XML cannot carry"));
                }
                Self::push_attr(&mut self.tag, &mut self.attr, a, v.text());
            } else if k == "#text" {
                match v.ty() {
                    Type::Array | Type::Object => {
                        return fail(k, "holds an array or object, not text");
                    }
                    _ => text = Some(v),
                }
            }
        }
        self.w.write_event(Xml::Start(BytesStart::from_content(
            &self.tag[..],
            name.len(),
        )))?;
        Ok(text)
    }

    /// Text, escaped (after a check that XML can carry it).
    fn text(&mut self, field: &str, v: Val<'_>) -> Result<()> {
        let t = v.text();
        if let Some(c) = bad_char(t) {
            return fail(
                field,
                format_args!("holds {c:?}, a character XML cannot carry"),
            );
        }
        self.w
            .write_event(Xml::Text(BytesText::from_escaped(partial_escape(t))))?;
        Ok(())
    }

    /// Write one record as an `<item>` element, in a loop over its values (any depth).
    fn record(&mut self, rec: &Record) -> Result<()> {
        let item = std::mem::take(&mut self.item);
        let frames = reuse(std::mem::take(&mut self.frames));
        let r = self.record_with(rec, &item, frames);
        self.item = item;
        let frames = r?;
        self.frames = unborrow(frames);
        Ok(())
    }

    fn record_with<'r>(
        &mut self,
        rec: &'r Record,
        item: &str,
        mut frames: Vec<Frame<'r>>,
    ) -> Result<Vec<Frame<'r>>> {
        let root = rec.root();
        // The record is at depth 1, inside the root.
        self.indent(1);
        let text = self.open_object(item, root)?;
        let item_children = has_children(root);
        if item_children {
            self.newline();
        }
        let mut walk = root.walk();
        walk.next(); // the record's own object, opened above
        let mut item_text = text;
        while let Some(step) = walk.next() {
            match step {
                Step::Open(v) => {
                    let (name, depth) = match frames.last() {
                        Some(&Frame::Array(n, depth)) => {
                            if v.ty() == Type::Array {
                                return fail(n, "holds an array inside an array");
                            }
                            (n, depth)
                        }
                        _ => {
                            let k = v.key();
                            if k.starts_with('@') || k == "#text" {
                                // Written with the element's start tag or before its end.
                                walk.skip_contents();
                                continue;
                            }
                            if !is_name(k) {
                                return fail(k, "is not an XML element name");
                            }
                            let depth = match frames.last() {
                                Some(&Frame::Elem(_, _, d, _)) => d + 1,
                                _ => 2,
                            };
                            (k, depth)
                        }
                    };
                    match v.ty() {
                        Type::Array => frames.push(Frame::Array(name, depth)),
                        Type::Object => {
                            self.indent(depth);
                            let text = self.open_object(name, v)?;
                            let children = has_children(v);
                            if children {
                                self.newline();
                            }
                            frames.push(Frame::Elem(name, text, depth, children));
                        }
                        Type::Null => {
                            self.indent(depth);
                            self.w.write_event(Xml::Start(BytesStart::new(name)))?;
                            self.w.write_event(Xml::End(BytesEnd::new(name)))?;
                            self.newline();
                        }
                        _ => {
                            self.indent(depth);
                            self.w.write_event(Xml::Start(BytesStart::new(name)))?;
                            self.text(name, v)?;
                            self.w.write_event(Xml::End(BytesEnd::new(name)))?;
                            self.newline();
                        }
                    }
                }
                Step::Close(_) => match frames.pop() {
                    Some(Frame::Array(..)) => {}
                    Some(Frame::Elem(name, text, depth, children)) => {
                        if let Some(t) = text {
                            self.text("#text", t)?;
                        }
                        if children {
                            self.indent(depth);
                        }
                        self.w.write_event(Xml::End(BytesEnd::new(name)))?;
                        self.newline();
                    }
                    None => {
                        // The record's own close.
                        if let Some(t) = item_text.take() {
                            self.text("#text", t)?;
                        }
                        if item_children {
                            self.indent(1);
                        }
                        self.w.write_event(Xml::End(BytesEnd::new(item)))?;
                    }
                },
            }
        }
        Ok(frames)
    }

    fn event(&mut self, ev: &Event<'_>) -> Result<()> {
        let long = self.w.get_ref().len() > LONG_LINE;
        match *ev {
            Event::Start { name, attrs } => {
                if self.open.is_empty() && self.root.is_none() && self.had_root {
                    bail!(
                        "toxml: a second top-level element <{name}>: an XML document has one \
                         root (give --root NAME to wrap them)"
                    );
                }
                self.tag.clear();
                self.tag.push_str(name);
                for a in attrs {
                    Self::push_attr(&mut self.tag, &mut self.attr, a.name, a.value);
                }
                if long {
                    self.tag.push('\n');
                }
                self.w.write_event(Xml::Start(BytesStart::from_content(
                    &self.tag[..],
                    name.len(),
                )))?;
                self.names.push_str(name);
                self.open.push(self.names.len());
            }
            Event::Text { text, cdata } => {
                if self.open.is_empty() && self.root.is_none() {
                    if text.bytes().all(crate::xmlchars::is_space) {
                        return Ok(());
                    }
                    bail!(
                        "toxml: text outside the root element: {:?} (give --root NAME to wrap it)",
                        text
                    );
                }
                if cdata {
                    for part in BytesCData::escaped(text) {
                        self.w.write_event(Xml::CData(part))?;
                    }
                } else {
                    self.w
                        .write_event(Xml::Text(BytesText::from_escaped(partial_escape(text))))?;
                }
            }
            Event::End { name } => {
                let Some(end) = self.open.pop() else {
                    bail!("toxml: an end event </{name}> with no element open");
                };
                let start = self.open.last().copied().unwrap_or(0);
                if &self.names[start..end] != name {
                    bail!(
                        "toxml: an end event </{name}> while <{}> is open",
                        &self.names[start..end]
                    );
                }
                self.names.truncate(start);
                let end: Cow<'_, str> = if long {
                    format!("{name}\n").into()
                } else {
                    name.into()
                };
                self.w.write_event(Xml::End(BytesEnd::new(end)))?;
                if self.open.is_empty() {
                    self.had_root = true;
                }
            }
        }
        Ok(())
    }

    /// Close what is open, the root last, and push the rest of the output on.
    fn finish(&mut self) -> Result<()> {
        self.start()?;
        while let Some(end) = self.open.pop() {
            let start = self.open.last().copied().unwrap_or(0);
            let name = self.names[start..end].to_string();
            self.names.truncate(start);
            self.w.write_event(Xml::End(BytesEnd::new(name)))?;
        }
        if let Some(r) = &self.root {
            self.w.write_event(Xml::End(BytesEnd::new(r.as_str())))?;
        }
        let buf = self.w.get_mut();
        if buf.last().is_some_and(|&b| b != b'\n') {
            buf.push(b'\n');
        }
        if !buf.is_empty() {
            let _ = self.next.send_lines(buf)?;
            buf.clear();
        }
        Ok(())
    }
}

impl Stage for ToXml {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        self.start()?;
        match item {
            Item::Record(r) => {
                self.n += 1;
                let mark = self.w.get_ref().len();
                if let Err(e) = self.record(r) {
                    // Nothing of the bad record goes out: the document stays well-formed.
                    self.w.get_mut().truncate(mark);
                    let n = self.n;
                    self.frames.clear();
                    return Err(e.context(format!("toxml: record {n}")));
                }
                self.w.get_mut().push(b'\n');
            }
            Item::Event(ev) => self.event(ev)?,
            Item::Line(_) => return self.next.send(item),
        }
        self.push_lines()
    }

    fn origin(&mut self, origin: Origin<'_>) -> Result<()> {
        self.next.origin(origin)
    }

    crate::pass_on!(flush);

    fn close(&mut self) -> Result<()> {
        let r = self.finish();
        let c = self.next.close();
        r.and(c)
    }
}
