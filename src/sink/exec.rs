//! `exec CMD` — feed items to a child process's standard input, one per line (records and
//! events as NDJSON). CMD is run by `sh -c`, so it may itself be a shell pipeline. The child
//! shares copipe's standard output. When the child stops reading, this branch stops (it is
//! not an error); when the stream ends its stdin is closed and copipe waits for it. A child
//! that exits with a non-zero status, or is killed, is an error (exit status 2).

use std::io::{self, BufWriter, Write};
use std::process::{Child, ChildStdin, Command, Stdio};

use anyhow::{Context, Result, bail};
use clap::{ArgMatches, FromArgMatches, Parser};

use crate::item::{Item, Kind, Origin, render};
use crate::pipeline::registry::{Build, BuildCx, Emits, Role, StageDef, Status};
use crate::sink::label::Labels;
use crate::sink::output::Output;
use crate::stage::{Flow, Stage};

/// Feed items to the standard input of a command run by `sh -c`.
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
    build: Build::Sink(build),
};

fn build(m: &ArgMatches, cx: &BuildCx<'_>) -> Result<Box<dyn Stage>> {
    let a = Args::from_arg_matches(m)?;
    let command = a.command.join(" ");
    // What copipe already wrote must come before what the child writes.
    cx.stdout.borrow_mut().flush()?;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(&command)
        .stdin(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start `{command}`"))?;
    let stdin = child
        .stdin
        .take()
        .map(|s| BufWriter::with_capacity(64 * 1024, s));
    Ok(Box::new(Exec {
        command,
        child,
        stdin,
        scratch: Vec::new(),
        labels: Labels::default(),
        line_buffered: cx.opts.line_buffered,
        stdout: cx.stdout.clone(),
        status: cx.status.clone(),
    }))
}

struct Exec {
    command: String,
    child: Child,
    /// `None` once the child has stopped reading.
    stdin: Option<BufWriter<ChildStdin>>,
    scratch: Vec<u8>,
    labels: Labels,
    line_buffered: bool,
    stdout: std::rc::Rc<std::cell::RefCell<Output>>,
    status: Status,
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
            Err(e) => Err(e).with_context(|| format!("error writing to `{}`", self.command)),
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
        self.flush()?;
        drop(self.stdin.take());
        // Our own buffered output goes before whatever the child still prints.
        self.stdout.borrow_mut().flush()?;
        let status = self
            .child
            .wait()
            .with_context(|| format!("cannot wait for `{}`", self.command))?;
        if !status.success() {
            match status.code() {
                Some(c) => bail!("`{}` exited with status {c}", self.command),
                None => bail!("`{}` was killed by a signal ({status})", self.command),
            }
        }
        Ok(())
    }
}
