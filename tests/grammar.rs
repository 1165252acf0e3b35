//! Hardening of the command line and the pipeline grammar (issue #12): bounded option values,
//! nesting that cannot overflow the stack, names and patterns that are not UTF-8.

mod common;

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
