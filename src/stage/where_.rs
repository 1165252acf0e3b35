//! `where FIELD OP VALUE` / `where FIELD?` — keep the records whose field compares.
//!
//! Accepts records; emits records. The condition is one word (`route=22`,
//! `direction=North Bound` — the shell has already removed the quotes) or three
//! (`route = 22`). Operators: `=`, `!=`, `~` (regex search), `!~`, `<`, `<=`, `>`, `>=`;
//! `FIELD?` keeps records that have the field. FIELD is a dotted path (`stop.name`,
//! `stops.0`); a step that is not an index goes into every element of an array.
//!
//! Comparison: numeric when both sides are numbers (`22` = `22.0`), else as strings
//! (bytewise). A string, number or bool field compares by its text; null by the empty
//! string; an object by its compact JSON. On an array the condition holds when it holds
//! for any element. `!=` and `!~` are the negations of `=` and `~` (so a record without the
//! field, or whose array has no equal element, passes `!=`); the other operators need the
//! field. Several `where` in a row are an AND.

use std::cmp::Ordering;

use anyhow::{Context, Result, bail};
use clap::{ArgMatches, FromArgMatches, Parser};
use regex::Regex;

use crate::item::{Item, Kind, Type, Val, split_path};
use crate::pipeline::registry::{Build, BuildCx, Emits, Role, StageDef};
use crate::stage::{Flow, Stage};

/// Keep records whose FIELD compares with VALUE (= != ~ !~ < <= > >=), or that have FIELD?.
///
/// Numeric comparison when both sides are numbers, else string comparison. On an array the
/// condition holds if it holds for any element. `!=` is "not =". FIELD may be a dotted
/// path. Write the condition as one word (`route=22`, `'direction=North Bound'`) or three
/// (`route = 22`).
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
    number: Option<f64>,
    regex: Option<Regex>,
}

impl Condition {
    pub fn parse(words: &[String]) -> Result<Self> {
        let (field, op, value) = match words {
            [one] => {
                if let Some(f) = one.strip_suffix('?')
                    && !f.contains(['=', '!', '~', '<', '>'])
                {
                    (f.to_string(), Op::Exists, String::new())
                } else {
                    let at = one.find(['=', '!', '~', '<', '>']).with_context(|| {
                        format!("no operator in `{one}` (use = != ~ !~ < <= > >= or FIELD?)")
                    })?;
                    let rest = &one[at..];
                    let (sym, op) = OPS
                        .iter()
                        .find(|(s, _)| rest.starts_with(s))
                        .with_context(|| format!("bad operator in `{one}`"))?;
                    (one[..at].to_string(), *op, rest[sym.len()..].to_string())
                }
            }
            [f, o] if o == "?" => (f.clone(), Op::Exists, String::new()),
            [f, o, v] => {
                let op = OPS
                    .iter()
                    .find(|(s, _)| s == o)
                    .map(|(_, op)| *op)
                    .with_context(|| format!("unknown operator `{o}` (use = != ~ !~ < <= > >=)"))?;
                (f.clone(), op, v.clone())
            }
            _ => bail!("expected FIELD OP VALUE (one word or three) or FIELD?"),
        };
        let field = field.trim().to_string();
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
            number: parse_number(&value),
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

    fn any(&self, v: Val<'_>, op: Op, scratch: &mut Vec<u8>) -> bool {
        if v.ty() == Type::Array {
            return v.items().any(|i| self.any(i, op, scratch));
        }
        scratch.clear();
        v.write_text(scratch);
        let text = std::str::from_utf8(scratch).unwrap_or("");
        if op == Op::Match {
            return self.regex.as_ref().is_some_and(|r| r.is_match(text));
        }
        let ord = match (self.number, parse_number(text)) {
            (Some(b), Some(a)) => a.partial_cmp(&b).unwrap_or(Ordering::Less),
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

/// Whether `f` holds for some value at `path` under `v`. A step that is not an index goes
/// into every element of an array (`stops.name` on `{"stops": [{"name": …}, …]}`).
fn at_path(v: Val<'_>, path: &[String], f: &mut dyn FnMut(Val<'_>) -> bool) -> bool {
    let Some((k, rest)) = path.split_first() else {
        return f(v);
    };
    match v.ty() {
        Type::Object => v.get(k).is_some_and(|m| at_path(m, rest, f)),
        Type::Array => match k.parse::<usize>() {
            Ok(i) => v.items().nth(i).is_some_and(|m| at_path(m, rest, f)),
            Err(_) => v.items().any(|m| at_path(m, path, f)),
        },
        _ => false,
    }
}

/// A number in JSON's syntax (leading/trailing spaces allowed), as f64.
fn parse_number(s: &str) -> Option<f64> {
    let t = s.trim();
    let b = t.as_bytes();
    let mut i = 0;
    if b.first() == Some(&b'-') || b.first() == Some(&b'+') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let s = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > s
    };
    let int = digits(&mut i);
    let mut frac = false;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        frac = digits(&mut i);
    }
    if !int && !frac {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        if !digits(&mut i) {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    t.parse().ok()
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
    fn bad_conditions() {
        for bad in [&["route"][..], &["=1"], &["a", "<>", "1"], &["a~("]] {
            let words: Vec<String> = bad.iter().map(|s| s.to_string()).collect();
            assert!(Condition::parse(&words).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number("22"), Some(22.0));
        assert_eq!(parse_number(" -1.5e3 "), Some(-1500.0));
        assert_eq!(parse_number("inf"), None);
        assert_eq!(parse_number("1."), Some(1.0));
        assert_eq!(parse_number("."), None);
        assert_eq!(parse_number("0x10"), None);
    }
}
