//! `where FIELD OP VALUE` / `where FIELD?` — keep the records whose field compares.
//!
//! Accepts records; emits records. The condition is one word (`route=22`,
//! `direction=North Bound` — the shell has already removed the quotes) or three
//! (`route = 22`). Operators: `=`, `!=`, `~` (regex search), `!~`, `<`, `<=`, `>`, `>=`;
//! `FIELD?` keeps records that have the field. FIELD is a dotted path (`stop.name`,
//! `stops.0`); a step that is not an index goes into every element of an array.
//!
//! Comparison: numeric when both sides are numbers (`22` = `22.0`), exactly, by their
//! decimal digits (integers of any size, `1e400`; no rounding to f64), else as strings
//! (bytewise). A string, number or bool field compares by its text; null by the empty
//! string; an object by its compact JSON. On an array the condition holds when it holds
//! for any element. `!=` and `!~` are the negations of `=` and `~` (so a record without the
//! field, or whose array has no equal element, passes `!=`); the other operators need the
//! field. Several `where` in a row are an AND.
//!
//! jq's and Miller's habits are understood (`a==1`, `.a == "1"`, `$a = 1`: a quoted value
//! is a JSON string) or refused at build time with a hint (`a=1 && b=2`, `select(.a)`):
//! a condition that cannot match because of how it is spelt is an error, not an empty
//! result. Anything more is for the `jq` stage.

use std::cmp::Ordering;

use anyhow::{Context, Result, bail};
use clap::{ArgMatches, FromArgMatches, Parser};
use regex::Regex;

use crate::item::{Item, Kind, Type, Val, split_path};
use crate::protocol::def::{Build, BuildCx, Emits, Role, StageDef};
use crate::protocol::{Flow, Stage};
use crate::record::Step;

/// Keep records whose FIELD compares with VALUE (= != ~ !~ < <= > >=), or that have FIELD?.
///
/// Numeric comparison when both sides are numbers (exact, at any size or precision), else
/// string comparison. On an array the
/// condition holds if it holds for any element. `!=` is "not =". FIELD may be a dotted
/// path. Write the condition as one word (`route=22`, `'direction=North Bound'`) or three
/// (`route = 22`).
///
/// jq's and Miller's spellings mean the same: `a==1`, `.a == "1"`, `$a = 1` are `a=1` (a
/// value in double quotes is a JSON string, in single quotes the text between them).
/// Two conditions in one (`a=1 && b=2`) and jq's `select(...)` are refused with a hint.
/// Several `where` in a row are an AND. For anything else — OR, arithmetic, functions,
/// conditions between two fields — use `jq 'select(...)'` (`copipe help jq`).
#[derive(Parser)]
#[command(name = "where", disable_version_flag = true)]
pub struct Args {
    /// FIELD OP VALUE, as one word or three, or FIELD? for "has the field".
    #[arg(required = true, num_args = 1..=3, allow_hyphen_values = true, value_name = "CONDITION")]
    pub condition: Vec<String>,
}

pub const DEF: StageDef = StageDef {
    name: "where",
    aliases: &[],
    role: Role::Filter,
    summary: "keep records whose FIELD compares (= != ~ < <= > >=, FIELD?)",
    accepts: &[Kind::Record],
    emits: Emits::Same,
    examples: &[
        "copipe xml allroutes.xml : records bus : where route=22 : where 'direction=North Bound'",
        "copipe cat log.ndjson : json : where status '>=' 500",
        "copipe cat log.ndjson : json : where user.name~^a : where error?",
    ],
    command: <Args as clap::CommandFactory>::command,
    fusion: None,
    build: Build::Filter(build),
};

fn build(m: &ArgMatches, _cx: &BuildCx<'_>, next: Box<dyn Stage>) -> Result<Box<dyn Stage>> {
    let a = Args::from_arg_matches(m)?;
    Ok(Box::new(Where {
        cond: Condition::parse(&a.condition)?,
        scratch: Vec::new(),
        next,
    }))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Match,
    NotMatch,
    Lt,
    Le,
    Gt,
    Ge,
    Exists,
}

const OPS: &[(&str, Op)] = &[
    ("!=", Op::Ne),
    ("!~", Op::NotMatch),
    ("<=", Op::Le),
    (">=", Op::Ge),
    ("=", Op::Eq),
    ("~", Op::Match),
    ("<", Op::Lt),
    (">", Op::Gt),
];

/// A compiled condition.
#[derive(Debug)]
pub struct Condition {
    path: Vec<String>,
    op: Op,
    value: String,
    /// The value's number, if it is one.
    number: Option<Decimal>,
    regex: Option<Regex>,
}

impl Condition {
    pub fn parse(words: &[String]) -> Result<Self> {
        refuse_habits(words)?;
        let (field, op, value) = match words {
            [one] => {
                if let Some(f) = one.strip_suffix('?')
                    && !f.contains(['=', '!', '~', '<', '>'])
                {
                    (f.to_string(), Op::Exists, String::new())
                } else {
                    let at = one.find(['=', '!', '~', '<', '>']).with_context(|| {
                        let hint = if one.trim().starts_with(['.', '$']) {
                            format!(" (did you mean `where {}?`)", one.trim()[1..].trim())
                        } else {
                            String::new()
                        };
                        format!("no operator in `{one}` (use = != ~ !~ < <= > >= or FIELD?){hint}")
                    })?;
                    let rest = &one[at..];
                    let (sym, op) = OPS
                        .iter()
                        .find(|(s, _)| rest.starts_with(s))
                        .with_context(|| format!("bad operator in `{one}`"))?;
                    let mut value = &rest[sym.len()..];
                    // `a==1`: jq's and most languages' equality is `=` here.
                    if *op == Op::Eq
                        && let Some(v) = value.strip_prefix('=')
                    {
                        value = v;
                    }
                    // `a = 1` in one word: the spaces around the operator are not the value's.
                    let field = &one[..at];
                    if field.ends_with(' ') {
                        value = value.trim_start_matches(' ');
                    }
                    (field.to_string(), *op, value.to_string())
                }
            }
            [f, o] if o == "?" => (f.clone(), Op::Exists, String::new()),
            [f, o, v] => {
                let o = if o == "==" { "=" } else { o.as_str() };
                let op = OPS
                    .iter()
                    .find(|(s, _)| *s == o)
                    .map(|(_, op)| *op)
                    .with_context(|| format!("unknown operator `{o}` (use = != ~ !~ < <= > >=)"))?;
                (f.clone(), op, v.clone())
            }
            _ => bail!("expected FIELD OP VALUE (one word or three) or FIELD?"),
        };
        let field = jq_path(&field);
        let value = unquote(&value)?;
        if field.is_empty() {
            bail!("the field name is empty");
        }
        let regex = match op {
            Op::Match | Op::NotMatch => {
                Some(Regex::new(&value).with_context(|| format!("bad pattern {value:?}"))?)
            }
            _ => None,
        };
        Ok(Condition {
            path: split_path(&field),
            op,
            number: Decimal::parse(&value),
            value,
            regex,
        })
    }

    /// Whether a record passes.
    pub fn holds(&self, rec: &crate::item::Record, scratch: &mut Vec<u8>) -> bool {
        let mut test = |v: Val<'_>, op: Op| self.any(v, op, scratch);
        match self.op {
            Op::Exists => at_path(rec.root(), &self.path, &mut |_| true),
            Op::Ne => !at_path(rec.root(), &self.path, &mut |v| test(v, Op::Eq)),
            Op::NotMatch => !at_path(rec.root(), &self.path, &mut |v| test(v, Op::Match)),
            op => at_path(rec.root(), &self.path, &mut |v| test(v, op)),
        }
    }

    /// Whether `op` holds for `v`, or for an element of `v` if it is an array (of arrays…).
    fn any(&self, v: Val<'_>, op: Op, scratch: &mut Vec<u8>) -> bool {
        elements(v, |e| self.test(e, op, scratch))
    }

    fn test(&self, v: Val<'_>, op: Op, scratch: &mut Vec<u8>) -> bool {
        scratch.clear();
        v.write_text(scratch);
        let text = std::str::from_utf8(scratch).unwrap_or("");
        if op == Op::Match {
            return self.regex.as_ref().is_some_and(|r| r.is_match(text));
        }
        let ord = match (&self.number, Decimal::parse(text)) {
            (Some(b), Some(a)) => a.of(text).cmp(&b.of(&self.value)),
            _ => text.cmp(self.value.as_str()),
        };
        match op {
            Op::Eq => ord == Ordering::Equal,
            Op::Lt => ord == Ordering::Less,
            Op::Le => ord != Ordering::Greater,
            Op::Gt => ord == Ordering::Greater,
            Op::Ge => ord != Ordering::Less,
            _ => unreachable!("handled by the caller"),
        }
    }
}

/// Whether `f` holds for `v`, or, if `v` is an array, for one of its elements that is not
/// an array (nested arrays are looked into, in a loop: any depth takes no stack).
fn elements(v: Val<'_>, mut f: impl FnMut(Val<'_>) -> bool) -> bool {
    if v.ty() != Type::Array {
        return f(v);
    }
    let mut walk = v.walk();
    while let Some(step) = walk.next() {
        if let Step::Open(e) = step {
            match e.ty() {
                Type::Array => {}
                Type::Object => {
                    walk.skip_contents();
                    if f(e) {
                        return true;
                    }
                }
                _ => {
                    if f(e) {
                        return true;
                    }
                }
            }
        }
    }
    false
}

/// Whether `f` holds for some value at `path` under `v`. A step that is not an index goes
/// into every element of an array (`stops.name` on `{"stops": [{"name": …}, …]}`). Each
/// call takes a step of the path, so the depth of the calls is bounded by the path's.
fn at_path(v: Val<'_>, path: &[String], f: &mut dyn FnMut(Val<'_>) -> bool) -> bool {
    let Some((k, rest)) = path.split_first() else {
        return f(v);
    };
    match v.ty() {
        Type::Object => v.get(k).is_some_and(|m| at_path(m, rest, f)),
        Type::Array => match k.parse::<usize>() {
            Ok(i) => v.items().nth(i).is_some_and(|m| at_path(m, rest, f)),
            // The objects among the elements (of nested arrays too) take the step.
            Err(_) => elements(v, |m| m.ty() == Type::Object && at_path(m, path, f)),
        },
        _ => false,
    }
}

/// A number in JSON's syntax, leniently (leading/trailing spaces, a `+` sign, `1.`, `.5`):
/// where its sign, digits and exponent are in its text. Two numbers compare by their exact
/// decimal values, whatever their size or precision (`9007199254740993` is more than
/// `9007199254740992`, `1e400` than `1e399`, and `22` = `22.0` = `2.2e1`); no f64.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Decimal {
    neg: bool,
    /// The byte ranges of the integer digits and of the fraction digits.
    int: (usize, usize),
    frac: (usize, usize),
    /// The exponent (saturated far beyond any digit count).
    exp: i64,
}

/// A [`Decimal`] with its text.
struct Num<'a> {
    d: Decimal,
    text: &'a [u8],
}

impl Decimal {
    fn parse(s: &str) -> Option<Decimal> {
        let b = s.as_bytes();
        let start = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
        let end = b.len()
            - b[start..]
                .iter()
                .rev()
                .take_while(|c| c.is_ascii_whitespace())
                .count();
        let mut i = start;
        let neg = b.get(i) == Some(&b'-');
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        let digits = |i: &mut usize| {
            let s = *i;
            while *i < end && b[*i].is_ascii_digit() {
                *i += 1;
            }
            (s, *i)
        };
        let int = digits(&mut i);
        let mut frac = (i, i);
        if i < end && b[i] == b'.' {
            i += 1;
            frac = digits(&mut i);
        }
        if int.0 == int.1 && frac.0 == frac.1 {
            return None;
        }
        let mut exp = 0i64;
        if i < end && (b[i] == b'e' || b[i] == b'E') {
            i += 1;
            let eneg = i < end && b[i] == b'-';
            if i < end && (b[i] == b'-' || b[i] == b'+') {
                i += 1;
            }
            let (s, e) = digits(&mut i);
            if s == e {
                return None;
            }
            for &c in &b[s..e] {
                exp = exp
                    .saturating_mul(10)
                    .saturating_add(i64::from(c - b'0'))
                    .min(1 << 60);
            }
            if eneg {
                exp = -exp;
            }
        }
        if i != end {
            return None;
        }
        Some(Decimal {
            neg,
            int,
            frac,
            exp,
        })
    }

    fn of<'a>(&self, text: &'a str) -> Num<'a> {
        Num {
            d: *self,
            text: text.as_bytes(),
        }
    }
}

impl Num<'_> {
    /// The significant digits (the integer and fraction digits without leading and
    /// trailing zeros) as a function of k (the k-th from the most significant), their
    /// count, and the power of ten of the first; None for zero.
    fn digits(&self) -> Option<(impl Fn(usize) -> u8 + '_, usize, i64)> {
        let d = &self.d;
        let int = &self.text[d.int.0..d.int.1];
        let frac = &self.text[d.frac.0..d.frac.1];
        let all = int.len() + frac.len();
        let at = move |k: usize| {
            if k < int.len() {
                int[k]
            } else {
                frac[k - int.len()]
            }
        };
        let lead = (0..all).take_while(|&k| at(k) == b'0').count();
        if lead == all {
            return None;
        }
        let trail = (lead..all).rev().take_while(|&k| at(k) == b'0').count();
        let n = all - lead - trail;
        let top = (int.len() as i64 - 1 - lead as i64).saturating_add(d.exp);
        Some((move |k: usize| at(lead + k), n, top))
    }

    fn cmp(&self, other: &Num<'_>) -> Ordering {
        let (a, b) = (self.digits(), other.digits());
        let sign = |zero: bool, neg: bool| match (zero, neg) {
            (true, _) => 0,
            (false, true) => -1,
            (false, false) => 1,
        };
        let (sa, sb) = (
            sign(a.is_none(), self.d.neg),
            sign(b.is_none(), other.d.neg),
        );
        if sa != sb {
            return sa.cmp(&sb);
        }
        let (Some((da, na, ta)), Some((db, nb, tb))) = (a, b) else {
            return Ordering::Equal; // both zero
        };
        let magnitude = ta.cmp(&tb).then_with(|| {
            (0..na.min(nb))
                .map(|k| da(k).cmp(&db(k)))
                .find(|o| o.is_ne())
                .unwrap_or(na.cmp(&nb))
        });
        if sa < 0 {
            magnitude.reverse()
        } else {
            magnitude
        }
    }
}

/// The field of a condition as jq and Miller users write it: `.a.b` (jq) and `$a` (Miller)
/// are `a.b` and `a`; `.["a"]` is not understood (it stays as written).
fn jq_path(field: &str) -> String {
    let f = field.trim();
    let f = f.strip_prefix('$').unwrap_or(f);
    let f = match f.strip_prefix('.') {
        Some(rest) if !rest.is_empty() && !rest.starts_with(['.', '[']) => rest,
        _ => f,
    };
    f.to_string()
}

/// A value in double quotes is a JSON string (`"1"` is 1, `"a \"b\""` is `a "b"`); in
/// single quotes, the text between them. Others are as written.
fn unquote(value: &str) -> Result<String> {
    let v = value.trim_end_matches(' ');
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        return serde_json::from_str::<String>(v)
            .with_context(|| format!("bad quoted value {v} (a JSON string: escape \\ and \")"));
    }
    if v.len() >= 2 && v.starts_with('\'') && v.ends_with('\'') {
        return Ok(v[1..v.len() - 1].to_string());
    }
    Ok(value.to_string())
}

/// Spellings from jq and Miller that `where` cannot say: refused at build time with a hint,
/// rather than matching nothing.
fn refuse_habits(words: &[String]) -> Result<()> {
    let all = words.join(" ");
    let t = all.trim();
    if t.starts_with("select(") {
        bail!("`{t}` is jq: write `jq '{t}'`, or `where FIELD OP VALUE` (`where a=1`)");
    }
    for (op, say) in [
        ("&&", "chain `where`s for AND (`where a=1 : where b=2`)"),
        ("||", "use `jq 'select(.a == 1 or .b == 2)'` for OR"),
        (" and ", "chain `where`s for AND (`where a=1 : where b=2`)"),
        (" or ", "use `jq 'select(.a == 1 or .b == 2)'` for OR"),
    ] {
        if words.len() == 1 && t.contains(op) && !t.contains(['~']) && looks_like_two(t, op) {
            bail!("`where` takes one condition, not `{t}`: {say}");
        }
    }
    Ok(())
}

/// Whether both sides of `op` in `t` hold an operator, as two conditions do
/// (`a=1 && b=2`), unlike a value that contains the word (`dir=North and South`).
fn looks_like_two(t: &str, op: &str) -> bool {
    let ops = ['=', '!', '<', '>'];
    t.split(op).filter(|part| part.contains(ops)).count() >= 2
}

struct Where {
    cond: Condition,
    scratch: Vec<u8>,
    next: Box<dyn Stage>,
}

impl Stage for Where {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        match item {
            Item::Record(r) if !self.cond.holds(r, &mut self.scratch) => Ok(Flow::Continue),
            _ => self.next.send(item),
        }
    }

    crate::pass_on!(origin, flush, close);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::Record;
    use serde_json::json;

    fn holds(cond: &[&str], v: serde_json::Value) -> bool {
        let words: Vec<String> = cond.iter().map(|s| s.to_string()).collect();
        let c = Condition::parse(&words).unwrap();
        c.holds(&Record::from(v.as_object().unwrap()), &mut Vec::new())
    }

    #[test]
    fn operators() {
        let r = json!({"route": "22", "dir": "North Bound", "n": 9.5, "ok": true, "z": null});
        assert!(holds(&["route=22"], r.clone()));
        assert!(holds(&["route=22.0"], r.clone()));
        assert!(!holds(&["route!=22"], r.clone()));
        assert!(holds(&["dir=North Bound"], r.clone()));
        assert!(holds(&["dir", "=", "North Bound"], r.clone()));
        assert!(holds(&["dir~^North"], r.clone()));
        assert!(holds(&["dir!~South"], r.clone()));
        assert!(holds(&["n>9"], r.clone()));
        assert!(holds(&["n<10"], r.clone()));
        assert!(holds(&["n", ">=", "9.5"], r.clone()));
        assert!(holds(&["n<=9.5"], r.clone()));
        assert!(
            !holds(&["route<3"], r.clone()),
            "numeric, not string, comparison"
        );
        assert!(holds(&["dir<P"], r.clone()), "string comparison");
        assert!(holds(&["ok=true"], r.clone()));
        assert!(holds(&["z="], r.clone()));
        assert!(holds(&["route?"], r.clone()));
        assert!(!holds(&["nope?"], r.clone()));
        assert!(!holds(&["nope=1"], r.clone()));
        assert!(holds(&["nope!=1"], r.clone()));
        assert!(!holds(&["nope<1"], r));
    }

    #[test]
    fn paths_and_arrays() {
        let r = json!({"stop": {"name": "A", "ids": ["1", "7"]}, "tags": [{"k": "x"}, {"k": "y"}]});
        assert!(holds(&["stop.name=A"], r.clone()));
        assert!(holds(&["stop.ids=7"], r.clone()));
        assert!(holds(&["stop.ids>5"], r.clone()));
        assert!(!holds(&["stop.ids!=7"], r.clone()));
        assert!(holds(&["stop.ids.0=1"], r.clone()));
        assert!(
            holds(&["tags.k=y"], r.clone()),
            "a step goes into every element"
        );
        assert!(!holds(&["tags.k=z"], r.clone()));
        assert!(holds(&["tags.k?"], r.clone()));
        assert!(holds(&["tags.1.k=y"], r));
    }

    #[test]
    fn jq_and_miller_spellings_mean_what_they_say() {
        let r = json!({"a": "1", "b": {"c": 2}, "s": "x y", "q": "\"hi\""});
        for cond in [
            &["a==1"][..],
            &[".a == \"1\""],
            &["a = \"1\""],
            &["a = 1"],
            &["$a = 1"],
            &[".a", "==", "1"],
            &[".b.c", "==", "2"],
            &["s == \"x y\""],
            &["s='x y'"],
            &["q=\"\\\"hi\\\"\""],
            &["b.c >= 2"],
            &["a != 2"],
        ] {
            assert!(holds(cond, r.clone()), "{cond:?}");
        }
        for cond in [&["a==2"][..], &[".a == \"2\""], &["s = 'x'"], &["q=hi"]] {
            assert!(!holds(cond, r.clone()), "{cond:?}");
        }
    }

    #[test]
    fn spellings_that_cannot_match_are_refused_with_a_hint() {
        let err = |cond: &[&str]| {
            let words: Vec<String> = cond.iter().map(|s| s.to_string()).collect();
            format!("{:#}", Condition::parse(&words).unwrap_err())
        };
        assert!(err(&[".a"]).contains("did you mean `where a?`"));
        assert!(err(&["a=1 && b=2"]).contains("chain `where`s"));
        assert!(err(&["a=1 and b=2"]).contains("chain `where`s"));
        assert!(err(&["a=1 || b=2"]).contains("jq 'select("));
        assert!(err(&["select(.a == 1)"]).contains("is jq"));
        assert!(err(&["a = \"unclosed\\\""]).contains("bad quoted value"));
        // A value that only contains the words is a value.
        assert!(holds(
            &["d=North and South"],
            json!({"d": "North and South"})
        ));
    }

    #[test]
    fn bad_conditions() {
        for bad in [&["route"][..], &["=1"], &["a", "<>", "1"], &["a~("]] {
            let words: Vec<String> = bad.iter().map(|s| s.to_string()).collect();
            assert!(Condition::parse(&words).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn numbers() {
        let d = |s: &str| Decimal::parse(s).is_some();
        assert!(d("22") && d(" -1.5e3 ") && d("1.") && d(".5") && d("+3") && d("1e400"));
        assert!(!d("inf") && !d(".") && !d("0x10") && !d("1e") && !d("") && !d("-"));
    }

    fn cmp(a: &str, b: &str) -> Ordering {
        let (x, y) = (Decimal::parse(a).unwrap(), Decimal::parse(b).unwrap());
        x.of(a).cmp(&y.of(b))
    }

    #[test]
    fn numbers_compare_exactly_at_any_size() {
        use Ordering::*;
        for (a, b, want) in [
            ("9007199254740993", "9007199254740992", Greater),
            ("18446744073709551617", "18446744073709551616", Greater),
            (
                "123456789012345678901234567890",
                "123456789012345678901234567890.0",
                Equal,
            ),
            ("-9007199254740993", "-9007199254740992", Less),
            ("22", "22.0", Equal),
            ("22", "2.2e1", Equal),
            ("220e-1", "22", Equal),
            ("0", "-0.0", Equal),
            ("0", "0e99", Equal),
            ("-1", "0", Less),
            ("0.1", "0.09", Greater),
            ("1e400", "1e399", Greater),
            ("1e400", "1.7976931348623157e308", Greater),
            ("-1e400", "-1e399", Less),
            ("1e-400", "0", Greater),
            ("0.30000000000000001", "0.3", Greater),
            (" 7 ", "7", Equal),
            ("1.5", "1.25", Greater),
            ("100", "99.999999999999999999", Greater),
            // Exponents with more digits than an i64 holds saturate, never wrap (found by
            // tests/it/ndjson_fuzz.rs: `1e23456789012345678901` overflowed the exponent).
            ("1e23456789012345678901", "1", Greater),
            ("1e23456789012345678901", "1e400", Greater),
            ("1e-23456789012345678901", "0", Greater),
            ("1e-23456789012345678901", "1e-400", Less),
            ("-1e99999999999999999999999", "-1", Less),
        ] {
            assert_eq!(cmp(a, b), want, "{a} vs {b}");
            assert_eq!(cmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn where_compares_integers_beyond_64_bits_exactly() {
        let mut r = Record::new();
        let mut p = crate::record::JsonParser::new();
        p.parse(
            br#"{"id":9007199254740993,"big":123456789012345678901234567891}"#,
            &mut r,
        )
        .unwrap();
        let holds = |c: &str| {
            Condition::parse(&[c.to_string()])
                .unwrap()
                .holds(&r, &mut Vec::new())
        };
        assert!(!holds("id=9007199254740992"));
        assert!(holds("id=9007199254740993"));
        assert!(holds("id>9007199254740992"));
        assert!(holds("big>123456789012345678901234567890"));
        assert!(!holds("big=123456789012345678901234567890"));
    }

    #[test]
    fn deeply_nested_arrays_take_no_stack() {
        let n = 1_000_000;
        let t = format!(
            r#"{{"a":{}1{},"b":{}{{"c":2}}{}}}"#,
            "[".repeat(n),
            "]".repeat(n),
            "[".repeat(n),
            "]".repeat(n)
        );
        let mut r = Record::new();
        crate::record::JsonParser::new()
            .parse(t.as_bytes(), &mut r)
            .unwrap();
        let holds = |c: &str| {
            Condition::parse(&[c.to_string()])
                .unwrap()
                .holds(&r, &mut Vec::new())
        };
        assert!(holds("a=1"));
        assert!(!holds("a=2"));
        assert!(holds("b.c=2"));
        assert!(holds("b.c?"));
    }
}
