//! `csv` and `tsv` — rows of comma- (or tab-) separated values become records.
//!
//! Accepts lines; emits records. The reader is the `csv` crate's push parser (`csv-core`),
//! RFC 4180: fields in double quotes may hold the separator, doubled quotes (`""` is one
//! `"`), and line breaks; `\r\n`, `\n` and `\r` end a row; a UTF-8 BOM at the start of an
//! input is dropped. `tsv` is the same with a tab (Python's `excel-tab` dialect, quotes
//! included).
//!
//! Rows to records:
//! * the first row of each input is the header that names the fields (the sources announce
//!   each input, so `cat a.csv b.csv : csv` reads both headers); `--fields a,b,c` names them
//!   instead (the first row is then data), and `--no-header` names them by position (`1`,
//!   `2`, …); a repeated header name gets a suffix (`a`, `a_2`, `a_3`, as Miller does) and an
//!   empty one its position;
//! * a row with fewer cells than names has the missing fields absent; one with more has the
//!   extra cells in fields named by their position (`4`, `5`, …, as Miller's ragged mode);
//!   `--strict` makes either an error naming the input and line;
//! * values are strings (CSV has no types; `where` compares numbers numerically anyway);
//!   invalid UTF-8 becomes U+FFFD; blank lines are skipped.
//!
//! A row may span lines (a line break inside quotes): lines are fed to the parser as they
//! come and the record is made when the row ends. The row is bounded by `--max-size` (16 MiB
//! by default): past it, the run stops with an error naming where the row began (a quote
//! left open, most likely). A quote still open at the end of an input closes there, with a
//! warning on stderr (an error with `--strict`). Memory: one row; nothing is allocated per
//! field (the parser writes into a reused buffer, the record is reused).

use anyhow::{Result, bail};
use clap::{ArgMatches, FromArgMatches, Parser};
use csv_core::{ReadRecordResult, Reader, ReaderBuilder};

use crate::item::{Item, Kind, Origin};
use crate::record::{ROOT, Record};
use crate::stage::def::{Build, BuildCx, Emits, Role, StageDef};
use crate::stage::lineparse::{Bad, Lines, to_text};
use crate::stage::{Flow, Stage};

/// What `csv` and `tsv` share.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Common {
    /// Name the fields (comma-separated); the first row is then data, not a header.
    #[arg(
        long,
        value_name = "A,B,C",
        value_delimiter = ',',
        conflicts_with = "no_header"
    )]
    pub fields: Vec<String>,
    /// There is no header: name the fields by position (1, 2, 3 ...).
    #[arg(long)]
    pub no_header: bool,
    /// A row with more or fewer cells than the header is an error naming input and line
    /// (and so is a quote left open at the end of the input).
    #[arg(long)]
    pub strict: bool,
    /// The largest row, in bytes (a row may span lines inside quotes): past it, an error.
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 20)]
    pub max_size: usize,
}

/// Parse CSV (RFC 4180) into records: the header row names the fields.
///
/// Quoted fields may hold commas, doubled quotes ("" for ") and line breaks (a row then
/// spans lines); CRLF, LF and CR end rows; a BOM is dropped. The first row of each input is
/// the header (a repeated name gets a suffix: a, a_2; an empty one its position); or give
/// the names with --fields, or --no-header for 1, 2, 3 ... A row with fewer cells than names
/// lacks the missing fields; extra cells go to fields named by position (4, 5 ...); --strict
/// makes both an error. Values are strings; invalid UTF-8 becomes U+FFFD; blank lines are
/// skipped. A row is bounded by --max-size (a quote left open).
#[derive(Parser)]
#[command(name = "csv", disable_version_flag = true)]
pub struct CsvArgs {
    /// The separator, one byte (`;` for a European CSV).
    #[arg(long, value_name = "CHAR", default_value = ",")]
    pub sep: String,
    #[command(flatten)]
    pub common: Common,
}

/// Parse TSV into records: CSV's rules with a tab between fields.
///
/// The header row names the fields (or --fields, --no-header). Fields may be quoted as in
/// CSV (Python's excel-tab dialect): a quoted field may hold tabs, doubled quotes and line
/// breaks. Rows with missing or extra cells, types, invalid UTF-8 and --max-size: as `csv`.
#[derive(Parser)]
#[command(name = "tsv", disable_version_flag = true)]
pub struct TsvArgs {
    #[command(flatten)]
    pub common: Common,
}

pub const CSV: StageDef = StageDef {
    name: "csv",
    aliases: &[],
    role: Role::Filter,
    summary: "lines → records: CSV (RFC 4180), the header row names the fields",
    accepts: &[Kind::Line],
    emits: Emits::Kind(Kind::Record),
    examples: &[
        "copipe cat data.csv : csv : where 'price>100' : fmt '{name} {price}'",
        "copipe cat fixtures/parse/people.csv : csv : count --by city",
        "copipe cat export.csv : csv --sep ';' --fields id,name,price",
    ],
    command: <CsvArgs as clap::CommandFactory>::command,
    build: Build::Filter(build_csv),
};

pub const TSV: StageDef = StageDef {
    name: "tsv",
    aliases: &[],
    role: Role::Filter,
    summary: "lines → records: tab-separated values, the header row names the fields",
    accepts: &[Kind::Line],
    emits: Emits::Kind(Kind::Record),
    examples: &["copipe cat report.tsv : tsv : select name total"],
    command: <TsvArgs as clap::CommandFactory>::command,
    build: Build::Filter(build_tsv),
};

fn build_csv(m: &ArgMatches, _cx: &BuildCx<'_>, next: Box<dyn Stage>) -> Result<Box<dyn Stage>> {
    let a = CsvArgs::from_arg_matches(m)?;
    let &[sep] = a.sep.as_bytes() else {
        bail!("csv: --sep must be one byte, not {:?}", a.sep);
    };
    if sep == b'"' || sep == b'\n' || sep == b'\r' {
        bail!("csv: --sep cannot be a quote or a line break");
    }
    Ok(Box::new(Csv::new("csv", sep, a.common, next)))
}

fn build_tsv(m: &ArgMatches, _cx: &BuildCx<'_>, next: Box<dyn Stage>) -> Result<Box<dyn Stage>> {
    let a = TsvArgs::from_arg_matches(m)?;
    Ok(Box::new(Csv::new("tsv", b'\t', a.common, next)))
}

struct Csv {
    parser: Reader,
    /// The row's fields, one after the other, and where each ends.
    out: Vec<u8>,
    ends: Vec<usize>,
    n_out: usize,
    n_ends: usize,
    /// A row is under way (a quoted field spans lines); the line it began on.
    open: Option<u64>,
    /// The names from --fields, if given.
    given: Vec<String>,
    no_header: bool,
    /// The current input's header (or the given names).
    names: Vec<String>,
    /// Whether the next row is the header.
    want_header: bool,
    /// "1", "2", … for cells past the names.
    positions: Vec<String>,
    strict: bool,
    max_size: usize,
    lines: Lines,
    scratch: String,
    rec: Record,
    next: Box<dyn Stage>,
}

impl Csv {
    fn new(stage: &'static str, sep: u8, c: Common, next: Box<dyn Stage>) -> Self {
        let mut s = Csv {
            parser: ReaderBuilder::new().delimiter(sep).build(),
            out: vec![0; 1024],
            ends: vec![0; 64],
            n_out: 0,
            n_ends: 0,
            open: None,
            names: c.fields.clone(),
            given: c.fields,
            no_header: c.no_header,
            want_header: false,
            positions: Vec::new(),
            strict: c.strict,
            max_size: c.max_size.max(1),
            lines: Lines::new(stage, if c.strict { Bad::Strict } else { Bad::Drop }),
            scratch: String::new(),
            rec: Record::new(),
            next,
        };
        s.restart();
        s
    }

    /// A new input: a new header (unless names are given), a fresh parser.
    fn restart(&mut self) {
        self.parser.reset();
        self.n_out = 0;
        self.n_ends = 0;
        self.open = None;
        self.want_header = self.given.is_empty() && !self.no_header;
        if !self.want_header {
            self.names.clone_from(&self.given);
        }
    }

    /// Feed bytes to the parser; a finished row is made into a record and sent. Empty
    /// `input` is the end of the input.
    fn feed(&mut self, mut input: &[u8]) -> Result<Flow> {
        let at_end = input.is_empty();
        loop {
            let (res, nin, nout, nend) = self.parser.read_record(
                input,
                &mut self.out[self.n_out..],
                &mut self.ends[self.n_ends..],
            );
            input = &input[nin..];
            self.n_out += nout;
            self.n_ends += nend;
            match res {
                ReadRecordResult::InputEmpty => {
                    if input.is_empty() && !at_end {
                        return Ok(Flow::Continue);
                    }
                }
                ReadRecordResult::OutputFull => {
                    if self.out.len() >= self.max_size {
                        let from = self.open.unwrap_or(self.lines.line);
                        // The row is given up: nothing of it is left to close at the end.
                        self.parser.reset();
                        self.n_out = 0;
                        self.n_ends = 0;
                        self.open = None;
                        bail!(
                            "{}: {}:{}: the row that begins on line {from} is larger than {} bytes (--max-size): is a quote left open?",
                            self.lines.stage,
                            self.lines.origin,
                            self.lines.line,
                            self.max_size
                        );
                    }
                    let n = (self.out.len() * 2).min(self.max_size);
                    self.out.resize(n, 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    let n = self.ends.len() * 2;
                    self.ends.resize(n, 0);
                }
                ReadRecordResult::Record => {
                    // The row is over even when it is an error (nothing of it is left
                    // open at the end).
                    let flow = self.row();
                    self.n_out = 0;
                    self.n_ends = 0;
                    self.open = None;
                    let flow = flow?;
                    if flow.is_stop() {
                        return Ok(flow);
                    }
                    if input.is_empty() && !at_end {
                        // (An empty input would tell the parser that the input ended.)
                        return Ok(Flow::Continue);
                    }
                }
                ReadRecordResult::End => return Ok(Flow::Continue),
            }
        }
    }

    /// The row just read: the header, or a record.
    fn row(&mut self) -> Result<Flow> {
        let n = self.n_ends;
        if self.want_header {
            self.want_header = false;
            self.names.clear();
            for i in 0..n {
                let a = if i == 0 { 0 } else { self.ends[i - 1] };
                let name = to_text(&self.out[a..self.ends[i]], &mut self.scratch).to_string();
                let mut name = if name.is_empty() {
                    (i + 1).to_string()
                } else {
                    name
                };
                if self.names.contains(&name) {
                    let base = name.clone();
                    let mut k = 2;
                    while self.names.contains(&name) {
                        name = format!("{base}_{k}");
                        k += 1;
                    }
                }
                self.names.push(name);
            }
            return Ok(Flow::Continue);
        }
        if self.strict && n != self.names.len() && !self.names.is_empty() {
            bail!(
                "{}: {}:{}: {} {}, the header has {}",
                self.lines.stage,
                self.lines.origin,
                self.open.unwrap_or(self.lines.line),
                n,
                if n == 1 { "cell" } else { "cells" },
                self.names.len()
            );
        }
        while self.positions.len() < n {
            self.positions.push((self.positions.len() + 1).to_string());
        }
        self.lines.start(&mut self.rec);
        // The row's cells lie end to end in `out`: one UTF-8 check for all of them (a cell
        // is then valid if it starts and ends on character boundaries), rather than one per
        // cell; a row with invalid bytes has each cell made text on its own (U+FFFD).
        let row = &self.out[..self.n_out];
        let text = std::str::from_utf8(row).ok();
        for i in 0..n {
            let a = if i == 0 { 0 } else { self.ends[i - 1] };
            let b = self.ends[i];
            let v = match text.and_then(|t| t.get(a..b)) {
                Some(v) => v,
                None => to_text(&row[a..b], &mut self.scratch),
            };
            let name = self.names.get(i).unwrap_or(&self.positions[i]);
            self.rec.add_str(ROOT, "", name, v);
        }
        self.next.send(Item::Record(&self.rec))
    }

    /// The end of an input: a row still open (a quote left open) is closed.
    fn finish(&mut self) -> Result<Flow> {
        if let Some(from) = self.open {
            let what = format!(
                "{}: {}:{}: a quoted field opened on line {from} is not closed at the end of the input",
                self.lines.stage, self.lines.origin, self.lines.line
            );
            if self.strict {
                bail!(what);
            }
            eprintln!("copipe: {what} (the row ends there)");
        }
        self.feed(&[])
    }
    /// One line: `fed` is the line with its newline, or without when it has none (then one
    /// is fed after it: every line ends a row unless a quote is open).
    fn line(&mut self, line: &[u8], fed: &[u8]) -> Result<Flow> {
        self.lines.line += 1;
        if self.open.is_none() && line.is_empty() {
            return Ok(Flow::Continue);
        }
        if self.feed(fed)?.is_stop() || (fed.len() == line.len() && self.feed(b"\n")?.is_stop()) {
            return Ok(Flow::Stop);
        }
        if self.n_out > 0 || self.n_ends > 0 {
            self.open.get_or_insert(self.lines.line);
        }
        Ok(Flow::Continue)
    }
}

impl Stage for Csv {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        let Item::Line(line) = item else {
            return self.next.send(item);
        };
        self.line(line, line)
    }

    fn send_lines(&mut self, batch: &[u8]) -> Result<Flow> {
        // Each line is fed with its newline, in one call to the parser.
        let mut rest = batch;
        while !rest.is_empty() {
            let n = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
            let (fed, tail) = rest.split_at(n);
            rest = tail;
            let line = fed.strip_suffix(b"\n").unwrap_or(fed);
            if self.line(line, fed)?.is_stop() {
                return Ok(Flow::Stop);
            }
        }
        Ok(Flow::Continue)
    }

    fn origin(&mut self, origin: Origin<'_>) -> Result<()> {
        let _ = self.finish()?;
        self.restart();
        self.lines.origin(&origin);
        self.next.origin(origin)
    }

    crate::pass_on!(flush);

    fn close(&mut self) -> Result<()> {
        let r = self.finish().map(drop);
        let c = self.next.close();
        r?;
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::Show;
    use crate::stage::testing::Collect;

    fn run_with(sep: u8, c: Common, input: &[u8]) -> Result<Vec<String>> {
        let out = Collect::shared();
        let mut p = Csv::new("csv", sep, c.clone(), Box::new(out.clone()));
        for l in crate::item::lines(input) {
            let _ = p.send(Item::Line(l))?;
        }
        p.close()?;
        let got = out.borrow().strings();
        // The same input in batches (of every size) makes the same records.
        for size in [1, 2, 3, 7, 64, usize::MAX] {
            let batched = Collect::shared();
            let mut p = Csv::new("csv", sep, c.clone(), Box::new(batched.clone()));
            let mut rest = input;
            while !rest.is_empty() {
                // Batches of whole lines, of about `size` bytes.
                let mut end = rest.len().min(size);
                while end < rest.len() && rest[end - 1] != b'\n' {
                    end += 1;
                }
                let _ = p.send_lines(&rest[..end])?;
                rest = &rest[end..];
            }
            p.close()?;
            assert_eq!(batched.borrow().strings(), got, "batches of {size}");
        }
        Ok(got)
    }

    fn run(input: &str) -> Vec<String> {
        run_with(b',', Common::default(), input.as_bytes()).unwrap()
    }

    fn common() -> Common {
        Common {
            max_size: 16 << 20,
            ..Common::default()
        }
    }

    #[test]
    fn header_and_rows() {
        assert_eq!(
            run("a,b,c\n1,2,3\n4,,\"6\"\n"),
            [
                r#"{"a":"1","b":"2","c":"3"}"#,
                r#"{"a":"4","b":"","c":"6"}"#
            ]
        );
        assert!(run("").is_empty());
        assert!(run("a,b\n").is_empty());
    }

    #[test]
    fn quotes_doubled_quotes_separators_and_newlines_inside() {
        assert_eq!(
            run("a,b\n\"x,y\",\"say \"\"hi\"\"\"\n\"line1\nline2\",z\n\"\",\"\"\n"),
            [
                r#"{"a":"x,y","b":"say \"hi\""}"#,
                r#"{"a":"line1\nline2","b":"z"}"#,
                r#"{"a":"","b":""}"#
            ]
        );
    }

    #[test]
    fn crlf_rows_and_crlf_inside_quotes() {
        assert_eq!(
            run("a,b\r\n1,2\r\n\"p\r\nq\",3\r\n"),
            [r#"{"a":"1","b":"2"}"#, r#"{"a":"p\r\nq","b":"3"}"#]
        );
    }

    #[test]
    fn too_few_and_too_many_cells() {
        assert_eq!(
            run("a,b,c\n1\n1,2,3,4,5\n"),
            [
                r#"{"a":"1"}"#,
                r#"{"a":"1","b":"2","c":"3","4":"4","5":"5"}"#
            ]
        );
        let strict = Common {
            strict: true,
            ..common()
        };
        let e = run_with(b',', strict, b"a,b\n1,2\n1,2,3\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "csv: standard input:3: 3 cells, the header has 2"
        );
    }

    #[test]
    fn given_names_no_header_and_repeated_names() {
        let c = Common {
            fields: vec!["x".into(), "y".into()],
            ..common()
        };
        assert_eq!(
            run_with(b',', c, b"1,2\n3,4,5\n").unwrap(),
            [r#"{"x":"1","y":"2"}"#, r#"{"x":"3","y":"4","3":"5"}"#]
        );
        let c = Common {
            no_header: true,
            ..common()
        };
        assert_eq!(
            run_with(b',', c, b"1,2\n").unwrap(),
            [r#"{"1":"1","2":"2"}"#]
        );
        assert_eq!(
            run("a,a,,a\n1,2,3,4\n"),
            [r#"{"a":"1","a_2":"2","3":"3","a_3":"4"}"#]
        );
    }

    #[test]
    fn blank_lines_bom_invalid_utf8_and_tabs() {
        assert_eq!(run("\u{feff}a,b\n\n1,2\n\n"), [r#"{"a":"1","b":"2"}"#]);
        assert_eq!(
            run_with(b',', common(), b"a\n\xff\"\xfe\"\n").unwrap(),
            ["{\"a\":\"\u{FFFD}\\\"\u{FFFD}\\\"\"}"]
        );
        // Each cell is text on its own: the halves of a character split by a separator
        // are two invalid cells, though the row's cells end to end would be valid.
        assert_eq!(
            run_with(b',', common(), b"a,b,c\n\xc3,\xa9,\xc3\xa9\n").unwrap(),
            ["{\"a\":\"\u{FFFD}\",\"b\":\"\u{FFFD}\",\"c\":\"\u{e9}\"}"]
        );
        assert_eq!(
            run_with(b'\t', common(), b"a\tb\n\"x\ty\"\t2\n").unwrap(),
            [r#"{"a":"x\ty","b":"2"}"#]
        );
    }

    #[test]
    fn an_open_quote_at_the_end_closes_there_or_is_an_error() {
        assert_eq!(
            run("a,b\n1,\"open\nmore"),
            [r#"{"a":"1","b":"open\nmore\n"}"#]
        );
        let strict = Common {
            strict: true,
            ..common()
        };
        let e = run_with(b',', strict, b"a\n\"x\ny\n").unwrap_err();
        assert!(
            e.to_string().contains("opened on line 2 is not closed"),
            "{e}"
        );
    }

    #[test]
    fn a_runaway_quote_is_bounded() {
        let c = Common {
            max_size: 1000,
            ..common()
        };
        let mut input = b"a\n\"".to_vec();
        for _ in 0..200 {
            input.extend_from_slice(b"0123456789\n");
        }
        let e = run_with(b',', c, &input).unwrap_err();
        assert!(
            e.to_string()
                .contains("the row that begins on line 2 is larger than 1000 bytes"),
            "{e}"
        );
        // A million quotes: pairs of doubled quotes, in one field.
        let quotes = vec![b'"'; 1_000_000];
        let got = run_with(b',', common(), &[b"a\n".as_slice(), &quotes].concat()).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].len(), r#"{"a":""}"#.len() + 2 * (1_000_000 / 2 - 1));
    }

    #[test]
    fn each_input_has_its_header() {
        let out = Collect::shared();
        let mut p = Csv::new("csv", b',', common(), Box::new(out.clone()));
        for (name, body) in [("a.csv", &b"x\n1\n\"open"[..]), ("b.csv", b"y\n2\n")] {
            p.origin(Origin {
                name,
                show: Show::Tag,
            })
            .unwrap();
            for l in crate::item::lines(body) {
                let _ = p.send(Item::Line(l)).unwrap();
            }
        }
        p.close().unwrap();
        assert_eq!(
            out.borrow().strings(),
            [
                r#"{"file":"a.csv","x":"1"}"#,
                r#"{"file":"a.csv","x":"open\n"}"#,
                r#"{"file":"b.csv","y":"2"}"#
            ]
        );
    }
}
