//! `cat` and `range` as native tasks of the scheduler (issue 13): when a pipeline runs on
//! the scheduler (a timer such as `count --every`, a `merge`), they are resumed by it in
//! its thread, not run on a thread of their own behind the bridge. A mapped file yields
//! between batches; a pipe or FIFO is read only when readable, so a silent writer never
//! blocks the other tasks (a `listen` beside it in a `merge`).

use crate::common;

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

/// The sources of the running copipe `pid` are tasks of the scheduler: none runs on a
/// thread of its own behind the bridge (`copipe-source`).
#[track_caller]
fn assert_no_source_thread(pid: u32) {
    let names = threads(pid);
    assert!(
        !names.is_empty() && !names.iter().any(|n| n == "copipe-source"),
        "a source thread: {names:?}"
    );
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
    assert_no_source_thread(cp.child.id());
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

/// A FIFO in `dir`.
fn fifo(dir: &Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    path
}

/// The port a `listen … :0` printed on stderr, once it did.
fn bound_port(cp: &Live) -> u16 {
    cp.wait_err("listening on ");
    assert!(
        wait_until(DEADLINE, || cp
            .err()
            .split_once("listening on ")
            .is_some_and(|(_, r)| r.contains('\n'))),
        "{}",
        cp.err()
    );
    cp.err()
        .lines()
        .find_map(|l| l.rsplit_once(':').filter(|_| l.contains("listening")))
        .unwrap()
        .1
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn xml_through_a_fifo_in_pieces_does_not_stop_a_listen_beside_it_in_a_merge() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = fifo(dir.path(), "feed.fifo");
    let mut cp = copipe([
        "merge",
        "--tag",
        "{",
        "xml",
        "feed.fifo",
        ":",
        "records",
        "bus",
        ":",
        "fmt",
        "bus {@id} {route}",
        "}",
        "{",
        "listen",
        "tcp://127.0.0.1:0",
        "}",
    ])
    .dir(dir.path())
    .spawn();
    let port = bound_port(&cp);
    let mut w = fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    // The XML declaration cut: the encoding cannot be told yet, xml waits for more.
    w.write_all(b"<?xml vers").unwrap();
    for i in 0..50 {
        writeln!(client, "net {i}").unwrap();
    }
    cp.wait_out(
        "the client's lines while xml waits in the declaration",
        |o| o.contains("net 49\n"),
    );
    // A record, then a token cut in the middle of an attribute value.
    w.write_all(b"ion=\"1.0\" encoding=\"UTF-8\"?>\n<buses>\n<bus id=\"1\"><route>22</route></bus>\n<bus id=\"2")
        .unwrap();
    cp.wait_out("the first record", |o| o.contains("bus 1 22\n"));
    for i in 50..100 {
        writeln!(client, "net {i}").unwrap();
    }
    cp.wait_out("the client's lines while xml waits inside a tag", |o| {
        o.contains("net 99\n")
    });
    // xml is the scheduler's task, not a thread behind the bridge.
    assert_no_source_thread(cp.child.id());
    w.write_all(b"3\"><route>9").unwrap();
    w.write_all(b"</route></bus>\n</buses>\n").unwrap();
    drop(w);
    cp.wait_out("the record cut across writes", |o| o.contains("bus 23 9\n"));
    drop(client);
    // listen serves until stopped.
    assert_eq!(cp.stop(), 0, "{}", cp.err());
    assert!(!cp.err().contains("xml"), "{}", cp.err());
    let out = cp.out();
    let of = |tag: &str| -> Vec<String> {
        out.lines()
            .filter_map(|l| l.strip_prefix(tag))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(of("xml feed.fifo:"), ["bus 1 22", "bus 23 9"]);
    let want: Vec<String> = (0..100).map(|i| format!("net {i}")).collect();
    assert_eq!(of("listen tcp://127.0.0.1:0:"), want);
}

#[test]
fn a_slow_xml_pipe_beside_a_range_in_a_merge() {
    let (r, mut w) = std::io::pipe().unwrap();
    let mut cp = copipe([
        "merge", "{", "xml", "-", ":", "records", "a", ":", "fmt", "a {@x}", "}", "{", "range",
        "1", "4", "}",
    ])
    .spawn_stdin(std::process::Stdio::from(r));
    w.write_all(b"<r><a x='1'/><a x='2").unwrap();
    // range is served, and ends, while xml waits in the middle of a tag.
    cp.wait_out("range's numbers and the first record", |o| {
        o.contains("1\n2\n3\n") && o.contains("a 1\n")
    });
    w.write_all(b"2'/></r>").unwrap();
    drop(w);
    assert_eq!(cp.exit_code(), 0, "{}", cp.err());
    let out = cp.out();
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    assert_eq!(lines, ["1", "2", "3", "a 1", "a 22"]);
}

#[test]
fn a_long_token_through_a_pipe_in_small_writes_stays_linear() {
    // 8 MiB of one attribute value in 4 KiB writes: each time the pipe runs dry the task
    // yields, and the token's scan goes on where it stopped. Starting it over each time
    // would be some 8 GiB of scanning.
    const BIG: usize = 8 << 20;
    let (r, mut w) = std::io::pipe().unwrap();
    let start = std::time::Instant::now();
    let mut cp = copipe([
        "xml", "-", ":", "records", "r", ":", "fmt", "{@v}", ":", "tee", "{", "count", "--every",
        "1h", "}",
    ])
    .spawn_stdin(std::process::Stdio::from(r));
    let writer = std::thread::spawn(move || {
        w.write_all(b"<r v='").unwrap();
        let chunk: Vec<u8> = b"abcdefg\"".iter().copied().cycle().take(4096).collect();
        for i in 0..BIG / 4096 {
            w.write_all(&chunk).unwrap();
            if i % 16 == 0 {
                // Let the pipe run dry now and then.
                std::thread::yield_now();
            }
        }
        w.write_all(b"'/>").unwrap();
    });
    writer.join().unwrap();
    assert_eq!(
        cp.exit_code_within(std::time::Duration::from_secs(120)),
        0,
        "{}",
        cp.err()
    );
    let took = start.elapsed();
    let out = cp.out();
    let (value, count) = out.split_once('\n').unwrap();
    assert_eq!(value.len(), BIG);
    assert!(value.starts_with("abcdefg\"abc"), "{}", &value[..16]);
    assert_eq!(counts(count), [1]);
    assert!(took < std::time::Duration::from_secs(60), "took {took:?}");
}

#[test]
fn ctrl_c_while_xml_waits_on_an_empty_pipe_ends_with_130() {
    for written in [&b""[..], b"<?xml version='1.0'?><r><a x='1'/><a x='2"] {
        let (r, mut w) = std::io::pipe().unwrap();
        let mut cp = copipe([
            "merge", "{", "xml", "-", ":", "records", "a", ":", "fmt", "a {@x}", "}", "{", "range",
            "1", "3", "}",
        ])
        .spawn_stdin(std::process::Stdio::from(r));
        w.write_all(written).unwrap();
        let first = if written.is_empty() { "" } else { "a 1\n" };
        // The scheduler runs (range is done) and xml waits on the pipe, open and empty.
        cp.wait_out("range's numbers", |o| {
            o.contains("1\n2\n") && o.contains(first)
        });
        cp.signal(libc::SIGINT);
        assert_eq!(cp.exit_code(), 130, "{}", cp.err());
        assert!(cp.out().contains(first));
        drop(w);
    }
}

#[test]
fn head_stops_xml_reading_a_pipe_whose_writer_stays_open() {
    let (r, mut w) = std::io::pipe().unwrap();
    let mut cp = copipe([
        "xml", "-", ":", "records", "a", ":", "head", "2", ":", "count", "--every", "1h",
    ])
    .spawn_stdin(std::process::Stdio::from(r));
    w.write_all(b"<r><a>1</a><a>2</a><a>3</a>").unwrap();
    // The writer stays open: only `head` can end the run.
    assert_eq!(cp.exit_code(), 0, "{}", cp.err());
    assert_eq!(counts(&cp.out()), [2]);
    drop(w);
}

#[test]
fn xml_errors_on_the_scheduler_name_the_position_after_what_came_before() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("bad.xml"),
        "<r>\n<a x='1'/>\n<a x='2'></b>\n</r>\n",
    )
    .unwrap();
    let r = copipe([
        "xml", "bad.xml", ":", "records", "a", ":", "fmt", "a {@x}", ":", "tee", "{", "count",
        "--every", "1h", "}",
    ])
    .dir(dir.path())
    .run();
    r.code(2)
        .err_has("bad.xml:3:10: mismatched end tag: </a> expected, found </b>");
    assert!(r.stdout().starts_with("a 1\n"), "{}", r.stdout());
}
