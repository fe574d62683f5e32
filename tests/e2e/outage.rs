//! A PostgreSQL outage, through a TCP proxy the test cuts (the shared server keeps running):
//! RPCs answer UNAVAILABLE promptly, health says NOT_SERVING, webhooks get 503 so Jira retries
//! them, the delivery worker pauses, and everything resumes by itself when the database is back,
//! with a ticket whose creation straddled the outage made exactly once.
use std::{net::SocketAddr, time::Duration};

use jira_sim::{SimConfig, Simulator};
use northstar_jira_client::proto::{self, Severity};
use tonic::Code;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

use crate::{
    delivery::{config, setup, wait_for_tickets},
    routing::vulnerability,
    support::{TestApp, TestDb, eventually, proxy::ChaosProxy},
};

#[tokio::test(flavor = "multi_thread")]
async fn a_database_outage_pauses_everything_and_everything_resumes_without_loss() {
    let sim = Simulator::start(SimConfig::default()).await;
    let db = TestDb::new().await;
    let host_port = db.url.split('@').nth(1).unwrap().split('/').next().unwrap();
    let target: SocketAddr = host_port.parse().unwrap();
    let proxy = ChaosProxy::start(target).await;
    let proxied = db.url.replace(host_port, &proxy.addr.to_string());
    let test = TestApp::start_with(db, |c| c.database_url = proxied.into()).await;
    let (admin, _) = setup(&test, &sim, proto::CreateConfigurationRequest { bidirectional: true, ..config("c") }).await;
    let configurations =
        admin.configurations().list_configurations(proto::ListConfigurationsRequest::default()).await.unwrap();
    let configuration_id = configurations.into_inner().configurations[0].configuration_id.clone();
    let webhook = format!("{}/webhooks/jira/{configuration_id}", test.http_url);
    let mut health = HealthClient::new(admin.channel());
    let serving = async |health: &mut HealthClient<tonic::transport::Channel>| {
        health.check(HealthCheckRequest { service: String::new() }).await.unwrap().into_inner().status()
    };

    // Jira answers slowly, so the ticket's creation is under way in Jira when the database goes.
    sim.set_latency(Duration::from_millis(1500));
    admin.events().submit_event(vulnerability("web", Severity::High)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.cut();

    let started = std::time::Instant::now();
    let err = admin
        .events()
        .submit_event(proto::SubmitEventRequest { external_id: "vuln-2".into(), ..vulnerability("web", Severity::Low) })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "UNAVAILABLE took {:?}", started.elapsed());
    let err = admin.events().list_events(proto::ListEventsRequest::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    eventually("NOT_SERVING", async || serving(&mut health).await == ServingStatus::NotServing).await;
    let body = crate::limits::unlinked_issue_update();
    let refused = reqwest::Client::new().post(format!("{webhook}?secret=anything")).body(body).send().await.unwrap();
    assert_eq!(refused.status(), 503, "Jira must retry a webhook it could not deliver");
    // Jira's answer arrives while the database is away: the worker cannot record it.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    sim.set_latency(Duration::ZERO);
    proxy.restore();
    eventually("SERVING again", async || serving(&mut health).await == ServingStatus::Serving).await;
    let tickets = wait_for_tickets(&admin, "vuln-1", 1).await;
    assert_eq!(tickets.len(), 1);
    assert_eq!(sim.issues().len(), 1, "the creation that straddled the outage made one issue");
    admin
        .events()
        .submit_event(proto::SubmitEventRequest { external_id: "vuln-2".into(), ..vulnerability("web", Severity::Low) })
        .await
        .unwrap();
}
