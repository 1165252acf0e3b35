//! The run loop: the source pulls its input and pushes it into the chain; then the chain is
//! closed — always, even after an error, so that everything produced before the error is
//! flushed (and a write error found while flushing is reported too). A pipeline runs
//! directly ([`run`]: the source pulls in the main thread) unless it needs the scheduler
//! ([`needs_scheduler`], [`run_scheduled`]: see [`crate::engine`]).

use anyhow::Result;

use super::build::Built;
use crate::engine::Scheduler;
use crate::protocol::def::{Options, Status};
use crate::protocol::finish;
use crate::protocol::task::Task;
use crate::runtime::meter::Meter;
use crate::runtime::signal::Interrupt;
use crate::runtime::timer::Timers;

/// Run a built pipeline to its end. The first error wins; the chain is closed regardless.
pub fn run(built: Built, status: &Status) -> Result<()> {
    let Built {
        mut source,
        mut chain,
        ..
    } = built;
    let ran = source.run(&mut *chain);
    note_failure(&ran, status);
    finish(ran, chain.close())
}

/// What the engine needs from the run besides the built pipeline.
pub struct Scheduled<'a> {
    pub opts: &'a Options,
    pub status: &'a Status,
    pub meter: &'a Meter,
    pub interrupt: &'a Interrupt,
    pub timers: &'a Timers,
}

/// Run a built pipeline on the scheduler: its source as a native task, or on a thread of
/// its own behind the bridge. The chain is closed regardless, as in [`run`].
pub fn run_scheduled(built: Built, r: &Scheduled<'_>) -> Result<()> {
    let Built {
        source,
        mut chain,
        source_def,
        ..
    } = built;
    let ran = (|| {
        let task: Box<dyn Task> = match source.into_task() {
            Some(t) => t,
            None => {
                let (build, matches) =
                    source_def.ok_or_else(|| anyhow::anyhow!("this source runs only as a task"))?;
                Box::new(crate::engine::bridge::SourceThread::start(
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
    note_failure(&ran, r.status);
    let closed = chain.close();
    if closed.is_ok() {
        // What the sinks wrote in `close` is written: the last checkpoints may cover it.
        r.timers.closed();
    }
    finish(ran, closed)
}

/// An output could not be written (a full disk: not a closed output pipe, which is how a
/// run is stopped): the sinks then close knowing it (see [`Status::failed`]), so a count
/// in another branch is not printed as the result. An error in the input (a malformed
/// document) leaves the counts of what came before it, as `grep -c` does.
fn note_failure(ran: &Result<()>, status: &Status) {
    if let Err(e) = ran {
        let broken_pipe = e.chain().any(|c| {
            c.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        });
        if crate::runtime::output::WriteFailed::is(e) && !broken_pipe {
            status.fail();
        }
    }
}

/// Whether a built pipeline needs the scheduler.
pub fn needs_scheduler(built: &mut Built, timers: &Timers) -> bool {
    timers.wanted() || built.source.needs_scheduler()
}
