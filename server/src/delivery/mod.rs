//! The delivery worker: moves what the outbox owes Jira to Jira, exactly once.
//!
//! Workers on every replica claim due rows with `FOR UPDATE SKIP LOCKED` under a lease, woken by
//! `NOTIFY` with a polling fallback. A create is never sent twice blindly: every create carries a
//! marker label stable for its (event, configuration, generation), and an attempt after one whose
//! outcome is unknown (a timeout, a lost response, a worker that died holding the lease) first
//! searches Jira for the marker and adopts what it finds. Such a retry waits `search_settle`
//! first, because Jira's search is eventually consistent. The ticket and the delivery's success
//! are stored in one transaction; the ticket row is unique per (event, configuration, generation).
use std::time::Duration;

use chrono::Utc;
use diesel_async::AsyncConnection as _;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;
use uuid::Uuid;

use crate::{
    api::{AppState, credentials::site_of},
    db::{
        self,
        changes::{self, NewChange},
        deliveries::{CHANNEL, Delivery, kind},
    },
    domain::{configuration::Configuration, ticket::EventView},
    error::ApiError,
    jira::{JiraError, RetryPolicy, Site},
};

mod sync;
mod tickets;

/// Worker settings.
#[derive(Debug, Clone, Copy)]
pub struct WorkerConfig {
    /// How long a claim lasts before another worker may take the delivery.
    pub lease: Duration,
    /// Attempts before a delivery is DEAD.
    pub max_attempts: u32,
    /// Poll interval when no NOTIFY arrives.
    pub poll_interval: Duration,
    /// Deliveries worked on at once (claimed as room frees up).
    pub batch: i64,
    /// Least wait before retrying a create whose outcome is unknown (search visibility lag).
    pub search_settle: Duration,
    /// Delay of the second look for duplicates after such a create.
    pub duplicate_sweep: Duration,
}

/// Why an attempt failed, as the schedule sees it.
pub(crate) struct AttemptError {
    message: String,
    retry: Option<JiraError>,
    outcome_unknown: bool,
}

impl AttemptError {
    /// A failure no retry can mend (the delivery goes DEAD with this message).
    fn permanent(message: impl Into<String>) -> Self {
        Self { message: message.into(), retry: None, outcome_unknown: false }
    }

    /// A failure after Jira did the work (storing what it did failed, or the lease was lost):
    /// the retry must look for what Jira has before sending again.
    fn after_jira(err: impl Into<AttemptError>) -> Self {
        Self { outcome_unknown: true, ..err.into() }
    }

    /// Storing a result failed: the lease was lost (rolled back), or the database failed.
    /// Either way Jira may hold what this attempt did.
    fn stored(err: diesel::result::Error) -> Self {
        match err {
            diesel::result::Error::RollbackTransaction => Self::lease_lost(),
            other => Self::after_jira(other),
        }
    }

    /// The lease went to another worker before this one could record its success.
    fn lease_lost() -> Self {
        Self {
            message: "the lease expired before the result was stored".into(),
            retry: Some(JiraError::Server { status: 0, message: "lease lost".into() }),
            outcome_unknown: true,
        }
    }
}

impl From<ApiError> for AttemptError {
    fn from(err: ApiError) -> Self {
        // Our own failures (database, decryption) are retried like a transient Jira error. The
        // cause is kept for the operator: it never holds a secret.
        let message = match &err {
            ApiError::Internal(source) => source.to_string(),
            other => other.to_string(),
        };
        Self { message: message.clone(), retry: Some(JiraError::Server { status: 0, message }), outcome_unknown: false }
    }
}

impl From<diesel::result::Error> for AttemptError {
    fn from(err: diesel::result::Error) -> Self {
        ApiError::from(err).into()
    }
}

impl From<JiraError> for AttemptError {
    fn from(err: JiraError) -> Self {
        Self {
            message: err.to_string(),
            outcome_unknown: err.outcome_unknown(),
            retry: Some(err).filter(JiraError::is_retryable),
        }
    }
}

/// Starts the worker loop; it stops at `shutdown`, abandoning nothing it cannot finish (an
/// unfinished claim returns when its lease expires).
pub fn spawn(state: AppState, config: WorkerConfig, database_url: String, shutdown: CancellationToken) {
    let wake = std::sync::Arc::new(tokio::sync::Notify::new());
    db::spawn_listener(database_url, CHANNEL, wake.clone(), shutdown.clone());
    tokio::spawn(async move {
        // A pipeline, not rounds: deliveries are claimed as room frees up, so one slow Jira call
        // never holds back the others. Room is refilled once half of it is free, which keeps
        // claims (one transaction each) well below one per delivery.
        let capacity = usize::try_from(config.batch).unwrap_or(1).max(1);
        let mut running = JoinSet::new();
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let room = capacity - running.len();
            if room * 2 >= capacity || running.is_empty() {
                match claim(&state, &config, room).await {
                    Ok(batch) => {
                        for delivery in batch {
                            let (state, config, stop) = (state.clone(), config, shutdown.clone());
                            let span = tracing::info_span!("delivery", delivery_id = %delivery.id, kind = %delivery.kind, attempt = delivery.attempts);
                            running
                                .spawn(async move { process(&state, &config, delivery, &stop).await }.instrument(span));
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "claiming deliveries"),
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                Some(_) = running.join_next(), if !running.is_empty() => {}
                () = wake.notified(), if running.len() < capacity => {}
                () = tokio::time::sleep(config.poll_interval) => {}
            }
        }
        // Each attempt ends at shutdown by itself (its lease returns what it could not finish).
        while running.join_next().await.is_some() {}
    });
}

async fn claim(state: &AppState, config: &WorkerConfig, room: usize) -> Result<Vec<Delivery>, ApiError> {
    let mut conn = state.pool.get().await?;
    let (batch, lease) = (i64::try_from(room).unwrap_or(config.batch), config.lease);
    Ok(conn
        .transaction::<_, diesel::result::Error, _>(async |conn| db::deliveries::claim(conn, batch, lease).await)
        .await?)
}

async fn process(state: &AppState, config: &WorkerConfig, delivery: Delivery, shutdown: &CancellationToken) {
    let Some(token) = delivery.lease_token else { return };
    let started = std::time::Instant::now();
    let work = async {
        match delivery.kind.as_str() {
            kind::CREATE_TICKET => tickets::create(state, config, &delivery, token).await,
            kind::SWEEP_DUPLICATES => tickets::sweep_duplicates(state, &delivery, token).await,
            kind::UPDATE_TICKET => sync::update(state, &delivery, token).await,
            kind::TRANSITION => sync::transition(state, &delivery, token).await,
            kind::ADD_COMMENT => sync::add_comment(state, &delivery, token).await,
            kind::DELETE_COMMENT => sync::delete_comment(state, &delivery, token).await,
            other => Err(AttemptError::permanent(format!("unknown delivery kind {other}"))),
        }
    };
    // The lease is renewed while the work runs (a Retry-After pause can outlast it), so no other
    // worker takes the delivery from a live one.
    let heartbeat = async {
        let mut tick = tokio::time::interval(config.lease / 3);
        tick.tick().await;
        loop {
            tick.tick().await;
            let renewed = async {
                let mut conn = state.pool.get().await?;
                Ok::<_, ApiError>(db::deliveries::renew(&mut conn, delivery.id, token, config.lease).await?)
            };
            if !matches!(renewed.await, Ok(true)) {
                tracing::warn!("could not renew the delivery's lease; another worker may take it over");
            }
        }
    };
    let result = tokio::select! {
        result = work => result,
        never = heartbeat => never,
        // Stopping abandons the attempt: its lease expires and another worker takes it over,
        // looking first for what this one may have done.
        () = shutdown.cancelled() => return,
    };
    metrics::histogram!("northstar_delivery_seconds").record(started.elapsed().as_secs_f64());
    let Err(err) = result else {
        metrics::counter!("northstar_deliveries_total", "outcome" => "succeeded").increment(1);
        return;
    };
    let attempts = u32::try_from(delivery.attempts).unwrap_or(u32::MAX);
    let next = match &err.retry {
        Some(jira_err) if attempts < config.max_attempts => {
            let policy: RetryPolicy = state.jira.retry_policy();
            let mut wait = policy.delay(attempts, jira_err, RetryPolicy::jitter()).unwrap_or(policy.base);
            if err.outcome_unknown || delivery.outcome_unknown {
                wait = wait.max(config.search_settle);
            }
            Some(Utc::now() + chrono::TimeDelta::from_std(wait).unwrap_or(chrono::TimeDelta::seconds(30)))
        }
        _ => None,
    };
    let outcome = if next.is_some() { "failed" } else { "dead" };
    metrics::counter!("northstar_deliveries_total", "outcome" => outcome).increment(1);
    tracing::warn!(error = %err.message, outcome, "delivery attempt failed");
    let stored = async {
        let mut conn = state.pool.get().await?;
        conn.transaction::<_, ApiError, _>(async |conn| {
            let failed =
                db::deliveries::fail(conn, delivery.id, token, &err.message, err.outcome_unknown, next).await?;
            if failed && next.is_none() {
                let event = db::events::by_id(conn, delivery.event_id).await?;
                let mut change = NewChange::of(&event, changes::kind::DELIVERY_FAILED, changes::origin::SYSTEM)
                    .message(format!("{} failed for good: {}", delivery.kind, err.message));
                change.configuration_id = Some(delivery.configuration_id);
                db::changes::record(conn, &[change]).await?;
            }
            Ok(())
        })
        .await
    };
    if let Err(e) = stored.await {
        // The lease will expire and the delivery come back: nothing is lost.
        tracing::warn!(error = %e, "recording a failed attempt");
    }
}

/// What every delivery works from, read when it runs (so a delivery always brings the latest
/// state, however long it waited).
pub(crate) struct Context {
    pub event: db::events::Event,
    pub view: EventView,
    pub configuration: Configuration,
    pub site: Site,
}

async fn load(state: &AppState, delivery: &Delivery) -> Result<Context, AttemptError> {
    let mut conn = state.pool.get().await.map_err(ApiError::from)?;
    let event = db::events::by_id(&mut conn, delivery.event_id).await?;
    let stored = db::configurations::find(&mut conn, delivery.tenant_id, delivery.configuration_id, false)
        .await?
        .ok_or_else(|| AttemptError::permanent("the configuration was deleted"))?;
    let configuration = db::configurations::to_domain(&stored).map_err(ApiError::internal)?;
    let credential = db::credentials::find(&mut conn, delivery.tenant_id, configuration.credential_id)
        .await?
        .ok_or_else(|| AttemptError::permanent("the credential was deleted"))?;
    drop(conn);
    let site = site_of(state, &credential)?;
    let view = event.view().map_err(|e| AttemptError::permanent(format!("stored event: {e}")))?;
    Ok(Context { event, view, configuration, site })
}

/// Closes a delivery that had nothing (more) to do.
async fn done(state: &AppState, delivery: &Delivery, token: Uuid) -> Result<(), AttemptError> {
    let mut conn = state.pool.get().await.map_err(ApiError::from)?;
    db::deliveries::succeed(&mut conn, delivery.id, token).await?;
    Ok(())
}
