//! Polyglot proof: a Python client generated from `proto/` with grpcio-tools
//! (`scripts/python-client`, `examples/python/`) configures routing, submits a vulnerability and
//! reads it back from the real server; the Rust client then sees the event and its Jira ticket.
use std::{process::Stdio, time::Duration};

use jira_sim::{SimConfig, Simulator};
use northstar_jira_client::proto::{self, Role, Severity, Trigger};

use crate::{
    delivery::wait_for_tickets,
    support::{TestApp, init_logging},
};

/// The first run makes a virtualenv and downloads the wheels (about 10 MB).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);

/// The interpreter scripts/python-client uses.
fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

async fn python_available() -> bool {
    tokio::process::Command::new(python())
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|status| status.success())
}

#[tokio::test]
async fn a_python_client_generated_from_the_protos_configures_submits_and_reads_back() {
    init_logging();
    if !python_available().await {
        eprintln!("skipped: {} not found; scripts/python-client needs Python 3.9+ with venv and pip", python());
        return;
    }
    let sim = Simulator::start(SimConfig::default()).await;
    let test = TestApp::start().await;
    let (tenant_id, admin) = test.tenant_with_key("acme", Role::Admin).await;
    let key = test.create_key(&test.operator().await, &tenant_id, Role::Admin).await;
    let addr = test.grpc_url.trim_start_matches("http://").to_owned();

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/python-client");
    let run = tokio::process::Command::new(script)
        .args(["--addr", addr.as_str(), "--api-key", key.as_str()])
        .args(["--jira-url", sim.base_url(), "--jira-email", jira_sim::DEFAULT_EMAIL])
        .args(["--jira-token", jira_sim::DEFAULT_TOKEN])
        .args(["--application-id", "py-app", "--external-id", "py-vuln-1"])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(SCRIPT_TIMEOUT, run)
        .await
        .unwrap_or_else(|_| panic!("{script} did not finish within {SCRIPT_TIMEOUT:?}"))
        .unwrap_or_else(|err| panic!("cannot run {script}: {err}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(output.status.success(), "{script} failed ({}):\n{stdout}\n{stderr}", output.status);
    assert!(stdout.contains("OK: py-vuln-1 round-tripped"), "{stdout}");

    // What Python stored, as Rust reads it.
    let got = admin
        .events()
        .get_event(proto::GetEventRequest { external_id: "py-vuln-1".into(), ..Default::default() })
        .await
        .expect("the event the Python client submitted exists")
        .into_inner();
    let event = got.event.unwrap();
    assert_eq!(event.kind, Trigger::Vulnerability as i32);
    assert_eq!(event.application_id, "py-app");
    assert_eq!(event.severity, Severity::High as i32);
    assert_eq!(event.vulnerability_type, "Cross-Site Scripting");
    assert_eq!(event.risk_score, Some(7.25));

    // And the configuration Python made filed its ticket in the simulator.
    let tickets = wait_for_tickets(&admin, "py-vuln-1", 1).await;
    assert_eq!(tickets.len(), 1, "{tickets:?}");
    let issue = sim.issue(&tickets[0].jira_issue_key).expect("the ticket is in the simulator");
    assert_eq!(issue.project_key, "SIM");
    assert_eq!(issue.issue_type, "Bug");
    assert_eq!(issue.summary, "[Python] Reflected XSS in /search (found by the Python client)");
    assert_eq!(sim.issue_count(), 1);
}
