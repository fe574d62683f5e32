//! Reconciliation: what no webhook brought. Every `interval`, for each bidirectional
//! configuration (one replica at a time, under a lease), asks Jira for the tickets updated since
//! the last sweep and applies their status and comments through the same rules as webhooks.
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use diesel_async::AsyncConnection as _;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::apply::{self, IssueNews};
use crate::{
    api::{AppState, credentials::site_of},
    db,
    domain::{
        configuration::Configuration,
        webhook::{Actor, Change, CommentRef},
    },
    error::ApiError,
    jira::{self, Issue, SearchRequest, Site},
};

/// Jira's clock and ours differ, and JQL compares minutes: each sweep looks this far before
/// the previous one ended. Applying a change twice is harmless.
const OVERLAP: TimeDelta = TimeDelta::minutes(2);
/// Most issues one sweep reads per configuration; the rest wait for the next sweep.
const MAX_ISSUES: usize = 1000;

/// Starts the periodic sweep; it stops at `shutdown`.
pub fn spawn(state: AppState, interval: Duration, shutdown: CancellationToken) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
            if let Err(err) = sweep_all(&state, interval).await {
                tracing::warn!(error = %err, "reconciliation");
            }
        }
    });
}

async fn sweep_all(state: &AppState, interval: Duration) -> Result<(), ApiError> {
    let targets = {
        let mut conn = state.pool.get().await?;
        db::configurations::bidirectional(&mut conn).await?
    };
    for (tenant, configuration) in targets {
        let span = tracing::info_span!("reconcile", %configuration);
        let _ = span.enter();
        if let Err(err) = sweep(state, tenant, configuration, interval).await {
            tracing::warn!(%configuration, error = %err, "reconciliation of a configuration failed; next sweep retries");
        }
    }
    Ok(())
}

/// Sweeps one configuration if no other replica is doing it.
pub async fn sweep(state: &AppState, tenant: Uuid, configuration: Uuid, interval: Duration) -> Result<usize, ApiError> {
    let started = Utc::now();
    let since = {
        let mut conn = state.pool.get().await?;
        let lease = interval.max(Duration::from_secs(60)) * 2;
        db::webhooks::take_reconcile(&mut conn, configuration, lease, TimeDelta::hours(1)).await?
    };
    let Some(since) = since else { return Ok(0) };
    let routing = state.routing.tenant(tenant).await?;
    let Some(config) = routing.configurations.get(&configuration).cloned() else { return Ok(0) };
    let credential = {
        let mut conn = state.pool.get().await?;
        db::credentials::find(&mut conn, tenant, config.credential_id).await?
    };
    let Some(credential) = credential else { return Ok(0) };
    let site = site_of(state, &credential)?;
    let issues = updated_issues(state, &site, &config, since - OVERLAP).await.map_err(jira_unavailable)?;
    let mut applied = 0;
    for issue in &issues {
        let (changes, present) = news_of(state, &site, issue).await.map_err(jira_unavailable)?;
        let at = issue.fields.get("updated").and_then(|v| v.as_str()).and_then(jira::parse_time).unwrap_or(started);
        // Only stored tickets are applied here: an issue whose ticket is still being stored is
        // read again by the next sweep, which overlaps this one.
        let news = IssueNews {
            issue_id: &issue.id,
            actor: None,
            at,
            changes: &changes,
            comments_present: Some(&present),
            labels: None,
        };
        let mut conn = state.pool.get().await?;
        let outcome = conn
            .transaction::<_, ApiError, _>(async |conn| Ok(apply::apply(conn, &routing, &config, &news).await?))
            .await?;
        if outcome == apply::Applied::Done {
            applied += 1;
        }
    }
    let mut conn = state.pool.get().await?;
    db::webhooks::swept(&mut conn, configuration, started).await?;
    tracing::info!(issues = issues.len(), applied, "reconciled");
    Ok(applied)
}

fn jira_unavailable(err: jira::JiraError) -> ApiError {
    ApiError::Unavailable(format!("Jira: {err}"))
}

/// The configuration's tickets Jira changed since `since` (found by the trigger label every
/// ticket carries, within the project).
async fn updated_issues(
    state: &AppState,
    site: &Site,
    config: &Configuration,
    since: DateTime<Utc>,
) -> Result<Vec<Issue>, jira::JiraError> {
    let jql = format!(
        "project = \"{}\" AND labels = \"northstar-{}\" AND updated >= \"{}\" ORDER BY updated ASC",
        config.jira_project_key,
        config.trigger.as_str(),
        since.format("%Y-%m-%d %H:%M")
    );
    let mut request = SearchRequest {
        jql,
        fields: vec!["status".into(), "resolution".into(), "updated".into()],
        max_results: Some(100),
        ..Default::default()
    };
    let mut issues = Vec::new();
    loop {
        let page = state.jira.search_jql(site, &request).await?;
        issues.extend(page.issues);
        match page.next_page_token {
            Some(token) if issues.len() < MAX_ISSUES => request.next_page_token = Some(token),
            _ => return Ok(issues),
        }
    }
}

/// What Jira holds of an issue, as the changes a webhook would have brought: its status, and
/// every comment (known ones are recognised and skipped when applied). Comments we know of that
/// Jira no longer has are deleted ones.
async fn news_of(state: &AppState, site: &Site, issue: &Issue) -> Result<(Vec<Change>, Vec<String>), jira::JiraError> {
    let mut changes = Vec::new();
    if let Some(status) = issue.status() {
        changes.push(Change::StatusChanged {
            status: status.name.clone(),
            category: Some(status.status_category.key.clone()),
            resolution: issue.fields.pointer("/resolution/name").and_then(|v| v.as_str()).map(str::to_owned),
        });
    }
    let mut start = 0;
    let mut seen = Vec::new();
    loop {
        let page = state.jira.list_comments(site, &issue.key, start).await?;
        let n = page.comments.len() as u64;
        for c in page.comments {
            seen.push(c.id.clone());
            let actor = |u: &Option<jira::User>| {
                u.as_ref().map(|u| Actor {
                    account_id: Some(u.account_id.clone()),
                    display_name: Some(u.display_name.clone()),
                    ..Default::default()
                })
            };
            changes.push(Change::CommentUpdated(CommentRef {
                id: c.id.clone(),
                body: jira::adf::to_plain_text(&c.body),
                raw_body: c.body.clone(),
                author: actor(&c.author),
                update_author: actor(&c.author),
                created: jira::parse_time(&c.created),
                updated: jira::parse_time(&c.updated),
            }));
        }
        start += n;
        if n == 0 || start >= page.total {
            break;
        }
    }
    Ok((changes, seen))
}
