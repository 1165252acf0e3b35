//! `select FIELD...` — keep some fields of a record, in the order given.
//!
//! Accepts records; emits records. A FIELD may be a dotted path (`stop.name`): the value is
//! kept under that path as its name (`{"stop.name": …}`), which is handy before `fmt` or a
//! CSV export. A field the record lacks is left out. jq's `.a` is the field `a`; a
//! condition (`select 'select(.a == 1)'`, `'.a == 1'`) is refused with a hint to `where`. The output record is rebuilt in one
//! reused buffer, so nothing is allocated per record.

use anyhow::{Result, bail};
use clap::{ArgMatches, FromArgMatches, Parser};

use crate::item::{Item, Kind, Record, split_path};
use crate::protocol::def::{Build, BuildCx, Emits, Role, StageDef};
use crate::protocol::{Flow, Stage};
use crate::record::ROOT;

/// Keep only these fields of each record, in the order given (dotted paths allowed).
///
/// jq's `.a` and `.a.b` are the fields `a` and `a.b`. `select` keeps fields, not records:
/// to keep records that match a condition use `where` (`where a=1`), or `jq` for anything
/// more (`jq '{id, port: (.port | tonumber)}'` also picks and computes fields).
#[derive(Parser)]
#[command(name = "select", disable_version_flag = true)]
pub struct Args {
    /// The fields to keep.
    #[arg(required = true, value_name = "FIELD")]
    pub fields: Vec<String>,
}

pub const DEF: StageDef = StageDef {
    name: "select",
    aliases: &["pick"],
    role: Role::Filter,
    summary: "keep some fields of each record, in the order given",
    accepts: &[Kind::Record],
    emits: Emits::Same,
    examples: &["copipe xml allroutes.xml : records bus : select id route latitude longitude"],
    command: <Args as clap::CommandFactory>::command,
    fusion: None,
    build: Build::Filter(build),
};

fn build(m: &ArgMatches, _cx: &BuildCx<'_>, next: Box<dyn Stage>) -> Result<Box<dyn Stage>> {
    let a = Args::from_arg_matches(m)?;
    Ok(Box::new(Select {
        fields: fields(&a.fields)?,
        out: Record::new(),
        next,
    }))
}

/// The fields to keep, with their paths. jq's `.a.b` is `a.b` (named `a.b`); a condition
/// or a jq filter is refused with a hint, since `select` keeps fields, not records.
fn fields(names: &[String]) -> Result<Vec<(String, Vec<String>)>> {
    let mut out = Vec::with_capacity(names.len());
    for f in names {
        let t = f.trim();
        if t.starts_with("select(") || t.contains(['|', '(']) || t.contains("==") {
            bail!(
                "`{t}` is not a field: `select` keeps fields of each record (`select id route`); \
                 to keep the records that match, use `where` (`where a=1`) or `jq 'select(...)'`"
            );
        }
        let name = match t.strip_prefix('.') {
            Some(rest) if !rest.is_empty() && !rest.starts_with(['.', '[']) => rest,
            _ => f.as_str(),
        };
        out.push((name.to_string(), split_path(name)));
    }
    Ok(out)
}

struct Select {
    fields: Vec<(String, Vec<String>)>,
    out: Record,
    next: Box<dyn Stage>,
}

/// Fill `out` with the selected fields of `rec`.
pub fn select_into(rec: &Record, fields: &[(String, Vec<String>)], out: &mut Record) {
    out.clear();
    for (name, path) in fields {
        if let Some(v) = rec.lookup(path) {
            out.add_copy(ROOT, name, v);
        }
    }
}

impl Stage for Select {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        let Item::Record(r) = item else {
            return self.next.send(item);
        };
        select_into(r, &self.fields, &mut self.out);
        self.next.send(Item::Record(&self.out))
    }

    crate::pass_on!(origin, flush, close);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn order_paths_and_missing_fields() {
        let r = Record::from(
            json!({"a": "1", "b": {"c": [1, 2]}, "d": null})
                .as_object()
                .unwrap(),
        );
        let fields: Vec<(String, Vec<String>)> = ["d", "b.c", "zz", "a"]
            .iter()
            .map(|f| (f.to_string(), split_path(f)))
            .collect();
        let mut out = Record::new();
        select_into(&r, &fields, &mut out);
        assert_eq!(out.to_json(), r#"{"d":null,"b.c":[1,2],"a":"1"}"#);
    }

    #[test]
    fn jq_paths_are_fields_and_conditions_are_refused() {
        let r = Record::from(json!({"a": "1", "b": {"c": 2}}).as_object().unwrap());
        let names: Vec<String> = [".a", ".b.c", "."].iter().map(|s| s.to_string()).collect();
        let mut out = Record::new();
        select_into(&r, &fields(&names).unwrap(), &mut out);
        assert_eq!(out.to_json(), r#"{"a":"1","b.c":2}"#);
        for bad in ["select(.a == 1)", ".a == 1", ".a | length"] {
            let e = fields(&[bad.to_string()]).unwrap_err().to_string();
            assert!(e.contains("use `where`"), "{bad}: {e}");
        }
    }
}
