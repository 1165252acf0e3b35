//! Following a *name*: opening it at start (as `-n` says), reopening it when it appears,
//! becomes readable or leads to a new file (rotation), watching its directory while it does
//! not lead to its open file, and the once-a-second check of where each name leads.
//!
//! Files found by globs are followed by identity instead (see [`super::discovery`]); what a
//! name that was rotated away leaves behind is read on there too (`keep_rotated`).

use std::fs::{File, Metadata};
use std::io::{self, Seek, SeekFrom};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::protocol::{Flow, Stage};

use super::file::{AtStart, FileKind, Head, Open, State, is_missing, kind_of, open_path};
use super::parking::is_out_of_fds;
use super::start::{Start, last_lines_offset};
use super::wait::Waiter;
use super::{Follow, cause, note};

impl Follow {
    /// Open input `i` at start and position it as `-n` says, or start waiting for it.
    pub(super) fn begin(&mut self, i: usize, w: &mut Waiter) -> Result<()> {
        if self.files[i].stdin {
            let fd = io::stdin()
                .as_fd()
                .try_clone_to_owned()
                .context("cannot use standard input")?;
            let file = File::from(fd);
            let meta = file.metadata().context("cannot use standard input")?;
            let kind = if meta.is_file() {
                FileKind::Regular
            } else {
                FileKind::Stream
            };
            // Unreadable now: the first read says so.
            let head = match kind {
                FileKind::Regular => Head::of(&file).unwrap_or_else(|_| Head::empty()),
                _ => Head::empty(),
            };
            let open = Open {
                file,
                id: (meta.dev(), meta.ino()),
                offset: 0,
                kind,
                head,
                grown: Instant::now(),
            };
            self.files[i].state = State::Open(open);
            return self.position(i, &meta);
        }
        let path = self.files[i].path.clone();
        match self.open_parking(&path, i) {
            Ok((file, meta)) => match self.admit(i, file, &meta) {
                Some(open) => {
                    self.files[i].state = State::Open(open);
                    self.start_at(i, &meta)?;
                    self.watch_open(i, w);
                }
                None => {
                    self.files[i].skip = 0;
                    let dir = self.files[i].dir.clone();
                    self.watch(i, w, Some(&dir));
                }
            },
            Err(e) if is_out_of_fds(&e) => {
                let f = &mut self.files[i];
                let at_start = std::fs::metadata(&f.path)
                    .ok()
                    .filter(|m| m.is_file())
                    .map(|m| AtStart {
                        id: (m.dev(), m.ino()),
                        size: m.len(),
                    });
                f.state = State::Starved(at_start);
            }
            Err(e) if is_missing(&e) => {
                let f = &mut self.files[i];
                f.skip = 0;
                note(format_args!(
                    "cannot open {}: {}; waiting for it to appear",
                    f.name,
                    cause(&e)
                ));
                self.watch_nearest(i, w);
            }
            Err(e) => {
                self.files[i].skip = 0;
                self.deny(i, e);
                let dir = self.files[i].dir.clone();
                self.watch(i, w, Some(&dir));
            }
        }
        Ok(())
    }

    /// Where the first read of the file open at start begins: its last N lines (regular
    /// files; a pipe has no end yet to count from, so all of it is new), or its start
    /// (`+K`, with the first K-1 lines skipped as they are read).
    pub(super) fn position(&mut self, i: usize, meta: &Metadata) -> Result<()> {
        let f = &mut self.files[i];
        let State::Open(open) = &mut f.state else {
            return Ok(());
        };
        if let (Start::Last(n), FileKind::Regular) = (self.start, open.kind) {
            let size = meta.len();
            let from = last_lines_offset(&open.file, size, n)
                .and_then(|off| open.file.seek(SeekFrom::Start(off)))
                .with_context(|| format!("error reading {}", f.name))?;
            open.offset = from;
        }
        Ok(())
    }

    /// The open file of input `i`, if it is something that can be followed; otherwise the
    /// problem is reported (once) and the name is retried on later checks (`Denied`): a
    /// directory may be removed and a file created in its place.
    pub(super) fn admit(&mut self, i: usize, file: File, meta: &Metadata) -> Option<Open> {
        let ft = meta.file_type();
        let Some(kind) = kind_of(ft) else {
            let f = &mut self.files[i];
            if !f.said_unfollowable {
                f.said_unfollowable = true;
                self.status.soft_error(&anyhow::anyhow!(
                    "cannot follow {}: {}; following it again once it is a file",
                    f.name,
                    if ft.is_dir() {
                        "it is a directory"
                    } else {
                        "not a file that can be read"
                    }
                ));
            }
            f.state = State::Denied;
            return None;
        };
        self.files[i].said_unfollowable = false;
        // Just opened: read in the next round, whichever files it looks at.
        self.files[i].poke = true;
        // Unreadable now: the first read says so.
        let head = match kind {
            FileKind::Regular => Head::of(&file).unwrap_or_else(|_| Head::empty()),
            _ => Head::empty(),
        };
        Some(Open {
            file,
            id: (meta.dev(), meta.ino()),
            offset: 0,
            kind,
            head,
            grown: Instant::now(),
        })
    }

    /// Report that input `i` cannot be opened (once), and retry it on later checks.
    pub(super) fn deny(&mut self, i: usize, e: io::Error) {
        let f = &mut self.files[i];
        if !matches!(f.state, State::Denied) {
            self.status
                .soft_error(&anyhow::Error::new(e).context(format!("cannot open {}", f.name)));
        }
        f.state = State::Denied;
    }

    /// Watch `dir` for input `i` (`None`: no directory needed). A new watch sees only
    /// what happens from now on, so the names are checked once more right after it: a file
    /// created in between is not left for the next safety check.
    pub(super) fn watch(&mut self, i: usize, w: &mut Waiter, dir: Option<&Path>) {
        let f = &mut self.files[i];
        if dir.is_some() && f.watched.as_deref() != dir {
            self.recheck = true;
        }
        w.watch(f.watched.as_deref(), dir);
        f.watched = dir.map(Path::to_path_buf);
    }

    /// Input `i`'s name leads to its open file: where the files are watched themselves,
    /// no directory is needed; otherwise its directory tells of renames and removals.
    pub(super) fn watch_open(&mut self, i: usize, w: &mut Waiter) {
        if w.watches_files() {
            self.watch(i, w, None);
        } else {
            let dir = self.files[i].dir.clone();
            self.watch(i, w, Some(&dir));
        }
    }

    /// Watch the nearest existing ancestor of a missing name's directory, so that the
    /// creation of the directories on the way is seen too.
    pub(super) fn watch_nearest(&mut self, i: usize, w: &mut Waiter) {
        let mut dir = self.files[i].dir.as_path();
        while !dir.is_dir() {
            match dir.parent() {
                Some(p) => dir = p,
                None => break,
            }
        }
        let dir = dir.to_path_buf();
        self.watch(i, w, Some(&dir));
    }

    /// Look at what the name of input `i` points to now, and switch if it changed.
    pub(super) fn check_name(
        &mut self,
        i: usize,
        out: &mut dyn Stage,
        w: &mut Waiter,
    ) -> Result<Flow> {
        let f = &self.files[i];
        if f.stdin || matches!(f.state, State::Done) {
            return Ok(Flow::Continue);
        }
        if matches!(f.state, State::Parked(_)) {
            if self.check_parked(i, out)?.is_stop() {
                return Ok(Flow::Stop);
            }
            // Reopened where its name leads, or still quiet: nothing more to look at.
            // Reopened elsewhere (its name was rotated): the checks below read its rest,
            // then go on with the new file.
            let f = &self.files[i];
            let moved = matches!(&f.state, State::Open(o) if !f.found
                && std::fs::metadata(&f.path).map_or(true, |m| (m.dev(), m.ino()) != o.id));
            if !moved {
                return Ok(Flow::Continue);
            }
        }
        let f = &self.files[i];
        if f.found {
            // What a glob found is followed by identity: [`Follow::discover`] sees it
            // renamed or gone. A name that could not be opened is tried again here.
            match f.state {
                State::Open(_) => return Ok(Flow::Continue),
                State::Missing => {
                    self.drop_found(i);
                    return Ok(Flow::Continue);
                }
                _ => {}
            }
        }
        if let State::Starved(at_start) = f.state {
            if !self.out_of_fds {
                self.open_starved(i, at_start, w)?;
            }
            return Ok(Flow::Continue);
        }
        let now = std::fs::metadata(&f.path);
        match (&f.state, now) {
            (State::Open(o), Ok(m)) if (m.dev(), m.ino()) == o.id => Ok(Flow::Continue),
            (State::Open(_), Ok(m)) => {
                // Rotated: the old file first, to its very end; a regular file still in
                // its directory is read on (the writer may still write to it until it
                // reopens its log) until it has been quiet for --rotate-wait.
                if self.keep_rotated(i, out)?.is_stop() {
                    return Ok(Flow::Stop);
                }
                // A directory in its place is said by `admit`.
                if kind_of(m.file_type()).is_some() {
                    note(format_args!(
                        "{} has been replaced; following new file",
                        self.files[i].name
                    ));
                }
                self.files[i].state = State::Done;
                self.reopen(i, w);
                Ok(Flow::Continue)
            }
            (State::Open(o), Err(e)) => {
                let renamed_away = is_missing(&e)
                    && o.kind == FileKind::Regular
                    && o.file.metadata().is_ok_and(|m| m.nlink() > 0);
                if renamed_away {
                    // Mid-rotation: the writer may still be writing to it until the new
                    // file appears; keep reading it, and watch for the name to come back.
                    let dir = self.files[i].dir.clone();
                    self.watch(i, w, Some(&dir));
                    return Ok(Flow::Continue);
                }
                if self.close_input(i, out)?.is_stop() {
                    return Ok(Flow::Stop);
                }
                note(format_args!(
                    "{} has become inaccessible: {}; waiting for it to appear",
                    self.files[i].name,
                    cause(&e)
                ));
                self.watch_nearest(i, w);
                Ok(Flow::Continue)
            }
            // Still the directory already reported: nothing to open.
            (State::Denied, Ok(m)) if f.said_unfollowable && kind_of(m.file_type()).is_none() => {
                Ok(Flow::Continue)
            }
            (State::Missing | State::Denied, Ok(_)) => {
                self.reopen(i, w);
                Ok(Flow::Continue)
            }
            (State::Missing | State::Denied, Err(_)) => {
                self.files[i].state = State::Missing;
                self.watch_nearest(i, w);
                Ok(Flow::Continue)
            }
            (State::Done | State::Starved(_) | State::Parked(_), _) => Ok(Flow::Continue),
        }
    }

    /// Open the name of input `i` again, from its start: a file that appeared or became
    /// readable (said so on stderr), or the new file of a rotation (`Done` before: already
    /// said).
    pub(super) fn reopen(&mut self, i: usize, w: &mut Waiter) {
        let was = std::mem::replace(&mut self.files[i].state, State::Missing);
        self.files[i].skip = 0;
        // A directory was there before: the file in its place is a new one.
        let was_unfollowable = self.files[i].said_unfollowable;
        let path = self.files[i].path.clone();
        match self.open_parking(&path, i) {
            Ok((file, meta)) => {
                let Some(open) = self.admit(i, file, &meta) else {
                    // Watched, so that its removal is seen.
                    let dir = self.files[i].dir.clone();
                    self.watch(i, w, Some(&dir));
                    return;
                };
                let f = &mut self.files[i];
                match was {
                    State::Missing => {
                        note(format_args!("{} has appeared; following new file", f.name))
                    }
                    State::Denied if was_unfollowable => {
                        note(format_args!("{} has appeared; following new file", f.name))
                    }
                    State::Denied => note(format_args!(
                        "{} has become accessible; following it",
                        f.name
                    )),
                    _ => {}
                }
                f.state = State::Open(open);
                self.watch_open(i, w);
            }
            Err(e) if is_out_of_fds(&e) => {
                // A new file: read from its start once it can be opened.
                self.files[i].state = State::Starved(None);
            }
            Err(e) if is_missing(&e) => {
                self.files[i].state = if matches!(was, State::Denied) {
                    State::Denied
                } else {
                    State::Missing
                };
                self.watch_nearest(i, w);
            }
            Err(e) => {
                self.files[i].state = was;
                self.deny(i, e);
            }
        }
    }

    /// A named FIFO's writer went away: open it again, so that the end of file is not
    /// reported over and over and the next writer is read.
    pub(super) fn reopen_fifo(&mut self, i: usize) {
        let f = &mut self.files[i];
        match open_path(&f.path) {
            Ok((file, meta)) if meta.file_type().is_fifo() => {
                f.state = State::Open(Open {
                    file,
                    id: (meta.dev(), meta.ino()),
                    offset: 0,
                    kind: FileKind::Fifo,
                    head: Head::empty(),
                    grown: Instant::now(),
                });
            }
            // Replaced by something else, or gone: the next name check sorts it out.
            _ => f.state = State::Missing,
        }
    }
}
