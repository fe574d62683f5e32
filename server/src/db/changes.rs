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
    diesel::insert_into(event_changes::table).values(changes).execute(conn).await?;
    diesel::sql_query(format!("NOTIFY {CHANNEL}")).execute(conn).await.map(drop)
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
