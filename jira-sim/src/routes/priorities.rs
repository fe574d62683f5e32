//! `/priority`, `/priority/search`, `/priority/{id}`, `/resolution` and `/status`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::util::{Params, ok};
use crate::catalog;
use crate::error::ApiError;
use crate::repr::Repr;
use crate::state::Core;

pub(crate) async fn list(State(core): State<Arc<Core>>) -> Response {
    let r = Repr::v3(&core.base);
    ok(&Value::Array(catalog::PRIORITIES.iter().map(|p| r.priority(p)).collect()))
}

pub(crate) async fn search(State(core): State<Arc<Core>>, params: Params) -> Result<Response, ApiError> {
    let start = params.uint("startAt", 0)?;
    let max = params.uint("maxResults", 50)?;
    let ids = params.all("id");
    let name = params.get("priorityName").map(str::to_lowercase);
    let only_default = params.bool("onlyDefault");
    let r = Repr::v3(&core.base);
    let all: Vec<Value> = catalog::PRIORITIES
        .iter()
        .filter(|p| ids.is_empty() || ids.contains(&p.id))
        .filter(|p| name.as_deref().is_none_or(|n| p.name.to_lowercase().contains(n)))
        .filter(|p| !only_default || p.id == catalog::DEFAULT_PRIORITY_ID)
        .map(|p| r.priority(p))
        .collect();
    let total = all.len() as u64;
    let values: Vec<Value> = all
        .into_iter()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(usize::try_from(max).unwrap_or(usize::MAX))
        .collect();
    Ok(ok(&json!({
        "self": format!("{}/priority/search?startAt={start}&maxResults={max}", r.api()),
        "maxResults": max,
        "startAt": start,
        "total": total,
        "isLast": start + max >= total,
        "values": values,
    })))
}

pub(crate) async fn get(State(core): State<Arc<Core>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let p = catalog::PRIORITIES.iter().find(|p| p.id == id).ok_or_else(|| {
        ApiError::message(StatusCode::NOT_FOUND, format!("The priority with ID '{id}' does not exist."))
    })?;
    Ok(ok(&Repr::v3(&core.base).priority(p)))
}

pub(crate) async fn resolutions(State(core): State<Arc<Core>>) -> Response {
    let r = Repr::v3(&core.base);
    ok(&Value::Array(catalog::RESOLUTIONS.iter().map(|x| r.resolution(x)).collect()))
}

pub(crate) async fn statuses(State(core): State<Arc<Core>>) -> Response {
    let r = Repr::v3(&core.base);
    ok(&Value::Array(catalog::STATUSES.iter().map(|s| r.status(s)).collect()))
}
