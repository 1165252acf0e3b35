//! `fmt TEMPLATE` — turn each record into a line: `{field}` is replaced by the field's value.
//!
//! Accepts records; emits lines. `{a.b}` is a dotted path; `{{` and `}}` are literal braces.
//! A string is written as it is, a number or bool as written, null as nothing, an array or
//! object as compact JSON. A missing field writes nothing, or is an error with `--strict`.
//! A newline or CR inside a value is written as `\n` / `\r`, so that each record stays one
//! line. The template is compiled once; the line is built in one reused buffer.

use anyhow::{Result, bail};
use clap::{ArgMatches, FromArgMatches, Parser};

use crate::item::{Item, Kind, Record, split_path};
use crate::protocol::def::{Build, BuildCx, Emits, Role, StageDef};
use crate::protocol::{Flow, Stage};

/// Turn each record into a line from TEMPLATE: `{field}`, `{a.b}`; `{{` and `}}` for braces.
///
/// Strings are written as they are, numbers and bools as written, null as nothing, arrays
/// and objects as compact JSON. A missing field writes nothing (an error with --strict).
#[derive(Parser)]
#[command(name = "fmt", disable_version_flag = true)]
pub struct Args {
    /// The template, e.g. '{route},{id},"{direction}"'.
    #[arg(allow_hyphen_values = true)]
    pub template: String,
    /// A field missing from a record is an error.
    #[arg(long)]
    pub strict: bool,
}

pub const DEF: StageDef = StageDef {
    name: "fmt",
    aliases: &["format"],
    role: Role::Filter,
    summary: "turn each record into a line: '{id} {lat},{lon}'",
    accepts: &[Kind::Record],
    emits: Emits::Kind(Kind::Line),
    examples: &[
        "copipe xml allroutes.xml : records bus : fmt '{route},{id},\"{direction}\",{latitude},{longitude}'",
    ],
    command: <Args as clap::CommandFactory>::command,
    fusion: None,
    build: Build::Filter(build),
};

fn build(m: &ArgMatches, _cx: &BuildCx<'_>, next: Box<dyn Stage>) -> Result<Box<dyn Stage>> {
    let a = Args::from_arg_matches(m)?;
    Ok(Box::new(Fmt {
        parts: compile(&a.template)?,
        strict: a.strict,
        line: Vec::new(),
        value: Vec::new(),
        next,
    }))
}

/// A piece of a compiled template.
#[derive(Debug, PartialEq, Eq)]
pub enum Part {
    Lit(String),
    Field(String, Vec<String>),
}

pub fn compile(t: &str) -> Result<Vec<Part>> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut it = t.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        match c {
            '{' if it.peek().map(|p| p.1) == Some('{') => {
                it.next();
                lit.push('{');
            }
            '}' if it.peek().map(|p| p.1) == Some('}') => {
                it.next();
                lit.push('}');
            }
            '{' => {
                let rest = &t[i + 1..];
                let Some(close) = rest.find('}') else {
                    bail!(
                        "unclosed `{{` at character {} of the template (write `{{{{` for a brace)",
                        i + 1
                    );
                };
                let name = rest[..close].trim();
                if name.is_empty() || name.contains('{') {
                    bail!("empty or bad field name in `{{{}}}`", &rest[..close]);
                }
                if !lit.is_empty() {
                    parts.push(Part::Lit(std::mem::take(&mut lit)));
                }
                parts.push(Part::Field(name.to_string(), split_path(name)));
                // Past the `}` (`close` counts bytes; the iterator walks characters).
                let after = i + 1 + close;
                while it.next_if(|&(j, _)| j <= after).is_some() {}
            }
            '}' => bail!(
                "unmatched `}}` at character {} of the template (write `}}}}` for a brace)",
                i + 1
            ),
            c => lit.push(c),
        }
    }
    if !lit.is_empty() {
        parts.push(Part::Lit(lit));
    }
    Ok(parts)
}

struct Fmt {
    parts: Vec<Part>,
    strict: bool,
    line: Vec<u8>,
    value: Vec<u8>,
    next: Box<dyn Stage>,
}

/// Render one record into `line` (cleared first); `Err(field)` for a missing field when
/// `strict`.
pub fn render_into<'p>(
    parts: &'p [Part],
    rec: &Record,
    strict: bool,
    line: &mut Vec<u8>,
    value: &mut Vec<u8>,
) -> Result<(), &'p str> {
    line.clear();
    for p in parts {
        match p {
            Part::Lit(s) => line.extend_from_slice(s.as_bytes()),
            Part::Field(name, path) => match rec.lookup(path) {
                Some(v) => {
                    value.clear();
                    v.write_text(value);
                    for &b in value.iter() {
                        match b {
                            b'\n' => line.extend_from_slice(b"\\n"),
                            b'\r' => line.extend_from_slice(b"\\r"),
                            b => line.push(b),
                        }
                    }
                }
                None if strict => return Err(name),
                None => {}
            },
        }
    }
    Ok(())
}

impl Stage for Fmt {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        let Item::Record(r) = item else {
            return self.next.send(item);
        };
        if let Err(name) = render_into(&self.parts, r, self.strict, &mut self.line, &mut self.value)
        {
            bail!(
                "fmt: a record has no field `{name}` (--strict): {}",
                r.to_json()
            );
        }
        self.next.send(Item::Line(&self.line))
    }

    crate::pass_on!(origin, flush, close);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fmt(t: &str, v: serde_json::Value, strict: bool) -> Result<String, String> {
        let parts = compile(t).unwrap();
        let r = Record::from(v.as_object().unwrap());
        let (mut line, mut value) = (Vec::new(), Vec::new());
        render_into(&parts, &r, strict, &mut line, &mut value).map_err(str::to_string)?;
        Ok(String::from_utf8(line).unwrap())
    }

    #[test]
    fn templates() {
        let v = json!({"id": "7", "p": {"lat": 41.5}, "a": [1, "x"], "n": null, "t": "a\nb"});
        assert_eq!(fmt("{id},{p.lat}", v.clone(), false).unwrap(), "7,41.5");
        assert_eq!(
            fmt("{{{id}}} {a} [{n}] {t}", v.clone(), false).unwrap(),
            "{7} [1,\"x\"] [] a\\nb"
        );
        assert_eq!(fmt("x{nope}y", v.clone(), false).unwrap(), "xy");
        assert_eq!(fmt("x{nope}y", v.clone(), true).unwrap_err(), "nope");
        assert_eq!(fmt("{ id }", v, false).unwrap(), "7");
        // A name with non-ASCII letters: nothing after its `}` is lost.
        let v = json!({"café": "1", "ünï": {"çà": 2}});
        assert_eq!(fmt("{café}|{ünï.çà}!", v, false).unwrap(), "1|2!");
    }

    #[test]
    fn bad_templates() {
        assert!(compile("{id").is_err());
        assert!(compile("id}").is_err());
        assert!(compile("{}").is_err());
        assert_eq!(compile("a{{b}}").unwrap(), vec![Part::Lit("a{b}".into())]);
    }
}
