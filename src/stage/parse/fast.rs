//! The capture fast path of `parse`: the common shape of a log regex matched by scanning
//! bytes, with the same result as the regex crate, and the regex itself for what it cannot
//! decide.
//!
//! The shape: a concatenation of literals and character classes, each class alone or
//! repeated greedily (`+`, `*`, `?`, `{n}`, `{n,}`, `{n,m}`), in capture groups (named or
//! not, nested or not) or not, with `^` first or `$` last or both, where every repetition of
//! variable length is *deterministic*: no character that the rest of the regex can start
//! with (up to and including its first part that cannot match empty) is in the repeated
//! class. `^(?<a>\S+) (?<b>\S+) (?<rest>.*)$`, `^(?<d>\d{4}-\d\d-\d\d) (?<lvl>[A-Z]+)` and
//! `user (?<u>[^ ]+) from` are of the shape; `^(?<a>.*) (?<b>\S+)$` (`.` takes the space)
//! and alternations are not, and stay with the regex crate.
//!
//! Why a greedy scan gives the regex's own answer: a deterministic repetition stops at the
//! first character outside its class (or at its maximum); a shorter run would leave the rest
//! of the regex to start on a character of the class, which it cannot. So at a given start
//! there is at most one way to match, the greedy one, which is also the one of highest
//! priority for the regex crate (leftmost-first). Without `^` the regex must begin with a
//! literal: every occurrence of it, left to right, is a start to try (the leftmost start
//! that matches is the regex's match).
//!
//! Classes are Unicode-aware (`\S`, `\w`, `\d`, `.`), so a 256-entry table decides ASCII
//! bytes only; a byte ≥ 0x80 is decided only when the class holds every non-ASCII character
//! (`.`, `[^ ]`: then it is in) or none (`[a-z]`: then it is out). Anything else — a byte
//! the table cannot decide, too many starts to try — answers [`Found::Unsure`] and the
//! caller asks the regex crate for that line.

use memchr::memmem;
use regex_syntax::hir::{Class, ClassUnicode, ClassUnicodeRange, Hir, HirKind, Look};

/// A byte of the haystack in a class's table: in the class, out of it, or not decidable
/// from the byte alone.
const OUT: u8 = 0;
const IN: u8 = 1;
const UNSURE: u8 = 2;

/// Starts tried for a regex without `^` before the regex crate is asked instead (a line
/// with many occurrences of the first literal would otherwise cost a scan for each).
const MAX_STARTS: usize = 16;

/// What the fast path made of a line.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// A match: the spans are in the slots.
    Match,
    /// Certainly no match (the regex crate would say the same).
    None,
    /// Not decided: ask the regex crate.
    Unsure,
}

/// A regex of the shape, compiled to steps.
#[derive(Debug)]
pub struct Fast {
    steps: Vec<Step>,
    /// `^`: the match starts at 0; otherwise at an occurrence of `first`.
    anchored: bool,
    /// `$`: the match ends at the end of the line.
    end: bool,
    /// Without `^`, the literal the regex starts with.
    first: Option<memmem::Finder<'static>>,
    /// Capture groups, group 0 (the whole match) included.
    groups: usize,
}

#[derive(Debug)]
enum Step {
    /// A literal of one byte (a space, a colon).
    Byte(u8),
    Lit(Box<[u8]>),
    Scan(Box<Scan>),
    /// The start or end of capture group N.
    Open(usize),
    Close(usize),
}

#[derive(Debug)]
struct Scan {
    /// OUT, IN or UNSURE for every byte.
    table: [u8; 256],
    min: usize,
    /// `usize::MAX` when unbounded.
    max: usize,
    /// The class is every character but this ASCII byte (`.` is all but `\n`, `[^ ]`),
    /// unbounded, at most one required: the run ends at the byte's next occurrence (memchr).
    all_but: Option<u8>,
}

/// What the parser of the shape collects, before the checks.
enum Piece {
    Start,
    End,
    Lit(Vec<u8>),
    Rep(ClassUnicode, u32, Option<u32>),
    Open(usize),
    Close(usize),
}

impl Fast {
    /// The fast path of `pattern`, if it has the shape. `pattern` must be one the regex
    /// crate accepted (same parser, same default flags).
    pub fn new(pattern: &str) -> Option<Fast> {
        let hir = regex_syntax::ParserBuilder::new()
            .build()
            .parse(pattern)
            .ok()?;
        let mut pieces = Vec::new();
        let mut groups = 1;
        flatten(&hir, &mut pieces, &mut groups)?;
        let anchored = matches!(pieces.first(), Some(Piece::Start));
        if anchored {
            pieces.remove(0);
        }
        let end = matches!(pieces.last(), Some(Piece::End));
        if end {
            pieces.pop();
        }
        if pieces
            .iter()
            .any(|p| matches!(p, Piece::Start | Piece::End))
        {
            return None;
        }
        // Every repetition of variable length must be deterministic.
        for (i, p) in pieces.iter().enumerate() {
            if let Piece::Rep(class, min, max) = p
                && Some(*min) != *max
                && !deterministic(class, &pieces[i + 1..])
            {
                return None;
            }
        }
        let first = if anchored {
            None
        } else {
            // Without `^`, the regex must start with a literal (capture openings aside).
            match pieces.iter().find(|p| !matches!(p, Piece::Open(_))) {
                Some(Piece::Lit(l)) => Some(memmem::Finder::new(l).into_owned()),
                _ => return None,
            }
        };
        let steps = pieces
            .into_iter()
            .map(|p| match p {
                Piece::Lit(l) if l.len() == 1 => Step::Byte(l[0]),
                Piece::Lit(l) => Step::Lit(l.into()),
                Piece::Rep(class, min, max) => Step::Scan(Box::new(Scan::new(&class, min, max))),
                Piece::Open(i) => Step::Open(i),
                Piece::Close(i) => Step::Close(i),
                Piece::Start | Piece::End => unreachable!("removed above"),
            })
            .collect();
        Some(Fast {
            steps,
            anchored,
            end,
            first,
            groups,
        })
    }

    /// The number of slots [`Fast::find`] fills: two per group, group 0 included.
    pub fn slots_len(&self) -> usize {
        self.groups * 2
    }

    /// Match `text`. On [`Found::Match`], `slots[2 * i]..slots[2 * i + 1]` is group i's
    /// span (every group of the shape takes part in a match).
    pub fn find(&self, text: &str, slots: &mut [usize]) -> Found {
        let h = text.as_bytes();
        if self.anchored {
            return self.at(h, 0, slots);
        }
        let Some(first) = &self.first else {
            return Found::Unsure;
        };
        let mut from = 0;
        for _ in 0..MAX_STARTS {
            let Some(i) = first.find(&h[from..]) else {
                return Found::None;
            };
            match self.at(h, from + i, slots) {
                Found::None => from += i + 1,
                found => return found,
            }
        }
        Found::Unsure
    }

    /// Match at `pos`: the one way the shape can match there, or none.
    fn at(&self, h: &[u8], mut pos: usize, slots: &mut [usize]) -> Found {
        slots[0] = pos;
        for step in &self.steps {
            match step {
                Step::Byte(b) => {
                    if h.get(pos) != Some(b) {
                        return Found::None;
                    }
                    pos += 1;
                }
                Step::Lit(l) => {
                    if !h[pos..].starts_with(l) {
                        return Found::None;
                    }
                    pos += l.len();
                }
                Step::Scan(s) => {
                    let rest = &h[pos..];
                    let n = if let Some(b) = s.all_but {
                        memchr::memchr(b, rest).unwrap_or(rest.len())
                    } else {
                        let run = &rest[..rest.len().min(s.max)];
                        match run.iter().position(|&b| s.table[b as usize] != IN) {
                            None => run.len(),
                            Some(n) if s.table[run[n] as usize] == OUT => n,
                            Some(_) => return Found::Unsure,
                        }
                    };
                    if n < s.min {
                        return Found::None;
                    }
                    pos += n;
                }
                Step::Open(i) => slots[2 * i] = pos,
                Step::Close(i) => slots[2 * i + 1] = pos,
            }
        }
        if self.end && pos != h.len() {
            return Found::None;
        }
        slots[1] = pos;
        Found::Match
    }
}

impl Scan {
    fn new(class: &ClassUnicode, min: u32, max: Option<u32>) -> Scan {
        let (min, max) = (min as usize, max.map_or(usize::MAX, |m| m as usize));
        let mut table = [OUT; 256];
        for r in class.ranges() {
            for c in (r.start() as u32)..=(r.end() as u32).min(0x7f) {
                table[c as usize] = IN;
            }
        }
        // Bytes ≥ 0x80: a character of two to four bytes. In when the class holds every
        // non-ASCII character and the run is counted in bytes as well as in characters
        // (unbounded, at most one required); out when it holds none; else undecided.
        let mut high = class.clone();
        high.intersect(&ClassUnicode::new([ClassUnicodeRange::new(
            '\u{80}',
            char::MAX,
        )]));
        let all_high = high.ranges() == [ClassUnicodeRange::new('\u{80}', char::MAX)];
        let counted = max == usize::MAX && min <= 1;
        let high_byte = if high.ranges().is_empty() {
            OUT
        } else if all_high && counted {
            IN
        } else {
            UNSURE
        };
        table[0x80..].fill(high_byte);
        let outs: Vec<usize> = (0..0x80).filter(|&b| table[b] == OUT).collect();
        let all_but = match outs[..] {
            [b] if high_byte == IN => Some(b as u8),
            _ => None,
        };
        Scan {
            table,
            min,
            max,
            all_but,
        }
    }
}

/// Collect the pieces of `h`, or `None` if it is not of the shape.
fn flatten(h: &Hir, out: &mut Vec<Piece>, groups: &mut usize) -> Option<()> {
    match h.kind() {
        HirKind::Empty => {}
        HirKind::Literal(l) => match out.last_mut() {
            Some(Piece::Lit(prev)) => prev.extend_from_slice(&l.0),
            _ => out.push(Piece::Lit(l.0.to_vec())),
        },
        HirKind::Class(Class::Unicode(c)) => out.push(Piece::Rep(c.clone(), 1, Some(1))),
        HirKind::Class(Class::Bytes(_)) => return None,
        HirKind::Look(Look::Start) => out.push(Piece::Start),
        HirKind::Look(Look::End) => out.push(Piece::End),
        HirKind::Look(_) => return None,
        HirKind::Repetition(r) => {
            if !r.greedy && Some(r.min) != r.max {
                return None;
            }
            let class = match r.sub.kind() {
                HirKind::Class(Class::Unicode(c)) => c.clone(),
                HirKind::Literal(l) => {
                    let s = std::str::from_utf8(&l.0).ok()?;
                    let mut chars = s.chars();
                    let c = chars.next()?;
                    if chars.next().is_some() {
                        return None;
                    }
                    ClassUnicode::new([ClassUnicodeRange::new(c, c)])
                }
                _ => return None,
            };
            out.push(Piece::Rep(class, r.min, r.max));
        }
        HirKind::Capture(c) => {
            let i = c.index as usize;
            *groups = (*groups).max(i + 1);
            out.push(Piece::Open(i));
            flatten(&c.sub, out, groups)?;
            out.push(Piece::Close(i));
        }
        HirKind::Concat(subs) => {
            for s in subs {
                flatten(s, out, groups)?;
            }
        }
        HirKind::Alternation(_) => return None,
    }
    Some(())
}

/// Whether a repetition of `class` followed by `rest` (without the final `$`) can only
/// stop where its greedy run stops: no character the rest can start with is in the class.
fn deterministic(class: &ClassUnicode, rest: &[Piece]) -> bool {
    for p in rest {
        let (first, nullable) = match p {
            Piece::Lit(l) => {
                let Some(c) = std::str::from_utf8(l).ok().and_then(|s| s.chars().next()) else {
                    return false;
                };
                (ClassUnicode::new([ClassUnicodeRange::new(c, c)]), false)
            }
            Piece::Rep(c, min, _) => (c.clone(), *min == 0),
            Piece::Open(_) | Piece::Close(_) => continue,
            Piece::Start | Piece::End => return false,
        };
        let mut both = first;
        both.intersect(class);
        if !both.ranges().is_empty() {
            return false;
        }
        if !nullable {
            return true;
        }
    }
    // The rest may match empty: at the end of the line (with `$`), or anywhere (without,
    // and then the greedy run is the regex's preference).
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use regex::Regex;

    /// A match: (start, end) per group, `None` for a group that took no part.
    type Spans = Vec<Option<(usize, usize)>>;

    /// The regex crate's answer.
    fn slow(re: &Regex, text: &str) -> Option<Spans> {
        let mut locs = re.capture_locations();
        re.captures_read(&mut locs, text)?;
        Some((0..locs.len()).map(|i| locs.get(i)).collect())
    }

    /// The fast path's answer, if it decided.
    fn fast(f: &Fast, text: &str) -> Option<Option<Spans>> {
        let mut slots = vec![usize::MAX; f.slots_len()];
        match f.find(text, &mut slots) {
            Found::Unsure => None,
            Found::None => Some(None),
            Found::Match => Some(Some(
                slots
                    .chunks(2)
                    .map(|s| (s[0] != usize::MAX).then(|| (s[0], s[1])))
                    .collect(),
            )),
        }
    }

    /// Compare on one line; whether the fast path decided.
    fn same(pattern: &str, text: &str) -> bool {
        let re = Regex::new(pattern).unwrap();
        let f = Fast::new(pattern).unwrap_or_else(|| panic!("{pattern} has the shape"));
        assert_eq!(f.slots_len(), re.captures_len() * 2, "{pattern}");
        match fast(&f, text) {
            Some(got) => {
                assert_eq!(got, slow(&re, text), "{pattern:?} on {text:?}");
                true
            }
            None => false,
        }
    }

    #[test]
    fn the_shapes_of_log_regexes_are_recognised() {
        for p in [
            r"^(?<a>\S+) (?<b>\S+) (?<c>\S+) (?<rest>.*)$",
            r"^(?P<time>\S+ \S+) (?P<level>[A-Z]+) (?P<msg>.*)$",
            r"Invalid user (?P<user>\S+) from (?P<ip>\S+)",
            r"^(?<d>\d{4}-\d\d-\d\d) (?<t>[0-9:,]+) - (?<lvl>[A-Z]+) +\[(?<th>[^\]]*)\] - (?<m>.*)",
            r"^(?<ip>[^ ]+) - (?<u>[^ ]*) \[(?<when>[^\]]+)\] (?<n>\d*)$",
            r"(?i)^(?<w>error) ",
        ] {
            assert!(Fast::new(p).is_some(), "{p}");
        }
        for p in [
            r"^(?<a>.*) (?<b>\S+)$",             // `.` takes the space
            r"^(?<a>\w+)(?<b>\d+)",              // \d is in \w
            r"^(?<a>ab|cd)",                     // alternation
            r"(?:^(?<a>\S+) (?<b>.*)$|[^\s\S])", // the twin in tests/it/parsers.rs
            r"^(?<a>\S+?) ",                     // lazy
            r"(?<a>\S+) x",                      // no ^ and no literal first
            r"^(?<a>\S+)\b",                     // word boundary
            r"^(?<a>(?:ab)+)",                   // repeated literal of two characters
            r"(?-u)^(?<a>\S+)",                  // bytes
            r"^(?<a>\S+) (?<b>x)?$",             // an optional group
            r"(?m)^(?<a>\S+)$",                  // line anchors
            r"^(?<a>[a-z]*)(?<b>[0-9a]+)",       // overlapping classes
        ] {
            assert!(Fast::new(p).is_none(), "{p}");
        }
    }

    #[test]
    fn log_lines_are_decided_as_the_regex_decides_them() {
        let p = r"^(?<a>\S+) (?<b>\S+) (?<c>\S+) (?<rest>.*)$";
        for l in [
            "081109 203615 148 INFO dfs.DataNode$PacketResponder: done",
            "a b c ",
            "a b c",
            "a  b c d",
            "",
            "a\tb c d e",
            "é b c d",         // \S on a non-ASCII byte: undecided
            "a b c d é\u{a0}", // `.` takes any non-ASCII character
            "a b c d\ne",      // `.` stops at \n, then `$` fails
        ] {
            same(p, l);
        }
        assert!(same(p, "a b c d é"));
        assert!(!same(p, "é b c d"));
        assert!(same(p, "a  b c d"), "two spaces: certainly no match");
        let p = r"Invalid user (?P<user>\S+) from (?P<ip>\S+)";
        assert!(same(p, "sshd[1]: Invalid user admin from 1.2.3.4"));
        assert!(same(p, "Invalid user  Invalid user x from y z"));
        assert!(same(p, "no"));
        assert!(same(r"^(?<d>\d{4})-(?<m>\d{1,2})(?<x>[a-z]?)$", "2024-123"));
    }

    /// A piece of a generated regex: its text, and text that it matches (to build lines
    /// that come close to matching).
    fn piece() -> impl Strategy<Value = (String, String)> {
        let class = prop_oneof![
            Just((r"\S", "ab")),
            Just((r"\w", "x_9")),
            Just((r"\d", "42")),
            Just((r"\s", " \t")),
            Just((r"[^ ]", "a\u{e9}")),
            Just((r"[^\]]", "x ")),
            Just((r".", "a b")),
            Just((r"[a-z]", "qz")),
            Just((r"[A-Z0-9]", "A0")),
            Just((r"[^,]", "a b")),
            Just((r"[ -~]", "~ ")),
            Just((r"(?i:k)", "K\u{212a}")),
            Just((r"\p{Greek}", "\u{3b1}")),
            Just((r"x", "x")),
            Just((r"\u{e9}", "\u{e9}")),
        ];
        // A repetition, and how many characters of the class's sample to take for it.
        let rep = prop_oneof![
            Just(("", 1)),
            Just(("+", 2)),
            Just(("*", 2)),
            Just(("*", 0)),
            Just(("?", 1)),
            Just(("{2}", 2)),
            Just(("{1,3}", 3)),
            Just(("{2,}", 3)),
            Just(("+?", 1)),
        ];
        let lit = prop_oneof![
            Just(" "),
            Just(":"),
            Just(" - "),
            Just("["),
            Just("]"),
            Just("\u{e9}"),
            Just("="),
            Just("\t"),
            Just(","),
            Just("ab"),
            Just("\u{a0}"),
        ];
        let atom = prop_oneof![
            3 => (class, rep).prop_map(|((c, sample), (r, n))| {
                (format!("{c}{r}"), sample.chars().cycle().take(n).collect())
            }),
            2 => lit.prop_map(|l| (regex::escape(l), l.to_string())),
        ];
        (atom, 0..4u8).prop_map(|((re, sample), g)| match g {
            0 => (format!("(?<g>{re})"), sample),
            1 => (format!("({re})"), sample),
            _ => (re, sample),
        })
    }

    fn noise() -> impl Strategy<Value = Vec<u8>> {
        const BITS: &[&[u8]] = &[
            b"a",
            b"Z",
            b"5",
            b" ",
            b"\t",
            b"\xc2\xa0",
            b"\xe2\x80\x83",
            b"\xc3\xa9",
            b"\r",
            b"\n",
            b"-",
            b":",
            b"[",
            b"]",
            b",",
            b"=",
            b"\xff",
            b"\xe2\x84\xaa",
        ];
        let some = prop::collection::vec(prop::sample::select(BITS), 1..6).prop_map(|v| v.concat());
        prop_oneof![2 => Just(Vec::new()), 1 => some]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// The fast path agrees with the regex crate, on every pattern it takes, for lines
        /// made of the pieces' own samples with noise around them, and for random bytes.
        #[test]
        fn the_fast_path_agrees_with_the_regex_crate(
            pieces in prop::collection::vec(piece(), 1..6),
            start in any::<bool>(),
            end in any::<bool>(),
            noise in prop::collection::vec(noise(), 7),
            keep in prop::collection::vec(prop::bool::weighted(0.9), 6),
            random in prop::collection::vec(any::<u8>(), 0..24),
        ) {
            // Number the named groups apart: g0, g1, ...
            let mut pattern = String::from(if start { "^" } else { "" });
            for (i, (p, _)) in pieces.iter().enumerate() {
                pattern.push_str(&p.replace("(?<g>", &format!("(?<g{i}>")));
            }
            if end {
                pattern.push('$');
            }
            let Ok(re) = Regex::new(&pattern) else { return Ok(()) };
            let Some(f) = Fast::new(&pattern) else {  return Ok(()) };
            let mut line = noise[6].clone();
            for (i, (_, sample)) in pieces.iter().enumerate() {
                if keep[i] {
                    line.extend_from_slice(sample.as_bytes());
                }
                line.extend_from_slice(&noise[i]);
            }
            let mut scratch = String::new();
            for bytes in [&line[..], &random, &line[..line.len() / 2]] {
                let text = crate::stage::lineparse::to_text(bytes, &mut scratch).to_string();
                let d = fast(&f, &text);
                if let Some(got) = d {
                    prop_assert_eq!(got, slow(&re, &text), "{:?} on {:?}", pattern, text);
                }
            }
        }
    }
}
