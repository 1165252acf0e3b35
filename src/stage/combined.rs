//! `combined` — web server access log lines (Apache and nginx, Combined and Common Log
//! Format) become records.
//!
//! Accepts lines; emits records. The format is `%h %l %u %t "%r" %>s %b` (Common) followed,
//! in Combined, by `"%{Referer}i" "%{User-agent}i"`; nginx's default `combined` is the same.
//! Fields, in this order: `host`, `ident`, `user`, `time` (as written:
//! `10/Oct/2000:13:55:36 -0700`), `timestamp` (the same instant in RFC 3339:
//! `2000-10-10T13:55:36-07:00`), `request` (as written), `method`, `path`, `protocol` (when
//! the request has these three parts), `status` and `size` (numbers), `referer`, `agent`,
//! and `rest` (whatever follows, trimmed, when anything does: nginx formats often append
//! fields). A `-` field is left out; so is a `timestamp` the time cannot give.
//! In quoted fields the escapes of both servers are decoded: `\"`, `\\` and `\n \t \r \v \f
//! \b` (Apache), `\xHH` (a byte: Apache for control characters, nginx for `"`, `\`, control
//! characters and every byte past ASCII); bytes that are not UTF-8 become U+FFFD, and any
//! other backslash stays as written. Checked on lines logged by real nginx 1.22 and Apache
//! 2.4 servers (`fixtures/parse/nginx-*.log`, `apache-*.log`).
//!
//! A line of another shape is dropped and counted, kept as `{"message": LINE}` with
//! `--keep`, or an error with `--strict`. One trailing `\r` is removed; invalid UTF-8 becomes
//! U+FFFD. Per line: one pass, no allocation.

use anyhow::Result;
use clap::{ArgMatches, FromArgMatches, Parser};

use crate::item::Kind;
use crate::protocol::Stage;
use crate::protocol::def::{Build, BuildCx, Emits, Role, StageDef};
use crate::record::{ROOT, Record, Type};
use crate::stage::lineparse::{Bad, BadArgs, LineFormat, LineParser, month_number};

/// Parse web server access logs (Apache, nginx: Combined or Common Log Format) into records.
///
/// Fields: host, ident, user, time (as written), timestamp (RFC 3339), request (as
/// written), method, path, protocol, status and size (numbers), referer, agent, and rest
/// (anything after the agent, as nginx formats often add). A field that is `-` is left
/// out. In quoted fields the servers' escapes are decoded: \" \\ \n \t (Apache) and \xHH
/// (nginx, and Apache for control characters), other backslashes kept as written. A line of
/// another shape is dropped and counted (--keep: kept as {"message": LINE}; --strict: an
/// error naming input and line). Invalid UTF-8 becomes U+FFFD.
#[derive(Parser)]
#[command(name = "combined", disable_version_flag = true)]
pub struct Args {
    #[command(flatten)]
    pub bad: BadArgs,
}

pub const DEF: StageDef = StageDef {
    name: "combined",
    aliases: &["clf", "access"],
    role: Role::Filter,
    summary: "lines → records: web access logs (Combined/Common Log Format)",
    accepts: &[Kind::Line],
    emits: Emits::Kind(Kind::Record),
    examples: &[
        "copipe follow /var/log/nginx/access.log : combined : where 'status>=500' : count --by path",
        "copipe cat fixtures/parse/access.log : combined : select timestamp status path",
    ],
    command: <Args as clap::CommandFactory>::command,
    fusion: None,
    build: Build::Filter(build),
};

fn build(m: &ArgMatches, cx: &BuildCx<'_>, next: Box<dyn Stage>) -> Result<Box<dyn Stage>> {
    let a = Args::from_arg_matches(m)?;
    Ok(Box::new(
        Combined::stage((&a.bad).into(), next).typed(&a.bad, cx.notes)?,
    ))
}

struct Combined {
    /// Unescaped quoted fields (each piece valid UTF-8).
    buf: Vec<u8>,
}

impl Combined {
    fn stage(bad: Bad, next: Box<dyn Stage>) -> LineParser<Self> {
        LineParser::new("combined", bad, Combined { buf: Vec::new() }, next)
    }
}

/// A cursor over a line.
struct Cur<'a> {
    t: &'a str,
    i: usize,
}

/// Where a piece of a field is: in the line, or unescaped into the buffer.
#[derive(Clone, Copy)]
enum At {
    Line(usize, usize),
    Buf(usize, usize),
}

impl<'a> Cur<'a> {
    fn b(&self) -> &'a [u8] {
        self.t.as_bytes()
    }

    fn spaces(&mut self) {
        while self.b().get(self.i) == Some(&b' ') {
            self.i += 1;
        }
    }

    /// A space-separated token.
    fn token(&mut self) -> Option<(usize, usize)> {
        self.spaces();
        let s = self.i;
        let b = self.b();
        while self.i < b.len() && b[self.i] != b' ' {
            self.i += 1;
        }
        (self.i > s).then_some((s, self.i))
    }

    /// `[…]`.
    fn bracketed(&mut self) -> Option<(usize, usize)> {
        self.spaces();
        if self.b().get(self.i) != Some(&b'[') {
            return None;
        }
        let s = self.i + 1;
        let e = s + memchr::memchr(b']', &self.b()[s..])?;
        self.i = e + 1;
        Some((s, e))
    }

    /// `"…"`, unescaped into `buf` when there is an escape: `\"` and `\\` (Apache), `\xHH`
    /// (a byte, as both Apache and nginx write a quote, a backslash, a control character or,
    /// nginx, any byte past ASCII), and Apache's `\n \t \r \v \f \b`; another backslash is
    /// kept as written. Bytes that are not UTF-8 once decoded become U+FFFD.
    fn quoted(&mut self, buf: &mut Vec<u8>) -> Option<At> {
        self.spaces();
        let b = self.b();
        if b.get(self.i) != Some(&b'"') {
            return None;
        }
        let s = self.i + 1;
        let mut j = s;
        let mut escaped = false;
        let start = buf.len();
        loop {
            let k = j + memchr::memchr2(b'"', b'\\', &b[j..])?;
            if b[k] == b'"' {
                self.i = k + 1;
                if escaped {
                    buf.extend_from_slice(&b[j..k]);
                    if std::str::from_utf8(&buf[start..]).is_err() {
                        // (Rare: a \xHH of a byte that is not UTF-8.)
                        let text = String::from_utf8_lossy(&buf[start..]).into_owned();
                        buf.truncate(start);
                        buf.extend_from_slice(text.as_bytes());
                    }
                    return Some(At::Buf(start, buf.len()));
                }
                return Some(At::Line(s, k));
            }
            if !escaped {
                escaped = true;
                buf.extend_from_slice(&b[s..k]);
            } else {
                buf.extend_from_slice(&b[j..k]);
            }
            let hex = |c: u8| (c as char).to_digit(16);
            let (byte, len) = match *b.get(k + 1)? {
                c @ (b'"' | b'\\') => (c, 2),
                b'n' => (b'\n', 2),
                b't' => (b'\t', 2),
                b'r' => (b'\r', 2),
                b'v' => (0x0b, 2),
                b'f' => (0x0c, 2),
                b'b' => (0x08, 2),
                b'x' => match (
                    b.get(k + 2).and_then(|&c| hex(c)),
                    b.get(k + 3).and_then(|&c| hex(c)),
                ) {
                    (Some(h), Some(l)) => ((h * 16 + l) as u8, 4),
                    _ => (b'\\', 1),
                },
                _ => (b'\\', 1),
            };
            buf.push(byte);
            j = k + len;
        }
    }
}

/// `10/Oct/2000:13:55:36 -0700` → `2000-10-10T13:55:36-07:00`, into `out`.
pub fn clf_to_rfc3339<'o>(t: &str, out: &'o mut [u8; 25]) -> Option<&'o str> {
    let b = t.as_bytes();
    if b.len() != 26 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' || b[20] != b' ' {
        return None;
    }
    let month = month_number(&t[3..6])?;
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if !(digits(0..2)
        && digits(7..11)
        && digits(12..14)
        && b[14] == b':'
        && digits(15..17)
        && b[17] == b':'
        && digits(18..20)
        && matches!(b[21], b'+' | b'-')
        && digits(22..26))
    {
        return None;
    }
    out[..4].copy_from_slice(&b[7..11]);
    out[4] = b'-';
    out[5] = b'0' + month / 10;
    out[6] = b'0' + month % 10;
    out[7] = b'-';
    out[8..10].copy_from_slice(&b[0..2]);
    out[10] = b'T';
    out[11..19].copy_from_slice(&b[12..20]);
    out[19] = b[21];
    out[20..22].copy_from_slice(&b[22..24]);
    out[22] = b':';
    out[23..25].copy_from_slice(&b[24..26]);
    std::str::from_utf8(&out[..]).ok()
}

impl Combined {
    /// Fill the record from one line, or say why it does not fit.
    fn fill_line(rec: &mut Record, buf: &mut Vec<u8>, t: &str) -> Result<(), &'static str> {
        let mut c = Cur { t, i: 0 };
        buf.clear();
        let host = c.token().ok_or("no host")?;
        let ident = c.token().ok_or("no ident field")?;
        let user = c.token().ok_or("no user field")?;
        let time = c.bracketed().ok_or("no [time]")?;
        let request = c.quoted(buf).ok_or("no quoted request")?;
        let status = c.token().ok_or("no status")?;
        let size = c.token().ok_or("no size")?;
        let referer = c.quoted(buf);
        let agent = referer.and_then(|_| c.quoted(buf));
        let is_number = |(a, e): (usize, usize)| t.as_bytes()[a..e].iter().all(u8::is_ascii_digit);
        let dash = |(a, e): (usize, usize)| &t[a..e] == "-";
        if !(is_number(status) || dash(status)) {
            return Err("the status is not a number");
        }
        if !(is_number(size) || dash(size)) {
            return Err("the size is not a number");
        }
        let buf = &*buf;
        let text = |at: At| match at {
            At::Line(a, e) => &t[a..e],
            // (`quoted` leaves every piece valid UTF-8.)
            At::Buf(a, e) => std::str::from_utf8(&buf[a..e]).unwrap_or_default(),
        };
        let add = |rec: &mut Record, k: &str, v: &str, ty: Type| {
            if v != "-" {
                let id = rec.add(ROOT, "", k, ty);
                rec.set_text(id, ty, v);
            }
        };
        add(rec, "host", &t[host.0..host.1], Type::String);
        add(rec, "ident", &t[ident.0..ident.1], Type::String);
        add(rec, "user", &t[user.0..user.1], Type::String);
        let time = &t[time.0..time.1];
        add(rec, "time", time, Type::String);
        let mut stamp = [0u8; 25];
        if let Some(ts) = clf_to_rfc3339(time, &mut stamp) {
            add(rec, "timestamp", ts, Type::String);
        }
        let request = text(request);
        add(rec, "request", request, Type::String);
        let mut parts = request.split(' ');
        if let (Some(m), Some(p), Some(v), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
            && !m.is_empty()
            && !p.is_empty()
        {
            add(rec, "method", m, Type::String);
            add(rec, "path", p, Type::String);
            add(rec, "protocol", v, Type::String);
        }
        add(rec, "status", &t[status.0..status.1], Type::Number);
        add(rec, "size", &t[size.0..size.1], Type::Number);
        if let Some(r) = referer {
            add(rec, "referer", text(r), Type::String);
        }
        if let Some(a) = agent {
            add(rec, "agent", text(a), Type::String);
        }
        let rest = t[c.i..].trim();
        if !rest.is_empty() {
            add(rec, "rest", rest, Type::String);
        }
        Ok(())
    }
}

impl LineFormat for Combined {
    const DROPPED: &'static str = "did not parse";

    fn fill(&mut self, text: &str, rec: &mut Record, _tagged: bool) -> Result<(), &'static str> {
        Self::fill_line(rec, &mut self.buf, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::Item;
    use crate::protocol::testing::Collect;

    fn run(bad: Bad, lines: &[&[u8]]) -> Result<Vec<String>> {
        let out = Collect::shared();
        let mut p = Combined::stage(bad, Box::new(out.clone()));
        for l in lines {
            let _ = p.send(Item::Line(l))?;
        }
        p.close()?;
        let got = out.borrow().strings();
        Ok(got)
    }

    fn one(line: &str) -> String {
        let got = run(Bad::Keep, &[line.as_bytes()]).unwrap();
        got[0].clone()
    }

    #[test]
    fn the_apache_documentation_examples() {
        // https://httpd.apache.org/docs/2.4/logs.html
        assert_eq!(
            one(
                r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#
            ),
            r#"{"host":"127.0.0.1","user":"frank","time":"10/Oct/2000:13:55:36 -0700","timestamp":"2000-10-10T13:55:36-07:00","request":"GET /apache_pb.gif HTTP/1.0","method":"GET","path":"/apache_pb.gif","protocol":"HTTP/1.0","status":200,"size":2326}"#
        );
        assert_eq!(
            one(
                r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#
            ),
            r#"{"host":"127.0.0.1","user":"frank","time":"10/Oct/2000:13:55:36 -0700","timestamp":"2000-10-10T13:55:36-07:00","request":"GET /apache_pb.gif HTTP/1.0","method":"GET","path":"/apache_pb.gif","protocol":"HTTP/1.0","status":200,"size":2326,"referer":"http://www.example.com/start.html","agent":"Mozilla/4.08 [en] (Win98; I ;Nav)"}"#
        );
    }

    #[test]
    fn dashes_escapes_odd_requests_and_extra_fields() {
        assert_eq!(
            one(r#"::1 - - [01/Jan/2024:00:00:00 +0000] "-" 408 - "-" "-""#),
            r#"{"host":"::1","time":"01/Jan/2024:00:00:00 +0000","timestamp":"2024-01-01T00:00:00+00:00","status":408}"#
        );
        assert_eq!(
            one(
                r#"h - - [01/Jan/2024:00:00:00 +0000] "\x16\x03\x01" 400 0 "-" "a \"q\" \\ b" "1.2.3.4""#
            ),
            r#"{"host":"h","time":"01/Jan/2024:00:00:00 +0000","timestamp":"2024-01-01T00:00:00+00:00","request":"\u0016\u0003\u0001","status":400,"size":0,"agent":"a \"q\" \\ b","rest":"\"1.2.3.4\""}"#
        );
    }

    #[test]
    fn other_lines_do_not_fit() {
        let lines: &[&[u8]] = &[
            b"",
            b"just words here",
            br#"h - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" abc 1"#,
            br#"h - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1 200 1"#,
            b"h - - [01/Jan/2024",
            b"\"\"\"\"\"\"",
        ];
        assert!(run(Bad::Drop, lines).unwrap().is_empty());
        let e = run(Bad::Strict, &[lines[2]]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "combined: standard input:1: the status is not a number"
        );
    }

    #[test]
    fn bad_times_keep_time_without_timestamp_and_invalid_utf8() {
        let got = one("h - - [yesterday] \"GET /\u{e9} HTTP/1.1\" 200 5\r");
        assert_eq!(
            got,
            r#"{"host":"h","time":"yesterday","request":"GET /é HTTP/1.1","method":"GET","path":"/é","protocol":"HTTP/1.1","status":200,"size":5}"#
        );
        let got = run(Bad::Drop, &[b"h - - [t] \"GET /\xff HTTP/1.1\" 200 5"]).unwrap();
        assert!(got[0].contains("/\u{FFFD}"), "{got:?}");
    }

    #[test]
    fn rfc3339_times() {
        let mut b = [0; 25];
        assert_eq!(
            clf_to_rfc3339("31/Dec/1999:23:59:59 +0530", &mut b),
            Some("1999-12-31T23:59:59+05:30")
        );
        assert_eq!(clf_to_rfc3339("31/Foo/1999:23:59:59 +0530", &mut b), None);
        assert_eq!(clf_to_rfc3339("31/Dec/1999:23:59:59", &mut b), None);
    }
}
