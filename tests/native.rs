//! `cat` and `range` as native tasks of the scheduler (issue 13): when a pipeline runs on
//! the scheduler (a timer such as `count --every`, a `merge`), they are resumed by it in
//! its thread, not run on a thread of their own behind the bridge. A mapped file yields
//! between batches; a pipe or FIFO is read only when readable, so a silent writer never
//! blocks the other tasks (a `listen` beside it in a `merge`).

mod common;

use std::fs;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;

use common::*;

/// The names of the process's threads (Linux: `/proc/PID/task/*/comm`).
fn threads(pid: u32) -> Vec<String> {
    fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| {
            d.flatten()
                .filter_map(|t| fs::read_to_string(t.path().join("comm")).ok())
                .map(|s| s.trim().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Numbered lines of about `size` bytes in all.
fn numbered(size: usize, tag: &str) -> Vec<u8> {
    let mut s = Vec::with_capacity(size + 64);
    let mut i = 0;
    while s.len() < size {
        s.extend_from_slice(format!("{tag} {i} some words to make the line longer\n").as_bytes());
        i += 1;
    }
    s
}

/// The count lines `count --every` prints: `TIME N` → N.
fn counts(out: &str) -> Vec<u64> {
    out.lines()
        .map(|l| l.rsplit_once(' ').unwrap().1.parse().unwrap())
        .collect()
}

#[test]
fn native_cat_on_the_scheduler_reads_a_mapped_file_a_pipe_and_a_small_file_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    // 12 MiB: mapped (at least 4 MiB), a dozen batches; an unterminated last line.
    let mut big = numbered(12 << 20, "big");
    big.extend_from_slice(b"big last without newline");
    fs::write(dir.path().join("big.log"), &big).unwrap();
    fs::write(dir.path().join("small.log"), "small 1\nsmall 2\n").unwrap();
    let piped = numbered(3 << 20, "pipe");
    let r = copipe([
        "cat",
        "big.log",
        "-",
        "small.log",
        ":",
        "tee",
        "{",
        "count",
        "--every",
        "1h",
        "}",
    ])
    .dir(dir.path())
    .stdin(piped.clone())
    .run();
    r.code(0);
    let out = r.stdout();
    let mut want = big.clone();
    want.push(b'\n');
    want.extend_from_slice(&piped);
    want.extend_from_slice(b"small 1\nsmall 2\n");
    let lines = want.iter().filter(|&&b| b == b'\n').count() as u64;
    assert!(
        out.as_bytes().starts_with(&want),
        "not every line, once, in order"
    );
    assert_eq!(counts(&out[want.len()..]), [lines]);
}

#[test]
fn a_fifo_with_a_silent_writer_does_not_stop_a_listen_beside_it_in_a_merge() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("in.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let mut cp = copipe([
        "merge",
        "--tag",
        "{",
        "cat",
        "in.fifo",
        "}",
        "{",
        "listen",
        "tcp://127.0.0.1:0",
        "}",
    ])
    .dir(dir.path())
    .spawn();
    let bound = |e: &str| {
        e.split_once("listening on ")
            .is_some_and(|(_, r)| r.contains('\n'))
    };
    assert!(wait_until(DEADLINE, || bound(&cp.err())), "{}", cp.err());
    let port: u16 = cp
        .err()
        .lines()
        .find_map(|l| l.rsplit_once(':').filter(|_| l.contains("listening")))
        .unwrap()
        .1
        .trim()
        .parse()
        .unwrap();
    // The writer opens the FIFO, writes one line and half of another, and goes silent with
    // the FIFO open: a `cat` that blocked in open or read would stop the whole scheduler.
    let mut w = fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    w.write_all(b"fifo 1\nfifo 2 half").unwrap();
    cp.wait_out("the fifo's whole line", |o| {
        o.contains("cat in.fifo:fifo 1\n")
    });
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    for i in 0..100 {
        writeln!(client, "net {i}").unwrap();
    }
    cp.wait_out("every line of the client while the fifo is silent", |o| {
        o.contains("net 99\n")
    });
    // cat is the scheduler's task, not a thread behind the bridge.
    let names = threads(cp.child.id());
    assert!(
        !names.is_empty() && !names.iter().any(|n| n == "copipe-source"),
        "a source thread: {names:?}"
    );
    w.write_all(b" done\nfifo 3\n").unwrap();
    drop(w);
    cp.wait_out("the fifo's end", |o| o.contains("cat in.fifo:fifo 3\n"));
    drop(client);
    assert_eq!(cp.stop(), 0, "{}", cp.err());
    let out = cp.out();
    let of = |tag: &str| -> Vec<String> {
        out.lines()
            .filter_map(|l| l.strip_prefix(tag).map(str::to_string))
            .collect()
    };
    assert_eq!(of("cat in.fifo:"), ["fifo 1", "fifo 2 half done", "fifo 3"]);
    let want: Vec<String> = (0..100).map(|i| format!("net {i}")).collect();
    assert_eq!(of("listen tcp://127.0.0.1:0:"), want);
}

#[test]
fn head_stops_a_native_cat_of_a_fifo_whose_writer_stays_open() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("in.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let mut cp = copipe([
        "cat", "in.fifo", ":", "head", "2", ":", "tee", "{", "count", "--every", "1h", "}",
    ])
    .dir(dir.path())
    .spawn();
    let mut w = fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    w.write_all(b"a\nb\nc\n").unwrap();
    // The writer stays open: only `head` can end the run.
    assert_eq!(cp.exit_code(), 0, "{}", cp.err());
    let out = cp.out();
    assert!(out.starts_with("a\nb\n"), "{out}");
    assert_eq!(counts(&out[4..]), [2]);
    drop(w);
}

#[test]
fn head_stops_a_native_cat_of_a_big_file_and_a_native_range() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("big.log"), numbered(16 << 20, "big")).unwrap();
    let r = copipe([
        "--stats", "cat", "big.log", ":", "head", "3", ":", "count", "--every", "1h",
    ])
    .dir(dir.path())
    .run();
    r.code(0);
    assert_eq!(counts(&r.stdout()), [3]);
    let r = copipe([
        "range",
        "0",
        "1000000000000",
        ":",
        "head",
        "3",
        ":",
        "count",
        "--every",
        "1h",
    ])
    .run();
    r.code(0);
    assert_eq!(counts(&r.stdout()), [3]);
    let r = copipe([
        "range", "10", "0", "-3", ":", "tee", "{", "count", "--every", "1h", "}",
    ])
    .run();
    r.code(0);
    let out = r.stdout();
    assert!(out.starts_with("10\n7\n4\n1\n"), "{out}");
    assert_eq!(counts(&out[9..]), [4]);
}

#[test]
fn a_missing_file_and_a_directory_are_soft_errors_for_a_native_cat() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.txt"), "a1\na2").unwrap();
    fs::create_dir(dir.path().join("sub")).unwrap();
    let r = copipe([
        "cat", "missing", "sub", "a.txt", ":", "count", "--every", "1h",
    ])
    .dir(dir.path())
    .run();
    r.code(2).err_has("missing").err_has("sub");
    assert_eq!(counts(&r.stdout()), [2]);
    assert!(Path::new(dir.path()).exists());
}
