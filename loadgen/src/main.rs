//! Load generator: `submit` sends N SubmitEvent calls at concurrency C through the client crate
//! and reports events/s with p50/p99 latency; `baseline` measures plain single-row INSERT commits
//! on the same database at the same concurrency, so the two figures come from one machine and
//! one run. Each call is acknowledged only after its commit, so both measure durable writes.
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
    /// Calls to make.
    #[arg(long, default_value_t = 20_000)]
    n: usize,
    /// Calls in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// SubmitEvent through gRPC, events that match no configuration unless one exists.
    Submit {
        /// gRPC address of the server.
        #[arg(long, default_value = "http://127.0.0.1:50051")]
        addr: String,
        /// Operator token (creates a fresh tenant and a WRITER key for the run).
        #[arg(long, env = "NORTHSTAR_BOOTSTRAP_TOKEN")]
        operator_token: String,
    },
    /// GetMetrics over a tenant with `tickets` tickets seeded in the last 30 days (90% closed),
    /// against the naive exact SQL over the same tickets as the baseline.
    Metrics {
        /// gRPC address of the server.
        #[arg(long, default_value = "http://127.0.0.1:50051")]
        addr: String,
        /// Operator token (creates a fresh tenant for the run).
        #[arg(long, env = "NORTHSTAR_BOOTSTRAP_TOKEN")]
        operator_token: String,
        /// The server's PostgreSQL URL (tickets are seeded straight into it).
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
        /// Tickets to seed.
        #[arg(long, default_value_t = 1_000_000)]
        tickets: i64,
    },
    /// Plain single-row INSERT commits on the given database (a scratch table, dropped after).
    Baseline {
        /// PostgreSQL URL.
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
    },
}

struct Report {
    histogram: Histogram<u64>,
    errors: usize,
}

async fn run<F, Fut>(n: usize, concurrency: usize, call: F) -> anyhow::Result<(Duration, Report)>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let call = Arc::new(call);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let report = Arc::new(Mutex::new(Report { histogram: Histogram::new(3)?, errors: 0 }));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (call, next, report) = (call.clone(), next.clone(), report.clone());
        workers.push(tokio::spawn(async move {
            let mut local = Histogram::<u64>::new(3).expect("histogram");
            let mut errors = 0;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let t = Instant::now();
                match call(i).await {
                    Ok(()) => local.record(t.elapsed().as_micros() as u64).expect("record"),
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
    let (label, (elapsed, report)) = match args.mode {
        Mode::Metrics { addr, operator_token, database_url, tickets } => {
            return metrics(&addr, &operator_token, &database_url, tickets, args.n.min(200)).await;
        }
        Mode::Submit { addr, operator_token } => {
            let run_id = uuid::Uuid::new_v4().simple().to_string();
            let (_, client) = fresh_tenant(&addr, &operator_token, &run_id, proto::Role::Writer).await?;
            let result = run(args.n, args.concurrency, move |i| {
                let client = client.clone();
                let run_id = run_id.clone();
                async move {
                    client
                        .events()
                        .submit_event(proto::SubmitEventRequest {
                            kind: proto::Trigger::Vulnerability as i32,
                            external_id: format!("{run_id}-{i}"),
                            application_id: format!("app-{}", i % 100),
                            title: "Load test finding".into(),
                            severity: proto::Severity::High as i32,
                            vulnerability_type: "SQL Injection".into(),
                            risk_score: Some(7.5),
                            ..Default::default()
                        })
                        .await?;
                    Ok(())
                }
            })
            .await?;
            ("SubmitEvent", result)
        }
        Mode::Baseline { database_url } => {
            let mut config = ManagerConfig::<AsyncPgConnection>::default();
            config.recycling_method = RecyclingMethod::Fast;
            let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(&database_url, config);
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
            let result = run(args.n, args.concurrency, move |i| {
                let (pool, insert) = (p.clone(), insert.clone());
                async move {
                    let mut conn = pool.get().await?;
                    diesel::sql_query(insert)
                        .bind::<diesel::sql_types::Text, _>(format!("row {i}"))
                        .execute(&mut conn)
                        .await?;
                    Ok(())
                }
            })
            .await?;
            let mut conn = pool.get().await?;
            diesel::sql_query(format!("DROP TABLE {table}")).execute(&mut conn).await?;
            ("baseline INSERT", result)
        }
    };
    let ok = report.histogram.len();
    println!(
        "{label}: {ok} ok, {} errors in {:.2}s = {:.0}/s; p50 {:.2} ms, p99 {:.2} ms (concurrency {})",
        report.errors,
        elapsed.as_secs_f64(),
        ok as f64 / elapsed.as_secs_f64(),
        report.histogram.value_at_quantile(0.5) as f64 / 1000.0,
        report.histogram.value_at_quantile(0.99) as f64 / 1000.0,
        args.concurrency
    );
    if report.errors > 0 {
        anyhow::bail!("{} calls failed", report.errors);
    }
    Ok(())
}

/// A new tenant for this run and a client with a key of `role` in it.
async fn fresh_tenant(
    addr: &str,
    operator_token: &str,
    run_id: &str,
    role: proto::Role,
) -> anyhow::Result<(proto::Tenant, Client)> {
    let operator = Client::connect(addr.to_owned(), operator_token).await?;
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
async fn metrics(
    addr: &str,
    operator_token: &str,
    database_url: &str,
    tickets: i64,
    calls: usize,
) -> anyhow::Result<()> {
    use diesel_async::AsyncConnection as _;
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let (tenant, admin) = fresh_tenant(addr, operator_token, &run_id, proto::Role::Admin).await?;
    admin
        .applications()
        .upsert_application(proto::UpsertApplicationRequest { application_id: "web".into(), name: "Web".into() })
        .await?;
    let credential = admin
        .credentials()
        .create_credential(proto::CreateCredentialRequest {
            name: "bench".into(),
            jira_url: "https://bench.atlassian.net".into(),
            email: "bench@example.com".into(),
            api_token: "never-used".into(),
        })
        .await?
        .into_inner()
        .credential
        .context("no credential")?;
    let configuration = admin
        .configurations()
        .create_configuration(proto::CreateConfigurationRequest {
            name: "bench".into(),
            credential_id: credential.credential_id,
            trigger: proto::Trigger::Vulnerability as i32,
            application_ids: vec!["web".into()],
            jira_project_key: "SEC".into(),
            default_issue_type: "Bug".into(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .configuration
        .context("no configuration")?;
    let mut conn = AsyncPgConnection::establish(database_url).await?;
    let seeding = Instant::now();
    // A million rows through the per-ticket trigger in one transaction would take hours (each
    // rollup row gets a version per ticket): the bench database (a dedicated one) loads with the
    // trigger off and rebuilds the tenant's rollups set-based, as an operator's bulk load would.
    // Ids are sequential (as UUIDv7 are) so the indexes fill in order.
    diesel::sql_query("ALTER TABLE tickets DISABLE TRIGGER tickets_metrics").execute(&mut conn).await?;
    diesel::sql_query(
        "INSERT INTO events (id, tenant_id, external_id, kind, application_id, title, severity, first_seen_at) \
         SELECT ('00000000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, $1::uuid, \
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
    .bind::<diesel::sql_types::Text, _>(&configuration.configuration_id)
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
    Ok(())
}
