//! `/issueLinkType`, `/issueLinkType/{id}` and `/issueLink`.

use std::sync::Arc;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::util::{ok, parse_body};
use crate::auth::Caller;
use crate::catalog;
use crate::error::ApiError;
use crate::ops;
use crate::repr::Repr;
use crate::state::Core;

pub(crate) async fn types(State(core): State<Arc<Core>>) -> Response {
    let r = Repr::v3(&core.base);
    let all: Vec<Value> = catalog::ISSUE_LINK_TYPES.iter().map(|t| r.issue_link_type(t)).collect();
    ok(&json!({ "issueLinkTypes": all }))
}

pub(crate) async fn get_type(State(core): State<Arc<Core>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let t = catalog::ISSUE_LINK_TYPES
        .iter()
        .find(|t| t.id == id)
        .ok_or_else(|| ApiError::message(StatusCode::NOT_FOUND, format!("No issue link type with id '{id}' found.")))?;
    Ok(ok(&Repr::v3(&core.base).issue_link_type(t)))
}

/// 201 with an empty body, as Jira Cloud answers.
pub(crate) async fn create(
    State(core): State<Arc<Core>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    core.mutate(&caller.account_id, |store, ev, ctx| ops::link_issues(store, ev, ctx, &body))?;
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::CREATED;
    Ok(resp)
}
