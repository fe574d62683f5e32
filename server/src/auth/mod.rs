//! Who is calling: one tower layer in front of every gRPC service turns the `authorization`
//! header into a [`Caller`], checks it against the role table, and hands it to the handler
//! through the request extensions. Handlers never parse credentials themselves.
pub mod cache;
pub mod keys;
mod layer;
pub mod roles;

pub use layer::{AuthLayer, Authenticator};
pub use roles::{Access, Role, access_for};

use uuid::Uuid;

use crate::error::ApiError;

/// The authenticated caller of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// The bootstrap token: manages tenants and their keys, reads metrics across tenants.
    Operator,
    /// An API key of one tenant.
    Tenant {
        /// The tenant every query of this call is scoped to.
        tenant_id: Uuid,
        /// The key presented, for the audit trail.
        api_key_id: Uuid,
        /// What the key may do.
        role: Role,
    },
}

impl Caller {
    /// The caller of a request that passed the auth layer.
    pub fn of<T>(request: &tonic::Request<T>) -> Result<Self, ApiError> {
        request
            .extensions()
            .get::<Caller>()
            .copied()
            .ok_or_else(|| ApiError::Unauthenticated("missing credentials".into()))
    }

    /// The tenant a request addresses: a tenant key is confined to its own tenant (any other id
    /// is NOT_FOUND, as if it did not exist); the operator must name one.
    pub fn tenant_scope(&self, requested: &str, field: &str) -> Result<Uuid, ApiError> {
        match self {
            Caller::Tenant { tenant_id, .. } => {
                if requested.is_empty() {
                    return Ok(*tenant_id);
                }
                match Uuid::parse_str(requested) {
                    Ok(id) if id == *tenant_id => Ok(id),
                    Ok(_) => Err(ApiError::NotFound("tenant".into())),
                    Err(_) => Err(ApiError::invalid(field, "must be a UUID")),
                }
            }
            Caller::Operator => {
                if requested.is_empty() {
                    return Err(ApiError::invalid(field, "is required for the operator"));
                }
                Uuid::parse_str(requested).map_err(|_| ApiError::invalid(field, "must be a UUID"))
            }
        }
    }

    /// The tenant of a tenant key; the operator has none (its calls that need one name it).
    pub fn tenant_id(&self) -> Option<Uuid> {
        match self {
            Caller::Tenant { tenant_id, .. } => Some(*tenant_id),
            Caller::Operator => None,
        }
    }

    /// The key behind the call, for the audit trail (`None` for the operator).
    pub fn api_key_id(&self) -> Option<Uuid> {
        match self {
            Caller::Tenant { api_key_id, .. } => Some(*api_key_id),
            Caller::Operator => None,
        }
    }

    /// How the audit trail names this caller.
    pub fn actor(&self) -> String {
        match self {
            Caller::Tenant { api_key_id, .. } => format!("api_key:{api_key_id}"),
            Caller::Operator => "operator".into(),
        }
    }
}
