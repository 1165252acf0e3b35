//! What the line parsers (`parse`, `logfmt`, `kv`, `csv`, `tsv`, `syslog`, `combined`)
//! share: the one [`Stage`] of the per-line formats ([`LineParser`] around a [`LineFormat`],
//! which only parses), the input's name and line number for messages, the `file` field after
//! `cat --tag`, invalid UTF-8 made U+FFFD without allocating per line, and the policy for a
//! line the format does not fit (dropped and counted, kept as `{"message": line}`, or an
//! error).
//!
//! Invariants: every line sent is counted (line numbers restart with each input, as the
//! sources that read files announce each one); a dropped line is counted and the count is
//! reported on stderr when the stage closes (`copipe: parse: 12 lines did not match`); a
//! kept or parsed line is exactly one record; an error names the stage, input and line.

use anyhow::{Result, bail};
use clap::Args;

use crate::item::{Item, Origin, Show};
use crate::protocol::{Flow, Stage};
use crate::record::{ROOT, Record};
use crate::runtime::notes::{Noted, Notes};
use crate::stage::fieldtype::Types;

/// A format of one line: how a line becomes the fields of a record. The rest — counting
/// lines, U+FFFD, the `file` field, the policy for a line that does not fit, the note at the
/// end — is [`LineParser`]'s.
pub trait LineFormat {
    /// What the note at the end says of dropped lines: "did not match", "did not parse".
    const DROPPED: &'static str;

    /// Whether a line is passed over (neither a record nor a line that does not fit): a
    /// blank line for key=value.
    fn skip(&self, _text: &str) -> bool {
        false
    }

    /// Add the fields of `text` to `rec`, which is started (cleared, and with the `file`
    /// field when `tagged`), or say why the line does not fit.
    fn fill(&mut self, text: &str, rec: &mut Record, tagged: bool) -> Result<(), &'static str>;

    /// The fields it can make, when they are known beforehand (`parse`'s named groups):
    /// `--type` is checked against them.
    fn field_names(&self) -> Option<Vec<String>> {
        None
    }
}

/// The stage of a [`LineFormat`]: lines in, one record per line out (or the misfit policy).
/// Per line: no allocation (the record and the scratch text are reused).
pub struct LineParser<F> {
    pub format: F,
    /// `--type`: the fields converted after the line is parsed.
    types: Types,
    lines: Lines,
    scratch: String,
    rec: Record,
    next: Box<dyn Stage>,
}

impl<F: LineFormat> LineParser<F> {
    pub fn new(stage: &'static str, bad: Bad, format: F, next: Box<dyn Stage>) -> Self {
        LineParser {
            format,
            types: Types::default(),
            lines: Lines::new(stage, bad, F::DROPPED),
            scratch: String::new(),
            rec: Record::new(),
            next,
        }
    }
}

impl<F: LineFormat> LineParser<F> {
    /// With the `--type` conversions of these arguments; the counts of its notes at the end
    /// registered in `notes` (see [`crate::runtime::notes`]).
    pub fn typed(mut self, args: &BadArgs, notes: &Notes) -> Result<Self> {
        self.types = Types::parse(&args.types, self.lines.stage)?;
        notes.register(&self.lines.dropped);
        self.types.register(notes);
        if let Some(known) = self.format.field_names() {
            for name in self.types.names() {
                if name != "file" && !known.iter().any(|k| k == name) {
                    bail!(
                        "--type {name}=…: there is no field `{name}` (the fields: {})",
                        known.join(", ")
                    );
                }
            }
        }
        Ok(self)
    }
}

impl<F: LineFormat> Stage for LineParser<F> {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        let Item::Line(line) = item else {
            return self.next.send(item);
        };
        let line = self.lines.count(line);
        let text = to_text(line, &mut self.scratch);
        if self.format.skip(text) {
            return Ok(Flow::Continue);
        }
        self.lines.start(&mut self.rec);
        let tagged = self.lines.tag.is_some();
        match self.format.fill(text, &mut self.rec, tagged) {
            Err(why) => {
                if !self.lines.misfit(&mut self.rec, text, why)? {
                    return Ok(Flow::Continue);
                }
            }
            Ok(()) if !self.types.is_empty() => {
                if let Some(why) = self.types.apply(&mut self.rec)
                    && self.lines.bad == Bad::Strict
                {
                    self.lines.misfit(&mut self.rec, text, &why)?;
                }
            }
            Ok(()) => {}
        }
        self.next.send(Item::Record(&self.rec))
    }

    fn origin(&mut self, origin: Origin<'_>) -> Result<()> {
        self.lines.origin(&origin);
        self.next.origin(origin)
    }

    crate::pass_on!(flush);

    fn close(&mut self) -> Result<()> {
        self.lines.report();
        self.types.report();
        self.next.close()
    }
}

/// `--keep` and `--strict`: what happens to a line the format does not fit; `--type`: the
/// fields given a type.
#[derive(Args, Clone, Debug, Default)]
pub struct BadArgs {
    /// Keep a line that does not fit as a record {"message": LINE} instead of dropping it.
    #[arg(long, conflicts_with = "strict")]
    pub keep: bool,
    /// Stop with an error (exit status 2) naming the input and line at the first line that
    /// does not fit, instead of dropping it.
    #[arg(long)]
    pub strict: bool,
    /// Give fields a type: FIELD=TYPE, TYPE one of int, float, bool, timestamp (seconds since
    /// the epoch, from RFC 3339 or the common log format); repeat it or separate with
    /// commas (--type port=int,took=float). A value that does not convert stays text and
    /// is counted (a note at the end); with --strict it stops the run.
    #[arg(long = "type", value_name = "FIELD=TYPE", action = clap::ArgAction::Append)]
    pub types: Vec<String>,
}

/// What to do with a line that does not fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bad {
    Drop,
    Keep,
    Strict,
}

impl From<BadArgs> for Bad {
    fn from(a: BadArgs) -> Self {
        Bad::from(&a)
    }
}

impl From<&BadArgs> for Bad {
    fn from(a: &BadArgs) -> Self {
        if a.strict {
            Bad::Strict
        } else if a.keep {
            Bad::Keep
        } else {
            Bad::Drop
        }
    }
}

/// Where the lines come from, and what was made of them.
pub struct Lines {
    /// The stage's name, for messages.
    pub stage: &'static str,
    /// The current input's name.
    pub origin: String,
    /// The name for the `file` field, when origins are shown as tags.
    pub tag: Option<String>,
    /// The current line's number in its input (1 for the first).
    pub line: u64,
    /// Lines that did not fit and were dropped.
    pub dropped: Noted,
    pub bad: Bad,
}

impl Lines {
    /// `what`: what the note at the end says of dropped lines ("did not match", …).
    pub fn new(stage: &'static str, bad: Bad, what: &'static str) -> Self {
        Lines {
            stage,
            origin: "standard input".into(),
            tag: None,
            line: 0,
            dropped: Noted::new(move |n| {
                format!(
                    "copipe: {stage}: {n} {} {what}",
                    if n == 1 { "line" } else { "lines" }
                )
            }),
            bad,
        }
    }

    /// A new input starts.
    pub fn origin(&mut self, origin: &Origin<'_>) {
        self.origin.clear();
        self.origin.push_str(origin.name);
        self.tag = (origin.show == Show::Tag).then(|| origin.name.to_string());
        self.line = 0;
    }

    /// Count a line and return it without one trailing `\r` (of a CRLF file); make it text
    /// with [`to_text`].
    pub fn count<'a>(&mut self, line: &'a [u8]) -> &'a [u8] {
        self.line += 1;
        crate::item::strip_cr(line)
    }

    /// Start a record: cleared, with the `file` field first when origins are tags.
    pub fn start(&self, rec: &mut Record) {
        rec.clear();
        if let Some(t) = &self.tag {
            rec.add_str(ROOT, "", "file", t);
        }
    }

    /// A line did not fit, for this reason: `Ok(true)` if the caller is to send it as
    /// `{"message": line}` (made in `rec`), `Ok(false)` if it was dropped, or the error.
    pub fn misfit(&mut self, rec: &mut Record, text: &str, why: &str) -> Result<bool> {
        match self.bad {
            Bad::Drop => {
                self.dropped.add(1);
                Ok(false)
            }
            Bad::Keep => {
                self.start(rec);
                rec.add_str(ROOT, "", "message", text);
                Ok(true)
            }
            Bad::Strict => bail!("{}: {}:{}: {why}", self.stage, self.origin, self.line),
        }
    }

    /// The note at the end about dropped lines.
    pub fn report(&self) {
        self.dropped.say();
    }
}

/// `bytes` as UTF-8, with every invalid sequence replaced by U+FFFD (as
/// `String::from_utf8_lossy`), the copy, when one is needed, made in `scratch`.
pub fn to_text<'a>(bytes: &'a [u8], scratch: &'a mut String) -> &'a str {
    match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(_) => {
            scratch.clear();
            for chunk in bytes.utf8_chunks() {
                scratch.push_str(chunk.valid());
                if !chunk.invalid().is_empty() {
                    scratch.push('\u{FFFD}');
                }
            }
            scratch
        }
    }
}

/// `Jan` → 1 … `Dec` → 12.
pub fn month_number(m: &str) -> Option<u8> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    MONTHS.iter().position(|&x| x == m).map(|i| i as u8 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        let mut s = String::new();
        assert_eq!(to_text(b"a\xffb\xe2\x82", &mut s), "a\u{FFFD}b\u{FFFD}");
        assert_eq!(
            to_text(b"\xc3\xa9t\xc3\xa9", &mut s),
            "\u{e9}t\u{e9}",
            "valid text is unchanged"
        );
        for bytes in [&b"\xf0\x9f\x98"[..], b"\xed\xa0\x80", b"\xc0\xaf", b""] {
            assert_eq!(
                to_text(bytes, &mut s),
                String::from_utf8_lossy(bytes),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn counts_lines_and_strips_one_cr() {
        let mut l = Lines::new("t", Bad::Drop, "");
        assert_eq!(l.count(b"a\r"), b"a");
        assert_eq!(l.count(b"b\r\r"), b"b\r");
        assert_eq!(l.line, 2);
        l.origin(&Origin {
            name: "f",
            show: Show::Tag,
        });
        assert_eq!(l.line, 0);
        let mut r = Record::new();
        l.start(&mut r);
        assert_eq!(r.to_json(), r#"{"file":"f"}"#);
    }

    #[test]
    fn misfits_by_policy() {
        let mut r = Record::new();
        let mut l = Lines::new("t", Bad::Drop, "");
        assert!(!l.misfit(&mut r, "x", "no").unwrap());
        assert_eq!(l.dropped.get(), 1);
        let mut l = Lines::new("t", Bad::Keep, "");
        assert!(l.misfit(&mut r, "x\"y", "no").unwrap());
        assert_eq!(r.to_json(), r#"{"message":"x\"y"}"#);
        let mut l = Lines::new("t", Bad::Strict, "");
        l.count(b"x");
        let e = l.misfit(&mut r, "x", "does not match").unwrap_err();
        assert_eq!(e.to_string(), "t: standard input:1: does not match");
    }
}
