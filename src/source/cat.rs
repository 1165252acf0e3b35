//! `cat [FILE|-]...` — read files in order (`-` or no file: standard input) and emit their
//! lines. Each file's unterminated last line is still a line (but not a fragment held when a
//! signal stops the reading: that is said on stderr, not pushed). A file that cannot be opened
//! or read is reported and skipped (exit status 2 at the end), as grep does. When reading from a
//! pipe or terminal would block, downstream output is flushed first, so
//! `tail -f log | copipe grep x` shows matches at once.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::PathBuf;

use anyhow::Result;
use clap::{ArgMatches, FromArgMatches, Parser};

use crate::item::{Kind, Origin, Show};
use crate::protocol::def::{Build, BuildCx, Emits, Role, StageDef, Status};
use crate::protocol::task::{Cx, Task, Wait};
use crate::protocol::{Source, Stage};
use crate::runtime::fd::{is_regular, open_without_waiting};
use crate::runtime::map::Truncated;
use crate::runtime::meter::Meter;
use crate::runtime::signal::{Interrupt, readable_now, report_unfinished, wait_readable};
use crate::source::decompress::{self, Decoder};
use crate::source::reader::{LineReader, ReadError, cut_warning, note_cuts, place_in};

mod compressed;

/// Read files in order and emit their lines (`-` or no file: standard input).
///
/// Lines are bytes: invalid UTF-8 passes through untouched, a `\r` before the newline is
/// kept (see the global `--crlf`), and a last line without a newline is still a line.
/// Ctrl-C or SIGTERM in the middle of a line (a pipe that has not sent its newline yet)
/// does not make the fragment a line: stderr says how many bytes were left unfinished.
/// `cat` is the implicit source of a pipeline that starts with a filter. A file truncated
/// by another process while it is read (logrotate's copytruncate) is read up to its new
/// end, then reported as `FILE: file truncated while being read` (exit status 2).
///
/// Compressed files are read decompressed: gzip (all its members, as log rotators write
/// them), zstd, xz and bzip2, recognised by their first bytes and not by their names (so
/// `cat /var/log/syslog*` reads a mix), standard input too. Decompression runs on a thread
/// of its own, beside the pipeline. Corrupt or truncated compressed data ends the run with
/// an error naming the file and the byte offset in it (exit status 2), after every line
/// before it was pushed; with `--skip-bad` it is a warning and the next file is read.
#[derive(Parser, Clone)]
#[command(name = "cat", disable_version_flag = true)]
pub struct Args {
    /// Files to read; `-` is standard input.
    pub files: Vec<PathBuf>,
    /// Show each line's file name: `name:line` from `print`, `write` and `exec` (as
    /// `grep -H`), a `file` field in the records made by `json`.
    #[arg(short = 'H', long)]
    pub tag: bool,
    /// Read compressed files as they are, bytes and all (no recognition of gzip, zstd, xz
    /// or bzip2).
    #[arg(long)]
    pub no_decompress: bool,
    /// A corrupt or truncated compressed file is a warning, and the next file is read
    /// (without it, the run ends there with exit status 2).
    #[arg(long)]
    pub skip_bad: bool,
    /// Read the files on N threads, each file on one, when the filters after `cat` treat
    /// each file on its own (`grep` without `-m`, `-l`, `-L` or `-q`; `replace`; the line
    /// parsers `parse`, `logfmt`, `kv`, `syslog`, `combined`; `where`, `select`, `fmt`):
    /// the output, and the notes the parsers say at the end, are the same, in the order of
    /// the files. Default: the number of cores; 1 reads one file after the other in one
    /// thread.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: Option<u32>,
    /// With several threads, a file at least twice SIZE is read in parts of about SIZE
    /// (each from a line's start), on as many threads, when the filters after `cat` treat
    /// each line on its own (`grep` without `-n`, `-b`, `-P` or the options above; its `-c`
    /// counts each file whole; with context, the file is cut where no group crosses; the
    /// line parsers without `--strict`, whose error names the line by its number): the
    /// output is the same. At least 64K.
    #[arg(long, value_name = "SIZE", default_value = "32M", value_parser = part_size)]
    pub part_size: usize,
}

/// `--part-size`: a size of 64 KiB at least. Smaller parts cost more to cut and hand over
/// than they save (`--part-size 1` made a job of every line: a 20 MB file took 3.4 s
/// instead of 0.02 s).
fn part_size(s: &str) -> Result<usize, String> {
    let n = crate::runtime::units::parse_size(s)?;
    if n < 64 << 10 {
        return Err(format!("`{s}`: parts are 64K at least"));
    }
    Ok(n)
}

/// The files a `cat` reads and how many threads may read them, when per-file workers can
/// (see `crate::engine::workers`): files named, none standard input, each a regular file or
/// one that cannot be opened (reported in its turn), more than one thread. (Whether there
/// are jobs enough, several files or parts of a big one, is the pipeline's to say.)
pub fn per_file(m: &ArgMatches) -> Option<(Vec<PathBuf>, usize, u64)> {
    let a = Args::from_arg_matches(m).ok()?;
    let threads = a.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n as usize,
    );
    let readable =
        |p: &PathBuf| p.as_os_str() != "-" && std::fs::metadata(p).map_or(true, |m| m.is_file());
    let part = a.part_size as u64;
    (threads > 1 && !a.files.is_empty() && a.files.iter().all(readable))
        .then_some((a.files, threads, part))
}

/// Whether `cat` would read `file` decompressed (so that it cannot be read in parts).
pub fn reads_decompressed(m: &ArgMatches, file: &std::path::Path) -> bool {
    let decompress = Args::from_arg_matches(m).is_ok_and(|a| !a.no_decompress);
    decompress
        && File::open(file)
            .ok()
            .and_then(|f| decompress::sniff_file(&f))
            .is_some()
}

/// The options of `cat` in `m` without its files: what each per-file worker's source is
/// built from ([`build_one`], [`build_part`]). Parsed once: parsing `m` for each job cloned
/// the whole list of files each time (2,000 small files: 0.29 s on two threads against
/// 0.026 s on one).
pub fn job_args(m: &ArgMatches) -> Result<Args> {
    let mut a = Args::from_arg_matches(m)?;
    a.files = Vec::new();
    Ok(a)
}

/// A `cat` of `files` (one, or a few small ones), with the options `a` (of [`job_args`]):
/// a per-file worker's source.
pub fn build_one(a: &Args, files: &[PathBuf], cx: &BuildCx<'_>) -> Box<dyn Source> {
    Box::new(Cat {
        files: Vec::from(files).into_iter(),
        ..from_args(a.clone(), cx)
    })
}

/// A `cat` of the lines of `file` that start in `range` (whose ends are starts of lines; the
/// last part of a file has no end: it is read to the file's end, as `cat` reads it), with
/// the options `a` (of [`job_args`]): a per-file worker's source for a part of a big file. The file is
/// announced as a whole file is; a byte of the range missing is the file's truncation.
pub fn build_part(
    a: &Args,
    file: &std::path::Path,
    range: (u64, Option<u64>),
    cx: &BuildCx<'_>,
) -> Box<dyn Source> {
    Box::new(Cat {
        files: vec![file.to_path_buf()].into_iter(),
        part: Some(range),
        decompress: false,
        ..from_args(a.clone(), cx)
    })
}

pub const DEF: StageDef = StageDef {
    name: "cat",
    aliases: &["read"],
    role: Role::Source,
    summary: "read files in order ('-' or nothing: standard input)",
    accepts: &[],
    emits: Emits::Kind(Kind::Line),
    examples: &[
        "copipe cat a.log b.log : grep -i error",
        "copipe cat --tag a.log b.log : grep -i error",
        "copipe cat /var/log/syslog* : grep -c error",
    ],
    command: <Args as clap::CommandFactory>::command,
    fusion: None,
    build: Build::Source(build),
};

fn build(m: &ArgMatches, cx: &BuildCx<'_>) -> Result<Box<dyn Source>> {
    Ok(Box::new(from_args(Args::from_arg_matches(m)?, cx)))
}

fn from_args(a: Args, cx: &BuildCx<'_>) -> Cat {
    let files = if a.files.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        a.files
    };
    Cat {
        files: files.into_iter(),
        tag: a.tag,
        meter: cx.meter.clone(),
        interrupt: cx.interrupt.clone(),
        reader: LineReader::default().max_line(cx.opts.max_line()),
        max_line: cx.opts.max_line(),
        current: String::new(),
        input: None,
        status: cx.status.clone(),
        decompress: !a.no_decompress,
        skip_bad: a.skip_bad,
        part: None,
        left: None,
    }
}

struct Cat {
    /// The inputs not opened yet, in order.
    files: std::vec::IntoIter<PathBuf>,
    tag: bool,
    meter: Meter,
    interrupt: Interrupt,
    reader: LineReader,
    /// `--max-line`.
    max_line: usize,
    /// The name of the input being read, for the warning about cut lines.
    current: String,
    /// The input being read.
    input: Option<Input>,
    status: Status,
    /// Recognise compressed inputs (not `--no-decompress`).
    decompress: bool,
    /// `--skip-bad`: corrupt compressed data is a warning, then the next input.
    skip_bad: bool,
    /// Read only the lines that start in this part of the file (see [`build_part`]).
    part: Option<(u64, Option<u64>)>,
    /// The bytes of the part not read yet.
    left: Option<u64>,
}

/// An open input.
enum Input {
    /// A file, pipe, FIFO, socket or terminal, read into the line reader; `may_block`: not
    /// a regular file, read only when it is readable.
    Read { file: File, may_block: bool },
    /// A pipe or terminal whose first bytes are gathered until they tell whether it is
    /// compressed (see [`decompress`]).
    Sniff { file: File, head: Vec<u8> },
    /// A compressed input, read decompressed.
    Decoded(Box<Decoder>),
}

/// What one step of [`Cat::step`] came to.
enum Step {
    /// Something was done (a batch pushed, a read, an input opened or ended): go on.
    More,
    /// Reading the input would block: wait until this descriptor is readable.
    Wait(RawFd),
    /// Downstream stopped (`head`).
    Stop,
    /// A signal arrived (noted for the exit status).
    Interrupted,
    /// Every input has been read.
    End,
}

/// How much a native `cat` pushes in one turn of the scheduler before it lets the other
/// tasks run: this many bytes read.
const TURN_BYTES: usize = 1 << 20;
/// ...or this many steps (inputs opened: many small files).
const TURN_STEPS: usize = 64;

impl Source for Cat {
    /// Reading regular files never waits for more; standard input does unless it is a
    /// regular file (`< file`), and so do a named pipe or a device.
    fn waits(&self) -> bool {
        !self.files.as_slice().iter().all(|p| {
            if p.as_os_str() == "-" {
                io::stdin()
                    .as_fd()
                    .try_clone_to_owned()
                    .map(File::from)
                    .and_then(|f| f.metadata())
                    .is_ok_and(|m| m.is_file())
            } else {
                // A file that cannot be read is reported when its turn comes.
                std::fs::metadata(p).map_or(true, |m| m.is_file())
            }
        })
    }

    /// The direct path: the steps in a loop, sleeping in `poll` when a pipe has nothing.
    fn run(&mut self, out: &mut dyn Stage) -> Result<()> {
        loop {
            match self.step(out)? {
                Step::More => {}
                Step::Wait(fd) => {
                    // Make what was pushed visible before sleeping on the input.
                    out.flush()?;
                    wait_readable(fd, &self.interrupt)?;
                }
                Step::Stop | Step::Interrupted | Step::End => return Ok(()),
            }
        }
    }

    fn into_task(mut self: Box<Self>) -> Option<Box<dyn Task>> {
        Some(Box::new(Cat {
            files: std::mem::take(&mut self.files),
            tag: self.tag,
            meter: self.meter.clone(),
            interrupt: self.interrupt.clone(),
            reader: std::mem::take(&mut self.reader),
            max_line: self.max_line,
            current: std::mem::take(&mut self.current),
            input: self.input.take(),
            status: self.status.clone(),
            decompress: self.decompress,
            skip_bad: self.skip_bad,
            part: self.part,
            left: self.left,
        }))
    }
}

/// `cat` as a task of the scheduler: a pipe or terminal is read only when readable (never
/// blocking the scheduler), a regular file yields every [`TURN_BYTES`].
impl Task for Cat {
    fn resume(&mut self, cx: &mut Cx<'_>, out: &mut dyn Stage) -> Result<Wait> {
        let start = self.meter.bytes();
        for _ in 0..TURN_STEPS {
            let step = self.step(out)?;
            cx.pushed();
            match step {
                Step::More => {
                    if self.meter.bytes() - start >= TURN_BYTES as u64 {
                        return Ok(Wait::Soon);
                    }
                }
                Step::Wait(fd) => return Ok(Wait::Readable(fd)),
                Step::Stop => {
                    cx.stop_all();
                    return Ok(Wait::Done);
                }
                Step::Interrupted | Step::End => return Ok(Wait::Done),
            }
        }
        Ok(Wait::Soon)
    }

    /// The partial line held is a fragment whose rest was never read: said, not pushed.
    fn interrupted(&mut self, _out: &mut dyn Stage) -> Result<bool> {
        if let Some(Input::Read { .. } | Input::Decoded(_)) = self.input.take() {
            report_unfinished(self.reader.abandon(), &self.current);
        }
        Ok(true)
    }
}

impl Cat {
    /// One step: open the next input, or do one read. The state
    /// lives in `self`, so the direct path loops over it and the scheduler resumes it.
    fn step(&mut self, out: &mut dyn Stage) -> Result<Step> {
        if self.signalled() {
            if let Some(Input::Read { .. } | Input::Decoded(_)) = self.input.take() {
                // Not the end of the input: the partial line held is a fragment of a line
                // whose rest was never read, not a line. Said, not pushed.
                report_unfinished(self.reader.abandon(), &self.current);
            }
            return Ok(Step::Interrupted);
        }
        match self.input.take() {
            None => self.open_next(out),
            Some(Input::Read { file, may_block }) => {
                let fd = file.as_raw_fd();
                if may_block && !readable_now(fd) {
                    self.input = Some(Input::Read { file, may_block });
                    return Ok(Step::Wait(fd));
                }
                match self.read_once(&file, out) {
                    Ok(Read::More) => {
                        self.input = Some(Input::Read { file, may_block });
                        Ok(Step::More)
                    }
                    Ok(Read::Stop) => Ok(Step::Stop),
                    Ok(Read::End) => Ok(Step::More),
                    // A failed read is this input's problem, as a failed open is: reported,
                    // what was read of it kept, and the next input read (status 2 at the
                    // end, as grep does). A stage's error is its own and ends the run.
                    Err(e) if ReadError::is(&e) => {
                        self.status
                            .soft_error(&e.context(format!("error reading {}", self.current)));
                        if self.reader.finish(out)?.is_stop() {
                            return Ok(Step::Stop);
                        }
                        Ok(Step::More)
                    }
                    Err(e) => Err(e),
                }
            }
            Some(Input::Sniff { file, head }) => self.sniff(file, head, out),
            Some(Input::Decoded(dec)) => self.step_decoded(dec, out),
        }
    }

    /// Open the next input (announcing it downstream once open), or say that all were read.
    fn open_next(&mut self, out: &mut dyn Stage) -> Result<Step> {
        let Some(path) = self.files.next() else {
            return Ok(Step::End);
        };
        let stdin = path.as_os_str() == "-";
        let name = if stdin {
            "standard input".to_string()
        } else {
            path.display().to_string()
        };
        let opened = if stdin {
            io::stdin().as_fd().try_clone_to_owned().map(File::from)
        } else {
            open_without_waiting(&path)
        };
        let file = match opened {
            Ok(f) => f,
            Err(e) => {
                self.status
                    .soft_error(&anyhow::Error::new(e).context(format!("cannot read {name}")));
                return Ok(Step::More);
            }
        };
        // Announced once open: an input that cannot be read has no lines (`grep -c` gives
        // it no count, as GNU grep does).
        out.origin(Origin {
            name: &name,
            show: if self.tag { Show::Tag } else { Show::Hidden },
        })?;
        if let Some((start, end)) = self.part {
            // (A seek in a regular file does not fail: if it did, the part reads from 0.)
            let _ = io::Seek::seek(&mut &file, io::SeekFrom::Start(start));
            if let Some(end) = end {
                self.left = Some(end - start);
                self.meter.expect(end - start);
            } else if let Ok(meta) = file.metadata() {
                self.meter.expect(meta.len().saturating_sub(start));
            }
        } else if let Ok(meta) = file.metadata()
            && meta.is_file()
        {
            self.meter.expect(meta.len());
        }
        self.current = name;
        self.reader.start_input();
        if self.decompress {
            if let Some(format) = decompress::sniff_file(&file) {
                return self.decoded(format, Vec::new(), file, false);
            }
            if !is_regular(file.as_raw_fd()) {
                self.input = Some(Input::Sniff {
                    file,
                    head: Vec::with_capacity(decompress::MAGIC_LEN),
                });
                return Ok(Step::More);
            }
        }
        // Every file is read into the line reader's buffer, never mapped: a file truncated
        // while it is read then gives a read of 0 bytes, and no byte it does not hold can
        // reach a stage (issue 23 item 5). A map read straight by the stages could pass on
        // the zeros of a vanished page, and a map copied batch by batch costs more than
        // read(2) into a buffer that stays in the cache (issue 29 item 3, docs/performance.md).
        let may_block = !is_regular(file.as_raw_fd());
        self.input = Some(Input::Read { file, may_block });
        Ok(Step::More)
    }

    /// Read once from the input and push its whole lines (its last line at its end).
    fn read_once(&mut self, mut file: &File, out: &mut dyn Stage) -> Result<Read> {
        let filled = match self.left {
            Some(left) => self.reader.fill(&mut io::Read::take(file, left), out),
            None => self.reader.fill(&mut file, out),
        };
        self.note_cuts(file);
        let (n, flow) = filled?;
        self.meter.read(n);
        if let Some(left) = &mut self.left {
            *left -= n as u64;
        }
        if flow.is_stop() {
            return Ok(Read::Stop);
        }
        if n == 0 {
            if self.left.is_some_and(|left| left > 0) {
                // The part's bytes are not all there: the file was truncated (noted, so
                // that its later parts are dropped: see `engine::workers::Part::truncated`).
                self.reader.abandon();
                self.meter.note_truncated();
                self.status.soft_error(&Truncated::of(&self.current));
                return Ok(Read::End);
            }
            // A regular file now shorter than what was read of it was truncated while being
            // read: its partial last line is a fragment whose rest is gone, not a line.
            // (Not noted on the meter: what follows in the job is other files, or nothing,
            // not later parts of this one.)
            if let Ok(at) = io::Seek::stream_position(&mut file)
                && file.metadata().is_ok_and(|m| m.is_file() && m.len() < at)
            {
                self.reader.abandon();
                self.status.soft_error(&Truncated::of(&self.current));
                return Ok(Read::End);
            }
            return Ok(if self.reader.finish(out)?.is_stop() {
                Read::Stop
            } else {
                Read::End
            });
        }
        Ok(Read::More)
    }

    /// Report the lines of the current input that `--max-line` cut.
    fn note_cuts(&mut self, file: &File) {
        let cuts = self.reader.take_cuts();
        // (The reader counts from the part's start; the line is numbered in the file.)
        let start = self.part.map_or(0, |(start, _)| start);
        let line_of = |at| place_in(file, start + at);
        if self.part.is_none() {
            note_cuts(cuts, &self.current, self.max_line, &self.meter, line_of);
            return;
        }
        // A part of a file: the warning is the file's, said once for all its parts.
        if cuts.count > 0 {
            self.meter.cut_lines(cuts.count);
        }
        if let Some(w) = cut_warning(cuts, &self.current, self.max_line, line_of) {
            self.meter.hold_cut_warning(w);
        }
    }

    /// Whether a signal arrived (then noted for the exit status).
    fn signalled(&self) -> bool {
        match self.interrupt.pending() {
            Some(sig) => {
                self.status.interrupt(sig);
                true
            }
            None => false,
        }
    }
}

/// What [`Cat::read_once`] came to.
enum Read {
    More,
    Stop,
    End,
}
