//! `subscribe nats://HOST:PORT SUBJECT` — a source of NATS messages, each payload a line.
//!
//! Core NATS (at most once) by default; with `--durable NAME`, a durable JetStream pull
//! consumer on `--stream NAME` (or the stream that captures SUBJECT), starting `--from` the
//! beginning, new messages, the last, a sequence or a time. A batch of messages is pushed
//! down the chain, the chain is flushed — through the scheduler's thread bridge too, where
//! the source waits until the scheduler thread replayed and flushed the batch
//! ([`Written::flush_through`](crate::protocol::Written::flush_through)) — and only then are its messages acknowledged
//! (each: explicit policy), so a consumer stopped or killed
//! resumes after what it handed on: redeliveries are possible, loss is not.
//!
//! The client (`async-nats`) runs on a tokio current-thread runtime owned by the source;
//! it connects and finds the stream while the pipeline is built, so a wrong address or a
//! missing stream is an error before anything is read.

use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use clap::{ArgMatches, FromArgMatches, Parser};
use futures_util::{FutureExt, StreamExt};

use crate::item::Kind;
use crate::nats::{Conn, Login};
use crate::protocol::def::{Build, BuildCx, Emits, Role, StageDef, Status};
use crate::protocol::{Source, Stage, Written};
use crate::runtime::signal::Interrupt;

/// Emit the payloads of the NATS messages on SUBJECT, one line each; with `--durable`,
/// from a JetStream stream, each acknowledged once the sinks have written it.
#[derive(Parser)]
#[command(name = "subscribe", disable_version_flag = true)]
pub struct Args {
    /// The server: `nats://HOST:PORT` (`tls://HOST:PORT` for TLS).
    pub url: String,
    /// The subject (wildcards `*` and `>` allowed).
    pub subject: String,
    /// Read JetStream through the durable consumer NAME (created if missing), acknowledging
    /// each message after the sinks wrote and flushed it (a consumer killed resumes after
    /// what was written: some messages may come twice, none is lost).
    #[arg(long, value_name = "NAME")]
    pub durable: Option<String>,
    /// The stream to read (default: the one whose subjects capture SUBJECT).
    #[arg(long, value_name = "NAME", requires = "durable")]
    pub stream: Option<String>,
    /// Where a new consumer starts: `all`, `new`, `last`, a stream sequence number, or a
    /// time (seconds since the epoch).
    #[arg(
        long,
        value_name = "WHERE",
        default_value = "all",
        requires = "durable"
    )]
    pub from: String,
    /// Stop at the end of what the stream holds now for this consumer (counting the
    /// messages delivered before but not acknowledged: they come again after `--ack-wait`).
    #[arg(long, requires = "durable")]
    pub exit_at_end: bool,
    /// How long the server waits for an acknowledgement before delivering a message again
    /// (set when the consumer is created).
    #[arg(long, value_name = "DURATION", value_parser = crate::runtime::units::parse_duration, default_value = "30s", requires = "durable")]
    pub ack_wait: Duration,
    /// Prefix each line with its subject (`SUBJECT:line`).
    #[arg(short = 'H', long)]
    pub tag: bool,
    /// Prefix each line with its stream sequence and time (`SEQ UNIXTIME line`).
    #[arg(long, requires = "durable")]
    pub meta: bool,
    /// With `--tag`/`--meta`: in a payload that is a JSON object (records published by
    /// `publish`), put them as its first fields instead — `subject`, `seq`, `time` (seconds
    /// since the epoch, to the millisecond) — for a `json` stage to read; other payloads
    /// keep the prefixes. A payload's own field of the same name keeps its value.
    #[arg(long)]
    pub fields: bool,
    #[command(flatten)]
    pub login: Login,
}

pub const DEF: StageDef = StageDef {
    name: "subscribe",
    aliases: &[],
    role: Role::Source,
    summary: "emit the messages of a NATS subject or JetStream stream as lines",
    accepts: &[],
    emits: Emits::Kind(Kind::Line),
    examples: &[
        "copipe subscribe nats://127.0.0.1:4222 'logs.>' --durable ops --from new : grep ERROR : count",
        "copipe subscribe nats://127.0.0.1:4222 logs.app --durable audit --exit-at-end : write app.log",
    ],
    command: <Args as clap::CommandFactory>::command,
    fusion: None,
    build: Build::Source(build),
};

const BATCH: usize = 64 * 1024;

enum Feed {
    Done,
    Core(async_nats::Subscriber),
    Js {
        messages: Box<pull::Stream>,
        /// Messages still to come before the end, with `--exit-at-end`.
        pending: Option<u64>,
        /// With `--exit-at-end`: the consumer, asked again when nothing comes (see
        /// [`at_end`]).
        consumer: Option<Box<async_nats::jetstream::consumer::Consumer<pull::Config>>>,
    },
}

struct Subscribe {
    rt: tokio::runtime::Runtime,
    client: async_nats::Client,
    feed: Feed,
    name: String,
    tag: bool,
    meta: bool,
    fields: bool,
    interrupt: Interrupt,
    status: Status,
    /// Knows when the sinks wrote what was pushed, behind the thread bridge too.
    written: Written,
}

impl Drop for Subscribe {
    fn drop(&mut self) {
        // The client's handles unsubscribe on drop, which needs the runtime.
        let _in = self.rt.enter();
        self.feed = Feed::Done;
    }
}

fn parse_from(s: &str) -> Result<DeliverPolicy> {
    Ok(match s {
        "all" => DeliverPolicy::All,
        "new" => DeliverPolicy::New,
        "last" => DeliverPolicy::Last,
        _ if s.starts_with('@') => {
            let t: i64 = s[1..]
                .parse()
                .map_err(|_| anyhow!("--from {s}: expected @UNIXTIME"))?;
            DeliverPolicy::ByStartTime {
                start_time: time::OffsetDateTime::from_unix_timestamp(t)
                    .map_err(|e| anyhow!("--from {s}: {e}"))?,
            }
        }
        _ => DeliverPolicy::ByStartSequence {
            start_sequence: s.parse().map_err(|_| {
                anyhow!("--from {s}: expected all, new, last, a sequence number or @UNIXTIME")
            })?,
        },
    })
}

fn build(m: &ArgMatches, cx: &BuildCx<'_>) -> Result<Box<dyn Source>> {
    let a = Args::from_arg_matches(m)?;
    Conn::check_url(&a.url)?;
    let conn = a.login.conn(&a.url);
    let from = parse_from(&a.from)?;
    let name = format!("{} {}", a.url, a.subject);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the NATS runtime")?;
    let (client, feed) = rt.block_on(async {
        let client = conn
            .options()
            .await?
            .connect(a.url.as_str())
            .await
            .map_err(|e| anyhow!("{name}: {e}"))?;
        let keep = client.clone();
        let Some(durable) = &a.durable else {
            let sub = client
                .subscribe(a.subject.clone())
                .await
                .map_err(|e| anyhow!("{name}: {e}"))?;
            return Ok::<_, anyhow::Error>((keep, Feed::Core(sub)));
        };
        let js = async_nats::jetstream::new(client);
        let stream_name = match &a.stream {
            Some(s) => s.clone(),
            None => settle(|| js.stream_by_subject(a.subject.clone()))
                .await
                .map_err(|e| {
                    anyhow!("{name}: no stream captures the subject ({e}); name one with --stream")
                })?,
        };
        let stream = settle(|| js.get_stream(&stream_name))
            .await
            .map_err(|e| anyhow!("{name}: stream {stream_name}: {e}"))?;
        let mut consumer: async_nats::jetstream::consumer::Consumer<pull::Config> = settle(|| {
            stream.get_or_create_consumer(
                durable,
                pull::Config {
                    durable_name: Some(durable.clone()),
                    filter_subject: a.subject.clone(),
                    deliver_policy: from,
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: a.ack_wait,
                    // Into a pipe, messages are acknowledged READ_GRACE after the reader
                    // read them, so that up to OWED are unacknowledged at a time: the
                    // server's default of 1,000 would cap the rate at 1,000 per 200 ms.
                    max_ack_pending: MAX_ACK_PENDING,
                    ..Default::default()
                },
            )
        })
        .await
        .map_err(|e| anyhow!("{name}: consumer {durable}: {e}"))?;
        let pending = if a.exit_at_end {
            let info = consumer
                .info()
                .await
                .map_err(|e| anyhow!("{name}: consumer {durable}: {e}"))?;
            if info.num_ack_pending > 0 {
                // They come again only when the server's wait for their acknowledgement
                // runs out: say why the end may take that long.
                crate::say!(
                    "copipe: subscribe: {} messages were delivered to an earlier reader of {durable} and not acknowledged; --exit-at-end waits for them, which the server sends again {} after it sent them (--ack-wait)",
                    info.num_ack_pending,
                    humantime(info.config.ack_wait)
                );
            }
            Some(info.num_pending + info.num_ack_pending as u64)
        } else {
            None
        };
        let messages = consumer
            .messages()
            .await
            .map_err(|e| anyhow!("{name}: consumer {durable}: {e}"))?;
        Ok((
            keep,
            Feed::Js {
                messages: Box::new(messages),
                pending,
                consumer: a.exit_at_end.then(|| Box::new(consumer)),
            },
        ))
    })?;
    Ok(Box::new(Subscribe {
        rt,
        client,
        feed,
        name,
        tag: a.tag,
        meta: a.meta,
        fields: a.fields,
        interrupt: cx.interrupt.clone(),
        status: cx.status.clone(),
        written: cx.written.clone(),
    }))
}

impl Source for Subscribe {
    fn run(&mut self, out: &mut dyn Stage) -> Result<()> {
        let Subscribe {
            rt,
            client,
            feed,
            name,
            tag,
            meta,
            fields,
            interrupt,
            status,
            written,
        } = self;
        let mut buf: Vec<u8> = Vec::with_capacity(BATCH + 1024);
        let mut itoa = itoa::Buffer::new();
        rt.block_on(async {
            let mut handed: Vec<async_nats::jetstream::Message> = Vec::new();
            // The lines of each message handed (a payload may hold several), and the lines
            // pushed since the start.
            let mut lines_of: Vec<u64> = Vec::new();
            let mut sent = 0u64;
            let mut last_asked = std::time::Instant::now();
            let mut server_done = false;
            // Written and flushed into a pipe, waiting to be read before they are
            // acknowledged.
            let mut owed = Owed {
                pipe: stdout_is_pipe(),
                groups: Default::default(),
                count: 0,
            };
            loop {
                if let Some(sig) = interrupt.pending() {
                    status.interrupt(sig);
                    break;
                }
                // What the pipe's reader took meanwhile (also while no message comes).
                if !owed.settle(Settle::Look, interrupt).await {
                    break;
                }
                if let Feed::Js {
                    pending: Some(0), ..
                } = feed
                {
                    break;
                }
                // Wait for one message (a tick at most, to see signals), then take what is
                // ready without waiting, up to a batch.
                let mut waited = false;
                loop {
                    let next = if waited {
                        match next_msg(feed).now_or_never() {
                            Some(m) => m,
                            None => break,
                        }
                    } else {
                        match tokio::time::timeout(Duration::from_millis(200), next_msg(feed)).await
                        {
                            Ok(m) => m,
                            Err(_) => break,
                        }
                    };
                    waited = true;
                    let Some(msg) = next.map_err(|e| anyhow!("{name}: {e}"))? else {
                        break;
                    };
                    let (subject, payload, info) = match &msg {
                        Msg::Core(m) => (m.subject.as_str(), &m.payload, None),
                        Msg::Js(m) => {
                            let i = m.info().map_err(|e| anyhow!("{name}: {e}"))?;
                            (
                                m.subject.as_str(),
                                &m.payload,
                                Some((i.stream_sequence, i.published, i.pending)),
                            )
                        }
                    };
                    let meta = if *meta {
                        info.map(|(seq, t, _)| (seq, t))
                    } else {
                        None
                    };
                    let object = payload.first() == Some(&b'{');
                    if *fields && object && (*tag || meta.is_some()) {
                        buf.push(b'{');
                        if *tag {
                            buf.extend_from_slice(b"\"subject\":");
                            json_string(&mut buf, subject);
                            buf.push(b',');
                        }
                        if let Some((seq, t)) = meta {
                            buf.extend_from_slice(b"\"seq\":");
                            buf.extend_from_slice(itoa.format(seq).as_bytes());
                            buf.extend_from_slice(b",\"time\":");
                            millis(&mut buf, &mut itoa, t);
                            buf.push(b',');
                        }
                        let rest = &payload[1..];
                        if rest.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'}') {
                            // An empty object: no comma before its end.
                            buf.pop();
                        }
                        buf.extend_from_slice(rest);
                    } else {
                        if *tag {
                            buf.extend_from_slice(subject.as_bytes());
                            buf.push(b':');
                        }
                        if let Some((seq, t)) = meta {
                            buf.extend_from_slice(itoa.format(seq).as_bytes());
                            buf.push(b' ');
                            millis(&mut buf, &mut itoa, t);
                            buf.push(b' ');
                        }
                        buf.extend_from_slice(payload);
                    }
                    buf.push(b'\n');
                    let lines = 1 + memchr::memchr_iter(b'\n', payload).count() as u64;
                    if let Feed::Js {
                        pending: Some(p), ..
                    } = feed
                    {
                        *p = p.saturating_sub(1);
                    }
                    if let Msg::Js(m) = msg {
                        handed.push(m);
                        lines_of.push(lines);
                    }
                    if buf.len() >= BATCH {
                        break;
                    }
                    if let Feed::Js {
                        pending: Some(0), ..
                    } = feed
                    {
                        break;
                    }
                }
                // Nothing came: with --exit-at-end, the count taken at the start may be more
                // than will come (an acknowledgement of a killed reader that the server
                // took after it was counted); ask the server again, at most once a second,
                // and end when it says twice in a row, with nothing come between, that it
                // has nothing more.
                if !buf.is_empty() {
                    server_done = false;
                } else if owed.count == 0
                    && handed.is_empty()
                    && last_asked.elapsed() >= Duration::from_secs(1)
                {
                    last_asked = std::time::Instant::now();
                    let done = at_end(feed, client).await;
                    if done && server_done {
                        if let Feed::Js { pending, .. } = feed {
                            *pending = Some(0);
                        }
                        break;
                    }
                    server_done = done;
                }
                if !buf.is_empty() {
                    // Each line pushed by itself, so that a chain that stops partway (`head`)
                    // says which line it stopped at: the messages it took whole are
                    // acknowledged, the others go back to the stream.
                    let base = sent;
                    let mut stop = false;
                    for line in buf.split_inclusive(|&b| b == b'\n') {
                        sent += 1;
                        if out.send_lines(line)?.is_stop() {
                            stop = true;
                            break;
                        }
                    }
                    buf.clear();
                    // Written by the sinks, also behind the scheduler's thread bridge.
                    written.flush_through(out)?;
                    // Behind the bridge the chain says afterwards how far it took them.
                    let mut took = written.taken().unwrap_or(sent).min(sent) - base.min(sent);
                    // Handed on and flushed: acknowledge each. (Not the `all` policy: one
                    // acknowledgement would also cover messages fetched ahead by an earlier
                    // run that no chain ever saw.)
                    let mut acked = 0;
                    for lines in &lines_of[..handed.len()] {
                        if *lines > took {
                            break;
                        }
                        took -= lines;
                        acked += 1;
                    }
                    // The rest was not written (the chain stopped before them): back to the
                    // stream at once, for the next reader.
                    for m in handed.drain(acked..) {
                        let _ = m.ack_with(async_nats::jetstream::AckKind::Nak(None)).await;
                    }
                    owed.add(std::mem::take(&mut handed));
                    // Into a pipe, written is not read: a reader that stops (`| head`)
                    // leaves the rest unread. Acknowledge once the reader read past them.
                    let ended = stop || written.taken().is_some_and(|t| t < sent);
                    let how = if ended {
                        Settle::End
                    } else if owed.count >= OWED {
                        Settle::Room
                    } else {
                        Settle::Look
                    };
                    if !owed.settle(how, interrupt).await {
                        break;
                    }
                    lines_of.clear();
                    if ended {
                        break;
                    }
                }
            }
            // What was written but not yet read from the pipe: wait for the reader a little.
            owed.settle(Settle::End, interrupt).await;
            owed.give_back().await;
            // What the client fetched ahead and the chain never saw goes back to the
            // stream at once (not after the acknowledgement wait), for the next reader.
            if let Feed::Js { .. } = feed {
                let until = tokio::time::Instant::now() + Duration::from_millis(100);
                while let Ok(Ok(Some(Msg::Js(m)))) =
                    tokio::time::timeout_at(until, next_msg(feed)).await
                {
                    let _ = m.ack_with(async_nats::jetstream::AckKind::Nak(None)).await;
                }
            }
            // Make sure the last acknowledgement left.
            let _ = client.flush().await;
            Ok::<(), anyhow::Error>(())
        })?;
        Ok(())
    }
}

/// How many messages written into a pipe may wait for the reader before the source waits:
/// with [`READ_GRACE`], at most OWED / 0.2 s messages a second into a pipe (bounded memory:
/// the messages are held until acknowledged).
const OWED: usize = 32_768;

/// The consumer's limit of messages delivered and not acknowledged (set when copipe
/// creates it): above [`OWED`] and a batch fetched ahead.
const MAX_ACK_PENDING: i64 = 2 * OWED as i64;

/// How long a pipe's reader must still be there after it read a message for the message to
/// count as taken: `head` reads a block of lines, prints a few and exits at once.
const READ_GRACE: Duration = Duration::from_millis(200);

/// Whether standard output is a pipe or FIFO.
fn stdout_is_pipe() -> bool {
    crate::runtime::fd::is_fifo(1)
}

/// The bytes written into the standard output pipe that its reader has not read; `None`
/// once the reader has gone.
fn pipe_unread() -> Option<usize> {
    if crate::runtime::fd::poll_now(1, libc::POLLOUT) & libc::POLLERR != 0 {
        return None;
    }
    Some(crate::runtime::fd::unread_bytes(1).unwrap_or(0))
}

/// Messages written and flushed, not yet acknowledged: into a pipe, written is not read,
/// and read is not used (`| head` reads a block and keeps a few lines). A message is
/// acknowledged once the pipe was seen empty after it was written and the reader was still
/// there [`READ_GRACE`] later. Anywhere else (a file, a terminal, a socket, or the sinks'
/// own files), at once.
struct Owed {
    pipe: bool,
    /// Groups of messages, oldest first, with when the pipe was seen empty after them.
    groups: std::collections::VecDeque<(
        Option<std::time::Instant>,
        Vec<async_nats::jetstream::Message>,
    )>,
    count: usize,
}

/// How long [`Owed::settle`] waits.
#[derive(Clone, Copy, PartialEq)]
enum Settle {
    /// Only look.
    Look,
    /// Until fewer than [`OWED`] are owed.
    Room,
    /// At the end: until none is owed, a few seconds at most.
    End,
}

impl Owed {
    fn add(&mut self, msgs: Vec<async_nats::jetstream::Message>) {
        if !msgs.is_empty() {
            self.count += msgs.len();
            self.groups.push_back((None, msgs));
        }
    }

    /// Acknowledge what the reader took; `false` when the pipe's reader has gone (what is
    /// still owed is to be sent back). A signal ends a wait a second after it came.
    async fn settle(&mut self, how: Settle, interrupt: &Interrupt) -> bool {
        let until = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let now = std::time::Instant::now();
            if !self.pipe {
                self.groups
                    .iter_mut()
                    .for_each(|g| g.0 = Some(now - READ_GRACE));
            } else {
                match pipe_unread() {
                    None => return false,
                    Some(0) => self
                        .groups
                        .iter_mut()
                        .filter(|g| g.0.is_none())
                        .for_each(|g| g.0 = Some(now)),
                    Some(_) => {}
                }
            }
            while let Some((Some(t), _)) = self.groups.front()
                && now.duration_since(*t) >= READ_GRACE
            {
                let (_, msgs) = self.groups.pop_front().expect("a group");
                self.count -= msgs.len();
                for m in msgs {
                    let _ = m.ack().await;
                }
            }
            let signalled = interrupt
                .since()
                .is_some_and(|t| t.elapsed() > Duration::from_secs(1));
            let done = match how {
                Settle::Look => true,
                Settle::Room => self.count < OWED,
                Settle::End => self.count == 0 || tokio::time::Instant::now() > until,
            };
            if done || signalled {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Send back what is still owed.
    async fn give_back(&mut self) {
        for (_, msgs) in self.groups.drain(..) {
            for m in msgs {
                let _ = m.ack_with(async_nats::jetstream::AckKind::Nak(None)).await;
            }
        }
        self.count = 0;
    }
}

/// A duration as `30s`, `1.5s` or `250ms`.
fn humantime(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// `UNIXTIME.mmm` (no allocation).
fn millis(buf: &mut Vec<u8>, itoa: &mut itoa::Buffer, t: time::OffsetDateTime) {
    let ms = t.unix_timestamp_nanos() / 1_000_000;
    buf.extend_from_slice(itoa.format(ms / 1000).as_bytes());
    buf.push(b'.');
    let frac = (ms % 1000) as u32;
    buf.extend_from_slice(&[
        b'0' + (frac / 100) as u8,
        b'0' + (frac / 10 % 10) as u8,
        b'0' + (frac % 10) as u8,
    ]);
}

/// `s` as a JSON string.
fn json_string(buf: &mut Vec<u8>, s: &str) {
    buf.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' | b'\\' => buf.extend_from_slice(&[b'\\', b]),
            0..=0x1f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                buf.extend_from_slice(b"\\u00");
                buf.extend_from_slice(&[HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
            }
            _ => buf.push(b),
        }
    }
    buf.push(b'"');
}

enum Msg {
    Core(async_nats::Message),
    Js(async_nats::jetstream::Message),
}

/// With `--exit-at-end`, whether the server has nothing more for this consumer: no message
/// it has not delivered, none delivered and not acknowledged (this run holds none when it
/// asks, its acknowledgements flushed first).
async fn at_end(feed: &mut Feed, client: &async_nats::Client) -> bool {
    let Feed::Js {
        pending: Some(p),
        consumer: Some(c),
        ..
    } = feed
    else {
        return false;
    };
    if *p == 0 || client.flush().await.is_err() {
        return false;
    }
    c.info()
        .await
        .is_ok_and(|info| info.num_pending == 0 && info.num_ack_pending == 0)
}

async fn next_msg(feed: &mut Feed) -> Result<Option<Msg>, String> {
    match feed {
        Feed::Done => Ok(None),
        Feed::Core(s) => Ok(s.next().await.map(Msg::Core)),
        Feed::Js { messages, .. } => match messages.next().await {
            None => Ok(None),
            Some(Ok(m)) => Ok(Some(Msg::Js(m))),
            Some(Err(e)) => Err(e.to_string()),
        },
    }
}

/// How long a JetStream API request that timed out is tried again: a cluster that has just
/// lost a node answers nothing while it elects a new leader (seconds), and a consumer
/// started then should wait for it rather than fail.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(20);

/// Run a JetStream API request, again (after a pause) while it times out, for at most
/// [`SETTLE`]; any other error, or the last timeout, is returned.
async fn settle<T, E: std::fmt::Display, F: std::future::Future<Output = Result<T, E>>>(
    mut request: impl FnMut() -> F,
) -> Result<T, E> {
    let until = tokio::time::Instant::now() + SETTLE;
    loop {
        match request().await {
            Err(e)
                if e.to_string().contains("timed out") && tokio::time::Instant::now() < until =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            r => return r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_json_strings_and_millisecond_times() {
        let mut b = Vec::new();
        json_string(&mut b, "a\"b\\c\u{1}");
        assert_eq!(b, br#""a\"b\\c\u0001""#);
        b.clear();
        let t = time::OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_045_600_000).unwrap();
        millis(&mut b, &mut itoa::Buffer::new(), t);
        assert_eq!(b, b"1700000000.045");
    }
}
