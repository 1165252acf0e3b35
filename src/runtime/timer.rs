//! Timers of the stage protocol: a stage that wants to be woken at a deadline asks for a
//! [`Timer`] from `BuildCx::timers` when it is built, and arms it with [`Timer::wake_at`].
//! The scheduler sleeps no later than the earliest armed deadline and, once it has passed,
//! calls `Stage::tick(now)` on the chain, between two items (see `crate::stage`).
//!
//! Asking for a timer is what makes a pipeline run on the scheduler: [`Timers::wanted`].
//!
//! A stage with a timer may hold items until its deadline (`multiline`'s open event, the
//! count of `count --every`'s interval): it says so with [`Timer::holding`], and a source
//! that checkpoints what the sinks have written (`follow --state`) takes its checkpoints only
//! while no stage holds anything ([`Timers::holding`]). What must happen once the chain has
//! been closed (the last checkpoint, covering what `close` wrote) is registered with
//! [`Timers::after_close`] and run by the engine ([`Timers::closed`]).

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::rc::Rc;
use std::time::Instant;

/// The deadlines of one pipeline. Cloning shares them.
#[derive(Clone, Default)]
pub struct Timers(Rc<RefCell<Inner>>);

#[derive(Default)]
struct Inner {
    /// Some stage asked for a timer.
    wanted: bool,
    heap: BinaryHeap<Reverse<Instant>>,
    /// Per timer: whether its stage holds items now.
    holding: Vec<bool>,
    /// What to do once the chain has been closed without error.
    after_close: Vec<Box<dyn FnOnce()>>,
}

impl Timers {
    /// A timer for a stage being built; the pipeline will run on the scheduler.
    pub fn timer(&self) -> Timer {
        let mut inner = self.0.borrow_mut();
        inner.wanted = true;
        inner.holding.push(false);
        Timer(self.clone(), inner.holding.len() - 1)
    }

    /// Whether some stage holds items it has not sent on yet (see [`Timer::holding`]).
    pub fn holding(&self) -> bool {
        self.0.borrow().holding.iter().any(|&h| h)
    }

    /// Run `f` once the chain has been closed without error ([`Timers::closed`]).
    pub fn after_close(&self, f: Box<dyn FnOnce()>) {
        self.0.borrow_mut().after_close.push(f);
    }

    /// The chain has been closed without error: run what waited for it.
    pub fn closed(&self) {
        let todo = std::mem::take(&mut self.0.borrow_mut().after_close);
        for f in todo {
            f();
        }
    }

    /// Whether a stage asked for a timer.
    pub fn wanted(&self) -> bool {
        self.0.borrow().wanted
    }

    /// The earliest armed deadline.
    pub fn next(&self) -> Option<Instant> {
        self.0.borrow().heap.peek().map(|r| r.0)
    }

    /// Disarm every deadline that has passed at `now`; whether there was one.
    pub fn take_due(&self, now: Instant) -> bool {
        let mut inner = self.0.borrow_mut();
        let mut due = false;
        while inner.heap.peek().is_some_and(|r| r.0 <= now) {
            inner.heap.pop();
            due = true;
        }
        due
    }
}

/// A stage's handle on the clock.
#[derive(Clone)]
pub struct Timer(Timers, usize);

impl Timer {
    /// Call `tick` on the chain once `at` has passed (once per call).
    pub fn wake_at(&self, at: Instant) {
        (self.0).0.borrow_mut().heap.push(Reverse(at));
    }

    /// Whether the stage now holds items that it has not sent on (they would be lost if the
    /// process were killed now): a checkpoint of the source waits until none does.
    pub fn holding(&self, holds: bool) {
        (self.0).0.borrow_mut().holding[self.1] = holds;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn deadlines_come_due_in_order() {
        let timers = Timers::default();
        assert!(!timers.wanted());
        let t = timers.timer();
        assert!(timers.wanted());
        let now = Instant::now();
        t.wake_at(now + Duration::from_secs(2));
        t.wake_at(now + Duration::from_secs(1));
        assert_eq!(timers.next(), Some(now + Duration::from_secs(1)));
        assert!(!timers.take_due(now));
        assert!(timers.take_due(now + Duration::from_secs(1)));
        assert_eq!(timers.next(), Some(now + Duration::from_secs(2)));
        assert!(timers.take_due(now + Duration::from_secs(5)));
        assert_eq!(timers.next(), None);
    }

    #[test]
    fn holding_is_any_timer_holding() {
        let timers = Timers::default();
        let a = timers.timer();
        let b = timers.timer();
        assert!(!timers.holding());
        a.holding(true);
        b.holding(true);
        a.holding(false);
        assert!(timers.holding());
        b.holding(false);
        assert!(!timers.holding());
    }

    #[test]
    fn after_close_runs_once_when_closed() {
        let timers = Timers::default();
        let n = std::rc::Rc::new(std::cell::Cell::new(0));
        let m = n.clone();
        timers.after_close(Box::new(move || m.set(m.get() + 1)));
        assert_eq!(n.get(), 0);
        timers.closed();
        timers.closed();
        assert_eq!(n.get(), 1);
    }
}
