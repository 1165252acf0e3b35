//! `merge { SOURCE … } { SOURCE … } …` — fan-in: several sources, each with its own filters,
//! feed one stream. The first stage of a pipeline only.
//!
//! Emits the kind its branches emit (all must emit the same). Each branch is a source
//! (`cat`, `range`, `follow` and `listen` as native tasks of the scheduler; `xml` on a thread
//! of its own behind the bridge) and filters, whose output is captured and pushed on in the
//! scheduler's thread: items arrive whole, in order within each branch. A branch's own
//! `head` ends that branch only; a `head` after the merge ends all of them. A branch that
//! fails is reported and the others go on (exit status 2 at the end). It ends when every
//! branch has ended. `--tag` names the branch an item came from (the branch's source as
//! written, e.g. `follow app.log`), in place of the branches' own origins.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Instant;

use anyhow::Result;
use clap::{ArgMatches, FromArgMatches, Parser};

use crate::engine::Scheduler;
use crate::engine::batch::Batch;
use crate::engine::bridge::SourceThread;
use crate::item::{Item, Kind, Origin, Show};
use crate::protocol::def::{
    Branch, Build, BuildBranch, BuildCx, Emits, Options, Role, StageDef, Status,
};
use crate::protocol::task::{Cx, Task, Wait};
use crate::protocol::{Flow, Source, Stage};
use crate::runtime::meter::Meter;
use crate::runtime::signal::Interrupt;
use crate::runtime::timer::Timers;

/// Merge the items of several { SOURCE … } branches into one stream.
///
/// Each branch is a source (cat, follow, xml, range, listen) and filters, in braces; all
/// branches must emit the same kind. Items arrive whole, in order within each branch. It
/// ends when every branch has ended; a `head` after it stops them all.
#[derive(Parser)]
#[command(name = "merge", disable_version_flag = true)]
pub struct Args {
    /// Show each item's branch (its source as written: `follow app.log:line`) instead of
    /// the branches' own names.
    #[arg(short = 'H', long)]
    pub tag: bool,
}

pub const DEF: StageDef = StageDef {
    name: "merge",
    aliases: &[],
    role: Role::Source,
    summary: "fan-in: the items of several { source … } branches, as they come",
    accepts: &[],
    emits: Emits::Kind(Kind::Line),
    examples: &[
        "copipe merge { follow app.log : grep ERROR } { listen tcp://127.0.0.1:5140 } : write all-errors.log",
        "copipe merge --tag { cat a.log } { cat b.log } : count",
    ],
    command: <Args as clap::CommandFactory>::command,
    fusion: None,
    build: Build::Merge(build),
};

/// What a branch's chain ends in: its items, captured to be pushed on by the merge.
#[derive(Clone, Default)]
pub struct Capture(Rc<RefCell<Batch>>);

impl Stage for Capture {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        self.0.borrow_mut().send(item)
    }
    fn send_lines(&mut self, batch: &[u8]) -> Result<Flow> {
        self.0.borrow_mut().send_lines(batch)
    }
    fn origin(&mut self, origin: Origin<'_>) -> Result<()> {
        self.0.borrow_mut().origin(origin)
    }
    fn flush(&mut self) -> Result<()> {
        self.0.borrow_mut().flush()
    }
    fn close(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Build the merge: each branch in turn (its source, then its filters, ending in a capture
/// of the merge's), then the merge itself.
fn build(
    m: &ArgMatches,
    cx: &BuildCx<'_>,
    count: usize,
    branch: &mut BuildBranch<'_>,
) -> Result<Box<dyn Source>> {
    let a = Args::from_arg_matches(m)?;
    let mut branches = Vec::with_capacity(count);
    for i in 0..count {
        let capture = Capture::default();
        branches.push((branch(i, Box::new(capture.clone()))?, capture));
    }
    Ok(Box::new(Merge {
        start: Some(Start {
            branches,
            tag: a.tag,
            opts: cx.opts.clone(),
            status: cx.status.clone(),
            interrupt: cx.interrupt.clone(),
            meter: cx.meter.clone(),
        }),
        interrupt: cx.interrupt.clone(),
        timers: cx.timers.clone(),
        status: cx.status.clone(),
    }))
}

struct Merge {
    start: Option<Start>,
    interrupt: Interrupt,
    timers: Timers,
    status: Status,
}

impl Source for Merge {
    fn run(&mut self, out: &mut dyn Stage) -> Result<()> {
        let mut sched = Scheduler::new(
            self.interrupt.clone(),
            self.timers.clone(),
            self.status.clone(),
        )?;
        if let Some(s) = self.start.take() {
            sched.spawn(Box::new(s));
        }
        sched.run(out)
    }

    fn into_task(mut self: Box<Self>) -> Option<Box<dyn Task>> {
        self.start.take().map(|s| Box::new(s) as Box<dyn Task>)
    }

    fn needs_scheduler(&self) -> bool {
        self.start.is_some()
    }
}

/// The first task: starts a task per branch, then ends.
struct Start {
    branches: Vec<(Branch, Capture)>,
    tag: bool,
    opts: Options,
    status: Status,
    interrupt: Interrupt,
    meter: Meter,
}

impl Task for Start {
    fn resume(&mut self, cx: &mut Cx<'_>, _out: &mut dyn Stage) -> Result<Wait> {
        let shared = Rc::new(Shared {
            current: Cell::new(usize::MAX),
            tag: self.tag,
            status: self.status.clone(),
        });
        for (id, (b, capture)) in self.branches.drain(..).enumerate() {
            let inner: Box<dyn Task> = match b.native {
                Some(t) => t,
                None => {
                    let (f, m) = b.bridged;
                    match SourceThread::start(
                        f,
                        m,
                        self.opts.clone(),
                        self.status.clone(),
                        self.interrupt.clone(),
                        self.meter.clone(),
                    ) {
                        Ok(t) => Box::new(t),
                        Err(e) => {
                            self.status
                                .soft_error(&e.context(format!("merge: {}", b.label)));
                            continue;
                        }
                    }
                }
            };
            let branch = Rc::new(BranchState {
                id,
                label: b.label,
                chain: RefCell::new(b.chain),
                capture,
                live: Cell::new(1),
                stopped: Cell::new(false),
                last_origin: RefCell::new(None),
            });
            cx.spawn(Box::new(BranchTask {
                inner,
                branch,
                merge: shared.clone(),
                primary: true,
            }));
        }
        Ok(Wait::Done)
    }
}

/// What the branches share.
struct Shared {
    /// The branch whose items were pushed last.
    current: Cell<usize>,
    tag: bool,
    status: Status,
}

struct BranchState {
    id: usize,
    label: String,
    chain: RefCell<Box<dyn Stage>>,
    capture: Capture,
    /// Its tasks still running (a `listen` has one per client).
    live: Cell<usize>,
    /// Its own `head` has stopped it.
    stopped: Cell<bool>,
    /// The origin its source announced last, to announce again when it takes over.
    last_origin: RefCell<Option<(String, Show)>>,
}

/// A task of a branch: the source's task (or one it spawned), pushing into the branch's
/// chain; what comes out of the chain is pushed on.
struct BranchTask {
    inner: Box<dyn Task>,
    branch: Rc<BranchState>,
    merge: Rc<Shared>,
    /// The task that passes ticks on to the branch's chain (one per branch).
    primary: bool,
}

/// The branch's chain as its source sees it: a branch that stopped is the end of that
/// branch only, so its source is never told to stop the run.
struct Guard<'a> {
    chain: &'a mut dyn Stage,
    stopped: &'a Cell<bool>,
}

impl Guard<'_> {
    fn flow(&self, f: Flow) -> Flow {
        if f.is_stop() {
            self.stopped.set(true);
        }
        Flow::Continue
    }
}

impl Stage for Guard<'_> {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        if self.stopped.get() {
            return Ok(Flow::Continue);
        }
        let f = self.chain.send(item)?;
        Ok(self.flow(f))
    }
    fn send_lines(&mut self, batch: &[u8]) -> Result<Flow> {
        if self.stopped.get() {
            return Ok(Flow::Continue);
        }
        let f = self.chain.send_lines(batch)?;
        Ok(self.flow(f))
    }
    fn origin(&mut self, origin: Origin<'_>) -> Result<()> {
        self.chain.origin(origin)
    }
    fn flush(&mut self) -> Result<()> {
        self.chain.flush()
    }
    fn close(&mut self) -> Result<()> {
        Ok(())
    }
}

impl BranchTask {
    /// One of the branch's tasks has ended; the last one closes the branch's chain.
    fn ended(&self) {
        let b = &self.branch;
        b.live.set(b.live.get() - 1);
        if b.live.get() == 0
            && let Err(e) = b.chain.borrow_mut().close()
        {
            self.merge
                .status
                .soft_error(&e.context(format!("merge: {}", b.label)));
        }
    }

    /// Push on what the branch's chain produced.
    fn deliver(&self, out: &mut dyn Stage) -> Result<Flow> {
        let b = &self.branch;
        let mut cap = b.capture.0.borrow_mut();
        if cap.is_empty() {
            return Ok(Flow::Continue);
        }
        if self.merge.current.get() != b.id {
            self.merge.current.set(b.id);
            if self.merge.tag {
                out.origin(Origin {
                    name: &b.label,
                    show: Show::Tag,
                })?;
            } else {
                let last = b.last_origin.borrow();
                let (name, show) = last
                    .as_ref()
                    .map_or(("", Show::Hidden), |(n, s)| (n.as_str(), *s));
                out.origin(Origin { name, show })?;
            }
        }
        let flow = cap.replay_with(out, !self.merge.tag)?;
        if let Some(o) = cap.last_origin() {
            *b.last_origin.borrow_mut() = Some((o.name.to_string(), o.show));
        }
        cap.clear();
        Ok(flow)
    }
}

impl Task for BranchTask {
    fn resume(&mut self, cx: &mut Cx<'_>, out: &mut dyn Stage) -> Result<Wait> {
        let b = self.branch.clone();
        let wait = if b.stopped.get() {
            Ok(Wait::Done)
        } else {
            let mark = cx.spawned_len();
            let mut chain = b.chain.borrow_mut();
            let mut guard = Guard {
                chain: &mut **chain,
                stopped: &b.stopped,
            };
            let r = self.inner.resume(cx, &mut guard);
            drop(chain);
            cx.wrap_spawned(mark, |t| {
                b.live.set(b.live.get() + 1);
                Box::new(BranchTask {
                    inner: t,
                    branch: b.clone(),
                    merge: self.merge.clone(),
                    primary: false,
                })
            });
            r
        };
        let mut wait = match wait {
            Ok(w) => w,
            Err(e) => {
                self.merge
                    .status
                    .soft_error(&e.context(format!("merge: {}", b.label)));
                Wait::Done
            }
        };
        if b.stopped.get() {
            wait = Wait::Done;
        }
        if wait == Wait::Done {
            self.ended();
        }
        if self.deliver(out)?.is_stop() {
            cx.stop_all();
            return Ok(Wait::Done);
        }
        cx.pushed();
        Ok(wait)
    }

    fn interrupted(&mut self, out: &mut dyn Stage) -> Result<bool> {
        let b = self.branch.clone();
        let ends = {
            let mut chain = b.chain.borrow_mut();
            let mut guard = Guard {
                chain: &mut **chain,
                stopped: &b.stopped,
            };
            self.inner.interrupted(&mut guard)?
        };
        if ends {
            self.ended();
        }
        let _ = self.deliver(out)?;
        Ok(ends)
    }

    fn tick(&mut self, now: Instant) -> Result<()> {
        if self.primary && self.branch.live.get() > 0 {
            self.branch.chain.borrow_mut().tick(now)?;
        }
        Ok(())
    }
}
