//! Helpers shared by the integration tests: run the real binary in a temp dir, feed stdin
//! from a thread, and show expected/got on failure.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub mod follow_state;
pub mod nats;
mod own_process;
pub mod tools;
pub use own_process::in_own_process;

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

    #[track_caller]
    pub fn err_lacks(&self, needle: &str) -> &Self {
        assert!(
            !self.err.contains(needle),
            "stderr has {needle:?}\n--- stderr\n{}",
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

    /// Set on the underlying command what these helpers do not (e.g. a `pre_exec`).
    pub fn configure(mut self, f: impl FnOnce(&mut Command)) -> Self {
        f(&mut self.cmd);
        self
    }

    /// The underlying command, for tests that need to drive the child themselves.
    /// Start it with the open-file limit `soft`/`hard` (`ulimit -Sn`/`-Hn`).
    pub fn open_file_limit(self, soft: libc::rlim_t, hard: libc::rlim_t) -> Self {
        use std::os::unix::process::CommandExt;
        self.configure(move |cmd| {
            // SAFETY: setrlimit is async-signal-safe; nothing else runs in the child.
            unsafe {
                cmd.pre_exec(move || {
                    let lim = libc::rlimit {
                        rlim_cur: soft,
                        rlim_max: hard,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        })
    }

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

/// A copipe still running, whose stdout and stderr are collected by threads as they come,
/// so that a test can wait (with a deadline) for a given output.
pub struct Live {
    pub child: std::process::Child,
    out: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    err: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

/// The deadline of every wait in the live tests: generous for a loaded CI machine; waits
/// end as soon as their condition holds.
pub const DEADLINE: Duration = Duration::from_secs(10);

fn collect(
    mut r: impl std::io::Read + Send + 'static,
) -> (
    std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    std::thread::JoinHandle<()>,
) {
    let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let b = buf.clone();
    let t = std::thread::spawn(move || {
        let mut chunk = [0u8; 64 * 1024];
        loop {
            match r.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => b.lock().unwrap().extend_from_slice(&chunk[..n]),
            }
        }
    });
    (buf, t)
}

impl Cp {
    /// Start the command with stdout and stderr collected as they come (stdin: the given
    /// bytes, else nothing).
    pub fn spawn(mut self) -> Live {
        self.cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        self.cmd.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        self.spawn_with_stdin()
    }

    /// Start the command with the stdin configured by the caller (through
    /// [`Cp::stdin_from`]), stdout and stderr collected.
    fn spawn_with_stdin(mut self) -> Live {
        self.cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = self.cmd.spawn().expect("spawn copipe");
        if let Some(bytes) = self.stdin.take() {
            let mut sin = child.stdin.take().unwrap();
            std::thread::spawn(move || {
                let _ = sin.write_all(&bytes);
            });
        }
        let (out, t1) = collect(child.stdout.take().unwrap());
        let (err, t2) = collect(child.stderr.take().unwrap());
        Live {
            child,
            out,
            err,
            readers: vec![t1, t2],
        }
    }

    /// Start the command reading `stdin`, stdout and stderr collected.
    pub fn spawn_stdin(mut self, stdin: impl Into<Stdio>) -> Live {
        self.cmd.stdin(stdin);
        self.spawn_with_stdin()
    }
}

impl Live {
    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    pub fn err(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().unwrap()).into_owned()
    }

    /// Wait until stdout satisfies `cond`; fail showing both streams if it does not in time.
    #[track_caller]
    pub fn wait_out(&self, what: &str, cond: impl Fn(&str) -> bool) {
        if !wait_until(DEADLINE, || cond(&self.out())) {
            panic!(
                "timed out waiting for stdout {what}\n--- stdout\n{}\n--- stderr\n{}",
                self.out(),
                self.err()
            );
        }
    }

    /// Wait until stdout is exactly `want`.
    #[track_caller]
    pub fn wait_out_eq(&self, want: &str) {
        self.wait_out(&format!("== {want:?}"), |o| o == want);
    }

    /// Wait until stdout ends with `want`.
    #[track_caller]
    pub fn wait_out_ends(&self, want: &str) {
        self.wait_out(&format!("ending in {want:?}"), |o| o.ends_with(want));
    }

    /// Wait until stderr contains `needle`.
    #[track_caller]
    pub fn wait_err(&self, needle: &str) {
        if !wait_until(DEADLINE, || self.err().contains(needle)) {
            panic!(
                "timed out waiting for {needle:?} on stderr\n--- stdout\n{}\n--- stderr\n{}",
                self.out(),
                self.err()
            );
        }
    }

    /// Wait until the process has `path` open (Linux: its `/proc/PID/fd` links): the way
    /// to know that a follower started, before writing what it must see as new.
    #[track_caller]
    pub fn wait_open(&self, path: &Path) {
        let want = path.canonicalize().expect("the file exists");
        let fds = PathBuf::from(format!("/proc/{}/fd", self.child.id()));
        let open = || {
            std::fs::read_dir(&fds).is_ok_and(|dir| {
                dir.flatten()
                    .any(|e| std::fs::read_link(e.path()).is_ok_and(|p| p == want))
            })
        };
        if !wait_until(DEADLINE, open) {
            panic!(
                "copipe never opened {}\n--- stdout\n{}\n--- stderr\n{}",
                path.display(),
                self.out(),
                self.err()
            );
        }
    }

    /// Send a signal to the process.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill with a valid signal number on our own child.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// Wait for the process to exit (within the deadline) and return its status code.
    #[track_caller]
    pub fn exit_code(&mut self) -> i32 {
        self.exit_code_within(DEADLINE)
    }

    /// [`Live::exit_code`] with a deadline of its own (big outputs on a loaded machine);
    /// stdout and stderr are complete afterwards.
    #[track_caller]
    pub fn exit_code_within(&mut self, deadline: Duration) -> i32 {
        let mut status = None;
        let done = wait_until(deadline, || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        if !done {
            panic!(
                "copipe did not exit in time\n--- stdout\n{}\n--- stderr\n{}",
                self.out(),
                self.err()
            );
        }
        for t in self.readers.drain(..) {
            t.join().unwrap();
        }
        status.unwrap().code().unwrap_or(-1)
    }

    /// End the process with SIGTERM and return its status code.
    #[track_caller]
    pub fn stop(&mut self) -> i32 {
        self.signal(libc::SIGTERM);
        self.exit_code()
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `name`, a file written at the repository's root, is ignored by its `.gitignore`
/// (so that a command of the docs run from the checkout leaves `git status` clean); `None`
/// when this is not a git checkout or git is not installed.
pub fn ignored_by_git(name: &str) -> Option<bool> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let inside = Command::new("git")
        .args(["rev-parse", "--is-inside-work-tree"])
        .current_dir(root)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !inside.status.success() {
        return None;
    }
    let status = Command::new("git")
        .args(["check-ignore", "-q", "--no-index", "--", name])
        .current_dir(root)
        .status()
        .ok()?;
    Some(status.success())
}

/// Append `text` to `path` (made if missing), as a program writing a log does.
pub fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// The numbers `from..=to`, one per line.
pub fn numbers(from: u32, to: u32) -> String {
    (from..=to).map(|i| format!("{i}\n")).collect()
}

/// `copipe follow ARGS…` started in `dir`.
pub fn follow<I, S>(dir: &Path, args: I) -> Live
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut words: Vec<std::ffi::OsString> = vec!["follow".into()];
    words.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
    copipe(words).dir(dir).spawn()
}

/// Wait for `c` to end; panics, after killing it, if it is still running `within` from now
/// (`what` names it in the message).
pub fn wait_within(
    c: &mut std::process::Child,
    within: Duration,
    what: &str,
) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(st) = c.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > deadline {
            let _ = c.kill();
            panic!("{what} did not end within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Run `c` to its end within a deadline, standard input from `input`, both pipes read as
/// it runs (a large output never stalls it); (status, stdout, stderr). Panics, after
/// killing it, if it is still running at the deadline.
pub fn run_within(mut c: Command, input: &[u8], within: Duration) -> (i32, String, String) {
    let what = format!("{c:?}");
    let mut c = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = c.stdin.take().unwrap();
    let data = input.to_vec();
    let w = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let mut so = c.stdout.take().unwrap();
    let mut se = c.stderr.take().unwrap();
    let ro = std::thread::spawn(move || std::io::read_to_string(&mut so).unwrap_or_default());
    let re = std::thread::spawn(move || std::io::read_to_string(&mut se).unwrap_or_default());
    let status = wait_within(&mut c, within, &what);
    let _ = w.join();
    (
        status.code().unwrap_or(-1),
        ro.join().unwrap(),
        re.join().unwrap(),
    )
}
