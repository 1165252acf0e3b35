//! The benchmark tooling of `bench/` (issue 29 item 4): every script compares its commands
//! alternated run by run through `bench/alternate.py` (or its own harness in the same
//! order), never hyperfine's one command's runs together. `alternate.py` is run here on
//! small shell commands that log their turn to a file.

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::tools::have;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn bench_scripts() -> Vec<PathBuf> {
    let mut scripts: Vec<PathBuf> = fs::read_dir(root().join("bench"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sh"))
        .collect();
    scripts.sort();
    scripts
}

/// No script runs hyperfine (it runs all the runs of one command, then the next command's:
/// on a shared machine a change of load falls on one command only).
#[test]
fn no_bench_script_runs_hyperfine() {
    let mut found = Vec::new();
    let scripts = bench_scripts();
    assert!(scripts.len() >= 10, "bench/*.sh: {scripts:?}");
    for script in scripts {
        let text = fs::read_to_string(&script).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if !code.starts_with('#') && code.contains("hyperfine") {
                found.push(format!("{}:{}: {line}", script.display(), i + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "hyperfine still run:\n{}",
        found.join("\n")
    );
}

/// The scripts that time whole commands side by side go through alternate.py.
#[test]
fn the_comparing_scripts_use_alternate_py() {
    for name in [
        "grep.sh",
        "files.sh",
        "compressed.sh",
        "xml.sh",
        "scheduler.sh",
        "net.sh",
        "timing.sh",
    ] {
        let text = fs::read_to_string(root().join("bench").join(name)).unwrap();
        assert!(
            text.contains("bench/alternate.py"),
            "bench/{name} does not call bench/alternate.py"
        );
    }
    for name in ["jq.sh", "parsers.sh"] {
        let text = fs::read_to_string(root().join("bench").join(name)).unwrap();
        assert!(text.contains(". bench/timing.sh") && text.contains("timed_case"));
    }
}

/// Runs alternate.py in `dir` with `args`; its status, standard output and the JSON it wrote.
fn alternate(dir: &Path, args: &[&str]) -> (i32, String, serde_json::Value) {
    let json = dir.join("out.json");
    let out = Command::new("python3")
        .arg(root().join("bench/alternate.py"))
        .arg("--json")
        .arg(&json)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let value = match fs::read_to_string(&json) {
        Ok(text) => serde_json::from_str(&text).unwrap(),
        Err(_) => serde_json::Value::Null,
    };
    (out.status.code().unwrap_or(-1), stdout, value)
}

#[test]
fn alternate_py_runs_the_commands_round_by_round() {
    if !have("python3") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, json) = alternate(
        dir.path(),
        &[
            "--runs",
            "3",
            "--warmup",
            "1",
            "--runs-for",
            "c=1",
            "a=echo a >> log",
            "b=echo b >> log",
            "c=echo c >> log",
        ],
    );
    assert_eq!(code, 0, "{stdout}");
    let log = fs::read_to_string(dir.path().join("log")).unwrap();
    // A warm-up of a and b (c, a slow peer, has none), then three rounds; c's one run
    // falls in the last round, between runs of the others.
    assert_eq!(
        log.split_whitespace().collect::<Vec<_>>(),
        ["a", "b", "a", "b", "a", "b", "a", "b", "c"]
    );
    let cmds = json["commands"].as_array().unwrap();
    let runs: Vec<u64> = cmds.iter().map(|c| c["runs"].as_u64().unwrap()).collect();
    assert_eq!(runs, [3, 3, 1]);
    for c in cmds {
        let (lo, med, hi) = (
            c["wall_min"].as_f64().unwrap(),
            c["wall_median"].as_f64().unwrap(),
            c["wall_max"].as_f64().unwrap(),
        );
        assert!(lo <= med && med <= hi, "{c}");
        assert_eq!(c["failed"], false);
        assert_eq!(c["shell"], true, "a redirection needs a shell: {c}");
    }
    assert_eq!(cmds[0]["wall_ratio"].as_f64(), Some(1.0));
    assert!(json["load_start"].as_array().is_some_and(|l| l.len() == 3));
    // The table names every command with its median, range and ratio.
    for name in ["a ", "b ", "c "] {
        assert!(
            stdout.lines().any(|l| l.trim_start().starts_with(name)),
            "{stdout}"
        );
    }
    assert!(
        stdout.contains("alternated") && stdout.contains("per round"),
        "{stdout}"
    );
}

#[test]
fn alternate_py_starts_a_plain_command_without_a_shell_and_marks_a_failure() {
    if !have("python3") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, json) = alternate(
        dir.path(),
        &[
            "--runs",
            "2",
            "--quiet",
            "--skip-missing",
            "plain=true",
            "fails=sh -c 'exit 3'",
            "nothing-selected=grep -q x /dev/null",
            "missing=no-such-program-copipe-bench",
        ],
    );
    assert_eq!(code, 1, "a failed command makes the status 1: {stdout}");
    assert!(stdout.contains("note: missing skipped"), "{stdout}");
    let cmds = json["commands"].as_array().unwrap();
    let by = |n: &str| cmds.iter().find(|c| c["name"] == n).unwrap().clone();
    assert_eq!(by("plain")["shell"], false);
    assert_eq!(by("plain")["failed"], false);
    assert_eq!(by("fails")["failed"], true);
    // grep's status 1 (nothing selected) is not a failure.
    assert_eq!(by("nothing-selected")["failed"], false);
    assert!(cmds.iter().all(|c| c["name"] != "missing"));
}
