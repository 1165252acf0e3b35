//! `cat`'s compressed inputs: a pipe's first bytes gathered until they tell whether it is
//! compressed, and a compressed input read decompressed through a [`Decoder`] (whose
//! thread does the decompression while this one pushes lines). Corrupt or truncated data
//! ends the run, or with `--skip-bad` is a warning and the next input is read; either way
//! every line before it has been pushed.

use std::fs::File;
use std::io::Read as _;
use std::os::fd::AsRawFd;

use anyhow::Result;

use super::{Cat, Input, Step};
use crate::protocol::Stage;
use crate::runtime::signal::readable_now;
use crate::source::decompress::{self, DecodeError, Decoder, Format};
use crate::source::reader::{Place, ReadError, note_cuts};

impl Cat {
    /// Read `file` (of which `head` was read already) decompressed as `format`.
    pub(super) fn decoded(
        &mut self,
        format: Format,
        head: Vec<u8>,
        file: File,
        may_block: bool,
    ) -> Result<Step> {
        match Decoder::spawn(format, head, file, may_block) {
            Ok(dec) => {
                self.input = Some(Input::Decoded(Box::new(dec.metered(self.meter.clone()))));
            }
            Err(e) => self.status.soft_error(
                &anyhow::Error::new(e).context(format!("cannot read {}", self.current)),
            ),
        }
        Ok(Step::More)
    }

    /// The decompressed input ended (or stopped): the last compressed bytes read.
    fn decoded_end(&self, dec: &mut Decoder) {
        self.meter.read(dec.take_compressed() as usize);
    }

    /// Gather the first bytes of a pipe or terminal (read only when readable) until they
    /// are a compression's magic or cannot be one any more; then read it decompressed, or
    /// push those bytes as the start of its lines and read it as it is.
    pub(super) fn sniff(
        &mut self,
        mut file: File,
        mut head: Vec<u8>,
        out: &mut dyn Stage,
    ) -> Result<Step> {
        let fd = file.as_raw_fd();
        if !readable_now(fd) {
            self.input = Some(Input::Sniff { file, head });
            return Ok(Step::Wait(fd));
        }
        let mut chunk = [0u8; decompress::MAGIC_LEN];
        let want = decompress::MAGIC_LEN - head.len();
        let n = loop {
            match file.read(&mut chunk[..want]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.status.soft_error(
                        &anyhow::Error::new(e).context(format!("error reading {}", self.current)),
                    );
                    return Ok(Step::More);
                }
            }
        };
        head.extend_from_slice(&chunk[..n]);
        let eof = n == 0;
        if let Some(format) = Format::sniff(&head) {
            return self.decoded(format, head, file, true);
        }
        if !eof && Format::prefix_of_magic(&head) {
            self.input = Some(Input::Sniff { file, head });
            return Ok(Step::More);
        }
        // Plain: what was gathered is the start of its lines.
        self.meter.read(head.len());
        let mut rest = head.as_slice();
        while !rest.is_empty() {
            let (_, flow) = self.reader.fill(&mut rest, out)?;
            if flow.is_stop() {
                return Ok(Step::Stop);
            }
        }
        if eof {
            return Ok(if self.reader.finish(out)?.is_stop() {
                Step::Stop
            } else {
                Step::More
            });
        }
        self.input = Some(Input::Read {
            file,
            may_block: true,
        });
        Ok(Step::More)
    }

    /// One read of decompressed bytes (when they are there, for an input that may wait).
    pub(super) fn step_decoded(
        &mut self,
        mut dec: Box<Decoder>,
        out: &mut dyn Stage,
    ) -> Result<Step> {
        if dec.may_block() && !dec.ready() {
            let fd = dec.wake_fd();
            self.input = Some(Input::Decoded(dec));
            return Ok(Step::Wait(fd));
        }
        let filled = self.reader.fill(&mut *dec, out);
        let cuts = self.reader.take_cuts();
        note_cuts(cuts, &self.current, self.max_line, &self.meter, Place::Byte);
        match filled {
            Ok((0, _)) => {
                self.decoded_end(&mut dec);
                Ok(if self.reader.finish(out)?.is_stop() {
                    Step::Stop
                } else {
                    Step::More
                })
            }
            Ok((_, flow)) => {
                // Counted in compressed bytes, as the size of the file is for the progress bar.
                self.meter.read(dec.take_compressed() as usize);
                if flow.is_stop() {
                    self.decoded_end(&mut dec);
                    return Ok(Step::Stop);
                }
                self.input = Some(Input::Decoded(dec));
                Ok(Step::More)
            }
            Err(e) if ReadError::is(&e) => {
                self.decoded_end(&mut dec);
                // Every line before the error is pushed, the partial last one too.
                if self.reader.finish(out)?.is_stop() {
                    return Ok(Step::Stop);
                }
                let e = e.context(format!("error reading {}", self.current));
                if DecodeError::find(&e).is_none() {
                    // The file itself could not be read: as for a plain file.
                    self.status.soft_error(&e);
                    return Ok(Step::More);
                }
                if self.skip_bad {
                    crate::say!("copipe: warning: {e:#}; skipped to the next file (--skip-bad)");
                    return Ok(Step::More);
                }
                Err(e)
            }
            Err(e) => Err(e),
        }
    }
}
