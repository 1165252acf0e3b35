//! Memory-mapped input files that survive being truncated while they are read.
//!
//! Reading a big file through a map saves the copy from the page cache (`cat` and the
//! parallel `xml` parse are faster for it), but when another process shrinks the file
//! (logrotate's `copytruncate`), touching a page past the new end raises SIGBUS, whose
//! default action kills the process with nothing flushed. A [`SafeMap`] registers its
//! address range with a process-wide SIGBUS handler, which maps a page of zeros over a
//! faulting page that lies in a registered map, notes the lowest such page, and returns so
//! that the access is retried. A fault anywhere else is handed to the handler that was
//! there before (the default action: the process dies of it as it would have).
//!
//! The readers then ask [`SafeMap::intact`] whether the bytes they used are still those of
//! the file: no page faulted before them and the file still reaches past them (the kernel
//! zeroes the rest of the page that holds the new end without any fault, so the size has to
//! be asked too). Every reader copies, then checks after the copy, so no zero put in place
//! of a vanished page gets through: the `xml` main parser, and `cat`, which copies each
//! batch out of the map before pushing it (a stage reading the map itself could pass such
//! zeros on as a line the file never held).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The error of an input truncated while it was read (shown as `FILE: <this>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncated;

impl std::fmt::Display for Truncated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("file truncated while being read")
    }
}

impl std::error::Error for Truncated {}

impl Truncated {
    /// `NAME: file truncated while being read`.
    pub fn of(name: &str) -> anyhow::Error {
        anyhow::Error::new(Truncated).context(name.to_string())
    }

    /// Whether `err` says that an input was truncated (also inside an `io::Error`).
    pub fn is(err: &anyhow::Error) -> bool {
        err.chain().any(|e| {
            e.downcast_ref::<Truncated>().is_some()
                || e.downcast_ref::<std::io::Error>()
                    .and_then(|io| io.get_ref())
                    .is_some_and(|inner| inner.downcast_ref::<Truncated>().is_some())
        })
    }

    /// Whether `err` is a write(2) that was handed memory that vanished (`EFAULT`, "Bad
    /// address"): what a sink meets when it writes a mapped batch straight from the map.
    pub fn is_efault(err: &anyhow::Error) -> bool {
        err.chain().any(|e| {
            e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.raw_os_error() == Some(libc::EFAULT))
        })
    }
}

/// Maps registered at once (a source maps one file at a time; a few spare).
const SLOTS: usize = 16;

struct Slot {
    used: AtomicBool,
    /// The map's address (0: not registered), then its length.
    start: AtomicUsize,
    len: AtomicUsize,
    /// The offset of the lowest page that faulted, `usize::MAX` if none did.
    fault: AtomicUsize,
}

#[allow(clippy::declare_interior_mutable_const)]
const FREE: Slot = Slot {
    used: AtomicBool::new(false),
    start: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    fault: AtomicUsize::new(usize::MAX),
};

static REGISTRY: [Slot; SLOTS] = [FREE; SLOTS];
static PAGE: AtomicUsize = AtomicUsize::new(4096);
static INSTALL: Once = Once::new();
/// Whether the handler is in place (installing it can fail; then nothing is mapped).
static INSTALLED: AtomicBool = AtomicBool::new(false);
/// The SIGBUS action before ours, put back for a fault that is not ours.
static mut PREVIOUS: std::mem::MaybeUninit<libc::sigaction> = std::mem::MaybeUninit::zeroed();

extern "C" fn on_sigbus(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // Only atomics, mmap(2) and sigaction(2) here: all async-signal-safe.
    // SAFETY: the kernel passes a valid siginfo for a SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    let page = PAGE.load(Ordering::Relaxed);
    for slot in &REGISTRY {
        let start = slot.start.load(Ordering::Acquire);
        if start == 0 || addr < start || addr - start >= slot.len.load(Ordering::Acquire) {
            continue;
        }
        let at = addr & !(page - 1);
        // SAFETY: `at` is a page of a registered read-only map, which stays mapped while
        // registered; replacing it with a private page of zeros changes no other memory.
        let m = unsafe {
            libc::mmap(
                at as *mut libc::c_void,
                page,
                libc::PROT_READ,
                libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if m != libc::MAP_FAILED {
            slot.fault.fetch_min(at - start, Ordering::SeqCst);
            return;
        }
        break;
    }
    // Not a map of ours (or it could not be patched): the previous action takes the fault,
    // which happens again on return.
    // SAFETY: PREVIOUS was filled by sigaction before this handler was installed.
    unsafe {
        libc::sigaction(
            libc::SIGBUS,
            (&raw const PREVIOUS).cast::<libc::sigaction>(),
            std::ptr::null_mut(),
        );
    }
}

fn install() -> bool {
    INSTALL.call_once(|| {
        // SAFETY: sysconf and sigaction with valid arguments; PREVIOUS is written once, here,
        // before the handler that reads it is in place.
        unsafe {
            let page = libc::sysconf(libc::_SC_PAGESIZE);
            if page > 0 {
                PAGE.store(page as usize, Ordering::Relaxed);
            }
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_sigbus as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut sa.sa_mask);
            let previous = (&raw mut PREVIOUS).cast::<libc::sigaction>();
            if libc::sigaction(libc::SIGBUS, &sa, previous) == 0 {
                INSTALLED.store(true, Ordering::SeqCst);
            }
        }
    });
    INSTALLED.load(Ordering::SeqCst)
}

/// A read-only map of a whole file, registered with the SIGBUS handler while it lives.
pub struct SafeMap {
    map: memmap2::Mmap,
    file: File,
    slot: &'static Slot,
}

impl SafeMap {
    /// Map `file` (a regular file, not empty), or `None` to read it otherwise (the map or
    /// the handler could not be set up, or too many maps are registered).
    pub fn new(file: &File) -> Option<SafeMap> {
        if !install() {
            return None;
        }
        let slot = REGISTRY.iter().find(|s| {
            s.used
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })?;
        let release = || slot.used.store(false, Ordering::Release);
        let Ok(file) = file.try_clone() else {
            release();
            return None;
        };
        // SAFETY: the map is read-only, and a truncation of the file under it is caught by
        // the handler once the map is registered, below, before anything reads it.
        let Ok(map) = (unsafe { memmap2::Mmap::map(&file) }) else {
            release();
            return None;
        };
        if map.is_empty() {
            release();
            return None;
        }
        slot.fault.store(usize::MAX, Ordering::SeqCst);
        slot.len.store(map.len(), Ordering::SeqCst);
        slot.start.store(map.as_ptr() as usize, Ordering::SeqCst);
        let _ = map.advise(memmap2::Advice::Sequential);
        Some(SafeMap { map, file, slot })
    }

    /// The map.
    pub fn map(&self) -> &memmap2::Mmap {
        &self.map
    }

    /// The file's size now (its mapped length if it cannot be asked).
    pub fn size_now(&self) -> usize {
        // SAFETY: fstat writes into a zeroed stat buffer of the right type.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(self.file.as_raw_fd(), &mut st) } != 0 {
            return self.map.len();
        }
        usize::try_from(st.st_size).unwrap_or(usize::MAX)
    }

    /// How much of the map is still backed by the file: its length, or less once the file
    /// shrank.
    pub fn available(&self) -> usize {
        self.size_now().min(self.map.len())
    }

    /// Whether the first `upto` bytes read from the map were the file's: no page before
    /// `upto` faulted, and the file still reaches `upto`.
    pub fn intact(&self, upto: usize) -> bool {
        self.slot.fault.load(Ordering::SeqCst) >= upto && self.size_now() >= upto
    }

    /// Whether the file lost bytes since it was mapped.
    pub fn truncated(&self) -> bool {
        !self.intact(self.map.len())
    }
}

/// A map shared by the stages that keep slices of it beyond the call that pushed them (the
/// threads of a `tee --parallel`, see [`crate::protocol::Stage::send_mapped`]), with its
/// file's name. The map stays registered with the SIGBUS handler as long as anything holds
/// it, so a truncation is caught wherever its slices are read.
pub struct SharedMap {
    pub map: SafeMap,
    /// The file's name, for the truncation's report.
    pub name: String,
    /// Whether its truncation was reported (once, by whoever saw it first).
    reported: AtomicBool,
}

impl SharedMap {
    pub fn new(map: SafeMap, name: String) -> Self {
        SharedMap {
            map,
            name,
            reported: AtomicBool::new(false),
        }
    }

    /// `NAME: file truncated while being read`, the first time only (`None` after).
    pub fn report_truncation(&self) -> Option<anyhow::Error> {
        (!self.reported.swap(true, Ordering::SeqCst)).then(|| Truncated::of(&self.name))
    }
}

impl std::ops::Deref for SafeMap {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.map
    }
}

impl Drop for SafeMap {
    fn drop(&mut self) {
        // Out of the registry before the map is unmapped (the field drops after this).
        self.slot.start.store(0, Ordering::SeqCst);
        self.slot.len.store(0, Ordering::SeqCst);
        self.slot.used.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_map_truncated_under_the_reader_reads_zeros_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut f = File::create(&path).unwrap();
        f.write_all(&vec![b'x'; 64 * 1024]).unwrap();
        let file = File::open(&path).unwrap();
        let map = SafeMap::new(&file).unwrap();
        assert!(map.intact(map.len()));
        f.set_len(1000).unwrap();
        // Past the new end: a fault, patched with zeros.
        assert_eq!(map[40_000], 0);
        assert!(!map.intact(40_001));
        // The page of the new end: zeroed by the kernel, no fault; the size tells.
        assert_eq!(map[999], b'x');
        assert!(map.intact(1000));
        assert!(!map.intact(1001));
        assert!(map.truncated());
        assert_eq!(map.available(), 1000);
    }

    #[test]
    fn truncation_errors_are_recognised_through_io_errors() {
        let e = anyhow::Error::new(std::io::Error::other(Truncated));
        assert!(Truncated::is(&e));
        assert_eq!(
            format!("{:#}", Truncated::of("a.log")),
            "a.log: file truncated while being read"
        );
        let efault = anyhow::Error::new(std::io::Error::from_raw_os_error(libc::EFAULT))
            .context("error writing to out");
        assert!(Truncated::is_efault(&efault));
    }
}
