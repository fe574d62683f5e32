//! Faults on demand and request counting.

mod common;

use std::time::{Duration, Instant};

use common::start;
use jira_sim::{Fault, FaultRule, LostMode, RandomFaults};
use serde_json::json;

#[tokio::test]
async fn rate_limit_with_and_without_retry_after() {
    let (sim, api) = start().await;
    sim.fail_next(1, Fault::RateLimited { retry_after: Some(7), reason: None });
    sim.fail_next(1, Fault::RateLimited { retry_after: None, reason: Some("jira-per-issue-on-write".into()) });
    let first = api.get("/rest/api/3/myself").await;
    assert_eq!(first.status, 429);
    assert_eq!(first.headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("7"));
    assert_eq!(first.headers.get("ratelimit-reason").and_then(|v| v.to_str().ok()), Some("jira-burst-based"));
    assert!(first.headers.get("x-ratelimit-reset").is_some());
    let second = api.get("/rest/api/3/myself").await;
    assert_eq!(second.status, 429);
    assert!(second.headers.get("retry-after").is_none());
    assert_eq!(second.headers.get("ratelimit-reason").and_then(|v| v.to_str().ok()), Some("jira-per-issue-on-write"));
    assert_eq!(api.get("/rest/api/3/myself").await.status, 200);
    assert_eq!(sim.request_count("GET", "/rest/api/3/myself"), 3);
}

#[tokio::test]
async fn unavailable_and_server_errors_only_on_matching_paths() {
    let (sim, api) = start().await;
    sim.inject(
        FaultRule::next(2, Fault::Unavailable { retry_after: Some(1) }).on_path("/rest/api/3/issue").on_method("POST"),
    );
    sim.inject(FaultRule::next(1, Fault::ServerError { status: 502 }).on_path("/rest/api/3/priority"));
    assert_eq!(api.get("/rest/api/3/myself").await.status, 200);
    let body = json!({"fields": {"project": {"key": "SIM"}, "issuetype": {"name": "Task"}, "summary": "x"}});
    let r = api.post("/rest/api/3/issue", body.clone()).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    assert_eq!(api.post("/rest/api/3/issue", body.clone()).await.status, 503);
    assert_eq!(api.post("/rest/api/3/issue", body).await.status, 201);
    assert_eq!(api.get("/rest/api/3/priority").await.status, 502);
    assert_eq!(api.get("/rest/api/3/priority").await.status, 200);
    // The faulted creates did no work.
    assert_eq!(sim.issue_count(), 1);
    assert_eq!(sim.request_count("POST", "/rest/api/3/issue"), 3);
    let counts = sim.request_counts();
    assert_eq!(counts.get("GET /rest/api/3/priority"), Some(&2));
}

#[tokio::test]
async fn lost_response_still_creates_the_issue() {
    let (sim, api) = start().await;
    sim.fail_next(1, Fault::LoseResponse { mode: LostMode::Status500 });
    let body = json!({"fields": {"project": {"key": "SIM"}, "issuetype": {"name": "Task"}, "summary": "lost", "labels": ["ext-1"]}});
    let r = api.post("/rest/api/3/issue", body.clone()).await;
    assert_eq!(r.status, 500);
    assert_eq!(sim.issues_with_label("ext-1").len(), 1, "the work happened");

    // Closed connection: the client sees a transport error, not a status.
    sim.fail_next(1, Fault::LoseResponse { mode: LostMode::Close });
    let sent = api
        .http
        .post(api.url("/rest/api/3/issue"))
        .basic_auth("sim@example.com", Some("sim-token"))
        .json(&body)
        .send()
        .await;
    assert!(sent.is_err(), "expected a transport error, got {sent:?}");
    assert_eq!(sim.issues_with_label("ext-1").len(), 2);

    // Hang: the client's timeout fires while the issue is created.
    sim.fail_next(1, Fault::LoseResponse { mode: LostMode::Hang { ms: 2000 } });
    let sent = api
        .http
        .post(api.url("/rest/api/3/issue"))
        .basic_auth("sim@example.com", Some("sim-token"))
        .timeout(Duration::from_millis(300))
        .json(&body)
        .send()
        .await;
    assert!(sent.as_ref().err().is_some_and(reqwest::Error::is_timeout), "{sent:?}");
    assert_eq!(sim.issues_with_label("ext-1").len(), 3);

    // The server is still fine afterwards.
    assert_eq!(api.get("/rest/api/3/myself").await.status, 200);
}

#[tokio::test]
async fn latency_and_seeded_random_faults() {
    let (sim, api) = start().await;
    sim.set_latency(Duration::from_millis(150));
    let t = Instant::now();
    assert_eq!(api.get("/rest/api/3/myself").await.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(150));
    sim.set_latency(Duration::ZERO);

    let run = |seed| {
        let sim = sim.handle();
        let api = api.clone();
        async move {
            sim.set_random_faults(Some(RandomFaults {
                seed,
                server_error_percent: 20.0,
                rate_limit_percent: 20.0,
                lost_response_percent: 0.0,
                retry_after: Some(1),
                path_prefix: None,
            }));
            let mut out = Vec::new();
            for _ in 0..30 {
                out.push(api.get("/rest/api/3/priority").await.status);
            }
            sim.set_random_faults(None);
            out
        }
    };
    let a = run(42).await;
    let b = run(42).await;
    assert_eq!(a, b, "same seed, same faults");
    assert!(a.contains(&500) && a.contains(&429) && a.contains(&200), "{a:?}");
}

#[tokio::test]
async fn admin_http_surface_drives_faults() {
    let (sim, api) = start().await;
    let http = reqwest::Client::new();
    let r = http
        .post(api.url("/_sim/faults"))
        .json(&json!({"fault": {"kind": "rate_limited", "retryAfter": 3}, "count": 1, "pathPrefix": "/rest/api/3/myself"}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status(), 204);
    assert_eq!(api.get("/rest/api/3/priority").await.status, 200);
    assert_eq!(api.get("/rest/api/3/myself").await.status, 429);
    let counts: serde_json::Value = http
        .get(api.url("/_sim/requests"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_default();
    assert_eq!(counts["counts"]["GET /rest/api/3/myself"], 1);
    // Admin calls themselves are not counted.
    assert_eq!(sim.requests().len(), 2);
}
