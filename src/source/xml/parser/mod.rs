//! The XML tokenizer and well-formedness checker: one pass over the window of
//! [`Input`], pushing SAX events.
//!
//! It keeps only the names of the open elements (the current path) and a few reusable
//! scratch buffers: text and attribute values are borrowed from the window when they need
//! no decoding, and decoded into scratch space (reused) when they hold references or CRs.
//! Each token is read from the window; when the window ends inside a token the token is
//! read again after more input arrives (a window holding one unfinished token grows). So
//! that a long token costs time linear in its length however it arrives (a 200 MB
//! attribute value through a pipe that gives 64 KiB a read), the scan that ran out of data
//! (a name, an attribute value, the end of a CDATA section or PI) notes where it got to
//! ([`Resume`]) and the next try goes on from there; and any other unfinished token is
//! tried again only once its data has doubled ([`Input::more_toward`]). Comments and PIs,
//! which are not pushed, are not held either: outside entities, a long one is checked and
//! dropped as it passes ([`Partial`]). Text longer than the window is pushed in pieces, cut
//! where no reference, CR or `]]>` can straddle the cut.
//!
//! Errors carry the offset of what is wrong; [`super`] turns it into `FILE:LINE:COLUMN`.

//!
//! By construct, as quick-xml's parser is laid out: this file drives the tokens (the
//! window, resuming, the hot path's dispatch) and holds the parser's state; [`tag`] reads
//! start and end tags and their attributes, [`text`] character data and references (and
//! entity expansion), [`markup`] comments, PIs, CDATA sections, the XML declaration and the
//! DOCTYPE, [`dtd`] the DOCTYPE's declarations, [`error`] what an error says.

mod dtd;
mod error;
mod markup;
mod tag;
mod text;

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use anyhow::Result;

use super::chars::{self, NameEnd, is_space};
use super::input::{Input, InputError};
use crate::item::Attr;
use crate::protocol::{Flow, Stage};

pub use error::Fail;
use error::at;
use markup::Partial;
use tag::AttrSpan;

/// Elements nested deeper than this are refused (records and their JSON are written
/// recursively; this keeps the stack bounded).
pub const MAX_DEPTH: usize = 4096;

/// What one token did.
pub(super) enum Step {
    /// Consumed this many bytes; what the stage said.
    Done(usize, Flow),
    /// The data ends inside the token (named for the error at the end of the input).
    More(&'static str),
}

/// A scan inside the token at the start of the data that ran out of data: the scan that
/// starts at `from` (token-relative) found no end in `..to`. The token is tokenized again
/// from its start when more data came, and that scan then resumes at `to`.
#[derive(Clone, Copy, Default)]
struct Resume {
    from: usize,
    to: usize,
    /// A run of white space (which may start where a name does, after none).
    space: bool,
}

/// What a token started, for [`Parser::settle`].
const STARTED_PARTIAL: u8 = 1;
pub(super) const STARTED_SUBSET: u8 = 2;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    /// Before the root element.
    Prolog,
    /// Inside the root element.
    Root,
    /// After the root element.
    Epilog,
}

/// An attribute declared in an ATTLIST: whether its type is not CDATA (its value's spaces
/// are collapsed), and its default value.
#[derive(Clone, Debug)]
pub struct AttDef {
    pub name: String,
    pub tokenized: bool,
    pub default: Option<String>,
}

/// The replacement text of a general entity declared in the internal subset.
pub struct Entity {
    pub text: String,
    /// Whether the text holds markup or references (and so must be parsed when used).
    pub parse: bool,
    /// An external parsed entity: not fetched, it expands to nothing in text.
    pub external: bool,
}

pub struct Parser {
    pub input: Input,
    strict: bool,
    state: State,
    /// The names of the open elements, end to end, and where each ends.
    names: String,
    ends: Vec<usize>,
    /// Decoded text and attribute values (reused).
    text: String,
    vals: String,
    spans: Vec<AttrSpan>,
    attrs: Vec<Attr<'static>>,
    seen_doctype: bool,
    /// Whether anything but the XML declaration was read (for its position check).
    started: bool,
    pub entities: HashMap<String, Rc<Entity>>,
    /// Unparsed (NDATA) entities and parameter entities declared in the DOCTYPE.
    pub unparsed: HashSet<String>,
    pub parameter_entities: HashSet<String>,
    /// The DOCTYPE has an external subset or parameter-entity references, which are not
    /// read: an undeclared entity may be declared there, so it is not an error (unless the
    /// document says `standalone="yes"`); it is left out, with a warning, as expat does.
    pub(super) unread_declarations: bool,
    /// A parameter-entity reference was seen (and not read): later ENTITY and ATTLIST
    /// declarations are not used unless the document is standalone.
    pub(super) pe_skipped: bool,
    /// The attributes declared per element in the internal subset.
    attlists: HashMap<String, Rc<Vec<AttDef>>>,
    standalone: bool,
    warned: HashSet<String>,
    /// Entities being expanded (innermost last), and the bytes expanded so far.
    expanding: Vec<String>,
    expanded: u64,
    /// A speculative parse of a part of the document (see [`super::parallel`]): the
    /// elements open where it starts are unknown, so an end tag with no open element is
    /// noted in `popped` (to be checked against the real path later) rather than refused.
    speculative: bool,
    pub(super) popped: Vec<String>,
    /// The deepest `ends.len()` reached in a speculative parse.
    pub(super) deepest: usize,
    /// Where the last try of the unfinished token got to (set with [`Step::More`]), and
    /// what the current token may resume from (taken from it when the token starts).
    resume: Resume,
    hint: Resume,
    /// Inside a comment or PI being dropped as it is read; `partial_start` is where it
    /// started (absolute), for the error at the end of the input.
    partial: Partial,
    partial_start: u64,
    /// Where a partial comment or PI started in the data given to [`Parser::tokens`].
    partial_rel: Option<usize>,
    /// Inside the internal subset of the DOCTYPE, whose declarations, comments and PIs are
    /// tokens of their own (so that it is not held whole); where the DOCTYPE started
    /// (absolute, and in the data given to [`Parser::tokens`]).
    pub(super) in_subset: bool,
    doctype_start: u64,
    doctype_rel: Option<usize>,
    /// The document's name, for warnings (`FILE:LINE:COLUMN`).
    pub(super) file: Option<Rc<str>>,
    /// The offset of the reference whose replacement text is being read (in the token).
    outer_ref: usize,
    /// Warnings to print once the tokens are read, at an offset in the current token (the
    /// last `warnings.len() - settled` of them) or in the data given to
    /// [`Parser::tokens`].
    warnings: Vec<(usize, String)>,
    settled: usize,
    /// Something else than plain tokens is going on, to be seen to before and after the
    /// next token ([`Parser::token_special`], [`Parser::settle`]): a partial comment or PI,
    /// the internal subset, a retry of a token (with its [`Resume`]), warnings or starts
    /// (`STARTED_*` in `started_here`) to place. Keeps the tokens' hot path to one test.
    special: bool,
    started_here: u8,
    /// A nonblocking input would have blocked in [`Input::more_toward`] with this target,
    /// which the next [`Parser::run_to`] asks for again first.
    toward: Option<usize>,
}

/// Where [`Parser::run_to`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// The next token starts exactly at the offset asked for.
    At,
    /// A token runs over the offset: the offset is not the start of a token.
    Past,
    /// The input ended (the document is complete).
    Ended,
    /// The stage pushed to asked for nothing more.
    Stopped,
    /// The input is [`Input::nonblocking`] and has nothing to read now: call again once
    /// this descriptor is readable; the parse goes on exactly where it stopped.
    Blocked(std::os::fd::RawFd),
}

/// What a speculative parser needs from the DOCTYPE (see [`Parser::declarations`]); it
/// can be sent to another thread.
#[derive(Clone)]
pub struct Declarations {
    strict: bool,
    entities: Vec<(String, String, bool, bool)>,
    attlists: Vec<(String, Vec<AttDef>)>,
}

/// The expansion limits for entities declared in the document.
pub const MAX_ENTITY_DEPTH: usize = 16;
pub const MAX_EXPANDED: u64 = 16 << 20;

impl Parser {
    pub fn new(input: Input, strict: bool) -> Self {
        Parser {
            input,
            strict,
            state: State::Prolog,
            names: String::new(),
            ends: Vec::new(),
            text: String::new(),
            vals: String::new(),
            spans: Vec::new(),
            attrs: Vec::new(),
            seen_doctype: false,
            started: false,
            entities: HashMap::new(),
            unparsed: HashSet::new(),
            parameter_entities: HashSet::new(),
            unread_declarations: false,
            pe_skipped: false,
            attlists: HashMap::new(),
            standalone: false,
            warned: HashSet::new(),
            expanding: Vec::new(),
            expanded: 0,
            speculative: false,
            popped: Vec::new(),
            deepest: 0,
            resume: Resume::default(),
            hint: Resume::default(),
            partial: Partial::None,
            partial_start: 0,
            partial_rel: None,
            in_subset: false,
            doctype_start: 0,
            doctype_rel: None,
            file: None,
            outer_ref: 0,
            warnings: Vec::new(),
            settled: 0,
            special: false,
            started_here: 0,
            toward: None,
        }
    }

    /// The declarations a speculative parser of the rest of the document needs, or `None`
    /// when the document cannot be parsed in parts: it is not inside its root element yet,
    /// or its DOCTYPE refers to declarations that are not read (which makes undeclared
    /// entities warnings, to be given once and in order).
    pub fn declarations(&self) -> Option<Declarations> {
        if self.state != State::Root
            || self.unread_declarations
            || !self.expanding.is_empty()
            || self.partial != Partial::None
            || self.entities.values().any(|e| e.external)
        {
            // (A reference to an external entity is a warning, given once and in order.)
            return None;
        }
        Some(Declarations {
            strict: self.strict,
            entities: self
                .entities
                .iter()
                .map(|(k, e)| (k.clone(), e.text.clone(), e.parse, e.external))
                .collect(),
            attlists: self
                .attlists
                .iter()
                .map(|(k, v)| (k.clone(), v.as_ref().clone()))
                .collect(),
        })
    }

    /// A parser for a part of the document that starts at the start of a token inside the
    /// root element, with the open elements there unknown (see `speculative`).
    pub fn speculative(decl: &Declarations) -> Self {
        let mut p = Parser::new(Input::empty(), decl.strict);
        p.state = State::Root;
        p.started = true;
        p.seen_doctype = true;
        p.speculative = true;
        for (k, text, parse, external) in &decl.entities {
            let e = Entity {
                text: text.clone(),
                parse: *parse,
                external: *external,
            };
            p.entities.insert(k.clone(), Rc::new(e));
        }
        for (k, v) in &decl.attlists {
            p.attlists.insert(k.clone(), Rc::new(v.clone()));
        }
        p
    }

    /// Parse `d[..limit]` speculatively, from the start of a token: `Ok(true)` when the
    /// tokens end exactly at `limit`, `Ok(false)` when one runs over it (or `d` ends inside
    /// one); an error is a well-formedness error or a stop from `out`, either way the part
    /// is not used. The parser is reset first.
    pub fn parse_part(
        &mut self,
        d: &[u8],
        limit: usize,
        out: &mut (impl Stage + ?Sized),
    ) -> Result<bool, Fail> {
        debug_assert!(self.speculative);
        self.names.clear();
        self.ends.clear();
        self.popped.clear();
        self.deepest = 0;
        self.expanded = 0;
        self.expanding.clear();
        self.resume = Resume::default();
        self.special = false;
        match self.tokens(d, false, limit, out)? {
            (n, None) => Ok(n == limit),
            (_, Some(Ok(()))) => Err(Fail::Other(anyhow::anyhow!("stopped"))),
            (_, Some(Err(_))) => Ok(false),
        }
    }

    /// The names of the elements open at the end of a speculative part, outermost first.
    pub fn open_names(&self) -> Vec<String> {
        let mut v = Vec::with_capacity(self.ends.len());
        let mut start = 0;
        for &e in &self.ends {
            v.push(self.names[start..e].to_string());
            start = e;
        }
        v
    }

    /// The bytes of entity text expanded so far.
    pub fn expanded(&self) -> u64 {
        self.expanded
    }

    /// The number of open elements.
    pub fn depth(&self) -> usize {
        self.ends.len()
    }

    /// Whether a speculative part whose parse closed `popped` (innermost first), left
    /// `open` open, went `deepest` deep and expanded `expanded` bytes of entities can follow
    /// the tokens read so far: the closed elements are the innermost open ones here, the
    /// root stays open, and no limit is crossed.
    pub fn can_adopt(&self, popped: &[String], deepest: usize, expanded: u64) -> bool {
        if self.state != State::Root
            || !self.expanding.is_empty()
            || self.partial != Partial::None
            || popped.len() >= self.ends.len()
            || self.ends.len() - popped.len() + deepest > MAX_DEPTH
            || self.expanded + expanded > MAX_EXPANDED
        {
            return false;
        }
        let mut n = self.ends.len();
        for name in popped {
            let start = if n >= 2 { self.ends[n - 2] } else { 0 };
            if &self.names[start..self.ends[n - 1]] != name {
                return false;
            }
            n -= 1;
        }
        true
    }

    /// Take on the effect of an adopted part (see [`Parser::can_adopt`]): close `popped`
    /// elements, open `open`. The input is moved past the part by the caller.
    pub fn adopt(&mut self, popped: usize, open: &[String], expanded: u64) {
        for _ in 0..popped {
            self.ends.pop();
            self.names.truncate(self.ends.last().copied().unwrap_or(0));
        }
        for name in open {
            self.names.push_str(name);
            self.ends.push(self.names.len());
        }
        self.expanded += expanded;
    }

    /// Parse the whole input, pushing events into `out`, until it ends or `out` stops.
    pub fn run(&mut self, out: &mut (impl Stage + ?Sized)) -> Result<(), Fail> {
        self.run_to(u64::MAX, out).map(|_| ())
    }

    /// Parse until the next token would start at or after offset `stop_at`, the input
    /// ends (then the document must be complete), or `out` stops.
    ///
    /// On a [`Input::nonblocking`] input it also stops where a read would sleep
    /// ([`Reach::Blocked`]), having pushed every complete event; what it was reading for is
    /// kept, and the next call takes up from there.
    pub fn run_to(&mut self, stop_at: u64, out: &mut (impl Stage + ?Sized)) -> Result<Reach, Fail> {
        if let Some(want) = self.toward {
            match self.input.more_toward(want) {
                Err(InputError::Blocked) => return Ok(self.blocked()),
                r => {
                    self.toward = None;
                    r?;
                }
            }
        }
        loop {
            let here = self.input.offset(0);
            if here >= stop_at {
                return Ok(
                    if here == stop_at && self.partial == Partial::None && !self.in_subset {
                        Reach::At
                    } else {
                        Reach::Past
                    },
                );
            }
            if self.input.pos == self.input.valid {
                if !self.input.nonblocking && self.input.would_block() {
                    out.flush()?;
                }
                match self.input.more() {
                    Ok(true) => {}
                    Ok(false) => {
                        self.finish()?;
                        return Ok(Reach::Ended);
                    }
                    Err(InputError::Blocked) => return Ok(self.blocked()),
                    Err(e) => return Err(e.into()),
                }
                continue;
            }
            let buf = std::mem::take(&mut self.input.buf);
            let eof = self.input.at_eof();
            let d = &buf[self.input.pos..self.input.valid];
            let limit = (stop_at - here).min(d.len() as u64) as usize;
            let r = self.tokens(d, eof, limit, out);
            self.input.buf = buf;
            if !self.warnings.is_empty() {
                self.print_warnings();
            }
            if let Some(rel) = self.partial_rel.take() {
                // A comment or PI started here and is dropped as it is read: note where.
                self.partial_start = self.input.offset(rel);
                self.input.mark(0, self.partial_start);
            }
            if let Some(rel) = self.doctype_rel.take() {
                self.doctype_start = self.input.offset(rel);
                self.input.mark(1, self.doctype_start);
            }
            match r {
                Ok((n, None)) => self.input.pos += n,
                Ok((_, Some(Ok(())))) => return Ok(Reach::Stopped),
                Ok((n, Some(Err(what)))) => {
                    self.input.pos += n;
                    if eof {
                        return Err(self.ends_inside(what));
                    }
                    // At the end of the input, the next round sees `eof` and reports.
                    if !self.input.nonblocking && self.input.would_block() {
                        out.flush()?;
                    }
                    let had = self.input.valid - self.input.pos;
                    let want = had.saturating_mul(2);
                    match self.input.more_toward(want) {
                        Err(InputError::Blocked) => {
                            self.toward = Some(want);
                            return Ok(self.blocked());
                        }
                        r => {
                            r?;
                        }
                    }
                }
                Err(Fail::At(i, m)) => return Err(Fail::Abs(self.input.offset(i), m)),
                Err(e) => return Err(e),
            }
        }
    }

    /// Where a nonblocking input would block.
    #[cold]
    fn blocked(&self) -> Reach {
        Reach::Blocked(self.input.blocking_fd.unwrap_or(-1))
    }

    /// Tokenize `d` until `limit` (at most `d.len()`) is reached or passed, a token is cut
    /// by the end of `d`, or `out` stops. Returns the bytes consumed, and `Some(Ok)` when
    /// `out` stopped, `Some(Err(what))` when the data ended inside `what`.
    #[allow(clippy::type_complexity)]
    fn tokens(
        &mut self,
        d: &[u8],
        eof: bool,
        limit: usize,
        out: &mut (impl Stage + ?Sized),
    ) -> Result<(usize, Option<Result<(), &'static str>>), Fail> {
        let mut pos = 0;
        // `self.special`, kept in a local so that a plain token costs one test of it.
        let mut special = self.special;
        while pos < limit {
            let rest = &d[pos..];
            let r = if special {
                self.token_special(rest, eof, out)
            } else {
                self.token_plain::<false>(rest, eof, out)
            };
            let step = match r {
                Ok(step) => step,
                Err(e) => {
                    if self.special {
                        self.settle(pos);
                    }
                    return Err(match e {
                        Fail::At(i, m) => Fail::At(pos + i, m),
                        e => e,
                    });
                }
            };
            match step {
                Step::Done(n, flow) => {
                    special = self.special;
                    if special {
                        self.settle(pos);
                        special = self.special;
                    }
                    pos += n;
                    if flow.is_stop() {
                        return Ok((pos, Some(Ok(()))));
                    }
                }
                Step::More(what) => {
                    // Tried again with its `Resume` when more data came.
                    self.settle(pos);
                    self.special = true;
                    return Ok((pos, Some(Err(what))));
                }
            }
        }
        Ok((pos, None))
    }

    /// After a token at `d[pos]` when [`Parser::special`] was set: place what it started
    /// and the warnings it gave in the data, and see whether the next token is plain.
    fn settle(&mut self, pos: usize) {
        if self.started_here & STARTED_PARTIAL != 0 {
            self.partial_rel = Some(pos);
        }
        if self.started_here & STARTED_SUBSET != 0 {
            self.doctype_rel = Some(pos);
        }
        self.started_here = 0;
        for w in &mut self.warnings[self.settled..] {
            w.0 += pos;
        }
        self.settled = self.warnings.len();
        self.special = self.partial != Partial::None || self.in_subset;
    }

    /// Note that a partial comment or PI, or the internal subset, starts with this token.
    pub(super) fn started(&mut self, what: u8) {
        self.started_here |= what;
        self.special = true;
    }

    /// Print the warnings noted while reading tokens: `copipe: warning: FILE:LINE:COLUMN: …`.
    fn print_warnings(&mut self) {
        self.settled = 0;
        for (rel, message) in std::mem::take(&mut self.warnings) {
            let (line, column) = self.input.line_col(self.input.offset(rel));
            let file = self.file.as_deref().unwrap_or("standard input");
            crate::say!("copipe: warning: {file}:{line}:{column}: {message}");
        }
    }

    /// Warn, once per entity, that a reference at `at_ref` (token-relative, or in the
    /// replacement text of the entity referenced at `outer_ref`) is left out.
    fn warn_left_out(&mut self, name: &str, at_ref: usize, why: &str) {
        if self.warned.insert(name.to_string()) {
            let offset = if self.expanding.is_empty() {
                at_ref
            } else {
                self.outer_ref
            };
            self.warnings
                .push((offset, format!("entity &{name}; {why}: it is left out")));
            self.special = true;
        }
    }

    /// The end of the input: the document must be complete.
    fn finish(&mut self) -> Result<(), Fail> {
        let end = self.input.offset(0);
        if self.in_subset {
            return Err(self.ends_inside("the DOCTYPE"));
        }
        match self.partial {
            Partial::None => {}
            Partial::Comment => return Err(self.ends_inside("a comment")),
            Partial::Pi => return Err(self.ends_inside("a processing instruction")),
        }
        match self.state {
            State::Epilog => Ok(()),
            State::Prolog if !self.input.any => Err(Fail::Abs(
                0,
                "the input is empty: an XML document needs a root element".into(),
            )),
            State::Prolog => Err(Fail::Abs(end, "no root element".into())),
            State::Root => {
                let open = self.open_name();
                Err(Fail::Abs(
                    end,
                    format!("the input ends inside <{open}> (</{open}> expected)"),
                ))
            }
        }
    }

    #[inline]
    fn open_name(&self) -> &str {
        let n = self.ends.len();
        let start = if n >= 2 { self.ends[n - 2] } else { 0 };
        &self.names[start..self.ends[n - 1]]
    }

    /// A token when [`Parser::special`] is set: the rest of a partial comment or PI, an
    /// item of the internal subset, or a token tried again, resuming its scans.
    #[inline(never)]
    fn token_special(
        &mut self,
        d: &[u8],
        eof: bool,
        out: &mut (impl Stage + ?Sized),
    ) -> Result<Step, Fail> {
        self.hint = std::mem::take(&mut self.resume);
        let r = if self.partial != Partial::None {
            self.partial_rest(d)
        } else if self.in_subset {
            dtd::subset_item(self, d)
        } else if d[0] != b'<' {
            // Text does not resume: the plain path (where `chars` is inlined once).
            self.token_plain::<false>(d, eof, out)
        } else {
            let step = self.markup::<true>(d, out);
            if let Ok(Step::Done(..)) = step {
                self.started = true;
            }
            step
        };
        self.hint = Resume::default();
        r
    }

    /// A token in the document's content or prolog (or in an entity's replacement text).
    /// `R`: the token is tried again, its scans resume where the last try stopped (see
    /// [`Resume`]); the common case (`false`, a token read in one try) pays nothing for it.
    fn token_plain<const R: bool>(
        &mut self,
        d: &[u8],
        eof: bool,
        out: &mut (impl Stage + ?Sized),
    ) -> Result<Step, Fail> {
        let step = if d[0] != b'<' {
            self.chars(d, eof, out)?
        } else {
            self.markup::<R>(d, out)?
        };
        if let Step::Done(..) = step {
            self.started = true;
        }
        Ok(step)
    }

    #[inline(always)]
    fn markup<const R: bool>(
        &mut self,
        d: &[u8],
        out: &mut (impl Stage + ?Sized),
    ) -> Result<Step, Fail> {
        const BANG: [&[u8]; 3] = [b"<!--", b"<![CDATA[", b"<!DOCTYPE"];
        let Some(&c) = d.get(1) else {
            return Ok(Step::More("markup"));
        };
        match c {
            b'/' => self.end_tag::<R>(d, out),
            b'?' => self.pi::<R>(d),
            b'!' => {
                if d.starts_with(b"<!--") {
                    self.comment_top::<R>(d)
                } else if d.starts_with(b"<![CDATA[") {
                    self.cdata::<R>(d, out)
                } else if d.starts_with(b"<!DOCTYPE") {
                    self.doctype(d)
                } else if BANG.iter().any(|k| k.starts_with(d)) {
                    Ok(Step::More("markup"))
                } else {
                    at(
                        0,
                        "unknown markup `<!` (expected <!--, <![CDATA[ or <!DOCTYPE)",
                    )
                }
            }
            _ => self.start_tag::<R>(d, out),
        }
    }

    pub(super) fn strict(&self) -> bool {
        self.strict
    }

    /// Whether a comment or PI cut by the end of the data may be consumed in parts: in the
    /// document's own text read by [`Parser::run_to`] (not in an entity's replacement
    /// text, not in a speculative part).
    fn streams(&self) -> bool {
        self.expanding.is_empty() && !self.speculative
    }

    /// Where the scan that starts at `from` in the current token begins: after what an
    /// earlier try of the same token found no end in (see [`Resume`]).
    #[inline(always)]
    fn resume_from<const R: bool>(&self, from: usize) -> usize {
        if R && self.hint.to > from && self.hint.from == from && !self.hint.space {
            self.hint.to
        } else {
            from
        }
    }

    /// The data ends inside the current token, in the scan that starts at `from`, with no
    /// end of it in `..to`: noted for the next try.
    fn more_at(&mut self, from: usize, to: usize, what: &'static str) -> Step {
        self.resume = Resume {
            from,
            to,
            space: false,
        };
        Step::More(what)
    }

    /// The end of the white space from `d[i]` on, resumed where an earlier try of the token
    /// stopped (when `R`). When it is the end of the data, the caller notes that for the
    /// next try ([`Parser::more_in_spaces`]).
    #[inline(always)]
    fn spaces<const R: bool>(&self, d: &[u8], i: usize) -> usize {
        let mut j = if R && self.hint.to > i && self.hint.from == i && self.hint.space {
            self.hint.to
        } else {
            i
        };
        while j < d.len() && is_space(d[j]) {
            j += 1;
        }
        j
    }

    /// The data ends inside the current token, in the white space that starts at `from`
    /// and runs to its end `to`: noted for the next try.
    #[cold]
    fn more_in_spaces(&mut self, from: usize, to: usize, what: &'static str) -> Step {
        self.resume = Resume {
            from,
            to,
            space: true,
        };
        Step::More(what)
    }

    /// The name starting at `d[i]`, resumed where an earlier try of the token stopped
    /// (when `R`).
    #[inline(always)]
    fn name_at<const R: bool>(&self, d: &[u8], i: usize) -> NameEnd {
        if R {
            chars::scan_name_from(d, i, self.resume_from::<R>(i), self.strict)
        } else {
            chars::scan_name(d, i, self.strict)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::rc::Rc;
    use std::time::{Duration, Instant};

    use super::text::utf8;
    use super::*;
    use crate::item::{Event, Item, Origin};
    use crate::runtime::meter::Meter;

    /// A reader that hands out `step` bytes per read, as a pipe fed in small writes does,
    /// and notes the most room it was ever given (how big the window grew).
    struct Pipe {
        data: Vec<u8>,
        pos: usize,
        step: usize,
        room: Rc<Cell<usize>>,
    }

    impl Read for Pipe {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.room.set(self.room.get().max(buf.len()));
            let n = self.step.min(buf.len()).min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    /// The events (their kinds and text lengths) and the error of a parse of `doc` read
    /// `step` bytes at a time, from a window of `cap` bytes, as if each read emptied a
    /// pipe (the tokenizer tries the unfinished token again after every read); and the
    /// most room the window offered a read.
    fn parse_piped(doc: &[u8], step: usize, cap: usize) -> (Vec<String>, Option<String>, usize) {
        struct Ev(Vec<String>);
        impl Stage for Ev {
            fn send(&mut self, item: Item<'_>) -> anyhow::Result<Flow> {
                if let Item::Event(e) = item {
                    self.0.push(match e {
                        Event::Start { name, attrs } => format!(
                            "start {} {:?}",
                            name.len(),
                            attrs.iter().map(|a| a.value.len()).collect::<Vec<_>>()
                        ),
                        Event::Text { text, cdata } => format!("text {} {cdata}", text.len()),
                        Event::End { name } => format!("end {}", name.len()),
                    });
                }
                Ok(Flow::Continue)
            }
            fn origin(&mut self, _: Origin<'_>) -> anyhow::Result<()> {
                Ok(())
            }
            fn flush(&mut self) -> anyhow::Result<()> {
                Ok(())
            }
            fn close(&mut self) -> anyhow::Result<()> {
                Ok(())
            }
        }
        let room = Rc::new(Cell::new(0));
        let pipe = Pipe {
            data: doc.to_vec(),
            pos: 0,
            step,
            room: room.clone(),
        };
        // A pipe with nothing in it: every read "would block" next, so no read waits for
        // more data before the tokenizer tries again.
        let (empty, _writer) = std::io::pipe().unwrap();
        let mut input = Input::with_capacity(Box::new(pipe), true, cap, Meter::default())
            .ok()
            .unwrap();
        input.blocking_fd = Some(empty.as_raw_fd());
        let mut p = Parser::new(input, true);
        let mut ev = Ev(Vec::new());
        let err = match p.run(&mut ev) {
            Ok(()) => None,
            Err(Fail::Abs(o, m)) => {
                let (line, col) = p.input.line_col(o);
                Some(format!("{line}:{col}: {m}"))
            }
            Err(Fail::At(..)) => unreachable!("run gives absolute offsets"),
            Err(Fail::Other(e)) => Some(format!("{e:#}")),
        };
        (ev.0, err, room.get())
    }

    const BIG: usize = 4 << 20;

    fn big(head: &str, fill: &str, tail: &str) -> Vec<u8> {
        let mut v = head.as_bytes().to_vec();
        v.extend(fill.as_bytes().iter().cycle().take(BIG));
        v.extend_from_slice(tail.as_bytes());
        v
    }

    #[test]
    fn long_tokens_from_a_pipe_take_linear_time() {
        // 4 MiB in 4 KiB reads is 1024 tries of the unfinished token: rescanning it from
        // its start each time is some 2 GiB of scanning (minutes in a debug build);
        // resuming where the last try stopped is 4 MiB.
        let cases = [
            (
                big("<r a='", "abcdefg\"", "'/>"),
                vec!["start 1 [4194304]".to_string(), "end 1".into()],
            ),
            (
                big("<r><![CDATA[", "ab]c>d]>", "]]></r>"),
                vec![
                    "start 1 []".into(),
                    "text 4194304 true".into(),
                    "end 1".into(),
                ],
            ),
            (
                big("<r><", "abcdefgh", "/></r>"),
                vec![
                    "start 1 []".into(),
                    "start 4194304 []".into(),
                    "end 4194304".into(),
                    "end 1".into(),
                ],
            ),
            (
                big("<r><!--", "ab-c->d>", "--></r>"),
                vec!["start 1 []".into(), "end 1".into()],
            ),
            (
                big("<r><?pi ", "ab?c>d>?", "?></r>"),
                vec!["start 1 []".into(), "end 1".into()],
            ),
            (
                big("<r><p a", "\t\r\n ", "= '1'/></r>"),
                vec![
                    "start 1 []".into(),
                    "start 1 [1]".into(),
                    "end 1".into(),
                    "end 1".into(),
                ],
            ),
            (
                big("<r><p a=", "\t\r\n ", "'1'/></r>"),
                vec![
                    "start 1 []".into(),
                    "start 1 [1]".into(),
                    "end 1".into(),
                    "end 1".into(),
                ],
            ),
            (
                big("<r><p></p", "\t\r\n ", "></r>"),
                vec![
                    "start 1 []".into(),
                    "start 1 []".into(),
                    "end 1".into(),
                    "end 1".into(),
                ],
            ),
            (
                big("<r><p a='1' ", "\t\r\n ", "/></r>"),
                vec![
                    "start 1 []".into(),
                    "start 1 [1]".into(),
                    "end 1".into(),
                    "end 1".into(),
                ],
            ),
        ];
        for (doc, want) in cases {
            let t = Instant::now();
            let (ev, err, _) = parse_piped(&doc, 4096, CAPACITY_FOR_TESTS);
            assert_eq!(err, None, "{}", utf8(&doc[..12]));
            assert_eq!(ev, want, "{}", utf8(&doc[..12]));
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "{}: {:?}",
                utf8(&doc[..12]),
                t.elapsed()
            );
        }
    }

    const CAPACITY_FOR_TESTS: usize = super::super::input::CAPACITY;

    #[test]
    fn comments_and_pis_are_not_held() {
        // The window stays at its size while a 4 MiB comment or PI passes through it.
        for doc in [
            big("<r><!--", "ab-c->d>", "--></r>"),
            big("<!--", "ab-c->d>", "-->\n<r/>"),
            big("<r><?pi ", "ab?c>d>?", "?></r>"),
            big("<?pi ", "ab?c>d>?", "?><r/>"),
            big("<!DOCTYPE r [<!--", "ab-c->d>", "-->]><r/>"),
            big("<!DOCTYPE r [<?pi ", "ab?c>d>?", "?>]><r/>"),
            big(
                "<!DOCTYPE r [",
                "<!ELEMENT r ANY> <?p x?><!--y-->",
                "]><r/>",
            ),
        ] {
            let (_, err, room) = parse_piped(&doc, 4096, CAPACITY_FOR_TESTS);
            assert_eq!(err, None);
            assert!(room <= CAPACITY_FOR_TESTS, "the window grew to {room}");
        }
    }

    #[test]
    fn errors_in_long_tokens_keep_their_positions_across_reads() {
        // Whatever the reads and window, the same error at the same line and column; an
        // unfinished comment or PI is reported where it starts, though its start was
        // dropped long before.
        let cases: [(&[u8], &str); 13] = [
            (
                b"\n<!DOCTYPE r [\n <!-- ab\n cdefghijklmnopq",
                "2:1: the input ends inside the DOCTYPE",
            ),
            (
                b"\n<!DOCTYPE r [\n <!ELEMENT r ANY> <?pi abcdefghijklmnopq",
                "2:1: the input ends inside the DOCTYPE",
            ),
            (
                b"\n<!DOCTYPE r [\n <!ELEMENT r ANY> ]  ",
                "2:1: the input ends inside the DOCTYPE",
            ),
            (
                b"<!DOCTYPE r [\n <!-- ab\n c -- d --> ]><r/>",
                "3:4: `--` is not allowed inside a comment",
            ),
            (
                b"<r>\n <!-- ab\n c -- d --></r>",
                "3:4: `--` is not allowed inside a comment",
            ),
            (
                b"<r>\n <!-- ab\n c ---></r>",
                "3:4: a comment cannot end with `--->`",
            ),
            (
                b"<r>\n <!-- ab\n cdefghijklmnopq",
                "2:2: the input ends inside a comment",
            ),
            (
                b"<r>\n <!-- ab\n cdefghijklmnopq-",
                "2:2: the input ends inside a comment",
            ),
            (
                b"<r>\n <?pi ab\n cdefghijklmnopq?",
                "2:2: the input ends inside a processing instruction",
            ),
            (
                b"<r>\n <![CDATA[ ab\n cdefghijklmnopq]]",
                "2:2: the input ends inside a CDATA section",
            ),
            (
                b"<r>\n <a b='ab\n cdefghijklmnopq",
                "2:2: the input ends inside a start tag",
            ),
            (
                b"<r>\n <a b='ab\n cdefg<hijklmnopq'/>",
                "3:7: `<` is not allowed in an attribute value (write &lt;)",
            ),
            (
                "<r>\n <abcdefghijklmnop\u{d7}q/>".as_bytes(),
                "2:19: `×` cannot be in an element name",
            ),
        ];
        for (doc, want) in cases {
            for (step, cap) in [(1, 16), (3, 16), (7, 64), (4096, CAPACITY_FOR_TESTS)] {
                let (_, err, _) = parse_piped(doc, step, cap);
                assert_eq!(err.as_deref(), Some(want), "{} ({step}, {cap})", utf8(doc));
            }
        }
    }
}
