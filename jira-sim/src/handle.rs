//! [`SimHandle`]: the test-facing API: seed, inspect, act as a person,
//! inject faults, count requests, and steer webhook deliveries.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use crate::adf;
use crate::catalog;
use crate::config::{Account, ProjectSeed, WebhookSpec};
use crate::error::{ApiError, SimError};
use crate::faults::{Fault, FaultRule, RandomFaults, RequestRecord};
use crate::model::{Issue, Store};
use crate::ops;
use crate::repr::{FieldSelector, Repr};
use crate::state::Core;
use crate::webhooks::{self, DeliveryRecord, ReleaseOrder, WebhookInfo};

/// Rich text for comments and descriptions written through the handle:
/// plain text (one paragraph per line) or an ADF document.
#[derive(Debug, Clone, PartialEq)]
pub enum RichText {
    /// Plain text.
    Text(String),
    /// An ADF document, sent as is (so invalid ADF is rejected like Jira does).
    Adf(Value),
}

impl RichText {
    fn into_adf(self) -> Value {
        match self {
            Self::Text(t) => adf::from_text(&t),
            Self::Adf(v) => v,
        }
    }
}

impl From<&str> for RichText {
    fn from(s: &str) -> Self {
        Self::Text(s.to_owned())
    }
}

impl From<String> for RichText {
    fn from(s: String) -> Self {
        Self::Text(s)
    }
}

impl From<Value> for RichText {
    fn from(v: Value) -> Self {
        match v {
            Value::String(s) => Self::Text(s),
            other => Self::Adf(other),
        }
    }
}

/// A comment as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CommentView {
    /// Numeric string id.
    pub id: String,
    /// Author account id.
    pub author: String,
    /// Account id of the last editor.
    pub update_author: String,
    /// ADF body.
    pub body: Value,
    /// The body as plain text.
    pub text: String,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Last update time.
    pub updated: DateTime<Utc>,
}

/// One link of an issue, seen from that issue (as in its `fields.issuelinks`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IssueLinkView {
    /// Numeric string id of the link.
    pub id: String,
    /// Link type name, e.g. `Duplicate`.
    pub link_type: String,
    /// `"outward"` when this issue is the link's source (the entry carries
    /// `outwardIssue`: "this issue duplicates `other_key`"), `"inward"` when
    /// it is the destination (`inwardIssue`: "this issue is duplicated by `other_key`").
    pub direction: String,
    /// The phrase of that direction, e.g. `duplicates` or `is duplicated by`.
    pub relation: String,
    /// Key of the issue at the other end.
    pub other_key: String,
}

/// An issue as stored, in simple types.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IssueView {
    /// Numeric string id.
    pub id: String,
    /// `KEY-n`.
    pub key: String,
    /// Project key.
    pub project_key: String,
    /// Issue type name.
    pub issue_type: String,
    /// Summary.
    pub summary: String,
    /// ADF description.
    pub description: Option<Value>,
    /// Status name.
    pub status: String,
    /// Status category key: `new`, `indeterminate` or `done`.
    pub status_category: String,
    /// Resolution name.
    pub resolution: Option<String>,
    /// Priority name.
    pub priority: String,
    /// Labels.
    pub labels: Vec<String>,
    /// Component names.
    pub components: Vec<String>,
    /// Assignee account id.
    pub assignee: Option<String>,
    /// Reporter account id.
    pub reporter: Option<String>,
    /// Parent issue key.
    pub parent: Option<String>,
    /// Custom field values in the REST v3 shape, keyed by `customfield_N`.
    pub custom_fields: BTreeMap<String, Value>,
    /// Entity properties set at creation.
    pub properties: BTreeMap<String, Value>,
    /// Comments, oldest first.
    pub comments: Vec<CommentView>,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Last update time.
    pub updated: DateTime<Utc>,
}

fn view(store: &Store, base: &str, i: &Issue) -> IssueView {
    let r = Repr::v3(base);
    let fields = r.issue_fields(store, i);
    IssueView {
        id: i.id.to_string(),
        key: i.key.clone(),
        project_key: store.project(i.project_id).map(|p| p.key.clone()).unwrap_or_default(),
        issue_type: i.issue_type.name.to_owned(),
        summary: i.summary.clone(),
        description: i.description.clone(),
        status: i.status.name.to_owned(),
        status_category: i.status.category.key.to_owned(),
        resolution: i.resolution.map(|r| r.name.to_owned()),
        priority: i.priority.name.to_owned(),
        labels: i.labels.clone(),
        components: i.components.iter().filter_map(|c| store.component_name(i, *c)).collect(),
        assignee: i.assignee.clone(),
        reporter: i.reporter.clone(),
        parent: i.parent.and_then(|p| store.issues.get(&p)).map(|p| p.key.clone()),
        custom_fields: catalog::CUSTOM_FIELDS
            .iter()
            .filter(|d| i.custom.contains_key(d.id))
            .filter_map(|d| fields.get(d.id).map(|v| (d.id.to_owned(), v.clone())))
            .collect(),
        properties: i.properties.clone(),
        comments: i
            .comments
            .iter()
            .map(|c| CommentView {
                id: c.id.to_string(),
                author: c.author.clone(),
                update_author: c.update_author.clone(),
                body: c.body.clone(),
                text: adf::plain_text(&c.body),
                created: c.created,
                updated: c.updated,
            })
            .collect(),
        created: i.created,
        updated: i.updated,
    }
}

/// Cheap, cloneable handle on a running simulator's state.
#[derive(Clone)]
pub struct SimHandle {
    pub(crate) core: Arc<Core>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle").field("base_url", &self.core.base).finish()
    }
}

impl SimHandle {
    /// Base URL, e.g. `http://127.0.0.1:41234` (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.core.base
    }

    /// The simulated current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.core.clock.now()
    }

    /// Moves the simulated clock forward (timestamps, JQL relative dates).
    pub fn advance_clock(&self, by: Duration) {
        if let Ok(d) = chrono::Duration::from_std(by) {
            self.core.clock.advance(d);
        }
    }

    // ------------------------------------------------------------ seeding

    /// All accounts.
    pub fn accounts(&self) -> Vec<Account> {
        self.core.store().accounts.clone()
    }

    /// Adds an account (replacing one with the same account id).
    pub fn add_account(&self, account: Account) {
        let mut store = self.core.store();
        store.accounts.retain(|a| a.account_id != account.account_id);
        store.accounts.push(account);
    }

    /// Sets or (with `None`) revokes the API token of an account, to test
    /// expired or revoked tokens.
    pub fn set_api_token(&self, who: &str, token: Option<&str>) -> Result<(), SimError> {
        let mut store = self.core.store();
        let a = store
            .accounts
            .iter_mut()
            .find(|a| a.account_id == who || a.email.eq_ignore_ascii_case(who))
            .ok_or_else(|| SimError::UnknownAccount(who.to_owned()))?;
        a.api_token = token.map(str::to_owned);
        Ok(())
    }

    /// Adds a project; returns its id.
    pub fn add_project(&self, seed: ProjectSeed) -> String {
        self.core.store().add_project(&seed).to_string()
    }

    // ------------------------------------------------------------ inspection

    /// One issue by id or key.
    pub fn issue(&self, id_or_key: &str) -> Option<IssueView> {
        let store = self.core.store();
        store.issue(id_or_key).map(|i| view(&store, &self.core.base, i))
    }

    /// All issues, oldest first.
    pub fn issues(&self) -> Vec<IssueView> {
        let store = self.core.store();
        store.issues.values().map(|i| view(&store, &self.core.base, i)).collect()
    }

    /// Issues carrying `label`, oldest first.
    pub fn issues_with_label(&self, label: &str) -> Vec<IssueView> {
        let store = self.core.store();
        store
            .issues
            .values()
            .filter(|i| i.labels.iter().any(|l| l == label))
            .map(|i| view(&store, &self.core.base, i))
            .collect()
    }

    /// Number of issues.
    pub fn issue_count(&self) -> usize {
        self.core.store().issues.len()
    }

    /// The issue exactly as `GET /rest/api/3/issue/{key}` returns it.
    pub fn issue_json(&self, id_or_key: &str) -> Option<Value> {
        let store = self.core.store();
        let i = store.issue(id_or_key)?;
        Some(Repr::v3(&self.core.base).issue(&store, i, &FieldSelector::parse([], true)))
    }

    /// Links of an issue, oldest first (empty if the issue does not exist).
    /// After `POST /issueLink` with `{"type":{"name":"Duplicate"},
    /// "inwardIssue":{"key":"SIM-2"},"outwardIssue":{"key":"SIM-1"}}`,
    /// `issue_links("SIM-2")` has `("Duplicate", "outward", "SIM-1")` and
    /// `issue_links("SIM-1")` has `("Duplicate", "inward", "SIM-2")`.
    pub fn issue_links(&self, id_or_key: &str) -> Vec<IssueLinkView> {
        let store = self.core.store();
        let Some(id) = store.issue_id(id_or_key) else {
            return Vec::new();
        };
        store
            .links_of(id)
            .filter_map(|l| {
                let (direction, relation, other) = if l.source == id {
                    ("outward", l.link_type.outward, l.destination)
                } else {
                    ("inward", l.link_type.inward, l.source)
                };
                Some(IssueLinkView {
                    id: l.id.to_string(),
                    link_type: l.link_type.name.to_owned(),
                    direction: direction.to_owned(),
                    relation: relation.to_owned(),
                    other_key: store.issues.get(&other)?.key.clone(),
                })
            })
            .collect()
    }

    /// Comments of an issue (empty if the issue does not exist).
    pub fn comments(&self, id_or_key: &str) -> Vec<CommentView> {
        self.issue(id_or_key).map(|i| i.comments).unwrap_or_default()
    }

    // ------------------------------------------------------------ acting as a person

    fn actor(&self, who: &str) -> Result<String, SimError> {
        self.core
            .store()
            .find_account(who)
            .map(|a| a.account_id.clone())
            .ok_or_else(|| SimError::UnknownAccount(who.to_owned()))
    }

    fn act<T>(
        &self,
        who: &str,
        f: impl FnOnce(&mut Store, &mut crate::events::Events, &ops::Ctx<'_>) -> Result<T, ApiError>,
    ) -> Result<T, SimError> {
        let actor = self.actor(who)?;
        self.core.mutate(&actor, f).map_err(SimError::Jira)
    }

    /// Creates an issue as `who` (account id or email) from a `fields` object,
    /// with the same validation as `POST /issue`.
    pub fn create_issue(&self, who: &str, fields: Value) -> Result<IssueView, SimError> {
        let body = json!({ "fields": fields });
        let created = self.act(who, |s, e, c| ops::create_issue(s, e, c, &body))?;
        self.issue(&created.key).ok_or_else(|| SimError::Jira(ApiError::issue_not_found()))
    }

    /// Transitions an issue as `who`. `to` is a transition id (`"31"`), a
    /// transition name (`"Reopen"`) or a target status name (`"Done"`);
    /// `resolution` names the resolution when the target is Done.
    pub fn transition(&self, who: &str, issue: &str, to: &str, resolution: Option<&str>) -> Result<(), SimError> {
        let tid = {
            let store = self.core.store();
            let current = store.issue(issue).map(|i| i.status.id);
            current
                .and_then(|s| {
                    catalog::transitions_from(s).find(|t| {
                        t.id == to
                            || t.name.eq_ignore_ascii_case(to)
                            || catalog::status(t.to).is_some_and(|st| st.name.eq_ignore_ascii_case(to))
                    })
                })
                .map_or_else(|| to.to_owned(), |t| t.id.to_owned())
        };
        let mut body = json!({ "transition": { "id": tid } });
        if let Some(r) = resolution {
            body["fields"] = json!({ "resolution": { "name": r } });
        }
        self.act(who, |s, e, c| ops::transition_issue(s, e, c, issue, &body))
    }

    /// Adds a comment as `who`; returns the comment id.
    pub fn add_comment(&self, who: &str, issue: &str, body: impl Into<RichText>) -> Result<String, SimError> {
        let body = json!({ "body": body.into().into_adf() });
        let (_, cid) = self.act(who, |s, e, c| ops::add_comment(s, e, c, issue, &body))?;
        Ok(cid.to_string())
    }

    /// Edits a comment as `who`.
    pub fn edit_comment(
        &self,
        who: &str,
        issue: &str,
        comment_id: &str,
        body: impl Into<RichText>,
    ) -> Result<(), SimError> {
        let body = json!({ "body": body.into().into_adf() });
        self.act(who, |s, e, c| ops::update_comment(s, e, c, issue, comment_id, &body)).map(|_| ())
    }

    /// Deletes a comment as `who`.
    pub fn delete_comment(&self, who: &str, issue: &str, comment_id: &str) -> Result<(), SimError> {
        self.act(who, |s, e, c| ops::delete_comment(s, e, c, issue, comment_id))
    }

    /// Sets the priority (name or id) as `who`.
    pub fn set_priority(&self, who: &str, issue: &str, priority: &str) -> Result<(), SimError> {
        let p = catalog::priority(priority).map_or_else(|| json!({ "name": priority }), |p| json!({ "id": p.id }));
        self.edit_fields(who, issue, json!({ "priority": p }))
    }

    /// Edits fields as `who`, with the same rules as `PUT /issue/{key}` `fields`.
    pub fn edit_fields(&self, who: &str, issue: &str, fields: Value) -> Result<(), SimError> {
        let body = json!({ "fields": fields });
        self.act(who, |s, e, c| ops::edit_issue(s, e, c, issue, &body)).map(|_| ())
    }

    /// Sends a full `PUT /issue/{key}` body (`fields` and/or `update`) as `who`.
    pub fn edit_issue(&self, who: &str, issue: &str, body: Value) -> Result<(), SimError> {
        self.act(who, |s, e, c| ops::edit_issue(s, e, c, issue, &body)).map(|_| ())
    }

    /// Links two issues as `who`, like `POST /issueLink`: `link_type` is a
    /// type name (`"Duplicate"`), and the link reads "`inward` <outward
    /// phrase> `outward`" ("SIM-2 duplicates SIM-1" for `inward` = SIM-2).
    /// Returns the link id.
    pub fn link_issues(&self, who: &str, link_type: &str, inward: &str, outward: &str) -> Result<String, SimError> {
        let body = json!({
            "type": { "name": link_type },
            "inwardIssue": { "key": inward },
            "outwardIssue": { "key": outward },
        });
        self.act(who, |s, e, c| ops::link_issues(s, e, c, &body)).map(|id| id.to_string())
    }

    /// Deletes an issue as `who`.
    pub fn delete_issue(&self, who: &str, issue: &str) -> Result<(), SimError> {
        self.act(who, |s, e, c| ops::delete_issue(s, e, c, issue))
    }

    // ------------------------------------------------------------ faults and counts

    /// Adds a scripted fault.
    pub fn inject(&self, rule: FaultRule) {
        self.core.faults.add(rule);
    }

    /// Shorthand: the next `n` REST requests get `fault`.
    pub fn fail_next(&self, n: u32, fault: Fault) {
        self.inject(FaultRule::next(n, fault));
    }

    /// Scripted faults not yet used up.
    pub fn pending_faults(&self) -> Vec<FaultRule> {
        self.core.faults.rules()
    }

    /// Removes all scripted faults, random rates and latency.
    pub fn clear_faults(&self) {
        self.core.faults.clear();
    }

    /// Adds a fixed latency to every REST request.
    pub fn set_latency(&self, latency: Duration) {
        self.core.faults.set_latency(latency);
    }

    /// Sets (or clears) seeded random fault rates.
    pub fn set_random_faults(&self, random: Option<RandomFaults>) {
        self.core.faults.set_random(random);
    }

    /// How many requests hit `method` + route template
    /// (e.g. `"POST"`, `"/rest/api/3/issue"` or `"/rest/api/3/issue/{issueIdOrKey}"`).
    pub fn request_count(&self, method: &str, route: &str) -> u64 {
        self.core.requests.count(method, route)
    }

    /// All counts, keyed `"METHOD /route/template"`.
    pub fn request_counts(&self) -> BTreeMap<String, u64> {
        self.core.requests.counts()
    }

    /// Every REST request received, in order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.core.requests.all()
    }

    /// Forgets the request log.
    pub fn reset_request_counts(&self) {
        self.core.requests.clear();
    }

    // ------------------------------------------------------------ webhooks

    /// Registers an admin webhook; returns its id.
    pub fn register_webhook(&self, spec: WebhookSpec) -> Result<u64, SimError> {
        let now = self.core.clock.now();
        let mut store = self.core.store();
        let by = store.accounts.first().map(|a| a.account_id.clone()).unwrap_or_default();
        webhooks::register(&mut store, spec, now, &by).map_err(SimError::Jira)
    }

    /// Registered webhooks.
    pub fn webhooks(&self) -> Vec<WebhookInfo> {
        self.core.store().webhooks.values().map(webhooks::info).collect()
    }

    /// Removes a webhook.
    pub fn remove_webhook(&self, id: u64) -> Result<(), SimError> {
        self.core.store().webhooks.remove(&id).map(|_| ()).ok_or(SimError::UnknownWebhook(id))
    }

    /// Enables or disables a webhook (a disabled one gets nothing).
    pub fn set_webhook_enabled(&self, id: u64, enabled: bool) -> Result<(), SimError> {
        let mut store = self.core.store();
        let w = store.webhooks.get_mut(&id).ok_or(SimError::UnknownWebhook(id))?;
        w.enabled = enabled;
        Ok(())
    }

    /// While on, new deliveries are held instead of sent.
    pub fn hold_deliveries(&self, hold: bool) {
        self.core.dispatcher.set_hold(hold);
    }

    /// Deliveries being held, in the order they were held.
    pub fn held_deliveries(&self) -> Vec<DeliveryRecord> {
        self.core.dispatcher.held()
    }

    /// Sends held deliveries in the given order; returns how many.
    pub fn release_held(&self, order: ReleaseOrder) -> usize {
        self.core.dispatcher.release(&order)
    }

    /// Each of the next `n` deliveries is sent twice, with the same identifier.
    pub fn duplicate_next_deliveries(&self, n: u32) {
        self.core.dispatcher.duplicate_next(n);
    }

    /// The next `n` deliveries (of `event`, if given) are silently lost.
    pub fn drop_next_deliveries(&self, n: u32, event: Option<&str>) {
        self.core.dispatcher.drop_next(n, event.map(str::to_owned));
    }

    /// Sends a past delivery again with the same identifier and body.
    pub fn redeliver(&self, identifier: &str) -> Result<(), SimError> {
        if self.core.dispatcher.redeliver(identifier) {
            Ok(())
        } else {
            Err(SimError::UnknownDelivery(identifier.to_owned()))
        }
    }

    /// Every delivery so far.
    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        self.core.dispatcher.records()
    }

    /// Forgets finished deliveries.
    pub fn clear_deliveries(&self) {
        self.core.dispatcher.clear_records();
    }

    /// Waits until no delivery is being sent or waiting for a retry (held
    /// ones excepted); false on timeout.
    pub async fn wait_for_deliveries(&self, timeout: Duration) -> bool {
        self.core.dispatcher.wait_idle(timeout).await
    }
}
