//! Which top-level fields of a record a filter can read, found on its syntax tree, so that
//! only those are converted to jaq values (`.a + 1` reads one field of nine: the others are
//! never built). The analysis is conservative: the answer is "these fields" only when the
//! filter touches its input through nothing but paths that start with a constant field name
//! (`.a`, `.a.b[0]`, `."a b"`, `{a}`), in places where the input is the record; anything
//! else — `.` itself, `..`, `.[]`, `.[expr]`, a call (every call gets the input: `length`,
//! `select(…)`, `map(…)`), `def`, `reduce`/`foreach`, a destructuring pattern with a computed
//! key — means "all fields". After a `|`, the right side's input is the left side's output,
//! so it can read nothing of the record (unless the pipe binds `as $x`).

use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::{BinaryOp, Pattern, Term};
use jaq_core::path::Part;

/// The top-level fields `code` reads, or `None` if it may read the whole input.
pub fn fields(code: &str) -> Option<Vec<String>> {
    let term = jaq_core::load::parse(code, |p| p.term())?;
    let mut out = Vec::new();
    if !reads(&term, &mut out) {
        return None;
    }
    out.sort();
    out.dedup();
    Some(out)
}

/// The text of a constant string (no format, no interpolation).
fn constant(t: &Term<&str>) -> Option<String> {
    let Term::Str(None, parts) = t else {
        return None;
    };
    let mut s = String::new();
    for p in parts {
        match p {
            StrPart::Str(x) => s.push_str(x),
            StrPart::Char(c) => s.push(*c),
            StrPart::Term(_) => return None,
        }
    }
    Some(s)
}

/// Calls that take no arguments and ignore their input.
fn constant_call(name: &str) -> bool {
    matches!(
        name,
        "empty" | "null" | "true" | "false" | "now" | "infinite" | "nan"
    )
}

/// Whether `t`, run with the record as its input, reads it only through fields, which are
/// added to `out`.
fn reads(t: &Term<&str>, out: &mut Vec<String>) -> bool {
    match t {
        Term::Id | Term::Recurse => false,
        Term::Num(_) | Term::Var(_) | Term::Break(_) => true,
        Term::Str(fmt, parts) => {
            fmt.is_none()
                && parts.iter().all(|p| match p {
                    StrPart::Term(x) => reads(x, out),
                    _ => true,
                })
        }
        Term::Arr(x) => x.as_deref().is_none_or(|x| reads(x, out)),
        Term::Obj(entries) => entries.iter().all(|(k, v)| match v {
            // `{a}` is `{a: .a}`, `{$x}` is `{x: $x}`.
            None => match (k, constant(k)) {
                (_, Some(name)) => {
                    out.push(name);
                    true
                }
                (Term::Var(_), None) => true,
                _ => false,
            },
            Some(v) => {
                (constant(k).is_some() || matches!(k, Term::Var(_)) || reads(k, out))
                    && reads(v, out)
            }
        }),
        Term::Neg(x) => reads(x, out),
        Term::BinOp(l, BinaryOp::Pipe(None), _) => reads(l, out),
        Term::BinOp(l, BinaryOp::Pipe(Some(p)), r) => {
            reads(l, out) && pattern_ok(p) && reads(r, out)
        }
        Term::BinOp(l, _, r) => reads(l, out) && reads(r, out),
        Term::Label(_, x) => reads(x, out),
        // The handler's input is the error, not the record.
        Term::TryCatch(x, _) => reads(x, out),
        Term::IfThenElse(branches, otherwise) => {
            branches
                .iter()
                .all(|(c, then)| reads(c, out) && reads(then, out))
                && otherwise.as_deref().is_none_or(|e| reads(e, out))
        }
        Term::Call(name, args) => args.is_empty() && constant_call(name),
        Term::Path(base, path) => {
            let mut parts = path.0.iter();
            if matches!(**base, Term::Id) {
                // The first step names the field; it must be a constant.
                match parts.next() {
                    Some((Part::Index(k), _)) => match constant(k) {
                        Some(name) => out.push(name),
                        None => return false,
                    },
                    _ => return false,
                }
            } else if !reads(base, out) {
                return false;
            }
            // The later steps' indices are run with the record as their input too.
            parts.all(|(part, _)| match part {
                Part::Index(i) => reads(i, out),
                Part::Range(a, b) => {
                    a.as_ref().is_none_or(|a| reads(a, out))
                        && b.as_ref().is_none_or(|b| reads(b, out))
                }
            })
        }
        // Definitions, reduce/foreach, and whatever a later jaq adds: the whole record.
        _ => false,
    }
}

/// A binding pattern whose object keys are constants or variables (a computed key would be
/// run with the bound value, not the record, but keep to what is plain).
fn pattern_ok(p: &Pattern<&str>) -> bool {
    match p {
        Pattern::Var(_) => true,
        Pattern::Arr(ps) => ps.iter().all(pattern_ok),
        Pattern::Obj(entries) => entries
            .iter()
            .all(|(k, p)| (constant(k).is_some() || matches!(k, Term::Var(_))) && pattern_ok(p)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(code: &str) -> Option<Vec<&'static str>> {
        fields(code).map(|v| v.into_iter().map(|s| &*s.leak()).collect())
    }

    #[test]
    fn fields_read_through_constant_paths() {
        assert_eq!(f(".a + 1"), Some(vec!["a"]));
        assert_eq!(
            f("{id, user: .user.name, n: (.tags | length), big: (.size > 50000), path}"),
            Some(vec!["id", "path", "size", "tags", "user"])
        );
        assert_eq!(f(".a[.i]"), Some(vec!["a", "i"]));
        assert_eq!(f(".\"x y\" // .b?"), Some(vec!["b", "x y"]));
        assert_eq!(f(".[\"a\"]"), Some(vec!["a"]));
        assert_eq!(f("\"\\(.a)-\\(.b)\""), Some(vec!["a", "b"]));
        assert_eq!(f("if .a then .b else .c end"), Some(vec!["a", "b", "c"]));
        assert_eq!(f(".a as $x | .b + $x"), Some(vec!["a", "b"]));
        assert_eq!(f(".a | keys"), Some(vec!["a"]));
        assert_eq!(f("1, null, empty"), Some(vec![]));
        assert_eq!(f("try .a catch ."), Some(vec!["a"]));
        assert_eq!(f("[.a, -.b]"), Some(vec!["a", "b"]));
        assert_eq!(f("{(.k): .v}"), Some(vec!["k", "v"]));
    }

    #[test]
    fn anything_else_reads_the_whole_record() {
        for code in [
            ".",
            "..",
            ".[]",
            ".[.k]",
            "keys",
            "length",
            "select(.a > 1)",
            "map(.)",
            ". + {x: 1}",
            "def f: .a; f",
            "reduce .a[] as $x (0; . + $x)",
            "{a: 1} + .",
            "@base64 \"\\(.a)\"",
            ".a as {(.k): $v} | $v",
            "tojson",
            "del(.a)",
            "has(\"a\")",
            "to_entries",
            "not syntax (",
        ] {
            assert_eq!(f(code), None, "{code}");
        }
        // `.a | .` reads only a: the right side's input is a's value.
        assert_eq!(f(".a | ."), Some(vec!["a"]));
        assert_eq!(f("$__loc__"), Some(vec![]));
    }
}
