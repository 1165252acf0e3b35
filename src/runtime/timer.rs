//! Timers of the stage protocol: a stage that wants to be woken at a deadline asks for a
//! [`Timer`] from `BuildCx::timers` when it is built, and arms it with [`Timer::wake_at`].
//! The scheduler sleeps no later than the earliest armed deadline and, once it has passed,
//! calls `Stage::tick(now)` on the chain, between two items (see `crate::stage`).
//!
//! Asking for a timer is what makes a pipeline run on the scheduler: [`Timers::wanted`].

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
}

impl Timers {
    /// A timer for a stage being built; the pipeline will run on the scheduler.
    pub fn timer(&self) -> Timer {
        self.0.borrow_mut().wanted = true;
        Timer(self.clone())
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
pub struct Timer(Timers);

impl Timer {
    /// Call `tick` on the chain once `at` has passed (once per call).
    pub fn wake_at(&self, at: Instant) {
        (self.0).0.borrow_mut().heap.push(Reverse(at));
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
}
