//! `grep -G`: a POSIX basic regular expression (with GNU's extensions `\|`, `\+`, `\?`,
//! `\<`, `\>`, `\w`…) translated into the extended syntax the matcher runs.
//!
//! In a BRE, `\(` `\)` `\{` `\}` `\|` `\+` `\?` are operators and the bare characters are
//! themselves; `*` is itself at the start of an expression (or of a group, or after `^`);
//! `^` anchors only at the start of an expression and `$` only at its end. Bracket
//! expressions are POSIX ones: a `]` first is itself, a backslash is itself. Back-references
//! (`\1`) have no translation and are refused.

use anyhow::{Result, bail};

/// The extended-syntax (Rust `regex`) form of one BRE.
pub(super) fn translate(bre: &str) -> Result<String> {
    let c: Vec<char> = bre.chars().collect();
    let mut out = String::with_capacity(bre.len() + 8);
    let mut i = 0;
    // At the start of an expression (the pattern, after `\(` or `\|`): `*` is literal
    // there, `^` an anchor.
    let mut start = true;
    while i < c.len() {
        let ch = c[i];
        let was_start = start;
        start = false;
        match ch {
            '\\' => {
                let Some(&n) = c.get(i + 1) else {
                    bail!("trailing backslash");
                };
                i += 2;
                match n {
                    '(' | '|' => {
                        out.push(n);
                        start = true;
                    }
                    ')' | '{' | '}' | '+' | '?' => out.push(n),
                    '1'..='9' => bail!(
                        "back-references (\\{n}) are not supported: the regex engine has none"
                    ),
                    '`' => out.push_str(r"\A"),
                    '\'' => out.push_str(r"\z"),
                    '<' | '>' | 'w' | 'W' | 's' | 'S' | 'b' | 'B' => {
                        out.push('\\');
                        out.push(n);
                    }
                    _ => push_literal(&mut out, n),
                }
                continue;
            }
            '*' if was_start => out.push_str(r"\*"),
            '^' if was_start => {
                out.push('^');
                start = true;
            }
            '^' => out.push_str(r"\^"),
            '$' => {
                // An anchor at the end of an expression: the pattern's end, before `\)` or
                // before `\|`.
                let rest = &c[i + 1..];
                let at_end = rest.is_empty()
                    || rest.starts_with(&['\\', ')'])
                    || rest.starts_with(&['\\', '|']);
                out.push_str(if at_end { "$" } else { r"\$" });
            }
            '(' | ')' | '{' | '}' | '|' | '+' | '?' => {
                out.push('\\');
                out.push(ch);
            }
            '[' => {
                i = bracket(&c, i, &mut out)?;
                continue;
            }
            _ => out.push(ch),
        }
        i += 1;
    }
    Ok(out)
}

/// A character that stands for itself.
fn push_literal(out: &mut String, ch: char) {
    let mut b = [0; 4];
    out.push_str(&regex::escape(ch.encode_utf8(&mut b)));
}

/// Translate the bracket expression that opens at `c[i]`; the index after it.
fn bracket(c: &[char], mut i: usize, out: &mut String) -> Result<usize> {
    out.push('[');
    i += 1;
    if c.get(i) == Some(&'^') {
        out.push('^');
        i += 1;
    }
    let mut first = true;
    loop {
        let Some(&ch) = c.get(i) else {
            bail!("unmatched [, [^, [:, [., or [=");
        };
        match ch {
            ']' if !first => {
                out.push(']');
                return Ok(i + 1);
            }
            '[' if matches!(c.get(i + 1), Some(':' | '=' | '.')) => {
                // `[:alpha:]`, `[=a=]`, `[.a.]`: up to the matching `:]`.
                let kind = c[i + 1];
                let close = (i + 2..c.len().saturating_sub(1))
                    .find(|&j| c[j] == kind && c[j + 1] == ']')
                    .ok_or_else(|| anyhow::anyhow!("unmatched [, [^, [:, [., or [="))?;
                let inner: String = c[i + 2..close].iter().collect();
                match kind {
                    ':' => {
                        out.push_str("[:");
                        out.push_str(&inner);
                        out.push_str(":]");
                    }
                    _ => {
                        // An equivalence class or collating symbol of one character is
                        // that character.
                        let mut ch = inner.chars();
                        match (ch.next(), ch.next()) {
                            (Some(one), None) => push_class_char(out, one),
                            _ => bail!("unsupported collating element [{kind}{inner}{kind}]"),
                        }
                    }
                }
                i = close + 1;
            }
            '-' => out.push('-'),
            _ => push_class_char(out, ch),
        }
        first = false;
        i += 1;
    }
}

/// A character inside a class, escaped where Rust's class syntax would read it otherwise
/// (`\`, `[`, `]`, `&`, `~`, `^`).
fn push_class_char(out: &mut String, ch: char) {
    if matches!(ch, '\\' | '[' | ']' | '&' | '~' | '^') {
        out.push('\\');
    }
    out.push(ch);
}

#[cfg(test)]
mod tests {
    use super::translate;

    #[test]
    fn operators_and_literals_swap() {
        assert_eq!(translate(r"a\(b\)\{2\}").unwrap(), "a(b){2}");
        assert_eq!(translate(r"a\|b\+c\?").unwrap(), "a|b+c?");
        assert_eq!(translate("(a)|{1}+?").unwrap(), r"\(a\)\|\{1\}\+\?");
    }

    #[test]
    fn stars_and_anchors_by_position() {
        assert_eq!(translate("*x").unwrap(), r"\*x");
        assert_eq!(translate(r"^*x").unwrap(), r"^\*x");
        assert_eq!(translate(r"\(*x\)").unwrap(), r"(\*x)");
        assert_eq!(translate("a^b$c").unwrap(), r"a\^b\$c");
        assert_eq!(translate(r"^a$\|^b$").unwrap(), r"^a$|^b$");
        assert_eq!(translate("ab*").unwrap(), "ab*");
    }

    #[test]
    fn brackets_are_posix() {
        assert_eq!(translate(r"[\]").unwrap(), r"[\\]");
        assert_eq!(translate("[]a]").unwrap(), r"[\]a]");
        assert_eq!(translate("[^]a]").unwrap(), r"[^\]a]");
        assert_eq!(translate("[[:digit:]x-z]").unwrap(), "[[:digit:]x-z]");
        assert_eq!(translate("[a&&b]").unwrap(), r"[a\&\&b]");
        assert!(translate("[abc").is_err());
    }

    #[test]
    fn back_references_and_trailing_backslash_are_refused() {
        assert!(translate(r"\(a\)\1").is_err());
        assert!(translate("a\\").is_err());
    }
}
