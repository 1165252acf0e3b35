//! Where following starts (`-n`), and the stage adapter through which every read of one
//! followed input is pushed.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use anyhow::Result;

use crate::item::{Item, Origin, split_after_lines};
use crate::protocol::{Flow, Stage};

/// `-n`: where the first look at a file starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// The last N lines (`-n N`; `-n 0`: only what is appended).
    Last(u64),
    /// From line K, counting from 1 (`-n +K`; `+1` and `+0`: the whole file).
    From(u64),
}

impl Start {
    /// Parse `N`, `-N` (tail's spelling of the same) or `+K`.
    pub fn parse(s: &str) -> Result<Start, String> {
        let bad = || format!("`{s}` is not a line count (N, or +K to start at line K)");
        if let Some(k) = s.strip_prefix('+') {
            return k.parse().map(Start::From).map_err(|_| bad());
        }
        let n = s.strip_prefix('-').unwrap_or(s);
        n.parse().map(Start::Last).map_err(|_| bad())
    }

    /// Lines to drop from the start of the input before pushing.
    pub fn skip(self) -> u64 {
        match self {
            Start::From(k) => k.saturating_sub(1),
            Start::Last(_) => 0,
        }
    }
}

/// The block size of the backward scan for the last lines.
const BLOCK: usize = 64 * 1024;

/// The offset where the last `n` lines of the first `size` bytes of `f` start, found by
/// reading backwards from the end in blocks: a big file is not read whole. An unterminated
/// last line counts as a line, as in tail.
pub fn last_lines_offset(f: &File, size: u64, n: u64) -> io::Result<u64> {
    last_lines_offset_with(f, size, n, BLOCK)
}

fn last_lines_offset_with(f: &File, size: u64, n: u64, block: usize) -> io::Result<u64> {
    if n == 0 || size == 0 {
        return Ok(size);
    }
    let mut buf = vec![0u8; block.min(size as usize)];
    let mut end = size;
    let mut need = n;
    let mut last_block = true;
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let len = (end - start) as usize;
        match f.read_exact_at(&mut buf[..len], start) {
            Ok(()) => {}
            // Truncated under our feet: start from the beginning of what is there.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
            Err(e) => return Err(e),
        }
        let mut hay = &buf[..len];
        if last_block {
            last_block = false;
            // The newline that ends the last line separates nothing.
            if let Some((b'\n', rest)) = hay.split_last() {
                hay = rest;
            }
        }
        for i in memchr::memrchr_iter(b'\n', hay) {
            need -= 1;
            if need == 0 {
                return Ok(start + i as u64 + 1);
            }
        }
        end = start;
    }
    Ok(0)
}

/// The stage that one read of a followed input pushes into: it drops the lines still to
/// skip (`-n +K`), and announces the input's origin just before its first line — so an
/// input that has nothing new costs nothing downstream.
pub struct Feed<'a> {
    pub out: &'a mut dyn Stage,
    pub skip: &'a mut u64,
    /// Sent (and cleared) before the first line that gets through.
    pub origin: Option<Origin<'a>>,
}

impl Feed<'_> {
    fn announce(&mut self) -> Result<()> {
        if let Some(o) = self.origin.take() {
            self.out.origin(o)?;
        }
        Ok(())
    }

    /// Whether the origin was sent.
    pub fn announced(&self) -> bool {
        self.origin.is_none()
    }
}

impl Stage for Feed<'_> {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        if *self.skip > 0 {
            *self.skip -= 1;
            return Ok(Flow::Continue);
        }
        self.announce()?;
        self.out.send(item)
    }

    fn send_lines(&mut self, mut batch: &[u8]) -> Result<Flow> {
        if *self.skip > 0 {
            let (cut, n) = split_after_lines(batch, *self.skip);
            *self.skip -= n;
            batch = &batch[cut..];
        }
        if batch.is_empty() {
            return Ok(Flow::Continue);
        }
        self.announce()?;
        self.out.send_lines(batch)
    }

    fn origin(&mut self, origin: Origin<'_>) -> Result<()> {
        self.out.origin(origin)
    }

    fn flush(&mut self) -> Result<()> {
        self.out.flush()
    }

    fn close(&mut self) -> Result<()> {
        // The adapter lives for one read; the engine closes the real chain.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::Show;
    use crate::protocol::testing::Collect;
    use std::io::Write;

    fn naive(text: &[u8], n: u64) -> u64 {
        let starts: Vec<usize> = std::iter::once(0)
            .chain(
                memchr::memchr_iter(b'\n', text)
                    .map(|i| i + 1)
                    .filter(|&s| s < text.len()),
            )
            .collect();
        let k = starts.len().saturating_sub(n as usize);
        if n == 0 {
            text.len() as u64
        } else {
            starts.get(k).map_or(text.len(), |&s| s) as u64
        }
    }

    #[test]
    fn last_lines_match_a_naive_count_at_every_block_size() {
        let texts: [&[u8]; 7] = [
            b"",
            b"\n",
            b"a",
            b"a\nb\nc\n",
            b"a\nb\nc",
            b"\n\n\nx\n\n",
            b"one\ntwo lines here\n\nthree\nfour without end",
        ];
        for text in texts {
            let mut f = tempfile::tempfile().unwrap();
            f.write_all(text).unwrap();
            for block in [1, 2, 3, 7, 64, BLOCK] {
                for n in 0..8 {
                    let got = last_lines_offset_with(&f, text.len() as u64, n, block).unwrap();
                    assert_eq!(
                        got,
                        naive(text, n),
                        "{:?} n={n} block={block}",
                        String::from_utf8_lossy(text)
                    );
                }
            }
        }
    }

    #[test]
    fn parse_start() {
        assert_eq!(Start::parse("10"), Ok(Start::Last(10)));
        assert_eq!(Start::parse("-3"), Ok(Start::Last(3)));
        assert_eq!(Start::parse("+1"), Ok(Start::From(1)));
        assert_eq!(Start::From(0).skip(), 0);
        assert_eq!(Start::From(3).skip(), 2);
        assert!(Start::parse("x").is_err());
        assert!(Start::parse("+").is_err());
    }

    #[test]
    fn feed_skips_then_announces_before_the_first_line() {
        let mut c = Collect::default();
        let mut skip = 3;
        let mut feed = Feed {
            out: &mut c,
            skip: &mut skip,
            origin: Some(Origin {
                name: "a",
                show: Show::Header,
            }),
        };
        let _ = feed.send_lines(b"1\n2\n").unwrap();
        assert!(!feed.announced());
        let _ = feed.send_lines(b"3\n4\n5\n").unwrap();
        assert!(feed.announced());
        let _ = feed.send_lines(b"6").unwrap();
        assert_eq!(skip, 0);
        let calls: Vec<String> = c
            .calls
            .iter()
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        assert_eq!(calls, ["\0origin a", "4", "5", "6"]);
    }
}
