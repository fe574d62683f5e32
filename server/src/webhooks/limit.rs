//! The per-configuration webhook rate limit. It applies to verified requests only, so a flood
//! of forged ones (the URL is visible to Jira admins and proxies) cannot spend the budget of
//! Jira's real deliveries; keys are therefore bounded by the number of configurations. A refused
//! request gets 429 with Retry-After, which Jira retries.
use std::{num::NonZeroU32, time::Duration};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock as _};
use uuid::Uuid;

/// Token buckets, one per configuration.
pub struct WebhookLimiter {
    buckets: Option<DefaultKeyedRateLimiter<Uuid>>,
}

impl WebhookLimiter {
    /// `per_second` sustained requests per configuration, with bursts of two seconds' worth;
    /// `None` turns the limit off.
    pub fn new(per_second: Option<NonZeroU32>) -> Self {
        let buckets = per_second.map(|rate| {
            let burst = rate.saturating_mul(NonZeroU32::new(2).expect("2 is not zero"));
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        Self { buckets }
    }

    /// `Err(wait)` when `configuration` is over its budget: how long until a request may pass.
    pub fn check(&self, configuration: Uuid) -> Result<(), Duration> {
        let Some(buckets) = &self.buckets else {
            return Ok(());
        };
        buckets.check_key(&configuration).map_err(|not_until| not_until.wait_time_from(buckets.clock().now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_configuration_has_its_own_budget() {
        let limiter = WebhookLimiter::new(NonZeroU32::new(5));
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        // A burst of two seconds' worth passes, the next is refused with a wait of about 1/5 s.
        for _ in 0..10 {
            assert!(limiter.check(a).is_ok());
        }
        let wait = limiter.check(a).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(200), "{wait:?}");
        assert!(limiter.check(b).is_ok(), "another configuration is not affected");
    }

    #[test]
    fn no_rate_means_no_limit() {
        let limiter = WebhookLimiter::new(None);
        let id = Uuid::now_v7();
        assert!((0..10_000).all(|_| limiter.check(id).is_ok()));
    }
}
