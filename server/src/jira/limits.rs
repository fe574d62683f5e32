//! Per-credential fairness: a concurrency limit, a request budget (token bucket), and a pause
//! that a 429's Retry-After imposes on every request of that credential, so one tenant cannot
//! spend a Jira site's burst limit for everybody, and a rate-limited site is not hammered.
//!
//! Hand-written rather than governor: it runs on tokio's clock, so tests can drive it with a
//! paused clock, and the Retry-After pause has to share its state anyway.
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore},
    time::Instant,
};

/// Limits applied to each credential.
#[derive(Debug, Clone, Copy)]
pub struct SiteLimits {
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Sustained requests per second (`None`: unlimited).
    pub requests_per_second: Option<f64>,
    /// Requests that may be sent at once before the rate applies.
    pub burst: f64,
}

impl Default for SiteLimits {
    fn default() -> Self {
        Self { concurrency: 10, requests_per_second: Some(50.0), burst: 50.0 }
    }
}

struct Bucket {
    tokens: f64,
    refilled_at: Instant,
    paused_until: Option<Instant>,
}

struct Site {
    permits: Arc<Semaphore>,
    bucket: Mutex<Bucket>,
}

/// The limiters of every credential seen, by key.
#[derive(Clone)]
pub struct Limiter {
    limits: SiteLimits,
    sites: Arc<Mutex<HashMap<String, Arc<Site>>>>,
}

/// Held while a request is in flight.
pub struct Permit {
    _permit: OwnedSemaphorePermit,
}

impl Limiter {
    /// Limiters that apply `limits` to each key.
    pub fn new(limits: SiteLimits) -> Self {
        Self { limits, sites: Arc::default() }
    }

    fn site(&self, key: &str) -> Arc<Site> {
        let mut sites = self.sites.lock().unwrap_or_else(|e| e.into_inner());
        sites
            .entry(key.to_owned())
            .or_insert_with(|| {
                Arc::new(Site {
                    permits: Arc::new(Semaphore::new(self.limits.concurrency.max(1))),
                    bucket: Mutex::new(Bucket {
                        tokens: self.limits.burst,
                        refilled_at: Instant::now(),
                        paused_until: None,
                    }),
                })
            })
            .clone()
    }

    /// Waits for a pause to end, a budget token, and a concurrency slot.
    pub async fn acquire(&self, key: &str) -> Permit {
        let site = self.site(key);
        loop {
            let wait = {
                let mut bucket = site.bucket.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                match bucket.paused_until {
                    Some(until) if until > now => Some(("retry_after", until - now)),
                    _ => self.take_token(&mut bucket, now).map(|wait| ("rate", wait)),
                }
            };
            match wait {
                Some((reason, wait)) => {
                    record_wait(reason, wait);
                    tokio::time::sleep(wait).await;
                }
                None => break,
            }
        }
        let permit = match site.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let started = Instant::now();
                let permit = site.permits.clone().acquire_owned().await.expect("the semaphore is never closed");
                record_wait("concurrency", started.elapsed());
                permit
            }
        };
        Permit { _permit: permit }
    }

    fn take_token(&self, bucket: &mut Bucket, now: Instant) -> Option<Duration> {
        let rate = self.limits.requests_per_second?;
        let elapsed = now.duration_since(bucket.refilled_at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(self.limits.burst.max(1.0));
        bucket.refilled_at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            None
        } else {
            Some(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }

    /// Holds every request of `key` back for `wait` (Jira's Retry-After).
    pub fn pause(&self, key: &str, wait: Duration) {
        let site = self.site(key);
        let mut bucket = site.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let until = Instant::now() + wait;
        bucket.paused_until = Some(bucket.paused_until.map_or(until, |u| u.max(until)));
    }
}

/// Why a credential's requests are held back, and for how long: a 429 storm, a tenant at its
/// budget, and a slow Jira look alike from the delivery side.
fn record_wait(reason: &'static str, wait: Duration) {
    metrics::counter!("northstar_jira_rate_limit_waits_total", "reason" => reason).increment(1);
    metrics::histogram!("northstar_jira_rate_limit_wait_seconds", "reason" => reason).record(wait.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_budget_spaces_requests_after_the_burst() {
        let limiter = Limiter::new(SiteLimits { concurrency: 100, requests_per_second: Some(10.0), burst: 2.0 });
        let start = Instant::now();
        for _ in 0..4 {
            drop(limiter.acquire("a").await);
        }
        // Two from the burst, then one every 100 ms.
        assert_eq!(start.elapsed(), Duration::from_millis(200));
        // Another credential has its own budget.
        let other = Instant::now();
        drop(limiter.acquire("b").await);
        assert_eq!(other.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_request_of_the_credential() {
        let limiter = Limiter::new(SiteLimits { concurrency: 1, requests_per_second: None, burst: 1.0 });
        limiter.pause("a", Duration::from_secs(30));
        let start = Instant::now();
        drop(limiter.acquire("a").await);
        assert_eq!(start.elapsed(), Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn concurrency_is_bounded() {
        let limiter = Limiter::new(SiteLimits { concurrency: 2, requests_per_second: None, burst: 1.0 });
        let a = limiter.acquire("a").await;
        let _b = limiter.acquire("a").await;
        let third = tokio::time::timeout(Duration::from_secs(1), limiter.acquire("a")).await;
        assert!(third.is_err());
        drop(a);
        tokio::time::timeout(Duration::from_secs(1), limiter.acquire("a")).await.unwrap();
    }
}
