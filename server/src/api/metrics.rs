//! `MetricsService`: ticket volume, MTTR and open tickets per tenant, once or as a stream.
//!
//! Snapshots come from the daily rollups the `tickets_metrics` trigger keeps, plus the raw
//! tickets of a window's partial days, so their cost does not grow with the tenant's history.
//! Streams wake on `NOTIFY northstar_metrics` (sent by that trigger on any replica's change) and
//! hold at most one snapshot for a slow reader: the next is computed only when it can be sent.
use std::{
    collections::{BTreeMap, HashMap},
    time::Duration,
};

use chrono::{DateTime, TimeDelta, Utc};
use secrecy::ExposeSecret as _;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use uuid::Uuid;

use super::{AppState, convert};
use crate::{
    auth::Caller,
    db,
    domain::{
        metrics::{Remediation, plan_window},
        model::{Severity, Trigger},
    },
    error::{ApiError, ApiResult},
    notify::Notifier,
    proto,
};

/// The default window: the last 30 days.
const DEFAULT_WINDOW: TimeDelta = TimeDelta::days(30);
/// Streams never compute snapshots more often than this, however busy the tickets are.
const MIN_GAP: Duration = Duration::from_secs(1);

/// The metrics service over the shared state.
pub struct Metrics {
    state: AppState,
}

impl Metrics {
    /// A service over `state`.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

/// Which tenants a request reports on: one, or (operator, no tenant named) all of them.
async fn scope(state: &AppState, caller: &Caller, tenant_id: &str) -> ApiResult<Option<Uuid>> {
    match caller {
        Caller::Tenant { .. } => caller.tenant_scope(tenant_id, "tenant_id").map(Some),
        Caller::Operator if tenant_id.is_empty() => Ok(None),
        Caller::Operator => {
            let id = convert::uuid(tenant_id, "tenant_id")?;
            let mut conn = state.pool.get().await?;
            db::tenants::find_tenant(&mut conn, id).await?.ok_or_else(|| ApiError::NotFound("tenant".into()))?;
            Ok(Some(id))
        }
    }
}

/// A window as asked: `None` bounds are filled per snapshot (end: now; start: 30 days before).
#[derive(Clone, Copy)]
struct Window {
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
}

impl Window {
    fn parse(start: Option<&prost_types::Timestamp>, end: Option<&prost_types::Timestamp>) -> ApiResult<Self> {
        let window = Self {
            start: start.map(|t| convert::time(t, "start_time")).transpose()?,
            end: end.map(|t| convert::time(t, "end_time")).transpose()?,
        };
        if let (Some(s), Some(e)) = (window.start, window.end)
            && e <= s
        {
            return Err(ApiError::invalid("end_time", "must be after start_time"));
        }
        Ok(window)
    }

    fn at(self, now: DateTime<Utc>) -> ApiResult<(DateTime<Utc>, DateTime<Utc>)> {
        let end = self.end.unwrap_or(now);
        let start = match self.start {
            Some(start) => start,
            None => end
                .checked_sub_signed(DEFAULT_WINDOW)
                .ok_or_else(|| ApiError::invalid("end_time", "leaves no room for the default window"))?,
        };
        if end <= start {
            return Err(ApiError::invalid("start_time", "must be before the end of the window"));
        }
        Ok((start, end))
    }
}

/// One tenant's figures before they become a message.
#[derive(Default)]
struct Figures {
    created: HashMap<(String, String, Uuid), i64>,
    closed: HashMap<(String, String), Remediation>,
    open: HashMap<String, (i64, Option<DateTime<Utc>>)>,
}

impl Figures {
    fn merge(&mut self, other: &Figures) {
        for (k, n) in &other.created {
            *self.created.entry(k.clone()).or_default() += n;
        }
        for (k, r) in &other.closed {
            self.closed.entry(k.clone()).or_default().merge(r);
        }
        for (k, (n, oldest)) in &other.open {
            let entry = self.open.entry(k.clone()).or_default();
            entry.0 += n;
            entry.1 = match (entry.1, *oldest) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
    }
}

/// A snapshot: the figures of the scope (and per tenant for the operator), with its times.
struct Snapshot {
    metrics: proto::Metrics,
    tenants: Vec<proto::Metrics>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    taken: DateTime<Utc>,
}

async fn snapshot(state: &AppState, tenant: Option<Uuid>, window: Window) -> ApiResult<Snapshot> {
    let taken = Utc::now();
    let (start, end) = window.at(taken)?;
    let plan = plan_window(start, end);
    let mut conn = state.pool.get().await?;
    let mut created = Vec::new();
    // Rollup rows (days and hours): totals (bucket -1) and buckets apart; raw rows: both in one.
    let mut closed_days = Vec::new();
    let mut closed_raw = Vec::new();
    if let Some((first, last)) = plan.days {
        created.extend(db::metrics::created_days(&mut conn, tenant, first.date_naive(), last.date_naive()).await?);
        closed_days = db::metrics::closed_days(&mut conn, tenant, first.date_naive(), last.date_naive()).await?;
    }
    for (from, to) in &plan.hours {
        created.extend(db::metrics::created_hours(&mut conn, tenant, *from, *to).await?);
        closed_days.extend(db::metrics::closed_hours(&mut conn, tenant, *from, *to).await?);
    }
    for (from, to) in &plan.raw {
        created.extend(db::metrics::created_raw(&mut conn, tenant, *from, *to).await?);
        closed_raw.extend(db::metrics::closed_raw(&mut conn, tenant, *from, *to).await?);
    }
    let open = db::metrics::open(&mut conn, tenant).await?;

    let mut per_tenant: BTreeMap<Uuid, Figures> = BTreeMap::new();
    for row in &created {
        *per_tenant
            .entry(row.tenant_id)
            .or_default()
            .created
            .entry((row.trigger.clone(), row.severity.clone(), row.configuration_id))
            .or_default() += row.tickets;
    }
    for row in closed_days.iter().chain(&closed_raw) {
        let slice = per_tenant
            .entry(row.tenant_id)
            .or_default()
            .closed
            .entry((row.trigger.clone(), row.severity.clone()))
            .or_default();
        if row.bucket < 0 {
            slice.add(row.tickets, row.seconds_sum);
        } else {
            slice.add_bucket(row.bucket, row.tickets);
        }
    }
    for row in &closed_raw {
        if let Some(slice) = per_tenant
            .get_mut(&row.tenant_id)
            .and_then(|f| f.closed.get_mut(&(row.trigger.clone(), row.severity.clone())))
        {
            slice.add(row.tickets, row.seconds_sum);
        }
    }
    for row in &open {
        per_tenant.entry(row.tenant_id).or_default().open.insert(row.trigger.clone(), (row.tickets, row.oldest));
    }

    let config_ids: Vec<Uuid> = created.iter().map(|r| r.configuration_id).collect();
    let names: HashMap<Uuid, String> =
        db::metrics::configuration_names(&mut conn, &config_ids).await?.into_iter().collect();
    let mut total = Figures::default();
    for figures in per_tenant.values() {
        total.merge(figures);
    }
    let tenants = match tenant {
        Some(id) => {
            let name = db::tenants::find_tenant(&mut conn, id).await?.map(|t| t.name).unwrap_or_default();
            let metrics = to_proto(per_tenant.get(&id).unwrap_or(&Figures::default()), Some((id, name)), &names, taken);
            return Ok(Snapshot { metrics, tenants: Vec::new(), start, end, taken });
        }
        None => db::tenants::list_tenants(&mut conn, None, None, i64::MAX).await?,
    };
    let none = Figures::default();
    let mut breakdown: Vec<proto::Metrics> = tenants
        .into_iter()
        .map(|t| to_proto(per_tenant.get(&t.id).unwrap_or(&none), Some((t.id, t.name)), &names, taken))
        .collect();
    breakdown.sort_by(|a, b| a.tenant_name.cmp(&b.tenant_name).then(a.tenant_id.cmp(&b.tenant_id)));
    Ok(Snapshot { metrics: to_proto(&total, None, &names, taken), tenants: breakdown, start, end, taken })
}

const TRIGGERS: [Trigger; 2] = [Trigger::Incident, Trigger::Vulnerability];

fn duration(seconds: f64) -> prost_types::Duration {
    let whole = seconds.floor();
    prost_types::Duration { seconds: whole as i64, nanos: ((seconds - whole) * 1e9) as i32 }
}

fn remediation(trigger: Trigger, severity: Option<Severity>, r: &Remediation) -> proto::RemediationTime {
    proto::RemediationTime {
        trigger: convert::trigger_to_proto(trigger) as i32,
        severity: severity.map(|s| convert::severity_to_proto(s) as i32).unwrap_or_default(),
        count: r.count,
        mean: r.mean_seconds().map(duration),
        median: r.percentile_seconds(0.5).map(duration),
        p90: r.percentile_seconds(0.9).map(duration),
    }
}

fn to_proto(
    f: &Figures,
    tenant: Option<(Uuid, String)>,
    names: &HashMap<Uuid, String>,
    now: DateTime<Utc>,
) -> proto::Metrics {
    let trigger_of = |s: &str| Trigger::parse(s).unwrap_or(Trigger::Vulnerability);
    let severity_of = |s: &str| Severity::parse(s).unwrap_or(Severity::Note);
    let volume = |trigger: Trigger, severity: Option<Severity>, config: Option<Uuid>, n: i64| proto::TicketVolume {
        trigger: convert::trigger_to_proto(trigger) as i32,
        severity: severity.map(|s| convert::severity_to_proto(s) as i32).unwrap_or_default(),
        configuration_id: config.map(|c| c.to_string()).unwrap_or_default(),
        configuration_name: config.and_then(|c| names.get(&c).cloned()).unwrap_or_default(),
        ticket_count: n,
    };
    let mut by_trigger: BTreeMap<Trigger, i64> = TRIGGERS.iter().map(|t| (*t, 0)).collect();
    let mut by_severity: BTreeMap<(Trigger, std::cmp::Reverse<Severity>), i64> = BTreeMap::new();
    let mut by_config: BTreeMap<(String, Uuid, Trigger), i64> = BTreeMap::new();
    for ((trigger, severity, config), n) in &f.created {
        let (t, s) = (trigger_of(trigger), severity_of(severity));
        *by_trigger.entry(t).or_default() += n;
        *by_severity.entry((t, std::cmp::Reverse(s))).or_default() += n;
        *by_config.entry((names.get(config).cloned().unwrap_or_default(), *config, t)).or_default() += n;
    }
    let mut mttr_trigger: BTreeMap<Trigger, Remediation> =
        TRIGGERS.iter().map(|t| (*t, Remediation::default())).collect();
    let mut mttr_severity: BTreeMap<(Trigger, std::cmp::Reverse<Severity>), Remediation> = BTreeMap::new();
    for ((trigger, severity), r) in &f.closed {
        let (t, s) = (trigger_of(trigger), severity_of(severity));
        mttr_trigger.entry(t).or_default().merge(r);
        mttr_severity.entry((t, std::cmp::Reverse(s))).or_default().merge(r);
    }
    proto::Metrics {
        tenant_id: tenant.as_ref().map(|(id, _)| id.to_string()).unwrap_or_default(),
        tenant_name: tenant.map(|(_, name)| name).unwrap_or_default(),
        tickets_created: by_trigger.values().sum(),
        ticket_volume_by_trigger: by_trigger.iter().map(|(t, n)| volume(*t, None, None, *n)).collect(),
        ticket_volume_by_severity: by_severity
            .iter()
            .filter(|(_, n)| **n != 0)
            .map(|((t, s), n)| volume(*t, Some(s.0), None, *n))
            .collect(),
        ticket_volume_by_configuration: by_config
            .iter()
            .filter(|(_, n)| **n != 0)
            .map(|((_, c, t), n)| volume(*t, None, Some(*c), *n))
            .collect(),
        mttr_by_trigger: mttr_trigger.iter().map(|(t, r)| remediation(*t, None, r)).collect(),
        mttr_by_severity: mttr_severity
            .iter()
            .filter(|(_, r)| r.count != 0)
            .map(|((t, s), r)| remediation(*t, Some(s.0), r))
            .collect(),
        open_tickets: TRIGGERS
            .iter()
            .map(|t| {
                let (n, oldest) = f.open.get(t.as_str()).copied().unwrap_or_default();
                proto::OpenTickets {
                    trigger: convert::trigger_to_proto(*t) as i32,
                    open_count: n,
                    oldest_create_time: oldest.map(convert::timestamp),
                    oldest_age: oldest.map(|o| duration((now - o).num_milliseconds().max(0) as f64 / 1000.0)),
                }
            })
            .collect(),
    }
}

impl Metrics {
    async fn get(&self, caller: Caller, r: proto::GetMetricsRequest) -> ApiResult<proto::GetMetricsResponse> {
        let window = Window::parse(r.start_time.as_ref(), r.end_time.as_ref())?;
        let tenant = scope(&self.state, &caller, &r.tenant_id).await?;
        let s = snapshot(&self.state, tenant, window).await?;
        Ok(proto::GetMetricsResponse {
            metrics: Some(s.metrics),
            tenant_metrics: s.tenants,
            start_time: Some(convert::timestamp(s.start)),
            end_time: Some(convert::timestamp(s.end)),
            snapshot_time: Some(convert::timestamp(s.taken)),
        })
    }

    async fn stream(&self, caller: Caller, r: proto::StreamMetricsRequest) -> ApiResult<MetricsStream> {
        let window = Window::parse(r.start_time.as_ref(), r.end_time.as_ref())?;
        let interval = match &r.interval {
            None => Duration::from_secs(30),
            Some(d) if d.seconds >= 1 && d.seconds <= 3600 && d.nanos >= 0 && (d.seconds < 3600 || d.nanos == 0) => {
                Duration::new(d.seconds as u64, d.nanos as u32)
            }
            Some(_) => return Err(ApiError::invalid("interval", "must be between 1 second and 1 hour")),
        };
        let tenant = scope(&self.state, &caller, &r.tenant_id).await?;
        // The first snapshot fails the call, not the stream, if the window is wrong.
        let first = snapshot(&self.state, tenant, window).await?;
        let notifier = Notifier::for_channel(self.state.config.database_url.expose_secret(), db::metrics::CHANNEL);
        let (tx, rx) = mpsc::channel(1);
        let state = self.state.clone();
        let span = tracing::info_span!("stream_metrics", tenant_id = ?tenant);
        tokio::spawn(tracing::Instrument::instrument(
            async move {
                let mut wake = notifier.subscribe();
                let mut pending = Some(first);
                let mut last: Option<(proto::Metrics, Vec<proto::Metrics>)> = None;
                let mut last_sent = tokio::time::Instant::now();
                loop {
                    // Waiting for room first means a slow reader gets the latest snapshot, never
                    // a queue of stale ones.
                    let Ok(permit) = tx.reserve().await else { return };
                    let s = match pending.take() {
                        Some(s) => s,
                        None => match snapshot(&state, tenant, window).await {
                            Ok(s) => s,
                            Err(err) => {
                                permit.send(Err(err.into()));
                                return;
                            }
                        },
                    };
                    let figures = (without_ages(&s.metrics), s.tenants.iter().map(without_ages).collect::<Vec<_>>());
                    if last.as_ref() != Some(&figures) || last_sent.elapsed() >= interval {
                        permit.send(Ok(proto::StreamMetricsResponse {
                            metrics: Some(s.metrics),
                            tenant_metrics: s.tenants,
                            start_time: Some(convert::timestamp(s.start)),
                            end_time: Some(convert::timestamp(s.end)),
                            snapshot_time: Some(convert::timestamp(s.taken)),
                        }));
                        last = Some(figures);
                        last_sent = tokio::time::Instant::now();
                    } else {
                        drop(permit);
                    }
                    let due = last_sent + interval;
                    tokio::select! {
                        () = tx.closed() => return,
                        () = state.shutdown.cancelled() => return,
                        _ = wake.changed() => {}
                        () = tokio::time::sleep_until(due) => {}
                    }
                    wake.borrow_and_update();
                    tokio::time::sleep(MIN_GAP).await;
                }
            },
            span,
        ));
        Ok(Box::pin(ReceiverStream::new(rx)))
    }
}

/// The figures without what changes by the passing of time alone (ages).
fn without_ages(m: &proto::Metrics) -> proto::Metrics {
    let mut m = m.clone();
    for o in &mut m.open_tickets {
        o.oldest_age = None;
    }
    m
}

/// The stream the generated trait expects.
pub type MetricsStream = tonic::codegen::BoxStream<proto::StreamMetricsResponse>;

super::grpc_service! {
    metrics_service_server::MetricsService for Metrics {
        get_metrics(GetMetricsRequest) -> GetMetricsResponse = |s, c, r| s.get(c, r).await;
    }
    streaming {
        async fn stream_metrics(
            &self,
            request: tonic::Request<proto::StreamMetricsRequest>,
        ) -> Result<tonic::Response<MetricsStream>, tonic::Status> {
            let caller = Caller::of(&request)?;
            Ok(tonic::Response::new(self.stream(caller, request.into_inner()).await?))
        }
    }
}
