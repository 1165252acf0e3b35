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

use anyhow::{Result, bail};
use clap::{ArgMatches, FromArgMatches, Parser};

use crate::item::{Item, Kind, Origin, Show};
use crate::record::{JsonParser, Record, Type};
use crate::stage::def::{Build, BuildCx, Emits, Role, StageDef};

/// A UTF-8 byte order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";
use crate::stage::{Flow, Stage};

/// Parse each line as a JSON object (NDJSON) into a record.
///
/// A line that is not a JSON object is an error naming the input, line and column, or is
/// skipped and counted with `--skip-bad`. Blank lines are skipped, and so is a byte order
/// mark at the start of an input. Numbers keep their text as written (`1e400`, integers of
/// any size); a repeated key keeps its first place and its last value. After `cat --tag` or
/// `follow --tag`, records get a first field `file` with the input's name, unless they have
/// a `file` field of their own: that one is kept (and a warning says so, once).
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
    build: Build::Filter(build),
};

fn build(m: &ArgMatches, _cx: &BuildCx<'_>, next: Box<dyn Stage>) -> Result<Box<dyn Stage>> {
    let a = Args::from_arg_matches(m)?;
    Ok(Box::new(Json {
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
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(Flow::Continue);
        }
        if let Err(e) = self.parser.parse(line, &mut self.rec) {
            let at = e.column(line) + usize::from(skipped > 0);
            return self.bad(format!(":{at}: not JSON: {}", e.what));
        }
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

    fn origin(&mut self, origin: Origin<'_>) -> Result<()> {
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
    /// A bad line: `why` follows the line number (`:COLUMN: …` or `: …`).
    fn bad(&mut self, why: String) -> Result<Flow> {
        if self.skip_bad {
            self.skipped += 1;
            return Ok(Flow::Continue);
        }
        bail!("json: {}:{}{why}", self.origin, self.line)
    }
}
