//! The DOCTYPE declaration. For now it is skipped: quoted strings, comments and processing
//! instructions inside its internal subset are stepped over so that a `>` in them does not
//! end it.

use super::parser::{Fail, Parser, Step};
use crate::stage::Flow;

/// The DOCTYPE at `d[0]`.
pub(super) fn doctype(p: &Parser, d: &[u8]) -> Result<Step, Fail> {
    let _ = p;
    let mut i = 9;
    let mut subset = false;
    while i < d.len() {
        match d[i] {
            q @ (b'"' | b'\'') => match memchr::memchr(q, &d[i + 1..]) {
                Some(k) => i += k + 2,
                None => break,
            },
            b'[' if !subset => {
                subset = true;
                i += 1;
            }
            b']' if subset => {
                subset = false;
                i += 1;
            }
            b'<' if subset && d[i..].starts_with(b"<!--") => {
                match memchr::memmem::find(&d[i + 4..], b"-->") {
                    Some(k) => i += 4 + k + 3,
                    None => break,
                }
            }
            b'<' if subset && d[i..].starts_with(b"<?") => {
                match memchr::memmem::find(&d[i..], b"?>") {
                    Some(k) => i += k + 2,
                    None => break,
                }
            }
            b'>' if !subset => return Ok(Step::Done(i + 1, Flow::Continue)),
            _ => i += 1,
        }
    }
    Ok(Step::More("the DOCTYPE"))
}
