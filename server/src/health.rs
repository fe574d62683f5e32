//! Database health, probed in the background and reported to gRPC health, `/readyz` and
//! Prometheus. The probe result is the only source of truth for all three.
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tonic_health::{ServingStatus, server::HealthReporter};

use crate::db::{self, DbPool};

/// Whether the database answered the last probe.
#[derive(Clone)]
pub struct Readiness(watch::Receiver<bool>);

impl Readiness {
    /// True when the last probe succeeded.
    pub fn is_ready(&self) -> bool {
        *self.0.borrow()
    }
}

/// Starts the probe loop; the first probe has already run when this returns.
pub async fn spawn_probe(
    pool: DbPool,
    reporter: HealthReporter,
    services: Vec<String>,
    interval: Duration,
    shutdown: CancellationToken,
) -> Readiness {
    let probe_timeout = Duration::from_secs(2).min(interval * 4);
    let first = db::ping(&pool, probe_timeout).await;
    report(&reporter, &services, first).await;
    let (tx, rx) = watch::channel(first);
    tokio::spawn(async move {
        let mut last = first;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(interval) => {}
            }
            let up = db::ping(&pool, probe_timeout).await;
            if up != last {
                if up {
                    tracing::info!("database reachable again: SERVING");
                } else {
                    tracing::warn!("database unreachable: NOT_SERVING");
                }
                report(&reporter, &services, up).await;
                last = up;
                let _ = tx.send(up);
            }
        }
        // A server going away is not serving, whatever the database says.
        report(&reporter, &services, false).await;
    });
    Readiness(rx)
}

async fn report(reporter: &HealthReporter, services: &[String], up: bool) {
    let status = if up { ServingStatus::Serving } else { ServingStatus::NotServing };
    metrics::gauge!("northstar_database_up").set(if up { 1.0 } else { 0.0 });
    reporter.set_service_status("", status).await;
    for service in services {
        reporter.set_service_status(service, status).await;
    }
}
