//! `follow` (issue 3): the real binary on real files in temp dirs, with real renames,
//! truncations and deletions. Every wait is a bounded poll on the collected output
//! (`Live::wait_out…`, 10 s deadline); none is a sleep that hopes.

use crate::common;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use common::*;

// 1. Start: -n N (default 10), -n 0, -n +K; then every appended line once, in order.

#[test]
fn starts_with_the_last_ten_lines_then_every_appended_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("app.log");
    fs::write(&f, numbers(1, 20)).unwrap();
    let mut cp = follow(dir.path(), ["app.log"]);
    cp.wait_out_eq(&numbers(11, 20));
    append(&f, "21\n22\n");
    cp.wait_out_eq(&numbers(11, 22));
    for i in 23..=40 {
        append(&f, &format!("{i}\n"));
    }
    cp.wait_out_eq(&numbers(11, 40));
    assert_eq!(cp.stop(), 0);
    assert_eq!(cp.out(), numbers(11, 40));
    assert_eq!(cp.err(), "");
}

#[test]
fn n_zero_shows_only_new_lines() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("app.log");
    fs::write(&f, "old\n").unwrap();
    let mut cp = follow(dir.path(), ["-n", "0", "app.log"]);
    cp.wait_open(&f);
    // Only the appended line proves that the old one was skipped, not merely late.
    append(&f, "new\n");
    cp.wait_out_eq("new\n");
    assert_eq!(cp.stop(), 0);
    assert_eq!(cp.out(), "new\n");
}

#[test]
fn n_plus_k_starts_at_line_k_even_beyond_the_current_end() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("a.log");
    fs::write(&f, numbers(1, 5)).unwrap();
    let mut cp = follow(dir.path(), ["-n", "+3", "a.log"]);
    cp.wait_out_eq("3\n4\n5\n");
    append(&f, "6\n");
    cp.wait_out_eq(&numbers(3, 6));
    cp.stop();

    let g = dir.path().join("b.log");
    fs::write(&g, "1\n2\n").unwrap();
    let mut cp = follow(dir.path(), ["-n", "+4", "b.log"]);
    append(&g, "3\n4\n5\n");
    cp.wait_out_eq("4\n5\n");
    cp.stop();
    assert_eq!(cp.out(), "4\n5\n");
}

#[test]
fn last_lines_of_a_big_file_and_an_unterminated_last_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("big.log");
    fs::write(&f, numbers(1, 300_000)).unwrap();
    let mut cp = follow(dir.path(), ["-n", "3", "big.log"]);
    cp.wait_out_eq(&numbers(299_998, 300_000));
    cp.stop();

    // tail counts an unterminated last line; copipe holds it until its newline.
    let g = dir.path().join("part.log");
    fs::write(&g, "1\n2\n3\n4").unwrap();
    let mut cp = follow(dir.path(), ["-n", "2", "part.log"]);
    cp.wait_out_eq("3\n");
    append(&g, "5\n");
    cp.wait_out_eq("3\n45\n");
    cp.stop();
}

// 2. Rotation by rename.

#[test]
fn rotation_by_rename_reads_the_old_file_to_its_end_then_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("app.log");
    fs::write(&f, "1\n").unwrap();
    let mut cp = follow(dir.path(), ["app.log"]);
    cp.wait_out_eq("1\n");
    let mut old = OpenOptions::new().append(true).open(&f).unwrap();
    old.write_all(b"2\n").unwrap();
    fs::rename(&f, dir.path().join("app.log.1")).unwrap();
    // The writer has not switched yet: these still go to the old file.
    old.write_all(b"3\n4\n").unwrap();
    drop(old);
    fs::write(&f, "5\n").unwrap();
    cp.wait_out_eq(&numbers(1, 5));
    append(&f, "6\n");
    cp.wait_out_eq(&numbers(1, 6));
    cp.wait_err("app.log has been replaced; following new file");
    assert_eq!(cp.stop(), 0);
    assert_eq!(cp.out(), numbers(1, 6));
}

/// 50 rotations; each time lines go to the old file after its rename, before the new one
/// is created. The writer rotates again only once copipe has shown the newest line, as a
/// logger rotating every second would be far behind anyway.
fn rotate_fifty_times(extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("app.log");
    fs::write(&f, "").unwrap();
    let mut args: Vec<&str> = extra.to_vec();
    args.push("app.log");
    let mut cp = follow(dir.path(), args);
    cp.wait_open(&f);
    let mut seq = 0u32;
    let mut want = String::new();
    for _ in 0..50 {
        let mut file = OpenOptions::new().append(true).open(&f).unwrap();
        for _ in 0..20 {
            seq += 1;
            writeln!(file, "{seq}").unwrap();
            want.push_str(&format!("{seq}\n"));
        }
        cp.wait_out_eq(&want);
        fs::rename(&f, dir.path().join("app.log.1")).unwrap();
        for _ in 0..5 {
            seq += 1;
            writeln!(file, "{seq}").unwrap();
            want.push_str(&format!("{seq}\n"));
        }
        drop(file);
        File::create(&f).unwrap();
    }
    cp.wait_out_eq(&want);
    assert_eq!(cp.stop(), 0);
    assert_eq!(cp.out(), want, "a line lost or repeated");
}

#[test]
fn fifty_rotations_lose_and_repeat_nothing() {
    rotate_fifty_times(&[]);
}

#[test]
fn fifty_rotations_with_polling_instead_of_notifications() {
    rotate_fifty_times(&["--poll", "20"]);
}

// 3. copytruncate and shorter rewrites.

#[test]
fn truncation_in_place_is_noticed_and_read_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("app.log");
    fs::write(&f, "a\nb\n").unwrap();
    let mut cp = follow(dir.path(), ["app.log"]);
    cp.wait_out_eq("a\nb\n");
    // copytruncate: copy, then truncate in place; the writer goes on appending.
    fs::copy(&f, dir.path().join("app.log.1")).unwrap();
    OpenOptions::new()
        .write(true)
        .open(&f)
        .unwrap()
        .set_len(0)
        .unwrap();
    cp.wait_err("copipe: app.log: file truncated");
    append(&f, "c regrown\n");
    cp.wait_out_eq("a\nb\nc regrown\n");
    // A shorter rewrite: `printf 'x\n' > app.log`.
    fs::write(&f, "x\n").unwrap();
    cp.wait_out_eq("a\nb\nc regrown\nx\n");
    append(&f, "y\n");
    cp.wait_out_eq("a\nb\nc regrown\nx\ny\n");
    assert_eq!(cp.stop(), 0);
    assert_eq!(
        cp.err().matches("file truncated").count(),
        2,
        "{}",
        cp.err()
    );
}

#[test]
fn shorter_rewrite_with_printf() {
    let dir = tempfile::tempdir().unwrap();
    let mut cp = follow(dir.path(), ["f"]);
    cp.wait_err("waiting for it to appear");
    let sh = |cmd: &str| {
        let ok = std::process::Command::new("sh")
            .args(["-c", cmd])
            .current_dir(dir.path())
            .status()
            .unwrap();
        assert!(ok.success());
    };
    sh(r"printf 'a\nb\n' > f");
    cp.wait_out_eq("a\nb\n");
    sh(r"printf 'x\n' > f");
    cp.wait_out_eq("a\nb\nx\n");
    cp.wait_err("f: file truncated");
    assert_eq!(cp.stop(), 0);
}

/// Run `act` while copipe is stopped (SIGSTOP, seen to take effect in `/proc`), so that
/// everything it does lands between two looks of copipe's, as on a loaded machine.
fn while_stopped(cp: &Live, act: impl FnOnce()) {
    let stat = format!("/proc/{}/stat", cp.child.id());
    let state = || {
        let s = fs::read_to_string(&stat).unwrap_or_default();
        s.rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next())
            .unwrap_or('?')
    };
    cp.signal(libc::SIGSTOP);
    assert!(
        wait_until(DEADLINE, || state() == 'T'),
        "copipe never stopped"
    );
    act();
    cp.signal(libc::SIGCONT);
}

#[test]
fn a_truncation_and_a_longer_write_landing_together_are_noticed() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("app.log");
    fs::write(&f, "10:03 old\n").unwrap();
    let mut cp = follow(dir.path(), ["app.log"]);
    cp.wait_out_eq("10:03 old\n");
    // The size goes 10 -> 0 -> 25 between two looks: never smaller than what was read.
    while_stopped(&cp, || {
        OpenOptions::new()
            .write(true)
            .open(&f)
            .unwrap()
            .set_len(0)
            .unwrap();
        append(&f, "10:04 after copytruncate\n");
    });
    cp.wait_out_eq("10:03 old\n10:04 after copytruncate\n");
    cp.wait_err("copipe: app.log: file truncated");
    // The same length, other first bytes.
    while_stopped(&cp, || fs::write(&f, "10:05 same length, other\n").unwrap());
    cp.wait_out_eq("10:03 old\n10:04 after copytruncate\n10:05 same length, other\n");
    // Appends after that are appends; the first bytes known grow with the file.
    append(&f, "more\n");
    cp.wait_out_ends("other\nmore\n");
    assert_eq!(cp.stop(), 0);
    assert_eq!(
        cp.out(),
        "10:03 old\n10:04 after copytruncate\n10:05 same length, other\nmore\n"
    );
    assert_eq!(
        cp.err().matches("file truncated").count(),
        2,
        "{}",
        cp.err()
    );
}

#[test]
fn a_short_file_that_grows_is_not_taken_for_a_rewrite() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("app.log");
    fs::write(&f, "a").unwrap();
    let mut cp = follow(dir.path(), ["app.log"]);
    cp.wait_open(&f);
    // Its first bytes are only known as far as the file went: growing past them, one
    // write at a time and several at once, is an append.
    append(&f, "b\n");
    cp.wait_out_eq("ab\n");
    while_stopped(&cp, || {
        for i in 0..40 {
            append(&f, &format!("line {i}\n"));
        }
    });
    cp.wait_out_ends("line 39\n");
    assert_eq!(cp.stop(), 0);
    assert_eq!(
        cp.out(),
        format!(
            "ab\n{}",
            (0..40).map(|i| format!("line {i}\n")).collect::<String>()
        )
    );
    assert_eq!(cp.err(), "");
}

/// README's cookbook recipe 1, run as written: each `$` command in a shell (while copipe is
/// stopped, so that a command's writes land together), then what the recipe shows — lines
/// on standard output, `copipe:` notes on standard error.
#[test]
fn readme_cookbook_follow_recipe_works_as_written() {
    let readme =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme
        .find("**1. Follow a log across rotation and truncation")
        .expect("cookbook recipe 1 in README.md");
    // The recipe's ```console block (marked not-run for the docs test: it is run here).
    let block: Vec<&str> = readme[start..]
        .lines()
        .skip_while(|l| !l.starts_with("```console"))
        .skip(1)
        .take_while(|l| !l.starts_with("```"))
        .collect();
    let (first, steps) = block.split_first().unwrap();
    let args: Vec<&str> = first
        .strip_prefix("$ copipe ")
        .and_then(|c| c.strip_suffix(" &"))
        .expect("the recipe starts copipe in the background")
        .split_whitespace()
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    fs::write(&log, "09:59 ERROR from before\n").unwrap();
    let mut cp = copipe(&args).dir(dir.path()).spawn();
    cp.wait_open(&log);
    let (mut out, mut err) = (String::new(), String::new());
    let mut commands = 0;
    for line in steps {
        if let Some(cmd) = line.strip_prefix("$ ") {
            // What the previous command showed has come, and only that.
            cp.wait_out_eq(&out);
            while_stopped(&cp, || {
                let ok = std::process::Command::new("sh")
                    .args(["-c", cmd])
                    .current_dir(dir.path())
                    .status()
                    .unwrap();
                assert!(ok.success(), "{cmd}");
            });
            commands += 1;
        } else if line.starts_with("copipe: ") {
            err.push_str(line);
            err.push('\n');
            cp.wait_err(line);
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(commands >= 4, "the recipe was read: {block:?}");
    cp.wait_out_eq(&out);
    assert_eq!(cp.stop(), 0);
    assert_eq!(cp.out(), out);
    assert_eq!(cp.err(), err);
}

// 4. Deletion, re-creation, names that do not exist yet.

#[test]
fn deleted_then_recreated_later() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("app.log");
    fs::write(&f, "one\n").unwrap();
    let mut cp = follow(dir.path(), ["app.log"]);
    cp.wait_out_eq("one\n");
    fs::remove_file(&f).unwrap();
    cp.wait_err("app.log has become inaccessible");
    fs::write(&f, "two\n").unwrap();
    cp.wait_out_eq("one\ntwo\n");
    cp.wait_err("app.log has appeared; following new file");
    append(&f, "three\n");
    cp.wait_out_eq("one\ntwo\nthree\n");
    assert_eq!(cp.stop(), 0);
}

#[test]
fn a_file_in_a_directory_that_does_not_exist_yet_is_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let mut cp = follow(dir.path(), ["logs/today/app.log"]);
    cp.wait_err("waiting for it to appear");
    let sub = dir.path().join("logs");
    fs::create_dir(&sub).unwrap();
    fs::create_dir(sub.join("today")).unwrap();
    let f = sub.join("today/app.log");
    fs::write(&f, "hello\n").unwrap();
    cp.wait_out_eq("hello\n");
    append(&f, "again\n");
    cp.wait_out_eq("hello\nagain\n");
    // A missing name is waited for, not an error.
    assert_eq!(cp.stop(), 0);
    let err = cp.err();
    assert_eq!(err.matches("waiting for").count(), 1, "said once: {err}");
    assert!(err.contains("logs/today/app.log has appeared"), "{err}");
}

// 5. Several files: interleaving, headers, tags, -q.

#[test]
fn several_files_interleave_with_headers_when_the_file_switches() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    fs::write(&a, "a0\na1\n").unwrap();
    fs::write(&b, "b1\n").unwrap();
    let mut cp = follow(dir.path(), ["-n", "1", "a.log", "b.log"]);
    let mut want = String::from("==> a.log <==\na1\n\n==> b.log <==\nb1\n");
    cp.wait_out_eq(&want);
    append(&a, "a2\n");
    want.push_str("\n==> a.log <==\na2\n");
    cp.wait_out_eq(&want);
    append(&a, "a3\n");
    want.push_str("a3\n");
    cp.wait_out_eq(&want);
    append(&b, "b2\n");
    want.push_str("\n==> b.log <==\nb2\n");
    cp.wait_out_eq(&want);
    assert_eq!(cp.stop(), 0);
}

#[test]
fn tag_prefixes_every_line_and_quiet_hides_headers() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    fs::write(&a, "a1\n").unwrap();
    fs::write(&b, "b1\n").unwrap();
    let mut cp = follow(dir.path(), ["--tag", "a.log", "b.log"]);
    cp.wait_out_eq("a.log:a1\nb.log:b1\n");
    append(&b, "b2\n");
    cp.wait_out_eq("a.log:a1\nb.log:b1\nb.log:b2\n");
    append(&a, "a2\n");
    cp.wait_out_eq("a.log:a1\nb.log:b1\nb.log:b2\na.log:a2\n");
    cp.stop();

    let mut cp = follow(dir.path(), ["-q", "-n", "1", "a.log", "b.log"]);
    cp.wait_out_eq("a2\nb2\n");
    append(&a, "a3\n");
    cp.wait_out_eq("a2\nb2\na3\n");
    cp.stop();

    // One file: no header unless -v.
    let mut cp = follow(dir.path(), ["-v", "-n", "1", "a.log"]);
    cp.wait_out_eq("==> a.log <==\na3\n");
    cp.stop();
}

// 6. Partial lines.

#[test]
fn a_partial_line_waits_for_its_newline() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    fs::write(&a, "").unwrap();
    fs::write(&b, "").unwrap();
    // b is read before a in every round, so once b's line is out, a's partial line
    // (written before it) has been read, and held.
    let mut cp = follow(dir.path(), ["-q", "b.log", "a.log"]);
    append(&a, "par");
    append(&b, "sync\n");
    cp.wait_out_eq("sync\n");
    append(&a, "tial\n");
    cp.wait_out_eq("sync\npartial\n");
    assert_eq!(cp.stop(), 0);
    assert_eq!(cp.out(), "sync\npartial\n");
}

#[test]
fn a_partial_line_is_emitted_when_its_file_is_rotated_away_not_when_copipe_stops() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("app.log");
    fs::write(&f, "first\n").unwrap();
    // The old file is read on until quiet for --rotate-wait (its writer may still end the
    // line): then its partial line is emitted as it is.
    let mut cp = follow(dir.path(), ["--rotate-wait", "300ms", "app.log"]);
    cp.wait_out_eq("first\n");
    append(&f, "end of the old file");
    fs::rename(&f, dir.path().join("app.log.1")).unwrap();
    fs::write(&f, "new\n").unwrap();
    cp.wait_out_eq("first\nnew\nend of the old file\n");
    append(&f, "cut short");
    assert_eq!(cp.stop(), 0);
    // Stopped in the middle of a line: the fragment is said, not emitted.
    assert_eq!(cp.out(), "first\nnew\nend of the old file\n");
    let err = cp.err();
    assert!(
        err.contains("interrupted: 9 bytes of an unfinished line in app.log not emitted"),
        "{err}"
    );
}

// 7. --pid, SIGINT, SIGTERM.

#[test]
fn pid_stops_after_reading_what_the_process_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("build.log");
    fs::write(&f, "start\n").unwrap();
    // The writer appends its last line when told to, and exits.
    let mut writer = std::process::Command::new("sh")
        .args(["-c", "read go; echo last >> build.log"])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = writer.id().to_string();
    let mut cp = follow(dir.path(), ["--pid", &pid, "build.log"]);
    cp.wait_out_eq("start\n");
    writer.stdin.take().unwrap().write_all(b"go\n").unwrap();
    assert!(writer.wait().unwrap().success());
    assert_eq!(cp.exit_code(), 0, "{}", cp.err());
    assert_eq!(cp.out(), "start\nlast\n");
}

#[test]
fn pid_of_a_process_already_gone_reads_once_and_ends() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.log"), "x\ny\n").unwrap();
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    let pid = gone.id().to_string();
    copipe(["follow", "--pid", &pid, "a.log"])
        .dir(dir.path())
        .run()
        .code(0)
        .out("x\ny\n");
}

#[test]
fn sigint_flushes_and_exits_130_sigterm_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("app.log");
    fs::write(&f, "").unwrap();
    // Into grep and count: buffered output of every stage must be flushed at the end.
    let mut cp = follow(dir.path(), ["app.log", ":", "tee", "{", "count", "}"]);
    append(&f, "x\n");
    cp.wait_out_eq("x\n");
    cp.signal(libc::SIGINT);
    assert_eq!(cp.exit_code(), 130, "{}", cp.err());
    assert_eq!(cp.out(), "x\n1\n");

    // Nothing delivered: still 0, a requested stop. (The note about the missing name
    // says that copipe is running, signal handlers installed.)
    let mut cp = follow(dir.path(), ["-n", "0", "app.log", "later.log"]);
    cp.wait_err("waiting for it to appear");
    assert_eq!(cp.stop(), 0);
    assert_eq!(cp.out(), "");
}

#[test]
fn a_partial_line_at_ctrl_c_or_sigterm_is_not_emitted() {
    for (sig, code) in [(libc::SIGINT, 130), (libc::SIGTERM, 0)] {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("app.log");
        fs::write(&f, "").unwrap();
        let mut cp = follow(dir.path(), ["app.log", ":", "tee", "{", "count", "}"]);
        cp.wait_open(&f);
        append(&f, "x\n");
        cp.wait_out_eq("x\n");
        // The logger is in the middle of `held\n`: a fragment, not a line.
        // (Read when it arrives, or on the signal: what is written is read before ending.)
        append(&f, "he");
        cp.signal(sig);
        assert_eq!(cp.exit_code(), code, "{}", cp.err());
        assert_eq!(cp.out(), "x\n1\n", "signal {sig}");
        let err = cp.err();
        assert!(
            err.contains(
                "copipe: interrupted: 2 bytes of an unfinished line in app.log not emitted"
            ),
            "signal {sig}: {err}"
        );
    }
}

// 8. A closed output pipe while nothing arrives.

#[test]
fn closed_output_pipe_ends_copipe_while_idle() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("quiet.log"), "only line\n").unwrap();
    let mut cmd = copipe(["follow", "quiet.log"]).dir(dir.path()).command();
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\n") {
        assert_eq!(out.read(&mut byte).unwrap(), 1, "copipe ended early");
        got.push(byte[0]);
    }
    assert_eq!(got, b"only line\n");
    // `| head -1` exits: the read end of the pipe closes.
    let closed = Instant::now();
    drop(out);
    let mut status = None;
    let ended = wait_until(DEADLINE, || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    if !ended {
        let _ = child.kill();
        panic!("copipe still running after its reader went away");
    }
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.unwrap().code(), Some(0), "stderr: {err}");
    assert_eq!(err, "");
    assert!(closed.elapsed() < DEADLINE);
}

// 9. Standard input and FIFOs.

#[test]
fn standard_input_is_read_to_its_end() {
    copipe(["follow", "-"])
        .stdin("a\nb\nc")
        .run()
        .code(0)
        .out("a\nb\nc\n");
    // A pipe has no end to count back from: every line is new; +K still skips.
    copipe(["follow", "-n", "1", "-"])
        .stdin("a\nb\n")
        .run()
        .code(0)
        .out("a\nb\n");
    copipe(["follow", "-n", "+2", "-"])
        .stdin("a\nb\nc\n")
        .run()
        .code(0)
        .out("b\nc\n");
}

#[test]
fn standard_input_pipe_is_followed_as_it_comes() {
    let dir = tempfile::tempdir().unwrap();
    let mut cp = copipe(["follow", "-"])
        .dir(dir.path())
        .spawn_stdin(Stdio::piped());
    let mut sin = cp.child.stdin.take().unwrap();
    sin.write_all(b"one\n").unwrap();
    cp.wait_out_eq("one\n");
    sin.write_all(b"two\nthr").unwrap();
    cp.wait_out_eq("one\ntwo\n");
    sin.write_all(b"ee").unwrap();
    drop(sin);
    assert_eq!(cp.exit_code(), 0);
    assert_eq!(cp.out(), "one\ntwo\nthree\n");
}

/// Open a FIFO for writing once copipe has it open for reading (ENXIO until then).
fn open_fifo_writer(path: &Path) -> File {
    let mut file = None;
    let opened = wait_until(DEADLINE, || {
        file = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .ok();
        file.is_some()
    });
    assert!(opened, "copipe never opened the FIFO");
    file.unwrap()
}

use std::os::unix::fs::OpenOptionsExt;

#[test]
fn a_fifo_is_followed_across_writers() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let mut cp = follow(dir.path(), ["pipe"]);
    let mut w = open_fifo_writer(&fifo);
    w.write_all(b"first writer\n").unwrap();
    cp.wait_out_eq("first writer\n");
    drop(w);
    let mut w = open_fifo_writer(&fifo);
    w.write_all(b"second writer\n").unwrap();
    cp.wait_out_eq("first writer\nsecond writer\n");
    drop(w);
    assert_eq!(cp.stop(), 0);
}

// 10. Output is flushed whenever the source waits.

#[test]
fn output_shows_up_at_once_through_filters_and_pipes() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("app.log");
    fs::write(&f, "").unwrap();
    // Standard output is a pipe here (block-buffered): only the flush before each wait
    // can make these lines appear while copipe runs.
    let mut cp = follow(dir.path(), ["-n", "0", "app.log", ":", "grep", "x"]);
    cp.wait_open(&f);
    append(&f, "x1\nno\n");
    cp.wait_out_eq("x1\n");
    append(&f, "nope\nx2\n");
    cp.wait_out_eq("x1\nx2\n");
    assert_eq!(cp.stop(), 0);
}

// 11. Unreadable files.

#[test]
fn an_unreadable_name_is_reported_and_the_others_are_followed() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("adir")).unwrap();
    // A socket cannot be opened for reading, even by root.
    let _sock = std::os::unix::net::UnixListener::bind(dir.path().join("sock.log")).unwrap();
    let good = dir.path().join("good.log");
    fs::write(&good, "g1\n").unwrap();
    let mut cp = follow(dir.path(), ["-q", "adir", "sock.log", "good.log"]);
    cp.wait_out_eq("g1\n");
    cp.wait_err("cannot follow adir: it is a directory");
    cp.wait_err("cannot open sock.log");
    append(&good, "g2\n");
    cp.wait_out_eq("g1\ng2\n");
    // An error was reported: exit status 2, even after SIGTERM.
    assert_eq!(cp.stop(), 2);
    assert_eq!(cp.err().matches("sock.log").count(), 1, "said once");
}

#[test]
fn a_name_replaced_by_a_directory_is_followed_again_once_it_is_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("app.log");
    fs::write(&f, "1\n").unwrap();
    let mut cp = follow(dir.path(), ["-q", "app.log", "other.log"]);
    cp.wait_out_eq("1\n");
    fs::remove_file(&f).unwrap();
    fs::create_dir(&f).unwrap();
    cp.wait_err("cannot follow app.log: it is a directory");
    // Names are checked again (other.log appears, and is followed) while app.log is still
    // a directory: said once, not at every check.
    append(&dir.path().join("other.log"), "o1\n");
    cp.wait_out_eq("1\no1\n");
    cp.wait_err("other.log has appeared");
    fs::remove_dir(&f).unwrap();
    fs::write(&f, "2\n3\n").unwrap();
    cp.wait_out_eq("1\no1\n2\n3\n");
    append(&f, "4\n");
    cp.wait_out_eq("1\no1\n2\n3\n4\n");
    // A directory in the way was reported: exit status 2.
    assert_eq!(cp.stop(), 2);
    let err = cp.err();
    assert_eq!(
        err.matches("it is a directory").count(),
        1,
        "said once: {err}"
    );
    assert!(
        err.contains("app.log has appeared; following new file"),
        "{err}"
    );
    assert!(!err.contains("app.log has been replaced"), "{err}");
}

#[test]
fn permission_denied_is_reported_and_retried() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        eprintln!("skipped: root can read any file");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.log");
    fs::write(&secret, "s1\n").unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o000)).unwrap();
    let good = dir.path().join("good.log");
    fs::write(&good, "g1\n").unwrap();
    let mut cp = follow(dir.path(), ["-q", "secret.log", "good.log"]);
    cp.wait_out_eq("g1\n");
    cp.wait_err("cannot open secret.log: Permission denied");
    append(&good, "g2\n");
    cp.wait_out_eq("g1\ng2\n");
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o644)).unwrap();
    cp.wait_out_eq("g1\ng2\ns1\n");
    cp.wait_err("secret.log has become accessible");
    assert_eq!(cp.stop(), 2);
}

// 12. The open-file limit.

/// `copipe follow -n 0 -q f000 … f199` (each file holding one old line), started with the
/// open-file limit `soft`/`hard` (`ulimit -Sn`/`-Hn`).
fn follow_200_files_with_limit(
    dir: &Path,
    soft: libc::rlim_t,
    hard: libc::rlim_t,
) -> (Live, Vec<std::path::PathBuf>) {
    let files: Vec<_> = (0..200).map(|i| dir.join(format!("f{i:03}"))).collect();
    for (i, f) in files.iter().enumerate() {
        fs::write(f, format!("old {i}\n")).unwrap();
    }
    let mut args = vec!["follow".to_string(), "-n".into(), "0".into(), "-q".into()];
    args.extend((0..200).map(|i| format!("f{i:03}")));
    let cp = copipe(args).dir(dir).open_file_limit(soft, hard);
    (cp.spawn(), files)
}

/// 200 names and 64 descriptors: the files quiet longest are closed ("parked") and
/// reopened where they were when they grow. Every file gets a new line: each comes once
/// (none of the old lines, `-n 0`), said once, exit status 0 (nothing was lost).
#[test]
fn names_beyond_the_open_file_limit_are_parked_and_every_new_line_comes_once() {
    let dir = tempfile::tempdir().unwrap();
    let (mut cp, files) = follow_200_files_with_limit(dir.path(), 64, 64);
    let said = "out of file descriptors (the open-file limit is 64)";
    cp.wait_err(said);
    // `-n 0` starts each file at its end as of when it is opened, in the order given: a
    // line appended before copipe got to a file is old to it. Wait for the last one.
    cp.wait_open(files.last().unwrap());
    for (i, f) in files.iter().enumerate() {
        append(f, &format!("new {i}\n"));
    }
    let got = |o: &str| -> std::collections::BTreeSet<usize> {
        o.lines()
            .filter_map(|l| l.strip_prefix("new ")?.parse().ok())
            .collect()
    };
    assert!(
        wait_until(std::time::Duration::from_secs(30), || got(&cp.out()).len()
            == files.len()),
        "{}",
        cp.err()
    );
    // A second round: the parked files are reopened again.
    for (i, f) in files.iter().enumerate() {
        append(f, &format!("new {}\n", 1000 + i));
    }
    assert!(
        wait_until(std::time::Duration::from_secs(30), || got(&cp.out()).len()
            == 2 * files.len()),
        "{}",
        cp.err()
    );
    assert_eq!(cp.stop(), 0, "{}", cp.err());
    let out = cp.out();
    assert!(!out.contains("old"), "{out}");
    let mut seen: Vec<&str> = out.lines().collect();
    let n = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), n, "a line repeated: {out}");
    assert_eq!(n, 2 * files.len(), "{out}");
    let err = cp.err();
    assert_eq!(err.matches(said).count(), 1, "{err}");
    assert!(!err.contains("Too many open files"), "{err}");
}

#[test]
fn the_soft_open_file_limit_is_raised_to_the_hard_one() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the rlimit it is given.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    let hard = lim.rlim_max.min(4096);
    if hard < 400 {
        eprintln!("skipped: the hard open-file limit is {}", lim.rlim_max);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut cp, files) = follow_200_files_with_limit(dir.path(), 64, hard);
    cp.wait_open(&files[199]);
    append(&files[199], "last\n");
    cp.wait_out_eq("last\n");
    assert_eq!(cp.stop(), 0);
    assert_eq!(cp.err(), "");
}

#[test]
fn bad_arguments_are_rejected_before_anything_runs() {
    copipe(["follow"]).run().code(2);
    copipe(["follow", "-n", "x", "a"])
        .run()
        .code(2)
        .err_has("line count");
    copipe(["follow", "--poll", "0", "a"]).run().code(2);
    copipe(["follow", "--pid", "0", "a"]).run().code(2);
}

#[test]
fn head_downstream_ends_the_follow() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("app.log");
    fs::write(&f, "1\n2\n").unwrap();
    let mut cp = follow(dir.path(), ["app.log", ":", "head", "3"]);
    cp.wait_out_eq("1\n2\n");
    append(&f, "3\n4\n");
    assert_eq!(cp.exit_code(), 0);
    assert_eq!(cp.out(), "1\n2\n3\n");
}

#[test]
fn a_failing_sink_ends_the_follow_instead_of_dropping_the_input() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.log"), numbers(1, 5)).unwrap();
    fs::write(dir.path().join("b.log"), numbers(1, 5)).unwrap();
    // With two files, a stage's error taken for a read error would leave the follow
    // running on the other file; it must end the run instead.
    let mut cp = follow(dir.path(), ["a.log", "b.log", ":", "write", "/dev/full"]);
    assert_eq!(cp.exit_code(), 2);
    let err = cp.err();
    assert!(err.contains("error writing to /dev/full"), "{err}");
    assert!(!err.contains("giving up"), "{err}");
}
