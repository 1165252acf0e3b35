//! `follow FILE...` — `tail -F`: emit the last lines of each file (`-n`), then every line
//! appended to it, following the *name* through rotation, truncation, deletion and
//! re-creation, and waiting for names that do not exist yet.
//!
//! Accepts nothing (a source); emits lines. Invariants:
//!
//! * every line appended to a followed name is emitted once, in order, whole: a partial
//!   last line is held until its newline arrives, and is emitted as it is when its file is
//!   rotated away, truncated, removed, or when the follow ends (signal, `--pid`, end of
//!   standard input);
//! * rotation by rename: the old file is read to its end before the new one is read from
//!   its start; truncation (copytruncate) is announced on stderr and read from the start;
//! * each input's [`Origin`] is sent just before its first line after another input's
//!   (never for an input with nothing new), with `Show::Hidden` under `-q` or for one file;
//! * lines travel as whole-buffer batches; output is flushed only when the source is about
//!   to wait (see [`Stage::flush`]), never per line;
//! * the source sleeps in one `poll` (see [`wait`]) woken by file-system notifications, a
//!   signal, standard output's reader going away, the `--pid` process exiting, a readable
//!   pipe, or a timeout (the `--poll` interval, or a once-a-second safety check of every
//!   name); there is no busy loop.
//!
//! Problems with one name (permission denied, a directory) are reported once (exit status 2
//! at the end) and the other names go on being followed; a name that cannot be opened, or
//! that is a directory, is retried on every check.

#[cfg(target_os = "linux")]
mod archive;
pub mod data;
pub mod glob;
pub mod rotated;
pub mod start;
pub mod state;
pub mod wait;

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Seek, SeekFrom};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{ArgMatches, FromArgMatches, Parser};

use crate::item::{Kind, Origin, Show};
use crate::protocol::def::{Build, BuildCx, Emits, Role, StageDef, Status};
use crate::protocol::{Flow, Source, Stage};
use crate::runtime::meter::{FileCounts, Meter};
use crate::runtime::signal::{Interrupt, readable_now, report_unfinished};
use crate::source::reader::{Held, LineReader, Place, ReadError, note_cuts};

use glob::{Found, Globs, Pattern};
use start::{Feed, Start, last_lines_offset};
use state::{Saved, fingerprint};
use wait::{NAMES, Waiter};

const LONG_ABOUT: &str = "\
Follow files as `tail -F` does: show the last lines of each (-n), then every line appended.

The name is followed, not the open file: when a log is rotated (renamed, then created
again) the old file is read to its end and the new one from its start, and the old one is
read on until it has been quiet for --rotate-wait (the logger writes to it until it reopens
its log); a file truncated in place (copytruncate) is read again from its start, with a note
on stderr — told by a smaller size, or by first bytes (up to 256) other than before, so a
truncation followed at once by a longer write is seen too — and what had not been read yet
is read first from its rotated copy (`app.log.1`, `app.log-20261207`: the sibling that begins
with the same bytes and reaches that far), if there is one; a file that is removed, or that does not exist yet (even in a
directory that does not exist yet), is waited for. A name that cannot be opened, or that is a
directory, is reported once and tried again at every check. When descriptors run out
(copipe first raises its soft limit on open files to the hard one), the regular files that
grew least recently are closed (\"parked\", said once on stderr, counted by `--stats`) and
reopened where they were when they grow (seen at the once-a-second check), known by device,
inode and first bytes: one rotated meanwhile is found in its directory and its rest read
first, so nothing written meanwhile is lost or read twice; pipes and FIFOs are never
closed. Only names that still cannot be opened are counted in one message and tried again
every second. A partial last line is held back until its
newline arrives (or its file goes away, or the follow ends with `--pid` or at the end of
standard input).

A name with `*`, `?`, `[` or `{` is a glob (quote it), expanded by copipe itself: `*`
within one directory, `**` across any number of them (`'svc/**/app-*.log'`); `--exclude
GLOB` leaves files out. A glob follows files, not names: `-n` applies to the files there at
start, a file that appears later is read from its first line (seen within a second: the
directories a glob can match in are watched), a file renamed to a name a glob also matches
(a rotated `app.log.1`) goes on where it was and is not read again, a file renamed out of
the globs is read on until quiet for --rotate-wait, and a removed file is read to its end
and closed. `--stats` counts the files
followed, discovered and closed (and parked and reopened, if descriptors ran out).

`--state FILE` keeps a checkpoint of each file (device, inode, a fingerprint of its first
bytes, and the offset after the last line written and flushed), written atomically at most
every 250 ms and at the end. Started again with the same FILE, each file goes on from there
instead of -n: after a clean stop every line comes exactly once; after kill -9, no line is
lost and only lines after the last checkpoint (at most 250 ms' worth, and the batch in
flight) come twice. A file rotated meanwhile is found by identity (among the globs, or in
its directory) and its rest read first; one truncated or with other first bytes has the rest
of its old content read first from its rotated copy, if one is found (else the note says
from which byte it could not be recovered), then it from its start; a missing, empty or
corrupt FILE is said, and copipe starts as without it. FILE is locked while copipe runs
(`.FILE.lock` beside it): a second copipe with the same FILE is refused, naming the pid.
With stages that hold lines back until a deadline (`multiline`'s open event, `count
--every`'s interval), a checkpoint is taken only while none holds any, so it never counts
lines they have not sent on; the last one is written once the pipeline has been closed.

File-system notifications (inotify) wake copipe at once; every name is also checked once a
second. When the inotify watches run out (`fs.inotify.max_user_watches`), that is
said once and the files beyond the limit are checked every second; the others keep theirs. `--poll MS` checks every MS milliseconds instead, for file systems without
notifications (NFS, some containers).

Output is flushed whenever copipe waits for more input, so matches show up at once; under
load it stays block-buffered. `-` is standard input, read until its end; a FIFO is followed
across writers. With several files, a `==> name <==` header shows where the following lines
come from (`-q`: never; `-v`: even for one file); `--tag` puts `name:` in front of every line
instead (a `file` field in the records made by `json`).

Ctrl-C ends a follow with exit status 130 and SIGTERM with 0 (2 if an error was reported),
after flushing every output; a second Ctrl-C kills at once. A partial line held then is not
emitted (its newline was never written): stderr says how many bytes of it were left.
A closed output pipe ends it quietly with 0 even when no line arrives (checked whenever
standard output is a pipe, as GNU tail does). `--pid PID` ends it once PID has exited and
what it wrote has been read.";

/// Follow files as `tail -F` does: the last lines, then every appended line.
#[derive(Parser)]
#[command(name = "follow", disable_version_flag = true, long_about = LONG_ABOUT)]
pub struct Args {
    /// Files to follow; `-` is standard input. A name with `*`, `?`, `[` or `{` is a glob
    /// (quote it), expanded by copipe: `*` within a directory, `**` across directories.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Leave out the files a glob finds whose path, or file name, matches GLOB
    /// (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Start with the last N lines of each file (0: only new lines); `+K` starts at line K
    /// (`+1`: the whole file).
    #[arg(
        short = 'n',
        long,
        value_name = "[+]N",
        default_value = "10",
        allow_hyphen_values = true,
        value_parser = Start::parse
    )]
    pub lines: Start,
    /// Put the file name in front of every line (`name:line`, as `grep -H`); records made
    /// by `json` get a `file` field.
    #[arg(short = 'H', long)]
    pub tag: bool,
    /// Never show `==> name <==` headers.
    #[arg(
        short = 'q',
        long,
        visible_alias = "silent",
        conflicts_with = "verbose"
    )]
    pub quiet: bool,
    /// Show headers even when following one file.
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Stop once process PID has exited and everything it wrote has been read.
    #[arg(long, value_name = "PID", value_parser = clap::value_parser!(i32).range(1..))]
    pub pid: Option<i32>,
    /// Keep a checkpoint in FILE: where each file was read up to (the lines written and
    /// flushed), at most every 250 ms and at the end; started again with the same FILE,
    /// copipe goes on from there instead of from -n.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// A file a glob found that is renamed out of the globs (logrotate's rename) is read on
    /// until it has been quiet this long (or is removed): the writer may go on writing to it
    /// until it reopens its log.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "5s",
        value_parser = crate::sink::count::every::parse_duration
    )]
    pub rotate_wait: Duration,
    /// Check the files every MS milliseconds instead of using file-system notifications.
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    pub poll: Option<u64>,
}

pub const DEF: StageDef = StageDef {
    name: "follow",
    aliases: &[],
    role: Role::Source,
    summary: "like tail -F: the last lines, then appended ones, across rotations",
    accepts: &[],
    emits: Emits::Kind(Kind::Line),
    examples: &[
        "copipe follow /var/log/app.log : grep -i error",
        "copipe follow -n 0 --tag a.log b.log : grep -w ERROR : write errors.log",
        "copipe follow --pid 4242 build.log | grep -m1 FAILED",
        "copipe follow --tag '/var/log/**/*.log' --exclude '*.gz' : grep -w ERROR",
    ],
    command: <Args as clap::CommandFactory>::command,
    fusion: None,
    build: Build::Source(build),
};

fn build(m: &ArgMatches, cx: &BuildCx<'_>) -> Result<Box<dyn Source>> {
    let a = Args::from_arg_matches(m)?;
    let mut files = Vec::new();
    let mut patterns = Vec::new();
    for p in &a.files {
        let text = p.to_string_lossy();
        if text != "-" && glob::is_glob(&text) {
            patterns.push(Pattern::new(&text)?);
        } else {
            files.push(Followed::new(p, a.lines.skip())?);
        }
    }
    let globs = if patterns.is_empty() {
        None
    } else {
        Some(Globs::new(patterns, &a.exclude)?)
    };
    let show = if a.tag {
        Show::Tag
    } else if !a.quiet && (a.verbose || a.files.len() > 1 || globs.is_some()) {
        Show::Header
    } else {
        Show::Hidden
    };
    Ok(Box::new(Follow {
        files,
        globs,
        glob_watches: Vec::new(),
        found: Vec::new(),
        free: Vec::new(),
        counts: FileCounts::default(),
        reserve: None,
        checkpoint: match a.state {
            Some(path) => Some(Checkpoint::new(path)?),
            None => None,
        },
        start: a.lines,
        show,
        pid: a.pid,
        poll: a.poll.map(Duration::from_millis),
        reader: LineReader::default().max_line(cx.opts.max_line()),
        max_line: cx.opts.max_line(),
        holder: None,
        announced: None,
        meter: cx.meter.clone(),
        interrupt: cx.interrupt.clone(),
        status: cx.status.clone(),
        streams: Vec::new(),
        regular: Vec::new(),
        files_watched: false,
        recheck: false,
        out_of_fds: false,
        said_starved: false,
        said_parked: false,
        timers: cx.timers.clone(),
        ended: false,
        archives: Default::default(),
        rotate_wait: a.rotate_wait,
    }))
}

/// `--state`: the state read at start, and when it was last written.
struct Checkpoint {
    path: PathBuf,
    /// The files of the state read at start (`None`: none, or unusable), by identity, and
    /// whether a file open at start took each up.
    saved: Option<Resume>,
    written: Instant,
    /// A hash of what was last written: nothing is written while nothing moved.
    signature: u64,
    /// The hash of the checkpoint taken last (written or not yet).
    taken: u64,
    /// How much earlier than a second after the last one a checkpoint may be taken: on the
    /// scheduler, checkpoints are taken right after a `count --every` interval printed,
    /// whose ticks come a second apart give or take a few milliseconds.
    slack: Duration,
    /// Scratch for the entries written.
    entries: Vec<Saved>,
    /// Writing failed and was reported (once).
    said_failure: bool,
    /// Behind asynchronous sinks (`publish --jetstream`): the checkpoints waiting for their
    /// confirmation.
    unconfirmed: state::Unconfirmed,
    /// The state's lock (see [`state::lock`]), held while the follow lives.
    _lock: File,
    /// Files open at start whose old content (truncated, or its inode reused while copipe
    /// was stopped) was found in a rotated copy: its rest is read first.
    recover: Vec<(usize, rotated::Found)>,
}

/// The files of a state read at start, by identity, and whether a file open at start
/// took each up.
type Resume = (
    Vec<Saved>,
    std::collections::HashMap<(u64, u64), usize>,
    Vec<bool>,
);

/// How often the state is written at most.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// When a stage held items back at a checkpoint: how soon it is tried again.
const HELD_RETRY: Duration = Duration::from_millis(100);

impl Checkpoint {
    fn new(path: PathBuf) -> Result<Checkpoint> {
        let lock = state::lock(&path)?;
        Ok(Checkpoint {
            _lock: lock,
            path,
            saved: None,
            // The first checkpoint as soon as something moved.
            written: Instant::now()
                .checked_sub(CHECKPOINT_EVERY)
                .unwrap_or_else(Instant::now),
            signature: 0,
            taken: 0,
            slack: Duration::ZERO,
            entries: Vec::new(),
            said_failure: false,
            unconfirmed: state::Unconfirmed::default(),
            recover: Vec::new(),
        })
    }

    /// Read the state: a missing, empty, corrupt or other-version state is said, and the
    /// follow starts as without one.
    fn load(&mut self) {
        let shown = self.path.display();
        match state::load(&self.path) {
            Ok(Some(saved)) => {
                let by_id = saved.iter().enumerate().map(|(k, s)| (s.id, k)).collect();
                let used = vec![false; saved.len()];
                self.saved = Some((saved, by_id, used));
            }
            Ok(None) => note(format_args!(
                "state {shown} does not exist yet; starting as -n says, and keeping it from now on"
            )),
            Err(e) => note(format_args!(
                "cannot use state {shown}: {e:#}; starting as -n says, and writing a new one"
            )),
        }
    }
}

/// Reads of one input per round before the others get their turn (16 MiB with the
/// reader's 256 KiB buffer): a busy file does not starve the others.
const READS_PER_ROUND: usize = 64;

/// One followed name.
struct Followed {
    /// As the user wrote it (`standard input` for `-`): messages and origins.
    name: String,
    path: PathBuf,
    /// The absolute directory the name lives in (what is watched).
    dir: PathBuf,
    stdin: bool,
    state: State,
    /// The partial last line while the shared reader serves another input.
    partial: Held,
    /// Lines still to drop (`-n +K`), for the file open at start only.
    skip: u64,
    /// The directory watched for this name (its own, or its nearest existing ancestor).
    watched: Option<PathBuf>,
    /// That the name is a directory (or something else that cannot be followed) was said:
    /// not again until a file has been followed there.
    said_unfollowable: bool,
    /// Found by a glob: the file is followed (by its identity, across renames within the
    /// globs), not the name; read to its end and closed once no glob finds it.
    found: bool,
    /// Its own watch told of an append, or it had more to read: read in the next round.
    poke: bool,
    /// Found by a glob, then renamed out of the globs (logrotate's rename, before the
    /// writer reopens its log): since when. It is read on, with the same guarantees, until
    /// it has been quiet for `--rotate-wait` or is removed (see [`Follow::expire_rotated`]).
    out_of_globs: Option<Instant>,
}

enum State {
    Open(Open),
    /// Waiting for the name to appear (missing at start, or removed).
    Missing,
    /// The name exists but cannot be opened, or is a directory (already reported);
    /// retried on every check.
    Denied,
    /// Nothing more to read: standard input ended, or reading the file failed.
    Done,
    /// No descriptor left to open it (the open-file limit): tried again at every check of
    /// the names, all such names said together once (see [`Follow::tell_starved`]).
    Starved(Option<AtStart>),
    /// Closed while quiet, for want of descriptors (see [`Follow::park_quietest`]): known
    /// by its identity, reopened where it was once it grows (see [`Follow::unpark`]).
    Parked(Box<Parked>),
}

/// What an attempt to reopen a parked file came to.
#[derive(PartialEq, Eq)]
enum Unpark {
    Reopened,
    /// Still out of descriptors: tried again at the next check.
    NoDescriptor,
    /// The name leads to another file (or none), or other first bytes begin it.
    Other,
}

/// A regular file closed while quiet: what reopening it needs. Its partial line waits in
/// its `partial`.
struct Parked {
    id: (u64, u64),
    /// Bytes read from its start (its partial line included).
    offset: u64,
    head: Head,
}

/// What a file that could not be opened at start was then (`stat` needs no descriptor):
/// when it can be opened, and is still that file, reading starts where `-n` would have
/// put it at start, so that nothing written in between is lost.
#[derive(Clone, Copy)]
struct AtStart {
    id: (u64, u64),
    size: u64,
}

struct Open {
    file: File,
    /// Device and inode, to tell when the name points to another file.
    id: (u64, u64),
    /// Bytes read from the start of the file (regular files): a smaller size means the
    /// file was truncated.
    offset: u64,
    kind: FileKind,
    /// The file's first bytes as last seen (regular files, up to [`HEAD`]): other bytes
    /// there mean that it was truncated and written again, even if it is not smaller.
    head: Head,
    /// When a read last returned data (or it was opened): the quietest files are parked
    /// first when descriptors run out.
    grown: Instant,
}

/// How many of a regular file's first bytes are compared after each wake-up.
const HEAD: usize = 256;

/// The first bytes of a regular file as seen so far (fewer than [`HEAD`] while the file
/// is shorter).
struct Head {
    /// Boxed: one allocation per file opened, and the state of a name stays small.
    bytes: Box<[u8; HEAD]>,
    len: usize,
}

impl Head {
    fn empty() -> Head {
        Head {
            bytes: Box::new([0; HEAD]),
            len: 0,
        }
    }

    /// The first bytes of `file` now.
    fn of(file: &File) -> io::Result<Head> {
        let mut h = Head::empty();
        h.len = read_head(file, &mut h.bytes[..])?;
        Ok(h)
    }

    /// Compare with `now`, the file's first bytes read again: only the prefix both know is
    /// compared (a short file that grew, or a file now shorter, is not "other bytes").
    /// Whether they differ; otherwise what is known grows to what `now` holds.
    fn changed(&mut self, now: &[u8]) -> bool {
        let known = self.len.min(now.len());
        if self.bytes[..known] != now[..known] {
            return true;
        }
        self.bytes[..now.len()].copy_from_slice(now);
        self.len = now.len();
        false
    }

    fn set(&mut self, now: &[u8]) {
        self.bytes[..now.len()].copy_from_slice(now);
        self.len = now.len();
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FileKind {
    /// Read with plain reads; end of file means "nothing new yet".
    Regular,
    /// A named FIFO, opened non-blocking: when its writer goes away it is opened again, so
    /// the next writer is followed too.
    Fifo,
    /// A pipe or terminal on standard input, a character device: read when `poll` says
    /// so, until its end.
    Stream,
}

impl Followed {
    fn new(path: &Path, skip: u64) -> Result<Self> {
        let stdin = path.as_os_str() == "-";
        let name = if stdin {
            "standard input".to_string()
        } else {
            path.display().to_string()
        };
        let abs = std::path::absolute(path)
            .with_context(|| format!("cannot follow {name}: no current directory"))?;
        let dir = abs.parent().unwrap_or(Path::new("/")).to_path_buf();
        Ok(Followed {
            name,
            path: path.to_path_buf(),
            dir,
            stdin,
            state: State::Missing,
            partial: Held::default(),
            skip,
            watched: None,
            said_unfollowable: false,
            found: false,
            poke: false,
            out_of_globs: None,
        })
    }

    fn open(&self) -> Option<&Open> {
        match &self.state {
            State::Open(o) => Some(o),
            _ => None,
        }
    }
}

/// Which inputs a round of reads looks at (pipes and FIFOs always: they cost nothing
/// when empty).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Every input.
    All,
    /// The names given and the files found by globs that were appended to.
    Named,
    /// The files that were appended to (or had more to read).
    Poked,
}

/// What one round of reads found.
#[derive(PartialEq, Eq)]
enum Round {
    /// Every input is at its end for now.
    Idle,
    /// Some input has more to read right away.
    Busy,
    /// Downstream wants nothing more.
    Stop,
}

struct Follow {
    files: Vec<Followed>,
    /// The globs among the names, and `--exclude`.
    globs: Option<Globs>,
    /// The directory watched for each glob (with whether its subdirectories are too).
    glob_watches: Vec<Option<(PathBuf, bool)>>,
    /// Scratch: what the globs found at the last look.
    found: Vec<Found>,
    /// Slots of `files` whose file was closed, for the next file found.
    free: Vec<usize>,
    /// For `--stats`.
    counts: FileCounts,
    /// A descriptor kept free for walking the globs' directories (see
    /// [`Follow::discover`]).
    reserve: Option<File>,
    /// `--state`.
    checkpoint: Option<Checkpoint>,
    start: Start,
    show: Show,
    pid: Option<i32>,
    poll: Option<Duration>,
    /// One reader for every input; the partial line of the others waits in their
    /// `partial`.
    reader: LineReader,
    /// `--max-line`: a longer line is cut, its partial line never held longer.
    max_line: usize,
    /// Whose partial line the reader holds.
    holder: Option<usize>,
    /// The input whose origin was sent last.
    announced: Option<usize>,
    meter: Meter,
    interrupt: Interrupt,
    status: Status,
    /// Scratch: the descriptors of the pipes being read, for the wait.
    streams: Vec<RawFd>,
    /// Scratch: the open regular files (descriptor, (device, inode)), for the wait.
    regular: Vec<(RawFd, (u64, u64))>,
    /// Whether the waiter watches open files themselves (see [`Waiter::watches_files`]).
    files_watched: bool,
    /// A directory watch was added: check the names again without sleeping.
    recheck: bool,
    /// An open failed for want of a descriptor during this check of the names: the
    /// other starved names wait for the next one.
    out_of_fds: bool,
    /// The starved names were reported (again once they have all been opened).
    said_starved: bool,
    /// That quiet files are closed for want of descriptors was said (once).
    said_parked: bool,
    /// The pipeline's clock: whether a stage holds items back (see
    /// [`Follow::take_checkpoint`]), and what waits for the chain to be closed.
    timers: crate::runtime::timer::Timers,
    /// The follow ended on its own (every input read to its end, or `--pid`), every
    /// partial line pushed.
    ended: bool,
    /// Compressed files the globs found: read once, not followed (see [`archive`]).
    archives: archive::Archives,
    /// `--rotate-wait`: how long a file renamed out of the globs is read on once quiet.
    rotate_wait: Duration,
}

fn note(msg: std::fmt::Arguments<'_>) {
    crate::say!("copipe: {msg}");
}

/// An io error's message without Rust's ` (os error N)` suffix, for notes.
fn cause(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Where the follow loop is between two waits.
struct Turn {
    /// The once-a-second check (or the `--poll` interval).
    tick: Duration,
    next_tick: Instant,
    /// A name changed: check every name.
    names: bool,
    ticked: bool,
    /// Look at the files' first bytes before reading on.
    verify: bool,
    /// The `--pid` process has ended: end once everything is read.
    ending: bool,
    scope: Scope,
    /// Nothing was waited for yet (the task's first round follows the start at once).
    fresh: bool,
}

/// What the follow loop does next.
enum Next {
    /// Wait (zero: only look) before the next round.
    Wait(Duration),
    /// The follow has ended (or downstream wants nothing more).
    End,
}

impl Source for Follow {
    fn run(&mut self, out: &mut dyn Stage) -> Result<()> {
        let mut w = Waiter::new(self.poll, self.pid, self.interrupt.clone())?;
        let Some(mut t) = self.start(out, &mut w)? else {
            return Ok(());
        };
        loop {
            let timeout = match self.round(&mut t, out, &mut w)? {
                Next::End if self.ended => return self.checkpoint(out, true),
                Next::End => return Ok(()),
                Next::Wait(timeout) => timeout,
            };
            if !timeout.is_zero() {
                out.flush()?;
            }
            // Even while busy: a crash repeats at most a second of lines.
            self.checkpoint(out, false)?;
            self.descriptors();
            let wake = w.wait(timeout, &self.streams, &self.regular)?;
            if let Some(sig) = wake.signal.or_else(|| w.signal()) {
                // What is already written is read (one round, so a busy file cannot hold
                // the stop back); the partial lines are not the end of their files, so
                // they are said, not pushed.
                self.status.interrupt(sig);
                if self.read_all(out, true, Scope::All)? != Round::Stop {
                    // The partial lines are not covered by the checkpoint: read again
                    // next time, whole.
                    self.checkpoint(out, true)?;
                    self.abandon_all();
                }
                return Ok(());
            }
            self.woke(&mut t, wake, &mut w)?;
        }
    }

    /// In a pipeline that runs on the scheduler, the follow is a task of it (see
    /// [`FollowTask`]): its flush reaches the sinks, so its checkpoints count what they
    /// wrote.
    fn native(&mut self) -> Option<Box<dyn crate::protocol::task::Task>> {
        let mut taken = std::mem::replace(self, Follow::taken(self));
        if let Some(c) = &mut taken.checkpoint {
            c.slack = Duration::from_millis(50);
        }
        Some(Box::new(FollowTask {
            f: taken,
            w: None,
            turn: None,
            commit: false,
        }))
    }
}

impl Follow {
    /// What is left in the source once its task was taken ([`Source::native`]): nothing to
    /// follow.
    fn taken(from: &Follow) -> Follow {
        Follow {
            files: Vec::new(),
            globs: None,
            glob_watches: Vec::new(),
            found: Vec::new(),
            free: Vec::new(),
            counts: FileCounts::default(),
            reserve: None,
            checkpoint: None,
            start: from.start,
            show: from.show,
            pid: None,
            poll: None,
            reader: LineReader::default(),
            max_line: from.max_line,
            holder: None,
            announced: None,
            meter: from.meter.clone(),
            interrupt: from.interrupt.clone(),
            status: from.status.clone(),
            streams: Vec::new(),
            regular: Vec::new(),
            files_watched: false,
            recheck: false,
            out_of_fds: false,
            said_starved: false,
            said_parked: false,
            timers: from.timers.clone(),
            ended: true,
            archives: Default::default(),
            rotate_wait: from.rotate_wait,
        }
    }

    /// Start: open the names, walk the globs, read what the state says was left; `None`
    /// when downstream wants nothing more.
    fn start(&mut self, out: &mut dyn Stage, w: &mut Waiter) -> Result<Option<Turn>> {
        self.files_watched = w.watches_files();
        if let Some(c) = &mut self.checkpoint {
            c.load();
        }
        for i in 0..self.files.len() {
            self.begin(i, w)?;
        }
        if self.discover(out, w, true)?.is_stop() {
            return Ok(None);
        }
        if self.read_rests(out)?.is_stop() {
            return Ok(None);
        }
        self.tell_starved();
        let tick = w.tick();
        Ok(Some(Turn {
            tick,
            next_tick: Instant::now() + tick,
            names: false,
            ticked: false,
            // The files' first bytes were just read when they were opened.
            verify: false,
            ending: false,
            scope: Scope::All,
            fresh: true,
        }))
    }

    /// One round: check the names when due, read what is new, and say how long to wait.
    /// At the end, every partial line has been pushed.
    fn round(&mut self, t: &mut Turn, out: &mut dyn Stage, w: &mut Waiter) -> Result<Next> {
        if t.names || t.ticked {
            self.out_of_fds = false;
            for i in 0..self.files.len() {
                if self.check_name(i, out, w)?.is_stop() {
                    return Ok(Next::End);
                }
            }
            // The once-a-second check walks the globs again only if a directory they
            // walked changed: a stat per directory, not a walk of the tree.
            let walk = t.names || self.globs.as_ref().is_some_and(|g| g.moved());
            if walk && self.discover(out, w, false)?.is_stop() {
                return Ok(Next::End);
            }
            if self.expire_rotated(out)?.is_stop() {
                return Ok(Next::End);
            }
            self.tell_starved();
        }
        let round = self.read_all(out, t.verify, t.scope)?;
        if round == Round::Stop {
            return Ok(Next::End);
        }
        let recheck = std::mem::take(&mut self.recheck);
        let busy = round == Round::Busy || recheck;
        t.names = recheck;
        // A glob may find files later: it never runs out.
        let all_done =
            self.globs.is_none() && self.files.iter().all(|f| matches!(f.state, State::Done));
        if !busy && (t.ending || all_done) {
            self.finish_all(out)?;
            self.ended = true;
            return Ok(Next::End);
        }
        Ok(Next::Wait(if busy {
            Duration::ZERO
        } else {
            t.next_tick.saturating_duration_since(Instant::now())
        }))
    }

    /// The descriptors a wait watches: the pipes being read, the open regular files.
    fn descriptors(&mut self) {
        self.streams.clear();
        self.streams.extend(
            self.files
                .iter()
                .filter_map(Followed::open)
                .filter(|o| o.kind != FileKind::Regular)
                .map(|o| o.file.as_raw_fd()),
        );
        self.regular.clear();
        self.regular.extend(
            self.files
                .iter()
                .filter_map(Followed::open)
                .filter(|o| o.kind == FileKind::Regular)
                .map(|o| (o.file.as_raw_fd(), o.id)),
        );
    }

    /// What a wait found (but a signal): what the next round looks at.
    fn woke(&mut self, t: &mut Turn, wake: wait::Wake, w: &mut Waiter) -> Result<()> {
        if self.files_watched && !w.watches_files() {
            // The files' own watches failed: their directories are watched instead.
            self.files_watched = false;
            for i in 0..self.files.len() {
                if self.files[i].open().is_some() {
                    self.watch_open(i, w);
                }
            }
        }
        if wake.output_gone {
            return Err(
                anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe))
                    .context("standard output was closed"),
            );
        }
        t.names |= wake.fs & NAMES != 0;
        if wake.pid_gone && !t.ending {
            // One more look at everything, then end once it is all read.
            t.ending = true;
            t.names = true;
        }
        t.ticked = Instant::now() >= t.next_tick;
        if t.ticked {
            w.refresh();
            t.next_tick = Instant::now() + t.tick;
            if w.polls_some() {
                // The files left without a watch of their own are polled.
                for f in self.files.iter_mut() {
                    if f.open().is_some_and(|o| w.polled(o.id)) {
                        f.poke = true;
                    }
                }
            }
        }
        if wake.only_changed {
            for &id in w.changed() {
                for f in self.files.iter_mut() {
                    if f.open().is_some_and(|o| o.id == id) {
                        f.poke = true;
                    }
                }
            }
        }
        // Which files to look at: those the files' own watches named, the named files
        // too at the once-a-second check; every file after anything else.
        t.scope = if t.names || !self.files_watched || (wake.fs != 0 && !wake.only_changed) {
            Scope::All
        } else if t.ticked {
            Scope::Named
        } else {
            Scope::Poked
        };
        // A file changed (or may have: the periodic check): one look at its first
        // bytes before reading on.
        t.verify = wake.fs != 0 || t.names || t.ticked;
        Ok(())
    }
}

/// `follow` as a native task of the scheduler: the same rounds as [`Follow::run`], with
/// the wait done by the scheduler (readable on the waiter's descriptor, or the next
/// once-a-second check). Its checkpoints are taken when no stage holds items back
/// ([`crate::runtime::timer::Timers::holding`]: an open `multiline` event, the count of a `count
/// --every` interval), after a flush of the chain, and written at the next resume — after
/// whatever the scheduler does with what this one pushed (a `merge` delivers a branch's
/// items once its task yields). The last one is written once the chain has been closed.
pub struct FollowTask {
    f: Follow,
    w: Option<Waiter>,
    turn: Option<Turn>,
    /// A checkpoint was taken: write it at the next resume.
    commit: bool,
}

impl crate::protocol::task::Task for FollowTask {
    fn resume(
        &mut self,
        cx: &mut crate::protocol::task::Cx<'_>,
        out: &mut dyn Stage,
    ) -> Result<crate::protocol::task::Wait> {
        use crate::protocol::task::Wait;
        if std::mem::take(&mut self.commit) {
            self.f.store_checkpoint();
        }
        if self.w.is_none() {
            // The scheduler sees the signals itself.
            let mut w = Waiter::new(self.f.poll, self.f.pid, Interrupt::none())?;
            let started = self.f.start(out, &mut w)?;
            self.w = Some(w);
            match started {
                Some(t) => self.turn = Some(t),
                None => {
                    cx.stop_all();
                    return Ok(Wait::Done);
                }
            }
        }
        let w = self.w.as_mut().expect("started");
        let t = self.turn.as_mut().expect("started");
        if self.f.ended {
            return Ok(Wait::Done);
        }
        if !t.fresh {
            self.f.descriptors();
            let wake = w.wait(Duration::ZERO, &self.f.streams, &self.f.regular)?;
            self.f.woke(t, wake, w)?;
        }
        t.fresh = false;
        // Right after a tick (a `count --every` has printed): nothing may be held.
        self.commit = self.f.take_checkpoint(out, false)?;
        let timeout = match self.f.round(t, out, w)? {
            Next::End => {
                if self.f.ended {
                    self.f.last_checkpoint(out)?;
                    cx.pushed();
                    return Ok(Wait::Done);
                }
                cx.stop_all();
                return Ok(Wait::Done);
            }
            Next::Wait(timeout) => timeout,
        };
        cx.pushed();
        if !self.commit {
            self.commit = self.f.take_checkpoint(out, false)?;
        }
        if timeout.is_zero() || self.commit {
            return Ok(Wait::Soon);
        }
        self.f.descriptors();
        let fd = w.descriptor(&self.f.streams, &self.f.regular)?;
        if w.has_news() {
            return Ok(Wait::Soon);
        }
        Ok(Wait::ReadableUntil(fd, t.next_tick))
    }

    fn interrupted(&mut self, out: &mut dyn Stage) -> Result<bool> {
        if self.turn.is_some()
            && !self.f.ended
            && self.f.read_all(out, true, Scope::All)? != Round::Stop
        {
            // The partial lines are not covered by the checkpoint: read again next time,
            // whole.
            self.f.last_checkpoint(out)?;
            self.f.abandon_all();
        }
        Ok(true)
    }
}

impl Follow {
    /// Open input `i` at start and position it as `-n` says, or start waiting for it.
    fn begin(&mut self, i: usize, w: &mut Waiter) -> Result<()> {
        if self.files[i].stdin {
            let fd = io::stdin()
                .as_fd()
                .try_clone_to_owned()
                .context("cannot use standard input")?;
            let file = File::from(fd);
            let meta = file.metadata().context("cannot use standard input")?;
            let kind = if meta.is_file() {
                FileKind::Regular
            } else {
                FileKind::Stream
            };
            // Unreadable now: the first read says so.
            let head = match kind {
                FileKind::Regular => Head::of(&file).unwrap_or_else(|_| Head::empty()),
                _ => Head::empty(),
            };
            let open = Open {
                file,
                id: (meta.dev(), meta.ino()),
                offset: 0,
                kind,
                head,
                grown: Instant::now(),
            };
            self.files[i].state = State::Open(open);
            return self.position(i, &meta);
        }
        let path = self.files[i].path.clone();
        match self.open_parking(&path, i) {
            Ok((file, meta)) => match self.admit(i, file, &meta) {
                Some(open) => {
                    self.files[i].state = State::Open(open);
                    self.start_at(i, &meta)?;
                    self.watch_open(i, w);
                }
                None => {
                    self.files[i].skip = 0;
                    let dir = self.files[i].dir.clone();
                    self.watch(i, w, Some(&dir));
                }
            },
            Err(e) if is_out_of_fds(&e) => {
                let f = &mut self.files[i];
                let at_start = std::fs::metadata(&f.path)
                    .ok()
                    .filter(|m| m.is_file())
                    .map(|m| AtStart {
                        id: (m.dev(), m.ino()),
                        size: m.len(),
                    });
                f.state = State::Starved(at_start);
            }
            Err(e) if is_missing(&e) => {
                let f = &mut self.files[i];
                f.skip = 0;
                note(format_args!(
                    "cannot open {}: {}; waiting for it to appear",
                    f.name,
                    cause(&e)
                ));
                self.watch_nearest(i, w);
            }
            Err(e) => {
                self.files[i].skip = 0;
                self.deny(i, e);
                let dir = self.files[i].dir.clone();
                self.watch(i, w, Some(&dir));
            }
        }
        Ok(())
    }

    /// Where the first read of a file open at start begins: where the state says (see
    /// [`Follow::resumed`]), else as `-n` says.
    fn start_at(&mut self, i: usize, meta: &Metadata) -> Result<()> {
        let Some(offset) = self.resumed(i, meta) else {
            return self.position(i, meta);
        };
        let f = &mut self.files[i];
        f.skip = 0;
        if let State::Open(open) = &mut f.state {
            open.file
                .seek(SeekFrom::Start(offset))
                .with_context(|| format!("error reading {}", f.name))?;
            open.offset = offset;
        }
        Ok(())
    }

    /// Where the state read at start says to go on in input `i`'s file (`None`: no state,
    /// or not a regular file). The same file (device, inode and first bytes): at its
    /// offset, or from its start if it is now shorter (truncated while copipe was
    /// stopped). Another file (new, or an inode reused): from its start.
    fn resumed(&mut self, i: usize, meta: &Metadata) -> Option<u64> {
        let c = self.checkpoint.as_mut()?;
        let (saved, by_id, used) = c.saved.as_mut()?;
        let f = &self.files[i];
        let State::Open(open) = &f.state else {
            return None;
        };
        if open.kind != FileKind::Regular || f.stdin {
            return None;
        }
        // Not in the state: a file made while copipe was stopped, all of it new.
        let Some(&k) = by_id.get(&open.id) else {
            return Some(0);
        };
        let s = &saved[k];
        let truncated = meta.len() < s.offset;
        if !truncated && same_head(&open.file, s) {
            used[k] = true;
            return Some(s.offset);
        }
        // Truncated (copytruncate), or another file under the inode (renamed away, and a
        // new file got the inode): the old content may be in a rotated copy.
        used[k] = true;
        let was = rotated::Wanted {
            head_len: s.head_len as usize,
            head_hash: s.head_hash,
            offset: s.offset,
            not: open.id,
        };
        let what = if truncated {
            "file truncated while copipe was stopped"
        } else {
            "other first bytes than the file of the state (its inode was reused, or it was rewritten)"
        };
        match (s.offset > 0 && s.head_len > 0)
            .then(|| rotated::find(&f.path, was))
            .flatten()
        {
            Some(found) => {
                note(format_args!(
                    "{}: {what}; reading the rest of its old content from {} first, then it from its start",
                    f.name,
                    found.path.display()
                ));
                c.recover.push((i, found));
            }
            None if s.offset > 0 => note(format_args!(
                "{}: {what}; reading it from its start — what was written to its old content after byte {} could not be recovered (no rotated copy in its directory begins with its first bytes)",
                f.name, s.offset
            )),
            None => note(format_args!(
                "{}: {what}; reading it from its start",
                f.name
            )),
        }
        Some(0)
    }

    /// The files of the state that no file open at start took up: one rotated while
    /// copipe was stopped is looked for, by identity, in the directory it was in; what was
    /// added to it since is read now, to its end, before anything else. One not found was
    /// removed: it is dropped from the state.
    fn read_rests(&mut self, out: &mut dyn Stage) -> Result<Flow> {
        let Some(c) = self.checkpoint.as_mut() else {
            return Ok(Flow::Continue);
        };
        for (i, found) in std::mem::take(&mut c.recover) {
            if self.read_rotated_rest(i, found, out)?.is_stop() {
                return Ok(Flow::Stop);
            }
        }
        let Some(c) = self.checkpoint.as_mut() else {
            return Ok(Flow::Continue);
        };
        let Some((saved, _, used)) = c.saved.take() else {
            return Ok(Flow::Continue);
        };
        for (s, _) in saved.iter().zip(&used).filter(|(_, u)| !**u) {
            let Ok(Some(path)) = self.find_parking(s, usize::MAX) else {
                continue;
            };
            let Ok((file, meta)) = self.open_parking(&path, usize::MAX) else {
                continue;
            };
            if meta.len() <= s.offset || !same_head(&file, s) {
                continue;
            }
            let mut f = Followed::new(&path, 0)?;
            f.found = true;
            let i = self.files.len();
            self.files.push(f);
            let Some(mut open) = self.admit(i, file, &meta) else {
                self.drop_found(i);
                continue;
            };
            open.file
                .seek(SeekFrom::Start(s.offset))
                .with_context(|| format!("error reading {}", path.display()))?;
            open.offset = s.offset;
            self.files[i].state = State::Open(open);
            if self.close_input(i, out)?.is_stop() {
                return Ok(Flow::Stop);
            }
            self.drop_found(i);
        }
        Ok(Flow::Continue)
    }

    /// Write the state if a second has passed since it was last written (or `now`) and
    /// anything moved: after flushing the output, so that it covers only what the sinks
    /// have written (see [`Follow::take_checkpoint`]).
    fn checkpoint(&mut self, out: &mut dyn Stage, now: bool) -> Result<()> {
        if self.take_checkpoint(out, now)? {
            self.store_checkpoint();
        }
        Ok(())
    }

    /// Where the state may say file `i` (open at `o`) was read up to: just past the last
    /// whole line pushed (never into a partial line held). Pushed means written once the
    /// chain has been flushed with no stage holding items back (see
    /// [`Follow::take_checkpoint`]). The one place that decides it.
    fn checkpoint_offset(&self, i: usize, offset: u64) -> u64 {
        let held = if self.holder == Some(i) {
            self.reader.held()
        } else {
            self.files[i].partial.held()
        };
        offset.saturating_sub(held as u64)
    }

    /// What the state records of input `i` (a regular file, open or parked): its identity,
    /// [`Follow::checkpoint_offset`] and its first bytes as known.
    fn recorded(&self, i: usize) -> Option<((u64, u64), u64, &Head)> {
        let f = &self.files[i];
        if f.stdin {
            return None;
        }
        match &f.state {
            State::Open(o) if o.kind == FileKind::Regular => {
                Some((o.id, self.checkpoint_offset(i, o.offset), &o.head))
            }
            State::Parked(p) => Some((p.id, self.checkpoint_offset(i, p.offset), &p.head)),
            _ => None,
        }
    }

    /// Take a checkpoint if a second has passed since the last one (or `now`) and anything
    /// moved: flush the output, and, unless a stage still holds items back (or `now`: the
    /// chain is about to be closed, which sends them), record for each open regular file
    /// its identity and [`Follow::checkpoint_offset`]. Whether one was taken (to be
    /// written by [`Follow::store_checkpoint`]).
    fn take_checkpoint(&mut self, out: &mut dyn Stage, now: bool) -> Result<bool> {
        let Some(c) = self.checkpoint.as_ref() else {
            return Ok(false);
        };
        if !now && c.written.elapsed() + c.slack < CHECKPOINT_EVERY {
            return Ok(false);
        }
        let mut sig: u64 = 0xcbf2_9ce4_8422_2325;
        let mut mix = |x: u64| sig = (sig ^ x).wrapping_mul(0x0100_0000_01b3);
        for i in 0..self.files.len() {
            if let Some((id, offset, head)) = self.recorded(i) {
                mix(i as u64);
                mix(id.0);
                mix(id.1);
                mix(offset);
                mix(head.len as u64);
            }
        }
        mix(self.archives.entries.len() as u64);
        let c = self.checkpoint.as_mut().expect("checked");
        if sig == c.signature && c.unconfirmed.is_empty() {
            c.written = Instant::now();
            return Ok(false);
        }
        if sig != c.signature {
            out.flush()?;
            if !now && self.timers.holding() {
                // Try again soon: the checkpoint waits until what is held has been sent on.
                c.written = Instant::now() - CHECKPOINT_EVERY + HELD_RETRY;
                return Ok(false);
            }
            c.taken = sig;
            let mut entries = std::mem::take(&mut c.entries);
            entries.clear();
            for i in 0..self.files.len() {
                if let Some((id, offset, head)) = self.recorded(i) {
                    entries.push(Saved {
                        path: self.files[i].path.clone(),
                        id,
                        offset,
                        head_len: head.len as u64,
                        head_hash: fingerprint(&head.bytes[..head.len]),
                    });
                }
            }
            entries.extend(self.archives.entries.iter().cloned());
            let c = self.checkpoint.as_mut().expect("checked");
            // Read right after the flush: what the sinks took covers every line pushed.
            if let Some(marks) = self.status.marks() {
                c.unconfirmed.push(&entries, marks);
                c.signature = sig;
            }
            c.entries = entries;
        }
        let c = self.checkpoint.as_mut().expect("checked");
        c.written = Instant::now();
        // Behind asynchronous sinks (`publish --jetstream`, see [`crate::runtime::delivery`])
        // a flush only queued the items: the checkpoint of this moment waits until they
        // confirmed what they had taken by then, and the newest confirmed one is written
        // (`now`: waiting at most their drain time).
        if !c.unconfirmed.is_empty() {
            let confirmed = if now {
                c.unconfirmed.wait_confirmed()
            } else {
                c.unconfirmed.confirmed()
            };
            let Some(files) = confirmed else {
                return Ok(false);
            };
            c.entries = files;
        }
        Ok(true)
    }

    /// Write the checkpoint taken last (atomically; a failure is said once).
    fn store_checkpoint(&mut self) {
        let Some(c) = self.checkpoint.as_mut() else {
            return;
        };
        // The descriptor kept in reserve serves the write when all others are taken.
        self.reserve = None;
        let mut stored = state::store(&c.path, &c.entries);
        if stored.as_ref().is_err_and(is_out_of_fds) && self.park_quietest(usize::MAX) {
            let c = self.checkpoint.as_ref().expect("checked");
            stored = state::store(&c.path, &c.entries);
        }
        self.reserve = File::open("/dev/null").ok();
        let c = self.checkpoint.as_mut().expect("checked");
        match stored {
            Ok(()) => c.signature = c.taken,
            Err(e) if !c.said_failure => {
                c.said_failure = true;
                self.status.soft_error(
                    &anyhow::Error::new(e)
                        .context(format!("cannot write the state {}", c.path.display())),
                );
            }
            Err(_) => {}
        }
    }

    /// On the scheduler, at the end: the last checkpoint covers everything pushed, and is
    /// written once the chain has been closed (which sends on what stages held).
    fn last_checkpoint(&mut self, out: &mut dyn Stage) -> Result<()> {
        if !self.take_checkpoint(out, true)? {
            return Ok(());
        }
        let c = self.checkpoint.as_mut().expect("taken");
        let (path, entries, status) = (c.path.clone(), c.entries.clone(), self.status.clone());
        self.timers.after_close(Box::new(move || {
            if let Err(e) = state::store(&path, &entries) {
                status.soft_error(
                    &anyhow::Error::new(e)
                        .context(format!("cannot write the state {}", path.display())),
                );
            }
        }));
        Ok(())
    }

    /// Where the first read of the file open at start begins: its last N lines (regular
    /// files; a pipe has no end yet to count from, so all of it is new), or its start
    /// (`+K`, with the first K-1 lines skipped as they are read).
    fn position(&mut self, i: usize, meta: &Metadata) -> Result<()> {
        let f = &mut self.files[i];
        let State::Open(open) = &mut f.state else {
            return Ok(());
        };
        if let (Start::Last(n), FileKind::Regular) = (self.start, open.kind) {
            let size = meta.len();
            let from = last_lines_offset(&open.file, size, n)
                .and_then(|off| open.file.seek(SeekFrom::Start(off)))
                .with_context(|| format!("error reading {}", f.name))?;
            open.offset = from;
        }
        Ok(())
    }

    /// The open file of input `i`, if it is something that can be followed; otherwise the
    /// problem is reported (once) and the name is retried on later checks (`Denied`): a
    /// directory may be removed and a file created in its place.
    fn admit(&mut self, i: usize, file: File, meta: &Metadata) -> Option<Open> {
        let ft = meta.file_type();
        let Some(kind) = kind_of(ft) else {
            let f = &mut self.files[i];
            if !f.said_unfollowable {
                f.said_unfollowable = true;
                self.status.soft_error(&anyhow::anyhow!(
                    "cannot follow {}: {}; following it again once it is a file",
                    f.name,
                    if ft.is_dir() {
                        "it is a directory"
                    } else {
                        "not a file that can be read"
                    }
                ));
            }
            f.state = State::Denied;
            return None;
        };
        self.files[i].said_unfollowable = false;
        // Just opened: read in the next round, whichever files it looks at.
        self.files[i].poke = true;
        // Unreadable now: the first read says so.
        let head = match kind {
            FileKind::Regular => Head::of(&file).unwrap_or_else(|_| Head::empty()),
            _ => Head::empty(),
        };
        Some(Open {
            file,
            id: (meta.dev(), meta.ino()),
            offset: 0,
            kind,
            head,
            grown: Instant::now(),
        })
    }

    /// Report that input `i` cannot be opened (once), and retry it on later checks.
    fn deny(&mut self, i: usize, e: io::Error) {
        let f = &mut self.files[i];
        if !matches!(f.state, State::Denied) {
            self.status
                .soft_error(&anyhow::Error::new(e).context(format!("cannot open {}", f.name)));
        }
        f.state = State::Denied;
    }

    /// Watch `dir` for input `i` (`None`: no directory needed). A new watch sees only
    /// what happens from now on, so the names are checked once more right after it: a file
    /// created in between is not left for the next safety check.
    fn watch(&mut self, i: usize, w: &mut Waiter, dir: Option<&Path>) {
        let f = &mut self.files[i];
        if dir.is_some() && f.watched.as_deref() != dir {
            self.recheck = true;
        }
        w.watch(f.watched.as_deref(), dir);
        f.watched = dir.map(Path::to_path_buf);
    }

    /// Input `i`'s name leads to its open file: where the files are watched themselves,
    /// no directory is needed; otherwise its directory tells of renames and removals.
    fn watch_open(&mut self, i: usize, w: &mut Waiter) {
        if w.watches_files() {
            self.watch(i, w, None);
        } else {
            let dir = self.files[i].dir.clone();
            self.watch(i, w, Some(&dir));
        }
    }

    /// Watch the nearest existing ancestor of a missing name's directory, so that the
    /// creation of the directories on the way is seen too.
    fn watch_nearest(&mut self, i: usize, w: &mut Waiter) {
        let mut dir = self.files[i].dir.as_path();
        while !dir.is_dir() {
            match dir.parent() {
                Some(p) => dir = p,
                None => break,
            }
        }
        let dir = dir.to_path_buf();
        self.watch(i, w, Some(&dir));
    }

    /// Look at what the name of input `i` points to now, and switch if it changed.
    fn check_name(&mut self, i: usize, out: &mut dyn Stage, w: &mut Waiter) -> Result<Flow> {
        let f = &self.files[i];
        if f.stdin || matches!(f.state, State::Done) {
            return Ok(Flow::Continue);
        }
        if matches!(f.state, State::Parked(_)) {
            if self.check_parked(i, out)?.is_stop() {
                return Ok(Flow::Stop);
            }
            // Reopened where its name leads, or still quiet: nothing more to look at.
            // Reopened elsewhere (its name was rotated): the checks below read its rest,
            // then go on with the new file.
            let f = &self.files[i];
            let moved = matches!(&f.state, State::Open(o) if !f.found
                && std::fs::metadata(&f.path).map_or(true, |m| (m.dev(), m.ino()) != o.id));
            if !moved {
                return Ok(Flow::Continue);
            }
        }
        let f = &self.files[i];
        if f.found {
            // What a glob found is followed by identity: [`Follow::discover`] sees it
            // renamed or gone. A name that could not be opened is tried again here.
            match f.state {
                State::Open(_) => return Ok(Flow::Continue),
                State::Missing => {
                    self.drop_found(i);
                    return Ok(Flow::Continue);
                }
                _ => {}
            }
        }
        if let State::Starved(at_start) = f.state {
            if !self.out_of_fds {
                self.open_starved(i, at_start, w)?;
            }
            return Ok(Flow::Continue);
        }
        let now = std::fs::metadata(&f.path);
        match (&f.state, now) {
            (State::Open(o), Ok(m)) if (m.dev(), m.ino()) == o.id => Ok(Flow::Continue),
            (State::Open(_), Ok(m)) => {
                // Rotated: the old file first, to its very end; a regular file still in
                // its directory is read on (the writer may still write to it until it
                // reopens its log) until it has been quiet for --rotate-wait.
                if self.keep_rotated(i, out)?.is_stop() {
                    return Ok(Flow::Stop);
                }
                // A directory in its place is said by `admit`.
                if kind_of(m.file_type()).is_some() {
                    note(format_args!(
                        "{} has been replaced; following new file",
                        self.files[i].name
                    ));
                }
                self.files[i].state = State::Done;
                self.reopen(i, w);
                Ok(Flow::Continue)
            }
            (State::Open(o), Err(e)) => {
                let renamed_away = is_missing(&e)
                    && o.kind == FileKind::Regular
                    && o.file.metadata().is_ok_and(|m| m.nlink() > 0);
                if renamed_away {
                    // Mid-rotation: the writer may still be writing to it until the new
                    // file appears; keep reading it, and watch for the name to come back.
                    let dir = self.files[i].dir.clone();
                    self.watch(i, w, Some(&dir));
                    return Ok(Flow::Continue);
                }
                if self.close_input(i, out)?.is_stop() {
                    return Ok(Flow::Stop);
                }
                note(format_args!(
                    "{} has become inaccessible: {}; waiting for it to appear",
                    self.files[i].name,
                    cause(&e)
                ));
                self.watch_nearest(i, w);
                Ok(Flow::Continue)
            }
            // Still the directory already reported: nothing to open.
            (State::Denied, Ok(m)) if f.said_unfollowable && kind_of(m.file_type()).is_none() => {
                Ok(Flow::Continue)
            }
            (State::Missing | State::Denied, Ok(_)) => {
                self.reopen(i, w);
                Ok(Flow::Continue)
            }
            (State::Missing | State::Denied, Err(_)) => {
                self.files[i].state = State::Missing;
                self.watch_nearest(i, w);
                Ok(Flow::Continue)
            }
            (State::Done | State::Starved(_) | State::Parked(_), _) => Ok(Flow::Continue),
        }
    }

    /// Expand the globs again: a file found under another name is the same file renamed
    /// (followed on where it was, under its new name); a file no glob finds any more
    /// (removed, or renamed out of the globs) is read to its end and closed; a file not
    /// seen before is followed — as `-n` says at start (`at_start`), from its first line
    /// afterwards.
    fn discover(&mut self, out: &mut dyn Stage, w: &mut Waiter, at_start: bool) -> Result<Flow> {
        if self.globs.is_none() {
            return Ok(Flow::Continue);
        }
        self.watch_globs(w);
        let mut found = std::mem::take(&mut self.found);
        // A descriptor kept for the walk: with every other one taken by followed files, a
        // directory could not be read at all.
        self.reserve = None;
        let mut complete = true;
        if let Some(g) = &self.globs {
            g.scan(&mut found);
            complete = g.complete();
        }
        self.reserve = File::open("/dev/null").ok();
        let by_id: std::collections::HashMap<(u64, u64), usize> =
            found.iter().enumerate().map(|(k, f)| (f.id, k)).collect();
        let mut taken = vec![false; found.len()];
        for i in 0..self.files.len() {
            let f = &self.files[i];
            if let State::Open(o) = &f.state {
                match by_id.get(&o.id) {
                    Some(&k) => {
                        taken[k] = true;
                        self.files[i].out_of_globs = None;
                        let f = &self.files[i];
                        if f.found && found[k].path != f.path {
                            self.rename_found(i, &found[k].path);
                        }
                    }
                    // Only a complete walk tells that a file is gone. Renamed out of the
                    // globs, not removed: read on until quiet (see
                    // [`Follow::expire_rotated`]).
                    None if f.found && complete => {
                        let removed = o.file.metadata().map_or(true, |m| m.nlink() == 0);
                        if !removed {
                            let f = &mut self.files[i];
                            f.out_of_globs.get_or_insert_with(Instant::now);
                            continue;
                        }
                        if self.close_input(i, out)?.is_stop() {
                            self.found = found;
                            return Ok(Flow::Stop);
                        }
                        self.counts.closed += 1;
                        self.drop_found(i);
                    }
                    None => {}
                }
                continue;
            }
            if let State::Parked(p) = &f.state {
                match by_id.get(&p.id) {
                    Some(&k) => {
                        taken[k] = true;
                        if f.found && found[k].path != f.path {
                            self.rename_found(i, &found[k].path);
                        }
                    }
                    // Renamed out of the globs or removed while parked: its rest, if it
                    // is still in its directory, then it is closed.
                    None if f.found && complete => {
                        let flow = match self.unpark_rest(i)? {
                            Some(true) => self.close_input(i, out)?,
                            // No descriptor for it yet: at the next walk.
                            Some(false) => continue,
                            None => self.lost_parked(i, out)?,
                        };
                        if flow.is_stop() {
                            self.found = found;
                            return Ok(Flow::Stop);
                        }
                        self.counts.closed += 1;
                        self.drop_found(i);
                    }
                    None => {}
                }
                continue;
            }
            if !f.found || matches!(f.state, State::Done) {
                continue;
            }
            // Not open (cannot be opened yet): known by its path.
            match found.binary_search_by(|x| x.path.as_path().cmp(&f.path)) {
                Ok(k) => taken[k] = true,
                Err(_) if complete => self.drop_found(i),
                Err(_) => {}
            }
        }
        if complete {
            self.archives.keep_only(&found);
        }
        for (k, t) in taken.iter().enumerate() {
            if !t {
                // A compressed file is read once, not followed (see `archive`).
                match self.archive(&found[k], at_start, out)? {
                    archive::Archived::No => self.add_found(&found[k], at_start, w)?,
                    archive::Archived::Done => {}
                    archive::Archived::Stop => {
                        self.found = found;
                        return Ok(Flow::Stop);
                    }
                }
            }
        }
        self.found = found;
        self.tell_counts();
        Ok(Flow::Continue)
    }

    /// Input `i`'s name leads to a new file: read its old file to its end, then, if it is a
    /// regular file still linked (renamed, not removed), hand it over (with its partial line)
    /// to an entry of its own, read on under the same name until it has been quiet for
    /// `--rotate-wait` (see [`Follow::expire_rotated`]); otherwise close it as
    /// [`Follow::close_input`] does. Input `i` is left to be reopened.
    fn keep_rotated(&mut self, i: usize, out: &mut dyn Stage) -> Result<Flow> {
        let linked = self.files[i].open().is_some_and(|o| {
            o.kind == FileKind::Regular && o.file.metadata().is_ok_and(|m| m.nlink() > 0)
        });
        if !linked || self.files[i].stdin {
            return self.close_input(i, out);
        }
        loop {
            let (n, flow) = match self.fill(i, out) {
                Ok(r) => r,
                Err(e) if ReadError::is(&e) => return self.close_input(i, out),
                Err(e) => return Err(e),
            };
            if flow.is_stop() {
                return Ok(Flow::Stop);
            }
            if n == 0 {
                break;
            }
        }
        if self.holder == Some(i) {
            self.reader.stash(&mut self.files[i].partial);
            self.holder = None;
        }
        let f = &mut self.files[i];
        let mut old = Followed::new(&f.path, 0)?;
        old.name = f.name.clone();
        old.found = true;
        old.out_of_globs = Some(Instant::now());
        old.partial = std::mem::take(&mut f.partial);
        old.state = std::mem::replace(&mut f.state, State::Missing);
        match self.free.pop() {
            Some(j) => {
                if self.announced == Some(j) {
                    self.announced = None;
                }
                self.files[j] = old;
            }
            None => self.files.push(old),
        }
        Ok(Flow::Continue)
    }

    /// Close the files renamed out of the globs that have been quiet for `--rotate-wait`
    /// (since their rename and since their last growth), or that were removed: each read to
    /// its end first.
    fn expire_rotated(&mut self, out: &mut dyn Stage) -> Result<Flow> {
        for i in 0..self.files.len() {
            let f = &self.files[i];
            let (Some(since), State::Open(o)) = (f.out_of_globs, &f.state) else {
                continue;
            };
            let removed = o.file.metadata().map_or(true, |m| m.nlink() == 0);
            let quiet =
                since.elapsed() >= self.rotate_wait && o.grown.elapsed() >= self.rotate_wait;
            if !(removed || quiet) {
                continue;
            }
            if self.close_input(i, out)?.is_stop() {
                return Ok(Flow::Stop);
            }
            self.counts.closed += 1;
            self.drop_found(i);
        }
        self.tell_counts();
        Ok(Flow::Continue)
    }

    /// Follow a file a glob found, in a free slot if there is one.
    fn add_found(&mut self, found: &Found, at_start: bool, w: &mut Waiter) -> Result<()> {
        let mut f = Followed::new(&found.path, if at_start { self.start.skip() } else { 0 })?;
        f.found = true;
        let i = match self.free.pop() {
            Some(i) => {
                if self.holder == Some(i) {
                    // Its partial line was pushed when it was closed: nothing is held.
                    let mut none = Held::default();
                    self.reader.stash(&mut none);
                    self.holder = None;
                }
                if self.announced == Some(i) {
                    self.announced = None;
                }
                self.files[i] = f;
                i
            }
            None => {
                self.files.push(f);
                self.files.len() - 1
            }
        };
        if !at_start {
            self.counts.discovered += 1;
        }
        match self.open_parking(&found.path, i) {
            Ok((file, meta)) => {
                if let Some(open) = self.admit(i, file, &meta) {
                    if open.id != found.id
                        && let Some(g) = &self.globs
                    {
                        // The directory entry told another inode than the file has:
                        // from now on each file found is looked at.
                        g.stat_all.set(true);
                    }
                    self.files[i].state = State::Open(open);
                    if at_start {
                        self.start_at(i, &meta)?;
                    }
                    // The globs' directories are watched already.
                    if !w.watches_files() {
                        let dir = self.files[i].dir.clone();
                        self.watch(i, w, Some(&dir));
                    }
                }
            }
            Err(e) if is_out_of_fds(&e) => {
                self.files[i].state = State::Starved(at_start.then_some(AtStart {
                    id: found.id,
                    size: std::fs::metadata(&found.path).map_or(0, |m| m.len()),
                }));
            }
            // Gone already.
            Err(e) if is_missing(&e) => self.drop_found(i),
            Err(e) => self.deny(i, e),
        }
        Ok(())
    }

    /// A file a glob found is now under another name the globs match: the same file,
    /// followed on where it was; its lines are shown under the new name from now on.
    fn rename_found(&mut self, i: usize, to: &Path) {
        let f = &mut self.files[i];
        f.path = to.to_path_buf();
        f.name = to.display().to_string();
        if let Ok(abs) = std::path::absolute(to) {
            f.dir = abs.parent().unwrap_or(Path::new("/")).to_path_buf();
        }
        if self.announced == Some(i) {
            self.announced = None;
        }
    }

    /// A file a glob found is no longer followed: its slot is free (its descriptor, if it
    /// had one, is closed here).
    fn drop_found(&mut self, i: usize) {
        let f = &mut self.files[i];
        if !matches!(f.state, State::Done) {
            f.state = State::Done;
            f.partial.clear();
            self.free.push(i);
        }
    }

    /// Watch the directory of each glob's fixed prefix (its subdirectories too when the glob
    /// goes deeper), or while it does not exist, its nearest existing ancestor.
    fn watch_globs(&mut self, w: &mut Waiter) {
        let Some(g) = &self.globs else {
            return;
        };
        self.glob_watches.resize(g.patterns.len(), None);
        if w.refresh_trees() {
            self.recheck = true;
        }
        for (k, p) in g.patterns.iter().enumerate() {
            let Ok(base) = std::path::absolute(p.root()) else {
                continue;
            };
            let mut dir = base.as_path();
            while !dir.is_dir() {
                match dir.parent() {
                    Some(d) => dir = d,
                    None => break,
                }
            }
            let want = Some((dir.to_path_buf(), p.deep() && dir == base));
            if want != self.glob_watches[k] {
                w.watch_tree(self.glob_watches[k].as_ref(), want.as_ref());
                self.glob_watches[k] = want;
                // A new watch sees only what happens from now on: look once more.
                self.recheck = true;
            }
        }
    }

    /// Try again to open input `i`, which could not be opened for want of a descriptor.
    /// Still the file seen at start: read from where `-n` would have started then.
    fn open_starved(&mut self, i: usize, at_start: Option<AtStart>, w: &mut Waiter) -> Result<()> {
        let path = self.files[i].path.clone();
        let (file, meta) = match self.open_parking(&path, i) {
            Ok(r) => r,
            Err(e) if is_out_of_fds(&e) => {
                self.out_of_fds = true;
                return Ok(());
            }
            Err(e) if is_missing(&e) => {
                let f = &mut self.files[i];
                f.skip = 0;
                f.state = State::Missing;
                note(format_args!(
                    "cannot open {}: {}; waiting for it to appear",
                    f.name,
                    cause(&e)
                ));
                self.watch_nearest(i, w);
                return Ok(());
            }
            Err(e) => {
                self.files[i].skip = 0;
                self.files[i].state = State::Missing;
                self.deny(i, e);
                let dir = self.files[i].dir.clone();
                self.watch(i, w, Some(&dir));
                return Ok(());
            }
        };
        let Some(open) = self.admit(i, file, &meta) else {
            self.files[i].skip = 0;
            let dir = self.files[i].dir.clone();
            self.watch(i, w, Some(&dir));
            return Ok(());
        };
        let same = at_start.filter(|a| a.id == open.id && meta.len() >= a.size);
        self.files[i].state = State::Open(open);
        match (same, self.start) {
            (Some(a), Start::Last(n)) => {
                let f = &mut self.files[i];
                let State::Open(open) = &mut f.state else {
                    unreachable!()
                };
                let from = last_lines_offset(&open.file, a.size, n)
                    .and_then(|off| open.file.seek(SeekFrom::Start(off)))
                    .with_context(|| format!("error reading {}", f.name))?;
                open.offset = from;
            }
            // `+K`: the lines still to skip count from the start.
            (Some(_), Start::From(_)) => {}
            // Another file by now: all of it is new.
            (None, _) => self.files[i].skip = 0,
        }
        self.watch_open(i, w);
        Ok(())
    }

    /// The counts for `--stats`: the files followed (open, or parked) now.
    fn tell_counts(&mut self) {
        self.counts.followed = self
            .files
            .iter()
            .filter(|f| matches!(f.state, State::Open(_) | State::Parked(_)))
            .count() as u64;
        self.meter.set_files(self.counts);
    }

    /// Open `path` for input `keep` (`usize::MAX`: none); out of descriptors, park the
    /// quietest followed file (see [`Follow::park_quietest`]) and try again.
    fn open_parking(&mut self, path: &Path, keep: usize) -> io::Result<(File, Metadata)> {
        // A descriptor freed may be taken by another process at once (the system's
        // limit): a few files at most for one open.
        const TRIES: usize = 8;
        let mut parked = 0;
        loop {
            match open_path(path) {
                Err(e) if is_out_of_fds(&e) && parked < TRIES && self.park_quietest(keep) => {
                    parked += 1;
                }
                r => return r,
            }
        }
    }

    /// [`find_by_identity`] (reading the directory takes a descriptor too): out of
    /// descriptors, park the quietest followed file but input `keep` and try again.
    fn find_parking(&mut self, s: &Saved, keep: usize) -> io::Result<Option<PathBuf>> {
        let mut parked = 0;
        loop {
            match find_by_identity(s) {
                Err(e) if is_out_of_fds(&e) && parked < 8 && self.park_quietest(keep) => {
                    parked += 1;
                }
                r => return r,
            }
        }
    }

    /// Close the followed regular file that grew least recently (never input `keep`, nor
    /// a pipe, FIFO or standard input, whose data would be lost): it is reopened by its
    /// identity once it grows (see [`Follow::check_parked`]). Whether one was.
    fn park_quietest(&mut self, keep: usize) -> bool {
        let quietest = self
            .files
            .iter()
            .enumerate()
            .filter(|&(j, f)| j != keep && !f.stdin)
            .filter_map(|(j, f)| match &f.state {
                State::Open(o) if o.kind == FileKind::Regular => Some((o.grown, j)),
                _ => None,
            })
            .min();
        let Some((_, j)) = quietest else {
            return false;
        };
        if self.holder == Some(j) {
            // Its partial line waits with it.
            self.reader.stash(&mut self.files[j].partial);
            self.holder = None;
        }
        let f = &mut self.files[j];
        let State::Open(o) = std::mem::replace(&mut f.state, State::Missing) else {
            unreachable!("only open files are parked")
        };
        // Its descriptor is closed here.
        f.state = State::Parked(Box::new(Parked {
            id: o.id,
            offset: o.offset,
            head: o.head,
        }));
        f.poke = false;
        self.counts.parked += 1;
        self.tell_counts();
        if !self.said_parked {
            self.said_parked = true;
            let limit = open_file_limit()
                .map_or(String::new(), |l| format!(" (the open-file limit is {l})"));
            note(format_args!(
                "out of file descriptors{limit}: closing the files quiet longest and reopening them where they were when they grow (--stats counts them)"
            ));
        }
        true
    }

    /// At a check of the names: reopen parked input `i` if its file grew (or shrank: the
    /// next read says it was truncated). A name that leads to another file now (rotated
    /// while parked): the parked file, found by identity in its directory, is reopened
    /// for its rest (see [`Follow::unpark_rest`]); gone, that is said. A file found by a
    /// glob is left to [`Follow::discover`], which follows it by identity.
    fn check_parked(&mut self, i: usize, out: &mut dyn Stage) -> Result<Flow> {
        let f = &self.files[i];
        let State::Parked(p) = &f.state else {
            return Ok(Flow::Continue);
        };
        let path = f.path.clone();
        match std::fs::metadata(&path) {
            Ok(m) if (m.dev(), m.ino()) == p.id => {
                if m.len() != p.offset && self.unpark(i, &path, false)? == Unpark::NoDescriptor {
                    self.out_of_fds = true;
                }
                return Ok(Flow::Continue);
            }
            _ if f.found => return Ok(Flow::Continue),
            _ => {}
        }
        match self.unpark_rest(i)? {
            Some(true) => Ok(Flow::Continue),
            // No descriptor for it yet: at the next check.
            Some(false) => {
                self.out_of_fds = true;
                Ok(Flow::Continue)
            }
            None => self.lost_parked(i, out),
        }
    }

    /// Parked input `i`'s file is nowhere to be found (removed while parked): say so, push
    /// its partial line, and wait for its name.
    fn lost_parked(&mut self, i: usize, out: &mut dyn Stage) -> Result<Flow> {
        let f = &self.files[i];
        if let State::Parked(p) = &f.state {
            note(format_args!(
                "{} was removed while closed for want of descriptors: anything added to it after byte {} could not be read; waiting for it to appear",
                f.name, p.offset
            ));
        }
        let flow = self.finish(i, out)?;
        self.files[i].state = State::Missing;
        Ok(flow)
    }

    /// Reopen parked input `i` where its file is now under another name of its directory
    /// (found by device, inode and first bytes): whether it was (`None`: it is nowhere in
    /// its directory, or other bytes begin it now).
    fn unpark_rest(&mut self, i: usize) -> Result<Option<bool>> {
        let f = &self.files[i];
        let State::Parked(p) = &f.state else {
            return Ok(None);
        };
        let saved = Saved {
            path: f.path.clone(),
            id: p.id,
            offset: p.offset,
            head_len: p.head.len as u64,
            head_hash: fingerprint(&p.head.bytes[..p.head.len]),
        };
        let path = match self.find_parking(&saved, i) {
            Ok(Some(path)) => path,
            Err(e) if is_out_of_fds(&e) => return Ok(Some(false)),
            Ok(None) | Err(_) => return Ok(None),
        };
        Ok(match self.unpark(i, &path, true)? {
            Unpark::Reopened => Some(true),
            Unpark::NoDescriptor => Some(false),
            Unpark::Other => None,
        })
    }

    /// Reopen parked input `i` at `path`, where it was: only the same file (device and
    /// inode; with `check_head`, its first bytes too — the file the name leads to now is
    /// checked by the next read, which sees a truncation). Whether it was (not: out of
    /// descriptors, or another file: tried again at the next check).
    fn unpark(&mut self, i: usize, path: &Path, check_head: bool) -> Result<Unpark> {
        let State::Parked(p) = &self.files[i].state else {
            return Ok(Unpark::Other);
        };
        let id = p.id;
        let (mut file, meta) = match self.open_parking(path, i) {
            Ok(r) => r,
            Err(e) if is_out_of_fds(&e) => return Ok(Unpark::NoDescriptor),
            Err(_) => return Ok(Unpark::Other),
        };
        if (meta.dev(), meta.ino()) != id {
            return Ok(Unpark::Other);
        }
        let State::Parked(p) = std::mem::replace(&mut self.files[i].state, State::Missing) else {
            unreachable!("checked above")
        };
        if check_head {
            let mut now = [0u8; HEAD];
            let n = read_head(&file, &mut now).unwrap_or(0);
            let known = n.min(p.head.len);
            if n < p.head.len || now[..known] != p.head.bytes[..known] {
                self.files[i].state = State::Parked(p);
                return Ok(Unpark::Other);
            }
        }
        let f = &mut self.files[i];
        file.seek(SeekFrom::Start(p.offset))
            .with_context(|| format!("error reading {}", f.name))?;
        f.state = State::Open(Open {
            file,
            id,
            offset: p.offset,
            kind: FileKind::Regular,
            head: p.head,
            grown: Instant::now(),
        });
        f.poke = true;
        self.counts.reopened += 1;
        self.tell_counts();
        Ok(Unpark::Reopened)
    }

    /// Say once how many names cannot be opened for want of descriptors (and once more
    /// when they all could be).
    fn tell_starved(&mut self) {
        let n = self
            .files
            .iter()
            .filter(|f| matches!(f.state, State::Starved(_)))
            .count();
        if n > 0 && !self.said_starved {
            self.said_starved = true;
            let limit = open_file_limit()
                .map_or(String::new(), |l| format!(" (the open-file limit is {l})"));
            let files = if n == 1 { "file" } else { "files" };
            self.status.soft_error(&anyhow::anyhow!(
                "{n} {files} cannot be opened yet: Too many open files{limit}; retrying"
            ));
        } else if n == 0 && self.said_starved {
            self.said_starved = false;
            note(format_args!(
                "every file that could not be opened is followed now"
            ));
        }
    }

    /// Read the open file of input `i` to its end, push its partial line, and close it.
    fn close_input(&mut self, i: usize, out: &mut dyn Stage) -> Result<Flow> {
        let regular = self.files[i]
            .open()
            .is_some_and(|o| o.kind == FileKind::Regular);
        if regular {
            loop {
                let (n, flow) = match self.fill(i, out) {
                    Ok(r) => r,
                    // The old file cannot be read to its end: say so, and go on with the name.
                    Err(e) if ReadError::is(&e) => {
                        let name = &self.files[i].name;
                        self.status
                            .soft_error(&e.context(format!("error reading {name} to its end")));
                        break;
                    }
                    Err(e) => return Err(e),
                };
                if flow.is_stop() {
                    return Ok(Flow::Stop);
                }
                if n == 0 {
                    break;
                }
            }
        }
        let flow = self.finish(i, out)?;
        if let State::Open(o) = &self.files[i].state {
            self.archives.closed(&o.head);
        }
        self.files[i].state = State::Missing;
        Ok(flow)
    }

    /// Open the name of input `i` again, from its start: a file that appeared or became
    /// readable (said so on stderr), or the new file of a rotation (`Done` before: already
    /// said).
    fn reopen(&mut self, i: usize, w: &mut Waiter) {
        let was = std::mem::replace(&mut self.files[i].state, State::Missing);
        self.files[i].skip = 0;
        // A directory was there before: the file in its place is a new one.
        let was_unfollowable = self.files[i].said_unfollowable;
        let path = self.files[i].path.clone();
        match self.open_parking(&path, i) {
            Ok((file, meta)) => {
                let Some(open) = self.admit(i, file, &meta) else {
                    // Watched, so that its removal is seen.
                    let dir = self.files[i].dir.clone();
                    self.watch(i, w, Some(&dir));
                    return;
                };
                let f = &mut self.files[i];
                match was {
                    State::Missing => {
                        note(format_args!("{} has appeared; following new file", f.name))
                    }
                    State::Denied if was_unfollowable => {
                        note(format_args!("{} has appeared; following new file", f.name))
                    }
                    State::Denied => note(format_args!(
                        "{} has become accessible; following it",
                        f.name
                    )),
                    _ => {}
                }
                f.state = State::Open(open);
                self.watch_open(i, w);
            }
            Err(e) if is_out_of_fds(&e) => {
                // A new file: read from its start once it can be opened.
                self.files[i].state = State::Starved(None);
            }
            Err(e) if is_missing(&e) => {
                self.files[i].state = if matches!(was, State::Denied) {
                    State::Denied
                } else {
                    State::Missing
                };
                self.watch_nearest(i, w);
            }
            Err(e) => {
                self.files[i].state = was;
                self.deny(i, e);
            }
        }
    }

    /// Read every open input until it has nothing more (or has had its share of reads).
    /// With `verify` (after a wake-up by the files or a check of the names), the first
    /// bytes of each regular file are compared with those seen before reading on.
    fn read_all(&mut self, out: &mut dyn Stage, verify: bool, scope: Scope) -> Result<Round> {
        let mut round = Round::Idle;
        for i in 0..self.files.len() {
            let f = &self.files[i];
            let skip = match scope {
                Scope::All => false,
                Scope::Named => f.found && !f.poke,
                Scope::Poked => !f.poke,
            };
            // Pipes and FIFOs cost no read when there is nothing: always looked at.
            if skip && f.open().is_some_and(|o| o.kind == FileKind::Regular) {
                continue;
            }
            let r = self.read_input(i, out, verify)?;
            // More to read right away: looked at in the next round whatever the scope.
            self.files[i].poke = r == Round::Busy;
            match r {
                Round::Stop => return Ok(Round::Stop),
                Round::Busy => round = Round::Busy,
                Round::Idle => {}
            }
        }
        Ok(round)
    }

    fn read_input(&mut self, i: usize, out: &mut dyn Stage, verify: bool) -> Result<Round> {
        let Some(open) = self.files[i].open() else {
            return Ok(Round::Idle);
        };
        let (kind, fd) = (open.kind, open.file.as_raw_fd());
        // Before reading on: bytes past the old end may belong to a new content (truncated
        // and written again longer, between two looks) and must not be taken for an append.
        if verify
            && kind == FileKind::Regular
            && let Some(was) = self.truncated(i, true)?
            && self.after_truncation(i, was, out)?.is_stop()
        {
            return Ok(Round::Stop);
        }
        for _ in 0..READS_PER_ROUND {
            if kind != FileKind::Regular && !readable_now(fd) {
                return Ok(Round::Idle);
            }
            let room = self.reader.room();
            let (n, flow) = match self.fill(i, out) {
                Ok(r) => r,
                Err(e) if would_block(&e) => return Ok(Round::Idle),
                // Only a failed read is about this input; a stage's error ends the run.
                Err(e) if ReadError::is(&e) => {
                    let name = &self.files[i].name;
                    self.status
                        .soft_error(&e.context(format!("error reading {name}; giving up on it")));
                    self.files[i].state = State::Done;
                    return Ok(Round::Idle);
                }
                Err(e) => return Err(e),
            };
            if flow.is_stop() {
                return Ok(Round::Stop);
            }
            if n > 0 {
                // A short read reached the end of what is there: no second read to learn
                // it (each costs a system call per wake-up on a quiet log).
                if n < room && kind != FileKind::Stream {
                    return Ok(Round::Idle);
                }
                continue;
            }
            match kind {
                FileKind::Regular => {
                    if let Some(was) = self.truncated(i, false)? {
                        if self.after_truncation(i, was, out)?.is_stop() {
                            return Ok(Round::Stop);
                        }
                        continue;
                    }
                }
                FileKind::Fifo => self.reopen_fifo(i),
                FileKind::Stream => {
                    if self.finish(i, out)?.is_stop() {
                        return Ok(Round::Stop);
                    }
                    self.files[i].state = State::Done;
                }
            }
            return Ok(Round::Idle);
        }
        Ok(Round::Busy)
    }

    /// Was input `i`'s regular file truncated since it was last read? Then say so and go
    /// back to its start; what it was is given back (its first bytes and the offset read),
    /// to find its rotated copy (see [`Follow::after_truncation`]). At its end (`content`
    /// false) a size below what was read says so. After a wake-up (`content`), first bytes
    /// other than those seen there before say so — a truncation followed at once by a
    /// longer write (`: > f; echo longer >> f`) never shows a smaller size — and so do
    /// fewer first bytes than were seen there (a file that only grows never has fewer): the
    /// file was emptied, and what comes there now may be longer than what was read by the
    /// time it is read (issue 23, item 4). A rewrite of the same length or longer that
    /// begins with the same [`HEAD`] bytes cannot be told from an append (nor can GNU tail).
    fn truncated(&mut self, i: usize, content: bool) -> Result<Option<rotated::Wanted>> {
        let f = &mut self.files[i];
        let State::Open(open) = &mut f.state else {
            return Ok(None);
        };
        let was = rotated::Wanted {
            head_len: open.head.len,
            head_hash: fingerprint(&open.head.bytes[..open.head.len]),
            offset: open.offset,
            not: open.id,
        };
        let mut now = [0u8; HEAD];
        let rewritten = if content {
            // Unreadable: the read that follows reports it, for this file alone.
            let Ok(n) = read_head(&open.file, &mut now) else {
                return Ok(None);
            };
            let shrunk = n < open.head.len;
            let changed = shrunk || open.head.changed(&now[..n]);
            if changed {
                open.head.set(&now[..n]);
            }
            // Nothing read yet: the new content is read from its start anyway.
            changed && open.offset > 0
        } else {
            let size = open
                .file
                .metadata()
                .with_context(|| format!("error reading {}", f.name))?
                .len();
            if size < open.offset {
                // What is there now is what will be read: known from here on.
                let n = read_head(&open.file, &mut now).unwrap_or(0);
                open.head.set(&now[..n]);
            }
            size < open.offset
        };
        if !rewritten {
            return Ok(None);
        }
        note(format_args!("{}: file truncated", f.name));
        open.file
            .seek(SeekFrom::Start(0))
            .with_context(|| format!("error reading {}", f.name))?;
        open.offset = 0;
        Ok(Some(was))
    }

    /// Input `i`'s file was truncated (copytruncate) after it was read up to `was.offset`:
    /// the lines written before the truncation that were not read yet are read from its
    /// rotated copy (the sibling that begins as it began and reaches that offset, see
    /// [`rotated`]), the partial line held continuing there. Without one, a partial line
    /// held is not emitted (its rest is gone: it would be a fragment), and that is said.
    fn after_truncation(
        &mut self,
        i: usize,
        was: rotated::Wanted,
        out: &mut dyn Stage,
    ) -> Result<Flow> {
        if was.offset > 0
            && was.head_len > 0
            && let Some(found) = rotated::find(&self.files[i].path, was)
        {
            note(format_args!(
                "{}: reading what was not read yet of its old content from {}",
                self.files[i].name,
                found.path.display()
            ));
            return self.read_rotated_rest(i, found, out);
        }
        let bytes = if self.holder == Some(i) {
            self.reader.abandon()
        } else {
            self.files[i].partial.abandon()
        };
        if bytes > 0 {
            note(format_args!(
                "{}: the {bytes} bytes of a line read before the truncation were not emitted: no rotated copy holds its rest",
                self.files[i].name
            ));
        }
        Ok(Flow::Continue)
    }

    /// Read the rest of input `i`'s old content from its rotated copy (positioned where
    /// reading had got to), continuing its partial line; a partial line at the copy's end is
    /// emitted as it is (as for a file rotated away). Its lines go out under the input's
    /// name: they are its lines.
    fn read_rotated_rest(
        &mut self,
        i: usize,
        mut found: rotated::Found,
        out: &mut dyn Stage,
    ) -> Result<Flow> {
        self.select(i);
        loop {
            let announce = self.announced != Some(i);
            let f = &mut self.files[i];
            let mut feed = Feed {
                out,
                skip: &mut f.skip,
                origin: announce.then_some(Origin {
                    name: &f.name,
                    show: self.show,
                }),
            };
            let filled = self.reader.fill(&mut found.reader, &mut feed);
            let announced = feed.announced();
            let cuts = self.reader.take_cuts();
            note_cuts(cuts, &f.name, self.max_line, &self.meter, |_| {
                Place::Unknown
            });
            if announce && announced {
                self.announced = Some(i);
            }
            let (n, flow) = match filled {
                Ok(r) => r,
                Err(e) if ReadError::is(&e) => {
                    let shown = found.path.display().to_string();
                    self.status
                        .soft_error(&e.context(format!("error reading {shown} to its end")));
                    break;
                }
                Err(e) => return Err(e),
            };
            self.meter.read(n);
            if flow.is_stop() {
                return Ok(Flow::Stop);
            }
            if n == 0 {
                break;
            }
        }
        self.finish(i, out)
    }

    /// A named FIFO's writer went away: open it again, so that the end of file is not
    /// reported over and over and the next writer is read.
    fn reopen_fifo(&mut self, i: usize) {
        let f = &mut self.files[i];
        match open_path(&f.path) {
            Ok((file, meta)) if meta.file_type().is_fifo() => {
                f.state = State::Open(Open {
                    file,
                    id: (meta.dev(), meta.ino()),
                    offset: 0,
                    kind: FileKind::Fifo,
                    head: Head::empty(),
                    grown: Instant::now(),
                });
            }
            // Replaced by something else, or gone: the next name check sorts it out.
            _ => f.state = State::Missing,
        }
    }

    /// Make the shared reader hold input `i`'s partial line.
    fn select(&mut self, i: usize) {
        if self.holder == Some(i) {
            return;
        }
        if let Some(h) = self.holder {
            self.reader.stash(&mut self.files[h].partial);
        }
        let f = &mut self.files[i];
        self.reader.unstash(&mut f.partial);
        f.partial.clear();
        self.holder = Some(i);
    }

    /// One read of input `i`, its whole lines pushed: bytes read, and downstream's answer.
    fn fill(&mut self, i: usize, out: &mut dyn Stage) -> Result<(usize, Flow)> {
        self.select(i);
        let announce = self.announced != Some(i);
        let f = &mut self.files[i];
        let State::Open(open) = &mut f.state else {
            return Ok((0, Flow::Continue));
        };
        let mut feed = Feed {
            out,
            skip: &mut f.skip,
            origin: announce.then_some(Origin {
                name: &f.name,
                show: self.show,
            }),
        };
        let filled = self.reader.fill(&mut open.file, &mut feed);
        // Not placed: a followed file may have been rotated or truncated since.
        let cuts = self.reader.take_cuts();
        note_cuts(cuts, &f.name, self.max_line, &self.meter, |_| {
            Place::Unknown
        });
        let (n, flow) = filled?;
        if announce && feed.announced() {
            self.announced = Some(i);
        }
        open.offset += n as u64;
        if n > 0 {
            open.grown = Instant::now();
        }
        self.meter.read(n);
        Ok((n, flow))
    }

    /// Push input `i`'s partial line, if any.
    fn finish(&mut self, i: usize, out: &mut dyn Stage) -> Result<Flow> {
        if self.holder != Some(i) && self.files[i].partial.is_empty() {
            return Ok(Flow::Continue);
        }
        self.select(i);
        let announce = self.announced != Some(i);
        let f = &mut self.files[i];
        let mut feed = Feed {
            out,
            skip: &mut f.skip,
            origin: announce.then_some(Origin {
                name: &f.name,
                show: self.show,
            }),
        };
        let flow = self.reader.finish(&mut feed)?;
        if announce && feed.announced() {
            self.announced = Some(i);
        }
        Ok(flow)
    }

    /// A signal ends the follow: drop every partial line, saying so (their rest was never
    /// written yet, so they are no lines).
    fn abandon_all(&mut self) {
        for i in 0..self.files.len() {
            let bytes = if self.holder == Some(i) {
                self.reader.abandon()
            } else {
                self.files[i].partial.abandon()
            };
            report_unfinished(bytes, &self.files[i].name);
        }
    }

    /// The follow ends: push every partial line.
    fn finish_all(&mut self, out: &mut dyn Stage) -> Result<()> {
        for i in 0..self.files.len() {
            if self.finish(i, out)?.is_stop() {
                break;
            }
        }
        Ok(())
    }
}

/// How a file of type `ft` is read, if it can be followed at all (not a directory).
fn kind_of(ft: std::fs::FileType) -> Option<FileKind> {
    if ft.is_file() || ft.is_block_device() {
        Some(FileKind::Regular)
    } else if ft.is_fifo() {
        Some(FileKind::Fifo)
    } else if ft.is_char_device() {
        Some(FileKind::Stream)
    } else {
        None
    }
}

/// Open a name for reading without blocking on a FIFO that has no writer yet.
fn open_path(path: &Path) -> io::Result<(File, Metadata)> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    Ok((file, meta))
}

/// Whether `file` begins with the bytes whose fingerprint `s` keeps.
fn same_head(file: &File, s: &Saved) -> bool {
    let mut head = [0u8; HEAD];
    let want = (s.head_len as usize).min(HEAD);
    matches!(read_head(file, &mut head), Ok(n) if n >= want && fingerprint(&head[..want]) == s.head_hash)
}

/// A file of the state under a name of the directory it was in (a rotated log), by device
/// and inode (the first bytes are checked once it is open).
fn find_by_identity(s: &Saved) -> io::Result<Option<PathBuf>> {
    let abs = std::path::absolute(&s.path)?;
    let Some(dir) = abs.parent() else {
        return Ok(None);
    };
    for e in std::fs::read_dir(dir)?.flatten() {
        if std::os::unix::fs::DirEntryExt::ino(&e) != s.id.1 {
            continue;
        }
        let shown = s.path.parent().unwrap_or(Path::new("")).join(e.file_name());
        if std::fs::metadata(&shown).is_ok_and(|m| (m.dev(), m.ino()) == s.id) {
            return Ok(Some(shown));
        }
    }
    Ok(None)
}

/// Read the first bytes of `file` into `buf` (as many as there are, up to its length).
fn read_head(file: &File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The open failed for want of a descriptor (this process's limit, or the system's).
fn is_out_of_fds(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// The soft limit on open files (`ulimit -n`), if there is one.
fn open_file_limit() -> Option<libc::rlim_t> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the rlimit it is given.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0;
    (ok && lim.rlim_cur != libc::RLIM_INFINITY).then_some(lim.rlim_cur)
}

/// The name (or a directory on its way) does not exist.
fn is_missing(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR)
}

/// A read of a non-blocking FIFO found nothing to read.
fn would_block(e: &anyhow::Error) -> bool {
    ReadError::io(e).is_some_and(|io| io.kind() == io::ErrorKind::WouldBlock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::testing::Collect;

    /// A follow of `paths` that ends at once (its `--pid` process is gone).
    fn follow_once(paths: &[&Path], start: Start, show: Show) -> Collect {
        let mut f = follow_of(paths, start, show);
        let mut c = Collect::default();
        f.run(&mut c).unwrap();
        c
    }

    /// A follow of `paths` (not started) whose `--pid` process is gone.
    fn follow_of(paths: &[&Path], start: Start, show: Show) -> Follow {
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        gone.wait().unwrap();
        Follow {
            files: paths
                .iter()
                .map(|p| Followed::new(p, start.skip()).unwrap())
                .collect(),
            globs: None,
            glob_watches: Vec::new(),
            found: Vec::new(),
            free: Vec::new(),
            counts: FileCounts::default(),
            reserve: None,
            checkpoint: None,
            start,
            show,
            pid: Some(gone.id() as i32),
            poll: Some(Duration::from_millis(10)),
            reader: LineReader::with_capacity(4096),
            max_line: crate::source::reader::MAX_LINE,
            holder: None,
            announced: None,
            meter: Meter::default(),
            interrupt: Interrupt::none(),
            status: Status::default(),
            streams: Vec::new(),
            regular: Vec::new(),
            files_watched: false,
            recheck: false,
            out_of_fds: false,
            said_starved: false,
            said_parked: false,
            timers: crate::runtime::timer::Timers::default(),
            ended: false,
            archives: Default::default(),
            rotate_wait: Duration::from_secs(5),
        }
    }

    /// Issue 23, item 4: a file looked at right after it was emptied (`: > f`), before the
    /// longer line written next arrives, is seen as truncated then and there — not taken
    /// for a shorter head, forgotten, and read on from the old offset once the new line
    /// makes it longer than that (which printed the fragment `ytruncate`).
    #[test]
    fn a_file_emptied_between_two_looks_is_truncated_even_if_longer_by_the_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("app.log");
        std::fs::write(&p, "10:03 ERROR in the new file\n").unwrap();
        let mut f = follow_of(&[&p], Start::Last(10), Show::Hidden);
        let (file, meta) = open_path(&p).unwrap();
        let mut open = f.admit(0, file, &meta).unwrap();
        open.offset = meta.len();
        f.files[0].state = State::Open(open);
        // The wake-up's look, between `: > app.log` and the write of the new line.
        std::fs::write(&p, "").unwrap();
        let was = f.truncated(0, true).unwrap().expect("seen as truncated");
        assert_eq!(was.offset, 28);
        assert_eq!(f.files[0].open().unwrap().offset, 0);
        // The new line, longer than the old offset: read from the start.
        std::fs::write(&p, "10:04 error after copytruncate\n").unwrap();
        assert!(f.truncated(0, false).unwrap().is_none());
        let mut c = Collect::default();
        f.read_input(0, &mut c, false).unwrap();
        f.finish_all(&mut c).unwrap();
        assert_eq!(c.lines(), [b"10:04 error after copytruncate".to_vec()]);
    }

    #[test]
    fn head_compares_only_the_prefix_both_know() {
        let mut h = Head::empty();
        assert!(!h.changed(b"ab"));
        // Grown: an append, and now more is known.
        assert!(!h.changed(b"abcd"));
        assert_eq!(&h.bytes[..h.len], b"abcd");
        // Other bytes where some were known: rewritten.
        assert!(h.changed(b"abXd"));
        assert!(h.changed(b"aX"));
        // Shorter with the same bytes: for the size to tell.
        assert!(!h.changed(b"ab"));
        assert_eq!(h.len, 2);
    }

    #[test]
    fn batches_are_not_flushed_per_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.log");
        let text: String = (0..10_000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&p, &text).unwrap();
        let c = follow_once(&[&p], Start::From(1), Show::Hidden);
        assert_eq!(c.lines().len(), 10_000);
        let flushes = c.calls.iter().filter(|c| c == &b"\0flush").count();
        assert!(flushes <= 2, "{flushes} flushes for 10,000 lines");
    }

    #[test]
    fn origins_only_before_lines_of_another_input() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, e) = (
            dir.path().join("a"),
            dir.path().join("b"),
            dir.path().join("empty"),
        );
        std::fs::write(&a, "a1\na2\na3").unwrap();
        std::fs::write(&b, "b1\n").unwrap();
        std::fs::write(&e, "").unwrap();
        let c = follow_once(&[&e, &a, &b], Start::Last(2), Show::Header);
        let calls: Vec<String> = c
            .calls
            .iter()
            .filter(|c| c != &b"\0flush")
            .map(|c| String::from_utf8_lossy(c).replace(dir.path().to_str().unwrap(), ""))
            .collect();
        // The empty file never announces itself; a's partial last line comes at the end,
        // under a's name again.
        assert_eq!(
            calls,
            [
                "\0origin /a",
                "a2",
                "\0origin /b",
                "b1",
                "\0origin /a",
                "a3"
            ]
        );
    }
}
