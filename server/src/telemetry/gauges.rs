//! Gauges that are read rather than recorded: the outbox and inbox depth (from the database,
//! so every replica reports the same value: aggregate them with `max`, not `sum`) and the
//! replica's own connection pool.
use std::time::Duration;

use diesel::{
    QueryableByName,
    sql_types::{BigInt, Text},
};
use diesel_async::RunQueryDsl as _;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;

use crate::db::DbPool;

/// How often the gauges are refreshed.
pub const GAUGE_INTERVAL: Duration = Duration::from_secs(5);

/// The delivery states that are still owed work; `succeeded` is history, not depth.
const OUTBOX_STATES: [&str; 4] = ["pending", "failed", "in_flight", "dead"];

#[derive(QueryableByName)]
struct StateCount {
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = BigInt)]
    count: i64,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// Refreshes the gauges every `interval`, starting now, until `shutdown`.
///
/// It also runs the recorder's upkeep: histogram samples otherwise pile up in memory until
/// somebody scrapes `/metrics`, which nobody may ever do.
pub fn spawn_gauges(pool: DbPool, prometheus: PrometheusHandle, interval: Duration, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = ticks.tick() => {}
            }
            refresh_pool(&pool);
            // Bounded, so a hung database cannot stall the refreshes behind it.
            match tokio::time::timeout(interval, refresh_depths(&pool)).await {
                Ok(Ok(())) => {}
                // The health probe already reports an unreachable database; this would repeat it
                // every few seconds.
                Ok(Err(err)) => tracing::debug!(%err, "outbox and inbox depth not refreshed"),
                Err(_) => tracing::debug!("outbox and inbox depth not refreshed: timed out"),
            }
            prometheus.run_upkeep();
        }
    });
}

/// Read before the depth queries check a connection out, so they do not count themselves.
fn refresh_pool(pool: &DbPool) {
    let status = pool.status();
    let in_use = status.size.saturating_sub(status.available);
    metrics::gauge!("northstar_db_pool_connections", "state" => "in_use").set(in_use as f64);
    metrics::gauge!("northstar_db_pool_connections", "state" => "idle").set(status.available as f64);
    metrics::gauge!("northstar_db_pool_max").set(status.max_size as f64);
    metrics::gauge!("northstar_db_pool_waiting").set(status.waiting as f64);
}

async fn refresh_depths(pool: &DbPool) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut conn = pool.get().await?;
    let outbox: Vec<StateCount> =
        diesel::sql_query("SELECT state, count(*) AS count FROM deliveries WHERE state <> 'succeeded' GROUP BY state")
            .load(&mut conn)
            .await?;
    let inbox: Count =
        diesel::sql_query("SELECT count(*) AS count FROM webhook_inbox WHERE state IN ('pending', 'failed')")
            .get_result(&mut conn)
            .await?;
    // A state with no rows has no group: it must read 0, not keep its last value.
    for state in OUTBOX_STATES {
        let count = outbox.iter().find(|row| row.state == state).map_or(0, |row| row.count);
        metrics::gauge!("northstar_outbox_depth", "state" => state).set(count as f64);
    }
    metrics::gauge!("northstar_inbox_depth").set(inbox.count as f64);
    Ok(())
}
