//! `follow` over globs (issue 14): discovery of new files, `--exclude`, files removed or
//! renamed, identity across renames. The real binary on real files in temp dirs; every wait
//! is a bounded poll on the collected output (`Live::wait_…`, 10 s deadline).

use crate::common;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use common::follow_state::sorted;
use common::*;

/// `copipe --stats follow ARGS…` started in `dir` (the file counts are checked).
fn follow_with_stats<I, S>(dir: &Path, args: I) -> Live
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut words: Vec<std::ffi::OsString> = vec!["--stats".into(), "follow".into()];
    words.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
    copipe(words).dir(dir).spawn()
}

/// How many of copipe's descriptors lead to `path` (open, or open and deleted).
fn open_count(cp: &Live, path: &Path) -> usize {
    let want = path.to_string_lossy().into_owned();
    let fds = format!("/proc/{}/fd", cp.child.id());
    fs::read_dir(fds).map_or(0, |d| {
        d.flatten()
            .filter(|e| {
                fs::read_link(e.path()).is_ok_and(|p| {
                    let p = p.to_string_lossy();
                    p == want || p == format!("{want} (deleted)")
                })
            })
            .count()
    })
}

#[test]
fn a_glob_follows_present_files_from_n_and_new_ones_from_their_first_line() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    fs::create_dir(&logs).unwrap();
    fs::write(logs.join("a.log"), "a1\na2\na3\n").unwrap();
    fs::write(logs.join("b.txt"), "not me\n").unwrap();
    let mut cp = follow_with_stats(dir.path(), ["-q", "-n", "1", "logs/*.log"]);
    cp.wait_out_eq("a3\n");
    // A file that appears later: every line of it is new, -n does not apply.
    fs::write(logs.join("c.log"), "c1\nc2\n").unwrap();
    cp.wait_out_eq("a3\nc1\nc2\n");
    append(&logs.join("c.log"), "c3\n");
    cp.wait_out_eq("a3\nc1\nc2\nc3\n");
    append(&logs.join("a.log"), "a4\n");
    append(&logs.join("b.txt"), "still not me\n");
    cp.wait_out_eq("a3\nc1\nc2\nc3\na4\n");
    assert_eq!(cp.stop(), 0);
    assert_eq!(cp.out(), "a3\nc1\nc2\nc3\na4\n");
    assert!(
        cp.err()
            .contains("files: 2 followed, 1 discovered, 0 closed"),
        "{}",
        cp.err()
    );
}

#[test]
fn a_glob_with_double_star_finds_files_in_directories_made_later() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("svc")).unwrap();
    fs::write(dir.path().join("svc/app-0.log"), "zero\n").unwrap();
    let mut cp = follow_with_stats(dir.path(), ["--tag", "svc/**/app-*.log"]);
    cp.wait_out_eq("svc/app-0.log:zero\n");
    let deep = dir.path().join("svc/x/y");
    fs::create_dir_all(&deep).unwrap();
    fs::write(deep.join("app-1.log"), "one\n").unwrap();
    fs::write(deep.join("other.log"), "no\n").unwrap();
    cp.wait_out_eq("svc/app-0.log:zero\nsvc/x/y/app-1.log:one\n");
    fs::write(dir.path().join("svc/app-2.log"), "two\n").unwrap();
    cp.wait_out_eq("svc/app-0.log:zero\nsvc/x/y/app-1.log:one\nsvc/app-2.log:two\n");
    assert_eq!(cp.stop(), 0);
}

#[test]
fn a_glob_whose_directory_does_not_exist_yet_is_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let mut cp = follow_with_stats(dir.path(), ["-q", "later/*.log"]);
    // Nothing matches: the follow goes on, waiting.
    fs::create_dir(dir.path().join("later")).unwrap();
    fs::write(dir.path().join("later/x.log"), "x\n").unwrap();
    cp.wait_out_eq("x\n");
    assert_eq!(cp.stop(), 0);
}

#[test]
fn exclude_leaves_out_files_by_path_or_name() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["a.log", "b.log", "debug.log"] {
        fs::write(dir.path().join(f), format!("{f}\n")).unwrap();
    }
    let mut cp = follow_with_stats(
        dir.path(),
        ["-q", "*.log", "--exclude", "debug.*", "--exclude", "b.log"],
    );
    cp.wait_out_eq("a.log\n");
    fs::write(dir.path().join("debug.log"), "debug again\n").unwrap();
    fs::write(dir.path().join("c.log"), "c\n").unwrap();
    cp.wait_out_eq("a.log\nc\n");
    assert_eq!(cp.stop(), 0);
    assert_eq!(cp.out(), "a.log\nc\n");
}

#[test]
fn a_removed_file_is_read_to_its_end_then_its_descriptor_closed() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("a.log");
    fs::write(&f, "1\n").unwrap();
    let mut cp = follow_with_stats(dir.path(), ["-q", "*.log"]);
    cp.wait_out_eq("1\n");
    assert_eq!(open_count(&cp, &f), 1);
    // Written and removed at once: the last lines are still read.
    append(&f, "2\n3");
    fs::remove_file(&f).unwrap();
    cp.wait_out_eq("1\n2\n3\n");
    assert!(
        wait_until(DEADLINE, || open_count(&cp, &f) == 0),
        "the removed file is still open"
    );
    assert_eq!(cp.stop(), 0);
    assert!(
        cp.err()
            .contains("files: 0 followed, 0 discovered, 1 closed"),
        "{}",
        cp.err()
    );
}

#[test]
fn a_rotated_file_the_glob_also_matches_is_not_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("app.log");
    fs::write(&f, "1\n2\n").unwrap();
    let mut cp = follow_with_stats(dir.path(), ["-q", "-n", "+1", "app.log*"]);
    cp.wait_out_eq("1\n2\n");
    let mut old = OpenOptions::new().append(true).open(&f).unwrap();
    // Rotation: renamed within the glob, written on, a new file under the old name.
    fs::rename(&f, dir.path().join("app.log.1")).unwrap();
    old.write_all(b"3\n").unwrap();
    append(&f, "new1\n");
    cp.wait_out("every line once", |o| sorted(o) == ["1", "2", "3", "new1"]);
    old.write_all(b"4\n").unwrap();
    drop(old);
    // A second rotation: the first file goes on as app.log.2, not read again either.
    fs::rename(dir.path().join("app.log.1"), dir.path().join("app.log.2")).unwrap();
    fs::rename(&f, dir.path().join("app.log.1")).unwrap();
    append(&f, "newer1\n");
    cp.wait_out("every line once", |o| {
        sorted(o) == ["1", "2", "3", "4", "new1", "newer1"]
    });
    assert_eq!(cp.stop(), 0);
    assert_eq!(sorted(&cp.out()), ["1", "2", "3", "4", "new1", "newer1"]);
    assert!(
        cp.err()
            .contains("files: 3 followed, 2 discovered, 0 closed"),
        "{}",
        cp.err()
    );
}

#[test]
fn a_file_renamed_within_the_globs_goes_on_under_its_new_name() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("a")).unwrap();
    fs::create_dir(dir.path().join("b")).unwrap();
    let f = dir.path().join("a/x.log");
    fs::write(&f, "1\n").unwrap();
    let mut cp = follow_with_stats(dir.path(), ["--tag", "a/*.log", "b/*.log"]);
    cp.wait_out_eq("a/x.log:1\n");
    let mut w = OpenOptions::new().append(true).open(&f).unwrap();
    fs::rename(&f, dir.path().join("b/y.log")).unwrap();
    // The rename is seen (a watch on a/ and b/), then the file is read on.
    assert!(wait_until(DEADLINE, || open_count(
        &cp,
        &dir.path().join("b/y.log")
    ) == 1));
    w.write_all(b"2\n").unwrap();
    cp.wait_out("the rest under the new name", |o| {
        o == "a/x.log:1\nb/y.log:2\n" || o == "a/x.log:1\na/x.log:2\n"
    });
    assert_eq!(cp.stop(), 0);
}

#[test]
fn plain_names_and_globs_together_follow_each_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("a.log");
    fs::write(&f, "1\n").unwrap();
    let mut cp = follow_with_stats(dir.path(), ["-q", "a.log", "*.log"]);
    cp.wait_out_eq("1\n");
    append(&f, "2\n");
    cp.wait_out_eq("1\n2\n");
    assert_eq!(cp.stop(), 0);
    assert_eq!(cp.out(), "1\n2\n");
}

/// Read system calls of a process so far (`/proc/PID/io`).
fn reads(cp: &Live) -> u64 {
    let io = fs::read_to_string(format!("/proc/{}/io", cp.child.id())).unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix("syscr: "))
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn an_append_to_one_of_many_files_reads_that_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..300 {
        fs::write(dir.path().join(format!("f{i:03}.log")), "").unwrap();
    }
    let mut cp = follow_with_stats(dir.path(), ["-q", "*.log"]);
    fs::write(dir.path().join("zz.log"), "ready\n").unwrap();
    cp.wait_out_eq("ready\n");
    let before = reads(&cp);
    let mut want = String::from("ready\n");
    for k in 0..20 {
        let line = format!("line {k}\n");
        append(&dir.path().join(format!("f{:03}.log", k * 13)), &line);
        want.push_str(&line);
        cp.wait_out_eq(&want);
    }
    let used = reads(&cp) - before;
    // Reading every file on every append would take 20 x 300 x 2 reads; the once-a-second
    // check reads none of them either.
    assert!(used < 1000, "{used} reads for 20 appends");
    assert_eq!(cp.stop(), 0);
}

#[test]
fn a_file_renamed_out_of_the_globs_is_read_to_its_end_then_closed() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("a.log");
    fs::write(&f, "1\n").unwrap();
    let mut cp = follow_with_stats(dir.path(), ["-q", "*.log"]);
    cp.wait_out_eq("1\n");
    let mut w = OpenOptions::new().append(true).open(&f).unwrap();
    w.write_all(b"2\n").unwrap();
    let old = dir.path().join("a.old");
    fs::rename(&f, &old).unwrap();
    cp.wait_out_eq("1\n2\n");
    assert!(
        wait_until(DEADLINE, || open_count(&cp, &old) == 0),
        "the file renamed away is still open"
    );
    assert_eq!(cp.stop(), 0);
    assert!(
        cp.err().contains("0 followed, 0 discovered, 1 closed"),
        "{}",
        cp.err()
    );
}

#[test]
fn a_glob_at_the_open_file_limit_neither_closes_nor_reads_again_what_it_follows() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..100 {
        fs::write(dir.path().join(format!("f{i:03}.log")), format!("s{i}\n")).unwrap();
    }
    let cp = copipe(["--stats", "follow", "-q", "-n", "1", "*.log"]).dir(dir.path());
    let mut cp = cp.open_file_limit(64, 64).spawn();
    cp.wait_err("out of file descriptors (the open-file limit is 64)");
    cp.wait_out("every first line", |o| o.lines().count() == 100);
    // Two once-a-second checks later, with a file appended to: the walk of the directory
    // must not fail for want of a descriptor and take every file for gone.
    append(&dir.path().join("f000.log"), "more\n");
    cp.wait_out("the append", |o| o.ends_with("more\n"));
    let t = std::time::Instant::now();
    while t.elapsed() < std::time::Duration::from_millis(2500) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Nothing lost: no error.
    assert_eq!(cp.stop(), 0, "{}", cp.err());
    // (Not compared with the output seen when the message came: stdout is collected by
    // another thread, and may have been behind stderr then.)
    assert!(cp.out().ends_with("more\n"), "{}", cp.out());
    assert_eq!(cp.out().matches("more\n").count(), 1, "{}", cp.out());
    let lines = sorted(&cp.out());
    let mut unique = lines.clone();
    unique.dedup();
    assert_eq!(lines, unique, "lines read twice");
    assert_eq!(lines.len(), 101, "{}", cp.out());
    assert!(cp.err().contains(" 0 closed"), "{}", cp.err());
}

/// The `N parked (out of descriptors), M reopened` counts of `--stats`.
fn parked_counts(err: &str) -> (u64, u64) {
    let Some(at) = err.find(" parked (out of descriptors), ") else {
        return (0, 0);
    };
    let parked = err[..at].rsplit(' ').next().unwrap().parse().unwrap();
    let rest = &err[at + " parked (out of descriptors), ".len()..];
    let reopened = rest.split(' ').next().unwrap().parse().unwrap();
    (parked, reopened)
}

/// More files than descriptors (200 files, a limit of 64 that cannot be raised): the files
/// quiet longest are closed ("parked") and reopened by identity where they were when they
/// grow. Quiet files appended to in turn while a busy one is written throughout: every
/// line comes out exactly once, in order within its file; said once; counted by --stats.
#[test]
fn files_beyond_the_open_file_limit_are_parked_and_reopened_where_they_were() {
    let dir = tempfile::tempdir().unwrap();
    let quiet = 200;
    let mut want: Vec<String> = Vec::new();
    for i in 0..quiet {
        fs::write(
            dir.path().join(format!("q{i:03}.log")),
            format!("q{i:03}-0\n"),
        )
        .unwrap();
        want.push(format!("q{i:03}-0"));
    }
    fs::write(dir.path().join("busy.log"), "").unwrap();
    let cp = copipe(["--stats", "follow", "-q", "-n", "+1", "*.log"]).dir(dir.path());
    let mut cp = cp.open_file_limit(64, 64).spawn();
    cp.wait_err("out of file descriptors");
    // A writer appends to the busy file throughout, a line every few milliseconds.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy = dir.path().join("busy.log");
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut k = 0u64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                k += 1;
                append(&busy, &format!("busy-{k:06}\n"));
                std::thread::sleep(std::time::Duration::from_millis(3));
            }
            k
        })
    };
    let deadline = std::time::Duration::from_secs(30);
    let all_there = |out: &str, want: &[String]| {
        let have: std::collections::HashSet<&str> = out.lines().collect();
        want.iter().all(|w| have.contains(w.as_str()))
    };
    assert!(
        wait_until(deadline, || all_there(&cp.out(), &want)),
        "first lines missing: {}",
        cp.err()
    );
    // Quiet files appended to in turn, a few rounds, each file's lines in order.
    for r in 1..=3 {
        for i in (r..quiet).step_by(17) {
            let line = format!("q{i:03}-{r}");
            append(
                &dir.path().join(format!("q{i:03}.log")),
                &format!("{line}\n"),
            );
            want.push(line);
        }
        assert!(
            wait_until(deadline, || all_there(&cp.out(), &want)),
            "round {r} missing: {}",
            cp.err()
        );
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let written = writer.join().unwrap();
    for k in 1..=written {
        want.push(format!("busy-{k:06}"));
    }
    assert!(
        wait_until(deadline, || all_there(&cp.out(), &want)),
        "busy lines missing"
    );
    assert_eq!(cp.stop(), 0, "{}", cp.err());
    let out = cp.out();
    // Exactly once: as many lines as wanted, all of them there.
    let mut lines = sorted(&out);
    let n = lines.len();
    lines.dedup();
    assert_eq!(n, lines.len(), "lines read twice");
    assert_eq!(n, want.len(), "lines out of nowhere");
    // In order within each file.
    let mut last: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    for line in out.lines() {
        let (file, k) = line.split_once('-').unwrap();
        if let Some(prev) = last.insert(file, k) {
            assert!(
                prev.parse::<u64>().unwrap() < k.parse::<u64>().unwrap(),
                "{file}: {prev} before {k}"
            );
        }
    }
    let err = cp.err();
    assert_eq!(err.matches("out of file descriptors").count(), 1, "{err}");
    let (parked, reopened) = parked_counts(&err);
    assert!(parked > 0 && reopened > 0, "{err}");
}

/// A file parked (closed for want of descriptors, here the first one opened, with `-n 0`
/// nothing makes it grow) and then rotated — appended to, renamed, a new file made under
/// its name: the rest of the old file and the new file are each read exactly once. With a
/// glob (the old name out of it) and with names given.
#[test]
fn a_file_rotated_while_parked_is_read_to_its_end_and_the_new_one_from_its_start() {
    for glob in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("a-app.log");
        fs::write(&app, "old-0\n").unwrap();
        let mut names = vec!["--stats".to_string(), "follow".into(), "-q".into()];
        names.extend(["-n".into(), "0".into()]);
        if glob {
            names.push("*.log".into());
        } else {
            names.push("a-app.log".into());
        }
        for i in 0..100 {
            let name = format!("q{i:03}.log");
            fs::write(dir.path().join(&name), "").unwrap();
            if !glob {
                names.push(name);
            }
        }
        let cp = copipe(names).dir(dir.path());
        let mut cp = cp.open_file_limit(64, 64).spawn();
        cp.wait_err("out of file descriptors");
        // Sorted first and opened first, never grown since: the quietest, parked.
        assert!(
            wait_until(DEADLINE, || open_count(&cp, &app) == 0),
            "a-app.log still open (glob {glob})"
        );
        append(&app, "old-1\n");
        fs::rename(&app, dir.path().join("a-app.log.1")).unwrap();
        fs::write(&app, "new-1\n").unwrap();
        cp.wait_out_eq("old-1\nnew-1\n");
        append(&app, "new-2\n");
        cp.wait_out_eq("old-1\nnew-1\nnew-2\n");
        assert_eq!(cp.stop(), 0, "glob {glob}: {}", cp.err());
        assert_eq!(cp.out(), "old-1\nnew-1\nnew-2\n", "glob {glob}");
        let err = cp.err();
        assert!(!err.contains("removed while closed"), "glob {glob}: {err}");
        assert!(parked_counts(&err).1 >= 1, "glob {glob}: {err}");
    }
}

/// A file closed for want of descriptors while it holds a partial line: the partial line
/// waits with it, and comes once, whole, when its newline is written after it was
/// reopened.
#[test]
fn a_partial_line_of_a_parked_file_comes_once_whole() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("a-app.log");
    fs::write(&app, "").unwrap();
    let files: Vec<_> = (0..100)
        .map(|i| dir.path().join(format!("q{i:03}.log")))
        .collect();
    for f in &files {
        fs::write(f, "").unwrap();
    }
    let cp = copipe(["--stats", "follow", "-q", "-n", "0", "*.log"]).dir(dir.path());
    let mut cp = cp.open_file_limit(64, 64).spawn();
    cp.wait_err("out of file descriptors");
    // Opened first, never grown: parked. Then a partial line: reopened, read, held.
    assert!(wait_until(DEADLINE, || open_count(&cp, &app) == 0));
    append(&app, "par");
    assert!(wait_until(DEADLINE, || open_count(&cp, &app) == 1));
    // The other files grow, some twice: opening them parks the quietest, a-app.log among
    // them at last.
    let mut want = 0;
    for round in 0..5 {
        for (i, f) in files.iter().enumerate() {
            append(f, &format!("q{i:03}-{round}\n"));
            want += 1;
        }
        cp.wait_out("the other files' lines", |o| o.lines().count() == want);
        if open_count(&cp, &app) == 0 {
            break;
        }
    }
    assert!(
        wait_until(DEADLINE, || open_count(&cp, &app) == 0),
        "a-app.log never parked"
    );
    append(&app, "tial\n");
    cp.wait_out("the whole line", |o| o.contains("partial\n"));
    assert_eq!(cp.stop(), 0, "{}", cp.err());
    let out = cp.out();
    assert_eq!(out.matches("par").count(), 1, "{out}");
    assert_eq!(out.matches("tial").count(), 1, "{out}");
    assert_eq!(out.lines().count(), want + 1, "{out}");
}

/// The read position of copipe's descriptor of `path` (`None`: not open).
fn read_pos(cp: &Live, path: &Path) -> Option<u64> {
    let want = path.to_string_lossy().into_owned();
    let pid = cp.child.id();
    fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .flatten()
        .find(|e| fs::read_link(e.path()).is_ok_and(|p| p.to_string_lossy() == want))
        .and_then(|e| {
            let info =
                fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", e.file_name().to_str()?))
                    .ok()?;
            info.lines()
                .find_map(|l| l.strip_prefix("pos:"))?
                .trim()
                .parse()
                .ok()
        })
}

/// The file whose partial line the shared reader holds (the last one read) parked: many
/// parked files grow at once, and reopening them parks every quieter file, then it. Its
/// partial line waits with it and comes once, whole.
#[test]
fn a_partial_line_held_by_the_reader_when_its_file_is_parked_comes_once_whole() {
    let dir = tempfile::tempdir().unwrap();
    // Last in the list: the reader holds its partial line after every round.
    let app = dir.path().join("z-app.log");
    fs::write(&app, "").unwrap();
    let files: Vec<_> = (0..200)
        .map(|i| dir.path().join(format!("q{i:03}.log")))
        .collect();
    for f in &files {
        fs::write(f, "").unwrap();
    }
    let cp = copipe(["--stats", "follow", "-q", "-n", "0", "*.log"]).dir(dir.path());
    let mut cp = cp.open_file_limit(64, 64).spawn();
    cp.wait_err("out of file descriptors");
    // Opened last (once open, -n 0 has placed it at its end, empty then): a partial
    // line, read.
    cp.wait_open(&app);
    append(&app, "par");
    assert!(wait_until(DEADLINE, || read_pos(&cp, &app) == Some(3)));
    // Only the parked files grow (no watch tells of it: the once-a-second check does).
    let parked: Vec<_> = files.iter().filter(|f| open_count(&cp, f) == 0).collect();
    assert!(parked.len() > 100, "{}", parked.len());
    for (i, f) in parked.iter().enumerate() {
        append(f, &format!("line {i}\n"));
    }
    cp.wait_out("the parked files' lines", |o| {
        o.lines().count() == parked.len()
    });
    assert_eq!(open_count(&cp, &app), 0, "z-app.log not parked");
    append(&app, "tial\n");
    cp.wait_out("the whole line", |o| o.contains("partial\n"));
    assert_eq!(cp.stop(), 0, "{}", cp.err());
    let out = cp.out();
    assert_eq!(out.matches("par").count(), 1, "{out}");
    assert_eq!(out.matches("tial").count(), 1, "{out}");
    assert_eq!(out.lines().count(), parked.len() + 1, "{out}");
}

/// A glob's directory removed and made again under the same name: its watch followed the
/// removed directory, so the new one is watched again as soon as a change is seen, not at
/// the once-a-second check (made a minute long here: without the new watch, the file made
/// later would not be seen within the deadline). Several times in a row.
#[test]
fn a_glob_directory_removed_and_made_again_is_watched_again_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    fs::create_dir(&logs).unwrap();
    fs::write(logs.join("a0.log"), "a0\n").unwrap();
    let mut words: Vec<&str> = vec!["follow", "-q", "-n", "+1", "logs/*.log"];
    words.insert(0, "--stats");
    let mut cp = copipe(words)
        .dir(dir.path())
        .env("COPIPE_FOLLOW_CHECK_MS", "60000")
        .spawn();
    cp.wait_out_eq("a0\n");
    let mut want = String::from("a0\n");
    for k in 1..=3 {
        let old = logs.join(format!("a{}.log", k - 1));
        fs::remove_dir_all(&logs).unwrap();
        fs::create_dir(&logs).unwrap();
        // The removed file has been read to its end and closed: the removal was seen.
        assert!(
            wait_until(DEADLINE, || open_count(&cp, &old) == 0),
            "{} still open",
            old.display()
        );
        fs::write(logs.join(format!("a{k}.log")), format!("a{k}\n")).unwrap();
        want.push_str(&format!("a{k}\n"));
        cp.wait_out_eq(&want);
    }
    assert_eq!(cp.stop(), 0);
}

/// When inotify watches run out (made to, through the hidden COPIPE_MAX_WATCHES: the real
/// limit is system-wide), the files beyond the limit are polled by the once-a-second check
/// and the others keep their watches; it is said once. Nothing is lost.
#[test]
fn files_beyond_the_inotify_watch_limit_are_polled_and_the_rest_keep_their_watches() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..5 {
        fs::write(dir.path().join(format!("f{i}.log")), format!("s{i}\n")).unwrap();
    }
    let mut cp = copipe(["follow", "-q", "-n", "1", "*.log"])
        .dir(dir.path())
        .env("COPIPE_MAX_WATCHES", "2")
        .spawn();
    cp.wait_out("every first line", |o| o.lines().count() == 5);
    for round in 0..2 {
        for i in 0..5 {
            append(
                &dir.path().join(format!("f{i}.log")),
                &format!("r{round}f{i}\n"),
            );
        }
        cp.wait_out("every append", |o| o.lines().count() == 10 + 5 * round);
    }
    assert_eq!(cp.stop(), 0);
    let err = cp.err();
    assert_eq!(err.matches("inotify watches ran out").count(), 1, "{err}");
    assert!(!err.contains("watching their directories"), "{err}");
    // Only the polled files wait for the check: with the safety check a minute long, the
    // two watched files' appends still come out at once.
    let mut cp = copipe(["follow", "-q", "-n", "0", "*.log"])
        .dir(dir.path())
        .env("COPIPE_MAX_WATCHES", "2")
        .env("COPIPE_FOLLOW_CHECK_MS", "60000")
        .spawn();
    cp.wait_err("inotify watches ran out");
    for i in 0..5 {
        append(&dir.path().join(format!("f{i}.log")), &format!("late{i}\n"));
    }
    cp.wait_out("the watched files' appends", |o| o.lines().count() >= 2);
    assert_eq!(cp.stop(), 0);
}
