//! `--type FIELD=TYPE` on the line parsers: int, float, bool and timestamp fields, values
//! that do not convert (counted and left as text, or an error with --strict), and `where`
//! and `jq` on the typed fields.

use crate::common;

use common::*;

#[test]
fn typed_fields_of_parse_are_numbers_bools_and_epoch_seconds() {
    let log = "2015-07-29T23:44:28Z sshd port=38926 ok=yes took=0.25\n\
               2015-07-29 23:44:29,500 sshd port=22 ok=no took=1e3\n";
    let re =
        r"^(?P<at>\S+(?: \S+)?) (?P<app>\w+) port=(?P<port>\d+) ok=(?P<ok>\w+) took=(?P<took>\S+)$";
    copipe([
        "parse",
        re,
        "--type",
        "port=int,ok=bool",
        "--type",
        "at=timestamp",
        "--type",
        "took=float",
    ])
    .stdin(log)
    .run()
    .code(0)
    .out(
        "{\"at\":1438213468,\"app\":\"sshd\",\"port\":38926,\"ok\":true,\"took\":0.25}\n\
         {\"at\":1438213469.5,\"app\":\"sshd\",\"port\":22,\"ok\":false,\"took\":1e3}\n",
    );
    // A typed field is a number for jq: no tonumber.
    copipe([
        "parse",
        re,
        "--type",
        "port=int",
        ":",
        "jq",
        "-r",
        ".port + 1",
    ])
    .stdin(log)
    .run()
    .code(0)
    .out("38927\n23\n");
}

#[test]
fn values_that_do_not_convert_are_counted_and_left_as_text_or_stop_with_strict() {
    let input = "a=1 b=x\na=y b=2\na=3 b=4\n";
    let r = copipe(["logfmt", "--type", "a=int,b=int"])
        .stdin(input)
        .run();
    r.code(0)
        .out("{\"a\":1,\"b\":\"x\"}\n{\"a\":\"y\",\"b\":2}\n{\"a\":3,\"b\":4}\n")
        .err_has("copipe: logfmt: 1 value of `a` did not convert to int (left as text)")
        .err_has("copipe: logfmt: 1 value of `b` did not convert to int (left as text)");
    let r = copipe(["logfmt", "--type", "b=int", "--strict"])
        .stdin(input)
        .run();
    r.code(2)
        .out("")
        .err_has("logfmt: standard input:1: field `b`: `x` is not an int");
}

#[test]
fn type_specs_are_checked_at_build_time() {
    copipe(["parse", r"(?P<a>\d+)", "--type", "b=int"])
        .stdin("1\n")
        .run()
        .code(2)
        .err_has("--type b=…: there is no field `b` (the fields: a)");
    copipe(["logfmt", "--type", "a=string"])
        .stdin("a=1\n")
        .run()
        .code(2)
        .err_has("unknown type `string` (use int, float, bool or timestamp)");
}

#[test]
fn every_line_parser_takes_types_and_where_compares_them_as_numbers() {
    copipe(["kv", "--pair", ":", "--type", "n=int", ":", "where", "n>9"])
        .stdin("n:10\nn:9\nn:100\n")
        .run()
        .code(0)
        .out("{\"n\":10}\n{\"n\":100}\n");
    let r = copipe([
        "cat",
        &fixture("parse/access.log").display().to_string(),
        ":",
        "combined",
        "--type",
        "status=int,bytes=int,time=timestamp",
        ":",
        "head",
        "1",
    ])
    .run();
    r.code(0);
    let line = r.stdout();
    assert!(line.contains("\"status\":"), "{line}");
    assert!(!line.contains("\"status\":\""), "status stays text: {line}");
    assert!(!line.contains("\"time\":\""), "time stays text: {line}");
    copipe([
        "syslog",
        "--type",
        "pid=int",
        ":",
        "jq",
        "-r",
        ".pid | type",
    ])
    .stdin("<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed\n")
    .run()
    .code(0)
    .out("number\n");
}

/// `csv` and `tsv` are line parsers too: `--type` converts their cells, on both of csv's
/// paths (the line-by-line one and a mapped file's batches read on a second thread), counts
/// what does not convert, and stops at it with `--strict`.
#[test]
fn csv_and_tsv_take_types_on_every_path() {
    copipe(["csv", "--type", "n=int,price=float,ok=bool", ":", "where", "n>5"])
        .stdin("name,n,price,ok\na,7,1.5,yes\nb,3,2,no\nc,12,x,true\n")
        .run()
        .code(0)
        .out("{\"name\":\"a\",\"n\":7,\"price\":1.5,\"ok\":true}\n{\"name\":\"c\",\"n\":12,\"price\":\"x\",\"ok\":true}\n")
        .err_has("csv: 1 value of `price` did not convert to float (left as text)");
    copipe(["tsv", "--type", "n=int"])
        .stdin("name\tn\na\t7\n")
        .run()
        .code(0)
        .out("{\"name\":\"a\",\"n\":7}\n");
    copipe(["csv", "--strict", "--type", "n=int"])
        .stdin("name,n\na,7\nb,seven\nc,8\n")
        .run()
        .code(2)
        .out("{\"name\":\"a\",\"n\":7}\n")
        .err_has("csv: standard input:3: field `n`: `seven` is not an int");
    // A file big enough to be mapped and read in batches on a second thread.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("big.csv");
    let mut text = String::from("id,v\n");
    for i in 0..200_000 {
        text.push_str(&format!("{i},{}\n", i % 7));
    }
    std::fs::write(&f, text).unwrap();
    copipe([
        "cat",
        f.to_str().unwrap(),
        ":",
        "csv",
        "--type",
        "id=int,v=int",
        ":",
        "where",
        "v>=6",
        ":",
        "count",
    ])
    .run()
    .code(0)
    .out("28571\n");
    copipe([
        "cat",
        f.to_str().unwrap(),
        ":",
        "csv",
        "--type",
        "id=int",
        ":",
        "jq",
        "-r",
        "select(.id == 199999) | .id + 1",
    ])
    .run()
    .code(0)
    .out("200000\n");
}
