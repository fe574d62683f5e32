//! What the simulator starts with: accounts, projects, webhooks, timings.

use std::net::SocketAddr;
use std::time::Duration;

/// A Jira user. With an API token it can call the REST API; without one it
/// is a person who can be an assignee or act through the simulator's handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Opaque account id (`5b10…`).
    pub account_id: String,
    /// Display name.
    pub display_name: String,
    /// Email address; the Basic-auth user name.
    pub email: String,
    /// API token; `None` for accounts that cannot call the API.
    pub api_token: Option<String>,
    /// IANA time zone name shown in user objects.
    pub time_zone: String,
    /// Whether the account is active.
    pub active: bool,
}

impl Account {
    /// A person without an API token. The account id is derived from the
    /// email so it is stable across runs.
    pub fn person(display_name: impl Into<String>, email: impl Into<String>) -> Self {
        let email = email.into();
        Self {
            account_id: account_id_for(&email),
            display_name: display_name.into(),
            email,
            api_token: None,
            time_zone: "Etc/UTC".to_owned(),
            active: true,
        }
    }

    /// An account that can call the REST API with `email:token`.
    pub fn api(display_name: impl Into<String>, email: impl Into<String>, token: impl Into<String>) -> Self {
        Self::person(display_name, email).with_token(token)
    }

    /// Sets the API token.
    #[must_use]
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.api_token = Some(token.into());
        self
    }

    /// Overrides the account id.
    #[must_use]
    pub fn with_account_id(mut self, id: impl Into<String>) -> Self {
        self.account_id = id.into();
        self
    }
}

/// 24 hex digits like classic Atlassian account ids, from an FNV-1a hash.
fn account_id_for(email: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in email.to_ascii_lowercase().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("5b10{:016x}{:04x}", h, (h >> 48) as u16)
}

/// A project to create at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectSeed {
    /// Project key, e.g. `SEC`.
    pub key: String,
    /// Project name.
    pub name: String,
    /// Component names (ids are assigned).
    pub components: Vec<String>,
}

impl ProjectSeed {
    /// A project with the default components `Backend`, `Frontend`, `Infrastructure`.
    pub fn new(key: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            name: name.into(),
            components: vec!["Backend".into(), "Frontend".into(), "Infrastructure".into()],
        }
    }
}

/// A webhook to register at start (an admin webhook, as created in the UI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSpec {
    /// Name.
    pub name: String,
    /// Receiver URL.
    pub url: String,
    /// Event names, e.g. `jira:issue_updated`; empty means the default six
    /// issue and comment events.
    pub events: Vec<String>,
    /// Optional JQL filter for issue-related events.
    pub jql_filter: Option<String>,
    /// Optional secret; deliveries are signed with `X-Hub-Signature` when set.
    pub secret: Option<String>,
    /// Send deliveries without a body.
    pub exclude_body: bool,
}

impl WebhookSpec {
    /// A webhook for the default issue and comment events.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            name: "jira-sim webhook".into(),
            url: url.into(),
            events: Vec::new(),
            jql_filter: None,
            secret: None,
            exclude_body: false,
        }
    }

    /// Sets the secret.
    #[must_use]
    pub fn with_secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(secret.into());
        self
    }

    /// Sets the events.
    #[must_use]
    pub fn with_events<I, S>(mut self, events: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.events = events.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the JQL filter.
    #[must_use]
    pub fn with_jql(mut self, jql: impl Into<String>) -> Self {
        self.jql_filter = Some(jql.into());
        self
    }
}

/// The events a webhook gets when none are named.
pub const DEFAULT_WEBHOOK_EVENTS: [&str; 6] = [
    "jira:issue_created",
    "jira:issue_updated",
    "jira:issue_deleted",
    "comment_created",
    "comment_updated",
    "comment_deleted",
];

/// How webhook deliveries are retried (Jira retries on 408, 409, 425, 429,
/// 5xx, connection failures and timeouts; the exact schedule is not
/// published, so it is configurable and short by default for tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Delay before the first retry; doubled for each further retry.
    pub initial_backoff: Duration,
    /// Upper bound of one delay.
    pub max_backoff: Duration,
    /// Timeout of one delivery attempt.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 5,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Everything the simulator starts with.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Address to bind; `127.0.0.1:0` picks a free port.
    pub addr: SocketAddr,
    /// Base URL used in `self` links; defaults to `http://<bound addr>`.
    pub public_url: Option<String>,
    /// Accounts (API callers and people).
    pub accounts: Vec<Account>,
    /// Projects.
    pub projects: Vec<ProjectSeed>,
    /// Webhooks registered at start.
    pub webhooks: Vec<WebhookSpec>,
    /// Webhook retry schedule.
    pub retry: RetryPolicy,
    /// When true, calls without an `Authorization` header to
    /// `/rest/api/3/project/search` answer 200 with no projects (as a real site
    /// that allows anonymous access does) instead of 401. Bad credentials are
    /// always 401.
    pub anonymous_project_search: bool,
    /// Page size cap of `search/jql` when fields other than `id`/`key` are asked for.
    pub search_page_cap: usize,
    /// Search is eventually consistent on Jira Cloud: issues younger than
    /// this are left out of `search/jql` results unless named in
    /// `reconcileIssues`. Zero (the default) means read-your-writes.
    pub search_lag: Duration,
}

/// Email of the default API account.
pub const DEFAULT_EMAIL: &str = "sim@example.com";
/// API token of the default API account.
pub const DEFAULT_TOKEN: &str = "sim-token";

impl Default for SimConfig {
    /// One API account (`sim@example.com` / `sim-token`), two people (Alice,
    /// Bob), one project `SIM`, no webhooks, a free loopback port.
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            accounts: vec![
                Account::api("Sim Integration", DEFAULT_EMAIL, DEFAULT_TOKEN),
                Account::person("Alice Analyst", "alice@example.com"),
                Account::person("Bob Builder", "bob@example.com"),
            ],
            projects: vec![ProjectSeed::new("SIM", "Simulated Project")],
            webhooks: Vec::new(),
            retry: RetryPolicy::default(),
            anonymous_project_search: false,
            search_page_cap: 100,
            search_lag: Duration::ZERO,
        }
    }
}

impl SimConfig {
    /// Replaces the projects with the given keys (names are derived).
    #[must_use]
    pub fn with_projects<I, S>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.projects = keys
            .into_iter()
            .map(|k| {
                let k = k.into();
                let name = format!("{k} Project");
                ProjectSeed::new(k, name)
            })
            .collect();
        self
    }

    /// Adds a webhook registered at start.
    #[must_use]
    pub fn with_webhook(mut self, spec: WebhookSpec) -> Self {
        self.webhooks.push(spec);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_are_stable_and_24_hex() {
        let a = Account::person("A", "a@example.com");
        let b = Account::person("A", "A@example.com");
        assert_eq!(a.account_id, b.account_id);
        assert_eq!(a.account_id.len(), 24);
        assert!(a.account_id.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
