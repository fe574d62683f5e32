//! Reading `fields` and `update` of create, edit and transition requests,
//! with Jira's per-field error messages.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde_json::{Map, Value};

use crate::adf::{self, NOT_ADF_MESSAGE};
use crate::catalog::{self, CustomFieldDef, CustomKind, IssueTypeDef, PriorityDef};
use crate::error::ApiError;
use crate::model::{CustomValue, Issue, Project, Store};

/// Jira's message for a field that is unknown or not on the screen.
pub(crate) fn not_on_screen(field: &str) -> String {
    format!("Field '{field}' cannot be set. It is not on the appropriate screen, or unknown.")
}

/// The changes a request asks for; `None` = untouched.
#[derive(Debug, Default, Clone)]
pub(crate) struct Changes {
    pub summary: Option<String>,
    pub description: Option<Option<Value>>,
    pub labels: Option<Vec<String>>,
    pub components: Option<Vec<u64>>,
    pub priority: Option<&'static PriorityDef>,
    pub parent: Option<Option<u64>>,
    pub assignee: Option<Option<String>>,
    pub reporter: Option<Option<String>>,
    pub duedate: Option<Option<NaiveDate>>,
    pub custom: BTreeMap<&'static str, Option<CustomValue>>,
    /// ADF body of a comment added through `update.comment`.
    pub comment: Option<Value>,
}

/// Per-field errors plus a diagnostic for the `x-sim-detail` header.
#[derive(Debug, Default)]
pub(crate) struct FieldErrors {
    pub errors: BTreeMap<String, String>,
    pub detail: Option<String>,
}

impl FieldErrors {
    pub(crate) fn add(&mut self, field: &str, msg: impl Into<String>) {
        self.errors.entry(field.to_owned()).or_insert_with(|| msg.into());
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub(crate) fn into_api_error(self) -> ApiError {
        let detail = self.detail.clone();
        let e = ApiError::fields(self.errors);
        match detail {
            Some(d) => e.with_detail(&d),
            None => e,
        }
    }
}

/// Where the fields are being set.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Screen<'a> {
    Create,
    Edit(&'a Issue),
}

pub(crate) struct FieldCtx<'a> {
    pub store: &'a Store,
    pub project: &'a Project,
    pub issue_type: &'static IssueTypeDef,
    pub screen: Screen<'a>,
}

impl FieldCtx<'_> {
    fn current(&self) -> Option<&Issue> {
        match self.screen {
            Screen::Create => None,
            Screen::Edit(i) => Some(i),
        }
    }
}

/// Reads `fields` and `update`. `project` and `issuetype` are the caller's
/// business on create and cannot be changed on edit.
pub(crate) fn read(
    ctx: &FieldCtx<'_>,
    fields: &Map<String, Value>,
    update: &Map<String, Value>,
) -> Result<Changes, FieldErrors> {
    let mut ch = Changes::default();
    let mut errs = FieldErrors::default();
    for (name, value) in fields {
        if matches!(ctx.screen, Screen::Create) && (name == "project" || name == "issuetype") {
            continue;
        }
        if !settable(ctx, name) {
            errs.add(name, not_on_screen(name));
            continue;
        }
        if let Err(msg) = set(ctx, &mut ch, name, value, &mut errs) {
            errs.add(name, msg);
        }
    }
    for (name, ops) in update {
        if name == "comment" && matches!(ctx.screen, Screen::Edit(_)) {
            match read_comment_update(ops) {
                Ok(body) => ch.comment = body,
                Err(msg) => errs.add("comment", msg),
            }
            continue;
        }
        if !settable(ctx, name) {
            errs.add(name, not_on_screen(name));
            continue;
        }
        let Some(ops) = ops.as_array() else {
            errs.add(name, "data was not an array");
            continue;
        };
        for op in ops {
            if let Err(msg) = apply_op(ctx, &mut ch, name, op, &mut errs) {
                errs.add(name, msg);
            }
        }
    }
    if errs.is_empty() { Ok(ch) } else { Err(errs) }
}

fn settable(ctx: &FieldCtx<'_>, name: &str) -> bool {
    if name == "project" || name == "issuetype" {
        return false;
    }
    catalog::on_screen(ctx.issue_type, name)
}

fn read_comment_update(ops: &Value) -> Result<Option<Value>, String> {
    let ops = ops.as_array().ok_or("data was not an array")?;
    let mut body = None;
    for op in ops {
        let add = op.get("add").ok_or("Only the 'add' operation is supported for comments.")?;
        let b = add.get("body").ok_or("Comment body can not be empty!")?;
        adf::validate(b).map_err(|_| "Comment body is not valid!".to_owned())?;
        body = Some(b.clone());
    }
    Ok(body)
}

fn apply_op(
    ctx: &FieldCtx<'_>,
    ch: &mut Changes,
    name: &str,
    op: &Value,
    errs: &mut FieldErrors,
) -> Result<(), String> {
    let obj = op.as_object().ok_or("Operation must be an object")?;
    let (verb, value) = obj.iter().next().ok_or("Operation must not be empty")?;
    match verb.as_str() {
        "set" => set(ctx, ch, name, value, errs),
        "add" | "remove" => {
            let add = verb == "add";
            match name {
                "labels" => {
                    let label = value.as_str().ok_or("Operation value must be a string")?;
                    let mut labels =
                        ch.labels.clone().or_else(|| ctx.current().map(|i| i.labels.clone())).unwrap_or_default();
                    if add {
                        check_label(label)?;
                        if !labels.iter().any(|l| l == label) {
                            labels.push(label.to_owned());
                        }
                    } else {
                        labels.retain(|l| l != label);
                    }
                    ch.labels = Some(labels);
                    Ok(())
                }
                "components" => {
                    let id = component(ctx.project, value)?;
                    let mut comps = ch
                        .components
                        .clone()
                        .or_else(|| ctx.current().map(|i| i.components.clone()))
                        .unwrap_or_default();
                    if add {
                        if !comps.contains(&id) {
                            comps.push(id);
                        }
                    } else {
                        comps.retain(|c| *c != id);
                    }
                    ch.components = Some(comps);
                    Ok(())
                }
                _ => match catalog::custom_field(name) {
                    Some(def) if def.kind == CustomKind::MultiSelect => {
                        let id = option(def, value)?.id;
                        let mut ids = match ch.custom.get(def.id) {
                            Some(Some(CustomValue::Options(v))) => v.clone(),
                            Some(_) => Vec::new(),
                            None => match ctx.current().and_then(|i| i.custom.get(def.id)) {
                                Some(CustomValue::Options(v)) => v.clone(),
                                _ => Vec::new(),
                            },
                        };
                        if add {
                            if !ids.contains(&id) {
                                ids.push(id);
                            }
                        } else {
                            ids.retain(|i| *i != id);
                        }
                        ch.custom.insert(def.id, Some(CustomValue::Options(ids)));
                        Ok(())
                    }
                    _ => Err(format!("Field '{name}' does not support the '{verb}' operation.")),
                },
            }
        }
        other => Err(format!("Field '{name}' does not support the '{other}' operation.")),
    }
}

/// Sets one field from its `fields` value.
fn set(ctx: &FieldCtx<'_>, ch: &mut Changes, name: &str, v: &Value, errs: &mut FieldErrors) -> Result<(), String> {
    match name {
        "summary" => {
            let s = v.as_str().ok_or("Operation value must be a string")?;
            ch.summary = Some(check_summary(s)?);
        }
        "description" => {
            ch.description = Some(match v {
                Value::Null => None,
                Value::Object(_) => {
                    if let Err(e) = adf::validate(v) {
                        errs.detail = Some(format!("description: {e}"));
                        return Err(NOT_ADF_MESSAGE.into());
                    }
                    Some(v.clone())
                }
                _ => return Err(NOT_ADF_MESSAGE.into()),
            });
        }
        "labels" => {
            let arr = match v {
                Value::Null => Vec::new(),
                Value::Array(a) => a.clone(),
                _ => return Err("data was not an array".into()),
            };
            let mut labels = Vec::new();
            for l in &arr {
                let s = l.as_str().ok_or("Operation value must be a string")?;
                check_label(s)?;
                if !labels.iter().any(|x: &String| x == s) {
                    labels.push(s.to_owned());
                }
            }
            ch.labels = Some(labels);
        }
        "components" => {
            let arr = match v {
                Value::Null => Vec::new(),
                Value::Array(a) => a.clone(),
                _ => return Err("data was not an array".into()),
            };
            let mut ids = Vec::new();
            for c in &arr {
                let id = component(ctx.project, c)?;
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            ch.components = Some(ids);
        }
        "priority" => {
            let obj = v.as_object().ok_or("Specify the Priority (id or name) in the string format")?;
            let key = obj
                .get("id")
                .or_else(|| obj.get("name"))
                .and_then(Value::as_str)
                .ok_or("Specify the Priority (id or name) in the string format")?;
            let p = if obj.contains_key("id") {
                catalog::PRIORITIES.iter().find(|p| p.id == key)
            } else {
                catalog::PRIORITIES.iter().find(|p| p.name == key)
            };
            ch.priority = Some(p.ok_or("The priority selected is invalid.")?);
        }
        "parent" => {
            ch.parent = Some(match v {
                Value::Null => None,
                Value::Object(o) => {
                    let key = o
                        .get("key")
                        .or_else(|| o.get("id"))
                        .and_then(Value::as_str)
                        .ok_or("Could not find issue by id or key.")?;
                    let parent = ctx.store.issue(key).ok_or("Could not find issue by id or key.")?;
                    if parent.issue_type.hierarchy_level != ctx.issue_type.hierarchy_level + 1 {
                        return Err("Given parent issue does not belong to appropriate hierarchy.".into());
                    }
                    if ctx.current().is_some_and(|i| i.id == parent.id) {
                        return Err("An issue cannot be its own parent.".into());
                    }
                    Some(parent.id)
                }
                _ => return Err("Could not find issue by id or key.".into()),
            });
        }
        "assignee" | "reporter" => {
            let who = match v {
                Value::Null => None,
                Value::Object(o) => {
                    let id = o
                        .get("accountId")
                        .or_else(|| o.get("id"))
                        .and_then(Value::as_str)
                        .ok_or("Specify a user by accountId.")?;
                    if id == "-1" && name == "assignee" {
                        None
                    } else {
                        let a = ctx.store.account(id).ok_or_else(|| format!("User '{id}' does not exist."))?;
                        Some(a.account_id.clone())
                    }
                }
                _ => return Err("Specify a user by accountId.".into()),
            };
            if name == "assignee" {
                ch.assignee = Some(who);
            } else {
                if who.is_none() {
                    return Err("Reporter is required.".into());
                }
                ch.reporter = Some(who);
            }
        }
        "duedate" => {
            ch.duedate = Some(match v {
                Value::Null => None,
                Value::String(s) if s.is_empty() => None,
                Value::String(s) => Some(
                    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| format!("Error parsing date string: {s}"))?,
                ),
                _ => return Err("Operation value must be a string".into()),
            });
        }
        _ => {
            let def = catalog::custom_field(name).ok_or_else(|| not_on_screen(name))?;
            ch.custom.insert(def.id, custom(def, v)?);
        }
    }
    Ok(())
}

pub(crate) fn check_summary(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        return Err("You must specify a summary of the issue.".into());
    }
    if s.contains('\n') || s.contains('\r') {
        return Err("The summary is invalid because it contains newline characters.".into());
    }
    if s.chars().count() > 255 {
        return Err("Summary must be less than 255 characters.".into());
    }
    Ok(s.to_owned())
}

fn check_label(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("The label '' is empty, which is invalid.".into());
    }
    if s.chars().any(char::is_whitespace) {
        return Err(format!("The label '{s}' contains spaces which is invalid."));
    }
    if s.chars().count() > 255 {
        return Err(format!("The label '{s}' exceeds the maximum length for a single label of 255 characters."));
    }
    Ok(())
}

fn component(project: &Project, v: &Value) -> Result<u64, String> {
    let o = v.as_object().ok_or("Specify a valid component by id or name.")?;
    if let Some(id) = o.get("id").and_then(Value::as_str) {
        return project
            .components
            .iter()
            .find(|c| c.id.to_string() == id)
            .map(|c| c.id)
            .ok_or_else(|| format!("Component with id '{id}' does not exist."));
    }
    if let Some(name) = o.get("name").and_then(Value::as_str) {
        return project
            .components
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.id)
            .ok_or_else(|| format!("Component name '{name}' is not valid"));
    }
    Err("Specify a valid component by id or name.".into())
}

fn option(def: &CustomFieldDef, v: &Value) -> Result<&'static catalog::OptionDef, String> {
    let o = v.as_object().ok_or_else(|| format!("Specify a valid 'id' or 'name' for {}", def.name))?;
    if let Some(id) = o.get("id").and_then(Value::as_str) {
        return def.option(Some(id), None).ok_or_else(|| format!("Option id '{id}' is not valid"));
    }
    if let Some(value) = o.get("value").and_then(Value::as_str) {
        return def.option(None, Some(value)).ok_or_else(|| format!("Option value '{value}' is not valid"));
    }
    Err(format!("Specify a valid 'id' or 'name' for {}", def.name))
}

fn custom(def: &CustomFieldDef, v: &Value) -> Result<Option<CustomValue>, String> {
    if v.is_null() {
        return Ok(None);
    }
    Ok(Some(match def.kind {
        CustomKind::Text => {
            let s = v.as_str().ok_or("Operation value must be a string")?;
            if s.chars().count() > 255 {
                return Err("The entered text is too long. It exceeds the allowed limit of 255 characters.".into());
            }
            CustomValue::Text(s.to_owned())
        }
        CustomKind::Number => {
            let n = v.as_f64().ok_or("Operation value must be a number")?;
            CustomValue::Number(n)
        }
        CustomKind::Select => CustomValue::Option(option(def, v)?.id),
        CustomKind::MultiSelect => {
            let arr = v.as_array().ok_or("data was not an array")?;
            let mut ids = Vec::new();
            for o in arr {
                let id = option(def, o)?.id;
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            CustomValue::Options(ids)
        }
    }))
}
