//! `syslog` — syslog lines (RFC 5424, RFC 3164, and the files of /var/log) become records.
//!
//! Accepts lines; emits records. Three shapes are read:
//! * RFC 5424: `<PRI>VERSION TIMESTAMP HOST APP PROCID MSGID [SD…] MSG`;
//! * RFC 3164: `<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG` (an RFC 3339 timestamp is also
//!   taken in place of `Mmm dd hh:mm:ss`, as rsyslog writes it);
//! * the same without `<PRI>`: what syslog daemons write to /var/log files (and the loghub
//!   Linux, Mac and OpenSSH logs).
//!
//! Fields, in this order, each only when the line has it: `priority` (number), `facility`
//! and `severity` (names: `auth`, `local0`, `err` …), `facility_code` and `severity_code`
//! (numbers), `version` (number), `time` (as written: 3164 times have no year or zone, so no
//! RFC 3339 form is made of them; 5424 times already are RFC 3339), `host`, `app`, `pid` (a
//! number when it is digits), `msgid`, `data` (5424 structured data: an object of SD-IDs,
//! each an object of its parameters, with `\"`, `\\`, `\]` unescaped), `message`.
//! 5424's `-` fields are left out. In the 3164 shape, the first word after the time is the
//! host unless it already looks like a tag (`sshd[12]:`); a tag is a word ending in `:` or
//! `[PID]` (then `:`), a name with spaces before `[PID]:` (macOS: `Microsoft Word[14463]:`),
//! or a name then a version and `:` (`syslogd 1.4.1: restart.`: the app `syslogd`, the
//! message `1.4.1: restart.`), else there is no `app` and the message is all the rest, so no
//! text is lost. A 5424 line without its `<PRI>` (a version, then an RFC 3339 time) is read
//! as 5424.
//!
//! A line of another shape is dropped and counted, kept as `{"message": LINE}` with
//! `--keep`, or an error with `--strict`. One trailing `\r` is removed, a BOM before a 5424
//! message too; invalid UTF-8 becomes U+FFFD. Per line: one pass, no allocation.

use anyhow::Result;
use clap::{ArgMatches, FromArgMatches, Parser};

use crate::item::Kind;
use crate::protocol::Stage;
use crate::protocol::def::{Build, BuildCx, Emits, Role, StageDef};
use crate::record::{NodeId, ROOT, Record, Type};
use crate::stage::lineparse::{Bad, BadArgs, LineFormat, LineParser, month_number};

/// Parse syslog lines (RFC 5424, RFC 3164, /var/log files) into records.
///
/// Fields, when present: priority, facility and severity (names), facility_code and
/// severity_code, version, time (as written), host, app, pid (a number when digits), msgid,
/// data (5424 structured data: {SD-ID: {param: value}}), message. The <PRI> is optional, as
/// in /var/log files, for 5424 lines too (`1 2020-05-22T14:59:09Z host app ...`). In 3164
/// lines the word after the time is the host unless it looks like a tag (`sshd[12]:`); a
/// tag is a word ending in `:` or `[PID]`, or a word and a version (`syslogd 1.4.1:` gives
/// the app syslogd, the message from the version on); without one the whole rest is the
/// message. 5424 `-` fields are left out. A line of another shape is dropped
/// and counted (--keep: kept as {"message": LINE}; --strict: an error naming input and
/// line). Invalid UTF-8 becomes U+FFFD.
#[derive(Parser)]
#[command(name = "syslog", disable_version_flag = true)]
pub struct Args {
    #[command(flatten)]
    pub bad: BadArgs,
}

pub const DEF: StageDef = StageDef {
    name: "syslog",
    aliases: &[],
    role: Role::Filter,
    summary: "lines → records: syslog (RFC 5424, RFC 3164, /var/log files)",
    accepts: &[Kind::Line],
    emits: Emits::Kind(Kind::Record),
    examples: &[
        "copipe follow /var/log/auth.log : syslog : where app=sshd : select time host message",
        "copipe cat fixtures/parse/linux.log : syslog : count --by app",
    ],
    command: <Args as clap::CommandFactory>::command,
    fusion: None,
    build: Build::Filter(build),
};

fn build(m: &ArgMatches, cx: &BuildCx<'_>, next: Box<dyn Stage>) -> Result<Box<dyn Stage>> {
    let a = Args::from_arg_matches(m)?;
    Ok(Box::new(
        Syslog::stage((&a.bad).into(), next).typed(&a.bad, cx.notes)?,
    ))
}

const FACILITIES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

const SEVERITIES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

struct Syslog {
    /// Unescaped structured data values.
    buf: String,
}

impl Syslog {
    fn stage(bad: Bad, next: Box<dyn Stage>) -> LineParser<Self> {
        LineParser::new("syslog", bad, Syslog { buf: String::new() }, next)
    }
}

fn add(rec: &mut Record, k: &str, v: &str, ty: Type) {
    let id = rec.add(ROOT, "", k, ty);
    rec.set_text(id, ty, v);
}

fn number(rec: &mut Record, k: &str, n: u32) {
    let mut d = itoa::Buffer::new();
    add(rec, k, d.format(n), Type::Number);
}

/// `<PRI>`: the value and the rest.
fn priority(t: &str) -> Option<(u32, &str)> {
    let rest = t.strip_prefix('<')?;
    let end = rest.find('>')?;
    let digits = &rest[..end];
    if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let p: u32 = digits.parse().ok()?;
    (p <= 191).then_some((p, &rest[end + 1..]))
}

/// A word up to the next space, and the rest after that one space.
fn word(t: &str) -> (&str, &str) {
    match t.find(' ') {
        Some(i) => (&t[..i], &t[i + 1..]),
        None => (t, ""),
    }
}

/// A 3164 time at the start (`Mmm dd hh:mm:ss`, the day maybe space-padded) or an RFC 3339
/// one (a word that starts like `2024-`): the time and the rest.
fn time3164(t: &str) -> Option<(&str, &str)> {
    let b = t.as_bytes();
    if b.len() >= 5 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' {
        let (w, rest) = word(t);
        return w.contains('T').then_some((w, rest));
    }
    if b.len() < 15 {
        return None;
    }
    month_number(&t[..3])?;
    let d = |i: usize| b[i].is_ascii_digit();
    let day = b[3] == b' ' && (b[4] == b' ' || d(4)) && d(5);
    let clock = b[6] == b' '
        && d(7)
        && d(8)
        && b[9] == b':'
        && d(10)
        && d(11)
        && b[12] == b':'
        && d(13)
        && d(14);
    if !(day && clock) {
        return None;
    }
    let rest = &t[15..];
    Some((&t[..15], rest.strip_prefix(' ').unwrap_or(rest)))
}

/// A tag at the start: `app[pid]:`, `app[pid]`, `app:`. Returns the app, the pid, and the
/// rest (after the colon and one space).
fn tag(t: &str) -> Option<(&str, Option<&str>, &str)> {
    let b = t.as_bytes();
    let end = b
        .iter()
        .position(|&c| c == b'[' || c == b':' || c == b' ')?;
    if end == 0 {
        return None;
    }
    let app = &t[..end];
    let mut i = end;
    let mut pid = None;
    if b[i] == b'[' {
        let close = i + t[i..].find(']')?;
        pid = Some(&t[i + 1..close]);
        i = close + 1;
    } else if b[i] == b' ' {
        return spaced_tag(t).or_else(|| versioned_tag(t, end));
    }
    if b.get(i) == Some(&b':') {
        i += 1;
    }
    let rest = &t[i..];
    Some((app, pid, rest.strip_prefix(' ').unwrap_or(rest)))
}

/// A tag whose name has spaces (macOS: `Microsoft Word[14463]: …`): a name of up to 48
/// bytes without a colon, then `[digits]:`.
fn spaced_tag(t: &str) -> Option<(&str, Option<&str>, &str)> {
    let open = memchr::memchr(b'[', &t.as_bytes()[..t.len().min(49)])?;
    let app = &t[..open];
    let close = open + 1 + t[open + 1..].find(']')?;
    let pid = &t[open + 1..close];
    if app.contains(':')
        || app.starts_with('-')
        || pid.is_empty()
        || !pid.bytes().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let rest = t[close + 1..].strip_prefix(':')?;
    Some((app, Some(pid), rest.strip_prefix(' ').unwrap_or(rest)))
}

/// A program that names its version in its tag (sysklogd: `syslogd 1.4.1: restart.`): a
/// word, a space, a version (a digit, then digits, letters, `.`, `-`, `_`) and `:`. The app
/// is the word, and the message starts at the version, so that no text is lost (awk's $5
/// and lnav's program name are the word too).
fn versioned_tag(t: &str, end: usize) -> Option<(&str, Option<&str>, &str)> {
    let rest = &t[end + 1..];
    let (version, _) = rest.split_once(':')?;
    let v = version.as_bytes();
    let ok = v.first().is_some_and(u8::is_ascii_digit)
        && v.iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_'));
    ok.then_some((&t[..end], None, rest))
}

fn add_pid(rec: &mut Record, pid: &str) {
    let digits = !pid.is_empty() && pid.len() < 10 && pid.bytes().all(|c| c.is_ascii_digit());
    add(
        rec,
        "pid",
        pid,
        if digits { Type::Number } else { Type::String },
    );
}

/// The 3164 shape after the priority.
fn fill3164(rec: &mut Record, t: &str) -> Result<(), &'static str> {
    let (time, rest) = time3164(t).ok_or("no syslog time (Mmm dd hh:mm:ss) at the start")?;
    add(rec, "time", time, Type::String);
    let rest = rest.trim_start_matches(' ');
    let (first, after) = word(rest);
    let looks_like_tag = first.ends_with(':') || first.contains('[');
    let rest = if looks_like_tag || first.is_empty() {
        rest
    } else {
        add(rec, "host", first, Type::String);
        after.trim_start_matches(' ')
    };
    match tag(rest) {
        Some((app, pid, msg)) => {
            add(rec, "app", app, Type::String);
            if let Some(p) = pid {
                add_pid(rec, p);
            }
            add(rec, "message", msg, Type::String);
        }
        None => add(rec, "message", rest, Type::String),
    }
    Ok(())
}

/// 5424 structured data at the start of `t` (`-` or `[id k="v"]…`), into `data`; the rest.
fn structured<'t>(rec: &mut Record, buf: &mut String, t: &'t str) -> Result<&'t str, &'static str> {
    if let Some(rest) = t.strip_prefix('-') {
        return Ok(rest.strip_prefix(' ').unwrap_or(rest));
    }
    const BAD: &str = "malformed structured data";
    let b = t.as_bytes();
    if b.first() != Some(&b'[') {
        return Err(BAD);
    }
    let data = rec.add(ROOT, "", "data", Type::Object);
    let mut i = 0;
    while b.get(i) == Some(&b'[') {
        i += 1;
        let s = i;
        while i < b.len() && !matches!(b[i], b' ' | b']' | b'=' | b'"') {
            i += 1;
        }
        if i == s {
            return Err(BAD);
        }
        let el: NodeId = rec.add(data, "", &t[s..i], Type::Object);
        loop {
            match b.get(i) {
                Some(b']') => {
                    i += 1;
                    break;
                }
                Some(b' ') => i += 1,
                _ => return Err(BAD),
            }
            let s = i;
            while i < b.len() && !matches!(b[i], b' ' | b']' | b'=' | b'"') {
                i += 1;
            }
            if i == s || b.get(i) != Some(&b'=') || b.get(i + 1) != Some(&b'"') {
                return Err(BAD);
            }
            let name = &t[s..i];
            i += 2;
            buf.clear();
            let mut run = i;
            loop {
                let k = i + memchr::memchr2(b'"', b'\\', &b[i..]).ok_or(BAD)?;
                buf.push_str(&t[run..k]);
                if b[k] == b'"' {
                    i = k + 1;
                    break;
                }
                match b.get(k + 1) {
                    Some(&c @ (b'"' | b'\\' | b']')) => {
                        buf.push(c as char);
                        i = k + 2;
                    }
                    Some(_) => {
                        buf.push('\\');
                        i = k + 1;
                    }
                    None => return Err(BAD),
                }
                run = i;
            }
            rec.add_str(el, "", name, buf);
        }
    }
    let rest = &t[i..];
    Ok(rest.strip_prefix(' ').unwrap_or(rest))
}

/// The 5424 shape after the priority (`rest` starts at the version).
fn fill5424(
    rec: &mut Record,
    buf: &mut String,
    version: &str,
    t: &str,
) -> Result<(), &'static str> {
    add(rec, "version", version, Type::Number);
    let mut t = t;
    for k in ["time", "host", "app", "pid", "msgid"] {
        let (w, rest) = word(t);
        if w.is_empty() {
            return Err("an RFC 5424 header field is missing");
        }
        if w != "-" {
            if k == "pid" {
                add_pid(rec, w);
            } else {
                add(rec, k, w, Type::String);
            }
        }
        t = rest;
    }
    let msg = if t.is_empty() {
        t
    } else {
        structured(rec, buf, t)?
    };
    let msg = msg.strip_prefix('\u{feff}').unwrap_or(msg);
    if !msg.is_empty() {
        add(rec, "message", msg, Type::String);
    }
    Ok(())
}

/// A 5424 header without its `<PRI>` (`1 2020-05-22T14:59:09.250-03:00 host app …`, as
/// some daemons write to files): the version, and the rest from the timestamp. The word
/// after the version must be an RFC 3339 time (or `-`), so that a 3164 line whose host is
/// a number is not taken for one.
fn version5424(t: &str) -> Option<(&str, &str)> {
    let (v, after) = word(t);
    let version =
        !v.is_empty() && v.len() <= 2 && v.bytes().all(|c| c.is_ascii_digit()) && v != "0";
    let (time, _) = word(after);
    let b = time.as_bytes();
    let stamp = time == "-"
        || (b.len() >= 11
            && b[..4].iter().all(u8::is_ascii_digit)
            && b[4] == b'-'
            && b[7] == b'-'
            && b[10] == b'T');
    (version && stamp).then_some((v, after))
}

fn fill(rec: &mut Record, buf: &mut String, t: &str) -> Result<(), &'static str> {
    let Some((pri, rest)) = priority(t) else {
        if t.starts_with('<') {
            return Err("a malformed <priority>");
        }
        if let Some((v, after)) = version5424(t) {
            return fill5424(rec, buf, v, after);
        }
        return fill3164(rec, t);
    };
    number(rec, "priority", pri);
    add(
        rec,
        "facility",
        FACILITIES[(pri / 8) as usize],
        Type::String,
    );
    add(
        rec,
        "severity",
        SEVERITIES[(pri % 8) as usize],
        Type::String,
    );
    number(rec, "facility_code", pri / 8);
    number(rec, "severity_code", pri % 8);
    let (v, after) = word(rest);
    if !v.is_empty() && v.len() <= 2 && v.bytes().all(|c| c.is_ascii_digit()) && v != "0" {
        return fill5424(rec, buf, v, after);
    }
    if time3164(rest).is_some() {
        return fill3164(rec, rest);
    }
    // A priority and then anything: RFC 3164 says it is all message.
    add(rec, "message", rest, Type::String);
    Ok(())
}

impl LineFormat for Syslog {
    const DROPPED: &'static str = "did not parse";

    fn fill(&mut self, text: &str, rec: &mut Record, _tagged: bool) -> Result<(), &'static str> {
        fill(rec, &mut self.buf, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::Item;
    use crate::protocol::testing::Collect;

    fn run(bad: Bad, lines: &[&[u8]]) -> Result<Vec<String>> {
        let out = Collect::shared();
        let mut p = Syslog::stage(bad, Box::new(out.clone()));
        for l in lines {
            let _ = p.send(Item::Line(l))?;
        }
        p.close()?;
        let got = out.borrow().strings();
        Ok(got)
    }

    fn one(line: &str) -> String {
        run(Bad::Keep, &[line.as_bytes()]).unwrap()[0].clone()
    }

    #[test]
    fn rfc5424_examples() {
        // RFC 5424 section 6.5, examples 1 to 4.
        assert_eq!(
            one(
                "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \u{feff}'su root' failed for lonvick on /dev/pts/8"
            ),
            r#"{"priority":34,"facility":"auth","severity":"crit","facility_code":4,"severity_code":2,"version":1,"time":"2003-10-11T22:14:15.003Z","host":"mymachine.example.com","app":"su","msgid":"ID47","message":"'su root' failed for lonvick on /dev/pts/8"}"#
        );
        assert_eq!(
            one(
                "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts."
            ),
            r#"{"priority":165,"facility":"local4","severity":"notice","facility_code":20,"severity_code":5,"version":1,"time":"2003-08-24T05:14:15.000003-07:00","host":"192.0.2.1","app":"myproc","pid":8710,"message":"%% It's time to make the do-nuts."}"#
        );
        assert_eq!(
            one(
                r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event log entry..."#
            ),
            r#"{"priority":165,"facility":"local4","severity":"notice","facility_code":20,"severity_code":5,"version":1,"time":"2003-10-11T22:14:15.003Z","host":"mymachine.example.com","app":"evntslog","msgid":"ID47","data":{"exampleSDID@32473":{"iut":"3","eventSource":"Application","eventID":"1011"}},"message":"An application event log entry..."}"#
        );
        assert_eq!(
            one(
                r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]"#
            ),
            r#"{"priority":165,"facility":"local4","severity":"notice","facility_code":20,"severity_code":5,"version":1,"time":"2003-10-11T22:14:15.003Z","host":"mymachine.example.com","app":"evntslog","msgid":"ID47","data":{"exampleSDID@32473":{"iut":"3","eventSource":"Application","eventID":"1011"},"examplePriority@32473":{"class":"high"}}}"#
        );
        assert_eq!(
            one(r#"<14>1 - - - - - [x a="q\"\]\\\n"]"#),
            r#"{"priority":14,"facility":"user","severity":"info","facility_code":1,"severity_code":6,"version":1,"data":{"x":{"a":"q\"]\\\\n"}}}"#
        );
    }

    #[test]
    fn rfc3164_examples() {
        // RFC 3164 section 5.4.
        assert_eq!(
            one("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8"),
            r#"{"priority":34,"facility":"auth","severity":"crit","facility_code":4,"severity_code":2,"time":"Oct 11 22:14:15","host":"mymachine","app":"su","message":"'su root' failed for lonvick on /dev/pts/8"}"#
        );
        assert_eq!(
            one("<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!"),
            r#"{"priority":13,"facility":"user","severity":"notice","facility_code":1,"severity_code":5,"time":"Feb  5 17:32:18","host":"10.0.0.99","message":"Use the BFG!"}"#
        );
        assert_eq!(
            one(
                "<0>1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: That's All Folks!"
            ),
            r#"{"priority":0,"facility":"kern","severity":"emerg","facility_code":0,"severity_code":0,"message":"1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: That's All Folks!"}"#
        );
    }

    #[test]
    fn var_log_lines_without_priority() {
        assert_eq!(
            one(
                "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0 "
            ),
            r#"{"time":"Jun 14 15:16:01","host":"combo","app":"sshd(pam_unix)","pid":19939,"message":"authentication failure; logname= uid=0 "}"#
        );
        assert_eq!(
            one("Jun 19 04:09:11 combo syslogd 1.4.1: restart."),
            r#"{"time":"Jun 19 04:09:11","host":"combo","app":"syslogd","message":"1.4.1: restart."}"#
        );
        // A name then words is still all message.
        assert_eq!(
            one("Jun 19 04:09:11 combo kernel panic: 3 CPUs"),
            r#"{"time":"Jun 19 04:09:11","host":"combo","message":"kernel panic: 3 CPUs"}"#
        );
        assert_eq!(
            one("Jul  1 09:29:02 calvisitor-10-105-160-95 sandboxd[129] ([31211]): deny"),
            r#"{"time":"Jul  1 09:29:02","host":"calvisitor-10-105-160-95","app":"sandboxd","pid":129,"message":"([31211]): deny"}"#
        );
        assert_eq!(
            one("Jul  4 23:22:09 calvisitor Microsoft Word[14463]: Cocoa scripting error"),
            r#"{"time":"Jul  4 23:22:09","host":"calvisitor","app":"Microsoft Word","pid":14463,"message":"Cocoa scripting error"}"#
        );
        assert_eq!(
            one("Jul  7 08:06:15 combo  -- root[2421]: ROOT LOGIN ON tty2"),
            r#"{"time":"Jul  7 08:06:15","host":"combo","message":"-- root[2421]: ROOT LOGIN ON tty2"}"#
        );
        assert_eq!(
            one("Dec 10 06:55:46 sshd[24200]: Invalid user webmaster"),
            r#"{"time":"Dec 10 06:55:46","app":"sshd","pid":24200,"message":"Invalid user webmaster"}"#
        );
        assert_eq!(
            one("2024-01-02T03:04:05.123+01:00 host kernel: [ 0.0] Linux"),
            r#"{"time":"2024-01-02T03:04:05.123+01:00","host":"host","app":"kernel","message":"[ 0.0] Linux"}"#
        );
    }

    #[test]
    fn rfc5424_without_priority() {
        assert_eq!(
            one("1 2020-05-22T14:59:09.250-03:00 host app 6589 - - msg"),
            r#"{"version":1,"time":"2020-05-22T14:59:09.250-03:00","host":"host","app":"app","pid":6589,"message":"msg"}"#
        );
        assert_eq!(
            one(r#"1 - host app - ID47 [x@1 a="b"] hi"#),
            r#"{"version":1,"host":"host","app":"app","msgid":"ID47","data":{"x@1":{"a":"b"}},"message":"hi"}"#
        );
        // Not a version and a time: the 3164 reading (here: no time, dropped).
        assert!(run(Bad::Drop, &[b"1 2020 host app"]).unwrap().is_empty());
    }

    #[test]
    fn other_lines_do_not_fit() {
        let lines: &[&[u8]] = &[
            b"",
            b"hello",
            b"<999>1 x",
            b"<34",
            b"Foo 11 22:14:15 h a: m",
            b"<34>1 2003-10-11T22:14:15Z h a - - [unclosed x=\"1\"",
            b"<34>1 2003-10-11T22:14:15Z",
        ];
        assert!(run(Bad::Drop, lines).unwrap().is_empty());
        let e = run(Bad::Strict, &[b"Jun 14 15:16:01 ok a: m", b"nope"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "syslog: standard input:2: no syslog time (Mmm dd hh:mm:ss) at the start"
        );
    }

    #[test]
    fn invalid_utf8_and_hostile_lines() {
        let got = run(Bad::Drop, &[b"Jun 14 15:16:01 h a[1]: \xff\r"]).unwrap();
        assert_eq!(
            got,
            [
                "{\"time\":\"Jun 14 15:16:01\",\"host\":\"h\",\"app\":\"a\",\"pid\":1,\"message\":\"\u{FFFD}\"}"
            ]
        );
        let mut sd = b"<1>1 - - - - - ".to_vec();
        sd.extend(std::iter::repeat_n(b'[', 100_000));
        assert!(run(Bad::Drop, &[&sd]).unwrap().is_empty());
        let mut q = b"<1>1 - - - - - [a b=\"".to_vec();
        q.extend(std::iter::repeat_n(b'\\', 100_001));
        assert!(run(Bad::Drop, &[&q]).unwrap().is_empty());
    }
}
