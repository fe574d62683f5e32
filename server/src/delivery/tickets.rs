//! Ticket creation, exactly once, and the later sweep for a duplicate that Jira's lagging
//! search let through.
use chrono::Utc;
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use uuid::Uuid;

use super::{AttemptError, Context, WorkerConfig, done, load};
use crate::{
    api::AppState,
    db::{
        self,
        changes::{self, NewChange},
        deliveries::{Delivery, NewDelivery, kind},
    },
    domain::{
        model::EventStatus,
        sync::{self as rules, MarkedIssue, TransitionOption},
        ticket,
    },
    error::ApiError,
    jira::{CreatedIssue, JiraError, SearchRequest, Site},
};

fn marker(ctx: &Context, delivery: &Delivery) -> String {
    ticket::marker_label(
        &delivery.tenant_id.to_string(),
        &ctx.event.external_id,
        &ctx.configuration.id.to_string(),
        delivery.generation as u32,
    )
}

async fn find_marked(state: &AppState, site: &Site, marker: &str) -> Result<Vec<MarkedIssue>, JiraError> {
    let page = state
        .jira
        .search_jql(
            site,
            &SearchRequest {
                jql: format!("labels = \"{marker}\" ORDER BY created ASC"),
                fields: vec!["created".into()],
                ..Default::default()
            },
        )
        .await?;
    Ok(page
        .issues
        .into_iter()
        .map(|i| MarkedIssue {
            created: i.fields.get("created").and_then(|v| v.as_str()).and_then(crate::jira::parse_time),
            id: i.id,
            key: i.key,
        })
        .collect())
}

/// Creates the ticket of (event, configuration, generation), or adopts the one an earlier
/// attempt created, and stores it with what it owes next in one transaction.
pub(super) async fn create(
    state: &AppState,
    config: &WorkerConfig,
    delivery: &Delivery,
    token: Uuid,
) -> Result<(), AttemptError> {
    let ctx = load(state, delivery).await?;
    let marker = marker(&ctx, delivery);

    // An earlier attempt may have created the issue: a lost response, a timeout, or a worker that
    // died holding the lease (the claim marks those). Look before creating again.
    let mut found: Option<CreatedIssue> = None;
    if delivery.outcome_unknown {
        let marked = find_marked(state, &ctx.site, &marker).await?;
        if let Some((keep, _)) = rules::split_duplicates(marked) {
            tracing::info!(jira_key = %keep.key, "adopting the issue an earlier attempt created");
            found = Some(CreatedIssue { id: keep.id, key: keep.key, self_url: String::new() });
        }
    }
    let adopted = found.is_some();
    let summary = ticket::summary(ctx.configuration.title_prefix.as_deref(), &ctx.view.title);
    let priority = ticket::priority(&ctx.configuration, &ctx.view).to_owned();
    let created = match found {
        Some(issue) => issue,
        None => {
            let payload = ticket::create_payload(&ctx.configuration, &ctx.view, &marker);
            state.jira.create_issue(&ctx.site, &payload).await?
        }
    };
    let row = db::events::Ticket {
        id: Uuid::now_v7(),
        tenant_id: delivery.tenant_id,
        event_id: delivery.event_id,
        configuration_id: delivery.configuration_id,
        generation: delivery.generation,
        delivery_id: delivery.id,
        jira_issue_id: created.id.clone(),
        jira_url: format!("{}/browse/{}", ctx.site.base_url, created.key),
        jira_key: created.key.clone(),
        trigger: ctx.view.trigger.as_str().to_owned(),
        severity: ctx.view.severity.as_str().to_owned(),
        created_at: Utc::now(),
        closed_at: None,
        jira_status: None,
        jira_status_category: None,
        jira_resolution: None,
        // An adopted issue holds the event as an earlier attempt read it, which may be older than
        // what this attempt read (a resubmission in between found no ticket to update): what it
        // holds is unknown until the update owed below reads it.
        sent_summary: (!adopted).then_some(summary),
        sent_priority: (!adopted).then_some(priority),
        priority_overridden: false,
        jira_updated_at: None,
        unlinked_at: None,
    };
    // A create sent after an attempt of unknown outcome found nothing only because search may
    // lag: look once more later, and close a second issue if there is one.
    let sweep_at = (delivery.outcome_unknown && !adopted)
        .then(|| Utc::now() + chrono::TimeDelta::from_std(config.duplicate_sweep).unwrap_or(chrono::TimeDelta::zero()));
    // From here Jira holds the issue: a failure to store it (the database restarting, say) leaves
    // the retry to find it by its marker rather than create a second one.
    let mut conn = state.pool.get().await.map_err(|e| AttemptError::after_jira(ApiError::from(e)))?;
    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        // Watchers and metrics streams hear of it after the commit (see `notify::Wakeups`).
        db::notify_after_commit(conn).await?;
        store_ticket(conn, &ctx, delivery, &row, adopted, sweep_at).await?;
        db::deliveries::succeed_held(conn, delivery.id, token).await?;
        Ok(())
    })
    .await
    .map_err(AttemptError::stored)?;
    state.wakeups.raise(db::changes::CHANNEL, "");
    state.wakeups.raise(db::metrics::CHANNEL, delivery.tenant_id.to_string());
    metrics::counter!("northstar_tickets_created_total", "trigger" => ctx.view.trigger.as_str()).increment(1);
    tracing::info!(jira_key = %created.key, adopted, "ticket created");
    Ok(())
}

/// Stores a new ticket and owes what the event needs beyond its creation: a status, content or
/// comment that changed while it was being created (for an adopted issue, since the attempt that
/// created it). The event row is locked first, so a concurrent change either committed before
/// (and is seen here) or waits and then sees the ticket and owes the delivery itself.
async fn store_ticket(
    conn: &mut AsyncPgConnection,
    ctx: &Context,
    delivery: &Delivery,
    row: &db::events::Ticket,
    adopted: bool,
    sweep_at: Option<chrono::DateTime<Utc>>,
) -> diesel::result::QueryResult<()> {
    let event = db::events::lock_shared(conn, delivery.event_id).await?;
    let owe = |kind| NewDelivery::new(row.tenant_id, row.event_id, row.configuration_id, row.generation, kind);
    let mut next = Vec::new();
    if EventStatus::parse(&event.status).is_some_and(EventStatus::is_closed) {
        next.push(owe(kind::TRANSITION));
    }
    if adopted || event.updated_at != ctx.event.updated_at {
        next.push(owe(kind::UPDATE_TICKET));
    }
    for comment in db::changes::live_comments(conn, event.id).await? {
        if comment.origin != changes::origin::JIRA {
            next.push(owe(kind::ADD_COMMENT).comment(comment.id));
        }
    }
    if let Some(at) = sweep_at {
        next.push(owe(kind::SWEEP_DUPLICATES).not_before(at));
    }
    db::deliveries::enqueue(conn, &next).await?;
    let change = NewChange::of(&event, changes::kind::TICKET_CREATED, changes::origin::SYSTEM)
        .ticket(row.configuration_id, &row.jira_key)
        .message(format!("Jira ticket {} created", row.jira_key));
    db::changes::record_quietly(conn, &[change]).await?;
    // Last: its metrics trigger updates rollup rows that every ticket of the hour shares, and
    // their locks are held until the commit.
    db::events::insert_ticket(conn, row).await.map(drop)
}

/// Searches the marker again; of several issues keeps the oldest (re-pointing the ticket at it
/// if needed), closes the others as duplicates linked to it, and says so in the feed. Each
/// step checks Jira first, so a repeated sweep does nothing twice.
pub(super) async fn sweep_duplicates(state: &AppState, delivery: &Delivery, token: Uuid) -> Result<(), AttemptError> {
    let ctx = load(state, delivery).await?;
    let marker = marker(&ctx, delivery);
    let Some((keep, duplicates)) = rules::split_duplicates(find_marked(state, &ctx.site, &marker).await?) else {
        return done(state, delivery, token).await;
    };
    for dup in &duplicates {
        close_duplicate(state, &ctx.site, dup, &keep).await?;
    }
    let mut conn = state.pool.get().await.map_err(ApiError::from)?;
    let url = format!("{}/browse/{}", ctx.site.base_url, keep.key);
    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        let event = db::events::lock_shared(conn, delivery.event_id).await?;
        if let Some(ticket) =
            db::events::ticket_for(conn, delivery.event_id, delivery.configuration_id, delivery.generation).await?
            && ticket.jira_issue_id != keep.id
        {
            db::events::relink_ticket(conn, ticket.id, &keep.id, &keep.key, &url).await?;
            // The kept issue holds the event as the attempt that created it read it.
            let update = NewDelivery::new(
                ticket.tenant_id,
                ticket.event_id,
                ticket.configuration_id,
                ticket.generation,
                kind::UPDATE_TICKET,
            );
            db::deliveries::enqueue(conn, &[update]).await?;
        }
        let entries: Vec<NewChange> = duplicates
            .iter()
            .map(|dup| {
                NewChange::of(&event, changes::kind::DUPLICATE_CLOSED, changes::origin::SYSTEM)
                    .ticket(delivery.configuration_id, &dup.key)
                    .message(format!("{} was a duplicate of {} and was closed", dup.key, keep.key))
            })
            .collect();
        db::changes::record(conn, &entries).await?;
        db::deliveries::succeed_held(conn, delivery.id, token).await?;
        Ok(())
    })
    .await
    .map_err(AttemptError::stored)?;
    if !duplicates.is_empty() {
        tracing::warn!(kept = %keep.key, closed = duplicates.len(), "closed duplicate tickets");
    }
    Ok(())
}

async fn close_duplicate(
    state: &AppState,
    site: &Site,
    dup: &MarkedIssue,
    keep: &MarkedIssue,
) -> Result<(), JiraError> {
    let issue = state.jira.get_issue(site, &dup.key, &["status", "issuelinks"]).await?;
    let linked = issue.fields.get("issuelinks").and_then(|v| v.as_array()).is_some_and(|links| {
        links.iter().any(|l| {
            l.pointer("/type/name").and_then(|v| v.as_str()) == Some("Duplicate")
                && [l.pointer("/inwardIssue/key"), l.pointer("/outwardIssue/key")]
                    .iter()
                    .any(|k| k.and_then(|v| v.as_str()) == Some(keep.key.as_str()))
        })
    });
    if !linked {
        state.jira.link_issues(site, "Duplicate", &dup.key, &keep.key).await?;
    }
    if issue.status().is_some_and(|s| s.is_done()) {
        return Ok(());
    }
    let options = transition_options(&state.jira.transitions(site, &dup.key).await?);
    let Some(to_done) = rules::choose_transition(&options, true) else {
        return Err(JiraError::Permanent {
            status: 0,
            message: format!("{} offers no transition into the done category", dup.key),
        });
    };
    // Where the transition's screen has no resolution field Jira refuses one: close plainly then.
    match state.jira.transition(site, &dup.key, &to_done.id, Some("Duplicate")).await {
        Err(JiraError::Invalid { .. }) => state.jira.transition(site, &dup.key, &to_done.id, None).await,
        other => other,
    }
}

/// Jira's transitions as the choosing rule sees them.
pub(super) fn transition_options(transitions: &[crate::jira::Transition]) -> Vec<TransitionOption> {
    transitions
        .iter()
        .map(|t| TransitionOption {
            id: t.id.clone(),
            name: t.name.clone(),
            to_category: t.to.as_ref().map(|s| s.status_category.key.clone()),
            to_status: t.to.as_ref().map(|s| s.name.clone()),
        })
        .collect()
}
