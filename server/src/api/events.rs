//! `EventService`: event submission with its deliveries in one transaction, and reads.
use std::{collections::HashSet, sync::Arc};

use chrono::Utc;
use diesel_async::AsyncConnection as _;
use uuid::Uuid;

use super::{
    AppState, convert,
    paging::{Cursor, Page},
};
use crate::{
    auth::Caller,
    db::{
        self,
        changes::{self, NewChange},
        events::Event,
    },
    domain::{
        model::{EventStatus, Trigger},
        routing::EventFacts,
        ticket::EventView,
    },
    error::{ApiError, ApiResult},
    ingest::{self, Outcome, Submission},
    propagate::{self, Source},
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

pub(super) fn status_to_proto(s: &str) -> proto::EventStatus {
    match s {
        "resolved" => proto::EventStatus::Resolved,
        "remediated" => proto::EventStatus::Remediated,
        "closed" => proto::EventStatus::Closed,
        _ => proto::EventStatus::Open,
    }
}

fn status_of(value: i32, field: &str) -> ApiResult<EventStatus> {
    match proto::EventStatus::try_from(value) {
        Ok(proto::EventStatus::Open) => Ok(EventStatus::Open),
        Ok(proto::EventStatus::Resolved) => Ok(EventStatus::Resolved),
        Ok(proto::EventStatus::Remediated) => Ok(EventStatus::Remediated),
        Ok(proto::EventStatus::Closed) => Ok(EventStatus::Closed),
        Ok(proto::EventStatus::Unspecified) => Err(ApiError::invalid(field, "is required")),
        Err(_) => Err(ApiError::invalid(field, format!("unknown value {value}"))),
    }
}

fn status_valid_for(status: EventStatus, trigger: Trigger, field: &str) -> ApiResult<EventStatus> {
    if status.valid_for(trigger) {
        Ok(status)
    } else {
        Err(ApiError::invalid(
            field,
            format!("{} is not a status of an {}", status.as_str().to_uppercase(), trigger.as_str()),
        ))
    }
}

/// The status a submission asks for, if any, checked against its kind; `field` names it
/// (`event.status` inside PreviewRouting).
pub(super) fn requested_status(
    r: &proto::SubmitEventRequest,
    trigger: Trigger,
    field: &str,
) -> ApiResult<Option<EventStatus>> {
    if r.status == 0 {
        return Ok(None);
    }
    status_valid_for(status_of(r.status, field)?, trigger, field).map(Some)
}

/// Whether a resubmission changed what a ticket's summary or priority are made of.
fn ticket_inputs_differ(before: &Event, after: &Event) -> ApiResult<bool> {
    let (a, b) = (before.view().map_err(ApiError::internal)?, after.view().map_err(ApiError::internal)?);
    Ok(a.title != b.title || a.severity != b.severity || a.risk_score != b.risk_score)
}

fn source_of(caller: &Caller) -> Source {
    match caller {
        Caller::Tenant { api_key_id, .. } => Source::northstar(format!("API key {api_key_id}")),
        Caller::Operator => Source::northstar("operator"),
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

pub(super) fn origin_to_proto(origin: &str) -> proto::Origin {
    match origin {
        "jira" => proto::Origin::Jira,
        "system" => proto::Origin::System,
        _ => proto::Origin::Northstar,
    }
}

/// The proto form of a ticket row.
pub fn ticket_to_proto(t: &db::events::Ticket, configuration_name: String) -> proto::Ticket {
    let state = match (t.unlinked_at, t.closed_at) {
        (Some(_), _) => proto::TicketState::Unlinked,
        (None, Some(_)) => proto::TicketState::Done,
        (None, None) => proto::TicketState::Open,
    };
    proto::Ticket {
        configuration_id: t.configuration_id.to_string(),
        configuration_name,
        jira_issue_key: t.jira_key.clone(),
        jira_issue_id: t.jira_issue_id.clone(),
        jira_issue_url: t.jira_url.clone(),
        state: state as i32,
        jira_status: t.jira_status.clone().unwrap_or_default(),
        jira_resolution: t.jira_resolution.clone().unwrap_or_default(),
        jira_priority: t.sent_priority.clone().unwrap_or_default(),
        create_time: Some(convert::timestamp(t.created_at)),
        close_time: t.closed_at.map(convert::timestamp),
        delivery_id: t.delivery_id.to_string(),
    }
}

/// The proto form of a comment, with where it lives in Jira.
pub fn comment_to_proto(
    c: &db::changes::Comment,
    copies: &[db::changes::JiraComment],
    tickets: &[db::events::Ticket],
) -> proto::Comment {
    proto::Comment {
        comment_id: c.id.to_string(),
        event_id: c.event_id.to_string(),
        body: c.body.clone(),
        origin: origin_to_proto(&c.origin) as i32,
        author: c.author.clone(),
        author_account_id: c.author_account_id.clone().unwrap_or_default(),
        api_key_id: c.api_key_id.map(|k| k.to_string()).unwrap_or_default(),
        create_time: Some(convert::timestamp(c.created_at)),
        update_time: Some(convert::timestamp(c.updated_at)),
        jira_comments: copies
            .iter()
            .filter(|l| l.comment_id == c.id)
            .filter_map(|l| {
                let t = tickets.iter().find(|t| t.id == l.ticket_id)?;
                Some(proto::JiraCommentLink {
                    configuration_id: t.configuration_id.to_string(),
                    jira_issue_key: t.jira_key.clone(),
                    jira_comment_id: l.jira_comment_id.clone(),
                })
            })
            .collect(),
    }
}

fn activity_to_proto(c: &db::changes::Change, comment: Option<proto::Comment>) -> proto::Activity {
    let kind = match c.kind.as_str() {
        changes::kind::SUBMITTED => proto::ActivityKind::Submitted,
        changes::kind::UPDATED => proto::ActivityKind::Updated,
        changes::kind::STATUS_CHANGED => proto::ActivityKind::StatusChanged,
        changes::kind::COMMENT_ADDED => proto::ActivityKind::Comment,
        changes::kind::TICKET_CREATED => proto::ActivityKind::TicketCreated,
        changes::kind::TICKET_UNLINKED => proto::ActivityKind::TicketUnlinked,
        changes::kind::DUPLICATE_CLOSED => proto::ActivityKind::DuplicateClosed,
        changes::kind::DELIVERY_FAILED => proto::ActivityKind::DeliveryFailed,
        _ => proto::ActivityKind::Unspecified,
    };
    proto::Activity {
        activity_id: c.id.to_string(),
        kind: kind as i32,
        origin: origin_to_proto(&c.origin) as i32,
        time: Some(convert::timestamp(c.occurred_at)),
        actor: c.actor.clone(),
        configuration_id: c.configuration_id.map(|id| id.to_string()).unwrap_or_default(),
        jira_issue_key: c.jira_issue_key.clone().unwrap_or_default(),
        comment,
        previous_status: c.previous_status.as_deref().map(|s| status_to_proto(s) as i32).unwrap_or_default(),
        status: if c.kind == changes::kind::STATUS_CHANGED { status_to_proto(&c.status) as i32 } else { 0 },
        message: c.message.clone(),
    }
}

impl Events {
    /// Stores or updates one event and owes one ticket per matching configuration, in the
    /// caller's transaction.
    async fn store(
        conn: &mut diesel_async::AsyncPgConnection,
        tenant: Uuid,
        routing: &TenantRouting,
        view: &EventView,
        status: Option<EventStatus>,
        source: &Source,
    ) -> ApiResult<(Event, bool)> {
        let candidate = ingest::new_event(tenant, view, Utc::now());
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
                let updated = db::events::update_content(conn, &Event { id: existing.id, ..candidate }).await?;
                if ticket_inputs_differ(&existing, &updated)? {
                    propagate::content_changed(conn, &updated, source).await?;
                }
                (updated, false)
            }
        };
        if created {
            db::applications::register_missing(conn, tenant, std::slice::from_ref(&event.application_id)).await?;
            let change = NewChange::of(&event, changes::kind::SUBMITTED, source.origin).actor(source.actor.clone());
            db::changes::record(conn, &[change]).await?;
        }
        let event = match status {
            Some(status) => propagate::change_status(conn, routing, event, status, source).await?,
            None => event,
        };
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

    /// The plain new events of a chunk (valid, no status asked, an external id not earlier in
    /// the chunk, so the chunk's order of writes holds) stored as one group under a savepoint;
    /// for each item, its new event, or `None` where it is to be stored alone.
    async fn store_new_group(
        conn: &mut diesel_async::AsyncPgConnection,
        tenant: Uuid,
        routing: &Arc<TenantRouting>,
        source: &Source,
        parsed: &[ApiResult<(Option<EventStatus>, EventView)>],
    ) -> Vec<Option<Event>> {
        let mut seen = HashSet::new();
        let mut members = Vec::new();
        let mut submissions = Vec::new();
        for (i, item) in parsed.iter().enumerate() {
            let Ok((status, view)) = item else { continue };
            if seen.insert(view.external_id.as_str()) && status.is_none() {
                members.push(i);
                let (routing, view, source) = (routing.clone(), view.clone(), source.clone());
                submissions.push(Submission { tenant, routing, view, source });
            }
        }
        // Bounded lock waits, as for unary groups (a concurrent group may hold one of these ids);
        // the bound ends with the savepoint or is lifted right after it.
        let stored = conn
            .transaction::<_, diesel::result::Error, _>(async |conn| {
                db::set_lock_timeout(conn, Some(ingest::GROUP_LOCK_TIMEOUT)).await?;
                ingest::insert_new(conn, &submissions, Utc::now()).await
            })
            .await
            .unwrap_or_else(|err| {
                tracing::warn!(error = %err, "a chunk's new events failed as a group; each is stored alone");
                vec![None; submissions.len()]
            });
        if let Err(err) = db::set_lock_timeout(conn, None).await {
            tracing::warn!(error = %err, "lifting the group's lock bound");
        }
        let mut created = vec![None; parsed.len()];
        for (i, event) in members.into_iter().zip(stored) {
            created[i] = event;
        }
        created
    }

    async fn submit(&self, caller: Caller, r: proto::SubmitEventRequest) -> ApiResult<proto::SubmitEventResponse> {
        let tenant = caller.tenant_scope("", "tenant_id")?;
        let view = convert::event_view(&r, "")?;
        let status = requested_status(&r, view.trigger, "status")?;
        let mut source = source_of(&caller);
        let routing = self.state.routing.tenant(tenant).await?;
        let mut view = view;
        if status.is_none() {
            let submission = Submission { tenant, routing: routing.clone(), view, source };
            match self.state.ingest.submit(submission).await? {
                Outcome::Created(event) => {
                    return Ok(proto::SubmitEventResponse { event: Some(event_to_proto(&event)?), created: true });
                }
                Outcome::Declined(submission) => (view, source) = (submission.view, submission.source),
            }
        }
        let mut conn = self.state.pool.get().await?;
        let (event, created) = conn
            .transaction::<_, ApiError, _>(async |conn| {
                Self::store(conn, tenant, &routing, &view, status, &source).await
            })
            .await?;
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
        let source = source_of(&caller);
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
                    let parsed: Vec<ApiResult<(Option<EventStatus>, EventView)>> = chunk
                        .events
                        .iter()
                        .map(|item| {
                            let view = convert::event_view(item, "")?;
                            Ok((requested_status(item, view.trigger, "status")?, view))
                        })
                        .collect();
                    let created = Self::store_new_group(conn, tenant, &routing, &source, &parsed).await;
                    let mut results = Vec::with_capacity(chunk.events.len());
                    for (offset, ((item, parsed), created)) in chunk.events.iter().zip(parsed).zip(created).enumerate()
                    {
                        let i = index + offset as i32;
                        let outcome = match (created, parsed) {
                            (Some(event), _) => Ok((event, true)),
                            (None, Ok((status, view))) => {
                                conn.transaction::<_, ApiError, _>(async |conn| {
                                    Self::store(conn, tenant, &routing, &view, status, &source).await
                                })
                                .await
                            }
                            (None, Err(e)) => Err(e),
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
            (false, true) => (Some(convert::uuid(event_id, "event_id")?), None),
            (true, false) => (None, Some(convert::label(external_id, "external_id", 255)?)),
            (true, true) => return Err(ApiError::invalid("event_id", "give event_id or external_id")),
            (false, false) => return Err(ApiError::invalid("event_id", "give event_id or external_id, not both")),
        };
        let mut conn = self.state.pool.get().await?;
        db::events::find(&mut conn, tenant, id, external.as_deref())
            .await?
            .ok_or_else(|| ApiError::NotFound("event".into()))
    }

    async fn get(&self, caller: Caller, r: proto::GetEventRequest) -> ApiResult<proto::GetEventResponse> {
        let tenant = caller.tenant_scope("", "tenant_id")?;
        let event = self.find(tenant, &r.event_id, &r.external_id).await?;
        let routing = self.state.routing.tenant(tenant).await?;
        let mut conn = self.state.pool.get().await?;
        let tickets = db::events::tickets_of(&mut conn, tenant, event.id).await?;
        let creates = db::deliveries::list(
            &mut conn,
            tenant,
            &db::deliveries::Filter {
                event_id: Some(event.id),
                kind: Some(db::deliveries::kind::CREATE_TICKET.into()),
                ..Default::default()
            },
            None,
            1000,
        )
        .await?;
        let log = db::changes::of_event(&mut conn, event.id).await?;
        let comments = db::changes::live_comments(&mut conn, event.id).await?;
        let ids: Vec<Uuid> = comments.iter().map(|c| c.id).collect();
        let copies = db::changes::jira_copies(&mut conn, &ids).await?;
        drop(conn);

        let name = |id: Uuid| routing.configurations.get(&id).map(|c| c.name.clone()).unwrap_or_default();
        let mut out: Vec<proto::Ticket> =
            tickets.iter().map(|t| ticket_to_proto(t, name(t.configuration_id))).collect();
        // Tickets still owed (or given up on) show as PENDING or FAILED until they exist.
        for d in creates.iter().filter(|d| !tickets.iter().any(|t| t.delivery_id == d.id)) {
            if d.state == db::deliveries::state::SUCCEEDED {
                continue;
            }
            out.push(proto::Ticket {
                configuration_id: d.configuration_id.to_string(),
                configuration_name: name(d.configuration_id),
                state: if d.state == db::deliveries::state::DEAD {
                    proto::TicketState::Failed
                } else {
                    proto::TicketState::Pending
                } as i32,
                delivery_id: d.id.to_string(),
                ..Default::default()
            });
        }
        let activities = log
            .iter()
            .filter_map(|change| {
                let comment = match change.kind.as_str() {
                    changes::kind::COMMENT_ADDED => {
                        // Edits show in the entry, and a deleted comment leaves the feed.
                        let c = comments.iter().find(|c| Some(c.id) == change.comment_id)?;
                        Some(comment_to_proto(c, &copies, &tickets))
                    }
                    changes::kind::COMMENT_UPDATED | changes::kind::COMMENT_DELETED => return None,
                    _ => None,
                };
                Some(activity_to_proto(change, comment))
            })
            .collect();
        let status = status_to_proto(&event.status) as i32;
        Ok(proto::GetEventResponse { event: Some(event_to_proto(&event)?), tickets: out, status, activities })
    }

    async fn update_status(
        &self,
        caller: Caller,
        r: proto::UpdateEventStatusRequest,
    ) -> ApiResult<proto::UpdateEventStatusResponse> {
        let tenant = caller.tenant_scope("", "tenant_id")?;
        let status = status_of(r.status, "status")?;
        let id = self.find(tenant, &r.event_id, &r.external_id).await?.id;
        let (routing, source) = (self.state.routing.tenant(tenant).await?, source_of(&caller));
        let mut conn = self.state.pool.get().await?;
        let event = conn
            .transaction::<_, ApiError, _>(async |conn| {
                let event = db::events::find_for_update(conn, id).await?;
                let trigger = Trigger::parse(&event.kind).ok_or_else(|| ApiError::internal("stored kind"))?;
                status_valid_for(status, trigger, "status")?;
                Ok(propagate::change_status(conn, &routing, event, status, &source).await?)
            })
            .await?;
        Ok(proto::UpdateEventStatusResponse { event: Some(event_to_proto(&event)?) })
    }

    async fn add_comment(&self, caller: Caller, r: proto::AddCommentRequest) -> ApiResult<proto::AddCommentResponse> {
        let tenant = caller.tenant_scope("", "tenant_id")?;
        if r.body.trim().is_empty() {
            return Err(ApiError::invalid("body", "is required and may not be only whitespace"));
        }
        if r.body.chars().count() > 32_000 {
            return Err(ApiError::invalid("body", "is longer than 32,000 characters"));
        }
        convert::storable(&r.body, "body")?;
        let id = self.find(tenant, &r.event_id, &r.external_id).await?.id;
        let api_key_id = match caller {
            Caller::Tenant { api_key_id, .. } => Some(api_key_id),
            Caller::Operator => None,
        };
        let mut conn = self.state.pool.get().await?;
        let author = match api_key_id {
            Some(key) => db::tenants::key_name(&mut conn, key).await?.unwrap_or_default(),
            None => "operator".into(),
        };
        let now = Utc::now();
        let comment = db::changes::Comment {
            id: Uuid::now_v7(),
            tenant_id: tenant,
            event_id: id,
            body: r.body,
            origin: changes::origin::NORTHSTAR.into(),
            author,
            author_account_id: None,
            api_key_id,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        };
        conn.transaction::<_, ApiError, _>(async |conn| {
            // Locked so that a ticket being stored concurrently either sees this comment or is
            // seen by it.
            let event = db::events::lock_touch(conn, id).await?;
            propagate::comment_added(conn, &event, &comment).await?;
            Ok(())
        })
        .await?;
        Ok(proto::AddCommentResponse { comment: Some(comment_to_proto(&comment, &[], &[])) })
    }

    async fn delete_comment(
        &self,
        caller: Caller,
        r: proto::DeleteCommentRequest,
    ) -> ApiResult<proto::DeleteCommentResponse> {
        let tenant = caller.tenant_scope("", "tenant_id")?;
        let comment_id = convert::uuid(&r.comment_id, "comment_id")?;
        let id = self.find(tenant, &r.event_id, &r.external_id).await?.id;
        let source = source_of(&caller);
        let mut conn = self.state.pool.get().await?;
        conn.transaction::<_, ApiError, _>(async |conn| {
            let event = db::events::lock_touch(conn, id).await?;
            let comment = db::changes::find_comment(conn, tenant, id, comment_id)
                .await?
                .filter(|c| c.deleted_at.is_none())
                .ok_or_else(|| ApiError::NotFound("comment".into()))?;
            propagate::comment_deleted(conn, &event, &comment, &source).await?;
            Ok(())
        })
        .await?;
        Ok(proto::DeleteCommentResponse {})
    }

    async fn list(&self, caller: Caller, r: proto::ListEventsRequest) -> ApiResult<proto::ListEventsResponse> {
        let tenant = caller.tenant_scope("", "tenant_id")?;
        let page = Page::parse(r.page_size, &r.page_token)?;
        let filter = db::events::Filter {
            kind: if r.kind == 0 { None } else { Some(convert::trigger(r.kind, "kind")?.as_str().to_owned()) },
            status: if r.status == 0 { None } else { Some(status_of(r.status, "status")?.as_str().to_owned()) },
            application_id: (!r.application_id.is_empty())
                .then(|| super::applications::application_id(&r.application_id, "application_id"))
                .transpose()?,
            severity: if r.severity == 0 {
                None
            } else {
                Some(convert::severity(r.severity, "severity")?.as_str().to_owned())
            },
            start: r.start_time.as_ref().map(|t| convert::time(t, "start_time")).transpose()?,
            end: r.end_time.as_ref().map(|t| convert::time(t, "end_time")).transpose()?,
        };
        if let (Some(start), Some(end)) = (filter.start, filter.end)
            && end <= start
        {
            return Err(ApiError::invalid("end_time", "must be after start_time"));
        }
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
        update_event_status(UpdateEventStatusRequest) -> UpdateEventStatusResponse = |s, c, r| s.update_status(c, r).await;
        add_comment(AddCommentRequest) -> AddCommentResponse = |s, c, r| s.add_comment(c, r).await;
        delete_comment(DeleteCommentRequest) -> DeleteCommentResponse = |s, c, r| s.delete_comment(c, r).await;
    }
    streaming {
        async fn submit_events(
            &self,
            request: tonic::Request<tonic::Streaming<proto::SubmitEventsRequest>>,
        ) -> Result<tonic::Response<proto::SubmitEventsResponse>, tonic::Status> {
            let caller = Caller::of(&request)?;
            Ok(tonic::Response::new(self.submit_many(caller, request.into_inner()).await?))
        }

        async fn watch_event_changes(
            &self,
            request: tonic::Request<proto::WatchEventChangesRequest>,
        ) -> Result<tonic::Response<super::watch::ChangeStream>, tonic::Status> {
            let tenant = Caller::of(&request)?.tenant_scope("", "tenant_id")?;
            Ok(tonic::Response::new(super::watch::start(&self.state, tenant, request.into_inner()).await?))
        }
    }
}
