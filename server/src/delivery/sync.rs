//! Changes from our side to a ticket that exists: summary and priority, status, comments. Each
//! reads the current state of the event and of the Jira issue when it runs, so one delivery
//! brings any number of changes and a repeated one changes nothing.
use chrono::Utc;
use diesel_async::AsyncConnection as _;
use uuid::Uuid;

use super::{AttemptError, Context, done, load, tickets::transition_options};
use crate::{
    api::AppState,
    db::{
        self,
        changes::{self, JiraComment, NewChange},
        deliveries::{Delivery, NewDelivery, kind},
        events::{Ticket, TicketState},
    },
    domain::{
        configuration::PriorityField,
        model::EventStatus,
        sync::{self as rules, FieldState},
        ticket,
    },
    error::ApiError,
    jira::{JiraError, adf::Doc},
};

/// The linked ticket a delivery is for, with its context; `None` when there is none (never
/// created, deleted in Jira): the delivery has nothing to do.
async fn target(state: &AppState, delivery: &Delivery) -> Result<Option<(Context, Ticket)>, AttemptError> {
    let ticket = {
        let mut conn = state.pool.get().await.map_err(ApiError::from)?;
        db::events::ticket_for(&mut conn, delivery.event_id, delivery.configuration_id, delivery.generation).await?
    };
    match ticket {
        Some(t) if t.unlinked_at.is_none() => Ok(Some((load(state, delivery).await?, t))),
        _ => Ok(None),
    }
}

/// A 404 from Jira for the issue itself: it was deleted there. Unlink it (the event stays) and
/// close the delivery.
async fn unlink_gone(state: &AppState, delivery: &Delivery, ticket: &Ticket, token: Uuid) -> Result<(), AttemptError> {
    let mut conn = state.pool.get().await.map_err(ApiError::from)?;
    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        // The event before the ticket: the order every writer keeps.
        db::events::lock_shared(conn, ticket.event_id).await?;
        if db::events::unlink_ticket(conn, ticket.id).await? {
            let event = db::events::by_id(conn, ticket.event_id).await?;
            let change = NewChange::of(&event, changes::kind::TICKET_UNLINKED, changes::origin::JIRA)
                .ticket(ticket.configuration_id, &ticket.jira_key)
                .message(format!("{} no longer exists in Jira; unlinked", ticket.jira_key));
            db::changes::record(conn, &[change]).await?;
        }
        db::deliveries::succeed_held(conn, delivery.id, token).await?;
        Ok(())
    })
    .await
    .map_err(AttemptError::stored)?;
    tracing::info!(jira_key = %ticket.jira_key, "ticket deleted in Jira; unlinked");
    Ok(())
}

/// Runs `body`; a 404 for the issue unlinks the ticket instead of failing.
macro_rules! or_unlink {
    ($state:expr, $delivery:expr, $ticket:expr, $token:expr, $call:expr) => {
        match $call {
            Err(JiraError::NotFound(_)) => return unlink_gone($state, $delivery, $ticket, $token).await,
            other => other?,
        }
    };
}

fn priority_of(field: &PriorityField, fields: &serde_json::Value) -> Option<String> {
    let value = fields.get(field.as_str())?;
    let name = match field {
        PriorityField::Priority => value.get("name"),
        PriorityField::Custom(_) => value.get("value"),
    };
    name.and_then(|v| v.as_str()).map(str::to_owned)
}

/// Brings summary and priority in line with the event, leaving what a person changed in Jira.
pub(super) async fn update(state: &AppState, delivery: &Delivery, token: Uuid) -> Result<(), AttemptError> {
    let Some((ctx, ticket)) = target(state, delivery).await? else { return done(state, delivery, token).await };
    let field = &ctx.configuration.priority_field;
    let issue = or_unlink!(
        state,
        delivery,
        &ticket,
        token,
        state.jira.get_issue(&ctx.site, &ticket.jira_key, &["summary", field.as_str()]).await
    );
    let current_summary = issue.fields.get("summary").and_then(|v| v.as_str()).map(str::to_owned);
    let current_priority = priority_of(field, &issue.fields);
    let desired_summary = ticket::summary(ctx.configuration.title_prefix.as_deref(), &ctx.view.title);
    let desired_priority = ticket::priority(&ctx.configuration, &ctx.view).to_owned();
    let plan = rules::plan_update(
        FieldState {
            sent: ticket.sent_summary.as_deref(),
            current: current_summary.as_deref(),
            desired: &desired_summary,
        },
        FieldState {
            sent: ticket.sent_priority.as_deref(),
            current: current_priority.as_deref(),
            desired: &desired_priority,
        },
        ticket.priority_overridden,
    );
    let mut fields = serde_json::Map::new();
    if let Some(summary) = &plan.summary {
        fields.insert("summary".into(), serde_json::json!(summary));
    }
    if let Some(priority) = &plan.priority {
        let value = match field {
            PriorityField::Priority => serde_json::json!({ "name": priority }),
            PriorityField::Custom(_) => serde_json::json!({ "value": priority }),
        };
        fields.insert(field.as_str().to_owned(), value);
    }
    if !fields.is_empty() {
        or_unlink!(
            state,
            delivery,
            &ticket,
            token,
            state.jira.update_issue(&ctx.site, &ticket.jira_key, &serde_json::json!({ "fields": fields })).await
        );
    }
    // What was not sent keeps its last sent value, so a person's edit stays recognisable.
    let sent_summary = plan.summary.or(ticket.sent_summary).unwrap_or(desired_summary);
    let sent_priority = plan.priority.or(ticket.sent_priority).unwrap_or(desired_priority);
    let mut conn = state.pool.get().await.map_err(ApiError::from)?;
    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        db::events::set_sent_fields(conn, ticket.id, &sent_summary, &sent_priority, plan.priority_overridden).await?;
        db::deliveries::succeed_held(conn, delivery.id, token).await?;
        Ok(())
    })
    .await
    .map_err(AttemptError::stored)?;
    tracing::info!(jira_key = %ticket.jira_key, fields = fields.len(), overridden = plan.priority_overridden, "ticket updated");
    Ok(())
}

/// Moves the ticket into `done` or out of it, as the event's status says, unless it is there.
pub(super) async fn transition(state: &AppState, delivery: &Delivery, token: Uuid) -> Result<(), AttemptError> {
    let Some((ctx, ticket)) = target(state, delivery).await? else { return done(state, delivery, token).await };
    let status = EventStatus::parse(&ctx.event.status).unwrap_or(EventStatus::Open);
    let to_done = rules::wants_done(status);
    let issue = or_unlink!(
        state,
        delivery,
        &ticket,
        token,
        state.jira.get_issue(&ctx.site, &ticket.jira_key, &["status", "resolution"]).await
    );
    let current = issue.status();
    let mut reached = current.clone();
    if current.as_ref().is_none_or(|s| s.is_done() != to_done) {
        let options = transition_options(&or_unlink!(
            state,
            delivery,
            &ticket,
            token,
            state.jira.transitions(&ctx.site, &ticket.jira_key).await
        ));
        let Some(choice) = rules::choose_transition(&options, to_done) else {
            let from = current.map(|s| s.name).unwrap_or_default();
            let direction = if to_done { "into" } else { "out of" };
            return Err(AttemptError::permanent(format!(
                "{} offers no transition {direction} the done category from {from:?}",
                ticket.jira_key
            )));
        };
        or_unlink!(
            state,
            delivery,
            &ticket,
            token,
            state.jira.transition(&ctx.site, &ticket.jira_key, &choice.id, None).await
        );
        reached = Some(crate::jira::Status {
            name: choice.to_status.clone().unwrap_or_default(),
            status_category: crate::jira::StatusCategory { key: choice.to_category.clone().unwrap_or_default() },
        });
        tracing::info!(jira_key = %ticket.jira_key, transition = %choice.name, to_done, "ticket transitioned");
    }
    let now = Utc::now();
    let state_row = TicketState {
        jira_status: reached.as_ref().map(|s| s.name.clone()),
        jira_status_category: reached.as_ref().map(|s| s.status_category.key.clone()),
        jira_resolution: None,
        closed_at: if to_done { Some(ticket.closed_at.unwrap_or(now)) } else { None },
    };
    let mut conn = state.pool.get().await.map_err(ApiError::from)?;
    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        db::events::set_ticket_state(conn, ticket.id, &state_row).await?;
        db::deliveries::succeed_held(conn, delivery.id, token).await?;
        Ok(())
    })
    .await
    .map_err(AttemptError::stored)?;
    Ok(())
}

/// The Jira form of one of our comments: who said it, then what.
fn comment_body(comment: &db::changes::Comment) -> Doc {
    let author = if comment.author.is_empty() { "Northstar".to_owned() } else { comment.author.clone() };
    let heading = crate::jira::adf::Inline::new().strong(&format!("{author} (via Northstar):"));
    Doc::plain_text(&comment.body).prepend(heading)
}

/// Copies a comment to the ticket once. After an attempt of unknown outcome it first looks
/// for an identical comment by the integration's account and adopts it.
pub(super) async fn add_comment(state: &AppState, delivery: &Delivery, token: Uuid) -> Result<(), AttemptError> {
    let Some((ctx, ticket)) = target(state, delivery).await? else { return done(state, delivery, token).await };
    let Some(comment_id) = delivery.comment_id else { return done(state, delivery, token).await };
    let (comment, copies) = {
        let mut conn = state.pool.get().await.map_err(ApiError::from)?;
        let comment = db::changes::comment_by_id(&mut conn, comment_id).await?;
        (comment, db::changes::jira_copies(&mut conn, &[comment_id]).await?)
    };
    let Some(comment) = comment.filter(|c| c.deleted_at.is_none()) else { return done(state, delivery, token).await };
    if copies.iter().any(|c| c.ticket_id == ticket.id) {
        return done(state, delivery, token).await;
    }
    let body = comment_body(&comment);
    let mut jira_id = None;
    if delivery.outcome_unknown {
        let want = body.to_json();
        let page =
            or_unlink!(state, delivery, &ticket, token, state.jira.list_comments(&ctx.site, &ticket.jira_key, 0).await);
        jira_id = page.comments.into_iter().find(|c| c.body == want).map(|c| c.id);
    }
    let jira_id = match jira_id {
        Some(id) => id,
        None => {
            or_unlink!(
                state,
                delivery,
                &ticket,
                token,
                state.jira.add_comment(&ctx.site, &ticket.jira_key, &body).await
            )
            .id
        }
    };
    // From here Jira holds the comment: a failure to store its id leaves the retry to look for it.
    let mut conn = state.pool.get().await.map_err(|e| AttemptError::after_jira(ApiError::from(e)))?;
    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        // Locked like webhook processing locks it, so a webhook of this very comment either sees
        // the link or still sees this delivery in flight.
        db::events::lock_shared(conn, ticket.event_id).await?;
        let link = JiraComment { comment_id, ticket_id: ticket.id, jira_comment_id: jira_id.clone() };
        db::changes::link_jira_comment(conn, &link).await?;
        // Deleted while its copy was on its way: the deletion could not see this copy.
        if db::changes::comment_by_id(conn, comment_id).await?.is_some_and(|c| c.deleted_at.is_some()) {
            let delete = NewDelivery::new(
                ticket.tenant_id,
                ticket.event_id,
                ticket.configuration_id,
                ticket.generation,
                kind::DELETE_COMMENT,
            )
            .comment(comment_id);
            db::deliveries::enqueue(conn, &[delete]).await?;
        }
        db::deliveries::succeed_held(conn, delivery.id, token).await?;
        Ok(())
    })
    .await
    .map_err(AttemptError::stored)?;
    tracing::info!(jira_key = %ticket.jira_key, jira_comment_id = %jira_id, "comment copied to Jira");
    Ok(())
}

/// Deletes a comment's copy from the ticket (an already deleted one is fine).
pub(super) async fn delete_comment(state: &AppState, delivery: &Delivery, token: Uuid) -> Result<(), AttemptError> {
    let Some((ctx, ticket)) = target(state, delivery).await? else { return done(state, delivery, token).await };
    let Some(comment_id) = delivery.comment_id else { return done(state, delivery, token).await };
    let copies = {
        let mut conn = state.pool.get().await.map_err(ApiError::from)?;
        db::changes::jira_copies(&mut conn, &[comment_id]).await?
    };
    for copy in copies.iter().filter(|c| c.ticket_id == ticket.id) {
        state.jira.delete_comment(&ctx.site, &ticket.jira_key, &copy.jira_comment_id).await?;
    }
    done(state, delivery, token).await
}
