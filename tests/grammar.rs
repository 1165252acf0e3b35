//! Hardening of the command line and the pipeline grammar (issue #12): bounded option values,
//! nesting that cannot overflow the stack, names and patterns that are not UTF-8.

mod common;

use common::*;

#[test]
fn xml_threads_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("d.xml");
    std::fs::write(&doc, "<a><b>1</b></a>").unwrap();
    for n in ["4294967295", "257", "0"] {
        copipe(["xml", "--threads", n, doc.to_str().unwrap(), ":", "count"])
            .run()
            .code(2)
            .err_has("copipe: xml: invalid value")
            .err_has("1..=256");
    }
    copipe([
        "xml",
        "--threads",
        "256",
        doc.to_str().unwrap(),
        ":",
        "count",
    ])
    .run()
    .code(0)
    .out("5\n");
}
