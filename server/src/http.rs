//! The HTTP sidecar: liveness, readiness, Prometheus; Jira webhooks join it with the sync issue.
use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::health::Readiness;

/// What the sidecar's handlers share.
#[derive(Clone)]
pub struct HttpState {
    /// The database probe's last result.
    pub readiness: Readiness,
    /// Renders the process's metrics.
    pub prometheus: PrometheusHandle,
}

/// The sidecar's routes.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(prometheus))
        .with_state(state)
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
