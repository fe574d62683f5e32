//! Jira webhook deliveries: authenticity check, tolerant parsing and what each one means for the sync.
//!
//! Real deliveries use the REST v2 representation (wiki-markup strings, not ADF, for comment bodies), differ
//! between Cloud and Server, and old ones lack `issue_event_type_name`; see
//! `shared/reference/jira-cloud-api.md` section 8 and the captures next to it. Everything is therefore read from a
//! `serde_json::Value` by hand instead of through strict serde types.
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

type HmacSha256 = Hmac<Sha256>;

/// Verifies a Jira webhook before its body is parsed. `signature_header` is the raw value of
/// `X-Hub-Signature` (format `sha256=<lowercase hex>`, HMAC-SHA256 of the raw body keyed by the secret);
/// `query_secret` is the `?secret=` query value for sites that cannot sign. Either one valid suffices.
/// All comparisons are constant-time. A malformed header, or an empty secret, gives false.
pub fn verify(secret: &[u8], body: &[u8], signature_header: Option<&str>, query_secret: Option<&str>) -> bool {
    // With an empty key anyone can compute the HMAC, and an empty `?secret=` would match: refuse outright.
    if secret.is_empty() {
        return false;
    }
    let signed = signature_header.is_some_and(|header| signature_matches(secret, body, header));
    // Hashed first: a slice comparison of unequal lengths returns early, and would tell the length.
    let shared = query_secret.is_some_and(|given| {
        use sha2::Digest as _;
        bool::from(sha2::Sha256::digest(secret).ct_eq(&sha2::Sha256::digest(given.as_bytes())))
    });
    signed | shared
}

fn signature_matches(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some((algorithm, digest)) = header.trim().split_once('=') else {
        return false;
    };
    if !algorithm.eq_ignore_ascii_case("sha256") {
        return false;
    }
    // `hex` accepts either case; Jira sends lower case, and a proxy that upper-cases it reveals nothing.
    let Ok(expected) = hex::decode(digest) else {
        return false;
    };
    let Ok(mut mac) = HmacSha256::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// The `X-Hub-Signature` value Jira would send for `body`: `sha256=<lowercase hex>`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Why a webhook body was refused. The messages carry no body content, so they can be logged.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Not JSON at all (or truncated).
    #[error("webhook body is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Valid JSON, but not an object.
    #[error("webhook body is not a JSON object")]
    NotAnObject,
    /// A field the event cannot be understood without is absent, empty or of the wrong type.
    #[error("webhook body has no usable `{0}`")]
    Missing(&'static str),
}

/// One parsed delivery. Only what the sync uses is kept; unknown fields are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// From `webhookEvent`.
    pub event: WebhookEvent,
    /// `issue_event_type_name` (absent in old payloads, and on comment and deletion events).
    pub event_type_name: Option<String>,
    /// Top-level `timestamp` (ms since epoch), when Jira emitted the event.
    pub timestamp: Option<DateTime<Utc>>,
    /// Top-level `user`: who caused the event. Comment events usually have none; see the comment's author.
    pub actor: Option<Actor>,
    /// Always present for `jira:issue_*` events; a stub (or absent on Server) for `comment_*` events.
    pub issue: Option<IssueRef>,
    /// `changelog.items`.
    pub changes: Vec<FieldChange>,
    /// Always present for `comment_*` events; on `jira:issue_updated` when the update added or edited one.
    pub comment: Option<CommentRef>,
}

/// The `webhookEvent` value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WebhookEvent {
    IssueCreated,
    IssueUpdated,
    IssueDeleted,
    CommentCreated,
    CommentUpdated,
    CommentDeleted,
    /// Any other event (worklog, sprint, project, ...), by its name.
    Other(String),
}

impl WebhookEvent {
    /// Maps a `webhookEvent` value.
    pub fn from_name(name: &str) -> Self {
        match name {
            "jira:issue_created" => Self::IssueCreated,
            "jira:issue_updated" => Self::IssueUpdated,
            "jira:issue_deleted" => Self::IssueDeleted,
            "comment_created" => Self::CommentCreated,
            "comment_updated" => Self::CommentUpdated,
            "comment_deleted" => Self::CommentDeleted,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The `webhookEvent` value, for logs and metrics.
    pub fn as_str(&self) -> &str {
        match self {
            Self::IssueCreated => "jira:issue_created",
            Self::IssueUpdated => "jira:issue_updated",
            Self::IssueDeleted => "jira:issue_deleted",
            Self::CommentCreated => "comment_created",
            Self::CommentUpdated => "comment_updated",
            Self::CommentDeleted => "comment_deleted",
            Self::Other(name) => name,
        }
    }

    fn is_issue_event(&self) -> bool {
        matches!(self, Self::IssueCreated | Self::IssueUpdated | Self::IssueDeleted)
    }

    fn is_comment_event(&self) -> bool {
        matches!(self, Self::CommentCreated | Self::CommentUpdated | Self::CommentDeleted)
    }
}

/// A Jira user as webhooks show it. Cloud sends `accountId`; Server sends `name` and `key` instead.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Actor {
    /// Cloud `accountId`.
    pub account_id: Option<String>,
    pub display_name: Option<String>,
    /// Server user name (also the `[~name]` mention form there).
    pub name: Option<String>,
    /// Server user key.
    pub key: Option<String>,
}

impl Actor {
    /// The most stable identifier available: `accountId`, else the Server `key`, else the Server `name`.
    pub fn id(&self) -> Option<&str> {
        self.account_id.as_deref().or(self.key.as_deref()).or(self.name.as_deref())
    }
}

/// The issue a delivery is about. `status_*`, `resolution` and `labels` show the state *after* the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRef {
    pub id: String,
    pub key: String,
    pub summary: Option<String>,
    /// `fields.status.id`, which changelog items carry in `from`/`to`.
    pub status_id: Option<String>,
    pub status_name: Option<String>,
    /// `fields.status.statusCategory.key`: "new", "indeterminate", "done" (or "undefined").
    pub status_category: Option<String>,
    /// `fields.resolution.name`; None while unresolved.
    pub resolution: Option<String>,
    pub updated: Option<DateTime<Utc>>,
    /// Empty when absent: comment events carry only an issue stub.
    pub labels: Vec<String>,
}

/// One `changelog.items` entry. Ids and display strings are kept as Jira sent them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldChange {
    /// `fieldId`; absent in Server and old payloads.
    pub field_id: Option<String>,
    /// `field`: a display name ("Status", "Fix Version", a custom field's name), so match on `field_id` first.
    pub field: Option<String>,
    pub from: Option<String>,
    pub from_string: Option<String>,
    pub to: Option<String>,
    pub to_string: Option<String>,
}

impl FieldChange {
    /// Whether this item changes the system field `id` (`status`, `resolution`, ...).
    pub fn is_field(&self, id: &str) -> bool {
        match self.field_id.as_deref().filter(|f| !f.is_empty()) {
            Some(field_id) => field_id == id,
            // Old and Server payloads name system fields only by their display name.
            None => self.field.as_deref().is_some_and(|f| f.trim().eq_ignore_ascii_case(id)),
        }
    }
}

/// A comment as a delivery shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentRef {
    pub id: String,
    /// Plain text from `body` (wiki markup or ADF), mentions rendered without a name lookup.
    pub body: String,
    /// `body` as sent, to render again with [`plain_text_with`] when names can be resolved.
    pub raw_body: Value,
    pub author: Option<Actor>,
    pub update_author: Option<Actor>,
    pub created: Option<DateTime<Utc>>,
    pub updated: Option<DateTime<Utc>>,
}

/// Parses a webhook body (after [`verify`]). Requires `webhookEvent`; issue events also need the issue's id and
/// key, comment events the comment's id. Everything else is optional and read leniently.
pub fn parse(body: &[u8]) -> Result<Webhook, ParseError> {
    let root: Value = serde_json::from_slice(body)?;
    let root = root.as_object().ok_or(ParseError::NotAnObject)?;
    let event = text(root.get("webhookEvent")).ok_or(ParseError::Missing("webhookEvent"))?;
    let event = WebhookEvent::from_name(&event);
    let issue = issue_ref(root.get("issue"));
    if event.is_issue_event() && issue.is_none() {
        return Err(ParseError::Missing("issue"));
    }
    let comment = comment_ref(root.get("comment"));
    if event.is_comment_event() && comment.is_none() {
        return Err(ParseError::Missing("comment"));
    }
    let changes = root
        .get("changelog")
        .and_then(|c| c.get("items"))
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_object).map(field_change).collect())
        .unwrap_or_default();
    Ok(Webhook {
        event,
        event_type_name: text(root.get("issue_event_type_name")),
        timestamp: root.get("timestamp").and_then(epoch_millis),
        actor: actor(root.get("user")),
        issue,
        changes,
        comment,
    })
}

/// What a delivery means for the sync, decided from one parsed webhook. A webhook may carry several.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The issue moved to `status` and/or its resolution changed. `category` is the status category key of
    /// the issue after the change ("done" means closed; anything else after "done" is a reopen).
    StatusChanged {
        status: String,
        category: Option<String>,
        resolution: Option<String>,
    },
    CommentAdded(CommentRef),
    CommentUpdated(CommentRef),
    CommentDeleted {
        id: String,
    },
    IssueDeleted,
}

/// The changes one delivery reports, status first. Issue creation, field edits other than status and
/// resolution, and unknown events give nothing. Comments arriving inside `jira:issue_updated` are reported too,
/// so the same comment may come twice (also as `comment_created`): deduplicate by comment id.
pub fn classify(webhook: &Webhook) -> Vec<Change> {
    match &webhook.event {
        WebhookEvent::IssueDeleted => vec![Change::IssueDeleted],
        WebhookEvent::CommentCreated => webhook.comment.iter().cloned().map(Change::CommentAdded).collect(),
        WebhookEvent::CommentUpdated => webhook.comment.iter().cloned().map(Change::CommentUpdated).collect(),
        WebhookEvent::CommentDeleted => {
            webhook.comment.iter().map(|c| Change::CommentDeleted { id: c.id.clone() }).collect()
        }
        WebhookEvent::IssueUpdated => status_change(webhook).into_iter().chain(embedded_comment(webhook)).collect(),
        // The changelog of a creation lists initial values, not a transition; the creator already knows them.
        WebhookEvent::IssueCreated | WebhookEvent::Other(_) => Vec::new(),
    }
}

fn status_change(webhook: &Webhook) -> Option<Change> {
    // Several items for one field would be odd; if it happens, the last one is the final state.
    let status_item = webhook.changes.iter().rev().find(|c| c.is_field("status"));
    let resolution_item = webhook.changes.iter().rev().find(|c| c.is_field("resolution"));
    if status_item.is_none() && resolution_item.is_none() {
        return None;
    }
    let issue = webhook.issue.as_ref();
    let resolution = resolution_item
        .and_then(|r| non_empty(r.to_string.as_deref()))
        .or_else(|| issue.and_then(|i| i.resolution.clone()));
    let (status, category) = match status_item {
        Some(item) => {
            let status = non_empty(item.to_string.as_deref()).or_else(|| issue.and_then(|i| i.status_name.clone()))?;
            // The category is read from the issue fields, which could show another status than the item
            // (e.g. two transitions in quick succession); a category is only worth reporting with its own status.
            let same_status = issue.is_some_and(|i| {
                (item.to.is_some() && i.status_id == item.to) || i.status_name.as_deref() == Some(status.as_str())
            });
            (status, issue.filter(|_| same_status).and_then(|i| i.status_category.clone()))
        }
        None => {
            let issue = issue?;
            (issue.status_name.clone()?, issue.status_category.clone())
        }
    };
    Some(Change::StatusChanged { status, category, resolution })
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

fn embedded_comment(webhook: &Webhook) -> Option<Change> {
    let comment = webhook.comment.clone()?;
    Some(match webhook.event_type_name.as_deref() {
        Some("issue_commented") => Change::CommentAdded(comment),
        Some("issue_comment_edited") => Change::CommentUpdated(comment),
        Some("issue_comment_deleted") => Change::CommentDeleted { id: comment.id },
        // Old payloads have no event type, and a transition screen can add a comment to `issue_generic` and
        // the like: an edited comment is the only kind whose `updated` differs from `created`.
        _ => match (comment.created, comment.updated) {
            (Some(created), Some(updated)) if updated != created => Change::CommentUpdated(comment),
            _ => Change::CommentAdded(comment),
        },
    })
}

// ---------------------------------------------------------------------------------------------------------------
// Field readers: Jira sends ids as strings or numbers, and nulls or empty strings for "none".

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn epoch_millis(value: &Value) -> Option<DateTime<Utc>> {
    let millis = match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))?,
        Value::String(s) => match s.trim().parse::<i64>() {
            Ok(ms) => ms,
            Err(_) => return jira_time(value),
        },
        _ => return None,
    };
    DateTime::from_timestamp_millis(millis)
}

/// Jira's `2021-01-05T12:34:56.789+0000` (offset without a colon), RFC 3339, or epoch milliseconds.
fn jira_time(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::String(s) => {
            let s = s.trim();
            DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z")
                .or_else(|_| DateTime::parse_from_rfc3339(s))
                .ok()
                .map(|t| t.with_timezone(&Utc))
        }
        Value::Number(_) => epoch_millis(value),
        _ => None,
    }
}

fn actor(value: Option<&Value>) -> Option<Actor> {
    let user = value?.as_object()?;
    let actor = Actor {
        account_id: text(user.get("accountId")),
        display_name: text(user.get("displayName")),
        name: text(user.get("name")),
        key: text(user.get("key")),
    };
    (actor != Actor::default()).then_some(actor)
}

fn issue_ref(value: Option<&Value>) -> Option<IssueRef> {
    let issue = value?.as_object()?;
    let empty = Map::new();
    let fields = issue.get("fields").and_then(Value::as_object).unwrap_or(&empty);
    let status = fields.get("status");
    Some(IssueRef {
        id: text(issue.get("id"))?,
        key: text(issue.get("key"))?,
        summary: text(fields.get("summary")),
        status_id: text(status.and_then(|s| s.get("id"))),
        status_name: text(status.and_then(|s| s.get("name"))),
        status_category: text(status.and_then(|s| s.get("statusCategory")).and_then(|c| c.get("key"))),
        resolution: text(fields.get("resolution").and_then(|r| r.get("name"))),
        updated: fields.get("updated").and_then(jira_time),
        labels: fields
            .get("labels")
            .and_then(Value::as_array)
            .map(|labels| labels.iter().filter_map(|l| text(Some(l))).collect())
            .unwrap_or_default(),
    })
}

fn comment_ref(value: Option<&Value>) -> Option<CommentRef> {
    let comment = value?.as_object()?;
    let raw_body = comment.get("body").cloned().unwrap_or(Value::Null);
    Some(CommentRef {
        id: text(comment.get("id"))?,
        body: plain_text(&raw_body),
        raw_body,
        author: actor(comment.get("author")),
        update_author: actor(comment.get("updateAuthor")),
        created: comment.get("created").and_then(jira_time),
        updated: comment.get("updated").and_then(jira_time),
    })
}

fn field_change(item: &Map<String, Value>) -> FieldChange {
    // Not `text`: an empty `fromString` ("no labels before") is a value here, not an absence.
    let raw = |key: &str| match item.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    FieldChange {
        field_id: raw("fieldId"),
        field: raw("field"),
        from: raw("from"),
        from_string: raw("fromString"),
        to: raw("to"),
        to_string: raw("toString"),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Rich text to plain text.

/// Looks up a display name for a user id (Cloud account id, or Server user name).
pub type NameResolver<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Plain text from a Jira rich-text value: an ADF document (JSON object with type "doc") or a v2
/// wiki-markup string. Markup is dropped, text kept; mentions become `@<id>` (no name lookup, see
/// [`plain_text_with`]); links `[text|url]` become `text (url)`. Never panics.
pub fn plain_text(value: &Value) -> String {
    plain_text_with(value, &|_| None)
}

/// [`plain_text`], rendering mentions as `@<name>` when `resolve` knows the id; otherwise as the ADF mention's
/// own text, or `@<id>`.
pub fn plain_text_with(value: &Value, resolve: NameResolver<'_>) -> String {
    let text = match value {
        Value::String(s) => wiki_text(s, resolve),
        Value::Object(_) | Value::Array(_) => adf_block(value, resolve, 0),
        Value::Number(n) => n.to_string(),
        Value::Bool(_) | Value::Null => String::new(),
    };
    tidy(&text)
}

/// Trailing spaces off every line, at most one blank line in a row, nothing around the whole.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in text.lines() {
        let line = line.trim_end();
        blank_run = if line.is_empty() { blank_run + 1 } else { 0 };
        if blank_run < 2 {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.trim().to_owned()
}

fn mention(id: &str, label: Option<&str>, resolve: NameResolver<'_>) -> String {
    let id = id.trim();
    let id = match id.get(..10) {
        Some(prefix) if prefix.eq_ignore_ascii_case("accountid:") => &id[10..],
        _ => id,
    };
    if let Some(name) = resolve(id).filter(|n| !n.trim().is_empty()) {
        return format!("@{}", name.trim());
    }
    match label.map(str::trim).filter(|l| !l.is_empty()) {
        Some(label) if label.starts_with('@') => label.to_owned(),
        Some(label) => format!("@{label}"),
        None => format!("@{id}"),
    }
}

// ADF ----------------------------------------------------------------------------------------------------------

/// Deeper documents are cut off rather than risking the stack on a hostile or broken value.
const MAX_DEPTH: usize = 64;

fn adf_block(node: &Value, resolve: NameResolver<'_>, depth: usize) -> String {
    if depth > MAX_DEPTH {
        return String::new();
    }
    let children = |sep: &str| adf_children(node, resolve, depth, sep);
    let Some(obj) = node.as_object() else {
        // A bare array of nodes, as some callers store `content` alone.
        return match node.as_array() {
            Some(nodes) => join_nonempty(nodes.iter().map(|n| adf_block(n, resolve, depth + 1)), "\n\n"),
            None => String::new(),
        };
    };
    let attr = |name: &str| obj.get("attrs").and_then(|a| a.get(name));
    match obj.get("type").and_then(Value::as_str).unwrap_or_default() {
        "text" => {
            let text = obj.get("text").and_then(Value::as_str).unwrap_or_default();
            match link_href(obj) {
                Some(href) if href != text && !text.is_empty() => format!("{text} ({href})"),
                Some(href) if text.is_empty() => href.to_owned(),
                _ => text.to_owned(),
            }
        }
        "hardBreak" => "\n".to_owned(),
        "mention" => mention(
            attr("id").and_then(Value::as_str).unwrap_or_default(),
            attr("text").and_then(Value::as_str),
            resolve,
        ),
        "emoji" => attr("text").or_else(|| attr("shortName")).and_then(Value::as_str).unwrap_or_default().to_owned(),
        "inlineCard" | "blockCard" | "embedCard" => attr("url").and_then(Value::as_str).unwrap_or_default().to_owned(),
        "status" => attr("text").and_then(Value::as_str).unwrap_or_default().to_owned(),
        "date" => {
            attr("timestamp").and_then(epoch_millis).map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default()
        }
        "paragraph" | "heading" | "codeBlock" | "taskItem" | "decisionItem" | "caption" => children(""),
        "bulletList" | "orderedList" => {
            let start = attr("order").and_then(Value::as_u64).unwrap_or(1);
            let ordered = obj.get("type").and_then(Value::as_str) == Some("orderedList");
            let items = obj.get("content").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            let lines = items.iter().enumerate().map(|(n, item)| {
                let marker = if ordered { format!("{}. ", start.saturating_add(n as u64)) } else { "- ".to_owned() };
                let body = adf_block(item, resolve, depth + 1);
                // Continuation lines (nested lists, later paragraphs) indent under the marker.
                let indent = " ".repeat(marker.len());
                format!("{marker}{}", body.replace('\n', &format!("\n{indent}")))
            });
            join_nonempty(lines, "\n")
        }
        "listItem" | "taskList" | "decisionList" | "table" | "mediaSingle" | "mediaGroup" => children("\n"),
        "tableRow" => children(" | "),
        "rule" | "media" | "mediaInline" | "placeholder" | "extension" | "inlineExtension" => String::new(),
        // doc, blockquote, panel, expand, layouts, table cells and node types added after this was written.
        _ => match obj.get("text").and_then(Value::as_str) {
            Some(text) => text.to_owned(),
            None => children("\n\n"),
        },
    }
}

fn adf_children(node: &Value, resolve: NameResolver<'_>, depth: usize, sep: &str) -> String {
    let Some(content) = node.get("content").and_then(Value::as_array) else {
        return String::new();
    };
    if sep.is_empty() {
        return content.iter().map(|c| adf_block(c, resolve, depth + 1)).collect();
    }
    join_nonempty(content.iter().map(|c| adf_block(c, resolve, depth + 1)), sep)
}

fn link_href(text_node: &Map<String, Value>) -> Option<&str> {
    text_node
        .get("marks")?
        .as_array()?
        .iter()
        .filter(|mark| mark.get("type").and_then(Value::as_str) == Some("link"))
        .find_map(|mark| mark.get("attrs")?.get("href")?.as_str())
}

fn join_nonempty(parts: impl Iterator<Item = String>, sep: &str) -> String {
    let parts: Vec<String> = parts.filter(|p| !p.trim().is_empty()).collect();
    parts.join(sep)
}

// Wiki markup --------------------------------------------------------------------------------------------------

/// Macros whose content is shown verbatim: markup inside them is text.
const PREFORMATTED: [&str; 2] = ["code", "noformat"];
/// Macros whose tags are dropped and whose content is rendered normally.
const CONTAINERS: [&str; 6] = ["quote", "panel", "color", "anchor", "section", "column"];

fn wiki_text(src: &str, resolve: NameResolver<'_>) -> String {
    let src = src.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(src.len());
    let mut rest = src.as_str();
    let mut at_line_start = true;
    while let Some((start, body_start, name)) = find_preformatted(rest) {
        wiki_lines(&rest[..start], at_line_start, resolve, &mut out);
        let after_tag = &rest[body_start..];
        let close = format!("{{{name}}}");
        let (body, after) = match after_tag.find(&close) {
            Some(end) => (&after_tag[..end], &after_tag[end + close.len()..]),
            None => (after_tag, ""),
        };
        // The tags usually sit on their own lines; dropping them must not leave blank lines behind.
        let body = body.strip_prefix('\n').unwrap_or(body);
        out.push_str(body.strip_suffix('\n').unwrap_or(body));
        rest = after;
        at_line_start = false;
    }
    wiki_lines(rest, at_line_start, resolve, &mut out);
    out
}

/// The earliest `{code}`, `{code:lang}`, `{noformat}`... tag: (tag start, content start, macro name).
fn find_preformatted(text: &str) -> Option<(usize, usize, &'static str)> {
    PREFORMATTED
        .iter()
        .filter_map(|name| {
            let opener = format!("{{{name}");
            let mut from = 0;
            while let Some(found) = text[from..].find(&opener) {
                let start = from + found;
                let after = &text[start + opener.len()..];
                let end = match after.chars().next() {
                    Some('}') => Some(0),
                    // Parameters hold no braces or newlines; stopping there keeps `{code:{code:...` linear.
                    Some(':') => after.find(['}', '{', '\n']).filter(|&e| after.as_bytes()[e] == b'}'),
                    _ => None,
                };
                if let Some(end) = end {
                    return Some((start, start + opener.len() + end + 1, *name));
                }
                from = start + opener.len();
            }
            None
        })
        .min_by_key(|&(start, _, _)| start)
}

fn wiki_lines(text: &str, at_line_start: bool, resolve: NameResolver<'_>, out: &mut String) {
    for (n, line) in text.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
        }
        if n > 0 || at_line_start {
            wiki_block_line(line, resolve, out);
        } else {
            wiki_inline(&line.chars().collect::<Vec<_>>(), resolve, 0, out);
        }
    }
}

fn wiki_block_line(line: &str, resolve: NameResolver<'_>, out: &mut String) {
    let trimmed = line.trim_start();
    let inline = |s: &str, out: &mut String| wiki_inline(&s.chars().collect::<Vec<_>>(), resolve, 0, out);
    // Headings `h1.`..`h6.` and `bq.`.
    let bytes = trimmed.as_bytes();
    let is_heading = bytes.len() >= 3 && bytes[0] == b'h' && (b'1'..=b'6').contains(&bytes[1]) && bytes[2] == b'.';
    let prefix_len = if is_heading || trimmed.starts_with("bq.") { 3 } else { 0 };
    // Only `h1. Title`, not `h1.5 is out`: the prefix needs a space (or nothing) after it.
    if prefix_len > 0 && trimmed[prefix_len..].chars().next().is_none_or(char::is_whitespace) {
        return inline(trimmed[prefix_len..].trim_start(), out);
    }
    if trimmed.len() >= 4 && trimmed.trim_end().chars().all(|c| c == '-') {
        return; // horizontal rule
    }
    // Lists: `* a`, `** nested`, `# numbered`, `*#` mixes, `- a`.
    let markers = trimmed.chars().take_while(|c| matches!(c, '*' | '#')).count();
    let dash = markers == 0 && trimmed.starts_with("- ");
    if dash || (markers > 0 && trimmed[markers..].starts_with(' ')) {
        let depth = markers.max(1);
        out.push_str(&"  ".repeat(depth - 1));
        out.push_str("- ");
        return inline(trimmed[depth..].trim_start(), out);
    }
    // Tables: `||head||head||` and `|cell|cell|`.
    if trimmed.starts_with('|') {
        let cells = split_cells(trimmed);
        for (n, cell) in cells.iter().enumerate() {
            if n > 0 {
                out.push_str(" | ");
            }
            inline(cell.trim(), out);
        }
        return;
    }
    inline(line, out)
}

/// Table cells, not splitting on the `|` of a `[text|url]` link inside a cell.
fn split_cells(row: &str) -> Vec<&str> {
    let mut cells = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in row.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            '|' if depth == 0 => {
                cells.push(&row[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    cells.push(&row[start..]);
    cells.into_iter().filter(|c| !c.trim().is_empty()).collect()
}

const EFFECTS: [char; 6] = ['*', '_', '-', '+', '^', '~'];
/// How far a closing marker is looked for; keeps a line full of unmatched markers from taking quadratic time.
const SEARCH_WINDOW: usize = 1000;
/// Nesting of effects and link texts; beyond it the rest is copied as is.
const MAX_INLINE_DEPTH: usize = 16;

fn wiki_inline(chars: &[char], resolve: NameResolver<'_>, depth: usize, out: &mut String) {
    if depth > MAX_INLINE_DEPTH {
        out.extend(chars);
        return;
    }
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '\\' => match next {
                Some('\\') => {
                    out.push('\n'); // forced line break
                    i += 2;
                    continue;
                }
                Some(escaped) if !escaped.is_alphanumeric() && !escaped.is_whitespace() => {
                    out.push(escaped);
                    i += 2;
                    continue;
                }
                _ => {}
            },
            '[' => {
                if let Some(end) = find_from(chars, i + 1, |c| c == ']' || c == '[').filter(|&e| chars[e] == ']') {
                    let content: String = chars[i + 1..end].iter().collect();
                    if let Some(rendered) = wiki_link(&content, resolve, depth) {
                        out.push_str(&rendered);
                        i = end + 1;
                        continue;
                    }
                }
            }
            '{' if next == Some('{') => {
                if let Some(end) = find_seq(chars, i + 2, &['}', '}']) {
                    out.extend(&chars[i + 2..end]); // monospace: literal
                    i = end + 2;
                    continue;
                }
            }
            '{' => {
                if let Some(end) = macro_tag_end(chars, i) {
                    i = end + 1;
                    continue;
                }
            }
            '!' => {
                if let Some((end, name)) = image(chars, i) {
                    out.push_str(&name);
                    i = end + 1;
                    continue;
                }
            }
            '?' if next == Some('?') && boundary_before(chars, i) => {
                if let Some(end) = find_seq(chars, i + 2, &['?', '?']).filter(|&e| e > i + 2) {
                    wiki_inline(&chars[i + 2..end], resolve, depth + 1, out);
                    i = end + 2;
                    continue;
                }
            }
            _ if EFFECTS.contains(&c) => {
                if let Some(end) = effect_end(chars, i) {
                    wiki_inline(&chars[i + 1..end], resolve, depth + 1, out);
                    i = end + 1;
                    continue;
                }
            }
            _ => {}
        }
        out.push(c);
        i += 1;
    }
}

fn find_from(chars: &[char], from: usize, pred: impl Fn(char) -> bool) -> Option<usize> {
    chars.get(from..)?.iter().position(|&c| pred(c)).map(|p| p + from)
}

fn find_seq(chars: &[char], from: usize, seq: &[char]) -> Option<usize> {
    let window = chars.get(from..chars.len().min(from.saturating_add(SEARCH_WINDOW)))?;
    window.windows(seq.len()).position(|w| w == seq).map(|p| p + from)
}

fn boundary_before(chars: &[char], i: usize) -> bool {
    i == 0 || !chars[i - 1].is_alphanumeric()
}

/// The closing marker of an effect such as `*bold*` opened at `i`. Markers only count at word boundaries, so
/// `snake_case`, `a - b`, `2*3*4` and `well-known` stay as they are.
fn effect_end(chars: &[char], i: usize) -> Option<usize> {
    let marker = chars[i];
    let first = *chars.get(i + 1)?;
    if !boundary_before(chars, i) || first.is_whitespace() || first == marker {
        return None;
    }
    (i + 2..chars.len().min(i + SEARCH_WINDOW)).find(|&j| {
        chars[j] == marker
            && !chars[j - 1].is_whitespace()
            && chars.get(j + 1).is_none_or(|&after| !after.is_alphanumeric())
    })
}

/// `{quote}`, `{color:red}`, `{panel:title=x}`...: the index of the closing brace of a container macro tag.
fn macro_tag_end(chars: &[char], i: usize) -> Option<usize> {
    let end = find_from(chars, i + 1, |c| c == '}' || c == '{')?;
    if chars[end] != '}' {
        return None;
    }
    let tag: String = chars[i + 1..end].iter().collect();
    let name = tag.split(':').next().unwrap_or_default();
    CONTAINERS.iter().any(|known| known.eq_ignore_ascii_case(name)).then_some(end)
}

/// `!file.png!` or `!file.png|thumbnail!` opened at `i`: (closing index, file name or URL).
fn image(chars: &[char], i: usize) -> Option<(usize, String)> {
    if !boundary_before(chars, i) {
        return None;
    }
    let end = find_from(chars, i + 1, |c| c == '!' || c.is_whitespace())?;
    if chars[end] != '!' || end == i + 1 {
        return None;
    }
    let content: String = chars[i + 1..end].iter().collect();
    let name = content.split('|').next().unwrap_or_default();
    // Requiring a dot keeps "!important!" and "wow!!" as text; attachments and URLs have one.
    name.contains('.').then(|| (end, name.to_owned()))
}

/// `[~user]`, `[~accountid:id]`, `[text|url]`, `[url]`, `[^attachment]`, `[#anchor]`, `[mailto:a@b]`. Anything
/// else in brackets (`[INFO]`, `[1, 2]`) is not a link and stays text.
fn wiki_link(content: &str, resolve: NameResolver<'_>, depth: usize) -> Option<String> {
    let target = |t: &str| -> Option<String> {
        let t = t.trim();
        if let Some(user) = t.strip_prefix('~') {
            return Some(mention(user, None, resolve));
        }
        if let Some(file) = t.strip_prefix('^') {
            return Some(file.to_owned());
        }
        if let Some(anchor) = t.strip_prefix('#') {
            return Some(anchor.to_owned());
        }
        if let Some(address) = t.strip_prefix("mailto:") {
            return Some(address.to_owned());
        }
        (t.contains("://") || t.starts_with("file:")).then(|| t.to_owned())
    };
    match content.split_once('|') {
        None => target(content),
        Some((label, rest)) => {
            // `[text|url|smart-link]` on Cloud: the third part is presentation only.
            let url = target(rest.split('|').next().unwrap_or_default())?;
            let mut text = String::new();
            wiki_inline(&label.trim().chars().collect::<Vec<_>>(), resolve, depth + 1, &mut text);
            Some(if text.is_empty() || text == url { url } else { format!("{text} ({url})") })
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Fuzzing.

/// The properties the `webhook_parse` and `webhook_signature` fuzz targets (`fuzz/`) check. They live here rather
/// than in the fuzz crate so that the unit tests run them over the committed seeds without cargo fuzz. Each
/// function panics when a property fails.
#[doc(hidden)]
pub mod fuzz {
    use serde_json::json;

    use super::*;

    /// [`parse`] never panics, and what it accepts meets its contract: rebuilt as the smallest JSON carrying the
    /// same fields, it parses back to the same value (so no field is read from somewhere it is not written), and
    /// [`classify`] keeps its documented promises about it.
    pub fn check_parse(body: &[u8]) {
        let Ok(webhook) = parse(body) else { return };
        if webhook.event.is_issue_event() {
            assert!(webhook.issue.is_some(), "issue event without an issue");
        }
        if webhook.event.is_comment_event() {
            assert!(webhook.comment.is_some(), "comment event without a comment");
        }
        if let Some(comment) = &webhook.comment {
            assert_eq!(comment.body, plain_text(&comment.raw_body));
            assert_tidy(&comment.body);
        }
        let rebuilt = serde_json::to_vec(&rebuild(&webhook)).expect("a Value always serializes");
        let reparsed = parse(&rebuilt).unwrap_or_else(|e| panic!("rebuilt body refused ({e}): {webhook:?}"));
        assert_eq!(reparsed, webhook, "rebuilt body parses differently");
        check_classify(&webhook);
    }

    fn check_classify(webhook: &Webhook) {
        let changes = classify(webhook);
        assert!(changes.len() <= 2, "{changes:?}");
        if matches!(webhook.event, WebhookEvent::IssueCreated | WebhookEvent::Other(_)) {
            assert!(changes.is_empty(), "{changes:?}");
        }
        for (n, change) in changes.iter().enumerate() {
            match change {
                Change::StatusChanged { status, category, resolution } => {
                    assert_eq!(n, 0, "status first: {changes:?}");
                    assert_eq!(webhook.event, WebhookEvent::IssueUpdated);
                    assert!(webhook.changes.iter().any(|c| c.is_field("status") || c.is_field("resolution")));
                    assert!(!status.trim().is_empty(), "{changes:?}");
                    for value in [category, resolution].into_iter().flatten() {
                        assert!(!value.trim().is_empty(), "{changes:?}");
                    }
                }
                Change::CommentAdded(comment) | Change::CommentUpdated(comment) => {
                    assert_eq!(Some(comment), webhook.comment.as_ref());
                }
                Change::CommentDeleted { id } => {
                    assert_eq!(Some(id), webhook.comment.as_ref().map(|c| &c.id));
                }
                Change::IssueDeleted => assert_eq!(changes, [Change::IssueDeleted]),
            }
        }
    }

    /// What [`plain_text`] promises: no line ends in whitespace, no more than one blank line in a row, nothing
    /// around the whole.
    pub fn assert_tidy(text: &str) {
        assert_eq!(text, text.trim(), "surrounding whitespace");
        assert!(!text.contains("\n\n\n"), "two blank lines in a row: {text:?}");
        for line in text.split('\n') {
            assert_eq!(line, line.trim_end(), "trailing whitespace in {text:?}");
        }
    }

    /// A body written the way [`parse`] reads it, field for field.
    fn rebuild(webhook: &Webhook) -> Value {
        let mut root = Map::new();
        root.insert("webhookEvent".into(), webhook.event.as_str().into());
        put(&mut root, "issue_event_type_name", webhook.event_type_name.as_deref().map(Value::from));
        put(&mut root, "timestamp", webhook.timestamp.map(time));
        put(&mut root, "user", webhook.actor.as_ref().map(actor_json));
        if let Some(issue) = &webhook.issue {
            let mut status = Map::new();
            put(&mut status, "id", issue.status_id.as_deref().map(Value::from));
            put(&mut status, "name", issue.status_name.as_deref().map(Value::from));
            put(&mut status, "statusCategory", issue.status_category.as_deref().map(|key| json!({ "key": key })));
            let mut fields = Map::new();
            put(&mut fields, "summary", issue.summary.as_deref().map(Value::from));
            fields.insert("status".into(), status.into());
            put(&mut fields, "resolution", issue.resolution.as_deref().map(|name| json!({ "name": name })));
            put(&mut fields, "updated", issue.updated.map(time));
            fields.insert("labels".into(), issue.labels.clone().into());
            root.insert("issue".into(), json!({ "id": issue.id, "key": issue.key, "fields": fields }));
        }
        if let Some(comment) = &webhook.comment {
            let mut c = Map::new();
            c.insert("id".into(), comment.id.as_str().into());
            c.insert("body".into(), comment.raw_body.clone());
            put(&mut c, "author", comment.author.as_ref().map(actor_json));
            put(&mut c, "updateAuthor", comment.update_author.as_ref().map(actor_json));
            put(&mut c, "created", comment.created.map(time));
            put(&mut c, "updated", comment.updated.map(time));
            root.insert("comment".into(), c.into());
        }
        let items: Vec<Value> = webhook
            .changes
            .iter()
            .map(|change| {
                let mut item = Map::new();
                put(&mut item, "fieldId", change.field_id.as_deref().map(Value::from));
                put(&mut item, "field", change.field.as_deref().map(Value::from));
                put(&mut item, "from", change.from.as_deref().map(Value::from));
                put(&mut item, "fromString", change.from_string.as_deref().map(Value::from));
                put(&mut item, "to", change.to.as_deref().map(Value::from));
                put(&mut item, "toString", change.to_string.as_deref().map(Value::from));
                item.into()
            })
            .collect();
        root.insert("changelog".into(), json!({ "items": items }));
        root.into()
    }

    fn put(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
        if let Some(value) = value {
            map.insert(key.to_owned(), value);
        }
    }

    fn actor_json(actor: &Actor) -> Value {
        let mut map = Map::new();
        put(&mut map, "accountId", actor.account_id.as_deref().map(Value::from));
        put(&mut map, "displayName", actor.display_name.as_deref().map(Value::from));
        put(&mut map, "name", actor.name.as_deref().map(Value::from));
        put(&mut map, "key", actor.key.as_deref().map(Value::from));
        map.into()
    }

    /// Epoch milliseconds when they hold the instant exactly, otherwise Jira's own text format.
    fn time(t: DateTime<Utc>) -> Value {
        let nanos = t.timestamp_subsec_nanos();
        // Above a billion is chrono's leap second, which milliseconds cannot express.
        if nanos.is_multiple_of(1_000_000) && nanos < 1_000_000_000 {
            t.timestamp_millis().into()
        } else {
            t.format("%Y-%m-%dT%H:%M:%S%.f%z").to_string().into()
        }
    }

    /// [`verify`] accepts exactly a matching `sha256=` signature or the secret itself, never with an empty
    /// secret, and [`sign`] is what Jira sends. The input is a body followed by up to three NUL-separated parts:
    /// the secret, an `X-Hub-Signature` value and a `?secret=` value. A bare capture is thus a body under a fixed
    /// secret, and an empty secret part checks the refusal.
    pub fn check_signature(data: &[u8]) {
        let mut parts: Vec<&[u8]> = data.rsplitn(4, |&b| b == 0).collect();
        parts.reverse();
        let body = parts[0];
        let secret = parts.get(1).copied().unwrap_or(b"northstar-fuzz");
        let header = parts.get(2).map(|h| String::from_utf8_lossy(h).into_owned());
        let query = parts.get(3).map(|q| String::from_utf8_lossy(q).into_owned());

        // The oracle uses `hmac` directly and compares hex text, not `hex::decode` and `verify_slice` as the
        // code under test does.
        let mac = |key: &[u8], message: &[u8]| {
            let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        };
        let expected = mac(secret, body);
        let good = format!("sha256={}", hex::encode(&expected));
        assert_eq!(sign(secret, body), good);
        let header_ok = |h: &str| {
            h.trim().split_once('=').is_some_and(|(algorithm, digest)| {
                algorithm.eq_ignore_ascii_case("sha256") && digest.eq_ignore_ascii_case(&hex::encode(&expected))
            })
        };
        let oracle = !secret.is_empty()
            && (header.as_deref().is_some_and(header_ok) || query.as_deref().is_some_and(|q| q.as_bytes() == secret));
        assert_eq!(verify(secret, body, header.as_deref(), query.as_deref()), oracle, "{header:?} {query:?}");

        if secret.is_empty() {
            assert!(!verify(secret, body, Some(&good), Some("")), "empty secret verified");
            return;
        }
        assert!(verify(secret, body, Some(&good), None));
        // The spellings a proxy may produce.
        assert!(verify(secret, body, Some(&format!(" SHA256={}\t", hex::encode_upper(&expected))), None));
        // One valid proof suffices: a wrong one next to it changes nothing.
        assert!(verify(secret, body, Some(&good), Some("not the secret")));
        if let Ok(secret_text) = std::str::from_utf8(secret) {
            assert!(verify(secret, body, Some("sha256=00"), Some(secret_text)));
        }

        // One flipped bit anywhere (body, key, digest) fails, as does a cut digest.
        let pick = data.iter().fold(0usize, |h, &b| h.wrapping_mul(31).wrapping_add(usize::from(b)));
        let flip = |bytes: &[u8]| {
            let mut bytes = bytes.to_vec();
            let at = (pick / 8) % bytes.len();
            bytes[at] ^= 1 << (pick % 8);
            bytes
        };
        if !body.is_empty() {
            assert!(!verify(secret, &flip(body), Some(&good), None), "flipped body verified");
        }
        assert!(!verify(&flip(secret), body, Some(&good), None), "flipped secret verified");
        let forged = format!("sha256={}", hex::encode(flip(&expected)));
        assert!(!verify(secret, body, Some(&forged), None), "flipped digest verified");
        assert!(!verify(secret, body, Some(&good[..good.len() - 2]), None), "truncated digest verified");
        assert!(!verify(secret, body, Some("sha256="), None), "empty digest verified");
    }

    /// The committed inputs of a fuzz target: `fuzz/seeds/common` and `fuzz/seeds/<target>`, by file name.
    #[cfg(test)]
    pub(crate) fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
        let mut seeds = Vec::new();
        for dir in [root.join("common"), root.join(target)] {
            for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
                let path = entry.unwrap().path();
                if path.is_file() && path.extension().is_none_or(|e| e != "md") {
                    seeds.push((path.display().to_string(), std::fs::read(&path).unwrap()));
                }
            }
        }
        // The 55 captures at least: an emptied or moved folder must not pass silently.
        assert!(seeds.len() > 55, "only {} seeds for {target}", seeds.len());
        seeds
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::PathBuf;

    use chrono::TimeZone as _;
    use serde_json::json;

    use super::*;

    fn captures_dir() -> Option<PathBuf> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/jira-webhook-captures");
        if dir.is_dir() {
            Some(dir)
        } else {
            println!("skipped: no webhook captures at {}", dir.display());
            None
        }
    }

    fn capture(name: &str) -> Option<Webhook> {
        let dir = captures_dir()?;
        let body = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        Some(parse(&body).unwrap_or_else(|e| panic!("{name}: {e}")))
    }

    fn status(status: &str, category: &str, resolution: Option<&str>) -> Change {
        Change::StatusChanged {
            status: status.into(),
            category: Some(category.into()),
            resolution: resolution.map(Into::into),
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// Comment changes reduced to (kind, id, text) so the table below stays readable.
    fn summary(change: &Change) -> (String, String, String) {
        match change {
            Change::CommentAdded(c) => ("added".into(), c.id.clone(), c.body.clone()),
            Change::CommentUpdated(c) => ("updated".into(), c.id.clone(), c.body.clone()),
            Change::CommentDeleted { id } => ("deleted".into(), id.clone(), String::new()),
            other => (format!("{other:?}"), String::new(), String::new()),
        }
    }

    #[test]
    fn every_capture_parses() {
        let Some(dir) = captures_dir() else { return };
        let mut count = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let body = std::fs::read(&path).unwrap();
                let webhook = parse(&body).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert!(webhook.timestamp.is_some(), "{}: timestamp", path.display());
                count += 1;
            }
        }
        assert!(count >= 55, "only {count} captures found");
    }

    #[test]
    fn captures_are_classified_exactly() {
        let Some(dir) = captures_dir() else { return };
        let comment = |kind: &str, id: &str, text: &str| vec![(kind.to_owned(), id.to_owned(), text.to_owned())];
        let status_cases: HashMap<&str, Vec<Change>> = HashMap::from([
            ("issue-updated-started-working.json", vec![status("In Progress", "indeterminate", None)]),
            ("issue-updated-resolved.json", vec![status("Done", "done", Some("Done"))]),
            // Resolution item only: the status is read from the issue fields.
            ("issue-updated-resolved-one-changelog.json", vec![status("Done", "done", Some("Done"))]),
            ("issue-updated-reopened.json", vec![status("To Do", "new", None)]),
            ("issue-updated-reopened-one-changelog.json", vec![status("To Do", "new", None)]),
            // Server: no fieldId, matched on `field`.
            ("server-issue-updated-resolved.json", vec![status("Resolved", "done", Some("Done"))]),
            // No resolution item: the resolution comes from the issue fields.
            ("server-issue-updated-closed.json", vec![status("Closed", "done", Some("Done"))]),
            ("server-issue-updated-reopened.json", vec![status("Reopened", "new", None)]),
            ("server-issue-updated-in-progress.json", vec![status("In Progress", "indeterminate", None)]),
            ("issue-deleted.json", vec![Change::IssueDeleted]),
        ]);
        let comment_cases = HashMap::from([
            ("cloud-comment-created.json", comment("added", "10019", "Added a comment")),
            (
                "cloud-comment-created-mention-user.json",
                comment("added", "10019", "Added a comment with mentioned user @user"),
            ),
            ("cloud-comment-updated.json", comment("updated", "10019", "Added a comment, then edited it")),
            ("cloud-comment-deleted.json", comment("deleted", "10757", "")),
            ("server-comment-created.json", comment("added", "10082", "unik")),
            ("server-comment-updated.json", comment("updated", "10084", "and higher eeven higher")),
            ("server-comment-deleted.json", comment("deleted", "10084", "")),
            ("server-issue-updated-commented-1.json", comment("added", "10082", "unik")),
            (
                "server-issue-updated-commented-2.json",
                comment("added", "10118", "This is a test comment. We should act on it right away."),
            ),
            (
                "server-issue-updated-commented-3.json",
                comment("added", "10118", "This is a test comment. We should act on it right away. cc: @SomeOtherUser"),
            ),
            (
                "server-issue-updated-commented-mention-user.json",
                comment("added", "10082", "unik with mentioned user @user"),
            ),
            (
                "issue-comment-created-indentation.json",
                comment("added", "10503", "@Test creating a test comment\n\na second line for the test comment"),
            ),
            ("server-issue-updated-comment-edited.json", comment("updated", "10084", "and higher eeven higher")),
            // No event type: told apart by created == updated.
            ("server-old-issue-updated-no-event-type-commented.json", comment("added", "10082", "unik")),
            (
                "server-old-issue-updated-no-event-type-comment-edited.json",
                comment("updated", "10084", "and higher eeven higher"),
            ),
        ]);
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !name.ends_with(".json") {
                continue;
            }
            let changes = classify(&parse(&std::fs::read(&path).unwrap()).unwrap());
            if let Some(expected) = status_cases.get(name.as_str()) {
                assert_eq!(&changes, expected, "{name}");
                seen += 1;
            } else if let Some(expected) = comment_cases.get(name.as_str()) {
                assert_eq!(&changes.iter().map(summary).collect::<Vec<_>>(), expected, "{name}");
                seen += 1;
            } else {
                // Creations, assignments, field edits, and the Server `issue_comment_deleted` variants, which
                // carry no comment to name (the separate `comment_deleted` event does).
                assert_eq!(changes, vec![], "{name}");
            }
        }
        assert_eq!(seen, status_cases.len() + comment_cases.len());
    }

    #[test]
    fn issue_fields_are_read() {
        let Some(w) = capture("issue-updated-resolved.json") else { return };
        assert_eq!(w.event, WebhookEvent::IssueUpdated);
        assert_eq!(w.event_type_name.as_deref(), Some("issue_generic"));
        assert_eq!(w.timestamp, Some(Utc.timestamp_millis_opt(1550286940507).unwrap()));
        let actor = w.actor.unwrap();
        assert_eq!(actor.account_id.as_deref(), Some("5c5f880629be9642ba529340"));
        assert_eq!(actor.display_name.as_deref(), Some("Test User"));
        let issue = w.issue.unwrap();
        assert_eq!((issue.id.as_str(), issue.key.as_str()), ("10040", "TES-41"));
        assert_eq!(issue.status_name.as_deref(), Some("Done"));
        assert_eq!(issue.status_category.as_deref(), Some("done"));
        assert_eq!(issue.resolution.as_deref(), Some("Done"));
        assert_eq!(issue.labels, vec!["test-label"]);
        assert_eq!(issue.updated, Some(utc("2019-02-15T19:15:40.477-08:00")));
        assert_eq!(w.changes.len(), 2);
        assert_eq!(
            w.changes[1],
            FieldChange {
                field_id: Some("status".into()),
                field: Some("status".into()),
                from: Some("3".into()),
                from_string: Some("In Progress".into()),
                to: Some("10002".into()),
                to_string: Some("Done".into()),
            }
        );
    }

    #[test]
    fn server_payloads_are_read() {
        let Some(w) = capture("server-comment-updated.json") else { return };
        assert_eq!(w.issue, None, "Server comment events carry no issue");
        let actor = w.actor.unwrap();
        assert_eq!(actor.account_id, None);
        assert_eq!((actor.name.as_deref(), actor.key.as_deref()), (Some("levbrouk"), Some("levbrouk")));
        assert_eq!(actor.id(), Some("levbrouk"));
        let comment = w.comment.unwrap();
        assert_eq!(comment.author.unwrap().display_name.as_deref(), Some("Lev Brouk"));
        assert_eq!(comment.update_author.unwrap().name.as_deref(), Some("levbrouk"));
        assert_eq!(comment.created, Some(utc("2019-06-04T00:50:04.873Z")));
        assert_eq!(comment.updated, Some(utc("2019-06-04T00:53:33.665Z")));
        assert_eq!(comment.raw_body, json!("and higher eeven higher"));
    }

    #[test]
    fn comment_event_carries_issue_stub() {
        let Some(w) = capture("cloud-comment-updated.json") else { return };
        let issue = w.issue.unwrap();
        assert_eq!((issue.id.as_str(), issue.key.as_str()), ("10040", "TES-41"));
        assert_eq!(issue.status_category.as_deref(), Some("new"));
        assert!(issue.labels.is_empty());
        assert_eq!(w.actor, None);
        assert_eq!(w.comment.unwrap().created, Some(utc("2019-02-15T19:11:18.321-08:00")));
    }

    fn issue_updated(items: Value, fields: Value) -> Value {
        json!({
            "timestamp": 1600000000000u64,
            "webhookEvent": "jira:issue_updated",
            "issue_event_type_name": "issue_generic",
            "issue": {"id": 10001, "key": "SEC-1", "fields": fields},
            "changelog": {"id": 5, "items": items}
        })
    }

    fn parse_value(v: &Value) -> Webhook {
        parse(&serde_json::to_vec(v).unwrap()).unwrap()
    }

    #[test]
    fn numeric_ids_and_fallback_field_names() {
        let body = issue_updated(
            json!([{"field": "Status", "from": 10001, "fromString": "To Do", "to": 3, "toString": "In Progress"}]),
            json!({"status": {"id": 3, "name": "In Progress", "statusCategory": {"id": 4, "key": "indeterminate"}},
                   "updated": "2021-01-05T12:34:56.789+0000"}),
        );
        let w = parse_value(&body);
        let issue = w.issue.as_ref().unwrap();
        assert_eq!((issue.id.as_str(), issue.status_id.as_deref()), ("10001", Some("3")));
        assert_eq!(issue.updated, Some(utc("2021-01-05T12:34:56.789Z")));
        assert_eq!(w.changes[0].to.as_deref(), Some("3"));
        assert_eq!(classify(&w), vec![status("In Progress", "indeterminate", None)]);
    }

    #[test]
    fn field_id_wins_over_field_name() {
        // A custom field displayed as "Status" is not the workflow status.
        let body = issue_updated(
            json!([{"field": "Status", "fieldId": "customfield_10050", "toString": "Green"}]),
            json!({"status": {"id": "1", "name": "Open", "statusCategory": {"key": "new"}}}),
        );
        assert_eq!(classify(&parse_value(&body)), vec![]);
    }

    #[test]
    fn category_of_a_different_status_is_not_reported() {
        let body = issue_updated(
            json!([{"fieldId": "status", "to": "5", "toString": "Resolved"}]),
            json!({"status": {"id": "6", "name": "Closed", "statusCategory": {"key": "done"}}}),
        );
        assert_eq!(
            classify(&parse_value(&body)),
            vec![Change::StatusChanged { status: "Resolved".into(), category: None, resolution: None }]
        );
    }

    #[test]
    fn transition_with_comment_reports_both() {
        let mut body = issue_updated(
            json!([{"fieldId": "status", "to": "10002", "toString": "Done"},
                   {"fieldId": "resolution", "to": "10000", "toString": "Won't Do"}]),
            json!({"status": {"id": "10002", "name": "Done", "statusCategory": {"key": "done"}},
                   "resolution": {"name": "Won't Do"}}),
        );
        body["comment"] = json!({"id": 10200, "body": "closing: *false positive*",
            "created": "2021-01-05T12:34:56.789+0000", "updated": "2021-01-05T12:34:56.789+0000"});
        let changes = classify(&parse_value(&body));
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0], status("Done", "done", Some("Won't Do")));
        assert_eq!(summary(&changes[1]), ("added".into(), "10200".into(), "closing: false positive".into()));
    }

    #[test]
    fn issue_created_reports_nothing() {
        let Some(w) = capture("issue-created.json") else { return };
        assert!(w.changes.iter().any(|c| c.is_field("status")));
        assert_eq!(classify(&w), vec![]);
    }

    #[test]
    fn unknown_event_is_other_and_empty() {
        let w =
            parse(br#"{"webhookEvent":"worklog_created","timestamp":"1600000000000","worklog":{"id":"1"}}"#).unwrap();
        assert_eq!(w.event, WebhookEvent::Other("worklog_created".into()));
        assert_eq!(w.event.as_str(), "worklog_created");
        assert_eq!(w.timestamp, Some(Utc.timestamp_millis_opt(1600000000000).unwrap()));
        assert_eq!(classify(&w), vec![]);
    }

    #[test]
    fn refused_bodies() {
        assert!(matches!(parse(b"{\"webhookEvent\": "), Err(ParseError::Json(_))));
        assert!(matches!(parse(b"not json"), Err(ParseError::Json(_))));
        assert!(matches!(parse(b""), Err(ParseError::Json(_))));
        assert!(matches!(parse(b"[1,2]"), Err(ParseError::NotAnObject)));
        assert!(matches!(parse(b"{}"), Err(ParseError::Missing("webhookEvent"))));
        assert!(matches!(parse(br#"{"webhookEvent":""}"#), Err(ParseError::Missing("webhookEvent"))));
        assert!(matches!(parse(br#"{"webhookEvent":"jira:issue_deleted"}"#), Err(ParseError::Missing("issue"))));
        assert!(matches!(
            parse(br#"{"webhookEvent":"jira:issue_updated","issue":{"key":"A-1"}}"#),
            Err(ParseError::Missing("issue"))
        ));
        assert!(matches!(
            parse(br#"{"webhookEvent":"comment_created","comment":{"body":"x"}}"#),
            Err(ParseError::Missing("comment"))
        ));
    }

    #[test]
    fn odd_values_are_tolerated() {
        let w = parse_value(&json!({
            "webhookEvent": "jira:issue_updated",
            "timestamp": null,
            "user": null,
            "issue": {"id": "1", "key": "A-1",
                      "fields": {"status": null, "labels": ["a", 3, null], "updated": "yesterday"}},
            "changelog": {"items": [7, {"fieldId": "resolution", "to": null, "toString": null}]},
            "comment": {"id": "9", "body": null, "created": 1600000000000u64}
        }));
        assert_eq!(w.timestamp, None);
        assert_eq!(w.actor, None);
        let issue = w.issue.as_ref().unwrap();
        assert_eq!(issue.labels, vec!["a", "3"]);
        assert_eq!(issue.updated, None);
        assert_eq!(w.changes.len(), 1);
        let comment = w.comment.as_ref().unwrap();
        assert_eq!(comment.body, "");
        assert_eq!(comment.created, Some(Utc.timestamp_millis_opt(1600000000000).unwrap()));
        // Resolution cleared but no status known: nothing to report.
        assert_eq!(classify(&w).len(), 1, "only the comment");
    }

    // Signature --------------------------------------------------------------------------------------------------

    const RFC4231_2: &str = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
    // GitHub's documented X-Hub-Signature-256 example, an independent second vector.
    const GITHUB_DOC: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn sign_matches_known_vectors() {
        assert_eq!(sign(b"Jefe", b"what do ya want for nothing?"), RFC4231_2);
        assert_eq!(sign(b"It's a Secret to Everybody", b"Hello, World!"), GITHUB_DOC);
    }

    #[test]
    fn verify_signature() {
        let (key, body) = (b"Jefe".as_slice(), b"what do ya want for nothing?".as_slice());
        assert!(verify(key, body, Some(RFC4231_2), None));
        assert!(verify(b"It's a Secret to Everybody", b"Hello, World!", Some(GITHUB_DOC), None));
        assert!(verify(key, body, Some(&format!(" {RFC4231_2} ")), None), "surrounding whitespace");
        assert!(verify(key, body, Some(&RFC4231_2.to_uppercase()), None), "upper-case hex and algorithm");
        assert!(!verify(b"jefe", body, Some(RFC4231_2), None), "wrong secret");
        assert!(!verify(key, b"what do ya want for nothing!", Some(RFC4231_2), None), "tampered body");
        let sha1 = RFC4231_2.replacen("sha256=", "sha1=", 1);
        assert!(!verify(key, body, Some(&sha1), None), "sha1= prefix");
        assert!(!verify(key, body, Some(&RFC4231_2[7..]), None), "no prefix");
        assert!(!verify(key, body, Some("sha256="), None), "empty digest");
        assert!(!verify(key, body, Some("sha256=zz"), None), "not hex");
        assert!(!verify(key, body, Some(&RFC4231_2[..RFC4231_2.len() - 2]), None), "truncated");
        assert!(!verify(key, body, Some(&format!("{RFC4231_2}00")), None), "too long");
        assert!(!verify(key, body, Some(""), None), "empty header");
        assert!(!verify(key, body, None, None), "nothing given");
        assert!(!verify(b"", body, Some(&sign(b"", body)), None), "empty secret never verifies");
    }

    #[test]
    fn verify_query_secret() {
        let body = b"{}";
        assert!(verify(b"s3cret-token", body, None, Some("s3cret-token")));
        assert!(!verify(b"s3cret-token", body, None, Some("s3cret-tokex")));
        assert!(!verify(b"s3cret-token", body, None, Some("s3cret")));
        assert!(!verify(b"s3cret-token", body, None, Some("")));
        assert!(!verify(b"", body, None, Some("")), "empty secret never verifies");
        // Either one suffices.
        assert!(verify(b"s3cret-token", body, Some("sha256=00"), Some("s3cret-token")));
        assert!(verify(b"s3cret-token", body, Some(&sign(b"s3cret-token", body)), Some("wrong")));
    }

    // Plain text -------------------------------------------------------------------------------------------------

    #[test]
    fn adf_paragraphs_mentions_breaks() {
        let paragraph = |text: &str| json!({"type": "paragraph", "content": [{"type": "text", "text": text}]});
        let doc = json!({"version": 1, "type": "doc", "content": [
            {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "Alert: disk full"}]},
            {"type": "paragraph", "content": [
                {"type": "mention", "attrs": {"id": "5c5f880629be9642ba529340", "text": "@Test User"}},
                {"type": "text", "text": " please look"},
                {"type": "hardBreak"},
                {"type": "text", "text": "See "},
                {"type": "text", "text": "the runbook",
                 "marks": [{"type": "link", "attrs": {"href": "https://example.com/rb"}}]},
                {"type": "text", "text": " now "},
                {"type": "text", "text": "urgent", "marks": [{"type": "strong"}]},
                {"type": "emoji", "attrs": {"shortName": ":fire:", "text": "🔥"}}
            ]},
            {"type": "paragraph"},
            {"type": "bulletList", "content": [
                {"type": "listItem", "content": [
                    paragraph("host: web-1"),
                    {"type": "orderedList", "content": [
                        {"type": "listItem", "content": [paragraph("a")]},
                        {"type": "listItem", "content": [paragraph("b")]}
                    ]}
                ]},
                {"type": "listItem", "content": [paragraph("mount: /var")]}
            ]},
            {"type": "codeBlock", "attrs": {"language": "bash"},
             "content": [{"type": "text", "text": "df -h /var\ndu -sh *"}]},
            {"type": "rule"},
            {"type": "paragraph", "content": [
                {"type": "mention", "attrs": {"id": "712020:abc"}},
                {"type": "text", "text": " on "},
                {"type": "date", "attrs": {"timestamp": "1600000000000"}},
                {"type": "inlineCard", "attrs": {"url": "https://x.atlassian.net/browse/SEC-1"}}
            ]}
        ]});
        assert_eq!(
            plain_text(&doc),
            "Alert: disk full\n\n\
             @Test User please look\nSee the runbook (https://example.com/rb) now urgent🔥\n\n\
             - host: web-1\n  1. a\n  2. b\n- mount: /var\n\n\
             df -h /var\ndu -sh *\n\n\
             @712020:abc on 2020-09-13https://x.atlassian.net/browse/SEC-1"
        );
        let names = |id: &str| (id == "712020:abc").then(|| "Ada Lovelace".to_owned());
        assert!(
            plain_text_with(&doc, &names).ends_with("@Ada Lovelace on 2020-09-13https://x.atlassian.net/browse/SEC-1")
        );
    }

    #[test]
    fn adf_odd_shapes_do_not_panic() {
        for v in [
            json!(null),
            json!({}),
            json!({"type": "doc"}),
            json!({"type": "doc", "content": "nope"}),
            json!({"type": "doc", "content": [1, "x", null, {"type": "text"}, {"type": "mention"}]}),
            json!([{"type": "paragraph", "content": [{"type": "text", "text": "bare"}]}]),
        ] {
            let _ = plain_text(&v);
        }
        assert_eq!(plain_text(&json!([{"type": "paragraph", "content": [{"type": "text", "text": "bare"}]}])), "bare");
        let mut deep = json!({"type": "text", "text": "deep"});
        for _ in 0..200 {
            deep = json!({"type": "blockquote", "content": [deep]});
        }
        assert_eq!(plain_text(&deep), "");
    }

    #[test]
    fn wiki_markup() {
        let cases = [
            ("plain text", "plain text"),
            (
                "*bold* and _italic_ and -strike- and +under+ and ^sup^ and ~sub~ and ??cite??",
                "bold and italic and strike and under and sup and sub and cite",
            ),
            (
                "keep snake_case_name, a - b, 2*3*4, well-known, x_y",
                "keep snake_case_name, a - b, 2*3*4, well-known, x_y",
            ),
            ("*bold _nested_ text*", "bold nested text"),
            ("[~accountid:5c5f880629be9642ba529340] please check", "@5c5f880629be9642ba529340 please check"),
            ("cc: [~SomeOtherUser]", "cc: @SomeOtherUser"),
            ("see [the runbook|https://example.com/rb] now", "see the runbook (https://example.com/rb) now"),
            ("see [https://example.com/rb]", "see https://example.com/rb"),
            ("[https://a.b/c|https://a.b/c|smart-link]", "https://a.b/c"),
            ("[*docs*|https://d.example]", "docs (https://d.example)"),
            (
                "mail [mailto:sec@example.com] or [Sec|mailto:sec@example.com]",
                "mail sec@example.com or Sec (sec@example.com)",
            ),
            ("[INFO] log line [1, 2]", "[INFO] log line [1, 2]"),
            ("{{mono_space*x*}} done", "mono_space*x* done"),
            ("{code:java}\nint a = b*c*d; // [x|y]\n{code}\nafter", "int a = b*c*d; // [x|y]\nafter"),
            ("before {noformat}*raw*{noformat} after", "before *raw* after"),
            ("{code}never closed *x*", "never closed *x*"),
            ("{quote}quoted *text*{quote}", "quoted text"),
            ("{color:red}red{color} alert", "red alert"),
            ("{panel:title=Note}\nbody\n{panel}", "body"),
            ("h1.5 is out", "h1.5 is out"),
            (
                "h1. Title\nbq. quoted\n----\n* one\n** two\n# three\n- four",
                "Title\nquoted\n\n- one\n  - two\n- three\n- four",
            ),
            ("||h1||h2||\n|a|[b|https://b.example]|", "h1 | h2\na | b (https://b.example)"),
            ("line one\\\\line two", "line one\nline two"),
            ("escaped \\*not bold\\* and \\[x\\]", "escaped *not bold* and [x]"),
            ("!screenshot.png|thumbnail! attached; wow! great!", "screenshot.png attached; wow! great!"),
            ("wd\r\n\r\n\r\n\r\ndwd   ", "wd\n\ndwd"),
            ("unbalanced *bold and [link|", "unbalanced *bold and [link|"),
            ("emoji (/) and :) stay", "emoji (/) and :) stay"),
            ("", ""),
            ("ünïcödé *ß* ✓", "ünïcödé ß ✓"),
        ];
        for (input, expected) in cases {
            assert_eq!(plain_text(&json!(input)), expected, "input: {input:?}");
        }
        let names = |id: &str| (id == "5c5f880629be9642ba529340").then(|| "Test User".to_owned());
        assert_eq!(
            plain_text_with(&json!("[~accountid:5c5f880629be9642ba529340] and [~other]"), &names),
            "@Test User and @other"
        );
    }

    // Fuzz properties ---------------------------------------------------------------------------------------------

    #[test]
    fn fuzz_seeds_hold_the_parse_properties() {
        for (name, seed) in fuzz::seeds("webhook_parse") {
            println!("{name}");
            fuzz::check_parse(&seed);
        }
    }

    #[test]
    fn fuzz_seeds_hold_the_signature_properties() {
        for (name, seed) in fuzz::seeds("webhook_signature") {
            println!("{name}");
            fuzz::check_signature(&seed);
        }
    }

    #[test]
    fn wiki_never_panics_on_fragments() {
        let alphabet =
            ['*', '_', '[', ']', '|', '~', '{', '}', '!', '?', '\\', '-', 'a', ' ', '\n', 'é', '^', '#', 'h', '1', '.'];
        // Every string of length 4 over the alphabet: small enough to run in a unit test.
        let n = alphabet.len();
        for code in 0..n.pow(4) {
            let s: String = (0..4).map(|k| alphabet[(code / n.pow(k)) % n]).collect();
            let _ = plain_text(&json!(s));
        }
        let _ = plain_text(&json!("*".repeat(10_000)));
        let _ = plain_text(&json!("*a ".repeat(5_000)));
        let _ = plain_text(&json!("[".repeat(5_000)));
        let _ = plain_text(&json!("{code:".repeat(5_000)));
        let _ = plain_text(&json!("{{".repeat(5_000)));
    }
}
