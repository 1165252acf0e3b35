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
//! * each input's [`Origin`](crate::item::Origin) is sent just before its first line after another input's
//!   (never for an input with nothing new), with `Show::Hidden` under `-q` or for one file;
//! * lines travel as whole-buffer batches; output is flushed only when the source is about
//!   to wait (see [`Stage::flush`](crate::protocol::Stage::flush)), never per line;
//! * the source sleeps in one `poll` (see [`wait`]) woken by file-system notifications, a
//!   signal, standard output's reader going away, the `--pid` process exiting, a readable
//!   pipe, or a timeout (the `--poll` interval, or a once-a-second safety check of every
//!   name); there is no busy loop.
//!
//! Problems with one name (permission denied, a directory) are reported once (exit status 2
//! at the end) and the other names go on being followed; a name that cannot be opened, or
//! that is a directory, is retried on every check.
//!
//! Here: the options, the build, and `Follow`'s fields. Its work is split by concern, each
//! an `impl Follow` of its own (as Vector splits its file server, watcher and checkpointer):
//!
//! * `rounds` drives the follow: a round of checks and reads, the wait, the task;
//! * `names` follows a name: opened at start, watched, checked, reopened;
//! * `discovery` walks the globs: files found, renamed within them or out of them;
//! * `parking` copes with too few descriptors: quiet files closed and reopened;
//! * `reading` reads the open inputs, and finds truncations;
//! * `copies` keeps a rotated copy the globs also match from being read twice;
//! * `checkpoint` takes and writes `--state`, and resumes from it;
//! * `file` is one followed name and its file's state, what all the others work on.
//!
//! Below them: [`wait`] (the one `poll`), [`data`] (the files' own inotify watches),
//! [`change`] (the kinds of change both report), [`glob`], [`start`] (`-n`), [`state`] (the
//! state file), [`rotated`] (a rotated copy found by its first bytes), `archive`.

#[cfg(target_os = "linux")]
mod archive;
pub mod change;
mod checkpoint;
mod copies;
pub mod data;
mod discovery;
mod file;
pub mod glob;
mod names;
mod parking;
mod reading;
pub mod rotated;
mod rounds;
pub mod start;
pub mod state;
pub mod wait;

use std::fs::File;
use std::io;
use std::os::fd::RawFd;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{ArgMatches, FromArgMatches, Parser};

use crate::item::{Kind, Show};
use crate::protocol::Source;
use crate::protocol::def::{Build, BuildCx, Emits, Role, StageDef, Status};
use crate::runtime::meter::{FileCounts, Meter};
use crate::runtime::signal::Interrupt;
use crate::source::reader::LineReader;

use glob::{Found, Globs, Pattern};
use start::Start;

use checkpoint::Checkpoint;
use file::{Followed, HEAD, Head, State, same_head};
pub use rounds::FollowTask;

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
bytes, and the offset after the last line written and flushed), written atomically after
every flushed batch (synced to the disk at most every 250 ms) and at the end. Started again
with the same FILE, each file goes on from there instead of -n: after a clean stop every
line comes exactly once; after kill -9, no line is lost and only the batch in flight comes
twice. A file rotated meanwhile is found by identity (among the globs, or in
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
    /// flushed), after every flushed batch and at the end; started again with the same FILE,
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
        value_parser = crate::runtime::units::parse_duration
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
        copies: Vec::new(),
    }))
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
    /// Rotated copies read (as the lines of the file they copy) up to an offset: by device
    /// and inode. Should a glob find one later (`*.log*`), it is read from there, not again
    /// from its start. The newest few.
    copies: Vec<((u64, u64), u64)>,
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

#[cfg(test)]
mod tests {
    use super::file::open_path;
    use super::*;
    use crate::protocol::testing::Collect;
    use std::path::Path;

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
            copies: Vec::new(),
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
