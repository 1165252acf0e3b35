//! `exec CMD` — feed items to a child process's standard input, one per line (records and
//! events as NDJSON). CMD is run by `sh -c`, so it may itself be a shell pipeline. The child
//! shares copipe's standard output. When the child stops reading, this branch stops (it is
//! not an error); when the stream ends its stdin is closed and copipe waits for it. A child
//! that exits with a non-zero status, or is killed, is an error (exit status 2).
//!
//! Ctrl-C or SIGTERM: writes to a child that does not read are given up (see
//! [`InterruptibleWriter`]), its stdin is closed, and it is given until [`TERM_AFTER`]
//! after the signal to end; then it gets SIGTERM, and SIGKILL at [`KILL_AFTER`]. It is
//! always reaped, and its status is then no error. Should copipe itself be killed (a second
//! Ctrl-C kills at once), the child is killed with it (Linux: `PR_SET_PDEATHSIG`).

use std::io::{self, BufWriter, Write};
use std::os::fd::AsRawFd;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{ArgMatches, FromArgMatches, Parser};

use crate::item::{Item, Kind, Origin, render};
use crate::protocol::def::{Build, BuildCx, Emits, Role, StageDef, Status};
use crate::protocol::{Flow, Stage};
use crate::runtime::output::Output;
use crate::runtime::signal::{Interrupt, InterruptibleWriter};
use crate::sink::label::Labels;

/// Feed items to the standard input of a command run by `sh -c`.
///
/// Ctrl-C or SIGTERM closes the command's standard input; a command that has not ended
/// half a second after the signal gets SIGTERM (SIGKILL a quarter of a second later), and
/// copipe waits for it. Its exit status is then no error. A second Ctrl-C kills copipe and
/// the command at once.
#[derive(Parser)]
#[command(name = "exec", disable_version_flag = true)]
pub struct Args {
    /// The command (quote it: it is one word of the pipeline, run by `sh -c`).
    #[arg(required = true, num_args = 1.., allow_hyphen_values = true, trailing_var_arg = true)]
    pub command: Vec<String>,
}

pub const DEF: StageDef = StageDef {
    name: "exec",
    aliases: &[],
    role: Role::Sink,
    summary: "feed items to a child process's standard input",
    accepts: Kind::ALL,
    emits: Emits::Nothing,
    examples: &["copipe cat access.log : grep ' 404 ' : exec 'sort | uniq -c | sort -rn'"],
    command: <Args as clap::CommandFactory>::command,
    fusion: None,
    build: Build::Sink(build),
};

fn build(m: &ArgMatches, cx: &BuildCx<'_>) -> Result<Box<dyn Stage>> {
    let a = Args::from_arg_matches(m)?;
    let command = a.command.join(" ");
    // What copipe already wrote must come before what the child writes.
    cx.stdout.borrow_mut().flush()?;
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(&command).stdin(Stdio::piped());
    die_with_parent(&mut cmd);
    crate::runtime::rlimit::give_child_the_original_limit(&mut cmd);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start `{command}`"))?;
    let stdin = child.stdin.take().map(|s| {
        BufWriter::with_capacity(64 * 1024, InterruptibleWriter::own(s, cx.interrupt.clone()))
    });
    Ok(Box::new(Exec {
        command,
        child,
        stdin,
        scratch: Vec::new(),
        labels: Labels::default(),
        line_buffered: cx.opts.line_buffered,
        stdout: cx.stdout.clone(),
        status: cx.status.clone(),
        interrupt: cx.interrupt.clone(),
    }))
}

/// Linux: the child gets SIGKILL if copipe dies without waiting for it (killed by a second
/// Ctrl-C, or by SIGKILL), so that it never outlives copipe unseen.
fn die_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: prctl, getppid and raise are async-signal-safe; nothing is allocated.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // copipe died before the prctl: end now, as it would have made us.
                if libc::getppid() != parent {
                    libc::raise(libc::SIGKILL);
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

/// After a signal, the child is sent SIGTERM when it has not ended this long after it.
pub const TERM_AFTER: Duration = Duration::from_millis(500);
/// And SIGKILL this long after the signal.
pub const KILL_AFTER: Duration = Duration::from_millis(750);

/// Wait for `child` to end. Until a signal arrives, as long as it takes; after one, it
/// gets SIGTERM at [`TERM_AFTER`] and SIGKILL at [`KILL_AFTER`] after the signal. Always
/// reaped. Returns its status and whether a signal was seen.
fn wait_child(child: &mut Child, interrupt: &Interrupt) -> io::Result<(ExitStatus, bool)> {
    let pidfd = crate::runtime::fd::pidfd_open(child.id());
    let (mut termed, mut killed) = (false, false);
    loop {
        if let Some(st) = child.try_wait()? {
            return Ok((st, interrupt.pending().is_some()));
        }
        let now = Instant::now();
        let mut timeout: Option<Duration> = None;
        if let Some(seen) = interrupt.since() {
            let (term_at, kill_at) = (seen + TERM_AFTER, seen + KILL_AFTER);
            if !termed && now >= term_at {
                // Our own child, not yet reaped (so its pid is still ours).
                let _ = crate::runtime::fd::send_signal(child.id(), libc::SIGTERM);
                termed = true;
            }
            if !killed && now >= kill_at {
                let _ = child.kill();
                killed = true;
            }
            timeout = if !termed {
                Some(term_at - now)
            } else if !killed {
                Some(kill_at.saturating_duration_since(now))
            } else {
                None
            };
        }
        if pidfd.is_none() {
            // No descriptor to wait on: look again every few milliseconds.
            let step = Duration::from_millis(10);
            timeout = Some(timeout.map_or(step, |t| t.min(step)));
        }
        let mut fds = [
            libc::pollfd {
                fd: pidfd.as_ref().map_or(-1, AsRawFd::as_raw_fd),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: interrupt.fd().unwrap_or(-1),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as i32 + 1);
        // A negative descriptor is ignored by poll.
        let r = crate::runtime::fd::poll(&mut fds, ms);
        if r.is_ok_and(|n| n > 0) && fds[1].revents != 0 {
            interrupt.drain();
        }
    }
}

/// A descriptor that becomes readable when the process ends (Linux ≥ 5.3), if available.
struct Exec {
    command: String,
    child: Child,
    /// `None` once the child has stopped reading.
    stdin: Option<BufWriter<InterruptibleWriter<ChildStdin>>>,
    scratch: Vec<u8>,
    labels: Labels,
    line_buffered: bool,
    stdout: std::rc::Rc<std::cell::RefCell<Output>>,
    status: Status,
    interrupt: Interrupt,
}

impl Exec {
    /// Write to the child; a closed pipe means it wants no more: stop, quietly.
    fn feed(&mut self, parts: &[&[u8]]) -> Result<Flow> {
        let Some(w) = self.stdin.as_mut() else {
            return Ok(Flow::Stop);
        };
        let mut r: io::Result<()> = Ok(());
        for p in parts {
            r = r.and_then(|()| w.write_all(p));
        }
        if self.line_buffered {
            r = r.and_then(|()| w.flush());
        }
        match r {
            Ok(()) => Ok(Flow::Continue),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.stdin = None;
                Ok(Flow::Stop)
            }
            Err(e) => Err(
                anyhow::Error::new(e).context(crate::runtime::output::WriteFailed(format!(
                    "`{}`",
                    self.command
                ))),
            ),
        }
    }
}

impl Stage for Exec {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        self.status.mark_delivered();
        match item {
            Item::Line(l) => {
                let mut s = std::mem::take(&mut self.scratch);
                let line = if self.labels.label_line(l, &mut s) {
                    &s[..]
                } else {
                    l
                };
                let flow = self.feed(&[line, b"\n"]);
                self.scratch = s;
                flow
            }
            _ => {
                let mut s = std::mem::take(&mut self.scratch);
                s.clear();
                render(&mut s, &item);
                s.push(b'\n');
                let flow = self.feed(&[&s]);
                self.scratch = s;
                flow
            }
        }
    }

    fn send_lines(&mut self, batch: &[u8]) -> Result<Flow> {
        if batch.is_empty() {
            return Ok(Flow::Continue);
        }
        self.status.mark_delivered();
        let mut s = std::mem::take(&mut self.scratch);
        let batch = if self.labels.label(batch, &mut s) {
            &s[..]
        } else {
            batch
        };
        let nl: &[u8] = if batch.last() == Some(&b'\n') {
            b""
        } else {
            b"\n"
        };
        let flow = self.feed(&[batch, nl]);
        self.scratch = s;
        flow
    }

    fn origin(&mut self, origin: Origin<'_>) -> Result<()> {
        self.labels.set(origin);
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if let Some(w) = self.stdin.as_mut()
            && let Err(e) = w.flush()
        {
            if e.kind() != io::ErrorKind::BrokenPipe {
                return Err(e).with_context(|| format!("error writing to `{}`", self.command));
            }
            self.stdin = None;
        }
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        // Whatever fails here, the child is still waited for (and ended after a signal).
        let flushed = self.flush();
        drop(self.stdin.take());
        // Our own buffered output goes before whatever the child still prints.
        let flushed = flushed.and_then(|()| self.stdout.borrow_mut().flush());
        let (status, signalled) = wait_child(&mut self.child, &self.interrupt)
            .with_context(|| format!("cannot wait for `{}`", self.command))?;
        flushed?;
        // After Ctrl-C or SIGTERM the child's end is ours (or the terminal's): no error.
        if !status.success() && !signalled {
            match status.code() {
                Some(c) => bail!("`{}` exited with status {c}", self.command),
                None => bail!("`{}` was killed by a signal ({status})", self.command),
            }
        }
        Ok(())
    }
}
