//! The one place where `follow` sleeps: a `poll(2)` on a self-wake socket, standard output,
//! the `--pid` process and the streams being read, with a timeout.
//!
//! Everything that can end a wait funnels into that one call:
//!
//! * file-system events: notify's thread (inotify on Linux) records what kind of change it
//!   saw in an atomic ([`DATA`] or [`NAMES`]) and writes one byte into the wake socket
//!   when that atomic was clear, so a burst of events costs one wake-up;
//! * SIGINT and SIGTERM: the run's [`Interrupt`] descriptor is polled too (see
//!   [`crate::runtime::signal`]);
//! * standard output's reader going away: a pipe's write end reports `POLLERR` when its
//!   read end is closed, so it is polled (with no requested events) whenever standard
//!   output is a pipe, as GNU tail does since 8.28;
//! * the `--pid` process exiting: its pidfd becomes readable (Linux ≥ 5.3); elsewhere
//!   `kill(pid, 0)` is tried after every wake-up, and the caller's timeout is at most a
//!   second;
//! * on Linux, the open followed files' own inotify watches (appends, renames, removals,
//!   attribute changes), polled here so that an append wakes the reader directly; notify
//!   then watches a directory only while a name does not lead to its open file (see
//!   [`super::data`]);
//! * a pipe or FIFO being read becoming readable (or hung up);
//! * the timeout: the `--poll` interval, or the once-a-second safety check.
//!
//! There is no busy loop: without any of these, the process sleeps in `poll`.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::runtime::fd::{self, Epoll};
use crate::runtime::signal::Interrupt;

use super::change::{DATA, NAMES};
use notify::event::{EventKind, ModifyKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};

/// What ended a wait. Several things may be true at once.
#[derive(Debug, Default, Clone, Copy)]
pub struct Wake {
    /// [`DATA`] and [`NAMES`] bits seen since the last wait.
    pub fs: u8,
    /// SIGINT or SIGTERM arrived.
    pub signal: Option<i32>,
    /// Standard output is a pipe whose reader has gone.
    pub output_gone: bool,
    /// The `--pid` process has exited.
    pub pid_gone: bool,
    /// Only appends to the files in [`Waiter::changed`] were seen (their own watches): no
    /// other file needs a look.
    pub only_changed: bool,
}

/// State shared with notify's thread and the signal handlers.
struct Shared {
    fs: AtomicU8,
    /// The open files have watches of their own ([`super::data`]): a directory watch's
    /// report of a write is then news to nobody, and does not wake the reader.
    files_watched: AtomicBool,
    tx: UnixStream,
}

impl Shared {
    fn note(&self, bits: u8) {
        if self.fs.fetch_or(bits, Ordering::SeqCst) == 0 {
            // Full socket buffer: a wake-up is already pending, which is all we need.
            let _ = (&self.tx).write(&[1]);
        }
    }
}

/// How the end of the `--pid` process is noticed.
enum Pid {
    Fd(OwnedFd),
    Kill(i32),
}

/// A watched directory: how many followed names need it, and which directory it was
/// (a directory removed and made again needs a new watch).
struct Dir {
    users: usize,
    id: Option<(u64, u64)>,
}

pub struct Waiter {
    shared: Arc<Shared>,
    rx: UnixStream,
    interrupt: Interrupt,
    /// Linux: the open files' own watches (`None`: notify's directory watches do it all).
    #[cfg(target_os = "linux")]
    data: Option<super::data::DataWatch>,
    /// Drop the watches of closed files at the next wait.
    prune: bool,
    watcher: Option<RecommendedWatcher>,
    dirs: HashMap<PathBuf, Dir>,
    /// The directories watched for the globs (with whether their subdirectories are too):
    /// how many globs need each, and which directory it was when watched.
    trees: HashMap<(PathBuf, bool), (usize, Option<DirId>)>,
    /// Polling instead of notifications (`--poll`, or notify could not be used).
    poll: Option<Duration>,
    pid: Option<Pid>,
    stdout_pipe: bool,
    fds: Vec<libc::pollfd>,
    /// The (device, inode) of the files appended to, as their own watches told (Linux).
    changed: Vec<(u64, u64)>,
    /// Files that got their own watch since the last wait (Linux): what was appended to
    /// them before is told by no event, so the next wait reports them as appended to, at
    /// once.
    added: Vec<(u64, u64)>,
    /// As a task of the scheduler: the epoll set it waits on, and what is in it
    /// (descriptor, events), sorted (see [`Waiter::descriptor`]).
    epoll: Option<(Epoll, Vec<(RawFd, u32)>)>,
    /// A hash of the open files the watches were last made sure of: with 10,000 files,
    /// looking each up again before every wait costs more than the append it waits for.
    synced: u64,
}

/// The interval of the fallback polling when notifications fail and no `--poll` was given
/// (tail's default `-s 1`).
const FALLBACK_POLL: Duration = Duration::from_secs(1);

impl Waiter {
    /// Start the notification thread (unless `poll` is given), and watch the `pid`
    /// process; `interrupt` ends a wait when a signal arrives.
    pub fn new(poll: Option<Duration>, pid: Option<i32>, interrupt: Interrupt) -> Result<Self> {
        let (tx, rx) = UnixStream::pair().context("cannot create a wake-up socket")?;
        tx.set_nonblocking(true)?;
        rx.set_nonblocking(true)?;
        let shared = Arc::new(Shared {
            fs: AtomicU8::new(0),
            files_watched: AtomicBool::new(false),
            tx,
        });
        let mut w = Waiter {
            shared,
            rx,
            interrupt,
            #[cfg(target_os = "linux")]
            data: None,
            prune: false,
            watcher: None,
            dirs: HashMap::new(),
            trees: HashMap::new(),
            poll,
            pid: pid.map(watch_pid),
            stdout_pipe: fd::is_fifo(1),
            fds: Vec::new(),
            changed: Vec::new(),
            epoll: None,
            added: Vec::new(),
            synced: 0,
        };
        if poll.is_none() {
            #[cfg(target_os = "linux")]
            {
                w.data = super::data::DataWatch::new().ok();
                w.shared
                    .files_watched
                    .store(w.data.is_some(), Ordering::SeqCst);
            }
            let shared = Arc::clone(&w.shared);
            let handler = move |ev: notify::Result<notify::Event>| {
                let bits = match ev {
                    // Opening and closing (ours included) change nothing.
                    Ok(ev) if matches!(ev.kind, EventKind::Access(_)) => 0,
                    Ok(ev) if matches!(ev.kind, EventKind::Modify(ModifyKind::Data(_))) => {
                        if shared.files_watched.load(Ordering::Relaxed) {
                            0
                        } else {
                            DATA
                        }
                    }
                    // Names, attributes, overflow (rescan), errors: look at everything.
                    _ => DATA | NAMES,
                };
                if bits != 0 {
                    shared.note(bits);
                }
            };
            match notify::recommended_watcher(handler) {
                Ok(watcher) => w.watcher = Some(watcher),
                Err(e) => w.fall_back(&e),
            }
        }
        Ok(w)
    }

    /// How often every name is checked even without events: the `--poll` interval, or once
    /// a second as a safety net under notifications (as GNU tail does).
    pub fn tick(&self) -> Duration {
        self.poll.unwrap_or_else(safety_check)
    }

    fn fall_back(&mut self, e: &notify::Error) {
        crate::say!(
            "copipe: cannot use file-system notifications ({e}); polling every {} ms",
            FALLBACK_POLL.as_millis()
        );
        self.watcher = None;
        self.dirs.clear();
        self.trees.clear();
        self.shared.files_watched.store(false, Ordering::SeqCst);
        self.poll = Some(FALLBACK_POLL);
        #[cfg(target_os = "linux")]
        {
            self.data = None;
        }
    }

    /// Whether the open files are watched themselves (Linux), so that a name leading to its
    /// open file needs no directory watch. May turn false during a run (then say so, and
    /// watch the directories of every name again).
    pub fn watches_files(&self) -> bool {
        #[cfg(target_os = "linux")]
        {
            self.data.is_some()
        }
        #[cfg(not(target_os = "linux"))]
        {
            false
        }
    }

    /// One more followed name needs `dir` watched (`None`: no directory), and `old`, if
    /// any, no longer.
    pub fn watch(&mut self, old: Option<&Path>, dir: Option<&Path>) {
        if old == dir {
            return;
        }
        if let Some(old) = old {
            self.unwatch(old);
        }
        let Some(dir) = dir else {
            return;
        };
        if self.watcher.is_none() {
            return;
        }
        if let Some(d) = self.dirs.get_mut(dir) {
            d.users += 1;
            return;
        }
        self.add(dir, 1);
    }

    fn add(&mut self, dir: &Path, users: usize) {
        let Some(watcher) = self.watcher.as_mut() else {
            return;
        };
        let id = dir_id(dir);
        match watcher.watch(dir, RecursiveMode::NonRecursive) {
            Ok(()) => {
                self.dirs.insert(dir.to_path_buf(), Dir { users, id });
            }
            // Gone between the check and the watch: `refresh` watches it again.
            Err(e) if is_not_found(&e) => {
                self.dirs.insert(dir.to_path_buf(), Dir { users, id: None });
            }
            Err(e) => self.fall_back(&e),
        }
    }

    /// A glob needs `new` watched (a directory, and with `true` its subdirectories, those
    /// made later included), and `old`, if any, no longer. Whether a watch was added (the
    /// caller then looks once more: a new watch sees only what happens from now on).
    pub fn watch_tree(&mut self, old: Option<&(PathBuf, bool)>, new: Option<&(PathBuf, bool)>) {
        if let Some(old) = old
            && let Some((users, _)) = self.trees.get_mut(old)
        {
            *users -= 1;
            if *users == 0 {
                self.trees.remove(old);
                if let Some(w) = self.watcher.as_mut() {
                    let _ = w.unwatch(&old.0);
                }
            }
        }
        let Some(new) = new else {
            return;
        };
        if let Some((users, _)) = self.trees.get_mut(new) {
            *users += 1;
            return;
        }
        if self.add_tree(new) {
            let id = dir_id(&new.0);
            self.trees.insert(new.clone(), (1, id));
        }
    }

    /// Watch a glob's directory; false when notifications had to be given up.
    fn add_tree(&mut self, tree: &(PathBuf, bool)) -> bool {
        let Some(watcher) = self.watcher.as_mut() else {
            return false;
        };
        let mode = if tree.1 {
            RecursiveMode::Recursive
        } else {
            RecursiveMode::NonRecursive
        };
        match watcher.watch(&tree.0, mode) {
            Ok(()) => true,
            // Gone meanwhile: the next check watches what is there then.
            Err(e) if is_not_found(&e) => true,
            Err(e) => {
                self.fall_back(&e);
                false
            }
        }
    }

    /// Watch again the globs' directories that were removed and made again under the same
    /// name (an inotify watch follows the directory removed, not the name): whether one
    /// was (the caller then walks once more, a new watch sees only what happens from now
    /// on). A stat per directory.
    pub fn refresh_trees(&mut self) -> bool {
        let stale: Vec<(PathBuf, bool)> = self
            .trees
            .iter()
            .filter_map(|(t, (_, id))| {
                let now = dir_id(&t.0);
                (now.is_some() && now != *id).then(|| t.clone())
            })
            .collect();
        for t in &stale {
            if let Some(w) = self.watcher.as_mut() {
                let _ = w.unwatch(&t.0);
            }
            if !self.add_tree(t) {
                return true;
            }
            if let Some(e) = self.trees.get_mut(t) {
                e.1 = dir_id(&t.0);
            }
        }
        !stale.is_empty()
    }

    /// A followed name no longer needs `dir` watched.
    pub fn unwatch(&mut self, dir: &Path) {
        let Some(d) = self.dirs.get_mut(dir) else {
            return;
        };
        d.users -= 1;
        if d.users == 0 {
            self.dirs.remove(dir);
            if let Some(w) = self.watcher.as_mut() {
                let _ = w.unwatch(dir);
            }
        }
    }

    /// Re-watch the directories that were removed and made again (or did not exist when
    /// watched): an inotify watch follows the old directory, not the name.
    pub fn refresh(&mut self) {
        self.prune = true;
        let stale: Vec<(PathBuf, usize)> = self
            .dirs
            .iter()
            .filter(|(p, d)| dir_id(p) != d.id)
            .map(|(p, d)| (p.clone(), d.users))
            .collect();
        for (p, users) in stale {
            self.dirs.remove(&p);
            if let Some(w) = self.watcher.as_mut() {
                let _ = w.unwatch(&p);
            }
            self.add(&p, users);
        }
    }

    /// Fill `fds` with what a wait watches (and make sure the open files are watched):
    /// where the files' own watches, standard output and the `--pid` process are in it.
    fn prepare(&mut self, streams: &[RawFd], files: &[(RawFd, (u64, u64))]) -> At {
        const IN: libc::c_short = libc::POLLIN;
        self.fds.clear();
        self.fds.push(pollfd(self.rx.as_raw_fd(), IN));
        #[cfg(target_os = "linux")]
        let data = {
            let prune = std::mem::take(&mut self.prune);
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for &(fd, (dev, ino)) in files {
                for x in [fd as u64, dev, ino] {
                    h = (h ^ x).wrapping_mul(0x0100_0000_01b3);
                }
            }
            let same = h == self.synced && !prune;
            self.synced = h;
            if same {
                // The same open files as at the last wait: watched already.
            } else if let Some(Err(e)) = self
                .data
                .as_mut()
                .map(|d| d.sync(files, prune, &mut self.added))
            {
                crate::say!(
                    "copipe: cannot watch the followed files themselves ({e}); watching their directories"
                );
                self.data = None;
                self.shared.files_watched.store(false, Ordering::SeqCst);
            }
            self.data.as_ref().map(|d| {
                self.fds.push(pollfd(d.fd(), IN));
                self.fds.len() - 1
            })
        };
        #[cfg(not(target_os = "linux"))]
        let (data, _) = (None, files);
        if let Some(fd) = self.interrupt.fd() {
            self.fds.push(pollfd(fd, IN));
        }
        let out = self.stdout_pipe.then(|| {
            self.fds.push(pollfd(1, 0));
            self.fds.len() - 1
        });
        let pid = match &self.pid {
            Some(Pid::Fd(fd)) => {
                self.fds.push(pollfd(fd.as_raw_fd(), IN));
                Some(self.fds.len() - 1)
            }
            _ => None,
        };
        for &fd in streams {
            self.fds.push(pollfd(fd, IN));
        }
        At { data, out, pid }
    }

    /// As a task of the scheduler: one descriptor that becomes readable when anything a
    /// [`Waiter::wait`] watches does (an epoll set of them all), for the scheduler to wait
    /// on; then `wait(Duration::ZERO, …)` says what happened. The set is level-triggered
    /// and the scheduler's is edge-triggered: a wait that found nothing ready leaves
    /// nothing behind, and anything that becomes ready later wakes the scheduler.
    pub fn descriptor(
        &mut self,
        streams: &[RawFd],
        files: &[(RawFd, (u64, u64))],
    ) -> Result<RawFd> {
        let _ = self.prepare(streams, files);
        if self.epoll.is_none() {
            let ep = Epoll::new().context("cannot create an epoll set")?;
            self.epoll = Some((ep, Vec::new()));
        }
        let (ep, registered) = self.epoll.as_mut().expect("just made");
        let mut want: Vec<(RawFd, u32)> = self
            .fds
            .iter()
            .map(|p| {
                let ev = if p.events & libc::POLLIN != 0 {
                    libc::EPOLLIN as u32
                } else {
                    0
                };
                (p.fd, ev)
            })
            .collect();
        want.sort_unstable();
        want.dedup_by_key(|w| w.0);
        for &(fd, _) in registered.iter() {
            if want.binary_search_by_key(&fd, |w| w.0).is_err() {
                ep.remove(fd);
            }
        }
        // Modified, or added when not there: a descriptor closed (which leaves the set) and
        // its number reused by another (a FIFO opened again) is in the set again.
        for &(fd, events) in &want {
            ep.set(fd, events).context("cannot watch a descriptor")?;
        }
        *registered = want;
        Ok(ep.as_raw_fd())
    }

    /// Sleep until something happens or `timeout` passes (zero: just look). `streams` are
    /// pipes and FIFOs being read, whose readiness also ends the wait; `files` the open
    /// regular files (descriptor, (device, inode)), watched themselves on Linux.
    pub fn wait(
        &mut self,
        timeout: Duration,
        streams: &[RawFd],
        files: &[(RawFd, (u64, u64))],
    ) -> Result<Wake> {
        let at = self.prepare(streams, files);
        let timeout = if self.added.is_empty() {
            timeout
        } else {
            Duration::ZERO
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // Round up so that a sub-millisecond timeout does not spin.
        let ms = if ms == 0 && !timeout.is_zero() { 1 } else { ms };
        if let Err(e) = fd::poll(&mut self.fds, ms)
            && e.kind() != io::ErrorKind::Interrupted
        {
            return Err(anyhow::Error::new(e).context("poll failed"));
        }
        // Drain the socket first, then take the bits: a byte written after the drain
        // wakes the next wait, at worst for nothing.
        // One read is enough: a byte left behind only makes the next wait return at once.
        if self.fds[0].revents != 0 {
            let mut sink = [0u8; 256];
            let _ = (&self.rx).read(&mut sink);
        }
        let mut wake = Wake {
            fs: self.shared.fs.swap(0, Ordering::SeqCst),
            ..Wake::default()
        };
        self.changed.clear();
        let others = wake.fs;
        if !self.added.is_empty() {
            wake.fs |= DATA;
            self.changed.append(&mut self.added);
        }
        #[cfg(target_os = "linux")]
        if let (Some(i), Some(d)) = (at.data, self.data.as_mut())
            && self.fds[i].revents != 0
        {
            wake.fs |= d.drain(&mut self.changed);
            if d.take_dropped() {
                self.synced = 0;
            }
        }
        // A few files named: a look at those alone. Many (a burst): every file.
        wake.only_changed = others == 0 && wake.fs == DATA && self.changed.len() <= 64;
        wake.signal = self.interrupt.pending();
        const GONE: libc::c_short = libc::POLLERR | libc::POLLHUP | libc::POLLNVAL;
        wake.output_gone = at.out.is_some_and(|i| self.fds[i].revents & GONE != 0);
        wake.pid_gone = match &self.pid {
            Some(Pid::Fd(_)) => at.pid.is_some_and(|i| self.fds[i].revents != 0),
            Some(Pid::Kill(pid)) => !fd::process_exists(*pid),
            None => false,
        };
        Ok(wake)
    }

    /// Whether file (device, inode) is open without a watch of its own (the watches ran
    /// out): it is looked at by the once-a-second check.
    pub fn polled(&self, id: (u64, u64)) -> bool {
        #[cfg(target_os = "linux")]
        {
            self.data
                .as_ref()
                .is_some_and(|d| !d.unwatched().is_empty() && d.unwatched().contains(&id))
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = id;
            false
        }
    }

    /// Whether some open files have no watch of their own.
    pub fn polls_some(&self) -> bool {
        #[cfg(target_os = "linux")]
        {
            self.data
                .as_ref()
                .is_some_and(|d| !d.unwatched().is_empty())
        }
        #[cfg(not(target_os = "linux"))]
        {
            false
        }
    }

    /// Whether the next wait has news already (files that just got their own watch): a
    /// task of the scheduler then runs again instead of waiting.
    pub fn has_news(&self) -> bool {
        !self.added.is_empty()
    }

    /// The files appended to, when the last wait says [`Wake::only_changed`].
    pub fn changed(&self) -> &[(u64, u64)] {
        &self.changed
    }

    /// The signal that arrived, if any, without waiting.
    pub fn signal(&self) -> Option<i32> {
        self.interrupt.pending()
    }
}

/// A directory's (device, inode).
type DirId = (u64, u64);

/// Where in `fds` a wait put what it reports on.
struct At {
    data: Option<usize>,
    out: Option<usize>,
    pid: Option<usize>,
}

fn pollfd(fd: RawFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

/// The interval of the safety check under notifications: a second, or (for tests that
/// show that something is seen without it) the milliseconds of the hidden environment
/// variable `COPIPE_FOLLOW_CHECK_MS`.
fn safety_check() -> Duration {
    std::env::var("COPIPE_FOLLOW_CHECK_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(1), Duration::from_millis)
}

fn is_not_found(e: &notify::Error) -> bool {
    match &e.kind {
        notify::ErrorKind::PathNotFound => true,
        notify::ErrorKind::Io(io) => io.kind() == io::ErrorKind::NotFound,
        _ => false,
    }
}

fn dir_id(dir: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(dir).ok().map(|m| (m.dev(), m.ino()))
}

/// A pidfd for `pid` where the system has them, else the `kill(pid, 0)` check.
fn watch_pid(pid: i32) -> Pid {
    match fd::pidfd_open(pid as u32) {
        Some(fd) => Pid::Fd(fd),
        None => Pid::Kill(pid),
    }
}
