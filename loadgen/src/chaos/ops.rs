//! Our side of the run, through the public API only: the tenants and their routing, the events,
//! and the status changes, comments and resubmissions a Northstar service would make. Every call
//! that meets a replica being killed or the database restarting is retried, as a careful client
//! does: SubmitEvent and UpdateEventStatus are idempotent, and AddComment is retried only after
//! the feed shows the first attempt did not land.
use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context as _;
use northstar_jira_client::{
    Client,
    proto::{self, Trigger},
    tonic::{self, Code},
};
use rand::{Rng as _, SeedableRng as _, rngs::StdRng};

use super::plan::{APPLICATIONS, CONFIGS, EventPlan, GROUPS, Plan, letter, project_key};

/// What our side counted.
#[derive(Debug, Default)]
pub struct Counters {
    /// Calls that failed the way an outage fails (UNAVAILABLE and kin) and were made again.
    pub retried_calls: AtomicU64,
    pub submit_calls: AtomicU64,
    pub streamed_events: AtomicU64,
    pub resubmissions: AtomicU64,
    pub status_changes: AtomicU64,
    pub comments: AtomicU64,
    /// AddComment calls whose answer was lost but whose comment was found in the feed.
    pub comments_found_after_error: AtomicU64,
}

/// A tenant as set up: its id, clients (one per channel) and configuration ids by
/// [`CONFIGS`] index.
pub struct Tenant {
    pub id: String,
    pub clients: Vec<Client>,
    pub configs: Vec<String>,
}

impl Tenant {
    pub fn client(&self, i: usize) -> &Client {
        &self.clients[i % self.clients.len()]
    }
}

/// Failures an outage explains: a killed replica, a restarting database, a connection cut
/// half-way.
fn transient(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable | Code::Unknown | Code::Cancelled | Code::DeadlineExceeded | Code::Internal | Code::Aborted
    )
}

/// Makes `call` until it answers, or fails in a way no retry mends, or the deadline passes.
pub async fn retrying<T, F, Fut>(counters: &Counters, deadline: Instant, what: &str, mut call: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let mut wait = Duration::from_millis(50);
    loop {
        match call().await {
            Ok(response) => return Ok(response.into_inner()),
            Err(status) if transient(&status) && Instant::now() < deadline => {
                counters.retried_calls.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(1));
            }
            Err(status) => anyhow::bail!("{what}: {}: {}", status.code(), status.message()),
        }
    }
}

/// Creates the tenants and everything they route with, before any fault is switched on (none
/// of these calls is idempotent). Bidirectional configurations register their webhook in Jira
/// through RegisterJiraWebhook, pointed at the balancer.
pub async fn set_up(
    channels: &[Client],
    operator_token: &str,
    jira_url: &str,
    plan: &Plan,
    run: &str,
) -> anyhow::Result<Vec<Tenant>> {
    let operator = channels[0].with_api_key(operator_token)?;
    let mut tenants = Vec::new();
    for t in 0..plan.tenants {
        let tenant = operator
            .tenants()
            .create_tenant(proto::CreateTenantRequest { name: format!("chaos-{run}-{}", letter(t)) })
            .await?
            .into_inner()
            .tenant
            .context("no tenant")?;
        let key = operator
            .tenants()
            .create_api_key(proto::CreateApiKeyRequest {
                tenant_id: tenant.tenant_id.clone(),
                name: "chaos".into(),
                role: proto::Role::Admin as i32,
            })
            .await?
            .into_inner()
            .api_key;
        let clients = channels.iter().map(|c| c.with_api_key(&key)).collect::<Result<Vec<_>, _>>()?;
        let admin = &clients[0];
        let mut credentials = Vec::new();
        for k in 0..2 {
            let credential = admin
                .credentials()
                .create_credential(proto::CreateCredentialRequest {
                    name: format!("jira-{k}"),
                    jira_url: jira_url.to_owned(),
                    email: jira_sim::DEFAULT_EMAIL.into(),
                    api_token: jira_sim::DEFAULT_TOKEN.into(),
                })
                .await?
                .into_inner()
                .credential
                .context("no credential")?;
            credentials.push(credential.credential_id);
        }
        for a in 0..APPLICATIONS {
            admin
                .applications()
                .upsert_application(proto::UpsertApplicationRequest {
                    application_id: format!("app-{a}"),
                    name: format!("Application {a}"),
                })
                .await?;
        }
        let mut groups = Vec::new();
        for group in &GROUPS {
            let created = admin
                .applications()
                .create_resource_group(proto::CreateResourceGroupRequest {
                    name: group.name.into(),
                    application_ids: group.apps.iter().map(|a| format!("app-{a}")).collect(),
                    ..Default::default()
                })
                .await?
                .into_inner()
                .resource_group
                .context("no group")?;
            groups.push(created.resource_group_id);
        }
        let mut configs = Vec::new();
        for spec in &CONFIGS {
            let created = admin
                .configurations()
                .create_configuration(proto::CreateConfigurationRequest {
                    name: spec.name.into(),
                    credential_id: credentials[spec.credential].clone(),
                    trigger: spec.trigger as i32,
                    application_ids: spec.apps.iter().map(|a| format!("app-{a}")).collect(),
                    resource_group_ids: spec.groups.iter().map(|&g| groups[g].clone()).collect(),
                    severities: spec.severities.iter().map(|&s| s as i32).collect(),
                    jira_project_key: project_key(spec.project, t),
                    default_issue_type: "Bug".into(),
                    title_prefix: spec.title_prefix.into(),
                    bidirectional: spec.bidirectional,
                    enabled: Some(spec.enabled),
                    ..Default::default()
                })
                .await?
                .into_inner()
                .configuration
                .context("no configuration")?;
            if spec.bidirectional {
                admin
                    .configurations()
                    .register_jira_webhook(proto::RegisterJiraWebhookRequest {
                        configuration_id: created.configuration_id.clone(),
                    })
                    .await?;
            }
            configs.push(created.configuration_id);
        }
        tenants.push(Tenant { id: tenant.tenant_id, clients, configs });
    }
    Ok(tenants)
}

/// The SubmitEvent request of an event, with `title`.
pub fn submit_request(event: &EventPlan, title: &str) -> proto::SubmitEventRequest {
    let mut request = proto::SubmitEventRequest {
        kind: event.kind as i32,
        external_id: event.external_id.clone(),
        application_id: format!("app-{}", event.app),
        title: title.to_owned(),
        severity: event.severity as i32,
        link: format!("https://northstar.example/findings/{}", event.external_id),
        ..Default::default()
    };
    if event.kind == Trigger::Incident {
        request.incident_type = "SQL Injection".into();
        request.source_ips = vec!["198.51.100.7".into()];
        request.request_urls = vec!["https://shop.example/login?user=admin'--".into()];
    } else {
        request.vulnerability_type = "SQL Injection".into();
        request.risk_score = event.risk_score;
    }
    request
}

/// Events submitted one by one, or a tenant's share of a block over one SubmitEvents stream.
enum Unit {
    One(usize),
    Stream(usize, Vec<usize>),
}

/// Every fourth block of 50 events goes through SubmitEvents, the rest through SubmitEvent.
fn units(plan: &Plan) -> Vec<Unit> {
    let indexes: Vec<usize> = (0..plan.events.len()).collect();
    let mut units = Vec::new();
    for (b, block) in indexes.chunks(50).enumerate() {
        if b % 4 == 3 {
            for t in 0..plan.tenants {
                let ids: Vec<usize> = block.iter().copied().filter(|&i| plan.events[i].tenant == t).collect();
                if !ids.is_empty() {
                    units.push(Unit::Stream(t, ids));
                }
            }
        } else {
            units.extend(block.iter().map(|&i| Unit::One(i)));
        }
    }
    units
}

/// Submits every event, `concurrency` calls at a time and at most `rate` events a second (so
/// that submissions meet the kills); `submitted[i]` turns true once event `i` is stored.
pub async fn submit_all(
    tenants: Arc<Vec<Tenant>>,
    plan: Arc<Plan>,
    submitted: Arc<Vec<AtomicBool>>,
    counters: Arc<Counters>,
    concurrency: usize,
    rate: f64,
    deadline: Instant,
) -> anyhow::Result<()> {
    let units = Arc::new(units(&plan));
    let next = Arc::new(AtomicUsize::new(0));
    let start = tokio::time::Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (tenants, plan, submitted, counters, units, next) =
            (tenants.clone(), plan.clone(), submitted.clone(), counters.clone(), units.clone(), next.clone());
        workers.spawn(async move {
            loop {
                let u = next.fetch_add(1, Ordering::Relaxed);
                let Some(unit) = units.get(u) else { return Ok::<_, anyhow::Error>(()) };
                let first = match unit {
                    Unit::One(i) => *i,
                    Unit::Stream(_, ids) => ids[0],
                };
                tokio::time::sleep_until(start + Duration::from_secs_f64(first as f64 / rate)).await;
                match unit {
                    Unit::One(i) => {
                        let event = &plan.events[*i];
                        let client = tenants[event.tenant].client(*i);
                        let request = submit_request(event, &event.title);
                        retrying(&counters, deadline, "SubmitEvent", || {
                            counters.submit_calls.fetch_add(1, Ordering::Relaxed);
                            let (client, request) = (client.clone(), request.clone());
                            async move { client.events().submit_event(request).await }
                        })
                        .await?;
                        submitted[*i].store(true, Ordering::Release);
                    }
                    Unit::Stream(t, ids) => {
                        let client = tenants[*t].client(ids[0]);
                        let events: Vec<_> =
                            ids.iter().map(|&i| submit_request(&plan.events[i], &plan.events[i].title)).collect();
                        // A stream cut half-way is sent again whole: what it stored before stays,
                        // and submitting it again changes nothing.
                        let response = retrying(&counters, deadline, "SubmitEvents", || {
                            let (client, events) = (client.clone(), events.clone());
                            async move {
                                let chunks = events
                                    .chunks(25)
                                    .map(|c| proto::SubmitEventsRequest { events: c.to_vec() })
                                    .collect::<Vec<_>>();
                                client.events().submit_events(tokio_stream::iter(chunks)).await
                            }
                        })
                        .await?;
                        anyhow::ensure!(
                            response.accepted_count as usize == ids.len(),
                            "SubmitEvents accepted {} of {}: {:?}",
                            response.accepted_count,
                            ids.len(),
                            response.results.iter().find(|r| !r.error_message.is_empty())
                        );
                        counters.streamed_events.fetch_add(ids.len() as u64, Ordering::Relaxed);
                        for &i in ids {
                            submitted[i].store(true, Ordering::Release);
                        }
                    }
                }
            }
        });
    }
    while let Some(joined) = workers.join_next().await {
        joined??;
    }
    Ok(())
}

/// Our side's changes to events (a resubmission with a new title, a status, a comment), each
/// made once its event is stored, a few at a time, some before its tickets exist and some after.
pub async fn our_side(
    tenants: Arc<Vec<Tenant>>,
    plan: Arc<Plan>,
    submitted: Arc<Vec<AtomicBool>>,
    counters: Arc<Counters>,
    seed: u64,
    deadline: Instant,
) -> anyhow::Result<()> {
    let work: Arc<Vec<usize>> = Arc::new(
        (0..plan.events.len())
            .filter(|&i| {
                let e = &plan.events[i];
                e.new_title.is_some() || e.our_status.is_some() || e.our_comment.is_some()
            })
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..4u64 {
        let (tenants, plan, submitted, counters, work, next) =
            (tenants.clone(), plan.clone(), submitted.clone(), counters.clone(), work.clone(), next.clone());
        workers.spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed ^ (w + 1));
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let Some(&i) = work.get(n) else { return Ok::<_, anyhow::Error>(()) };
                while !submitted[i].load(Ordering::Acquire) {
                    anyhow::ensure!(Instant::now() < deadline, "event {i} was never stored");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                tokio::time::sleep(Duration::from_millis(rng.random_range(0..300))).await;
                change(&tenants, &plan.events[i], i, &counters, deadline).await?;
            }
        });
    }
    while let Some(joined) = workers.join_next().await {
        joined??;
    }
    Ok(())
}

async fn change(
    tenants: &[Tenant],
    event: &EventPlan,
    i: usize,
    counters: &Counters,
    deadline: Instant,
) -> anyhow::Result<()> {
    let client = tenants[event.tenant].client(i + 1);
    if let Some(title) = &event.new_title {
        let request = submit_request(event, title);
        retrying(counters, deadline, "SubmitEvent (new title)", || {
            let (client, request) = (client.clone(), request.clone());
            async move { client.events().submit_event(request).await }
        })
        .await?;
        counters.resubmissions.fetch_add(1, Ordering::Relaxed);
    }
    if let Some(status) = event.our_status {
        let request = proto::UpdateEventStatusRequest {
            external_id: event.external_id.clone(),
            status: status as i32,
            ..Default::default()
        };
        retrying(counters, deadline, "UpdateEventStatus", || {
            let (client, request) = (client.clone(), request.clone());
            async move { client.events().update_event_status(request).await }
        })
        .await?;
        counters.status_changes.fetch_add(1, Ordering::Relaxed);
    }
    if let Some(body) = &event.our_comment {
        add_comment_once(client, event, body, counters, deadline).await?;
        counters.comments.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// AddComment is not idempotent: after a failure, the feed says whether the comment landed.
async fn add_comment_once(
    client: &Client,
    event: &EventPlan,
    body: &str,
    counters: &Counters,
    deadline: Instant,
) -> anyhow::Result<()> {
    let request = proto::AddCommentRequest {
        external_id: event.external_id.clone(),
        body: body.to_owned(),
        ..Default::default()
    };
    loop {
        match client.events().add_comment(request.clone()).await {
            Ok(_) => return Ok(()),
            Err(status) if transient(&status) && Instant::now() < deadline => {
                counters.retried_calls.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200)).await;
                let feed = get_event(client, &event.external_id, counters, deadline).await?;
                let landed = feed.activities.iter().any(|a| {
                    a.comment.as_ref().is_some_and(|c| c.body == body && c.origin() == proto::Origin::Northstar)
                });
                if landed {
                    counters.comments_found_after_error.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
            }
            Err(status) => anyhow::bail!("AddComment: {}: {}", status.code(), status.message()),
        }
    }
}

/// GetEvent by external id, retried through outages.
pub async fn get_event(
    client: &Client,
    external_id: &str,
    counters: &Counters,
    deadline: Instant,
) -> anyhow::Result<proto::GetEventResponse> {
    let request = proto::GetEventRequest { external_id: external_id.to_owned(), ..Default::default() };
    retrying(counters, deadline, "GetEvent", || {
        let (client, request) = (client.clone(), request.clone());
        async move { client.events().get_event(request).await }
    })
    .await
}

/// Deliveries of a tenant in `state` (all states when unspecified), counted page by page.
pub async fn count_deliveries(
    client: &Client,
    state: proto::DeliveryState,
    counters: &Counters,
    deadline: Instant,
) -> anyhow::Result<Vec<proto::Delivery>> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = proto::ListDeliveriesRequest {
            page_size: 1000,
            page_token: page_token.clone(),
            state: state as i32,
            ..Default::default()
        };
        let page = retrying(counters, deadline, "ListDeliveries", || {
            let (client, request) = (client.clone(), request.clone());
            async move { client.deliveries().list_deliveries(request).await }
        })
        .await?;
        all.extend(page.deliveries);
        if page.next_page_token.is_empty() {
            return Ok(all);
        }
        page_token = page.next_page_token;
    }
}

/// Deliveries still owed to Jira in every tenant: pending, in flight, or failed awaiting a retry.
pub async fn outstanding(tenants: &[Tenant], counters: &Counters, deadline: Instant) -> anyhow::Result<usize> {
    let mut n = 0;
    for tenant in tenants {
        for state in [proto::DeliveryState::Pending, proto::DeliveryState::InFlight, proto::DeliveryState::Failed] {
            n += count_deliveries(&tenant.clients[0], state, counters, deadline).await?.len();
        }
    }
    Ok(n)
}
