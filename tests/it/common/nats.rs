//! The NATS scenarios' server: a real `nats-server` with JetStream on loopback, fresh
//! storage, killed when dropped (tests/it/nats.rs and tests/it/delivery.rs).

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::tools::{free_port, have};

/// Whether nats-server is installed (a note, or a failure under COPIPE_REQUIRE_TOOLS).
pub fn have_nats() -> bool {
    have("nats-server")
}

/// A nats-server with JetStream, killed when dropped.
pub struct Server {
    child: Option<Child>,
    args: Vec<String>,
    pub port: u16,
}

impl Server {
    /// Started on `port` with its storage in `dir` and the `extra` arguments (a cluster's
    /// routes); returns once it accepts connections.
    pub fn start(port: u16, dir: &Path, extra: &[String]) -> Server {
        let mut args: Vec<String> = vec![
            "-js".into(),
            "-a".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
            "-sd".into(),
            dir.display().to_string(),
        ];
        args.extend(extra.iter().cloned());
        let mut s = Server {
            child: None,
            args,
            port,
        };
        s.restart();
        s
    }

    /// Started on a free port, storage in `dir`.
    pub fn on_free_port(dir: &Path) -> Server {
        Server::start(free_port(), dir, &[])
    }

    /// Started again with the same arguments (after `kill`).
    pub fn restart(&mut self) {
        let child = Command::new("nats-server")
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}
