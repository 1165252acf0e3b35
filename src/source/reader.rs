//! Reading lines in big buffers (ripgrep's way): read into a reused buffer, push every whole
//! line in it as one batch, roll the partial last line to the front, and read again. Lines
//! longer than the buffer grow it (the policy for very long lines: the buffer holds the
//! longest line seen, nothing more); it shrinks back after such a line. A line longer than
//! `--max-line` is cut: its first bytes are pushed as the line, the rest is dropped as it
//! is read, so the buffer never grows past about twice the limit. Finding the long lines
//! costs nothing while the buffer is no bigger than the limit (no line in it can be too
//! long); lines are never counted while reading: the warning's line number is counted from
//! the file (or the map) only when a line is cut.

use std::io::{self, Read};

use anyhow::Result;

use crate::protocol::{Flow, Stage};
use crate::runtime::units::size_text;

/// The read size: big enough that per-read costs vanish, small enough to stay in L2.
pub const CAPACITY: usize = 256 * 1024;

/// The input itself could not be read (as opposed to a stage downstream failing).
#[derive(Debug)]
pub struct ReadError(pub io::Error);

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl ReadError {
    /// Whether `err` is a failed read (and not an error of a stage downstream).
    pub fn is(err: &anyhow::Error) -> bool {
        err.downcast_ref::<ReadError>().is_some()
    }

    /// The io error of a failed read.
    pub fn io(err: &anyhow::Error) -> Option<&io::Error> {
        err.downcast_ref::<ReadError>().map(|r| &r.0)
    }
}

pub use crate::protocol::def::MAX_LINE;

/// Lines cut by `--max-line` in one input, for its warning and for `--stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cuts {
    /// Lines cut since the last [`LineReader::take_cuts`].
    pub count: u64,
    /// Where the first line cut of the input starts (a byte offset in it), if not
    /// reported yet.
    pub at: Option<u64>,
}

/// Where a cut line is, for the warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// Its number (counted only for the warning, from a regular file or a map).
    Line(u64),
    /// Its offset in the input (a pipe cannot be read again to count lines).
    Byte(u64),
    /// Not said (a followed file, which may have been rotated since).
    Unknown,
}

/// Report lines cut in input `name`: counted for `--stats`, and the first one of the input
/// named in a warning, placed by `place` from its offset in the input.
pub fn note_cuts(
    cuts: Cuts,
    name: &str,
    max: usize,
    meter: &crate::runtime::meter::Meter,
    place: impl FnOnce(u64) -> Place,
) {
    if cuts.count > 0 {
        meter.cut_lines(cuts.count);
    }
    if let Some(warning) = cut_warning(cuts, name, max, place) {
        crate::say!("{warning}");
    }
}

/// The warning about the first line cut in input `name`, if `cuts` has it.
pub fn cut_warning(
    cuts: Cuts,
    name: &str,
    max: usize,
    place: impl FnOnce(u64) -> Place,
) -> Option<String> {
    let at = cuts.at?;
    let max = size_text(max);
    let what = format!("longer than {max} (--max-line), cut");
    Some(match place(at) {
        Place::Line(n) => format!("copipe: warning: {name}:{n}: line {what}"),
        Place::Byte(b) => format!("copipe: warning: {name}: the line at byte {b} is {what}"),
        Place::Unknown => format!("copipe: warning: {name}: a line {what}"),
    })
}

/// Where byte `at` of `file` is: for a regular file the number of its line (newlines before
/// `at`, read again from the start, only for a warning, plus one), else the offset.
pub fn place_in(file: &std::fs::File, at: u64) -> Place {
    line_at(file, at).map_or(Place::Byte(at), Place::Line)
}

fn line_at(file: &std::fs::File, at: u64) -> Option<u64> {
    use std::os::unix::fs::FileExt;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut buf = vec![0; CAPACITY];
    let (mut pos, mut lines) = (0u64, 1u64);
    while pos < at {
        let want = (at - pos).min(buf.len() as u64) as usize;
        let n = match file.read_at(&mut buf[..want], pos) {
            Ok(0) => return None,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        };
        lines += count_newlines(&buf[..n]);
        pos += n as u64;
    }
    Some(lines)
}

/// Newlines in `bytes`, counted in blocks that the compiler turns into vector compares (a
/// few times faster than finding each newline in turn when lines are short).
pub fn count_newlines(bytes: &[u8]) -> u64 {
    const LANES: usize = 32;
    let mut total = 0u64;
    let mut blocks = bytes.chunks_exact(LANES * 255);
    for block in &mut blocks {
        let mut acc = [0u8; LANES];
        for chunk in block.chunks_exact(LANES) {
            for (a, &b) in acc.iter_mut().zip(chunk) {
                *a += u8::from(b == b'\n');
            }
        }
        total += acc.iter().map(|&a| u64::from(a)).sum::<u64>();
    }
    total + blocks.remainder().iter().filter(|&&b| b == b'\n').count() as u64
}

/// Push `batch` (whole lines; the last may lack its newline) with every line longer than
/// `max` cut to its first `max` bytes (the rest of it dropped). `base` is the batch's offset
/// in its input while the input's first cut is still to be noted; the cuts are noted in
/// `cuts`.
pub fn send_capped(
    batch: &[u8],
    max: usize,
    base: Option<u64>,
    cuts: &mut Cuts,
    out: &mut dyn Stage,
) -> Result<Flow> {
    if batch.len() <= max {
        return out.send_lines(batch);
    }
    let mut from = 0;
    let mut pos = 0;
    while pos < batch.len() {
        let end = memchr::memchr(b'\n', &batch[pos..]).map_or(batch.len(), |i| pos + i);
        if end - pos > max {
            if from < pos && out.send_lines(&batch[from..pos])?.is_stop() {
                return Ok(Flow::Stop);
            }
            if cuts.at.is_none()
                && let Some(base) = base
            {
                cuts.at = Some(base + pos as u64);
            }
            cuts.count += 1;
            if out.send_lines(&batch[pos..pos + max])?.is_stop() {
                return Ok(Flow::Stop);
            }
            from = end + 1;
        }
        pos = end + 1;
    }
    if from < batch.len() {
        return out.send_lines(&batch[from..]);
    }
    Ok(Flow::Continue)
}

/// The state of one input kept by a reader: its partial line (at most `--max-line` bytes),
/// whether the rest of a cut line is being skipped, and the line count for the warning.
/// [`LineReader::stash`] moves it out so that one reader serves several inputs.
#[derive(Debug, Default)]
pub struct Held {
    partial: Vec<u8>,
    skipping: bool,
    base: u64,
    warned: bool,
    cuts: Cuts,
}

impl Held {
    /// The bytes of the partial line held.
    pub fn held(&self) -> usize {
        self.partial.len()
    }

    /// Whether there is nothing to push at the end of the input.
    pub fn is_empty(&self) -> bool {
        self.partial.is_empty() && !self.skipping
    }

    /// Drop the partial line without pushing it (the input was interrupted), as
    /// [`LineReader::abandon`] does; returns how many bytes it had.
    pub fn abandon(&mut self) -> usize {
        let n = self.partial.len();
        self.clear();
        n
    }

    /// Forget the input's partial line and skipping (its line count stays).
    pub fn clear(&mut self) {
        self.partial.clear();
        self.skipping = false;
    }
}

/// A reusable line reader.
pub struct LineReader {
    buf: Vec<u8>,
    /// Bytes of a partial line kept at the front of `buf`.
    tail: usize,
    capacity: usize,
    /// `--max-line`: longer lines are cut.
    max_line: usize,
    /// The rest of a cut line is being dropped, up to its newline.
    skipping: bool,
    /// The offset in the input of `buf[0]` (for the warning about a cut line).
    base: u64,
    /// The first cut of this input was noted.
    warned: bool,
    cuts: Cuts,
}

impl Default for LineReader {
    fn default() -> Self {
        Self::with_capacity(CAPACITY)
    }
}

impl LineReader {
    pub fn with_capacity(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        LineReader {
            buf: vec![0; capacity],
            tail: 0,
            capacity,
            max_line: MAX_LINE,
            skipping: false,
            base: 0,
            warned: false,
            cuts: Cuts::default(),
        }
    }

    /// Cut lines longer than `max` bytes (`--max-line`; at least 1).
    pub fn max_line(mut self, max: usize) -> Self {
        self.max_line = max.max(1);
        self
    }

    /// A new input starts (the reader holds nothing): offsets from 0 again.
    pub fn start_input(&mut self) {
        self.base = 0;
        self.warned = false;
        self.skipping = false;
    }

    /// The lines cut since the last call, and where the first one of this input starts
    /// when it is still to be reported (once per input).
    pub fn take_cuts(&mut self) -> Cuts {
        std::mem::take(&mut self.cuts)
    }

    /// Push a batch of whole lines of the buffer, cutting long lines.
    fn push(&mut self, from: usize, to: usize, out: &mut dyn Stage) -> Result<Flow> {
        let batch = &self.buf[from..to];
        let flow = if batch.len() > self.max_line {
            let base = (!self.warned).then_some(self.base + from as u64);
            let flow = send_capped(batch, self.max_line, base, &mut self.cuts, out)?;
            if self.cuts.at.is_some() {
                self.warned = true;
            }
            flow
        } else {
            out.send_lines(batch)?
        };
        Ok(flow)
    }

    /// Read once from `r` (at most one buffer) and push the complete lines. Returns the
    /// number of bytes read (0 at end of input) and what the stage said. On end of input the
    /// partial line is *not* pushed: call [`LineReader::finish`] for that. A failed read is
    /// a [`ReadError`], so that callers tell it apart from an error of a stage downstream
    /// (a full disk is not a reason to give up on an input). A line longer than
    /// `--max-line` is pushed cut to that length, the rest of it dropped as it is read: the
    /// buffer never holds more than about twice the limit.
    pub fn fill(&mut self, r: &mut dyn Read, out: &mut dyn Stage) -> Result<(usize, Flow)> {
        if self.tail == self.buf.len() {
            let n = self.buf.len() * 2;
            self.buf.resize(n, 0);
        }
        let n = loop {
            match r.read(&mut self.buf[self.tail..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(anyhow::Error::new(ReadError(e))),
            }
        };
        if n == 0 {
            return Ok((0, Flow::Continue));
        }
        let mut start = 0;
        let end = self.tail + n;
        if self.skipping {
            // The rest of a cut line: dropped up to its newline.
            match memchr::memchr(b'\n', &self.buf[..end]) {
                Some(i) => {
                    start = i + 1;
                    self.skipping = false;
                }
                None => {
                    self.tail = 0;
                    self.base += end as u64;
                    return Ok((n, Flow::Continue));
                }
            }
        }
        let flow = match memchr::memrchr(b'\n', &self.buf[start.max(self.tail)..end]) {
            Some(i) => {
                let cut = start.max(self.tail) + i + 1;
                let flow = self.push(start, cut, out)?;
                start = cut;
                flow
            }
            None => Flow::Continue,
        };
        // What is left is the partial last line: cut when it is already too long.
        if end - start > self.max_line {
            self.cuts.count += 1;
            if !self.warned {
                self.cuts.at = Some(self.base + start as u64);
                self.warned = true;
            }
            let flow = if flow.is_stop() {
                flow
            } else {
                out.send_lines(&self.buf[start..start + self.max_line])?
            };
            self.skipping = true;
            self.tail = 0;
            self.base += end as u64;
            return Ok((n, flow));
        }
        self.base += start as u64;
        if start > 0 {
            self.buf.copy_within(start..end, 0);
        }
        self.tail = end - start;
        if self.buf.len() > self.capacity && self.tail < self.capacity {
            self.buf.truncate(self.capacity.max(self.tail));
            self.buf.shrink_to_fit();
        }
        Ok((n, flow))
    }

    /// The bytes of the partial line held (read, not pushed yet).
    pub fn held(&self) -> usize {
        self.tail
    }

    /// How many bytes the next [`LineReader::fill`] asks for: a read that returns fewer
    /// has found the end of a regular file (for now).
    pub fn room(&self) -> usize {
        if self.tail == self.buf.len() {
            self.buf.len()
        } else {
            self.buf.len() - self.tail
        }
    }

    /// Whether a partial line is held.
    pub fn has_partial(&self) -> bool {
        self.tail > 0
    }

    /// Push the held partial line (the input ended, or its file went away) and forget it.
    pub fn finish(&mut self, out: &mut dyn Stage) -> Result<Flow> {
        self.skipping = false;
        if self.tail == 0 {
            return Ok(Flow::Continue);
        }
        let flow = out.send_lines(&self.buf[..self.tail]);
        self.base += self.tail as u64;
        self.tail = 0;
        flow
    }

    /// Drop the held partial line without pushing it (the input was interrupted: the rest
    /// of that line was never read, so it is no line); returns how many bytes it had.
    pub fn abandon(&mut self) -> usize {
        self.skipping = false;
        std::mem::take(&mut self.tail)
    }

    /// Move this input's state (its partial line, a cut line being skipped, its line
    /// count) into `into` and hold nothing: one reader can then serve several inputs
    /// (`follow a b`), each keeping its own partial line between reads. Copies only the
    /// partial line.
    pub fn stash(&mut self, into: &mut Held) {
        into.partial.clear();
        into.partial.extend_from_slice(&self.buf[..self.tail]);
        into.skipping = self.skipping;
        into.base = self.base;
        into.warned = self.warned;
        into.cuts = self.take_cuts();
        self.tail = 0;
        self.start_input();
    }

    /// Take up an input's state from [`LineReader::stash`] as if it had just been read;
    /// the reader must hold nothing.
    pub fn unstash(&mut self, held: &mut Held) {
        debug_assert_eq!(self.tail, 0, "unstash over a held partial line");
        let partial = &held.partial;
        if partial.len() >= self.buf.len() {
            self.buf.resize(partial.len() + self.capacity, 0);
        }
        self.buf[..partial.len()].copy_from_slice(partial);
        self.tail = partial.len();
        self.skipping = held.skipping;
        self.base = held.base;
        self.warned = held.warned;
        self.cuts = std::mem::take(&mut held.cuts);
        held.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::testing::Collect;

    fn read_all(input: &[u8], cap: usize) -> Vec<Vec<u8>> {
        let mut r = LineReader::with_capacity(cap);
        let mut c = Collect::default();
        let mut src = input;
        while r.fill(&mut src, &mut c).unwrap().0 > 0 {}
        let _ = r.finish(&mut c).unwrap();
        c.lines()
    }

    #[test]
    fn buffer_edges_with_tiny_capacities() {
        let input = b"alpha\n\nbeta gamma\r\nx\nlast without newline";
        let want: Vec<Vec<u8>> = crate::item::lines(input).map(<[u8]>::to_vec).collect();
        for cap in [1, 2, 3, 5, 7, 64, 4096] {
            assert_eq!(read_all(input, cap), want, "capacity {cap}");
        }
        assert!(read_all(b"", 1).is_empty());
        assert_eq!(read_all(b"\n", 1), vec![Vec::<u8>::new()]);
    }

    #[test]
    fn stashed_partial_lines_resume_where_they_stopped() {
        let mut r = LineReader::with_capacity(4);
        let mut c = Collect::default();
        let (mut a, mut b): (&[u8], &[u8]) = (b"a1\na-part", b"b-part");
        let (mut sa, mut sb) = (Held::default(), Held::default());
        while r.fill(&mut a, &mut c).unwrap().0 > 0 {}
        r.stash(&mut sa);
        assert!(!r.has_partial());
        while r.fill(&mut b, &mut c).unwrap().0 > 0 {}
        r.stash(&mut sb);
        r.unstash(&mut sa);
        let mut more: &[u8] = b"-end\n";
        while r.fill(&mut more, &mut c).unwrap().0 > 0 {}
        r.stash(&mut sa);
        r.unstash(&mut sb);
        let _ = r.finish(&mut c).unwrap();
        assert_eq!(c.strings(), ["a1", "a-part-end", "b-part"]);
        assert!(sa.is_empty());
    }

    fn read_capped(input: &[u8], cap: usize, max: usize) -> (Vec<Vec<u8>>, u64, Option<u64>) {
        let mut r = LineReader::with_capacity(cap).max_line(max);
        let mut c = Collect::default();
        let mut src = input;
        let mut cuts = Cuts::default();
        let mut take = |r: &mut LineReader| {
            let t = r.take_cuts();
            cuts.count += t.count;
            cuts.at = cuts.at.or(t.at);
        };
        while r.fill(&mut src, &mut c).unwrap().0 > 0 {
            take(&mut r);
        }
        let _ = r.finish(&mut c).unwrap();
        take(&mut r);
        (c.lines(), cuts.count, cuts.at)
    }

    /// What `--max-line` must make of `input`: every line cut to `max` bytes.
    fn cut_model(input: &[u8], max: usize) -> (Vec<Vec<u8>>, u64, Option<u64>) {
        let mut count = 0;
        let mut first = None;
        let mut at = 0;
        let lines = crate::item::lines(input)
            .map(|l| {
                if l.len() > max {
                    count += 1;
                    first = first.or(Some(at));
                }
                at += l.len() as u64 + 1;
                l[..l.len().min(max)].to_vec()
            })
            .collect();
        (lines, count, first)
    }

    #[test]
    fn lines_longer_than_max_line_are_cut_whatever_the_buffer_size() {
        let mut input = b"ab\n".to_vec();
        input.extend(vec![b'x'; 40]);
        input.extend_from_slice(b"\nshort\n\n");
        input.extend(vec![b'y'; 17]);
        input.extend_from_slice(b"\nz\n");
        input.extend(vec![b'w'; 23]);
        for max in [1, 2, 5, 16, 17, 40, 100] {
            for cap in [1, 2, 3, 5, 7, 16, 64, 4096] {
                assert_eq!(
                    read_capped(&input, cap, max),
                    cut_model(&input, max),
                    "max {max}, capacity {cap}"
                );
            }
        }
    }

    #[test]
    fn an_endless_line_is_held_to_the_limit() {
        let mut r = LineReader::with_capacity(16).max_line(100);
        let mut c = Collect::default();
        let mut zeros = std::io::repeat(b'z').take(1 << 20);
        while r.fill(&mut zeros, &mut c).unwrap().0 > 0 {
            assert!(r.buf.len() <= 256, "the buffer grew to {}", r.buf.len());
        }
        let mut end: &[u8] = b"\nnext\n";
        while r.fill(&mut end, &mut c).unwrap().0 > 0 {}
        assert_eq!(c.lines(), [vec![b'z'; 100], b"next".to_vec()]);
        assert_eq!(
            r.take_cuts(),
            Cuts {
                count: 1,
                at: Some(0)
            }
        );
    }

    #[test]
    fn a_cut_line_stays_cut_across_stash_and_unstash() {
        let mut r = LineReader::with_capacity(4).max_line(6);
        let mut c = Collect::default();
        let (mut a, mut b): (&[u8], &[u8]) = (b"a1\naaaaaaaaaaaa", b"b1\nbbbb");
        let (mut ha, mut hb) = (Held::default(), Held::default());
        while r.fill(&mut a, &mut c).unwrap().0 > 0 {}
        let a_cuts = r.take_cuts();
        r.stash(&mut ha);
        assert!(!ha.is_empty());
        while r.fill(&mut b, &mut c).unwrap().0 > 0 {}
        r.stash(&mut hb);
        r.unstash(&mut ha);
        let mut more: &[u8] = b"aaaa-still-the-cut-line\na2\n";
        while r.fill(&mut more, &mut c).unwrap().0 > 0 {}
        r.stash(&mut ha);
        r.unstash(&mut hb);
        let mut more: &[u8] = b"bb-long\n";
        while r.fill(&mut more, &mut c).unwrap().0 > 0 {}
        let b_cuts = r.take_cuts();
        let _ = r.finish(&mut c).unwrap();
        assert_eq!(c.strings(), ["a1", "aaaaaa", "b1", "a2", "bbbbbb"]);
        assert_eq!(a_cuts.at, Some(3));
        assert_eq!(b_cuts.at, Some(3));
    }

    #[test]
    fn newlines_are_counted_in_blocks() {
        let mut bytes = Vec::new();
        for i in 0..20_000u32 {
            bytes.extend(std::iter::repeat_n(b'a', (i % 37) as usize));
            bytes.push(b'\n');
        }
        for len in [0, 1, 31, 32, 8159, 8160, 8161, bytes.len()] {
            let want = bytes[..len].iter().filter(|&&b| b == b'\n').count() as u64;
            assert_eq!(count_newlines(&bytes[..len]), want, "{len} bytes");
        }
    }

    #[test]
    fn the_line_at_an_offset_is_counted_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut data = Vec::new();
        for i in 0..100_000 {
            data.extend_from_slice(format!("line {i}\n").as_bytes());
        }
        std::fs::write(&path, &data).unwrap();
        let f = std::fs::File::open(&path).unwrap();
        assert_eq!(line_at(&f, 0), Some(1));
        let at = data.len() - b"line 99999\n".len();
        assert_eq!(line_at(&f, at as u64), Some(100_000));
    }

    #[test]
    fn an_abandoned_partial_line_is_not_pushed() {
        let mut r = LineReader::with_capacity(8);
        let mut c = Collect::default();
        let mut src: &[u8] = b"a\n78";
        while r.fill(&mut src, &mut c).unwrap().0 > 0 {}
        assert_eq!(r.abandon(), 2);
        assert!(!r.has_partial());
        let _ = r.finish(&mut c).unwrap();
        assert_eq!(c.strings(), ["a"]);
    }

    #[test]
    fn long_lines_grow_then_shrink() {
        let mut input = vec![b'x'; 10_000];
        input.push(b'\n');
        input.extend_from_slice(b"short\n");
        let got = read_all(&input, 16);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].len(), 10_000);
        assert_eq!(got[1], b"short");
    }
}
