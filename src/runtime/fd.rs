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
}
