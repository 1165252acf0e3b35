//! Errors: a well-formedness error at an offset ([`Fail`]), how a character is shown in
//! one, and where an error inside an entity's replacement text is placed.

use super::Parser;
use super::markup::Partial;
use crate::source::xml::input::InputError;

/// A failure: a well-formedness error at an offset, or an error from downstream or I/O.
pub enum Fail {
    /// At an offset relative to the data being tokenized.
    At(usize, String),
    /// At an absolute offset of the input.
    Abs(u64, String),
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Fail {
    fn from(e: anyhow::Error) -> Self {
        Fail::Other(e)
    }
}

impl From<InputError> for Fail {
    fn from(e: InputError) -> Self {
        match e {
            InputError::Io(e) => Fail::Other(e.into()),
            InputError::At(o, m) => Fail::Abs(o, m),
            // `run_to` takes it before it can come here.
            InputError::Blocked => Fail::Other(anyhow::anyhow!("a read would block")),
        }
    }
}

pub(super) fn at<T>(i: usize, msg: impl Into<String>) -> Result<T, Fail> {
    Err(Fail::At(i, msg.into()))
}

pub(super) fn in_entity(e: Fail, name: &str, at_ref: usize) -> Fail {
    match e {
        Fail::At(_, m) if m.contains("entity &") => Fail::At(at_ref, m),
        Fail::At(_, m) => Fail::At(at_ref, format!("in entity &{name};: {m}")),
        e => e,
    }
}

pub(super) fn show_c(c: char) -> String {
    if c.is_control() || c.is_whitespace() {
        format!("character U+{:04X}", c as u32)
    } else {
        format!("`{c}`")
    }
}

pub(super) fn show_char(d: &[u8], i: usize) -> String {
    match std::str::from_utf8(&d[i..])
        .ok()
        .or_else(|| {
            let e = std::str::from_utf8(&d[i..]).err()?;
            std::str::from_utf8(&d[i..i + e.valid_up_to()]).ok()
        })
        .and_then(|s| s.chars().next())
    {
        Some(c) => show_c(c),
        None => "the end of the input".into(),
    }
}

impl Parser {
    /// The error for an input that ends inside `what`, at the start of `what`.
    pub(super) fn ends_inside(&self, what: &str) -> Fail {
        if self.in_subset {
            return Fail::Abs(
                self.doctype_start,
                "the input ends inside the DOCTYPE".into(),
            );
        }
        let at = match self.partial {
            Partial::None => self.input.offset(0),
            _ => self.partial_start,
        };
        Fail::Abs(at, format!("the input ends inside {what}"))
    }
}
