//! `--max-line BYTES`: a longer line is cut at the limit, the rest of it up to its newline
//! dropped, with one warning per input naming the file and the line; memory stays within a
//! few times the limit whatever the input, and the output never depends on whether a file
//! was mapped (big regular files), read (pipes, small files) or followed.

use crate::common;

use std::fs::OpenOptions;
use std::io::Write;
use std::process::Stdio;

use common::*;

/// Lines of every length around the limit, two of them far longer, past 4 MiB in all (so
/// that `cat FILE` maps it).
fn mixed(max: usize) -> Vec<u8> {
    let mut s = Vec::new();
    for i in 0..3000 {
        let len = (i * 37) % (max + 40);
        s.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, len));
        s.push(b'\n');
        if i == 1000 {
            s.extend(vec![b'L'; 3 << 20]);
            s.push(b'\n');
        }
    }
    s.extend(vec![b'T'; 2 << 20]);
    s
}

/// The lines of `data` cut to `max` bytes, each with its newline.
fn cut(data: &[u8], max: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    for line in body.split(|&b| b == b'\n') {
        out.extend_from_slice(&line[..line.len().min(max)]);
        out.push(b'\n');
    }
    out
}

#[test]
fn max_line_cuts_a_mapped_file_and_a_pipe_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("long.log");
    for max in [100, 4096, 1 << 20] {
        let data = mixed(max);
        std::fs::write(&file, &data).unwrap();
        let want = cut(&data, max);
        let max_arg = max.to_string();
        let mapped = copipe(["--max-line", &max_arg, "cat", "long.log"])
            .dir(dir.path())
            .run();
        let piped = copipe(["--max-line", &max_arg, "cat", "-"])
            .stdin(data.clone())
            .run();
        assert_eq!(mapped.code, 0, "{}", mapped.err);
        assert_eq!(piped.code, 0, "{}", piped.err);
        assert!(mapped.out == want, "mapped, --max-line {max}");
        assert!(piped.out == want, "piped, --max-line {max}");
        // Line 1002 is the 3 MiB one; with a small limit, earlier ones are cut already.
        let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
        let first = lines.iter().position(|l| l.len() > max).unwrap();
        let offset: usize = lines[..first].iter().map(|l| l.len() + 1).sum();
        let size = if max == 1 << 20 {
            "1M".to_string()
        } else if max == 4096 {
            "4K".to_string()
        } else {
            format!("{max} bytes")
        };
        let warning = |name: &str| {
            if name == "long.log" {
                format!(
                    "copipe: warning: long.log:{}: line longer than {size} (--max-line), cut\n",
                    first + 1
                )
            } else {
                format!(
                    "copipe: warning: {name}: the line at byte {offset} is longer than {size} (--max-line), cut\n"
                )
            }
        };
        assert_eq!(mapped.err, warning("long.log"), "--max-line {max}");
        assert_eq!(piped.err, warning("standard input"), "--max-line {max}");
    }
}

#[test]
fn cut_lines_are_counted_by_stats() {
    let mut data = b"short\n".to_vec();
    data.extend(vec![b'x'; 300]);
    data.extend_from_slice(b"\nok\n");
    data.extend(vec![b'y'; 300]);
    let r = copipe(["--stats", "--max-line", "100", "cat", "-", ":", "count"])
        .stdin(data.clone())
        .run();
    r.code(0).out("4\n");
    r.err_has("standard input: the line at byte 6 is longer than 100 bytes (--max-line), cut");
    r.err_has("2 long lines cut (--max-line)");
    // A small regular file is read, not mapped: its lines are counted for the warning.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("small.log"), &data).unwrap();
    let r = copipe(["--max-line", "100", "cat", "small.log", ":", "count"])
        .dir(dir.path())
        .run();
    r.code(0).out("4\n");
    assert_eq!(
        r.err,
        "copipe: warning: small.log:2: line longer than 100 bytes (--max-line), cut\n"
    );
}

#[test]
fn max_line_takes_sizes_with_suffixes_and_refuses_nonsense() {
    let r = copipe(["--max-line", "1K", "cat", "-"])
        .stdin(vec![b'k'; 5000])
        .run();
    r.code(0);
    assert_eq!(r.out.len(), 1025);
    copipe(["--max-line", "0", "cat", "-"])
        .run()
        .code(2)
        .err_has("at least 1 byte");
    copipe(["--max-line", "10Q", "cat", "-"])
        .run()
        .code(2)
        .err_has("unknown unit");
}

/// Peak resident size of a running process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn an_endless_line_through_a_pipe_keeps_memory_within_the_limit() {
    // 256 MiB without a newline, limit 1 MiB: the reader must not hold the line.
    let mut cmd = copipe([
        "--max-line",
        "1M",
        "cat",
        "-",
        ":",
        "grep",
        "x",
        ":",
        "count",
    ])
    .command();
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..256 {
        stdin.write_all(&zeros).unwrap();
    }
    // Everything but what the pipe holds was read: the peak is known now.
    let peak = peak_rss_kib(child.id());
    stdin.write_all(b"\nx\n").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("standard input: the line at byte 0 is longer than 1M"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(peak < 48 * 1024, "peak RSS {peak} KiB for a 1 MiB limit");
}

#[test]
fn follow_holds_a_partial_line_only_to_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.log");
    let b = dir.path().join("b.log");
    std::fs::write(&a, "").unwrap();
    std::fs::write(&b, "").unwrap();
    let mut live = copipe(["--max-line", "1K", "follow", "-n", "0", "a.log", "b.log"])
        .dir(dir.path())
        .spawn();
    live.wait_open(&a);
    live.wait_open(&b);
    let append = |path: &std::path::Path, bytes: &[u8]| {
        let mut f = OpenOptions::new().append(true).open(path).unwrap();
        f.write_all(bytes).unwrap();
    };
    // A's line grows past the limit in pieces, b's lines come in between (the reader
    // serves both: a's state is stashed and taken up again).
    append(&a, &vec![b'a'; 700]);
    append(&b, b"b1\n");
    live.wait_out("b1", |o| o.contains("b1\n"));
    append(&a, &vec![b'a'; 700]);
    live.wait_err("a.log: a line longer than 1K (--max-line), cut");
    append(&b, b"b2\n");
    live.wait_out("b2", |o| o.contains("b2\n"));
    append(&a, &vec![b'a'; 5000]);
    append(&a, b"-end of the long line\na2\n");
    live.wait_out("a2", |o| o.contains("a2\n"));
    let out = live.out();
    // Without the `==> name <==` headers of several files.
    let mut lines: Vec<&str> = out
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with("==>"))
        .collect();
    lines.sort();
    let long = "a".repeat(1024);
    assert_eq!(lines, ["a2", long.as_str(), "b1", "b2"]);
    live.stop();
}

#[test]
fn json_of_a_line_past_max_line_is_warned_about_whatever_the_reader() {
    // Issue 23 item 10: from a mapped file, the cut line's JSON error ended the run before
    // the warning, which was given only at the end of the input: `json` cut a line over
    // 16 MB without a word. Each reader now warns before the error.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.json");
    // A JSON line of 5 MiB between two short ones: the file is mapped (over 4 MiB).
    let long = format!("{{\"a\":\"{}\"}}", "x".repeat(5 << 20));
    let data = format!("{{\"n\":1}}\n{long}\n{{\"n\":3}}\n");
    std::fs::write(&file, &data).unwrap();
    let not_json = "big.json:2:6: not JSON: a string is not closed";
    let mapped = copipe(["--max-line", "1M", "cat", "big.json", ":", "json"])
        .dir(dir.path())
        .run();
    mapped
        .code(2)
        .out("{\"n\":1}\n")
        .err_has("copipe: warning: big.json:2: line longer than 1M (--max-line), cut")
        .err_has(not_json);
    assert!(
        mapped.err.find("warning").unwrap() < mapped.err.find("not JSON").unwrap(),
        "{}",
        mapped.err
    );
    let piped = copipe(["--max-line", "1M", "json"])
        .stdin(data.clone())
        .run();
    piped
        .code(2)
        .err_has("standard input: the line at byte 8 is longer than 1M (--max-line), cut")
        .err_has("standard input:2:6: not JSON");
    // With --skip-bad, the run goes on, and the warning is still given.
    let skipped = copipe([
        "--max-line",
        "1M",
        "cat",
        "big.json",
        ":",
        "json",
        "--skip-bad",
    ])
    .dir(dir.path())
    .run();
    skipped
        .code(0)
        .out("{\"n\":1}\n{\"n\":3}\n")
        .err_has("big.json:2: line longer than 1M (--max-line), cut");
}
