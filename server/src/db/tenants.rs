//! Queries on `tenants` and `api_keys`.
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::{api_keys, tenants};

/// A tenant row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tenants)]
pub struct Tenant {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// An API key row. `secret_hash` is a hash of a full-entropy secret, not the secret.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_keys)]
pub struct ApiKey {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub role: String,
    pub prefix: String,
    pub secret_hash: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    /// `last_used_at` is kept to the minute so authentication does not write on every call.
    pub fn last_used_stale(&self) -> bool {
        self.last_used_at.is_none_or(|t| Utc::now() - t > chrono::TimeDelta::minutes(1))
    }
}

/// Inserts a tenant.
pub async fn insert_tenant(conn: &mut AsyncPgConnection, id: Uuid, name: &str) -> QueryResult<Tenant> {
    diesel::insert_into(tenants::table)
        .values((tenants::id.eq(id), tenants::name.eq(name)))
        .returning(Tenant::as_returning())
        .get_result(conn)
        .await
}

/// One tenant.
pub async fn find_tenant(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Tenant>> {
    tenants::table.find(id).select(Tenant::as_select()).first(conn).await.optional()
}

/// A page of tenants in id order (ids are UUIDv7, so creation order), after `after`.
pub async fn list_tenants(
    conn: &mut AsyncPgConnection,
    only: Option<Uuid>,
    after: Option<Uuid>,
    limit: i64,
) -> QueryResult<Vec<Tenant>> {
    let mut query = tenants::table.select(Tenant::as_select()).order(tenants::id).limit(limit).into_boxed();
    if let Some(id) = only {
        query = query.filter(tenants::id.eq(id));
    }
    if let Some(after) = after {
        query = query.filter(tenants::id.gt(after));
    }
    query.load(conn).await
}

/// Fields of a new key.
pub struct NewApiKey<'a> {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: &'a str,
    pub role: &'a str,
    pub prefix: &'a str,
    pub secret_hash: &'a [u8],
}

/// Inserts a key.
pub async fn insert_key(conn: &mut AsyncPgConnection, key: NewApiKey<'_>) -> QueryResult<ApiKey> {
    diesel::insert_into(api_keys::table)
        .values((
            api_keys::id.eq(key.id),
            api_keys::tenant_id.eq(key.tenant_id),
            api_keys::name.eq(key.name),
            api_keys::role.eq(key.role),
            api_keys::prefix.eq(key.prefix),
            api_keys::secret_hash.eq(key.secret_hash),
        ))
        .returning(ApiKey::as_returning())
        .get_result(conn)
        .await
}

/// The key with this lookup prefix, revoked or not.
pub async fn find_key_by_prefix(conn: &mut AsyncPgConnection, prefix: &str) -> QueryResult<Option<ApiKey>> {
    api_keys::table.filter(api_keys::prefix.eq(prefix)).select(ApiKey::as_select()).first(conn).await.optional()
}

/// A key's name, for attributing what it did.
pub async fn key_name(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<String>> {
    api_keys::table.find(id).select(api_keys::name).first(conn).await.optional()
}

/// Records that a key was used now.
pub async fn touch_key(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
    diesel::update(api_keys::table.find(id)).set(api_keys::last_used_at.eq(Utc::now())).execute(conn).await.map(drop)
}

/// A page of a tenant's keys in id order.
pub async fn list_keys(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    include_revoked: bool,
    after: Option<Uuid>,
    limit: i64,
) -> QueryResult<Vec<ApiKey>> {
    let mut query = api_keys::table
        .filter(api_keys::tenant_id.eq(tenant_id))
        .select(ApiKey::as_select())
        .order(api_keys::id)
        .limit(limit)
        .into_boxed();
    if !include_revoked {
        query = query.filter(api_keys::revoked_at.is_null());
    }
    if let Some(after) = after {
        query = query.filter(api_keys::id.gt(after));
    }
    query.load(conn).await
}

/// A key of a tenant, revoked or not.
pub async fn find_key(conn: &mut AsyncPgConnection, tenant_id: Uuid, id: Uuid) -> QueryResult<Option<ApiKey>> {
    api_keys::table
        .filter(api_keys::tenant_id.eq(tenant_id))
        .filter(api_keys::id.eq(id))
        .select(ApiKey::as_select())
        .first(conn)
        .await
        .optional()
}

/// Revokes a key of a tenant (idempotent: a revoked key keeps its first revocation time).
/// `None` when the tenant has no such key.
pub async fn revoke_key(conn: &mut AsyncPgConnection, tenant_id: Uuid, id: Uuid) -> QueryResult<Option<ApiKey>> {
    let scope = api_keys::table.filter(api_keys::tenant_id.eq(tenant_id)).filter(api_keys::id.eq(id));
    diesel::update(scope.filter(api_keys::revoked_at.is_null()))
        .set(api_keys::revoked_at.eq(Utc::now()))
        .execute(conn)
        .await?;
    scope.select(ApiKey::as_select()).first(conn).await.optional()
}
