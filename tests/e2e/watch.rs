//! WatchEventChanges: the tenant's change feed, live, in order, with cursors that resume
//! exactly where a watcher left off, on any replica.
use std::time::Duration;

use jira_sim::{SimConfig, Simulator};
use northstar_jira_client::{
    Client,
    proto::{self, EventChangeType, EventStatus, Origin, Role, Severity, TicketState, Trigger},
};
use tonic::Code;

use crate::{
    delivery::{config, setup, submit, wait_for_tickets},
    routing::{app, vulnerability},
    support::{TestApp, init_logging},
};

type Feed = tonic::Streaming<proto::WatchEventChangesResponse>;

async fn watch(client: &Client, request: proto::WatchEventChangesRequest) -> Feed {
    client.events().watch_event_changes(request).await.unwrap().into_inner()
}

fn after(cursor: &str) -> proto::WatchEventChangesRequest {
    proto::WatchEventChangesRequest { cursor: cursor.into(), ..Default::default() }
}

async fn next(feed: &mut Feed) -> proto::WatchEventChangesResponse {
    tokio::time::timeout(Duration::from_secs(15), feed.message())
        .await
        .expect("a change within 15 s")
        .expect("the stream stays healthy")
        .expect("the stream stays open")
}

/// Nothing more arrives for longer than a poll interval (1 s), notified or not.
async fn quiet(feed: &mut Feed) {
    if let Ok(message) = tokio::time::timeout(Duration::from_millis(1500), feed.message()).await {
        panic!("expected nothing more, got {message:?}");
    }
}

fn types(messages: &[proto::WatchEventChangesResponse]) -> Vec<(EventChangeType, String)> {
    messages.iter().map(|m| (m.change_type(), m.external_id.clone())).collect()
}

async fn comment(client: &Client, external_id: &str, body: &str) -> proto::Comment {
    client
        .events()
        .add_comment(proto::AddCommentRequest {
            external_id: external_id.into(),
            body: body.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .comment
        .unwrap()
}

async fn delete_comment(client: &Client, external_id: &str, comment_id: &str) {
    client
        .events()
        .delete_comment(proto::DeleteCommentRequest {
            external_id: external_id.into(),
            comment_id: comment_id.into(),
            ..Default::default()
        })
        .await
        .unwrap();
}

async fn set_status(client: &Client, external_id: &str, status: EventStatus) {
    client
        .events()
        .update_event_status(proto::UpdateEventStatusRequest {
            external_id: external_id.into(),
            status: status as i32,
            ..Default::default()
        })
        .await
        .unwrap();
}

fn incident(external_id: &str) -> proto::SubmitEventRequest {
    proto::SubmitEventRequest {
        kind: Trigger::Incident as i32,
        external_id: external_id.into(),
        application_id: "web".into(),
        title: "Credential stuffing on /login".into(),
        severity: Severity::High as i32,
        incident_type: "Credential Stuffing".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_watcher_sees_every_change_in_order_with_its_origin() {
    init_logging();
    let sim = Simulator::start(SimConfig::default()).await;
    let test = TestApp::start().await;
    let (admin, _) = setup(&test, &sim, config("c")).await;
    let writer = test.client(&test.create_key(&admin, "", Role::Writer).await).await;
    let reader = test.client(&test.create_key(&admin, "", Role::Reader).await).await;
    let mut feed = watch(&reader, proto::WatchEventChangesRequest::default()).await;

    let event = submit(&writer, vulnerability("web", Severity::High)).await.event.unwrap();
    let key = wait_for_tickets(&writer, "vuln-1", 1).await[0].jira_issue_key.clone();
    set_status(&writer, "vuln-1", EventStatus::Remediated).await;
    let added = comment(&writer, "vuln-1", "Fix deployed").await;
    delete_comment(&writer, "vuln-1", &added.comment_id).await;

    // The submission itself is not a change the feed carries; the ticket the worker filed is.
    let created = next(&mut feed).await;
    assert_eq!((created.change_type(), created.origin()), (EventChangeType::TicketCreated, Origin::System));
    assert_eq!((created.event_id.as_str(), created.external_id.as_str()), (event.event_id.as_str(), "vuln-1"));
    let ticket = created.ticket.as_ref().expect("the ticket");
    assert_eq!((ticket.jira_issue_key.as_str(), ticket.configuration_name.as_str()), (key.as_str(), "c"));
    assert_eq!(ticket.state(), TicketState::Open);
    assert_eq!(created.event.as_ref().unwrap().status(), EventStatus::Open);

    let status = next(&mut feed).await;
    assert_eq!((status.change_type(), status.origin()), (EventChangeType::StatusChanged, Origin::Northstar));
    assert_eq!(status.previous_status(), EventStatus::Open);
    assert_eq!(status.event.as_ref().unwrap().status(), EventStatus::Remediated);
    assert!(status.change_time.is_some() && status.comment.is_none() && status.ticket.is_none());

    let comment_added = next(&mut feed).await;
    assert_eq!(
        (comment_added.change_type(), comment_added.origin()),
        (EventChangeType::CommentAdded, Origin::Northstar)
    );
    let body = comment_added.comment.as_ref().expect("the comment");
    assert_eq!((body.comment_id.as_str(), body.body.as_str()), (added.comment_id.as_str(), "Fix deployed"));

    let comment_deleted = next(&mut feed).await;
    assert_eq!(
        (comment_deleted.change_type(), comment_deleted.origin()),
        (EventChangeType::CommentDeleted, Origin::Northstar)
    );
    let body = comment_deleted.comment.as_ref().expect("the comment as it was");
    assert_eq!((body.comment_id.as_str(), body.body.as_str()), (added.comment_id.as_str(), "Fix deployed"));

    let cursors = [&created.cursor, &status.cursor, &comment_added.cursor, &comment_deleted.cursor];
    assert!(cursors.iter().all(|c| !c.is_empty()));
    assert_eq!(cursors.iter().collect::<std::collections::HashSet<_>>().len(), 4, "one cursor per change");
    quiet(&mut feed).await;
}

#[tokio::test]
async fn a_watcher_resumes_after_its_cursor_on_any_server() {
    init_logging();
    let test = TestApp::start().await;
    let (_, admin) = test.tenant_with_key("acme", Role::Admin).await;
    app(&admin, "web").await;
    submit(&admin, vulnerability("web", Severity::High)).await;

    let mut feed = watch(&admin, proto::WatchEventChangesRequest::default()).await;
    let first = comment(&admin, "vuln-1", "first").await;
    let seen = next(&mut feed).await;
    assert_eq!(seen.comment.unwrap().comment_id, first.comment_id);
    drop(feed);

    // Made while nobody watches.
    set_status(&admin, "vuln-1", EventStatus::Remediated).await;
    let second = comment(&admin, "vuln-1", "second").await;
    set_status(&admin, "vuln-1", EventStatus::Closed).await;

    let mut feed = watch(&admin, after(&seen.cursor)).await;
    let missed = [next(&mut feed).await, next(&mut feed).await, next(&mut feed).await];
    assert_eq!(
        missed.iter().map(|m| m.change_type()).collect::<Vec<_>>(),
        [EventChangeType::StatusChanged, EventChangeType::CommentAdded, EventChangeType::StatusChanged]
    );
    // Each carries the event as right after it, though the event is CLOSED by now.
    let statuses: Vec<_> = missed.iter().map(|m| m.event.as_ref().unwrap().status()).collect();
    assert_eq!(statuses, [EventStatus::Remediated, EventStatus::Remediated, EventStatus::Closed]);
    assert_eq!(missed[0].previous_status(), EventStatus::Open);
    assert_eq!(missed[2].previous_status(), EventStatus::Remediated);
    assert_eq!(missed[1].comment.as_ref().unwrap().comment_id, second.comment_id);
    quiet(&mut feed).await;
    // And it is live again from there.
    let third = comment(&admin, "vuln-1", "third").await;
    let live = next(&mut feed).await;
    assert_eq!(live.comment.as_ref().unwrap().comment_id, third.comment_id);
    drop(feed);

    // Another replica resumes the same cursor.
    let replica = northstar_jira::Server::start(crate::support::test_config(&test.db.url)).await.unwrap();
    let key = test.create_key(&admin, "", Role::Reader).await;
    let reader = Client::connect(format!("http://{}", replica.grpc_addr), &key).await.unwrap();
    delete_comment(&admin, "vuln-1", &second.comment_id).await;
    let mut feed = watch(&reader, after(&live.cursor)).await;
    let deleted = next(&mut feed).await;
    assert_eq!(deleted.change_type(), EventChangeType::CommentDeleted);
    assert_eq!(deleted.comment.as_ref().unwrap().comment_id, second.comment_id);
    quiet(&mut feed).await;
    // A change made through the first server reaches the watcher of the second.
    let fourth = comment(&admin, "vuln-1", "fourth").await;
    assert_eq!(next(&mut feed).await.comment.unwrap().comment_id, fourth.comment_id);
    drop(feed);
    replica.shutdown().await.unwrap();
}

#[tokio::test]
async fn filters_by_event_kind_change_type_and_origin() {
    init_logging();
    let sim = Simulator::start(SimConfig::default()).await;
    let test = TestApp::start().await;
    // Tickets for vulnerabilities only.
    let (admin, _) = setup(&test, &sim, config("c")).await;
    let mut by_kind =
        watch(&admin, proto::WatchEventChangesRequest { kind: Trigger::Incident as i32, ..Default::default() }).await;
    let mut by_type = watch(
        &admin,
        proto::WatchEventChangesRequest {
            change_types: vec![EventChangeType::CommentAdded as i32, EventChangeType::StatusChanged as i32],
            ..Default::default()
        },
    )
    .await;
    let mut by_origin =
        watch(&admin, proto::WatchEventChangesRequest { origin: Origin::System as i32, ..Default::default() }).await;

    submit(&admin, vulnerability("web", Severity::High)).await;
    wait_for_tickets(&admin, "vuln-1", 1).await;
    submit(&admin, incident("inc-1")).await;
    comment(&admin, "vuln-1", "on the vulnerability").await;
    set_status(&admin, "inc-1", EventStatus::Resolved).await;
    let on_incident = comment(&admin, "inc-1", "on the incident").await;
    delete_comment(&admin, "inc-1", &on_incident.comment_id).await;

    let (mut kinds, mut typed, mut system) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..3 {
        kinds.push(next(&mut by_kind).await);
        typed.push(next(&mut by_type).await);
    }
    system.push(next(&mut by_origin).await);
    let (i, v) = ("inc-1".to_string(), "vuln-1".to_string());
    assert_eq!(
        types(&kinds),
        [
            (EventChangeType::StatusChanged, i.clone()),
            (EventChangeType::CommentAdded, i.clone()),
            (EventChangeType::CommentDeleted, i.clone())
        ]
    );
    assert_eq!(
        types(&typed),
        [
            (EventChangeType::CommentAdded, v.clone()),
            (EventChangeType::StatusChanged, i.clone()),
            (EventChangeType::CommentAdded, i)
        ]
    );
    assert_eq!(types(&system), [(EventChangeType::TicketCreated, v)]);
    tokio::join!(quiet(&mut by_kind), quiet(&mut by_type), quiet(&mut by_origin));
}

#[tokio::test]
async fn bad_cursors_are_refused_and_tenants_see_only_their_own_changes() {
    init_logging();
    let test = TestApp::start().await;
    let (_, acme) = test.tenant_with_key("acme", Role::Admin).await;
    app(&acme, "web").await;
    submit(&acme, vulnerability("web", Severity::High)).await;

    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    // Not base64, not ours, and well-formed but beyond anything the feed has issued.
    for bad in ["not a cursor!".to_string(), b64("page:1"), b64("c1:18446744073709551615:1")] {
        let err = acme.events().watch_event_changes(after(&bad)).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{bad}");
        assert!(err.message().starts_with("cursor"), "{bad}: {}", err.message());
    }
    let err = acme
        .events()
        .watch_event_changes(proto::WatchEventChangesRequest { change_types: vec![99], ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("change_types"), "{}", err.message());

    let (_, globex) = test.tenant_with_key("globex", Role::Admin).await;
    let globex_reader = test.client(&test.create_key(&globex, "", Role::Reader).await).await;
    let mut feed = watch(&globex_reader, proto::WatchEventChangesRequest::default()).await;
    comment(&acme, "vuln-1", "acme only").await;
    set_status(&acme, "vuln-1", EventStatus::Remediated).await;
    // Globex's own change, made after acme's, is the first thing its reader sees.
    app(&globex, "web").await;
    submit(&globex, vulnerability("web", Severity::High)).await;
    let own = comment(&globex, "vuln-1", "globex").await;
    let first = next(&mut feed).await;
    assert_eq!(first.comment.unwrap().comment_id, own.comment_id);
    quiet(&mut feed).await;
}

#[tokio::test]
async fn a_change_that_commits_late_is_sent_before_younger_ones() {
    use diesel_async::RunQueryDsl as _;
    init_logging();
    let test = TestApp::start().await;
    let (_, admin) = test.tenant_with_key("acme", Role::Admin).await;
    app(&admin, "web").await;
    submit(&admin, vulnerability("web", Severity::High)).await;
    let mut feed = watch(&admin, proto::WatchEventChangesRequest::default()).await;

    // A transaction that records a change and stays open, as a slow webhook's would.
    let mut slow = test.db.connect().await;
    diesel::sql_query("BEGIN").execute(&mut slow).await.unwrap();
    diesel::sql_query(
        "INSERT INTO event_changes (id, tenant_id, event_id, kind, origin, occurred_at, previous_status, status) \
         SELECT gen_random_uuid(), tenant_id, id, 'status_changed', 'jira', now(), 'open', status \
         FROM events WHERE external_id = 'vuln-1'",
    )
    .execute(&mut slow)
    .await
    .unwrap();
    // A younger change commits first: sending it now would put the older one behind the
    // watcher's cursor for good.
    let younger = comment(&admin, "vuln-1", "younger").await;
    quiet(&mut feed).await;
    diesel::sql_query("COMMIT").execute(&mut slow).await.unwrap();

    let older = next(&mut feed).await;
    assert_eq!((older.change_type(), older.origin()), (EventChangeType::StatusChanged, Origin::Jira));
    let then = next(&mut feed).await;
    assert_eq!(then.comment.unwrap().comment_id, younger.comment_id);
}
