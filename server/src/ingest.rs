//! Group commit for new events. Concurrent `SubmitEvent` calls share one transaction: one
//! statement inserts every event of the group, one its feed entries, one the deliveries it owes,
//! and each caller is answered only after the commit that holds its event, so durability is
//! the same as one transaction per event at a fraction of the commits. What is not a plain new
//! event (a resubmission, a requested status, a group whose transaction failed) goes back to the
//! caller, who stores it alone the usual way.
use std::{collections::HashMap, sync::Arc};

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use tokio::sync::{Semaphore, mpsc, oneshot};
use uuid::Uuid;

use crate::{
    db::{self, DbPool, events::Event},
    domain::{routing::EventFacts, ticket::EventView},
    error::ApiError,
    propagate::Source,
    routing::TenantRouting,
};

/// A new event to store, with what routing it needs.
pub struct Submission {
    /// The tenant it belongs to.
    pub tenant: Uuid,
    /// The tenant's routing when it arrived.
    pub routing: Arc<TenantRouting>,
    /// The event.
    pub view: EventView,
    /// Who submitted it.
    pub source: Source,
}

/// What became of a submission handed to the group.
pub enum Outcome {
    /// Stored and committed as a new event.
    Created(Event),
    /// Not stored: the caller stores it alone (its external id exists, or the group failed).
    Declined(Submission),
}

/// How groups form.
#[derive(Debug, Clone, Copy)]
pub struct GroupCommitConfig {
    /// Events in one transaction at most.
    pub max_group: usize,
    /// Group transactions running at once; while they run, the next groups gather.
    pub concurrent_groups: usize,
}

impl Default for GroupCommitConfig {
    fn default() -> Self {
        Self { max_group: 256, concurrent_groups: 1 }
    }
}

type Pending = (Submission, oneshot::Sender<Outcome>);

/// The handle submissions go through; cheap to clone.
#[derive(Clone)]
pub struct GroupCommit {
    queue: mpsc::Sender<Pending>,
}

impl GroupCommit {
    /// Starts the task that forms groups and commits them; it ends when every handle is gone.
    pub fn spawn(pool: DbPool, config: GroupCommitConfig) -> Self {
        let (queue, pending) = mpsc::channel(config.max_group * config.concurrent_groups.max(1) * 4);
        tokio::spawn(gather(pool, pending, config));
        Self { queue }
    }

    /// Stores `submission` as a new event in the next group, once it commits.
    pub async fn submit(&self, submission: Submission) -> Result<Outcome, ApiError> {
        let (reply, outcome) = oneshot::channel();
        if let Err(mpsc::error::SendError((submission, _))) = self.queue.send((submission, reply)).await {
            return Ok(Outcome::Declined(submission));
        }
        // A group task that vanished (the runtime stopping) leaves the outcome unknown here; the
        // client's retry is safe because the external id makes it idempotent.
        outcome.await.map_err(|_| ApiError::Unavailable("the server is stopping; retry".into()))
    }
}

async fn gather(pool: DbPool, mut pending: mpsc::Receiver<Pending>, config: GroupCommitConfig) {
    let slots = Arc::new(Semaphore::new(config.concurrent_groups.max(1)));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        let mut group = Vec::new();
        if pending.recv_many(&mut group, config.max_group.max(1)).await == 0 {
            return;
        }
        let pool = pool.clone();
        tokio::spawn(async move {
            commit(&pool, group).await;
            drop(slot);
        });
    }
}

async fn commit(pool: &DbPool, group: Vec<Pending>) {
    metrics::histogram!("northstar_group_commit_events").record(group.len() as f64);
    let (submissions, replies): (Vec<_>, Vec<_>) = group.into_iter().unzip();
    // One statement: atomic without a transaction of its own, and one round trip.
    let started = std::time::Instant::now();
    let stored = async {
        let mut conn = pool.get().await.map_err(ApiError::from)?;
        Ok::<_, ApiError>(insert_new(&mut conn, &submissions, Utc::now()).await?)
    }
    .await;
    metrics::histogram!("northstar_group_commit_seconds").record(started.elapsed().as_secs_f64());
    let stored = stored.unwrap_or_else(|err| {
        tracing::warn!(error = %err, "a group of events failed to commit; each is stored alone");
        vec![None; submissions.len()]
    });
    for ((submission, reply), event) in submissions.into_iter().zip(replies).zip(stored) {
        let _ = reply.send(match event {
            Some(event) => Outcome::Created(event),
            None => Outcome::Declined(submission),
        });
    }
}

/// The row a first submission of `view` stores.
pub fn new_event(tenant: Uuid, view: &EventView, now: DateTime<Utc>) -> Event {
    Event {
        id: Uuid::now_v7(),
        tenant_id: tenant,
        external_id: view.external_id.clone(),
        kind: view.trigger.as_str().to_owned(),
        application_id: view.application_id.clone(),
        title: view.title.clone(),
        severity: view.severity.as_str().to_owned(),
        status: "open".into(),
        link: view.link.clone(),
        detected_at: view.detected_at,
        details: db::events::details_of(view),
        first_seen_at: now,
        updated_at: now,
        status_updated_at: now,
    }
}

/// Stores each submission whose external id its tenant has not seen, with its feed entry, its
/// application and the tickets it is owed, in one statement for the whole group (atomic by
/// itself, or part of the caller's transaction). Returns, in order, the stored event or `None`
/// where the external id existed (or came earlier in the same group).
pub async fn insert_new(
    conn: &mut AsyncPgConnection,
    submissions: &[Submission],
    now: DateTime<Utc>,
) -> Result<Vec<Option<Event>>, diesel::result::Error> {
    if submissions.is_empty() {
        return Ok(Vec::new());
    }
    let events: Vec<Event> = submissions.iter().map(|s| new_event(s.tenant, &s.view, now)).collect();
    // Routing needs only what the caller sent and the group's time, so what each event owes is
    // known before it is stored; the statement keeps only what belongs to events it inserted.
    let mut owed = Vec::new();
    for (submission, event) in submissions.iter().zip(&events) {
        let facts = EventFacts {
            application_id: &submission.view.application_id,
            trigger: submission.view.trigger,
            severity: submission.view.severity,
            first_seen_at: event.first_seen_at,
        };
        owed.extend(
            submission.routing.index.route(&facts).map(|configuration| (Uuid::now_v7(), event.id, configuration)),
        );
    }
    let feed = submissions.iter().map(|s| (Uuid::now_v7(), s.source.origin, s.source.actor.clone())).collect();
    let group = db::events::NewGroup { events: &events, feed, owed };
    let mut inserted: HashMap<Uuid, Event> =
        db::events::insert_group(conn, &group).await?.into_iter().map(|e| (e.id, e)).collect();
    let stored: Vec<Option<Event>> = events.iter().map(|c| inserted.remove(&c.id)).collect();
    for event in stored.iter().flatten() {
        metrics::counter!("northstar_events_submitted_total", "kind" => event.kind.clone(), "created" => "true")
            .increment(1);
    }
    Ok(stored)
}
