//! `listen ADDRESS` — a server source, a native task of the scheduler (Beazley's `pyos`
//! echo server): `tcp://HOST:PORT`, `udp://HOST:PORT` or `unix:PATH` (a stream socket).
//!
//! Emits lines. Any number of clients are served by the one thread: the listener is a task
//! that accepts and spawns one task per client; each client has its own partial line,
//! bounded by `--max-line` (a longer line is cut there, with a warning, and the rest of it
//! up to its newline is dropped). A client is read at most 64 KiB per turn, then the others
//! get theirs: a flood, a slowloris or a client that never sends a newline stops nobody.
//! A client that disconnects in the middle of a line has that fragment emitted as its last
//! line. With `--framing octet`, each message is `LEN SP MSG` (RFC 6587 octet counting, as
//! `logger --tcp --octet-count` sends); the newlines inside a message split it into lines.
//! UDP (`listen/udp.rs`): each datagram is one or more lines; the socket's receive buffer
//! is `--rcvbuf`, and the datagrams the kernel dropped when it was full are counted and said.
//!
//! It never ends by itself: Ctrl-C or SIGTERM end it (fragments emitted, output flushed),
//! and so does a `head` downstream.

use std::cell::{Cell, RefCell};
use std::io::{self, Read};
use std::net::{TcpListener, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{ArgMatches, FromArgMatches, Parser, ValueEnum};

use crate::engine::Scheduler;
use crate::item::{Item, Kind, Origin, Show, lines};
use crate::net::Address;
use crate::protocol::def::{Build, BuildCx, Emits, Role, StageDef, Status};
use crate::protocol::task::{Cx, Task, Wait};
use crate::protocol::{Flow, Source, Stage};
use crate::runtime::meter::Meter;
use crate::runtime::signal::Interrupt;
use crate::runtime::timer::Timers;

mod udp;

/// Serve clients on ADDRESS and emit the lines they send.
///
/// ADDRESS is `tcp://HOST:PORT`, `udp://HOST:PORT` or `unix:PATH` (a stream socket, created
/// and removed at the end). With port 0 the system picks a free port, and
/// `copipe: listening on tcp://127.0.0.1:PORT` is written on standard error. Any number of
/// clients are served at once, fairly; a client that leaves in the middle of a line has that
/// fragment emitted. It runs until Ctrl-C, SIGTERM, or a `head` downstream.
#[derive(Parser)]
#[command(name = "listen", disable_version_flag = true)]
pub struct Args {
    /// Where to listen: `tcp://HOST:PORT`, `udp://HOST:PORT`, `unix:PATH`.
    pub address: String,
    /// How lines are delimited: `newline`, or `octet` (RFC 6587 octet counting, `LEN SP
    /// MSG`, as `logger --tcp --octet-count` sends; TCP and unix only).
    #[arg(long, value_enum, default_value_t = Framing::Newline)]
    pub framing: Framing,
    /// Show each line's client (`127.0.0.1:41234:line` from `print`, `write` and `exec`; a
    /// `file` field in the records made by `json`).
    #[arg(short = 'H', long)]
    pub tag: bool,
    /// Cut a line (or an octet-counted message) longer than BYTES there, with a warning;
    /// the rest of it is dropped.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    pub max_line: usize,
    /// Refuse clients beyond N at a time (each refusal is noted on standard error).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_clients: usize,
    /// UDP: the socket's receive buffer, where datagrams wait while the pipeline is busy
    /// (K, M or G: powers of 1024). When it is full the kernel drops what comes: each drop
    /// is counted and said, and the exit status is then 2. Beyond net.core.rmem_max it
    /// takes root or CAP_NET_ADMIN (what was obtained is said).
    #[arg(long, value_name = "SIZE", default_value = "8M", value_parser = crate::runtime::units::parse_size)]
    pub rcvbuf: usize,
}

/// How a stream is cut into lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Framing {
    /// Lines end with `\n`.
    Newline,
    /// RFC 6587 octet counting: `LEN SP MSG`.
    Octet,
}

pub const DEF: StageDef = StageDef {
    name: "listen",
    aliases: &["serve"],
    role: Role::Source,
    summary: "serve TCP, UDP or unix-socket clients and emit the lines they send",
    accepts: &[],
    emits: Emits::Kind(Kind::Line),
    examples: &[
        "copipe listen tcp://127.0.0.1:5140 : grep ERROR : count --every 10s",
        "copipe listen --framing octet --tag tcp://0.0.0.0:6514 : write syslog.txt",
        "copipe listen udp://127.0.0.1:0 : head 10",
        "copipe listen --rcvbuf 64M udp://0.0.0.0:514 : write udp.log",
    ],
    command: <Args as clap::CommandFactory>::command,
    fusion: None,
    build: Build::Task(build),
};

/// How much is read from one client in one turn.
const READ: usize = 64 * 1024;

fn build(m: &ArgMatches, cx: &BuildCx<'_>) -> Result<Box<dyn Source>> {
    let a = Args::from_arg_matches(m)?;
    let address = Address::parse(&a.address)?;
    let rcvbuf_given = m.value_source("rcvbuf") == Some(clap::parser::ValueSource::CommandLine);
    if rcvbuf_given && !matches!(address, Address::Udp(_)) {
        bail!("--rcvbuf is for udp:// (a stream socket has flow control)");
    }
    if a.max_line == 0 {
        bail!("--max-line must be at least 1");
    }
    let shared = Rc::new(Shared {
        scratch: RefCell::new(vec![0; READ]),
        clients: Cell::new(0),
        announced: Cell::new(u64::MAX),
        next_id: Cell::new(0),
        framing: a.framing,
        tag: a.tag,
        max_line: a.max_line,
        max_clients: a.max_clients,
        octet_hinted: Cell::new(false),
        meter: cx.meter.clone(),
    });
    let task: Box<dyn Task> = match &address {
        Address::Tcp(hp) => {
            let l =
                TcpListener::bind(hp).with_context(|| format!("cannot listen on {}", a.address))?;
            l.set_nonblocking(true)?;
            if hp.ends_with(":0") {
                crate::say!("copipe: listening on tcp://{}", l.local_addr()?);
            }
            raise_fd_limit();
            Box::new(Acceptor {
                listener: Listener::Tcp(l),
                shared,
                failing: 0,
            })
        }
        Address::Unix(path) => {
            let l = bind_unix(path).with_context(|| format!("cannot listen on {}", a.address))?;
            l.set_nonblocking(true)?;
            raise_fd_limit();
            Box::new(Acceptor {
                listener: Listener::Unix(l, path.clone()),
                shared,
                failing: 0,
            })
        }
        Address::Udp(hp) => {
            if a.framing == Framing::Octet {
                bail!("--framing octet is for tcp:// and unix: (a datagram is its own frame)");
            }
            let s =
                UdpSocket::bind(hp).with_context(|| format!("cannot listen on {}", a.address))?;
            s.set_nonblocking(true)?;
            let rcvbuf = udp::prepare(&s, a.rcvbuf, rcvbuf_given)
                .with_context(|| format!("cannot listen on {}", a.address))?;
            if hp.ends_with(":0") {
                crate::say!("copipe: listening on udp://{}", s.local_addr()?);
            }
            Box::new(udp::Datagrams::new(s, shared, cx.status.clone(), rcvbuf))
        }
    };
    Ok(Box::new(Listen {
        task: Some(task),
        interrupt: cx.interrupt.clone(),
        timers: cx.timers.clone(),
        status: cx.status.clone(),
    }))
}

/// Many clients means many descriptors: take the hard limit.
fn raise_fd_limit() {
    crate::runtime::rlimit::raise_open_files();
}

/// The source: hands its task to the pipeline's scheduler, or runs one of its own.
struct Listen {
    task: Option<Box<dyn Task>>,
    interrupt: Interrupt,
    timers: Timers,
    status: Status,
}

impl Source for Listen {
    fn run(&mut self, out: &mut dyn Stage) -> Result<()> {
        let mut sched = Scheduler::new(
            self.interrupt.clone(),
            self.timers.clone(),
            self.status.clone(),
        )?;
        if let Some(t) = self.task.take() {
            sched.spawn(t);
        }
        sched.run(out)
    }

    fn into_task(mut self: Box<Self>) -> Option<Box<dyn Task>> {
        self.task.take()
    }

    fn needs_scheduler(&self) -> bool {
        self.task.is_some()
    }
}

/// What the listener and its clients share (all in the scheduler's thread).
struct Shared {
    /// The one read buffer: clients are read one at a time.
    scratch: RefCell<Vec<u8>>,
    clients: Cell<usize>,
    /// The client whose origin was last announced (with `--tag`).
    announced: Cell<u64>,
    next_id: Cell<u64>,
    framing: Framing,
    tag: bool,
    max_line: usize,
    max_clients: usize,
    meter: Meter,
    /// Said once: a connection began like RFC 6587 octet counting without `--framing octet`.
    octet_hinted: Cell<bool>,
}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

struct Acceptor {
    listener: Listener,
    shared: Rc<Shared>,
    /// A streak of failed accepts (out of descriptors): said once when it begins, and how
    /// many more came when it ends, instead of a line every 100 ms.
    failing: u64,
}

impl Acceptor {
    /// A failed accept streak is over (a client was taken, or the run ends): say how long.
    fn streak_over(&mut self, how: &str) {
        if self.failing > 1 {
            crate::say!(
                "copipe: listen: the same error {} more times, {how}",
                self.failing - 1
            );
        }
        self.failing = 0;
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        self.streak_over("until the end");
        if let Listener::Unix(_, path) = &self.listener {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Task for Acceptor {
    fn resume(&mut self, cx: &mut Cx<'_>, _out: &mut dyn Stage) -> Result<Wait> {
        // A burst of connections is taken in parts, so that the clients get their turns.
        for _ in 0..256 {
            let accepted = match &self.listener {
                Listener::Tcp(l) => l.accept().map(|(s, peer)| {
                    let _ = s.set_nodelay(true);
                    (Conn::Tcp(s), peer.to_string())
                }),
                Listener::Unix(l, path) => l
                    .accept()
                    .map(|(s, _)| (Conn::Unix(s), path.display().to_string())),
            };
            match accepted {
                Ok((conn, peer)) => {
                    self.streak_over("until a client could be taken again");
                    let sh = &self.shared;
                    if sh.clients.get() >= sh.max_clients {
                        crate::say!(
                            "copipe: listen: refused {peer}: {} clients already (--max-clients)",
                            sh.max_clients
                        );
                        continue;
                    }
                    conn.set_nonblocking()?;
                    sh.clients.set(sh.clients.get() + 1);
                    let id = sh.next_id.get();
                    sh.next_id.set(id + 1);
                    cx.spawn(Box::new(Client::new(conn, peer, id, sh.clone())));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok(Wait::Readable(self.fd()));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Out of descriptors, most likely: wait a little rather than spin, and
                    // say it once; the clients already connected are served meanwhile.
                    if self.failing == 0 {
                        crate::say!(
                            "copipe: listen: cannot accept a client: {e} (said once; the \
                             clients already connected are still served, new ones wait)"
                        );
                    }
                    self.failing += 1;
                    return Ok(Wait::Until(cx.now + Duration::from_millis(100)));
                }
            }
        }
        Ok(Wait::Soon)
    }
}

impl Acceptor {
    fn fd(&self) -> RawFd {
        match &self.listener {
            Listener::Tcp(l) => l.as_raw_fd(),
            Listener::Unix(l, _) => l.as_raw_fd(),
        }
    }
}

enum Conn {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
}

impl Conn {
    fn set_nonblocking(&self) -> io::Result<()> {
        match self {
            Conn::Tcp(s) => s.set_nonblocking(true),
            Conn::Unix(s) => s.set_nonblocking(true),
        }
    }
    fn fd(&self) -> RawFd {
        match self {
            Conn::Tcp(s) => s.as_raw_fd(),
            Conn::Unix(s) => s.as_raw_fd(),
        }
    }
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.read(buf),
            Conn::Unix(s) => s.read(buf),
        }
    }
}

/// Where an octet-counted stream stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Octet {
    /// Reading the length: its value so far, and how many digits.
    Len(usize, u8),
    /// Reading a message: the bytes still to come.
    Msg(usize),
}

/// One client of a stream listener.
struct Client {
    conn: Conn,
    peer: String,
    id: u64,
    shared: Rc<Shared>,
    /// The line (or message) begun and not finished.
    partial: Vec<u8>,
    /// The line being received was cut: drop the rest of it.
    cutting: bool,
    warned: bool,
    octet: Octet,
    /// Nothing read from it yet.
    fresh: bool,
}

impl Client {
    fn new(conn: Conn, peer: String, id: u64, shared: Rc<Shared>) -> Self {
        Client {
            conn,
            peer,
            id,
            shared,
            partial: Vec::new(),
            cutting: false,
            warned: false,
            octet: Octet::Len(0, 0),
            fresh: true,
        }
    }

    fn announce(&self, out: &mut dyn Stage) -> Result<()> {
        if self.shared.tag && self.shared.announced.get() != self.id {
            self.shared.announced.set(self.id);
            out.origin(Origin {
                name: &self.peer,
                show: Show::Tag,
            })?;
        }
        Ok(())
    }

    /// Push whole lines (`batch` ends in `\n`).
    fn push_lines(&mut self, batch: &[u8], out: &mut dyn Stage) -> Result<Flow> {
        self.announce(out)?;
        let max = self.shared.max_line;
        if max >= READ {
            // A line within one read is never longer than the read.
            return out.send_lines(batch);
        }
        for line in lines(batch) {
            let flow = if line.len() > max {
                self.warn_cut();
                out.send(Item::Line(&line[..max]))?
            } else {
                out.send(Item::Line(line))?
            };
            if flow.is_stop() {
                return Ok(Flow::Stop);
            }
        }
        Ok(Flow::Continue)
    }

    fn push_one(&mut self, line: &[u8], out: &mut dyn Stage) -> Result<Flow> {
        self.announce(out)?;
        out.send(Item::Line(line))
    }

    /// Push the partial line as a line, and start afresh.
    fn push_partial(&mut self, out: &mut dyn Stage) -> Result<Flow> {
        let line = std::mem::take(&mut self.partial);
        let flow = self.push_one(&line, out);
        self.partial = line;
        self.partial.clear();
        flow
    }

    fn warn_cut(&mut self) {
        if !self.warned {
            self.warned = true;
            crate::say!(
                "copipe: listen: {}: a line longer than {} bytes was cut (--max-line)",
                self.peer,
                self.shared.max_line
            );
        }
    }

    /// Add to the partial line, within `--max-line`: past it, the line is pushed cut and
    /// the rest of it dropped.
    fn append(&mut self, bytes: &[u8], out: &mut dyn Stage) -> Result<Flow> {
        if self.cutting {
            return Ok(Flow::Continue);
        }
        let room = self.shared.max_line - self.partial.len();
        if bytes.len() <= room {
            self.partial.extend_from_slice(bytes);
            return Ok(Flow::Continue);
        }
        self.partial.extend_from_slice(&bytes[..room]);
        self.warn_cut();
        self.cutting = true;
        self.push_partial(out)
    }

    fn newline(&mut self, mut data: &[u8], out: &mut dyn Stage) -> Result<Flow> {
        if !self.partial.is_empty() || self.cutting {
            let Some(i) = memchr::memchr(b'\n', data) else {
                return self.append(data, out);
            };
            if self.append(&data[..i], out)?.is_stop() {
                return Ok(Flow::Stop);
            }
            let cut = std::mem::replace(&mut self.cutting, false);
            if !cut && self.push_partial(out)?.is_stop() {
                return Ok(Flow::Stop);
            }
            self.partial.clear();
            data = &data[i + 1..];
        }
        if let Some(j) = memchr::memrchr(b'\n', data) {
            if self.push_lines(&data[..=j], out)?.is_stop() {
                return Ok(Flow::Stop);
            }
            data = &data[j + 1..];
        }
        self.append(data, out)
    }

    /// RFC 6587 octet counting: `LEN SP MSG`, repeated.
    fn octets(&mut self, mut data: &[u8], out: &mut dyn Stage) -> Result<Option<Flow>> {
        while !data.is_empty() {
            match self.octet {
                Octet::Len(n, digits) => {
                    let b = data[0];
                    data = &data[1..];
                    match b {
                        b'0'..=b'9' if digits < 9 => {
                            self.octet = Octet::Len(n * 10 + usize::from(b - b'0'), digits + 1);
                        }
                        b' ' if digits > 0 => {
                            self.octet = Octet::Msg(n);
                            self.partial.clear();
                            self.cutting = false;
                        }
                        // Some senders end each message with a newline too.
                        b'\n' | b'\r' if digits == 0 => {}
                        _ => {
                            crate::say!(
                                "copipe: listen: {}: not an octet-counted frame (byte {:?}); closing the connection",
                                self.peer,
                                char::from(b)
                            );
                            return Ok(None);
                        }
                    }
                }
                Octet::Msg(left) => {
                    let take = left.min(data.len());
                    if self.append(&data[..take], out)?.is_stop() {
                        return Ok(Some(Flow::Stop));
                    }
                    data = &data[take..];
                    if take == left {
                        self.octet = Octet::Len(0, 0);
                        if self.end_message(out)?.is_stop() {
                            return Ok(Some(Flow::Stop));
                        }
                    } else {
                        self.octet = Octet::Msg(left - take);
                    }
                }
            }
        }
        Ok(Some(Flow::Continue))
    }

    /// A whole octet-counted message: its lines (a trailing newline ends the last one).
    fn end_message(&mut self, out: &mut dyn Stage) -> Result<Flow> {
        if std::mem::replace(&mut self.cutting, false) {
            self.partial.clear();
            return Ok(Flow::Continue);
        }
        let msg = std::mem::take(&mut self.partial);
        let body = msg.strip_suffix(b"\n").unwrap_or(&msg);
        self.announce(out)?;
        let mut flow = Flow::Continue;
        if memchr::memchr(b'\n', body).is_none() {
            flow = out.send(Item::Line(body))?;
        } else {
            for l in lines(body) {
                if out.send(Item::Line(l))?.is_stop() {
                    flow = Flow::Stop;
                    break;
                }
            }
        }
        self.partial = msg;
        self.partial.clear();
        Ok(flow)
    }

    /// The client has gone: its fragment is its last line.
    fn finish(&mut self, out: &mut dyn Stage) -> Result<Flow> {
        self.shared
            .clients
            .set(self.shared.clients.get().saturating_sub(1));
        if self.partial.is_empty() || self.cutting {
            return Ok(Flow::Continue);
        }
        match self.octet {
            Octet::Msg(_) => self.end_message(out),
            Octet::Len(..) => self.push_partial(out),
        }
    }
}

impl Task for Client {
    /// Reads until the socket would block, or at most [`READ`] bytes in one turn: then the
    /// client's next turn comes after the others'. (A short read is not taken to mean that
    /// the socket is empty: the end of the stream may be waiting behind it, and its edge
    /// has passed.)
    fn resume(&mut self, cx: &mut Cx<'_>, out: &mut dyn Stage) -> Result<Wait> {
        let shared = self.shared.clone();
        let mut scratch = shared.scratch.borrow_mut();
        let mut budget = READ;
        loop {
            let n = match self.conn.read(&mut scratch[..budget]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok(Wait::Readable(self.conn.fd()));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    crate::say!("copipe: listen: {}: {e}", self.peer);
                    0
                }
            };
            if n == 0 {
                if self.finish(out)?.is_stop() {
                    cx.stop_all();
                }
                cx.pushed();
                return Ok(Wait::Done);
            }
            shared.meter.read(n);
            cx.pushed();
            let data = &scratch[..n];
            if std::mem::take(&mut self.fresh)
                && shared.framing == Framing::Newline
                && looks_octet_counted(data)
                && !shared.octet_hinted.replace(true)
            {
                crate::say!(
                    "copipe: listen: {} begins like octet-counted syslog (RFC 6587: `LEN <PRI>…`); read it with --framing octet",
                    self.peer
                );
            }
            let flow = match shared.framing {
                Framing::Newline => self.newline(data, out)?,
                Framing::Octet => match self.octets(data, out)? {
                    Some(f) => f,
                    None => {
                        self.partial.clear();
                        let _ = self.finish(out)?;
                        return Ok(Wait::Done);
                    }
                },
            };
            if flow.is_stop() {
                cx.stop_all();
                return Ok(Wait::Done);
            }
            budget -= n;
            if budget == 0 {
                return Ok(Wait::Soon);
            }
        }
    }

    fn interrupted(&mut self, out: &mut dyn Stage) -> Result<bool> {
        let _ = self.finish(out)?;
        Ok(true)
    }
}

/// Whether the first bytes of a connection look like RFC 6587 octet counting:
/// `^[1-9][0-9]* <`.
fn looks_octet_counted(data: &[u8]) -> bool {
    let digits = data.iter().take_while(|b| b.is_ascii_digit()).count();
    digits > 0 && data[0] != b'0' && data[digits..].starts_with(b" <")
}

/// Bind a unix socket; a socket left behind by a crash (connecting to it is refused) is
/// removed first, said on stderr. Anything that is not a socket, or a socket someone
/// listens on, is never removed.
fn bind_unix(path: &std::path::Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::FileTypeExt;
    match UnixListener::bind(path) {
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            let stale = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket())
                && matches!(
                    std::os::unix::net::UnixStream::connect(path),
                    Err(c) if c.kind() == std::io::ErrorKind::ConnectionRefused
                );
            if !stale {
                return Err(e);
            }
            crate::say!(
                "copipe: listen: removing {}, a socket nobody listens on (left by a crash)",
                path.display()
            );
            std::fs::remove_file(path)?;
            UnixListener::bind(path)
        }
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octet_counting_is_recognised_by_its_first_bytes() {
        assert!(looks_octet_counted(
            b"57 <34>1 2026-12-01T10:00:00Z host app - - - hi"
        ));
        assert!(!looks_octet_counted(b"<34>1 2026-12-01T10:00:00Z host app"));
        assert!(!looks_octet_counted(b"07 <34>"));
        assert!(!looks_octet_counted(b"12 apples"));
        assert!(!looks_octet_counted(b""));
    }
}
