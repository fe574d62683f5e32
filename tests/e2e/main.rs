//! End-to-end tests: the real server on loopback ports, a real PostgreSQL database per test,
//! reached only through the client crate and HTTP. One test binary, so one link.
mod support;

mod audit;
mod cookbook;
mod credentials;
mod delivery;
mod foundation;
mod jira_client;
mod metrics;
mod openapi;
mod outbound;
mod prometheus;
mod python;
mod routing;
mod sync;
mod tenants;
mod watch;
