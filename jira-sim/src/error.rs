//! Jira-shaped API errors: `{"errorMessages":[…],"errors":{…}}` with a status.

use std::collections::BTreeMap;

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::routes::util::json_response;

/// An error answered to a REST caller in Jira's `ErrorCollection` shape.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status}: {messages:?} {errors:?}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// `errorMessages`.
    pub messages: Vec<String>,
    /// `errors`, field id to message.
    pub errors: BTreeMap<String, String>,
    /// Extra response headers (e.g. a simulator-only detail header).
    pub headers: Vec<(HeaderName, String)>,
}

impl ApiError {
    /// An error with one entry in `errorMessages`.
    pub fn message(status: StatusCode, msg: impl Into<String>) -> Self {
        Self { status, messages: vec![msg.into()], errors: BTreeMap::new(), headers: Vec::new() }
    }

    /// A 400 with one entry in `errorMessages`.
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::message(StatusCode::BAD_REQUEST, msg)
    }

    /// A 400 with one per-field entry in `errors`.
    pub fn field(field: impl Into<String>, msg: impl Into<String>) -> Self {
        Self::fields(BTreeMap::from([(field.into(), msg.into())]))
    }

    /// A 400 with per-field entries in `errors`.
    pub fn fields(errors: BTreeMap<String, String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, messages: Vec::new(), errors, headers: Vec::new() }
    }

    /// Jira's 404 for an issue that is missing or not visible.
    pub fn issue_not_found() -> Self {
        Self::message(StatusCode::NOT_FOUND, "Issue does not exist or you do not have permission to see it.")
    }

    /// Attaches a diagnostic header that real Jira does not send; it helps a
    /// developer see *why* the simulator rejected something without changing
    /// the body that clients parse.
    pub fn with_detail(mut self, detail: &str) -> Self {
        let clean: String =
            detail.chars().map(|c| if c.is_ascii() && !c.is_ascii_control() { c } else { '?' }).take(300).collect();
        self.headers.push((HeaderName::from_static("x-sim-detail"), clean));
        self
    }

    /// The body as JSON.
    pub fn body(&self) -> serde_json::Value {
        json!({ "errorMessages": self.messages, "errors": self.errors })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = json_response(self.status, &self.body());
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                resp.headers_mut().insert(name, v);
            }
        }
        resp
    }
}

/// Error for the simulator's own (non-Jira) API: starting, acting as a person, admin calls.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Binding the listen address failed.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address that failed.
        addr: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An account given as "acting person" does not exist.
    #[error("no account {0}")]
    UnknownAccount(String),
    /// A webhook id does not exist.
    #[error("no webhook {0}")]
    UnknownWebhook(u64),
    /// A delivery identifier does not exist.
    #[error("no webhook delivery {0}")]
    UnknownDelivery(String),
    /// The operation was rejected the way Jira would reject it.
    #[error("jira rejected the operation: {0}")]
    Jira(#[from] ApiError),
}
