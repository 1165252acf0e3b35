//! grep's output options (issue 27) where the differential test against GNU grep
//! (tests/it/grep_diff.rs) cannot go: `follow` (numbers across rotations, context from lines
//! seen, several names), `-m` stopping an endless source, `--color=auto` on a terminal and
//! in a pipe, records, and the refusals.

use crate::common;

use std::fs;
use std::time::{Duration, Instant};

use common::*;

/// `follow : grep -n` numbers each line of the name, going on across a rotation; context
/// before a match comes from lines already seen, after it from the lines that come next.
#[test]
fn follow_numbers_lines_across_rotations_with_context() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("app.log");
    fs::write(&f, "a\nb\nERROR 1\n").unwrap();
    let mut cp = follow(
        dir.path(),
        [
            "-n", "+1", "app.log", ":", "grep", "-n", "-B", "1", "-A", "1", "ERROR",
        ],
    );
    cp.wait_out_eq("2-b\n3:ERROR 1\n");
    append(&f, "c\nd\n");
    cp.wait_out_eq("2-b\n3:ERROR 1\n4-c\n");
    fs::rename(&f, dir.path().join("app.log.1")).unwrap();
    fs::write(&f, "e\nERROR 2\n").unwrap();
    cp.wait_out_eq("2-b\n3:ERROR 1\n4-c\n--\n6-e\n7:ERROR 2\n");
    assert_eq!(cp.stop(), 0);
}

/// Two followed names are numbered each on its own, and named as asked (-H).
#[test]
fn follow_of_two_names_numbers_each_name_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    fs::write(&a, "x1\ny\n").unwrap();
    fs::write(&b, "y\n").unwrap();
    let mut cp = follow(
        dir.path(),
        ["-n", "+1", "a.log", "b.log", ":", "grep", "-n", "-H", "x"],
    );
    cp.wait_out("a.log:1:x1", |o| o.contains("a.log:1:x1\n"));
    append(&b, "x2\n");
    cp.wait_out("b.log:2:x2", |o| o.contains("b.log:2:x2\n"));
    append(&a, "x3\n");
    cp.wait_out("a.log:3:x3", |o| o.contains("a.log:3:x3\n"));
    assert_eq!(cp.stop(), 0);
    assert_eq!(cp.out(), "a.log:1:x1\nb.log:2:x2\na.log:3:x3\n");
}

/// `-m` stops the source as `head` does: an endless source ends at once.
#[test]
fn max_count_stops_an_endless_source_like_head() {
    let start = Instant::now();
    copipe(["range", "1", "1000000000000", ":", "grep", "-m", "3", "7"])
        .run()
        .code(0)
        .out("7\n17\n27\n");
    copipe([
        "range",
        "1",
        "1000000000000",
        ":",
        "grep",
        "-n",
        "-m",
        "2",
        "-A",
        "1",
        "^9$|^19$",
    ])
    .run()
    .code(0)
    .out("9:9\n10-10\n--\n19:19\n20-20\n");
    copipe(["range", "1", "1000000000000", ":", "grep", "-q", "5"])
        .run()
        .code(0)
        .out("");
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "took {:?}",
        start.elapsed()
    );
}

/// `--color=auto` colours on a terminal and not in a pipe; `always` in a pipe too.
#[test]
fn color_auto_colours_a_terminal_only() {
    let args = [
        "cat",
        "fixtures/app.log",
        ":",
        "grep",
        "--color=auto",
        "-n",
        "-m",
        "1",
        "ERROR",
    ];
    let dir = fixtures().parent().unwrap().to_path_buf();
    let piped = copipe(args).dir(&dir).run();
    assert_eq!(piped.code, 0);
    assert!(!piped.stdout().contains('\x1b'), "{:?}", piped.stdout());
    let tty = copipe(args).dir(&dir).env("TERM", "xterm").run_in_pty(Tty {
        stdout: true,
        stderr: false,
    });
    assert!(
        tty.stdout()
            .contains("\x1b[32m\x1b[K7\x1b[m\x1b[K\x1b[36m\x1b[K:\x1b[m\x1b[K")
            && tty.stdout().contains("\x1b[01;31m\x1b[KERROR\x1b[m\x1b[K"),
        "{:?}",
        tty.stdout()
    );
    let colour_always = || {
        copipe([
            "cat",
            "fixtures/app.log",
            ":",
            "grep",
            "--color=always",
            "-m",
            "1",
            "ERROR",
        ])
        .dir(&dir)
    };
    let always = colour_always().run();
    assert!(
        always
            .stdout()
            .contains("\x1b[01;31m\x1b[KERROR\x1b[m\x1b[K")
    );
    // GREP_COLORS changes the match colour.
    let mt = colour_always().env("GREP_COLORS", "mt=01;32").run();
    assert!(
        mt.stdout().contains("\x1b[01;32m\x1b[KERROR\x1b[m\x1b[K"),
        "{:?}",
        mt.stdout()
    );
}

/// On records: -m, -q, -c and context apply; the options that shape lines are refused
/// before reading.
#[test]
fn records_take_max_count_and_quiet_and_refuse_line_options() {
    let input = "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n";
    copipe(["json", ":", "grep", "-m", "2", "a"])
        .stdin(input)
        .run()
        .code(0)
        .out("{\"a\":1}\n{\"a\":2}\n");
    copipe(["json", ":", "grep", "-q", "--field", "a", "2"])
        .stdin(input)
        .run()
        .code(0)
        .out("");
    copipe(["json", ":", "grep", "-q", "--field", "a", "9"])
        .stdin(input)
        .run()
        .code(1)
        .out("");
    // -b has no meaning on records, nor -o without --field: refused, saying why.
    copipe(["json", ":", "grep", "-b", "a"])
        .stdin(input)
        .run()
        .code(2)
        .err_has("-b works on lines, but this grep receives records (an item is parsed");
    copipe(["json", ":", "grep", "-o", "a"])
        .stdin(input)
        .run()
        .code(2)
        .err_has("with --field F each match in F is passed on");
    // -c: one record with the count; the status says whether one was selected.
    copipe(["json", ":", "grep", "-c", "--field", "a", "[13]"])
        .stdin(input)
        .run()
        .code(0)
        .out("{\"count\":2}\n");
    copipe(["json", ":", "grep", "-c", "--field", "a", "9"])
        .stdin(input)
        .run()
        .code(1)
        .out("{\"count\":0}\n");
    // Context: the records around a selected one (no separator between groups).
    let ten: String = (1..=10).map(|i| format!("{{\"a\":{i}}}\n")).collect();
    copipe(["json", ":", "grep", "-C", "1", "--field", "a", "^[37]$"])
        .stdin(ten.clone())
        .run()
        .code(0)
        .out("{\"a\":2}\n{\"a\":3}\n{\"a\":4}\n{\"a\":6}\n{\"a\":7}\n{\"a\":8}\n");
    copipe([
        "json", ":", "grep", "-m", "1", "-A", "2", "--field", "a", "^5$",
    ])
    .stdin(ten)
    .run()
    .code(0)
    .out("{\"a\":5}\n{\"a\":6}\n{\"a\":7}\n");
    // On events neither applies.
    copipe(["xml", "fixtures/buses.xml", ":", "grep", "-c", "x"])
        .dir(fixtures().parent().unwrap())
        .run()
        .code(2)
        .err_has("receives events");
}

/// Refusals name the way out, with status 2 and nothing read.
#[test]
fn unsupported_syntaxes_and_bad_pattern_files_are_refused() {
    copipe(["grep", "-G", "a\\(b\\)"])
        .stdin("ab\n")
        .run()
        .code(0)
        .out("ab\n");
    copipe(["grep", "-G", "\\(a\\)\\1"])
        .stdin("aa\n")
        .run()
        .code(2)
        .err_has("back-references");
    copipe(["grep", "-E", "-F", "a"])
        .stdin("a\n")
        .run()
        .code(2)
        .err_has("conflicting matchers");
    copipe(["grep", "-P", "-E", "a"])
        .stdin("a\n")
        .run()
        .code(2)
        .err_has("conflicting matchers");
    copipe(["grep", "-f", "/nonexistent/patterns"])
        .stdin("ab\n")
        .run()
        .code(2)
        .err_has("cannot read patterns from /nonexistent/patterns");
    copipe(["grep", "-f", "-"])
        .stdin("ab\n")
        .run()
        .code(2)
        .err_has("standard input");
    // A `:` after --color is the next stage, not its value.
    copipe(["grep", "--color", "a", ":", "count"])
        .stdin("ab\n")
        .run()
        .code(0)
        .out("1\n");
}

/// `-c` with nothing selected prints 0 and exits 1, as GNU grep does; an unreadable file
/// among several gets no count and makes the status 2.
#[test]
fn count_status_follows_the_selection_not_the_output() {
    let dir = fixtures();
    let app = dir.join("app.log").display().to_string();
    copipe(["cat", &app, ":", "grep", "-c", "NO SUCH THING"])
        .run()
        .code(1)
        .out("0\n");
    let r = copipe([
        "cat",
        &app,
        "/nonexistent/x.log",
        ":",
        "grep",
        "-c",
        "ERROR",
    ])
    .run();
    r.code(2).err_has("/nonexistent/x.log");
    assert_eq!(r.stdout(), format!("{app}:13\n"));
}

/// Under -q a selected line makes the status 0 even after an error, as GNU grep says.
#[test]
fn quiet_succeeds_after_an_error_when_a_line_is_selected() {
    let app = fixture("app.log").display().to_string();
    let r = copipe([
        "cat",
        "/nonexistent/x.log",
        &app,
        ":",
        "grep",
        "-q",
        "ERROR",
    ])
    .run();
    r.code(0).err_has("/nonexistent/x.log");
    copipe([
        "cat",
        "/nonexistent/x.log",
        &app,
        ":",
        "grep",
        "-q",
        "NO SUCH THING",
    ])
    .run()
    .code(2);
    copipe([
        "cat",
        "/nonexistent/x.log",
        &app,
        ":",
        "grep",
        "-c",
        "ERROR",
    ])
    .run()
    .code(2);
}

/// GNU grep names the files of several in front of the lines it prints, and so does a
/// plain `grep` of several files of `cat` when a sink takes its lines; a parser after it
/// gets the lines as the files hold them (a `file` field only with `-H`), so that putting
/// a `grep` in front of `logfmt` does not change the records.
#[test]
fn file_names_go_in_front_only_when_a_sink_takes_the_lines() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.log"), "k=1 x\n").unwrap();
    fs::write(dir.path().join("b.log"), "k=2 x\n").unwrap();
    let cat = ["cat", "a.log", "b.log", ":"];
    copipe(cat.iter().chain(&["grep", "x"]))
        .dir(dir.path())
        .run()
        .code(0)
        .out("a.log:k=1 x\nb.log:k=2 x\n");
    copipe(cat.iter().chain(&["grep", "x", ":", "logfmt"]))
        .dir(dir.path())
        .run()
        .code(0)
        .out("{\"k\":\"1\",\"x\":true}\n{\"k\":\"2\",\"x\":true}\n");
    copipe(cat.iter().chain(&["grep", "-H", "x", ":", "logfmt"]))
        .dir(dir.path())
        .run()
        .code(0)
        .out("{\"file\":\"a.log\",\"k\":\"1\",\"x\":true}\n{\"file\":\"b.log\",\"k\":\"2\",\"x\":true}\n");
}

/// `-P` where GNU grep cannot check it: on records (`--field`, the JSON text), with the
/// global `--crlf` (`$` before the `\r`, which is still written), coloured by the global
/// `--color` (which `print` cannot do for a PCRE2 pattern: the grep colours its lines), and
/// several patterns each with its own backreference numbers.
#[test]
fn perl_regexps_on_records_crlf_global_color_and_several_patterns() {
    copipe(["json", ":", "grep", "-P", "--field", "a", r"^(\w)\1"])
        .stdin("{\"a\":\"xxy\"}\n{\"a\":\"xyy\"}\n{\"b\":\"zz\"}\n")
        .run()
        .code(0)
        .out("{\"a\":\"xxy\"}\n");
    copipe(["json", ":", "grep", "-P", "-c", r#"(?<="a":)\d"#])
        .stdin("{\"a\":1}\n{\"b\":2}\n{\"a\":\"3\"}\n")
        .run()
        .code(0)
        .out("{\"count\":1}\n");
    copipe(["--crlf", "grep", "-P", "-n", r"(?<=t)ion$"])
        .stdin("station\r\nlion\r\nmotion\n")
        .run()
        .code(0)
        .out("1:station\r\n3:motion\n");
    copipe(["--color=always", "grep", "-P", r"\d+(?=ms)"])
        .env("GREP_COLORS", "")
        .stdin("took 12ms\n12 s\n")
        .run()
        .code(0)
        .out("took \x1b[01;31m\x1b[K12\x1b[m\x1b[Kms\n");
    copipe(["grep", "-P", "-o", "-e", r"(a)\1", "-e", r"(b)\1"])
        .stdin("xbbyaa\nab\n")
        .run()
        .code(0)
        .out("bb\naa\n");
    // A plain literal takes the literal searcher; the lines are the same.
    copipe(["grep", "-P", "-i", "-c", "error"])
        .stdin("ERROR\nerr\nAn Error\n")
        .run()
        .code(0)
        .out("2\n");
}

/// On records, `-n` is the record's number in its input and `-H` its input's name, as
/// fields `n` and `file` in front (a record's own field of that name is kept); context
/// records are numbered too.
#[test]
fn records_take_line_numbers_and_file_names_as_fields() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.ndjson");
    let b = dir.path().join("b.ndjson");
    std::fs::write(&a, "{\"m\":\"x1\"}\n{\"m\":\"y\"}\n{\"m\":\"x2\"}\n").unwrap();
    std::fs::write(&b, "{\"m\":\"y\"}\n{\"m\":\"x3\"}\n").unwrap();
    let (a, b) = (a.display().to_string(), b.display().to_string());
    copipe(["cat", &a, &b, ":", "json", ":", "grep", "-n", "-H", "--field", "m", "x"])
        .run()
        .code(0)
        .out(&format!(
            "{{\"file\":\"{a}\",\"n\":1,\"m\":\"x1\"}}\n{{\"file\":\"{a}\",\"n\":3,\"m\":\"x2\"}}\n{{\"file\":\"{b}\",\"n\":2,\"m\":\"x3\"}}\n"
        ));
    copipe(["json", ":", "grep", "-n", "-A", "1", "-m", "1", "y"])
        .stdin("{\"m\":\"x\"}\n{\"m\":\"y\"}\n{\"m\":\"z\"}\n{\"m\":\"y\"}\n")
        .run()
        .code(0)
        .out("{\"n\":2,\"m\":\"y\"}\n{\"n\":3,\"m\":\"z\"}\n");
    copipe(["json", ":", "grep", "-H", "-B", "1", "y"])
        .stdin("{\"m\":\"x\"}\n{\"m\":\"y\"}\n")
        .run()
        .code(0)
        .out("{\"file\":\"(standard input)\",\"m\":\"x\"}\n{\"file\":\"(standard input)\",\"m\":\"y\"}\n");
    // A record's own `n` is data: kept, and said once.
    copipe(["json", ":", "grep", "-n", "y"])
        .stdin("{\"n\":\"mine\",\"m\":\"y\"}\n")
        .run()
        .code(0)
        .out("{\"n\":\"mine\",\"m\":\"y\"}\n")
        .err_has("of its own: it is kept");
}

/// On records, `-o --field F` passes on each match in F as the record with F set to it
/// (nothing with -v, as grep -o -v); `-l`/`-L` pass on `{"file":NAME}` per input with /
/// without a selected record, and the status says whether one was selected.
#[test]
fn records_take_only_matching_with_a_field_and_file_lists() {
    copipe(["json", ":", "grep", "-o", "--field", "s.t", r"\d+"])
        .stdin("{\"s\":{\"t\":\"a1 b22\"},\"k\":1}\n{\"s\":{\"t\":\"none\"}}\n{\"s\":{\"t\":7}}\n")
        .run()
        .code(0)
        .out("{\"s\":{\"t\":\"1\"},\"k\":1}\n{\"s\":{\"t\":\"22\"},\"k\":1}\n{\"s\":{\"t\":\"7\"}}\n");
    copipe(["json", ":", "grep", "-o", "-v", "--field", "m", "x"])
        .stdin("{\"m\":\"y\"}\n")
        .run()
        .code(0)
        .out("");
    copipe([
        "json",
        ":",
        "grep",
        "-P",
        "-o",
        "-n",
        "--field",
        "m",
        r"(?<=id=)\d+",
    ])
    .stdin("{\"m\":\"id=4 id=5\"}\n")
    .run()
    .code(0)
    .out("{\"n\":1,\"m\":\"4\"}\n{\"n\":1,\"m\":\"5\"}\n");
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.ndjson");
    let b = dir.path().join("b.ndjson");
    let c = dir.path().join("c.ndjson");
    std::fs::write(&a, "{\"m\":\"x\"}\n{\"m\":\"x\"}\n").unwrap();
    std::fs::write(&b, "{\"m\":\"y\"}\n").unwrap();
    std::fs::write(&c, "{\"m\":\"z\"}\n{\"m\":\"x\"}\n").unwrap();
    let (a, b, c) = (
        a.display().to_string(),
        b.display().to_string(),
        c.display().to_string(),
    );
    copipe(["cat", &a, &b, &c, ":", "json", ":", "grep", "-l", "x"])
        .run()
        .code(0)
        .out(&format!("{{\"file\":\"{a}\"}}\n{{\"file\":\"{c}\"}}\n"));
    copipe(["cat", &a, &b, &c, ":", "json", ":", "grep", "-L", "x"])
        .run()
        .code(0)
        .out(&format!("{{\"file\":\"{b}\"}}\n"));
    copipe(["cat", &b, ":", "json", ":", "grep", "-l", "x"])
        .run()
        .code(1)
        .out("");
    // On events they stay refused.
    copipe(["xml", "fixtures/buses.xml", ":", "grep", "-n", "x"])
        .dir(fixtures().parent().unwrap())
        .run()
        .code(2)
        .err_has("receives events");
}

/// A `-P` match that gives up (past PCRE2's backtracking limit) is an error that names the
/// input and the line (`grep: NAME:LINE: cause`; on records, the record's number), status
/// 2, after what was selected before it was written: with several files of `cat` (on one
/// thread and on the per-file workers), with `-c`, from standard input, in `follow`
/// (numbered as `-n` numbers, across a rotation) and on records.
#[test]
fn a_perl_match_that_gives_up_names_the_input_and_the_line() {
    let pat = "(a+)+$";
    let bad = format!("{}!\n", "a".repeat(40));
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    fs::write(&a, "x aa\ny\n").unwrap();
    fs::write(&b, format!("y\nok aaa\n{bad}z aa\n")).unwrap();
    let (a, b) = (a.display().to_string(), b.display().to_string());
    let why = "exceeded PCRE's backtracking limit";
    for threads in ["--threads=1", "--threads=2"] {
        copipe(["cat", threads, &a, &b, ":", "grep", "-P", pat])
            .run()
            .code(2)
            .out(&format!("{a}:x aa\n{b}:ok aaa\n"))
            .err_has(&format!("copipe: grep: {b}:3: {why}\n"));
    }
    copipe(["cat", &a, &b, ":", "grep", "-c", "-P", pat])
        .run()
        .code(2)
        .out(&format!("{a}:1\n"))
        .err_has(&format!("copipe: grep: {b}:3: {why}\n"));
    copipe(["grep", "-n", "-P", pat])
        .stdin(format!("aa\n{bad}"))
        .run()
        .code(2)
        .out("1:aa\n")
        .err_has(&format!("copipe: grep: (standard input):2: {why}\n"));
    // A line pushed on its own (here by jq -r) is numbered too.
    copipe(["jq", "-R", "-r", ".", ":", "grep", "-P", pat])
        .stdin(format!("aa\nb\n{bad}"))
        .run()
        .code(2)
        .out("aa\n")
        .err_has(&format!("copipe: grep: (standard input):3: {why}\n"));
    // follow: the lines seen of the name, going on across the rotation.
    let f = dir.path().join("app.log");
    fs::write(&f, "aa\nb\n").unwrap();
    let mut cp = follow(dir.path(), ["-n", "+1", "app.log", ":", "grep", "-P", pat]);
    cp.wait_out_eq("aa\n");
    fs::rename(&f, dir.path().join("app.log.1")).unwrap();
    fs::write(&f, format!("c aa\n{bad}")).unwrap();
    assert_eq!(cp.exit_code(), 2, "{}", cp.err());
    assert_eq!(cp.out(), "aa\nc aa\n");
    assert!(
        cp.err()
            .contains(&format!("copipe: grep: app.log:4: {why}\n")),
        "{}",
        cp.err()
    );
    // Records: the record's number in its input.
    let r = dir.path().join("r.ndjson");
    fs::write(
        &r,
        format!("{{\"m\":\"aa\"}}\n{{\"m\":\"{}\"}}\n", bad.trim_end()),
    )
    .unwrap();
    let r = r.display().to_string();
    for extra in [&["--field", "m"][..], &["-o", "--field", "m"], &[]] {
        let pat = if extra.is_empty() { "(a+)+\"" } else { pat };
        let mut args = vec!["cat", &r, ":", "json", ":", "grep", "-P"];
        args.extend_from_slice(extra);
        args.push(pat);
        copipe(args)
            .run()
            .code(2)
            .out("{\"m\":\"aa\"}\n")
            .err_has(&format!("copipe: grep: {r}, record 2: {why}\n"));
    }
}

/// On records `-c` gives one count per input, as grep -c does on lines: `{"count":N}` with
/// one input, `{"file":NAME,"count":N}` with several (or `-H`; `-h` leaves names out), an
/// empty input counted 0, a file named twice counted twice (and numbered from 1 again by
/// `-n`); in `follow`, one count per name at the end, in the order the names came.
#[test]
fn records_are_counted_per_input() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, e) = (
        dir.path().join("a.ndjson"),
        dir.path().join("b.ndjson"),
        dir.path().join("e.ndjson"),
    );
    fs::write(&a, "{\"msg\":\"X1\"}\n{\"msg\":\"y\"}\n{\"msg\":\"X2\"}\n").unwrap();
    fs::write(&b, "{\"msg\":\"y\"}\n{\"msg\":\"X3\",\"k\":1}\n").unwrap();
    fs::write(&e, "").unwrap();
    let (a, b, e) = (
        a.display().to_string(),
        b.display().to_string(),
        e.display().to_string(),
    );
    let named = format!(
        "{{\"file\":\"{a}\",\"count\":2}}\n{{\"file\":\"{b}\",\"count\":1}}\n{{\"file\":\"{e}\",\"count\":0}}\n"
    );
    for flags in [&["-H", "--field", "msg"][..], &["--field", "msg"], &[]] {
        let mut args = vec!["cat", &a, &b, &e, ":", "json", ":", "grep", "-c"];
        args.extend_from_slice(flags);
        args.push("X");
        copipe(args).run().code(0).out(&named);
    }
    copipe(["cat", &a, &b, ":", "json", ":", "grep", "-c", "-h", "X"])
        .run()
        .code(0)
        .out("{\"count\":2}\n{\"count\":1}\n");
    copipe(["cat", &a, &a, ":", "json", ":", "grep", "-c", "-v", "X"])
        .run()
        .code(0)
        .out(&format!(
            "{{\"file\":\"{a}\",\"count\":1}}\n{{\"file\":\"{a}\",\"count\":1}}\n"
        ));
    copipe(["cat", &a, &a, ":", "json", ":", "grep", "-n", "X2"])
        .run()
        .code(0)
        .out("{\"n\":3,\"msg\":\"X2\"}\n{\"n\":3,\"msg\":\"X2\"}\n");
    copipe(["cat", &b, ":", "json", ":", "grep", "-c", "Z"])
        .run()
        .code(1)
        .out("{\"count\":0}\n");
    copipe(["json", ":", "grep", "-c", "-H", "--field", "msg", "X"])
        .stdin("{\"msg\":\"X\"}\n")
        .run()
        .code(0)
        .out("{\"file\":\"(standard input)\",\"count\":1}\n");
    // follow: each name once, counted across its switches, when the follow ends. (The
    // counts come at the end: a copy of the records read tells when the appends were.)
    let seen = dir.path().join("seen.ndjson");
    let mut cp = follow(
        dir.path(),
        [
            "-n",
            "+1",
            "a.ndjson",
            "b.ndjson",
            ":",
            "json",
            ":",
            "tee",
            "{",
            "write",
            "seen.ndjson",
            "}",
            ":",
            "grep",
            "-c",
            "--field",
            "msg",
            "X",
        ],
    );
    let read = |n: usize| fs::read_to_string(&seen).is_ok_and(|t| t.lines().count() == n);
    assert!(wait_until(DEADLINE, || read(5)), "{}", cp.err());
    append(&dir.path().join("a.ndjson"), "{\"msg\":\"X4\"}\n");
    append(&dir.path().join("b.ndjson"), "{\"msg\":\"X5\"}\n");
    append(&dir.path().join("a.ndjson"), "{\"msg\":\"y\"}\n");
    assert!(wait_until(DEADLINE, || read(8)), "{}", cp.err());
    assert_eq!(cp.stop(), 0, "{}", cp.err());
    assert_eq!(
        cp.out(),
        "{\"file\":\"a.ndjson\",\"count\":3}\n{\"file\":\"b.ndjson\",\"count\":2}\n"
    );
}

/// A `-P` match that gives up while `-o` or `--color` finds the parts of a line it
/// selected is the same error (the line named, status 2), after what was printed before,
/// as GNU grep stops there: not a line shown with fewer parts.
#[test]
fn a_perl_match_that_gives_up_finding_the_parts_of_a_line_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.log");
    fs::write(&path, format!("x aa\n{}!\nz aa\n", "a".repeat(40))).unwrap();
    let p = path.display().to_string();
    let why = format!("copipe: grep: {p}:2: exceeded PCRE's backtracking limit\n");
    for (opts, out) in [
        (&["-o"][..], "aa\n"),
        (&["-o", "-n"], "1:aa\n"),
        (&["--color=always"], "x \x1b[01;31m\x1b[Kaa\x1b[m\x1b[K\n"),
    ] {
        let mut a = vec!["cat", &p, ":", "grep"];
        a.extend(opts);
        a.extend(["-P", "(a+)+$|aa"]);
        copipe(&a).run().code(2).out(out).err_has(&why);
    }
}
