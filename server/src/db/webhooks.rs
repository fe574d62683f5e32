//! Queries on `webhook_inbox` (Jira's deliveries, stored before they are answered) and
//! `reconcile_state` (how far reconciliation has looked).
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::{
    crypto::Sealed,
    schema::{configurations, reconcile_state, webhook_inbox},
};

/// The channel that wakes inbox processors on every replica.
pub const CHANNEL: &str = "northstar_inbox";

/// What the webhook endpoint needs to know of a configuration.
#[derive(Debug, Clone)]
pub struct Receiver {
    pub tenant_id: Uuid,
    pub bidirectional: bool,
    pub secret: Option<Sealed>,
}

type ReceiverRow = (Uuid, bool, Option<Vec<u8>>, Option<Vec<u8>>, Option<String>);

/// The configuration a webhook URL names, if it exists.
pub async fn receiver(conn: &mut AsyncPgConnection, configuration: Uuid) -> QueryResult<Option<Receiver>> {
    let row: Option<ReceiverRow> = configurations::table
        .find(configuration)
        .select((
            configurations::tenant_id,
            configurations::bidirectional,
            configurations::webhook_secret_ciphertext,
            configurations::webhook_secret_nonce,
            configurations::webhook_secret_key_id,
        ))
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(|(tenant_id, bidirectional, ciphertext, nonce, key_id)| Receiver {
        tenant_id,
        bidirectional,
        secret: match (ciphertext, nonce, key_id) {
            (Some(ciphertext), Some(nonce), Some(key_id)) => Some(Sealed { ciphertext, nonce, key_id }),
            _ => None,
        },
    }))
}

/// A delivery to store.
#[derive(Debug, Insertable)]
#[diesel(table_name = webhook_inbox)]
pub struct NewDelivery<'a> {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub configuration_id: Uuid,
    pub identifier: &'a str,
    pub webhook_event: &'a str,
    pub body: &'a [u8],
}

/// Stores a delivery unless the same one was stored before; whether it was new. The caller
/// wakes the processors (on [`CHANNEL`]) once it is committed.
pub async fn store(conn: &mut AsyncPgConnection, delivery: &NewDelivery<'_>) -> QueryResult<bool> {
    let n = diesel::insert_into(webhook_inbox::table).values(delivery).on_conflict_do_nothing().execute(conn).await?;
    Ok(n > 0)
}

/// Stores deliveries in one statement, skipping those stored before (or earlier in `rows`);
/// returns the ids of those that were new.
pub async fn store_many(conn: &mut AsyncPgConnection, rows: &[NewDelivery<'_>]) -> QueryResult<Vec<Uuid>> {
    diesel::insert_into(webhook_inbox::table)
        .values(rows)
        .on_conflict_do_nothing()
        .returning(webhook_inbox::id)
        .get_results(conn)
        .await
}

/// A stored delivery.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_inbox)]
pub struct InboxRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub configuration_id: Uuid,
    pub identifier: String,
    pub body: Vec<u8>,
    pub received_at: DateTime<Utc>,
    pub attempts: i32,
}

/// Locks up to `limit` due deliveries, oldest first, for the calling transaction: they are
/// processed and marked inside it, so a crash returns them untouched.
pub async fn claim(conn: &mut AsyncPgConnection, limit: i64) -> QueryResult<Vec<InboxRow>> {
    webhook_inbox::table
        // Literal states, not bound ones: the prepared statement's generic plan can only use the
        // partial due index when its predicate is visible in the query text (with a bound list
        // it scanned and sorted every row of the inbox, bodies and all, on each claim).
        .filter(diesel::dsl::sql::<diesel::sql_types::Bool>("webhook_inbox.state IN ('pending', 'failed')"))
        .filter(webhook_inbox::next_attempt_at.le(Utc::now()))
        // The due index's order (a new delivery is due when received): ordering by received_at
        // sorted every due row, bodies and all, on each claim (spilling to disk under a burst).
        .order((webhook_inbox::next_attempt_at, webhook_inbox::id))
        .limit(limit)
        .select(InboxRow::as_select())
        .for_update()
        .skip_locked()
        .load(conn)
        .await
}

/// Marks a delivery processed.
pub async fn finish(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
    diesel::update(webhook_inbox::table.find(id))
        .set((
            webhook_inbox::state.eq("done"),
            webhook_inbox::processed_at.eq(Utc::now()),
            webhook_inbox::attempts.eq(webhook_inbox::attempts + 1),
            webhook_inbox::last_error.eq(None::<String>),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Records a failed processing attempt: again at `next`, or given up (`None`).
pub async fn fail(conn: &mut AsyncPgConnection, id: Uuid, error: &str, next: Option<DateTime<Utc>>) -> QueryResult<()> {
    let (state, at) = match next {
        Some(at) => ("failed", at),
        None => ("dead", Utc::now()),
    };
    diesel::update(webhook_inbox::table.find(id))
        .set((
            webhook_inbox::state.eq(state),
            webhook_inbox::next_attempt_at.eq(at),
            webhook_inbox::attempts.eq(webhook_inbox::attempts + 1),
            webhook_inbox::last_error.eq(error),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Forgets processed deliveries received before `before`: Jira stops retrying long before.
pub async fn prune(conn: &mut AsyncPgConnection, before: DateTime<Utc>) -> QueryResult<usize> {
    diesel::delete(
        webhook_inbox::table.filter(webhook_inbox::state.eq("done")).filter(webhook_inbox::processed_at.lt(before)),
    )
    .execute(conn)
    .await
}

/// Deliveries not yet processed (for the outbox/inbox depth gauge and tests).
pub async fn backlog(conn: &mut AsyncPgConnection) -> QueryResult<i64> {
    webhook_inbox::table
        .filter(diesel::dsl::sql::<diesel::sql_types::Bool>("webhook_inbox.state IN ('pending', 'failed')"))
        .count()
        .get_result(conn)
        .await
}

/// Takes the reconciliation of a configuration for `lease` unless another replica holds it;
/// returns how far it was swept (`None`: not taken). A configuration swept for the first time
/// starts `first_window` back.
pub async fn take_reconcile(
    conn: &mut AsyncPgConnection,
    configuration: Uuid,
    lease: std::time::Duration,
    first_window: chrono::TimeDelta,
) -> QueryResult<Option<DateTime<Utc>>> {
    let now = Utc::now();
    let until = now + chrono::TimeDelta::from_std(lease).unwrap_or(chrono::TimeDelta::minutes(5));
    diesel::insert_into(reconcile_state::table)
        .values((
            reconcile_state::configuration_id.eq(configuration),
            reconcile_state::swept_until.eq(now - first_window),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    diesel::update(
        reconcile_state::table
            .find(configuration)
            .filter(reconcile_state::lease_until.is_null().or(reconcile_state::lease_until.lt(now))),
    )
    .set(reconcile_state::lease_until.eq(until))
    .returning(reconcile_state::swept_until)
    .get_result(conn)
    .await
    .optional()
}

/// Records a finished sweep and releases it.
pub async fn swept(conn: &mut AsyncPgConnection, configuration: Uuid, until: DateTime<Utc>) -> QueryResult<()> {
    diesel::update(reconcile_state::table.find(configuration))
        .set((reconcile_state::swept_until.eq(until), reconcile_state::lease_until.eq(None::<DateTime<Utc>>)))
        .execute(conn)
        .await
        .map(drop)
}
