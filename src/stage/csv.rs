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
//!   `2`, …); a repeated header name gets the first suffix `_2`, `_3`, … that no name before
//!   it has (`a,a,a_2,a` gives `a`, `a_2`, `a_2_2`, `a_3`; Miller's `a_2` for the plain
//!   case) and an empty one its position, in time linear in the header ([`Names`]);
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
//!
//! A big batch of lines (`cat` of a mapped file hands over 1 MiB at a time) is read on a
//! second thread when there are two cores: it runs csv-core and makes the records, 64 KiB
//! or 1,024 rows at a time, while this thread sends the records of the chunk before on (in
//! a CSV to NDJSON run, writing the JSON is the other half of the work). The records, their
//! order and the errors are those of one thread; the batch is done with when the call
//! returns. Where the stages after have little to do (`csv : count`), the hand-over costs
//! more than it saves: judged after a few chunks, the batch is then read on one thread,
//! and the next few too. Memory: three chunks of records (their storage reused), besides
//! the row.

use anyhow::{Result, bail};
use clap::{ArgMatches, FromArgMatches, Parser};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use csv_core::{ReadRecordResult, Reader, ReaderBuilder};

use crate::item::{Item, Kind, Origin};
use crate::protocol::def::{Build, BuildCx, Emits, Role, StageDef};
use crate::protocol::{Flow, Stage};
use crate::record::{ROOT, Record};
use crate::stage::fieldtype::Types;
use crate::stage::lineparse::{Bad, Lines, to_text};

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
    /// Give fields a type: FIELD=TYPE, TYPE one of int, float, bool, timestamp (seconds since
    /// the epoch, from RFC 3339 or the common log format); repeat it or separate with
    /// commas (--type price=float,n=int). A value that does not convert stays text and is
    /// counted (a note at the end); with --strict it stops the run.
    #[arg(long = "type", value_name = "FIELD=TYPE", action = clap::ArgAction::Append)]
    pub types: Vec<String>,
}

/// Parse CSV (RFC 4180) into records: the header row names the fields.
///
/// Quoted fields may hold commas, doubled quotes ("" for ") and line breaks (a row then
/// spans lines); CRLF, LF and CR end rows; a BOM is dropped. The first row of each input is
/// the header (a repeated name gets the first free suffix: a, a_2, a_3 (a,a,a_2 gives a,
/// a_2, a_2_2); an empty one its position); or give
/// the names with --fields, or --no-header for 1, 2, 3 ... A row with fewer cells than names
/// lacks the missing fields; extra cells go to fields named by position (4, 5 ...); --strict
/// makes both an error. Values are strings (--type makes numbers, booleans and timestamps of
/// the fields it names); invalid UTF-8 becomes U+FFFD; blank lines are
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
    fusion: None,
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
    fusion: None,
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
    let types = Types::parse(&a.common.types, "csv")?;
    Ok(Box::new(Csv::new("csv", sep, a.common, types, next)))
}

fn build_tsv(m: &ArgMatches, _cx: &BuildCx<'_>, next: Box<dyn Stage>) -> Result<Box<dyn Stage>> {
    let a = TsvArgs::from_arg_matches(m)?;
    let types = Types::parse(&a.common.types, "tsv")?;
    Ok(Box::new(Csv::new("tsv", b'\t', a.common, types, next)))
}

/// The stage: csv-core reading rows ([`Rows`]), the rows made into records ([`Maker`]),
/// and the stage after. A big batch of lines (a mapped file's) is read and made into
/// records on a second thread while this one sends the records on (see
/// [`Csv::send_lines_ahead`]).
struct Csv {
    rows: Rows,
    maker: Maker,
    rec: Record,
    next: Box<dyn Stage>,
    /// Whether big batches are read on a second thread (there is a second core).
    ahead: bool,
    /// The smallest batch read on a second thread, and the size of the chunks it is handed
    /// back in.
    ahead_min: usize,
    chunk: usize,
    /// The share of a batch's time this thread must spend sending records on for the
    /// second thread to pay (see [`MIN_SHARE`]), and the big batches left to read here
    /// before the second thread is tried again.
    min_share: f64,
    alone: u32,
    /// Chunks of records kept from one batch to the next (their storage is reused).
    spare: Vec<Made>,
    /// The stage after stopped, or the run failed: nothing more is sent on (a row left
    /// open is not closed at the end).
    over: bool,
}

/// Batches from this size on are read on a second thread (a mapped file's are 1 MiB).
const AHEAD_MIN: usize = 256 << 10;
/// The chunks a batch is read in on the second thread: small enough that the first is soon
/// ready (this thread waits for it) and the last soon sent on (the other thread waits then),
/// large enough that handing them over costs nothing.
const CHUNK: usize = 64 << 10;
/// The second thread pays when this one has work of its own to do while the other reads:
/// the stages after `csv` (writing JSON is about a third of a CSV to NDJSON run). When
/// they take less than this share of a batch's time (`csv : count`), handing records over
/// costs more than it saves: the rest of the batch and the next [`ALONE`] big batches are
/// read on this thread before the second one is tried again (the stages after may get
/// slower: a full pipe).
const MIN_SHARE: f64 = 0.3;
/// The share is judged after this many chunks: the rest of a batch whose share is below
/// [`MIN_SHARE`] is read on this thread.
const PROBE_CHUNKS: usize = 4;
const ALONE: u32 = 7;
/// The most rows a chunk holds.
const CHUNK_ROWS: usize = 1024;
/// Chunks in flight: one being made, one waiting, one being sent on.
const CHUNKS: usize = 3;

/// csv-core and the row it is reading: the half of the stage that may run on another thread.
struct Rows {
    parser: Reader,
    /// The row's fields, one after the other, and where each ends.
    out: Vec<u8>,
    ends: Vec<usize>,
    n_out: usize,
    n_ends: usize,
    /// A row is under way (a quoted field spans lines); the line it began on.
    open: Option<u64>,
    /// The current line's number in its input (1 for the first).
    line: u64,
    max_size: usize,
}

/// A row just read: its cells end to end, where each ends, and the line it began on.
struct Row<'a> {
    bytes: &'a [u8],
    ends: &'a [usize],
    from: u64,
}

/// Where [`Rows`] hands the rows it reads: a closure, or [`SendOn`].
trait OnRow {
    fn row(&mut self, row: Row<'_>) -> Result<Flow>;
}

impl<F: FnMut(Row<'_>) -> Result<Flow>> OnRow for F {
    fn row(&mut self, row: Row<'_>) -> Result<Flow> {
        self(row)
    }
}

/// Rows made into records here and sent on.
struct SendOn<'a> {
    maker: &'a mut Maker,
    rec: &'a mut Record,
    next: &'a mut dyn Stage,
}

impl OnRow for SendOn<'_> {
    #[inline]
    fn row(&mut self, row: Row<'_>) -> Result<Flow> {
        if self.maker.row(row, self.rec)? {
            self.next.send(Item::Record(self.rec))
        } else {
            Ok(Flow::Continue)
        }
    }
}

/// A row larger than `--max-size`: the line it began on and the line where it was given up
/// (made into the message by [`Maker::explain`], which knows the input's name).
#[derive(Debug)]
struct Oversize {
    from: u64,
    line: u64,
    max: usize,
}

impl std::fmt::Display for Oversize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the row that begins on line {} is larger than {} bytes (--max-size): is a quote left open?",
            self.from, self.max
        )
    }
}

impl std::error::Error for Oversize {}

impl Rows {
    fn new(sep: u8, max_size: usize) -> Self {
        Rows {
            parser: ReaderBuilder::new().delimiter(sep).build(),
            out: vec![0; 1024],
            ends: vec![0; 64],
            n_out: 0,
            n_ends: 0,
            open: None,
            line: 0,
            max_size: max_size.max(1),
        }
    }

    /// A new input: a fresh parser, line numbers from 1.
    fn restart(&mut self) {
        self.parser.reset();
        self.n_out = 0;
        self.n_ends = 0;
        self.open = None;
        self.line = 0;
    }

    /// Feed bytes to the parser; each finished row goes to `on_row`. Empty `input` is the
    /// end of the input.
    fn feed(&mut self, mut input: &[u8], on_row: &mut impl OnRow) -> Result<Flow> {
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
                        let from = self.open.unwrap_or(self.line);
                        // The row is given up: nothing of it is left to close at the end.
                        self.parser.reset();
                        self.n_out = 0;
                        self.n_ends = 0;
                        self.open = None;
                        return Err(anyhow::Error::new(Oversize {
                            from,
                            line: self.line,
                            max: self.max_size,
                        }));
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
                    let flow = on_row.row(Row {
                        bytes: &self.out[..self.n_out],
                        ends: &self.ends[..self.n_ends],
                        from: self.open.unwrap_or(self.line),
                    });
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

    /// One line: `fed` is the line with its newline, or without when it has none (then one
    /// is fed after it: every line ends a row unless a quote is open).
    fn line(&mut self, line: &[u8], fed: &[u8], on_row: &mut impl OnRow) -> Result<Flow> {
        self.line += 1;
        if self.open.is_none() && line.is_empty() {
            return Ok(Flow::Continue);
        }
        if self.feed(fed, on_row)?.is_stop()
            || (fed.len() == line.len() && self.feed(b"\n", on_row)?.is_stop())
        {
            return Ok(Flow::Stop);
        }
        if self.n_out > 0 || self.n_ends > 0 {
            self.open.get_or_insert(self.line);
        }
        Ok(Flow::Continue)
    }

    /// A batch of whole lines, each fed with its newline in one call to the parser.
    fn lines(&mut self, batch: &[u8], on_row: &mut impl OnRow) -> Result<Flow> {
        Ok(self.some_lines(batch, usize::MAX, usize::MAX, on_row)?.0)
    }

    /// [`Rows::lines`] until, after a line, `bytes` were fed or `rows` read: the flow and
    /// the lines left.
    fn some_lines<'b>(
        &mut self,
        batch: &'b [u8],
        bytes: usize,
        rows: usize,
        on_row: &mut impl OnRow,
    ) -> Result<(Flow, &'b [u8])> {
        let mut rest = batch;
        let read = std::cell::Cell::new(0);
        let mut counted = |row: Row<'_>| {
            read.set(read.get() + 1);
            on_row.row(row)
        };
        while let Some((line, fed, tail)) = next_line(rest) {
            rest = tail;
            if self.line(line, fed, &mut counted)?.is_stop() {
                return Ok((Flow::Stop, rest));
            }
            if batch.len() - rest.len() >= bytes || read.get() >= rows {
                break;
            }
        }
        Ok((Flow::Continue, rest))
    }
}

/// The first line of `rest`: without its newline, with it (as it is fed), and the lines
/// after it.
#[inline]
fn next_line(rest: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    if rest.is_empty() {
        return None;
    }
    let n = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
    let (fed, tail) = rest.split_at(n);
    Some((fed.strip_suffix(b"\n").unwrap_or(fed), fed, tail))
}

/// A row that is not valid UTF-8 as text, each cell on its own (invalid bytes become
/// U+FFFD), appended to `text` with the end of each cell in `ends`.
fn push_cells(row: &Row<'_>, text: &mut String, ends: &mut Vec<usize>, scratch: &mut String) {
    let mut a = 0;
    for &b in row.ends {
        text.push_str(to_text(&row.bytes[a..b], scratch));
        ends.push(text.len());
        a = b;
    }
}

/// Cell `i` of a row whose cells are `text[..ends[0]]`, `text[ends[0]..ends[1]]`, …: as it
/// is, or, where a separator split a character (each cell is text on its own, though the
/// row is valid UTF-8 end to end), with U+FFFD for the halves.
#[inline]
fn cell<'t>(text: &'t str, ends: &[usize], i: usize, scratch: &'t mut String) -> &'t str {
    let (a, b) = (if i == 0 { 0 } else { ends[i - 1] }, ends[i]);
    match text.get(a..b) {
        Some(v) => v,
        None => to_text(&text.as_bytes()[a..b], scratch),
    }
}

/// Records made on the second thread, handed back a chunk at a time.
#[derive(Default)]
struct Made {
    /// The records, `recs[..n]`; those past `n` are storage kept for reuse.
    recs: Vec<Record>,
    n: usize,
    /// What stopped the reading after these records.
    error: Option<anyhow::Error>,
}

impl Made {
    /// The next record to fill.
    fn slot(&mut self) -> &mut Record {
        if self.n == self.recs.len() {
            self.recs.push(Record::new());
        }
        &mut self.recs[self.n]
    }
}

/// Rows into records: the header and the names.
struct Maker {
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
    lines: Lines,
    /// A row with invalid UTF-8, made text.
    text: String,
    text_ends: Vec<usize>,
    scratch: String,
    /// `--type`: the fields converted once a row is made.
    types: Types,
}

impl Csv {
    fn new(stage: &'static str, sep: u8, c: Common, types: Types, next: Box<dyn Stage>) -> Self {
        let mut s = Csv {
            rows: Rows::new(sep, c.max_size),
            maker: Maker {
                names: c.fields.clone(),
                given: c.fields,
                no_header: c.no_header,
                want_header: false,
                positions: Vec::new(),
                strict: c.strict,
                lines: Lines::new(stage, if c.strict { Bad::Strict } else { Bad::Drop }, ""),
                text: String::new(),
                text_ends: Vec::new(),
                scratch: String::new(),
                types,
            },
            rec: Record::new(),
            next,
            ahead: std::thread::available_parallelism().is_ok_and(|n| n.get() > 1),
            ahead_min: AHEAD_MIN,
            chunk: CHUNK,
            min_share: MIN_SHARE,
            alone: 0,
            spare: Vec::new(),
            over: false,
        };
        s.restart();
        s
    }

    /// A new input: a new header (unless names are given), a fresh parser.
    fn restart(&mut self) {
        self.rows.restart();
        let m = &mut self.maker;
        m.want_header = m.given.is_empty() && !m.no_header;
        if !m.want_header {
            m.names.clone_from(&m.given);
        }
    }

    /// Lines read here, their records sent on from here; `lines` feeds the parser (one
    /// line, a batch, or the end of the input).
    fn here(
        &mut self,
        lines: impl FnOnce(&mut Rows, &mut SendOn<'_>) -> Result<Flow>,
    ) -> Result<Flow> {
        let mut on = SendOn {
            maker: &mut self.maker,
            rec: &mut self.rec,
            next: &mut *self.next,
        };
        let r = lines(&mut self.rows, &mut on);
        r.map_err(|e| self.maker.explain(e))
    }

    /// Whether `flow` ends what is sent on (see `over`).
    fn note(&mut self, flow: Result<Flow>) -> Result<Flow> {
        self.over |= !matches!(flow, Ok(Flow::Continue));
        flow
    }

    /// The end of an input: a row still open (a quote left open) is closed.
    fn finish(&mut self) -> Result<Flow> {
        if self.over {
            return Ok(Flow::Stop);
        }
        if let Some(from) = self.rows.open {
            let m = &self.maker;
            let what = format!(
                "{}: {}:{}: a quoted field opened on line {from} is not closed at the end of the input",
                m.lines.stage, m.lines.origin, self.rows.line
            );
            if m.strict {
                bail!(what);
            }
            crate::say!("copipe: {what} (the row ends there)");
        }
        let flow = self.here(|rows, on_row| rows.feed(&[], on_row));
        self.note(flow)
    }

    /// A big batch, read and made into records on a second thread, a chunk at a time, while
    /// this one sends on the records of the chunks before: csv-core, the UTF-8 checks and
    /// the records there, the stages after this one here. Records come out as they would
    /// on one thread (errors too, after the records before them), and the batch is done
    /// with when the call returns (`cat` checks a mapped batch after the call).
    ///
    /// Returns the flow; the share of the time this thread spent sending records on; and
    /// the lines left for this thread to read: the second thread is stopped after a few
    /// chunks when that share is below `min_share` (see [`MIN_SHARE`]). `None` if no
    /// thread could be started.
    fn send_lines_ahead<'b>(&mut self, batch: &'b [u8]) -> Option<(Result<Flow>, f64, &'b [u8])> {
        let Csv {
            rows,
            maker,
            next,
            spare,
            chunk,
            min_share,
            ..
        } = self;
        let (chunk, min_share) = (*chunk, *min_share);
        let enough = AtomicBool::new(false);
        let enough = &enough;
        std::thread::scope(|s| {
            let (full_tx, full_rx) = mpsc::sync_channel::<Made>(1);
            let (empty_tx, empty_rx) = mpsc::channel::<Made>();
            for _ in 0..CHUNKS {
                let _ = empty_tx.send(spare.pop().unwrap_or_default());
            }
            let worker = std::thread::Builder::new()
                .name("copipe-csv".into())
                .spawn_scoped(s, move || {
                    let mut rest = batch;
                    while !rest.is_empty() && !enough.load(Ordering::Relaxed) {
                        // No chunk to fill: the other thread stopped taking them.
                        let Ok(mut made) = empty_rx.recv() else { break };
                        made.n = 0;
                        let (bytes, n) = chunk_size(rest.len(), chunk, rest.len() == batch.len());
                        let r = rows.some_lines(rest, bytes, n, &mut |row: Row<'_>| {
                            if maker.row(row, made.slot())? {
                                made.n += 1;
                            }
                            Ok(Flow::Continue)
                        });
                        let failed = match r {
                            Ok((_, tail)) => {
                                rest = tail;
                                made.error = None;
                                false
                            }
                            Err(e) => {
                                made.error = Some(maker.explain(e));
                                true
                            }
                        };
                        if full_tx.send(made).is_err() || failed {
                            break;
                        }
                    }
                    drop(full_tx);
                    (empty_rx.try_iter().collect::<Vec<_>>(), rest)
                })
                .ok()?;
            let mut flow = Ok(Flow::Continue);
            let began = Instant::now();
            let mut busy = Duration::ZERO;
            let mut chunks = 0;
            'chunks: for mut made in full_rx.iter() {
                let sending = Instant::now();
                for rec in &made.recs[..made.n] {
                    match next.send(Item::Record(rec)) {
                        Ok(Flow::Continue) => {}
                        other => {
                            flow = other;
                            break;
                        }
                    }
                }
                busy += sending.elapsed();
                chunks += 1;
                if chunks == PROBE_CHUNKS && share(busy, began) < min_share {
                    // The rest of the batch is read here (the chunks made are sent first).
                    enough.store(true, Ordering::Relaxed);
                }
                if let (Ok(Flow::Continue), Some(e)) = (&flow, made.error.take()) {
                    flow = Err(e);
                }
                if let Err(mpsc::SendError(made)) = empty_tx.send(made) {
                    spare.push(made);
                }
                if !matches!(flow, Ok(Flow::Continue)) {
                    break 'chunks;
                }
            }
            // The other thread ends at its next chunk, if it has not yet.
            drop(full_rx);
            drop(empty_tx);
            let rest = match worker.join() {
                Ok((kept, rest)) => {
                    spare.extend(kept);
                    rest
                }
                Err(panic) => std::panic::resume_unwind(panic),
            };
            spare.truncate(CHUNKS);
            Some((flow, share(busy, began), rest))
        })
    }
}

/// The share of the time since `began` that was `busy`.
fn share(busy: Duration, began: Instant) -> f64 {
    busy.as_secs_f64() / began.elapsed().as_secs_f64().max(1e-9)
}

/// How much of the `left` bytes of a batch the next chunk is to read: about `chunk` bytes
/// of whole lines and at most [`CHUNK_ROWS`] rows (the records of a chunk stay in the
/// caches however short the rows); a quarter of that for the `first` and the last, which
/// one thread waits for while the other works alone.
fn chunk_size(left: usize, chunk: usize, first: bool) -> (usize, usize) {
    let small = (chunk / 4).max(1);
    if first {
        return (small, (CHUNK_ROWS / 4).max(1));
    }
    let bytes = if left <= 2 * small {
        left
    } else if left <= chunk + small {
        left - small
    } else {
        chunk
    };
    (bytes, CHUNK_ROWS)
}

/// The names of a header made unique, in time linear in the header: a repeated name gets
/// the first of `_2`, `_3`, … that no name before it has (`a,a,a_2,a` gives `a`, `a_2`,
/// `a_2_2`, `a_3`). The suffix tried first for a name is the one after the last it got:
/// the names taken only grow, so the first free suffix never goes down, and each name
/// taken is stepped over at most once (it is `base_k` for one base and one `k` only).
#[derive(Default)]
struct Names {
    taken: std::collections::HashSet<String>,
    /// The suffix to try next for a name already seen.
    next: std::collections::HashMap<String, u64>,
}

impl Names {
    fn unique(&mut self, name: String) -> String {
        if !self.taken.contains(&name) {
            self.taken.insert(name.clone());
            return name;
        }
        let k = self.next.entry(name.clone()).or_insert(2);
        let mut made = format!("{name}_{k}");
        while self.taken.contains(&made) {
            *k += 1;
            made = format!("{name}_{k}");
        }
        *k += 1;
        self.taken.insert(made.clone());
        made
    }
}

impl Maker {
    /// The row just read: the header (`false`), or a record made in `rec` (`true`).
    #[inline]
    fn row(&mut self, row: Row<'_>, rec: &mut Record) -> Result<bool> {
        match std::str::from_utf8(row.bytes) {
            Ok(t) => self.cells(t, row.ends, row.from, rec),
            Err(_) => self.invalid_row(row, rec),
        }
    }

    /// [`Maker::row`] of a row that is not valid UTF-8.
    #[cold]
    fn invalid_row(&mut self, row: Row<'_>, rec: &mut Record) -> Result<bool> {
        let (mut text, mut ends) = (
            std::mem::take(&mut self.text),
            std::mem::take(&mut self.text_ends),
        );
        text.clear();
        ends.clear();
        push_cells(&row, &mut text, &mut ends, &mut self.scratch);
        let made = self.cells(&text, &ends, row.from, rec);
        self.text = text;
        self.text_ends = ends;
        made
    }

    /// The row whose cells are `text[..ends[0]]`, `text[ends[0]..ends[1]]`, …, which began
    /// on line `from`.
    #[inline]
    fn cells(&mut self, text: &str, ends: &[usize], from: u64, rec: &mut Record) -> Result<bool> {
        let n = ends.len();
        if self.want_header {
            self.want_header = false;
            self.names.clear();
            let mut names = Names::default();
            for i in 0..n {
                let name = match cell(text, ends, i, &mut self.scratch) {
                    "" => (i + 1).to_string(),
                    name => name.to_string(),
                };
                self.names.push(names.unique(name));
            }
            return Ok(false);
        }
        if self.strict && n != self.names.len() && !self.names.is_empty() {
            bail!(
                "{}: {}:{}: {} {}, the header has {}",
                self.lines.stage,
                self.lines.origin,
                from,
                n,
                if n == 1 { "cell" } else { "cells" },
                self.names.len()
            );
        }
        while self.positions.len() < n {
            self.positions.push((self.positions.len() + 1).to_string());
        }
        self.lines.start(rec);
        for i in 0..n {
            let name = self.names.get(i).unwrap_or(&self.positions[i]);
            rec.add_str(ROOT, "", name, cell(text, ends, i, &mut self.scratch));
        }
        if !self.types.is_empty()
            && let Some(why) = self.types.apply(rec)
            && self.strict
        {
            bail!(
                "{}: {}:{}: {why}",
                self.lines.stage,
                self.lines.origin,
                from
            );
        }
        Ok(true)
    }

    /// An error of the reading, with the input's name where it is a row too large.
    fn explain(&self, e: anyhow::Error) -> anyhow::Error {
        match e.downcast::<Oversize>() {
            Ok(o) => anyhow::anyhow!(
                "{}: {}:{}: {o}",
                self.lines.stage,
                self.lines.origin,
                o.line
            ),
            Err(e) => e,
        }
    }
}

impl Stage for Csv {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        let Item::Line(line) = item else {
            return self.next.send(item);
        };
        let flow = self.here(|rows, on_row| rows.line(line, line, on_row));
        self.note(flow)
    }

    /// A big batch is read on a second thread while this one sends the records on (see
    /// [`Csv::send_lines_ahead`]); a small one here.
    fn send_lines(&mut self, batch: &[u8]) -> Result<Flow> {
        if self.ahead && batch.len() >= self.ahead_min {
            if self.alone > 0 {
                self.alone -= 1;
            } else if let Some((flow, share, rest)) = self.send_lines_ahead(batch) {
                if share < self.min_share {
                    self.alone = ALONE;
                }
                let flow = match flow {
                    Ok(Flow::Continue) if !rest.is_empty() => {
                        self.here(|rows, on_row| rows.lines(rest, on_row))
                    }
                    flow => flow,
                };
                return self.note(flow);
            } else {
                self.ahead = false;
            }
        }
        let flow = self.here(|rows, on_row| rows.lines(batch, on_row));
        self.note(flow)
    }

    fn origin(&mut self, origin: Origin<'_>) -> Result<()> {
        let _ = self.finish()?;
        self.restart();
        self.maker.lines.origin(&origin);
        self.next.origin(origin)
    }

    crate::pass_on!(flush);

    fn close(&mut self) -> Result<()> {
        let r = self.finish().map(drop);
        self.maker.types.report();
        let c = self.next.close();
        r?;
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::Show;
    use crate::protocol::testing::Collect;

    /// How a test feeds the stage: line by line, or in batches of whole lines of about
    /// `size` bytes, read on this thread or (`chunk`) on a second one in chunks of about
    /// that many bytes.
    #[derive(Clone, Copy, Debug)]
    enum Feed {
        Lines,
        /// `chunk`: the chunk size, and the share below which the second thread stops
        /// after a few chunks (1: always; 0: never).
        Batches {
            size: usize,
            chunk: Option<(usize, f64)>,
        },
    }

    /// What the stage made of `input` fed that way: the records sent on, and the error
    /// that ended the run, if one did. `stop_after`: the stage after stops taking records
    /// after that many.
    fn outcome(
        sep: u8,
        c: Common,
        input: &[u8],
        feed: Feed,
        stop_after: Option<usize>,
    ) -> (Vec<String>, Option<String>) {
        let out = Collect::shared();
        let next: Box<dyn Stage> = match stop_after {
            Some(n) => Box::new(StopAfter(n, out.clone())),
            None => Box::new(out.clone()),
        };
        let mut p = Csv::new("csv", sep, c, Types::default(), next);
        let mut run = || -> Result<()> {
            match feed {
                Feed::Lines => {
                    for l in crate::item::lines(input) {
                        if p.send(Item::Line(l))?.is_stop() {
                            return Ok(());
                        }
                    }
                }
                Feed::Batches { size, chunk } => {
                    if let Some((chunk, min_share)) = chunk {
                        p.ahead = true;
                        p.ahead_min = 1;
                        p.chunk = chunk;
                        p.min_share = min_share;
                    } else {
                        p.ahead = false;
                    }
                    let mut rest = input;
                    while !rest.is_empty() {
                        let mut end = rest.len().min(size);
                        while end < rest.len() && rest[end - 1] != b'\n' {
                            end += 1;
                        }
                        if p.send_lines(&rest[..end])?.is_stop() {
                            return Ok(());
                        }
                        rest = &rest[end..];
                    }
                }
            }
            Ok(())
        };
        let ran = run();
        // Closed after an error too, as the engine does.
        let closed = p.close();
        let error = ran.err().or(closed.err()).map(|e| e.to_string());
        let got = out.borrow().strings();
        (got, error)
    }

    /// Passes on `n` records, then stops.
    struct StopAfter(usize, std::rc::Rc<std::cell::RefCell<Collect>>);

    impl Stage for StopAfter {
        fn send(&mut self, item: Item<'_>) -> Result<Flow> {
            if self.0 == 0 {
                panic!("sent an item after it stopped");
            }
            self.0 -= 1;
            let _ = self.1.send(item)?;
            Ok(if self.0 == 0 {
                Flow::Stop
            } else {
                Flow::Continue
            })
        }
        fn origin(&mut self, origin: Origin<'_>) -> Result<()> {
            self.1.origin(origin)
        }
        fn flush(&mut self) -> Result<()> {
            self.1.flush()
        }
        fn close(&mut self) -> Result<()> {
            self.1.close()
        }
    }

    /// Every way of feeding `input`: line by line; in batches of every size, read here or
    /// on a second thread in chunks of every size.
    fn feeds() -> Vec<Feed> {
        let mut all = vec![Feed::Lines];
        for size in [1, 2, 3, 7, 64, usize::MAX] {
            all.push(Feed::Batches { size, chunk: None });
            for chunk in [1, 5, 40, usize::MAX] {
                for min_share in [0.0, 1.0] {
                    all.push(Feed::Batches {
                        size,
                        chunk: Some((chunk, min_share)),
                    });
                }
            }
        }
        all
    }

    /// The records (or the error) of `input`, the same whichever way it is fed; and with a
    /// stage after that stops, the first records of those.
    fn run_with(sep: u8, c: Common, input: &[u8]) -> Result<Vec<String>> {
        let (got, error) = outcome(sep, c.clone(), input, Feed::Lines, None);
        for feed in feeds() {
            let other = outcome(sep, c.clone(), input, feed, None);
            assert_eq!(other, (got.clone(), error.clone()), "{feed:?}");
            // A stage after that stops: every record up to there, nothing after.
            for n in [1, 2] {
                let (some, _) = outcome(sep, c.clone(), input, feed, Some(n));
                let want = got.len().min(n);
                assert_eq!(some, got[..want], "{feed:?}, stop after {n}");
            }
        }
        match error {
            Some(e) => Err(anyhow::anyhow!(e)),
            None => Ok(got),
        }
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
        // A suffix a name before it has is stepped over; names made with a suffix are
        // unique too.
        assert_eq!(
            run("a,a,a_2,a,a_3\n1,2,3,4,5\n"),
            [r#"{"a":"1","a_2":"2","a_2_2":"3","a_3":"4","a_3_2":"5"}"#]
        );
        assert_eq!(
            run("a_2,a,a,a\n1,2,3,4\n"),
            [r#"{"a_2":"1","a":"2","a_3":"3","a_4":"4"}"#]
        );
    }

    #[test]
    fn a_header_of_one_name_repeated_is_linear() {
        // 100,000 × `a`: the names and the suffixes; the old loop took hours.
        let header = vec!["a"; 100_000].join(",");
        let row = vec!["1"; 100_000].join(",");
        let t = std::time::Instant::now();
        let input = format!("{header}\n{row}\n");
        let (out, error) = outcome(b',', common(), input.as_bytes(), Feed::Lines, None);
        assert_eq!(error, None);
        assert!(
            t.elapsed() < std::time::Duration::from_secs(20),
            "{:?}",
            t.elapsed()
        );
        assert!(
            out[0].ends_with(r#","a_100000":"1"}"#),
            "{}",
            &out[0][out[0].len() - 40..]
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
        let input = [b"a\n".as_slice(), &quotes].concat();
        // (Fed three ways only: a megabyte is slow to read ninety times in a debug build.)
        let (got, error) = outcome(b',', common(), &input, Feed::Lines, None);
        assert_eq!(error, None);
        for chunk in [None, Some((40, 0.0))] {
            let feed = Feed::Batches {
                size: usize::MAX,
                chunk,
            };
            assert_eq!(
                outcome(b',', common(), &input, feed, None),
                (got.clone(), None)
            );
        }
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].len(), r#"{"a":""}"#.len() + 2 * (1_000_000 / 2 - 1));
    }

    #[test]
    fn each_input_has_its_header() {
        let out = Collect::shared();
        let mut p = Csv::new(
            "csv",
            b',',
            common(),
            Types::default(),
            Box::new(out.clone()),
        );
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

    /// Rows of every kind, many of them, so that batches and chunks cut them everywhere:
    /// the same records every way they are fed (see `run_with`), `--strict` the same error.
    #[test]
    fn many_rows_of_every_kind_the_same_every_way() {
        let mut input = b"id,text,more\r\n".to_vec();
        for i in 0..300 {
            let row: &[u8] = match i % 7 {
                0 => b"plain,cells\n",
                1 => b"\"two\nlines\",\"say \"\"hi\"\"\"\r\n",
                2 => b"\n",
                3 => b"bad \xff bytes,\xc3,\xa9\n",
                4 => b"\"a\r\nb\",,\n",
                5 => b"one\n",
                _ => b"\"\",x,y,z\n",
            };
            input.extend_from_slice(format!("{i},").as_bytes());
            input.extend_from_slice(row);
        }
        let got = run_with(b',', common(), &input).unwrap();
        assert_eq!(got.len(), 300);
        let strict = Common {
            strict: true,
            ..common()
        };
        let e = run_with(b',', strict, &input).unwrap_err();
        assert_eq!(
            e.to_string(),
            "csv: standard input:5: 2 cells, the header has 3"
        );
    }

    /// Takes records and does nothing with them, or spends `0` on each.
    struct Sink(Duration);

    impl Stage for Sink {
        fn send(&mut self, _: Item<'_>) -> Result<Flow> {
            if !self.0.is_zero() {
                let t = Instant::now();
                while t.elapsed() < self.0 {
                    std::hint::spin_loop();
                }
            }
            Ok(Flow::Continue)
        }
        fn origin(&mut self, _: Origin<'_>) -> Result<()> {
            Ok(())
        }
        fn flush(&mut self) -> Result<()> {
            Ok(())
        }
        fn close(&mut self) -> Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_second_thread_is_left_alone_while_the_stages_after_have_little_to_do() {
        let mut batch = b"a,b\n".to_vec();
        for i in 0..5_000 {
            batch.extend_from_slice(format!("{i},\"x, y\"\n").as_bytes());
        }
        // (A record that takes 20 µs keeps this thread busy whatever the build and load.)
        for (cost, alone) in [(Duration::ZERO, ALONE), (Duration::from_micros(20), 0)] {
            let mut p = Csv::new(
                "csv",
                b',',
                common(),
                Types::default(),
                Box::new(Sink(cost)),
            );
            p.ahead = true;
            p.ahead_min = 1;
            let _ = p.send_lines(&batch).unwrap();
            assert_eq!(p.alone, alone, "{cost:?} a record");
            // Read here then, until it is tried again.
            for left in (0..alone).rev() {
                let _ = p.send_lines(&batch[4..]).unwrap();
                assert_eq!(p.alone, left);
            }
            p.close().unwrap();
        }
    }
}
