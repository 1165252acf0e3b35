//! The scheduler seen from outside: timers (`count --every`) and sources run behind the
//! thread bridge (a pipeline that needs the scheduler).

use crate::common;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::time::{Duration, Instant};

use common::*;

/// The counts of `count --every` output lines (`TIME COUNT`), checking the time's shape.
fn interval_counts(out: &str) -> Vec<u64> {
    out.lines()
        .map(|l| {
            let (time, n) = l.split_once(' ').expect("TIME COUNT");
            assert_eq!(time.len(), 20, "RFC 3339 to the second: {l:?}");
            assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{l:?}");
            n.parse().expect("a count")
        })
        .collect()
}

#[test]
fn count_every_prints_each_interval_of_a_writer_at_a_known_rate_and_quiet_ones() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    fs::write(&log, "").unwrap();
    let mut cp = copipe([
        "follow", "-n", "0", "app.log", ":", "grep", "ERROR", ":", "count", "--every", "200ms",
    ])
    .dir(dir.path())
    .spawn();
    cp.wait_open(&log);
    // 60 matching lines (and 60 others) over about 1.2 s: 10 per 200 ms interval.
    let mut f = OpenOptions::new().append(true).open(&log).unwrap();
    let start = Instant::now();
    for i in 0..60 {
        writeln!(f, "ERROR {i}\ninfo {i}").unwrap();
        let due = start + Duration::from_millis(20 * (i + 1));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
    // Then quiet: intervals go on printing 0 while nothing arrives.
    cp.wait_out("three quiet intervals after the 60 lines", |o| {
        let c = interval_counts(o);
        c.iter().sum::<u64>() == 60 && c.ends_with(&[0, 0, 0])
    });
    cp.signal(libc::SIGTERM);
    assert_eq!(cp.exit_code(), 0, "{}", cp.err());
    let counts = interval_counts(&cp.out());
    assert_eq!(counts.iter().sum::<u64>(), 60, "{counts:?}");
    // Loosely: the 60 lines were spread over several intervals, none got them all.
    let busy = counts.iter().filter(|&&n| n > 0).count();
    assert!(busy >= 3, "{counts:?}");
}

#[test]
fn count_every_prints_the_last_partial_interval_at_the_end() {
    copipe(["range", "0", "1000", ":", "count", "--every", "1h"])
        .run()
        .code(0);
    let r = copipe(["range", "0", "1000", ":", "count", "--every", "1h"]).run();
    assert_eq!(interval_counts(&r.stdout()), [1000]);
    // Nothing counted: 1, as plain count.
    let r = copipe(["range", "0", "0", ":", "count", "--every", "1h"]).run();
    r.code(1);
    assert_eq!(interval_counts(&r.stdout()), [0]);
}

/// The blocks of `count --by … --every` NDJSON output: (time, [(value, count)]) in order,
/// checking that each block is sorted by count. A block ends where the time changes or a
/// value comes again (intervals under a second share the time, which is to the second).
fn interval_blocks(out: &str, field: &str) -> Vec<(String, Vec<(String, u64)>)> {
    let mut blocks: Vec<(String, Vec<(String, u64)>)> = Vec::new();
    for l in out.lines() {
        let v: serde_json::Value = serde_json::from_str(l).expect(l);
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["time", field, "count"], "the time first: {l}");
        let time = v["time"].as_str().unwrap().to_string();
        assert_eq!(time.len(), 20, "RFC 3339 to the second: {l}");
        let row = (
            v[field].as_str().unwrap_or("null").to_string(),
            v["count"].as_u64().unwrap(),
        );
        match blocks.last_mut() {
            Some((t, rows)) if *t == time && rows.iter().all(|r| r.0 != row.0) => rows.push(row),
            _ => blocks.push((time, vec![row])),
        }
    }
    for (t, rows) in &blocks {
        assert!(
            rows.windows(2).all(|w| w[0].1 >= w[1].1),
            "a block sorted by count: {t} {rows:?}"
        );
    }
    blocks
}

#[test]
fn count_by_every_prints_a_block_per_interval_of_a_writer_at_a_known_rate() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    fs::write(&log, "").unwrap();
    let mut cp = copipe([
        "follow", "-n", "0", "app.log", ":", "logfmt", ":", "count", "--by", "level", "--every",
        "300ms",
    ])
    .dir(dir.path())
    .spawn();
    cp.wait_open(&log);
    // Every 20 ms: two info lines and one error, 60 times (about 1.2 s: 15 per interval).
    let mut f = OpenOptions::new().append(true).open(&log).unwrap();
    let start = Instant::now();
    for i in 0..60 {
        writeln!(f, "level=info n={i}\nlevel=error n={i}\nlevel=info n={i}").unwrap();
        let due = start + Duration::from_millis(20 * (i + 1));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
    let total = |o: &str, level: &str| -> u64 {
        interval_blocks(o, "level")
            .iter()
            .flat_map(|(_, rows)| rows)
            .filter(|(v, _)| v == level)
            .map(|(_, n)| n)
            .sum()
    };
    cp.wait_out("every line counted in some interval", |o| {
        total(o, "info") == 120 && total(o, "error") == 60
    });
    cp.signal(libc::SIGTERM);
    assert_eq!(cp.exit_code(), 0, "{}", cp.err());
    let out = cp.out();
    let blocks = interval_blocks(&out, "level");
    assert_eq!((total(&out, "info"), total(&out, "error")), (120, 60));
    // One block per interval, in time order; the lines spread over several.
    assert!(blocks.windows(2).all(|w| w[0].0 <= w[1].0), "{out}");
    assert!(blocks.len() >= 3, "{out}");
    for (t, rows) in &blocks {
        let levels: Vec<&str> = rows.iter().map(|(v, _)| v.as_str()).collect();
        assert!(
            levels.len() <= 2 && levels.contains(&"info"),
            "{t} {rows:?}"
        );
        if levels.len() == 2 {
            // Two infos to one error within a few lines: info is counted first.
            assert_eq!(levels, ["info", "error"], "{t} {rows:?}");
        }
    }
}

#[test]
fn count_by_every_prints_the_last_partial_interval_at_the_end_in_first_seen_order() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("a.log"),
        "k=b\nk=a\nk=c\nk=a\nk=b\nx=1\nk=c\n",
    )
    .unwrap();
    let r = copipe([
        "cat", "a.log", ":", "logfmt", ":", "count", "--by", "k", "--every", "1h",
    ])
    .dir(dir.path())
    .run();
    r.code(0);
    let blocks = interval_blocks(&r.stdout(), "k");
    assert_eq!(blocks.len(), 1, "{}", r.stdout());
    let rows: Vec<(&str, u64)> = blocks[0].1.iter().map(|(v, n)| (v.as_str(), *n)).collect();
    // By count, ties in the order first seen; a record without the field counts as null.
    assert_eq!(rows, [("b", 2), ("a", 2), ("c", 2), ("null", 1)]);
    copipe([
        "range", "0", "3", ":", "count", "--by", "x", "--every", "1s",
    ])
    .run()
    .code(2)
    .err_has("needs records");
}

#[test]
fn count_every_refuses_a_bad_duration() {
    copipe(["range", "0", "3", ":", "count", "--every", "10x"])
        .run()
        .code(2)
        .err_has("unknown unit");
}

#[test]
fn a_source_on_the_scheduler_keeps_its_behaviour_head_stops_it_and_errors_count() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.txt");
    fs::write(&a, "one\ntwo\nthree").unwrap();
    // On the scheduler (a timer makes the pipeline run on it; `cat` is a native task there):
    // every line, the unterminated last one too, and origins (tags) on the right lines.
    let r = copipe([
        "cat",
        "--tag",
        "a.txt",
        "missing.txt",
        ":",
        "tee",
        "{",
        "count",
        "--every",
        "1h",
        "}",
    ])
    .dir(dir.path())
    .run();
    r.code(2).err_has("missing.txt");
    assert!(
        r.stdout()
            .starts_with("a.txt:one\na.txt:two\na.txt:three\n"),
        "{}",
        r.stdout()
    );
    // head stops an endless source on the scheduler (`naturals`, a native task).
    let r = copipe([
        "naturals", ":", "head", "3", ":", "tee", "{", "count", "--every", "1h", "}",
    ])
    .run();
    r.code(0);
    assert!(r.stdout().starts_with("0\n1\n2\n"), "{}", r.stdout());
    assert_eq!(interval_counts(&r.stdout()[6..]), [3]);
}

#[test]
fn sigint_ends_a_scheduled_pipeline_with_its_output_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    fs::write(&log, "").unwrap();
    let mut cp = copipe([
        "follow", "-n", "0", "app.log", ":", "tee", "{", "count", "--every", "1h", "}",
    ])
    .dir(dir.path())
    .spawn();
    cp.wait_open(&log);
    fs::write(&log, "x\nheld").unwrap();
    cp.wait_out_eq("x\n");
    cp.signal(libc::SIGINT);
    assert_eq!(cp.exit_code(), 130, "{}", cp.err());
    let out = cp.out();
    // The unfinished line is not emitted (issue 12, item 8): stderr says so.
    assert!(out.starts_with("x\n"), "{out}");
    assert_eq!(interval_counts(&out[2..]), [1]);
    assert!(
        cp.err().contains("4 bytes of an unfinished line"),
        "{}",
        cp.err()
    );
}

/// Every filter passes the clock on: a `count --every` after it prints its intervals while
/// the followed file is quiet (a filter that wrote its own `flush` and forgot `tick` kept
/// the timer from ever reaching the sink).
#[test]
fn every_filter_passes_the_clock_on() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    fs::write(&log, "").unwrap();
    let chains: &[&[&str]] = &[
        &["grep", "x"],
        &["parse", "(?P<a>.*)"],
        &["logfmt"],
        &["kv"],
        &["csv"],
        &["syslog"],
        &["combined"],
        &["json", ":", "toxml"],
        &[
            "json", ":", "where", "a=1", ":", "select", "a", ":", "fmt", "{a}",
        ],
        &[
            "head", "5", ":", "skip", "1", ":", "uniq", ":", "number", ":", "replace", "a", "b",
        ],
    ];
    for chain in chains {
        let mut args = vec!["follow", "-n", "0", "app.log", ":"];
        args.extend_from_slice(chain);
        args.extend_from_slice(&[":", "count", "--every", "100ms"]);
        let mut cp = copipe(&args).dir(dir.path()).spawn();
        cp.wait_out(&format!("two intervals after {chain:?}"), |o| {
            o.lines().count() >= 2
        });
        cp.signal(libc::SIGTERM);
        cp.exit_code();
        assert_eq!(interval_counts(&cp.out())[..2], [0, 0], "{chain:?}");
    }
}
