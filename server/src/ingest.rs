//! Group commit for new events. Concurrent `SubmitEvent` calls share one transaction: one
//! statement inserts every event of the group, one its feed entries, one the deliveries it owes,
//! and each caller is answered only after the commit that holds its event, so durability is
//! the same as one transaction per event at a fraction of the commits. What is not a plain new
//! event (a resubmission, a requested status, a group whose transaction failed) goes back to the
//! caller, who stores it alone the usual way.
use std::{collections::HashMap, sync::Arc};

use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use uuid::Uuid;

use crate::{
    db::{self, DbPool, events::Event},
    domain::{routing::EventFacts, ticket::EventView},
    error::ApiError,
    group::{Batcher, GroupConfig, Unanswered},
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

/// The longest a group waits for a row lock before its callers store their events alone.
pub const GROUP_LOCK_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(200);

/// The handle submissions go through; cheap to clone.
#[derive(Clone)]
pub struct GroupCommit {
    batcher: Batcher<Submission, Outcome>,
}

impl GroupCommit {
    /// Starts the task that forms groups and commits them.
    pub fn spawn(pool: DbPool, config: GroupConfig) -> Self {
        let batcher = Batcher::spawn(config, "events", move |group| commit(pool.clone(), group));
        Self { batcher }
    }

    /// Stores `submission` as a new event in the next group, once it commits.
    pub async fn submit(&self, submission: Submission) -> Result<Outcome, ApiError> {
        match self.batcher.submit(submission).await {
            Ok(outcome) => Ok(outcome),
            Err(Unanswered::Closed(submission)) => Ok(Outcome::Declined(submission)),
            // The outcome is unknown here; the client's retry is safe because the external id
            // makes it idempotent.
            Err(Unanswered::Lost) => Err(ApiError::Unavailable("the server is stopping; retry".into())),
        }
    }
}

async fn commit(pool: DbPool, submissions: Vec<Submission>) -> Vec<Outcome> {
    // One statement in a transaction of its own, which only bounds its lock waits: a row an
    // uncommitted streamed chunk holds must not stall every tenant's submissions behind it (or
    // deadlock with it). Past the bound the group fails and each caller stores alone.
    let stored = async {
        let mut conn = pool.get().await.map_err(ApiError::from)?;
        conn.transaction::<_, ApiError, _>(async |conn| {
            db::set_lock_timeout(conn, Some(GROUP_LOCK_TIMEOUT)).await?;
            Ok(insert_new(conn, &submissions, Utc::now()).await?)
        })
        .await
    }
    .await;
    let stored = stored.unwrap_or_else(|err| {
        tracing::warn!(error = %err, "a group of events failed to commit; each is stored alone");
        vec![None; submissions.len()]
    });
    submissions
        .into_iter()
        .zip(stored)
        .map(|(submission, event)| match event {
            Some(event) => Outcome::Created(event),
            None => Outcome::Declined(submission),
        })
        .collect()
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
    let feed: Vec<_> = submissions.iter().map(|s| (Uuid::now_v7(), s.source.origin, s.source.actor.clone())).collect();
    let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
    // One lock order for every group: two groups, or a group and a streamed chunk, that share
    // external ids take their rows in the same order (a stable sort keeps the first of a
    // repeated id first).
    let mut rows: Vec<_> = events.into_iter().zip(feed).collect();
    rows.sort_by(|(a, _), (b, _)| (a.tenant_id, &a.external_id).cmp(&(b.tenant_id, &b.external_id)));
    let (events, feed): (Vec<Event>, Vec<_>) = rows.into_iter().unzip();
    let group = db::events::NewGroup { events: &events, feed, owed };
    let mut inserted: HashMap<Uuid, Event> =
        db::events::insert_group(conn, &group).await?.into_iter().map(|e| (e.id, e)).collect();
    let stored: Vec<Option<Event>> = ids.iter().map(|id| inserted.remove(id)).collect();
    for event in stored.iter().flatten() {
        metrics::counter!("northstar_events_submitted_total", "kind" => event.kind.clone(), "created" => "true")
            .increment(1);
    }
    Ok(stored)
}
