//! The outbox: queries on `deliveries`. Workers claim due rows with `FOR UPDATE SKIP LOCKED`
//! under a lease; a lease that expires returns the row to the pool of due work.
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::deliveries;

/// The channel that wakes workers when deliveries become due.
pub const CHANNEL: &str = "northstar_deliveries";

/// Delivery kinds as stored.
pub mod kind {
    /// Create the Jira issue of an (event, configuration).
    pub const CREATE_TICKET: &str = "create_ticket";
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
}

/// Owes one ticket creation per configuration (an existing one is left alone); returns how many
/// were new.
pub async fn insert_creates(
    conn: &mut AsyncPgConnection,
    tenant: Uuid,
    event: Uuid,
    configurations: &[Uuid],
) -> QueryResult<usize> {
    if configurations.is_empty() {
        return Ok(0);
    }
    let rows: Vec<_> = configurations
        .iter()
        .map(|c| {
            (
                deliveries::id.eq(Uuid::now_v7()),
                deliveries::tenant_id.eq(tenant),
                deliveries::event_id.eq(event),
                deliveries::configuration_id.eq(*c),
                deliveries::kind.eq(kind::CREATE_TICKET),
            )
        })
        .collect();
    let n = diesel::insert_into(deliveries::table).values(rows).on_conflict_do_nothing().execute(conn).await?;
    if n > 0 {
        wake(conn).await?;
    }
    Ok(n)
}

/// Wakes the workers of every replica at commit.
pub async fn wake(conn: &mut AsyncPgConnection) -> QueryResult<()> {
    diesel::sql_query(format!("NOTIFY {CHANNEL}")).execute(conn).await.map(drop)
}

/// Claims up to `limit` due deliveries (pending or failed and due, or in flight with an
/// expired lease) for `lease`, counting the attempt. Call inside a transaction.
pub async fn claim(conn: &mut AsyncPgConnection, limit: i64, lease: std::time::Duration) -> QueryResult<Vec<Delivery>> {
    let now = Utc::now();
    let due = deliveries::state
        .eq_any([state::PENDING, state::FAILED])
        .and(deliveries::next_attempt_at.le(now))
        .or(deliveries::state.eq(state::IN_FLIGHT).and(deliveries::lease_until.lt(now)));
    let ids: Vec<Uuid> = deliveries::table
        .filter(due)
        .select(deliveries::id)
        .order(deliveries::next_attempt_at)
        .limit(limit)
        .for_update()
        .skip_locked()
        .load(conn)
        .await?;
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
    let n = diesel::update(deliveries::table.filter(deliveries::id.eq(id)).filter(deliveries::lease_token.eq(token)))
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
        .await?;
    Ok(n > 0)
}

/// List filters.
#[derive(Debug, Default)]
pub struct Filter {
    pub state: Option<String>,
    pub event_id: Option<Uuid>,
    pub configuration_id: Option<Uuid>,
    pub kind: Option<String>,
}

/// A page of a tenant's deliveries in id order.
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
        .order(deliveries::id)
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
        query = query.filter(deliveries::id.gt(after));
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

/// Re-queues a DEAD delivery with a fresh retry budget; `None` when it is not dead.
pub async fn requeue_dead(conn: &mut AsyncPgConnection, tenant: Uuid, id: Uuid) -> QueryResult<Option<Delivery>> {
    diesel::update(
        deliveries::table
            .filter(deliveries::tenant_id.eq(tenant))
            .filter(deliveries::id.eq(id))
            .filter(deliveries::state.eq(state::DEAD)),
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
