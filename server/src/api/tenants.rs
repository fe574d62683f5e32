//! `TenantService`: tenants and their API keys.
use diesel_async::AsyncConnection as _;
use secrecy::ExposeSecret as _;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{
    AppState, convert,
    paging::{Cursor, Page},
};
use crate::{
    auth::{Caller, Role, keys},
    db::{self, audit::AuditEntry},
    error::{ApiError, ApiResult},
    proto::{self, tenant_service_server::TenantService},
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
    async fn create_tenant(&self, request: proto::CreateTenantRequest) -> ApiResult<proto::CreateTenantResponse> {
        let name = convert::label(&request.name, "name", 200)?;
        let mut conn = self.state.pool.get().await?;
        let tenant = conn
            .transaction::<_, ApiError, _>(async |conn| {
                let tenant = db::tenants::insert_tenant(conn, Uuid::now_v7(), &name).await?;
                db::audit::record(
                    conn,
                    AuditEntry {
                        tenant_id: tenant.id,
                        actor_key_id: None,
                        actor: "operator",
                        action: "tenant.create",
                        resource_type: "tenant",
                        resource_id: tenant.id.to_string(),
                        before: None,
                        after: Some(serde_json::json!({ "tenant_id": tenant.id, "name": tenant.name })),
                    },
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
        let actor = caller.actor();
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
                db::audit::record(
                    conn,
                    AuditEntry {
                        tenant_id,
                        actor_key_id: caller.api_key_id(),
                        actor: &actor,
                        action: "api_key.create",
                        resource_type: "api_key",
                        resource_id: key.id.to_string(),
                        before: None,
                        after: Some(key_audit(&key)),
                    },
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
        let actor = caller.actor();
        let mut conn = self.state.pool.get().await?;
        let key = conn
            .transaction::<_, ApiError, _>(async |conn| {
                let key = db::tenants::revoke_key(conn, tenant_id, key_id)
                    .await?
                    .ok_or_else(|| ApiError::NotFound("API key".into()))?;
                db::audit::record(
                    conn,
                    AuditEntry {
                        tenant_id,
                        actor_key_id: caller.api_key_id(),
                        actor: &actor,
                        action: "api_key.revoke",
                        resource_type: "api_key",
                        resource_id: key.id.to_string(),
                        before: None,
                        after: Some(key_audit(&key)),
                    },
                )
                .await?;
                Ok(key)
            })
            .await?;
        tracing::info!(api_key_id = %key.id, "API key revoked");
        Ok(proto::RevokeApiKeyResponse { key: Some(key_to_proto(key)) })
    }
}

#[tonic::async_trait]
impl TenantService for Tenants {
    async fn create_tenant(
        &self,
        request: Request<proto::CreateTenantRequest>,
    ) -> Result<Response<proto::CreateTenantResponse>, Status> {
        Caller::of(&request)?;
        Ok(Response::new(Tenants::create_tenant(self, request.into_inner()).await?))
    }

    async fn list_tenants(
        &self,
        request: Request<proto::ListTenantsRequest>,
    ) -> Result<Response<proto::ListTenantsResponse>, Status> {
        let caller = Caller::of(&request)?;
        Ok(Response::new(Tenants::list_tenants(self, caller, request.into_inner()).await?))
    }

    async fn create_api_key(
        &self,
        request: Request<proto::CreateApiKeyRequest>,
    ) -> Result<Response<proto::CreateApiKeyResponse>, Status> {
        let caller = Caller::of(&request)?;
        Ok(Response::new(Tenants::create_api_key(self, caller, request.into_inner()).await?))
    }

    async fn list_api_keys(
        &self,
        request: Request<proto::ListApiKeysRequest>,
    ) -> Result<Response<proto::ListApiKeysResponse>, Status> {
        let caller = Caller::of(&request)?;
        Ok(Response::new(Tenants::list_api_keys(self, caller, request.into_inner()).await?))
    }

    async fn revoke_api_key(
        &self,
        request: Request<proto::RevokeApiKeyRequest>,
    ) -> Result<Response<proto::RevokeApiKeyResponse>, Status> {
        let caller = Caller::of(&request)?;
        Ok(Response::new(Tenants::revoke_api_key(self, caller, request.into_inner()).await?))
    }
}
