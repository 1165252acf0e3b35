//! `select FIELD...` — keep some fields of a record, in the order given.
//!
//! Accepts records; emits records. A FIELD may be a dotted path (`stop.name`): the value is
//! kept under that path as its name (`{"stop.name": …}`), which is handy before `fmt` or a
//! CSV export. A field the record lacks is left out. The output record is rebuilt in one
//! reused buffer, so nothing is allocated per record.

use anyhow::Result;
use clap::{ArgMatches, FromArgMatches, Parser};

use crate::item::{Item, Kind, Record, split_path};
use crate::record::ROOT;
use crate::stage::def::{Build, BuildCx, Emits, Role, StageDef};
use crate::stage::{Flow, Stage};

/// Keep only these fields of each record, in the order given (dotted paths allowed).
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
    build: Build::Filter(build),
};

fn build(m: &ArgMatches, _cx: &BuildCx<'_>, next: Box<dyn Stage>) -> Result<Box<dyn Stage>> {
    let a = Args::from_arg_matches(m)?;
    Ok(Box::new(Select {
        fields: a
            .fields
            .iter()
            .map(|f| (f.clone(), split_path(f)))
            .collect(),
        out: Record::new(),
        next,
    }))
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
}
