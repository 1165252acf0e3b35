//! How the sinks that write lines (`print`, `write`, `exec`) show where lines come from,
//! when a source announces its inputs (see [`crate::protocol::Stage::origin`]): a
//! `==> name <==` header before each run of lines from one input, as `tail` prints with
//! several files, or a `name:` tag in front of every line, as `grep -H` does. Records and
//! events are never labelled: NDJSON must stay NDJSON (`json` carries the name in a `file`
//! field instead).

use crate::item::{Origin, Show, map_lines};

/// The origin state of one sink.
#[derive(Debug)]
pub struct Labels {
    show: Show,
    /// The current input's name.
    name: Vec<u8>,
    /// The name in the last header written, `None` before the first.
    shown: Option<Vec<u8>>,
    /// Scratch for [`Labels::label_line`].
    one: Vec<u8>,
    /// Colour tags like grep's `-H`.
    color: bool,
}

impl Default for Labels {
    fn default() -> Self {
        Labels {
            show: Show::Hidden,
            name: Vec::new(),
            shown: None,
            one: Vec::new(),
            color: false,
        }
    }
}

impl Labels {
    /// Colour the tags (`--color`).
    pub fn color(&mut self, on: bool) {
        self.color = on;
    }

    /// The lines that follow come from `origin`. A control character in its name (a
    /// newline, a carriage return, a tab…) is written escaped (`\n`, `\r`, `\t`, `\xHH`):
    /// a tag or header must not split the line it labels, nor forge a line of its own.
    pub fn set(&mut self, origin: Origin<'_>) {
        self.show = origin.show;
        self.name.clear();
        for &b in origin.name.as_bytes() {
            match b {
                b'\n' => self.name.extend_from_slice(b"\\n"),
                b'\r' => self.name.extend_from_slice(b"\\r"),
                b'\t' => self.name.extend_from_slice(b"\\t"),
                0..=0x1f | 0x7f => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    let esc = [b'\\', b'x', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]];
                    self.name.extend_from_slice(&esc);
                }
                _ => self.name.push(b),
            }
        }
    }

    /// Whether lines are labelled at all.
    pub fn shows(&self) -> bool {
        self.show != Show::Hidden
    }

    /// [`Labels::label`] for one line (without its newline; it may be empty).
    pub fn label_line(&mut self, line: &[u8], out: &mut Vec<u8>) -> bool {
        if !self.shows() {
            return false;
        }
        let mut one = std::mem::take(&mut self.one);
        one.clear();
        one.extend_from_slice(line);
        one.push(b'\n');
        let labelled = self.label(&one, out);
        if labelled {
            out.pop();
        }
        self.one = one;
        labelled
    }

    /// Write `batch` (whole lines, see [`crate::item`]) as it must appear into `out`
    /// (cleared first) and return `true`; or return `false` when it is to be written as it
    /// is — the fast path when no origin is shown, or the header is already out.
    pub fn label(&mut self, batch: &[u8], out: &mut Vec<u8>) -> bool {
        if batch.is_empty() {
            return false;
        }
        match self.show {
            Show::Hidden => false,
            Show::Header => {
                if self.shown.as_deref() == Some(&self.name[..]) {
                    return false;
                }
                out.clear();
                if self.shown.is_some() {
                    out.push(b'\n');
                }
                out.extend_from_slice(b"==> ");
                out.extend_from_slice(&self.name);
                out.extend_from_slice(b" <==\n");
                out.extend_from_slice(batch);
                self.shown = Some(self.name.clone());
                true
            }
            Show::Tag => {
                let (name, color) = (&self.name, self.color);
                map_lines(batch, out, |l, o| {
                    if color {
                        super::color::tag(name, o);
                    } else {
                        o.extend_from_slice(name);
                        o.push(b':');
                    }
                    o.extend_from_slice(l);
                });
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(name: &str, show: Show) -> Origin<'_> {
        Origin { name, show }
    }

    #[test]
    fn control_characters_in_names_are_escaped_in_tags_and_headers() {
        let mut l = Labels::default();
        let mut out = Vec::new();
        l.set(origin("a\nb\tc\x01.log", Show::Tag));
        assert!(l.label(b"1\n2\n", &mut out));
        assert_eq!(out, b"a\\nb\\tc\\x01.log:1\na\\nb\\tc\\x01.log:2\n");
        l.set(origin("x\ny", Show::Header));
        assert!(l.label(b"3\n", &mut out));
        assert_eq!(out, b"==> x\\ny <==\n3\n");
    }

    #[test]
    fn headers_only_when_the_input_changes() {
        let mut l = Labels::default();
        let mut out = Vec::new();
        assert!(!l.label(b"x\n", &mut out));
        l.set(origin("a", Show::Header));
        assert!(l.label(b"1\n", &mut out));
        assert_eq!(out, b"==> a <==\n1\n");
        assert!(!l.label(b"2\n", &mut out));
        l.set(origin("a", Show::Header));
        assert!(!l.label(b"3\n", &mut out));
        l.set(origin("b", Show::Header));
        assert!(!l.label(b"", &mut out), "no header without a line");
        assert!(l.label(b"4", &mut out));
        assert_eq!(out, b"\n==> b <==\n4");
    }

    #[test]
    fn tags_on_every_line() {
        let mut l = Labels::default();
        l.set(origin("a.log", Show::Tag));
        let mut out = Vec::new();
        assert!(l.label(b"1\n\n3", &mut out));
        assert_eq!(out, b"a.log:1\na.log:\na.log:3");
        assert!(l.label_line(b"", &mut out));
        assert_eq!(out, b"a.log:");
    }
}
