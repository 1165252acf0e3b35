//! Tags: start tags with their attributes (values decoded, ATTLIST defaults added, names
//! checked unique), empty-element tags and end tags, and the path of open elements.

use anyhow::Result;

use super::error::{Fail, at, in_entity, show_c, show_char};
use super::text::{Ref, parse_ref, utf8};
use super::{AttDef, MAX_DEPTH, Parser, State, Step};
use crate::item::{Attr, Event, Item};
use crate::protocol::{Flow, Stage};
use crate::source::xml::chars::NameEnd;
use crate::source::xml::predefined::predefined;

/// Where an attribute value is: in the data, or decoded into `vals`.
#[derive(Clone, Copy)]
pub(super) enum Span {
    Data(usize, usize),
    Vals(usize, usize),
}

#[derive(Clone, Copy)]
pub(super) struct AttrSpan {
    /// The name, in the data; `Vals` for an attribute added from an ATTLIST default.
    name: Span,
    value: Span,
}

/// The text of a span of the data or of the decoded values.
pub(super) fn span_str<'a>(d: &'a [u8], vals: &'a str, s: Span) -> &'a str {
    match s {
        Span::Data(a, b) => utf8(&d[a..b]),
        Span::Vals(a, b) => &vals[a..b],
    }
}

/// A tokenized attribute value: no leading or trailing spaces, one space between tokens.
pub(super) fn collapse_spaces(v: &str) -> String {
    v.split(' ')
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) static ATTR_SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    t[b'&' as usize] = true;
    t[b'<' as usize] = true;
    t[b'\r' as usize] = true;
    t[b'\n' as usize] = true;
    t[b'\t' as usize] = true;
    t
};

/// Reuse the allocation of a vector of attributes for borrows of another lifetime.
pub(super) fn recycle<'b>(mut v: Vec<Attr<'_>>) -> Vec<Attr<'b>> {
    v.clear();
    v.into_iter()
        .map(|_| unreachable!("the vector is empty"))
        .collect()
}

impl Parser {
    /// Apply the ATTLIST of element `name` to the attributes just read: collapse the
    /// spaces of tokenized values, add the defaults of missing attributes.
    pub(super) fn apply_attlist(&mut self, d: &[u8], defs: &[AttDef]) {
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

    pub(super) fn start_tag<const R: bool>(
        &mut self,
        d: &[u8],
        out: &mut (impl Stage + ?Sized),
    ) -> Result<Step, Fail> {
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
    #[inline(always)]
    pub(super) fn after_start(
        &mut self,
        name: &str,
        empty: bool,
        len: usize,
        mut flow: Result<Flow>,
        out: &mut (impl Stage + ?Sized),
    ) -> Result<Step, Fail> {
        if empty {
            if matches!(flow, Ok(Flow::Continue)) {
                flow = out.send(Item::Event(&Event::End { name }));
            }
            self.pop();
        }
        Ok(Step::Done(len, flow?))
    }

    pub(super) fn pop(&mut self) {
        self.ends.pop();
        self.names.truncate(self.ends.last().copied().unwrap_or(0));
        if self.ends.is_empty() && self.expanding.is_empty() && !self.speculative {
            self.state = State::Epilog;
        }
    }

    /// One attribute at `d[i]`: its end, or `None` when the data ends inside it.
    pub(super) fn attribute<const R: bool>(
        &mut self,
        d: &[u8],
        i: usize,
    ) -> Result<Option<usize>, Fail> {
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
    pub(super) fn attr_value(
        &mut self,
        raw: &[u8],
        base: usize,
        vals: &mut String,
    ) -> Result<(), Fail> {
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

    /// Check an attribute default value of the DOCTYPE as an attribute value (references
    /// to declared entities only, no `<`).
    pub(super) fn attr_default(&mut self, raw: &[u8], base: usize) -> Result<String, Fail> {
        let mut vals = String::new();
        self.attr_value(raw, base, &mut vals)?;
        Ok(vals)
    }

    pub(super) fn expand_in_attr(
        &mut self,
        name: &str,
        at_ref: usize,
        vals: &mut String,
    ) -> Result<(), Fail> {
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
    pub(super) fn check_unique(&self, d: &[u8]) -> Result<(), Fail> {
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

    pub(super) fn end_tag<const R: bool>(
        &mut self,
        d: &[u8],
        out: &mut (impl Stage + ?Sized),
    ) -> Result<Step, Fail> {
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
}
