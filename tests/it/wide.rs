//! Wide and odd inputs stay linear (issue 30, items 1 to 3): a CSV header of many names,
//! `tocsv` of a record with many keys, `parse` with many named groups, `count --by` with many
//! keys; and no pipeline outlives SIGTERM or Ctrl-C by more than a few seconds, whatever its
//! stage is busy with. Each run has a deadline far above its time today and far below its
//! time before the fix.

use crate::common;

use std::time::{Duration, Instant};

use common::*;

/// The deadline of a run that is linear now (milliseconds) and took minutes before.
const LINEAR: Duration = Duration::from_secs(30);

/// `args` on `stdin`, which must end within [`LINEAR`] with status 0; its stdout.
#[track_caller]
fn quick(args: &[&str], stdin: String) -> String {
    let t = Instant::now();
    let mut live = copipe(args).stdin(stdin).spawn();
    let code = live.exit_code_within(LINEAR);
    assert_eq!(code, 0, "{args:?}\n{}", live.err());
    assert!(t.elapsed() < LINEAR, "{args:?}: {:?}", t.elapsed());
    live.out()
}

#[test]
fn csv_header_of_80000_repeated_names_is_linear_and_renamed_stably() {
    // Before: cubic (80,000 names ran over 21 CPU-minutes).
    let n = 80_000;
    let input = format!("{}\n{}\n", vec!["a"; n].join(","), vec!["1"; n].join(","));
    let out = quick(&["csv", ":", "select", "a", "a_2", "a_80000"], input);
    assert_eq!(out, "{\"a\":\"1\",\"a_2\":\"1\",\"a_80000\":\"1\"}\n");
}

#[test]
fn csv_header_of_80000_distinct_names_is_linear() {
    let n = 80_000;
    let names: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
    let input = format!("{}\n{}\n", names.join(","), vec!["1"; n].join(","));
    let out = quick(&["csv", ":", "count"], input);
    assert_eq!(out, "1\n");
}

#[test]
fn sigterm_ends_a_pipeline_stuck_opening_a_fifo_that_no_one_reads() {
    // The open of a FIFO waits for a reader, never coming back to the source: before, the
    // first SIGTERM was only noted and copipe ran on until killed.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let mut live = copipe(["naturals", ":", "write", fifo.to_str().unwrap()]).spawn();
    // Wait until it sleeps (in the open) with its handler of SIGTERM in place: the caught
    // signals' mask in /proc/PID/status, SIGTERM being bit 15 (wchan may be hidden).
    let pid = live.child.id();
    let ready = || {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let caught = status
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
            .unwrap_or(0);
        let sleeping = status
            .lines()
            .any(|l| l.starts_with("State:") && l.contains("S ("));
        caught & (1 << (libc::SIGTERM - 1)) != 0 && sleeping
    };
    assert!(
        wait_until(DEADLINE, ready),
        "never slept with SIGTERM caught"
    );
    let t = Instant::now();
    live.signal(libc::SIGTERM);
    let code = live.exit_code_within(Duration::from_secs(20));
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    // Ended by the signal itself (no exit code).
    assert_eq!(code, -1, "{}", live.err());
    assert!(live.err().contains("still busy"), "{}", live.err());
}

#[test]
fn tocsv_of_a_record_with_80000_keys_is_linear() {
    // Before: each cell looked its key up among all the fields (22 s for this record).
    let n = 80_000;
    let keys: Vec<String> = (0..n).map(|i| format!("\"k{i}\":{i}")).collect();
    // Two records: the second has its keys in another order and one more.
    let mut rev = keys.clone();
    rev.reverse();
    let input = format!(
        "{{{}}}\n{{\"extra\":1,{}}}\n",
        keys.join(","),
        rev.join(",")
    );
    let out = quick(&["json", ":", "tocsv"], input);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3);
    let want: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    assert_eq!(lines[1], want.join(","));
    assert_eq!(lines[2], want.join(","));
    assert!(lines[0].starts_with("k0,k1,k2,"));
}

#[test]
fn parse_with_2000_named_groups_is_refused_at_once_and_300_work() {
    // Before: 1.27 GB and minutes for one 3,000-byte line (the capture state is NFA states
    // × groups); now a regex past the bound is refused when the pipeline is built.
    let regex: String = (0..2000).map(|i| format!(r"(?P<g{i}>\S)")).collect();
    let line = format!("{}\n", "x".repeat(3000));
    let t = Instant::now();
    let r = copipe(["parse", &regex]).stdin(line.clone()).run();
    r.code(2)
        .err_has("2000 named groups")
        .err_has("the bound is 64 MB");
    assert!(t.elapsed() < LINEAR, "{:?}", t.elapsed());
    let regex: String = (0..300).map(|i| format!(r"(?P<g{i}>\S)")).collect();
    let out = quick(&["parse", &regex, ":", "select", "g0", "g299"], line);
    assert_eq!(out, "{\"g0\":\"x\",\"g299\":\"x\"}\n");
}

#[test]
fn count_by_holds_at_most_max_keys_values_and_counts_the_rest_together() {
    // Before: every distinct value held, without bound or word (5 M keys: 800 MB).
    let mut input = String::new();
    for i in 0..1000 {
        input.push_str(&format!("{{\"k\":{}}}\n", i % 10));
    }
    for i in 0..1000 {
        input.push_str(&format!("{{\"k\":\"u{i}\"}}\n{{\"k\":{}}}\n", i % 10));
    }
    let r = copipe(["json", ":", "count", "--by", "k", "--max-keys", "10"])
        .stdin(input.clone())
        .run();
    r.code(0)
        .err_has("more than 10 distinct values")
        .err_has("1000 records");
    let out = r.stdout();
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows.len(), 11, "{out}");
    assert_eq!(rows[0], "{\"k\":0,\"count\":200}");
    assert_eq!(rows[10], "{\"other\":true,\"count\":1000}");
    // The default holds them all, without a word.
    let r = copipe(["json", ":", "count", "--by", "k"])
        .stdin(input)
        .run();
    r.code(0).err_lacks("distinct values");
    assert_eq!(r.stdout().lines().count(), 1010);
    copipe(["json", ":", "count", "--by", "k", "--max-keys", "0"])
        .stdin("{}\n")
        .run()
        .code(2);
}
