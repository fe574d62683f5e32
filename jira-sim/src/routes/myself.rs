//! `/myself`, `/user` and `/serverInfo`.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::util::{Params, ok};
use crate::auth::{Caller, unauthorized};
use crate::error::ApiError;
use crate::repr::Repr;
use crate::state::Core;
use crate::time::format_jira;

pub(crate) async fn myself(State(core): State<Arc<Core>>, Extension(caller): Extension<Caller>) -> Response {
    let store = core.store();
    match store.account(&caller.account_id) {
        Some(a) => ok(&Repr::v3(&core.base).user_full(a)),
        None => unauthorized(),
    }
}

pub(crate) async fn user(State(core): State<Arc<Core>>, params: Params) -> Result<Response, ApiError> {
    let Some(id) = params.get("accountId") else {
        return Err(ApiError::bad_request("The query parameter 'accountId' is required."));
    };
    let store = core.store();
    let a = store.account(id).ok_or_else(|| {
        ApiError::message(
            StatusCode::NOT_FOUND,
            "Specified user does not exist or you do not have required permissions".to_string(),
        )
    })?;
    Ok(ok(&Repr::v3(&core.base).user_full(a)))
}

/// Anonymous access allowed, as on Jira Cloud. Real sites also send
/// `defaultLocale`, which the OpenAPI schema forbids; it is left out so
/// responses validate against the spec.
pub(crate) async fn server_info(State(core): State<Arc<Core>>) -> Response {
    let now = format_jira(core.clock.now());
    ok(&json!({
        "baseUrl": core.base,
        "displayUrl": core.base,
        "displayUrlServicedeskHelpCenter": core.base,
        "displayUrlConfluence": core.base,
        "version": "1001.0.0-SNAPSHOT",
        "versionNumbers": [1001, 0, 0],
        "deploymentType": "Cloud",
        "buildNumber": 100283,
        "buildDate": now,
        "serverTime": now,
        "scmInfo": "0000000000000000000000000000000000000000",
        "serverTitle": "Jira",
        "serverTimeZone": "Etc/UTC",
    }))
}
