//! Rust client for northstar-jira.
//!
//! - [`proto`] holds every message and enum, and a client stub per service, generated from the
//!   same `proto/` the server compiles; the stubs are also re-exported at the crate root
//!   ([`EventServiceClient`], ...).
//! - [`Client`] connects once (TLS when the address is `https://`, a 5 s connect timeout and a
//!   30 s per-call timeout by default, see [`ClientBuilder`]) and hands out stubs that send the
//!   API key with every call.
//! - Connecting fails with a [`ClientError`]; each call answers a [`tonic::Status`].
//! - Constructors and `with_*` builder methods on the common messages
//!   ([`proto::SubmitEventRequest::incident`], [`proto::GetEventRequest::for_external_id`],
//!   ...) and conversions between protobuf and std time ([`time`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), northstar_jira_client::ClientError> {
//! use northstar_jira_client::{Client, proto};
//! let client = Client::connect("http://127.0.0.1:50051", "nsj_...").await?;
//! let event = proto::SubmitEventRequest::vulnerability("vuln-42", "web", "SQL injection", proto::Severity::High)
//!     .with_vulnerability_type("SQL Injection")
//!     .with_risk_score(8.1);
//! let stored = client.events().submit_event(event).await?.into_inner();
//! println!("stored event {}", stored.event.unwrap_or_default().event_id);
//! # Ok(()) }
//! ```
//!
//! The crate's `examples/` show a service author's three usual tasks (`submit_event`,
//! `watch_changes`, `print_metrics`) and a walk-through of the whole service (`demo`).
#![deny(missing_docs)]

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
mod messages;
mod redact;
pub mod time;

/// The protobuf well-known types ([`prost_types::Timestamp`], [`prost_types::Duration`], ...)
/// the messages use.
pub use prost_types;
/// The tonic this crate is built with, for [`tonic::Status`], [`tonic::Code`],
/// [`tonic::Streaming`] and TLS settings of matching versions.
pub use tonic;

/// How long [`Client::connect`] waits for a connection unless told otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a call may take until its response arrives unless told otherwise. A server
/// stream (`WatchEventChanges`, `StreamMetrics`) is bounded only until it starts: its messages
/// may keep coming for as long as it stays open.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Errors of configuring a [`Client`] or connecting it. A call's own error is the
/// [`tonic::Status`] it answers; [`ClientError::Status`] only lets `?` mix both.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The address is not an absolute `http://` or `https://` URL.
    #[error("invalid server address {address:?}: {reason}")]
    InvalidAddress {
        /// The address as given.
        address: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The address is `https://` but the crate was built without its `tls` feature.
    #[error("{address} needs TLS, but northstar-jira-client was built without its `tls` feature")]
    TlsNotEnabled {
        /// The address as given.
        address: String,
    },
    /// The TLS settings could not be applied (for example no trusted root certificate found).
    #[error("TLS settings: {0}")]
    Tls(#[source] tonic::transport::Error),
    /// The API key cannot be sent as a header (it holds characters outside visible ASCII).
    #[error("the API key contains characters that cannot be sent in a header")]
    InvalidApiKey,
    /// The server could not be reached within the connect timeout, or the connection (or the
    /// TLS handshake) failed.
    #[error("cannot connect to {address}: {detail}")]
    Connect {
        /// The address connected to.
        address: String,
        /// The innermost cause, in words (for example `Connection refused (os error 111)`).
        detail: String,
        /// The transport error.
        #[source]
        source: tonic::transport::Error,
    },
    /// A call failed (only produced by `?` on a call's result).
    #[error("{}: {}", .0.code(), .0.message())]
    Status(#[from] tonic::Status),
}

/// The name this crate's error had before [`ClientError`]; the same type.
pub type Error = ClientError;

/// Adds `authorization: Bearer <api key>` to every request.
#[derive(Clone)]
pub struct ApiKeyInterceptor {
    header: Option<MetadataValue<Ascii>>,
}

impl ApiKeyInterceptor {
    /// An interceptor sending `api_key` (None: sending nothing).
    pub fn new(api_key: Option<&str>) -> Result<Self, ClientError> {
        let header =
            api_key.map(|key| format!("Bearer {key}").parse().map_err(|_| ClientError::InvalidApiKey)).transpose()?;
        Ok(Self { header })
    }
}

impl std::fmt::Debug for ApiKeyInterceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.header.is_some() { "ApiKeyInterceptor([REDACTED])" } else { "ApiKeyInterceptor(None)" })
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

/// Settings of a [`Client`]: the address, the API key, timeouts and TLS. Start with
/// [`Client::builder`].
///
/// ```no_run
/// # async fn demo() -> Result<(), northstar_jira_client::ClientError> {
/// use std::time::Duration;
/// let client = northstar_jira_client::Client::builder("https://northstar-jira.internal:443")
///     .api_key("nsj_...")
///     .connect_timeout(Duration::from_secs(2))
///     .request_timeout(Duration::from_secs(10))
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientBuilder {
    address: String,
    api_key: Option<String>,
    connect_timeout: Duration,
    request_timeout: Option<Duration>,
    #[cfg(feature = "tls")]
    tls: Option<tonic::transport::ClientTlsConfig>,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("address", &self.address)
            .field("api_key", &self.api_key.as_ref().map(|_| "[REDACTED]"))
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// Settings for `address` (`http://host:port`, or `https://host:port` for TLS), with the
    /// default timeouts and no API key.
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            api_key: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: Some(DEFAULT_REQUEST_TIMEOUT),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Authenticates every call with `api_key`: a tenant API key (`nsj_...`) or the operator's
    /// bootstrap token.
    pub fn api_key(mut self, api_key: impl Into<String>) -> Self {
        self.api_key = Some(api_key.into());
        self
    }

    /// How long connecting (TCP, and TLS for `https://`) may take; default
    /// [`DEFAULT_CONNECT_TIMEOUT`]. The same bound applies when the channel reconnects.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long each call may take until its response arrives; default
    /// [`DEFAULT_REQUEST_TIMEOUT`]. A call that runs out fails with a [`tonic::Status`]
    /// (`CANCELLED`, "Timeout expired"). Server streams are bounded only until they start.
    /// A shorter deadline for one call: [`tonic::Request::set_timeout`].
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// No per-call timeout, for example for long `SubmitEvents` bulk loads.
    pub fn no_request_timeout(mut self) -> Self {
        self.request_timeout = None;
        self
    }

    /// TLS settings for an `https://` address, replacing the default (the platform's trusted
    /// roots, the address's host name). For a private CA:
    /// `ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem))`; for mutual TLS add
    /// `.identity(...)`. Refused for an `http://` address.
    #[cfg(feature = "tls")]
    pub fn tls_config(mut self, tls: tonic::transport::ClientTlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The tonic endpoint these settings describe, for uses the builder does not cover.
    pub fn endpoint(&self) -> Result<Endpoint, ClientError> {
        let address = &self.address;
        let invalid = |reason: &str| ClientError::InvalidAddress { address: address.clone(), reason: reason.into() };
        let endpoint = Endpoint::from_shared(address.clone()).map_err(|_| invalid("not a URL"))?;
        let uri = endpoint.uri();
        if uri.host().is_none_or(str::is_empty) {
            return Err(invalid("expected http://host:port or https://host:port"));
        }
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(invalid("expected http://host:port or https://host:port")),
        };
        let mut endpoint = endpoint
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(20))
            .keep_alive_while_idle(true)
            .user_agent(concat!("northstar-jira-client/", env!("CARGO_PKG_VERSION")))
            .map_err(|_| invalid("user agent"))?;
        if let Some(timeout) = self.request_timeout {
            endpoint = endpoint.timeout(timeout);
        }
        #[cfg(feature = "tls")]
        {
            use tonic::transport::ClientTlsConfig;
            match (tls, &self.tls) {
                (true, given) => {
                    let config = given.clone().unwrap_or_else(|| ClientTlsConfig::new().with_native_roots());
                    endpoint = endpoint.tls_config(config.timeout(self.connect_timeout)).map_err(ClientError::Tls)?;
                }
                (false, Some(_)) => return Err(invalid("TLS settings were given for an http:// address")),
                (false, None) => {}
            }
        }
        #[cfg(not(feature = "tls"))]
        if tls {
            return Err(ClientError::TlsNotEnabled { address: address.clone() });
        }
        Ok(endpoint)
    }

    /// Connects now: fails at once when the server cannot be reached.
    pub async fn connect(self) -> Result<Client, ClientError> {
        let interceptor = ApiKeyInterceptor::new(self.api_key.as_deref())?;
        let channel = self.endpoint()?.connect().await.map_err(|source| ClientError::Connect {
            address: self.address.clone(),
            detail: innermost(&source),
            source,
        })?;
        Ok(Client { channel, interceptor })
    }

    /// Connects on the first call instead (and reconnects as needed): a server that is down
    /// shows as `UNAVAILABLE` calls rather than an error here. Must be called within a tokio
    /// runtime.
    pub fn connect_lazy(self) -> Result<Client, ClientError> {
        let interceptor = ApiKeyInterceptor::new(self.api_key.as_deref())?;
        Ok(Client { channel: self.endpoint()?.connect_lazy(), interceptor })
    }
}

/// The innermost cause of an error, which says what actually happened.
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// A connection to the server with an API key; cheap to clone, one HTTP/2 connection shared.
#[derive(Clone, Debug)]
pub struct Client {
    channel: Channel,
    interceptor: ApiKeyInterceptor,
}

impl Client {
    /// Settings for a client of `address`, to set the API key, timeouts or TLS before
    /// connecting.
    pub fn builder(address: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(address)
    }

    /// Connects to `address` (`http://host:port`, or `https://` for TLS with the platform's
    /// trusted roots) with the default timeouts, and authenticates every call with `api_key`
    /// (a tenant API key or the operator's bootstrap token).
    pub async fn connect(address: impl Into<String>, api_key: &str) -> Result<Self, ClientError> {
        ClientBuilder::new(address).api_key(api_key).connect().await
    }

    /// Connects without credentials (for health checks, or to see UNAUTHENTICATED).
    pub async fn connect_anonymous(address: impl Into<String>) -> Result<Self, ClientError> {
        ClientBuilder::new(address).connect().await
    }

    /// Wraps an existing channel; `api_key` None sends no credentials.
    pub fn from_channel(channel: Channel, api_key: Option<&str>) -> Result<Self, ClientError> {
        Ok(Self { channel, interceptor: ApiKeyInterceptor::new(api_key)? })
    }

    /// The same connection with another API key (for example a tenant key the operator just
    /// created).
    pub fn with_api_key(&self, api_key: &str) -> Result<Self, ClientError> {
        Self::from_channel(self.channel.clone(), Some(api_key))
    }

    /// The underlying channel, without the API key, for the health and reflection clients.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// The channel with the API key added to every call, for stubs built by hand.
    pub fn authed_channel(&self) -> AuthedChannel {
        InterceptedService::new(self.channel.clone(), self.interceptor.clone())
    }
}

macro_rules! stubs {
    ($($(#[$doc:meta])* $name:ident => $module:ident :: $client:ident;)*) => {
        $(
            #[doc = concat!("Generated stub; [`Client::", stringify!($name), "`] hands one out with the API key.")]
            pub use proto::$module::$client;
        )*
        impl Client {
            $(
                $(#[$doc])*
                pub fn $name(&self) -> $client<AuthedChannel> {
                    $client::new(self.authed_channel())
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
    /// Routing configurations, previews and Jira webhook registration.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(address: &str) -> String {
        match ClientBuilder::new(address).endpoint() {
            Err(ClientError::InvalidAddress { reason, .. }) => reason,
            other => panic!("{address}: {other:?}"),
        }
    }

    #[tokio::test]
    async fn addresses_need_an_http_or_https_scheme_and_a_host() {
        assert!(ClientBuilder::new("http://127.0.0.1:50051").endpoint().is_ok());
        assert!(reason("127.0.0.1:50051").contains("http://"));
        assert!(reason("ftp://example.com").contains("http://"));
        assert!(reason("not a url").contains("URL"));
    }

    #[cfg(feature = "tls")]
    #[tokio::test]
    async fn https_gets_tls_and_tls_settings_need_https() {
        // Ok, or a TLS error on a machine without trusted roots: never refused as an address.
        let https = ClientBuilder::new("https://example.com").endpoint();
        assert!(matches!(https, Ok(_) | Err(ClientError::Tls(_))), "{https:?}");
        let plain = ClientBuilder::new("http://example.com").tls_config(tonic::transport::ClientTlsConfig::new());
        assert!(reason_of(plain).contains("TLS"));
    }

    #[cfg(feature = "tls")]
    fn reason_of(builder: ClientBuilder) -> String {
        match builder.endpoint() {
            Err(ClientError::InvalidAddress { reason, .. }) => reason,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_key_that_cannot_be_a_header_is_refused_before_connecting() {
        let err = ClientBuilder::new("http://127.0.0.1:1").api_key("bad\nkey").connect_lazy().unwrap_err();
        assert!(matches!(err, ClientError::InvalidApiKey));
    }

    #[tokio::test]
    async fn a_refused_connection_names_the_address_and_the_cause() {
        // Port 1 on loopback: nothing listens there.
        let err = Client::connect("http://127.0.0.1:1", "k").await.unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("cannot connect to http://127.0.0.1:1: "), "{text}");
        assert!(!text.ends_with("transport error"), "{text}");
    }

    #[test]
    fn debug_never_shows_the_api_key() {
        let builder = ClientBuilder::new("http://127.0.0.1:1").api_key("nsj_s3cret");
        assert!(!format!("{builder:?}").contains("s3cret"));
        let interceptor = ApiKeyInterceptor::new(Some("nsj_s3cret")).unwrap();
        assert!(!format!("{interceptor:?}").contains("s3cret"));
    }
}
