//! The gRPC surface: one module per service, translating between proto and the layers below.
/// Implements a generated service trait: each RPC takes the caller from the auth layer and the
/// request message, runs a service method returning `ApiResult`, and maps errors in one place.
macro_rules! grpc_service {
    ($module:ident::$service:ident for $ty:ty {
        $( $rpc:ident($req:ident) -> $res:ident = |$s:ident, $c:ident, $r:ident| $body:expr; )*
    } $( streaming { $($streaming:tt)* } )?) => {
        #[tonic::async_trait]
        impl crate::proto::$module::$service for $ty {
            $( $($streaming)* )?
            $(
                async fn $rpc(
                    &self,
                    request: tonic::Request<crate::proto::$req>,
                ) -> Result<tonic::Response<crate::proto::$res>, tonic::Status> {
                    let $c = crate::auth::Caller::of(&request)?;
                    let $r = request.into_inner();
                    let $s = self;
                    let result: crate::error::ApiResult<crate::proto::$res> = $body;
                    Ok(tonic::Response::new(result?))
                }
            )*
        }
    };
}
pub(crate) use grpc_service;

mod applications;
mod audit;
pub mod configurations;
pub mod convert;
pub mod credentials;
mod deliveries;
mod events;
mod metrics;
pub mod paging;
mod tenants;
pub mod watch;

use std::sync::Arc;

use tonic::service::Routes;

use crate::{config::Config, crypto::SecretCipher, db::DbPool, jira::JiraClient, proto, routing::RoutingCache};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub pool: DbPool,
    /// The server's configuration.
    pub config: Arc<Config>,
    /// Seals and opens secrets at rest.
    pub cipher: Arc<SecretCipher>,
    /// The one Jira client.
    pub jira: JiraClient,
    /// Each tenant's routing index.
    pub routing: RoutingCache,
    /// Webhook receivers (configuration, tenant, sealed secret), forgotten on any configuration
    /// change.
    pub receivers: Arc<crate::memo::Memo<uuid::Uuid, crate::db::webhooks::Receiver>>,
    /// The per-configuration webhook budget.
    pub webhook_limiter: Arc<crate::webhooks::limit::WebhookLimiter>,
    /// Webhook deliveries stored in groups.
    pub inbox: crate::webhooks::receive::InboxWriter,
    /// Wake-ups announced after commit (hot paths).
    pub wakeups: Arc<crate::notify::Wakeups>,
    /// Group commit of new events.
    pub ingest: crate::ingest::GroupCommit,
    /// Verified API keys (a revocation here forgets them at once).
    pub keys: Arc<crate::auth::cache::KeyCache>,
    /// Base URL Jira reaches the sidecar at (webhook URLs), without a trailing slash.
    pub public_url: Arc<str>,
    /// Cancelled when the server stops: long-lived streams end with it, or graceful shutdown
    /// would wait for them forever.
    pub shutdown: tokio_util::sync::CancellationToken,
}

/// Every service of the contract, ready to be served behind the auth layer.
pub fn routes(state: AppState) -> Routes {
    use proto::*;
    // Bigger requests are refused before they are decoded (OUT_OF_RANGE).
    let max = state.config.grpc_max_message_bytes;
    Routes::new(
        tenant_service_server::TenantServiceServer::new(tenants::Tenants::new(state.clone()))
            .max_decoding_message_size(max),
    )
    .add_service(
        credential_service_server::CredentialServiceServer::new(credentials::Credentials::new(state.clone()))
            .max_decoding_message_size(max),
    )
    .add_service(
        application_service_server::ApplicationServiceServer::new(applications::Applications::new(state.clone()))
            .max_decoding_message_size(max),
    )
    .add_service(
        configuration_service_server::ConfigurationServiceServer::new(configurations::Configurations::new(
            state.clone(),
        ))
        .max_decoding_message_size(max),
    )
    .add_service(
        event_service_server::EventServiceServer::new(events::Events::new(state.clone()))
            .max_decoding_message_size(max),
    )
    .add_service(
        delivery_service_server::DeliveryServiceServer::new(deliveries::Deliveries::new(state.clone()))
            .max_decoding_message_size(max),
    )
    .add_service(
        metrics_service_server::MetricsServiceServer::new(metrics::Metrics::new(state.clone()))
            .max_decoding_message_size(max),
    )
    .add_service(audit_service_server::AuditServiceServer::new(audit::Audit::new(state)).max_decoding_message_size(max))
}

/// Records an administrative change by `caller`, in the change's transaction.
pub(crate) async fn audit(
    conn: &mut diesel_async::AsyncPgConnection,
    caller: &crate::auth::Caller,
    tenant_id: uuid::Uuid,
    action: &str,
    resource: (&str, String),
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> diesel::QueryResult<()> {
    let actor = caller.actor();
    crate::db::audit::record(
        conn,
        crate::db::audit::AuditEntry {
            tenant_id,
            actor_key_id: caller.api_key_id(),
            actor: &actor,
            action,
            resource_type: resource.0,
            resource_id: resource.1,
            before,
            after,
        },
    )
    .await
}
