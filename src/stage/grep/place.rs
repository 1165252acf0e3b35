//! Where grep is in its input, for the errors that arise from a line or a record: a `-P`
//! match that gives up ([`pcre::GaveUp`]) is said as `grep: NAME:LINE: cause` (a record:
//! `grep: NAME, record N: cause`), as copipe's other stages name a position and as GNU grep
//! names the file.
//!
//! Lines are counted only when the matcher can fail on a line (`-P`, which looks at each
//! line anyway), with the numbering of `-n`: from 1 in each input of `cat`; in `follow`,
//! the lines seen of that name, going on when the source comes back to it (kept for at
//! most [`MAX_NAMES`] names).

use std::collections::HashMap;

use crate::item::count_lines;

use super::pcre;

/// The most names whose line counts are kept while another is read.
const MAX_NAMES: usize = 10_000;

pub(super) struct Place {
    /// Count lines (the matcher can fail on one).
    counting: bool,
    /// Each origin is a new input (`cat`), rather than a name that may come back.
    renumber: bool,
    /// The current input's name, as grep shows it, and its lines before the current batch.
    name: String,
    lines: u64,
    /// The lines seen of the other names (not with `renumber`).
    saved: HashMap<String, u64>,
}

impl Place {
    pub(super) fn new(counting: bool, renumber: bool) -> Self {
        Place {
            counting,
            renumber,
            name: "(standard input)".into(),
            lines: 0,
            saved: HashMap::new(),
        }
    }

    /// The source announced an input.
    pub(super) fn origin(&mut self, name: &str) {
        let name = if name == "standard input" {
            "(standard input)"
        } else {
            name
        };
        if self.renumber {
            self.lines = 0;
        } else if name != self.name {
            let back = self.saved.remove(name).unwrap_or(0);
            let old = std::mem::replace(&mut self.lines, back);
            if old > 0 && self.saved.len() < MAX_NAMES {
                self.saved.insert(self.name.clone(), old);
            }
        } else {
            return;
        }
        self.name.clear();
        self.name.push_str(name);
    }

    /// The lines of `batch` were searched.
    pub(super) fn advance(&mut self, batch: &[u8]) {
        if self.counting {
            self.lines += count_lines(batch);
        }
    }

    /// One line pushed alone was searched.
    pub(super) fn advance_one(&mut self) {
        if self.counting {
            self.lines += 1;
        }
    }

    /// An error from searching `batch`: a match that gave up names the input and the line.
    pub(super) fn in_lines(&self, e: anyhow::Error, batch: &[u8]) -> anyhow::Error {
        match e.downcast::<pcre::GaveUp>() {
            Ok(g) => {
                let at = g.at.min(batch.len());
                let n = self.lines + count_lines(&batch[..at]) + 1;
                anyhow::anyhow!("grep: {}:{n}: {}", self.name, g.why)
            }
            Err(e) => e,
        }
    }

    /// An error from searching record `n` of the input: a match that gave up names it.
    pub(super) fn in_record(&self, e: anyhow::Error, n: u64) -> anyhow::Error {
        match e.downcast::<pcre::GaveUp>() {
            Ok(g) => anyhow::anyhow!("grep: {}, record {n}: {}", self.name, g.why),
            Err(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gave_up(at: usize) -> anyhow::Error {
        anyhow::Error::new(pcre::GaveUp {
            why: "exceeded PCRE's backtracking limit".into(),
            at,
        })
    }

    #[test]
    fn lines_are_numbered_per_input_and_per_name() {
        let mut p = Place::new(true, false);
        p.advance(b"a\nb\n");
        let e = p.in_lines(gave_up(2), b"c\nd\n");
        assert_eq!(
            e.to_string(),
            "grep: (standard input):4: exceeded PCRE's backtracking limit"
        );
        p.origin("x.log");
        p.advance(b"1\n");
        p.origin("y.log");
        p.advance_one();
        p.origin("x.log");
        assert_eq!(
            p.in_lines(gave_up(0), b"2\n").to_string(),
            "grep: x.log:2: exceeded PCRE's backtracking limit"
        );
        // With `cat`, each origin starts again.
        let mut p = Place::new(true, true);
        p.origin("x.log");
        p.advance(b"1\n2\n");
        p.origin("x.log");
        assert_eq!(
            p.in_record(gave_up(0), 7).to_string(),
            "grep: x.log, record 7: exceeded PCRE's backtracking limit"
        );
        assert_eq!(
            p.in_lines(gave_up(0), b"z\n").to_string(),
            "grep: x.log:1: exceeded PCRE's backtracking limit"
        );
        // Other errors pass as they are.
        let e = p.in_lines(anyhow::anyhow!("broken pipe"), b"z\n");
        assert_eq!(e.to_string(), "broken pipe");
    }
}
