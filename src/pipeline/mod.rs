//! Pipelines: the grammar, the catalogue that collects every stage's definition
//! ([`registry`]), the type check and build, `--explain`, `--stats`, and the run (direct, or
//! on the scheduler of [`crate::engine`]). The layer above the stage definitions.

pub mod build;
pub mod explain;
pub mod grammar;
pub mod per_file;
pub mod registry;
pub mod run;
pub mod same_file;
pub mod stats;
pub mod tips;

pub use grammar::{Pipeline, SyntaxError};
