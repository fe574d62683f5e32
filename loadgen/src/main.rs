//! Load generator for the figures `scripts/bench` reports: unary `SubmitEvent` at a concurrency
//! (matching no configuration, or one that delivers to a Jira), streaming `SubmitEvents`, signed
//! webhooks, end-to-end delivery (submitted to ticket stored), `GetMetrics` over a million
//! tickets, and a plain single-row INSERT baseline on the same database. Every write is
//! acknowledged only after its commit. The last line of each run is `RESULT key=value ...`, which
//! the script reads; it checks the tenant's rows in the database against `ok` itself.
//!
//! `chaos` is different: it starts everything itself (see `northstar_loadgen::chaos` and
//! `scripts/chaos`) and ends with a table and a non-zero exit when anything went wrong.
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use diesel_async::{
    AsyncPgConnection, RunQueryDsl as _,
    pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod, deadpool::Pool},
};
use hdrhistogram::Histogram;
use northstar_jira_client::{Client, proto};
use tokio::sync::Mutex;

#[derive(Parser)]
#[command(about = "Load generator for northstar-jira")]
struct Args {
    /// Calls (or events, or webhooks) to make.
    #[arg(long, default_value_t = 20_000)]
    n: usize,
    /// Calls in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    #[command(subcommand)]
    mode: Mode,
}

/// Where the service is and how to become its operator.
#[derive(clap::Args, Clone)]
struct Target {
    /// gRPC address of the server.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    addr: String,
    /// Operator token (creates a fresh tenant and a key for the run).
    #[arg(long, env = "NORTHSTAR_BOOTSTRAP_TOKEN")]
    operator_token: String,
}

/// A Jira (the simulator) that events are routed to.
#[derive(clap::Args, Clone)]
struct Jira {
    /// Jira base URL; events match a configuration that creates tickets there.
    #[arg(long)]
    jira_url: Option<String>,
    /// Jira account email.
    #[arg(long, default_value = "sim@example.com")]
    jira_email: String,
    /// Jira API token.
    #[arg(long, default_value = "sim-token")]
    jira_token: String,
    /// Jira project key.
    #[arg(long, default_value = "SIM")]
    jira_project: String,
}

#[derive(Subcommand)]
enum Mode {
    /// Unary SubmitEvent, one new event per call.
    Submit {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        jira: Jira,
    },
    /// Streaming SubmitEvents: `concurrency` streams, chunks of `chunk` events.
    Stream {
        #[command(flatten)]
        target: Target,
        /// Events per chunk (one transaction each).
        #[arg(long, default_value_t = 500)]
        chunk: usize,
    },
    /// Signed Jira webhooks to the sidecar, each with its own delivery identifier.
    Webhooks {
        #[command(flatten)]
        target: Target,
        /// The sidecar's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        http: String,
        /// Configurations (each in its own tenant) the deliveries are spread over: one
        /// configuration is held to the server's per-configuration webhook rate limit.
        #[arg(long, default_value_t = 32)]
        configurations: usize,
    },
    /// End to end: `n` events matching a configuration, streamed in, timed until every ticket
    /// is stored.
    Deliver {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        jira: Jira,
        /// The server's PostgreSQL URL (tickets are counted there).
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// GetMetrics over a tenant with `tickets` tickets seeded in the last 30 days (90% closed),
    /// against the naive exact SQL over the same tickets as the baseline.
    Metrics {
        #[command(flatten)]
        target: Target,
        /// The server's PostgreSQL URL (tickets are seeded straight into it).
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
        /// Tickets to seed.
        #[arg(long, default_value_t = 1_000_000)]
        tickets: i64,
    },
    /// The chaos run: a private PostgreSQL (restarted once), the Jira simulator failing at random,
    /// replicas of the server killed with SIGKILL and restarted, people acting in Jira with
    /// duplicate and out-of-order webhooks; exits non-zero if anything was lost or done twice.
    Chaos(Box<ChaosArgs>),
    /// Plain single-row INSERT commits on the given database (a scratch table, dropped after).
    Baseline {
        /// PostgreSQL URL.
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
    },
}

#[derive(clap::Args)]
struct ChaosArgs {
    /// Events to submit.
    #[arg(long, default_value_t = 10_000)]
    events: usize,
    /// Tenants the events are spread over.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..=26))]
    tenants: u8,
    /// Server replicas on the one database.
    #[arg(long, default_value_t = 2)]
    replicas: usize,
    /// `kill -9` of a random replica, each followed by a restart.
    #[arg(long, default_value_t = 10)]
    kills: usize,
    /// Mean seconds between kills.
    #[arg(long, default_value_t = 25.0)]
    kill_interval: f64,
    /// Do not restart PostgreSQL.
    #[arg(long)]
    no_database_restart: bool,
    /// An existing database to use instead of a private cluster (never restarted).
    #[arg(long)]
    database_url: Option<String>,
    /// The northstar-jira binary (default: next to this one).
    #[arg(long)]
    server_bin: Option<std::path::PathBuf>,
    /// Where logs and the private cluster go.
    #[arg(long, default_value = "target/chaos")]
    work_dir: std::path::PathBuf,
    /// SubmitEvent calls in flight.
    #[arg(long, default_value_t = 32)]
    submit_concurrency: usize,
    /// Events submitted per second at most (default: spread over the kills).
    #[arg(long)]
    submit_rate: Option<f64>,
    /// Seed of everything random (events, faults, kills).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Percentage of Jira requests answered 500.
    #[arg(long, default_value_t = 20.0)]
    server_error_percent: f64,
    /// Percentage answered 429 with Retry-After.
    #[arg(long, default_value_t = 10.0)]
    rate_limit_percent: f64,
    /// Percentage done but answered 500 (response lost).
    #[arg(long, default_value_t = 5.0)]
    lost_response_percent: f64,
    /// Retry-After of the 429s, in seconds.
    #[arg(long, default_value_t = 1)]
    retry_after: u64,
    /// Jira latency is redrawn every 200 ms between 0 and this many milliseconds.
    #[arg(long, default_value_t = 50)]
    max_latency_ms: u64,
    /// Reconciliation interval of the replicas, in seconds.
    #[arg(long, default_value_t = 300)]
    reconcile_interval: u64,
    /// Give up (and fail) after this many seconds.
    #[arg(long, default_value_t = 2700)]
    timeout: u64,
}

struct Report {
    histogram: Histogram<u64>,
    /// Items stored (a call may carry several).
    ok: usize,
    errors: usize,
}

async fn run<F, Fut>(n: usize, concurrency: usize, call: F) -> anyhow::Result<(Duration, Report)>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<usize>> + Send,
{
    let call = Arc::new(call);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let report = Arc::new(Mutex::new(Report { histogram: Histogram::new(3)?, ok: 0, errors: 0 }));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (call, next, report) = (call.clone(), next.clone(), report.clone());
        workers.push(tokio::spawn(async move {
            let mut local = Histogram::<u64>::new(3).expect("histogram");
            let (mut errors, mut ok) = (0, 0);
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let t = Instant::now();
                match call(i).await {
                    Ok(items) => {
                        local.record(t.elapsed().as_micros() as u64).expect("record");
                        ok += items;
                    }
                    Err(e) => {
                        if errors == 0 {
                            eprintln!("error: {e:#}");
                        }
                        errors += 1;
                    }
                }
            }
            let mut report = report.lock().await;
            report.histogram.add(local).expect("merge");
            report.errors += errors;
            report.ok += ok;
        }));
    }
    for w in workers {
        w.await?;
    }
    let elapsed = started.elapsed();
    let report = Arc::try_unwrap(report).map_err(|_| anyhow::anyhow!("report still shared"))?.into_inner();
    Ok((elapsed, report))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let (label, tenant, (elapsed, report)) = match args.mode {
        Mode::Chaos(chaos_args) => return chaos(*chaos_args).await,
        Mode::Metrics { target, database_url, tickets } => {
            return metrics(&target, &database_url, tickets, args.n.min(200)).await;
        }
        Mode::Deliver { target, jira, database_url, timeout } => {
            return deliver(&target, &jira, &database_url, args.n, args.concurrency, Duration::from_secs(timeout))
                .await;
        }
        Mode::Submit { target, jira } => {
            let (tenant, client) = fresh_tenant(&target, &run_id, proto::Role::Admin).await?;
            let application = match &jira.jira_url {
                Some(url) => {
                    route_to_jira(&client, &jira, url).await?;
                    "web"
                }
                None => "",
            };
            let result = run(args.n, args.concurrency, move |i| {
                let client = client.clone();
                let request = event(&run_id, i, application);
                async move {
                    client.events().submit_event(request).await?;
                    Ok(1)
                }
            })
            .await?;
            ("SubmitEvent", tenant.tenant_id, result)
        }
        Mode::Stream { target, chunk } => {
            let (tenant, client) = fresh_tenant(&target, &run_id, proto::Role::Writer).await?;
            let result = stream(&client, &run_id, args.n, args.concurrency, chunk).await?;
            ("SubmitEvents", tenant.tenant_id, result)
        }
        Mode::Webhooks { target, http, configurations } => {
            let (tenant, result) =
                webhooks(&target, &http, &run_id, args.n, args.concurrency, configurations.max(1)).await?;
            ("webhooks", tenant, result)
        }
        Mode::Baseline { database_url } => {
            ("baseline INSERT", String::new(), baseline(&database_url, args.n, args.concurrency).await?)
        }
    };
    let ok = report.ok;
    let rate = ok as f64 / elapsed.as_secs_f64();
    let (p50, p99) = (
        report.histogram.value_at_quantile(0.5) as f64 / 1000.0,
        report.histogram.value_at_quantile(0.99) as f64 / 1000.0,
    );
    println!(
        "{label}: {ok} ok, {} errors in {:.2}s = {rate:.0}/s; p50 {p50:.2} ms, p99 {p99:.2} ms (concurrency {})",
        report.errors,
        elapsed.as_secs_f64(),
        args.concurrency
    );
    println!("RESULT rate={rate:.1} ok={ok} errors={} tenant={tenant} p50_ms={p50:.2} p99_ms={p99:.2}", report.errors);
    if report.errors > 0 {
        anyhow::bail!("{} calls failed", report.errors);
    }
    Ok(())
}

async fn chaos(args: ChaosArgs) -> anyhow::Result<()> {
    use northstar_loadgen::chaos::{self, Database, Options};
    let server_bin = match args.server_bin {
        Some(bin) => bin,
        None => std::env::current_exe()?.with_file_name("northstar-jira"),
    };
    anyhow::ensure!(server_bin.is_file(), "no server binary at {} (--server-bin)", server_bin.display());
    let database = match args.database_url {
        Some(url) => Database::Url(url),
        None => Database::Private(args.work_dir.join("postgres")),
    };
    let options = Options {
        events: args.events,
        tenants: usize::from(args.tenants),
        replicas: args.replicas,
        kills: args.kills,
        kill_interval: Duration::from_secs_f64(args.kill_interval.max(0.0)),
        restart_database: !args.no_database_restart,
        concurrency: args.submit_concurrency,
        submit_rate: args.submit_rate,
        seed: args.seed,
        server_error_percent: args.server_error_percent,
        rate_limit_percent: args.rate_limit_percent,
        lost_response_percent: args.lost_response_percent,
        retry_after_secs: args.retry_after,
        max_latency: Duration::from_millis(args.max_latency_ms),
        reconcile_interval: Duration::from_secs(args.reconcile_interval.max(1)),
        timeout: Duration::from_secs(args.timeout),
        ..Options::new(server_bin, args.work_dir, database)
    };
    let report = chaos::run(options).await?;
    println!("{}", report.table());
    anyhow::ensure!(report.failures() == 0, "{} failures: lost, duplicated or applied twice", report.failures());
    Ok(())
}

/// The `i`th event of a run: a vulnerability of `application` (of one of 100 applications that
/// match nothing when empty).
fn event(run_id: &str, i: usize, application: &str) -> proto::SubmitEventRequest {
    proto::SubmitEventRequest {
        kind: proto::Trigger::Vulnerability as i32,
        external_id: format!("{run_id}-{i}"),
        application_id: if application.is_empty() { format!("app-{}", i % 100) } else { application.to_owned() },
        title: "Load test finding".into(),
        severity: proto::Severity::High as i32,
        vulnerability_type: "SQL Injection".into(),
        risk_score: Some(7.5),
        ..Default::default()
    }
}

/// The events `range` of a run as SubmitEvents messages of `chunk` events.
fn stream_messages(
    run_id: &str,
    range: std::ops::Range<usize>,
    chunk: usize,
    application: &str,
) -> Vec<proto::SubmitEventsRequest> {
    range
        .collect::<Vec<_>>()
        .chunks(chunk)
        .map(|is| proto::SubmitEventsRequest { events: is.iter().map(|&i| event(run_id, i, application)).collect() })
        .collect()
}

/// A credential for `url` and a configuration that routes application `web`'s vulnerabilities
/// there; returns the configuration's id and webhook secret (when `bidirectional`).
async fn configure(client: &Client, jira: &Jira, url: &str, bidirectional: bool) -> anyhow::Result<(String, String)> {
    client
        .applications()
        .upsert_application(proto::UpsertApplicationRequest { application_id: "web".into(), name: "Web".into() })
        .await?;
    let credential = client
        .credentials()
        .create_credential(proto::CreateCredentialRequest {
            name: "bench".into(),
            jira_url: url.to_owned(),
            email: jira.jira_email.clone(),
            api_token: jira.jira_token.clone(),
        })
        .await?
        .into_inner()
        .credential
        .context("no credential")?;
    let created = client
        .configurations()
        .create_configuration(proto::CreateConfigurationRequest {
            name: "bench".into(),
            credential_id: credential.credential_id,
            trigger: proto::Trigger::Vulnerability as i32,
            application_ids: vec!["web".into()],
            jira_project_key: jira.jira_project.clone(),
            default_issue_type: "Bug".into(),
            bidirectional,
            ..Default::default()
        })
        .await?
        .into_inner();
    let configuration = created.configuration.context("no configuration")?;
    Ok((configuration.configuration_id, created.webhook_secret))
}

/// Credentials for a Jira the run never calls (configurations that only receive webhooks, or
/// that own seeded tickets).
fn unused_jira() -> Jira {
    Jira {
        jira_url: None,
        jira_email: "bench@example.com".into(),
        jira_token: "never-used".into(),
        jira_project: "SEC".into(),
    }
}

async fn route_to_jira(client: &Client, jira: &Jira, url: &str) -> anyhow::Result<()> {
    configure(client, jira, url, false).await.map(drop)
}

/// `streams` SubmitEvents streams at once share `n` events, `chunk` to a message.
async fn stream(
    client: &Client,
    run_id: &str,
    n: usize,
    streams: usize,
    chunk: usize,
) -> anyhow::Result<(Duration, Report)> {
    // A stream carries at most 10,000 events; each worker opens as many as its share needs.
    const PER_STREAM: usize = 10_000;
    let chunk = chunk.clamp(1, PER_STREAM);
    let batches = n.div_ceil(PER_STREAM);
    let (client, run_id) = (client.clone(), run_id.to_owned());
    run(batches, streams, move |b| {
        let client = client.clone();
        let first = b * PER_STREAM;
        let messages = stream_messages(&run_id, first..(first + PER_STREAM).min(n), chunk, "");
        async move {
            let sent: usize = messages.iter().map(|m| m.events.len()).sum();
            let response = client.events().submit_events(tokio_stream::iter(messages)).await?.into_inner();
            anyhow::ensure!(response.accepted_count as usize == sent, "{} of {sent} accepted", response.accepted_count);
            Ok(sent)
        }
    })
    .await
}

/// Signed `jira:issue_updated` deliveries (a status change of an issue nobody linked), each
/// with a new identifier, posted at `concurrency`, round robin over `configurations`.
async fn webhooks(
    target: &Target,
    http: &str,
    run_id: &str,
    n: usize,
    concurrency: usize,
    configurations: usize,
) -> anyhow::Result<(String, (Duration, Report))> {
    use hmac::{Hmac, Mac as _};
    let mut receivers = Vec::with_capacity(configurations);
    let mut first_tenant = None;
    for k in 0..configurations {
        let (tenant, client) = fresh_tenant(target, &format!("{run_id}-{k}"), proto::Role::Admin).await?;
        let (configuration, secret) = configure(&client, &unused_jira(), "https://bench.atlassian.net", true).await?;
        anyhow::ensure!(!secret.is_empty(), "a bidirectional configuration has a webhook secret");
        receivers.push((format!("{}/webhooks/jira/{configuration}", http.trim_end_matches('/')), secret));
        first_tenant.get_or_insert(tenant);
    }
    let tenant = first_tenant.context("at least one configuration")?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build()?;
    let body = |i: usize| {
        serde_json::json!({
            "timestamp": 1_764_000_000_000u64 + i as u64,
            "webhookEvent": "jira:issue_updated",
            "issue_event_type_name": "issue_generic",
            "user": {"accountId": "5b10a2844c20165700ede21g", "displayName": "Bench Person"},
            "issue": {"id": format!("{}", 100_000 + i), "key": format!("SEC-{}", 1 + i), "fields": {
                "summary": "Load test finding",
                "status": {"name": "Done", "statusCategory": {"key": "done"}},
                "resolution": {"name": "Done"},
                "updated": "2026-12-01T10:00:00.000+0000"
            }},
            "changelog": {"id": format!("{}", 200_000 + i), "items": [
                {"field": "status", "fieldId": "status", "fromString": "To Do", "toString": "Done"}
            ]}
        })
        .to_string()
    };
    let (receivers, run_id) = (Arc::new(receivers), run_id.to_owned());
    let result = run(n, concurrency, move |i| {
        let body = body(i);
        let (url, secret) = &receivers[i % receivers.len()];
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(body.as_bytes());
        let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        let request = http
            .post(url)
            .header("content-type", "application/json")
            .header("x-hub-signature", signature)
            .header("x-atlassian-webhook-identifier", format!("{run_id}-{i}"))
            .body(body);
        async move {
            let response = request.send().await?;
            anyhow::ensure!(response.status() == reqwest::StatusCode::NO_CONTENT, "answered {}", response.status());
            Ok(1)
        }
    })
    .await?;
    Ok((tenant.tenant_id, result))
}

/// Streams `n` events that each owe one ticket and times them until every ticket is stored.
async fn deliver(
    target: &Target,
    jira: &Jira,
    database_url: &str,
    n: usize,
    streams: usize,
    timeout: Duration,
) -> anyhow::Result<()> {
    use diesel_async::AsyncConnection as _;
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let (tenant, client) = fresh_tenant(target, &run_id, proto::Role::Admin).await?;
    let url = jira.jira_url.as_deref().context("--jira-url is required")?;
    route_to_jira(&client, jira, url).await?;
    let mut conn = AsyncPgConnection::establish(database_url).await?;
    let started = Instant::now();
    let (submitting_client, submitting_run) = (client.clone(), run_id.clone());
    let submitting = tokio::spawn(async move {
        const PER_STREAM: usize = 10_000;
        run(n.div_ceil(PER_STREAM), streams, move |b| {
            let client = submitting_client.clone();
            let first = b * PER_STREAM;
            let messages = stream_messages(&submitting_run, first..(first + PER_STREAM).min(n), 500, "web");
            async move {
                let response = client.events().submit_events(tokio_stream::iter(messages)).await?.into_inner();
                Ok(response.accepted_count as usize)
            }
        })
        .await
    });
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut stored = 0;
    while started.elapsed() < timeout {
        tokio::time::sleep(Duration::from_millis(20)).await;
        stored = diesel::sql_query("SELECT count(*) AS n FROM tickets WHERE tenant_id = $1::uuid")
            .bind::<diesel::sql_types::Text, _>(&tenant.tenant_id)
            .get_result::<Count>(&mut conn)
            .await?
            .n as usize;
        if stored >= n {
            break;
        }
    }
    let elapsed = started.elapsed();
    let (submitted_in, submitted) = submitting.await??;
    let rate = stored as f64 / elapsed.as_secs_f64();
    println!(
        "delivered {stored} of {n} tickets in {:.2}s = {rate:.0}/s (submitted in {:.2}s, {} errors)",
        elapsed.as_secs_f64(),
        submitted_in.as_secs_f64(),
        submitted.errors
    );
    println!("RESULT rate={rate:.1} ok={stored} errors={} tenant={}", n - stored, tenant.tenant_id);
    anyhow::ensure!(stored == n, "{} tickets missing after {timeout:?}", n - stored);
    Ok(())
}

async fn baseline(database_url: &str, n: usize, concurrency: usize) -> anyhow::Result<(Duration, Report)> {
    let mut config = ManagerConfig::<AsyncPgConnection>::default();
    config.recycling_method = RecyclingMethod::Fast;
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(database_url, config);
    let pool = Pool::builder(manager).max_size(16).build()?;
    let table = format!("loadgen_baseline_{}", uuid::Uuid::new_v4().simple());
    {
        let mut conn = pool.get().await?;
        diesel::sql_query(format!("CREATE TABLE {table} (id bigserial PRIMARY KEY, payload text NOT NULL)"))
            .execute(&mut conn)
            .await?;
    }
    let insert = format!("INSERT INTO {table} (payload) VALUES ($1)");
    let p = pool.clone();
    let result = run(n, concurrency, move |i| {
        let (pool, insert) = (p.clone(), insert.clone());
        async move {
            let mut conn = pool.get().await?;
            diesel::sql_query(insert).bind::<diesel::sql_types::Text, _>(format!("row {i}")).execute(&mut conn).await?;
            Ok(1)
        }
    })
    .await?;
    let mut conn = pool.get().await?;
    diesel::sql_query(format!("DROP TABLE {table}")).execute(&mut conn).await?;
    Ok(result)
}

/// A new tenant for this run and a client with a key of `role` in it.
async fn fresh_tenant(target: &Target, run_id: &str, role: proto::Role) -> anyhow::Result<(proto::Tenant, Client)> {
    let operator = Client::connect(target.addr.clone(), &target.operator_token).await?;
    let tenant = operator
        .tenants()
        .create_tenant(proto::CreateTenantRequest { name: format!("loadgen-{run_id}") })
        .await?
        .into_inner()
        .tenant
        .context("no tenant")?;
    let key = operator
        .tenants()
        .create_api_key(proto::CreateApiKeyRequest {
            tenant_id: tenant.tenant_id.clone(),
            name: "loadgen".into(),
            role: role as i32,
        })
        .await?
        .into_inner()
        .api_key;
    let client = operator.with_api_key(&key)?;
    Ok((tenant, client))
}

/// Seeds a tenant with `tickets` tickets, then times `calls` GetMetrics calls and as many runs of
/// the naive exact query (percentiles over every ticket of the window) on the same data.
async fn metrics(target: &Target, database_url: &str, tickets: i64, calls: usize) -> anyhow::Result<()> {
    use diesel_async::AsyncConnection as _;
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let (tenant, admin) = fresh_tenant(target, &run_id, proto::Role::Admin).await?;
    // A configuration for the tickets to belong to; no ticket is ever delivered through it.
    let (configuration_id, _) = configure(&admin, &unused_jira(), "https://bench.atlassian.net", false).await?;
    let mut conn = AsyncPgConnection::establish(database_url).await?;
    let seeding = Instant::now();
    // A million rows through the per-ticket trigger in one transaction would take hours (each
    // rollup row gets a version per ticket): the bench database (a dedicated one) loads with the
    // trigger off and rebuilds the tenant's rollups set-based, as an operator's bulk load would.
    // Ids are sequential within a run (as UUIDv7 are) so the indexes fill in order, and carry the
    // tenant's hash in front so that runs never collide.
    diesel::sql_query("ALTER TABLE tickets DISABLE TRIGGER tickets_metrics").execute(&mut conn).await?;
    diesel::sql_query(
        "INSERT INTO events (id, tenant_id, external_id, kind, application_id, title, severity, first_seen_at) \
         SELECT (substr(md5($1), 1, 8) || '-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, $1::uuid, \
                'bench-' || lpad(i::text, 10, '0'), 'vulnerability', 'web', 'bench', \
                (ARRAY['critical','high','medium','low','note'])[1 + i % 5], \
                now() - (i % 2592000) * interval '1 second' \
         FROM generate_series(1, $2) i",
    )
    .bind::<diesel::sql_types::Text, _>(&tenant.tenant_id)
    .bind::<diesel::sql_types::BigInt, _>(tickets)
    .execute(&mut conn)
    .await?;
    diesel::sql_query(
        "INSERT INTO tickets (id, tenant_id, event_id, configuration_id, delivery_id, jira_issue_id, jira_key, \
                              jira_url, trigger, severity, created_at, closed_at) \
         SELECT e.id, e.tenant_id, e.id, $2::uuid, e.id, '1', 'SEC-1', 'x', \
                'vulnerability', e.severity, e.first_seen_at, \
                (SELECT c FROM (SELECT e.first_seen_at + random() * interval '5 days' AS c) r \
                 WHERE random() < 0.9 AND c < now()) \
         FROM events e WHERE e.tenant_id = $1::uuid",
    )
    .bind::<diesel::sql_types::Text, _>(&tenant.tenant_id)
    .bind::<diesel::sql_types::Text, _>(&configuration_id)
    .execute(&mut conn)
    .await?;
    diesel::sql_query("ALTER TABLE tickets ENABLE TRIGGER tickets_metrics").execute(&mut conn).await?;
    diesel::sql_query("SELECT metrics_rebuild($1::uuid)")
        .bind::<diesel::sql_types::Text, _>(&tenant.tenant_id)
        .execute(&mut conn)
        .await?;
    diesel::sql_query("ANALYZE tickets").execute(&mut conn).await?;
    println!("seeded {tickets} tickets in {:.1}s", seeding.elapsed().as_secs_f64());

    let mut service = Histogram::<u64>::new(3)?;
    for _ in 0..calls {
        let t = Instant::now();
        admin.metrics().get_metrics(proto::GetMetricsRequest::default()).await?;
        service.record(t.elapsed().as_micros() as u64)?;
    }
    let mut naive = Histogram::<u64>::new(3)?;
    for _ in 0..calls.min(20) {
        let t = Instant::now();
        diesel::sql_query(
            "SELECT trigger, severity, count(*), avg(s), \
                    percentile_disc(0.5) WITHIN GROUP (ORDER BY s), percentile_disc(0.9) WITHIN GROUP (ORDER BY s) \
             FROM (SELECT trigger, severity, extract(epoch FROM closed_at - created_at) AS s FROM tickets \
                   WHERE tenant_id = $1::uuid AND closed_at >= now() - interval '30 days' AND unlinked_at IS NULL) t \
             GROUP BY 1, 2",
        )
        .bind::<diesel::sql_types::Text, _>(&tenant.tenant_id)
        .execute(&mut conn)
        .await?;
        naive.record(t.elapsed().as_micros() as u64)?;
    }
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "GetMetrics, 30-day window over {tickets} tickets: p50 {:.1} ms, p99 {:.1} ms ({calls} calls)",
        ms(&service, 0.5),
        ms(&service, 0.99)
    );
    println!(
        "baseline, naive exact SQL (percentiles over every ticket): p50 {:.1} ms, p99 {:.1} ms -> GetMetrics at {:.3}x its time",
        ms(&naive, 0.5),
        ms(&naive, 0.99),
        ms(&service, 0.5) / ms(&naive, 0.5)
    );
    println!(
        "RESULT p50_ms={:.2} p99_ms={:.2} naive_p50_ms={:.2} ok={calls} errors=0 tenant={}",
        ms(&service, 0.5),
        ms(&service, 0.99),
        ms(&naive, 0.5),
        tenant.tenant_id
    );
    Ok(())
}
