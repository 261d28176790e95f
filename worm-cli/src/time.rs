//! `--since` / `--until` values: RFC 3339, a date, or an age.

use chrono::{DateTime, NaiveDate, Utc};

use crate::cli::TimeArgs;
use crate::error::{CliError, CliResult};

/// Parse `2025-06-12T10:30:00Z` (any offset), `2025-06-12` (midnight UTC), or an age
/// before `now`: a number followed by `s`, `m`, `h` or `d` (`15m`, `7d`).
pub fn parse_time(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if let Ok(t) = worm::record::timestamp::parse(s) {
        return Ok(t);
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    let (num, unit) = s.split_at(s.len().saturating_sub(1));
    let secs: i64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => 0,
    };
    match num.parse::<i64>() {
        Ok(n) if secs > 0 && n >= 0 => n
            .checked_mul(secs)
            .and_then(chrono::TimeDelta::try_seconds)
            .and_then(|d| now.checked_sub_signed(d))
            .ok_or_else(|| format!("'{s}' reaches too far back")),
        _ => Err(format!(
            "'{s}' is not a time: use RFC 3339 (2025-06-12T10:30:00Z), a date (2025-06-12) \
             or an age (15m, 2h, 7d)"
        )),
    }
}

/// A parsed `--since` / `--until` pair.
pub type Range = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// The `--since` / `--until` pair, parsed.
pub fn range(t: &TimeArgs) -> CliResult<Range> {
    let now = Utc::now();
    let one = |flag: &str, v: &Option<String>| {
        v.as_deref()
            .map(|s| parse_time(s, now).map_err(|e| CliError::fatal(format!("{flag}: {e}"))))
            .transpose()
    };
    Ok((one("--since", &t.since)?, one("--until", &t.until)?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let now = worm::record::timestamp::parse("2025-06-12T10:00:00Z").unwrap();
        let p = |s| parse_time(s, now).unwrap().to_rfc3339();
        assert_eq!(p("2025-06-12T12:30:00+02:00"), "2025-06-12T10:30:00+00:00");
        assert_eq!(p("2025-06-11"), "2025-06-11T00:00:00+00:00");
        assert_eq!(p("15m"), "2025-06-12T09:45:00+00:00");
        assert_eq!(p("2d"), "2025-06-10T10:00:00+00:00");
        assert!(
            parse_time("yesterday", now)
                .unwrap_err()
                .contains("yesterday")
        );
        assert!(parse_time("-5m", now).is_err());
    }
}
