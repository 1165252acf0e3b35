//! What a stage definition is made of: the [`StageDef`] every stage file exports as its
//! `DEF`, how it is built ([`Build`], with a [`BuildCx`]), the global [`Options`] and the
//! run's [`Status`]. These sit below the definitions and the catalogue that collects them
//! (`pipeline::registry`), so that a stage file imports only the protocol ([`crate::stage`]),
//! these types and the runtime services ([`crate::runtime`]).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, AtomicU32, Ordering};

use anyhow::Result;
use clap::ArgMatches;

use crate::item::Kind;
use crate::protocol::task::Task;
use crate::protocol::{Source, Stage, Written};
use crate::runtime::counter::Counter;
use crate::runtime::delivery::{Delivery, Marks};
use crate::runtime::meter::Meter;
use crate::runtime::output::Output;
use crate::runtime::signal::Interrupt;
use crate::runtime::timer::Timers;

/// The default of `--max-line`: lines longer than this are cut. Far above what log agents
/// allow (100 KB to 10 MB) and than any line a person reads, low enough that one endless
/// line (`/dev/zero`, a corrupt file) costs tens of MB, not all the memory.
pub const MAX_LINE: usize = 16 << 20;

/// What part a stage plays in a pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A pulled generator; only first in a pipeline.
    Source,
    /// A pushed coroutine that passes items on.
    Filter,
    /// Sends every item into each `{ branch }`.
    FanOut,
    /// Consumes items; only last.
    Sink,
}

impl Role {
    pub fn describe(self) -> &'static str {
        match self {
            Role::Source => "source (pulled generator)",
            Role::Filter => "filter (pushed coroutine)",
            Role::FanOut => "fan-out (pushed coroutine with branches)",
            Role::Sink => "sink (pushed coroutine, end of a pipeline)",
        }
    }
}

/// What a stage emits, given what it receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emits {
    /// The same kind it receives (grep, head, tee …).
    Same,
    /// Always this kind (cat emits lines, records emits records …).
    Kind(Kind),
    /// Nothing: a sink, or broadcast.
    Nothing,
    /// One kind or another, as a flag of the stage says (`jq`: lines with `-r`, else
    /// records).
    ByFlag {
        flag: &'static str,
        set: Kind,
        unset: Kind,
    },
}

impl Emits {
    /// The kind emitted for this input (a [`Emits::ByFlag`] stage: as if its flag were
    /// not given; see [`Emits::given_args`]).
    pub fn given(self, input: Kind) -> Option<Kind> {
        match self {
            Emits::Same => Some(input),
            Emits::Kind(k) => Some(k),
            Emits::Nothing => None,
            Emits::ByFlag { unset, .. } => Some(unset),
        }
    }

    /// The kind emitted for this input, with the stage's options.
    pub fn given_args(self, input: Kind, m: &ArgMatches) -> Option<Kind> {
        match self {
            Emits::ByFlag { flag, set, .. }
                if m.try_get_one::<bool>(flag).ok().flatten() == Some(&true) =>
            {
                Some(set)
            }
            e => e.given(input),
        }
    }
}

/// The constructor of a filter: its arguments, the context, and the stage it pushes into.
pub type FilterFn = fn(&ArgMatches, &BuildCx<'_>, Box<dyn Stage>) -> Result<Box<dyn Stage>>;

/// The constructor of a source: its arguments and the context.
pub type SourceFn = fn(&ArgMatches, &BuildCx<'_>) -> Result<Box<dyn Source>>;

/// One `{ branch }` of a fan-in source (`merge`), built: its source as written, the
/// source's native task (or, when it has none, how to build it again on a thread of its
/// own), and its filters, ending in the stage the fan-in gave as their end.
pub struct Branch {
    pub label: String,
    pub native: Option<Box<dyn Task>>,
    pub bridged: (SourceFn, ArgMatches),
    pub chain: Box<dyn Stage>,
}

/// How a fan-in source has branch `i` built (its source, then its filters pushing into
/// `end`), in order, each branch's source and filters before the next branch's.
pub type BuildBranch<'a> = dyn FnMut(usize, Box<dyn Stage>) -> Result<Branch> + 'a;

/// The constructor of a fan-in source: its arguments, the context, how many branches it
/// has and how to build each.
pub type MergeFn =
    fn(&ArgMatches, &BuildCx<'_>, usize, &mut BuildBranch<'_>) -> Result<Box<dyn Source>>;

/// How a stage is constructed once its arguments are parsed and the pipeline type-checks.
#[derive(Clone, Copy)]
pub enum Build {
    /// A pulled generator (which may offer the scheduler a native task of its own, see
    /// `Source::into_task`).
    Source(SourceFn),
    /// A source that always runs as a task of the scheduler, woken when a descriptor is
    /// ready (`listen`).
    Task(SourceFn),
    /// A fan-in source, built with its `{ branches }` of sources (`merge`); a task of the
    /// scheduler too.
    Merge(MergeFn),
    Filter(FilterFn),
    Sink(fn(&ArgMatches, &BuildCx<'_>) -> Result<Box<dyn Stage>>),
    /// tee (`continues`: items also go on to the next stage) and broadcast.
    FanOut {
        continues: bool,
    },
}

/// A stage that a source can absorb when it comes right after it: the source then does that
/// stage's work itself — a *fusion*, declared on the source's definition. `xml : records`
/// is one: the `xml` source builds the records (`item::xml_records`), on several threads
/// for a big file. The pipeline's builder applies it where the source starts a pipeline
/// and the absorbed stage has a stage after it; `--stats` still shows the absorbed stage's
/// row (its input counted by the source) and `--explain` the pipeline as written.
#[derive(Clone, Copy)]
pub struct Fusion {
    /// The name of the stage absorbed.
    pub absorbs: &'static str,
    /// Build the source doing the absorbed stage's work, pushing what that stage would:
    /// the source's arguments, the absorbed stage's, the context, and the counter of the
    /// items the absorbed stage receives (with `--stats`). `None` when these arguments do
    /// not fuse, or when either fails to build: the two are then built apart, as written
    /// (which reports an error at the stage it belongs to).
    pub build: FusedFn,
}

/// The constructor of a source that absorbs the stage after it (see [`Fusion`]).
pub type FusedFn =
    fn(&ArgMatches, &ArgMatches, &BuildCx<'_>, Option<Counter>) -> Option<Box<dyn Source>>;

/// One entry of the catalogue.
pub struct StageDef {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub role: Role,
    /// One line for `copipe help stages`.
    pub summary: &'static str,
    /// The kinds it accepts (empty for a source).
    pub accepts: &'static [Kind],
    pub emits: Emits,
    /// Example pipelines, shown by `copipe help STAGE` and in the man page.
    pub examples: &'static [&'static str],
    /// The stage's options and arguments (name, about and long_about included).
    pub command: fn() -> clap::Command,
    pub build: Build,
    /// The stage after it that a source can absorb (see [`Fusion`]).
    pub fusion: Option<Fusion>,
}

impl Build {
    /// The constructor of a source that is built from its arguments alone (not `merge`).
    pub fn source_fn(&self) -> Option<SourceFn> {
        match *self {
            Build::Source(f) | Build::Task(f) => Some(f),
            _ => None,
        }
    }
}

impl StageDef {
    /// Whether the stage is a source that always runs as a task of the scheduler rather
    /// than a pulled generator (see [`crate::engine`]): `--explain` and its help say so.
    pub fn scheduler_task(&self) -> bool {
        matches!(self.build, Build::Task(_) | Build::Merge(_))
    }

    /// Whether the stage is a fan-in source whose `{ branches }` are sources (`merge`).
    pub fn fans_in(&self) -> bool {
        matches!(self.build, Build::Merge(_))
    }

    pub fn accepts(&self, k: Kind) -> bool {
        self.accepts.contains(&k)
    }

    pub fn accepts_text(&self) -> String {
        if self.role == Role::Source {
            return "nothing (it is a source)".into();
        }
        let names: Vec<&str> = self.accepts.iter().map(|k| k.plural()).collect();
        names.join(", ")
    }

    /// The stage's full help (`copipe help STAGE`, `STAGE --help`): clap's long help from
    /// its definition, then its role, the kinds it accepts and emits, and its examples.
    pub fn help_text(&self) -> String {
        let mut cmd = (self.command)();
        let mut s = cmd.render_long_help().to_string();
        s.push_str(&format!(
            "\nRole:    {}\nAccepts: {}\nEmits:   {}\n",
            if self.scheduler_task() {
                "source (a task of the scheduler, resumed when a descriptor is ready)"
            } else {
                self.role.describe()
            },
            self.accepts_text(),
            self.emits_text()
        ));
        if !self.aliases.is_empty() {
            s.push_str(&format!("Aliases: {}\n", self.aliases.join(", ")));
        }
        s.push_str("\nExamples:\n");
        for e in self.examples {
            s.push_str(&format!("  {e}\n"));
        }
        s
    }

    pub fn emits_text(&self) -> String {
        match self.emits {
            Emits::Same => "the kind it receives".into(),
            Emits::Kind(k) => k.plural().into(),
            Emits::Nothing => "nothing".into(),
            Emits::ByFlag { flag, set, unset } => {
                let flag = flag.replace('_', "-");
                format!("{} ({} with --{flag})", unset.plural(), set.plural())
            }
        }
    }
}

/// Global options every stage may consult.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `--crlf`: `\r\n` is the line terminator for matching (`$` matches before `\r`).
    pub crlf: bool,
    /// `--line-buffered`: flush every output after every push (standard output is also
    /// line-buffered when it is a terminal).
    pub line_buffered: bool,
    /// Colour grep matches, record keys and file tags.
    pub color: bool,
    /// Show a progress bar on stderr for long reads.
    pub progress: bool,
    /// `--stats`: count the items in and out of every stage.
    pub stats: bool,
    /// `--max-line BYTES`: lines longer than this are cut (`None`: the default,
    /// [`MAX_LINE`]).
    pub max_line: Option<usize>,
}

impl Options {
    /// The longest line a source passes on whole (`--max-line`).
    pub fn max_line(&self) -> usize {
        self.max_line.unwrap_or(MAX_LINE)
    }
}

/// What the exit status is made of: whether an item reached a sink (0 rather than 1), and
/// whether an error was reported and the run went on (2 at the end, as grep does for a
/// missing file among several). Shared across threads (a source run behind the scheduler's
/// thread bridge reports into it), hence atomics.
#[derive(Clone, Default)]
pub struct Status(Arc<StatusInner>);

#[derive(Default)]
struct StatusInner {
    delivered: AtomicBool,
    /// What a stage that reports its selection said (see [`Status::report_selection`]):
    /// 0 nothing, 1 none selected, 2 some selected, 3 some selected under `grep -q`.
    selection: AtomicU8,
    soft_errors: AtomicU32,
    /// The run failed (an error ended it): what the sinks hold at their close is partial.
    failed: AtomicBool,
    /// The signal that interrupted the run (0: none).
    interrupted: AtomicI32,
    /// The asynchronous sinks (see [`crate::runtime::delivery`]).
    deliveries: std::sync::Mutex<Vec<Arc<Delivery>>>,
}

impl Status {
    /// An item reached a sink.
    pub fn mark_delivered(&self) {
        self.0.delivered.store(true, Ordering::Relaxed);
    }
    pub fn delivered(&self) -> bool {
        self.0.delivered.load(Ordering::Relaxed)
    }
    /// A stage whose output is not the items it selected (`grep -c`, `-l`, `-L`, `-q`, `-o`)
    /// says whether it selected any: the run then succeeds when one did, as grep's exit
    /// status says, rather than when something reached a sink (`grep -c` prints `0`).
    pub fn report_selection(&self, any: bool) {
        if any {
            let _ = self.0.selection.fetch_max(2, Ordering::Relaxed);
        } else {
            let _ = self
                .0
                .selection
                .compare_exchange(0, 1, Ordering::Relaxed, Ordering::Relaxed);
        }
    }
    /// Whether the run found what it looked for: an item reached a sink, or, when a stage
    /// reported its selection, that stage selected something.
    pub fn succeeded(&self) -> bool {
        match self.0.selection.load(Ordering::Relaxed) {
            0 => self.delivered(),
            s => s >= 2,
        }
    }
    /// `grep -q` selected a line: the run succeeds even after an error, as GNU grep's
    /// does under -q.
    pub fn quiet_selected(&self) {
        self.0.selection.store(3, Ordering::Relaxed);
    }
    /// Whether [`Status::quiet_selected`] was said.
    pub fn quietly_succeeded(&self) -> bool {
        self.0.selection.load(Ordering::Relaxed) == 3
    }
    /// Report an error on stderr and carry on; the exit status will be 2.
    pub fn soft_error(&self, err: &anyhow::Error) {
        self.0.soft_errors.fetch_add(1, Ordering::Relaxed);
        crate::say!("copipe: {err:#}");
    }
    /// An output could not be written and that ended the run: the sinks are closed after
    /// it, and a result made of what they saw (a count) is not the result of the input.
    pub fn fail(&self) {
        self.0.failed.store(true, Ordering::Relaxed);
    }
    pub fn failed(&self) -> bool {
        self.0.failed.load(Ordering::Relaxed)
    }
    /// `n` errors another thread reported and said already (a worker of `cat`'s per-file
    /// workers, whose diagnostics are handed over; see `crate::engine::workers`).
    pub fn count_soft_errors(&self, n: u32) {
        self.0.soft_errors.fetch_add(n, Ordering::Relaxed);
    }
    pub fn soft_errors(&self) -> u32 {
        self.0.soft_errors.load(Ordering::Relaxed)
    }
    /// The source ended early because of this signal (SIGINT, SIGTERM), after pushing its
    /// whole lines; the run still closes every stage. The exit status then says so (see `cli`).
    pub fn interrupt(&self, signal: i32) {
        self.0.interrupted.store(signal, Ordering::Relaxed);
    }
    /// An asynchronous sink: it confirms items after its `flush` returned (see
    /// [`crate::runtime::delivery`]).
    pub fn add_delivery(&self, d: Arc<Delivery>) {
        self.0
            .deliveries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(d);
    }
    /// How many asynchronous sinks registered so far, and the `k`th (the builder gives each
    /// one to its stage's `--stats` row).
    pub fn deliveries(&self) -> usize {
        self.0
            .deliveries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
    pub fn delivery(&self, k: usize) -> Option<Arc<Delivery>> {
        let d = self.0.deliveries.lock().unwrap_or_else(|e| e.into_inner());
        d.get(k).cloned()
    }
    /// What every asynchronous sink has taken now (`None`: there is none, so a flush means
    /// written).
    pub fn marks(&self) -> Option<Marks> {
        let d = self.0.deliveries.lock().unwrap_or_else(|e| e.into_inner());
        (!d.is_empty()).then(|| Marks::of(&d))
    }
    pub fn interrupted(&self) -> Option<i32> {
        match self.0.interrupted.load(Ordering::Relaxed) {
            0 => None,
            s => Some(s),
        }
    }
}

/// What a stage's constructor gets besides its own arguments.
pub struct BuildCx<'a> {
    pub opts: &'a Options,
    /// The kind of the items this stage receives (`Kind::Line` for a source).
    pub input: Kind,
    /// Standard output, shared by every `print` and `count` of the pipeline.
    pub stdout: &'a Rc<RefCell<Output>>,
    pub status: &'a Status,
    /// What the source reads (sources report into it; `--stats` and the progress bar read it).
    pub meter: &'a Meter,
    /// Ctrl-C and SIGTERM: sources stop reading when one is pending.
    pub interrupt: &'a Interrupt,
    /// Deadlines for the stages that want to be woken (see `Stage::tick`); asking for a
    /// timer makes the pipeline run on the scheduler.
    pub timers: &'a Timers,
    /// Whether the pipeline's source may wait for its input ([`Source::waits`]): a stage
    /// that acts on quiet asks for a timer only then. `true` where it is not known (the
    /// branches of `merge`, a source's own build).
    pub source_waits: bool,
    /// With colour on: the regexes of the `grep`s upstream whose matches `print` colours.
    pub highlight: &'a [regex::bytes::Regex],
    /// What the pipeline's source says of its inputs (`grep -H` and `-n` defaults).
    pub inputs: Inputs,
    /// For a source that acknowledges what it read: how to know the sinks wrote it.
    pub written: Written,
    /// Where a stage registers the counts of the notes it says at its close (see
    /// [`crate::runtime::notes`]).
    pub notes: &'a crate::runtime::notes::Notes,
}

/// What the pipeline's source tells `grep` of its inputs, for GNU grep's defaults: file
/// names in front of lines when there are several files, line numbers that start again
/// with each file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inputs {
    /// The source names several inputs (`cat` or `follow` with more than one file, or a
    /// `follow` pattern).
    pub several: bool,
    /// Each origin the source announces is a new input, numbered from its first line
    /// (`cat`). Otherwise (`follow`, `merge`, `listen`) an origin is announced again when
    /// the source comes back to an input, whose numbering goes on.
    pub renumber: bool,
    /// The stage's items go straight to a sink (`print`, `write`, `exec` …), as grep's
    /// lines go to its output: only then does a plain `grep` put file names in front of
    /// them by default. A parser or filter after it gets the lines as the files hold them.
    pub to_sink: bool,
    /// A `grep -c` split around the per-file workers (see `pipeline::per_file`).
    pub count: CountSplit,
    /// In the per-file workers: each input's first group of context lines is not preceded
    /// by the group separator, which the main thread puts between the outputs of two
    /// inputs (it alone knows whether anything came before).
    pub separated_after: bool,
}

/// How a `grep -c` runs when the files are read by per-file workers: it selects the lines
/// in the workers, and counts them after them, where each file's count is made whole again
/// (a big file is read in parts by several workers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CountSplit {
    /// Not split: selects and counts.
    #[default]
    Whole,
    /// In the workers: passes on the lines it selects (as without `-c` and `-o`).
    Select,
    /// After the workers: counts every line it receives, as `-c` counts selected lines.
    Tally,
}
