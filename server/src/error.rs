//! The one error type of the service layer, mapped to `tonic::Status` and to HTTP here and
//! nowhere else. Internal errors are logged with their context and returned without it.
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

/// What a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A field of the request is wrong; `field` is its name as the proto spells it.
    #[error("{field}: {message}")]
    InvalidArgument { field: String, message: String },
    /// The thing does not exist, or belongs to another tenant (indistinguishable on purpose).
    #[error("{0} not found")]
    NotFound(String),
    /// A unique thing exists already.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The caller is known but its role does not allow this.
    #[error("{0}")]
    PermissionDenied(String),
    /// The caller could not be identified.
    #[error("{0}")]
    Unauthenticated(String),
    /// The request is valid but the system is not in a state to perform it.
    #[error("{0}")]
    FailedPrecondition(String),
    /// A limit of the call was exceeded (items per stream, sizes).
    #[error("{0}")]
    ResourceExhausted(String),
    /// A dependency (the database) is unreachable; retrying later can succeed.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected failure; the source is logged, never returned.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Result of service-layer operations.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// Shorthand for an invalid field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidArgument { field: field.into(), message: message.into() }
    }

    /// Shorthand for an unexpected failure.
    pub fn internal(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(err.into())
    }
}

impl From<DieselError> for ApiError {
    fn from(err: DieselError) -> Self {
        match err {
            DieselError::NotFound => Self::NotFound("resource".into()),
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                Self::AlreadyExists(info.constraint_name().map_or_else(|| "resource".into(), constraint_subject))
            }
            DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
                Self::FailedPrecondition(format!(
                    "still in use ({}); remove what refers to it first",
                    info.constraint_name().unwrap_or("reference")
                ))
            }
            // tokio-postgres reports a connection that broke under a query as "unable to send".
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            ) => Self::Unavailable("the database connection was lost; retry".into()),
            // A restarting or failing-over server ends sessions (57P01) and refuses new ones (57P03);
            // diesel names no kind for them, only the message tells.
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, info) if is_server_going_away(info.message()) => {
                Self::Unavailable("the database is restarting; retry".into())
            }
            DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
                Self::Unavailable("a concurrent change conflicted; retry".into())
            }
            other => Self::Internal(Box::new(other)),
        }
    }
}

fn is_server_going_away(message: &str) -> bool {
    message.starts_with("terminating connection")
        || message.starts_with("the database system is")
        || message.contains("server closed the connection")
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for ApiError {
    fn from(err: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        tracing::warn!(error = %err, "database pool");
        Self::Unavailable("the database is unreachable; retry later".into())
    }
}

/// `tenants_name_key` -> `tenant with this name`: constraint names follow `<table>_<cols>_key`.
fn constraint_subject(constraint: &str) -> String {
    let base = constraint.strip_suffix("_key").unwrap_or(constraint);
    match base.split_once('_') {
        Some((table, cols)) => {
            // Per-tenant uniqueness reads the same to the caller: their tenant is implied.
            let cols = cols.strip_prefix("tenant_").unwrap_or(cols);
            format!("{} with this {}", table.trim_end_matches('s'), cols.replace('_', " "))
        }
        None => base.to_owned(),
    }
}

impl From<ApiError> for Status {
    fn from(err: ApiError) -> Self {
        match err {
            ApiError::InvalidArgument { field, message } => {
                let text = format!("{field}: {message}");
                let details = ErrorDetails::with_bad_request_violation(field, message);
                Status::with_error_details(Code::InvalidArgument, text, details)
            }
            ApiError::NotFound(what) => Status::not_found(format!("{what} not found")),
            ApiError::AlreadyExists(what) => Status::already_exists(format!("{what} already exists")),
            ApiError::PermissionDenied(m) => Status::permission_denied(m),
            ApiError::Unauthenticated(m) => Status::unauthenticated(m),
            ApiError::FailedPrecondition(m) => Status::failed_precondition(m),
            ApiError::ResourceExhausted(m) => Status::resource_exhausted(m),
            ApiError::Unavailable(m) => Status::unavailable(m),
            ApiError::Internal(source) => {
                tracing::error!(error = %source, debug = ?source, "internal error");
                Status::internal("internal error")
            }
        }
    }
}

impl axum::response::IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        use http::StatusCode;
        let status = match &self {
            ApiError::InvalidArgument { .. } => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::AlreadyExists(_) => StatusCode::CONFLICT,
            ApiError::PermissionDenied(_) => StatusCode::FORBIDDEN,
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::FailedPrecondition(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::ResourceExhausted(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(source) => {
                tracing::error!(error = %source, "internal error");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let body = match &self {
            ApiError::Internal(_) => "internal error".to_owned(),
            other => other.to_string(),
        };
        (status, body).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_names_the_field() {
        let status = Status::from(ApiError::invalid("name", "must not be empty"));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "name: must not be empty");
        let details = status.get_error_details();
        let violation = &details.bad_request().unwrap().field_violations[0];
        assert_eq!(violation.field, "name");
    }

    #[test]
    fn internal_errors_hide_their_source() {
        let status = Status::from(ApiError::internal("secret detail"));
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "internal error");
    }

    #[test]
    fn a_lost_or_restarting_database_is_unavailable() {
        let lost = DieselError::DatabaseError(
            DatabaseErrorKind::UnableToSendCommand,
            Box::new("connection closed".to_owned()),
        );
        assert_eq!(Status::from(ApiError::from(lost)).code(), Code::Unavailable);
        let restarting = DieselError::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("terminating connection due to administrator command".to_owned()),
        );
        assert_eq!(Status::from(ApiError::from(restarting)).code(), Code::Unavailable);
        let other = DieselError::DatabaseError(DatabaseErrorKind::Unknown, Box::new("division by zero".to_owned()));
        assert_eq!(Status::from(ApiError::from(other)).code(), Code::Internal);
    }

    #[test]
    fn unique_constraints_read_as_subjects() {
        assert_eq!(constraint_subject("tenants_name_key"), "tenant with this name");
        assert_eq!(constraint_subject("credentials_tenant_name_key"), "credential with this name");
    }
}
