//! The layer in front of every REST route: counts and logs the request (with its bodies), adds the
//! configured latency, and applies a scripted or random fault.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::json;

use crate::faults::{Fault, LostMode, RequestRecord};
use crate::net::ConnHandle;
use crate::routes::util::json_response;
use crate::state::Core;

pub(crate) async fn faults_and_counting(State(core): State<Arc<Core>>, req: Request, next: Next) -> Response {
    // Bodies are small JSON: buffer them so the log keeps what was sent and answered.
    let (parts, body) = req.into_parts();
    let request_bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
    let req = Request::from_parts(parts, Body::from(request_bytes.clone()));
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let route = req.extensions().get::<MatchedPath>().map_or_else(|| path.clone(), |m| m.as_str().to_owned());
    let latency = core.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let fault = core.faults.pick(&method, &path);
    let fault_name = fault.as_ref().map(|f| format!("{f:?}"));
    let resp = match fault {
        None => with_request_id(next.run(req).await),
        Some(Fault::RateLimited { retry_after, reason }) => {
            let mut resp = json_response(
                StatusCode::TOO_MANY_REQUESTS,
                &json!({"errorMessages": ["Rate limit exceeded."], "errors": {}}),
            );
            let reason = reason.unwrap_or_else(|| "jira-burst-based".to_owned());
            if let Ok(v) = HeaderValue::from_str(&reason) {
                resp.headers_mut().insert("ratelimit-reason", v);
            }
            if let Some(secs) = retry_after {
                set_retry_after(&mut resp, secs, &core);
            }
            resp
        }
        Some(Fault::Unavailable { retry_after }) => {
            let mut resp = json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({"errorMessages": ["Service Unavailable"], "errors": {}}),
            );
            if let Some(secs) = retry_after {
                set_retry_after(&mut resp, secs, &core);
            }
            resp
        }
        Some(Fault::ServerError { status }) => server_error(status),
        Some(Fault::LoseResponse { mode }) => {
            let conn = req.extensions().get::<ConnectInfo<ConnHandle>>().map(|c| c.0.clone());
            // The work happens; only the answer is lost.
            let _ = next.run(req).await;
            match mode {
                LostMode::Status500 => server_error(500),
                LostMode::Close => {
                    if let Some(c) = conn {
                        c.kill();
                    }
                    server_error(500)
                }
                LostMode::Hang { ms } => {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    if let Some(c) = conn {
                        c.kill();
                    }
                    server_error(500)
                }
            }
        }
    };
    let (parts, body) = resp.into_parts();
    let response_bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
    let resp = Response::from_parts(parts, Body::from(response_bytes.clone()));
    core.requests.push(RequestRecord {
        method,
        route,
        path,
        status: resp.status().as_u16(),
        fault: fault_name,
        request_body: body_text(&request_bytes),
        response_body: body_text(&response_bytes),
    });
    resp
}

fn body_text(bytes: &Bytes) -> Option<String> {
    (!bytes.is_empty()).then(|| String::from_utf8_lossy(bytes).into_owned())
}

fn server_error(status: u16) -> Response {
    let status = StatusCode::from_u16(status)
        .ok()
        .filter(StatusCode::is_server_error)
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, &json!({"errorMessages": ["Internal server error"], "errors": {}}))
}

fn set_retry_after(resp: &mut Response, secs: u64, core: &Core) {
    resp.headers_mut().insert("retry-after", HeaderValue::from(secs));
    let reset = i64::try_from(secs)
        .ok()
        .and_then(chrono::Duration::try_seconds)
        .and_then(|d| core.clock.now().checked_add_signed(d));
    if let Some(reset) = reset
        && let Ok(v) = HeaderValue::from_str(&reset.format("%Y-%m-%dT%H:%MZ").to_string())
    {
        resp.headers_mut().insert("x-ratelimit-reset", v);
    }
}

fn with_request_id(mut resp: Response) -> Response {
    if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        resp.headers_mut().insert("x-arequestid", v);
    }
    resp
}
