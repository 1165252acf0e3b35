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
//! source cannot run without it (`listen`, `merge`). Any other pipeline keeps the direct
//! path (`pipeline::run`): its source pulls and pushes in the main thread, with nothing
//! between. On the scheduler, `cat`, `range`, `listen` and `merge` are native tasks;
//! `follow` and `xml` still run on a thread of their own behind the bridge.

pub mod batch;
pub mod bridge;
pub mod sched;
pub mod timer;

use anyhow::Result;

use crate::pipeline::build::Built;
use crate::pipeline::meter::Meter;
use crate::pipeline::registry::{Options, Status};
use crate::pipeline::run::finish;
use crate::pipeline::signal::Interrupt;

pub use sched::{Cx, Scheduler, Task, Wait};
pub use timer::{Timer, Timers};

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
    let closed = chain.close();
    if closed.is_ok() {
        // What the sinks wrote in `close` is written: the last checkpoints may cover it.
        r.timers.closed();
    }
    finish(ran, closed)
}

/// Whether a built pipeline needs the scheduler.
pub fn needed(built: &mut Built, timers: &Timers) -> bool {
    timers.wanted() || built.source.needs_scheduler()
}
