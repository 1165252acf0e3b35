//! The engine, the grammar and the line stages, through the real binary.

use crate::common;

use std::fs;
use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

fn app() -> String {
    fixture("app.log").display().to_string()
}

#[test]
fn both_grammar_forms_agree() {
    let a = copipe(["cat", &app(), ":", "grep", "-i", "error", ":", "count"]).run();
    a.code(0).out("58\n");
    let b = copipe([format!("cat {} | grep -i error | count", app())]).run();
    b.code(0).out("58\n");
    let c = copipe([format!("cat {} : grep -i error : count", app())]).run();
    c.code(0).out("58\n");
}

#[test]
fn pipeline_file_with_comments() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.pipe");
    fs::write(
        &p,
        format!(
            "# count the warnings\ncat {}   # the log\n: grep WARN   # only warnings\n\n: count\n",
            app()
        ),
    )
    .unwrap();
    copipe(["-f", p.to_str().unwrap()])
        .run()
        .code(0)
        .out("304\n");
}

#[test]
fn implicit_source_and_sink() {
    copipe(["grep", "b"])
        .stdin("a\nb\nabc\n")
        .run()
        .code(0)
        .out("b\nabc\n");
    copipe(["cat", "-", ":", "head", "1"])
        .stdin("x\ny\n")
        .run()
        .code(0)
        .out("x\n");
}

#[test]
fn several_files_in_order_and_dash_is_stdin() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a"), "a1\na2").unwrap();
    fs::write(dir.path().join("b"), "b1\n").unwrap();
    copipe(["cat", "a", "-", "b"])
        .dir(dir.path())
        .stdin("s1\n")
        .run()
        .code(0)
        .out("a1\na2\ns1\nb1\n");
}

#[test]
fn missing_file_is_reported_and_the_rest_is_read() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("b"), "b1\n").unwrap();
    copipe(["cat", "nope", "b"])
        .dir(dir.path())
        .run()
        .code(2)
        .out("b1\n")
        .err_has("nope");
}

#[test]
fn nested_branches_see_every_item_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let r = copipe([
        "range", "1", "11", ":", "tee", "{", "grep", "1", ":", "tee", "{", "write", "ones", "}",
        ":", "count", "}", "{", "skip", "8", ":", "write", "last", "}", ":", "head", "2",
    ])
    .dir(dir.path())
    .run();
    r.code(0);
    // Branch output and main output share stdout: the count comes at close, after head's.
    assert_eq!(r.stdout(), "1\n2\n2\n");
    assert_eq!(
        fs::read_to_string(dir.path().join("ones")).unwrap(),
        "1\n10\n"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("last")).unwrap(),
        "9\n10\n"
    );
}

#[test]
fn closed_stdout_ends_quietly_with_status_0() {
    let mut cmd = copipe(["range", "1", "100000000000"]).command();
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut first = [0u8; 2];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    drop(child.stdout.take());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "copipe kept running after its reader went away"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "stderr: {err}");
    assert_eq!(err, "");
}

#[test]
fn write_error_is_an_error() {
    if !std::path::Path::new("/dev/full").exists() {
        return;
    }
    copipe(["range", "1", "10", ":", "write", "/dev/full"])
        .run()
        .code(2)
        .err_has("/dev/full");
    let mut cmd = copipe(["range", "1", "10"]).command();
    cmd.stdout(
        fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap(),
    )
    .stderr(Stdio::piped());
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("No space left"));
}

#[test]
fn write_appends_and_truncates() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("out.txt");
    fs::write(&f, "old\n").unwrap();
    let fs_ = f.to_str().unwrap();
    copipe(["range", "1", "3", ":", "write", fs_])
        .run()
        .code(0)
        .out("");
    assert_eq!(fs::read_to_string(&f).unwrap(), "old\n1\n2\n");
    copipe(["range", "5", "6", ":", "write", "--truncate", fs_])
        .run()
        .code(0);
    assert_eq!(fs::read_to_string(&f).unwrap(), "5\n");
}

#[test]
fn count_and_exit_status() {
    copipe(["range", "0", "5", ":", "count"])
        .run()
        .code(0)
        .out("5\n");
    copipe(["range", "0", "5", ":", "grep", "9", ":", "count"])
        .run()
        .code(1)
        .out("0\n");
    copipe(["range", "0", "5", ":", "grep", "9"])
        .run()
        .code(1)
        .out("");
    copipe(["range", "0", "5", ":", "discard"])
        .run()
        .code(0)
        .out("");
}

#[test]
fn range_and_naturals() {
    copipe(["range", "10", "0", "-3"])
        .run()
        .code(0)
        .out("10\n7\n4\n1\n");
    copipe(["range", "1", "1"]).run().code(1).out("");
    copipe(["range", "1", "5", "0"])
        .run()
        .code(2)
        .err_has("STEP");
    copipe(["naturals", "--from", "7", ":", "head", "2"])
        .run()
        .code(0)
        .out("7\n8\n");
}

#[test]
fn bytes_pass_through_untouched() {
    let input: &[u8] = b"caf\xc3\xa9\n\xff\xfe raw\r\nno newline \x80";
    let r = copipe(["cat"]).stdin(input).run();
    r.code(0);
    let mut want = input.to_vec();
    want.push(b'\n');
    assert_eq!(r.out, want);
    let r = copipe(["grep", "raw"]).stdin(input).run();
    assert_eq!(r.out, b"\xff\xfe raw\r\n");
}

#[test]
fn crlf_mode_matches_before_the_cr_and_keeps_it() {
    let input = "one ion\r\ntwo\r\nthree ion\n";
    copipe(["grep", "ion$"])
        .stdin(input)
        .run()
        .code(0)
        .out("three ion\n");
    copipe(["--crlf", "grep", "ion$"])
        .stdin(input)
        .run()
        .code(0)
        .out("one ion\r\nthree ion\n");
    copipe(["--crlf", "grep", "-x", "two"])
        .stdin(input)
        .run()
        .code(0)
        .out("two\r\n");
}

#[test]
fn long_lines_longer_than_the_read_buffer() {
    let dir = tempfile::tempdir().unwrap();
    let long = "x ".repeat(400_000);
    let text = format!("short\n{long}needle\nmiddle\n{long}\nend needle");
    let f = dir.path().join("long.txt");
    fs::write(&f, &text).unwrap();
    let r = copipe(["cat", f.to_str().unwrap(), ":", "grep", "needle"]).run();
    r.code(0);
    assert_eq!(r.stdout(), format!("{long}needle\nend needle\n"));
    copipe(["cat", f.to_str().unwrap(), ":", "count"])
        .run()
        .code(0)
        .out("5\n");
}

#[test]
fn syntax_errors_point_at_the_word_before_reading_input() {
    let r = copipe(["cat", "/nonexistent", ":", "gerp", "ion"]).run();
    r.code(2).err_has("did you mean `grep`").err_has("^^^^");
    assert!(!r.err.contains("nonexistent:"), "input was read: {}", r.err);
    copipe(["cat", "f", ":", "tee", "{", "count"])
        .run()
        .code(2)
        .err_has("never closed");
    copipe(["cat", "f", ":", "count", "}"])
        .run()
        .code(2)
        .err_has("closes no");
    copipe(["cat", "f", ":", "head"])
        .run()
        .code(2)
        .err_has("head");
    copipe(["cat", "f", ":", "head", "x"])
        .run()
        .code(2)
        .err_has("invalid value");
    copipe(["cat", "f", ":", "grep", "("])
        .run()
        .code(2)
        .err_has("bad pattern");
    copipe(["cat", "f", ":", "count", ":", "grep", "x"])
        .run()
        .code(2)
        .err_has("ends a pipeline");
    copipe(["cat", "f", ":", "grep", "--field", "x", "y"])
        .run()
        .code(2)
        .err_has("records");
    copipe(["write", "/nonexistent/dir/file"])
        .stdin("x\n")
        .run()
        .code(2)
        .err_has("cannot open");
    copipe(Vec::<String>::new())
        .run()
        .code(2)
        .err_has("no pipeline");
}

#[test]
fn help_and_version() {
    copipe(["--version"]).run().code(0);
    let r = copipe(["--help"]).run();
    r.code(0);
    assert!(r.stdout().contains("copipe cat app.log : grep -i error"));
    let r = copipe(["help", "grep"]).run();
    r.code(0);
    assert!(r.stdout().contains("--invert-match"));
    copipe(["help", "gerp"]).run().code(2).err_has("grep");
}

#[test]
fn line_buffered_output_reaches_a_pipe_before_the_input_ends() {
    // The writer keeps stdin open; the line must arrive while copipe is still waiting.
    let mut cmd = copipe(["--line-buffered", "grep", "x"]).command();
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    use std::io::Write;
    stdin.write_all(b"x1\ny\n").unwrap();
    stdin.flush().unwrap();
    let mut out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 3];
        let r = out.read_exact(&mut buf).map(|()| buf);
        let _ = tx.send(r.ok());
    });
    let got = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("no output while input is open");
    assert_eq!(got.as_ref().map(|b| &b[..]), Some(&b"x1\n"[..]));
    drop(stdin);
    child.wait().unwrap();
}

#[test]
fn big_files_are_read_whole_and_exactly() {
    // Files of 4 MB and more are memory-mapped and pushed in 1 MB batches: check the
    // batch cuts, a line longer than a batch, and an unterminated last line.
    let dir = tempfile::tempdir().unwrap();
    let mut text = Vec::new();
    let mut n = 0;
    while text.len() < 5 << 20 {
        text.extend_from_slice(format!("line {n} ion\n").as_bytes());
        n += 1;
    }
    text.extend_from_slice(&b"y".repeat(1_500_000));
    text.extend_from_slice(b" ion\nlast without newline ion");
    let f = dir.path().join("big.txt");
    fs::write(&f, &text).unwrap();
    let fs_ = f.to_str().unwrap();
    let r = copipe(["cat", fs_]).run();
    r.code(0);
    let mut want = text.clone();
    want.push(b'\n');
    assert!(r.out == want, "cat of a mapped file differs");
    copipe(["cat", fs_, ":", "grep", "ion$", ":", "count"])
        .run()
        .code(0)
        .out(&format!("{}\n", n + 2));
    copipe(["cat", fs_, ":", "head", "2"])
        .run()
        .code(0)
        .out("line 0 ion\nline 1 ion\n");
}

#[test]
fn cat_tag_names_each_line_like_grep_h() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a"), "x1\ny\n").unwrap();
    fs::write(dir.path().join("b"), "x2\n\nx3").unwrap();
    copipe(["cat", "--tag", "a", "b", ":", "grep", "-v", "y"])
        .dir(dir.path())
        .run()
        .code(0)
        .out("a:x1\nb:x2\nb:\nb:x3\n");
    // The tag is shown by the sink: grep still sees the line itself, and every branch
    // that writes lines labels them.
    copipe([
        "cat", "-H", "a", "b", ":", "grep", "^x", ":", "tee", "{", "write", "t", "}", ":", "exec",
        "cat",
    ])
    .dir(dir.path())
    .run()
    .code(0)
    .out("a:x1\nb:x2\nb:x3\n");
    assert_eq!(
        fs::read_to_string(dir.path().join("t")).unwrap(),
        "a:x1\nb:x2\nb:x3\n"
    );
}

#[test]
fn ctrl_c_on_a_pipe_does_not_emit_the_unfinished_line() {
    let (reader, mut writer) = std::io::pipe().unwrap();
    let mut live = copipe(["--stats", "cat", "-", ":", "grep", "-v", "x"]).spawn_stdin(reader);
    use std::io::Write;
    // `78166550` is being written: only `78` of it has arrived when Ctrl-C comes.
    writer.write_all(b"a\nb\n78").unwrap();
    // Flushed as soon as copipe waits on its input.
    live.wait_out_eq("a\nb\n");
    live.signal(libc::SIGINT);
    assert_eq!(live.exit_code(), 130);
    // The fragment is no line: not pushed, but said; the stats are still printed.
    assert_eq!(live.out(), "a\nb\n");
    let err = live.err();
    assert!(
        err.contains(
            "copipe: interrupted: 2 bytes of an unfinished line in standard input not emitted"
        ),
        "{err}"
    );
    assert!(err.contains("copipe: stats after"), "{err}");
    assert!(err.contains("grep -v x"), "{err}");
    drop(writer);
}

#[test]
fn the_last_line_of_a_pipe_without_newline_is_still_a_line() {
    copipe(["cat", "-"])
        .stdin("a\n78166550")
        .run()
        .code(0)
        .out("a\n78166550\n");
}

#[test]
fn sigterm_ends_an_endless_source_with_whole_lines() {
    let mut live = copipe(["naturals", ":", "grep", "7"]).spawn();
    live.wait_out("some output", |o| o.len() > 100_000);
    assert_eq!(live.stop(), 0);
    let out = live.out();
    assert!(out.ends_with('\n'));
    let last = out.lines().last().unwrap();
    assert!(
        last.contains('7') && last.parse::<u64>().is_ok(),
        "{last:?}"
    );
}

#[test]
fn a_failing_sink_is_not_blamed_on_the_input() {
    let r = copipe(["cat", &app(), ":", "write", "/dev/full"]).run();
    r.code(2).err_has("error writing to /dev/full");
    assert!(!r.err.contains("error reading"), "{}", r.err);
}

#[test]
fn an_input_that_cannot_be_read_is_reported_and_the_rest_is_read() {
    // Opening a directory works; reading it fails: the same as a file that cannot be
    // opened, as grep does.
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("sub")).unwrap();
    fs::write(dir.path().join("b"), "b1\n").unwrap();
    copipe(["cat", "sub", "b", ":", "count"])
        .dir(dir.path())
        .run()
        .code(2)
        .out("1\n")
        .err_has("error reading sub: Is a directory");
}

/// copipe raises its own soft open-file limit (for `follow` of many files), but a child of
/// `exec` gets the limit copipe was started with.
#[test]
fn exec_children_get_the_open_file_limit_copipe_was_given() {
    let mut hard = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the rlimit it is given.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut hard) },
        0
    );
    if hard.rlim_max < 200 {
        eprintln!("skipped: the hard open-file limit is {}", hard.rlim_max);
        return;
    }
    let max = hard.rlim_max;
    let run = copipe(["range", "1", "2", ":", "exec", "ulimit -n; cat >/dev/null"])
        .open_file_limit(100, max)
        .run();
    run.code(0);
    assert_eq!(run.stdout().trim(), "100");
}

/// Standard input redirected from a big file that a command before copipe has partly read
/// is read from where it stands (the mapped fast path used to map it from its start).
#[test]
fn standard_input_partly_read_by_a_command_before_is_read_from_where_it_stands() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.log");
    let mut text = String::new();
    for i in 0..600_000 {
        text.push_str(&format!("line {i:07}\n"));
    }
    assert!(text.len() > 4 << 20, "bigger than the mapping threshold");
    std::fs::write(&big, &text).unwrap();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{{ head -c 13 >/dev/null; \"$0\" cat : head 1; }} < '{}'",
            big.display()
        ))
        .arg(bin())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "line 0000001\n");
}
