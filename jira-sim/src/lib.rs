//! `jira-sim`: an in-memory Jira Cloud simulator for tests, demos and benchmarks.
//!
//! It serves the REST v3 endpoints a sync service needs with Jira Cloud's
//! JSON shapes and error bodies, injects faults on demand (429/503 with or
//! without `Retry-After`, 5xx, latency, lost responses), lets a test act as a
//! person in Jira, and sends signed webhooks in the REST v2 representation
//! with Jira's retry rule.
//!
//! ```no_run
//! # async fn demo() {
//! use jira_sim::{SimConfig, Simulator};
//! let sim = Simulator::start(SimConfig::default()).await;
//! let base = sim.base_url().to_owned(); // http://127.0.0.1:<port>
//! // … point the client at `base` with sim@example.com / sim-token …
//! sim.transition("alice@example.com", "SIM-1", "Done", Some("Won't Do")).ok();
//! sim.shutdown().await;
//! # }
//! ```

#![warn(missing_docs)]

pub mod adf;
mod auth;
pub mod catalog;
mod config;
mod error;
mod events;
mod faults;
mod fields;
mod handle;
pub mod jql;
mod middleware;
mod model;
mod net;
mod ops;
mod repr;
mod routes;
pub mod signature;
mod state;
pub mod time;
mod webhooks;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{
    Account, DEFAULT_EMAIL, DEFAULT_TOKEN, DEFAULT_WEBHOOK_EVENTS, ProjectSeed, RetryPolicy, SimConfig, WebhookSpec,
};
pub use error::{ApiError, SimError};
pub use faults::{Fault, FaultRule, LostMode, RandomFaults, RequestRecord};
pub use handle::{CommentView, IssueLinkView, IssueView, RichText, SimHandle};
pub use webhooks::{Attempt, DeliveryRecord, DeliveryState, ReleaseOrder, WebhookInfo};

use crate::model::Store;
use crate::net::{ConnHandle, KillableListener};
use crate::state::Core;
use crate::time::Clock;
use crate::webhooks::Dispatcher;

/// A running simulator. Dereferences to its [`SimHandle`]. Dropping it stops
/// the server; [`Simulator::shutdown`] does so gracefully.
pub struct Simulator {
    handle: SimHandle,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator").field("addr", &self.addr).finish()
    }
}

impl Simulator {
    /// Starts a simulator; panics if the address cannot be bound (meant for
    /// tests, where that is a setup failure). See [`Simulator::try_start`].
    pub async fn start(config: SimConfig) -> Self {
        match Self::try_start(config).await {
            Ok(sim) => sim,
            Err(e) => panic!("jira-sim failed to start: {e}"),
        }
    }

    /// Binds `config.addr`, seeds the data, registers the configured
    /// webhooks and starts serving in the background.
    pub async fn try_start(config: SimConfig) -> Result<Self, SimError> {
        let bind_err = |source| SimError::Bind { addr: config.addr.to_string(), source };
        let listener = TcpListener::bind(config.addr).await.map_err(bind_err)?;
        let addr = listener.local_addr().map_err(bind_err)?;
        let base = config
            .public_url
            .as_deref()
            .map_or_else(|| format!("http://{addr}"), |u| u.trim_end_matches('/').to_owned());
        let (dispatcher, jobs) = Dispatcher::new(config.retry.clone());
        let core = Arc::new(Core {
            base,
            store: Mutex::new(Store::new(&config)),
            config,
            clock: Clock::default(),
            faults: faults::Faults::default(),
            requests: faults::RequestLog::default(),
            dispatcher: Arc::clone(&dispatcher),
        });
        let handle = SimHandle { core: Arc::clone(&core) };
        for spec in core.config.webhooks.clone() {
            handle.register_webhook(spec)?;
        }
        let (stop, stopped) = watch::channel(false);
        let worker = tokio::spawn(dispatcher.run(jobs, stopped.clone()));
        let app = routes::router(Arc::clone(&core));
        let mut signal = stopped;
        let server = tokio::spawn(async move {
            let serve = axum::serve(
                KillableListener { inner: listener },
                app.into_make_service_with_connect_info::<ConnHandle>(),
            )
            .with_graceful_shutdown(async move {
                let _ = signal.wait_for(|stop| *stop).await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "jira-sim server stopped");
            }
        });
        tracing::info!(base_url = %core.base, "jira-sim listening");
        Ok(Self { handle, addr, stop, tasks: Mutex::new(vec![server, worker]) })
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn base_url(&self) -> &str {
        self.handle.base_url()
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A cloneable handle on the state.
    pub fn handle(&self) -> SimHandle {
        self.handle.clone()
    }

    /// Stops accepting connections and waits (at most 2 s) for in-flight
    /// requests; webhook retries are abandoned.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let tasks: Vec<JoinHandle<()>> = match self.tasks.lock() {
            Ok(mut t) => t.drain(..).collect(),
            Err(p) => p.into_inner().drain(..).collect(),
        };
        for t in tasks {
            let abort = t.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), t).await.is_err() {
                abort.abort();
            }
        }
    }
}

impl std::ops::Deref for Simulator {
    type Target = SimHandle;

    fn deref(&self) -> &SimHandle {
        &self.handle
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        let tasks = match self.tasks.get_mut() {
            Ok(t) => t,
            Err(p) => p.into_inner(),
        };
        for t in tasks.drain(..) {
            t.abort();
        }
    }
}
