//! Webhook deliveries: v2 payloads, headers, signature, retries, and the
//! hold/duplicate/drop controls.

mod common;

use std::time::Duration;

use common::{Receiver, adf, start};
use jira_sim::{DeliveryState, ReleaseOrder, WebhookSpec};
use serde_json::json;

const SECRET: &str = "It's a Secret to Everybody";
const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn created_issue_is_delivered_signed_in_v2_shape() {
    let (sim, api) = start().await;
    let rx = Receiver::start().await;
    let reg = api
        .post(
            "/rest/webhooks/1.0/webhook",
            json!({"name": "northstar", "url": rx.url, "events": ["jira:issue_created", "jira:issue_updated", "comment_created"],
                   "filters": {"issue-related-events-section": "project = SIM"}, "secret": SECRET}),
        )
        .await;
    assert_eq!(reg.status, 201, "{}", reg.body);
    assert!(reg.body["self"].as_str().is_some_and(|s| s.ends_with("/rest/webhooks/1.0/webhook/1")));
    assert!(reg.body.get("secret").is_none());

    let key = api.create("Signed", &["ext-9"]).await;
    assert!(sim.wait_for_deliveries(WAIT).await);
    let got = rx.received();
    assert_eq!(got.len(), 1);
    let d = &got[0];
    let sig = d.header("x-hub-signature").unwrap_or_default();
    assert_eq!(sig, jira_sim::signature::sign(SECRET.as_bytes(), &d.body));
    assert!(jira_sim::signature::verify(SECRET.as_bytes(), &d.body, &sig));
    assert!(d.header("x-atlassian-webhook-identifier").is_some_and(|s| !s.is_empty()));
    assert_eq!(d.header("x-atlassian-webhook-flow").as_deref(), Some("Primary"));
    assert_eq!(d.header("user-agent").as_deref(), Some("Atlassian Webhook HTTP Client"));
    assert!(d.header("content-type").is_some_and(|c| c.starts_with("application/json")));
    assert!(d.header("x-atlassian-webhook-retry").is_none());

    let body = d.json();
    assert_eq!(body["webhookEvent"], "jira:issue_created");
    assert_eq!(body["issue_event_type_name"], "issue_created");
    assert!(body["timestamp"].as_i64().is_some_and(|t| t > 1_600_000_000_000));
    assert_eq!(body["issue"]["key"], key.as_str());
    assert!(body["issue"]["self"].as_str().is_some_and(|s| s.contains("/rest/api/2/issue/")));
    // v2 representation: wiki-markup string, not ADF.
    assert_eq!(body["issue"]["fields"]["description"], "Created by a test.");
    assert_eq!(body["issue"]["fields"]["status"]["statusCategory"]["key"], "new");
    assert_eq!(body["user"]["emailAddress"], "sim@example.com");
    let fields: Vec<&str> =
        body["changelog"]["items"].as_array().into_iter().flatten().filter_map(|i| i["fieldId"].as_str()).collect();
    assert!(fields.contains(&"status") && fields.contains(&"summary") && fields.contains(&"labels"), "{fields:?}");
}

#[tokio::test]
async fn person_actions_send_transition_and_comment_events() {
    let (sim, api) = start().await;
    let rx = Receiver::start().await;
    sim.register_webhook(WebhookSpec::new(&rx.url).with_secret(SECRET)).unwrap_or_else(|e| panic!("{e}"));
    let key = api.create("Person", &[]).await;
    assert!(sim.wait_for_deliveries(WAIT).await);

    sim.transition("alice@example.com", &key, "Done", Some("Won't Do")).unwrap_or_else(|e| panic!("{e}"));
    let cid = sim.add_comment("bob@example.com", &key, "*Closing* this").unwrap_or_else(|e| panic!("{e}"));
    sim.edit_comment("bob@example.com", &key, &cid, "edited").unwrap_or_else(|e| panic!("{e}"));
    sim.set_priority("alice@example.com", &key, "Highest").unwrap_or_else(|e| panic!("{e}"));
    sim.transition("alice@example.com", &key, "Reopen", None).unwrap_or_else(|e| panic!("{e}"));
    sim.delete_comment("bob@example.com", &key, &cid).unwrap_or_else(|e| panic!("{e}"));
    sim.delete_issue("alice@example.com", &key).unwrap_or_else(|e| panic!("{e}"));
    assert!(sim.wait_for_deliveries(WAIT).await);

    let got: Vec<serde_json::Value> = rx.received().iter().map(common::Received::json).collect();
    let kinds: Vec<(String, String)> = got
        .iter()
        .map(|b| {
            (
                b["webhookEvent"].as_str().unwrap_or("").to_owned(),
                b["issue_event_type_name"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let expect = [
        ("jira:issue_created", "issue_created"),
        ("jira:issue_updated", "issue_generic"),
        ("comment_created", ""),
        ("jira:issue_updated", "issue_commented"),
        ("comment_updated", ""),
        ("jira:issue_updated", "issue_comment_edited"),
        ("jira:issue_updated", "issue_updated"),
        ("jira:issue_updated", "issue_generic"),
        ("comment_deleted", ""),
        ("jira:issue_updated", "issue_comment_deleted"),
        ("jira:issue_deleted", ""),
    ];
    let expect: Vec<(String, String)> = expect.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect();
    assert_eq!(kinds, expect);

    let resolved = &got[1];
    assert_eq!(resolved["user"]["displayName"], "Alice Analyst");
    assert_eq!(resolved["issue"]["fields"]["status"]["statusCategory"]["key"], "done");
    assert_eq!(resolved["issue"]["fields"]["resolution"]["name"], "Won't Do");
    let items = &resolved["changelog"]["items"];
    assert_eq!(items[0]["fieldId"], "resolution");
    assert_eq!(items[0]["toString"], "Won't Do");
    assert_eq!(items[1]["fieldId"], "status");
    assert_eq!(items[1]["fromString"], "To Do");
    assert_eq!(items[1]["toString"], "Done");

    let comment = &got[2];
    assert_eq!(comment["comment"]["body"], "*Closing* this");
    assert_eq!(comment["comment"]["author"]["displayName"], "Bob Builder");
    assert!(comment.get("user").is_none());
    assert_eq!(comment["issue"]["fields"].as_object().map(|m| m.len()), Some(6));

    let priority = &got[6]["changelog"]["items"][0];
    assert_eq!((priority["fieldId"].as_str(), priority["toString"].as_str()), (Some("priority"), Some("Highest")));
    let reopened = &got[7]["changelog"]["items"];
    assert_eq!(reopened[0]["fieldId"], "resolution");
    assert!(reopened[0]["to"].is_null());
    assert!(got[10]["issue"]["fields"]["summary"].is_string());
}

#[tokio::test]
async fn failed_deliveries_are_retried_with_the_same_identifier() {
    let (sim, api) = start().await;
    let rx = Receiver::start().await;
    rx.answer(&[503, 429, 500]);
    sim.register_webhook(WebhookSpec::new(&rx.url).with_events(["jira:issue_created"]))
        .unwrap_or_else(|e| panic!("{e}"));
    api.create("Retry me", &[]).await;
    assert!(sim.wait_for_deliveries(WAIT).await);
    let got = rx.received();
    assert_eq!(got.len(), 4);
    let ids: Vec<Option<String>> = got.iter().map(|r| r.header("x-atlassian-webhook-identifier")).collect();
    assert!(ids.iter().all(|i| i == &ids[0]));
    let retries: Vec<Option<String>> = got.iter().map(|r| r.header("x-atlassian-webhook-retry")).collect();
    assert_eq!(retries, [None, Some("1".into()), Some("2".into()), Some("3".into())]);
    assert!(got.iter().all(|r| r.header("x-hub-signature").is_none()), "no secret, no signature");
    let rec = &sim.deliveries()[0];
    assert_eq!(rec.state, DeliveryState::Delivered);
    assert_eq!(rec.attempts.len(), 4);

    // A 400 is not retried.
    rx.answer(&[400]);
    api.create("Rejected", &[]).await;
    assert!(sim.wait_for_deliveries(WAIT).await);
    assert_eq!(rx.received().len(), 5);
    assert_eq!(sim.deliveries()[1].state, DeliveryState::Failed);
}

#[tokio::test]
async fn hold_release_out_of_order_duplicate_and_drop() {
    let (sim, api) = start().await;
    let rx = Receiver::start().await;
    sim.register_webhook(WebhookSpec::new(&rx.url).with_events(["jira:issue_created"]))
        .unwrap_or_else(|e| panic!("{e}"));

    sim.hold_deliveries(true);
    for s in ["one", "two", "three"] {
        api.create(s, &[]).await;
    }
    assert_eq!(sim.held_deliveries().len(), 3);
    assert!(rx.received().is_empty());
    sim.hold_deliveries(false);
    assert_eq!(sim.release_held(ReleaseOrder::Reverse), 3);
    assert!(sim.wait_for_deliveries(WAIT).await);
    let order: Vec<String> =
        rx.received().iter().map(|r| r.json()["issue"]["key"].as_str().unwrap_or("").to_owned()).collect();
    assert_eq!(order, ["SIM-3", "SIM-2", "SIM-1"]);

    sim.duplicate_next_deliveries(1);
    api.create("twice", &[]).await;
    assert!(sim.wait_for_deliveries(WAIT).await);
    let got = rx.received();
    assert_eq!(got.len(), 5);
    assert_eq!(got[3].header("x-atlassian-webhook-identifier"), got[4].header("x-atlassian-webhook-identifier"));
    assert_eq!(got[3].body, got[4].body);

    sim.drop_next_deliveries(1, Some("jira:issue_created"));
    api.create("lost", &[]).await;
    assert!(sim.wait_for_deliveries(WAIT).await);
    assert_eq!(rx.received().len(), 5);
    let dropped = sim.deliveries().into_iter().find(|d| d.state == DeliveryState::Dropped);
    let dropped = dropped.unwrap_or_else(|| panic!("no dropped delivery"));
    // A test can still push it later (late delivery).
    sim.redeliver(&dropped.identifier).unwrap_or_else(|e| panic!("{e}"));
    assert!(sim.wait_for_deliveries(WAIT).await);
    assert_eq!(rx.received().len(), 6);
}

#[tokio::test]
async fn jql_filter_and_admin_rest_lifecycle() {
    let (sim, api) = start().await;
    let rx = Receiver::start().await;
    let reg = api
        .post(
            "/rest/webhooks/1.0/webhook",
            json!({"name": "only managed", "url": rx.url, "events": ["jira:issue_created"],
                   "filters": {"issue-related-events-section": "labels = managed"}}),
        )
        .await;
    assert_eq!(reg.status, 201);
    api.create("ignored", &["other"]).await;
    api.create("wanted", &["managed"]).await;
    assert!(sim.wait_for_deliveries(WAIT).await);
    assert_eq!(rx.events(), ["jira:issue_created"]);
    assert_eq!(rx.received()[0].json()["issue"]["fields"]["summary"], "wanted");

    let list = api.get("/rest/webhooks/1.0/webhook").await;
    assert_eq!(list.body.as_array().map(Vec::len), Some(1));
    let bad = api
        .post(
            "/rest/webhooks/1.0/webhook",
            json!({"url": rx.url, "filters": {"issue-related-events-section": "labels = "}}),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(api.delete("/rest/webhooks/1.0/webhook/1").await.status, 204);
    assert_eq!(api.get("/rest/webhooks/1.0/webhook/1").await.status, 404);
    api.create("after delete", &["managed"]).await;
    assert!(sim.wait_for_deliveries(WAIT).await);
    assert_eq!(rx.received().len(), 1);

    // Comments through REST carry ADF in; the webhook carries wiki markup out.
    sim.register_webhook(WebhookSpec::new(&rx.url).with_events(["comment_created"])).unwrap_or_else(|e| panic!("{e}"));
    let c = api
        .post(
            "/rest/api/3/issue/SIM-2/comment",
            json!({"body": {"type": "doc", "version": 1, "content": [
                {"type": "paragraph", "content": [{"type": "text", "text": "see "}, {"type": "text", "text": "runbook", "marks": [{"type": "link", "attrs": {"href": "https://x.test/rb"}}]}]}
            ]}}),
        )
        .await;
    assert_eq!(c.status, 201);
    assert!(sim.wait_for_deliveries(WAIT).await);
    let last = rx.received().last().map(common::Received::json).unwrap_or_default();
    assert_eq!(last["comment"]["body"], "see [runbook|https://x.test/rb]");
    let _ = adf("unused");
}

/// Jira sends webhooks for every change, whoever made it, so the service
/// sees echoes of its own REST writes and must recognise them.
#[tokio::test]
async fn rest_changes_by_the_integration_account_fire_webhooks_too() {
    let (sim, api) = start().await;
    let rx = Receiver::start().await;
    sim.register_webhook(WebhookSpec::new(&rx.url).with_secret(SECRET)).unwrap_or_else(|e| panic!("{e}"));
    let me = api.get("/rest/api/3/myself").await.body["accountId"].as_str().unwrap_or_default().to_owned();
    let original = api.create("Original", &[]).await;
    let key = api.create("Duplicate", &[]).await;
    assert!(sim.wait_for_deliveries(WAIT).await);
    let before = rx.received().len();
    assert_eq!(before, 2);

    // Linking fires none of the default events.
    let link = api
        .post(
            "/rest/api/3/issueLink",
            json!({"type": {"name": "Duplicate"}, "inwardIssue": {"key": key}, "outwardIssue": {"key": original}}),
        )
        .await;
    assert_eq!(link.status, 201);
    let path = format!("/rest/api/3/issue/{key}");
    let r = api
        .post(
            &format!("{path}/transitions"),
            json!({"transition": {"id": "31"}, "fields": {"resolution": {"name": "Duplicate"}}}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(api.put(&path, json!({"fields": {"priority": {"name": "High"}}})).await.status, 204);
    let c = api.post(&format!("{path}/comment"), json!({"body": adf("Duplicate of the original.")})).await;
    assert_eq!(c.status, 201);
    let cid = c.body["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(api.put(&format!("{path}/comment/{cid}"), json!({"body": adf("Edited.")})).await.status, 200);
    assert_eq!(api.delete(&format!("{path}/comment/{cid}")).await.status, 204);
    assert!(sim.wait_for_deliveries(WAIT).await);

    let got: Vec<serde_json::Value> = rx.received()[before..].iter().map(common::Received::json).collect();
    let kinds: Vec<(&str, &str)> = got
        .iter()
        .map(|b| (b["webhookEvent"].as_str().unwrap_or(""), b["issue_event_type_name"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        kinds,
        [
            ("jira:issue_updated", "issue_generic"),
            ("jira:issue_updated", "issue_updated"),
            ("comment_created", ""),
            ("jira:issue_updated", "issue_commented"),
            ("comment_updated", ""),
            ("jira:issue_updated", "issue_comment_edited"),
            ("comment_deleted", ""),
            ("jira:issue_updated", "issue_comment_deleted"),
        ]
    );
    for b in got.iter().filter(|b| b["webhookEvent"] == "jira:issue_updated") {
        assert_eq!(b["user"]["accountId"], me.as_str(), "{b}");
        assert_eq!(b["user"]["emailAddress"], "sim@example.com");
        assert_eq!(b["issue"]["key"], key.as_str());
    }
    for b in got.iter().filter(|b| b["webhookEvent"].as_str().is_some_and(|e| e.starts_with("comment_"))) {
        assert_eq!(b["comment"]["author"]["accountId"], me.as_str(), "{b}");
        assert_eq!(b["comment"]["updateAuthor"]["accountId"], me.as_str(), "{b}");
        assert_eq!(b["comment"]["id"], cid.as_str());
    }

    let transition = &got[0];
    let items: Vec<(&str, Option<&str>, Option<&str>)> = transition["changelog"]["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| (i["fieldId"].as_str().unwrap_or(""), i["fromString"].as_str(), i["toString"].as_str()))
        .collect();
    assert_eq!(items, [("resolution", None, Some("Duplicate")), ("status", Some("To Do"), Some("Done"))]);
    assert!(transition["changelog"]["id"].is_string());
    let fields = &transition["issue"]["fields"];
    assert_eq!(fields["resolution"]["name"], "Duplicate");
    // The issue carries its links, in the v2 representation.
    assert_eq!(fields["issuelinks"][0]["outwardIssue"]["key"], original.as_str());
    assert_eq!(fields["issuelinks"][0]["type"]["outward"], "duplicates");
    assert!(fields["issuelinks"][0]["self"].as_str().is_some_and(|s| s.contains("/rest/api/2/issueLink/")));

    let priority = &got[1]["changelog"]["items"];
    assert_eq!(priority.as_array().map(Vec::len), Some(1));
    assert_eq!(
        (priority[0]["fieldId"].as_str(), priority[0]["fromString"].as_str(), priority[0]["toString"].as_str()),
        (Some("priority"), Some("Medium"), Some("High"))
    );
    assert_eq!((priority[0]["from"].as_str(), priority[0]["to"].as_str()), (Some("3"), Some("2")));

    assert_eq!(got[2]["comment"]["body"], "Duplicate of the original.");
    assert_eq!(got[4]["comment"]["body"], "Edited.");
    assert!(got[3].get("changelog").is_none() && got[3]["comment"]["id"] == cid.as_str());
}
