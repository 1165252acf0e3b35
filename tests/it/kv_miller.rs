//! `kv --sep ,` against Miller's key=value reader (`mlr -S --no-auto-unflatten --idkvp
//! --ojsonl cat`: `,` between pairs, `=` in a pair, no type inference, dotted keys kept
//! flat), a differential test on generated lines and on hostile ones. Where the two
//! conventions agree the records must be the same, field for field and in order; where they
//! differ on purpose (quotes, bare keys, repeated keys, spaces around a pair, an empty key, a
//! blank line: listed in `src/stage/kv.rs`), each line still gives exactly one record with
//! `--keep`, and each documented difference is checked on an example. Miller 6.6 writes a
//! key with `"`, `\` or a control character into JSON unescaped: such lines are not compared.
//! A missing Miller is skipped with a note (unless COPIPE_REQUIRE_TOOLS is set).

use crate::common;

use std::fs;
use std::process::Command;

use common::*;

fn has_mlr() -> bool {
    let found = Command::new("mlr")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found || std::env::var_os("COPIPE_REQUIRE_TOOLS").is_none(),
        "mlr is not installed, and COPIPE_REQUIRE_TOOLS is set"
    );
    if !found {
        eprintln!("note: mlr is not installed, the differential test is skipped");
    }
    found
}

/// A small deterministic generator (xorshift64*), so that a failure can be replayed.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
}

type Rec = Vec<(String, serde_json::Value)>;

/// A record as a list of (key, value) pairs, order kept; `None` if it is not JSON (Miller
/// 6.6 writes keys without escaping them: a key with `"` or `\` makes a line that is not).
fn pairs_of(line: &str) -> Option<Rec> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    Some(
        v.as_object()?
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

/// Records as lists of (key, value) pairs, each line JSON.
fn pairs(ndjson: &str) -> Vec<Rec> {
    ndjson
        .lines()
        .map(|l| pairs_of(l).unwrap_or_else(|| panic!("not a JSON object: {l}")))
        .collect()
}

/// Whether both readers are meant to make the same record of `line`: no quotes, every
/// non-empty field a `key=value` with a non-empty key, no spaces at the edges of a key or a
/// value, no repeated key, not blank; and no backslash or control character in a key, which
/// Miller writes into JSON unescaped.
fn agreeable(line: &str) -> bool {
    if line.contains('"') || line.is_empty() {
        return false;
    }
    let mut keys = Vec::new();
    for f in line.split(',').filter(|f| !f.is_empty()) {
        let Some((k, v)) = f.split_once('=') else {
            return false;
        };
        let edges = |s: &str| s != s.trim_matches([' ', '\t']);
        let unescaped = k.contains(|c: char| c == '\\' || c.is_control());
        if k.is_empty() || edges(k) || edges(v) || keys.contains(&k) || unescaped {
            return false;
        }
        keys.push(k);
    }
    true
}

/// copipe's and Miller's records of `lines` (a blank line is Miller's `{}` and no record of
/// copipe's: left out of both).
fn both(dir: &std::path::Path, lines: &[String]) -> Vec<(String, Rec, Option<Rec>)> {
    let path = dir.join("in.kv");
    let mut text = lines.join("\n");
    text.push('\n');
    fs::write(&path, &text).unwrap();
    let ours = copipe(["cat", "in.kv", ":", "kv", "--sep", ",", "--keep"])
        .dir(dir)
        .run();
    ours.code(if lines.iter().all(|l| l.is_empty()) {
        1
    } else {
        0
    });
    let mlr = Command::new("mlr")
        .args(["-S", "--no-auto-unflatten", "--idkvp", "--ojsonl", "cat"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        mlr.status.success(),
        "{}",
        String::from_utf8_lossy(&mlr.stderr)
    );
    let ours = pairs(&ours.stdout());
    let theirs: Vec<Option<Rec>> = String::from_utf8(mlr.stdout)
        .unwrap()
        .lines()
        .map(pairs_of)
        .collect();
    assert_eq!(theirs.len(), lines.len(), "Miller: one record a line");
    let kept: Vec<&String> = lines.iter().filter(|l| !l.is_empty()).collect();
    assert_eq!(
        ours.len(),
        kept.len(),
        "copipe --keep: one record a non-blank line"
    );
    let mut theirs = theirs.into_iter();
    let mut out = Vec::new();
    let mut ours = ours.into_iter();
    for l in lines {
        let t = theirs.next().unwrap();
        if l.is_empty() {
            assert_eq!(t, Some(vec![]), "Miller makes {{}} of a blank line");
            continue;
        }
        out.push((l.clone(), ours.next().unwrap(), t));
    }
    out
}

fn check_agreement(dir: &std::path::Path, lines: &[String]) -> usize {
    let mut agreed = 0;
    for (line, ours, theirs) in both(dir, lines) {
        if agreeable(&line) {
            assert_eq!(Some(ours), theirs, "the line {line:?}");
            agreed += 1;
        }
    }
    agreed
}

#[test]
fn kv_agrees_with_miller_on_generated_lines() {
    if !has_mlr() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut g = Gen(0x9E37_79B9_7F4A_7C15);
    let key_parts = [
        "a",
        "b",
        "id",
        "user_name",
        "x.y",
        "k-1",
        "λ",
        "ü",
        "9",
        "A/b",
    ];
    let value_parts = [
        "",
        "1",
        "007",
        "0xff",
        "-.5",
        "1e5",
        "true",
        "null",
        "a b",
        "x=y",
        "/api/v1?q=1",
        "é",
        "日本",
        "😀",
        "\\n",
        "tab\there",
        "-",
        "NaN",
        "it's",
        ":",
        "[1]",
        "{}",
    ];
    let mut lines = Vec::new();
    for _ in 0..2000 {
        let n = 1 + g.below(8);
        let mut keys: Vec<String> = Vec::new();
        let mut fields = Vec::new();
        while fields.len() < n {
            let k = format!("{}{}", g.pick(&key_parts), g.below(50));
            if keys.contains(&k) {
                continue;
            }
            let v = format!("{}{}", g.pick(&value_parts), g.pick(&value_parts));
            let v = v.trim_matches([' ', '\t']).to_string();
            keys.push(k.clone());
            fields.push(format!("{k}={v}"));
        }
        lines.push(fields.join(","));
    }
    assert_eq!(check_agreement(dir.path(), &lines), lines.len());
}

#[test]
fn kv_on_hostile_lines_gives_one_record_each_and_agrees_with_miller_where_meant_to() {
    if !has_mlr() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut g = Gen(0xD1B5_4A32_D192_ED03);
    let alphabet = [
        "=", "=", ",", ",", "\"", "\\", " ", "\t", "a", "b", "1", "é", "😀", "k=",
    ];
    let mut lines = Vec::new();
    for _ in 0..5000 {
        let n = g.below(24);
        let mut l: String = (0..n).map(|_| g.pick(&alphabet)).collect();
        if l.trim_matches([' ', '\t']).is_empty() {
            // A line of spaces is no record of copipe's but a positional field of Miller's.
            l.clear();
        }
        lines.push(l);
    }
    let agreed = check_agreement(dir.path(), &lines);
    assert!(agreed > 200, "enough agreeable hostile lines: {agreed}");
}

#[test]
fn kv_and_miller_differ_where_documented() {
    if !has_mlr() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &str)] = &[
        // (line, copipe, Miller)
        ("k=1,k=2", r#"{"k":["1","2"]}"#, r#"{"k":"1","k_2":"2"}"#),
        (
            "bare,k=v",
            r#"{"bare":true,"k":"v"}"#,
            r#"{"1":"bare","k":"v"}"#,
        ),
        (
            r#"q="a,b",r=x"#,
            r#"{"q":"a,b","r":"x"}"#,
            r#"{"q":"\"a","2":"b\"","r":"x"}"#,
        ),
        (
            "a=1, b= 2 ",
            r#"{"a":"1","b":"2"}"#,
            r#"{"a":"1"," b":" 2 "}"#,
        ),
        ("=v,s=1", r#"{"message":"=v,s=1"}"#, r#"{"":"v","s":"1"}"#),
    ];
    let lines: Vec<String> = cases.iter().map(|c| c.0.to_string()).collect();
    for ((line, ours, theirs), (_, want_ours, want_theirs)) in
        both(dir.path(), &lines).iter().zip(cases)
    {
        assert_eq!(ours, &pairs(want_ours)[0], "copipe on {line:?}");
        assert_eq!(
            theirs.as_ref(),
            Some(&pairs(want_theirs)[0]),
            "Miller on {line:?}"
        );
    }
}
