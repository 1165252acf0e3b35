//! The run loop: the source pulls its input and pushes it into the chain; then the chain is
//! closed — always, even after an error, so that everything produced before the error is
//! flushed (and a write error found while flushing is reported too).

use anyhow::Result;

use super::build::Built;
use crate::runtime::signal::abandoned_by;

/// Run a built pipeline to its end. The first error wins; the chain is closed regardless.
pub fn run(built: Built) -> Result<()> {
    let Built {
        mut source,
        mut chain,
        ..
    } = built;
    let ran = source.run(&mut *chain);
    finish(ran, chain.close())
}

/// The result of a run from the source's result and the chain's close: the first error
/// wins; a second one is reported unless it is a closed pipe.
pub fn finish(ran: Result<()>, closed: Result<()>) -> Result<()> {
    match (ran, closed) {
        (Err(e), Err(c)) => {
            // (The same write given up twice, in the run and in the close, is said once.)
            let said = abandoned_by(&c).is_some() && abandoned_by(&e).is_some();
            if !is_broken_pipe(&c) && !said {
                eprintln!("copipe: {c:#}");
            }
            Err(e)
        }
        (Err(e), Ok(())) => Err(e),
        (Ok(()), closed) => closed,
    }
}

/// Whether an error comes from writing into a closed pipe (the reader went away): copipe
/// then ends quietly with status 0, as grep and ripgrep do.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
