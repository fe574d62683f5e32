//! Webhook payloads in the REST v2 representation Jira Cloud sends:
//! `timestamp` (epoch ms), `webhookEvent`, `issue_event_type_name`, `user`,
//! `issue`, `changelog` and `comment`, shaped like the real captures.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::model::{Comment, Issue, Store};
use crate::repr::Repr;

/// One changelog item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChangeItem {
    pub field: String,
    pub fieldtype: &'static str,
    pub field_id: String,
    pub from: Option<String>,
    pub from_string: Option<String>,
    pub to: Option<String>,
    pub to_string: Option<String>,
    /// Account ids of user changes, which Cloud payloads also carry.
    pub account_ids: Option<(Option<String>, Option<String>)>,
}

impl ChangeItem {
    pub(crate) fn jira(
        field: &str,
        from: Option<String>,
        from_string: Option<String>,
        to: Option<String>,
        to_string: Option<String>,
    ) -> Self {
        Self {
            field: field.to_owned(),
            fieldtype: "jira",
            field_id: field.to_owned(),
            from,
            from_string,
            to,
            to_string,
            account_ids: None,
        }
    }

    pub(crate) fn json(&self) -> Value {
        let mut v = json!({
            "field": self.field,
            "fieldtype": self.fieldtype,
            "fieldId": self.field_id,
            "from": self.from,
            "fromString": self.from_string,
            "to": self.to,
            "toString": self.to_string,
        });
        if let Some((from, to)) = &self.account_ids {
            v["tmpFromAccountId"] = json!(from);
            v["tmpToAccountId"] = json!(to);
        }
        v
    }
}

/// An event waiting to be routed to the matching webhooks.
#[derive(Debug, Clone)]
pub(crate) struct PendingEvent {
    pub name: &'static str,
    /// The issue as it is when the event fires; JQL filters run against it.
    pub issue: Issue,
    pub payload: Value,
}

/// Collects the events of one operation.
#[derive(Debug)]
pub(crate) struct Events {
    pub timestamp: i64,
    pub items: Vec<PendingEvent>,
}

impl Events {
    pub(crate) fn new(now: DateTime<Utc>) -> Self {
        Self { timestamp: now.timestamp_millis(), items: Vec::new() }
    }

    /// `jira:issue_created`, `jira:issue_updated`: full v2 issue, the acting user, and
    /// a changelog and/or comment.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn issue_event(
        &mut self,
        store: &Store,
        base: &str,
        name: &'static str,
        type_name: &str,
        actor: &str,
        issue: &Issue,
        changelog: Option<(u64, &[ChangeItem])>,
        comment: Option<&Comment>,
    ) {
        let r = Repr::v2(base);
        let mut payload = json!({
            "timestamp": self.timestamp,
            "webhookEvent": name,
            "issue_event_type_name": type_name,
            "user": r.user_ref(store, Some(actor)),
            "issue": r.issue(store, issue, &crate::repr::FieldSelector::parse([], true)),
        });
        if let Some((id, items)) = changelog {
            payload["changelog"] = json!({
                "id": id.to_string(),
                "items": items.iter().map(ChangeItem::json).collect::<Vec<_>>(),
            });
        }
        if let Some(c) = comment {
            payload["comment"] = r.comment(store, issue.id, c);
        }
        strip_issue_expand(&mut payload);
        self.items.push(PendingEvent { name, issue: issue.clone(), payload });
    }

    /// `jira:issue_deleted`: the issue as it was, the acting user, no event type name.
    pub(crate) fn issue_deleted(&mut self, store: &Store, base: &str, actor: &str, issue: &Issue) {
        let r = Repr::v2(base);
        let mut payload = json!({
            "timestamp": self.timestamp,
            "webhookEvent": "jira:issue_deleted",
            "user": r.user_ref(store, Some(actor)),
            "issue": r.issue(store, issue, &crate::repr::FieldSelector::parse([], true)),
        });
        strip_issue_expand(&mut payload);
        self.items.push(PendingEvent { name: "jira:issue_deleted", issue: issue.clone(), payload });
    }

    /// `comment_created|updated|deleted`: the comment and an issue stub, no `user`.
    pub(crate) fn comment_event(
        &mut self,
        store: &Store,
        base: &str,
        name: &'static str,
        issue: &Issue,
        comment: &Comment,
    ) {
        let r = Repr::v2(base);
        let payload = json!({
            "timestamp": self.timestamp,
            "webhookEvent": name,
            "comment": r.comment(store, issue.id, comment),
            "issue": r.issue_stub(store, issue),
        });
        self.items.push(PendingEvent { name, issue: issue.clone(), payload });
    }
}

/// Webhook issues carry no `expand` key (unlike REST responses).
fn strip_issue_expand(payload: &mut Value) {
    if let Some(issue) = payload.get_mut("issue").and_then(Value::as_object_mut) {
        issue.remove("expand");
    }
}
