//! `replace PATTERN REPLACEMENT` — regex substitution on each line (every match; `$1` and
//! `${name}` refer to groups, `$$` is a dollar sign).
//!
//! Accepts lines; emits lines. Lines are bytes; with `--crlf` a trailing `\r` is kept out of
//! the substitution and put back. Lines with no match pass through without a copy.

use anyhow::{Context, Result};
use clap::{ArgMatches, FromArgMatches, Parser};
use regex::bytes::{Regex, RegexBuilder};

use crate::item::{Item, Kind, map_lines};
use crate::protocol::def::{Build, BuildCx, Emits, Role, StageDef};
use crate::protocol::{Flow, Stage};

/// Replace every match of PATTERN in each line by REPLACEMENT ($1, ${name} for groups).
#[derive(Parser)]
#[command(name = "replace", disable_version_flag = true)]
pub struct Args {
    /// The regular expression to replace.
    #[arg(allow_hyphen_values = true)]
    pub pattern: String,
    /// The replacement; `$1` or `${name}` insert a group, `$$` a dollar sign.
    #[arg(allow_hyphen_values = true)]
    pub replacement: String,
    /// Ignore case.
    #[arg(short = 'i', long)]
    pub ignore_case: bool,
    /// Replace only the first match of each line.
    #[arg(long)]
    pub first: bool,
    /// PATTERN is a fixed string, and REPLACEMENT is taken literally.
    #[arg(short = 'F', long)]
    pub fixed_strings: bool,
}

pub const DEF: StageDef = StageDef {
    name: "replace",
    aliases: &["sub"],
    role: Role::Filter,
    summary: "regex substitution on lines ($1 for groups)",
    accepts: &[Kind::Line],
    emits: Emits::Same,
    examples: &[r"copipe cat app.log : replace '(\d+)ms' '${1} ms'"],
    command: <Args as clap::CommandFactory>::command,
    fusion: None,
    build: Build::Filter(build),
};

fn build(m: &ArgMatches, cx: &BuildCx<'_>, next: Box<dyn Stage>) -> Result<Box<dyn Stage>> {
    let a = Args::from_arg_matches(m)?;
    let pat = if a.fixed_strings {
        regex::escape(&a.pattern)
    } else {
        a.pattern.clone()
    };
    let re = RegexBuilder::new(&pat)
        .case_insensitive(a.ignore_case)
        .build()
        .with_context(|| format!("bad pattern {:?}", a.pattern))?;
    // The same pattern with `^`/`$` at line ends, to skip batches with no match at all.
    let batch_re = RegexBuilder::new(&pat)
        .case_insensitive(a.ignore_case)
        .multi_line(true)
        .crlf(cx.opts.crlf)
        .build()?;
    let replacement = if a.fixed_strings {
        a.replacement.replace('$', "$$")
    } else {
        a.replacement
    };
    Ok(Box::new(Replace {
        rw: Rewriter {
            re,
            batch_re,
            replacement: replacement.into_bytes(),
            limit: if a.first { 1 } else { 0 },
            crlf: cx.opts.crlf,
        },
        buf: Vec::new(),
        next,
    }))
}

struct Replace {
    rw: Rewriter,
    buf: Vec<u8>,
    next: Box<dyn Stage>,
}

/// The substitution itself, apart from the stage's buffers.
struct Rewriter {
    re: Regex,
    /// `re` in multi-line mode: matches somewhere in a batch whenever `re` matches a line.
    batch_re: Regex,
    replacement: Vec<u8>,
    /// 0 = every match.
    limit: usize,
    crlf: bool,
}

impl Rewriter {
    /// Append the rewritten line to `buf`.
    fn rewrite(&self, line: &[u8], buf: &mut Vec<u8>) {
        let (body, cr): (&[u8], &[u8]) = match line.split_last() {
            Some((b'\r', rest)) if self.crlf => (rest, b"\r"),
            _ => (line, b""),
        };
        let mut last = 0;
        for (i, caps) in self.re.captures_iter(body).enumerate() {
            if self.limit > 0 && i == self.limit {
                break;
            }
            let m = caps.get(0).expect("group 0 always matches");
            buf.extend_from_slice(&body[last..m.start()]);
            caps.expand(&self.replacement, buf);
            last = m.end();
        }
        buf.extend_from_slice(&body[last..]);
        buf.extend_from_slice(cr);
    }
}

impl Stage for Replace {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        let Item::Line(l) = item else {
            return self.next.send(item);
        };
        if !self.rw.re.is_match(l) {
            return self.next.send(item);
        }
        self.buf.clear();
        self.rw.rewrite(l, &mut self.buf);
        self.next.send(Item::Line(&self.buf))
    }

    fn send_lines(&mut self, batch: &[u8]) -> Result<Flow> {
        if !self.rw.batch_re.is_match(batch) {
            return self.next.send_lines(batch);
        }
        map_lines(batch, &mut self.buf, |l, out| self.rw.rewrite(l, out));
        self.next.send_lines(&self.buf)
    }

    crate::pass_on!(origin, flush, close);
}
