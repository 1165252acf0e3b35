//! A `write` must not write into a file the source reads: `cat f : write f` would read back
//! what it writes and grow `f` until the disk is full, and `write --truncate f` would empty
//! `f` before it is read. GNU cat refuses the same ("input file is output file").
//!
//! The check runs when the pipeline is built, before the source opens anything and before
//! any `write` opens (and maybe truncates) its file. Files are compared as the system sees
//! them — device and inode — so hard links and symbolic links to an input are caught, and
//! so is standard input redirected from the output file (`copipe cat : write f < f`). A file
//! `follow` waits for may not exist yet; a `write` that would create it is refused too
//! (compared by its canonical directory and name). A `write` into something that is not a
//! regular file (`/dev/null`, a terminal, a FIFO) is left alone.
//!
//! Standard output is checked the same way ([`refuse_stdout_that_is_an_input`]): `copipe cat
//! f >> f` or `copipe follow f >> f` would grow `f` without end. When standard output is a
//! regular file that an input is too (device and inode; for `follow`, also a file its globs
//! find now), the pipeline is refused before anything is read, as GNU cat does.

use std::ffi::OsStr;
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::grammar::{Call, Pipeline, SyntaxError};

/// One input of the source, as found when the pipeline is built.
struct Input {
    /// As written (`-` for standard input).
    shown: String,
    /// Device and inode of what it is now.
    id: Option<(u64, u64)>,
    /// For a file that does not exist yet: its canonical directory joined with its name.
    future: Option<PathBuf>,
}

/// Refuse the pipeline if a `write` (in any branch) writes to a file its source reads.
pub fn refuse_outputs_that_are_inputs(p: &Pipeline) -> Result<(), SyntaxError> {
    let source = &p.calls[0];
    let inputs = inputs(source);
    if inputs.is_empty() {
        return Ok(());
    }
    // An explicit stack: the tree may be deep.
    let mut todo: Vec<&Call> = p.calls[1..].iter().collect();
    while let Some(call) = todo.pop() {
        todo.extend(call.branches.iter().flat_map(|b| &b.calls));
        if call.def.name != crate::sink::write::DEF.name {
            continue;
        }
        let Some(target) = crate::sink::write::target(&call.matches) else {
            continue;
        };
        let clash = match std::fs::metadata(target) {
            Ok(meta) if meta.is_file() => {
                let id = file_id(&meta);
                inputs.iter().find(|i| i.id == Some(id))
            }
            Ok(_) => None,
            Err(_) => future_path(target).and_then(|f| {
                inputs
                    .iter()
                    .find(|i| i.future.as_deref() == Some(f.as_path()))
            }),
        };
        if let Some(input) = clash {
            let what = if input.shown == "-" {
                "standard input".to_string()
            } else {
                format!("`{}`", input.shown)
            };
            let same = if OsStr::new(&input.shown) == target.as_os_str() {
                String::new()
            } else {
                format!(" (the same file as {what})")
            };
            let at = call
                .args
                .iter()
                .rev()
                .find(|w| OsStr::new(&w.text) == target.as_os_str())
                .or(call.name.as_ref())
                .map(|w| w.index);
            return Err(SyntaxError::new(
                format!(
                    "write: `{}` is an input of `{}`{same}: it would read back what it \
                     writes without end (and --truncate would empty it first); write to \
                     another file",
                    target.display(),
                    source.def.name,
                ),
                at,
            ));
        }
    }
    Ok(())
}

/// Refuse the pipeline if standard output is a regular file that its source (or a source of
/// its `merge` branches) reads: it would read back what it writes.
pub fn refuse_stdout_that_is_an_input(p: &Pipeline) -> Result<(), SyntaxError> {
    let Some(out) = crate::runtime::fd::regular_file_id(libc::STDOUT_FILENO) else {
        return Ok(());
    };
    let mut sources = vec![&p.calls[0]];
    sources.extend(p.calls[0].branches.iter().filter_map(|b| b.calls.first()));
    for source in sources {
        let clash = inputs(source)
            .into_iter()
            .find(|i| i.id == Some(out))
            .map(|i| {
                if i.shown == "-" {
                    "the file standard input comes from".to_string()
                } else {
                    format!("`{}`, an input of `{}`", i.shown, source.def.name)
                }
            })
            .or_else(|| {
                glob_input(source, out)
                    .map(|f| format!("`{}`, which `{}` finds", f.display(), source.def.name))
            });
        if let Some(what) = clash {
            return Err(SyntaxError::new(
                format!(
                    "{}: standard output is {what}: it would read back what it writes \
                     without end (input file is output file); redirect the output to \
                     another file",
                    source.def.name,
                ),
                source.word_index(),
            ));
        }
    }
    Ok(())
}

/// For `follow`: the file its globs find now that is `out` (device and inode).
fn glob_input(source: &Call, out: (u64, u64)) -> Option<PathBuf> {
    use crate::source::follow::glob::{Globs, Pattern, is_glob};
    if source.def.name != crate::source::follow::DEF.name {
        return None;
    }
    let files = source.matches.try_get_many::<PathBuf>("files").ok()??;
    let patterns: Vec<Pattern> = files
        .map(|p| p.to_string_lossy())
        .filter(|t| t != "-" && is_glob(t))
        .filter_map(|t| Pattern::new(&t).ok())
        .collect();
    if patterns.is_empty() {
        return None;
    }
    let exclude: Vec<String> = source
        .matches
        .try_get_many::<String>("exclude")
        .ok()
        .flatten()
        .map(|v| v.cloned().collect())
        .unwrap_or_default();
    let globs = Globs::new(patterns, &exclude).ok()?;
    let mut found = Vec::new();
    globs.scan(&mut found);
    found.into_iter().find(|f| f.id == out).map(|f| f.path)
}

/// The files the source reads: the values of its `files` or `file` argument (`cat`,
/// `follow`, `xml`); none given is standard input. Other sources read no file.
fn inputs(source: &Call) -> Vec<Input> {
    // Ask only for an argument the source has: without debug assertions clap answers "not
    // given" for an argument that does not exist, which would read as standard input.
    let cmd = (source.def.command)();
    let Some(id) = ["files", "file"]
        .into_iter()
        .find(|id| cmd.get_arguments().any(|a| a.get_id() == *id))
    else {
        return Vec::new();
    };
    let paths: Vec<&Path> = match source.matches.try_get_many::<PathBuf>(id) {
        Ok(Some(v)) => v.map(PathBuf::as_path).collect(),
        Ok(None) => vec![Path::new("-")],
        Err(_) => return Vec::new(),
    };
    paths
        .into_iter()
        .map(|p| {
            let shown = p.display().to_string();
            if p.as_os_str() == "-" {
                let id = stdin_meta().ok().map(|m| file_id(&m));
                return Input {
                    shown,
                    id,
                    future: None,
                };
            }
            match std::fs::metadata(p) {
                Ok(meta) => Input {
                    shown,
                    id: Some(file_id(&meta)),
                    future: None,
                },
                Err(_) => Input {
                    shown,
                    id: None,
                    future: future_path(p),
                },
            }
        })
        .collect()
}

fn stdin_meta() -> io::Result<Metadata> {
    let fd = io::stdin().as_fd().try_clone_to_owned()?;
    File::from(fd).metadata()
}

fn file_id(meta: &Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

/// A file that does not exist yet, named by its directory's canonical path and its name.
fn future_path(p: &Path) -> Option<PathBuf> {
    let name = p.file_name()?;
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    Some(dir.canonicalize().ok()?.join(name))
}
