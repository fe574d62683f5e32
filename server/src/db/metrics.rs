//! Queries behind GetMetrics: the daily rollups the `tickets_metrics` trigger keeps, the raw
//! tickets of a window's partial days, and open tickets. Every query is grouped by tenant and
//! optionally filtered to one.
use chrono::{DateTime, NaiveDate, Utc};
use diesel::{
    QueryableByName,
    sql_types::{BigInt, Date, Double, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

type Result<T> = diesel::result::QueryResult<T>;

/// The channel the tickets trigger notifies (payload: the tenant id).
pub const CHANNEL: &str = "northstar_metrics";

/// Tickets created, per slice.
#[derive(Debug, QueryableByName)]
pub struct Created {
    #[diesel(sql_type = SqlUuid)]
    pub tenant_id: Uuid,
    #[diesel(sql_type = Text)]
    pub trigger: String,
    #[diesel(sql_type = Text)]
    pub severity: String,
    #[diesel(sql_type = SqlUuid)]
    pub configuration_id: Uuid,
    #[diesel(sql_type = BigInt)]
    pub tickets: i64,
}

/// Closes, per slice and bucket (bucket -1: a rollup's totals, whose buckets come apart).
#[derive(Debug, QueryableByName)]
pub struct Closed {
    #[diesel(sql_type = SqlUuid)]
    pub tenant_id: Uuid,
    #[diesel(sql_type = Text)]
    pub trigger: String,
    #[diesel(sql_type = Text)]
    pub severity: String,
    #[diesel(sql_type = Integer)]
    pub bucket: i32,
    #[diesel(sql_type = BigInt)]
    pub tickets: i64,
    #[diesel(sql_type = Double)]
    pub seconds_sum: f64,
}

/// Open tickets per trigger.
#[derive(Debug, QueryableByName)]
pub struct Open {
    #[diesel(sql_type = SqlUuid)]
    pub tenant_id: Uuid,
    #[diesel(sql_type = Text)]
    pub trigger: String,
    #[diesel(sql_type = BigInt)]
    pub tickets: i64,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub oldest: Option<DateTime<Utc>>,
}

/// Tickets created, per (tenant, trigger, severity, configuration) summed over the shards, from a
/// rollup table over `[$2, $3)` of its time column.
fn created_rollup_sql(table: &str, time: &str) -> String {
    format!(
        "SELECT tenant_id, trigger, severity, configuration_id, sum(tickets)::bigint AS tickets \
         FROM {table} WHERE ($1::uuid IS NULL OR tenant_id = $1) AND {time} >= $2 AND {time} < $3 \
         GROUP BY 1, 2, 3, 4"
    )
}

/// Tickets created on whole days `[first, last)`.
pub async fn created_days(
    conn: &mut AsyncPgConnection,
    tenant: Option<Uuid>,
    first: NaiveDate,
    last: NaiveDate,
) -> Result<Vec<Created>> {
    diesel::sql_query(created_rollup_sql("ticket_created_daily", "day"))
        .bind::<Nullable<SqlUuid>, _>(tenant)
        .bind::<Date, _>(first)
        .bind::<Date, _>(last)
        .load(conn)
        .await
}

/// Tickets created in the whole hours `[from, to)`.
pub async fn created_hours(
    conn: &mut AsyncPgConnection,
    tenant: Option<Uuid>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Created>> {
    diesel::sql_query(created_rollup_sql("ticket_created_hourly", "hour"))
        .bind::<Nullable<SqlUuid>, _>(tenant)
        .bind::<Timestamptz, _>(from)
        .bind::<Timestamptz, _>(to)
        .load(conn)
        .await
}

/// Tickets created in `[from, to)`, from the tickets themselves.
pub async fn created_raw(
    conn: &mut AsyncPgConnection,
    tenant: Option<Uuid>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Created>> {
    diesel::sql_query(
        "SELECT tenant_id, trigger, severity, configuration_id, count(*)::bigint AS tickets \
         FROM tickets WHERE ($1::uuid IS NULL OR tenant_id = $1) AND created_at >= $2 AND created_at < $3 \
         AND unlinked_at IS NULL GROUP BY 1, 2, 3, 4",
    )
    .bind::<Nullable<SqlUuid>, _>(tenant)
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(to)
    .load(conn)
    .await
}

/// Closes on whole days `[first, last)`: per slice one totals row (bucket -1) and one row per
/// histogram bucket (seconds_sum 0).
pub async fn closed_days(
    conn: &mut AsyncPgConnection,
    tenant: Option<Uuid>,
    first: NaiveDate,
    last: NaiveDate,
) -> Result<Vec<Closed>> {
    diesel::sql_query(closed_rollup_sql("ticket_closed_daily", "day"))
        .bind::<Nullable<SqlUuid>, _>(tenant)
        .bind::<Date, _>(first)
        .bind::<Date, _>(last)
        .load(conn)
        .await
}

/// Closes of a rollup table over `[$2, $3)` of its time column: per (tenant, trigger, severity)
/// a total row (bucket -1, with the seconds summed over every shard) and a row per histogram
/// bucket.
fn closed_rollup_sql(table: &str, time: &str) -> String {
    format!(
        "WITH r AS (SELECT * FROM {table} WHERE ($1::uuid IS NULL OR tenant_id = $1) AND {time} >= $2 AND {time} < $3) \
         SELECT tenant_id, trigger, severity, -1 AS bucket, sum(tickets)::bigint AS tickets, \
                sum(seconds_sum) AS seconds_sum FROM r GROUP BY 1, 2, 3 \
         UNION ALL \
         SELECT tenant_id, trigger, severity, (h.i - 1)::integer AS bucket, sum(h.n)::bigint AS tickets, \
                0::double precision AS seconds_sum \
         FROM r, unnest(r.histogram) WITH ORDINALITY AS h(n, i) \
         WHERE h.n IS NOT NULL AND h.n <> 0 GROUP BY 1, 2, 3, 4"
    )
}

/// Closes in the whole hours `[from, to)`, shaped as [`closed_days`] returns them.
pub async fn closed_hours(
    conn: &mut AsyncPgConnection,
    tenant: Option<Uuid>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Closed>> {
    diesel::sql_query(closed_rollup_sql("ticket_closed_hourly", "hour"))
        .bind::<Nullable<SqlUuid>, _>(tenant)
        .bind::<Timestamptz, _>(from)
        .bind::<Timestamptz, _>(to)
        .load(conn)
        .await
}

/// Closes in `[from, to)`, from the tickets themselves, per bucket (with their sums).
pub async fn closed_raw(
    conn: &mut AsyncPgConnection,
    tenant: Option<Uuid>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Closed>> {
    diesel::sql_query(
        "SELECT tenant_id, trigger, severity, metrics_bucket(s) AS bucket, count(*)::bigint AS tickets, \
                sum(s) AS seconds_sum \
         FROM (SELECT tenant_id, trigger, severity, \
                      greatest(extract(epoch FROM closed_at - created_at)::double precision, 0) AS s \
               FROM tickets WHERE ($1::uuid IS NULL OR tenant_id = $1) AND closed_at >= $2 AND closed_at < $3 \
               AND unlinked_at IS NULL) t \
         GROUP BY 1, 2, 3, 4",
    )
    .bind::<Nullable<SqlUuid>, _>(tenant)
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(to)
    .load(conn)
    .await
}

/// Tickets open now, per trigger, with the oldest creation time. The count is what the rollups
/// say was created and not (last) closed, over all time; the oldest comes from the open-tickets
/// index. Neither reads every open ticket.
pub async fn open(conn: &mut AsyncPgConnection, tenant: Option<Uuid>) -> Result<Vec<Open>> {
    diesel::sql_query(
        "WITH created AS (SELECT tenant_id, trigger, sum(tickets) AS n FROM ticket_created_daily \
                          WHERE ($1::uuid IS NULL OR tenant_id = $1) GROUP BY 1, 2), \
              closed AS (SELECT tenant_id, trigger, sum(tickets) AS n FROM ticket_closed_daily \
                         WHERE ($1::uuid IS NULL OR tenant_id = $1) GROUP BY 1, 2) \
         SELECT c.tenant_id, c.trigger, (c.n - coalesce(d.n, 0))::bigint AS tickets, \
                (SELECT min(t.created_at) FROM tickets t WHERE t.tenant_id = c.tenant_id AND t.trigger = c.trigger \
                 AND t.closed_at IS NULL AND t.unlinked_at IS NULL) AS oldest \
         FROM created c LEFT JOIN closed d ON d.tenant_id = c.tenant_id AND d.trigger = c.trigger \
         WHERE c.n - coalesce(d.n, 0) > 0",
    )
    .bind::<Nullable<SqlUuid>, _>(tenant)
    .load(conn)
    .await
}

/// Names of configurations, for display.
pub async fn configuration_names(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> Result<Vec<(Uuid, String)>> {
    use diesel::{ExpressionMethods as _, QueryDsl as _};

    use crate::schema::configurations;
    configurations::table
        .filter(configurations::id.eq_any(ids))
        .select((configurations::id, configurations::name))
        .load(conn)
        .await
}
