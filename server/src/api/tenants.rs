//! `TenantService`: tenants and their API keys.
use diesel_async::AsyncConnection as _;
use secrecy::ExposeSecret as _;
use uuid::Uuid;

use super::{
    AppState, audit, convert,
    paging::{Cursor, Page},
};
use crate::{
    auth::{Caller, Role, keys},
    db,
    error::{ApiError, ApiResult},
    proto,
};

/// The tenant service over the shared state.
pub struct Tenants {
    state: AppState,
}

impl Tenants {
    /// A service over `state`.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

fn tenant_to_proto(t: db::tenants::Tenant) -> proto::Tenant {
    proto::Tenant { tenant_id: t.id.to_string(), name: t.name, create_time: Some(convert::timestamp(t.created_at)) }
}

fn key_to_proto(k: db::tenants::ApiKey) -> proto::ApiKey {
    let role = Role::parse(&k.role).map(convert::role_to_proto).unwrap_or_default();
    proto::ApiKey {
        api_key_id: k.id.to_string(),
        tenant_id: k.tenant_id.to_string(),
        name: k.name,
        role: role as i32,
        prefix: k.prefix,
        create_time: Some(convert::timestamp(k.created_at)),
        revoke_time: k.revoked_at.map(convert::timestamp),
        last_used_time: k.last_used_at.map(convert::timestamp),
    }
}

/// What the audit trail keeps of a key: never its secret or hash.
fn key_audit(k: &db::tenants::ApiKey) -> serde_json::Value {
    serde_json::json!({
        "api_key_id": k.id, "name": k.name, "role": k.role, "prefix": k.prefix,
        "revoked": k.revoked_at.is_some(),
    })
}

impl Tenants {
    async fn create_tenant(
        &self,
        caller: Caller,
        request: proto::CreateTenantRequest,
    ) -> ApiResult<proto::CreateTenantResponse> {
        let name = convert::label(&request.name, "name", 200)?;
        let mut conn = self.state.pool.get().await?;
        let tenant = conn
            .transaction::<_, ApiError, _>(async |conn| {
                let tenant = db::tenants::insert_tenant(conn, Uuid::now_v7(), &name).await?;
                audit(
                    conn,
                    &caller,
                    tenant.id,
                    "CreateTenant",
                    ("tenant", tenant.id.to_string()),
                    None,
                    Some(serde_json::json!({ "tenant_id": tenant.id, "name": tenant.name })),
                )
                .await?;
                Ok(tenant)
            })
            .await?;
        tracing::info!(tenant_id = %tenant.id, "tenant created");
        Ok(proto::CreateTenantResponse { tenant: Some(tenant_to_proto(tenant)) })
    }

    async fn list_tenants(
        &self,
        caller: Caller,
        request: proto::ListTenantsRequest,
    ) -> ApiResult<proto::ListTenantsResponse> {
        let page = Page::parse(request.page_size, &request.page_token)?;
        let mut conn = self.state.pool.get().await?;
        let mut rows =
            db::tenants::list_tenants(&mut conn, caller.tenant_id(), page.after()?, page.fetch_limit()).await?;
        let next_page_token = page.finish(&mut rows, |t| Cursor::Id(t.id));
        Ok(proto::ListTenantsResponse { tenants: rows.into_iter().map(tenant_to_proto).collect(), next_page_token })
    }

    async fn create_api_key(
        &self,
        caller: Caller,
        request: proto::CreateApiKeyRequest,
    ) -> ApiResult<proto::CreateApiKeyResponse> {
        let tenant_id = caller.tenant_scope(&request.tenant_id, "tenant_id")?;
        let name = convert::label(&request.name, "name", 200)?;
        let role = convert::role_from_proto(request.role, "role")?;
        let new_key = keys::generate();
        let mut conn = self.state.pool.get().await?;
        let key = conn
            .transaction::<_, ApiError, _>(async |conn| {
                db::tenants::find_tenant(conn, tenant_id).await?.ok_or_else(|| ApiError::NotFound("tenant".into()))?;
                let key = db::tenants::insert_key(
                    conn,
                    db::tenants::NewApiKey {
                        id: Uuid::now_v7(),
                        tenant_id,
                        name: &name,
                        role: role.as_str(),
                        prefix: &new_key.prefix,
                        secret_hash: &new_key.hash,
                    },
                )
                .await?;
                audit(
                    conn,
                    &caller,
                    tenant_id,
                    "CreateApiKey",
                    ("api_key", key.id.to_string()),
                    None,
                    Some(key_audit(&key)),
                )
                .await?;
                Ok(key)
            })
            .await?;
        tracing::info!(api_key_id = %key.id, role = key.role, "API key created");
        Ok(proto::CreateApiKeyResponse {
            api_key: new_key.full.expose_secret().to_owned(),
            key: Some(key_to_proto(key)),
        })
    }

    async fn list_api_keys(
        &self,
        caller: Caller,
        request: proto::ListApiKeysRequest,
    ) -> ApiResult<proto::ListApiKeysResponse> {
        let tenant_id = caller.tenant_scope(&request.tenant_id, "tenant_id")?;
        let page = Page::parse(request.page_size, &request.page_token)?;
        let mut conn = self.state.pool.get().await?;
        if caller == Caller::Operator && db::tenants::find_tenant(&mut conn, tenant_id).await?.is_none() {
            return Err(ApiError::NotFound("tenant".into()));
        }
        let mut rows =
            db::tenants::list_keys(&mut conn, tenant_id, request.include_revoked, page.after()?, page.fetch_limit())
                .await?;
        let next_page_token = page.finish(&mut rows, |k| Cursor::Id(k.id));
        Ok(proto::ListApiKeysResponse { api_keys: rows.into_iter().map(key_to_proto).collect(), next_page_token })
    }

    async fn revoke_api_key(
        &self,
        caller: Caller,
        request: proto::RevokeApiKeyRequest,
    ) -> ApiResult<proto::RevokeApiKeyResponse> {
        let tenant_id = caller.tenant_scope(&request.tenant_id, "tenant_id")?;
        let key_id = convert::uuid(&request.api_key_id, "api_key_id")?;
        let mut conn = self.state.pool.get().await?;
        let key = conn
            .transaction::<_, ApiError, _>(async |conn| {
                let before = db::tenants::find_key(conn, tenant_id, key_id)
                    .await?
                    .ok_or_else(|| ApiError::NotFound("API key".into()))?;
                let key = db::tenants::revoke_key(conn, tenant_id, key_id)
                    .await?
                    .ok_or_else(|| ApiError::NotFound("API key".into()))?;
                audit(
                    conn,
                    &caller,
                    tenant_id,
                    "RevokeApiKey",
                    ("api_key", key.id.to_string()),
                    Some(key_audit(&before)),
                    Some(key_audit(&key)),
                )
                .await?;
                Ok(key)
            })
            .await?;
        self.state.keys.clear();
        tracing::info!(api_key_id = %key.id, "API key revoked");
        Ok(proto::RevokeApiKeyResponse { key: Some(key_to_proto(key)) })
    }
}

super::grpc_service! {
    tenant_service_server::TenantService for Tenants {
        create_tenant(CreateTenantRequest) -> CreateTenantResponse = |s, c, r| s.create_tenant(c, r).await;
        list_tenants(ListTenantsRequest) -> ListTenantsResponse = |s, c, r| s.list_tenants(c, r).await;
        create_api_key(CreateApiKeyRequest) -> CreateApiKeyResponse = |s, c, r| s.create_api_key(c, r).await;
        list_api_keys(ListApiKeysRequest) -> ListApiKeysResponse = |s, c, r| s.list_api_keys(c, r).await;
        revoke_api_key(RevokeApiKeyRequest) -> RevokeApiKeyResponse = |s, c, r| s.revoke_api_key(c, r).await;
    }
}
