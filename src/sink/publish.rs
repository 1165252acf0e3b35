//! `publish nats://HOST:PORT SUBJECT` — a sink to NATS: each line a message, records and
//! events as compact JSON.
//!
//! The client (the official `async-nats` crate) runs on a thread of its own, on a tokio
//! current-thread runtime, fed through a bounded queue of batches (`engine::handoff`, as
//! `send`'s socket thread is; awaited there through its wake socket).
//! With `--jetstream` every message is acknowledged by the server before it counts as
//! delivered; up to `--window` acknowledgements are outstanding at a time. Every message
//! carries a `Nats-Msg-Id` (this run's id and the message's number), so a message sent again
//! after a lost acknowledgement is recognised by the server as a duplicate (counted) within
//! the stream's duplicate window instead of stored twice.
//!
//! When the server is unreachable or restarts, the unacknowledged messages (at most
//! `--buffer`) wait and are sent again, in order, with a growing backoff. At the end it
//! waits at most `--drain-timeout` for the outstanding acknowledgements and says how many
//! were not confirmed (exit status 2 if any, or if any were dropped with `--when-full drop`).
//!
//! End-to-end acknowledgements: the sink registers a [`Delivery`] in the run's status,
//! counting the items it takes and, on the NATS thread, the items confirmed in order from
//! the first (acknowledged, or dropped by `--when-full drop`): a `follow --state`
//! checkpoint advances only past lines whose messages are confirmed.

use std::collections::VecDeque;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use async_nats::{HeaderMap, Subject};
use bytes::Bytes;
use clap::{ArgMatches, FromArgMatches, Parser};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use crate::engine::handoff::{self, AsyncRx, Handed};
use crate::item::{Item, Kind, Origin, lines, render};
use crate::nats::{Conn, Login};
use crate::protocol::def::{Build, BuildCx, Emits, Role, StageDef, Status};
use crate::protocol::{Flow, Stage};
use crate::runtime::delivery::{Delivery, WhenFull};
use crate::runtime::signal::Interrupt;
use crate::runtime::units::parse_duration;

/// Publish each item as a NATS message (records as compact JSON); with `--jetstream`, each
/// one acknowledged by the server.
///
/// While the server is down, up to `--buffer` unconfirmed items wait and are sent again
/// with a growing backoff; `--when-full` says what happens beyond. At the end it waits at
/// most `--drain-timeout` for the acknowledgements, then says how many were not confirmed
/// (exit status 2 if any).
///
/// End to end: after `follow --state`, the checkpoint advances only past lines whose
/// messages the server acknowledged (or that a filter dropped on the way), so copipe or the
/// server killed at any moment loses no line; the lines after the last checkpoint are
/// published again at the restart.
#[derive(Parser)]
#[command(name = "publish", disable_version_flag = true)]
pub struct Args {
    /// The server: `nats://HOST:PORT` (`tls://HOST:PORT` for TLS).
    pub url: String,
    /// The subject of every message (the fallback with `--subject-from`).
    pub subject: String,
    /// Take a record's subject from this field (records without it use SUBJECT).
    #[arg(long, value_name = "FIELD")]
    pub subject_from: Option<String>,
    /// Add a header NAME whose value is a record's FIELD (repeatable).
    #[arg(long, value_name = "NAME=FIELD")]
    pub header: Vec<String>,
    /// Publish to JetStream: each message counts as delivered once the server acknowledged it.
    #[arg(long)]
    pub jetstream: bool,
    /// With `--jetstream`: create this stream (capturing SUBJECT) if it does not exist.
    #[arg(long, value_name = "NAME", requires = "jetstream")]
    pub stream: Option<String>,
    /// The replicas of a stream created by `--stream`.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub replicas: usize,
    /// How many acknowledgements may be outstanding at a time.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub window: usize,
    /// How many unconfirmed items may wait for the server.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub buffer: usize,
    /// When the buffer is full: `block` the pipeline until there is room, or `drop` the
    /// newest items (counted, reported at the end).
    #[arg(long, value_enum, default_value_t = WhenFull::Block)]
    pub when_full: WhenFull,
    /// At the end, how long to wait for the outstanding items to be confirmed.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    pub drain_timeout: Duration,
    #[command(flatten)]
    pub login: Login,
}

pub const DEF: StageDef = StageDef {
    name: "publish",
    aliases: &[],
    role: Role::Sink,
    summary: "publish items as NATS messages, JetStream-acknowledged with --jetstream",
    accepts: Kind::ALL,
    emits: Emits::Nothing,
    examples: &[
        "copipe follow app.log : publish --jetstream nats://127.0.0.1:4222 logs.app",
        "copipe cat app.log : json : publish --subject-from service nats://10.0.0.2:4222 logs.other",
    ],
    command: <Args as clap::CommandFactory>::command,
    fusion: None,
    build: Build::Sink(build),
};

/// The bytes handed to the NATS thread at a time.
const BATCH: usize = 256 * 1024;

/// One batch: payloads back to back, the subjects taken from fields back to back, and per
/// message its end, its subject's end (`--subject-from`) and headers.
#[derive(Default)]
struct Batch {
    data: Vec<u8>,
    subjects: Vec<u8>,
    msgs: Vec<Msg>,
}

struct Msg {
    end: usize,
    /// The subject is `subjects[start..end]` (the previous message's end as start) when
    /// it was taken from a field: sliced from one buffer per batch, no allocation.
    subject_end: Option<usize>,
    /// async-nats' `HeaderMap` is a map of owned strings: one allocation per message
    /// with headers, the client allows no other way.
    headers: Option<HeaderMap>,
}

fn build(m: &ArgMatches, cx: &BuildCx<'_>) -> Result<Box<dyn Stage>> {
    let a = Args::from_arg_matches(m)?;
    Conn::check_url(&a.url)?;
    if a.buffer == 0 || a.window == 0 {
        bail!("--buffer and --window must be at least 1");
    }
    let mut headers = Vec::new();
    for h in &a.header {
        let Some((name, field)) = h.split_once('=') else {
            bail!("--header {h}: expected NAME=FIELD");
        };
        headers.push((name.to_string(), field.to_string()));
    }
    let conn = a.login.conn(&a.url);
    let name = format!("{} {}", a.url, a.subject);
    let (tx, rx) = handoff::channel::<Batch, ()>(2, true)?;
    let delivery = Delivery::new(a.drain_timeout);
    cx.status.add_delivery(delivery.clone());
    let pubr = Publisher {
        conn,
        name: name.clone(),
        subject: Subject::from(a.subject.as_str()),
        jetstream: a.jetstream,
        stream: a.stream.clone(),
        replicas: a.replicas,
        window: a.window,
        buffer: a.buffer,
        when_full: a.when_full,
        drain: a.drain_timeout,
        delivery: delivery.clone(),
        interrupt: cx.interrupt.clone(),
    };
    let ended = delivery.clone();
    let thread = std::thread::Builder::new()
        .name("copipe-publish".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| anyhow!("cannot start the NATS thread: {e}"))?;
            let r = rt.block_on(pubr.run(rx));
            ended.end();
            r
        })?;
    Ok(Box::new(Publish {
        batch: Batch::default(),
        tx: Some(tx),
        thread: Some(thread),
        status: cx.status.clone(),
        name,
        subject_from: a.subject_from,
        headers,
        delivery,
        interrupt: cx.interrupt.clone(),
        given_up: 0,
    }))
}

struct Publish {
    batch: Batch,
    tx: Option<handoff::Tx<Batch, ()>>,
    thread: Option<JoinHandle<Result<Outcome>>>,
    status: Status,
    name: String,
    subject_from: Option<String>,
    headers: Vec<(String, String)>,
    /// What it took and what the server confirmed (end-to-end acknowledgements).
    delivery: Arc<Delivery>,
    /// A signal ends a wait for room: the items it was handing over are not delivered.
    interrupt: Interrupt,
    given_up: u64,
}

impl Publish {
    fn hand_over(&mut self) -> Flow {
        if self.batch.msgs.is_empty() {
            return Flow::Continue;
        }
        let mut next = Batch::default();
        next.data.reserve(BATCH + 1024);
        let batch = std::mem::replace(&mut self.batch, next);
        let Some(tx) = &self.tx else {
            return Flow::Stop;
        };
        // Wait for room, but never past a signal (Ctrl-C with the server down must end
        // copipe at once, counting what was not delivered).
        let n = batch.msgs.len() as u64;
        match tx.send_unless(batch, &self.interrupt) {
            Handed::Sent => Flow::Continue,
            Handed::Interrupted => {
                self.given_up += n;
                Flow::Stop
            }
            Handed::Gone => Flow::Stop,
        }
    }

    fn pushed(&mut self) -> Flow {
        if self.batch.data.len() >= BATCH || self.batch.msgs.len() >= 8192 {
            self.hand_over()
        } else {
            Flow::Continue
        }
    }
}

impl Stage for Publish {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        render(&mut self.batch.data, &item);
        let (mut subject_end, mut headers) = (None, None);
        if let Item::Record(r) = item {
            if let Some(f) = &self.subject_from
                && let Some(v) = r.get(f)
                && !v.text().is_empty()
            {
                self.batch.subjects.extend_from_slice(v.text().as_bytes());
                subject_end = Some(self.batch.subjects.len());
            }
            for (name, field) in &self.headers {
                if let Some(v) = r.get(field) {
                    headers
                        .get_or_insert_with(HeaderMap::new)
                        .insert(name.as_str(), v.text());
                }
            }
        }
        self.batch.msgs.push(Msg {
            end: self.batch.data.len(),
            subject_end,
            headers,
        });
        self.delivery.took(1);
        self.status.mark_delivered();
        Ok(self.pushed())
    }

    fn send_lines(&mut self, batch: &[u8]) -> Result<Flow> {
        if batch.is_empty() {
            return Ok(Flow::Continue);
        }
        let before = self.batch.msgs.len();
        for line in lines(batch) {
            self.batch.data.extend_from_slice(line);
            self.batch.msgs.push(Msg {
                end: self.batch.data.len(),
                subject_end: None,
                headers: None,
            });
        }
        self.delivery.took((self.batch.msgs.len() - before) as u64);
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
        let o = t
            .join()
            .map_err(|_| anyhow!("publish {}: the NATS thread failed", self.name))??;
        let o = Outcome {
            undelivered: o.undelivered + self.given_up,
            ..o
        };
        self.delivery.count(o.dropped, o.duplicates);
        if o.duplicates > 0 {
            crate::say!(
                "copipe: publish {}: {} messages sent again were recognised as duplicates",
                self.name,
                o.duplicates
            );
        }
        if o.undelivered > 0 || o.dropped > 0 {
            self.status.soft_error(&anyhow!(
                "publish {}: {} items not confirmed ({} dropped when the buffer was full, {} still unacknowledged at the end)",
                self.name,
                o.undelivered + o.dropped,
                o.dropped,
                o.undelivered
            ));
        }
        Ok(())
    }
}

/// How long the items waiting may still go out after Ctrl-C or SIGTERM.
const SIGNAL_DRAIN: Duration = Duration::from_millis(500);

/// The items of the batches still in the queue (handed over, never sent).
fn unsent(rx: &AsyncRx<Batch, ()>) -> u64 {
    let mut n = 0;
    while let Some(Ok(b)) = rx.try_recv() {
        n += b.msgs.len() as u64;
    }
    n
}

/// How the NATS thread ended.
struct Outcome {
    dropped: u64,
    undelivered: u64,
    duplicates: u64,
}

struct Publisher {
    conn: Conn,
    name: String,
    subject: Subject,
    jetstream: bool,
    stream: Option<String>,
    replicas: usize,
    window: usize,
    buffer: usize,
    when_full: WhenFull,
    drain: Duration,
    delivery: Arc<Delivery>,
    interrupt: Interrupt,
}

/// A message waiting for its acknowledgement.
struct Slot {
    subject: Subject,
    headers: Option<HeaderMap>,
    payload: Bytes,
    state: State,
    /// Items dropped (`--when-full drop`) right after this one: confirmed with it.
    dropped_after: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    InFlight,
    Acked,
}

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// A pending acknowledgement: the message's number (or, for a core-NATS flush, the number
/// of messages it covers), whether it is a flush, and the outcome (`true`: a duplicate).
type AckFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = (u64, bool, Result<bool, String>)> + std::marker::Send>,
>;

impl Publisher {
    /// Queue a batch's messages (with `drop`, those beyond the buffer are counted instead).
    fn take(&self, b: Batch, slots: &mut VecDeque<Slot>, dropped: &mut u64) {
        let data = Bytes::from(b.data);
        let subjects = Bytes::from(b.subjects);
        let (mut start, mut subject_start) = (0, 0);
        for m in b.msgs {
            let subject = match m.subject_end {
                Some(end) => {
                    let s = subjects.slice(subject_start..end);
                    subject_start = end;
                    // Taken from a field's text: UTF-8 already.
                    Subject::from_utf8(s).unwrap_or_else(|_| self.subject.clone())
                }
                None => self.subject.clone(),
            };
            if slots.len() >= self.buffer && self.when_full == WhenFull::Drop {
                *dropped += 1;
                if let Some(last) = slots.back_mut() {
                    last.dropped_after += 1;
                }
            } else {
                slots.push_back(Slot {
                    subject,
                    headers: m.headers,
                    payload: data.slice(start..m.end),
                    state: State::Waiting,
                    dropped_after: 0,
                });
            }
            start = m.end;
        }
    }

    /// After Ctrl-C or SIGTERM, what waits gets half a second more, then is counted.
    fn signalled(&self, ended: &mut Option<Instant>, drain: &mut Duration) {
        if self.interrupt.pending().is_some() && *drain > SIGNAL_DRAIN {
            *drain = SIGNAL_DRAIN;
            if ended.is_none() {
                *ended = Some(Instant::now());
            }
        }
    }

    async fn run(self, rx: handoff::Rx<Batch, ()>) -> Result<Outcome> {
        let rx = rx
            .into_async()
            .map_err(|e| anyhow!("publish {}: cannot wait for items: {e}", self.name))?;
        // slots[i] is message number base + i.
        let mut slots: VecDeque<Slot> = VecDeque::new();
        let mut dropped = 0u64;
        let mut ended: Option<Instant> = None;
        let mut drain = self.drain;
        // The first connection is waited for (the server may be starting); a wrong
        // address or refused credentials are said at once.
        let client = {
            let mut backoff = FIRST_BACKOFF;
            let mut noted = false;
            loop {
                match self
                    .conn
                    .options()
                    .await?
                    .connect(self.conn.url.as_str())
                    .await
                {
                    Ok(c) => break c,
                    Err(e) => {
                        use async_nats::ConnectErrorKind as K;
                        if matches!(
                            e.kind(),
                            K::Authentication | K::AuthorizationViolation | K::Tls | K::ServerParse
                        ) {
                            bail!("publish {}: {e}", self.name);
                        }
                        if !noted {
                            crate::say!(
                                "copipe: publish {}: cannot reach the server: {e}; retrying",
                                self.name
                            );
                            noted = true;
                        }
                        // Meanwhile take items while there is room, and give up once the
                        // input ended and the drain time is over.
                        let retry = tokio::time::Instant::now() + backoff;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        loop {
                            self.signalled(&mut ended, &mut drain);
                            if let Some(at) = ended
                                && at.elapsed() >= drain
                            {
                                return Ok(Outcome {
                                    dropped,
                                    undelivered: slots.len() as u64 + unsent(&rx),
                                    duplicates: 0,
                                });
                            }
                            let room = ended.is_none()
                                && (slots.len() < self.buffer || self.when_full == WhenFull::Drop);
                            tokio::select! {
                                b = rx.recv(), if room => match b {
                                    Some(b) => self.take(b, &mut slots, &mut dropped),
                                    None => ended = Some(Instant::now()),
                                },
                                _ = tokio::time::sleep_until(retry) => break,
                                // (Awake now and then to see a signal.)
                                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                            }
                        }
                    }
                }
            }
        };
        let js = async_nats::jetstream::new(client.clone());
        if self.jetstream
            && let Some(name) = &self.stream
        {
            js.get_or_create_stream(async_nats::jetstream::stream::Config {
                name: name.clone(),
                subjects: vec![self.subject.to_string()],
                num_replicas: self.replicas,
                ..Default::default()
            })
            .await
            .map_err(|e| {
                anyhow!(
                    "publish {}: cannot create the stream {name}: {e}",
                    self.name
                )
            })?;
        }
        let run_id = format!(
            "{:x}-{:x}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        );

        let mut base = 0u64;
        // Items confirmed in order from the first (those dropped included).
        let mut confirmed = 0u64;
        let mut next = 0usize; // the first slot not yet sent (since the last rewind)
        let mut inflight: FuturesUnordered<AckFuture> = FuturesUnordered::new();
        let mut duplicates = 0u64;
        let mut failing = false;
        let mut backoff = FIRST_BACKOFF;
        let mut retry_at: Option<Instant> = None;
        let mut noted = false;
        let mut id = String::new();
        loop {
            self.signalled(&mut ended, &mut drain);
            if let Some(at) = ended {
                let done = slots.is_empty() && inflight.is_empty();
                if done || at.elapsed() >= drain {
                    let undelivered = slots.iter().filter(|s| s.state != State::Acked).count();
                    return Ok(Outcome {
                        dropped,
                        undelivered: undelivered as u64 + unsent(&rx),
                        duplicates,
                    });
                }
            }
            // Send what the window allows.
            if !failing && retry_at.is_none_or(|t| Instant::now() >= t) {
                retry_at = None;
                while next < slots.len() && inflight.len() < self.window {
                    let s = &mut slots[next];
                    if s.state != State::Waiting {
                        next += 1;
                        continue;
                    }
                    let n = base + next as u64;
                    if self.jetstream {
                        let mut h = s.headers.clone().unwrap_or_default();
                        id.clear();
                        use std::fmt::Write;
                        let _ = write!(id, "{run_id}-{n}");
                        h.insert(async_nats::header::NATS_MESSAGE_ID, id.as_str());
                        match js
                            .publish_with_headers(s.subject.clone(), h, s.payload.clone())
                            .await
                        {
                            Ok(ack) => {
                                s.state = State::InFlight;
                                inflight.push(Box::pin(async move {
                                    let r = ack.await.map(|a| a.duplicate);
                                    (n, false, r.map_err(|e| e.to_string()))
                                }));
                            }
                            Err(e) => {
                                if !noted {
                                    crate::say!("copipe: publish {}: {e}; retrying", self.name);
                                    noted = true;
                                }
                                failing = true;
                                break;
                            }
                        }
                    } else {
                        let r = match &s.headers {
                            Some(h) => {
                                client
                                    .publish_with_headers(
                                        s.subject.clone(),
                                        h.clone(),
                                        s.payload.clone(),
                                    )
                                    .await
                            }
                            None => client.publish(s.subject.clone(), s.payload.clone()).await,
                        };
                        if r.is_err() {
                            failing = true;
                            break;
                        }
                        s.state = State::InFlight;
                    }
                    next += 1;
                }
                if !self.jetstream && next > 0 && inflight.is_empty() {
                    // Core NATS: delivered once written to the server.
                    let c = client.clone();
                    let upto = base + next as u64;
                    inflight.push(Box::pin(async move {
                        let r = c.flush().await.map(|_| false);
                        (upto, true, r.map_err(|e| e.to_string()))
                    }));
                }
            }
            // Forget the acknowledged prefix.
            while slots.front().is_some_and(|s| s.state == State::Acked) {
                let s = slots.pop_front().expect("a front slot");
                base += 1;
                confirmed += 1 + s.dropped_after;
                next = next.saturating_sub(1);
                self.delivery.confirm(confirmed);
            }
            if failing && inflight.is_empty() {
                // Everything sent is settled: send the rest again, in order, after a pause.
                failing = false;
                next = 0;
                retry_at = Some(Instant::now() + backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            let room =
                ended.is_none() && (slots.len() < self.buffer || self.when_full == WhenFull::Drop);
            let tick = tokio::time::sleep(Duration::from_millis(50));
            tokio::select! {
                b = rx.recv(), if room => match b {
                    Some(b) => self.take(b, &mut slots, &mut dropped),
                    None => ended = Some(Instant::now()),
                },
                Some((n, flush, r)) = inflight.next(), if !inflight.is_empty() => match r {
                    Ok(dup) => {
                        if flush {
                            for s in slots.iter_mut().take(n.saturating_sub(base) as usize) {
                                s.state = State::Acked;
                            }
                        } else if n >= base {
                            slots[(n - base) as usize].state = State::Acked;
                            duplicates += dup as u64;
                        }
                        if noted {
                            crate::say!("copipe: publish {}: delivering again", self.name);
                            noted = false;
                        }
                        backoff = FIRST_BACKOFF;
                    }
                    Err(e) => {
                        if flush {
                            for s in slots.iter_mut().take(n.saturating_sub(base) as usize) {
                                s.state = State::Waiting;
                            }
                        } else if n >= base {
                            slots[(n - base) as usize].state = State::Waiting;
                        }
                        if !noted {
                            crate::say!("copipe: publish {}: {e}; retrying", self.name);
                            noted = true;
                        }
                        failing = true;
                    }
                },
                _ = tick => {}
            }
        }
    }
}
