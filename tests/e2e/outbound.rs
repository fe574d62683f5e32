//! Changes from our side to Jira: resubmissions update summary and priority (a person's
//! priority wins), status changes transition tickets, recurrence policies, comments both added
//! and deleted, the activity feed, and the sweep that closes a duplicate created under a lagging
//! search.
use std::time::Duration;

use jira_sim::{Fault, FaultRule, LostMode, SimConfig, Simulator};
use northstar_jira_client::{
    Client,
    proto::{self, ActivityKind, EventStatus, RecurrencePolicy, Role, Severity, TicketState},
};
use tonic::Code;

use crate::{
    delivery::{config, setup, submit, tickets_of, wait_for_tickets},
    routing::vulnerability,
    support::{TestApp, eventually, get_event as get, init_logging},
};

async fn set_status(client: &Client, external_id: &str, status: EventStatus) -> Result<proto::Event, tonic::Status> {
    client
        .events()
        .update_event_status(proto::UpdateEventStatusRequest {
            external_id: external_id.into(),
            status: status as i32,
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner().event.unwrap())
}

/// Waits until no delivery of the tenant is pending, failed or in flight.
async fn settled(client: &Client) {
    eventually("deliveries settle", async || {
        let all = client
            .deliveries()
            .list_deliveries(proto::ListDeliveriesRequest { page_size: 1000, ..Default::default() })
            .await
            .unwrap()
            .into_inner()
            .deliveries;
        all.iter()
            .all(|d| d.state == proto::DeliveryState::Succeeded as i32 || d.state == proto::DeliveryState::Dead as i32)
    })
    .await;
}

fn kinds(feed: &[proto::Activity]) -> Vec<ActivityKind> {
    feed.iter().map(|a| a.kind()).collect()
}

#[tokio::test]
async fn a_resubmission_updates_summary_and_priority_but_a_persons_priority_wins() {
    init_logging();
    let sim = Simulator::start(SimConfig::default()).await;
    let test = TestApp::start().await;
    let (admin, _) = setup(&test, &sim, config("c")).await;
    submit(&admin, vulnerability("web", Severity::High)).await;
    let key = wait_for_tickets(&admin, "vuln-1", 1).await[0].jira_issue_key.clone();
    assert_eq!(sim.issue(&key).unwrap().priority, "Highest");
    settled(&admin).await;
    sim.reset_request_counts();

    // Lower score and a new title: both reach Jira.
    let changed = proto::SubmitEventRequest {
        title: "SQL injection in /login and /signup".into(),
        risk_score: Some(4.0),
        ..vulnerability("web", Severity::High)
    };
    submit(&admin, changed.clone()).await;
    eventually("summary and priority updated", async || {
        let issue = sim.issue(&key).unwrap();
        issue.summary == "SQL injection in /login and /signup" && issue.priority == "Medium"
    })
    .await;
    settled(&admin).await;
    assert_eq!(sim.request_count("PUT", "/rest/api/3/issue/{issueIdOrKey}"), 1);
    assert_eq!(sim.request_count("POST", "/rest/api/3/issue"), 0, "no second ticket");

    // A person raises the priority in Jira; a later change of score leaves it, the title still
    // flows.
    sim.set_priority("alice@example.com", &key, "High").unwrap();
    submit(&admin, proto::SubmitEventRequest { title: "Renamed".into(), risk_score: Some(2.0), ..changed.clone() })
        .await;
    eventually("summary updated", async || sim.issue(&key).unwrap().summary == "Renamed").await;
    settled(&admin).await;
    assert_eq!(sim.issue(&key).unwrap().priority, "High", "the person's priority wins");
    // And keeps winning after that.
    submit(&admin, proto::SubmitEventRequest { title: "Renamed twice".into(), risk_score: Some(9.9), ..changed }).await;
    eventually("summary updated again", async || sim.issue(&key).unwrap().summary == "Renamed twice").await;
    assert_eq!(sim.issue(&key).unwrap().priority, "High");

    // An identical resubmission changes nothing in Jira.
    settled(&admin).await;
    sim.reset_request_counts();
    let same = proto::SubmitEventRequest {
        title: "Renamed twice".into(),
        risk_score: Some(9.9),
        ..vulnerability("web", Severity::High)
    };
    submit(&admin, same).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    settled(&admin).await;
    assert!(sim.request_counts().is_empty(), "{:?}", sim.request_counts());
    let feed = get(&admin, "vuln-1").await.activities;
    assert_eq!(kinds(&feed).iter().filter(|k| **k == ActivityKind::Updated).count(), 3, "{feed:#?}");
}

#[tokio::test]
async fn status_changes_transition_tickets_and_reopen_them() {
    let sim = Simulator::start(SimConfig::default()).await;
    let test = TestApp::start().await;
    let (admin, _) = setup(&test, &sim, config("c")).await;
    submit(&admin, vulnerability("web", Severity::High)).await;
    let key = wait_for_tickets(&admin, "vuln-1", 1).await[0].jira_issue_key.clone();

    let event = set_status(&admin, "vuln-1", EventStatus::Remediated).await.unwrap();
    assert_eq!(event.status(), EventStatus::Remediated);
    eventually("ticket done", async || sim.issue(&key).unwrap().status_category == "done").await;
    settled(&admin).await;
    let ticket = &get(&admin, "vuln-1").await.tickets[0];
    assert_eq!(ticket.state(), TicketState::Done);
    let transitions = admin
        .deliveries()
        .list_deliveries(proto::ListDeliveriesRequest {
            external_id: "vuln-1".into(),
            kind: proto::DeliveryKind::Transition as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .deliveries;
    assert_eq!(transitions.len(), 1, "{transitions:#?}");
    let t = &transitions[0];
    assert_eq!((t.kind(), t.state()), (proto::DeliveryKind::Transition, proto::DeliveryState::Succeeded));
    assert_eq!((t.external_id.as_str(), t.jira_issue_key.as_str()), ("vuln-1", key.as_str()));
    assert!(t.next_attempt_time.is_none(), "nothing is due for a finished delivery");
    assert_eq!(ticket.jira_status, "Done");
    assert!(ticket.close_time.is_some());

    // Setting the same status again owes nothing.
    sim.reset_request_counts();
    set_status(&admin, "vuln-1", EventStatus::Remediated).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(sim.request_counts().is_empty());

    // Open again: the default recurrence policy reopens the same ticket.
    set_status(&admin, "vuln-1", EventStatus::Open).await.unwrap();
    eventually("ticket reopened", async || sim.issue(&key).unwrap().status_category != "done").await;
    settled(&admin).await;
    let response = get(&admin, "vuln-1").await;
    assert_eq!(response.tickets.len(), 1);
    assert_eq!(response.tickets[0].state(), TicketState::Open);
    assert!(response.tickets[0].close_time.is_none());
    assert_eq!(sim.issue_count(), 1);
    let changes: Vec<(i32, i32)> = response
        .activities
        .iter()
        .filter(|a| a.kind() == ActivityKind::StatusChanged)
        .map(|a| (a.previous_status, a.status))
        .collect();
    assert_eq!(
        changes,
        [
            (EventStatus::Open as i32, EventStatus::Remediated as i32),
            (EventStatus::Remediated as i32, EventStatus::Open as i32)
        ]
    );
    assert_eq!(kinds(&response.activities)[..2], [ActivityKind::Submitted, ActivityKind::TicketCreated]);

    // A resubmission carrying a status does the same as UpdateEventStatus.
    submit(
        &admin,
        proto::SubmitEventRequest { status: EventStatus::Closed as i32, ..vulnerability("web", Severity::High) },
    )
    .await;
    eventually("closed by resubmission", async || sim.issue(&key).unwrap().status_category == "done").await;
}

#[tokio::test]
async fn a_status_set_before_the_ticket_exists_reaches_it_once_created() {
    let sim = Simulator::start(SimConfig::default()).await;
    let test = TestApp::start().await;
    let (admin, _) = setup(&test, &sim, config("c")).await;
    // The create waits behind a 503 with Retry-After 1 s while the event is remediated.
    sim.inject(FaultRule::next(1, Fault::Unavailable { retry_after: Some(1) }).on_path("/rest/api/3/issue"));
    submit(&admin, vulnerability("web", Severity::High)).await;
    set_status(&admin, "vuln-1", EventStatus::Remediated).await.unwrap();
    let key = wait_for_tickets(&admin, "vuln-1", 1).await[0].jira_issue_key.clone();
    eventually("ticket done", async || sim.issue(&key).unwrap().status_category == "done").await;
}

#[tokio::test]
async fn recurrence_policies_new_ticket_and_comment() {
    let sim = Simulator::start(SimConfig::default()).await;
    let test = TestApp::start().await;
    let (admin, cred) = setup(
        &test,
        &sim,
        proto::CreateConfigurationRequest { recurrence_policy: RecurrencePolicy::NewTicket as i32, ..config("new") },
    )
    .await;
    admin
        .configurations()
        .create_configuration(proto::CreateConfigurationRequest {
            credential_id: cred,
            application_ids: vec!["web".into()],
            jira_project_key: "SIM".into(),
            recurrence_policy: RecurrencePolicy::Comment as i32,
            ..config("comment")
        })
        .await
        .unwrap();
    submit(&admin, vulnerability("web", Severity::High)).await;
    let first = wait_for_tickets(&admin, "vuln-1", 2).await;
    set_status(&admin, "vuln-1", EventStatus::Remediated).await.unwrap();
    eventually("both done", async || {
        first.iter().all(|t| sim.issue(&t.jira_issue_key).unwrap().status_category == "done")
    })
    .await;
    settled(&admin).await;

    set_status(&admin, "vuln-1", EventStatus::Open).await.unwrap();
    let tickets = wait_for_tickets(&admin, "vuln-1", 3).await;
    settled(&admin).await;
    let by_config = |name: &str| -> Vec<proto::Ticket> {
        tickets.iter().filter(|t| t.configuration_name == name).cloned().collect()
    };
    // NEW_TICKET: the closed one stays closed, a new one is open.
    let new = by_config("new");
    assert_eq!(new.len(), 2);
    assert_eq!(sim.issue(&new[0].jira_issue_key).unwrap().status_category, "done");
    assert_ne!(sim.issue(&new[1].jira_issue_key).unwrap().status_category, "done");
    // COMMENT: stays closed, with a comment saying why.
    let commented = by_config("comment");
    assert_eq!(commented.len(), 1);
    let issue = sim.issue(&commented[0].jira_issue_key).unwrap();
    assert_eq!(issue.status_category, "done");
    let comments = sim.comments(&commented[0].jira_issue_key);
    assert_eq!(comments.len(), 1);
    assert!(comments[0].text.contains("open again"), "{}", comments[0].text);
    assert_eq!(sim.issue_count(), 3);
}

#[tokio::test]
async fn comments_added_and_deleted_on_our_side_reach_every_ticket() {
    let sim = Simulator::start(SimConfig::default()).await;
    let test = TestApp::start().await;
    let (admin, _) = setup(&test, &sim, config("c")).await;
    let writer = test.client(&test.create_key(&admin, "", Role::Writer).await).await;
    submit(&writer, vulnerability("web", Severity::High)).await;
    let key = wait_for_tickets(&writer, "vuln-1", 1).await[0].jira_issue_key.clone();

    let comment = writer
        .events()
        .add_comment(proto::AddCommentRequest {
            external_id: "vuln-1".into(),
            body: "Fix deployed to staging.\nSee https://ci.example/42".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .comment
        .unwrap();
    assert_eq!(comment.origin(), proto::Origin::Northstar);
    eventually("comment in Jira", async || sim.comments(&key).len() == 1).await;
    let copy = &sim.comments(&key)[0];
    assert!(copy.text.contains("Fix deployed to staging."), "{}", copy.text);
    assert_eq!(copy.body["type"], "doc", "an ADF body");
    settled(&writer).await;
    let feed = get(&writer, "vuln-1").await.activities;
    let entry = feed.iter().find(|a| a.kind() == ActivityKind::Comment).expect("a comment entry");
    let linked = &entry.comment.as_ref().unwrap().jira_comments;
    assert_eq!(linked.len(), 1);
    assert_eq!(
        (linked[0].jira_issue_key.as_str(), linked[0].jira_comment_id.as_str()),
        (key.as_str(), copy.id.as_str())
    );

    writer
        .events()
        .delete_comment(proto::DeleteCommentRequest {
            external_id: "vuln-1".into(),
            comment_id: comment.comment_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    eventually("comment gone from Jira", async || sim.comments(&key).is_empty()).await;
    let feed = get(&writer, "vuln-1").await.activities;
    assert!(feed.iter().all(|a| a.kind() != ActivityKind::Comment), "a deleted comment leaves the feed");

    // Deleting it again, or a comment that never was, is NOT_FOUND.
    let again = writer
        .events()
        .delete_comment(proto::DeleteCommentRequest {
            external_id: "vuln-1".into(),
            comment_id: comment.comment_id,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::NotFound);
}

#[tokio::test]
async fn bad_status_and_comment_requests_are_refused_precisely() {
    let sim = Simulator::start(SimConfig::default()).await;
    let test = TestApp::start().await;
    let (admin, _) = setup(&test, &sim, config("c")).await;
    submit(&admin, vulnerability("web", Severity::High)).await;
    let err = set_status(&admin, "vuln-1", EventStatus::Resolved).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("status"), "{}", err.message());
    let err = set_status(&admin, "vuln-1", EventStatus::Unspecified).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = set_status(&admin, "nope", EventStatus::Remediated).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = admin
        .events()
        .add_comment(proto::AddCommentRequest {
            external_id: "vuln-1".into(),
            body: "  \n".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!((err.code(), err.message().contains("body")), (Code::InvalidArgument, true));
    let err = admin
        .events()
        .delete_comment(proto::DeleteCommentRequest {
            external_id: "vuln-1".into(),
            comment_id: "not-a-uuid".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let reader = test.client(&test.create_key(&admin, "", Role::Reader).await).await;
    let err = set_status(&reader, "vuln-1", EventStatus::Remediated).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    // Nothing changed.
    let event = get(&admin, "vuln-1").await;
    assert_eq!(event.status(), EventStatus::Open);
    assert!(event.activities.iter().all(|a| a.kind() != ActivityKind::StatusChanged));
}

#[tokio::test]
async fn a_duplicate_created_under_a_lagging_search_is_swept_and_closed() {
    init_logging();
    // Search lags 2.5 s behind creation, longer than the worker's wait before its retry (the
    // 200 ms settle, rounded up by the 1 s poll): after a lost response the worker cannot see
    // its first issue and creates a second. The sweep looks again after 4 s, when both show.
    let sim = Simulator::start(SimConfig { search_lag: Duration::from_millis(2500), ..SimConfig::default() }).await;
    let test = TestApp::start_with(crate::support::TestDb::new().await, |c| {
        c.jira_duplicate_sweep = Duration::from_secs(4);
    })
    .await;
    let (admin, _) = setup(&test, &sim, config("c")).await;
    sim.inject(FaultRule::next(1, Fault::LoseResponse { mode: LostMode::Status500 }).on_path("/rest/api/3/issue"));
    submit(&admin, vulnerability("web", Severity::High)).await;
    eventually("two issues under one marker", async || sim.issue_count() == 2).await;

    // The sweep keeps the oldest and closes the other as its duplicate.
    let issues = sim.issues();
    let (oldest, younger) = (&issues[0], &issues[1]);
    eventually("duplicate closed", async || sim.issue(&younger.key).unwrap().status_category == "done").await;
    assert_eq!(sim.issue(&younger.key).unwrap().resolution.as_deref(), Some("Duplicate"));
    assert_ne!(sim.issue(&oldest.key).unwrap().status_category, "done");
    let links = sim.issue_json(&younger.key).unwrap()["fields"]["issuelinks"].clone();
    assert!(links.to_string().contains(&oldest.key), "{links}");
    settled(&admin).await;
    let response = get(&admin, "vuln-1").await;
    assert_eq!(response.tickets.len(), 1);
    assert_eq!(response.tickets[0].jira_issue_key, oldest.key, "the ticket points at the kept issue");
    let entry = response.activities.iter().find(|a| a.kind() == ActivityKind::DuplicateClosed).expect("a feed entry");
    assert_eq!(entry.jira_issue_key, younger.key);
    assert_eq!(entry.origin(), proto::Origin::System);
    let _ = tickets_of;
}
