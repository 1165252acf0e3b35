//! The generated documentation: the man page is in step with the code, and renders cleanly.
//! `COPIPE_BLESS=1 cargo test --test it docs::` rewrites `man/copipe.1` after a change.

use crate::common;

use std::path::Path;
use std::process::Command;

fn man_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("man/copipe.1")
}

#[test]
fn man_page_is_up_to_date() {
    let fresh = copipe::cli::help::man_page();
    let path = man_path();
    if std::env::var_os("COPIPE_BLESS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "man/copipe.1 is stale: run `COPIPE_BLESS=1 cargo test --test it docs::` and commit it"
    );
}

#[test]
fn man_page_has_every_stage_and_renders_without_warnings() {
    let page = copipe::cli::help::man_page();
    for section in [
        "NAME",
        "SYNOPSIS",
        "OPTIONS",
        "PIPELINES",
        "STAGES",
        "EXAMPLES",
        "EXIT STATUS",
    ] {
        assert!(
            page.contains(&format!(".SH {section}"))
                || page.contains(&format!(".SH \"{section}\"")),
            "no {section} section"
        );
    }
    for def in copipe::pipeline::registry::all() {
        assert!(
            page.contains(&format!("\\fB{}", def.name)),
            "stage {} missing",
            def.name
        );
    }
    // groff is not needed by the build: check the rendering only where it is installed.
    let Ok(out) = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(man_path())
        .output()
    else {
        eprintln!("groff not installed: rendering not checked");
        return;
    };
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && warnings.trim().is_empty(),
        "groff warnings:\n{warnings}"
    );
}

// ---------------------------------------------------------------------------------------------
// The commands shown in README.md and docs/*.md.
//
// The convention (also written at the top of docs/README.md):
//
// - A fenced block whose info string is `console` is run. Each line starting with `$ ` is a
//   command (a line ending in `\` goes on to the next); the lines after it, up to the next
//   `$ ` or the end of the block, are what it prints: standard output and standard error
//   together, as a terminal would show them.
// - In the shown output, `[..]` stands for any text within a line (a time, a rate), and a
//   line `...` for any number of lines.
// - Each block runs in a fresh temporary directory holding `fixtures/` and `examples/` (links
//   to the repository's), with the built `copipe` first on `PATH`; `cargo run --release --`
//   stands for `copipe`. Commands of one block share the directory, in order, through
//   `sh -c`; nothing is written into the checkout.
// - A block that cannot run here (it needs a live server, a follow that waits for a writer, a
//   file not in the repository) is marked ```` ```console not-run: WHY ````, the reason
//   written out; every other block that shows a `$ ` command must be a `console` block.

/// One fenced `console` block of a markdown file.
struct Block {
    file: String,
    /// The line of the opening fence, from 1.
    line: usize,
    /// `Some(reason)` when the block is marked not-run.
    not_run: Option<String>,
    /// The block's lines with their line numbers, the fence's indentation removed.
    body: Vec<(usize, String)>,
}

/// The markdown files whose commands are run: the README and every page of docs/.
fn markdown_files() -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md"), root.join("bench/README.md")];
    let mut pages: Vec<_> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ holds the reference pages")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    pages.sort();
    files.extend(pages);
    files
}

fn rel(path: &Path) -> String {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Every fenced block of `text`; blocks that are not `console` are returned with
/// `not_run = Some("")` and an info string check left to the caller.
fn fenced_blocks(file: &str, text: &str) -> (Vec<Block>, Vec<String>) {
    let mut blocks = Vec::new();
    let mut problems = Vec::new();
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    while let Some((n, line)) = lines.next() {
        let trimmed = line.trim_start();
        let Some(info) = trimmed.strip_prefix("```") else {
            if line.starts_with("    $ ") || line.starts_with("\t$ ") {
                problems.push(format!(
                    "{file}:{n}: a `$ ` command in an indented block: put it in a ```console block"
                ));
            }
            continue;
        };
        let indent = line.len() - trimmed.len();
        let info = info.trim();
        let mut body = Vec::new();
        let mut closed = false;
        for (m, l) in lines.by_ref() {
            if l.trim_start().starts_with("```") {
                closed = true;
                break;
            }
            let cut = l.len() - l.trim_start().len();
            body.push((m, l[cut.min(indent)..].to_string()));
        }
        if !closed {
            problems.push(format!("{file}:{n}: a fenced block that is never closed"));
        }
        let has_command = body.iter().any(|(_, l)| l.starts_with("$ "));
        let (lang, rest) = info.split_once(char::is_whitespace).unwrap_or((info, ""));
        if lang != "console" {
            if has_command {
                problems.push(format!(
                    "{file}:{n}: a ```{lang} block shows `$ ` commands: make it ```console \
                     (run by the tests) or ```console not-run: WHY"
                ));
            }
            continue;
        }
        let rest = rest.trim();
        let not_run = if rest.is_empty() {
            None
        } else if let Some(why) = rest.strip_prefix("not-run:") {
            if why.trim().is_empty() {
                problems.push(format!("{file}:{n}: `not-run:` without its reason"));
            }
            Some(why.trim().to_string())
        } else {
            problems.push(format!(
                "{file}:{n}: unknown marks `{rest}` (only `not-run: WHY`)"
            ));
            continue;
        };
        if !has_command {
            problems.push(format!(
                "{file}:{n}: a ```console block without a `$ ` command"
            ));
        }
        blocks.push(Block {
            file: file.to_string(),
            line: n,
            not_run,
            body,
        });
    }
    (blocks, problems)
}

/// A command of a block and the output shown after it.
struct Step {
    line: usize,
    command: String,
    expected: Vec<String>,
}

fn steps(block: &Block) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut continued = false;
    for (n, l) in &block.body {
        if continued {
            let step = steps.last_mut().unwrap();
            step.command.push('\n');
            step.command.push_str(l);
            continued = l.ends_with('\\');
        } else if let Some(cmd) = l.strip_prefix("$ ") {
            steps.push(Step {
                line: *n,
                command: cmd.to_string(),
                expected: Vec::new(),
            });
            continued = cmd.ends_with('\\');
        } else if let Some(step) = steps.last_mut() {
            step.expected.push(l.clone());
        }
    }
    steps
}

/// Whether `got` matches the shown lines: `[..]` is any text within a line, a line `...` any
/// number of lines; spaces at the ends of lines are not compared (editors strip them).
fn lines_match(want: &[String], got: &[&str]) -> bool {
    match want.split_first() {
        None => got.is_empty(),
        Some((w, rest)) if w == "..." => (0..=got.len()).any(|k| lines_match(rest, &got[k..])),
        Some((w, rest)) => {
            !got.is_empty()
                && line_matches(w.trim_end(), got[0].trim_end())
                && lines_match(rest, &got[1..])
        }
    }
}

fn line_matches(want: &str, got: &str) -> bool {
    let mut parts = want.split("[..]");
    let first = parts.next().unwrap();
    let Some(mut rest) = got.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            return rest.len() >= part.len() && rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

#[test]
fn line_patterns_match_what_they_say() {
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert!(line_matches("a [..] b", "a 12 s b"));
    assert!(line_matches("[..]", ""));
    assert!(!line_matches("a [..] b", "a 12 s c"));
    assert!(!line_matches("abc", "abcd"));
    assert!(line_matches("x[..]y[..]z", "x1y2y3z"));
    assert!(lines_match(&v(&["a", "...", "z"]), &["a", "b", "c", "z"]));
    assert!(lines_match(&v(&["a", "...", "z"]), &["a", "z"]));
    assert!(!lines_match(&v(&["a", "...", "z"]), &["a", "b"]));
    assert!(!lines_match(&v(&["a"]), &["a", "b"]));
}

#[test]
fn every_console_block_in_the_docs_prints_what_it_shows() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin_dir = common::bin().parent().unwrap().to_path_buf();
    let path = std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    let mut failures = Vec::new();
    let (mut run, mut not_run) = (0, 0);
    for file in markdown_files() {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let (blocks, problems) = fenced_blocks(&rel(&file), &text);
        failures.extend(problems);
        for block in blocks {
            if let Some(why) = &block.not_run {
                eprintln!("{}:{}: not run: {why}", block.file, block.line);
                not_run += 1;
                continue;
            }
            let dir = tempfile::tempdir().unwrap();
            for link in ["fixtures", "examples"] {
                std::os::unix::fs::symlink(root.join(link), dir.path().join(link)).unwrap();
            }
            for step in steps(&block) {
                run += 1;
                let command = match step.command.strip_prefix("cargo run --release -- ") {
                    Some(rest) => format!("copipe {rest}"),
                    None => step.command.clone(),
                };
                // `timeout` guards the suite against a command that would wait for ever.
                let out = Command::new("timeout")
                    .args([
                        "-k",
                        "5",
                        "120",
                        "sh",
                        "-c",
                        &format!("exec 2>&1\n{command}"),
                    ])
                    .current_dir(dir.path())
                    .env("PATH", &path)
                    .env("LC_ALL", "C.UTF-8")
                    .env_remove("NO_COLOR")
                    .env_remove("COLUMNS")
                    .stdin(std::process::Stdio::null())
                    .output()
                    .expect("run sh");
                let got = String::from_utf8_lossy(&out.stdout).into_owned();
                let got_lines: Vec<&str> = got.lines().collect();
                if !lines_match(&step.expected, &got_lines) {
                    failures.push(format!(
                        "{}:{}: `{}` (status {})\n--- shown\n{}\n--- printed\n{}",
                        block.file,
                        step.line,
                        step.command,
                        out.status.code().unwrap_or(-1),
                        step.expected.join("\n"),
                        got.trim_end()
                    ));
                }
            }
            // What the block wrote, a reader who runs it from the checkout would leave there.
            for entry in std::fs::read_dir(dir.path()).unwrap() {
                let name = entry.unwrap().file_name().to_string_lossy().into_owned();
                if name != "fixtures"
                    && name != "examples"
                    && common::ignored_by_git(&name) == Some(false)
                {
                    failures.push(format!(
                        "{}:{}: the block leaves `{name}` behind, which .gitignore does not \
                         ignore: add it there (as /{name}) or write elsewhere",
                        block.file, block.line
                    ));
                }
            }
        }
    }
    eprintln!("{run} commands run, {not_run} blocks marked not-run");
    assert!(run >= 30, "the docs' commands were found ({run})");
    assert!(
        failures.is_empty(),
        "{} mismatches:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Every stage of the catalogue (as `copipe help stages` lists it) has its row in the
/// README's table of stages.
#[test]
fn every_stage_is_in_the_readme_table() {
    let out = Command::new(common::bin())
        .args(["help", "stages"])
        .output()
        .unwrap();
    let listing = String::from_utf8(out.stdout).unwrap();
    let stages: Vec<&str> = listing
        .lines()
        .filter(|l| l.starts_with("  ") && !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(stages.len() >= 30, "help stages was read: {listing}");
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    // The first cell of each table row: the stages it documents are its `code` words.
    let first_cells: Vec<&str> = readme
        .lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| l.split(" | ").next())
        .collect();
    let missing: Vec<&&str> = stages
        .iter()
        .filter(|name| {
            !first_cells.iter().any(|cell| {
                cell.split('`')
                    .skip(1)
                    .step_by(2)
                    .any(|code| code.split_whitespace().next() == Some(**name))
            })
        })
        .collect();
    assert!(
        missing.is_empty(),
        "stages without a row in README.md's table: {missing:?}"
    );
}

/// The README at most about 250 lines, and every relative link of the README and docs/
/// leads to a file that exists.
#[test]
fn readme_is_short_and_doc_links_resolve() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let n = readme.lines().count();
    assert!(
        n <= 260,
        "README.md has {n} lines: keep it short, move detail to docs/"
    );
    let mut broken = Vec::new();
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, line) in text.lines().enumerate() {
            for target in line.split("](").skip(1).filter_map(|s| s.split(')').next()) {
                if target.contains("://") || target.starts_with('#') {
                    continue;
                }
                let target = target.split('#').next().unwrap();
                let path = file.parent().unwrap().join(target);
                if !path.exists() {
                    broken.push(format!("{}:{}: {target}", rel(&file), i + 1));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "links to nothing:\n{}",
        broken.join("\n")
    );
}
