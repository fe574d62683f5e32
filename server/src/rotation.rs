//! Master key rotation, online. Secrets are opened under the current key or any previous one
//! (`NORTHSTAR_PREVIOUS_MASTER_KEYS`) and sealed under the current one; with
//! `NORTHSTAR_RESEAL_SECRETS` on, this task also re-seals the stored ones under the current key,
//! in batches, while the server serves. Re-sealing is opt-in because it must wait until every
//! replica can open the new key (see the operator guide's rotation steps): a replica that cannot
//! would refuse every webhook of a re-sealed configuration. Two replicas re-sealing one row is
//! harmless (the second swap finds the row changed). It keeps looking afterwards, at a slow
//! pace: a replica still sealing under the old key during a rolling deploy may add a secret.
use std::{sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;

use crate::{
    api::{configurations::webhook_context, credentials::token_context},
    crypto::SecretCipher,
    db::{self, DbPool, secrets::Kind},
};

/// Rows read per query.
const BATCH: i64 = 100;

/// How it went.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Re-sealed under the current key.
    pub resealed: usize,
    /// Sealed under a previous key but failing to open (corrupt): left as they are.
    pub unreadable: usize,
}

/// Re-seals every secret sealed under a previous key, in batches.
pub async fn pass(pool: &DbPool, cipher: &SecretCipher) -> Result<Pass, crate::error::ApiError> {
    let previous = cipher.previous_key_ids();
    let mut outcome = Pass::default();
    if previous.is_empty() {
        return Ok(outcome);
    }
    let mut conn = pool.get().await?;
    for kind in [Kind::CredentialToken, Kind::WebhookSecret] {
        let mut after = None;
        loop {
            let stale = db::secrets::stale(&mut conn, kind, &previous, after, BATCH).await?;
            let last_batch = (stale.len() as i64) < BATCH;
            for row in stale {
                after = Some(row.id);
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
            if last_batch {
                break;
            }
        }
    }
    Ok(outcome)
}

/// Runs a pass now, then every `idle`.
pub fn spawn(pool: DbPool, cipher: Arc<SecretCipher>, idle: Duration, shutdown: CancellationToken) {
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
