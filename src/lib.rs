//! copipe — streaming pipelines in one process: `tail -F | grep | tee | jq` as coroutines.
//!
//! A pipeline is one pulled [`protocol::Source`] and a chain of pushed [`protocol::Stage`]s
//! (see [`protocol`]). The modules are layers, top to bottom; each uses only its
//! own layer and those below it (`tests/it/layers.rs` checks it):
//!
//! * [`cli`] — the command line around all of it; `main.rs` only calls [`cli::main`];
//! * [`pipeline`] — the grammar, the catalogue that collects every stage's definition
//!   (`registry`), the type check and build, `--explain`, `--stats`, the run;
//! * the stage definitions, one file per stage: [`source`] (the pulled generators: `cat`,
//!   `follow`, `xml`, …), the filters in [`stage`] (`grep`, `records`, …), [`fanout`]
//!   (`tee`, `broadcast`), [`sink`] (`print`, `write`, `count`, `exec`, …); no one of them
//!   imports another: what several share lives below them (see `docs/architecture.md`);
//! * [`net`], [`nats`], [`xmlchars`] — socket addresses, how to reach a NATS server, the XML
//!   character classes;
//! * [`engine`] — the scheduler, the thread bridge and batches, for pipelines that wait on
//!   sockets or clocks;
//! * [`protocol`] — what a stage is: `Stage`, `Source`, `Flow` ([`protocol`] itself),
//!   [`protocol::task`] (a native source's `Task`) and [`protocol::def`] (what a definition
//!   is made of: `StageDef`, `BuildCx`, `Options`, `Status`);
//! * [`runtime`] — signals, the buffered output, the meter, the open-file limit, timers, the
//!   raw descriptor calls, the units of durations and sizes;
//! * [`item`], [`record`] — what travels: lines, XML events, records.

pub mod cli;
pub mod engine;
pub mod fanout;
pub mod item;
pub mod nats;
pub mod net;
pub mod pipeline;
pub mod protocol;
pub mod record;
pub mod runtime;
pub mod sink;
pub mod source;
pub mod stage;
pub mod xmlchars;
