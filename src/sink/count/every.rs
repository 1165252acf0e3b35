//! `count --every DURATION`: the count of each interval, printed as the interval ends after
//! the interval's end time (`2026-12-01T10:00:10Z 42`), from a timer of the scheduler (see
//! `Stage::tick`), so that a quiet interval still prints its 0; at the end of the stream the
//! last, partial interval is printed too. With `--by`, each interval prints the block of its
//! counts per value ([`Tally`]), each row with the interval's end time.

use std::cell::RefCell;
use std::rc::Rc;

use anyhow::Result;

use crate::item::{Item, Origin, count_lines};
use crate::protocol::def::{BuildCx, Status};
use crate::protocol::{Flow, Stage};
use crate::runtime::output::Output;
use crate::sink::count::Tally;

/// `count --every`: the count of each interval, printed as the interval ends.
pub struct Every {
    n: u64,
    /// With `--by`: the counts per value of the current interval.
    by: Option<Tally>,
    every: std::time::Duration,
    /// When the current interval ends, on the monotonic clock and on the wall clock.
    end: std::time::Instant,
    end_wall: std::time::SystemTime,
    timer: crate::runtime::timer::Timer,
    out: Rc<RefCell<Output>>,
    status: Status,
    line: Vec<u8>,
}

impl Every {
    pub fn new(every: std::time::Duration, by: Option<Tally>, cx: &BuildCx<'_>) -> Self {
        let timer = cx.timers.timer();
        let end = std::time::Instant::now() + every;
        timer.wake_at(end);
        Every {
            n: 0,
            by,
            every,
            end,
            end_wall: std::time::SystemTime::now() + every,
            timer,
            out: cx.stdout.clone(),
            status: cx.status.clone(),
            line: Vec::with_capacity(64),
        }
    }

    /// Print one interval: its end time and its count; start the next one.
    fn print(&mut self, wall: std::time::SystemTime) -> Result<()> {
        self.line.clear();
        write_utc(&mut self.line, wall);
        if let Some(by) = &mut self.by {
            let time = String::from_utf8_lossy(&self.line).into_owned();
            self.line.clear();
            by.write(Some(&time), &mut self.line);
        } else {
            self.line.push(b' ');
            self.line
                .extend_from_slice(itoa::Buffer::new().format(self.n).as_bytes());
            self.line.push(b'\n');
        }
        if self.n > 0 {
            self.status.mark_delivered();
        }
        self.n = 0;
        let mut out = self.out.borrow_mut();
        out.write_all(&self.line)?;
        out.flush()?;
        // The lines counted are now written (as their count).
        self.timer.holding(false);
        Ok(())
    }
}

impl Stage for Every {
    fn send(&mut self, item: Item<'_>) -> Result<Flow> {
        if self.n == 0 {
            self.timer.holding(true);
        }
        self.n += 1;
        if let Some(by) = &mut self.by {
            by.add(item);
        }
        Ok(Flow::Continue)
    }

    fn send_lines(&mut self, batch: &[u8]) -> Result<Flow> {
        if self.n == 0 {
            self.timer.holding(true);
        }
        self.n += count_lines(batch);
        Ok(Flow::Continue)
    }

    fn origin(&mut self, _origin: Origin<'_>) -> Result<()> {
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        Ok(())
    }

    fn tick(&mut self, now: std::time::Instant) -> Result<()> {
        // After a long stall (a suspended process) each missed interval prints its line.
        while now >= self.end {
            let wall = self.end_wall;
            self.print(wall)?;
            self.end += self.every;
            self.end_wall += self.every;
        }
        self.timer.wake_at(self.end);
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        self.print(std::time::SystemTime::now())
    }
}

/// `2026-12-01T10:00:10Z`: a time in UTC, to the second.
fn write_utc(out: &mut Vec<u8>, t: std::time::SystemTime) {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    let s = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    );
    out.extend_from_slice(s.as_bytes());
}

/// The date of a day number since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_times_are_rfc3339() {
        let mut out = Vec::new();
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_795_860_010);
        write_utc(&mut out, t);
        assert_eq!(out, b"2026-11-28T10:00:10Z");
        out.clear();
        write_utc(
            &mut out,
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(951_782_400),
        );
        assert_eq!(out, b"2000-02-29T00:00:00Z");
    }
}
