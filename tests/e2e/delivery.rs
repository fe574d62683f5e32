//! Event submission and durable ticket delivery: one Jira ticket per (event, configuration),
//! whatever fails in between.
use std::time::Duration;

use jira_sim::{Fault, FaultRule, LostMode, SimConfig, Simulator};
use northstar_jira_client::{
    Client,
    proto::{self, Role, Severity, Trigger},
};

use crate::{
    routing::{app, configuration, vulnerability},
    support::{TestApp, init_logging},
};

/// A tenant with an admin client, a credential for the simulator, and a configuration routing
/// vulnerabilities of app `web` to project SIM.
pub(crate) async fn setup(
    test: &TestApp,
    sim: &Simulator,
    extra: proto::CreateConfigurationRequest,
) -> (Client, String) {
    let (_, admin) = test.tenant_with_key("acme", Role::Admin).await;
    app(&admin, "web").await;
    let cred = crate::support::sim_credential(&admin, sim).await;
    let request = proto::CreateConfigurationRequest {
        credential_id: cred.clone(),
        application_ids: vec!["web".into()],
        jira_project_key: "SIM".into(),
        ..extra
    };
    admin.configurations().create_configuration(request).await.unwrap();
    (admin, cred)
}

pub(crate) fn config(name: &str) -> proto::CreateConfigurationRequest {
    configuration(name, "", Trigger::Vulnerability)
}

pub(crate) async fn submit(client: &Client, event: proto::SubmitEventRequest) -> proto::SubmitEventResponse {
    client.events().submit_event(event).await.unwrap().into_inner()
}

/// The event's tickets that exist in Jira (not those still owed or given up on).
pub(crate) async fn tickets_of(client: &Client, external_id: &str) -> Vec<proto::Ticket> {
    all_tickets(client, external_id).await.into_iter().filter(|t| !t.jira_issue_key.is_empty()).collect()
}

/// Every ticket entry of the event, including PENDING and FAILED ones.
pub(crate) async fn all_tickets(client: &Client, external_id: &str) -> Vec<proto::Ticket> {
    client
        .events()
        .get_event(proto::GetEventRequest { external_id: external_id.into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .tickets
}

pub(crate) async fn wait_for_tickets(client: &Client, external_id: &str, n: usize) -> Vec<proto::Ticket> {
    for _ in 0..150 {
        let tickets = tickets_of(client, external_id).await;
        if tickets.len() >= n {
            return tickets;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no ticket for {external_id} in time");
}

#[tokio::test]
async fn a_vulnerability_becomes_one_enriched_ticket() {
    init_logging();
    let sim = Simulator::start(SimConfig::default()).await;
    let test = TestApp::start().await;
    let label = |l: &str| proto::AdditionalField {
        field_id: "labels".into(),
        value: Some(proto::additional_field::Value::Labels(proto::StringList { values: vec![l.into()] })),
    };
    let (admin, _) = setup(
        &test,
        &sim,
        proto::CreateConfigurationRequest {
            title_prefix: "[AppSec]".into(),
            additional_fields: vec![label("appsec")],
            ..config("c")
        },
    )
    .await;
    let writer = test.client(&test.create_key(&admin, "", Role::Writer).await).await;
    let response = submit(&writer, vulnerability("web", Severity::High)).await;
    assert!(response.created);
    let tickets = wait_for_tickets(&writer, "vuln-1", 1).await;
    let issue = sim.issue(&tickets[0].jira_issue_key).unwrap();
    assert_eq!(issue.summary, "[AppSec] SQL injection in /login");
    let json = sim.issue_json(&tickets[0].jira_issue_key).unwrap();
    assert_eq!(json["fields"]["priority"]["name"], "Highest", "risk score 8.4 under the default table");
    let labels: Vec<&str> = json["fields"]["labels"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    assert!(labels.contains(&"appsec") && labels.iter().any(|l| l.starts_with("northstar-")), "{labels:?}");
    assert!(tickets[0].jira_issue_url.ends_with(&format!("/browse/{}", tickets[0].jira_issue_key)));
    assert_eq!(sim.request_count("POST", "/rest/api/3/issue"), 1, "happy path: one Jira call per ticket");

    // Resubmission updates the event and never opens a second ticket.
    let again = submit(
        &writer,
        proto::SubmitEventRequest {
            title: "SQL injection in /login (again)".into(),
            ..vulnerability("web", Severity::High)
        },
    )
    .await;
    assert!(!again.created);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(tickets_of(&writer, "vuln-1").await.len(), 1);
    assert_eq!(sim.issue_count(), 1);
}

#[tokio::test]
async fn custom_priority_bands_and_incident_severities() {
    let sim = Simulator::start(SimConfig::default()).await;
    let test = TestApp::start().await;
    let band = |s: f64, p: &str| proto::PriorityBand { min_score: s, priority: p.into() };
    let (admin, cred) = setup(
        &test,
        &sim,
        proto::CreateConfigurationRequest {
            priority_mapping: vec![band(0.0, "Low"), band(9.0, "Highest")],
            ..config("custom")
        },
    )
    .await;
    admin
        .configurations()
        .create_configuration(proto::CreateConfigurationRequest {
            credential_id: cred,
            application_ids: vec!["web".into()],
            jira_project_key: "SIM".into(),
            ..configuration("incidents", "", Trigger::Incident)
        })
        .await
        .unwrap();
    submit(&admin, vulnerability("web", Severity::High)).await;
    let incident = proto::SubmitEventRequest {
        kind: Trigger::Incident as i32,
        external_id: "inc-1".into(),
        application_id: "web".into(),
        title: "Path traversal attempt".into(),
        severity: Severity::Medium as i32,
        incident_type: "Path Traversal".into(),
        source_ips: vec!["198.51.100.9".into()],
        ..Default::default()
    };
    submit(&admin, incident).await;
    let vuln_ticket = &wait_for_tickets(&admin, "vuln-1", 1).await[0];
    let inc_ticket = &wait_for_tickets(&admin, "inc-1", 1).await[0];
    assert_eq!(
        sim.issue_json(&vuln_ticket.jira_issue_key).unwrap()["fields"]["priority"]["name"],
        "Low",
        "8.4 is below the custom 9.0 band"
    );
    let inc = sim.issue_json(&inc_ticket.jira_issue_key).unwrap();
    assert_eq!(inc["fields"]["priority"]["name"], "Medium");
    assert!(inc.to_string().contains("198.51.100.9"), "the source IP is in the description");
}

#[tokio::test]
async fn events_first_seen_before_the_configuration_was_enabled_get_none() {
    let sim = Simulator::start(SimConfig::default()).await;
    let test = TestApp::start().await;
    let (admin, _) =
        setup(&test, &sim, proto::CreateConfigurationRequest { enabled: Some(false), ..config("later") }).await;
    submit(&admin, vulnerability("web", Severity::High)).await;
    let id = admin
        .configurations()
        .list_configurations(proto::ListConfigurationsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .configurations[0]
        .configuration_id
        .clone();
    admin
        .configurations()
        .update_configuration(proto::UpdateConfigurationRequest {
            configuration_id: id,
            enabled: Some(true),
            update_mask: Some(prost_types::FieldMask { paths: vec!["enabled".into()] }),
            ..Default::default()
        })
        .await
        .unwrap();
    submit(&admin, vulnerability("web", Severity::High)).await;
    submit(&admin, proto::SubmitEventRequest { external_id: "vuln-2".into(), ..vulnerability("web", Severity::High) })
        .await;
    wait_for_tickets(&admin, "vuln-2", 1).await;
    assert!(tickets_of(&admin, "vuln-1").await.is_empty(), "first seen before the configuration was enabled");
    assert_eq!(sim.issue_count(), 1);
}

#[tokio::test]
async fn every_fault_ends_with_exactly_one_ticket() {
    let sim = Simulator::start(SimConfig::default()).await;
    // A create sent after an unknown outcome is followed by a sweep for duplicates later (one
    // more search); it is pushed past this test so each case's calls are counted alone.
    let test = TestApp::start_with(crate::support::TestDb::new().await, |c| {
        c.jira_duplicate_sweep = Duration::from_secs(3600);
    })
    .await;
    let (admin, _) = setup(&test, &sim, config("c")).await;
    let faults = [
        ("rate-limited", Fault::RateLimited { retry_after: Some(1), reason: None }),
        ("unavailable", Fault::Unavailable { retry_after: Some(1) }),
        ("server-error", Fault::ServerError { status: 500 }),
        ("lost-response", Fault::LoseResponse { mode: LostMode::Status500 }),
        ("closed-connection", Fault::LoseResponse { mode: LostMode::Close }),
    ];
    for (name, fault) in faults {
        sim.inject(FaultRule::next(1, fault).on_path("/rest/api/3/issue").on_method("POST"));
        submit(&admin, proto::SubmitEventRequest { external_id: name.into(), ..vulnerability("web", Severity::High) })
            .await;
        let tickets = wait_for_tickets(&admin, name, 1).await;
        assert_eq!(tickets.len(), 1, "{name}");
        let creates = sim.request_count("POST", "/rest/api/3/issue");
        let searches = sim.request_count("POST", "/rest/api/3/search/jql");
        println!("{name}: {creates} creates, {searches} searches");
        sim.reset_request_counts();
        // A 429/503 was not processed: retried without a search. A 500 may have been: one search
        // (finding nothing), then the create. A lost response: one search finds the issue, and no
        // second create.
        let expected = match name {
            "rate-limited" | "unavailable" => (2, 0),
            "server-error" => (2, 1),
            _ => (1, 1),
        };
        assert_eq!((creates, searches), expected, "{name}");
    }
    // A burst of 5xx on every call until it clears.
    sim.inject(FaultRule::next(5, Fault::ServerError { status: 502 }).on_path("/rest/api/3/issue").on_method("POST"));
    submit(&admin, proto::SubmitEventRequest { external_id: "burst".into(), ..vulnerability("web", Severity::High) })
        .await;
    wait_for_tickets(&admin, "burst", 1).await;
    assert_eq!(sim.issue_count(), 6, "one issue per event, none duplicated: {:?}", sim.request_counts());
}

#[tokio::test]
async fn a_dead_delivery_retried_succeeds() {
    let sim = Simulator::start(SimConfig::default()).await;
    let test = TestApp::start().await;
    let (admin, cred) = setup(&test, &sim, config("c")).await;
    // A revoked token: retrying cannot help, so the delivery dies at once.
    sim.set_api_token(jira_sim::DEFAULT_EMAIL, Some("rotated-elsewhere")).unwrap();
    submit(&admin, vulnerability("web", Severity::High)).await;
    let mut dead = None;
    for _ in 0..100 {
        let list = admin
            .deliveries()
            .list_deliveries(proto::ListDeliveriesRequest {
                state: proto::DeliveryState::Dead as i32,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        if let Some(d) = list.deliveries.into_iter().next() {
            dead = Some(d);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let dead = dead.expect("the delivery died");
    assert!(dead.last_error.contains("401"), "{}", dead.last_error);
    let shown = all_tickets(&admin, "vuln-1").await;
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].state(), proto::TicketState::Failed);
    assert_eq!(shown[0].delivery_id, dead.delivery_id);
    let feed = admin
        .events()
        .get_event(proto::GetEventRequest { external_id: "vuln-1".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .activities;
    assert!(
        feed.iter().any(|a| a.kind() == proto::ActivityKind::DeliveryFailed && a.message.contains("401")),
        "{feed:#?}"
    );
    // The admin fixes the token and retries.
    admin
        .credentials()
        .update_credential(proto::UpdateCredentialRequest {
            credential_id: cred,
            api_token: "rotated-elsewhere".into(),
            update_mask: Some(prost_types::FieldMask { paths: vec!["api_token".into()] }),
            ..Default::default()
        })
        .await
        .unwrap();
    let retried = admin
        .deliveries()
        .retry_delivery(proto::RetryDeliveryRequest { delivery_id: dead.delivery_id.clone() })
        .await
        .unwrap();
    assert_eq!(retried.into_inner().delivery.unwrap().state(), proto::DeliveryState::Pending);
    wait_for_tickets(&admin, "vuln-1", 1).await;
    let err = admin
        .deliveries()
        .retry_delivery(proto::RetryDeliveryRequest { delivery_id: dead.delivery_id })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
}

#[tokio::test]
async fn two_servers_on_one_database_deliver_once() {
    let sim = Simulator::start(SimConfig::default()).await;
    let test = TestApp::start().await;
    let second = northstar_jira::Server::start(crate::support::test_config(&test.db.url)).await.unwrap();
    let (admin, _) = setup(&test, &sim, config("c")).await;
    sim.set_latency(Duration::from_millis(20));
    for i in 0..30 {
        submit(
            &admin,
            proto::SubmitEventRequest { external_id: format!("e-{i}"), ..vulnerability("web", Severity::High) },
        )
        .await;
    }
    for i in 0..30 {
        wait_for_tickets(&admin, &format!("e-{i}"), 1).await;
    }
    assert_eq!(sim.issue_count(), 30);
    second.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_server_dropped_mid_delivery_delivers_once_after_restart() {
    init_logging();
    let sim = Simulator::start(SimConfig::default()).await;
    let mut test = TestApp::start().await;
    let (admin, _) = setup(&test, &sim, config("c")).await;
    // Jira creates the issue but the answer never comes; the server goes away meanwhile.
    sim.inject(
        FaultRule::next(1, Fault::LoseResponse { mode: LostMode::Hang { ms: 30_000 } }).on_path("/rest/api/3/issue"),
    );
    submit(&admin, vulnerability("web", Severity::High)).await;
    for _ in 0..100 {
        if sim.issue_count() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sim.issue_count(), 1);
    let key = test.create_key(&admin, "", Role::Admin).await;
    test.server.take().unwrap().shutdown_token().cancel();
    let restarted = northstar_jira::Server::start(crate::support::test_config(&test.db.url)).await.unwrap();
    let admin = Client::connect(format!("http://{}", restarted.grpc_addr), &key).await.unwrap();
    // The lease (2 s in tests) expires; the new worker finds the marker and adopts the issue.
    let tickets = wait_for_tickets(&admin, "vuln-1", 1).await;
    assert_eq!(tickets.len(), 1);
    assert_eq!(sim.issue_count(), 1, "no second issue");
    assert!(
        sim.request_count("POST", "/rest/api/3/search/jql") >= 1,
        "found by its marker search: {:?}",
        sim.request_counts()
    );
    restarted.shutdown().await.unwrap();
}

#[tokio::test]
async fn streamed_submissions_answer_per_item_and_deliver() {
    let sim = Simulator::start(SimConfig::default()).await;
    let test = TestApp::start().await;
    let (admin, _) = setup(&test, &sim, config("c")).await;
    let item = |id: &str| proto::SubmitEventRequest { external_id: id.into(), ..vulnerability("web", Severity::High) };
    let bad = proto::SubmitEventRequest { risk_score: Some(11.0), ..item("bad") };
    let chunks = vec![
        proto::SubmitEventsRequest { events: vec![item("s-1"), bad, item("s-2")] },
        proto::SubmitEventsRequest { events: vec![item("s-3"), item("s-1")] },
    ];
    let response = admin.events().submit_events(tokio_stream::iter(chunks)).await.unwrap().into_inner();
    assert_eq!((response.accepted_count, response.rejected_count), (4, 1));
    let indexes: Vec<i32> = response.results.iter().map(|r| r.index).collect();
    assert_eq!(indexes, [0, 1, 2, 3, 4]);
    assert_eq!(response.results[1].error_code, tonic::Code::InvalidArgument as i32);
    assert!(response.results[1].error_message.starts_with("risk_score:"), "{}", response.results[1].error_message);
    assert!(response.results[0].created && !response.results[4].created, "the resubmitted s-1 is not new");
    for id in ["s-1", "s-2", "s-3"] {
        wait_for_tickets(&admin, id, 1).await;
    }
    assert_eq!(sim.issue_count(), 3);
}

#[tokio::test]
async fn a_jira_call_slower_than_the_lease_is_not_taken_over_by_another_server() {
    let sim = Simulator::start(SimConfig::default()).await;
    let test = TestApp::start().await;
    let second = northstar_jira::Server::start(crate::support::test_config(&test.db.url)).await.unwrap();
    let (admin, _) = setup(&test, &sim, config("c")).await;
    // Jira takes 3 s to answer; leases last 2 s in tests. The worker renews its lease while it
    // waits, so the other server never claims the delivery and sends the create again.
    sim.set_latency(Duration::from_secs(3));
    submit(&admin, vulnerability("web", Severity::High)).await;
    wait_for_tickets(&admin, "vuln-1", 1).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sim.request_count("POST", "/rest/api/3/issue"), 1, "{:?}", sim.request_counts());
    assert_eq!(sim.request_count("POST", "/rest/api/3/search/jql"), 0, "nobody had to look for it");
    assert_eq!(sim.issue_count(), 1);
    second.shutdown().await.unwrap();
}

#[tokio::test]
async fn concurrent_submissions_in_shared_groups_store_each_event_once() {
    let sim = Simulator::start(SimConfig::default()).await;
    let test = TestApp::start().await;
    let (admin, _) = setup(&test, &sim, config("c")).await;
    // 120 calls at once for 40 external ids: they land in shared group transactions, where the
    // same id can meet itself; exactly one call per id creates it.
    let calls = (0..120).map(|i| {
        let admin = admin.clone();
        async move {
            let id = format!("g-{}", i % 40);
            let title = format!("finding {}", i / 40);
            let request =
                proto::SubmitEventRequest { external_id: id.clone(), title, ..vulnerability("web", Severity::High) };
            (id, admin.events().submit_event(request).await.unwrap().into_inner())
        }
    });
    let answers = futures_util::future::join_all(calls).await;
    let mut created = std::collections::HashMap::<String, usize>::new();
    for (id, answer) in &answers {
        assert_eq!(&answer.event.as_ref().unwrap().external_id, id);
        *created.entry(id.clone()).or_default() += answer.created as usize;
    }
    assert!(created.values().all(|&n| n == 1), "one creation per id: {created:?}");
    for i in 0..40 {
        let tickets = wait_for_tickets(&admin, &format!("g-{i}"), 1).await;
        assert_eq!(tickets.len(), 1);
    }
    assert_eq!(sim.issue_count(), 40, "one ticket per event");
    let listed = admin
        .events()
        .list_events(proto::ListEventsRequest { page_size: 100, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.events.len(), 40);
}

#[tokio::test]
async fn a_chunk_keeps_its_order_when_an_id_repeats_or_asks_for_a_status() {
    let sim = Simulator::start(SimConfig::default()).await;
    let test = TestApp::start().await;
    let (admin, _) = setup(&test, &sim, config("c")).await;
    let item = |id: &str, title: &str| proto::SubmitEventRequest {
        external_id: id.into(),
        title: title.into(),
        ..vulnerability("web", Severity::High)
    };
    let remediated = proto::SubmitEventRequest {
        status: proto::EventStatus::Remediated as i32,
        ..item("c-2", "second, remediated")
    };
    let chunk = proto::SubmitEventsRequest {
        events: vec![item("c-1", "first"), remediated, item("c-1", "first, edited"), item("c-3", "third")],
    };
    let response = admin.events().submit_events(tokio_stream::iter([chunk])).await.unwrap().into_inner();
    let created: Vec<bool> = response.results.iter().map(|r| r.created).collect();
    assert_eq!(created, [true, true, false, true]);
    let get = |id: &'static str| {
        let admin = admin.clone();
        async move {
            admin
                .events()
                .get_event(proto::GetEventRequest { external_id: id.into(), ..Default::default() })
                .await
                .unwrap()
                .into_inner()
                .event
                .unwrap()
        }
    };
    assert_eq!(get("c-1").await.title, "first, edited", "the later item of the chunk wins");
    assert_eq!(get("c-2").await.status, proto::EventStatus::Remediated as i32);
    assert_eq!(get("c-3").await.title, "third");
}

#[tokio::test]
async fn an_issue_adopted_after_a_lost_response_gets_the_title_changed_meanwhile() {
    let sim = Simulator::start(SimConfig::default()).await;
    let test = TestApp::start().await;
    let (admin, _) = setup(&test, &sim, config("c")).await;
    // Jira creates the issue with the first title, but its answer is late and then lost; the
    // title changes meanwhile, before the service has a ticket to update.
    sim.inject(
        FaultRule::next(1, Fault::LoseResponse { mode: LostMode::Hang { ms: 1500 } })
            .on_path("/rest/api/3/issue")
            .on_method("POST"),
    );
    submit(&admin, vulnerability("web", Severity::High)).await;
    crate::support::eventually("the issue created in Jira", async || sim.issue_count() == 1).await;
    let retitled = "SQL injection in /login and /signup";
    submit(&admin, proto::SubmitEventRequest { title: retitled.into(), ..vulnerability("web", Severity::High) }).await;
    let key = wait_for_tickets(&admin, "vuln-1", 1).await[0].jira_issue_key.clone();
    // The retry adopts the issue by its marker; what it holds is the first title.
    crate::support::eventually("the adopted issue brought up to date", async || {
        sim.issue(&key).unwrap().summary == retitled
    })
    .await;
    assert_eq!(sim.issue_count(), 1);
}
