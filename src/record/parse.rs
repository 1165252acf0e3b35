//! Parsing one JSON text (an NDJSON line) straight into a [`Record`]'s flat storage.
//!
//! No tree of serde_json values is built and dropped per line: strings are unescaped into
//! the record's text, numbers are copied as they are written, nodes are linked as they
//! come. The open arrays and objects are kept on a reused heap stack, so a text of any
//! depth parses in constant stack space (and every later walk over the record is a loop
//! too). After the first lines nothing is allocated.
//!
//! What is accepted is RFC 8259 JSON, with these choices:
//! * a number keeps its text as written (`1.0`, `1e400`, `123456789012345678901234567890`):
//!   nothing is rounded, clamped or rejected for its size (as jq 1.7 keeps the literal);
//! * a key that repeats in an object keeps its first place and its last value (jq and
//!   serde_json do the same);
//! * a lone surrogate escape (`"\ud800"`) is an error: it is no character, and UTF-8 text
//!   cannot carry it;
//! * a byte order mark is the caller's business (the `json` stage skips one at the start
//!   of each input).

use super::{NONE, NodeId, ROOT, Record, Type, key_hash, next_escape};

/// Why a text is not JSON, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// The byte offset of the problem in the text.
    pub at: usize,
    /// What is wrong.
    pub what: String,
}

impl JsonError {
    /// The column of the problem in `text` (from 1, in characters).
    pub fn column(&self, text: &[u8]) -> usize {
        let at = self.at.min(text.len());
        // Count the bytes that start a character (UTF-8 continuation bytes are 0b10xxxxxx).
        text[..at].iter().filter(|&&c| (c as i8) >= -0x40).count() + 1
    }
}

/// A reusable JSON parser (see the module docs).
#[derive(Default)]
pub struct Parser {
    /// The open arrays and objects, innermost last.
    stack: Vec<Frame>,
    /// Scratch for [`dedupe`].
    members: Vec<(u32, u32)>,
}

struct Frame {
    id: NodeId,
    /// A 64-bit Bloom filter of the member keys' hashes: a key whose bit is clear cannot
    /// repeat one already seen, so the members are compared only when it is set.
    bloom: u64,
    /// Whether a key may repeat: the members are checked when the object closes.
    dups: bool,
}

fn err(at: usize, what: impl Into<String>) -> JsonError {
    JsonError {
        at,
        what: what.into(),
    }
}

/// What is at `i`, for a message: "`x`", "U+0001", or "the end of the line".
fn found(s: &str, i: usize) -> String {
    match s[i..].chars().next() {
        None => "the end of the line".into(),
        Some('\u{feff}') => {
            "U+FEFF (a byte order mark, allowed only at the start of an input)".into()
        }
        Some(c) if c.is_control() => format!("U+{:04X}", c as u32),
        Some(c) => format!("`{c}`"),
    }
}

#[inline]
fn ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

fn hex4(b: &[u8], i: usize) -> Option<u32> {
    let h = b.get(i..i + 4)?;
    h.iter()
        .try_fold(0u32, |n, &c| Some(n * 16 + (c as char).to_digit(16)?))
}

impl Parser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parse `text`, one JSON value, into `rec` (cleared first): the root of `rec` becomes
    /// that value (an object, unless the text is something else — the caller checks
    /// [`Record::root`]'s type). On an error `rec` holds a part of the value.
    pub fn parse(&mut self, text: &[u8], rec: &mut Record) -> Result<(), JsonError> {
        rec.clear();
        self.stack.clear();
        let s = std::str::from_utf8(text)
            .map_err(|e| err(e.valid_up_to(), "invalid UTF-8 (a JSON text is UTF-8)"))?;
        let b = s.as_bytes();
        let mut i = 0;
        // The node that receives the next value.
        let mut cur = ROOT;
        loop {
            // A value into `cur`.
            i = ws(b, i);
            let Some(&c) = b.get(i) else {
                return Err(err(i, format!("expected a value, found {}", found(s, i))));
            };
            match c {
                b'{' | b'[' => {
                    let obj = c == b'{';
                    rec.nodes[cur as usize].ty = if obj { Type::Object } else { Type::Array };
                    i = ws(b, i + 1);
                    if b.get(i) == Some(if obj { &b'}' } else { &b']' }) {
                        i += 1;
                    } else {
                        self.stack.push(Frame {
                            id: cur,
                            bloom: 0,
                            dups: false,
                        });
                        cur = if obj {
                            self.member(s, &mut i, rec)?
                        } else {
                            rec.new_node(cur, (0, 0), 0)
                        };
                        continue;
                    }
                }
                b'"' => {
                    let span = string(s, &mut i, rec)?;
                    let n = &mut rec.nodes[cur as usize];
                    n.ty = Type::String;
                    n.text = span;
                }
                b't' | b'f' | b'n' => {
                    let (word, ty): (&str, _) = match c {
                        b't' => ("true", Type::Bool),
                        b'f' => ("false", Type::Bool),
                        _ => ("null", Type::Null),
                    };
                    if !b[i..].starts_with(word.as_bytes()) {
                        return Err(err(
                            i,
                            format!("expected a value, found {} (not `{word}`)", found(s, i)),
                        ));
                    }
                    i += word.len();
                    let span = if ty == Type::Null {
                        (0, 0)
                    } else {
                        rec.push_text(word)
                    };
                    let n = &mut rec.nodes[cur as usize];
                    n.ty = ty;
                    n.text = span;
                }
                b'-' | b'0'..=b'9' => {
                    let start = i;
                    number(b, &mut i)?;
                    let span = rec.push_text(&s[start..i]);
                    let n = &mut rec.nodes[cur as usize];
                    n.ty = Type::Number;
                    n.text = span;
                }
                _ => return Err(err(i, format!("expected a value, found {}", found(s, i)))),
            }
            // After a value: a comma and the next one, or the ends of arrays and objects.
            loop {
                i = ws(b, i);
                let Some(top) = self.stack.last() else {
                    if i < b.len() {
                        return Err(err(
                            i,
                            format!(
                                "expected the end of the line after the value, found {}",
                                found(s, i)
                            ),
                        ));
                    }
                    return Ok(());
                };
                let id = top.id;
                let obj = rec.nodes[id as usize].ty == Type::Object;
                match b.get(i) {
                    Some(b',') => {
                        i += 1;
                        cur = if obj {
                            self.member(s, &mut i, rec)?
                        } else {
                            rec.new_node(id, (0, 0), 0)
                        };
                        break;
                    }
                    Some(b'}') if obj => {
                        i += 1;
                        if self.stack.pop().is_some_and(|f| f.dups) {
                            dedupe(rec, id, &mut self.members);
                        }
                    }
                    Some(b']') if !obj => {
                        i += 1;
                        self.stack.pop();
                    }
                    _ => {
                        let want = if obj {
                            "`,` or `}` after a member"
                        } else {
                            "`,` or `]` after an item"
                        };
                        return Err(err(i, format!("expected {want}, found {}", found(s, i))));
                    }
                }
            }
        }
    }

    /// A member's key and colon, at `*i` (after `{` or `,`): the new member's node.
    fn member(&mut self, s: &str, i: &mut usize, rec: &mut Record) -> Result<NodeId, JsonError> {
        let b = s.as_bytes();
        *i = ws(b, *i);
        if b.get(*i) != Some(&b'"') {
            return Err(err(
                *i,
                format!(
                    "expected a member name in double quotes, found {}",
                    found(s, *i)
                ),
            ));
        }
        let key = string(s, i, rec)?;
        let k = &rec.text.as_bytes()[key.0 as usize..key.1 as usize];
        let hash = key_hash(k);
        let frame = self.stack.last_mut().expect("inside an object");
        let obj = frame.id;
        if !frame.dups {
            let bit = 1u64 << (hash & 63);
            // Past 64 members the filter is full: check when the object closes.
            frame.dups = rec.nodes[obj as usize].len >= 64
                || (frame.bloom & bit != 0
                    && rec
                        .find_member(obj, &rec.text[key.0 as usize..key.1 as usize], hash)
                        .is_some());
            frame.bloom |= bit;
        }
        *i = ws(b, *i);
        if b.get(*i) != Some(&b':') {
            return Err(err(
                *i,
                format!("expected `:` after a member name, found {}", found(s, *i)),
            ));
        }
        *i += 1;
        Ok(rec.new_node(obj, key, hash))
    }
}

/// A string at `*i` (its opening quote), unescaped into the record's text: its span.
fn string(s: &str, i: &mut usize, rec: &mut Record) -> Result<(u32, u32), JsonError> {
    let b = s.as_bytes();
    let open = *i;
    let start = rec.text.len();
    let mut j = open + 1;
    loop {
        // The next quote, backslash, control character or DEL (DEL needs no escape).
        let Some(k) = next_escape(b, j) else {
            return Err(err(
                open,
                "a string is not closed (no `\"` before the end of the line)",
            ));
        };
        rec.text.push_str(&s[j..k]);
        match b[k] {
            b'"' => {
                *i = k + 1;
                return Ok((super::to_u32(start), super::to_u32(rec.text.len())));
            }
            0x7f => {
                rec.text.push('\u{7f}');
                j = k + 1;
            }
            b'\\' => {
                let c = match b.get(k + 1) {
                    Some(b'"') => '"',
                    Some(b'\\') => '\\',
                    Some(b'/') => '/',
                    Some(b'b') => '\u{8}',
                    Some(b'f') => '\u{c}',
                    Some(b'n') => '\n',
                    Some(b'r') => '\r',
                    Some(b't') => '\t',
                    Some(b'u') => {
                        let (c, len) = unicode_escape(b, k)?;
                        rec.text.push(c);
                        j = k + len;
                        continue;
                    }
                    _ => {
                        return Err(err(
                            k,
                            format!(
                                "unknown escape `\\{}` in a string (JSON has \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)",
                                s[k + 1..]
                                    .chars()
                                    .next()
                                    .map_or(String::new(), |c| c.to_string())
                            ),
                        ));
                    }
                };
                rec.text.push(c);
                j = k + 2;
            }
            c => {
                return Err(err(
                    k,
                    format!("control character U+{c:04X} in a string (write it as \\u{c:04x})"),
                ));
            }
        }
    }
}

/// A `\uXXXX` escape at `k` (its backslash), with the low half of a surrogate pair: the
/// character and the length of the escape.
fn unicode_escape(b: &[u8], k: usize) -> Result<(char, usize), JsonError> {
    let Some(u) = hex4(b, k + 2) else {
        return Err(err(
            k,
            "bad escape: `\\u` must be followed by four hex digits",
        ));
    };
    match u {
        0xD800..=0xDBFF => {
            let low = if b.get(k + 6..k + 8) == Some(b"\\u") {
                hex4(b, k + 8).filter(|l| (0xDC00..=0xDFFF).contains(l))
            } else {
                None
            };
            let Some(l) = low else {
                return Err(err(
                    k,
                    format!(
                        "lone surrogate `\\u{u:04x}` in a string: a high surrogate (\\ud800-\\udbff) \
                         must be followed by a low one (\\udc00-\\udfff) to make one character"
                    ),
                ));
            };
            let c = 0x10000 + ((u - 0xD800) << 10) + (l - 0xDC00);
            Ok((
                char::from_u32(c).expect("a surrogate pair is a character"),
                12,
            ))
        }
        0xDC00..=0xDFFF => Err(err(
            k,
            format!(
                "lone surrogate `\\u{u:04x}` in a string: a low surrogate (\\udc00-\\udfff) \
                 must follow a high one (\\ud800-\\udbff) to make one character"
            ),
        )),
        _ => Ok((char::from_u32(u).expect("not a surrogate"), 6)),
    }
}

/// Check a number's syntax at `*i` and move past it.
fn number(b: &[u8], i: &mut usize) -> Result<(), JsonError> {
    let digits = |i: &mut usize| {
        let s = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > s
    };
    if b[*i] == b'-' {
        *i += 1;
    }
    match b.get(*i) {
        Some(b'0') => {
            *i += 1;
            if b.get(*i).is_some_and(u8::is_ascii_digit) {
                return Err(err(
                    *i - 1,
                    "a number has a leading zero (JSON has no `01`)",
                ));
            }
        }
        Some(b'1'..=b'9') => {
            digits(i);
        }
        _ => return Err(err(*i, "a number needs a digit after `-`")),
    }
    if b.get(*i) == Some(&b'.') {
        *i += 1;
        if !digits(i) {
            return Err(err(*i, "a number needs a digit after its `.`"));
        }
    }
    if let Some(b'e' | b'E') = b.get(*i) {
        *i += 1;
        if let Some(b'+' | b'-') = b.get(*i) {
            *i += 1;
        }
        if !digits(i) {
            return Err(err(*i, "a number needs a digit in its exponent"));
        }
    }
    Ok(())
}

/// Make each key of object `obj` appear once: in its first place, with its last value (as
/// jq and serde_json do). Only for objects where a key may repeat (rare).
fn dedupe(rec: &mut Record, obj: NodeId, members: &mut Vec<(u32, u32)>) {
    members.clear();
    let mut c = rec.nodes[obj as usize].first;
    while c != NONE {
        members.push((rec.nodes[c as usize].hash, c));
        c = rec.nodes[c as usize].next;
    }
    // Stable: the members of one hash stay in document order.
    members.sort_by_key(|&(h, _)| h);
    let mut run = 0;
    while run < members.len() {
        let h = members[run].0;
        let end = run + members[run..].iter().take_while(|m| m.0 == h).count();
        for x in run + 1..end {
            let later = members[x].1;
            let key = rec.nodes[later as usize].key;
            let keeper = members[run..x].iter().map(|m| m.1).find(|&y| {
                rec.nodes[y as usize].parent != NONE
                    && rec.str_at(rec.nodes[y as usize].key) == rec.str_at(key)
            });
            if let Some(y) = keeper {
                // The keeper takes the later value (and its children); the later member
                // is unlinked below.
                let v = rec.nodes[later as usize];
                let n = &mut rec.nodes[y as usize];
                (n.ty, n.text, n.first, n.last, n.len) = (v.ty, v.text, v.first, v.last, v.len);
                let mut ch = v.first;
                while ch != NONE {
                    rec.nodes[ch as usize].parent = y;
                    ch = rec.nodes[ch as usize].next;
                }
                rec.nodes[later as usize].parent = NONE;
            }
        }
        run = end;
    }
    // Relink the members that remain.
    let (mut c, mut prev, mut len) = (rec.nodes[obj as usize].first, NONE, 0);
    rec.nodes[obj as usize].first = NONE;
    while c != NONE {
        let next = rec.nodes[c as usize].next;
        if rec.nodes[c as usize].parent != NONE {
            if prev == NONE {
                rec.nodes[obj as usize].first = c;
            } else {
                rec.nodes[prev as usize].next = c;
            }
            prev = c;
            len += 1;
        }
        c = next;
    }
    if prev != NONE {
        rec.nodes[prev as usize].next = NONE;
    }
    let o = &mut rec.nodes[obj as usize];
    o.last = prev;
    o.len = len;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<String, String> {
        let mut r = Record::new();
        match Parser::new().parse(t.as_bytes(), &mut r) {
            Ok(()) => Ok(r.to_json()),
            Err(e) => Err(format!("{}: {}", e.column(t.as_bytes()), e.what)),
        }
    }

    #[test]
    fn values_as_written() {
        for t in [
            r#"{"a":1,"b":[true,false,null],"c":{"d":"x","e":{}},"f":[],"g":-0.5e-3}"#,
            r#"{"big":123456789012345678901234567890,"huge":1e400,"one":1.0,"e":1E5}"#,
            r#"{"id":9007199254740993,"neg":-9223372036854775809}"#,
        ] {
            assert_eq!(parse(t).unwrap(), t);
        }
        assert_eq!(
            parse(" { \"a\" : [ 1 , 2 ] , \"b\" : \"\\u00e9\\n\\ud83d\\ude00\\/\" } ").unwrap(),
            r#"{"a":[1,2],"b":"é\n😀/"}"#
        );
    }

    #[test]
    fn a_repeated_key_keeps_its_first_place_and_last_value() {
        assert_eq!(
            parse(r#"{"a":1,"b":2,"a":{"x":[3]},"c":4,"a":5}"#).unwrap(),
            r#"{"a":5,"b":2,"c":4}"#
        );
        assert_eq!(
            parse(r#"{"a":1,"b":2,"a":{"x":[3]}}"#).unwrap(),
            r#"{"a":{"x":[3]},"b":2}"#
        );
        // Beyond the 64 members the filter covers.
        let mut t = String::from("{");
        for i in 0..100 {
            t.push_str(&format!("\"k{}\":{i},", i % 70));
        }
        t.push_str("\"z\":0}");
        let want: serde_json::Value = serde_json::from_str(&t).unwrap();
        let got = parse(&t).unwrap();
        assert_eq!(got, serde_json::to_string(&want).unwrap());
    }

    #[test]
    fn errors_name_the_problem_and_column() {
        for (t, want) in [
            (r#"{"s":"\ud800"}"#, "7: lone surrogate `\\ud800`"),
            (r#"{"s":"\ud800\u0041"}"#, "7: lone surrogate `\\ud800`"),
            (r#"{"s":"é\udc00"}"#, "8: lone surrogate `\\udc00`"),
            (r#"{"s":"\u12"}"#, "7: bad escape"),
            (r#"{"s":"\q"}"#, "7: unknown escape `\\q`"),
            ("{\"s\":\"a\u{1}\"}", "8: control character U+0001"),
            (r#"{"a":1,}"#, "8: expected a member name"),
            (r#"{"a":01}"#, "6: a number has a leading zero"),
            (r#"{"a":-}"#, "7: a number needs a digit"),
            (r#"{"a":1.}"#, "8: a number needs a digit after its `.`"),
            (r#"{"a":1e}"#, "8: a number needs a digit in its exponent"),
            (r#"{"a":tru}"#, "6: expected a value, found `t`"),
            (
                r#"{"a":1"#,
                "7: expected `,` or `}` after a member, found the end",
            ),
            (r#"[1 2]"#, "4: expected `,` or `]` after an item"),
            (r#"{"a" 1}"#, "6: expected `:`"),
            (r#"{"a":"x"#, "6: a string is not closed"),
            (r#"{} x"#, "4: expected the end of the line"),
            ("\u{feff}{}", "1: expected a value, found U+FEFF"),
            ("", "1: expected a value, found the end of the line"),
        ] {
            let got = parse(t).unwrap_err();
            assert!(got.starts_with(want), "{t:?}: {got}");
        }
        let mut r = Record::new();
        let e = Parser::new()
            .parse(b"{\"a\":\"\xff\"}", &mut r)
            .unwrap_err();
        assert_eq!(
            (e.at, e.what.as_str()),
            (6, "invalid UTF-8 (a JSON text is UTF-8)")
        );
    }

    #[test]
    fn any_depth_in_constant_stack() {
        let n = 1_000_000;
        let t = format!("{{\"a\":{}{}}}", "[".repeat(n), "]".repeat(n));
        let mut r = Record::new();
        Parser::new().parse(t.as_bytes(), &mut r).unwrap();
        assert_eq!(r.to_json(), t);
        let copy = r.clone();
        assert_eq!(copy, r);
        let mut c = Record::new();
        c.add_copy(ROOT, "b", r.get("a").unwrap());
        assert_eq!(c.to_json().len(), t.len());
    }
}
