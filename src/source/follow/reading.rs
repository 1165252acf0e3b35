//! Reading: every open input read in turn (a share of reads per round, so a busy file does
//! not starve the others) through one shared [`LineReader`](crate::source::reader::LineReader),
//! whose partial line is handed from input to input. Truncation (copytruncate) is found here
//! — a smaller size, or other first bytes — and what was not read of the old content is read
//! from its rotated copy (see [`super::rotated`]) before the file is read from its start.

use std::io::{self, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::item::Origin;
use crate::protocol::{Flow, Stage};
use crate::runtime::signal::{readable_now, report_unfinished};
use crate::source::reader::{Place, ReadError, note_cuts};

use super::copies::COPIES_KEPT;
use super::file::{FileKind, HEAD, State, read_head};
use super::rounds::{Round, Scope};
use super::start::Feed;
use super::{Follow, note, rotated};

/// Reads of one input per round before the others get their turn (16 MiB with the
/// reader's 256 KiB buffer): a busy file does not starve the others.
pub(super) const READS_PER_ROUND: usize = 64;

/// A read of a non-blocking FIFO found nothing to read.
pub(super) fn would_block(e: &anyhow::Error) -> bool {
    ReadError::io(e).is_some_and(|io| io.kind() == io::ErrorKind::WouldBlock)
}

impl Follow {
    /// Read every open input until it has nothing more (or has had its share of reads).
    /// With `verify` (after a wake-up by the files or a check of the names), the first
    /// bytes of each regular file are compared with those seen before reading on.
    pub(super) fn read_all(
        &mut self,
        out: &mut dyn Stage,
        verify: bool,
        scope: Scope,
    ) -> Result<Round> {
        let mut round = Round::Idle;
        for i in 0..self.files.len() {
            let f = &self.files[i];
            let skip = match scope {
                Scope::All => false,
                Scope::Named => f.found && !f.poke && f.copy_of.is_none(),
                Scope::Poked => !f.poke,
            };
            // Pipes and FIFOs cost no read when there is nothing: always looked at.
            if skip && f.open().is_some_and(|o| o.kind == FileKind::Regular) {
                continue;
            }
            let r = self.read_input(i, out, verify)?;
            // More to read right away: looked at in the next round whatever the scope.
            self.files[i].poke = r == Round::Busy;
            match r {
                Round::Stop => return Ok(Round::Stop),
                Round::Busy => round = Round::Busy,
                Round::Idle => {}
            }
        }
        Ok(round)
    }

    pub(super) fn read_input(
        &mut self,
        i: usize,
        out: &mut dyn Stage,
        verify: bool,
    ) -> Result<Round> {
        let Some(open) = self.files[i].open() else {
            return Ok(Round::Idle);
        };
        let (kind, fd) = (open.kind, open.file.as_raw_fd());
        if self.files[i].copy_of.is_some() && !self.resolve_copy(i)? {
            return Ok(Round::Idle);
        }
        // Before reading on: bytes past the old end may belong to a new content (truncated
        // and written again longer, between two looks) and must not be taken for an append.
        if verify
            && kind == FileKind::Regular
            && let Some(was) = self.truncated(i, true)?
            && self.after_truncation(i, was, out)?.is_stop()
        {
            return Ok(Round::Stop);
        }
        for _ in 0..READS_PER_ROUND {
            if kind != FileKind::Regular && !readable_now(fd) {
                return Ok(Round::Idle);
            }
            let room = self.reader.room();
            let (n, flow) = match self.fill(i, out) {
                Ok(r) => r,
                Err(e) if would_block(&e) => return Ok(Round::Idle),
                // Only a failed read is about this input; a stage's error ends the run.
                Err(e) if ReadError::is(&e) => {
                    let name = &self.files[i].name;
                    self.status
                        .soft_error(&e.context(format!("error reading {name}; giving up on it")));
                    self.files[i].state = State::Done;
                    return Ok(Round::Idle);
                }
                Err(e) => return Err(e),
            };
            if flow.is_stop() {
                return Ok(Round::Stop);
            }
            if n > 0 {
                // A short read reached the end of what is there: no second read to learn
                // it (each costs a system call per wake-up on a quiet log).
                if n < room && kind != FileKind::Stream {
                    return Ok(Round::Idle);
                }
                continue;
            }
            match kind {
                FileKind::Regular => {
                    if let Some(was) = self.truncated(i, false)? {
                        if self.after_truncation(i, was, out)?.is_stop() {
                            return Ok(Round::Stop);
                        }
                        continue;
                    }
                }
                FileKind::Fifo => self.reopen_fifo(i),
                FileKind::Stream => {
                    if self.finish(i, out)?.is_stop() {
                        return Ok(Round::Stop);
                    }
                    self.files[i].state = State::Done;
                }
            }
            return Ok(Round::Idle);
        }
        Ok(Round::Busy)
    }

    /// Was input `i`'s regular file truncated since it was last read? Then say so and go
    /// back to its start; what it was is given back (its first bytes and the offset read),
    /// to find its rotated copy (see [`Follow::after_truncation`]). At its end (`content`
    /// false) a size below what was read says so. After a wake-up (`content`), first bytes
    /// other than those seen there before say so — a truncation followed at once by a
    /// longer write (`: > f; echo longer >> f`) never shows a smaller size — and so do
    /// fewer first bytes than were seen there (a file that only grows never has fewer): the
    /// file was emptied, and what comes there now may be longer than what was read by the
    /// time it is read (issue 23, item 4). A rewrite of the same length or longer that
    /// begins with the same [`HEAD`] bytes cannot be told from an append (nor can GNU tail).
    pub(super) fn truncated(&mut self, i: usize, content: bool) -> Result<Option<rotated::Wanted>> {
        let f = &mut self.files[i];
        let State::Open(open) = &mut f.state else {
            return Ok(None);
        };
        let was = rotated::Wanted {
            head_len: open.head.len,
            head_hash: open.head.hash(),
            offset: open.offset,
            not: open.id,
        };
        let mut now = [0u8; HEAD];
        let rewritten = if content {
            // Unreadable: the read that follows reports it, for this file alone.
            let Ok(n) = read_head(&open.file, &mut now) else {
                return Ok(None);
            };
            let shrunk = n < open.head.len;
            let changed = shrunk || open.head.changed(&now[..n]);
            if changed {
                open.head.set(&now[..n]);
            }
            // Nothing read yet: the new content is read from its start anyway.
            changed && open.offset > 0
        } else {
            let size = open
                .file
                .metadata()
                .with_context(|| format!("error reading {}", f.name))?
                .len();
            if size < open.offset {
                // What is there now is what will be read: known from here on.
                let n = read_head(&open.file, &mut now).unwrap_or(0);
                open.head.set(&now[..n]);
            }
            size < open.offset
        };
        if !rewritten {
            return Ok(None);
        }
        note(format_args!("{}: file truncated", f.name));
        open.file
            .seek(SeekFrom::Start(0))
            .with_context(|| format!("error reading {}", f.name))?;
        open.offset = 0;
        Ok(Some(was))
    }

    /// Input `i`'s file was truncated (copytruncate) after it was read up to `was.offset`:
    /// the lines written before the truncation that were not read yet are read from its
    /// rotated copy (the sibling that begins as it began and reaches that offset, see
    /// [`rotated`]), the partial line held continuing there. Without one, a partial line
    /// held is not emitted (its rest is gone: it would be a fragment), and that is said.
    pub(super) fn after_truncation(
        &mut self,
        i: usize,
        was: rotated::Wanted,
        out: &mut dyn Stage,
    ) -> Result<Flow> {
        if was.offset > 0
            && was.head_len > 0
            && let Some(found) = rotated::find(&self.files[i].path, was)
        {
            if self.copy_followed(&found).is_some() {
                return self.read_rotated_rest(i, found, out);
            }
            note(format_args!(
                "{}: reading what was not read yet of its old content from {}",
                self.files[i].name,
                found.path.display()
            ));
            return self.read_rotated_rest(i, found, out);
        }
        let bytes = if self.holder == Some(i) {
            self.reader.abandon()
        } else {
            self.files[i].partial.abandon()
        };
        if bytes > 0 {
            note(format_args!(
                "{}: the {bytes} bytes of a line read before the truncation were not emitted: no rotated copy holds its rest",
                self.files[i].name
            ));
        }
        Ok(Flow::Continue)
    }

    /// Read the rest of input `i`'s old content from its rotated copy (positioned where
    /// reading had got to), continuing its partial line; a partial line at the copy's end is
    /// emitted as it is (as for a file rotated away). Its lines go out under the input's
    /// name: they are its lines.
    pub(super) fn read_rotated_rest(
        &mut self,
        i: usize,
        mut found: rotated::Found,
        out: &mut dyn Stage,
    ) -> Result<Flow> {
        if let Some(k) = self.copy_followed(&found) {
            self.hand_to_copy(i, k, &found)?;
            return Ok(Flow::Continue);
        }
        self.select(i);
        let mut reached = found.offset;
        loop {
            let announce = self.announced != Some(i);
            let f = &mut self.files[i];
            let mut feed = Feed {
                out,
                skip: &mut f.skip,
                origin: announce.then_some(Origin {
                    name: &f.name,
                    show: self.show,
                }),
            };
            let filled = self.reader.fill(&mut found.reader, &mut feed);
            let announced = feed.announced();
            let cuts = self.reader.take_cuts();
            note_cuts(cuts, &f.name, self.max_line, &self.meter, |_| {
                Place::Unknown
            });
            if announce && announced {
                self.announced = Some(i);
            }
            let (n, flow) = match filled {
                Ok(r) => r,
                Err(e) if ReadError::is(&e) => {
                    let shown = found.path.display().to_string();
                    self.status
                        .soft_error(&e.context(format!("error reading {shown} to its end")));
                    break;
                }
                Err(e) => return Err(e),
            };
            self.meter.read(n);
            reached += n as u64;
            if flow.is_stop() {
                return Ok(Flow::Stop);
            }
            if n == 0 {
                break;
            }
        }
        // Should a glob find the copy later, what was read of it is not read again.
        if self.copies.len() >= COPIES_KEPT {
            self.copies.remove(0);
        }
        self.copies.push((found.id, reached));
        self.finish(i, out)
    }

    /// Make the shared reader hold input `i`'s partial line.
    pub(super) fn select(&mut self, i: usize) {
        if self.holder == Some(i) {
            return;
        }
        if let Some(h) = self.holder {
            self.reader.stash(&mut self.files[h].partial);
        }
        let f = &mut self.files[i];
        self.reader.unstash(&mut f.partial);
        f.partial.clear();
        self.holder = Some(i);
    }

    /// One read of input `i`, its whole lines pushed: bytes read, and downstream's answer.
    pub(super) fn fill(&mut self, i: usize, out: &mut dyn Stage) -> Result<(usize, Flow)> {
        self.select(i);
        let announce = self.announced != Some(i);
        let f = &mut self.files[i];
        let State::Open(open) = &mut f.state else {
            return Ok((0, Flow::Continue));
        };
        let mut feed = Feed {
            out,
            skip: &mut f.skip,
            origin: announce.then_some(Origin {
                name: &f.name,
                show: self.show,
            }),
        };
        let filled = self.reader.fill(&mut open.file, &mut feed);
        // Not placed: a followed file may have been rotated or truncated since.
        let cuts = self.reader.take_cuts();
        note_cuts(cuts, &f.name, self.max_line, &self.meter, |_| {
            Place::Unknown
        });
        let (n, flow) = filled?;
        if announce && feed.announced() {
            self.announced = Some(i);
        }
        open.offset += n as u64;
        if n > 0 {
            open.grown = Instant::now();
        }
        self.meter.read(n);
        Ok((n, flow))
    }

    /// Push input `i`'s partial line, if any.
    pub(super) fn finish(&mut self, i: usize, out: &mut dyn Stage) -> Result<Flow> {
        if self.holder != Some(i) && self.files[i].partial.is_empty() {
            return Ok(Flow::Continue);
        }
        self.select(i);
        let announce = self.announced != Some(i);
        let f = &mut self.files[i];
        let mut feed = Feed {
            out,
            skip: &mut f.skip,
            origin: announce.then_some(Origin {
                name: &f.name,
                show: self.show,
            }),
        };
        let flow = self.reader.finish(&mut feed)?;
        if announce && feed.announced() {
            self.announced = Some(i);
        }
        Ok(flow)
    }

    /// A signal ends the follow: drop every partial line, saying so (their rest was never
    /// written yet, so they are no lines).
    pub(super) fn abandon_all(&mut self) {
        for i in 0..self.files.len() {
            let bytes = if self.holder == Some(i) {
                self.reader.abandon()
            } else {
                self.files[i].partial.abandon()
            };
            report_unfinished(bytes, &self.files[i].name);
        }
    }

    /// The follow ends: push every partial line.
    pub(super) fn finish_all(&mut self, out: &mut dyn Stage) -> Result<()> {
        for i in 0..self.files.len() {
            if self.finish(i, out)?.is_stop() {
                break;
            }
        }
        Ok(())
    }

    /// Read the open file of input `i` to its end, push its partial line, and close it.
    pub(super) fn close_input(&mut self, i: usize, out: &mut dyn Stage) -> Result<Flow> {
        let regular = self.files[i]
            .open()
            .is_some_and(|o| o.kind == FileKind::Regular);
        if regular {
            loop {
                let (n, flow) = match self.fill(i, out) {
                    Ok(r) => r,
                    // The old file cannot be read to its end: say so, and go on with the name.
                    Err(e) if ReadError::is(&e) => {
                        let name = &self.files[i].name;
                        self.status
                            .soft_error(&e.context(format!("error reading {name} to its end")));
                        break;
                    }
                    Err(e) => return Err(e),
                };
                if flow.is_stop() {
                    return Ok(Flow::Stop);
                }
                if n == 0 {
                    break;
                }
            }
        }
        let flow = self.finish(i, out)?;
        if let State::Open(o) = &self.files[i].state {
            self.archives.closed(&o.head);
        }
        self.files[i].state = State::Missing;
        Ok(flow)
    }
}
