//! When to try a Jira call again, as Atlassian publishes it: `Retry-After` when Jira sends it
//! (on 429 and 503), whatever its length; otherwise exponential backoff from a base (5 s) to a
//! cap (30 s) with a ×0.7–1.3 jitter. One function serves the in-process retries of interactive
//! calls and the durable schedule of deliveries.
use std::time::Duration;

use super::JiraError;

/// Backoff settings (`NORTHSTAR_JIRA_BACKOFF_BASE`, `NORTHSTAR_JIRA_BACKOFF_MAX`).
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// The first wait without Retry-After.
    pub base: Duration,
    /// The longest wait without Retry-After.
    pub max: Duration,
    /// Retries an interactive call makes before it reports the failure.
    pub interactive_retries: u32,
    /// The longest Retry-After an interactive call waits out; beyond it the caller is told.
    pub interactive_max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(5),
            max: Duration::from_secs(30),
            interactive_retries: 4,
            interactive_max_wait: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `failures + 1`, after `failures` failed attempts (≥ 1) ending in
    /// `err`; `None` when retrying cannot help. `jitter` is a sample in [0, 1).
    pub fn delay(&self, failures: u32, err: &JiraError, jitter: f64) -> Option<Duration> {
        if !err.is_retryable() {
            return None;
        }
        if let Some(wait) = err.retry_after() {
            // Jira says reissuing earlier fails with the same or a longer wait: add, never cut.
            return Some(wait + wait.mul_f64(0.3 * jitter));
        }
        let exponent = failures.saturating_sub(1).min(16);
        let raw = self.base.saturating_mul(1 << exponent).min(self.max);
        Some(raw.mul_f64(0.7 + 0.6 * jitter))
    }

    /// A jitter sample.
    pub fn jitter() -> f64 {
        rand::random::<f64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_error() -> JiraError {
        JiraError::Server { status: 500, message: String::new() }
    }

    #[test]
    fn backoff_doubles_from_the_base_to_the_cap_with_jitter() {
        let policy = RetryPolicy::default();
        let at = |n, jitter| policy.delay(n, &server_error(), jitter).unwrap();
        assert_eq!(at(1, 0.5), Duration::from_secs(5));
        assert_eq!(at(2, 0.5), Duration::from_secs(10));
        assert_eq!(at(3, 0.5), Duration::from_secs(20));
        assert_eq!(at(4, 0.5), Duration::from_secs(30));
        assert_eq!(at(40, 0.5), Duration::from_secs(30));
        assert_eq!(at(1, 0.0), Duration::from_millis(3500));
        assert_eq!(at(1, 1.0), Duration::from_millis(6500));
    }

    #[test]
    fn retry_after_wins_whatever_its_length() {
        let policy = RetryPolicy::default();
        let limited = JiraError::RateLimited { status: 429, retry_after: Some(Duration::from_secs(3600)) };
        assert_eq!(policy.delay(1, &limited, 0.0), Some(Duration::from_secs(3600)));
        assert!(policy.delay(1, &limited, 0.99).unwrap() <= Duration::from_secs(3600 * 13 / 10));
        let without = JiraError::RateLimited { status: 429, retry_after: None };
        assert_eq!(policy.delay(2, &without, 0.5), Some(Duration::from_secs(10)));
    }

    #[test]
    fn permanent_failures_are_not_retried() {
        assert_eq!(RetryPolicy::default().delay(1, &JiraError::Unauthorized, 0.5), None);
    }
}
