//! Ctrl-C (SIGINT) and SIGTERM while copipe is blocked writing: into a pipe nobody reads, a
//! FIFO, an `exec` child that does not read. The first Ctrl-C must end copipe promptly with
//! status 130, and no child may outlive it.

use crate::common;

use std::io::Read;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{DEADLINE, copipe, wait_until};

/// How long copipe may take to end after the signal: it gives up a write 250 ms after it
/// and kills a child at 750 ms; the rest is slack for a loaded machine.
const PROMPT: Duration = Duration::from_secs(3);

/// A copipe whose stdout is `stdout` and whose stderr is collected by a thread.
struct Blocked {
    child: Child,
    err: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    /// The thread reading stderr, until [`Blocked::err_at_end`] joins it.
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Blocked {
    fn spawn(args: &[&str], dir: &Path, stdout: impl Into<Stdio>) -> Blocked {
        let mut cmd = copipe(args).dir(dir).command();
        cmd.stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn copipe");
        let mut stderr = child.stderr.take().unwrap();
        let err = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let e = err.clone();
        let reader = std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                e.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        });
        Blocked {
            child,
            err,
            reader: Some(reader),
        }
    }

    /// What stderr holds so far (for messages; a test that asserts on it after the end
    /// takes [`Blocked::err_at_end`]).
    fn err(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().unwrap()).into_owned()
    }

    /// All of stderr, once copipe has ended: the reading thread is waited for until it
    /// reaches the end of the pipe (within the deadline) and joined, so that nothing copipe
    /// said is still on its way.
    #[track_caller]
    fn err_at_end(&mut self) -> String {
        if let Some(t) = self.reader.take() {
            let ended = wait_until(DEADLINE, || t.is_finished());
            assert!(
                ended,
                "stderr still open {DEADLINE:?} after copipe ended\n--- stderr\n{}",
                self.err()
            );
            t.join().unwrap();
        }
        self.err()
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Wait until copipe sleeps for good (an endless source only sleeps when its output
    /// does not take more): state `S` in /proc/PID/stat, seen several times in a row.
    #[track_caller]
    fn wait_blocked(&self) {
        let stat = format!("/proc/{}/stat", self.pid());
        let sleeping = || {
            std::fs::read_to_string(&stat).is_ok_and(|s| {
                // The state follows the command name in parentheses.
                s.rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with('S'))
            })
        };
        let mut in_a_row = 0;
        let blocked = wait_until(DEADLINE, || {
            in_a_row = if sleeping() { in_a_row + 1 } else { 0 };
            in_a_row >= 5
        });
        assert!(blocked, "copipe never blocked\n--- stderr\n{}", self.err());
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill on our own child, not yet reaped.
        unsafe { libc::kill(self.pid(), sig) };
    }

    /// Send `sig` and wait (with a deadline) for copipe to end: its status, and how long
    /// it took.
    #[track_caller]
    fn interrupt(&mut self, sig: i32) -> (std::process::ExitStatus, Duration) {
        let sent = Instant::now();
        self.signal(sig);
        self.wait_exit(sent)
    }

    #[track_caller]
    fn wait_exit(&mut self, since: Instant) -> (std::process::ExitStatus, Duration) {
        let mut status = None;
        let ended = wait_until(DEADLINE, || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        let took = since.elapsed();
        if !ended {
            panic!(
                "copipe still running {took:?} after the signal\n--- stderr\n{}",
                self.err()
            );
        }
        (status.unwrap(), took)
    }
}

impl Drop for Blocked {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether process `pid` still exists (a zombie counts: it was not reaped).
fn exists(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Whether process `pid` is running (a zombie is not: its parent is gone and nobody reaped
/// it yet).
fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
    })
}

/// Kill `pid` if a test left it running (so that a failed test cleans up).
struct Reap(i32);

impl Drop for Reap {
    fn drop(&mut self) {
        if exists(self.0) {
            // SAFETY: kill with a valid signal; the pid was read from the child itself.
            unsafe { libc::kill(self.0, libc::SIGKILL) };
        }
    }
}

/// The pid an `exec` child wrote into `file`, once it is there.
#[track_caller]
fn child_pid(file: &Path) -> i32 {
    let mut pid = None;
    let written = wait_until(DEADLINE, || {
        pid = std::fs::read_to_string(file)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok());
        pid.is_some()
    });
    assert!(written, "the child never wrote its pid");
    pid.unwrap()
}

#[test]
fn ctrl_c_ends_a_write_into_a_pipe_that_is_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut cp = Blocked::spawn(&["naturals"], dir.path(), Stdio::piped());
    // Some output arrived; then the reader stops reading, without going away.
    let mut out = cp.child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    out.read_exact(&mut first).unwrap();
    cp.wait_blocked();
    let (status, took) = cp.interrupt(libc::SIGINT);
    assert_eq!(status.code(), Some(130), "stderr: {}", cp.err());
    assert!(took < PROMPT, "took {took:?}");
    let err = cp.err_at_end();
    assert!(
        err.contains("interrupted (Ctrl-C) while the reader was not reading"),
        "{err}"
    );
    drop(out);
}

#[test]
fn sigterm_ends_a_write_into_a_pipe_that_is_not_read_with_0() {
    let dir = tempfile::tempdir().unwrap();
    let mut cp = Blocked::spawn(&["naturals"], dir.path(), Stdio::piped());
    let out = cp.child.stdout.take().unwrap();
    cp.wait_blocked();
    let (status, took) = cp.interrupt(libc::SIGTERM);
    assert_eq!(status.code(), Some(0), "stderr: {}", cp.err());
    assert!(took < PROMPT, "took {took:?}");
    drop(out);
}

#[test]
fn ctrl_c_then_a_closed_pipe_is_still_130() {
    let dir = tempfile::tempdir().unwrap();
    let mut cp = Blocked::spawn(&["naturals"], dir.path(), Stdio::piped());
    let out = cp.child.stdout.take().unwrap();
    cp.wait_blocked();
    let sent = Instant::now();
    cp.signal(libc::SIGINT);
    // The reader goes away after the signal: the write fails with EPIPE, not 0 for that.
    drop(out);
    let (status, _) = cp.wait_exit(sent);
    assert_eq!(status.code(), Some(130), "stderr: {}", cp.err());
}

/// A FIFO with a reader (this test) that never reads.
fn fifo(dir: &Path) -> (std::path::PathBuf, std::fs::File) {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join("fifo");
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
        .unwrap();
    (path, reader)
}

#[test]
fn ctrl_c_ends_a_write_into_a_fifo_that_is_not_read() {
    // Standard output redirected into the FIFO (`copipe naturals > fifo`).
    let dir = tempfile::tempdir().unwrap();
    let (path, reader) = fifo(dir.path());
    let w = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    let mut cp = Blocked::spawn(&["naturals"], dir.path(), w);
    cp.wait_blocked();
    let (status, took) = cp.interrupt(libc::SIGINT);
    assert_eq!(status.code(), Some(130), "stderr: {}", cp.err());
    assert!(took < PROMPT, "took {took:?}");
    drop(reader);

    // `write fifo`.
    let dir = tempfile::tempdir().unwrap();
    let (_, reader) = fifo(dir.path());
    let mut cp = Blocked::spawn(
        &["naturals", ":", "write", "fifo"],
        dir.path(),
        Stdio::null(),
    );
    cp.wait_blocked();
    let (status, took) = cp.interrupt(libc::SIGINT);
    assert_eq!(status.code(), Some(130), "stderr: {}", cp.err());
    assert!(took < PROMPT, "took {took:?}");
    // Interrupted in the blocked write, the write is said to have been given up; in the rare
    // case the signal comes between two writes (the process looked blocked, and was not
    // quite), the run ends at the next check of the signal with nothing to say.
    let err = cp.err_at_end();
    assert!(
        err.is_empty() || err.contains("error writing to fifo"),
        "{err}"
    );
    drop(reader);
}

#[test]
fn ctrl_c_ends_an_exec_child_that_does_not_read_and_reaps_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut cp = Blocked::spawn(
        &["naturals", ":", "exec", "echo $$ > pid; exec sleep 1000"],
        dir.path(),
        Stdio::null(),
    );
    let child = child_pid(&dir.path().join("pid"));
    let _reap = Reap(child);
    cp.wait_blocked();
    let (status, took) = cp.interrupt(libc::SIGINT);
    assert_eq!(status.code(), Some(130), "stderr: {}", cp.err());
    assert!(took < PROMPT, "took {took:?}");
    // Ended and reaped by copipe: not even a zombie is left.
    assert!(!exists(child), "the exec child {child} is still there");
}

#[test]
fn an_exec_child_that_ignores_sigterm_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let mut cp = Blocked::spawn(
        &[
            "naturals",
            ":",
            "exec",
            "trap '' TERM; echo $$ > pid; exec sleep 1000",
        ],
        dir.path(),
        Stdio::null(),
    );
    let child = child_pid(&dir.path().join("pid"));
    let _reap = Reap(child);
    cp.wait_blocked();
    let (status, took) = cp.interrupt(libc::SIGTERM);
    assert_eq!(status.code(), Some(0), "stderr: {}", cp.err());
    assert!(took < PROMPT, "took {took:?}");
    assert!(!exists(child), "the exec child {child} is still there");
}

#[test]
fn ctrl_c_while_waiting_for_an_exec_child_ends_it() {
    // The input is over; copipe waits for a child that never ends by itself.
    let dir = tempfile::tempdir().unwrap();
    let mut cp = Blocked::spawn(
        &[
            "range",
            "1",
            "3",
            ":",
            "exec",
            "echo $$ > pid; exec sleep 1000",
        ],
        dir.path(),
        Stdio::null(),
    );
    let child = child_pid(&dir.path().join("pid"));
    let _reap = Reap(child);
    cp.wait_blocked();
    let (status, took) = cp.interrupt(libc::SIGINT);
    assert_eq!(status.code(), Some(130), "stderr: {}", cp.err());
    assert!(took < PROMPT, "took {took:?}");
    assert!(!exists(child), "the exec child {child} is still there");
}

#[test]
fn a_second_ctrl_c_does_not_leave_the_exec_child_running() {
    // A child that ignores SIGTERM keeps copipe waiting after the first Ctrl-C; the second
    // one kills copipe at once, and the child with it.
    let dir = tempfile::tempdir().unwrap();
    let mut cp = Blocked::spawn(
        &[
            "naturals",
            ":",
            "exec",
            "trap '' TERM; echo $$ > pid; exec sleep 1000",
        ],
        dir.path(),
        Stdio::null(),
    );
    let child = child_pid(&dir.path().join("pid"));
    let _reap = Reap(child);
    cp.wait_blocked();
    let sent = Instant::now();
    cp.signal(libc::SIGINT);
    // The first one was taken (the write into the child is given up, and said).
    let said = wait_until(DEADLINE, || cp.err().contains("interrupted"));
    assert!(said, "stderr: {}", cp.err());
    cp.signal(libc::SIGINT);
    // Whether the second one still found copipe running or not, the child is gone.
    let (_, _) = cp.wait_exit(sent);
    let gone = wait_until(DEADLINE, || !running(child));
    assert!(gone, "the exec child {child} outlived copipe");
}

#[test]
fn an_exec_child_dies_with_copipe() {
    let dir = tempfile::tempdir().unwrap();
    let cp = Blocked::spawn(
        &["naturals", ":", "exec", "echo $$ > pid; exec sleep 1000"],
        dir.path(),
        Stdio::null(),
    );
    let child = child_pid(&dir.path().join("pid"));
    let _reap = Reap(child);
    cp.signal(libc::SIGKILL);
    // Not reaped by copipe (it is gone): at most a zombie is left for `init`.
    let gone = wait_until(DEADLINE, || !running(child));
    assert!(gone, "the exec child {child} outlived copipe");
}

/// A closed standard error (`copipe … 2>&1 | head`, the reader gone) or standard output
/// never makes copipe panic (status 101): a failing run still ends with status 2.
#[test]
fn a_closed_stderr_or_stdout_is_never_a_panic() {
    let cases: [(&[&str], i32); 4] = [
        (&["cat", "/nonexistent/input"], 2),
        (
            &[
                "range",
                "1",
                "1000",
                ":",
                "send",
                "--drain-timeout",
                "0s",
                "tcp://127.0.0.1:1",
            ],
            2,
        ),
        (&["range", "1", "100000"], 0),
        (&["help", "no-such-stage"], 2),
    ];
    for (args, want) in cases {
        for closed in ["stderr", "both"] {
            let (reader, writer) = std::io::pipe().unwrap();
            drop(reader);
            let mut cmd = std::process::Command::new(common::bin());
            cmd.args(args)
                .stdin(Stdio::null())
                .stderr(writer.try_clone().unwrap());
            if closed == "both" {
                cmd.stdout(writer);
            } else {
                cmd.stdout(Stdio::null());
            }
            let st = cmd.status().unwrap();
            let code = st.code().unwrap_or(-1);
            assert!(
                code == want || (closed == "both" && code == 0),
                "copipe {args:?} with a closed {closed}: status {code}, want {want}"
            );
        }
    }
}
