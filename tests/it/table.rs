//! `table`: records as aligned columns, in a pipe (aligned, nothing cut unless `--width`)
//! and on a pseudo-terminal of 80 columns (fitted to it), and while following a file.

use crate::common;

use std::fs::{self, OpenOptions};
use std::io::Write;

use common::*;

fn buses() -> String {
    fixture("buses.xml").display().to_string()
}

#[test]
fn table_aligns_columns_in_a_pipe_and_cuts_nothing_without_a_width() {
    copipe([
        "xml",
        &buses(),
        ":",
        "records",
        "bus",
        ":",
        "table",
        "id",
        "route",
        "direction",
        "finalStop",
    ])
    .env("COLUMNS", "20")
    .run()
    .code(0)
    .out(
        "\
id    route  direction    finalStop
1485  22     North Bound  Howard Terminal
1629  22     South Bound  Harrison & Wabash
6069  147    North Bound  Paulina & Howard Terminal
1891  22     North Bound  Howard Terminal
",
    );
}

#[test]
fn table_fits_lines_to_width_cutting_the_widest_column_with_an_ellipsis() {
    copipe([
        "xml",
        &buses(),
        ":",
        "records",
        "bus",
        ":",
        "table",
        "id",
        "finalStop",
        "route",
        "--width",
        "25",
    ])
    .run()
    .code(0)
    .out(
        "\
id    finalStop     route
1485  Howard Term…  22
1629  Harrison & …  22
6069  Paulina & H…  147
1891  Howard Term…  22
",
    );
}

#[test]
fn table_on_a_terminal_fits_its_width_and_shows_line_breaks_as_spaces() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("in.ndjson");
    let long = "x".repeat(200);
    fs::write(
        &f,
        format!(
            "{{\"level\":\"ERROR\",\"msg\":\"{long}\",\"n\":1}}\n{{\"level\":\"日本\",\"msg\":\"a\\nb\"}}\n"
        ),
    )
    .unwrap();
    let r = copipe(["cat", &f.display().to_string(), ":", "json", ":", "table"]).run_in_pty(Tty {
        stdout: true,
        stderr: false,
    });
    r.code(0);
    let out = r.stdout().replace("\r\n", "\n");
    // 80 columns: level (5) + msg + n (1) and two gaps of 2: msg gets 70.
    let want = format!(
        "level  msg{}  n\nERROR  {}…  1\n日本   a b\n",
        " ".repeat(67),
        "x".repeat(69)
    );
    assert_eq!(out, want);
}

#[test]
fn table_sizes_columns_from_the_sample_and_cuts_later_longer_values() {
    copipe(["json", ":", "table", "--sample", "2"])
        .stdin("{\"a\":\"xy\",\"b\":1}\n{\"a\":\"x\"}\n{\"a\":\"longer\",\"b\":22,\"c\":3}\n")
        .run()
        .code(0)
        // `c` came after the sample: it is not a column; `b` is one column wide.
        .out("a   b\nxy  1\nx\nl…  …\n");
}

#[test]
fn table_shows_the_rows_of_a_quiet_followed_file_without_waiting_for_the_sample() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.ndjson");
    fs::write(&log, "").unwrap();
    let mut cp = copipe(["follow", "-n", "0", "app.ndjson", ":", "json", ":", "table"])
        .dir(dir.path())
        .spawn();
    cp.wait_open(&log);
    let mut f = OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(b"{\"level\":\"INFO\",\"msg\":\"up\"}\n{\"level\":\"ERROR\",\"msg\":\"down\"}\n")
        .unwrap();
    drop(f);
    cp.wait_out_eq("level  msg\nINFO   up\nERROR  down\n");
    cp.signal(libc::SIGTERM);
    assert_eq!(cp.exit_code(), 0, "{}", cp.err());
}

#[test]
fn table_refuses_lines_and_a_zero_width() {
    copipe(["range", "0", "3", ":", "table"]).run().code(2);
    copipe(["json", ":", "table", "--width", "0"])
        .stdin("{}\n")
        .run()
        .code(2)
        .err_has("--width");
}
