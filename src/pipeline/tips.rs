//! What to write instead of another tool's option: the tip of an unknown option.
//!
//! Users bring the options of the tools copipe replaces (`head -n 5`, `wc -l`, `tail -F`,
//! `cut -f`, `sed -e`, `jq -c`, `uniq -c`, `mlr --ifs`). clap's own tip for an unknown
//! option is "to pass '-n' as a value, use '-- -n'", which sends them the wrong way. For
//! each such option [`tip`] says what works in copipe, with the words rewritten where it
//! can (`head -n 5` → `head 5`); [`keeps_dash_tip`] says where clap's tip is right (a stage
//! whose first argument is a pattern or text, which may start with `-`).

/// The tip for `flag` (as written, `-n5` and `--lines=5` included) given to stage `stage`,
/// whose words after the stage name are `words` (the flag among them).
pub fn tip(stage: &str, flag: &str, words: &[String]) -> Option<String> {
    // clap names `--lines` for `--lines=5`, `-n` for `-n5`: the word as written.
    let pos = words.iter().position(|w| w == flag).or_else(|| {
        words.iter().position(|w| {
            w.starts_with(flag)
                && (w[flag.len()..].starts_with('=')
                    || (!flag.starts_with("--") && flag.len() == 2))
        })
    });
    let written = pos.map_or(flag, |i| words[i].as_str());
    let (name, inline) = split_flag(written);
    // The value after the flag: `-n5`, `--lines=5`, or the next word.
    let value = inline.or_else(|| pos.and_then(|i| words.get(i + 1)).map(|s| s.as_str()));
    // The words without the flag and the value it took (if it took the next word).
    let rest = |takes_next: bool| -> Vec<&str> {
        let mut out = Vec::new();
        let mut skip_next = false;
        for (i, w) in words.iter().enumerate() {
            if skip_next {
                skip_next = false;
                continue;
            }
            if Some(i) == pos {
                skip_next = takes_next && inline.is_none();
                continue;
            }
            out.push(w.as_str());
        }
        out
    };
    fn count(v: Option<&str>) -> Option<&str> {
        v.filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
    }
    let t = match (stage, name) {
        ("head", "-n" | "--lines") => match count(value) {
            Some(n) => format!("write `head {n}`: copipe's head takes the count itself"),
            None => "write `head N`: copipe's head takes the count itself".into(),
        },
        ("head", "-c" | "--bytes") => {
            "copipe's head counts items (lines), not bytes: `head N`".into()
        }
        ("skip", "-n" | "--lines") => match count(value) {
            Some(n) => format!("write `skip {n}`: skip takes the count itself"),
            None => "write `skip N`: skip takes the count itself".into(),
        },
        ("count", "-l" | "--lines") => {
            "`count` (or `wc`) counts lines, and any items, without an option: `count`".into()
        }
        ("count", "-c" | "-w" | "-m" | "--bytes" | "--words" | "--chars") => {
            "`count` counts items (lines, records), not bytes or words".into()
        }
        ("count", "-s" | "--summarize") => {
            "`count --by FIELD` counts per value (after a parser: json, csv, parse …)".into()
        }
        ("uniq", "-c" | "--count") => {
            "to count each distinct value, parse the lines into records and use `count --by FIELD` \
             (`uniq` drops consecutive duplicates)"
                .into()
        }
        ("cat", "-n" | "--number") => "to number the lines: `cat FILE : number`".into(),
        ("cat" | "follow", "-f" | "-F" | "--follow" | "--retry") => {
            "`follow FILE` follows by name, across rotations (tail -F); `cat` reads to the end".into()
        }
        ("follow", "-c" | "--bytes") => "`follow -n N` starts N lines from the end".into(),
        ("select", "-f" | "--fields" | "-d" | "--delimiter") => {
            "`select` takes field names of records: `select a b` (parse lines first: csv, json, parse …)"
                .into()
        }
        ("replace", "-e" | "--expression" | "-E" | "-r" | "--regexp-extended") => {
            // sed's `-e SCRIPT`: the script stays, as the regex.
            let words = rest(false);
            format!(
                "write `replace REGEX REPLACEMENT` (sed's s/a/b/g is `replace a b`; the regex is \
                 extended already){}",
                suggestion("replace", &words)
            )
        }
        ("replace", "--in-place") => {
            "`replace` works on a stream: `cat f : replace a b : write g`".into()
        }
        ("json", "-c" | "--compact-output" | "-r" | "--raw-output" | "-s" | "--slurp") => {
            "`json` reads NDJSON (and pretty JSON) with no option, and records print as compact \
             JSON: `json`"
                .into()
        }
        ("csv" | "tsv" | "tocsv", "-d" | "--delimiter" | "--ifs" | "--ofs" | "--fs") => {
            match value.filter(|v| !v.is_empty()) {
                Some(v) => format!(
                    "write `{stage} --sep '{v}'`{}",
                    suggestion_after(stage, &rest(inline.is_none()), &format!("--sep '{v}'"))
                ),
                None => format!("write `{stage} --sep C`"),
            }
        }
        ("csv" | "tsv", "--implicit-csv-header" | "--hi" | "-N" | "--no-header-row") => {
            format!("write `{stage} --no-header`")
        }
        ("number", "-v" | "--starting-line-number") => match count(value) {
            Some(n) => format!("write `number --start {n}`"),
            None => "write `number --start N`".into(),
        },
        ("number", "-b" | "-w" | "-s" | "-n" | "--body-numbering" | "--number-width") => {
            "`number` numbers every line, `N<tab>line` (`--start N` to begin elsewhere)".into()
        }
        ("table", "-t" | "--table" | "-s" | "--separator" | "-o") => {
            "`table` aligns the fields of records without an option (parse lines first: csv, \
             json, parse …)"
                .into()
        }
        ("kv", "--ifs" | "--fs") => match value.filter(|v| !v.is_empty()) {
            Some(v) => format!("write `kv --sep '{v}'` (Miller's --ifs is kv's --sep)"),
            None => "write `kv --sep STR` (Miller's --ifs is kv's --sep)".into(),
        },
        ("kv", "--ips" | "--ps") => match value.filter(|v| !v.is_empty()) {
            Some(v) => format!("write `kv --pair '{v}'` (Miller's --ips is kv's --pair)"),
            None => "write `kv --pair STR` (Miller's --ips is kv's --pair)".into(),
        },
        ("logfmt", "--ifs" | "--ips" | "--idkvp") => {
            "`logfmt` reads key=value pairs between spaces without an option; other \
             separators: `kv --sep S --pair P`"
                .into()
        }
        ("grep", "-r" | "-R" | "--recursive") => {
            "to search files: `cat FILES… : grep PATTERN` (or `follow 'dir/*.log'`)".into()
        }
        ("where" | "select", "-e" | "-c" | "-r") => {
            "`where FIELD=VALUE` keeps records (jq's select(.a == 1) is `where a=1`)".into()
        }
        _ => return None,
    };
    Some(t)
}

/// Whether clap's "use '-- -x'" is right for `stage`: its first argument is a pattern or a
/// text, which may start with `-`.
pub fn keeps_dash_tip(stage: &str) -> bool {
    matches!(stage, "grep" | "replace" | "parse" | "fmt" | "multiline")
}

/// `-n5` → (`-n`, `5`); `--lines=5` → (`--lines`, `5`); `-n` → (`-n`, none).
fn split_flag(flag: &str) -> (&str, Option<&str>) {
    if let Some(long) = flag.strip_prefix("--") {
        return match long.split_once('=') {
            Some((n, v)) => (&flag[..2 + n.len()], Some(v)),
            None => (flag, None),
        };
    }
    if flag.len() > 2 && flag.starts_with('-') && flag.is_char_boundary(2) {
        return (&flag[..2], Some(&flag[2..]));
    }
    (flag, None)
}

/// `: write `STAGE WORDS`` when there are words left.
fn suggestion(stage: &str, words: &[&str]) -> String {
    if words.is_empty() {
        return String::new();
    }
    format!(": `{stage} {}`", shown(words))
}

fn suggestion_after(stage: &str, words: &[&str], first: &str) -> String {
    if words.is_empty() {
        return String::new();
    }
    format!(": `{stage} {first} {}`", shown(words))
}

/// Words as a shell user would type them again (quoted where they need it).
fn shown(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| shlex::try_quote(w).map_or_else(|_| w.to_string(), |q| q.into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(stage: &str, words: &[&str]) -> Option<String> {
        let words: Vec<String> = words.iter().map(|s| s.to_string()).collect();
        let flag = words.iter().find(|w| w.starts_with('-')).unwrap().clone();
        tip(stage, &flag, &words)
    }

    #[test]
    fn another_tools_options_get_what_works() {
        assert_eq!(
            t("head", &["-n", "5"]).unwrap(),
            "write `head 5`: copipe's head takes the count itself"
        );
        assert!(t("head", &["-n5"]).unwrap().contains("`head 5`"));
        assert!(t("head", &["--lines=5"]).unwrap().contains("`head 5`"));
        assert!(t("skip", &["-n", "3"]).unwrap().contains("`skip 3`"));
        assert!(t("count", &["-l"]).unwrap().contains("`count`"));
        assert!(t("uniq", &["-c"]).unwrap().contains("count --by"));
        assert!(t("cat", &["-n", "f"]).unwrap().contains("number"));
        assert!(
            t("follow", &["-F", "a.log"])
                .unwrap()
                .contains("follow FILE")
        );
        assert!(t("select", &["-f", "1,2"]).unwrap().contains("select a b"));
        assert_eq!(
            t("replace", &["-e", "a", "b"]).unwrap(),
            "write `replace REGEX REPLACEMENT` (sed's s/a/b/g is `replace a b`; the regex is \
             extended already): `replace a b`"
        );
        assert!(
            t("replace", &["-E", "a+", "b"])
                .unwrap()
                .ends_with(": `replace a+ b`")
        );
        assert!(t("json", &["-c"]).unwrap().contains("`json`"));
        assert_eq!(
            t("csv", &["-d", ";", "--strict"]).unwrap(),
            "write `csv --sep ';'`: `csv --sep ';' --strict`"
        );
        assert_eq!(
            t("number", &["-v", "10"]).unwrap(),
            "write `number --start 10`"
        );
        assert!(t("table", &["-t"]).unwrap().contains("without an option"));
        assert!(t("kv", &["--ifs", ";"]).unwrap().contains("`kv --sep ';'`"));
        assert!(t("kv", &["--ips=:"]).unwrap().contains("`kv --pair ':'`"));
        assert_eq!(t("head", &["--frobnicate"]), None);
    }
}
