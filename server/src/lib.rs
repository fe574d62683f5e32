//! northstar-jira: keeps the Northstar security platform and Jira in sync, both ways.
//!
//! Layers, outermost first: `api` (gRPC) and `http` (the sidecar) translate requests; `auth`
//! identifies callers; `db` holds every query. `app` wires them into a running server.
pub mod api;
pub mod app;
pub mod auth;
pub mod config;
pub mod crypto;
pub mod db;
pub mod delivery;
pub mod domain;
pub mod error;
pub mod group;
pub mod health;
pub mod http;
pub mod ingest;
pub mod jira;
pub mod localdb;
pub mod memo;
pub mod notify;
pub mod propagate;
pub mod proto;
pub mod rotation;
pub mod routing;
pub mod schema;
pub mod telemetry;
pub mod tls;
pub mod webhooks;

pub use app::Server;
pub use config::Config;
