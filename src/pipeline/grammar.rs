//! The grammar of SPEC §2: words → a tree of stage calls.
//!
//! Words come from the shell (argv form) or from one string or file split with shell-like
//! quoting. Stages are separated by a standalone `:` or `|`; `{ … }` holds a branch of a
//! fan-out and nests. A separator or brace that is the value of a stage option that takes a
//! value (`grep -e :`) is an ordinary argument. Every error names the word it is about, so it
//! can be shown with a caret under that word.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use clap::ArgMatches;

use super::registry;
use crate::protocol::def::{Emits, Role, StageDef};

/// One word of the pipeline text and where it stands. Words are bytes, as Linux hands
/// them over: a file name or a pattern need not be UTF-8.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    pub text: OsString,
    /// Index in the word list (for carets in error messages).
    pub index: usize,
}

/// A stage as written: its name, arguments, branches and parsed options.
#[derive(Clone)]
pub struct Call {
    pub def: &'static StageDef,
    /// The name word; `None` for an implicit stage (stdin source, print sink).
    pub name: Option<Word>,
    pub args: Vec<Word>,
    pub branches: Vec<Pipeline>,
    pub matches: ArgMatches,
    /// The kind of items it receives, set by the type check (`None` for a source).
    pub input: Option<crate::item::Kind>,
}

impl Call {
    /// The stage as written (`grep -i error`), or what an implicit stage stands for; for
    /// `--explain` and `--stats`.
    pub fn label(&self) -> String {
        match &self.name {
            None if self.def.role == Role::Source => "cat - (implicit: standard input)".into(),
            None => format!("{} (implicit)", self.def.name),
            Some(name) => {
                let words: Vec<&OsStr> = std::iter::once(&name.text)
                    .chain(self.args.iter().map(|w| &w.text))
                    .map(OsString::as_os_str)
                    .collect();
                render_words(&words).0
            }
        }
    }

    /// The word to point at for errors about this stage.
    pub fn word_index(&self) -> Option<usize> {
        self.name.as_ref().map(|w| w.index)
    }
}

/// A pipeline (the whole one, or one branch).
#[derive(Clone)]
pub struct Pipeline {
    pub calls: Vec<Call>,
}

/// A pipeline error with the word it points at.
#[derive(Debug)]
pub struct SyntaxError {
    pub message: String,
    /// The offending word; `None` points after the last word.
    pub at: Option<usize>,
    /// The text to show when the user asked for help (clap's help output): exit 0.
    pub help: bool,
}

impl SyntaxError {
    pub fn new(message: impl Into<String>, at: Option<usize>) -> Self {
        SyntaxError {
            message: message.into(),
            at,
            help: false,
        }
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SyntaxError {}

/// Split one pipeline string (or pipeline file) into words with shell-like quoting.
/// `#` starts a comment that runs to the end of the line (outside quotes, at a word start).
/// The text is bytes: words that are not UTF-8 stay as they are.
pub fn split_text(text: impl AsRef<[u8]>) -> Result<Vec<OsString>, String> {
    let mut words = Vec::new();
    for (n, line) in text.as_ref().split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = strip_comment(line);
        match shlex::bytes::split(line) {
            Some(w) => words.extend(w.into_iter().map(OsString::from_vec)),
            None => return Err(format!("line {}: unbalanced quotes", n + 1)),
        }
    }
    Ok(words)
}

/// The part of a line before a `#` that starts a word outside quotes.
fn strip_comment(line: &[u8]) -> &[u8] {
    let (mut single, mut double, mut escaped) = (false, false, false);
    let mut prev_space = true;
    for (i, &c) in line.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if c == b'\\' && !single {
            escaped = true;
        } else if c == b'\'' && !double {
            single = !single;
        } else if c == b'"' && !single {
            double = !double;
        } else if c == b'#' && !single && !double && prev_space {
            return &line[..i];
        }
        prev_space = c.is_ascii_whitespace();
    }
    line
}

pub(crate) fn is_separator(s: &OsStr) -> bool {
    s == ":" || s == "|"
}

fn is_special(s: &OsStr) -> bool {
    is_separator(s) || s == "{" || s == "}"
}

/// Whether `word` is an option of `cmd` that takes its value in the next word.
pub(crate) fn takes_value(cmd: &clap::Command, word: &OsStr) -> bool {
    // Options are ASCII: a word that is not UTF-8 is a value.
    let Some(word) = word.to_str() else {
        return false;
    };
    // An option whose value must be attached (`--color=always`) takes no next word.
    let wants = |a: &clap::Arg| a.get_action().takes_values() && !a.is_require_equals_set();
    if let Some(long) = word.strip_prefix("--") {
        if long.is_empty() || long.contains('=') {
            return false;
        }
        return cmd.get_arguments().any(|a| {
            wants(a)
                && (a.get_long() == Some(long)
                    || a.get_all_aliases().is_some_and(|v| v.contains(&long)))
        });
    }
    if let Some(shorts) = word.strip_prefix('-') {
        // In a cluster like `-ie`, the value-taking flag is the last letter, and only if no
        // earlier letter already took the rest of the word as its value.
        for (i, c) in shorts.char_indices() {
            if let Some(a) = cmd.get_arguments().find(|a| a.get_short() == Some(c)) {
                if wants(a) {
                    return i + c.len_utf8() == shorts.len();
                }
            } else {
                return false;
            }
        }
    }
    false
}

/// The deepest nesting of `{ branch }` a pipeline may have. Every walk over the tree
/// (parse, check, build, `--explain`, `--stats`, dropping it) recurses once per level, so
/// this bound (with [`MAX_STAGES`]) is what keeps any input from overflowing the stack.
pub const MAX_DEPTH: usize = 64;

/// The most stages a pipeline may have, branches included (implicit ones not counted). An
/// item is pushed from stage to stage by nested calls, so this bounds the stack a run uses.
pub const MAX_STAGES: usize = 512;

struct Parser<'w> {
    words: &'w [OsString],
    pos: usize,
    /// Stages parsed so far.
    stages: usize,
}

/// Parse the words of a whole pipeline. Adds the implicit stdin source and print sink.
pub fn parse(words: &[OsString]) -> Result<Pipeline, SyntaxError> {
    if words.is_empty() {
        return Err(SyntaxError::new(
            "empty pipeline: give at least one stage (try `copipe --help`)",
            None,
        ));
    }
    let mut p = Parser {
        words,
        pos: 0,
        stages: 0,
    };
    let mut pipeline = p.pipeline(0)?;
    if p.pos < words.len() {
        return Err(SyntaxError::new(
            "unbalanced braces: this `}` closes no `{`",
            Some(p.pos),
        ));
    }
    complete(&mut pipeline, true)?;
    Ok(pipeline)
}

impl<'w> Parser<'w> {
    /// The word at `i` as text (`None` past the end; a word that is not UTF-8 is never
    /// special, and reads as U+FFFD here).
    fn text(&self, i: usize) -> Option<&'w str> {
        self.words.get(i).map(|w| w.to_str().unwrap_or("\u{FFFD}"))
    }

    fn word(&self, i: usize) -> Word {
        Word {
            text: self.words[i].clone(),
            index: i,
        }
    }

    fn pipeline(&mut self, depth: usize) -> Result<Pipeline, SyntaxError> {
        let mut calls = Vec::new();
        loop {
            calls.push(self.call(depth)?);
            match self.text(self.pos) {
                None => break,
                Some("}") => break,
                Some(s) if is_separator(s.as_ref()) => {
                    self.pos += 1;
                    match self.text(self.pos) {
                        None => {
                            return Err(SyntaxError::new(
                                format!("`{s}` must be followed by a stage"),
                                Some(self.pos - 1),
                            ));
                        }
                        Some("}") => {
                            return Err(SyntaxError::new(
                                format!("`{s}` must be followed by a stage, not `}}`"),
                                Some(self.pos - 1),
                            ));
                        }
                        _ => {}
                    }
                }
                Some(_) => unreachable!("call() stops only at a separator or a brace"),
            }
        }
        Ok(Pipeline { calls })
    }

    fn call(&mut self, depth: usize) -> Result<Call, SyntaxError> {
        let at = self.pos;
        let name = match self.text(at) {
            None => return Err(SyntaxError::new("expected a stage name", None)),
            Some(w) if is_special(w.as_ref()) => {
                return Err(SyntaxError::new(
                    format!("expected a stage name, found `{w}`"),
                    Some(at),
                ));
            }
            Some(w) => w,
        };
        self.stages += 1;
        if self.stages > MAX_STAGES {
            return Err(SyntaxError::new(
                format!("too many stages: a pipeline has at most {MAX_STAGES}"),
                Some(at),
            ));
        }
        let def = registry::find(name).ok_or_else(|| {
            let hint = match registry::suggest(name) {
                Some(s) => format!(" (did you mean `{s}`?)"),
                None => " (`copipe help stages` lists them)".into(),
            };
            let name = show(&self.words[at]);
            SyntaxError::new(format!("unknown stage `{name}`{hint}"), Some(at))
        })?;
        self.pos += 1;
        let cmd = (def.command)();
        let mut args = Vec::new();
        let mut branches = Vec::new();
        while let Some(w) = self.words.get(self.pos) {
            let value_of_flag = args
                .last()
                .is_some_and(|prev: &Word| takes_value(&cmd, &prev.text));
            if value_of_flag || !is_special(w) {
                args.push(self.word(self.pos));
                self.pos += 1;
                continue;
            }
            if w.as_os_str() != "{" {
                break;
            }
            if !registry::takes_branches(def) {
                return Err(SyntaxError::new(
                    format!(
                        "`{}` takes no {{ branch }}: only tee, broadcast and merge do (write `-e {{` for a literal brace)",
                        def.name
                    ),
                    Some(self.pos),
                ));
            }
            let open = self.pos;
            if depth >= MAX_DEPTH {
                return Err(SyntaxError::new(
                    format!("branches nested too deeply: at most {MAX_DEPTH} levels of {{ … }}"),
                    Some(open),
                ));
            }
            self.pos += 1;
            if self.text(self.pos) == Some("}") {
                return Err(SyntaxError::new("empty branch `{ }`", Some(open)));
            }
            let branch = self.pipeline(depth + 1)?;
            if self.text(self.pos) != Some("}") {
                return Err(SyntaxError::new(
                    "unbalanced braces: this `{` is never closed",
                    Some(open),
                ));
            }
            self.pos += 1;
            branches.push(branch);
        }
        if registry::takes_branches(def) && branches.is_empty() {
            return Err(SyntaxError::new(
                format!(
                    "`{}` needs at least one {{ branch }}, e.g. `{} {{ count }}`",
                    def.name, def.name
                ),
                Some(at),
            ));
        }
        let matches = parse_args(def, &cmd, &args, at)?;
        Ok(Call {
            def,
            name: Some(self.word(at)),
            args,
            branches,
            matches,
            input: None,
        })
    }
}

/// Parse a stage's own arguments with its clap definition.
fn parse_args(
    def: &StageDef,
    cmd: &clap::Command,
    args: &[Word],
    at: usize,
) -> Result<ArgMatches, SyntaxError> {
    let argv = std::iter::once(OsString::from(def.name)).chain(args.iter().map(|w| w.text.clone()));
    // grep's `-NUM` (`-2` for `-C 2`), which clap cannot take.
    let argv: Vec<OsString> = if def.name == crate::stage::grep::DEF.name {
        crate::stage::grep::context_shorthand(argv.collect())
    } else {
        argv.collect()
    };
    cmd.clone().try_get_matches_from(argv).map_err(|e| {
        use clap::error::ErrorKind;
        let help = matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion);
        let text = e.render().to_string();
        // Point at the argument clap complains about when we can find it.
        let culprit = e
            .get(clap::error::ContextKind::InvalidArg)
            .and_then(|v| match v {
                clap::error::ContextValue::String(s) => Some(s.clone()),
                _ => None,
            });
        let bad_value = e
            .get(clap::error::ContextKind::InvalidValue)
            .and_then(|v| match v {
                clap::error::ContextValue::String(s) if !s.is_empty() => Some(s.clone()),
                _ => None,
            });
        let word = bad_value
            .and_then(|v| {
                args.iter()
                    .find(|w| {
                        let t = w.text.to_string_lossy();
                        t == v || t.ends_with(&format!("={v}"))
                    })
                    .map(|w| w.index)
            })
            .or_else(|| {
                culprit.as_ref().and_then(|c| {
                    let flag = c.split([' ', '=']).next().unwrap_or("").to_string();
                    args.iter()
                        .find(|w| {
                            let t = w.text.to_string_lossy();
                            t == flag || (flag.starts_with('-') && t.starts_with(&flag))
                        })
                        .map(|w| w.index)
                })
            })
            .unwrap_or(at);
        if help {
            SyntaxError {
                message: def.help_text(),
                at: None,
                help: true,
            }
        } else {
            let first = text
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ")
                .to_string();
            let rest: Vec<&str> = text
                .lines()
                .skip(1)
                .filter(|l| !l.trim().is_empty())
                .collect();
            let mut message = format!("{}: {first}", def.name);
            // An unknown option: what works in copipe (`head -n 5` → `head 5`) rather than
            // clap's "use '-- -n'", which is right only where the argument is a pattern.
            let ours = (e.kind() == ErrorKind::UnknownArgument)
                .then(|| {
                    let flag = culprit.as_deref()?.split(' ').next()?;
                    let words: Vec<String> = args
                        .iter()
                        .map(|w| w.text.to_string_lossy().into_owned())
                        .collect();
                    // The word clap complains about, else an option of another tool before
                    // it, taken as a value (`replace -E a b`: `b` is the one too many).
                    super::tips::tip(def.name, flag, &words).or_else(|| {
                        words
                            .iter()
                            .filter(|w| w.starts_with('-'))
                            .find_map(|w| super::tips::tip(def.name, w, &words))
                    })
                })
                .flatten();
            let keep_dash = ours.is_none() && super::tips::keeps_dash_tip(def.name);
            if let Some(t) = &ours {
                message.push_str(&format!("\n  tip: {t}"));
            }
            for l in rest {
                if l.trim_start().starts_with("tip: to pass") && !keep_dash {
                    continue;
                }
                if l.starts_with("For more information") {
                    message.push_str(&format!("\n  (`copipe help {}` explains it)", def.name));
                } else {
                    message.push_str(&format!("\n  {l}"));
                }
            }
            SyntaxError::new(message, Some(word))
        }
    })
}

/// Build a call for an implicit stage (no words of its own).
pub fn implicit(name: &str) -> Call {
    let def = registry::find(name).expect("implicit stages exist");
    let matches = (def.command)()
        .try_get_matches_from([name])
        .expect("implicit stage takes no arguments");
    Call {
        def,
        name: None,
        args: Vec::new(),
        branches: Vec::new(),
        matches,
        input: None,
    }
}

/// Add the implicit source (top level only) and sink, and check roles are in place.
fn complete(p: &mut Pipeline, top: bool) -> Result<(), SyntaxError> {
    let first = &p.calls[0];
    if first.def.role == Role::Source {
        if !top {
            return Err(SyntaxError::new(
                format!(
                    "`{}` is a source: a branch receives its items from the fan-out, it cannot start with a source",
                    first.def.name
                ),
                first.word_index(),
            ));
        }
    } else if top {
        p.calls.insert(0, implicit("cat"));
    }
    let n = p.calls.len();
    for (i, c) in p.calls.iter().enumerate() {
        if i > 0 && c.def.role == Role::Source {
            return Err(SyntaxError::new(
                format!(
                    "`{}` is a source: it can only be the first stage",
                    c.def.name
                ),
                c.word_index(),
            ));
        }
        let terminal = c.def.role == Role::Sink
            || (c.def.role == Role::FanOut && c.def.emits == Emits::Nothing);
        if terminal && i + 1 < n {
            return Err(SyntaxError::new(
                format!(
                    "`{}` ends a pipeline: nothing can follow it (use `tee` to go on after a branch)",
                    c.def.name
                ),
                p.calls[i + 1].word_index(),
            ));
        }
    }
    for c in &mut p.calls {
        if c.def.fans_in() {
            for b in &c.branches {
                merge_branch(b)?;
            }
            continue;
        }
        for b in &mut c.branches {
            complete(b, false)?;
        }
    }
    let last = p.calls.last().expect("a pipeline has a stage");
    let terminal = last.def.role == Role::Sink
        || (last.def.role == Role::FanOut && last.def.emits == Emits::Nothing);
    if !terminal {
        p.calls.push(implicit("print"));
    }
    Ok(())
}

/// A branch of `merge`: a source (not another merge), then filters; no sink, no fan-out.
fn merge_branch(b: &Pipeline) -> Result<(), SyntaxError> {
    let first = &b.calls[0];
    if first.def.role != Role::Source || first.def.fans_in() {
        return Err(SyntaxError::new(
            format!(
                "a branch of `merge` starts with a source (cat, follow, xml, range, listen), not `{}`",
                first.def.name
            ),
            first.word_index(),
        ));
    }
    for c in &b.calls[1..] {
        if c.def.role != Role::Filter {
            return Err(SyntaxError::new(
                format!(
                    "`{}` cannot be in a branch of `merge`: a branch is a source and filters; put it after the merge",
                    c.def.name
                ),
                c.word_index(),
            ));
        }
    }
    Ok(())
}

/// The words shown in an error message, one line, with the column each word starts at.
pub fn render_words<W: AsRef<OsStr>>(words: &[W]) -> (String, Vec<usize>) {
    let mut line = String::new();
    let mut cols = Vec::with_capacity(words.len());
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        cols.push(line.chars().count());
        line.push_str(&show(w.as_ref()));
    }
    (line, cols)
}

/// How many characters of the pipeline an error shows on each side of the word it points
/// at; a longer pipeline is cut, with `…` where words are left out.
const CONTEXT: usize = 60;

/// A word as it is shown in an error message or a label, on one line: quoted if the shell
/// would need it, and as bash's `$'…'` with escapes (`\n`, `\xHH`) if it is not UTF-8 or
/// holds a control character (so it can be pasted back into a shell).
pub fn show(w: &OsStr) -> String {
    match w.to_str() {
        Some(text) if !text.chars().any(char::is_control) => {
            if is_special(w) {
                text.to_string()
            } else {
                shlex::try_quote(text)
                    .map(|c| c.into_owned())
                    .unwrap_or_else(|_| text.to_string())
            }
        }
        _ => {
            let mut s = String::from("$'");
            for chunk in w.as_bytes().utf8_chunks() {
                for c in chunk.valid().chars() {
                    match c {
                        '\'' | '\\' => {
                            s.push('\\');
                            s.push(c);
                        }
                        '\n' => s.push_str("\\n"),
                        '\t' => s.push_str("\\t"),
                        '\r' => s.push_str("\\r"),
                        c if c.is_ascii_control() => s.push_str(&format!("\\x{:02x}", c as u32)),
                        c if c.is_control() => s.push_str(&format!("\\u{:04x}", c as u32)),
                        c => s.push(c),
                    }
                }
                for b in chunk.invalid() {
                    s.push_str(&format!("\\x{b:02x}"));
                }
            }
            s.push('\'');
            s
        }
    }
}

/// Format an error with the pipeline and a caret under the word it is about. Only the words
/// around that one are shown when the pipeline is long.
pub fn pointed(err: &SyntaxError, words: &[OsString]) -> String {
    let target = err.at.filter(|&i| i < words.len());
    let n = words.len();
    // The window of words [lo, hi) to show: the target (or the end) and its neighbours.
    let centre = target.unwrap_or(n);
    let width = |i: usize| show(&words[i]).chars().count() + 1;
    let (mut lo, mut hi) = (centre, (centre + 1).min(n));
    let mut left = 0;
    while lo > 0 && left + width(lo - 1) <= CONTEXT {
        lo -= 1;
        left += width(lo);
    }
    let mut right = 0;
    while hi < n && right + width(hi) <= CONTEXT {
        right += width(hi);
        hi += 1;
    }
    let mut line = String::new();
    if lo > 0 {
        line.push('…');
    }
    let (mut col, mut caret) = (0, 1);
    for (i, w) in words.iter().enumerate().take(hi).skip(lo) {
        if !line.is_empty() {
            line.push(' ');
        }
        let text = show(w);
        if Some(i) == target {
            col = line.chars().count();
            caret = text.chars().count().max(1);
        }
        line.push_str(&text);
    }
    if hi < n {
        line.push_str(" …");
    }
    if target.is_none() {
        col = line.chars().count() + 1;
    }
    format!(
        "{}\n  {line}\n  {}{}",
        err.message,
        " ".repeat(col),
        "^".repeat(caret)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<OsString> {
        split_text(s).unwrap()
    }

    fn names(p: &Pipeline) -> Vec<String> {
        p.calls
            .iter()
            .map(|c| {
                let mut s = c.def.name.to_string();
                for b in &c.branches {
                    s.push_str(&format!("{{{}}}", names(b).join(",")));
                }
                s
            })
            .collect()
    }

    #[test]
    fn implicit_source_and_sink() {
        let p = parse(&words("grep ion")).unwrap();
        assert_eq!(names(&p), ["cat", "grep", "print"]);
        assert!(p.calls[0].name.is_none());
        let p = parse(&words("cat f : count")).unwrap();
        assert_eq!(names(&p), ["cat", "count"]);
    }

    #[test]
    fn both_separators_and_nested_branches() {
        let p = parse(&words(
            "cat f | tee { grep a : tee { count } : write x } { head 1 } : count",
        ))
        .unwrap();
        assert_eq!(
            names(&p),
            ["cat", "tee{grep,tee{count},write}{head,print}", "count"]
        );
    }

    #[test]
    fn separator_as_option_value() {
        let p = parse(&words("grep -e : -e '|' -v : count")).unwrap();
        assert_eq!(names(&p), ["cat", "grep", "count"]);
        let args: Vec<&str> = p.calls[1]
            .args
            .iter()
            .map(|w| w.text.to_str().unwrap())
            .collect();
        assert_eq!(args, ["-e", ":", "-e", "|", "-v"]);
    }

    #[test]
    fn comments_in_files() {
        let w = words(
            "cat f # the input\n# a whole comment line\n: grep 'a # not a comment' : count\n",
        );
        assert_eq!(
            w,
            ["cat", "f", ":", "grep", "a # not a comment", ":", "count"]
        );
        assert_eq!(words("grep a#b"), ["grep", "a#b"]);
    }

    #[test]
    fn errors_point_at_the_word() {
        let err = |s: &str| parse(&words(s)).err().expect("should fail");
        let e = err("cat f : gerp ion");
        assert!(e.message.contains("did you mean `grep`"), "{}", e.message);
        assert_eq!(e.at, Some(3));
        assert_eq!(err("cat f : tee { count").at, Some(4));
        assert_eq!(err("cat f : count }").at, Some(4));
        assert_eq!(err("cat f : count : grep x").at, Some(5));
        assert_eq!(err("cat f : head").at, Some(3));
        assert_eq!(err("cat f : head x").at, Some(4));
        assert_eq!(err("cat f : tee").at, Some(3));
        assert_eq!(err("cat f :").at, Some(2));
        assert_eq!(err("grep a : cat f").at, Some(3));
        assert!(err("tee { cat f }").message.contains("source"));
        assert!(err("grep { x }").message.contains("takes no"));
    }

    #[test]
    fn caret_rendering() {
        let w = words("cat f : gerp ion");
        let e = parse(&w).err().unwrap();
        let text = pointed(&e, &w);
        assert!(
            text.ends_with("  cat f : gerp ion\n          ^^^^"),
            "{text}"
        );
    }

    fn nested(levels: usize) -> Vec<OsString> {
        let mut w = words("range 1 3 :");
        for _ in 0..levels {
            w.extend(words("tee {"));
        }
        w.push("count".into());
        w.extend(std::iter::repeat_n("}".into(), levels));
        w
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_refused_at_its_brace() {
        assert!(parse(&nested(MAX_DEPTH)).is_ok());
        for levels in [MAX_DEPTH + 1, 100_000] {
            let e = parse(&nested(levels)).err().expect("too deep");
            assert!(e.message.contains("nested too deeply"), "{}", e.message);
            // The `{` that opens level MAX_DEPTH + 1: words `range 1 3 :` then `tee {` pairs.
            assert_eq!(e.at, Some(4 + 2 * MAX_DEPTH + 1));
        }
    }

    #[test]
    fn more_stages_than_the_limit_are_refused_at_the_first_extra_one() {
        let chain = |n: usize| {
            let mut w = words("range 1 3");
            for _ in 1..n {
                w.extend(words(": count"));
            }
            w
        };
        // `count` ends a pipeline, so the chain is long but ill-formed; only the limit
        // must be reported for one stage too many.
        let e = parse(&chain(MAX_STAGES + 1)).err().unwrap();
        assert!(e.message.contains("too many stages"), "{}", e.message);
        assert_eq!(e.at, Some(2 * (MAX_STAGES + 1)));
        let e = parse(&chain(MAX_STAGES)).err().unwrap();
        assert!(e.message.contains("ends a pipeline"), "{}", e.message);
    }

    #[test]
    fn long_pipelines_are_shown_around_the_error() {
        let mut w = words("range 1 3");
        for _ in 0..200 {
            w.extend(words(": grep x"));
        }
        w.extend(words(": gerp y : count"));
        let e = parse(&w).err().unwrap();
        let text = pointed(&e, &w);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[1].starts_with("  … "), "{text}");
        assert!(lines[1].ends_with(": gerp y : count"), "{text}");
        let col = lines[2].find('^').unwrap();
        let under: String = lines[1].chars().skip(col).take(4).collect();
        assert_eq!(under, "gerp", "{text}");
        assert!(lines[1].chars().count() < 2 * CONTEXT + 20, "{text}");
    }

    #[test]
    fn words_with_control_characters_are_shown_on_one_line() {
        let w = vec![
            OsString::from("tee"),
            OsString::from("{"),
            OsString::from("cat"),
            OsString::from("a\nb\t'\u{1b}"),
            OsString::from("}"),
        ];
        let e = parse(&w).err().unwrap();
        let text = pointed(&e, &w);
        assert!(
            text.ends_with("\n  tee { cat $'a\\nb\\t\\'\\x1b' }\n        ^^^"),
            "{text}"
        );
    }
}
