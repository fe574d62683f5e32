//! What a ticket says: summary, ADF description with every enrichment of the trigger type,
//! priority, labels, additional fields, epic and assignee, as Jira's create payload.
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use super::{
    configuration::{AdditionalField, Configuration, FieldValue, PriorityField},
    model::{Severity, Trigger},
};
use crate::jira::adf::{Doc, Inline};

/// Jira's limit on `summary`.
pub const SUMMARY_MAX: usize = 255;

/// The facts of an event that a ticket shows.
#[derive(Debug, Clone, PartialEq)]
pub struct EventView {
    pub trigger: Trigger,
    pub external_id: String,
    pub application_id: String,
    pub application_name: Option<String>,
    pub title: String,
    pub severity: Severity,
    pub link: Option<String>,
    pub detected_at: Option<DateTime<Utc>>,
    pub incident_type: Option<String>,
    pub source_ips: Vec<String>,
    pub request_urls: Vec<String>,
    pub vulnerability_type: Option<String>,
    pub risk_score: Option<f64>,
}

/// `prefix title`, cut to Jira's 255 characters (on a character boundary, with an ellipsis).
pub fn summary(prefix: Option<&str>, title: &str) -> String {
    let title = title.trim();
    let full = match prefix.map(str::trim).filter(|p| !p.is_empty()) {
        Some(prefix) => format!("{prefix} {title}"),
        None => title.to_owned(),
    };
    // Jira counts characters; newlines are not allowed in a summary.
    let full = full.replace(['\n', '\r'], " ");
    if full.chars().count() <= SUMMARY_MAX {
        return full;
    }
    let cut: String = full.chars().take(SUMMARY_MAX - 1).collect();
    format!("{}…", cut.trim_end())
}

/// The ADF description: a heading, the facts as a list, the observables, the link back.
pub fn description(event: &EventView) -> Doc {
    let kind = match event.trigger {
        Trigger::Incident => "Security incident",
        Trigger::Vulnerability => "Vulnerability",
    };
    let application = match &event.application_name {
        Some(name) if name != &event.application_id => format!("{name} ({})", event.application_id),
        _ => event.application_id.clone(),
    };
    let mut facts = vec![
        Inline::new().strong("Severity: ").text(&event.severity.to_string()),
        Inline::new().strong("Application: ").text(&application),
    ];
    match event.trigger {
        Trigger::Incident => {
            if let Some(t) = &event.incident_type {
                facts.insert(0, Inline::new().strong("Incident type: ").text(t));
            }
        }
        Trigger::Vulnerability => {
            if let Some(t) = &event.vulnerability_type {
                facts.insert(0, Inline::new().strong("Vulnerability type: ").text(t));
            }
            if let Some(score) = event.risk_score {
                facts.push(Inline::new().strong("Risk score: ").text(&format!("{score:.1} / 10")));
            }
        }
    }
    if let Some(at) = event.detected_at {
        facts.push(Inline::new().strong("Detected: ").text(&at.format("%Y-%m-%d %H:%M:%S UTC").to_string()));
    }
    facts.push(Inline::new().strong("Northstar id: ").code(&event.external_id));

    let mut doc = Doc::new().heading(2, &format!("{kind}: {}", event.title.trim())).bullets(facts);
    if event.trigger == Trigger::Incident {
        if !event.source_ips.is_empty() {
            doc =
                doc.heading(3, "Source IP addresses").bullets(event.source_ips.iter().map(|ip| Inline::new().code(ip)));
        }
        if !event.request_urls.is_empty() {
            doc = doc.heading(3, "Request URLs").bullets(event.request_urls.iter().map(|u| Inline::new().code(u)));
        }
    }
    if let Some(link) = &event.link {
        doc = doc.paragraph(Inline::new().link("Open in Northstar", link));
    }
    doc
}

/// The label that marks the ticket of one (event, configuration, generation), so a create whose
/// outcome is unknown can be found with JQL before it is sent again. Stable across retries and
/// replicas, known before anything is stored, and free of spaces as Jira labels must be.
pub fn marker_label(tenant_id: &str, external_id: &str, configuration_id: &str, generation: u32) -> String {
    let digest = Sha256::new()
        .chain_update(tenant_id.as_bytes())
        .chain_update([0])
        .chain_update(external_id.as_bytes())
        .chain_update([0])
        .chain_update(configuration_id.as_bytes())
        .chain_update(generation.to_be_bytes())
        .finalize();
    format!("northstar-{}", hex::encode(&digest[..8]))
}

/// The priority an event gets from a configuration.
pub fn priority<'c>(config: &'c Configuration, event: &EventView) -> &'c str {
    config.priority_mapping.for_event(event.risk_score, event.severity)
}

/// The body of `POST /rest/api/3/issue` for `event` under `config`.
pub fn create_payload(config: &Configuration, event: &EventView, marker: &str) -> Value {
    let mut fields = Map::new();
    fields.insert("project".into(), json!({ "key": config.jira_project_key }));
    fields.insert("issuetype".into(), json!({ "name": config.default_issue_type }));
    fields.insert("summary".into(), json!(summary(config.title_prefix.as_deref(), &event.title)));
    fields.insert("description".into(), description(event).to_json());
    let priority = priority(config, event);
    match &config.priority_field {
        PriorityField::Priority => fields.insert("priority".into(), json!({ "name": priority })),
        PriorityField::Custom(id) => fields.insert(id.clone(), json!({ "value": priority })),
    };
    let mut labels = vec![marker.to_owned(), format!("northstar-{}", event.trigger.as_str())];
    for AdditionalField { field_id, value } in &config.additional_fields {
        match value {
            FieldValue::Labels(extra) => labels.extend(extra.iter().cloned()),
            FieldValue::Components(names) => {
                fields.insert(field_id.clone(), names.iter().map(|n| json!({ "name": n })).collect());
            }
            FieldValue::Text(text) => {
                fields.insert(field_id.clone(), json!(text));
            }
            FieldValue::Number(n) => {
                fields.insert(field_id.clone(), json!(n));
            }
            FieldValue::Option(v) => {
                fields.insert(field_id.clone(), json!({ "value": v }));
            }
            FieldValue::Options(vs) => {
                fields.insert(field_id.clone(), vs.iter().map(|v| json!({ "value": v })).collect());
            }
        }
    }
    labels.dedup();
    fields.insert("labels".into(), json!(labels));
    if let Some(epic) = &config.default_epic_key {
        fields.insert("parent".into(), json!({ "key": epic }));
    }
    if let Some(assignee) = &config.default_assignee_account_id {
        fields.insert("assignee".into(), json!({ "accountId": assignee }));
    }
    json!({ "fields": fields })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;
    use uuid::Uuid;

    use super::*;
    use crate::domain::{
        configuration::RecurrencePolicy,
        model::SeveritySet,
        priority::{Band, PriorityMapping},
    };

    fn config(trigger: Trigger) -> Configuration {
        Configuration {
            id: Uuid::nil(),
            tenant_id: Uuid::nil(),
            name: "appsec".into(),
            credential_id: Uuid::nil(),
            trigger,
            application_ids: vec!["web".into()],
            resource_group_ids: vec![],
            jira_project_key: "SEC".into(),
            default_issue_type: "Bug".into(),
            title_prefix: Some("[Northstar]".into()),
            default_epic_key: Some("SEC-1".into()),
            default_assignee_account_id: Some("5b10a2844c20165700ede21g".into()),
            additional_fields: vec![
                AdditionalField { field_id: "labels".into(), value: FieldValue::Labels(vec!["appsec".into()]) },
                AdditionalField {
                    field_id: "components".into(),
                    value: FieldValue::Components(vec!["Backend".into()]),
                },
                AdditionalField {
                    field_id: "customfield_10052".into(),
                    value: FieldValue::Option("Production".into()),
                },
                AdditionalField { field_id: "customfield_10051".into(), value: FieldValue::Number(7.5) },
            ],
            severities: SeveritySet::ALL,
            priority_mapping: PriorityMapping::default(),
            priority_field: PriorityField::Priority,
            bidirectional: false,
            enabled_at: None,
            status_mapping: vec![],
            recurrence_policy: RecurrencePolicy::Reopen,
        }
    }

    fn incident() -> EventView {
        EventView {
            trigger: Trigger::Incident,
            external_id: "inc-42".into(),
            application_id: "web".into(),
            application_name: Some("Storefront".into()),
            title: "SQL injection attempt on /login".into(),
            severity: Severity::High,
            link: Some("https://northstar.example/incidents/42".into()),
            detected_at: Some(Utc.with_ymd_and_hms(2026, 11, 28, 10, 15, 0).unwrap()),
            incident_type: Some("SQL Injection".into()),
            source_ips: vec!["203.0.113.7".into(), "198.51.100.23".into()],
            request_urls: vec!["https://shop.example/login?user=%27+OR+1%3D1".into()],
            vulnerability_type: None,
            risk_score: None,
        }
    }

    fn vulnerability() -> EventView {
        EventView {
            trigger: Trigger::Vulnerability,
            external_id: "vuln-7".into(),
            application_id: "web".into(),
            application_name: None,
            title: "Reflected XSS in search".into(),
            severity: Severity::Medium,
            link: Some("https://northstar.example/findings/7".into()),
            detected_at: None,
            incident_type: None,
            source_ips: vec![],
            request_urls: vec![],
            vulnerability_type: Some("Cross-Site Scripting".into()),
            risk_score: Some(6.3),
        }
    }

    #[test]
    fn incident_ticket() {
        let payload = create_payload(&config(Trigger::Incident), &incident(), "northstar-0123456789abcdef");
        insta::assert_json_snapshot!(payload);
    }

    #[test]
    fn vulnerability_ticket() {
        let payload = create_payload(&config(Trigger::Vulnerability), &vulnerability(), "northstar-0123456789abcdef");
        insta::assert_json_snapshot!(payload);
    }

    #[test]
    fn priority_follows_the_mapping_and_the_chosen_field() {
        let mut c = config(Trigger::Vulnerability);
        let v = vulnerability();
        assert_eq!(create_payload(&c, &v, "m")["fields"]["priority"]["name"], "High");
        c.priority_mapping = PriorityMapping::new(vec![
            Band { min_score: 0.0, priority: "Low".into() },
            Band { min_score: 6.0, priority: "Critical".into() },
        ])
        .unwrap();
        c.priority_field = PriorityField::Custom("customfield_10054".into());
        let payload = create_payload(&c, &v, "m");
        assert_eq!(payload["fields"]["customfield_10054"]["value"], "Critical");
        assert!(payload["fields"].get("priority").is_none());
        // Incidents have no score: their severity decides.
        let i = create_payload(&config(Trigger::Incident), &incident(), "m");
        assert_eq!(i["fields"]["priority"]["name"], "High");
    }

    #[test]
    fn summaries_fit_jira() {
        let long = "x".repeat(400);
        let s = summary(Some("[Northstar]"), &long);
        assert_eq!(s.chars().count(), SUMMARY_MAX);
        assert!(s.starts_with("[Northstar] x") && s.ends_with('…'));
        assert_eq!(summary(None, "a\nb"), "a b");
        assert_eq!(summary(Some("  "), "t"), "t");
    }

    #[test]
    fn markers_are_stable_and_distinct() {
        let a = marker_label("t", "e", "c", 0);
        assert_eq!(a, marker_label("t", "e", "c", 0));
        assert_ne!(a, marker_label("t", "e", "c", 1));
        assert_ne!(a, marker_label("t", "e2", "c", 0));
        assert!(!a.contains(' ') && a.len() <= 255);
    }
}
