//! Every pipeline file in `examples/` runs, from a scratch directory where `fixtures/` is the
//! repository's, and prints what `examples/NAME.expected` holds, with status 0.
//! `COPIPE_BLESS=1 cargo test --test it examples::` rewrites the expectations after a change.

use crate::common;

use std::fs;
use std::path::Path;

use common::*;

#[test]
fn every_example_runs_and_prints_what_is_expected() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut examples: Vec<_> = fs::read_dir(root.join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "copipe"))
        .collect();
    examples.sort();
    assert!(
        examples.len() >= 3,
        "examples/ holds the cookbook's pipeline files"
    );
    let bless = std::env::var_os("COPIPE_BLESS").is_some();
    let mut failures = Vec::new();
    for ex in &examples {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(root.join("fixtures"), dir.path().join("fixtures")).unwrap();
        let r = copipe(["-f".as_ref(), ex.as_os_str()])
            .dir(dir.path())
            .run();
        let expected_path = ex.with_extension("expected");
        if bless {
            fs::write(&expected_path, &r.out).unwrap();
        }
        let want = fs::read(&expected_path).unwrap_or_default();
        if r.code != 0 || r.out != want {
            failures.push(format!(
                "{}: status {}\n--- expected\n{}--- got\n{}--- stderr\n{}",
                ex.display(),
                r.code,
                String::from_utf8_lossy(&want),
                r.stdout(),
                r.err
            ));
        }
        // Files the example writes are written, and only inside its directory.
        for entry in fs::read_dir(dir.path()).unwrap() {
            let p = entry.unwrap().path();
            if p.file_name() != Some("fixtures".as_ref()) {
                assert!(
                    fs::metadata(&p).unwrap().len() > 0,
                    "{} wrote an empty {}",
                    ex.display(),
                    p.display()
                );
                // Run from the checkout, as its comment says, it must leave `git status` clean.
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                assert_ne!(
                    ignored_by_git(&name),
                    Some(false),
                    "{} writes {name}, which .gitignore does not ignore",
                    ex.display()
                );
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
