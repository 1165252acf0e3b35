//! Compressed files in a followed glob (`follow 'app.log*'`): an archive is complete, so it
//! is read once, whole and decompressed, never followed; and it is known by the fingerprint
//! of its *decompressed* first bytes, so that the compressed copy of a file this follow has
//! read (`app.log` → `app.log.1` → `app.log.1.gz`) is not read again.
//!
//! * Running: a compressed file that a glob finds is compared with the first bytes of every
//!   file open or parked now and of the last [`CLOSED`] files read to their end and closed.
//!   The same first bytes: its lines came already (the follow reads a rotated file to its
//!   end through its descriptor, removed or not), and it is only remembered. Else it is new
//!   and read whole, as it is found.
//! * `--state`: each archive read is kept in the state as the offset reached in its
//!   decompressed bytes and the fingerprint of its decompressed first bytes (its raw first
//!   bytes never match that, so the state's rotated-file search never takes it for a plain
//!   file). Started again, an archive of the state is read on from that offset (nothing, as
//!   a rule); an archive not in it whose decompressed first bytes are those of a file of
//!   the state is that file compressed while copipe was stopped, and is read from the
//!   file's offset in its decompressed bytes: nothing lost, nothing repeated. An archive in
//!   neither, with a state, was made while copipe was stopped and is read whole.
//! * At start without a state, archives are old content: read whole with `-n +K` (as the
//!   plain files are from their start), left alone otherwise (remembered, not read).
//!
//! The archive is read in the follow's own round (its decompression on a thread of its
//! own, [`Decoder`]), so a big archive delays the followed files' new lines by as long as
//! it takes to read it.

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;

use anyhow::Result;

use super::glob::Found;
use super::state::{Saved, fingerprint};
use super::{Follow, HEAD, Head, Start, State};
use crate::item::Origin;
use crate::protocol::{Flow, Stage};
use crate::source::decompress::{DecodeError, Decoder, Format, sniff_file};
use crate::source::reader::LineReader;

/// How many closed files' first bytes are remembered.
const CLOSED: usize = 256;

/// What the follow knows of compressed files.
#[derive(Default)]
pub(super) struct Archives {
    /// Archives seen (read, or known as copies), by identity: never looked at again.
    seen: HashSet<(u64, u64)>,
    /// Archives read, for the state: identity, decompressed offset reached, and the
    /// fingerprint of their decompressed first bytes.
    pub(super) entries: Vec<Saved>,
    /// The first bytes of the files read to their end and closed, newest last.
    closed: Vec<(usize, u64)>,
}

impl Archives {
    /// File `head` was read to its end and closed: a compressed copy of it is not new.
    pub(super) fn closed(&mut self, head: &Head) {
        if head.len == 0 {
            return;
        }
        if self.closed.len() >= CLOSED {
            self.closed.remove(0);
        }
        self.closed
            .push((head.len, fingerprint(&head.bytes[..head.len])));
    }

    /// Forget the archives that a complete walk of the globs no longer finds.
    pub(super) fn keep_only(&mut self, found: &[Found]) {
        let ids: HashSet<(u64, u64)> = found.iter().map(|f| f.id).collect();
        self.entries.retain(|e| ids.contains(&e.id));
        self.seen.retain(|id| ids.contains(id));
    }
}

/// What [`Follow::archive`] did with a file a glob found.
pub(super) enum Archived {
    /// Not compressed: to be followed.
    No,
    /// Compressed: read, or known already.
    Done,
    /// Downstream stopped while it was read.
    Stop,
}

/// The first bytes of an archive, decompressed (at most [`HEAD`]).
fn decompressed_head(format: Format, path: &std::path::Path) -> Option<Vec<u8>> {
    let file = File::open(path).ok()?;
    let mut dec = Decoder::spawn(format, Vec::new(), file, false).ok()?;
    let mut head = vec![0u8; HEAD];
    let mut n = 0;
    while n < HEAD {
        match dec.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            // Corrupt: said when it is read.
            Err(_) => break,
        }
    }
    head.truncate(n);
    Some(head)
}

/// Whether `head` (decompressed first bytes) starts with the bytes fingerprinted as
/// (`len`, `hash`).
fn same(head: &[u8], len: usize, hash: u64) -> bool {
    len > 0 && head.len() >= len && fingerprint(&head[..len]) == hash
}

impl Follow {
    /// A file a glob found: if it is compressed, read it (from where the state says, or
    /// whole) or know it as a copy of what was read; see the module docs.
    pub(super) fn archive(
        &mut self,
        found: &Found,
        at_start: bool,
        out: &mut dyn Stage,
    ) -> Result<Archived> {
        if self.archives.seen.contains(&found.id) {
            return Ok(Archived::Done);
        }
        let Ok(file) = File::open(&found.path) else {
            return Ok(Archived::No);
        };
        let Some(format) = sniff_file(&file) else {
            return Ok(Archived::No);
        };
        self.archives.seen.insert(found.id);
        let head = decompressed_head(format, &found.path).unwrap_or_default();
        let name = found.path.display().to_string();
        let from = match self.archive_from(found, &head, at_start) {
            Some(from) => from,
            None => {
                self.remember_archive(found, &head, None);
                return Ok(Archived::Done);
            }
        };
        let (read, flow) = self.read_archive(format, file, &name, from, out)?;
        self.remember_archive(found, &head, Some(read));
        Ok(if flow.is_stop() {
            Archived::Stop
        } else {
            Archived::Done
        })
    }

    /// Where to read an archive from in its decompressed bytes, or `None` not to read it.
    fn archive_from(&mut self, found: &Found, head: &[u8], at_start: bool) -> Option<u64> {
        // In the state read at start: this archive (read on from where it was), or the
        // file it is the compressed copy of (read from that file's offset).
        if let Some(c) = self.checkpoint.as_mut()
            && let Some((saved, _, used)) = c.saved.as_mut()
        {
            let by_id = saved
                .iter()
                .position(|s| s.id == found.id && same(head, s.head_len as usize, s.head_hash));
            // A file of the state that a file open at start took up may still be the one
            // compressed: its name now leads to a new file that got the freed inode (and
            // was found "truncated"), or to a file copied then truncated (copytruncate).
            // Only a file still there whole, as the state knew it, is not this archive.
            let still_there = |s: &Saved| {
                File::open(&s.path).is_ok_and(|f| {
                    f.metadata()
                        .is_ok_and(|m| (m.dev(), m.ino()) == s.id && m.len() >= s.offset)
                        && super::same_head(&f, s)
                })
            };
            let by_head = || {
                let matching = |(s, u): &(&Saved, &bool)| {
                    s.head_len > 0 && same(head, s.head_len as usize, s.head_hash) && {
                        !**u || !still_there(s)
                    }
                };
                saved.iter().zip(used.iter()).position(|p| matching(&p))
            };
            if let Some(k) = by_id.or_else(by_head) {
                used[k] = true;
                let s = &saved[k];
                if s.offset == u64::MAX {
                    // Known as a copy of what was read, and never read itself.
                    return None;
                }
                if s.id != found.id {
                    super::note(format_args!(
                        "{}: {} was compressed while copipe was stopped; reading it on from byte {} of its content",
                        found.path.display(),
                        s.path.display(),
                        s.offset
                    ));
                }
                return Some(s.offset);
            }
            // Made while copipe was stopped: new.
            return Some(0);
        }
        // The compressed copy of a file read in this run (open, parked, or closed).
        let known = self.files.iter().any(|f| match &f.state {
            State::Open(o) => same(head, o.head.len, fingerprint(&o.head.bytes[..o.head.len])),
            State::Parked(p) => same(head, p.head.len, fingerprint(&p.head.bytes[..p.head.len])),
            _ => false,
        }) || self
            .archives
            .closed
            .iter()
            .any(|&(len, hash)| same(head, len, hash));
        if known {
            return None;
        }
        if at_start && !matches!(self.start, Start::From(_)) {
            // Old content: left alone, as `-n` leaves the plain files' old lines.
            return None;
        }
        Some(0)
    }

    /// Keep what the state says of an archive: the decompressed offset reached (`None`:
    /// known, not read: its whole content counts as read).
    fn remember_archive(&mut self, found: &Found, head: &[u8], read: Option<u64>) {
        let offset = read.unwrap_or(u64::MAX);
        self.archives.entries.push(Saved {
            path: found.path.clone(),
            id: found.id,
            offset,
            head_len: head.len() as u64,
            head_hash: fingerprint(head),
        });
    }

    /// Read an archive decompressed from byte `from` of its content, its lines pushed
    /// under its own name. The decompressed bytes reached, and downstream's answer.
    /// Corrupt or truncated data is reported (status 2) after the lines before it.
    fn read_archive(
        &mut self,
        format: Format,
        file: File,
        name: &str,
        from: u64,
        out: &mut dyn Stage,
    ) -> Result<(u64, Flow)> {
        let mut dec = Decoder::spawn(format, Vec::new(), file, false)?.metered(self.meter.clone());
        out.origin(Origin {
            name,
            show: self.show,
        })?;
        // The next line of a followed file says its origin again.
        self.announced = None;
        let mut skip = from;
        let mut scratch = vec![0u8; 64 * 1024];
        while skip > 0 {
            let want = skip.min(scratch.len() as u64) as usize;
            match dec.read(&mut scratch[..want]) {
                Ok(0) => return Ok((from - skip, Flow::Continue)),
                Ok(n) => skip -= n as u64,
                Err(e) => {
                    self.archive_failed(name, e.into());
                    return Ok((from - skip, Flow::Continue));
                }
            }
        }
        let mut reader = LineReader::default().max_line(self.max_line);
        loop {
            match reader.fill(&mut dec, out) {
                Ok((0, _)) => break,
                Ok((_, flow)) if flow.is_stop() => return Ok((dec.decompressed(), flow)),
                Ok(_) => self.meter.read(dec.take_compressed() as usize),
                Err(e) => {
                    if DecodeError::find(&e).is_none() && !crate::source::reader::ReadError::is(&e)
                    {
                        return Err(e);
                    }
                    self.archive_failed(name, e);
                    break;
                }
            }
        }
        self.meter.read(dec.take_compressed() as usize);
        let flow = reader.finish(out)?;
        Ok((dec.decompressed(), flow))
    }

    fn archive_failed(&self, name: &str, e: anyhow::Error) {
        self.status
            .soft_error(&e.context(format!("error reading {name}")));
    }
}
