//! Sealed secrets across tables (credential tokens, webhook secrets), for master key rotation:
//! find those sealed under another key, and swap one for its re-sealed form only if it is
//! still the one that was read, so a concurrent update by a caller always wins.
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::{
    crypto::Sealed,
    schema::{configurations, credentials},
};

/// Which table and column a sealed secret lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `credentials.token_*`.
    CredentialToken,
    /// `configurations.webhook_secret_*`.
    WebhookSecret,
}

/// A secret sealed under a key other than the current one.
#[derive(Debug)]
pub struct Stale {
    pub kind: Kind,
    pub id: Uuid,
    pub sealed: Sealed,
}

/// A configuration's id and its nullable secret columns.
type SecretRow = (Uuid, Option<Vec<u8>>, Option<Vec<u8>>, Option<String>);

/// Up to `limit` secrets of `kind` sealed under one of `key_ids` (the previous keys: those under
/// a key nobody has could never be re-sealed), in id order after `after`, so a pass moves past
/// rows it could not re-seal instead of reading them again.
pub async fn stale(
    conn: &mut AsyncPgConnection,
    kind: Kind,
    key_ids: &[String],
    after: Option<Uuid>,
    limit: i64,
) -> QueryResult<Vec<Stale>> {
    let after = after.unwrap_or(Uuid::nil());
    match kind {
        Kind::CredentialToken => {
            let rows: Vec<(Uuid, Vec<u8>, Vec<u8>, String)> = credentials::table
                .filter(credentials::token_key_id.eq_any(key_ids))
                .filter(credentials::id.gt(after))
                .select((
                    credentials::id,
                    credentials::token_ciphertext,
                    credentials::token_nonce,
                    credentials::token_key_id,
                ))
                .order(credentials::id)
                .limit(limit)
                .load(conn)
                .await?;
            Ok(rows
                .into_iter()
                .map(|(id, ciphertext, nonce, key_id)| Stale { kind, id, sealed: Sealed { ciphertext, nonce, key_id } })
                .collect())
        }
        Kind::WebhookSecret => {
            let rows: Vec<SecretRow> = configurations::table
                .filter(configurations::webhook_secret_key_id.eq_any(key_ids))
                .filter(configurations::id.gt(after))
                .select((
                    configurations::id,
                    configurations::webhook_secret_ciphertext,
                    configurations::webhook_secret_nonce,
                    configurations::webhook_secret_key_id,
                ))
                .order(configurations::id)
                .limit(limit)
                .load(conn)
                .await?;
            Ok(rows
                .into_iter()
                .filter_map(|(id, ciphertext, nonce, key_id)| {
                    Some(Stale { kind, id, sealed: Sealed { ciphertext: ciphertext?, nonce: nonce?, key_id: key_id? } })
                })
                .collect())
        }
    }
}

/// Replaces `old` with `new` where `old` is still stored; whether it was.
pub async fn replace(
    conn: &mut AsyncPgConnection,
    kind: Kind,
    id: Uuid,
    old: &Sealed,
    new: &Sealed,
) -> QueryResult<bool> {
    let updated = match kind {
        Kind::CredentialToken => {
            diesel::update(
                credentials::table
                    .find(id)
                    .filter(credentials::token_key_id.eq(&old.key_id))
                    .filter(credentials::token_nonce.eq(&old.nonce)),
            )
            .set((
                credentials::token_ciphertext.eq(&new.ciphertext),
                credentials::token_nonce.eq(&new.nonce),
                credentials::token_key_id.eq(&new.key_id),
            ))
            .execute(conn)
            .await?
        }
        Kind::WebhookSecret => {
            diesel::update(
                configurations::table
                    .find(id)
                    .filter(configurations::webhook_secret_key_id.eq(&old.key_id))
                    .filter(configurations::webhook_secret_nonce.eq(&old.nonce)),
            )
            .set((
                configurations::webhook_secret_ciphertext.eq(&new.ciphertext),
                configurations::webhook_secret_nonce.eq(&new.nonce),
                configurations::webhook_secret_key_id.eq(&new.key_id),
            ))
            .execute(conn)
            .await?
        }
    };
    Ok(updated == 1)
}
