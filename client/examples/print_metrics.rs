//! Prints the tenant's ticket volume and MTTR (`MetricsService.GetMetrics`) for the last 30
//! days, per trigger type and per severity, and the open tickets.
//!
//! ```sh
//! NORTHSTAR_API_KEY=nsj_... cargo run -p northstar-jira-client --example print_metrics
//! ```
//!
//! `NORTHSTAR_ADDR` is the server (default `http://127.0.0.1:50051`); the key needs READER.
use std::time::Duration;

use northstar_jira_client::{
    Client, ClientError,
    proto::{GetMetricsRequest, RemediationTime, Severity, Trigger},
    time,
};

#[tokio::main]
async fn main() -> Result<(), ClientError> {
    let addr = std::env::var("NORTHSTAR_ADDR").unwrap_or_else(|_| "http://127.0.0.1:50051".into());
    let Ok(key) = std::env::var("NORTHSTAR_API_KEY") else {
        eprintln!("set NORTHSTAR_API_KEY to an API key (READER is enough)");
        std::process::exit(2);
    };
    let client = Client::connect(addr, &key).await?;
    let response = client.metrics().get_metrics(GetMetricsRequest::last(Duration::from_secs(30 * 86_400))).await?;
    let metrics = response.into_inner().metrics.unwrap_or_default();

    println!("Tickets created in the last 30 days: {}", metrics.tickets_created);
    for trigger in [Trigger::Incident, Trigger::Vulnerability] {
        println!("  {}: {}", name(trigger.as_str_name()), metrics.tickets_created_for(trigger));
    }
    println!("Mean time to remediate (MTTR):");
    for mttr in &metrics.mttr_by_trigger {
        println!("  {}: {}", name(mttr.trigger().as_str_name()), figures(mttr));
    }
    for mttr in &metrics.mttr_by_severity {
        let severity = mttr.severity();
        if severity != Severity::Unspecified {
            println!("  {} {}: {}", name(mttr.trigger().as_str_name()), name(severity.as_str_name()), figures(mttr));
        }
    }
    println!("Open tickets:");
    for open in &metrics.open_tickets {
        let oldest = open.oldest_age.as_ref().and_then(time::to_duration).map(time::human);
        let oldest = oldest.map_or_else(String::new, |age| format!(", the oldest open for {age}"));
        println!("  {}: {}{oldest}", name(open.trigger().as_str_name()), open.open_count);
    }
    Ok(())
}

/// `TRIGGER_VULNERABILITY` -> `vulnerability`.
fn name(enum_name: &str) -> String {
    enum_name.split_once('_').map_or(enum_name, |(_, rest)| rest).to_lowercase()
}

fn figures(mttr: &RemediationTime) -> String {
    match (mttr.mean_duration(), mttr.median_duration(), mttr.p90_duration()) {
        (Some(mean), median, p90) => format!(
            "{} over {} ticket{} (median {}, p90 {})",
            time::human(mean),
            mttr.count,
            if mttr.count == 1 { "" } else { "s" },
            median.map_or("-".into(), time::human),
            p90.map_or("-".into(), time::human)
        ),
        _ => "no ticket closed in the window".into(),
    }
}
