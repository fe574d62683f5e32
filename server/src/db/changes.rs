//! Queries on `event_changes` (every event's change log: its activity feed and the watch stream)
//! and on `comments` with their Jira copies.
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::events::Event;
use crate::schema::{comments, event_changes, jira_comments};

/// The channel that wakes change watchers on every replica.
pub const CHANNEL: &str = "northstar_changes";

/// Change kinds as stored.
pub mod kind {
    pub const SUBMITTED: &str = "submitted";
    pub const UPDATED: &str = "updated";
    pub const STATUS_CHANGED: &str = "status_changed";
    pub const COMMENT_ADDED: &str = "comment_added";
    pub const COMMENT_UPDATED: &str = "comment_updated";
    pub const COMMENT_DELETED: &str = "comment_deleted";
    pub const TICKET_CREATED: &str = "ticket_created";
    pub const TICKET_UNLINKED: &str = "ticket_unlinked";
    pub const DUPLICATE_CLOSED: &str = "duplicate_closed";
    pub const DELIVERY_FAILED: &str = "delivery_failed";
}

/// Origins as stored.
pub mod origin {
    pub const NORTHSTAR: &str = "northstar";
    pub const JIRA: &str = "jira";
    pub const SYSTEM: &str = "system";
}

/// A change to record.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = event_changes)]
pub struct NewChange {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub event_id: Uuid,
    pub kind: &'static str,
    pub origin: &'static str,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub configuration_id: Option<Uuid>,
    pub jira_issue_key: Option<String>,
    pub comment_id: Option<Uuid>,
    pub previous_status: Option<String>,
    pub status: String,
    pub message: String,
}

impl NewChange {
    /// A change of `event` (as it is after the change), now, with nothing else said.
    pub fn of(event: &Event, kind: &'static str, origin: &'static str) -> Self {
        Self {
            id: Uuid::now_v7(),
            tenant_id: event.tenant_id,
            event_id: event.id,
            kind,
            origin,
            occurred_at: Utc::now(),
            actor: String::new(),
            configuration_id: None,
            jira_issue_key: None,
            comment_id: None,
            previous_status: None,
            status: event.status.clone(),
            message: String::new(),
        }
    }

    /// Names the ticket concerned.
    pub fn ticket(mut self, configuration: Uuid, key: &str) -> Self {
        self.configuration_id = Some(configuration);
        self.jira_issue_key = Some(key.to_owned());
        self
    }

    /// Sets the one-line description.
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// Sets who caused it.
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = actor.into();
        self
    }
}

/// A recorded change.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = event_changes)]
pub struct Change {
    pub seq: i64,
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub event_id: Uuid,
    pub kind: String,
    pub origin: String,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub configuration_id: Option<Uuid>,
    pub jira_issue_key: Option<String>,
    pub comment_id: Option<Uuid>,
    pub previous_status: Option<String>,
    pub status: String,
    pub message: String,
}

/// Records changes and wakes the watchers at commit.
pub async fn record(conn: &mut AsyncPgConnection, changes: &[NewChange]) -> QueryResult<()> {
    if changes.is_empty() {
        return Ok(());
    }
    record_quietly(conn, changes).await?;
    diesel::sql_query(format!("NOTIFY {CHANNEL}")).execute(conn).await.map(drop)
}

/// [`record`] without the NOTIFY: the caller raises the wake-up on [`CHANNEL`] after its commit.
pub async fn record_quietly(conn: &mut AsyncPgConnection, changes: &[NewChange]) -> QueryResult<()> {
    diesel::insert_into(event_changes::table).values(changes).execute(conn).await.map(drop)
}

/// An event's changes, oldest first.
pub async fn of_event(conn: &mut AsyncPgConnection, event: Uuid) -> QueryResult<Vec<Change>> {
    event_changes::table
        .filter(event_changes::event_id.eq(event))
        .select(Change::as_select())
        .order(event_changes::seq)
        .load(conn)
        .await
}

/// A comment row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = comments)]
#[diesel(treat_none_as_default_value = false)]
pub struct Comment {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub event_id: Uuid,
    pub body: String,
    pub origin: String,
    pub author: String,
    pub author_account_id: Option<String>,
    pub api_key_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// Stores a comment.
pub async fn insert_comment(conn: &mut AsyncPgConnection, comment: &Comment) -> QueryResult<()> {
    diesel::insert_into(comments::table).values(comment).execute(conn).await.map(drop)
}

/// A comment of the tenant's event, deleted or not.
pub async fn find_comment(
    conn: &mut AsyncPgConnection,
    tenant: Uuid,
    event: Uuid,
    id: Uuid,
) -> QueryResult<Option<Comment>> {
    comments::table
        .filter(comments::tenant_id.eq(tenant))
        .filter(comments::event_id.eq(event))
        .filter(comments::id.eq(id))
        .select(Comment::as_select())
        .first(conn)
        .await
        .optional()
}

/// A comment by id, for workers.
pub async fn comment_by_id(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Comment>> {
    comments::table.find(id).select(Comment::as_select()).first(conn).await.optional()
}

/// An event's comments that are not deleted.
pub async fn live_comments(conn: &mut AsyncPgConnection, event: Uuid) -> QueryResult<Vec<Comment>> {
    comments::table
        .filter(comments::event_id.eq(event))
        .filter(comments::deleted_at.is_null())
        .select(Comment::as_select())
        .order(comments::created_at)
        .load(conn)
        .await
}

/// Marks a comment deleted; `false` when it already was.
pub async fn delete_comment(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<bool> {
    let n = diesel::update(comments::table.find(id).filter(comments::deleted_at.is_null()))
        .set(comments::deleted_at.eq(Utc::now()))
        .execute(conn)
        .await?;
    Ok(n > 0)
}

/// Replaces a comment's text.
pub async fn edit_comment(conn: &mut AsyncPgConnection, id: Uuid, body: &str, at: DateTime<Utc>) -> QueryResult<()> {
    diesel::update(comments::table.find(id))
        .set((comments::body.eq(body), comments::updated_at.eq(at)))
        .execute(conn)
        .await
        .map(drop)
}

/// Where a comment lives in Jira.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = jira_comments)]
pub struct JiraComment {
    pub comment_id: Uuid,
    pub ticket_id: Uuid,
    pub jira_comment_id: String,
}

/// Records a Jira copy of a comment; `false` when that Jira comment was already known.
pub async fn link_jira_comment(conn: &mut AsyncPgConnection, link: &JiraComment) -> QueryResult<bool> {
    let n = diesel::insert_into(jira_comments::table).values(link).on_conflict_do_nothing().execute(conn).await?;
    Ok(n > 0)
}

/// The Jira copies of these comments.
pub async fn jira_copies(conn: &mut AsyncPgConnection, comment_ids: &[Uuid]) -> QueryResult<Vec<JiraComment>> {
    jira_comments::table
        .filter(jira_comments::comment_id.eq_any(comment_ids))
        .select(JiraComment::as_select())
        .load(conn)
        .await
}

/// Every Jira comment on a ticket that one of our comments lives in.
pub async fn jira_links_of_ticket(conn: &mut AsyncPgConnection, ticket: Uuid) -> QueryResult<Vec<JiraComment>> {
    jira_comments::table.filter(jira_comments::ticket_id.eq(ticket)).select(JiraComment::as_select()).load(conn).await
}

/// The comment a Jira comment on a ticket belongs to.
pub async fn by_jira_comment(
    conn: &mut AsyncPgConnection,
    ticket: Uuid,
    jira_comment_id: &str,
) -> QueryResult<Option<Comment>> {
    jira_comments::table
        .inner_join(comments::table)
        .filter(jira_comments::ticket_id.eq(ticket))
        .filter(jira_comments::jira_comment_id.eq(jira_comment_id))
        .select(Comment::as_select())
        .first(conn)
        .await
        .optional()
}

/// A position in the change feed: right after the change `(txid, seq)`. Watchers read the feed
/// in this order, which (unlike `seq` alone) no transaction still in progress can later insert
/// before: see [`feed_head`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FeedPosition {
    /// The writing transaction (`xid8`).
    pub txid: u64,
    /// The row within the log; identity values start at 1, so `seq: 0` is before every change
    /// of `txid`.
    pub seq: i64,
}

/// A change as the watch feed reads it.
#[derive(Debug, Clone)]
pub struct FeedChange {
    pub position: FeedPosition,
    pub event_id: Uuid,
    pub kind: String,
    pub origin: String,
    pub occurred_at: DateTime<Utc>,
    pub configuration_id: Option<Uuid>,
    pub jira_issue_key: Option<String>,
    pub comment_id: Option<Uuid>,
    pub previous_status: Option<String>,
    pub status: String,
}

/// What a watcher wants of the feed; `None` matches everything.
#[derive(Debug, Clone)]
pub struct FeedFilter {
    /// The change kinds to return (never empty: kinds nobody watches are simply not listed).
    pub kinds: Vec<&'static str>,
    /// Only changes of this origin.
    pub origin: Option<&'static str>,
    /// Only changes to events of this kind (`incident`, `vulnerability`).
    pub event_kind: Option<&'static str>,
}

// diesel has no xid8 type: it crosses the wire as text, cast in SQL both ways.
#[derive(QueryableByName)]
struct FeedRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    txid: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    seq: i64,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    event_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Text)]
    kind: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    origin: String,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    occurred_at: DateTime<Utc>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    configuration_id: Option<Uuid>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    jira_issue_key: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    comment_id: Option<Uuid>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    previous_status: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    status: String,
}

#[derive(QueryableByName)]
struct XminRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    xmin: String,
}

fn parse_xid8(text: &str) -> QueryResult<u64> {
    text.parse().map_err(|e| diesel::result::Error::DeserializationError(format!("xid8 {text:?}: {e}").into()))
}

/// The feed's readable end: the current snapshot's xmin. Every transaction below it has ended,
/// so no row with a smaller `txid` can still appear; rows at or above it wait until it moves.
/// It never decreases, so a position read below one head stays below every later head.
pub async fn feed_head(conn: &mut AsyncPgConnection) -> QueryResult<u64> {
    let row: XminRow =
        diesel::sql_query("SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin").get_result(conn).await?;
    parse_xid8(&row.xmin)
}

/// The tenant's changes after `after` and below `head` (from [`feed_head`]) that match `filter`,
/// in feed order, at most `limit`.
pub async fn feed(
    conn: &mut AsyncPgConnection,
    tenant: Uuid,
    after: FeedPosition,
    head: u64,
    filter: &FeedFilter,
    limit: i64,
) -> QueryResult<Vec<FeedChange>> {
    use diesel::sql_types::{Array, BigInt, Nullable, Text};
    let rows: Vec<FeedRow> = diesel::sql_query(
        "SELECT c.txid::text AS txid, c.seq, c.event_id, c.kind, c.origin, c.occurred_at, c.configuration_id, \
                c.jira_issue_key, c.comment_id, c.previous_status, c.status \
         FROM event_changes c JOIN events e ON e.id = c.event_id \
         WHERE c.tenant_id = $1 \
           AND c.txid < $2::xid8 \
           AND (c.txid, c.seq) > ($3::xid8, $4) \
           AND c.kind = ANY($5) \
           AND ($6::text IS NULL OR c.origin = $6) \
           AND ($7::text IS NULL OR e.kind = $7) \
         ORDER BY c.txid, c.seq \
         LIMIT $8",
    )
    .bind::<diesel::sql_types::Uuid, _>(tenant)
    .bind::<Text, _>(head.to_string())
    .bind::<Text, _>(after.txid.to_string())
    .bind::<BigInt, _>(after.seq)
    .bind::<Array<Text>, _>(&filter.kinds)
    .bind::<Nullable<Text>, _>(filter.origin)
    .bind::<Nullable<Text>, _>(filter.event_kind)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(FeedChange {
                position: FeedPosition { txid: parse_xid8(&r.txid)?, seq: r.seq },
                event_id: r.event_id,
                kind: r.kind,
                origin: r.origin,
                occurred_at: r.occurred_at,
                configuration_id: r.configuration_id,
                jira_issue_key: r.jira_issue_key,
                comment_id: r.comment_id,
                previous_status: r.previous_status,
                status: r.status,
            })
        })
        .collect()
}

/// The tenant's events with these ids, as they are now.
pub async fn events_by_ids(conn: &mut AsyncPgConnection, tenant: Uuid, ids: &[Uuid]) -> QueryResult<Vec<Event>> {
    use crate::schema::events;
    events::table
        .filter(events::tenant_id.eq(tenant))
        .filter(events::id.eq_any(ids))
        .select(Event::as_select())
        .load(conn)
        .await
}

/// The tenant's comments with these ids, deleted or not.
pub async fn comments_by_ids(conn: &mut AsyncPgConnection, tenant: Uuid, ids: &[Uuid]) -> QueryResult<Vec<Comment>> {
    comments::table
        .filter(comments::tenant_id.eq(tenant))
        .filter(comments::id.eq_any(ids))
        .select(Comment::as_select())
        .load(conn)
        .await
}

/// Every ticket (of every generation, linked or not) of the tenant's events with these ids.
pub async fn tickets_of_events(
    conn: &mut AsyncPgConnection,
    tenant: Uuid,
    events: &[Uuid],
) -> QueryResult<Vec<super::events::Ticket>> {
    use crate::schema::tickets;
    tickets::table
        .filter(tickets::tenant_id.eq(tenant))
        .filter(tickets::event_id.eq_any(events))
        .select(super::events::Ticket::as_select())
        .order((tickets::event_id, tickets::configuration_id, tickets::generation))
        .load(conn)
        .await
}
