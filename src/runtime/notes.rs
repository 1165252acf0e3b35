//! Closing notes: what a stage says on standard error at its close about the whole run
//! (`copipe: parse: 12 lines did not match`), kept as a count and the text it makes.
//!
//! A stage makes a [`Noted`] count and registers it in the [`Notes`] of the chain being
//! built. The per-file workers (`engine::workers`) build the same stages once per worker
//! and once more in the main thread: a worker hands over what its counts grew by with
//! each part, the main thread adds that to the counts of its own copy, in the order of the
//! parts (so that what a stop drops unseen is not counted), and says each note once, with
//! the total, where one thread would have said it. Without workers a stage says its own.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use super::counter::Counter;

/// A count and the note it makes at the end (see the module docs). `Send`: a stage may run
/// on another thread than the one that built it (`tee --parallel`, `csv`'s reader).
#[derive(Clone)]
pub struct Noted {
    count: Counter,
    text: Arc<dyn Fn(u64) -> String + Send + Sync>,
}

impl Noted {
    /// A count whose note, for `n` above zero, is `text(n)` (without a final newline).
    pub fn new(text: impl Fn(u64) -> String + Send + Sync + 'static) -> Self {
        Noted {
            count: Counter::default(),
            text: Arc::new(text),
        }
    }

    pub fn add(&self, n: u64) {
        self.count.add(n);
    }

    pub fn get(&self) -> u64 {
        self.count.get()
    }

    /// Say the note, if the count is above zero.
    pub fn say(&self) {
        let n = self.count.get();
        if n > 0 {
            crate::say!("{}", (self.text)(n));
        }
    }
}

impl std::fmt::Debug for Noted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Noted").field(&self.count.get()).finish()
    }
}

/// The counts registered by the stages of a chain as they were built, in chain order.
/// Cloning shares it.
#[derive(Clone, Default)]
pub struct Notes(Rc<RefCell<Vec<Noted>>>);

impl Notes {
    /// Register `noted` (after those registered before it).
    pub fn register(&self, noted: &Noted) {
        self.0.borrow_mut().push(noted.clone());
    }

    /// The counters of the registered counts, in order.
    pub fn counters(&self) -> Vec<Counter> {
        self.0.borrow().iter().map(|n| n.count.clone()).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.borrow().is_empty()
    }

    /// Say the note of every registered count above zero, in order.
    pub fn say(&self) {
        for n in self.0.borrow().iter() {
            n.say();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_registered_in_order_share_their_counters() {
        let notes = Notes::default();
        let a = Noted::new(|n| format!("a {n}"));
        let b = Noted::new(|n| format!("b {n}"));
        notes.register(&a);
        notes.register(&b);
        let counters = notes.counters();
        assert_eq!(counters.len(), 2);
        a.add(2);
        counters[1].add(5);
        assert_eq!((counters[0].get(), b.get()), (2, 5));
        assert_eq!((a.text)(a.get()), "a 2");
        assert!(!notes.is_empty() && Notes::default().is_empty());
    }
}
