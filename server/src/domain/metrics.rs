//! Remediation-time statistics from log-scaled histograms: exact counts and means, medians and
//! p90s within 1%. The buckets are the database's (`metrics_bucket` in the metrics migration):
//! bucket b >= 1 holds [1.02^(b-1), 1.02^b) milliseconds, bucket 0 what is under a millisecond.
use std::collections::BTreeMap;

use chrono::{DateTime, Duration, DurationRound as _, Utc};

/// Width of a bucket, as a ratio of its bounds.
const GROWTH: f64 = 1.02;

/// The value reported for a bucket: its geometric middle, within 1% of anything in it
/// (sqrt(1.02) - 1 < 0.995%). Times under a millisecond are reported as half of one.
pub fn representative_seconds(bucket: i32) -> f64 {
    if bucket <= 0 { 0.0005 } else { GROWTH.powf(f64::from(bucket) - 0.5) / 1000.0 }
}

/// Remediation times of one slice.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Remediation {
    /// Tickets counted.
    pub count: i64,
    /// Sum of their times, in seconds.
    pub seconds_sum: f64,
    /// Tickets per bucket.
    pub buckets: BTreeMap<i32, i64>,
}

impl Remediation {
    /// Adds tickets counted elsewhere (a rollup or a raw slice).
    pub fn add(&mut self, count: i64, seconds_sum: f64) {
        self.count += count;
        self.seconds_sum += seconds_sum;
    }

    /// Adds tickets to a bucket.
    pub fn add_bucket(&mut self, bucket: i32, count: i64) {
        if count != 0 {
            *self.buckets.entry(bucket).or_default() += count;
        }
    }

    /// Merges another slice into this one.
    pub fn merge(&mut self, other: &Remediation) {
        self.add(other.count, other.seconds_sum);
        for (b, n) in &other.buckets {
            self.add_bucket(*b, *n);
        }
    }

    /// The exact mean, when anything was counted.
    pub fn mean_seconds(&self) -> Option<f64> {
        (self.count > 0).then(|| self.seconds_sum / self.count as f64)
    }

    /// The nearest-rank percentile `p` (0 < p <= 1): the time of the ticket at rank
    /// ceil(p * n), within 1%.
    pub fn percentile_seconds(&self, p: f64) -> Option<f64> {
        let total: i64 = self.buckets.values().sum();
        if total <= 0 {
            return None;
        }
        let rank = ((p * total as f64).ceil() as i64).clamp(1, total);
        let mut seen = 0;
        for (bucket, n) in &self.buckets {
            seen += n;
            if seen >= rank {
                return Some(representative_seconds(*bucket));
            }
        }
        None
    }
}

/// How a window splits: whole UTC days the daily rollups answer for, whole hours of the
/// partial days the hourly rollups answer for, and the partial hours at the very edges that are
/// read from the tickets themselves (so a raw read never spans more than two hours).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowPlan {
    /// Whole days `[first, last)` (as midnight instants), when there are any.
    pub days: Option<Span>,
    /// Whole hours `[from, to)` outside the whole days.
    pub hours: Vec<Span>,
    /// Partial spans read raw, `[from, to)`.
    pub raw: Vec<Span>,
}

/// A half-open span of time, `[from, to)`.
pub type Span = (DateTime<Utc>, DateTime<Utc>);

/// `[start, end)` as whole units of `unit` in the middle and what is left on either side.
fn split(start: DateTime<Utc>, end: DateTime<Utc>, unit: Duration) -> (Option<Span>, Vec<Span>) {
    let floor = |t: DateTime<Utc>| t.duration_trunc(unit).unwrap_or(t);
    let first = if floor(start) == start { start } else { floor(start).checked_add_signed(unit).unwrap_or(start) };
    let last = floor(end);
    if first >= last {
        return (None, vec![(start, end)]);
    }
    let rest = [(start, first), (last, end)].into_iter().filter(|(a, b)| a < b).collect();
    (Some((first, last)), rest)
}

/// Splits `[start, end)` into whole days, whole hours and raw edges.
pub fn plan_window(start: DateTime<Utc>, end: DateTime<Utc>) -> WindowPlan {
    let (days, partial_days) = split(start, end, Duration::days(1));
    let mut plan = WindowPlan { days, hours: Vec::new(), raw: Vec::new() };
    for (from, to) in partial_days {
        let (hours, partial_hours) = split(from, to, Duration::hours(1));
        plan.hours.extend(hours);
        plan.raw.extend(partial_hours);
    }
    plan
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    /// The database's bucket function, for checking the error bound here.
    fn bucket(seconds: f64) -> i32 {
        if seconds < 0.001 { 0 } else { ((seconds * 1000.0).ln() / GROWTH.ln()).floor() as i32 + 1 }
    }

    #[test]
    fn percentiles_are_within_one_percent_of_the_exact_nearest_rank() {
        // A spread of realistic times: minutes to months, deterministic pseudo-random.
        let mut x: u64 = 0x9e3779b97f4a7c15;
        let mut times: Vec<f64> = (0..5000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                0.05 + (x % 10_000_000) as f64 / (1 + x % 1000) as f64
            })
            .collect();
        let mut r = Remediation::default();
        for t in &times {
            r.add(1, *t);
            r.add_bucket(bucket(*t), 1);
        }
        times.sort_by(f64::total_cmp);
        for p in [0.5, 0.9, 0.99, 1.0, 0.0001] {
            let exact = times[((p * times.len() as f64).ceil() as usize).clamp(1, times.len()) - 1];
            let approx = r.percentile_seconds(p).unwrap();
            assert!((approx - exact).abs() / exact < 0.01, "p{p}: {approx} vs {exact}");
        }
        let mean = times.iter().sum::<f64>() / times.len() as f64;
        assert!((r.mean_seconds().unwrap() - mean).abs() < 1e-6 * mean);
        assert_eq!(Remediation::default().percentile_seconds(0.5), None);
    }

    #[test]
    fn windows_split_into_whole_days_whole_hours_and_raw_edges() {
        let t = |d, h, m| Utc.with_ymd_and_hms(2026, 11, d, h, m, 0).unwrap();
        let plan = plan_window(t(1, 12, 30), t(5, 6, 15));
        assert_eq!(plan.days, Some((t(2, 0, 0), t(5, 0, 0))));
        assert_eq!(plan.hours, vec![(t(1, 13, 0), t(2, 0, 0)), (t(5, 0, 0), t(5, 6, 0))]);
        assert_eq!(plan.raw, vec![(t(1, 12, 30), t(1, 13, 0)), (t(5, 6, 0), t(5, 6, 15))]);
        let aligned = plan_window(t(1, 0, 0), t(3, 0, 0));
        assert_eq!(aligned, WindowPlan { days: Some((t(1, 0, 0), t(3, 0, 0))), hours: vec![], raw: vec![] });
        let short = plan_window(t(1, 3, 10), t(1, 3, 50));
        assert_eq!(short, WindowPlan { days: None, hours: vec![], raw: vec![(t(1, 3, 10), t(1, 3, 50))] });
        let across_midnight = plan_window(t(1, 20, 0), t(2, 4, 0));
        assert_eq!(across_midnight.days, None);
        assert_eq!(across_midnight.hours, vec![(t(1, 20, 0), t(2, 4, 0))]);
        assert!(across_midnight.raw.is_empty());
    }
}
