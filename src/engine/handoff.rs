//! The one way a batch goes to another thread: a bounded queue of messages (the sender waits
//! while `depth` are in flight), the emptied batches coming back to be filled again (no
//! allocation per batch once the run is going), and, for a receiver that is a task of the
//! scheduler, a socket that wakes it — or, for a receiver on a tokio runtime, the same socket
//! awaited ([`AsyncRx`]). The thread bridge (a bridged source's batches to the scheduler
//! thread), `send` (items to its socket thread) and `publish` (items to its NATS thread)
//! hand over through it.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TryRecvError};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::runtime::signal::Interrupt;

/// The sending end: messages `M` go, emptied containers `S` come back.
pub struct Tx<M, S> {
    queue: SyncSender<M>,
    spare: Receiver<S>,
    wake: Option<UnixStream>,
}

/// The receiving end.
pub struct Rx<M, S> {
    queue: Receiver<M>,
    spare: Sender<S>,
    wake: Option<UnixStream>,
}

/// A hand-off of `depth` messages in flight; `wake`: the receiver is a scheduler task that
/// needs a descriptor to wait on ([`Rx::fd`]).
pub fn channel<M, S>(depth: usize, wake: bool) -> Result<(Tx<M, S>, Rx<M, S>)> {
    let (queue_tx, queue_rx) = mpsc::sync_channel(depth);
    let (spare_tx, spare_rx) = mpsc::channel();
    let (wtx, wrx) = if wake {
        let (a, b) = UnixStream::pair().context("cannot create the bridge's wake socket")?;
        a.set_nonblocking(true)?;
        b.set_nonblocking(true)?;
        (Some(a), Some(b))
    } else {
        (None, None)
    };
    Ok((
        Tx {
            queue: queue_tx,
            spare: spare_rx,
            wake: wtx,
        },
        Rx {
            queue: queue_rx,
            spare: spare_tx,
            wake: wrx,
        },
    ))
}

/// What became of a message handed over with [`Tx::send_unless`].
#[derive(Debug, PartialEq, Eq)]
pub enum Handed {
    Sent,
    /// The receiver has gone.
    Gone,
    /// A signal came while the queue was full: the message was not handed over.
    Interrupted,
}

impl<M, S> Tx<M, S> {
    /// A container the receiver gave back, emptied, when there is one.
    pub fn spare(&self) -> Option<S> {
        self.spare.try_recv().ok()
    }

    /// Hand a message over, waiting while the queue is full; `false` when the receiver has
    /// gone (the pipeline stopped).
    pub fn send(&self, msg: M) -> bool {
        if self.queue.send(msg).is_err() {
            return false;
        }
        self.wake();
        true
    }

    /// Hand a message over, waiting while the queue is full, but never past a signal (a
    /// Ctrl-C while the receiver cannot take more must end the run at once).
    pub fn send_unless(&self, mut msg: M, interrupt: &Interrupt) -> Handed {
        loop {
            if interrupt.pending().is_some() {
                return Handed::Interrupted;
            }
            match self.queue.try_send(msg) {
                Ok(()) => {
                    self.wake();
                    return Handed::Sent;
                }
                Err(mpsc::TrySendError::Full(m)) => {
                    msg = m;
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(mpsc::TrySendError::Disconnected(_)) => return Handed::Gone,
            }
        }
    }

    fn wake(&self) {
        if let Some(w) = &self.wake {
            // A full socket already holds a wake-up.
            let _ = (&*w).write(&[1]);
        }
    }
}

impl<M, S> Rx<M, S> {
    /// The descriptor to wait on (readable when a message may be there).
    pub fn fd(&self) -> Option<RawFd> {
        self.wake.as_ref().map(AsRawFd::as_raw_fd)
    }

    /// A message if one is there; `Some(Err(()))` once the sender has gone and the queue is
    /// empty.
    pub fn try_recv(&self) -> Option<Result<M, ()>> {
        take(&self.queue)
    }

    /// Wait at most `timeout` for a message.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<M, RecvTimeoutError> {
        self.queue.recv_timeout(timeout)
    }

    /// Empty the wake socket (before taking the messages, so that a message sent after the
    /// last one taken always leaves a wake-up behind).
    pub fn drain_wakes(&self) {
        if let Some(w) = &self.wake {
            let mut sink = [0u8; 256];
            while matches!((&*w).read(&mut sink), Ok(n) if n > 0) {}
        }
    }

    /// Give an emptied container back to the sender.
    pub fn recycle(&self, spare: S) {
        let _ = self.spare.send(spare);
    }
}

impl<M, S> Rx<M, S> {
    /// The receiving end for a task of a tokio runtime (called on it: the wake socket is
    /// registered with its reactor). The channel must have been made with `wake`.
    pub fn into_async(self) -> io::Result<AsyncRx<M, S>> {
        let Some(wake) = self.wake else {
            return Err(io::Error::other("a hand-off made without a wake socket"));
        };
        Ok(AsyncRx {
            queue: self.queue,
            spare: self.spare,
            wake: tokio::net::UnixStream::from_std(wake)?,
        })
    }
}

/// The receiving end, awaited on a tokio runtime: [`AsyncRx::recv`] sleeps on the wake
/// socket until a message comes or the sender goes.
pub struct AsyncRx<M, S> {
    queue: Receiver<M>,
    spare: Sender<S>,
    wake: tokio::net::UnixStream,
}

/// A message if one is there; `Some(Err(()))` once the sender has gone and the queue is
/// empty.
fn take<M>(queue: &Receiver<M>) -> Option<Result<M, ()>> {
    match queue.try_recv() {
        Ok(m) => Some(Ok(m)),
        Err(TryRecvError::Empty) => None,
        Err(TryRecvError::Disconnected) => Some(Err(())),
    }
}

impl<M, S> AsyncRx<M, S> {
    /// The next message; `None` once the sender has gone and the queue is empty. Safe to
    /// cancel (in `select!`): a message is taken only when it is returned.
    pub async fn recv(&self) -> Option<M> {
        loop {
            if let Some(m) = take(&self.queue) {
                return m.ok();
            }
            if self.wake.readable().await.is_err() {
                // The reactor failed (it does not): look at the queue now and then.
                tokio::time::sleep(Duration::from_millis(2)).await;
                continue;
            }
            // Empty the socket (the readiness is cleared when nothing is left), then look
            // at the queue again: a message is in it before its wake-up is written. At the
            // end of the socket (the sender gone) the readiness stays, and the queue says
            // the rest.
            let mut sink = [0u8; 256];
            loop {
                match self.wake.try_read(&mut sink) {
                    Ok(n) if n > 0 => {}
                    _ => break,
                }
            }
        }
    }

    /// A message if one is there; `Some(Err(()))` once the sender has gone and the queue is
    /// empty.
    pub fn try_recv(&self) -> Option<Result<M, ()>> {
        take(&self.queue)
    }

    /// Give an emptied container back to the sender.
    pub fn recycle(&self, spare: S) {
        let _ = self.spare.send(spare);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_go_in_order_and_containers_come_back() {
        let (tx, rx) = channel::<Vec<u8>, Vec<u8>>(2, true).unwrap();
        assert!(tx.spare().is_none());
        let t = std::thread::spawn(move || {
            for i in 0..10u8 {
                assert!(tx.send(vec![i]));
            }
        });
        let mut got = Vec::new();
        while got.len() < 10 {
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(m) => {
                    got.push(m[0]);
                    rx.recycle(Vec::with_capacity(8));
                }
                Err(e) => panic!("{e}"),
            }
        }
        t.join().unwrap();
        assert_eq!(got, (0..10).collect::<Vec<u8>>());
        assert!(rx.fd().is_some());
        rx.drain_wakes();
        assert_eq!(rx.try_recv(), Some(Err(())), "the sender has gone");
    }

    // The signal's case (`Handed::Interrupted`) is tested with real signals in
    // tests/it/delivery.rs (the first signal ends `send` with a full buffer).
    #[test]
    fn a_full_queue_waits_for_room_and_not_for_a_gone_receiver() {
        let (tx, rx) = channel::<u8, ()>(1, false).unwrap();
        let interrupt = Interrupt::none();
        assert_eq!(tx.send_unless(1, &interrupt), Handed::Sent);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            let first = rx.recv_timeout(Duration::from_secs(10)).unwrap();
            let second = rx.recv_timeout(Duration::from_secs(10)).unwrap();
            (first, second)
        });
        // Full: waits until the receiver took the first.
        assert_eq!(tx.send_unless(2, &interrupt), Handed::Sent);
        assert_eq!(t.join().unwrap(), (1, 2));
        assert_eq!(tx.send_unless(3, &interrupt), Handed::Gone);
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn an_async_receiver_wakes_for_each_message_and_ends_with_the_sender() {
        let (tx, rx) = channel::<u32, ()>(2, true).unwrap();
        let rt = runtime();
        let t = std::thread::spawn(move || {
            let interrupt = Interrupt::none();
            for i in 0..1000u32 {
                assert_eq!(tx.send_unless(i, &interrupt), Handed::Sent);
                if i % 100 == 0 {
                    // The receiver asleep on the socket when the next one comes.
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        });
        let got = rt.block_on(async move {
            let rx = rx.into_async().unwrap();
            let mut got = Vec::new();
            let deadline = tokio::time::sleep(Duration::from_secs(20));
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    m = rx.recv() => match m {
                        Some(m) => got.push(m),
                        None => break,
                    },
                    _ = &mut deadline => panic!("stuck after {} messages", got.len()),
                }
            }
            assert_eq!(rx.try_recv(), Some(Err(())));
            got
        });
        t.join().unwrap();
        assert_eq!(got, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn an_async_receiver_needs_the_wake_socket() {
        let (_tx, rx) = channel::<u32, ()>(1, false).unwrap();
        let rt = runtime();
        rt.block_on(async move { assert!(rx.into_async().is_err()) });
    }
}
