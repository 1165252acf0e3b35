//! A buffered output (standard output or a file) with copipe's flushing rules.
//!
//! Output is block-buffered (64 KiB) unless it is line-buffered (a terminal, or
//! `--line-buffered`), in which case it is flushed after every push. Standard output is
//! written through its own descriptor, not through `std::io::stdout()`, whose line buffering
//! would turn every line into a write call. Errors keep the `io::Error` as their source so
//! `main` can recognise a closed pipe.
//!
//! Writes into a pipe, a FIFO or a terminal are interruptible ([`InterruptibleWriter`]):
//! Ctrl-C ends copipe even while the reader does not read. Standard output, when it is a
//! pipe or FIFO, is written through a non-blocking description of its own, opened again,
//! so that the one shared with the shell and `exec` children stays blocking.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use anyhow::{Context, Result};

use crate::runtime::signal::{Interrupt, InterruptibleWriter, reopen_pipe};

const CAPACITY: usize = 64 * 1024;

pub struct Output {
    w: BufWriter<InterruptibleWriter<File>>,
    line_buffered: bool,
    name: String,
}

impl Output {
    /// Standard output (a duplicate of descriptor 1, or the same pipe opened again).
    pub fn stdout(line_buffered: bool, interrupt: &Interrupt) -> Result<Self> {
        let fd: OwnedFd = io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .context("cannot use standard output")?;
        grow_pipe(&fd);
        let w = match reopen_pipe(fd.as_raw_fd()) {
            Some(own) => InterruptibleWriter::own(own, interrupt.clone()),
            None => InterruptibleWriter::shared(File::from(fd), interrupt.clone()),
        };
        Ok(Output {
            w: BufWriter::with_capacity(CAPACITY, w),
            line_buffered,
            name: "standard output".into(),
        })
    }

    /// Writes into a pipe or FIFO that does not read are stopped by `interrupt` (see
    /// [`InterruptibleWriter`]).
    pub fn interruptible(mut self, interrupt: &Interrupt) -> Self {
        self.w.get_mut().set_interrupt(interrupt.clone());
        self
    }

    /// A file opened for appending (or truncated first).
    pub fn file(path: &Path, truncate: bool, line_buffered: bool) -> Result<Self> {
        let mut o = OpenOptions::new();
        o.create(true);
        if truncate {
            o.write(true).truncate(true);
        } else {
            o.append(true);
        }
        let f = o
            .open(path)
            .with_context(|| format!("cannot open {} for writing", path.display()))?;
        Ok(Output {
            w: BufWriter::with_capacity(CAPACITY, InterruptibleWriter::own(f, Interrupt::none())),
            line_buffered,
            name: path.display().to_string(),
        })
    }

    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        self.w
            .write_all(bytes)
            .map_err(|e| anyhow::Error::new(e).context(WriteFailed(self.name.clone())))
    }

    /// The end of one push: flush when line-buffered.
    pub fn pushed(&mut self) -> Result<()> {
        if self.line_buffered {
            self.flush()
        } else {
            Ok(())
        }
    }

    pub fn flush(&mut self) -> Result<()> {
        self.w
            .flush()
            .map_err(|e| anyhow::Error::new(e).context(WriteFailed(self.name.clone())))
    }
}

/// An output could not be written (`error writing to NAME`): what the other sinks hold at
/// their close is not the result of the input (see `Status::failed`).
#[derive(Debug)]
pub struct WriteFailed(pub String);

impl std::fmt::Display for WriteFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "error writing to {}", self.0)
    }
}

impl WriteFailed {
    /// Whether `err` is (or was caused by) a failed write of an output.
    pub fn is(err: &anyhow::Error) -> bool {
        err.downcast_ref::<WriteFailed>().is_some()
    }
}

/// When standard output is a pipe, ask for a 1 MiB pipe buffer (Linux `F_SETPIPE_SZ`; the
/// default is 64 KiB): a writer producing hundreds of MB then switches with its reader far
/// less often. Failing (another OS, a limit in /proc/sys/fs/pipe-max-size) changes nothing.
fn grow_pipe(fd: &OwnedFd) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let raw = fd.as_raw_fd();
        if crate::runtime::fd::is_fifo(raw) {
            // SAFETY: fcntl on a descriptor we own, with valid arguments.
            unsafe { libc::fcntl(raw, libc::F_SETPIPE_SZ, 1 << 20) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = fd;
}
