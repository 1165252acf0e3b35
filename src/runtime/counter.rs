//! A shared item counter: one thread counts, `--stats` reads it at the end.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A shared item counter. One thread counts (a `tee --parallel` branch's thread, `send`'s
/// socket thread), the report reads it at the end: a relaxed load and store, as cheap as a
/// `Cell`, no locked add.
#[derive(Clone, Debug, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    pub fn set(&self, n: u64) {
        self.0.store(n, Ordering::Relaxed);
    }

    /// Add `n` (only from the one thread that counts).
    pub fn add(&self, n: u64) {
        self.set(self.get() + n);
    }
}
