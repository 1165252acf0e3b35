//! Shell completions: `copipe completions bash|zsh|fish` prints a small script that asks
//! copipe itself what may come next (`copipe __complete WORD... CURRENT`), so completion
//! follows the pipeline grammar and the stage catalogue: stage names at the start, after a
//! separator or a `{`; a stage's own options after the stage; the values of options that
//! have a fixed set; file names otherwise (the scripts fall back to the shell's file
//! completion when copipe offers nothing).
//!
//! clap_complete's static scripts only know clap subcommands, and a copipe pipeline is not
//! one: the candidates come from [`crate::pipeline::registry`] instead.

use std::io::Write;

use anyhow::Result;

use clap::CommandFactory;

use super::Cli;
use super::exit_codes::ExitCode;
use crate::pipeline::grammar::{is_separator, takes_value};
use crate::pipeline::registry;
use crate::protocol::def::{Role, StageDef};

/// The hidden word that asks for candidates.
pub const HIDDEN: &str = "__complete";

/// The shells with a completion script.
pub const SHELLS: [&str; 3] = ["bash", "zsh", "fish"];

const BASH: &str = r#"# bash completion for copipe: source it, or put it in
# ~/.local/share/bash-completion/completions/copipe
_copipe() {
    local cur=${COMP_WORDS[COMP_CWORD]} line IFS=$'\n'
    COMPREPLY=()
    for line in $("${COMP_WORDS[0]}" __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null); do
        COMPREPLY+=("${line%%$'\t'*}")
    done
    if [ ${#COMPREPLY[@]} -eq 0 ]; then
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}
complete -o filenames -o bashdefault -F _copipe copipe
"#;

const ZSH: &str = r#"#compdef copipe
# zsh completion for copipe: put it as _copipe in a directory of $fpath, or source it.
_copipe() {
    local -a cands
    local line
    for line in "${(@f)$("${words[1]}" __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}"; do
        [[ -n $line ]] && cands+=("${${line%%$'\t'*}//:/\\:}:${line#*$'\t'}")
    done
    if (( ${#cands} )); then
        _describe -t copipe 'copipe' cands
    else
        _files
    fi
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    _copipe "$@"
else
    compdef _copipe copipe
fi
"#;

const FISH: &str = r#"# fish completion for copipe: put it in ~/.config/fish/completions/copipe.fish
function __copipe_complete
    set -l words (commandline -opc)
    set -l cur (commandline -ct)
    set -l found ($words[1] __complete $words[2..-1] $cur 2>/dev/null)
    if test (count $found) -gt 0
        printf '%s\n' $found
    else
        __fish_complete_path $cur
    end
end
complete -c copipe -f -a '(__copipe_complete)'
"#;

/// `copipe completions SHELL`.
pub fn completions(args: &[String]) -> Result<ExitCode> {
    let script = match args.first().map(String::as_str) {
        Some("bash") => BASH,
        Some("zsh") => ZSH,
        Some("fish") => FISH,
        other => {
            crate::say!(
                "copipe: completions: {}; give one of {}",
                other.map_or("no shell given".to_string(), |s| format!(
                    "unknown shell `{s}`"
                )),
                SHELLS.join(", ")
            );
            return Ok(ExitCode::Error);
        }
    };
    let mut out = std::io::stdout().lock();
    out.write_all(script.as_bytes())?;
    out.flush()?;
    Ok(ExitCode::Success)
}

/// `copipe __complete WORD... CURRENT`: print one candidate a line, `word\tdescription`.
pub fn candidates(args: &[String]) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    for (word, about) in complete(args) {
        writeln!(out, "{word}\t{}", about.replace(['\t', '\n'], " "))?;
    }
    out.flush()?;
    Ok(ExitCode::Success)
}

type Candidate = (String, String);

/// The candidates for the last word of `words` (the words after `copipe`, the last one being
/// the word under the cursor, possibly empty).
pub fn complete(words: &[String]) -> Vec<Candidate> {
    let (cur, before) = match words.split_last() {
        Some((cur, before)) => (cur.as_str(), before),
        None => ("", &[][..]),
    };
    let top = Cli::command();
    // The global options come first; the pipeline starts at the first other word.
    let mut i = 0;
    while i < before.len() && before[i].starts_with('-') {
        i += 1 + usize::from(takes_value(&top, before[i].as_ref()) && !before[i].contains('='));
    }
    let cands = if i > before.len() {
        // The word under the cursor is the value of a global option.
        values(&top, &before[before.len() - 1])
    } else if i == before.len() {
        if cur.starts_with('-') {
            options(&top)
        } else {
            let mut c = stages(|_| true);
            if i == 0 {
                c.push(("help".into(), "explain copipe or one stage".into()));
                c.push((
                    "completions".into(),
                    "print a shell completion script".into(),
                ));
            }
            c
        }
    } else {
        let rest = &before[i..];
        match rest[0].as_str() {
            "help" if i == 0 && rest.len() == 1 => {
                let mut c = stages(|_| true);
                c.push(("stages".into(), "list every stage by role".into()));
                c
            }
            "completions" if i == 0 && rest.len() == 1 => SHELLS
                .iter()
                .map(|s| (s.to_string(), format!("the {s} script")))
                .collect(),
            "help" | "completions" if i == 0 => Vec::new(),
            _ => in_pipeline(rest, cur),
        }
    };
    cands
        .into_iter()
        .filter(|(w, _)| w.starts_with(cur))
        .collect()
}

/// The candidates inside a pipeline, after the words `rest`.
fn in_pipeline(rest: &[String], cur: &str) -> Vec<Candidate> {
    // Walk the words as the grammar does: what is expected next, and whose arguments these are.
    let mut want_stage = true;
    let mut at_start = true;
    let mut stage: Option<&'static StageDef> = None;
    let mut fanouts: Vec<Option<&'static StageDef>> = Vec::new();
    let mut value_next = false;
    for w in rest {
        if want_stage {
            stage = registry::find(w);
            want_stage = false;
            at_start = false;
            value_next = false;
            continue;
        }
        if value_next {
            value_next = false;
            continue;
        }
        if is_separator(w.as_ref()) {
            want_stage = true;
        } else if w == "{" {
            fanouts.push(stage);
            want_stage = true;
        } else if w == "}" {
            stage = fanouts.pop().flatten();
        } else if let Some(def) = stage {
            value_next = takes_value(&(def.command)(), w.as_ref());
        }
    }
    if want_stage {
        return stages(|d| at_start || d.role != Role::Source);
    }
    let Some(def) = stage else {
        return Vec::new();
    };
    let cmd = (def.command)();
    if value_next {
        return values(&cmd, &rest[rest.len() - 1]);
    }
    if cur.starts_with('-') {
        return options(&cmd);
    }
    if def.role == Role::FanOut {
        return vec![("{".into(), "open a branch".into())];
    }
    Vec::new()
}

fn stages(keep: impl Fn(&StageDef) -> bool) -> Vec<Candidate> {
    registry::all()
        .iter()
        .filter(|d| keep(d))
        .map(|d| (d.name.to_string(), d.summary.to_string()))
        .collect()
}

/// The options of a command (copipe's own, or a stage's), long and short.
fn options(cmd: &clap::Command) -> Vec<Candidate> {
    let mut c = Vec::new();
    for a in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        let about = a
            .get_help()
            .map(|h| h.to_string())
            .unwrap_or_default()
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        if let Some(l) = a.get_long() {
            c.push((format!("--{l}"), about.clone()));
        }
        if let Some(s) = a.get_short() {
            c.push((format!("-{s}"), about));
        }
    }
    c
}

/// The fixed values of the option `flag` of `cmd` (none when it takes a free value).
fn values(cmd: &clap::Command, flag: &str) -> Vec<Candidate> {
    let long = flag.strip_prefix("--");
    let short = flag.strip_prefix('-').and_then(|s| s.chars().last());
    let Some(arg) = cmd.get_arguments().find(|a| {
        (long.is_some() && a.get_long() == long) || (long.is_none() && a.get_short() == short)
    }) else {
        return Vec::new();
    };
    arg.get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| {
            (
                v.get_name().to_string(),
                v.get_help().map(|h| h.to_string()).unwrap_or_default(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(line: &str) -> Vec<String> {
        let mut words: Vec<String> = line.split(' ').map(str::to_string).collect();
        if line.is_empty() {
            words = vec![String::new()];
        }
        complete(&words).into_iter().map(|(w, _)| w).collect()
    }

    #[test]
    fn stage_names_where_a_stage_goes() {
        let first = names("");
        assert!(first.contains(&"cat".to_string()) && first.contains(&"grep".to_string()));
        assert!(first.contains(&"help".to_string()));
        assert_eq!(names("cat f : gr"), ["grep"]);
        assert_eq!(names("cat f | he"), ["head"]);
        let after = names("cat f : ");
        assert!(
            !after.contains(&"cat".to_string()),
            "no source after a separator"
        );
        assert!(after.contains(&"count".to_string()));
        let branch = names("cat f : tee { ");
        assert!(branch.contains(&"grep".to_string()) && !branch.contains(&"range".to_string()));
        assert_eq!(names("--crlf cat f : tee { grep x } : cou"), ["count"]);
    }

    #[test]
    fn options_of_the_current_stage_and_of_copipe() {
        let o = names("cat f : grep -");
        assert!(o.contains(&"--ignore-case".to_string()) && o.contains(&"-i".to_string()));
        assert_eq!(names("cat f : grep -e : --inv"), ["--invert-match"]);
        assert_eq!(names("cat f : tee { grep x } : write --t"), ["--truncate"]);
        assert_eq!(names("--expl"), ["--explain"]);
        assert_eq!(names("--color "), ["auto", "always", "never"]);
        assert_eq!(names("--color a"), ["auto", "always"]);
        assert!(names("-f ").is_empty(), "a file name: left to the shell");
        assert!(names("cat ").is_empty(), "file names: left to the shell");
        assert_eq!(names("cat f : tee "), ["{"]);
    }

    #[test]
    fn help_and_completions_words() {
        assert!(names("help gr").contains(&"grep".to_string()));
        assert_eq!(names("help st"), ["stages"]);
        assert_eq!(names("completions "), ["bash", "zsh", "fish"]);
    }
}
