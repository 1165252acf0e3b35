//! Character data and references: text between tags (borrowed from the window, or decoded
//! into scratch space when it holds references or CRs; pushed in pieces when longer than
//! the window), character and entity references, and the expansion of the entities the
//! DOCTYPE declares (bounded in depth and size, recursion refused).

use std::rc::Rc;

use super::error::{Fail, at, in_entity};
use super::{Entity, MAX_ENTITY_DEPTH, MAX_EXPANDED, Parser, State, Step};
use crate::item::{Event, Item};
use crate::protocol::{Flow, Stage};
use crate::source::xml::chars::{self, NameEnd, is_space};
use crate::source::xml::predefined::predefined;

/// Text without a `<` shorter than this waits for more input rather than being pushed in
/// pieces.
pub(super) const PIECE_MIN: usize = 64 * 1024;

/// Bytes of an attribute value that need the slow path.
/// Text up to this long is scanned byte by byte (see [`Parser::chars`]).
pub(super) const SHORT_TEXT: usize = 48;

/// The bytes that make text need decoding or checking: references, CRs, `]` (of `]]>`).
pub(super) static TEXT_SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    t[b'&' as usize] = true;
    t[b'\r' as usize] = true;
    t[b']' as usize] = true;
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

/// Where to cut a long text that has no `<` yet: well before the end, and never inside a
/// reference, a CR LF, a `]]>` or a character.
pub(super) fn safe_cut(d: &[u8]) -> usize {
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

/// The first bytes of a text at once: bit `k` of each mask is for `d[from + k]`.
struct Block {
    /// How many bytes the masks cover (16 or 32).
    len: usize,
    /// Where `<` is.
    lt: u32,
    /// Where a CR is.
    cr: u32,
    /// Where `&` or `]` is.
    other: u32,
}

/// The masks of [`Block`] for `d[from..from + 32]`, or `d[from..from + 16]`, when the data
/// holds that many bytes.
#[inline(always)]
fn first_block(d: &[u8], from: usize) -> Option<Block> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        #[inline(always)]
        fn masks(d: &[u8], at: usize) -> (u32, u32, u32) {
            debug_assert!(at + 16 <= d.len());
            // SAFETY: SSE2 is always available on x86-64; the load reads d[at..at + 16],
            // which the callers check is in bounds.
            unsafe {
                let v = _mm_loadu_si128(d.as_ptr().add(at).cast());
                let eq = |c: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8));
                (
                    _mm_movemask_epi8(eq(b'<')) as u32,
                    _mm_movemask_epi8(eq(b'\r')) as u32,
                    _mm_movemask_epi8(_mm_or_si128(eq(b'&'), eq(b']'))) as u32,
                )
            }
        }
        if from + 16 > d.len() {
            return None;
        }
        let (lt, cr, other) = masks(d, from);
        if lt != 0 || from + 32 > d.len() {
            return Some(Block {
                len: 16,
                lt,
                cr,
                other,
            });
        }
        let (lt2, cr2, other2) = masks(d, from + 16);
        Some(Block {
            len: 32,
            lt: lt2 << 16,
            cr: cr | cr2 << 16,
            other: other | other2 << 16,
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (d, from);
        None
    }
}

impl Parser {
    pub(super) fn chars(
        &mut self,
        d: &[u8],
        eof: bool,
        out: &mut (impl Stage + ?Sized),
    ) -> Result<Step, Fail> {
        // Most text is short (a value, the indentation between tags): find its end and
        // whether it needs decoding in one sixteen-byte compare, then a byte loop, without
        // the set-up of a longer vector search.
        // A CR LF that starts the text (the indentation of CRLF files) is a line end: the
        // text is the rest.
        if self.state == State::Root {
            let from = usize::from(d.starts_with(b"\r\n") && self.literal());
            let mut special = false;
            let short = d.len().min(SHORT_TEXT);
            let mut next = from;
            // The first sixteen or thirty-two bytes at once: most text (a value, the
            // indentation) ends in them.
            if let Some(b) = first_block(d, from) {
                if b.lt != 0 {
                    let i = from + b.lt.trailing_zeros() as usize;
                    let before = (1u32 << (i - from)) - 1;
                    if (b.cr | b.other) & before == 0 {
                        // Nothing to decode or check: the text is plain.
                        let flow = out.send(Item::Event(&Event::Text {
                            text: utf8(&d[from..i]),
                            cdata: false,
                        }))?;
                        return Ok(Step::Done(i, flow));
                    }
                    if b.other & before == 0 && self.literal() {
                        // Only line ends to normalize (CR LF and CR are LF).
                        let flow = self.text_with_crs(d, from, i, b.cr & before, out)?;
                        return Ok(Step::Done(i, flow));
                    }
                    // (The general path below decodes it.)
                    next = short;
                } else {
                    next = from + b.len;
                    special = (b.cr | b.other) != 0;
                }
            }
            for i in next..short {
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

    /// Push the text `d[from..end]` whose only bytes to decode are the CRs at the bits of
    /// `crs` (bit `k` for `d[from + k]`): each CR LF and each other CR becomes LF.
    fn text_with_crs(
        &mut self,
        d: &[u8],
        from: usize,
        end: usize,
        mut crs: u32,
        out: &mut (impl Stage + ?Sized),
    ) -> Result<Flow, Fail> {
        let mut text = std::mem::take(&mut self.text);
        text.clear();
        let mut plain = from;
        while crs != 0 {
            let j = from + crs.trailing_zeros() as usize;
            crs &= crs - 1;
            text.push_str(utf8(&d[plain..j]));
            text.push('\n');
            // (`d[end]` is `<`: the byte after a CR before it is in the data.)
            plain = if d[j + 1] == b'\n' { j + 2 } else { j + 1 };
        }
        text.push_str(utf8(&d[plain..end]));
        let r = out
            .send(Item::Event(&Event::Text {
                text: &text,
                cdata: false,
            }))
            .map_err(Fail::Other);
        self.text = text;
        r
    }

    /// Character data inside the root: decode references and CRs, check `]]>`, push it.
    pub(super) fn root_text(
        &mut self,
        run: &[u8],
        base: usize,
        out: &mut (impl Stage + ?Sized),
    ) -> Result<Flow, Fail> {
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
    pub(super) fn decode_text(
        &mut self,
        run: &[u8],
        from: usize,
        base: usize,
        out: &mut (impl Stage + ?Sized),
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

    pub(super) fn decode_text_into(
        &mut self,
        run: &[u8],
        from: usize,
        base: usize,
        text: &mut String,
        out: &mut (impl Stage + ?Sized),
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
    pub(super) fn expand_in_text(
        &mut self,
        name: &str,
        at_ref: usize,
        text: &mut String,
        out: &mut (impl Stage + ?Sized),
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
    pub(super) fn entity(&mut self, name: &str, at_ref: usize) -> Result<Rc<Entity>, Fail> {
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

    /// Whether the bytes being read are the document's own (not an entity's replacement
    /// text), whose line ends are normalized.
    pub(super) fn literal(&self) -> bool {
        self.expanding.is_empty()
    }

    pub(super) fn enter_entity(
        &mut self,
        name: &str,
        at_ref: usize,
        len: usize,
    ) -> Result<(), Fail> {
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
    pub(super) fn parse_entity_content(
        &mut self,
        name: &str,
        body: &[u8],
        out: &mut (impl Stage + ?Sized),
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
}
