//! Jira to us: signed webhooks stored in an inbox and applied once, status and comments from
//! Jira, deletions, no echoes, stale deliveries ignored, and reconciliation of lost webhooks.
use std::time::Duration;

use jira_sim::{Fault, FaultRule, LostMode, ReleaseOrder, SimConfig, Simulator, WebhookSpec};
use northstar_jira::domain::webhook;
use northstar_jira_client::{
    Client,
    proto::{self, ActivityKind, EventStatus, Origin, Severity, TicketState, Trigger},
};

use crate::{
    delivery::{setup, submit, wait_for_tickets},
    routing::{configuration, vulnerability},
    support::{TestApp, TestDb, eventually, get_event as get, init_logging},
};

const ALICE: &str = "alice@example.com";

async fn status(client: &Client, external_id: &str) -> EventStatus {
    get(client, external_id).await.status()
}

/// A bidirectional configuration of `trigger` for app `web`, with the simulator's webhook
/// pointed at it (signed with its secret). Returns the admin client, the webhook URL and secret.
pub(crate) async fn bidirectional(test: &TestApp, sim: &Simulator, trigger: Trigger) -> (Client, String, String) {
    let (_, admin) = test.tenant_with_key("acme", proto::Role::Admin).await;
    crate::routing::app(&admin, "web").await;
    let cred = crate::support::sim_credential(&admin, sim).await;
    let created = admin
        .configurations()
        .create_configuration(proto::CreateConfigurationRequest {
            credential_id: cred,
            application_ids: vec!["web".into()],
            jira_project_key: "SIM".into(),
            bidirectional: true,
            ..configuration("sync", "", trigger)
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!created.webhook_secret.is_empty());
    sim.register_webhook(WebhookSpec::new(created.webhook_url.clone()).with_secret(created.webhook_secret.clone()))
        .unwrap();
    (admin, created.webhook_url, created.webhook_secret)
}

pub(crate) async fn ticket_key(client: &Client, external_id: &str) -> String {
    wait_for_tickets(client, external_id, 1).await[0].jira_issue_key.clone()
}

#[tokio::test]
async fn jira_status_changes_remediate_close_and_reopen_a_vulnerability() {
    init_logging();
    let sim = Simulator::start(SimConfig::default()).await;
    let test = TestApp::start().await;
    let (admin, _, _) = bidirectional(&test, &sim, Trigger::Vulnerability).await;
    submit(&admin, vulnerability("web", Severity::High)).await;
    let key = ticket_key(&admin, "vuln-1").await;
    sim.reset_request_counts();

    sim.transition(ALICE, &key, "Done", Some("Done")).unwrap();
    eventually("remediated", async || status(&admin, "vuln-1").await == EventStatus::Remediated).await;
    let response = get(&admin, "vuln-1").await;
    let ticket = &response.tickets[0];
    assert_eq!(
        (ticket.state(), ticket.jira_status.as_str(), ticket.jira_resolution.as_str()),
        (TicketState::Done, "Done", "Done")
    );
    assert!(ticket.close_time.is_some(), "the closing time is kept for MTTR");
    let change = response.activities.iter().rfind(|a| a.kind() == ActivityKind::StatusChanged).unwrap();
    assert_eq!((change.origin(), change.actor.as_str()), (Origin::Jira, "Alice Analyst"));

    sim.transition(ALICE, &key, "Reopen", None).unwrap();
    eventually("reopened", async || status(&admin, "vuln-1").await == EventStatus::Open).await;
    sim.transition(ALICE, &key, "Done", Some("Won't Do")).unwrap();
    eventually("closed", async || status(&admin, "vuln-1").await == EventStatus::Closed).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Nothing echoed back: Jira's own changes never cause a transition or edit of ours.
    let calls = sim.request_counts();
    assert!(calls.keys().all(|k| k.starts_with("GET")), "{calls:?}");
}

#[tokio::test]
async fn an_incident_done_in_jira_is_resolved_and_our_transition_does_not_echo() {
    let sim = Simulator::start(SimConfig::default()).await;
    let test = TestApp::start().await;
    let (admin, _, _) = bidirectional(&test, &sim, Trigger::Incident).await;
    let incident = proto::SubmitEventRequest {
        kind: Trigger::Incident as i32,
        external_id: "inc-1".into(),
        application_id: "web".into(),
        title: "Credential stuffing".into(),
        severity: Severity::High as i32,
        incident_type: "Brute Force".into(),
        ..Default::default()
    };
    submit(&admin, incident.clone()).await;
    let key = ticket_key(&admin, "inc-1").await;
    sim.transition(ALICE, &key, "Done", None).unwrap();
    eventually("resolved", async || status(&admin, "inc-1").await == EventStatus::Resolved).await;

    // Our side reopens; Jira's webhook of our own transition comes back and changes nothing.
    admin
        .events()
        .update_event_status(proto::UpdateEventStatusRequest {
            external_id: "inc-1".into(),
            status: EventStatus::Open as i32,
            ..Default::default()
        })
        .await
        .unwrap();
    eventually("ticket reopened", async || sim.issue(&key).unwrap().status_category != "done").await;
    assert!(sim.wait_for_deliveries(Duration::from_secs(5)).await);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let response = get(&admin, "inc-1").await;
    assert_eq!(response.status(), EventStatus::Open);
    let statuses = response.activities.iter().filter(|a| a.kind() == ActivityKind::StatusChanged).count();
    assert_eq!(statuses, 2, "resolved from Jira, reopened by us; the echo added nothing");
}

#[tokio::test]
async fn comments_flow_both_ways_with_edits_and_deletions_and_never_echo() {
    let sim = Simulator::start(SimConfig::default()).await;
    let test = TestApp::start().await;
    let (admin, _, _) = bidirectional(&test, &sim, Trigger::Vulnerability).await;
    submit(&admin, vulnerability("web", Severity::High)).await;
    let key = ticket_key(&admin, "vuln-1").await;

    // Jira to us: add, edit, delete.
    let jira_comment = sim.add_comment(ALICE, &key, "Looking into it").unwrap();
    let comments = async || {
        get(&admin, "vuln-1").await.activities.into_iter().filter_map(|a| a.comment).collect::<Vec<proto::Comment>>()
    };
    eventually("comment from Jira", async || comments().await.len() == 1).await;
    let c = &comments().await[0];
    assert_eq!((c.origin(), c.author.as_str(), c.body.as_str()), (Origin::Jira, "Alice Analyst", "Looking into it"));
    assert_eq!(c.jira_comments[0].jira_comment_id, jira_comment);
    sim.edit_comment(ALICE, &key, &jira_comment, "Looking into it: fix in review").unwrap();
    eventually("edit from Jira", async || comments().await[0].body == "Looking into it: fix in review").await;
    sim.delete_comment(ALICE, &key, &jira_comment).unwrap();
    eventually("deletion from Jira", async || comments().await.is_empty()).await;

    // Us to Jira: the webhook of our own comment is recognised, not added a second time.
    admin
        .events()
        .add_comment(proto::AddCommentRequest {
            external_id: "vuln-1".into(),
            body: "Patched in 2.4.1".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    eventually("our comment in Jira", async || sim.comments(&key).len() == 1).await;
    assert!(sim.wait_for_deliveries(Duration::from_secs(5)).await);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let ours = comments().await;
    assert_eq!(ours.len(), 1, "{ours:#?}");
    assert_eq!(ours[0].origin(), Origin::Northstar);
    // A person deletes our comment in Jira: it leaves the feed too.
    let copy = sim.comments(&key)[0].id.clone();
    sim.delete_comment(ALICE, &key, &copy).unwrap();
    eventually("our comment deleted from Jira leaves the feed", async || comments().await.is_empty()).await;
}

#[tokio::test]
async fn duplicate_and_out_of_order_deliveries_apply_once_and_in_jiras_order() {
    let sim = Simulator::start(SimConfig::default()).await;
    let test = TestApp::start().await;
    let (admin, _, _) = bidirectional(&test, &sim, Trigger::Vulnerability).await;
    submit(&admin, vulnerability("web", Severity::High)).await;
    let key = ticket_key(&admin, "vuln-1").await;

    // The same delivery twice: one comment.
    sim.duplicate_next_deliveries(2);
    sim.add_comment(ALICE, &key, "Seen twice").unwrap();
    assert!(sim.wait_for_deliveries(Duration::from_secs(5)).await);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let feed = get(&admin, "vuln-1").await.activities;
    assert_eq!(feed.iter().filter(|a| a.kind() == ActivityKind::Comment).count(), 1, "{feed:#?}");

    // Done, then reopened a second later; Jira delivers the reopening first.
    sim.hold_deliveries(true);
    sim.transition(ALICE, &key, "Done", Some("Done")).unwrap();
    sim.advance_clock(Duration::from_secs(1));
    sim.transition(ALICE, &key, "Reopen", None).unwrap();
    sim.hold_deliveries(false);
    sim.release_held(ReleaseOrder::Reverse);
    assert!(sim.wait_for_deliveries(Duration::from_secs(5)).await);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let response = get(&admin, "vuln-1").await;
    assert_eq!(response.status(), EventStatus::Open, "the older Done arrived last and changed nothing");
    assert_eq!(response.tickets[0].state(), TicketState::Open);
}

#[tokio::test]
async fn forged_missing_oversized_and_malformed_webhooks_are_refused_with_nothing_stored() {
    let sim = Simulator::start(SimConfig::default()).await;
    let test = TestApp::start().await;
    let (admin, url, secret) = bidirectional(&test, &sim, Trigger::Vulnerability).await;
    submit(&admin, vulnerability("web", Severity::High)).await;
    let key = ticket_key(&admin, "vuln-1").await;
    let issue = sim.issue(&key).unwrap();
    // The simulator's own deliveries (the creation of the ticket) are in the inbox already.
    assert!(sim.wait_for_deliveries(Duration::from_secs(5)).await);
    let before = inbox_rows(&test).await;
    let body = serde_json::json!({
        "timestamp": chrono::Utc::now().timestamp_millis(),
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_generic",
        "user": { "accountId": "x", "displayName": "Mallory" },
        "issue": { "id": issue.id, "key": key, "fields": {
            "status": { "name": "Done", "statusCategory": { "key": "done" } },
            "resolution": { "name": "Done" } } },
        "changelog": { "items": [ { "fieldId": "status", "field": "status", "toString": "Done" } ] }
    })
    .to_string();
    let http = reqwest::Client::new();
    let post = |url: String, body: Vec<u8>, signature: Option<String>| {
        let mut request = http.post(url).header("content-type", "application/json").body(body);
        if let Some(s) = signature {
            request = request.header("X-Hub-Signature", s);
        }
        request.send()
    };
    let forged = webhook::sign(b"not-the-secret", body.as_bytes());
    assert_eq!(post(url.clone(), body.clone().into(), Some(forged)).await.unwrap().status(), 401);
    assert_eq!(post(url.clone(), body.clone().into(), None).await.unwrap().status(), 401);
    assert_eq!(post(format!("{url}?secret=wrong"), body.clone().into(), None).await.unwrap().status(), 401);
    let unknown = format!("{}/webhooks/jira/{}", test.http_url, uuid::Uuid::now_v7());
    let good = webhook::sign(secret.as_bytes(), body.as_bytes());
    assert_eq!(post(unknown, body.clone().into(), Some(good.clone())).await.unwrap().status(), 401);
    let big = vec![b' '; 2 * 1024 * 1024];
    let big_signed = webhook::sign(secret.as_bytes(), &big);
    assert_eq!(post(url.clone(), big, Some(big_signed)).await.unwrap().status(), 413);
    let malformed = b"{\"webhookEvent\": ".to_vec();
    let signed = webhook::sign(secret.as_bytes(), &malformed);
    assert_eq!(post(url.clone(), malformed, Some(signed)).await.unwrap().status(), 400);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(status(&admin, "vuln-1").await, EventStatus::Open, "nothing refused was applied");
    assert_eq!(inbox_rows(&test).await, before, "nothing refused was stored");

    // The genuine article, signed or with the secret in the query, is accepted once.
    assert_eq!(post(url.clone(), body.clone().into(), Some(good)).await.unwrap().status(), 204);
    eventually("applied", async || status(&admin, "vuln-1").await == EventStatus::Remediated).await;
    assert_eq!(post(format!("{url}?secret={secret}"), body.into(), None).await.unwrap().status(), 204);
    assert_eq!(inbox_rows(&test).await, before + 1, "the same content is one delivery");
}

async fn inbox_rows(test: &TestApp) -> i64 {
    use diesel::{QueryableByName, sql_types::BigInt};
    use diesel_async::RunQueryDsl as _;
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut conn = test.db.connect().await;
    let rows: Vec<Count> = diesel::sql_query("SELECT count(*) AS n FROM webhook_inbox").load(&mut conn).await.unwrap();
    rows[0].n
}

#[tokio::test]
async fn a_deleted_issue_unlinks_its_ticket_and_the_event_stays() {
    let sim = Simulator::start(SimConfig::default()).await;
    let test = TestApp::start().await;
    let (admin, _, _) = bidirectional(&test, &sim, Trigger::Vulnerability).await;
    submit(&admin, vulnerability("web", Severity::High)).await;
    let key = ticket_key(&admin, "vuln-1").await;
    sim.delete_issue(ALICE, &key).unwrap();
    eventually("unlinked", async || get(&admin, "vuln-1").await.tickets[0].state() == TicketState::Unlinked).await;
    let response = get(&admin, "vuln-1").await;
    assert_eq!(response.status(), EventStatus::Open);
    assert!(response.activities.iter().any(|a| a.kind() == ActivityKind::TicketUnlinked && a.jira_issue_key == key));
}

#[tokio::test]
async fn reconciliation_heals_a_webhook_jira_never_sent() {
    let sim = Simulator::start(SimConfig::default()).await;
    let test = TestApp::start_with(TestDb::new().await, |c| c.reconcile_interval = Duration::from_secs(1)).await;
    let (admin, _, _) = bidirectional(&test, &sim, Trigger::Vulnerability).await;
    submit(&admin, vulnerability("web", Severity::High)).await;
    let key = ticket_key(&admin, "vuln-1").await;
    sim.drop_next_deliveries(10, None);
    sim.transition(ALICE, &key, "Done", Some("Won't Fix")).unwrap();
    let jira_comment = sim.add_comment(ALICE, &key, "Accepted risk").unwrap();
    eventually("closed by reconciliation", async || status(&admin, "vuln-1").await == EventStatus::Closed).await;
    eventually("comment by reconciliation", async || {
        get(&admin, "vuln-1").await.activities.iter().any(|a| {
            a.comment
                .as_ref()
                .is_some_and(|c| c.body == "Accepted risk" && c.jira_comments[0].jira_comment_id == jira_comment)
        })
    })
    .await;
    // Later sweeps apply nothing twice.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let feed = get(&admin, "vuln-1").await.activities;
    assert_eq!(feed.iter().filter(|a| a.kind() == ActivityKind::Comment).count(), 1);
    assert_eq!(feed.iter().filter(|a| a.kind() == ActivityKind::StatusChanged).count(), 1);
    let _ = setup;
}

#[tokio::test]
async fn register_jira_webhook_sets_up_the_sync_without_copying_a_url() {
    let sim = Simulator::start(SimConfig::default()).await;
    let test = TestApp::start().await;
    let (_, admin) = test.tenant_with_key("acme", proto::Role::Admin).await;
    crate::routing::app(&admin, "web").await;
    let cred = crate::support::sim_credential(&admin, &sim).await;
    let create = |bidirectional: bool, name: &str| proto::CreateConfigurationRequest {
        credential_id: cred.clone(),
        application_ids: vec!["web".into()],
        jira_project_key: "SIM".into(),
        bidirectional,
        ..configuration(name, "", Trigger::Vulnerability)
    };
    let one_way = admin.configurations().create_configuration(create(false, "one-way")).await.unwrap().into_inner();
    let register = |id: String| {
        let admin = admin.clone();
        async move {
            admin
                .configurations()
                .register_jira_webhook(proto::RegisterJiraWebhookRequest { configuration_id: id })
                .await
        }
    };
    let err = register(one_way.configuration.unwrap().configuration_id).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);

    let created = admin.configurations().create_configuration(create(true, "sync")).await.unwrap().into_inner();
    let id = created.configuration.unwrap().configuration_id;
    let first = register(id.clone()).await.unwrap().into_inner();
    assert_eq!(first.jql_filter, "project = \"SIM\"");
    assert_eq!(first.configuration.unwrap().jira_webhook_id, first.jira_webhook_id);
    // Registering again replaces the webhook rather than adding a second.
    let second = register(id).await.unwrap().into_inner();
    assert_eq!(second.jira_webhook_id, first.jira_webhook_id);
    let hooks = sim.webhooks();
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0].url, created.webhook_url);

    // Jira now signs its deliveries with the configuration's secret, and they apply.
    submit(&admin, vulnerability("web", Severity::High)).await;
    let tickets = wait_for_tickets(&admin, "vuln-1", 2).await;
    let key = tickets.iter().find(|t| t.configuration_name == "sync").unwrap().jira_issue_key.clone();
    sim.transition(ALICE, &key, "Done", Some("Done")).unwrap();
    eventually("remediated through the registered webhook", async || {
        status(&admin, "vuln-1").await == EventStatus::Remediated
    })
    .await;
}

#[tokio::test]
async fn a_change_made_in_jira_before_its_ticket_is_stored_is_applied_once_it_is() {
    let sim = Simulator::start(SimConfig::default()).await;
    let test = TestApp::start().await;
    let (admin, _, _) = bidirectional(&test, &sim, Trigger::Vulnerability).await;
    // Jira creates the issue, but its answer is late and then lost: the ticket is stored only when
    // a retry adopts the issue by its marker. A person acts on the issue in between.
    sim.inject(
        FaultRule::next(1, Fault::LoseResponse { mode: LostMode::Hang { ms: 1500 } })
            .on_path("/rest/api/3/issue")
            .on_method("POST"),
    );
    submit(&admin, vulnerability("web", Severity::High)).await;
    eventually("the issue in Jira", async || sim.issue_count() == 1).await;
    let key = sim.issues()[0].key.clone();
    sim.transition(ALICE, &key, "Done", Some("Done")).unwrap();
    sim.add_comment(ALICE, &key, "Fixed before you knew it").unwrap();
    eventually("remediated from Jira", async || status(&admin, "vuln-1").await == EventStatus::Remediated).await;
    let commented = async || {
        get(&admin, "vuln-1")
            .await
            .activities
            .iter()
            .any(|a| a.comment.as_ref().is_some_and(|c| c.body == "Fixed before you knew it"))
    };
    eventually("the comment from Jira", commented).await;
    let feed = get(&admin, "vuln-1").await.activities;
    assert_eq!(feed.iter().filter(|a| a.kind() == ActivityKind::StatusChanged).count(), 1, "{feed:#?}");
    assert_eq!(feed.iter().filter(|a| a.kind() == ActivityKind::Comment).count(), 1, "{feed:#?}");
}
