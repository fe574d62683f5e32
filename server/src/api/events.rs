//! `EventService`: event submission with its deliveries in one transaction, and reads.
use chrono::Utc;
use diesel_async::AsyncConnection as _;
use uuid::Uuid;

use super::{
    AppState, convert,
    paging::{Cursor, Page},
};
use crate::{
    auth::Caller,
    db::{self, events::Event},
    domain::{routing::EventFacts, ticket::EventView},
    error::{ApiError, ApiResult},
    proto,
    routing::TenantRouting,
};

/// Events one SubmitEvents stream may carry.
const MAX_EVENTS_PER_STREAM: usize = 10_000;

/// The event service over the shared state.
pub struct Events {
    state: AppState,
}

impl Events {
    /// A service over `state`.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

fn status_to_proto(s: &str) -> proto::EventStatus {
    match s {
        "resolved" => proto::EventStatus::Resolved,
        "remediated" => proto::EventStatus::Remediated,
        "closed" => proto::EventStatus::Closed,
        _ => proto::EventStatus::Open,
    }
}

fn status_name(value: i32, field: &str) -> ApiResult<&'static str> {
    match proto::EventStatus::try_from(value) {
        Ok(proto::EventStatus::Open) => Ok("open"),
        Ok(proto::EventStatus::Resolved) => Ok("resolved"),
        Ok(proto::EventStatus::Remediated) => Ok("remediated"),
        Ok(proto::EventStatus::Closed) => Ok("closed"),
        Ok(proto::EventStatus::Unspecified) => Err(ApiError::invalid(field, "is required")),
        Err(_) => Err(ApiError::invalid(field, format!("unknown value {value}"))),
    }
}

/// The proto form of a stored event.
pub fn event_to_proto(e: &Event) -> ApiResult<proto::Event> {
    let view = e.view().map_err(ApiError::internal)?;
    Ok(proto::Event {
        event_id: e.id.to_string(),
        kind: convert::trigger_to_proto(view.trigger) as i32,
        external_id: view.external_id,
        application_id: view.application_id,
        title: view.title,
        severity: convert::severity_to_proto(view.severity) as i32,
        link: view.link.unwrap_or_default(),
        detected_at: view.detected_at.map(convert::timestamp),
        status: status_to_proto(&e.status) as i32,
        incident_type: view.incident_type.unwrap_or_default(),
        source_ips: view.source_ips,
        request_urls: view.request_urls,
        vulnerability_type: view.vulnerability_type.unwrap_or_default(),
        risk_score: view.risk_score,
        create_time: Some(convert::timestamp(e.first_seen_at)),
        update_time: Some(convert::timestamp(e.updated_at)),
        status_update_time: Some(convert::timestamp(e.status_updated_at)),
    })
}

impl Events {
    /// Stores or updates one event and owes one ticket per matching configuration, in the
    /// caller's transaction.
    async fn store(
        conn: &mut diesel_async::AsyncPgConnection,
        tenant: Uuid,
        routing: &TenantRouting,
        view: &EventView,
    ) -> ApiResult<(Event, bool)> {
        let now = Utc::now();
        let candidate = Event {
            id: Uuid::now_v7(),
            tenant_id: tenant,
            external_id: view.external_id.clone(),
            kind: view.trigger.as_str().to_owned(),
            application_id: view.application_id.clone(),
            title: view.title.clone(),
            severity: view.severity.as_str().to_owned(),
            status: "open".into(),
            link: view.link.clone(),
            detected_at: view.detected_at,
            details: db::events::details_of(view),
            first_seen_at: now,
            updated_at: now,
            status_updated_at: now,
        };
        let (event, created) = match db::events::insert_new(conn, &candidate).await? {
            Some(event) => (event, true),
            None => {
                let existing = db::events::find_by_external_for_update(conn, tenant, &view.external_id)
                    .await?
                    .ok_or_else(|| ApiError::Unavailable("the event changed concurrently; retry".into()))?;
                if existing.kind != candidate.kind {
                    return Err(ApiError::FailedPrecondition(format!(
                        "external_id {:?} is a {}; its kind cannot change",
                        existing.external_id, existing.kind
                    )));
                }
                if existing.application_id != candidate.application_id {
                    return Err(ApiError::FailedPrecondition(format!(
                        "external_id {:?} belongs to application {:?}; it cannot move",
                        existing.external_id, existing.application_id
                    )));
                }
                (db::events::update_content(conn, &Event { id: existing.id, ..candidate }).await?, false)
            }
        };
        if created {
            db::applications::register_missing(conn, tenant, std::slice::from_ref(&event.application_id)).await?;
        }
        // Routing by the event's first sighting: a resubmission owes only what a configuration
        // that matched it all along still lacks (what is already owed stays as it is).
        let facts = EventFacts {
            application_id: &view.application_id,
            trigger: view.trigger,
            severity: view.severity,
            first_seen_at: event.first_seen_at,
        };
        let matched: Vec<Uuid> = routing.index.route(&facts).collect();
        db::deliveries::insert_creates(conn, tenant, event.id, &matched).await?;
        metrics::counter!("northstar_events_submitted_total", "kind" => event.kind.clone(), "created" => created.to_string())
            .increment(1);
        Ok((event, created))
    }

    async fn submit(&self, caller: Caller, r: proto::SubmitEventRequest) -> ApiResult<proto::SubmitEventResponse> {
        let tenant = caller.tenant_scope("", "tenant_id")?;
        let view = convert::event_view(&r, "")?;
        if r.status != 0 {
            status_name(r.status, "status")?;
        }
        let routing = self.state.routing.tenant(tenant).await?;
        let mut conn = self.state.pool.get().await?;
        let (event, created) =
            conn.transaction::<_, ApiError, _>(async |conn| Self::store(conn, tenant, &routing, &view).await).await?;
        Ok(proto::SubmitEventResponse { event: Some(event_to_proto(&event)?), created })
    }

    /// Each chunk the client sends is committed in one transaction, each item under a
    /// savepoint so that a refused item leaves the others of its chunk stored.
    async fn submit_many(
        &self,
        caller: Caller,
        mut stream: tonic::Streaming<proto::SubmitEventsRequest>,
    ) -> ApiResult<proto::SubmitEventsResponse> {
        let tenant = caller.tenant_scope("", "tenant_id")?;
        let mut response = proto::SubmitEventsResponse::default();
        let mut index = 0i32;
        while let Some(chunk) =
            stream.message().await.map_err(|s| ApiError::invalid("events", s.message().to_owned()))?
        {
            if index as usize + chunk.events.len() > MAX_EVENTS_PER_STREAM {
                return Err(ApiError::ResourceExhausted(format!(
                    "a stream carries at most {MAX_EVENTS_PER_STREAM} events; {index} were stored"
                )));
            }
            let routing = self.state.routing.tenant(tenant).await?;
            let mut conn = self.state.pool.get().await?;
            let results = conn
                .transaction::<_, ApiError, _>(async |conn| {
                    let mut results = Vec::with_capacity(chunk.events.len());
                    for (offset, item) in chunk.events.iter().enumerate() {
                        let i = index + offset as i32;
                        let outcome = match convert::event_view(item, "") {
                            Ok(view) => {
                                conn.transaction::<_, ApiError, _>(async |conn| {
                                    Self::store(conn, tenant, &routing, &view).await
                                })
                                .await
                            }
                            Err(e) => Err(e),
                        };
                        results.push(match outcome {
                            Ok((event, created)) => proto::SubmitEventsResult {
                                index: i,
                                external_id: event.external_id,
                                event_id: event.id.to_string(),
                                created,
                                ..Default::default()
                            },
                            Err(ApiError::Internal(e)) => return Err(ApiError::Internal(e)),
                            Err(ApiError::Unavailable(m)) => return Err(ApiError::Unavailable(m)),
                            Err(e) => {
                                let status = tonic::Status::from(e);
                                proto::SubmitEventsResult {
                                    index: i,
                                    external_id: item.external_id.clone(),
                                    error_code: status.code() as i32,
                                    error_message: status.message().to_owned(),
                                    ..Default::default()
                                }
                            }
                        });
                    }
                    Ok(results)
                })
                .await?;
            index += chunk.events.len() as i32;
            for result in results {
                if result.error_code == 0 {
                    response.accepted_count += 1;
                } else {
                    response.rejected_count += 1;
                }
                response.results.push(result);
            }
        }
        Ok(response)
    }

    async fn find(&self, tenant: Uuid, event_id: &str, external_id: &str) -> ApiResult<Event> {
        let (id, external) = match (event_id.is_empty(), external_id.is_empty()) {
            (false, _) => (Some(convert::uuid(event_id, "event_id")?), None),
            (true, false) => (None, Some(external_id)),
            (true, true) => return Err(ApiError::invalid("event_id", "give event_id or external_id")),
        };
        let mut conn = self.state.pool.get().await?;
        db::events::find(&mut conn, tenant, id, external).await?.ok_or_else(|| ApiError::NotFound("event".into()))
    }

    async fn get(&self, caller: Caller, r: proto::GetEventRequest) -> ApiResult<proto::GetEventResponse> {
        let tenant = caller.tenant_scope("", "tenant_id")?;
        let event = self.find(tenant, &r.event_id, &r.external_id).await?;
        let mut conn = self.state.pool.get().await?;
        let tickets = db::events::tickets_of(&mut conn, tenant, event.id).await?;
        let routing = self.state.routing.tenant(tenant).await?;
        let tickets = tickets
            .into_iter()
            .map(|t| proto::Ticket {
                configuration_id: t.configuration_id.to_string(),
                configuration_name: routing
                    .configurations
                    .get(&t.configuration_id)
                    .map(|c| c.name.clone())
                    .unwrap_or_default(),
                jira_issue_key: t.jira_key,
                jira_issue_id: t.jira_issue_id,
                jira_issue_url: t.jira_url,
                state: if t.closed_at.is_some() { proto::TicketState::Done } else { proto::TicketState::Open } as i32,
                create_time: Some(convert::timestamp(t.created_at)),
                close_time: t.closed_at.map(convert::timestamp),
                delivery_id: t.delivery_id.to_string(),
                ..Default::default()
            })
            .collect();
        let status = status_to_proto(&event.status) as i32;
        Ok(proto::GetEventResponse { event: Some(event_to_proto(&event)?), tickets, status, activities: Vec::new() })
    }

    async fn list(&self, caller: Caller, r: proto::ListEventsRequest) -> ApiResult<proto::ListEventsResponse> {
        let tenant = caller.tenant_scope("", "tenant_id")?;
        let page = Page::parse(r.page_size, &r.page_token)?;
        let filter = db::events::Filter {
            kind: if r.kind == 0 { None } else { Some(convert::trigger(r.kind, "kind")?.as_str().to_owned()) },
            status: if r.status == 0 { None } else { Some(status_name(r.status, "status")?.to_owned()) },
            application_id: (!r.application_id.is_empty()).then(|| r.application_id.clone()),
            severity: if r.severity == 0 {
                None
            } else {
                Some(convert::severity(r.severity, "severity")?.as_str().to_owned())
            },
            start: r.start_time.as_ref().map(|t| convert::time(t, "start_time")).transpose()?,
            end: r.end_time.as_ref().map(|t| convert::time(t, "end_time")).transpose()?,
        };
        let mut conn = self.state.pool.get().await?;
        let mut rows = db::events::list(&mut conn, tenant, &filter, page.after()?, page.fetch_limit()).await?;
        let next_page_token = page.finish(&mut rows, |e| Cursor::Id(e.id));
        Ok(proto::ListEventsResponse {
            events: rows.iter().map(event_to_proto).collect::<Result<_, _>>()?,
            next_page_token,
        })
    }
}

super::grpc_service! {
    event_service_server::EventService for Events {
        submit_event(SubmitEventRequest) -> SubmitEventResponse = |s, c, r| s.submit(c, r).await;
        get_event(GetEventRequest) -> GetEventResponse = |s, c, r| s.get(c, r).await;
        list_events(ListEventsRequest) -> ListEventsResponse = |s, c, r| s.list(c, r).await;
    }
    streaming {
        async fn submit_events(
            &self,
            request: tonic::Request<tonic::Streaming<proto::SubmitEventsRequest>>,
        ) -> Result<tonic::Response<proto::SubmitEventsResponse>, tonic::Status> {
            let caller = Caller::of(&request)?;
            Ok(tonic::Response::new(self.submit_many(caller, request.into_inner()).await?))
        }
    }
}
