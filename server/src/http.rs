//! The HTTP sidecar: liveness, readiness, Prometheus, and Jira's webhooks. No request logging
//! here prints URIs: a webhook URL's query string may hold its secret.
use axum::{
    Router,
    extract::{DefaultBodyLimit, State},
    http::StatusCode,
    response::IntoResponse,
    routing::{get, post},
};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::health::Readiness;

/// What the sidecar's handlers share.
#[derive(Clone)]
pub struct HttpState {
    /// The database probe's last result.
    pub readiness: Readiness,
    /// Renders the process's metrics.
    pub prometheus: PrometheusHandle,
    /// What webhook handling needs.
    pub app: crate::api::AppState,
}

/// The sidecar's routes.
pub fn router(state: HttpState) -> Router {
    let webhooks = Router::new()
        .route("/webhooks/jira/{configuration_id}", post(crate::webhooks::receive::handle))
        .layer(DefaultBodyLimit::max(crate::webhooks::receive::MAX_BODY))
        .with_state(state.app.clone());
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(prometheus))
        .with_state(state)
        .merge(webhooks)
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready means the database answered the last probe; migrations ran before the port opened.
async fn readyz(State(state): State<HttpState>) -> impl IntoResponse {
    if state.readiness.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n")
    }
}

async fn prometheus(State(state): State<HttpState>) -> impl IntoResponse {
    ([(http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.prometheus.render())
}
