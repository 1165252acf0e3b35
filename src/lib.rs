//! copipe — streaming pipelines in one process: `tail -F | grep | tee | jq` as coroutines.
//!
//! A pipeline is one pulled [`stage::Source`] and a chain of pushed [`stage::Stage`]s (see
//! the protocol in [`stage`]). The layers follow the data flow:
//!
//! * [`engine`] — the scheduler, timers and the thread bridge, for pipelines that wait on
//!   sockets or clocks;
//! * [`pipeline`] — the grammar, the stage catalogue, the type check and build, the run loop;
//! * [`source`] — the pulled generators (`cat`, `range`, …);
//! * [`stage`] — the filters (`grep`, `head`, …);
//! * [`fanout`] — `tee` and `broadcast`;
//! * [`sink`] — the stages that end a pipeline (`print`, `write`, `count`, `exec`, …);
//! * [`item`], [`record`] — what travels: lines, XML events, records;
//! * [`cli`] — the command line around all of it; `main.rs` only calls [`cli::main`].

pub mod cli;
pub mod engine;
pub mod fanout;
pub mod item;
pub mod pipeline;
pub mod record;
pub mod runtime;
pub mod sink;
pub mod source;
pub mod stage;
