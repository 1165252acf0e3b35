//! Ctrl-C (SIGINT) and SIGTERM for every pipeline: the source stops reading, pushes what it
//! holds (a partial last line), and the engine closes every stage, so buffered output is
//! flushed and `--stats` is printed; the exit status is then 130 after SIGINT and 0 after
//! SIGTERM (see `cli`). A second signal while the first is handled kills the process the
//! default way, so a stuck write can always be interrupted; so does any signal once the run
//! is over.
//!
//! Sources look at [`Interrupt::pending`] between reads; one that sleeps (on a pipe, on a
//! followed file) adds [`Interrupt::fd`] to its `poll`: it becomes readable when a signal
//! arrives.

use std::io::Read;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use anyhow::{Context, Result};

/// The signals of one run. Cloning shares it, across threads too (a source run behind the
/// scheduler's thread bridge).
#[derive(Clone)]
pub struct Interrupt(Arc<Inner>);

struct Inner {
    /// The signal that arrived (0: none).
    signal: Arc<AtomicUsize>,
    /// Set by the first signal, which arms the default action for the next one; set at the
    /// end of the run too.
    stopping: Arc<AtomicBool>,
    /// Readable once a signal arrived (signal-hook writes a byte into its other end).
    rx: Option<UnixStream>,
}

impl Interrupt {
    /// Catch SIGINT and SIGTERM until this (and every clone) is dropped.
    pub fn install() -> Result<Self> {
        let (tx, rx) = UnixStream::pair().context("cannot create a signal socket")?;
        tx.set_nonblocking(true)?;
        rx.set_nonblocking(true)?;
        let signal = Arc::new(AtomicUsize::new(0));
        let stopping = Arc::new(AtomicBool::new(false));
        for sig in [libc::SIGINT, libc::SIGTERM] {
            // The order matters: the default action must be armed before the flag is set.
            signal_hook::flag::register_conditional_default(sig, Arc::clone(&stopping))?;
            signal_hook::flag::register_usize(sig, Arc::clone(&signal), sig as usize)?;
            signal_hook::flag::register(sig, Arc::clone(&stopping))?;
            signal_hook::low_level::pipe::register(sig, tx.try_clone()?)?;
        }
        Ok(Interrupt(Arc::new(Inner {
            signal,
            stopping,
            rx: Some(rx),
        })))
    }

    /// One that never fires (unit tests, library use without signal handling).
    pub fn none() -> Self {
        Interrupt(Arc::new(Inner {
            signal: Arc::new(AtomicUsize::new(0)),
            stopping: Arc::new(AtomicBool::new(true)),
            rx: None,
        }))
    }

    /// The signal that arrived, if any.
    pub fn pending(&self) -> Option<i32> {
        match self.0.signal.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s as i32),
        }
    }

    /// A descriptor that becomes readable when a signal arrives, for a source's `poll`
    /// (`None` when signals are not caught).
    pub fn fd(&self) -> Option<RawFd> {
        self.0.rx.as_ref().map(AsRawFd::as_raw_fd)
    }

    /// Empty the descriptor after a wake-up (the signal itself stays pending).
    pub fn drain(&self) {
        if let Some(rx) = &self.0.rx {
            let mut sink = [0u8; 64];
            let _ = (&*rx).read(&mut sink);
        }
    }
}

impl Drop for Inner {
    /// Once the run is over, SIGINT and SIGTERM take their default action again.
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
    }
}

/// Sleep until `fd` is readable (data, end of file, an error) or a signal arrives; `true`
/// when `fd` is readable.
pub fn wait_readable(fd: RawFd, interrupt: &Interrupt) -> Result<bool> {
    let mut fds = [
        libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: interrupt.fd().unwrap_or(-1),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    loop {
        // SAFETY: a valid array of two pollfd; a negative fd is ignored by poll.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if r >= 0 {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(anyhow::Error::new(e).context("poll failed"));
        }
        if interrupt.pending().is_some() {
            return Ok(false);
        }
    }
    interrupt.drain();
    Ok(fds[0].revents != 0)
}

/// Whether a read on `fd` would return at once (data, end of file or an error).
pub fn readable_now(fd: RawFd) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    unsafe { libc::poll(&mut p, 1, 0) > 0 }
}

/// The error an [`Interruptible`] read returns when a signal arrived: the source that gets
/// it stops as at the end of its input (see [`stopped_by`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped(pub i32);

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stopped by signal {}", self.0)
    }
}

impl std::error::Error for Stopped {}

/// A reader that a signal stops: before every read it looks for a pending signal, and on a
/// pipe or terminal it sleeps in [`wait_readable`] rather than in `read`, so that Ctrl-C
/// wakes it. Either way the read fails with [`Stopped`].
pub struct Interruptible {
    file: std::fs::File,
    interrupt: Interrupt,
    may_block: bool,
}

impl Interruptible {
    pub fn new(file: std::fs::File, interrupt: Interrupt) -> Self {
        let may_block = file.metadata().map_or(true, |m| !m.is_file());
        Interruptible {
            file,
            interrupt,
            may_block,
        }
    }

    /// The descriptor of an input a read may sleep on (a pipe, a terminal), for a source
    /// that flushes its output before sleeping; `None` for a regular file.
    pub fn blocking_fd(&self) -> Option<RawFd> {
        self.may_block.then(|| self.file.as_raw_fd())
    }
}

impl Read for Interruptible {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let stopped = |sig| std::io::Error::other(Stopped(sig));
        if let Some(sig) = self.interrupt.pending() {
            return Err(stopped(sig));
        }
        if self.may_block
            && !readable_now(self.file.as_raw_fd())
            && !wait_readable(self.file.as_raw_fd(), &self.interrupt)
                .map_err(std::io::Error::other)?
        {
            return Err(stopped(self.interrupt.pending().unwrap_or(libc::SIGINT)));
        }
        self.file.read(buf)
    }
}

/// The signal that stopped a read somewhere in this error's chain, if that is what it is.
pub fn stopped_by(err: &anyhow::Error) -> Option<i32> {
    err.chain().find_map(|c| {
        c.downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<Stopped>())
            .or_else(|| c.downcast_ref::<Stopped>())
            .map(|s| s.0)
    })
}
