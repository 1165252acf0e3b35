//! Differential test: `copipe cat FILE : grep ARGS` prints exactly what GNU `grep -a ARGS
//! FILE` prints (and exits with the same status), on fixtures with CRLF endings, invalid
//! UTF-8, no final newline, an empty file and very long lines. Skipped when no `grep` is
//! installed. Patterns are written in the syntax both tools share (ERE without Perl
//! classes), so copipe runs them as given and grep with `-E`.

mod common;

use std::process::Command;

use common::*;

const CASES: &[&[&str]] = &[
    &["ERROR"],
    &["ion$"],
    &["-i", "error"],
    &["-v", "INFO"],
    &["-v", "ion"],
    &["-w", "cat"],
    &["-w", "ion"],
    &["-x", "between"],
    &["-x", "-e", "short", "-e", "after ion"],
    &["-F", "a.c"],
    &["-F", "[CommitProcessor"],
    &["-e", "ERROR", "-e", "WARN"],
    &["-i", "-v", "-e", "info", "-e", "warn"],
    &["^$"],
    &["-v", "^$"],
    &[""],
    &["^[A-Z]"],
    &["[0-9]{4}-[0-9]{2}-[0-9]{2}"],
    &["(Error|ERROR) "],
    &["caf."],
    &["é"],
    &["-i", "É"],
    &["\\.$"],
    &["needle ion$"],
    &["x{3}"],
    &["-w", "-i", "error"],
    &["-x", ".*ion"],
    &["[[:digit:]]+ms"],
    &["-v", "-x", ".*"],
    // Unbalanced parentheses: refused with status 2 (a stray `)` is itself, as in -E).
    &[")("],
    &["-x", "a)|(b"],
    &["-e", "ion", "-e", "(x"],
    &["ion)"],
];

fn grep_available() -> bool {
    Command::new("grep")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn copipe_grep_prints_what_gnu_grep_prints() {
    if !grep_available() {
        eprintln!("skipped: no grep installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Very long lines (longer than copipe's 256 KiB read buffer), built here.
    let mut long = Vec::new();
    long.extend_from_slice(b"short\n");
    long.extend_from_slice(&b"xyz ".repeat(100_000));
    long.extend_from_slice(b"needle ion\nbetween\n");
    long.extend_from_slice(&b"ERROR ".repeat(200_000));
    long.extend_from_slice(b"\nafter ion\n");
    let long_path = dir.path().join("long-lines.txt");
    std::fs::write(&long_path, long).unwrap();

    let mut files: Vec<std::path::PathBuf> = [
        "app.log",
        "crlf.log",
        "invalid-utf8.txt",
        "no-newline.txt",
        "empty.txt",
    ]
    .iter()
    .map(|f| fixture(f))
    .collect();
    files.push(long_path);

    let mut failures = Vec::new();
    for file in &files {
        for args in CASES {
            let mut g = Command::new("grep");
            g.env("LC_ALL", "C.UTF-8").arg("-a");
            if args.contains(&"-F") {
                g.args(*args);
            } else {
                g.arg("-E").args(*args);
            }
            let want = g.arg(file).output().unwrap();
            let mut cargs = vec![
                "cat".to_string(),
                file.display().to_string(),
                ":".into(),
                "grep".into(),
            ];
            // A lone pattern that starts with `-` is not a case here; pass args unchanged.
            cargs.extend(args.iter().map(|s| s.to_string()));
            let got = copipe(&cargs).run();
            if got.out != want.stdout || Some(got.code) != want.status.code() {
                failures.push(format!(
                    "{} {:?}: grep printed {} bytes (status {:?}), copipe {} bytes (status {}) {}",
                    file.file_name().unwrap().to_string_lossy(),
                    args,
                    want.stdout.len(),
                    want.status.code(),
                    got.out.len(),
                    got.code,
                    got.err
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
