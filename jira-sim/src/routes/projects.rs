//! `/project/search`, `/project/{idOrKey}` and the createmeta endpoints.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::util::{Params, ok};
use crate::auth::Caller;
use crate::catalog;
use crate::error::ApiError;
use crate::repr::Repr;
use crate::state::Core;

fn page_bounds(params: &Params, default_max: u64, cap: u64) -> Result<(u64, u64), ApiError> {
    let start = params.uint("startAt", 0)?;
    let max = params.uint("maxResults", default_max)?;
    Ok((start, max.min(cap)))
}

pub(crate) async fn search(
    State(core): State<Arc<Core>>,
    Extension(caller): Extension<Caller>,
    params: Params,
) -> Result<Response, ApiError> {
    let (start, max) = page_bounds(&params, 50, 100)?;
    let store = core.store();
    let r = Repr::v3(&core.base);
    let query = params.get("query").map(str::to_lowercase);
    let keys: Vec<String> = params.all("keys").iter().flat_map(|k| k.split(',')).map(str::to_uppercase).collect();
    let ids: Vec<&str> = params.all("id");
    let mut projects: Vec<_> = if caller.is_anonymous() {
        // What an anonymous caller sees on a site without anonymous browse.
        Vec::new()
    } else {
        store
            .projects
            .iter()
            .filter(|p| {
                query.as_deref().is_none_or(|q| p.key.to_lowercase().contains(q) || p.name.to_lowercase().contains(q))
            })
            .filter(|p| keys.is_empty() || keys.contains(&p.key))
            .filter(|p| ids.is_empty() || ids.contains(&p.id.to_string().as_str()))
            .collect()
    };
    let order = params.get("orderBy").unwrap_or("key");
    let (desc, field) = match order.strip_prefix('-') {
        Some(f) => (true, f),
        None => (false, order.trim_start_matches('+')),
    };
    match field {
        "name" => projects.sort_by_key(|a| a.name.to_lowercase()),
        _ => projects.sort_by(|a, b| a.key.cmp(&b.key)),
    }
    if desc {
        projects.reverse();
    }
    let total = projects.len() as u64;
    let expand = params.get("expand").unwrap_or("");
    let with_types = expand.contains("issueTypes");
    let with_lead = expand.contains("lead") || expand.contains("description");
    let values: Vec<Value> = projects
        .iter()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(usize::try_from(max).unwrap_or(usize::MAX))
        .map(|p| r.project(&store, p, with_types, with_lead))
        .collect();
    let is_last = start + max >= total;
    let api = r.api();
    let mut body = json!({
        "self": format!("{api}/project/search?startAt={start}&maxResults={max}"),
        "maxResults": max,
        "startAt": start,
        "total": total,
        "isLast": is_last,
        "values": values,
    });
    if !is_last {
        body["nextPage"] = json!(format!("{api}/project/search?startAt={}&maxResults={max}", start + max));
    }
    Ok(ok(&body))
}

fn no_project(key: &str) -> ApiError {
    ApiError::message(StatusCode::NOT_FOUND, format!("No project could be found with key '{key}'."))
}

pub(crate) async fn get(State(core): State<Arc<Core>>, Path(key): Path<String>) -> Result<Response, ApiError> {
    let store = core.store();
    let p = store.project_by_id_or_key(&key).ok_or_else(|| no_project(&key))?;
    Ok(ok(&Repr::v3(&core.base).project(&store, p, true, true)))
}

fn meta_bounds(params: &Params) -> Result<(u64, u64), ApiError> {
    let start = params.uint("startAt", 0)?;
    let max = params.uint("maxResults", 50)?;
    if max > 200 {
        return Err(ApiError::bad_request("Parameter 'maxResults' must not exceed the limit '200'"));
    }
    Ok((start, max))
}

fn page<T: Clone>(items: &[T], start: u64, max: u64) -> Vec<T> {
    items
        .iter()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(usize::try_from(max).unwrap_or(usize::MAX))
        .cloned()
        .collect()
}

pub(crate) async fn createmeta_issue_types(
    State(core): State<Arc<Core>>,
    Path(key): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let (start, max) = meta_bounds(&params)?;
    let store = core.store();
    store.project_by_id_or_key(&key).ok_or_else(|| no_project(&key))?;
    let r = Repr::v3(&core.base);
    let all: Vec<Value> = catalog::ISSUE_TYPES.iter().map(|t| r.issue_type(t)).collect();
    Ok(ok(&json!({
        "issueTypes": page(&all, start, max),
        "maxResults": max,
        "startAt": start,
        "total": all.len(),
    })))
}

pub(crate) async fn createmeta_fields(
    State(core): State<Arc<Core>>,
    Path((key, type_id)): Path<(String, String)>,
    params: Params,
) -> Result<Response, ApiError> {
    let (start, max) = meta_bounds(&params)?;
    let store = core.store();
    let project = store.project_by_id_or_key(&key).ok_or_else(|| no_project(&key))?;
    let t = catalog::ISSUE_TYPES.iter().find(|t| t.id == type_id).ok_or_else(|| {
        ApiError::message(
            StatusCode::NOT_FOUND,
            "Issue type with id does not exist or you do not have permission to see it.",
        )
    })?;
    let r = Repr::v3(&core.base);
    let all: Vec<Value> = catalog::SYSTEM_CREATE_FIELDS
        .iter()
        .copied()
        .chain(catalog::CUSTOM_FIELDS.iter().map(|f| f.id))
        .filter(|f| catalog::on_screen(t, f))
        .filter_map(|f| r.field_meta(project, t, f))
        .collect();
    Ok(ok(&json!({
        "fields": page(&all, start, max),
        "maxResults": max,
        "startAt": start,
        "total": all.len(),
    })))
}
