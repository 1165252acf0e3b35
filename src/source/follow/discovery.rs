//! Discovery: the globs among the names, walked at start and whenever a directory they walk
//! changed. A file found is followed by identity (device, inode), across renames within the
//! globs; a file no glob finds any more is read to its end and closed — or, renamed out of
//! the globs (logrotate's rename), read on until quiet for `--rotate-wait` (issue 23 item 1).

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Instant;

use anyhow::Result;

use crate::protocol::{Flow, Stage};
use crate::source::reader::{Held, ReadError};

use super::file::{AtStart, FileKind, Followed, State, is_missing};
use super::glob::Found;
use super::parking::is_out_of_fds;
use super::wait::Waiter;
use super::{Follow, archive};

impl Follow {
    /// Expand the globs again: a file found under another name is the same file renamed
    /// (followed on where it was, under its new name); a file no glob finds any more
    /// (removed, or renamed out of the globs) is read to its end and closed; a file not
    /// seen before is followed — as `-n` says at start (`at_start`), from its first line
    /// afterwards.
    pub(super) fn discover(
        &mut self,
        out: &mut dyn Stage,
        w: &mut Waiter,
        at_start: bool,
    ) -> Result<Flow> {
        if self.globs.is_none() {
            return Ok(Flow::Continue);
        }
        self.watch_globs(w);
        let mut found = std::mem::take(&mut self.found);
        // A descriptor kept for the walk: with every other one taken by followed files, a
        // directory could not be read at all.
        self.reserve = None;
        let mut complete = true;
        if let Some(g) = &self.globs {
            g.scan(&mut found);
            complete = g.complete();
        }
        self.reserve = File::open("/dev/null").ok();
        let by_id: std::collections::HashMap<(u64, u64), usize> =
            found.iter().enumerate().map(|(k, f)| (f.id, k)).collect();
        let mut taken = vec![false; found.len()];
        for i in 0..self.files.len() {
            let f = &self.files[i];
            // Open or parked, a file is known by its identity, wherever it is now.
            if let Some(id) = f.id() {
                match by_id.get(&id) {
                    Some(&k) => {
                        taken[k] = true;
                        self.files[i].out_of_globs = None;
                        let f = &self.files[i];
                        if f.found && found[k].path != f.path {
                            self.rename_found(i, &found[k].path);
                        }
                    }
                    // Only a complete walk tells that a file is gone.
                    None if f.found && complete => match self.left_globs(i, out)? {
                        None => {}
                        Some(Flow::Stop) => {
                            self.found = found;
                            return Ok(Flow::Stop);
                        }
                        Some(Flow::Continue) => {
                            self.counts.closed += 1;
                            self.drop_found(i);
                        }
                    },
                    None => {}
                }
                continue;
            }
            if !f.found || matches!(f.state, State::Done) {
                continue;
            }
            // Not open (cannot be opened yet): known by its path.
            match found.binary_search_by(|x| x.path.as_path().cmp(&f.path)) {
                Ok(k) => taken[k] = true,
                Err(_) if complete => self.drop_found(i),
                Err(_) => {}
            }
        }
        if complete {
            self.archives.keep_only(&found);
        }
        for (k, t) in taken.iter().enumerate() {
            if !t {
                // A compressed file is read once, not followed (see `archive`).
                match self.archive(&found[k], at_start, out)? {
                    archive::Archived::No => self.add_found(&found[k], at_start, w)?,
                    archive::Archived::Done => {}
                    archive::Archived::Stop => {
                        self.found = found;
                        return Ok(Flow::Stop);
                    }
                }
            }
        }
        self.found = found;
        self.tell_counts();
        Ok(Flow::Continue)
    }

    /// File `i`, found by a glob, is no longer found by any (complete walk). Open and
    /// renamed out of the globs, not removed: read on until quiet (see
    /// [`Follow::expire_rotated`]), `None`. Open and removed: read to its end and closed.
    /// Parked (renamed or removed while closed): its rest, if it is still in its directory,
    /// then it is closed; `None` while there is no descriptor for it yet (at the next walk).
    /// `Some`: closed, with downstream's answer; the caller frees its slot.
    fn left_globs(&mut self, i: usize, out: &mut dyn Stage) -> Result<Option<Flow>> {
        match &self.files[i].state {
            State::Open(o) => {
                let removed = o.file.metadata().map_or(true, |m| m.nlink() == 0);
                if !removed {
                    self.files[i].out_of_globs.get_or_insert_with(Instant::now);
                    return Ok(None);
                }
                self.close_input(i, out).map(Some)
            }
            State::Parked(_) => match self.unpark_rest(i)? {
                Some(true) => self.close_input(i, out).map(Some),
                Some(false) => Ok(None),
                None => self.lost_parked(i, out).map(Some),
            },
            _ => Ok(None),
        }
    }

    /// Input `i`'s name leads to a new file: read its old file to its end, then, if it is a
    /// regular file still linked (renamed, not removed), hand it over (with its partial line)
    /// to an entry of its own, read on under the same name until it has been quiet for
    /// `--rotate-wait` (see [`Follow::expire_rotated`]); otherwise close it as
    /// [`Follow::close_input`] does. Input `i` is left to be reopened.
    pub(super) fn keep_rotated(&mut self, i: usize, out: &mut dyn Stage) -> Result<Flow> {
        let linked = self.files[i].open().is_some_and(|o| {
            o.kind == FileKind::Regular && o.file.metadata().is_ok_and(|m| m.nlink() > 0)
        });
        if !linked || self.files[i].stdin {
            return self.close_input(i, out);
        }
        loop {
            let (n, flow) = match self.fill(i, out) {
                Ok(r) => r,
                Err(e) if ReadError::is(&e) => return self.close_input(i, out),
                Err(e) => return Err(e),
            };
            if flow.is_stop() {
                return Ok(Flow::Stop);
            }
            if n == 0 {
                break;
            }
        }
        if self.holder == Some(i) {
            self.reader.stash(&mut self.files[i].partial);
            self.holder = None;
        }
        let f = &mut self.files[i];
        let mut old = Followed::new(&f.path, 0)?;
        old.name = f.name.clone();
        old.found = true;
        old.out_of_globs = Some(Instant::now());
        old.partial = std::mem::take(&mut f.partial);
        old.state = std::mem::replace(&mut f.state, State::Missing);
        match self.free.pop() {
            Some(j) => {
                if self.announced == Some(j) {
                    self.announced = None;
                }
                self.files[j] = old;
            }
            None => self.files.push(old),
        }
        Ok(Flow::Continue)
    }

    /// Close the files renamed out of the globs that have been quiet for `--rotate-wait`
    /// (since their rename and since their last growth), or that were removed: each read to
    /// its end first.
    pub(super) fn expire_rotated(&mut self, out: &mut dyn Stage) -> Result<Flow> {
        for i in 0..self.files.len() {
            let f = &self.files[i];
            let (Some(since), State::Open(o)) = (f.out_of_globs, &f.state) else {
                continue;
            };
            let removed = o.file.metadata().map_or(true, |m| m.nlink() == 0);
            let quiet =
                since.elapsed() >= self.rotate_wait && o.grown.elapsed() >= self.rotate_wait;
            if !(removed || quiet) {
                continue;
            }
            if self.close_input(i, out)?.is_stop() {
                return Ok(Flow::Stop);
            }
            self.counts.closed += 1;
            self.drop_found(i);
        }
        self.tell_counts();
        Ok(Flow::Continue)
    }

    /// Follow a file a glob found, in a free slot if there is one.
    pub(super) fn add_found(
        &mut self,
        found: &Found,
        at_start: bool,
        w: &mut Waiter,
    ) -> Result<()> {
        let mut f = Followed::new(&found.path, if at_start { self.start.skip() } else { 0 })?;
        f.found = true;
        let i = match self.free.pop() {
            Some(i) => {
                if self.holder == Some(i) {
                    // Its partial line was pushed when it was closed: nothing is held.
                    let mut none = Held::default();
                    self.reader.stash(&mut none);
                    self.holder = None;
                }
                if self.announced == Some(i) {
                    self.announced = None;
                }
                self.files[i] = f;
                i
            }
            None => {
                self.files.push(f);
                self.files.len() - 1
            }
        };
        if !at_start {
            self.counts.discovered += 1;
        }
        match self.open_parking(&found.path, i) {
            Ok((file, meta)) => {
                if let Some(open) = self.admit(i, file, &meta) {
                    if open.id != found.id
                        && let Some(g) = &self.globs
                    {
                        // The directory entry told another inode than the file has:
                        // from now on each file found is looked at.
                        g.stat_all.set(true);
                    }
                    self.files[i].state = State::Open(open);
                    if at_start {
                        self.start_at(i, &meta)?;
                    } else {
                        self.copy_check(i, &meta)?;
                    }
                    // The globs' directories are watched already.
                    if !w.watches_files() {
                        let dir = self.files[i].dir.clone();
                        self.watch(i, w, Some(&dir));
                    }
                }
            }
            Err(e) if is_out_of_fds(&e) => {
                self.files[i].state = State::Starved(at_start.then_some(AtStart {
                    id: found.id,
                    size: std::fs::metadata(&found.path).map_or(0, |m| m.len()),
                }));
            }
            // Gone already.
            Err(e) if is_missing(&e) => self.drop_found(i),
            Err(e) => self.deny(i, e),
        }
        Ok(())
    }

    /// A file a glob found is now under another name the globs match: the same file,
    /// followed on where it was; its lines are shown under the new name from now on.
    pub(super) fn rename_found(&mut self, i: usize, to: &Path) {
        let f = &mut self.files[i];
        f.path = to.to_path_buf();
        f.name = to.display().to_string();
        if let Ok(abs) = std::path::absolute(to) {
            f.dir = abs.parent().unwrap_or(Path::new("/")).to_path_buf();
        }
        if self.announced == Some(i) {
            self.announced = None;
        }
    }

    /// A file a glob found is no longer followed: its slot is free (its descriptor, if it
    /// had one, is closed here).
    pub(super) fn drop_found(&mut self, i: usize) {
        let f = &mut self.files[i];
        if !matches!(f.state, State::Done) {
            f.state = State::Done;
            f.partial.clear();
            self.free.push(i);
        }
    }

    /// Watch the directory of each glob's fixed prefix (its subdirectories too when the glob
    /// goes deeper), or while it does not exist, its nearest existing ancestor.
    pub(super) fn watch_globs(&mut self, w: &mut Waiter) {
        let Some(g) = &self.globs else {
            return;
        };
        self.glob_watches.resize(g.patterns.len(), None);
        if w.refresh_trees() {
            self.recheck = true;
        }
        for (k, p) in g.patterns.iter().enumerate() {
            let Ok(base) = std::path::absolute(p.root()) else {
                continue;
            };
            let mut dir = base.as_path();
            while !dir.is_dir() {
                match dir.parent() {
                    Some(d) => dir = d,
                    None => break,
                }
            }
            let want = Some((dir.to_path_buf(), p.deep() && dir == base));
            if want != self.glob_watches[k] {
                w.watch_tree(self.glob_watches[k].as_ref(), want.as_ref());
                self.glob_watches[k] = want;
                // A new watch sees only what happens from now on: look once more.
                self.recheck = true;
            }
        }
    }

    /// The counts for `--stats`: the files followed (open, or parked) now.
    pub(super) fn tell_counts(&mut self) {
        self.counts.followed = self
            .files
            .iter()
            .filter(|f| matches!(f.state, State::Open(_) | State::Parked(_)))
            .count() as u64;
        self.meter.set_files(self.counts);
    }
}
