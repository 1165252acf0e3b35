//! The stage catalogue: it collects the [`StageDef`] of every stage, in one list that the
//! parser, the type check, the builder, `copipe help`, the man page and the completions all
//! read, so that help and behaviour cannot drift apart. The types of a definition live
//! below, in [`crate::protocol::def`]; this module only gathers the definitions.

use crate::protocol::def::{Role, StageDef};

/// Every stage, in the order `copipe help stages` lists them.
pub fn all() -> &'static [StageDef] {
    use crate::{fanout, sink, source, stage};
    static ALL: &[StageDef] = &[
        source::cat::DEF,
        source::follow::DEF,
        source::range::RANGE,
        source::range::NATURALS,
        source::xml::DEF,
        source::listen::DEF,
        source::subscribe::DEF,
        source::merge::DEF,
        stage::records::DEF,
        stage::json::DEF,
        stage::parse::DEF,
        stage::kv::LOGFMT,
        stage::kv::KV,
        stage::csv::CSV,
        stage::csv::TSV,
        stage::syslog::DEF,
        stage::combined::DEF,
        stage::multiline::DEF,
        stage::where_::DEF,
        stage::select::DEF,
        stage::jq::DEF,
        stage::fmt::DEF,
        stage::toxml::DEF,
        stage::tocsv::DEF,
        stage::table::DEF,
        stage::grep::DEF,
        stage::head::DEF,
        stage::skip::DEF,
        stage::uniq::DEF,
        stage::number::DEF,
        stage::replace::DEF,
        fanout::TEE,
        fanout::BROADCAST,
        sink::print::DEF,
        sink::write::DEF,
        sink::count::DEF,
        sink::exec::DEF,
        sink::send::DEF,
        sink::publish::DEF,
        sink::discard::DEF,
    ];
    ALL
}

/// Whether a stage takes `{ branches }`: the fan-outs, and `merge` (a source whose
/// branches are sources).
pub fn takes_branches(def: &StageDef) -> bool {
    def.role == Role::FanOut || def.fans_in()
}

/// The stage called `name` (or one of its aliases).
pub fn find(name: &str) -> Option<&'static StageDef> {
    all()
        .iter()
        .find(|d| d.name == name || d.aliases.contains(&name))
}

/// The stage name closest to a misspelt one, if any is close enough to suggest.
pub fn suggest(name: &str) -> Option<&'static str> {
    all()
        .iter()
        .flat_map(|d| std::iter::once(d.name).chain(d.aliases.iter().copied()))
        .map(|n| (strsim::jaro_winkler(name, n), n))
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_commands_match() {
        let mut seen = std::collections::HashSet::new();
        for d in all() {
            assert!(seen.insert(d.name), "duplicate stage {}", d.name);
            for a in d.aliases {
                assert!(seen.insert(a), "duplicate alias {a}");
            }
            assert_eq!((d.command)().get_name(), d.name);
            (d.command)().debug_assert();
            assert!(!d.examples.is_empty(), "{} has no example", d.name);
            assert_eq!(d.role == Role::Source, d.accepts.is_empty(), "{}", d.name);
        }
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("gerp"), Some("grep"));
        assert_eq!(suggest("cout"), Some("count"));
        assert_eq!(suggest("zzzzzzzz"), None);
    }

    #[test]
    fn how_a_source_runs_is_declared_on_its_definition() {
        use crate::protocol::def::Build;
        let tasks: Vec<&str> = all()
            .iter()
            .filter(|d| d.scheduler_task())
            .map(|d| d.name)
            .collect();
        assert_eq!(tasks, ["listen", "merge"]);
        let fan_in: Vec<&str> = all()
            .iter()
            .filter(|d| d.fans_in())
            .map(|d| d.name)
            .collect();
        assert_eq!(fan_in, ["merge"]);
        for d in all() {
            let is_source = matches!(d.build, Build::Source(_) | Build::Task(_) | Build::Merge(_));
            assert_eq!(is_source, d.role == Role::Source, "{}", d.name);
            // Every source but the fan-in is built from its arguments alone.
            assert_eq!(
                d.build.source_fn().is_some(),
                is_source && !d.fans_in(),
                "{}",
                d.name
            );
        }
    }
}
