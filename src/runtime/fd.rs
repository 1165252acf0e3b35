//! The raw descriptor calls, in one place: each `unsafe` block here has its SAFETY comment,
//! and the code above calls safe functions.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
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
