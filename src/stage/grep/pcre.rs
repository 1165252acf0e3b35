//! `grep -P`: Perl regular expressions on PCRE2 (with its JIT), with GNU grep -P's meaning in
//! a UTF-8 locale: the pattern is UTF-8, lines are searched as UTF-8 where they are (a byte
//! that is not UTF-8 matches nothing, not even `.`, and the rest of the line is searched),
//! `\w \d \s \b` are ASCII, `-i` folds case as Unicode does, `-w` is `(?<!\w)(?:P)(?!\w)`
//! and `-x` is `^(?:P)$`.
//!
//! Each line is searched on its own, as GNU grep and ripgrep do with PCRE2: a lookbehind or
//! lookahead never sees the line before or after, and `\A`/`\z` are the line's ends.
//! Several patterns (several `-e`, the lines of `-f`) are compiled one by one, so that each
//! keeps its own group numbers for its backreferences; a line is selected when one
//! matches, and `-o` prints the leftmost match of any (the first pattern's on a tie).

use anyhow::{Result, bail};
use pcre2::bytes::{Regex, RegexBuilder};

/// The largest JIT stack a match may grow (it is mapped lazily, as it grows).
const MAX_JIT_STACK: usize = 8 << 20;

/// PCRE2's codes for the limits a match can reach (pcre2.h).
const ERROR_JIT_STACKLIMIT: i32 = -46;
const ERROR_MATCHLIMIT: i32 = -47;
const ERROR_DEPTHLIMIT: i32 = -53;
const ERROR_HEAPLIMIT: i32 = -63;

/// The compiled `-P` patterns.
#[derive(Clone, Debug)]
pub struct Pcre {
    res: Vec<Regex>,
}

/// Whether a `-P` pattern stands for itself (ASCII, without any character that PCRE gives
/// a meaning), so that the literal searcher of the other syntaxes can run it.
pub fn plain_literal(p: &[u8]) -> bool {
    p.iter().all(|&b| {
        b.is_ascii()
            && !b.is_ascii_control()
            && !matches!(
                b,
                b'\\'
                    | b'^'
                    | b'$'
                    | b'.'
                    | b'['
                    | b']'
                    | b'|'
                    | b'('
                    | b')'
                    | b'?'
                    | b'*'
                    | b'+'
                    | b'{'
                    | b'}'
                    | b'#'
            )
    })
}

impl Pcre {
    /// Compile each pattern as GNU grep -P compiles its one pattern.
    pub fn new(pats: &[&[u8]], ignore_case: bool, words: bool, lines: bool) -> Result<Self> {
        let mut res = Vec::with_capacity(pats.len());
        for p in pats {
            let Ok(text) = std::str::from_utf8(p) else {
                bail!(
                    "bad pattern {:?}: with -P a pattern must be UTF-8 (-E and -F take any bytes)",
                    String::from_utf8_lossy(p)
                );
            };
            // GNU grep 3.8's PCRE2 options in a UTF-8 locale are UTF and MATCH_INVALID_UTF
            // without UCP. The crate sets MATCH_INVALID_UTF only with UCP, so UCP is on and
            // `(?a)` makes `\d \s \w \b` and the POSIX classes ASCII again (case folding
            // stays Unicode's, as it is in UTF mode). It goes after any leading `(*VERB)`s,
            // which must stay first.
            let verbs = leading_verbs(text);
            let (verbs, rest) = text.split_at(verbs);
            let (open, close) = if lines {
                ("^(?:", ")$")
            } else if words {
                (r"(?<!\w)(?:", r")(?!\w)")
            } else {
                ("", "")
            };
            let src = format!("{verbs}(?a){open}{rest}{close}");
            let added = "(?a)".len() + open.len();
            let re = RegexBuilder::new()
                .utf(true)
                .ucp(true)
                .caseless(ignore_case)
                .jit_if_available(true)
                .max_jit_stack_size(Some(MAX_JIT_STACK))
                .build(&src)
                .map_err(|e| {
                    // PCRE2's own words, as GNU grep says them, and where in the pattern as
                    // given.
                    let at = e
                        .offset()
                        .map(|o| {
                            let o = if o >= verbs.len() + added {
                                o - added
                            } else {
                                o.min(verbs.len())
                            };
                            format!(" (at offset {})", o.min(text.len()))
                        })
                        .unwrap_or_default();
                    anyhow::anyhow!("bad pattern {text:?}: {}{at}", message(&e))
                })?;
            res.push(re);
        }
        Ok(Pcre { res })
    }

    /// Whether a line (without its newline) matches one of the patterns.
    pub fn is_match(&self, line: &[u8]) -> Result<bool> {
        for re in &self.res {
            if re.is_match(line).map_err(failed)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Call `hit` with each match (not empty) in a line, left to right, as grep -o finds
    /// them: the leftmost match from where the last one ended.
    pub fn each_match(&self, line: &[u8], mut hit: impl FnMut(usize, usize)) -> Result<()> {
        let mut pos = 0;
        while pos <= line.len() {
            let mut best: Option<(usize, usize)> = None;
            for re in &self.res {
                if let Some(m) = re.find_at(line, pos).map_err(failed)?
                    && best.is_none_or(|(s, _)| m.start() < s)
                {
                    best = Some((m.start(), m.end()));
                }
            }
            let Some((s, e)) = best else { break };
            if e > s {
                hit(s, e);
                pos = e;
            } else {
                // An empty match: go on from the next character.
                pos = s + 1;
                while pos < line.len() && (line[pos] & 0xC0) == 0x80 {
                    pos += 1;
                }
            }
        }
        Ok(())
    }
}

/// The length of the `(*VERB)`s (`(*UCP)`, `(*CR)`, `(*LIMIT_MATCH=N)` …) a pattern
/// starts with.
fn leading_verbs(p: &str) -> usize {
    let mut at = 0;
    while p[at..].starts_with("(*")
        && let Some(end) = p[at..].find(')')
        && p[at + 2..at + end]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'=')
    {
        at += end + 1;
    }
    at
}

/// PCRE2's message for an error, without the crate's prefix.
fn message(e: &pcre2::Error) -> String {
    let full = e.to_string();
    match full.split_once(": ") {
        Some((_, rest)) if full.starts_with("PCRE2") => match rest.split_once(": ") {
            Some((_, msg)) if rest.starts_with("error") => msg.to_string(),
            _ => rest.to_string(),
        },
        _ => full,
    }
}

/// A match that gave up: GNU grep's words for the limits, PCRE2's for anything else.
fn failed(e: pcre2::Error) -> anyhow::Error {
    let why = match e.code() {
        ERROR_MATCHLIMIT => "exceeded PCRE's backtracking limit".to_string(),
        ERROR_DEPTHLIMIT => "exceeded PCRE's nested backtracking limit".to_string(),
        ERROR_HEAPLIMIT => "exceeded PCRE's heap limit".to_string(),
        ERROR_JIT_STACKLIMIT => "exhausted PCRE JIT stack".to_string(),
        _ => message(&e),
    };
    anyhow::Error::new(GaveUp { why, at: 0 })
}

/// A match that gave up on a line (a limit of PCRE2's), which the stage names by its input
/// and line number (see `place.rs`).
#[derive(Debug)]
pub struct GaveUp {
    /// What PCRE2 said, in GNU grep's words.
    pub why: String,
    /// Where the line starts in the batch searched (0 for a line searched alone).
    pub at: usize,
}

impl std::fmt::Display for GaveUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "grep -P: {}", self.why)
    }
}

impl std::error::Error for GaveUp {}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcre(p: &[&str]) -> Pcre {
        let pats: Vec<&[u8]> = p.iter().map(|s| s.as_bytes()).collect();
        Pcre::new(&pats, false, false, false).unwrap()
    }

    fn hits(p: &Pcre, line: &str) -> Vec<String> {
        let mut v = Vec::new();
        p.each_match(line.as_bytes(), |s, e| v.push(line[s..e].to_string()))
            .unwrap();
        v
    }

    #[test]
    fn lookaround_and_backreferences() {
        let p = pcre(&[r"(?<=id=)\d+(?!ms)"]);
        assert_eq!(hits(&p, "id=42 id=7ms id=8"), ["42", "8"]);
        let p = pcre(&[r"(\w)\1"]);
        assert!(p.is_match(b"hello").unwrap());
        assert!(!p.is_match(b"helo").unwrap());
    }

    #[test]
    fn several_patterns_keep_their_own_groups() {
        let p = pcre(&[r"(a)\1", r"(b)\1"]);
        assert!(p.is_match(b"xbb").unwrap());
        assert_eq!(hits(&p, "bb aa bb"), ["bb", "aa", "bb"]);
        // The leftmost match of any; on a tie, the first pattern's.
        let p = pcre(&["ab", "a"]);
        assert_eq!(hits(&p, "a ab"), ["a", "ab"]);
    }

    #[test]
    fn bytes_that_are_not_utf8_match_nothing() {
        let p = pcre(&["a.b", "b"]);
        let mut v = Vec::new();
        p.each_match(b"a\xffb", |s, e| v.push((s, e))).unwrap();
        assert_eq!(v, [(2, 3)]);
        assert!(Pcre::new(&[b"\xff"], false, false, false).is_err());
    }

    #[test]
    fn empty_matches_advance_by_characters() {
        let p = pcre(&["x*"]);
        assert_eq!(hits(&p, "éxx"), ["xx"]);
    }

    #[test]
    fn errors_are_pcre2s_words() {
        let e = Pcre::new(&[b"("], false, false, false).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"bad pattern "(": missing closing parenthesis (at offset 1)"#
        );
        let e = Pcre::new(&[b"a)"], false, true, false).unwrap_err();
        assert!(e.to_string().contains("closing parenthesis"), "{e}");
        let p = pcre(&["(a+)+$"]);
        let line = format!("{}b", "a".repeat(60));
        let e = p.is_match(line.as_bytes()).unwrap_err();
        let g = e.downcast_ref::<GaveUp>().unwrap();
        assert_eq!(g.why, "exceeded PCRE's backtracking limit");
    }

    #[test]
    fn perl_classes_are_ascii_and_case_folding_unicode_as_in_gnu_grep() {
        let p = pcre(&[r"^\w+$"]);
        assert!(!p.is_match("é".as_bytes()).unwrap());
        let p = pcre(&[r"\d"]);
        assert!(!p.is_match("١".as_bytes()).unwrap());
        let p = Pcre::new(&["é".as_bytes()], true, false, false).unwrap();
        assert!(p.is_match("É".as_bytes()).unwrap());
        let p = Pcre::new(&[b"ion"], false, true, false).unwrap();
        assert!(p.is_match("éion".as_bytes()).unwrap());
        // Leading verbs stay first.
        let p = pcre(&[r"(*LIMIT_MATCH=100)(a+)+$"]);
        assert!(
            p.is_match(format!("{}b", "a".repeat(30)).as_bytes())
                .is_err()
        );
        assert_eq!(leading_verbs("(*UCP)(*CR)x(*F)"), 11);
    }

    #[test]
    fn literals() {
        assert!(plain_literal(b"ERROR 42"));
        assert!(plain_literal(b""));
        for p in [&b"a.b"[..], b"a\\d", b"caf\xc3\xa9", b"a{2}", b"x#y"] {
            assert!(!plain_literal(p), "{p:?}");
        }
    }
}
