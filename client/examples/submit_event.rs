//! Submits one vulnerability and one incident, then shows the Jira tickets filed for them.
//!
//! ```sh
//! NORTHSTAR_API_KEY=nsj_... cargo run -p northstar-jira-client --example submit_event
//! ```
//!
//! `NORTHSTAR_ADDR` is the server (default `http://127.0.0.1:50051`; `https://` uses TLS);
//! the key needs the WRITER role.
use std::time::{Duration, SystemTime};

use northstar_jira_client::{
    Client, ClientError,
    proto::{GetEventRequest, Severity, SubmitEventRequest},
};

#[tokio::main]
async fn main() -> Result<(), ClientError> {
    let addr = std::env::var("NORTHSTAR_ADDR").unwrap_or_else(|_| "http://127.0.0.1:50051".into());
    let Ok(key) = std::env::var("NORTHSTAR_API_KEY") else {
        eprintln!("set NORTHSTAR_API_KEY to a WRITER (or ADMIN) API key");
        std::process::exit(2);
    };
    let client = Client::connect(addr, &key).await?;

    // A vulnerability: the risk score picks the Jira priority through the configuration.
    let vulnerability =
        SubmitEventRequest::vulnerability("example-vuln-1", "web", "SQL injection in /search", Severity::High)
            .with_vulnerability_type("SQL Injection")
            .with_risk_score(8.1)
            .with_link("https://northstar.example/findings/example-vuln-1")
            .with_detected_at(SystemTime::now() - Duration::from_secs(600));
    // An incident: an attack seen at runtime.
    let incident =
        SubmitEventRequest::incident("example-inc-1", "web", "Credential stuffing on /login", Severity::Critical)
            .with_incident_type("Credential Stuffing")
            .with_source_ips(["203.0.113.7", "198.51.100.23"])
            .with_request_urls(["https://shop.example/login"]);

    for request in [vulnerability, incident] {
        let external_id = request.external_id.clone();
        // SubmitEvent is idempotent per external_id: running this again updates the event.
        let response = client.events().submit_event(request).await?.into_inner();
        let verb = if response.created { "created" } else { "updated" };
        let event = response.event.unwrap_or_default();
        println!("{verb} event {external_id} ({}), status {}", event.event_id, event.status().as_str_name());
    }

    // Tickets are filed asynchronously, by the configurations that route application `web`.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for external_id in ["example-vuln-1", "example-inc-1"] {
        let event = client.events().get_event(GetEventRequest::for_external_id(external_id)).await?.into_inner();
        if event.tickets.is_empty() {
            println!("{external_id}: no ticket (no enabled configuration routes application web)");
        }
        for ticket in &event.tickets {
            println!(
                "{external_id}: {} ticket {} by configuration {} {}",
                ticket.state().as_str_name(),
                ticket.jira_issue_key,
                ticket.configuration_name,
                ticket.jira_issue_url
            );
        }
    }
    Ok(())
}
