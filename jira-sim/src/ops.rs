//! Every change to issues and comments, shared by the REST routes and by the
//! "act as a person" handle, so both validate the same way and both fire
//! the same webhooks.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::adf;
use crate::catalog::{self, IssueTypeDef};
use crate::error::ApiError;
use crate::events::{ChangeItem, Events};
use crate::fields::{self, Changes, FieldCtx, Screen, not_on_screen};
use crate::model::{Comment, CustomValue, Issue, IssueLink, Store};
use crate::repr::Repr;

/// Who acts, when, and for which base URL.
pub(crate) struct Ctx<'a> {
    pub now: DateTime<Utc>,
    pub base: &'a str,
    pub actor: &'a str,
}

/// Result of creating one issue.
#[derive(Debug, Clone)]
pub(crate) struct Created {
    pub id: u64,
    pub key: String,
    /// The `transition` result when the request asked for one.
    pub transition: Option<Value>,
}

impl Created {
    pub(crate) fn json(&self, base: &str) -> Value {
        let mut v = json!({
            "id": self.id.to_string(),
            "key": self.key,
            "self": format!("{}/issue/{}", Repr::v3(base).api(), self.id),
        });
        if let Some(t) = &self.transition {
            v["transition"] = t.clone();
        }
        v
    }
}

fn object_or_empty<'a>(
    body: &'a Map<String, Value>,
    key: &str,
    empty: &'a Map<String, Value>,
) -> Result<&'a Map<String, Value>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(empty),
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(ApiError::bad_request(format!(
            "Can not deserialize instance of java.util.LinkedHashMap out of {key} value"
        ))),
    }
}

fn as_object(body: &Value) -> Result<&Map<String, Value>, ApiError> {
    body.as_object()
        .ok_or_else(|| ApiError::bad_request("Can not deserialize instance of IssueUpdateBean out of non-object token"))
}

fn id_or_key_of(v: &Value) -> Option<String> {
    let o = v.as_object()?;
    ["key", "id", "name"].iter().find_map(|k| match o.get(*k) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

/// `POST /issue`.
pub(crate) fn create_issue(
    store: &mut Store,
    ev: &mut Events,
    ctx: &Ctx<'_>,
    body: &Value,
) -> Result<Created, ApiError> {
    let body = as_object(body)?;
    let empty = Map::new();
    let fields_in = object_or_empty(body, "fields", &empty)?;
    let update_in = object_or_empty(body, "update", &empty)?;

    let mut errs = BTreeMap::new();
    let project = match fields_in.get("project").and_then(id_or_key_of) {
        None => {
            errs.insert("project".to_owned(), "Specify a valid project ID or key".to_owned());
            None
        }
        Some(k) => {
            let p = store.project_by_id_or_key(&k).cloned();
            if p.is_none() {
                errs.insert("project".to_owned(), "Specify a valid project ID or key".to_owned());
            }
            p
        }
    };
    let issue_type: Option<&'static IssueTypeDef> = match fields_in.get("issuetype") {
        None | Some(Value::Null) => {
            errs.insert("issuetype".to_owned(), "Specify an issue type".to_owned());
            None
        }
        Some(v) => {
            let t = v.as_object().and_then(|o| {
                if let Some(id) = o.get("id") {
                    let id = id.as_str().map(str::to_owned).or_else(|| id.as_u64().map(|n| n.to_string()))?;
                    catalog::ISSUE_TYPES.iter().find(|t| t.id == id)
                } else {
                    let name = o.get("name")?.as_str()?;
                    catalog::ISSUE_TYPES.iter().find(|t| t.name == name)
                }
            });
            if t.is_none() {
                errs.insert("issuetype".to_owned(), "The issue type selected is invalid.".to_owned());
            }
            t
        }
    };
    let (Some(project), Some(issue_type)) = (project, issue_type) else {
        return Err(ApiError::fields(errs));
    };

    let fctx = FieldCtx { store, project: &project, issue_type, screen: Screen::Create };
    let mut fe = fields::FieldErrors::default();
    let changes = match fields::read(&fctx, fields_in, update_in) {
        Ok(c) => c,
        Err(e) => {
            fe = e;
            Changes::default()
        }
    };
    if !fe.errors.contains_key("summary") && changes.summary.is_none() && !fields_in.contains_key("summary") {
        fe.add("summary", "You must specify a summary of the issue.");
    }
    if !fe.is_empty() {
        return Err(fe.into_api_error());
    }

    let id = store.next_issue_id;
    store.next_issue_id += 1;
    let number = match store.projects.iter_mut().find(|p| p.id == project.id) {
        Some(p) => {
            let n = p.next_number;
            p.next_number += 1;
            n
        }
        None => return Err(ApiError::field("project", "Specify a valid project ID or key")),
    };
    let (todo, medium) = match (catalog::status(catalog::STATUS_TODO), catalog::priority(catalog::DEFAULT_PRIORITY_ID))
    {
        (Some(s), Some(p)) => (s, p),
        _ => return Err(ApiError::message(StatusCode::INTERNAL_SERVER_ERROR, "workflow misconfigured")),
    };
    let mut issue = Issue {
        id,
        key: format!("{}-{number}", project.key),
        project_id: project.id,
        issue_type,
        summary: String::new(),
        description: None,
        status: todo,
        resolution: None,
        resolution_date: None,
        priority: medium,
        labels: Vec::new(),
        components: Vec::new(),
        assignee: None,
        reporter: Some(ctx.actor.to_owned()),
        creator: ctx.actor.to_owned(),
        parent: None,
        duedate: None,
        custom: BTreeMap::new(),
        comments: Vec::new(),
        created: ctx.now,
        updated: ctx.now,
        status_category_changed: ctx.now,
        properties: BTreeMap::new(),
    };
    apply(store, &mut issue, &changes);
    if let Some(props) = body.get("properties").and_then(Value::as_array) {
        for p in props {
            if let (Some(k), Some(v)) = (p.get("key").and_then(Value::as_str), p.get("value")) {
                issue.properties.insert(k.to_owned(), v.clone());
            }
        }
    }
    let items = created_items(store, &issue);
    let key = issue.key.clone();
    store.issues.insert(id, issue.clone());
    let clid = store.next_changelog_id();
    ev.issue_event(
        store,
        ctx.base,
        "jira:issue_created",
        "issue_created",
        ctx.actor,
        &issue,
        Some((clid, &items)),
        None,
    );

    let transition = body.get("transition").filter(|t| !t.is_null()).map(|t| {
        match transition_issue(store, ev, ctx, &id.to_string(), &json!({ "transition": t })) {
            Ok(()) => json!({"status": 200, "errorCollection": {"errorMessages": [], "errors": {}}}),
            Err(e) => json!({"status": e.status.as_u16(), "errorCollection": e.body()}),
        }
    });
    Ok(Created { id, key, transition })
}

/// `POST /issue/bulk`: at most 50; 201 if any succeeded, else 400.
pub(crate) fn bulk_create(
    store: &mut Store,
    ev: &mut Events,
    ctx: &Ctx<'_>,
    body: &Value,
) -> Result<(StatusCode, Value), ApiError> {
    let updates = body
        .get("issueUpdates")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad_request("Nothing to create."))?;
    if updates.is_empty() {
        return Err(ApiError::bad_request("Nothing to create."));
    }
    if updates.len() > 50 {
        return Err(ApiError::bad_request("You can create up to 50 issues in a single bulk create request."));
    }
    let mut issues = Vec::new();
    let mut errors = Vec::new();
    for (i, u) in updates.iter().enumerate() {
        match create_issue(store, ev, ctx, u) {
            Ok(c) => issues.push(c.json(ctx.base)),
            Err(e) => errors.push(json!({
                "status": e.status.as_u16(),
                "elementErrors": e.body(),
                "failedElementNumber": i,
            })),
        }
    }
    let status = if issues.is_empty() { StatusCode::BAD_REQUEST } else { StatusCode::CREATED };
    Ok((status, json!({ "issues": issues, "errors": errors })))
}

/// `PUT /issue/{idOrKey}`.
pub(crate) fn edit_issue(
    store: &mut Store,
    ev: &mut Events,
    ctx: &Ctx<'_>,
    id_or_key: &str,
    body: &Value,
) -> Result<u64, ApiError> {
    let id = store.issue_id(id_or_key).ok_or_else(ApiError::issue_not_found)?;
    let body = as_object(body)?;
    let empty = Map::new();
    let fields_in = object_or_empty(body, "fields", &empty)?;
    let update_in = object_or_empty(body, "update", &empty)?;
    let Some(current) = store.issues.get(&id).cloned() else {
        return Err(ApiError::issue_not_found());
    };
    let Some(project) = store.project(current.project_id).cloned() else {
        return Err(ApiError::issue_not_found());
    };
    let fctx = FieldCtx { store, project: &project, issue_type: current.issue_type, screen: Screen::Edit(&current) };
    let changes = fields::read(&fctx, fields_in, update_in).map_err(fields::FieldErrors::into_api_error)?;

    let mut issue = current;
    let items = apply(store, &mut issue, &changes);
    let comment = changes.comment.as_ref().map(|body| new_comment(store, ctx, body.clone(), None));
    if items.is_empty() && comment.is_none() {
        return Ok(id);
    }
    issue.updated = ctx.now;
    if let Some(c) = &comment {
        issue.comments.push(c.clone());
    }
    store.issues.insert(id, issue.clone());
    if !items.is_empty() {
        let type_name = if items.iter().all(|i| i.field_id == "assignee") { "issue_assigned" } else { "issue_updated" };
        let clid = store.next_changelog_id();
        ev.issue_event(
            store,
            ctx.base,
            "jira:issue_updated",
            type_name,
            ctx.actor,
            &issue,
            Some((clid, &items)),
            comment.as_ref(),
        );
    }
    if let Some(c) = &comment {
        ev.comment_event(store, ctx.base, "comment_created", &issue, c);
        if items.is_empty() {
            ev.issue_event(store, ctx.base, "jira:issue_updated", "issue_commented", ctx.actor, &issue, None, Some(c));
        }
    }
    Ok(id)
}

/// `POST /issue/{idOrKey}/transitions`.
pub(crate) fn transition_issue(
    store: &mut Store,
    ev: &mut Events,
    ctx: &Ctx<'_>,
    id_or_key: &str,
    body: &Value,
) -> Result<(), ApiError> {
    let id = store.issue_id(id_or_key).ok_or_else(ApiError::issue_not_found)?;
    let body = as_object(body)?;
    let t = body
        .get("transition")
        .filter(|t| !t.is_null())
        .ok_or_else(|| ApiError::bad_request("Missing 'transition' identifier"))?;
    let tid = match t.get("id") {
        Some(Value::String(s)) if s.parse::<u64>().is_ok() => s.clone(),
        Some(Value::Number(n)) if n.is_u64() => n.to_string(),
        None => return Err(ApiError::bad_request("Missing 'transition' identifier")),
        Some(_) => return Err(ApiError::bad_request("'transition' identifier must be an integer")),
    };
    let Some(mut issue) = store.issues.get(&id).cloned() else {
        return Err(ApiError::issue_not_found());
    };
    let def = catalog::transitions_from(issue.status.id)
        .find(|d| d.id == tid)
        .ok_or_else(|| ApiError::bad_request(format!("Transition id '{tid}' is not valid for this issue.")))?;
    let target = catalog::status(def.to)
        .ok_or_else(|| ApiError::message(StatusCode::INTERNAL_SERVER_ERROR, "workflow misconfigured"))?;
    let to_done = target.category.key == "done";

    let empty = Map::new();
    let fields_in = object_or_empty(body, "fields", &empty)?;
    let update_in = object_or_empty(body, "update", &empty)?;
    let mut errs = fields::FieldErrors::default();
    let mut resolution = None;
    for (name, v) in fields_in {
        if name == "resolution" && to_done {
            match id_or_key_of(v).and_then(|k| {
                let by_id = v.get("id").is_some();
                catalog::RESOLUTIONS.iter().find(|r| if by_id { r.id == k } else { r.name == k })
            }) {
                Some(r) => resolution = Some(r),
                None => errs.add("resolution", "Could not find valid 'id' or 'name' in resolution object."),
            }
        } else {
            errs.add(name, not_on_screen(name));
        }
    }
    let mut comment_body = None;
    for (name, ops) in update_in {
        if name == "comment" {
            let body =
                ops.as_array().and_then(|a| a.first()).and_then(|op| op.get("add")).and_then(|add| add.get("body"));
            match body {
                Some(b) if adf::validate(b).is_ok() => comment_body = Some(b.clone()),
                Some(_) => errs.add("comment", "Comment body is not valid!"),
                None => errs.add("comment", "Comment body can not be empty!"),
            }
        } else {
            errs.add(name, not_on_screen(name));
        }
    }
    if !errs.is_empty() {
        return Err(errs.into_api_error());
    }

    let old_status = issue.status;
    let old_resolution = issue.resolution;
    issue.status = target;
    if to_done {
        let default = catalog::resolution("Done");
        issue.resolution = resolution.or(default);
        issue.resolution_date = Some(ctx.now);
    } else {
        issue.resolution = None;
        issue.resolution_date = None;
    }
    if old_status.category != target.category {
        issue.status_category_changed = ctx.now;
    }
    issue.updated = ctx.now;
    let mut items = Vec::new();
    if old_resolution != issue.resolution {
        items.push(ChangeItem::jira(
            "resolution",
            old_resolution.map(|r| r.id.to_owned()),
            old_resolution.map(|r| r.name.to_owned()),
            issue.resolution.map(|r| r.id.to_owned()),
            issue.resolution.map(|r| r.name.to_owned()),
        ));
    }
    items.push(ChangeItem::jira(
        "status",
        Some(old_status.id.into()),
        Some(old_status.name.into()),
        Some(target.id.into()),
        Some(target.name.into()),
    ));
    let comment = comment_body.map(|b| new_comment(store, ctx, b, None));
    if let Some(c) = &comment {
        issue.comments.push(c.clone());
    }
    store.issues.insert(id, issue.clone());
    let clid = store.next_changelog_id();
    ev.issue_event(
        store,
        ctx.base,
        "jira:issue_updated",
        "issue_generic",
        ctx.actor,
        &issue,
        Some((clid, &items)),
        comment.as_ref(),
    );
    if let Some(c) = &comment {
        ev.comment_event(store, ctx.base, "comment_created", &issue, c);
    }
    Ok(())
}

fn new_comment(store: &mut Store, ctx: &Ctx<'_>, body: Value, visibility: Option<Value>) -> Comment {
    let id = store.next_comment_id;
    store.next_comment_id += 1;
    Comment {
        id,
        author: ctx.actor.to_owned(),
        update_author: ctx.actor.to_owned(),
        body,
        created: ctx.now,
        updated: ctx.now,
        visibility,
    }
}

fn comment_body(body: &Value) -> Result<(Value, Option<Value>), ApiError> {
    let b = match body.get("body") {
        None | Some(Value::Null) => return Err(ApiError::field("comment", "Comment body can not be empty!")),
        Some(b) => b,
    };
    if let Err(e) = adf::validate(b) {
        return Err(ApiError::field("comment", "Comment body is not valid!").with_detail(&format!("body: {e}")));
    }
    let visibility = body.get("visibility").filter(|v| !v.is_null()).cloned();
    if let Some(v) = &visibility {
        let ty = v.get("type").and_then(Value::as_str);
        if !matches!(ty, Some("role" | "group")) {
            return Err(ApiError::field("visibility", "Visibility type must be 'role' or 'group'."));
        }
    }
    Ok((b.clone(), visibility))
}

fn comment_not_found(id: &str) -> ApiError {
    ApiError::message(StatusCode::NOT_FOUND, format!("Can not find a comment for the id: {id}."))
}

/// `POST /issue/{idOrKey}/comment`; returns (issue id, comment id).
pub(crate) fn add_comment(
    store: &mut Store,
    ev: &mut Events,
    ctx: &Ctx<'_>,
    id_or_key: &str,
    body: &Value,
) -> Result<(u64, u64), ApiError> {
    let id = store.issue_id(id_or_key).ok_or_else(ApiError::issue_not_found)?;
    let (b, visibility) = comment_body(body)?;
    let c = new_comment(store, ctx, b, visibility);
    let Some(issue) = store.issues.get_mut(&id) else {
        return Err(ApiError::issue_not_found());
    };
    issue.comments.push(c.clone());
    issue.updated = ctx.now;
    let issue = issue.clone();
    ev.comment_event(store, ctx.base, "comment_created", &issue, &c);
    ev.issue_event(store, ctx.base, "jira:issue_updated", "issue_commented", ctx.actor, &issue, None, Some(&c));
    Ok((id, c.id))
}

/// `PUT /issue/{idOrKey}/comment/{id}`.
pub(crate) fn update_comment(
    store: &mut Store,
    ev: &mut Events,
    ctx: &Ctx<'_>,
    id_or_key: &str,
    comment_id: &str,
    body: &Value,
) -> Result<(u64, u64), ApiError> {
    let id = store.issue_id(id_or_key).ok_or_else(ApiError::issue_not_found)?;
    let (b, visibility) = comment_body(body)?;
    let Some(issue) = store.issues.get_mut(&id) else {
        return Err(ApiError::issue_not_found());
    };
    let c = issue
        .comments
        .iter_mut()
        .find(|c| c.id.to_string() == comment_id)
        .ok_or_else(|| comment_not_found(comment_id))?;
    c.body = b;
    if visibility.is_some() {
        c.visibility = visibility;
    }
    c.update_author = ctx.actor.to_owned();
    c.updated = ctx.now;
    let c = c.clone();
    issue.updated = ctx.now;
    let issue = issue.clone();
    ev.comment_event(store, ctx.base, "comment_updated", &issue, &c);
    ev.issue_event(store, ctx.base, "jira:issue_updated", "issue_comment_edited", ctx.actor, &issue, None, Some(&c));
    Ok((id, c.id))
}

/// `DELETE /issue/{idOrKey}/comment/{id}`.
pub(crate) fn delete_comment(
    store: &mut Store,
    ev: &mut Events,
    ctx: &Ctx<'_>,
    id_or_key: &str,
    comment_id: &str,
) -> Result<(), ApiError> {
    let id = store.issue_id(id_or_key).ok_or_else(ApiError::issue_not_found)?;
    let Some(issue) = store.issues.get_mut(&id) else {
        return Err(ApiError::issue_not_found());
    };
    let pos = issue
        .comments
        .iter()
        .position(|c| c.id.to_string() == comment_id)
        .ok_or_else(|| comment_not_found(comment_id))?;
    let c = issue.comments.remove(pos);
    issue.updated = ctx.now;
    let issue = issue.clone();
    ev.comment_event(store, ctx.base, "comment_deleted", &issue, &c);
    ev.issue_event(store, ctx.base, "jira:issue_updated", "issue_comment_deleted", ctx.actor, &issue, None, None);
    Ok(())
}

/// `POST /issueLink`: `inwardIssue` is the link's source and `outwardIssue`
/// its destination, so `{"type":{"name":"Blocks"},"inwardIssue":{"key":"A"},
/// "outwardIssue":{"key":"B"}}` means "A blocks B". Linking the same pair
/// with the same type again creates nothing and still succeeds, as in Jira.
/// An optional `comment` is added to the source issue. Returns the link id.
pub(crate) fn link_issues(store: &mut Store, ev: &mut Events, ctx: &Ctx<'_>, body: &Value) -> Result<u64, ApiError> {
    let body = body.as_object().ok_or_else(|| {
        ApiError::bad_request("Can not deserialize instance of LinkIssueRequestJsonBean out of non-object token")
    })?;
    // Which sub-key names the thing: the first of `keys` that is a string or number.
    let reference = |field: &str, keys: &[&str]| -> Option<(bool, String)> {
        let o = body.get(field)?.as_object()?;
        keys.iter().enumerate().find_map(|(i, k)| id_text(o.get(*k)).map(|v| (i == 0, v)))
    };
    let link_type = reference("type", &["id", "name"]);
    let inward = reference("inwardIssue", &["id", "key"]);
    let outward = reference("outwardIssue", &["id", "key"]);
    let mut missing = Vec::new();
    if link_type.is_none() {
        missing.push("Issue link type is required: give its 'id' or 'name'.".to_owned());
    }
    for (field, v) in [("inwardIssue", &inward), ("outwardIssue", &outward)] {
        if v.is_none() {
            missing.push(format!("'{field}' is required: give the issue's 'key' or 'id'."));
        }
    }
    let (Some((type_by_id, type_ref)), Some((_, inward)), Some((_, outward))) = (link_type, inward, outward) else {
        let mut e = ApiError::bad_request("");
        e.messages = missing;
        return Err(e);
    };
    let source = store.issue_id(&inward).ok_or_else(ApiError::issue_not_found)?;
    let destination = store.issue_id(&outward).ok_or_else(ApiError::issue_not_found)?;
    let link_type = if type_by_id {
        catalog::ISSUE_LINK_TYPES.iter().find(|t| t.id == type_ref)
    } else {
        catalog::ISSUE_LINK_TYPES.iter().find(|t| t.name == type_ref)
    }
    .ok_or_else(|| {
        let by = if type_by_id { "id" } else { "name" };
        ApiError::message(StatusCode::NOT_FOUND, format!("No issue link type with {by} '{type_ref}' found."))
    })?;
    let comment = body.get("comment").filter(|c| !c.is_null());
    if let Some(c) = comment {
        comment_body(c)?;
    }
    let existing = store
        .links
        .values()
        .find(|l| l.link_type.id == link_type.id && l.source == source && l.destination == destination)
        .map(|l| l.id);
    let id = existing.unwrap_or_else(|| {
        let id = store.next_link_id;
        store.next_link_id += 1;
        store.links.insert(id, IssueLink { id, link_type, source, destination });
        id
    });
    if let Some(c) = comment {
        add_comment(store, ev, ctx, &source.to_string(), c)?;
    }
    Ok(id)
}

fn id_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `DELETE /issue/{idOrKey}`. Children of a deleted epic lose their parent.
pub(crate) fn delete_issue(store: &mut Store, ev: &mut Events, ctx: &Ctx<'_>, id_or_key: &str) -> Result<(), ApiError> {
    let id = store.issue_id(id_or_key).ok_or_else(ApiError::issue_not_found)?;
    let Some(issue) = store.issues.get(&id).cloned() else {
        return Err(ApiError::issue_not_found());
    };
    // The event is built first: it shows the issue as it was.
    ev.issue_deleted(store, ctx.base, ctx.actor, &issue);
    store.issues.remove(&id);
    store.links.retain(|_, l| l.source != id && l.destination != id);
    for child in store.issues.values_mut().filter(|i| i.parent == Some(id)) {
        child.parent = None;
    }
    Ok(())
}

/// Applies changes and returns the changelog items, in Jira's field order.
fn apply(store: &Store, issue: &mut Issue, ch: &Changes) -> Vec<ChangeItem> {
    let mut items = Vec::new();
    if let Some(new) = &ch.assignee
        && *new != issue.assignee
    {
        items.push(user_item(store, "assignee", issue.assignee.as_deref(), new.as_deref()));
        issue.assignee.clone_from(new);
    }
    if let Some(new) = &ch.components {
        let added: Vec<u64> = new.iter().filter(|c| !issue.components.contains(c)).copied().collect();
        let removed: Vec<u64> = issue.components.iter().filter(|c| !new.contains(c)).copied().collect();
        for c in removed {
            let mut it = ChangeItem::jira("Component", Some(c.to_string()), store.component_name(issue, c), None, None);
            it.field_id = "components".into();
            items.push(it);
        }
        for c in added {
            let mut it = ChangeItem::jira("Component", None, None, Some(c.to_string()), store.component_name(issue, c));
            it.field_id = "components".into();
            items.push(it);
        }
        issue.components.clone_from(new);
    }
    for (field, new) in &ch.custom {
        let old = issue.custom.get(field).cloned();
        if old.as_ref() == new.as_ref() {
            continue;
        }
        let Some(def) = catalog::custom_field(field) else { continue };
        let ids = |v: &Option<CustomValue>| match v {
            Some(CustomValue::Option(id)) => Some((*id).to_owned()),
            Some(CustomValue::Options(ids)) => Some(ids.join(",")),
            _ => None,
        };
        let from_string = issue.custom_display(field);
        match new {
            Some(v) => {
                issue.custom.insert(def.id, v.clone());
            }
            None => {
                issue.custom.remove(def.id);
            }
        }
        let to_string = issue.custom_display(field);
        items.push(ChangeItem {
            field: def.name.to_owned(),
            fieldtype: "custom",
            field_id: def.id.to_owned(),
            from: ids(&old),
            from_string,
            to: ids(new),
            to_string,
            account_ids: None,
        });
    }
    if let Some(new) = &ch.description
        && *new != issue.description
    {
        items.push(ChangeItem::jira(
            "description",
            None,
            issue.description.as_ref().map(adf::to_wiki),
            None,
            new.as_ref().map(adf::to_wiki),
        ));
        issue.description.clone_from(new);
    }
    if let Some(new) = &ch.duedate
        && *new != issue.duedate
    {
        let fmt = |d: &Option<chrono::NaiveDate>| d.map(|d| d.format("%Y-%m-%d").to_string());
        items.push(ChangeItem::jira("duedate", fmt(&issue.duedate), fmt(&issue.duedate), fmt(new), fmt(new)));
        issue.duedate = *new;
    }
    if let Some(new) = &ch.parent
        && *new != issue.parent
    {
        let key = |id: Option<u64>| id.and_then(|id| store.issues.get(&id)).map(|i| i.key.clone());
        let mut it = ChangeItem::jira(
            "IssueParentAssociation",
            issue.parent.map(|p| p.to_string()),
            key(issue.parent),
            new.map(|p| p.to_string()),
            key(*new),
        );
        it.field_id = "parent".into();
        items.push(it);
        issue.parent = *new;
    }
    if let Some(new) = &ch.labels
        && *new != issue.labels
    {
        items.push(ChangeItem::jira("labels", None, Some(issue.labels.join(" ")), None, Some(new.join(" "))));
        issue.labels.clone_from(new);
    }
    if let Some(new) = ch.priority
        && new != issue.priority
    {
        items.push(ChangeItem::jira(
            "priority",
            Some(issue.priority.id.into()),
            Some(issue.priority.name.into()),
            Some(new.id.into()),
            Some(new.name.into()),
        ));
        issue.priority = new;
    }
    if let Some(new) = &ch.reporter
        && *new != issue.reporter
    {
        items.push(user_item(store, "reporter", issue.reporter.as_deref(), new.as_deref()));
        issue.reporter.clone_from(new);
    }
    if let Some(new) = &ch.summary
        && *new != issue.summary
    {
        items.push(ChangeItem::jira("summary", None, Some(issue.summary.clone()), None, Some(new.clone())));
        issue.summary.clone_from(new);
    }
    items
}

fn user_item(store: &Store, field: &str, from: Option<&str>, to: Option<&str>) -> ChangeItem {
    let name = |id: Option<&str>| id.and_then(|id| store.account(id)).map(|a| a.display_name.clone());
    let mut it = ChangeItem::jira(field, from.map(str::to_owned), name(from), to.map(str::to_owned), name(to));
    it.account_ids = Some((from.map(str::to_owned), to.map(str::to_owned)));
    it
}

/// The changelog of `jira:issue_created`: every value the issue starts with.
fn created_items(store: &Store, issue: &Issue) -> Vec<ChangeItem> {
    let mut items = Vec::new();
    if issue.assignee.is_some() {
        items.push(user_item(store, "assignee", None, issue.assignee.as_deref()));
    }
    for c in &issue.components {
        let mut it = ChangeItem::jira("Component", None, None, Some(c.to_string()), store.component_name(issue, *c));
        it.field_id = "components".into();
        items.push(it);
    }
    for (field, v) in &issue.custom {
        let Some(def) = catalog::custom_field(field) else { continue };
        let to = match v {
            CustomValue::Option(id) => Some((*id).to_owned()),
            CustomValue::Options(ids) => Some(ids.join(",")),
            CustomValue::Number(_) | CustomValue::Text(_) => None,
        };
        items.push(ChangeItem {
            field: def.name.to_owned(),
            fieldtype: "custom",
            field_id: def.id.to_owned(),
            from: None,
            from_string: None,
            to,
            to_string: issue.custom_display(field),
            account_ids: None,
        });
    }
    items.push(ChangeItem::jira(
        "description",
        None,
        None,
        None,
        Some(issue.description.as_ref().map(adf::to_wiki).unwrap_or_default()),
    ));
    if let Some(d) = issue.duedate {
        let s = d.format("%Y-%m-%d").to_string();
        items.push(ChangeItem::jira("duedate", None, None, Some(s.clone()), Some(s)));
    }
    if !issue.labels.is_empty() {
        items.push(ChangeItem::jira("labels", None, None, None, Some(issue.labels.join(" "))));
    }
    if let Some(p) = issue.parent {
        let mut it = ChangeItem::jira(
            "IssueParentAssociation",
            None,
            None,
            Some(p.to_string()),
            store.issues.get(&p).map(|i| i.key.clone()),
        );
        it.field_id = "parent".into();
        items.push(it);
    }
    items.push(ChangeItem::jira(
        "priority",
        None,
        None,
        Some(issue.priority.id.into()),
        Some(issue.priority.name.into()),
    ));
    if issue.reporter.is_some() {
        items.push(user_item(store, "reporter", None, issue.reporter.as_deref()));
    }
    let mut status =
        ChangeItem::jira("Status", None, None, Some(issue.status.id.into()), Some(issue.status.name.into()));
    status.field_id = "status".into();
    items.push(status);
    items.push(ChangeItem::jira("summary", None, None, None, Some(issue.summary.clone())));
    items
}
