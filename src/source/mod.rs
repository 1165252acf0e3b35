//! Sources: the pulled generators that start a pipeline.

pub mod cat;
pub mod decompress;
pub mod follow;
pub mod listen;
pub mod merge;
pub mod range;
pub mod reader;
pub mod subscribe;
pub mod xml;
