//! The walk-through `scripts/dev` runs once the server is up: a tenant, a key, a credential for
//! the Jira simulator, a resource group with two applications, a configuration for each
//! trigger type (with their Jira webhooks registered), an incident and a vulnerability, their
//! tickets in the simulator, a person closing one in Jira with a comment, and the effect on the
//! event: remediated, the comment synced, and the MTTR figure.
//!
//! ```sh
//! scripts/dev                                                       # runs it for you
//! cargo run -q -p northstar-jira-client --example demo -- --help    # or by hand
//! ```
//!
//! It talks to the server with this crate, and to the simulator's `/_sim` admin API over plain
//! HTTP to act as a person in Jira. Every step waits for its effect with a timeout and says in
//! a sentence what happened.
use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{Context as _, anyhow, bail};
use clap::Parser;
use northstar_jira_client::{
    Client,
    proto::{
        Activity, ActivityKind, CreateApiKeyRequest, CreateConfigurationRequest, CreateCredentialRequest,
        CreateResourceGroupRequest, CreateTenantRequest, EventStatus, GetEventRequest, GetEventResponse,
        GetMetricsRequest, Origin, RegisterJiraWebhookRequest, Role, Severity, SubmitEventRequest,
        TestConnectionRequest, TicketState, Trigger, UpsertApplicationRequest, ValidateConfigurationRequest,
    },
    time,
    tonic::Code,
};
use serde_json::{Value, json};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

/// Walks through northstar-jira against a running server and Jira simulator.
#[derive(Parser, Debug)]
struct Args {
    /// The server's gRPC address.
    #[arg(long, env = "NORTHSTAR_SERVER", default_value = "http://127.0.0.1:50051")]
    server: String,
    /// The operator (bootstrap) token; read from <data-dir>/bootstrap-token when not given.
    #[arg(long, env = "NORTHSTAR_BOOTSTRAP_TOKEN", hide_env_values = true)]
    operator_token: Option<String>,
    /// Where `northstar-jira --dev` keeps its token.
    #[arg(long, env = "NORTHSTAR_DATA_DIR", default_value = ".northstar-dev")]
    data_dir: PathBuf,
    /// The Jira simulator's base URL, as the server reaches it (it becomes the credential's URL).
    #[arg(long, env = "JIRA_SIM_URL", default_value = "http://127.0.0.1:8090")]
    jira_sim: String,
    /// The simulator's API account.
    #[arg(long, default_value = "sim@example.com")]
    jira_email: String,
    /// The simulator's API token.
    #[arg(long, default_value = "sim-token")]
    jira_token: String,
    /// The person who acts in Jira (a simulator account without an API token).
    #[arg(long, default_value = "alice@example.com")]
    person: String,
    /// Name of the tenant to create; `-2`, `-3`... is added when it exists from an earlier run.
    #[arg(long, default_value = "acme")]
    tenant: String,
    /// Seconds to wait for the server to be SERVING.
    #[arg(long, default_value_t = 120)]
    startup_timeout: u64,
    /// Seconds to wait for each effect (a ticket filed, a change from Jira applied).
    #[arg(long, default_value_t = 30)]
    step_timeout: u64,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(err) = run(&args).await {
        eprintln!("\nThe demo stopped: {err:#}");
        std::process::exit(1);
    }
}

async fn run(args: &Args) -> anyhow::Result<()> {
    let step = Duration::from_secs(args.step_timeout);
    let sim = Sim::new(&args.jira_sim, &args.person)?;
    sim.health().await.with_context(|| format!("the Jira simulator at {} does not answer", args.jira_sim))?;
    wait_until_serving(&args.server, Duration::from_secs(args.startup_timeout)).await?;
    say(format!("The server at {} is SERVING; the Jira simulator answers at {}.", args.server, args.jira_sim));

    // The operator creates a tenant and an ADMIN key for it; everything else uses that key.
    let operator_token = match &args.operator_token {
        Some(token) => token.clone(),
        None => {
            let path = args.data_dir.join("bootstrap-token");
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!("reading the operator token from {} (or pass --operator-token)", path.display())
            })?;
            text.trim().to_owned()
        }
    };
    let operator = Client::connect(args.server.clone(), &operator_token).await?;
    let tenant = create_tenant(&operator, &args.tenant).await?;
    let created = operator
        .tenants()
        .create_api_key(CreateApiKeyRequest::new(&tenant.tenant_id, "demo admin", Role::Admin))
        .await
        .context("creating an API key")?
        .into_inner();
    let api_key = created.api_key;
    say(format!(
        "Created an ADMIN API key named \"demo admin\" for {} (prefix {}).",
        tenant.name,
        prefix(&created.key)
    ));
    let admin = operator.with_api_key(&api_key)?;

    // A Jira credential for the simulator, checked against it.
    let credential = admin
        .credentials()
        .create_credential(CreateCredentialRequest::new("jira-sim", &args.jira_sim, &args.jira_email, &args.jira_token))
        .await
        .context("storing the Jira credential")?
        .into_inner()
        .credential
        .context("no credential in the response")?;
    let test = admin
        .credentials()
        .test_connection(TestConnectionRequest::for_credential(&credential.credential_id))
        .await
        .context("testing the Jira credential")?
        .into_inner();
    if !test.ok {
        bail!("the connection test of the Jira credential failed: {}", test.message);
    }
    say(format!(
        "Stored the Jira credential \"jira-sim\" for {} and tested it: signed in as {}, {} projects visible.",
        test.jira_url, test.display_name, test.project_count
    ));

    // Two applications in one resource group.
    for (id, name) in [("checkout", "Checkout service"), ("billing", "Billing service")] {
        admin.applications().upsert_application(UpsertApplicationRequest::new(id, name)).await?;
    }
    let group = admin
        .applications()
        .create_resource_group(
            CreateResourceGroupRequest::new("payments", ["checkout", "billing"])
                .with_description("Everything that handles money"),
        )
        .await
        .context("creating the resource group")?
        .into_inner()
        .resource_group
        .context("no resource group in the response")?;
    say("Registered the applications checkout and billing, and put both in the resource group \"payments\".");

    // One configuration per trigger type, both routing from the group, both syncing back.
    let plans = [
        ("incidents to OPS", Trigger::Incident, "OPS", "Task", "[Incident]"),
        ("vulnerabilities to SEC", Trigger::Vulnerability, "SEC", "Bug", "[Vulnerability]"),
    ];
    for (name, trigger, project, issue_type, prefix) in plans {
        let request = CreateConfigurationRequest::new(name, &credential.credential_id, trigger, project, issue_type)
            .with_resource_group_ids([&group.resource_group_id])
            .with_title_prefix(prefix)
            .with_bidirectional(true);
        let configuration = admin
            .configurations()
            .create_configuration(request)
            .await
            .with_context(|| format!("creating the configuration {name:?}"))?
            .into_inner()
            .configuration
            .context("no configuration in the response")?;
        let id = configuration.configuration_id;
        let validation = admin
            .configurations()
            .validate_configuration(ValidateConfigurationRequest { configuration_id: id.clone(), draft: None })
            .await?
            .into_inner();
        if !validation.valid {
            let problems: Vec<_> = validation.problems.iter().map(|p| format!("{}: {}", p.field, p.message)).collect();
            bail!("Jira refuses the configuration {name:?}: {}", problems.join("; "));
        }
        let hook = admin
            .configurations()
            .register_jira_webhook(RegisterJiraWebhookRequest::new(&id))
            .await
            .with_context(|| format!("registering the Jira webhook of {name:?}"))?
            .into_inner();
        say(format!(
            "Created the configuration \"{name}\": {} of the group payments become {issue_type}s in Jira project {project}, \
             checked against Jira, and its webhook registered in Jira ({}) so status changes and comments flow back.",
            plural(trigger),
            hook.jql_filter
        ));
    }

    // An incident on checkout and a vulnerability on billing.
    let incident =
        SubmitEventRequest::incident("inc-1", "checkout", "Credential stuffing against /login", Severity::High)
            .with_incident_type("Credential Stuffing")
            .with_source_ips(["203.0.113.7", "198.51.100.23"])
            .with_request_urls(["https://shop.example/login"]);
    let vulnerability =
        SubmitEventRequest::vulnerability("vuln-1", "billing", "SQL injection in invoice search", Severity::Critical)
            .with_vulnerability_type("SQL Injection")
            .with_risk_score(9.1)
            .with_link("https://northstar.example/findings/vuln-1");
    admin.events().submit_event(incident).await.context("submitting the incident")?;
    say("Submitted incident inc-1 (high severity: credential stuffing against the checkout service's /login).");
    admin.events().submit_event(vulnerability).await.context("submitting the vulnerability")?;
    say(
        "Submitted vulnerability vuln-1 (critical, risk score 9.1: SQL injection in the billing service's invoice search).",
    );

    let mut keys = Vec::new();
    for (external_id, what) in [("inc-1", "incident"), ("vuln-1", "vulnerability")] {
        let event = wait_for(&admin, external_id, step, "its Jira ticket to be filed", |e| {
            if let Some(failed) = e.tickets.iter().find(|t| t.state() == TicketState::Failed) {
                let why = e.activities.iter().rfind(|a| a.kind() == ActivityKind::DeliveryFailed);
                return Err(anyhow!(
                    "filing the ticket of {} failed: {}",
                    failed.configuration_name,
                    why.map_or("see DeliveryService.ListDeliveries", |a| a.message.as_str())
                ));
            }
            Ok(e.filed_tickets().next().is_some())
        })
        .await?;
        let ticket = event.filed_tickets().next().context("no ticket")?;
        say(format!(
            "Jira ticket {} was filed for {what} {external_id} with priority {}: {}",
            ticket.jira_issue_key, ticket.jira_priority, ticket.jira_issue_url
        ));
        keys.push(ticket.jira_issue_key.clone());
    }

    say("In the Jira simulator:");
    for key in &keys {
        let issue = sim.issue(key).await?;
        say(format!(
            "  {key} \"{}\": a {} in project {}, status {}, priority {}",
            text(&issue["summary"]),
            text(&issue["issueType"]),
            text(&issue["projectKey"]),
            text(&issue["status"]),
            text(&issue["priority"]),
        ));
    }

    // A person fixes the vulnerability and closes its ticket in Jira, with a comment.
    let vuln_key = &keys[1];
    let comment = "Fixed in billing 2.4.1: the invoice search now uses bound parameters.";
    let person = sim.person_name().await?;
    sim.comment(vuln_key, comment).await?;
    say(format!("{person} commented on {vuln_key} in Jira: \"{comment}\""));
    sim.transition(vuln_key, "Done", "Done").await?;
    say(format!("{person} moved {vuln_key} to Done (resolution Done) in Jira, as a person closing it would."));

    let event = wait_for(&admin, "vuln-1", step, "the change in Jira to reach the event", |e| {
        Ok(e.status() == EventStatus::Remediated)
    })
    .await?;
    let change = event.activities.iter().rfind(|a| a.kind() == ActivityKind::StatusChanged);
    say(format!(
        "Vulnerability vuln-1 is now REMEDIATED in northstar-jira: the change came from Jira{}.",
        change.filter(|a| a.origin() == Origin::Jira).map_or(String::new(), |a| format!(", made by {}", a.actor))
    ));
    let event = wait_for(&admin, "vuln-1", step, "the Jira comment to reach the event", |e| {
        Ok(e.activities.iter().any(|a| a.comment.as_ref().is_some_and(|c| c.origin() == Origin::Jira)))
    })
    .await?;
    if let Some(synced) =
        event.activities.iter().filter_map(|a| a.comment.as_ref()).find(|c| c.origin() == Origin::Jira)
    {
        say(format!("{}'s comment is on vuln-1's activity feed too: \"{}\"", synced.author, synced.body));
    }
    if let Some(ticket) = event.tickets.first() {
        say(format!(
            "Its ticket {} is {} in Jira (status {}, resolution {}).",
            ticket.jira_issue_key,
            name(ticket.state().as_str_name(), "TICKET_STATE_"),
            ticket.jira_status,
            ticket.jira_resolution
        ));
    }
    let incident = admin.events().get_event(GetEventRequest::for_external_id("inc-1")).await?.into_inner();
    say(format!(
        "Incident inc-1 stays {}: nobody closed its ticket {}.",
        name(incident.status().as_str_name(), "EVENT_STATUS_"),
        keys[0]
    ));
    say("The activity feed of vuln-1:");
    for activity in &event.activities {
        say(format!("  - {} (from {})", describe(activity), name(activity.origin().as_str_name(), "ORIGIN_")));
    }

    report_mttr(&admin, step).await;

    let host = args.server.split_once("://").map_or(args.server.as_str(), |(_, rest)| rest).trim_end_matches('/');
    let plaintext = if args.server.starts_with("https://") { "" } else { "-plaintext " };
    say(format!(
        "\nDone. Explore on your own with the tenant {}'s ADMIN API key (shown once, here):\n  \
         K={api_key}\n  \
         grpcurl {plaintext}-H \"authorization: Bearer $K\" -d '{{\"external_id\": \"vuln-1\"}}' {host} northstar.jira.v1.EventService/GetEvent\n  \
         curl -s {}/_sim/issues",
        tenant.name,
        args.jira_sim.trim_end_matches('/')
    ));
    Ok(())
}

/// Prints the MTTR of vulnerabilities, or why there is none.
async fn report_mttr(admin: &Client, step: Duration) {
    let deadline = Instant::now() + step.min(Duration::from_secs(10));
    loop {
        match admin.metrics().get_metrics(GetMetricsRequest::default()).await {
            Ok(response) => {
                let metrics = response.into_inner().metrics.unwrap_or_default();
                let mttr = metrics.mttr(Trigger::Vulnerability).filter(|m| m.count > 0);
                match mttr.and_then(|m| m.mean_duration().map(|mean| (m.count, mean))) {
                    Some((count, mean)) => {
                        say(format!(
                            "Metrics: {} tickets filed in the last 30 days; MTTR for vulnerabilities {} \
                             (over {count} closed ticket{}, from creation to close in Jira: short here, \
                             since the demo closed it moments after it was filed).",
                            metrics.tickets_created,
                            time::human(mean),
                            if count == 1 { "" } else { "s" }
                        ));
                        return;
                    }
                    None if Instant::now() < deadline => {}
                    None => {
                        say(format!(
                            "Metrics: {} tickets filed in the last 30 days; no MTTR figure for vulnerabilities yet.",
                            metrics.tickets_created
                        ));
                        return;
                    }
                }
            }
            Err(status) if status.code() == Code::Unimplemented => {
                say(
                    "Metrics are not available on this server yet (GetMetrics answered UNIMPLEMENTED), so there is no MTTR figure to show.",
                );
                return;
            }
            Err(status) => {
                say(format!("Could not read the metrics: {}: {}", status.code(), status.message()));
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Creates `base`, or `base-2`, `base-3`... when earlier runs left tenants of that name.
async fn create_tenant(operator: &Client, base: &str) -> anyhow::Result<northstar_jira_client::proto::Tenant> {
    for n in 1..=100 {
        let name = if n == 1 { base.to_owned() } else { format!("{base}-{n}") };
        match operator.tenants().create_tenant(CreateTenantRequest::new(&name)).await {
            Ok(response) => {
                let tenant = response.into_inner().tenant.context("no tenant in the response")?;
                let note = if n == 1 { String::new() } else { format!(" ({base} exists from an earlier run)") };
                say(format!("Created tenant {name}{note}."));
                return Ok(tenant);
            }
            Err(status) if status.code() == Code::AlreadyExists => continue,
            Err(status) if status.code() == Code::Unauthenticated => {
                bail!("the server refused the operator token (is it the one the server printed?)")
            }
            Err(status) => return Err(status).context("creating the tenant"),
        }
    }
    bail!("tenants {base} to {base}-100 all exist; pass --tenant with another name")
}

/// Waits until the server answers gRPC health with SERVING.
async fn wait_until_serving(server: &str, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut said = false;
    loop {
        let last = match Client::builder(server).connect_timeout(Duration::from_secs(2)).connect().await {
            Ok(client) => {
                match HealthClient::new(client.channel()).check(HealthCheckRequest { service: String::new() }).await {
                    Ok(response) if response.get_ref().status() == ServingStatus::Serving => return Ok(()),
                    Ok(response) => format!("health is {:?}", response.get_ref().status()),
                    Err(status) => format!("health check: {}", status.message()),
                }
            }
            Err(err) => err.to_string(),
        };
        if Instant::now() >= deadline {
            bail!("the server at {server} was not SERVING within {} s ({last})", timeout.as_secs());
        }
        if !said {
            say(format!("Waiting for the server at {server} to be SERVING..."));
            said = true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Polls GetEvent until `done` says so, or fails after `timeout` saying what was awaited.
async fn wait_for(
    client: &Client,
    external_id: &str,
    timeout: Duration,
    what: &str,
    mut done: impl FnMut(&GetEventResponse) -> anyhow::Result<bool>,
) -> anyhow::Result<GetEventResponse> {
    let deadline = Instant::now() + timeout;
    loop {
        let event = client
            .events()
            .get_event(GetEventRequest::for_external_id(external_id))
            .await
            .with_context(|| format!("reading event {external_id}"))?
            .into_inner();
        if done(&event)? {
            return Ok(event);
        }
        if Instant::now() >= deadline {
            bail!("waited {} s for {what} (event {external_id}), in vain", timeout.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The simulator's `/_sim` admin API: acting as a person in Jira, and looking at issues.
struct Sim {
    base: String,
    person: String,
    http: reqwest::Client,
}

impl Sim {
    fn new(base: &str, person: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
        Ok(Self { base: base.trim_end_matches('/').to_owned(), person: person.to_owned(), http })
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let response = request.send().await?;
        let status = response.status();
        let body = response.text().await?;
        if !status.is_success() {
            bail!("the simulator answered {status}: {body}");
        }
        Ok(if body.is_empty() { Value::Null } else { serde_json::from_str(&body)? })
    }

    async fn health(&self) -> anyhow::Result<()> {
        self.send(self.http.get(format!("{}/_sim/health", self.base))).await.map(drop)
    }

    async fn issue(&self, key: &str) -> anyhow::Result<Value> {
        let body = self.send(self.http.get(format!("{}/_sim/issues/{key}", self.base))).await?;
        Ok(body["issue"].clone())
    }

    /// The person's display name.
    async fn person_name(&self) -> anyhow::Result<String> {
        let accounts = self.send(self.http.get(format!("{}/_sim/accounts", self.base))).await?;
        let found = accounts
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["email"].as_str() == Some(&self.person) || a["accountId"].as_str() == Some(&self.person));
        Ok(found.and_then(|a| a["displayName"].as_str()).unwrap_or(&self.person).to_owned())
    }

    async fn comment(&self, key: &str, body: &str) -> anyhow::Result<()> {
        let url = format!("{}/_sim/issues/{key}/comments", self.base);
        self.send(self.http.post(url).json(&json!({"as": self.person, "body": body}))).await.map(drop)
    }

    async fn transition(&self, key: &str, to: &str, resolution: &str) -> anyhow::Result<()> {
        let url = format!("{}/_sim/issues/{key}/transition", self.base);
        let body = json!({"as": self.person, "to": to, "resolution": resolution});
        self.send(self.http.post(url).json(&body)).await.map(drop)
    }
}

/// An activity feed entry in words: its own message, or one made from its kind.
fn describe(activity: &Activity) -> String {
    let by = if activity.actor.is_empty() { String::new() } else { format!(" by {}", activity.actor) };
    match (activity.kind(), &activity.comment) {
        (ActivityKind::Comment, Some(comment)) => format!("comment{by}: \"{}\"", comment.body),
        _ if !activity.message.is_empty() => activity.message.clone(),
        (ActivityKind::Submitted, _) => format!("submitted{by}"),
        (ActivityKind::Updated, _) => format!("updated{by}"),
        (kind, _) => format!("{}{by}", name(kind.as_str_name(), "ACTIVITY_KIND_").to_lowercase().replace('_', " ")),
    }
}

fn say(line: impl AsRef<str>) {
    println!("{}", line.as_ref());
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("?")
}

fn prefix(key: &Option<northstar_jira_client::proto::ApiKey>) -> &str {
    key.as_ref().map_or("?", |k| k.prefix.as_str())
}

fn plural(trigger: Trigger) -> &'static str {
    match trigger {
        Trigger::Incident => "incidents",
        _ => "vulnerabilities",
    }
}

/// `EVENT_STATUS_OPEN` without `EVENT_STATUS_` -> `OPEN`.
fn name<'a>(enum_name: &'a str, prefix: &str) -> &'a str {
    enum_name.strip_prefix(prefix).unwrap_or(enum_name)
}
