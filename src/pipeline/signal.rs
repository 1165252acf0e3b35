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
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use anyhow::{Context, Result};

/// The signals of one run. Cloning shares it.
#[derive(Clone)]
pub struct Interrupt(Rc<Inner>);

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
        Ok(Interrupt(Rc::new(Inner {
            signal,
            stopping,
            rx: Some(rx),
        })))
    }

    /// One that never fires (unit tests, library use without signal handling).
    pub fn none() -> Self {
        Interrupt(Rc::new(Inner {
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
