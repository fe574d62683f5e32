//! `/metrics` in the Prometheus text format, with the families operators chart and alert on.
//!
//! The recorder is process-wide: other tests in the process add to the same counters, so
//! counts are checked as lower bounds.
use std::time::Duration;

use jira_sim::{Fault, FaultRule, SimConfig, Simulator};
use northstar_jira_client::proto::{self, Role, Severity};
use prometheus_parse::{LineInfo, Sample, Scrape, Value};
use tonic::Code;

use crate::{
    delivery::{config, setup, submit, wait_for_tickets},
    routing::vulnerability,
    support::{TestApp, init_logging},
};

#[tokio::test]
async fn metrics_parse_and_cover_rpcs_jira_deliveries_and_queues() {
    init_logging();
    let sim = Simulator::start(SimConfig::default()).await;
    let test = TestApp::start().await;

    let anonymous = test.anonymous().await;
    let err = anonymous.tenants().list_api_keys(proto::ListApiKeysRequest::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let (admin, credential_id) = setup(&test, &sim, config("metrics")).await;
    let reader = test.client(&test.create_key(&admin, "", Role::Reader).await).await;
    let err = reader
        .tenants()
        .create_api_key(proto::CreateApiKeyRequest {
            tenant_id: String::new(),
            name: "escalation".into(),
            role: Role::Admin as i32,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    // The first create is rate limited: its Retry-After holds the credential's next request.
    sim.inject(
        FaultRule::next(1, Fault::RateLimited { retry_after: Some(2), reason: None })
            .on_path("/rest/api/3/issue")
            .on_method("POST"),
    );
    submit(&admin, vulnerability("web", Severity::High)).await;
    // The pause is set before the worker records the failure, so it is in force once that shows.
    wait_until("the rate-limited create", || async {
        let failed = proto::ListDeliveriesRequest { state: proto::DeliveryState::Failed as i32, ..Default::default() };
        !admin.deliveries().list_deliveries(failed).await.unwrap().into_inner().deliveries.is_empty()
    })
    .await;
    admin
        .credentials()
        .test_connection(proto::TestConnectionRequest { credential_id, ..Default::default() })
        .await
        .unwrap();
    wait_for_tickets(&admin, "vuln-1", 1).await;

    // Counters are recorded just after the work they count becomes visible, and the gauges on
    // the refresh task's schedule: scrape until everything has landed.
    let mut last = None;
    for _ in 0..100 {
        let body = scrape_body(&test).await;
        let scrape = parse(&body);
        if sum(&scrape, "northstar_tickets_created_total", &[]) >= 1.0
            && !samples(&scrape, "northstar_outbox_depth", &[]).is_empty()
        {
            last = Some(scrape);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let scrape = last.expect("tickets_created_total and the gauges in /metrics in time");

    let rpc = "northstar_grpc_requests_total";
    let tenants = "/northstar.jira.v1.TenantService";
    let refused = sum(&scrape, rpc, &[("method", &format!("{tenants}/ListApiKeys")), ("code", "Unauthenticated")]);
    assert!(refused >= 1.0, "the unauthenticated call");
    let denied = sum(&scrape, rpc, &[("method", &format!("{tenants}/CreateApiKey")), ("code", "PermissionDenied")]);
    assert!(denied >= 1.0, "the reader's refused call");
    let submitted = sum(&scrape, rpc, &[("method", "/northstar.jira.v1.EventService/SubmitEvent"), ("code", "OK")]);
    assert!(submitted >= 1.0, "the submitted event");
    histogram(&scrape, "northstar_grpc_request_seconds", &[("method", "/northstar.jira.v1.EventService/SubmitEvent")]);

    let jira = "northstar_jira_requests_total";
    let create = [("method", "POST"), ("endpoint", "/rest/api/3/issue")];
    assert!(sum(&scrape, jira, &[create[0], create[1], ("status", "201")]) >= 1.0, "the create");
    assert!(sum(&scrape, jira, &[create[0], create[1], ("status", "429")]) >= 1.0, "the rate-limited create");
    assert!(sum(&scrape, jira, &[("method", "GET"), ("endpoint", "/rest/api/3/myself"), ("status", "200")]) >= 1.0);
    histogram(&scrape, "northstar_jira_request_seconds", &[("endpoint", "/rest/api/3/issue")]);
    assert!(sum(&scrape, "northstar_jira_rate_limit_waits_total", &[("reason", "retry_after")]) >= 1.0);
    histogram(&scrape, "northstar_jira_rate_limit_wait_seconds", &[("reason", "retry_after")]);

    assert!(sum(&scrape, "northstar_tickets_created_total", &[("trigger", "vulnerability")]) >= 1.0);
    assert!(sum(&scrape, "northstar_deliveries_total", &[("outcome", "succeeded")]) >= 1.0);
    histogram(&scrape, "northstar_delivery_seconds", &[]);
    assert!(sum(&scrape, "northstar_events_submitted_total", &[]) >= 1.0);

    for state in ["pending", "failed", "in_flight", "dead"] {
        assert_eq!(samples(&scrape, "northstar_outbox_depth", &[("state", state)]).len(), 1, "outbox {state}");
    }
    assert_eq!(samples(&scrape, "northstar_inbox_depth", &[]).len(), 1);
    for state in ["in_use", "idle"] {
        assert_eq!(samples(&scrape, "northstar_db_pool_connections", &[("state", state)]).len(), 1, "pool {state}");
    }
    assert!(sum(&scrape, "northstar_db_pool_max", &[]) >= 1.0);
    assert_eq!(samples(&scrape, "northstar_db_pool_waiting", &[]).len(), 1);
}

async fn wait_until<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn scrape_body(test: &TestApp) -> String {
    let response = reqwest::get(format!("{}/metrics", test.http_url)).await.unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// Parses the exposition, first checking that the parser understood every line: it skips what
/// it cannot read rather than failing.
fn parse(body: &str) -> Scrape {
    for line in body.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let LineInfo::Sample { metric_name, labels, value, timestamp: None } = LineInfo::parse(line) else {
            panic!("not a sample line: {line}");
        };
        let read = match labels {
            Some(labels) => format!("{metric_name}{{{labels}}} {value}"),
            None => format!("{metric_name} {value}"),
        };
        assert_eq!(read, line, "a line read only in part");
        assert!(value.parse::<f64>().is_ok() || value == "+Inf" || value == "NaN", "a bad value: {line}");
    }
    Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).expect("/metrics parses")
}

fn samples<'a>(scrape: &'a Scrape, name: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .collect()
}

/// The sum of a counter's or gauge's samples with these labels.
fn sum(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples(scrape, name, labels)
        .iter()
        .map(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            ref other => panic!("{name} is not a counter or gauge: {other:?}"),
        })
        .sum()
}

/// Asserts that a histogram with these labels has observations.
fn histogram(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) {
    let found = samples(scrape, name, labels);
    assert!(!found.is_empty(), "no {name} with {labels:?}");
    for sample in found {
        let Value::Histogram(buckets) = &sample.value else { panic!("{name} is not a histogram: {:?}", sample.value) };
        assert!(buckets.iter().any(|b| b.less_than.is_infinite() && b.count >= 1.0), "{name}: {buckets:?}");
    }
}
