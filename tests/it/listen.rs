//! `listen` with real clients on real sockets (loopback only): clients written here,
//! util-linux `logger` and `socat` (skipped with a note when missing). Every wait has a
//! deadline; listeners start on port 0 and the port is read from copipe's stderr.

use crate::common;

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use common::tools::have;
use common::*;

/// Start `copipe listen ARGS… : REST…` and wait for the port it bound.
fn listen(args: &[&str]) -> (Live, u16) {
    let cp = copipe(args).spawn();
    let bound = |e: &str| {
        e.split_once("listening on ")
            .is_some_and(|(_, r)| r.contains('\n'))
    };
    assert!(wait_until(DEADLINE, || bound(&cp.err())), "{}", cp.err());
    let err = cp.err();
    let line = err
        .lines()
        .find(|l| l.contains("listening on "))
        .unwrap()
        .to_string();
    let port = line.rsplit(':').next().unwrap().trim().parse().unwrap();
    (cp, port)
}

fn connect(port: u16) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port)).expect("connect to copipe")
}

/// Wait for the process to end, its output complete.
fn wait_exit(cp: &mut Live, deadline: Duration) -> i32 {
    cp.exit_code_within(deadline)
}

#[test]
fn tagged_lines_from_clients_and_a_fragment_at_disconnect_is_the_last_line() {
    let (mut cp, port) = listen(&["listen", "--tag", "tcp://127.0.0.1:0", ":", "head", "4"]);
    let mut a = connect(port);
    let a_name = a.local_addr().unwrap().to_string();
    a.write_all(b"one\ntw").unwrap();
    cp.wait_out_eq(&format!("{a_name}:one\n"));
    a.write_all(b"o\nfrag").unwrap();
    drop(a);
    cp.wait_out_eq(&format!("{a_name}:one\n{a_name}:two\n{a_name}:frag\n"));
    let mut b = connect(port);
    let b_name = b.local_addr().unwrap().to_string();
    b.write_all(b"bee\nmore\n").unwrap();
    assert_eq!(wait_exit(&mut cp, DEADLINE), 0, "{}", cp.err());
    assert_eq!(
        cp.out(),
        format!("{a_name}:one\n{a_name}:two\n{a_name}:frag\n{b_name}:bee\n")
    );
}

#[test]
fn a_thousand_clients_each_sending_a_thousand_lines_arrive_whole_and_once() {
    const CLIENTS: usize = 1000;
    const LINES: usize = 1000;
    let (mut cp, port) = listen(&[
        "listen",
        "tcp://127.0.0.1:0",
        ":",
        "head",
        &(CLIENTS * LINES).to_string(),
    ]);
    // All connected at once, fed by a few threads, each writing its sockets in turns of
    // uneven pieces (so lines are split across reads).
    let threads: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                let mine: Vec<usize> = (t..CLIENTS).step_by(8).collect();
                let mut socks: Vec<TcpStream> = mine.iter().map(|_| connect(port)).collect();
                let texts: Vec<Vec<u8>> = mine
                    .iter()
                    .map(|c| {
                        (0..LINES)
                            .map(|i| format!("c{c} l{i} {}\n", "x".repeat(i % 37)))
                            .collect::<String>()
                            .into_bytes()
                    })
                    .collect();
                let mut at = vec![0usize; mine.len()];
                let mut piece = 1000;
                while at.iter().zip(&texts).any(|(a, t)| *a < t.len()) {
                    for (k, s) in socks.iter_mut().enumerate() {
                        let end = (at[k] + piece).min(texts[k].len());
                        s.write_all(&texts[k][at[k]..end]).unwrap();
                        at[k] = end;
                    }
                    piece = piece * 7 % 4093 + 500;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(
        wait_exit(&mut cp, Duration::from_secs(120)),
        0,
        "{}",
        cp.err()
    );
    let out = cp.out();
    let mut seen = vec![false; CLIENTS * LINES];
    let mut n = 0;
    for line in out.lines() {
        let mut w = line.split(' ');
        let c: usize = w.next().unwrap()[1..].parse().unwrap();
        let i: usize = w.next().unwrap()[1..].parse().unwrap();
        assert_eq!(
            line,
            format!("c{c} l{i} {}", "x".repeat(i % 37)),
            "a cut line"
        );
        assert!(!seen[c * LINES + i], "twice: {line}");
        seen[c * LINES + i] = true;
        n += 1;
    }
    assert_eq!(n, CLIENTS * LINES);
}

#[test]
fn a_slowloris_beside_a_fast_client_does_not_slow_it() {
    let (mut cp, port) = listen(&["listen", "tcp://127.0.0.1:0", ":", "head", "100000"]);
    let mut slow = connect(port);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s2 = stop.clone();
    let slowloris = std::thread::spawn(move || {
        // One byte every 20 ms, never a newline, until the test ends.
        while !s2.load(std::sync::atomic::Ordering::Relaxed) {
            if slow.write_all(b"z").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    // Also a client that floods a line that never ends.
    let mut flood = connect(port);
    let flooder = std::thread::spawn(move || {
        let junk = vec![b'f'; 64 * 1024];
        for _ in 0..64 {
            if flood.write_all(&junk).is_err() {
                break;
            }
        }
    });
    let mut fast = connect(port);
    let text: String = (0..100_000).map(|i| format!("fast {i}\n")).collect();
    fast.write_all(text.as_bytes()).unwrap();
    let code = wait_exit(&mut cp, Duration::from_secs(60));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    slowloris.join().unwrap();
    flooder.join().unwrap();
    assert_eq!(code, 0, "{}", cp.err());
    let out = cp.out();
    // The flood's line was cut at --max-line (1 MiB by default) at most once; every fast
    // line is there, in order.
    let fast_lines: Vec<&str> = out.lines().filter(|l| l.starts_with("fast")).collect();
    assert!(fast_lines.len() >= 99_999, "{}", fast_lines.len());
    for (i, l) in fast_lines.iter().enumerate() {
        assert_eq!(*l, format!("fast {i}"));
    }
}

#[test]
fn a_line_longer_than_max_line_is_cut_with_a_warning() {
    let (mut cp, port) = listen(&[
        "listen",
        "--max-line",
        "10",
        "tcp://127.0.0.1:0",
        ":",
        "head",
        "3",
    ]);
    let mut c = connect(port);
    c.write_all(b"0123456789abcdef\nok\n").unwrap();
    c.write_all(b"0123").unwrap();
    c.flush().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    c.write_all(b"456789ABCDEFGH\n").unwrap();
    assert_eq!(wait_exit(&mut cp, DEADLINE), 0, "{}", cp.err());
    assert_eq!(cp.out(), "0123456789\nok\n0123456789\n");
    assert!(
        cp.err().contains("longer than 10 bytes was cut"),
        "{}",
        cp.err()
    );
}

#[test]
fn max_clients_refuses_extras_with_a_note() {
    let (mut cp, port) = listen(&["listen", "--max-clients", "2", "tcp://127.0.0.1:0"]);
    let mut a = connect(port);
    let mut b = connect(port);
    a.write_all(b"a\n").unwrap();
    b.write_all(b"b\n").unwrap();
    cp.wait_out("two lines", |o| o.lines().count() == 2);
    let _c = connect(port);
    cp.wait_err("clients already (--max-clients)");
    assert!(cp.err().contains("--max-clients"), "{}", cp.err());
    // A place frees when a client leaves.
    drop(a);
    std::thread::sleep(Duration::from_millis(100));
    let mut d = connect(port);
    d.write_all(b"d\n").unwrap();
    cp.wait_out("d's line", |o| o.contains("d\n"));
    cp.signal(libc::SIGTERM);
    assert_eq!(wait_exit(&mut cp, DEADLINE), 0);
}

#[test]
fn interrupt_ends_listen_with_fragments_emitted_and_output_flushed() {
    let (mut cp, port) = listen(&["listen", "tcp://127.0.0.1:0", ":", "tee", "{", "count", "}"]);
    let mut c = connect(port);
    c.write_all(b"whole\nhalf").unwrap();
    cp.wait_out_eq("whole\n");
    cp.signal(libc::SIGINT);
    assert_eq!(wait_exit(&mut cp, DEADLINE), 130, "{}", cp.err());
    assert_eq!(cp.out(), "whole\nhalf\n2\n");
}

#[test]
fn logger_octet_counted_over_tcp_and_plain_over_udp() {
    if !have("logger") {
        return;
    }
    let (mut cp, port) = listen(&[
        "listen",
        "--framing",
        "octet",
        "tcp://127.0.0.1:0",
        ":",
        "head",
        "2",
    ]);
    for msg in ["first message", "second\nwith a newline inside"] {
        let ok = Command::new("logger")
            .args(["--tcp", "--octet-count", "--server", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .args(["--rfc5424", "--", msg])
            .status()
            .unwrap()
            .success();
        assert!(ok, "logger failed");
    }
    assert_eq!(wait_exit(&mut cp, DEADLINE), 0, "{}", cp.err());
    let out = cp.out();
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("<13>1 ") && lines[0].ends_with("first message"),
        "{out}"
    );
    assert!(lines[1].ends_with("second"), "{out}");

    let (mut cp, port) = listen(&["listen", "--tag", "udp://127.0.0.1:0", ":", "head", "1"]);
    let ok = Command::new("logger")
        .args(["--udp", "--server", "127.0.0.1", "--port"])
        .arg(port.to_string())
        .args(["--", "over udp"])
        .status()
        .unwrap()
        .success();
    assert!(ok, "logger failed");
    assert_eq!(wait_exit(&mut cp, DEADLINE), 0, "{}", cp.err());
    let out = cp.out();
    assert!(
        out.starts_with("127.0.0.1:") && out.ends_with("over udp\n"),
        "{out}"
    );
}

#[test]
fn socat_clients_over_tcp_and_a_unix_socket() {
    if !have("socat") {
        return;
    }
    let (mut cp, port) = listen(&["listen", "tcp://127.0.0.1:0", ":", "head", "2"]);
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf 'a\\nb\\n' | socat -u - TCP:127.0.0.1:{port}"
        ))
        .status()
        .unwrap()
        .success();
    assert!(ok);
    assert_eq!(wait_exit(&mut cp, DEADLINE), 0, "{}", cp.err());
    assert_eq!(cp.out(), "a\nb\n");

    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("in.sock");
    let mut cp = copipe([
        "listen",
        &format!("unix:{}", sock.display()),
        ":",
        "head",
        "2",
    ])
    .spawn();
    assert!(wait_until(DEADLINE, || sock.exists()), "{}", cp.err());
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf 'u1\\nu2' | socat -u - UNIX-CONNECT:{}",
            sock.display()
        ))
        .status()
        .unwrap()
        .success();
    assert!(ok);
    assert_eq!(wait_exit(&mut cp, DEADLINE), 0, "{}", cp.err());
    assert_eq!(cp.out(), "u1\nu2\n");
    assert!(!sock.exists(), "the socket is removed at the end");
}

#[test]
fn listen_with_count_every_counts_per_interval() {
    let (mut cp, port) = listen(&[
        "listen",
        "tcp://127.0.0.1:0",
        ":",
        "count",
        "--every",
        "100ms",
    ]);
    let mut c = connect(port);
    c.write_all(b"1\n2\n3\n").unwrap();
    cp.wait_out("the three lines counted and a quiet interval", |o| {
        let counts: Vec<u64> = o
            .lines()
            .map(|l| l.split(' ').nth(1).unwrap().parse().unwrap())
            .collect();
        counts.iter().sum::<u64>() == 3 && counts.last() == Some(&0)
    });
    cp.signal(libc::SIGTERM);
    assert_eq!(wait_exit(&mut cp, DEADLINE), 0);
}

#[test]
fn bad_addresses_are_refused_before_anything_runs() {
    copipe(["listen", "127.0.0.1:80"])
        .run()
        .code(2)
        .err_has("not an address");
    copipe(["listen", "--framing", "octet", "udp://127.0.0.1:0"])
        .run()
        .code(2)
        .err_has("--framing octet");
}

#[test]
fn a_quiet_clients_line_comes_out_while_another_client_floods() {
    // The flood's lines are filtered out, so only a flush can bring the quiet line out
    // while the flood goes on: the scheduler flushes at the end of every turn, also when
    // the flooding client is to be run again at once.
    let (mut cp, port) = listen(&["listen", "tcp://127.0.0.1:0", ":", "grep", "quiet"]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s2 = stop.clone();
    let mut flood = connect(port);
    let flooder = std::thread::spawn(move || {
        let junk: Vec<u8> = b"flood flood flood flood flood flood flood flood\n".repeat(1400);
        let mut sent = 0usize;
        // Bounded: at most 2 GB or 60 s, whichever comes first.
        let start = std::time::Instant::now();
        while !s2.load(std::sync::atomic::Ordering::Relaxed)
            && sent < 2 << 30
            && start.elapsed() < Duration::from_secs(60)
        {
            if flood.write_all(&junk).is_err() {
                break;
            }
            sent += junk.len();
        }
    });
    // Let the flood get going, then the quiet client says one line and stays connected.
    std::thread::sleep(Duration::from_millis(200));
    let mut quiet = connect(port);
    quiet.write_all(b"quiet 1\n").unwrap();
    let came = wait_until(Duration::from_secs(20), || cp.out().contains("quiet 1\n"));
    let flooding = !flooder.is_finished();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    flooder.join().unwrap();
    drop(quiet);
    cp.signal(libc::SIGTERM);
    assert_eq!(
        wait_exit(&mut cp, Duration::from_secs(30)),
        0,
        "{}",
        cp.err()
    );
    assert!(came, "the quiet line did not come out during the flood");
    assert!(
        flooding,
        "the flood ended before the quiet line came out: nothing proven"
    );
}
