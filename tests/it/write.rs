//! `write` never writes into a file the source reads (issue #12): `cat f : write f` grew `f`
//! until the disk was full, and `write --truncate f` emptied it before it was read.

use crate::common;

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

const TEXT: &str = "one\ntwo\nthree\n";

/// Run to the end, or kill it after a generous deadline (the old behaviour never ended);
/// returns the exit status and stderr.
fn bounded(mut cmd: Command, stdin: Stdio) -> (i32, String) {
    cmd.stdin(stdin)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child: Child = cmd.spawn().expect("spawn copipe");
    let mut status = None;
    wait_until(Duration::from_secs(30), || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("copipe did not end: it is writing into its own input");
    };
    let mut err = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code().unwrap_or(-1), err)
}

fn refused(args: &[&str], dir: &Path, stdin: Stdio) -> String {
    let (code, err) = bounded(copipe(args).dir(dir).command(), stdin);
    assert_eq!(code, 2, "exit status; stderr:\n{err}");
    assert!(err.starts_with("copipe: write: "), "{err}");
    assert!(err.contains("is an input of"), "{err}");
    err
}

#[test]
fn write_refuses_an_output_that_is_an_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("f"), TEXT).unwrap();
    let err = refused(&["cat", "f", ":", "write", "f"], d, Stdio::null());
    // The caret is under the file name of `write`.
    assert!(
        err.ends_with("  cat f : write f\n                ^\n"),
        "{err}"
    );
    refused(
        &["cat", "g", "f", ":", "grep", "o", ":", "write", "f"],
        d,
        Stdio::null(),
    );
    assert_eq!(fs::read_to_string(d.join("f")).unwrap(), TEXT);
}

#[test]
fn write_truncate_never_empties_an_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("f"), TEXT).unwrap();
    refused(
        &["cat", "f", ":", "write", "--truncate", "f"],
        d,
        Stdio::null(),
    );
    refused(&["cat f | write -t f"], d, Stdio::null());
    assert_eq!(fs::read_to_string(d.join("f")).unwrap(), TEXT);
}

#[test]
fn write_refuses_an_input_in_any_branch() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("f"), TEXT).unwrap();
    for p in [
        "cat f : tee { write x } { grep o : write --truncate f } : count",
        "cat f : broadcast { count } { tee { tee { write -t f } } }",
        "xml f : write -t f",
        "follow -n0 f : write f",
    ] {
        refused(&[p], d, Stdio::null());
    }
    assert_eq!(fs::read_to_string(d.join("f")).unwrap(), TEXT);
    assert!(!d.join("x").exists(), "nothing is opened before the check");
}

#[test]
fn write_refuses_links_to_an_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("f"), TEXT).unwrap();
    fs::hard_link(d.join("f"), d.join("hard")).unwrap();
    std::os::unix::fs::symlink("f", d.join("soft")).unwrap();
    fs::create_dir(d.join("sub")).unwrap();
    let err = refused(&["cat", "f", ":", "write", "-t", "hard"], d, Stdio::null());
    assert!(err.contains("the same file as `f`"), "{err}");
    refused(&["cat", "soft", ":", "write", "-t", "f"], d, Stdio::null());
    refused(&["cat", "f", ":", "write", "sub/../soft"], d, Stdio::null());
    assert_eq!(fs::read_to_string(d.join("f")).unwrap(), TEXT);
}

#[test]
fn write_refuses_standard_input_redirected_from_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("f"), TEXT).unwrap();
    let open = || Stdio::from(fs::File::open(d.join("f")).unwrap());
    let err = refused(&["cat", ":", "write", "f"], d, open());
    assert!(err.contains("the same file as standard input"), "{err}");
    refused(&["cat", "-", ":", "write", "-t", "f"], d, open());
    // The implicit source reads standard input too.
    refused(&["grep", "o", ":", "write", "-t", "f"], d, open());
    refused(&["xml", ":", "write", "f"], d, open());
    assert_eq!(fs::read_to_string(d.join("f")).unwrap(), TEXT);
}

#[test]
fn write_refuses_creating_a_file_follow_waits_for() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    refused(
        &["follow", "later", ":", "write", "./later"],
        d,
        Stdio::null(),
    );
    assert!(!d.join("later").exists());
}

#[test]
fn write_to_other_files_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("f"), TEXT).unwrap();
    fs::write(d.join("out"), "old\n").unwrap();
    copipe(["cat", "f", ":", "write", "out"])
        .dir(d)
        .run()
        .code(0);
    assert_eq!(
        fs::read_to_string(d.join("out")).unwrap(),
        format!("old\n{TEXT}")
    );
    copipe(["cat", "f", ":", "write", "-t", "out"])
        .dir(d)
        .run()
        .code(0);
    assert_eq!(fs::read_to_string(d.join("out")).unwrap(), TEXT);
    // Not a regular file: never refused.
    copipe(["cat", "/dev/null", ":", "write", "/dev/null"])
        .run()
        .code(1);
    // Standard input from another file.
    let (code, err) = bounded(
        copipe(["cat", ":", "write", "-t", "out"]).dir(d).command(),
        Stdio::from(fs::File::open(d.join("f")).unwrap()),
    );
    assert_eq!(code, 0, "{err}");
}

#[test]
fn write_is_not_refused_for_a_source_that_reads_no_file() {
    // `range` reads nothing: standard input being the output file does not matter.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("f"), TEXT).unwrap();
    let (code, err) = bounded(
        copipe(["range", "1", "3", ":", "write", "f"])
            .dir(d)
            .command(),
        Stdio::from(fs::File::open(d.join("f")).unwrap()),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        fs::read_to_string(d.join("f")).unwrap(),
        format!("{TEXT}1\n2\n")
    );
}
