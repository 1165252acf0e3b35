//! `grep` — keep the items that match a regular expression, with grep's meanings of
//! `-i -v -w -x -F -e`.
//!
//! Accepts lines, records and events; emits the kind it receives. Lines are matched as bytes
//! (invalid UTF-8 never stops a match elsewhere in the line). With the global `--crlf`, a
//! `\r` before the newline is not part of the line for matching (`$` matches before it), but
//! it is still output, as ripgrep does. Records are matched on their compact JSON text, or on
//! one field with `--field NAME`; events on their NDJSON form.
//!
//! Line batches are searched ripgrep's way: the regex runs over the whole batch in
//! multi-line mode, each hit is widened to its line, and runs of consecutive selected lines
//! are passed on as one sub-batch — no per-line call when nothing matches.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use anyhow::{Context, Result, bail};
use clap::{ArgMatches, FromArgMatches, Parser};
use memchr::{memchr, memrchr};
use regex::bytes::{Regex, RegexBuilder};

use crate::item::{Item, Kind, Origin, Show, render, split_path};
use crate::protocol::def::{Build, BuildCx, CountSplit, Emits, Options, Role, StageDef, Status};
use crate::protocol::{Flow, Stage};

mod bre;
mod pcre;
mod place;
mod report;

/// Keep the items that match a regular expression, with GNU grep's options and output.
///
/// The syntax is Rust's `regex` (like ripgrep's, close to `grep -E`): Perl classes such as
/// `\d` and `\w`, `(?i)` flags, no backreferences; with `-P`, PCRE2's, as GNU grep -P's
/// (lookaround, backreferences, possessive and atomic groups), each line searched alone. Several patterns (several `-e`, the
/// lines of a `-f` file, or a pattern with newlines) select an item that matches any of
/// them; each is checked on its own (an unclosed `(` is an error, a `)` that closes nothing
/// is itself, as in `grep -E`). On records the compact JSON text is matched, or the value
/// of one field with `--field`.
///
/// The output options print what GNU grep prints, byte for byte: `-n` the line's number in
/// its file (in `follow`, the lines seen of that name, across rotations), `-b` its byte
/// offset, `-H` the file name (the default with several files of `cat` when a sink follows), `-o`, `-c`, `-l`,
/// `-L`, `-q`, `-m`, and context (`-A -B -C`, `--` between groups). `-m` stops the source,
/// as `head` does (each file of `cat` is read up to its NUMth selected line). On records
/// `-m`, `-q`, `-c` (one record `{"count":N}` per input, with `file` in front as with `-H`
/// when there are several) and context apply; `-n` and `-H`
/// add fields `n` (the record's number in its input) and `file` in front; `-o --field F`
/// passes on each match in F as the record with F set to it; `-l`/`-L` pass on
/// `{"file":NAME}` records; `-b`, and `-o` without `--field`, are refused. On events `-m`
/// and `-q`; the others are refused.
///
/// A pattern need not be UTF-8 (Linux arguments are bytes): with -F it matches its bytes;
/// without, each byte that is not UTF-8 matches itself, literally (so it must not stand
/// inside a `[…]` class or after a `\`).
#[derive(Parser)]
#[command(
    name = "grep",
    disable_version_flag = true,
    disable_help_flag = true,
    args_override_self = true
)]
pub struct Args {
    /// The pattern (when no -e or -f is given).
    #[arg(required_unless_present_any = ["regexp", "file"], value_name = "PATTERN")]
    pub pattern: Option<OsString>,
    /// A pattern; repeat for several (an item matching any is kept).
    #[arg(short = 'e', long = "regexp", value_name = "PATTERN", action = clap::ArgAction::Append, allow_hyphen_values = true)]
    pub regexp: Vec<OsString>,
    /// Read patterns from FILE, one a line (an empty line matches every line; an empty
    /// file, none).
    #[arg(short = 'f', long = "file", value_name = "FILE", action = clap::ArgAction::Append)]
    pub file: Vec<std::path::PathBuf>,
    /// Ignore case.
    #[arg(short = 'i', long, visible_short_alias = 'y')]
    pub ignore_case: bool,
    /// Keep the items that do not match.
    #[arg(short = 'v', long)]
    pub invert_match: bool,
    /// Match whole words only.
    #[arg(short = 'w', long)]
    pub word_regexp: bool,
    /// Match whole lines only.
    #[arg(short = 'x', long)]
    pub line_regexp: bool,
    /// Patterns are fixed strings, not regular expressions.
    #[arg(short = 'F', long)]
    pub fixed_strings: bool,
    /// Patterns are extended regular expressions (the default).
    #[arg(short = 'E', long)]
    pub extended_regexp: bool,
    /// Patterns are basic regular expressions, as GNU grep's default (`\(`, `\|`, `\{`, `\+`
    /// are operators, bare `(`, `|`, `{`, `+` are themselves); back-references are refused.
    #[arg(short = 'G', long)]
    pub basic_regexp: bool,
    /// Patterns are Perl regular expressions (PCRE2, as GNU grep -P): lookaround,
    /// backreferences, `\K`, atomic groups; `\w \d \s \b` are ASCII.
    #[arg(short = 'P', long)]
    pub perl_regexp: bool,
    /// Prefix each line with its line number in its input.
    #[arg(short = 'n', long)]
    pub line_number: bool,
    /// Prefix each line (with -o, each match) with its byte offset in its input.
    #[arg(short = 'b', long)]
    pub byte_offset: bool,
    /// Prefix each line with its file name (the default with several files of `cat`, when a
    /// sink follows the grep).
    #[arg(short = 'H', long, overrides_with = "no_filename")]
    pub with_filename: bool,
    /// Never prefix lines with their file name.
    #[arg(short = 'h', long, overrides_with = "with_filename")]
    pub no_filename: bool,
    /// Print each match (not empty) on a line of its own.
    #[arg(short = 'o', long)]
    pub only_matching: bool,
    /// Print the number of selected lines of each input instead of the lines.
    #[arg(short = 'c', long)]
    pub count: bool,
    /// Print the name of each input with a selected line (and stop reading it there).
    #[arg(short = 'l', long, overrides_with = "files_without_match")]
    pub files_with_matches: bool,
    /// Print the name of each input without a selected line.
    #[arg(short = 'L', long, overrides_with = "files_with_matches")]
    pub files_without_match: bool,
    /// Print nothing; stop at the first selected line (exit status 0), or say 1 at the end.
    #[arg(short = 'q', long, visible_alias = "silent")]
    pub quiet: bool,
    /// Stop after NUM selected lines (of each file of `cat`); the source stops, as with
    /// `head`.
    #[arg(short = 'm', long, value_name = "NUM")]
    pub max_count: Option<u64>,
    /// Print NUM lines of context after each selected line.
    #[arg(short = 'A', long, value_name = "NUM")]
    pub after_context: Option<u64>,
    /// Print NUM lines of context before each selected line.
    #[arg(short = 'B', long, value_name = "NUM")]
    pub before_context: Option<u64>,
    /// Print NUM lines of context before and after each selected line (`-NUM` too, as
    /// in GNU grep: `-2` is `-C 2`).
    #[arg(short = 'C', long, value_name = "NUM")]
    pub context: Option<u64>,
    /// The line between groups of context (default `--`).
    #[arg(long, value_name = "SEP", allow_hyphen_values = true)]
    pub group_separator: Option<OsString>,
    /// No line between groups of context.
    #[arg(long)]
    pub no_group_separator: bool,
    /// Colour matches, file names, line numbers and separators as GNU grep does (GREP_COLORS
    /// honoured: ms mc mt fn ln bn se ne); WHEN is auto (a terminal; the default is the
    /// global --color), always or never.
    #[arg(long = "color", visible_alias = "colour", value_name = "WHEN", value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "auto")]
    pub color: Option<When>,
    /// On records: match this field (a dotted path such as `stop.name`) instead of the
    /// whole record.
    #[arg(long, value_name = "NAME")]
    pub field: Option<String>,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}

/// `--color=WHEN`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum When {
    Auto,
    Always,
    Never,
}

pub const DEF: StageDef = StageDef {
    name: "grep",
    aliases: &["filter"],
    role: Role::Filter,
    summary: "keep items matching a regex, with grep's options (-n -c -o -m -l -H -C …)",
    accepts: Kind::ALL,
    emits: Emits::Same,
    examples: &[
        "copipe cat app.log : grep -i -e error -e fatal",
        "copipe follow app.log : grep -n -C 2 ERROR",
        "copipe xml buses.xml : records bus : grep --field route '^22$'",
    ],
    command: <Args as clap::CommandFactory>::command,
    fusion: None,
    build: Build::Filter(build),
};

/// The compiled matcher, shared by the stage and by tests.
#[derive(Clone, Debug)]
pub struct Matcher {
    engine: Engine,
    invert: bool,
    /// No pattern at all (only empty `-f` files): nothing matches, and GNU grep then reads
    /// nothing unless -v.
    nothing: bool,
    /// The global `--crlf`: a `\r` before the newline is not part of the line.
    crlf: bool,
    /// Every line is selected (a `grep -c` counting lines selected before it).
    all: bool,
}

/// What runs the patterns.
#[derive(Clone, Debug)]
enum Engine {
    /// Rust's regex, over whole batches (also `-P` patterns that are plain literals).
    Regex(Regex),
    /// `-P`: PCRE2, a line at a time.
    Pcre(pcre::Pcre),
}

impl Matcher {
    /// A matcher that selects every line (see [`CountSplit::Tally`]).
    pub fn everything(crlf: bool) -> Self {
        Matcher {
            engine: Engine::Regex(Regex::new("").expect("the empty regex")),
            invert: false,
            nothing: false,
            crlf,
            all: true,
        }
    }

    /// Compile grep's options into one regex.
    pub fn new(a: &Args, crlf: bool) -> Result<Self> {
        let matchers = [
            a.extended_regexp,
            a.fixed_strings,
            a.basic_regexp,
            a.perl_regexp,
        ];
        if matchers.iter().filter(|&&on| on).count() > 1 {
            bail!("conflicting matchers specified: give one of -E, -F, -G, -P");
        }
        let mut from_files: Vec<Vec<u8>> = Vec::new();
        for f in &a.file {
            if f.as_os_str() == "-" {
                bail!("-f - is not supported: standard input is the pipeline's input; name a file");
            }
            let text = std::fs::read(f)
                .with_context(|| format!("cannot read patterns from {}", f.display()))?;
            from_files.push(text);
        }
        let mut pats: Vec<&[u8]> = Vec::new();
        for p in a.pattern.iter().chain(&a.regexp) {
            // A pattern with newlines is several patterns, as in grep.
            pats.extend(p.as_bytes().split(|&b| b == b'\n'));
        }
        for text in &from_files {
            // One pattern a line; the last line's newline ends it, it starts no other. An
            // empty file adds no pattern; a file of one empty line adds "" (every line).
            if text.is_empty() {
                continue;
            }
            let text = text.strip_suffix(b"\n").unwrap_or(text);
            pats.extend(text.split(|&b| b == b'\n'));
        }
        if pats.is_empty() {
            if a.file.is_empty() {
                bail!("no pattern given");
            }
            // Only empty -f files: no pattern, so nothing matches (everything with -v).
            let re = RegexBuilder::new(r"[a&&b]").build()?;
            return Ok(Matcher {
                engine: Engine::Regex(re),
                invert: a.invert_match,
                nothing: true,
                crlf,
                all: false,
            });
        }
        // -P: PCRE2, unless every pattern is a plain literal (then the literal searcher of
        // -F finds the same lines, over whole batches). -w stays with PCRE2: its word
        // characters are ASCII, the regex's \b Unicode's.
        let fixed = a.fixed_strings
            || (a.perl_regexp && !a.word_regexp && pats.iter().all(|p| pcre::plain_literal(p)));
        if a.perl_regexp && !fixed {
            let p = pcre::Pcre::new(&pats, a.ignore_case, a.word_regexp, a.line_regexp)?;
            return Ok(Matcher {
                engine: Engine::Pcre(p),
                invert: a.invert_match,
                nothing: false,
                crlf,
                all: false,
            });
        }
        let mut alts: Vec<String> = Vec::with_capacity(pats.len());
        for p in &pats {
            let src = if a.basic_regexp {
                let Ok(text) = std::str::from_utf8(p) else {
                    bail!("with -G a pattern must be UTF-8 (use -E, the default, for bytes)");
                };
                bre::translate(text).with_context(|| {
                    format!("bad basic regular expression {text:?} (-E takes extended ones)")
                })?
            } else {
                regex_source(p, fixed)
            };
            // Each pattern is checked on its own: wrapped in `(?:…)` and joined with `|`,
            // `)(` would balance the parentheses of its neighbours and be accepted.
            let src = if fixed {
                src
            } else {
                balanced(src)
                    .with_context(|| format!("bad pattern {:?}", String::from_utf8_lossy(p)))?
            };
            alts.push(format!("(?:{src})"));
        }
        let mut body = alts.join("|");
        if a.line_regexp {
            body = format!("^(?:{body})$");
        } else if a.word_regexp {
            body = format!(r"\b{{start-half}}(?:{body})\b{{end-half}}");
        }
        let re = RegexBuilder::new(&body)
            .case_insensitive(a.ignore_case)
            .multi_line(true)
            .crlf(crlf)
            .build()
            .with_context(|| {
                format!(
                    "bad pattern {:?}",
                    String::from_utf8_lossy(&pats.join(&b'\n'))
                )
            })?;
        Ok(Matcher {
            engine: Engine::Regex(re),
            invert: a.invert_match,
            nothing: false,
            crlf,
            all: false,
        })
    }

    /// Whether one line (or text) is selected, `-v` included.
    pub fn selects(&self, text: &[u8]) -> Result<bool> {
        let hit = match &self.engine {
            Engine::Regex(re) => re.is_match(text),
            Engine::Pcre(p) => p.is_match(self.content(text))?,
        };
        Ok(hit != self.invert)
    }

    /// A line's text for matching: without its `\r` with `--crlf` (for PCRE2, which sees
    /// one line at a time; the regex's crlf mode does the same for it).
    fn content<'t>(&self, line: &'t [u8]) -> &'t [u8] {
        if self.crlf {
            line.strip_suffix(b"\r").unwrap_or(line)
        } else {
            line
        }
    }

    /// Call `hit` with the start and end of each match (not empty) in a line without its
    /// newline, as `-o` and `--color` show them.
    pub fn each_match(&self, line: &[u8], mut hit: impl FnMut(usize, usize)) -> Result<()> {
        match &self.engine {
            Engine::Regex(re) => {
                for m in re.find_iter(line).filter(|m| !m.is_empty()) {
                    hit(m.start(), m.end());
                }
                Ok(())
            }
            Engine::Pcre(p) => p.each_match(self.content(line), hit),
        }
    }

    /// Whether matches are found a line at a time by PCRE2 (`-P`), whose matches the
    /// output stage cannot colour itself.
    fn per_line(&self) -> bool {
        matches!(self.engine, Engine::Pcre(_))
    }

    /// Walk a batch and call `emit` with each run of consecutive selected lines (whole
    /// lines, newline included). Stops early when `emit` returns `Stop`.
    pub fn runs(&self, batch: &[u8], mut emit: impl FnMut(&[u8]) -> Result<Flow>) -> Result<Flow> {
        if self.all {
            return if batch.is_empty() {
                Ok(Flow::Continue)
            } else {
                emit(batch)
            };
        }
        match &self.engine {
            Engine::Regex(re) => self.runs_regex(re, batch, emit),
            Engine::Pcre(p) => self.runs_per_line(p, batch, emit),
        }
    }

    /// [`Matcher::runs`] for PCRE2: each line on its own.
    fn runs_per_line(
        &self,
        p: &pcre::Pcre,
        batch: &[u8],
        mut emit: impl FnMut(&[u8]) -> Result<Flow>,
    ) -> Result<Flow> {
        let (mut run_s, mut run_e) = (0usize, 0usize);
        let mut ls = 0;
        while ls < batch.len() {
            let (content_end, le) = match memchr(b'\n', &batch[ls..]) {
                Some(i) => (ls + i, ls + i + 1),
                None => (batch.len(), batch.len()),
            };
            let hit = match p.is_match(self.content(&batch[ls..content_end])) {
                Ok(hit) => hit,
                Err(mut e) => {
                    // A match that gave up: the lines selected before it still go out, and
                    // the error says where the line starts.
                    if run_e > run_s {
                        let _ = emit(&batch[run_s..run_e])?;
                    }
                    if let Some(g) = e.downcast_mut::<pcre::GaveUp>() {
                        g.at = ls;
                    }
                    return Err(e);
                }
            };
            if hit != self.invert {
                if ls != run_e {
                    if run_e > run_s && emit(&batch[run_s..run_e])?.is_stop() {
                        return Ok(Flow::Stop);
                    }
                    run_s = ls;
                }
                run_e = le;
            }
            ls = le;
        }
        if run_e > run_s {
            return emit(&batch[run_s..run_e]);
        }
        Ok(Flow::Continue)
    }

    /// [`Matcher::runs`] for the regex: over the whole batch, each hit widened to its line.
    fn runs_regex(
        &self,
        re: &Regex,
        batch: &[u8],
        mut emit: impl FnMut(&[u8]) -> Result<Flow>,
    ) -> Result<Flow> {
        let len = batch.len();
        // The current run of matching lines [run_s, run_e), for the plain case; for -v the
        // start of the region of non-matching lines not yet emitted.
        let (mut run_s, mut run_e) = (0usize, 0usize);
        let mut pos = 0;
        while pos < len {
            let Some(m) = re.find_at(batch, pos) else {
                break;
            };
            let start = m.start();
            if start == len && batch[len - 1] == b'\n' {
                break; // an empty match after the final newline: not a line
            }
            let ls = memrchr(b'\n', &batch[..start]).map_or(0, |i| i + 1);
            let (content_end, le) = match memchr(b'\n', &batch[start..]) {
                Some(i) => (start + i, start + i + 1),
                None => (len, len),
            };
            if m.end() > content_end && !re.is_match(&batch[ls..content_end]) {
                // The hit ran across the newline (`\s`, `[^x]`): the line itself may not match.
                pos = le;
                continue;
            }
            if self.invert {
                if ls > run_s && emit(&batch[run_s..ls])?.is_stop() {
                    return Ok(Flow::Stop);
                }
                run_s = le;
            } else if ls == run_e && run_e > run_s {
                run_e = le;
            } else {
                if run_e > run_s && emit(&batch[run_s..run_e])?.is_stop() {
                    return Ok(Flow::Stop);
                }
                (run_s, run_e) = (ls, le);
            }
            pos = le;
        }
        if self.invert {
            run_e = len;
        }
        if run_e > run_s {
            return emit(&batch[run_s..run_e]);
        }
        Ok(Flow::Continue)
    }
}

/// The regex syntax of one pattern given as bytes: with `fixed`, every character stands for
/// itself; without, the UTF-8 parts are regex syntax. Either way a byte that is not UTF-8
/// becomes `(?-u:\xHH)`, which matches exactly that byte.
fn regex_source(p: &[u8], fixed: bool) -> String {
    let mut s = String::with_capacity(p.len());
    for chunk in p.utf8_chunks() {
        if fixed {
            s.push_str(&regex::escape(chunk.valid()));
        } else {
            s.push_str(chunk.valid());
        }
        for b in chunk.invalid() {
            let _ = write!(s, r"(?-u:\x{b:02X})");
        }
    }
    s
}

/// Check one pattern's syntax on its own, as GNU grep does before it combines patterns:
/// an unclosed `(` is refused ("unclosed group"), a `)` that closes nothing stands for
/// itself as in GNU grep's extended syntax (`a)` matches `a)`), so it is escaped.
fn balanced(mut src: String) -> Result<String> {
    use regex_syntax::ast::{ErrorKind, parse::Parser};
    // Each round escapes one stray `)`; a pattern has at most as many as its length.
    for _ in 0..=src.len() {
        match Parser::new().parse(&src) {
            Ok(_) => return Ok(src),
            Err(e) if *e.kind() == ErrorKind::GroupUnopened => {
                let at = e.span().start.offset;
                if src.as_bytes().get(at) != Some(&b')') {
                    bail!("{}", e.kind());
                }
                src.insert(at, '\\');
            }
            Err(e) => bail!("{}", e.kind()),
        }
    }
    bail!("too many unmatched `)`")
}

/// GNU grep's `-NUM`, the same as `-C NUM`: each argument that is `-` and digits becomes
/// `-C` and the digits, but not the value of an option (`-e -2`, `-m -1`) nor after `--`.
pub fn context_shorthand(argv: Vec<OsString>) -> Vec<OsString> {
    const VALUED: &[&str] = &[
        "--regexp",
        "--file",
        "--max-count",
        "--after-context",
        "--before-context",
        "--context",
        "--group-separator",
        "--field",
    ];
    let mut out = Vec::with_capacity(argv.len() + 1);
    let mut value_next = false;
    let mut rest = false;
    for (i, arg) in argv.into_iter().enumerate() {
        let b = arg.as_bytes();
        if i == 0 || rest || value_next {
            value_next = false;
            out.push(arg);
            continue;
        }
        if b == b"--" {
            rest = true;
        } else if b.len() > 1 && b[0] == b'-' && b[1..].iter().all(u8::is_ascii_digit) {
            out.push("-C".into());
            out.push(OsString::from_vec(b[1..].to_vec()));
            continue;
        } else if b.starts_with(b"--") {
            value_next = !b.contains(&b'=') && VALUED.iter().any(|v| v.as_bytes() == b);
        } else if b.len() > 1 && b[0] == b'-' {
            // A cluster (`-ie`) whose last option takes its value from the next argument.
            value_next = matches!(b[b.len() - 1], b'e' | b'f' | b'm' | b'A' | b'B' | b'C')
                && b[1..b.len() - 1]
                    .iter()
                    .all(|c| !matches!(c, b'e' | b'f' | b'm' | b'A' | b'B' | b'C'));
        }
        out.push(arg);
    }
    out
}

/// The regex whose matches `print` colours for this grep: none with `-v` or `--field`, nor
/// when this grep writes its own output (`-n`, `-o`, `-c`, context …: it colours it itself)
/// or its `--color` says never.
pub fn highlight(m: &ArgMatches, opts: &Options) -> Option<Regex> {
    let a = Args::from_arg_matches(m).ok()?;
    if a.invert_match || a.field.is_some() || a.reports() || !a.colored(opts) {
        return None;
    }
    match Matcher::new(&a, opts.crlf).ok()?.engine {
        Engine::Regex(re) => Some(re),
        Engine::Pcre(_) => None,
    }
}

impl Args {
    /// Whether this grep writes its own output rather than passing the selected lines on.
    fn reports(&self) -> bool {
        self.line_number
            || self.byte_offset
            || self.only_matching
            || self.count
            || self.files_with_matches
            || self.files_without_match
            || self.quiet
            || self.max_count.is_some()
            || self.context_given()
    }

    fn context_given(&self) -> bool {
        self.after_context.is_some() || self.before_context.is_some() || self.context.is_some()
    }

    /// Whether matches are coloured: this grep's `--color`, else the global one.
    fn colored(&self, opts: &Options) -> bool {
        match self.color {
            None => opts.color,
            Some(When::Always) => true,
            Some(When::Never) => false,
            Some(When::Auto) => {
                // SAFETY: isatty only reads the descriptor's state.
                let tty = unsafe { libc::isatty(1) } == 1;
                tty && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
            }
        }
    }

    /// The flags that have no meaning on items of kind `kind` (not lines), as written, if
    /// any is given, with why: on records `-n -H -o -l -L -c` and context have one, on
    /// events none of them.
    fn line_only_flag(&self, kind: Kind) -> Option<(&'static str, &'static str)> {
        let events = kind == Kind::Event;
        let records = !events;
        [
            (self.line_number && events, "-n", ""),
            (
                self.byte_offset,
                "-b",
                "an item is parsed, not a slice of its input: it has no byte offset (-n numbers records)",
            ),
            (
                self.only_matching && records && self.field.is_none(),
                "-o without --field",
                "a match in a record's JSON text is not a record; with --field F each match in F is passed on as the record with F set to it",
            ),
            (self.only_matching && events, "-o", ""),
            (self.count && events, "-c", "count them with `count`"),
            (self.files_with_matches && events, "-l", ""),
            (self.files_without_match && events, "-L", ""),
            (self.with_filename && events, "-H", ""),
            (self.context_given() && events, "-A/-B/-C", ""),
        ]
        .into_iter()
        .find_map(|(on, name, why)| on.then_some((name, why)))
    }
}

fn build(m: &ArgMatches, cx: &BuildCx<'_>, next: Box<dyn Stage>) -> Result<Box<dyn Stage>> {
    let mut a = Args::from_arg_matches(m)?;
    let mut tally = false;
    match cx.inputs.count {
        CountSplit::Whole => {}
        // (Before the count: the lines selected, each once, uncoloured.)
        CountSplit::Select => {
            if a.count {
                (a.count, a.only_matching, a.color) = (false, false, Some(When::Never));
            }
        }
        CountSplit::Tally => tally = true,
    }
    if a.field.is_some() && cx.input != Kind::Record {
        bail!(
            "--field works on records, but this grep receives {}",
            cx.input.plural()
        );
    }
    if cx.input != Kind::Line
        && let Some((flag, why)) = a.line_only_flag(cx.input)
    {
        let why = if why.is_empty() {
            String::new()
        } else {
            format!("{why}; ")
        };
        let apply = if cx.input == Kind::Record {
            "-m, -q, -c, -n, -H, -l, -L, -A/-B/-C and -o with --field"
        } else {
            "-m and -q"
        };
        bail!(
            "{flag} works on lines, but this grep receives {} ({why}on them only {apply} apply)",
            cx.input.plural()
        );
    }
    let matcher = if tally {
        Matcher::everything(cx.opts.crlf)
    } else {
        Matcher::new(&a, cx.opts.crlf)?
    };
    let field = a.field.as_deref().map(split_path);
    let colored = a.colored(cx.opts);
    // Colour the matches here when `print` will not (its colour is the global one).
    // (And for -P, whose matches `print` cannot find.)
    let report = (cx.input == Kind::Line
        && (a.reports() || (colored && (!cx.opts.color || matcher.per_line()))))
    .then(|| report::Report::new(&a, matcher.clone(), colored, cx));
    let names = if a.with_filename {
        Names::Always
    } else if a.no_filename {
        Names::Never
    } else if cx.inputs.several && cx.inputs.renumber && cx.inputs.to_sink {
        Names::Always
    } else {
        Names::AsSource
    };
    Ok(Box::new(Grep {
        place: place::Place::new(matcher.per_line(), cx.inputs.renumber),
        matcher,
        field,
        scratch: Vec::new(),
        report,
        names,
        max: a.max_count,
        quiet: a.quiet,
        selected: 0,
        items: Items {
            count: a.count,
            after: a.after_context.or(a.context).unwrap_or(0),
            before: a.before_context.or(a.context).unwrap_or(0),
            ..Items::default()
        },
        recs: Recs {
            number: a.line_number,
            name: a.with_filename,
            only: a.only_matching,
            list: if a.files_with_matches {
                Some(true)
            } else if a.files_without_match {
                Some(false)
            } else {
                None
            },
            input: "(standard input)".into(),
            ..Recs::default()
        },
        counts: Counts {
            named: a.with_filename || (cx.inputs.several && !a.no_filename),
            renumber: cx.inputs.renumber,
            ..Counts::default()
        },
        status: cx.status.clone(),
        next,
    }))
}

/// The group separator line of the `grep` of `m` on lines (see
/// `Inputs::separated_after`), if it separates groups of context lines.
pub fn separator_line(m: &ArgMatches, cx: &BuildCx<'_>) -> Result<Option<Vec<u8>>> {
    let a = Args::from_arg_matches(m)?;
    let colored = a.colored(cx.opts);
    let r = report::Report::new(&a, Matcher::everything(cx.opts.crlf), colored, cx);
    Ok(r.separator_line())
}

/// `-n -H -o -l -L` on records: `-n` and `-H` put the record's number in its input and the
/// input's name in front, as fields `file` and `n`; `-o` passes on each match in the
/// `--field`, as the record with that field set to the match; `-l`/`-L` pass on one record
/// `{"file":NAME}` per input with / without a selected record.
#[derive(Default)]
struct Recs {
    number: bool,
    name: bool,
    only: bool,
    list: Option<bool>,
    /// The current input's name, its records so far, and whether one was selected.
    input: String,
    seen: u64,
    hit: bool,
    /// Records were read since the last origin (an input to report with `-L`).
    started: bool,
    /// Said once: a record has a `file` or `n` field of its own, which is kept.
    warned: bool,
    out: crate::item::Record,
    hits: Vec<(usize, usize)>,
}

impl Recs {
    fn decorates(&self) -> bool {
        self.number || self.name
    }

    /// The record `r`, numbered `n` in its input, with `file` and `n` in front as asked
    /// (a field of the record's own of that name is kept, and said once).
    fn decorate(&mut self, r: &crate::item::Record, n: u64) {
        use crate::item::Type;
        let out = &mut self.out;
        out.clear();
        let mut own = false;
        if self.name {
            if r.get("file").is_none() {
                out.add_scalar(crate::record::ROOT, "file", Type::String, &self.input);
            } else {
                own = true;
            }
        }
        if self.number {
            if r.get("n").is_none() {
                let mut b = itoa::Buffer::new();
                out.add_scalar(crate::record::ROOT, "n", Type::Number, b.format(n));
            } else {
                own = true;
            }
        }
        for (k, v) in r.fields() {
            out.add_copy(crate::record::ROOT, k, v);
        }
        if own && !self.warned {
            self.warned = true;
            crate::say!(
                "copipe: grep: {}: record {n} has a field `file` or `n` of its own: it is kept, and grep's is not added",
                self.input
            );
        }
    }

    /// `{"file":NAME}` of the current input.
    fn name_record(&self) -> crate::item::Record {
        let mut r = crate::item::Record::new();
        r.add_scalar(
            crate::record::ROOT,
            "file",
            crate::item::Type::String,
            &self.input,
        );
        r
    }
}

/// The most records of before-context kept (`-B` on records).
const MAX_BEFORE_RECORDS: usize = 10_000;

/// `-c` and context on records.
#[derive(Default)]
struct Items {
    count: bool,
    after: u64,
    before: u64,
    /// After-context still to pass on.
    after_left: u64,
    /// The last records not passed on, for before-context.
    ring: std::collections::VecDeque<(u64, crate::item::Record)>,
    /// `-m` was reached: only the trailing context goes on.
    done: bool,
}

/// `-c` on records: the records selected in each input, passed on as one record
/// `{"count":N}` per input (`{"file":NAME,"count":N}` when names are shown: `-H`, or several
/// inputs without `-h`) at the input's end: with `cat`, when the next input begins; with
/// `follow`, whose names come back, for each name at the end of the stream, in the order
/// they came (at most [`MAX_COUNTED`] names wait; beyond, the oldest is passed on early).
#[derive(Default)]
struct Counts {
    named: bool,
    renumber: bool,
    /// The inputs whose counts are not passed on yet, in the order they came.
    order: std::collections::VecDeque<String>,
    counts: std::collections::HashMap<String, u64>,
    /// A count was passed on.
    any: bool,
}

/// The most names whose `-c` counts on records wait for the end of the stream.
const MAX_COUNTED: usize = 10_000;

impl Counts {
    /// The record `{"file":NAME,"count":N}` (without `file` unless names are shown).
    fn record(&self, name: &str, n: u64) -> crate::item::Record {
        use crate::item::{Record, Type};
        let mut r = Record::new();
        if self.named {
            r.add_scalar(crate::record::ROOT, "file", Type::String, name);
        }
        let mut b = itoa::Buffer::new();
        r.add_scalar(crate::record::ROOT, "count", Type::Number, b.format(n));
        r
    }
}

/// Whether file names go in front of the lines that a grep without output options passes
/// on (through the origin's [`Show`], which `print` follows).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Names {
    Always,
    Never,
    /// As the source shows them (`follow`'s headers, `cat --tag`'s tags).
    AsSource,
}

struct Grep {
    matcher: Matcher,
    /// `--field`, split on dots.
    field: Option<Vec<String>>,
    scratch: Vec<u8>,
    /// The output options on lines (`-n`, `-c`, `-o`, context …); `None`: selected lines
    /// are passed on as they are, a run at a time.
    report: Option<report::Report>,
    names: Names,
    /// `-m` and `-q` on records and events.
    max: Option<u64>,
    quiet: bool,
    selected: u64,
    /// `-c` and context on records.
    items: Items,
    /// `-n -H -o -l -L` on records.
    recs: Recs,
    /// `-c` on records.
    counts: Counts,
    status: Status,
    /// Where the search is, for the errors a line or record can raise.
    place: place::Place,
    next: Box<dyn Stage>,
}

impl Grep {
    /// Pass a record (or any item) on, numbered `n` in its input, with `-n`/`-H`'s fields.
    fn pass(&mut self, item: Item<'_>, n: u64) -> Result<Flow> {
        match item {
            Item::Record(r) if self.recs.decorates() => {
                self.recs.decorate(r, n);
                self.next.send(Item::Record(&self.recs.out))
            }
            _ => self.next.send(item),
        }
    }

    /// `-o --field F` on a record: each match in F, as the record with F set to it.
    fn only(&mut self, item: Item<'_>, n: u64) -> Result<Flow> {
        let (Item::Record(r), Some(path)) = (item, &self.field) else {
            return self.pass(item, n);
        };
        if self.matcher.invert {
            return Ok(Flow::Continue); // as grep -o -v: nothing to show
        }
        let Some(v) = r.lookup(path) else {
            return Ok(Flow::Continue);
        };
        self.scratch.clear();
        match v.as_str() {
            Some(s) => self.scratch.extend_from_slice(s.as_bytes()),
            None => v.write_json(&mut self.scratch),
        }
        let hits = &mut self.recs.hits;
        hits.clear();
        self.matcher
            .each_match(&self.scratch, |s, e| hits.push((s, e)))
            .map_err(|e| self.place.in_record(e, n))?;
        if self.recs.hits.is_empty() {
            return Ok(Flow::Continue);
        }
        let base = if self.recs.decorates() {
            self.recs.decorate(r, n);
            self.recs.out.clone()
        } else {
            r.clone()
        };
        for k in 0..self.recs.hits.len() {
            let (s, e) = self.recs.hits[k];
            let mut one = base.clone();
            if let Some(id) = one.lookup(path).map(|v| v.id()) {
                let part = String::from_utf8_lossy(&self.scratch[s..e]);
                one.set_text(id, crate::item::Type::String, &part);
            }
            if self.next.send(Item::Record(&one))?.is_stop() {
                return Ok(Flow::Stop);
            }
        }
        Ok(Flow::Continue)
    }

    /// `-c` on records: an input begins (with `cat`, the one before it is passed on).
    fn count_begins(&mut self, name: &str) -> Result<Flow> {
        if self.counts.renumber && self.count_flush(usize::MAX)?.is_stop() {
            return Ok(Flow::Stop);
        }
        if self.counts.counts.contains_key(name) {
            return Ok(Flow::Continue);
        }
        let flow = self.count_flush(self.counts.order.len().saturating_sub(MAX_COUNTED - 1))?;
        self.counts.order.push_back(name.to_string());
        self.counts.counts.insert(name.to_string(), 0);
        Ok(flow)
    }

    /// `-c` on records: pass on the counts of the `k` oldest inputs waiting.
    fn count_flush(&mut self, k: usize) -> Result<Flow> {
        for _ in 0..k {
            let Some(name) = self.counts.order.pop_front() else {
                break;
            };
            let n = self.counts.counts.remove(&name).unwrap_or(0);
            let r = self.counts.record(&name, n);
            self.counts.any = true;
            if self.next.send(Item::Record(&r))?.is_stop() {
                return Ok(Flow::Stop);
            }
        }
        Ok(Flow::Continue)
    }

    /// The end of an input of records: `-L` passes on its name when none was selected.
    fn end_of_input(&mut self) -> Result<Flow> {
        let recs = &mut self.recs;
        let unselected = recs.list == Some(false) && recs.started && !recs.hit;
        recs.started = false;
        if unselected {
            let r = recs.name_record();
            return self.next.send(Item::Record(&r));
        }
        Ok(Flow::Continue)
    }
}

impl Stage for Grep {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        if let (Some(r), Item::Line(l)) = (&mut self.report, &item) {
            let flow = r
                .line(l, &mut self.next)
                .map_err(|e| self.place.in_lines(e, l));
            self.place.advance_one();
            return flow;
        }
        let selected = match (&item, &self.field) {
            (Item::Line(l), _) => self.matcher.selects(l),
            (Item::Record(r), Some(path)) => match r.lookup(path) {
                Some(v) => match v.as_str() {
                    Some(s) => self.matcher.selects(s.as_bytes()),
                    None => {
                        self.scratch.clear();
                        v.write_json(&mut self.scratch);
                        self.matcher.selects(&self.scratch)
                    }
                },
                None => Ok(self.matcher.invert),
            },
            _ => {
                self.scratch.clear();
                render(&mut self.scratch, &item);
                self.matcher.selects(&self.scratch)
            }
        };
        // A match that gave up names the line, or the record, it gave up on.
        let selected = match (selected, &item) {
            (Ok(s), _) => s,
            (Err(e), Item::Line(l)) => return Err(self.place.in_lines(e, l)),
            (Err(e), Item::Record(_)) => {
                return Err(self.place.in_record(e, self.recs.seen + 1));
            }
            (Err(e), _) => return Err(e),
        };
        if matches!(item, Item::Line(_)) {
            self.place.advance_one();
        }
        let n = if matches!(item, Item::Record(_)) {
            self.recs.started = true;
            self.recs.seen += 1;
            self.recs.seen
        } else {
            0
        };
        if self.items.done || !selected {
            let it = &mut self.items;
            // Context: the records after a selected one, or kept for before one.
            if it.after_left > 0 {
                it.after_left -= 1;
                let last = it.done && it.after_left == 0;
                let flow = self.pass(item, n)?;
                if last {
                    return Ok(Flow::Stop);
                }
                return Ok(flow);
            }
            if it.before > 0
                && let Item::Record(r) = item
            {
                it.ring.push_back((n, r.clone()));
                let keep = (it.before as usize).min(MAX_BEFORE_RECORDS);
                while it.ring.len() > keep {
                    it.ring.pop_front();
                }
            }
            return Ok(Flow::Continue);
        }
        if self.max == Some(0) {
            return Ok(Flow::Stop);
        }
        self.selected += 1;
        if self.quiet {
            self.status.quiet_selected();
            return Ok(Flow::Stop);
        }
        let reached = self.max == Some(self.selected);
        if let Some(with) = self.recs.list {
            // -l: the input's name at its first selected record; -L: at its end, if none.
            let first = !self.recs.hit;
            self.recs.hit = true;
            if with && first {
                let r = self.recs.name_record();
                if self.next.send(Item::Record(&r))?.is_stop() {
                    return Ok(Flow::Stop);
                }
            }
            return Ok(if reached { Flow::Stop } else { Flow::Continue });
        }
        if self.items.count {
            if !self.counts.counts.contains_key(&self.recs.input) {
                let name = self.recs.input.clone();
                if self.count_begins(&name)?.is_stop() {
                    return Ok(Flow::Stop);
                }
            }
            if let Some(n) = self.counts.counts.get_mut(&self.recs.input) {
                *n += 1;
            }
            return Ok(if reached { Flow::Stop } else { Flow::Continue });
        }
        while let Some((k, r)) = self.items.ring.pop_front() {
            if self.pass(Item::Record(&r), k)?.is_stop() {
                return Ok(Flow::Stop);
            }
        }
        let flow = if self.recs.only {
            self.only(item, n)?
        } else {
            self.pass(item, n)?
        };
        let it = &mut self.items;
        it.after_left = it.after;
        if reached {
            it.done = true;
            if it.after_left == 0 {
                return Ok(Flow::Stop);
            }
        }
        Ok(flow)
    }

    fn send_lines(&mut self, batch: &[u8]) -> Result<Flow> {
        let next = &mut self.next;
        let flow = match &mut self.report {
            Some(r) => r.lines(batch, next),
            None => self.matcher.runs(batch, |run| next.send_lines(run)),
        };
        let flow = flow.map_err(|e| self.place.in_lines(e, batch));
        self.place.advance(batch);
        flow
    }

    fn origin(&mut self, origin: Origin<'_>) -> Result<()> {
        self.place.origin(origin.name);
        if let Some(r) = &mut self.report {
            return r.origin(origin, &mut self.next);
        }
        let name = if origin.name == "standard input" {
            "(standard input)"
        } else {
            origin.name
        };
        // (With `cat` each origin is a new input, even of a name seen before.)
        if name != self.recs.input || self.counts.renumber {
            if self.end_of_input()?.is_stop() {
                return Ok(());
            }
            let recs = &mut self.recs;
            recs.input.clear();
            recs.input.push_str(name);
            (recs.seen, recs.hit, recs.started) = (0, false, false);
            if self.items.count {
                let name = self.recs.input.clone();
                let _ = self.count_begins(&name)?;
            }
        }
        let show = match self.names {
            Names::Always => Show::Tag,
            Names::Never => Show::Hidden,
            Names::AsSource => origin.show,
        };
        self.next.origin(Origin { show, ..origin })
    }

    fn close(&mut self) -> Result<()> {
        if let Some(r) = &mut self.report {
            r.close(&mut self.next)?;
        } else if self.quiet {
            self.status.report_selection(false);
        } else if self.recs.list.is_some() || self.recs.only {
            // (-o: the status says whether a record was selected, as grep -o -v's.)
            let _ = self.end_of_input()?;
            self.status.report_selection(self.selected > 0);
        } else if self.items.count {
            // A count per input (one for standard input when no input was announced); the
            // status says whether one was selected, as grep -c's does.
            self.status.report_selection(self.selected > 0);
            if self.counts.order.is_empty() && !self.counts.any {
                let name = self.recs.input.clone();
                let _ = self.count_begins(&name)?;
            }
            let _ = self.count_flush(usize::MAX)?;
        }
        self.next.close()
    }

    crate::pass_on!(flush);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(args: &[&str], crlf: bool) -> Matcher {
        let a = Args::try_parse_from(std::iter::once("grep").chain(args.iter().copied())).unwrap();
        Matcher::new(&a, crlf).unwrap()
    }

    /// The lines selected from a batch, by the batch path and by the per-line path.
    fn both(m: &Matcher, batch: &[u8]) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        let _ = m
            .runs(batch, |run| {
                got.extend(crate::item::lines(run).map(<[u8]>::to_vec));
                Ok(Flow::Continue)
            })
            .unwrap();
        let per_line: Vec<Vec<u8>> = crate::item::lines(batch)
            .filter(|l| m.selects(l).unwrap())
            .map(<[u8]>::to_vec)
            .collect();
        assert_eq!(got, per_line, "batch and per-line paths disagree");
        got
    }

    fn strs(v: Vec<Vec<u8>>) -> Vec<String> {
        v.into_iter()
            .map(|l| String::from_utf8_lossy(&l).into_owned())
            .collect()
    }

    #[test]
    fn runs_of_lines() {
        let m = matcher(&["ion"], false);
        assert_eq!(
            strs(both(&m, b"lion\nnation\ncat\nion")),
            ["lion", "nation", "ion"]
        );
        let m = matcher(&["-v", "ion"], false);
        assert_eq!(
            strs(both(&m, b"lion\nnation\ncat\nion\ndog\n")),
            ["cat", "dog"]
        );
    }

    #[test]
    fn empty_and_anchored_patterns() {
        let m = matcher(&[""], false);
        assert_eq!(both(&m, b"a\n\nb\n").len(), 3);
        let m = matcher(&["^$"], false);
        assert_eq!(both(&m, b"a\n\nb\n").len(), 1);
        let m = matcher(&["-v", "^$"], false);
        assert_eq!(both(&m, b"a\n\nb\n\n").len(), 2);
        let m = matcher(&["ion$"], false);
        assert_eq!(strs(both(&m, b"ion\r\nion\nions\n")), ["ion"]);
    }

    #[test]
    fn crlf_mode_strips_the_cr_for_matching() {
        let m = matcher(&["ion$"], true);
        assert_eq!(strs(both(&m, b"ion\r\nion\nions\r\n")), ["ion\r", "ion"]);
        let m = matcher(&["-x", "ion"], true);
        assert_eq!(both(&m, b"ion\r\nxion\r\n").len(), 1);
    }

    #[test]
    fn matches_that_cross_newlines_are_confirmed_per_line() {
        let m = matcher(&[r"a\s+b"], false);
        assert!(both(&m, b"xa\nb\n").is_empty());
        let m = matcher(&[r"a[^z]*b"], false);
        assert_eq!(strs(both(&m, b"a\nab\n")), ["ab"]);
    }

    #[test]
    fn flags() {
        let m = matcher(&["-F", "a.c"], false);
        assert_eq!(strs(both(&m, b"abc\na.c\n")), ["a.c"]);
        let m = matcher(&["-w", "cat"], false);
        assert_eq!(
            strs(both(&m, b"cat\nconcat\ncat-like\ncats\n")),
            ["cat", "cat-like"]
        );
        let m = matcher(&["-i", "-e", "ERR", "-e", "warn"], false);
        assert_eq!(strs(both(&m, b"err\nWarning\ninfo\n")), ["err", "Warning"]);
        let m = matcher(&["-x", "-e", "a|b"], false);
        assert_eq!(strs(both(&m, b"a\nab\nb\n")), ["a", "b"]);
    }

    #[test]
    fn invalid_utf8_is_searched_as_bytes() {
        let m = matcher(&["ion"], false);
        assert_eq!(both(&m, b"\xff\xfeion\n\xc3\n").len(), 1);
    }

    #[test]
    fn stop_ends_the_walk() {
        let m = matcher(&["a"], false);
        let mut calls = 0;
        let flow = m
            .runs(b"a\nb\na\nb\na\n", |_| {
                calls += 1;
                Ok(Flow::Stop)
            })
            .unwrap();
        assert_eq!((flow, calls), (Flow::Stop, 1));
    }

    #[test]
    fn each_pattern_is_checked_alone_for_balanced_parentheses() {
        for bad in [
            &[")("][..],
            &["-x", "a)|(b"],
            &["("],
            &["-e", "a", "-e", "(b"],
        ] {
            let a = Args::try_parse_from(std::iter::once("grep").chain(bad.iter().copied()));
            let err = Matcher::new(&a.unwrap(), false).unwrap_err();
            assert!(
                format!("{err:#}").contains("unclosed group"),
                "{bad:?}: {err:#}"
            );
        }
        // As in GNU grep -E, a `)` that closes nothing is itself.
        let m = matcher(&["a)"], false);
        assert_eq!(
            strs(both(
                &m,
                b"a)
a
(a)
"
            )),
            ["a)", "(a)"]
        );
        let m = matcher(&["-e", "(a))", "-e", ")"], false);
        assert_eq!(
            strs(both(
                &m, b"a)
b
"
            )),
            ["a)"]
        );
        // -F patterns are literal: nothing to balance.
        let m = matcher(&["-F", ")("], false);
        assert_eq!(
            strs(both(
                &m, b")(
x
"
            )),
            [")("]
        );
    }

    #[test]
    fn num_is_context_but_not_as_a_value() {
        let go = |v: &[&str]| -> Vec<String> {
            context_shorthand(v.iter().map(OsString::from).collect())
                .into_iter()
                .map(|a| a.into_string().unwrap())
                .collect()
        };
        assert_eq!(go(&["grep", "-2", "x"]), ["grep", "-C", "2", "x"]);
        assert_eq!(
            go(&["grep", "-n", "-10", "x"]),
            ["grep", "-n", "-C", "10", "x"]
        );
        assert_eq!(go(&["grep", "-e", "-2"]), ["grep", "-e", "-2"]);
        assert_eq!(go(&["grep", "-ie", "-2"]), ["grep", "-ie", "-2"]);
        assert_eq!(go(&["grep", "-m", "-1", "x"]), ["grep", "-m", "-1", "x"]);
        assert_eq!(go(&["grep", "--regexp", "-3"]), ["grep", "--regexp", "-3"]);
        assert_eq!(go(&["grep", "--", "-3"]), ["grep", "--", "-3"]);
        assert_eq!(go(&["grep", "-", "-0"]), ["grep", "-", "-C", "0"]);
    }

    fn matcher_os(args: &[&[u8]]) -> Matcher {
        use std::os::unix::ffi::OsStrExt;
        let argv = std::iter::once(&b"grep"[..])
            .chain(args.iter().copied())
            .map(|a| std::ffi::OsStr::from_bytes(a).to_os_string());
        Matcher::new(&Args::try_parse_from(argv).unwrap(), false).unwrap()
    }

    #[test]
    fn patterns_that_are_not_utf8_match_their_bytes() {
        let m = matcher_os(&[b"-F", b"\xff"]);
        assert_eq!(strs(both(&m, b"a\xffb\nab\n\xc3\xbf\n")), ["a\u{fffd}b"]);
        let m = matcher_os(&[b"-F", b"a.\xfe("]);
        assert_eq!(both(&m, b"a.\xfe(\nab\xfe(\n").len(), 1);
        // Without -F the UTF-8 parts are a regex and the other bytes literal.
        let m = matcher_os(&[b"^a.\xff+$"]);
        assert_eq!(both(&m, b"ax\xff\xff\nax\xfe\na\xff\n").len(), 1);
        let m = matcher_os(&[b"-i", b"-e", b"X\xff", b"-e", b"\xc3"]);
        assert_eq!(both(&m, b"x\xff\n\xc3\xa9\n\xc4\n").len(), 2);
    }
}
