//! Faults on demand: scripted rules for the next N requests, fixed latency,
//! and seeded random fault rates. Also counts requests per endpoint.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a faulty request gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// 429 Too Many Requests, with `Retry-After: <seconds>` when given and a
    /// `RateLimit-Reason` header (default `jira-burst-based`).
    RateLimited {
        /// `Retry-After` in seconds; none = header absent.
        #[serde(default, rename = "retryAfter")]
        retry_after: Option<u64>,
        /// `RateLimit-Reason`, e.g. `jira-per-issue-on-write`.
        #[serde(default)]
        reason: Option<String>,
    },
    /// 503 Service Unavailable, with `Retry-After` when given.
    Unavailable {
        /// `Retry-After` in seconds; none = header absent.
        #[serde(default, rename = "retryAfter")]
        retry_after: Option<u64>,
    },
    /// A 5xx without doing the work (500 unless another status is given).
    ServerError {
        /// Status code, 500–599.
        #[serde(default = "default_500")]
        status: u16,
    },
    /// Do the work, then lose the response.
    LoseResponse {
        /// How the response is lost.
        #[serde(default)]
        mode: LostMode,
    },
}

fn default_500() -> u16 {
    500
}

/// How a lost response looks to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LostMode {
    /// A 500 with Jira's error body instead of the real answer.
    #[default]
    Status500,
    /// The connection is closed without any response bytes.
    Close,
    /// Nothing is answered for the given time, then the connection closes
    /// (for exercising client timeouts).
    Hang {
        /// How long to hang, in milliseconds.
        ms: u64,
    },
}

/// A scripted fault for the next `count` matching requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultRule {
    /// The fault.
    pub fault: Fault,
    /// How many matching requests get it.
    #[serde(default = "one")]
    pub count: u32,
    /// Only requests whose path starts with this.
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Only requests with this method (case-insensitive).
    #[serde(default)]
    pub method: Option<String>,
}

fn one() -> u32 {
    1
}

impl FaultRule {
    /// A rule for the next `count` requests of any path.
    pub fn next(count: u32, fault: Fault) -> Self {
        Self { fault, count, path_prefix: None, method: None }
    }

    /// Restricts the rule to paths starting with `prefix`.
    #[must_use]
    pub fn on_path(mut self, prefix: impl Into<String>) -> Self {
        self.path_prefix = Some(prefix.into());
        self
    }

    /// Restricts the rule to one HTTP method.
    #[must_use]
    pub fn on_method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into());
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.count > 0
            && self.path_prefix.as_deref().is_none_or(|p| path.starts_with(p))
            && self.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method))
    }
}

/// Random fault rates, reproducible through the seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RandomFaults {
    /// RNG seed.
    #[serde(default)]
    pub seed: u64,
    /// Percentage (0–100) of requests answered 500.
    #[serde(default)]
    pub server_error_percent: f64,
    /// Percentage of requests answered 429.
    #[serde(default)]
    pub rate_limit_percent: f64,
    /// Percentage of requests whose work is done but whose response is lost (500).
    #[serde(default)]
    pub lost_response_percent: f64,
    /// `Retry-After` seconds on random 429s; none = header absent.
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// Only requests whose path starts with this.
    #[serde(default)]
    pub path_prefix: Option<String>,
}

/// SplitMix64: tiny, seedable, good enough for fault dice.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 100).
    fn percent(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 100.0
    }
}

#[derive(Debug, Default)]
struct State {
    rules: VecDeque<FaultRule>,
    latency: Duration,
    random: Option<(RandomFaults, Rng)>,
}

/// The fault plan.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    state: Mutex<State>,
}

impl Faults {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn add(&self, rule: FaultRule) {
        self.lock().rules.push_back(rule);
    }

    pub(crate) fn clear(&self) {
        let mut s = self.lock();
        s.rules.clear();
        s.random = None;
        s.latency = Duration::ZERO;
    }

    pub(crate) fn rules(&self) -> Vec<FaultRule> {
        self.lock().rules.iter().cloned().collect()
    }

    pub(crate) fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    pub(crate) fn latency(&self) -> Duration {
        self.lock().latency
    }

    pub(crate) fn set_random(&self, random: Option<RandomFaults>) {
        self.lock().random = random.map(|r| {
            let rng = Rng(r.seed);
            (r, rng)
        });
    }

    pub(crate) fn random(&self) -> Option<RandomFaults> {
        self.lock().random.as_ref().map(|(r, _)| r.clone())
    }

    /// Decides the fault for one request: the first matching scripted rule
    /// (consumed), else a roll of the random dice.
    pub(crate) fn pick(&self, method: &str, path: &str) -> Option<Fault> {
        let mut s = self.lock();
        if let Some(pos) = s.rules.iter().position(|r| r.matches(method, path)) {
            let fault = s.rules.get_mut(pos).map(|r| {
                r.count -= 1;
                r.fault.clone()
            });
            if s.rules.get(pos).is_some_and(|r| r.count == 0) {
                s.rules.remove(pos);
            }
            return fault;
        }
        let (cfg, rng) = s.random.as_mut()?;
        if cfg.path_prefix.as_deref().is_some_and(|p| !path.starts_with(p)) {
            return None;
        }
        let roll = rng.percent();
        let mut edge = cfg.server_error_percent;
        if roll < edge {
            return Some(Fault::ServerError { status: 500 });
        }
        edge += cfg.rate_limit_percent;
        if roll < edge {
            return Some(Fault::RateLimited { retry_after: cfg.retry_after, reason: None });
        }
        edge += cfg.lost_response_percent;
        if roll < edge {
            return Some(Fault::LoseResponse { mode: LostMode::Status500 });
        }
        None
    }
}

/// One request the REST surface received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Route template, e.g. `/rest/api/3/issue/{issueIdOrKey}`.
    pub route: String,
    /// Actual path.
    pub path: String,
    /// Status answered (500 for lost responses, whatever the client saw).
    pub status: u16,
    /// The fault applied, if any.
    pub fault: Option<String>,
    /// The request body as received (lossy UTF-8); none when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
    /// The response body as sent (lossy UTF-8); none when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
}

/// Request log and per-endpoint counters.
#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    inner: Mutex<Vec<RequestRecord>>,
}

impl RequestLog {
    fn lock(&self) -> MutexGuard<'_, Vec<RequestRecord>> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn push(&self, r: RequestRecord) {
        self.lock().push(r);
    }

    pub(crate) fn all(&self) -> Vec<RequestRecord> {
        self.lock().clone()
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    /// Counts keyed `"METHOD route"`.
    pub(crate) fn counts(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for r in self.lock().iter() {
            *m.entry(format!("{} {}", r.method, r.route)).or_insert(0) += 1;
        }
        m
    }

    pub(crate) fn count(&self, method: &str, route: &str) -> u64 {
        self.lock().iter().filter(|r| r.method.eq_ignore_ascii_case(method) && r.route == route).count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_consumed_in_order_and_filtered() {
        let f = Faults::default();
        f.add(FaultRule::next(2, Fault::ServerError { status: 502 }).on_path("/rest/api/3/issue").on_method("post"));
        assert_eq!(f.pick("GET", "/rest/api/3/issue/SIM-1"), None);
        assert_eq!(f.pick("POST", "/rest/api/3/issue"), Some(Fault::ServerError { status: 502 }));
        assert_eq!(f.pick("POST", "/rest/api/3/issue"), Some(Fault::ServerError { status: 502 }));
        assert_eq!(f.pick("POST", "/rest/api/3/issue"), None);
        assert!(f.rules().is_empty());
    }

    #[test]
    fn random_faults_are_reproducible() {
        let roll = |seed| {
            let f = Faults::default();
            f.set_random(Some(RandomFaults {
                seed,
                server_error_percent: 30.0,
                rate_limit_percent: 30.0,
                lost_response_percent: 0.0,
                retry_after: Some(1),
                path_prefix: None,
            }));
            (0..50).map(|_| f.pick("GET", "/x")).collect::<Vec<_>>()
        };
        assert_eq!(roll(7), roll(7));
        let hits = roll(7).iter().filter(|f| f.is_some()).count();
        assert!((15..=45).contains(&hits), "{hits}");
    }

    #[test]
    fn fault_json_shape() {
        let rule: FaultRule = serde_json::from_str(
            r#"{"fault":{"kind":"rate_limited","retryAfter":2},"count":3,"pathPrefix":"/rest/api/3/issue"}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rule.count, 3);
        assert_eq!(rule.fault, Fault::RateLimited { retry_after: Some(2), reason: None });
        let lost: Fault = serde_json::from_str(r#"{"kind":"lose_response","mode":{"type":"close"}}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(lost, Fault::LoseResponse { mode: LostMode::Close });
    }
}
