//! Running one test in a process of its own. The integration tests share one binary, so a
//! test that changes what belongs to the whole process (the current directory, the signal
//! handlers, a counting global allocator whose figures must not include the other tests'
//! allocations) runs again in a child: the test binary itself, asked for that one test.

use std::process::Command;

/// Set in the child: the name of the test it runs.
const VAR: &str = "COPIPE_IT_OWN_PROCESS";

/// In the test process: runs the test `name` (its full path without the crate, such as
/// `xml_fuzz::fuzz_the_xml_source`) in a child process, alone, forwards its output, fails
/// if it fails or did not run exactly that test, and returns true: the caller returns. In the
/// child: returns false, and the caller goes on with the test's body.
pub fn in_own_process(name: &str) -> bool {
    if std::env::var_os(VAR).is_some_and(|v| v == name) {
        return false;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = Command::new(exe)
        .args([name, "--exact", "--test-threads=1", "--nocapture"])
        .env(VAR, name)
        .output()
        .expect("run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    print!("{stdout}");
    eprint!("{stderr}");
    assert!(out.status.success(), "{name} failed in its own process");
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "{name}: the child did not run exactly that test"
    );
    true
}
