//! Queries on `events` and `tickets`. Every query is scoped by tenant.
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::{events, tickets};

/// An event row.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = events)]
#[diesel(treat_none_as_default_value = false)]
pub struct Event {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub external_id: String,
    pub kind: String,
    pub application_id: String,
    pub title: String,
    pub severity: String,
    pub status: String,
    pub link: Option<String>,
    pub detected_at: Option<DateTime<Utc>>,
    pub details: serde_json::Value,
    pub first_seen_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub status_updated_at: DateTime<Utc>,
}

/// Inserts an event unless the tenant has one with its external id; `None` when it existed.
pub async fn insert_new(conn: &mut AsyncPgConnection, event: &Event) -> QueryResult<Option<Event>> {
    diesel::insert_into(events::table)
        .values(event)
        .on_conflict((events::tenant_id, events::external_id))
        .do_nothing()
        .returning(Event::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// A group of first submissions: the events, the feed entry of each, and the tickets each owes.
pub struct NewGroup<'a> {
    /// Candidate rows (ids ours, `first_seen_at` the group's time).
    pub events: &'a [Event],
    /// Per event: the id of its `submitted` feed entry, its origin and actor.
    pub feed: Vec<(Uuid, &'static str, String)>,
    /// Ticket creations owed: (delivery id, event id, configuration id).
    pub owed: Vec<(Uuid, Uuid, Uuid)>,
}

/// Stores a group of first submissions in one statement (so one round trip, and atomic without
/// a transaction of its own): the events whose (tenant, external id) is new, their applications,
/// their feed entries and the deliveries they owe, and wakes watchers and workers. Returns the
/// events inserted; an existing external id, or one repeated later in the group, is skipped
/// with everything that hangs on it.
pub async fn insert_group(conn: &mut AsyncPgConnection, group: &NewGroup<'_>) -> QueryResult<Vec<Event>> {
    use diesel::sql_types::{Array, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
    let Some(first) = group.events.first() else { return Ok(Vec::new()) };
    let e = group.events;
    let now = first.first_seen_at;
    // Planned on each call (diesel caches no raw SQL); a PL/pgSQL function holding the plan
    // measured three times slower per group (its generic plan), so the statement stays here.
    diesel::sql_query(format!(
        "WITH ev AS ( \
           INSERT INTO events (id, tenant_id, external_id, kind, application_id, title, severity, status, link, \
                               detected_at, details, first_seen_at, updated_at, status_updated_at) \
           SELECT c.id, c.tenant_id, c.external_id, c.kind, c.application_id, c.title, c.severity, 'open', c.link, \
                  c.detected_at, c.details, $11, $11, $11 \
           FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
                       $8::text[], $9::timestamptz[], $10::jsonb[]) \
             AS c(id, tenant_id, external_id, kind, application_id, title, severity, link, detected_at, details) \
           ON CONFLICT (tenant_id, external_id) DO NOTHING \
           RETURNING *), \
         application AS ( \
           INSERT INTO applications (tenant_id, application_id, name) \
           SELECT DISTINCT tenant_id, application_id, application_id FROM ev \
           ON CONFLICT DO NOTHING), \
         feed AS ( \
           INSERT INTO event_changes (id, tenant_id, event_id, kind, origin, occurred_at, actor, status) \
           SELECT f.change_id, ev.tenant_id, ev.id, '{submitted}', f.origin, $11, f.actor, 'open' \
           FROM unnest($1::uuid[], $12::uuid[], $13::text[], $14::text[]) AS f(event_id, change_id, origin, actor) \
           JOIN ev ON ev.id = f.event_id \
           RETURNING 1), \
         owed AS ( \
           INSERT INTO deliveries (id, tenant_id, event_id, configuration_id, kind, generation, next_attempt_at) \
           SELECT d.id, ev.tenant_id, ev.id, d.configuration_id, '{create}', 0, $11 \
           FROM unnest($15::uuid[], $16::uuid[], $17::uuid[]) AS d(id, event_id, configuration_id) \
           JOIN ev ON ev.id = d.event_id \
           ON CONFLICT DO NOTHING \
           RETURNING 1), \
         watchers AS (SELECT pg_notify('{changes}', '') FROM (SELECT 1 FROM feed LIMIT 1) f), \
         workers AS (SELECT pg_notify('{deliveries}', '') FROM (SELECT 1 FROM owed LIMIT 1) o) \
         SELECT ev.* FROM ev \
         CROSS JOIN (SELECT count(*) FROM watchers) w CROSS JOIN (SELECT count(*) FROM workers) k",
        submitted = super::changes::kind::SUBMITTED,
        create = super::deliveries::kind::CREATE_TICKET,
        changes = super::changes::CHANNEL,
        deliveries = super::deliveries::CHANNEL,
    ))
    .bind::<Array<SqlUuid>, _>(e.iter().map(|e| e.id).collect::<Vec<_>>())
    .bind::<Array<SqlUuid>, _>(e.iter().map(|e| e.tenant_id).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(e.iter().map(|e| e.external_id.as_str()).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(e.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(e.iter().map(|e| e.application_id.as_str()).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(e.iter().map(|e| e.title.as_str()).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(e.iter().map(|e| e.severity.as_str()).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(e.iter().map(|e| e.link.as_deref()).collect::<Vec<_>>())
    .bind::<Array<Nullable<Timestamptz>>, _>(e.iter().map(|e| e.detected_at).collect::<Vec<_>>())
    .bind::<Array<Jsonb>, _>(e.iter().map(|e| &e.details).collect::<Vec<_>>())
    .bind::<Timestamptz, _>(now)
    .bind::<Array<SqlUuid>, _>(group.feed.iter().map(|f| f.0).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(group.feed.iter().map(|f| f.1).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(group.feed.iter().map(|f| f.2.as_str()).collect::<Vec<_>>())
    .bind::<Array<SqlUuid>, _>(group.owed.iter().map(|d| d.0).collect::<Vec<_>>())
    .bind::<Array<SqlUuid>, _>(group.owed.iter().map(|d| d.1).collect::<Vec<_>>())
    .bind::<Array<SqlUuid>, _>(group.owed.iter().map(|d| d.2).collect::<Vec<_>>())
    .load(conn)
    .await
}

/// The tenant's event with this external id, locked for update.
pub async fn find_by_external_for_update(
    conn: &mut AsyncPgConnection,
    tenant: Uuid,
    external_id: &str,
) -> QueryResult<Option<Event>> {
    events::table
        .filter(events::tenant_id.eq(tenant))
        .filter(events::external_id.eq(external_id))
        .select(Event::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// Replaces the content of an existing event (not its identity or first sighting).
pub async fn update_content(conn: &mut AsyncPgConnection, e: &Event) -> QueryResult<Event> {
    diesel::update(events::table.filter(events::tenant_id.eq(e.tenant_id)).filter(events::id.eq(e.id)))
        .set((
            events::title.eq(&e.title),
            events::severity.eq(&e.severity),
            events::link.eq(&e.link),
            events::detected_at.eq(e.detected_at),
            events::details.eq(&e.details),
            events::updated_at.eq(Utc::now()),
        ))
        .returning(Event::as_returning())
        .get_result(conn)
        .await
}

/// One event by id or external id.
pub async fn find(
    conn: &mut AsyncPgConnection,
    tenant: Uuid,
    id: Option<Uuid>,
    external_id: Option<&str>,
) -> QueryResult<Option<Event>> {
    let mut query = events::table.filter(events::tenant_id.eq(tenant)).select(Event::as_select()).into_boxed();
    if let Some(id) = id {
        query = query.filter(events::id.eq(id));
    }
    if let Some(external_id) = external_id {
        query = query.filter(events::external_id.eq(external_id.to_owned()));
    }
    query.first(conn).await.optional()
}

/// One event by id, locked for update.
pub async fn find_for_update(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Event> {
    events::table.find(id).select(Event::as_select()).for_update().first(conn).await
}

/// One event by id, for workers (which hold the tenant in the delivery row).
pub async fn by_id(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Event> {
    events::table.find(id).select(Event::as_select()).first(conn).await
}

/// List filters.
#[derive(Debug, Default)]
pub struct Filter {
    pub kind: Option<String>,
    pub status: Option<String>,
    pub application_id: Option<String>,
    pub severity: Option<String>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

/// A page of a tenant's events in id (first sighting) order.
pub async fn list(
    conn: &mut AsyncPgConnection,
    tenant: Uuid,
    f: &Filter,
    after: Option<Uuid>,
    limit: i64,
) -> QueryResult<Vec<Event>> {
    let mut query = events::table
        .filter(events::tenant_id.eq(tenant))
        .select(Event::as_select())
        .order(events::id)
        .limit(limit)
        .into_boxed();
    if let Some(v) = &f.kind {
        query = query.filter(events::kind.eq(v.clone()));
    }
    if let Some(v) = &f.status {
        query = query.filter(events::status.eq(v.clone()));
    }
    if let Some(v) = &f.application_id {
        query = query.filter(events::application_id.eq(v.clone()));
    }
    if let Some(v) = &f.severity {
        query = query.filter(events::severity.eq(v.clone()));
    }
    if let Some(v) = f.start {
        query = query.filter(events::first_seen_at.ge(v));
    }
    if let Some(v) = f.end {
        query = query.filter(events::first_seen_at.lt(v));
    }
    if let Some(after) = after {
        query = query.filter(events::id.gt(after));
    }
    query.load(conn).await
}

/// A ticket row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = tickets)]
#[diesel(treat_none_as_default_value = false)]
pub struct Ticket {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub event_id: Uuid,
    pub configuration_id: Uuid,
    pub generation: i32,
    pub delivery_id: Uuid,
    pub jira_issue_id: String,
    pub jira_key: String,
    pub jira_url: String,
    pub trigger: String,
    pub severity: String,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub jira_status: Option<String>,
    pub jira_status_category: Option<String>,
    pub jira_resolution: Option<String>,
    pub sent_summary: Option<String>,
    pub sent_priority: Option<String>,
    pub priority_overridden: bool,
    pub jira_updated_at: Option<DateTime<Utc>>,
    pub unlinked_at: Option<DateTime<Utc>>,
}

/// Stores a ticket; an existing one for the same (event, configuration, generation) wins.
pub async fn insert_ticket(conn: &mut AsyncPgConnection, ticket: &Ticket) -> QueryResult<bool> {
    let n = diesel::insert_into(tickets::table).values(ticket).on_conflict_do_nothing().execute(conn).await?;
    Ok(n > 0)
}

/// The ticket a configuration filed as this Jira issue. `lock` takes its row for update: a
/// webhook's change to it then waits for another in progress, so the staleness check sees what
/// that one stored (take the event's lock first: the order every writer keeps).
pub async fn ticket_by_issue(
    conn: &mut AsyncPgConnection,
    configuration: Uuid,
    issue_id: &str,
    lock: bool,
) -> QueryResult<Option<Ticket>> {
    let query = tickets::table
        .filter(tickets::configuration_id.eq(configuration))
        .filter(tickets::jira_issue_id.eq(issue_id))
        .select(Ticket::as_select())
        .order(tickets::generation.desc());
    if lock { query.for_update().first(conn).await } else { query.first(conn).await }.optional()
}

/// Records Jira's time of the last change applied to a ticket from Jira.
pub async fn set_jira_seen(conn: &mut AsyncPgConnection, ticket: Uuid, at: DateTime<Utc>) -> QueryResult<()> {
    diesel::update(tickets::table.find(ticket)).set(tickets::jira_updated_at.eq(at)).execute(conn).await.map(drop)
}

/// The ticket of an (event, configuration, generation).
pub async fn ticket_for(
    conn: &mut AsyncPgConnection,
    event: Uuid,
    configuration: Uuid,
    generation: i32,
) -> QueryResult<Option<Ticket>> {
    tickets::table
        .filter(tickets::event_id.eq(event))
        .filter(tickets::configuration_id.eq(configuration))
        .filter(tickets::generation.eq(generation))
        .select(Ticket::as_select())
        .first(conn)
        .await
        .optional()
}

/// The tickets an event's changes go to: per configuration, the newest generation, while it
/// is linked.
pub async fn linked_tickets(conn: &mut AsyncPgConnection, event: Uuid) -> QueryResult<Vec<Ticket>> {
    let all: Vec<Ticket> = tickets::table
        .filter(tickets::event_id.eq(event))
        .select(Ticket::as_select())
        .order((tickets::configuration_id, tickets::generation.desc()))
        .load(conn)
        .await?;
    let mut newest: Vec<Ticket> = Vec::new();
    for t in all {
        if newest.last().is_none_or(|n| n.configuration_id != t.configuration_id) {
            newest.push(t);
        }
    }
    newest.retain(|t| t.unlinked_at.is_none());
    Ok(newest)
}

/// What Jira shows of a ticket's state, after we moved it or Jira told us.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = tickets)]
#[diesel(treat_none_as_null = true)]
pub struct TicketState {
    pub jira_status: Option<String>,
    pub jira_status_category: Option<String>,
    pub jira_resolution: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
}

/// Records a ticket's state in Jira.
pub async fn set_ticket_state(conn: &mut AsyncPgConnection, ticket: Uuid, state: &TicketState) -> QueryResult<()> {
    diesel::update(tickets::table.find(ticket)).set(state).execute(conn).await.map(drop)
}

/// Records what we last sent to a ticket's fields.
pub async fn set_sent_fields(
    conn: &mut AsyncPgConnection,
    ticket: Uuid,
    summary: &str,
    priority: &str,
    priority_overridden: bool,
) -> QueryResult<()> {
    diesel::update(tickets::table.find(ticket))
        .set((
            tickets::sent_summary.eq(summary),
            tickets::sent_priority.eq(priority),
            tickets::priority_overridden.eq(priority_overridden),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Unlinks a ticket whose issue is gone from Jira; `false` when it already was.
pub async fn unlink_ticket(conn: &mut AsyncPgConnection, ticket: Uuid) -> QueryResult<bool> {
    let n = diesel::update(tickets::table.find(ticket).filter(tickets::unlinked_at.is_null()))
        .set(tickets::unlinked_at.eq(Utc::now()))
        .execute(conn)
        .await?;
    Ok(n > 0)
}

/// Points a ticket row at another Jira issue (the one kept when duplicates are swept).
pub async fn relink_ticket(
    conn: &mut AsyncPgConnection,
    ticket: Uuid,
    issue_id: &str,
    key: &str,
    url: &str,
) -> QueryResult<()> {
    // Another attempt created that issue, with the event as it read it: what we sent it is unknown.
    diesel::update(tickets::table.find(ticket))
        .set((
            tickets::jira_issue_id.eq(issue_id),
            tickets::jira_key.eq(key),
            tickets::jira_url.eq(url),
            tickets::sent_summary.eq(None::<String>),
            tickets::sent_priority.eq(None::<String>),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// The event's row, locked against a concurrent status or content change until commit: a
/// worker storing a ticket takes it so that a change it did not see waits for the ticket and
/// then finds it.
pub async fn lock_shared(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Event> {
    events::table.find(id).select(Event::as_select()).for_share().first(conn).await
}

/// The event's row, locked for a change of its status or feed; `updated_at` moves to now.
pub async fn lock_touch(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Event> {
    diesel::update(events::table.find(id))
        .set(events::updated_at.eq(Utc::now()))
        .returning(Event::as_returning())
        .get_result(conn)
        .await
}

/// Sets an event's status.
pub async fn set_status(conn: &mut AsyncPgConnection, id: Uuid, status: &str) -> QueryResult<Event> {
    let now = Utc::now();
    diesel::update(events::table.find(id))
        .set((events::status.eq(status), events::status_updated_at.eq(now), events::updated_at.eq(now)))
        .returning(Event::as_returning())
        .get_result(conn)
        .await
}

/// An event's tickets.
pub async fn tickets_of(conn: &mut AsyncPgConnection, tenant: Uuid, event: Uuid) -> QueryResult<Vec<Ticket>> {
    tickets::table
        .filter(tickets::tenant_id.eq(tenant))
        .filter(tickets::event_id.eq(event))
        .select(Ticket::as_select())
        .order(tickets::created_at)
        .load(conn)
        .await
}

/// The kind's own fields, as `events.details` holds them.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Details {
    #[serde(default)]
    application_name: Option<String>,
    #[serde(default)]
    incident_type: Option<String>,
    #[serde(default)]
    source_ips: Vec<String>,
    #[serde(default)]
    request_urls: Vec<String>,
    #[serde(default)]
    vulnerability_type: Option<String>,
    #[serde(default)]
    risk_score: Option<f64>,
}

/// The `details` column for an event's content.
pub fn details_of(view: &crate::domain::ticket::EventView) -> serde_json::Value {
    serde_json::to_value(Details {
        application_name: view.application_name.clone(),
        incident_type: view.incident_type.clone(),
        source_ips: view.source_ips.clone(),
        request_urls: view.request_urls.clone(),
        vulnerability_type: view.vulnerability_type.clone(),
        risk_score: view.risk_score,
    })
    .unwrap_or_default()
}

impl Event {
    /// The stored event as the domain sees it; an unreadable row is a bug, named in the error.
    pub fn view(&self) -> Result<crate::domain::ticket::EventView, String> {
        use crate::domain::model::{Severity, Trigger};
        let d: Details = serde_json::from_value(self.details.clone()).map_err(|e| format!("details: {e}"))?;
        Ok(crate::domain::ticket::EventView {
            trigger: Trigger::parse(&self.kind).ok_or_else(|| format!("kind {:?}", self.kind))?,
            external_id: self.external_id.clone(),
            application_id: self.application_id.clone(),
            application_name: d.application_name,
            title: self.title.clone(),
            severity: Severity::parse(&self.severity).ok_or_else(|| format!("severity {:?}", self.severity))?,
            link: self.link.clone(),
            detected_at: self.detected_at,
            incident_type: d.incident_type,
            source_ips: d.source_ips,
            request_urls: d.request_urls,
            vulnerability_type: d.vulnerability_type,
            risk_score: d.risk_score,
        })
    }
}
