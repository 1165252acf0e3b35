//! Helpers shared by the integration tests: run the real binary in a temp dir, feed stdin
//! from a thread, and show expected/got on failure.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The built copipe binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_copipe"))
}

/// The repository's fixtures directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

pub fn fixture(name: &str) -> PathBuf {
    fixtures().join(name)
}

/// A finished run.
pub struct Run {
    pub out: Vec<u8>,
    pub err: String,
    pub code: i32,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out).into_owned()
    }

    /// Assert the exit status, showing stderr and stdout when it differs.
    #[track_caller]
    pub fn code(&self, want: i32) -> &Self {
        assert_eq!(
            self.code,
            want,
            "exit status\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout(),
            self.err
        );
        self
    }

    #[track_caller]
    pub fn out(&self, want: &str) -> &Self {
        assert_eq!(
            self.stdout(),
            want,
            "stdout differs\n--- stderr\n{}",
            self.err
        );
        self
    }

    #[track_caller]
    pub fn err_has(&self, needle: &str) -> &Self {
        assert!(
            self.err.contains(needle),
            "stderr lacks {needle:?}\n--- stderr\n{}",
            self.err
        );
        self
    }
}

/// A command builder around the binary.
pub struct Cp {
    cmd: Command,
    stdin: Option<Vec<u8>>,
}

pub fn copipe<I, S>(args: I) -> Cp
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env_remove("NO_COLOR")
        .env("LC_ALL", "C.UTF-8");
    Cp { cmd, stdin: None }
}

impl Cp {
    pub fn dir(mut self, dir: &Path) -> Self {
        self.cmd.current_dir(dir);
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.cmd.env(k, v);
        self
    }

    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// The underlying command, for tests that need to drive the child themselves.
    pub fn command(self) -> Command {
        self.cmd
    }

    pub fn run(mut self) -> Run {
        self.cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        self.cmd.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = self.cmd.spawn().expect("spawn copipe");
        let writer = self.stdin.take().map(|bytes| {
            let mut sin = child.stdin.take().unwrap();
            std::thread::spawn(move || {
                let _ = sin.write_all(&bytes);
            })
        });
        let Output {
            status,
            stdout,
            stderr,
        } = child.wait_with_output().expect("wait for copipe");
        if let Some(w) = writer {
            w.join().unwrap();
        }
        Run {
            out: stdout,
            err: String::from_utf8_lossy(&stderr).into_owned(),
            code: status.code().unwrap_or(-1),
        }
    }
}

/// Poll `cond` until it holds or `deadline` passes; returns whether it held.
pub fn wait_until(deadline: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
