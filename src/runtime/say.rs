//! Writing diagnostics and plain text without panicking: `eprintln!` and `println!` panic
//! when their stream is a closed pipe (`copipe … 2>&1 | head`), which would turn an exit
//! status 2 into 101. [`say!`](crate::say) and [`say_out!`](crate::say_out) write the
//! same text and drop a failed write: there is nowhere left to tell of it.
//!
//! A thread that works ahead of the output (a worker of `cat`'s per-file workers, see
//! `crate::engine::workers`) holds what it says with [`hold`] and hands it over with the
//! items, so that diagnostics come out in the order a single thread would have said them.

/// `eprintln!` that never panics (a closed standard error drops the message).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        $crate::runtime::say::err(::std::format_args!($($arg)*), true)
    }};
}

/// `eprint!` that never panics.
#[macro_export]
macro_rules! say_part {
    ($($arg:tt)*) => {{
        $crate::runtime::say::err(::std::format_args!($($arg)*), false)
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

thread_local! {
    /// What this thread said while it holds its diagnostics (see [`hold`]).
    static HELD: std::cell::RefCell<Option<Vec<u8>>> = const { std::cell::RefCell::new(None) };
}

/// From now on, what this thread says on stderr is kept (until [`take_held`] and
/// [`release`]) instead of written.
pub fn hold() {
    HELD.with(|h| *h.borrow_mut() = Some(Vec::new()));
}

/// What this thread said since it began to hold, or since the last call.
pub fn take_held() -> Vec<u8> {
    HELD.with(|h| {
        h.borrow_mut()
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    })
}

/// Whether this thread holds something said and not yet taken.
pub fn has_held() -> bool {
    HELD.with(|h| h.borrow().as_ref().is_some_and(|t| !t.is_empty()))
}

/// Stop holding (what is still held is dropped: take it first).
pub fn release() {
    HELD.with(|h| *h.borrow_mut() = None);
}

/// What [`say!`](crate::say) and [`say_part!`](crate::say_part) do: write on stderr, or
/// into the held text if this thread holds.
pub fn err(args: std::fmt::Arguments<'_>, newline: bool) {
    use std::io::Write as _;
    let held = HELD.with(|h| match h.borrow_mut().as_mut() {
        Some(b) => {
            let _ = b.write_fmt(args);
            if newline {
                b.push(b'\n');
            }
            true
        }
        None => false,
    });
    if !held {
        let mut e = std::io::stderr().lock();
        let _ = e.write_fmt(args);
        if newline {
            let _ = e.write_all(b"\n");
        }
    }
}

/// Whether this thread holds what it says.
pub fn holding() -> bool {
    HELD.with(|h| h.borrow().is_some())
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

    #[test]
    fn held_diagnostics_are_kept_in_order_until_taken() {
        super::hold();
        crate::say!("a {}", 1);
        crate::say_part!("b");
        crate::say!("");
        assert_eq!(super::take_held(), b"a 1\nb\n");
        assert!(super::take_held().is_empty());
        super::release();
        assert!(!super::holding());
    }
}
