//! The `follow --state` scenarios' steps: a session that runs until what is wanted is out
//! and then stops, and lines compared in any order (tests/it/follow_state.rs,
//! tests/it/follow_dir.rs).

use std::path::Path;

use super::follow;

/// Follow until `want` is out, then stop with SIGTERM; stdout and stderr.
#[track_caller]
pub fn session(dir: &Path, args: &[&str], want: &str) -> (String, String) {
    let mut cp = follow(dir, args);
    if want.is_empty() {
        // Started: its file is open.
        cp.wait_open(&dir.join("app.log"));
    }
    cp.wait_out_eq(want);
    assert_eq!(cp.stop(), 0, "{}", cp.err());
    (cp.out(), cp.err())
}

/// The lines of `out`, sorted: for outputs whose order between files is free.
pub fn sorted(out: &str) -> Vec<String> {
    let mut v: Vec<String> = out.lines().map(str::to_string).collect();
    v.sort();
    v
}
