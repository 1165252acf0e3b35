//! Well-formedness: every document of `fixtures/xml/not-wf` (one broken rule each, written
//! by `fixtures/xml/make-corpus.py`) is refused with `FILE:LINE:COLUMN: …` at a position
//! inside the document, and every document of `fixtures/xml/wf` is accepted, strict and
//! with `--no-check`.

use crate::common;

use std::path::PathBuf;

use anyhow::Result;
use common::*;
use copipe::item::{Item, Origin};
use copipe::protocol::{Flow, Stage};
use copipe::runtime::meter::Meter;
use copipe::source::xml::{XmlError, parse};

struct Count(usize);

impl Stage for Count {
    fn send(&mut self, _: Item<'_>) -> Result<Flow> {
        self.0 += 1;
        Ok(Flow::Continue)
    }
    fn origin(&mut self, _: Origin<'_>) -> Result<()> {
        Ok(())
    }
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
    fn close(&mut self) -> Result<()> {
        Ok(())
    }
}

fn corpus(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixture(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn run(path: &PathBuf, strict: bool) -> Result<usize> {
    let mut c = Count(0);
    let f = std::fs::File::open(path)?;
    parse("doc", Box::new(f), strict, &Meter::default(), &mut c)?;
    Ok(c.0)
}

#[test]
fn every_not_well_formed_document_is_refused_with_a_position_inside_it() {
    let docs = corpus("xml/not-wf");
    assert!(docs.len() >= 150, "{} documents", docs.len());
    let mut accepted = Vec::new();
    for p in &docs {
        let bytes = std::fs::read(p).unwrap();
        match run(p, true) {
            Ok(_) => accepted.push(p.file_name().unwrap().to_string_lossy().into_owned()),
            Err(e) => {
                let x = e
                    .downcast_ref::<XmlError>()
                    .unwrap_or_else(|| panic!("{}: not an XmlError: {e:#}", p.display()));
                let text = String::from_utf8_lossy(&bytes);
                let lines = text.split('\n').count() as u64;
                assert!(
                    x.line >= 1 && x.line <= lines,
                    "{}: line {} of {lines}",
                    p.display(),
                    x.line
                );
                let line_len = text
                    .split('\n')
                    .nth(x.line as usize - 1)
                    .unwrap_or("")
                    .chars()
                    .count() as u64;
                assert!(
                    x.column >= 1 && x.column <= line_len + 1,
                    "{}: column {} of {line_len}",
                    p.display(),
                    x.column
                );
                assert!(!x.message.is_empty());
            }
        }
    }
    assert!(accepted.is_empty(), "accepted: {accepted:?}");
}

#[test]
fn every_well_formed_document_is_accepted_strict_or_not() {
    let docs = corpus("xml/wf");
    assert!(docs.len() >= 40);
    for p in &docs {
        let strict = run(p, true).unwrap_or_else(|e| panic!("{}: {e:#}", p.display()));
        let loose = run(p, false).unwrap_or_else(|e| panic!("{} (--no-check): {e:#}", p.display()));
        assert_eq!(strict, loose, "{}", p.display());
        assert!(strict > 0, "{}", p.display());
    }
}

#[test]
fn declared_entities_are_expanded_in_text_and_attributes() {
    let r = copipe([
        "xml",
        &fixture("xml/wf/entity-nested.xml").display().to_string(),
        ":",
        "records",
        "r",
    ])
    .run();
    r.code(0)
        .out("{\"@t\":\"[AA][AA]\",\"#text\":\"[AA][AA]\"}\n");
    let r = copipe([
        "xml",
        &fixture("xml/wf/entity-with-markup.xml")
            .display()
            .to_string(),
        ":",
        "records",
        "r",
    ])
    .run();
    r.code(0)
        .out("{\"b\":{\"@x\":\"1\",\"#text\":\"bold\"},\"#text\":\"a  & more c\"}\n");
    let r = copipe([
        "xml",
        &fixture("xml/wf/entity-charref-expanded-at-declaration.xml")
            .display()
            .to_string(),
        ":",
        "records",
        "r",
    ])
    .run();
    r.code(0).out("{\"@a\":\"<\",\"#text\":\"<é\"}\n");
    let r = copipe([
        "xml",
        &fixture("xml/wf/entity-whitespace-in-attribute.xml")
            .display()
            .to_string(),
        ":",
        "records",
        "r",
    ])
    .run();
    r.code(0).out("{\"@a\":\"a b\"}\n");
}

#[test]
fn rule_messages_name_the_rule() {
    let cases = [
        (
            "char-control-01-in-text",
            "doc:1:5: character U+0001 is not allowed",
        ),
        ("attr-duplicate", "doc:1:10: attribute `a` appears twice"),
        (
            "comment-double-hyphen",
            "doc:1:11: `--` is not allowed inside a comment",
        ),
        ("cdata-end-in-text", "doc:1:6: `]]>` is not allowed in text"),
        (
            "decl-not-at-start-space",
            "doc:1:2: the XML declaration is only allowed at the very start",
        ),
        ("entity-recursive-pair", "refers to itself"),
        ("entity-unbalanced-open", "leaves <a> open"),
        ("entity-billion-laughs", "entity expansion exceeds 16 MiB"),
        (
            "name-digit-start",
            "doc:1:2: `1` cannot start an element name",
        ),
        (
            "attr-no-space-between",
            "doc:1:9: whitespace is required between attributes",
        ),
        ("utf8-invalid-byte-ff", "doc:1:4: invalid UTF-8"),
    ];
    for (name, want) in cases {
        let err = run(&fixture(&format!("xml/not-wf/{name}.xml")), true).unwrap_err();
        let got = format!("{err:#}");
        assert!(got.contains(want), "{name}: {got}");
    }
}

#[test]
fn no_check_skips_the_character_checks_but_not_the_structure() {
    assert!(run(&fixture("xml/not-wf/attr-duplicate.xml"), false).is_ok());
    assert!(run(&fixture("xml/not-wf/char-control-01-in-text.xml"), false).is_ok());
    assert!(run(&fixture("xml/not-wf/element-mismatched-end.xml"), false).is_err());
    assert!(run(&fixture("xml/not-wf/ref-undefined.xml"), false).is_err());
    copipe(["xml", "--no-check", "-"])
        .stdin("<r a='1' a='2'/>")
        .run()
        .code(0);
    copipe(["xml", "-"])
        .stdin("<r a='1' a='2'/>")
        .run()
        .code(2)
        .err_has("standard input:1:10: attribute `a` appears twice");
}

/// A reader that hands out 1 to 7 bytes per read.
struct Trickle(Vec<u8>, usize);

impl std::io::Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (1 + self.1 % 7).min(buf.len()).min(self.0.len() - self.1);
        buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
        self.1 += n;
        Ok(n)
    }
}

#[test]
fn errors_are_the_same_whatever_the_reads_and_the_window() {
    // Every not-wf document (and every wf one) gives the same error, at the same line and
    // column, and the same number of events, when read a few bytes at a time into a
    // 16-byte window: each token is cut by the end of the data at every offset, and tried
    // again from where the last try stopped.
    let mut docs = corpus("xml/not-wf");
    docs.extend(corpus("xml/wf"));
    for p in &docs {
        let bytes = std::fs::read(p).unwrap();
        for strict in [true, false] {
            let mut whole = Count(0);
            let a = parse(
                "doc",
                Box::new(std::io::Cursor::new(bytes.clone())),
                strict,
                &Meter::default(),
                &mut whole,
            );
            let mut bits = Count(0);
            let b = copipe::source::xml::parse_with_capacity(
                "doc",
                Box::new(Trickle(bytes.clone(), 0)),
                strict,
                16,
                &Meter::default(),
                &mut bits,
            );
            let err = |r: Result<()>| r.err().map(|e| format!("{e:#}"));
            assert_eq!(err(a), err(b), "{} (strict {strict})", p.display());
            assert_eq!(whole.0, bits.0, "{} (strict {strict})", p.display());
        }
    }
}
