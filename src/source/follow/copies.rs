//! Rotated copies that a glob follows too (`follow '*.log*'` over logrotate's
//! copytruncate): `f.log.1` holds what `f.log` held, and what of it was read as `f.log`
//! must not come again as `f.log.1` (issue 23's leftover).
//!
//! Two orders, both handled:
//!
//! * the copy is found by the globs before the truncation of `f.log` is seen: a new file
//!   with a rotated name of a followed file, in its directory, beginning with the bytes
//!   that file begins with, is taken for its copy — not read until it is as long as what
//!   was read of the file, then read from there (its first bytes checked again); one that
//!   stays shorter for `--rotate-wait` was no copy and is read from its start. When the
//!   truncation is then seen, the unread rest of the old content is left to the copy's
//!   own entry (see [`Follow::hand_to_copy`]) rather than read twice;
//! * the truncation is seen first: the rest is read from the copy as `f.log`'s lines, and
//!   the copy remembered by identity with the offset reached ([`Follow::copies`]); found
//!   by a glob afterwards, it is read from there.
//!
//! After a restart with `--state`, a copy made while copipe was stopped that the globs
//! find is treated as in the first order: the rest of the old content is read once, as
//! the copy's lines.

use std::fs::Metadata;
use std::io::{Seek, SeekFrom};
use std::time::Instant;

use anyhow::{Context, Result};

use super::file::{Copied, FileKind, HEAD, State, read_head};
use super::state::fingerprint;
use super::{Follow, note, rotated};

/// How many rotated copies read are remembered (see [`Follow::copies`]).
pub(super) const COPIES_KEPT: usize = 16;

impl Follow {
    /// A file a glob found after the start (input `i`, just opened): a rotated copy read
    /// already is read from where that reading got to; a file that may be the copy of a
    /// followed file waits until that is known (see [`Follow::resolve_copy`]).
    pub(super) fn copy_check(&mut self, i: usize, meta: &Metadata) -> Result<()> {
        let State::Open(o) = &self.files[i].state else {
            return Ok(());
        };
        if o.kind != FileKind::Regular {
            return Ok(());
        }
        let id = o.id;
        if let Some(k) = self.copies.iter().position(|(c, _)| *c == id) {
            let (_, reached) = self.copies.remove(k);
            let to = reached.min(meta.len());
            let f = &mut self.files[i];
            if let State::Open(o) = &mut f.state {
                o.file
                    .seek(SeekFrom::Start(to))
                    .with_context(|| format!("error reading {}", f.name))?;
                o.offset = to;
            }
            note(format_args!(
                "{}: a rotated copy whose first {to} bytes were read already (as the file it copies); reading it from there",
                self.files[i].name
            ));
            return Ok(());
        }
        let Some(name) = self.files[i].path.file_name().and_then(|n| n.to_str()) else {
            return Ok(());
        };
        let head = &o.head;
        let of = self.files.iter().enumerate().find(|&(j, f)| {
            j != i
                && !f.stdin
                && f.copy_of.is_none()
                && f.dir == self.files[i].dir
                && f.path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|base| rotated::is_rotated_name(base, name))
                && f.open().is_some_and(|jo| {
                    jo.kind == FileKind::Regular && jo.id != id && jo.head.len > 0 && {
                        // What both know: a copy being written is shorter, a copy of
                        // a file whose known first bytes are fewer than it has is
                        // longer.
                        let both = head.len.min(jo.head.len);
                        head.bytes[..both] == jo.head.bytes[..both]
                    }
                })
        });
        let Some((j, _)) = of else {
            return Ok(());
        };
        let jo = self.files[j].open().expect("open");
        let copied = Copied {
            of: self.files[j].name.clone(),
            head_len: jo.head.len,
            head_hash: jo.head.hash(),
            upto: self.checkpoint_offset(j, jo.offset),
            size: meta.len(),
            since: Instant::now(),
        };
        self.files[i].copy_of = Some(Box::new(copied));
        Ok(())
    }

    /// Input `i` may be a copy (see [`Follow::copy_check`]): whether it may be read now.
    /// As long as what was read of the file it copies, and beginning as it began: read from
    /// there. Shorter, and growing (being copied): not yet. Shorter and quiet for
    /// `--rotate-wait`, or other first bytes: no copy, read from its start.
    pub(super) fn resolve_copy(&mut self, i: usize) -> Result<bool> {
        let rotate_wait = self.rotate_wait;
        let f = &mut self.files[i];
        let (State::Open(o), Some(c)) = (&mut f.state, &mut f.copy_of) else {
            f.copy_of = None;
            return Ok(true);
        };
        let size = match o.file.metadata() {
            Ok(m) => m.len(),
            Err(_) => {
                f.copy_of = None;
                return Ok(true);
            }
        };
        if size >= c.upto {
            let mut head = [0u8; HEAD];
            let n = read_head(&o.file, &mut head).unwrap_or(0);
            if n >= c.head_len && fingerprint(&head[..c.head_len]) == c.head_hash {
                o.file
                    .seek(SeekFrom::Start(c.upto))
                    .with_context(|| format!("error reading {}", f.name))?;
                o.offset = c.upto;
                o.head.set(&head[..n]);
                note(format_args!(
                    "{}: a copy of {} (copytruncate): its first {} bytes were read already as {}; reading it from there",
                    f.name, c.of, c.upto, c.of
                ));
            }
            f.copy_of = None;
            return Ok(true);
        }
        if size != c.size {
            c.size = size;
            c.since = Instant::now();
            return Ok(false);
        }
        if c.since.elapsed() >= rotate_wait {
            f.copy_of = None;
            return Ok(true);
        }
        Ok(false)
    }

    /// The entry that follows the rotated copy `found` as a file of its own, if one does.
    pub(super) fn copy_followed(&self, found: &rotated::Found) -> Option<usize> {
        self.files
            .iter()
            .position(|f| f.open().is_some_and(|o| o.id == found.id))
    }

    /// What input `i` had not read of its old content is in `found`, which entry `k`
    /// follows: `k` reads it, from the start of `i`'s partial line (dropped here: its bytes
    /// come whole in `k`), unless it is past that already.
    pub(super) fn hand_to_copy(
        &mut self,
        i: usize,
        k: usize,
        found: &rotated::Found,
    ) -> Result<()> {
        let held = if self.holder == Some(i) {
            self.reader.abandon()
        } else {
            self.files[i].partial.abandon()
        };
        let from = found.offset.saturating_sub(held as u64);
        let k_holds = self.holder == Some(k) || !self.files[k].partial.is_empty();
        let f = &mut self.files[k];
        if let Some(c) = &mut f.copy_of {
            // Read more since it was found: the copy is read from here.
            c.upto = c.upto.max(from);
        } else if let State::Open(o) = &mut f.state
            && o.offset < from
            && !k_holds
        {
            o.file
                .seek(SeekFrom::Start(from))
                .with_context(|| format!("error reading {}", f.name))?;
            o.offset = from;
        }
        note(format_args!(
            "{}: what was not read yet of its old content is read as {}, which is followed too",
            self.files[i].name, self.files[k].name
        ));
        Ok(())
    }
}
