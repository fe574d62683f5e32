//! Logging and metrics: the Prometheus recorder, the gRPC layer that counts RPCs, and the task
//! that refreshes the gauges read from the database and the pool.
mod gauges;
mod rpc;

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

pub use gauges::{GAUGE_INTERVAL, spawn_gauges};
pub use rpc::{RpcMetrics, RpcMetricsLayer};

use crate::config::LogFormat;

/// Installs the global tracing subscriber (`RUST_LOG`, default `info`).
pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Pretty => registry.with(fmt::layer()).init(),
        LogFormat::Json => registry.with(fmt::layer().json().flatten_event(true)).init(),
    }
}

/// Bucket bounds of every `*_seconds` histogram: from a fast RPC to a long Retry-After pause.
const SECONDS_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];

/// The process-wide Prometheus recorder, installed on first use. Several servers in one
/// process (the tests) share it, as they would share one `/metrics` endpoint.
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            // Buckets rather than the exporter's default summaries: quantiles of several
            // replicas cannot be aggregated, bucket counts can.
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
                .expect("the bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Fails only when another recorder was installed first; the handle still renders ours.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            handle
        })
        .clone()
}

/// The `# HELP` lines of `/metrics`: what each family counts, and what its labels mean.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!("northstar_tickets_created_total", "Jira tickets created, by trigger.");
    describe_counter!("northstar_deliveries_total", "Delivery attempts, by outcome.");
    describe_histogram!("northstar_delivery_seconds", "Duration of a delivery attempt.");
    describe_histogram!(
        "northstar_group_commit_items",
        "Items (new events, webhooks) committed together in one group, by group."
    );
    describe_histogram!(
        "northstar_group_commit_seconds",
        "Time to store one group of new events, connection wait included."
    );
    describe_counter!("northstar_events_submitted_total", "Events submitted, by kind and whether they were new.");
    describe_counter!("northstar_webhooks_total", "Jira webhooks received, by event and outcome.");
    describe_counter!(
        "northstar_jira_requests_total",
        "Jira HTTP requests, by method, endpoint template and status (`error`: no response)."
    );
    describe_histogram!("northstar_jira_request_seconds", "Jira request latency, by endpoint template.");
    describe_counter!(
        "northstar_jira_rate_limit_waits_total",
        "Jira requests held back by a credential's limits, by reason (retry_after, rate, concurrency)."
    );
    describe_histogram!("northstar_jira_rate_limit_wait_seconds", "How long a Jira request was held back, by reason.");
    describe_counter!("northstar_grpc_requests_total", "gRPC calls, by full method name and status code.");
    describe_histogram!("northstar_grpc_request_seconds", "gRPC call duration until its status, by method.");
    describe_gauge!("northstar_outbox_depth", "Deliveries not yet succeeded, by state (the same on every replica).");
    describe_gauge!("northstar_inbox_depth", "Jira webhooks waiting to be applied (the same on every replica).");
    describe_gauge!("northstar_db_pool_connections", "This replica's database connections, by state (in_use, idle).");
    describe_gauge!("northstar_db_pool_max", "This replica's database pool size limit.");
    describe_gauge!("northstar_db_pool_waiting", "Tasks waiting for a database connection on this replica.");
    describe_gauge!("northstar_database_up", "1 when the last database probe succeeded.");
}
