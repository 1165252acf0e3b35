//! A tool that explains itself: help, completions, --explain, --stats, colour and the
//! progress bar, through the real binary.

use crate::common;

use std::fs;
use std::process::Command;

use common::*;

fn app() -> String {
    fixture("app.log").display().to_string()
}

#[test]
fn help_teaches_the_grammar_and_each_stage() {
    let r = copipe(["--help"]).run();
    r.code(0);
    let out = r.stdout();
    for needle in [
        "copipe cat app.log : grep -i error : head 5",
        "copipe help stages",
        "--explain",
    ] {
        assert!(out.contains(needle), "--help lacks {needle:?}:\n{out}");
    }
    let r = copipe(["help", "stages"]).run();
    r.code(0);
    let out = r.stdout();
    for needle in [
        "Sources", "Filters", "Fan-out", "Sinks", "grep", "tee", "count",
    ] {
        assert!(out.contains(needle), "help stages lacks {needle:?}");
    }
    // `copipe help STAGE` and `STAGE --help` inside a pipeline say the same thing.
    let a = copipe(["help", "grep"]).run();
    a.code(0);
    let b = copipe(["cat", "x", ":", "grep", "--help"]).run();
    b.code(0);
    assert_eq!(a.stdout(), b.stdout());
    for needle in [
        "--ignore-case",
        "Accepts: lines, events, records",
        "Examples:",
        "filter (pushed coroutine)",
    ] {
        assert!(
            a.stdout().contains(needle),
            "help grep lacks {needle:?}:\n{}",
            a.stdout()
        );
    }
    copipe(["help", "gerp"])
        .run()
        .code(2)
        .err_has("did you mean `grep`");
}

#[test]
fn explain_shows_a_nested_tee_without_reading_input() {
    let dir = tempfile::tempdir().unwrap();
    // The input does not exist and the output must not be created: nothing runs.
    let r = copipe([
        "--explain",
        "cat",
        "missing.log",
        ":",
        "grep",
        "-i",
        "error",
        ":",
        "tee",
        "{",
        "grep",
        "WARN",
        ":",
        "write",
        "w.txt",
        "}",
        "{",
        "head",
        "2",
        "}",
        ":",
        "count",
    ])
    .dir(dir.path())
    .run();
    r.code(0).out(
        "\
cat missing.log                     source: pulled generator
│ lines
grep -i error                       filter: pushed coroutine
│ lines
tee                                 fan-out: pushed coroutine, every item to each branch and on
├── branch 1
│   │ lines
│   grep WARN                       filter: pushed coroutine
│   │ lines
│   write w.txt                     sink: pushed coroutine
├── branch 2
│   │ lines
│   head 2                          filter: pushed coroutine
│   │ lines
│   print (implicit)                sink: pushed coroutine
│ lines
count                               sink: pushed coroutine
",
    );
    assert!(
        !dir.path().join("w.txt").exists(),
        "--explain must not open outputs"
    );
}

#[test]
fn stats_count_every_stage() {
    let r = copipe([
        "--stats",
        "cat",
        &app(),
        ":",
        "grep",
        "-i",
        "error",
        ":",
        "tee",
        "{",
        "grep",
        "WARN",
        ":",
        "discard",
        "}",
        ":",
        "count",
    ])
    .run();
    r.code(0).out("58\n");
    let rows: Vec<Vec<String>> = r
        .err
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect();
    let row = |label: &str| {
        rows.iter()
            .find(|r| r.join(" ").starts_with(label))
            .unwrap_or_else(|| panic!("no row {label:?} in\n{}", r.err))
            .clone()
    };
    // cat app.log: - in, 500 out, then the bytes it read.
    let cat = row("cat");
    assert_eq!(&cat[2..4], ["-", "500"], "{}", r.err);
    assert!(r.err.contains(&format!("{} read", "72.0 kB")), "{}", r.err);
    assert_eq!(row("grep -i error")[3..5], ["500", "58"]);
    assert_eq!(row("tee")[1..3], ["58", "58"]);
    assert_eq!(row("grep WARN")[2..4], ["58", "45"]);
    assert_eq!(row("discard")[1..3], ["45", "-"]);
    assert_eq!(row("count")[1..3], ["58", "-"]);
    assert!(r.err.starts_with("copipe: stats after "), "{}", r.err);
}

#[test]
fn stats_after_a_closed_pipe_and_an_error() {
    // A closed output pipe: status 0, and the stats are still printed.
    let mut cmd = copipe(["--stats", "range", "1", "100000000"]).command();
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("range 1 100000000"), "{err}");
    // A failing sink: the error and the stats.
    let r = copipe(["--stats", "range", "1", "10", ":", "write", "/dev/full"]).run();
    r.code(2)
        .err_has("No space left")
        .err_has("write /dev/full");
}

#[test]
fn colour_always_marks_matches_and_tags_and_never_does_not() {
    let r = copipe([
        "--color=always",
        "cat",
        "--tag",
        &app(),
        ":",
        "grep",
        "-i",
        "error",
        ":",
        "head",
        "1",
    ])
    .run();
    r.code(0);
    let out = r.stdout();
    assert!(
        out.contains("\x1b[01;31m\x1b[KERROR\x1b[m\x1b[K"),
        "{out:?}"
    );
    assert!(
        out.starts_with("\x1b[35m\x1b[K"),
        "the tag is coloured like grep -H: {out:?}"
    );
    // Into a pipe, auto means no colour.
    let plain = copipe(["cat", &app(), ":", "grep", "-i", "error", ":", "head", "1"]).run();
    assert!(!plain.stdout().contains('\x1b'));
    let never = copipe([
        "--color=never",
        "cat",
        &app(),
        ":",
        "grep",
        "ERROR",
        ":",
        "head",
        "1",
    ])
    .run();
    assert!(!never.stdout().contains('\x1b'));
    // -v selects lines that do not match: nothing to colour.
    let inv = copipe([
        "--color=always",
        "cat",
        &app(),
        ":",
        "grep",
        "-v",
        "ERROR",
        ":",
        "head",
        "1",
    ])
    .run();
    assert!(!inv.stdout().contains('\x1b'));
}

#[test]
fn colour_on_a_terminal_unless_no_color() {
    let tty = Tty {
        stdout: true,
        stderr: false,
    };
    let args = ["cat", &app(), ":", "grep", "ERROR", ":", "head", "1"].map(String::from);
    let on = copipe(args.clone()).run_in_pty(tty);
    on.code(0);
    assert!(
        on.stdout().contains("\x1b[01;31m\x1b[KERROR"),
        "{:?}",
        on.stdout()
    );
    let off = copipe(args.clone()).env("NO_COLOR", "1").run_in_pty(tty);
    off.code(0);
    assert!(
        off.stdout().contains("ERROR") && !off.stdout().contains('\x1b'),
        "{:?}",
        off.stdout()
    );
    // An explicit --color=always wins over NO_COLOR (no-color.org).
    let forced = copipe(["--color=always"].into_iter().map(String::from).chain(args))
        .env("NO_COLOR", "1")
        .run();
    assert!(forced.stdout().contains('\x1b'));
}

#[test]
fn progress_bar_only_when_stderr_is_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.log");
    let line = "2015-07-29 19:04:12,394 - INFO [main] - a line of a big log file\n";
    fs::write(&big, line.repeat(100_000)).unwrap(); // 6.6 MB
    let big = big.display().to_string();
    // The consumer waits a second before it reads, so the read lasts long enough.
    let slow = ["cat", &big, ":", "exec", "sleep 1; cat > /dev/null"];
    let piped = copipe(slow).run();
    piped.code(0);
    assert!(
        piped.err.is_empty(),
        "no progress into a pipe: {:?}",
        piped.err
    );
    let tty = Tty {
        stdout: false,
        stderr: true,
    };
    let shown = copipe(slow).run_in_pty(tty);
    shown.code(0);
    assert!(
        shown.err.contains("MiB") && shown.err.contains("ETA"),
        "{:?}",
        shown.err
    );
    assert!(shown.stdout().is_empty(), "the bar never goes to stdout");
    let hidden = copipe(["--no-progress"].into_iter().chain(slow)).run_in_pty(tty);
    hidden.code(0);
    assert!(!hidden.err.contains("ETA"), "{:?}", hidden.err);
}

#[test]
fn completion_scripts_and_candidates() {
    for shell in ["bash", "zsh", "fish"] {
        let r = copipe(["completions", shell]).run();
        r.code(0);
        assert!(r.stdout().contains("__complete"), "{shell}");
    }
    copipe(["completions", "tcsh"])
        .run()
        .code(2)
        .err_has("bash, zsh, fish");
    let r = copipe(["__complete", "cat", "f", ":", "gr"]).run();
    r.code(0)
        .out("grep\tkeep items matching a regex, with grep's options (-n -c -o -m -l -H -C …)\n");
}

#[test]
fn bash_completes_stage_names_after_a_separator() {
    let script = copipe(["completions", "bash"]).run().stdout();
    let complete = |line: &str| -> Vec<String> {
        let words: Vec<&str> = line.split(' ').collect();
        let program = format!(
            "{script}\nCOMP_WORDS=({bin} {words}); COMP_CWORD={n}; _copipe; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            bin = bin().display(),
            words = words
                .iter()
                .map(|w| format!("'{w}'"))
                .collect::<Vec<_>>()
                .join(" "),
            n = words.len()
        );
        let out = Command::new("bash")
            .arg("-c")
            .arg(program)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    };
    assert_eq!(complete("cat app.log : gr"), ["grep"]);
    assert_eq!(complete("cat app.log : tee { cou"), ["count"]);
    assert_eq!(complete("cat app.log : grep --ignore"), ["--ignore-case"]);
    assert_eq!(complete("--color al"), ["always"]);
    assert_eq!(complete("cat app.log : multi"), ["multiline"]);
    assert_eq!(complete("json : tocsv --no"), ["--no-header"]);
    assert_eq!(complete("json : table --wi"), ["--width"]);
    assert_eq!(
        complete("cat app.log : multiline --max-"),
        ["--max-lines", "--max-bytes"]
    );
}

#[test]
fn explain_shows_why_a_pipeline_is_refused() {
    let r = copipe(["--explain", "xml", "feed.xml", ":", "number", ":", "count"]).run();
    r.code(2)
        .err_has("`number` takes lines, but receives events from `xml`");
    let out = r.stdout();
    assert!(
        out.contains("│ events\nnumber                              filter: pushed coroutine   ✗ rejected\n│ ?\ncount"),
        "{out}"
    );
    assert!(
        out.contains("rejected: the pipeline does not type-check"),
        "{out}"
    );
}

#[test]
fn colour_marks_record_keys_as_jq_does() {
    let xml = fixture("buses.xml").display().to_string();
    let r = copipe([
        "--color=always",
        "xml",
        &xml,
        ":",
        "records",
        "bus",
        ":",
        "head",
        "1",
    ])
    .run();
    r.code(0);
    let out = r.stdout();
    assert!(
        out.starts_with("{\x1b[34;1m\"id\"\x1b[0m:\"1485\","),
        "{out:?}"
    );
    let plain = copipe(["xml", &xml, ":", "records", "bus", ":", "head", "1"]).run();
    assert!(plain.stdout().starts_with("{\"id\":\"1485\","));
}
