//! Small helpers shared by the route handlers.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, RawQuery};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::Value;

use crate::error::ApiError;

/// A JSON response with Jira's content type.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json;charset=UTF-8"));
    resp
}

pub(crate) fn ok(body: &Value) -> Response {
    json_response(StatusCode::OK, body)
}

pub(crate) fn no_content() -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp
}

/// Parses a request body as JSON, answering malformed input with a Jira-style 400.
pub(crate) fn parse_body(bytes: &Bytes) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("No content to map due to end-of-input"));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("Unexpected character in JSON: {e}")))
}

/// Query parameters, keeping repeated keys (`keys=A&keys=B`).
#[derive(Debug, Default, Clone)]
pub(crate) struct Params(pub Vec<(String, String)>);

impl Params {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }

    /// A non-negative integer parameter, with Jira's 400 on garbage.
    pub(crate) fn uint(&self, name: &str, default: u64) -> Result<u64, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(v) => v
                .parse::<i64>()
                .map(|n| u64::try_from(n).unwrap_or(0))
                .map_err(|_| ApiError::bad_request(format!("The value '{v}' is not a valid number for '{name}'."))),
        }
    }

    pub(crate) fn bool(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let RawQuery(q) = RawQuery::from_request_parts(parts, state).await?;
        Ok(Self(q.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default()))
    }
}

/// The value of a JSON field as a string, whether sent as string or number.
pub(crate) fn str_or_number(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
