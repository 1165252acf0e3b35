//! The DOCTYPE declaration: its syntax, and the general entities of its internal subset.
//!
//! `<!DOCTYPE Name (SYSTEM "…" | PUBLIC "…" "…")? [internal subset]? >`. In the internal
//! subset, entity declarations are read: an internal general entity's replacement text (its
//! character references expanded, line ends normalized) is kept for expansion in text and
//! attribute values (see [`super`], which bounds the expansion depth and size and
//! refuses recursion). External parsed entities are not fetched: they expand to nothing, as
//! expat does without an external entity handler (with a warning, once per entity);
//! unparsed (NDATA) ones may not be referenced. ELEMENT (content models), ATTLIST (types, enumerations, defaults — whose
//! references must name entities declared before) and NOTATION declarations are checked
//! against their grammar and not kept; comments and PIs are checked as elsewhere;
//! parameter-entity references between declarations must name a declared parameter entity
//! in a standalone document (in another, an undeclared one is a validity error only: XML
//! 1.0 §4.1 and errata E29/E38, as expat) and are not expanded; inside declarations they are refused (XML 1.0's "PEs in Internal
//! Subset").
//! Only the first declaration of an entity or attribute counts. Attribute-list
//! declarations are applied as XML asks of a non-validating processor: defaults are added
//! to start tags that lack them, and values of types other than CDATA have their spaces
//! collapsed. After a parameter-entity reference (not read), later ENTITY and ATTLIST
//! declarations are checked but not used, unless the document is standalone (XML 1.0 §5.1). When the DOCTYPE has an external subset
//! or parameter-entity references (neither is read), an entity that is not declared may be
//! declared there: unless the document is `standalone="yes"`, references to it are left out
//! with a warning instead of being an error (XML 1.0 §4.1, "Entity Declared" is then a
//! validity constraint; expat does the same). Errors inside external DTDs and external
//! entities are not seen, since they are not read.

use std::rc::Rc;

use super::error::Fail;
use super::tag::collapse_spaces;
use super::text::{Ref, parse_ref, utf8};
use super::{AttDef, Entity, Parser, Step};
use crate::protocol::Flow;
use crate::source::xml::chars::{self, NameEnd, is_space};

fn at<T>(i: usize, msg: impl Into<String>) -> Result<T, Fail> {
    Err(Fail::At(i, msg.into()))
}

/// Read-only cursor over the DOCTYPE.
struct Cur<'a> {
    d: &'a [u8],
    i: usize,
    strict: bool,
}

/// The data ended inside the DOCTYPE.
struct Open;

type R<T> = Result<Result<T, Open>, Fail>;

impl<'a> Cur<'a> {
    fn space(&mut self) -> usize {
        let s = self.i;
        while self.i < self.d.len() && is_space(self.d[self.i]) {
            self.i += 1;
        }
        self.i - s
    }

    fn need_space(&mut self, what: &str) -> R<()> {
        if self.i >= self.d.len() {
            return Ok(Err(Open));
        }
        if self.space() == 0 {
            return at(self.i, format!("whitespace is required {what}"));
        }
        if self.i >= self.d.len() {
            return Ok(Err(Open));
        }
        Ok(Ok(()))
    }

    fn name(&mut self, what: &str) -> R<&'a str> {
        match chars::scan_name(self.d, self.i, self.strict) {
            NameEnd::At(e) => {
                let n = utf8(&self.d[self.i..e]);
                self.i = e;
                Ok(Ok(n))
            }
            NameEnd::Open => Ok(Err(Open)),
            NameEnd::BadStart => at(self.i, format!("expected {what}")),
            NameEnd::BadChar(j, c) => at(j, format!("`{c}` cannot be in {what}")),
        }
    }

    /// A quoted literal; returns its content.
    fn literal(&mut self, what: &str) -> R<&'a [u8]> {
        let Some(&q) = self.d.get(self.i) else {
            return Ok(Err(Open));
        };
        if q != b'"' && q != b'\'' {
            return at(self.i, format!("expected a quoted {what}"));
        }
        let Some(len) = memchr::memchr(q, &self.d[self.i + 1..]) else {
            return Ok(Err(Open));
        };
        let v = &self.d[self.i + 1..self.i + 1 + len];
        self.i += len + 2;
        Ok(Ok(v))
    }

    fn starts(&self, s: &[u8]) -> bool {
        self.d[self.i..].starts_with(s)
    }

    /// Whether the data ends before `s` could be told apart.
    fn maybe(&self, s: &[u8]) -> bool {
        s.starts_with(&self.d[self.i..])
    }
}

macro_rules! tri {
    ($e:expr) => {
        match $e? {
            Ok(v) => v,
            Err(Open) => return Ok(Err(Open)),
        }
    };
}

/// The DOCTYPE at `d[0]`: the whole of it, or up to the `[` of its internal subset, whose
/// items then come one token at a time ([`subset_item`], with `in_subset` set): the subset
/// is never held whole, and its comments and PIs are dropped as they are read.
pub(super) fn doctype(p: &mut Parser, d: &[u8]) -> Result<Step, Fail> {
    let strict = p.strict();
    let mut c = Cur { d, i: 9, strict };
    match head(p, &mut c)? {
        Ok(subset) => {
            if subset {
                p.in_subset = true;
                p.started(super::STARTED_SUBSET);
            }
            Ok(Step::Done(c.i, Flow::Continue))
        }
        Err(Open) => Ok(Step::More("the DOCTYPE")),
    }
}

/// The DOCTYPE up to its end or the `[` of its internal subset (then `true`).
fn head(p: &mut Parser, c: &mut Cur<'_>) -> R<bool> {
    tri!(c.need_space("after <!DOCTYPE"));
    tri!(c.name("the document element's name after <!DOCTYPE"));
    let had_space = c.space() > 0;
    if tri!(external_id(c, had_space, false)) {
        p.unread_declarations = true;
    }
    c.space();
    match c.d.get(c.i) {
        None => Ok(Err(Open)),
        Some(b'[') => {
            c.i += 1;
            Ok(Ok(true))
        }
        Some(b'>') => {
            c.i += 1;
            Ok(Ok(false))
        }
        Some(_) => at(c.i, "expected `>` to end the DOCTYPE"),
    }
}

/// One item of the internal subset at `d[0]`: white space, a parameter-entity reference,
/// a comment, a PI, a declaration, or the `]` and `>` that end the DOCTYPE.
pub(super) fn subset_item(p: &mut Parser, d: &[u8]) -> Result<Step, Fail> {
    const WHAT: &str = "the DOCTYPE";
    let strict = p.strict();
    let mut c = Cur { d, i: 0, strict };
    if c.space() > 0 {
        return Ok(Step::Done(c.i, Flow::Continue));
    }
    if d[0] == b']' {
        c.i = 1;
        c.space();
        return match d.get(c.i) {
            None => Ok(Step::More(WHAT)),
            Some(b'>') => {
                p.in_subset = false;
                Ok(Step::Done(c.i + 1, Flow::Continue))
            }
            Some(_) => at(c.i, "expected `>` to end the DOCTYPE"),
        };
    }
    if d.starts_with(b"<!--") {
        return p.comment_top::<true>(d);
    }
    if d.starts_with(b"<?") {
        c.i = 2;
        match c.name("a processing instruction target")? {
            Err(Open) => return Ok(Step::More(WHAT)),
            Ok(target) if target.eq_ignore_ascii_case("xml") => {
                return at(
                    2,
                    "processing instruction targets named `xml` (in any case) are reserved",
                );
            }
            Ok(_) => return p.pi::<true>(d),
        }
    }
    match item(p, &mut c)? {
        Ok(()) => Ok(Step::Done(c.i, Flow::Continue)),
        Err(Open) => Ok(Step::More(WHAT)),
    }
}

/// `SYSTEM "…"` or `PUBLIC "…" "…"` (optional); `public_only` allows a PUBLIC without a
/// system literal (NOTATION). Returns whether one was there.
fn external_id(c: &mut Cur<'_>, had_space: bool, public_only: bool) -> R<bool> {
    if (c.maybe(b"SYSTEM") || c.maybe(b"PUBLIC")) && c.i + 6 >= c.d.len() {
        return Ok(Err(Open));
    }
    let public = c.starts(b"PUBLIC");
    if !public && !c.starts(b"SYSTEM") {
        return Ok(Ok(false));
    }
    if !had_space {
        return at(c.i, "whitespace is required before SYSTEM or PUBLIC");
    }
    c.i += 6;
    tri!(c.need_space("after SYSTEM or PUBLIC"));
    if public {
        let start = c.i + 1;
        let id = tri!(c.literal("public identifier"));
        if let Some(k) = id
            .iter()
            .position(|&b| !(b.is_ascii_alphanumeric() || b" \r\n-'()+,./:=?;!*#@$_%".contains(&b)))
        {
            return at(start + k, "character not allowed in a public identifier");
        }
        let sp = c.space();
        if public_only && matches!(c.d.get(c.i), Some(b'>')) {
            return Ok(Ok(true));
        }
        if c.i >= c.d.len() {
            return Ok(Err(Open));
        }
        if sp == 0 {
            return at(
                c.i,
                "whitespace is required between the public and system identifiers",
            );
        }
    }
    tri!(c.literal("system identifier"));
    Ok(Ok(true))
}

/// A parameter-entity reference or a declaration at the cursor.
fn item(p: &mut Parser, c: &mut Cur<'_>) -> R<()> {
    match c.d[c.i] {
        b'%' => {
            let s = c.i;
            c.i += 1;
            let name = tri!(c.name("a parameter entity name after `%`"));
            match c.d.get(c.i) {
                None => return Ok(Err(Open)),
                Some(b';') => c.i += 1,
                Some(_) => return at(c.i, "expected `;` after a parameter entity name"),
            }
            // A document with a parameter-entity reference (this one) is not under the
            // WFC Entity Declared unless it is standalone: an undeclared parameter entity
            // is then a validity error only (XML 1.0 §4.1 and its errata E29, E38; expat
            // does the same). It is not read, as a declared one is not.
            p.unread_declarations = true;
            if !p.parameter_entities.contains(name) && !p.may_lack_declarations() {
                return at(s, format!("undefined parameter entity %{name};"));
            }
            p.unread_declarations = true;
            p.pe_skipped = true;
        }
        b'<' => {
            if c.starts(b"<!ENTITY") {
                c.i += 8;
                tri!(entity_decl(p, c));
            } else if c.starts(b"<!ELEMENT") {
                c.i += 9;
                tri!(element_decl(c));
            } else if c.starts(b"<!ATTLIST") {
                c.i += 9;
                tri!(attlist_decl(p, c));
            } else if c.starts(b"<!NOTATION") {
                c.i += 10;
                tri!(c.need_space("after <!NOTATION"));
                tri!(c.name("a notation name"));
                let sp = c.space() > 0;
                if !tri!(external_id(c, sp, true)) {
                    return at(c.i, "a NOTATION needs SYSTEM or PUBLIC");
                }
                tri!(end_decl(c));
            } else if [
                &b"<!--"[..],
                b"<?",
                b"<!ENTITY",
                b"<!ELEMENT",
                b"<!ATTLIST",
                b"<!NOTATION",
            ]
            .iter()
            .any(|k| c.maybe(k))
            {
                return Ok(Err(Open));
            } else {
                return at(c.i, "unknown declaration in the internal subset");
            }
        }
        _ => return at(c.i, "unexpected character in the internal subset"),
    }
    Ok(Ok(()))
}

/// Optional whitespace, then the `>` that ends a declaration.
fn end_decl(c: &mut Cur<'_>) -> R<()> {
    c.space();
    match c.d.get(c.i) {
        None => Ok(Err(Open)),
        Some(b'>') => {
            c.i += 1;
            Ok(Ok(()))
        }
        Some(b'%') => at(
            c.i,
            "a parameter entity reference cannot be used inside a declaration in the internal subset",
        ),
        Some(_) => at(c.i, "expected `>` to end the declaration"),
    }
}

/// A keyword (a run of ASCII letters, `#` first allowed) at the cursor, not consumed;
/// `None` when the data ends inside it.
fn word<'a>(c: &Cur<'a>) -> Option<&'a [u8]> {
    let s = c.i;
    let mut j = s;
    if c.d.get(j) == Some(&b'#') {
        j += 1;
    }
    while j < c.d.len() && c.d[j].is_ascii_alphabetic() {
        j += 1;
    }
    (j < c.d.len()).then(|| &c.d[s..j])
}

/// Groups nested deeper than this in a content model are refused (they are parsed
/// recursively).
const MAX_GROUP_DEPTH: usize = 256;

/// `<!ELEMENT Name contentspec>`: EMPTY, ANY, Mixed or children (XML 1.0 §3.2).
fn element_decl(c: &mut Cur<'_>) -> R<()> {
    tri!(c.need_space("after <!ELEMENT"));
    tri!(c.name("an element name"));
    tri!(c.need_space("after the element name"));
    let Some(w) = word(c) else {
        return Ok(Err(Open));
    };
    match w {
        b"EMPTY" | b"ANY" => c.i += w.len(),
        b"" if c.d[c.i] == b'(' => tri!(content_model(c)),
        b"" if c.d[c.i] == b'%' => {
            return at(
                c.i,
                "a parameter entity reference cannot be used inside a declaration in the internal subset",
            );
        }
        _ => return at(c.i, "expected EMPTY, ANY or a content model in parentheses"),
    }
    end_decl(c)
}

fn content_model(c: &mut Cur<'_>) -> R<()> {
    let open = c.i;
    c.i += 1;
    c.space();
    let Some(w) = word(c) else {
        return Ok(Err(Open));
    };
    if w != b"#PCDATA" {
        c.i = open;
        return group(c, 0);
    }
    c.i += 7;
    let mut names = false;
    loop {
        c.space();
        match c.d.get(c.i) {
            None => return Ok(Err(Open)),
            Some(b')') => {
                c.i += 1;
                break;
            }
            Some(b'|') => {
                c.i += 1;
                c.space();
                tri!(c.name("an element name in a mixed content model"));
                names = true;
            }
            Some(_) => return at(c.i, "expected `|` or `)` in a mixed content model"),
        }
    }
    match c.d.get(c.i) {
        None => Ok(Err(Open)),
        Some(b'*') => {
            c.i += 1;
            Ok(Ok(()))
        }
        Some(_) if names => at(
            c.i,
            "a mixed content model with element names must end with `)*`",
        ),
        Some(_) => Ok(Ok(())),
    }
}

/// A choice or sequence in parentheses at the cursor, with its quantifier.
fn group(c: &mut Cur<'_>, depth: usize) -> R<()> {
    if depth > MAX_GROUP_DEPTH {
        return at(
            c.i,
            format!("content model groups nested more than {MAX_GROUP_DEPTH} deep"),
        );
    }
    c.i += 1;
    let mut sep = None;
    loop {
        c.space();
        tri!(content_particle(c, depth));
        c.space();
        let Some(&b) = c.d.get(c.i) else {
            return Ok(Err(Open));
        };
        match b {
            b')' => {
                c.i += 1;
                break;
            }
            b'|' | b',' => {
                if sep.is_some_and(|s| s != b) {
                    return at(
                        c.i,
                        "`|` and `,` cannot be mixed in one group (add parentheses)",
                    );
                }
                sep = Some(b);
                c.i += 1;
            }
            _ => return at(c.i, "expected `|`, `,` or `)` in a content model"),
        }
    }
    quantifier(c)
}

fn content_particle(c: &mut Cur<'_>, depth: usize) -> R<()> {
    match c.d.get(c.i) {
        None => Ok(Err(Open)),
        Some(b'(') => group(c, depth + 1),
        Some(b'#') => at(
            c.i,
            "#PCDATA must come first in the outermost group of a mixed content model",
        ),
        Some(_) => {
            tri!(c.name("an element name in a content model"));
            quantifier(c)
        }
    }
}

fn quantifier(c: &mut Cur<'_>) -> R<()> {
    match c.d.get(c.i) {
        None => Ok(Err(Open)),
        Some(b'?' | b'*' | b'+') => {
            c.i += 1;
            Ok(Ok(()))
        }
        Some(_) => Ok(Ok(())),
    }
}

/// `<!ATTLIST Name AttDef*>` (XML 1.0 §3.3); default values are checked as attribute values
/// are, with the entities declared so far.
fn attlist_decl(p: &mut Parser, c: &mut Cur<'_>) -> R<()> {
    tri!(c.need_space("after <!ATTLIST"));
    let element = tri!(c.name("an element name"));
    loop {
        let sp = c.space();
        match c.d.get(c.i) {
            None => return Ok(Err(Open)),
            Some(b'>') => {
                c.i += 1;
                return Ok(Ok(()));
            }
            Some(b'%') => {
                return at(
                    c.i,
                    "a parameter entity reference cannot be used inside a declaration in the internal subset",
                );
            }
            Some(_) if sp == 0 => {
                return at(c.i, "whitespace is required before an attribute definition");
            }
            Some(_) => {}
        }
        let attr = tri!(c.name("an attribute name"));
        tri!(c.need_space("after the attribute name"));
        let Some(w) = word(c) else {
            return Ok(Err(Open));
        };
        let tokenized = w != b"CDATA";
        match w {
            b"CDATA" | b"ID" | b"IDREF" | b"IDREFS" | b"ENTITY" | b"ENTITIES" | b"NMTOKEN"
            | b"NMTOKENS" => c.i += w.len(),
            b"NOTATION" => {
                c.i += 8;
                tri!(c.need_space("after NOTATION"));
                if c.d.get(c.i) != Some(&b'(') {
                    return at(c.i, "expected `(` and notation names after NOTATION");
                }
                tri!(enumeration(c, false));
            }
            b"" if c.d[c.i] == b'(' => tri!(enumeration(c, true)),
            _ => {
                return at(
                    c.i,
                    "expected an attribute type (CDATA, ID, NMTOKEN, …, or an enumeration)",
                );
            }
        }
        tri!(c.need_space("before the attribute default"));
        let Some(w) = word(c) else {
            return Ok(Err(Open));
        };
        match w {
            b"#REQUIRED" | b"#IMPLIED" => {
                c.i += w.len();
                p.declare_attribute(element, attr, tokenized, None);
            }
            b"#FIXED" => {
                c.i += 6;
                tri!(c.need_space("after #FIXED"));
                let v = tri!(default_value(p, c));
                p.declare_attribute(element, attr, tokenized, Some(v));
            }
            b"" if matches!(c.d[c.i], b'"' | b'\'') => {
                let v = tri!(default_value(p, c));
                p.declare_attribute(element, attr, tokenized, Some(v));
            }
            _ => {
                return at(
                    c.i,
                    "expected #REQUIRED, #IMPLIED, #FIXED or a quoted default value",
                );
            }
        }
    }
}

/// `( a | b | c )` of names (NOTATION) or name tokens.
fn enumeration(c: &mut Cur<'_>, tokens: bool) -> R<()> {
    c.i += 1;
    loop {
        c.space();
        if tokens {
            let s = c.i;
            let rest = match std::str::from_utf8(&c.d[s..]) {
                Ok(t) => t,
                Err(e) => utf8(&c.d[s..s + e.valid_up_to()]),
            };
            let n: usize = rest
                .chars()
                .take_while(|&ch| chars::is_name_char(ch))
                .map(char::len_utf8)
                .sum();
            if s + n >= c.d.len() {
                return Ok(Err(Open));
            }
            if n == 0 {
                return at(s, "expected a name token in the enumeration");
            }
            c.i += n;
        } else {
            tri!(c.name("a notation name"));
        }
        c.space();
        match c.d.get(c.i) {
            None => return Ok(Err(Open)),
            Some(b'|') => c.i += 1,
            Some(b')') => {
                c.i += 1;
                return Ok(Ok(()));
            }
            Some(_) => return at(c.i, "expected `|` or `)` in the enumeration"),
        }
    }
}

/// A quoted default value, normalized as an attribute value.
fn default_value(p: &mut Parser, c: &mut Cur<'_>) -> R<String> {
    let at_value = c.i + 1;
    let v = tri!(c.literal("default value"));
    Ok(Ok(p.attr_default(v, at_value)?))
}

fn entity_decl(p: &mut Parser, c: &mut Cur<'_>) -> R<()> {
    tri!(c.need_space("after <!ENTITY"));
    let pe = c.d.get(c.i) == Some(&b'%');
    if pe {
        c.i += 1;
        tri!(c.need_space("after `%` in a parameter entity declaration"));
    }
    let name = tri!(c.name("an entity name"));
    tri!(c.need_space("after the entity name"));
    let value_at = c.i + 1;
    let entity = match c.d.get(c.i) {
        None => return Ok(Err(Open)),
        Some(b'"' | b'\'') => {
            let raw = tri!(c.literal("entity value"));
            Some(entity_value(raw, value_at, c.strict)?)
        }
        Some(_) => {
            if !tri!(external_id(c, true, false)) {
                return at(c.i, "expected a quoted entity value, SYSTEM or PUBLIC");
            }
            let sp = c.space() > 0;
            if c.starts(b"NDATA") {
                if pe {
                    return at(c.i, "a parameter entity cannot be unparsed (NDATA)");
                }
                if !sp {
                    return at(c.i, "whitespace is required before NDATA");
                }
                c.i += 5;
                tri!(c.need_space("after NDATA"));
                tri!(c.name("a notation name after NDATA"));
                None
            } else {
                if c.maybe(b"NDATA") && c.i < c.d.len() {
                    return Ok(Err(Open));
                }
                Some(Entity {
                    text: String::new(),
                    parse: false,
                    external: true,
                })
            }
        }
    };
    c.space();
    match c.d.get(c.i) {
        None => return Ok(Err(Open)),
        Some(b'>') => c.i += 1,
        Some(_) => return at(c.i, "expected `>` to end the entity declaration"),
    }
    if pe {
        p.parameter_entities.insert(name.to_string());
    } else if !p.entities.contains_key(name) && p.processes_declarations() {
        match entity {
            Some(e) => {
                p.entities.insert(name.to_string(), Rc::new(e));
            }
            None => {
                p.unparsed.insert(name.to_string());
            }
        }
    }
    Ok(Ok(()))
}

/// An entity value's replacement text: character references expanded, line ends
/// normalized; general entity references kept (they are expanded where the entity is
/// used); parameter entity references refused (not allowed inside declarations in the
/// internal subset).
fn entity_value(raw: &[u8], base: usize, strict: bool) -> Result<Entity, Fail> {
    let mut text = String::with_capacity(raw.len());
    let mut i = 0;
    let mut plain = 0;
    while i < raw.len() {
        match raw[i] {
            b'%' => {
                return at(
                    base + i,
                    "a parameter entity reference cannot be used inside a declaration in the internal subset",
                );
            }
            b'&' => {
                text.push_str(utf8(&raw[plain..i]));
                let (r, len) = parse_ref(raw, i, strict).map_err(|m| Fail::At(base + i, m))?;
                match r {
                    Ref::Char(ch) => text.push(ch),
                    Ref::Named(_) => text.push_str(utf8(&raw[i..i + len])),
                }
                i += len;
                plain = i;
            }
            b'\r' => {
                text.push_str(utf8(&raw[plain..i]));
                text.push('\n');
                i += if raw.get(i + 1) == Some(&b'\n') { 2 } else { 1 };
                plain = i;
            }
            _ => i += 1,
        }
    }
    text.push_str(utf8(&raw[plain..]));
    let parse = text.contains(['<', '&']) || text.contains("]]>");
    Ok(Entity {
        text,
        parse,
        external: false,
    })
}

impl Parser {
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
}
