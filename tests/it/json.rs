//! The `json` stage and the record stages after it, through the real binary on real files.

use crate::common;

use std::fs;
use std::path::Path;

use common::*;

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> String {
    let p = dir.join(name);
    fs::write(&p, bytes).unwrap();
    p.display().to_string()
}

#[test]
fn json_accepts_a_byte_order_mark_at_the_start_of_each_input() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(
        dir.path(),
        "a.ndjson",
        b"\xEF\xBB\xBF{\"a\":1}\n{\"a\":2}\n",
    );
    let b = write(dir.path(), "b.ndjson", b"\xEF\xBB\xBF{\"b\":1}\n");
    copipe(["cat", &a, &b, ":", "json"])
        .run()
        .code(0)
        .out("{\"a\":1}\n{\"a\":2}\n{\"b\":1}\n");
    copipe(["json"])
        .stdin(b"\xEF\xBB\xBF{\"s\":1}\n".to_vec())
        .run()
        .code(0)
        .out("{\"s\":1}\n");
    // Anywhere else it is no JSON, and said so.
    let c = write(
        dir.path(),
        "c.ndjson",
        b"{\"a\":1}\n\xEF\xBB\xBF{\"a\":2}\n",
    );
    copipe(["cat", &c, ":", "json"])
        .run()
        .code(2)
        .out("{\"a\":1}\n")
        .err_has("c.ndjson:2:1: not JSON: expected a value, found U+FEFF (a byte order mark");
}

#[test]
fn json_keeps_numbers_as_written() {
    let line = r#"{"huge":1e400,"tiny":-1e-400,"big":123456789012345678901234567890,"id":9007199254740993,"one":1.0,"e":1E5,"z":-0}"#;
    copipe(["json"])
        .stdin(format!("{line}\n"))
        .run()
        .code(0)
        .out(&format!("{line}\n"));
    copipe(["json", ":", "fmt", "{huge} {big} {one}"])
        .stdin(format!("{line}\n"))
        .run()
        .code(0)
        .out("1e400 123456789012345678901234567890 1.0\n");
}

#[test]
fn where_compares_integers_beyond_53_bits_exactly() {
    let input =
        "{\"id\":9007199254740992}\n{\"id\":9007199254740993}\n{\"id\":18446744073709551617}\n";
    copipe(["json", ":", "where", "id=9007199254740992"])
        .stdin(input)
        .run()
        .code(0)
        .out("{\"id\":9007199254740992}\n");
    copipe(["json", ":", "where", "id>9007199254740992"])
        .stdin(input)
        .run()
        .code(0)
        .out("{\"id\":9007199254740993}\n{\"id\":18446744073709551617}\n");
    copipe(["json", ":", "where", "id=18446744073709551617.0"])
        .stdin(input)
        .run()
        .code(0)
        .out("{\"id\":18446744073709551617}\n");
}

#[test]
fn json_names_a_lone_surrogate_and_its_column() {
    copipe(["json"])
        .stdin("{\"ok\":\"\\ud83d\\ude00\"}\n{\"s\":\"ab\\ud800\"}\n")
        .run()
        .code(2)
        .out("{\"ok\":\"😀\"}\n")
        .err_has(
            "json: standard input:2:9: not JSON: lone surrogate `\\ud800` in a string: a high \
             surrogate (\\ud800-\\udbff) must be followed by a low one",
        );
    copipe(["json"])
        .stdin("{\"s\":\"\\udc00\"}\n")
        .run()
        .code(2)
        .err_has("standard input:1:7: not JSON: lone surrogate `\\udc00`");
    copipe(["json", "--skip-bad"])
        .stdin("{\"s\":\"\\ud800\"}\n{\"a\":1}\n")
        .run()
        .code(0)
        .out("{\"a\":1}\n")
        .err_has("skipped 1 line that was not a JSON object");
}

#[test]
fn json_errors_name_input_line_and_column_after_flushing_what_came_before() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "app.ndjson",
        "{\"a\":1}\n\n{\"é\":\"x\" \"b\":2}\n{\"a\":3}\n",
    );
    copipe(["cat", &f, ":", "json"])
        .run()
        .code(2)
        .out("{\"a\":1}\n")
        .err_has("app.ndjson:3:10: not JSON: expected `,` or `}` after a member, found `\"`");
    let g = write(dir.path(), "bad.ndjson", b"{\"a\":\"\xff\"}\n");
    copipe(["cat", &g, ":", "json"])
        .run()
        .code(2)
        .err_has("bad.ndjson:1:7: not JSON: invalid UTF-8");
    copipe(["json"])
        .stdin("[1,2]\n")
        .run()
        .code(2)
        .err_has("json: standard input:1: expected a JSON object, found an array");
}

#[test]
fn cat_tag_keeps_a_records_own_file_field() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(
        dir.path(),
        "a.ndjson",
        "{\"x\":1}\n{\"file\":\"mine.txt\",\"x\":2}\n{\"x\":3,\"file\":null}\n",
    );
    let r = copipe(["cat", "--tag", &a, ":", "json"]).run();
    r.code(0).out(&format!(
        "{{\"file\":\"{a}\",\"x\":1}}\n{{\"file\":\"mine.txt\",\"x\":2}}\n{{\"x\":3,\"file\":null}}\n"
    ));
    // One warning, at the first such record.
    r.err_has("a.ndjson:2: the record has a field `file` of its own: it is kept");
    assert_eq!(r.err.matches("of its own").count(), 1, "{}", r.err);
}

#[test]
fn deeply_nested_json_does_not_overflow_the_stack() {
    let dir = tempfile::tempdir().unwrap();
    let n = 1_000_000;
    let deep = format!("{{\"a\":{}1{},\"b\":2}}", "[".repeat(n), "]".repeat(n));
    let f = write(dir.path(), "deep.ndjson", format!("{deep}\n{{\"b\":3}}\n"));
    let r = copipe([
        "cat", &f, ":", "json", ":", "where", "a=1", ":", "select", "a", "b", ":", "print",
    ])
    .run();
    r.code(0);
    assert_eq!(r.out.len(), deep.len() + 1, "{}", r.err);
    assert!(r.stdout().starts_with("{\"a\":[[[[") && r.stdout().ends_with("]]]],\"b\":2}\n"));
    // Objects too, through fmt and grep.
    let objs = format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n));
    let g = write(dir.path(), "objs.ndjson", format!("{objs}\n"));
    let r = copipe([
        "cat", &g, ":", "json", ":", "grep", "-F", "1}", ":", "fmt", "{a}",
    ])
    .run();
    r.code(0);
    assert_eq!(r.out.len(), objs.len() - 6 + 1, "{}", r.err);
    // A top-level array 100,000 deep is a clear error, not a crash.
    let h = write(
        dir.path(),
        "arr.ndjson",
        format!(
            "{{\"ok\":1}}\n{}{}\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        ),
    );
    copipe(["cat", &h, ":", "json"])
        .run()
        .code(2)
        .out("{\"ok\":1}\n")
        .err_has("arr.ndjson:2: expected a JSON object, found an array");
    // Records 200 deep pass whole.
    let d200 = format!("{}1{}", "{\"a\":".repeat(200), "}".repeat(200));
    copipe(["json", ":", "where", "a.a.a?", ":", "print"])
        .stdin(format!("{d200}\n"))
        .run()
        .code(0)
        .out(&format!("{d200}\n"));
}

#[test]
fn json_repeated_keys_keep_the_first_place_and_the_last_value() {
    copipe(["json", ":", "where", "a=3"])
        .stdin("{\"a\":1,\"b\":2,\"a\":3}\n{\"a\":3,\"a\":1}\n")
        .run()
        .code(0)
        .out("{\"a\":3,\"b\":2}\n");
}

#[test]
fn json_reads_values_over_several_lines_as_jq_pretty_prints_them() {
    // Issue 30 item 11: `jq . : copipe json` was refused line by line.
    let pretty = "{\n  \"a\": 1,\n  \"b\": {\n    \"c\": [\n      1,\n      \"x{y]\\\"\"\n    ]\n  }\n}\n{\"d\":2}\n{\n\t\"e\": {}\n}\n";
    copipe(["json"])
        .stdin(pretty)
        .run()
        .code(0)
        .out("{\"a\":1,\"b\":{\"c\":[1,\"x{y]\\\"\"]}}\n{\"d\":2}\n{\"e\":{}}\n");
    // A value left open at the end, or broken inside: an error naming where it began.
    copipe(["json"])
        .stdin("{\"a\":1}\n{\n  \"b\": 2,\n")
        .run()
        .code(2)
        .out("{\"a\":1}\n")
        .err_has("standard input:2: the value that begins on this line (lines 2 to 3): the input ends before the value does");
    copipe(["json"])
        .stdin("{\n  \"b\": 2 3\n}\n")
        .run()
        .code(2)
        .err_has("standard input:1: the value that begins on this line (lines 1 to 3): not JSON: expected `,` or `}` after a member, found `3` (line 2, column 10)");
    // An unfinished one does not swallow the values after it; with --skip-bad its lines
    // are read one by one, as without the attempt.
    copipe(["json", "--skip-bad"])
        .stdin("{\n  {\"a\":1}\n{\"b\":2}\n{\n \"c\": 3\n}\n[\n")
        .run()
        .code(0)
        .out("{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n")
        .err_has("skipped 2 lines");
    copipe(["json"])
        .stdin("{\n  \"a\": 1\n{\"b\":2}\n")
        .run()
        .code(2)
        .err_has("standard input:1: the value that begins on this line (lines 1 to 2): it is not complete before line 3");
    // A line that ends with `{` but is not `{` alone is an NDJSON line (cut short).
    copipe(["json"])
        .stdin("{\"a\":{\n  \"b\": 1\n}\n")
        .run()
        .code(2)
        .err_has("standard input:1:7: not JSON");
    // A piece of one alone names jq -c.
    copipe(["json"])
        .stdin("  \"b\": 2,\n")
        .run()
        .code(2)
        .err_has("jq -c");
}

#[test]
fn json_reads_a_big_pretty_value_in_linear_time() {
    // 200,000 lines of one value: each line scanned once, the whole parsed once.
    let mut v = String::from("{\n  \"items\": [\n");
    for i in 0..200_000 {
        v.push_str(&format!("    {i},\n"));
    }
    v.push_str("    -1\n  ]\n}\n");
    let t = std::time::Instant::now();
    let r = copipe(["json", ":", "count"]).stdin(v).run();
    r.code(0).out("1\n");
    assert!(
        t.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        t.elapsed()
    );
}
