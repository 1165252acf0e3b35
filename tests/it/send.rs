//! `send` to peers written here, on the loopback: whole lines, reconnection with the items
//! kept, drops counted, the drain at the end. Every wait has a deadline.

use crate::common;

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, UdpSocket};
use std::time::{Duration, Instant};

use common::*;

/// A free port on the loopback (bound then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Accept on `l` and read lines until `until` holds for the lines read so far or the
/// deadline passes (or the peer closes); the lines.
fn read_lines(l: &TcpListener, mut until: impl FnMut(&[String]) -> bool) -> Vec<String> {
    l.set_nonblocking(false).unwrap();
    let (s, _) = l.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut got = Vec::new();
    for line in BufReader::new(s).lines() {
        let Ok(line) = line else { break };
        got.push(line);
        if until(&got) {
            break;
        }
    }
    got
}

#[test]
fn send_writes_every_item_whole_records_as_ndjson() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let reader = std::thread::spawn(move || read_lines(&l, |_| false));
    let r = copipe([
        "range",
        "0",
        "100000",
        ":",
        "send",
        &format!("tcp://127.0.0.1:{port}"),
    ])
    .run();
    r.code(0);
    let got = reader.join().unwrap();
    assert_eq!(got.len(), 100_000);
    assert!(got.iter().enumerate().all(|(i, l)| *l == i.to_string()));

    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let reader = std::thread::spawn(move || read_lines(&l, |_| false));
    copipe(["json", ":", "send", &format!("tcp://127.0.0.1:{port}")])
        .stdin("{\"a\": 1}\n{\"b\": [true]}\n")
        .run()
        .code(0);
    assert_eq!(reader.join().unwrap(), [r#"{"a":1}"#, r#"{"b":[true]}"#]);
}

#[test]
fn a_peer_that_is_down_then_killed_and_restarted_gets_the_stream_with_block() {
    let port = free_port();
    // copipe starts while the peer is down: items wait, connections are retried.
    let mut cp = copipe([
        "naturals",
        ":",
        "head",
        "200000",
        ":",
        "send",
        "--drain-timeout",
        "20s",
        &format!("tcp://127.0.0.1:{port}"),
    ])
    .spawn();
    cp.wait_err("cannot reach");
    let l = TcpListener::bind(("127.0.0.1", port)).unwrap();
    // The peer reads a part, then dies (connection and listener gone) …
    let first = read_lines(&l, |g| g.len() >= 20_000);
    drop(l);
    std::thread::sleep(Duration::from_millis(300));
    // … and comes back on the same port.
    let l = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let second = read_lines(&l, |g| g.last().is_some_and(|x| x == "199999"));
    // The lines the dead peer's kernel had accepted are not known to be read: said, and
    // status 2 (issue 24).
    assert_eq!(
        cp.exit_code_within(Duration::from_secs(60)),
        2,
        "{}",
        cp.err()
    );
    assert!(cp.err().contains("may not have been read"), "{}", cp.err());
    // Every line whole and in order; the first part complete from 0; the stream delivered
    // to its end after the restart. (What the kernel had accepted for the dead peer and
    // it never read is lost, as with any sender without acknowledgements.)
    let all: Vec<u64> = first
        .iter()
        .chain(&second)
        .map(|l| l.parse().unwrap_or_else(|_| panic!("a cut line: {l:?}")))
        .collect();
    assert!(first.iter().enumerate().all(|(i, l)| *l == i.to_string()));
    assert!(all.windows(2).all(|w| w[0] < w[1]), "out of order");
    assert_eq!(*all.last().unwrap(), 199_999);
    // `second` is everything after its first line: nothing lost while the peer was away.
    let s0: u64 = second[0].parse().unwrap();
    assert_eq!(
        second.len() as u64,
        200_000 - s0,
        "lost after the reconnection"
    );
    assert!(cp.err().contains("connected to"), "{}", cp.err());
}

#[test]
fn drop_counts_what_did_not_fit_and_the_drain_reports_what_was_not_delivered() {
    let port = free_port();
    let start = Instant::now();
    let r = copipe([
        "range",
        "0",
        "1000",
        ":",
        "send",
        "--buffer",
        "100",
        "--when-full",
        "drop",
        "--drain-timeout",
        "300ms",
        &format!("tcp://127.0.0.1:{port}"),
    ])
    .run();
    r.code(2).err_has(
        "1000 items not delivered (900 dropped when the buffer was full, 100 still waiting",
    );
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn send_over_udp_and_a_unix_socket() {
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.set_read_timeout(Some(DEADLINE)).unwrap();
    let port = u.local_addr().unwrap().port();
    copipe([
        "range",
        "0",
        "3",
        ":",
        "send",
        &format!("udp://127.0.0.1:{port}"),
    ])
    .run()
    .code(0);
    let mut buf = [0u8; 100];
    for want in ["0\n", "1\n", "2\n"] {
        let n = u.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], want.as_bytes());
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("peer.sock");
    let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let reader = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        BufReader::new(s)
            .lines()
            .map(Result::unwrap)
            .collect::<Vec<_>>()
    });
    copipe([
        "range",
        "0",
        "3",
        ":",
        "send",
        &format!("unix:{}", path.display()),
    ])
    .run()
    .code(0);
    assert_eq!(reader.join().unwrap(), ["0", "1", "2"]);
}

#[test]
fn stats_show_what_send_dropped_and_could_not_deliver() {
    let port = free_port();
    let r = copipe([
        "--stats",
        "range",
        "0",
        "1000",
        ":",
        "send",
        "--buffer",
        "100",
        "--when-full",
        "drop",
        "--drain-timeout",
        "300ms",
        &format!("tcp://127.0.0.1:{port}"),
    ])
    .run();
    r.code(2);
    let rows: Vec<Vec<&str>> = r
        .err
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("stage"))
        .map(|l| l.split_whitespace().collect())
        .collect();
    let row = |label: &str| {
        rows.iter()
            .find(|w| w.join(" ").starts_with(label))
            .unwrap_or_else(|| panic!("no {label} row in {}", r.err))
            .clone()
    };
    assert_eq!(
        row("send").iter().rev().take(2).collect::<Vec<_>>(),
        [&"-", &"1000"]
    );
    assert_eq!(
        row("dropped (--when-full drop)").last(),
        Some(&"900"),
        "{}",
        r.err
    );
    assert_eq!(row("undelivered").last(), Some(&"100"), "{}", r.err);
}
