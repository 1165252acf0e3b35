//! The engine: one scheduler for the tasks of a pipeline (Beazley's last lecture: tasks, a
//! scheduler, `ReadWait`, `pyos`).
//!
//! * [`sched`]: the single-threaded scheduler. Tasks are resumed when what they wait for is
//!   ready and yield back what they wait for next (a descriptor readable or writable, a
//!   deadline, "run again soon", done); it sleeps in one readiness call (mio), and SIGINT /
//!   SIGTERM wake it.
//! * the deadlines it sleeps until are the stages' timers, in [`crate::runtime::timer`]
//!   (`Stage::tick`, e.g. `count --every`); the tasks' protocol ([`Task`], [`Wait`], [`Cx`])
//!   is in [`crate::protocol::task`], beside the stage protocol.
//! * [`batch`]: a recorded run of protocol calls in flat storage, to move items between
//!   threads and chains without an allocation per item.
//! * [`bridge`]: a bounded queue of batches between a thread and the scheduler; it runs
//!   today's pulled sources on a thread of their own.
//! * [`workers`]: per-file workers — the per-file part of a pipeline on several threads,
//!   its output handed on in the order of the files (`cat` of many files).
//!
//! A pipeline runs on the scheduler when it needs it: a stage asked for a timer, or its
//! source cannot run without it (`listen`, `merge`). Any other pipeline keeps the direct
//! path: its source pulls and pushes in the main thread, with nothing between. Which path a
//! pipeline takes is decided above, in `pipeline::run`; the engine knows the protocol and
//! the definition types, never a particular stage, nor the pipeline. On the scheduler,
//! `cat`, `range`, `follow`, `listen`, `merge` and `xml` are native tasks; `subscribe`
//! (a tokio client) and `xml --lenient` (quick-xml's reader cannot stop where a read would
//! block and go on later) still run on a thread of their own behind the bridge.

pub mod batch;
pub mod bridge;
pub mod handoff;
pub mod sched;
pub mod workers;

pub use sched::Scheduler;
