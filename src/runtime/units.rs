//! The units options take and messages say: durations (`500ms`, `10s`, `5m`, `1h`), as every
//! stage with a time option parses them, and sizes as `--max-line` shows them (`16M`).

/// A duration as `500ms`, `10s`, `5m`, `1h` or a number of seconds (`2.5`).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 500ms, 10s, 5m, 1h)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (use ms, s, m or h)")),
    };
    if !(secs.is_finite() && secs >= 0.001) {
        return Err(format!("`{s}` is too short: at least 1ms"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// `16M`, `64K`, `1000 bytes`: a size as `--max-line` takes it.
pub fn size_text(n: usize) -> String {
    for (shift, unit) in [(30, 'G'), (20, 'M'), (10, 'K')] {
        if n >= 1 << shift && n.is_multiple_of(1 << shift) {
            return format!("{}{unit}", n >> shift);
        }
    }
    format!("{n} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_their_units() {
        use std::time::Duration;
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn sizes_are_shown_as_max_line_takes_them() {
        assert_eq!(size_text(16 << 20), "16M");
        assert_eq!(size_text(64 << 10), "64K");
        assert_eq!(size_text(1 << 30), "1G");
        assert_eq!(size_text(1000), "1000 bytes");
    }
}
