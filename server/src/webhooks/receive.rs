//! `POST /webhooks/jira/{configuration_id}`: verify before parsing, store raw, answer 204; over
//! the configuration's rate limit, 429 with Retry-After (Jira retries it).
//!
//! Any verification failure (unknown configuration, not bidirectional, no secret, bad or missing
//! signature) is the same 401 with nothing stored, so the endpoint tells a prober nothing about
//! which configurations exist. The query string may carry the secret: it is never logged.
use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use secrecy::ExposeSecret as _;
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use std::sync::Arc;

use crate::{
    api::AppState,
    db,
    domain::webhook,
    error::ApiError,
    group::{Batcher, GroupConfig},
    notify::Wakeups,
};

/// Largest body accepted; Jira's issue payloads with every custom field stay far below.
pub const MAX_BODY: usize = 1024 * 1024;

/// The `?secret=` of sites that cannot sign.
#[derive(serde::Deserialize)]
pub struct SecretQuery {
    secret: Option<String>,
}

fn refuse(status: StatusCode, outcome: &'static str) -> Response {
    metrics::counter!("northstar_webhooks_total", "event" => "", "outcome" => outcome).increment(1);
    status.into_response()
}

/// The handler.
pub async fn handle(
    State(state): State<AppState>,
    Path(configuration): Path<String>,
    Query(query): Query<SecretQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(configuration) = Uuid::parse_str(&configuration) else {
        return refuse(StatusCode::UNAUTHORIZED, "unauthorized");
    };
    let receiver = state
        .receivers
        .get_or_load(configuration, || async {
            let mut conn = state.pool.get().await?;
            Ok::<_, ApiError>(db::webhooks::receiver(&mut conn, configuration).await?)
        })
        .await;
    let receiver = match receiver {
        Ok(r) => r,
        // Jira retries a 5xx: the delivery is not lost while the database is away.
        Err(err) => {
            tracing::warn!(error = %err, "webhook: database unavailable");
            return refuse(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
        }
    };
    let Some((tenant_id, sealed)) = receiver.and_then(|r| Some((r.tenant_id, r.secret.filter(|_| r.bidirectional)?)))
    else {
        return refuse(StatusCode::UNAUTHORIZED, "unauthorized");
    };
    let Ok(secret) = state.cipher.open(&sealed, &crate::api::configurations::webhook_context(configuration)) else {
        tracing::error!(%configuration, "webhook secret cannot be opened with the current master key");
        return refuse(StatusCode::UNAUTHORIZED, "unauthorized");
    };
    let signature = headers.get("x-hub-signature").and_then(|v| v.to_str().ok());
    if !webhook::verify(secret.expose_secret().as_bytes(), &body, signature, query.secret.as_deref()) {
        return refuse(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    // After the signature: forged requests must not spend the budget of Jira's real deliveries.
    if let Err(wait) = state.webhook_limiter.check(configuration) {
        metrics::counter!("northstar_webhooks_total", "event" => "", "outcome" => "rate_limited").increment(1);
        let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
        return (StatusCode::TOO_MANY_REQUESTS, [(http::header::RETRY_AFTER, seconds.to_string())]).into_response();
    }
    let parsed = match webhook::parse(&body) {
        Ok(parsed) => parsed,
        Err(err) => {
            tracing::info!(%configuration, error = %err, "webhook: malformed body refused");
            return refuse(StatusCode::BAD_REQUEST, "malformed");
        }
    };
    // Jira keeps the identifier across its retries; a sender without one is deduplicated by content.
    let identifier = headers
        .get("x-atlassian-webhook-identifier")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 200)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("sha256:{}", hex::encode(Sha256::digest(&body))));
    let event = parsed.event.as_str().to_owned();
    let item = InboxItem {
        id: Uuid::now_v7(),
        tenant_id,
        configuration_id: configuration,
        identifier: identifier.clone(),
        webhook_event: event.clone(),
        body,
    };
    match state.inbox.store(item).await {
        Ok(new) => {
            let outcome = if new { "accepted" } else { "duplicate" };
            metrics::counter!("northstar_webhooks_total", "event" => event.clone(), "outcome" => outcome).increment(1);
            tracing::debug!(%configuration, event, identifier, outcome, "webhook stored");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(err) => {
            tracing::warn!(error = %err, "webhook: storing failed");
            refuse(StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        }
    }
}

/// A verified delivery on its way to the inbox.
pub struct InboxItem {
    id: Uuid,
    tenant_id: Uuid,
    configuration_id: Uuid,
    identifier: String,
    webhook_event: String,
    body: Bytes,
}

impl InboxItem {
    fn row(&self) -> db::webhooks::NewDelivery<'_> {
        db::webhooks::NewDelivery {
            id: self.id,
            tenant_id: self.tenant_id,
            configuration_id: self.configuration_id,
            identifier: &self.identifier,
            webhook_event: &self.webhook_event,
            body: &self.body,
        }
    }
}

/// Stores verified deliveries in groups (one statement each), answering each only after the
/// commit that holds it, then wakes the inbox processors.
#[derive(Clone)]
pub struct InboxWriter {
    batcher: Batcher<InboxItem, Result<bool, ApiError>>,
}

impl InboxWriter {
    /// Starts the group task.
    pub fn spawn(pool: db::DbPool, wakeups: Arc<Wakeups>, config: GroupConfig) -> Self {
        let batcher = Batcher::spawn(config, "webhooks", move |items: Vec<InboxItem>| {
            let (pool, wakeups) = (pool.clone(), wakeups.clone());
            async move {
                let results = store_group(&pool, &items).await;
                if results.iter().any(|r| matches!(r, Ok(true))) {
                    wakeups.raise(db::webhooks::CHANNEL, "");
                }
                results
            }
        });
        Self { batcher }
    }

    /// Stores one delivery; whether it was new (a duplicate is `false`).
    pub async fn store(&self, item: InboxItem) -> Result<bool, ApiError> {
        match self.batcher.submit(item).await {
            Ok(result) => result,
            Err(_) => Err(ApiError::Unavailable("the server is stopping".into())),
        }
    }
}

async fn store_group(pool: &db::DbPool, items: &[InboxItem]) -> Vec<Result<bool, ApiError>> {
    use diesel::result::{DatabaseErrorKind, Error};
    let rows: Vec<_> = items.iter().map(InboxItem::row).collect();
    let mut conn = match pool.get().await {
        Ok(conn) => conn,
        // The database is away: every caller answers 503 at once, and Jira retries.
        Err(err) => {
            let err = ApiError::from(err);
            return items.iter().map(|_| Err(ApiError::Unavailable(err.to_string()))).collect();
        }
    };
    match db::webhooks::store_many(&mut conn, &rows).await {
        Ok(new) => {
            let new: std::collections::HashSet<Uuid> = new.into_iter().collect();
            items.iter().map(|i| Ok(new.contains(&i.id))).collect()
        }
        // One bad row (its configuration deleted meanwhile) must not refuse the others: each is
        // stored alone, on the same connection.
        Err(Error::DatabaseError(
            DatabaseErrorKind::ForeignKeyViolation
            | DatabaseErrorKind::CheckViolation
            | DatabaseErrorKind::NotNullViolation,
            _,
        )) => {
            let mut results = Vec::with_capacity(rows.len());
            for row in &rows {
                results.push(db::webhooks::store(&mut conn, row).await.map_err(ApiError::from));
            }
            results
        }
        Err(err) => {
            let err = ApiError::from(err);
            items.iter().map(|_| Err(ApiError::Unavailable(err.to_string()))).collect()
        }
    }
}
