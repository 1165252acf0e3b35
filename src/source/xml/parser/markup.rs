//! Markup that is not a tag: comments and processing instructions (checked, and dropped as
//! they pass when long: [`Partial`]), the XML declaration, CDATA sections, and the DOCTYPE
//! (whose declarations [`super::dtd`] reads).

use std::sync::LazyLock;

use memchr::memmem::Finder;

use super::error::{Fail, at, show_c, show_char};
use super::text::utf8;
use super::{Parser, STARTED_PARTIAL, State, Step};
use crate::item::{Event, Item};
use crate::protocol::{Flow, Stage};
use crate::source::xml::chars::{NameEnd, is_space};

/// The searchers for the ends of comments, CDATA sections and PIs, built once: building a
/// `memmem` finder for every section showed in profiles.
pub(super) static DASHES: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"--"));

pub(super) static COMMENT_END: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"-->"));

pub(super) static CDATA_END: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"]]>"));

pub(super) static PI_END: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"?>"));

/// A comment or PI whose start was consumed (and dropped) before its end was seen: the data
/// starts inside it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Partial {
    None,
    Comment,
    Pi,
}

/// How far the body of a comment or PI goes in the data.
pub(super) enum Body {
    /// It ends before this offset (its end delimiter included).
    End(usize),
    /// The data ends inside it; everything before this offset is checked (the rest may be
    /// the start of its end delimiter).
    Need(usize),
}

/// The body of a comment from `d[from]` (after `<!--`, or anywhere in its body): up to
/// `-->`, with no `--` before it in strict mode (errors are relative to `d`).
pub(super) fn comment_body(d: &[u8], from: usize, strict: bool) -> Result<Body, Fail> {
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
pub(super) fn pi_body(d: &[u8], from: usize) -> Body {
    match PI_END.find(&d[from..]) {
        Some(k) => Body::End(from + k + 2),
        None if d.last() == Some(&b'?') => Body::Need((d.len() - 1).max(from)),
        None => Body::Need(d.len()),
    }
}

/// Check the content of an XML declaration (after `<?xml`): version, then optional
/// encoding, then optional standalone, each `name = "value"`.
pub(super) fn check_xml_decl(b: &[u8], base: usize) -> Result<(), Fail> {
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

impl Parser {
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
    pub(super) fn partial_rest(&mut self, d: &[u8]) -> Result<Step, Fail> {
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

    pub(super) fn cdata<const R: bool>(
        &mut self,
        d: &[u8],
        out: &mut (impl Stage + ?Sized),
    ) -> Result<Step, Fail> {
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

    pub(super) fn doctype(&mut self, d: &[u8]) -> Result<Step, Fail> {
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
