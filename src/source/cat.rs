//! `cat [FILE|-]...` — read files in order (`-` or no file: standard input) and emit their
//! lines. Each file's unterminated last line is still a line (but not a fragment held when a
//! signal stops the reading: that is said on stderr, not pushed). A file that cannot be opened
//! or read is reported and skipped (exit status 2 at the end), as grep does. When reading from a
//! pipe or terminal would block, downstream output is flushed first, so
//! `tail -f log | copipe grep x` shows matches at once.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;

use anyhow::Result;
use clap::{ArgMatches, FromArgMatches, Parser};

use crate::item::{Kind, Origin, Show};
use crate::runtime::meter::Meter;
use crate::runtime::signal::{Interrupt, readable_now, report_unfinished, wait_readable};
use crate::source::map::{SafeMap, Truncated};
use crate::source::reader::{
    Cuts, LineReader, Place, ReadError, count_newlines, note_cuts, place_in, send_capped,
};
use crate::stage::def::{Build, BuildCx, Emits, Role, StageDef, Status};
use crate::stage::{Source, Stage};

/// Read files in order and emit their lines (`-` or no file: standard input).
///
/// Lines are bytes: invalid UTF-8 passes through untouched, a `\r` before the newline is
/// kept (see the global `--crlf`), and a last line without a newline is still a line.
/// Ctrl-C or SIGTERM in the middle of a line (a pipe that has not sent its newline yet)
/// does not make the fragment a line: stderr says how many bytes were left unfinished.
/// `cat` is the implicit source of a pipeline that starts with a filter. A file truncated
/// by another process while it is read (logrotate's copytruncate) is read up to its new
/// end, then reported as `FILE: file truncated while being read` (exit status 2).
#[derive(Parser)]
#[command(name = "cat", disable_version_flag = true)]
pub struct Args {
    /// Files to read; `-` is standard input.
    pub files: Vec<PathBuf>,
    /// Show each line's file name: `name:line` from `print`, `write` and `exec` (as
    /// `grep -H`), a `file` field in the records made by `json`.
    #[arg(short = 'H', long)]
    pub tag: bool,
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
    ],
    command: <Args as clap::CommandFactory>::command,
    build: Build::Source(build),
};

fn build(m: &ArgMatches, cx: &BuildCx<'_>) -> Result<Box<dyn Source>> {
    let a = Args::from_arg_matches(m)?;
    let files = if a.files.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        a.files
    };
    Ok(Box::new(Cat {
        files,
        tag: a.tag,
        meter: cx.meter.clone(),
        interrupt: cx.interrupt.clone(),
        reader: LineReader::default().max_line(cx.opts.max_line()),
        max_line: cx.opts.max_line(),
        current: String::new(),
        status: cx.status.clone(),
    }))
}

struct Cat {
    files: Vec<PathBuf>,
    tag: bool,
    meter: Meter,
    interrupt: Interrupt,
    reader: LineReader,
    /// `--max-line`.
    max_line: usize,
    /// The name of the input being read, for the warning about cut lines.
    current: String,
    status: Status,
}

impl Source for Cat {
    fn run(&mut self, out: &mut dyn Stage) -> Result<()> {
        for path in std::mem::take(&mut self.files) {
            let stdin = path.as_os_str() == "-";
            let name = if stdin {
                "standard input".to_string()
            } else {
                path.display().to_string()
            };
            out.origin(Origin {
                name: &name,
                show: if self.tag { Show::Tag } else { Show::Hidden },
            })?;
            let opened = if stdin {
                io::stdin().as_fd().try_clone_to_owned().map(File::from)
            } else {
                File::open(&path)
            };
            let file = match opened {
                Ok(f) => f,
                Err(e) => {
                    self.status
                        .soft_error(&anyhow::Error::new(e).context(format!("cannot read {name}")));
                    continue;
                }
            };
            if let Ok(meta) = file.metadata()
                && meta.is_file()
            {
                self.meter.expect(meta.len());
            }
            self.current = name.clone();
            self.reader.start_input();
            let stop = match mapped(&file) {
                Some(map) => match self.push_mapped(&map, out) {
                    Ok(stop) => stop,
                    // The file shrank under the map: what was still there is pushed, the
                    // rest is reported (status 2) and the next input read.
                    Err(e) if Truncated::is(&e) => {
                        self.status.soft_error(&Truncated::of(&name));
                        continue;
                    }
                    Err(e) => return Err(e),
                },
                None => match self.read_one(&file, &name, out) {
                    Ok(stop) => stop,
                    // A failed read is this input's problem, as a failed open is: reported,
                    // what was read of it kept, and the next input read (status 2 at the
                    // end, as grep does). A stage's error is its own and ends the run.
                    Err(e) if ReadError::is(&e) => {
                        self.status
                            .soft_error(&e.context(format!("error reading {name}")));
                        if self.reader.finish(out)?.is_stop() {
                            return Ok(());
                        }
                        continue;
                    }
                    Err(e) => return Err(e),
                },
            };
            if stop {
                return Ok(());
            }
        }
        Ok(())
    }
}

impl Cat {
    /// Read one input to its end; `true` when reading must stop (downstream stopped, or a
    /// signal arrived).
    fn read_one(&mut self, mut file: &File, name: &str, out: &mut dyn Stage) -> Result<bool> {
        let fd = file.as_raw_fd();
        let may_block = !is_regular(fd);
        loop {
            if self.interrupted() {
                // Not the end of the input: the partial line held is a fragment of a line
                // whose rest was never read, not a line. Said, not pushed.
                report_unfinished(self.reader.abandon(), name);
                return Ok(true);
            }
            if may_block && !readable_now(fd) {
                // Make what was pushed visible before sleeping on the input.
                out.flush()?;
                if !wait_readable(fd, &self.interrupt)? {
                    continue;
                }
            }
            let filled = self.reader.fill(&mut file, out);
            self.note_cuts(file);
            let (n, flow) = filled?;
            self.meter.read(n);
            if flow.is_stop() {
                return Ok(true);
            }
            if n == 0 {
                return Ok(self.reader.finish(out)?.is_stop());
            }
        }
    }

    /// Report the lines of the current input that `--max-line` cut.
    fn note_cuts(&mut self, file: &File) {
        let cuts = self.reader.take_cuts();
        let line_of = |at| place_in(file, at);
        note_cuts(cuts, &self.current, self.max_line, &self.meter, line_of);
    }

    /// Whether a signal arrived (then noted for the exit status).
    fn interrupted(&self) -> bool {
        match self.interrupt.pending() {
            Some(sig) => {
                self.status.interrupt(sig);
                true
            }
            None => false,
        }
    }

    /// Push a mapped file as batches of whole lines; `true` when reading must stop. Pages
    /// already pushed are released from the process (`MADV_DONTNEED`; they stay in the page
    /// cache), so the resident size stays that of one batch whatever the file size.
    ///
    /// A file that shrinks meanwhile (see [`SafeMap`]) is read up to its new end, then this
    /// fails with [`Truncated`]: each batch is clamped to the size the file has before it is
    /// pushed, and checked after. A batch being pushed at the very moment of the truncation
    /// may carry NUL bytes in place of the vanished ones; a sink that writes it straight
    /// from the map fails with `EFAULT`, which is the same truncation.
    fn push_mapped(&self, map: &SafeMap, out: &mut dyn Stage) -> Result<bool> {
        let mut cuts = Cuts::default();
        let r = self.push_mapped_capped(map, &mut cuts, out);
        // The line number of the first cut, counted in the map only now.
        let line_of = |at: u64| Place::Line(newlines_before(map, at as usize) + 1);
        note_cuts(cuts, &self.current, self.max_line, &self.meter, line_of);
        r
    }

    /// [`Cat::push_mapped`], lines longer than `--max-line` cut as the read path cuts them
    /// (the output never depends on whether a file was mapped). The first cut's line
    /// number is counted from the map only then.
    fn push_mapped_capped(
        &self,
        map: &SafeMap,
        cuts: &mut Cuts,
        out: &mut dyn Stage,
    ) -> Result<bool> {
        const PAGE: usize = 4096;
        let max = self.max_line;
        let mut done = 0;
        let mut released = 0;
        // The rest of a cut line is being dropped.
        let mut skipping = false;
        loop {
            if self.interrupted() {
                return Ok(true);
            }
            let end = map.available();
            if done >= end {
                break;
            }
            let upto = done / PAGE * PAGE;
            if upto > released {
                // SAFETY: no item borrows the pages before `done`: stages only borrow a
                // batch for the duration of the call that pushed it.
                let _ = unsafe {
                    map.map().unchecked_advise_range(
                        memmap2::UncheckedAdvice::DontNeed,
                        released,
                        upto - released,
                    )
                };
                released = upto;
            }
            let rest = &map[done..end];
            if skipping {
                let chunk = &rest[..rest.len().min(MMAP_BATCH)];
                let skipped = match memchr::memchr(b'\n', chunk) {
                    Some(i) => {
                        skipping = false;
                        i + 1
                    }
                    None => chunk.len(),
                };
                done += skipped;
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
                                if !map.intact(done + max) {
                                    return Err(anyhow::Error::new(Truncated));
                                }
                                if cuts.count == 0 {
                                    cuts.at = Some(done as u64);
                                }
                                cuts.count += 1;
                                self.meter.read(max);
                                if out.send_lines(&rest[..max])?.is_stop() {
                                    return Ok(true);
                                }
                                done += max;
                                skipping = true;
                                continue;
                            }
                        }
                    }
                }
            };
            // Finding the cut read the batch: were those still the file's bytes?
            if !map.intact(done + cut) {
                return Err(anyhow::Error::new(Truncated));
            }
            self.meter.read(cut);
            let batch = &rest[..cut];
            let sent = if batch.len() > max {
                let base = (cuts.count == 0).then_some(done as u64);
                send_capped(batch, max, base, cuts, out)
            } else {
                out.send_lines(batch)
            };
            let flow = match sent {
                Ok(flow) => flow,
                Err(e) if Truncated::is_efault(&e) && !map.intact(done + cut) => {
                    return Err(anyhow::Error::new(Truncated));
                }
                Err(e) => return Err(e),
            };
            if !map.intact(done + cut) {
                return Err(anyhow::Error::new(Truncated));
            }
            if flow.is_stop() {
                return Ok(true);
            }
            done += cut;
        }
        if done < map.len() {
            return Err(anyhow::Error::new(Truncated));
        }
        Ok(false)
    }
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

fn is_regular(fd: i32) -> bool {
    // SAFETY: fstat writes into a zeroed stat buffer of the right type.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    unsafe { libc::fstat(fd, &mut st) == 0 && (st.st_mode & libc::S_IFMT) == libc::S_IFREG }
}
