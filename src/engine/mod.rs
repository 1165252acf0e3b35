//! The engine: one scheduler for the tasks of a pipeline (Beazley's last lecture: tasks, a
//! scheduler, `ReadWait`, `pyos`).
//!
//! * [`sched`]: the single-threaded scheduler. Tasks are resumed when what they wait for is
//!   ready and yield back what they wait for next (a descriptor readable or writable, a
//!   deadline, "run again soon", done); it sleeps in one readiness call (mio), and SIGINT /
//!   SIGTERM wake it.
//! * [`timer`]: deadlines for stages (`Stage::tick`, e.g. `count --every`).
//! * [`batch`]: a recorded run of protocol calls in flat storage, to move items between
//!   threads and chains without an allocation per item.
//! * [`bridge`]: a bounded queue of batches between a thread and the scheduler; it runs
//!   today's pulled sources on a thread of their own.
//!
//! A pipeline runs on the scheduler when it needs it: a stage asked for a timer, or its
//! source is a native task (`listen`, `merge`). Any other pipeline keeps the direct path
//! (`pipeline::run`): its source pulls and pushes in the main thread, with nothing between.

pub mod batch;
pub mod bridge;
pub mod sched;

use anyhow::Result;

use crate::pipeline::build::Built;
use crate::pipeline::run::finish;
use crate::runtime::meter::Meter;
use crate::runtime::signal::Interrupt;
use crate::stage::def::{Options, Status};

pub use crate::runtime::timer::{Timer, Timers};
pub use sched::{Cx, Scheduler, Task, Wait};

// Moved to `crate::runtime`, named here too for branches written before the move.
pub use crate::runtime::timer;

/// What the engine needs from the run besides the built pipeline.
pub struct Run<'a> {
    pub opts: &'a Options,
    pub status: &'a Status,
    pub meter: &'a Meter,
    pub interrupt: &'a Interrupt,
    pub timers: &'a Timers,
}

/// Run a built pipeline on the scheduler: its source as a native task, or on a thread of
/// its own behind the bridge. The chain is closed regardless, as in `pipeline::run`.
pub fn run(built: Built, r: &Run<'_>) -> Result<()> {
    let Built {
        mut source,
        mut chain,
        source_def,
        ..
    } = built;
    let ran = (|| {
        let task: Box<dyn Task> = match source.native() {
            Some(t) => t,
            None => {
                drop(source);
                let (build, matches) = source_def;
                Box::new(bridge::SourceThread::start(
                    build,
                    matches,
                    r.opts.clone(),
                    r.status.clone(),
                    r.interrupt.clone(),
                    r.meter.clone(),
                )?)
            }
        };
        let mut sched = Scheduler::new(r.interrupt.clone(), r.timers.clone(), r.status.clone())?;
        sched.spawn(task);
        sched.run(&mut *chain)
    })();
    finish(ran, chain.close())
}

/// Whether a built pipeline needs the scheduler.
pub fn needed(built: &mut Built, timers: &Timers) -> bool {
    timers.wanted() || built.source.is_native()
}
