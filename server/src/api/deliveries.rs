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

fn kind_to_proto(kind: &str) -> proto::DeliveryKind {
    match kind {
        db::deliveries::kind::CREATE_TICKET => proto::DeliveryKind::CreateTicket,
        _ => proto::DeliveryKind::Unspecified,
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

fn to_proto(d: &Delivery) -> proto::Delivery {
    proto::Delivery {
        delivery_id: d.id.to_string(),
        event_id: d.event_id.to_string(),
        configuration_id: d.configuration_id.to_string(),
        kind: kind_to_proto(&d.kind) as i32,
        state: state_to_proto(&d.state) as i32,
        attempts: d.attempts,
        last_error: d.last_error.clone().unwrap_or_default(),
        next_attempt_time: Some(convert::timestamp(d.next_attempt_at)),
        create_time: Some(convert::timestamp(d.created_at)),
        update_time: Some(convert::timestamp(d.updated_at)),
        ..Default::default()
    }
}

impl Deliveries {
    async fn list(&self, caller: Caller, r: proto::ListDeliveriesRequest) -> ApiResult<proto::ListDeliveriesResponse> {
        let tenant = caller.tenant_scope("", "tenant_id")?;
        let page = Page::parse(r.page_size, &r.page_token)?;
        let filter = db::deliveries::Filter {
            state: state_name(r.state)?.map(str::to_owned),
            event_id: (!r.event_id.is_empty()).then(|| convert::uuid(&r.event_id, "event_id")).transpose()?,
            configuration_id: (!r.configuration_id.is_empty())
                .then(|| convert::uuid(&r.configuration_id, "configuration_id"))
                .transpose()?,
            kind: None,
        };
        let mut conn = self.state.pool.get().await?;
        let mut rows = db::deliveries::list(&mut conn, tenant, &filter, page.after()?, page.fetch_limit()).await?;
        let next_page_token = page.finish(&mut rows, |d| Cursor::Id(d.id));
        Ok(proto::ListDeliveriesResponse { deliveries: rows.iter().map(to_proto).collect(), next_page_token })
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
                let requeued = db::deliveries::requeue_dead(conn, tenant, id).await?.ok_or_else(|| {
                    ApiError::FailedPrecondition(format!(
                        "the delivery is {}, not DEAD; only a dead delivery can be retried",
                        existing.state
                    ))
                })?;
                db::deliveries::wake(conn).await?;
                audit(conn, &caller, tenant, "delivery.retry", ("delivery", id.to_string()), None, None).await?;
                Ok(requeued)
            })
            .await?;
        Ok(proto::RetryDeliveryResponse { delivery: Some(to_proto(&delivery)) })
    }
}

super::grpc_service! {
    delivery_service_server::DeliveryService for Deliveries {
        list_deliveries(ListDeliveriesRequest) -> ListDeliveriesResponse = |s, c, r| s.list(c, r).await;
        retry_delivery(RetryDeliveryRequest) -> RetryDeliveryResponse = |s, c, r| s.retry(c, r).await;
    }
}
