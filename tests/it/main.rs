//! The integration tests: one binary (one link of the library and its dependencies), a module
//! per area. `cargo test --test it AREA::` runs one area, `cargo test --test it NAME` one test.
//! `common` holds the helpers every area uses.

mod common;

mod compressed;
mod delivery;
mod docs;
mod engine;
mod examples;
mod faults;
mod filters;
mod follow;
mod follow_dir;
mod follow_state;
mod grammar;
mod grammar_fuzz;
mod grep_diff;
mod grep_options;
mod jq;
mod json;
mod kv_miller;
mod layers;
mod listen;
mod max_line;
mod merge;
mod multiline;
mod native;
mod nats;
mod ndjson_fuzz;
mod parallel;
mod parsers;
mod pipeline;
mod send;
mod signals;
mod table;
mod tocsv;
mod tooling;
mod toxml;
mod truncation;
mod trust;
mod types;
mod wide;
mod write;
mod xml;
mod xml_fuzz;
mod xml_lenient;
mod xml_parallel;
mod xml_wf;
