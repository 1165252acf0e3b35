//! `follow 'logs/*.log' 'svc/**/app-*.log'`: the names that are globs, expanded by copipe
//! itself (with `globset`, `**` included) at start and again whenever a watched directory
//! changes or at the once-a-second check, and the `--exclude` globs.
//!
//! Each glob is split into its fixed prefix (the directories before the first component
//! with a glob character), where the walk starts and what is watched, and the rest, which
//! bounds how deep the walk goes (any depth only with `**`). Symbolic links to directories
//! are not walked into (no loops); a symbolic link to a file is followed like a file.

use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};
use globset::{Glob, GlobBuilder, GlobMatcher, GlobSet, GlobSetBuilder};

/// Whether a name written on the command line is a glob (has `*`, `?`, `[` or `{`).
pub fn is_glob(name: &str) -> bool {
    name.bytes().any(|b| matches!(b, b'*' | b'?' | b'[' | b'{'))
}

/// One glob of the command line.
pub struct Pattern {
    /// As written, for messages.
    pub text: String,
    /// The fixed prefix (empty: the current directory), where the walk starts.
    pub base: PathBuf,
    /// How many components below `base` a match has (`None`: any number, `**`).
    pub depth: Option<usize>,
    matcher: GlobMatcher,
}

impl Pattern {
    pub fn new(text: &str) -> Result<Pattern> {
        let path = Path::new(text);
        let mut base = PathBuf::new();
        let mut rest = 0usize;
        let mut any = false;
        let mut in_rest = false;
        for c in path.components() {
            let s = c.as_os_str().to_string_lossy();
            if !in_rest && (matches!(c, Component::RootDir | Component::Prefix(_)) || !is_glob(&s))
            {
                base.push(c);
                continue;
            }
            in_rest = true;
            rest += 1;
            any |= s.contains("**");
        }
        if !in_rest {
            // No glob character in any component (e.g. only in `{}` escaped away).
            rest = 1;
            base.pop();
        }
        let matcher = GlobBuilder::new(text)
            .literal_separator(true)
            .build()
            .with_context(|| format!("`{text}` is not a valid glob"))?
            .compile_matcher();
        Ok(Pattern {
            text: text.to_string(),
            base,
            depth: (!any).then_some(rest),
            matcher,
        })
    }

    /// Whether files can match below subdirectories of `base` (what the directory watch
    /// must then cover).
    pub fn deep(&self) -> bool {
        self.depth != Some(1)
    }

    /// The directory to walk (`.` for an empty prefix).
    pub fn root(&self) -> &Path {
        if self.base.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &self.base
        }
    }
}

/// A file a glob found: its path as the glob writes it, and its device and inode (from
/// the directory entry: no `stat` per file, but for symbolic links).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Found {
    pub path: PathBuf,
    pub id: (u64, u64),
}

/// The globs of one follow and its `--exclude` globs.
pub struct Globs {
    pub patterns: Vec<Pattern>,
    exclude: GlobSet,
    /// The inodes of directory entries are not those `stat` gives (some overlay file
    /// systems): every file found is `stat`ed.
    pub stat_all: std::cell::Cell<bool>,
    /// The directories the last scan walked, and what they were then (inode and
    /// modification time; `None`: missing): unchanged, a scan again would find the same.
    walked: std::cell::RefCell<Vec<(PathBuf, Option<DirStamp>)>>,
    /// A directory could not be read during the last scan (other than for not existing:
    /// out of descriptors, say): what it holds is unknown, not gone.
    incomplete: std::cell::Cell<bool>,
}

/// What a directory was when walked: its entries change its modification time.
type DirStamp = (u64, i64, i64);

fn stamp(dir: &Path) -> Option<DirStamp> {
    std::fs::metadata(dir)
        .ok()
        .map(|m| (m.ino(), m.mtime(), m.mtime_nsec()))
}

impl Globs {
    pub fn new(patterns: Vec<Pattern>, exclude: &[String]) -> Result<Globs> {
        let mut set = GlobSetBuilder::new();
        for e in exclude {
            set.add(Glob::new(e).with_context(|| format!("`{e}` is not a valid glob"))?);
        }
        Ok(Globs {
            patterns,
            exclude: set.build().context("cannot use the --exclude globs")?,
            stat_all: std::cell::Cell::new(false),
            walked: std::cell::RefCell::new(Vec::new()),
            incomplete: std::cell::Cell::new(false),
        })
    }

    /// Whether `path` is excluded: an `--exclude` glob matches it as found, or its file name.
    pub fn excluded(&self, path: &Path) -> bool {
        self.exclude.is_match(path) || path.file_name().is_some_and(|n| self.exclude.is_match(n))
    }

    /// Whether any directory the last scan walked changed since (an entry added, removed
    /// or renamed; the directory made or removed): one `stat` per directory, not a walk.
    pub fn moved(&self) -> bool {
        self.walked.borrow().iter().any(|(d, was)| stamp(d) != *was)
    }

    /// Every file that matches a glob now and is not excluded, each once, into `found`
    /// (cleared first), sorted by path. Directories are never found.
    /// Whether the last [`Globs::scan`] could read every directory it went to.
    pub fn complete(&self) -> bool {
        !self.incomplete.get()
    }

    pub fn scan(&self, found: &mut Vec<Found>) {
        found.clear();
        self.walked.borrow_mut().clear();
        self.incomplete.set(false);
        for p in &self.patterns {
            walk(p, p.root(), &p.base, 0, found, self);
        }
        found.sort_unstable();
        found.dedup_by(|a, b| a.path == b.path);
    }
}

/// Walk `dir` (shown as `shown`, the path as the glob writes it) `level` components below
/// the pattern's base.
fn walk(p: &Pattern, dir: &Path, shown: &Path, level: usize, found: &mut Vec<Found>, g: &Globs) {
    // Stamped before reading: a change while reading is seen at the next look.
    let meta = std::fs::metadata(dir);
    g.walked.borrow_mut().push((
        dir.to_path_buf(),
        meta.as_ref()
            .ok()
            .map(|m| (m.ino(), m.mtime(), m.mtime_nsec())),
    ));
    let Ok(dev) = meta.map(|m| m.dev()) else {
        return;
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound && e.raw_os_error() != Some(libc::ENOTDIR) {
                g.incomplete.set(true);
            }
            return;
        }
    };
    let level = level + 1;
    for e in entries.flatten() {
        let Ok(ft) = e.file_type() else {
            continue;
        };
        let name = e.file_name();
        let path = shown.join(&name);
        let mut id = (dev, std::os::unix::fs::DirEntryExt::ino(&e));
        if ft.is_symlink() || (g.stat_all.get() && !ft.is_dir()) {
            // A link to a file is followed as that file; a link to a directory is not
            // walked into.
            match std::fs::metadata(e.path()) {
                Ok(m) if !m.is_dir() => id = (m.dev(), m.ino()),
                _ => continue,
            }
        } else if ft.is_dir() {
            if p.depth.is_none_or(|d| level < d) {
                walk(p, &e.path(), &path, level, found, g);
            }
            // `**/x` may also name a directory; never a file to follow.
            continue;
        }
        if p.depth.is_some_and(|d| level != d) {
            continue;
        }
        if p.matcher.is_match(&path) && !g.excluded(&path) {
            found.push(Found { path, id });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn scan(dir: &Path, pats: &[&str], exclude: &[&str]) -> Vec<String> {
        let pats = pats
            .iter()
            .map(|p| Pattern::new(&format!("{}/{p}", dir.display())).unwrap())
            .collect();
        let ex: Vec<String> = exclude.iter().map(|s| s.to_string()).collect();
        let g = Globs::new(pats, &ex).unwrap();
        let mut found = Vec::new();
        g.scan(&mut found);
        found
            .iter()
            .map(|f| f.path.strip_prefix(dir).unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn prefix_and_depth_of_a_glob() {
        let p = Pattern::new("logs/*.log").unwrap();
        assert_eq!(p.base, Path::new("logs"));
        assert_eq!(p.depth, Some(1));
        let p = Pattern::new("svc/**/app-*.log").unwrap();
        assert_eq!(p.base, Path::new("svc"));
        assert_eq!(p.depth, None);
        let p = Pattern::new("*/x/*.log").unwrap();
        assert_eq!(p.base, Path::new(""));
        assert_eq!(p.depth, Some(3));
        assert!(is_glob("a/[ab].log") && !is_glob("plain.log"));
    }

    #[test]
    fn star_stays_in_its_directory_and_double_star_goes_down() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        fs::create_dir_all(r.join("svc/a/b")).unwrap();
        for f in [
            "x.log",
            "y.txt",
            "svc/app-1.log",
            "svc/a/app-2.log",
            "svc/a/b/app-3.log",
        ] {
            fs::write(r.join(f), "").unwrap();
        }
        fs::create_dir(r.join("dir.log")).unwrap();
        assert_eq!(scan(r, &["*.log"], &[]), ["x.log"]);
        assert_eq!(
            scan(r, &["svc/**/app-*.log"], &[]),
            ["svc/a/app-2.log", "svc/a/b/app-3.log", "svc/app-1.log"]
        );
        assert_eq!(scan(r, &["svc/*/app-*.log"], &[]), ["svc/a/app-2.log"]);
        assert_eq!(
            scan(r, &["svc/**/*.log", "*.log"], &["app-2.*", "**/b/*"]),
            ["svc/app-1.log", "x.log"]
        );
    }

    #[test]
    fn a_directory_changed_since_the_scan_is_noticed() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        fs::create_dir_all(r.join("svc/a")).unwrap();
        let g = Globs::new(
            vec![Pattern::new(&format!("{}/svc/**/*.log", r.display())).unwrap()],
            &[],
        )
        .unwrap();
        let mut found = Vec::new();
        g.scan(&mut found);
        assert!(!g.moved());
        fs::write(r.join("svc/a/x.txt"), "").unwrap();
        assert!(g.moved(), "a new entry in a subdirectory");
        g.scan(&mut found);
        assert!(!g.moved());
        fs::rename(r.join("svc/a/x.txt"), r.join("svc/a/x.log")).unwrap();
        assert!(g.moved(), "a rename");
    }
}
