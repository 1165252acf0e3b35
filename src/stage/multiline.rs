//! `multiline` — join lines into events: a Java stack trace, a Python traceback, a log
//! message continued on indented lines.
//!
//! Two modes. `--start REGEX`: a line that matches begins a new event, every other line is
//! appended to the open one. `--continue REGEX`: a line that matches is appended to the open
//! event, every other line begins a new one. The event goes on as one line whose inner
//! newlines are kept (`print` prints its lines; a parser after it puts them in a field).
//!
//! An event is held until the line that begins the next one. When the source waits for
//! input (`flush`: a followed file with nothing new) an open event is given `--timeout` more
//! to grow, then sent on from a timer of the scheduler (`Stage::tick`), so the last stack
//! trace of a quiet log shows up; at the end of the stream it is sent at once, and so it is
//! when the input changes (`origin`: events do not span files). The timer is asked for only
//! when the source can wait (`Source::waits`: `follow`, `listen`, a pipe): after `cat` of
//! files, which never waits, the pipeline keeps the direct path, with no scheduler. Bounded: an event that
//! would pass `--max-lines` lines or `--max-bytes` bytes is sent as it is, and the line
//! begins a new one. The hot path appends to one reused buffer: no allocation per line.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{ArgMatches, FromArgMatches, Parser};
use regex::bytes::{Regex, RegexBuilder};

use crate::item::{Item, Kind, Origin};
use crate::protocol::def::{Build, BuildCx, Emits, Role, StageDef};
use crate::protocol::{Flow, Stage};

/// Join lines into multiline events (stack traces, tracebacks, continued messages).
///
/// With --start, a line matching REGEX begins a new event and every other line is appended
/// to the open one; with --continue, a line matching REGEX is appended to the open event
/// and every other line begins a new one. Each event goes on as one line with its inner
/// newlines kept: `print` shows its lines, a parser after it (`parse`, `logfmt` …) sees
/// them in a field (the regex of `parse` needs `(?s)` for `.` to cross them).
///
/// An open event is sent on when the next one begins, at the end of the input, when the
/// input changes to another file, and, when the source waits for more (`follow`, `listen`,
/// a pipe), after --timeout without new lines. An event that would grow past --max-lines lines or
/// --max-bytes bytes is sent as it is and the line begins a new event.
#[derive(Parser)]
#[command(name = "multiline", disable_version_flag = true)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["start", "continue_"])))]
pub struct Args {
    /// A line matching this regex begins a new event; the others are appended.
    #[arg(long, value_name = "REGEX")]
    pub start: Option<String>,
    /// A line matching this regex is appended to the open event; the others begin one.
    #[arg(long = "continue", id = "continue_", value_name = "REGEX")]
    pub continue_: Option<String>,
    /// The most lines in one event; past it the event is sent and a new one begins.
    #[arg(long, value_name = "N", default_value_t = 500)]
    pub max_lines: usize,
    /// The most bytes in one event (`64K`, `1M` or a number); past it the event is sent and
    /// a new one begins (a single longer line is still one event).
    #[arg(long, value_name = "BYTES", default_value = "1M", value_parser = crate::runtime::units::parse_size)]
    pub max_bytes: usize,
    /// How long an open event waits for more lines once the input is quiet (`500ms`, `1s`,
    /// `2m`) before it is sent on.
    #[arg(long, value_name = "DURATION", default_value = "1s",
          value_parser = crate::runtime::units::parse_duration)]
    pub timeout: Duration,
}

pub const DEF: StageDef = StageDef {
    name: "multiline",
    aliases: &[],
    role: Role::Filter,
    summary: "join lines into events (stack traces): --start RE or --continue RE",
    accepts: &[Kind::Line],
    emits: Emits::Kind(Kind::Line),
    examples: &[
        r"copipe follow app.log : multiline --start '^\d{4}-\d\d-\d\d ' : grep Exception",
        r"copipe cat worker.log : multiline --continue '^(\s|Caused by:)' : print",
        r"copipe cat app.log : multiline --start '^\S' : parse '(?s)^(?P<time>\S+) (?P<msg>.*)'",
    ],
    command: <Args as clap::CommandFactory>::command,
    fusion: None,
    build: Build::Filter(build),
};

fn build(m: &ArgMatches, cx: &BuildCx<'_>, next: Box<dyn Stage>) -> Result<Box<dyn Stage>> {
    let a = Args::from_arg_matches(m)?;
    let (pat, starts) = match (&a.start, &a.continue_) {
        (Some(p), None) => (p, true),
        (None, Some(p)) => (p, false),
        _ => bail!("give one of --start and --continue"),
    };
    if a.max_lines == 0 {
        bail!("--max-lines must be at least 1");
    }
    let re = RegexBuilder::new(pat)
        .crlf(cx.opts.crlf)
        .build()
        .with_context(|| format!("bad pattern {pat:?}"))?;
    Ok(Box::new(Multiline {
        joiner: Joiner::new(re, starts, a.max_lines, a.max_bytes),
        timeout: a.timeout,
        // Only a source that can wait leaves an event open for long: with one that never
        // waits (`cat` of files) the end of the input sends it, no timer is needed, and the
        // pipeline keeps the direct path.
        timer: cx.source_waits.then(|| cx.timers.timer()),
        deadline: None,
        stopped: false,
        origin: String::new(),
        next,
    }))
}

/// The joining itself, apart from the clock: lines in, whole events out.
pub struct Joiner {
    re: Regex,
    /// `--start` (a match begins an event) rather than `--continue` (a match is appended).
    starts: bool,
    max_lines: usize,
    max_bytes: usize,
    /// The open event's text, its lines joined by `\n`.
    buf: Vec<u8>,
    /// How many lines it holds (0: no event is open).
    lines: usize,
}

impl Joiner {
    pub fn new(re: Regex, starts: bool, max_lines: usize, max_bytes: usize) -> Self {
        Joiner {
            re,
            starts,
            max_lines,
            max_bytes,
            buf: Vec::with_capacity(4096),
            lines: 0,
        }
    }

    /// Whether an event is open.
    pub fn is_open(&self) -> bool {
        self.lines > 0
    }

    /// Take one line: whether the open event is complete and must be sent (with
    /// [`Joiner::event`], then [`Joiner::begin`] with the same line) before the line
    /// begins a new one; `false` when the line was appended or began the first event.
    pub fn push(&mut self, line: &[u8]) -> bool {
        if self.lines == 0 {
            self.begin(line);
            return false;
        }
        let matched = self.re.is_match(line);
        let append = if self.starts { !matched } else { matched };
        let fits = self.lines < self.max_lines && self.buf.len() + 1 + line.len() <= self.max_bytes;
        if append && fits {
            self.buf.push(b'\n');
            self.buf.extend_from_slice(line);
            self.lines += 1;
            false
        } else {
            true
        }
    }

    /// The open event.
    pub fn event(&self) -> &[u8] {
        &self.buf
    }

    /// Begin a new event with `line`, dropping the open one.
    pub fn begin(&mut self, line: &[u8]) {
        self.buf.clear();
        self.buf.extend_from_slice(line);
        self.lines = 1;
    }

    /// Drop the open event (after it was sent).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.lines = 0;
    }
}

struct Multiline {
    joiner: Joiner,
    timeout: Duration,
    /// `None` when the source never waits.
    timer: Option<crate::runtime::timer::Timer>,
    /// When the open event is to be sent if no line comes first: set when the source
    /// waits (`flush`), cleared by every line.
    deadline: Option<Instant>,
    /// The next stage wants nothing more.
    stopped: bool,
    /// The name of the input the lines come from (the last `origin`).
    origin: String,
    next: Box<dyn Stage>,
}

impl Multiline {
    /// Send the open event on, if there is one.
    fn send_open(&mut self) -> Result<Flow> {
        self.deadline = None;
        if !self.joiner.is_open() || self.stopped {
            return Ok(if self.stopped {
                Flow::Stop
            } else {
                Flow::Continue
            });
        }
        let flow = self.next.send(Item::Line(self.joiner.event()))?;
        self.joiner.clear();
        if flow.is_stop() {
            self.stopped = true;
        }
        Ok(flow)
    }
}

impl Stage for Multiline {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        let Item::Line(line) = item else {
            bail!("multiline takes lines, not {}", item.kind().plural());
        };
        self.deadline = None;
        if self.joiner.push(line) {
            let flow = self.next.send(Item::Line(self.joiner.event()))?;
            self.joiner.begin(line);
            if flow.is_stop() {
                self.stopped = true;
                return Ok(Flow::Stop);
            }
        }
        Ok(Flow::Continue)
    }

    fn origin(&mut self, origin: Origin<'_>) -> Result<()> {
        // Events do not span inputs (a source may announce the same one again, as `listen
        // --tag` does for each datagram: that does not end the event).
        if origin.name != self.origin {
            let _ = self.send_open()?;
            self.origin.clear();
            self.origin.push_str(origin.name);
        }
        self.next.origin(origin)
    }

    fn flush(&mut self) -> Result<()> {
        // The source is about to wait: give the open event --timeout more to grow.
        if let Some(timer) = &self.timer
            && self.joiner.is_open()
            && self.deadline.is_none()
        {
            let at = Instant::now() + self.timeout;
            self.deadline = Some(at);
            timer.wake_at(at);
        }
        // Said here, where a checkpointing source looks (after its flush), not per line.
        if let Some(t) = &self.timer {
            t.holding(self.joiner.is_open());
        }
        self.next.flush()
    }

    fn tick(&mut self, now: Instant) -> Result<()> {
        if self.deadline.is_some_and(|d| now >= d) {
            let _ = self.send_open()?;
            self.next.flush()?;
            if let Some(t) = &self.timer {
                t.holding(self.joiner.is_open());
            }
        }
        self.next.tick(now)
    }

    fn close(&mut self) -> Result<()> {
        let _ = self.send_open()?;
        self.next.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(
        re: &str,
        starts: bool,
        max_lines: usize,
        max_bytes: usize,
        input: &[&str],
    ) -> Vec<String> {
        let mut j = Joiner::new(Regex::new(re).unwrap(), starts, max_lines, max_bytes);
        let mut out = Vec::new();
        for l in input {
            if j.push(l.as_bytes()) {
                out.push(String::from_utf8_lossy(j.event()).into_owned());
                j.begin(l.as_bytes());
            }
        }
        if j.is_open() {
            out.push(String::from_utf8_lossy(j.event()).into_owned());
        }
        out
    }

    #[test]
    fn start_mode_appends_the_lines_that_do_not_match() {
        let got = join(
            r"^\d",
            true,
            500,
            1 << 20,
            &["1 a", "  at x", "  at y", "2 b", "3 c", " z"],
        );
        assert_eq!(got, ["1 a\n  at x\n  at y", "2 b", "3 c\n z"]);
    }

    #[test]
    fn leading_lines_before_the_first_start_make_an_event_of_their_own() {
        let got = join(r"^\d", true, 500, 1 << 20, &[" junk", " more", "1 a"]);
        assert_eq!(got, [" junk\n more", "1 a"]);
    }

    #[test]
    fn continue_mode_appends_the_lines_that_match() {
        let got = join(
            r"^\s",
            false,
            500,
            1 << 20,
            &["a", " b", " c", "d", "e", " f"],
        );
        assert_eq!(got, ["a\n b\n c", "d", "e\n f"]);
    }

    #[test]
    fn max_lines_and_max_bytes_cut_an_event() {
        let got = join(r"^S", true, 3, 1 << 20, &["S", "1", "2", "3", "4", "S"]);
        assert_eq!(got, ["S\n1\n2", "3\n4", "S"]);
        let got = join(r"^S", true, 500, 7, &["S", "abc", "de", "S"]);
        assert_eq!(got, ["S\nabc", "de", "S"]);
    }

    #[test]
    fn the_same_origin_announced_again_does_not_end_the_event() {
        use crate::item::Show;
        use crate::protocol::testing::Collect;
        let c = Collect::shared();
        let timers = crate::runtime::timer::Timers::default();
        let mut m = Multiline {
            joiner: Joiner::new(Regex::new("^S").unwrap(), true, 500, 1 << 20),
            timeout: Duration::from_secs(1),
            timer: Some(timers.timer()),
            deadline: None,
            stopped: false,
            origin: String::new(),
            next: Box::new(c.clone()),
        };
        let o = |name| Origin {
            name,
            show: Show::Tag,
        };
        m.origin(o("peer1")).unwrap();
        let _ = m.send(Item::Line(b"S1")).unwrap();
        m.origin(o("peer1")).unwrap();
        let _ = m.send(Item::Line(b" c1")).unwrap();
        m.origin(o("peer2")).unwrap();
        let _ = m.send(Item::Line(b" c2")).unwrap();
        m.close().unwrap();
        assert_eq!(c.borrow().strings(), ["S1\n c1", " c2"]);
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(crate::runtime::units::parse_size("1M"), Ok(1 << 20));
        assert_eq!(crate::runtime::units::parse_size("64k"), Ok(64 << 10));
        assert_eq!(crate::runtime::units::parse_size("100"), Ok(100));
        assert!(crate::runtime::units::parse_size("0").is_err());
        assert!(crate::runtime::units::parse_size("x").is_err());
    }
}
