//! `send ADDRESS` — a sink to `tcp://HOST:PORT`, `udp://HOST:PORT` or `unix:PATH`: each item
//! as a line (records and events as NDJSON), written whole.
//!
//! The socket is run by a thread of its own, fed through a bounded queue of batches, so a
//! slow or absent peer never stalls the chain beyond `--when-full block`. When the peer is
//! down or goes away, it reconnects with a growing backoff (100 ms doubling to 5 s) and
//! keeps what it could not send, at most `--buffer N` items; a line cut by a lost
//! connection is sent again whole on the next one. `--when-full block` makes the pipeline
//! wait for room, `drop` drops the newest items (counted). At the end of the stream it
//! waits at most `--drain-timeout` for the queue to empty, and says how many items were not
//! delivered (exit status 2 if any, or if any were dropped). `--stats` shows both counts as
//! rows under the stage (`dropped (--when-full drop)`, `undelivered`).
//!
//! What the kernel accepted for a peer that then dies unread cannot be known without
//! acknowledgements, which plain lines do not have: it is lost, as with `nc` or `logger`,
//! but said: the lines written on a connection that is reset are reported ("may not have
//! been read", status 2). At the end of the stream a TCP or unix connection is shut for
//! writing and the peer is waited for (up to `--drain-timeout`): a peer that reads to the
//! end and closes confirms delivery; a reset or no close in time is reported the same way.
//! The first SIGINT or SIGTERM ends a wait for room and gives what waits half a second.

use std::io::{self, Write};
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::os::unix::net::UnixStream;
use std::sync::mpsc::RecvTimeoutError;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use clap::{ArgMatches, FromArgMatches, Parser};

use crate::engine::handoff::{self, Handed};
use crate::item::{Item, Kind, Origin, count_lines, render};
use crate::net::Address;
use crate::protocol::def::{Build, BuildCx, Emits, Role, StageDef, Status};
use crate::protocol::{Flow, Stage};
use crate::runtime::counter::Counter;
use crate::runtime::delivery::WhenFull;
use crate::runtime::signal::Interrupt;
use crate::runtime::units::parse_duration;

/// Send each item, as a line, to a TCP, UDP or unix-socket peer; reconnect when it is gone.
///
/// Records and events are sent as NDJSON. While the peer is down, up to `--buffer` items
/// wait (reconnecting with a growing backoff); `--when-full` says what happens beyond. At
/// the end it waits at most `--drain-timeout` for them, then says how many were not
/// delivered (exit status 2 if any).
#[derive(Parser)]
#[command(name = "send", disable_version_flag = true)]
pub struct Args {
    /// Where to send: `tcp://HOST:PORT`, `udp://HOST:PORT`, `unix:PATH`.
    pub address: String,
    /// How many items may wait for the peer.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub buffer: usize,
    /// When the buffer is full: `block` the pipeline until there is room, or `drop` the
    /// newest items (counted, reported at the end, and rows under `send` in `--stats`).
    #[arg(long, value_enum, default_value_t = WhenFull::Block)]
    pub when_full: WhenFull,
    /// At the end, how long to wait for the buffered items to be delivered.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5s")]
    pub drain_timeout: Duration,
}

pub const DEF: StageDef = StageDef {
    name: "send",
    aliases: &[],
    role: Role::Sink,
    summary: "send items as lines to a TCP, UDP or unix-socket peer, reconnecting",
    accepts: Kind::ALL,
    emits: Emits::Nothing,
    examples: &[
        "copipe follow app.log : grep ERROR : send tcp://collector:5140",
        "copipe listen udp://127.0.0.1:514 : send --when-full drop --buffer 10000 tcp://10.0.0.2:5140",
    ],
    command: <Args as clap::CommandFactory>::command,
    fusion: None,
    build: Build::Sink(build),
};

/// The lines handed to the socket thread at a time.
const BATCH: usize = 64 * 1024;

fn build(m: &ArgMatches, cx: &BuildCx<'_>) -> Result<Box<dyn Stage>> {
    let a = Args::from_arg_matches(m)?;
    let address = Address::parse(&a.address)?;
    if a.buffer == 0 {
        anyhow::bail!("--buffer must be at least 1");
    }
    let (tx, rx) = handoff::channel::<Lines, Vec<u8>>(2, false)?;
    let peer = Peer {
        address,
        name: a.address.clone(),
        buffer: a.buffer,
        when_full: a.when_full,
        drain: a.drain_timeout,
    };
    let dropped = Counter::default();
    let undelivered = Counter::default();
    let unread = Counter::default();
    let oversized = Counter::default();
    let counted = Outcome {
        dropped: dropped.clone(),
        undelivered: undelivered.clone(),
        unread: unread.clone(),
        oversized: oversized.clone(),
    };
    let interrupt = cx.interrupt.clone();
    let thread_interrupt = interrupt.clone();
    let thread = std::thread::Builder::new()
        .name("copipe-send".into())
        .spawn(move || peer.run(rx, counted, &thread_interrupt))?;
    Ok(Box::new(Send {
        batch: Vec::with_capacity(BATCH + 1024),
        items: 0,
        tx: Some(tx),
        thread: Some(thread),
        status: cx.status.clone(),
        name: a.address,
        dropped,
        undelivered,
        interrupt,
        given_up: 0,
        unread,
        oversized,
    }))
}

/// A batch of lines and how many items it holds, as it goes to the socket thread.
type Lines = (Vec<u8>, usize);

/// How the items go to the socket thread, their buffers coming back.
type Handoff = handoff::Tx<Lines, Vec<u8>>;

struct Send {
    batch: Vec<u8>,
    items: usize,
    tx: Option<Handoff>,
    thread: Option<JoinHandle<()>>,
    status: Status,
    name: String,
    /// What the socket thread dropped (`--when-full drop`) and, at the end, what it could
    /// not deliver: `--stats` rows.
    dropped: Counter,
    undelivered: Counter,
    /// A signal ends a wait for room: the items it was handing over are not delivered.
    interrupt: Interrupt,
    given_up: u64,
    /// Lines written on a connection the peer reset or left without confirming.
    unread: Counter,
    /// Lines too long for one datagram, skipped (UDP).
    oversized: Counter,
}

impl Send {
    fn hand_over(&mut self) -> Flow {
        if self.items == 0 {
            return Flow::Continue;
        }
        let Some(tx) = &self.tx else {
            return Flow::Stop;
        };
        let next = tx
            .spare()
            .unwrap_or_else(|| Vec::with_capacity(BATCH + 1024));
        let batch = std::mem::replace(&mut self.batch, next);
        let n = std::mem::take(&mut self.items);
        // Wait for room, but never past a signal (Ctrl-C with the peer down must end copipe
        // at once, counting what was not delivered).
        match tx.send_unless((batch, n), &self.interrupt) {
            Handed::Sent => Flow::Continue,
            Handed::Interrupted => {
                self.given_up += n as u64;
                Flow::Stop
            }
            Handed::Gone => Flow::Stop,
        }
    }

    fn pushed(&mut self) -> Flow {
        if self.batch.len() >= BATCH {
            self.hand_over()
        } else {
            Flow::Continue
        }
    }
}

impl Stage for Send {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        render(&mut self.batch, &item);
        self.batch.push(b'\n');
        self.items += 1;
        self.status.mark_delivered();
        Ok(self.pushed())
    }

    fn send_lines(&mut self, batch: &[u8]) -> Result<Flow> {
        if batch.is_empty() {
            return Ok(Flow::Continue);
        }
        self.batch.extend_from_slice(batch);
        if batch.last() != Some(&b'\n') {
            self.batch.push(b'\n');
        }
        self.items += count_lines(batch) as usize;
        self.status.mark_delivered();
        Ok(self.pushed())
    }

    fn origin(&mut self, _origin: Origin<'_>) -> Result<()> {
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        let _ = self.hand_over();
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        let _ = self.hand_over();
        drop(self.tx.take());
        let Some(t) = self.thread.take() else {
            return Ok(());
        };
        t.join()
            .map_err(|_| anyhow!("send {}: the socket thread failed", self.name))?;
        self.undelivered.add(self.given_up);
        if self.oversized.get() > 0 {
            self.status.soft_error(&anyhow!(
                "send {}: {} lines longer than a datagram were skipped",
                self.name,
                self.oversized.get()
            ));
        }
        if self.unread.get() > 0 {
            self.status.soft_error(&anyhow!(
                "send {}: {} lines written before the peer reset or left the connection may not have been read",
                self.name,
                self.unread.get()
            ));
        }
        let (dropped, undelivered) = (self.dropped.get(), self.undelivered.get());
        if undelivered > 0 || dropped > 0 {
            self.status.soft_error(&anyhow!(
                "send {}: {} items not delivered ({} dropped when the buffer was full, {} still waiting at the end)",
                self.name,
                undelivered + dropped,
                dropped,
                undelivered
            ));
        }
        Ok(())
    }

    fn counters(&self) -> Vec<(&'static str, Counter)> {
        vec![
            ("dropped (--when-full drop)", self.dropped.clone()),
            ("undelivered", self.undelivered.clone()),
        ]
    }
}

/// What the socket thread counts: items dropped as they came (`--when-full drop`), and
/// those still queued when it ended.
struct Outcome {
    dropped: Counter,
    undelivered: Counter,
    unread: Counter,
    oversized: Counter,
}

struct Peer {
    address: Address,
    name: String,
    buffer: usize,
    when_full: WhenFull,
    drain: Duration,
}

enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
    Udp(UdpSocket),
}

/// How long the items waiting may still go out after Ctrl-C or SIGTERM.
const SIGNAL_DRAIN: Duration = Duration::from_millis(500);

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl Peer {
    fn connect(&self) -> io::Result<Conn> {
        let tick = Some(Duration::from_millis(50));
        match &self.address {
            Address::Tcp(hp) => {
                let addr = hp
                    .to_socket_addrs()?
                    .next()
                    .ok_or_else(|| io::Error::other("no address"))?;
                let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
                s.set_write_timeout(tick)?;
                let _ = s.set_nodelay(true);
                Ok(Conn::Tcp(s))
            }
            Address::Unix(p) => {
                let s = UnixStream::connect(p)?;
                s.set_write_timeout(tick)?;
                Ok(Conn::Unix(s))
            }
            Address::Udp(hp) => {
                let s = UdpSocket::bind(if hp.starts_with('[') {
                    "[::]:0"
                } else {
                    "0.0.0.0:0"
                })?;
                s.connect(hp)?;
                s.set_write_timeout(tick)?;
                Ok(Conn::Udp(s))
            }
        }
    }

    /// At the end: shut the writing side and wait (until `until`) for the peer to read to
    /// the end and close its side, which confirms it read every line. A reset, or no close
    /// in time, does not. (UDP confirms nothing: at most once.)
    fn confirmed(conn: Conn, until: Instant) -> bool {
        use std::io::Read;
        use std::net::Shutdown;
        fn wait<S: Read>(mut s: S, until: Instant) -> bool {
            let mut sink = [0u8; 4096];
            loop {
                match s.read(&mut sink) {
                    Ok(0) => return true,
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock
                                | io::ErrorKind::TimedOut
                                | io::ErrorKind::Interrupted
                        ) => {}
                    Err(_) => return false,
                }
                if Instant::now() >= until {
                    return false;
                }
            }
        }
        let tick = Some(Duration::from_millis(20));
        match conn {
            Conn::Udp(_) => true,
            Conn::Tcp(s) => {
                let _ = s.shutdown(Shutdown::Write);
                let _ = s.set_read_timeout(tick);
                wait(s, until)
            }
            Conn::Unix(s) => {
                let _ = s.shutdown(Shutdown::Write);
                let _ = s.set_read_timeout(tick);
                wait(s, until)
            }
        }
    }

    /// Write the start of `pending`; the bytes written.
    fn write(&self, conn: &mut Conn, pending: &[u8], oversized: &Counter) -> io::Result<usize> {
        match conn {
            Conn::Tcp(s) => s.write(pending),
            Conn::Unix(s) => s.write(pending),
            Conn::Udp(s) => {
                // One datagram per line; a line too long for one is skipped, counted, and
                // the stream goes on (sending it again would fail for ever).
                let end = memchr::memchr(b'\n', pending).map_or(pending.len(), |i| i + 1);
                match s.send(&pending[..end]) {
                    Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => {
                        if oversized.get() == 0 {
                            crate::say!(
                                "copipe: send: {}: a line of {} bytes is longer than a datagram; skipped (lines like it are counted)",
                                self.name,
                                end
                            );
                        }
                        oversized.add(1);
                        Ok(end)
                    }
                    r => r.map(|_| end),
                }
            }
        }
    }

    fn run(self, rx: handoff::Rx<Lines, Vec<u8>>, outcome: Outcome, interrupt: &Interrupt) {
        // Whole lines waiting from `start` (before it: delivered); `head`: the bytes
        // written so far, perhaps in the middle of a line.
        let mut pending: Vec<u8> = Vec::new();
        let mut start = 0usize;
        let mut head = 0usize;
        let mut queued = 0usize;
        let mut conn: Option<Conn> = None;
        let mut backoff = FIRST_BACKOFF;
        let mut next_try = Instant::now();
        let mut down_noted = false;
        let mut ended: Option<Instant> = None;
        let mut drain = self.drain;
        let mut signalled = false;
        // Lines written on the current connection (unconfirmed until the peer closes).
        let mut on_conn = 0u64;
        loop {
            // A signal: what waits gets half a second to go out, then is counted.
            if !signalled && interrupt.pending().is_some() {
                signalled = true;
                drain = drain.min(SIGNAL_DRAIN);
                while let Some(Ok((batch, n))) = rx.try_recv() {
                    pending.extend_from_slice(&batch);
                    queued += n;
                }
                ended = Some(Instant::now());
            }
            // Take new items when there is room (with `drop`, always: what does not fit goes).
            if ended.is_none() && (queued < self.buffer || self.when_full == WhenFull::Drop) {
                let wait = if queued > 0 && conn.is_some() {
                    Duration::ZERO
                } else {
                    Duration::from_millis(50)
                };
                match rx.recv_timeout(wait) {
                    Ok((batch, n)) => {
                        // With `block` a batch is taken whole (room was left for at least
                        // one item, so the queue holds at most the buffer plus one batch);
                        // only `drop` drops.
                        if queued + n <= self.buffer || self.when_full == WhenFull::Block {
                            pending.extend_from_slice(&batch);
                            queued += n;
                        } else {
                            // Keep the items that fit, drop the newest.
                            let room = self.buffer - queued;
                            let (end, kept) = crate::item::split_after_lines(&batch, room as u64);
                            pending.extend_from_slice(&batch[..end]);
                            queued += kept as usize;
                            outcome.dropped.add((n - kept as usize) as u64);
                        }
                        let mut batch = batch;
                        batch.clear();
                        rx.recycle(batch);
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => ended = Some(Instant::now()),
                }
            }
            if let Some(at) = ended
                && queued == 0
                && let Some(c) = conn.take()
                && on_conn > 0
                && !Self::confirmed(c, at + drain)
            {
                crate::say!(
                    "copipe: send: {}: the peer did not read to the end and close; {on_conn} lines written may not have been read",
                    self.name
                );
                outcome.unread.add(on_conn);
            }
            if let Some(at) = ended
                && (queued == 0 || at.elapsed() >= drain)
            {
                // Batches handed over after the signal are not delivered either.
                while let Some(Ok((_, n))) = rx.try_recv() {
                    queued += n;
                }
                outcome.undelivered.set(queued as u64);
                return;
            }
            if queued == 0 {
                continue;
            }
            if conn.is_none() {
                let now = Instant::now();
                if now < next_try {
                    std::thread::sleep((next_try - now).min(Duration::from_millis(50)));
                    continue;
                }
                match self.connect() {
                    Ok(c) => {
                        on_conn = 0;
                        if down_noted {
                            crate::say!("copipe: send: connected to {} again", self.name);
                        }
                        conn = Some(c);
                        backoff = FIRST_BACKOFF;
                        down_noted = false;
                    }
                    Err(e) => {
                        if !down_noted {
                            crate::say!(
                                "copipe: send: cannot reach {}: {e}; retrying, {queued} items waiting",
                                self.name
                            );
                            down_noted = true;
                        }
                        next_try = Instant::now() + backoff;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        continue;
                    }
                }
            }
            let c = conn.as_mut().expect("connected");
            match self.write(c, &pending[head..], &outcome.oversized) {
                Ok(0) => conn = None,
                Ok(n) => {
                    let lines_done = memchr::memchr_iter(b'\n', &pending[head..head + n]).count();
                    if let Some(i) = memchr::memrchr(b'\n', &pending[head..head + n]) {
                        start = head + i + 1;
                    }
                    head += n;
                    queued -= lines_done;
                    on_conn += lines_done as u64;
                    // Forget what was delivered, now and then.
                    if start == pending.len() {
                        pending.clear();
                        (start, head) = (0, 0);
                    } else if start > (1 << 20) && start > pending.len() / 2 {
                        pending.drain(..start);
                        head -= start;
                        start = 0;
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => {
                    crate::say!("copipe: send: {}: {e}; reconnecting", self.name);
                    if on_conn > 0 && !matches!(c, Conn::Udp(_)) {
                        crate::say!(
                            "copipe: send: {}: {on_conn} lines written before the connection was lost may not have been read",
                            self.name
                        );
                        outcome.unread.add(on_conn);
                    }
                    on_conn = 0;
                    down_noted = true;
                    conn = None;
                    next_try = Instant::now() + backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    // The line cut by the lost connection goes again, whole.
                    head = start;
                }
            }
        }
    }
}
