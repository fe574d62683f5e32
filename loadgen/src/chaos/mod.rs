//! The chaos run: events across tenants and configurations while Jira (the simulator) fails
//! requests at random (5xx, 429 with Retry-After, a response lost after the work was done) and
//! answers late; two or more replicas of the real server binary share one database, and some are
//! killed with SIGKILL and restarted; PostgreSQL is restarted once, harshly; people change
//! tickets in Jira while its webhooks arrive twice or out of order, and our side changes events
//! too. At the end, every (event, matching configuration) must have exactly one ticket in Jira,
//! every delivery must have succeeded, and every change must have been applied exactly once.
//!
//! [`run`] returns a [`Report`]: its table, and [`Report::failures`] (zero when all held).
pub mod cluster;
pub mod ops;
pub mod people;
pub mod plan;
pub mod verify;

use std::{
    collections::{BTreeMap, HashSet},
    path::PathBuf,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context as _;
use jira_sim::{DeliveryState, ProjectSeed, RandomFaults, RetryPolicy, SimConfig, Simulator};
use northstar_jira_client::Client;
use rand::{Rng as _, SeedableRng as _, rngs::StdRng};

pub use cluster::Database;
use cluster::{Balancer, Postgres, Replica};
use ops::{Counters, Tenant};
use plan::{CONFIGS, PROJECTS, Plan, project_key};
use verify::{Outcome, PeopleDid};

/// How big and how harsh the run is.
#[derive(Debug, Clone)]
pub struct Options {
    /// Events submitted (each once, some again with a new title).
    pub events: usize,
    /// Tenants the events are spread over (each with its own routing and two credentials).
    pub tenants: usize,
    /// Server replicas on the one database.
    pub replicas: usize,
    /// `kill -9` of a random replica (each restarted).
    pub kills: usize,
    /// Mean time between kills (each wait is drawn from half to one and a half times it).
    pub kill_interval: Duration,
    /// Restart PostgreSQL once, half-way through the kills (only a private cluster).
    pub restart_database: bool,
    pub database: Database,
    /// The `northstar-jira` binary.
    pub server_bin: PathBuf,
    /// Where the replicas' logs (and a private cluster) go.
    pub work_dir: PathBuf,
    /// SubmitEvent calls in flight.
    pub concurrency: usize,
    /// Events submitted per second at most; `None`: spread over three quarters of the kills'
    /// span, so that submissions meet kills and the database restart.
    pub submit_rate: Option<f64>,
    /// gRPC connections (through the balancer) the calls are spread over.
    pub channels: usize,
    pub seed: u64,
    /// Share of Jira requests answered 500 without doing the work.
    pub server_error_percent: f64,
    /// Share answered 429 with `Retry-After`.
    pub rate_limit_percent: f64,
    /// Share done, then answered 500 (the response is lost).
    pub lost_response_percent: f64,
    /// `Retry-After` of those 429s, in seconds.
    pub retry_after_secs: u64,
    /// Jira's added latency is redrawn every 200 ms between zero and this.
    pub max_latency: Duration,
    /// `NORTHSTAR_RECONCILE_INTERVAL` of the replicas.
    pub reconcile_interval: Duration,
    /// The whole run, setup to verdict; running out of it is a failure.
    pub timeout: Duration,
}

impl Options {
    /// The full run of `scripts/chaos`: 10,000 events, ten kills, one PostgreSQL restart.
    pub fn new(server_bin: PathBuf, work_dir: PathBuf, database: Database) -> Self {
        Self {
            events: 10_000,
            tenants: 4,
            replicas: 2,
            kills: 10,
            kill_interval: Duration::from_secs(25),
            restart_database: true,
            database,
            server_bin,
            work_dir,
            concurrency: 32,
            submit_rate: None,
            channels: 4,
            seed: 1,
            server_error_percent: 20.0,
            rate_limit_percent: 10.0,
            lost_response_percent: 5.0,
            retry_after_secs: 1,
            max_latency: Duration::from_millis(50),
            reconcile_interval: Duration::from_secs(300),
            timeout: Duration::from_secs(45 * 60),
        }
    }
}

/// The result of a run.
pub struct Report {
    pub outcome: Outcome,
    /// Figures of the run, as (what, value).
    pub figures: Vec<(String, String)>,
    pub title: String,
}

impl Report {
    /// Lost, duplicated or double-applied things, plus deliveries not SUCCEEDED: zero when
    /// the run held.
    pub fn failures(&self) -> usize {
        self.outcome.failures()
    }

    /// The final table, with the figures and (when something failed) the first failures.
    pub fn table(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(out, "{}\n", self.title);
        let width = self.outcome.checks.iter().map(|c| c.name.len()).max().unwrap_or(10).max(30);
        let _ = writeln!(out, "| {:width$} | expected |    once | lost | extra |", "check");
        let _ = writeln!(out, "|{}|---------:|--------:|-----:|------:|", "-".repeat(width + 2));
        for c in &self.outcome.checks {
            let _ = writeln!(
                out,
                "| {:width$} | {:>8} | {:>7} | {:>4} | {:>5} |",
                c.name, c.expected, c.once, c.lost, c.extra
            );
        }
        let d = &self.outcome.deliveries;
        let _ = writeln!(
            out,
            "| {:width$} | {:>8} | {:>7} | {:>4} | {:>5} |",
            "deliveries SUCCEEDED (lost: any other state)",
            d.total,
            d.succeeded,
            d.total - d.succeeded,
            "-"
        );
        let _ = writeln!(out, "\nfailures (lost + extra): {}\n", self.failures());
        let width = self.figures.iter().map(|(k, _)| k.len()).max().unwrap_or(10);
        let _ = writeln!(out, "| {:width$} | value", "figure");
        let _ = writeln!(out, "|{}|------", "-".repeat(width + 2));
        for (k, v) in &self.figures {
            let _ = writeln!(out, "| {k:width$} | {v}");
        }
        if !self.outcome.examples.is_empty() {
            let _ = writeln!(out, "\nfirst failures:");
            for e in &self.outcome.examples {
                let _ = writeln!(out, "  {e}");
            }
        }
        out
    }
}

static STARTED: OnceLock<Instant> = OnceLock::new();

/// A progress line on stderr, stamped with the time since the run began.
pub(crate) fn note(message: &str) {
    let at = STARTED.get().map_or(0.0, |s| s.elapsed().as_secs_f64());
    eprintln!("[{at:7.1}s] chaos: {message}");
}

/// What the chaos monkey did.
#[derive(Debug, Default)]
struct Havoc {
    kills: BTreeMap<usize, usize>,
    database_restarts: usize,
    /// From the restart's start until every replica was ready again.
    database_outage: Duration,
}

/// Runs the whole chaos run; `Err` only when the run itself could not be carried out (a replica
/// that never comes back, a setup call refused). What the run found is in the report.
pub async fn run(options: Options) -> anyhow::Result<Report> {
    let started = Instant::now();
    let _ = STARTED.set(started);
    let deadline = started + options.timeout;
    std::fs::create_dir_all(&options.work_dir).with_context(|| format!("creating {}", options.work_dir.display()))?;
    let mut rng = StdRng::seed_from_u64(options.seed);
    let run = format!("{:08x}", rng.random::<u32>());
    let plan = Arc::new(Plan::new(options.events, options.tenants, options.seed, &run));
    note(&format!(
        "run {run}: {} events over {} tenants, {} tickets expected; logs in {}",
        options.events,
        options.tenants,
        plan.expected_tickets(),
        options.work_dir.display()
    ));

    let postgres = Arc::new(Postgres::start(&options.database).await?);
    let restart_database = options.restart_database && postgres.restartable();
    if options.restart_database && !restart_database {
        note("the database is not a private cluster: it will not be restarted");
    }

    let sim_config = SimConfig {
        projects: (0..options.tenants)
            .flat_map(|t| PROJECTS.iter().map(move |p| project_key(p, t)))
            .map(|key| ProjectSeed::new(key.clone(), format!("{key} Project")))
            .collect(),
        // Jira Cloud retries a failed webhook for a while; long enough here to outlast a replica
        // restart or the database's.
        retry: RetryPolicy {
            max_retries: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(3),
            timeout: Duration::from_secs(10),
        },
        ..SimConfig::default()
    };
    let sim = Simulator::try_start(sim_config).await?;

    let token = format!("chaos-operator-{run}-{:016x}", rng.random::<u64>());
    let mut replicas = (0..options.replicas.max(1))
        .map(|i| Replica::new(i, &options.server_bin, options.work_dir.join(format!("replica-{i}.log"))))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let grpc = Balancer::start(replicas.iter().map(|r| r.grpc).collect()).await?;
    let http_balancer = Balancer::start(replicas.iter().map(|r| r.http).collect()).await?;
    let env = server_env(&options, &postgres.url, &token, &format!("http://{}", http_balancer.addr));
    let http = reqwest::Client::new();
    for replica in &mut replicas {
        replica.env = env.clone();
        replica.start(&http, Duration::from_secs(60)).await?;
    }
    note(&format!(
        "{} replicas ready behind {} (gRPC) and {} (webhooks)",
        replicas.len(),
        grpc.addr,
        http_balancer.addr
    ));

    let channels = (0..options.channels.max(1))
        .map(|_| {
            Client::builder(format!("http://{}", grpc.addr)).request_timeout(Duration::from_secs(15)).connect_lazy()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let tenants = Arc::new(ops::set_up(&channels, &token, sim.base_url(), &plan, &run).await?);
    note("tenants, credentials, applications, groups, configurations and Jira webhooks set up");

    sim.set_random_faults(Some(RandomFaults {
        seed: options.seed,
        server_error_percent: options.server_error_percent,
        rate_limit_percent: options.rate_limit_percent,
        lost_response_percent: options.lost_response_percent,
        retry_after: Some(options.retry_after_secs),
        path_prefix: None,
    }));
    let latency = {
        let sim = sim.handle();
        let max = u64::try_from(options.max_latency.as_millis()).unwrap_or(u64::MAX);
        let mut rng = StdRng::seed_from_u64(options.seed ^ 0x1a7e);
        tokio::spawn(async move {
            loop {
                sim.set_latency(Duration::from_millis(rng.random_range(0..=max)));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };

    let counters = Arc::new(Counters::default());
    let submitted: Arc<Vec<AtomicBool>> = Arc::new((0..plan.events.len()).map(|_| AtomicBool::new(false)).collect());
    let submitting = tokio::spawn(ops::submit_all(
        tenants.clone(),
        plan.clone(),
        submitted.clone(),
        counters.clone(),
        options.concurrency,
        options.submit_rate.unwrap_or_else(|| {
            let span = options.kill_interval.as_secs_f64() * options.kills as f64 * 0.75;
            if span > 0.0 { (options.events as f64 / span).max(1.0) } else { f64::INFINITY }
        }),
        deadline,
    ));
    let our_side = tokio::spawn(ops::our_side(
        tenants.clone(),
        plan.clone(),
        submitted.clone(),
        counters.clone(),
        options.seed,
        deadline,
    ));
    let stop_people = Arc::new(AtomicBool::new(false));
    let people = tokio::spawn(people::act(
        sim.handle(),
        plan.clone(),
        tenants.clone(),
        submitted.clone(),
        stop_people.clone(),
        options.seed,
        deadline,
    ));
    let havoc = tokio::spawn(havoc(replicas, postgres.clone(), options.clone(), restart_database, deadline));

    submitting.await??;
    let submitted_after = started.elapsed();
    note("every event submitted");
    our_side.await??;
    note("our side's status changes, comments and resubmissions made");
    let (mut replicas, havoc) = havoc.await??;
    note("kills and restarts done");
    // People keep acting on tickets as they appear; once nothing is owed to Jira any more, the
    // tickets they still wait for will not come.
    while !people.is_finished() && Instant::now() < deadline {
        if wait_quiet(&tenants, &sim, &counters, deadline.min(Instant::now() + Duration::from_secs(5))).await? {
            break;
        }
    }
    stop_people.store(true, Ordering::Release);
    let people = people.await?;
    note("people in Jira done");
    let quiet = wait_quiet(&tenants, &sim, &counters, deadline).await?;
    let quiet_after = started.elapsed();
    note(if quiet { "quiet: nothing owed to Jira, no webhook in flight" } else { "timed out waiting for quiet" });

    let closed: HashSet<usize> = people.closed.iter().copied().collect();
    let commented: HashSet<usize> = people.commented.iter().copied().collect();
    let did = PeopleDid { closed: &closed, commented: &commented };
    let mut outcome = verify::verify(&plan, &tenants, &sim, &did, &counters, deadline).await?;
    // What a webhook Jira gave up on would have brought is left to reconciliation: give it two
    // sweeps before calling anything lost.
    let patience = Instant::now() + options.reconcile_interval * 2 + Duration::from_secs(5);
    while outcome.missing_anything() && Instant::now() + Duration::from_secs(5) < deadline.min(patience) {
        note(&format!(
            "{} failures ({}); looking again in 5 s",
            outcome.failures(),
            outcome.examples.iter().take(3).cloned().collect::<Vec<_>>().join("; ")
        ));
        tokio::time::sleep(Duration::from_secs(5)).await;
        wait_quiet(&tenants, &sim, &counters, deadline).await?;
        outcome = verify::verify(&plan, &tenants, &sim, &did, &counters, deadline).await?;
    }
    latency.abort();

    let mut figures = Vec::new();
    let elapsed = started.elapsed();
    figures.push((
        "elapsed".into(),
        format!(
            "{} (all submitted after {}, quiet after {})",
            duration(elapsed),
            duration(submitted_after),
            duration(quiet_after)
        ),
    ));
    let kills: Vec<String> = havoc.kills.iter().map(|(r, n)| format!("replica {r}: {n}")).collect();
    figures.push((
        "kill -9 of a replica, then restarted".into(),
        format!("{} ({})", havoc.kills.values().sum::<usize>(), kills.join(", ")),
    ));
    let failed_starts: usize = replicas.iter().map(|r| r.failed_starts).sum();
    if failed_starts > 0 {
        figures.push(("replica starts that exited early (database down)".into(), failed_starts.to_string()));
    }
    figures.push((
        "PostgreSQL restarts (pg_ctl restart -m immediate)".into(),
        if havoc.database_restarts > 0 {
            format!("{} (replicas ready again after {})", havoc.database_restarts, duration(havoc.database_outage))
        } else {
            "0 (not a private cluster)".into()
        },
    ));
    let c = &counters;
    figures.push((
        "events submitted (unary calls with retries / streamed / resubmitted)".into(),
        format!(
            "{} ({} / {} / {})",
            plan.events.len(),
            c.submit_calls.load(Ordering::Relaxed),
            c.streamed_events.load(Ordering::Relaxed),
            c.resubmissions.load(Ordering::Relaxed)
        ),
    ));
    figures.push((
        "our status changes / comments (found in the feed after an error)".into(),
        format!(
            "{} / {} ({})",
            c.status_changes.load(Ordering::Relaxed),
            c.comments.load(Ordering::Relaxed),
            c.comments_found_after_error.load(Ordering::Relaxed)
        ),
    ));
    figures
        .push(("gRPC calls retried (UNAVAILABLE and kin)".into(), c.retried_calls.load(Ordering::Relaxed).to_string()));
    figures.push((
        "people in Jira: closed / commented / not made".into(),
        format!("{} / {} / {}", people.closed.len(), people.commented.len(), people.not_made.len()),
    ));
    let requests = sim.requests();
    let total = requests.len().max(1);
    let count =
        |kind: &str| requests.iter().filter(|r| r.fault.as_deref().is_some_and(|f| f.starts_with(kind))).count();
    let share = |n: usize| format!("{n} ({:.1}%)", n as f64 * 100.0 / total as f64);
    figures.push(("Jira REST requests served by the simulator".into(), requests.len().to_string()));
    figures.push((
        "  faults: 5xx / 429 Retry-After / done but response lost".into(),
        format!("{} / {} / {}", share(count("ServerError")), share(count("RateLimited")), share(count("LoseResponse"))),
    ));
    let creates = requests.iter().filter(|r| r.method == "POST" && r.route == "/rest/api/3/issue").count();
    let searches = requests.iter().filter(|r| r.route == "/rest/api/3/search/jql").count();
    figures.push(("  issue creations / searches".into(), format!("{creates} / {searches}")));
    figures.push(("  latency".into(), format!("redrawn every 200 ms in 0-{} ms", options.max_latency.as_millis())));
    let deliveries = sim.deliveries();
    let sent: u32 = deliveries.iter().map(|d| d.copies).sum();
    let twice = deliveries.iter().filter(|d| d.copies > 1).count();
    let given_up = deliveries.iter().filter(|d| d.state == DeliveryState::Failed).count();
    figures.push((
        "webhooks: deliveries / copies sent / sent 2+ times / given up by Jira".into(),
        format!("{} / {sent} / {twice} / {given_up}", deliveries.len()),
    ));
    figures.push((
        "  rounds sent twice / held and released newest first (rounds) / old ones sent again".into(),
        format!(
            "{} / {} ({}) / {}",
            people.duplicated_rounds, people.reversed_deliveries, people.reversed_rounds, people.redelivered
        ),
    ));
    let states: Vec<String> = outcome.deliveries.by_state.iter().map(|(s, n)| format!("{s} {n}")).collect();
    figures.push(("service deliveries by state".into(), states.join(", ")));
    for line in people.not_made.iter().take(5) {
        figures.push(("  person action not made".into(), line.clone()));
    }

    let bidirectional = CONFIGS.iter().filter(|c| c.bidirectional).count() * options.tenants;
    let disabled = CONFIGS.iter().filter(|c| !c.enabled).count() * options.tenants;
    let title = format!(
        "Chaos run {run}: {} events, {} tenants, {} configurations ({bidirectional} bidirectional, {disabled} disabled), {} replicas, seed {}",
        options.events,
        options.tenants,
        CONFIGS.len() * options.tenants,
        replicas.len(),
        options.seed
    );

    for replica in &mut replicas {
        let _ = replica.kill9().await;
    }
    drop((grpc, http_balancer));
    sim.shutdown().await;
    if let Ok(postgres) = Arc::try_unwrap(postgres) {
        // A failed run keeps its database for whoever investigates.
        postgres.stop(outcome.failures() == 0).await;
    }
    Ok(Report { outcome, figures, title })
}

/// The environment every replica gets: one database, key and token, and delivery timings short
/// enough that a killed replica's claims return in seconds (as tests/e2e shorten them).
fn server_env(options: &Options, database_url: &str, token: &str, public_url: &str) -> Vec<(String, String)> {
    let master_key = northstar_jira::config::MasterKey::generate().to_base64();
    let secs = |d: Duration| format!("{}ms", d.as_millis());
    [
        ("DATABASE_URL", database_url.to_owned()),
        ("NORTHSTAR_MASTER_KEY", master_key),
        ("NORTHSTAR_BOOTSTRAP_TOKEN", token.to_owned()),
        ("NORTHSTAR_ALLOW_INSECURE_JIRA", "true".to_owned()),
        ("NORTHSTAR_PUBLIC_URL", public_url.to_owned()),
        ("NORTHSTAR_LOG_FORMAT", "json".to_owned()),
        ("RUST_LOG", "warn,northstar_jira=info".to_owned()),
        ("NORTHSTAR_DELIVERY_LEASE", "2s".to_owned()),
        // A third of requests fail at random: 25 attempts of a three-call delivery would leave a
        // few DEAD by plain bad luck over thousands of deliveries.
        ("NORTHSTAR_DELIVERY_MAX_ATTEMPTS", "100".to_owned()),
        ("NORTHSTAR_JIRA_BACKOFF_BASE", "50ms".to_owned()),
        ("NORTHSTAR_JIRA_BACKOFF_MAX", "1s".to_owned()),
        ("NORTHSTAR_JIRA_SEARCH_SETTLE", "300ms".to_owned()),
        ("NORTHSTAR_JIRA_DUPLICATE_SWEEP", "2s".to_owned()),
        ("NORTHSTAR_RECONCILE_INTERVAL", secs(options.reconcile_interval)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Kills a random replica every so often and restarts it; restarts PostgreSQL once half-way.
async fn havoc(
    mut replicas: Vec<Replica>,
    postgres: Arc<Postgres>,
    options: Options,
    restart_database: bool,
    deadline: Instant,
) -> anyhow::Result<(Vec<Replica>, Havoc)> {
    let mut rng = StdRng::seed_from_u64(options.seed ^ 0x9111);
    let http = reqwest::Client::new();
    let mut report = Havoc::default();
    let pause = |rng: &mut StdRng| options.kill_interval.mul_f64(rng.random_range(0.5..1.5));
    for k in 0..options.kills.max(usize::from(restart_database)) {
        tokio::time::sleep(pause(&mut rng)).await;
        anyhow::ensure!(Instant::now() < deadline, "out of time during kills");
        if restart_database && k == options.kills / 2 {
            note("restarting PostgreSQL (immediate: a crash, then recovery)");
            let began = Instant::now();
            postgres.restart().await?;
            for replica in &replicas {
                let ready = format!("http://{}/readyz", replica.http);
                while !http.get(&ready).send().await.is_ok_and(|r| r.status().is_success()) {
                    anyhow::ensure!(began.elapsed() < Duration::from_secs(60), "replicas not ready after the restart");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            report.database_restarts += 1;
            report.database_outage = began.elapsed();
            note(&format!("PostgreSQL back; replicas ready after {}", duration(report.database_outage)));
            tokio::time::sleep(pause(&mut rng)).await;
        }
        if k >= options.kills {
            break;
        }
        let r = rng.random_range(0..replicas.len());
        let replica = &mut replicas[r];
        note(&format!("kill -9 replica {r} ({} of {})", k + 1, options.kills));
        replica.kill9().await?;
        *report.kills.entry(r).or_default() += 1;
        tokio::time::sleep(Duration::from_millis(rng.random_range(200..1500))).await;
        replica.start(&http, Duration::from_secs(60)).await?;
        note(&format!("replica {r} restarted"));
    }
    Ok((replicas, report))
}

/// Waits until nothing is owed to Jira and no webhook is in flight, twice a second apart;
/// false at the deadline.
async fn wait_quiet(
    tenants: &[Tenant],
    sim: &Simulator,
    counters: &Counters,
    deadline: Instant,
) -> anyhow::Result<bool> {
    let mut streak = 0;
    let mut last_note = Instant::now();
    while Instant::now() < deadline {
        let owed = ops::outstanding(tenants, counters, deadline).await?;
        let idle = sim.wait_for_deliveries(Duration::from_millis(10)).await;
        if owed == 0 && idle {
            streak += 1;
            if streak >= 2 {
                return Ok(true);
            }
        } else {
            streak = 0;
        }
        if last_note.elapsed() > Duration::from_secs(15) {
            note(&format!("{owed} deliveries owed to Jira"));
            last_note = Instant::now();
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(false)
}

fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 60 { format!("{}m {:02}s", secs / 60, secs % 60) } else { format!("{:.1}s", d.as_secs_f64()) }
}
