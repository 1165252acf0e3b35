//! `jq FILTER` — run a jq filter on each record (or line), on jaq, in the process.
//!
//! Accepts records, and lines (each parsed as JSON text, as jq reads its input; or, with
//! `-R`, each line as a string); emits records: every output value of FILTER for an input
//! goes on, an object as a record, any other value as a line of compact JSON. With `-r` it
//! emits lines: strings without quotes, everything else as compact JSON (jq's `-r -c`).
//!
//! The filter is parsed and compiled once, when the pipeline is built (jaq-core, with
//! jaq-std's and jaq-json's definitions): a syntax error or an undefined name is a
//! build-time error with a caret under the filter, before any input is read. `--arg NAME
//! VALUE` and `--argjson NAME JSON` bind `$NAME` as in jq, with `$ARGS` and `$ENV`; `-n`
//! runs the filter once with `null` as its input, at the source's first item (which stops
//! the source) or at its end if there is none.
//!
//! A record becomes a jaq value and an output object a record without JSON text in between
//! (see [`value`]): numbers keep their text unless the filter computes with them, and only
//! the fields the filter reads are converted when its syntax says which (see [`needs`]). A runtime
//! error on one input ends that input's outputs (as in jq) and the stream goes on: errors
//! are counted and the count, with the first error and the position of its input (the
//! input's name, and its line for lines or its record number for records), is reported on
//! stderr when the stage closes. With `--strict` the first error stops the run (exit
//! status 2). `halt` and `halt_error` end the stream (the source is stopped).
//!
//! Not available: `input` and `inputs` (a stage sees one input at a time), `$__loc__`,
//! modules (`import`, `include`); `limit`, `first`, `until` and the rest of jq's builtins
//! are. Records nested deeper than [`value::MAX_DEPTH`] levels are an error for that
//! record (jaq walks values by recursion).

mod needs;
mod value;

use anyhow::{Result, bail};
use clap::{ArgAction, ArgMatches, FromArgMatches, Parser};
use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Vars, data};
use jaq_json::Val as JVal;

use crate::item::{Item, Kind, Origin, Record};
use crate::protocol::def::{Build, BuildCx, Emits, Role, StageDef};
use crate::protocol::{Flow, Stage};
use crate::runtime::signal::Interrupt;

pub use value::{fill_record, to_jaq, write_json};

/// The kind of data jaq's filters run on here: jaq-json's values, no other global data.
type D = data::JustLut<JVal>;

/// A compiled jq filter.
pub type Filter = jaq_core::Filter<D>;

/// Run a jq filter on each record (or line): objects out go on as records, other values as
/// lines.
///
/// FILTER is jq's language, run in the process by jaq (jaq-core and its standard library):
/// no JSON is printed and parsed again between stages. Input: records, or lines parsed as
/// JSON text (as jq reads its input), or lines as strings with -R. Output: every value
/// FILTER gives for an input, in order; an object becomes a record, any other value a line
/// of compact JSON; with -r everything is a line, strings without quotes.
///
/// The filter is compiled when the pipeline is built: a syntax error or an unknown function
/// is reported before any input is read. A runtime error on one input ("cannot index
/// number with ...") ends that input's outputs, as in jq, and the stream goes on: errors are
/// counted and reported on stderr at the end with the first one and its position; --strict
/// stops at the first (exit status 2).
///
/// Not available: input, inputs, $__loc__, import/include (each input is run on its own).
/// For simple conditions and picks, `where` and `select` are shorter and faster.
#[derive(Parser)]
#[command(name = "jq", disable_version_flag = true)]
pub struct Args {
    /// The jq filter, e.g. '.a + 1', '{id, port: (.port | tonumber)}', 'select(.n > 2)'.
    #[arg(value_name = "FILTER", allow_hyphen_values = true)]
    pub filter: String,
    /// Raw output: strings are written without quotes; every output is a line.
    #[arg(short = 'r', long)]
    pub raw_output: bool,
    /// Raw input: each line is a string, not JSON text.
    #[arg(short = 'R', long)]
    pub raw_input: bool,
    /// Run FILTER once with null as its input, and read nothing.
    #[arg(short = 'n', long)]
    pub null_input: bool,
    /// Compact output: what copipe always writes (accepted for jq's habit).
    #[arg(short = 'c', long)]
    pub compact_output: bool,
    /// Bind $NAME to the string VALUE.
    #[arg(long, num_args = 2, value_names = ["NAME", "VALUE"], action = ArgAction::Append,
          allow_hyphen_values = true)]
    pub arg: Vec<String>,
    /// Bind $NAME to the JSON value TEXT.
    #[arg(long, num_args = 2, value_names = ["NAME", "TEXT"], action = ArgAction::Append,
          allow_hyphen_values = true)]
    pub argjson: Vec<String>,
    /// Stop at the first runtime error (exit status 2) instead of counting it.
    #[arg(long)]
    pub strict: bool,
}

pub const DEF: StageDef = StageDef {
    name: "jq",
    aliases: &[],
    role: Role::Filter,
    summary: "run a jq filter on each record (jaq, in the process): objects out are records",
    accepts: &[Kind::Record, Kind::Line],
    emits: Emits::ByFlag {
        flag: "raw_output",
        set: Kind::Line,
        unset: Kind::Record,
    },
    examples: &[
        "copipe cat log.ndjson : json : jq '{ts, status: (.status | tonumber)}' : where status '>=' 500",
        "copipe cat log.ndjson : jq -r 'select(.level == \"error\") | .msg'",
        r"copipe cat access.log : parse '^(?P<ip>\S+) .* (?P<bytes>\d+)$' --type bytes=int : jq '.kb = .bytes / 1024'",
    ],
    command: <Args as clap::CommandFactory>::command,
    fusion: None,
    build: Build::Filter(build),
};

fn build(m: &ArgMatches, cx: &BuildCx<'_>, next: Box<dyn Stage>) -> Result<Box<dyn Stage>> {
    let a = Args::from_arg_matches(m)?;
    if a.raw_input && cx.input != Kind::Line && !a.null_input {
        bail!(
            "-R reads lines as strings, but this jq receives {} (drop -R)",
            cx.input.plural()
        );
    }
    let (names, values) = globals(&a.arg, &a.argjson)?;
    let filter = compile(&a.filter, &names)?;
    Ok(Box::new(Jq {
        filter,
        globals: values,
        input: if a.raw_input {
            Input::Raw
        } else if cx.input == Kind::Line {
            Input::Json
        } else {
            Input::Records
        },
        null_input: a.null_input,
        strict: a.strict,
        at: Position::default(),
        failed: 0,
        first_error: None,
        keys: value::Keys::default(),
        needs: needs::fields(&a.filter),
        out: Out {
            interrupt: cx.interrupt.clone(),
            raw: a.raw_output,
            line: Vec::new(),
            rec: Record::new(),
            num: String::new(),
            next,
        },
    }))
}

/// The names and values of the global variables: `$ENV`, `$ARGS`, then each `--arg` and
/// `--argjson` in order (a name given twice: the last one wins, as in jq).
fn globals(args: &[String], argjson: &[String]) -> Result<(Vec<String>, Vec<JVal>)> {
    let mut named = jaq_json::Map::default();
    for pair in args.chunks(2) {
        named.insert(JVal::from(pair[0].clone()), JVal::from(pair[1].clone()));
    }
    for pair in argjson.chunks(2) {
        let v = jaq_json::read::parse_single(pair[1].as_bytes()).map_err(|e| {
            anyhow::anyhow!("--argjson {}: the value is not JSON text ({e})", pair[0])
        })?;
        named.insert(JVal::from(pair[0].clone()), v);
    }
    let env: jaq_json::Map = std::env::vars_os()
        .map(|(k, v)| {
            (
                JVal::from(k.to_string_lossy().into_owned()),
                JVal::from(v.to_string_lossy().into_owned()),
            )
        })
        .collect();
    let mut args_obj = jaq_json::Map::default();
    args_obj.insert(
        JVal::from("positional".to_string()),
        JVal::Arr(jaq_json::Rc::new(Vec::new())),
    );
    args_obj.insert(JVal::from("named".to_string()), JVal::obj(named.clone()));
    let mut names = vec!["$ENV".to_string(), "$ARGS".to_string()];
    let mut values = vec![JVal::obj(env), JVal::obj(args_obj)];
    for (k, v) in named {
        let JVal::TStr(k) = k else { continue };
        names.push(format!("${}", String::from_utf8_lossy(&k)));
        values.push(v);
    }
    Ok((names, values))
}

/// Parse and compile a filter, with these global variables (`$` included). An error shows
/// the filter with a caret under where it is.
pub fn compile(code: &str, globals: &[String]) -> Result<Filter> {
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs());
    let funs = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs());
    let loader = Loader::new(defs);
    let arena = Arena::default();
    let modules = loader
        .load(&arena, File { code, path: () })
        .map_err(|errs| {
            let (at, msg) = errs
                .into_iter()
                .find_map(|(_, e)| load_error(e))
                .unwrap_or((None, "the filter does not parse".to_string()));
            pointed(code, at, &msg)
        })?;
    Compiler::default()
        .with_funs(funs)
        .with_global_vars(globals.iter().map(String::as_str))
        .compile(modules)
        .map_err(|errs| {
            let first = errs.into_iter().flat_map(|(_, e)| e).next();
            match first {
                Some((name, undefined)) => {
                    let what = undefined.as_str();
                    let hint = match name {
                        "input" | "inputs" => {
                            " (a jq stage runs FILTER on each input on its own: there is no \
                             input/inputs; to combine records, use reduce or foreach within \
                             one, or `count --by`)"
                        }
                        "$__loc__" => " ($__loc__ is not available)",
                        _ if name.starts_with('$') => " (bind it with --arg NAME VALUE)",
                        _ => "",
                    };
                    pointed(
                        code,
                        Some(name.as_ptr() as usize),
                        &format!("undefined {what} `{name}`{hint}"),
                    )
                }
                None => anyhow::anyhow!("the filter does not compile"),
            }
        })
}

/// The position and message of a load (lex or parse) error.
fn load_error(e: jaq_core::load::Error<&str>) -> Option<(Option<usize>, String)> {
    use jaq_core::load::Error;
    match e {
        Error::Lex(errs) => errs.into_iter().next().map(|(expect, at)| {
            (
                Some(at.as_ptr() as usize),
                format!("syntax error: expected {}", expect.as_str()),
            )
        }),
        Error::Parse(errs) => errs.into_iter().next().map(|(expect, found)| {
            let msg = if found.is_empty() {
                format!(
                    "syntax error: expected {}, but the filter ends",
                    expect.as_str()
                )
            } else {
                format!(
                    "syntax error: expected {}, found `{}`",
                    expect.as_str(),
                    found.chars().take(20).collect::<String>()
                )
            };
            (Some(found.as_ptr() as usize), msg)
        }),
        Error::Io(errs) => errs.into_iter().next().map(|(path, e)| {
            (
                Some(path.as_ptr() as usize),
                format!("cannot load `{path}`: {e} (modules are not available)"),
            )
        }),
    }
}

/// The error `msg`, with the filter and a caret under byte `at` of it (an address inside
/// `code`, or `None` for its end).
fn pointed(code: &str, at: Option<usize>, msg: &str) -> anyhow::Error {
    let base = code.as_ptr() as usize;
    let at = at
        .filter(|&a| a >= base && a <= base + code.len())
        .map_or(code.len(), |a| a - base);
    // The line of the filter that holds the error, and the column in it.
    let start = code[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = code[at..].find('\n').map_or(code.len(), |i| at + i);
    let col = code[start..at].chars().count();
    let line_no = code[..start].matches('\n').count() + 1;
    let place = if code.contains('\n') {
        format!(" (line {line_no} of the filter)")
    } else {
        String::new()
    };
    anyhow::anyhow!(
        "{msg}{place}\n    {}\n    {}^",
        &code[start..end],
        " ".repeat(col)
    )
}

/// What the inputs are.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Input {
    Records,
    /// Lines of JSON text.
    Json,
    /// Lines as strings (`-R`).
    Raw,
}

/// Where the current input is: the name of the source's input and the number of the line
/// or record in it.
struct Position {
    origin: String,
    n: u64,
}

impl Default for Position {
    fn default() -> Self {
        Position {
            origin: "standard input".into(),
            n: 0,
        }
    }
}

struct Jq {
    filter: Filter,
    /// The values of the global variables, in the order of their names at compile time.
    globals: Vec<JVal>,
    input: Input,
    null_input: bool,
    strict: bool,
    at: Position,
    /// Inputs whose run raised an error, and the first error with its position.
    failed: u64,
    first_error: Option<String>,
    keys: value::Keys,
    /// The top-level fields the filter reads, when it reads only through them (see
    /// [`needs`]): only those are converted.
    needs: Option<Vec<String>>,
    out: Out,
}

/// Where the outputs go, and the buffers they are made in.
struct Out {
    /// Ctrl-C and SIGTERM: a filter that gives many outputs for one input stops between
    /// two of them (a second signal kills a run that is inside one).
    interrupt: Interrupt,
    raw: bool,
    line: Vec<u8>,
    rec: Record,
    num: String,
    next: Box<dyn Stage>,
}

impl Out {
    fn emit(&mut self, v: &JVal) -> Result<Flow> {
        if self.interrupt.pending().is_some() {
            return Ok(Flow::Stop);
        }
        if self.raw {
            self.line.clear();
            match v {
                JVal::TStr(s) | JVal::BStr(s) => self.line.extend_from_slice(s),
                v => write_json(v, &mut self.line),
            }
            return self.next.send(Item::Line(&self.line));
        }
        if fill_record(v, &mut self.rec, &mut self.num) {
            return self.next.send(Item::Record(&self.rec));
        }
        self.line.clear();
        write_json(v, &mut self.line);
        self.next.send(Item::Line(&self.line))
    }
}

/// How a run of the filter on one input ended.
enum Ended {
    /// Every output was sent.
    Done,
    /// The next stage wants nothing more, or the filter halted.
    Stop,
    /// A runtime error (after the outputs before it were sent).
    Error(String),
}

impl Jq {
    /// Run the filter on one input and send its outputs.
    fn run(&mut self, input: JVal) -> Result<Flow> {
        let ended = run_filter(&self.filter, &self.globals, input, &mut self.out)?;
        match ended {
            Ended::Done => Ok(Flow::Continue),
            Ended::Stop => Ok(Flow::Stop),
            Ended::Error(e) => self.failed(&e),
        }
    }

    /// An input failed (a runtime error, or a line that is not JSON).
    fn failed(&mut self, why: &str) -> Result<Flow> {
        let at = if self.null_input {
            "null input".to_string()
        } else {
            let unit = match self.input {
                Input::Records => "record ",
                Input::Json | Input::Raw => "",
            };
            let sep = if unit.is_empty() { ":" } else { ", " };
            format!("{}{sep}{unit}{}", self.at.origin, self.at.n)
        };
        if self.strict {
            bail!("jq: {at}: {why}");
        }
        self.failed += 1;
        if self.first_error.is_none() {
            self.first_error = Some(format!("{at}: {why}"));
        }
        Ok(Flow::Continue)
    }

    /// `-n`: the one run, with null.
    fn run_null(&mut self) -> Result<Flow> {
        if self.null_input {
            self.null_input = false;
            self.strict_null_run()?;
        }
        Ok(Flow::Stop)
    }

    fn strict_null_run(&mut self) -> Result<()> {
        let ended = run_filter(&self.filter, &self.globals, JVal::Null, &mut self.out)?;
        if let Ended::Error(e) = ended {
            self.null_input = true; // for the position
            let r = self.failed(&e);
            self.null_input = false;
            let _ = r?;
        }
        Ok(())
    }
}

/// Run `filter` on `input` and send each output to `out`.
fn run_filter(filter: &Filter, globals: &[JVal], input: JVal, out: &mut Out) -> Result<Ended> {
    let ctx = Ctx::<D>::new(&filter.lut, Vars::new(globals.iter().cloned()));
    for v in filter.id.run((ctx, input)) {
        match v {
            Ok(v) => {
                if out.emit(&v)?.is_stop() {
                    return Ok(Ended::Stop);
                }
            }
            Err(exn) => {
                return Ok(match exn.get_err() {
                    Ok(e) => Ended::Error(error_text(&e)),
                    Err(exn) => match exn.get_halt() {
                        Ok(_) => Ended::Stop,
                        Err(_) => Ended::Error("internal error of the filter".into()),
                    },
                });
            }
        }
    }
    Ok(Ended::Done)
}

/// The text of a runtime error: an `error("text")` as its text, as jq shows it; others
/// as jaq words them (`cannot index 1 with "a"`).
fn error_text(e: &jaq_core::Error<JVal>) -> String {
    let v = e.clone().into_val();
    let s = match &v {
        JVal::TStr(s) => String::from_utf8_lossy(s).into_owned(),
        _ => e.to_string(),
    };
    // One line, and not a screenful.
    let mut s: String = s.replace('\n', "\\n");
    if s.len() > 300 {
        let mut cut = 300;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

impl Stage for Jq {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        if self.null_input {
            return self.run_null();
        }
        self.at.n += 1;
        match item {
            Item::Record(r) => match match &self.needs {
                Some(fields) => value::to_jaq_fields(r, fields, &mut self.keys),
                None => to_jaq(r.root(), &mut self.keys),
            } {
                Some(v) => self.run(v),
                None => self.failed(&format!(
                    "the record is nested deeper than {} levels",
                    value::MAX_DEPTH
                )),
            },
            Item::Line(l) if self.input == Input::Raw => {
                self.run(JVal::utf8_str(bytes::Bytes::copy_from_slice(l)))
            }
            Item::Line(l) => {
                if !shallow(l) {
                    return self.failed(&format!(
                        "the value is nested deeper than {} levels",
                        value::MAX_DEPTH
                    ));
                }
                // Every JSON value on the line (jq reads a stream of them; usually one).
                for v in jaq_json::read::parse_many(l) {
                    match v {
                        Ok(v) => {
                            if self.run(v)?.is_stop() {
                                return Ok(Flow::Stop);
                            }
                        }
                        Err(e) => return self.failed(&format!("not JSON text: {e}")),
                    }
                }
                Ok(Flow::Continue)
            }
            Item::Event(_) => self.out.next.send(item),
        }
    }

    fn origin(&mut self, origin: Origin<'_>) -> Result<()> {
        self.at.origin.clear();
        self.at.origin.push_str(origin.name);
        self.at.n = 0;
        self.out.next.origin(origin)
    }

    fn flush(&mut self) -> Result<()> {
        self.out.next.flush()
    }

    fn tick(&mut self, now: std::time::Instant) -> Result<()> {
        self.out.next.tick(now)
    }

    fn close(&mut self) -> Result<()> {
        // `-n` with no input at all: the run happens now.
        let ran = if self.null_input {
            self.run_null().map(|_| ())
        } else {
            Ok(())
        };
        if self.failed > 0 {
            crate::say!(
                "copipe: jq: {} {} raised an error (the first: {})",
                self.failed,
                if self.failed == 1 { "input" } else { "inputs" },
                self.first_error.as_deref().unwrap_or("")
            );
        }
        let closed = self.out.next.close();
        ran.and(closed)
    }
}

/// Whether the JSON text of a line nests no deeper than [`value::MAX_DEPTH`]: checked on
/// its bytes before jaq-json parses it, since that parser is a recursion without a limit.
fn shallow(text: &[u8]) -> bool {
    let (mut depth, mut in_str, mut esc) = (0usize, false, false);
    for &b in text {
        if in_str {
            match b {
                _ if esc => esc = false,
                b'\\' => esc = true,
                b'"' => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > value::MAX_DEPTH {
                    return false;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}
