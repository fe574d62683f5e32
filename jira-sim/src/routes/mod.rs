//! The HTTP surface: Jira's REST API (faulted, counted, authenticated) and
//! the `/_sim` admin API.

pub(crate) mod comments;
pub(crate) mod issues;
pub(crate) mod links;
pub(crate) mod myself;
pub(crate) mod priorities;
pub(crate) mod projects;
pub(crate) mod search;
pub(crate) mod sim;
pub(crate) mod transitions;
pub(crate) mod util;
pub(crate) mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, Uri};
use axum::middleware::from_fn_with_state;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::json;

use crate::state::Core;

pub(crate) fn router(core: Arc<Core>) -> Router {
    let api = "/rest/api/3";
    let authenticated = Router::new()
        .route(&format!("{api}/myself"), get(myself::myself))
        .route(&format!("{api}/user"), get(myself::user))
        .route(&format!("{api}/project/search"), get(projects::search))
        .route(&format!("{api}/project/{{projectIdOrKey}}"), get(projects::get))
        .route(&format!("{api}/issue/createmeta/{{projectIdOrKey}}/issuetypes"), get(projects::createmeta_issue_types))
        .route(
            &format!("{api}/issue/createmeta/{{projectIdOrKey}}/issuetypes/{{issueTypeId}}"),
            get(projects::createmeta_fields),
        )
        .route(&format!("{api}/issue"), post(issues::create))
        .route(&format!("{api}/issue/bulk"), post(issues::bulk))
        .route(&format!("{api}/issue/{{issueIdOrKey}}"), get(issues::get).put(issues::edit).delete(issues::delete))
        .route(&format!("{api}/issue/{{issueIdOrKey}}/transitions"), get(transitions::list).post(transitions::perform))
        .route(&format!("{api}/issue/{{issueIdOrKey}}/comment"), get(comments::list).post(comments::add))
        .route(
            &format!("{api}/issue/{{issueIdOrKey}}/comment/{{id}}"),
            get(comments::get).put(comments::update).delete(comments::delete),
        )
        .route(&format!("{api}/issueLinkType"), get(links::types))
        .route(&format!("{api}/issueLinkType/{{issueLinkTypeId}}"), get(links::get_type))
        .route(&format!("{api}/issueLink"), post(links::create))
        .route(&format!("{api}/search/jql"), get(search::jql_get).post(search::jql_post))
        .route(&format!("{api}/search/approximate-count"), post(search::approximate_count))
        .route(&format!("{api}/search"), get(search::gone).post(search::gone))
        .route("/rest/api/2/search", get(search::gone).post(search::gone))
        .route(&format!("{api}/priority"), get(priorities::list))
        .route(&format!("{api}/priority/search"), get(priorities::search))
        .route(&format!("{api}/priority/{{id}}"), get(priorities::get))
        .route(&format!("{api}/resolution"), get(priorities::resolutions))
        .route(&format!("{api}/status"), get(priorities::statuses))
        .route("/rest/webhooks/1.0/webhook", get(webhooks::list).post(webhooks::create))
        .route("/rest/webhooks/1.0/webhook/{id}", get(webhooks::get).put(webhooks::update).delete(webhooks::delete))
        .route_layer(from_fn_with_state(Arc::clone(&core), crate::auth::require_auth));
    let anonymous = Router::new().route(&format!("{api}/serverInfo"), get(myself::server_info));
    let rest = authenticated
        .merge(anonymous)
        .route_layer(from_fn_with_state(Arc::clone(&core), crate::middleware::faults_and_counting));
    rest.merge(sim::router()).fallback(not_found).with_state(core)
}

async fn not_found(uri: Uri) -> Response {
    util::json_response(
        StatusCode::NOT_FOUND,
        &json!({"errorMessages": [format!("null for uri: {uri}")], "errors": {}}),
    )
}
