//! The units options take and messages say: durations (`500ms`, `10s`, `5m`, `1h`), as every
//! stage with a time option parses them, and sizes (`64K`, `16M`), as every size option
//! parses them and `--max-line` shows them.

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

/// A size in bytes: a number, with an optional `K`, `M` or `G` (powers of 1024; `KB`,
/// `KiB` and lower case too), as `--max-line`, `listen --rcvbuf` and `multiline
/// --max-bytes` take it. Zero is refused.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let n: usize = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size (a number, with K, M or G after it)"))?;
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(format!("`{s}`: unknown unit (K, M or G)")),
    };
    match n.checked_mul(1 << shift) {
        Some(0) => Err("the size must be at least 1 byte".into()),
        Some(v) => Ok(v),
        None => Err(format!("`{s}` is too big")),
    }
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
    fn sizes_take_k_m_g_in_any_case_and_refuse_zero_and_junk() {
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert_eq!(parse_size("8MiB"), Ok(8 << 20));
        assert_eq!(parse_size(" 100 "), Ok(100));
        assert!(parse_size("0").unwrap_err().contains("at least 1 byte"));
        assert!(parse_size("x").unwrap_err().contains("not a size"));
        assert!(parse_size("4T").unwrap_err().contains("unknown unit"));
        assert!(parse_size("99999999999999999999G").is_err());
    }

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
