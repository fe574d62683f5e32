//! A routing configuration and its validation rules, free of proto and SQL.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    model::{Severity, SeveritySet, Trigger},
    priority::{Band, PriorityMapping},
    ticket::SUMMARY_MAX,
};

/// Where the mapped priority goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriorityField {
    /// Jira's `priority` field.
    Priority,
    /// A custom select field (e.g. a severity field), by id.
    Custom(String),
}

impl PriorityField {
    /// The stored form (`priority` or the custom field id).
    pub fn as_str(&self) -> &str {
        match self {
            PriorityField::Priority => "priority",
            PriorityField::Custom(id) => id,
        }
    }
}

/// The value of an additional field, by kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum FieldValue {
    /// Extra labels.
    Labels(Vec<String>),
    /// Components, by name.
    Components(Vec<String>),
    /// A text custom field.
    Text(String),
    /// A number custom field.
    Number(f64),
    /// A single-select custom field's option.
    Option(String),
    /// A multi-select custom field's options.
    Options(Vec<String>),
}

/// A field and the value every ticket of the configuration carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdditionalField {
    /// `labels`, `components`, or `customfield_<n>`.
    pub field_id: String,
    /// Its value.
    pub value: FieldValue,
}

/// What happens when a vulnerability recurs after its ticket closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecurrencePolicy {
    /// Reopen the ticket.
    #[default]
    Reopen,
    /// Open a new ticket.
    NewTicket,
    /// Only comment on the closed ticket.
    Comment,
}

impl RecurrencePolicy {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RecurrencePolicy::Reopen => "reopen",
            RecurrencePolicy::NewTicket => "new_ticket",
            RecurrencePolicy::Comment => "comment",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Reopen, Self::NewTicket, Self::Comment].into_iter().find(|p| p.as_str() == s)
    }
}

/// Jira resolutions that close a vulnerability rather than remediate it, by default.
pub const DEFAULT_CLOSING_RESOLUTIONS: [&str; 5] =
    ["Won't Do", "Won't Fix", "Duplicate", "Cannot Reproduce", "Declined"];

/// A configuration as the service uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct Configuration {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub credential_id: Uuid,
    pub trigger: Trigger,
    pub application_ids: Vec<String>,
    pub resource_group_ids: Vec<Uuid>,
    pub jira_project_key: String,
    pub default_issue_type: String,
    pub title_prefix: Option<String>,
    pub default_epic_key: Option<String>,
    pub default_assignee_account_id: Option<String>,
    pub additional_fields: Vec<AdditionalField>,
    pub severities: SeveritySet,
    pub priority_mapping: PriorityMapping,
    pub priority_field: PriorityField,
    pub bidirectional: bool,
    /// `None` while disabled.
    pub enabled_at: Option<DateTime<Utc>>,
    pub status_mapping: Vec<String>,
    pub recurrence_policy: RecurrencePolicy,
}

/// A field that breaks a rule, named as the proto names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The request field.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError { field: field.into(), message: message.into() }
}

/// Longest title prefix: leaves at least 150 characters of the 255 for the title.
pub const TITLE_PREFIX_MAX: usize = 100;
const _: () = assert!(SUMMARY_MAX - TITLE_PREFIX_MAX >= 150);

/// Jira project keys: an uppercase letter, then uppercase letters, digits or underscores,
/// 2 to 10 characters in all (Jira's default key pattern).
pub fn check_project_key(key: &str) -> Result<(), FieldError> {
    let mut chars = key.chars();
    let ok = (2..=10).contains(&key.len())
        && chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(err("jira_project_key", "must be a Jira project key: 2-10 characters, A-Z first, then A-Z, 0-9 or _"))
    }
}

/// An issue key (`SEC-12`), for the default epic.
pub fn check_issue_key(key: &str, field: &str) -> Result<(), FieldError> {
    // Issue numbers are 64-bit in Jira: 18 digits bound them (and the stored key).
    let ok = key.rsplit_once('-').is_some_and(|(project, n)| {
        check_project_key(project).is_ok() && (1..=18).contains(&n.len()) && n.chars().all(|c| c.is_ascii_digit())
    });
    if ok { Ok(()) } else { Err(err(field, "must be a Jira issue key such as SEC-12")) }
}

/// A Jira label: non-empty, at most 255 characters, no whitespace.
pub fn check_label(label: &str, field: &str) -> Result<(), FieldError> {
    if label.is_empty() || label.chars().count() > 255 || label.chars().any(|c| c.is_whitespace() || c == '\0') {
        return Err(err(field, format!("label {label:?} must be 1-255 characters without spaces")));
    }
    Ok(())
}

fn is_custom_field(id: &str) -> bool {
    id.strip_prefix("customfield_").is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

/// Values a multi-valued field takes, and the longest of each (Jira's own limit for names).
const MAX_VALUES: usize = 100;
const MAX_VALUE_CHARS: usize = 255;

/// 1 to 100 non-blank values of at most 255 characters, without NUL (PostgreSQL cannot store it).
fn check_values(values: &[String], at: &str, what: &str) -> Result<(), FieldError> {
    if values.is_empty() || values.len() > MAX_VALUES {
        return Err(err(at, format!("{what} need 1 to {MAX_VALUES} values")));
    }
    for v in values {
        check_value(v, at, what)?;
    }
    Ok(())
}

fn check_value(v: &str, at: &str, what: &str) -> Result<(), FieldError> {
    if v.trim().is_empty() || v.chars().count() > MAX_VALUE_CHARS || v.contains('\0') {
        return Err(err(at, format!("{what} must be 1 to {MAX_VALUE_CHARS} characters")));
    }
    Ok(())
}

/// Checks additional fields: supported kinds only, each field once, at most 50.
pub fn check_additional_fields(fields: &[AdditionalField]) -> Result<(), FieldError> {
    if fields.len() > 50 {
        return Err(err("additional_fields", "at most 50 fields"));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, f) in fields.iter().enumerate() {
        let at = format!("additional_fields[{i}]");
        if !seen.insert(f.field_id.as_str()) {
            return Err(err(at, format!("field {} appears twice", f.field_id)));
        }
        match (&f.value, f.field_id.as_str()) {
            (FieldValue::Labels(labels), "labels") => {
                if labels.is_empty() || labels.len() > MAX_VALUES {
                    return Err(err(at, format!("labels need 1 to {MAX_VALUES} values")));
                }
                for label in labels {
                    check_label(label, &at)?;
                }
            }
            (FieldValue::Components(names), "components") => check_values(names, &at, "components")?,
            (FieldValue::Text(_) | FieldValue::Number(_) | FieldValue::Option(_) | FieldValue::Options(_), id)
                if is_custom_field(id) =>
            {
                match &f.value {
                    FieldValue::Number(n) if !n.is_finite() => return Err(err(at, "number must be finite")),
                    FieldValue::Option(v) => check_value(v, &at, "option")?,
                    FieldValue::Options(vs) => check_values(vs, &at, "options")?,
                    // An empty text is also what a field sent without any value arrives as.
                    FieldValue::Text(t) if t.is_empty() => {
                        return Err(err(at, "a value is required (text must not be empty)"));
                    }
                    FieldValue::Text(t) if t.chars().count() > 255 || t.contains('\0') => {
                        return Err(err(at, "text must be at most 255 characters (single-line text fields)"));
                    }
                    _ => {}
                }
            }
            (_, id) => {
                return Err(err(
                    at,
                    format!(
                        "{id}: supported are labels (labels), components (components), and customfield_<n> with text, number, option_value or option_values"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Checks the title prefix.
pub fn check_title_prefix(prefix: &str) -> Result<(), FieldError> {
    if prefix.chars().count() > TITLE_PREFIX_MAX || prefix.contains(['\n', '\r', '\0']) {
        return Err(err(
            "title_prefix",
            format!(
                "must be one line of at most {TITLE_PREFIX_MAX} characters, leaving room in Jira's 255-character summary"
            ),
        ));
    }
    Ok(())
}

/// Checks the priority field: `priority` or a custom field.
pub fn parse_priority_field(value: &str) -> Result<PriorityField, FieldError> {
    match value {
        "" | "priority" => Ok(PriorityField::Priority),
        id if is_custom_field(id) => Ok(PriorityField::Custom(id.to_owned())),
        _ => Err(err("priority_field", "must be `priority` or a custom field id such as customfield_10042")),
    }
}

/// Validates bands into a mapping (empty: the default).
pub fn parse_priority_mapping(bands: Vec<Band>) -> Result<PriorityMapping, FieldError> {
    PriorityMapping::new(bands).map_err(|e| err("priority_mapping", e.to_string()))
}

/// Resolution names that close: trimmed, non-empty, at most 50, the default list when empty.
pub fn parse_status_mapping(names: &[String]) -> Result<Vec<String>, FieldError> {
    if names.is_empty() {
        return Ok(DEFAULT_CLOSING_RESOLUTIONS.iter().map(|s| s.to_string()).collect());
    }
    if names.len() > 50 {
        return Err(err("status_mapping", "at most 50 resolution names"));
    }
    names
        .iter()
        .map(|n| {
            let n = n.trim();
            if n.is_empty() || n.chars().count() > 255 || n.contains('\0') {
                Err(err("status_mapping", "resolution names must be 1-255 characters"))
            } else {
                Ok(n.to_owned())
            }
        })
        .collect()
}

/// Severities name each severity at most once, as the contract has it.
pub fn check_severities(severities: &[Severity]) -> Result<(), FieldError> {
    let mut seen = std::collections::HashSet::new();
    match severities.iter().find(|s| !seen.insert(**s)) {
        Some(s) => Err(err("severities", format!("{s} appears twice"))),
        None => Ok(()),
    }
}

/// The severities of a configuration (empty: all).
pub fn severity_set(severities: &[Severity]) -> SeveritySet {
    SeveritySet::of(severities.iter().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_and_issue_keys() {
        assert!(check_project_key("SEC").is_ok());
        assert!(check_project_key("AB_1").is_ok());
        for bad in ["", "S", "sec", "1SEC", "SEC-1", "TOOLONGKEY1"] {
            assert!(check_project_key(bad).is_err(), "{bad}");
        }
        assert!(check_issue_key("SEC-12", "default_epic_key").is_ok());
        assert!(check_issue_key("SEC-", "default_epic_key").is_err());
        assert!(check_issue_key("sec-1", "default_epic_key").is_err());
    }

    #[test]
    fn additional_fields_of_supported_kinds_only() {
        let f = |id: &str, value: FieldValue| AdditionalField { field_id: id.into(), value };
        assert!(check_additional_fields(&[f("labels", FieldValue::Labels(vec!["appsec".into()]))]).is_ok());
        assert!(check_additional_fields(&[f("customfield_10001", FieldValue::Options(vec!["A".into()]))]).is_ok());
        let e = check_additional_fields(&[f("labels", FieldValue::Labels(vec!["has space".into()]))]).unwrap_err();
        assert_eq!(e.field, "additional_fields[0]");
        assert!(check_additional_fields(&[f("summary", FieldValue::Text("x".into()))]).is_err());
        assert!(check_additional_fields(&[f("labels", FieldValue::Text("x".into()))]).is_err());
        assert!(check_additional_fields(&[f("customfield_1", FieldValue::Number(f64::NAN))]).is_err());
        let twice = [f("customfield_1", FieldValue::Number(1.0)), f("customfield_1", FieldValue::Number(2.0))];
        assert_eq!(check_additional_fields(&twice).unwrap_err().field, "additional_fields[1]");
    }

    #[test]
    fn prefixes_leave_room_and_fields_parse() {
        assert!(check_title_prefix(&"x".repeat(100)).is_ok());
        assert!(check_title_prefix(&"x".repeat(101)).is_err());
        assert_eq!(
            parse_priority_field("customfield_10042").unwrap(),
            PriorityField::Custom("customfield_10042".into())
        );
        assert!(parse_priority_field("severity").is_err());
        assert_eq!(parse_status_mapping(&[]).unwrap().len(), 5);
    }
}
