//! `tee --parallel`: branches on threads of their own, everything else about tee kept.

mod common;

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
