//! The pipeline engine: grammar, type check and build, and the run loop.

pub mod build;
pub mod delivery;
pub mod explain;
pub mod grammar;
pub mod meter;
pub mod registry;
pub mod rlimit;
pub mod run;
pub mod same_file;
pub mod signal;
pub mod stats;

pub use grammar::{Pipeline, SyntaxError};
pub use registry::{Options, StageDef};
