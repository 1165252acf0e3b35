//! `parse REGEX` — the named capture groups of a regex, matched against each line, become
//! the fields of a record.
//!
//! Accepts lines; emits records. Fields are the named groups (`(?P<name>…)` or
//! `(?<name>…)`) in the order they open in the regex; a group that took no part in the
//! match (an optional one) is absent; values are strings. The regex searches the line (use
//! `^…$` to anchor it); one trailing `\r` is removed first, and invalid UTF-8 becomes U+FFFD.
//! A line that does not match is dropped and counted (`--stats` shows it as in − out, and a
//! note on stderr at the end gives the count), kept as `{"message": LINE}` with `--keep`, or
//! an error naming the input and line with `--strict`. After `cat --tag`, records get a
//! first field `file`. Per line: one search, no allocation (one record and one set of
//! capture slots, reused). The capture state (NFA states × groups) is bounded by
//! [`budget`]: a regex beyond is refused when the stage is built.
//!
//! The common shape of a log regex — literals and (repeated) character classes in groups,
//! each repetition stopping where the rest cannot start — is matched by [`fast`], a scan of
//! the line's bytes, with the same result as the regex crate; a line the scan cannot decide
//! (a non-ASCII byte in `\S`, say) and every other regex go to the regex crate.

mod budget;
mod fast;

use anyhow::{Context, Result, bail};
use clap::{ArgMatches, FromArgMatches, Parser};
use regex::{CaptureLocations, Regex};

use crate::item::Kind;
use crate::protocol::Stage;
use crate::protocol::def::{Build, BuildCx, Emits, Role, StageDef};
use crate::record::{ROOT, Record};
use crate::stage::lineparse::{Bad, BadArgs, LineFormat, LineParser};
use fast::{Fast, Found};

/// Parse each line with a regex: its named groups become the fields of a record.
///
/// Fields are the named capture groups, `(?P<name>...)` or `(?<name>...)`, in the order
/// they appear in the regex; a group that did not take part in the match is absent. Values
/// are strings (`where` still compares them as numbers when they look like numbers), or
/// what `--type` makes them (`--type port=int,at=timestamp`). The
/// regex searches the line: anchor it with `^...$` to match the whole line. The syntax is
/// Rust's regex crate (no look-around or backreferences; linear time).
///
/// A line that does not match is dropped and counted: `--stats` shows it (in minus out) and
/// a note on stderr at the end says how many (`copipe: parse: 12 lines did not match`).
/// With `--keep` it becomes {"message": LINE}; with `--strict` it stops the run with an
/// error naming the input and line (exit status 2). One trailing CR (a CRLF file) is
/// removed before matching; invalid UTF-8 becomes U+FFFD. After `cat --tag` or `follow
/// --tag`, records get a first field `file` with the input's name.
///
/// Time is linear in the line; memory holds one line and the regex's capture state, NFA
/// states × groups, which is bounded: a regex that would need more than 64 MB for it (over
/// a thousand named groups of \S, say) is refused, with what to do.
#[derive(Parser)]
#[command(name = "parse", disable_version_flag = true)]
pub struct Args {
    /// The regex, with at least one named group: '^(?P<ip>\S+) (?P<rest>.*)$'.
    #[arg(value_name = "REGEX", allow_hyphen_values = true)]
    pub regex: String,
    #[command(flatten)]
    pub bad: BadArgs,
}

pub const DEF: StageDef = StageDef {
    name: "parse",
    aliases: &[],
    role: Role::Filter,
    summary: "lines → records: a regex's named groups become fields (--keep, --strict)",
    accepts: &[Kind::Line],
    emits: Emits::Kind(Kind::Record),
    examples: &[
        r"copipe cat app.log : parse '^(?P<time>\S+ \S+) (?P<level>[A-Z]+) (?P<msg>.*)$' : where level=ERROR",
        r"copipe cat fixtures/parse/openssh.log : parse 'Invalid user (?P<user>\S+) from (?P<ip>\S+)' : count --by ip",
    ],
    command: <Args as clap::CommandFactory>::command,
    fusion: None,
    build: Build::Filter(build),
};

fn build(m: &ArgMatches, cx: &BuildCx<'_>, next: Box<dyn Stage>) -> Result<Box<dyn Stage>> {
    let a = Args::from_arg_matches(m)?;
    Ok(Box::new(
        Parse::stage(&a.regex, (&a.bad).into(), next)?.typed(&a.bad, cx.notes)?,
    ))
}

/// The regex and its capture slots, reused for every line.
struct Parse {
    re: Regex,
    locs: CaptureLocations,
    /// The fast path, when the regex has its shape, and its slots.
    fast: Option<Fast>,
    slots: Vec<usize>,
    /// (group index, field name) of the named groups, in order.
    groups: Vec<(usize, String)>,
}

impl Parse {
    fn stage(regex: &str, bad: Bad, next: Box<dyn Stage>) -> Result<LineParser<Self>> {
        let re = Regex::new(regex).with_context(|| format!("parse: bad regex {regex:?}"))?;
        let groups: Vec<(usize, String)> = re
            .capture_names()
            .enumerate()
            .filter_map(|(i, n)| Some((i, n?.to_string())))
            .collect();
        if groups.is_empty() {
            bail!("parse: the regex {regex:?} has no named group: write (?P<name>...)");
        }
        budget::check(regex, groups.len())?;
        let fast = Fast::new(regex);
        let format = Parse {
            locs: re.capture_locations(),
            slots: vec![0; fast.as_ref().map_or(0, Fast::slots_len)],
            fast,
            re,
            groups,
        };
        Ok(LineParser::new("parse", bad, format, next))
    }
}

impl LineFormat for Parse {
    const DROPPED: &'static str = "did not match";

    fn field_names(&self) -> Option<Vec<String>> {
        Some(self.groups.iter().map(|g| g.1.clone()).collect())
    }

    fn fill(&mut self, text: &str, rec: &mut Record, _tagged: bool) -> Result<(), &'static str> {
        const NO: &str = "the line does not match";
        if let Some(fast) = &self.fast {
            match fast.find(text, &mut self.slots) {
                Found::Match => {
                    // Every group of the fast path's shape takes part in a match.
                    for (i, name) in &self.groups {
                        let (s, e) = (self.slots[2 * i], self.slots[2 * i + 1]);
                        rec.add_str(ROOT, "", name, &text[s..e]);
                    }
                    return Ok(());
                }
                Found::None => return Err(NO),
                Found::Unsure => {}
            }
        }
        self.re.captures_read(&mut self.locs, text).ok_or(NO)?;
        for (i, name) in &self.groups {
            if let Some((s, e)) = self.locs.get(*i) {
                rec.add_str(ROOT, "", name, &text[s..e]);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::{Item, Origin, Show};
    use crate::protocol::testing::Collect;

    fn run(re: &str, bad: Bad, lines: &[&[u8]]) -> Result<Vec<String>> {
        let out = Collect::shared();
        let mut p = Parse::stage(re, bad, Box::new(out.clone()))?;
        for l in lines {
            let _ = p.send(Item::Line(l))?;
        }
        p.close()?;
        let got = out.borrow().strings();
        Ok(got)
    }

    #[test]
    fn named_groups_in_order_and_optional_ones_absent() {
        let got = run(
            r"^(?P<b>\w+) (?<a>\w+)(?: (?P<c>\d+))?(\s*)$",
            Bad::Drop,
            &[b"x y 3", b"x y", b"no", b""],
        )
        .unwrap();
        assert_eq!(
            got,
            [r#"{"b":"x","a":"y","c":"3"}"#, r#"{"b":"x","a":"y"}"#]
        );
    }

    #[test]
    fn misfits_are_dropped_kept_or_an_error() {
        let re = r"^(?P<n>\d+)$";
        assert_eq!(
            run(re, Bad::Drop, &[b"1", b"x", b"2"]).unwrap(),
            [r#"{"n":"1"}"#, r#"{"n":"2"}"#]
        );
        assert_eq!(
            run(re, Bad::Keep, &[b"1", b"x\"\t"]).unwrap(),
            [r#"{"n":"1"}"#, r#"{"message":"x\"\t"}"#]
        );
        let e = run(re, Bad::Strict, &[b"1", b"2", b"x"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "parse: standard input:3: the line does not match"
        );
    }

    #[test]
    fn invalid_utf8_and_crlf() {
        let got = run(r"^(?P<a>.*)$", Bad::Drop, &[b"a\xffb\r", b"\r", b"\xff"]).unwrap();
        assert_eq!(
            got,
            [
                "{\"a\":\"a\u{FFFD}b\"}",
                r#"{"a":""}"#,
                "{\"a\":\"\u{FFFD}\"}"
            ]
        );
    }

    #[test]
    fn a_regex_without_names_or_broken_is_refused() {
        assert!(
            run(r"^(\d+)$", Bad::Drop, &[])
                .unwrap_err()
                .to_string()
                .contains("no named group")
        );
        assert!(
            run(r"^(?P<a>", Bad::Drop, &[])
                .unwrap_err()
                .to_string()
                .contains("bad regex")
        );
    }

    #[test]
    fn tags_give_a_file_field_and_line_numbers_restart() {
        let out = Collect::shared();
        let mut p = Parse::stage(r"^(?P<n>\d+)$", Bad::Strict, Box::new(out.clone())).unwrap();
        p.origin(Origin {
            name: "a.log",
            show: Show::Tag,
        })
        .unwrap();
        let _ = p.send(Item::Line(b"1")).unwrap();
        p.origin(Origin {
            name: "b.log",
            show: Show::Tag,
        })
        .unwrap();
        let e = p.send(Item::Line(b"x")).unwrap_err();
        assert_eq!(e.to_string(), "parse: b.log:1: the line does not match");
        assert_eq!(out.borrow().strings(), [r#"{"file":"a.log","n":"1"}"#]);
    }

    #[test]
    fn the_fast_path_and_the_regex_make_the_same_records() {
        let re = r"^(?<a>\S+) (?<b>[^ ]*) (?<rest>.*)$";
        assert!(Fast::new(re).is_some());
        let lines: &[&[u8]] = &[
            b"a b c d",
            "\u{e9} b c".as_bytes(), // \S on a non-ASCII byte: the regex decides
            "a \u{e9}\u{a0} c\u{2003}".as_bytes(), // [^ ] and . take any non-ASCII character
            "a\u{a0}b c d".as_bytes(), // U+00A0 is a space for \S: no match
            b"a  b",
            b"a b c\r",
            b"a \xff \xfe\r",
            b"",
        ];
        let got = run(re, Bad::Keep, lines).unwrap();
        assert_eq!(
            got,
            [
                r#"{"a":"a","b":"b","rest":"c d"}"#,
                "{\"a\":\"\u{e9}\",\"b\":\"b\",\"rest\":\"c\"}",
                "{\"a\":\"a\",\"b\":\"\u{e9}\u{a0}\",\"rest\":\"c\u{2003}\"}",
                "{\"message\":\"a\u{a0}b c d\"}",
                r#"{"a":"a","b":"","rest":"b"}"#,
                r#"{"a":"a","b":"b","rest":"c"}"#,
                "{\"a\":\"a\",\"b\":\"\u{FFFD}\",\"rest\":\"\u{FFFD}\"}",
                r#"{"message":""}"#,
            ]
        );
    }

    #[test]
    fn hostile_lines() {
        let quotes = vec![b'"'; 1 << 20];
        let got = run(r#"^(?P<q>"*)$"#, Bad::Drop, &[&quotes]).unwrap();
        assert_eq!(got[0].len(), (1 << 20) * 2 + 8);
    }
}
