//! JSON representations of the site's objects, in the REST v3 shape (ADF
//! rich text, `/rest/api/3/` links) or the v2 shape webhooks use (wiki
//! markup strings, `/rest/api/2/` links).

use serde_json::{Map, Value, json};

use crate::adf;
use crate::catalog::{
    self, CUSTOM_FIELDS, CustomFieldDef, CustomKind, IssueLinkTypeDef, IssueTypeDef, OptionDef, PriorityDef,
    ResolutionDef, StatusCategoryDef, StatusDef,
};
use crate::config::Account;
use crate::model::{Comment, CustomValue, Issue, Project, Store};
use crate::time::format_jira;

/// Which REST representation to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ver {
    V2,
    V3,
}

/// Renders objects for one base URL and representation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Repr<'a> {
    pub base: &'a str,
    pub ver: Ver,
}

impl<'a> Repr<'a> {
    pub(crate) fn v3(base: &'a str) -> Self {
        Self { base, ver: Ver::V3 }
    }

    pub(crate) fn v2(base: &'a str) -> Self {
        Self { base, ver: Ver::V2 }
    }

    /// `<base>/rest/api/<2|3>`.
    pub(crate) fn api(&self) -> String {
        let v = match self.ver {
            Ver::V2 => 2,
            Ver::V3 => 3,
        };
        format!("{}/rest/api/{v}", self.base)
    }

    fn avatars(&self, kind: &str, id: &str) -> Value {
        let b = self.base;
        json!({
            "48x48": format!("{b}/secure/{kind}avatar?size=large&avatarId={id}"),
            "24x24": format!("{b}/secure/{kind}avatar?size=small&avatarId={id}"),
            "16x16": format!("{b}/secure/{kind}avatar?size=xsmall&avatarId={id}"),
            "32x32": format!("{b}/secure/{kind}avatar?size=medium&avatarId={id}"),
        })
    }

    /// A `UserDetails` object (issue fields, comment authors, webhook `user`).
    pub(crate) fn user(&self, a: &Account) -> Value {
        json!({
            "self": format!("{}/user?accountId={}", self.api(), a.account_id),
            "accountId": a.account_id,
            "emailAddress": a.email,
            "avatarUrls": self.avatars("user", "10122"),
            "displayName": a.display_name,
            "active": a.active,
            "timeZone": a.time_zone,
            "accountType": "atlassian",
        })
    }

    /// A user by account id, or JSON null if unknown or `None`.
    pub(crate) fn user_ref(&self, store: &Store, id: Option<&str>) -> Value {
        id.and_then(|id| store.account(id)).map_or(Value::Null, |a| self.user(a))
    }

    /// The full `User` object of `/myself` and `/user`.
    pub(crate) fn user_full(&self, a: &Account) -> Value {
        json!({
            "self": format!("{}/user?accountId={}", self.api(), a.account_id),
            "accountId": a.account_id,
            "accountType": "atlassian",
            "emailAddress": a.email,
            "avatarUrls": self.avatars("user", "10122"),
            "displayName": a.display_name,
            "active": a.active,
            "timeZone": a.time_zone,
            "locale": "en_US",
            "groups": {"size": 2, "items": []},
            "applicationRoles": {"size": 1, "items": []},
            "expand": "groups,applicationRoles",
        })
    }

    /// The short project object used inside issues.
    pub(crate) fn project_ref(&self, p: &Project) -> Value {
        json!({
            "self": format!("{}/project/{}", self.api(), p.id),
            "id": p.id.to_string(),
            "key": p.key,
            "name": p.name,
            "projectTypeKey": "software",
            "simplified": false,
            "avatarUrls": self.avatars("project", "10324"),
        })
    }

    /// The `Project` object of `/project/{key}` and `/project/search`.
    pub(crate) fn project(&self, store: &Store, p: &Project, with_issue_types: bool, with_details: bool) -> Value {
        let mut v = json!({
            "expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
            "self": format!("{}/project/{}", self.api(), p.id),
            "id": p.id.to_string(),
            "key": p.key,
            "name": p.name,
            "avatarUrls": self.avatars("project", "10324"),
            "projectTypeKey": "software",
            "simplified": false,
            "style": "classic",
            "isPrivate": false,
            "properties": {},
        });
        if with_issue_types {
            v["issueTypes"] = catalog::ISSUE_TYPES.iter().map(|t| self.issue_type(t)).collect();
        }
        if with_details {
            v["description"] = json!("");
            if let Some(lead) = store.account(&p.lead) {
                v["lead"] = self.user_full(lead);
            }
            v["components"] = p
                .components
                .iter()
                .map(|c| {
                    json!({
                        "self": format!("{}/component/{}", self.api(), c.id),
                        "id": c.id.to_string(),
                        "name": c.name,
                        "description": "",
                        "isAssigneeTypeValid": false,
                    })
                })
                .collect();
            v["versions"] = json!([]);
            v["assigneeType"] = json!("UNASSIGNED");
            v["roles"] = json!({});
        }
        v
    }

    /// An `IssueTypeDetails` object.
    pub(crate) fn issue_type(&self, t: &IssueTypeDef) -> Value {
        json!({
            "self": format!("{}/issuetype/{}", self.api(), t.id),
            "id": t.id,
            "description": t.description,
            "iconUrl": format!("{}/rest/api/2/universal_avatar/view/type/issuetype/avatar/{}?size=medium", self.base, t.avatar_id),
            "name": t.name,
            "subtask": false,
            "avatarId": t.avatar_id,
            "hierarchyLevel": t.hierarchy_level,
        })
    }

    pub(crate) fn status_category(&self, c: &StatusCategoryDef) -> Value {
        json!({
            "self": format!("{}/statuscategory/{}", self.api(), c.id),
            "id": c.id,
            "key": c.key,
            "colorName": c.color,
            "name": c.name,
        })
    }

    /// A `StatusDetails` object.
    pub(crate) fn status(&self, s: &StatusDef) -> Value {
        json!({
            "self": format!("{}/status/{}", self.api(), s.id),
            "description": s.description,
            "iconUrl": format!("{}/", self.base),
            "name": s.name,
            "id": s.id,
            "statusCategory": self.status_category(&s.category),
        })
    }

    /// The short priority object used inside issues.
    pub(crate) fn priority_ref(&self, p: &PriorityDef) -> Value {
        json!({
            "self": format!("{}/priority/{}", self.api(), p.id),
            "iconUrl": format!("{}/images/icons/priorities/{}.svg", self.base, p.icon),
            "name": p.name,
            "id": p.id,
        })
    }

    /// The `Priority` object of `/priority`.
    pub(crate) fn priority(&self, p: &PriorityDef) -> Value {
        json!({
            "self": format!("{}/priority/{}", self.api(), p.id),
            "statusColor": p.color,
            "description": p.description,
            "iconUrl": format!("{}/images/icons/priorities/{}.svg", self.base, p.icon),
            "name": p.name,
            "id": p.id,
            "isDefault": p.id == catalog::DEFAULT_PRIORITY_ID,
        })
    }

    pub(crate) fn resolution(&self, r: &ResolutionDef) -> Value {
        json!({
            "self": format!("{}/resolution/{}", self.api(), r.id),
            "id": r.id,
            "description": r.description,
            "name": r.name,
        })
    }

    pub(crate) fn option(&self, o: &OptionDef) -> Value {
        json!({
            "self": format!("{}/customFieldOption/{}", self.api(), o.id),
            "value": o.value,
            "id": o.id,
        })
    }

    fn custom_value(&self, def: &CustomFieldDef, v: Option<&CustomValue>) -> Value {
        match v {
            None => Value::Null,
            Some(CustomValue::Text(s)) => json!(s),
            Some(CustomValue::Number(n)) => json!(n),
            Some(CustomValue::Option(id)) => def.option_by_id(id).map_or(Value::Null, |o| self.option(o)),
            Some(CustomValue::Options(ids)) => {
                ids.iter().filter_map(|id| def.option_by_id(id)).map(|o| self.option(o)).collect()
            }
        }
    }

    /// Rich text in this representation: ADF for v3, wiki markup for v2.
    pub(crate) fn rich_text(&self, doc: Option<&Value>) -> Value {
        match (doc, self.ver) {
            (None, _) => Value::Null,
            (Some(d), Ver::V3) => d.clone(),
            (Some(d), Ver::V2) => json!(adf::to_wiki(d)),
        }
    }

    /// A `Comment` object.
    pub(crate) fn comment(&self, store: &Store, issue_id: u64, c: &Comment) -> Value {
        let mut v = json!({
            "self": format!("{}/issue/{}/comment/{}", self.api(), issue_id, c.id),
            "id": c.id.to_string(),
            "author": self.user_ref(store, Some(&c.author)),
            "body": self.rich_text(Some(&c.body)),
            "updateAuthor": self.user_ref(store, Some(&c.update_author)),
            "created": format_jira(c.created),
            "updated": format_jira(c.updated),
            "jsdPublic": true,
        });
        if let Some(vis) = &c.visibility {
            v["visibility"] = vis.clone();
        }
        v
    }

    /// An `IssueLinkType` object.
    pub(crate) fn issue_link_type(&self, t: &IssueLinkTypeDef) -> Value {
        json!({
            "id": t.id,
            "name": t.name,
            "inward": t.inward,
            "outward": t.outward,
            "self": format!("{}/issueLinkType/{}", self.api(), t.id),
        })
    }

    /// `fields.issuelinks` of an issue: one entry per link, naming the other
    /// issue as `outwardIssue` when this issue is the link's source and as
    /// `inwardIssue` when it is the destination.
    fn issue_links(&self, store: &Store, issue_id: u64) -> Value {
        store
            .links_of(issue_id)
            .map(|l| {
                let (key, other) =
                    if l.source == issue_id { ("outwardIssue", l.destination) } else { ("inwardIssue", l.source) };
                let mut v = json!({
                    "id": l.id.to_string(),
                    "self": format!("{}/issueLink/{}", self.api(), l.id),
                    "type": self.issue_link_type(l.link_type),
                });
                v[key] = self.issue_ref(store, other);
                v
            })
            .collect()
    }

    /// The short issue object of `fields.parent` and of issue links.
    fn issue_ref(&self, store: &Store, id: u64) -> Value {
        store.issues.get(&id).map_or(Value::Null, |p| {
            json!({
                "id": p.id.to_string(),
                "key": p.key,
                "self": format!("{}/issue/{}", self.api(), p.id),
                "fields": {
                    "summary": p.summary,
                    "status": self.status(p.status),
                    "priority": self.priority_ref(p.priority),
                    "issuetype": self.issue_type(p.issue_type),
                },
            })
        })
    }

    /// Every field of an issue, keyed by field id.
    pub(crate) fn issue_fields(&self, store: &Store, issue: &Issue) -> Map<String, Value> {
        let mut f = Map::new();
        let project = store.project(issue.project_id);
        f.insert("summary".into(), json!(issue.summary));
        f.insert("description".into(), self.rich_text(issue.description.as_ref()));
        f.insert("issuetype".into(), self.issue_type(issue.issue_type));
        f.insert("project".into(), project.map_or(Value::Null, |p| self.project_ref(p)));
        f.insert("status".into(), self.status(issue.status));
        f.insert("resolution".into(), issue.resolution.map_or(Value::Null, |r| self.resolution(r)));
        f.insert("resolutiondate".into(), issue.resolution_date.map_or(Value::Null, |d| json!(format_jira(d))));
        f.insert("priority".into(), self.priority_ref(issue.priority));
        f.insert("labels".into(), json!(issue.labels));
        let components: Vec<Value> = project
            .map(|p| {
                issue
                    .components
                    .iter()
                    .filter_map(|id| p.components.iter().find(|c| c.id == *id))
                    .map(|c| {
                        json!({
                            "self": format!("{}/component/{}", self.api(), c.id),
                            "id": c.id.to_string(),
                            "name": c.name,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        f.insert("components".into(), Value::Array(components));
        f.insert("assignee".into(), self.user_ref(store, issue.assignee.as_deref()));
        f.insert("reporter".into(), self.user_ref(store, issue.reporter.as_deref()));
        f.insert("creator".into(), self.user_ref(store, Some(&issue.creator)));
        f.insert("created".into(), json!(format_jira(issue.created)));
        f.insert("updated".into(), json!(format_jira(issue.updated)));
        f.insert("statuscategorychangedate".into(), json!(format_jira(issue.status_category_changed)));
        f.insert("duedate".into(), issue.duedate.map_or(Value::Null, |d| json!(d.format("%Y-%m-%d").to_string())));
        f.insert("environment".into(), Value::Null);
        f.insert("fixVersions".into(), json!([]));
        f.insert("versions".into(), json!([]));
        f.insert("issuelinks".into(), self.issue_links(store, issue.id));
        f.insert("subtasks".into(), json!([]));
        f.insert("attachment".into(), json!([]));
        f.insert("lastViewed".into(), Value::Null);
        f.insert("security".into(), Value::Null);
        if let Some(parent) = issue.parent {
            f.insert("parent".into(), self.issue_ref(store, parent));
        }
        for def in &CUSTOM_FIELDS {
            f.insert(def.id.into(), self.custom_value(def, issue.custom.get(def.id)));
        }
        let comments: Vec<Value> = issue.comments.iter().map(|c| self.comment(store, issue.id, c)).collect();
        f.insert(
            "comment".into(),
            json!({
                "comments": comments,
                "self": format!("{}/issue/{}/comment", self.api(), issue.id),
                "maxResults": comments.len(),
                "total": comments.len(),
                "startAt": 0,
            }),
        );
        f
    }

    /// An `IssueBean` with the selected fields.
    pub(crate) fn issue(&self, store: &Store, issue: &Issue, sel: &FieldSelector) -> Value {
        let all = self.issue_fields(store, issue);
        let fields: Map<String, Value> = all.into_iter().filter(|(k, _)| sel.wants(k)).collect();
        json!({
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": issue.id.to_string(),
            "self": format!("{}/issue/{}", self.api(), issue.id),
            "key": issue.key,
            "fields": fields,
        })
    }

    /// The issue stub comment webhooks carry: only a few fields.
    pub(crate) fn issue_stub(&self, store: &Store, issue: &Issue) -> Value {
        let project = store.project(issue.project_id);
        json!({
            "id": issue.id.to_string(),
            "self": format!("{}/issue/{}", self.api(), issue.id),
            "key": issue.key,
            "fields": {
                "summary": issue.summary,
                "issuetype": self.issue_type(issue.issue_type),
                "project": project.map_or(Value::Null, |p| self.project_ref(p)),
                "assignee": self.user_ref(store, issue.assignee.as_deref()),
                "priority": self.priority_ref(issue.priority),
                "status": self.status(issue.status),
            },
        })
    }

    /// Createmeta field metadata for one field of the create screen.
    pub(crate) fn field_meta(&self, project: &Project, t: &IssueTypeDef, field: &str) -> Option<Value> {
        let api = self.api();
        let system = |ty: &str, name: &str, required: bool, ops: &[&str]| {
            json!({
                "required": required,
                "schema": {"type": ty, "system": field},
                "name": name,
                "key": field,
                "fieldId": field,
                "hasDefaultValue": false,
                "operations": ops,
            })
        };
        let mut v = match field {
            "issuetype" => {
                let mut v = system("issuetype", "Issue Type", true, &[]);
                v["allowedValues"] = json!([self.issue_type(t)]);
                v
            }
            "parent" => system("issuelink", "Parent", false, &["set"]),
            "project" => {
                let mut v = system("project", "Project", true, &["set"]);
                v["allowedValues"] = json!([self.project_ref(project)]);
                v
            }
            "summary" => system("string", "Summary", true, &["set"]),
            "description" => system("string", "Description", false, &["set"]),
            "components" => {
                let mut v = system("array", "Components", false, &["add", "set", "remove"]);
                v["schema"]["items"] = json!("component");
                v["allowedValues"] = project
                    .components
                    .iter()
                    .map(|c| json!({"self": format!("{api}/component/{}", c.id), "id": c.id.to_string(), "name": c.name}))
                    .collect();
                v
            }
            "priority" => {
                let mut v = system("priority", "Priority", false, &["set"]);
                v["allowedValues"] = catalog::PRIORITIES.iter().map(|p| self.priority_ref(p)).collect();
                v["hasDefaultValue"] = json!(true);
                if let Some(d) = catalog::priority(catalog::DEFAULT_PRIORITY_ID) {
                    v["defaultValue"] = self.priority_ref(d);
                }
                v
            }
            "labels" => {
                let mut v = system("array", "Labels", false, &["add", "set", "remove"]);
                v["schema"]["items"] = json!("string");
                v["autoCompleteUrl"] = json!(format!("{}/rest/api/1.0/labels/suggest?query=", self.base));
                v
            }
            "assignee" => {
                let mut v = system("user", "Assignee", false, &["set"]);
                v["autoCompleteUrl"] = json!(format!("{api}/user/assignable/search?project={}&query=", project.key));
                v
            }
            "reporter" => {
                let mut v = system("user", "Reporter", true, &["set"]);
                v["hasDefaultValue"] = json!(true);
                v["autoCompleteUrl"] = json!(format!("{api}/user/recommend?context=Reporter&issueKey=&query="));
                v
            }
            "duedate" => system("date", "Due date", false, &["set"]),
            _ => {
                let def = catalog::custom_field(field)?;
                let (ty, items, ops): (&str, Option<&str>, &[&str]) = match def.kind {
                    CustomKind::Text => ("string", None, &["set"]),
                    CustomKind::Number => ("number", None, &["set"]),
                    CustomKind::Select => ("option", None, &["set"]),
                    CustomKind::MultiSelect => ("array", Some("option"), &["add", "set", "remove"]),
                };
                let mut schema = json!({"type": ty, "custom": def.kind.schema_custom(), "customId": def.number});
                if let Some(items) = items {
                    schema["items"] = json!(items);
                }
                let mut v = json!({
                    "required": false,
                    "schema": schema,
                    "name": def.name,
                    "key": def.id,
                    "fieldId": def.id,
                    "hasDefaultValue": false,
                    "operations": ops,
                });
                if !def.options.is_empty() {
                    v["allowedValues"] = def.options.iter().map(|o| self.option(o)).collect();
                }
                v
            }
        };
        if field == "issuetype" {
            v["operations"] = json!([]);
        }
        Some(v)
    }
}

/// Which fields a caller asked for (`fields=` of GET issue and search).
#[derive(Debug, Clone, Default)]
pub(crate) struct FieldSelector {
    all: bool,
    include: Vec<String>,
    exclude: Vec<String>,
}

impl FieldSelector {
    /// Parses `fields` values (each possibly comma-separated); `default_all`
    /// applies when nothing is given.
    pub(crate) fn parse<'a>(values: impl IntoIterator<Item = &'a str>, default_all: bool) -> Self {
        let mut sel = Self::default();
        let mut any = false;
        for part in values.into_iter().flat_map(|v| v.split(',')) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            any = true;
            match part {
                "*all" | "*navigable" => sel.all = true,
                p if p.starts_with('-') => sel.exclude.push(p[1..].to_owned()),
                p => sel.include.push(p.to_owned()),
            }
        }
        if !any {
            if default_all {
                sel.all = true;
            } else {
                sel.include.push("id".into());
            }
        } else if sel.include.is_empty() && !sel.all {
            // Only exclusions: Jira starts from all navigable fields.
            sel.all = true;
        }
        sel
    }

    pub(crate) fn wants(&self, field: &str) -> bool {
        !self.exclude.iter().any(|e| e == field) && (self.all || self.include.iter().any(|i| i == field))
    }

    /// True when only `id` was asked for (search/jql's default): issues are `{"id":…}` only.
    pub(crate) fn id_only(&self) -> bool {
        !self.all && self.include.iter().all(|f| f == "id")
    }

    /// True when nothing but `id`/`key` was asked for (allows larger pages).
    pub(crate) fn ids_and_keys_only(&self) -> bool {
        !self.all && self.include.iter().all(|f| f == "id" || f == "key")
    }
}
