//! The line parsers (`parse`, `logfmt`, `kv`, `csv`, `tsv`, `syslog`, `combined`) and
//! `count --by`, run as the real binary on the files in `fixtures/parse/` (the `.log` ones
//! are samples of the loghub Linux, Mac and OpenSSH logs) and on generated files; CSV is
//! also checked against Python's csv module when python3 is there.

use crate::common;

use std::fs;
use std::process::Command;

use common::*;

fn p(name: &str) -> String {
    fixture(&format!("parse/{name}")).display().to_string()
}

fn json_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

#[test]
fn parse_makes_named_groups_fields_and_counts_the_lines_that_do_not_match() {
    let r = copipe([
        "cat",
        &fixture("app.log").display().to_string(),
        ":",
        "parse",
        r"^(?P<date>\S+) (?P<time>\S+) - (?P<level>[A-Z]+) +\[(?P<thread>[^\]]+)\] - (?P<msg>.*)$",
        ":",
        "where",
        "level=WARN",
        ":",
        "head",
        "1",
    ])
    .run();
    r.code(0);
    let recs = json_lines(&r.stdout());
    let keys: Vec<&String> = recs[0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["date", "time", "level", "thread", "msg"]);
    let r = copipe(["parse", r"^(?P<n>\d+)(?: (?P<opt>x))?$"])
        .stdin("1\nno\n2 x\nnope\n")
        .run();
    r.code(0)
        .out("{\"n\":\"1\"}\n{\"n\":\"2\",\"opt\":\"x\"}\n")
        .err_has("copipe: parse: 2 lines did not match");
}

#[test]
fn parse_shows_the_dropped_lines_in_stats() {
    let r = copipe(["--stats", "parse", r"^(?P<n>\d+)$"])
        .stdin("1\nx\ny\n")
        .run();
    r.code(0);
    let row = r
        .err
        .lines()
        .find(|l| l.trim_start().starts_with("parse"))
        .unwrap();
    let nums: Vec<&str> = row.split_whitespace().rev().take(2).collect();
    assert_eq!(nums, ["1", "3"], "{}", r.err);
}

#[test]
fn parse_keep_and_strict() {
    copipe(["parse", "--keep", r"^(?P<n>\d+)$"])
        .stdin("1\nx \"y\"\n")
        .run()
        .code(0)
        .out("{\"n\":\"1\"}\n{\"message\":\"x \\\"y\\\"\"}\n");
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.log"), "1\n2\nthree\n4\n").unwrap();
    copipe(["cat", "a.log", ":", "parse", "--strict", r"^(?P<n>\d+)$"])
        .dir(dir.path())
        .run()
        .code(2)
        .out("{\"n\":\"1\"}\n{\"n\":\"2\"}\n")
        .err_has("parse: a.log:3: the line does not match");
}

#[test]
fn parsers_make_invalid_utf8_replacement_characters() {
    let f = fixture("invalid-utf8.txt").display().to_string();
    let lines = String::from_utf8_lossy(&fs::read(&f).unwrap())
        .lines()
        .count();
    let r = copipe(["cat", &f, ":", "parse", "(?P<all>.*)"]).run();
    r.code(0);
    let recs = json_lines(&r.stdout());
    assert_eq!(recs.len(), lines);
    assert!(
        recs.iter()
            .any(|v| v["all"].as_str().unwrap().contains('\u{FFFD}'))
    );
    for stage in [
        &["logfmt"][..],
        &["kv"],
        &["csv", "--no-header"],
        &["tsv", "--no-header"],
        &["syslog", "--keep"],
        &["combined", "--keep"],
    ] {
        let mut args = vec!["cat", &f, ":"];
        args.extend_from_slice(stage);
        let r = copipe(&args).run();
        assert!(r.code == 0 || r.code == 1, "{stage:?}: {}", r.err);
        assert!(!r.err.contains("panicked"), "{stage:?}: {}", r.err);
        json_lines(&r.stdout());
    }
}

#[test]
fn logfmt_fixture() {
    let r = copipe(["cat", &p("app.logfmt"), ":", "logfmt"]).run();
    r.code(0).err_has("copipe: logfmt: 1 line did not parse");
    let recs = json_lines(&r.stdout());
    assert_eq!(recs.len(), 5);
    assert_eq!(recs[2]["msg"], "db timeout: \"users\" after 5s");
    assert_eq!(recs[2]["retry"], true);
    assert_eq!(recs[3]["tag"], serde_json::json!(["a", "b"]));
    copipe(["cat", &p("app.logfmt"), ":", "logfmt", "--strict"])
        .run()
        .code(2)
        .err_has("logfmt: ")
        .err_has("app.logfmt:5: a quote is not closed");
    copipe(["cat", &p("app.logfmt"), ":", "logfmt", ":", "count", "--by", "level"])
        .run()
        .code(0)
        .out("{\"level\":\"info\",\"count\":2}\n{\"level\":\"debug\",\"count\":1}\n{\"level\":\"error\",\"count\":1}\n{\"level\":\"warn\",\"count\":1}\n");
}

#[test]
fn kv_with_chosen_separators() {
    copipe(["kv", "--pair", ":", "--sep", ";"])
        .stdin("host: a.example; port:8080;debug; note:\"x;y\"\n")
        .run()
        .code(0)
        .out("{\"host\":\"a.example\",\"port\":\"8080\",\"debug\":true,\"note\":\"x;y\"}\n");
}

#[test]
fn csv_fixture_with_quotes_newlines_crlf_and_unicode() {
    let r = copipe(["cat", &p("people.csv"), ":", "csv"]).run();
    r.code(0);
    let recs = json_lines(&r.stdout());
    assert_eq!(recs.len(), 6);
    assert_eq!(recs[0]["note"], "first programmer, \"the\" one");
    assert_eq!(recs[2]["name"], "Chen\nWei");
    assert_eq!(recs[2]["note"], "two\r\nlines");
    assert_eq!(recs[5]["city"], "Paris");
    copipe([
        "cat",
        &p("people.csv"),
        ":",
        "csv",
        ":",
        "where",
        "age>40",
        ":",
        "fmt",
        "{name} {age}",
    ])
    .run()
    .code(0)
    .out("Dana 41\nÉmile 52\n");
}

#[test]
fn csv_each_input_has_its_header_and_strict_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.csv"), "x,y\n1,2\n").unwrap();
    fs::write(dir.path().join("b.csv"), "y,z\n3,4\n5,6,7\n").unwrap();
    copipe(["cat", "a.csv", "b.csv", ":", "csv"])
        .dir(dir.path())
        .run()
        .code(0)
        .out("{\"x\":\"1\",\"y\":\"2\"}\n{\"y\":\"3\",\"z\":\"4\"}\n{\"y\":\"5\",\"z\":\"6\",\"3\":\"7\"}\n");
    copipe(["cat", "a.csv", "b.csv", ":", "csv", "--strict"])
        .dir(dir.path())
        .run()
        .code(2)
        .out("{\"x\":\"1\",\"y\":\"2\"}\n{\"y\":\"3\",\"z\":\"4\"}\n")
        .err_has("csv: b.csv:3: 3 cells, the header has 2");
}

#[test]
fn csv_a_runaway_quote_is_an_error_with_the_line_it_began_on() {
    let mut body = String::from("a,b\n1,2\n3,\"open\n");
    for _ in 0..2000 {
        body.push_str("0123456789012345678901234567890123456789\n");
    }
    copipe(["csv", "--max-size", "10000"])
        .stdin(body)
        .run()
        .code(2)
        .out("{\"a\":\"1\",\"b\":\"2\"}\n")
        .err_has("the row that begins on line 3 is larger than 10000 bytes");
}

#[test]
fn tsv_and_given_fields() {
    copipe(["tsv"])
        .stdin("a\tb\n1\t\"x\ty\"\n")
        .run()
        .code(0)
        .out("{\"a\":\"1\",\"b\":\"x\\ty\"}\n");
    copipe(["csv", "--sep", ";", "--fields", "id,name"])
        .stdin("1;Ann\n2;\"B;b\"\n")
        .run()
        .code(0)
        .out("{\"id\":\"1\",\"name\":\"Ann\"}\n{\"id\":\"2\",\"name\":\"B;b\"}\n");
}

/// Tricky CSV, generated: quotes, doubled quotes, separators and line breaks in fields,
/// CRLF and LF, empty fields, Unicode.
fn tricky_csv(rows: usize) -> String {
    let cells = [
        "plain",
        "",
        "with,comma",
        "with \"quote\"",
        "two\nlines",
        "crlf\r\ninside",
        "é ü 漢字 🎉",
        " spaced ",
        "\"",
        ",",
        "trailing\n",
    ];
    let mut s = String::from("c1,c2,c3\r\n");
    let mut k = 7usize;
    for r in 0..rows {
        let mut fields = Vec::new();
        for _ in 0..3 {
            k = k.wrapping_mul(2_654_435_761).wrapping_add(r) % 1_000_003;
            let c = cells[k % cells.len()];
            if c.contains([',', '"', '\n', '\r']) || k.is_multiple_of(3) {
                fields.push(format!("\"{}\"", c.replace('"', "\"\"")));
            } else {
                fields.push(c.to_string());
            }
        }
        s.push_str(&fields.join(","));
        s.push_str(if r.is_multiple_of(2) { "\r\n" } else { "\n" });
    }
    s
}

/// The records Python's csv module reads from `file` (`csv.DictReader`, as JSON lines), or
/// `None`, said on stderr, when there is no python3 to run.
fn pythons_records(file: &std::path::Path) -> Option<Vec<serde_json::Value>> {
    let Ok(py) = Command::new("python3").arg("--version").output() else {
        eprintln!("skipped the comparison with Python: no python3");
        return None;
    };
    if !py.status.success() {
        eprintln!("skipped the comparison with Python: python3 does not run");
        return None;
    }
    let theirs = Command::new("python3")
        .arg("-c")
        .arg(
            "import csv, json, sys\n\
             with open(sys.argv[1], newline='', encoding='utf-8') as f:\n\
             \x20   for row in csv.DictReader(f):\n\
             \x20       print(json.dumps(row, ensure_ascii=False, separators=(',', ':')))\n",
        )
        .arg(file)
        .output()
        .unwrap();
    assert!(theirs.status.success());
    Some(json_lines(&String::from_utf8(theirs.stdout).unwrap()))
}

#[test]
fn csv_agrees_with_pythons_csv_module() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("t.csv");
    fs::write(&f, tricky_csv(500)).unwrap();
    let Some(theirs) = pythons_records(&f) else {
        return;
    };
    let ours = copipe(["cat", "t.csv", ":", "csv"]).dir(dir.path()).run();
    ours.code(0);
    let ours = json_lines(&ours.stdout());
    assert_eq!(ours.len(), 500);
    assert_eq!(ours, theirs);
}

#[test]
fn syslog_reads_every_line_of_the_loghub_samples() {
    for name in ["linux.log", "mac.log", "openssh.log"] {
        let lines = fs::read_to_string(p(name)).unwrap().lines().count();
        let r = copipe(["cat", &p(name), ":", "syslog", "--strict"]).run();
        r.code(0);
        let recs = json_lines(&r.stdout());
        assert_eq!(recs.len(), lines, "{name}");
        for v in &recs {
            assert!(
                v["time"].is_string() && v["host"].is_string() && v["message"].is_string(),
                "{name}: {v}"
            );
        }
    }
    let r = copipe(["cat", &p("linux.log"), ":", "head", "1", ":", "syslog"]).run();
    r.code(0).out(
        "{\"time\":\"Jun 14 15:16:01\",\"host\":\"combo\",\"app\":\"sshd(pam_unix)\",\"pid\":19939,\"message\":\"authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4 \"}\n",
    );
    copipe([
        "cat",
        &p("openssh.log"),
        ":",
        "syslog",
        ":",
        "where",
        "app=sshd",
        ":",
        "count",
    ])
    .run()
    .code(0)
    .out("40\n");
    copipe([
        "cat",
        &p("mac.log"),
        ":",
        "syslog",
        ":",
        "where",
        "app=Microsoft Word",
        ":",
        "count",
    ])
    .run()
    .code(0)
    .out("1\n");
}

#[test]
fn syslog_with_priority() {
    copipe(["syslog"])
        .stdin("<38>Feb  5 17:32:18 web1 sshd[42]: Accepted publickey\n<86>1 2026-12-01T02:10:01Z web1 cron - - - done\n")
        .run()
        .code(0)
        .out("{\"priority\":38,\"facility\":\"auth\",\"severity\":\"info\",\"facility_code\":4,\"severity_code\":6,\"time\":\"Feb  5 17:32:18\",\"host\":\"web1\",\"app\":\"sshd\",\"pid\":42,\"message\":\"Accepted publickey\"}\n{\"priority\":86,\"facility\":\"authpriv\",\"severity\":\"info\",\"facility_code\":10,\"severity_code\":6,\"version\":1,\"time\":\"2026-12-01T02:10:01Z\",\"host\":\"web1\",\"app\":\"cron\",\"message\":\"done\"}\n");
}

#[test]
fn combined_fixture_errors_by_path() {
    let r = copipe([
        "cat",
        &p("access.log"),
        ":",
        "combined",
        ":",
        "where",
        "status>=500",
        ":",
        "count",
        "--by",
        "path",
    ])
    .run();
    r.code(0)
        .out("{\"path\":\"/api/users?id=7\",\"count\":3}\n{\"path\":\"/api/users?id=8\",\"count\":1}\n")
        .err_has("copipe: combined: 1 line did not parse");
    let r = copipe(["cat", &p("access.log"), ":", "combined", ":", "head", "1"]).run();
    let v = &json_lines(&r.stdout())[0];
    assert_eq!(v["timestamp"], "2000-10-10T13:55:36-07:00");
    assert_eq!(v["status"], 200);
    assert_eq!(v["size"], 2326);
    assert!(v.get("ident").is_none());
}

/// The records of a fixture read by `combined --strict` (every line must parse).
fn combined_records(name: &str) -> Vec<serde_json::Value> {
    let r = copipe(["cat", &p(name), ":", "combined", "--strict"]).run();
    r.code(0);
    let lines = fs::read_to_string(p(name)).unwrap().lines().count();
    let recs = json_lines(&r.stdout());
    assert_eq!(recs.len(), lines, "{name}: one record a line");
    recs
}

/// The first record of `recs` whose `field` is `value`.
fn find<'a>(recs: &'a [serde_json::Value], field: &str, value: &str) -> &'a serde_json::Value {
    recs.iter()
        .find(|r| r[field] == value)
        .unwrap_or_else(|| panic!("no record with {field}={value}"))
}

// The fixtures were logged by real servers on 127.0.0.1 (nginx 1.22 with its `combined` and
// a `main` format with two more fields, Apache 2.4 with `combined` and `common`) for the
// same requests made with curl and socat: odd paths, query strings, quotes and a backslash
// and UTF-8 in the user agent, a quoted referer, HEAD, 404s, empty bodies, a user, an
// HTTP/0.9 request, a request line with spaces and a garbage one.
#[test]
fn combined_reads_lines_logged_by_real_nginx_and_apache() {
    for name in ["nginx-combined.log", "apache-combined.log"] {
        let recs = combined_records(name);
        for r in &recs {
            assert_eq!(r["host"], "127.0.0.1", "{name}: {r}");
            assert!(r.get("ident").is_none(), "`-` is left out: {r}");
            assert!(r["status"].is_u64(), "{name}: {r}");
            assert!(
                r["timestamp"]
                    .as_str()
                    .unwrap()
                    .starts_with("2026-12-01T05:1"),
                "{r}"
            );
            assert!(r["timestamp"].as_str().unwrap().ends_with("+00:00"), "{r}");
        }
        // The escapes of both servers (nginx \x22 \x5C, Apache \" \\) decode to what was sent.
        let quoted = r#"Mozilla/5.0 (X11; "quoted" agent\with backslash)"#;
        assert_eq!(find(&recs, "agent", quoted)["path"], "/index.html");
        let r = find(&recs, "path", "/caf%C3%A9");
        assert_eq!(
            r["agent"], "Ünïcödé-agent/1.0 日本",
            "{name}: \\xHH bytes are UTF-8"
        );
        assert_eq!(r["status"], 404);
        assert_eq!(find(&recs, "path", r#"/x?"a"=\"#)["status"], 404);
        let r = find(&recs, "referer", r#"https://example.com/from?a="b""#);
        assert_eq!(r["agent"], "curl/7.88.1");
        let r = find(&recs, "path", "/search?q=a+b&lang=fr%C3%A9&x=%22quoted%22");
        assert_eq!(r["method"], "GET");
        assert_eq!(r["protocol"], "HTTP/1.1");
        assert_eq!(
            find(&recs, "path", "/odd//path/../with%20space/%7Euser")["status"],
            404
        );
        if name.starts_with("nginx") {
            // (Apache logs the user of basic authentication only where it checks it.)
            assert_eq!(find(&recs, "user", "alice")["path"], "/index.html");
        }
        let head = find(&recs, "method", "HEAD");
        assert_eq!(head["status"], 200);
        // nginx logs an empty body as 0, Apache as `-` (left out).
        let empty = find(&recs, "path", "/empty.txt");
        if name.starts_with("nginx") {
            assert_eq!((&head["size"], &empty["size"]), (&0.into(), &0.into()));
        } else {
            assert!(
                head.get("size").is_none() && empty.get("size").is_none(),
                "{head} {empty}"
            );
        }
        // An empty user agent is `-`: no field.
        assert!(
            recs.iter()
                .any(|r| r["path"] == "/index.html" && r.get("agent").is_none())
        );
        // Requests that are not METHOD PATH PROTOCOL keep only `request`.
        for request in ["GARBAGE", "GET /bare-http09"] {
            let r = find(&recs, "request", request);
            assert!(r.get("method").is_none() && r.get("path").is_none(), "{r}");
            assert!(r["status"] == 400 || r["status"] == 404, "{r}");
        }
    }
    let recs = combined_records("nginx-main.log");
    assert_eq!(recs[0]["rest"], r#""203.0.113.7, 10.0.0.1" rt=0.000"#);
    assert_eq!(recs[3]["agent"], "tab\there", "nginx's \\x09");
    assert_eq!(recs[2]["method"], "HEAD");
    let recs = combined_records("apache-common.log");
    assert!(
        recs.iter()
            .all(|r| r.get("agent").is_none() && r.get("referer").is_none())
    );
    assert_eq!(find(&recs, "method", "DELETE")["status"], 405);
    assert_eq!(
        fs::read_to_string(p("apache-combined.log"))
            .unwrap()
            .lines()
            .last()
            .map(|l| l.contains(r#""tab\there""#)),
        Some(true)
    );
    assert_eq!(
        combined_records("apache-combined.log").last().unwrap()["agent"],
        "tab\there",
        "Apache's \\t"
    );
}

#[test]
fn count_by_sorts_by_count_then_first_seen_and_keeps_types() {
    copipe(["json", ":", "count", "--by", "a", "b"])
        .stdin("{\"a\":1,\"b\":\"x\"}\n{\"a\":\"1\",\"b\":\"x\"}\n{\"a\":2}\n{\"a\":2}\n{\"a\":1,\"b\":\"x\"}\n{\"a\":\"1\",\"b\":\"x\"}\n{\"a\":3}\n")
        .run()
        .code(0)
        .out("{\"a\":1,\"b\":\"x\",\"count\":2}\n{\"a\":\"1\",\"b\":\"x\",\"count\":2}\n{\"a\":2,\"b\":null,\"count\":2}\n{\"a\":3,\"b\":null,\"count\":1}\n");
    copipe(["json", ":", "count", "--by", "a"])
        .stdin("")
        .run()
        .code(1)
        .out("");
    copipe(["count", "--by", "a"])
        .stdin("x\n")
        .run()
        .code(2)
        .err_has("count --by needs records");
}

#[test]
fn count_by_on_a_terminal_is_aligned_text() {
    let r = copipe([
        "cat",
        &p("access.log"),
        ":",
        "combined",
        ":",
        "count",
        "--by",
        "status",
        "method",
    ])
    .run_in_pty(Tty {
        stdout: true,
        stderr: false,
    });
    let out = r.stdout().replace("\r\n", "\n");
    let want = "\
count  status  method
    3  200     GET
    3  500     GET
    1  302     POST
    1  503     GET
    1  304     GET
    1  400     null
    1  408     null
";
    assert!(out.starts_with(want), "{out}");
}

#[test]
fn hostile_lines_are_one_record_or_a_count_never_a_panic() {
    for c in [b'"', b'[', b'\\', b'=', b',', b'<', b' '] {
        let mut line = vec![c; 100_000];
        line.push(b'\n');
        for stage in [
            &["parse", "--keep", r"^(?P<a>.*?)(?P<b>x)?$"][..],
            &["logfmt", "--keep"],
            &["kv", "--keep", "--sep", ","],
            &["csv", "--no-header"],
            &["syslog", "--keep"],
            &["combined", "--keep"],
        ] {
            let r = copipe(stage).stdin(line.clone()).run();
            assert!(
                r.code == 0 || r.code == 1,
                "{:?} on {:?}: {}",
                stage,
                c as char,
                r.err
            );
            assert!(!r.err.contains("panicked"), "{stage:?}: {}", r.err);
            let n = json_lines(&r.stdout()).len();
            assert!(n <= 1, "{stage:?} on {:?}: {n} records", c as char);
        }
    }
}

/// Issue 15: `parse` matches the common shape of a log regex with a scan of its own
/// (src/stage/parse/fast.rs). Its records are the regex crate's: each regex is run as it is
/// (the fast path) and as a twin that means the same but is outside the shape (an
/// alternation with a branch that matches nothing), on the sample logs and on lines made to
/// be awkward (Unicode spaces, non-ASCII in fields, invalid UTF-8, CR, tabs, runs of spaces).
#[test]
fn parse_fast_path_gives_the_regex_crates_records_issue_15() {
    let dir = tempfile::tempdir().unwrap();
    let awkward = dir.path().join("awkward.log");
    let mut bytes = Vec::new();
    for l in [
        &b"a b c d"[..],
        "\u{e9}t\u{e9} b c d".as_bytes(),
        "a\u{a0}b c d e".as_bytes(),
        "a b\u{2003}c d e".as_bytes(),
        "a b c \u{e9}\u{a0}\u{2003}".as_bytes(),
        b"a\tb c d",
        b"a  b  c  d",
        b"a b c d\r",
        b"\xff b \xfe d",
        b"",
        b" ",
        b"Invalid user x from y",
        b"sshd: Invalid user Invalid user  from 1.2.3.4 port 22",
        b"2015-07-29 19:04:12,394 - INFO  [main:QuorumPeer@913] - LOOKING",
        "2015-07-29 19:04:12,394 - INFO  [m\u{e4}in:Q@1] - \u{fc}".as_bytes(),
        b"Dec 10 06:55:46 LabSZ sshd[24200]: Failed password for root from 5.3.2.1 port 22 ssh2",
    ] {
        bytes.extend_from_slice(l);
        bytes.push(b'\n');
    }
    fs::write(&awkward, bytes).unwrap();
    let files = [
        awkward.display().to_string(),
        p("linux.log"),
        p("mac.log"),
        p("openssh.log"),
        fixture("app.log").display().to_string(),
        fixture("crlf.log").display().to_string(),
        fixture("invalid-utf8.txt").display().to_string(),
    ];
    for re in [
        r"^(?<a>\S+) (?<b>\S+) (?<c>\S+) (?<rest>.*)$",
        // (outside the shape: an optional group)
        r"^(?P<month>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) (?P<time>[0-9:]+) (?P<host>[^ ]+) (?P<proc>[^\[:]+)(\[(?P<pid>\d+)\])?: (?P<msg>.*)$",
        r"^(?P<mon>\w+) +(?P<day>\d+) (?P<time>\S+) (?P<host>\S+) (?P<proc>[^\[]+)\[(?P<pid>\d+)\]: (?P<msg>.*)$",
        r"^(?P<date>\S+) (?P<time>\S+) - (?P<level>[A-Z]+) +\[(?P<thread>[^\]]+)\] - (?P<msg>.*)$",
        r"Invalid user (?P<user>\S*) from (?P<ip>\S+)",
        r"for (?P<user>\w+) from (?P<ip>[0-9.]+) port (?P<port>\d+)",
        r"^(?<d>\d{4}-\d\d-\d\d) (?<t>[\d:,]+)",
    ] {
        let twin = format!(r"(?:{re}|[^\s\S])");
        let run = |re: &str| {
            let mut args = vec!["cat".to_string()];
            args.extend(files.iter().cloned());
            args.extend([":", "parse", "--keep", re].map(String::from));
            let r = copipe(&args).run();
            r.code(0);
            r.stdout()
        };
        let (fast, slow) = (run(re), run(&twin));
        assert_eq!(fast, slow, "{re}");
        let parsed = json_lines(&fast)
            .iter()
            .filter(|r| r.get("message").is_none())
            .count();
        assert!(parsed >= 2, "{re}: {parsed} records\n{fast}");
    }
}

/// The lines named in csv's errors are exact when whole batches of lines go to the parser
/// at once: blank lines (LF and CRLF), CRLF rows and a quoted field over two lines before
/// the row at fault, which is named by the line it begins on.
#[test]
fn csv_errors_name_the_line_a_row_begins_on_across_blank_and_crlf_lines() {
    let dir = tempfile::tempdir().unwrap();
    let head = "a,b\r\n\r\n1,2\r\n\n\"x\r\ny\",3\r\n\n";
    fs::write(dir.path().join("late.csv"), format!("{head}4,5,6\r\n7,8\n")).unwrap();
    fs::write(dir.path().join("long.csv"), format!("{head}\"p\nq\",5,6\n")).unwrap();
    for (file, line) in [("late.csv", 8), ("long.csv", 8)] {
        copipe(["cat", file, ":", "csv", "--strict"])
            .dir(dir.path())
            .run()
            .code(2)
            .out("{\"a\":\"1\",\"b\":\"2\"}\n{\"a\":\"x\\r\\ny\",\"b\":\"3\"}\n")
            .err_has(&format!("csv: {file}:{line}: 3 cells, the header has 2"))
            .err_lacks("not closed");
        let text = fs::read(dir.path().join(file)).unwrap();
        copipe(["csv", "--strict"])
            .stdin(text)
            .run()
            .code(2)
            .err_has(&format!(
                "csv: standard input:{line}: 3 cells, the header has 2"
            ));
    }
    copipe(["cat", "late.csv", ":", "csv"])
        .dir(dir.path())
        .run()
        .code(0)
        .out("{\"a\":\"1\",\"b\":\"2\"}\n{\"a\":\"x\\r\\ny\",\"b\":\"3\"}\n{\"a\":\"4\",\"b\":\"5\",\"3\":\"6\"}\n{\"a\":\"7\",\"b\":\"8\"}\n");
}

/// A CSV bigger than the size from which `cat` maps a file, so that its batches are read on
/// a second thread (where there are two cores) while the first sends the records on: the
/// records are Python's, from the file and through a pipe; `head` stops the reading; a bad
/// row deep in the file comes after every record before it, named by its line.
#[test]
fn a_big_csv_read_on_a_second_thread_gives_the_records_of_one() {
    let dir = tempfile::tempdir().unwrap();
    let rows = 200_000;
    let text = tricky_csv(rows);
    assert!(
        text.len() > 5 << 20,
        "{} bytes: too small to be mapped",
        text.len()
    );
    fs::write(dir.path().join("big.csv"), &text).unwrap();
    let from_file = copipe(["cat", "big.csv", ":", "csv"]).dir(dir.path()).run();
    from_file.code(0);
    let records = from_file.stdout();
    assert_eq!(records.lines().count(), rows);
    copipe(["cat", "-", ":", "csv"])
        .stdin(text.clone())
        .run()
        .code(0)
        .out(&records);
    let first: String = records.lines().take(3).map(|l| format!("{l}\n")).collect();
    copipe(["cat", "big.csv", ":", "csv", ":", "head", "3"])
        .dir(dir.path())
        .run()
        .code(0)
        .out(&first);
    // A row of four cells at about two thirds of the file.
    let at = text.len() * 2 / 3;
    let cut = at + text[at..].find("\r\n").unwrap() + 2;
    let before = copipe(["csv"]).stdin(&text[..cut]).run().stdout();
    let line = text[..cut].matches('\n').count() + 1;
    fs::write(
        dir.path().join("bad.csv"),
        format!("{}1,2,3,4\r\n{}", &text[..cut], &text[cut..]),
    )
    .unwrap();
    copipe(["cat", "bad.csv", ":", "csv", "--strict"])
        .dir(dir.path())
        .run()
        .code(2)
        .out(&before)
        .err_has(&format!("csv: bad.csv:{line}: 4 cells, the header has 3"));
    if let Some(theirs) = pythons_records(&dir.path().join("big.csv")) {
        assert_eq!(json_lines(&records), theirs);
    }
}

#[test]
fn syslog_reads_rfc5424_without_priority_and_the_app_of_a_versioned_tag() {
    // Issue 30 item 8: the 5424 line was dropped ("1 line did not parse"), and
    // `syslogd 1.4.1: restart.` had no app.
    let r = copipe([
        "syslog", ":", "select", "version", "time", "app", "pid", "message",
    ])
    .stdin(
        "1 2020-05-22T14:59:09.250-03:00 host app 6589 - - msg\n\
             Jun 19 04:09:11 combo syslogd 1.4.1: restart.\n",
    )
    .run();
    r.code(0).err_lacks("did not parse").out(
        "{\"version\":1,\"time\":\"2020-05-22T14:59:09.250-03:00\",\"app\":\"app\",\"pid\":6589,\"message\":\"msg\"}\n\
         {\"time\":\"Jun 19 04:09:11\",\"app\":\"syslogd\",\"message\":\"1.4.1: restart.\"}\n",
    );
}
