//! `/issue`, `/issue/bulk` and `/issue/{idOrKey}`.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::util::{Params, json_response, no_content, ok, parse_body};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::ops;
use crate::repr::{FieldSelector, Repr};
use crate::state::Core;

pub(crate) async fn create(
    State(core): State<Arc<Core>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let created = core.mutate(&caller.account_id, |store, ev, ctx| ops::create_issue(store, ev, ctx, &body))?;
    Ok(json_response(StatusCode::CREATED, &created.json(&core.base)))
}

pub(crate) async fn bulk(
    State(core): State<Arc<Core>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let (status, out) = core.mutate(&caller.account_id, |store, ev, ctx| ops::bulk_create(store, ev, ctx, &body))?;
    Ok(json_response(status, &out))
}

pub(crate) async fn get(
    State(core): State<Arc<Core>>,
    Path(id_or_key): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let sel = FieldSelector::parse(params.all("fields"), true);
    let store = core.store();
    let issue = store.issue(&id_or_key).ok_or_else(ApiError::issue_not_found)?;
    Ok(ok(&Repr::v3(&core.base).issue(&store, issue, &sel)))
}

pub(crate) async fn edit(
    State(core): State<Arc<Core>>,
    Extension(caller): Extension<Caller>,
    Path(id_or_key): Path<String>,
    params: Params,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let id = core.mutate(&caller.account_id, |store, ev, ctx| ops::edit_issue(store, ev, ctx, &id_or_key, &body))?;
    if params.bool("returnIssue") {
        let store = core.store();
        let issue = store.issues.get(&id).ok_or_else(ApiError::issue_not_found)?;
        return Ok(ok(&Repr::v3(&core.base).issue(&store, issue, &FieldSelector::parse([], true))));
    }
    Ok(no_content())
}

pub(crate) async fn delete(
    State(core): State<Arc<Core>>,
    Extension(caller): Extension<Caller>,
    Path(id_or_key): Path<String>,
) -> Result<Response, ApiError> {
    core.mutate(&caller.account_id, |store, ev, ctx| ops::delete_issue(store, ev, ctx, &id_or_key))?;
    Ok(no_content())
}
