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

/// Which standard streams of the child are a terminal in [`Cp::run_in_pty`].
#[derive(Clone, Copy)]
pub struct Tty {
    pub stdout: bool,
    pub stderr: bool,
}

impl Cp {
    /// Run with some of stdout/stderr on a pseudo-terminal (80×24); what the terminal shows
    /// is returned in place of that stream. The others are pipes as in [`Cp::run`].
    pub fn run_in_pty(self, tty: Tty) -> Run {
        use std::io::Read;
        use std::os::fd::{FromRawFd, OwnedFd};

        let (mut master, mut slave) = (0, 0);
        let size = libc::winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: openpty writes two descriptors; no name buffer, no termios.
        let r = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &size,
            )
        };
        assert_eq!(r, 0, "openpty failed");
        // SAFETY: both descriptors were just opened and are owned here.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let stream = |on: bool| -> Stdio {
            if on {
                Stdio::from(slave.try_clone().unwrap())
            } else {
                Stdio::piped()
            }
        };
        let mut cmd = self.cmd;
        cmd.stdout(stream(tty.stdout)).stderr(stream(tty.stderr));
        cmd.stdin(Stdio::null());
        let mut child = cmd.spawn().expect("spawn copipe");
        // The terminal must be closed on our side (the command holds a copy too) for the
        // reader to see its end.
        drop(cmd);
        drop(slave);
        let mut master = std::fs::File::from(master);
        let reader = std::thread::spawn(move || {
            let mut shown = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                match master.read(&mut buf) {
                    Ok(0) | Err(_) => break, // EIO once the child's side is closed
                    Ok(n) => shown.extend_from_slice(&buf[..n]),
                }
            }
            shown
        });
        let mut out = Vec::new();
        let mut err = Vec::new();
        let (o, e) = (child.stdout.take(), child.stderr.take());
        let t_out = o.map(|mut o| {
            std::thread::spawn(move || {
                let mut v = Vec::new();
                let _ = o.read_to_end(&mut v);
                v
            })
        });
        if let Some(mut e) = e {
            let _ = e.read_to_end(&mut err);
        }
        if let Some(t) = t_out {
            out = t.join().unwrap();
        }
        let status = child.wait().unwrap();
        let shown = reader.join().unwrap();
        if tty.stdout {
            out = shown.clone();
        }
        if tty.stderr {
            err = shown;
        }
        Run {
            out,
            err: String::from_utf8_lossy(&err).into_owned(),
            code: status.code().unwrap_or(-1),
        }
    }
}
