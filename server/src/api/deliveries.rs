//! `DeliveryService`: what is owed to Jira, and re-queuing what gave up.
use super::{
    AppState, audit, convert,
    paging::{Cursor, Page},
};
use crate::{
    auth::Caller,
    db::{self, deliveries::Delivery},
    error::{ApiError, ApiResult},
    proto,
};
use diesel_async::AsyncConnection as _;
use serde_json::json;

/// The delivery service over the shared state.
pub struct Deliveries {
    state: AppState,
}

impl Deliveries {
    /// A service over `state`.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

/// Stored kinds and their proto names, both ways.
const KINDS: [(&str, proto::DeliveryKind); 6] = {
    use db::deliveries::kind::*;
    [
        (CREATE_TICKET, proto::DeliveryKind::CreateTicket),
        (UPDATE_TICKET, proto::DeliveryKind::UpdateTicket),
        (ADD_COMMENT, proto::DeliveryKind::AddComment),
        (DELETE_COMMENT, proto::DeliveryKind::DeleteComment),
        (TRANSITION, proto::DeliveryKind::Transition),
        (SWEEP_DUPLICATES, proto::DeliveryKind::CloseDuplicate),
    ]
};

fn kind_to_proto(kind: &str) -> proto::DeliveryKind {
    KINDS.iter().find(|(k, _)| *k == kind).map_or(proto::DeliveryKind::Unspecified, |(_, p)| *p)
}

fn kind_name(value: i32) -> ApiResult<Option<&'static str>> {
    match proto::DeliveryKind::try_from(value) {
        Ok(proto::DeliveryKind::Unspecified) => Ok(None),
        Ok(p) => Ok(KINDS.iter().find(|(_, k)| *k == p).map(|(k, _)| *k)),
        Err(_) => Err(ApiError::invalid("kind", format!("unknown value {value}"))),
    }
}

fn state_to_proto(state: &str) -> proto::DeliveryState {
    use db::deliveries::state::*;
    match state {
        PENDING => proto::DeliveryState::Pending,
        IN_FLIGHT => proto::DeliveryState::InFlight,
        SUCCEEDED => proto::DeliveryState::Succeeded,
        FAILED => proto::DeliveryState::Failed,
        DEAD => proto::DeliveryState::Dead,
        _ => proto::DeliveryState::Unspecified,
    }
}

fn state_name(value: i32) -> ApiResult<Option<&'static str>> {
    use db::deliveries::state::*;
    Ok(match proto::DeliveryState::try_from(value) {
        Ok(proto::DeliveryState::Unspecified) => None,
        Ok(proto::DeliveryState::Pending) => Some(PENDING),
        Ok(proto::DeliveryState::InFlight) => Some(IN_FLIGHT),
        Ok(proto::DeliveryState::Succeeded) => Some(SUCCEEDED),
        Ok(proto::DeliveryState::Failed) => Some(FAILED),
        Ok(proto::DeliveryState::Dead) => Some(DEAD),
        Err(_) => return Err(ApiError::invalid("state", format!("unknown value {value}"))),
    })
}

/// What a delivery row does not hold itself: its event's external id and its ticket's key.
#[derive(Default)]
struct Context {
    external_ids: std::collections::HashMap<uuid::Uuid, String>,
    tickets: Vec<db::events::Ticket>,
}

impl Context {
    async fn of(conn: &mut db::DbConn, tenant: uuid::Uuid, rows: &[Delivery]) -> ApiResult<Self> {
        let mut events: Vec<uuid::Uuid> = rows.iter().map(|d| d.event_id).collect();
        events.sort();
        events.dedup();
        let mut context = Context::default();
        for event in events {
            if let Some(e) = db::events::find(conn, tenant, Some(event), None).await? {
                context.external_ids.insert(event, e.external_id);
            }
            context.tickets.extend(db::events::tickets_of(conn, tenant, event).await?);
        }
        Ok(context)
    }
}

fn to_proto(d: &Delivery, context: &Context) -> proto::Delivery {
    use db::deliveries::state::*;
    let waiting = matches!(d.state.as_str(), PENDING | FAILED);
    let ticket = context
        .tickets
        .iter()
        .find(|t| t.event_id == d.event_id && t.configuration_id == d.configuration_id && t.generation == d.generation);
    proto::Delivery {
        delivery_id: d.id.to_string(),
        event_id: d.event_id.to_string(),
        configuration_id: d.configuration_id.to_string(),
        kind: kind_to_proto(&d.kind) as i32,
        state: state_to_proto(&d.state) as i32,
        attempts: d.attempts,
        last_error: d.last_error.clone().unwrap_or_default(),
        next_attempt_time: waiting.then(|| convert::timestamp(d.next_attempt_at)),
        create_time: Some(convert::timestamp(d.created_at)),
        update_time: Some(convert::timestamp(d.updated_at)),
        external_id: context.external_ids.get(&d.event_id).cloned().unwrap_or_default(),
        jira_issue_key: ticket.map(|t| t.jira_key.clone()).unwrap_or_default(),
        comment_id: d.comment_id.map(|c| c.to_string()).unwrap_or_default(),
    }
}

impl Deliveries {
    async fn list(&self, caller: Caller, r: proto::ListDeliveriesRequest) -> ApiResult<proto::ListDeliveriesResponse> {
        let tenant = caller.tenant_scope("", "tenant_id")?;
        let page = Page::parse(r.page_size, &r.page_token)?;
        if !r.event_id.is_empty() && !r.external_id.is_empty() {
            return Err(ApiError::invalid("event_id", "give event_id or external_id, not both"));
        }
        let mut filter = db::deliveries::Filter {
            state: state_name(r.state)?.map(str::to_owned),
            event_id: (!r.event_id.is_empty()).then(|| convert::uuid(&r.event_id, "event_id")).transpose()?,
            configuration_id: (!r.configuration_id.is_empty())
                .then(|| convert::uuid(&r.configuration_id, "configuration_id"))
                .transpose()?,
            kind: kind_name(r.kind)?.map(str::to_owned),
        };
        let mut conn = self.state.pool.get().await?;
        if !r.external_id.is_empty() {
            let external_id = convert::label(&r.external_id, "external_id", 255)?;
            match db::events::find(&mut conn, tenant, None, Some(&external_id)).await? {
                Some(event) => filter.event_id = Some(event.id),
                None => return Ok(proto::ListDeliveriesResponse::default()),
            }
        }
        let mut rows = db::deliveries::list(&mut conn, tenant, &filter, page.after()?, page.fetch_limit()).await?;
        let next_page_token = page.finish(&mut rows, |d| Cursor::Id(d.id));
        let context = Context::of(&mut conn, tenant, &rows).await?;
        Ok(proto::ListDeliveriesResponse {
            deliveries: rows.iter().map(|d| to_proto(d, &context)).collect(),
            next_page_token,
        })
    }

    async fn retry(&self, caller: Caller, r: proto::RetryDeliveryRequest) -> ApiResult<proto::RetryDeliveryResponse> {
        let tenant = caller.tenant_scope("", "tenant_id")?;
        let id = convert::uuid(&r.delivery_id, "delivery_id")?;
        let mut conn = self.state.pool.get().await?;
        let delivery = conn
            .transaction::<_, ApiError, _>(async |conn| {
                let existing = db::deliveries::find(conn, tenant, id)
                    .await?
                    .ok_or_else(|| ApiError::NotFound("delivery".into()))?;
                let requeued = db::deliveries::requeue(conn, tenant, id).await?.ok_or_else(|| {
                    ApiError::FailedPrecondition(format!(
                        "the delivery is {}; only a DEAD or FAILED delivery can be retried",
                        existing.state
                    ))
                })?;
                db::deliveries::wake(conn).await?;
                let view = |d: &Delivery| json!({ "delivery_id": d.id, "state": d.state, "attempts": d.attempts });
                audit(
                    conn,
                    &caller,
                    tenant,
                    "RetryDelivery",
                    ("delivery", id.to_string()),
                    Some(view(&existing)),
                    Some(view(&requeued)),
                )
                .await?;
                Ok(requeued)
            })
            .await?;
        let context = Context::of(&mut conn, tenant, std::slice::from_ref(&delivery)).await?;
        Ok(proto::RetryDeliveryResponse { delivery: Some(to_proto(&delivery, &context)) })
    }
}

super::grpc_service! {
    delivery_service_server::DeliveryService for Deliveries {
        list_deliveries(ListDeliveriesRequest) -> ListDeliveriesResponse = |s, c, r| s.list(c, r).await;
        retry_delivery(RetryDeliveryRequest) -> RetryDeliveryResponse = |s, c, r| s.retry(c, r).await;
    }
}
