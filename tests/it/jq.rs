//! The `jq` stage: the jq manual's examples run through copipe and through the `jq` binary
//! (a differential test; jq is installed by .ci/run, and a missing jq is skipped with a
//! note unless COPIPE_REQUIRE_TOOLS is set), then errors, options and the stage inside a
//! pipeline (`head`, `tee --parallel`).

use crate::common;

use std::fs;
use std::process::{Command, Stdio};

use common::*;
use serde_json::Value;

fn has_jq() -> bool {
    let found = Command::new("jq")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found || std::env::var_os("COPIPE_REQUIRE_TOOLS").is_none(),
        "jq is not installed, and COPIPE_REQUIRE_TOOLS is set"
    );
    if !found {
        eprintln!("note: jq is not installed: the comparison with jq is skipped");
    }
    found
}

/// jq's `-c` output for a program and an input: its lines, and whether it succeeded.
fn jq(program: &str, input: &str) -> (Vec<String>, bool) {
    let mut child = Command::new("jq")
        .args(["-c", program])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect(),
        out.status.success(),
    )
}

/// A JSON text with every number as a float (jq 1.6 computes in doubles: `1` and `1.0`
/// are one value), for comparing outputs by value.
fn by_value(text: &str) -> Value {
    fn floats(v: Value) -> Value {
        match v {
            Value::Number(n) => serde_json::json!(n.as_f64().unwrap_or(f64::NAN)),
            Value::Array(a) => Value::Array(a.into_iter().map(floats).collect()),
            Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, floats(v))).collect()),
            v => v,
        }
    }
    serde_json::from_str(text).map_or_else(|_| Value::String(format!("not JSON: {text}")), floats)
}

/// The examples where jaq, on purpose or not, differs from jq 1.6 (by program, and input
/// where the program has examples that agree), each with the reason. The test checks that
/// they still differ, so that the list stays true.
const KNOWN: &[(&str, &str)] = &[
    (
        ".[] | (1 / .)?",
        "jaq divides by zero to Infinity, jq raises an error",
    ),
    (
        "del(.[1, 2])",
        "jaq deletes the paths one by one: index 2 is out of bounds",
    ),
    (
        "setpath([\"a\",\"b\"]; 1) null",
        "jaq does not create objects in null by setpath",
    ),
    (
        "setpath([0,\"a\"]; 1)",
        "jaq does not create arrays in null by setpath",
    ),
    (
        "reduce .[] as {$x,$y} (null; .x += $x | .y += [$y])",
        "jaq's `+=` on null does not create the object",
    ),
    (
        "bsearch(4) as $ix | if $ix < 0 then .[-(1+$ix)] = 4 else . end",
        "jaq does not extend an array by assigning past its end",
    ),
    (
        "try error(\"\\($__loc__)\") catch .",
        "$__loc__ is not available",
    ),
    ("join(\" \")", "jaq joins null as \"null\", jq 1.6 as \"\""),
    (
        "match(\"(abc)+\"; \"g\")",
        "jaq leaves out the name of unnamed captures",
    ),
    (
        "match([\"foo\", \"ig\"])",
        "jaq takes the regex and flags as two arguments only",
    ),
    (
        "match(\"foo (?<bar123>bar)? foo\"; \"ig\")",
        "jaq leaves out captures that took no part in the match",
    ),
    (
        ".[] as {$a, $b, c: {$d, $e}} ?// {$a, $b, c: [{$d, $e}]} | {$a, $b, $d, $e}",
        "jaq has no destructuring alternative `?//`",
    ),
    (
        ".[] as {$a, $b, c: {$d}} ?// {$a, $b, c: [{$e}]} | {$a, $b, $d, $e}",
        "jaq has no destructuring alternative `?//`",
    ),
    (
        ".[] as [$a] ?// [$b] | if $a != null then error(\"err: \\($a)\") else {$a,$b} end",
        "jaq has no destructuring alternative `?//`",
    ),
    (
        "truncate_stream([[0],1],[[1,0],2],[[1,0]],[[1]])",
        "jaq has no truncate_stream",
    ),
    (
        "fromstream(1|truncate_stream([[0],1],[[1,0],2],[[1,0]],[[1]]))",
        "jaq has no truncate_stream",
    ),
    (
        ". as $dot|fromstream($dot|tostream)|.==$dot",
        "jaq has no tostream",
    ),
];

/// `cat F : json : jq ARGS…`, the jq stage on the records of a file.
fn jq_of(f: &str, args: &[&str]) -> Cp {
    let mut words = vec!["cat", f, ":", "json", ":", "jq"];
    words.extend_from_slice(args);
    copipe(words)
}

#[test]
fn jq_agrees_with_jq_on_the_manuals_examples() {
    if !has_jq() {
        return;
    }
    let table = fs::read_to_string(fixture("jq/manual-1.6.ndjson")).unwrap();
    let (mut same, mut records, mut differ) = (0, 0, Vec::new());
    for line in table.lines() {
        let ex: Value = serde_json::from_str(line).unwrap();
        let (program, input) = (
            ex["program"].as_str().unwrap(),
            ex["input"].as_str().unwrap(),
        );
        let (want, ok) = jq(program, input);
        let want: Vec<Value> = want.iter().map(|l| by_value(l)).collect();
        // Lines of JSON text in, as jq reads them; and records in, through `json`, when the
        // input is an object.
        let mut runs = vec![vec!["jq", program]];
        if input.trim_start().starts_with('{') {
            runs.push(vec!["json", ":", "jq", program]);
        }
        let mut agree = true;
        for args in &runs {
            let r = copipe(args).stdin(input).run();
            let got: Vec<Value> = r.stdout().lines().map(by_value).collect();
            // copipe's status is 1 when nothing came out (like grep); a runtime error is
            // counted on stderr.
            let failed = r.code == 2 || r.err.contains("raised an error");
            if got != want || failed == ok {
                agree = false;
            }
        }
        let with_input = format!("{program} {input}");
        let known = KNOWN
            .iter()
            .find(|(p, _)| *p == program || *p == with_input);
        match (agree, known) {
            (true, None) => {
                same += 1;
                records += runs.len() - 1;
            }
            (false, Some(_)) => {}
            (true, Some((_, why))) => {
                panic!("`{program}` now agrees with jq: take it off the list ({why})")
            }
            (false, None) => differ.push(program.to_string()),
        }
    }
    assert!(differ.is_empty(), "differ from jq: {differ:#?}");
    assert_eq!(same + KNOWN.len(), table.lines().count());
    assert!(same >= 200, "only {same} examples agree");
    assert!(records >= 35, "only {records} examples ran on records");
}

fn ndjson(dir: &std::path::Path) -> String {
    let p = dir.join("in.ndjson");
    fs::write(
        &p,
        "{\"a\":1,\"tags\":[\"x\",\"y\"],\"port\":\"38926\"}\n\
         {\"a\":\"text\",\"tags\":[],\"port\":\"22\"}\n\
         {\"a\":3,\"tags\":[\"z\"],\"port\":\"80\"}\n",
    )
    .unwrap();
    p.display().to_string()
}

#[test]
fn jq_runtime_errors_are_counted_with_their_position_and_the_stream_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let f = ndjson(dir.path());
    let r = jq_of(&f, &[".a + 1"]).run();
    r.code(0).out("2\n4\n");
    r.err_has(&format!(
        "copipe: jq: 1 input raised an error (the first: {f}, record 2: cannot calculate \"text\" + 1)"
    ));
    // Lines of JSON text have their line number.
    let r = copipe(["cat", &f, ":", "jq", ".a + 1"]).run();
    r.code(0).out("2\n4\n");
    r.err_has(&format!("(the first: {f}:2: cannot calculate"));
    // error("...") shows its message; two errors are counted as two.
    let r = copipe([
        "cat",
        &f,
        ":",
        "jq",
        "if .a == 1 then . else error(\"no \\(.a)\") end | .a",
    ])
    .run();
    r.code(0).out("1\n");
    r.err_has(&format!(
        "2 inputs raised an error (the first: {f}:2: no text)"
    ));
}

#[test]
fn jq_strict_stops_at_the_first_error_with_status_2_after_flushing() {
    let dir = tempfile::tempdir().unwrap();
    let f = ndjson(dir.path());
    let r = jq_of(&f, &["--strict", ".a + 1"]).run();
    r.code(2).out("2\n");
    r.err_has(&format!("jq: {f}, record 2: cannot calculate \"text\" + 1"));
}

#[test]
fn jq_syntax_errors_are_build_errors_with_a_caret_under_the_filter() {
    let r = copipe(["cat", "/nonexistent", ":", "jq", ".a | | .b"]).run();
    r.code(2);
    r.err_has("jq: syntax error: expected term, found `|`\n    .a | | .b\n         ^");
    // Refused before the input is opened.
    r.err_lacks("No such file");
    let r = copipe(["jq", "{a: .b"]).stdin("{}").run();
    r.code(2).err_has("    {a: .b\n");
    let r = copipe(["jq", "nosuchfn(1)"]).stdin("{}").run();
    r.code(2)
        .err_has("undefined filter `nosuchfn`\n    nosuchfn(1)\n    ^");
    let r = copipe(["jq", "[inputs]"]).stdin("{}").run();
    r.code(2).err_has("there is no input/inputs");
    let r = copipe(["jq", "$nope"]).stdin("{}").run();
    r.code(2)
        .err_has("undefined variable `$nope` (bind it with --arg NAME VALUE)");
    let r = copipe(["jq", "--argjson", "x", "{oops", "$x"])
        .stdin("{}")
        .run();
    r.code(2).err_has("--argjson x: the value is not JSON text");
}

#[test]
fn jq_raw_output_args_multiple_outputs_empty_and_limit() {
    let dir = tempfile::tempdir().unwrap();
    let f = ndjson(dir.path());
    // -r: strings without quotes, every output a line (grep takes them).
    copipe([
        "cat", &f, ":", "json", ":", "jq", "-r", ".tags[]", ":", "grep", "-v", "y",
    ])
    .run()
    .code(0)
    .out("x\nz\n");
    // Without -r a string is a line of JSON text, an object a record.
    jq_of(&f, &[".tags[], {n: (.tags | length)}"])
        .run()
        .code(0)
        .out("\"x\"\n\"y\"\n{\"n\":2}\n{\"n\":0}\n\"z\"\n{\"n\":1}\n");
    // The objects out are records: a record stage after jq works on them.
    jq_of(
        &f,
        &["{port: (.port | tonumber)}", ":", "where", "port>100"],
    )
    .run()
    .code(0)
    .out("{\"port\":38926}\n");
    // --arg is a string, --argjson a value; both in $ARGS.named.
    jq_of(
        &f,
        &[
            "--arg",
            "p",
            "22",
            "--argjson",
            "n",
            "[1]",
            "select(.port == $p) | {a, n: $n, named: $ARGS.named}",
        ],
    )
    .run()
    .code(0)
    .out("{\"a\":\"text\",\"n\":[1],\"named\":{\"p\":\"22\",\"n\":[1]}}\n");
    // empty gives nothing; limit stops an endless generator.
    jq_of(&f, &["empty"]).run().code(1).out("");
    jq_of(&f, &["-c", "[limit(3; repeat(.a))]"])
        .run()
        .code(0)
        .out("[1,1,1]\n[\"text\",\"text\",\"text\"]\n[3,3,3]\n");
    // head stops an endless output at once.
    jq_of(&f, &["range(infinite)", ":", "head", "3"])
        .run()
        .code(0)
        .out("0\n1\n2\n");
}

#[test]
fn jq_raw_input_and_null_input() {
    copipe(["jq", "-R", "ascii_upcase"])
        .stdin("ab\n{not json\n")
        .run()
        .code(0)
        .out("\"AB\"\n\"{NOT JSON\"\n");
    copipe(["jq", "-r", "-R", "split(\",\")[1]"])
        .stdin("a,b\nc,d\n")
        .run()
        .code(0)
        .out("b\nd\n");
    // -R on records is refused at build time.
    copipe(["json", ":", "jq", "-R", "."])
        .stdin("{}")
        .run()
        .code(2)
        .err_has("-R reads lines as strings");
    // -n: one run with null, and the input is not read.
    copipe(["jq", "-n", "--arg", "x", "1", "{x: $x, y: (1, 2)}"])
        .stdin("{\"ignored\":1}\n")
        .run()
        .code(0)
        .out("{\"x\":\"1\",\"y\":1}\n{\"x\":\"1\",\"y\":2}\n");
    copipe(["range", "1", "1000000000000", ":", "jq", "-n", "1"])
        .run()
        .code(0)
        .out("1\n");
    // Lines that are not JSON text are counted as errors.
    let r = copipe(["jq", ".a"])
        .stdin("{\"a\":1}\nnope\n{\"a\":2}\n")
        .run();
    r.code(0).out("1\n2\n");
    r.err_has("1 input raised an error (the first: standard input:2: not JSON text");
}

#[test]
fn jq_hostile_inputs_are_errors_not_crashes() {
    // Nested deeper than jaq's recursion can take: an error for that input only.
    let deep = format!(
        "{{\"a\":{}1{}}}\n{{\"a\":2}}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let r = copipe(["json", ":", "jq", ".a"]).stdin(deep.clone()).run();
    r.code(0)
        .out("2\n")
        .err_has("record 1: the record is nested deeper than 512 levels");
    let r = copipe(["jq", ".a"]).stdin(deep).run();
    r.code(0)
        .out("2\n")
        .err_has("standard input:1: the value is nested deeper");
    // halt ends the stream; an error message that is a huge string is cut.
    copipe(["jq", "if . == 2 then halt else . end"])
        .stdin("1\n2\n3\n")
        .run()
        .code(0)
        .out("1\n");
    let r = copipe(["jq", "error(\"x\" * 100000)"]).stdin("1\n").run();
    r.code(1);
    assert!(r.err.len() < 1000, "{} bytes of stderr", r.err.len());
}

#[test]
fn jq_in_parallel_tee_branches() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("in.ndjson");
    let mut text = String::new();
    for i in 0..20_000 {
        text.push_str(&format!("{{\"n\":{i},\"s\":\"v{}\"}}\n", i % 7));
    }
    fs::write(&f, text).unwrap();
    let f = f.display().to_string();
    let run = |parallel: &[&str], tag: &str| {
        let (even, bang) = (format!("even{tag}.txt"), format!("bang{tag}.txt"));
        let mut args = vec!["cat", &f, ":", "json", ":", "tee"];
        args.extend_from_slice(parallel);
        args.extend([
            "{",
            "jq",
            "select(.n % 2 == 0) | .n",
            ":",
            "write",
            &even,
            "}",
            "{",
            "jq",
            "-r",
            ".s + \"!\"",
            ":",
            "grep",
            "v3",
            ":",
            "write",
            &bang,
            "}",
            ":",
            "jq",
            "{m: (.n * 3)}",
            ":",
            "where",
            "m<9",
        ]);
        let r = copipe(&args).dir(dir.path()).run();
        r.code(0);
        let read = |name: &str| fs::read_to_string(dir.path().join(name)).unwrap();
        (r.stdout(), read(&even) + &read(&bang))
    };
    let (seq_out, seq_even) = run(&[], "seq");
    let (par_out, par_even) = run(&["--parallel"], "par");
    assert_eq!(par_out, seq_out);
    assert!(par_even == seq_even, "the branches' files differ");
    assert_eq!(seq_out, "{\"m\":0}\n{\"m\":3}\n{\"m\":6}\n");
    assert_eq!(seq_even.lines().count(), 10_000 + 2857);
    assert!(seq_even.ends_with("v3!\n"), "{seq_even}");
}

#[test]
fn where_and_select_take_jq_and_miller_spellings_or_refuse_them() {
    let input = "{\"a\":\"1\",\"b\":2}\n{\"a\":\"2\",\"b\":3}\n";
    for cond in ["a==1", ".a == \"1\"", "a = \"1\"", "$a == 1"] {
        copipe(["json", ":", "where", cond])
            .stdin(input)
            .run()
            .code(0)
            .out("{\"a\":\"1\",\"b\":2}\n");
    }
    copipe(["json", ":", "select", ".a"])
        .stdin(input)
        .run()
        .code(0)
        .out("{\"a\":\"1\"}\n{\"a\":\"2\"}\n");
    // Refused before any input is read, with a hint, rather than an empty result.
    let r = copipe(["cat", "/nonexistent", ":", "json", ":", "where", ".a"]).run();
    r.code(2)
        .err_has("did you mean `where a?`")
        .err_lacks("No such file");
    let r = copipe(["json", ":", "where", "a=1 && b=2"])
        .stdin(input)
        .run();
    r.code(2).err_has("chain `where`s for AND");
    let r = copipe(["json", ":", "select", "select(.a == \"1\")"])
        .stdin(input)
        .run();
    r.code(2)
        .err_has("use `where` (`where a=1`) or `jq 'select(...)'`");
    // help where points to jq.
    let r = copipe(["help", "where"]).run();
    r.code(0);
    assert!(
        r.stdout().contains("use `jq 'select(...)'`"),
        "{}",
        r.stdout()
    );
}

#[test]
fn jq_an_endless_output_stops_at_sigterm() {
    // One input whose filter never ends: the first SIGTERM stops it between two outputs,
    // the run closes cleanly (exit status 0 after SIGTERM), what was written is kept.
    let mut live = copipe(["jq", "-r", "range(infinite) | \"line \\(.)\""])
        .stdin("1\n")
        .spawn();
    live.wait_out("some output", |out| out.contains("line 1000\n"));
    live.signal(libc::SIGTERM);
    assert_eq!(live.exit_code_within(std::time::Duration::from_secs(20)), 0);
    assert!(live.out().starts_with("line 0\nline 1\n"));
}

#[test]
fn jq_on_records_converting_only_the_fields_read_gives_what_the_whole_record_gives() {
    // `json : jq F` converts only the fields F reads (when its syntax says which); `jq F` on
    // the lines parses whole values: both must agree, whatever F is.
    let input = "{\"a\":1,\"b\":{\"c\":[1,2]},\"k\":\"b\",\"s\":\"x y\",\"a\":5}\n\
                 {\"a\":\"t\",\"k\":\"a\",\"n\":null}\n\
                 {}\n";
    for f in [
        ".a",
        ".a + 1",
        "{a, c: .b.c[0]}",
        ".[.k]",
        ".b.c[.a]?",
        "\"\\(.s)-\\(.a)\"",
        "if .n == null then .k else .s end",
        ".a as $x | {x: $x, s}",
        "{(.k): .s}",
        "keys",
        ".",
        "to_entries | map(.key)",
        "try (.a + 1) catch \"bad\"",
        "[.a, .zz]",
    ] {
        let records = copipe(["json", ":", "jq", f]).stdin(input).run();
        let lines = copipe(["jq", f]).stdin(input).run();
        assert_eq!(records.stdout(), lines.stdout(), "{f}");
        assert_eq!(records.code, lines.code, "{f}");
    }
}
