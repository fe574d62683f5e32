//! The Jira client against the simulator: every call, and each class of failure.
use std::time::Duration;

use jira_sim::{Fault, FaultRule, LostMode, SimConfig, Simulator};
use northstar_jira::jira::{
    JiraClient, JiraError, JiraSettings, RetryPolicy, SearchRequest, Site, TransportKind,
    adf::{Doc, Inline},
};
use secrecy::SecretString;
use serde_json::json;

pub fn site(sim: &Simulator) -> Site {
    Site {
        base_url: sim.base_url().to_owned(),
        email: jira_sim::DEFAULT_EMAIL.to_owned(),
        token: SecretString::from(jira_sim::DEFAULT_TOKEN),
        limit_key: "test".into(),
    }
}

pub fn client() -> JiraClient {
    JiraClient::new(JiraSettings {
        retry: RetryPolicy {
            base: Duration::from_millis(10),
            max: Duration::from_millis(50),
            ..RetryPolicy::default()
        },
        request_timeout: Some(Duration::from_secs(2)),
        ..JiraSettings::default()
    })
}

fn new_issue(summary: &str, label: &str) -> serde_json::Value {
    json!({ "fields": {
        "project": { "key": "SIM" },
        "issuetype": { "name": "Bug" },
        "summary": summary,
        "description": Doc::new().heading(2, summary).paragraph(Inline::new().text("details")).to_json(),
        "labels": [label],
        "priority": { "name": "High" },
    }})
}

#[tokio::test]
async fn every_call_works_against_the_simulator() {
    let sim = Simulator::start(SimConfig::default()).await;
    let (jira, site) = (client(), site(&sim));

    let me = jira.myself(&site).await.unwrap();
    assert_eq!(me.display_name, "Sim Integration");
    let projects = jira.all_projects(&site).await.unwrap();
    assert_eq!(projects.iter().map(|p| p.key.as_str()).collect::<Vec<_>>(), ["SIM"]);
    assert_eq!(jira.project(&site, "SIM").await.unwrap().key, "SIM");
    let types = jira.create_issue_types(&site, "SIM").await.unwrap();
    let bug = types.iter().find(|t| t.name == "Bug").unwrap();
    let fields = jira.create_fields(&site, "SIM", &bug.id).await.unwrap();
    assert!(fields.iter().any(|f| f.field_id == "labels"));
    assert!(jira.priorities(&site).await.unwrap().iter().any(|p| p.name == "Highest"));

    let created = jira.create_issue(&site, &new_issue("First", "northstar-a")).await.unwrap();
    assert!(created.key.starts_with("SIM-"));
    let bulk = jira
        .bulk_create(&site, &[new_issue("Second", "northstar-b"), json!({ "fields": { "project": { "key": "SIM" } } })])
        .await
        .unwrap();
    assert_eq!(bulk.issues.len(), 1);
    assert_eq!(bulk.errors.len(), 1);
    assert_eq!(bulk.errors[0].failed_element_number, 1);

    let issue = jira.get_issue(&site, &created.key, &["status", "labels", "summary"]).await.unwrap();
    assert_eq!(issue.status().unwrap().status_category.key, "new");
    assert_eq!(issue.labels(), ["northstar-a"]);
    jira.update_issue(&site, &created.key, &json!({ "fields": { "summary": "Renamed" } })).await.unwrap();
    assert_eq!(sim.issue(&created.key).unwrap().summary, "Renamed");

    let transitions = jira.transitions(&site, &created.key).await.unwrap();
    let done = transitions.iter().find(|t| t.to.as_ref().is_some_and(|s| s.is_done())).unwrap();
    jira.transition(&site, &created.key, &done.id, Some("Won't Do")).await.unwrap();
    let issue = jira.get_issue(&site, &created.key, &["status", "resolution"]).await.unwrap();
    assert!(issue.status().unwrap().is_done());
    assert_eq!(issue.fields["resolution"]["name"], "Won't Do");

    let comment = jira.add_comment(&site, &created.key, &Doc::plain_text("first\n\nsecond")).await.unwrap();
    jira.update_comment(&site, &created.key, &comment.id, &Doc::plain_text("edited")).await.unwrap();
    let page = jira.list_comments(&site, &created.key, 0).await.unwrap();
    assert_eq!(page.comments.len(), 1);
    assert_eq!(northstar_jira::jira::adf::to_plain_text(&page.comments[0].body), "edited");
    jira.delete_comment(&site, &created.key, &comment.id).await.unwrap();
    // Deleting again is not an error: it is gone either way.
    jira.delete_comment(&site, &created.key, &comment.id).await.unwrap();

    let found = jira
        .search_jql(
            &site,
            &SearchRequest {
                jql: "labels = \"northstar-b\"".into(),
                fields: vec!["labels".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(found.issues.len(), 1);
    assert!(found.is_end());
}

#[tokio::test]
async fn failures_are_classified() {
    let sim = Simulator::start(SimConfig::default()).await;
    let (jira, good) = (client(), site(&sim));

    let bad = Site { token: SecretString::from("wrong"), ..good.clone() };
    assert!(matches!(jira.myself(&bad).await, Err(JiraError::Unauthorized)));

    let err = jira.get_issue(&good, "SIM-999", &["status"]).await.unwrap_err();
    assert!(matches!(err, JiraError::NotFound(_)), "{err:?}");

    let mut plain = new_issue("x", "l");
    plain["fields"]["description"] = json!("a plain string");
    let err = jira.create_issue(&good, &plain).await.unwrap_err();
    let JiraError::Invalid { errors, .. } = &err else { panic!("{err:?}") };
    assert_eq!(
        errors.errors["description"],
        "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_for_reads() {
    let sim = Simulator::start(SimConfig::default()).await;
    let (jira, site) = (client(), site(&sim));
    sim.reset_request_counts();
    sim.fail_next(1, Fault::RateLimited { retry_after: Some(0), reason: None });
    sim.fail_next(1, Fault::Unavailable { retry_after: Some(0) });
    sim.fail_next(1, Fault::RateLimited { retry_after: None, reason: None });
    sim.fail_next(1, Fault::ServerError { status: 502 });
    jira.myself(&site).await.unwrap();
    assert_eq!(sim.request_count("GET", "/rest/api/3/myself"), 5, "four failures, then success");

    // Past the interactive budget the caller gets the classified error.
    sim.fail_next(10, Fault::ServerError { status: 500 });
    let err = jira.myself(&site).await.unwrap_err();
    assert!(matches!(err, JiraError::Server { status: 500, .. }), "{err:?}");
    sim.clear_faults();

    // A Retry-After longer than an interactive caller should wait is reported, not slept on.
    sim.fail_next(1, Fault::RateLimited { retry_after: Some(3600), reason: None });
    let err = jira.myself(&site).await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)));
}

#[tokio::test]
async fn a_create_is_sent_once_and_a_lost_response_is_an_unknown_outcome() {
    let sim = Simulator::start(SimConfig::default()).await;
    let (jira, site) = (client(), site(&sim));

    sim.inject(FaultRule::next(1, Fault::LoseResponse { mode: LostMode::Status500 }).on_path("/rest/api/3/issue"));
    let err = jira.create_issue(&site, &new_issue("lost", "northstar-lost")).await.unwrap_err();
    assert!(err.outcome_unknown(), "{err:?}");
    assert_eq!(sim.issues_with_label("northstar-lost").len(), 1, "Jira did the work");
    assert_eq!(sim.request_count("POST", "/rest/api/3/issue"), 1, "never resent blindly");

    sim.inject(FaultRule::next(1, Fault::LoseResponse { mode: LostMode::Close }).on_path("/rest/api/3/issue"));
    let err = jira.create_issue(&site, &new_issue("closed", "northstar-closed")).await.unwrap_err();
    assert!(err.outcome_unknown(), "{err:?}");

    sim.inject(
        FaultRule::next(1, Fault::RateLimited { retry_after: Some(0), reason: None }).on_path("/rest/api/3/issue"),
    );
    let err = jira.create_issue(&site, &new_issue("limited", "northstar-limited")).await.unwrap_err();
    assert!(err.is_retryable() && !err.outcome_unknown(), "a 429 was not processed: {err:?}");
    assert!(sim.issues_with_label("northstar-limited").is_empty());
}

#[tokio::test]
async fn timeouts_and_refused_connections_are_transport_failures() {
    let sim = Simulator::start(SimConfig::default()).await;
    let jira = JiraClient::new(JiraSettings {
        retry: RetryPolicy { interactive_retries: 0, ..RetryPolicy::default() },
        request_timeout: Some(Duration::from_millis(300)),
        ..JiraSettings::default()
    });
    sim.inject(
        FaultRule::next(1, Fault::LoseResponse { mode: LostMode::Hang { ms: 2000 } }).on_path("/rest/api/3/issue"),
    );
    let err = jira.create_issue(&site(&sim), &new_issue("slow", "northstar-slow")).await.unwrap_err();
    assert!(matches!(err, JiraError::Transport { kind: TransportKind::Timeout, .. }), "{err:?}");
    assert!(err.outcome_unknown());

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let closed = Site { base_url: format!("http://127.0.0.1:{port}"), ..site(&sim) };
    let err = jira.myself(&closed).await.unwrap_err();
    assert!(matches!(err, JiraError::Transport { kind: TransportKind::Connect, .. }), "{err:?}");
    assert!(!err.outcome_unknown());
}
