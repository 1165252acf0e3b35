//! The stage catalogue: one [`StageDef`] per stage name, the single definition that the
//! parser, the type check, the builder, `copipe help`, the man page and the completions all
//! read, so that help and behaviour cannot drift apart.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};

use anyhow::Result;
use clap::ArgMatches;

use crate::item::Kind;
use crate::pipeline::delivery::{Delivery, Marks};
use crate::pipeline::meter::Meter;
use crate::pipeline::signal::Interrupt;
use crate::sink::output::Output;
use crate::stage::{Source, Stage};

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

/// Whether a source is a native task of the scheduler rather than a pulled generator
/// (see [`crate::engine`]): `--explain` says so. Keep in step with the sources whose
/// `Source::is_native` is true.
pub fn scheduler_task(name: &str) -> bool {
    matches!(name, "listen" | "merge")
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
}

impl Emits {
    pub fn given(self, input: Kind) -> Option<Kind> {
        match self {
            Emits::Same => Some(input),
            Emits::Kind(k) => Some(k),
            Emits::Nothing => None,
        }
    }
}

/// The constructor of a filter: its arguments, the context, and the stage it pushes into.
pub type FilterFn = fn(&ArgMatches, &BuildCx<'_>, Box<dyn Stage>) -> Result<Box<dyn Stage>>;

/// How a stage is constructed once its arguments are parsed and the pipeline type-checks.
#[derive(Clone, Copy)]
pub enum Build {
    Source(fn(&ArgMatches, &BuildCx<'_>) -> Result<Box<dyn Source>>),
    Filter(FilterFn),
    Sink(fn(&ArgMatches, &BuildCx<'_>) -> Result<Box<dyn Stage>>),
    /// tee (`continues`: items also go on to the next stage) and broadcast.
    FanOut {
        continues: bool,
    },
}

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
}

impl StageDef {
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
            if scheduler_task(self.name) {
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
    /// [`crate::source::reader::MAX_LINE`]).
    pub max_line: Option<usize>,
}

impl Options {
    /// The longest line a source passes on whole (`--max-line`).
    pub fn max_line(&self) -> usize {
        self.max_line.unwrap_or(crate::source::reader::MAX_LINE)
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
    soft_errors: AtomicU32,
    /// The signal that interrupted the run (0: none).
    interrupted: AtomicI32,
    /// The asynchronous sinks (see [`crate::pipeline::delivery`]).
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
    /// Report an error on stderr and carry on; the exit status will be 2.
    pub fn soft_error(&self, err: &anyhow::Error) {
        self.0.soft_errors.fetch_add(1, Ordering::Relaxed);
        eprintln!("copipe: {err:#}");
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
    /// [`crate::pipeline::delivery`]).
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
    pub timers: &'a crate::engine::timer::Timers,
    /// Whether the pipeline's source may wait for its input ([`Source::waits`]): a stage
    /// that acts on quiet asks for a timer only then. `true` where it is not known (the
    /// branches of `merge`, a source's own build).
    pub source_waits: bool,
    /// With colour on: the regexes of the `grep`s upstream whose matches `print` colours.
    pub highlight: &'a [regex::bytes::Regex],
}

/// Every stage, in the order `copipe help stages` lists them.
pub fn all() -> &'static [StageDef] {
    use crate::{fanout, sink, source, stage};
    static ALL: &[StageDef] = &[
        source::cat::DEF,
        source::follow::DEF,
        source::range::RANGE,
        source::range::NATURALS,
        source::xml::DEF,
        source::listen::DEF,
        source::subscribe::DEF,
        source::merge::DEF,
        stage::records::DEF,
        stage::json::DEF,
        stage::parse::DEF,
        stage::kv::LOGFMT,
        stage::kv::KV,
        stage::csv::CSV,
        stage::csv::TSV,
        stage::syslog::DEF,
        stage::combined::DEF,
        stage::multiline::DEF,
        stage::where_::DEF,
        stage::select::DEF,
        stage::fmt::DEF,
        stage::toxml::DEF,
        stage::tocsv::DEF,
        stage::table::DEF,
        stage::grep::DEF,
        stage::head::DEF,
        stage::skip::DEF,
        stage::uniq::DEF,
        stage::number::DEF,
        stage::replace::DEF,
        fanout::TEE,
        fanout::BROADCAST,
        sink::print::DEF,
        sink::write::DEF,
        sink::count::DEF,
        sink::exec::DEF,
        sink::send::DEF,
        sink::publish::DEF,
        sink::discard::DEF,
    ];
    ALL
}

/// Whether a stage takes `{ branches }`: the fan-outs, and `merge` (a source whose
/// branches are sources).
pub fn takes_branches(def: &StageDef) -> bool {
    def.role == Role::FanOut || is_merge(def)
}

/// Whether this is `merge`, the fan-in source.
pub fn is_merge(def: &StageDef) -> bool {
    def.name == crate::source::merge::DEF.name
}

/// The stage called `name` (or one of its aliases).
pub fn find(name: &str) -> Option<&'static StageDef> {
    all()
        .iter()
        .find(|d| d.name == name || d.aliases.contains(&name))
}

/// The stage name closest to a misspelt one, if any is close enough to suggest.
pub fn suggest(name: &str) -> Option<&'static str> {
    all()
        .iter()
        .flat_map(|d| std::iter::once(d.name).chain(d.aliases.iter().copied()))
        .map(|n| (strsim::jaro_winkler(name, n), n))
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_commands_match() {
        let mut seen = std::collections::HashSet::new();
        for d in all() {
            assert!(seen.insert(d.name), "duplicate stage {}", d.name);
            for a in d.aliases {
                assert!(seen.insert(a), "duplicate alias {a}");
            }
            assert_eq!((d.command)().get_name(), d.name);
            (d.command)().debug_assert();
            assert!(!d.examples.is_empty(), "{} has no example", d.name);
            assert_eq!(d.role == Role::Source, d.accepts.is_empty(), "{}", d.name);
        }
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("gerp"), Some("grep"));
        assert_eq!(suggest("cout"), Some("count"));
        assert_eq!(suggest("zzzzzzzz"), None);
    }
}
