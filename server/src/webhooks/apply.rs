//! Applies what Jira says happened to a ticket: status (Jira to us), comments added, edited and
//! deleted, the issue deleted. Shared by webhook processing and reconciliation.
//!
//! Nothing loops: a comment we copied to Jira is known by its Jira id (and while our copy may
//! still be in flight, a Jira comment on that ticket waits); a status only moves the event when
//! Jira's `done`-ness disagrees with the event's, so the echo of our own transition changes
//! nothing. Nothing goes back in time: a change older (by Jira's clock) than the last one applied
//! to the ticket is ignored.
use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use crate::{
    db::{
        self,
        changes::{self, Comment, JiraComment, NewChange},
        events::{Ticket, TicketState},
    },
    domain::{
        configuration::Configuration,
        model::{EventStatus, Trigger},
        sync::status_from_jira,
        ticket,
        webhook::{Actor, Change, CommentRef},
    },
    propagate::{self, Source},
    routing::TenantRouting,
};

type Result<T> = diesel::result::QueryResult<T>;

/// What applying decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    /// Applied, or nothing to apply (not our ticket, a duplicate, our own echo, stale).
    Done,
    /// Not yet: try again shortly (our own copy of a comment may still be in flight).
    Later(&'static str),
}

/// One Jira issue's news, however it arrived.
#[derive(Debug)]
pub struct IssueNews<'a> {
    /// Jira's numeric issue id.
    pub issue_id: &'a str,
    /// Who made the change, when known.
    pub actor: Option<&'a Actor>,
    /// Jira's time of the change.
    pub at: DateTime<Utc>,
    /// What changed.
    pub changes: &'a [Change],
    /// Every comment id the issue has now, when known (reconciliation reads them all): a
    /// comment we hold a copy of that is not among them was deleted in Jira.
    pub comments_present: Option<&'a [String]>,
    /// The issue's labels, when the news carries them: an issue whose ticket is not stored yet
    /// is recognised by its marker.
    pub labels: Option<&'a [String]>,
}

fn name_of(actor: Option<&Actor>) -> String {
    actor.and_then(|a| a.display_name.clone().or_else(|| a.name.clone())).unwrap_or_default()
}

/// Applies `news` about an issue of `configuration`, in the caller's transaction.
pub async fn apply(
    conn: &mut AsyncPgConnection,
    routing: &TenantRouting,
    configuration: &Configuration,
    news: &IssueNews<'_>,
) -> Result<Applied> {
    let Some(found) = db::events::ticket_by_issue(conn, configuration.id, news.issue_id, false).await? else {
        if creation_under_way(conn, configuration, news.labels).await? {
            return Ok(Applied::Later("the issue's ticket is still being stored"));
        }
        return Ok(Applied::Done);
    };
    // The event first, then the ticket: the order every writer takes.
    let mut event = db::events::find_for_update(conn, found.event_id).await?;
    let Some(ticket) = db::events::ticket_by_issue(conn, configuration.id, news.issue_id, true).await? else {
        return Ok(Applied::Done);
    };
    if ticket.unlinked_at.is_some() {
        return Ok(Applied::Done);
    }
    let source =
        Source { origin: changes::origin::JIRA, actor: name_of(news.actor), at: news.at, ticket: Some(ticket.id) };
    for change in news.changes {
        match change {
            Change::StatusChanged { status, category, resolution } => {
                if ticket.jira_updated_at.is_some_and(|seen| news.at < seen) {
                    tracing::info!(jira_key = %ticket.jira_key, "stale status change ignored");
                    continue;
                }
                // Webhooks carry the category; a payload without it is judged by the name of
                // Jira's default done statuses.
                let done = match category {
                    Some(c) => c == "done",
                    None => ["done", "closed", "resolved"].contains(&status.to_ascii_lowercase().as_str()),
                };
                let state = TicketState {
                    jira_status: Some(status.clone()),
                    jira_status_category: Some(if done {
                        "done".to_owned()
                    } else {
                        category.clone().unwrap_or_default()
                    }),
                    jira_resolution: resolution.clone(),
                    closed_at: done.then(|| ticket.closed_at.unwrap_or(news.at)),
                };
                db::events::set_ticket_state(conn, ticket.id, &state).await?;
                db::events::set_jira_seen(conn, ticket.id, news.at).await?;
                // Jira's state may be older than the event's: a change made on our side after
                // it, or a transition of ours still on its way. Ours wins until Jira shows it.
                if news.at < event.status_updated_at
                    || db::deliveries::transition_pending(conn, ticket.event_id, ticket.configuration_id).await?
                {
                    continue;
                }
                let trigger = Trigger::parse(&event.kind).unwrap_or(Trigger::Vulnerability);
                let current = EventStatus::parse(&event.status).unwrap_or(EventStatus::Open);
                let mapped = status_from_jira(trigger, done, resolution.as_deref(), &configuration.status_mapping);
                if mapped.is_closed() != current.is_closed() {
                    event = propagate::change_status(conn, routing, event, mapped, &source).await?;
                }
            }
            Change::CommentAdded(c) => {
                if let Applied::Later(why) = comment_added(conn, &event, &ticket, c).await? {
                    return Ok(Applied::Later(why));
                }
            }
            Change::CommentUpdated(c) => match db::changes::by_jira_comment(conn, ticket.id, &c.id).await? {
                None => {
                    if let Applied::Later(why) = comment_added(conn, &event, &ticket, c).await? {
                        return Ok(Applied::Later(why));
                    }
                }
                Some(existing) if existing.origin == changes::origin::JIRA && existing.deleted_at.is_none() => {
                    let at = c.updated.unwrap_or(news.at);
                    // Strictly newer only: the same edit seen again (a retry, reconciliation)
                    // changes nothing, whatever text conversion it went through.
                    if existing.body != c.body && at > existing.updated_at {
                        db::changes::edit_comment(conn, existing.id, &c.body, at).await?;
                        let mut change = NewChange::of(&event, changes::kind::COMMENT_UPDATED, changes::origin::JIRA)
                            .ticket(ticket.configuration_id, &ticket.jira_key)
                            .actor(name_of(c.update_author.as_ref().or(c.author.as_ref())));
                        change.comment_id = Some(existing.id);
                        change.occurred_at = at;
                        db::changes::record(conn, &[change]).await?;
                    }
                }
                // Our own comments are ours to edit; a deleted one stays deleted.
                Some(_) => {}
            },
            Change::CommentDeleted { id } => {
                if let Some(existing) = db::changes::by_jira_comment(conn, ticket.id, id).await? {
                    propagate::comment_deleted(conn, &event, &existing, &source).await?;
                }
            }
            Change::IssueDeleted => {
                if db::events::unlink_ticket(conn, ticket.id).await? {
                    let change = NewChange::of(&event, changes::kind::TICKET_UNLINKED, changes::origin::JIRA)
                        .ticket(ticket.configuration_id, &ticket.jira_key)
                        .actor(source.actor.clone())
                        .message(format!("{} was deleted in Jira; the finding stays", ticket.jira_key));
                    db::changes::record(conn, &[NewChange { occurred_at: news.at, ..change }]).await?;
                }
                return Ok(Applied::Done);
            }
        }
    }
    if let Some(present) = news.comments_present {
        for link in db::changes::jira_links_of_ticket(conn, ticket.id).await? {
            if !present.contains(&link.jira_comment_id)
                && let Some(existing) = db::changes::comment_by_id(conn, link.comment_id).await?
                && existing.deleted_at.is_none()
            {
                propagate::comment_deleted(conn, &event, &existing, &source).await?;
            }
        }
    }
    Ok(Applied::Done)
}

/// Whether the issue is one this configuration is creating, whose ticket is not stored yet: Jira
/// can tell of a change (a person, an automation rule acting at once) before the creation's
/// answer is stored, or while a retry after a lost answer has yet to adopt the issue. Known by
/// the marker label of a creation that was attempted and has not finished.
async fn creation_under_way(
    conn: &mut AsyncPgConnection,
    configuration: &Configuration,
    labels: Option<&[String]>,
) -> Result<bool> {
    let trigger_label = format!("northstar-{}", configuration.trigger.as_str());
    let Some(labels) = labels.filter(|l| l.contains(&trigger_label)) else {
        return Ok(false);
    };
    let configuration_id = configuration.id.to_string();
    Ok(db::deliveries::creations_under_way(conn, configuration.id).await?.iter().any(
        |(tenant, external_id, generation)| {
            let marker = ticket::marker_label(&tenant.to_string(), external_id, &configuration_id, *generation as u32);
            labels.contains(&marker)
        },
    ))
}

async fn comment_added(
    conn: &mut AsyncPgConnection,
    event: &db::events::Event,
    ticket: &Ticket,
    c: &CommentRef,
) -> Result<Applied> {
    if db::changes::by_jira_comment(conn, ticket.id, &c.id).await?.is_some() {
        return Ok(Applied::Done);
    }
    if db::deliveries::comment_in_flight(conn, ticket.event_id, ticket.configuration_id).await? {
        return Ok(Applied::Later("a comment of ours to this ticket is still being delivered"));
    }
    let at = c.created.unwrap_or_else(Utc::now);
    let comment = Comment {
        id: Uuid::now_v7(),
        tenant_id: ticket.tenant_id,
        event_id: ticket.event_id,
        body: c.body.clone(),
        origin: changes::origin::JIRA.into(),
        author: name_of(c.author.as_ref()),
        author_account_id: c.author.as_ref().and_then(|a| a.account_id.clone()),
        api_key_id: None,
        created_at: at,
        updated_at: c.updated.unwrap_or(at),
        deleted_at: None,
    };
    db::changes::insert_comment(conn, &comment).await?;
    let link = JiraComment { comment_id: comment.id, ticket_id: ticket.id, jira_comment_id: c.id.clone() };
    db::changes::link_jira_comment(conn, &link).await?;
    let mut change = NewChange::of(event, changes::kind::COMMENT_ADDED, changes::origin::JIRA)
        .ticket(ticket.configuration_id, &ticket.jira_key)
        .actor(comment.author.clone());
    change.comment_id = Some(comment.id);
    change.occurred_at = at;
    db::changes::record(conn, &[change]).await?;
    Ok(Applied::Done)
}
