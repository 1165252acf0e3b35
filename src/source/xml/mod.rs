//! `xml [FILE|-]` — parse XML as a stream of SAX events (start, text, end), never holding
//! the document: only the names of the open elements and the current window of input.
//!
//! Accepts nothing (a source); emits events. `records` turns them into records; `print`
//! shows them as NDJSON. The input is decoded to UTF-8 once (see [`input`]); the tokenizer
//! ([`parser`]) checks well-formedness in the same pass and pushes each event as soon as it
//! is complete, so everything before an error has been pushed when the error is reported.
//! An error is `FILE:LINE:COLUMN: what is wrong` (exit status 2); the column counts
//! characters from 1. Entity references are decoded: the five predefined ones, character
//! references, and the internal general entities declared in the DOCTYPE (expanded at most
//! 16 deep and 16 MiB in all; recursion is an error). Any other entity is an error.
//!
//! Strictness: every not-well-formed document is refused (XML 1.0 fifth edition, as expat
//! does): characters, names, nesting, one root, attributes, comments, PIs, CDATA, the XML
//! declaration, the DOCTYPE and its entity declarations. `--no-check` keeps the structural
//! checks and skips the per-character ones.
//!
//! A big regular UTF-8 file whose events go straight into `records` is parsed in parts on
//! several threads (`parallel.rs`), with the same records, errors and counts as one thread.
//!
//! On the scheduler `xml` is a task of its thread (`XmlTask`): it never sleeps in a read —
//! where the tokenizer needs more than a pipe has given, the parser stops
//! ([`parser::Reach::Blocked`]) and goes on from there when the pipe is readable — and it
//! parses a regular file a bounded amount per turn. `--lenient` runs behind the bridge.
//!
//! Why a tokenizer of our own rather than quick-xml's reader: the checks must see every
//! byte with its position in one pass (quick-xml skips over what it does not check and
//! reports byte offsets only), and the events must borrow from one reusable window that
//! keeps line and column tracking cheap. quick-xml's bare event loop is kept as the
//! throughput ceiling in `benches/xml_ceiling.rs`.

// The character classes live below the components (`toxml` uses them too).
use crate::xmlchars as chars;
mod compressed;
pub mod input;
pub mod lenient;
mod parallel;
pub mod parser;
mod predefined;

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, RawFd};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{ArgMatches, FromArgMatches, Parser as ClapParser};

use crate::item::Kind;
use crate::item::xml_records::{RecordBuilder, Target};
use crate::protocol::def::{Build, BuildCx, Emits, Fusion, Role, StageDef, Status};
use crate::protocol::task::{Cx, Task, Wait};
use crate::protocol::{Source, Stage};
use crate::runtime::counter::Counter;
use crate::runtime::map::{SafeMap, Truncated};
use crate::runtime::meter::Meter;
use crate::runtime::signal::{Interrupt, Interruptible, stopped_by};
use crate::source::decompress::{self, Format};

use input::Input;
use parser::{Fail, Parser, Reach};

/// Parse XML as a stream of SAX events (start, text, end), never building the document.
///
/// The input may be UTF-8, UTF-16 with a byte order mark, or any encoding its XML
/// declaration names (ISO-8859-1, windows-1252, …); events are UTF-8. Entity references are
/// decoded (internal entities declared in the DOCTYPE too; external ones are never read: a
/// reference to one is left out, with a warning `FILE:LINE:COLUMN`), CDATA is text, line
/// ends are normalized to `\n`. Well-formedness is checked as strictly as expat does: a
/// document that is not well-formed is an error `FILE:LINE:COLUMN: which rule is broken`,
/// reported after every event before it (exit status 2). Elements may nest at most 4096
/// deep: a deeper one is such an error too. Put `records NAME` after it to get one JSON
/// record per element. A file truncated by another process while it is parsed is reported
/// as `FILE: file truncated while being read` (exit status 2), after the records before it.
/// A compressed feed (gzip, zstd, xz, bzip2, recognised by its first bytes, as `cat` does) is
/// parsed as it is decompressed, on one parsing thread beside the decompressing one;
/// corrupt or truncated compressed data is an error naming the byte offset in the file.
#[derive(ClapParser)]
#[command(name = "xml", disable_version_flag = true)]
pub struct Args {
    /// The XML file; `-` or nothing is standard input.
    pub file: Option<PathBuf>,
    /// Skip the per-character well-formedness checks (legal characters, the Name
    /// production, `]]>` in text, `--` in comments, duplicate attributes, the XML
    /// declaration's fields): faster, for trusted input and for measuring their cost.
    /// Structure (nesting, one root, references, quoting) is still checked.
    #[arg(long)]
    pub no_check: bool,
    /// Threads that parse a big file (2 MB and more) into records, when `records` comes
    /// next: the file is cut at the record elements and the parts are parsed at once, the
    /// records still coming out in order (default: the number of CPUs; 1 parses in one
    /// thread; at most 256). Output, errors and their positions are the same either way.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=MAX_THREADS as i64))]
    pub threads: Option<u32>,
    /// Read broken feeds with quick-xml's reader instead: a bare `&` or an unknown entity is
    /// kept as written, an end tag that closes nothing is left out, elements left open are
    /// closed; each problem is a warning `FILE:LINE:COLUMN` on stderr (the first 20, then a
    /// count) and the exit status stays 0. What it cannot go on past is an error (status 2).
    /// Same events as the strict reader on good input; UTF-8 only, DOCTYPE entities not read.
    #[arg(long, conflicts_with_all = ["no_check", "threads"])]
    pub lenient: bool,
    /// Read a compressed file as it is (no recognition of gzip, zstd, xz or bzip2).
    #[arg(long)]
    pub no_decompress: bool,
    /// The size of the parts a file is cut into (for tests).
    #[arg(long, hide = true, value_name = "BYTES")]
    pub part_size: Option<usize>,
}

/// The most parsing threads `--threads` accepts (and the default uses): each has buffers of
/// its own, and past the number of cores more threads only cost memory.
pub const MAX_THREADS: u32 = 256;

pub const DEF: StageDef = StageDef {
    name: "xml",
    aliases: &[],
    role: Role::Source,
    summary: "parse XML into SAX events (start, text, end)",
    accepts: &[],
    emits: Emits::Kind(Kind::Event),
    examples: &[
        "copipe xml allroutes.xml : records bus : where route=22 : fmt '{id},{latitude},{longitude}'",
        "curl -s \"$FEED\" | copipe xml - : records bus",
        "copipe xml doc.xml : head 20",
    ],
    command: <Args as clap::CommandFactory>::command,
    fusion: Some(Fusion {
        absorbs: "records",
        build: build_fused,
    }),
    build: Build::Source(build),
};

fn build(m: &ArgMatches, cx: &BuildCx<'_>) -> Result<Box<dyn Source>> {
    Ok(Box::new(open(m, cx, None)?))
}

/// `xml … : records …` fused (see [`Fusion`]): the source builds the records itself, in
/// parallel for a big file. Not with `--lenient`, whose reader runs behind the bridge.
fn build_fused(
    m: &ArgMatches,
    records: &ArgMatches,
    cx: &BuildCx<'_>,
    counter: Option<Counter>,
) -> Option<Box<dyn Source>> {
    if Args::from_arg_matches(m).ok()?.lenient {
        return None;
    }
    let builder = RecordBuilder::new(Target::from_args(records).ok()?);
    let fused = Fused { builder, counter };
    Some(Box::new(open(m, cx, Some(fused)).ok()?))
}

/// The `records` stage the source absorbed: the builder, and the counter of the events
/// it takes (`--stats`).
struct Fused {
    builder: RecordBuilder,
    counter: Option<Counter>,
}

fn open(m: &ArgMatches, cx: &BuildCx<'_>, fused: Option<Fused>) -> Result<Xml> {
    let a = Args::from_arg_matches(m)?;
    let (name, file) = match a.file {
        Some(p) if p.as_os_str() != "-" => {
            // A FIFO is opened without waiting for its writer: the scheduler's other tasks
            // go on meanwhile (and the direct path waits in its first read instead).
            let f = crate::runtime::fd::open_without_waiting(&p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            (p.display().to_string(), f)
        }
        _ => {
            let fd = io::stdin()
                .as_fd()
                .try_clone_to_owned()
                .context("cannot use standard input")?;
            ("standard input".to_string(), File::from(fd))
        }
    };
    let mut size = None;
    let compressed = if a.no_decompress {
        None
    } else {
        decompress::sniff_file(&file)
    };
    if let Ok(meta) = file.metadata()
        && meta.is_file()
    {
        // The parser counts decompressed bytes: a compressed file's size is no measure.
        if compressed.is_none() {
            cx.meter.expect(meta.len());
        }
        size = Some(meta.len());
    }
    let threads = a.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_THREADS as usize)),
        |n| n as usize,
    );
    Ok(Xml {
        name,
        file: Some(file),
        size,
        split: parallel::Split {
            threads,
            part: a.part_size.unwrap_or(parallel::PART).max(64),
        },
        interrupt: cx.interrupt.clone(),
        strict: !a.no_check,
        lenient: a.lenient,
        meter: cx.meter.clone(),
        status: cx.status.clone(),
        fused,
        decompress: !a.no_decompress,
        compressed,
    })
}

/// A well-formedness error, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError {
    pub file: String,
    pub line: u64,
    pub column: u64,
    pub message: String,
}

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

impl std::error::Error for XmlError {}

struct Xml {
    name: String,
    file: Option<File>,
    /// The size of a regular file.
    size: Option<u64>,
    split: parallel::Split,
    interrupt: Interrupt,
    strict: bool,
    lenient: bool,
    meter: Meter,
    status: Status,
    /// The `records` stage after the source, when the source absorbed it (see [`Fused`]).
    fused: Option<Fused>,
    /// Recognise compressed inputs (not `--no-decompress`).
    decompress: bool,
    /// The compression of a regular file (found when it was opened).
    compressed: Option<Format>,
}

impl Xml {
    /// The file mapped, when it is a regular file big enough to parse in parts.
    fn mapped(&self, file: &File) -> Option<Arc<SafeMap>> {
        if self.compressed.is_some() || !self.split.worth_it(self.size?) {
            return None;
        }
        // A file truncated while it is parsed is reported as such (see `parallel`).
        SafeMap::new(file).map(Arc::new)
    }
}

impl Xml {
    /// The direct path: the whole input in one call, sleeping in reads.
    fn run_direct(&mut self, out: &mut dyn Stage) -> Result<()> {
        let file = self.file.take().expect("a source runs once");
        let name = self.name.clone();
        let located = |fail: Fail, input: Option<&Input>| located(&name, fail, input);
        let mut fused = self.fused.take();
        let map = if self.lenient {
            None
        } else {
            self.mapped(&file)
        };
        if let (Some(map), Some(fused)) = (map, &mut fused) {
            let r = parallel::parse(
                map,
                self.strict,
                self.split,
                &self.meter,
                &self.interrupt,
                &mut fused.building(out),
                &located,
            );
            return self.ended(r);
        }
        // One part.
        let (reader, blocking_fd) = match compressed::reader(
            file,
            self.compressed,
            self.decompress,
            &self.interrupt,
            &self.meter,
        ) {
            Ok(r) => r,
            Err(e) => return self.ended(Err(e.context(format!("error reading {}", self.name)))),
        };
        if self.lenient {
            let r = into_fused(&mut fused, out, |out| {
                lenient::parse(&self.name, reader, &self.meter, out)
            });
            return self.ended(r);
        }
        // The parser is compiled for the records builder itself (no call through a
        // `dyn Stage` per event) when the source absorbed `records`.
        let (name, strict, meter) = (&self.name, self.strict, &self.meter);
        let cap = input::CAPACITY;
        let r = match &mut fused {
            Some(f) => parse_input(
                name,
                reader,
                strict,
                cap,
                meter,
                blocking_fd,
                &mut f.building(out),
            ),
            None => parse_input(name, reader, strict, cap, meter, blocking_fd, out),
        };
        self.ended(r)
    }
}

impl Xml {
    /// Ctrl-C or SIGTERM: what was pushed stays pushed; the run ends cleanly.
    fn ended(&self, r: Result<()>) -> Result<()> {
        ended(&self.status, r)
    }
}

impl Fused {
    /// The stage a parser pushes its events into: the builder, its records going to `next`.
    fn building<'a>(&'a mut self, next: &'a mut dyn Stage) -> parallel::Building<'a> {
        parallel::Building {
            builder: &mut self.builder,
            next,
            counter: self.counter.as_ref(),
        }
    }
}

/// Run `f` with where the events of one parser go: the records builder the source absorbed
/// (see [`Fused`]), its records going to `out`; or else `out` itself.
fn into_fused<R>(
    fused: &mut Option<Fused>,
    out: &mut dyn Stage,
    f: impl FnOnce(&mut dyn Stage) -> R,
) -> R {
    match fused {
        None => f(out),
        Some(fused) => f(&mut fused.building(out)),
    }
}

/// Ctrl-C or SIGTERM stopped the reads: noted for the exit status, not an error.
fn ended(status: &Status, r: Result<()>) -> Result<()> {
    match r {
        Err(e) if let Some(sig) = stopped_by(&e) => {
            status.interrupt(sig);
            Ok(())
        }
        r => r,
    }
}

/// How much input the `xml` task parses in one turn of the scheduler before it lets the
/// other tasks run (a token longer than this is still read whole in one turn).
const TURN_BYTES: u64 = 256 * 1024;

/// `xml` as a task of the scheduler (see the module docs of [`crate::protocol::task`]).
///
/// * A pipe, FIFO, socket or terminal is read only when it is readable: the tokenizer
///   works on the window alone, and where it needs more than has arrived the input says
///   so ([`input::InputError::Blocked`]) instead of sleeping in a read; the parser keeps
///   where it was ([`parser::Reach::Blocked`]) and the task waits for the descriptor. A
///   token cut across writes is taken up where its scan stopped, so a long one stays
///   linear. The first bytes (the encoding) are gathered the same way.
/// * A regular file never waits: the task parses [`TURN_BYTES`] a turn and yields.
/// * A big file into `records` is parsed in parts by worker threads
///   ([`parallel::Driver`]); the task adopts the parts in order, and while the next one is
///   still being parsed it waits for the workers' wake-up descriptor.
struct XmlTask {
    name: String,
    run: Run,
    split: parallel::Split,
    strict: bool,
    size: Option<u64>,
    interrupt: Interrupt,
    meter: Meter,
    status: Status,
    /// As in [`Xml`].
    fused: Option<Fused>,
    /// As in [`Xml`].
    decompress: bool,
    compressed: Option<Format>,
}

enum Run {
    /// Not started.
    Open(File),
    /// Gathering the first bytes of an input that may block, until they tell the encoding.
    Head(File, Vec<u8>),
    /// Gathering the first decompressed bytes of a compressed pipe (see `compressed`).
    DecodedHead(Box<decompress::Decoder>, Vec<u8>),
    /// One parser over the input.
    One(Box<Parser>),
    /// A mapped file in parts.
    Parts(Box<parallel::Driver>),
    Done,
}

impl Source for Xml {
    fn run(&mut self, out: &mut dyn Stage) -> Result<()> {
        self.run_direct(out)
    }

    /// `--lenient` stays behind the bridge: quick-xml's reader cannot stop where a read
    /// would block and go on later (see [`lenient`]).
    fn into_task(mut self: Box<Self>) -> Option<Box<dyn Task>> {
        if self.lenient {
            return None;
        }
        let file = self.file.take()?;
        Some(Box::new(XmlTask {
            name: self.name.clone(),
            run: Run::Open(file),
            split: self.split,
            strict: self.strict,
            size: self.size,
            interrupt: self.interrupt.clone(),
            meter: self.meter.clone(),
            status: self.status.clone(),
            fused: self.fused.take(),
            decompress: self.decompress,
            compressed: self.compressed,
        }))
    }
}

impl Task for XmlTask {
    fn resume(&mut self, cx: &mut Cx<'_>, out: &mut dyn Stage) -> Result<Wait> {
        let mut stopped = false;
        let r = self.step(out, &mut stopped);
        cx.pushed();
        if stopped {
            cx.stop_all();
        }
        match r {
            Ok(w) => Ok(w),
            Err(e) => {
                self.run = Run::Done;
                ended(&self.status, Err(e)).map(|()| Wait::Done)
            }
        }
    }
}

impl XmlTask {
    /// One turn: start, or parse on until the turn's budget is spent, a read would block,
    /// the next part is not parsed yet, or the end.
    fn step(&mut self, out: &mut dyn Stage, stopped: &mut bool) -> Result<Wait> {
        loop {
            match std::mem::replace(&mut self.run, Run::Done) {
                Run::Done => return Ok(Wait::Done),
                Run::Open(file) => self.run = self.open(file)?,
                Run::Head(mut file, mut head) => {
                    use std::os::fd::AsRawFd;
                    let fd = file.as_raw_fd();
                    let mut eof = false;
                    while !input::head_complete(&head)
                        || (self.decompress && Format::prefix_of_magic(&head))
                    {
                        if !crate::runtime::signal::readable_now(fd) {
                            self.run = Run::Head(file, head);
                            return Ok(Wait::Readable(fd));
                        }
                        let mut chunk = [0u8; 4096];
                        match file.read(&mut chunk) {
                            Ok(0) => {
                                eof = true;
                                break;
                            }
                            Ok(n) => {
                                self.meter.read(n);
                                head.extend_from_slice(&chunk[..n]);
                            }
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => {
                                return Err(anyhow::Error::new(e)
                                    .context(format!("error reading {}", self.name)));
                            }
                        }
                    }
                    self.run = self.parser(file, head, eof)?;
                }
                Run::DecodedHead(dec, head) => {
                    if let Some(wait) = self.decoded_head(dec, head)? {
                        return Ok(wait);
                    }
                }
                Run::One(mut p) => {
                    let here = p.input.offset(0);
                    let stop = here.saturating_add(TURN_BYTES);
                    let reach = match &mut self.fused {
                        Some(f) => p.run_to(stop, &mut f.building(out)),
                        None => p.run_to(stop, out),
                    };
                    let reach = reach.map_err(|e| located(&self.name, e, Some(&p.input)))?;
                    return Ok(match reach {
                        Reach::At | Reach::Past => {
                            self.run = Run::One(p);
                            Wait::Soon
                        }
                        Reach::Blocked(fd) => {
                            self.run = Run::One(p);
                            Wait::Readable(fd)
                        }
                        Reach::Ended => Wait::Done,
                        Reach::Stopped => {
                            *stopped = true;
                            Wait::Done
                        }
                    });
                }
                Run::Parts(mut d) => {
                    let fused = self.fused.as_mut().expect("parts feed records");
                    let progress = d.advance(&mut fused.building(out), TURN_BYTES);
                    let progress =
                        progress.map_err(|e| located(&self.name, e, Some(&d.p.input)))?;
                    return Ok(match progress {
                        parallel::Progress::More => {
                            self.run = Run::Parts(d);
                            Wait::Soon
                        }
                        parallel::Progress::Waiting(fd) => {
                            self.run = Run::Parts(d);
                            Wait::Readable(fd)
                        }
                        parallel::Progress::Done => Wait::Done,
                    });
                }
            }
        }
    }

    /// How the input is to be read: mapped in parts, parsed at once (a regular file), or
    /// its first bytes gathered first (anything a read may block on).
    fn open(&mut self, file: File) -> Result<Run> {
        if let Some(format) = self.compressed {
            return self.parser_decoded(format, Vec::new(), file, false);
        }
        if self.fused.is_some()
            && let Some(map) = self
                .size
                .filter(|&n| self.split.worth_it(n))
                .and_then(|_| SafeMap::new(&file))
        {
            let name = self.name.clone();
            let located = |fail: Fail, input: Option<&Input>| located(&name, fail, input);
            let d = parallel::Driver::new(
                Arc::new(map),
                self.strict,
                self.split,
                &self.meter,
                &self.interrupt,
                true,
                &located,
            )?;
            return Ok(Run::Parts(Box::new(d)));
        }
        if self.size.is_some() {
            return self.parser(file, Vec::new(), false);
        }
        Ok(Run::Head(file, Vec::with_capacity(input::HEAD)))
    }

    /// The parser over `file`, whose first bytes `head` were read (all of it: `eof`).
    fn parser(&mut self, file: File, head: Vec<u8>, eof: bool) -> Result<Run> {
        if self.decompress
            && let Some(format) = Format::sniff(&head)
        {
            return self.parser_decoded(format, head, file, true);
        }
        let reader = Interruptible::new(file, self.interrupt.clone());
        let blocking_fd = reader.blocking_fd();
        let input = Input::with_head(
            Box::new(reader),
            head,
            eof,
            self.strict,
            input::CAPACITY,
            self.meter.clone(),
        )
        .map_err(|e| located(&self.name, e.into(), None))?;
        let mut input = input;
        input.blocking_fd = blocking_fd;
        input.nonblocking = true;
        let mut p = Parser::new(input, self.strict);
        p.file = Some(self.name.as_str().into());
        Ok(Run::One(Box::new(p)))
    }
}

/// A parser failure as an error: `FILE:LINE:COLUMN: message` for a well-formedness error
/// (`input` gives the position), else the error with the file named when it is a read error.
fn located(name: &str, fail: Fail, input: Option<&Input>) -> anyhow::Error {
    let at = |offset: u64, message: String| {
        // Without an input (it could not be started: its first bytes), the offset is one in
        // the XML declaration, on its first line.
        let (line, column) = input.map_or((1, offset + 1), |i| i.line_col(offset));
        anyhow::Error::new(XmlError {
            file: name.to_string(),
            line,
            column,
            message,
        })
    };
    match fail {
        // The mapped file shrank under the parse (see `parallel`).
        Fail::Other(e) if Truncated::is(&e) => Truncated::of(name),
        Fail::Abs(o, m) => at(o, m),
        Fail::At(i, m) => at(input.map_or(i as u64, |inp| inp.offset(i)), m),
        Fail::Other(e) => {
            if e.downcast_ref::<io::Error>().is_some() && e.chain().count() == 1 {
                e.context(format!("error reading {name}"))
            } else {
                e
            }
        }
    }
}

/// Parse one XML input into `out` (the `xml` source; also used by tests and benches).
pub fn parse(
    name: &str,
    reader: Box<dyn Read>,
    strict: bool,
    meter: &Meter,
    out: &mut dyn Stage,
) -> Result<()> {
    parse_with_capacity(name, reader, strict, input::CAPACITY, meter, out)
}

/// [`parse`] with a given initial window size (tests use tiny ones to exercise refills).
pub fn parse_with_capacity(
    name: &str,
    reader: Box<dyn Read>,
    strict: bool,
    capacity: usize,
    meter: &Meter,
    out: &mut dyn Stage,
) -> Result<()> {
    parse_input(name, reader, strict, capacity, meter, None, out)
}

/// [`parse_with_capacity`], with the descriptor of a pipe the reads may sleep on.
fn parse_input(
    name: &str,
    reader: Box<dyn Read>,
    strict: bool,
    capacity: usize,
    meter: &Meter,
    blocking_fd: Option<RawFd>,
    out: &mut (impl Stage + ?Sized),
) -> Result<()> {
    let input = match Input::with_capacity(reader, strict, capacity, meter.clone()) {
        Ok(i) => i,
        Err(e) => return Err(located(name, e.into(), None)),
    };
    let mut input = input;
    input.blocking_fd = blocking_fd;
    let mut p = Parser::new(input, strict);
    p.file = Some(name.into());
    p.run(out).map_err(|e| located(name, e, Some(&p.input)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::testing::Collect;

    /// The events of a document as NDJSON lines, and the error if any.
    pub(crate) fn events(doc: &[u8]) -> (Vec<String>, Option<String>) {
        let mut c = Collect::default();
        let r = parse(
            "t.xml",
            Box::new(io::Cursor::new(doc.to_vec())),
            true,
            &Meter::default(),
            &mut c,
        );
        (c.strings(), r.err().map(|e| format!("{e:#}")))
    }

    fn ok(doc: &str) -> Vec<String> {
        let (ev, err) = events(doc.as_bytes());
        assert_eq!(err, None, "{doc}");
        ev
    }

    fn err(doc: &str) -> String {
        let (_, err) = events(doc.as_bytes());
        err.unwrap_or_else(|| panic!("accepted: {doc}"))
    }

    #[test]
    fn events_of_a_small_document() {
        let ev = ok(
            "<?xml version=\"1.0\"?>\n<a x='1' y=\"&lt;2&gt;\"><b>t &amp; u</b><c/><![CDATA[<raw>]]></a>\n",
        );
        assert_eq!(
            ev,
            [
                r#"{"event":"start","name":"a","attrs":{"x":"1","y":"<2>"}}"#,
                r#"{"event":"start","name":"b","attrs":{}}"#,
                r#"{"event":"text","text":"t & u"}"#,
                r#"{"event":"end","name":"b"}"#,
                r#"{"event":"start","name":"c","attrs":{}}"#,
                r#"{"event":"end","name":"c"}"#,
                r#"{"event":"text","text":"<raw>","cdata":true}"#,
                r#"{"event":"end","name":"a"}"#,
            ]
        );
    }

    #[test]
    fn line_ends_and_attribute_whitespace_are_normalized() {
        let ev = ok("<a v='x\r\ny\tz'>1\r\n2\r3</a>");
        assert_eq!(
            ev[0],
            r#"{"event":"start","name":"a","attrs":{"v":"x y z"}}"#
        );
        assert_eq!(ev[1], r#"{"event":"text","text":"1\n2\n3"}"#);
    }

    #[test]
    fn replacement_text_keeps_its_character_references() {
        // Line ends are normalized in the document's own text, not in what character
        // references put into an entity (expat gives the same).
        let ev = ok("<!DOCTYPE r [<!ENTITY e \"a&#13;&#10;b&amp;\">]><r x=\"&e;\">&e;</r>");
        assert_eq!(
            ev[0],
            r#"{"event":"start","name":"r","attrs":{"x":"a  b&"}}"#
        );
        assert_eq!(
            ev[1..ev.len() - 1].concat(),
            r#"{"event":"text","text":"a\r\nb&"}"#
        );
        let ev = ok("<!DOCTYPE r [<!ENTITY e \"<b>x&#13;y</b><![CDATA[p&#13;q]]>\">]><r>&e;</r>");
        assert!(
            ev.contains(&r#"{"event":"text","text":"x\ry"}"#.to_string()),
            "{ev:?}"
        );
        assert!(
            ev.contains(&r#"{"event":"text","text":"p\rq","cdata":true}"#.to_string()),
            "{ev:?}"
        );
        let ev = ok("<r x='a&#13;&#10;b'>c&#13;<![CDATA[d\r\ne]]></r>");
        assert_eq!(
            ev[0],
            r#"{"event":"start","name":"r","attrs":{"x":"a\r\nb"}}"#
        );
        assert_eq!(ev[2], r#"{"event":"text","text":"d\ne","cdata":true}"#);
    }

    #[test]
    fn attribute_list_defaults_and_tokenized_values() {
        let dtd = "<!DOCTYPE r [<!ENTITY e 'ent'><!ATTLIST r a CDATA ' x &e; ' b NMTOKENS #IMPLIED c (p|q) 'q' d CDATA #REQUIRED><!ATTLIST r a CDATA 'second' z CDATA 'z'>]>";
        let ev = ok(&format!("{dtd}<r b='  1   2 ' d=' keep  spaces '/>"));
        assert_eq!(
            ev[0],
            r#"{"event":"start","name":"r","attrs":{"b":"1 2","d":" keep  spaces ","a":" x ent ","c":"q","z":"z"}}"#
        );
        let ev = ok(&format!("{dtd}<r a='mine' c=' p '/>"));
        assert_eq!(
            ev[0],
            r#"{"event":"start","name":"r","attrs":{"a":"mine","c":"p","z":"z"}}"#
        );
        // After a parameter-entity reference that is not read, later ATTLISTs are not used.
        let ev = ok("<!DOCTYPE r [<!ENTITY % p ''>%p;<!ATTLIST r a CDATA 'x'>]><r/>");
        assert_eq!(ev[0], r#"{"event":"start","name":"r","attrs":{}}"#);
    }

    #[test]
    fn errors_have_line_and_column() {
        assert_eq!(
            err("<a>\n  <b></c>\n</a>"),
            "t.xml:2:6: mismatched end tag: </b> expected, found </c>"
        );
        assert_eq!(err("<a>&foo;</a>"), "t.xml:1:4: undefined entity &foo;");
        assert!(err("<a>x & y</a>").starts_with("t.xml:1:6: `&` must start"));
        assert!(err("<a><b>").contains("ends inside <b>"));
        assert!(err("<a/><b/>").starts_with("t.xml:1:5: a second root"));
        assert!(err("").contains("empty"));
        assert!(err("  \n").contains("no root"));
        assert!(err("<a>é\u{1}</a>").starts_with("t.xml:1:5: character U+0001"));
    }

    #[test]
    fn events_before_an_error_are_pushed() {
        let (ev, e) = events(b"<a><b>1</b><b>2</c></a>");
        assert_eq!(ev.len(), 6, "{ev:?}");
        assert!(e.unwrap().contains("mismatched"));
    }
}

#[cfg(test)]
mod nonblocking_tests {
    use super::*;
    use crate::protocol::testing::Collect;
    use std::io::Write;
    use std::os::fd::AsRawFd;

    /// The events of `doc` written into a pipe `step` bytes at a time, the parser reading
    /// it as the `xml` task does: never sleeping in a read, stopping with
    /// [`Reach::Blocked`] whenever the pipe is empty, and going on when more was written.
    /// Also how many times it stopped so.
    fn events_in_pieces(doc: &[u8], step: usize) -> (Vec<String>, Option<String>, usize) {
        let (r, w) = std::io::pipe().unwrap();
        let r = File::from(std::os::fd::OwnedFd::from(r));
        let fd = r.as_raw_fd();
        let mut pieces = doc.chunks(step);
        let mut c = Collect::default();
        let mut blocked = 0;
        // The first bytes, until they tell the encoding (as the task gathers them).
        let mut head = Vec::new();
        let mut eof = false;
        while !input::head_complete(&head) {
            match pieces.next() {
                Some(p) => head.extend_from_slice(p),
                None => {
                    eof = true;
                    break;
                }
            }
        }
        let mut w = (!eof).then_some(w);
        let input = match Input::with_head(Box::new(r), head, eof, true, 64, Meter::default()) {
            Ok(i) => i,
            Err(e) => {
                let e = located("t.xml", e.into(), None);
                return (Vec::new(), Some(format!("{e:#}")), 0);
            }
        };
        let mut input = input;
        input.blocking_fd = Some(fd);
        input.nonblocking = true;
        let mut p = Parser::new(input, true);
        loop {
            match p.run_to(u64::MAX, &mut c) {
                Ok(Reach::Blocked(at)) => {
                    assert_eq!(at, fd);
                    blocked += 1;
                    match (pieces.next(), w.as_mut()) {
                        (Some(piece), Some(w)) => w.write_all(piece).unwrap(),
                        // All written: closing the pipe, the parser sees its end.
                        _ => w = None,
                    }
                }
                Ok(_) => return (c.strings(), None, blocked),
                Err(e) => {
                    let e = located("t.xml", e, Some(&p.input));
                    return (c.strings(), Some(format!("{e:#}")), blocked);
                }
            }
        }
    }

    #[test]
    fn a_document_in_pieces_gives_the_events_of_a_whole_read() {
        let docs: [&[u8]; 4] = [
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE r [<!ENTITY e \"<b>ent</b>\"><!ATTLIST a d CDATA 'dflt'>]>\n<r><!-- a comment -- no --><a x='1' y=\"&lt;&e;\">t &amp; &#233; &e;<![CDATA[<raw>]]></a><?pi some data?>\r\n<a/>tail</r>\n<!-- after -->",
            "<r><é attr='ü€😀'>日本語</é></r>".as_bytes(),
            b"<?xml version='1.0' encoding='ISO-8859-1'?><r>\xe9\xff</r>",
            b"<r><a>1</a><b>2</c></r>",
        ];
        for doc in docs {
            let (want, want_err) = super::tests::events(doc);
            for step in [1, 2, 3, 5, 7, 16, 100] {
                let (got, err, blocked) = events_in_pieces(doc, step);
                assert_eq!(got, want, "step {step}: {}", String::from_utf8_lossy(doc));
                assert_eq!(err, want_err, "step {step}");
                assert!(blocked > 0 || doc.len() <= step);
            }
        }
    }
}
