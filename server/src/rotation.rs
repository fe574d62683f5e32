//! Master key rotation, online: a replica started with a new `NORTHSTAR_MASTER_KEY` and the old
//! one in `NORTHSTAR_PREVIOUS_MASTER_KEYS` opens secrets under either, seals new ones under the
//! new key, and re-seals the stored ones here in small batches while serving. Every replica runs
//! it; two replicas re-sealing one row is harmless (the second swap finds the row changed). It
//! keeps looking afterwards, at a slow pace: a replica still on the old key during a rolling
//! deploy may seal a secret under it.
use std::{sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;

use crate::{
    api::{configurations::webhook_context, credentials::token_context},
    crypto::SecretCipher,
    db::{self, DbPool, secrets::Kind},
};

/// Rows read per pass and table.
const BATCH: i64 = 100;

/// How it went.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Re-sealed under the current key.
    pub resealed: usize,
    /// Sealed under a previous key but failing to open (corrupt): left as they are.
    pub unreadable: usize,
}

/// Re-seals one batch of stale secrets.
pub async fn pass(pool: &DbPool, cipher: &SecretCipher) -> Result<Pass, crate::error::ApiError> {
    let previous = cipher.previous_key_ids();
    if previous.is_empty() {
        return Ok(Pass::default());
    }
    let mut conn = pool.get().await?;
    let stale = db::secrets::stale(&mut conn, &previous, BATCH).await?;
    let mut outcome = Pass::default();
    for row in stale {
        let context = match row.kind {
            Kind::CredentialToken => token_context(row.id),
            Kind::WebhookSecret => webhook_context(row.id),
        };
        match cipher.reseal(&row.sealed, &context) {
            Ok(new) => {
                if db::secrets::replace(&mut conn, row.kind, row.id, &row.sealed, &new).await? {
                    outcome.resealed += 1;
                }
            }
            Err(err) => {
                // Only the key id is named: it identifies the key without revealing it.
                tracing::error!(kind = ?row.kind, id = %row.id, error = %err, "a stored secret cannot be re-sealed");
                outcome.unreadable += 1;
            }
        }
    }
    Ok(outcome)
}

/// Runs passes until nothing is left, then checks again every `idle`; nothing at all without
/// previous keys.
pub fn spawn(pool: DbPool, cipher: Arc<SecretCipher>, idle: Duration, shutdown: CancellationToken) {
    if cipher.previous_key_ids().is_empty() {
        return;
    }
    tokio::spawn(async move {
        loop {
            let wait = match pass(&pool, &cipher).await {
                Ok(p) if p.resealed > 0 => {
                    tracing::info!(
                        resealed = p.resealed,
                        key_id = cipher.key_id(),
                        "secrets re-sealed under the current master key"
                    );
                    Duration::ZERO
                }
                Ok(_) => idle,
                Err(err) => {
                    tracing::warn!(error = %err, "master key rotation: will try again");
                    idle.min(Duration::from_secs(5))
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    });
}
