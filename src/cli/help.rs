//! `copipe help`, `copipe help stages`, `copipe help STAGE`, and the man page — all made
//! from the definitions the parser uses ([`crate::pipeline::registry`] and [`super::Cli`]),
//! so help and behaviour cannot drift apart.

use std::io::Write;

use anyhow::Result;

use clap::CommandFactory;

use super::Cli;
use super::exit_codes::ExitCode;
use crate::pipeline::registry;
use crate::protocol::def::Role;

/// The roles in the order help lists them, with their headings.
pub const ROLES: [(Role, &str); 4] = [
    (
        Role::Source,
        "Sources (pulled generators or scheduler tasks, first in a pipeline)",
    ),
    (Role::Filter, "Filters (pushed coroutines)"),
    (Role::FanOut, "Fan-out (every item to each { branch })"),
    (Role::Sink, "Sinks (end a pipeline)"),
];

/// `copipe help [stages|STAGE]`.
pub fn help(args: &[String]) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match args.first().map(String::as_str) {
        None => write!(out, "{}", Cli::command().render_long_help())?,
        Some("stages") => write!(out, "{}", stages_text())?,
        Some(name) => match registry::find(name) {
            Some(def) => write!(out, "{}", def.help_text())?,
            None => {
                let hint = registry::suggest(name)
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                crate::say!(
                    "copipe: unknown stage `{name}`{hint}; `copipe help stages` lists them"
                );
                return Ok(ExitCode::Error);
            }
        },
    }
    out.flush()?;
    Ok(ExitCode::Success)
}

/// The list of stages by role.
pub fn stages_text() -> String {
    let mut s = String::new();
    for (role, title) in ROLES {
        s.push_str(title);
        s.push_str(":\n");
        for d in registry::all().iter().filter(|d| d.role == role) {
            s.push_str(&format!("  {:<10} {}\n", d.name, d.summary));
        }
        s.push('\n');
    }
    s.push_str("`copipe help STAGE` explains one.\n");
    s
}

/// The examples of the man page's EXAMPLES section: a command and what it does.
pub const EXAMPLES: &[(&str, &str)] = &[
    (
        "copipe cat app.log : grep -i error : head 5",
        "The first five lines of app.log that mention an error, in any case.",
    ),
    (
        "copipe 'cat app.log | grep -i error | count'",
        "The same pipeline as one argument (`|` separates stages too); prints the number of matching lines.",
    ),
    (
        "copipe follow /var/log/app.log : grep -i error",
        "Like `tail -F app.log | grep -i error`: follows the file across rotations and truncations.",
    ),
    (
        "copipe cat words.txt : grep 'ion$' : tee { grep ^con : write con.txt } : count",
        "Counts the words ending in `ion`, and appends those that start with `con` to con.txt on the way.",
    ),
    (
        "copipe cat app.log : broadcast { grep ERROR : write errors.log } { grep WARN : count }",
        "One pass over the log: errors go to a file, warnings are counted.",
    ),
    (
        "copipe xml allroutes.xml : records bus : where route=22 : fmt '{id},{latitude},{longitude}'",
        "Turns each <bus> element of an XML feed into a record, keeps route 22, and prints CSV.",
    ),
    (
        "curl -s \"$FEED\" | copipe xml - : records bus | jq .route",
        "Records print as NDJSON, ready for jq.",
    ),
    (
        "copipe range 1 1000000000000 : grep 7 : head 3",
        "`head` stops the source: this ends at once.",
    ),
    (
        "copipe cat access.log : grep ' 404 ' : exec 'sort | uniq -c | sort -rn'",
        "Feeds the matching lines to a shell pipeline.",
    ),
    (
        "copipe -f nightly.copipe",
        "Runs the pipeline kept in a file (`#` starts a comment).",
    ),
    (
        "copipe --explain cat app.log : tee { grep x : count } : head 1",
        "Shows the pipeline as a tree with the item kind on every edge, without running it.",
    ),
];

/// The man page, `man/copipe.1`: clap's sections for the global options, then the grammar,
/// every stage (from the catalogue), examples, exit status and environment.
pub fn man_page() -> String {
    use roff::{Roff, bold, italic, roman};

    let cmd = Cli::command().long_about(
        "copipe runs a streaming pipeline in one process: a source that is pulled (files, \
         standard input, a followed log, an XML feed parsed as SAX events), then stages that \
         are coroutines pushed one item at a time (grep, head, field filters, XML-to-JSON \
         records, ...), fan-out branches (tee, broadcast) and sinks (standard output, files, \
         counts, a child process).",
    );
    let man = clap_mangen::Man::new(cmd.clone()).date("");
    let mut out = Vec::new();
    type Section = fn(&clap_mangen::Man, &mut dyn Write) -> std::io::Result<()>;
    let sections: [Section; 5] = [
        clap_mangen::Man::render_title,
        clap_mangen::Man::render_name_section,
        clap_mangen::Man::render_synopsis_section,
        clap_mangen::Man::render_description_section,
        clap_mangen::Man::render_options_section,
    ];
    for render in sections {
        render(&man, &mut out).expect("writing to a Vec cannot fail");
    }

    let mut r = Roff::new();
    r.control("SH", ["PIPELINES"]);
    for para in [
        "A pipeline is one source followed by stages, separated by a standalone : or | (both \
         mean the same; | must be quoted in the shell). The whole pipeline may also be one \
         quoted argument, or a file given with -f, split with shell-like quoting; # starts a \
         comment.",
        "A branch is a pipeline in braces, { stage : stage }, given to tee or broadcast; \
         branches nest. A literal :, |, { or } is written as an option's value (grep -e :).",
        "If the first stage is not a source, the source is standard input. If the last stage \
         is not a sink, print is added.",
        "Items are lines (bytes, never required to be UTF-8), XML events, or records (JSON \
         objects). Every stage declares the kinds it accepts and emits, and the pipeline is \
         checked before any input is read; --explain shows the kind on every edge.",
    ] {
        r.control("PP", []).text([roman(para)]);
    }

    r.control("SH", ["STAGES"]);
    for (role, title) in ROLES {
        r.control("SS", [title]);
        for def in registry::all().iter().filter(|d| d.role == role) {
            let mut sub = (def.command)();
            let usage = sub.render_usage().to_string();
            let usage = usage.trim_start_matches("Usage: ").trim().to_string();
            r.control("TP", []).text([bold(usage)]);
            let about = sub
                .get_long_about()
                .or_else(|| sub.get_about())
                .map(|a| a.to_string())
                .unwrap_or_else(|| def.summary.to_string());
            for (i, para) in about.split("\n\n").enumerate() {
                if i > 0 {
                    r.control("IP", []);
                }
                r.text([roman(para.replace('\n', " "))]);
            }
            r.control("IP", []).text([
                italic("Accepts"),
                roman(format!(" {}; ", def.accepts_text())),
                italic("emits"),
                roman(format!(" {}.", def.emits_text())),
            ]);
            if !def.aliases.is_empty() {
                r.control("IP", []).text([
                    italic("Aliases:"),
                    roman(format!(" {}.", def.aliases.join(", "))),
                ]);
            }
            let args: Vec<&clap::Arg> = sub
                .get_arguments()
                .filter(|a| !a.is_hide_set() && a.get_id() != "help")
                .collect();
            if !args.is_empty() {
                r.control("RS", []);
                for a in args {
                    r.control("TP", []).text([bold(arg_synopsis(a))]);
                    let help = a
                        .get_long_help()
                        .or_else(|| a.get_help())
                        .map(|h| h.to_string())
                        .unwrap_or_default();
                    r.text([roman(help.replace('\n', " "))]);
                }
                r.control("RE", []);
            }
            for e in def.examples {
                r.control("IP", []).text([roman("Example: "), bold(*e)]);
            }
        }
    }

    r.control("SH", ["EXAMPLES"]);
    for (cmdline, what) in EXAMPLES {
        r.control("TP", [])
            .text([bold(*cmdline)])
            .text([roman(*what)]);
    }

    r.control("SH", ["EXIT STATUS"]);
    r.text([roman(
        "0 if at least one item reached a sink, 1 if none did, 2 on an error (a bad pipeline, \
         an unreadable file, malformed input, a write error). After Ctrl-C the output is \
         flushed and the status is 130. A closed output pipe ends copipe quietly with 0.",
    )]);
    r.control("SH", ["ENVIRONMENT"]);
    r.control("TP", []).text([bold("NO_COLOR")]).text([roman(
        "When set to a non-empty value, --color=auto does not colour (--color=always still does).",
    )]);
    r.control("SH", ["SEE ALSO"]);
    r.text([roman(
        "grep(1), tail(1), tee(1), jq(1), rg(1). copipe help STAGE shows the same stage help as this page.",
    )]);
    r.control("SH", ["VERSION"]);
    r.text([roman(format!("v{}", env!("CARGO_PKG_VERSION")))]);
    r.to_writer(&mut out).expect("writing to a Vec cannot fail");

    // Each rendered part starts with roff's apostrophe preamble: keep only the first.
    let text = String::from_utf8(out).expect("roff output is UTF-8");
    let preamble = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";
    let mut parts = text.split(preamble);
    let mut page = parts.next().unwrap_or_default().to_string();
    page.push_str(preamble);
    for p in parts {
        page.push_str(p);
    }
    // Plain ASCII, whatever the troff: other characters as groff's `\[uXXXX]` escapes.
    let mut ascii = String::with_capacity(page.len());
    for c in page.chars() {
        if c.is_ascii() {
            ascii.push(c);
        } else {
            ascii.push_str(&format!("\\[u{:04X}]", c as u32));
        }
    }
    ascii
}

/// `-e, --regexp <PATTERN>` for one option or argument of a stage.
fn arg_synopsis(a: &clap::Arg) -> String {
    let value = a
        .get_value_names()
        .map(|v| {
            v.iter()
                .map(|n| format!("<{n}>"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| format!("<{}>", a.get_id().as_str().to_uppercase()));
    let takes = a.get_action().takes_values();
    if a.is_positional() {
        return value;
    }
    let mut s = String::new();
    if let Some(c) = a.get_short() {
        s.push_str(&format!("-{c}"));
    }
    if let Some(l) = a.get_long() {
        if !s.is_empty() {
            s.push_str(", ");
        }
        s.push_str(&format!("--{l}"));
    }
    if takes {
        s.push(' ');
        s.push_str(&value);
    }
    s
}
