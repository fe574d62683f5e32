//! Tenants are walled off from each other, the role table of api.md holds for every RPC, and
//! every administrative change leaves exactly one audit event without secrets.
use std::{collections::HashSet, future::Future, pin::Pin, time::Duration};

use jira_sim::{SimConfig, Simulator};
use northstar_jira_client::{
    Client,
    proto::{self, AuditResourceType, Role, Severity, Trigger},
};
use prost::Message as _;
use tokio_stream::StreamExt as _;
use tonic::{Code, Status};

use crate::{
    bad_input::{Seed, mask, random_id, seed, settle, snapshot},
    delivery::submit,
    routing::{configuration, vulnerability},
    support::{TestApp, eventually, init_logging, sim_credential},
};

/// A call whose answer is compared between two ids: an error, or a summary of the response.
type Probe = Pin<Box<dyn Future<Output = Result<String, Status>> + Send>>;

/// `probe!(client, service.method(request))`, or with `=> |response| summary` to summarize the
/// response (the default is its whole Debug form).
macro_rules! probe {
    ($client:expr, $service:ident . $method:ident ( $request:expr )) => {
        probe!($client, $service.$method($request) => |r| format!("{r:?}"))
    };
    ($client:expr, $service:ident . $method:ident ( $request:expr ) => $summary:expr) => {{
        let client = $client.clone();
        let request = $request;
        Box::pin(async move { client.$service().$method(request).await.map(|r| ($summary)(r.into_inner())) }) as Probe
    }};
}

/// What A's call with B's id must answer (and, identically, with a random id of the kind).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Answer {
    NotFound,
    /// INVALID_ARGUMENT naming this field: an unknown reference inside a request.
    Invalid(&'static str),
    /// A successful answer (a filtered list, a preview): it must not differ either.
    Same,
}

struct Row {
    name: &'static str,
    answer: Answer,
    other: String,
    random: String,
    call: Box<dyn Fn(String) -> Probe>,
}

fn normalized(result: Result<String, Status>, id: &str) -> Result<String, (Code, String)> {
    match result {
        Ok(summary) => Ok(summary.replace(id, "<id>")),
        Err(status) => Err((status.code(), status.message().replace(id, "<id>"))),
    }
}

/// A tenant of the isolation test: seeded, with a second event so that its metrics differ.
async fn populated(test: &TestApp, sim: &Simulator, name: &str, events: usize) -> Seed {
    let s = seed(test, name, Some(sim)).await;
    for i in 1..events {
        let event = proto::SubmitEventRequest {
            external_id: format!("{}-{i}", s.external_id),
            ..vulnerability(&s.application_id, Severity::Low)
        };
        submit(&s.admin, event).await;
    }
    s
}

#[tokio::test]
async fn a_tenant_admin_cannot_see_or_touch_another_tenant() {
    init_logging();
    let sim = Simulator::start(SimConfig::default()).await;
    let test = TestApp::start().await;
    let a = populated(&test, &sim, "tenant-a", 1).await;
    let b = populated(&test, &sim, "tenant-b", 2).await;
    let admin = &a.admin;

    // A's change feed carries none of B's changes: B comments first, then A, and A's stream
    // reaches A's comment having seen only A's events.
    let mut feed =
        admin.events().watch_event_changes(proto::WatchEventChangesRequest::default()).await.unwrap().into_inner();
    let comment = |s: &Seed, body: &str| proto::AddCommentRequest {
        event_id: s.event_id.clone(),
        body: body.into(),
        ..Default::default()
    };
    b.admin.events().add_comment(comment(&b, "from B")).await.unwrap();
    let mine = admin.events().add_comment(comment(&a, "from A")).await.unwrap().into_inner().comment.unwrap();
    let seen = tokio::time::timeout(Duration::from_secs(15), async {
        let mut seen = Vec::new();
        while let Some(change) = feed.next().await {
            let change = change.unwrap();
            let done = change.comment.as_ref().is_some_and(|c| c.comment_id == mine.comment_id);
            seen.push(change);
            if done {
                return seen;
            }
        }
        panic!("the feed ended");
    })
    .await
    .expect("A's comment reaches A's feed");
    assert!(seen.iter().all(|c| c.event_id == a.event_id), "{seen:#?}");
    drop(feed);
    settle(admin).await;
    settle(&b.admin).await;

    // Every B id there is, as text: A's lists must mention none of them.
    let b_deliveries = b
        .admin
        .deliveries()
        .list_deliveries(proto::ListDeliveriesRequest { page_size: 1000, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .deliveries;
    let b_events = b.admin.events().list_events(proto::ListEventsRequest::default()).await.unwrap().into_inner().events;
    let mut b_ids = vec![
        b.tenant_id.clone(),
        b.api_key_id.clone(),
        b.credential_id.clone(),
        b.application_id.clone(),
        b.group_id.clone(),
        b.configuration_id.clone(),
        b.comment_id.clone(),
    ];
    b_ids.extend(b_deliveries.iter().map(|d| d.delivery_id.clone()));
    b_ids.extend(b_events.iter().flat_map(|e| [e.event_id.clone(), e.external_id.clone()]));
    let all = 1000;
    let lists = vec![
        format!("{:?}", admin.tenants().list_tenants(proto::ListTenantsRequest::default()).await.unwrap().into_inner()),
        format!(
            "{:?}",
            admin
                .tenants()
                .list_api_keys(proto::ListApiKeysRequest {
                    include_revoked: true,
                    page_size: all,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
        ),
        format!("{:?}", admin.credentials().list_credentials(proto::ListCredentialsRequest::default()).await.unwrap()),
        format!(
            "{:?}",
            admin.applications().list_applications(proto::ListApplicationsRequest::default()).await.unwrap()
        ),
        format!(
            "{:?}",
            admin.applications().list_resource_groups(proto::ListResourceGroupsRequest::default()).await.unwrap()
        ),
        format!(
            "{:?}",
            admin.configurations().list_configurations(proto::ListConfigurationsRequest::default()).await.unwrap()
        ),
        format!(
            "{:?}",
            admin
                .events()
                .list_events(proto::ListEventsRequest { page_size: all, ..Default::default() })
                .await
                .unwrap()
        ),
        format!(
            "{:?}",
            admin
                .deliveries()
                .list_deliveries(proto::ListDeliveriesRequest { page_size: all, ..Default::default() })
                .await
                .unwrap()
        ),
        format!(
            "{:?}",
            admin
                .audit()
                .list_audit_events(proto::ListAuditEventsRequest { page_size: all, ..Default::default() })
                .await
                .unwrap()
        ),
        format!("{:?}", admin.metrics().get_metrics(proto::GetMetricsRequest::default()).await.unwrap()),
    ];
    for list in &lists {
        for id in &b_ids {
            assert!(!list.contains(id.as_str()), "A's list shows B's {id}: {list}");
        }
    }

    // Metrics: each tenant sees its own figures only (A filed one ticket, B two).
    let tickets = |client: Client, tenant_id: String| async move {
        client
            .metrics()
            .get_metrics(proto::GetMetricsRequest { tenant_id, ..Default::default() })
            .await
            .unwrap()
            .into_inner()
            .metrics
            .unwrap()
    };
    let operator = test.operator().await;
    eventually("both tenants' tickets are counted", async || {
        tickets(operator.clone(), b.tenant_id.clone()).await.tickets_created == 2
            && tickets(operator.clone(), a.tenant_id.clone()).await.tickets_created == 1
    })
    .await;
    let own = tickets(admin.clone(), String::new()).await;
    assert_eq!(own.tickets_created, 1, "{own:?}");
    assert_eq!(own.tenant_id, a.tenant_id);
    let configurations: Vec<&str> =
        own.ticket_volume_by_configuration.iter().map(|v| v.configuration_id.as_str()).collect();
    assert_eq!(configurations, [a.configuration_id.as_str()]);

    let before = snapshot(&b.admin).await;

    // Every RPC that takes an id, with B's id and with a random id of the same kind: the same
    // answer, code and message, so nothing tells A that B's id exists.
    let uuid = random_id;
    let random_app = || format!("app-of-{}", uuid());
    let random_external = || format!("vuln-of-{}", uuid());
    let mut rows: Vec<Row> = Vec::new();
    let mut row = |name, answer, other: &str, random: String, call: Box<dyn Fn(String) -> Probe>| {
        rows.push(Row { name, answer, other: other.to_owned(), random, call });
    };
    use Answer::{Invalid, NotFound, Same};
    let (a_group, a_config, a_app, a_event) =
        (a.group_id.clone(), a.configuration_id.clone(), a.application_id.clone(), a.event_id.clone());
    let (b_key, b_comment) = (b.api_key_id.clone(), b.comment_id.clone());

    // tenant_id
    row(
        "CreateApiKey",
        NotFound,
        &b.tenant_id,
        uuid(),
        Box::new({
            let c = admin.clone();
            move |id| {
                probe!(
                    c,
                    tenants.create_api_key(proto::CreateApiKeyRequest { tenant_id: id, name: "k".into(), role: 1 })
                )
            }
        }),
    );
    row(
        "ListApiKeys",
        NotFound,
        &b.tenant_id,
        uuid(),
        Box::new({
            let c = admin.clone();
            move |id| {
                probe!(c, tenants.list_api_keys(proto::ListApiKeysRequest { tenant_id: id, ..Default::default() }))
            }
        }),
    );
    row(
        "RevokeApiKey (tenant_id)",
        NotFound,
        &b.tenant_id,
        uuid(),
        Box::new({
            let (c, key) = (admin.clone(), b_key.clone());
            move |id| {
                probe!(c, tenants.revoke_api_key(proto::RevokeApiKeyRequest { tenant_id: id, api_key_id: key.clone() }))
            }
        }),
    );
    row(
        "GetMetrics",
        NotFound,
        &b.tenant_id,
        uuid(),
        Box::new({
            let c = admin.clone();
            move |id| probe!(c, metrics.get_metrics(proto::GetMetricsRequest { tenant_id: id, ..Default::default() }))
        }),
    );
    row(
        "StreamMetrics",
        NotFound,
        &b.tenant_id,
        uuid(),
        Box::new({
            let c = admin.clone();
            move |id| {
                let r = proto::StreamMetricsRequest { tenant_id: id, ..Default::default() };
                probe!(c, metrics.stream_metrics(r) => |_| "a stream".to_owned())
            }
        }),
    );
    // api_key_id
    row(
        "RevokeApiKey",
        NotFound,
        &b.api_key_id,
        uuid(),
        Box::new({
            let c = admin.clone();
            move |id| {
                probe!(
                    c,
                    tenants.revoke_api_key(proto::RevokeApiKeyRequest { tenant_id: String::new(), api_key_id: id })
                )
            }
        }),
    );
    row(
        "ListAuditEvents (api_key_id)",
        Same,
        &b.api_key_id,
        uuid(),
        Box::new({
            let c = admin.clone();
            move |id| {
                let r = proto::ListAuditEventsRequest { api_key_id: id, ..Default::default() };
                probe!(c, audit.list_audit_events(r))
            }
        }),
    );
    // credential_id
    row(
        "GetCredential",
        NotFound,
        &b.credential_id,
        uuid(),
        Box::new({
            let c = admin.clone();
            move |id| probe!(c, credentials.get_credential(proto::GetCredentialRequest { credential_id: id }))
        }),
    );
    row(
        "UpdateCredential",
        NotFound,
        &b.credential_id,
        uuid(),
        Box::new({
            let c = admin.clone();
            move |id| {
                let r = proto::UpdateCredentialRequest {
                    credential_id: id,
                    name: "taken over".into(),
                    update_mask: mask(&["name"]),
                    ..Default::default()
                };
                probe!(c, credentials.update_credential(r))
            }
        }),
    );
    row(
        "DeleteCredential",
        NotFound,
        &b.credential_id,
        uuid(),
        Box::new({
            let c = admin.clone();
            move |id| probe!(c, credentials.delete_credential(proto::DeleteCredentialRequest { credential_id: id }))
        }),
    );
    row(
        "TestConnection",
        NotFound,
        &b.credential_id,
        uuid(),
        Box::new({
            let c = admin.clone();
            move |id| {
                let r = proto::TestConnectionRequest { credential_id: id, ..Default::default() };
                probe!(c, credentials.test_connection(r))
            }
        }),
    );
    row(
        "CreateConfiguration (credential_id)",
        Invalid("credential_id"),
        &b.credential_id,
        uuid(),
        Box::new({
            let (c, app) = (admin.clone(), a_app.clone());
            move |id| {
                let r = proto::CreateConfigurationRequest {
                    application_ids: vec![app.clone()],
                    ..configuration("stolen", &id, Trigger::Vulnerability)
                };
                probe!(c, configurations.create_configuration(r))
            }
        }),
    );
    row(
        "UpdateConfiguration (credential_id)",
        Invalid("credential_id"),
        &b.credential_id,
        uuid(),
        Box::new({
            let (c, config) = (admin.clone(), a_config.clone());
            move |id| {
                let r = proto::UpdateConfigurationRequest {
                    configuration_id: config.clone(),
                    credential_id: id,
                    update_mask: mask(&["credential_id"]),
                    ..Default::default()
                };
                probe!(c, configurations.update_configuration(r))
            }
        }),
    );
    row(
        "ValidateConfiguration (draft credential_id)",
        Same,
        &b.credential_id,
        uuid(),
        Box::new({
            let (c, app) = (admin.clone(), a_app.clone());
            move |id| {
                let draft = proto::CreateConfigurationRequest {
                    application_ids: vec![app.clone()],
                    ..configuration("draft", &id, Trigger::Vulnerability)
                };
                let r = proto::ValidateConfigurationRequest { draft: Some(draft), ..Default::default() };
                probe!(c, configurations.validate_configuration(r))
            }
        }),
    );
    row(
        "ListConfigurations (credential_id)",
        Same,
        &b.credential_id,
        uuid(),
        Box::new({
            let c = admin.clone();
            move |id| {
                let r = proto::ListConfigurationsRequest { credential_id: id, ..Default::default() };
                probe!(c, configurations.list_configurations(r))
            }
        }),
    );
    row(
        "ListAuditEvents (resource_id)",
        Same,
        &b.credential_id,
        uuid(),
        Box::new({
            let c = admin.clone();
            move |id| {
                let r = proto::ListAuditEventsRequest { resource_id: id, ..Default::default() };
                probe!(c, audit.list_audit_events(r))
            }
        }),
    );
    // application_id
    row(
        "DeleteApplication",
        NotFound,
        &b.application_id,
        random_app(),
        Box::new({
            let c = admin.clone();
            move |id| probe!(c, applications.delete_application(proto::DeleteApplicationRequest { application_id: id }))
        }),
    );
    row(
        "CreateResourceGroup (application_ids)",
        Invalid("application_ids"),
        &b.application_id,
        random_app(),
        Box::new({
            let c = admin.clone();
            move |id| {
                let r = proto::CreateResourceGroupRequest {
                    name: "stolen".into(),
                    application_ids: vec![id],
                    ..Default::default()
                };
                probe!(c, applications.create_resource_group(r))
            }
        }),
    );
    row(
        "AddGroupMembers (application_ids)",
        Invalid("application_ids"),
        &b.application_id,
        random_app(),
        Box::new({
            let (c, group) = (admin.clone(), a_group.clone());
            move |id| {
                let r = proto::AddGroupMembersRequest {
                    resource_group_id: group.clone(),
                    application_ids: vec![id],
                    register_missing: false,
                };
                probe!(c, applications.add_group_members(r))
            }
        }),
    );
    row(
        "RemoveGroupMembers (application_ids)",
        Same,
        &b.application_id,
        random_app(),
        Box::new({
            let (c, group) = (admin.clone(), a_group.clone());
            move |id| {
                let r =
                    proto::RemoveGroupMembersRequest { resource_group_id: group.clone(), application_ids: vec![id] };
                probe!(c, applications.remove_group_members(r) => |r: proto::RemoveGroupMembersResponse| format!("removed {}", r.removed_count))
            }
        }),
    );
    row(
        "CreateConfiguration (application_ids)",
        Invalid("application_ids"),
        &b.application_id,
        random_app(),
        Box::new({
            let (c, cred) = (admin.clone(), a.credential_id.clone());
            move |id| {
                let r = proto::CreateConfigurationRequest {
                    application_ids: vec![id],
                    ..configuration("stolen", &cred, Trigger::Vulnerability)
                };
                probe!(c, configurations.create_configuration(r))
            }
        }),
    );
    row(
        "ListConfigurations (application_id)",
        Same,
        &b.application_id,
        random_app(),
        Box::new({
            let c = admin.clone();
            move |id| {
                let r = proto::ListConfigurationsRequest { application_id: id, ..Default::default() };
                probe!(c, configurations.list_configurations(r))
            }
        }),
    );
    row(
        "ListResourceGroups (application_id)",
        Same,
        &b.application_id,
        random_app(),
        Box::new({
            let c = admin.clone();
            move |id| {
                let r = proto::ListResourceGroupsRequest { application_id: id, ..Default::default() };
                probe!(c, applications.list_resource_groups(r))
            }
        }),
    );
    row(
        "ListEvents (application_id)",
        Same,
        &b.application_id,
        random_app(),
        Box::new({
            let c = admin.clone();
            move |id| {
                probe!(c, events.list_events(proto::ListEventsRequest { application_id: id, ..Default::default() }))
            }
        }),
    );
    row(
        "PreviewRouting (application_id)",
        Same,
        &b.application_id,
        random_app(),
        Box::new({
            let c = admin.clone();
            move |id| {
                let r = proto::PreviewRoutingRequest { event: Some(vulnerability(&id, Severity::Critical)) };
                probe!(c, configurations.preview_routing(r))
            }
        }),
    );
    // resource_group_id
    row(
        "ListApplications (resource_group_id)",
        NotFound,
        &b.group_id,
        uuid(),
        Box::new({
            let c = admin.clone();
            move |id| {
                let r = proto::ListApplicationsRequest { resource_group_id: id, ..Default::default() };
                probe!(c, applications.list_applications(r))
            }
        }),
    );
    row(
        "GetResourceGroup",
        NotFound,
        &b.group_id,
        uuid(),
        Box::new({
            let c = admin.clone();
            move |id| {
                probe!(c, applications.get_resource_group(proto::GetResourceGroupRequest { resource_group_id: id }))
            }
        }),
    );
    row(
        "UpdateResourceGroup",
        NotFound,
        &b.group_id,
        uuid(),
        Box::new({
            let c = admin.clone();
            move |id| {
                let r = proto::UpdateResourceGroupRequest {
                    resource_group_id: id,
                    name: "taken over".into(),
                    update_mask: mask(&["name"]),
                    ..Default::default()
                };
                probe!(c, applications.update_resource_group(r))
            }
        }),
    );
    row(
        "DeleteResourceGroup",
        NotFound,
        &b.group_id,
        uuid(),
        Box::new({
            let c = admin.clone();
            move |id| {
                probe!(
                    c,
                    applications.delete_resource_group(proto::DeleteResourceGroupRequest { resource_group_id: id })
                )
            }
        }),
    );
    row(
        "AddGroupMembers",
        NotFound,
        &b.group_id,
        uuid(),
        Box::new({
            let (c, app) = (admin.clone(), a_app.clone());
            move |id| {
                let r = proto::AddGroupMembersRequest {
                    resource_group_id: id,
                    application_ids: vec![app.clone()],
                    register_missing: true,
                };
                probe!(c, applications.add_group_members(r))
            }
        }),
    );
    row(
        "RemoveGroupMembers",
        NotFound,
        &b.group_id,
        uuid(),
        Box::new({
            let (c, app) = (admin.clone(), b.application_id.clone());
            move |id| {
                let r = proto::RemoveGroupMembersRequest { resource_group_id: id, application_ids: vec![app.clone()] };
                probe!(c, applications.remove_group_members(r))
            }
        }),
    );
    row(
        "CreateConfiguration (resource_group_ids)",
        Invalid("resource_group_ids"),
        &b.group_id,
        uuid(),
        Box::new({
            let (c, cred) = (admin.clone(), a.credential_id.clone());
            move |id| {
                let r = proto::CreateConfigurationRequest {
                    resource_group_ids: vec![id],
                    ..configuration("stolen", &cred, Trigger::Vulnerability)
                };
                probe!(c, configurations.create_configuration(r))
            }
        }),
    );
    row(
        "ListConfigurations (resource_group_id)",
        Same,
        &b.group_id,
        uuid(),
        Box::new({
            let c = admin.clone();
            move |id| {
                let r = proto::ListConfigurationsRequest { resource_group_id: id, ..Default::default() };
                probe!(c, configurations.list_configurations(r))
            }
        }),
    );
    // configuration_id
    row(
        "GetConfiguration",
        NotFound,
        &b.configuration_id,
        uuid(),
        Box::new({
            let c = admin.clone();
            move |id| {
                probe!(c, configurations.get_configuration(proto::GetConfigurationRequest { configuration_id: id }))
            }
        }),
    );
    row(
        "UpdateConfiguration",
        NotFound,
        &b.configuration_id,
        uuid(),
        Box::new({
            let c = admin.clone();
            move |id| {
                let r = proto::UpdateConfigurationRequest {
                    configuration_id: id,
                    name: "taken over".into(),
                    update_mask: mask(&["name"]),
                    ..Default::default()
                };
                probe!(c, configurations.update_configuration(r))
            }
        }),
    );
    row(
        "DeleteConfiguration",
        NotFound,
        &b.configuration_id,
        uuid(),
        Box::new({
            let c = admin.clone();
            move |id| {
                probe!(
                    c,
                    configurations.delete_configuration(proto::DeleteConfigurationRequest { configuration_id: id })
                )
            }
        }),
    );
    row(
        "ValidateConfiguration",
        NotFound,
        &b.configuration_id,
        uuid(),
        Box::new({
            let c = admin.clone();
            move |id| {
                let r = proto::ValidateConfigurationRequest { configuration_id: id, draft: None };
                probe!(c, configurations.validate_configuration(r))
            }
        }),
    );
    row(
        "RotateWebhookSecret",
        NotFound,
        &b.configuration_id,
        uuid(),
        Box::new({
            let c = admin.clone();
            move |id| {
                probe!(
                    c,
                    configurations.rotate_webhook_secret(proto::RotateWebhookSecretRequest { configuration_id: id })
                )
            }
        }),
    );
    row(
        "RegisterJiraWebhook",
        NotFound,
        &b.configuration_id,
        uuid(),
        Box::new({
            let c = admin.clone();
            move |id| {
                probe!(
                    c,
                    configurations.register_jira_webhook(proto::RegisterJiraWebhookRequest { configuration_id: id })
                )
            }
        }),
    );
    row(
        "ListDeliveries (configuration_id)",
        Same,
        &b.configuration_id,
        uuid(),
        Box::new({
            let c = admin.clone();
            move |id| {
                let r = proto::ListDeliveriesRequest { configuration_id: id, ..Default::default() };
                probe!(c, deliveries.list_deliveries(r))
            }
        }),
    );
    // event_id and external_id
    for (kind, other, random) in
        [("event_id", b.event_id.clone(), uuid()), ("external_id", b.external_id.clone(), random_external())]
    {
        let by = move |id: String| -> (String, String) {
            if kind == "event_id" { (id, String::new()) } else { (String::new(), id) }
        };
        let name = |rpc: &'static str| -> &'static str { format!("{rpc} ({kind})").leak() };
        row(
            name("GetEvent"),
            NotFound,
            &other,
            random.clone(),
            Box::new({
                let c = admin.clone();
                move |id| {
                    let (event_id, external_id) = by(id);
                    probe!(c, events.get_event(proto::GetEventRequest { event_id, external_id }))
                }
            }),
        );
        row(
            name("UpdateEventStatus"),
            NotFound,
            &other,
            random.clone(),
            Box::new({
                let c = admin.clone();
                move |id| {
                    let (event_id, external_id) = by(id);
                    let status = proto::EventStatus::Remediated as i32;
                    probe!(
                        c,
                        events.update_event_status(proto::UpdateEventStatusRequest { event_id, external_id, status })
                    )
                }
            }),
        );
        row(
            name("AddComment"),
            NotFound,
            &other,
            random.clone(),
            Box::new({
                let c = admin.clone();
                move |id| {
                    let (event_id, external_id) = by(id);
                    probe!(
                        c,
                        events.add_comment(proto::AddCommentRequest { event_id, external_id, body: "mine now".into() })
                    )
                }
            }),
        );
        row(
            name("DeleteComment"),
            NotFound,
            &other,
            random.clone(),
            Box::new({
                let (c, comment_id) = (admin.clone(), b_comment.clone());
                move |id| {
                    let (event_id, external_id) = by(id);
                    let r = proto::DeleteCommentRequest { event_id, external_id, comment_id: comment_id.clone() };
                    probe!(c, events.delete_comment(r))
                }
            }),
        );
        row(
            name("ListDeliveries"),
            Same,
            &other,
            random.clone(),
            Box::new({
                let c = admin.clone();
                move |id| {
                    let (event_id, external_id) = by(id);
                    let r = proto::ListDeliveriesRequest { event_id, external_id, ..Default::default() };
                    probe!(c, deliveries.list_deliveries(r))
                }
            }),
        );
    }
    // comment_id, on A's own event
    row(
        "DeleteComment (comment_id)",
        NotFound,
        &b.comment_id,
        uuid(),
        Box::new({
            let (c, event) = (admin.clone(), a_event.clone());
            move |id| {
                let r =
                    proto::DeleteCommentRequest { event_id: event.clone(), external_id: String::new(), comment_id: id };
                probe!(c, events.delete_comment(r))
            }
        }),
    );
    // delivery_id
    let b_delivery = b.delivery_id.clone().unwrap();
    row(
        "RetryDelivery",
        NotFound,
        &b_delivery,
        uuid(),
        Box::new({
            let c = admin.clone();
            move |id| probe!(c, deliveries.retry_delivery(proto::RetryDeliveryRequest { delivery_id: id }))
        }),
    );

    let mut failures = Vec::new();
    for r in &rows {
        let theirs = normalized((r.call)(r.other.clone()).await, &r.other);
        let random = normalized((r.call)(r.random.clone()).await, &r.random);
        let expected = match (&r.answer, &random) {
            (Answer::NotFound, Err((Code::NotFound, _))) | (Answer::Same, Ok(_)) => true,
            (Answer::Invalid(field), Err((Code::InvalidArgument, message))) => {
                message.starts_with(&format!("{field}:"))
            }
            _ => false,
        };
        if !expected {
            failures.push(format!("{}: a random id answers {random:?}, expected {:?}", r.name, r.answer));
        }
        if theirs != random {
            failures.push(format!("{}: B's id answers {theirs:?}, a random id {random:?}", r.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // A's own external_id namespace: B's external_id is just a new finding to A.
    let reuse = proto::SubmitEventRequest {
        external_id: b.external_id.clone(),
        ..vulnerability(&a.application_id, Severity::High)
    };
    assert!(submit(admin, reuse).await.created);

    assert_eq!(before, snapshot(&b.admin).await, "A's calls changed B");
}

/// Who may call what, as api.md's role table has it.
#[derive(Debug, Clone, Copy)]
struct Access {
    /// The least tenant role that may call; `None`: no tenant key may.
    min: Option<Role>,
    /// Whether the operator token may call.
    operator: bool,
}

const READER: Access = Access { min: Some(Role::Reader), operator: false };
const WRITER: Access = Access { min: Some(Role::Writer), operator: false };
const ADMIN: Access = Access { min: Some(Role::Admin), operator: false };
const READER_OR_OPERATOR: Access = Access { min: Some(Role::Reader), operator: true };
const ADMIN_OR_OPERATOR: Access = Access { min: Some(Role::Admin), operator: true };
const OPERATOR: Access = Access { min: None, operator: true };

const ROLE_TABLE: &[(&str, &str, Access)] = &[
    ("TenantService", "CreateTenant", OPERATOR),
    ("TenantService", "ListTenants", READER_OR_OPERATOR),
    ("TenantService", "CreateApiKey", ADMIN_OR_OPERATOR),
    ("TenantService", "ListApiKeys", READER_OR_OPERATOR),
    ("TenantService", "RevokeApiKey", ADMIN_OR_OPERATOR),
    ("CredentialService", "CreateCredential", ADMIN),
    ("CredentialService", "GetCredential", READER),
    ("CredentialService", "ListCredentials", READER),
    ("CredentialService", "UpdateCredential", ADMIN),
    ("CredentialService", "DeleteCredential", ADMIN),
    ("CredentialService", "TestConnection", ADMIN),
    ("ApplicationService", "UpsertApplication", ADMIN),
    ("ApplicationService", "ListApplications", READER),
    ("ApplicationService", "DeleteApplication", ADMIN),
    ("ApplicationService", "CreateResourceGroup", ADMIN),
    ("ApplicationService", "GetResourceGroup", READER),
    ("ApplicationService", "ListResourceGroups", READER),
    ("ApplicationService", "UpdateResourceGroup", ADMIN),
    ("ApplicationService", "DeleteResourceGroup", ADMIN),
    ("ApplicationService", "AddGroupMembers", ADMIN),
    ("ApplicationService", "RemoveGroupMembers", ADMIN),
    ("ConfigurationService", "CreateConfiguration", ADMIN),
    ("ConfigurationService", "GetConfiguration", READER),
    ("ConfigurationService", "ListConfigurations", READER),
    ("ConfigurationService", "UpdateConfiguration", ADMIN),
    ("ConfigurationService", "DeleteConfiguration", ADMIN),
    ("ConfigurationService", "ValidateConfiguration", ADMIN),
    ("ConfigurationService", "PreviewRouting", WRITER),
    ("ConfigurationService", "RotateWebhookSecret", ADMIN),
    ("ConfigurationService", "RegisterJiraWebhook", ADMIN),
    ("EventService", "SubmitEvent", WRITER),
    ("EventService", "SubmitEvents", WRITER),
    ("EventService", "GetEvent", READER),
    ("EventService", "ListEvents", READER),
    ("EventService", "UpdateEventStatus", WRITER),
    ("EventService", "AddComment", WRITER),
    ("EventService", "DeleteComment", WRITER),
    ("EventService", "WatchEventChanges", READER),
    ("DeliveryService", "ListDeliveries", READER),
    ("DeliveryService", "RetryDelivery", ADMIN),
    ("MetricsService", "GetMetrics", READER_OR_OPERATOR),
    ("MetricsService", "StreamMetrics", READER_OR_OPERATOR),
    ("AuditService", "ListAuditEvents", ADMIN),
];

/// Calls one RPC with a well-formed request naming ids that do not exist (or creating
/// something harmless), so that only the role table can refuse it.
async fn call(client: &Client, service: &str, method: &str, tenant_id: &str) -> Result<(), Status> {
    let id = random_id;
    let t = || tenant_id.to_owned();
    let event =
        || proto::SubmitEventRequest { external_id: format!("role-{}", id()), ..vulnerability("web", Severity::High) };
    let c = client;
    match (service, method) {
        ("TenantService", "CreateTenant") => {
            c.tenants().create_tenant(proto::CreateTenantRequest { name: format!("t-{}", id()) }).await.map(drop)
        }
        ("TenantService", "ListTenants") => {
            c.tenants().list_tenants(proto::ListTenantsRequest::default()).await.map(drop)
        }
        ("TenantService", "CreateApiKey") => c
            .tenants()
            .create_api_key(proto::CreateApiKeyRequest { tenant_id: t(), name: "k".into(), role: Role::Reader as i32 })
            .await
            .map(drop),
        ("TenantService", "ListApiKeys") => c
            .tenants()
            .list_api_keys(proto::ListApiKeysRequest { tenant_id: t(), ..Default::default() })
            .await
            .map(drop),
        ("TenantService", "RevokeApiKey") => {
            c.tenants().revoke_api_key(proto::RevokeApiKeyRequest { tenant_id: t(), api_key_id: id() }).await.map(drop)
        }
        ("CredentialService", "CreateCredential") => c
            .credentials()
            .create_credential(crate::credentials::new_credential(&id(), "https://acme.atlassian.net"))
            .await
            .map(drop),
        ("CredentialService", "GetCredential") => {
            c.credentials().get_credential(proto::GetCredentialRequest { credential_id: id() }).await.map(drop)
        }
        ("CredentialService", "ListCredentials") => {
            c.credentials().list_credentials(proto::ListCredentialsRequest::default()).await.map(drop)
        }
        ("CredentialService", "UpdateCredential") => c
            .credentials()
            .update_credential(proto::UpdateCredentialRequest {
                credential_id: id(),
                name: "n".into(),
                update_mask: mask(&["name"]),
                ..Default::default()
            })
            .await
            .map(drop),
        ("CredentialService", "DeleteCredential") => {
            c.credentials().delete_credential(proto::DeleteCredentialRequest { credential_id: id() }).await.map(drop)
        }
        ("CredentialService", "TestConnection") => c
            .credentials()
            .test_connection(proto::TestConnectionRequest { credential_id: id(), ..Default::default() })
            .await
            .map(drop),
        ("ApplicationService", "UpsertApplication") => c
            .applications()
            .upsert_application(proto::UpsertApplicationRequest { application_id: "web".into(), name: "Web".into() })
            .await
            .map(drop),
        ("ApplicationService", "ListApplications") => {
            c.applications().list_applications(proto::ListApplicationsRequest::default()).await.map(drop)
        }
        ("ApplicationService", "DeleteApplication") => c
            .applications()
            .delete_application(proto::DeleteApplicationRequest { application_id: format!("app-{}", id()) })
            .await
            .map(drop),
        ("ApplicationService", "CreateResourceGroup") => c
            .applications()
            .create_resource_group(proto::CreateResourceGroupRequest { name: id(), ..Default::default() })
            .await
            .map(drop),
        ("ApplicationService", "GetResourceGroup") => c
            .applications()
            .get_resource_group(proto::GetResourceGroupRequest { resource_group_id: id() })
            .await
            .map(drop),
        ("ApplicationService", "ListResourceGroups") => {
            c.applications().list_resource_groups(proto::ListResourceGroupsRequest::default()).await.map(drop)
        }
        ("ApplicationService", "UpdateResourceGroup") => c
            .applications()
            .update_resource_group(proto::UpdateResourceGroupRequest {
                resource_group_id: id(),
                name: "n".into(),
                update_mask: mask(&["name"]),
                ..Default::default()
            })
            .await
            .map(drop),
        ("ApplicationService", "DeleteResourceGroup") => c
            .applications()
            .delete_resource_group(proto::DeleteResourceGroupRequest { resource_group_id: id() })
            .await
            .map(drop),
        ("ApplicationService", "AddGroupMembers") => c
            .applications()
            .add_group_members(proto::AddGroupMembersRequest {
                resource_group_id: id(),
                application_ids: vec!["web".into()],
                register_missing: false,
            })
            .await
            .map(drop),
        ("ApplicationService", "RemoveGroupMembers") => c
            .applications()
            .remove_group_members(proto::RemoveGroupMembersRequest {
                resource_group_id: id(),
                application_ids: vec!["web".into()],
            })
            .await
            .map(drop),
        ("ConfigurationService", "CreateConfiguration") => c
            .configurations()
            .create_configuration(proto::CreateConfigurationRequest {
                application_ids: vec!["web".into()],
                ..configuration(&id(), &id(), Trigger::Vulnerability)
            })
            .await
            .map(drop),
        ("ConfigurationService", "GetConfiguration") => c
            .configurations()
            .get_configuration(proto::GetConfigurationRequest { configuration_id: id() })
            .await
            .map(drop),
        ("ConfigurationService", "ListConfigurations") => {
            c.configurations().list_configurations(proto::ListConfigurationsRequest::default()).await.map(drop)
        }
        ("ConfigurationService", "UpdateConfiguration") => c
            .configurations()
            .update_configuration(proto::UpdateConfigurationRequest {
                configuration_id: id(),
                name: "n".into(),
                update_mask: mask(&["name"]),
                ..Default::default()
            })
            .await
            .map(drop),
        ("ConfigurationService", "DeleteConfiguration") => c
            .configurations()
            .delete_configuration(proto::DeleteConfigurationRequest { configuration_id: id() })
            .await
            .map(drop),
        ("ConfigurationService", "ValidateConfiguration") => c
            .configurations()
            .validate_configuration(proto::ValidateConfigurationRequest { configuration_id: id(), draft: None })
            .await
            .map(drop),
        ("ConfigurationService", "PreviewRouting") => {
            c.configurations().preview_routing(proto::PreviewRoutingRequest { event: Some(event()) }).await.map(drop)
        }
        ("ConfigurationService", "RotateWebhookSecret") => c
            .configurations()
            .rotate_webhook_secret(proto::RotateWebhookSecretRequest { configuration_id: id() })
            .await
            .map(drop),
        ("ConfigurationService", "RegisterJiraWebhook") => c
            .configurations()
            .register_jira_webhook(proto::RegisterJiraWebhookRequest { configuration_id: id() })
            .await
            .map(drop),
        ("EventService", "SubmitEvent") => c.events().submit_event(event()).await.map(drop),
        ("EventService", "SubmitEvents") => {
            let stream = tokio_stream::iter([proto::SubmitEventsRequest { events: vec![event()] }]);
            c.events().submit_events(stream).await.map(drop)
        }
        ("EventService", "GetEvent") => {
            c.events().get_event(proto::GetEventRequest { event_id: id(), ..Default::default() }).await.map(drop)
        }
        ("EventService", "ListEvents") => c.events().list_events(proto::ListEventsRequest::default()).await.map(drop),
        ("EventService", "UpdateEventStatus") => c
            .events()
            .update_event_status(proto::UpdateEventStatusRequest {
                event_id: id(),
                status: proto::EventStatus::Remediated as i32,
                ..Default::default()
            })
            .await
            .map(drop),
        ("EventService", "AddComment") => c
            .events()
            .add_comment(proto::AddCommentRequest { event_id: id(), body: "hi".into(), ..Default::default() })
            .await
            .map(drop),
        ("EventService", "DeleteComment") => c
            .events()
            .delete_comment(proto::DeleteCommentRequest { event_id: id(), comment_id: id(), ..Default::default() })
            .await
            .map(drop),
        ("EventService", "WatchEventChanges") => {
            c.events().watch_event_changes(proto::WatchEventChangesRequest::default()).await.map(drop)
        }
        ("DeliveryService", "ListDeliveries") => {
            c.deliveries().list_deliveries(proto::ListDeliveriesRequest::default()).await.map(drop)
        }
        ("DeliveryService", "RetryDelivery") => {
            c.deliveries().retry_delivery(proto::RetryDeliveryRequest { delivery_id: id() }).await.map(drop)
        }
        ("MetricsService", "GetMetrics") => {
            c.metrics().get_metrics(proto::GetMetricsRequest::default()).await.map(drop)
        }
        ("MetricsService", "StreamMetrics") => {
            c.metrics().stream_metrics(proto::StreamMetricsRequest::default()).await.map(drop)
        }
        ("AuditService", "ListAuditEvents") => {
            c.audit().list_audit_events(proto::ListAuditEventsRequest::default()).await.map(drop)
        }
        other => panic!("no call for {other:?}"),
    }
}

#[tokio::test]
async fn every_rpc_answers_its_role_table_entry() {
    init_logging();
    // The table names every RPC of the contract, and nothing else.
    let fds = prost_types::FileDescriptorSet::decode(northstar_jira::proto::FILE_DESCRIPTOR_SET).unwrap();
    let mut contract: Vec<(String, String)> = fds
        .file
        .iter()
        .filter(|f| f.package() == "northstar.jira.v1")
        .flat_map(|f| f.service.iter())
        .flat_map(|s| s.method.iter().map(move |m| (s.name().to_owned(), m.name().to_owned())))
        .collect();
    contract.sort();
    let mut table: Vec<(String, String)> = ROLE_TABLE.iter().map(|(s, m, _)| (s.to_string(), m.to_string())).collect();
    table.sort();
    assert_eq!(table, contract, "the role table and the contract's RPCs differ");

    let test = TestApp::start().await;
    let (tenant_id, admin) = test.tenant_with_key("acme", Role::Admin).await;
    let reader = test.client(&test.create_key(&admin, &tenant_id, Role::Reader).await).await;
    let writer = test.client(&test.create_key(&admin, &tenant_id, Role::Writer).await).await;
    let operator = test.operator().await;
    let anonymous = test.anonymous().await;
    let callers = [
        ("READER", Some(Role::Reader), &reader),
        ("WRITER", Some(Role::Writer), &writer),
        ("ADMIN", Some(Role::Admin), &admin),
        ("operator", None, &operator),
    ];

    let mut failures = Vec::new();
    for (service, method, access) in ROLE_TABLE {
        for (who, role, client) in &callers {
            let allowed = match role {
                Some(role) => access.min.is_some_and(|min| *role as i32 >= min as i32),
                None => access.operator,
            };
            let answer = call(client, service, method, &tenant_id).await;
            let code = answer.as_ref().err().map_or(Code::Ok, Status::code);
            let message = answer.as_ref().err().map(|s| s.message().to_owned()).unwrap_or_default();
            if allowed
                && matches!(code, Code::PermissionDenied | Code::Unauthenticated | Code::Internal | Code::Unknown)
            {
                failures.push(format!("{service}/{method} as {who}: may call, got {code:?}: {message}"));
            }
            if !allowed && code != Code::PermissionDenied {
                failures.push(format!("{service}/{method} as {who}: may not call, got {code:?}: {message}"));
            }
        }
        let code = call(&anonymous, service, method, &tenant_id).await.err().map_or(Code::Ok, |s| s.code());
        if code != Code::Unauthenticated {
            failures.push(format!("{service}/{method} without a key: got {code:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// One audit event as expected.
struct Expected {
    action: &'static str,
    resource_type: AuditResourceType,
    resource_id: String,
    /// The key that made the change; `None` for the operator.
    key: Option<String>,
    before: bool,
    after: bool,
}

/// Checks the audit events recorded since the last call: exactly one, as `expected`.
struct Trail<'a> {
    admin: &'a Client,
    seen: HashSet<String>,
    failures: Vec<String>,
    total: usize,
}

impl Trail<'_> {
    async fn events(&self) -> Vec<proto::AuditEvent> {
        self.admin
            .audit()
            .list_audit_events(proto::ListAuditEventsRequest { page_size: 1000, ..Default::default() })
            .await
            .unwrap()
            .into_inner()
            .audit_events
    }

    async fn expect(&mut self, e: Expected) {
        self.total += 1;
        let new: Vec<proto::AuditEvent> =
            self.events().await.into_iter().filter(|a| !self.seen.contains(&a.audit_event_id)).collect();
        self.seen.extend(new.iter().map(|a| a.audit_event_id.clone()));
        let [event] = new.as_slice() else {
            let actions: Vec<&str> = new.iter().map(|a| a.action.as_str()).collect();
            self.failures.push(format!("{}: {} audit events ({actions:?}), expected one", e.action, new.len()));
            return;
        };
        let mut wrong = Vec::new();
        if event.action != e.action {
            wrong.push(format!("action {:?}", event.action));
        }
        if event.resource_type() != e.resource_type {
            wrong.push(format!("resource_type {:?}", event.resource_type()));
        }
        if event.resource_id != e.resource_id {
            wrong.push(format!("resource_id {:?} instead of {:?}", event.resource_id, e.resource_id));
        }
        match &e.key {
            Some(key) => {
                if event.actor_type() != proto::ActorType::ApiKey
                    || &event.api_key_id != key
                    || event.api_key_name.is_empty()
                {
                    wrong.push(format!(
                        "actor {:?} {:?} {:?}",
                        event.actor_type(),
                        event.api_key_id,
                        event.api_key_name
                    ));
                }
            }
            None => {
                if event.actor_type() != proto::ActorType::Operator || !event.api_key_id.is_empty() {
                    wrong.push(format!("actor {:?} {:?}", event.actor_type(), event.api_key_id));
                }
            }
        }
        if event.before.is_some() != e.before {
            wrong.push(format!("before {:?}", event.before));
        }
        if event.after.is_some() != e.after {
            wrong.push(format!("after {:?}", event.after));
        }
        if !wrong.is_empty() {
            self.failures.push(format!("{}: {}", e.action, wrong.join("; ")));
        }
    }
}

#[tokio::test]
async fn every_administrative_change_leaves_one_audit_event_without_secrets() {
    use AuditResourceType as R;
    init_logging();
    let sim = Simulator::start(SimConfig::default()).await;
    let test = TestApp::start().await;
    let operator = test.operator().await;
    let mut secrets: Vec<String> = vec![jira_sim::DEFAULT_TOKEN.into()];

    let tenant = crate::support::create_tenant(&operator, "acme").await;
    let created = operator
        .tenants()
        .create_api_key(proto::CreateApiKeyRequest {
            tenant_id: tenant.tenant_id.clone(),
            name: "admin".into(),
            role: Role::Admin as i32,
        })
        .await
        .unwrap()
        .into_inner();
    secrets.push(created.api_key.clone());
    let admin_key = created.key.unwrap().api_key_id;
    let admin = test.client(&created.api_key).await;
    let me = || Some(admin_key.clone());
    let expected = |action, resource_type, resource_id: &str, key: Option<String>, before, after| Expected {
        action,
        resource_type,
        resource_id: resource_id.to_owned(),
        key,
        before,
        after,
    };
    let mut trail = Trail { admin: &admin, seen: HashSet::new(), failures: Vec::new(), total: 0 };
    // The first two, made by the operator, come out together, oldest last.
    let first = trail.events().await;
    let actions: Vec<&str> = first.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["CreateApiKey", "CreateTenant"]);
    trail.seen.insert(first[0].audit_event_id.clone());
    trail.expect(expected("CreateTenant", R::Tenant, &tenant.tenant_id, None, false, true)).await;
    trail.seen.clear();
    trail.seen.insert(first[1].audit_event_id.clone());
    trail.expect(expected("CreateApiKey", R::ApiKey, &admin_key, None, false, true)).await;

    // API keys
    let reader = admin
        .tenants()
        .create_api_key(proto::CreateApiKeyRequest {
            tenant_id: String::new(),
            name: "reader".into(),
            role: Role::Reader as i32,
        })
        .await
        .unwrap()
        .into_inner();
    secrets.push(reader.api_key.clone());
    let reader_id = reader.key.unwrap().api_key_id;
    trail.expect(expected("CreateApiKey", R::ApiKey, &reader_id, me(), false, true)).await;
    admin
        .tenants()
        .revoke_api_key(proto::RevokeApiKeyRequest { tenant_id: String::new(), api_key_id: reader_id.clone() })
        .await
        .unwrap();
    trail.expect(expected("RevokeApiKey", R::ApiKey, &reader_id, me(), true, true)).await;

    // Credentials
    let cred = sim_credential(&admin, &sim).await;
    trail.expect(expected("CreateCredential", R::Credential, &cred, me(), false, true)).await;
    let (first_token, second_token) = ("spare-token-0001-do-not-log", "spare-token-0002-do-not-log");
    secrets.extend([first_token.to_owned(), second_token.to_owned()]);
    let spare = admin
        .credentials()
        .create_credential(proto::CreateCredentialRequest {
            api_token: first_token.into(),
            ..crate::credentials::new_credential("spare", "https://acme.atlassian.net")
        })
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap()
        .credential_id;
    trail.expect(expected("CreateCredential", R::Credential, &spare, me(), false, true)).await;
    admin
        .credentials()
        .update_credential(proto::UpdateCredentialRequest {
            credential_id: spare.clone(),
            name: "spare 2".into(),
            api_token: second_token.into(),
            update_mask: mask(&["name", "api_token"]),
            ..Default::default()
        })
        .await
        .unwrap();
    trail.expect(expected("UpdateCredential", R::Credential, &spare, me(), true, true)).await;
    admin
        .credentials()
        .delete_credential(proto::DeleteCredentialRequest { credential_id: spare.clone() })
        .await
        .unwrap();
    trail.expect(expected("DeleteCredential", R::Credential, &spare, me(), true, false)).await;

    // Applications: registering, then renaming, then deleting.
    let upsert =
        |id: &str, name: &str| proto::UpsertApplicationRequest { application_id: id.into(), name: name.into() };
    admin.applications().upsert_application(upsert("web", "Web")).await.unwrap();
    trail.expect(expected("UpsertApplication", R::Application, "web", me(), false, true)).await;
    admin.applications().upsert_application(upsert("web", "Web shop")).await.unwrap();
    trail.expect(expected("UpsertApplication", R::Application, "web", me(), true, true)).await;
    admin.applications().upsert_application(upsert("tmp", "")).await.unwrap();
    trail.expect(expected("UpsertApplication", R::Application, "tmp", me(), false, true)).await;
    admin
        .applications()
        .delete_application(proto::DeleteApplicationRequest { application_id: "tmp".into() })
        .await
        .unwrap();
    trail.expect(expected("DeleteApplication", R::Application, "tmp", me(), true, false)).await;

    // Resource groups and their members
    let group = crate::routing::group(&admin, "payments", &["web"]).await;
    trail.expect(expected("CreateResourceGroup", R::ResourceGroup, &group, me(), false, true)).await;
    admin
        .applications()
        .update_resource_group(proto::UpdateResourceGroupRequest {
            resource_group_id: group.clone(),
            name: "payments-eu".into(),
            update_mask: mask(&["name"]),
            ..Default::default()
        })
        .await
        .unwrap();
    trail.expect(expected("UpdateResourceGroup", R::ResourceGroup, &group, me(), true, true)).await;
    admin
        .applications()
        .add_group_members(proto::AddGroupMembersRequest {
            resource_group_id: group.clone(),
            application_ids: vec!["api".into()],
            register_missing: true,
        })
        .await
        .unwrap();
    trail.expect(expected("AddGroupMembers", R::ResourceGroup, &group, me(), true, true)).await;
    admin
        .applications()
        .remove_group_members(proto::RemoveGroupMembersRequest {
            resource_group_id: group.clone(),
            application_ids: vec!["api".into()],
        })
        .await
        .unwrap();
    trail.expect(expected("RemoveGroupMembers", R::ResourceGroup, &group, me(), true, true)).await;
    let spare_group = crate::routing::group(&admin, "spare", &[]).await;
    trail.expect(expected("CreateResourceGroup", R::ResourceGroup, &spare_group, me(), false, true)).await;
    admin
        .applications()
        .delete_resource_group(proto::DeleteResourceGroupRequest { resource_group_id: spare_group.clone() })
        .await
        .unwrap();
    trail.expect(expected("DeleteResourceGroup", R::ResourceGroup, &spare_group, me(), true, false)).await;

    // Configurations, their webhook secret and its registration in Jira.
    let sync = admin
        .configurations()
        .create_configuration(proto::CreateConfigurationRequest {
            application_ids: vec!["web".into()],
            resource_group_ids: vec![group.clone()],
            jira_project_key: "SIM".into(),
            bidirectional: true,
            ..configuration("sync", &cred, Trigger::Vulnerability)
        })
        .await
        .unwrap()
        .into_inner();
    secrets.push(sync.webhook_secret.clone());
    let sync_id = sync.configuration.unwrap().configuration_id;
    trail.expect(expected("CreateConfiguration", R::Configuration, &sync_id, me(), false, true)).await;
    admin
        .configurations()
        .update_configuration(proto::UpdateConfigurationRequest {
            configuration_id: sync_id.clone(),
            title_prefix: "[AppSec]".into(),
            update_mask: mask(&["title_prefix"]),
            ..Default::default()
        })
        .await
        .unwrap();
    trail.expect(expected("UpdateConfiguration", R::Configuration, &sync_id, me(), true, true)).await;
    let rotated = admin
        .configurations()
        .rotate_webhook_secret(proto::RotateWebhookSecretRequest { configuration_id: sync_id.clone() })
        .await
        .unwrap()
        .into_inner();
    secrets.push(rotated.webhook_secret);
    trail.expect(expected("RotateWebhookSecret", R::Configuration, &sync_id, me(), true, true)).await;
    admin
        .configurations()
        .register_jira_webhook(proto::RegisterJiraWebhookRequest { configuration_id: sync_id.clone() })
        .await
        .unwrap();
    trail.expect(expected("RegisterJiraWebhook", R::Configuration, &sync_id, me(), true, true)).await;
    let doomed = admin
        .configurations()
        .create_configuration(proto::CreateConfigurationRequest {
            application_ids: vec!["web".into()],
            enabled: Some(false),
            ..configuration("doomed", &cred, Trigger::Incident)
        })
        .await
        .unwrap()
        .into_inner()
        .configuration
        .unwrap()
        .configuration_id;
    trail.expect(expected("CreateConfiguration", R::Configuration, &doomed, me(), false, true)).await;
    admin
        .configurations()
        .delete_configuration(proto::DeleteConfigurationRequest { configuration_id: doomed.clone() })
        .await
        .unwrap();
    trail.expect(expected("DeleteConfiguration", R::Configuration, &doomed, me(), true, false)).await;

    // A delivery that dies (Jira no longer takes the token), retried by the admin.
    sim.set_api_token(jira_sim::DEFAULT_EMAIL, Some("rotated-elsewhere")).unwrap();
    submit(&admin, vulnerability("web", Severity::High)).await;
    let mut dead = String::new();
    eventually("the delivery dies", async || {
        let request = proto::ListDeliveriesRequest { state: proto::DeliveryState::Dead as i32, ..Default::default() };
        match admin.deliveries().list_deliveries(request).await.unwrap().into_inner().deliveries.first() {
            Some(d) => {
                dead = d.delivery_id.clone();
                true
            }
            None => false,
        }
    })
    .await;
    admin.deliveries().retry_delivery(proto::RetryDeliveryRequest { delivery_id: dead.clone() }).await.unwrap();
    trail.expect(expected("RetryDelivery", R::Delivery, &dead, me(), true, true)).await;

    // Submissions and comments are not administrative changes.
    admin
        .events()
        .add_comment(proto::AddCommentRequest {
            external_id: "vuln-1".into(),
            body: "seen".into(),
            ..Default::default()
        })
        .await
        .unwrap();

    let failures = std::mem::take(&mut trail.failures);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let all = admin
        .audit()
        .list_audit_events(proto::ListAuditEventsRequest { page_size: 1000, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.audit_events.len(), trail.total, "one audit event per change, no more");
    let bytes = all.encode_to_vec();
    let text = format!("{all:?}");
    for secret in &secrets {
        assert!(!secret.is_empty());
        let leaked = bytes.windows(secret.len()).any(|w| w == secret.as_bytes()) || text.contains(secret.as_str());
        assert!(!leaked, "a secret ({}...) is in the audit trail", &secret[..6]);
    }
}
