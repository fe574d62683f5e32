//! `/issue/{idOrKey}/transitions`.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{Value, json};

use super::util::{Params, no_content, ok, parse_body};
use crate::auth::Caller;
use crate::catalog;
use crate::error::ApiError;
use crate::ops;
use crate::repr::Repr;
use crate::state::Core;

pub(crate) async fn list(
    State(core): State<Arc<Core>>,
    Path(id_or_key): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let store = core.store();
    let issue = store.issue(&id_or_key).ok_or_else(ApiError::issue_not_found)?;
    let r = Repr::v3(&core.base);
    let with_fields = params.get("expand").is_some_and(|e| e.contains("transitions.fields"));
    let only = params.get("transitionId");
    let transitions: Vec<Value> = catalog::transitions_from(issue.status.id)
        .filter(|t| only.is_none_or(|id| id == t.id))
        .filter_map(|t| {
            let to = catalog::status(t.to)?;
            let mut v = json!({
                "id": t.id,
                "name": t.name,
                "to": r.status(to),
                "hasScreen": to.category.key == "done",
                "isGlobal": t.from.is_empty(),
                "isInitial": false,
                "isAvailable": true,
                "isConditional": false,
                "looped": false,
            });
            if with_fields {
                v["fields"] = if to.category.key == "done" {
                    json!({"resolution": {
                        "required": false,
                        "schema": {"type": "resolution", "system": "resolution"},
                        "name": "Resolution",
                        "key": "resolution",
                        "hasDefaultValue": true,
                        "operations": ["set"],
                        "allowedValues": catalog::RESOLUTIONS.iter().map(|res| r.resolution(res)).collect::<Vec<_>>(),
                    }})
                } else {
                    json!({})
                };
            }
            Some(v)
        })
        .collect();
    Ok(ok(&json!({"expand": "transitions", "transitions": transitions})))
}

pub(crate) async fn perform(
    State(core): State<Arc<Core>>,
    Extension(caller): Extension<Caller>,
    Path(id_or_key): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    core.mutate(&caller.account_id, |store, ev, ctx| ops::transition_issue(store, ev, ctx, &id_or_key, &body))?;
    Ok(no_content())
}
