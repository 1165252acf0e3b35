//! `tocsv`: records to CSV/TSV lines, read back by Python's csv module and by Miller (a
//! differential test; a missing peer is skipped with a note) and by copipe's own `csv`.

use crate::common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;

fn has(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    // .ci/run installs the peers and sets this, so CI always runs the differential tests.
    assert!(
        found || std::env::var_os("COPIPE_REQUIRE_TOOLS").is_none(),
        "{tool} is not installed, and COPIPE_REQUIRE_TOOLS is set"
    );
    found
}

/// Write `args`' output (records, then the same through `tocsv EXTRA`) into `dir`, and
/// return the paths of the NDJSON and of the CSV.
fn make(dir: &Path, args: &[&str], extra: &[&str]) -> (String, String) {
    let ndjson = dir.join("in.ndjson");
    let out = dir.join("out.csv");
    let r = copipe(args).run();
    r.code(0);
    fs::write(&ndjson, &r.out).unwrap();
    let mut with: Vec<&str> = args.to_vec();
    with.extend([":", "tocsv"]);
    with.extend(extra);
    let r = copipe(&with).run();
    r.code(0);
    fs::write(&out, &r.out).unwrap();
    (ndjson.display().to_string(), out.display().to_string())
}

/// `fixtures/tocsv/readback.py` on the file in `mode` (csv, tsv, mlr).
fn readback(file: &str, ndjson: &str, mode: &str) {
    let o = Command::new("python3")
        .arg(fixture("tocsv/readback.py"))
        .args([file, ndjson, mode])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{mode}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn with_miller(csv: &str, ndjson: &str, dir: &Path) {
    if !has("mlr") {
        eprintln!("note: mlr is not installed, the Miller side is skipped");
        return;
    }
    let o = Command::new("mlr")
        .args(["--icsv", "--ojson", "-S", "cat", csv])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json = dir.join("mlr.json");
    fs::write(&json, &o.stdout).unwrap();
    readback(&json.display().to_string(), ndjson, "mlr");
}

#[test]
fn tocsv_of_xml_records_reads_back_the_same_in_python_and_miller() {
    if !has("python3") {
        eprintln!("note: python3 is not installed, the differential test is skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let buses = fixture("buses.xml").display().to_string();
    let (ndjson, csv) = make(dir.path(), &["xml", &buses, ":", "records", "bus"], &[]);
    assert!(
        fs::read_to_string(&csv)
            .unwrap()
            .starts_with("id,route,color,")
    );
    readback(&csv, &ndjson, "csv");
    with_miller(&csv, &ndjson, dir.path());
}

#[test]
fn tocsv_quotes_tricky_values_so_python_and_miller_read_them_back() {
    if !has("python3") {
        eprintln!("note: python3 is not installed, the differential test is skipped");
        return;
    }
    // Quotes, separators, LF, CR LF and lone CR inside values, empty strings, Unicode,
    // numbers as written, bools, null, nested values, a missing and an extra field.
    let dir = tempfile::tempdir().unwrap();
    let tricky = fixture("tocsv/tricky.ndjson").display().to_string();
    let args = ["cat", &tricky, ":", "json"];
    let (ndjson, csv) = make(dir.path(), &args, &[]);
    readback(&csv, &ndjson, "csv");
    with_miller(&csv, &ndjson, dir.path());
    let (ndjson, tsv) = make(dir.path(), &args, &["--tsv"]);
    readback(&tsv, &ndjson, "tsv");
}

#[test]
fn tocsv_reads_back_through_copipe_csv() {
    let dir = tempfile::tempdir().unwrap();
    let tricky = fixture("tocsv/tricky.ndjson").display().to_string();
    let (_, csv) = make(
        dir.path(),
        &["cat", &tricky, ":", "json"],
        &["name", "quote", "lines"],
    );
    let r = copipe(["cat", &csv, ":", "csv", ":", "head", "2"]).run();
    r.code(0).out(concat!(
        r#"{"name":"plain","quote":"say \"hi\"","lines":"one\ntwo"}"#,
        "\n",
        r#"{"name":"","quote":"\"","lines":"\n"}"#,
        "\n"
    ));
}

#[test]
fn tocsv_takes_chosen_fields_and_paths_and_leaves_missing_ones_empty() {
    let input = "{\"a\":1,\"b\":{\"c\":\"x,y\"},\"d\":null}\n{\"b\":{}}\n";
    copipe(["json", ":", "tocsv", "b.c", "a", "zz", "d"])
        .stdin(input)
        .run()
        .code(0)
        .out("b.c,a,zz,d\n\"x,y\",1,,\n,,,\n");
    copipe(["json", ":", "tocsv", "--no-header", "--sep", ";", "a", "b"])
        .stdin(input)
        .run()
        .code(0)
        .out("1;\"{\"\"c\"\":\"\"x,y\"\"}\"\n;{}\n");
}

#[test]
fn tocsv_of_one_empty_column_writes_two_quotes_and_refuses_a_bad_separator() {
    copipe(["json", ":", "tocsv", "a"])
        .stdin("{\"a\":\"\"}\n")
        .run()
        .code(0)
        .out("a\n\"\"\n");
    copipe(["json", ":", "tocsv", "--sep", "\""])
        .stdin("{}\n")
        .run()
        .code(2)
        .err_has("--sep");
}
