//! The gRPC surface: one module per service, translating between proto and the layers below.
pub mod convert;
mod credentials;
pub mod paging;
mod tenants;

use std::sync::Arc;

use tonic::service::Routes;

use crate::{config::Config, crypto::SecretCipher, db::DbPool, jira::JiraClient, proto};

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
}

/// RPCs of services whose issue has not landed: each answers UNIMPLEMENTED through the
/// generated default stubs, after the auth layer has applied the role table.
struct NotYetImplemented;

#[tonic::async_trait]
impl proto::application_service_server::ApplicationService for NotYetImplemented {}
#[tonic::async_trait]
impl proto::configuration_service_server::ConfigurationService for NotYetImplemented {}
#[tonic::async_trait]
impl proto::event_service_server::EventService for NotYetImplemented {}
#[tonic::async_trait]
impl proto::delivery_service_server::DeliveryService for NotYetImplemented {}
#[tonic::async_trait]
impl proto::metrics_service_server::MetricsService for NotYetImplemented {}
#[tonic::async_trait]
impl proto::audit_service_server::AuditService for NotYetImplemented {}

/// Every service of the contract, ready to be served behind the auth layer.
pub fn routes(state: AppState) -> Routes {
    use proto::*;
    Routes::new(tenant_service_server::TenantServiceServer::new(tenants::Tenants::new(state.clone())))
        .add_service(credential_service_server::CredentialServiceServer::new(credentials::Credentials::new(state)))
        .add_service(application_service_server::ApplicationServiceServer::new(NotYetImplemented))
        .add_service(configuration_service_server::ConfigurationServiceServer::new(NotYetImplemented))
        .add_service(event_service_server::EventServiceServer::new(NotYetImplemented))
        .add_service(delivery_service_server::DeliveryServiceServer::new(NotYetImplemented))
        .add_service(metrics_service_server::MetricsServiceServer::new(NotYetImplemented))
        .add_service(audit_service_server::AuditServiceServer::new(NotYetImplemented))
}
