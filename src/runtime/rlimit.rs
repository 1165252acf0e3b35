//! The open-file limit: copipe raises its soft limit (`ulimit -n`, often 1024) to the hard
//! limit at start, as Go programs and other servers of many files do — `follow` of thousands
//! of logs needs a descriptor for each — and gives children it starts (`exec`) the limit it
//! was given, so that a program using `select(2)` is not handed more than it can take.

use std::sync::atomic::{AtomicU64, Ordering};

/// The soft limit copipe was started with, when it raised it (`u64::MAX`: not raised).
static ORIGINAL: AtomicU64 = AtomicU64::new(u64::MAX);

/// Raise the soft limit on open files to the hard limit. Failure leaves the limit as it was
/// (what then cannot be opened is reported by the stage that opens it).
pub fn raise_open_files() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the rlimit it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0
        || lim.rlim_cur >= lim.rlim_max
    {
        return;
    }
    let soft = lim.rlim_cur;
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: setrlimit reads the rlimit it is given.
    let mut ok = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } == 0;
    if !ok {
        // macOS refuses more than OPEN_MAX (10240) when the hard limit is unlimited.
        lim.rlim_cur = lim.rlim_max.min(10240).max(soft);
        // SAFETY: as above.
        ok = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } == 0;
    }
    if ok && lim.rlim_cur != soft {
        // rlim_t is u64 on Linux but not everywhere.
        #[allow(clippy::unnecessary_cast)]
        ORIGINAL.store(soft as u64, Ordering::Relaxed);
    }
}

/// Put back the soft limit copipe was started with. Called in a child between `fork` and
/// `exec`: it only reads an atomic and calls setrlimit (async-signal-safe).
pub fn restore_open_files_in_child() {
    let soft = ORIGINAL.load(Ordering::Relaxed);
    if soft == u64::MAX {
        return;
    }
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit on a stack rlimit; nothing is allocated.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = soft as libc::rlim_t;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// The soft limit on open files (`ulimit -n`), if there is one.
pub fn open_file_limit() -> Option<libc::rlim_t> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the rlimit it is given.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0;
    (ok && lim.rlim_cur != libc::RLIM_INFINITY).then_some(lim.rlim_cur)
}

/// Have the child `cmd` starts get the soft limit copipe was started with (see
/// [`restore_open_files_in_child`]).
pub fn give_child_the_original_limit(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the hook runs between fork and exec; it only reads an atomic and calls
    // getrlimit/setrlimit, which are async-signal-safe; nothing is allocated.
    unsafe {
        cmd.pre_exec(|| {
            restore_open_files_in_child();
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn the_open_file_limit_is_the_soft_limit_the_kernel_shows() {
        // /proc/self/limits: "Max open files  SOFT  HARD  files".
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
        let line = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .unwrap();
        let soft = line["Max open files".len()..].split_whitespace().next();
        let want = match soft.unwrap() {
            "unlimited" => None,
            n => Some(n.parse::<u64>().unwrap()),
        };
        #[allow(clippy::unnecessary_cast)]
        let got = open_file_limit().map(|n| n as u64);
        assert_eq!(got, want);
    }
}
