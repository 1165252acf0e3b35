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
use std::sync::Arc;

use anyhow::Result;
use clap::{ArgMatches, FromArgMatches, Parser};

use crate::item::{Kind, Origin, Show};
use crate::protocol::def::{Build, BuildCx, Emits, Role, StageDef, Status};
use crate::protocol::task::{Cx, Task, Wait};
use crate::protocol::{Source, Stage};
use crate::runtime::fd::{is_regular, open_without_waiting};
use crate::runtime::map::{SafeMap, SharedMap, Truncated};
use crate::runtime::meter::Meter;
use crate::runtime::signal::{Interrupt, readable_now, report_unfinished, wait_readable};
use crate::source::decompress::{self, Decoder};
use crate::source::reader::{
    Cuts, LineReader, Place, ReadError, count_newlines, note_cuts, place_in, send_capped,
};

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
#[derive(Parser)]
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
    /// each file on its own (`grep` without `-m`, `-c`, `-l`, `-L`, `-q` or context): the
    /// output is the same, in the order of the files. Default: the number of cores; 1 reads
    /// one file after the other in one thread.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: Option<u32>,
}

/// The files a `cat` reads and how many threads may read them, when per-file workers can
/// (see `crate::engine::workers`): at least two files, none standard input, each a regular
/// file or one that cannot be opened (reported in its turn), more than one thread.
pub fn per_file(m: &ArgMatches) -> Option<(Vec<PathBuf>, usize)> {
    let a = Args::from_arg_matches(m).ok()?;
    let threads = a.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n as usize,
    );
    let readable =
        |p: &PathBuf| p.as_os_str() != "-" && std::fs::metadata(p).map_or(true, |m| m.is_file());
    (threads > 1 && a.files.len() > 1 && a.files.iter().all(readable)).then_some((a.files, threads))
}

/// A `cat` of `file` alone, with the options of `m` (a per-file worker's source).
pub fn build_one(
    m: &ArgMatches,
    file: &std::path::Path,
    cx: &BuildCx<'_>,
) -> Result<Box<dyn Source>> {
    // The same options; only the files differ.
    let a = Args::from_arg_matches(m)?;
    Ok(Box::new(Cat {
        files: vec![file.to_path_buf()].into_iter(),
        ..from_args(a, cx)
    }))
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
        copy: Vec::new(),
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
    /// A mapped batch copied out of the map before it is pushed (see [`Cat::push_batch`]).
    copy: Vec<u8>,
}

/// An open input.
enum Input {
    /// A big regular file, pushed from its map a batch at a time.
    Mapped(Arc<SharedMap>, MapAt),
    /// Anything else, read into the line reader; `may_block`: a pipe, FIFO, socket or
    /// terminal, read only when it is readable.
    Read { file: File, may_block: bool },
    /// A pipe or terminal whose first bytes are gathered until they tell whether it is
    /// compressed (see [`decompress`]).
    Sniff { file: File, head: Vec<u8> },
    /// A compressed input, read decompressed.
    Decoded(Box<Decoder>),
}

/// How far a mapped file has been pushed.
#[derive(Default)]
struct MapAt {
    done: usize,
    /// Pages before this were released from the process.
    released: usize,
    /// The rest of a cut line is being dropped.
    skipping: bool,
    /// Lines cut and not yet reported; whether the input's warning was given.
    cuts: Cuts,
    warned: bool,
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
/// tasks run: one mapped batch, or this many bytes read.
const TURN_BYTES: usize = MMAP_BATCH;
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
            copy: Vec::new(),
        }))
    }
}

/// `cat` as a task of the scheduler: a mapped file yields after each batch, a pipe or
/// terminal is read only when readable (never blocking the scheduler), a regular file that
/// is read yields every [`TURN_BYTES`].
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
    /// One step: open the next input, or push one mapped batch, or do one read. The state
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
            Some(Input::Mapped(map, mut at)) => match self.push_noting_cuts(&map, &mut at, out) {
                Ok(Pushed::More) => {
                    self.input = Some(Input::Mapped(map, at));
                    Ok(Step::More)
                }
                Ok(Pushed::Stop) => Ok(Step::Stop),
                Ok(Pushed::End) => Ok(Step::More),
                // The file shrank under the map: what was still there is pushed, the rest
                // is reported (status 2) and the next input read.
                Err(e) if Truncated::is(&e) => {
                    if let Some(e) = map.report_truncation() {
                        self.status.soft_error(&e);
                    }
                    Ok(Step::More)
                }
                Err(e) => Err(e),
            },
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
        if let Ok(meta) = file.metadata()
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
        self.input = Some(match mapped(&file) {
            Some(map) => Input::Mapped(
                Arc::new(SharedMap::new(map, self.current.clone())),
                MapAt::default(),
            ),
            None => {
                let may_block = !is_regular(file.as_raw_fd());
                Input::Read { file, may_block }
            }
        });
        Ok(Step::More)
    }

    /// Read once from the input and push its whole lines (its last line at its end).
    fn read_once(&mut self, mut file: &File, out: &mut dyn Stage) -> Result<Read> {
        let filled = self.reader.fill(&mut file, out);
        self.note_cuts(file);
        let (n, flow) = filled?;
        self.meter.read(n);
        if flow.is_stop() {
            return Ok(Read::Stop);
        }
        if n == 0 {
            // A regular file now shorter than what was read of it was truncated while being
            // read: its partial last line is a fragment whose rest is gone, not a line.
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
        let line_of = |at| place_in(file, at);
        note_cuts(cuts, &self.current, self.max_line, &self.meter, line_of);
    }

    /// [`Cat::push_batch`], then the lines it cut reported, whatever came of it: before an
    /// error of a stage after (`json` on the cut line), as the read path does.
    fn push_noting_cuts(
        &mut self,
        map: &Arc<SharedMap>,
        at: &mut MapAt,
        out: &mut dyn Stage,
    ) -> Result<Pushed> {
        let pushed = self.push_batch(map, at, out);
        if at.cuts.count > 0 {
            self.note_map_cuts(&map.map, at.cuts);
            at.warned |= at.cuts.at.is_some();
            at.cuts = Cuts::default();
        }
        pushed
    }

    /// Report the lines of a mapped input that `--max-line` cut; the line number of the
    /// first cut is counted in the map only now.
    fn note_map_cuts(&self, map: &SafeMap, cuts: Cuts) {
        let line_of = |at: u64| Place::Line(newlines_before(map, at as usize) + 1);
        note_cuts(cuts, &self.current, self.max_line, &self.meter, line_of);
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

    /// Push the next batch of whole lines of a mapped file. Pages already pushed are
    /// released from the process (`MADV_DONTNEED`; they stay in the page cache), so the
    /// resident size stays that of one batch whatever the file size.
    ///
    /// A file that shrinks meanwhile (see [`SafeMap`]) is read up to its new end, then this
    /// fails with [`Truncated`]: each batch is clamped to the size the file has before it is
    /// pushed. Each batch is copied out of the map and checked after the copy, and the copy
    /// is what is pushed: a page that vanishes reads as zeros, and a stage reading the map
    /// itself could pass such zeros on as a line the file never held (issue 23, item 5);
    /// checked after the copy, they never leave the source. Lines longer than
    /// `--max-line` are cut as the read path cuts them (the output never depends on whether
    /// a file was mapped).
    fn push_batch(
        &mut self,
        shared: &Arc<SharedMap>,
        at: &mut MapAt,
        out: &mut dyn Stage,
    ) -> Result<Pushed> {
        const PAGE: usize = 4096;
        let map = &shared.map;
        let max = self.max_line;
        loop {
            let end = map.available();
            let done = at.done;
            if done >= end {
                if done < map.len() {
                    return Err(anyhow::Error::new(Truncated));
                }
                return Ok(Pushed::End);
            }
            // Pages other threads may still read (a parallel tee's branches hold the map)
            // are released a little later: released, they would be faulted in again.
            let lag = if Arc::strong_count(shared) > 1 {
                SHARED_LAG
            } else {
                0
            };
            let upto = done.saturating_sub(lag) / PAGE * PAGE;
            if upto > at.released {
                // SAFETY: no item borrows the pages before `done` but through the shared
                // map, whose pages stay mapped (released pages of a file map are read again
                // from the page cache on the next touch).
                let _ = unsafe {
                    map.map().unchecked_advise_range(
                        memmap2::UncheckedAdvice::DontNeed,
                        at.released,
                        upto - at.released,
                    )
                };
                at.released = upto;
            }
            let rest = &map[done..end];
            if at.skipping {
                let chunk = &rest[..rest.len().min(MMAP_BATCH)];
                let skipped = match memchr::memchr(b'\n', chunk) {
                    Some(i) => {
                        at.skipping = false;
                        i + 1
                    }
                    None => chunk.len(),
                };
                at.done += skipped;
                self.meter.read(skipped);
                continue;
            }
            let cut = if rest.len() <= MMAP_BATCH {
                rest.len()
            } else {
                match memchr::memrchr(b'\n', &rest[..MMAP_BATCH]) {
                    Some(i) => i + 1,
                    // One line longer than a batch: whole if it fits in `--max-line`.
                    None => {
                        let reach = rest.len().min(max.saturating_add(1));
                        match memchr::memchr(b'\n', &rest[MMAP_BATCH.min(reach)..reach]) {
                            Some(i) => MMAP_BATCH.min(reach) + i + 1,
                            None if reach == rest.len() => rest.len(),
                            // Longer: its first `max` bytes, the rest dropped.
                            None => {
                                self.copy.clear();
                                self.copy.extend_from_slice(&rest[..max]);
                                if !map.intact(done + max) {
                                    return Err(anyhow::Error::new(Truncated));
                                }
                                if at.cuts.count == 0 && !at.warned {
                                    at.cuts.at = Some(done as u64);
                                }
                                at.cuts.count += 1;
                                self.meter.read(max);
                                at.done += max;
                                at.skipping = true;
                                if out.send_lines(&self.copy)?.is_stop() {
                                    return Ok(Pushed::Stop);
                                }
                                return Ok(Pushed::More);
                            }
                        }
                    }
                }
            };
            // Copied, then checked: only bytes the file held are pushed.
            self.copy.clear();
            self.copy.extend_from_slice(&rest[..cut]);
            if !map.intact(done + cut) {
                return Err(anyhow::Error::new(Truncated));
            }
            self.meter.read(cut);
            let batch = &self.copy[..];
            let flow = if batch.len() > max {
                let base = (at.cuts.count == 0 && !at.warned).then_some(done as u64);
                send_capped(batch, max, base, &mut at.cuts, out)?
            } else {
                out.send_lines(batch)?
            };
            if flow.is_stop() {
                return Ok(Pushed::Stop);
            }
            at.done += cut;
            return Ok(Pushed::More);
        }
    }
}

/// What [`Cat::push_batch`] came to.
enum Pushed {
    More,
    Stop,
    End,
}

/// What [`Cat::read_once`] came to.
enum Read {
    More,
    Stop,
    End,
}

/// The newlines of the map before `at`, counted in steps whose pages are released after
/// them (the resident size stays small even at the end of a huge file).
fn newlines_before(map: &SafeMap, at: usize) -> u64 {
    const STEP: usize = 8 << 20;
    let mut n = 0;
    let mut from = 0;
    while from < at {
        let to = at.min(from + STEP);
        n += count_newlines(&map[from..to]);
        // SAFETY: nothing borrows these pages any more (the batches were pushed).
        let _ = unsafe {
            map.map()
                .unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, from, to - from)
        };
        from = to;
    }
    n
}

/// Regular files of at least this size are memory-mapped instead of read (ripgrep does the
/// same for single files): no copy from the page cache into a buffer.
const MMAP_MIN: u64 = 4 << 20;

/// The size of the batches pushed from a mapped file: big enough that per-batch costs
/// vanish, small enough that `head` stops the source within a few MB.
const MMAP_BATCH: usize = 1 << 20;

/// How far behind the batch being pushed the pages of a map are released while other
/// threads hold it (a `tee --parallel`: a few batches queued per branch).
const SHARED_LAG: usize = 8 * MMAP_BATCH;

/// Map a big regular file, or `None` to read it normally.
/// A file not read from its start (standard input redirected from a file that a command
/// before copipe has partly read: `(read first; copipe cat) < big.log`) is read from where
/// it stands, not mapped.
fn mapped(f: &File) -> Option<SafeMap> {
    let meta = f.metadata().ok()?;
    if !meta.is_file() || meta.len() < MMAP_MIN {
        return None;
    }
    // SAFETY: lseek on a descriptor that `f` owns; SEEK_CUR with 0 moves nothing.
    if unsafe { libc::lseek(f.as_raw_fd(), 0, libc::SEEK_CUR) } != 0 {
        return None;
    }
    SafeMap::new(f)
}
