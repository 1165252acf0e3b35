//! Reading lines in big buffers (ripgrep's way): read into a reused buffer, push every whole
//! line in it as one batch, roll the partial last line to the front, and read again. Lines
//! longer than the buffer grow it (the policy for very long lines: the buffer holds the
//! longest line seen, nothing more); it shrinks back after such a line.

use std::io::{self, Read};

use anyhow::Result;

use crate::stage::{Flow, Stage};

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

/// A reusable line reader.
pub struct LineReader {
    buf: Vec<u8>,
    /// Bytes of a partial line kept at the front of `buf`.
    tail: usize,
    capacity: usize,
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
        }
    }

    /// Read once from `r` (at most one buffer) and push the complete lines. Returns the
    /// number of bytes read (0 at end of input) and what the stage said. On end of input the
    /// partial line is *not* pushed: call [`LineReader::finish`] for that. A failed read is
    /// a [`ReadError`], so that callers tell it apart from an error of a stage downstream
    /// (a full disk is not a reason to give up on an input).
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
        let end = self.tail + n;
        let flow = match memchr::memrchr(b'\n', &self.buf[self.tail..end]) {
            Some(i) => {
                let cut = self.tail + i + 1;
                let flow = out.send_lines(&self.buf[..cut])?;
                self.buf.copy_within(cut..end, 0);
                self.tail = end - cut;
                if self.buf.len() > self.capacity && self.tail < self.capacity {
                    self.buf.truncate(self.capacity.max(self.tail));
                    self.buf.shrink_to_fit();
                }
                flow
            }
            None => {
                self.tail = end;
                Flow::Continue
            }
        };
        Ok((n, flow))
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
        if self.tail == 0 {
            return Ok(Flow::Continue);
        }
        let flow = out.send_lines(&self.buf[..self.tail]);
        self.tail = 0;
        flow
    }

    /// Drop the held partial line without pushing it (the input was interrupted: the rest
    /// of that line was never read, so it is no line); returns how many bytes it had.
    pub fn abandon(&mut self) -> usize {
        std::mem::take(&mut self.tail)
    }

    /// Move the held partial line into `into` (replacing its contents) and hold nothing:
    /// one reader can then serve several inputs (`follow a b`), each keeping its own partial
    /// line between reads. Copies only the partial line.
    pub fn stash(&mut self, into: &mut Vec<u8>) {
        into.clear();
        into.extend_from_slice(&self.buf[..self.tail]);
        self.tail = 0;
    }

    /// Hold `partial` (a line without its newline, from [`LineReader::stash`]) as if it had
    /// just been read; the reader must hold nothing.
    pub fn unstash(&mut self, partial: &[u8]) {
        debug_assert_eq!(self.tail, 0, "unstash over a held partial line");
        if partial.len() >= self.buf.len() {
            self.buf.resize(partial.len() + self.capacity, 0);
        }
        self.buf[..partial.len()].copy_from_slice(partial);
        self.tail = partial.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage::testing::Collect;

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
        let (mut sa, mut sb) = (Vec::new(), Vec::new());
        while r.fill(&mut a, &mut c).unwrap().0 > 0 {}
        r.stash(&mut sa);
        assert!(!r.has_partial());
        while r.fill(&mut b, &mut c).unwrap().0 > 0 {}
        r.stash(&mut sb);
        r.unstash(&sa);
        let mut more: &[u8] = b"-end\n";
        while r.fill(&mut more, &mut c).unwrap().0 > 0 {}
        r.stash(&mut sa);
        r.unstash(&sb);
        let _ = r.finish(&mut c).unwrap();
        assert_eq!(c.strings(), ["a1", "a-part-end", "b-part"]);
        assert!(sa.is_empty());
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
