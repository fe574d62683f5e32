//! Jira's JSON shapes that the service reads and writes (REST v3). Fields Jira may omit are
//! optional or defaulted, and unknown fields are ignored, so a site's additions never break us.
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `GET /myself`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// The account's stable id.
    pub account_id: String,
    /// The name people see.
    #[serde(default)]
    pub display_name: String,
    /// Hidden by some profiles' visibility settings.
    #[serde(default)]
    pub email_address: Option<String>,
    /// Whether the account is active.
    #[serde(default)]
    pub active: bool,
}

/// One project of `GET /project/search`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    /// Numeric id, as a string.
    pub id: String,
    /// The project key (`SEC`).
    pub key: String,
    /// The project name.
    #[serde(default)]
    pub name: String,
}

/// `PageBeanProject`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectPage {
    /// Index of the first value.
    #[serde(default)]
    pub start_at: u64,
    /// Page size Jira used.
    #[serde(default)]
    pub max_results: u64,
    /// Total, where Jira reports it.
    #[serde(default)]
    pub total: Option<u64>,
    /// Whether this is the last page.
    #[serde(default)]
    pub is_last: Option<bool>,
    /// The projects.
    #[serde(default)]
    pub values: Vec<Project>,
}

/// An issue type offered by createmeta.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IssueTypeMeta {
    /// Numeric id, as a string.
    pub id: String,
    /// The name (`Bug`, `Task`).
    pub name: String,
    /// Whether it is a subtask type.
    #[serde(default)]
    pub subtask: bool,
}

/// A page of createmeta issue types.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssueTypePage {
    /// The issue types.
    #[serde(default, alias = "values")]
    pub issue_types: Vec<IssueTypeMeta>,
    /// Index of the first.
    #[serde(default)]
    pub start_at: u64,
    /// Total.
    #[serde(default)]
    pub total: u64,
}

/// A field on a create screen.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FieldMeta {
    /// Field id (`summary`, `customfield_10020`).
    pub field_id: String,
    /// Human name.
    #[serde(default)]
    pub name: String,
    /// Whether a create must set it.
    #[serde(default)]
    pub required: bool,
    /// Type information (`{"type": "array", "items": "string", "system": "labels"}`).
    #[serde(default)]
    pub schema: Value,
    /// Options for selects, priorities, components.
    #[serde(default)]
    pub allowed_values: Vec<Value>,
}

/// A page of createmeta fields (Jira names the list `fields`; the spec also says `results`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldPage {
    /// The fields.
    #[serde(default, alias = "results")]
    pub fields: Vec<FieldMeta>,
    /// Index of the first.
    #[serde(default)]
    pub start_at: u64,
    /// Total.
    #[serde(default)]
    pub total: u64,
}

/// `CreatedIssue`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct CreatedIssue {
    /// Numeric id, as a string.
    pub id: String,
    /// `KEY-n`.
    pub key: String,
    /// The REST URL of the issue.
    #[serde(rename = "self", default)]
    pub self_url: String,
}

/// One failed element of a bulk create.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkError {
    /// 0-based index into the request's `issueUpdates`.
    pub failed_element_number: usize,
    /// HTTP status of that element.
    #[serde(default)]
    pub status: Option<u16>,
    /// What was wrong with it.
    #[serde(default)]
    pub element_errors: super::ErrorCollection,
}

/// `CreatedIssues` of `POST /issue/bulk`.
#[derive(Debug, Clone, Deserialize)]
pub struct BulkCreated {
    /// The issues created, in no documented order.
    #[serde(default)]
    pub issues: Vec<CreatedIssue>,
    /// The elements that failed.
    #[serde(default)]
    pub errors: Vec<BulkError>,
}

/// A status category: match on `key` (`new`, `indeterminate`, `done`), never on `name`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct StatusCategory {
    /// `new`, `indeterminate`, `done` or `undefined`.
    pub key: String,
}

/// A status.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// The status name.
    #[serde(default)]
    pub name: String,
    /// Its category.
    pub status_category: StatusCategory,
}

impl Status {
    /// Whether the status is in the `done` category.
    pub fn is_done(&self) -> bool {
        self.status_category.key == "done"
    }
}

/// An issue as `GET /issue/{key}` or search returns it; `fields` holds only what was asked for.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Issue {
    /// Numeric id, as a string.
    pub id: String,
    /// `KEY-n` (search can omit it when only ids are requested).
    #[serde(default)]
    pub key: String,
    /// The requested fields, as Jira sent them.
    #[serde(default)]
    pub fields: Value,
}

impl Issue {
    /// The status, when it was requested.
    pub fn status(&self) -> Option<Status> {
        serde_json::from_value(self.fields.get("status")?.clone()).ok()
    }

    /// The labels, when requested.
    pub fn labels(&self) -> Vec<String> {
        serde_json::from_value(self.fields.get("labels").cloned().unwrap_or_default()).unwrap_or_default()
    }
}

/// A workflow transition offered for an issue.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Transition {
    /// The transition id (per workflow; never hardcode).
    pub id: String,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// The status it leads to; Jira sometimes omits it.
    #[serde(default)]
    pub to: Option<Status>,
}

/// `GET /issue/{key}/transitions`.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct Transitions {
    #[serde(default)]
    pub transitions: Vec<Transition>,
}

/// A comment.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Comment {
    /// Numeric id, as a string.
    pub id: String,
    /// Its author.
    #[serde(default)]
    pub author: Option<User>,
    /// ADF (v3) or a wiki-markup string (v2 webhooks).
    #[serde(default)]
    pub body: Value,
    /// Jira's timestamp (`2021-01-17T12:34:00.000+0000`).
    #[serde(default)]
    pub created: String,
    /// Jira's timestamp of the last edit.
    #[serde(default)]
    pub updated: String,
}

/// `PageOfComments`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommentPage {
    /// The comments.
    #[serde(default)]
    pub comments: Vec<Comment>,
    /// Index of the first.
    #[serde(default)]
    pub start_at: u64,
    /// Total.
    #[serde(default)]
    pub total: u64,
}

/// The body of `POST /search/jql`.
#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SearchRequest {
    /// A bounded JQL query.
    pub jql: String,
    /// Fields to return (Jira returns only `id` by default).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// The token of the next page; absent on the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
    /// Page size wish; Jira may return fewer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_results: Option<u32>,
    /// Issue ids to read with strong consistency (at most 50).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reconcile_issues: Vec<i64>,
}

/// A page of `search/jql` results; there is no total.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchPage {
    /// The issues.
    #[serde(default)]
    pub issues: Vec<Issue>,
    /// Absent on the last page.
    #[serde(default)]
    pub next_page_token: Option<String>,
    /// Whether this is the last page.
    #[serde(default)]
    pub is_last: Option<bool>,
}

impl SearchPage {
    /// Stop on any of the three signs of the end (Jira's `isLast` and token chaining disagree
    /// at times).
    pub fn is_end(&self) -> bool {
        self.is_last == Some(true) || self.next_page_token.is_none() || self.issues.is_empty()
    }
}

/// A priority.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Priority {
    /// Numeric id, as a string.
    pub id: String,
    /// The name (`Highest` .. `Lowest` by default).
    pub name: String,
}

/// Parses Jira's timestamps: `2021-01-17T12:34:00.000+0000` (offset without a colon, as the REST
/// API and webhooks send them) or RFC 3339.
pub fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(s))
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

#[cfg(test)]
mod time_tests {
    #[test]
    fn jira_timestamps_parse() {
        let t = super::parse_time("2021-01-17T12:34:00.000+0100").unwrap();
        assert_eq!(t.to_rfc3339(), "2021-01-17T11:34:00+00:00");
        assert!(super::parse_time("2021-01-17T12:34:00Z").is_some());
        assert!(super::parse_time("yesterday").is_none());
    }
}
