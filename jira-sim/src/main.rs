//! `jira-sim` binary: runs the simulator until Ctrl-C.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use jira_sim::{Account, ProjectSeed, RetryPolicy, SimConfig, Simulator, WebhookSpec};

/// In-memory Jira Cloud simulator.
#[derive(Debug, Parser)]
#[command(name = "jira-sim", version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "JIRA_SIM_ADDR", default_value = "127.0.0.1:8090")]
    addr: SocketAddr,
    /// Base URL for `self` links (default: http://<addr>).
    #[arg(long, env = "JIRA_SIM_PUBLIC_URL")]
    public_url: Option<String>,
    /// Email of the seeded API account (Basic-auth user name).
    #[arg(long, env = "JIRA_SIM_EMAIL", default_value = jira_sim::DEFAULT_EMAIL)]
    email: String,
    /// API token of the seeded account.
    #[arg(long, env = "JIRA_SIM_TOKEN", default_value = jira_sim::DEFAULT_TOKEN)]
    token: String,
    /// Display name of the seeded account.
    #[arg(long, default_value = "Sim Integration")]
    display_name: String,
    /// Project key to seed (repeatable); default SIM.
    #[arg(long = "project", value_name = "KEY")]
    projects: Vec<String>,
    /// Register an admin webhook delivering to this URL at start.
    #[arg(long, env = "JIRA_SIM_WEBHOOK_URL")]
    webhook_url: Option<String>,
    /// Secret of that webhook (deliveries get X-Hub-Signature).
    #[arg(long, env = "JIRA_SIM_WEBHOOK_SECRET")]
    webhook_secret: Option<String>,
    /// JQL filter of that webhook.
    #[arg(long)]
    webhook_jql: Option<String>,
    /// Delay before the first webhook retry, in milliseconds (doubles per retry).
    #[arg(long, default_value_t = 1000)]
    webhook_retry_ms: u64,
    /// Webhook retries after the first attempt.
    #[arg(long, default_value_t = 5)]
    webhook_max_retries: u32,
    /// Hide issues younger than this many milliseconds from search (eventual consistency).
    #[arg(long, default_value_t = 0)]
    search_lag_ms: u64,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let mut config = SimConfig { addr: args.addr, public_url: args.public_url, ..SimConfig::default() };
    config.accounts[0] = Account::api(args.display_name, &args.email, &args.token);
    if !args.projects.is_empty() {
        config.projects = args
            .projects
            .iter()
            .map(|k| ProjectSeed::new(k.to_uppercase(), format!("{} Project", k.to_uppercase())))
            .collect();
    }
    if let Some(url) = args.webhook_url {
        let mut spec = WebhookSpec::new(url);
        spec.secret = args.webhook_secret;
        spec.jql_filter = args.webhook_jql;
        config.webhooks.push(spec);
    }
    config.retry = RetryPolicy {
        max_retries: args.webhook_max_retries,
        initial_backoff: Duration::from_millis(args.webhook_retry_ms),
        max_backoff: Duration::from_secs(60),
        timeout: Duration::from_secs(20),
    };
    config.search_lag = Duration::from_millis(args.search_lag_ms);
    let projects: Vec<String> = config.projects.iter().map(|p| p.key.clone()).collect();
    let sim = match Simulator::try_start(config).await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("jira-sim: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("jira-sim listening on {}", sim.base_url());
    println!("  basic auth: {}:{}", args.email, args.token);
    println!("  projects:   {}", projects.join(", "));
    println!("  admin API:  {}/_sim/health", sim.base_url());
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("jira-sim: cannot wait for Ctrl-C: {e}");
    }
    sim.shutdown().await;
    std::process::ExitCode::SUCCESS
}
