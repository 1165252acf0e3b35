//! A buffered output (standard output or a file) with copipe's flushing rules.
//!
//! Output is block-buffered (64 KiB) unless it is line-buffered (a terminal, or
//! `--line-buffered`), in which case it is flushed after every push. Standard output is
//! written through its own descriptor, not through `std::io::stdout()`, whose line buffering
//! would turn every line into a write call. Errors keep the `io::Error` as their source so
//! `main` can recognise a closed pipe.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use anyhow::{Context, Result};

const CAPACITY: usize = 64 * 1024;

pub struct Output {
    w: BufWriter<File>,
    line_buffered: bool,
    name: String,
}

impl Output {
    /// Standard output (a duplicate of descriptor 1).
    pub fn stdout(line_buffered: bool) -> Result<Self> {
        let fd: OwnedFd = io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .context("cannot use standard output")?;
        Ok(Output {
            w: BufWriter::with_capacity(CAPACITY, File::from(fd)),
            line_buffered,
            name: "standard output".into(),
        })
    }

    /// A file opened for appending (or truncated first).
    pub fn file(path: &Path, truncate: bool, line_buffered: bool) -> Result<Self> {
        let mut o = OpenOptions::new();
        o.create(true);
        if truncate {
            o.write(true).truncate(true);
        } else {
            o.append(true);
        }
        let f = o
            .open(path)
            .with_context(|| format!("cannot open {} for writing", path.display()))?;
        Ok(Output {
            w: BufWriter::with_capacity(CAPACITY, f),
            line_buffered,
            name: path.display().to_string(),
        })
    }

    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        self.w
            .write_all(bytes)
            .with_context(|| format!("error writing to {}", self.name))
    }

    /// The end of one push: flush when line-buffered.
    pub fn pushed(&mut self) -> Result<()> {
        if self.line_buffered {
            self.flush()
        } else {
            Ok(())
        }
    }

    pub fn flush(&mut self) -> Result<()> {
        self.w
            .flush()
            .with_context(|| format!("error writing to {}", self.name))
    }

    pub fn is_line_buffered(&self) -> bool {
        self.line_buffered
    }
}
