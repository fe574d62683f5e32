//! The admin webhook REST API, `/rest/webhooks/1.0/webhook`, which works
//! with basic auth and (unlike dynamic app webhooks) takes a `secret`.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::util::{json_response, no_content, ok, parse_body};
use crate::auth::Caller;
use crate::config::WebhookSpec;
use crate::error::ApiError;
use crate::model::{Store, Webhook};
use crate::state::Core;
use crate::webhooks;

fn render(core: &Core, store: &Store, w: &Webhook) -> Value {
    let who = store.account(&w.last_updated_by);
    json!({
        "name": w.spec.name,
        "url": w.spec.url,
        "excludeBody": w.spec.exclude_body,
        "filters": {"issue-related-events-section": w.spec.jql_filter.clone().unwrap_or_default()},
        "events": w.spec.events,
        "enabled": w.enabled,
        "self": format!("{}/rest/webhooks/1.0/webhook/{}", core.base, w.id),
        "lastUpdatedUser": w.last_updated_by,
        "lastUpdatedDisplayName": who.map(|a| a.display_name.clone()).unwrap_or_default(),
        "lastUpdated": w.last_updated.timestamp_millis(),
    })
}

/// Reads a registration body; `base` supplies values a PUT leaves out.
fn spec_from(body: &Value, base: Option<&WebhookSpec>) -> Result<(WebhookSpec, Option<bool>), ApiError> {
    let obj = body.as_object().ok_or_else(|| ApiError::bad_request("Invalid webhook registration."))?;
    let mut spec = base.cloned().unwrap_or_else(|| WebhookSpec::new(""));
    if let Some(name) = obj.get("name").and_then(Value::as_str) {
        spec.name = name.to_owned();
    }
    if let Some(url) = obj.get("url").and_then(Value::as_str) {
        spec.url = url.to_owned();
    }
    if let Some(events) = obj.get("events") {
        let arr = events.as_array().ok_or_else(|| ApiError::field("events", "data was not an array"))?;
        spec.events = arr.iter().filter_map(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned).collect();
    }
    let jql = obj
        .get("filters")
        .and_then(|f| f.get("issue-related-events-section"))
        .or_else(|| obj.get("jqlFilter"))
        .and_then(Value::as_str);
    if let Some(jql) = jql {
        spec.jql_filter = Some(jql.to_owned()).filter(|s| !s.trim().is_empty());
    }
    if let Some(b) = obj.get("excludeBody").and_then(Value::as_bool) {
        spec.exclude_body = b;
    }
    // Jira keeps the old secret when an update leaves it out.
    if let Some(secret) = obj.get("secret").and_then(Value::as_str) {
        spec.secret = Some(secret.to_owned()).filter(|s| !s.is_empty());
    }
    if spec.name.is_empty() {
        spec.name = "webhook".into();
    }
    Ok((spec, obj.get("enabled").and_then(Value::as_bool)))
}

pub(crate) async fn create(
    State(core): State<Arc<Core>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let (spec, enabled) = spec_from(&body, None)?;
    let now = core.clock.now();
    let mut store = core.store();
    let id = webhooks::register(&mut store, spec, now, &caller.account_id)?;
    if let (Some(enabled), Some(w)) = (enabled, store.webhooks.get_mut(&id)) {
        w.enabled = enabled;
    }
    let w = store.webhooks.get(&id).ok_or_else(|| not_found(id))?;
    Ok(json_response(StatusCode::CREATED, &render(&core, &store, w)))
}

fn not_found(id: u64) -> ApiError {
    ApiError::message(StatusCode::NOT_FOUND, format!("Webhook with id {id} does not exist."))
}

fn parse_id(id: &str) -> Result<u64, ApiError> {
    id.parse().map_err(|_| ApiError::message(StatusCode::NOT_FOUND, format!("Webhook with id {id} does not exist.")))
}

pub(crate) async fn list(State(core): State<Arc<Core>>) -> Response {
    let store = core.store();
    ok(&Value::Array(store.webhooks.values().map(|w| render(&core, &store, w)).collect()))
}

pub(crate) async fn get(State(core): State<Arc<Core>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let store = core.store();
    let w = store.webhooks.get(&id).ok_or_else(|| not_found(id))?;
    Ok(ok(&render(&core, &store, w)))
}

pub(crate) async fn update(
    State(core): State<Arc<Core>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let body = parse_body(&body)?;
    let now = core.clock.now();
    let mut store = core.store();
    let old = store.webhooks.get(&id).ok_or_else(|| not_found(id))?.clone();
    let (spec, enabled) = spec_from(&body, Some(&old.spec))?;
    // Re-register to validate URL and JQL, then keep the id.
    let tmp = webhooks::register(&mut store, spec, now, &caller.account_id)?;
    store.next_webhook_id -= 1;
    if let Some(mut w) = store.webhooks.remove(&tmp) {
        w.id = id;
        w.enabled = enabled.unwrap_or(old.enabled);
        store.webhooks.insert(id, w);
    }
    let w = store.webhooks.get(&id).ok_or_else(|| not_found(id))?;
    Ok(ok(&render(&core, &store, w)))
}

pub(crate) async fn delete(State(core): State<Arc<Core>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    core.store().webhooks.remove(&id).ok_or_else(|| not_found(id))?;
    Ok(no_content())
}
