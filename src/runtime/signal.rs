//! Ctrl-C (SIGINT) and SIGTERM for every pipeline: the source stops reading (a partial line
//! it holds is not pushed: see [`report_unfinished`]), and the engine closes every stage, so buffered output is
//! flushed and `--stats` is printed; the exit status is then 130 after SIGINT and 0 after
//! SIGTERM (see `cli`). A second signal while the first is handled kills the process the
//! default way (an `exec` child with it, see `sink::exec`); so does any signal once the run
//! is over.
//!
//! Sources look at [`Interrupt::pending`] between reads; one that sleeps (on a pipe, on a
//! followed file) adds [`Interrupt::fd`] to its `poll`: it becomes readable when a signal
//! arrives.
//!
//! Writes are interruptible too ([`InterruptibleWriter`]): into a pipe, a FIFO or a child
//! process that does not read, copipe sleeps in a `poll` on the output and the signal
//! descriptor, never in `write`. After a signal the output is still flushed into a reader
//! that reads, but one that does not is given up [`WRITE_GRACE`] after the signal
//! ([`Abandoned`]): the first Ctrl-C always ends copipe.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::runtime::fd::{file_type, poll_now};

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
    /// When the signal was first seen (the grace periods of writes and children count
    /// from it).
    seen: OnceLock<Instant>,
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
        let interrupt = Interrupt(Arc::new(Inner {
            signal,
            stopping,
            rx: Some(rx),
            seen: OnceLock::new(),
        }));
        // A run that does not come back to the source after the signal is ended anyway.
        let alive = Arc::downgrade(&interrupt.0);
        super::watchdog::spawn(move || alive.strong_count() > 0)?;
        Ok(interrupt)
    }

    /// One that never fires (unit tests, library use without signal handling).
    pub fn none() -> Self {
        Interrupt(Arc::new(Inner {
            signal: Arc::new(AtomicUsize::new(0)),
            stopping: Arc::new(AtomicBool::new(true)),
            rx: None,
            seen: OnceLock::new(),
        }))
    }

    /// The signal that arrived, if any.
    pub fn pending(&self) -> Option<i32> {
        match self.0.signal.load(Ordering::SeqCst) {
            0 => None,
            s => {
                self.0.seen.get_or_init(Instant::now);
                Some(s as i32)
            }
        }
    }

    /// When the pending signal was first seen (`None`: no signal).
    pub fn since(&self) -> Option<Instant> {
        self.pending()?;
        self.0.seen.get().copied()
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
    poll_now(fd, libc::POLLIN) != 0
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
        let n = self.file.read(buf)?;
        // The end of a regular file that is now shorter than what was read of it: truncated
        // while being read (its rest is gone), not its end.
        if n == 0 && !buf.is_empty() && !self.may_block {
            use std::io::Seek;
            let at = (&self.file).stream_position()?;
            if self.file.metadata().is_ok_and(|m| m.len() < at) {
                return Err(std::io::Error::other(crate::runtime::map::Truncated));
            }
        }
        Ok(n)
    }
}

/// How long after a signal a write still waits for a reader that does not read.
pub const WRITE_GRACE: Duration = Duration::from_millis(250);

/// The error of a write given up because a signal arrived and the reader did not read
/// within [`WRITE_GRACE`]: the run then ends as interrupted (see [`abandoned_by`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Abandoned(pub i32);

impl std::fmt::Display for Abandoned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.0 {
            libc::SIGINT => "Ctrl-C",
            libc::SIGTERM => "SIGTERM",
            _ => "a signal",
        };
        write!(
            f,
            "interrupted ({what}) while the reader was not reading: the rest of the output is dropped"
        )
    }
}

impl std::error::Error for Abandoned {}

/// The signal of an [`Abandoned`] write somewhere in this error's chain.
pub fn abandoned_by(err: &anyhow::Error) -> Option<i32> {
    err.chain().find_map(|c| {
        c.downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<Abandoned>())
            .or_else(|| c.downcast_ref::<Abandoned>())
            .map(|a| a.0)
    })
}

/// How an [`InterruptibleWriter`] waits for its output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Waits {
    /// A regular file or a device that does not make writers wait: plain writes.
    Never,
    /// A descriptor of our own in non-blocking mode: write, and on `EAGAIN` poll.
    NonBlocking,
    /// A blocking descriptor shared with others (a terminal, a socket): poll until it is
    /// writable before each write. (A write larger than the room left may still block
    /// once started; only a pipe or FIFO made non-blocking is safe from that.)
    PollFirst,
}

/// A writer that a signal can stop: it never sleeps in `write` on an output that may make
/// it wait (a pipe, a FIFO, a socket, a terminal) but in a `poll` that the signal
/// descriptor wakes too. Until a signal arrives it waits for the reader as long as it
/// takes; after one, only until [`WRITE_GRACE`] has passed, then the write fails with
/// [`Abandoned`].
pub struct InterruptibleWriter<W> {
    inner: W,
    waits: Waits,
    interrupt: Interrupt,
}

impl<W: Write + AsRawFd> InterruptibleWriter<W> {
    /// A descriptor shared with other processes (standard output): its mode is left alone.
    pub fn shared(inner: W, interrupt: Interrupt) -> Self {
        let fd = inner.as_raw_fd();
        let waits = match file_type(fd) {
            libc::S_IFIFO | libc::S_IFSOCK if nonblocking(fd) => Waits::NonBlocking,
            libc::S_IFIFO | libc::S_IFSOCK => Waits::PollFirst,
            // SAFETY: isatty on any descriptor.
            libc::S_IFCHR if unsafe { libc::isatty(fd) } == 1 => Waits::PollFirst,
            _ => Waits::Never,
        };
        InterruptibleWriter {
            inner,
            waits,
            interrupt,
        }
    }

    /// A descriptor of copipe's own (a FIFO it opened, a child's stdin): a pipe, FIFO or
    /// socket is put in non-blocking mode.
    pub fn own(inner: W, interrupt: Interrupt) -> Self {
        let fd = inner.as_raw_fd();
        if matches!(file_type(fd), libc::S_IFIFO | libc::S_IFSOCK) {
            set_nonblocking(fd);
        }
        Self::shared(inner, interrupt)
    }

    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// Be stopped by `interrupt` from now on.
    pub fn set_interrupt(&mut self, interrupt: Interrupt) {
        self.interrupt = interrupt;
    }

    /// Sleep until the output is writable; after a signal, no later than [`WRITE_GRACE`]
    /// after it (then [`Abandoned`]).
    fn wait(&self) -> io::Result<()> {
        let mut fds = [
            libc::pollfd {
                fd: self.inner.as_raw_fd(),
                events: libc::POLLOUT,
                revents: 0,
            },
            libc::pollfd {
                fd: self.interrupt.fd().unwrap_or(-1),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        loop {
            let timeout = match self.interrupt.since() {
                None => -1,
                Some(seen) => {
                    let left = (seen + WRITE_GRACE).saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        let sig = self.interrupt.pending().unwrap_or(libc::SIGINT);
                        return Err(io::Error::other(Abandoned(sig)));
                    }
                    // Rounded up, so that a wake-up is never early.
                    left.as_millis().min(i32::MAX as u128) as i32 + 1
                }
            };
            fds[0].revents = 0;
            fds[1].revents = 0;
            // SAFETY: a valid array of two pollfd; a negative fd is ignored by poll.
            let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
                continue;
            }
            if fds[0].revents != 0 {
                // Writable, or an error that the write will report.
                return Ok(());
            }
            if fds[1].revents != 0 {
                self.interrupt.drain();
            }
        }
    }
}

impl<W: Write + AsRawFd> Write for InterruptibleWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.waits == Waits::PollFirst {
            self.wait()?;
        }
        loop {
            match self.inner.write(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    if self.waits != Waits::Never {
                        self.wait()?;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && self.waits != Waits::Never => {
                    self.wait()?;
                }
                r => return r,
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn nonblocking(fd: RawFd) -> bool {
    // SAFETY: F_GETFL on any descriptor.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    flags >= 0 && flags & libc::O_NONBLOCK != 0
}

fn set_nonblocking(fd: RawFd) {
    // SAFETY: F_GETFL/F_SETFL on a descriptor whose open file description is ours alone.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}

/// A private, non-blocking open file description of the pipe or FIFO that `fd` writes
/// to (Linux: opened again through `/proc/self/fd`), so that standard output can be written
/// without blocking while the description that copipe shares with its shell and its
/// children stays as it is. `None` for anything else, or when that fails.
pub fn reopen_pipe(fd: RawFd) -> Option<std::fs::File> {
    if file_type(fd) != libc::S_IFIFO {
        return None;
    }
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(format!("/proc/self/fd/{fd}"))
            .ok()
            .filter(|f| file_type(f.as_raw_fd()) == libc::S_IFIFO)
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// Say on stderr that a signal stopped the reading of `name` in the middle of a line: the
/// `bytes` read of it are not pushed, since a fragment is a line only at the real end of
/// its input (nothing is said when there was none).
pub fn report_unfinished(bytes: usize, name: &str) {
    if bytes > 0 {
        let unit = if bytes == 1 { "byte" } else { "bytes" };
        crate::say!(
            "copipe: interrupted: {bytes} {unit} of an unfinished line in {name} not emitted"
        );
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A pipe: (read end, write end).
    fn pipe() -> (std::fs::File, std::fs::File) {
        let (r, w) = std::io::pipe().unwrap();
        (
            std::fs::File::from(std::os::fd::OwnedFd::from(r)),
            std::fs::File::from(std::os::fd::OwnedFd::from(w)),
        )
    }

    #[test]
    fn a_non_blocking_write_waits_for_a_slow_reader_and_loses_nothing() {
        let (mut r, w) = pipe();
        let mut w = InterruptibleWriter::own(w, Interrupt::none());
        assert!(nonblocking(w.get_ref().as_raw_fd()));
        let data: Vec<u8> = (0..4 << 20).map(|i| (i % 251) as u8).collect();
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            let mut chunk = vec![0u8; 7000];
            loop {
                std::thread::sleep(Duration::from_micros(50));
                match r.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => got.extend_from_slice(&chunk[..n]),
                    Err(e) => panic!("{e}"),
                }
            }
            got
        });
        w.write_all(&data).unwrap();
        drop(w);
        assert!(reader.join().unwrap() == data);
    }

    #[test]
    fn only_pipes_fifos_sockets_and_terminals_are_waited_on() {
        let (_r, w) = pipe();
        assert_eq!(
            InterruptibleWriter::shared(w, Interrupt::none()).waits,
            Waits::PollFirst
        );
        let file = tempfile::tempfile().unwrap();
        assert_eq!(
            InterruptibleWriter::own(file, Interrupt::none()).waits,
            Waits::Never
        );
    }
}
