//! `--state FILE`: the checkpoint of a follow — for every followed file, its identity and
//! the offset just past the last whole line the sinks have written and flushed.
//!
//! A file is known by device and inode plus a fingerprint of its first bytes (up to
//! [`super::HEAD`], as many as it had when the checkpoint was written): an inode reused by
//! another file has other first bytes. The state is JSON with a version field, written
//! atomically (a temporary file in the same directory, fsync, rename, fsync of the
//! directory) so that a crash at any moment leaves the old state or the new one, never a
//! mix.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::runtime::delivery::Marks;

/// The version written; a state of another version is not used.
pub const VERSION: u64 = 1;

/// One file in the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    /// Its name when the state was written.
    pub path: PathBuf,
    pub id: (u64, u64),
    /// Just past the last line written and flushed by the sinks.
    pub offset: u64,
    /// How many of its first bytes the fingerprint covers, and their hash.
    pub head_len: u64,
    pub head_hash: u64,
}

/// Checkpoints taken but not yet confirmed by the asynchronous sinks (end-to-end
/// acknowledgements, see [`crate::runtime::delivery`]): each with what every such sink
/// had taken when it was taken, oldest first. Bounded: when full, the newest is replaced
/// (the older ones are confirmed first, so the state keeps advancing; a checkpoint skipped
/// only means a later one is written instead).
#[derive(Default)]
pub struct Unconfirmed {
    queue: VecDeque<(Vec<Saved>, Marks)>,
}

/// At most this many checkpoints wait (one a second: about a minute of a server's
/// silence before checkpoints are skipped).
const UNCONFIRMED: usize = 64;

impl Unconfirmed {
    pub fn push(&mut self, files: &[Saved], marks: Marks) {
        if self.queue.len() >= UNCONFIRMED {
            self.queue.pop_back();
        }
        self.queue.push_back((files.to_vec(), marks));
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The newest checkpoint every sink confirmed (the older ones are forgotten).
    pub fn confirmed(&mut self) -> Option<Vec<Saved>> {
        let mut newest = None;
        while self.queue.front().is_some_and(|(_, m)| m.confirmed()) {
            newest = self.queue.pop_front().map(|(f, _)| f);
        }
        newest
    }

    /// At the end: wait (at most the sinks' drain time) for the newest checkpoint to be
    /// confirmed, then the newest confirmed one.
    pub fn wait_confirmed(&mut self) -> Option<Vec<Saved>> {
        if let Some((_, m)) = self.queue.back() {
            let deadline = std::time::Instant::now() + m.drain();
            while !m.confirmed() && !m.hopeless() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
        self.confirmed()
    }
}

/// FNV-1a, 64 bits: the fingerprint of a file's first bytes (no cryptography needed: it
/// tells a reused inode, not an adversary).
pub fn fingerprint(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Read a state file. `Ok(None)`: it does not exist.
pub fn load(path: &Path) -> Result<Option<Vec<Saved>>> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).context("cannot read it"),
    };
    if text.iter().all(u8::is_ascii_whitespace) {
        bail!("it is empty");
    }
    let v: Value = serde_json::from_slice(&text).context("it is not valid JSON")?;
    let version = v.get("version").and_then(Value::as_u64);
    if version != Some(VERSION) {
        bail!(
            "it is of version {} and copipe reads version {VERSION}",
            version.map_or_else(|| "(none)".to_string(), |v| v.to_string())
        );
    }
    let files = v
        .get("files")
        .and_then(Value::as_array)
        .context("it has no `files` list")?;
    let mut saved = Vec::with_capacity(files.len());
    for (k, f) in files.iter().enumerate() {
        let num = |key: &str| {
            f.get(key)
                .and_then(Value::as_u64)
                .with_context(|| format!("file {} has no number `{key}`", k + 1))
        };
        let hash = f
            .get("head_hash")
            .and_then(Value::as_str)
            .and_then(|s| u64::from_str_radix(s, 16).ok())
            .with_context(|| format!("file {} has no hexadecimal `head_hash`", k + 1))?;
        let p = f
            .get("path")
            .and_then(Value::as_str)
            .with_context(|| format!("file {} has no `path`", k + 1))?;
        saved.push(Saved {
            path: PathBuf::from(p),
            id: (num("dev")?, num("ino")?),
            offset: num("offset")?,
            head_len: num("head_len")?,
            head_hash: hash,
        });
    }
    Ok(Some(saved))
}

/// Take the state's lock: an advisory lock (`flock`) on `.NAME.lock` next to it, held
/// until the process ends, with this process's id in it. The state itself cannot carry the
/// lock: each write replaces its file. Another copipe holding it is refused at once, named
/// by its pid: two follows writing one state would undo each other's checkpoints.
pub fn lock(path: &Path) -> Result<File> {
    use std::io::{Read, Seek};
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let lock = dir.join(format!(".{name}.lock"));
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock)
        .with_context(|| {
            format!(
                "cannot lock the state {}: {}",
                path.display(),
                lock.display()
            )
        })?;
    if let Err(e) = crate::runtime::fd::try_lock_exclusive(&f) {
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            let mut pid = String::new();
            let _ = f.read_to_string(&mut pid);
            let who = match pid.trim() {
                "" => "another copipe".to_string(),
                p => format!("another copipe (pid {p})"),
            };
            bail!(
                "the state {} is in use by {who}: two follows cannot share one --state file (give each its own)",
                path.display()
            );
        }
        return Err(
            anyhow::Error::new(e).context(format!("cannot lock the state {}", path.display()))
        );
    }
    f.set_len(0)?;
    f.rewind()?;
    writeln!(f, "{}", std::process::id())?;
    Ok(f)
}

/// Write the state atomically: `path` holds either the old state or this one. With `sync`,
/// durably too (the file and its directory synced: a power loss keeps it); without, it is
/// only handed to the kernel, which a `kill -9` of copipe cannot undo — the cheap write
/// after every flushed batch (see `Checkpoint::synced` in the follow's checkpoint module).
pub fn store(path: &Path, files: &[Saved], sync: bool) -> io::Result<()> {
    let list: Vec<Value> = files
        .iter()
        .map(|f| {
            json!({
                "path": f.path.to_string_lossy(),
                "dev": f.id.0,
                "ino": f.id.1,
                "offset": f.offset,
                "head_len": f.head_len,
                "head_hash": format!("{:016x}", f.head_hash),
            })
        })
        .collect();
    let doc = json!({ "version": VERSION, "files": list });
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    // One name: a run killed while writing leaves one file behind, which the next replaces.
    let tmp = dir.join(format!(".{name}.tmp"));
    let write = || -> io::Result<()> {
        let mut f = File::create(&tmp)?;
        let mut w = io::BufWriter::new(&mut f);
        serde_json::to_writer(&mut w, &doc)?;
        w.write_all(b"\n")?;
        w.flush()?;
        drop(w);
        if sync {
            f.sync_all()?;
        }
        drop(f);
        std::fs::rename(&tmp, path)?;
        if sync {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    };
    let r = write();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_of_a_state_is_refused_naming_the_holder() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.json");
        let held = lock(&p).unwrap();
        // flock locks belong to the open file: a second open in this process conflicts too.
        let e = lock(&p).unwrap_err().to_string();
        assert!(
            e.contains(&format!(
                "in use by another copipe (pid {})",
                std::process::id()
            )),
            "{e}"
        );
        drop(held);
        lock(&p).unwrap();
    }

    #[test]
    fn a_state_is_read_back_as_written() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.json");
        let files = vec![Saved {
            path: "a.log".into(),
            id: (1, u64::MAX),
            offset: 42,
            head_len: 3,
            head_hash: fingerprint(b"abc"),
        }];
        store(&p, &files, true).unwrap();
        assert_eq!(load(&p).unwrap(), Some(files));
        assert_eq!(load(&d.path().join("none")).unwrap(), None);
        // Nothing left behind but the state.
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_checkpoint_is_given_out_once_its_sinks_confirmed_it() {
        use crate::runtime::delivery::Delivery;
        let d = Delivery::new(std::time::Duration::ZERO);
        let at = |offset| Saved {
            path: "a.log".into(),
            id: (1, 2),
            offset,
            head_len: 0,
            head_hash: 0,
        };
        let mut u = Unconfirmed::default();
        d.took(10);
        u.push(&[at(100)], Marks::of(std::slice::from_ref(&d)));
        d.took(5);
        u.push(&[at(150)], Marks::of(std::slice::from_ref(&d)));
        // Lines filtered out: nothing more taken, a checkpoint all the same.
        u.push(&[at(170)], Marks::of(std::slice::from_ref(&d)));
        assert_eq!(u.confirmed(), None);
        d.confirm(12);
        assert_eq!(u.confirmed(), Some(vec![at(100)]));
        assert_eq!(u.confirmed(), None);
        d.confirm(15);
        assert_eq!(u.confirmed(), Some(vec![at(170)]));
        assert!(u.is_empty());
        // Bounded: the newest is replaced when full, the oldest kept.
        d.took(1);
        for k in 0..(UNCONFIRMED as u64 + 10) {
            u.push(&[at(200 + k)], Marks::of(std::slice::from_ref(&d)));
        }
        assert_eq!(u.queue.len(), UNCONFIRMED);
        assert_eq!(u.queue.front().unwrap().0, vec![at(200)]);
        assert_eq!(
            u.queue.back().unwrap().0,
            vec![at(200 + UNCONFIRMED as u64 + 9)]
        );
        d.confirm(16);
        assert_eq!(
            u.wait_confirmed(),
            Some(vec![at(200 + UNCONFIRMED as u64 + 9)])
        );
    }

    #[test]
    fn an_unusable_state_says_why() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.json");
        for (text, why) in [
            ("", "empty"),
            ("{\"version\": 1, \"fil", "not valid JSON"),
            ("{\"version\": 99, \"files\": []}", "version 99"),
            ("{\"version\": 1}", "no `files`"),
            (
                "{\"version\": 1, \"files\": [{\"path\": \"a\"}]}",
                "no hexadecimal `head_hash`",
            ),
        ] {
            std::fs::write(&p, text).unwrap();
            let e = format!("{:#}", load(&p).unwrap_err());
            assert!(e.contains(why), "{text:?}: {e}");
        }
    }
}
