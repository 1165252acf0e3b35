//! End-to-end acknowledgements: what the asynchronous sinks have confirmed.
//!
//! A sink such as `print` has written an item once its `flush` returned. An asynchronous
//! sink (`publish --jetstream`) has only queued it then: the item counts as delivered when
//! the server acknowledged it, later, on another thread. Such a sink registers a
//! [`Delivery`] in the run's `Status` (`protocol::def::Status`) and keeps two counters:
//! the items it *took* (counted by its `send`, on the pipeline's thread) and the items
//! *confirmed* in order from the first (acknowledged, or given up on purpose with
//! `--when-full drop`), on its own thread.
//!
//! A source that keeps checkpoints (`follow --state`) reads the `taken` counters right
//! after flushing its output: every item made of the lines it pushed so far has then
//! reached the sinks (or was filtered out on the way — a filtered line costs nothing, so a
//! checkpoint advances past it). The checkpoint of that moment may be written once every
//! sink's `confirmed` reached what it had taken then ([`Marks::confirmed`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use clap::ValueEnum;

/// What an asynchronous sink (`send`, `publish`) does with an item when its buffer is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum WhenFull {
    /// Wait for room (the whole pipeline waits).
    Block,
    /// Drop the item, and count it.
    Drop,
}

/// The counters of one asynchronous sink.
#[derive(Debug, Default)]
pub struct Delivery {
    taken: AtomicU64,
    confirmed: AtomicU64,
    ended: AtomicBool,
    /// For `--stats`: items given up on purpose (`--when-full drop`), and messages sent
    /// again that the server recognised as copies.
    dropped: AtomicU64,
    duplicates: AtomicU64,
    /// How long the sink waits for its confirmations at the end (a source's last
    /// checkpoint waits at most that long too).
    pub drain: Duration,
}

impl Delivery {
    pub fn new(drain: Duration) -> Arc<Delivery> {
        Arc::new(Delivery {
            drain,
            ..Default::default()
        })
    }
    /// The sink took `n` more items (on the pipeline's thread, before its `send` returns).
    pub fn took(&self, n: u64) {
        self.taken.fetch_add(n, Ordering::Relaxed);
    }
    /// The first `n` items taken are confirmed (never decreases).
    pub fn confirm(&self, n: u64) {
        self.confirmed.fetch_max(n, Ordering::Release);
    }
    /// The sink will confirm nothing more (its thread ended).
    pub fn end(&self) {
        self.ended.store(true, Ordering::Release);
    }
    /// For `--stats`, at the end: what was dropped and sent twice.
    pub fn count(&self, dropped: u64, duplicates: u64) {
        self.dropped.store(dropped, Ordering::Relaxed);
        self.duplicates.store(duplicates, Ordering::Relaxed);
    }
    /// `--stats`: what became of the items taken.
    pub fn summary(&self) -> String {
        let taken = self.taken();
        let confirmed = self.confirmed().min(taken);
        let dropped = self.dropped.load(Ordering::Relaxed);
        format!(
            "{} confirmed, {} not confirmed, {} dropped (--when-full drop), {} duplicates",
            confirmed - dropped.min(confirmed),
            taken - confirmed,
            dropped,
            self.duplicates.load(Ordering::Relaxed)
        )
    }
    pub fn taken(&self) -> u64 {
        self.taken.load(Ordering::Relaxed)
    }
    pub fn confirmed(&self) -> u64 {
        self.confirmed.load(Ordering::Acquire)
    }
    pub fn ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }
}

/// What every asynchronous sink had taken at one moment, to be confirmed.
#[derive(Debug, Clone)]
pub struct Marks(Vec<(Arc<Delivery>, u64)>);

impl Marks {
    pub fn of(sinks: &[Arc<Delivery>]) -> Marks {
        Marks(sinks.iter().map(|d| (d.clone(), d.taken())).collect())
    }
    /// Every sink confirmed what it had taken at that moment.
    pub fn confirmed(&self) -> bool {
        self.0.iter().all(|(d, n)| d.confirmed() >= *n)
    }
    /// Some sink still owes confirmations but will give none any more.
    pub fn hopeless(&self) -> bool {
        self.0.iter().any(|(d, n)| d.confirmed() < *n && d.ended())
    }
    /// The longest drain time of the sinks.
    pub fn drain(&self) -> Duration {
        self.0
            .iter()
            .map(|(d, _)| d.drain)
            .max()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_confirmed_once_every_sink_confirmed_what_it_had_taken() {
        let (a, b) = (Delivery::new(Duration::ZERO), Delivery::new(Duration::ZERO));
        a.took(3);
        let m = Marks::of(&[a.clone(), b.clone()]);
        a.took(5); // taken after the marks: not waited for
        assert!(!m.confirmed());
        a.confirm(2);
        assert!(!m.confirmed() && !m.hopeless());
        a.confirm(3);
        assert!(m.confirmed());
        a.confirm(1); // never back
        assert!(m.confirmed());
        let m = Marks::of(std::slice::from_ref(&a));
        a.end();
        assert!(m.hopeless());
    }

    #[test]
    fn the_summary_tells_confirmed_dropped_and_duplicates_apart() {
        let d = Delivery::new(Duration::ZERO);
        d.took(10);
        d.confirm(7); // 2 of them dropped
        d.count(2, 1);
        assert_eq!(
            d.summary(),
            "5 confirmed, 3 not confirmed, 2 dropped (--when-full drop), 1 duplicates"
        );
    }
}
