//! Abuse limits: oversized gRPC requests are refused before decoding, each configuration's
//! webhooks have their own budget (429 with Retry-After, which Jira retries), SubmitEvents
//! streams are bounded and list pages capped.
use std::num::NonZeroU32;

use jira_sim::{SimConfig, Simulator};
use northstar_jira::domain::webhook;
use northstar_jira_client::proto::{self, Role, Severity, Trigger};
use tonic::Code;

use crate::{
    routing::{configuration, vulnerability},
    support::{TestApp, TestDb},
    sync::bidirectional,
};

#[tokio::test]
async fn an_oversized_grpc_request_is_refused_and_nothing_is_stored() {
    let test = TestApp::start_with(TestDb::new().await, |c| c.grpc_max_message_bytes = 64 * 1024).await;
    let (_, writer) = test.tenant_with_key("acme", Role::Writer).await;
    let mut big = vulnerability("web", Severity::High);
    big.title = "x".repeat(100 * 1024);
    let err = writer.events().submit_event(big).await.unwrap_err();
    assert_eq!(err.code(), Code::OutOfRange, "{err:?}");
    assert!(err.message().contains("too large"), "{}", err.message());
    let events = writer.events().list_events(proto::ListEventsRequest::default()).await.unwrap().into_inner();
    assert!(events.events.is_empty());
    // The connection stays usable for requests within the limit.
    writer.events().submit_event(vulnerability("web", Severity::High)).await.unwrap();
}

/// A well-formed update of an issue no ticket is linked to: accepted and stored, then ignored.
pub(crate) fn unlinked_issue_update() -> String {
    serde_json::json!({
        "timestamp": 1,
        "webhookEvent": "jira:issue_updated",
        "user": { "accountId": "x", "displayName": "Alice" },
        "issue": { "id": "999999", "key": "SIM-999999", "fields": {
            "status": { "name": "Done", "statusCategory": { "key": "done" } } } },
        "changelog": { "items": [ { "fieldId": "status", "field": "status", "toString": "Done" } ] }
    })
    .to_string()
}

#[tokio::test]
async fn each_configurations_webhooks_have_their_own_budget() {
    let sim = Simulator::start(SimConfig::default()).await;
    let test = TestApp::start_with(TestDb::new().await, |c| c.webhook_rate_limit = NonZeroU32::new(5)).await;
    let (admin, url, secret) = bidirectional(&test, &sim, Trigger::Vulnerability).await;
    let http = reqwest::Client::new();
    let body = unlinked_issue_update();
    let mut statuses = Vec::new();
    for i in 0..30 {
        let response = http
            .post(&url)
            .header("X-Hub-Signature", webhook::sign(secret.as_bytes(), body.as_bytes()))
            .header("X-Atlassian-Webhook-Identifier", format!("id-{i}"))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
            assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}");
        }
        statuses.push(response.status().as_u16());
    }
    // A burst of two seconds' worth (10) passes; the rest of an instant's 30 is refused.
    let accepted = statuses.iter().filter(|s| **s == 204).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert!((10..=12).contains(&accepted), "{statuses:?}");
    assert_eq!(accepted + limited, 30, "{statuses:?}");
    // Another configuration's budget is untouched.
    let cred = admin
        .credentials()
        .list_credentials(proto::ListCredentialsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .credentials;
    let other = admin
        .configurations()
        .create_configuration(proto::CreateConfigurationRequest {
            application_ids: vec!["web".into()],
            bidirectional: true,
            ..configuration("other", &cred[0].credential_id, Trigger::Incident)
        })
        .await
        .unwrap()
        .into_inner();
    let response = http
        .post(&other.webhook_url)
        .header("X-Hub-Signature", webhook::sign(other.webhook_secret.as_bytes(), body.as_bytes()))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
}

#[tokio::test]
async fn submit_events_streams_are_bounded() {
    let test = TestApp::start().await;
    let (_, writer) = test.tenant_with_key("acme", Role::Writer).await;
    // The server's bound, as the operator guide documents it.
    let max = 10_000;
    let chunk = |from: usize| proto::SubmitEventsRequest {
        events: (from..from + 1000)
            .map(|i| proto::SubmitEventRequest { external_id: format!("v-{i}"), ..vulnerability("web", Severity::Low) })
            .collect(),
    };
    let chunks: Vec<_> = (0..=max / 1000).map(|c| chunk(c * 1000)).collect();
    let err = writer.events().submit_events(tokio_stream::iter(chunks)).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(err.message().contains(&max.to_string()), "{}", err.message());
}
