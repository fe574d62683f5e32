//! Every failure of a Jira call, classified once, so callers decide by class (retry, give up,
//! check whether a create happened) and never by status code.
use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Serialize};

/// Jira's `ErrorCollection`: general messages and per-field messages.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ErrorCollection {
    /// Messages not tied to a field.
    #[serde(default)]
    pub error_messages: Vec<String>,
    /// Messages per field id.
    #[serde(default)]
    pub errors: BTreeMap<String, String>,
}

impl std::fmt::Display for ErrorCollection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts: Vec<String> = self.error_messages.clone();
        parts.extend(self.errors.iter().map(|(field, message)| format!("{field}: {message}")));
        if parts.is_empty() { f.write_str("no details") } else { f.write_str(&parts.join("; ")) }
    }
}

/// How a transport failure happened, for messages a person can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// The host could not be resolved or refused the connection: nothing was sent.
    Connect,
    /// The TLS handshake failed (certificate, protocol): nothing was sent.
    Tls,
    /// No answer in time: the request may have been processed.
    Timeout,
    /// The connection broke after the request was sent: it may have been processed.
    Broken,
}

/// A failed Jira call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JiraError {
    /// 401: the email or API token is wrong, expired or revoked.
    #[error("Jira rejected the credentials (401): the API token is wrong, expired or revoked")]
    Unauthorized,
    /// 403: the account lacks a permission.
    #[error("Jira refused the request (403): the account lacks permission: {0}")]
    Forbidden(ErrorCollection),
    /// 404: the project, issue or comment does not exist or is not visible.
    #[error("not found in Jira (404): {0}")]
    NotFound(ErrorCollection),
    /// 400/413/422: Jira refused the content; retrying the same request cannot help.
    #[error("Jira refused the request ({status}): {errors}")]
    Invalid {
        /// The HTTP status.
        status: u16,
        /// What Jira said, per field where it said so.
        errors: ErrorCollection,
    },
    /// 429, or 503 with Retry-After: wait and retry.
    #[error("Jira rate limit ({status}){}", retry_after_text(.retry_after))]
    RateLimited {
        /// The HTTP status (429 or 503).
        status: u16,
        /// Jira's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// 5xx (and 409): Jira failed; retrying may help, and a create may have happened.
    #[error("Jira server error ({status}): {message}")]
    Server {
        /// The HTTP status.
        status: u16,
        /// The start of the body.
        message: String,
    },
    /// The request did not complete on the network.
    #[error("{}", transport_text(*.kind, .message))]
    Transport {
        /// What broke.
        kind: TransportKind,
        /// The underlying error, without URL query strings.
        message: String,
    },
    /// The answer was not what a Jira site sends (HTML login page, unexpected JSON, redirect
    /// to another host).
    #[error("the answer does not look like Jira's ({status}): {message}")]
    NotJira {
        /// The HTTP status.
        status: u16,
        /// What was wrong with it.
        message: String,
    },
    /// Any other status that retrying cannot fix (e.g. 410 Gone).
    #[error("Jira answered {status}: {message}")]
    Permanent {
        /// The HTTP status.
        status: u16,
        /// What Jira said.
        message: String,
    },
}

fn retry_after_text(retry_after: &Option<Duration>) -> String {
    retry_after.map(|d| format!(", retry after {}s", d.as_secs())).unwrap_or_default()
}

fn transport_text(kind: TransportKind, message: &str) -> String {
    match kind {
        TransportKind::Connect => format!("cannot reach the Jira host: {message}"),
        TransportKind::Tls => format!("TLS failure talking to Jira: {message}"),
        TransportKind::Timeout => "Jira did not answer in time".to_owned(),
        TransportKind::Broken => format!("the connection to Jira broke: {message}"),
    }
}

impl JiraError {
    /// Whether a later attempt of the same request can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::RateLimited { .. } | Self::Server { .. } | Self::Transport { .. })
    }

    /// Whether Jira may have carried out the request although we saw a failure: a create that
    /// fails this way must be looked up before it is sent again.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            Self::Server { .. } => true,
            Self::Transport { kind, .. } => matches!(kind, TransportKind::Timeout | TransportKind::Broken),
            _ => false,
        }
    }

    /// The wait Jira asked for, if it asked.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Classifies a non-success response.
    pub(super) fn from_response(status: u16, retry_after: Option<Duration>, body: &[u8]) -> Self {
        let errors = || {
            serde_json::from_slice::<ErrorCollection>(body)
                .unwrap_or_else(|_| ErrorCollection { error_messages: vec![snippet(body)], errors: BTreeMap::new() })
        };
        match status {
            401 => Self::Unauthorized,
            403 => Self::Forbidden(errors()),
            404 => Self::NotFound(errors()),
            429 => Self::RateLimited { status, retry_after },
            503 if retry_after.is_some() => Self::RateLimited { status, retry_after },
            409 | 500..=599 => Self::Server { status, message: snippet(body) },
            400 | 413 | 422 => Self::Invalid { status, errors: errors() },
            _ => Self::Permanent { status, message: snippet(body) },
        }
    }

    /// Classifies a reqwest failure, keeping URLs (which may carry secrets) out of the message.
    pub(super) fn from_transport(err: &reqwest::Error) -> Self {
        let message = source_chain(err);
        let kind = if err.is_timeout() {
            TransportKind::Timeout
        } else if message.contains("certificate") || message.to_ascii_lowercase().contains("tls") {
            TransportKind::Tls
        } else if err.is_connect() {
            TransportKind::Connect
        } else {
            TransportKind::Broken
        };
        Self::Transport { kind, message }
    }
}

/// The causes of a reqwest error; the top level (which repeats the URL) is left out.
fn source_chain(err: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(err);
    while let Some(e) = source {
        parts.push(e.to_string());
        source = e.source();
    }
    if parts.is_empty() { err.to_string() } else { parts.join(": ") }
}

/// A short, printable start of a body for messages.
pub(super) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_classes() {
        let body = br#"{"errorMessages":[],"errors":{"labels":"The label 'a b' contains spaces which is invalid."},"httpStatusCode":{"empty":false}}"#;
        let err = JiraError::from_response(400, None, body);
        let JiraError::Invalid { errors, .. } = &err else { panic!("{err:?}") };
        assert_eq!(errors.errors["labels"], "The label 'a b' contains spaces which is invalid.");
        assert!(!err.is_retryable());
        assert!(matches!(JiraError::from_response(401, None, b"plain text"), JiraError::Unauthorized));
        let limited = JiraError::from_response(429, Some(Duration::from_secs(7)), b"");
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(7)));
        assert!(limited.is_retryable() && !limited.outcome_unknown());
        assert!(matches!(
            JiraError::from_response(503, Some(Duration::from_secs(1)), b""),
            JiraError::RateLimited { .. }
        ));
        let server = JiraError::from_response(503, None, b"<html>");
        assert!(server.is_retryable() && server.outcome_unknown());
        assert!(matches!(JiraError::from_response(410, None, b"{}"), JiraError::Permanent { status: 410, .. }));
    }
}
