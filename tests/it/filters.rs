//! The small filters, a module each, so that a filter's tests are found by its name:
//! `cargo test --test it filters::head::` (or `filters::` for all of them). Each module holds
//! what the filter promises in its `copipe help` text, its edges, and its errors.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;

mod head {
    use super::*;

    #[test]
    fn head_stops_the_source_at_once() {
        let t = Instant::now();
        copipe(["range", "1", "1000000000000", ":", "head", "3"])
            .run()
            .code(0)
            .out("1\n2\n3\n");
        // `yes | copipe grep y : head 1`: an endless writer on stdin.
        let mut yes = std::process::Command::new("sh")
            .args(["-c", "yes"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut cmd = copipe(["grep", "y", ":", "head", "1"]).command();
        cmd.stdin(yes.stdout.take().unwrap()).stdout(Stdio::piped());
        let out = cmd.output().unwrap();
        let _ = yes.kill();
        let _ = yes.wait();
        assert_eq!(out.stdout, b"y\n");
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "took {:?}",
            t.elapsed()
        );
    }

    #[test]
    fn passes_the_first_n_items_and_ends_with_status_0() {
        copipe(["range", "1", "10", ":", "head", "3"])
            .run()
            .code(0)
            .out("1\n2\n3\n");
        // The alias.
        copipe(["range", "1", "10", ":", "take", "2"])
            .run()
            .code(0)
            .out("1\n2\n");
    }

    #[test]
    fn fewer_items_than_n_all_pass() {
        copipe(["head", "5"])
            .stdin("a\nb")
            .run()
            .code(0)
            .out("a\nb\n");
    }

    #[test]
    fn head_0_passes_nothing_and_stops_an_endless_source() {
        // Nothing passed: status 1, as grep without a match.
        copipe(["naturals", ":", "head", "0"]).run().code(1).out("");
    }

    #[test]
    fn a_count_that_is_not_a_number_is_refused_before_reading() {
        copipe(["naturals", ":", "head", "x"])
            .run()
            .code(2)
            .out("")
            .err_has("head: invalid value 'x'");
        copipe(["naturals", ":", "head", "-1"])
            .run()
            .code(2)
            .out("");
    }

    #[test]
    fn records_are_counted_as_items() {
        copipe(["json", ":", "head", "2"])
            .stdin("{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n")
            .run()
            .code(0)
            .out("{\"a\":1}\n{\"a\":2}\n");
    }
}

mod skip {
    use super::*;

    #[test]
    fn skips_the_first_n_items() {
        let input = "b\nb\na\na\na\nb\n";
        copipe(["skip", "4"])
            .stdin(input)
            .run()
            .code(0)
            .out("a\nb\n");
    }

    #[test]
    fn skipping_more_than_there_are_passes_nothing_with_status_1() {
        let input = "b\nb\na\na\na\nb\n";
        copipe(["skip", "40"]).stdin(input).run().code(1).out("");
    }

    #[test]
    fn skip_0_passes_everything() {
        copipe(["skip", "0"])
            .stdin("a\nb\n")
            .run()
            .code(0)
            .out("a\nb\n");
    }

    #[test]
    fn skip_then_head_takes_a_window_of_an_endless_source() {
        copipe(["naturals", ":", "skip", "5", ":", "head", "2"])
            .run()
            .code(0)
            .out("5\n6\n");
    }

    #[test]
    fn a_count_that_is_not_a_number_is_refused() {
        copipe(["skip", "many"])
            .stdin("a\n")
            .run()
            .code(2)
            .out("")
            .err_has("skip: invalid value 'many'");
    }
}

mod uniq {
    use super::*;

    #[test]
    fn drops_adjacent_repeats() {
        let input = "b\nb\na\na\na\nb\n";
        copipe(["uniq"]).stdin(input).run().code(0).out("b\na\nb\n");
    }

    #[test]
    fn uniq_across_batch_boundaries() {
        // Many repeats spanning several read buffers of the reader.
        let mut input = String::new();
        for i in 0..200_000 {
            input.push_str(if (i / 1000) % 2 == 0 {
                "same line\n"
            } else {
                "other line\n"
            });
        }
        copipe(["uniq", ":", "count"])
            .stdin(input)
            .run()
            .code(0)
            .out("200\n");
    }

    #[test]
    fn only_adjacent_repeats_go_and_empty_lines_count_as_lines() {
        copipe(["uniq"])
            .stdin("a\na\n\n\nb\na")
            .run()
            .code(0)
            .out("a\n\nb\na\n");
    }

    #[test]
    fn a_last_line_without_newline_equals_the_same_line_with_one() {
        copipe(["uniq"]).stdin("x\nx").run().code(0).out("x\n");
    }
}

mod number {
    use super::*;

    #[test]
    fn numbers_each_line_right_aligned_with_a_tab() {
        copipe(["number"])
            .stdin("x\ny")
            .run()
            .code(0)
            .out("     1\tx\n     2\ty\n");
    }

    #[test]
    fn nothing_in_nothing_out_with_status_1() {
        copipe(["number"]).stdin("").run().code(1).out("");
    }

    #[test]
    fn counts_the_lines_it_sees_not_their_place_in_the_source() {
        let r = copipe([
            "naturals", ":", "skip", "1000000", ":", "head", "1", ":", "number",
        ])
        .run();
        r.code(0).out("     1\t1000000\n");
    }
}

mod replace {
    use super::*;

    #[test]
    fn replaces_with_the_groups_of_the_match() {
        copipe(["replace", r"(\w+)@(\w+)", "$2 at $1"])
            .stdin("mail bob@example now\nnothing\n")
            .run()
            .code(0)
            .out("mail example at bob now\nnothing\n");
    }

    #[test]
    fn anchors_match_at_the_line_ends() {
        copipe(["replace", r"^(\d+)$", "n=$1"])
            .stdin("1\n22\nx3\n")
            .run()
            .code(0)
            .out("n=1\nn=22\nx3\n");
    }

    #[test]
    fn the_line_end_of_crlf_input_is_not_part_of_the_line() {
        copipe(["--crlf", "replace", "b$", "B"])
            .stdin("ab\r\nb\n")
            .run()
            .code(0)
            .out("aB\r\nB\n");
    }

    #[test]
    fn first_replaces_only_the_first_match() {
        copipe(["replace", "--first", "a", "A"])
            .stdin("aaa\n")
            .run()
            .code(0)
            .out("Aaa\n");
    }

    #[test]
    fn fixed_strings_are_not_patterns() {
        copipe(["replace", "-F", ".", "$"])
            .stdin("a.b\n")
            .run()
            .code(0)
            .out("a$b\n");
    }

    #[test]
    fn a_bad_pattern_is_refused_with_its_position() {
        copipe(["replace", "(", "y"])
            .stdin("x\n")
            .run()
            .code(2)
            .out("")
            .err_has("bad pattern");
    }
}

mod broadcast {
    use super::*;

    #[test]
    fn a_stopped_branch_does_not_stop_the_others() {
        let r = copipe([
            "range",
            "0",
            "1000",
            ":",
            "broadcast",
            "{",
            "head",
            "1",
            "}",
            "{",
            "count",
            "}",
        ])
        .run();
        r.code(0).out("0\n1000\n");
    }

    #[test]
    fn fanout_stops_when_every_consumer_stopped() {
        // naturals never ends: only the stopping of both branches can end this.
        let r = copipe([
            "naturals",
            ":",
            "broadcast",
            "{",
            "head",
            "2",
            "}",
            "{",
            "skip",
            "5",
            ":",
            "head",
            "1",
            "}",
        ])
        .run();
        r.code(0).out("0\n1\n5\n");
    }

    #[test]
    fn every_branch_gets_every_item() {
        let dir = tempfile::tempdir().unwrap();
        copipe([
            "range",
            "1",
            "4",
            ":",
            "broadcast",
            "{",
            "write",
            "a.txt",
            "}",
            "{",
            "count",
            "}",
        ])
        .dir(dir.path())
        .run()
        .code(0)
        .out("3\n");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a.txt")).unwrap(),
            "1\n2\n3\n"
        );
    }

    #[test]
    fn without_a_branch_it_is_refused() {
        copipe(["range", "1", "4", ":", "broadcast"])
            .run()
            .code(2)
            .out("")
            .err_has("needs at least one { branch }");
    }
}

mod exec {
    use super::*;

    #[test]
    fn exec_feeds_a_child_and_reports_its_status() {
        copipe(["range", "1", "4", ":", "exec", "tr 1-3 a-c"])
            .run()
            .code(0)
            .out("a\nb\nc\n");
        copipe(["range", "1", "4", ":", "exec", "cat >/dev/null; exit 3"])
            .run()
            .code(2)
            .err_has("3");
        // A child that stops reading early is not an error, and ends the branch.
        copipe(["naturals", ":", "exec", "head -n 2"])
            .run()
            .code(0)
            .out("0\n1\n");
    }

    #[test]
    fn a_child_that_reads_nothing_and_ends_well_is_status_0() {
        copipe(["exec", "exit 0"])
            .stdin("a\n")
            .run()
            .code(0)
            .out("");
    }

    #[test]
    fn without_a_command_it_is_refused() {
        copipe(["exec"])
            .stdin("a\n")
            .run()
            .code(2)
            .err_has("<COMMAND>");
    }
}
