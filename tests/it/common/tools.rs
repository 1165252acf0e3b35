//! External tools the tests compare with or drive (nats-server, socat, jq, …), and free
//! loopback ports.

use std::net::TcpListener;
use std::process::Command;

/// Whether `tool` is on PATH. A missing tool skips the test with a note, or fails it when
/// COPIPE_REQUIRE_TOOLS is set (.ci/run installs the tools and sets it, so CI runs them all).
pub fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("COPIPE_REQUIRE_TOOLS").is_none(),
            "{tool} is not installed, and COPIPE_REQUIRE_TOOLS is set"
        );
        eprintln!("note: {tool} is not installed; skipping what needs it");
    }
    found
}

/// A loopback port free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
