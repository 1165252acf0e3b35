//! The raw descriptor calls, in one place: each `unsafe` block here has its SAFETY comment,
//! and the code above calls safe functions.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Open a file for reading without waiting for a FIFO's writer (opening a FIFO blocks
/// until one comes, which would stall every task of the scheduler): opened non-blocking,
/// then made blocking again, since it is read only when `poll` says it is readable (a FIFO
/// is not readable before its first writer, and at its end once its writers are gone).
pub fn open_without_waiting(path: &Path) -> io::Result<File> {
    let f = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let fd = f.as_raw_fd();
    // SAFETY: fcntl on a descriptor that `f` owns.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
    Ok(f)
}

/// The `S_IFMT` bits of a descriptor's mode (0 when `fstat` fails).
pub fn file_type(fd: RawFd) -> libc::mode_t {
    // SAFETY: fstat writes into a zeroed stat buffer of the right type.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return 0;
    }
    st.st_mode & libc::S_IFMT
}

/// Whether `fd` is a pipe or FIFO.
pub fn is_fifo(fd: RawFd) -> bool {
    file_type(fd) == libc::S_IFIFO
}

/// Whether `fd` is a regular file.
pub fn is_regular(fd: RawFd) -> bool {
    file_type(fd) == libc::S_IFREG
}

/// The events of `events` that `fd` has now (`poll` with a zero timeout; 0 on failure).
pub fn poll_now(fd: RawFd, events: libc::c_short) -> libc::c_short {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    if unsafe { libc::poll(&mut p, 1, 0) } > 0 {
        p.revents
    } else {
        0
    }
}

/// A descriptor that becomes readable when process `pid` ends (Linux's `pidfd_open`), or
/// `None` where there is none.
pub fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: the pidfd_open system call; a non-negative result is a new descriptor.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        if fd >= 0 {
            // SAFETY: the descriptor was just opened and is owned here.
            return Some(unsafe { OwnedFd::from_raw_fd(fd as i32) });
        }
    }
    let _ = pid;
    None
}

/// `poll(2)` on `fds` for at most `timeout_ms` milliseconds (negative: no limit). Returns
/// how many have events; a wait cut short by a signal is `ErrorKind::Interrupted` (the
/// callers that poll the run's [`crate::runtime::signal::Interrupt`] descriptor take it as
/// a wake-up). A negative descriptor in `fds` is ignored, as poll does.
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: `fds` is a valid array of pollfd of the given length for the whole call.
    let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// An epoll set (level-triggered), for a task of the scheduler that waits on several
/// descriptors through one.
pub struct Epoll {
    fd: OwnedFd,
}

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes flags and returns a new descriptor or -1.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the descriptor was just created and is owned by nobody else.
        Ok(Epoll {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Watch `fd` for `events` (`EPOLLIN`, or 0 for errors and hang-ups only), its data
    /// being the descriptor's number: modified when it is in the set, added when not (a
    /// descriptor closed leaves the set, and its number may come back as another).
    pub fn set(&self, fd: RawFd, events: u32) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events,
            u64: fd as u64,
        };
        let ep = self.fd.as_raw_fd();
        // SAFETY: `ev` is a valid epoll_event for the duration of each call.
        let mut r = unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_MOD, fd, &mut ev) };
        if r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOENT) {
            // SAFETY: as above.
            r = unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev) };
        }
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Stop watching `fd`; one already closed is already gone from the set (no error).
    pub fn remove(&self, fd: RawFd) {
        // SAFETY: removing a descriptor from our epoll set; the event pointer may be null.
        unsafe {
            libc::epoll_ctl(
                self.fd.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd,
                std::ptr::null_mut(),
            )
        };
    }
}

impl AsRawFd for Epoll {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Whether process `pid` exists (`kill(pid, 0)`: where there is no pidfd, its end is seen
/// by asking). A process of another user exists too.
pub fn process_exists(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Send `signal` to process `pid` (a child not yet reaped, so that its pid is still its).
pub fn send_signal(pid: u32, signal: libc::c_int) -> io::Result<()> {
    // SAFETY: kill takes a pid and a signal number; nothing is read or written.
    if unsafe { libc::kill(pid as libc::pid_t, signal) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Take `f`'s exclusive `flock` without waiting: `ErrorKind::WouldBlock` when another
/// holds it.
pub fn try_lock_exclusive(f: &File) -> io::Result<()> {
    // SAFETY: flock on a descriptor that `f` owns.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether `fd` was opened for appending (`O_APPEND`; false when `fcntl` fails).
pub fn is_append(fd: RawFd) -> bool {
    // SAFETY: F_GETFL reads the status flags of a descriptor number; a closed one fails.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    flags >= 0 && flags & libc::O_APPEND != 0
}

/// The (device, inode) of `fd` when it is a regular file.
pub fn regular_file_id(fd: RawFd) -> Option<(u64, u64)> {
    // SAFETY: fstat writes into a zeroed stat buffer of the right type.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(fd, &mut st) } != 0 || st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return None;
    }
    // dev_t and ino_t are u64 on Linux but not everywhere.
    #[allow(clippy::unnecessary_cast)]
    Some((st.st_dev as u64, st.st_ino as u64))
}

/// The bytes waiting to be read in pipe or socket `fd` (`FIONREAD`; `None` when it cannot
/// say).
pub fn unread_bytes(fd: RawFd) -> Option<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int.
    if unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) } != 0 {
        return None;
    }
    Some(n.max(0) as usize)
}

/// The columns of the terminal `fd` is (`TIOCGWINSZ`; `None` when it is not one, or its
/// size is unknown).
pub fn terminal_columns(fd: RawFd) -> Option<usize> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ fills the winsize it is given.
    let r = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) };
    (r == 0 && size.ws_col > 0).then_some(size.ws_col as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_kinds_and_readiness_of_real_descriptors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"x\n").unwrap();
        let f = File::open(&path).unwrap();
        assert!(is_regular(f.as_raw_fd()));
        assert!(!is_fifo(f.as_raw_fd()));
        assert_ne!(poll_now(f.as_raw_fd(), libc::POLLIN), 0);
        let (r, mut w) = std::io::pipe().unwrap();
        assert!(is_fifo(r.as_raw_fd()) && !is_regular(r.as_raw_fd()));
        // An empty pipe is not readable; once written to, it is.
        assert_eq!(poll_now(r.as_raw_fd(), libc::POLLIN), 0);
        std::io::Write::write_all(&mut w, b"y").unwrap();
        assert_ne!(poll_now(r.as_raw_fd(), libc::POLLIN) & libc::POLLIN, 0);
        // A closed descriptor number has no kind.
        assert_eq!(file_type(-1), 0);
    }

    #[test]
    fn a_fifo_opens_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fifo");
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo with a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let f = open_without_waiting(&path).unwrap();
        assert!(is_fifo(f.as_raw_fd()));
        // SAFETY: F_GETFL on a descriptor `f` owns.
        let flags = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETFL) };
        assert_eq!(flags & libc::O_NONBLOCK, 0, "made blocking again");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_pidfd_becomes_readable_when_the_child_ends() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let fd = pidfd_open(child.id());
        child.wait().unwrap();
        let Some(fd) = fd else {
            eprintln!("no pidfd_open on this kernel: skipped");
            return;
        };
        assert_ne!(poll_now(fd.as_raw_fd(), libc::POLLIN), 0);
    }

    #[test]
    fn an_epoll_set_reports_what_it_watches_and_forgets_what_it_removed() {
        let ep = Epoll::new().unwrap();
        let (r, mut w) = std::io::pipe().unwrap();
        ep.set(r.as_raw_fd(), libc::EPOLLIN as u32).unwrap();
        // Set twice: modified, not an error.
        ep.set(r.as_raw_fd(), libc::EPOLLIN as u32).unwrap();
        assert_eq!(
            poll_now(ep.as_raw_fd(), libc::POLLIN),
            0,
            "nothing to read yet"
        );
        std::io::Write::write_all(&mut w, b"y").unwrap();
        assert_ne!(poll_now(ep.as_raw_fd(), libc::POLLIN), 0);
        ep.remove(r.as_raw_fd());
        assert_eq!(poll_now(ep.as_raw_fd(), libc::POLLIN), 0, "removed");
        // A closed descriptor cannot be watched, and removing it again is no error.
        assert!(ep.set(-1, libc::EPOLLIN as u32).is_err());
        ep.remove(-1);
    }

    #[test]
    fn poll_waits_for_the_first_ready_descriptor() {
        let (r, mut w) = std::io::pipe().unwrap();
        let mut fds = [libc::pollfd {
            fd: r.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        assert_eq!(poll(&mut fds, 0).unwrap(), 0);
        std::io::Write::write_all(&mut w, b"abc").unwrap();
        assert_eq!(poll(&mut fds, 10_000).unwrap(), 1);
        assert_ne!(fds[0].revents & libc::POLLIN, 0);
        assert_eq!(unread_bytes(r.as_raw_fd()), Some(3));
        assert_eq!(unread_bytes(-1), None);
    }

    #[test]
    fn locks_append_mode_and_identity_of_real_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let a = File::create(&path).unwrap();
        let b = File::open(&path).unwrap();
        try_lock_exclusive(&a).unwrap();
        let e = try_lock_exclusive(&b).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EWOULDBLOCK));
        drop(a);
        try_lock_exclusive(&b).unwrap();
        assert!(!is_append(b.as_raw_fd()));
        let c = File::options().append(true).open(&path).unwrap();
        assert!(is_append(c.as_raw_fd()));
        assert!(!is_append(-1));
        let m = std::fs::metadata(&path).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(regular_file_id(c.as_raw_fd()), Some((m.dev(), m.ino())));
        let (r, _w) = std::io::pipe().unwrap();
        assert_eq!(regular_file_id(r.as_raw_fd()), None);
        assert_eq!(
            terminal_columns(c.as_raw_fd()),
            None,
            "a file is no terminal"
        );
    }

    #[test]
    fn a_process_exists_until_it_is_reaped() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        assert!(process_exists(child.id() as i32));
        send_signal(child.id(), libc::SIGTERM).unwrap();
        child.wait().unwrap();
        assert!(!process_exists(child.id() as i32));
    }
}
