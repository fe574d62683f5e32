//! Metrics: ticket volume and MTTR (mean, median, p90) per trigger and severity over a window,
//! the reopen rule, open tickets, tenant isolation, and a StreamMetrics watcher that sees a
//! ticket close through a Jira webhook.
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone as _, Utc};
use diesel_async::RunQueryDsl as _;
use jira_sim::{SimConfig, Simulator};
use northstar_jira_client::{
    Client,
    proto::{self, Role, Severity, Trigger},
};
use tonic::Code;
use uuid::Uuid;

use crate::{
    delivery::submit,
    routing::{configuration, vulnerability},
    support::TestApp,
    sync::{bidirectional, ticket_key},
};

fn ts(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: t.timestamp(), nanos: t.timestamp_subsec_nanos() as i32 }
}

fn secs(d: &Option<prost_types::Duration>) -> f64 {
    let d = d.as_ref().expect("a duration");
    d.seconds as f64 + f64::from(d.nanos) / 1e9
}

/// Stores tickets with chosen times straight into the database, as the delivery worker and
/// webhooks would have (the rollups are the database's business: its trigger keeps them).
struct Seeder {
    conn: diesel_async::AsyncPgConnection,
    tenant: Uuid,
    configuration: Uuid,
    n: usize,
}

impl Seeder {
    async fn ticket(
        &mut self,
        trigger: &str,
        severity: &str,
        created: DateTime<Utc>,
        closed: Option<DateTime<Utc>>,
    ) -> Uuid {
        self.n += 1;
        let (event, ticket) = (Uuid::now_v7(), Uuid::now_v7());
        diesel::sql_query(
            "INSERT INTO events (id, tenant_id, external_id, kind, application_id, title, severity) \
             VALUES ($1, $2, $3, $4, 'web', 'seeded', $5)",
        )
        .bind::<diesel::sql_types::Uuid, _>(event)
        .bind::<diesel::sql_types::Uuid, _>(self.tenant)
        .bind::<diesel::sql_types::Text, _>(format!("seed-{}-{}", self.n, event))
        .bind::<diesel::sql_types::Text, _>(trigger)
        .bind::<diesel::sql_types::Text, _>(severity)
        .execute(&mut self.conn)
        .await
        .unwrap();
        diesel::sql_query(
            "INSERT INTO tickets (id, tenant_id, event_id, configuration_id, delivery_id, jira_issue_id, jira_key, \
             jira_url, trigger, severity, created_at, closed_at) \
             VALUES ($1, $2, $3, $4, $1, '1', 'SIM-1', 'http://x/browse/SIM-1', $5, $6, $7, $8)",
        )
        .bind::<diesel::sql_types::Uuid, _>(ticket)
        .bind::<diesel::sql_types::Uuid, _>(self.tenant)
        .bind::<diesel::sql_types::Uuid, _>(event)
        .bind::<diesel::sql_types::Uuid, _>(self.configuration)
        .bind::<diesel::sql_types::Text, _>(trigger)
        .bind::<diesel::sql_types::Text, _>(severity)
        .bind::<diesel::sql_types::Timestamptz, _>(created)
        .bind::<diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>, _>(closed)
        .execute(&mut self.conn)
        .await
        .unwrap();
        ticket
    }

    async fn set_closed(&mut self, ticket: Uuid, closed: Option<DateTime<Utc>>) {
        diesel::sql_query("UPDATE tickets SET closed_at = $2 WHERE id = $1")
            .bind::<diesel::sql_types::Uuid, _>(ticket)
            .bind::<diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>, _>(closed)
            .execute(&mut self.conn)
            .await
            .unwrap();
    }
}

async fn tenant_with_config(test: &TestApp, name: &str) -> (Client, Uuid, Uuid) {
    let (tenant, admin) = test.tenant_with_key(name, Role::Admin).await;
    crate::routing::app(&admin, "web").await;
    let sim_url = "http://127.0.0.1:9"; // never called: tickets are seeded
    let cred = admin
        .credentials()
        .create_credential(proto::CreateCredentialRequest {
            name: "c".into(),
            jira_url: sim_url.into(),
            email: "a@example.com".into(),
            api_token: "t".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap()
        .credential_id;
    let config = admin
        .configurations()
        .create_configuration(proto::CreateConfigurationRequest {
            credential_id: cred,
            application_ids: vec!["web".into()],
            jira_project_key: "SIM".into(),
            ..configuration("metrics", "", Trigger::Vulnerability)
        })
        .await
        .unwrap()
        .into_inner()
        .configuration
        .unwrap()
        .configuration_id;
    (admin, tenant.parse().unwrap(), config.parse().unwrap())
}

async fn get(
    client: &Client,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    tenant: &str,
) -> Result<proto::GetMetricsResponse, tonic::Status> {
    client
        .metrics()
        .get_metrics(proto::GetMetricsRequest {
            start_time: Some(ts(start)),
            end_time: Some(ts(end)),
            tenant_id: tenant.into(),
        })
        .await
        .map(|r| r.into_inner())
}

/// Nearest-rank percentile of exact values.
fn nearest_rank(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    values[((p * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1]
}

#[tokio::test]
async fn volume_and_mttr_per_trigger_and_severity_over_a_window() {
    let test = TestApp::start().await;
    let (admin, tenant, config) = tenant_with_config(&test, "acme").await;
    let (_, other, other_config) = tenant_with_config(&test, "other").await;
    let mut seed = Seeder { conn: test.db.connect().await, tenant, configuration: config, n: 0 };
    // The window starts and ends mid-day and mid-hour: daily and hourly rollups and raw edges
    // all count.
    let start = Utc.with_ymd_and_hms(2026, 10, 1, 12, 30, 0).unwrap();
    let end = start + TimeDelta::days(30);
    let h = TimeDelta::hours(1);
    let day = |d: i64| start + TimeDelta::days(d);

    // Vulnerabilities, HIGH: remediated in 1, 2, 3, 4 and 30 hours; one created at the very
    // start (raw edge), one on the last partial day.
    let mut high = vec![];
    for (created, hours) in [(start, 1), (day(3), 2), (day(10), 3), (day(20), 4), (end - h * 8, 5)] {
        seed.ticket("vulnerability", "high", created, Some(created + h * hours)).await;
        high.push(3600.0 * hours as f64);
    }
    // CRITICAL: one remediated in 30 minutes, one still open.
    seed.ticket("vulnerability", "critical", day(5), Some(day(5) + TimeDelta::minutes(30))).await;
    seed.ticket("vulnerability", "critical", day(6), None).await;
    // Incidents, MEDIUM: resolved in 1 to 5 days.
    let mut incidents = vec![];
    for d in 1..=5 {
        seed.ticket("incident", "medium", day(d), Some(day(d) + TimeDelta::days(d))).await;
        incidents.push(86400.0 * d as f64);
    }
    // Outside the window: created before it, and closed after it.
    seed.ticket("vulnerability", "high", start - h, Some(start - TimeDelta::minutes(30))).await;
    seed.ticket("vulnerability", "low", end, None).await;
    // The reopen rule: closed after 1 h, reopened (open again, out of MTTR), closed again at 6 h.
    let reopened = seed.ticket("vulnerability", "low", day(12), Some(day(12) + h)).await;
    seed.set_closed(reopened, None).await;
    let while_open = get(&admin, start, end, "").await.unwrap().metrics.unwrap();
    let low = |m: &proto::Metrics| m.mttr_by_severity.iter().find(|r| r.severity == Severity::Low as i32).cloned();
    assert!(low(&while_open).is_none(), "a reopened ticket is not remediated");
    let open_vulns = while_open.open_tickets.iter().find(|o| o.trigger == Trigger::Vulnerability as i32).unwrap();
    assert_eq!(open_vulns.open_count, 3, "critical, the one after the window and the reopened one");
    seed.set_closed(reopened, Some(day(12) + h * 6)).await;
    // Another tenant's tickets never show.
    let mut other_seed = Seeder { conn: test.db.connect().await, tenant: other, configuration: other_config, n: 100 };
    other_seed.ticket("vulnerability", "high", day(2), Some(day(2) + h * 100)).await;

    let m = get(&admin, start, end, "").await.unwrap().metrics.unwrap();
    assert_eq!(m.tenant_id, tenant.to_string());
    assert_eq!(m.tenant_name, "acme");
    // Created in the window: 5 high + 2 critical + 5 incidents + 1 low (reopened) = 13.
    assert_eq!(m.tickets_created, 13);
    let by_trigger: Vec<(i32, i64)> = m.ticket_volume_by_trigger.iter().map(|v| (v.trigger, v.ticket_count)).collect();
    assert_eq!(by_trigger, [(Trigger::Incident as i32, 5), (Trigger::Vulnerability as i32, 8)]);
    let sev = |t: Trigger, s: Severity| {
        m.ticket_volume_by_severity
            .iter()
            .find(|v| v.trigger == t as i32 && v.severity == s as i32)
            .map(|v| v.ticket_count)
    };
    assert_eq!(sev(Trigger::Vulnerability, Severity::High), Some(5));
    assert_eq!(sev(Trigger::Vulnerability, Severity::Critical), Some(2));
    assert_eq!(sev(Trigger::Vulnerability, Severity::Medium), None, "zero counts are left out");
    // (Seeded through one configuration for both kinds: one entry per kind.)
    assert!(
        m.ticket_volume_by_configuration
            .iter()
            .all(|v| v.configuration_name == "metrics" && v.configuration_id == config.to_string())
    );
    assert_eq!(m.ticket_volume_by_configuration.iter().map(|v| v.ticket_count).sum::<i64>(), 13);

    // MTTR per severity: HIGH mean exact, median and p90 within 1% of the nearest rank.
    let high_mttr = m.mttr_by_severity.iter().find(|r| r.severity == Severity::High as i32).unwrap();
    assert_eq!(high_mttr.count, 5);
    let mean = high.iter().sum::<f64>() / 5.0;
    assert!((secs(&high_mttr.mean) - mean).abs() < 0.001, "{} vs {mean}", secs(&high_mttr.mean));
    for (p, got) in [(0.5, secs(&high_mttr.median)), (0.9, secs(&high_mttr.p90))] {
        let exact = nearest_rank(&mut high, p);
        assert!((got - exact).abs() / exact < 0.01, "p{p}: {got} vs {exact}");
    }
    let low_mttr = low(&m).expect("closed again: counted until its last close");
    assert_eq!(low_mttr.count, 1);
    assert!((secs(&low_mttr.mean) - 6.0 * 3600.0).abs() < 0.001);
    // MTTR per trigger.
    let incident = m.mttr_by_trigger.iter().find(|r| r.trigger == Trigger::Incident as i32).unwrap();
    assert_eq!(incident.count, 5);
    assert!((secs(&incident.mean) - 3.0 * 86400.0).abs() < 0.001);
    let exact = nearest_rank(&mut incidents, 0.9);
    assert!((secs(&incident.p90) - exact).abs() / exact < 0.01);
    let vulns = m.mttr_by_trigger.iter().find(|r| r.trigger == Trigger::Vulnerability as i32).unwrap();
    assert_eq!(vulns.count, 7, "5 high, 1 critical, 1 low");

    // The set-based rebuild (for bulk loads and repair) agrees with the trigger's rollups.
    diesel::sql_query("SELECT metrics_rebuild(NULL)").execute(&mut seed.conn).await.unwrap();
    let rebuilt = get(&admin, start, end, "").await.unwrap().metrics.unwrap();
    let without_ages = |mut m: proto::Metrics| {
        m.open_tickets.iter_mut().for_each(|o| o.oldest_age = None);
        m
    };
    assert_eq!(without_ages(rebuilt), without_ages(m.clone()));

    // A window with nothing in it still lists both triggers, with counts of 0 and no durations.
    let empty = get(&admin, end + TimeDelta::days(400), end + TimeDelta::days(401), "").await.unwrap().metrics.unwrap();
    assert_eq!(empty.tickets_created, 0);
    assert_eq!(empty.mttr_by_trigger.len(), 2);
    assert!(empty.mttr_by_trigger.iter().all(|r| r.count == 0 && r.mean.is_none()));

    // Isolation and validation.
    assert_eq!(get(&admin, start, end, &other.to_string()).await.unwrap_err().code(), Code::NotFound);
    assert_eq!(get(&admin, end, start, "").await.unwrap_err().code(), Code::InvalidArgument);
    let operator = test.operator().await;
    let all = get(&operator, start, end, "").await.unwrap();
    let names: Vec<&str> = all.tenant_metrics.iter().map(|t| t.tenant_name.as_str()).collect();
    assert_eq!(names, ["acme", "other"]);
    assert_eq!(all.metrics.unwrap().tickets_created, 14, "the total over all tenants");
    let one = get(&operator, start, end, &other.to_string()).await.unwrap().metrics.unwrap();
    assert_eq!(one.tickets_created, 1);
    assert_eq!(get(&operator, start, end, &Uuid::now_v7().to_string()).await.unwrap_err().code(), Code::NotFound);
}

#[tokio::test]
async fn a_metrics_watcher_sees_a_ticket_closed_through_a_jira_webhook() {
    let sim = Simulator::start(SimConfig::default()).await;
    let test = TestApp::start().await;
    let (admin, _, _) = bidirectional(&test, &sim, Trigger::Vulnerability).await;
    submit(&admin, vulnerability("web", Severity::High)).await;
    let key = ticket_key(&admin, "vuln-1").await;

    let mut stream = admin
        .metrics()
        .stream_metrics(proto::StreamMetricsRequest {
            interval: Some(prost_types::Duration { seconds: 3600, nanos: 0 }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let vulns = |m: &proto::StreamMetricsResponse| {
        let m = m.metrics.as_ref().unwrap();
        let open = m.open_tickets.iter().find(|o| o.trigger == Trigger::Vulnerability as i32).unwrap().open_count;
        let closed = m.mttr_by_trigger.iter().find(|r| r.trigger == Trigger::Vulnerability as i32).unwrap().count;
        (open, closed)
    };
    let first = stream.message().await.unwrap().unwrap();
    assert_eq!(vulns(&first), (1, 0));
    sim.transition("alice@example.com", &key, "Done", Some("Done")).unwrap();
    let next = tokio::time::timeout(Duration::from_secs(15), stream.message())
        .await
        .expect("a new snapshot")
        .unwrap()
        .unwrap();
    assert_eq!(vulns(&next), (0, 1));
    let bad = admin
        .metrics()
        .stream_metrics(proto::StreamMetricsRequest {
            interval: Some(prost_types::Duration { seconds: 0, nanos: 0 }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
}
