//! `xml FILE : records …` parsed in parts on several threads must give exactly what one
//! thread gives: the same records in the same order, the same error at the same line and
//! column after the same records, the same exit status, the same counts.
//!
//! The documents are generated (seeded) with everything that can make a guessed part start
//! wrong: `<bus` inside comments, CDATA sections and processing instructions, nested record
//! elements, records inside container elements that open and close between parts, names
//! that only begin like the record's (`<busy>`), entities declared in the DOCTYPE (one with
//! markup), ATTLIST defaults, CRLF line ends and non-ASCII text. Tiny parts (`--part-size`,
//! a hidden option) make every document cut in many places.

use crate::common;

use std::fs;
use std::path::Path;

use common::*;

/// xorshift64*: a fixed sequence per seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

fn document(seed: u64, blocks: usize, crlf: bool) -> Vec<u8> {
    let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let nl = if crlf { "\r\n" } else { "\n" };
    let mut s = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>{nl}");
    s += "<!DOCTYPE buses [\n  <!ENTITY cta \"Chicago Transit Authority\">\n";
    s += "  <!ENTITY stop \"<stop>Howard &amp; Main</stop>\">\n";
    s += "  <!ATTLIST bus agency CDATA \"CTA\">\n]>\n<buses>";
    let mut group = false;
    for i in 0..blocks {
        s += nl;
        s += ["  ", "\t", "    ", ""][r.below(4) as usize];
        let n = r.below(200);
        match r.below(14) {
            0 => s += &format!("<!-- not a record: <bus id=\"c{i}\"> -->"),
            1 if group => {
                s += "</group>";
                group = false;
            }
            1 => {
                s += &format!("<group name=\"g{i}\">");
                group = true;
            }
            2 => s += &format!("<![CDATA[<bus id=\"d{i}\">]]>"),
            3 => s += &format!("<?note <bus id=\"p{i}\"> ?>"),
            4 => {
                s += &format!(
                    "<bus id=\"{i}\"><route>{n}</route><bus id=\"in{i}\"><route>9</route></bus></bus>"
                )
            }
            5 => s += &format!("<bus id=\"{i}\"><op>&cta;</op>&stop;</bus>"),
            6 => s += &format!("<bus id=\"{i}\">café <b>ü</b> 日本 &#x263A; &lt;bus&gt;</bus>"),
            7 => s += &format!("<deep><er><bus id=\"{i}\"/></er></deep>"),
            8 => s += &format!("<bus id=\"{i}\" x=\"a&amp;b\"/>"),
            9 => s += &format!("<bus{nl}  id=\"{i}\"><route>{n}</route>{nl}</bus>"),
            10 => s += &format!("<busy>{n}</busy>"),
            11 => {
                s += &format!("<bus id=\"{i}\">{nl}  <stop>A</stop>{nl}  <stop>B</stop>{nl}</bus>")
            }
            _ => {
                s += &format!(
                    "<bus id=\"{i}\"><route>{n}</route><dir>North Bound</dir><lat>41.{n}</lat></bus>"
                )
            }
        }
    }
    if group {
        s += "</group>";
    }
    s += &format!("{nl}</buses>{nl}<!-- after the root -->{nl}");
    s.into_bytes()
}

fn run(file: &Path, threads: usize, part: usize, tail: &[&str], stats: bool) -> Run {
    let mut args: Vec<String> = Vec::new();
    if stats {
        args.push("--stats".into());
    }
    args.extend([
        "xml".into(),
        "--threads".into(),
        threads.to_string(),
        "--part-size".into(),
        part.to_string(),
        file.display().to_string(),
        ":".into(),
    ]);
    args.extend(tail.iter().map(|s| s.to_string()));
    copipe(args).run()
}

/// The parts parsed by the threads and parsed again, from `--stats`.
fn parts(err: &str) -> Option<(u64, u64)> {
    let line = err.lines().find(|l| l.contains("parts parsed by"))?;
    let (_, rest) = line.split_once("; ")?;
    let mut w = rest.split_whitespace();
    let parallel = w.next()?.parse().ok()?;
    let again = rest
        .split(", ")
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some((parallel, again))
}

/// The in/out counts of `--stats` after the source's row (whose label names the threads).
fn counts(err: &str) -> Vec<String> {
    err.lines()
        .skip(3)
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let n = cols
                .iter()
                .position(|c| *c == "-" || c.parse::<u64>().is_ok());
            n.map_or(String::new(), |n| {
                cols[n..(n + 2).min(cols.len())].join(" ")
            })
        })
        .collect()
}

#[track_caller]
fn same(want: &Run, got: &Run, what: &str) {
    assert_eq!(got.code, want.code, "{what}: exit status\n{}", got.err);
    assert_eq!(got.err, want.err, "{what}: stderr");
    if got.out != want.out {
        let w = want.stdout();
        let g = got.stdout();
        let line = w
            .lines()
            .zip(g.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(w.lines().count().min(g.lines().count()));
        panic!(
            "{what}: stdout differs at record {}\n--- one thread: {:?}\n--- in parts:   {:?}",
            line + 1,
            w.lines().nth(line),
            g.lines().nth(line)
        );
    }
}

#[test]
fn records_in_parts_are_the_records_of_one_thread() {
    let dir = tempfile::tempdir().unwrap();
    let mut parallel_parts = 0;
    for seed in 1..=4 {
        for crlf in [false, true] {
            let file = dir.path().join(format!("feed-{seed}-{crlf}.xml"));
            fs::write(&file, document(seed, 400, crlf)).unwrap();
            for tail in [
                &["records", "bus"][..],
                &["records", "--depth", "2"],
                &["records", "--depth", "3"],
                &[
                    "records",
                    "bus",
                    ":",
                    "where",
                    "route<100",
                    ":",
                    "select",
                    "id",
                ],
            ] {
                let want = run(&file, 1, 64, tail, true);
                want.code(0);
                assert!(parts(&want.err).is_none(), "one thread: {}", want.err);
                for (threads, part) in [(2, 64), (2, 200), (3, 500), (2, 1500)] {
                    let got = run(&file, threads, part, tail, true);
                    let what = format!("seed {seed}, crlf {crlf}, {tail:?}, {threads}×{part}");
                    same(
                        &Run {
                            err: String::new(),
                            out: want.out.clone(),
                            code: want.code,
                        },
                        &Run {
                            err: String::new(),
                            out: got.out.clone(),
                            code: got.code,
                        },
                        &what,
                    );
                    assert_eq!(counts(&got.err), counts(&want.err), "{what}: stats");
                    if tail[1] == "bus" {
                        let (p, _) =
                            parts(&got.err).unwrap_or_else(|| panic!("{what}: {}", got.err));
                        parallel_parts += p;
                    }
                }
            }
        }
    }
    // The parts were really taken from the threads, not all parsed again.
    assert!(
        parallel_parts > 500,
        "{parallel_parts} parts parsed in parallel"
    );
}

/// A change that makes a document not well-formed (most of the time) at an offset.
type Mutation = dyn Fn(&mut Vec<u8>, usize);

#[test]
fn errors_in_parts_are_the_errors_of_one_thread() {
    let dir = tempfile::tempdir().unwrap();
    let doc = document(7, 160, false);
    let file = dir.path().join("bad.xml");
    let mutations: [(&str, &Mutation); 7] = [
        ("a lone &", &|d, p| d.insert(p, b'&')),
        ("a control character", &|d, p| d.insert(p, 1)),
        ("a byte that is not UTF-8", &|d, p| d[p] = 0xFF),
        ("a stray end tag", &|d, p| {
            d.splice(p..p, b"</x>".iter().copied());
        }),
        ("a deleted byte", &|d, p| {
            d.remove(p);
        }),
        ("an undefined entity", &|d, p| {
            d.splice(p..p, b"&nope;".iter().copied());
        }),
        ("a truncated file", &|d, p| d.truncate(p)),
    ];
    let step = doc.len() / 50;
    let mut errors = 0;
    for (k, p) in (300..doc.len()).step_by(step).enumerate() {
        let (what, mutate) = mutations[k % mutations.len()];
        let mut bad = doc.clone();
        mutate(&mut bad, p);
        fs::write(&file, &bad).unwrap();
        let want = run(&file, 1, 64, &["records", "bus"], false);
        if want.code == 2 {
            errors += 1;
            assert!(want.err.contains("bad.xml:"), "{}", want.err);
        }
        for (threads, part) in [(2, 64), (2, 300)] {
            let got = run(&file, threads, part, &["records", "bus"], false);
            same(&want, &got, &format!("{what} at {p}, {threads}×{part}"));
        }
    }
    assert!(errors > 30, "only {errors} of the mutations were errors");
}

#[test]
fn a_byte_order_mark_and_other_encodings() {
    let dir = tempfile::tempdir().unwrap();
    // UTF-8 with a BOM: cut in parts, offsets shifted by the BOM (errors too).
    let mut doc = b"\xEF\xBB\xBF".to_vec();
    doc.extend(document(3, 300, true));
    let file = dir.path().join("bom.xml");
    fs::write(&file, &doc).unwrap();
    let want = run(&file, 1, 64, &["records", "bus"], false);
    want.code(0);
    let got = run(&file, 2, 128, &["records", "bus"], true);
    same(
        &want,
        &Run {
            err: String::new(),
            ..got
        },
        "BOM",
    );
    let got = run(&file, 2, 128, &["records", "bus"], true);
    assert!(parts(&got.err).is_some_and(|(p, _)| p > 10), "{}", got.err);
    let cut = doc.len() * 2 / 3;
    doc.insert(cut, b'&');
    fs::write(&file, &doc).unwrap();
    let want = run(&file, 1, 64, &["records", "bus"], false);
    want.code(2);
    same(
        &want,
        &run(&file, 2, 128, &["records", "bus"], false),
        "BOM, error",
    );

    // ISO-8859-1: decoded as it is read, so one thread.
    let text = String::from_utf8(document(4, 300, false)).unwrap();
    let latin1: Vec<u8> = text
        .replace("encoding=\"UTF-8\"", "encoding=\"ISO-8859-1\"")
        .replace("日本", "")
        .replace("&#x263A;", "")
        .chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap())
        .collect();
    let file = dir.path().join("latin1.xml");
    fs::write(&file, &latin1).unwrap();
    let want = run(&file, 1, 64, &["records", "bus"], false);
    want.code(0);
    assert!(want.stdout().contains("café"));
    let got = run(&file, 2, 64, &["records", "bus"], true);
    assert!(parts(&got.err).is_none(), "{}", got.err);
    same(
        &want,
        &Run {
            err: String::new(),
            ..got
        },
        "ISO-8859-1",
    );
}

#[test]
fn head_stops_and_keeps_the_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("feed.xml");
    fs::write(&file, document(11, 2000, false)).unwrap();
    for n in ["1", "7", "300"] {
        let tail = ["records", "bus", ":", "head", n];
        let want = run(&file, 1, 64, &tail, false);
        want.code(0);
        let got = run(&file, 2, 256, &tail, false);
        same(&want, &got, &format!("head {n}"));
    }
}

#[test]
fn other_inputs_and_stages_keep_one_thread() {
    // Events (no `records` next), a small file, standard input: one thread, no parts.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("feed.xml");
    fs::write(&file, document(5, 300, false)).unwrap();
    let r = run(&file, 2, 64, &["head", "3"], true);
    r.code(0);
    assert!(parts(&r.err).is_none(), "{}", r.err);
    let r = run(&file, 2, 1 << 20, &["records", "bus"], true);
    r.code(0);
    assert!(parts(&r.err).is_none(), "{}", r.err);
    let r = copipe([
        "--stats",
        "xml",
        "--part-size",
        "64",
        "-",
        ":",
        "records",
        "bus",
    ])
    .stdin(fs::read(&file).unwrap())
    .run();
    r.code(0);
    assert!(parts(&r.err).is_none(), "{}", r.err);
}

#[test]
fn records_on_the_scheduler_are_parsed_in_parts_by_the_native_task() {
    // `count --every` puts the pipeline on the scheduler: `xml` is a task of its thread
    // and drives the `records` stage of the plan itself, in parts, as on the direct path,
    // waiting for the workers on a descriptor between parts. Same records and counts.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("feed.xml");
    fs::write(&file, document(5, 300, false)).unwrap();
    let direct = run(&file, 2, 64, &["records", "bus", ":", "count"], true);
    direct.code(0);
    assert!(
        parts(&direct.err).is_some_and(|(p, _)| p > 0),
        "{}",
        direct.err
    );
    let every = ["records", "bus", ":", "count", "--every", "1h"];
    let scheduled = run(&file, 2, 64, &every, true);
    scheduled.code(0);
    assert!(
        parts(&scheduled.err).is_some_and(|(p, _)| p > 0),
        "{}",
        scheduled.err
    );
    let n = direct.stdout().trim().to_string();
    assert!(n.parse::<u64>().unwrap() > 0, "{n}");
    assert!(
        scheduled.stdout().trim().ends_with(&format!(" {n}")),
        "{}",
        scheduled.stdout()
    );
    assert_eq!(counts(&scheduled.err), counts(&direct.err));
    // `head` stops it there too.
    let head = [
        "records", "bus", ":", "head", "3", ":", "count", "--every", "1h",
    ];
    let r = run(&file, 2, 64, &head, false);
    r.code(0);
    assert!(r.stdout().trim().ends_with(" 3"), "{}", r.stdout());
}

#[test]
fn a_feed_of_many_turns_on_the_scheduler_gives_the_records_of_one_thread() {
    // Over 512 KiB: several turns of the task (256 KiB each), the parts adopted across
    // turns; the records themselves, in order, for small, middling and big parts.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("feed.xml");
    let doc = document(21, 12_000, false);
    assert!(doc.len() > 512 << 10, "{}", doc.len());
    fs::write(&file, &doc).unwrap();
    let want = run(&file, 1, 64, &["records", "bus"], false);
    want.code(0);
    for part in [64, 4096, 100_000] {
        let tee = [
            "records", "bus", ":", "tee", "{", "count", "--every", "1h", "}",
        ];
        let got = run(&file, 2, part, &tee, true);
        got.code(0);
        assert!(
            parts(&got.err).is_some_and(|(p, _)| p > 0),
            "{part}: {}",
            got.err
        );
        let out = got.stdout();
        let records = out.lines().count() - 1;
        assert_eq!(records, want.stdout().lines().count(), "{part}");
        assert!(out.starts_with(&want.stdout()), "{part}: records differ");
    }
}

#[test]
fn errors_in_parts_on_the_scheduler_are_the_errors_of_one_thread() {
    let dir = tempfile::tempdir().unwrap();
    let doc = document(9, 160, false);
    let file = dir.path().join("bad.xml");
    let step = doc.len() / 12;
    let mut errors = 0;
    for p in (300..doc.len()).step_by(step) {
        let mut bad = doc.clone();
        bad.splice(p..p, b"</x>".iter().copied());
        fs::write(&file, &bad).unwrap();
        let want = run(&file, 1, 64, &["records", "bus", ":", "count"], false);
        let every = ["records", "bus", ":", "count", "--every", "1h"];
        let got = run(&file, 2, 64, &every, false);
        assert_eq!(got.code, want.code, "at {p}: {}", got.err);
        assert_eq!(got.err, want.err, "at {p}");
        let n = want.stdout().trim().to_string();
        assert!(got.stdout().trim().ends_with(&format!(" {n}")), "at {p}");
        errors += usize::from(want.code == 2);
    }
    assert!(errors > 5, "only {errors} of the changes were errors");
}

#[test]
fn records_rendered_by_the_workers_are_the_bytes_of_one_thread() {
    // `records` followed only by `print` or `write` (without colour): the workers write the
    // records' JSON themselves and the main thread copies it out. The bytes, the errors
    // after them and the exit status must be those of one thread, with and without
    // `--stats` (which counts the rendered records), in small parts and big ones.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("feed.xml");
    let doc = document(31, 6000, true);
    fs::write(&file, &doc).unwrap();
    let written = dir.path().join("out.ndjson");
    let w = written.display().to_string();
    for tail in [
        &["records", "bus"][..],
        &["records", "--depth", "2"],
        &["records", "bus", ":", "write", &w],
    ] {
        let want = run(&file, 1, 64, tail, false);
        want.code(0);
        let want_bytes = fs::read(&written).ok();
        for (threads, part) in [(2, 64), (2, 4096), (3, 20_000)] {
            let what = format!("{tail:?}, {threads}×{part}");
            let _ = fs::remove_file(&written);
            let got = run(&file, threads, part, tail, false);
            same(&want, &got, &what);
            if tail.contains(&"write") {
                assert_eq!(fs::read(&written).ok(), want_bytes, "{what}: written");
                assert!(want_bytes.as_ref().is_some_and(|b| b.len() > 100_000));
            } else {
                assert!(got.out.len() > 100_000, "{what}");
            }
            let stats = run(&file, threads, part, tail, true);
            assert_eq!(stats.out, got.out, "{what}: --stats");
            let one = run(&file, 1, 64, tail, true);
            assert_eq!(counts(&stats.err), counts(&one.err), "{what}: stats");
            assert!(
                parts(&stats.err).is_some_and(|(p, _)| p > 0),
                "{what}: {}",
                stats.err
            );
        }
    }
    // Coloured records are not rendered by the workers: still those of one thread.
    let colored = |threads: usize| {
        copipe([
            "--color=always",
            "xml",
            "--threads",
            &threads.to_string(),
            "--part-size",
            "4096",
            &file.display().to_string(),
            ":",
            "records",
            "bus",
        ])
        .run()
    };
    let want = colored(1);
    want.code(0);
    assert!(want.out.contains(&0x1b), "no colour");
    same(&want, &colored(2), "--color=always");
    // An error late in the file: every record before it, then the error, status 2.
    let mut bad = doc.clone();
    let at = bad.len() * 4 / 5;
    bad.splice(at..at, b"</x>".iter().copied());
    fs::write(&file, &bad).unwrap();
    let want = run(&file, 1, 64, &["records", "bus"], false);
    want.code(2);
    assert!(want.out.len() > 100_000);
    for (threads, part) in [(2, 64), (2, 4096)] {
        let got = run(&file, threads, part, &["records", "bus"], false);
        same(&want, &got, &format!("error, {threads}×{part}"));
    }
}
