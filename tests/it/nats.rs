//! `publish` and `subscribe` against a real `nats-server` (JetStream), started here on free
//! loopback ports with fresh storage, killed at the end. Skipped (with a note) where
//! nats-server is not installed, unless COPIPE_REQUIRE_TOOLS is set (.ci/run sets it).

use crate::common;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::nats::{Server, have_nats};
use common::tools::free_port;
use common::{bin, run_within};

fn lines(from: u64, to: u64) -> String {
    (from..=to).map(|i| format!("line {i}\n")).collect()
}

/// Run copipe to its end within a deadline; (status, stdout, stderr).
fn run(args: &[&str], stdin: &[u8], within: Duration) -> (i32, String, String) {
    let mut c = Command::new(bin());
    c.args(args);
    run_within(c, stdin, within)
}

fn read_all(url: &str, subject: &str, durable: &str) -> String {
    let (code, out, err) = run(
        &[
            "subscribe",
            url,
            subject,
            "--durable",
            durable,
            "--exit-at-end",
        ],
        b"",
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "{err}");
    out
}

#[test]
fn publish_then_subscribe_round_trips_100000_lines_in_order() {
    if !have_nats() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(free_port(), dir.path(), &[]);
    let want = lines(1, 100_000);
    let (code, _, err) = run(
        &[
            "cat",
            "-",
            ":",
            "publish",
            "--jetstream",
            "--stream",
            "RT",
            // (The input ends at once: 100,000 acknowledgements may take longer than the
            // default 10 s to drain on a loaded machine.)
            "--drain-timeout",
            "60s",
            &s.url(),
            "rt.a",
        ],
        want.as_bytes(),
        Duration::from_secs(90),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(read_all(&s.url(), "rt.a", "reader"), want);
}

#[test]
fn publish_loses_nothing_when_the_server_restarts_in_the_middle() {
    if !have_nats() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start(free_port(), dir.path(), &[]);
    let mut c = Command::new(bin())
        .args([
            "cat",
            "-",
            ":",
            "publish",
            "--jetstream",
            "--stream",
            "RS",
            &s.url(),
            "rs.a",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = c.stdin.take().unwrap();
    input.write_all(lines(1, 30_000).as_bytes()).unwrap();
    input.flush().unwrap();
    // Kill the server while the first lines are in flight, then bring it back.
    std::thread::sleep(Duration::from_millis(200));
    s.kill();
    input.write_all(lines(30_001, 40_000).as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    s.restart();
    input.write_all(lines(40_001, 60_000).as_bytes()).unwrap();
    drop(input);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = c.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "publish did not end");
        std::thread::sleep(Duration::from_millis(20));
    };
    let err = std::io::read_to_string(c.stderr.take().unwrap()).unwrap();
    assert!(status.success(), "{err}");
    let got = read_all(&s.url(), "rs.a", "reader");
    let mut seen = std::collections::HashSet::new();
    let mut dups = 0;
    for l in got.lines() {
        if !seen.insert(l.to_string()) {
            dups += 1;
        }
    }
    for i in 1..=60_000 {
        assert!(seen.contains(&format!("line {i}")), "line {i} lost\n{err}");
    }
    assert_eq!(seen.len(), 60_000);
    // At most one window of messages sent again.
    assert!(dups <= 256, "{dups} duplicates");
    eprintln!("duplicates after the restart: {dups}");
}

#[test]
fn a_durable_consumer_stopped_and_resumed_continues_without_loss() {
    if !have_nats() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(free_port(), dir.path(), &[]);
    let want = lines(1, 50_000);
    // The input ends at once and the 50,000 acknowledgements come after it: on a loaded
    // machine they can take longer than the default --drain-timeout (10s), after which
    // publish gives up with status 2. What is checked here is the consumer, so publish
    // may drain as long as the run may last.
    let (code, _, err) = run(
        &[
            "cat",
            "-",
            ":",
            "publish",
            "--jetstream",
            "--stream",
            "DR",
            "--drain-timeout",
            "60s",
            &s.url(),
            "dr.a",
        ],
        want.as_bytes(),
        Duration::from_secs(90),
    );
    assert_eq!(code, 0, "{err}");
    // The first reader writes to a file, throttled by nothing: stop it with SIGTERM once
    // part is there.
    let out = dir.path().join("first.txt");
    let mut c = Command::new(bin())
        .args([
            "subscribe",
            &s.url(),
            "dr.a",
            "--durable",
            "ops",
            "--ack-wait",
            "1s",
            ":",
            "write",
        ])
        .arg(&out)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::metadata(&out).map_or(0, |m| m.len()) == 0 {
        assert!(Instant::now() < deadline, "nothing read");
        std::thread::sleep(Duration::from_millis(5));
    }
    unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(30);
    while c.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "subscribe did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
    let first = std::fs::read_to_string(&out).unwrap();
    let second = read_all(&s.url(), "dr.a", "ops");
    let n1 = first.lines().count();
    assert!(n1 > 0);
    // The second run resumes (what the first had fetched ahead without handing it on
    // comes again, at the end, after --ack-wait), and together they hold every line, a
    // line handed on by the first run at most once more.
    let n2 = second.lines().count();
    assert!(
        n1 + n2 >= 50_000 && n2 < 50_000,
        "first run: {n1} lines, second: {n2}"
    );
    let seen: std::collections::HashSet<&str> = first.lines().chain(second.lines()).collect();
    for i in 1..=50_000 {
        assert!(
            seen.contains(format!("line {i}").as_str()),
            "line {i} lost (first run: {n1} lines)"
        );
    }
}

#[test]
fn publish_to_a_three_node_cluster_loses_nothing_when_a_node_dies() {
    if !have_nats() {
        return;
    }
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let cports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let routes = cports
        .iter()
        .map(|p| format!("nats://127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut nodes: Vec<Server> = (0..3)
        .map(|i| {
            Server::start(
                ports[i],
                dirs[i].path(),
                &[
                    "-n".into(),
                    format!("n{i}"),
                    "--cluster_name".into(),
                    "c".into(),
                    "--cluster".into(),
                    format!("nats://127.0.0.1:{}", cports[i]),
                    "--routes".into(),
                    routes.clone(),
                ],
            )
        })
        .collect();
    let url = nodes[0].url();
    // The cluster needs a meta leader before a stream can be made: retry the first publish.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, _, err) = run(
            &[
                "cat",
                "-",
                ":",
                "publish",
                "--jetstream",
                "--stream",
                "CL",
                "--replicas",
                "3",
                "--drain-timeout",
                "5s",
                &url,
                "cl.a",
            ],
            b"line 0\n",
            Duration::from_secs(30),
        );
        if code == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "no cluster: {err}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let mut c = Command::new(bin())
        .args([
            "cat",
            "-",
            ":",
            "publish",
            "--jetstream",
            "--drain-timeout",
            "30s",
            &url,
            "cl.a",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = c.stdin.take().unwrap();
    input.write_all(lines(1, 20_000).as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    nodes[2].kill();
    input.write_all(lines(20_001, 40_000).as_bytes()).unwrap();
    drop(input);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = c.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "publish did not end");
        std::thread::sleep(Duration::from_millis(20));
    };
    let err = std::io::read_to_string(c.stderr.take().unwrap()).unwrap();
    assert!(status.success(), "{err}");
    let got = read_all(&url, "cl.a", "reader");
    let seen: std::collections::HashSet<&str> = got.lines().collect();
    for i in 0..=40_000 {
        assert!(
            seen.contains(format!("line {i}").as_str()),
            "line {i} lost\n{err}"
        );
    }
}

#[test]
fn subscribe_to_a_missing_stream_or_server_fails_before_reading() {
    if !have_nats() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(free_port(), dir.path(), &[]);
    let (code, _, err) = run(
        &["subscribe", &s.url(), "none.here", "--durable", "d"],
        b"",
        Duration::from_secs(20),
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("none.here") && err.contains("no stream"),
        "{err}"
    );
    let port = free_port();
    let (code, _, err) = run(
        &[
            "subscribe",
            &format!("nats://127.0.0.1:{port}"),
            "x",
            "--durable",
            "d",
        ],
        b"",
        Duration::from_secs(20),
    );
    assert_eq!(code, 2);
    assert!(err.contains(&port.to_string()), "{err}");
}

#[test]
fn publish_to_an_unreachable_server_gives_up_after_the_drain_timeout_naming_the_count() {
    // No server needed: nothing listens on this port.
    let port = free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let (code, _, err) = run(
        &[
            "cat",
            "-",
            ":",
            "publish",
            "--jetstream",
            "--drain-timeout",
            "1s",
            &url,
            "nowhere",
        ],
        lines(1, 1000).as_bytes(),
        Duration::from_secs(30),
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("1000 items not confirmed") && err.contains(&url) && err.contains("nowhere"),
        "{err}"
    );
}

/// The offset a `follow --state` checkpoint holds for its one file (`None`: no state yet).
fn state_offset(path: &Path) -> Option<u64> {
    let text = std::fs::read(path).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&text).ok()?;
    v["files"][0]["offset"].as_u64()
}

/// Poll until `cond` holds, or fail naming `what` after `within`.
fn wait_until(within: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn follow_publish(state: &Path, log: &Path, url: &str, stream: &str, subject: &str) -> Child {
    Command::new(bin())
        .args(["follow", "-n", "+1", "--state"])
        .arg(state)
        .arg(log)
        .args([
            ":",
            "grep",
            "-v",
            "noise",
            ":",
            "publish",
            "--jetstream",
            "--stream",
            stream,
            url,
            subject,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// End-to-end acknowledgements: the checkpoint of `follow --state : publish --jetstream`
/// stays where it was while the server has acknowledged nothing, and reaches the end of
/// the file once it has — past a last line filtered out on the way, too.
#[test]
fn follow_state_checkpoints_only_lines_the_server_acknowledged() {
    if !have_nats() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (log, state) = (dir.path().join("app.log"), dir.path().join("s.json"));
    let text = "a 1\nnoise 2\na 3\nnoise 4\n";
    std::fs::write(&log, text).unwrap();
    let port = free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let mut c = follow_publish(&state, &log, &url, "E2A", "e2a.x");
    // No server yet: whatever follow read and pushed, nothing is acknowledged.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        state_offset(&state).unwrap_or(0) == 0,
        "checkpoint past unacknowledged lines: {:?}",
        std::fs::read_to_string(&state)
    );
    let s = Server::start(port, &dir.path().join("sd"), &[]);
    wait_until(Duration::from_secs(60), "checkpoint at the end", || {
        state_offset(&state) == Some(text.len() as u64)
    });
    let _ = c.kill();
    let _ = c.wait();
    assert_eq!(read_all(&s.url(), "e2a.x", "r"), "a 1\na 3\n");
}

/// `follow --state : grep -v : publish --jetstream`, copipe killed with SIGKILL again and
/// again and the server killed and restarted once, while a writer appends throughout:
/// every line kept by the filter is in the stream (0 lost), and the lines stored twice are
/// bounded by what was published after the last checkpoint before each kill.
#[test]
fn follow_state_publish_killed_9_and_server_restarted_loses_nothing() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    if !have_nats() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (log, state) = (dir.path().join("app.log"), dir.path().join("s.json"));
    std::fs::write(&log, "").unwrap();
    let mut s = Server::start(free_port(), &dir.path().join("sd"), &[]);
    let url = s.url();
    // The writer: 20 lines every 10 ms (about 2,000 a second), every fifth one filtered.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (log, stop) = (log.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let mut chunk = String::new();
                for _ in 0..20 {
                    n += 1;
                    if n.is_multiple_of(5) {
                        chunk.push_str(&format!("noise {n}\n"));
                    } else {
                        chunk.push_str(&format!("line {n}\n"));
                    }
                }
                f.write_all(chunk.as_bytes()).unwrap();
                std::thread::sleep(Duration::from_millis(10));
            }
            n
        })
    };
    const KILLS: usize = 5;
    for k in 0..KILLS {
        let mut c = follow_publish(&state, &log, &url, "E2E", "e2e.x");
        // Let it publish and checkpoint a little (a different moment each round).
        std::thread::sleep(Duration::from_millis(1200 + 300 * k as u64));
        if k == 2 {
            // The server dies and comes back while copipe runs.
            s.kill();
            std::thread::sleep(Duration::from_millis(700));
            s.restart();
            std::thread::sleep(Duration::from_millis(1500));
        }
        c.kill().unwrap(); // SIGKILL
        c.wait().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    let size = std::fs::metadata(&log).unwrap().len();
    // A last run catches up; its checkpoint reaching the end says every line is confirmed.
    let mut c = follow_publish(&state, &log, &url, "E2E", "e2e.x");
    wait_until(
        Duration::from_secs(120),
        "the last run's checkpoint at the end",
        || state_offset(&state) == Some(size),
    );
    c.kill().unwrap();
    c.wait().unwrap();

    let got = read_all(&url, "e2e.x", "check");
    let mut seen = vec![0u32; written as usize + 1];
    for l in got.lines() {
        let n: usize = l
            .strip_prefix("line ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected message {l:?}"));
        seen[n] += 1;
    }
    let lost: Vec<usize> = (1..=written as usize)
        .filter(|n| !n.is_multiple_of(5) && seen[*n] == 0)
        .collect();
    assert!(
        lost.is_empty(),
        "{} lines lost, first {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    let twice: u32 = seen.iter().map(|k| k.saturating_sub(1)).sum();
    eprintln!("{written} lines written, {twice} stored twice over {KILLS} kills");
    // At most about three seconds of writing per kill (a checkpoint a second, confirmed
    // a second later) come again.
    assert!(
        twice as u64 <= KILLS as u64 * 3 * 2_000,
        "{twice} lines stored twice over {KILLS} kills"
    );
}

/// `--subject-from FIELD`: each record to the subject its field names (sliced from one
/// buffer per batch), the fixed SUBJECT for records without it; received by a core-NATS
/// subscriber on a wildcard with `--tag`.
#[test]
fn publish_subject_from_routes_each_record_by_its_field() {
    use std::io::BufRead;
    if !have_nats() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(free_port(), dir.path(), &[]);
    let url = s.url();
    let mut sub = Command::new(bin())
        .args(["subscribe", &url, "sf.>", "--tag"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let out = sub.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(out).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    // Core NATS keeps nothing: publish a marker until the subscriber is seen to get it.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(
            Instant::now() < deadline,
            "the subscriber never got the marker"
        );
        let (code, _, err) = run(
            &["cat", "-", ":", "publish", &url, "sf.ready"],
            b"ready\n",
            Duration::from_secs(30),
        );
        assert_eq!(code, 0, "{err}");
        if rx
            .recv_timeout(Duration::from_millis(300))
            .is_ok_and(|l| l == "sf.ready:ready")
        {
            break;
        }
    }
    while rx.recv_timeout(Duration::from_millis(100)).is_ok() {}
    let input = "{\"svc\":\"sf.a\",\"n\":1}\n{\"n\":2}\n{\"svc\":\"sf.b\",\"n\":3}\n{\"svc\":\"sf.a\",\"n\":4}\n";
    let (code, _, err) = run(
        &[
            "cat",
            "-",
            ":",
            "json",
            ":",
            "publish",
            "--subject-from",
            "svc",
            "--header",
            "X-Svc=svc",
            &url,
            "sf.fallback",
        ],
        input.as_bytes(),
        Duration::from_secs(30),
    );
    assert_eq!(code, 0, "{err}");
    let got: Vec<String> = (0..4)
        .map(|_| rx.recv_timeout(Duration::from_secs(30)).expect("a message"))
        .collect();
    let _ = sub.kill();
    let _ = sub.wait();
    assert_eq!(
        got,
        [
            "sf.a:{\"svc\":\"sf.a\",\"n\":1}",
            "sf.fallback:{\"n\":2}",
            "sf.b:{\"svc\":\"sf.b\",\"n\":3}",
            "sf.a:{\"svc\":\"sf.a\",\"n\":4}",
        ]
    );
}

/// `--stats`: publish's row says what was confirmed, dropped and sent twice.
#[test]
fn publish_stats_row_counts_confirmed_dropped_and_duplicates() {
    if !have_nats() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(free_port(), dir.path(), &[]);
    let (code, _, err) = run(
        &[
            "--stats",
            "cat",
            "-",
            ":",
            "publish",
            "--jetstream",
            "--stream",
            "ST",
            &s.url(),
            "st.x",
        ],
        lines(1, 1000).as_bytes(),
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("1000 confirmed, 0 not confirmed, 0 dropped (--when-full drop), 0 duplicates"),
        "{err}"
    );
}

/// Behind the scheduler's thread bridge (`tee { count --every 1h }` makes the pipeline
/// run on it), `subscribe --durable` acknowledges a batch only once the sinks flushed it:
/// a `print` blocked on a full pipe that nobody reads holds the acknowledgements back, so
/// a SIGKILL then loses nothing — what was not written comes again to the next reader.
#[test]
fn subscribe_behind_the_bridge_acknowledges_after_the_sinks_flush() {
    use std::io::Read;
    if !have_nats() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(free_port(), dir.path(), &[]);
    const N: u64 = 60_000;
    let pad = "x".repeat(80);
    let want: String = (1..=N).map(|i| format!("line {i} {pad}\n")).collect();
    let (code, _, err) = run(
        &[
            "cat",
            "-",
            ":",
            "publish",
            "--jetstream",
            "--stream",
            "BR",
            &s.url(),
            "br.a",
        ],
        want.as_bytes(),
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "{err}");
    let mut c = Command::new(bin())
        .args([
            "subscribe",
            &s.url(),
            "br.a",
            "--durable",
            "k",
            "--ack-wait",
            "2s",
            ":",
            "tee",
            "{",
            "count",
            "--every",
            "1h",
            "}",
            ":",
            "print",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Nobody reads: the pipe fills, print blocks, the bridge fills behind it. Then a
    // kill -9 while batches were handed over but not written.
    std::thread::sleep(Duration::from_secs(3));
    c.kill().unwrap();
    c.wait().unwrap();
    let mut first = String::new();
    c.stdout.take().unwrap().read_to_string(&mut first).unwrap();
    // The written part ends with a whole line or a piece of one (cut by the kill).
    let first: Vec<&str> = first.lines().filter(|l| l.ends_with(&pad)).collect();
    assert!(
        !first.is_empty() && (first.len() as u64) < N / 2,
        "{} lines written before the kill",
        first.len()
    );
    // After --ack-wait the unacknowledged messages are delivered again.
    std::thread::sleep(Duration::from_secs(3));
    let second = read_all(&s.url(), "br.a", "k");
    let seen: std::collections::HashSet<&str> =
        first.iter().copied().chain(second.lines()).collect();
    let lost: Vec<u64> = (1..=N)
        .filter(|i| !seen.contains(format!("line {i} {pad}").as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} lines lost (first run wrote {}), first {:?}",
        lost.len(),
        first.len(),
        &lost[..lost.len().min(5)]
    );
}

/// `--tag --meta --fields`: in JSON-object payloads, the subject, stream sequence and time
/// become the first fields, read by `json` as the record's; other payloads keep prefixes.
#[test]
fn subscribe_fields_put_subject_seq_and_time_into_records() {
    if !have_nats() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(free_port(), dir.path(), &[]);
    let (code, _, err) = run(
        &[
            "cat",
            "-",
            ":",
            "publish",
            "--jetstream",
            "--stream",
            "FL",
            &s.url(),
            "fl.a",
        ],
        b"{\"n\":1}\nplain\n{}\n",
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(
        &[
            "subscribe",
            &s.url(),
            "fl.a",
            "--durable",
            "f",
            "--exit-at-end",
            "--tag",
            "--meta",
            "--fields",
        ],
        b"",
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "{err}");
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l.len(), 3, "{out}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let v: serde_json::Value = serde_json::from_str(l[0]).expect(l[0]);
    assert_eq!(v["subject"], "fl.a");
    assert_eq!(v["seq"], 1);
    assert_eq!(v["n"], 1);
    assert!(
        (now - v["time"].as_f64().unwrap()).abs() < 600.0,
        "{}",
        l[0]
    );
    assert!(
        l[1].starts_with("fl.a:2 ") && l[1].ends_with(" plain"),
        "{}",
        l[1]
    );
    let v: serde_json::Value = serde_json::from_str(l[2]).expect(l[2]);
    assert_eq!(
        (v["subject"].as_str(), v["seq"].as_u64()),
        (Some("fl.a"), Some(3))
    );
    // And a json stage reads them as fields.
    let (code, out, err) = run(
        &[
            "subscribe",
            &s.url(),
            "fl.a",
            "--durable",
            "g",
            "--exit-at-end",
            "--tag",
            "--fields",
            ":",
            "grep",
            "^[{]",
            ":",
            "json",
            ":",
            "where",
            "subject=fl.a",
        ],
        b"",
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 2, "{out}");
}

/// Plain `subscribe` (core NATS) is at most once: what is published while copipe is not
/// subscribed is not seen, not later either. Messages published before it starts never
/// come; messages published while it runs do.
#[test]
fn plain_subscribe_does_not_see_what_was_published_before_it_subscribed() {
    if !have_nats() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(free_port(), dir.path(), &[]);
    let (code, _, err) = run(
        &["cat", "-", ":", "publish", &s.url(), "core.a"],
        lines(1, 100).as_bytes(),
        Duration::from_secs(30),
    );
    assert_eq!(code, 0, "{err}");
    let mut sub = Command::new(bin())
        .args(["subscribe", &s.url(), "core.a", ":", "head", "5"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Publish "after N" every 20 ms until the subscriber has taken five and ended: it
    // subscribes at some point in this stream.
    let mut publisher = Command::new(bin())
        .args(["cat", "-", ":", "publish", &s.url(), "core.a"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut feed = publisher.stdin.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut i = 0;
    let status = loop {
        if let Some(st) = sub.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = sub.kill();
            let _ = publisher.kill();
            panic!("subscribe did not take 5 messages within 30 s");
        }
        i += 1;
        let _ = feed.write_all(format!("after {i}\n").as_bytes());
        let _ = feed.flush();
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(feed);
    let _ = publisher.wait();
    let out = std::io::read_to_string(sub.stdout.take().unwrap()).unwrap();
    let err = std::io::read_to_string(sub.stderr.take().unwrap()).unwrap();
    assert!(status.success(), "{err}");
    let got: Vec<&str> = out.lines().collect();
    assert_eq!(got.len(), 5, "{out}\n{err}");
    // Consecutive messages of the live stream, none of the 100 published before.
    let first: u64 = got[0].strip_prefix("after ").unwrap().parse().unwrap();
    let want: Vec<String> = (first..first + 5).map(|n| format!("after {n}")).collect();
    assert_eq!(got, want, "{err}");
}

/// nats-server killed (SIGKILL) and restarted while `subscribe --durable` reads: copipe
/// rides it out (the client reconnects, the consumer and its acknowledgements are in the
/// server's store) and every message comes — those published before, during the first
/// run of the server and after its restart; some possibly twice (redelivery), none lost.
#[test]
fn durable_subscribe_loses_nothing_when_the_server_restarts_under_it() {
    if !have_nats() {
        return;
    }
    const BEFORE: u64 = 20_000;
    const TOTAL: u64 = 21_000;
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start(free_port(), dir.path(), &[]);
    let publish = |from: u64, to: u64, url: &str| {
        let (code, _, err) = run(
            &[
                "cat",
                "-",
                ":",
                "publish",
                "--jetstream",
                "--stream",
                "RST",
                url,
                "rst.a",
            ],
            lines(from, to).as_bytes(),
            Duration::from_secs(60),
        );
        assert_eq!(code, 0, "{err}");
    };
    publish(1, BEFORE, &s.url());
    let out = dir.path().join("out.txt");
    let errf = dir.path().join("err.txt");
    let mut c = Command::new(bin())
        .args([
            "subscribe",
            &s.url(),
            "rst.a",
            "--durable",
            "ops",
            "--ack-wait",
            "2s",
            ":",
            "write",
        ])
        .arg(&out)
        .stderr(std::fs::File::create(&errf).unwrap())
        .spawn()
        .unwrap();
    let count = |p: &Path| std::fs::read_to_string(p).map_or(0, |t| t.lines().count() as u64);
    let wait = |what: &str, cond: &dyn Fn() -> bool, c: &mut Child| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !cond() {
            if Instant::now() > deadline {
                let _ = c.kill();
                panic!(
                    "{what} within 60 s; stderr:\n{}",
                    std::fs::read_to_string(&errf).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    // Kill the server while the stream is being read (some lines there, not all).
    wait("no line read", &|| count(&out) > 0, &mut c);
    s.kill();
    let mid = count(&out);
    std::thread::sleep(Duration::from_millis(500));
    s.restart();
    publish(BEFORE + 1, TOTAL, &s.url());
    wait(
        "not every line came",
        &|| {
            let t = std::fs::read_to_string(&out).unwrap_or_default();
            let seen: std::collections::HashSet<&str> = t.lines().collect();
            (1..=TOTAL).all(|i| seen.contains(format!("line {i}").as_str()))
        },
        &mut c,
    );
    assert!(
        c.try_wait().unwrap().is_none(),
        "subscribe ended by itself: {}",
        std::fs::read_to_string(&errf).unwrap_or_default()
    );
    unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(30);
    while c.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "subscribe did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
    let n = count(&out);
    eprintln!(
        "{mid} of {BEFORE} lines read when the server was killed; {n} lines in all for {TOTAL} ({} again)",
        n - TOTAL
    );
    assert!(
        mid < BEFORE,
        "the server was killed after the stream was read"
    );
}

/// `subscribe --durable` ended by Ctrl-C, then killed with SIGKILL, then run to the end:
/// together the three runs hold every message (what a run wrote but could not acknowledge
/// comes again; what it fetched ahead comes again after --ack-wait), and a run ended by
/// Ctrl-C says so with 130.
#[test]
fn durable_subscribe_interrupted_then_killed_9_loses_nothing() {
    if !have_nats() {
        return;
    }
    const N: u64 = 30_000;
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(free_port(), dir.path(), &[]);
    let (code, _, err) = run(
        &[
            "cat",
            "-",
            ":",
            "publish",
            "--jetstream",
            "--stream",
            "KD",
            &s.url(),
            "kd.a",
        ],
        lines(1, N).as_bytes(),
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "{err}");
    let mut texts = Vec::new();
    for (round, sig) in [(1, libc::SIGINT), (2, libc::SIGKILL)] {
        let out = dir.path().join(format!("run{round}.txt"));
        let mut c = Command::new(bin())
            .args([
                "subscribe",
                &s.url(),
                "kd.a",
                "--durable",
                "ops",
                "--ack-wait",
                "1s",
                ":",
                "write",
            ])
            .arg(&out)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::fs::metadata(&out).map_or(0, |m| m.len()) == 0 {
            if Instant::now() > deadline {
                let _ = c.kill();
                panic!("run {round}: nothing read within 30 s");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        unsafe { libc::kill(c.id() as i32, sig) };
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(st) = c.try_wait().unwrap() {
                break st;
            }
            assert!(Instant::now() < deadline, "run {round} did not stop");
            std::thread::sleep(Duration::from_millis(20));
        };
        if sig == libc::SIGINT {
            assert_eq!(status.code(), Some(130), "run {round}");
        }
        texts.push(std::fs::read_to_string(&out).unwrap());
    }
    texts.push(read_all(&s.url(), "kd.a", "ops"));
    let counts: Vec<usize> = texts.iter().map(|t| t.lines().count()).collect();
    let seen: std::collections::HashSet<&str> = texts.iter().flat_map(|t| t.lines()).collect();
    for i in 1..=N {
        assert!(
            seen.contains(format!("line {i}").as_str()),
            "line {i} lost (lines per run: {counts:?})"
        );
    }
    assert!(
        counts[0] < N as usize && counts[1] < N as usize,
        "a run read everything before its signal: {counts:?}"
    );
    eprintln!("lines per run (Ctrl-C, kill -9, to the end): {counts:?} for {N}");
}
