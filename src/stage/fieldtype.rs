//! Typed fields for the line parsers: `--type port=int,took=float,ok=bool,at=timestamp`.
//!
//! The line parsers (`parse`, `logfmt`, `kv`, `csv`, `tsv`, `syslog`, `combined`) make string fields; a
//! field named by `--type` is converted after the line is parsed: `int` (an optional sign
//! and decimal digits, any size: `007` is 7), `float` (a decimal number, `.5`, `1e3`;
//! written as JSON writes it when it is not in JSON's syntax), `bool` (`true`/`false`,
//! `yes`/`no`, `on`/`off`, `t`/`f`, `y`/`n`, `1`/`0`, in any case), `timestamp` (seconds since
//! the epoch, with the fraction the text has: RFC 3339 and ISO 8601 with `T` or a space,
//! `,` or `.` before the fraction, `Z`, `±HH:MM`, `±HHMM` or `±HH`, or no offset for UTC;
//! the common log format `10/Oct/2000:13:55:36 -0700`, with or without its brackets;
//! seconds since the epoch as they are). A value that does not convert is left as text
//! and counted (a note at the end names the field and the count); with `--strict` it
//! stops the run like a line that does not fit. Conversion is per field, in place, without
//! allocating per line.

use anyhow::{Result, bail};

use crate::item::Type;
use crate::record::Record;
use crate::runtime::notes::{Noted, Notes};

/// A type a field can be given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    Int,
    Float,
    Bool,
    Timestamp,
}

impl FieldType {
    fn name(self) -> &'static str {
        match self {
            FieldType::Int => "int",
            FieldType::Float => "float",
            FieldType::Bool => "bool",
            FieldType::Timestamp => "timestamp",
        }
    }
}

/// The `--type` specifications of a stage, and what did not convert.
#[derive(Clone, Debug, Default)]
pub struct Types {
    /// (field, type, values that did not convert)
    fields: Vec<(String, FieldType, Noted)>,
    scratch: String,
}

impl Types {
    /// Parse `FIELD=TYPE` specifications (each may hold several, separated by commas), for
    /// the notes of `stage`.
    pub fn parse(specs: &[String], stage: &'static str) -> Result<Self> {
        let mut fields: Vec<(String, FieldType)> = Vec::new();
        for spec in specs.iter().flat_map(|s| s.split(',')) {
            let spec = spec.trim();
            if spec.is_empty() {
                continue;
            }
            let Some((name, ty)) = spec.rsplit_once(['=', ':']) else {
                bail!("--type {spec}: write FIELD=TYPE (int, float, bool, timestamp)");
            };
            let ty = match ty.trim().to_ascii_lowercase().as_str() {
                "int" | "integer" => FieldType::Int,
                "float" | "number" | "double" => FieldType::Float,
                "bool" | "boolean" => FieldType::Bool,
                "timestamp" | "time" | "epoch" => FieldType::Timestamp,
                other => bail!(
                    "--type {spec}: unknown type `{other}` (use int, float, bool or timestamp)"
                ),
            };
            let name = name.trim();
            if name.is_empty() {
                bail!("--type {spec}: the field name is empty");
            }
            match fields.iter_mut().find(|f| f.0 == name) {
                Some(f) => f.1 = ty,
                None => fields.push((name.to_string(), ty)),
            }
        }
        let fields = fields
            .into_iter()
            .map(|(name, ty)| {
                let n = name.clone();
                let noted = Noted::new(move |failed| {
                    format!(
                        "copipe: {stage}: {failed} {} of `{n}` did not convert to {} (left as text)",
                        if failed == 1 { "value" } else { "values" },
                        ty.name()
                    )
                });
                (name, ty, noted)
            })
            .collect();
        Ok(Types {
            fields,
            scratch: String::new(),
        })
    }

    /// Register the counts of its notes (see [`crate::runtime::notes`]).
    pub fn register(&self, notes: &Notes) {
        for (_, _, noted) in &self.fields {
            notes.register(noted);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The fields named, for a check against what the parser can make.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|f| f.0.as_str())
    }

    /// Convert the typed fields of `rec` (top-level string fields). A value that does not
    /// convert is left as it is and counted; the first such, as "FIELD: `VALUE` is not an
    /// int", is returned for `--strict`.
    pub fn apply(&mut self, rec: &mut Record) -> Option<String> {
        let mut first = None;
        for (name, ty, failed) in &mut self.fields {
            let Some(v) = rec.get(name) else { continue };
            if v.ty() != Type::String {
                continue;
            }
            let id = v.id();
            self.scratch.clear();
            let text = v.text();
            let out_ty = match convert(*ty, text, &mut self.scratch) {
                Some(t) => t,
                None => {
                    failed.add(1);
                    if first.is_none() {
                        let shown: String = text.chars().take(40).collect();
                        first = Some(format!(
                            "field `{name}`: `{shown}` is not {} {}",
                            if *ty == FieldType::Int { "an" } else { "a" },
                            ty.name()
                        ));
                    }
                    continue;
                }
            };
            rec.set_text(id, out_ty, &self.scratch);
        }
        first
    }

    /// The notes at the end about values that did not convert.
    pub fn report(&self) {
        for (_, _, failed) in &self.fields {
            failed.say();
        }
    }
}

/// Convert `text` to `ty`, writing the new text into `out`; the record type of the result.
fn convert(ty: FieldType, text: &str, out: &mut String) -> Option<Type> {
    let t = text.trim();
    match ty {
        FieldType::Int => int(t, out).then_some(Type::Number),
        FieldType::Float => float(t, out).then_some(Type::Number),
        FieldType::Bool => {
            let b = match t.to_ascii_lowercase().as_str() {
                "true" | "t" | "yes" | "y" | "on" | "1" => true,
                "false" | "f" | "no" | "n" | "off" | "0" => false,
                _ => return None,
            };
            out.push_str(if b { "true" } else { "false" });
            Some(Type::Bool)
        }
        FieldType::Timestamp => timestamp(t, out).then_some(Type::Number),
    }
}

/// An optional sign and decimal digits, written without a `+` and leading zeros.
fn int(t: &str, out: &mut String) -> bool {
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        out.push('0');
    } else {
        if neg {
            out.push('-');
        }
        out.push_str(digits);
    }
    true
}

/// A decimal number: as it is when it is in JSON's syntax, else as the f64 it reads as.
fn float(t: &str, out: &mut String) -> bool {
    // Rust's parser takes `inf`, `nan`, `infinity`: not numbers here.
    if !t.bytes().any(|b| b.is_ascii_digit())
        || !t
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
    {
        return false;
    }
    let Ok(x) = t.parse::<f64>() else {
        return false;
    };
    if !x.is_finite() {
        return false;
    }
    if json_number(t) {
        out.push_str(t);
    } else {
        let mut b = ryu::Buffer::new();
        out.push_str(b.format_finite(x));
    }
    true
}

/// Whether `t` is a number in JSON's syntax.
fn json_number(t: &str) -> bool {
    let b = t.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let s = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - s
    };
    let start = i;
    let n = digits(&mut i);
    if n == 0 || (n > 1 && b[start] == b'0') {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Seconds since the epoch of a timestamp (see the module docs), with its fraction.
fn timestamp(t: &str, out: &mut String) -> bool {
    let t = t
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(t);
    // Seconds since the epoch already.
    if t.bytes().all(|b| b.is_ascii_digit() || b == b'.') && json_number(t) {
        out.push_str(t);
        return true;
    }
    let Some(p) = iso(t.as_bytes()).or_else(|| clf(t.as_bytes())) else {
        return false;
    };
    write_epoch(&p, out);
    true
}

/// The parts of a timestamp.
struct Parts<'a> {
    y: i64,
    mo: i64,
    d: i64,
    h: i64,
    mi: i64,
    s: i64,
    /// The fraction's digits (at most nine are kept).
    frac: &'a [u8],
    /// The offset from UTC, in seconds.
    off: i64,
}

fn num(b: &[u8], at: usize, n: usize) -> Option<i64> {
    let d = b.get(at..at + n)?;
    d.iter()
        .all(u8::is_ascii_digit)
        .then(|| d.iter().fold(0i64, |a, &c| a * 10 + i64::from(c - b'0')))
}

/// `YYYY-MM-DD[T ]HH:MM:SS[(.|,)frac][Z|±HH:MM|±HHMM|±HH]`.
fn iso(b: &[u8]) -> Option<Parts<'_>> {
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let mut i = 19;
    let mut frac: &[u8] = &[];
    if i < b.len() && matches!(b[i], b'.' | b',') {
        let s = i + 1;
        i = s;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == s {
            return None;
        }
        frac = &b[s..i];
    }
    let off = offset(&b[i..])?;
    valid(Parts {
        y: num(b, 0, 4)?,
        mo: num(b, 5, 2)?,
        d: num(b, 8, 2)?,
        h: num(b, 11, 2)?,
        mi: num(b, 14, 2)?,
        s: num(b, 17, 2)?,
        frac,
        off,
    })
}

/// An offset: nothing (UTC), `Z`, `±HH:MM`, `±HHMM`, `±HH`, with an optional space before.
fn offset(b: &[u8]) -> Option<i64> {
    let b = b.strip_prefix(b" ").unwrap_or(b);
    match b {
        [] | [b'Z' | b'z'] => Some(0),
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (h, m) = match rest.len() {
                2 => (num(rest, 0, 2)?, 0),
                4 => (num(rest, 0, 2)?, num(rest, 2, 2)?),
                5 if rest[2] == b':' => (num(rest, 0, 2)?, num(rest, 3, 2)?),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let s = (h * 60 + m) * 60;
            Some(if *sign == b'-' { -s } else { s })
        }
        _ => None,
    }
}

/// `DD/Mon/YYYY:HH:MM:SS ±HHMM` (Apache's and nginx's `%t`).
fn clf(b: &[u8]) -> Option<Parts<'_>> {
    if b.len() < 20 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' {
        return None;
    }
    const MONTHS: [&[u8]; 12] = [
        b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov",
        b"dec",
    ];
    let mon = b[3..6].to_ascii_lowercase();
    let mo = MONTHS.iter().position(|m| *m == mon.as_slice())? as i64 + 1;
    if b[14] != b':' || b[17] != b':' {
        return None;
    }
    valid(Parts {
        y: num(b, 7, 4)?,
        mo,
        d: num(b, 0, 2)?,
        h: num(b, 12, 2)?,
        mi: num(b, 15, 2)?,
        s: num(b, 18, 2)?,
        frac: &[],
        off: offset(&b[20..])?,
    })
}

fn valid(p: Parts<'_>) -> Option<Parts<'_>> {
    let leap = p.y % 4 == 0 && (p.y % 100 != 0 || p.y % 400 == 0);
    let days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let ok = (1..=12).contains(&p.mo)
        && p.d >= 1
        && p.d <= days[(p.mo - 1) as usize]
        && p.h <= 23
        && p.mi <= 59
        && p.s <= 60;
    ok.then_some(p)
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Write the seconds since the epoch, with the fraction's digits (up to nine).
fn write_epoch(p: &Parts<'_>, out: &mut String) {
    use std::fmt::Write;
    let secs = days_from_civil(p.y, p.mo, p.d) * 86_400 + p.h * 3600 + p.mi * 60 + p.s - p.off;
    let frac = &p.frac[..p.frac.len().min(9)];
    let frac = {
        let mut f = frac;
        while let [rest @ .., b'0'] = f {
            f = rest;
        }
        f
    };
    if frac.is_empty() {
        let _ = write!(out, "{secs}");
        return;
    }
    // secs + 0.frac, exactly, also before the epoch (-1 + 0.5 is -0.5).
    let k = frac.len() as u32;
    let unit = 10i128.pow(k);
    let f = frac
        .iter()
        .fold(0i128, |a, &c| a * 10 + i128::from(c - b'0'));
    let total = i128::from(secs) * unit + f;
    let (sign, abs) = if total < 0 {
        ("-", -total)
    } else {
        ("", total)
    };
    let _ = write!(
        out,
        "{sign}{}.{:0width$}",
        abs / unit,
        abs % unit,
        width = k as usize
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(ty: FieldType, text: &str) -> Option<String> {
        let mut out = String::new();
        convert(ty, text, &mut out).map(|_| out)
    }

    #[test]
    fn ints() {
        use FieldType::Int;
        assert_eq!(conv(Int, "38926").unwrap(), "38926");
        assert_eq!(conv(Int, " -007 ").unwrap(), "-7");
        assert_eq!(conv(Int, "+0").unwrap(), "0");
        assert_eq!(conv(Int, "-0").unwrap(), "0");
        assert_eq!(
            conv(Int, "123456789012345678901234567890").unwrap(),
            "123456789012345678901234567890"
        );
        for bad in ["", "-", "1.5", "0x10", "1e3", "12a", "١٢"] {
            assert_eq!(conv(Int, bad), None, "{bad}");
        }
    }

    #[test]
    fn floats() {
        use FieldType::Float;
        assert_eq!(conv(Float, "1.5").unwrap(), "1.5");
        assert_eq!(conv(Float, "1e3").unwrap(), "1e3");
        assert_eq!(conv(Float, ".5").unwrap(), "0.5");
        assert_eq!(conv(Float, "5.").unwrap(), "5.0");
        assert_eq!(conv(Float, "+2").unwrap(), "2.0");
        assert_eq!(conv(Float, "007").unwrap(), "7.0");
        for bad in ["", "inf", "NaN", "1e999", "1,5", "-", "e5", "1.2.3"] {
            assert_eq!(conv(Float, bad), None, "{bad}");
        }
    }

    #[test]
    fn bools() {
        use FieldType::Bool;
        for t in ["true", "TRUE", "yes", "Y", "on", "1", "t"] {
            assert_eq!(conv(Bool, t).unwrap(), "true", "{t}");
        }
        for f in ["false", "No", "off", "0", "F"] {
            assert_eq!(conv(Bool, f).unwrap(), "false", "{f}");
        }
        assert_eq!(conv(Bool, "maybe"), None);
    }

    #[test]
    fn timestamps() {
        use FieldType::Timestamp as T;
        // `date -d 2015-07-29T23:44:28Z +%s` is 1438213468.
        for (text, want) in [
            ("2015-07-29T23:44:28Z", "1438213468"),
            ("2015-07-29T23:44:28", "1438213468"),
            ("2015-07-29 23:44:28,903", "1438213468.903"),
            ("2015-07-29T23:44:28.500+02:00", "1438206268.5"),
            ("2015-07-29T23:44:28-0700", "1438238668"),
            ("2015-07-29 23:44:28 +01", "1438209868"),
            ("1970-01-01T00:00:00Z", "0"),
            ("1969-12-31T23:59:59.25Z", "-0.75"),
            ("2000-02-29T12:00:00.123456789123Z", "951825600.123456789"),
            ("10/Oct/2000:13:55:36 -0700", "971211336"),
            ("[10/Oct/2000:13:55:36 -0700]", "971211336"),
            ("29/Jul/2015:23:44:28 +0000", "1438213468"),
            ("1438213468", "1438213468"),
            ("1438213468.5", "1438213468.5"),
        ] {
            assert_eq!(conv(T, text).as_deref(), Some(want), "{text}");
        }
        for bad in [
            "2015-02-29T00:00:00Z",
            "2015-13-01T00:00:00Z",
            "2015-07-29T24:00:00Z",
            "2015-07-29T23:44:28+25:00",
            "2015-07-29T23:44:28 UTC",
            "2015-07-29",
            "Jul 29 23:44:28",
            "10/Foo/2000:13:55:36 -0700",
            "yesterday",
            "",
        ] {
            assert_eq!(conv(T, bad), None, "{bad}");
        }
    }

    #[test]
    fn specs_and_records() {
        assert!(Types::parse(&["a=int,b:float".into(), "c=bool".into()], "t").is_ok());
        for bad in ["a", "a=str", "=int"] {
            assert!(Types::parse(&[bad.into()], "t").is_err(), "{bad}");
        }
        let mut t = Types::parse(&["port=int,ok=bool,at=timestamp,gone=int".into()], "t").unwrap();
        let mut r = Record::new();
        r.add_str(crate::record::ROOT, "", "port", "22");
        r.add_str(crate::record::ROOT, "", "ok", "nope");
        r.add_str(crate::record::ROOT, "", "at", "1970-01-01T00:01:00Z");
        let first = t.apply(&mut r).unwrap();
        assert_eq!(first, "field `ok`: `nope` is not a bool");
        assert_eq!(r.to_json(), r#"{"port":22,"ok":"nope","at":60}"#);
        assert_eq!(t.fields[1].2.get(), 1);
    }
}
