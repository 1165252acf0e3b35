//! The bytes under the XML tokenizer: a window of UTF-8 text over the input, refilled in big
//! reads, decoded once, validated once, with line and column tracking for error messages.
//!
//! * Encoding: a UTF-8 BOM is skipped; a UTF-16 BOM (or a UTF-16 `<?xml` without one)
//!   selects UTF-16; otherwise the `encoding` of the XML declaration is read from the first
//!   bytes: UTF-8 (or none) is used as it is, ISO-8859-1 / Latin-1 / US-ASCII are mapped
//!   byte for byte, and any other label that encoding_rs knows (windows-1252, …) is decoded
//!   with it. Everything after this module is UTF-8.
//! * Validity: the window is checked to be UTF-8 as it arrives (and, in strict mode, to hold
//!   only XML characters). The tokenizer never sees past the first bad character: the data
//!   it gets ends there, and when it asks for more it gets the error, with its position. So
//!   every event before a bad character is still produced.
//! * Positions: lines count `\n`; columns count characters (not bytes) from 1, in the
//!   decoded text. Only the current window is kept: when bytes are dropped from its front,
//!   the line and column reached there are remembered.

use std::io::{self, Read};

use encoding_rs::{DecoderResult, Encoding};

use crate::runtime::meter::Meter;

/// The size of one read, and the initial size of the window.
pub const CAPACITY: usize = 128 * 1024;

/// Why the data stops before the end of what was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bad {
    /// Bytes that are not UTF-8 (or not in the declared encoding).
    Encoding,
    /// A character that XML does not allow (a control character, U+FFFE, U+FFFF).
    Char(char),
}

enum Decode {
    Utf8,
    Latin1,
    Rs(Box<encoding_rs::Decoder>),
}

pub struct Input {
    reader: Box<dyn Read>,
    decode: Decode,
    /// Raw bytes not yet decoded (for non-UTF-8 inputs).
    raw: Vec<u8>,
    raw_len: usize,
    raw_eof: bool,
    /// The window: `buf[pos..valid]` is the data the tokenizer may read.
    pub buf: Vec<u8>,
    pub pos: usize,
    pub valid: usize,
    /// Bytes in `buf` (decoded, not necessarily validated yet).
    end: usize,
    eof: bool,
    /// The first bad character after `valid`, found at `valid`.
    bad: Option<Bad>,
    strict: bool,
    /// The absolute offset (in decoded bytes) of `buf[0]`.
    base: u64,
    /// The line of `buf[0]` (1-based), and the characters before it on that line.
    line: u64,
    col: u64,
    /// Raw bytes read so far.
    pub read_bytes: usize,
    /// Told about every read.
    pub meter: Meter,
    /// The name of the encoding used.
    pub encoding: &'static str,
    /// Whether any byte at all was read.
    pub any: bool,
    /// A pipe or terminal the reads may sleep on (see [`Input::would_block`]).
    pub blocking_fd: Option<std::os::fd::RawFd>,
    /// Never sleep on `blocking_fd`: a read that would is not made, and [`Input::more`]
    /// says [`InputError::Blocked`] instead (the `xml` task of the scheduler, which then
    /// yields until the descriptor is readable and calls it again).
    pub nonblocking: bool,
    /// The bytes of a byte order mark skipped at the start (decoded offset 0 is this raw
    /// offset).
    pub skipped: usize,
    /// Offsets whose line and column were noted (see [`Input::mark`]): the starts of a
    /// comment or PI and of a DOCTYPE that are dropped as they are read, for the error at
    /// the end of the input.
    marks: [Option<(u64, u64, u64)>; 2],
}

/// What went wrong while reading, with the offset it happened at.
pub enum InputError {
    Io(io::Error),
    At(u64, String),
    /// A read would sleep on the input, which is [`Input::nonblocking`]: nothing was lost,
    /// the same call is to be made again once the descriptor is readable.
    Blocked,
}

impl From<io::Error> for InputError {
    fn from(e: io::Error) -> Self {
        InputError::Io(e)
    }
}

impl Input {
    /// Start reading: detect the encoding from the first bytes.
    pub fn new(reader: Box<dyn Read>, strict: bool, meter: Meter) -> Result<Self, InputError> {
        Self::with_capacity(reader, strict, CAPACITY, meter)
    }

    pub fn with_capacity(
        reader: Box<dyn Read>,
        strict: bool,
        capacity: usize,
        meter: Meter,
    ) -> Result<Self, InputError> {
        Self::with_head(reader, Vec::new(), false, strict, capacity, meter)
    }

    /// [`Input::with_capacity`], the first bytes of the input having been read already
    /// (`head`, and `eof` if that is all): a task that must not sleep in a read collects
    /// them until [`head_complete`] says that the encoding can be told from them.
    pub fn with_head(
        reader: Box<dyn Read>,
        mut head: Vec<u8>,
        eof: bool,
        strict: bool,
        capacity: usize,
        meter: Meter,
    ) -> Result<Self, InputError> {
        let capacity = capacity.max(16);
        let raw_len = head.len();
        head.resize(capacity.max(raw_len), 0);
        let mut inp = Input {
            reader,
            decode: Decode::Utf8,
            raw: head,
            raw_len,
            raw_eof: eof,
            buf: vec![0; capacity],
            pos: 0,
            valid: 0,
            end: 0,
            eof: false,
            bad: None,
            strict,
            base: 0,
            line: 1,
            col: 0,
            read_bytes: raw_len,
            meter,
            encoding: "UTF-8",
            any: false,
            blocking_fd: None,
            nonblocking: false,
            skipped: 0,
            marks: [None; 2],
        };
        inp.detect()?;
        Ok(inp)
    }

    /// An input with nothing in it, for a parser that is given its data directly.
    pub fn empty() -> Self {
        Input {
            reader: Box::new(io::empty()),
            decode: Decode::Utf8,
            raw: Vec::new(),
            raw_len: 0,
            raw_eof: true,
            buf: Vec::new(),
            pos: 0,
            valid: 0,
            end: 0,
            eof: true,
            bad: None,
            strict: false,
            base: 0,
            line: 1,
            col: 0,
            read_bytes: 0,
            meter: Meter::default(),
            encoding: "UTF-8",
            any: false,
            blocking_fd: None,
            nonblocking: false,
            skipped: 0,
            marks: [None; 2],
        }
    }

    /// Whether the input is UTF-8 read as it is (no decoder between the bytes read and the
    /// data): offsets in the data are offsets in the input, less [`Input::skipped`].
    pub fn is_plain_utf8(&self) -> bool {
        matches!(self.decode, Decode::Utf8) && self.raw_len == 0
    }

    /// Continue at offset `to` (ahead of `data()`), reading from `reader`, which is
    /// positioned there: the bytes in between were parsed elsewhere. They hold `newlines`
    /// line ends, and `tail` characters after the last one (or in all, if none).
    pub fn jump(&mut self, to: u64, newlines: u64, tail: u64, reader: Box<dyn Read>) {
        debug_assert!(self.is_plain_utf8() && to >= self.offset(0));
        let (line, col) = self.line_col(self.offset(0));
        if newlines > 0 {
            self.line = line + newlines;
            self.col = tail;
        } else {
            self.line = line;
            self.col = col - 1 + tail;
        }
        self.reader = reader;
        self.base = to;
        self.pos = 0;
        self.valid = 0;
        self.end = 0;
        self.eof = false;
        self.raw_eof = false;
        self.bad = None;
    }

    /// Read the first bytes into `raw` (up to 4 KiB, or to the end of the XML declaration)
    /// and choose the decoder.
    fn detect(&mut self) -> Result<(), InputError> {
        if self.raw_len > 0 {
            self.any = true;
        }
        while !self.raw_eof && !head_complete(&self.raw[..self.raw_len]) {
            self.read_raw()?;
        }
        let head = &self.raw[..self.raw_len];
        let mut skip = 0;
        let enc: Option<&'static Encoding> = if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
            skip = 3;
            None
        } else if head.starts_with(&[0xFF, 0xFE]) {
            skip = 2;
            Some(encoding_rs::UTF_16LE)
        } else if head.starts_with(&[0xFE, 0xFF]) {
            skip = 2;
            Some(encoding_rs::UTF_16BE)
        } else if head.starts_with(&[0x3C, 0, 0x3F, 0]) {
            Some(encoding_rs::UTF_16LE)
        } else if head.starts_with(&[0, 0x3C, 0, 0x3F]) {
            Some(encoding_rs::UTF_16BE)
        } else if let Some(utf16) = utf16_without_bom(head) {
            // No XML declaration to go by, and the first NUL byte would be refused as a
            // character: say what the input probably is.
            return Err(InputError::At(
                0,
                format!(
                    "the input looks like UTF-16 without a byte order mark (ASCII characters alternating with NUL bytes); convert it with iconv -f {utf16} -t UTF-8 (or add a byte order mark)"
                ),
            ));
        } else {
            match declared_encoding(head) {
                None => None,
                Some(label) => {
                    let l = label.to_ascii_lowercase();
                    match l.as_str() {
                        "utf-8" | "utf8" => None,
                        "iso-8859-1" | "iso8859-1" | "iso_8859-1" | "latin1" | "latin-1" | "l1"
                        | "iso-ir-100" | "cp819" | "ibm819" | "us-ascii" | "ascii" => {
                            self.decode = Decode::Latin1;
                            self.encoding = "ISO-8859-1";
                            None
                        }
                        "utf-16" | "utf-16le" | "utf-16be" => {
                            return Err(InputError::At(
                                0,
                                format!(
                                    "the XML declaration says encoding \"{label}\", but the input has no UTF-16 byte order mark"
                                ),
                            ));
                        }
                        _ => match Encoding::for_label(label.as_bytes()) {
                            Some(e) if e.is_ascii_compatible() => Some(e),
                            _ => {
                                return Err(InputError::At(
                                    0,
                                    format!("unsupported encoding \"{label}\""),
                                ));
                            }
                        },
                    }
                }
            }
        };
        if let Some(e) = enc
            && (e == encoding_rs::UTF_16LE || e == encoding_rs::UTF_16BE)
        {
            // UTF-16 (a byte order mark, or `<?` as UTF-16): the encoding the declaration
            // names, if any, must be UTF-16 too, of the same byte order when it says one
            // (XML 1.0 §4.3.3: presenting an entity in another encoding than the one its
            // declaration names is a fatal error; expat refuses it the same way).
            let units = ascii_of_utf16(&head[skip..], e == encoding_rs::UTF_16LE);
            if let Some((label, at)) = declared_encoding_at(&units) {
                let l = label.to_ascii_lowercase();
                let agrees = l == "utf-16"
                    || (e == encoding_rs::UTF_16LE && l == "utf-16le")
                    || (e == encoding_rs::UTF_16BE && l == "utf-16be");
                if !agrees {
                    let found = if skip > 0 {
                        "its byte order mark"
                    } else {
                        "its first bytes"
                    };
                    return Err(InputError::At(
                        at as u64,
                        format!(
                            "the XML declaration says encoding \"{label}\", but the input is {} by {found}",
                            e.name()
                        ),
                    ));
                }
            }
        }
        // After a UTF-8 byte order mark, a declaration naming another encoding is refused
        // too (the W3C suite's hst-lhs-007; expat 2.5.0 accepts a single-byte one).
        if skip == 3
            && let Some((label, at)) = declared_encoding_at(&head[3..])
            && !matches!(label.to_ascii_lowercase().as_str(), "utf-8" | "utf8")
        {
            return Err(InputError::At(
                at as u64,
                format!(
                    "the XML declaration says encoding \"{label}\", but the input is UTF-8 by its byte order mark"
                ),
            ));
        }
        if let Some(e) = enc {
            self.encoding = e.name();
            self.decode = Decode::Rs(Box::new(e.new_decoder_without_bom_handling()));
        }
        self.raw.copy_within(skip..self.raw_len, 0);
        self.raw_len -= skip;
        self.skipped = skip;
        Ok(())
    }

    fn read_raw(&mut self) -> Result<usize, InputError> {
        if self.raw_len == self.raw.len() {
            let n = self.raw.len() * 2;
            self.raw.resize(n, 0);
        }
        let n = loop {
            match self.reader.read(&mut self.raw[self.raw_len..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        };
        if n == 0 {
            self.raw_eof = true;
        } else {
            self.any = true;
        }
        self.raw_len += n;
        self.read_bytes += n;
        self.meter.read(n);
        Ok(n)
    }

    /// The data the tokenizer may read.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buf[self.pos..self.valid]
    }

    /// Whether the data ends at the true end of the input (nothing more will come, and no
    /// bad character is waiting).
    pub fn at_eof(&self) -> bool {
        self.eof && self.bad.is_none() && self.valid == self.end
    }

    /// The absolute offset of `data()[i]`.
    pub fn offset(&self, i: usize) -> u64 {
        self.base + (self.pos + i) as u64
    }

    /// Whether getting more data would sleep on the input (a pipe with nothing to read
    /// yet): the parser then flushes what it pushed first.
    pub fn would_block(&self) -> bool {
        self.raw_len == 0 && self.valid == self.end && self.read_would_block()
    }

    /// Whether a read would sleep on `blocking_fd` now.
    fn read_would_block(&self) -> bool {
        self.blocking_fd
            .is_some_and(|fd| !crate::runtime::signal::readable_now(fd))
    }

    /// Get more data after `data()`: `Ok(true)` if some came, `Ok(false)` at the end of the
    /// input; the error of a bad character when the data stopped at one.
    pub fn more(&mut self) -> Result<bool, InputError> {
        loop {
            if let Some(bad) = self.bad {
                return Err(InputError::At(
                    self.base + self.valid as u64,
                    bad_message(bad),
                ));
            }
            if self.valid < self.end {
                // Validated data is waiting (a read ended inside a character).
                let before = self.valid;
                self.validate();
                if self.valid > before {
                    return Ok(true);
                }
                if self.bad.is_some() {
                    continue;
                }
            }
            if self.eof {
                if self.valid < self.end {
                    // The input ends inside a character.
                    self.bad = Some(Bad::Encoding);
                    continue;
                }
                return Ok(false);
            }
            if self.nonblocking && self.raw_len == 0 && !self.raw_eof && self.read_would_block() {
                return Err(InputError::Blocked);
            }
            self.compact();
            let before = self.end;
            self.fill()?;
            if self.end == before && !self.eof {
                continue;
            }
            self.validate();
            if self.valid > before {
                return Ok(true);
            }
        }
    }

    /// [`Input::more`], then more reads while they do not sleep, until the data is at least
    /// `want` bytes long: called when the data ends inside a token, so that a token that is
    /// tokenized again from its start each time more arrives (the DOCTYPE, a tag's white
    /// space and attributes) is read again only after its data doubled, which keeps the
    /// work linear in its length. A bad character stops the reads (the data before it is
    /// tokenized first; the error comes at the next call).
    pub fn more_toward(&mut self, want: usize) -> Result<bool, InputError> {
        if !self.more()? {
            return Ok(false);
        }
        while self.valid - self.pos < want && self.bad.is_none() && !self.eof && !self.would_block()
        {
            match self.more() {
                Ok(true) => {}
                Ok(false) | Err(InputError::At(..) | InputError::Blocked) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Note the line and column of `offset` (in the window now) in `slot` (0 or 1), so
    /// that [`Input::line_col`] still gives them after the window moved past it.
    pub fn mark(&mut self, slot: usize, offset: u64) {
        let (line, col) = self.line_col(offset);
        self.marks[slot] = Some((offset, line, col));
    }

    /// Drop the consumed front of the window, remembering the line and column reached;
    /// grow the window when it is full of one unfinished token.
    fn compact(&mut self) {
        let pos = self.pos;
        if pos > 0 {
            let gone = &self.buf[..pos];
            let nl = memchr::memchr_iter(b'\n', gone).count() as u64;
            if nl > 0 {
                self.line += nl;
                let last = memchr::memrchr(b'\n', gone).expect("counted");
                self.col = count_chars(&gone[last + 1..]);
            } else {
                self.col += count_chars(gone);
            }
            self.buf.copy_within(pos..self.end, 0);
            self.base += pos as u64;
            self.end -= pos;
            self.valid -= pos;
            self.pos = 0;
        }
        if self.buf.len() - self.end < 16 {
            // One unfinished token fills the window (or too little room is left to decode
            // one more character into it): grow it.
            let n = self.buf.len() * 2;
            self.buf.resize(n, 0);
        } else if self.buf.len() > CAPACITY && self.end < CAPACITY / 2 {
            self.buf.truncate(CAPACITY.max(self.end));
            self.buf.shrink_to_fit();
        }
    }

    /// Read and decode into `buf[end..]`.
    fn fill(&mut self) -> Result<(), InputError> {
        match &mut self.decode {
            Decode::Utf8 => {
                if self.raw_len > 0 {
                    // The bytes read while detecting the encoding.
                    let n = self.raw_len.min(self.buf.len() - self.end);
                    self.buf[self.end..self.end + n].copy_from_slice(&self.raw[..n]);
                    self.raw.copy_within(n..self.raw_len, 0);
                    self.raw_len -= n;
                    self.end += n;
                    if self.raw_len == 0 {
                        self.raw = Vec::new();
                    }
                    return Ok(());
                }
                if self.raw_eof {
                    self.eof = true;
                    return Ok(());
                }
                let n = loop {
                    match self.reader.read(&mut self.buf[self.end..]) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e.into()),
                    }
                };
                self.read_bytes += n;
                self.meter.read(n);
                if n == 0 {
                    self.eof = true;
                } else {
                    self.any = true;
                }
                self.end += n;
                Ok(())
            }
            Decode::Latin1 => {
                if self.raw_len == 0 {
                    if self.raw_eof {
                        self.eof = true;
                        return Ok(());
                    }
                    self.read_raw()?;
                    return Ok(());
                }
                // Each byte is the code point of the same value: 1 or 2 UTF-8 bytes.
                let room = self.buf.len() - self.end;
                let mut used = 0;
                let mut w = self.end;
                for &b in &self.raw[..self.raw_len] {
                    if w + 2 > self.end + room {
                        break;
                    }
                    if b < 0x80 {
                        self.buf[w] = b;
                        w += 1;
                    } else {
                        self.buf[w] = 0xC0 | (b >> 6);
                        self.buf[w + 1] = 0x80 | (b & 0x3F);
                        w += 2;
                    }
                    used += 1;
                }
                self.raw.copy_within(used..self.raw_len, 0);
                self.raw_len -= used;
                self.end = w;
                Ok(())
            }
            Decode::Rs(_) => {
                if self.raw_len == 0 && !self.raw_eof {
                    self.read_raw()?;
                    return Ok(());
                }
                let last = self.raw_eof;
                let Decode::Rs(dec) = &mut self.decode else {
                    unreachable!()
                };
                let (res, read, written) = dec.decode_to_utf8_without_replacement(
                    &self.raw[..self.raw_len],
                    &mut self.buf[self.end..],
                    last,
                );
                self.raw.copy_within(read..self.raw_len, 0);
                self.raw_len -= read;
                self.end += written;
                match res {
                    DecoderResult::InputEmpty => {
                        if last {
                            self.eof = true;
                        }
                    }
                    DecoderResult::OutputFull => {}
                    DecoderResult::Malformed(_, _) => {
                        // Everything decoded before the bad bytes is kept; the data stops
                        // there.
                        self.eof = true;
                        self.validate();
                        if self.bad.is_none() {
                            self.bad = Some(Bad::Encoding);
                        }
                    }
                }
                Ok(())
            }
        }
    }

    /// Extend `valid` over the new bytes: UTF-8, and in strict mode XML characters only.
    fn validate(&mut self) {
        if self.bad.is_some() || self.valid == self.end {
            return;
        }
        let new = &self.buf[self.valid..self.end];
        let upto = match std::str::from_utf8(new) {
            Ok(_) => new.len(),
            Err(e) => {
                if e.error_len().is_some() {
                    self.bad = Some(Bad::Encoding);
                }
                e.valid_up_to()
            }
        };
        let upto = if self.strict {
            match first_illegal_char(&new[..upto]) {
                Some((i, c)) => {
                    self.bad = Some(Bad::Char(c));
                    i
                }
                None => upto,
            }
        } else {
            upto
        };
        self.valid += upto;
    }

    /// Line and column (1-based; the column in characters) of an absolute offset inside the
    /// current window (or at its end).
    pub fn line_col(&self, offset: u64) -> (u64, u64) {
        if let Some(&(_, line, col)) = self.marks.iter().flatten().find(|m| m.0 == offset) {
            return (line, col);
        }
        let i = (offset.saturating_sub(self.base) as usize).min(self.end);
        let before = &self.buf[..i];
        match memchr::memrchr(b'\n', before) {
            Some(last) => {
                let nl = memchr::memchr_iter(b'\n', before).count() as u64;
                (self.line + nl, count_chars(&before[last + 1..]) + 1)
            }
            None => (self.line, self.col + count_chars(before) + 1),
        }
    }
}

/// The most bytes read to tell the encoding.
pub const HEAD: usize = 4096;

/// Whether the first bytes of an input are enough to tell its encoding (see
/// [`Input::with_head`]): [`HEAD`] bytes, or 4 that cannot start an XML declaration, or
/// the whole declaration. (Four bytes `<?xm` may: a pipe that gave only them at first must
/// be read on, or the declared encoding would be missed.)
pub fn head_complete(head: &[u8]) -> bool {
    if head.len() >= HEAD {
        return true;
    }
    // After a byte order mark, and in UTF-16, the declaration is read as the checks of its
    // encoding against the mark read it (see `Input::start`).
    let (body, le) = match head {
        [0xEF, 0xBB, 0xBF, rest @ ..] => return decl_complete(rest),
        [0xFF, 0xFE, rest @ ..] => (rest, true),
        [0xFE, 0xFF, rest @ ..] => (rest, false),
        [0x3C, 0, 0x3F, 0, ..] => (head, true),
        [0, 0x3C, 0, 0x3F, ..] => (head, false),
        _ => return decl_complete(head),
    };
    let ascii = ascii_of_utf16(body, le);
    // A character that is not ASCII ends what can be a declaration.
    ascii.len() < body.len() / 2 || decl_complete(&ascii)
}

/// Whether `head` holds a whole XML declaration, or enough to tell there is none.
fn decl_complete(head: &[u8]) -> bool {
    const DECL: &[u8] = b"<?xml";
    head.len() >= 4
        && if head.len() < DECL.len() {
            !DECL.starts_with(head)
        } else {
            !head.starts_with(DECL) || memchr::memmem::find(head, b"?>").is_some()
        }
}

/// `UTF-16LE` or `UTF-16BE` when `head` starts like UTF-16 text without a byte order mark:
/// two ASCII characters (the first a `<` or white space), each with a NUL byte before or
/// after it. No UTF-8 (or other ASCII-compatible) XML can start so: NUL is not an XML
/// character.
fn utf16_without_bom(head: &[u8]) -> Option<&'static str> {
    let lead = |c: u8| c == b'<' || is_space_byte(c);
    let ascii = |c: u8| (0x20..0x7F).contains(&c) || is_space_byte(c);
    match head {
        [a, 0, b, 0, ..] if lead(*a) && ascii(*b) => Some("UTF-16LE"),
        [0, a, 0, b, ..] if lead(*a) && ascii(*b) => Some("UTF-16BE"),
        _ => None,
    }
}

fn is_space_byte(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// The characters in UTF-8 text.
pub fn count_chars(b: &[u8]) -> u64 {
    b.iter().filter(|&&c| (c & 0xC0) != 0x80).count() as u64
}

fn bad_message(bad: Bad) -> String {
    match bad {
        Bad::Encoding => "invalid UTF-8 (or bytes not valid in the declared encoding)".into(),
        Bad::Char(c) => format!(
            "character U+{:04X} is not allowed in XML (only tab, CR, LF and U+0020 and up, except U+FFFE and U+FFFF)",
            c as u32
        ),
    }
}

/// The first character of valid UTF-8 text that is not an XML `Char`: a C0 control other
/// than tab, LF, CR; or U+FFFE / U+FFFF (surrogates cannot occur in valid UTF-8).
pub fn first_illegal_char(b: &[u8]) -> Option<(usize, char)> {
    let mut i = 0;
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // Clean blocks of thirty-two bytes skipped with AVX2 where the processor has it
        // (the same test as the sixteen-byte blocks below, which take over at the first
        // block that is not clean).
        if b.len() >= 64 && std::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor has AVX2 (checked just above).
            i = unsafe { clean_prefix_avx2(b) };
        }
        // Sixteen bytes at a time (SSE2 is part of x86-64): a block with no control byte
        // other than tab/LF/CR and no 0xEF byte (the lead byte of U+Fxxx) is clean.
        while i + 16 <= b.len() {
            // SAFETY: SSE2 is always available on x86-64; the load reads b[i..i + 16],
            // which is in bounds.
            let m = unsafe {
                let v = _mm_loadu_si128(b.as_ptr().add(i).cast());
                let max1f = _mm_set1_epi8(0x1F);
                let ctl = _mm_cmpeq_epi8(_mm_max_epu8(v, max1f), max1f);
                let ok = _mm_or_si128(
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\t' as i8)),
                    _mm_or_si128(
                        _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\n' as i8)),
                        _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\r' as i8)),
                    ),
                );
                let ef = _mm_cmpeq_epi8(v, _mm_set1_epi8(0xEFu8 as i8));
                _mm_movemask_epi8(_mm_or_si128(_mm_andnot_si128(ok, ctl), ef))
            };
            if m != 0 {
                let first = i + m.trailing_zeros() as usize;
                if let Some(hit) = (first..i + 16).find_map(|j| illegal_at(b, j).map(|c| (j, c))) {
                    return Some(hit);
                }
            }
            i += 16;
        }
    }
    (i..b.len()).find_map(|j| illegal_at(b, j).map(|c| (j, c)))
}

/// The length of the run of clean blocks of thirty-two bytes at the start of `b` (see
/// [`first_illegal_char`]): no control byte other than tab, LF, CR and no 0xEF byte.
///
/// # Safety
/// The processor must have AVX2 (the caller checks it at run time).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn clean_prefix_avx2(b: &[u8]) -> usize {
    use std::arch::x86_64::*;
    let mut i = 0;
    let max1f = _mm256_set1_epi8(0x1F);
    let tab = _mm256_set1_epi8(b'\t' as i8);
    let lf = _mm256_set1_epi8(b'\n' as i8);
    let cr = _mm256_set1_epi8(b'\r' as i8);
    let ef = _mm256_set1_epi8(0xEFu8 as i8);
    while i + 32 <= b.len() {
        // SAFETY: the load reads b[i..i + 32], which is in bounds.
        let v = unsafe { _mm256_loadu_si256(b.as_ptr().add(i).cast()) };
        let ctl = _mm256_cmpeq_epi8(_mm256_max_epu8(v, max1f), max1f);
        let ok = _mm256_or_si256(
            _mm256_cmpeq_epi8(v, tab),
            _mm256_or_si256(_mm256_cmpeq_epi8(v, lf), _mm256_cmpeq_epi8(v, cr)),
        );
        let bad = _mm256_or_si256(_mm256_andnot_si256(ok, ctl), _mm256_cmpeq_epi8(v, ef));
        if _mm256_movemask_epi8(bad) != 0 {
            break;
        }
        i += 32;
    }
    i
}

#[inline]
fn illegal_at(b: &[u8], j: usize) -> Option<char> {
    let c = b[j];
    if c < 0x20 && c != b'\t' && c != b'\n' && c != b'\r' {
        return Some(c as char);
    }
    if c == 0xEF && b.get(j + 1) == Some(&0xBF) {
        match b.get(j + 2) {
            Some(0xBE) => return Some('\u{FFFE}'),
            Some(0xBF) => return Some('\u{FFFF}'),
            _ => {}
        }
    }
    None
}

/// The `encoding` pseudo-attribute of an XML declaration at the start of `head`.
fn declared_encoding(head: &[u8]) -> Option<String> {
    declared_encoding_at(head).map(|(label, _)| label)
}

/// [`declared_encoding`], and the offset of its value in `head`.
fn declared_encoding_at(head: &[u8]) -> Option<(String, usize)> {
    if !head.starts_with(b"<?xml") {
        return None;
    }
    let end = memchr::memmem::find(head, b"?>")?;
    let decl = std::str::from_utf8(&head[5..end]).ok()?;
    let at = decl.find("encoding")?;
    let rest = decl[at + 8..].trim_start().strip_prefix('=')?.trim_start();
    let q = rest.chars().next()?;
    if q != '"' && q != '\'' {
        return None;
    }
    let value = end - rest.len() + 1;
    let rest = &rest[1..];
    let close = rest.find(q)?;
    Some((rest[..close].to_string(), value))
}

/// The ASCII characters at the start of UTF-16 bytes (little-endian when `le`), up to the
/// first that is not ASCII: enough to read an XML declaration, one byte per character.
fn ascii_of_utf16(b: &[u8], le: bool) -> Vec<u8> {
    b.chunks_exact(2)
        .map(|u| if le { (u[0], u[1]) } else { (u[1], u[0]) })
        .take_while(|&(lo, hi)| hi == 0 && lo != 0 && lo.is_ascii())
        .map(|(lo, _)| lo)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: &[u8], cap: usize, strict: bool) -> (String, Option<(u64, String)>) {
        let mut inp = match Input::with_capacity(
            Box::new(std::io::Cursor::new(bytes.to_vec())),
            strict,
            cap,
            Meter::default(),
        ) {
            Ok(i) => i,
            Err(InputError::At(o, m)) => return (String::new(), Some((o, m))),
            Err(InputError::Io(e)) => panic!("{e}"),
            Err(InputError::Blocked) => unreachable!("a cursor never blocks"),
        };
        let mut got = Vec::new();
        loop {
            got.extend_from_slice(inp.data());
            inp.pos = inp.valid;
            match inp.more() {
                Ok(true) => {}
                Ok(false) => return (String::from_utf8(got).unwrap(), None),
                Err(InputError::At(o, m)) => {
                    return (String::from_utf8(got).unwrap(), Some((o, m)));
                }
                Err(InputError::Io(e)) => panic!("{e}"),
                Err(InputError::Blocked) => unreachable!("a cursor never blocks"),
            }
        }
    }

    #[test]
    fn utf8_with_and_without_bom_at_any_capacity() {
        for cap in [16, 17, 33, 4096] {
            assert_eq!(
                read_all("<a>é€😀</a>".as_bytes(), cap, true).0,
                "<a>é€😀</a>"
            );
            let mut b = vec![0xEF, 0xBB, 0xBF];
            b.extend_from_slice("<a>é</a>".as_bytes());
            assert_eq!(read_all(&b, cap, true).0, "<a>é</a>");
        }
    }

    #[test]
    fn utf16_and_latin1_are_decoded() {
        let text = "<?xml version=\"1.0\"?><a>é€</a>";
        let mut le = vec![0xFF, 0xFE];
        let mut be = vec![0xFE, 0xFF];
        for u in text.encode_utf16() {
            le.extend_from_slice(&u.to_le_bytes());
            be.extend_from_slice(&u.to_be_bytes());
        }
        assert_eq!(read_all(&le, 16, true).0, text);
        assert_eq!(read_all(&be, 4096, true).0, text);
        let (got, err) = read_all(
            b"<?xml version='1.0' encoding='ISO-8859-1'?><a>\xe9\xff</a>",
            4096,
            true,
        );
        assert!(err.is_none(), "{:?}", err.map(|e| e.1));
        assert!(got.ends_with("<a>éÿ</a>"), "{got}");
        let latin = b"<?xml version='1.0' encoding='ISO-8859-1'?><a>\xe9\xff</a>";
        assert_eq!(
            read_all(latin, 16, true).0,
            "<?xml version='1.0' encoding='ISO-8859-1'?><a>éÿ</a>"
        );
        let cp = b"<?xml version=\"1.0\" encoding=\"windows-1252\"?><a>\x80</a>";
        assert!(read_all(cp, 4096, true).0.ends_with("<a>€</a>"));
        assert!(
            read_all(b"<?xml version='1.0' encoding='klingon'?><a/>", 4096, true)
                .1
                .unwrap()
                .1
                .contains("unsupported")
        );
    }

    #[test]
    fn bad_bytes_stop_the_data_and_give_their_offset() {
        let (got, err) = read_all(b"<a>ok\xff</a>", 16, false);
        assert_eq!(got, "<a>ok");
        assert_eq!(err.unwrap().0, 5);
        let (got, err) = read_all(b"<a>ok\x01</a>", 16, true);
        assert_eq!(got, "<a>ok");
        assert!(err.unwrap().1.contains("U+0001"));
        assert!(read_all(b"<a>ok\x01</a>", 16, false).1.is_none());
        let (_, err) = read_all("<a>\u{FFFF}</a>".as_bytes(), 4096, true);
        assert_eq!(err.unwrap().0, 3);
        // Truncated inside a character.
        let (got, err) = read_all(b"<a>\xc3", 16, false);
        assert_eq!((got.as_str(), err.unwrap().0), ("<a>", 3));
    }

    #[test]
    fn illegal_char_scan() {
        // Every position of a block and of the scalar tail (and, from 64 bytes on, of the
        // thirty-two-byte blocks).
        for len in (1..40).chain([64, 65, 96, 100, 130]) {
            for at in 0..len {
                for bad in [0u8, 1, 8, 0x0b, 0x0c, 0x1f] {
                    let mut v = vec![b'x'; len];
                    v[at] = bad;
                    assert_eq!(
                        first_illegal_char(&v),
                        Some((at, bad as char)),
                        "{len} {at}"
                    );
                }
                let clean = "\t\r\n\u{e9}".repeat(len).into_bytes();
                assert_eq!(first_illegal_char(&clean), None);
                let mut v = vec![b'y'; len];
                v.splice(at..at, "\u{FFFF}".bytes());
                assert_eq!(first_illegal_char(&v), Some((at, '\u{FFFF}')));
            }
        }
        assert_eq!(
            first_illegal_char("\u{FFFD}\u{FFEF}\u{F000}abcdefghijklmnop".as_bytes()),
            None
        );
        assert_eq!(first_illegal_char(b"abc\tdef\r\nghijklmnop"), None);
        assert_eq!(first_illegal_char(b"abcdefghij\x0bk"), Some((10, '\u{b}')));
        assert_eq!(
            first_illegal_char("abcdefgh\u{FFFE}".as_bytes()),
            Some((8, '\u{FFFE}'))
        );
        assert_eq!(first_illegal_char("\u{FFFD}\u{FFEF}".as_bytes()), None);
    }

    #[test]
    fn the_head_is_read_to_the_end_of_the_xml_declaration() {
        assert!(!head_complete(b"<?x"));
        assert!(!head_complete(b"<?xm"));
        assert!(!head_complete(b"<?xml version='1.0'"));
        assert!(head_complete(b"<?xml version='1.0'?>"));
        assert!(head_complete(b"<r/>"));
        // After a byte order mark too, in UTF-16 as well: the declared encoding is checked
        // against the mark.
        assert!(!head_complete(b"\xFF\xFE<\0"));
        assert!(head_complete(b"\xFF\xFE<\0r\0/\0>\0"));
        assert!(!head_complete(b"\xFE\xFF\0<\0?\0x\0m\0l"));
        assert!(head_complete(b"\0<\0?\0x\0m\0l\0?\0>"));
        assert!(head_complete(b"\xFF\xFE<\0?\0x\0m\0l\0 \0\xe9\0"));
        assert!(!head_complete(b"\xEF\xBB\xBF<?xml version='1.0'"));
        assert!(head_complete(b"\xEF\xBB\xBF<?xml version='1.0'?>"));
        assert!(head_complete(&[b' '; HEAD]));
    }

    #[test]
    fn line_and_column() {
        let mut inp = Input::with_capacity(
            Box::new(std::io::Cursor::new("ab\ncd\u{e9}f\nx".as_bytes().to_vec())),
            true,
            16,
            Meter::default(),
        )
        .ok()
        .unwrap();
        while inp.more().ok().unwrap() {}
        assert_eq!(inp.line_col(0), (1, 1));
        assert_eq!(inp.line_col(4), (2, 2));
        assert_eq!(inp.line_col(8), (2, 5));
        assert_eq!(inp.line_col(9), (3, 1));
        assert_eq!(inp.line_col(10), (3, 2));
    }
}
