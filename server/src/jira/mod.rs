//! The one Jira Cloud client (REST v3) every part of the service uses: typed requests and
//! responses, errors classified once, Atlassian's retry rules, per-credential limits.
//!
//! A thin client over reqwest rather than the `jira` crate: we need a handful of endpoints with
//! exact v3 shapes, our own error classes (an unknown create outcome must be told apart from a
//! refusal), Retry-After shared across a credential's requests, and no extra build weight.
pub mod adf;
mod error;
pub mod limits;
pub mod retry;
pub mod types;

use std::time::Duration;

use reqwest::{Method, StatusCode, header};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};

pub use error::{ErrorCollection, JiraError, TransportKind};
pub use limits::{Limiter, SiteLimits};
pub use retry::RetryPolicy;
pub use types::*;

/// A Jira site and the account that talks to it.
#[derive(Clone)]
pub struct Site {
    /// Normalized base URL, without a trailing slash.
    pub base_url: String,
    /// The account's email.
    pub email: String,
    /// The account's API token.
    pub token: SecretString,
    /// Whose limits apply: the credential id (or a one-off key for inline tests).
    pub limit_key: String,
}

impl std::fmt::Debug for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Site")
            .field("base_url", &self.base_url)
            .field("email", &self.email)
            .field("token", &"[REDACTED]")
            .finish()
    }
}

/// Settings of the client.
#[derive(Debug, Clone, Default)]
pub struct JiraSettings {
    /// Backoff and interactive retries.
    pub retry: RetryPolicy,
    /// Per-credential limits.
    pub limits: SiteLimits,
    /// Total time a request may take.
    pub request_timeout: Option<Duration>,
}

/// The Jira client; cheap to clone, one connection pool for all sites.
#[derive(Clone)]
pub struct JiraClient {
    http: reqwest::Client,
    limiter: Limiter,
    retry: RetryPolicy,
}

/// How a request may be retried in process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retries {
    /// Reads and idempotent writes: retry per the policy.
    Interactive,
    /// Creates: never resent blindly; the delivery worker checks first.
    None,
}

impl JiraClient {
    /// A client with its own connection pool.
    pub fn new(settings: JiraSettings) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(settings.request_timeout.unwrap_or(Duration::from_secs(30)))
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                // Never follow a redirect to another host: it would carry the Basic credentials.
                let same_host = attempt.previous().first().map(|first| first.host_str() == attempt.url().host_str());
                if same_host == Some(true) && attempt.previous().len() < 3 { attempt.follow() } else { attempt.stop() }
            }))
            .user_agent(concat!("northstar-jira/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a reqwest client with rustls always builds");
        Self { http, limiter: Limiter::new(settings.limits), retry: settings.retry }
    }

    /// The retry policy, for the delivery worker's durable schedule.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    async fn call<T: DeserializeOwned>(
        &self,
        site: &Site,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        retries: Retries,
    ) -> Result<T, JiraError> {
        let mut failures = 0;
        loop {
            let result = self.send_once(site, method.clone(), path, query, body).await;
            let err = match result {
                Ok(bytes) => return parse(&bytes),
                Err(err) => err,
            };
            if let Some(wait) = err.retry_after() {
                self.limiter.pause(&site.limit_key, wait);
            }
            failures += 1;
            // A refused connection or a failed handshake will not heal within one call; a
            // person (TestConnection) or the durable delivery schedule is better served at once.
            let hopeless =
                matches!(&err, JiraError::Transport { kind: TransportKind::Connect | TransportKind::Tls, .. });
            let delay = match retries {
                Retries::Interactive if !hopeless && failures <= self.retry.interactive_retries => {
                    self.retry.delay(failures, &err, RetryPolicy::jitter())
                }
                _ => None,
            };
            match delay {
                Some(delay) if delay <= self.retry.interactive_max_wait => {
                    tracing::debug!(path, %err, ?delay, "retrying Jira call");
                    tokio::time::sleep(delay).await;
                }
                _ => return Err(err),
            }
        }
    }

    async fn send_once(
        &self,
        site: &Site,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Vec<u8>, JiraError> {
        let raw = self.exchange(site, method, path, query, body).await?;
        if raw.status.is_success() {
            return Ok(raw.body);
        }
        Err(JiraError::from_response(raw.status.as_u16(), raw.retry_after, &raw.body))
    }

    /// One HTTP exchange under the credential's limits; only transport failures are errors.
    async fn exchange(
        &self,
        site: &Site,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<RawResponse, JiraError> {
        let _permit = self.limiter.acquire(&site.limit_key).await;
        let url = format!("{}{path}", site.base_url);
        let mut request = self
            .http
            .request(method.clone(), &url)
            .basic_auth(&site.email, Some(site.token.expose_secret()))
            .header(header::ACCEPT, "application/json");
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        // Timed after the limiter: its waits have their own metric, and this one is Jira's latency.
        let started = std::time::Instant::now();
        let received = async {
            let response = request.send().await?;
            let status = response.status();
            let retry_after = retry_after(response.headers());
            let body = response.bytes().await?.to_vec();
            Ok::<_, reqwest::Error>((status, retry_after, body))
        }
        .await;
        let endpoint = endpoint(path);
        let status_label = match &received {
            Ok((status, ..)) => status.as_u16().to_string(),
            Err(_) => "error".to_owned(),
        };
        metrics::counter!(
            "northstar_jira_requests_total",
            "method" => method.to_string(), "endpoint" => endpoint, "status" => status_label
        )
        .increment(1);
        metrics::histogram!("northstar_jira_request_seconds", "endpoint" => endpoint)
            .record(started.elapsed().as_secs_f64());
        let (status, retry_after, body) = received.map_err(|e| JiraError::from_transport(&e))?;
        if status.is_redirection() {
            // Only a redirect to another host is left unfollowed, and it would carry our credentials.
            return Err(JiraError::NotJira { status: status.as_u16(), message: "redirected to another host".into() });
        }
        Ok(RawResponse { status, retry_after, body })
    }

    /// `GET /rest/api/3/myself`: the account behind the credentials (never anonymous, so it
    /// proves the token works).
    pub async fn myself(&self, site: &Site) -> Result<User, JiraError> {
        self.call(site, Method::GET, "/rest/api/3/myself", &[], None, Retries::Interactive).await
    }

    /// One page of `GET /rest/api/3/project/search`.
    pub async fn search_projects(
        &self,
        site: &Site,
        start_at: u64,
        max_results: u64,
    ) -> Result<ProjectPage, JiraError> {
        let query = [("startAt", start_at.to_string()), ("maxResults", max_results.to_string())];
        self.call(site, Method::GET, "/rest/api/3/project/search", &query, None, Retries::Interactive).await
    }

    /// Every project the account can see (all pages; a 404 means none).
    pub async fn all_projects(&self, site: &Site) -> Result<Vec<Project>, JiraError> {
        let mut projects = Vec::new();
        loop {
            let page = match self.search_projects(site, projects.len() as u64, 100).await {
                Ok(page) => page,
                Err(JiraError::NotFound(_)) if projects.is_empty() => return Ok(projects),
                Err(err) => return Err(err),
            };
            let done = page.values.is_empty()
                || page.is_last == Some(true)
                || page.total.is_some_and(|t| projects.len() as u64 + page.values.len() as u64 >= t);
            projects.extend(page.values);
            if done {
                return Ok(projects);
            }
        }
    }

    /// `GET /rest/api/3/project/{key}`.
    pub async fn project(&self, site: &Site, key: &str) -> Result<Project, JiraError> {
        let path = format!("/rest/api/3/project/{}", segment(key));
        self.call(site, Method::GET, &path, &[], None, Retries::Interactive).await
    }

    /// The issue types a project offers on create (createmeta, all pages).
    pub async fn create_issue_types(&self, site: &Site, project: &str) -> Result<Vec<IssueTypeMeta>, JiraError> {
        let path = format!("/rest/api/3/issue/createmeta/{}/issuetypes", segment(project));
        self.createmeta_pages(site, &path, |page: IssueTypePage| (page.issue_types, page.total)).await
    }

    /// The fields on the create screen of an issue type (createmeta, all pages).
    pub async fn create_fields(
        &self,
        site: &Site,
        project: &str,
        issue_type_id: &str,
    ) -> Result<Vec<FieldMeta>, JiraError> {
        let path = format!("/rest/api/3/issue/createmeta/{}/issuetypes/{}", segment(project), segment(issue_type_id));
        self.createmeta_pages(site, &path, |page: FieldPage| (page.fields, page.total)).await
    }

    /// Every page of a createmeta list (`startAt`/`maxResults`/`total`, at most 200 a page).
    async fn createmeta_pages<P: DeserializeOwned, T>(
        &self,
        site: &Site,
        path: &str,
        items: impl Fn(P) -> (Vec<T>, u64),
    ) -> Result<Vec<T>, JiraError> {
        let mut all = Vec::new();
        loop {
            let query = [("startAt", all.len().to_string()), ("maxResults", "200".to_owned())];
            let (page, total) = items(self.call(site, Method::GET, path, &query, None, Retries::Interactive).await?);
            let done = page.is_empty() || all.len() + page.len() >= total as usize;
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    }

    /// `POST /rest/api/3/issue`. Sent once: a failure whose outcome is unknown must be looked
    /// up (by the delivery's marker label) before anything sends it again.
    pub async fn create_issue(&self, site: &Site, payload: &Value) -> Result<CreatedIssue, JiraError> {
        self.call(site, Method::POST, "/rest/api/3/issue", &[], Some(payload), Retries::None).await
    }

    /// `POST /rest/api/3/issue/bulk`, at most 50 issues; per-item failures are in the result.
    /// A 400 where every item failed still returns the per-item errors.
    pub async fn bulk_create(&self, site: &Site, payloads: &[Value]) -> Result<BulkCreated, JiraError> {
        assert!(payloads.len() <= 50, "Jira creates at most 50 issues per bulk call");
        let body = json!({ "issueUpdates": payloads });
        let raw = self.exchange(site, Method::POST, "/rest/api/3/issue/bulk", &[], Some(&body)).await?;
        if raw.status.is_success() {
            return parse(&raw.body);
        }
        // When every item failed, Jira answers 400 with the same CreatedIssues shape.
        if raw.status == StatusCode::BAD_REQUEST
            && let Ok(created) = serde_json::from_slice::<BulkCreated>(&raw.body)
            && !created.errors.is_empty()
        {
            return Ok(created);
        }
        let err = JiraError::from_response(raw.status.as_u16(), raw.retry_after, &raw.body);
        if let Some(wait) = err.retry_after() {
            self.limiter.pause(&site.limit_key, wait);
        }
        Err(err)
    }

    /// `GET /rest/api/3/issue/{key}` with the given fields.
    pub async fn get_issue(&self, site: &Site, key: &str, fields: &[&str]) -> Result<Issue, JiraError> {
        let path = format!("/rest/api/3/issue/{}", segment(key));
        let query = [("fields", fields.join(","))];
        self.call(site, Method::GET, &path, &query, None, Retries::Interactive).await
    }

    /// `PUT /rest/api/3/issue/{key}` (e.g. `{"fields": {"summary": ...}}`); idempotent.
    pub async fn update_issue(&self, site: &Site, key: &str, body: &Value) -> Result<(), JiraError> {
        let path = format!("/rest/api/3/issue/{}", segment(key));
        self.call::<Empty>(site, Method::PUT, &path, &[], Some(body), Retries::Interactive).await.map(drop)
    }

    /// The transitions available for an issue now.
    pub async fn transitions(&self, site: &Site, key: &str) -> Result<Vec<Transition>, JiraError> {
        let path = format!("/rest/api/3/issue/{}/transitions", segment(key));
        let list: Transitions = self.call(site, Method::GET, &path, &[], None, Retries::Interactive).await?;
        Ok(list.transitions)
    }

    /// Performs a transition, setting the resolution where given.
    pub async fn transition(
        &self,
        site: &Site,
        key: &str,
        transition_id: &str,
        resolution: Option<&str>,
    ) -> Result<(), JiraError> {
        let path = format!("/rest/api/3/issue/{}/transitions", segment(key));
        let mut body = json!({ "transition": { "id": transition_id } });
        if let Some(resolution) = resolution {
            body["fields"] = json!({ "resolution": { "name": resolution } });
        }
        self.call::<Empty>(site, Method::POST, &path, &[], Some(&body), Retries::None).await.map(drop)
    }

    /// Adds a comment (ADF body). Sent once, like a create.
    pub async fn add_comment(&self, site: &Site, key: &str, body: &adf::Doc) -> Result<Comment, JiraError> {
        let path = format!("/rest/api/3/issue/{}/comment", segment(key));
        let payload = json!({ "body": body.to_json() });
        self.call(site, Method::POST, &path, &[], Some(&payload), Retries::None).await
    }

    /// Replaces a comment's body.
    pub async fn update_comment(
        &self,
        site: &Site,
        key: &str,
        comment_id: &str,
        body: &adf::Doc,
    ) -> Result<Comment, JiraError> {
        let path = format!("/rest/api/3/issue/{}/comment/{}", segment(key), segment(comment_id));
        let payload = json!({ "body": body.to_json() });
        self.call(site, Method::PUT, &path, &[], Some(&payload), Retries::Interactive).await
    }

    /// Deletes a comment; one already gone counts as deleted.
    pub async fn delete_comment(&self, site: &Site, key: &str, comment_id: &str) -> Result<(), JiraError> {
        let path = format!("/rest/api/3/issue/{}/comment/{}", segment(key), segment(comment_id));
        match self.call::<Empty>(site, Method::DELETE, &path, &[], None, Retries::Interactive).await {
            Ok(_) | Err(JiraError::NotFound(_)) => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// Links two issues. Jira reads `inward` as the subject of the type's outward phrase: with
    /// "Duplicate", `inward` duplicates `outward` (as Jira's own clients use it; the OpenAPI
    /// wording says otherwise).
    pub async fn link_issues(
        &self,
        site: &Site,
        link_type: &str,
        inward: &str,
        outward: &str,
    ) -> Result<(), JiraError> {
        let body = json!({
            "type": { "name": link_type },
            "inwardIssue": { "key": inward },
            "outwardIssue": { "key": outward },
        });
        self.call::<Empty>(site, Method::POST, "/rest/api/3/issueLink", &[], Some(&body), Retries::None).await.map(drop)
    }

    /// Registers an admin webhook (needs the Administer Jira permission); returns Jira's id of it.
    pub async fn register_webhook(&self, site: &Site, body: &Value) -> Result<String, JiraError> {
        let created: Value =
            self.call(site, Method::POST, "/rest/webhooks/1.0/webhook", &[], Some(body), Retries::None).await?;
        webhook_id(&created)
    }

    /// Replaces an admin webhook registered earlier; `NotFound` when it is gone.
    pub async fn update_webhook(&self, site: &Site, id: &str, body: &Value) -> Result<String, JiraError> {
        let path = format!("/rest/webhooks/1.0/webhook/{}", segment(id));
        let updated: Value = self.call(site, Method::PUT, &path, &[], Some(body), Retries::Interactive).await?;
        webhook_id(&updated)
    }

    /// One page of an issue's comments.
    pub async fn list_comments(&self, site: &Site, key: &str, start_at: u64) -> Result<CommentPage, JiraError> {
        let path = format!("/rest/api/3/issue/{}/comment", segment(key));
        let query =
            [("startAt", start_at.to_string()), ("maxResults", "100".to_owned()), ("orderBy", "created".to_owned())];
        self.call(site, Method::GET, &path, &query, None, Retries::Interactive).await
    }

    /// One page of `POST /rest/api/3/search/jql` (the old `/search` is gone: 410).
    pub async fn search_jql(&self, site: &Site, request: &SearchRequest) -> Result<SearchPage, JiraError> {
        let body =
            serde_json::to_value(request).map_err(|e| JiraError::Permanent { status: 0, message: e.to_string() })?;
        self.call(site, Method::POST, "/rest/api/3/search/jql", &[], Some(&body), Retries::Interactive).await
    }

    /// `GET /rest/api/3/user?accountId=`: an account, to check an assignee exists.
    pub async fn user(&self, site: &Site, account_id: &str) -> Result<User, JiraError> {
        let query = [("accountId", account_id.to_owned())];
        self.call(site, Method::GET, "/rest/api/3/user", &query, None, Retries::Interactive).await
    }

    /// `GET /rest/api/3/priority`: the site's priorities.
    pub async fn priorities(&self, site: &Site) -> Result<Vec<Priority>, JiraError> {
        self.call(site, Method::GET, "/rest/api/3/priority", &[], None, Retries::Interactive).await
    }
}

struct RawResponse {
    status: StatusCode,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

/// A 204 or an ignored body.
#[derive(Debug, Serialize, serde::Deserialize)]
struct Empty {}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JiraError> {
    // 204s and empty 200s parse as `{}` for callers that ignore the body.
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { bytes };
    serde_json::from_slice(bytes).map_err(|e| JiraError::NotJira {
        status: StatusCode::OK.as_u16(),
        message: format!("unexpected body ({e}): {}", error::snippet(bytes)),
    })
}

/// Seconds of a `Retry-After` header (Jira sends seconds; an HTTP date is read too).
fn retry_after(headers: &header::HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = when.signed_duration_since(chrono::Utc::now()).to_std().unwrap_or_default();
    Some(wait)
}

/// The paths this client requests, as metric labels: ids become `:name` so that issue keys cannot
/// multiply the series. Literal segments come before the templates they would also match.
/// (Not `{name}`: some Prometheus text parsers end a label set at the first `}`.)
const ENDPOINTS: &[&str] = &[
    "/rest/api/3/myself",
    "/rest/api/3/project/search",
    "/rest/api/3/project/:key",
    "/rest/api/3/issue",
    "/rest/api/3/issue/bulk",
    "/rest/api/3/issue/createmeta/:project/issuetypes",
    "/rest/api/3/issue/createmeta/:project/issuetypes/:id",
    "/rest/api/3/issue/:key",
    "/rest/api/3/issue/:key/transitions",
    "/rest/api/3/issue/:key/comment",
    "/rest/api/3/issue/:key/comment/:id",
    "/rest/api/3/issueLink",
    "/rest/api/3/search/jql",
    "/rest/api/3/user",
    "/rest/api/3/priority",
    "/rest/webhooks/1.0/webhook",
    "/rest/webhooks/1.0/webhook/:id",
];

/// The route template of a request path, `other` for a path outside [`ENDPOINTS`], so the label
/// stays bounded whatever a caller passes.
fn endpoint(path: &str) -> &'static str {
    let matches = |template: &str| {
        let (mut t, mut p) = (template.split('/'), path.split('/'));
        loop {
            match (t.next(), p.next()) {
                (None, None) => return true,
                (Some(t), Some(p)) if t == p || (t.starts_with(':') && !p.is_empty()) => {}
                _ => return false,
            }
        }
    };
    ENDPOINTS.iter().copied().find(|template| matches(template)).unwrap_or("other")
}

/// A path segment, percent-encoded.
fn segment(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>().replace('+', "%20")
}

/// The id of an admin webhook: the last segment of its `self` URL (the admin API has no id field).
fn webhook_id(body: &Value) -> Result<String, JiraError> {
    body.get("self")
        .and_then(Value::as_str)
        .and_then(|s| s.rsplit('/').next())
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| JiraError::NotJira { status: 201, message: "a webhook without `self`".into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_hide_ids_and_stay_bounded() {
        let key = segment("SIM-42");
        let cases = [
            (format!("/rest/api/3/issue/{key}/transitions"), "/rest/api/3/issue/:key/transitions"),
            (format!("/rest/api/3/issue/{key}"), "/rest/api/3/issue/:key"),
            (format!("/rest/api/3/issue/{key}/comment/10001"), "/rest/api/3/issue/:key/comment/:id"),
            ("/rest/api/3/issue".to_owned(), "/rest/api/3/issue"),
            ("/rest/api/3/issue/bulk".to_owned(), "/rest/api/3/issue/bulk"),
            ("/rest/api/3/project/search".to_owned(), "/rest/api/3/project/search"),
            (format!("/rest/api/3/project/{}", segment("A B")), "/rest/api/3/project/:key"),
            (
                "/rest/api/3/issue/createmeta/SIM/issuetypes/10004".to_owned(),
                "/rest/api/3/issue/createmeta/:project/issuetypes/:id",
            ),
            ("/rest/webhooks/1.0/webhook/7".to_owned(), "/rest/webhooks/1.0/webhook/:id"),
            // An empty id is no id; unknown paths share one label.
            ("/rest/api/3/issue/".to_owned(), "other"),
            ("/rest/api/2/issue/SIM-1".to_owned(), "other"),
            (format!("/rest/api/3/issue/{key}/transitions/extra"), "other"),
        ];
        for (path, expected) in cases {
            assert_eq!(endpoint(&path), expected, "{path}");
        }
    }

    #[test]
    fn no_endpoint_is_shadowed_by_an_earlier_one() {
        for template in ENDPOINTS {
            assert_eq!(endpoint(template), *template);
        }
    }
}
