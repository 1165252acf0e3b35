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
