//! grep's output options on lines, in GNU grep's formats: `-n`, `-b`, `-H`, `-o`, `-c`,
//! `-l`, `-L`, `-q`, `-m`, context (`-A -B -C`, group separators) and colours.
//!
//! The search stays the whole-batch one of [`Matcher::runs`]: only the selected lines and
//! the lines of context around them are looked at one by one. Line numbers are counted only
//! under `-n`, over the gaps between selected lines, with one pass of `memchr`. What a batch
//! gives is written into one reused buffer and passed on as one batch.
//!
//! Inputs are told apart by the origins the source announces ([`Origin`]): with `cat`
//! (`Inputs::renumber`) each origin starts a new input; with `follow` an origin comes again
//! when the source switches back to a name, whose numbering and counts go on (kept for at
//! most [`MAX_NAMES`] names).

use std::collections::{HashMap, VecDeque};

use anyhow::Result;
use memchr::{memchr, memrchr};

use super::{Args, Matcher};
use crate::item::{Origin, Show, count_lines};
use crate::protocol::def::{BuildCx, Status};
use crate::protocol::{Flow, Stage};

/// The most inputs whose numbering and counts are kept while another is read (`follow`
/// of many names, `listen`'s clients); beyond, an input that comes back starts afresh.
const MAX_NAMES: usize = 10_000;

/// What is written for the selected lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The lines (with their context).
    Lines,
    /// `-o`: each match.
    Only,
    /// `-c`: a count per input.
    Count,
    /// `-l`: the names of inputs with a selected line.
    WithMatch,
    /// `-L`: the names of inputs without one.
    WithoutMatch,
    /// `-q`: nothing.
    Quiet,
}

impl Mode {
    /// One line per input rather than lines: file names are always shown when there are
    /// several inputs.
    fn summary(self) -> bool {
        matches!(self, Mode::Count | Mode::WithMatch | Mode::WithoutMatch)
    }
}

/// GNU grep's colours (`GREP_COLORS`): SGR parameters, empty for none.
#[derive(Clone, Debug)]
struct Colors {
    /// Matches in selected lines (`ms`), in context lines (`mc`).
    ms: String,
    mc: String,
    /// File names, line numbers, byte offsets, separators.
    fname: String,
    ln: String,
    bn: String,
    se: String,
    /// `ne`: no `\x1b[K` after each sequence.
    ne: bool,
}

impl Colors {
    /// GNU grep's defaults, changed by `GREP_COLORS` (`ms=01;31:fn=35:…`; capabilities
    /// grep has that are not listed here, `sl`, `cx` and `rv`, are ignored).
    fn from_env() -> Self {
        Self::parse(std::env::var("GREP_COLORS").ok().as_deref())
    }

    /// The colours that a `GREP_COLORS` value (or none) gives.
    fn parse(spec: Option<&str>) -> Self {
        let mut c = Colors {
            ms: "01;31".into(),
            mc: "01;31".into(),
            fname: "35".into(),
            ln: "32".into(),
            bn: "32".into(),
            se: "36".into(),
            ne: false,
        };
        let Some(spec) = spec else {
            return c;
        };
        for cap in spec.split(':') {
            let (key, val) = cap.split_once('=').unwrap_or((cap, ""));
            // Only SGR parameters: digits and `;`.
            if !val.bytes().all(|b| b.is_ascii_digit() || b == b';') {
                continue;
            }
            let val = val.to_string();
            match key {
                "mt" => {
                    c.ms = val.clone();
                    c.mc = val;
                }
                "ms" => c.ms = val,
                "mc" => c.mc = val,
                "fn" => c.fname = val,
                "ln" => c.ln = val,
                "bn" => c.bn = val,
                "se" => c.se = val,
                "ne" => c.ne = true,
                _ => {}
            }
        }
        c
    }
}

/// Append `text`, coloured with `sgr` when there are colours.
fn paint(out: &mut Vec<u8>, colors: Option<&Colors>, sgr: fn(&Colors) -> &str, text: &[u8]) {
    match colors {
        Some(c) if !sgr(c).is_empty() => {
            out.extend_from_slice(b"\x1b[");
            out.extend_from_slice(sgr(c).as_bytes());
            out.push(b'm');
            if !c.ne {
                out.extend_from_slice(b"\x1b[K");
            }
            out.extend_from_slice(text);
            out.extend_from_slice(b"\x1b[m");
            if !c.ne {
                out.extend_from_slice(b"\x1b[K");
            }
        }
        _ => out.extend_from_slice(text),
    }
}

/// One input's state.
#[derive(Default)]
struct Input {
    /// The name as grep shows it (`(standard input)` for standard input).
    name: String,
    /// File names go in front of its lines.
    named: bool,
    /// Its lines seen so far (counted under `-n` only).
    line: u64,
    /// Its bytes seen so far.
    offset: u64,
    selected: u64,
    /// `-m` reached or `-l` answered: the rest of it is skipped (after the trailing context).
    done: bool,
    /// Lines of after-context still to print.
    after_left: u64,
    /// The offset just after the last line printed from it.
    last_end: Option<u64>,
    /// An origin announced it, or it gave lines.
    started: bool,
}

/// The most bytes of before-context kept across batches: `-B 1000000` over lines that do
/// not match must not hold the whole input.
const RING_BYTES: usize = 32 << 20;

/// The last lines not printed, for before-context across batches.
#[derive(Default)]
struct Ring {
    lines: VecDeque<(Vec<u8>, u64)>,
    bytes: usize,
    /// Lines were dropped for [`RING_BYTES`] (said once on stderr).
    cut: bool,
}

impl Ring {
    fn clear(&mut self) {
        self.lines.clear();
        self.bytes = 0;
    }

    fn push(&mut self, line: &[u8], offset: u64, keep: u64) {
        self.lines.push_back((line.to_vec(), offset));
        self.bytes += line.len();
        while self.lines.len() as u64 > keep || self.bytes > RING_BYTES {
            let Some((old, _)) = self.lines.pop_front() else {
                break;
            };
            self.bytes -= old.len();
            if self.lines.len() as u64 >= keep {
                continue;
            }
            if !self.cut {
                self.cut = true;
                crate::say!(
                    "copipe: grep: before-context kept to its last {} MiB across reads",
                    RING_BYTES >> 20
                );
            }
        }
    }
}

/// The options, fixed at build time.
struct Config {
    mode: Mode,
    number: bool,
    byte_offset: bool,
    /// `-H` (`Some(true)`) or `-h` (`Some(false)`).
    names: Option<bool>,
    several: bool,
    renumber: bool,
    after: u64,
    before: u64,
    /// A context option was given (even 0): groups are separated.
    context: bool,
    /// The separator before an input's first group is the main thread's (see
    /// `Inputs::separated_after`).
    separated_after: bool,
    separator: Option<Vec<u8>>,
    max: Option<u64>,
    colors: Option<Colors>,
    invert: bool,
}

/// The grep of a stage with output options on lines (see the module docs).
pub(super) struct Report {
    m: Matcher,
    st: State,
}

struct State {
    cfg: Config,
    status: Status,
    /// A line was selected in the whole run.
    any: bool,
    /// Downstream wants nothing more.
    stopped: bool,
    cur: Input,
    /// The other inputs (not with `renumber`), by name, and the order they came in.
    saved: HashMap<String, Input>,
    order: Vec<String>,
    /// Something was printed (a group separator goes before the next group).
    used: bool,
    ring: Ring,
    out: Vec<u8>,
    scratch: Vec<u8>,
    /// In the batch being read: the offset of its start, where the lines not yet accounted
    /// for start, where the last printed line ends, and whether one was.
    base: u64,
    cursor: usize,
    printed_to: usize,
    printed_here: bool,
    /// A `-P` match that gave up while the parts of a selected line were found (`-o`,
    /// `--color`): the batch's error, said after what was printed before that line.
    gave_up: Option<anyhow::Error>,
}

impl Report {
    pub(super) fn new(a: &Args, m: Matcher, colored: bool, cx: &BuildCx<'_>) -> Self {
        let mode = if a.quiet {
            Mode::Quiet
        } else if a.files_with_matches {
            Mode::WithMatch
        } else if a.files_without_match {
            Mode::WithoutMatch
        } else if a.count {
            Mode::Count
        } else if a.only_matching {
            Mode::Only
        } else {
            Mode::Lines
        };
        let after = a.after_context.or(a.context).unwrap_or(0);
        let before = a.before_context.or(a.context).unwrap_or(0);
        let separator = if a.no_group_separator {
            None
        } else {
            Some(
                a.group_separator
                    .as_ref()
                    .map_or(b"--".to_vec(), |s| s.as_encoded_bytes().to_vec()),
            )
        };
        let names = if a.with_filename {
            Some(true)
        } else if a.no_filename {
            Some(false)
        } else {
            None
        };
        let cfg = Config {
            mode,
            number: a.line_number,
            byte_offset: a.byte_offset,
            names,
            several: cx.inputs.several,
            renumber: cx.inputs.renumber,
            after,
            before,
            context: a.context_given() && matches!(mode, Mode::Lines | Mode::Only),
            separated_after: cx.inputs.separated_after,
            separator,
            // No pattern: nothing can be selected, and GNU grep reads nothing (as -m 0).
            max: if m.nothing && !m.invert {
                Some(0)
            } else {
                a.max_count
            },
            colors: colored.then(Colors::from_env),
            invert: m.invert,
        };
        let mut cur = Input {
            name: "(standard input)".into(),
            ..Input::default()
        };
        cur.done = cfg.max == Some(0);
        cur.named = cfg.names == Some(true);
        Report {
            m,
            st: State {
                cfg,
                status: cx.status.clone(),
                any: false,
                stopped: false,
                cur,
                saved: HashMap::new(),
                order: Vec::new(),
                used: false,
                ring: Ring::default(),
                out: Vec::new(),
                scratch: Vec::new(),
                base: 0,
                cursor: 0,
                printed_to: 0,
                printed_here: false,
                gave_up: None,
            },
        }
    }

    /// The line that separates groups of context lines, as this grep prints it (coloured
    /// where it colours), if it separates groups.
    pub(super) fn separator_line(&self) -> Option<Vec<u8>> {
        let cfg = &self.st.cfg;
        let sep = cfg.separator.as_ref().filter(|_| cfg.context)?;
        let mut out = Vec::new();
        paint(&mut out, cfg.colors.as_ref(), |c| &c.se, sep);
        out.push(b'\n');
        Some(out)
    }

    /// One line pushed alone: searched as a batch of one line.
    pub(super) fn line(&mut self, line: &[u8], next: &mut dyn Stage) -> Result<Flow> {
        let mut one = std::mem::take(&mut self.st.scratch);
        one.clear();
        one.extend_from_slice(line);
        one.push(b'\n');
        let flow = self.lines(&one, next);
        self.st.scratch = one;
        flow
    }

    pub(super) fn lines(&mut self, batch: &[u8], next: &mut dyn Stage) -> Result<Flow> {
        let st = &mut self.st;
        if st.stopped || st.cfg.max == Some(0) {
            // (-m 0: GNU grep reads nothing and prints nothing, not even -c's 0.)
            return Ok(Flow::Stop);
        }
        st.cur.started = true;
        if batch.is_empty() {
            return Ok(Flow::Continue);
        }
        if !(st.cur.done && st.cur.after_left == 0) {
            st.base = st.cur.offset;
            st.cursor = 0;
            st.printed_to = 0;
            st.printed_here = false;
            match st.cfg.mode {
                Mode::Lines | Mode::Only => {
                    if !st.cur.done {
                        let m = &self.m;
                        let walked = m.runs(batch, |run| {
                            let s = run.as_ptr() as usize - batch.as_ptr() as usize;
                            Ok(st.run(m, batch, s, s + run.len()))
                        });
                        if let Err(e) = walked {
                            // (-P gave up on a line: what was printed before it goes out.)
                            st.emit(next)?;
                            return Err(e);
                        }
                        if let Some(e) = st.gave_up.take() {
                            // (-P gave up finding the parts of a selected line: the line's
                            // parts found so far and what was printed before go out.)
                            st.emit(next)?;
                            return Err(e);
                        }
                    }
                    st.gap(&self.m, batch, batch.len());
                    if let Some(e) = st.gave_up.take() {
                        st.emit(next)?;
                        return Err(e);
                    }
                    st.keep_tail(batch);
                }
                _ => {
                    if let Err(e) = st.tally(&self.m, batch) {
                        // (-P gave up on a line: this input's count or -L's answer would be
                        // wrong, so it gets none, as GNU grep stops there; the inputs
                        // before it, and follow's other names, keep theirs.)
                        st.cur.started = false;
                        return Err(e);
                    }
                }
            }
            st.emit(next)?;
        }
        st.cur.offset += batch.len() as u64;
        Ok(st.flow())
    }

    pub(super) fn origin(&mut self, origin: Origin<'_>, next: &mut dyn Stage) -> Result<()> {
        let st = &mut self.st;
        let name = if origin.name == "standard input" {
            "(standard input)".to_string()
        } else {
            origin.name.to_string()
        };
        if st.cfg.renumber {
            st.finish_current();
            st.cur = st.fresh(name);
        } else if !(st.cur.started && st.cur.name == name) {
            let back = st.saved.remove(&name);
            let new = back.unwrap_or_else(|| {
                if st.order.len() < MAX_NAMES {
                    st.order.push(name.clone());
                }
                st.fresh(name.clone())
            });
            let old = std::mem::replace(&mut st.cur, new);
            if old.started && st.saved.len() < MAX_NAMES {
                st.saved.insert(old.name.clone(), old);
            }
        }
        st.cur.started = true;
        st.ring.clear();
        if st.cfg.separated_after {
            st.used = false;
        }
        st.cur.named = match st.cfg.names {
            Some(n) => n,
            None => {
                (st.cfg.several && (st.cfg.renumber || st.cfg.mode.summary()))
                    || origin.show == Show::Tag
            }
        };
        let show = if st.cur.named || st.cfg.mode != Mode::Lines && st.cfg.mode != Mode::Only {
            Show::Hidden
        } else {
            origin.show
        };
        st.emit(next)?;
        next.origin(Origin {
            name: origin.name,
            show,
        })
    }

    pub(super) fn close(&mut self, next: &mut dyn Stage) -> Result<()> {
        let st = &mut self.st;
        if st.cfg.renumber {
            st.finish_current();
        } else {
            let cur = std::mem::take(&mut st.cur);
            if cur.started {
                st.saved.insert(cur.name.clone(), cur);
            }
            for name in std::mem::take(&mut st.order) {
                if let Some(input) = st.saved.remove(&name) {
                    st.cur = input;
                    st.finish_current();
                }
            }
        }
        st.status.report_selection(st.any);
        if st.any && st.cfg.mode == Mode::Quiet {
            st.status.quiet_selected();
        }
        if !st.stopped {
            st.emit(next)?;
        }
        Ok(())
    }
}

/// The end of the line that starts at `s` (after its `\n`), within `batch[..to]`.
fn line_end(batch: &[u8], s: usize, to: usize) -> usize {
    memchr(b'\n', &batch[s..to]).map_or(to, |i| s + i + 1)
}

/// The start of the last `k` lines of `batch[from..to]` (which holds whole lines), and how
/// many there are (fewer than `k` when it holds fewer).
fn last_lines(batch: &[u8], from: usize, to: usize, k: u64) -> (usize, u64) {
    let (mut s, mut n) = (to, 0);
    while n < k && s > from {
        let end = if s == to && batch[to - 1] != b'\n' {
            s
        } else {
            s - 1
        };
        s = memrchr(b'\n', &batch[from..end]).map_or(from, |i| from + i + 1);
        n += 1;
    }
    (s, n)
}

impl State {
    fn fresh(&self, name: String) -> Input {
        Input {
            name,
            done: self.cfg.max == Some(0),
            ..Input::default()
        }
    }

    /// What to tell the sender after a batch.
    fn flow(&self) -> Flow {
        let single = !self.cfg.several;
        let finished = self.cur.done && self.cur.after_left == 0;
        if self.stopped || (self.cfg.mode == Mode::Quiet && self.any) || (single && finished) {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }

    /// Pass the output on.
    fn emit(&mut self, next: &mut dyn Stage) -> Result<()> {
        if !self.out.is_empty() {
            if next.send_lines(&self.out)?.is_stop() {
                self.stopped = true;
            }
            self.out.clear();
        }
        Ok(())
    }

    /// The summary line of the current input (`-c`, `-L`), if any.
    fn finish_current(&mut self) {
        if !self.cur.started || self.cfg.max == Some(0) {
            return;
        }
        let colors = self.cfg.colors.as_ref();
        match self.cfg.mode {
            Mode::Count => {
                if self.cur.named {
                    paint(
                        &mut self.out,
                        colors,
                        |c| &c.fname,
                        self.cur.name.as_bytes(),
                    );
                    paint(&mut self.out, colors, |c| &c.se, b":");
                }
                let mut n = itoa::Buffer::new();
                self.out
                    .extend_from_slice(n.format(self.cur.selected).as_bytes());
                self.out.push(b'\n');
            }
            Mode::WithoutMatch if self.cur.selected == 0 => {
                paint(
                    &mut self.out,
                    colors,
                    |c| &c.fname,
                    self.cur.name.as_bytes(),
                );
                self.out.push(b'\n');
            }
            _ => {}
        }
        self.cur.started = false;
    }

    /// `-c -l -L -q`: count the selected lines, a run at a time.
    fn tally(&mut self, m: &Matcher, batch: &[u8]) -> Result<()> {
        if self.cur.done {
            return Ok(());
        }
        let (mode, max) = (self.cfg.mode, self.cfg.max);
        let cur = &mut self.cur;
        let _ = m.runs(batch, |run| {
            let mut n = count_lines(run);
            if let Some(max) = max {
                n = n.min(max - cur.selected);
            }
            cur.selected += n;
            if matches!(mode, Mode::Quiet | Mode::WithMatch) || Some(cur.selected) == max {
                cur.done = true;
                return Ok(Flow::Stop);
            }
            Ok(Flow::Continue)
        })?;
        if self.cur.selected > 0 {
            self.any = true;
            if mode == Mode::WithMatch {
                let colors = self.cfg.colors.as_ref();
                paint(
                    &mut self.out,
                    colors,
                    |c| &c.fname,
                    self.cur.name.as_bytes(),
                );
                self.out.push(b'\n');
            }
        }
        Ok(())
    }

    /// A run of selected lines `batch[s..e]`.
    fn run(&mut self, m: &Matcher, batch: &[u8], s: usize, e: usize) -> Flow {
        let mut ls = s;
        while ls < e {
            let le = line_end(batch, ls, e);
            self.gap(m, batch, ls);
            if self.cfg.before > 0 {
                self.before_context(m, batch, ls);
            }
            self.print(m, &batch[ls..le], self.base + ls as u64, true);
            if self.gave_up.is_some() {
                return Flow::Stop;
            }
            self.printed_to = le;
            self.cur.line += 1;
            self.cursor = le;
            self.cur.selected += 1;
            self.any = true;
            self.cur.after_left = self.cfg.after;
            if Some(self.cur.selected) == self.cfg.max {
                self.cur.done = true;
                return Flow::Stop;
            }
            ls = le;
        }
        Flow::Continue
    }

    /// The lines from the cursor up to `to` are not selected: print the after-context
    /// among them, count them.
    fn gap(&mut self, m: &Matcher, batch: &[u8], to: usize) {
        let mut p = self.cursor;
        while self.cur.after_left > 0 && p < to {
            let e = line_end(batch, p, to);
            self.print(m, &batch[p..e], self.base + p as u64, false);
            self.printed_to = e;
            self.cur.line += 1;
            self.cur.after_left -= 1;
            p = e;
        }
        if self.cfg.number && p < to {
            self.cur.line += count_lines(&batch[p..to]);
        }
        self.cursor = to;
    }

    /// Print the lines before the selected line at `ls` that are not printed yet, up to
    /// `-B` of them (from the previous batches too).
    fn before_context(&mut self, m: &Matcher, batch: &[u8], ls: usize) {
        let want = self.cfg.before;
        let (start, k) = last_lines(batch, self.printed_to, ls, want);
        let from_ring = if k < want && start == 0 && !self.printed_here {
            (want - k).min(self.ring.lines.len() as u64)
        } else {
            0
        };
        // (Lines are counted under -n only: elsewhere the number is not shown.)
        let keep = self.cur.line;
        self.cur.line = keep.wrapping_sub(k + from_ring);
        let ring = std::mem::take(&mut self.ring.lines);
        for (l, off) in ring.iter().skip(ring.len() - from_ring as usize) {
            self.print(m, l, *off, false);
            self.cur.line = self.cur.line.wrapping_add(1);
        }
        self.ring.lines = ring;
        self.ring.clear();
        let mut p = start;
        while p < ls {
            let e = line_end(batch, p, ls);
            self.print(m, &batch[p..e], self.base + p as u64, false);
            self.cur.line = self.cur.line.wrapping_add(1);
            p = e;
        }
        self.cur.line = keep;
    }

    /// At the end of a batch: keep its last lines not printed for the before-context of the
    /// next one.
    fn keep_tail(&mut self, batch: &[u8]) {
        let want = self.cfg.before;
        if want == 0 || self.cur.done {
            return;
        }
        if self.printed_here {
            self.ring.clear();
        }
        let (start, _) = last_lines(batch, self.printed_to, batch.len(), want);
        let mut p = start;
        while p < batch.len() {
            let e = line_end(batch, p, batch.len());
            self.ring.push(&batch[p..e], self.base + p as u64, want);
            p = e;
        }
    }

    /// Print one line (with its `\n`, if it has one) at `offset` in its input, numbered
    /// `self.cur.line + 1`: selected, or context.
    fn print(&mut self, m: &Matcher, line: &[u8], offset: u64, selected: bool) {
        self.printed_here = true;
        let cfg = &self.cfg;
        let out = &mut self.out;
        if cfg.context
            && self.used
            && self.cur.last_end != Some(offset)
            && let Some(sep) = &cfg.separator
        {
            paint(out, cfg.colors.as_ref(), |c| &c.se, sep);
            out.push(b'\n');
        }
        self.used = true;
        self.cur.last_end = Some(offset + line.len() as u64);
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let sep = if selected { b':' } else { b'-' };
        // Matches are shown in the lines that match: the selected ones, or with -v the
        // context ones.
        let matching = selected != cfg.invert;
        let lineno = self.cur.line.wrapping_add(1);
        if cfg.mode == Mode::Only {
            if !matching {
                return;
            }
            let found = m.each_match(text, |s, e| {
                self.prefix(lineno, offset + s as u64, sep);
                let out = &mut self.out;
                paint(out, self.cfg.colors.as_ref(), pick(selected), &text[s..e]);
                out.push(b'\n');
            });
            self.note_gave_up(found, offset);
            return;
        }
        self.prefix(lineno, offset, sep);
        let colors = self.cfg.colors.as_ref();
        let out = &mut self.out;
        if matching && colors.is_some() {
            let mut last = 0;
            let found = m.each_match(text, |s, e| {
                out.extend_from_slice(&text[last..s]);
                paint(out, colors, pick(selected), &text[s..e]);
                last = e;
            });
            out.extend_from_slice(&text[last..]);
            out.push(b'\n');
            self.note_gave_up(found, offset);
            return;
        } else {
            out.extend_from_slice(text);
        }
        out.push(b'\n');
    }

    /// Keep the first error of a `-P` match that gave up on the line at `offset` in the
    /// input (said by [`Report::lines`] after the lines printed before it).
    fn note_gave_up(&mut self, found: Result<()>, offset: u64) {
        if let Err(mut e) = found {
            if let Some(g) = e.downcast_mut::<super::pcre::GaveUp>() {
                g.at = offset.saturating_sub(self.base) as usize;
            }
            self.gave_up.get_or_insert(e);
        }
    }

    /// The file name, line number and byte offset asked for, each followed by `sep`.
    fn prefix(&mut self, lineno: u64, offset: u64, sep: u8) {
        let colors = self.cfg.colors.as_ref();
        let out = &mut self.out;
        if self.cur.named {
            paint(out, colors, |c| &c.fname, self.cur.name.as_bytes());
            paint(out, colors, |c| &c.se, &[sep]);
        }
        let mut n = itoa::Buffer::new();
        if self.cfg.number {
            paint(out, colors, |c| &c.ln, n.format(lineno).as_bytes());
            paint(out, colors, |c| &c.se, &[sep]);
        }
        if self.cfg.byte_offset {
            paint(out, colors, |c| &c.bn, n.format(offset).as_bytes());
            paint(out, colors, |c| &c.se, &[sep]);
        }
    }
}

/// The colour of a match: in a selected line, or in a context line.
fn pick(selected: bool) -> fn(&Colors) -> &str {
    if selected { |c| &c.ms } else { |c| &c.mc }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grep_colors_are_read_as_gnu_grep_reads_them() {
        let c = Colors::parse(None);
        assert_eq!(
            (c.ms.as_str(), c.fname.as_str(), c.ne),
            ("01;31", "35", false)
        );
        let c = Colors::parse(Some("mt=01;32:fn=:ln=33:ne:xx=1:se=bad!"));
        assert_eq!((c.ms.as_str(), c.mc.as_str()), ("01;32", "01;32"));
        assert_eq!(
            (c.fname.as_str(), c.ln.as_str(), c.se.as_str()),
            ("", "33", "36")
        );
        assert!(c.ne);
        let mut out = Vec::new();
        paint(&mut out, Some(&c), |c| &c.ln, b"7");
        paint(&mut out, Some(&c), |c| &c.fname, b"f");
        paint(&mut out, None, |c| &c.ln, b"8");
        assert_eq!(out, b"\x1b[33m7\x1b[mf8");
    }

    #[test]
    fn last_lines_of_a_range() {
        let b = b"a\nbb\nc\nd";
        assert_eq!(last_lines(b, 0, 8, 2), (5, 2));
        assert_eq!(last_lines(b, 0, 8, 9), (0, 4));
        assert_eq!(last_lines(b, 2, 7, 1), (5, 1));
        assert_eq!(last_lines(b, 2, 7, 5), (2, 2));
        assert_eq!(last_lines(b, 0, 0, 3), (0, 0));
        assert_eq!(line_end(b, 2, 8), 5);
        assert_eq!(line_end(b, 7, 8), 8);
    }
}
