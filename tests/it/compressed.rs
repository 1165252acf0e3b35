//! Issue 26: compressed logs. The files are made by the real tools (`gzip`, `zstd`, `xz`,
//! `bzip2`); a missing tool skips its tests with a note (unless COPIPE_REQUIRE_TOOLS is set).

use crate::common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;

/// Whether `tool` runs; a missing tool is a failure when COPIPE_REQUIRE_TOOLS is set.
fn have(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found || std::env::var_os("COPIPE_REQUIRE_TOOLS").is_none(),
        "{tool} is not installed, and COPIPE_REQUIRE_TOOLS is set"
    );
    if !found {
        eprintln!("note: {tool} is not installed, the test is skipped");
    }
    found
}

/// `data` compressed by `tool` with `args` (reading standard input).
fn compress(tool: &str, args: &[&str], data: &[u8]) -> Vec<u8> {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let data = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "{tool} failed");
    out.stdout
}

fn gzip(data: &[u8]) -> Vec<u8> {
    compress("gzip", &["-c"], data)
}

fn zstd(data: &[u8]) -> Vec<u8> {
    compress("zstd", &["-q", "-c"], data)
}

/// `n` numbered log lines, every 10th an ERROR.
fn log(prefix: &str, n: usize) -> String {
    (0..n)
        .map(|i| {
            let level = if i % 10 == 0 { "ERROR" } else { "INFO" };
            format!("{prefix} {i} {level} something happened\n")
        })
        .collect()
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn cat_reads_a_mixed_glob_of_plain_gzip_and_zstd_by_magic_bytes_not_names() {
    if !have("gzip") || !have("zstd") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c, d) = (log("a", 50), log("b", 60), log("c", 70), log("d", 80));
    write(dir.path(), "app.log", &a);
    write(dir.path(), "app.log.1", gzip(b.as_bytes()));
    write(dir.path(), "app.log.2.gz", zstd(c.as_bytes()));
    // A plain file whose name says gzip is read as it is.
    write(dir.path(), "app.log.3.gz", &d);
    let want = format!("{a}{b}{c}{d}");
    copipe([
        "cat",
        "app.log",
        "app.log.1",
        "app.log.2.gz",
        "app.log.3.gz",
    ])
    .dir(dir.path())
    .run()
    .code(0)
    .out(&want);
    let errors = want.lines().filter(|l| l.contains("ERROR")).count();
    copipe([
        "cat",
        "app.log",
        "app.log.1",
        "app.log.2.gz",
        "app.log.3.gz",
        ":",
        "grep",
        "ERROR",
        ":",
        "count",
    ])
    .dir(dir.path())
    .run()
    .code(0)
    .out(&format!("{errors}\n"));
}

#[test]
fn cat_tags_decompressed_lines_with_the_compressed_file_name() {
    if !have("gzip") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "x.gz", gzip(b"one\ntwo"));
    copipe(["cat", "--tag", "x.gz"])
        .dir(dir.path())
        .run()
        .code(0)
        .out("x.gz:one\nx.gz:two\n");
}

#[test]
fn cat_reads_every_member_of_a_multi_member_gzip() {
    if !have("gzip") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (log("first", 1000), log("second", 10), log("third", 3000));
    let mut all = gzip(a.as_bytes());
    all.extend(gzip(b.as_bytes()));
    // An empty member in between, as `gzip < /dev/null >> f` leaves.
    all.extend(gzip(b""));
    all.extend(gzip(c.as_bytes()));
    write(dir.path(), "multi.gz", &all);
    copipe(["cat", "multi.gz"])
        .dir(dir.path())
        .run()
        .code(0)
        .out(&format!("{a}{b}{c}"));
    // The same through a pipe, and as `gzip -c a b` writes it (one member per file).
    copipe(["cat"])
        .stdin(all)
        .run()
        .code(0)
        .out(&format!("{a}{b}{c}"));
    write(dir.path(), "a", &a);
    write(dir.path(), "c", &c);
    let out = Command::new("gzip")
        .args(["-c", "a", "c"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    write(dir.path(), "ac.gz", out.stdout);
    copipe(["cat", "ac.gz"])
        .dir(dir.path())
        .run()
        .code(0)
        .out(&format!("{a}{c}"));
}

#[test]
fn cat_reads_compressed_standard_input_and_plain_input_that_starts_like_a_magic() {
    if !have("gzip") || !have("zstd") {
        return;
    }
    let text = log("in", 500);
    copipe(["cat"])
        .stdin(gzip(text.as_bytes()))
        .run()
        .code(0)
        .out(&text);
    copipe(["cat", "-", ":", "grep", "ERROR", ":", "count"])
        .stdin(zstd(text.as_bytes()))
        .run()
        .code(0)
        .out("50\n");
    // Plain text whose first bytes are those of a magic, then differ.
    let starts: [&[u8]; 7] = [
        b"BZh91AY",
        b"BZh9 x\n",
        b"B",
        b"(\xb5/",
        b"P*M",
        b"\x1f",
        b"",
    ];
    for plain in starts {
        let r = copipe(["cat"]).stdin(plain).run();
        r.code(if plain.is_empty() { 1 } else { 0 });
        let mut want = plain.to_vec();
        if !want.is_empty() && !want.ends_with(b"\n") {
            want.push(b'\n');
        }
        assert_eq!(r.out, want, "{plain:?}");
    }
}

#[test]
fn a_short_line_on_a_pipe_is_not_held_back_to_decide_the_format() {
    // The first line reaches the output while the writer still holds the pipe open.
    let (r, mut w) = std::io::pipe().unwrap();
    let live = copipe(["cat"]).spawn_stdin(r);
    w.write_all(b"B\n").unwrap();
    live.wait_out_eq("B\n");
    w.write_all(b"next\n").unwrap();
    live.wait_out_eq("B\nnext\n");
    drop(w);
}

#[test]
fn no_decompress_reads_the_bytes_as_they_are() {
    if !have("gzip") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let z = gzip(b"hello\n");
    write(dir.path(), "h.gz", &z);
    let r = copipe(["cat", "--no-decompress", "h.gz"])
        .dir(dir.path())
        .run();
    r.code(0);
    let mut want = z.clone();
    if !want.ends_with(b"\n") {
        want.push(b'\n');
    }
    assert_eq!(r.out, want);
    let r = copipe(["cat", "--no-decompress"]).stdin(z.clone()).run();
    assert_eq!(r.out, want);
}

/// A gzip file of `n` lines, and the file cut at `cut` bytes.
fn truncated_gzip(dir: &Path, n: usize) -> (String, Vec<u8>, usize) {
    let text = log("t", n);
    let z = gzip(text.as_bytes());
    let cut = z.len() / 2;
    write(dir, "cut.gz", &z[..cut]);
    (text, z, cut)
}

#[test]
fn a_truncated_gzip_is_an_error_naming_the_file_and_offset_after_the_lines_before() {
    if !have("gzip") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (text, _, cut) = truncated_gzip(dir.path(), 100_000);
    write(dir.path(), "after.log", "after\n");
    let r = copipe(["cat", "cut.gz", "after.log"]).dir(dir.path()).run();
    r.code(2)
        .err_has("cut.gz")
        .err_has(&format!("truncated gzip data: the file ends at byte {cut}"));
    let out = r.stdout();
    // Everything decompressed before the cut was pushed, in order, and nothing after it:
    // the run ended there.
    let whole: Vec<&str> = out.lines().collect();
    assert!(whole.len() > 1000, "{} lines", whole.len());
    let want: Vec<&str> = text.lines().take(whole.len() - 1).collect();
    assert_eq!(whole[..whole.len() - 1], want[..]);
    assert!(!out.contains("after"), "the next file was read");
    // Standard input: the same error, named.
    let z = fs::read(dir.path().join("cut.gz")).unwrap();
    copipe(["cat"])
        .stdin(z)
        .run()
        .code(2)
        .err_has("standard input: truncated gzip data");
}

#[test]
fn skip_bad_goes_on_to_the_next_file_after_a_corrupt_archive() {
    if !have("gzip") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    truncated_gzip(dir.path(), 20_000);
    // Not gzip data after a valid header.
    let mut bad = gzip(b"x\n")[..10].to_vec();
    bad.extend_from_slice(&[0xff; 64]);
    write(dir.path(), "bad.gz", &bad);
    write(dir.path(), "after.log", "after\n");
    let r = copipe(["cat", "--skip-bad", "cut.gz", "bad.gz", "after.log"])
        .dir(dir.path())
        .run();
    r.code(0)
        .err_has("warning: error reading cut.gz: truncated gzip data")
        .err_has("bad.gz: corrupt gzip data at byte ")
        .err_has("--skip-bad");
    assert!(r.stdout().ends_with("after\n"), "{}", r.stdout());
    // Without it, the corrupt file ends the run.
    copipe(["cat", "bad.gz", "after.log"])
        .dir(dir.path())
        .run()
        .code(2)
        .out("")
        .err_has("error reading bad.gz: corrupt gzip data at byte ");
}

#[test]
fn a_corrupt_or_truncated_zstd_is_an_error_naming_the_file_and_offset() {
    if !have("zstd") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let text = log("z", 100_000);
    let z = zstd(text.as_bytes());
    let cut = z.len() * 2 / 3;
    write(dir.path(), "cut.zst", &z[..cut]);
    let r = copipe(["cat", "cut.zst"]).dir(dir.path()).run();
    r.code(2).err_has(&format!(
        "cut.zst: truncated zstd data: the file ends at byte {cut}"
    ));
    assert!(text.starts_with(&r.stdout()[..r.stdout().rfind('\n').unwrap_or(0)]));
    let mut bad = z.clone();
    for b in &mut bad[z.len() / 2..z.len() / 2 + 64] {
        *b ^= 0x5a;
    }
    write(dir.path(), "bad.zst", &bad);
    copipe(["cat", "bad.zst"])
        .dir(dir.path())
        .run()
        .code(2)
        .err_has("bad.zst: corrupt zstd data at byte ");
}

#[test]
fn cat_reads_xz_and_bzip2() {
    if !have("xz") || !have("bzip2") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (log("x", 2000), log("y", 3000));
    // Two streams each, as `cat a.xz b.xz` makes.
    let mut xz = compress("xz", &["-c"], a.as_bytes());
    xz.extend(compress("xz", &["-c"], b.as_bytes()));
    let mut bz = compress("bzip2", &["-c"], b.as_bytes());
    bz.extend(compress("bzip2", &["-c"], a.as_bytes()));
    write(dir.path(), "l.xz", xz);
    write(dir.path(), "l.bz2", bz);
    copipe(["cat", "l.xz", "l.bz2"])
        .dir(dir.path())
        .run()
        .code(0)
        .out(&format!("{a}{b}{b}{a}"));
    // A header that asks for a 1.5 GiB dictionary is refused, not allocated.
    write(
        dir.path(),
        "huge.xz",
        compress("xz", &["-c", "--lzma2=dict=1536MiB"], b"x\n"),
    );
    copipe(["cat", "huge.xz"])
        .dir(dir.path())
        .run()
        .code(2)
        .err_has("huge.xz: corrupt xz data at byte ")
        .err_has("memory limit");
}

/// A gzip file of about `mb` MB of log lines (`2026-12-07 line N INFO …`, 40 bytes each),
/// written into `gzip -1` as they are made, never held in memory.
fn big_gzip(dir: &Path, mb: usize) -> PathBuf {
    let path = dir.join("big.log.gz");
    let lines = mb * 1024 * 1024 / 40;
    let out = fs::File::create(&path).unwrap();
    let mut gz = Command::new("gzip")
        .arg("-1")
        .stdin(Stdio::piped())
        .stdout(out)
        .spawn()
        .unwrap();
    let mut w = std::io::BufWriter::with_capacity(1 << 20, gz.stdin.take().unwrap());
    for i in 0..lines {
        writeln!(w, "2026-12-07 line {i:>9} INFO all is well").unwrap();
    }
    drop(w);
    assert!(gz.wait().unwrap().success());
    path
}

/// The peak resident size of `copipe args` in KB, and its output.
fn peak_rss(args: &[&str]) -> (u64, String) {
    let out = Command::new(bin()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // SAFETY: getrusage writes into a zeroed rusage.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    (
        ru.ru_maxrss as u64,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn constant_memory(mb: usize) {
    if !have("gzip") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = big_gzip(dir.path(), mb);
    let p = path.to_str().unwrap();
    let lines = mb * 1024 * 1024 / 40;
    let (rss, out) = peak_rss(&["cat", p, ":", "grep", "7 INFO", ":", "count"]);
    let want = (0..lines).filter(|i| i % 10 == 7).count();
    assert_eq!(out, format!("{want}\n"));
    // The peak of every child of this test process (gzip, the other small tests' copipes).
    assert!(
        rss < 64 * 1024,
        "peak RSS {rss} KB for {mb} MB decompressed"
    );
}

#[test]
fn a_compressed_log_is_read_in_constant_memory() {
    constant_memory(64);
}

/// The 1 GB: `cargo test --release --test it compressed:: -- --ignored`.
#[test]
#[ignore = "1 GB: run with --ignored"]
fn a_1_gb_compressed_log_is_read_in_constant_memory() {
    constant_memory(1024);
}

/// A bus feed of `n` buses, big enough past a few thousand to be parsed in parts when plain.
fn feed(n: usize) -> String {
    let mut s = String::from("<?xml version=\"1.0\"?>\n<buses>\n");
    for i in 0..n {
        s.push_str(&format!(
            "  <bus><id>{i}</id><route>{}</route><note>a &amp; b</note></bus>\n",
            i % 30
        ));
    }
    s.push_str("</buses>\n");
    s
}

#[test]
fn xml_reads_a_compressed_feed_with_the_records_of_the_plain_one() {
    if !have("gzip") || !have("zstd") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let text = feed(40_000);
    write(dir.path(), "feed.xml", &text);
    write(dir.path(), "feed.xml.gz", gzip(text.as_bytes()));
    write(dir.path(), "feed.xml.zst", zstd(text.as_bytes()));
    let plain = copipe(["xml", "feed.xml", ":", "records", "bus"])
        .dir(dir.path())
        .run();
    plain.code(0);
    assert_eq!(plain.stdout().lines().count(), 40_000);
    for f in ["feed.xml.gz", "feed.xml.zst"] {
        let r = copipe(["xml", f, ":", "records", "bus"])
            .dir(dir.path())
            .run();
        r.code(0);
        assert!(r.out == plain.out, "{f}: the records differ");
        // The same through a pipe.
        let z = fs::read(dir.path().join(f)).unwrap();
        let r = copipe(["xml", "-", ":", "records", "bus", ":", "count"])
            .stdin(z)
            .run();
        r.code(0).out("40000\n");
        // The events themselves, without records (no parallel path either way).
        let events = |f: &str| {
            copipe(["xml", f, ":", "count"])
                .dir(dir.path())
                .run()
                .stdout()
        };
        assert_eq!(events(f), events("feed.xml"), "{f}");
    }
    copipe([
        "--stats",
        "xml",
        "feed.xml.gz",
        ":",
        "records",
        "bus",
        ":",
        "count",
    ])
    .dir(dir.path())
    .run()
    .code(0)
    .out("40000\n")
    .err_has("1 gzip file decompressed");
}

#[test]
fn xml_reports_a_truncated_compressed_feed_with_its_offset_after_the_records_before() {
    if !have("gzip") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let z = gzip(feed(40_000).as_bytes());
    let cut = z.len() / 2;
    write(dir.path(), "cut.xml.gz", &z[..cut]);
    let r = copipe(["xml", "cut.xml.gz", ":", "records", "bus", ":", "count"])
        .dir(dir.path())
        .run();
    r.code(2)
        .err_has("cut.xml.gz")
        .err_has(&format!("truncated gzip data: the file ends at byte {cut}"));
    let n: usize = r.stdout().trim().parse().unwrap();
    assert!(n > 1000 && n < 40_000, "{n} records before the cut");
    copipe(["xml", "-", ":", "records", "bus", ":", "count"])
        .stdin(z[..cut].to_vec())
        .run()
        .code(2)
        .err_has("truncated gzip data");
}

#[test]
fn stats_and_explain_show_the_decompression() {
    if !have("gzip") || !have("zstd") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let text = log("s", 1000);
    write(dir.path(), "a.gz", gzip(text.as_bytes()));
    write(dir.path(), "b.gz", gzip(text.as_bytes()));
    write(dir.path(), "c.zst", zstd(text.as_bytes()));
    write(dir.path(), "d.log", &text);
    let r = copipe([
        "--stats", "cat", "a.gz", "b.gz", "c.zst", "d.log", ":", "count",
    ])
    .dir(dir.path())
    .run();
    r.code(0).out("4000\n");
    let bytes = text.len() as f64;
    assert!(r.err.contains("2 gzip files decompressed ("), "{}", r.err);
    assert!(r.err.contains("1 zstd file decompressed ("), "{}", r.err);
    // The decompressed size of the two gzip files, as --stats writes sizes.
    assert!(
        r.err.contains(&format!("{:.1} kB)", 2.0 * bytes / 1000.0)),
        "{}",
        r.err
    );
    let r = copipe(["--explain", "cat", "a.gz", "d.log", "c.zst", ":", "count"])
        .dir(dir.path())
        .run();
    r.code(0);
    assert!(
        r.stdout().contains(
            "decompressed on a second thread, beside the pipeline: a.gz (gzip), c.zst (zstd)\n"
        ),
        "{}",
        r.stdout()
    );
    let r = copipe(["--explain", "cat", "--no-decompress", "a.gz"])
        .dir(dir.path())
        .run();
    assert!(!r.stdout().contains("decompressed"), "{}", r.stdout());
}

// ---- follow with globs that include compressed files ----

fn append(path: &Path, text: &str) {
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// The lines of a follow's output without its `==> NAME <==` headers and the blank lines
/// before them.
fn data_lines(out: &str) -> Vec<&str> {
    out.lines()
        .filter(|l| !l.is_empty() && !l.starts_with("==> "))
        .collect()
}

/// How many times each of `lines` appears in `out`, where it is not exactly once.
fn not_once(out: &str, lines: &[String]) -> Vec<(String, usize)> {
    let mut counts = std::collections::HashMap::new();
    for l in data_lines(out) {
        *counts.entry(l.to_string()).or_insert(0usize) += 1;
    }
    lines
        .iter()
        .filter_map(|l| {
            let n = counts.get(l).copied().unwrap_or(0);
            (n != 1).then(|| (l.clone(), n))
        })
        .collect()
}

#[test]
fn follow_reads_a_compressed_file_that_appears_in_its_glob_once_whole() {
    if !have("gzip") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    append(&dir.path().join("app.log"), "a1\n");
    let glob = dir.path().join("app.log*");
    let mut live = copipe(["follow", "-n", "+1", glob.to_str().unwrap()]).spawn();
    live.wait_out_ends("a1\n");
    // Made aside, then renamed in: the glob finds it whole.
    write(dir.path(), "tmp", gzip(b"z1\nz2\n"));
    fs::rename(dir.path().join("tmp"), dir.path().join("app.log.7.gz")).unwrap();
    live.wait_out_ends("z1\nz2\n");
    append(&dir.path().join("app.log"), "a2\n");
    live.wait_out_ends("a2\n");
    live.stop();
    assert_eq!(data_lines(&live.out()), ["a1", "z1", "z2", "a2"]);
}

#[test]
fn follow_does_not_read_again_a_file_rotated_then_compressed() {
    if !have("gzip") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let lines: Vec<String> = (0..2000).map(|i| format!("line {i}")).collect();
    append(&log, &(lines[..1000].join("\n") + "\n"));
    let glob = dir.path().join("app.log*");
    let mut live = copipe(["follow", "-n", "+1", glob.to_str().unwrap()]).spawn();
    live.wait_out_ends("line 999\n");
    // logrotate's way without copytruncate: rename, new file, then compress the old one.
    fs::rename(&log, dir.path().join("app.log.1")).unwrap();
    append(&log, &(lines[1000..1500].join("\n") + "\n"));
    live.wait_out_ends("line 1499\n");
    let st = Command::new("gzip")
        .arg(dir.path().join("app.log.1"))
        .status()
        .unwrap();
    assert!(st.success());
    append(&log, &(lines[1500..].join("\n") + "\n"));
    live.wait_out_ends("line 1999\n");
    // One more write after a full once-a-second check of the names.
    std::thread::sleep(std::time::Duration::from_millis(1200));
    append(&log, "end\n");
    live.wait_out_ends("end\n");
    live.stop();
    assert_eq!(not_once(&live.out(), &lines), vec![]);
}

/// Rotate `app.log` in `dir` while copipe is stopped, compressed, as `logrotate` does
/// (`rotate 9`, `compress`, `create`): `app.log.N.gz` moves up, `app.log` becomes
/// `app.log.1.gz`, a new empty `app.log`. With the real logrotate when `real`.
fn rotate_compressed(dir: &Path, real: bool) {
    if real {
        let conf = dir.join("logrotate.conf");
        fs::write(
            &conf,
            format!(
                "{}/app.log {{\n  rotate 9\n  compress\n  create\n  missingok\n}}\n",
                dir.display()
            ),
        )
        .unwrap();
        let out = Command::new("logrotate")
            .args(["-f", "-s"])
            .arg(dir.join("logrotate.status"))
            .arg(&conf)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "logrotate: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    for n in (1..9).rev() {
        let from = dir.join(format!("app.log.{n}.gz"));
        if from.exists() {
            fs::rename(&from, dir.join(format!("app.log.{}.gz", n + 1))).unwrap();
        }
    }
    fs::rename(dir.join("app.log"), dir.join("app.log.1")).unwrap();
    fs::write(dir.join("app.log"), "").unwrap();
    assert!(
        Command::new("gzip")
            .arg(dir.join("app.log.1"))
            .status()
            .unwrap()
            .success()
    );
}

/// Runs of `follow --state` over `app.log*`, each reading what is there and stopping (its
/// `--pid` is gone), with lines appended before and after each run and the log rotated and
/// compressed while copipe is stopped: every line comes exactly once.
fn state_across_compression(real: bool) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let glob = dir.path().join("app.log*");
    let state = dir.path().join("state.json");
    let mut gone = Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    let pid = gone.id().to_string();
    let mut written = Vec::new();
    let mut out = String::new();
    let mut n = 0;
    let mut add = |count: usize, written: &mut Vec<String>| {
        let mut text = String::new();
        for _ in 0..count {
            let l = format!("line {n:05} of the log");
            text.push_str(&l);
            text.push('\n');
            written.push(l);
            n += 1;
        }
        append(&log, &text);
    };
    // One session: from the checkpoint to the end (the writer named by --pid has ended).
    let session = || {
        let r = copipe([
            "follow",
            "-n",
            "+1",
            "--state",
            state.to_str().unwrap(),
            "--pid",
            &pid,
            glob.to_str().unwrap(),
        ])
        .run();
        r.code(0);
        r.stdout()
    };
    for round in 0..6 {
        add(300 + round * 17, &mut written);
        out.push_str(&session());
        // Written after the checkpoint, then rotated and compressed while stopped.
        add(50 + round, &mut written);
        rotate_compressed(dir.path(), real);
    }
    out.push_str(&session());
    assert_eq!(not_once(&out, &written), vec![], "lost (0) or repeated");
    assert_eq!(data_lines(&out).len(), written.len());
}

#[test]
fn follow_state_reads_a_file_compressed_while_stopped_from_its_checkpoint() {
    if !have("gzip") {
        return;
    }
    state_across_compression(false);
}

#[test]
fn follow_state_across_logrotate_compress_loses_and_repeats_nothing() {
    if !have("gzip") || !have("logrotate") {
        return;
    }
    state_across_compression(true);
}

#[test]
fn a_compressed_pipe_is_read_as_its_data_comes_by_cat_and_xml() {
    // A gzip stream flushed after each part (as a live compressor would), the pipe held
    // open: each part's lines and records come out before the next part is written.
    for args in [
        vec!["cat"],
        vec!["xml", "-", ":", "records", "bus", ":", "fmt", "{id}"],
    ] {
        let (r, w) = std::io::pipe().unwrap();
        let live = copipe(&args).spawn_stdin(r);
        let mut gz = flate2::write::GzEncoder::new(w, flate2::Compression::fast());
        let xml = args[0] == "xml";
        if xml {
            gz.write_all(b"<buses>\n<bus><id>1</id></bus>\n").unwrap();
        } else {
            gz.write_all(b"1\n").unwrap();
        }
        gz.flush().unwrap();
        live.wait_out_eq("1\n");
        if xml {
            gz.write_all(b"<bus><id>2</id></bus>\n").unwrap();
        } else {
            gz.write_all(b"2\n").unwrap();
        }
        gz.flush().unwrap();
        live.wait_out_eq("1\n2\n");
        if xml {
            gz.write_all(b"</buses>\n").unwrap();
        }
        gz.finish().unwrap();
    }
}

#[test]
fn follow_across_logrotate_compress_reads_each_line_once() {
    if !have("gzip") || !have("logrotate") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let glob = dir.path().join("app.log*");
    append(&log, "");
    let mut live = copipe(["follow", "-n", "+1", glob.to_str().unwrap()]).spawn();
    let mut written = Vec::new();
    for round in 0..4 {
        let mut text = String::new();
        for k in 0..500 {
            let l = format!("round {round} line {k}");
            text.push_str(&l);
            text.push('\n');
            written.push(l);
        }
        append(&log, &text);
        live.wait_out_ends(&format!("round {round} line 499\n"));
        // Rename, create, compress (and remove the uncompressed file), in one go.
        rotate_compressed(dir.path(), true);
    }
    append(&log, "end\n");
    live.wait_out_ends("end\n");
    // A full once-a-second check of the names, then one more line.
    std::thread::sleep(std::time::Duration::from_millis(1200));
    append(&log, "end 2\n");
    live.wait_out_ends("end 2\n");
    live.stop();
    assert_eq!(not_once(&live.out(), &written), vec![]);
    assert!(dir.path().join("app.log.4.gz").exists());
}
