//! The delivery promise of docs/network.md, each row run with its fault: servers and peers
//! on 127.0.0.1 with port 0 (a real `nats-server` where NATS is in the row), every wait
//! with a deadline. Skipped (with a note) where a tool is missing, unless
//! COPIPE_REQUIRE_TOOLS is set.

use crate::common;

use std::collections::HashSet;
use std::io::Write;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::nats::Server as Nats;
use common::tools::{free_port, have};
use common::{bin, run_within, wait_within};

/// Run copipe (or `sh -c` when `args[0]` is "sh") to its end within a deadline, stdin
/// from `input`; (status, stdout, stderr).
fn run(args: &[&str], input: &[u8], within: Duration) -> (i32, String, String) {
    let c = if args[0] == "sh" {
        let mut c = Command::new("sh");
        c.args(&args[1..]).env("COPIPE", bin());
        c
    } else {
        let mut c = Command::new(bin());
        c.args(args);
        c
    };
    run_within(c, input, within)
}

fn publish(url: &str, stream: &str, subject: &str, n: u64) {
    let input: String = (1..=n).map(|i| format!("{i}\n")).collect();
    let (code, _, err) = run(
        &[
            "cat",
            "-",
            ":",
            "publish",
            "--jetstream",
            "--stream",
            stream,
            url,
            subject,
        ],
        input.as_bytes(),
        Duration::from_secs(30),
    );
    assert_eq!(code, 0, "{err}");
}

fn numbers(s: &str) -> Vec<u64> {
    s.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

/// `subscribe --durable … : head N`, behind the scheduler's bridge too, and `| head`:
/// what a run did not pass on is not acknowledged, so the next run has it. Lines passed
/// by `head` inside copipe come exactly once; `| head` may see some again (what it read
/// and dropped), never fewer.
#[test]
fn subscribe_durable_head_acknowledges_only_what_was_written() {
    if !have("nats-server") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = Nats::on_free_port(dir.path());
    let url = s.url();
    publish(&url, "HD", "hd.a", 2000);
    let sub = [
        "subscribe",
        &url,
        "hd.a",
        "--durable",
        "d",
        "--ack-wait",
        "1s",
    ];
    let within = Duration::from_secs(30);
    let mut exact: Vec<u64> = Vec::new();
    for _ in 0..3 {
        let (code, out, err) = run(&[&sub[..], &[":", "head", "7"]].concat(), b"", within);
        assert_eq!((code, numbers(&out).len()), (0, 7), "{err}");
        exact.extend(numbers(&out));
    }
    // Behind the bridge (`count --every` puts the pipeline on the scheduler).
    for _ in 0..2 {
        let (code, out, err) = run(
            &[
                &sub[..],
                &[
                    ":", "head", "3", ":", "tee", "{", "count", "--every", "1h", "}", ":", "print",
                ],
            ]
            .concat(),
            b"",
            within,
        );
        assert_eq!(code, 0, "{err}");
        let got: Vec<u64> = out
            .lines()
            .filter(|l| !l.contains(' '))
            .filter_map(|l| l.parse().ok())
            .collect();
        assert_eq!(got.len(), 3, "{out}");
        exact.extend(got);
    }
    let mut piped = Vec::new();
    for _ in 0..2 {
        let cmd = format!("\"$COPIPE\" {} | head -5", sub.join(" "));
        let (_, out, err) = run(&["sh", "-c", &cmd], b"", within);
        assert_eq!(numbers(&out).len(), 5, "{err}");
        piped.extend(numbers(&out));
    }
    // What earlier runs had fetched ahead comes back after --ack-wait.
    std::thread::sleep(Duration::from_millis(1500));
    let (code, rest, err) = run(&[&sub[..], &["--exit-at-end"]].concat(), b"", within);
    assert_eq!(code, 0, "{err}");
    let rest = numbers(&rest);
    let seen: HashSet<u64> = exact.iter().chain(&piped).chain(&rest).copied().collect();
    let lost: Vec<u64> = (1..=2000).filter(|i| !seen.contains(i)).collect();
    assert!(
        lost.is_empty(),
        "lost {} messages: {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    let rest: HashSet<u64> = rest.into_iter().collect();
    let again: Vec<&u64> = exact.iter().filter(|i| rest.contains(i)).collect();
    assert!(
        again.is_empty(),
        "passed by head and delivered again: {again:?}"
    );
}

/// A port nothing listens on (refused at once).
fn dead_port() -> u16 {
    free_port()
}

/// The first SIGINT or SIGTERM ends `send` and `publish` whose buffer is full (the peer or
/// server down) within a second or two, naming how many items were not delivered: 130
/// after SIGINT, 2 after SIGTERM.
#[test]
fn the_first_signal_ends_send_and_publish_with_a_full_buffer_counting_the_loss() {
    let port = dead_port();
    let tcp = format!("tcp://127.0.0.1:{port}");
    let nats = format!("nats://127.0.0.1:{port}");
    let cases: [(&[&str], &str); 3] = [
        (
            &["range", "1", "100000000", ":", "send", &tcp],
            "items not delivered",
        ),
        (
            &["range", "1", "100000000", ":", "publish", &nats, "x.y"],
            "items not confirmed",
        ),
        (
            &[
                "range",
                "1",
                "100000000",
                ":",
                "publish",
                "--jetstream",
                &nats,
                "x.y",
            ],
            "items not confirmed",
        ),
    ];
    for (args, said) in cases {
        for (sig, want) in [(libc::SIGINT, 130), (libc::SIGTERM, 2)] {
            // Let it fill its buffer (100,000 items) and block.
            let (status, took, err) = signalled(
                args,
                Duration::from_millis(1500),
                sig,
                Duration::from_secs(5),
            );
            assert_eq!(status.code(), Some(want), "{args:?} signal {sig}: {err}");
            assert!(took < Duration::from_secs(3), "{args:?}: took {took:?}");
            assert!(err.contains(said), "{args:?}: {err}");
        }
    }
}

/// Start copipe with `args` (standard error kept), let it run `after`, make sure it still
/// runs, and send it `sig`: its status, how long it took to end after the signal (at most
/// `within`), and its standard error.
fn signalled(
    args: &[&str],
    after: Duration,
    sig: i32,
    within: Duration,
) -> (std::process::ExitStatus, Duration, String) {
    let mut c = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    assert!(
        c.try_wait().unwrap().is_none(),
        "{args:?} ended before the signal"
    );
    unsafe { libc::kill(c.id() as i32, sig) };
    let at = Instant::now();
    let what = format!("{args:?} after signal {sig}");
    let status = wait_within(&mut c, within, &what);
    let took = at.elapsed();
    let err = std::io::read_to_string(c.stderr.take().unwrap()).unwrap();
    (status, took, err)
}

/// `send tcp://` confirms delivery at the end only when the peer read to the end and
/// closed: a peer that reads a little and closes (a reset, lines in flight) makes it say so
/// and exit 2; a peer that reads everything gets status 0.
#[test]
fn send_tcp_reports_lines_a_peer_left_unread_and_confirms_a_peer_that_read_all() {
    use std::io::Read;
    for reads_all in [false, true] {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("tcp://{}", l.local_addr().unwrap());
        let peer = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            let mut buf = vec![0u8; 1 << 16];
            let mut got = 0usize;
            loop {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got += n,
                }
                if !reads_all && got > 1000 {
                    break; // dropped with data unread: a reset
                }
            }
            got
        });
        // (1..89999, fewer lines than `--buffer`: with the peer gone, the rest waits in it.)
        let (code, _, err) = run(
            &[
                "range",
                "1",
                "90000",
                ":",
                "send",
                "--drain-timeout",
                "2s",
                &addr,
            ],
            b"",
            Duration::from_secs(30),
        );
        let got = peer.join().unwrap();
        if reads_all {
            assert_eq!((code, got), (0, 528_888), "{err}");
        } else {
            assert_eq!(code, 2, "{err}");
            assert!(err.contains("may not have been read"), "{err}");
        }
    }
}

/// `send udp://` with a line longer than a datagram skips it with a counted warning and
/// goes on (it used to retry it for ever, sending nothing behind it).
#[test]
fn send_udp_skips_a_line_longer_than_a_datagram_and_goes_on() {
    let r = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    r.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let addr = format!("udp://{}", r.local_addr().unwrap());
    let mut input = b"a\n".to_vec();
    input.extend(std::iter::repeat_n(b'x', 70_000));
    input.extend_from_slice(b"\nb\n");
    let (code, _, err) = run(
        &["cat", "-", ":", "send", &addr],
        &input,
        Duration::from_secs(20),
    );
    let mut buf = [0u8; 1 << 16];
    let mut got = Vec::new();
    for _ in 0..2 {
        let n = r.recv(&mut buf).expect("a datagram");
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert_eq!(got, ["a\n", "b\n"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("1 lines longer than a datagram were skipped"),
        "{err}"
    );
}

/// A unix socket left behind by a crash (nobody listens) is removed and `listen` starts;
/// a regular file at the path is never removed.
#[test]
fn listen_unix_replaces_a_stale_socket_and_never_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("stale.sock");
    // A socket bound and then dropped without unlink: what a crash leaves.
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    assert!(sock.exists());
    let mut c = Command::new(bin())
        .arg("listen")
        .arg(format!("unix:{}", sock.display()))
        .args([":", "head", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut s = loop {
        if let Ok(s) = std::os::unix::net::UnixStream::connect(&sock) {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "listen did not start on the stale socket"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    s.write_all(b"hello\n").unwrap();
    drop(s);
    let out = std::io::read_to_string(c.stdout.take().unwrap()).unwrap();
    assert_eq!(out, "hello\n");
    assert!(c.wait().unwrap().success());

    let file = dir.path().join("file.sock");
    std::fs::write(&file, "keep me").unwrap();
    let (code, _, err) = run(
        &[
            "listen",
            &format!("unix:{}", file.display()),
            ":",
            "head",
            "1",
        ],
        b"",
        Duration::from_secs(10),
    );
    assert_eq!(code, 2, "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
}

/// Octet-counted syslog sent to `listen` without `--framing octet` gets one hint naming
/// the option (once, however many connections).
#[test]
fn listen_hints_at_framing_octet_once() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("o.sock");
    let mut c = Command::new(bin())
        .arg("listen")
        .arg(format!("unix:{}", sock.display()))
        .args([":", "head", "2"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    for msg in ["11 <34>1 x - a\n", "11 <34>1 y - b\n"] {
        let mut s = loop {
            if let Ok(s) = std::os::unix::net::UnixStream::connect(&sock) {
                break s;
            }
            assert!(Instant::now() < deadline, "listen did not start");
            std::thread::sleep(Duration::from_millis(20));
        };
        s.write_all(msg.as_bytes()).unwrap();
    }
    let err = std::io::read_to_string(c.stderr.take().unwrap()).unwrap();
    assert!(c.wait().unwrap().success(), "{err}");
    assert_eq!(err.matches("--framing octet").count(), 1, "{err}");
}

/// Issue 24, item 7: out of descriptors, `listen` says "cannot accept" once (not ten times
/// a second), serves the clients it has, and says at the end how often it happened.
#[test]
fn listen_out_of_descriptors_says_it_once_and_serves_its_clients() {
    use std::io::BufRead;
    let mut c = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n 40 && exec '{}' listen tcp://127.0.0.1:0 : head 3",
            bin().display()
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(c.stderr.take().unwrap());
    let mut first = String::new();
    err.read_line(&mut first).unwrap();
    let addr = first
        .trim()
        .strip_prefix("copipe: listening on tcp://")
        .unwrap_or_else(|| panic!("no address: {first}"))
        .to_string();
    // More clients than descriptors: the first are taken, the rest wait in the backlog.
    let mut clients = Vec::new();
    for _ in 0..60 {
        clients.push(std::net::TcpStream::connect(&addr).unwrap());
    }
    // Long enough for a dozen retries of the accept (one each 100 ms).
    std::thread::sleep(Duration::from_millis(1500));
    clients[0].write_all(b"one\ntwo\nthree\n").unwrap();
    let out = std::io::read_to_string(c.stdout.take().unwrap()).unwrap();
    let rest = std::io::read_to_string(err).unwrap();
    assert!(c.wait().unwrap().success(), "{rest}");
    assert_eq!(out, "one\ntwo\nthree\n", "{rest}");
    assert_eq!(rest.matches("cannot accept a client").count(), 1, "{rest}");
    assert!(rest.contains("more times"), "{rest}");
}

/// `listen udp://` with a small receive buffer, flooded while its output is a pipe nobody
/// reads yet: the kernel drops datagrams, and copipe counts every one of them — said while
/// it runs, in all at the end, in `--stats`, with the exit status 2 — so that the lines
/// emitted and the drops reported add up to the datagrams sent (loopback UDP loses nothing
/// else). SIGTERM reads what the socket holds before the end.
#[test]
fn listen_udp_counts_every_datagram_the_kernel_dropped() {
    use std::io::{BufRead, Read};
    const SENT: usize = 20_000;
    let mut c = Command::new(bin())
        .args(["--stats", "listen", "--rcvbuf", "4K", "udp://127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(c.stderr.take().unwrap());
    let mut first = String::new();
    err.read_line(&mut first).unwrap();
    let addr = first
        .trim()
        .strip_prefix("copipe: listening on udp://")
        .unwrap_or_else(|| panic!("no address: {first}"))
        .to_string();
    let rest = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    // 100-byte lines: far more than the pipe and copipe's output buffer hold.
    let pad = "x".repeat(90);
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..SENT {
        tx.send_to(format!("{i} {pad}\n").as_bytes(), &addr)
            .unwrap();
    }
    // Now read the output, and end the run: what the socket holds is read first.
    let mut stdout = c.stdout.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
    let status = wait_within(&mut c, Duration::from_secs(30), "listen after SIGTERM");
    let out = out.join().unwrap();
    let err = rest.join().unwrap();
    let mut seen = HashSet::new();
    for l in out.lines() {
        let (n, p) = l
            .split_once(' ')
            .unwrap_or_else(|| panic!("not whole: {l:?}"));
        assert_eq!(p, pad, "not whole: {l:?}");
        let n: usize = n.parse().unwrap();
        assert!(n < SENT && seen.insert(n), "invented or twice: {l:?}");
    }
    let total: usize = err
        .lines()
        .find_map(|l| {
            l.strip_prefix("copipe: listen: ")?
                .split_once(" datagrams dropped by the kernel in all")
                .map(|(n, _)| n.parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no total of drops:\n{err}"));
    assert!(
        total > 0,
        "a 4K buffer behind a blocked pipe dropped nothing:\n{err}"
    );
    assert_eq!(
        seen.len() + total,
        SENT,
        "emitted + dropped != sent:\n{err}"
    );
    assert!(
        err.lines()
            .any(|l| l.ends_with("datagrams dropped by the kernel (receive buffer full)")),
        "no drop said while it ran:\n{err}"
    );
    assert!(
        err.contains(&format!(
            "; {total} datagrams dropped by the kernel (receive buffer full)"
        )),
        "--stats does not show the drops:\n{err}"
    );
    assert_eq!(status.code(), Some(2), "{err}");
}

/// `send tcp://` killed with SIGKILL mid-stream: nothing can be said then, and what was in
/// copipe's buffers is lost. What holds: the peer sees a prefix of the stream — whole lines,
/// in order, none invented — then at most a fragment of the next line, without its newline
/// (so a peer reading lines does not take it for a whole one), and the connection's end.
#[test]
fn send_tcp_killed_9_leaves_the_peer_a_prefix_of_whole_lines() {
    use std::io::Read;
    // Long lines, so that a kill mid-write may leave part of one.
    let line = |i: u64| format!("{i:08} {}\n", "y".repeat(1000));
    for round in 0..3 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let mut c = Command::new(bin())
            .args(["cat", "-", ":", "send", &format!("tcp://{addr}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut feed = c.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            for i in 0.. {
                if feed.write_all(line(i).as_bytes()).is_err() {
                    break;
                }
            }
        });
        let (mut peer, _) = l.accept().unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        // Read a few MB, then kill copipe while it is writing, and read to the end.
        let mut got = vec![0u8; 4 << 20];
        let mut n = 0;
        while n < got.len() {
            let k = peer.read(&mut got[n..]).unwrap();
            assert!(k > 0, "send ended by itself");
            n += k;
        }
        got.truncate(n);
        unsafe { libc::kill(c.id() as i32, libc::SIGKILL) };
        let _ = c.wait();
        peer.read_to_end(&mut got)
            .expect("the end of the connection within 30 s of the kill");
        let _ = writer.join();
        let whole = got.iter().rposition(|&b| b == b'\n').map_or(0, |j| j + 1);
        let (lines, fragment) = got.split_at(whole);
        let count = lines.iter().filter(|&&b| b == b'\n').count() as u64;
        let want: String = (0..count).map(line).collect();
        assert!(
            lines == want.as_bytes(),
            "round {round}: the whole lines are not the first {count} lines sent"
        );
        assert!(
            line(count).as_bytes().starts_with(fragment),
            "round {round}: the fragment after the last whole line is not the start of the next line"
        );
        eprintln!(
            "round {round}: {count} whole lines, then a fragment of {} bytes",
            fragment.len()
        );
    }
}

/// `publish --when-full drop` with the server down takes every batch handed to its NATS
/// thread (the hand-off never blocks the pipeline), keeps `--buffer` items and counts the
/// rest as dropped; the pipeline ends at the end of the input and the drain timeout, exit 2
/// with the exact counts. `--when-full block` instead holds the pipeline (it is still
/// running when the drop run is long done) until a signal.
#[test]
fn publish_when_full_drop_with_the_server_down_counts_every_item_and_never_blocks() {
    let nats = format!("nats://127.0.0.1:{}", dead_port());
    let publish = |when_full: &'static str| {
        let mut a = vec![
            "range",
            "1",
            "100000",
            ":",
            "publish",
            "--when-full",
            when_full,
        ];
        a.extend(["--buffer", "1000", "--drain-timeout", "1s", &nats, "x.y"]);
        a
    };
    let (code, _, err) = run(&publish("drop"), b"", Duration::from_secs(30));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(
            "99999 items not confirmed (98999 dropped when the buffer was full, 1000 still unacknowledged at the end)"
        ),
        "{err}"
    );
    // `--when-full block` holds the pipeline: still running 3 s on, ended by SIGTERM.
    let (status, _, err) = signalled(
        &publish("block"),
        Duration::from_secs(3),
        libc::SIGTERM,
        Duration::from_secs(10),
    );
    assert_eq!(status.code(), Some(2), "{err}");
    // Handed over or waiting in the hand-off: every item counted, none dropped.
    assert!(err.contains("(0 dropped when the buffer was full"), "{err}");
}
