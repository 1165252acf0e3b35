//! `json` — parse each line as a JSON object into a record.
//!
//! Accepts lines; emits records. Blank lines are skipped, and so is a UTF-8 byte order mark
//! at the start of an input. A line that is not a JSON object is an error naming the input,
//! line and column (`json: app.ndjson:3:14: not JSON: …`), or, with `--skip-bad`, is
//! dropped and counted (the count is reported on stderr at the end). Lines are parsed
//! straight into the record's storage (`record::JsonParser`): numbers keep their text as
//! written (`1e400`, 30-digit integers), a repeated key keeps its first place and last
//! value, any depth takes no stack. When the source shows origins as tags (`cat --tag`,
//! `follow --tag`), each record gets the input's name as a first field `file` — unless it
//! has a `file` field of its own, which is kept as it is (a warning says so, once); the
//! origin is passed on too. Line numbers restart with each input, which errors name (the
//! sources that read files announce each one).
//!
//! A value may span lines, in the shape jq's pretty output (and Python's `json.dumps` with
//! an indent) has: a line that is `{` or `[` alone (never JSON by itself) begins it, the
//! lines inside are indented, and it ends at the line that balances its brackets (outside
//! strings), a `}` or `]`. Each line is scanned once (a depth count) and the whole parsed
//! once, so a value of any number of lines costs time linear in its size, bounded by
//! `--max-line` (16 MiB by default). A line of another shape (not indented) ends a value
//! left unfinished. A value that is not JSON, unfinished or still open at the end of the
//! input is an error naming the lines it spans; with `--skip-bad` its lines are read again
//! one by one as NDJSON lines, so that nothing is lost nor made up. NDJSON lines take the
//! usual path.

use anyhow::{Result, bail};
use clap::{ArgMatches, FromArgMatches, Parser};

use crate::item::{Item, Kind, Origin, Show};
use crate::protocol::def::{Build, BuildCx, Emits, Role, StageDef};
use crate::record::{JsonParser, Record, Type};

/// A UTF-8 byte order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";
use crate::protocol::{Flow, Stage};

/// Parse each line as a JSON object (NDJSON) into a record.
///
/// A line that is not a JSON object is an error naming the input, line and column, or is
/// skipped and counted with `--skip-bad`. Blank lines are skipped, and so is a byte order
/// mark at the start of an input. Numbers keep their text as written (`1e400`, integers of
/// any size); a repeated key keeps its first place and its last value. After `cat --tag` or
/// `follow --tag`, records get a first field `file` with the input's name, unless they have
/// a `file` field of their own: that one is kept (and a warning says so, once).
///
/// A value may span lines as jq's pretty output does (`jq . f | copipe json` works as
/// `jq -c` does): `{` or `[` alone on a line begins it, the lines inside are indented, and
/// the `}` or `]` that balances it ends it. Such a value is bounded by --max-line (16M by
/// default); one that is not JSON or not finished is an error naming its lines (with
/// --skip-bad its lines are read one by one as NDJSON lines).
#[derive(Parser)]
#[command(name = "json", disable_version_flag = true)]
pub struct Args {
    /// Skip lines that are not JSON objects (and report how many at the end).
    #[arg(long)]
    pub skip_bad: bool,
}

pub const DEF: StageDef = StageDef {
    name: "json",
    aliases: &["ndjson"],
    role: Role::Filter,
    summary: "parse each line as a JSON object into a record (--skip-bad)",
    accepts: &[Kind::Line],
    emits: Emits::Kind(Kind::Record),
    examples: &[
        "copipe cat events.ndjson : json : where level=error : select time msg",
        "copipe follow --tag a.ndjson b.ndjson : json --skip-bad : where 'status>=500'",
    ],
    command: <Args as clap::CommandFactory>::command,
    fusion: None,
    build: Build::Filter(build),
};

fn build(m: &ArgMatches, cx: &BuildCx<'_>, next: Box<dyn Stage>) -> Result<Box<dyn Stage>> {
    let a = Args::from_arg_matches(m)?;
    Ok(Box::new(Json {
        max: cx.opts.max_line(),
        pending: Vec::new(),
        ends: Vec::new(),
        began: 0,
        scan: Scan::default(),
        skip_bad: a.skip_bad,
        origin: "standard input".into(),
        tag: None,
        line: 0,
        skipped: 0,
        warned: false,
        parser: JsonParser::new(),
        rec: Record::new(),
        next,
    }))
}

struct Json {
    /// The largest value over several lines (`--max-line`).
    max: usize,
    /// A value over several lines, so far (empty: none), the line it began on, and the
    /// scan of its brackets.
    pending: Vec<u8>,
    /// The end of each of its lines in `pending` (each but the last followed by a `\n`).
    ends: Vec<usize>,
    began: u64,
    scan: Scan,
    skip_bad: bool,
    /// The current input's name, for messages.
    origin: String,
    /// The name for the `file` field, when origins are shown as tags.
    tag: Option<String>,
    line: u64,
    skipped: u64,
    /// Whether a record's own `file` field has been reported (once).
    warned: bool,
    parser: JsonParser,
    rec: Record,
    next: Box<dyn Stage>,
}

impl Stage for Json {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        let Item::Line(mut line) = item else {
            return self.next.send(item);
        };
        self.line += 1;
        // A byte order mark at the start of an input is no part of the JSON (jq skips it).
        let mut skipped = 0;
        if self.line == 1
            && let Some(rest) = line.strip_prefix(BOM)
        {
            line = rest;
            skipped = BOM.len();
        }
        if !self.pending.is_empty() {
            // Inside a value, jq indents every line but the last, a `}` or `]`: a line of
            // another shape means the value was left unfinished.
            let inside = matches!(line.first(), Some(b' ' | b'\t' | b'}' | b']'));
            if inside {
                return self.more(line);
            }
            let why = format!("it is not complete before line {}", self.line);
            if self.bad_pending(&why, self.line - 1)?.is_stop() {
                return Ok(Flow::Stop);
            }
        }
        // The first line of a value over several lines, as jq writes it: `{` or `[` alone
        // (never JSON by itself).
        if matches!(line.trim_ascii(), b"{" | b"[") {
            self.scan = Scan::default();
            self.scan.line(line);
            self.began = self.line;
            self.pending.extend_from_slice(line);
            self.ends.clear();
            self.ends.push(self.pending.len());
            return Ok(Flow::Continue);
        }
        self.one(line, skipped)
    }

    fn origin(&mut self, origin: Origin<'_>) -> Result<()> {
        let _ = self.unfinished()?;
        self.origin = origin.name.to_string();
        self.tag = (origin.show == Show::Tag).then(|| origin.name.to_string());
        self.line = 0;
        self.next.origin(origin)
    }

    fn flush(&mut self) -> Result<()> {
        self.next.flush()
    }

    crate::pass_on!(tick);

    fn close(&mut self) -> Result<()> {
        let _ = self.unfinished()?;
        if self.skipped > 0 {
            crate::say!(
                "copipe: json: skipped {} {}",
                self.skipped,
                if self.skipped == 1 {
                    "line that was not a JSON object"
                } else {
                    "lines that were not JSON objects"
                }
            );
        }
        self.next.close()
    }
}

impl Json {
    /// One line as an NDJSON line (`skipped`: the bytes of a byte order mark before it).
    fn one(&mut self, line: &[u8], skipped: usize) -> Result<Flow> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(Flow::Continue);
        }
        if let Err(e) = self.parser.parse(line, &mut self.rec) {
            let at = e.column(line) + usize::from(skipped > 0);
            let hint = if looks_like_a_piece(line) {
                " (a piece of a value over several lines? `json` reads one whose first line \
                 opens it, as `jq .` writes it; or write one value a line with `jq -c`)"
            } else {
                ""
            };
            return self.bad(format!(":{at}: not JSON: {}{hint}", e.what));
        }
        self.emit()
    }

    /// The record just parsed: checked to be an object, tagged, sent on.
    fn emit(&mut self) -> Result<Flow> {
        let what = match self.rec.root().ty() {
            Type::Object => None,
            Type::Array => Some("an array"),
            Type::String => Some("a string"),
            Type::Number => Some("a number"),
            Type::Bool => Some("a boolean"),
            Type::Null => Some("null"),
        };
        if let Some(what) = what {
            return self.bad(format!(": expected a JSON object, found {what}"));
        }
        if let Some(t) = &self.tag {
            if self.rec.get("file").is_none() {
                self.rec.prepend_str("file", t);
            } else if !self.warned {
                // The record's own `file` is data; the tag is only a convenience.
                self.warned = true;
                crate::say!(
                    "copipe: json: {}:{}: the record has a field `file` of its own: it is kept, \
                     and the input's name is not added (nor to later such records)",
                    self.origin,
                    self.line
                );
            }
        }
        self.next.send(Item::Record(&self.rec))
    }

    /// The next line of a value over several lines: added, and once the brackets balance,
    /// the value parsed and sent on.
    fn more(&mut self, line: &[u8]) -> Result<Flow> {
        self.pending.push(b'\n');
        self.pending.extend_from_slice(line);
        self.ends.push(self.pending.len());
        self.scan.line(line);
        let last = self.line;
        if self.scan.broken() {
            return self.bad_pending("its brackets do not match (a `]` or `}` too many)", last);
        }
        if self.scan.in_str {
            return self.bad_pending("a string is not closed at the end of a line", last);
        }
        if self.scan.depth > 0 {
            if self.pending.len() > self.max {
                let max = crate::runtime::units::size_text(self.max);
                let why = format!("the value is not complete after {max} (--max-line)");
                return self.bad_pending(&why, last);
            }
            return Ok(Flow::Continue);
        }
        let pending = std::mem::take(&mut self.pending);
        let parsed = self.parser.parse(&pending, &mut self.rec);
        self.pending = pending;
        if let Err(e) = parsed {
            let (line, col) = line_col(&self.pending, e.at);
            let at = self.began + line;
            let what = format!("not JSON: {} (line {at}, column {col})", e.what);
            return self.bad_pending(&what, self.line);
        }
        self.pending.clear();
        // Its errors name the line it began on.
        let line = std::mem::replace(&mut self.line, self.began);
        let flow = self.emit();
        self.line = line;
        flow
    }

    /// A value over several lines that is not JSON: an error naming the line it began on
    /// (or, with --skip-bad, dropped and counted).
    ///
    /// With --skip-bad its lines are read again one by one, as NDJSON lines (what each
    /// would have been without the attempt: its first, `{` alone, is skipped; a line that
    /// is a JSON object on its own is a record), so nothing is lost nor invented.
    fn bad_pending(&mut self, what: &str, to: u64) -> Result<Flow> {
        let pending = std::mem::take(&mut self.pending);
        let ends = std::mem::take(&mut self.ends);
        self.scan = Scan::default();
        let began = self.began;
        if self.skip_bad {
            let line = self.line;
            let mut from = 0;
            let mut flow = Ok(Flow::Continue);
            for (i, &end) in ends.iter().enumerate() {
                self.line = began + i as u64;
                flow = self.one(&pending[from..end], 0);
                if !matches!(flow, Ok(Flow::Continue)) {
                    break;
                }
                from = end + 1;
            }
            self.line = line;
            self.pending = pending;
            self.pending.clear();
            self.ends = ends;
            self.ends.clear();
            return flow;
        }
        self.pending = pending;
        self.pending.clear();
        bail!(
            "json: {}:{began}: the value that begins on this line (lines {began} to {to}): {what}",
            self.origin,
        )
    }

    /// The end of an input inside a value over several lines.
    fn unfinished(&mut self) -> Result<Flow> {
        if self.pending.is_empty() {
            return Ok(Flow::Continue);
        }
        self.bad_pending("the input ends before the value does", self.line)
    }
}

/// Line (from 0) and column (from 1, in characters) of byte `at` of `text`.
fn line_col(text: &[u8], at: usize) -> (u64, usize) {
    let at = at.min(text.len());
    let before = &text[..at];
    let line = memchr::memchr_iter(b'\n', before).count() as u64;
    let start = memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
    let col = before[start..]
        .iter()
        .filter(|&&c| (c as i8) >= -0x40)
        .count()
        + 1;
    (line, col)
}

/// Whether a line that is not JSON looks like a piece of pretty-printed JSON: a member
/// (`"a": 1,`) or a closing bracket.
fn looks_like_a_piece(line: &[u8]) -> bool {
    let t = line.trim_ascii();
    matches!(t.first(), Some(b'}' | b']'))
        || (t.first() == Some(&b'"') && memchr::memmem::find(t, b"\":").is_some())
}

/// The brackets of the lines of a value over several lines, outside its strings.
#[derive(Default, Clone, Copy)]
struct Scan {
    depth: i64,
    /// Went below zero (more closed than opened).
    below: bool,
    in_str: bool,
    escaped: bool,
}

impl Scan {
    fn line(&mut self, line: &[u8]) {
        for &c in line {
            if self.in_str {
                if self.escaped {
                    self.escaped = false;
                } else if c == b'\\' {
                    self.escaped = true;
                } else if c == b'"' {
                    self.in_str = false;
                }
                continue;
            }
            match c {
                b'"' => self.in_str = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    self.below |= self.depth < 0;
                }
                _ => {}
            }
        }
    }

    fn broken(&self) -> bool {
        self.below
    }
}

impl Json {
    /// A bad line: `why` follows the line number (`:COLUMN: …` or `: …`).
    fn bad(&mut self, why: String) -> Result<Flow> {
        if self.skip_bad {
            self.skipped += 1;
            return Ok(Flow::Continue);
        }
        bail!("json: {}:{}{why}", self.origin, self.line)
    }
}
