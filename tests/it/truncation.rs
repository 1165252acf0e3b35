//! Big files are read through a memory map; one truncated by another process while it is
//! read (logrotate's `copytruncate`) must never kill copipe with SIGBUS: what was read is
//! kept and flushed, the truncation is reported, and the exit status is 2.
//!
//! The reader is held in the middle of the file by a full output pipe that the test stops
//! reading, so the truncation lands while the file is being read, every time.

use crate::common;

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use common::*;

/// 8 MiB of numbered lines (mapped: at least 4 MiB).
fn log_lines() -> Vec<u8> {
    let mut s = Vec::new();
    let mut i = 0;
    while s.len() < 8 << 20 {
        s.extend_from_slice(format!("line {i} x some text to make it longer\n").as_bytes());
        i += 1;
    }
    s
}

/// Start `args` with stdout a pipe, read the first 64 KiB of it (the file is being read and
/// the pipe soon full), truncate `file` to nothing, then read the rest.
fn truncate_while_reading(args: &[&str], dir: &Path, file: &Path) -> (Vec<u8>, String, i32) {
    let mut cmd = copipe(args).dir(dir).command();
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null());
    let mut child = cmd.spawn().expect("spawn copipe");
    let mut stdout = child.stdout.take().unwrap();
    let mut out = vec![0; 64 * 1024];
    stdout.read_exact(&mut out).expect("the first 64 KiB");
    truncate(file);
    stdout.read_to_end(&mut out).unwrap();
    finish(child, out)
}

/// Truncate `file` to nothing.
fn truncate(file: &Path) {
    OpenOptions::new()
        .write(true)
        .open(file)
        .unwrap()
        .set_len(0)
        .unwrap();
}

/// Start `cp` with stdout a pipe, truncate `file` to nothing after `delay`, and read all it
/// writes; stdout, stderr, exit status.
fn truncate_at(cp: Cp, file: &Path, delay: Duration) -> (Vec<u8>, String, i32) {
    let mut cmd = cp.command();
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null());
    let mut child = cmd.spawn().expect("spawn copipe");
    std::thread::sleep(delay);
    truncate(file);
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    finish(child, out)
}

/// How a run of `cat app.log` truncated at some moment ended: status 2 saying so (true), or
/// 0 or 1 with nothing said (read before the truncation, or truncated before it was opened).
#[track_caller]
fn said_truncated(run: u64, code: i32, err: &str) -> bool {
    match code {
        2 => {
            assert_eq!(err, "copipe: app.log: file truncated while being read\n");
            true
        }
        0 | 1 => {
            assert!(err.is_empty(), "run {run}: {err}");
            false
        }
        c => panic!("run {run}: exit {c}: {err}"),
    }
}

fn finish(mut child: Child, out: Vec<u8>) -> (Vec<u8>, String, i32) {
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    // Killed by a signal (SIGBUS) has no code.
    let code = status
        .code()
        .unwrap_or_else(|| panic!("killed: {status:?}\n{err}"));
    (out, err, code)
}

/// `out` is the beginning of `data`: nothing invented (no NUL for a vanished page).
fn check_prefix(data: &[u8], out: &[u8], run: usize) {
    let same = data.iter().zip(out).take_while(|(a, b)| a == b).count();
    assert!(
        same == out.len(),
        "run {run}: the output ({} bytes) differs from the file at byte {same}: {:?}",
        out.len(),
        String::from_utf8_lossy(&out[same.saturating_sub(40)..(same + 40).min(out.len())])
    );
}

#[test]
fn cat_of_a_file_truncated_while_read_keeps_what_was_read_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.log");
    let data = log_lines();
    for run in 0..50 {
        std::fs::write(&file, &data).unwrap();
        let (out, err, code) = truncate_while_reading(&["cat", "app.log"], dir.path(), &file);
        assert_eq!(code, 2, "run {run}: {err}");
        assert_eq!(
            err, "copipe: app.log: file truncated while being read\n",
            "run {run}"
        );
        assert!(out.len() < data.len(), "run {run}: all read");
        check_prefix(&data, &out, run);
    }
}

/// `csv` of a mapped file truncated while it is read, its batches read on a second thread
/// (where there are two cores) ahead of the records sent on: no crash, the truncation said,
/// and the records are the file's rows, up to the batch in flight when the file shrank
/// (whose rows may hold the zeros of vanished pages, as any reader of a map's batch may).
#[test]
fn csv_of_a_file_truncated_while_read_keeps_the_rows_read_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.csv");
    let row = |i: usize| format!("{i},\"some \"\"quoted\"\" text\",x\n");
    let mut data = String::from("n,text,x\n");
    let mut rows = 0;
    while data.len() < 8 << 20 {
        data.push_str(&row(rows));
        rows += 1;
    }
    let per_batch = (1 << 20) / row(rows).len() + 1;
    for run in 0..20 {
        std::fs::write(&file, &data).unwrap();
        let (out, err, code) =
            truncate_while_reading(&["cat", "app.csv", ":", "csv"], dir.path(), &file);
        assert_eq!(code, 2, "run {run}: {err}");
        // And, when the file was cut inside a quoted field, that it was left open.
        let (first, rest) = err.split_once('\n').unwrap();
        assert_eq!(
            first, "copipe: app.csv: file truncated while being read",
            "run {run}"
        );
        assert!(
            rest.is_empty()
                || rest.starts_with("copipe: csv: app.csv:")
                    && rest
                        .ends_with("is not closed at the end of the input (the row ends there)\n")
                    && rest.lines().count() == 1,
            "run {run}: {err}"
        );
        let out = String::from_utf8(out).unwrap();
        let got: Vec<&str> = out.lines().collect();
        assert!(got.len() < rows, "run {run}: all read");
        for (i, rec) in got
            .iter()
            .enumerate()
            .take(got.len().saturating_sub(per_batch))
        {
            let want =
                format!("{{\"n\":\"{i}\",\"text\":\"some \\\"quoted\\\" text\",\"x\":\"x\"}}");
            assert_eq!(*rec, want, "run {run}: record {i}");
        }
    }
}

/// The same on the scheduler (a timer makes the pipeline run on it, `cat` a native task
/// that yields between its mapped batches): what was read is kept, the truncation said.
#[test]
fn native_cat_on_the_scheduler_of_a_file_truncated_while_read_keeps_what_was_read() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.log");
    let data = log_lines();
    for run in 0..20 {
        std::fs::write(&file, &data).unwrap();
        let args = [
            "cat", "app.log", ":", "tee", "{", "count", "--every", "1h", "}",
        ];
        let (out, err, code) = truncate_while_reading(&args, dir.path(), &file);
        assert_eq!(code, 2, "run {run}: {err}");
        assert_eq!(
            err, "copipe: app.log: file truncated while being read\n",
            "run {run}"
        );
        // The last line is the count of the lines the tee passed on: those printed (and
        // the batch the output pipe still held back when the file shrank).
        let text = String::from_utf8(out).unwrap();
        let (lines, count) = text.trim_end().rsplit_once('\n').unwrap();
        let n: usize = count.rsplit_once(' ').unwrap().1.parse().unwrap();
        let printed = lines.lines().count();
        let batch = (1 << 20) / "line 0 x some text to make it longer\n".len();
        assert!(
            n >= printed && n <= printed + batch,
            "run {run}: {n} counted, {printed} printed"
        );
        assert!(lines.len() < data.len(), "run {run}: all read");
        check_prefix(&data, format!("{lines}\n").as_bytes(), run);
    }
}

/// The branches of a `tee --parallel` read the batches from the map itself, on their own
/// threads, perhaps after the file shrank: no SIGBUS, no lines of zeros but from the batch
/// in flight, and the truncation said once, at whatever moment it comes.
#[test]
fn parallel_branches_reading_a_map_whose_file_shrank_report_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.log");
    let data = log_lines();
    let total = data.iter().filter(|&&b| b == b'\n').count();
    let mut truncated = 0;
    for run in 0..30u64 {
        std::fs::write(&file, &data).unwrap();
        let cmd = copipe([
            "cat",
            "app.log",
            ":",
            "tee",
            "--parallel",
            "{",
            "grep",
            "\\x00",
            ":",
            "count",
            "}",
            "{",
            "grep",
            "x",
            ":",
            "count",
            "}",
            ":",
            "count",
        ])
        .dir(dir.path());
        let delay = Duration::from_micros(run * 300);
        let (out, err, code) = truncate_at(cmd, &file, delay);
        let counts: Vec<usize> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect();
        assert_eq!(counts.len(), 3, "run {run}: {counts:?}");
        // Each batch is copied out of the map and checked before it is pushed: no line of
        // zeros reaches a branch, not even from the batch read at the moment of the
        // truncation.
        assert_eq!(counts[0], 0, "run {run}: lines of zeros");
        assert!(
            counts[1] <= total && counts[2] <= total,
            "run {run}: {counts:?}"
        );
        // The branch of NUL lines counts none: status 1 when nothing was truncated.
        truncated += u32::from(said_truncated(run, code, &err));
    }
    eprintln!("{truncated} of 30 runs truncated while reading");
}

#[test]
fn cat_into_a_filter_survives_a_truncation_at_any_moment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.log");
    let data = log_lines();
    let total = data.iter().filter(|&&b| b == b'\n').count() as u64;
    let mut truncated = 0;
    for run in 0..50u64 {
        std::fs::write(&file, &data).unwrap();
        let cmd = copipe(["cat", "app.log", ":", "grep", "x", ":", "count"]).dir(dir.path());
        let delay = Duration::from_micros(run * 400);
        let (out, err, code) = truncate_at(cmd, &file, delay);
        let n: u64 = String::from_utf8(out).unwrap().trim().parse().unwrap();
        assert!(n <= total, "run {run}: {n} lines of {total}");
        truncated += u32::from(said_truncated(run, code, &err));
    }
    eprintln!("{truncated} of 50 runs truncated while reading");
}

#[test]
fn write_from_a_map_that_vanished_reports_the_truncation_not_a_bad_address() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.log");
    let fifo = dir.path().join("out");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid path and mode.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let data = log_lines();
    for run in 0..10 {
        std::fs::write(&file, &data).unwrap();
        let mut cmd = copipe(["cat", "app.log", ":", "write", "out"])
            .dir(dir.path())
            .command();
        cmd.stdout(Stdio::null())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        let child = cmd.spawn().expect("spawn copipe");
        let mut reader = File::open(&fifo).unwrap();
        let mut out = vec![0; 64 * 1024];
        reader.read_exact(&mut out).unwrap();
        truncate(&file);
        reader.read_to_end(&mut out).unwrap();
        let (out, err, code) = finish(child, out);
        assert_eq!(code, 2, "run {run}: {err}");
        assert_eq!(
            err, "copipe: app.log: file truncated while being read\n",
            "run {run}"
        );
        check_prefix(&data, &out, run);
    }
}

/// A document of `n` records.
fn buses(n: usize) -> Vec<u8> {
    let mut s = String::from("<?xml version=\"1.0\"?>\n<buses>\n");
    for i in 0..n {
        s += &format!(
            "<bus id=\"{i}\"><route>{}</route><dir>North Bound</dir><lat>41.{i}</lat></bus>\n",
            i % 90
        );
    }
    s += "</buses>\n";
    s.into_bytes()
}

#[test]
fn xml_in_parts_of_a_file_truncated_while_parsed_reports_the_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("buses.xml");
    let data = buses(100_000);
    for run in 0..50 {
        std::fs::write(&file, &data).unwrap();
        let (out, err, code) = truncate_while_reading(
            &[
                "xml",
                "--threads",
                "3",
                "--part-size",
                "65536",
                "buses.xml",
                ":",
                "records",
                "bus",
            ],
            dir.path(),
            &file,
        );
        assert_eq!(code, 2, "run {run}: {err}");
        assert_eq!(
            err, "copipe: buses.xml: file truncated while being read\n",
            "run {run}"
        );
        // Whole records, in order, from the first.
        let out = String::from_utf8(out).unwrap();
        for (i, line) in out.lines().enumerate() {
            assert!(
                line.starts_with(&format!("{{\"@id\":\"{i}\",")) && line.ends_with('}'),
                "run {run}: record {i}: {line}"
            );
        }
    }
}

/// Start `args` in `dir`, truncate `file` to nothing after `delay`, and give back what the
/// output file `out` holds once copipe ends (`stop`: by SIGTERM after the truncation was
/// said, for a follow) with stderr and the exit status.
fn truncate_after(
    args: &[&str],
    dir: &Path,
    file: &Path,
    delay: Duration,
    stop: bool,
) -> (Vec<u8>, String, i32) {
    let _ = std::fs::remove_file(dir.join("out"));
    let mut live = copipe(args).dir(dir).spawn();
    if stop {
        // A follow that opens the file after the truncation has nothing to say.
        live.wait_open(file);
    }
    std::thread::sleep(delay);
    truncate(file);
    if stop {
        live.wait_err("file truncated");
        live.signal(libc::SIGTERM);
    }
    let code = live.exit_code_within(Duration::from_secs(60));
    let out = std::fs::read(dir.join("out")).unwrap_or_default();
    (out, live.err(), code)
}

/// Every line of `out` is whole, one of `data`'s lines (no NUL for a vanished page, no
/// fragment), and holds `needle`.
fn only_lines_of(data: &[u8], out: &[u8], needle: &str, what: &str) {
    assert!(
        !out.contains(&0),
        "{what}: a NUL byte the file never held reached the output at byte {}",
        out.iter().position(|&b| b == 0).unwrap()
    );
    let text = std::str::from_utf8(out).unwrap();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "{what}: a cut last line"
    );
    let lines: std::collections::HashSet<&[u8]> = data.split(|&b| b == b'\n').collect();
    for l in text.lines() {
        assert!(
            l.contains(needle) && lines.contains(l.as_bytes()),
            "{what}: {l:?} is not a line of the file"
        );
    }
}

/// Issue 23, item 5: `cat f : grep 7 : write out` with `f` truncated at any moment while it
/// is read (a real truncate, 50 runs at moments spread over the read) writes only lines
/// the file held: never a run of NUL bytes from a page that vanished under the map.
#[test]
fn no_byte_beyond_a_truncation_reaches_the_output_of_cat() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.log");
    let data = log_lines();
    let mut truncated = 0;
    for run in 0..50u64 {
        std::fs::write(&file, &data).unwrap();
        let args = ["cat", "app.log", ":", "grep", "7", ":", "write", "out"];
        let delay = Duration::from_micros(run * 600);
        let (out, err, code) = truncate_after(&args, dir.path(), &file, delay, false);
        only_lines_of(&data, &out, "7", &format!("run {run}"));
        truncated += u32::from(said_truncated(run, code, &err));
    }
    eprintln!("{truncated} of 50 runs truncated while reading");
}

/// The same for `follow -n +1`: what it writes are lines the file held, whole, whatever
/// the moment of the truncation (after it, the empty file is followed on).
#[test]
fn no_byte_beyond_a_truncation_reaches_the_output_of_follow() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.log");
    // A quarter of the mapped size: follow reads, it does not map.
    let mut data = log_lines();
    let keep = data[..data.len() / 4]
        .iter()
        .rposition(|&b| b == b'\n')
        .unwrap()
        + 1;
    data.truncate(keep);
    for run in 0..50u64 {
        std::fs::write(&file, &data).unwrap();
        let args = [
            "follow", "-n", "+1", "app.log", ":", "grep", "7", ":", "write", "out",
        ];
        let delay = Duration::from_micros(run * 150);
        let (out, err, code) = truncate_after(&args, dir.path(), &file, delay, true);
        only_lines_of(&data, &out, "7", &format!("run {run}"));
        assert_eq!(code, 0, "run {run}: {err}");
    }
}

/// The same for `xml` (its main parser, and parts parsed on other threads): only records
/// of the file, whole.
#[test]
fn no_byte_beyond_a_truncation_reaches_the_output_of_xml() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("buses.xml");
    let data = buses(100_000);
    std::fs::write(&file, &data).unwrap();
    let all = copipe(["xml", "buses.xml", ":", "records", "bus"])
        .dir(dir.path())
        .run()
        .out;
    for run in 0..50u64 {
        std::fs::write(&file, &data).unwrap();
        let threads = if run % 2 == 0 { "1" } else { "3" };
        let args = [
            "xml",
            "--threads",
            threads,
            "--part-size",
            "65536",
            "buses.xml",
            ":",
            "records",
            "bus",
            ":",
            "grep",
            "7",
            ":",
            "write",
            "out",
        ];
        let delay = Duration::from_micros(run * 600);
        let (out, err, code) = truncate_after(&args, dir.path(), &file, delay, false);
        only_lines_of(&all, &out, "7", &format!("run {run}"));
        match code {
            // Truncated before it was opened: an empty document.
            2 => assert!(
                err == "copipe: buses.xml: file truncated while being read\n"
                    || err.contains("the input is empty"),
                "run {run}: {err}"
            ),
            0 | 1 => assert!(err.is_empty(), "run {run}: {err}"),
            c => panic!("run {run}: exit {c}: {err}"),
        }
    }
}
