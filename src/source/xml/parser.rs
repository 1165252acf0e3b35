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

use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::LazyLock;

use anyhow::Result;
use memchr::memmem::Finder;

use super::chars::{self, NameEnd, is_space};
use super::input::{Input, InputError};
use crate::item::{Attr, Event, Item};
use crate::protocol::{Flow, Stage};

/// Elements nested deeper than this are refused (records and their JSON are written
/// recursively; this keeps the stack bounded).
pub const MAX_DEPTH: usize = 4096;

/// Text without a `<` shorter than this waits for more input rather than being pushed in
/// pieces.
const PIECE_MIN: usize = 64 * 1024;

/// The searchers for the ends of comments, CDATA sections and PIs, built once: building a
/// `memmem` finder for every section showed in profiles.
static DASHES: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"--"));
static COMMENT_END: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"-->"));
static CDATA_END: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"]]>"));
static PI_END: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"?>"));

/// A failure: a well-formedness error at an offset, or an error from downstream or I/O.
pub enum Fail {
    /// At an offset relative to the data being tokenized.
    At(usize, String),
    /// At an absolute offset of the input.
    Abs(u64, String),
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Fail {
    fn from(e: anyhow::Error) -> Self {
        Fail::Other(e)
    }
}

impl From<InputError> for Fail {
    fn from(e: InputError) -> Self {
        match e {
            InputError::Io(e) => Fail::Other(e.into()),
            InputError::At(o, m) => Fail::Abs(o, m),
            // `run_to` takes it before it can come here.
            InputError::Blocked => Fail::Other(anyhow::anyhow!("a read would block")),
        }
    }
}

fn at<T>(i: usize, msg: impl Into<String>) -> Result<T, Fail> {
    Err(Fail::At(i, msg.into()))
}

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

/// A comment or PI whose start was consumed (and dropped) before its end was seen: the data
/// starts inside it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Partial {
    None,
    Comment,
    Pi,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    /// Before the root element.
    Prolog,
    /// Inside the root element.
    Root,
    /// After the root element.
    Epilog,
}

/// Where an attribute value is: in the data, or decoded into `vals`.
#[derive(Clone, Copy)]
enum Span {
    Data(usize, usize),
    Vals(usize, usize),
}

#[derive(Clone, Copy)]
struct AttrSpan {
    /// The name, in the data; `Vals` for an attribute added from an ATTLIST default.
    name: Span,
    value: Span,
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
        out: &mut dyn Stage,
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
    pub fn run(&mut self, out: &mut dyn Stage) -> Result<(), Fail> {
        self.run_to(u64::MAX, out).map(|_| ())
    }

    /// Parse until the next token would start at or after offset `stop_at`, the input
    /// ends (then the document must be complete), or `out` stops.
    ///
    /// On a [`Input::nonblocking`] input it also stops where a read would sleep
    /// ([`Reach::Blocked`]), having pushed every complete event; what it was reading for is
    /// kept, and the next call takes up from there.
    pub fn run_to(&mut self, stop_at: u64, out: &mut dyn Stage) -> Result<Reach, Fail> {
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
        out: &mut dyn Stage,
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

    /// The error for an input that ends inside `what`, at the start of `what`.
    fn ends_inside(&self, what: &str) -> Fail {
        if self.in_subset {
            return Fail::Abs(
                self.doctype_start,
                "the input ends inside the DOCTYPE".into(),
            );
        }
        let at = match self.partial {
            Partial::None => self.input.offset(0),
            _ => self.partial_start,
        };
        Fail::Abs(at, format!("the input ends inside {what}"))
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

    fn open_name(&self) -> &str {
        let n = self.ends.len();
        let start = if n >= 2 { self.ends[n - 2] } else { 0 };
        &self.names[start..self.ends[n - 1]]
    }

    /// A token when [`Parser::special`] is set: the rest of a partial comment or PI, an
    /// item of the internal subset, or a token tried again, resuming its scans.
    #[inline(never)]
    fn token_special(&mut self, d: &[u8], eof: bool, out: &mut dyn Stage) -> Result<Step, Fail> {
        self.hint = std::mem::take(&mut self.resume);
        let r = if self.partial != Partial::None {
            self.partial_rest(d)
        } else if self.in_subset {
            super::dtd::subset_item(self, d)
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
        out: &mut dyn Stage,
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

    fn markup<const R: bool>(&mut self, d: &[u8], out: &mut dyn Stage) -> Result<Step, Fail> {
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

    // ----- text -----

    fn chars(&mut self, d: &[u8], eof: bool, out: &mut dyn Stage) -> Result<Step, Fail> {
        // Most text is short (a value, the indentation between tags): find its end and
        // whether it needs decoding in one byte loop, without the set-up of a vector search.
        // A CR LF that starts the text (the indentation of CRLF files) is a line end: the
        // text is the rest.
        if self.state == State::Root {
            let from = usize::from(d.starts_with(b"\r\n") && self.literal());
            let mut special = false;
            let short = d.len().min(SHORT_TEXT);
            for i in from..short {
                let c = d[i];
                if c == b'<' {
                    if special {
                        break;
                    }
                    let flow = out.send(Item::Event(&Event::Text {
                        text: utf8(&d[from..i]),
                        cdata: false,
                    }))?;
                    return Ok(Step::Done(i, flow));
                }
                special |= TEXT_SPECIAL[c as usize];
            }
        }
        let end = match memchr::memchr(b'<', d) {
            Some(i) => i,
            None if eof => d.len(),
            None if d.len() < PIECE_MIN => return Ok(Step::More("text")),
            None => safe_cut(d),
        };
        let run = &d[..end];
        if self.state != State::Root {
            if let Some(i) = run.iter().position(|&b| !is_space(b)) {
                return at(
                    i,
                    if self.state == State::Prolog {
                        "text before the root element"
                    } else {
                        "text after the root element (a document has one root element)"
                    },
                );
            }
            return Ok(Step::Done(end, Flow::Continue));
        }
        let flow = self.root_text(run, 0, out)?;
        Ok(Step::Done(end, flow))
    }

    /// Character data inside the root: decode references and CRs, check `]]>`, push it.
    fn root_text(&mut self, run: &[u8], base: usize, out: &mut dyn Stage) -> Result<Flow, Fail> {
        let mut from = 0;
        while let Some(k) = memchr::memchr3(b'&', b'\r', b']', &run[from..]) {
            let i = from + k;
            match run[i] {
                b']' => {
                    if self.strict && run[i..].starts_with(b"]]>") {
                        return at(base + i, "`]]>` is not allowed in text (write ]]&gt;)");
                    }
                    from = i + 1;
                }
                // A CR in an entity's replacement text came from a character reference:
                // it is kept (line ends were normalized when the entity was declared).
                b'\r' if !self.literal() => from = i + 1,
                _ => {
                    // A run that starts with its only CR LF (the usual indentation of CRLF
                    // files) is itself without the CR: no copy.
                    if i == 0
                        && run.starts_with(b"\r\n")
                        && memchr::memchr3(b'&', b'\r', b']', &run[2..]).is_none()
                    {
                        return out
                            .send(Item::Event(&Event::Text {
                                text: utf8(&run[1..]),
                                cdata: false,
                            }))
                            .map_err(Fail::Other);
                    }
                    return self.decode_text(run, i, base, out);
                }
            }
        }
        if run.is_empty() {
            return Ok(Flow::Continue);
        }
        out.send(Item::Event(&Event::Text {
            text: utf8(run),
            cdata: false,
        }))
        .map_err(Fail::Other)
    }

    /// The slow path of [`Parser::root_text`], from the first `&` or CR at `from`.
    fn decode_text(
        &mut self,
        run: &[u8],
        from: usize,
        base: usize,
        out: &mut dyn Stage,
    ) -> Result<Flow, Fail> {
        let mut text = std::mem::take(&mut self.text);
        text.clear();
        text.push_str(utf8(&run[..from]));
        let r = self.decode_text_into(run, from, base, &mut text, out);
        let r = r.and_then(|flow| {
            if flow.is_stop() || text.is_empty() {
                return Ok(flow);
            }
            out.send(Item::Event(&Event::Text {
                text: &text,
                cdata: false,
            }))
            .map_err(Fail::Other)
        });
        self.text = text;
        r
    }

    fn decode_text_into(
        &mut self,
        run: &[u8],
        from: usize,
        base: usize,
        text: &mut String,
        out: &mut dyn Stage,
    ) -> Result<Flow, Fail> {
        let mut i = from;
        let mut plain = from;
        while i < run.len() {
            match run[i] {
                b'&' => {
                    text.push_str(utf8(&run[plain..i]));
                    let (r, len) =
                        parse_ref(run, i, self.strict).map_err(|m| Fail::At(base + i, m))?;
                    match r {
                        Ref::Char(c) => text.push(c),
                        Ref::Named(name) => {
                            if let Some(c) = predefined(name) {
                                text.push(c);
                            } else {
                                let flow = self.expand_in_text(name, base + i, text, out)?;
                                if flow.is_stop() {
                                    return Ok(flow);
                                }
                            }
                        }
                    }
                    i += len;
                    plain = i;
                }
                b'\r' if self.literal() => {
                    text.push_str(utf8(&run[plain..i]));
                    text.push('\n');
                    i += if run.get(i + 1) == Some(&b'\n') { 2 } else { 1 };
                    plain = i;
                }
                b']' if self.strict && run[i..].starts_with(b"]]>") => {
                    return at(base + i, "`]]>` is not allowed in text (write ]]&gt;)");
                }
                _ => i += 1,
            }
        }
        text.push_str(utf8(&run[plain..]));
        Ok(Flow::Continue)
    }

    /// A reference to a declared entity in text: its replacement text is appended to
    /// `text`, or parsed as content when it holds markup (the text so far is pushed first).
    fn expand_in_text(
        &mut self,
        name: &str,
        at_ref: usize,
        text: &mut String,
        out: &mut dyn Stage,
    ) -> Result<Flow, Fail> {
        let ent = self.entity(name, at_ref)?;
        if ent.external {
            self.warn_left_out(
                name,
                at_ref,
                "is an external entity, which is not read (external entities are never fetched)",
            );
        }
        self.enter_entity(name, at_ref, ent.text.len())?;
        let r = if !ent.parse {
            text.push_str(&ent.text);
            Ok(Flow::Continue)
        } else {
            let mut flow = Flow::Continue;
            if !text.is_empty() {
                flow = out
                    .send(Item::Event(&Event::Text { text, cdata: false }))
                    .map_err(Fail::Other)?;
                text.clear();
            }
            if flow.is_stop() {
                Ok(flow)
            } else {
                self.parse_entity_content(name, ent.text.as_bytes(), out)
                    .map_err(|e| in_entity(e, name, at_ref))
            }
        };
        self.expanding.pop();
        r
    }

    /// The declared entity `name`.
    fn entity(&mut self, name: &str, at_ref: usize) -> Result<Rc<Entity>, Fail> {
        if let Some(e) = self.entities.get(name) {
            return Ok(e.clone());
        }
        if self.unparsed.contains(name) {
            return at(
                at_ref,
                format!("unparsed entity &{name}; cannot be referenced"),
            );
        }
        if self.unread_declarations && !self.standalone {
            self.warn_left_out(
                name,
                at_ref,
                "is not declared in the internal subset; it may be in the external DTD, which is not read",
            );
            return Ok(Rc::new(Entity {
                text: String::new(),
                parse: false,
                external: false,
            }));
        }
        at(at_ref, format!("undefined entity &{name};"))
    }

    /// Check an attribute default value of the DOCTYPE as an attribute value (references
    /// to declared entities only, no `<`).
    pub(super) fn attr_default(&mut self, raw: &[u8], base: usize) -> Result<String, Fail> {
        let mut vals = String::new();
        self.attr_value(raw, base, &mut vals)?;
        Ok(vals)
    }

    /// Whether an entity may be declared in declarations that were not read (an external
    /// subset, a parameter entity), so that a reference to an undeclared one is not an
    /// error: XML 1.0 §4.1, "Entity Declared" is then a validity constraint.
    pub(super) fn may_lack_declarations(&self) -> bool {
        self.unread_declarations && !self.standalone
    }

    /// Whether ENTITY and ATTLIST declarations met now are used.
    pub(super) fn processes_declarations(&self) -> bool {
        !self.pe_skipped || self.standalone
    }

    /// Record an attribute of an ATTLIST (the first declaration of a name counts).
    pub(super) fn declare_attribute(
        &mut self,
        element: &str,
        attr: &str,
        tokenized: bool,
        default: Option<String>,
    ) {
        if !self.processes_declarations() {
            return;
        }
        let defs = self.attlists.entry(element.to_string()).or_default();
        if defs.iter().any(|d| d.name == attr) {
            return;
        }
        let default = default.map(|v| if tokenized { collapse_spaces(&v) } else { v });
        Rc::make_mut(defs).push(AttDef {
            name: attr.to_string(),
            tokenized,
            default,
        });
    }

    /// Apply the ATTLIST of element `name` to the attributes just read: collapse the
    /// spaces of tokenized values, add the defaults of missing attributes.
    fn apply_attlist(&mut self, d: &[u8], defs: &[AttDef]) {
        for def in defs {
            let found = self
                .spans
                .iter()
                .position(|sp| span_str(d, &self.vals, sp.name) == def.name);
            match found {
                Some(k) if def.tokenized => {
                    let v = span_str(d, &self.vals, self.spans[k].value);
                    let c = collapse_spaces(v);
                    if c != v {
                        let start = self.vals.len();
                        self.vals.push_str(&c);
                        self.spans[k].value = Span::Vals(start, self.vals.len());
                    }
                }
                Some(_) => {}
                None => {
                    if let Some(v) = &def.default {
                        let ns = self.vals.len();
                        self.vals.push_str(&def.name);
                        let vs = self.vals.len();
                        self.vals.push_str(v);
                        self.spans.push(AttrSpan {
                            name: Span::Vals(ns, vs),
                            value: Span::Vals(vs, self.vals.len()),
                        });
                    }
                }
            }
        }
    }

    /// Whether the bytes being read are the document's own (not an entity's replacement
    /// text), whose line ends are normalized.
    fn literal(&self) -> bool {
        self.expanding.is_empty()
    }

    pub(super) fn strict(&self) -> bool {
        self.strict
    }

    fn enter_entity(&mut self, name: &str, at_ref: usize, len: usize) -> Result<(), Fail> {
        if self.expanding.iter().any(|n| n == name) {
            return at(
                at_ref,
                format!("entity &{name}; refers to itself (recursive entity)"),
            );
        }
        if self.expanding.len() >= MAX_ENTITY_DEPTH {
            return at(
                at_ref,
                format!("entities nested more than {MAX_ENTITY_DEPTH} deep (at &{name};)"),
            );
        }
        self.expanded += len as u64;
        if self.expanded > MAX_EXPANDED {
            return at(
                at_ref,
                format!(
                    "entity expansion exceeds {} MiB (at &{name};)",
                    MAX_EXPANDED >> 20
                ),
            );
        }
        if self.expanding.is_empty() {
            self.outer_ref = at_ref;
        }
        self.expanding.push(name.to_string());
        Ok(())
    }

    /// Parse an entity's replacement text as content: it must be balanced (every element it
    /// opens closes inside it).
    fn parse_entity_content(
        &mut self,
        name: &str,
        body: &[u8],
        out: &mut dyn Stage,
    ) -> Result<Flow, Fail> {
        let depth = self.ends.len();
        let mut pos = 0;
        while pos < body.len() {
            let rest = &body[pos..];
            let step = if rest[0] == b'<' {
                if rest.starts_with(b"</") && self.ends.len() == depth {
                    return at(
                        pos,
                        format!("entity &{name}; closes an element it did not open"),
                    );
                }
                self.token_plain::<false>(rest, true, out)?
            } else {
                let end = memchr::memchr(b'<', rest).unwrap_or(rest.len());
                Step::Done(end, self.root_text(&rest[..end], 0, out)?)
            };
            match step {
                Step::Done(n, flow) => {
                    pos += n;
                    if flow.is_stop() {
                        return Ok(flow);
                    }
                }
                Step::More(what) => return at(pos, format!("entity &{name}; ends inside {what}")),
            }
        }
        if self.ends.len() != depth {
            return at(
                body.len(),
                format!("entity &{name}; leaves <{}> open", self.open_name()),
            );
        }
        Ok(Flow::Continue)
    }

    // ----- tags -----

    fn start_tag<const R: bool>(&mut self, d: &[u8], out: &mut dyn Stage) -> Result<Step, Fail> {
        let name_end = match self.name_at::<R>(d, 1) {
            NameEnd::At(e) => e,
            NameEnd::Open => return Ok(self.more_at(1, d.len(), "a start tag")),
            NameEnd::BadStart => {
                return at(
                    1,
                    format!("{} cannot start an element name", show_char(d, 1)),
                );
            }
            NameEnd::BadChar(i, c) => {
                return at(i, format!("{} cannot be in an element name", show_c(c)));
            }
        };
        if self.state == State::Epilog {
            return at(
                0,
                format!(
                    "a second root element <{}> (a document has one root element)",
                    utf8(&d[1..name_end])
                ),
            );
        }
        self.spans.clear();
        self.vals.clear();
        let mut i = name_end;
        let empty;
        loop {
            let ws = i;
            i = self.spaces::<R>(d, i);
            let Some(&c) = d.get(i) else {
                return Ok(self.more_in_spaces(ws, i, "a start tag"));
            };
            if c == b'>' {
                empty = false;
                i += 1;
                break;
            }
            if c == b'/' {
                match d.get(i + 1) {
                    None => return Ok(Step::More("a start tag")),
                    Some(b'>') => {
                        empty = true;
                        i += 2;
                        break;
                    }
                    Some(_) => return at(i, "expected `>` after `/` in a start tag"),
                }
            }
            if i == ws {
                return at(i, "whitespace is required between attributes");
            }
            match self.attribute::<R>(d, i)? {
                Some(e) => i = e,
                None => return Ok(Step::More("a start tag")),
            }
        }
        if self.strict && self.spans.len() > 1 {
            self.check_unique(d)?;
        }
        let name = utf8(&d[1..name_end]);
        if !self.attlists.is_empty()
            && let Some(defs) = self.attlists.get(name).cloned()
        {
            self.apply_attlist(d, &defs);
        }
        if self.ends.len() >= MAX_DEPTH {
            return at(0, format!("elements nested more than {MAX_DEPTH} deep"));
        }
        self.state = State::Root;
        self.names.push_str(name);
        self.ends.push(self.names.len());
        if self.speculative {
            self.deepest = self.deepest.max(self.ends.len());
        }

        if self.spans.is_empty() {
            let flow = out.send(Item::Event(&Event::Start { name, attrs: &[] }));
            return self.after_start(name, empty, i, flow, out);
        }
        let mut attrs: Vec<Attr<'_>> = recycle(std::mem::take(&mut self.attrs));
        for sp in &self.spans {
            attrs.push(Attr {
                name: span_str(d, &self.vals, sp.name),
                value: span_str(d, &self.vals, sp.value),
            });
        }
        let flow = out.send(Item::Event(&Event::Start {
            name,
            attrs: &attrs,
        }));
        self.attrs = recycle(attrs);
        self.after_start(name, empty, i, flow, out)
    }

    /// After a start tag was pushed: an empty element ends at once.
    fn after_start(
        &mut self,
        name: &str,
        empty: bool,
        len: usize,
        mut flow: Result<Flow>,
        out: &mut dyn Stage,
    ) -> Result<Step, Fail> {
        if empty {
            if matches!(flow, Ok(Flow::Continue)) {
                flow = out.send(Item::Event(&Event::End { name }));
            }
            self.pop();
        }
        Ok(Step::Done(len, flow?))
    }

    fn pop(&mut self) {
        self.ends.pop();
        self.names.truncate(self.ends.last().copied().unwrap_or(0));
        if self.ends.is_empty() && self.expanding.is_empty() && !self.speculative {
            self.state = State::Epilog;
        }
    }

    /// One attribute at `d[i]`: its end, or `None` when the data ends inside it.
    fn attribute<const R: bool>(&mut self, d: &[u8], i: usize) -> Result<Option<usize>, Fail> {
        let name_end = match self.name_at::<R>(d, i) {
            NameEnd::At(e) => e,
            NameEnd::Open => {
                self.more_at(i, d.len(), "");
                return Ok(None);
            }
            NameEnd::BadStart => {
                return at(
                    i,
                    format!("{} cannot start an attribute name", show_char(d, i)),
                );
            }
            NameEnd::BadChar(j, c) => {
                return at(j, format!("{} cannot be in an attribute name", show_c(c)));
            }
        };
        let mut j = self.spaces::<R>(d, name_end);
        match d.get(j) {
            None => {
                self.more_in_spaces(name_end, j, "");
                return Ok(None);
            }
            Some(b'=') => j += 1,
            Some(_) => {
                return at(
                    j,
                    format!(
                        "expected `=` after attribute name `{}`",
                        utf8(&d[i..name_end])
                    ),
                );
            }
        }
        let ws = j;
        j = self.spaces::<R>(d, ws);
        let q = match d.get(j) {
            None => {
                self.more_in_spaces(ws, j, "");
                return Ok(None);
            }
            Some(&q @ (b'"' | b'\'')) => q,
            Some(_) => {
                return at(
                    j,
                    format!(
                        "the value of attribute `{}` must be quoted",
                        utf8(&d[i..name_end])
                    ),
                );
            }
        };
        let vs = j + 1;
        let from = self.resume_from::<R>(vs);
        let Some(len) = memchr::memchr(q, &d[from..]) else {
            self.more_at(vs, d.len(), "");
            return Ok(None);
        };
        let ve = from + len;
        let raw = &d[vs..ve];
        let value = if raw.iter().any(|&b| ATTR_SPECIAL[b as usize]) {
            let start = self.vals.len();
            let mut vals = std::mem::take(&mut self.vals);
            let r = self.attr_value(raw, vs, &mut vals);
            self.vals = vals;
            r?;
            Span::Vals(start, self.vals.len())
        } else {
            Span::Data(vs, ve)
        };
        self.spans.push(AttrSpan {
            name: Span::Data(i, name_end),
            value,
        });
        Ok(Some(ve + 1))
    }

    /// Normalize an attribute value (XML 1.0 §3.3.3): references decoded, each white space
    /// character a space, `<` refused.
    fn attr_value(&mut self, raw: &[u8], base: usize, vals: &mut String) -> Result<(), Fail> {
        let mut plain = 0;
        let mut i = 0;
        while i < raw.len() {
            match raw[i] {
                b'&' => {
                    vals.push_str(utf8(&raw[plain..i]));
                    let (r, len) =
                        parse_ref(raw, i, self.strict).map_err(|m| Fail::At(base + i, m))?;
                    match r {
                        Ref::Char(c) => vals.push(c),
                        Ref::Named(name) => match predefined(name) {
                            Some(c) => vals.push(c),
                            None => self.expand_in_attr(name, base + i, vals)?,
                        },
                    }
                    i += len;
                    plain = i;
                }
                b'\r' | b'\n' | b'\t' => {
                    vals.push_str(utf8(&raw[plain..i]));
                    vals.push(' ');
                    // A literal CR LF is one line end; in replacement text each white
                    // space character (from a character reference) is one space.
                    i += if self.literal() && raw[i] == b'\r' && raw.get(i + 1) == Some(&b'\n') {
                        2
                    } else {
                        1
                    };
                    plain = i;
                }
                b'<' => {
                    return at(
                        base + i,
                        "`<` is not allowed in an attribute value (write &lt;)",
                    );
                }
                _ => i += 1,
            }
        }
        vals.push_str(utf8(&raw[plain..]));
        Ok(())
    }

    fn expand_in_attr(&mut self, name: &str, at_ref: usize, vals: &mut String) -> Result<(), Fail> {
        let ent = self.entity(name, at_ref)?;
        if ent.external {
            return at(
                at_ref,
                format!("external entity &{name}; cannot be used in an attribute value"),
            );
        }
        self.enter_entity(name, at_ref, ent.text.len())?;
        let r = self
            .attr_value(ent.text.as_bytes(), 0, vals)
            .map_err(|e| in_entity(e, name, at_ref));
        self.expanding.pop();
        r
    }

    /// Attribute names must be unique in a start tag.
    fn check_unique(&self, d: &[u8]) -> Result<(), Fail> {
        let name = |s: &AttrSpan| match s.name {
            Span::Data(a, b) => &d[a..b],
            Span::Vals(..) => unreachable!("defaults are added after this check"),
        };
        let pos = |s: &AttrSpan| match s.name {
            Span::Data(a, _) | Span::Vals(a, _) => a,
        };
        if self.spans.len() <= 16 {
            for (k, a) in self.spans.iter().enumerate() {
                if self.spans[..k].iter().any(|b| name(b) == name(a)) {
                    return at(
                        pos(a),
                        format!("attribute `{}` appears twice", utf8(name(a))),
                    );
                }
            }
            return Ok(());
        }
        let mut sorted: Vec<&AttrSpan> = self.spans.iter().collect();
        sorted.sort_by(|a, b| name(a).cmp(name(b)).then(pos(a).cmp(&pos(b))));
        for w in sorted.windows(2) {
            if name(w[0]) == name(w[1]) {
                return at(
                    pos(w[1]),
                    format!("attribute `{}` appears twice", utf8(name(w[1]))),
                );
            }
        }
        Ok(())
    }

    fn end_tag<const R: bool>(&mut self, d: &[u8], out: &mut dyn Stage) -> Result<Step, Fail> {
        let name_end = match self.name_at::<R>(d, 2) {
            NameEnd::At(e) => e,
            NameEnd::Open => return Ok(self.more_at(2, d.len(), "an end tag")),
            NameEnd::BadStart => {
                return at(
                    2,
                    format!("{} cannot start an element name", show_char(d, 2)),
                );
            }
            NameEnd::BadChar(i, c) => {
                return at(i, format!("{} cannot be in an element name", show_c(c)));
            }
        };
        let i = self.spaces::<R>(d, name_end);
        match d.get(i) {
            None => return Ok(self.more_in_spaces(name_end, i, "an end tag")),
            Some(b'>') => {}
            Some(_) => return at(i, "expected `>` to close the end tag"),
        }
        let name = utf8(&d[2..name_end]);
        if self.ends.is_empty() {
            if self.speculative && self.expanding.is_empty() {
                // An element open before the part began: checked when the part is adopted.
                self.popped.push(name.to_string());
                let flow = out.send(Item::Event(&Event::End { name }));
                return Ok(Step::Done(i + 1, flow?));
            }
            return at(0, format!("end tag </{name}> without a matching start tag"));
        }
        if self.open_name() != name {
            return at(
                0,
                format!(
                    "mismatched end tag: </{}> expected, found </{name}>",
                    self.open_name()
                ),
            );
        }
        let flow = out.send(Item::Event(&Event::End { name }));
        self.pop();
        Ok(Step::Done(i + 1, flow?))
    }

    // ----- other markup -----

    /// A comment at `d[0]` (in the DOCTYPE too). When the data ends inside it, what was
    /// checked is dropped (outside entities; see [`Partial`]), or the scan resumes there.
    pub(super) fn comment_top<const R: bool>(&mut self, d: &[u8]) -> Result<Step, Fail> {
        let from = self.resume_from::<R>(4);
        match comment_body(d, from, self.strict)? {
            Body::End(n) => Ok(Step::Done(n, Flow::Continue)),
            Body::Need(k) if self.streams() => {
                self.partial = Partial::Comment;
                self.started(STARTED_PARTIAL);
                Ok(Step::Done(k, Flow::Continue))
            }
            Body::Need(k) => Ok(self.more_at(4, k, "a comment")),
        }
    }

    /// The rest of a comment or PI whose start was dropped: it is dropped as it passes.
    fn partial_rest(&mut self, d: &[u8]) -> Result<Step, Fail> {
        let (body, what) = match self.partial {
            Partial::Comment => (comment_body(d, 0, self.strict)?, "a comment"),
            Partial::Pi => (pi_body(d, 0), "a processing instruction"),
            Partial::None => unreachable!("only inside a comment or PI"),
        };
        match body {
            Body::End(n) => {
                self.partial = Partial::None;
                Ok(Step::Done(n, Flow::Continue))
            }
            Body::Need(0) => Ok(Step::More(what)),
            Body::Need(k) => Ok(Step::Done(k, Flow::Continue)),
        }
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

    fn cdata<const R: bool>(&mut self, d: &[u8], out: &mut dyn Stage) -> Result<Step, Fail> {
        if self.state != State::Root {
            return at(0, "a CDATA section is only allowed inside the root element");
        }
        let from = self.resume_from::<R>(9);
        let Some(k) = CDATA_END.find(&d[from..]) else {
            // A `]]>` may straddle the end of the data.
            let to = d.len().saturating_sub(2).max(9);
            return Ok(self.more_at(9, to, "a CDATA section"));
        };
        let k = from - 9 + k;
        let body = &d[9..9 + k];
        let flow = if self.literal() && body.contains(&b'\r') {
            let mut t = std::mem::take(&mut self.text);
            t.clear();
            let mut plain = 0;
            let mut i = 0;
            while let Some(k) = memchr::memchr(b'\r', &body[i..]) {
                let at = i + k;
                t.push_str(utf8(&body[plain..at]));
                t.push('\n');
                i = if body.get(at + 1) == Some(&b'\n') {
                    at + 2
                } else {
                    at + 1
                };
                plain = i;
            }
            t.push_str(utf8(&body[plain..]));
            let f = out.send(Item::Event(&Event::Text {
                text: &t,
                cdata: true,
            }));
            self.text = t;
            f
        } else if body.is_empty() {
            Ok(Flow::Continue)
        } else {
            out.send(Item::Event(&Event::Text {
                text: utf8(body),
                cdata: true,
            }))
        };
        Ok(Step::Done(9 + k + 3, flow?))
    }

    /// A processing instruction, or the XML declaration at the very start.
    pub(super) fn pi<const R: bool>(&mut self, d: &[u8]) -> Result<Step, Fail> {
        const WHAT: &str = "a processing instruction";
        let target_end = match self.name_at::<R>(d, 2) {
            NameEnd::At(e) => e,
            NameEnd::Open => return Ok(self.more_at(2, d.len(), WHAT)),
            NameEnd::BadStart => {
                return at(
                    2,
                    format!(
                        "{} cannot start a processing instruction target",
                        show_char(d, 2)
                    ),
                );
            }
            NameEnd::BadChar(i, c) => {
                return at(
                    i,
                    format!("{} cannot be in a processing instruction target", show_c(c)),
                );
            }
        };
        let target = &d[2..target_end];
        let from = self.resume_from::<R>(target_end);
        let Some(k) = PI_END.find(&d[from..]) else {
            if self.streams()
                && !target.eq_ignore_ascii_case(b"xml")
                && is_space(d[target_end])
                && let Body::Need(k) = pi_body(d, target_end)
            {
                // Not the XML declaration, and well begun: dropped as it is read.
                self.partial = Partial::Pi;
                self.started(STARTED_PARTIAL);
                return Ok(Step::Done(k, Flow::Continue));
            }
            let to = d.len().saturating_sub(1).max(target_end);
            return Ok(self.more_at(target_end, to, WHAT));
        };
        let end = from + k;
        if end > target_end && !is_space(d[target_end]) {
            return at(
                target_end,
                "expected whitespace after the processing instruction target",
            );
        }
        if target == b"xml" {
            if self.started || !self.expanding.is_empty() {
                return at(
                    0,
                    "the XML declaration is only allowed at the very start of the input",
                );
            }
            if self.strict {
                check_xml_decl(&d[target_end..end], target_end)?;
            }
            let decl = &d[target_end..end];
            if let Some(k) = memchr::memmem::find(decl, b"standalone") {
                let rest = &decl[k + 10..];
                let v = rest.iter().position(|&b| b == b'"' || b == b'\'');
                self.standalone = v.is_some_and(|v| rest[v + 1..].starts_with(b"yes"));
            }
        } else if self.strict && target.eq_ignore_ascii_case(b"xml") {
            return at(
                2,
                "processing instruction targets named `xml` (in any case) are reserved",
            );
        }
        Ok(Step::Done(end + 2, Flow::Continue))
    }

    fn doctype(&mut self, d: &[u8]) -> Result<Step, Fail> {
        if self.state != State::Prolog {
            return at(0, "a DOCTYPE is only allowed before the root element");
        }
        if self.seen_doctype {
            return at(0, "a second DOCTYPE (only one is allowed)");
        }
        let step = super::dtd::doctype(self, d)?;
        if let Step::Done(..) = step {
            self.seen_doctype = true;
        }
        Ok(step)
    }
}

fn in_entity(e: Fail, name: &str, at_ref: usize) -> Fail {
    match e {
        Fail::At(_, m) if m.contains("entity &") => Fail::At(at_ref, m),
        Fail::At(_, m) => Fail::At(at_ref, format!("in entity &{name};: {m}")),
        e => e,
    }
}

/// The text of a span of the data or of the decoded values.
fn span_str<'a>(d: &'a [u8], vals: &'a str, s: Span) -> &'a str {
    match s {
        Span::Data(a, b) => utf8(&d[a..b]),
        Span::Vals(a, b) => &vals[a..b],
    }
}

/// How far the body of a comment or PI goes in the data.
enum Body {
    /// It ends before this offset (its end delimiter included).
    End(usize),
    /// The data ends inside it; everything before this offset is checked (the rest may be
    /// the start of its end delimiter).
    Need(usize),
}

/// The body of a comment from `d[from]` (after `<!--`, or anywhere in its body): up to
/// `-->`, with no `--` before it in strict mode (errors are relative to `d`).
fn comment_body(d: &[u8], from: usize, strict: bool) -> Result<Body, Fail> {
    let Some(k) = DASHES.find(&d[from..]) else {
        // A `--` may straddle the end of the data.
        return Ok(Body::Need(
            if d.last() == Some(&b'-') {
                d.len() - 1
            } else {
                d.len()
            }
            .max(from),
        ));
    };
    let dd = from + k;
    match d.get(dd + 2) {
        None => Ok(Body::Need(dd)),
        Some(b'>') => Ok(Body::End(dd + 3)),
        Some(_) if !strict => match COMMENT_END.find(&d[dd..]) {
            Some(e) => Ok(Body::End(dd + e + 3)),
            None => Ok(Body::Need(d.len().saturating_sub(2).max(dd))),
        },
        Some(b'-') => match d.get(dd + 3) {
            None => Ok(Body::Need(dd)),
            Some(b'>') => at(dd, "a comment cannot end with `--->`"),
            Some(_) => at(dd, "`--` is not allowed inside a comment"),
        },
        Some(_) => at(dd, "`--` is not allowed inside a comment"),
    }
}

/// The body of a PI from `d[from]`: up to `?>`.
fn pi_body(d: &[u8], from: usize) -> Body {
    match PI_END.find(&d[from..]) {
        Some(k) => Body::End(from + k + 2),
        None if d.last() == Some(&b'?') => Body::Need((d.len() - 1).max(from)),
        None => Body::Need(d.len()),
    }
}

/// A tokenized attribute value: no leading or trailing spaces, one space between tokens.
fn collapse_spaces(v: &str) -> String {
    v.split(' ')
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Bytes of an attribute value that need the slow path.
/// Text up to this long is scanned byte by byte (see [`Parser::chars`]).
const SHORT_TEXT: usize = 48;

/// The bytes that make text need decoding or checking: references, CRs, `]` (of `]]>`).
static TEXT_SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    t[b'&' as usize] = true;
    t[b'\r' as usize] = true;
    t[b']' as usize] = true;
    t
};

static ATTR_SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    t[b'&' as usize] = true;
    t[b'<' as usize] = true;
    t[b'\r' as usize] = true;
    t[b'\n' as usize] = true;
    t[b'\t' as usize] = true;
    t
};

/// A reference, parsed.
pub(super) enum Ref<'a> {
    Char(char),
    Named(&'a str),
}

/// Parse the reference at `b[i]` (an `&`): what it names and its length.
pub(super) fn parse_ref(b: &[u8], i: usize, strict: bool) -> Result<(Ref<'_>, usize), String> {
    let rest = &b[i + 1..];
    if rest.first() == Some(&b'#') {
        let (hex, digits) = match rest.get(1) {
            Some(b'x') => (true, &rest[2..]),
            _ => (false, &rest[1..]),
        };
        let n = digits
            .iter()
            .take_while(|c| {
                if hex {
                    c.is_ascii_hexdigit()
                } else {
                    c.is_ascii_digit()
                }
            })
            .count();
        if n == 0 || digits.get(n) != Some(&b';') {
            return Err(if hex {
                "bad character reference: expected &#xHEX; (hex digits, then `;`)".into()
            } else {
                "bad character reference: expected &#DIGITS; or &#xHEX;".into()
            });
        }
        let text = utf8(&digits[..n]);
        let v = u32::from_str_radix(text, if hex { 16 } else { 10 }).unwrap_or(u32::MAX);
        let c = char::from_u32(v)
            .filter(|&c| !strict || chars::is_xml_char(c))
            .ok_or_else(|| {
                format!(
                    "character reference &#{}{text}; names a character not allowed in XML",
                    if hex { "x" } else { "" }
                )
            })?;
        let len = 1 + (rest.len() - digits.len()) + n + 1;
        return Ok((Ref::Char(c), len));
    }
    match chars::scan_name(rest, 0, strict) {
        NameEnd::At(e) if rest[e] == b';' => Ok((Ref::Named(utf8(&rest[..e])), e + 2)),
        _ => Err("`&` must start a reference such as &amp; or &#38;".into()),
    }
}

pub(super) fn predefined(name: &str) -> Option<char> {
    Some(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => return None,
    })
}

/// Check the content of an XML declaration (after `<?xml`): version, then optional
/// encoding, then optional standalone, each `name = "value"`.
fn check_xml_decl(b: &[u8], base: usize) -> Result<(), Fail> {
    let mut i = 0;
    let mut seen = 0; // 1 version, 2 encoding, 3 standalone
    loop {
        let ws = i;
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        if i == b.len() {
            if seen == 0 {
                return at(
                    base + i,
                    "the XML declaration needs a version (version=\"1.0\")",
                );
            }
            return Ok(());
        }
        if i == ws {
            return at(
                base + i,
                "whitespace is required between the XML declaration's fields",
            );
        }
        let ns = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let name = &b[ns..i];
        let order = match name {
            b"version" => 1,
            b"encoding" => 2,
            b"standalone" => 3,
            _ => {
                return at(
                    base + ns,
                    format!(
                        "unknown field `{}` in the XML declaration (version, encoding, standalone)",
                        utf8(name)
                    ),
                );
            }
        };
        if order == 1 && seen != 0 || order != 1 && seen == 0 {
            return at(base + ns, "the XML declaration must start with version");
        }
        if order <= seen {
            return at(
                base + ns,
                "the XML declaration's fields must come in the order version, encoding, standalone, once each",
            );
        }
        seen = order;
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        if b.get(i) != Some(&b'=') {
            return at(base + i, "expected `=` in the XML declaration");
        }
        i += 1;
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        let q = match b.get(i) {
            Some(&q @ (b'"' | b'\'')) => q,
            _ => return at(base + i, "XML declaration values must be quoted"),
        };
        let vs = i + 1;
        let Some(len) = b[vs..].iter().position(|&c| c == q) else {
            return at(base + i, "unterminated value in the XML declaration");
        };
        let v = &b[vs..vs + len];
        let ok = match order {
            1 => v.len() >= 3 && v.starts_with(b"1.") && v[2..].iter().all(u8::is_ascii_digit),
            2 => {
                v.first().is_some_and(u8::is_ascii_alphabetic)
                    && v.iter()
                        .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(c))
            }
            _ => v == b"yes" || v == b"no",
        };
        if !ok {
            let what = [
                "version (1.x)",
                "encoding name",
                "standalone value (yes or no)",
            ][order - 1];
            return at(
                base + vs,
                format!("bad {what} `{}` in the XML declaration", utf8(v)),
            );
        }
        i = vs + len + 1;
    }
}

/// Where to cut a long text that has no `<` yet: well before the end, and never inside a
/// reference, a CR LF, a `]]>` or a character.
fn safe_cut(d: &[u8]) -> usize {
    let mut k = d.len() - 1024;
    if let Some(a) = memchr::memrchr(b'&', &d[..k])
        && !d[a..k].contains(&b';')
    {
        k = a;
    }
    while k > 0 && matches!(d[k - 1], b'\r' | b']') {
        k -= 1;
    }
    while k > 0 && (d[k] & 0xC0) == 0x80 {
        k -= 1;
    }
    k
}

/// The text of a slice of the window. Every slice the tokenizer takes starts and ends at
/// an ASCII delimiter or at a character boundary of valid UTF-8 (the input checks it).
#[inline]
pub(super) fn utf8(b: &[u8]) -> &str {
    debug_assert!(std::str::from_utf8(b).is_ok(), "cut inside a character");
    // SAFETY: the window holds valid UTF-8 (see `Input::validate`), and the slices taken
    // from it are cut at ASCII bytes or character boundaries, so they are valid UTF-8.
    unsafe { std::str::from_utf8_unchecked(b) }
}

fn show_c(c: char) -> String {
    if c.is_control() || c.is_whitespace() {
        format!("character U+{:04X}", c as u32)
    } else {
        format!("`{c}`")
    }
}

fn show_char(d: &[u8], i: usize) -> String {
    match std::str::from_utf8(&d[i..])
        .ok()
        .or_else(|| {
            let e = std::str::from_utf8(&d[i..]).err()?;
            std::str::from_utf8(&d[i..i + e.valid_up_to()]).ok()
        })
        .and_then(|s| s.chars().next())
    {
        Some(c) => show_c(c),
        None => "the end of the input".into(),
    }
}

/// Reuse the allocation of a vector of attributes for borrows of another lifetime.
fn recycle<'b>(mut v: Vec<Attr<'_>>) -> Vec<Attr<'b>> {
    v.clear();
    v.into_iter()
        .map(|_| unreachable!("the vector is empty"))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::rc::Rc;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::item::Origin;
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
