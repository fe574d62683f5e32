//! The inbox processor: applies stored Jira deliveries, on every replica, each exactly once.
//!
//! Rows are locked with `FOR UPDATE SKIP LOCKED` and applied and marked in the same
//! transaction (each under a savepoint), so a crash returns them untouched and a replica never
//! applies one another replica holds. Woken by `NOTIFY` with a polling fallback.
use std::{sync::Arc, time::Duration};

use chrono::Utc;
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::apply::{self, Applied, IssueNews};
use crate::{
    api::AppState,
    db::{
        self,
        webhooks::{CHANNEL, InboxRow},
    },
    domain::webhook,
    error::ApiError,
};

/// Processing attempts before a delivery is given up (kept, as `dead`, for the operator); with
/// [`later_delay`], about 95 minutes.
const MAX_ATTEMPTS: i32 = 100;
/// When a delivery that must wait is tried again: at once for the usual short race (a ticket
/// committed a moment later), then backing off to a minute, so the retry budget spans the
/// longest a ticket's creation can take under Jira's faults and 429s (well over an hour).
fn later_delay(attempts: i32) -> chrono::TimeDelta {
    chrono::TimeDelta::seconds(1 << attempts.clamp(0, 6)).min(chrono::TimeDelta::seconds(60))
}

/// How long processed deliveries are kept to recognise Jira's retries of them.
const KEEP_PROCESSED: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// Starts the processor; it stops at `shutdown`.
pub fn spawn(state: AppState, database_url: String, shutdown: CancellationToken) {
    let wake = Arc::new(tokio::sync::Notify::new());
    db::spawn_listener(database_url, CHANNEL, wake.clone(), shutdown.clone());
    tokio::spawn(async move {
        let mut last_prune = std::time::Instant::now();
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            match process_batch(&state).await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "processing webhooks"),
            }
            if last_prune.elapsed() > Duration::from_secs(3600) {
                last_prune = std::time::Instant::now();
                if let Ok(mut conn) = state.pool.get().await {
                    let _ = db::webhooks::prune(&mut conn, Utc::now() - KEEP_PROCESSED).await;
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = wake.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    });
}

async fn process_batch(state: &AppState) -> Result<usize, ApiError> {
    let mut conn = state.pool.get().await?;
    conn.transaction::<_, ApiError, _>(async |conn| {
        // One delivery per transaction: its locks (event, ticket, rollups) are held only while it
        // is applied, never across a batch.
        let rows = db::webhooks::claim(conn, 1).await?;
        for row in &rows {
            let span = tracing::info_span!("webhook", inbox_id = %row.id, configuration_id = %row.configuration_id);
            let outcome = conn
                .transaction::<_, ApiError, _>(async |conn| process(state, conn, row).await)
                .instrument(span.clone())
                .await;
            let _enter = span.enter();
            match outcome {
                Ok(Applied::Done) => db::webhooks::finish(conn, row.id).await?,
                Ok(Applied::Later(why)) => {
                    let next = (row.attempts + 1 < MAX_ATTEMPTS).then(|| Utc::now() + later_delay(row.attempts));
                    db::webhooks::fail(conn, row.id, why, next).await?;
                }
                Err(err @ (ApiError::Internal(_) | ApiError::Unavailable(_))) => return Err(err),
                Err(err) => {
                    tracing::warn!(error = %err, "webhook cannot be applied");
                    db::webhooks::fail(conn, row.id, &err.to_string(), None).await?;
                }
            }
        }
        Ok(rows.len())
    })
    .await
}

async fn process(state: &AppState, conn: &mut AsyncPgConnection, row: &InboxRow) -> Result<Applied, ApiError> {
    // The body was parsed once before it was accepted; failing now would be a bug, not Jira's.
    let parsed = webhook::parse(&row.body)
        .map_err(|e| ApiError::InvalidArgument { field: "body".into(), message: e.to_string() })?;
    let Some(issue) = &parsed.issue else { return Ok(Applied::Done) };
    let changes = webhook::classify(&parsed);
    if changes.is_empty() {
        return Ok(Applied::Done);
    }
    let routing = state.routing.tenant(row.tenant_id).await?;
    let Some(configuration) = routing.configurations.get(&row.configuration_id) else {
        return Ok(Applied::Done);
    };
    let actor = parsed.actor.as_ref().or_else(|| parsed.comment.as_ref().and_then(|c| c.author.as_ref()));
    let news = IssueNews {
        issue_id: &issue.id,
        actor,
        at: parsed.timestamp.or(issue.updated).unwrap_or(row.received_at),
        changes: &changes,
        comments_present: None,
        labels: Some(&issue.labels),
    };
    let applied = apply::apply(conn, &routing, configuration, &news).await?;
    tracing::info!(event = parsed.event.as_str(), changes = changes.len(), ?applied, "webhook applied");
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_deliveries_back_off_to_a_minute_and_give_up_after_an_hour_and_a_half() {
        assert_eq!(later_delay(0), chrono::TimeDelta::seconds(1));
        assert_eq!(later_delay(3), chrono::TimeDelta::seconds(8));
        assert_eq!(later_delay(6), chrono::TimeDelta::seconds(60));
        assert_eq!(later_delay(99), chrono::TimeDelta::seconds(60));
        let total: i64 = (0..MAX_ATTEMPTS - 1).map(|a| later_delay(a).num_seconds()).sum();
        assert!((90 * 60..100 * 60).contains(&total), "{total} s");
    }
}
