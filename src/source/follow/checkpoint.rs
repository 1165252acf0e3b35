//! Checkpoints (`--state`): where each regular file was read up to, by identity and first
//! bytes, written atomically (the file format and its lock are in [`super::state`]). Here:
//! when a checkpoint is taken (after a flush of the chain, with no stage holding items back,
//! so it covers only what the sinks have written), what it records, and how a follow
//! restarted resumes from it — the same file at its offset, a rotated one read to its end
//! first, a truncated or reused one recovered from its rotated copy where there is one.

use std::fs::{File, Metadata};
use std::io::{Seek, SeekFrom};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::protocol::{Flow, Stage};

use super::file::{FileKind, Followed, Head, State, same_head};
use super::parking::is_out_of_fds;
use super::state::Saved;
use super::{Follow, note, rotated, state};

/// `--state`: the state read at start, and when it was last written.
pub(super) struct Checkpoint {
    pub(super) path: PathBuf,
    /// The files of the state read at start (`None`: none, or unusable), by identity, and
    /// whether a file open at start took each up.
    pub(super) saved: Option<Resume>,
    /// When the state was last written durably (synced to the disk): the writes after
    /// every flushed batch are not synced (a `kill -9` cannot undo what the kernel was
    /// given), and one is synced at least every [`SYNC_EVERY`] while lines flow.
    pub(super) synced: Instant,
    /// The state was written since it was last synced.
    pub(super) unsynced: bool,
    /// The next write is synced (the last one, at the end of the follow).
    pub(super) sync_next: bool,
    /// A hash of what was last written: nothing is written while nothing moved.
    pub(super) signature: u64,
    /// The hash of the checkpoint taken last (written or not yet).
    pub(super) taken: u64,
    /// Scratch for the entries written.
    pub(super) entries: Vec<Saved>,
    /// Writing failed and was reported (once).
    pub(super) said_failure: bool,
    /// Behind asynchronous sinks (`publish --jetstream`): the checkpoints waiting for their
    /// confirmation.
    pub(super) unconfirmed: state::Unconfirmed,
    /// The state's lock (see [`state::lock`]), held while the follow lives.
    pub(super) _lock: File,
    /// Files open at start whose old content (truncated, or its inode reused while copipe
    /// was stopped) was found in a rotated copy: its rest is read first.
    pub(super) recover: Vec<(usize, rotated::Found)>,
}

impl Checkpoint {
    pub(super) fn new(path: PathBuf) -> Result<Checkpoint> {
        let lock = state::lock(&path)?;
        Ok(Checkpoint {
            _lock: lock,
            path,
            saved: None,
            synced: Instant::now(),
            unsynced: false,
            sync_next: false,
            signature: 0,
            taken: 0,
            entries: Vec::new(),
            said_failure: false,
            unconfirmed: state::Unconfirmed::default(),
            recover: Vec::new(),
        })
    }

    /// Read the state: a missing, empty, corrupt or other-version state is said, and the
    /// follow starts as without one.
    pub(super) fn load(&mut self) {
        end_partial_output();
        let shown = self.path.display();
        match state::load(&self.path) {
            Ok(Some(saved)) => {
                let by_id = saved.iter().enumerate().map(|(k, s)| (s.id, k)).collect();
                let used = vec![false; saved.len()];
                self.saved = Some((saved, by_id, used));
            }
            Ok(None) => note(format_args!(
                "state {shown} does not exist yet; starting as -n says, and keeping it from now on"
            )),
            Err(e) => note(format_args!(
                "cannot use state {shown}: {e:#}; starting as -n says, and writing a new one"
            )),
        }
    }
}

/// The files of a state read at start, by identity, and whether a file open at start
/// took each up.
pub(super) type Resume = (
    Vec<Saved>,
    std::collections::HashMap<(u64, u64), usize>,
    Vec<bool>,
);

/// How often the state is synced to the disk at most (see [`Checkpoint::synced`]): a sync
/// costs milliseconds (two `fsync`s), a write without one tens of microseconds.
pub(super) const SYNC_EVERY: Duration = Duration::from_millis(250);

impl Follow {
    /// Where the first read of a file open at start begins: where the state says (see
    /// [`Follow::resumed`]), else as `-n` says.
    pub(super) fn start_at(&mut self, i: usize, meta: &Metadata) -> Result<()> {
        let Some(offset) = self.resumed(i, meta) else {
            return self.position(i, meta);
        };
        let f = &mut self.files[i];
        f.skip = 0;
        if let State::Open(open) = &mut f.state {
            open.file
                .seek(SeekFrom::Start(offset))
                .with_context(|| format!("error reading {}", f.name))?;
            open.offset = offset;
        }
        Ok(())
    }

    /// Where the state read at start says to go on in input `i`'s file (`None`: no state,
    /// or not a regular file). The same file (device, inode and first bytes): at its
    /// offset, or from its start if it is now shorter (truncated while copipe was
    /// stopped). Another file (new, or an inode reused): from its start.
    pub(super) fn resumed(&mut self, i: usize, meta: &Metadata) -> Option<u64> {
        let c = self.checkpoint.as_mut()?;
        let (saved, by_id, used) = c.saved.as_mut()?;
        let f = &self.files[i];
        let State::Open(open) = &f.state else {
            return None;
        };
        if open.kind != FileKind::Regular || f.stdin {
            return None;
        }
        // Not in the state: a file made while copipe was stopped, all of it new.
        let Some(&k) = by_id.get(&open.id) else {
            return Some(0);
        };
        let s = &saved[k];
        let truncated = meta.len() < s.offset;
        if !truncated && same_head(&open.file, s) {
            used[k] = true;
            return Some(s.offset);
        }
        // Truncated (copytruncate), or another file under the inode (renamed away, and a
        // new file got the inode): the old content may be in a rotated copy.
        used[k] = true;
        let was = rotated::Wanted {
            head_len: s.head_len as usize,
            head_hash: s.head_hash,
            offset: s.offset,
            not: open.id,
        };
        let what = if truncated {
            "file truncated while copipe was stopped"
        } else {
            "other first bytes than the file of the state (its inode was reused, or it was rewritten)"
        };
        match (s.offset > 0 && s.head_len > 0)
            .then(|| rotated::find(&f.path, was))
            .flatten()
        {
            Some(found) => {
                note(format_args!(
                    "{}: {what}; reading the rest of its old content from {} first, then it from its start",
                    f.name,
                    found.path.display()
                ));
                c.recover.push((i, found));
            }
            None if s.offset > 0 => note(format_args!(
                "{}: {what}; reading it from its start — what was written to its old content after byte {} could not be recovered (no rotated copy in its directory begins with its first bytes)",
                f.name, s.offset
            )),
            None => note(format_args!(
                "{}: {what}; reading it from its start",
                f.name
            )),
        }
        Some(0)
    }

    /// The files of the state that no file open at start took up: one rotated while
    /// copipe was stopped is looked for, by identity, in the directory it was in; what was
    /// added to it since is read now, to its end, before anything else. One not found was
    /// removed: it is dropped from the state.
    pub(super) fn read_rests(&mut self, out: &mut dyn Stage) -> Result<Flow> {
        let Some(c) = self.checkpoint.as_mut() else {
            return Ok(Flow::Continue);
        };
        for (i, found) in std::mem::take(&mut c.recover) {
            if self.read_rotated_rest(i, found, out)?.is_stop() {
                return Ok(Flow::Stop);
            }
        }
        let Some(c) = self.checkpoint.as_mut() else {
            return Ok(Flow::Continue);
        };
        let Some((saved, _, used)) = c.saved.take() else {
            return Ok(Flow::Continue);
        };
        for (s, _) in saved.iter().zip(&used).filter(|(_, u)| !**u) {
            let Ok(Some(path)) = self.find_parking(s, usize::MAX) else {
                continue;
            };
            let Ok((file, meta)) = self.open_parking(&path, usize::MAX) else {
                continue;
            };
            if meta.len() <= s.offset || !same_head(&file, s) {
                continue;
            }
            let mut f = Followed::new(&path, 0)?;
            f.found = true;
            let i = self.files.len();
            self.files.push(f);
            let Some(mut open) = self.admit(i, file, &meta) else {
                self.drop_found(i);
                continue;
            };
            open.file
                .seek(SeekFrom::Start(s.offset))
                .with_context(|| format!("error reading {}", path.display()))?;
            open.offset = s.offset;
            self.files[i].state = State::Open(open);
            if self.close_input(i, out)?.is_stop() {
                return Ok(Flow::Stop);
            }
            self.drop_found(i);
        }
        Ok(Flow::Continue)
    }

    /// Write the state if anything moved: after flushing the output, so that it covers only
    /// what the sinks have written (see [`Follow::take_checkpoint`]). Called after every
    /// round of reads, so after every batch flushed: what a `kill -9` makes come twice is
    /// at most the batch in flight (issue 23, item 3).
    pub(super) fn checkpoint(&mut self, out: &mut dyn Stage, now: bool) -> Result<()> {
        if self.take_checkpoint(out, now)? {
            self.store_checkpoint();
        }
        Ok(())
    }

    /// Where the state may say file `i` (open at `o`) was read up to: just past the last
    /// whole line pushed (never into a partial line held). Pushed means written once the
    /// chain has been flushed with no stage holding items back (see
    /// [`Follow::take_checkpoint`]). The one place that decides it.
    pub(super) fn checkpoint_offset(&self, i: usize, offset: u64) -> u64 {
        let held = if self.holder == Some(i) {
            self.reader.held()
        } else {
            self.files[i].partial.held()
        };
        offset.saturating_sub(held as u64)
    }

    /// What the state records of input `i` (a regular file, open or parked): its identity,
    /// [`Follow::checkpoint_offset`] and its first bytes as known.
    pub(super) fn recorded(&self, i: usize) -> Option<((u64, u64), u64, &Head)> {
        let f = &self.files[i];
        if f.stdin {
            return None;
        }
        match &f.state {
            State::Open(o) if o.kind == FileKind::Regular => {
                Some((o.id, self.checkpoint_offset(i, o.offset), &o.head))
            }
            State::Parked(p) => Some((p.id, self.checkpoint_offset(i, p.offset), &p.head)),
            _ => None,
        }
    }

    /// Take a checkpoint if anything moved: flush the output, and, unless a stage still
    /// holds items back (or `now`: the chain is about to be closed, which sends them; else
    /// it is tried again at the next round), record for each open regular file its
    /// identity and [`Follow::checkpoint_offset`]. Whether one was taken (to be written by
    /// [`Follow::store_checkpoint`]) — or, nothing having moved, whether the state last
    /// written is due to be synced (see [`Checkpoint::synced`]).
    pub(super) fn take_checkpoint(&mut self, out: &mut dyn Stage, now: bool) -> Result<bool> {
        if self.checkpoint.is_none() {
            return Ok(false);
        }
        let mut sig: u64 = 0xcbf2_9ce4_8422_2325;
        let mut mix = |x: u64| sig = (sig ^ x).wrapping_mul(0x0100_0000_01b3);
        for i in 0..self.files.len() {
            if let Some((id, offset, head)) = self.recorded(i) {
                mix(i as u64);
                mix(id.0);
                mix(id.1);
                mix(offset);
                mix(head.len as u64);
            }
        }
        mix(self.archives.entries.len() as u64);
        let c = self.checkpoint.as_mut().expect("checked");
        c.sync_next |= now;
        if sig == c.signature && c.unconfirmed.is_empty() {
            return Ok(c.unsynced && (now || c.synced.elapsed() >= SYNC_EVERY));
        }
        if sig != c.signature {
            out.flush()?;
            if !now && self.timers.holding() {
                // The checkpoint waits until what is held has been sent on.
                return Ok(false);
            }
            c.taken = sig;
            let mut entries = std::mem::take(&mut c.entries);
            entries.clear();
            for i in 0..self.files.len() {
                if let Some((id, offset, head)) = self.recorded(i) {
                    entries.push(Saved {
                        path: self.files[i].path.clone(),
                        id,
                        offset,
                        head_len: head.len as u64,
                        head_hash: head.hash(),
                    });
                }
            }
            entries.extend(self.archives.entries.iter().cloned());
            let c = self.checkpoint.as_mut().expect("checked");
            // Read right after the flush: what the sinks took covers every line pushed.
            if let Some(marks) = self.status.marks() {
                c.unconfirmed.push(&entries, marks);
                c.signature = sig;
            }
            c.entries = entries;
        }
        let c = self.checkpoint.as_mut().expect("checked");
        // Behind asynchronous sinks (`publish --jetstream`, see [`crate::runtime::delivery`])
        // a flush only queued the items: the checkpoint of this moment waits until they
        // confirmed what they had taken by then, and the newest confirmed one is written
        // (`now`: waiting at most their drain time).
        if !c.unconfirmed.is_empty() {
            let confirmed = if now {
                c.unconfirmed.wait_confirmed()
            } else {
                c.unconfirmed.confirmed()
            };
            let Some(files) = confirmed else {
                return Ok(false);
            };
            c.entries = files;
        }
        Ok(true)
    }

    /// Write the checkpoint taken last (atomically; a failure is said once), synced to the
    /// disk when due (see [`Checkpoint::synced`]).
    pub(super) fn store_checkpoint(&mut self) {
        let Some(c) = self.checkpoint.as_mut() else {
            return;
        };
        // The descriptor kept in reserve serves the write when all others are taken.
        self.reserve = None;
        let sync = c.sync_next || c.synced.elapsed() >= SYNC_EVERY;
        let mut stored = state::store(&c.path, &c.entries, sync);
        if stored.as_ref().is_err_and(is_out_of_fds) && self.park_quietest(usize::MAX) {
            let c = self.checkpoint.as_ref().expect("checked");
            stored = state::store(&c.path, &c.entries, sync);
        }
        self.reserve = File::open("/dev/null").ok();
        let c = self.checkpoint.as_mut().expect("checked");
        match stored {
            Ok(()) => {
                c.signature = c.taken;
                c.unsynced = !sync;
                if sync {
                    c.synced = Instant::now();
                    c.sync_next = false;
                }
            }
            Err(e) if !c.said_failure => {
                c.said_failure = true;
                self.status.soft_error(
                    &anyhow::Error::new(e)
                        .context(format!("cannot write the state {}", c.path.display())),
                );
            }
            Err(_) => {}
        }
    }

    /// On the scheduler, at the end: the last checkpoint covers everything pushed, and is
    /// written once the chain has been closed (which sends on what stages held).
    pub(super) fn last_checkpoint(&mut self, out: &mut dyn Stage) -> Result<()> {
        if !self.take_checkpoint(out, true)? {
            return Ok(());
        }
        let c = self.checkpoint.as_mut().expect("taken");
        let (path, entries, status) = (c.path.clone(), c.entries.clone(), self.status.clone());
        self.timers.after_close(Box::new(move || {
            if let Err(e) = state::store(&path, &entries, true) {
                status.soft_error(
                    &anyhow::Error::new(e)
                        .context(format!("cannot write the state {}", path.display())),
                );
            }
        }));
        Ok(())
    }
}

/// A run killed (`kill -9`) while writing to a regular file appended to (`>> out`) may have
/// left a line cut at its end, and the next run's first line would be glued to that piece:
/// its first line is one the state says was not written yet, so it would be lost inside a
/// malformed one. So, with a state, a standard output that is a regular file opened for
/// appending and that does not end with a newline gets one first, said on stderr: the piece
/// stays a piece of its own, and the line it belonged to comes again whole.
fn end_partial_output() {
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::os::unix::fs::FileExt;
    let Ok(fd) = std::io::stdout().as_fd().try_clone_to_owned() else {
        return;
    };
    let mut out = File::from(fd);
    let Ok(meta) = out.metadata() else {
        return;
    };
    let append = crate::runtime::fd::is_append(std::os::fd::AsRawFd::as_raw_fd(&out));
    if !meta.is_file() || meta.len() == 0 || !append {
        return;
    }
    // Standard output is opened for writing only: its last byte is read through another
    // open of the same file.
    let Ok(again) = File::open("/proc/self/fd/1") else {
        return;
    };
    let mut last = [0u8; 1];
    if again.read_at(&mut last, meta.len() - 1).ok() != Some(1) || last[0] == b'\n' {
        return;
    }
    if out.write_all(b"\n").is_ok() {
        note(format_args!(
            "standard output ended with a partial line (a run killed while writing it?): ended it with a newline before the first line"
        ));
    }
}
