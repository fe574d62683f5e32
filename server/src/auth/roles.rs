//! The role table of the public contract, as one function from RPC to required access.
//! A test checks that every RPC in the compiled descriptor set has an entry here.

/// What a tenant API key may do; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Every Get/List, metrics, the change feed.
    Reader,
    /// Reader's, plus event submission, status changes, comments, routing previews.
    Writer,
    /// Everything in its tenant.
    Admin,
}

impl Role {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Writer => "writer",
            Role::Admin => "admin",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "reader" => Some(Role::Reader),
            "writer" => Some(Role::Writer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// Who may call an RPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A tenant key with at least this role; the operator may not.
    Tenant(Role),
    /// A tenant key with at least this role, or the operator.
    TenantOrOperator(Role),
    /// Only the operator.
    Operator,
}

const PACKAGE: &str = "northstar.jira.v1";

/// The access an RPC requires, by its gRPC path (`/northstar.jira.v1.Service/Method`); `None`
/// for paths outside the contract.
pub fn access_for(path: &str) -> Option<Access> {
    use Access::*;
    use Role::*;
    let rest = path.strip_prefix('/')?.strip_prefix(PACKAGE)?.strip_prefix('.')?;
    let (service, method) = rest.split_once('/')?;
    let access = match (service, method) {
        ("TenantService", "CreateTenant") => Operator,
        ("TenantService", "ListTenants" | "ListApiKeys") => TenantOrOperator(Reader),
        ("TenantService", "CreateApiKey" | "RevokeApiKey") => TenantOrOperator(Admin),

        ("CredentialService", "GetCredential" | "ListCredentials") => Tenant(Reader),
        ("CredentialService", "CreateCredential" | "UpdateCredential" | "DeleteCredential" | "TestConnection") => {
            Tenant(Admin)
        }

        ("ApplicationService", "ListApplications" | "GetResourceGroup" | "ListResourceGroups") => Tenant(Reader),
        (
            "ApplicationService",
            "UpsertApplication"
            | "DeleteApplication"
            | "CreateResourceGroup"
            | "UpdateResourceGroup"
            | "DeleteResourceGroup"
            | "AddGroupMembers"
            | "RemoveGroupMembers",
        ) => Tenant(Admin),

        ("ConfigurationService", "GetConfiguration" | "ListConfigurations") => Tenant(Reader),
        ("ConfigurationService", "PreviewRouting") => Tenant(Writer),
        (
            "ConfigurationService",
            "CreateConfiguration"
            | "UpdateConfiguration"
            | "DeleteConfiguration"
            | "ValidateConfiguration"
            | "RotateWebhookSecret"
            | "RegisterJiraWebhook",
        ) => Tenant(Admin),

        ("EventService", "GetEvent" | "ListEvents" | "WatchEventChanges") => Tenant(Reader),
        ("EventService", "SubmitEvent" | "SubmitEvents" | "UpdateEventStatus" | "AddComment" | "DeleteComment") => {
            Tenant(Writer)
        }

        ("DeliveryService", "ListDeliveries") => Tenant(Reader),
        ("DeliveryService", "RetryDelivery") => Tenant(Admin),

        ("MetricsService", "GetMetrics" | "StreamMetrics") => TenantOrOperator(Reader),

        ("AuditService", "ListAuditEvents") => Tenant(Admin),
        _ => return None,
    };
    Some(access)
}

/// Whether the role table lets a caller through; the message of a refusal says what is needed.
pub fn check(access: Access, caller: &super::Caller) -> Result<(), String> {
    use super::Caller;
    match (access, caller) {
        (Access::Operator | Access::TenantOrOperator(_), Caller::Operator) => Ok(()),
        (Access::Operator, Caller::Tenant { .. }) => Err("only the operator may call this".into()),
        (Access::Tenant(_), Caller::Operator) => {
            Err("the operator token cannot call tenant APIs; use a tenant API key".into())
        }
        (Access::Tenant(need) | Access::TenantOrOperator(need), Caller::Tenant { role, .. }) => {
            if *role >= need {
                Ok(())
            } else {
                Err(format!("this call needs the {} role", need.as_str().to_uppercase()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Caller;

    #[test]
    fn every_rpc_of_the_contract_has_a_role() {
        use prost::Message as _;
        let fds = prost_types::FileDescriptorSet::decode(crate::proto::FILE_DESCRIPTOR_SET).unwrap();
        let mut count = 0;
        for file in fds.file.iter().filter(|f| f.package() == PACKAGE) {
            for service in &file.service {
                for method in &service.method {
                    let path = format!("/{PACKAGE}.{}/{}", service.name(), method.name());
                    assert!(access_for(&path).is_some(), "no role for {path}");
                    count += 1;
                }
            }
        }
        assert!(count >= 43, "only {count} RPCs in the contract");
    }

    #[test]
    fn roles_nest_and_the_operator_is_separate() {
        let reader =
            Caller::Tenant { tenant_id: Default::default(), api_key_id: Default::default(), role: Role::Reader };
        let admin = Caller::Tenant { tenant_id: Default::default(), api_key_id: Default::default(), role: Role::Admin };
        let create_key = access_for("/northstar.jira.v1.TenantService/CreateApiKey").unwrap();
        assert!(check(create_key, &reader).is_err());
        assert!(check(create_key, &admin).is_ok());
        assert!(check(create_key, &Caller::Operator).is_ok());
        let submit = access_for("/northstar.jira.v1.EventService/SubmitEvent").unwrap();
        assert!(check(submit, &Caller::Operator).is_err());
        assert!(check(submit, &reader).is_err());
        assert!(check(submit, &admin).is_ok());
        assert_eq!(access_for("/northstar.jira.v1.EventService/Nope"), None);
        assert_eq!(access_for("/other.v1.EventService/SubmitEvent"), None);
    }
}
