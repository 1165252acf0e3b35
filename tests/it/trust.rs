//! Issue 23: follow and files — no line lost, invented or repeated. One regression test per
//! item (the fault matrix across sources is `tests/it/faults.rs`; truncation while reading is
//! `tests/it/truncation.rs`).

use crate::common;

use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::*;

/// A process id that has already ended: `follow --pid` with it reads what is there and
/// stops.
fn ended_pid() -> String {
    let mut c = std::process::Command::new("true").spawn().unwrap();
    c.wait().unwrap();
    c.id().to_string()
}

/// Run `copipe ARGS >> out` (standard output appended to `out`, a regular file) in `dir`,
/// bounded in time: its exit status, stderr, and the size of `out` after.
fn with_stdout_into(dir: &Path, out: &str, args: &[&str]) -> (i32, String, u64) {
    let file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(out))
        .unwrap();
    let mut cmd = copipe(args).dir(dir).command();
    cmd.stdout(Stdio::from(file))
        .stderr(Stdio::piped())
        .stdin(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let mut status = None;
    wait_until(Duration::from_secs(10), || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("copipe {args:?} did not end: it reads back what it writes");
    };
    let mut err = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let size = fs::metadata(dir.join(out)).unwrap().len();
    (status.code().unwrap_or(-1), err, size)
}

// Item 6: standard output is an input.

#[test]
fn stdout_that_is_an_input_is_refused_before_anything_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = numbers(1, 20_000);
    for args in [
        &["cat", "f"][..],
        &["follow", "f"],
        &["follow", "-n", "+1", "*"],
        &["cat", "g", "f", ":", "grep", "1"],
        &["merge", "{", "follow", "g", "}", "{", "follow", "f", "}"],
    ] {
        fs::write(d.join("f"), &text).unwrap();
        fs::write(d.join("g"), "g\n").unwrap();
        let (code, err, size) = with_stdout_into(d, "f", args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(
            err.contains("standard output is `f`") && err.contains("input file is output file"),
            "{args:?}: {err}"
        );
        assert_eq!(size, text.len() as u64, "{args:?}: f was written to");
    }
    // Standard input redirected from the output file.
    fs::write(d.join("f"), &text).unwrap();
    let file = fs::File::open(d.join("f")).unwrap();
    let out = fs::OpenOptions::new()
        .append(true)
        .open(d.join("f"))
        .unwrap();
    let mut cmd = copipe(["grep", "1"]).dir(d).command();
    cmd.stdin(Stdio::from(file)).stdout(Stdio::from(out));
    let o = cmd.output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("the file standard input comes from"));
    // Another file, or no file at all, is fine.
    let (code, err, size) = with_stdout_into(d, "other", &["cat", "f"]);
    assert_eq!((code, err.as_str(), size), (0, "", text.len() as u64));
}

// Item 7: a count whose pipeline failed.

#[test]
fn a_count_whose_pipeline_failed_is_not_printed_as_a_result() {
    if !Path::new("/dev/full").exists() {
        eprintln!("note: no /dev/full; skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("n"), numbers(1, 100_000)).unwrap();
    for args in [
        &[
            "cat",
            "n",
            ":",
            "broadcast",
            "{",
            "write",
            "/dev/full",
            "}",
            "{",
            "count",
            "}",
        ][..],
        &[
            "cat",
            "n",
            ":",
            "tee",
            "{",
            "write",
            "/dev/full",
            "}",
            ":",
            "count",
        ],
    ] {
        let r = copipe(args).dir(dir.path()).run();
        r.code(2);
        assert_eq!(
            r.stdout(),
            "",
            "{args:?}: a partial count printed as the result"
        );
        r.err_has("No space left on device")
            .err_has("count: not printed, the pipeline failed");
    }
    // Without the failure, the count is the result.
    copipe([
        "cat",
        "n",
        ":",
        "broadcast",
        "{",
        "write",
        "/dev/null",
        "}",
        "{",
        "count",
        "}",
    ])
    .dir(dir.path())
    .run()
    .code(0)
    .out("100000\n");
}

// Item 8: the state file's lock.

#[test]
fn a_second_follow_on_the_same_state_is_refused_naming_the_first() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.log"), "a\n").unwrap();
    let first = follow(dir.path(), ["-n", "+1", "--state", "s", "a.log"]);
    first.wait_out_eq("a\n");
    // The checkpoint is written after the line was flushed, a moment after it shows: wait
    // for it, so that the run after this one (once it is killed) resumes past the line.
    let state = dir.path().join("s");
    let checkpointed = || {
        fs::read_to_string(&state)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|v| v["files"][0]["offset"] == 2)
    };
    assert!(
        wait_until(DEADLINE, checkpointed),
        "the state never recorded a.log read to its end: {:?}\n--- stderr\n{}",
        fs::read_to_string(&state),
        first.err()
    );
    let r = copipe(["follow", "--state", "s", "a.log"])
        .dir(dir.path())
        .run();
    r.code(2).err_has(&format!(
        "the state s is in use by another copipe (pid {})",
        first.child.id()
    ));
    assert_eq!(r.stdout(), "");
    drop(first);
    // Once the first is gone, the state is free again (nothing new: status 1).
    let r = copipe(["follow", "--state", "s", "--pid", &ended_pid(), "a.log"])
        .dir(dir.path())
        .run();
    r.code(1);
    assert_eq!(r.err, "");
}

// Item 9: names with a newline in tags and headers.

#[test]
fn a_newline_in_a_file_name_is_escaped_in_tags_and_headers() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a\nb.log"), "one\ntwo\n").unwrap();
    fs::write(dir.path().join("c.log"), "three\n").unwrap();
    copipe(["cat", "--tag", "a\nb.log"])
        .dir(dir.path())
        .run()
        .code(0)
        .out("a\\nb.log:one\na\\nb.log:two\n");
    let pid = ended_pid();
    copipe(["follow", "--tag", "-n", "+1", "--pid", &pid, "a\nb.log"])
        .dir(dir.path())
        .run()
        .code(0)
        .out("a\\nb.log:one\na\\nb.log:two\n");
    copipe(["follow", "-n", "+1", "--pid", &pid, "a\nb.log", "c.log"])
        .dir(dir.path())
        .run()
        .code(0)
        .out("==> a\\nb.log <==\none\ntwo\n\n==> c.log <==\nthree\n");
}

// Item 1: a file renamed out of the globs.

#[test]
fn a_file_renamed_out_of_the_globs_is_read_on_until_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("a.log"), "first\n").unwrap();
    let mut cp = follow(d, ["-n", "+1", "-q", "--rotate-wait", "2s", "*.log"]);
    cp.wait_out_eq("first\n");
    // The daemon's descriptor stays on the old file across logrotate's rename.
    let mut old = fs::OpenOptions::new()
        .append(true)
        .open(d.join("a.log"))
        .unwrap();
    use std::io::Write;
    fs::rename(d.join("a.log"), d.join("a.log.1")).unwrap();
    old.write_all(b"after-rename\n").unwrap();
    fs::write(d.join("a.log"), "new\n").unwrap();
    cp.wait_out("every line", |o| {
        o.contains("after-rename\n") && o.contains("new\n")
    });
    old.write_all(b"late-old\n").unwrap();
    cp.wait_out_ends("late-old\n");
    // Quiet for the rotate wait: closed (counted by --stats), later writes not read.
    std::thread::sleep(Duration::from_millis(3500));
    old.write_all(b"too-late\n").unwrap();
    append(&d.join("a.log"), "newer\n");
    cp.wait_out_ends("newer\n");
    assert_eq!(cp.stop(), 0);
    assert!(!cp.out().contains("too-late"), "{}", cp.out());
    let mut lines: Vec<String> = cp.out().lines().map(String::from).collect();
    lines.sort();
    assert_eq!(
        lines,
        ["after-rename", "first", "late-old", "new", "newer"],
        "{}",
        cp.err()
    );
}

#[test]
fn a_file_renamed_out_of_the_globs_then_kill_9_loses_nothing_with_state() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("a.log"), "first\n").unwrap();
    let args = ["-n", "+1", "-q", "--state", "s", "*.log"];
    let mut cp = follow(d, args);
    cp.wait_out_eq("first\n");
    // Wait for the checkpoint of `first` to be written.
    assert!(wait_until(DEADLINE, || fs::read_to_string(d.join("s"))
        .is_ok_and(|s| s.contains("\"offset\":6"))));
    let mut old = fs::OpenOptions::new()
        .append(true)
        .open(d.join("a.log"))
        .unwrap();
    use std::io::Write;
    fs::rename(d.join("a.log"), d.join("a.log.1")).unwrap();
    old.write_all(b"after-rename\n").unwrap();
    fs::write(d.join("a.log"), "new\n").unwrap();
    cp.wait_out("both", |o| o.contains("after-rename") && o.contains("new"));
    old.write_all(b"late-old\n").unwrap();
    cp.wait_out_ends("late-old\n");
    cp.signal(libc::SIGKILL);
    cp.exit_code();
    let before = cp.out();
    // While stopped, the writer still writes to the old file.
    old.write_all(b"while-stopped\n").unwrap();
    let again = copipe([
        "follow",
        "--pid",
        &ended_pid(),
        "-n",
        "+1",
        "-q",
        "--state",
        "s",
        "*.log",
    ])
    .dir(d)
    .run();
    again.code(0);
    let all = format!("{before}{}", again.stdout());
    for line in ["first", "after-rename", "new", "late-old", "while-stopped"] {
        assert!(
            all.lines().any(|l| l == line),
            "{line} lost:\n{all}\n{}",
            again.err
        );
    }
}

/// One `follow --state` session of f.log in `d` to its end (the writer `pid` has ended).
fn session(d: &Path, pid: &str) -> Run {
    copipe(["follow", "-n", "+1", "--state", "s", "--pid", pid, "f.log"])
        .dir(d)
        .run()
}

// Item 2: copytruncate while copipe is stopped.

#[test]
fn copytruncate_while_stopped_reads_the_rotated_copy_first() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pid = ended_pid();
    let run = || session(d, &pid);
    fs::write(d.join("f.log"), numbers(1, 5)).unwrap();
    assert_eq!(run().code(0).stdout(), numbers(1, 5));
    append(&d.join("f.log"), &numbers(6, 10));
    // logrotate's copytruncate, to a dated name.
    fs::copy(d.join("f.log"), d.join("f.log-20261207")).unwrap();
    fs::write(d.join("f.log"), "").unwrap();
    append(&d.join("f.log"), &numbers(11, 12));
    let r = run();
    r.code(0).out(&numbers(6, 12)).err_has(
        "f.log: file truncated while copipe was stopped; reading the rest of its old content from f.log-20261207 first",
    );
    // Then on as usual: nothing twice.
    append(&d.join("f.log"), &numbers(13, 13));
    run().code(0).out("13\n");
}

#[test]
fn copytruncate_while_stopped_without_a_rotated_copy_says_what_could_not_be_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pid = ended_pid();
    let run = || session(d, &pid);
    fs::write(d.join("f.log"), numbers(1, 5)).unwrap();
    run().code(0);
    fs::write(d.join("f.log"), "x\n").unwrap();
    run().code(0).out("x\n").err_has(
        "f.log: file truncated while copipe was stopped; reading it from its start — what was written to its old content after byte 10 could not be recovered",
    );
}

#[test]
fn an_inode_reused_while_stopped_reads_the_rotated_copy_first() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pid = ended_pid();
    let run = || session(d, &pid);
    fs::write(d.join("f.log"), numbers(1, 5)).unwrap();
    run().code(0);
    append(&d.join("f.log"), &numbers(6, 8));
    fs::copy(d.join("f.log"), d.join("f.log.1")).unwrap();
    // Rewritten in place with other bytes, longer than the offset: the same inode,
    // other first bytes.
    fs::write(d.join("f.log"), "another file, longer than ten bytes\n").unwrap();
    run()
        .code(0)
        .out(&format!(
            "{}another file, longer than ten bytes\n",
            numbers(6, 8)
        ))
        .err_has("other first bytes than the file of the state")
        .err_has("from f.log.1 first");
}

#[test]
fn copytruncate_while_running_reads_the_unread_rest_from_the_rotated_copy() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("f.log"), numbers(1, 3)).unwrap();
    // Paused (SIGSTOP) while the rest is written, copied and truncated: what it had not
    // read yet is only in the copy.
    let mut cp = follow(d, ["-n", "+1", "f.log"]);
    cp.wait_out_eq(&numbers(1, 3));
    cp.signal(libc::SIGSTOP);
    append(&d.join("f.log"), &numbers(4, 6));
    fs::copy(d.join("f.log"), d.join("f.log.1")).unwrap();
    fs::write(d.join("f.log"), "").unwrap();
    append(&d.join("f.log"), &numbers(7, 7));
    cp.signal(libc::SIGCONT);
    cp.wait_out_eq(&numbers(1, 7));
    cp.wait_err("f.log: reading what was not read yet of its old content from f.log.1");
    assert_eq!(cp.stop(), 0);
}

// Item 4: the README's copytruncate step, once follow has shown a first line.

#[test]
fn copytruncate_after_the_first_line_is_seen_every_time_in_50_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for run in 0..50 {
        let log = d.join("app.log");
        fs::write(&log, "").unwrap();
        let mut cp = follow(d, ["-n", "0", "app.log"]);
        cp.wait_open(&log);
        append(&log, "10:03 ERROR in the new file\n");
        cp.wait_out_eq("10:03 ERROR in the new file\n");
        // `: > app.log; echo "10:04 error after copytruncate" >> app.log`, as fast as a
        // shell runs it.
        fs::write(&log, "").unwrap();
        append(&log, "10:04 error after copytruncate\n");
        cp.wait_out_eq("10:03 ERROR in the new file\n10:04 error after copytruncate\n");
        cp.wait_err("app.log: file truncated");
        assert_eq!(cp.stop(), 0, "run {run}");
        assert_eq!(cp.err(), "copipe: app.log: file truncated\n", "run {run}");
    }
}

// Issue 23's leftover: a glob that matches the rotated names too (`*.log*`) over
// logrotate's copytruncate: the copy's content was read already as the file it copies.

/// The count of each line in `out`, sorted by line.
fn counted(out: &str) -> Vec<(String, usize)> {
    let mut m = std::collections::BTreeMap::new();
    for l in out.lines() {
        *m.entry(l.to_string()).or_insert(0) += 1;
    }
    m.into_iter().collect()
}

fn once_each(lines: &str) -> Vec<(String, usize)> {
    counted(lines)
}

/// The copy found by the globs before the truncation is seen (copipe paused while
/// logrotate copies and truncates), then again with the truncation free to be seen first:
/// every line once, none of the copy's lines twice.
#[test]
fn a_glob_matching_the_copytruncate_copy_does_not_read_it_again() {
    for paused in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("f.log"), numbers(1, 3)).unwrap();
        let mut cp = follow(d, ["-n", "+1", "-q", "*.log*"]);
        cp.wait_out_eq(&numbers(1, 3));
        if paused {
            cp.signal(libc::SIGSTOP);
        }
        append(&d.join("f.log"), &numbers(4, 6));
        // logrotate's copytruncate.
        fs::copy(d.join("f.log"), d.join("f.log.1")).unwrap();
        fs::write(d.join("f.log"), "").unwrap();
        append(&d.join("f.log"), &numbers(7, 7));
        if paused {
            cp.signal(libc::SIGCONT);
        }
        cp.wait_out("lines 1 to 7", |o| counted(o).len() == 7);
        // Then on as usual; what came twice would have come by now.
        append(&d.join("f.log"), &numbers(8, 8));
        cp.wait_out("line 8", |o| o.lines().any(|l| l == "8"));
        assert_eq!(cp.stop(), 0);
        assert_eq!(
            counted(&cp.out()),
            once_each(&numbers(1, 8)),
            "paused {paused}: {}",
            cp.err()
        );
    }
}

/// The same while copipe is stopped (`--state`): the rest of the old content comes once,
/// the copy is not read again from its start.
#[test]
fn a_glob_matching_the_copytruncate_copy_made_while_stopped_does_not_read_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pid = ended_pid();
    let run = || {
        copipe([
            "follow", "-n", "+1", "-q", "--state", "s", "--pid", &pid, "*.log*",
        ])
        .dir(d)
        .run()
    };
    fs::write(d.join("f.log"), numbers(1, 5)).unwrap();
    assert_eq!(run().code(0).stdout(), numbers(1, 5));
    append(&d.join("f.log"), &numbers(6, 10));
    fs::copy(d.join("f.log"), d.join("f.log.1")).unwrap();
    fs::write(d.join("f.log"), "").unwrap();
    append(&d.join("f.log"), &numbers(11, 12));
    let r = run();
    assert_eq!(
        counted(&r.stdout()),
        once_each(&numbers(6, 12)),
        "{}",
        r.err
    );
    // Then on as usual: nothing twice.
    append(&d.join("f.log"), &numbers(13, 13));
    run().code(0).out("13\n");
}
