//! `tocsv [FIELD...]` — records to CSV (or, with `--tsv`, TSV) lines: a header line once,
//! then one row per record.
//!
//! The columns are the fields given (dotted paths, as in `select` and `fmt`), or else the
//! top-level keys of the first record; a later record's other fields are left out, and a
//! field it lacks is an empty cell. A string is written as it is, a number or bool as
//! written in the record, null as an empty cell, an array or object as compact JSON text.
//! Cells are quoted per RFC 4180 by `csv-core`'s writer: only when they hold the separator,
//! a quote (doubled inside) or a line break; a row of one empty cell is `""`. The row goes
//! on as one line whose quoted line breaks stay inside it. `--tsv` writes the same with a
//! tab between cells (Python's `excel-tab` dialect, which `tsv` reads back).
//!
//! The hot path reuses one row buffer and one value buffer: no allocation per field. Time is
//! linear in the fields of a record and the columns (a record of 80,000 keys is one pass
//! over each, with the columns' names in a hash map); memory: the columns, one row.

use std::collections::HashMap;

use anyhow::{Result, bail};
use clap::{ArgMatches, FromArgMatches, Parser};
use csv_core::{QuoteStyle, Terminator, WriteResult, Writer, WriterBuilder};

use crate::item::{Item, Kind, Origin, Record, split_path};
use crate::protocol::def::{Build, BuildCx, Emits, Role, StageDef};
use crate::protocol::{Flow, Stage};

/// Turn records into CSV lines: a header once, then one row per record (RFC 4180).
///
/// The columns are the FIELDs given (dotted paths like `a.b`), or else the top-level keys
/// of the first record: fields a later record has beyond them are left out, and a field it
/// lacks is an empty cell. Strings are written as they are, numbers and bools as written,
/// null as an empty cell, arrays and objects as compact JSON. A cell is quoted only when it
/// holds the separator, a quote (doubled inside) or a line break; such a row is still one
/// item, its line breaks inside the quotes, so written to a file it is valid CSV. Time is
/// linear in a record's fields and the columns; memory holds the columns and one row.
#[derive(Parser)]
#[command(name = "tocsv", disable_version_flag = true)]
pub struct Args {
    /// The columns, in order (dotted paths); default: the first record's keys.
    #[arg(value_name = "FIELD")]
    pub fields: Vec<String>,
    /// Separate cells with a tab (TSV, quoted as CSV is) rather than a comma.
    #[arg(long, conflicts_with = "sep")]
    pub tsv: bool,
    /// The cell separator, one ASCII character (default `,`).
    #[arg(long, value_name = "C")]
    pub sep: Option<char>,
    /// Write no header line.
    #[arg(long)]
    pub no_header: bool,
}

pub const DEF: StageDef = StageDef {
    name: "tocsv",
    aliases: &[],
    role: Role::Filter,
    summary: "record → CSV line (header once, RFC 4180 quoting); --tsv",
    accepts: &[Kind::Record],
    emits: Emits::Kind(Kind::Line),
    examples: &[
        "copipe xml feed.xml : records bus : tocsv : write buses.csv",
        "copipe cat app.log : logfmt : tocsv time level msg --tsv",
    ],
    command: <Args as clap::CommandFactory>::command,
    fusion: None,
    build: Build::Filter(build),
};

fn build(m: &ArgMatches, _cx: &BuildCx<'_>, next: Box<dyn Stage>) -> Result<Box<dyn Stage>> {
    let a = Args::from_arg_matches(m)?;
    let sep = match (a.tsv, a.sep) {
        (true, _) => b'\t',
        (false, None) => b',',
        (false, Some(c)) if c.is_ascii() && !matches!(c, '"' | '\r' | '\n') => c as u8,
        (false, Some(c)) => {
            bail!("--sep must be one ASCII character other than a quote or a line break, not {c:?}")
        }
    };
    let mut columns = Columns::default();
    for f in &a.fields {
        columns.push(f.clone(), split_path(f));
    }
    Ok(Box::new(ToCsv {
        writer: writer(sep),
        columns,
        cells: Vec::new(),
        chosen: !a.fields.is_empty(),
        header: !a.no_header,
        row: Vec::with_capacity(256),
        value: Vec::with_capacity(64),
        next,
    }))
}

fn writer(sep: u8) -> Writer {
    WriterBuilder::new()
        .delimiter(sep)
        .quote_style(QuoteStyle::Necessary)
        .terminator(Terminator::Any(b'\n'))
        .build()
}

/// The rows of a CSV file, one cell at a time, into a reused buffer.
pub struct Row<'a> {
    w: &'a mut Writer,
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Row<'a> {
    /// Begin a row in `out` (cleared).
    pub fn new(w: &'a mut Writer, out: &'a mut Vec<u8>) -> Self {
        out.clear();
        Row {
            w,
            out,
            first: true,
        }
    }

    /// Run one writer call on room enough at the end of the buffer.
    fn put(&mut self, room: usize, f: impl FnOnce(&mut Writer, &mut [u8]) -> (WriteResult, usize)) {
        let at = self.out.len();
        self.out.resize(at + room, 0);
        let (res, n) = f(self.w, &mut self.out[at..]);
        debug_assert!(matches!(res, WriteResult::InputEmpty));
        self.out.truncate(at + n);
    }

    /// Add one cell.
    pub fn cell(&mut self, text: &[u8]) {
        if !self.first {
            self.put(2, |w, o| w.delimiter(o));
        }
        self.first = false;
        // At most 2 + 2 × its length (a cell of quotes), as csv-core documents.
        self.put(2 + 2 * text.len(), |w, o| {
            let (res, _, n) = w.field(text, o);
            (res, n)
        });
    }

    /// End the row (a row of one empty cell is `""`); the buffer holds it, without a
    /// line terminator.
    pub fn end(mut self) {
        self.put(4, |w, o| w.terminator(o));
        if self.out.last() == Some(&b'\n') {
            self.out.pop();
        }
    }
}

/// The columns: each one's name and path, and where a name is.
#[derive(Default)]
struct Columns {
    list: Vec<(String, Vec<String>)>,
    /// The first column of each name (a name given twice is the same cell twice)...
    index: HashMap<String, usize>,
    /// ... and of each column's name.
    first: Vec<usize>,
}

impl Columns {
    fn push(&mut self, name: String, path: Vec<String>) {
        let first = *self.index.entry(name.clone()).or_insert(self.list.len());
        self.first.push(first);
        self.list.push((name, path));
    }
}

struct ToCsv {
    writer: Writer,
    columns: Columns,
    /// Each column's text in `value` of the record being written (`None`: not there).
    cells: Vec<Option<(usize, usize)>>,
    /// The columns were given (else they come from the first record).
    chosen: bool,
    /// The header is still to be written.
    header: bool,
    row: Vec<u8>,
    value: Vec<u8>,
    next: Box<dyn Stage>,
}

impl ToCsv {
    /// One pass over the record's fields, then one over the columns: linear in both,
    /// however many there are. A field whose name is the column's at its place (records
    /// of one shape) is taken without hashing; another is looked up by name; the last of
    /// a repeated key is the one written (as `get` gives). A column that no top-level key
    /// names is then looked up as a path (`a.b`).
    fn write_row(&mut self, rec: &Record) {
        let cols = &self.columns;
        self.cells.clear();
        self.cells.resize(cols.list.len(), None);
        self.value.clear();
        for (i, (key, v)) in rec.fields().enumerate() {
            let at = match cols.list.get(i) {
                Some((name, _)) if name == key => Some(cols.first[i]),
                _ => cols.index.get(key).copied(),
            };
            if let Some(at) = at {
                let from = self.value.len();
                v.write_text(&mut self.value);
                self.cells[at] = Some((from, self.value.len()));
            }
        }
        let mut row = Row::new(&mut self.writer, &mut self.row);
        for (i, (_, path)) in cols.list.iter().enumerate() {
            match self.cells[cols.first[i]] {
                Some((a, b)) => row.cell(&self.value[a..b]),
                None if path.len() > 1 => {
                    let from = self.value.len();
                    if let Some(v) = rec.lookup(path) {
                        v.write_text(&mut self.value);
                    }
                    row.cell(&self.value[from..]);
                }
                None => row.cell(b""),
            }
        }
        row.end();
    }
}

impl Stage for ToCsv {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        let Item::Record(rec) = item else {
            bail!("tocsv takes records, not {}", item.kind().plural());
        };
        if !self.chosen {
            self.chosen = true;
            for (k, _) in rec.fields() {
                self.columns.push(k.to_string(), vec![k.to_string()]);
            }
        }
        if self.header {
            self.header = false;
            let mut row = Row::new(&mut self.writer, &mut self.row);
            for (name, _) in &self.columns.list {
                row.cell(name.as_bytes());
            }
            row.end();
            if self.next.send(Item::Line(&self.row))?.is_stop() {
                return Ok(Flow::Stop);
            }
        }
        self.write_row(rec);
        self.next.send(Item::Line(&self.row))
    }

    fn origin(&mut self, origin: Origin<'_>) -> Result<()> {
        self.next.origin(origin)
    }

    crate::pass_on!(flush, close);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(sep: u8, cells: &[&str]) -> String {
        let mut w = writer(sep);
        let mut out = Vec::new();
        let mut r = Row::new(&mut w, &mut out);
        for c in cells {
            r.cell(c.as_bytes());
        }
        r.end();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn cells_are_quoted_only_when_they_must_be() {
        assert_eq!(row(b',', &["a", "b c", ""]), "a,b c,");
        assert_eq!(
            row(b',', &["a,b", "say \"hi\"", "x\ny", "r\r"]),
            "\"a,b\",\"say \"\"hi\"\"\",\"x\ny\",\"r\r\""
        );
        assert_eq!(row(b'\t', &["a,b", "c\td"]), "a,b\t\"c\td\"");
    }

    #[test]
    fn a_row_of_one_empty_cell_is_two_quotes() {
        assert_eq!(row(b',', &[""]), "\"\"");
        assert_eq!(row(b',', &["", ""]), ",");
    }

    #[test]
    fn the_writer_is_ready_for_the_next_row_after_a_quoted_last_cell() {
        let mut w = writer(b',');
        let mut out = Vec::new();
        let mut r = Row::new(&mut w, &mut out);
        r.cell(b"a\"");
        r.end();
        assert_eq!(out, b"\"a\"\"\"");
        let mut r = Row::new(&mut w, &mut out);
        r.cell(b"b");
        r.end();
        assert_eq!(out, b"b");
    }
}
