//! Sinks: the stages that end a pipeline. They flush in `close` and report write errors
//! there, so `write /dev/full` fails loudly instead of exiting 0.

pub mod color;
pub mod count;
pub mod discard;
pub mod exec;
pub mod label;
pub mod print;
pub mod printer;
pub mod publish;
pub mod send;
pub mod write;
