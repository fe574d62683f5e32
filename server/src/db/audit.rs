//! The audit trail: one row per administrative change, written in the change's transaction.
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::audit_log;

/// One administrative change. `before`/`after` must already have secrets redacted.
pub struct AuditEntry<'a> {
    pub tenant_id: Uuid,
    pub actor_key_id: Option<Uuid>,
    pub actor: &'a str,
    pub action: &'a str,
    pub resource_type: &'a str,
    pub resource_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// Appends an entry.
pub async fn record(conn: &mut AsyncPgConnection, entry: AuditEntry<'_>) -> QueryResult<()> {
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::id.eq(Uuid::now_v7()),
            audit_log::tenant_id.eq(entry.tenant_id),
            audit_log::actor_key_id.eq(entry.actor_key_id),
            audit_log::actor.eq(entry.actor),
            audit_log::action.eq(entry.action),
            audit_log::resource_type.eq(entry.resource_type),
            audit_log::resource_id.eq(entry.resource_id),
            audit_log::before.eq(entry.before),
            audit_log::after.eq(entry.after),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// A recorded change, with the name its key had (when a key made it and still exists).
#[derive(Debug, Queryable)]
pub struct AuditRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub actor_key_id: Option<Uuid>,
    pub actor: String,
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub key_name: Option<String>,
}

/// List filters.
#[derive(Debug, Default)]
pub struct Filter {
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub api_key_id: Option<Uuid>,
    pub action: Option<String>,
    pub start: Option<chrono::DateTime<chrono::Utc>>,
    pub end: Option<chrono::DateTime<chrono::Utc>>,
}

/// A page of a tenant's audit trail, newest first (ids are time-ordered UUIDv7).
pub async fn list(
    conn: &mut AsyncPgConnection,
    tenant: Uuid,
    f: &Filter,
    after: Option<Uuid>,
    limit: i64,
) -> QueryResult<Vec<AuditRow>> {
    use crate::schema::api_keys;
    let mut query = audit_log::table
        .left_join(api_keys::table.on(api_keys::id.nullable().eq(audit_log::actor_key_id)))
        .filter(audit_log::tenant_id.eq(tenant))
        .select((
            audit_log::id,
            audit_log::tenant_id,
            audit_log::actor_key_id,
            audit_log::actor,
            audit_log::action,
            audit_log::resource_type,
            audit_log::resource_id,
            audit_log::before,
            audit_log::after,
            audit_log::created_at,
            api_keys::name.nullable(),
        ))
        .order(audit_log::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(v) = &f.resource_type {
        query = query.filter(audit_log::resource_type.eq(v.clone()));
    }
    if let Some(v) = &f.resource_id {
        query = query.filter(audit_log::resource_id.eq(v.clone()));
    }
    if let Some(v) = f.api_key_id {
        query = query.filter(audit_log::actor_key_id.eq(v));
    }
    if let Some(v) = &f.action {
        query = query.filter(audit_log::action.eq(v.clone()));
    }
    if let Some(v) = f.start {
        query = query.filter(audit_log::created_at.ge(v));
    }
    if let Some(v) = f.end {
        query = query.filter(audit_log::created_at.lt(v));
    }
    if let Some(after) = after {
        query = query.filter(audit_log::id.lt(after));
    }
    query.load(conn).await
}
