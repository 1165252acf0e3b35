//! What every layer above may use of the running process: Ctrl-C and SIGTERM
//! ([`signal`]; [`watchdog`] ends a run that does not come back to them), the buffered
//! output with copipe's flushing rules ([`output`]), what the source has read and the
//! progress bar ([`meter`]), the open-file limit ([`rlimit`]), the deadlines of stages that
//! want to be woken ([`timer`]), files mapped safely against truncation ([`map`]), shared
//! item counters ([`counter`]), the notes stages say at their close ([`notes`]), what
//! asynchronous sinks have confirmed ([`delivery`]), the units of durations and sizes
//! ([`units`]). Nothing here knows about stages or pipelines.

pub mod counter;
pub mod delivery;
pub mod fd;
pub mod map;
pub mod meter;
pub mod notes;
pub mod output;
pub mod rlimit;
pub mod say;
pub mod signal;
pub mod timer;
pub mod units;
pub mod watchdog;
