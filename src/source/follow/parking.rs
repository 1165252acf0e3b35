//! Parking: when descriptors run out (`ulimit -n`), the followed regular file quiet longest
//! is closed and remembered by identity, offset and first bytes, then reopened where it was
//! once it grows — under its name, or under another name of its directory if it was rotated
//! while closed. Names that cannot be opened at all for want of a descriptor are *starved*:
//! retried at every check, said together once.

use std::fs::{File, Metadata};
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};

use crate::protocol::{Flow, Stage};

use super::file::{AtStart, FileKind, HEAD, Open, Parked, State, is_missing, open_path, read_head};
use super::start::{Start, last_lines_offset};
use super::state::Saved;
use super::wait::Waiter;
use super::{Follow, cause, note};

/// What an attempt to reopen a parked file came to.
#[derive(PartialEq, Eq)]
pub(super) enum Unpark {
    Reopened,
    /// Still out of descriptors: tried again at the next check.
    NoDescriptor,
    /// The name leads to another file (or none), or other first bytes begin it.
    Other,
}

/// A file of the state under a name of the directory it was in (a rotated log), by device
/// and inode (the first bytes are checked once it is open).
pub(super) fn find_by_identity(s: &Saved) -> io::Result<Option<PathBuf>> {
    let abs = std::path::absolute(&s.path)?;
    let Some(dir) = abs.parent() else {
        return Ok(None);
    };
    for e in std::fs::read_dir(dir)?.flatten() {
        if std::os::unix::fs::DirEntryExt::ino(&e) != s.id.1 {
            continue;
        }
        let shown = s.path.parent().unwrap_or(Path::new("")).join(e.file_name());
        if std::fs::metadata(&shown).is_ok_and(|m| (m.dev(), m.ino()) == s.id) {
            return Ok(Some(shown));
        }
    }
    Ok(None)
}

/// The open failed for want of a descriptor (this process's limit, or the system's).
pub(super) fn is_out_of_fds(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

impl Follow {
    /// Open `path` for input `keep` (`usize::MAX`: none); out of descriptors, park the
    /// quietest followed file (see [`Follow::park_quietest`]) and try again.
    pub(super) fn open_parking(
        &mut self,
        path: &Path,
        keep: usize,
    ) -> io::Result<(File, Metadata)> {
        // A descriptor freed may be taken by another process at once (the system's
        // limit): a few files at most for one open.
        const TRIES: usize = 8;
        let mut parked = 0;
        loop {
            match open_path(path) {
                Err(e) if is_out_of_fds(&e) && parked < TRIES && self.park_quietest(keep) => {
                    parked += 1;
                }
                r => return r,
            }
        }
    }

    /// [`find_by_identity`] (reading the directory takes a descriptor too): out of
    /// descriptors, park the quietest followed file but input `keep` and try again.
    pub(super) fn find_parking(&mut self, s: &Saved, keep: usize) -> io::Result<Option<PathBuf>> {
        let mut parked = 0;
        loop {
            match find_by_identity(s) {
                Err(e) if is_out_of_fds(&e) && parked < 8 && self.park_quietest(keep) => {
                    parked += 1;
                }
                r => return r,
            }
        }
    }

    /// Close the followed regular file that grew least recently (never input `keep`, nor
    /// a pipe, FIFO or standard input, whose data would be lost): it is reopened by its
    /// identity once it grows (see [`Follow::check_parked`]). Whether one was.
    pub(super) fn park_quietest(&mut self, keep: usize) -> bool {
        let quietest = self
            .files
            .iter()
            .enumerate()
            .filter(|&(j, f)| j != keep && !f.stdin)
            .filter_map(|(j, f)| match &f.state {
                State::Open(o) if o.kind == FileKind::Regular => Some((o.grown, j)),
                _ => None,
            })
            .min();
        let Some((_, j)) = quietest else {
            return false;
        };
        if self.holder == Some(j) {
            // Its partial line waits with it.
            self.reader.stash(&mut self.files[j].partial);
            self.holder = None;
        }
        let f = &mut self.files[j];
        let State::Open(o) = std::mem::replace(&mut f.state, State::Missing) else {
            unreachable!("only open files are parked")
        };
        // Its descriptor is closed here.
        f.state = State::Parked(Box::new(Parked {
            id: o.id,
            offset: o.offset,
            head: o.head,
        }));
        f.poke = false;
        self.counts.parked += 1;
        self.tell_counts();
        if !self.said_parked {
            self.said_parked = true;
            let limit = crate::runtime::rlimit::open_file_limit()
                .map_or(String::new(), |l| format!(" (the open-file limit is {l})"));
            note(format_args!(
                "out of file descriptors{limit}: closing the files quiet longest and reopening them where they were when they grow (--stats counts them)"
            ));
        }
        true
    }

    /// At a check of the names: reopen parked input `i` if its file grew (or shrank: the
    /// next read says it was truncated). A name that leads to another file now (rotated
    /// while parked): the parked file, found by identity in its directory, is reopened
    /// for its rest (see [`Follow::unpark_rest`]); gone, that is said. A file found by a
    /// glob is left to [`Follow::discover`], which follows it by identity.
    pub(super) fn check_parked(&mut self, i: usize, out: &mut dyn Stage) -> Result<Flow> {
        let f = &self.files[i];
        let State::Parked(p) = &f.state else {
            return Ok(Flow::Continue);
        };
        let path = f.path.clone();
        match std::fs::metadata(&path) {
            Ok(m) if (m.dev(), m.ino()) == p.id => {
                if m.len() != p.offset && self.unpark(i, &path, false)? == Unpark::NoDescriptor {
                    self.out_of_fds = true;
                }
                return Ok(Flow::Continue);
            }
            _ if f.found => return Ok(Flow::Continue),
            _ => {}
        }
        match self.unpark_rest(i)? {
            Some(true) => Ok(Flow::Continue),
            // No descriptor for it yet: at the next check.
            Some(false) => {
                self.out_of_fds = true;
                Ok(Flow::Continue)
            }
            None => self.lost_parked(i, out),
        }
    }

    /// Parked input `i`'s file is nowhere to be found (removed while parked): say so, push
    /// its partial line, and wait for its name.
    pub(super) fn lost_parked(&mut self, i: usize, out: &mut dyn Stage) -> Result<Flow> {
        let f = &self.files[i];
        if let State::Parked(p) = &f.state {
            note(format_args!(
                "{} was removed while closed for want of descriptors: anything added to it after byte {} could not be read; waiting for it to appear",
                f.name, p.offset
            ));
        }
        let flow = self.finish(i, out)?;
        self.files[i].state = State::Missing;
        Ok(flow)
    }

    /// Reopen parked input `i` where its file is now under another name of its directory
    /// (found by device, inode and first bytes): whether it was (`None`: it is nowhere in
    /// its directory, or other bytes begin it now).
    pub(super) fn unpark_rest(&mut self, i: usize) -> Result<Option<bool>> {
        let f = &self.files[i];
        let State::Parked(p) = &f.state else {
            return Ok(None);
        };
        let saved = Saved {
            path: f.path.clone(),
            id: p.id,
            offset: p.offset,
            head_len: p.head.len as u64,
            head_hash: p.head.hash(),
        };
        let path = match self.find_parking(&saved, i) {
            Ok(Some(path)) => path,
            Err(e) if is_out_of_fds(&e) => return Ok(Some(false)),
            Ok(None) | Err(_) => return Ok(None),
        };
        Ok(match self.unpark(i, &path, true)? {
            Unpark::Reopened => Some(true),
            Unpark::NoDescriptor => Some(false),
            Unpark::Other => None,
        })
    }

    /// Reopen parked input `i` at `path`, where it was: only the same file (device and
    /// inode; with `check_head`, its first bytes too — the file the name leads to now is
    /// checked by the next read, which sees a truncation). Whether it was (not: out of
    /// descriptors, or another file: tried again at the next check).
    pub(super) fn unpark(&mut self, i: usize, path: &Path, check_head: bool) -> Result<Unpark> {
        let State::Parked(p) = &self.files[i].state else {
            return Ok(Unpark::Other);
        };
        let id = p.id;
        let (mut file, meta) = match self.open_parking(path, i) {
            Ok(r) => r,
            Err(e) if is_out_of_fds(&e) => return Ok(Unpark::NoDescriptor),
            Err(_) => return Ok(Unpark::Other),
        };
        if (meta.dev(), meta.ino()) != id {
            return Ok(Unpark::Other);
        }
        let State::Parked(p) = std::mem::replace(&mut self.files[i].state, State::Missing) else {
            unreachable!("checked above")
        };
        if check_head {
            let mut now = [0u8; HEAD];
            let n = read_head(&file, &mut now).unwrap_or(0);
            let known = n.min(p.head.len);
            if n < p.head.len || now[..known] != p.head.bytes[..known] {
                self.files[i].state = State::Parked(p);
                return Ok(Unpark::Other);
            }
        }
        let f = &mut self.files[i];
        file.seek(SeekFrom::Start(p.offset))
            .with_context(|| format!("error reading {}", f.name))?;
        f.state = State::Open(Open {
            file,
            id,
            offset: p.offset,
            kind: FileKind::Regular,
            head: p.head,
            grown: Instant::now(),
        });
        f.poke = true;
        self.counts.reopened += 1;
        self.tell_counts();
        Ok(Unpark::Reopened)
    }

    /// Try again to open input `i`, which could not be opened for want of a descriptor.
    /// Still the file seen at start: read from where `-n` would have started then.
    pub(super) fn open_starved(
        &mut self,
        i: usize,
        at_start: Option<AtStart>,
        w: &mut Waiter,
    ) -> Result<()> {
        let path = self.files[i].path.clone();
        let (file, meta) = match self.open_parking(&path, i) {
            Ok(r) => r,
            Err(e) if is_out_of_fds(&e) => {
                self.out_of_fds = true;
                return Ok(());
            }
            Err(e) if is_missing(&e) => {
                let f = &mut self.files[i];
                f.skip = 0;
                f.state = State::Missing;
                note(format_args!(
                    "cannot open {}: {}; waiting for it to appear",
                    f.name,
                    cause(&e)
                ));
                self.watch_nearest(i, w);
                return Ok(());
            }
            Err(e) => {
                self.files[i].skip = 0;
                self.files[i].state = State::Missing;
                self.deny(i, e);
                let dir = self.files[i].dir.clone();
                self.watch(i, w, Some(&dir));
                return Ok(());
            }
        };
        let Some(open) = self.admit(i, file, &meta) else {
            self.files[i].skip = 0;
            let dir = self.files[i].dir.clone();
            self.watch(i, w, Some(&dir));
            return Ok(());
        };
        let same = at_start.filter(|a| a.id == open.id && meta.len() >= a.size);
        self.files[i].state = State::Open(open);
        match (same, self.start) {
            (Some(a), Start::Last(n)) => {
                let f = &mut self.files[i];
                let State::Open(open) = &mut f.state else {
                    unreachable!()
                };
                let from = last_lines_offset(&open.file, a.size, n)
                    .and_then(|off| open.file.seek(SeekFrom::Start(off)))
                    .with_context(|| format!("error reading {}", f.name))?;
                open.offset = from;
            }
            // `+K`: the lines still to skip count from the start.
            (Some(_), Start::From(_)) => {}
            // Another file by now: all of it is new.
            (None, _) => self.files[i].skip = 0,
        }
        self.watch_open(i, w);
        Ok(())
    }

    /// Say once how many names cannot be opened for want of descriptors (and once more
    /// when they all could be).
    pub(super) fn tell_starved(&mut self) {
        let n = self
            .files
            .iter()
            .filter(|f| matches!(f.state, State::Starved(_)))
            .count();
        if n > 0 && !self.said_starved {
            self.said_starved = true;
            let limit = crate::runtime::rlimit::open_file_limit()
                .map_or(String::new(), |l| format!(" (the open-file limit is {l})"));
            let files = if n == 1 { "file" } else { "files" };
            self.status.soft_error(&anyhow::anyhow!(
                "{n} {files} cannot be opened yet: Too many open files{limit}; retrying"
            ));
        } else if n == 0 && self.said_starved {
            self.said_starved = false;
            note(format_args!(
                "every file that could not be opened is followed now"
            ));
        }
    }
}
