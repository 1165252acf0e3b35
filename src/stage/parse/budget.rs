//! The bound on the memory `parse` takes to capture a regex's groups.
//!
//! The regex crate finds capture groups with a Pike VM when the line is too long for its
//! backtracker: a table of one capture slot pair per group for every state of the regex's
//! NFA, twice (the current and the next position). That is the NFA's states × the groups,
//! a product, not a sum: 2,000 named groups of `\S` on one 3,000-byte line took 1.27 GB
//! and minutes (each byte copies slots across the table). The product is computed when
//! the stage is built, from the same NFA the regex crate compiles, and a regex beyond
//! [`MAX_SLOTS`] is refused with a word on what to do, so that `parse`'s memory stays
//! bounded whatever the regex: about 16 bytes × [`MAX_SLOTS`] at most, besides the line.

use anyhow::{Result, bail};
use regex_automata::nfa::thompson::{Compiler, Config, WhichCaptures};

/// The most capture slots × NFA states (8 bytes each, two tables: 64 MiB).
pub const MAX_SLOTS: usize = 4 << 20;

/// The capture slots the regex crate's Pike VM keeps for `regex` (states × slots).
fn slots(regex: &str) -> Result<usize> {
    let nfa = Compiler::new()
        .configure(Config::new().which_captures(WhichCaptures::All))
        .build(regex)?;
    Ok(nfa
        .states()
        .len()
        .saturating_mul(nfa.group_info().slot_len()))
}

/// Refuse a regex whose capture state would pass the bound.
pub fn check(regex: &str, groups: usize) -> Result<()> {
    // A regex the NFA compiler refuses is left to the regex crate's own error.
    let Ok(n) = slots(regex) else { return Ok(()) };
    if n > MAX_SLOTS {
        let mb = (n * 16) >> 20;
        bail!(
            "the regex has {groups} named groups over an automaton of {} states: \
             capturing them would take about {mb} MB (the bound is {} MB: NFA states × \
             groups); use fewer groups (several `parse` stages in turn), or smaller \
             classes (\\S, \\w and . are dozens of states each; [a-z] or [0-9] one)",
            n / 2 / (groups + 1).max(1),
            (MAX_SLOTS * 16) >> 20
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(n: usize, class: &str) -> String {
        (0..n).map(|i| format!("(?P<g{i}>{class})")).collect()
    }

    #[test]
    fn usual_regexes_pass_and_thousands_of_groups_are_refused() {
        check(r"^(?P<a>\S+) (?P<b>\S+) (?P<rest>.*)$", 3).unwrap();
        check(&named(200, r"\S"), 200).unwrap();
        let e = check(&named(2000, r"\S"), 2000).unwrap_err().to_string();
        assert!(e.contains("2000 named groups"), "{e}");
        assert!(e.contains("the bound is 64 MB"), "{e}");
        check(&named(2000, "[a-z]"), 2000).unwrap_err();
        check(&named(400, "[a-z]"), 400).unwrap();
    }
}
