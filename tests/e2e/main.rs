//! End-to-end tests: the real server on loopback ports, a real PostgreSQL database per test,
//! reached only through the client crate and HTTP. One test binary, so one link.
mod support;

mod audit;
mod bad_input;
mod chaos;
mod cookbook;
mod credentials;
mod delivery;
mod foundation;
mod isolation;
mod jira_client;
mod limits;
mod metrics;
mod openapi;
mod outage;
mod outbound;
mod prometheus;
mod python;
mod routing;
mod secrets;
mod sync;
mod tenants;
mod tls;
mod watch;
