//! `listen udp://`: each datagram is one or more lines; the datagrams the kernel dropped are
//! counted and said.
//!
//! UDP has no flow control: when copipe (or what it writes to) is slower than the senders,
//! the socket's receive buffer fills and the kernel drops what comes next. So the buffer is
//! made large (`--rcvbuf`, 8 MiB by default: `SO_RCVBUFFORCE` where copipe may, else
//! `SO_RCVBUF`, which `net.core.rmem_max` caps), and every datagram read carries the
//! kernel's count of the datagrams it dropped on the socket (`SO_RXQ_OVFL`, read with
//! `recvmsg`): a rise is said on stderr (at most once a second), the total at the end, in
//! `--stats`, and the exit status is 2 when any was dropped. At the end the count is read
//! once more from `/proc/self/net/udp` (the `drops` column of this socket), which also
//! covers drops after the last datagram read. A signal reads what the socket already holds
//! before the run ends, so that a datagram is either emitted or counted.

use std::io::{self, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::Result;
use nix::sys::socket::{self, ControlMessageOwned, MsgFlags, SockaddrStorage, sockopt};

use super::Shared;
use crate::item::{Item, Origin, Show, lines};
use crate::protocol::Stage;
use crate::protocol::def::Status;
use crate::protocol::task::{Cx, Task, Wait};

/// How often a rise of the kernel's drop count is said, at most.
const SAY_EVERY: Duration = Duration::from_secs(1);

/// At most this many datagrams are read after a signal (what an 8 MiB buffer can hold of
/// small datagrams, and more).
const DRAIN_AT_MOST: usize = 1 << 20;

/// The receive buffer asked for and the one obtained.
#[derive(Clone, Copy, Debug)]
pub(super) struct Rcvbuf {
    pub asked: usize,
    pub obtained: usize,
    /// `--rcvbuf` was given on the command line (else it is the default).
    pub explicit: bool,
}

/// Size the socket's receive buffer and turn on the kernel's drop count. A buffer smaller
/// than asked is said at once when `--rcvbuf` was given, else with the first drops.
pub(super) fn prepare(s: &UdpSocket, asked: usize, explicit: bool) -> io::Result<Rcvbuf> {
    // The kernel doubles the value (for its bookkeeping) and keeps it in an int.
    let want = asked.min(i32::MAX as usize / 2);
    if socket::setsockopt(s, sockopt::RcvBufForce, &want).is_err() {
        // Not root nor CAP_NET_ADMIN: the plain option, capped by net.core.rmem_max.
        socket::setsockopt(s, sockopt::RcvBuf, &want).map_err(io::Error::from)?;
    }
    let obtained = socket::getsockopt(s, sockopt::RcvBuf).map_or(0, |n| n / 2);
    socket::setsockopt(s, sockopt::RxqOvfl, &1).map_err(io::Error::from)?;
    let r = Rcvbuf {
        asked,
        obtained,
        explicit,
    };
    if explicit && obtained < asked {
        crate::say!("copipe: listen: {}", smaller(&r));
    }
    Ok(r)
}

/// What to say of a buffer smaller than asked.
fn smaller(r: &Rcvbuf) -> String {
    let max = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map_or(String::new(), |m| format!(" ({m} bytes here)"));
    format!(
        "the receive buffer is {} bytes, not the {} of --rcvbuf: net.core.rmem_max{max} caps \
         it unless copipe runs as root or with CAP_NET_ADMIN",
        r.obtained, r.asked
    )
}

/// The kernel's count of the datagrams it dropped on the socket, and what of it was said.
struct Drops {
    /// The last cumulative value read (`SO_RXQ_OVFL` is a `u32` that wraps).
    raw: u32,
    /// Dropped since the start.
    total: u64,
    /// `total` when it was last said, and when.
    said: u64,
    said_at: Option<Instant>,
}

/// What a read of one datagram did.
#[derive(PartialEq, Eq)]
enum Got {
    /// The socket is empty.
    Nothing,
    /// Its lines were pushed.
    Pushed,
    /// The pipeline wants no more.
    Stop,
    /// The read failed (said).
    Failed,
}

/// A UDP listener: each datagram is one or more lines.
pub(super) struct Datagrams {
    socket: UdpSocket,
    shared: Rc<Shared>,
    status: Status,
    rcvbuf: Rcvbuf,
    last_peer: Option<SocketAddr>,
    peer: String,
    cmsg: Vec<u8>,
    drops: Drops,
}

impl Datagrams {
    pub(super) fn new(
        socket: UdpSocket,
        shared: Rc<Shared>,
        status: Status,
        rcvbuf: Rcvbuf,
    ) -> Self {
        Datagrams {
            socket,
            shared,
            status,
            rcvbuf,
            last_peer: None,
            peer: String::new(),
            cmsg: nix::cmsg_space!(u32),
            drops: Drops {
                raw: 0,
                total: 0,
                said: 0,
                said_at: None,
            },
        }
    }

    /// Read one datagram into `buf`: its length and sender, and the kernel's drop count if it
    /// came with one (the kernel sends it once the count is not zero).
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<(usize, Option<SocketAddr>, Option<u32>)> {
        let mut iov = [IoSliceMut::new(buf)];
        let msg = socket::recvmsg::<SockaddrStorage>(
            self.socket.as_raw_fd(),
            &mut iov,
            Some(&mut self.cmsg),
            MsgFlags::MSG_DONTWAIT,
        )
        .map_err(io::Error::from)?;
        let mut dropped = None;
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                if let ControlMessageOwned::RxqOvfl(n) = c {
                    dropped = Some(n);
                }
            }
        }
        let peer = msg.address.as_ref().and_then(|a| {
            if let Some(v4) = a.as_sockaddr_in() {
                Some(SocketAddr::V4((*v4).into()))
            } else {
                a.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into()))
            }
        });
        Ok((msg.bytes, peer, dropped))
    }

    /// The kernel's cumulative count was `raw`: count the rise, and say it (at most once a
    /// second).
    fn dropped(&mut self, raw: u32, now: Instant) {
        let rise = raw.wrapping_sub(self.drops.raw);
        self.drops.raw = raw;
        if rise == 0 {
            return;
        }
        self.drops.total += u64::from(rise);
        self.shared.meter.drop_datagrams(u64::from(rise));
        if self
            .drops
            .said_at
            .is_some_and(|t| now.duration_since(t) < SAY_EVERY)
        {
            return;
        }
        let first = self.drops.said_at.is_none();
        let n = self.drops.total - self.drops.said;
        self.drops.said = self.drops.total;
        self.drops.said_at = Some(now);
        let why = if first && self.rcvbuf.obtained < self.rcvbuf.asked && !self.rcvbuf.explicit {
            format!("; {}", smaller(&self.rcvbuf))
        } else {
            String::new()
        };
        crate::say!(
            "copipe: listen: {n} datagrams dropped by the kernel (receive buffer full){why}"
        );
    }

    /// Read one datagram and push its lines.
    fn one(&mut self, out: &mut dyn Stage, now: Instant) -> Result<Got> {
        let shared = self.shared.clone();
        let mut scratch = shared.scratch.borrow_mut();
        let (n, peer, dropped) = match self.recv(&mut scratch) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Got::Nothing),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(Got::Failed),
            Err(e) => {
                crate::say!("copipe: listen: {e}");
                return Ok(Got::Failed);
            }
        };
        if let Some(raw) = dropped {
            self.dropped(raw, now);
        }
        shared.meter.read(n);
        if shared.tag {
            if let Some(p) = peer
                && self.last_peer != Some(p)
            {
                self.last_peer = Some(p);
                self.peer = p.to_string();
            }
            out.origin(Origin {
                name: &self.peer,
                show: Show::Tag,
            })?;
        }
        let dgram = &scratch[..n];
        let body = dgram.strip_suffix(b"\n").unwrap_or(dgram);
        for l in lines(body) {
            let l = if l.len() > shared.max_line {
                crate::say!(
                    "copipe: listen: {}: a line longer than {} bytes was cut (--max-line)",
                    self.peer_name(peer),
                    shared.max_line
                );
                &l[..shared.max_line]
            } else {
                l
            };
            if out.send(Item::Line(l))?.is_stop() {
                return Ok(Got::Stop);
            }
        }
        Ok(Got::Pushed)
    }

    fn peer_name(&self, peer: Option<SocketAddr>) -> String {
        peer.map_or_else(|| "a sender".to_string(), |p| p.to_string())
    }
}

impl Task for Datagrams {
    fn resume(&mut self, cx: &mut Cx<'_>, out: &mut dyn Stage) -> Result<Wait> {
        for _ in 0..64 {
            match self.one(out, cx.now)? {
                Got::Nothing => return Ok(Wait::Readable(self.socket.as_raw_fd())),
                Got::Pushed => cx.pushed(),
                Got::Failed => {}
                Got::Stop => {
                    cx.pushed();
                    cx.stop_all();
                    return Ok(Wait::Done);
                }
            }
        }
        Ok(Wait::Soon)
    }

    /// What the socket holds when the signal comes was sent before it: emit it.
    fn interrupted(&mut self, out: &mut dyn Stage) -> Result<bool> {
        let now = Instant::now();
        for _ in 0..DRAIN_AT_MOST {
            if self.one(out, now)? != Got::Pushed {
                break;
            }
        }
        Ok(true)
    }
}

impl Drop for Datagrams {
    /// The total, counted once more by the kernel's table (drops after the last datagram
    /// read come with no datagram to carry them), said with the exit status 2.
    fn drop(&mut self) {
        if let Some(all) = proc_drops(&self.socket)
            && all > self.drops.total
        {
            self.shared.meter.drop_datagrams(all - self.drops.total);
            self.drops.total = all;
        }
        if self.drops.total > 0 {
            self.status.soft_error(&anyhow::anyhow!(
                "listen: {} datagrams dropped by the kernel in all (receive buffer full, {} \
                 bytes): the senders were faster than the pipeline; a larger --rcvbuf absorbs \
                 longer bursts",
                self.drops.total,
                self.rcvbuf.obtained
            ));
        }
    }
}

/// The `drops` column of this socket in `/proc/self/net/udp` (or `udp6`), found by its
/// inode.
fn proc_drops(s: &UdpSocket) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    let inode = std::fs::metadata(format!("/proc/self/fd/{}", s.as_raw_fd()))
        .ok()?
        .ino();
    let table = if s.local_addr().ok()?.is_ipv4() {
        "/proc/self/net/udp"
    } else {
        "/proc/self/net/udp6"
    };
    drops_of(&std::fs::read_to_string(table).ok()?, inode)
}

/// In a `/proc/net/udp` table, the `drops` (last) column of the socket with this inode.
fn drops_of(table: &str, inode: u64) -> Option<u64> {
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() >= 13 && f[9].parse::<u64>().ok() == Some(inode))
            .then(|| f[f.len() - 1].parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drops_column_is_read_from_the_sockets_row() {
        let table = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
  123: 0100007F:A2B4 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 55501 2 0000000000000000 0\n\
  124: 0100007F:A2B5 00000000:0000 07 00000000:00002400 00:00000000 00000000     0        0 55502 2 0000000000000000 4821\n";
        assert_eq!(drops_of(table, 55502), Some(4821));
        assert_eq!(drops_of(table, 55501), Some(0));
        assert_eq!(drops_of(table, 1), None);
    }

    #[test]
    fn a_socket_reads_its_own_drop_count_from_proc() {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_eq!(proc_drops(&s), Some(0));
    }
}
