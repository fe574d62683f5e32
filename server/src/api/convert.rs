//! Conversions between proto messages and rows or domain types, done once at the boundary.
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{auth::Role, error::ApiError, proto};

/// A chrono time as a protobuf Timestamp.
pub fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
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
        return Err(ApiError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

/// The proto role as the domain role.
pub fn role_from_proto(value: i32, field: &str) -> Result<Role, ApiError> {
    match proto::Role::try_from(value) {
        Ok(proto::Role::Reader) => Ok(Role::Reader),
        Ok(proto::Role::Writer) => Ok(Role::Writer),
        Ok(proto::Role::Admin) => Ok(Role::Admin),
        Ok(proto::Role::Unspecified) => Err(ApiError::invalid(
            field,
            "is required: READER, WRITER or ADMIN",
        )),
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
