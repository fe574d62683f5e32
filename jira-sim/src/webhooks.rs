//! Admin webhooks: routing events to registrations, and delivering them the
//! way Jira does (identifier header stable across retries, optional
//! signature, retries on 408/409/425/429/5xx/timeouts), plus test controls:
//! hold and release out of order, duplicate, drop, redeliver.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use crate::config::{DEFAULT_WEBHOOK_EVENTS, RetryPolicy, WebhookSpec};
use crate::error::ApiError;
use crate::events::Events;
use crate::jql::{EvalCtx, Query};
use crate::model::{Store, Webhook};
use crate::signature;

/// A registered webhook, as the handle reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookInfo {
    /// Numeric id (last segment of its `self` URL).
    pub id: u64,
    /// Registration details.
    pub name: String,
    /// Receiver URL.
    pub url: String,
    /// Subscribed events.
    pub events: Vec<String>,
    /// JQL filter, if any.
    pub jql_filter: Option<String>,
    /// Whether deliveries are signed.
    pub has_secret: bool,
    /// Whether deliveries are sent without a body.
    pub exclude_body: bool,
    /// Disabled webhooks get nothing.
    pub enabled: bool,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Sending or waiting for a retry.
    Pending,
    /// Held until released.
    Held,
    /// A 2xx was received.
    Delivered,
    /// Gave up (non-retryable answer or retries exhausted).
    Failed,
    /// Deliberately never sent.
    Dropped,
}

/// One HTTP attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// 0 for a first attempt, n for the n-th retry (`X-Atlassian-Webhook-Retry`).
    pub retry: u32,
    /// Status answered, if any.
    pub status: Option<u16>,
    /// Transport error, if any.
    pub error: Option<String>,
}

/// One webhook delivery (one event for one webhook) and what happened to it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRecord {
    /// `X-Atlassian-Webhook-Identifier`.
    pub identifier: String,
    /// Target webhook.
    pub webhook_id: u64,
    /// `webhookEvent`.
    pub event: String,
    /// Receiver URL.
    pub url: String,
    /// The JSON body (null when the webhook excludes bodies).
    pub body: Value,
    /// Current state.
    pub state: DeliveryState,
    /// Every attempt made, across copies.
    pub attempts: Vec<Attempt>,
    /// How many copies were sent (more than 1 after duplicates and redeliveries).
    pub copies: u32,
    /// When the event fired.
    pub created: DateTime<Utc>,
}

/// In which order `release_held` sends held deliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseOrder {
    /// In the order they were held.
    Fifo,
    /// Newest first.
    Reverse,
    /// Only these identifiers, in this order; the rest stay held.
    Ids(Vec<String>),
}

#[derive(Debug)]
pub(crate) struct Delivery {
    identifier: String,
    webhook_id: u64,
    event: String,
    url: String,
    secret: Option<String>,
    body: Bytes,
    created: DateTime<Utc>,
}

pub(crate) struct Job {
    delivery: Arc<Delivery>,
    retry: u32,
}

#[derive(Debug)]
struct DropRule {
    remaining: u32,
    event: Option<String>,
}

#[derive(Debug, Default)]
struct Control {
    hold: bool,
    held: Vec<Arc<Delivery>>,
    duplicate_next: u32,
    drop_rules: Vec<DropRule>,
    log: Vec<(DeliveryRecord, Arc<Delivery>)>,
    index: HashMap<String, usize>,
}

/// Sends deliveries in the background.
pub(crate) struct Dispatcher {
    client: reqwest::Client,
    policy: RetryPolicy,
    control: Mutex<Control>,
    tx: mpsc::UnboundedSender<Job>,
    in_flight: watch::Sender<usize>,
    stopped: AtomicBool,
}

impl Dispatcher {
    pub(crate) fn new(policy: RetryPolicy) -> (Arc<Self>, mpsc::UnboundedReceiver<Job>) {
        let (tx, rx) = mpsc::unbounded_channel();
        // Jira counts a redirect as a failed delivery, so never follow one.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        let (in_flight, _) = watch::channel(0);
        let d = Arc::new(Self {
            client,
            policy,
            control: Mutex::new(Control::default()),
            tx,
            in_flight,
            stopped: AtomicBool::new(false),
        });
        (d, rx)
    }

    fn control(&self) -> MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// First attempts run one at a time in event order; retries run on
    /// their own timers so a failing receiver does not stall the queue.
    pub(crate) async fn run(
        self: Arc<Self>,
        mut rx: mpsc::UnboundedReceiver<Job>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                job = rx.recv() => match job {
                    Some(job) => Arc::clone(&self).attempt(job).await,
                    None => break,
                },
                _ = shutdown.changed() => break,
            }
        }
        self.stopped.store(true, Ordering::SeqCst);
    }

    fn start_job(&self, delivery: Arc<Delivery>) {
        self.in_flight.send_modify(|n| *n += 1);
        if self.tx.send(Job { delivery, retry: 0 }).is_err() {
            self.in_flight.send_modify(|n| *n = n.saturating_sub(1));
        }
    }

    fn finish_job(&self) {
        self.in_flight.send_modify(|n| *n = n.saturating_sub(1));
    }

    /// Queues deliveries, applying the drop, hold and duplicate controls now
    /// (not when sending) so a test sees their effect immediately.
    pub(crate) fn enqueue(&self, deliveries: Vec<Delivery>) {
        let mut to_send = Vec::new();
        {
            let mut guard = self.control();
            let c = &mut *guard;
            for d in deliveries {
                let d = Arc::new(d);
                let mut record = DeliveryRecord {
                    identifier: d.identifier.clone(),
                    webhook_id: d.webhook_id,
                    event: d.event.clone(),
                    url: d.url.clone(),
                    body: serde_json::from_slice(&d.body).unwrap_or(Value::Null),
                    state: DeliveryState::Pending,
                    attempts: Vec::new(),
                    copies: 0,
                    created: d.created,
                };
                let dropped = c
                    .drop_rules
                    .iter()
                    .position(|r| r.remaining > 0 && r.event.as_deref().is_none_or(|e| e == d.event));
                if let Some(i) = dropped {
                    c.drop_rules[i].remaining -= 1;
                    record.state = DeliveryState::Dropped;
                } else if c.hold {
                    record.state = DeliveryState::Held;
                    c.held.push(Arc::clone(&d));
                } else {
                    let copies = if c.duplicate_next > 0 {
                        c.duplicate_next -= 1;
                        2
                    } else {
                        1
                    };
                    record.copies = copies;
                    for _ in 0..copies {
                        to_send.push(Arc::clone(&d));
                    }
                }
                c.drop_rules.retain(|r| r.remaining > 0);
                let idx = c.log.len();
                c.index.insert(d.identifier.clone(), idx);
                c.log.push((record, d));
            }
        }
        for d in to_send {
            self.start_job(d);
        }
    }

    fn attempt(self: Arc<Self>, job: Job) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move {
            let result = self.send(&job).await;
            let retryable = match &result {
                Ok(status) => matches!(status, 408 | 409 | 425 | 429) || (500..600).contains(status),
                Err(_) => true,
            };
            let delivered = matches!(result, Ok(s) if (200..300).contains(&s));
            let will_retry =
                !delivered && retryable && job.retry < self.policy.max_retries && !self.stopped.load(Ordering::SeqCst);
            {
                let mut guard = self.control();
                let c = &mut *guard;
                if let Some(&i) = c.index.get(&job.delivery.identifier)
                    && let Some((rec, _)) = c.log.get_mut(i)
                {
                    let (status, error) = match &result {
                        Ok(s) => (Some(*s), None),
                        Err(e) => (None, Some(e.clone())),
                    };
                    rec.attempts.push(Attempt { retry: job.retry, status, error });
                    if delivered {
                        rec.state = DeliveryState::Delivered;
                    } else if !will_retry && rec.state != DeliveryState::Delivered {
                        rec.state = DeliveryState::Failed;
                    }
                }
            }
            if will_retry {
                let delay = self.backoff(job.retry + 1);
                let me = Arc::clone(&self);
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    me.attempt(Job { delivery: job.delivery, retry: job.retry + 1 }).await;
                });
            } else {
                self.finish_job();
            }
        })
    }

    fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        self.policy.initial_backoff.saturating_mul(factor).min(self.policy.max_backoff)
    }

    async fn send(&self, job: &Job) -> Result<u16, String> {
        let d = &job.delivery;
        let mut req = self
            .client
            .post(&d.url)
            .timeout(self.policy.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json; charset=utf-8")
            .header(reqwest::header::USER_AGENT, "Atlassian Webhook HTTP Client")
            .header("X-Atlassian-Webhook-Identifier", &d.identifier)
            .header("X-Atlassian-Webhook-Flow", "Primary")
            .body(d.body.clone());
        if job.retry > 0 {
            req = req.header("X-Atlassian-Webhook-Retry", job.retry.to_string());
        }
        if let Some(secret) = &d.secret {
            req = req.header("X-Hub-Signature", signature::sign(secret.as_bytes(), &d.body));
        }
        match req.send().await {
            Ok(resp) => Ok(resp.status().as_u16()),
            Err(e) if e.is_timeout() => Err("timeout".to_owned()),
            Err(e) => Err(e.to_string()),
        }
    }

    pub(crate) fn set_hold(&self, hold: bool) {
        self.control().hold = hold;
    }

    pub(crate) fn held(&self) -> Vec<DeliveryRecord> {
        let c = self.control();
        c.held
            .iter()
            .filter_map(|d| c.index.get(&d.identifier).and_then(|&i| c.log.get(i)).map(|(r, _)| r.clone()))
            .collect()
    }

    pub(crate) fn release(&self, order: &ReleaseOrder) -> usize {
        let released: Vec<Arc<Delivery>> = {
            let mut guard = self.control();
            let c = &mut *guard;
            let picked: Vec<Arc<Delivery>> = match order {
                ReleaseOrder::Fifo => std::mem::take(&mut c.held),
                ReleaseOrder::Reverse => {
                    let mut all = std::mem::take(&mut c.held);
                    all.reverse();
                    all
                }
                ReleaseOrder::Ids(ids) => {
                    let mut picked = Vec::new();
                    for id in ids {
                        if let Some(pos) = c.held.iter().position(|d| &d.identifier == id) {
                            picked.push(c.held.remove(pos));
                        }
                    }
                    picked
                }
            };
            for d in &picked {
                if let Some(&i) = c.index.get(&d.identifier)
                    && let Some((rec, _)) = c.log.get_mut(i)
                {
                    rec.state = DeliveryState::Pending;
                    rec.copies += 1;
                }
            }
            picked
        };
        let n = released.len();
        for d in released {
            self.start_job(d);
        }
        n
    }

    pub(crate) fn duplicate_next(&self, n: u32) {
        self.control().duplicate_next += n;
    }

    pub(crate) fn drop_next(&self, n: u32, event: Option<String>) {
        if n > 0 {
            self.control().drop_rules.push(DropRule { remaining: n, event });
        }
    }

    /// Sends a past delivery again with the same identifier (a duplicate, as
    /// Jira can produce).
    pub(crate) fn redeliver(&self, identifier: &str) -> bool {
        let d = {
            let mut guard = self.control();
            let c = &mut *guard;
            let Some(&i) = c.index.get(identifier) else {
                return false;
            };
            let Some((rec, d)) = c.log.get_mut(i) else {
                return false;
            };
            rec.copies += 1;
            if rec.state != DeliveryState::Delivered {
                rec.state = DeliveryState::Pending;
            }
            Arc::clone(d)
        };
        self.start_job(d);
        true
    }

    pub(crate) fn records(&self) -> Vec<DeliveryRecord> {
        self.control().log.iter().map(|(r, _)| r.clone()).collect()
    }

    pub(crate) fn clear_records(&self) {
        let mut c = self.control();
        let held: Vec<String> = c.held.iter().map(|d| d.identifier.clone()).collect();
        let keep: Vec<(DeliveryRecord, Arc<Delivery>)> = c
            .log
            .drain(..)
            .filter(|(r, _)| held.contains(&r.identifier) || r.state == DeliveryState::Pending)
            .collect();
        c.index = keep.iter().enumerate().map(|(i, (r, _))| (r.identifier.clone(), i)).collect();
        c.log = keep;
    }

    /// Waits until nothing is being sent or waiting for a retry (held
    /// deliveries do not count).
    pub(crate) async fn wait_idle(&self, timeout: Duration) -> bool {
        let mut rx = self.in_flight.subscribe();
        matches!(tokio::time::timeout(timeout, rx.wait_for(|n| *n == 0)).await, Ok(Ok(_)))
    }
}

/// Validates and stores a webhook registration.
pub(crate) fn register(store: &mut Store, spec: WebhookSpec, now: DateTime<Utc>, by: &str) -> Result<u64, ApiError> {
    let url = spec.url.trim();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(ApiError::field("url", "The URL must be a valid http or https URL."));
    }
    let mut spec = spec;
    if spec.events.is_empty() {
        spec.events = DEFAULT_WEBHOOK_EVENTS.iter().map(|s| (*s).to_owned()).collect();
    }
    let filter = match spec.jql_filter.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(jql) => Some(Query::parse(jql).map_err(|e| ApiError::field("filters", e.0))?),
        None => None,
    };
    let id = store.next_webhook_id;
    store.next_webhook_id += 1;
    store
        .webhooks
        .insert(id, Webhook { id, spec, filter, enabled: true, last_updated: now, last_updated_by: by.to_owned() });
    Ok(id)
}

pub(crate) fn info(w: &Webhook) -> WebhookInfo {
    WebhookInfo {
        id: w.id,
        name: w.spec.name.clone(),
        url: w.spec.url.clone(),
        events: w.spec.events.clone(),
        jql_filter: w.spec.jql_filter.clone(),
        has_secret: w.spec.secret.as_deref().is_some_and(|s| !s.is_empty()),
        exclude_body: w.spec.exclude_body,
        enabled: w.enabled,
    }
}

/// Turns the events of one operation into deliveries for every enabled
/// webhook subscribed to the event whose JQL filter matches the issue.
pub(crate) fn route(store: &Store, events: Events, now: DateTime<Utc>) -> Vec<Delivery> {
    let mut out = Vec::new();
    let ctx = EvalCtx { store, now, current_user: None };
    for ev in events.items {
        let body: Bytes = serde_json::to_vec(&ev.payload).map(Bytes::from).unwrap_or_default();
        for w in store.webhooks.values() {
            if !w.enabled || !w.spec.events.iter().any(|e| e == ev.name) {
                continue;
            }
            if let Some(f) = &w.filter
                && !f.matches(&ev.issue, &ctx)
            {
                continue;
            }
            out.push(Delivery {
                identifier: uuid::Uuid::new_v4().to_string(),
                webhook_id: w.id,
                event: ev.name.to_owned(),
                url: w.spec.url.clone(),
                secret: w.spec.secret.clone().filter(|s| !s.is_empty()),
                body: if w.spec.exclude_body { Bytes::new() } else { body.clone() },
                created: now,
            });
        }
    }
    out
}
