//! The last word on SIGINT and SIGTERM: a run that does not end soon after the signal is
//! ended the default way.
//!
//! The first signal only sets a flag ([`super::signal`]): the source sees it between reads,
//! and the stages and sinks are closed and flushed. That needs the thread running the
//! pipeline to come back to the source. When it does not — a stage busy on one item for a
//! long time, an `open` of a FIFO that no reader opens — a thread of its own, woken by the
//! signal, waits [`GRACE`] for the run to end and otherwise says so on stderr and ends the
//! process as the signal would have without a handler (status 130 after Ctrl-C, 143 after
//! SIGTERM, in a shell). What the stuck thread still held unwritten is lost then; what it
//! wrote before stays written.

use std::time::{Duration, Instant};

use anyhow::Result;
use signal_hook::iterator::Signals;

/// How long a run may take to end after the first signal before the watchdog ends it (the
/// usual end takes a few milliseconds; a write into a reader that does not read is given
/// up after 250 ms, an `exec` child killed after 750 ms).
pub const GRACE: Duration = Duration::from_secs(5);

/// Watch SIGINT and SIGTERM: once one arrives, `running` is asked every few milliseconds
/// for [`GRACE`]; if the run is still going then, the process ends by the signal.
pub fn spawn(running: impl Fn() -> bool + Send + 'static) -> Result<()> {
    let mut signals = Signals::new([libc::SIGINT, libc::SIGTERM])?;
    std::thread::Builder::new()
        .name("copipe-watchdog".into())
        .spawn(move || {
            let Some(sig) = signals.forever().next() else {
                return;
            };
            let since = Instant::now();
            while since.elapsed() < GRACE {
                if !running() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if !running() {
                return;
            }
            let what = if sig == libc::SIGINT {
                "Ctrl-C"
            } else {
                "SIGTERM"
            };
            crate::say!(
                "copipe: interrupted ({what}), but the pipeline was still busy {} s later \
                 (a stage on one item, or an open that waits): ending now, without flushing",
                GRACE.as_secs()
            );
            let _ = signal_hook::low_level::emulate_default_handler(sig);
            // Not reached: the default action of SIGINT and SIGTERM ends the process.
            std::process::exit(128 + sig);
        })?;
    Ok(())
}
