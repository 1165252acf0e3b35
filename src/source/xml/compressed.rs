//! `xml`'s compressed feeds: the reader of a file found compressed when it was opened, or
//! of a pipe whose first bytes are a compression's magic, decompressed on a thread of its
//! own ([`Decoder`]) while this one parses. A compressed feed cannot be mapped and cut into
//! parts, so it is parsed by one thread (beside the decompressing one) whatever
//! `--threads` says.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::RawFd;

use anyhow::Result;

use super::{Run, XmlTask, input, located};
use crate::protocol::task::Wait;
use crate::runtime::meter::Meter;
use crate::runtime::signal::{Interrupt, Interruptible};
use crate::source::decompress::{self, Decoder, Format};
use crate::source::xml::input::Input;
use crate::source::xml::parser::Parser;

/// The reader of the direct path, and the descriptor its reads may sleep on: the file
/// decompressed when `compressed` (a regular file) or, with `decompress`, when its first
/// bytes (read here, for a pipe) say so; else the file as it is.
pub(super) fn reader(
    file: File,
    compressed: Option<Format>,
    decompress: bool,
    interrupt: &Interrupt,
    meter: &Meter,
) -> Result<(Box<dyn Read>, Option<RawFd>)> {
    if let Some(format) = compressed {
        let dec = Decoder::spawn(format, Vec::new(), file, false)?.metered(meter.clone());
        return Ok((Box::new(dec.interruptible(interrupt.clone())), None));
    }
    let for_thread = file.try_clone();
    let mut plain = Interruptible::new(file, interrupt.clone());
    let Some(fd) = plain.blocking_fd() else {
        return Ok((Box::new(plain), None));
    };
    if !decompress {
        return Ok((Box::new(plain), Some(fd)));
    }
    let mut head = Vec::with_capacity(decompress::MAGIC_LEN);
    let mut chunk = [0u8; decompress::MAGIC_LEN];
    while Format::prefix_of_magic(&head) {
        match plain.read(&mut chunk[..decompress::MAGIC_LEN - head.len()]) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    match Format::sniff(&head) {
        Some(format) => {
            let dec = Decoder::spawn(format, head, for_thread?, true)?.metered(meter.clone());
            let wake = dec.wake_fd();
            Ok((Box::new(dec.interruptible(interrupt.clone())), Some(wake)))
        }
        None => Ok((Box::new(io::Cursor::new(head).chain(plain)), Some(fd))),
    }
}

impl XmlTask {
    /// The parser over `file` decompressed as `format` (`head`: its first bytes, read
    /// already); `may_block`: a pipe, read only when its decompressed bytes are there.
    pub(super) fn parser_decoded(
        &mut self,
        format: Format,
        head: Vec<u8>,
        file: File,
        may_block: bool,
    ) -> Result<Run> {
        let dec = Decoder::spawn(format, head, file, may_block)?.metered(self.meter.clone());
        if may_block {
            // Its first decompressed bytes are gathered as they come, never waited for.
            return Ok(Run::DecodedHead(
                Box::new(dec),
                Vec::with_capacity(input::HEAD),
            ));
        }
        self.decoded_parser(dec, Vec::new(), false)
    }

    /// Gather the first decompressed bytes of a pipe, read only when they are there, until
    /// they tell the encoding; then the parser. `Some`: what to wait for first.
    pub(super) fn decoded_head(
        &mut self,
        mut dec: Box<Decoder>,
        mut head: Vec<u8>,
    ) -> Result<Option<Wait>> {
        let mut eof = false;
        while !input::head_complete(&head) {
            if !dec.ready() {
                let fd = dec.wake_fd();
                self.run = Run::DecodedHead(dec, head);
                return Ok(Some(Wait::Readable(fd)));
            }
            let mut chunk = [0u8; 4096];
            match dec.read(&mut chunk) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => {
                    self.meter.read(n);
                    head.extend_from_slice(&chunk[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(
                        anyhow::Error::new(e).context(format!("error reading {}", self.name))
                    );
                }
            }
        }
        self.run = self.decoded_parser(*dec, head, eof)?;
        Ok(None)
    }

    /// The parser over a decoder whose first bytes `head` were read (all of it: `eof`).
    fn decoded_parser(&mut self, dec: Decoder, head: Vec<u8>, eof: bool) -> Result<Run> {
        let blocking_fd = dec.may_block().then(|| dec.wake_fd());
        let dec = dec.interruptible(self.interrupt.clone());
        let mut input = Input::with_head(
            Box::new(dec),
            head,
            eof,
            self.strict,
            input::CAPACITY,
            self.meter.clone(),
        )
        .map_err(|e| located(&self.name, e.into(), None))?;
        input.blocking_fd = blocking_fd;
        input.nonblocking = true;
        let mut p = Parser::new(input, self.strict);
        p.file = Some(self.name.as_str().into());
        Ok(Run::One(Box::new(p)))
    }
}
