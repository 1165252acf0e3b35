//! `tee --parallel`: branches on threads of their own, everything else about tee kept.

use crate::common;

use std::fs;

use common::*;

#[test]
fn parallel_branches_keep_order_counts_and_close() {
    let dir = tempfile::tempdir().unwrap();
    let r = copipe([
        "range",
        "0",
        "200000",
        ":",
        "tee",
        "--parallel",
        "{",
        "grep",
        "7",
        ":",
        "count",
        "}",
        "{",
        "grep",
        "^1",
        ":",
        "write",
        "ones.txt",
        "}",
        ":",
        "grep",
        "9",
        ":",
        "count",
    ])
    .dir(dir.path())
    .run();
    r.code(0);
    let seq = copipe([
        "range", "0", "200000", ":", "tee", "{", "grep", "7", ":", "count", "}", "{", "grep", "^1",
        ":", "write", "seq.txt", "}", ":", "grep", "9", ":", "count",
    ])
    .dir(dir.path())
    .run();
    // The counts at the end come in the same order (branch, then the stage after tee).
    assert_eq!(r.stdout(), seq.stdout());
    // Order within a branch is kept.
    assert_eq!(
        fs::read(dir.path().join("ones.txt")).unwrap(),
        fs::read(dir.path().join("seq.txt")).unwrap()
    );
}

#[test]
fn a_parallel_branch_head_stops_only_that_branch_and_all_stopped_ends_the_pipeline() {
    let r = copipe([
        "range", "0", "100000", ":", "tee", "-p", "{", "head", "2", ":", "write", "h.txt", "}",
        ":", "count",
    ])
    .dir(&std::env::temp_dir())
    .run();
    r.code(0).out("100000\n");
    // An endless source ends once every consumer stopped.
    let dir = tempfile::tempdir().unwrap();
    let r = copipe([
        "naturals", ":", "tee", "-p", "{", "head", "3", ":", "write", "b.txt", "}", ":", "head",
        "2",
    ])
    .dir(dir.path())
    .run();
    r.code(0).out("0\n1\n");
    assert_eq!(
        fs::read_to_string(dir.path().join("b.txt")).unwrap(),
        "0\n1\n2\n"
    );
}

#[test]
fn an_error_in_a_parallel_branch_is_reported() {
    let r = copipe([
        "range",
        "0",
        "1000",
        ":",
        "tee",
        "-p",
        "{",
        "write",
        "/dev/full",
        "}",
        ":",
        "count",
    ])
    .run();
    r.code(2).err_has("/dev/full");
    assert_eq!(r.stdout(), "1000\n");
}

/// Lines of a log with a few kinds in it, about `size` bytes.
fn log_of(size: usize) -> Vec<u8> {
    let kinds = [
        "INFO ok",
        "ERROR failed",
        "WARN slow",
        "INFO Fail-over",
        "DEBUG ion",
    ];
    let mut s = Vec::with_capacity(size + 128);
    let mut i = 0usize;
    while s.len() < size {
        let k = kinds[i * 7 % kinds.len()];
        s.extend_from_slice(format!("2026-12-01 {i:08} {k} request {i} done\n").as_bytes());
        i += 1;
    }
    s
}

/// A big file is mapped and its batches handed to the parallel branches as slices of the
/// map itself (no copy): every branch must see exactly what the sequential tee shows it,
/// over many batches and across two files (a map released while the next one is read).
#[test]
fn parallel_branches_of_a_mapped_file_get_what_the_sequential_tee_gives() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.log"), log_of(24 << 20)).unwrap();
    fs::write(dir.path().join("b.log"), log_of(6 << 20)).unwrap();
    let run = |par: &[&str], suffix: &str| {
        let w = |name: &str| format!("{name}-{suffix}.txt");
        let mut args = vec!["cat", "--tag", "a.log", "b.log", ":", "tee"];
        args.extend_from_slice(par);
        let (e, f, x) = (w("errors"), w("fail"), w("all"));
        args.extend_from_slice(&[
            "{", "grep", "ERROR", ":", "write", &e, "}", "{", "grep", "-i", "fail", ":", "write",
            &f, "}", "{", "grep", "WARN", ":", "count", "}", "{", "write", &x, "}", ":", "grep",
            "ion", ":", "count",
        ]);
        let r = copipe(&args).dir(dir.path()).run();
        r.code(0);
        let read = |n: &str| fs::read(dir.path().join(n)).unwrap();
        (r.stdout(), read(&e), read(&f), read(&x))
    };
    let seq = run(&[], "seq");
    let par = run(&["--parallel"], "par");
    assert_eq!(par.0, seq.0, "the counts");
    assert!(par.1 == seq.1, "the ERROR branch differs");
    assert!(par.2 == seq.2, "the fail branch differs");
    assert!(par.3 == seq.3, "the branch of every line differs");
    let mut want = Vec::new();
    for name in ["a.log", "b.log"] {
        for line in fs::read(dir.path().join(name))
            .unwrap()
            .split_inclusive(|&b| b == b'\n')
        {
            want.extend_from_slice(name.as_bytes());
            want.push(b':');
            want.extend_from_slice(line);
        }
    }
    assert!(
        par.3 == want,
        "not every line of both files, once, in order"
    );
}

/// `--stats` rows as (label, in, out), after the source's (which goes on with what it read).
fn stats_rows(err: &str) -> Vec<(String, String, String)> {
    err.lines()
        .skip_while(|l| !l.trim_start().starts_with("stage"))
        .skip(2)
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            if l.trim_start().starts_with('{') {
                return (words.join(" "), String::new(), String::new());
            }
            let n = words.len();
            (
                words[..n - 2].join(" "),
                words[n - 2].to_string(),
                words[n - 1].to_string(),
            )
        })
        .collect()
}

#[test]
fn parallel_branch_stages_appear_in_stats_as_sequential_ones_do() {
    let run = |parallel: bool| {
        let mut args = vec!["--stats", "range", "0", "100000", ":", "tee"];
        if parallel {
            args.push("--parallel");
        }
        args.extend([
            "{", "grep", "7", ":", "count", "}", "{", "head", "5", ":", "count", "}", ":", "grep",
            "9", ":", "count",
        ]);
        let r = copipe(args).run();
        r.code(0);
        stats_rows(&r.err)
    };
    let seq = run(false);
    let par = run(true);
    assert_eq!(par.len(), seq.len(), "{par:?}\n{seq:?}");
    for (p, s) in par.iter().zip(&seq) {
        if s.0 == "tee" {
            assert_eq!(p.0, "tee --parallel");
            assert_eq!((&p.1, &p.2), (&s.1, &s.2));
        } else if s.0 == "head 5" {
            // A branch that stopped: it passed on the same 5 items either way (what it
            // was handed before its thread saw the stop may differ).
            assert_eq!((&p.0, &p.2), (&s.0, &s.2));
        } else {
            assert_eq!(p, s);
        }
    }
    // The first branch's rows are there with their counts: 40,951 numbers below 100,000
    // have a 7.
    assert!(
        par.contains(&("grep 7".into(), "100000".into(), "40951".into())),
        "{par:?}"
    );
    assert!(
        par.contains(&("count".into(), "40951".into(), "-".into())),
        "{par:?}"
    );
}

/// The counts of `count --every` lines (`TIME COUNT`) in `out`.
fn interval_counts(out: &str) -> Vec<u64> {
    out.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(_, n)| n.parse().expect("a count"))
        .collect()
}

#[test]
fn count_every_in_a_parallel_branch_prints_each_interval_on_the_branch_thread() {
    use std::io::Write;
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    fs::write(&log, "").unwrap();
    let mut cp = copipe([
        "follow",
        "-n",
        "0",
        "app.log",
        ":",
        "tee",
        "--parallel",
        "{",
        "grep",
        "ERROR",
        ":",
        "count",
        "--every",
        "200ms",
        "}",
        ":",
        "count",
    ])
    .dir(dir.path())
    .spawn();
    cp.wait_open(&log);
    // 60 matching lines (and 60 others) over about 1.2 s: 10 per 200 ms interval.
    let mut f = fs::OpenOptions::new().append(true).open(&log).unwrap();
    let start = Instant::now();
    for i in 0..60 {
        writeln!(f, "ERROR {i}\ninfo {i}").unwrap();
        let due = start + Duration::from_millis(20 * (i + 1));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
    // Then quiet: the branch's intervals go on printing 0 while nothing arrives.
    cp.wait_out("three quiet intervals after the 60 lines", |o| {
        let c = interval_counts(o);
        c.iter().sum::<u64>() == 60 && c.ends_with(&[0, 0, 0])
    });
    cp.signal(libc::SIGTERM);
    assert_eq!(cp.exit_code(), 0, "{}", cp.err());
    let out = cp.out();
    let counts = interval_counts(&out);
    assert_eq!(counts.iter().sum::<u64>(), 60, "{out}");
    assert!(counts.iter().filter(|&&n| n > 0).count() >= 3, "{out}");
    // The main chain's count comes at the end: every line.
    assert_eq!(out.lines().last(), Some("120"), "{out}");
}

#[test]
fn count_every_in_a_parallel_branch_prints_the_last_interval_at_the_end() {
    let r = copipe([
        "range", "0", "1000", ":", "tee", "-p", "{", "count", "--every", "1h", "}", ":", "count",
    ])
    .run();
    r.code(0);
    let out = r.stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].ends_with("Z 1000"), "{out}");
    assert_eq!(lines[1], "1000");
}

/// A parallel branch is built once: its `exec` starts its command once (branches were
/// built a second time on their threads, which also opened a `write`'s file twice).
#[test]
fn a_parallel_branch_is_built_once() {
    let dir = tempfile::tempdir().unwrap();
    let r = copipe([
        "range",
        "0",
        "1000",
        ":",
        "tee",
        "--parallel",
        "{",
        "exec",
        "echo started >&2; cat > from-exec.txt",
        "}",
        "{",
        "grep",
        "7",
        ":",
        "count",
        "}",
        ":",
        "count",
    ])
    .dir(dir.path())
    .run();
    r.code(0);
    assert_eq!(r.err.matches("started").count(), 1, "{}", r.err);
    assert_eq!(r.stdout(), "271\n1000\n");
    let got = fs::read_to_string(dir.path().join("from-exec.txt")).unwrap();
    assert_eq!(got.lines().count(), 1000);
}
