//! One followed name and the state of its file: [`Followed`] (the name as given, its
//! directory, its partial line) and [`State`] — open ([`Open`]: descriptor, identity, offset
//! read, first bytes), missing, denied, starved or parked for want of descriptors, done.
//!
//! Here are also the small facts about a file that every other concern of `follow` asks:
//! its first bytes ([`Head`], compared to tell a truncation or a reused inode), how it is
//! read ([`FileKind`]), and how a name is opened without blocking on a FIFO. No method of
//! [`super::Follow`] lives here: this is what the others work on.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self};
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};

use crate::source::reader::Held;

use super::state::{Saved, fingerprint};

/// One followed name.
pub(super) struct Followed {
    /// As the user wrote it (`standard input` for `-`): messages and origins.
    pub(super) name: String,
    pub(super) path: PathBuf,
    /// The absolute directory the name lives in (what is watched).
    pub(super) dir: PathBuf,
    pub(super) stdin: bool,
    pub(super) state: State,
    /// The partial last line while the shared reader serves another input.
    pub(super) partial: Held,
    /// Lines still to drop (`-n +K`), for the file open at start only.
    pub(super) skip: u64,
    /// The directory watched for this name (its own, or its nearest existing ancestor).
    pub(super) watched: Option<PathBuf>,
    /// That the name is a directory (or something else that cannot be followed) was said:
    /// not again until a file has been followed there.
    pub(super) said_unfollowable: bool,
    /// Found by a glob: the file is followed (by its identity, across renames within the
    /// globs), not the name; read to its end and closed once no glob finds it.
    pub(super) found: bool,
    /// Its own watch told of an append, or it had more to read: read in the next round.
    pub(super) poke: bool,
    /// Found by a glob, then renamed out of the globs (logrotate's rename, before the
    /// writer reopens its log): since when. It is read on, with the same guarantees, until
    /// it has been quiet for `--rotate-wait` or is removed (see [`Follow::expire_rotated`]).
    pub(super) out_of_globs: Option<Instant>,
    /// Found by a glob with a rotated name of a followed file, beginning as that file
    /// began: perhaps its copy (logrotate's copytruncate, `*.log*`), whose first bytes
    /// were read already as that file. Not read until that is known (see
    /// `Follow::resolve_copy`).
    pub(super) copy_of: Option<Box<Copied>>,
}

/// What a file that may be a copy of another followed file must show to be one.
pub(super) struct Copied {
    /// The other file's name, for the note.
    pub(super) of: String,
    /// The other file's first bytes (their length and fingerprint).
    pub(super) head_len: usize,
    pub(super) head_hash: u64,
    /// The other file was read up to there (its whole lines): a copy is read from there.
    pub(super) upto: u64,
    /// Its size when last looked at, and since when it has been so: a file that stays
    /// shorter than `upto` for `--rotate-wait` is no copy, and is read from its start.
    pub(super) size: u64,
    pub(super) since: Instant,
}

impl Followed {
    pub(super) fn new(path: &Path, skip: u64) -> Result<Self> {
        let stdin = path.as_os_str() == "-";
        let name = if stdin {
            "standard input".to_string()
        } else {
            path.display().to_string()
        };
        let abs = std::path::absolute(path)
            .with_context(|| format!("cannot follow {name}: no current directory"))?;
        let dir = abs.parent().unwrap_or(Path::new("/")).to_path_buf();
        Ok(Followed {
            name,
            path: path.to_path_buf(),
            dir,
            stdin,
            state: State::Missing,
            partial: Held::default(),
            skip,
            watched: None,
            said_unfollowable: false,
            found: false,
            poke: false,
            out_of_globs: None,
            copy_of: None,
        })
    }

    /// The identity of its file, open or parked (closed for want of descriptors).
    pub(super) fn id(&self) -> Option<(u64, u64)> {
        match &self.state {
            State::Open(o) => Some(o.id),
            State::Parked(p) => Some(p.id),
            _ => None,
        }
    }

    pub(super) fn open(&self) -> Option<&Open> {
        match &self.state {
            State::Open(o) => Some(o),
            _ => None,
        }
    }
}

pub(super) enum State {
    Open(Open),
    /// Waiting for the name to appear (missing at start, or removed).
    Missing,
    /// The name exists but cannot be opened, or is a directory (already reported);
    /// retried on every check.
    Denied,
    /// Nothing more to read: standard input ended, or reading the file failed.
    Done,
    /// No descriptor left to open it (the open-file limit): tried again at every check of
    /// the names, all such names said together once (see [`Follow::tell_starved`]).
    Starved(Option<AtStart>),
    /// Closed while quiet, for want of descriptors (see [`Follow::park_quietest`]): known
    /// by its identity, reopened where it was once it grows (see [`Follow::unpark`]).
    Parked(Box<Parked>),
}

/// A regular file closed while quiet: what reopening it needs. Its partial line waits in
/// its `partial`.
pub(super) struct Parked {
    pub(super) id: (u64, u64),
    /// Bytes read from its start (its partial line included).
    pub(super) offset: u64,
    pub(super) head: Head,
}

/// What a file that could not be opened at start was then (`stat` needs no descriptor):
/// when it can be opened, and is still that file, reading starts where `-n` would have
/// put it at start, so that nothing written in between is lost.
#[derive(Clone, Copy)]
pub(super) struct AtStart {
    pub(super) id: (u64, u64),
    pub(super) size: u64,
}

pub(super) struct Open {
    pub(super) file: File,
    /// Device and inode, to tell when the name points to another file.
    pub(super) id: (u64, u64),
    /// Bytes read from the start of the file (regular files): a smaller size means the
    /// file was truncated.
    pub(super) offset: u64,
    pub(super) kind: FileKind,
    /// The file's first bytes as last seen (regular files, up to [`HEAD`]): other bytes
    /// there mean that it was truncated and written again, even if it is not smaller.
    pub(super) head: Head,
    /// When a read last returned data (or it was opened): the quietest files are parked
    /// first when descriptors run out.
    pub(super) grown: Instant,
}

/// How many of a regular file's first bytes are compared after each wake-up.
pub(super) const HEAD: usize = 256;

/// The first bytes of a regular file as seen so far (fewer than [`HEAD`] while the file
/// is shorter).
pub(super) struct Head {
    /// Boxed: one allocation per file opened, and the state of a name stays small.
    pub(super) bytes: Box<[u8; HEAD]>,
    pub(super) len: usize,
}

impl Head {
    pub(super) fn empty() -> Head {
        Head {
            bytes: Box::new([0; HEAD]),
            len: 0,
        }
    }

    /// The first bytes of `file` now.
    pub(super) fn of(file: &File) -> io::Result<Head> {
        let mut h = Head::empty();
        h.len = read_head(file, &mut h.bytes[..])?;
        Ok(h)
    }

    /// Compare with `now`, the file's first bytes read again: only the prefix both know is
    /// compared (a short file that grew, or a file now shorter, is not "other bytes").
    /// Whether they differ; otherwise what is known grows to what `now` holds.
    pub(super) fn changed(&mut self, now: &[u8]) -> bool {
        let known = self.len.min(now.len());
        if self.bytes[..known] != now[..known] {
            return true;
        }
        self.bytes[..now.len()].copy_from_slice(now);
        self.len = now.len();
        false
    }

    /// The fingerprint of the bytes known (what the state keeps of them).
    pub(super) fn hash(&self) -> u64 {
        fingerprint(&self.bytes[..self.len])
    }

    pub(super) fn set(&mut self, now: &[u8]) {
        self.bytes[..now.len()].copy_from_slice(now);
        self.len = now.len();
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum FileKind {
    /// Read with plain reads; end of file means "nothing new yet".
    Regular,
    /// A named FIFO, opened non-blocking: when its writer goes away it is opened again, so
    /// the next writer is followed too.
    Fifo,
    /// A pipe or terminal on standard input, a character device: read when `poll` says
    /// so, until its end.
    Stream,
}

/// How a file of type `ft` is read, if it can be followed at all (not a directory).
pub(super) fn kind_of(ft: std::fs::FileType) -> Option<FileKind> {
    if ft.is_file() || ft.is_block_device() {
        Some(FileKind::Regular)
    } else if ft.is_fifo() {
        Some(FileKind::Fifo)
    } else if ft.is_char_device() {
        Some(FileKind::Stream)
    } else {
        None
    }
}

/// Open a name for reading without blocking on a FIFO that has no writer yet.
pub(super) fn open_path(path: &Path) -> io::Result<(File, Metadata)> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    Ok((file, meta))
}

/// Whether `file` begins with the bytes whose fingerprint `s` keeps.
pub(super) fn same_head(file: &File, s: &Saved) -> bool {
    let mut head = [0u8; HEAD];
    let want = (s.head_len as usize).min(HEAD);
    matches!(read_head(file, &mut head), Ok(n) if n >= want && fingerprint(&head[..want]) == s.head_hash)
}

/// Read the first bytes of `file` into `buf` (as many as there are, up to its length).
pub(super) fn read_head(file: &File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The name (or a directory on its way) does not exist.
pub(super) fn is_missing(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR)
}
