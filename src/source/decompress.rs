//! Compressed inputs: gzip, zstd, xz and bzip2, recognised by their magic bytes (never by
//! their names), decompressed on a thread of their own that feeds the reader buffers of
//! decompressed bytes, so that decompression runs on one core and the search on another.
//!
//! * Recognition: [`Format::sniff`] reads the first bytes. gzip `1f 8b 08`, zstd
//!   `28 b5 2f fd` (or a skippable frame, as `pzstd` writes first), xz `fd 37 7a 58 5a 00`,
//!   bzip2 `BZh1`…`BZh9` followed by a block or end-of-stream magic. Anything else is read as
//!   it is. [`Format::prefix_of_magic`] says whether the bytes gathered so far from a pipe can
//!   still be the start of one, so that a line typed on a terminal is never held back waiting
//!   for more bytes to decide.
//! * Whole files: concatenated gzip members (`gzip`'s and log rotators' own output, `cat
//!   a.gz b.gz`), zstd frames, xz streams and bzip2 streams are all read to the end.
//! * Memory: the thread decompresses into [`CHUNK`]-byte buffers, at most [`QUEUE`] of them
//!   waiting, recycled once read: a file of any size is read in about 2 MB.
//! * Errors: corrupt or truncated data is a [`DecodeError`] naming the format and the byte
//!   offset in the compressed file where the decoder stopped, given to the reader *after*
//!   every byte decompressed before it. A failed read of the file itself is passed on as
//!   the io error it is.
//! * Waiting: the thread rings a socket once per buffer it queues, so that a reader that
//!   must not sleep (a task of the scheduler reading a pipe) waits for [`Decoder::wake_fd`]
//!   to be readable like any other descriptor.

use std::cell::Cell;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};

use crate::runtime::meter::Meter;
use crate::runtime::signal::{Interrupt, Stopped, readable_now, wait_readable};

/// The size of one buffer of decompressed bytes handed to the reader.
pub const CHUNK: usize = 256 * 1024;

/// Buffers decompressed ahead of the reader, at most.
pub const QUEUE: usize = 4;

/// The size of the reads of the compressed file.
const READ: usize = 128 * 1024;

/// The most memory a decoder may take for its window (zstd's default limit is 128 MiB, a
/// window of 2^27; xz is given the same): a frame that asks for more is an error, so a
/// hostile header cannot make copipe allocate gigabytes.
const MEMORY_LIMIT: u64 = 128 << 20;

/// The longest magic that [`Format::sniff`] needs to see.
pub const MAGIC_LEN: usize = 10;

/// A compression format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    Gzip,
    Zstd,
    Xz,
    Bzip2,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Format {
    pub const ALL: [Format; 4] = [Format::Gzip, Format::Zstd, Format::Xz, Format::Bzip2];

    pub fn name(self) -> &'static str {
        match self {
            Format::Gzip => "gzip",
            Format::Zstd => "zstd",
            Format::Xz => "xz",
            Format::Bzip2 => "bzip2",
        }
    }

    /// The format whose magic `head` starts with (`head` holds the first [`MAGIC_LEN`]
    /// bytes of the input, or all of it when it is shorter).
    pub fn sniff(head: &[u8]) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.matches(head))
    }

    /// Whether `head`, shorter than [`MAGIC_LEN`], may still grow into a magic: more bytes
    /// are needed before deciding. False as soon as a byte differs from every magic.
    pub fn prefix_of_magic(head: &[u8]) -> bool {
        head.len() < MAGIC_LEN
            && Format::sniff(head).is_none()
            && Format::ALL.into_iter().any(|f| f.could_be(head))
    }

    /// Whether `head` starts with this format's magic.
    fn matches(self, head: &[u8]) -> bool {
        match self {
            Format::Gzip => head.starts_with(&[0x1f, 0x8b, 0x08]),
            Format::Zstd => {
                head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
                    || (head.len() >= 4
                        && head[0] & 0xf0 == 0x50
                        && head[1..4] == [0x2a, 0x4d, 0x18])
            }
            Format::Xz => head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]),
            Format::Bzip2 => {
                head.len() >= MAGIC_LEN
                    && head.starts_with(b"BZh")
                    && (b'1'..=b'9').contains(&head[3])
                    && (head[4..10] == [0x31, 0x41, 0x59, 0x26, 0x53, 0x59]
                        || head[4..10] == [0x17, 0x72, 0x45, 0x38, 0x50, 0x90])
            }
        }
    }

    /// Whether `head` is the start of this format's magic (or holds all of it).
    fn could_be(self, head: &[u8]) -> bool {
        let agree = |magic: &[u8]| {
            let n = head.len().min(magic.len());
            head[..n] == magic[..n]
        };
        match self {
            Format::Gzip => agree(&[0x1f, 0x8b, 0x08]),
            Format::Zstd => {
                agree(&[0x28, 0xb5, 0x2f, 0xfd])
                    || (head.first().is_none_or(|b| b & 0xf0 == 0x50)
                        && agree(&[head.first().copied().unwrap_or(0x50), 0x2a, 0x4d, 0x18]))
            }
            Format::Xz => agree(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]),
            Format::Bzip2 => {
                agree(b"BZh")
                    && head.get(3).is_none_or(|b| (b'1'..=b'9').contains(b))
                    && (head.len() <= 4
                        || agree(&[
                            b'B', b'Z', b'h', head[3], 0x31, 0x41, 0x59, 0x26, 0x53, 0x59,
                        ])
                        || agree(&[
                            b'B', b'Z', b'h', head[3], 0x17, 0x72, 0x45, 0x38, 0x50, 0x90,
                        ]))
            }
        }
    }
}

/// The first bytes of a regular file `f` from where it stands (without moving it), or
/// `None` when it is not a regular file.
pub fn sniff_file(f: &File) -> Option<Format> {
    use std::os::unix::fs::FileExt;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    // Where it stands (lseek with SEEK_CUR and 0, which moves nothing).
    let at = io::Seek::stream_position(&mut &*f).ok()?;
    let mut head = [0u8; MAGIC_LEN];
    let mut n = 0;
    while n < head.len() {
        match f.read_at(&mut head[n..], at + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    Format::sniff(&head[..n])
}

/// Corrupt or truncated compressed data.
#[derive(Debug)]
pub struct DecodeError {
    pub format: Format,
    /// The offset in the compressed input where the decoder stopped.
    pub offset: u64,
    /// The input ended in the middle of a compressed stream.
    pub truncated: bool,
    /// Decompressed bytes before the error (all of them were handed to the reader).
    pub decompressed: u64,
    pub cause: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.truncated {
            write!(
                f,
                "truncated {} data: the file ends at byte {} in the middle of a compressed \
                 stream ({} bytes decompressed before)",
                self.format, self.offset, self.decompressed
            )
        } else {
            write!(
                f,
                "corrupt {} data at byte {} ({} bytes decompressed before): {}",
                self.format, self.offset, self.decompressed, self.cause
            )
        }
    }
}

impl std::error::Error for DecodeError {}

impl DecodeError {
    /// The decode error in `err`, if it is one (a failed read of a [`Decoder`], as the
    /// line reader reports it, or an io error in the chain).
    pub fn find(err: &anyhow::Error) -> Option<&DecodeError> {
        if let Some(io) = crate::source::reader::ReadError::io(err)
            && let Some(d) = of_io(io)
        {
            return Some(d);
        }
        err.chain().find_map(|e| {
            e.downcast_ref::<DecodeError>()
                .or_else(|| e.downcast_ref::<io::Error>().and_then(of_io))
        })
    }

    /// Whether `err` is an io error carrying a decode error.
    pub fn in_io(err: &io::Error) -> bool {
        of_io(err).is_some()
    }
}

/// The decode error an io error carries.
fn of_io(io: &io::Error) -> Option<&DecodeError> {
    io.get_ref()
        .and_then(|inner| inner.downcast_ref::<DecodeError>())
}

/// What the thread hands to the reader.
enum Msg {
    Data(Vec<u8>),
    End,
    Fail(io::Error),
}

/// How much of the compressed input was consumed, shared by [`Counted`] and the thread.
#[derive(Default)]
struct Pos {
    consumed: Cell<u64>,
    /// The last read of the input returned less than asked for (a pipe that has nothing
    /// more for now): what was decompressed is handed over at once.
    dry: Cell<bool>,
    eof: Cell<bool>,
}

/// The compressed input under the decoder: a buffered reader that counts what the decoder
/// consumed (the offset of an error).
struct Counted<R> {
    inner: R,
    buf: Box<[u8]>,
    at: usize,
    len: usize,
    pos: Rc<Pos>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = {
            let have = self.fill_buf()?;
            let n = have.len().min(out.len());
            out[..n].copy_from_slice(&have[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for Counted<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.at == self.len {
            let n = loop {
                match self.inner.read(&mut self.buf) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(io::Error::new(e.kind(), SourceError(e))),
                }
            };
            self.pos.dry.set(n < self.buf.len());
            self.pos.eof.set(n == 0);
            self.at = 0;
            self.len = n;
        }
        Ok(&self.buf[self.at..self.len])
    }

    fn consume(&mut self, n: usize) {
        self.at += n;
        self.pos.consumed.set(self.pos.consumed.get() + n as u64);
    }
}

/// A failed read of the compressed file itself (not of its data).
#[derive(Debug)]
struct SourceError(io::Error);

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SourceError {}

/// Decompressed bytes of an input, read on a thread of their own.
pub struct Decoder {
    format: Format,
    rx: Receiver<Msg>,
    recycle: SyncSender<Vec<u8>>,
    /// Holds one byte per message rung and not taken yet, and one more while the buffer
    /// taken still has bytes (see [`Decoder::ready`]).
    bell: UnixStream,
    /// The other end of `bell`, to ring it for the bytes left in the buffer.
    ring: UnixStream,
    /// `bell` holds a byte for the bytes left in the buffer.
    rung: bool,
    chunk: Vec<u8>,
    at: usize,
    ended: bool,
    /// Waiting for the next buffer may take as long as the input takes (a pipe): then
    /// waits are made on [`Decoder::wake_fd`], interruptibly.
    may_block: bool,
    interrupt: Option<Interrupt>,
    /// Decompressed bytes handed out.
    out: u64,
    /// Compressed bytes the thread consumed (updated once per buffer), and how many of
    /// them [`Decoder::take_compressed`] told already.
    consumed: Arc<AtomicU64>,
    told: u64,
    /// Told the sizes when the decoder is dropped (for `--stats`).
    meter: Option<Meter>,
}

impl Drop for Decoder {
    fn drop(&mut self) {
        if let Some(m) = &self.meter {
            m.decompressed(self.format.name(), self.compressed(), self.out);
        }
    }
}

impl Decoder {
    /// Decompress `input` (`head` are its first bytes, already read from it) as `format`.
    /// `may_block`: the input is a pipe, terminal or socket, whose reads may wait.
    pub fn spawn<R: Read + Send + 'static>(
        format: Format,
        head: Vec<u8>,
        input: R,
        may_block: bool,
    ) -> io::Result<Decoder> {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let (recycle, recycled) = mpsc::sync_channel(QUEUE + 2);
        let (bell, ringer) = UnixStream::pair()?;
        bell.set_nonblocking(true)?;
        let consumed = Arc::new(AtomicU64::new(0));
        let counter = consumed.clone();
        let ring = ringer.try_clone()?;
        std::thread::Builder::new()
            .name(format!("copipe-{format}"))
            .spawn(move || {
                let source = io::Cursor::new(head).chain(input);
                decompress(format, source, may_block, &tx, &recycled, ringer, &counter);
            })?;
        Ok(Decoder {
            format,
            rx,
            recycle,
            bell,
            ring,
            rung: false,
            chunk: Vec::new(),
            at: 0,
            ended: false,
            may_block,
            interrupt: None,
            out: 0,
            consumed,
            told: 0,
            meter: None,
        })
    }

    /// Make waits for a pipe's data stop at Ctrl-C or SIGTERM (an io error carrying
    /// [`Stopped`]), as [`crate::runtime::signal::Interruptible`] does.
    pub fn interruptible(mut self, interrupt: Interrupt) -> Self {
        self.interrupt = Some(interrupt);
        self
    }

    /// Count this input in `meter` for `--stats`: one more file of its format now, and
    /// the compressed and decompressed sizes when it is dropped.
    pub fn metered(mut self, meter: Meter) -> Self {
        meter.decompressing(self.format.name());
        self.meter = Some(meter);
        self
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// Decompressed bytes handed out so far.
    pub fn decompressed(&self) -> u64 {
        self.out
    }

    /// Compressed bytes consumed so far (as of the last buffer handed over).
    pub fn compressed(&self) -> u64 {
        self.consumed.load(Ordering::Relaxed)
    }

    /// Compressed bytes consumed since the last call (for a meter of bytes read).
    pub fn take_compressed(&mut self) -> u64 {
        let now = self.compressed();
        let n = now.saturating_sub(self.told);
        self.told = now;
        n
    }

    /// Readable when a read would not wait: bytes are left in the buffer taken, or a
    /// buffer (or the end, or an error) is waiting.
    pub fn wake_fd(&self) -> RawFd {
        self.bell.as_raw_fd()
    }

    /// Whether the input may make reads wait (then wait for [`Decoder::wake_fd`]).
    pub fn may_block(&self) -> bool {
        self.may_block
    }

    /// Whether a read would not wait.
    pub fn ready(&self) -> bool {
        self.ended || readable_now(self.bell.as_raw_fd())
    }

    /// Keep `bell` readable while bytes are left in the buffer, and only then.
    fn ring_for_rest(&mut self) {
        let left = self.at < self.chunk.len();
        if left != self.rung {
            let mut b = [0u8; 1];
            let _ = if left {
                (&self.ring).write(&b)
            } else {
                (&self.bell).read(&mut b)
            };
            self.rung = left;
        }
    }

    /// Take the next message (waiting for it), and the ring that came with it.
    fn next(&mut self) -> io::Result<Msg> {
        if self.may_block
            && let Some(interrupt) = &self.interrupt
        {
            let stopped = |sig| io::Error::other(Stopped(sig));
            if let Some(sig) = interrupt.pending() {
                return Err(stopped(sig));
            }
            if !readable_now(self.bell.as_raw_fd())
                && !wait_readable(self.bell.as_raw_fd(), interrupt).map_err(io::Error::other)?
            {
                return Err(stopped(interrupt.pending().unwrap_or(libc::SIGINT)));
            }
        }
        let msg = self.rx.recv().unwrap_or_else(|_| {
            Msg::Fail(io::Error::other("the decompression thread ended early"))
        });
        let mut ring = [0u8; 1];
        // The ring was written before the message was queued: it is there.
        let _ = (&self.bell).read(&mut ring);
        Ok(msg)
    }
}

impl Read for Decoder {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.ring_for_rest();
        while self.at == self.chunk.len() {
            if self.ended || buf.is_empty() {
                return Ok(0);
            }
            match self.next()? {
                Msg::Data(data) => {
                    let old = std::mem::replace(&mut self.chunk, data);
                    self.at = 0;
                    if old.capacity() > 0 {
                        let _ = self.recycle.try_send(old);
                    }
                }
                Msg::End => self.ended = true,
                Msg::Fail(e) => {
                    self.ended = true;
                    return Err(e);
                }
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        self.out += n as u64;
        self.ring_for_rest();
        Ok(n)
    }
}

/// The thread: decompress `source` into buffers until its end, an error, or the reader
/// going away.
fn decompress<R: Read>(
    format: Format,
    source: R,
    may_block: bool,
    tx: &SyncSender<Msg>,
    recycled: &Receiver<Vec<u8>>,
    mut ringer: UnixStream,
    consumed: &AtomicU64,
) {
    let pos = Rc::new(Pos::default());
    let counted = Counted {
        inner: source,
        buf: vec![0; READ].into_boxed_slice(),
        at: 0,
        len: 0,
        pos: pos.clone(),
    };
    let mut decoder: Box<dyn Read> = match format {
        Format::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(counted)),
        Format::Zstd => match zstd::stream::read::Decoder::with_buffer(counted) {
            Ok(d) => Box::new(d),
            Err(e) => {
                let _ = send(tx, &mut ringer, Msg::Fail(e));
                return;
            }
        },
        // A hostile header may ask for a dictionary of gigabytes: past the limit, an
        // error (xz -9 needs 64 MiB).
        Format::Xz => match liblzma::stream::Stream::new_stream_decoder(
            MEMORY_LIMIT,
            liblzma::stream::CONCATENATED,
        ) {
            Ok(stream) => Box::new(liblzma::bufread::XzDecoder::new_stream(counted, stream)),
            Err(e) => {
                let _ = send(tx, &mut ringer, Msg::Fail(io::Error::other(e)));
                return;
            }
        },
        Format::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(counted)),
    };
    let mut total = 0u64;
    loop {
        let mut chunk = recycled.try_recv().unwrap_or_default();
        chunk.resize(CHUNK, 0);
        let mut filled = 0;
        let mut end = None;
        while filled < CHUNK {
            match decoder.read(&mut chunk[filled..]) {
                Ok(0) => {
                    end = Some(Msg::End);
                    break;
                }
                Ok(n) => {
                    filled += n;
                    if may_block && pos.dry.get() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    end = Some(Msg::Fail(failure(format, e, &pos, total + filled as u64)));
                    break;
                }
            }
        }
        total += filled as u64;
        consumed.store(pos.consumed.get(), Ordering::Relaxed);
        if filled > 0 {
            chunk.truncate(filled);
            if !send(tx, &mut ringer, Msg::Data(chunk)) {
                return;
            }
        }
        if let Some(msg) = end {
            let _ = send(tx, &mut ringer, msg);
            return;
        }
    }
}

/// What a failed decoder read means: the file's own read error as it is, else corrupt or
/// truncated data at the offset the decoder reached.
fn failure(format: Format, e: io::Error, pos: &Pos, decompressed: u64) -> io::Error {
    if e.get_ref().is_some_and(|i| i.is::<SourceError>()) {
        let kind = e.kind();
        let inner = e.into_inner().expect("checked above");
        let SourceError(e) = *inner.downcast::<SourceError>().expect("checked above");
        return io::Error::new(kind, e);
    }
    let truncated = pos.eof.get() || e.kind() == io::ErrorKind::UnexpectedEof;
    io::Error::new(
        io::ErrorKind::InvalidData,
        DecodeError {
            format,
            offset: pos.consumed.get(),
            truncated,
            decompressed,
            cause: e.to_string(),
        },
    )
}

/// Queue `msg` and ring; false when the reader is gone.
fn send(tx: &SyncSender<Msg>, ringer: &mut UnixStream, msg: Msg) -> bool {
    // Rung first: a reader woken early finds the message soon (it waits in `recv`).
    if ringer.write_all(&[1]).is_err() {
        return false;
    }
    tx.send(msg).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn read_all(format: Format, bytes: Vec<u8>) -> (Vec<u8>, Option<io::Error>) {
        let mut d = Decoder::spawn(format, Vec::new(), io::Cursor::new(bytes), false).unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 1000];
        loop {
            match d.read(&mut buf) {
                Ok(0) => return (out, None),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    #[test]
    fn magic_bytes_tell_the_format_not_the_name() {
        assert_eq!(Format::sniff(&gzip(b"x")), Some(Format::Gzip));
        assert_eq!(
            Format::sniff(&zstd::encode_all(&b"x"[..], 1).unwrap()),
            Some(Format::Zstd)
        );
        assert_eq!(Format::sniff(b"\x50\x2a\x4d\x18rest"), Some(Format::Zstd));
        assert_eq!(Format::sniff(b"\xfd7zXZ\x00\x00\x04"), Some(Format::Xz));
        assert_eq!(Format::sniff(b"BZh91AY&SY\x00"), Some(Format::Bzip2));
        assert_eq!(Format::sniff(b"BZh9 is a log line\n"), None);
        assert_eq!(Format::sniff(b"plain text\n"), None);
        assert_eq!(Format::sniff(b""), None);
        assert_eq!(Format::sniff(b"\x1f\x8b"), None);
    }

    #[test]
    fn a_line_that_cannot_be_a_magic_is_decided_at_once() {
        assert!(Format::prefix_of_magic(b""));
        assert!(Format::prefix_of_magic(b"\x1f"));
        assert!(Format::prefix_of_magic(b"\x1f\x8b"));
        assert!(Format::prefix_of_magic(b"B"));
        assert!(Format::prefix_of_magic(b"BZh9"));
        assert!(Format::prefix_of_magic(b"P"));
        assert!(!Format::prefix_of_magic(b"B\n"));
        assert!(!Format::prefix_of_magic(b"BZh9 x"));
        assert!(!Format::prefix_of_magic(b"a"));
        assert!(!Format::prefix_of_magic(b"P\n"));
        assert!(
            !Format::prefix_of_magic(b"\x1f\x8b\x08"),
            "complete: decided"
        );
    }

    #[test]
    fn concatenated_members_are_read_whole() {
        let mut two = gzip(b"one\n");
        two.extend(gzip(b"two\n"));
        let (out, err) = read_all(Format::Gzip, two);
        assert!(err.is_none());
        assert_eq!(out, b"one\ntwo\n");
    }

    #[test]
    fn a_truncated_member_fails_after_what_came_before() {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        let z = gzip(&data);
        let cut = z.len() / 2;
        let (out, err) = read_all(Format::Gzip, z[..cut].to_vec());
        let err = err.expect("an error");
        let d = err
            .get_ref()
            .unwrap()
            .downcast_ref::<DecodeError>()
            .unwrap();
        assert!(d.truncated, "{d}");
        assert_eq!(d.offset, cut as u64);
        assert_eq!(d.decompressed, out.len() as u64);
        assert!(data.starts_with(&out) && out.len() > data.len() / 4);
    }
}
