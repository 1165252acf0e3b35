//! Property-based fuzzing of NDJSON lines through `json : where : select : print`:
//! generated JSON objects of random shape (awkward strings — escapes, Unicode, surrogate
//! pairs, control characters —, big and odd numbers, repeated keys, deep nesting, random
//! whitespace), the same lines mutated, and garbage. For each line:
//!
//! * nothing panics (a panic fails the case);
//! * the parser agrees with serde_json (without its recursion limit): a line serde_json
//!   takes is taken, with the same value and the same key order; a line it refuses is
//!   refused too, unless only for a number beyond f64 (`1e400`, which `json` keeps as
//!   written); a refusal names a column inside the line and a cause;
//! * `print` round-trips: the record's JSON parses back (serde_json, and `json` itself) to
//!   the same value;
//! * after `where` and `select`, every line `print` writes parses as JSON, the selected
//!   values are the record's, and exactly one of `<`, `=`, `>` holds for a number field
//!   against a number.
//!
//! The library's own stages are driven directly (much faster than the binary); at the end
//! the lines of the first batch go through the real binary too.
//!
//! `cargo test` runs a few hundred lines. Longer runs:
//!
//!     PROPTEST_CASES=5000 cargo test --release --test it ndjson_fuzz::
//!     COPIPE_FUZZ_SECONDS=600 cargo test --release --test it ndjson_fuzz:: -- --nocapture
//!
//! (`PROPTEST_CASES`: lines per batch; `COPIPE_FUZZ_SECONDS`: batches until the time is
//! up; `COPIPE_FUZZ_SEED` replays a run.)

use crate::common;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use copipe::record::{JsonParser, Record, Type};
use copipe::stage::select::select_into;
use copipe::stage::where_::Condition;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

/// A generated JSON value, written out with random spelling (escapes, whitespace).
#[derive(Clone, Debug)]
enum J {
    Null,
    Bool(bool),
    Num(String),
    Str(Vec<Ch>),
    Arr(Vec<J>),
    Obj(Vec<(Vec<Ch>, J)>),
    /// A value wrapped in `depth` arrays or single-member objects.
    Deep(u16, bool, Box<J>),
}

/// A character of a string and how it is spelled: as it is, or as an escape.
#[derive(Clone, Copy, Debug)]
struct Ch {
    c: char,
    escape: bool,
}

const CHARS: &[char] = &[
    'a',
    'b',
    'z',
    ' ',
    '"',
    '\\',
    '/',
    '\n',
    '\r',
    '\t',
    '\u{0}',
    '\u{1}',
    '\u{8}',
    '\u{c}',
    '\u{1f}',
    '\u{7f}',
    '\u{80}',
    'é',
    'ß',
    '€',
    '\u{2028}',
    '\u{feff}',
    '\u{fffd}',
    '\u{ffff}',
    '😀',
    '\u{10000}',
    '\u{10ffff}',
    '{',
    '}',
    '[',
    ']',
    ',',
    ':',
    '0',
    'e',
];

const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "1.0",
    "0.5",
    "-0.0",
    "1e400",
    "-1e400",
    "1e-400",
    "1E5",
    "1e+2",
    "2.5E-3",
    "9007199254740992",
    "9007199254740993",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "123456789012345678901234567890",
    "0.30000000000000001",
    "1.7976931348623157e308",
    "4.9e-324",
    "100000000000000000000000000000000000000000000e-40",
];

/// Keys from a small set, so that they repeat.
const KEYS: &[&str] = &["a", "b", "n", "s", "x", "é", "", "a\"b", "\u{0}", "😀"];

fn chars() -> impl Strategy<Value = Vec<Ch>> {
    prop::collection::vec(
        (
            prop_oneof![
                8 => (0..CHARS.len()).prop_map(|i| CHARS[i]),
                2 => any::<char>(),
            ],
            any::<bool>(),
        )
            .prop_map(|(c, escape)| Ch { c, escape }),
        0..12,
    )
}

fn key() -> impl Strategy<Value = Vec<Ch>> {
    prop_oneof![
        4 => ((0..KEYS.len()), any::<bool>()).prop_map(|(i, escape)| {
            KEYS[i].chars().map(|c| Ch { c, escape }).collect()
        }),
        1 => chars(),
    ]
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (0..NUMBERS.len()).prop_map(|i| NUMBERS[i].to_string()),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:e}")),
        1 => ("-?(0|[1-9][0-9]{0,40})(\\.[0-9]{1,30})?([eE][+-]?[0-9]{1,4})?")
            .prop_map(|s| s),
    ]
}

fn value() -> impl Strategy<Value = J> {
    let leaf = prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::Bool),
        number().prop_map(J::Num),
        chars().prop_map(J::Str),
    ];
    leaf.prop_recursive(6, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(J::Arr),
            prop::collection::vec((key(), inner.clone()), 0..6).prop_map(J::Obj),
            (1u16..3000, any::<bool>(), inner).prop_map(|(d, o, v)| J::Deep(d, o, Box::new(v))),
        ]
    })
}

/// A top-level object.
fn object() -> impl Strategy<Value = J> {
    prop::collection::vec((key(), value()), 0..8).prop_map(J::Obj)
}

/// Whitespace between tokens: mostly none.
fn ws(out: &mut String, rng: &mut u64) {
    *rng = rng
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    match (*rng >> 60) as u8 {
        0 => out.push(' '),
        1 => out.push_str(" \t "),
        2 => out.push('\r'),
        _ => {}
    }
}

fn write_str(out: &mut String, s: &[Ch]) {
    out.push('"');
    for ch in s {
        let c = ch.c;
        let must = c == '"' || c == '\\' || (c as u32) < 0x20;
        if ch.escape || must {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '/' if ch.escape => out.push_str("\\/"),
                '\n' if !ch.escape => out.push_str("\\n"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c => {
                    let mut units = [0u16; 2];
                    for u in c.encode_utf16(&mut units) {
                        // Upper or lower case hex digits, both are JSON.
                        if (c as u32).is_multiple_of(2) {
                            let _ = write!(out, "\\u{:04x}", u);
                        } else {
                            let _ = write!(out, "\\u{:04X}", u);
                        }
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out.push('"');
}

fn write_json(out: &mut String, v: &J, rng: &mut u64) {
    ws(out, rng);
    match v {
        J::Null => out.push_str("null"),
        J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        J::Num(n) => out.push_str(n),
        J::Str(s) => write_str(out, s),
        J::Arr(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, x, rng);
            }
            ws(out, rng);
            out.push(']');
        }
        J::Obj(members) => {
            out.push('{');
            for (i, (k, x)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                ws(out, rng);
                write_str(out, k);
                ws(out, rng);
                out.push(':');
                write_json(out, x, rng);
            }
            ws(out, rng);
            out.push('}');
        }
        J::Deep(d, obj, x) => {
            for _ in 0..*d {
                out.push_str(if *obj { "{\"a\":" } else { "[" });
            }
            write_json(out, x, rng);
            for _ in 0..*d {
                out.push(if *obj { '}' } else { ']' });
            }
        }
    }
    ws(out, rng);
}

const TOKENS: &[&[u8]] = &[
    b"\"",
    b"\\",
    b"\\u",
    b"\\ud800",
    b"\\udc00",
    b"\\ud83d\\ude00",
    b"\\x",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"e",
    b"-",
    b"0",
    b".",
    b"1e400",
    b"tru",
    b"null",
    b"\xEF\xBB\xBF",
    b"\x00",
    b"\x1f",
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    b" ",
    b"\t",
];

/// An edit: what (insert a token, delete, flip a bit, repeat a chunk, cut), where, which.
type Edit = (u8, u16, u16, usize);

fn mutate(line: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut d = line.to_vec();
    for &(op, a, b, t) in edits {
        let len = d.len().max(1);
        let (a, b) = (a as usize % len, b as usize % len);
        let (lo, hi) = (a.min(b).min(d.len()), a.max(b).min(d.len()));
        match op % 5 {
            0 => {
                d.splice(lo..lo, TOKENS[t % TOKENS.len()].iter().copied());
            }
            1 => {
                d.drain(lo..hi.min(lo + 8));
            }
            2 => {
                if lo < d.len() {
                    d[lo] ^= 1 << (op % 8);
                }
            }
            3 => {
                let chunk = d[lo..hi].to_vec();
                d.splice(hi..hi, chunk);
            }
            _ => d.truncate(hi),
        }
    }
    d
}

fn line_strategy() -> impl Strategy<Value = Vec<u8>> {
    let valid = (object(), any::<u64>())
        .prop_map(|(v, mut seed)| {
            let mut s = String::new();
            write_json(&mut s, &v, &mut seed);
            s.into_bytes()
        })
        .boxed();
    let mutated = (
        valid.clone(),
        prop::collection::vec(
            (any::<u8>(), any::<u16>(), any::<u16>(), any::<usize>()),
            1..5,
        ),
    )
        .prop_map(|(l, edits): (Vec<u8>, Vec<Edit>)| mutate(&l, &edits));
    let soup = prop::collection::vec(any::<usize>(), 0..30).prop_map(|ts| {
        ts.into_iter()
            .flat_map(|t| TOKENS[t % TOKENS.len()].iter().copied())
            .collect::<Vec<u8>>()
    });
    prop_oneof![6 => valid, 4 => mutated, 1 => soup, 1 => prop::collection::vec(any::<u8>(), 0..64)]
}

/// serde_json's value of a line, without its recursion limit; Ok(None) when it refuses
/// only for numbers beyond f64 (each is replaced by `0` and the line tried again).
fn reference(line: &[u8]) -> Result<Option<Value>, String> {
    let mut buf = std::borrow::Cow::Borrowed(line);
    let mut patched = false;
    for _ in 0..=line.len() {
        let mut de = serde_json::Deserializer::from_slice(&buf);
        de.disable_recursion_limit();
        let e = match Value::deserialize(&mut de).and_then(|v| de.end().map(|()| v)) {
            Ok(v) if patched => {
                drop_flat(v);
                return Ok(None);
            }
            Ok(v) => return Ok(Some(v)),
            Err(e) if e.to_string().starts_with("number out of range") => e,
            Err(e) => return Err(e.to_string()),
        };
        // The byte offset of the error, then the number around it.
        let b = buf.to_mut();
        let mut at = 0;
        for _ in 1..e.line() {
            at += b[at..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(0, |p| p + 1);
        }
        at = (at + e.column())
            .saturating_sub(1)
            .min(b.len().saturating_sub(1));
        // A number follows a byte that cannot be in one; its end is where JSON's number
        // grammar ends (not where the number-like bytes do: `1e400e`).
        let num = |c: &u8| c.is_ascii_digit() || b"+-.eE".contains(c);
        let start = at - b[..at].iter().rev().take_while(|c| num(c)).count();
        let mut end = start;
        let digits = |end: &mut usize| {
            let s = *end;
            while b.get(*end).is_some_and(u8::is_ascii_digit) {
                *end += 1;
            }
            *end > s
        };
        if b.get(end) == Some(&b'-') {
            end += 1;
        }
        digits(&mut end);
        if b.get(end) == Some(&b'.') {
            end += 1;
            digits(&mut end);
        }
        if let Some(b'e' | b'E') = b.get(end) {
            end += 1;
            if let Some(b'+' | b'-') = b.get(end) {
                end += 1;
            }
            digits(&mut end);
        }
        if end == start || b.get(end).is_some_and(num) {
            // No number, or one followed by more of one (`1e4001.5`): not JSON anyway, and
            // a `0` in its place could make it some.
            return Err(format!("{e}, and then no JSON number"));
        }
        b.splice(start..end, *b"0");
        patched = true;
    }
    Err("numbers out of range everywhere".into())
}

/// Whether `line` is JSON at all (numbers of any size), for the lines `print` writes.
fn is_json(line: &[u8]) -> Result<(), String> {
    std::str::from_utf8(line).map_err(|e| e.to_string())?;
    let mut de = serde_json::Deserializer::from_slice(line);
    de.disable_recursion_limit();
    IgnoredAny::deserialize(&mut de)
        .and_then(|_| de.end())
        .map_err(|e| format!("{e}: {}", String::from_utf8_lossy(line)))
}

/// Equal values, with the same key order in objects (serde_json's map equality ignores
/// the order). In a loop: the values may be deep.
fn same(a: &Value, b: &Value) -> bool {
    let mut todo = vec![(a, b)];
    while let Some((a, b)) = todo.pop() {
        match (a, b) {
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                todo.extend(x.iter().zip(y))
            }
            (Value::Object(x), Value::Object(y)) if x.len() == y.len() => {
                for ((ka, va), (kb, vb)) in x.iter().zip(y) {
                    if ka != kb {
                        return false;
                    }
                    todo.push((va, vb));
                }
            }
            (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => {
                return false;
            }
            (a, b) if a != b => return false,
            _ => {}
        }
    }
    true
}

/// A serde_json value dropped in a loop (its own drop recurses once per level).
fn drop_flat(v: Value) {
    let mut todo = vec![v];
    while let Some(v) = todo.pop() {
        match v {
            Value::Array(a) => todo.extend(a),
            Value::Object(o) => todo.extend(o.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

struct Fuzz {
    parser: JsonParser,
    rec: Record,
    again: Record,
    out: Record,
    json: Vec<u8>,
    scratch: Vec<u8>,
    conditions: Vec<(Vec<String>, Condition)>,
    selects: Vec<Vec<(String, Vec<String>)>>,
}

const FIELDS: &[&str] = &["a", "b", "n", "s", "x", "a.a", "a.0", "b.x", "é", "a.a.a.a"];
const VALUES: &[&str] = &[
    "1",
    "0",
    "-0.0",
    "9007199254740992",
    "9007199254740993",
    "1e400",
    "123456789012345678901234567890",
    "x",
    "",
    "true",
    "null",
];

impl Fuzz {
    fn new() -> Self {
        let mut conditions = Vec::new();
        for f in FIELDS {
            conditions.push((
                vec![format!("{f}?")],
                Condition::parse(&[format!("{f}?")]).unwrap(),
            ));
            for op in ["=", "!=", "<", "<=", ">", ">=", "~"] {
                for v in VALUES {
                    let words = vec![f.to_string(), op.to_string(), v.to_string()];
                    let c = Condition::parse(&words).unwrap();
                    conditions.push((words, c));
                }
            }
        }
        let split = |f: &str| f.split('.').map(str::to_string).collect::<Vec<_>>();
        let selects = vec![
            FIELDS.iter().map(|f| (f.to_string(), split(f))).collect(),
            vec![("n".to_string(), split("n")), ("a".to_string(), split("a"))],
        ];
        Fuzz {
            parser: JsonParser::new(),
            rec: Record::new(),
            again: Record::new(),
            out: Record::new(),
            json: Vec::new(),
            scratch: Vec::new(),
            conditions,
            selects,
        }
    }

    fn check(&mut self, line: &[u8], pick: usize) -> Result<(), TestCaseError> {
        let got = self.parser.parse(line, &mut self.rec);
        let want = reference(line);
        let show = || String::from_utf8_lossy(&line[..line.len().min(300)]).into_owned();
        match (&got, &want) {
            (Err(e), Ok(_)) => {
                return Err(TestCaseError::fail(format!(
                    "refused what serde_json takes: {} ({}): {}",
                    e.what,
                    e.at,
                    show()
                )));
            }
            (Ok(()), Err(w)) => {
                return Err(TestCaseError::fail(format!(
                    "took what serde_json refuses ({w}): {}",
                    show()
                )));
            }
            (Err(e), Err(_)) => {
                let chars = String::from_utf8_lossy(line).chars().count();
                let col = e.column(line);
                prop_assert!(
                    col >= 1 && col <= chars + 1,
                    "column {col} of {chars}: {}",
                    e.what
                );
                prop_assert!(e.what.len() > 10, "{}", e.what);
                return Ok(());
            }
            (Ok(()), Ok(_)) => {}
        }
        // Taken: print round-trips.
        self.json.clear();
        self.rec.write_json(&mut self.json);
        is_json(&self.json).map_err(TestCaseError::fail)?;
        if let Ok(Some(w)) = want {
            let back = reference(&self.json)
                .map_err(TestCaseError::fail)?
                .expect("the same numbers");
            let ok = same(&back, &w);
            drop_flat(back);
            drop_flat(w);
            prop_assert!(
                ok,
                "print changed the value: {} -> {}",
                show(),
                String::from_utf8_lossy(&self.json)
            );
        }
        self.parser
            .parse(&self.json, &mut self.again)
            .map_err(|e| TestCaseError::fail(format!("print's JSON refused: {}", e.what)))?;
        prop_assert!(
            self.again == self.rec,
            "print's JSON parses to another record"
        );
        if self.rec.root().ty() != Type::Object {
            return Ok(());
        }
        // where : select : print
        let n = self.conditions.len();
        for k in 0..8 {
            let (words, c) = &self.conditions[(pick + k * 7919) % n];
            if !c.holds(&self.rec, &mut self.scratch) {
                continue;
            }
            let _ = words;
            let fields = &self.selects[(pick + k) % self.selects.len()];
            select_into(&self.rec, fields, &mut self.out);
            self.json.clear();
            self.out.write_json(&mut self.json);
            is_json(&self.json).map_err(TestCaseError::fail)?;
            for (name, path) in fields {
                let (a, b) = (self.rec.lookup(path), self.out.get(name));
                prop_assert!(a.is_some() == b.is_some() && a.zip(b).is_none_or(|(a, b)| a == b));
            }
        }
        // Exactly one of <, =, > for a number field against a number.
        for f in FIELDS {
            let path: Vec<String> = f.split('.').map(str::to_string).collect();
            let Some(v) = self.rec.lookup(&path) else {
                continue;
            };
            if v.ty() != Type::Number {
                continue;
            }
            for value in VALUES.iter().take(7) {
                let count = ["<", "=", ">"]
                    .iter()
                    .filter(|op| {
                        Condition::parse(&[f.to_string(), op.to_string(), value.to_string()])
                            .unwrap()
                            .holds(&self.rec, &mut self.scratch)
                    })
                    .count();
                prop_assert_eq!(count, 1, "{} vs {} in {}", v.text(), value, show());
            }
        }
        Ok(())
    }
}

fn run_fuzz() -> (u64, Vec<Vec<u8>>) {
    let seconds: u64 = std::env::var("COPIPE_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let batch: u32 = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if seconds > 0 { 5000 } else { 300 });
    let base: u64 = std::env::var("COPIPE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    let strategy = line_strategy();
    let start = Instant::now();
    let mut runs = 0u64;
    let kept = std::cell::RefCell::new(Vec::new());
    let fuzz = std::cell::RefCell::new(Fuzz::new());
    for batch_no in 0u64.. {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&base.to_le_bytes());
        seed[8..16].copy_from_slice(&batch_no.to_le_bytes());
        let mut runner = TestRunner::new_with_rng(
            Config {
                cases: batch,
                failure_persistence: None,
                ..Config::default()
            },
            TestRng::from_seed(RngAlgorithm::ChaCha, &seed),
        );
        let pick = std::cell::Cell::new(0usize);
        let r = runner.run(&strategy, |line| {
            pick.set(pick.get().wrapping_add(1));
            let mut kept = kept.borrow_mut();
            if batch_no == 0 && kept.len() < 400 && !line.contains(&b'\n') {
                kept.push(line.clone());
            }
            fuzz.borrow_mut().check(&line, pick.get())
        });
        if let Err(e) = r {
            panic!("seed {base}, batch {batch_no}, after {runs} lines: {e}");
        }
        runs += u64::from(batch);
        if start.elapsed() >= Duration::from_secs(seconds) {
            break;
        }
    }
    if seconds > 0 || std::env::var_os("PROPTEST_CASES").is_some() {
        println!(
            "ndjson fuzz: {runs} lines in {:.0?} (seed {base}), no failure",
            start.elapsed()
        );
    }
    (runs, kept.into_inner())
}

#[test]
fn fuzz_ndjson_through_json_where_select_print() {
    // Deep values in the reference parser and the checks: a big stack for this thread.
    let (runs, kept) = std::thread::Builder::new()
        .stack_size(512 << 20)
        .spawn(run_fuzz)
        .unwrap()
        .join()
        .unwrap();
    assert!(runs > 0);
    // The kept lines through the real binary: every line it prints is JSON, and it prints
    // one for each line the library takes (an object) and the condition keeps.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fuzz.ndjson");
    std::fs::write(&path, kept.join(&b'\n')).unwrap();
    let mut parser = JsonParser::new();
    let mut rec = Record::new();
    let cond = Condition::parse(&["n!=0".to_string()]).unwrap();
    let want = kept
        .iter()
        .enumerate()
        .map(|(i, l)| match l.strip_prefix(b"\xEF\xBB\xBF") {
            Some(rest) if i == 0 => rest,
            _ => l,
        })
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .filter(|l| {
            parser.parse(l, &mut rec).is_ok()
                && rec.root().ty() == Type::Object
                && cond.holds(&rec, &mut Vec::new())
        })
        .count();
    let r = common::copipe([
        "cat",
        path.to_str().unwrap(),
        ":",
        "json",
        "--skip-bad",
        ":",
        "where",
        "n!=0",
        ":",
        "select",
        "n",
        "a",
        "s",
        ":",
        "print",
    ])
    .run();
    r.code(if want > 0 { 0 } else { 1 });
    let out = r
        .out
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>();
    for l in &out {
        if let Err(e) = is_json(l) {
            panic!("the binary printed a line that is not JSON: {e}");
        }
    }
    assert_eq!(out.len(), want, "{}", r.err);
}

#[test]
fn the_reference_tells_a_number_beyond_f64_from_garbage() {
    // Found by the first long run: `1e400e` was taken for a number out of range only.
    assert!(reference(b"1e400e").is_err());
    assert!(reference(b"[1e400]").unwrap().is_none());
    assert!(
        reference(b"{\"a\":-1e400,\"b\":[2E+999]}")
            .unwrap()
            .is_none()
    );
    assert!(reference(b"{\"a\":1e400 x}").is_err());
    assert!(reference(b"{\"a\":1}").unwrap().is_some());
    // And the second: a number beyond f64 followed by more of a number.
    assert!(reference(b"{\"a\":1e4001.7976931348623157e308}").is_err());
    assert!(reference(b"[1e400-1]").is_err());
}
