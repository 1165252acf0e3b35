//! The conversion between copipe's records and jaq's values, both ways, without JSON text
//! in between: a record's nodes become jaq values in one walk over them (a number keeps its
//! text: jaq reads it as an integer, or keeps the decimal literal as it was written), and a
//! jaq value becomes a record's nodes (or compact JSON text, for a value that is not an
//! object) in one walk over it. Both walks are loops with an explicit stack, never a
//! recursion, so any depth of nesting is safe.
//!
//! Numbers that jaq computed as floats are written the way jq writes them: an integral value
//! below 10^17 without a fraction (`3`, not `3.0`), NaN as `null`, the infinities as the
//! largest finite doubles, others in their shortest round-trip form with jq's `e+`.

use jaq_json::{Map, Num, Rc, Val as JVal};

use crate::item::{Type, Val};
use crate::record::{NodeId, ROOT, Record, Step, write_json_str};

/// How deep a record given to jaq may be nested: jaq walks values (and drops them) by
/// recursion, so a deeper value could overflow the stack (jq 1.6 refuses JSON nested
/// deeper than 256 levels, jq 1.7 deeper than 10,000).
pub const MAX_DEPTH: usize = 512;

/// The jaq values of the keys seen lately: a record's keys are mostly the previous record's,
/// and a clone of a jaq string is one allocation where a new one is two and a copy.
#[derive(Default)]
pub struct Keys {
    map: jaq_json::Map<Box<str>, JVal>,
    /// The bytes of the keys held.
    bytes: usize,
}

impl Keys {
    /// More distinct keys (or bytes of keys) than this and the cache starts again: keys that
    /// are data, such as ids, would make it grow without end. Longer keys are not kept.
    const MAX: usize = 4096;
    const MAX_BYTES: usize = 1 << 20;
    const MAX_KEY: usize = 256;

    fn get(&mut self, key: &str) -> JVal {
        if let Some(v) = self.map.get(key) {
            return v.clone();
        }
        let v = JVal::from(key.to_string());
        if key.len() > Self::MAX_KEY {
            return v;
        }
        if self.map.len() >= Self::MAX || self.bytes + key.len() > Self::MAX_BYTES {
            self.map.clear();
            self.bytes = 0;
        }
        self.bytes += key.len();
        self.map.insert(key.into(), v.clone());
        v
    }
}

/// The jaq value of a record's value (of a whole record: `rec.root()`); `None` if it is
/// nested deeper than [`MAX_DEPTH`].
pub fn to_jaq(v: Val<'_>, keys: &mut Keys) -> Option<JVal> {
    to_jaq_within(v, keys, MAX_DEPTH)
}

/// The jaq object of only these top-level fields of a record (those a filter reads: see
/// `needs`); `None` if one is nested deeper than [`MAX_DEPTH`].
pub fn to_jaq_fields(rec: &Record, fields: &[String], keys: &mut Keys) -> Option<JVal> {
    let mut map = Map::with_capacity_and_hasher(fields.len(), Default::default());
    for (k, v) in rec.fields() {
        if fields.iter().any(|f| f == k) {
            map.insert(keys.get(k), to_jaq_within(v, keys, MAX_DEPTH - 1)?);
        }
    }
    Some(JVal::obj(map))
}

fn to_jaq_within(v: Val<'_>, keys: &mut Keys, max_depth: usize) -> Option<JVal> {
    enum Open {
        Arr(Vec<JVal>),
        Obj(Map),
    }
    // The arrays and objects being built, innermost last, with their keys.
    let mut open: Vec<(&str, Open)> = Vec::new();
    for step in v.walk() {
        let (key, val) = match step {
            Step::Open(x) => {
                let val = match x.ty() {
                    Type::Null => JVal::Null,
                    Type::Bool => JVal::Bool(x.text() == "true"),
                    Type::Number => number(x.text()),
                    Type::String => JVal::from(x.text().to_string()),
                    Type::Array | Type::Object if open.len() == max_depth => return None,
                    Type::Array => {
                        open.push((x.key(), Open::Arr(Vec::with_capacity(x.len()))));
                        continue;
                    }
                    Type::Object => {
                        let map = Map::with_capacity_and_hasher(x.len(), Default::default());
                        open.push((x.key(), Open::Obj(map)));
                        continue;
                    }
                };
                (x.key(), val)
            }
            Step::Close(_) => match open.pop().expect("a close follows its open") {
                (k, Open::Arr(a)) => (k, JVal::Arr(Rc::new(a))),
                (k, Open::Obj(o)) => (k, JVal::obj(o)),
            },
        };
        match open.last_mut() {
            Some((_, Open::Arr(a))) => a.push(val),
            Some((_, Open::Obj(o))) => {
                o.insert(keys.get(key), val);
            }
            None => return Some(val),
        }
    }
    unreachable!("a walk closes what it opens")
}

/// A number's text as a jaq number: an integer (of any size) as one, else the decimal
/// literal kept as it is (jaq makes it a float when it computes with it).
fn number(text: &str) -> JVal {
    <JVal as jaq_core::ValT>::from_num(text).unwrap_or(JVal::Null)
}

/// A step of a walk over a jaq value.
enum Ev<'a> {
    /// A value (a scalar, or the start of an array or object), with its key in an object.
    Open(Option<&'a JVal>, &'a JVal),
    /// The end of an array (`true`) or an object.
    Close(bool),
}

/// The values of a jaq value in document order, in a loop.
struct Walk<'a> {
    first: Option<&'a JVal>,
    /// The open arrays and objects, and the index of the next member in each.
    stack: Vec<(&'a JVal, usize)>,
}

impl<'a> Walk<'a> {
    fn new(v: &'a JVal) -> Self {
        Walk {
            first: Some(v),
            stack: Vec::new(),
        }
    }

    fn open(&mut self, key: Option<&'a JVal>, v: &'a JVal) -> Ev<'a> {
        if matches!(v, JVal::Arr(_) | JVal::Obj(_)) {
            self.stack.push((v, 0));
        }
        Ev::Open(key, v)
    }
}

impl<'a> Iterator for Walk<'a> {
    type Item = Ev<'a>;

    fn next(&mut self) -> Option<Ev<'a>> {
        if let Some(v) = self.first.take() {
            return Some(self.open(None, v));
        }
        let (c, i) = self.stack.last_mut()?;
        let c: &'a JVal = c;
        let at = *i;
        *i += 1;
        match c {
            JVal::Arr(a) => match a.get(at) {
                Some(x) => Some(self.open(None, x)),
                None => {
                    self.stack.pop();
                    Some(Ev::Close(true))
                }
            },
            JVal::Obj(o) => match o.get_index(at) {
                Some((k, x)) => Some(self.open(Some(k), x)),
                None => {
                    self.stack.pop();
                    Some(Ev::Close(false))
                }
            },
            _ => unreachable!("only arrays and objects are pushed"),
        }
    }
}

/// The text of an object key: a string as it is (invalid UTF-8 as U+FFFD), another value
/// (jaq allows them; JSON does not) as its JSON text.
fn key_text<'a>(k: &'a JVal, scratch: &'a mut String) -> &'a str {
    match k {
        JVal::TStr(b) | JVal::BStr(b) => match std::str::from_utf8(b) {
            Ok(s) => s,
            Err(_) => {
                *scratch = String::from_utf8_lossy(b).into_owned();
                scratch
            }
        },
        other => {
            let mut out = Vec::new();
            write_json(other, &mut out);
            *scratch = String::from_utf8_lossy(&out).into_owned();
            scratch
        }
    }
}

/// Write a number as jq does (see the module docs); `false` for NaN, which jq writes as
/// null.
fn number_text(n: &Num, out: &mut String) -> bool {
    use std::fmt::Write;
    match n {
        Num::Float(x) if x.is_nan() => return false,
        Num::Float(x) if x.is_infinite() => {
            let s = if *x > 0.0 { "" } else { "-" };
            let _ = write!(out, "{s}1.7976931348623157e+308");
        }
        Num::Float(x) if x.fract() == 0.0 && x.abs() < 1e17 => {
            let _ = write!(out, "{x:.0}");
        }
        Num::Float(x) => {
            let mut b = ryu::Buffer::new();
            let s = b.format_finite(*x);
            match s.find('e') {
                Some(e) if !s[e + 1..].starts_with('-') => {
                    out.push_str(&s[..=e]);
                    out.push('+');
                    out.push_str(&s[e + 1..]);
                }
                _ => out.push_str(s),
            }
        }
        Num::Int(i) => out.push_str(itoa::Buffer::new().format(*i)),
        Num::Dec(text) => out.push_str(text),
        other => {
            let _ = write!(out, "{other}");
        }
    }
    true
}

/// Append the compact JSON text of `v` to `out` (jq's `-c`).
pub fn write_json(v: &JVal, out: &mut Vec<u8>) {
    let mut num = String::new();
    let mut key = String::new();
    // Whether a comma goes before the next member, per open array or object.
    let mut firsts: Vec<bool> = Vec::new();
    for ev in Walk::new(v) {
        match ev {
            Ev::Open(k, x) => {
                if let Some(first) = firsts.last_mut() {
                    if !*first {
                        out.push(b',');
                    }
                    *first = false;
                }
                if let Some(k) = k {
                    write_json_str(out, key_text(k, &mut key));
                    out.push(b':');
                }
                match x {
                    JVal::Null => out.extend_from_slice(b"null"),
                    JVal::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
                    JVal::Num(n) => {
                        num.clear();
                        if number_text(n, &mut num) {
                            out.extend_from_slice(num.as_bytes());
                        } else {
                            out.extend_from_slice(b"null");
                        }
                    }
                    JVal::TStr(b) | JVal::BStr(b) => match std::str::from_utf8(b) {
                        Ok(s) => write_json_str(out, s),
                        Err(_) => write_json_str(out, &String::from_utf8_lossy(b)),
                    },
                    JVal::Arr(_) => {
                        out.push(b'[');
                        firsts.push(true);
                    }
                    JVal::Obj(_) => {
                        out.push(b'{');
                        firsts.push(true);
                    }
                }
            }
            Ev::Close(arr) => {
                firsts.pop();
                out.push(if arr { b']' } else { b'}' });
            }
        }
    }
}

/// Fill `rec` (cleared first) with the members of the object `v`; `false` if `v` is not an
/// object (and `rec` is left empty).
pub fn fill_record(v: &JVal, rec: &mut Record, num: &mut String) -> bool {
    rec.clear();
    if !matches!(v, JVal::Obj(_)) {
        return false;
    }
    let mut key = String::new();
    // The node of each open array or object; the root for the object itself.
    let mut parents: Vec<NodeId> = Vec::new();
    for ev in Walk::new(v) {
        match ev {
            Ev::Open(None, _) if parents.is_empty() => parents.push(ROOT),
            Ev::Open(k, x) => {
                let parent = *parents.last().expect("inside the object");
                let name = match k {
                    Some(k) => key_text(k, &mut key),
                    None => "",
                };
                match x {
                    JVal::Null => {
                        rec.add_scalar(parent, name, Type::Null, "");
                    }
                    JVal::Bool(b) => {
                        rec.add_scalar(parent, name, Type::Bool, if *b { "true" } else { "false" });
                    }
                    JVal::Num(n) => {
                        num.clear();
                        if number_text(n, num) {
                            rec.add_scalar(parent, name, Type::Number, num);
                        } else {
                            rec.add_scalar(parent, name, Type::Null, "");
                        }
                    }
                    JVal::TStr(b) | JVal::BStr(b) => match std::str::from_utf8(b) {
                        Ok(s) => {
                            rec.add_scalar(parent, name, Type::String, s);
                        }
                        Err(_) => {
                            let s = String::from_utf8_lossy(b).into_owned();
                            rec.add_scalar(parent, name, Type::String, &s);
                        }
                    },
                    JVal::Arr(_) => parents.push(rec.add(parent, "", name, Type::Array)),
                    JVal::Obj(_) => parents.push(rec.add(parent, "", name, Type::Object)),
                }
            }
            Ev::Close(_) => {
                parents.pop();
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(json: &str) -> Record {
        let mut r = Record::new();
        crate::record::JsonParser::new()
            .parse(json.as_bytes(), &mut r)
            .unwrap();
        r
    }

    #[test]
    fn records_go_to_jaq_and_back_unchanged() {
        for json in [
            r#"{}"#,
            r#"{"a":1,"b":"x\"y\u007f\n","c":[1,2.50,{"d":null,"e":[]}],"f":{},"g":true,"h":false}"#,
            r#"{"big":123456789012345678901234567890,"e":1.5e3,"neg":-0.0,"u":"é€😀"}"#,
            r#"{"a":{"b":{"c":{"d":[[[[]]]]}}}}"#,
        ] {
            let r = rec(json);
            let v = to_jaq(r.root(), &mut Keys::default()).unwrap();
            let mut out = Vec::new();
            write_json(&v, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), json);
            let mut back = Record::new();
            assert!(fill_record(&v, &mut back, &mut String::new()));
            assert_eq!(back.to_json(), json);
        }
    }

    #[test]
    fn only_the_fields_read_are_converted() {
        let r = rec(r#"{"a":1,"b":{"c":[2]},"d":"x","a":3}"#);
        let fields = vec!["b".to_string(), "a".to_string(), "zz".to_string()];
        let v = to_jaq_fields(&r, &fields, &mut Keys::default()).unwrap();
        let mut out = Vec::new();
        write_json(&v, &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"a":3,"b":{"c":[2]}}"#);
        // The same depth limit as for the whole record.
        let deep = |n: usize| rec(&format!(r#"{{"a":{}1{}}}"#, "[".repeat(n), "]".repeat(n)));
        let fields = vec!["a".to_string()];
        assert!(to_jaq_fields(&deep(MAX_DEPTH - 1), &fields, &mut Keys::default()).is_some());
        assert!(to_jaq_fields(&deep(MAX_DEPTH), &fields, &mut Keys::default()).is_none());
        assert!(to_jaq(deep(MAX_DEPTH).root(), &mut Keys::default()).is_none());
    }

    #[test]
    fn the_key_cache_stays_bounded() {
        let mut keys = Keys::default();
        for i in 0..20_000 {
            let k = format!("key{i}");
            assert!(matches!(keys.get(&k), JVal::TStr(b) if *b == k.as_bytes()));
            assert!(keys.map.len() <= Keys::MAX && keys.bytes <= Keys::MAX_BYTES);
        }
        let long = "k".repeat(100_000);
        for _ in 0..100 {
            keys.get(&long);
        }
        assert!(keys.bytes <= Keys::MAX_BYTES);
        assert!(!keys.map.contains_key(long.as_str()));
    }

    #[test]
    fn floats_are_written_as_jq_writes_them() {
        let text = |x: f64| {
            let mut s = String::new();
            number_text(&Num::Float(x), &mut s).then_some(s)
        };
        assert_eq!(text(3.0).unwrap(), "3");
        assert_eq!(text(-0.0).unwrap(), "-0");
        assert_eq!(text(0.5).unwrap(), "0.5");
        assert_eq!(text(0.1 + 0.2).unwrap(), "0.30000000000000004");
        assert_eq!(text(1e100).unwrap(), "1e+100");
        assert_eq!(text(1e-7).unwrap(), "1e-7");
        assert_eq!(text(f64::INFINITY).unwrap(), "1.7976931348623157e+308");
        assert_eq!(text(f64::NAN), None);
    }

    #[test]
    fn values_that_are_not_objects_make_no_record() {
        let mut r = rec(r#"{"stale":1}"#);
        assert!(!fill_record(
            &JVal::from("x".to_string()),
            &mut r,
            &mut String::new()
        ));
        assert!(r.is_empty());
    }

    #[test]
    fn deep_values_take_no_stack() {
        let deeper = format!(
            r#"{{"a":{}1{}}}"#,
            "[".repeat(MAX_DEPTH),
            "]".repeat(MAX_DEPTH)
        );
        assert!(to_jaq(rec(&deeper).root(), &mut Keys::default()).is_none());
        let n = MAX_DEPTH - 1;
        let json = format!(r#"{{"a":{}1{}}}"#, "[".repeat(n), "]".repeat(n));
        let r = rec(&json);
        let v = to_jaq(r.root(), &mut Keys::default()).unwrap();
        // Built by hand far deeper than records may be: written in a loop.
        let mut deep = JVal::Null;
        for _ in 0..200_000 {
            deep = JVal::Arr(Rc::new(vec![deep]));
        }
        let mut out = Vec::new();
        write_json(&deep, &mut out);
        assert_eq!(out.len(), 200_000 * 2 + 4);
        unnest(deep);
        let mut out = Vec::new();
        write_json(&v, &mut out);
        assert_eq!(out.len(), json.len());
        let mut back = Record::new();
        fill_record(&v, &mut back, &mut String::new());
        assert_eq!(back.to_json(), json);
        // jaq's values drop recursively: take the nesting apart in a loop.
        unnest(v);
    }

    /// Drop a deeply nested value without recursion (a test helper).
    fn unnest(v: JVal) {
        let mut stack = vec![v];
        while let Some(v) = stack.pop() {
            match v {
                JVal::Arr(a) => stack.extend(Rc::try_unwrap(a).unwrap_or_default()),
                JVal::Obj(o) => stack.extend(Rc::try_unwrap(o).unwrap_or_default().into_values()),
                _ => {}
            }
        }
    }
}
