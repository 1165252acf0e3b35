//! `count` — count the items that reach it and print the number on standard output when the
//! stream ends (like `grep -c` and `wc -l`). With no item the exit status is 1, as `grep -c`.
//!
//! `count --by FIELD...` counts records per distinct value of the fields (a tuple when
//! several): at the end, one row per distinct value, by count (descending; ties in the order
//! first seen), as NDJSON records `{"path":"/x","count":3}` into a pipe or a file, and as
//! aligned text on a terminal (`--json` keeps NDJSON there). A missing field counts as null;
//! values keep their JSON type (`"22"` and `22` are two values). Memory: one entry per
//! distinct value, at most `--max-keys` of them (1,000,000 by default: about 200 bytes each
//! besides the values' text, 200 MB for short values): the records of the values that come
//! after the bound is reached are counted together in a last row `{"other":true,"count":N}`,
//! and stderr says so (a value already counted keeps counting). Nothing is allocated for a
//! value already seen.
//!
//! `count --every DURATION` prints the count of each interval as it ends ([`every`]); with
//! `--by` too, the counts per value of each interval, as a block.

use std::cell::RefCell;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io::IsTerminal;
use std::rc::Rc;

use anyhow::{Result, bail};
use clap::{ArgMatches, FromArgMatches, Parser};

use crate::item::{Item, Kind, Origin, count_lines, split_path};
use crate::protocol::def::{Build, BuildCx, Emits, Role, StageDef, Status};
use crate::protocol::{Flow, Stage};
use crate::record::write_json_str;
use crate::runtime::output::Output;

pub mod every;

/// The default of `--max-keys`: an entry is about 160 bytes besides its values' text.
pub const MAX_KEYS: u64 = 1_000_000;

/// Print the number of items received, once the stream ends; or, with --by, the number of
/// records per distinct value of some fields.
///
/// `count --by FIELD...` (records only) prints one row per distinct value (or tuple of
/// values) of the fields, sorted by count, highest first (ties in the order first seen):
/// NDJSON records such as {"path":"/x","count":3} into a pipe or file, aligned columns on a
/// terminal. A record without the field counts under null. FIELD may be a dotted path.
///
/// Memory is bounded: at most --max-keys distinct values (1,000,000 by default: about 200
/// bytes each besides the values' text, 200 MB for short values) are counted one by one;
/// once that many are held, the records of each new value are counted together in a last
/// row {"other":true,"count":N} ("(other)" on a terminal), and stderr says how many records
/// went there. Values already held keep counting exactly. With --every, the bound is per
/// interval.
///
/// With `--every DURATION`, print the count of each interval as it ends instead, one line
/// per interval: the interval's end in UTC (RFC 3339, to the second), a space, the count —
/// `2026-12-01T10:00:10Z 42`. Quiet intervals print 0. The last, partial interval is printed
/// when the stream ends.
///
/// With both --by and --every, each interval prints a block of its counts per value, sorted
/// as above, each NDJSON row with the interval's end time as its first field:
/// {"time":"2026-12-01T10:00:10Z","level":"error","count":3}. On a terminal a block is the
/// time on a line of its own, the aligned columns, and a blank line. A quiet interval prints
/// no row (on a terminal: its time and 0).
#[derive(Parser)]
#[command(name = "count", disable_version_flag = true)]
pub struct Args {
    /// Count per distinct value of these fields (records only).
    #[arg(long, num_args = 1.., value_name = "FIELD")]
    pub by: Vec<String>,
    /// With --by: write NDJSON even on a terminal.
    #[arg(long, requires = "by")]
    pub json: bool,
    /// With --by: the most distinct values counted one by one; the records of further
    /// values are counted together in a last row {"other":true,...}.
    #[arg(long, requires = "by", value_name = "N", default_value_t = MAX_KEYS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_keys: u64,
    /// Print the count of each interval of DURATION (`500ms`, `10s`, `5m`, `1h`; a bare
    /// number is seconds) as it ends, with its end time (with --by: a block per interval).
    #[arg(long, value_name = "DURATION", value_parser = crate::runtime::units::parse_duration)]
    pub every: Option<std::time::Duration>,
}

pub const DEF: StageDef = StageDef {
    name: "count",
    aliases: &["wc"],
    role: Role::Sink,
    summary: "print the number of items at the end (--by FIELD...: per value; --every D: per interval)",
    accepts: Kind::ALL,
    emits: Emits::Nothing,
    examples: &[
        "copipe cat words.txt : grep 'ion$' : count",
        "copipe cat access.log : combined : where 'status>=500' : count --by path",
        "copipe follow app.log : grep ERROR : count --every 10s",
        "copipe follow app.log : logfmt : count --by level --every 1m",
    ],
    command: <Args as clap::CommandFactory>::command,
    fusion: None,
    build: Build::Sink(build),
};

fn build(m: &ArgMatches, cx: &BuildCx<'_>) -> Result<Box<dyn Stage>> {
    let a = Args::from_arg_matches(m)?;
    if !a.by.is_empty() && cx.input != Kind::Record {
        bail!(
            "count --by needs records, and receives {}: put a parser before it (json, parse, csv …)",
            cx.input.plural()
        );
    }
    let text = !a.json && std::io::stdout().is_terminal();
    if let Some(every) = a.every {
        let by = (!a.by.is_empty()).then(|| Tally::new(a.by, text).max_keys(a.max_keys));
        return Ok(Box::new(every::Every::new(every, by, cx)));
    }
    if a.by.is_empty() {
        return Ok(Box::new(Count {
            n: 0,
            out: cx.stdout.clone(),
            status: cx.status.clone(),
        }));
    }
    Ok(Box::new(CountBy {
        tally: Tally::new(a.by, text).max_keys(a.max_keys),
        out: cx.stdout.clone(),
        status: cx.status.clone(),
    }))
}

struct Count {
    n: u64,
    out: Rc<RefCell<Output>>,
    status: Status,
}

impl Stage for Count {
    fn send(&mut self, _item: Item<'_>) -> Result<Flow> {
        self.n += 1;
        Ok(Flow::Continue)
    }

    fn send_lines(&mut self, batch: &[u8]) -> Result<Flow> {
        self.n += count_lines(batch);
        Ok(Flow::Continue)
    }

    fn origin(&mut self, _origin: Origin<'_>) -> Result<()> {
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        if self.status.failed() {
            // Not the count of the input: said as partial, not printed as the result.
            crate::say!(
                "copipe: count: not printed, the pipeline failed: {} items counted before it did (partial)",
                self.n
            );
            return Ok(());
        }
        if self.n > 0 {
            self.status.mark_delivered();
        }
        let mut out = self.out.borrow_mut();
        let mut digits = itoa::Buffer::new();
        out.write_all(digits.format(self.n).as_bytes())?;
        out.write_all(b"\n")?;
        out.flush()
    }
}

/// The counts per distinct value of some fields, and how they are printed.
pub struct Tally {
    names: Vec<String>,
    paths: Vec<Vec<String>>,
    /// Aligned text rather than NDJSON.
    text: bool,
    /// The JSON texts of the values, each followed by a NUL (which JSON text never holds),
    /// → (count, order first seen).
    seen: HashMap<Vec<u8>, (u64, u64)>,
    key: Vec<u8>,
    /// The most entries in `seen`, and the records of the values that found it full.
    max: usize,
    others: u64,
}

impl Tally {
    pub fn new(names: Vec<String>, text: bool) -> Self {
        Tally {
            paths: names.iter().map(|p| split_path(p)).collect(),
            names,
            text,
            seen: HashMap::new(),
            key: Vec::new(),
            max: usize::MAX,
            others: 0,
        }
    }

    /// Hold at most `n` distinct values (see `--max-keys`).
    pub fn max_keys(mut self, n: u64) -> Self {
        self.max = usize::try_from(n).unwrap_or(usize::MAX).max(1);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty() && self.others == 0
    }

    /// Count a record under its values.
    pub fn add(&mut self, item: Item<'_>) {
        let Item::Record(rec) = item else {
            return;
        };
        self.key.clear();
        for p in &self.paths {
            match rec.lookup(p) {
                Some(v) => v.write_json(&mut self.key),
                None => self.key.extend_from_slice(b"null"),
            }
            self.key.push(0);
        }
        let order = self.seen.len() as u64;
        let full = self.seen.len() >= self.max;
        match self.seen.get_mut(self.key.as_slice()) {
            Some(e) => e.0 += 1,
            None if full => self.others += 1,
            None => {
                if let Entry::Vacant(v) = self.seen.entry(self.key.clone()) {
                    v.insert((1, order));
                }
            }
        }
    }

    /// Write the counts onto `buf`, by count (highest first, ties in the order first seen),
    /// and forget them. With a `time` (of `count --every`): NDJSON rows get it as a first
    /// field, and the text is a block under a line with the time (0 when nothing came).
    pub fn write(&mut self, time: Option<&str>, buf: &mut Vec<u8>) {
        let mut rows: Vec<(&[u8], u64, u64)> = self
            .seen
            .iter()
            .map(|(k, &(n, o))| (k.as_slice(), n, o))
            .collect();
        rows.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
        if self.text {
            if let Some(t) = time {
                buf.extend_from_slice(t.as_bytes());
                buf.push(b'\n');
                if rows.is_empty() {
                    buf.extend_from_slice(b"0\n\n");
                    return;
                }
            }
            // Columns: the count, right-aligned, then each field's value as text.
            let cells: Vec<(String, Vec<String>)> = rows
                .iter()
                .map(|(k, n, _)| (n.to_string(), values(k).into_iter().map(as_text).collect()))
                .collect();
            let others = (self.others > 0).then(|| {
                let mut vs = vec![String::new(); self.names.len()];
                vs[0] = "(other)".to_string();
                (self.others.to_string(), vs)
            });
            let mut widths: Vec<usize> = self.names.iter().map(|n| n.chars().count()).collect();
            let mut nw = "count".len();
            for (n, vs) in cells.iter().chain(&others) {
                nw = nw.max(n.len());
                for (w, v) in widths.iter_mut().zip(vs) {
                    *w = (*w).max(v.chars().count());
                }
            }
            let mut line = |count: &str, vs: &[String]| {
                let mut s = format!("{count:>nw$}");
                for (i, (v, w)) in vs.iter().zip(&widths).enumerate() {
                    s.push_str("  ");
                    if i + 1 == vs.len() {
                        s.push_str(v);
                    } else {
                        s.push_str(&format!("{v:<w$}"));
                    }
                }
                s.push('\n');
                buf.extend_from_slice(s.as_bytes());
            };
            line("count", &self.names);
            for (n, vs) in cells.iter().chain(&others) {
                line(n, vs);
            }
            if time.is_some() {
                buf.push(b'\n');
            }
        } else {
            let mut digits = itoa::Buffer::new();
            for (k, n, _) in &rows {
                buf.push(b'{');
                if let Some(t) = time {
                    buf.extend_from_slice(b"\"time\":\"");
                    buf.extend_from_slice(t.as_bytes());
                    buf.extend_from_slice(b"\",");
                }
                for (name, v) in self.names.iter().zip(values(k)) {
                    write_json_str(buf, name);
                    buf.push(b':');
                    buf.extend_from_slice(v);
                    buf.push(b',');
                }
                buf.extend_from_slice(b"\"count\":");
                buf.extend_from_slice(digits.format(*n).as_bytes());
                buf.extend_from_slice(b"}\n");
            }
            if self.others > 0 {
                buf.push(b'{');
                if let Some(t) = time {
                    buf.extend_from_slice(b"\"time\":\"");
                    buf.extend_from_slice(t.as_bytes());
                    buf.extend_from_slice(b"\",");
                }
                buf.extend_from_slice(b"\"other\":true,\"count\":");
                buf.extend_from_slice(digits.format(self.others).as_bytes());
                buf.extend_from_slice(b"}\n");
            }
        }
        if self.others > 0 {
            let when = time
                .map(|t| format!(" (the interval ending {t})"))
                .unwrap_or_default();
            crate::say!(
                "copipe: count --by: more than {} distinct values{when}: the {} records of \
                 the values after the first {} are counted together in the last row \
                 (other); raise --max-keys to count them one by one",
                self.max,
                self.others,
                self.max
            );
        }
        self.seen.clear();
        self.others = 0;
    }
}

/// `count --by`.
struct CountBy {
    tally: Tally,
    out: Rc<RefCell<Output>>,
    status: Status,
}

impl Stage for CountBy {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        self.tally.add(item);
        Ok(Flow::Continue)
    }

    fn origin(&mut self, _origin: Origin<'_>) -> Result<()> {
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        if self.status.failed() {
            crate::say!(
                "copipe: count --by: not printed, the pipeline failed: the counts would be partial"
            );
            return Ok(());
        }
        if !self.tally.is_empty() {
            self.status.mark_delivered();
        }
        let mut buf = Vec::new();
        self.tally.write(None, &mut buf);
        let mut out = self.out.borrow_mut();
        out.write_all(&buf)?;
        out.flush()
    }
}

/// A value's JSON text as a person reads it: a string without its quotes and escapes.
fn as_text(json: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(json) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::from_utf8_lossy(json).into_owned(),
    }
}

/// The values of a key (each followed by a NUL).
fn values(k: &[u8]) -> Vec<&[u8]> {
    let mut v: Vec<&[u8]> = k.split(|&b| b == 0).collect();
    v.pop();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ROOT, Record};

    fn tally(text: bool, values: &[&str]) -> Tally {
        let mut t = Tally::new(vec!["level".into()], text);
        let mut rec = Record::new();
        for v in values {
            rec.clear();
            rec.add_str(ROOT, "", "level", v);
            t.add(Item::Record(&rec));
        }
        t
    }

    #[test]
    fn past_max_keys_new_values_are_counted_together_in_a_last_row() {
        let mut t = Tally::new(vec!["level".into()], false).max_keys(2);
        for v in ["a", "b", "a", "c", "d", "b", "e", "c", "a"] {
            let mut rec = Record::new();
            rec.add_str(ROOT, "", "level", v);
            t.add(Item::Record(&rec));
        }
        let mut buf = Vec::new();
        t.write(None, &mut buf);
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "{\"level\":\"a\",\"count\":3}\n{\"level\":\"b\",\"count\":2}\n\
             {\"other\":true,\"count\":4}\n"
        );
        assert!(t.is_empty());
        let mut t = Tally::new(vec!["level".into(), "x".into()], true).max_keys(1);
        for v in ["info", "error", "warn"] {
            let mut rec = Record::new();
            rec.add_str(ROOT, "", "level", v);
            t.add(Item::Record(&rec));
        }
        let mut buf = Vec::new();
        t.write(None, &mut buf);
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "count  level    x\n    1  info     null\n    2  (other)  \n"
        );
    }

    #[test]
    fn an_interval_block_has_its_time_and_is_forgotten_after() {
        let mut t = tally(false, &["b", "a", "a", "b", "c"]);
        let mut buf = Vec::new();
        t.write(Some("2026-12-01T10:00:10Z"), &mut buf);
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "{\"time\":\"2026-12-01T10:00:10Z\",\"level\":\"b\",\"count\":2}\n\
             {\"time\":\"2026-12-01T10:00:10Z\",\"level\":\"a\",\"count\":2}\n\
             {\"time\":\"2026-12-01T10:00:10Z\",\"level\":\"c\",\"count\":1}\n"
        );
        assert!(t.is_empty(), "the next interval starts from nothing");
        let mut buf = Vec::new();
        t.write(Some("2026-12-01T10:00:20Z"), &mut buf);
        assert!(buf.is_empty(), "a quiet interval prints no row");
    }

    #[test]
    fn an_interval_block_on_a_terminal_is_the_time_then_columns() {
        let mut t = tally(true, &["info", "error", "info"]);
        let mut buf = Vec::new();
        t.write(Some("2026-12-01T10:00:10Z"), &mut buf);
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "2026-12-01T10:00:10Z\ncount  level\n    2  info\n    1  error\n\n"
        );
        let mut buf = Vec::new();
        t.write(Some("2026-12-01T10:00:20Z"), &mut buf);
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "2026-12-01T10:00:20Z\n0\n\n"
        );
    }
}
