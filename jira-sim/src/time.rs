//! The simulator's clock and Jira's timestamp formats.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// Jira's body timestamp format: `2026-11-28T10:15:30.123+0000`.
///
/// Note the `+0000` offset, which `DateTime::parse_from_rfc3339` rejects.
pub const JIRA_TIMESTAMP_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.3f%z";

/// Formats a timestamp the way Jira writes it in REST and webhook bodies.
pub fn format_jira(ts: DateTime<Utc>) -> String {
    ts.format(JIRA_TIMESTAMP_FORMAT).to_string()
}

/// Parses a timestamp in Jira's body format (any offset).
pub fn parse_jira(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(s, JIRA_TIMESTAMP_FORMAT).ok().map(|d| d.with_timezone(&Utc))
}

/// Wall clock with an adjustable offset, so tests can move time forward
/// (e.g. to exercise `updated >= "…"` searches) without sleeping.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    /// Current simulated time, truncated to milliseconds like Jira's.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        let real = Utc::now().timestamp_millis();
        let ms = real.saturating_add(self.offset_ms.load(Ordering::Relaxed));
        Utc.timestamp_millis_opt(ms).single().unwrap_or_else(Utc::now)
    }

    pub(crate) fn advance(&self, by: chrono::Duration) {
        self.offset_ms.fetch_add(by.num_milliseconds(), Ordering::Relaxed);
    }
}

/// Parses the date forms JQL accepts: `yyyy-MM-dd HH:mm`, `yyyy/MM/dd HH:mm`,
/// `yyyy-MM-dd`, `yyyy/MM/dd`, and relative offsets like `-5m`, `-2h`, `-1d`, `-1w`.
/// Absolute times are read in UTC, the seeded accounts' time zone.
pub(crate) fn parse_jql_date(s: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let s = s.trim();
    for fmt in ["%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(Utc.from_utc_datetime(&dt));
        }
    }
    for fmt in ["%Y-%m-%d", "%Y/%m/%d"] {
        if let Ok(d) = NaiveDate::parse_from_str(s, fmt) {
            return d.and_hms_opt(0, 0, 0).map(|dt| Utc.from_utc_datetime(&dt));
        }
    }
    relative(s).map(|delta| now + delta)
}

fn relative(s: &str) -> Option<chrono::Duration> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'-' => (-1, &s[1..]),
        b'+' => (1, &s[1..]),
        _ => (1, s),
    };
    let unit = rest.chars().last()?;
    let n: i64 = rest[..rest.len() - unit.len_utf8()].parse().ok()?;
    let d = match unit {
        'm' => chrono::Duration::minutes(n),
        'h' => chrono::Duration::hours(n),
        'd' => chrono::Duration::days(n),
        'w' => chrono::Duration::weeks(n),
        _ => return None,
    };
    Some(d * sign)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_jira() {
        let ts = Utc.with_ymd_and_hms(2026, 11, 28, 10, 15, 30).unwrap() + chrono::Duration::milliseconds(123);
        assert_eq!(format_jira(ts), "2026-11-28T10:15:30.123+0000");
        assert_eq!(parse_jira("2026-11-28T10:15:30.123+0000"), Some(ts));
    }

    #[test]
    fn parses_jql_dates() {
        let now = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
        assert_eq!(
            parse_jql_date("2026-11-28 10:15", now),
            Some(Utc.with_ymd_and_hms(2026, 11, 28, 10, 15, 0).unwrap())
        );
        assert_eq!(parse_jql_date("-1d", now), Some(Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap()));
        assert_eq!(parse_jql_date("yesterday", now), None);
    }
}
