//! The in-memory data: accounts, projects, issues, comments, webhooks.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use crate::catalog::{self, IssueLinkTypeDef, IssueTypeDef, PriorityDef, ResolutionDef, StatusDef};
use crate::config::{Account, ProjectSeed, SimConfig, WebhookSpec};
use crate::jql::Query;

/// A project component.
#[derive(Debug, Clone)]
pub(crate) struct Component {
    pub id: u64,
    pub name: String,
}

/// A project.
#[derive(Debug, Clone)]
pub(crate) struct Project {
    pub id: u64,
    pub key: String,
    pub name: String,
    pub lead: String,
    pub components: Vec<Component>,
    pub next_number: u64,
}

/// A stored custom field value, in its canonical form (option ids, not values).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CustomValue {
    Text(String),
    Number(f64),
    Option(&'static str),
    Options(Vec<&'static str>),
}

/// A comment.
#[derive(Debug, Clone)]
pub(crate) struct Comment {
    pub id: u64,
    pub author: String,
    pub update_author: String,
    /// ADF document.
    pub body: Value,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub visibility: Option<Value>,
}

/// An issue.
#[derive(Debug, Clone)]
pub(crate) struct Issue {
    pub id: u64,
    pub key: String,
    pub project_id: u64,
    pub issue_type: &'static IssueTypeDef,
    pub summary: String,
    /// ADF document.
    pub description: Option<Value>,
    pub status: &'static StatusDef,
    pub resolution: Option<&'static ResolutionDef>,
    pub resolution_date: Option<DateTime<Utc>>,
    pub priority: &'static PriorityDef,
    pub labels: Vec<String>,
    pub components: Vec<u64>,
    pub assignee: Option<String>,
    pub reporter: Option<String>,
    pub creator: String,
    pub parent: Option<u64>,
    pub duedate: Option<NaiveDate>,
    pub custom: BTreeMap<&'static str, CustomValue>,
    pub comments: Vec<Comment>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub status_category_changed: DateTime<Utc>,
    pub properties: BTreeMap<String, Value>,
}

/// A link between two issues: "source <outward> destination", e.g. with
/// Duplicate, "source duplicates destination". `POST /issueLink` names the
/// source `inwardIssue` and the destination `outwardIssue`.
#[derive(Debug, Clone)]
pub(crate) struct IssueLink {
    pub id: u64,
    pub link_type: &'static IssueLinkTypeDef,
    pub source: u64,
    pub destination: u64,
}

/// A registered admin webhook.
#[derive(Debug, Clone)]
pub(crate) struct Webhook {
    pub id: u64,
    pub spec: WebhookSpec,
    /// Parsed `spec.jql_filter`.
    pub filter: Option<Query>,
    pub enabled: bool,
    pub last_updated: DateTime<Utc>,
    pub last_updated_by: String,
}

/// All mutable simulator data, behind one mutex.
#[derive(Debug)]
pub(crate) struct Store {
    pub accounts: Vec<Account>,
    pub projects: Vec<Project>,
    pub issues: BTreeMap<u64, Issue>,
    pub next_issue_id: u64,
    pub next_comment_id: u64,
    pub next_changelog_id: u64,
    pub next_component_id: u64,
    pub next_project_id: u64,
    pub webhooks: BTreeMap<u64, Webhook>,
    pub next_webhook_id: u64,
    pub links: BTreeMap<u64, IssueLink>,
    pub next_link_id: u64,
}

impl Store {
    pub(crate) fn new(config: &SimConfig) -> Self {
        let mut store = Self {
            accounts: config.accounts.clone(),
            projects: Vec::new(),
            issues: BTreeMap::new(),
            next_issue_id: 10000,
            next_comment_id: 10000,
            next_changelog_id: 10000,
            next_component_id: 10000,
            next_project_id: 10000,
            webhooks: BTreeMap::new(),
            next_webhook_id: 1,
            links: BTreeMap::new(),
            next_link_id: 10000,
        };
        for seed in &config.projects {
            store.add_project(seed);
        }
        store
    }

    pub(crate) fn add_project(&mut self, seed: &ProjectSeed) -> u64 {
        let lead = self.accounts.first().map(|a| a.account_id.clone()).unwrap_or_default();
        let components = seed
            .components
            .iter()
            .map(|name| {
                let id = self.next_component_id;
                self.next_component_id += 1;
                Component { id, name: name.clone() }
            })
            .collect();
        let id = self.next_project_id;
        self.next_project_id += 1;
        self.projects.push(Project {
            id,
            key: seed.key.to_ascii_uppercase(),
            name: seed.name.clone(),
            lead,
            components,
            next_number: 1,
        });
        id
    }

    pub(crate) fn account(&self, account_id: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.account_id == account_id)
    }

    /// Finds an account by account id or (case-insensitive) email.
    pub(crate) fn find_account(&self, who: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.account_id == who || a.email.eq_ignore_ascii_case(who))
    }

    pub(crate) fn project(&self, id: u64) -> Option<&Project> {
        self.projects.iter().find(|p| p.id == id)
    }

    /// Finds a project by numeric id or (case-insensitive) key.
    pub(crate) fn project_by_id_or_key(&self, s: &str) -> Option<&Project> {
        self.projects.iter().find(|p| p.id.to_string() == s || p.key.eq_ignore_ascii_case(s))
    }

    /// Finds an issue id by numeric id or (case-insensitive) key.
    pub(crate) fn issue_id(&self, id_or_key: &str) -> Option<u64> {
        if let Ok(id) = id_or_key.parse::<u64>() {
            return self.issues.contains_key(&id).then_some(id);
        }
        self.issues.values().find(|i| i.key.eq_ignore_ascii_case(id_or_key)).map(|i| i.id)
    }

    pub(crate) fn issue(&self, id_or_key: &str) -> Option<&Issue> {
        self.issue_id(id_or_key).and_then(|id| self.issues.get(&id))
    }

    /// Links that have `issue_id` at either end, oldest first.
    pub(crate) fn links_of(&self, issue_id: u64) -> impl Iterator<Item = &IssueLink> {
        self.links.values().filter(move |l| l.source == issue_id || l.destination == issue_id)
    }

    pub(crate) fn next_changelog_id(&mut self) -> u64 {
        let id = self.next_changelog_id;
        self.next_changelog_id += 1;
        id
    }

    pub(crate) fn component_name(&self, issue: &Issue, id: u64) -> Option<String> {
        self.project(issue.project_id)?.components.iter().find(|c| c.id == id).map(|c| c.name.clone())
    }
}

impl Issue {
    /// The custom field value rendered as its display string (for changelogs
    /// and JQL comparisons).
    pub(crate) fn custom_display(&self, field: &str) -> Option<String> {
        let def = catalog::custom_field(field)?;
        Some(match self.custom.get(def.id)? {
            CustomValue::Text(s) => s.clone(),
            CustomValue::Number(n) => format_number(*n),
            CustomValue::Option(id) => def.option_by_id(id)?.value.to_owned(),
            CustomValue::Options(ids) => {
                ids.iter().filter_map(|id| def.option_by_id(id).map(|o| o.value)).collect::<Vec<_>>().join(",")
            }
        })
    }
}

/// Numbers print without a trailing `.0` when integral, like Jira's changelog.
pub(crate) fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 { format!("{}", n as i64) } else { n.to_string() }
}
