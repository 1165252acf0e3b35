//! What the source has read: the bytes of `--stats` and of the progress bar.
//!
//! Sources call [`Meter::read`] after every read with the number of bytes it returned (for a
//! memory-mapped file, after every pushed batch), and [`Meter::expect`] when they learn the
//! size of what they are about to read (a regular file), so that a progress bar can show how
//! much is left. Cloning a `Meter` shares it.
//!
//! The progress bar (`Meter::with_progress`, chosen by the command line only when standard
//! error is a terminal and standard output is not) appears once a read of regular files has
//! lasted half a second, on standard error, and is erased at the end: short runs never show
//! it, and it never mixes with the data.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long a read must last before the progress bar appears.
const PROGRESS_AFTER: Duration = Duration::from_millis(500);

#[derive(Clone, Default, Debug)]
pub struct Meter(Rc<Inner>);

#[derive(Default, Debug)]
struct Inner {
    bytes: Cell<u64>,
    expected: Cell<u64>,
    /// A source that parsed its input in parts on several threads: the threads, the parts
    /// taken as the threads parsed them, and the parts parsed again in order.
    parts: Cell<Option<Parts>>,
    /// `cat` on the per-file workers: how its files were read (see [`ReadBy`]).
    read_by: Cell<Option<ReadBy>>,
    /// Lines cut by `--max-line`.
    cut: Cell<u64>,
    /// The warning about the first line cut in a part of a file, held for the main thread,
    /// which says it unless an earlier part of the file had one (see `engine::workers`).
    cut_warning: RefCell<Option<String>>,
    /// A part of a file (read by a per-file worker) found the file truncated: the main
    /// thread drops the file's later parts (see `engine::workers`). Not noted for a whole
    /// file, which may be followed by other files in the same job.
    truncated: Cell<bool>,
    /// `listen udp://`: datagrams the kernel dropped (its receive buffer was full).
    dropped: Cell<u64>,
    /// `follow`: files followed now, discovered by its globs, closed (see [`FileCounts`]).
    files: Cell<Option<FileCounts>>,
    /// Compressed inputs read decompressed, by format (see [`Decompressed`]).
    decompressed: RefCell<Vec<Decompressed>>,
    progress: Option<RefCell<Progress>>,
}

/// The compressed inputs of one format that a source read decompressed (shown by
/// `--stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Decompressed {
    /// `gzip`, `zstd`, `xz`, `bzip2`.
    pub format: &'static str,
    pub files: u64,
    /// Compressed bytes read, and the bytes they decompressed to.
    pub compressed: u64,
    pub bytes: u64,
}

/// How an input was parsed in parts (see [`Meter::parts`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Parts {
    pub threads: usize,
    pub parallel: u64,
    pub again: u64,
}

/// How `cat` read its files on the per-file workers (shown by `--stats`): the threads, and
/// the big files read in parts and how many parts they made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadBy {
    pub threads: usize,
    pub split_files: u64,
    pub parts: u64,
}

/// What `follow` did with its files (shown by `--stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileCounts {
    /// Open now (being followed).
    pub followed: u64,
    /// Found by a glob after the start.
    pub discovered: u64,
    /// Read to their end and closed (removed, or renamed out of the globs).
    pub closed: u64,
    /// Closed while quiet for want of descriptors, to be reopened when they grow.
    pub parked: u64,
    /// Parked files reopened (they grew, or were rotated).
    pub reopened: u64,
}

#[derive(Debug)]
struct Progress {
    started: Instant,
    bar: Option<ProgressBar>,
}

impl Meter {
    /// A meter that shows a progress bar on standard error for long reads.
    pub fn with_progress() -> Self {
        Meter(Rc::new(Inner {
            progress: Some(RefCell::new(Progress {
                started: Instant::now(),
                bar: None,
            })),
            ..Inner::default()
        }))
    }

    /// `n` more bytes were read.
    pub fn read(&self, n: usize) {
        let bytes = self.0.bytes.get() + n as u64;
        self.0.bytes.set(bytes);
        if let Some(p) = &self.0.progress {
            p.borrow_mut().show(bytes, self.0.expected.get());
        }
    }

    /// The run is over: erase the progress bar.
    pub fn finish(&self) {
        if let Some(p) = &self.0.progress
            && let Some(bar) = p.borrow_mut().bar.take()
        {
            bar.finish_and_clear();
        }
    }

    /// `n` more bytes are known to be coming (the size of a regular file about to be read).
    pub fn expect(&self, n: u64) {
        self.0.expected.set(self.0.expected.get() + n);
    }

    /// The bytes read so far.
    pub fn bytes(&self) -> u64 {
        self.0.bytes.get()
    }

    /// `n` more lines were cut by `--max-line` (shown by `--stats`).
    pub fn cut_lines(&self, n: u64) {
        self.0.cut.set(self.0.cut.get() + n);
    }

    /// Hold the warning about a line cut in a part of a file (the first one held is kept).
    pub fn hold_cut_warning(&self, warning: String) {
        self.0.cut_warning.borrow_mut().get_or_insert(warning);
    }

    /// The warning held by [`Meter::hold_cut_warning`], taken.
    pub fn take_cut_warning(&self) -> Option<String> {
        self.0.cut_warning.borrow_mut().take()
    }

    /// Note that the input was found truncated while it was read.
    pub fn note_truncated(&self) {
        self.0.truncated.set(true);
    }

    /// Whether the input was found truncated since the last time this was asked.
    pub fn take_truncated(&self) -> bool {
        self.0.truncated.replace(false)
    }

    /// The lines cut by `--max-line` so far.
    pub fn lines_cut(&self) -> u64 {
        self.0.cut.get()
    }

    /// `n` more datagrams were dropped by the kernel before copipe read them (shown by
    /// `--stats`).
    pub fn drop_datagrams(&self, n: u64) {
        self.0.dropped.set(self.0.dropped.get() + n);
    }

    /// The datagrams the kernel dropped so far.
    pub fn datagrams_dropped(&self) -> u64 {
        self.0.dropped.get()
    }

    /// Note how the input was parsed in parts (shown by `--stats`).
    pub fn set_parts(&self, parts: Parts) {
        self.0.parts.set(Some(parts));
    }

    pub fn parts(&self) -> Option<Parts> {
        self.0.parts.get()
    }

    /// Note how `cat` read its files on the workers (shown by `--stats`).
    pub fn set_read_by(&self, read_by: ReadBy) {
        self.0.read_by.set(Some(read_by));
    }

    pub fn read_by(&self) -> Option<ReadBy> {
        self.0.read_by.get()
    }

    /// Note what `follow` did with its files (shown by `--stats`).
    pub fn set_files(&self, files: FileCounts) {
        self.0.files.set(Some(files));
    }

    pub fn files(&self) -> Option<FileCounts> {
        self.0.files.get()
    }

    /// One more input of `format` is being read decompressed.
    pub fn decompressing(&self, format: &'static str) {
        self.with_format(format, |d| d.files += 1);
    }

    /// An input of `format` was read: `compressed` bytes that gave `bytes`.
    pub fn decompressed(&self, format: &'static str, compressed: u64, bytes: u64) {
        self.with_format(format, |d| {
            d.compressed += compressed;
            d.bytes += bytes;
        });
    }

    fn with_format(&self, format: &'static str, f: impl FnOnce(&mut Decompressed)) {
        let mut all = self.0.decompressed.borrow_mut();
        let i = match all.iter().position(|d| d.format == format) {
            Some(i) => i,
            None => {
                all.push(Decompressed {
                    format,
                    ..Decompressed::default()
                });
                all.len() - 1
            }
        };
        f(&mut all[i]);
    }

    /// The compressed inputs read decompressed so far, by format.
    pub fn decompressions(&self) -> Vec<Decompressed> {
        self.0.decompressed.borrow().clone()
    }

    /// The bytes announced with [`Meter::expect`] so far.
    pub fn expected(&self) -> u64 {
        self.0.expected.get()
    }
}

impl Progress {
    fn show(&mut self, bytes: u64, expected: u64) {
        if self.bar.is_none() {
            if expected == 0 || self.started.elapsed() < PROGRESS_AFTER {
                return;
            }
            let bar = ProgressBar::with_draw_target(Some(expected), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}",
                )
                .expect("the template is valid"),
            );
            self.bar = Some(bar);
        }
        if let Some(bar) = &self.bar {
            bar.set_length(expected.max(bytes));
            bar.set_position(bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_count() {
        let m = Meter::default();
        let c = m.clone();
        c.expect(10);
        c.read(4);
        m.read(3);
        assert_eq!((m.bytes(), m.expected()), (7, 10));
    }
}
