//! Hardening of the command line and the pipeline grammar (issue #12): bounded option values,
//! nesting that cannot overflow the stack, names and patterns that are not UTF-8.

use crate::common;

use common::*;

#[test]
fn xml_threads_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("d.xml");
    std::fs::write(&doc, "<a><b>1</b></a>").unwrap();
    for n in ["4294967295", "257", "0"] {
        copipe(["xml", "--threads", n, doc.to_str().unwrap(), ":", "count"])
            .run()
            .code(2)
            .err_has("copipe: xml: invalid value")
            .err_has("1..=256");
    }
    copipe([
        "xml",
        "--threads",
        "256",
        doc.to_str().unwrap(),
        ":",
        "count",
    ])
    .run()
    .code(0)
    .out("5\n");
}

/// `range 1 3 : tee { tee { … count } }` with `levels` braces, as words.
fn nested(levels: usize) -> Vec<String> {
    let mut w: Vec<String> = ["range", "1", "3", ":"].map(String::from).to_vec();
    for _ in 0..levels {
        w.extend(["tee".to_string(), "{".to_string()]);
    }
    w.push("count".into());
    w.extend(std::iter::repeat_n("}".to_string(), levels));
    w
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    // 7000 levels overflowed the stack (exit 134), with --explain too.
    let words = nested(7000);
    for explain in [false, true] {
        let mut args: Vec<String> = Vec::new();
        if explain {
            args.push("--explain".into());
        }
        args.extend(words.iter().cloned());
        let run = copipe(&args).run();
        run.code(2)
            .err_has("copipe: branches nested too deeply: at most 64 levels of { … }");
        // The caret is under a `{`, and the line shown is short.
        let lines: Vec<&str> = run.err.lines().collect();
        assert_eq!(lines.len(), 3, "{}", run.err);
        assert!(lines[1].len() < 200, "{}", run.err);
        let col = lines[2].find('^').unwrap();
        assert_eq!(lines[1].chars().nth(col), Some('{'), "{}", run.err);
    }
    // One quoted string and a pipeline file, far deeper.
    copipe([nested(7000).join(" ")])
        .run()
        .code(2)
        .err_has("nested too deeply");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deep.pipe");
    std::fs::write(&file, nested(200_000).join("\n")).unwrap();
    for explain in [&["--explain"][..], &["--stats"][..], &[][..]] {
        let mut args: Vec<&str> = explain.to_vec();
        args.extend(["-f", file.to_str().unwrap()]);
        copipe(args).run().code(2).err_has("nested too deeply");
    }
    // At the limit it runs.
    copipe(nested(64)).run().code(0);
}

#[test]
fn long_chains_are_an_error_not_a_stack_overflow() {
    // 20,000 stages overflowed the stack while items were pushed from stage to stage.
    let mut text = String::from("range 1 3");
    for _ in 0..20_000 {
        text.push_str(" : grep 1");
    }
    text.push_str(" : count\n");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("long.pipe");
    std::fs::write(&file, &text).unwrap();
    copipe(["-f", file.to_str().unwrap()])
        .run()
        .code(2)
        .err_has("copipe: too many stages: a pipeline has at most 512");
    copipe(["--explain", "-f", file.to_str().unwrap()])
        .run()
        .code(2)
        .err_has("too many stages");
    let mut ok = String::from("range 1 3");
    for _ in 0..510 {
        ok.push_str(" : grep 1");
    }
    ok.push_str(" : count");
    copipe([ok]).run().code(0).out("1\n");
}

mod not_utf8 {
    use std::ffi::{OsStr, OsString};
    use std::os::unix::ffi::OsStrExt;

    use super::common::*;

    fn os(bytes: &[u8]) -> OsString {
        OsStr::from_bytes(bytes).to_os_string()
    }

    fn args(words: &[&[u8]]) -> Vec<OsString> {
        words.iter().map(|w| os(w)).collect()
    }

    #[test]
    fn file_names_that_are_not_utf8_can_be_read_and_written() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let name = os(b"bad\xffname.txt");
        std::fs::write(d.join(&name), b"a\xff\nb\n").unwrap();
        copipe(args(&[b"cat", b"bad\xffname.txt", b":", b"count"]))
            .dir(d)
            .run()
            .code(0)
            .out("2\n");
        copipe(args(&[
            b"cat",
            b"bad\xffname.txt",
            b":",
            b"write",
            b"\xff.out",
        ]))
        .dir(d)
        .run()
        .code(0);
        assert_eq!(
            std::fs::read(d.join(os(b"\xff.out"))).unwrap(),
            b"a\xff\nb\n"
        );
        std::fs::write(d.join(os(b"\xfe.xml")), "<a>x</a>").unwrap();
        copipe(args(&[b"xml", b"\xfe.xml", b":", b"count"]))
            .dir(d)
            .run()
            .code(0)
            .out("3\n");
        copipe(args(&[
            b"follow",
            b"-n",
            b"+1",
            b"bad\xffname.txt",
            b":",
            b"head",
            b"2",
        ]))
        .dir(d)
        .run()
        .code(0)
        .out("a\u{fffd}\nb\n");
        // As one quoted string and in a pipeline file.
        copipe(args(&[b"cat 'bad\xffname.txt' : count"]))
            .dir(d)
            .run()
            .code(0)
            .out("2\n");
        std::fs::write(d.join("p.pipe"), b"# bytes\ncat bad\xffname.txt : count\n").unwrap();
        copipe(["-f", "p.pipe"]).dir(d).run().code(0).out("2\n");
    }

    #[test]
    fn a_missing_file_that_is_not_utf8_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        copipe(args(&[b"cat", b"no\xffpe", b":", b"count"]))
            .dir(dir.path())
            .run()
            .code(2)
            .err_has("copipe: ")
            .err_has("no\u{fffd}pe");
    }

    #[test]
    fn grep_patterns_that_are_not_utf8_match_their_bytes() {
        let input = b"caf\xe9\nplain\n\xff\xfe\n".to_vec();
        let run = copipe(args(&[b"grep", b"-F", b"\xe9"]))
            .stdin(input.clone())
            .run();
        run.code(0);
        assert_eq!(run.out, b"caf\xe9\n");
        let run = copipe(args(&[b"grep", b"-e", b"^\xff\xfe$"]))
            .stdin(input.clone())
            .run();
        run.code(0);
        assert_eq!(run.out, b"\xff\xfe\n");
        copipe(args(&[b"grep", b"-F", b"\xfa"]))
            .stdin(input)
            .run()
            .code(1);
    }

    #[test]
    fn errors_about_words_that_are_not_utf8_keep_the_copipe_prefix() {
        // An unknown stage, shown as the shell would write it, with the caret under it.
        let run = copipe(args(&[b"cat", b":", b"\xffx"])).run();
        run.code(2)
            .err_has("copipe: unknown stage `$'\\xffx'`")
            .err_has("  cat : $'\\xffx'\n        ^^^^^^^^");
        // A stage option that must be text.
        copipe(args(&[b"cat", b":", b"head", b"\xff"]))
            .run()
            .code(2)
            .err_has("copipe: head: ");
        // Options of copipe itself.
        copipe(args(&[b"--color", b"\xff", b"cat"]))
            .run()
            .code(2)
            .err_has("copipe: invalid value");
        copipe(["--color=nope", "cat"])
            .run()
            .code(2)
            .err_has("copipe: invalid value 'nope' for '--color <WHEN>'");
        copipe(args(&[b"help", b"\xff"])).run().code(2);
    }
}

#[test]
fn another_tools_options_get_a_tip_that_works() {
    // Issue 30 item 12: `head -n 5` got "tip: to pass '-n' as a value, use '-- -n'".
    let cases: &[(&[&str], &str)] = &[
        (&["naturals", ":", "head", "-n", "5"], "tip: write `head 5`"),
        (
            &["naturals", ":", "head", "--lines=5"],
            "tip: write `head 5`",
        ),
        (&["naturals", ":", "skip", "-n", "2"], "tip: write `skip 2`"),
        (
            &["naturals", ":", "wc", "-l"],
            "tip: `count` (or `wc`) counts lines",
        ),
        (&["naturals", ":", "uniq", "-c"], "count --by FIELD"),
        (&["cat", "-n", "x"], "`cat FILE : number`"),
        (&["follow", "-F", "x"], "`follow FILE` follows by name"),
        (
            &["naturals", ":", "replace", "-E", "a+", "b"],
            "`replace a+ b`",
        ),
        (&["naturals", ":", "json", "-c"], "`json` reads NDJSON"),
        (
            &["naturals", ":", "csv", "-d", ";"],
            "write `csv --sep ';'`",
        ),
        (
            &["naturals", ":", "grep", "-r", "x"],
            "`cat FILES… : grep PATTERN`",
        ),
        (
            &["naturals", ":", "json", ":", "select", "-f", "a"],
            "`select a b`",
        ),
    ];
    for (args, tip) in cases {
        let r = copipe(*args).run();
        r.code(2).err_has(tip).err_lacks("use '--");
        // The tip's words work: `head 5` is the pipeline it names.
    }
    copipe(["naturals", ":", "head", "5"])
        .run()
        .code(0)
        .out("0\n1\n2\n3\n4\n");
    // Where the argument is a pattern, clap's tip is right and stays.
    copipe(["naturals", ":", "grep", "--frob"])
        .run()
        .code(2)
        .err_has("use '-- --frob'");
    // An option of no other tool: no tip that sends the user astray.
    copipe(["naturals", ":", "head", "--frob", "3"])
        .run()
        .code(2)
        .err_lacks("tip:");
}
