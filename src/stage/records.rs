//! `records NAME` / `records --depth D` — turn the events of each `<NAME>` element (or of
//! each element at depth D, the root being depth 1) into one record, with xmltodict's
//! conventions so that jq users meet no surprise.
//!
//! Accepts events; emits records. The rules, for an element's value:
//! * attributes become `@attr` fields, first, in document order;
//! * a child element becomes a field named as written (`ns:tag` keeps its prefix); a
//!   repeated child becomes an array at the place of its first occurrence;
//! * the text directly inside an element (all its pieces, CDATA included, joined) is
//!   stripped of surrounding XML whitespace; an element with only text is that string; text
//!   beside attributes or children goes to a last `#text` field; an element with neither is
//!   `null`;
//! * values stay strings: XML has no numbers.
//!
//! A record is a JSON object, so the record element itself, if it has only text, becomes
//! `{"#text": "…"}`, and if it is empty, `{}`. Nested NAME elements: the outermost wins (an
//! inner one is a field of it). Memory: one record's storage, reused from record to record.
//!
//! The building itself is [`crate::item::xml_records`], which the `xml` source also uses
//! when it absorbs this stage (the fusion `xml : records`, declared on its definition): it
//! then builds the records itself, on several threads for a big file.

use anyhow::Result;
use clap::{ArgMatches, Parser};

use crate::item::xml_records::RecordBuilder;
pub use crate::item::xml_records::Target;
use crate::item::{Item, Kind};
use crate::protocol::def::{Build, BuildCx, Emits, Role, StageDef};
use crate::protocol::{Flow, Stage};

/// Turn each <NAME> element (or each element at --depth D) into a JSON record.
///
/// The xmltodict conventions: attributes are `@attr` fields, child elements are fields
/// (repeated ones an array), an element with only text is a string, text beside
/// attributes or children is `#text`, an empty element is null, CDATA is text, whitespace
/// around text is stripped. Values stay strings.
#[derive(Parser)]
#[command(name = "records", disable_version_flag = true)]
pub struct Args {
    /// The element name, as written (with its prefix, if any: `ns:item`).
    #[arg(required_unless_present = "depth", conflicts_with = "depth")]
    pub name: Option<String>,
    /// Take every element at this depth instead (the root element is depth 1).
    #[arg(short, long, value_name = "D", value_parser = clap::value_parser!(u32).range(1..))]
    pub depth: Option<u32>,
}

pub const DEF: StageDef = StageDef {
    name: "records",
    aliases: &["xml2json"],
    role: Role::Filter,
    summary: "turn each <NAME> element (or each at --depth D) into a JSON record",
    accepts: &[Kind::Event],
    emits: Emits::Kind(Kind::Record),
    examples: &[
        "copipe xml allroutes.xml : records bus",
        "copipe xml feed.xml : records --depth 2 : select id route",
    ],
    command: <Args as clap::CommandFactory>::command,
    fusion: None,
    build: Build::Filter(build),
};

fn build(m: &ArgMatches, _cx: &BuildCx<'_>, next: Box<dyn Stage>) -> Result<Box<dyn Stage>> {
    Ok(Box::new(Records::new(Target::from_args(m)?, next)))
}

/// The stage: events in, each finished record pushed on.
pub struct Records {
    builder: RecordBuilder,
    next: Box<dyn Stage>,
}

impl Records {
    pub fn new(target: Target, next: Box<dyn Stage>) -> Self {
        Records {
            builder: RecordBuilder::new(target),
            next,
        }
    }
}

impl Stage for Records {
    #[inline]
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        let Item::Event(ev) = item else {
            return Ok(Flow::Continue);
        };
        let Some(rec) = self.builder.event(ev) else {
            return Ok(Flow::Continue);
        };
        let flow = self.next.send(Item::Record(rec));
        self.builder.pushed();
        flow
    }

    crate::pass_on!(origin, flush, close);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::testing::Collect;
    use crate::runtime::meter::Meter;

    /// The records of a document, as JSON lines (the boxed collector is shared).
    fn records(doc: &str, target: Target) -> Vec<String> {
        let c = Collect::shared();
        let mut r = Records::new(target, Box::new(c.clone()));
        crate::source::xml::parse(
            "t.xml",
            Box::new(std::io::Cursor::new(doc.as_bytes().to_vec())),
            true,
            &Meter::default(),
            &mut r,
        )
        .unwrap();
        c.borrow().strings()
    }

    fn name(n: &str) -> Target {
        Target::Name(n.into())
    }

    #[test]
    fn xmltodict_conventions() {
        let doc = r#"<r><bus id="7" x:y="z">
            <route> 22 </route>
            <stop>A</stop><empty/><stop>B</stop>
            <note lang="en">hi <b>there</b> you</note>
            <cd><![CDATA[a & b]]></cd>
            <nested><stop>C</stop><stop>D</stop></nested>
        </bus></r>"#;
        assert_eq!(
            records(doc, name("bus")),
            [concat!(
                r#"{"@id":"7","@x:y":"z","route":"22","stop":["A","B"],"empty":null,"#,
                r##""note":{"@lang":"en","b":"there","#text":"hi  you"},"cd":"a & b","##,
                r#""nested":{"stop":["C","D"]}}"#
            )]
        );
    }

    #[test]
    fn record_element_with_text_or_nothing() {
        let doc = "<r><v>1</v><v/><v> </v><v a='b'>t</v></r>";
        assert_eq!(
            records(doc, name("v")),
            [
                r##"{"#text":"1"}"##,
                "{}",
                "{}",
                r##"{"@a":"b","#text":"t"}"##
            ]
        );
    }

    #[test]
    fn by_depth_and_outermost_wins() {
        let doc = "<a><b><b>in</b></b><c>x</c></a>";
        assert_eq!(records(doc, name("b")), [r#"{"b":"in"}"#]);
        assert_eq!(
            records(doc, Target::Depth(2)),
            [r#"{"b":"in"}"#, r##"{"#text":"x"}"##]
        );
        assert_eq!(
            records(doc, Target::Depth(1)),
            [r#"{"b":{"b":"in"},"c":"x"}"#]
        );
        assert!(records(doc, Target::Depth(9)).is_empty());
    }
}
