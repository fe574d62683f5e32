//! Applications, groups, configurations and routing, proved through PreviewRouting.
use northstar_jira_client::{
    Client,
    proto::{self, Role, Severity, Trigger},
};
use tonic::Code;

use crate::{
    credentials::new_credential,
    support::{TestApp, init_logging},
};

pub async fn app(client: &Client, id: &str) {
    client
        .applications()
        .upsert_application(proto::UpsertApplicationRequest { application_id: id.into(), name: format!("App {id}") })
        .await
        .unwrap();
}

pub async fn credential(client: &Client, url: &str) -> String {
    client
        .credentials()
        .create_credential(new_credential("bot", url))
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap()
        .credential_id
}

pub async fn group(client: &Client, name: &str, members: &[&str]) -> String {
    client
        .applications()
        .create_resource_group(proto::CreateResourceGroupRequest {
            name: name.into(),
            description: String::new(),
            application_ids: members.iter().map(|s| s.to_string()).collect(),
        })
        .await
        .unwrap()
        .into_inner()
        .resource_group
        .unwrap()
        .resource_group_id
}

pub fn configuration(name: &str, credential_id: &str, trigger: Trigger) -> proto::CreateConfigurationRequest {
    proto::CreateConfigurationRequest {
        name: name.into(),
        credential_id: credential_id.into(),
        trigger: trigger as i32,
        jira_project_key: "SEC".into(),
        default_issue_type: "Bug".into(),
        ..Default::default()
    }
}

pub fn vulnerability(app: &str, severity: Severity) -> proto::SubmitEventRequest {
    proto::SubmitEventRequest {
        kind: Trigger::Vulnerability as i32,
        external_id: "vuln-1".into(),
        application_id: app.into(),
        title: "SQL injection in /login".into(),
        severity: severity as i32,
        vulnerability_type: "SQL Injection".into(),
        risk_score: Some(8.4),
        link: "https://northstar.example/findings/1".into(),
        ..Default::default()
    }
}

async fn preview(client: &Client, event: proto::SubmitEventRequest) -> proto::PreviewRoutingResponse {
    client
        .configurations()
        .preview_routing(proto::PreviewRoutingRequest { event: Some(event) })
        .await
        .unwrap()
        .into_inner()
}

fn matched(p: &proto::PreviewRoutingResponse) -> Vec<String> {
    let mut names: Vec<String> = p.matches.iter().map(|m| m.configuration_name.clone()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn group_members_inherit_routing_with_no_other_step() {
    init_logging();
    let test = TestApp::start().await;
    let (_, admin) = test.tenant_with_key("acme", Role::Admin).await;
    app(&admin, "app-1").await;
    app(&admin, "app-2").await;
    let cred = credential(&admin, "https://acme.atlassian.net").await;
    let payments = group(&admin, "payments", &["app-1"]).await;
    let by_group = proto::CreateConfigurationRequest {
        resource_group_ids: vec![payments.clone()],
        ..configuration("by-group", &cred, Trigger::Vulnerability)
    };
    admin.configurations().create_configuration(by_group).await.unwrap();
    let direct = proto::CreateConfigurationRequest {
        application_ids: vec!["app-1".into()],
        resource_group_ids: vec![payments.clone()],
        title_prefix: "[AppSec]".into(),
        ..configuration("direct-and-group", &cred, Trigger::Vulnerability)
    };
    admin.configurations().create_configuration(direct).await.unwrap();

    // app-1 matches both, each once (direct-and-group through two paths).
    let p = preview(&admin, vulnerability("app-1", Severity::High)).await;
    assert_eq!(matched(&p), ["by-group", "direct-and-group"]);
    let both = p.matches.iter().find(|m| m.configuration_name == "direct-and-group").unwrap();
    assert!(both.matched_by_application);
    assert_eq!(both.matched_resource_group_ids, std::slice::from_ref(&payments));
    assert_eq!(both.jira_priority, "Highest");
    let fields = &both.jira_payload.as_ref().unwrap().fields["fields"];
    let json = format!("{fields:?}");
    assert!(json.contains("[AppSec] SQL injection in /login"), "{json}");

    // app-2 is in no group yet: nothing. Added to the group: routed, no other step.
    assert!(preview(&admin, vulnerability("app-2", Severity::High)).await.matches.is_empty());
    admin
        .applications()
        .add_group_members(proto::AddGroupMembersRequest {
            resource_group_id: payments.clone(),
            application_ids: vec!["app-2".into()],
            register_missing: false,
        })
        .await
        .unwrap();
    assert_eq!(
        matched(&preview(&admin, vulnerability("app-2", Severity::High)).await),
        ["by-group", "direct-and-group"]
    );

    // Removed again: no longer routed.
    admin
        .applications()
        .remove_group_members(proto::RemoveGroupMembersRequest {
            resource_group_id: payments,
            application_ids: vec!["app-2".into()],
        })
        .await
        .unwrap();
    assert!(preview(&admin, vulnerability("app-2", Severity::High)).await.matches.is_empty());
}

#[tokio::test]
async fn triggers_severities_and_disabled_configurations_separate() {
    let test = TestApp::start().await;
    let (_, admin) = test.tenant_with_key("acme", Role::Admin).await;
    app(&admin, "web").await;
    let cred = credential(&admin, "https://acme.atlassian.net").await;
    let with = |name: &str, trigger: Trigger| proto::CreateConfigurationRequest {
        application_ids: vec!["web".into()],
        ..configuration(name, &cred, trigger)
    };
    admin.configurations().create_configuration(with("incidents", Trigger::Incident)).await.unwrap();
    admin
        .configurations()
        .create_configuration(proto::CreateConfigurationRequest {
            severities: vec![Severity::Critical as i32],
            ..with("critical-vulns", Trigger::Vulnerability)
        })
        .await
        .unwrap();
    admin
        .configurations()
        .create_configuration(proto::CreateConfigurationRequest {
            enabled: Some(false),
            ..with("off", Trigger::Vulnerability)
        })
        .await
        .unwrap();

    let high = preview(&admin, vulnerability("web", Severity::High)).await;
    assert!(high.matches.is_empty());
    let reasons: Vec<(String, i32)> = high.skipped.iter().map(|s| (s.configuration_name.clone(), s.reason)).collect();
    assert!(reasons.contains(&("critical-vulns".into(), proto::RoutingSkipReason::SeverityExcluded as i32)));
    assert!(reasons.contains(&("off".into(), proto::RoutingSkipReason::Disabled as i32)));
    assert_eq!(matched(&preview(&admin, vulnerability("web", Severity::Critical)).await), ["critical-vulns"]);

    let incident = proto::SubmitEventRequest {
        kind: Trigger::Incident as i32,
        external_id: "inc-1".into(),
        application_id: "web".into(),
        title: "SQL injection attempt".into(),
        severity: Severity::Critical as i32,
        incident_type: "SQL Injection".into(),
        source_ips: vec!["203.0.113.7".into()],
        request_urls: vec!["https://web.example/login?id=1%27".into()],
        ..Default::default()
    };
    let p = preview(&admin, incident).await;
    assert_eq!(matched(&p), ["incidents"]);
    assert_eq!(p.matches[0].jira_priority, "Highest");
    let payload = format!("{:?}", p.matches[0].jira_payload);
    assert!(payload.contains("203.0.113.7") && payload.contains("SQL Injection"), "{payload}");

    // Enabling later routes only events first seen from then on: previews are "now".
    admin
        .configurations()
        .update_configuration(proto::UpdateConfigurationRequest {
            configuration_id: admin
                .configurations()
                .list_configurations(proto::ListConfigurationsRequest { enabled: Some(false), ..Default::default() })
                .await
                .unwrap()
                .into_inner()
                .configurations[0]
                .configuration_id
                .clone(),
            enabled: Some(true),
            update_mask: Some(prost_types::FieldMask { paths: vec!["enabled".into()] }),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(matched(&preview(&admin, vulnerability("web", Severity::High)).await), ["off"]);
}

#[tokio::test]
async fn configuration_validation_names_the_field() {
    let test = TestApp::start().await;
    let (_, admin) = test.tenant_with_key("acme", Role::Admin).await;
    app(&admin, "web").await;
    let cred = credential(&admin, "https://acme.atlassian.net").await;
    let ok = proto::CreateConfigurationRequest {
        application_ids: vec!["web".into()],
        ..configuration("c", &cred, Trigger::Vulnerability)
    };
    let band = |s: f64, p: &str| proto::PriorityBand { min_score: s, priority: p.into() };
    let label = |l: &str| proto::AdditionalField {
        field_id: "labels".into(),
        value: Some(proto::additional_field::Value::Labels(proto::StringList { values: vec![l.into()] })),
    };
    let cases: Vec<(proto::CreateConfigurationRequest, &str)> = vec![
        (proto::CreateConfigurationRequest { name: "".into(), ..ok.clone() }, "name"),
        (proto::CreateConfigurationRequest { trigger: 0, ..ok.clone() }, "trigger"),
        (proto::CreateConfigurationRequest { jira_project_key: "sec".into(), ..ok.clone() }, "jira_project_key"),
        (proto::CreateConfigurationRequest { default_issue_type: "".into(), ..ok.clone() }, "default_issue_type"),
        (proto::CreateConfigurationRequest { application_ids: vec![], ..ok.clone() }, "application_ids"),
        (proto::CreateConfigurationRequest { application_ids: vec!["nope".into()], ..ok.clone() }, "application_ids"),
        (
            proto::CreateConfigurationRequest {
                resource_group_ids: vec![uuid::Uuid::now_v7().to_string()],
                ..ok.clone()
            },
            "resource_group_ids",
        ),
        (
            proto::CreateConfigurationRequest { credential_id: uuid::Uuid::now_v7().to_string(), ..ok.clone() },
            "credential_id",
        ),
        (proto::CreateConfigurationRequest { title_prefix: "x".repeat(101), ..ok.clone() }, "title_prefix"),
        (
            proto::CreateConfigurationRequest { priority_mapping: vec![band(1.0, "High")], ..ok.clone() },
            "priority_mapping",
        ),
        (
            proto::CreateConfigurationRequest {
                priority_mapping: vec![band(0.0, "Low"), band(0.0, "High")],
                ..ok.clone()
            },
            "priority_mapping",
        ),
        (
            proto::CreateConfigurationRequest {
                priority_mapping: vec![band(0.0, "Low"), band(10.5, "High")],
                ..ok.clone()
            },
            "priority_mapping",
        ),
        (proto::CreateConfigurationRequest { severities: vec![99], ..ok.clone() }, "severities"),
        (
            proto::CreateConfigurationRequest { additional_fields: vec![label("has space")], ..ok.clone() },
            "additional_fields[0]",
        ),
        (proto::CreateConfigurationRequest { default_epic_key: "epic".into(), ..ok.clone() }, "default_epic_key"),
        (proto::CreateConfigurationRequest { priority_field: "severity".into(), ..ok.clone() }, "priority_field"),
    ];
    for (request, field) in cases {
        let err = admin.configurations().create_configuration(request).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{field}: {err:?}");
        assert!(err.message().starts_with(&format!("{field}:")), "{field}: {}", err.message());
    }
    let listed = admin
        .configurations()
        .list_configurations(proto::ListConfigurationsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.configurations.is_empty(), "a refused create stored something");

    // A credential in use cannot be deleted; the message names the configuration.
    admin.configurations().create_configuration(ok).await.unwrap();
    let err = admin
        .credentials()
        .delete_credential(proto::DeleteCredentialRequest { credential_id: cred })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("c"), "{}", err.message());
}

#[tokio::test]
async fn bidirectional_configurations_get_a_webhook_url_and_a_secret_shown_once() {
    let test = TestApp::start().await;
    let (_, admin) = test.tenant_with_key("acme", Role::Admin).await;
    app(&admin, "web").await;
    let cred = credential(&admin, "https://acme.atlassian.net").await;
    let created = admin
        .configurations()
        .create_configuration(proto::CreateConfigurationRequest {
            application_ids: vec!["web".into()],
            bidirectional: true,
            ..configuration("sync", &cred, Trigger::Vulnerability)
        })
        .await
        .unwrap()
        .into_inner();
    let config = created.configuration.clone().unwrap();
    assert_eq!(created.webhook_url, format!("{}/webhooks/jira/{}", test.http_url, config.configuration_id));
    assert!(created.webhook_secret.starts_with("nsjwh_"));
    assert!(!format!("{created:?}").contains(&created.webhook_secret));
    let got = admin
        .configurations()
        .get_configuration(proto::GetConfigurationRequest { configuration_id: config.configuration_id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert!(!format!("{got:?}").contains(&created.webhook_secret));
    let rotated = admin
        .configurations()
        .rotate_webhook_secret(proto::RotateWebhookSecretRequest { configuration_id: config.configuration_id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_ne!(rotated.webhook_secret, created.webhook_secret);
    assert!(rotated.configuration.unwrap().webhook_secret_rotate_time.is_some());
}

#[tokio::test]
async fn a_configuration_of_tenant_a_never_routes_tenant_b() {
    let test = TestApp::start().await;
    let (_, a) = test.tenant_with_key("a", Role::Admin).await;
    let (_, b) = test.tenant_with_key("b", Role::Admin).await;
    for client in [&a, &b] {
        app(client, "shared-id").await;
    }
    let cred = credential(&a, "https://a.atlassian.net").await;
    let created = a
        .configurations()
        .create_configuration(proto::CreateConfigurationRequest {
            application_ids: vec!["shared-id".into()],
            ..configuration("a-only", &cred, Trigger::Vulnerability)
        })
        .await
        .unwrap()
        .into_inner()
        .configuration
        .unwrap();
    assert_eq!(matched(&preview(&a, vulnerability("shared-id", Severity::High)).await), ["a-only"]);
    let theirs = preview(&b, vulnerability("shared-id", Severity::High)).await;
    assert!(theirs.matches.is_empty() && theirs.skipped.is_empty());
    let err = b
        .configurations()
        .get_configuration(proto::GetConfigurationRequest { configuration_id: created.configuration_id.clone() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    // B cannot point a configuration at A's credential either.
    b.applications()
        .upsert_application(proto::UpsertApplicationRequest { application_id: "x".into(), name: String::new() })
        .await
        .unwrap();
    let err = b
        .configurations()
        .create_configuration(proto::CreateConfigurationRequest {
            application_ids: vec!["x".into()],
            ..configuration("steal", &cred, Trigger::Vulnerability)
        })
        .await
        .unwrap_err();
    assert!(err.message().starts_with("credential_id:"), "{}", err.message());
}

#[tokio::test]
async fn validation_against_live_jira_reports_every_problem_at_once() {
    let sim = jira_sim::Simulator::start(jira_sim::SimConfig::default().with_projects(["SEC"])).await;
    let test = TestApp::start().await;
    let (_, admin) = test.tenant_with_key("acme", Role::Admin).await;
    app(&admin, "web").await;
    let cred = crate::support::sim_credential(&admin, &sim).await;
    let option = |id: &str, v: &str| proto::AdditionalField {
        field_id: id.into(),
        value: Some(proto::additional_field::Value::OptionValue(v.into())),
    };
    let good = proto::CreateConfigurationRequest {
        application_ids: vec!["web".into()],
        additional_fields: vec![option("customfield_10052", "Production")],
        ..configuration("good", &cred, Trigger::Vulnerability)
    };
    let valid = admin
        .configurations()
        .validate_configuration(proto::ValidateConfigurationRequest { draft: Some(good.clone()), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert!(valid.valid, "{:?}", valid.problems);

    let bad = proto::CreateConfigurationRequest { default_issue_type: "Incident".into(), ..good.clone() };
    let result = admin
        .configurations()
        .validate_configuration(proto::ValidateConfigurationRequest { draft: Some(bad), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert!(!result.valid);
    assert_eq!(result.problems[0].field, "default_issue_type");

    let many = proto::CreateConfigurationRequest {
        additional_fields: vec![option("customfield_10052", "Moon"), option("customfield_99999", "x")],
        priority_mapping: vec![
            proto::PriorityBand { min_score: 0.0, priority: "Trivial".into() },
            proto::PriorityBand { min_score: 5.0, priority: "High".into() },
        ],
        ..good.clone()
    };
    let result = admin
        .configurations()
        .validate_configuration(proto::ValidateConfigurationRequest { draft: Some(many), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let fields: Vec<&str> = result.problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        ["additional_fields[0]", "additional_fields[1]", "priority_mapping[0]"],
        "{:?}",
        result.problems
    );

    let missing_project = proto::CreateConfigurationRequest { jira_project_key: "NOPE".into(), ..good.clone() };
    let result = admin
        .configurations()
        .validate_configuration(proto::ValidateConfigurationRequest {
            draft: Some(missing_project),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(result.problems[0].field, "jira_project_key");

    let unresolved = proto::CreateConfigurationRequest {
        default_epic_key: "SEC-999".into(),
        default_assignee_account_id: "no-such-account".into(),
        ..good.clone()
    };
    let result = admin
        .configurations()
        .validate_configuration(proto::ValidateConfigurationRequest { draft: Some(unresolved), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let fields: Vec<&str> = result.problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, ["default_epic_key", "default_assignee_account_id"], "{:?}", result.problems);

    // A severity custom field as the priority field: the default bands' names are not its options.
    let severity_field = proto::CreateConfigurationRequest { priority_field: "customfield_10054".into(), ..good };
    let result = admin
        .configurations()
        .validate_configuration(proto::ValidateConfigurationRequest {
            draft: Some(severity_field),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(result.problems.iter().any(|p| p.field.starts_with("priority_mapping")), "{:?}", result.problems);
}

#[tokio::test]
async fn a_change_on_one_replica_reroutes_on_every_replica() {
    let first = TestApp::start().await;
    let second = northstar_jira::Server::start(crate::support::test_config(&first.db.url)).await.unwrap();
    let (tenant, admin) = first.tenant_with_key("acme", Role::Admin).await;
    let key = first.create_key(&admin, &tenant, Role::Admin).await;
    let on_second = Client::connect(format!("http://{}", second.grpc_addr), &key).await.unwrap();

    app(&admin, "web").await;
    app(&admin, "api").await;
    let cred = credential(&admin, "https://acme.atlassian.net").await;
    let payments = group(&admin, "payments", &["web"]).await;
    admin
        .configurations()
        .create_configuration(proto::CreateConfigurationRequest {
            resource_group_ids: vec![payments.clone()],
            ..configuration("by-group", &cred, Trigger::Vulnerability)
        })
        .await
        .unwrap();
    // The second replica builds and caches its index now.
    assert!(preview(&on_second, vulnerability("api", Severity::High)).await.matches.is_empty());

    // The change goes through the first replica; the second hears of it by NOTIFY.
    admin
        .applications()
        .add_group_members(proto::AddGroupMembersRequest {
            resource_group_id: payments,
            application_ids: vec!["api".into()],
            register_missing: false,
        })
        .await
        .unwrap();
    let mut routed = false;
    for _ in 0..50 {
        if !preview(&on_second, vulnerability("api", Severity::High)).await.matches.is_empty() {
            routed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(routed, "the second replica never rebuilt its routing");
    second.shutdown().await.unwrap();
}

#[tokio::test]
async fn listing_by_application_includes_configurations_that_reach_it_through_a_group() {
    let test = TestApp::start().await;
    let (_, admin) = test.tenant_with_key("acme", Role::Admin).await;
    for id in ["web", "api", "other"] {
        app(&admin, id).await;
    }
    let cred = credential(&admin, "https://acme.atlassian.net").await;
    let payments = group(&admin, "payments", &["api"]).await;
    let create = |name: &str, apps: Vec<String>, groups: Vec<String>| proto::CreateConfigurationRequest {
        application_ids: apps,
        resource_group_ids: groups,
        ..configuration(name, &cred, Trigger::Vulnerability)
    };
    for request in [
        create("direct", vec!["api".into()], vec![]),
        create("via-group", vec![], vec![payments.clone()]),
        create("unrelated", vec!["other".into()], vec![]),
    ] {
        admin.configurations().create_configuration(request).await.unwrap();
    }
    let names = |application_id: &str| {
        let admin = admin.clone();
        let application_id = application_id.to_owned();
        async move {
            let mut names: Vec<String> = admin
                .configurations()
                .list_configurations(proto::ListConfigurationsRequest { application_id, ..Default::default() })
                .await
                .unwrap()
                .into_inner()
                .configurations
                .into_iter()
                .map(|c| c.name)
                .collect();
            names.sort();
            names
        }
    };
    assert_eq!(names("api").await, ["direct", "via-group"]);
    assert_eq!(names("web").await, Vec::<String>::new());
}
