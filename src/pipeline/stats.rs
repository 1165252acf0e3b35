//! `--stats`: items in and out of every stage, and what the source read.
//!
//! When asked for, the builder wraps every stage in a [`Counted`] stage that counts the items
//! pushed into it (a batch counts its lines). A stage's *out* is the *in* of the stage it
//! pushes to (for `tee`, the stage after it; a `broadcast` or a sink has none), so each count
//! is taken once. The report goes to standard error at the end of the run — after an error,
//! Ctrl-C or a closed pipe too, since the run always ends by closing the chain.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Result;

use crate::item::{Item, Origin, count_lines};
use crate::protocol::{Flow, Stage};
use crate::runtime::delivery::Delivery;
use crate::runtime::meter::Meter;

pub use crate::runtime::counter::Counter;

/// A stage wrapped to count the items pushed into it.
pub struct Counted {
    pub inner: Box<dyn Stage>,
    pub count: Counter,
}

impl Stage for Counted {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        self.count.add(1);
        self.inner.send(item)
    }

    fn send_lines(&mut self, batch: &[u8]) -> Result<Flow> {
        self.count.add(count_lines(batch));
        self.inner.send_lines(batch)
    }

    fn send_mapped(&mut self, lines: crate::protocol::Mapped<'_>) -> Result<Flow> {
        self.count
            .set(self.count.get() + count_lines(lines.bytes()));
        self.inner.send_mapped(lines)
    }

    fn takes_rendered(&self) -> bool {
        self.inner.takes_rendered()
    }

    /// One record a line (compact JSON holds no newline).
    fn send_rendered(&mut self, ndjson: &[u8]) -> Result<Flow> {
        self.count.add(count_lines(ndjson));
        self.inner.send_rendered(ndjson)
    }

    fn origin(&mut self, origin: Origin<'_>) -> Result<()> {
        self.inner.origin(origin)
    }

    fn flush(&mut self) -> Result<()> {
        self.inner.flush()
    }

    fn tick(&mut self, now: std::time::Instant) -> Result<()> {
        self.inner.tick(now)
    }

    fn close(&mut self) -> Result<()> {
        self.inner.close()
    }
}

/// One stage of the report.
pub struct Row {
    /// The stage as written.
    pub label: String,
    /// Its branches' rows, each branch a list.
    pub branches: Vec<Vec<Row>>,
    /// Items pushed into it (`None` for the source).
    pub input: Option<Counter>,
    /// Items it pushed on (`None` for sinks and broadcast).
    pub output: Option<Counter>,
    /// An asynchronous sink's confirmations (`publish`): confirmed, dropped, duplicates.
    pub delivery: Option<std::sync::Arc<Delivery>>,
    /// Counters of its own (`send`'s dropped and undelivered items), each a row under it.
    pub notes: Vec<(&'static str, Counter)>,
}

/// The rows of the whole pipeline, the source first.
pub struct Stats {
    pub rows: Vec<Row>,
}

impl Stats {
    /// The report: a table on standard error.
    pub fn report(&self, meter: &Meter, elapsed: Duration) -> String {
        let mut lines = Vec::new();
        flatten(&self.rows, 0, &mut lines);
        let width = lines
            .iter()
            .map(|(l, _, _, _)| l.chars().count())
            .max()
            .unwrap_or(0)
            .max(5);
        let mut s = String::new();
        let secs = elapsed.as_secs_f64();
        let _ = writeln!(s, "copipe: stats after {secs:.3} s");
        let _ = writeln!(s, "  {:<width$}  {:>12}  {:>12}", "stage", "in", "out");
        for (i, (label, input, output, delivery)) in lines.iter().enumerate() {
            if label.trim_start().starts_with('{') {
                let _ = writeln!(s, "  {label}");
                continue;
            }
            let show = |c: &Option<u64>| c.map_or_else(|| "-".to_string(), |n| n.to_string());
            let _ = write!(
                s,
                "  {label:<width$}  {:>12}  {:>12}",
                show(input),
                show(output)
            );
            if let Some(d) = delivery {
                let _ = write!(s, "  {d}");
            }
            let bytes = meter.bytes();
            if i == 0
                && let Some(f) = meter.files()
            {
                let _ = write!(
                    s,
                    "  files: {} followed, {} discovered, {} closed;",
                    f.followed, f.discovered, f.closed
                );
                if f.parked > 0 {
                    let _ = write!(
                        s,
                        " {} parked (out of descriptors), {} reopened;",
                        f.parked, f.reopened
                    );
                }
            }
            if i == 0 && bytes > 0 {
                let _ = write!(s, "  {} read", human_bytes(bytes as f64));
                if secs > 0.0 {
                    let _ = write!(s, ", {}/s", human_bytes(bytes as f64 / secs));
                }
                if meter.lines_cut() > 0 {
                    let _ = write!(s, "; {} long lines cut (--max-line)", meter.lines_cut());
                }
                if meter.datagrams_dropped() > 0 {
                    let _ = write!(
                        s,
                        "; {} datagrams dropped by the kernel (receive buffer full)",
                        meter.datagrams_dropped()
                    );
                }
                if let Some(p) = meter.parts() {
                    let _ = write!(
                        s,
                        "; {} parts parsed by {} threads, {} again in order",
                        p.parallel, p.threads, p.again
                    );
                }
                if let Some(r) = meter.read_by() {
                    let _ = write!(s, "; read by {} threads", r.threads);
                    if r.parts > 0 {
                        let files = if r.split_files == 1 { "file" } else { "files" };
                        let _ = write!(s, ", {} big {files} in {} parts", r.split_files, r.parts);
                    }
                }
                for d in meter.decompressions() {
                    let files = if d.files == 1 { "file" } else { "files" };
                    let _ = write!(
                        s,
                        "; {} {} {files} decompressed ({} -> {})",
                        d.files,
                        d.format,
                        human_bytes(d.compressed as f64),
                        human_bytes(d.bytes as f64)
                    );
                }
            }
            s.push('\n');
        }
        s
    }
}

/// Rows in print order, branches indented under their fan-out.
type Line = (String, Option<u64>, Option<u64>, Option<String>);

fn flatten(rows: &[Row], depth: usize, out: &mut Vec<Line>) {
    for r in rows {
        out.push((
            format!("{}{}", "  ".repeat(depth), r.label),
            r.input.as_ref().map(|c| c.get()),
            r.output.as_ref().map(|c| c.get()),
            r.delivery.as_ref().map(|d| d.summary()),
        ));
        for (name, c) in &r.notes {
            out.push((
                format!("{}{name}", "  ".repeat(depth + 1)),
                None,
                Some(c.get()),
                None,
            ));
        }
        for (j, b) in r.branches.iter().enumerate() {
            out.push((
                format!("{}{{ branch {}", "  ".repeat(depth + 1), j + 1),
                None,
                None,
                None,
            ));
            flatten(b, depth + 2, out);
        }
    }
}

/// `1.5 MB`, decimal units as `ls -h --si`.
fn human_bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut n = n;
    let mut u = 0;
    while n >= 1000.0 && u + 1 < UNITS.len() {
        n /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n:.0} {}", UNITS[u])
    } else {
        format!("{n:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::testing::Collect;

    #[test]
    fn counts_items_and_batches() {
        let count = Counter::default();
        let mut c = Counted {
            inner: Box::new(Collect::default()),
            count: count.clone(),
        };
        let _ = c.send(Item::Line(b"x")).unwrap();
        let _ = c.send_lines(b"a\nb\nc").unwrap();
        assert_eq!(count.get(), 4);
    }

    #[test]
    fn report_layout() {
        let c = |n| {
            let c = Counter::default();
            c.set(n);
            Some(c)
        };
        let stats = Stats {
            rows: vec![
                Row {
                    label: "cat f".into(),
                    branches: vec![],
                    input: None,
                    output: c(10),
                    delivery: None,
                    notes: vec![],
                },
                Row {
                    label: "tee".into(),
                    branches: vec![vec![Row {
                        label: "send tcp://h:1".into(),
                        branches: vec![],
                        input: c(10),
                        output: None,
                        delivery: None,
                        notes: vec![("dropped", c(3).unwrap()), ("undelivered", c(2).unwrap())],
                    }]],
                    input: c(10),
                    output: c(10),
                    delivery: None,
                    notes: vec![],
                },
            ],
        };
        let m = Meter::default();
        m.read(1500);
        let r = stats.report(&m, Duration::from_secs(1));
        let want = "\
copipe: stats after 1.000 s
  stage                         in           out
  cat f                          -            10  1.5 kB read, 1.5 kB/s
  tee                           10            10
    { branch 1
      send tcp://h:1            10             -
        dropped                  -             3
        undelivered              -             2
";
        assert_eq!(r, want);
    }

    #[test]
    fn human_units() {
        assert_eq!(human_bytes(999.0), "999 B");
        assert_eq!(human_bytes(1_234_567.0), "1.2 MB");
    }
}
