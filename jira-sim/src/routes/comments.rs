//! `/issue/{idOrKey}/comment` and `/issue/{idOrKey}/comment/{id}`.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::util::{Params, json_response, no_content, ok, parse_body};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::ops;
use crate::repr::Repr;
use crate::state::Core;

fn render(core: &Core, issue_id: u64, comment_id: u64) -> Result<Value, ApiError> {
    let store = core.store();
    let issue = store.issues.get(&issue_id).ok_or_else(ApiError::issue_not_found)?;
    let c = issue.comments.iter().find(|c| c.id == comment_id).ok_or_else(|| {
        ApiError::message(StatusCode::NOT_FOUND, format!("Can not find a comment for the id: {comment_id}."))
    })?;
    Ok(Repr::v3(&core.base).comment(&store, issue_id, c))
}

pub(crate) async fn list(
    State(core): State<Arc<Core>>,
    Path(id_or_key): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let start = params.uint("startAt", 0)?;
    let max = params.uint("maxResults", 100)?;
    let newest_first = match params.get("orderBy") {
        None | Some("created" | "+created") => false,
        Some("-created") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid orderBy parameter '{other}'. Supported values are: created, -created, +created."
            )));
        }
    };
    let store = core.store();
    let issue = store.issue(&id_or_key).ok_or_else(ApiError::issue_not_found)?;
    let r = Repr::v3(&core.base);
    let mut all: Vec<_> = issue.comments.iter().collect();
    if newest_first {
        all.reverse();
    }
    let comments: Vec<Value> = all
        .iter()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(usize::try_from(max).unwrap_or(usize::MAX))
        .map(|c| r.comment(&store, issue.id, c))
        .collect();
    Ok(ok(&json!({
        "comments": comments,
        "maxResults": max,
        "startAt": start,
        "total": issue.comments.len(),
    })))
}

pub(crate) async fn add(
    State(core): State<Arc<Core>>,
    Extension(caller): Extension<Caller>,
    Path(id_or_key): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let (issue_id, comment_id) =
        core.mutate(&caller.account_id, |store, ev, ctx| ops::add_comment(store, ev, ctx, &id_or_key, &body))?;
    Ok(json_response(StatusCode::CREATED, &render(&core, issue_id, comment_id)?))
}

pub(crate) async fn get(
    State(core): State<Arc<Core>>,
    Path((id_or_key, comment_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let issue_id = core.store().issue_id(&id_or_key).ok_or_else(ApiError::issue_not_found)?;
    let cid = comment_id.parse::<u64>().map_err(|_| {
        ApiError::message(StatusCode::NOT_FOUND, format!("Can not find a comment for the id: {comment_id}."))
    })?;
    Ok(ok(&render(&core, issue_id, cid)?))
}

pub(crate) async fn update(
    State(core): State<Arc<Core>>,
    Extension(caller): Extension<Caller>,
    Path((id_or_key, comment_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let (issue_id, cid) = core.mutate(&caller.account_id, |store, ev, ctx| {
        ops::update_comment(store, ev, ctx, &id_or_key, &comment_id, &body)
    })?;
    Ok(ok(&render(&core, issue_id, cid)?))
}

pub(crate) async fn delete(
    State(core): State<Arc<Core>>,
    Extension(caller): Extension<Caller>,
    Path((id_or_key, comment_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    core.mutate(&caller.account_id, |store, ev, ctx| ops::delete_comment(store, ev, ctx, &id_or_key, &comment_id))?;
    Ok(no_content())
}
