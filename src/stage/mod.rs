//! The filter stages, one file per stage: each file holds its `DEF` (name, options, help,
//! how it is built) and the stage itself. They implement the coroutine protocol of
//! [`crate::protocol`] and are collected into the catalogue by [`crate::pipeline`]'s
//! registry. The pieces several filters share live here too (`lineparse`, `fieldtype`,
//! `parse`).

pub mod combined;
pub mod csv;
pub mod fieldtype;
pub mod fmt;
pub mod grep;
pub mod head;
pub mod jq;
pub mod json;
pub mod kv;
pub mod lineparse;
pub mod multiline;
pub mod number;
pub mod parse;
pub mod records;
pub mod replace;
pub mod select;
pub mod skip;
pub mod syslog;
pub mod table;
pub mod tocsv;
pub mod toxml;
pub mod uniq;
pub mod where_;
