//! The simulator's own admin surface under `/_sim`, for scripts and demos:
//! no auth, not counted, never faulted. It mirrors [`crate::SimHandle`].

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Value, json};

use super::util::{Params, json_response, no_content, ok, parse_body};
use crate::config::{Account, ProjectSeed, WebhookSpec};
use crate::error::{ApiError, SimError};
use crate::faults::{FaultRule, RandomFaults};
use crate::handle::{RichText, SimHandle};
use crate::state::Core;
use crate::webhooks::ReleaseOrder;

pub(crate) fn router() -> Router<Arc<Core>> {
    Router::new()
        .route("/_sim/health", get(health))
        .route("/_sim/accounts", get(accounts).post(add_account))
        .route("/_sim/accounts/{who}/token", put(set_token))
        .route("/_sim/projects", post(add_project))
        .route("/_sim/clock/advance", post(advance_clock))
        .route("/_sim/requests", get(requests).delete(clear_requests))
        .route("/_sim/faults", get(faults).post(add_fault).delete(clear_faults))
        .route("/_sim/faults/latency", put(set_latency))
        .route("/_sim/faults/random", put(set_random))
        .route("/_sim/issues", get(issues).post(create_issue))
        .route("/_sim/issues/{key}", get(issue).put(edit_issue).delete(delete_issue))
        .route("/_sim/issues/{key}/transition", post(transition))
        .route("/_sim/issues/{key}/priority", put(set_priority))
        .route("/_sim/issues/{key}/comments", post(add_comment))
        .route("/_sim/issues/{key}/comments/{id}", put(edit_comment).delete(delete_comment))
        .route("/_sim/issues/{key}/links", get(issue_links))
        .route("/_sim/links", post(link_issues))
        .route("/_sim/webhooks", get(webhooks).post(add_webhook))
        .route("/_sim/webhooks/{id}", axum::routing::delete(remove_webhook))
        .route("/_sim/webhooks/{id}/enabled", put(set_webhook_enabled))
        .route("/_sim/deliveries", get(deliveries).delete(clear_deliveries))
        .route("/_sim/deliveries/hold", put(hold))
        .route("/_sim/deliveries/held", get(held))
        .route("/_sim/deliveries/release", post(release))
        .route("/_sim/deliveries/duplicate-next", post(duplicate_next))
        .route("/_sim/deliveries/drop-next", post(drop_next))
        .route("/_sim/deliveries/wait", post(wait))
        .route("/_sim/deliveries/{identifier}/redeliver", post(redeliver))
}

/// Errors of the admin surface: Jira rejections keep Jira's status and body.
struct AdminError(SimError);

impl From<SimError> for AdminError {
    fn from(e: SimError) -> Self {
        Self(e)
    }
}

impl From<ApiError> for AdminError {
    fn from(e: ApiError) -> Self {
        Self(SimError::Jira(e))
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        match self.0 {
            SimError::Jira(e) => e.into_response(),
            other => {
                let status = match other {
                    SimError::UnknownWebhook(_) | SimError::UnknownDelivery(_) => StatusCode::NOT_FOUND,
                    _ => StatusCode::BAD_REQUEST,
                };
                json_response(status, &json!({"error": other.to_string()}))
            }
        }
    }
}

type AdminResult = Result<Response, AdminError>;

fn handle(core: &Arc<Core>) -> SimHandle {
    SimHandle { core: Arc::clone(core) }
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// The acting person: `as` (account id or email), defaulting to the first
/// account without an API token (a human), else the first account.
fn actor(core: &Core, body: Option<&Value>, params: Option<&Params>) -> String {
    let given = body
        .and_then(|b| b.get("as"))
        .and_then(Value::as_str)
        .or_else(|| params.and_then(|p| p.get("as")))
        .map(str::to_owned);
    given.unwrap_or_else(|| {
        let store = core.store();
        store
            .accounts
            .iter()
            .find(|a| a.api_token.is_none())
            .or_else(|| store.accounts.first())
            .map(|a| a.account_id.clone())
            .unwrap_or_default()
    })
}

fn field<'a>(body: &'a Value, name: &str) -> Result<&'a Value, ApiError> {
    body.get(name).ok_or_else(|| ApiError::bad_request(format!("'{name}' is required")))
}

fn str_field<'a>(body: &'a Value, name: &str) -> Result<&'a str, ApiError> {
    field(body, name)?.as_str().ok_or_else(|| ApiError::bad_request(format!("'{name}' must be a string")))
}

async fn health(State(core): State<Arc<Core>>) -> Response {
    ok(&json!({"ok": true, "baseUrl": core.base}))
}

async fn accounts(State(core): State<Arc<Core>>) -> Response {
    let list: Vec<Value> = handle(&core)
        .accounts()
        .iter()
        .map(|a| {
            json!({
                "accountId": a.account_id,
                "displayName": a.display_name,
                "email": a.email,
                "hasApiToken": a.api_token.is_some(),
                "active": a.active,
            })
        })
        .collect();
    ok(&Value::Array(list))
}

async fn add_account(State(core): State<Arc<Core>>, body: Bytes) -> AdminResult {
    let body = parse_body(&body)?;
    let mut a = Account::person(str_field(&body, "displayName")?, str_field(&body, "email")?);
    if let Some(t) = body.get("token").and_then(Value::as_str) {
        a = a.with_token(t);
    }
    if let Some(id) = body.get("accountId").and_then(Value::as_str) {
        a = a.with_account_id(id);
    }
    let id = a.account_id.clone();
    handle(&core).add_account(a);
    Ok(json_response(StatusCode::CREATED, &json!({"accountId": id})))
}

async fn set_token(State(core): State<Arc<Core>>, Path(who): Path<String>, body: Bytes) -> AdminResult {
    let body = parse_body(&body)?;
    handle(&core).set_api_token(&who, body.get("token").and_then(Value::as_str))?;
    Ok(no_content())
}

async fn add_project(State(core): State<Arc<Core>>, body: Bytes) -> AdminResult {
    let body = parse_body(&body)?;
    let key = str_field(&body, "key")?;
    let name = body.get("name").and_then(Value::as_str).unwrap_or(key);
    let mut seed = ProjectSeed::new(key, name);
    if let Some(c) = body.get("components").and_then(Value::as_array) {
        seed.components = c.iter().filter_map(Value::as_str).map(str::to_owned).collect();
    }
    let id = handle(&core).add_project(seed);
    Ok(json_response(StatusCode::CREATED, &json!({"id": id})))
}

async fn advance_clock(State(core): State<Arc<Core>>, body: Bytes) -> AdminResult {
    let body = parse_body(&body)?;
    let secs = field(&body, "seconds")?
        .as_f64()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .ok_or_else(|| ApiError::bad_request("'seconds' must be a non-negative number"))?;
    let h = handle(&core);
    h.advance_clock(Duration::from_secs_f64(secs.min(1e9)));
    Ok(ok(&json!({"now": crate::time::format_jira(h.now())})))
}

async fn requests(State(core): State<Arc<Core>>) -> Response {
    let h = handle(&core);
    ok(&json!({"counts": h.request_counts(), "requests": to_json(&h.requests())}))
}

async fn clear_requests(State(core): State<Arc<Core>>) -> Response {
    handle(&core).reset_request_counts();
    no_content()
}

async fn faults(State(core): State<Arc<Core>>) -> Response {
    ok(&json!({
        "rules": to_json(&core.faults.rules()),
        "latencyMs": u64::try_from(core.faults.latency().as_millis()).unwrap_or(u64::MAX),
        "random": to_json(&core.faults.random()),
    }))
}

async fn add_fault(State(core): State<Arc<Core>>, body: Bytes) -> AdminResult {
    let body = parse_body(&body)?;
    let rule: FaultRule =
        serde_json::from_value(body).map_err(|e| ApiError::bad_request(format!("invalid fault rule: {e}")))?;
    handle(&core).inject(rule);
    Ok(no_content())
}

async fn clear_faults(State(core): State<Arc<Core>>) -> Response {
    handle(&core).clear_faults();
    no_content()
}

async fn set_latency(State(core): State<Arc<Core>>, body: Bytes) -> AdminResult {
    let body = parse_body(&body)?;
    let ms =
        field(&body, "ms")?.as_u64().ok_or_else(|| ApiError::bad_request("'ms' must be a non-negative integer"))?;
    handle(&core).set_latency(Duration::from_millis(ms));
    Ok(no_content())
}

async fn set_random(State(core): State<Arc<Core>>, body: Bytes) -> AdminResult {
    let body = parse_body(&body)?;
    let random: Option<RandomFaults> =
        serde_json::from_value(body).map_err(|e| ApiError::bad_request(format!("invalid random faults: {e}")))?;
    handle(&core).set_random_faults(random);
    Ok(no_content())
}

async fn issues(State(core): State<Arc<Core>>, params: Params) -> Response {
    let h = handle(&core);
    let list = match params.get("label") {
        Some(l) => h.issues_with_label(l),
        None => h.issues(),
    };
    ok(&to_json(&list))
}

async fn create_issue(State(core): State<Arc<Core>>, body: Bytes) -> AdminResult {
    let body = parse_body(&body)?;
    let who = actor(&core, Some(&body), None);
    let issue = handle(&core).create_issue(&who, field(&body, "fields")?.clone())?;
    Ok(json_response(StatusCode::CREATED, &to_json(&issue)))
}

async fn issue(State(core): State<Arc<Core>>, Path(key): Path<String>) -> AdminResult {
    let h = handle(&core);
    let view = h.issue(&key).ok_or_else(ApiError::issue_not_found)?;
    Ok(ok(&json!({"issue": to_json(&view), "rest": h.issue_json(&key)})))
}

async fn edit_issue(State(core): State<Arc<Core>>, Path(key): Path<String>, body: Bytes) -> AdminResult {
    let body = parse_body(&body)?;
    let who = actor(&core, Some(&body), None);
    let mut rest = body.clone();
    if let Some(o) = rest.as_object_mut() {
        o.remove("as");
    }
    handle(&core).edit_issue(&who, &key, rest)?;
    Ok(no_content())
}

async fn delete_issue(State(core): State<Arc<Core>>, Path(key): Path<String>, params: Params) -> AdminResult {
    let who = actor(&core, None, Some(&params));
    handle(&core).delete_issue(&who, &key)?;
    Ok(no_content())
}

async fn transition(State(core): State<Arc<Core>>, Path(key): Path<String>, body: Bytes) -> AdminResult {
    let body = parse_body(&body)?;
    let who = actor(&core, Some(&body), None);
    let to = str_field(&body, "to")?;
    let resolution = body.get("resolution").and_then(Value::as_str);
    handle(&core).transition(&who, &key, to, resolution)?;
    Ok(no_content())
}

async fn set_priority(State(core): State<Arc<Core>>, Path(key): Path<String>, body: Bytes) -> AdminResult {
    let body = parse_body(&body)?;
    let who = actor(&core, Some(&body), None);
    handle(&core).set_priority(&who, &key, str_field(&body, "priority")?)?;
    Ok(no_content())
}

async fn add_comment(State(core): State<Arc<Core>>, Path(key): Path<String>, body: Bytes) -> AdminResult {
    let body = parse_body(&body)?;
    let who = actor(&core, Some(&body), None);
    let text = RichText::from(field(&body, "body")?.clone());
    let id = handle(&core).add_comment(&who, &key, text)?;
    Ok(json_response(StatusCode::CREATED, &json!({"id": id})))
}

async fn edit_comment(
    State(core): State<Arc<Core>>,
    Path((key, id)): Path<(String, String)>,
    body: Bytes,
) -> AdminResult {
    let body = parse_body(&body)?;
    let who = actor(&core, Some(&body), None);
    let text = RichText::from(field(&body, "body")?.clone());
    handle(&core).edit_comment(&who, &key, &id, text)?;
    Ok(no_content())
}

async fn delete_comment(
    State(core): State<Arc<Core>>,
    Path((key, id)): Path<(String, String)>,
    params: Params,
) -> AdminResult {
    let who = actor(&core, None, Some(&params));
    handle(&core).delete_comment(&who, &key, &id)?;
    Ok(no_content())
}

async fn issue_links(State(core): State<Arc<Core>>, Path(key): Path<String>) -> AdminResult {
    let h = handle(&core);
    if h.issue(&key).is_none() {
        return Err(ApiError::issue_not_found().into());
    }
    Ok(ok(&to_json(&h.issue_links(&key))))
}

async fn link_issues(State(core): State<Arc<Core>>, body: Bytes) -> AdminResult {
    let body = parse_body(&body)?;
    let who = actor(&core, Some(&body), None);
    let id = handle(&core).link_issues(
        &who,
        str_field(&body, "type")?,
        str_field(&body, "inwardIssue")?,
        str_field(&body, "outwardIssue")?,
    )?;
    Ok(json_response(StatusCode::CREATED, &json!({"id": id})))
}

async fn webhooks(State(core): State<Arc<Core>>) -> Response {
    ok(&to_json(&handle(&core).webhooks()))
}

async fn add_webhook(State(core): State<Arc<Core>>, body: Bytes) -> AdminResult {
    let body = parse_body(&body)?;
    let mut spec = WebhookSpec::new(str_field(&body, "url")?);
    if let Some(s) = body.get("secret").and_then(Value::as_str) {
        spec = spec.with_secret(s);
    }
    if let Some(n) = body.get("name").and_then(Value::as_str) {
        spec.name = n.to_owned();
    }
    if let Some(j) = body.get("jqlFilter").and_then(Value::as_str) {
        spec = spec.with_jql(j);
    }
    if let Some(ev) = body.get("events").and_then(Value::as_array) {
        spec = spec.with_events(ev.iter().filter_map(Value::as_str));
    }
    spec.exclude_body = body.get("excludeBody").and_then(Value::as_bool).unwrap_or(false);
    let id = handle(&core).register_webhook(spec)?;
    Ok(json_response(StatusCode::CREATED, &json!({"id": id})))
}

fn webhook_id(id: &str) -> Result<u64, AdminError> {
    id.parse().map_err(|_| AdminError(SimError::UnknownWebhook(0)))
}

async fn remove_webhook(State(core): State<Arc<Core>>, Path(id): Path<String>) -> AdminResult {
    handle(&core).remove_webhook(webhook_id(&id)?)?;
    Ok(no_content())
}

async fn set_webhook_enabled(State(core): State<Arc<Core>>, Path(id): Path<String>, body: Bytes) -> AdminResult {
    let body = parse_body(&body)?;
    let enabled =
        field(&body, "enabled")?.as_bool().ok_or_else(|| ApiError::bad_request("'enabled' must be a boolean"))?;
    handle(&core).set_webhook_enabled(webhook_id(&id)?, enabled)?;
    Ok(no_content())
}

async fn deliveries(State(core): State<Arc<Core>>) -> Response {
    ok(&to_json(&handle(&core).deliveries()))
}

async fn clear_deliveries(State(core): State<Arc<Core>>) -> Response {
    handle(&core).clear_deliveries();
    no_content()
}

async fn hold(State(core): State<Arc<Core>>, body: Bytes) -> AdminResult {
    let body = parse_body(&body)?;
    let on = field(&body, "hold")?.as_bool().ok_or_else(|| ApiError::bad_request("'hold' must be a boolean"))?;
    handle(&core).hold_deliveries(on);
    Ok(no_content())
}

async fn held(State(core): State<Arc<Core>>) -> Response {
    ok(&to_json(&handle(&core).held_deliveries()))
}

async fn release(State(core): State<Arc<Core>>, body: Bytes) -> AdminResult {
    let body = if body.is_empty() { json!({}) } else { parse_body(&body)? };
    let order = if let Some(ids) = body.get("ids").and_then(Value::as_array) {
        ReleaseOrder::Ids(ids.iter().filter_map(Value::as_str).map(str::to_owned).collect())
    } else if body.get("order").and_then(Value::as_str) == Some("reverse") {
        ReleaseOrder::Reverse
    } else {
        ReleaseOrder::Fifo
    };
    let n = handle(&core).release_held(order);
    Ok(ok(&json!({"released": n})))
}

fn count_field(body: &Value) -> Result<u32, ApiError> {
    match body.get("count") {
        None => Ok(1),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| ApiError::bad_request("'count' must be a non-negative integer")),
    }
}

async fn duplicate_next(State(core): State<Arc<Core>>, body: Bytes) -> AdminResult {
    let body = if body.is_empty() { json!({}) } else { parse_body(&body)? };
    handle(&core).duplicate_next_deliveries(count_field(&body)?);
    Ok(no_content())
}

async fn drop_next(State(core): State<Arc<Core>>, body: Bytes) -> AdminResult {
    let body = if body.is_empty() { json!({}) } else { parse_body(&body)? };
    handle(&core).drop_next_deliveries(count_field(&body)?, body.get("event").and_then(Value::as_str));
    Ok(no_content())
}

async fn wait(State(core): State<Arc<Core>>, body: Bytes) -> AdminResult {
    let body = if body.is_empty() { json!({}) } else { parse_body(&body)? };
    let ms = body.get("timeoutMs").and_then(Value::as_u64).unwrap_or(5000).min(600_000);
    let idle = handle(&core).wait_for_deliveries(Duration::from_millis(ms)).await;
    Ok(ok(&json!({"idle": idle})))
}

async fn redeliver(State(core): State<Arc<Core>>, Path(identifier): Path<String>) -> AdminResult {
    handle(&core).redeliver(&identifier)?;
    Ok(no_content())
}
