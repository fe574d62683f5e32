//! What a change to an event owes its tickets, in the transaction that makes the change: the
//! change is recorded in the event's log and every delivery it calls for is queued, or neither.
//! The API (our side) and webhook processing (Jira's side) both go through here.
use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use crate::{
    db::{
        self,
        changes::{self, Comment, NewChange},
        deliveries::{NewDelivery, kind},
        events::{Event, Ticket},
    },
    domain::{
        configuration::RecurrencePolicy,
        model::{EventStatus, Trigger},
        sync::{self as rules, Recurrence},
    },
    routing::TenantRouting,
};

type Result<T> = diesel::result::QueryResult<T>;

/// Who made a change.
#[derive(Debug, Clone)]
pub struct Source {
    /// `northstar`, `jira` or `system` (see [`changes::origin`]).
    pub origin: &'static str,
    /// A display name, or empty.
    pub actor: String,
    /// When it happened (Jira's time for Jira changes).
    pub at: DateTime<Utc>,
    /// The ticket it came through, which needs no delivery of it.
    pub ticket: Option<Uuid>,
}

impl Source {
    /// A change through our API, now.
    pub fn northstar(actor: impl Into<String>) -> Self {
        Self { origin: changes::origin::NORTHSTAR, actor: actor.into(), at: Utc::now(), ticket: None }
    }
}

fn owe(ticket: &Ticket, kind: &'static str) -> NewDelivery {
    NewDelivery::new(ticket.tenant_id, ticket.event_id, ticket.configuration_id, ticket.generation, kind)
}

/// A resubmission changed what the tickets' summary or priority are made of.
pub async fn content_changed(conn: &mut AsyncPgConnection, event: &Event, source: &Source) -> Result<()> {
    let tickets = db::events::linked_tickets(conn, event.id).await?;
    let rows: Vec<_> = tickets.iter().map(|t| owe(t, kind::UPDATE_TICKET)).collect();
    db::deliveries::enqueue(conn, &rows).await?;
    let mut change = NewChange::of(event, changes::kind::UPDATED, source.origin).actor(source.actor.clone());
    change.occurred_at = source.at;
    change.message = "The finding was updated".into();
    db::changes::record(conn, &[change]).await
}

/// Sets the event's status and owes each linked ticket what that means for it: a transition,
/// or, for a finding that comes back, what its configuration's recurrence policy says. Setting
/// the current status changes nothing. Call with the event row locked.
pub async fn change_status(
    conn: &mut AsyncPgConnection,
    routing: &TenantRouting,
    event: Event,
    new: EventStatus,
    source: &Source,
) -> Result<Event> {
    let previous = EventStatus::parse(&event.status).unwrap_or(EventStatus::Open);
    if previous == new {
        return Ok(event);
    }
    let event = db::events::set_status(conn, event.id, new.as_str()).await?;
    let trigger = Trigger::parse(&event.kind).unwrap_or(Trigger::Vulnerability);
    let recurring = previous.is_closed() && new == EventStatus::Open;
    let mut log = vec![{
        let mut c = NewChange::of(&event, changes::kind::STATUS_CHANGED, source.origin).actor(source.actor.clone());
        c.previous_status = Some(previous.as_str().to_owned());
        c.occurred_at = source.at;
        c.message = format!("Status {} -> {}", previous.as_str(), new.as_str());
        c
    }];
    let mut owed = Vec::new();
    for ticket in db::events::linked_tickets(conn, event.id).await? {
        if Some(ticket.id) == source.ticket {
            continue;
        }
        let policy = routing
            .configurations
            .get(&ticket.configuration_id)
            .map(|c| c.recurrence_policy)
            .unwrap_or(RecurrencePolicy::Reopen);
        let action =
            if recurring { rules::recurrence(trigger, policy, ticket.closed_at.is_some()) } else { Recurrence::Reopen };
        match action {
            Recurrence::Reopen => owed.push(owe(&ticket, kind::TRANSITION)),
            Recurrence::NewTicket => {
                owed.push(NewDelivery { generation: ticket.generation + 1, ..owe(&ticket, kind::CREATE_TICKET) })
            }
            Recurrence::Comment => {
                let comment = Comment {
                    id: Uuid::now_v7(),
                    tenant_id: event.tenant_id,
                    event_id: event.id,
                    body: format!(
                        "The finding is open again in Northstar (it was {}). This ticket stays closed, as \
                         configured; reopen it if work is needed.",
                        previous.as_str()
                    ),
                    origin: changes::origin::SYSTEM.into(),
                    author: "Northstar".into(),
                    author_account_id: None,
                    api_key_id: None,
                    created_at: source.at,
                    updated_at: source.at,
                    deleted_at: None,
                };
                db::changes::insert_comment(conn, &comment).await?;
                owed.push(owe(&ticket, kind::ADD_COMMENT).comment(comment.id));
                let mut c = NewChange::of(&event, changes::kind::COMMENT_ADDED, changes::origin::SYSTEM)
                    .ticket(ticket.configuration_id, &ticket.jira_key);
                c.comment_id = Some(comment.id);
                log.push(c);
            }
        }
    }
    db::deliveries::enqueue(conn, &owed).await?;
    db::changes::record(conn, &log).await?;
    Ok(event)
}

/// A comment was added on our side (or by the system): copy it to every linked ticket.
pub async fn comment_added(conn: &mut AsyncPgConnection, event: &Event, comment: &Comment) -> Result<()> {
    db::changes::insert_comment(conn, comment).await?;
    let tickets = db::events::linked_tickets(conn, event.id).await?;
    let rows: Vec<_> = tickets.iter().map(|t| owe(t, kind::ADD_COMMENT).comment(comment.id)).collect();
    db::deliveries::enqueue(conn, &rows).await?;
    let mut change =
        NewChange::of(event, changes::kind::COMMENT_ADDED, origin_of(comment)).actor(comment.author.clone());
    change.comment_id = Some(comment.id);
    change.occurred_at = comment.created_at;
    db::changes::record(conn, &[change]).await
}

/// A comment was deleted (on either side): delete its copies from every ticket that carries one,
/// except the one the deletion came through.
pub async fn comment_deleted(
    conn: &mut AsyncPgConnection,
    event: &Event,
    comment: &Comment,
    source: &Source,
) -> Result<bool> {
    if !db::changes::delete_comment(conn, comment.id).await? {
        return Ok(false);
    }
    let copies = db::changes::jira_copies(conn, &[comment.id]).await?;
    let tickets = db::events::tickets_of(conn, event.tenant_id, event.id).await?;
    let rows: Vec<_> = tickets
        .iter()
        .filter(|t| t.unlinked_at.is_none() && Some(t.id) != source.ticket)
        .filter(|t| copies.iter().any(|c| c.ticket_id == t.id))
        .map(|t| owe(t, kind::DELETE_COMMENT).comment(comment.id))
        .collect();
    db::deliveries::enqueue(conn, &rows).await?;
    let mut change = NewChange::of(event, changes::kind::COMMENT_DELETED, source.origin).actor(source.actor.clone());
    change.comment_id = Some(comment.id);
    change.occurred_at = source.at;
    db::changes::record(conn, &[change]).await?;
    Ok(true)
}

fn origin_of(comment: &Comment) -> &'static str {
    match comment.origin.as_str() {
        "jira" => changes::origin::JIRA,
        "system" => changes::origin::SYSTEM,
        _ => changes::origin::NORTHSTAR,
    }
}
