//! `table [FIELD...]` — records as aligned columns for people to read (like `column -t`
//! or Miller's pretty print): a header line, then one line per record.
//!
//! The columns are the fields given (dotted paths), or else the top-level keys of the first
//! `--sample` records (100), in the order they first appear. Those records are held to size
//! the columns (a column is as wide as its widest value or its name), then everything is
//! streamed with these widths: a later, longer value is cut with `…`. The stage also stops
//! holding when the source waits for input (`flush`, a followed file), so a quiet log
//! shows its rows at once. The whole line is fitted to `--width`, or else to the terminal
//! standard output is (its size, then `$COLUMNS`): the widest columns give way first and
//! their values are cut with `…` (each keeps at least 4 columns, so many columns on a narrow
//! terminal still wrap). Into a pipe or a file without `--width` nothing is cut.
//!
//! `table` always aligns, on a terminal or not: it is the user's explicit choice, and a
//! pipeline never changes format on its own. Line breaks, tabs and other control characters
//! in a value show as spaces, so that a record stays one line. Widths are counted in
//! terminal columns (`unicode-width`): CJK and emoji count two.
//!
//! After the sample, the hot path writes into one reused line buffer: no allocation per
//! field.

use std::io::IsTerminal;

use anyhow::{Result, bail};
use clap::{ArgMatches, FromArgMatches, Parser};
use unicode_width::UnicodeWidthChar;

use crate::item::{Item, Kind, Origin, Record, split_path};
use crate::protocol::def::{Build, BuildCx, Emits, Role, StageDef};
use crate::protocol::{Flow, Stage};

/// Print records as aligned columns for people: a header, then one line per record.
///
/// The columns are the FIELDs given (dotted paths like `a.b`), or else the keys of the
/// first records (--sample, 100), in the order they first appear. Those records are held
/// to size the columns, then every record is printed as it comes with these widths, a
/// longer value cut with `…`; when the source waits for more (`follow`), the held records
/// are printed at once. Lines are fitted to --width, or to the width of the terminal
/// standard output is (its size, else $COLUMNS), the widest columns cut first (each keeps
/// at least 4); into a pipe or a file without --width nothing is cut. `table` aligns
/// wherever its output goes: it is an explicit choice, never made for you. Line breaks and tabs in values show as spaces;
/// null and missing fields as nothing; arrays and objects as compact JSON.
#[derive(Parser)]
#[command(name = "table", disable_version_flag = true)]
pub struct Args {
    /// The columns, in order (dotted paths); default: the keys of the first records.
    #[arg(value_name = "FIELD")]
    pub fields: Vec<String>,
    /// Fit each line to this many terminal columns (default: the terminal's width; no
    /// limit when standard output is not a terminal and $COLUMNS is not set).
    #[arg(long, value_name = "N")]
    pub width: Option<usize>,
    /// How many records are held to choose and size the columns.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub sample: usize,
}

pub const DEF: StageDef = StageDef {
    name: "table",
    aliases: &[],
    role: Role::Filter,
    summary: "records → aligned columns for people (widths from the first records)",
    accepts: &[Kind::Record],
    emits: Emits::Kind(Kind::Line),
    examples: &[
        "copipe xml feed.xml : records bus : table id route direction",
        "copipe cat access.log : combined : where 'status>=500' : table --width 100",
    ],
    command: <Args as clap::CommandFactory>::command,
    fusion: None,
    build: Build::Filter(build),
};

fn build(m: &ArgMatches, _cx: &BuildCx<'_>, next: Box<dyn Stage>) -> Result<Box<dyn Stage>> {
    let a = Args::from_arg_matches(m)?;
    if a.sample == 0 {
        bail!("--sample must be at least 1");
    }
    if a.width == Some(0) {
        bail!("--width must be at least 1");
    }
    let limit = a.width.or_else(terminal_width);
    Ok(Box::new(Table {
        columns: a
            .fields
            .iter()
            .map(|f| (f.clone(), split_path(f)))
            .collect(),
        chosen: !a.fields.is_empty(),
        sample: a.sample,
        limit,
        held: Vec::new(),
        widths: Vec::new(),
        streaming: false,
        line: Vec::with_capacity(256),
        value: Vec::with_capacity(64),
        next,
    }))
}

/// The width of the terminal standard output is (its size, else `$COLUMNS`); none when
/// standard output is not a terminal.
fn terminal_width() -> Option<usize> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    if let Some(columns) = crate::runtime::fd::terminal_columns(libc::STDOUT_FILENO) {
        return Some(columns);
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .filter(|&c: &usize| c > 0)
}

/// A cell's text as shown: control characters as spaces.
fn shown(c: char) -> char {
    if c.is_control() { ' ' } else { c }
}

/// The terminal columns `text` takes, as shown.
fn width_of(text: &str) -> usize {
    text.chars().map(|c| shown(c).width().unwrap_or(0)).sum()
}

/// Write `text` into `out` in at most `w` terminal columns (cut with `…`), padded with
/// spaces to `w` when `pad`.
fn put_cell(out: &mut Vec<u8>, text: &str, w: usize, pad: bool) {
    let full = width_of(text);
    let mut used = 0;
    if full <= w {
        for c in text.chars() {
            push_char(out, shown(c));
        }
        used = full;
    } else if w > 0 {
        // Room for the `…`.
        for c in text.chars() {
            let c = shown(c);
            let cw = c.width().unwrap_or(0);
            if used + cw > w - 1 {
                break;
            }
            push_char(out, c);
            used += cw;
        }
        push_char(out, '…');
        used += 1;
    }
    if pad {
        out.resize(out.len() + w.saturating_sub(used), b' ');
    }
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut b = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
}

/// The column widths fitted to `limit` with two spaces between columns: the widest give
/// way first (every column keeps at least a few columns, so a narrow terminal may still
/// wrap).
fn fit(widths: &mut [usize], limit: usize) {
    let gaps = 2 * widths.len().saturating_sub(1);
    let room = limit.saturating_sub(gaps);
    if widths.iter().sum::<usize>() <= room {
        return;
    }
    // The largest cap such that the capped widths fit.
    let (mut lo, mut hi) = (0, *widths.iter().max().unwrap_or(&0));
    while lo < hi {
        let cap = (lo + hi).div_ceil(2);
        if widths.iter().map(|&w| w.min(cap)).sum::<usize>() <= room {
            lo = cap;
        } else {
            hi = cap - 1;
        }
    }
    let cap = lo.max(4);
    for w in widths {
        *w = (*w).min(cap);
    }
}

struct Table {
    /// Each column's name and path.
    columns: Vec<(String, Vec<String>)>,
    /// The columns were given (else they come from the held records).
    chosen: bool,
    sample: usize,
    limit: Option<usize>,
    /// The records held to size the columns.
    held: Vec<Record>,
    widths: Vec<usize>,
    /// The widths are set; records go straight out.
    streaming: bool,
    line: Vec<u8>,
    value: Vec<u8>,
    next: Box<dyn Stage>,
}

impl Table {
    /// A record's value for one column, as text, into `value`.
    fn value_of(value: &mut Vec<u8>, rec: &Record, name: &str, path: &[String]) {
        value.clear();
        if let Some(v) = rec.get(name).or_else(|| rec.lookup(path)) {
            v.write_text(value);
        }
    }

    /// Size the columns from the held records, print the header and them; from now on
    /// records are streamed.
    fn start(&mut self) -> Result<Flow> {
        self.streaming = true;
        if !self.chosen {
            let mut seen = std::collections::HashSet::new();
            for rec in &self.held {
                for (k, _) in rec.fields() {
                    if seen.insert(k.to_string()) {
                        self.columns.push((k.to_string(), vec![k.to_string()]));
                    }
                }
            }
        }
        if self.columns.is_empty() {
            return Ok(Flow::Continue);
        }
        self.widths = self.columns.iter().map(|(n, _)| width_of(n)).collect();
        for rec in &self.held {
            for (i, (name, path)) in self.columns.iter().enumerate() {
                Self::value_of(&mut self.value, rec, name, path);
                let w = width_of(&String::from_utf8_lossy(&self.value));
                self.widths[i] = self.widths[i].max(w);
            }
        }
        if let Some(limit) = self.limit {
            fit(&mut self.widths, limit);
        }
        self.line.clear();
        let last = self.columns.len() - 1;
        for (i, (name, _)) in self.columns.iter().enumerate() {
            if i > 0 {
                self.line.extend_from_slice(b"  ");
            }
            put_cell(&mut self.line, name, self.widths[i], i < last);
        }
        if self.next.send(Item::Line(&self.line))?.is_stop() {
            return Ok(Flow::Stop);
        }
        let held = std::mem::take(&mut self.held);
        for rec in &held {
            if self.row(rec)?.is_stop() {
                return Ok(Flow::Stop);
            }
        }
        Ok(Flow::Continue)
    }

    /// Print one record with the set widths.
    fn row(&mut self, rec: &Record) -> Result<Flow> {
        if self.columns.is_empty() {
            return Ok(Flow::Continue);
        }
        self.line.clear();
        let last = self.columns.len() - 1;
        for (i, (name, path)) in self.columns.iter().enumerate() {
            if i > 0 {
                self.line.extend_from_slice(b"  ");
            }
            Self::value_of(&mut self.value, rec, name, path);
            // Values are JSON strings (valid UTF-8); the lossy view borrows.
            let text = String::from_utf8_lossy(&self.value);
            put_cell(&mut self.line, &text, self.widths[i], i < last);
        }
        // No trailing spaces on a short last cell of a line padded before it.
        while self.line.last() == Some(&b' ') {
            self.line.pop();
        }
        self.next.send(Item::Line(&self.line))
    }
}

impl Stage for Table {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        let Item::Record(rec) = item else {
            bail!("table takes records, not {}", item.kind().plural());
        };
        if self.streaming {
            return self.row(rec);
        }
        self.held.push(rec.clone());
        if self.held.len() >= self.sample {
            return self.start();
        }
        Ok(Flow::Continue)
    }

    fn origin(&mut self, origin: Origin<'_>) -> Result<()> {
        self.next.origin(origin)
    }

    fn flush(&mut self) -> Result<()> {
        // The source waits: show what is held rather than keep it back.
        if !self.streaming && !self.held.is_empty() {
            let _ = self.start()?;
        }
        self.next.flush()
    }

    crate::pass_on!(tick);

    fn close(&mut self) -> Result<()> {
        if !self.streaming && !self.held.is_empty() {
            let _ = self.start()?;
        }
        self.next.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(text: &str, w: usize) -> String {
        let mut out = Vec::new();
        put_cell(&mut out, text, w, true);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn cells_are_padded_or_cut_with_an_ellipsis_in_terminal_columns() {
        assert_eq!(cell("ab", 4), "ab  ");
        assert_eq!(cell("abcdef", 4), "abc…");
        assert_eq!(cell("日本語", 4), "日… ");
        assert_eq!(cell("a\nb", 3), "a b");
    }

    #[test]
    fn fitting_cuts_the_widest_columns_first() {
        let mut w = vec![5, 40, 10];
        fit(&mut w, 40);
        assert_eq!(w, vec![5, 21, 10]);
        let mut w = vec![5, 6];
        fit(&mut w, 80);
        assert_eq!(w, vec![5, 6]);
    }
}
