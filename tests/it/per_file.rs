//! `cat` of many files runs its per-file filters (`grep`) on several threads (issue 29
//! item 1): the output, the exit status, the errors and `--stats` are those of one thread,
//! byte for byte, whatever the files (big and mapped, small and read, compressed, empty,
//! without a final newline, missing, binary), and `head` still stops the reading early.

use crate::common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

/// A directory of varied inputs, in the order they are given to `cat`.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut add = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        files.push(p);
    };
    // Big enough to be mapped (4 MiB and more), with ERROR lines here and there.
    for f in 0..2 {
        let mut s = Vec::new();
        let mut i = 0u64;
        while s.len() < (4 << 20) + 1000 + f * 100_000 {
            let level = if i.is_multiple_of(97) {
                "ERROR"
            } else {
                "INFO"
            };
            writeln!(s, "{f} {i} {level} request served in {}ms", i % 1000).unwrap();
            i += 1;
        }
        add(&format!("big{f}.log"), &s);
    }
    add("small.log", b"a ERROR one\nb INFO\nc ERROR two\n");
    add("empty.log", b"");
    add("no-newline.log", b"x INFO\nlast ERROR without newline");
    add(
        "binary.log",
        b"\x00\x01ERROR\xff\xfe\n\x00INFO\x00\nERROR\x80\x81",
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for i in 0..5000u32 {
        writeln!(
            gz,
            "gz {i} {}",
            if i.is_multiple_of(7) { "ERROR" } else { "INFO" }
        )
        .unwrap();
    }
    add("rotated.log.1.gz", &gz.finish().unwrap());
    add("crlf.log", b"r ERROR\r\nr INFO\r\n");
    files
}

/// The arguments of `cat FILES… : REST` with the missing file after the fourth input.
fn args(threads: u32, files: &[PathBuf], rest: &[&str], stats: bool) -> Vec<String> {
    let mut a = Vec::new();
    if stats {
        a.push("--stats".to_string());
    }
    a.push("cat".into());
    a.push(format!("--threads={threads}"));
    for (i, f) in files.iter().enumerate() {
        a.push(f.display().to_string());
        if i == 3 {
            a.push(f.with_file_name("missing.log").display().to_string());
        }
    }
    a.push(":".into());
    a.extend(rest.iter().map(|s| s.to_string()));
    a
}

/// `--stats` without its timing and rate.
fn stats_rows(err: &str) -> String {
    err.lines()
        .filter(|l| !l.contains("stats after"))
        .map(|l| match l.find(" read, ") {
            Some(i) => &l[..i],
            None => l,
        })
        .map(|l| l.replace("--threads=4", "").replace("--threads=1", ""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn many_files_on_several_threads_give_the_output_of_one() {
    let dir = tempfile::tempdir().unwrap();
    let files = inputs(dir.path());
    let pipelines: &[&[&str]] = &[
        &["grep", "ERROR"],
        &["grep", "ERROR", ":", "count"],
        &["grep", "-n", "ERROR"],
        &["grep", "-b", "-o", "ERR"],
        &["grep", "-v", "INFO", ":", "grep", "-i", "error"],
        &["grep", "-h", "ERROR"],
        &["grep", "-H", "-F", "ERROR", ":", "uniq"],
        &["grep", "ERROR", ":", "head", "3"],
        &["grep", "-c", "ERROR"],
        // Context: each file's groups in the workers, the separator between two files'
        // groups put by the main thread.
        &["grep", "-C", "1", "without"],
        &["grep", "-A", "2", "ERROR"],
        &["grep", "-B", "1", "-H", "ERROR"],
        &["grep", "-n", "-C", "1", "ERROR"],
        &["grep", "-C", "1", "--group-separator=XX", "ERROR"],
        &["grep", "-C", "1", "--no-group-separator", "ERROR"],
        &["grep", "-C", "1", "--color=always", "-H", "ERROR"],
        &["grep", "-C", "2", "-v", "INFO"],
        &["grep", "-C", "1", "ERROR", ":", "head", "7"],
        &["grep", "-C", "1", "ERROR", ":", "count"],
        &["grep", "-i", "error", ":", "grep", "-C", "1", "ERROR"],
        &["grep", "-C", "1", "ERROR", ":", "grep", "-v", "request"],
        // `replace` rewrites each line on its own: per-file, before or after a grep.
        &["replace", "ERROR", "E!"],
        &[
            "replace", "-i", "(\\d+)ms", "${1} ms", ":", "grep", "-c", "E",
        ],
        &[
            "grep", "ERROR", ":", "replace", "--first", "[0-9]", "#", ":", "uniq",
        ],
        &["replace", "request", "REQ", ":", "grep", "-C", "1", "ERROR"],
        // Not per-file: the whole pipeline stays in the main thread, the same output.
        &["grep", "-m", "2", "ERROR"],
        &["grep", "-o", "-C", "1", "ERROR"],
    ];
    for rest in pipelines {
        for stats in [false, true] {
            let one = copipe(args(1, &files, rest, stats)).run();
            let four = copipe(args(4, &files, rest, stats)).run();
            assert!(
                one.out == four.out,
                "{rest:?}: the outputs differ\n--- one thread\n{}\n--- four\n{}",
                one.stdout(),
                four.stdout()
            );
            assert_eq!(one.code, four.code, "{rest:?}");
            assert_eq!(stats_rows(&one.err), stats_rows(&four.err), "{rest:?}");
            if !rest.contains(&"head") {
                assert_eq!(one.code, 2, "a missing file: status 2 ({rest:?})");
                four.err_has("missing.log: No such file");
            }
        }
    }
}

#[test]
fn errors_come_in_the_order_of_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = inputs(dir.path());
    // A corrupt gzip between two big files, read with --skip-bad: its warning comes in its
    // turn, after the missing file's error, before the later files' lines.
    let bad = dir.path().join("corrupt.gz");
    let gz = files
        .iter()
        .find(|f| f.extension().is_some_and(|e| e == "gz"));
    let mut gz = std::fs::read(gz.unwrap()).unwrap();
    let n = gz.len();
    gz.truncate(n / 2);
    std::fs::write(&bad, gz).unwrap();
    files.insert(5, bad);
    let mut a = args(4, &files, &["grep", "ERROR"], false);
    a.insert(2, "--skip-bad".into());
    let four = copipe(&a).run();
    a[1] = "--threads=1".into();
    let one = copipe(&a).run();
    assert_eq!(one.out, four.out);
    assert_eq!(one.err, four.err);
    assert_eq!(one.code, four.code);
    let missing = four
        .err
        .find("missing.log")
        .expect("the missing file is said");
    let corrupt = four
        .err
        .find("corrupt.gz")
        .expect("the corrupt file is said");
    assert!(missing < corrupt, "{}", four.err);
}

#[test]
fn many_small_files_read_together_give_the_output_of_one_thread() {
    // 400 small files, 9 MB (several to a job, three jobs), among them empty ones, ones
    // without a final newline, CRLF ones, compressed ones and missing ones.
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for i in 0..400u32 {
        let p = dir.path().join(format!("s{i:03}.log"));
        match i % 40 {
            7 => {} // missing
            13 => std::fs::write(&p, b"").unwrap(),
            21 => std::fs::write(&p, format!("{i} ERROR no newline")).unwrap(),
            29 => std::fs::write(&p, format!("{i} ERROR crlf\r\n{i} INFO crlf\r\n")).unwrap(),
            33 => {
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                writeln!(gz, "{i} ERROR in gz\n{i} INFO in gz").unwrap();
                std::fs::write(&p, gz.finish().unwrap()).unwrap();
            }
            _ => {
                let mut s = String::new();
                for k in 0..(i % 50) * 30 {
                    let level = if (i + k) % 7 == 0 { "ERROR" } else { "INFO" };
                    s.push_str(&format!("{i} {k} {level} request served\n"));
                }
                std::fs::write(&p, s).unwrap();
            }
        }
        files.push(p);
    }
    let pipelines: &[&[&str]] = &[
        &["grep", "ERROR"],
        &["grep", "-c", "ERROR"],
        &["grep", "-n", "-H", "ERROR", ":", "count"],
        &["replace", "request", "REQ", ":", "grep", "-v", "INFO"],
        &["grep", "ERROR", ":", "head", "25"],
        // Context: a file a job (the separator goes between jobs), the same output.
        &["grep", "-C", "1", "ERROR"],
    ];
    for rest in pipelines {
        let run = |threads: u32| {
            let mut a = vec![
                "--stats".to_string(),
                "cat".into(),
                format!("--threads={threads}"),
            ];
            a.extend(files.iter().map(|p| p.display().to_string()));
            a.push(":".into());
            a.extend(rest.iter().map(|s| s.to_string()));
            copipe(&a).run()
        };
        let (one, two) = (run(1), run(2));
        assert!(one.out == two.out, "{rest:?}: the outputs differ");
        assert_eq!(one.code, two.code, "{rest:?}");
        assert_eq!(rows(&one.err), rows(&two.err), "{rest:?}");
        assert!(
            two.err.contains("read by 2 threads"),
            "{rest:?}: {}",
            two.err
        );
        if !rest.contains(&"head") {
            assert_eq!(two.code, 2, "{rest:?}: the missing files");
            assert_eq!(two.err.matches("No such file").count(), 10, "{rest:?}");
        }
    }
}

#[test]
fn a_part_size_below_64k_is_refused() {
    let f = fixture("app.log").display().to_string();
    for bad in ["1", "63K", "65535"] {
        let r = copipe(["cat", "--part-size", bad, &f, ":", "grep", "x"]).run();
        assert_eq!(r.code, 2, "{bad}");
        r.err_has("parts are 64K at least");
        assert!(r.out.is_empty(), "{bad}");
    }
    let r = copipe(["cat", "--part-size", "64K", &f, ":", "grep", "-c", "x"]).run();
    assert!(matches!(r.code, 0 | 1), "64K is taken: {}", r.err);
}

#[test]
fn head_stops_the_workers_early() {
    let dir = tempfile::tempdir().unwrap();
    // 32 files of 8 MiB: read whole, 256 MiB; `head 1` needs the first batch of the first.
    let mut line = Vec::new();
    while line.len() < 8 << 20 {
        line.extend_from_slice(b"ERROR a line of a big log file, repeated\n");
    }
    let mut a = vec!["cat".to_string(), "--threads=2".into()];
    for i in 0..32 {
        let p = dir.path().join(format!("f{i:02}.log"));
        std::fs::write(&p, &line).unwrap();
        a.push(p.display().to_string());
    }
    a.push(dir.path().join("missing.log").display().to_string());
    a.extend([":", "grep", "ERROR", ":", "head", "1"].map(String::from));
    let mut cmd = copipe(&a).command();
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    // Reaped below by wait4, for its CPU time.
    #[allow(clippy::zombie_processes)]
    let mut child = cmd.spawn().unwrap();
    let pid = child.id() as libc::pid_t;
    let read_all = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let stdout = read_all(Box::new(child.stdout.take().unwrap()));
    let stderr = read_all(Box::new(child.stderr.take().unwrap()));
    // The child's own CPU time, from its wait status (other tests' children not counted).
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child, writing into the buffers given.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let cpu = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let secs = cpu(usage.ru_utime) + cpu(usage.ru_stime);
    assert_eq!(waited, pid);
    let (out, err) = (stdout.join().unwrap(), stderr.join().unwrap());
    let err = String::from_utf8_lossy(&err);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{err}"
    );
    assert_eq!(out, b"ERROR a line of a big log file, repeated\n");
    assert!(!err.contains("missing.log"), "{err}");
    // Reading the 256 MiB takes seconds of CPU in a debug build; the first batches of the
    // first files a small part of one.
    assert!(
        secs < 0.5,
        "head 1 did not stop the workers: {secs:.2} s of CPU"
    );
}

/// The bytes process `pid` has read once its reading stops (the same count for 400 ms),
/// its output blocked.
fn reading_settled(pid: u32) -> u64 {
    let io = format!("/proc/{pid}/io");
    let read_so_far = || {
        std::fs::read_to_string(&io)
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("rchar: ").map(|n| n.parse::<u64>().ok()))
            })
            .flatten()
    };
    let (mut last, mut same) = (None, 0);
    let settled = wait_until(Duration::from_secs(60), || {
        let now = read_so_far();
        same = if now == last && now.is_some() {
            same + 1
        } else {
            0
        };
        last = now;
        std::thread::sleep(Duration::from_millis(40));
        same >= 10
    });
    assert!(settled, "the reading did not settle: {last:?}");
    last.unwrap()
}

#[test]
fn blocked_output_keeps_the_workers_within_a_few_files_of_it() {
    let dir = tempfile::tempdir().unwrap();
    // 40 files of 1 MiB, every line selected: each file is 4 hand-overs, well within a
    // job's queue, so only the gate on jobs keeps the workers from reading them all into
    // memory while nobody reads the output.
    let mut file = Vec::new();
    let mut i = 0u32;
    while file.len() < 1 << 20 {
        writeln!(file, "line {i} of a file that is selected whole").unwrap();
        i += 1;
    }
    let mut a = vec!["cat".to_string(), "--threads=2".into()];
    let mut want = Vec::new();
    for f in 0..40 {
        let p = dir.path().join(format!("f{f:02}.log"));
        std::fs::write(&p, &file).unwrap();
        want.extend_from_slice(&file);
        a.push(p.display().to_string());
    }
    a.extend([":", "grep", "-h", "-v", "no such text"].map(String::from));
    let mut cmd = copipe(&a).command();
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let read = reading_settled(child.id());
    // The job being replayed, and the few after it (see `workers::window`; four of these
    // files make a job): 12 MiB at most, not the 40 MiB of every file.
    assert!(
        read < 16 << 20,
        "{read} bytes read while the output was blocked"
    );
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    assert!(child.wait().unwrap().success());
    assert!(
        out == want,
        "the output is not every line of every file, in order"
    );
}

#[test]
fn a_big_file_truncated_while_read_in_parts_ends_with_one_error_and_no_gap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.log");
    let mut file = Vec::new();
    let mut i = 0u32;
    while file.len() < 8 << 20 {
        writeln!(file, "line {i} of a file cut while it is read").unwrap();
        i += 1;
    }
    std::fs::write(&path, &file).unwrap();
    // 32 parts; the output blocked, the workers read the first few and wait (see
    // `workers::window`), then the file loses all but its first MiB under them.
    let p = path.display().to_string();
    let mut cmd = copipe([
        "cat",
        "--threads=2",
        "--part-size=256K",
        &p,
        ":",
        "grep",
        "-v",
        "no such text",
    ])
    .command();
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let read = reading_settled(child.id());
    assert!(read < 6 << 20, "{read} bytes read before the truncation");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(1 << 20)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(
        err.matches("cut.log: file truncated while being read")
            .count(),
        1,
        "{err}"
    );
    // What was read before, whole lines in order, and nothing after a gap: at least the
    // three parts that end before the cut (read before it or after).
    assert!(out.stdout.len() >= 3 << 18, "{} bytes", out.stdout.len());
    assert!(
        file.starts_with(&out.stdout) && out.stdout.ends_with(b"\n"),
        "the output is not a prefix of the file in whole lines"
    );
}

/// `--stats` rows without timing, rate, `cat`'s thread and part options, or alignment.
fn rows(err: &str) -> String {
    let mut s = stats_rows(err);
    for opt in [
        "'--part-size=64K'",
        "'--part-size=256K'",
        "'--part-size=32M'",
        "'--threads=2'",
        "''",
    ] {
        s = s.replace(opt, "");
    }
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `cat FILES… : REST` on `threads` threads, in parts of `part` bytes.
fn parts_args(
    threads: u32,
    part: &str,
    files: &[PathBuf],
    rest: &[&str],
    stats: bool,
) -> Vec<String> {
    let mut a = args(threads, files, rest, stats);
    let at = a.iter().position(|w| w.starts_with("--threads")).unwrap();
    a.insert(at + 1, format!("--part-size={part}"));
    a
}

#[test]
fn big_files_read_in_parts_give_the_output_of_one_thread() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = inputs(dir.path());
    // Lines longer than --max-line in several parts (about 500 KB, in parts of 64 KB):
    // their warning is the file's, once.
    let mut long = Vec::new();
    for i in 0..20_000u32 {
        let width = if i % 2000 == 5 { 300 } else { 20 };
        writeln!(long, "{i} {} ERROR", "x".repeat(width)).unwrap();
    }
    let long_path = dir.path().join("long.log");
    std::fs::write(&long_path, &long).unwrap();
    files.push(long_path);
    let pipelines: &[&[&str]] = &[
        &["grep", "ERROR"],
        &["grep", "-v", "INFO"],
        &["grep", "-o", "-i", "err"],
        &["grep", "-H", "ERROR"],
        &["grep", "ERROR", ":", "count"],
        &["grep", "ERROR", ":", "head", "3"],
        &["grep", "-v", "INFO", ":", "grep", "-i", "error"],
        // -c: selected in the parts, counted whole per file after them.
        &["grep", "-c", "ERROR"],
        &["grep", "-c", "-v", "INFO"],
        &["grep", "-c", "-h", "-o", "ERROR"],
        &["grep", "-c", "-H", "--color=always", "ERROR"],
        &["grep", "-c", "nowhere"],
        &["grep", "-c", "-P", "ERR(?=OR)"],
        &["grep", "-i", "error", ":", "grep", "-c", "ERROR"],
        // `replace` rewrites each line on its own, wherever it is: in parts too.
        &["replace", "served", "done", ":", "grep", "done in 1"],
        &["replace", "-F", "ERROR", "E", ":", "grep", "-c", "E"],
        &[
            "grep", "ERROR", ":", "replace", "(\\d+)", "<$1>", ":", "count",
        ],
        // Context: cut where no group crosses (none in a file where every line is
        // selected, long.log: read whole), the separators between parts put after them.
        &["grep", "-C", "1", "ERROR"],
        &["grep", "-C", "2", "-i", "error"],
        &["grep", "-A", "3", "ERROR"],
        &["grep", "-B", "2", "-H", "ERROR"],
        &["grep", "-C", "0", "ERROR"],
        &["grep", "-C", "1", "--no-group-separator", "ERROR"],
        &[
            "grep",
            "-C",
            "1",
            "--group-separator=::",
            "--color=always",
            "ERROR",
        ],
        &["grep", "-C", "2", "-v", "INFO"],
        &["grep", "-C", "1", "request"],
        &["grep", "-C", "1", "ERROR", ":", "head", "12"],
        // Numbered from the file's start: files whole, not in parts.
        &["grep", "-n", "ERROR"],
        &["grep", "-n", "-C", "1", "ERROR"],
        &["grep", "-c", "-n", "ERROR"],
    ];
    for rest in pipelines {
        for stats in [false, true] {
            let mut one = args(1, &files, rest, stats);
            let mut parts = parts_args(2, "64K", &files, rest, stats);
            for a in [&mut one, &mut parts] {
                a.insert(0, "--max-line=200".into());
            }
            let one = copipe(one).run();
            let parts = copipe(parts).run();
            assert!(
                one.out == parts.out,
                "{rest:?}: the outputs differ\n--- one thread\n{}\n--- in parts\n{}",
                one.stdout(),
                parts.stdout()
            );
            assert_eq!(one.code, parts.code, "{rest:?}");
            // (After a `head`, the lines read before it stopped the reading are counted
            // as they were read: a part is read in reads of its own.)
            if !rest.contains(&"head") {
                assert_eq!(rows(&one.err), rows(&parts.err), "{rest:?}");
            }
            let warned = usize::from(!rest.contains(&"head"));
            assert_eq!(
                parts
                    .err
                    .matches("long.log:6: line longer than 200 bytes")
                    .count(),
                warned,
                "{rest:?}: the cut warning once, at the first cut line\n{}",
                parts.err
            );
        }
    }
}

#[test]
fn one_big_file_is_read_in_parts_on_both_threads() {
    let dir = tempfile::tempdir().unwrap();
    let files = inputs(dir.path());
    let big = files[0].display().to_string();
    for rest in [
        &["grep", "-c", "ERROR"][..],
        &["grep", "ERROR", ":", "count"],
    ] {
        let mut one = vec!["--stats", "cat", &big, ":"];
        one.extend(rest);
        let mut parts = vec![
            "--stats",
            "cat",
            "--threads=2",
            "--part-size=256K",
            &big,
            ":",
        ];
        parts.extend(rest);
        let one = copipe(&one).run();
        let parts = copipe(&parts).run();
        assert_eq!(one.stdout(), parts.stdout(), "{rest:?}");
        assert_eq!((one.code, parts.code), (0, 0), "{rest:?}");
        // Every line read once (the same counts as one thread).
        assert_eq!(rows(&one.err), rows(&parts.err), "{rest:?}");
        // And read in parts, which `--stats` says (a file of 4 MiB in parts of 256 KiB).
        let said = parts
            .err
            .split("read by 2 threads, 1 big file in ")
            .nth(1)
            .and_then(|s| s.split(" parts").next())
            .and_then(|n| n.parse::<u32>().ok());
        assert!(said.is_some_and(|n| n >= 8), "{rest:?}: {}", parts.err);
        assert!(!one.err.contains("read by"), "{}", one.err);
    }
}

/// `-P`'s error when a match gives up names the line by its number in the file: a file is
/// then read whole, never in parts, and the number is the file's.
#[test]
fn a_perl_match_that_gives_up_in_a_big_file_names_its_line_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.log");
    let mut s = Vec::new();
    for i in 0..40_000u32 {
        writeln!(s, "{i} aa ok").unwrap();
    }
    writeln!(s, "{}!", "a".repeat(40)).unwrap();
    std::fs::write(&path, &s).unwrap();
    let p = path.display().to_string();
    for c in [&[][..], &["-c"]] {
        let mut a = vec!["cat", "--threads=2", "--part-size=64K", &p, ":", "grep"];
        a.extend(c);
        a.extend(["-P", "(a+)+$"]);
        copipe(&a).run().code(2).err_has(&format!(
            "grep: {p}:40001: exceeded PCRE's backtracking limit"
        ));
    }
}

/// The line parsers and `where`, `select`, `fmt` after them run in the workers, on whole
/// files and on parts of big ones: the output and status are one thread's, and so are the
/// notes the parsers say at the end (lines dropped, values that did not convert): said
/// once, with the counts of the whole run, and after a `head` the counts of the lines read
/// before it stopped, as on one thread.
#[test]
fn line_parsers_on_the_workers_say_the_notes_of_one_thread() {
    let dir = tempfile::tempdir().unwrap();
    let files = inputs(dir.path());
    const RE: &str = r"^(?P<f>\d+) (?P<i>\d+) (?P<level>[A-Z]+) (?P<rest>.*)$";
    let pipelines: &[&[&str]] = &[
        &["parse", RE],
        &["parse", RE, ":", "count"],
        &["parse", RE, ":", "where", "i?", ":", "count"],
        &[
            "parse",
            "--type",
            "i=int,level=int",
            RE,
            ":",
            "where",
            "i<300",
        ],
        &[
            "parse",
            "--keep",
            RE,
            ":",
            "where",
            "level=ERROR",
            ":",
            "select",
            "i",
        ],
        &[
            "parse",
            RE,
            ":",
            "fmt",
            "{level} {i}",
            ":",
            "grep",
            "-v",
            "INFO",
        ],
        &["parse", RE, ":", "where", "f?", ":", "head", "5"],
        &["parse", RE, ":", "where", "level=ERROR", ":", "head", "700"],
        &[
            "parse",
            "--type",
            "rest=float",
            RE,
            ":",
            "where",
            "i?",
            ":",
            "head",
            "3000",
        ],
        &["parse", "--type", "rest=float", RE, ":", "head", "3000"],
        &["logfmt", "--type", "x=int"],
        &["kv", "--keep", ":", "write", "/dev/stdout"],
        &["syslog", ":", "count"],
        &["combined", ":", "head", "2"],
        // --strict names the line by its number in the file: files whole, not in parts.
        &["parse", "--strict", r"^(?P<f>\d+) "],
        &["parse", "--strict", "--type", "f=int", r"^(?P<f>\S+) "],
    ];
    for rest in pipelines {
        let one = copipe(args(1, &files, rest, true)).run();
        for part in ["64K", "32M"] {
            let many = copipe(parts_args(2, part, &files, rest, true)).run();
            assert!(
                one.out == many.out,
                "{rest:?} {part}: the outputs differ\n--- one thread\n{}\n--- workers\n{}",
                one.stdout(),
                many.stdout()
            );
            assert_eq!(one.code, many.code, "{rest:?} {part}");
            let said = |err: &str| {
                err.lines()
                    .filter(|l| l.starts_with("copipe: ") && !l.contains("stats after"))
                    .map(String::from)
                    .collect::<Vec<_>>()
            };
            assert_eq!(said(&one.err), said(&many.err), "{rest:?} {part}");
            // (After a `head`, the bytes read before it stopped the workers are not all
            // counted, and without them `--stats` says nothing of how `cat` read.)
            if !rest.contains(&"head") {
                assert_eq!(rows(&one.err), rows(&many.err), "{rest:?} {part}");
                assert!(
                    many.err.contains("read by 2 threads"),
                    "{rest:?} {part}: on the workers\n{}",
                    many.err
                );
            }
            if part == "64K" && !rest.contains(&"head") {
                // Parts but with --strict.
                let in_parts = many.err.contains("big files in");
                assert_eq!(
                    in_parts,
                    !rest.contains(&"--strict"),
                    "{rest:?}\n{}",
                    many.err
                );
            }
        }
        // The notes are there to compare (after a `head`, the count of the values met
        // before it stopped).
        if rest[0] == "parse" && !rest.contains(&"--keep") && !rest.contains(&"--strict") {
            if !rest.contains(&"head") {
                one.err_has("copipe: parse: ");
            } else if rest.contains(&"rest=float") {
                one.err_has("copipe: parse: 3000 values of `rest` did not convert to float");
            }
        }
    }
}

/// The warning about a line `--max-line` cut names the line by its number in the file, also
/// when the line is in a later part than the first (it named it by its number in the part).
#[test]
fn a_line_cut_in_a_later_part_is_named_by_its_line_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("late.log");
    let mut s = Vec::new();
    // (Big enough to be read in parts: 4 MiB and more.)
    for i in 0..300_000u32 {
        writeln!(s, "{i} short line").unwrap();
    }
    writeln!(s, "{}", "x".repeat(500)).unwrap();
    for i in 0..1000u32 {
        writeln!(s, "{i} after").unwrap();
    }
    std::fs::write(&path, &s).unwrap();
    let p = path.display().to_string();
    for rest in [&["grep", "-v", "zzz"][..], &["logfmt", "--keep"]] {
        let mut one = vec!["--max-line=200", "cat", "--threads=1", &p, ":"];
        one.extend(rest);
        let mut parts = vec![
            "--stats",
            "--max-line=200",
            "cat",
            "--threads=2",
            "--part-size=64K",
            &p,
            ":",
        ];
        parts.extend(rest);
        let one = copipe(&one).run();
        let parts = copipe(&parts).run();
        assert!(one.out == parts.out, "{rest:?}");
        let warning = format!("{p}:300001: line longer than 200 bytes");
        one.err_has(&warning);
        parts.err_has(&warning);
        assert_eq!(parts.err.matches("longer than").count(), 1, "{}", parts.err);
        assert!(parts.err.contains("big file in"), "in parts: {}", parts.err);
    }
}
