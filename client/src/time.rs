//! Conversions between the protobuf time types of the messages and std's.
//!
//! Anything that converts into [`SystemTime`] is accepted, so chrono's `DateTime<Utc>` works
//! as well as `SystemTime::now()`:
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use northstar_jira_client::time;
//! let detected = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! let stamp = time::timestamp(detected);
//! assert_eq!(stamp.seconds, 1_700_000_000);
//! assert_eq!(time::to_system_time(&stamp), Some(detected));
//! ```
use std::time::SystemTime;

use prost_types::{Duration, Timestamp};

/// A protobuf timestamp for `time`.
pub fn timestamp(time: impl Into<SystemTime>) -> Timestamp {
    Timestamp::from(time.into())
}

/// The timestamp of the present moment.
pub fn now() -> Timestamp {
    timestamp(SystemTime::now())
}

/// `timestamp` as a [`SystemTime`]; None when it is out of range or malformed.
pub fn to_system_time(timestamp: &Timestamp) -> Option<SystemTime> {
    SystemTime::try_from(*timestamp).ok()
}

/// A protobuf duration for `duration`; None if it exceeds protobuf's range.
pub fn duration(duration: std::time::Duration) -> Option<Duration> {
    Duration::try_from(duration).ok()
}

/// `duration` as a [`std::time::Duration`]; None when it is negative or malformed.
pub fn to_duration(duration: &Duration) -> Option<std::time::Duration> {
    std::time::Duration::try_from(*duration).ok()
}

/// `duration` in words a person reads at a glance: `45s`, `12m 5s`, `3h 20m`, `2d 4h`.
/// Sub-second durations show milliseconds (`250ms`).
pub fn human(duration: std::time::Duration) -> String {
    let secs = duration.as_secs();
    let (days, hours, minutes, seconds) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match () {
        _ if days > 0 => format!("{days}d {hours}h"),
        _ if hours > 0 => format!("{hours}h {minutes}m"),
        _ if minutes > 0 => format!("{minutes}m {seconds}s"),
        _ if secs > 0 => format!("{:.1}s", duration.as_secs_f64()),
        _ => format!("{}ms", duration.as_millis()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip_and_read_well() {
        let d = std::time::Duration::from_millis(1500);
        assert_eq!(to_duration(&duration(d).unwrap()), Some(d));
        assert_eq!(to_duration(&Duration { seconds: -1, nanos: 0 }), None);
        assert_eq!(human(d), "1.5s");
        assert_eq!(human(std::time::Duration::from_millis(250)), "250ms");
        assert_eq!(human(std::time::Duration::from_secs(725)), "12m 5s");
        assert_eq!(human(std::time::Duration::from_secs(3 * 3600 + 20 * 60 + 7)), "3h 20m");
        assert_eq!(human(std::time::Duration::from_secs(2 * 86_400 + 4 * 3600)), "2d 4h");
    }
}
