//! Linux: the followed files' own inotify watches, read by the thread that reads the files.
//!
//! notify delivers its events on a thread of its own, which then has to wake the reading
//! thread; and a directory watch (what notify offers) reports every write to every file in
//! the directory. Both cost on every append: measured, the median latency of a followed log
//! was 1.25–1.5× GNU `tail -F`'s, which waits on inotify itself. So on Linux, as tail does,
//! each open regular file gets a watch of its own in an inotify instance polled with
//! everything else in [`super::wait::Waiter::wait`]: an append (`IN_MODIFY`) wakes the
//! reader directly, and so does anything that may change what the name points to — the
//! file renamed (`IN_MOVE_SELF`), removed (`IN_DELETE_SELF`), unlinked by a rename over its
//! name or made unreadable (`IN_ATTRIB`). notify then watches a directory only while a name
//! does not lead to its open file (missing, renamed away, unreadable): to see it come back.
//!
//! The watch is put on the open file itself (through `/proc/self/fd/N`), not on its name, so
//! a rename cannot make it watch another file. If a watch cannot be added (the per-user
//! watch limit), copipe says so and goes back to notify's directory watches for good.

use std::collections::{HashMap, HashSet};
use std::io;
use std::os::fd::{AsRawFd, RawFd};

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};

use super::change::{DATA, NAMES};

/// The data watches of the open regular files, keyed by (device, inode).
pub struct DataWatch {
    inotify: Inotify,
    watches: HashMap<(u64, u64), WatchDescriptor>,
    /// The other way round: which file an event is about.
    files: HashMap<WatchDescriptor, (u64, u64)>,
    /// A watch was dropped by the kernel since [`DataWatch::take_dropped`] was last asked.
    dropped: bool,
    buf: Vec<u8>,
    /// The open files left without a watch of their own, the watches having run out
    /// (`fs.inotify.max_user_watches`): they are looked at by the once-a-second check.
    unwatched: HashSet<(u64, u64)>,
    /// At most this many watches (the hidden `COPIPE_MAX_WATCHES`, for tests: the real
    /// limit is system-wide and needs root to change).
    max: usize,
    /// That the watches ran out was said.
    said: bool,
}

impl DataWatch {
    pub fn new() -> io::Result<Self> {
        Ok(DataWatch {
            inotify: Inotify::init()?,
            watches: HashMap::new(),
            files: HashMap::new(),
            dropped: false,
            buf: vec![0; 4096],
            unwatched: HashSet::new(),
            max: std::env::var("COPIPE_MAX_WATCHES")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(usize::MAX),
            said: false,
        })
    }

    /// The descriptor to poll.
    pub fn fd(&self) -> RawFd {
        self.inotify.as_raw_fd()
    }

    /// Make sure every open file in `files` (descriptor, (device, inode)) is watched; the
    /// files that get a new watch are added to `added` (what was appended to them before
    /// it was added is told by nobody: they must be read once more). With `prune`, also
    /// drop the watches of files no longer open.
    pub fn sync(
        &mut self,
        files: &[(RawFd, (u64, u64))],
        prune: bool,
        added: &mut Vec<(u64, u64)>,
    ) -> io::Result<()> {
        for &(fd, id) in files {
            if self.watches.contains_key(&id) || self.unwatched.contains(&id) {
                continue;
            }
            let wd = if self.watches.len() >= self.max {
                Err(io::Error::from_raw_os_error(libc::ENOSPC))
            } else {
                self.inotify.watches().add(
                    format!("/proc/self/fd/{fd}"),
                    WatchMask::MODIFY
                        | WatchMask::ATTRIB
                        | WatchMask::MOVE_SELF
                        | WatchMask::DELETE_SELF,
                )
            };
            match wd {
                Ok(wd) => {
                    self.files.insert(wd.clone(), id);
                    self.watches.insert(id, wd);
                    added.push(id);
                }
                // The watches ran out: this file is polled, the others keep theirs.
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                    self.unwatched.insert(id);
                }
                Err(e) => return Err(e),
            }
        }
        if !self.unwatched.is_empty() && !self.said {
            self.said = true;
            crate::say!(
                "copipe: inotify watches ran out (fs.inotify.max_user_watches) after {}; the \
                 files beyond are checked every second",
                self.watches.len()
            );
        }
        if prune && self.watches.len() + self.unwatched.len() > files.len() {
            let mut watches = self.inotify.watches();
            let open: HashSet<(u64, u64)> = files.iter().map(|f| f.1).collect();
            let by_wd = &mut self.files;
            let before = self.watches.len();
            self.watches.retain(|id, wd| {
                let open = open.contains(id);
                if !open {
                    by_wd.remove(wd);
                    // Already gone when the file was removed: nothing to undo.
                    let _ = watches.remove(wd.clone());
                }
                open
            });
            self.unwatched.retain(|id| open.contains(id));
            if self.watches.len() < before {
                // Watches were freed: the files without one try again.
                self.unwatched.clear();
            }
        }
        Ok(())
    }

    /// The open files without a watch of their own (see [`DataWatch::sync`]).
    pub fn unwatched(&self) -> &HashSet<(u64, u64)> {
        &self.unwatched
    }

    /// Whether a watch was dropped (its file removed) since the last call: the next
    /// [`DataWatch::sync`] must not be skipped, a new file may have the same inode.
    pub fn take_dropped(&mut self) -> bool {
        std::mem::take(&mut self.dropped)
    }

    /// Read what woke the poll (one read: events left behind only end the next wait at
    /// once): [`DATA`] for appends, [`NAMES`] for anything that may change what a name
    /// points to. A watch the kernel dropped (its file was removed) is forgotten, so that a
    /// later file with the same inode is watched again. The (device, inode) of each file
    /// appended to is added to `changed`.
    pub fn drain(&mut self, changed: &mut Vec<(u64, u64)>) -> u8 {
        let Ok(events) = self.inotify.read_events(&mut self.buf) else {
            return 0; // WouldBlock: nothing to read
        };
        let mut bits = 0;
        let mut dropped = Vec::new();
        for ev in events {
            if ev.mask.contains(EventMask::MODIFY) {
                bits |= DATA;
                if let Some(&id) = self.files.get(&ev.wd)
                    && !changed.contains(&id)
                {
                    changed.push(id);
                }
            }
            if ev.mask.intersects(
                EventMask::ATTRIB
                    | EventMask::MOVE_SELF
                    | EventMask::DELETE_SELF
                    | EventMask::IGNORED
                    | EventMask::Q_OVERFLOW,
            ) {
                bits |= DATA | NAMES;
            }
            if ev.mask.contains(EventMask::IGNORED) {
                dropped.push(ev.wd);
            }
        }
        if !dropped.is_empty() {
            self.dropped = true;
            self.watches.retain(|_, wd| !dropped.contains(wd));
            self.files.retain(|wd, _| !dropped.contains(wd));
        }
        bits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;

    fn readable(fd: RawFd) -> bool {
        crate::runtime::signal::readable_now(fd)
    }

    #[test]
    fn an_append_wakes_the_watch_and_a_rename_does_not_move_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        std::fs::write(&p, "x\n").unwrap();
        let f = std::fs::File::open(&p).unwrap();
        let m = f.metadata().unwrap();
        let mut w = DataWatch::new().unwrap();
        w.sync(
            &[(f.as_raw_fd(), (m.dev(), m.ino()))],
            false,
            &mut Vec::new(),
        )
        .unwrap();
        assert!(!readable(w.fd()));
        let mut writer = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        writer.write_all(b"y\n").unwrap();
        assert!(readable(w.fd()));
        let mut changed = Vec::new();
        assert_eq!(w.drain(&mut changed), DATA);
        assert_eq!(changed, [(m.dev(), m.ino())]);
        assert!(!readable(w.fd()));
        // Renamed away: a name event.
        std::fs::rename(&p, dir.path().join("a.log.1")).unwrap();
        assert_eq!(w.drain(&mut changed), DATA | NAMES);
        // The name now points to another file: writing to it wakes nothing.
        std::fs::write(&p, "new\n").unwrap();
        assert!(!readable(w.fd()));
        // The renamed file is still the one watched.
        writer.write_all(b"z\n").unwrap();
        assert!(readable(w.fd()));
        assert_eq!(w.drain(&mut changed), DATA);
        // Pruned once it is no longer open.
        w.sync(&[], true, &mut Vec::new()).unwrap();
        assert!(w.watches.is_empty());
    }
}
