//! What the source has read: the bytes of `--stats` and of the progress bar.
//!
//! Sources call [`Meter::read`] after every read with the number of bytes it returned (for a
//! memory-mapped file, after every pushed batch), and [`Meter::expect`] when they learn the
//! size of what they are about to read (a regular file), so that a progress bar can show how
//! much is left. Cloning a `Meter` shares it.

use std::cell::Cell;
use std::rc::Rc;

#[derive(Clone, Default, Debug)]
pub struct Meter(Rc<Inner>);

#[derive(Default, Debug)]
struct Inner {
    bytes: Cell<u64>,
    expected: Cell<u64>,
}

impl Meter {
    /// `n` more bytes were read.
    pub fn read(&self, n: usize) {
        self.0.bytes.set(self.0.bytes.get() + n as u64);
    }

    /// `n` more bytes are known to be coming (the size of a regular file about to be read).
    pub fn expect(&self, n: u64) {
        self.0.expected.set(self.0.expected.get() + n);
    }

    /// The bytes read so far.
    pub fn bytes(&self) -> u64 {
        self.0.bytes.get()
    }

    /// The bytes announced with [`Meter::expect`] so far.
    pub fn expected(&self) -> u64 {
        self.0.expected.get()
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
