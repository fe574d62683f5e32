//! `AuditService`: the tenant's audit trail, newest first, for its admins.
use super::{
    AppState, convert,
    paging::{Cursor, Page},
};
use crate::{
    auth::Caller,
    db::{self, audit::AuditRow},
    error::{ApiError, ApiResult},
    proto,
};

/// The audit service over the shared state.
pub struct Audit {
    state: AppState,
}

impl Audit {
    /// A service over `state`.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

/// Stored resource types and their proto names.
const RESOURCE_TYPES: [(&str, proto::AuditResourceType); 7] = [
    ("tenant", proto::AuditResourceType::Tenant),
    ("api_key", proto::AuditResourceType::ApiKey),
    ("credential", proto::AuditResourceType::Credential),
    ("application", proto::AuditResourceType::Application),
    ("resource_group", proto::AuditResourceType::ResourceGroup),
    ("configuration", proto::AuditResourceType::Configuration),
    ("delivery", proto::AuditResourceType::Delivery),
];

/// JSON as `google.protobuf.Value`.
fn value_of(v: &serde_json::Value) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match v {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(*b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        serde_json::Value::String(s) => Kind::StringValue(s.clone()),
        serde_json::Value::Array(items) => {
            Kind::ListValue(prost_types::ListValue { values: items.iter().map(value_of).collect() })
        }
        serde_json::Value::Object(_) => Kind::StructValue(struct_of(v).unwrap_or_default()),
    };
    prost_types::Value { kind: Some(kind) }
}

fn struct_of(v: &serde_json::Value) -> Option<prost_types::Struct> {
    let object = v.as_object()?;
    Some(prost_types::Struct { fields: object.iter().map(|(k, v)| (k.clone(), value_of(v))).collect() })
}

fn to_proto(row: &AuditRow) -> proto::AuditEvent {
    let actor_type = match (row.actor_key_id, row.actor.as_str()) {
        (Some(_), _) => proto::ActorType::ApiKey,
        (None, "operator") => proto::ActorType::Operator,
        (None, _) => proto::ActorType::System,
    };
    proto::AuditEvent {
        audit_event_id: row.id.to_string(),
        tenant_id: row.tenant_id.to_string(),
        time: Some(convert::timestamp(row.created_at)),
        actor_type: actor_type as i32,
        api_key_id: row.actor_key_id.map(|k| k.to_string()).unwrap_or_default(),
        api_key_name: row.key_name.clone().unwrap_or_default(),
        action: row.action.clone(),
        resource_type: RESOURCE_TYPES
            .iter()
            .find(|(name, _)| *name == row.resource_type)
            .map_or(proto::AuditResourceType::Unspecified, |(_, t)| *t) as i32,
        resource_id: row.resource_id.clone(),
        before: row.before.as_ref().and_then(struct_of),
        after: row.after.as_ref().and_then(struct_of),
    }
}

impl Audit {
    async fn list(
        &self,
        caller: Caller,
        r: proto::ListAuditEventsRequest,
    ) -> ApiResult<proto::ListAuditEventsResponse> {
        let tenant = caller.tenant_scope("", "tenant_id")?;
        let page = Page::parse(r.page_size, &r.page_token)?;
        let resource_type = match proto::AuditResourceType::try_from(r.resource_type) {
            Ok(proto::AuditResourceType::Unspecified) => None,
            Ok(t) => RESOURCE_TYPES.iter().find(|(_, p)| *p == t).map(|(name, _)| (*name).to_owned()),
            Err(_) => return Err(ApiError::invalid("resource_type", format!("unknown value {}", r.resource_type))),
        };
        let filter = db::audit::Filter {
            resource_type,
            resource_id: (!r.resource_id.is_empty())
                .then(|| convert::label(&r.resource_id, "resource_id", 255))
                .transpose()?,
            api_key_id: (!r.api_key_id.is_empty()).then(|| convert::uuid(&r.api_key_id, "api_key_id")).transpose()?,
            action: (!r.action.is_empty()).then(|| convert::label(&r.action, "action", 255)).transpose()?,
            start: r.start_time.as_ref().map(|t| convert::time(t, "start_time")).transpose()?,
            end: r.end_time.as_ref().map(|t| convert::time(t, "end_time")).transpose()?,
        };
        if let (Some(s), Some(e)) = (filter.start, filter.end)
            && e <= s
        {
            return Err(ApiError::invalid("end_time", "must be after start_time"));
        }
        let mut conn = self.state.pool.get().await?;
        let mut rows = db::audit::list(&mut conn, tenant, &filter, page.after()?, page.fetch_limit()).await?;
        let next_page_token = page.finish(&mut rows, |row| Cursor::Id(row.id));
        Ok(proto::ListAuditEventsResponse { audit_events: rows.iter().map(to_proto).collect(), next_page_token })
    }
}

super::grpc_service! {
    audit_service_server::AuditService for Audit {
        list_audit_events(ListAuditEventsRequest) -> ListAuditEventsResponse = |s, c, r| s.list(c, r).await;
    }
}
