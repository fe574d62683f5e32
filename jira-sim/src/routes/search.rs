//! `/search/jql` (GET and POST), `/search/approximate-count`, and the removed
//! `/search` endpoints, which answer 410 Gone like Jira Cloud.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use serde_json::{Value, json};

use super::util::{Params, json_response, ok, parse_body, str_or_number};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::jql::{EvalCtx, Query};
use crate::model::Issue;
use crate::repr::{FieldSelector, Repr};
use crate::state::Core;

const UNBOUNDED: &str = "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.";

#[derive(Debug, Default)]
struct SearchRequest {
    jql: String,
    next_page_token: Option<String>,
    max_results: Option<u64>,
    fields: Vec<String>,
    reconcile: Vec<u64>,
}

pub(crate) async fn jql_get(
    State(core): State<Arc<Core>>,
    Extension(caller): Extension<Caller>,
    params: Params,
) -> Result<Response, ApiError> {
    let req = SearchRequest {
        jql: params.get("jql").unwrap_or("").to_owned(),
        next_page_token: params.get("nextPageToken").map(str::to_owned),
        max_results: params.get("maxResults").map(|_| params.uint("maxResults", 50)).transpose()?,
        fields: params.all("fields").into_iter().map(str::to_owned).collect(),
        reconcile: params
            .all("reconcileIssues")
            .iter()
            .flat_map(|v| v.split(','))
            .filter_map(|v| v.trim().parse().ok())
            .collect(),
    };
    search(&core, &caller, &req).map(|v| ok(&v))
}

pub(crate) async fn jql_post(
    State(core): State<Arc<Core>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let fields = match body.get("fields") {
        Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    };
    let max_results = match body.get("maxResults") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| ApiError::bad_request("maxResults must be a non-negative integer."))?),
    };
    let req = SearchRequest {
        jql: body.get("jql").and_then(Value::as_str).unwrap_or("").to_owned(),
        next_page_token: body.get("nextPageToken").and_then(Value::as_str).map(str::to_owned),
        max_results,
        fields,
        reconcile: body
            .get("reconcileIssues")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| str_or_number(Some(v))?.parse().ok()).collect())
            .unwrap_or_default(),
    };
    search(&core, &caller, &req).map(|v| ok(&v))
}

fn jql_hash(jql: &str) -> u32 {
    jql.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

fn encode_token(offset: usize, jql: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{offset}:{:08x}", jql_hash(jql)))
}

fn decode_token(token: &str, jql: &str) -> Result<usize, ApiError> {
    let bad = || ApiError::bad_request("The provided next page token is invalid or expired.");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let (offset, hash) = raw.split_once(':').ok_or_else(bad)?;
    if hash != format!("{:08x}", jql_hash(jql)) {
        return Err(bad());
    }
    offset.parse().map_err(|_| bad())
}

/// Parses, validates and runs a query; returns the matching issues in order.
fn matching<'s>(
    core: &Core,
    store: &'s crate::model::Store,
    caller: &Caller,
    jql: &str,
    reconcile: &[u64],
) -> Result<Vec<&'s Issue>, ApiError> {
    let q = Query::parse(jql).map_err(|e| ApiError::bad_request(e.0))?;
    if !q.is_bounded() {
        return Err(ApiError::bad_request(UNBOUNDED));
    }
    let now = core.clock.now();
    let current_user = (!caller.is_anonymous()).then_some(caller.account_id.as_str());
    let ctx = EvalCtx { store, now, current_user };
    if let Err(messages) = q.validate(&ctx) {
        let mut e = ApiError::bad_request("");
        e.messages = messages;
        return Err(e);
    }
    // Search is eventually consistent on Jira Cloud: brand-new issues can be
    // missing unless the caller asks for them through `reconcileIssues`.
    let lag = chrono::Duration::from_std(core.config.search_lag).unwrap_or_default();
    let mut hits: Vec<&Issue> = store
        .issues
        .values()
        .filter(|i| lag.is_zero() || i.created + lag <= now || reconcile.contains(&i.id))
        .filter(|i| q.matches(i, &ctx))
        .collect();
    q.sort(&mut hits);
    Ok(hits)
}

fn search(core: &Core, caller: &Caller, req: &SearchRequest) -> Result<Value, ApiError> {
    let store = core.store();
    let hits = matching(core, &store, caller, &req.jql, &req.reconcile)?;
    let offset = match &req.next_page_token {
        Some(t) if !t.is_empty() => decode_token(t, &req.jql)?,
        _ => 0,
    };
    let sel = FieldSelector::parse(req.fields.iter().map(String::as_str), false);
    let cap = if sel.ids_and_keys_only() { 5000 } else { core.config.search_page_cap.max(1) };
    let max = usize::try_from(req.max_results.unwrap_or(50)).unwrap_or(usize::MAX).clamp(1, cap);
    let r = Repr::v3(&core.base);
    let issues: Vec<Value> = hits
        .iter()
        .skip(offset)
        .take(max)
        .map(|i| if sel.id_only() { json!({"id": i.id.to_string()}) } else { r.issue(&store, i, &sel) })
        .collect();
    let is_last = offset.saturating_add(max) >= hits.len();
    let mut body = json!({"issues": issues, "isLast": is_last});
    if !is_last {
        body["nextPageToken"] = json!(encode_token(offset + max, &req.jql));
    }
    Ok(body)
}

pub(crate) async fn approximate_count(
    State(core): State<Arc<Core>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let jql = body.get("jql").and_then(Value::as_str).unwrap_or("");
    let store = core.store();
    let n = matching(&core, &store, &caller, jql, &[])?.len();
    Ok(ok(&json!({"count": n})))
}

/// The old search endpoints were removed (CHANGE-2046).
pub(crate) async fn gone() -> Response {
    json_response(
        StatusCode::GONE,
        &json!({
            "errorMessages": ["The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"],
            "errors": {},
        }),
    )
}
