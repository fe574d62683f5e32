//! Wiring: one function starts the whole server (migrations, pool, gRPC with health and
//! reflection, the HTTP sidecar, background probes) for `main` and for the tests alike.
use std::{net::SocketAddr, sync::Arc};

use secrecy::ExposeSecret as _;
use tokio::{net::TcpListener, task::JoinSet};
use tokio_util::sync::CancellationToken;

use crate::{
    api::{self, AppState},
    auth::{AuthLayer, Authenticator},
    config::Config,
    crypto::SecretCipher,
    db, delivery,
    group::GroupConfig,
    health, http,
    ingest::GroupCommit,
    jira::{JiraClient, JiraSettings, RetryPolicy, SiteLimits},
    proto,
    routing::RoutingCache,
    telemetry, webhooks,
};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Migrations could not be applied (often: the database is unreachable).
    #[error("database migrations: {0}")]
    Migrate(#[from] db::MigrateError),
    /// The pool could not be built.
    #[error("database pool: {0}")]
    Pool(#[from] diesel_async::pooled_connection::deadpool::BuildError),
    /// A listen address could not be bound.
    #[error("binding {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    /// The TLS certificate or key cannot be used.
    #[error("TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    /// tonic refused the TLS configuration.
    #[error("gRPC TLS: {0}")]
    GrpcTls(#[from] tonic::transport::Error),
    /// Reflection could not load the descriptor sets.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}

/// A failure while serving.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The gRPC server stopped with an error.
    #[error("gRPC server: {0}")]
    Grpc(#[from] tonic::transport::Error),
    /// The HTTP sidecar stopped with an error.
    #[error("HTTP sidecar: {0}")]
    Http(#[from] std::io::Error),
    /// A server task panicked.
    #[error("server task: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// A running server.
pub struct Server {
    /// Where gRPC listens (the bound port when the configuration said 0).
    pub grpc_addr: SocketAddr,
    /// Where the HTTP sidecar listens.
    pub http_addr: SocketAddr,
    shutdown: CancellationToken,
    tasks: JoinSet<Result<(), ServeError>>,
}

impl Server {
    /// Migrates the database, then starts serving both ports.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        // The recorder must exist before the first metric is recorded.
        let prometheus = telemetry::prometheus();
        let url = config.database_url.expose_secret().to_owned();
        let tls = config.tls.as_ref().map(crate::tls::TlsIdentity::load).transpose()?;
        db::run_migrations(&url).await?;
        let pool = db::pool(&url, config.db_pool_size)?;

        let grpc_listener = bind(config.grpc_addr).await?;
        let http_listener = bind(config.http_addr).await?;
        let grpc_addr =
            grpc_listener.local_addr().map_err(|source| StartError::Bind { addr: config.grpc_addr, source })?;
        let http_addr =
            http_listener.local_addr().map_err(|source| StartError::Bind { addr: config.http_addr, source })?;

        let shutdown = CancellationToken::new();
        let (health_reporter, health_service) = tonic_health::server::health_reporter();
        let readiness = health::spawn_probe(
            pool.clone(),
            health_reporter,
            proto::service_names(),
            config.health_probe_interval,
            shutdown.clone(),
        )
        .await;

        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        let reflection_v1 = reflection().build_v1()?;
        let reflection_v1alpha = reflection().build_v1alpha()?;

        let keys = Arc::new(crate::auth::cache::listening(&url));
        let auth = Authenticator::new(pool.clone(), keys.clone(), config.bootstrap_token.clone());
        let jira = JiraClient::new(JiraSettings {
            retry: RetryPolicy {
                base: config.jira_backoff_base,
                max: config.jira_backoff_max,
                ..RetryPolicy::default()
            },
            limits: SiteLimits {
                concurrency: config.jira_concurrency,
                requests_per_second: config.jira_requests_per_second,
                ..SiteLimits::default()
            },
            ..JiraSettings::default()
        });
        let cipher = Arc::new(SecretCipher::with_previous(&config.master_key, &config.previous_master_keys));
        if config.reseal_secrets {
            crate::rotation::spawn(pool.clone(), cipher.clone(), std::time::Duration::from_secs(60), shutdown.clone());
        }
        let routing = RoutingCache::new(pool.clone());
        routing.spawn_listener(url.clone(), shutdown.clone());
        let scheme = if tls.is_some() { "https" } else { "http" };
        let public_url: Arc<str> =
            config.public_url.clone().unwrap_or_else(|| format!("{scheme}://{http_addr}")).into();
        let worker = delivery::WorkerConfig {
            lease: config.delivery_lease,
            max_attempts: config.delivery_max_attempts,
            poll_interval: std::time::Duration::from_secs(1),
            batch: i64::from(config.delivery_concurrency),
            search_settle: config.jira_search_settle,
            duplicate_sweep: config.jira_duplicate_sweep,
        };
        let wakeups = crate::notify::Wakeups::spawn(pool.clone(), shutdown.clone());
        let groups =
            GroupConfig { max_group: config.group_commit_max, concurrent_groups: config.group_commit_concurrency };
        let state = AppState {
            receivers: Arc::new(crate::memo::Memo::listening(
                &url,
                db::applications::ROUTING_CHANNEL,
                std::time::Duration::from_secs(60),
                10_000,
            )),
            webhook_limiter: Arc::new(crate::webhooks::limit::WebhookLimiter::new(config.webhook_rate_limit)),
            inbox: crate::webhooks::receive::InboxWriter::spawn(pool.clone(), wakeups.clone(), groups),
            wakeups,
            ingest: GroupCommit::spawn(pool.clone(), groups),
            pool,
            config: Arc::new(config),
            cipher,
            jira,
            routing,
            keys,
            public_url,
            shutdown: shutdown.clone(),
        };
        delivery::spawn(state.clone(), worker, url.clone(), shutdown.clone());
        webhooks::inbox::spawn(state.clone(), url.clone(), shutdown.clone());
        webhooks::reconcile::spawn(state.clone(), state.config.reconcile_interval, shutdown.clone());
        telemetry::spawn_gauges(state.pool.clone(), prometheus.clone(), telemetry::GAUGE_INTERVAL, shutdown.clone());
        // Metrics outermost: they must see the status of calls the auth layer refuses.
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = &tls {
            builder = builder.tls_config(tls.grpc_config())?;
        }
        let grpc = builder
            .layer(telemetry::RpcMetricsLayer)
            .layer(AuthLayer::new(auth))
            .add_routes(api::routes(state.clone()))
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha);

        let http_router = http::router(http::HttpState { readiness, prometheus, app: state });

        let mut tasks = JoinSet::new();
        let stop = shutdown.clone();
        tasks.spawn(async move {
            // Nagle's algorithm would hold small responses back until the client's delayed ACK
            // (tens of milliseconds at the tail); gRPC frames are written whole anyway.
            let incoming = tonic::transport::server::TcpIncoming::from(grpc_listener).with_nodelay(Some(true));
            grpc.serve_with_incoming_shutdown(incoming, stop.cancelled_owned()).await?;
            Ok(())
        });
        let stop = shutdown.clone();
        let sidecar_tls = tls.as_ref().map(crate::tls::TlsIdentity::sidecar_config).transpose()?;
        tasks.spawn(async move {
            match sidecar_tls {
                Some(config) => crate::tls::serve_sidecar(http_listener, http_router, config, stop).await?,
                None => axum::serve(http_listener, http_router).with_graceful_shutdown(stop.cancelled_owned()).await?,
            }
            Ok(())
        });
        tracing::info!(%grpc_addr, %http_addr, tls = tls.is_some(), "northstar-jira serving");
        Ok(Self { grpc_addr, http_addr, shutdown, tasks })
    }

    /// A token that, once cancelled, stops the server gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops accepting work, lets in-flight requests finish, and waits for both ports to close.
    pub async fn shutdown(self) -> Result<(), ServeError> {
        self.shutdown.cancel();
        self.wait().await
    }

    /// Waits until the server stops (after its shutdown token is cancelled, or on a failure,
    /// which stops the other port too).
    pub async fn wait(mut self) -> Result<(), ServeError> {
        let mut result = Ok(());
        while let Some(joined) = self.tasks.join_next().await {
            let outcome = joined.map_err(ServeError::from).and_then(|r| r);
            if let Err(err) = outcome {
                self.shutdown.cancel();
                if result.is_ok() {
                    result = Err(err);
                }
            }
        }
        self.shutdown.cancel();
        result
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr).await.map_err(|source| StartError::Bind { addr, source })
}
