//! What every layer above may use of the running process: Ctrl-C and SIGTERM
//! ([`signal`]), the buffered output with copipe's flushing rules ([`output`]), what the
//! source has read and the progress bar ([`meter`]), the open-file limit ([`rlimit`]), and
//! the deadlines of stages that want to be woken ([`timer`]). Nothing here knows about
//! stages or pipelines.

pub mod meter;
pub mod output;
pub mod rlimit;
pub mod signal;
pub mod timer;
