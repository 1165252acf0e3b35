//! Driving the follow: one round checks the names when due, reads what is new, and says how
//! long to wait; [`Follow::run`](crate::protocol::Source::run) loops over rounds and waits
//! in between, [`FollowTask`] runs the same rounds as a task of the scheduler.
//!
//! A round's parts live with their concern: [`super::names`] and [`super::discovery`] for
//! the checks, [`super::reading`] for the reads, [`super::checkpoint`] for `--state`.

use std::io::{self};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::protocol::{Source, Stage};
use crate::runtime::signal::Interrupt;

use super::change::NAMES;
use super::file::{FileKind, Followed, State};
use super::wait::Waiter;
use super::{Follow, wait};

/// Which inputs a round of reads looks at (pipes and FIFOs always: they cost nothing
/// when empty).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Scope {
    /// Every input.
    All,
    /// The names given and the files found by globs that were appended to.
    Named,
    /// The files that were appended to (or had more to read).
    Poked,
}

/// What one round of reads found.
#[derive(PartialEq, Eq)]
pub(super) enum Round {
    /// Every input is at its end for now.
    Idle,
    /// Some input has more to read right away.
    Busy,
    /// Downstream wants nothing more.
    Stop,
}

/// Where the follow loop is between two waits.
pub(super) struct Turn {
    /// The once-a-second check (or the `--poll` interval).
    pub(super) tick: Duration,
    pub(super) next_tick: Instant,
    /// A name changed: check every name.
    pub(super) names: bool,
    pub(super) ticked: bool,
    /// Look at the files' first bytes before reading on.
    pub(super) verify: bool,
    /// The `--pid` process has ended: end once everything is read.
    pub(super) ending: bool,
    pub(super) scope: Scope,
    /// Nothing was waited for yet (the task's first round follows the start at once).
    pub(super) fresh: bool,
}

/// What the follow loop does next.
pub(super) enum Next {
    /// Wait (zero: only look) before the next round.
    Wait(Duration),
    /// The follow has ended (or downstream wants nothing more).
    End,
}

impl Source for Follow {
    fn run(&mut self, out: &mut dyn Stage) -> Result<()> {
        let mut w = Waiter::new(self.poll, self.pid, self.interrupt.clone())?;
        let Some(mut t) = self.start(out, &mut w)? else {
            return Ok(());
        };
        loop {
            let timeout = match self.round(&mut t, out, &mut w)? {
                Next::End if self.ended => return self.checkpoint(out, true),
                Next::End => return Ok(()),
                Next::Wait(timeout) => timeout,
            };
            if !timeout.is_zero() {
                out.flush()?;
            }
            // Even while busy: a crash repeats at most a second of lines.
            self.checkpoint(out, false)?;
            self.descriptors();
            let wake = w.wait(timeout, &self.streams, &self.regular)?;
            if let Some(sig) = wake.signal.or_else(|| w.signal()) {
                // What is already written is read (one round, so a busy file cannot hold
                // the stop back); the partial lines are not the end of their files, so
                // they are said, not pushed.
                self.status.interrupt(sig);
                if self.read_all(out, true, Scope::All)? != Round::Stop {
                    // The partial lines are not covered by the checkpoint: read again
                    // next time, whole.
                    self.checkpoint(out, true)?;
                    self.abandon_all();
                }
                return Ok(());
            }
            self.woke(&mut t, wake, &mut w)?;
        }
    }

    /// In a pipeline that runs on the scheduler, the follow becomes a task of it (see
    /// [`FollowTask`]): its flush reaches the sinks, so its checkpoints count what they
    /// wrote.
    fn into_task(self: Box<Self>) -> Option<Box<dyn crate::protocol::task::Task>> {
        let f = *self;
        Some(Box::new(FollowTask {
            f,
            w: None,
            turn: None,
            commit: false,
        }))
    }
}

/// `follow` as a native task of the scheduler: the same rounds as `Follow::run`, with
/// the wait done by the scheduler (readable on the waiter's descriptor, or the next
/// once-a-second check). Its checkpoints are taken when no stage holds items back
/// ([`crate::runtime::timer::Timers::holding`]: an open `multiline` event, the count of a `count
/// --every` interval), after a flush of the chain, and written at the next resume — after
/// whatever the scheduler does with what this one pushed (a `merge` delivers a branch's
/// items once its task yields). The last one is written once the chain has been closed.
pub struct FollowTask {
    f: Follow,
    w: Option<Waiter>,
    turn: Option<Turn>,
    /// A checkpoint was taken: write it at the next resume.
    commit: bool,
}

impl crate::protocol::task::Task for FollowTask {
    fn resume(
        &mut self,
        cx: &mut crate::protocol::task::Cx<'_>,
        out: &mut dyn Stage,
    ) -> Result<crate::protocol::task::Wait> {
        use crate::protocol::task::Wait;
        if std::mem::take(&mut self.commit) {
            self.f.store_checkpoint();
        }
        if self.w.is_none() {
            // The scheduler sees the signals itself.
            let mut w = Waiter::new(self.f.poll, self.f.pid, Interrupt::none())?;
            let started = self.f.start(out, &mut w)?;
            self.w = Some(w);
            match started {
                Some(t) => self.turn = Some(t),
                None => {
                    cx.stop_all();
                    return Ok(Wait::Done);
                }
            }
        }
        let w = self.w.as_mut().expect("started");
        let t = self.turn.as_mut().expect("started");
        if self.f.ended {
            return Ok(Wait::Done);
        }
        if !t.fresh {
            self.f.descriptors();
            let wake = w.wait(Duration::ZERO, &self.f.streams, &self.f.regular)?;
            self.f.woke(t, wake, w)?;
        }
        t.fresh = false;
        // Right after a tick (a `count --every` has printed): nothing may be held.
        self.commit = self.f.take_checkpoint(out, false)?;
        let timeout = match self.f.round(t, out, w)? {
            Next::End => {
                if self.f.ended {
                    self.f.last_checkpoint(out)?;
                    cx.pushed();
                    return Ok(Wait::Done);
                }
                cx.stop_all();
                return Ok(Wait::Done);
            }
            Next::Wait(timeout) => timeout,
        };
        cx.pushed();
        if !self.commit {
            self.commit = self.f.take_checkpoint(out, false)?;
        }
        if timeout.is_zero() || self.commit {
            return Ok(Wait::Soon);
        }
        self.f.descriptors();
        let fd = w.descriptor(&self.f.streams, &self.f.regular)?;
        if w.has_news() {
            return Ok(Wait::Soon);
        }
        Ok(Wait::ReadableUntil(fd, t.next_tick))
    }

    fn interrupted(&mut self, out: &mut dyn Stage) -> Result<bool> {
        if self.turn.is_some()
            && !self.f.ended
            && self.f.read_all(out, true, Scope::All)? != Round::Stop
        {
            // The partial lines are not covered by the checkpoint: read again next time,
            // whole.
            self.f.last_checkpoint(out)?;
            self.f.abandon_all();
        }
        Ok(true)
    }
}

impl Follow {
    /// Start: open the names, walk the globs, read what the state says was left; `None`
    /// when downstream wants nothing more.
    pub(super) fn start(&mut self, out: &mut dyn Stage, w: &mut Waiter) -> Result<Option<Turn>> {
        self.files_watched = w.watches_files();
        if let Some(c) = &mut self.checkpoint {
            c.load();
        }
        for i in 0..self.files.len() {
            self.begin(i, w)?;
        }
        if self.discover(out, w, true)?.is_stop() {
            return Ok(None);
        }
        if self.read_rests(out)?.is_stop() {
            return Ok(None);
        }
        self.tell_starved();
        let tick = w.tick();
        Ok(Some(Turn {
            tick,
            next_tick: Instant::now() + tick,
            names: false,
            ticked: false,
            // The files' first bytes were just read when they were opened.
            verify: false,
            ending: false,
            scope: Scope::All,
            fresh: true,
        }))
    }

    /// One round: check the names when due, read what is new, and say how long to wait.
    /// At the end, every partial line has been pushed.
    pub(super) fn round(
        &mut self,
        t: &mut Turn,
        out: &mut dyn Stage,
        w: &mut Waiter,
    ) -> Result<Next> {
        if t.names || t.ticked {
            self.out_of_fds = false;
            for i in 0..self.files.len() {
                if self.check_name(i, out, w)?.is_stop() {
                    return Ok(Next::End);
                }
            }
            // The once-a-second check walks the globs again only if a directory they
            // walked changed: a stat per directory, not a walk of the tree.
            let walk = t.names || self.globs.as_ref().is_some_and(|g| g.moved());
            if walk && self.discover(out, w, false)?.is_stop() {
                return Ok(Next::End);
            }
            if self.expire_rotated(out)?.is_stop() {
                return Ok(Next::End);
            }
            self.tell_starved();
        }
        let round = self.read_all(out, t.verify, t.scope)?;
        if round == Round::Stop {
            return Ok(Next::End);
        }
        let recheck = std::mem::take(&mut self.recheck);
        let busy = round == Round::Busy || recheck;
        t.names = recheck;
        // A glob may find files later: it never runs out.
        let all_done =
            self.globs.is_none() && self.files.iter().all(|f| matches!(f.state, State::Done));
        if !busy && (t.ending || all_done) {
            self.finish_all(out)?;
            self.ended = true;
            return Ok(Next::End);
        }
        Ok(Next::Wait(if busy {
            Duration::ZERO
        } else {
            t.next_tick.saturating_duration_since(Instant::now())
        }))
    }

    /// The descriptors a wait watches: the pipes being read, the open regular files.
    pub(super) fn descriptors(&mut self) {
        self.streams.clear();
        self.streams.extend(
            self.files
                .iter()
                .filter_map(Followed::open)
                .filter(|o| o.kind != FileKind::Regular)
                .map(|o| o.file.as_raw_fd()),
        );
        self.regular.clear();
        self.regular.extend(
            self.files
                .iter()
                .filter_map(Followed::open)
                .filter(|o| o.kind == FileKind::Regular)
                .map(|o| (o.file.as_raw_fd(), o.id)),
        );
    }

    /// What a wait found (but a signal): what the next round looks at.
    pub(super) fn woke(&mut self, t: &mut Turn, wake: wait::Wake, w: &mut Waiter) -> Result<()> {
        if self.files_watched && !w.watches_files() {
            // The files' own watches failed: their directories are watched instead.
            self.files_watched = false;
            for i in 0..self.files.len() {
                if self.files[i].open().is_some() {
                    self.watch_open(i, w);
                }
            }
        }
        if wake.output_gone {
            return Err(
                anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe))
                    .context("standard output was closed"),
            );
        }
        t.names |= wake.fs & NAMES != 0;
        if wake.pid_gone && !t.ending {
            // One more look at everything, then end once it is all read.
            t.ending = true;
            t.names = true;
        }
        t.ticked = Instant::now() >= t.next_tick;
        if t.ticked {
            w.refresh();
            t.next_tick = Instant::now() + t.tick;
            if w.polls_some() {
                // The files left without a watch of their own are polled.
                for f in self.files.iter_mut() {
                    if f.open().is_some_and(|o| w.polled(o.id)) {
                        f.poke = true;
                    }
                }
            }
        }
        if wake.only_changed {
            for &id in w.changed() {
                for f in self.files.iter_mut() {
                    if f.open().is_some_and(|o| o.id == id) {
                        f.poke = true;
                    }
                }
            }
        }
        // Which files to look at: those the files' own watches named, the named files
        // too at the once-a-second check; every file after anything else.
        t.scope = if t.names || !self.files_watched || (wake.fs != 0 && !wake.only_changed) {
            Scope::All
        } else if t.ticked {
            Scope::Named
        } else {
            Scope::Poked
        };
        // A file changed (or may have: the periodic check): one look at its first
        // bytes before reading on.
        t.verify = wake.fs != 0 || t.names || t.ticked;
        Ok(())
    }
}
