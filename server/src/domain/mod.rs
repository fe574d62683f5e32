//! Domain rules as plain functions and types: no tonic, no diesel, no HTTP.
pub mod configuration;
pub mod jira_url;
pub mod metrics;
pub mod model;
pub mod priority;
pub mod routing;
pub mod sync;
pub mod ticket;
pub mod webhook;
