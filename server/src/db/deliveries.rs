//! The outbox: queries on `deliveries`. Workers claim due rows with `FOR UPDATE SKIP LOCKED`
//! under a lease; a lease that expires returns the row to the pool of due work.
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::{deliveries, events};

/// The channel that wakes workers when deliveries become due.
pub const CHANNEL: &str = "northstar_deliveries";

/// Delivery kinds as stored.
pub mod kind {
    /// Create the Jira issue of an (event, configuration, generation).
    pub const CREATE_TICKET: &str = "create_ticket";
    /// Bring the ticket's summary and priority in line with the event.
    pub const UPDATE_TICKET: &str = "update_ticket";
    /// Move the ticket into or out of `done` as the event's status says.
    pub const TRANSITION: &str = "transition";
    /// Copy a comment to the ticket.
    pub const ADD_COMMENT: &str = "add_comment";
    /// Delete a comment's copy from the ticket.
    pub const DELETE_COMMENT: &str = "delete_comment";
    /// Look again, later, for issues created twice under one marker and close the younger.
    pub const SWEEP_DUPLICATES: &str = "sweep_duplicates";
}

/// Delivery states as stored.
pub mod state {
    pub const PENDING: &str = "pending";
    pub const IN_FLIGHT: &str = "in_flight";
    pub const SUCCEEDED: &str = "succeeded";
    pub const FAILED: &str = "failed";
    pub const DEAD: &str = "dead";
}

/// A delivery row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = deliveries)]
pub struct Delivery {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub event_id: Uuid,
    pub configuration_id: Uuid,
    pub kind: String,
    pub generation: i32,
    pub state: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub outcome_unknown: bool,
    pub next_attempt_at: DateTime<Utc>,
    pub lease_token: Option<Uuid>,
    pub lease_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub comment_id: Option<Uuid>,
}

/// A delivery to owe.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = deliveries)]
pub struct NewDelivery {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub event_id: Uuid,
    pub configuration_id: Uuid,
    pub kind: &'static str,
    pub generation: i32,
    pub comment_id: Option<Uuid>,
    pub next_attempt_at: DateTime<Utc>,
}

impl NewDelivery {
    /// A delivery of `kind` to the ticket of (event, configuration, generation), due now.
    pub fn new(tenant: Uuid, event: Uuid, configuration: Uuid, generation: i32, kind: &'static str) -> Self {
        Self {
            id: Uuid::now_v7(),
            tenant_id: tenant,
            event_id: event,
            configuration_id: configuration,
            kind,
            generation,
            comment_id: None,
            next_attempt_at: Utc::now(),
        }
    }

    /// For a comment delivery: the comment.
    pub fn comment(mut self, id: Uuid) -> Self {
        self.comment_id = Some(id);
        self
    }

    /// Not before this time.
    pub fn not_before(mut self, at: DateTime<Utc>) -> Self {
        self.next_attempt_at = at;
        self
    }
}

/// Owes deliveries. What is already owed the same way (a create of the same generation, a sync
/// of the same ticket still waiting, the same comment) is left as it is: syncs read the state
/// they bring when they run. Returns how many were new.
pub async fn enqueue(conn: &mut AsyncPgConnection, rows: &[NewDelivery]) -> QueryResult<usize> {
    if rows.is_empty() {
        return Ok(0);
    }
    let n = diesel::insert_into(deliveries::table).values(rows).on_conflict_do_nothing().execute(conn).await?;
    if n > 0 {
        wake(conn).await?;
    }
    Ok(n)
}

/// Owes one ticket creation per configuration (an existing one is left alone); returns how many
/// were new.
pub async fn insert_creates(
    conn: &mut AsyncPgConnection,
    tenant: Uuid,
    event: Uuid,
    configurations: &[Uuid],
) -> QueryResult<usize> {
    let rows: Vec<_> =
        configurations.iter().map(|c| NewDelivery::new(tenant, event, *c, 0, kind::CREATE_TICKET)).collect();
    enqueue(conn, &rows).await
}

/// Whether a transition of this ticket is still owed or on its way: until it lands, what Jira
/// shows of the ticket's status is older than what the event says.
pub async fn transition_pending(conn: &mut AsyncPgConnection, event: Uuid, configuration: Uuid) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        deliveries::table
            .filter(deliveries::event_id.eq(event))
            .filter(deliveries::configuration_id.eq(configuration))
            .filter(deliveries::kind.eq(kind::TRANSITION))
            .filter(deliveries::state.eq_any([state::PENDING, state::IN_FLIGHT, state::FAILED])),
    ))
    .get_result(conn)
    .await
}

/// Whether a comment of ours to this ticket is still owed or on its way (its Jira id not yet
/// stored).
pub async fn comment_in_flight(conn: &mut AsyncPgConnection, event: Uuid, configuration: Uuid) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        deliveries::table
            .filter(deliveries::event_id.eq(event))
            .filter(deliveries::configuration_id.eq(configuration))
            .filter(deliveries::kind.eq(kind::ADD_COMMENT))
            .filter(deliveries::state.eq_any([state::PENDING, state::IN_FLIGHT, state::FAILED])),
    ))
    .get_result(conn)
    .await
}

/// Ticket creations of a configuration that were attempted and have not finished (owed, in
/// flight, or failed awaiting a retry): Jira may hold their issue before the ticket is stored.
/// Each as (tenant, the event's external id, generation), what the marker is made of.
pub async fn creations_under_way(
    conn: &mut AsyncPgConnection,
    configuration: Uuid,
) -> QueryResult<Vec<(Uuid, String, i32)>> {
    deliveries::table
        .inner_join(events::table)
        .filter(deliveries::configuration_id.eq(configuration))
        // Literal, as deliveries_creating_idx's predicate is: bound values would not match it.
        .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
            "deliveries.kind = 'create_ticket' AND deliveries.state IN ('pending', 'in_flight', 'failed') \
             AND deliveries.attempts > 0",
        ))
        .select((deliveries::tenant_id, events::external_id, deliveries::generation))
        .load(conn)
        .await
}

/// Wakes the workers of every replica at commit.
pub async fn wake(conn: &mut AsyncPgConnection) -> QueryResult<()> {
    diesel::sql_query(format!("NOTIFY {CHANNEL}")).execute(conn).await.map(drop)
}

#[derive(QueryableByName)]
struct Due {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    event_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    configuration_id: Uuid,
}

/// Claims up to `limit` due deliveries (pending or failed and due, or in flight with an
/// expired lease) for `lease`, counting the attempt. Call inside a transaction.
///
/// One ticket's deliveries run one at a time, oldest first: a ticket with a delivery in flight
/// is skipped, and a batch takes at most one delivery per ticket, so a comment's deletion never
/// overtakes its creation and two syncs never race on one issue.
pub async fn claim(conn: &mut AsyncPgConnection, limit: i64, lease: std::time::Duration) -> QueryResult<Vec<Delivery>> {
    use diesel::sql_types::{BigInt, Timestamptz};
    let now = Utc::now();
    let due: Vec<Due> = diesel::sql_query(
        // Candidates come from the two partial indexes in their order, a window a few times the
        // batch: one OR over both made each claim sort every due row (a backlog of thousands,
        // sorted thirty times a second). Each window leaves out rows whose ticket has a delivery
        // in flight, so such rows cannot fill it and starve the rest.
        "SELECT d.id, d.event_id, d.configuration_id FROM deliveries d \
         WHERE d.id IN ( \
                (SELECT c.id FROM deliveries c \
                 WHERE c.state IN ('pending', 'failed') AND c.next_attempt_at <= $1 \
                   AND NOT EXISTS (SELECT 1 FROM deliveries o WHERE o.event_id = c.event_id \
                        AND o.configuration_id = c.configuration_id AND o.state = 'in_flight' \
                        AND o.lease_until >= $1) \
                 ORDER BY c.next_attempt_at LIMIT $2 * 4) \
                UNION ALL \
                (SELECT c.id FROM deliveries c WHERE c.state = 'in_flight' AND c.lease_until < $1 \
                 ORDER BY c.lease_until LIMIT $2 * 4)) \
           AND ((d.state IN ('pending', 'failed') AND d.next_attempt_at <= $1) \
                OR (d.state = 'in_flight' AND d.lease_until < $1)) \
           AND NOT EXISTS (SELECT 1 FROM deliveries o WHERE o.event_id = d.event_id \
                AND o.configuration_id = d.configuration_id AND o.state = 'in_flight' \
                AND o.lease_until >= $1) \
         ORDER BY d.next_attempt_at, d.id LIMIT $2 FOR UPDATE OF d SKIP LOCKED",
    )
    .bind::<Timestamptz, _>(now)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?;
    let mut seen = std::collections::HashSet::new();
    let mut due = due;
    due.sort_by_key(|d| d.id);
    let ids: Vec<Uuid> =
        due.into_iter().filter(|d| seen.insert((d.event_id, d.configuration_id))).map(|d| d.id).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let token = Uuid::new_v4();
    let lease_until = now + chrono::TimeDelta::from_std(lease).unwrap_or(chrono::TimeDelta::seconds(60));
    diesel::update(deliveries::table.filter(deliveries::id.eq_any(&ids)))
        .set((
            // A row still in flight here lost its worker mid-call: Jira may have done the work.
            deliveries::outcome_unknown.eq(deliveries::outcome_unknown.or(deliveries::state.eq(state::IN_FLIGHT))),
            deliveries::state.eq(state::IN_FLIGHT),
            deliveries::attempts.eq(deliveries::attempts + 1),
            deliveries::lease_token.eq(token),
            deliveries::lease_until.eq(lease_until),
            deliveries::updated_at.eq(now),
        ))
        .returning(Delivery::as_returning())
        .get_results(conn)
        .await
}

/// Puts a claimed delivery back, due at `at`, without counting the attempt: it waits for
/// something else (the ticket's creation) rather than failing.
pub async fn postpone(conn: &mut AsyncPgConnection, id: Uuid, token: Uuid, at: DateTime<Utc>) -> QueryResult<bool> {
    let n = diesel::update(deliveries::table.filter(deliveries::id.eq(id)).filter(deliveries::lease_token.eq(token)))
        .set((
            deliveries::state.eq(state::PENDING),
            deliveries::attempts.eq(deliveries::attempts - 1),
            deliveries::next_attempt_at.eq(at),
            deliveries::lease_token.eq(None::<Uuid>),
            deliveries::lease_until.eq(None::<DateTime<Utc>>),
            deliveries::updated_at.eq(Utc::now()),
        ))
        .execute(conn)
        .await?;
    Ok(n > 0)
}

/// Extends a claim this worker still holds; `false` when it lost it.
pub async fn renew(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    token: Uuid,
    lease: std::time::Duration,
) -> QueryResult<bool> {
    let until = Utc::now() + chrono::TimeDelta::from_std(lease).unwrap_or(chrono::TimeDelta::seconds(60));
    let n = diesel::update(
        deliveries::table
            .filter(deliveries::id.eq(id))
            .filter(deliveries::lease_token.eq(token))
            .filter(deliveries::state.eq(state::IN_FLIGHT)),
    )
    .set(deliveries::lease_until.eq(until))
    .execute(conn)
    .await?;
    Ok(n > 0)
}

/// Closes a delivery as succeeded, if this worker still holds its lease.
pub async fn succeed(conn: &mut AsyncPgConnection, id: Uuid, token: Uuid) -> QueryResult<bool> {
    let n = diesel::update(deliveries::table.filter(deliveries::id.eq(id)).filter(deliveries::lease_token.eq(token)))
        .set((
            deliveries::state.eq(state::SUCCEEDED),
            deliveries::last_error.eq(None::<String>),
            deliveries::lease_token.eq(None::<Uuid>),
            deliveries::lease_until.eq(None::<DateTime<Utc>>),
            deliveries::updated_at.eq(Utc::now()),
        ))
        .execute(conn)
        .await?;
    Ok(n > 0)
}

/// Closes a delivery as succeeded in the caller's transaction, or rolls the transaction back
/// (`RollbackTransaction`) when this worker no longer holds the lease: what it did must not be
/// stored beside another worker's result.
pub async fn succeed_held(conn: &mut AsyncPgConnection, id: Uuid, token: Uuid) -> QueryResult<()> {
    if succeed(conn, id, token).await? { Ok(()) } else { Err(diesel::result::Error::RollbackTransaction) }
}

/// Records a failed attempt: retried at `next` (or DEAD when `next` is `None`).
pub async fn fail(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    token: Uuid,
    error: &str,
    outcome_unknown: bool,
    next: Option<DateTime<Utc>>,
) -> QueryResult<bool> {
    let (new_state, next_at) = match next {
        Some(at) => (state::FAILED, at),
        None => (state::DEAD, Utc::now()),
    };
    let result =
        diesel::update(deliveries::table.filter(deliveries::id.eq(id)).filter(deliveries::lease_token.eq(token)))
            .set((
                deliveries::state.eq(new_state),
                deliveries::last_error.eq(error),
                deliveries::outcome_unknown
                    .eq(deliveries::outcome_unknown.or(outcome_unknown.into_sql::<diesel::sql_types::Bool>())),
                deliveries::next_attempt_at.eq(next_at),
                deliveries::lease_token.eq(None::<Uuid>),
                deliveries::lease_until.eq(None::<DateTime<Utc>>),
                deliveries::updated_at.eq(Utc::now()),
            ))
            .execute(conn)
            .await;
    match result {
        Ok(n) => Ok(n > 0),
        // A sync of the same ticket was queued meanwhile (one may wait per ticket and kind): it
        // reads the current state when it runs, so this one has nothing left to do.
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            succeed(conn, id, token).await
        }
        Err(e) => Err(e),
    }
}

/// List filters.
#[derive(Debug, Default)]
pub struct Filter {
    pub state: Option<String>,
    pub event_id: Option<Uuid>,
    pub configuration_id: Option<Uuid>,
    pub kind: Option<String>,
}

/// A page of a tenant's deliveries, newest first.
pub async fn list(
    conn: &mut AsyncPgConnection,
    tenant: Uuid,
    f: &Filter,
    after: Option<Uuid>,
    limit: i64,
) -> QueryResult<Vec<Delivery>> {
    let mut query = deliveries::table
        .filter(deliveries::tenant_id.eq(tenant))
        .select(Delivery::as_select())
        .order(deliveries::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(v) = &f.state {
        query = query.filter(deliveries::state.eq(v.clone()));
    }
    if let Some(v) = f.event_id {
        query = query.filter(deliveries::event_id.eq(v));
    }
    if let Some(v) = f.configuration_id {
        query = query.filter(deliveries::configuration_id.eq(v));
    }
    if let Some(v) = &f.kind {
        query = query.filter(deliveries::kind.eq(v.clone()));
    }
    if let Some(after) = after {
        query = query.filter(deliveries::id.lt(after));
    }
    query.load(conn).await
}

/// One delivery of a tenant.
pub async fn find(conn: &mut AsyncPgConnection, tenant: Uuid, id: Uuid) -> QueryResult<Option<Delivery>> {
    deliveries::table
        .filter(deliveries::tenant_id.eq(tenant))
        .filter(deliveries::id.eq(id))
        .select(Delivery::as_select())
        .first(conn)
        .await
        .optional()
}

/// Re-queues a DEAD delivery (or brings a FAILED one's next attempt forward) with a fresh retry
/// budget; `None` when it is neither.
pub async fn requeue(conn: &mut AsyncPgConnection, tenant: Uuid, id: Uuid) -> QueryResult<Option<Delivery>> {
    diesel::update(
        deliveries::table
            .filter(deliveries::tenant_id.eq(tenant))
            .filter(deliveries::id.eq(id))
            .filter(deliveries::state.eq_any([state::DEAD, state::FAILED])),
    )
    .set((
        deliveries::state.eq(state::PENDING),
        deliveries::attempts.eq(0),
        deliveries::next_attempt_at.eq(Utc::now()),
        deliveries::updated_at.eq(Utc::now()),
    ))
    .returning(Delivery::as_returning())
    .get_result(conn)
    .await
    .optional()
}
