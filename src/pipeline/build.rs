//! Type check and construction: a parsed [`Pipeline`] becomes a source and a chain of
//! stages. Everything that can be wrong with a pipeline (item kinds that do not fit, a bad
//! regex, an output file that cannot be opened) is found here, before any input is read.

use std::cell::RefCell;
use std::rc::Rc;

use crate::fanout::FanOut;
use crate::item::Kind;
use crate::sink::output::Output;
use crate::stage::{Source, Stage};

use super::grammar::{Call, Pipeline, SyntaxError};
use super::meter::Meter;
use super::registry::{Build, BuildCx, Options, Role, Status};

/// A pipeline ready to run.
pub struct Built {
    pub source: Box<dyn Source>,
    pub chain: Box<dyn Stage>,
}

/// Check that every stage receives a kind of item it accepts; records the kinds in the tree.
pub fn check(p: &mut Pipeline) -> Result<(), SyntaxError> {
    let source = &p.calls[0];
    debug_assert_eq!(source.def.role, Role::Source);
    let kind = source
        .def
        .emits
        .given(Kind::Line)
        .expect("a source emits something");
    let name = source.def.name;
    check_calls(&mut p.calls[1..], kind, name)
}

fn check_calls(
    calls: &mut [Call],
    mut kind: Kind,
    mut from: &'static str,
) -> Result<(), SyntaxError> {
    for call in calls {
        if !call.def.accepts(kind) {
            let what = call.def.accepts_text();
            return Err(SyntaxError::new(
                format!(
                    "`{}` takes {what}, but receives {} from `{from}`{}",
                    call.def.name,
                    kind.plural(),
                    conversion_hint(kind, call.def.accepts)
                ),
                call.word_index(),
            ));
        }
        call.input = Some(kind);
        for b in &mut call.branches {
            check_calls(&mut b.calls, kind, call.def.name)?;
        }
        if let Some(k) = call.def.emits.given(kind) {
            kind = k;
        }
        from = call.def.name;
    }
    Ok(())
}

fn conversion_hint(have: Kind, want: &[Kind]) -> &'static str {
    match (have, want.first()) {
        (Kind::Line, Some(Kind::Record)) => " (put `json` before it to parse lines as JSON)",
        (Kind::Event, Some(Kind::Record)) => {
            " (put `records NAME` before it to turn XML events into records)"
        }
        (Kind::Record, Some(Kind::Line)) => {
            " (put `fmt TEMPLATE` before it to turn records into lines)"
        }
        _ => "",
    }
}

/// Construct the stages of a checked pipeline.
pub fn build(
    p: &Pipeline,
    opts: &Options,
    stdout: &Rc<RefCell<Output>>,
    status: &Status,
    meter: &Meter,
) -> Result<Built, SyntaxError> {
    let cx = |input: Kind| BuildCx {
        opts,
        input,
        stdout,
        status,
        meter,
    };
    let source_call = &p.calls[0];
    let source = match source_call.def.build {
        Build::Source(f) => {
            f(&source_call.matches, &cx(Kind::Line)).map_err(|e| at_call(source_call, e))?
        }
        _ => unreachable!("the first stage is a source"),
    };
    let chain = build_chain(&p.calls[1..], &cx)?;
    Ok(Built { source, chain })
}

fn build_chain<'a>(
    calls: &[Call],
    cx: &dyn Fn(Kind) -> BuildCx<'a>,
) -> Result<Box<dyn Stage>, SyntaxError> {
    let mut next: Option<Box<dyn Stage>> = None;
    for call in calls.iter().rev() {
        let bcx = cx(call.input.expect("checked pipelines know every input kind"));
        let stage = match call.def.build {
            Build::Sink(f) => f(&call.matches, &bcx),
            Build::Filter(f) => f(
                &call.matches,
                &bcx,
                next.take().expect("a filter is followed by a stage"),
            ),
            Build::FanOut { continues } => {
                let branches = call
                    .branches
                    .iter()
                    .map(|b| build_chain(&b.calls, cx))
                    .collect::<Result<Vec<_>, _>>()?;
                let after = if continues { next.take() } else { None };
                Ok(Box::new(FanOut::new(branches, after)) as Box<dyn Stage>)
            }
            Build::Source(_) => unreachable!("sources only come first"),
        };
        next = Some(stage.map_err(|e| at_call(call, e))?);
    }
    Ok(next.expect("a pipeline has at least one stage after its source"))
}

fn at_call(call: &Call, e: anyhow::Error) -> SyntaxError {
    SyntaxError::new(format!("{}: {e:#}", call.def.name), call.word_index())
}

#[cfg(test)]
mod tests {
    use super::super::grammar::{parse, split_text};
    use super::*;

    fn checked(s: &str) -> Result<Pipeline, SyntaxError> {
        let mut p = parse(&split_text(s).unwrap())?;
        check(&mut p)?;
        Ok(p)
    }

    #[test]
    fn kinds_flow_through_branches() {
        let p = checked("range 1 5 : tee { grep 1 : count } : head 2").unwrap();
        assert_eq!(p.calls[1].input, Some(Kind::Line));
        assert_eq!(p.calls[1].branches[0].calls[1].input, Some(Kind::Line));
    }
}
