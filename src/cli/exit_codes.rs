//! copipe's exit statuses, in one place: grep's (0 an item reached a sink, 1 none did, 2 an
//! error), and 130 after Ctrl-C, the shell's convention for a run ended by SIGINT.

/// How copipe exits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    /// 0: an item reached a sink; or help was asked for; or a requested stop (SIGTERM); or
    /// the reader of the output went away.
    Success,
    /// 1: the run went well and no item reached a sink (grep's "no line selected").
    NoMatch,
    /// 2: an error was reported (bad pipeline, unreadable input, a write that failed).
    Error,
    /// 130: the run was ended by Ctrl-C (SIGINT), its output flushed.
    Interrupted,
}

impl ExitCode {
    /// The number the process exits with.
    pub fn code(self) -> i32 {
        match self {
            ExitCode::Success => 0,
            ExitCode::NoMatch => 1,
            ExitCode::Error => 2,
            ExitCode::Interrupted => 128 + libc::SIGINT,
        }
    }
}

impl From<ExitCode> for i32 {
    fn from(e: ExitCode) -> i32 {
        e.code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_greps_and_the_shells() {
        assert_eq!(ExitCode::Success.code(), 0);
        assert_eq!(ExitCode::NoMatch.code(), 1);
        assert_eq!(ExitCode::Error.code(), 2);
        assert_eq!(ExitCode::Interrupted.code(), 130);
    }
}
