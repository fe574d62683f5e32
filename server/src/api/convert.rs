//! Conversions between proto messages and rows or domain types, done once at the boundary.
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    auth::Role,
    domain::{
        model::{Severity, Trigger},
        ticket::EventView,
    },
    error::ApiError,
    proto,
};

/// A chrono time as a protobuf Timestamp.
pub fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: t.timestamp(), nanos: t.timestamp_subsec_nanos() as i32 }
}

/// A required UUID field.
pub fn uuid(value: &str, field: &str) -> Result<Uuid, ApiError> {
    if value.is_empty() {
        return Err(ApiError::invalid(field, "is required"));
    }
    Uuid::parse_str(value).map_err(|_| ApiError::invalid(field, "must be a UUID"))
}

/// A required human label: trimmed, 1 to `max` characters, no control characters.
pub fn label(value: &str, field: &str, max: usize) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::invalid(field, "is required"));
    }
    if value.chars().count() > max {
        return Err(ApiError::invalid(field, format!("must be at most {max} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::invalid(field, "must not contain control characters"));
    }
    Ok(value.to_owned())
}

/// The proto role as the domain role.
pub fn role_from_proto(value: i32, field: &str) -> Result<Role, ApiError> {
    match proto::Role::try_from(value) {
        Ok(proto::Role::Reader) => Ok(Role::Reader),
        Ok(proto::Role::Writer) => Ok(Role::Writer),
        Ok(proto::Role::Admin) => Ok(Role::Admin),
        Ok(proto::Role::Unspecified) => Err(ApiError::invalid(field, "is required: READER, WRITER or ADMIN")),
        Err(_) => Err(ApiError::invalid(field, format!("unknown value {value}"))),
    }
}

/// The domain role as the proto role.
pub fn role_to_proto(role: Role) -> proto::Role {
    match role {
        Role::Reader => proto::Role::Reader,
        Role::Writer => proto::Role::Writer,
        Role::Admin => proto::Role::Admin,
    }
}

/// The paths of a required update mask, each one of `allowed`.
pub fn mask_paths(mask: Option<&prost_types::FieldMask>, allowed: &[&str]) -> Result<Vec<String>, ApiError> {
    let paths = mask.map(|m| m.paths.clone()).unwrap_or_default();
    if paths.is_empty() {
        return Err(ApiError::invalid(
            "update_mask",
            format!("is required: name the fields to change ({})", allowed.join(", ")),
        ));
    }
    for path in &paths {
        if !allowed.contains(&path.as_str()) {
            return Err(ApiError::invalid(
                "update_mask",
                format!("unknown field {path:?}; allowed: {}", allowed.join(", ")),
            ));
        }
    }
    Ok(paths)
}

/// An email address: one `@` with text on both sides, no spaces, at most 254 characters.
pub fn email(value: &str, field: &str) -> Result<String, ApiError> {
    let value = value.trim();
    let well_formed = value.len() <= 254
        && !value.chars().any(|c| c.is_whitespace() || c.is_control())
        && value
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !domain.contains('@'));
    if value.is_empty() {
        return Err(ApiError::invalid(field, "is required"));
    }
    if !well_formed {
        return Err(ApiError::invalid(field, "must be an email address"));
    }
    Ok(value.to_owned())
}

/// A write-only secret: present, at most `max` characters, no whitespace or control characters.
pub fn secret(value: &str, field: &str, max: usize) -> Result<(), ApiError> {
    if value.is_empty() {
        return Err(ApiError::invalid(field, "is required"));
    }
    if value.chars().count() > max {
        return Err(ApiError::invalid(field, format!("must be at most {max} characters")));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ApiError::invalid(field, "must not contain whitespace or control characters"));
    }
    Ok(())
}

/// A required trigger.
pub fn trigger(value: i32, field: &str) -> Result<Trigger, ApiError> {
    match proto::Trigger::try_from(value) {
        Ok(proto::Trigger::Incident) => Ok(Trigger::Incident),
        Ok(proto::Trigger::Vulnerability) => Ok(Trigger::Vulnerability),
        Ok(proto::Trigger::Unspecified) => Err(ApiError::invalid(field, "is required: INCIDENT or VULNERABILITY")),
        Err(_) => Err(ApiError::invalid(field, format!("unknown value {value}"))),
    }
}

/// The proto trigger.
pub fn trigger_to_proto(t: Trigger) -> proto::Trigger {
    match t {
        Trigger::Incident => proto::Trigger::Incident,
        Trigger::Vulnerability => proto::Trigger::Vulnerability,
    }
}

/// A required severity.
pub fn severity(value: i32, field: &str) -> Result<Severity, ApiError> {
    match proto::Severity::try_from(value) {
        Ok(proto::Severity::Critical) => Ok(Severity::Critical),
        Ok(proto::Severity::High) => Ok(Severity::High),
        Ok(proto::Severity::Medium) => Ok(Severity::Medium),
        Ok(proto::Severity::Low) => Ok(Severity::Low),
        Ok(proto::Severity::Note) => Ok(Severity::Note),
        Ok(proto::Severity::Unspecified) => {
            Err(ApiError::invalid(field, "is required: CRITICAL, HIGH, MEDIUM, LOW or NOTE"))
        }
        Err(_) => Err(ApiError::invalid(field, format!("unknown value {value}"))),
    }
}

/// The proto severity.
pub fn severity_to_proto(s: Severity) -> proto::Severity {
    match s {
        Severity::Critical => proto::Severity::Critical,
        Severity::High => proto::Severity::High,
        Severity::Medium => proto::Severity::Medium,
        Severity::Low => proto::Severity::Low,
        Severity::Note => proto::Severity::Note,
    }
}

/// A chrono time from a protobuf Timestamp.
pub fn time(t: &prost_types::Timestamp, field: &str) -> Result<DateTime<Utc>, ApiError> {
    // Years 1 to 9999, as google.protobuf.Timestamp defines them: PostgreSQL and date arithmetic
    // stay in range.
    const MIN: i64 = -62_135_596_800;
    const MAX: i64 = 253_402_300_799;
    if !(MIN..=MAX).contains(&t.seconds) {
        return Err(ApiError::invalid(field, "must lie between the years 1 and 9999"));
    }
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(u32::MAX))
        .ok_or_else(|| ApiError::invalid(field, "is not a valid timestamp"))
}

/// Free text PostgreSQL can store: it refuses NUL characters, and the caller must hear which
/// field holds one rather than an internal error.
pub fn storable(value: &str, field: &str) -> Result<(), ApiError> {
    if value.contains('\0') {
        return Err(ApiError::invalid(field, "must not contain NUL characters"));
    }
    Ok(())
}

fn optional_text(value: &str, field: &str, max: usize) -> Result<Option<String>, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if value.chars().count() > max {
        return Err(ApiError::invalid(field, format!("must be at most {max} characters")));
    }
    storable(value, field)?;
    Ok(Some(value.to_owned()))
}

/// A submitted event's content, checked field by field; `prefix` names the nesting
/// (`event.` inside PreviewRouting).
pub fn event_view(r: &proto::SubmitEventRequest, prefix: &str) -> Result<EventView, ApiError> {
    let f = |name: &str| format!("{prefix}{name}");
    let trigger = trigger(r.kind, &f("kind"))?;
    let external_id = label(&r.external_id, &f("external_id"), 255)?;
    let application_id = label(&r.application_id, &f("application_id"), 255)?;
    let title = label(&r.title, &f("title"), 1000)?;
    let severity = severity(r.severity, &f("severity"))?;
    let link = match optional_text(&r.link, &f("link"), 2048)? {
        Some(link) => {
            let parsed = url::Url::parse(&link).map_err(|_| ApiError::invalid(f("link"), "must be an absolute URL"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(ApiError::invalid(f("link"), "must be an http(s) URL"));
            }
            Some(link)
        }
        None => None,
    };
    let detected_at = r.detected_at.as_ref().map(|t| time(t, &f("detected_at"))).transpose()?;
    if detected_at.is_some_and(|t| t > Utc::now() + chrono::TimeDelta::minutes(5)) {
        return Err(ApiError::invalid(f("detected_at"), "must not be in the future"));
    }
    let mut view = EventView {
        trigger,
        external_id,
        application_id,
        application_name: optional_text(&r.application_name, &f("application_name"), 200)?,
        title,
        severity,
        link,
        detected_at,
        incident_type: None,
        source_ips: Vec::new(),
        request_urls: Vec::new(),
        vulnerability_type: None,
        risk_score: None,
    };
    match trigger {
        Trigger::Incident => {
            if !r.vulnerability_type.is_empty() {
                return Err(ApiError::invalid(f("vulnerability_type"), "belongs to vulnerabilities, not incidents"));
            }
            if r.risk_score.is_some() {
                return Err(ApiError::invalid(f("risk_score"), "belongs to vulnerabilities, not incidents"));
            }
            view.incident_type = optional_text(&r.incident_type, &f("incident_type"), 200)?;
            if r.source_ips.len() > 100 {
                return Err(ApiError::invalid(f("source_ips"), "at most 100 addresses"));
            }
            for ip in &r.source_ips {
                ip.trim()
                    .parse::<std::net::IpAddr>()
                    .map_err(|_| ApiError::invalid(f("source_ips"), format!("{ip:?} is not an IP address")))?;
            }
            view.source_ips = r.source_ips.iter().map(|s| s.trim().to_owned()).collect();
            if r.request_urls.len() > 100 {
                return Err(ApiError::invalid(f("request_urls"), "at most 100 URLs"));
            }
            if r.request_urls.iter().any(|u| u.trim().is_empty() || u.chars().count() > 2048 || u.contains('\0')) {
                return Err(ApiError::invalid(f("request_urls"), "each URL must be 1-2048 characters without NUL"));
            }
            view.request_urls = r.request_urls.iter().map(|s| s.trim().to_owned()).collect();
        }
        Trigger::Vulnerability => {
            if !r.incident_type.is_empty() {
                return Err(ApiError::invalid(f("incident_type"), "belongs to incidents, not vulnerabilities"));
            }
            if !r.source_ips.is_empty() {
                return Err(ApiError::invalid(f("source_ips"), "belongs to incidents, not vulnerabilities"));
            }
            if !r.request_urls.is_empty() {
                return Err(ApiError::invalid(f("request_urls"), "belongs to incidents, not vulnerabilities"));
            }
            view.vulnerability_type = optional_text(&r.vulnerability_type, &f("vulnerability_type"), 200)?;
            if let Some(score) = r.risk_score {
                if !(0.0..=10.0).contains(&score) {
                    return Err(ApiError::invalid(f("risk_score"), "must be between 0.0 and 10.0"));
                }
                view.risk_score = Some(score);
            }
        }
    }
    Ok(view)
}

/// JSON as a protobuf Struct (for payload previews); non-object JSON is wrapped as `{"value": ...}`.
pub fn json_to_struct(value: &serde_json::Value) -> prost_types::Struct {
    fn to_value(v: &serde_json::Value) -> prost_types::Value {
        use prost_types::value::Kind;
        let kind = match v {
            serde_json::Value::Null => Kind::NullValue(0),
            serde_json::Value::Bool(b) => Kind::BoolValue(*b),
            serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
            serde_json::Value::String(s) => Kind::StringValue(s.clone()),
            serde_json::Value::Array(a) => {
                Kind::ListValue(prost_types::ListValue { values: a.iter().map(to_value).collect() })
            }
            serde_json::Value::Object(o) => Kind::StructValue(prost_types::Struct {
                fields: o.iter().map(|(k, v)| (k.clone(), to_value(v))).collect(),
            }),
        };
        prost_types::Value { kind: Some(kind) }
    }
    match value {
        serde_json::Value::Object(o) => {
            prost_types::Struct { fields: o.iter().map(|(k, v)| (k.clone(), to_value(v))).collect() }
        }
        other => prost_types::Struct { fields: [("value".to_owned(), to_value(other))].into_iter().collect() },
    }
}
