//! The integration tests: one binary (one link of the library and its dependencies), a module
//! per area. `cargo test --test it AREA::` runs one area, `cargo test --test it NAME` one test.
//! `common` holds the helpers every area uses.

mod common;

mod bench;
mod compressed;
mod delivery;
mod docs;
mod engine;
mod examples;
mod faults;
mod filters;
mod follow;
mod follow_dir;
mod follow_state;
mod grammar;
mod grammar_fuzz;
mod grep_diff;
mod grep_options;
mod jq;
mod json;
mod kv_miller;
mod layers;
mod listen;
mod max_line;
mod merge;
mod multiline;
mod native;
mod nats;
mod ndjson_fuzz;
mod parallel;
mod parsers;
mod per_file;
mod pipeline;
mod send;
mod signals;
mod table;
mod tocsv;
mod tooling;
mod toxml;
mod truncation;
mod trust;
mod types;
mod wide;
mod write;
mod xml;
mod xml_fuzz;
mod xml_lenient;
mod xml_parallel;
mod xml_wf;

/// Issue 25 item 7: one integration-test binary. A `tests/NAME.rs` would be a binary of its
/// own (another link of the library and its dependencies), and a `tests/it/NAME.rs` without
/// its `mod NAME;` here would never run.
#[test]
fn the_integration_tests_are_one_binary_and_every_module_is_declared() {
    let tests = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let main = std::fs::read_to_string(tests.join("it/main.rs")).unwrap();
    let mut wrong = Vec::new();
    for e in std::fs::read_dir(&tests).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if name != "it" {
            wrong.push(format!("tests/{name}: move it into tests/it/ as a module"));
        }
    }
    for e in std::fs::read_dir(tests.join("it")).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        let module = match name.strip_suffix(".rs") {
            Some("main") => continue,
            Some(m) => m.to_string(),
            None if e.path().is_dir() => name.clone(),
            None => continue,
        };
        if !main.lines().any(|l| l == format!("mod {module};")) {
            wrong.push(format!(
                "tests/it/{name}: not declared (`mod {module};` in main.rs)"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
