//! Colour for what `print` writes (`--color`): grep matches as GNU grep shows them (bold
//! red), file-name tags like grep's `-H` (magenta name, cyan `:`), and record keys as jq
//! shows them (bold blue). The escape sequences are GNU grep's defaults, `\x1b[K` included,
//! so that a coloured line looks the same as grep's.

use regex::bytes::Regex;

use crate::item::{Record, map_lines};

pub const MATCH: &[u8] = b"\x1b[01;31m\x1b[K";
pub const FILE: &[u8] = b"\x1b[35m\x1b[K";
pub const SEP: &[u8] = b"\x1b[36m\x1b[K";
pub const KEY: &[u8] = b"\x1b[34;1m";
pub const RESET: &[u8] = b"\x1b[m\x1b[K";
const KEY_RESET: &[u8] = b"\x1b[0m";

/// Colours the matches of the upstream greps in lines.
#[derive(Debug)]
pub struct Painter {
    regexes: Vec<Regex>,
    /// Scratch: the match spans of one line.
    spans: Vec<(usize, usize)>,
}

impl Painter {
    pub fn new(regexes: Vec<Regex>) -> Self {
        Painter {
            regexes,
            spans: Vec::new(),
        }
    }

    /// Whether there is anything to colour.
    pub fn is_active(&self) -> bool {
        !self.regexes.is_empty()
    }

    /// Append `line` with its matches coloured (the spans of several greps merged).
    pub fn paint_line(&mut self, line: &[u8], out: &mut Vec<u8>) {
        paint(&self.regexes, &mut self.spans, line, out);
    }

    /// Rewrite a batch with its matches coloured into `out` (cleared first).
    pub fn paint_batch(&mut self, batch: &[u8], out: &mut Vec<u8>) {
        let Painter { regexes, spans } = self;
        map_lines(batch, out, |l, o| paint(regexes, spans, l, o));
    }
}

fn paint(regexes: &[Regex], spans: &mut Vec<(usize, usize)>, line: &[u8], out: &mut Vec<u8>) {
    spans.clear();
    for re in regexes {
        spans.extend(
            re.find_iter(line)
                .filter(|m| !m.is_empty())
                .map(|m| (m.start(), m.end())),
        );
    }
    spans.sort_unstable();
    let mut last = 0;
    let mut i = 0;
    while i < spans.len() {
        let (s, mut e) = spans[i];
        i += 1;
        while i < spans.len() && spans[i].0 <= e {
            e = e.max(spans[i].1);
            i += 1;
        }
        let s = s.max(last);
        if s >= e {
            continue;
        }
        out.extend_from_slice(&line[last..s]);
        out.extend_from_slice(MATCH);
        out.extend_from_slice(&line[s..e]);
        out.extend_from_slice(RESET);
        last = e;
    }
    out.extend_from_slice(&line[last..]);
}

/// A `name:` tag coloured like grep's `-H`.
pub fn tag(name: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(FILE);
    out.extend_from_slice(name);
    out.extend_from_slice(RESET);
    out.extend_from_slice(SEP);
    out.push(b':');
    out.extend_from_slice(RESET);
}

/// Append a record as compact JSON with its keys coloured (as jq colours them).
pub fn record(r: &Record, out: &mut Vec<u8>) {
    r.root().write_json_styled(out, Some((KEY, KEY_RESET)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn painted(res: &[&str], line: &str) -> String {
        let mut p = Painter::new(res.iter().map(|r| Regex::new(r).unwrap()).collect());
        let mut out = Vec::new();
        p.paint_line(line.as_bytes(), &mut out);
        String::from_utf8(out)
            .unwrap()
            .replace("\x1b[01;31m\x1b[K", "[")
            .replace("\x1b[m\x1b[K", "]")
    }

    #[test]
    fn matches_are_coloured_and_merged() {
        assert_eq!(painted(&["ion"], "lion nation"), "l[ion] nat[ion]");
        assert_eq!(painted(&["na", "ati"], "nation"), "[nati]on");
        assert_eq!(
            painted(&["x*"], "abc"),
            "abc",
            "empty matches colour nothing"
        );
        assert_eq!(painted(&[], "abc"), "abc");
    }

    #[test]
    fn record_keys() {
        let mut r = Record::new();
        r.fill_from_map(serde_json::json!({"a": {"b": 1}}).as_object().unwrap());
        let mut out = Vec::new();
        record(&r, &mut out);
        let s = String::from_utf8(out).unwrap();
        assert_eq!(s, "{\x1b[34;1m\"a\"\x1b[0m:{\x1b[34;1m\"b\"\x1b[0m:1}}");
    }
}
