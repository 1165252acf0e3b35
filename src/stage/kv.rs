//! `logfmt` and `kv` — key=value pairs on a line become the fields of a record.
//!
//! Accepts lines; emits records. `logfmt` reads `level=info msg="a b" dur=1.2ms`: pairs
//! separated by runs of spaces or tabs, `=` between key and value. `kv` is the same reader
//! with the separators chosen: `--pair` between key and value (default `=`), `--sep`
//! between pairs (default: runs of whitespace; another string is matched as written and the
//! whitespace around each pair is trimmed, so `a=1, b=2` reads with `--sep ,`).
//!
//! The rules, the same for both:
//! * a value (or a key) in double quotes may hold separators and the escapes `\"`, `\\`,
//!   `\n`, `\t`, `\r` (any other backslash is kept as written); an unquoted value runs to
//!   the next separator and is kept as written;
//! * a bare key (no `=`) is `true`, a key with an empty value (`k=`) is `""`, as Vector and
//!   go-logfmt do; other values are strings;
//! * a repeated key gathers its values into an array, in order, in the place of its first
//!   occurrence (`a=1 a=2` → `{"a":["1","2"]}`), as Vector does;
//! * a blank line is skipped; a line with an unterminated quote or a pair without a key
//!   (`=v`) does not fit: dropped and counted, kept with `--keep`, an error with `--strict`;
//! * one trailing `\r` is removed; invalid UTF-8 becomes U+FFFD.
//!
//! Against Miller's key=value reader (`mlr --idkvp`; `kv --sep ,` has its separators),
//! checked by `tests/it/kv_miller.rs` on generated and hostile lines: where neither convention
//! below applies the records are the same, field for field. The differences, on purpose:
//! * numbers: Miller infers them (`a=1` → `1`, and writes `0xff`, `1e5`, `-.5` into JSON
//!   as they are, which is not JSON); here every value is a string, as in Vector, so that
//!   `007` or `0xff` keep their text and the output is always JSON (`where` still compares
//!   numerically; `mlr -S` agrees);
//! * a bare key: Miller takes `bare` as the value of a field named by its position
//!   (`{"1":"bare"}`); here it is a key set to `true` (logfmt, Vector, go-logfmt);
//! * a repeated key: Miller renames the later ones (`k`, `k_2`); here they gather into an
//!   array at the first's place (Vector), so no value is lost and no name made up;
//! * quotes: Miller's reader has none (`q="a,b"` splits at the comma and keeps the quotes);
//!   here a double-quoted key or value may hold separators and escapes;
//! * spaces around a pair: Miller keeps them in keys and values; with a `--sep` other than
//!   spaces they are trimmed here, so that `a=1, b=2` reads as two clean pairs;
//! * an empty key (`=v`): a field named `""` in Miller; a line that does not fit here;
//! * a blank line: an empty record `{}` in Miller; skipped here;
//! * dotted keys: Miller's JSON output nests `x.y=1` as `{"x":{"y":1}}` unless
//!   `--no-auto-unflatten`; here keys are kept as written;
//! * default separators: Miller's are `,` and `=`; `kv`'s are runs of spaces and `=`
//!   (logfmt's), and `kv --sep ,` is Miller's.
//!
//! And Miller 6.6 writes keys into JSON unescaped (a `"` or `\` in a key makes a line that is
//! not JSON); here every key and value is escaped.
//!
//! Per line: one pass, no allocation (the record, and one buffer for unescaped text, are
//! reused). With the default separators and a one-byte pair string, the line's spaces, tabs
//! and pair bytes are first marked in two bitmaps (sixteen bytes a step), and the end of an
//! unquoted key or value is the next set bit; other separators are searched sixteen bytes a
//! step. A repeated key is looked for among the fields so far only when a 64-bit Bloom
//! filter of the line's keys says it may be one (a hash set once a line has more than 32
//! fields, so that a hostile line is not quadratic).

use std::collections::HashSet;

use anyhow::{Result, bail};
use clap::{ArgMatches, FromArgMatches, Parser};

use crate::item::Kind;
use crate::protocol::Stage;
use crate::protocol::def::{Build, BuildCx, Emits, Role, StageDef};
use crate::record::{ROOT, Record, Type};
use crate::stage::lineparse::{Bad, BadArgs, LineFormat, LineParser};

/// Parse logfmt lines (level=info msg="a b" dur=1.2ms) into records.
///
/// Pairs are separated by spaces or tabs; a value in double quotes may hold spaces and the
/// escapes \" \\ \n \t \r. A bare key (no =) becomes true, `k=` the empty string; other
/// values are strings. A repeated key gathers its values into an array, in order. A blank
/// line is skipped; a line with an unterminated quote or a pair without a key is dropped
/// and counted (--keep: kept as {"message": LINE}; --strict: an error naming input and
/// line). One trailing CR is removed; invalid UTF-8 becomes U+FFFD. After `cat --tag`,
/// records get a first field `file`.
#[derive(Parser)]
#[command(name = "logfmt", disable_version_flag = true)]
pub struct LogfmtArgs {
    #[command(flatten)]
    pub bad: BadArgs,
}

/// Parse key=value lines, with chosen separators, into records.
///
/// --pair is the string between a key and its value (default =); --sep the string between
/// pairs (default: runs of spaces and tabs; another string is matched as written, and the
/// spaces around each pair are trimmed). Otherwise the rules are logfmt's: values in double
/// quotes may hold separators and the escapes \" \\ \n \t \r; a bare key becomes true, `k=`
/// the empty string, other values strings; a repeated key gathers its values into an
/// array; a blank line is skipped; a line with an unterminated quote or a pair without a
/// key is dropped and counted (--keep, --strict). Invalid UTF-8 becomes U+FFFD.
#[derive(Parser)]
#[command(name = "kv", disable_version_flag = true)]
pub struct KvArgs {
    /// Between a key and its value.
    #[arg(long, value_name = "STR", default_value = "=")]
    pub pair: String,
    /// Between pairs (default: runs of spaces and tabs).
    #[arg(long, value_name = "STR")]
    pub sep: Option<String>,
    #[command(flatten)]
    pub bad: BadArgs,
}

pub const LOGFMT: StageDef = StageDef {
    name: "logfmt",
    aliases: &[],
    role: Role::Filter,
    summary: "lines → records: logfmt (level=info msg=\"a b\")",
    accepts: &[Kind::Line],
    emits: Emits::Kind(Kind::Record),
    examples: &[
        "copipe follow app.log : logfmt : where level=error : select time msg",
        "copipe cat fixtures/parse/app.logfmt : logfmt : count --by level",
    ],
    command: <LogfmtArgs as clap::CommandFactory>::command,
    fusion: None,
    build: Build::Filter(build_logfmt),
};

pub const KV: StageDef = StageDef {
    name: "kv",
    aliases: &["keyvalue"],
    role: Role::Filter,
    summary: "lines → records: key=value pairs with chosen separators (--pair, --sep)",
    accepts: &[Kind::Line],
    emits: Emits::Kind(Kind::Record),
    examples: &[
        "copipe cat settings.txt : kv --pair : --sep ';'",
        "copipe cat audit.log : kv : where type=USER_LOGIN",
    ],
    command: <KvArgs as clap::CommandFactory>::command,
    fusion: None,
    build: Build::Filter(build_kv),
};

fn build_logfmt(m: &ArgMatches, cx: &BuildCx<'_>, next: Box<dyn Stage>) -> Result<Box<dyn Stage>> {
    let a = LogfmtArgs::from_arg_matches(m)?;
    Ok(Box::new(
        Kv::new("logfmt", "=", None, (&a.bad).into(), next)?.typed(&a.bad, cx.notes)?,
    ))
}

fn build_kv(m: &ArgMatches, cx: &BuildCx<'_>, next: Box<dyn Stage>) -> Result<Box<dyn Stage>> {
    let a = KvArgs::from_arg_matches(m)?;
    Ok(Box::new(
        Kv::new("kv", &a.pair, a.sep.as_deref(), (&a.bad).into(), next)?.typed(&a.bad, cx.notes)?,
    ))
}

/// The reader of pairs (no record: see [`Kv`]).
struct Pairs {
    pair: String,
    /// `None`: runs of spaces and tabs.
    sep: Option<String>,
    /// The bytes that may end an unquoted value: those that start a separator (a space or
    /// a tab by default, else the first byte of `sep`).
    ends_value: Stops,
    /// The bytes that may end an unquoted key: those of `ends_value` and the first byte of
    /// `pair`.
    ends_key: Stops,
    /// Whether a byte of `ends_value` or `ends_key` ends the piece by itself (one-byte
    /// separators and pair string): there is then nothing more to compare.
    exact: bool,
}

/// One piece of a pair, as found.
#[derive(Clone, Copy)]
enum Piece {
    /// `text[a..b]`, as written.
    Raw(usize, usize),
    /// Quoted, unescaped into the buffer at `[a..b]`.
    Unescaped(usize, usize),
}

impl Pairs {
    fn new(pair: &str, sep: Option<&str>) -> Self {
        let p = pair.as_bytes()[0];
        let (ends_value, ends_key) = match sep {
            None => (Stops::new([b' ', b'\t']), Stops::new([b' ', b'\t', p])),
            Some(s) => {
                let s = s.as_bytes()[0];
                (Stops::new([s]), Stops::new([s, p]))
            }
        };
        Pairs {
            pair: pair.to_string(),
            sep: sep.map(str::to_string),
            ends_value,
            ends_key,
            exact: pair.len() == 1 && sep.is_none_or(|s| s.len() == 1),
        }
    }

    fn is_ws(b: u8) -> bool {
        b == b' ' || b == b'\t'
    }

    /// Whether a separator starts at `i`, and its length.
    fn sep_at(&self, t: &[u8], i: usize) -> Option<usize> {
        match &self.sep {
            None => Self::is_ws(t[i]).then_some(1),
            Some(s) => t[i..].starts_with(s.as_bytes()).then_some(s.len()),
        }
    }

    fn skip_seps(&self, t: &[u8], mut i: usize) -> usize {
        while i < t.len() {
            if let Some(n) = self.sep_at(t, i) {
                i += n;
            } else if self.sep.is_some() && Self::is_ws(t[i]) {
                i += 1;
            } else {
                break;
            }
        }
        i
    }

    /// An unquoted piece from `i`: up to a separator (or the pair string, for a key).
    #[inline]
    fn raw(&self, t: &[u8], i: usize, key: bool) -> usize {
        let ends = if key {
            &self.ends_key
        } else {
            &self.ends_value
        };
        let mut j = i;
        loop {
            // The next byte that may end the piece.
            match ends.find(&t[j..]) {
                Some(k) => j += k,
                None => return t.len(),
            }
            if self.exact
                || self.sep_at(t, j).is_some()
                || (key && t[j..].starts_with(self.pair.as_bytes()))
            {
                return j;
            }
            j += 1;
        }
    }

    /// A quoted piece, `t[i]` being the opening quote, unescaped onto `buf`: the piece and
    /// the index after the closing quote, or why not.
    #[inline]
    fn quoted(t: &str, i: usize, buf: &mut String) -> Result<(Piece, usize), &'static str> {
        let a = buf.len();
        let end = Self::unescape(t, i, buf).ok_or("a quote is not closed")?;
        Ok((Piece::Unescaped(a, buf.len()), end))
    }

    /// [`Pairs::quoted`]'s reading: the index after the closing quote, or `None` if it is
    /// unterminated.
    fn unescape(t: &str, i: usize, buf: &mut String) -> Option<usize> {
        let b = t.as_bytes();
        let mut j = i + 1;
        let mut run = j;
        loop {
            let k = j + memchr::memchr2(b'"', b'\\', &b[j..])?;
            buf.push_str(&t[run..k]);
            if b[k] == b'"' {
                return Some(k + 1);
            }
            // A backslash.
            let &e = b.get(k + 1)?;
            match e {
                b'"' => buf.push('"'),
                b'\\' => buf.push('\\'),
                b'n' => buf.push('\n'),
                b't' => buf.push('\t'),
                b'r' => buf.push('\r'),
                _ => {
                    // Kept as written: the backslash, and the character after it is copied
                    // with the next run.
                    buf.push('\\');
                    j = k + 1;
                    run = j;
                    continue;
                }
            }
            j = k + 2;
            run = j;
        }
    }

    #[inline]
    fn piece(
        &self,
        t: &str,
        i: usize,
        key: bool,
        buf: &mut String,
    ) -> Result<(Piece, usize), &'static str> {
        if t.as_bytes().get(i) == Some(&b'"') {
            Self::quoted(t, i, buf)
        } else {
            let j = self.raw(t.as_bytes(), i, key);
            let mut e = j;
            if self.sep.is_some() {
                // Trim the spaces before the next separator or pair string.
                while e > i && Self::is_ws(t.as_bytes()[e - 1]) {
                    e -= 1;
                }
            }
            Ok((Piece::Raw(i, e), j))
        }
    }
}

/// A set of up to three bytes that end an unquoted piece, and the search for them
/// (memchr's vectorised `memchr`/`memchr2`/`memchr3`).
#[derive(Clone, Copy)]
struct Stops {
    /// The bytes; the first `n` count.
    bytes: [u8; 3],
    n: usize,
    /// The same, as a table: the tests' reference.
    #[cfg(test)]
    table: [bool; 256],
}

impl Stops {
    fn new<const N: usize>(set: [u8; N]) -> Self {
        const { assert!(N >= 1 && N <= 3) };
        let mut bytes = [set[0]; 3];
        bytes[..N].copy_from_slice(&set);
        #[cfg(test)]
        let table = {
            let mut table = [false; 256];
            for b in set {
                table[b as usize] = true;
            }
            table
        };
        Stops {
            bytes,
            n: N,
            #[cfg(test)]
            table,
        }
    }

    /// The index of the first byte of `t` in the set.
    #[inline]
    fn find(&self, t: &[u8]) -> Option<usize> {
        let [a, b, c] = self.bytes;
        match self.n {
            1 => memchr::memchr(a, t),
            2 => memchr::memchr2(a, b, t),
            _ => memchr::memchr3(a, b, c, t),
        }
    }

    #[cfg(test)]
    fn find_by_table(&self, t: &[u8]) -> Option<usize> {
        t.iter().position(|&c| self.table[c as usize])
    }
}

/// Where the spaces and tabs of a line are, and the pair byte: one bit per byte, made for
/// the whole line at once (sixteen bytes a step), so that finding the end of a key or value
/// is a look at a word rather than a loop over bytes. For the default separators and a
/// one-byte pair string (`logfmt` itself).
#[derive(Default)]
struct Marks {
    /// Bit `i % 64` of word `i / 64`: byte `i` is a space or a tab.
    ws: Vec<u64>,
    /// The same for a space, a tab or the pair byte (what ends an unquoted key).
    stop: Vec<u64>,
    /// The line's length.
    len: usize,
}

impl Marks {
    fn mark(&mut self, b: &[u8], pair: u8) {
        self.ws.clear();
        self.stop.clear();
        self.len = b.len();
        for chunk in b.chunks(64) {
            let (mut ws, mut stop) = (0u64, 0u64);
            for (k, block) in chunk.chunks(16).enumerate() {
                let (w, s) = block_marks(block, pair);
                ws |= u64::from(w) << (16 * k);
                stop |= u64::from(s) << (16 * k);
            }
            self.ws.push(ws);
            self.stop.push(stop);
        }
    }

    /// The first index at or after `i` whose bit is set in `words` (the length if none).
    #[inline]
    fn next_set(&self, words: &[u64], i: usize) -> usize {
        let mut w = i / 64;
        let Some(&first) = words.get(w) else {
            return self.len;
        };
        let mut m = first & (!0u64 << (i % 64));
        loop {
            if m != 0 {
                return (w * 64 + m.trailing_zeros() as usize).min(self.len);
            }
            w += 1;
            match words.get(w) {
                Some(&x) => m = x,
                None => return self.len,
            }
        }
    }

    /// The first index at or after `i` that is not a space or tab (the length if none).
    #[inline]
    fn skip_ws(&self, i: usize) -> usize {
        let mut w = i / 64;
        let Some(&first) = self.ws.get(w) else {
            return self.len;
        };
        let mut m = !first & (!0u64 << (i % 64));
        loop {
            if m != 0 {
                return (w * 64 + m.trailing_zeros() as usize).min(self.len);
            }
            w += 1;
            match self.ws.get(w) {
                Some(&x) => m = !x,
                None => return self.len,
            }
        }
    }
}

/// The marks of up to sixteen bytes: (spaces and tabs, those and `pair`), bit `k` for
/// `block[k]`.
#[inline]
fn block_marks(block: &[u8], pair: u8) -> (u16, u16) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        let mut padded = [0u8; 16];
        let bytes: &[u8; 16] = match block.try_into() {
            Ok(full) => full,
            Err(_) => {
                padded[..block.len()].copy_from_slice(block);
                &padded
            }
        };
        // SAFETY: SSE2 is always available on x86-64; the load reads `bytes`.
        let (ws, eq) = unsafe {
            let v = _mm_loadu_si128(bytes.as_ptr().cast());
            let ws = _mm_or_si128(
                _mm_cmpeq_epi8(v, _mm_set1_epi8(b' ' as i8)),
                _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\t' as i8)),
            );
            let eq = _mm_cmpeq_epi8(v, _mm_set1_epi8(pair as i8));
            (
                _mm_movemask_epi8(ws) as u32,
                _mm_movemask_epi8(_mm_or_si128(ws, eq)) as u32,
            )
        };
        // The padding's bits (a NUL pair byte would mark them) are cleared.
        let keep = (1u32 << block.len()) - 1;
        ((ws & keep) as u16, (eq & keep) as u16)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        block_marks_by_bytes(block, pair)
    }
}

#[cfg(any(test, not(target_arch = "x86_64")))]
fn block_marks_by_bytes(block: &[u8], pair: u8) -> (u16, u16) {
    let (mut ws, mut stop) = (0u16, 0u16);
    for (k, &c) in block.iter().enumerate() {
        if c == b' ' || c == b'\t' {
            ws |= 1 << k;
            stop |= 1 << k;
        } else if c == pair {
            stop |= 1 << k;
        }
    }
    (ws, stop)
}

struct Kv {
    pairs: Pairs,
    /// Unescaped quoted text of the current line.
    buf: String,
    /// The keys of the current line.
    seen: Seen,
    /// With the default separators and a one-byte pair string: the line's marks.
    marks: Option<Marks>,
}

impl Kv {
    fn new(
        stage: &'static str,
        pair: &str,
        sep: Option<&str>,
        bad: Bad,
        next: Box<dyn Stage>,
    ) -> Result<LineParser<Self>> {
        if pair.is_empty() {
            bail!("{stage}: --pair is empty");
        }
        if sep.is_some_and(str::is_empty) {
            bail!("{stage}: --sep is empty");
        }
        if sep == Some(pair) {
            bail!("{stage}: --pair and --sep are the same");
        }
        let format = Kv {
            // `--sep ' '` is the default (runs of spaces and tabs); any other string, a tab
            // included, is matched as written.
            pairs: Pairs::new(pair, sep.filter(|s| *s != " ")),
            buf: String::new(),
            seen: Seen::default(),
            marks: (pair.len() == 1 && sep.is_none_or(|s| s == " ")).then(Marks::default),
        };
        Ok(LineParser::new(stage, bad, format, next))
    }

    /// [`Kv::fill_pairs`] with the default separators and a one-byte pair string: the same
    /// reading, step for step, with the ends of unquoted pieces found in the line's marks.
    fn fill_marked(
        pair: u8,
        marks: &mut Marks,
        t: &str,
        buf: &mut String,
        seen: &mut Seen,
        rec: &mut Record,
        skip_file: bool,
    ) -> Result<(), &'static str> {
        let b = t.as_bytes();
        let n = b.len();
        buf.clear();
        seen.clear();
        marks.mark(b, pair);
        let mut i = marks.skip_ws(0);
        while i < n {
            // The key: quoted, or up to a space, tab or the pair byte.
            let (key, j) = if b[i] == b'"' {
                Pairs::quoted(t, i, buf)?
            } else {
                let j = marks.next_set(&marks.stop, i);
                (Piece::Raw(i, j), j)
            };
            let (val, j) = if j < n && b[j] == pair {
                let v = j + 1;
                if v >= n || Pairs::is_ws(b[v]) {
                    (Some(Piece::Raw(v, v)), v)
                } else if b[v] == b'"' {
                    let (piece, end) = Pairs::quoted(t, v, buf)?;
                    (Some(piece), end)
                } else {
                    let e = marks.next_set(&marks.ws, v);
                    (Some(Piece::Raw(v, e)), e)
                }
            } else {
                (None, j)
            };
            add_pair(t, buf, key, val, rec, seen, skip_file)?;
            i = marks.skip_ws(j);
        }
        Ok(())
    }

    /// Fill `rec` from the pairs of `t`, or say why the line does not fit.
    fn fill_pairs(
        pairs: &Pairs,
        t: &str,
        buf: &mut String,
        seen: &mut Seen,
        rec: &mut Record,
        skip_file: bool,
    ) -> Result<(), &'static str> {
        let b = t.as_bytes();
        let p = pairs.pair.as_bytes();
        buf.clear();
        seen.clear();
        let mut i = pairs.skip_seps(b, 0);
        while i < b.len() {
            let (key, j) = pairs.piece(t, i, true, buf)?;
            let (val, j) = if b[j..].starts_with(p) {
                let mut v = j + p.len();
                if pairs.sep.is_some() {
                    while v < b.len() && Pairs::is_ws(b[v]) {
                        v += 1;
                    }
                }
                if v >= b.len() || pairs.sep_at(b, v).is_some() {
                    (Some(Piece::Raw(v, v)), v)
                } else {
                    let (val, e) = pairs.piece(t, v, false, buf)?;
                    (Some(val), e)
                }
            } else {
                (None, j)
            };
            add_pair(t, buf, key, val, rec, seen, skip_file)?;
            // (After a quoted piece, something else than a separator is read as the next
            // pair.)
            i = pairs.skip_seps(b, j);
        }
        Ok(())
    }
}

/// The keys of a line so far, to tell a repeated key at little cost.
#[derive(Default)]
struct Seen {
    /// A 64-bit Bloom filter of the keys (while the line has few fields): a key whose bit is
    /// clear is new, and the fields are searched for it only when the bit is set.
    bloom: u64,
    /// Key hashes of a line with many fields.
    set: HashSet<u64>,
}

impl Seen {
    /// A new line: no key seen.
    fn clear(&mut self) {
        self.bloom = 0;
        self.set.clear();
    }
}

/// Add the pair read as `key` and `val` (pieces of the line `t` or of `buf`; no value: a
/// bare key, `true`), unless it is the `file` field of a tagged input.
#[inline(always)]
fn add_pair(
    t: &str,
    buf: &str,
    key: Piece,
    val: Option<Piece>,
    rec: &mut Record,
    seen: &mut Seen,
    skip_file: bool,
) -> Result<(), &'static str> {
    let text = |pc: Piece| match pc {
        Piece::Raw(a, e) => &t[a..e],
        Piece::Unescaped(a, e) => &buf[a..e],
    };
    let k = text(key);
    if k.is_empty() {
        return Err("a pair has no key");
    }
    if !(skip_file && k == "file") {
        match val {
            Some(v) => add_field(rec, seen, k, Type::String, text(v)),
            None => add_field(rec, seen, k, Type::Bool, "true"),
        }
    }
    Ok(())
}

/// Add a field; a repeated key gathers its values into an array.
fn add_field(rec: &mut Record, seen: &mut Seen, k: &str, ty: Type, v: &str) {
    const SCAN: usize = 32;
    if rec.len() < SCAN {
        let bit = bloom_bit(k.as_bytes());
        if seen.bloom & bit == 0 {
            seen.bloom |= bit;
            rec.add_scalar(ROOT, k, ty, v);
        } else {
            // Perhaps repeated: `add_child` searches the fields.
            let id = rec.add_child(ROOT, k);
            rec.set_text(id, ty, v);
        }
        return;
    }
    let set = &mut seen.set;
    if set.is_empty() {
        for (name, _) in rec.fields() {
            set.insert(hash(name));
        }
    }
    if set.insert(hash(k)) {
        rec.add_scalar(ROOT, k, ty, v);
    } else {
        let id = rec.add_child(ROOT, k);
        rec.set_text(id, ty, v);
    }
}

/// The Bloom filter bit of a key: from its length and first and last bytes (keys of one
/// line usually differ in one of them).
#[inline]
fn bloom_bit(k: &[u8]) -> u64 {
    let (first, last) = match k {
        [] => (0, 0),
        [f, .., l] => (*f, *l),
        [f] => (*f, *f),
    };
    let h = (k.len() as u32)
        .wrapping_mul(0x9E37_79B1)
        .wrapping_add(u32::from(first) * 7)
        .wrapping_add(u32::from(last) * 31);
    1 << (h & 63)
}

fn hash(s: &str) -> u64 {
    use std::hash::{BuildHasher, RandomState};
    thread_local!(static STATE: RandomState = RandomState::new());
    STATE.with(|st| st.hash_one(s))
}

impl LineFormat for Kv {
    const DROPPED: &'static str = "did not parse";

    fn skip(&self, text: &str) -> bool {
        text.bytes().all(|c| c.is_ascii_whitespace())
    }

    fn fill(&mut self, text: &str, rec: &mut Record, tagged: bool) -> Result<(), &'static str> {
        if let Some(marks) = &mut self.marks {
            return Self::fill_marked(
                self.pairs.pair.as_bytes()[0],
                marks,
                text,
                &mut self.buf,
                &mut self.seen,
                rec,
                tagged,
            );
        }
        Self::fill_pairs(
            &self.pairs,
            text,
            &mut self.buf,
            &mut self.seen,
            rec,
            tagged,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::Item;
    use crate::protocol::testing::Collect;

    fn run(pair: &str, sep: Option<&str>, bad: Bad, lines: &[&[u8]]) -> Result<Vec<String>> {
        let out = Collect::shared();
        let mut p = Kv::new("kv", pair, sep, bad, Box::new(out.clone()))?;
        for l in lines {
            let _ = p.send(Item::Line(l))?;
        }
        p.close()?;
        let got = out.borrow().strings();
        Ok(got)
    }

    fn logfmt(line: &str) -> String {
        let got = run("=", None, Bad::Keep, &[line.as_bytes()]).unwrap();
        assert_eq!(got.len(), 1, "{line:?}: {got:?}");
        got[0].clone()
    }

    #[test]
    fn logfmt_lines() {
        assert_eq!(
            logfmt(r#"level=info msg="a b" dur=1.2ms"#),
            r#"{"level":"info","msg":"a b","dur":"1.2ms"}"#
        );
        assert_eq!(logfmt("  a=1\t\tb=2  "), r#"{"a":"1","b":"2"}"#);
        assert_eq!(logfmt("debug a= b"), r#"{"debug":true,"a":"","b":true}"#);
        assert_eq!(logfmt(r#"a="" b="x=y""#), r#"{"a":"","b":"x=y"}"#);
        assert_eq!(logfmt("a=x=y"), r#"{"a":"x=y"}"#);
        assert_eq!(logfmt("é=ü"), r#"{"é":"ü"}"#);
        assert_eq!(logfmt(r#""a key"=1"#), r#"{"a key":"1"}"#);
    }

    #[test]
    fn escapes_in_quotes() {
        assert_eq!(
            logfmt(r#"m="say \"hi\"\n\tC:\\dir \x""#),
            r#"{"m":"say \"hi\"\n\tC:\\dir \\x"}"#
        );
        assert_eq!(logfmt(r#"m="\\""#), r#"{"m":"\\"}"#);
        // Unquoted values are as written.
        assert_eq!(logfmt(r#"p=C:\dir"#), r#"{"p":"C:\\dir"}"#);
    }

    #[test]
    fn repeated_keys_gather_into_an_array() {
        assert_eq!(logfmt("a=1 b=2 a=3 a"), r#"{"a":["1","3",true],"b":"2"}"#);
        // Beyond the scanned fields too.
        let line: String = (0..100)
            .map(|i| format!("k{} ", i % 40))
            .collect::<String>()
            + "z=1";
        let got: serde_json::Value = serde_json::from_str(&logfmt(&line)).unwrap();
        let o = got.as_object().unwrap();
        assert_eq!(o.len(), 41);
        assert_eq!(o["k0"].as_array().unwrap().len(), 3);
        assert_eq!(o["k39"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn lines_that_do_not_fit() {
        let got = run(
            "=",
            None,
            Bad::Drop,
            &[b"a=1", b"", b"  ", b"a=\"open", b"=v", b"b=\"x\\"],
        )
        .unwrap();
        assert_eq!(got, [r#"{"a":"1"}"#]);
        assert_eq!(logfmt("m=\"open"), r#"{"message":"m=\"open"}"#);
        let e = run("=", None, Bad::Strict, &[b"a=1", b"=2"]).unwrap_err();
        assert_eq!(e.to_string(), "kv: standard input:2: a pair has no key");
        let e = run("=", None, Bad::Strict, &[b"a=\"1"]).unwrap_err();
        assert_eq!(e.to_string(), "kv: standard input:1: a quote is not closed");
    }

    #[test]
    fn chosen_separators() {
        let got = run(
            ":",
            Some(","),
            Bad::Strict,
            &[b"a: 1, b:2 ,,c , d:\"x,y\"", b"k:v:w"],
        )
        .unwrap();
        assert_eq!(
            got,
            [r#"{"a":"1","b":"2","c":true,"d":"x,y"}"#, r#"{"k":"v:w"}"#]
        );
        let got = run("=", Some("\t"), Bad::Strict, &[b"a=x y\tb=2\t c = 3 "]).unwrap();
        assert_eq!(got, [r#"{"a":"x y","b":"2","c":"3"}"#]);
        let got = run("=", Some(" "), Bad::Strict, &[b"a=x  b=2\tc"]).unwrap();
        assert_eq!(got, [r#"{"a":"x","b":"2","c":true}"#]);
        let got = run("=>", Some(" ; "), Bad::Strict, &[b"a=>1 ; b=>x y"]).unwrap();
        assert_eq!(got, [r#"{"a":"1","b":"x y"}"#]);
        assert!(run("=", Some("="), Bad::Drop, &[]).is_err());
        assert!(run("", None, Bad::Drop, &[]).is_err());
    }

    /// The record (as JSON) or the reason, read by the general reader (`marks: None`) or by
    /// the marked one.
    fn read_with(marked: bool, pair: &str, line: &str) -> Result<String, &'static str> {
        let mut kv = Kv {
            pairs: Pairs::new(pair, None),
            buf: String::new(),
            seen: Seen::default(),
            marks: marked.then(Marks::default),
        };
        let mut rec = Record::new();
        kv.fill(line, &mut rec, false).map(|()| rec.to_json())
    }

    #[test]
    fn the_marked_reader_reads_as_the_general_one() {
        // Lines of a small alphabet with every character that matters (separators, the
        // pair string, quotes, backslashes, multibyte text), short and past several words
        // of marks: both readers make the same record, or fail for the same reason.
        let alphabet = [
            " ", " ", "\t", "=", "=", "\"", "\\", "a", "b", "k", "é", "\u{2028}", "x1", ":",
        ];
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..20_000 {
            let len = (next() % if round % 10 == 0 { 300 } else { 40 }) as usize;
            let line: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            for pair in ["=", ":", " "] {
                assert_eq!(
                    read_with(true, pair, &line),
                    read_with(false, pair, &line),
                    "{pair:?} {line:?}"
                );
            }
        }
    }

    #[test]
    fn marks_at_word_and_block_edges() {
        // A separator at every offset around the 16-byte blocks and 64-bit words.
        for at in 1..140 {
            let mut line = "k".repeat(at);
            line.push_str("=v w");
            let got = read_with(true, "=", &line).unwrap();
            assert_eq!(got, format!(r#"{{"{}":"v","w":true}}"#, "k".repeat(at)));
            let line = format!("a={}\tb=1", "x".repeat(at));
            let got = read_with(true, "=", &line).unwrap();
            assert_eq!(got, format!(r#"{{"a":"{}","b":"1"}}"#, "x".repeat(at)));
        }
        for len in 0..=16 {
            let block: Vec<u8> = b"a b\t=c  =\t\t=xyz=".iter().copied().take(len).collect();
            assert_eq!(
                block_marks(&block, b'='),
                block_marks_by_bytes(&block, b'=')
            );
            assert_eq!(block_marks(&block, 0), block_marks_by_bytes(&block, 0));
        }
    }

    #[test]
    fn stops_find_as_the_table() {
        let t: Vec<u8> = (0..100u8)
            .map(|i| if i % 23 == 22 { b',' } else { b'a' + i % 26 })
            .collect();
        for stops in [
            Stops::new([b' ', b'\t']),
            Stops::new([b' ', b'\t', b'=']),
            Stops::new([b',']),
            Stops::new([b',', b'z']),
        ] {
            for i in 0..t.len() {
                for j in i..=t.len() {
                    assert_eq!(
                        stops.find(&t[i..j]),
                        stops.find_by_table(&t[i..j]),
                        "{i}..{j}"
                    );
                }
            }
        }
    }

    #[test]
    fn edge_cases() {
        // Control characters (from escapes or as written) are escaped in the JSON; U+2028
        // and DEL as jq writes them.
        assert_eq!(
            logfmt("m=\"a\\tb\\nc\" c=\u{1}x\u{7f} s=\u{2028}"),
            "{\"m\":\"a\\tb\\nc\",\"c\":\"\\u0001x\\u007f\",\"s\":\"\u{2028}\"}"
        );
        // Invalid UTF-8 in a key and a quoted value.
        assert_eq!(
            run("=", None, Bad::Strict, &[b"k\xc3=\"v\xff\xfe\" z"]).unwrap(),
            ["{\"k\u{FFFD}\":\"v\u{FFFD}\u{FFFD}\",\"z\":true}"]
        );
        // Quotes at the end of a line: a closed one, one that opens, one inside a raw value.
        assert_eq!(logfmt(r#"a="x""#), r#"{"a":"x"}"#);
        assert_eq!(logfmt(r#"a=x""#), r#"{"a":"x\""}"#);
        assert_eq!(logfmt(r#"a=x ""#), r#"{"message":"a=x \""}"#);
        assert_eq!(logfmt(r#"a=x b=""#), r#"{"message":"a=x b=\""}"#);
        assert_eq!(logfmt(r#"a="x\""#), r#"{"message":"a=\"x\\\""}"#);
        // Empty keys, quoted or not, and a quoted empty key with a value.
        let e = run("=", None, Bad::Strict, &[b"a=1 =2"]).unwrap_err();
        assert_eq!(e.to_string(), "kv: standard input:1: a pair has no key");
        let e = run("=", None, Bad::Strict, &[br#"""=2"#]).unwrap_err();
        assert_eq!(e.to_string(), "kv: standard input:1: a pair has no key");
        // Very long values and keys, across many words of marks.
        let long = "v".repeat(100_000);
        assert_eq!(
            logfmt(&format!("a={long} {long}=\"{long}\" b")),
            format!(r#"{{"a":"{long}","{long}":"{long}","b":true}}"#)
        );
    }

    #[test]
    fn invalid_utf8_crlf_and_hostile_lines() {
        assert_eq!(
            run("=", None, Bad::Drop, &[b"a=\xff\r"]).unwrap(),
            ["{\"a\":\"\u{FFFD}\"}"]
        );
        let quotes = vec![b'"'; 1 << 20];
        let got = run("=", None, Bad::Drop, &[&quotes]).unwrap();
        assert!(got.is_empty() || got[0].starts_with('{'));
        let mut eqs = b"a".to_vec();
        eqs.extend(std::iter::repeat_n(b'=', 1 << 20));
        let got = run("=", None, Bad::Drop, &[&eqs]).unwrap();
        assert_eq!(got.len(), 1);
        let many: Vec<u8> = (0..200_000)
            .flat_map(|i| format!("k{i}=v ").into_bytes())
            .collect();
        let got = run("=", None, Bad::Drop, &[&many]).unwrap();
        assert!(got[0].ends_with(r#""k199999":"v"}"#));
    }
}
