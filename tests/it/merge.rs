//! `merge`: several sources, each with its filters, into one stream.

use crate::common;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::TcpStream;

use common::*;

#[test]
fn merge_of_a_follow_a_listen_and_a_cat_delivers_every_line_whole_in_branch_order() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    fs::write(&log, "").unwrap();
    fs::write(dir.path().join("old.txt"), "old 1\nold 2\nold 3\n").unwrap();
    let cp = copipe([
        "merge",
        "--tag",
        "{",
        "follow",
        "-n",
        "0",
        "app.log",
        ":",
        "grep",
        "ERROR",
        "}",
        "{",
        "listen",
        "tcp://127.0.0.1:0",
        "}",
        "{",
        "cat",
        "old.txt",
        "}",
    ])
    .dir(dir.path())
    .spawn();
    let mut cp = cp;
    cp.wait_err("listening on ");
    let bound = |e: &str| {
        e.split_once("listening on ")
            .is_some_and(|(_, r)| r.contains('\n'))
    };
    assert!(wait_until(DEADLINE, || bound(&cp.err())));
    let err = cp.err();
    let port: u16 = err
        .lines()
        .find_map(|l| l.rsplit_once(':').filter(|_| l.contains("listening")))
        .unwrap()
        .1
        .parse()
        .unwrap();
    cp.wait_out("the cat branch", |o| o.contains("cat old.txt:old 3\n"));
    cp.wait_open(&log);
    let mut f = OpenOptions::new().append(true).open(&log).unwrap();
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    for i in 0..200 {
        writeln!(f, "ERROR f{i}\ninfo f{i}").unwrap();
        // Half lines over the socket: whole lines must still come out.
        c.write_all(format!("net {i}\nne").as_bytes()).unwrap();
        c.write_all(b"t-").unwrap();
        c.write_all(format!("{i}\n").as_bytes()).unwrap();
    }
    drop(c);
    cp.wait_out("every line", |o| o.lines().count() == 3 + 200 + 400);
    cp.signal(libc::SIGTERM);
    assert_eq!(cp.exit_code(), 0, "{}", cp.err());
    let out = cp.out();
    let of = |tag: &str| -> Vec<String> {
        out.lines()
            .filter_map(|l| l.strip_prefix(tag).map(str::to_string))
            .collect()
    };
    assert_eq!(of("cat old.txt:"), ["old 1", "old 2", "old 3"]);
    let want_f: Vec<String> = (0..200).map(|i| format!("ERROR f{i}")).collect();
    assert_eq!(of("follow -n 0 app.log:"), want_f);
    let want_n: Vec<String> = (0..200)
        .flat_map(|i| [format!("net {i}"), format!("net-{i}")])
        .collect();
    assert_eq!(of("listen tcp://127.0.0.1:0:"), want_n);
}

#[test]
fn merge_ends_when_every_branch_ends_and_a_failing_branch_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.txt"), "a1\na2\n").unwrap();
    let r = copipe([
        "merge",
        "{",
        "cat",
        "a.txt",
        "}",
        "{",
        "range",
        "0",
        "1000000000",
        ":",
        "head",
        "2",
        "}",
        "{",
        "cat",
        "missing.txt",
        "}",
        ":",
        "count",
    ])
    .dir(dir.path())
    .run();
    r.code(2).err_has("missing.txt");
    assert_eq!(r.stdout(), "4\n");
}

#[test]
fn head_after_merge_stops_every_branch() {
    let r = copipe([
        "merge", "{", "naturals", "}", "{", "naturals", "--from", "100", "}", ":", "head", "5",
    ])
    .run();
    r.code(0);
    assert_eq!(r.stdout().lines().count(), 5);
}

#[test]
fn merge_refuses_branches_of_different_kinds_and_sinks_inside() {
    copipe([
        "merge", "{", "range", "0", "3", "}", "{", "range", "0", "3", ":", "json", "}",
    ])
    .run()
    .code(2)
    .err_has("must emit one kind");
    copipe(["merge", "{", "range", "0", "3", ":", "count", "}"])
        .run()
        .code(2)
        .err_has("cannot be in a branch of `merge`");
    copipe(["merge", "{", "grep", "x", "}"])
        .run()
        .code(2)
        .err_has("starts with a source");
}
