//! Conversions between proto messages and rows or domain types, done once at the boundary.
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{auth::Role, error::ApiError, proto};

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
