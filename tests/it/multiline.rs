//! `multiline`: lines joined into events, run as the real binary on the Java and Python
//! fixtures in `fixtures/multiline/`, on a followed file (the timeout), and at its bounds.

use crate::common;

use std::fs::{self, OpenOptions};
use std::io::Write;

use common::*;

fn m(name: &str) -> String {
    fixture(&format!("multiline/{name}")).display().to_string()
}

const JAVA_START: &str = r"^\d{4}-\d\d-\d\d ";

#[test]
fn multiline_start_joins_a_java_stack_trace_into_one_event() {
    let java = m("java.log");
    // Three events; printed, they are the file again.
    copipe([
        "cat",
        &java,
        ":",
        "multiline",
        "--start",
        JAVA_START,
        ":",
        "count",
    ])
    .run()
    .code(0)
    .out("3\n");
    copipe(["cat", &java, ":", "multiline", "--start", JAVA_START])
        .run()
        .code(0)
        .out(&fs::read_to_string(&java).unwrap());
    // A parser after it holds the whole trace in one field.
    let r = copipe([
        "cat",
        &java,
        ":",
        "multiline",
        "--start",
        JAVA_START,
        ":",
        "parse",
        r"(?s)^(?P<time>\S+ \S+) (?P<level>[A-Z]+) +\[(?P<thread>[^\]]+)\] (?P<msg>.*)$",
        ":",
        "where",
        "level=ERROR",
    ])
    .run();
    r.code(0);
    let rec: serde_json::Value = serde_json::from_str(r.stdout().trim_end()).unwrap();
    let msg = rec["msg"].as_str().unwrap();
    assert!(
        msg.starts_with("request failed\njava.lang.IllegalStateException"),
        "{msg}"
    );
    assert!(msg.ends_with("\t... 3 more"), "{msg}");
    assert_eq!(msg.lines().count(), 7, "{msg}");
}

#[test]
fn multiline_continue_joins_python_tracebacks() {
    let r = copipe([
        "cat",
        &m("python.log"),
        ":",
        "multiline",
        "--continue",
        r"^(\s|\w+(Error|Exception): )",
        ":",
        "number",
    ])
    .run();
    r.code(0);
    let out = r.stdout();
    let events: Vec<&str> = out.split_inclusive("\n     ").collect();
    assert_eq!(events.len(), 3, "{out}");
    assert!(out.contains("    return 1 / 0\nZeroDivisionError: division by zero\n     2\tworker started\n     3\tTraceback"), "{out}");
    assert!(
        out.ends_with("ModuleNotFoundError: No module named 'missing'\n"),
        "{out}"
    );
}

#[test]
fn multiline_flushes_the_last_event_at_the_end_of_input_at_once() {
    // A timeout of an hour does not hold the last event when the input ends.
    let mut cp = copipe([
        "cat",
        &m("python.log"),
        ":",
        "multiline",
        "--start",
        "^Traceback",
        "--timeout",
        "1h",
        ":",
        "count",
    ])
    .spawn();
    assert_eq!(cp.exit_code(), 0, "{}", cp.err());
    // The first traceback takes in "worker started"; the second ends the file.
    assert_eq!(cp.out(), "2\n");
}

#[test]
fn multiline_sends_an_open_event_of_a_quiet_followed_file_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    fs::write(&log, "").unwrap();
    let mut cp = copipe([
        "follow",
        "-n",
        "0",
        "app.log",
        ":",
        "multiline",
        "--start",
        JAVA_START,
        "--timeout",
        "300ms",
        ":",
        "number",
    ])
    .dir(dir.path())
    .spawn();
    cp.wait_open(&log);
    // A stack trace, then nothing: no next event will ever close it.
    let java = fs::read_to_string(m("java.log")).unwrap();
    let trace: String = java
        .lines()
        .skip(1)
        .take(7)
        .map(|l| format!("{l}\n"))
        .collect();
    let mut f = OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(trace.as_bytes()).unwrap();
    drop(f);
    // It shows up whole, as one event (numbered once).
    let want = format!("     1\t{trace}");
    cp.wait_out_eq(&want);
    // Lines written later make events of their own.
    let mut f = OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(b"2026-12-01 10:00:05 INFO  [main] quiet again\n")
        .unwrap();
    drop(f);
    cp.wait_out_eq(&format!(
        "{want}     2\t2026-12-01 10:00:05 INFO  [main] quiet again\n"
    ));
    cp.signal(libc::SIGTERM);
    assert_eq!(cp.exit_code(), 0, "{}", cp.err());
}

#[test]
fn multiline_cuts_an_event_at_max_lines_and_max_bytes() {
    // No line starts an event: only the bounds cut.
    copipe([
        "range",
        "0",
        "10",
        ":",
        "multiline",
        "--start",
        "^x",
        "--max-lines",
        "3",
        ":",
        "count",
    ])
    .run()
    .code(0)
    .out("4\n");
    // "0\n1" is 3 bytes: two lines per event.
    copipe([
        "range",
        "0",
        "10",
        ":",
        "multiline",
        "--start",
        "^x",
        "--max-bytes",
        "3",
        ":",
        "number",
    ])
    .run()
    .code(0)
    .out("     1\t0\n1\n     2\t2\n3\n     3\t4\n5\n     4\t6\n7\n     5\t8\n9\n");
}

#[test]
fn multiline_refuses_a_bad_regex_and_a_bad_bound() {
    copipe(["range", "0", "3", ":", "multiline", "--start", "("])
        .run()
        .code(2)
        .err_has("bad pattern");
    copipe([
        "range",
        "0",
        "3",
        ":",
        "multiline",
        "--start",
        "x",
        "--max-bytes",
        "lots",
    ])
    .run()
    .code(2)
    .err_has("not a size");
    copipe([
        "range",
        "0",
        "3",
        ":",
        "multiline",
        "--start",
        "x",
        "--timeout",
        "soon",
    ])
    .run()
    .code(2)
    .err_has("not a duration");
}

#[test]
fn multiline_events_do_not_span_files() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.log"), "S1\n c1\n").unwrap();
    fs::write(dir.path().join("b.log"), " c2\nS2\n").unwrap();
    copipe([
        "cat",
        "a.log",
        "b.log",
        ":",
        "multiline",
        "--start",
        "^S",
        ":",
        "count",
    ])
    .dir(dir.path())
    .run()
    .code(0)
    .out("3\n");
}
