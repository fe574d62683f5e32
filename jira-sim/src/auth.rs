//! Basic auth with `email:api_token`, answered like Jira Cloud when it fails.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine as _;
use serde_json::json;

use crate::routes::util::json_response;
use crate::state::Core;

/// The authenticated caller, put in request extensions.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// Account id; empty for an anonymous caller.
    pub account_id: String,
}

impl Caller {
    pub(crate) fn is_anonymous(&self) -> bool {
        self.account_id.is_empty()
    }
}

enum Outcome {
    Ok(String),
    Missing,
    Failed,
}

fn authenticate(core: &Core, headers: &HeaderMap) -> Outcome {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Outcome::Missing;
    };
    let Some(encoded) = value.to_str().ok().and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")))
    else {
        return Outcome::Failed;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return Outcome::Failed;
    };
    let Ok(decoded) = String::from_utf8(decoded) else {
        return Outcome::Failed;
    };
    let Some((email, token)) = decoded.split_once(':') else {
        return Outcome::Failed;
    };
    let store = core.store();
    let account = store
        .accounts
        .iter()
        .find(|a| a.active && a.email.eq_ignore_ascii_case(email) && a.api_token.as_deref() == Some(token));
    match account {
        Some(a) => Outcome::Ok(a.account_id.clone()),
        None => Outcome::Failed,
    }
}

/// Jira Cloud's 401 for missing or rejected credentials.
pub(crate) fn unauthorized() -> Response {
    let mut resp = json_response(
        StatusCode::UNAUTHORIZED,
        &json!({"message": "Client must be authenticated to access this resource.", "status-code": 401}),
    );
    let h = resp.headers_mut();
    h.insert("x-seraph-loginreason", HeaderValue::from_static("AUTHENTICATED_FAILED"));
    h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"protected-area\""));
    resp
}

/// Requires valid Basic credentials, except that `project/search` may be
/// called anonymously when the simulator is configured like a site that
/// allows it (it then answers with no projects, as Jira does).
pub(crate) async fn require_auth(State(core): State<Arc<Core>>, mut req: Request, next: Next) -> Response {
    let anonymous_ok = core.config.anonymous_project_search && req.uri().path() == "/rest/api/3/project/search";
    match authenticate(&core, req.headers()) {
        Outcome::Ok(account_id) => {
            let header_value = HeaderValue::from_str(&account_id).ok();
            req.extensions_mut().insert(Caller { account_id });
            let mut resp = next.run(req).await;
            if let Some(v) = header_value {
                resp.headers_mut().insert("x-aaccountid", v);
            }
            resp
        }
        Outcome::Missing if anonymous_ok => {
            req.extensions_mut().insert(Caller { account_id: String::new() });
            next.run(req).await
        }
        Outcome::Failed if anonymous_ok => {
            req.extensions_mut().insert(Caller { account_id: String::new() });
            let mut resp = next.run(req).await;
            resp.headers_mut().insert("x-seraph-loginreason", HeaderValue::from_static("AUTHENTICATED_FAILED"));
            resp
        }
        Outcome::Missing | Outcome::Failed => unauthorized(),
    }
}
