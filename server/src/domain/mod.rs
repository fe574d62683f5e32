//! Domain rules as plain functions and types: no tonic, no diesel, no HTTP.
pub mod jira_url;
