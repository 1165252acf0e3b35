//! Writing diagnostics and plain text without panicking: `eprintln!` and `println!` panic
//! when their stream is a closed pipe (`copipe … 2>&1 | head`), which would turn an exit
//! status 2 into 101. [`say!`](crate::say) and [`say_out!`](crate::say_out) write the
//! same text and drop a failed write: there is nowhere left to tell of it.

/// `eprintln!` that never panics (a closed standard error drops the message).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::writeln!(::std::io::stderr(), $($arg)*);
    }};
}

/// `eprint!` that never panics.
#[macro_export]
macro_rules! say_part {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::write!(::std::io::stderr(), $($arg)*);
    }};
}

/// `print!` that never panics (a closed standard output drops the text).
#[macro_export]
macro_rules! say_out {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let mut out = ::std::io::stdout().lock();
        let _ = ::std::write!(out, $($arg)*);
        let _ = out.flush();
    }};
}

#[cfg(test)]
mod tests {
    #[test]
    fn saying_into_a_closed_stderr_does_not_panic() {
        // Whatever stderr is in the test harness, the macros return.
        crate::say!("x {}", 1);
        crate::say_part!("y");
        crate::say_out!("");
    }
}
