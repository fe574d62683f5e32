//! Rust client for northstar-jira.
//!
//! [`proto`] holds every message and a client stub per service, generated from the same
//! `proto/` the server compiles. [`Client`] connects once and hands out stubs that send the
//! API key with every call:
//!
//! ```no_run
//! # async fn demo() -> Result<(), northstar_jira_client::Error> {
//! use northstar_jira_client::{Client, proto};
//! let client = Client::connect("http://127.0.0.1:50051", "nsj_...").await?;
//! let tenants = client.tenants().list_tenants(proto::ListTenantsRequest::default()).await?;
//! # Ok(()) }
//! ```
use std::time::Duration;

use tonic::{
    metadata::{Ascii, MetadataValue},
    service::interceptor::InterceptedService,
    transport::{Channel, Endpoint},
};

/// Generated messages, enums and client stubs of `northstar.jira.v1`.
#[allow(missing_docs, clippy::all)]
pub mod proto {
    tonic::include_proto!("northstar.jira.v1");
}
mod redact;

/// Errors of connecting; call errors are `tonic::Status`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The address is not a valid URL.
    #[error("invalid server address: {0}")]
    InvalidAddress(String),
    /// The API key cannot be sent as a header.
    #[error("the API key contains characters that cannot be sent in a header")]
    InvalidApiKey,
    /// The connection failed.
    #[error("connecting: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// A call failed.
    #[error("{}: {}", .0.code(), .0.message())]
    Status(#[from] tonic::Status),
}

/// Adds `authorization: Bearer <api key>` to every request.
#[derive(Clone)]
pub struct ApiKeyInterceptor {
    header: Option<MetadataValue<Ascii>>,
}

impl std::fmt::Debug for ApiKeyInterceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKeyInterceptor([REDACTED])")
    }
}

impl tonic::service::Interceptor for ApiKeyInterceptor {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(header) = &self.header {
            request.metadata_mut().insert("authorization", header.clone());
        }
        Ok(request)
    }
}

/// The channel type of every stub [`Client`] hands out.
pub type AuthedChannel = InterceptedService<Channel, ApiKeyInterceptor>;

/// A connection to the server with an API key; cheap to clone, one HTTP/2 connection shared.
#[derive(Clone, Debug)]
pub struct Client {
    channel: Channel,
    interceptor: ApiKeyInterceptor,
}

impl Client {
    /// Connects to `address` (`http://host:port`, or `https://` for TLS) and authenticates every
    /// call with `api_key` (a tenant API key or the operator's bootstrap token).
    pub async fn connect(address: impl Into<String>, api_key: &str) -> Result<Self, Error> {
        let channel = Self::endpoint(address)?.connect().await?;
        Self::from_channel(channel, Some(api_key))
    }

    /// Connects without credentials (for health checks, or to see UNAUTHENTICATED).
    pub async fn connect_anonymous(address: impl Into<String>) -> Result<Self, Error> {
        let channel = Self::endpoint(address)?.connect().await?;
        Self::from_channel(channel, None)
    }

    fn endpoint(address: impl Into<String>) -> Result<Endpoint, Error> {
        let address = address.into();
        Ok(Endpoint::from_shared(address.clone())
            .map_err(|_| Error::InvalidAddress(address))?
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true))
    }

    /// Wraps an existing channel.
    pub fn from_channel(channel: Channel, api_key: Option<&str>) -> Result<Self, Error> {
        let header =
            api_key.map(|key| format!("Bearer {key}").parse().map_err(|_| Error::InvalidApiKey)).transpose()?;
        Ok(Self { channel, interceptor: ApiKeyInterceptor { header } })
    }

    /// The same connection with another API key.
    pub fn with_api_key(&self, api_key: &str) -> Result<Self, Error> {
        Self::from_channel(self.channel.clone(), Some(api_key))
    }

    /// The underlying channel, for the health and reflection clients.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    fn authed(&self) -> AuthedChannel {
        InterceptedService::new(self.channel.clone(), self.interceptor.clone())
    }
}

macro_rules! stubs {
    ($($(#[$doc:meta])* $name:ident => $module:ident :: $client:ident;)*) => {
        impl Client {
            $(
                $(#[$doc])*
                pub fn $name(&self) -> proto::$module::$client<AuthedChannel> {
                    proto::$module::$client::new(self.authed())
                }
            )*
        }
    };
}

stubs! {
    /// Tenants and API keys.
    tenants => tenant_service_client::TenantServiceClient;
    /// Jira credentials and connection tests.
    credentials => credential_service_client::CredentialServiceClient;
    /// Applications and resource groups.
    applications => application_service_client::ApplicationServiceClient;
    /// Routing configurations.
    configurations => configuration_service_client::ConfigurationServiceClient;
    /// Event submission, comments, status and the change feed.
    events => event_service_client::EventServiceClient;
    /// Deliveries to Jira.
    deliveries => delivery_service_client::DeliveryServiceClient;
    /// Ticket volume and MTTR.
    metrics => metrics_service_client::MetricsServiceClient;
    /// The audit trail.
    audit => audit_service_client::AuditServiceClient;
}
