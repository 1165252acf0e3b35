//! The generated documentation: the man page is in step with the code, and renders cleanly.
//! `COPIPE_BLESS=1 cargo test --test docs` rewrites `man/copipe.1` after a change.

use std::path::Path;
use std::process::Command;

fn man_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("man/copipe.1")
}

#[test]
fn man_page_is_up_to_date() {
    let fresh = copipe::cli::help::man_page();
    let path = man_path();
    if std::env::var_os("COPIPE_BLESS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "man/copipe.1 is stale: run `COPIPE_BLESS=1 cargo test --test docs` and commit it"
    );
}

#[test]
fn man_page_has_every_stage_and_renders_without_warnings() {
    let page = copipe::cli::help::man_page();
    for section in [
        "NAME",
        "SYNOPSIS",
        "OPTIONS",
        "PIPELINES",
        "STAGES",
        "EXAMPLES",
        "EXIT STATUS",
    ] {
        assert!(
            page.contains(&format!(".SH {section}"))
                || page.contains(&format!(".SH \"{section}\"")),
            "no {section} section"
        );
    }
    for def in copipe::pipeline::registry::all() {
        assert!(
            page.contains(&format!("\\fB{}", def.name)),
            "stage {} missing",
            def.name
        );
    }
    // groff is not needed by the build: check the rendering only where it is installed.
    let Ok(out) = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(man_path())
        .output()
    else {
        eprintln!("groff not installed: rendering not checked");
        return;
    };
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && warnings.trim().is_empty(),
        "groff warnings:\n{warnings}"
    );
}
