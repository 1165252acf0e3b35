//! The rotated copies of a followed file: where the lines written before a rotation went
//! when the file itself no longer holds them.
//!
//! A file read up to some offset that is now truncated (logrotate's `copytruncate`, while
//! copipe ran or while it was stopped), or whose inode now holds another file (renamed
//! away, and a new file got the same inode), had its old content copied or moved to a
//! sibling with one of the usual rotated names: `app.log.1`, `app.log.0`,
//! `app.log-20261207`, `app.log.2026-12-07`, `app.log.1.gz`. [`find`] looks in the file's
//! directory for the sibling that begins with the bytes the file began with (their
//! fingerprint, as `--state` keeps it) and reaches the offset, most recently modified
//! first, and hands it over positioned at that offset: what was read there already is not
//! read again, the rest is.
//!
//! A candidate is opened as a byte reader by [`open`]: a plain file today. A compressed
//! sibling (`.gz`, `.zst`, …) is a candidate too, but [`open`] cannot read it yet (the
//! decompression layer plugs in there, and nothing else changes): it is skipped.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::state::fingerprint;

/// What the rotated copy must match: the first `head_len` bytes of the file as it was
/// (their [`fingerprint`]) and its length at least `offset`.
#[derive(Clone, Copy, Debug)]
pub struct Wanted {
    pub head_len: usize,
    pub head_hash: u64,
    pub offset: u64,
    /// The file itself (device and inode), never its own rotated copy.
    pub not: (u64, u64),
}

/// A rotated copy found, positioned at the offset.
pub struct Found {
    pub path: PathBuf,
    /// Its device and inode: the globs may follow it too (`*.log*`).
    pub id: (u64, u64),
    /// Where its reader stands: the offset wanted.
    pub offset: u64,
    pub reader: Box<dyn Read>,
}

/// Compression suffixes a rotated copy may carry.
const COMPRESSED: &[&str] = &[".gz", ".bz2", ".xz", ".zst", ".lz4", ".Z"];

/// Whether `name` is a rotated name of `base`: `base` followed by `.`, `-` or `_` and a
/// rotation mark made of digits (and `.`, `-`, `_` between them: a number or a date),
/// perhaps then a compression suffix.
pub fn is_rotated_name(base: &str, name: &str) -> bool {
    let Some(rest) = name.strip_prefix(base) else {
        return false;
    };
    let rest = COMPRESSED
        .iter()
        .find_map(|c| rest.strip_suffix(c))
        .unwrap_or(rest);
    let mut chars = rest.chars();
    matches!(chars.next(), Some('.' | '-' | '_'))
        && rest.bytes().any(|b| b.is_ascii_digit())
        && rest
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_'))
}

/// The rotated siblings of `path` in its directory, most recently modified first.
pub fn siblings(path: &Path) -> Vec<PathBuf> {
    let (Some(base), Some(dir)) = (path.file_name().and_then(|n| n.to_str()), path.parent()) else {
        return Vec::new();
    };
    let read_from = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = std::fs::read_dir(read_from) else {
        return Vec::new();
    };
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| is_rotated_name(base, n))
        })
        .filter_map(|e| {
            let modified = e.metadata().ok()?.modified().ok()?;
            Some((modified, dir.join(e.file_name())))
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    found.into_iter().map(|(_, p)| p).collect()
}

/// A candidate opened: its bytes from its start, and its device and inode.
pub type Opened = (Box<dyn ReadAt>, (u64, u64));

/// A candidate opened as a stream of its (uncompressed) bytes from its start, with its
/// device and inode; `None`: a kind of file that cannot be read yet (compressed).
pub fn open(path: &Path) -> io::Result<Option<Opened>> {
    use std::os::unix::fs::MetadataExt;
    let name = path.to_string_lossy();
    if COMPRESSED.iter().any(|c| name.ends_with(c)) {
        // The decompression layer goes here.
        return Ok(None);
    }
    let file = File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(None);
    }
    Ok(Some((Box::new(file), (meta.dev(), meta.ino()))))
}

/// A candidate's bytes: read from its start, and moved to an offset (a plain file seeks;
/// a decompressed stream reads up to it).
pub trait ReadAt: Read {
    /// Go to `offset`, at or past the bytes read so far; whether the file reaches it.
    fn skip_to(&mut self, offset: u64) -> io::Result<bool>;
}

impl ReadAt for File {
    fn skip_to(&mut self, offset: u64) -> io::Result<bool> {
        if self.metadata()?.len() < offset {
            return Ok(false);
        }
        self.seek(SeekFrom::Start(offset))?;
        Ok(true)
    }
}

/// The rotated copy of `path` that matches `want`, positioned at its offset.
pub fn find(path: &Path, want: Wanted) -> Option<Found> {
    for candidate in siblings(path) {
        let Ok(Some((mut reader, id))) = open(&candidate) else {
            continue;
        };
        if id == want.not {
            continue;
        }
        let mut head = vec![0; want.head_len];
        if read_full(&mut *reader, &mut head).ok() != Some(want.head_len)
            || fingerprint(&head) != want.head_hash
        {
            continue;
        }
        if want.offset < want.head_len as u64 || !reader.skip_to(want.offset).unwrap_or(false) {
            continue;
        }
        return Some(Found {
            path: candidate,
            id,
            offset: want.offset,
            reader: Box::new(ReadBox(reader)),
        });
    }
    None
}

/// A boxed [`ReadAt`] as a plain reader.
struct ReadBox(Box<dyn ReadAt>);

impl Read for ReadBox {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

/// Read into all of `buf` unless the end comes first: how many bytes were read.
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_names_are_numbers_and_dates_after_the_name() {
        for n in [
            "app.log.1",
            "app.log.0",
            "app.log.12",
            "app.log-20261207",
            "app.log-20261207-1765000000",
            "app.log.2026-12-07",
            "app.log_2026_12_07",
            "app.log.1.gz",
            "app.log-20261207.zst",
        ] {
            assert!(is_rotated_name("app.log", n), "{n}");
        }
        for n in [
            "app.log",
            "app.log.bak",
            "app.log.1.txt",
            "app.log.",
            "app.log2",
            "other.log.1",
            "app.log.gz",
        ] {
            assert!(!is_rotated_name("app.log", n), "{n}");
        }
    }

    #[test]
    fn the_copy_that_begins_with_the_fingerprint_and_reaches_the_offset_is_found() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        std::fs::write(&log, "new\n").unwrap();
        std::fs::write(dir.path().join("app.log.2"), "old old\n").unwrap();
        std::fs::write(dir.path().join("app.log.1"), "first\nsecond\nthird\n").unwrap();
        std::fs::write(dir.path().join("app.log.1.gz"), "not read yet").unwrap();
        let m = std::fs::metadata(&log).unwrap();
        let want = |offset| Wanted {
            head_len: 6,
            head_hash: fingerprint(b"first\n"),
            offset,
            not: (m.dev(), m.ino()),
        };
        let mut f = find(&log, want(13)).expect("app.log.1");
        assert_eq!(f.path, dir.path().join("app.log.1"));
        let mut rest = String::new();
        f.reader.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "third\n");
        // Not long enough: none.
        assert!(find(&log, want(100)).is_none());
        // Other first bytes: none.
        let other = Wanted {
            head_hash: fingerprint(b"xxxxx\n"),
            ..want(6)
        };
        assert!(find(&log, other).is_none());
    }
}
