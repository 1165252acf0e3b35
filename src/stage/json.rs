//! `json` — parse each line as a JSON object into a record.
//!
//! Accepts lines; emits records. Blank lines are skipped. A line that is not a JSON object
//! is an error naming the input and line number (`json: app.ndjson:3: …`), or, with
//! `--skip-bad`, is dropped and counted (the count is reported on stderr at the end). When
//! the source shows origins as tags (`cat --tag`, `follow --tag`), each record gets the
//! input's name as a first field `file` (replacing a `file` field of the line, if any); the
//! origin is passed on too. Line numbers restart with each input, which errors name (the
//! sources that read files announce each one).

use anyhow::{Result, bail};
use clap::{ArgMatches, FromArgMatches, Parser};

use crate::item::{Item, Kind, Origin, Show};
use crate::pipeline::registry::{Build, BuildCx, Emits, Role, StageDef};
use crate::record::{ROOT, Record};
use crate::stage::{Flow, Stage};

/// Parse each line as a JSON object (NDJSON) into a record.
///
/// A line that is not a JSON object is an error, or is skipped and counted with
/// `--skip-bad`. Blank lines are skipped. After `cat --tag` or `follow --tag`, records get
/// a first field `file` with the input's name.
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
        "copipe follow --tag a.ndjson b.ndjson : json --skip-bad : where status>=500",
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
    rec: Record,
    next: Box<dyn Stage>,
}

impl Stage for Json {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        let Item::Line(line) = item else {
            return self.next.send(item);
        };
        self.line += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(Flow::Continue);
        }
        let map = match serde_json::from_slice::<serde_json::Value>(line) {
            Ok(serde_json::Value::Object(m)) => m,
            Ok(other) => {
                let what = match other {
                    serde_json::Value::Array(_) => "an array",
                    serde_json::Value::String(_) => "a string",
                    serde_json::Value::Number(_) => "a number",
                    serde_json::Value::Bool(_) => "a boolean",
                    _ => "null",
                };
                return self.bad(format!("expected a JSON object, found {what}"));
            }
            Err(e) => return self.bad(format!("not JSON: {e}")),
        };
        self.rec.clear();
        if let Some(t) = &self.tag {
            self.rec.add_str(ROOT, "", "file", t);
        }
        for (k, v) in &map {
            if self.tag.is_some() && k == "file" {
                continue;
            }
            self.rec.add_value(ROOT, k, v);
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
            eprintln!(
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
    fn bad(&mut self, why: String) -> Result<Flow> {
        if self.skip_bad {
            self.skipped += 1;
            return Ok(Flow::Continue);
        }
        bail!("json: {}:{}: {why}", self.origin, self.line)
    }
}
