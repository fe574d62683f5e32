//! Every RPC of every service with malformed, missing, oversized and out-of-range fields: each
//! answers the contract's status (INVALID_ARGUMENT naming the field first, NOT_FOUND for
//! well-formed ids that do not exist, FAILED_PRECONDITION where the contract says so), and a
//! refused call stores nothing. The tables are the specification: one row per case.
use std::{future::Future, pin::Pin};

use base64::Engine as _;
use jira_sim::{SimConfig, Simulator};
use northstar_jira_client::{
    Client,
    proto::{self, Role, Severity, Trigger},
};
use tonic::{Code, Status};

use crate::{
    delivery::{submit, wait_for_tickets},
    routing::{configuration, vulnerability},
    support::{TestApp, TestDb, eventually, init_logging, sim_credential},
};

/// One RPC, ready to be sent; only its status matters.
pub(crate) type Call = Pin<Box<dyn Future<Output = Result<(), Status>> + Send>>;

/// `rpc!(client, service.method(request))`: the call as a [`Call`], the client cloned in.
macro_rules! rpc {
    ($client:expr, $service:ident . $method:ident ( $request:expr )) => {{
        let client = $client.clone();
        let request = $request;
        Box::pin(async move { client.$service().$method(request).await.map(drop) }) as $crate::bad_input::Call
    }};
}

/// What the contract answers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Expect {
    /// INVALID_ARGUMENT whose message starts with `<field>:`.
    Invalid(&'static str),
    NotFound,
    Precondition,
}

use Expect::{Invalid, NotFound, Precondition};

impl Expect {
    /// Why `code` and `message` do not answer as expected; `None` when they do.
    fn mismatch(self, code: Code, message: &str) -> Option<String> {
        let ok = match self {
            Invalid(field) => code == Code::InvalidArgument && message.starts_with(&format!("{field}:")),
            NotFound => code == Code::NotFound,
            Precondition => code == Code::FailedPrecondition,
        };
        (!ok).then(|| format!("expected {self:?}, got {code:?}: {message}"))
    }

    fn code(self) -> Code {
        match self {
            Invalid(_) => Code::InvalidArgument,
            NotFound => Code::NotFound,
            Precondition => Code::FailedPrecondition,
        }
    }
}

/// A table of cases, run one after the other; every mismatch is reported, not just the first.
#[derive(Default)]
pub(crate) struct Table {
    cases: Vec<(String, Expect, Call)>,
}

impl Table {
    pub(crate) fn case(&mut self, name: impl Into<String>, expect: Expect, call: Call) {
        self.cases.push((name.into(), expect, call));
    }

    /// Runs every case; panics listing all that answered otherwise.
    pub(crate) async fn run(self) {
        let total = self.cases.len();
        let mut failures = Vec::new();
        for (name, expect, call) in self.cases {
            let problem = match call.await {
                Ok(()) => Some(format!("expected {expect:?}, but the call succeeded")),
                Err(status) => expect.mismatch(status.code(), status.message()),
            };
            if let Some(problem) = problem {
                failures.push(format!("{name}: {problem}"));
            }
        }
        assert!(failures.is_empty(), "{} of {total} cases answered wrongly:\n{}", failures.len(), failures.join("\n"));
    }
}

pub(crate) fn long(n: usize) -> String {
    "x".repeat(n)
}

pub(crate) fn random_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub(crate) fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask { paths: paths.iter().map(|p| p.to_string()).collect() })
}

fn seconds(seconds: i64) -> Option<prost_types::Duration> {
    Some(prost_types::Duration { seconds, nanos: 0 })
}

fn at(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

/// A page token of the UUID kind, which text-keyed lists (applications) never issue.
fn uuid_page_token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([b"u".as_slice(), &[7u8; 16]].concat())
}

/// A tenant with one of everything, made through its ADMIN key.
pub(crate) struct Seed {
    pub tenant_id: String,
    pub admin: Client,
    pub api_key_id: String,
    pub credential_id: String,
    pub application_id: String,
    pub group_id: String,
    pub configuration_id: String,
    pub event_id: String,
    pub external_id: String,
    pub comment_id: String,
    /// The event's CREATE_TICKET delivery, when a simulator files tickets.
    pub delivery_id: Option<String>,
}

/// Seeds tenant `name`. With a simulator the configuration is enabled and files a real ticket
/// (and its comment), and this waits until every delivery has succeeded, so the tenant's state
/// holds still from then on; without one, the configuration is disabled and nothing is owed.
pub(crate) async fn seed(test: &TestApp, name: &str, sim: Option<&Simulator>) -> Seed {
    let (tenant_id, admin) = test.tenant_with_key(name, Role::Admin).await;
    let keys = admin.tenants().list_api_keys(proto::ListApiKeysRequest::default()).await.unwrap().into_inner();
    let api_key_id = keys.api_keys[0].api_key_id.clone();
    let credential_id = match sim {
        Some(sim) => sim_credential(&admin, sim).await,
        None => crate::routing::credential(&admin, &format!("https://{name}.atlassian.net")).await,
    };
    let application_id = format!("app-of-{name}");
    crate::routing::app(&admin, &application_id).await;
    let group_id = crate::routing::group(&admin, &format!("group-of-{name}"), &[application_id.as_str()]).await;
    let configuration_id = admin
        .configurations()
        .create_configuration(proto::CreateConfigurationRequest {
            application_ids: vec![application_id.clone()],
            resource_group_ids: vec![group_id.clone()],
            jira_project_key: "SIM".into(),
            enabled: Some(sim.is_some()),
            ..configuration(&format!("routes-of-{name}"), &credential_id, Trigger::Vulnerability)
        })
        .await
        .unwrap()
        .into_inner()
        .configuration
        .unwrap()
        .configuration_id;
    let external_id = format!("vuln-of-{name}");
    let event = submit(
        &admin,
        proto::SubmitEventRequest {
            external_id: external_id.clone(),
            ..vulnerability(&application_id, Severity::High)
        },
    )
    .await
    .event
    .unwrap();
    if sim.is_some() {
        wait_for_tickets(&admin, &external_id, 1).await;
    }
    let comment_id = admin
        .events()
        .add_comment(proto::AddCommentRequest {
            external_id: external_id.clone(),
            body: "looking into it".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .comment
        .unwrap()
        .comment_id;
    let delivery_id = match sim {
        Some(_) => {
            settle(&admin).await;
            Some(
                deliveries(&admin)
                    .await
                    .into_iter()
                    .find(|d| d.kind() == proto::DeliveryKind::CreateTicket)
                    .unwrap()
                    .delivery_id,
            )
        }
        None => None,
    };
    Seed {
        tenant_id,
        admin,
        api_key_id,
        credential_id,
        application_id,
        group_id,
        configuration_id,
        event_id: event.event_id,
        external_id,
        comment_id,
        delivery_id,
    }
}

async fn deliveries(client: &Client) -> Vec<proto::Delivery> {
    client
        .deliveries()
        .list_deliveries(proto::ListDeliveriesRequest { page_size: 1000, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .deliveries
}

/// Waits until everything owed to Jira (tickets, comments, the duplicate sweep) has succeeded.
pub(crate) async fn settle(client: &Client) {
    eventually("every delivery succeeds", async || {
        let all = deliveries(client).await;
        !all.is_empty() && all.iter().all(|d| d.state() == proto::DeliveryState::Succeeded)
    })
    .await;
}

/// Everything a tenant holds, as its ADMIN key lists it.
#[derive(Debug, PartialEq)]
pub(crate) struct Snapshot {
    credentials: Vec<proto::Credential>,
    applications: Vec<proto::Application>,
    groups: Vec<proto::GetResourceGroupResponse>,
    configurations: Vec<proto::Configuration>,
    events: Vec<proto::GetEventResponse>,
    deliveries: Vec<proto::Delivery>,
    api_keys: Vec<proto::ApiKey>,
    audit_events: usize,
}

pub(crate) async fn snapshot(admin: &Client) -> Snapshot {
    const ALL: i32 = 1000;
    let credentials = admin
        .credentials()
        .list_credentials(proto::ListCredentialsRequest { page_size: ALL, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .credentials;
    let applications = admin
        .applications()
        .list_applications(proto::ListApplicationsRequest { page_size: ALL, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .applications;
    let mut groups = Vec::new();
    for group in admin
        .applications()
        .list_resource_groups(proto::ListResourceGroupsRequest { page_size: ALL, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .resource_groups
    {
        let request = proto::GetResourceGroupRequest { resource_group_id: group.resource_group_id };
        groups.push(admin.applications().get_resource_group(request).await.unwrap().into_inner());
    }
    let configurations = admin
        .configurations()
        .list_configurations(proto::ListConfigurationsRequest { page_size: ALL, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .configurations;
    let mut events = Vec::new();
    for event in admin
        .events()
        .list_events(proto::ListEventsRequest { page_size: ALL, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .events
    {
        let request = proto::GetEventRequest { event_id: event.event_id, ..Default::default() };
        events.push(admin.events().get_event(request).await.unwrap().into_inner());
    }
    let mut api_keys = admin
        .tenants()
        .list_api_keys(proto::ListApiKeysRequest { page_size: ALL, include_revoked: true, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .api_keys;
    // Using a key is not a change to it, and the snapshot itself uses one.
    for key in &mut api_keys {
        key.last_used_time = None;
    }
    let audit_events = admin
        .audit()
        .list_audit_events(proto::ListAuditEventsRequest { page_size: ALL, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .audit_events
        .len();
    Snapshot {
        credentials,
        applications,
        groups,
        configurations,
        events,
        deliveries: deliveries(admin).await,
        api_keys,
        audit_events,
    }
}

/// Runs `table` against a seeded tenant and checks that the tenant's state did not move.
async fn refused_and_nothing_stored(seed: &Seed, table: Table) {
    let before = snapshot(&seed.admin).await;
    table.run().await;
    let after = snapshot(&seed.admin).await;
    assert_eq!(before, after, "a refused call changed the tenant");
}

#[tokio::test]
async fn tenant_and_credential_calls_refuse_bad_input() {
    init_logging();
    // The contract's own Jira rules (https only, no internal hosts) apply only without the
    // simulator allowance.
    let test = TestApp::start_with(TestDb::new().await, |c| c.allow_insecure_jira = false).await;
    let s = seed(&test, "acme", None).await;
    let (admin, operator) = (&s.admin, &test.operator().await);
    let tenants_before = operator.tenants().list_tenants(proto::ListTenantsRequest::default()).await.unwrap();
    let mut t = Table::default();

    let tenant = |name: &str| proto::CreateTenantRequest { name: name.into() };
    t.case("CreateTenant empty name", Invalid("name"), rpc!(operator, tenants.create_tenant(tenant(""))));
    t.case("CreateTenant blank name", Invalid("name"), rpc!(operator, tenants.create_tenant(tenant(" \t "))));
    t.case("CreateTenant long name", Invalid("name"), rpc!(operator, tenants.create_tenant(tenant(&long(201)))));
    t.case("CreateTenant NUL in name", Invalid("name"), rpc!(operator, tenants.create_tenant(tenant("a\0b"))));

    let list_tenants =
        |page_size: i32, page_token: &str| proto::ListTenantsRequest { page_size, page_token: page_token.into() };
    t.case(
        "ListTenants negative page_size",
        Invalid("page_size"),
        rpc!(operator, tenants.list_tenants(list_tenants(-1, ""))),
    );
    t.case(
        "ListTenants garbage page_token",
        Invalid("page_token"),
        rpc!(operator, tenants.list_tenants(list_tenants(0, "!!"))),
    );
    t.case(
        "ListTenants tampered page_token",
        Invalid("page_token"),
        rpc!(admin, tenants.list_tenants(list_tenants(0, "eA"))),
    );

    let key = |tenant_id: &str, name: &str, role: i32| proto::CreateApiKeyRequest {
        tenant_id: tenant_id.into(),
        name: name.into(),
        role,
    };
    let reader = Role::Reader as i32;
    t.case("CreateApiKey empty name", Invalid("name"), rpc!(admin, tenants.create_api_key(key("", "", reader))));
    t.case("CreateApiKey blank name", Invalid("name"), rpc!(admin, tenants.create_api_key(key("", "   ", reader))));
    t.case("CreateApiKey long name", Invalid("name"), rpc!(admin, tenants.create_api_key(key("", &long(201), reader))));
    t.case("CreateApiKey UNSPECIFIED role", Invalid("role"), rpc!(admin, tenants.create_api_key(key("", "k", 0))));
    t.case("CreateApiKey unknown role", Invalid("role"), rpc!(admin, tenants.create_api_key(key("", "k", 42))));
    t.case(
        "CreateApiKey non-UUID tenant",
        Invalid("tenant_id"),
        rpc!(admin, tenants.create_api_key(key("t-1", "k", reader))),
    );
    t.case(
        "CreateApiKey unknown tenant",
        NotFound,
        rpc!(admin, tenants.create_api_key(key(&random_id(), "k", reader))),
    );
    t.case(
        "CreateApiKey operator without tenant",
        Invalid("tenant_id"),
        rpc!(operator, tenants.create_api_key(key("", "k", reader))),
    );
    t.case(
        "CreateApiKey operator unknown tenant",
        NotFound,
        rpc!(operator, tenants.create_api_key(key(&random_id(), "k", reader))),
    );
    t.case(
        "CreateApiKey operator bad role",
        Invalid("role"),
        rpc!(operator, tenants.create_api_key(key(&s.tenant_id, "k", 42))),
    );

    let keys = |tenant_id: &str, page_size: i32, page_token: &str| proto::ListApiKeysRequest {
        tenant_id: tenant_id.into(),
        page_size,
        page_token: page_token.into(),
        include_revoked: false,
    };
    t.case(
        "ListApiKeys non-UUID tenant",
        Invalid("tenant_id"),
        rpc!(admin, tenants.list_api_keys(keys("nope", 0, ""))),
    );
    t.case(
        "ListApiKeys negative page_size",
        Invalid("page_size"),
        rpc!(admin, tenants.list_api_keys(keys("", -5, ""))),
    );
    t.case(
        "ListApiKeys garbage page_token",
        Invalid("page_token"),
        rpc!(admin, tenants.list_api_keys(keys("", 0, "%%%"))),
    );
    t.case("ListApiKeys unknown tenant", NotFound, rpc!(admin, tenants.list_api_keys(keys(&random_id(), 0, ""))));
    t.case(
        "ListApiKeys operator without tenant",
        Invalid("tenant_id"),
        rpc!(operator, tenants.list_api_keys(keys("", 0, ""))),
    );
    t.case(
        "ListApiKeys operator unknown tenant",
        NotFound,
        rpc!(operator, tenants.list_api_keys(keys(&random_id(), 0, ""))),
    );

    let revoke = |tenant_id: &str, api_key_id: &str| proto::RevokeApiKeyRequest {
        tenant_id: tenant_id.into(),
        api_key_id: api_key_id.into(),
    };
    t.case("RevokeApiKey missing id", Invalid("api_key_id"), rpc!(admin, tenants.revoke_api_key(revoke("", ""))));
    t.case("RevokeApiKey non-UUID id", Invalid("api_key_id"), rpc!(admin, tenants.revoke_api_key(revoke("", "123"))));
    t.case(
        "RevokeApiKey non-UUID tenant",
        Invalid("tenant_id"),
        rpc!(admin, tenants.revoke_api_key(revoke("x", &s.api_key_id))),
    );
    t.case("RevokeApiKey unknown key", NotFound, rpc!(admin, tenants.revoke_api_key(revoke("", &random_id()))));
    t.case(
        "RevokeApiKey operator unknown key",
        NotFound,
        rpc!(operator, tenants.revoke_api_key(revoke(&s.tenant_id, &random_id()))),
    );

    let credential = |name: &str, jira_url: &str, email: &str, api_token: &str| proto::CreateCredentialRequest {
        name: name.into(),
        jira_url: jira_url.into(),
        email: email.into(),
        api_token: api_token.into(),
    };
    let good_url = "https://acme.atlassian.net";
    let create = |c: proto::CreateCredentialRequest| rpc!(admin, credentials.create_credential(c));
    t.case("CreateCredential empty name", Invalid("name"), create(credential("", good_url, "a@b.example", "tok")));
    t.case("CreateCredential blank name", Invalid("name"), create(credential("  ", good_url, "a@b.example", "tok")));
    t.case(
        "CreateCredential long name",
        Invalid("name"),
        create(credential(&long(201), good_url, "a@b.example", "tok")),
    );
    t.case("CreateCredential missing URL", Invalid("jira_url"), create(credential("n", "", "a@b.example", "tok")));
    t.case(
        "CreateCredential relative URL",
        Invalid("jira_url"),
        create(credential("n", "acme.atlassian.net", "a@b.example", "tok")),
    );
    t.case(
        "CreateCredential ftp URL",
        Invalid("jira_url"),
        create(credential("n", "ftp://acme.example", "a@b.example", "tok")),
    );
    t.case(
        "CreateCredential http URL",
        Invalid("jira_url"),
        create(credential("n", "http://acme.atlassian.net", "a@b.example", "tok")),
    );
    t.case(
        "CreateCredential loopback URL",
        Invalid("jira_url"),
        create(credential("n", "https://127.0.0.1", "a@b.example", "tok")),
    );
    t.case(
        "CreateCredential private URL",
        Invalid("jira_url"),
        create(credential("n", "https://10.1.2.3", "a@b.example", "tok")),
    );
    t.case(
        "CreateCredential URL with credentials",
        Invalid("jira_url"),
        create(credential("n", "https://bot:hunter2@acme.atlassian.net", "a@b.example", "tok")),
    );
    t.case(
        "CreateCredential overlong URL",
        Invalid("jira_url"),
        create(credential("n", &format!("{good_url}/{}", long(5000)), "a@b.example", "tok")),
    );
    t.case("CreateCredential missing email", Invalid("email"), create(credential("n", good_url, "", "tok")));
    t.case(
        "CreateCredential malformed email",
        Invalid("email"),
        create(credential("n", good_url, "not-an-email", "tok")),
    );
    t.case(
        "CreateCredential long email",
        Invalid("email"),
        create(credential("n", good_url, &format!("{}@b.example", long(300)), "tok")),
    );
    t.case(
        "CreateCredential missing token",
        Invalid("api_token"),
        create(credential("n", good_url, "a@b.example", "")),
    );
    t.case(
        "CreateCredential token with space",
        Invalid("api_token"),
        create(credential("n", good_url, "a@b.example", "a b")),
    );
    t.case(
        "CreateCredential long token",
        Invalid("api_token"),
        create(credential("n", good_url, "a@b.example", &long(1025))),
    );

    let get = |id: &str| proto::GetCredentialRequest { credential_id: id.into() };
    t.case("GetCredential missing id", Invalid("credential_id"), rpc!(admin, credentials.get_credential(get(""))));
    t.case("GetCredential non-UUID id", Invalid("credential_id"), rpc!(admin, credentials.get_credential(get("abc"))));
    t.case("GetCredential unknown id", NotFound, rpc!(admin, credentials.get_credential(get(&random_id()))));

    let list =
        |page_size: i32, page_token: &str| proto::ListCredentialsRequest { page_size, page_token: page_token.into() };
    t.case(
        "ListCredentials negative page_size",
        Invalid("page_size"),
        rpc!(admin, credentials.list_credentials(list(-1, ""))),
    );
    t.case(
        "ListCredentials garbage page_token",
        Invalid("page_token"),
        rpc!(admin, credentials.list_credentials(list(0, "zz!"))),
    );

    let update = |paths: &[&str], f: fn(&mut proto::UpdateCredentialRequest)| {
        let mut r = proto::UpdateCredentialRequest {
            credential_id: s.credential_id.clone(),
            update_mask: mask(paths),
            ..Default::default()
        };
        f(&mut r);
        rpc!(admin, credentials.update_credential(r))
    };
    t.case("UpdateCredential no mask", Invalid("update_mask"), update(&[], |r| r.name = "n".into()));
    t.case("UpdateCredential unknown mask path", Invalid("update_mask"), update(&["bogus"], |r| r.name = "n".into()));
    t.case("UpdateCredential empty name", Invalid("name"), update(&["name"], |_| {}));
    t.case("UpdateCredential long name", Invalid("name"), update(&["name"], |r| r.name = long(201)));
    t.case(
        "UpdateCredential URL with credentials",
        Invalid("jira_url"),
        update(&["jira_url"], |r| r.jira_url = "https://u:p@acme.atlassian.net".into()),
    );
    t.case(
        "UpdateCredential http URL",
        Invalid("jira_url"),
        update(&["jira_url"], |r| r.jira_url = "http://acme.atlassian.net".into()),
    );
    t.case("UpdateCredential malformed email", Invalid("email"), update(&["email"], |r| r.email = "x".into()));
    t.case("UpdateCredential empty token", Invalid("api_token"), update(&["api_token"], |_| {}));
    t.case(
        "UpdateCredential non-UUID id",
        Invalid("credential_id"),
        update(&["name"], |r| r.credential_id = "zz".into()),
    );
    t.case(
        "UpdateCredential unknown id",
        NotFound,
        update(&["name"], |r| {
            r.credential_id = uuid::Uuid::new_v4().to_string();
            r.name = "n".into();
        }),
    );

    let delete = |id: &str| proto::DeleteCredentialRequest { credential_id: id.into() };
    t.case(
        "DeleteCredential missing id",
        Invalid("credential_id"),
        rpc!(admin, credentials.delete_credential(delete(""))),
    );
    t.case("DeleteCredential unknown id", NotFound, rpc!(admin, credentials.delete_credential(delete(&random_id()))));
    t.case(
        "DeleteCredential in use",
        Precondition,
        rpc!(admin, credentials.delete_credential(delete(&s.credential_id))),
    );

    let test_connection = |id: &str, url: &str, email: &str, token: &str| proto::TestConnectionRequest {
        credential_id: id.into(),
        jira_url: url.into(),
        email: email.into(),
        api_token: token.into(),
    };
    let tc = |r: proto::TestConnectionRequest| rpc!(admin, credentials.test_connection(r));
    t.case("TestConnection nothing given", Invalid("credential_id"), tc(test_connection("", "", "", "")));
    t.case(
        "TestConnection both given",
        Invalid("credential_id"),
        tc(test_connection(&s.credential_id, good_url, "a@b.example", "t")),
    );
    t.case("TestConnection non-UUID id", Invalid("credential_id"), tc(test_connection("bad", "", "", "")));
    t.case("TestConnection unknown id", NotFound, tc(test_connection(&random_id(), "", "", "")));
    t.case("TestConnection inline without URL", Invalid("jira_url"), tc(test_connection("", "", "a@b.example", "t")));
    t.case(
        "TestConnection inline malformed URL",
        Invalid("jira_url"),
        tc(test_connection("", "nope", "a@b.example", "t")),
    );
    t.case("TestConnection inline without email", Invalid("email"), tc(test_connection("", good_url, "", "t")));
    t.case(
        "TestConnection inline without token",
        Invalid("api_token"),
        tc(test_connection("", good_url, "a@b.example", "")),
    );

    refused_and_nothing_stored(&s, t).await;
    let tenants_after = operator.tenants().list_tenants(proto::ListTenantsRequest::default()).await.unwrap();
    assert_eq!(tenants_before.into_inner(), tenants_after.into_inner(), "a refused CreateTenant stored a tenant");
}

#[tokio::test]
async fn application_and_group_calls_refuse_bad_input() {
    init_logging();
    let test = TestApp::start().await;
    let s = seed(&test, "acme", None).await;
    let admin = &s.admin;
    let mut t = Table::default();

    let upsert = |id: &str, name: &str| {
        let r = proto::UpsertApplicationRequest { application_id: id.into(), name: name.into() };
        rpc!(admin, applications.upsert_application(r))
    };
    t.case("UpsertApplication missing id", Invalid("application_id"), upsert("", "n"));
    t.case("UpsertApplication blank id", Invalid("application_id"), upsert("   ", "n"));
    t.case("UpsertApplication long id", Invalid("application_id"), upsert(&long(256), "n"));
    t.case("UpsertApplication control character in id", Invalid("application_id"), upsert("a\u{7}b", "n"));
    t.case("UpsertApplication long name", Invalid("name"), upsert("new-app", &long(201)));
    t.case("UpsertApplication NUL in name", Invalid("name"), upsert("new-app", "a\0b"));

    let list = |page_size: i32, page_token: &str, group: &str| proto::ListApplicationsRequest {
        page_size,
        page_token: page_token.into(),
        resource_group_id: group.into(),
    };
    t.case(
        "ListApplications negative page_size",
        Invalid("page_size"),
        rpc!(admin, applications.list_applications(list(-1, "", ""))),
    );
    t.case(
        "ListApplications garbage page_token",
        Invalid("page_token"),
        rpc!(admin, applications.list_applications(list(0, "!!", ""))),
    );
    t.case(
        "ListApplications page_token of another list",
        Invalid("page_token"),
        rpc!(admin, applications.list_applications(list(0, &uuid_page_token(), ""))),
    );
    t.case(
        "ListApplications non-UUID group",
        Invalid("resource_group_id"),
        rpc!(admin, applications.list_applications(list(0, "", "g"))),
    );
    t.case(
        "ListApplications unknown group",
        NotFound,
        rpc!(admin, applications.list_applications(list(0, "", &random_id()))),
    );

    let delete = |id: &str| {
        rpc!(admin, applications.delete_application(proto::DeleteApplicationRequest { application_id: id.into() }))
    };
    t.case("DeleteApplication missing id", Invalid("application_id"), delete(""));
    t.case("DeleteApplication long id", Invalid("application_id"), delete(&long(256)));
    t.case("DeleteApplication unknown id", NotFound, delete("no-such-app"));
    t.case("DeleteApplication named by a configuration", Precondition, delete(&s.application_id));

    let create = |name: &str, description: &str, ids: Vec<String>| {
        let r = proto::CreateResourceGroupRequest {
            name: name.into(),
            description: description.into(),
            application_ids: ids,
        };
        rpc!(admin, applications.create_resource_group(r))
    };
    t.case("CreateResourceGroup empty name", Invalid("name"), create("", "", vec![]));
    t.case("CreateResourceGroup blank name", Invalid("name"), create(" ", "", vec![]));
    t.case("CreateResourceGroup long name", Invalid("name"), create(&long(201), "", vec![]));
    t.case("CreateResourceGroup long description", Invalid("description"), create("g", &long(2001), vec![]));
    t.case("CreateResourceGroup NUL in description", Invalid("description"), create("g", "a\0b", vec![]));
    t.case("CreateResourceGroup unknown member", Invalid("application_ids"), create("g", "", vec!["ghost".into()]));
    t.case("CreateResourceGroup empty member id", Invalid("application_ids"), create("g", "", vec![String::new()]));
    t.case(
        "CreateResourceGroup too many members",
        Invalid("application_ids"),
        create("g", "", (0..1001).map(|i| format!("a{i}")).collect()),
    );

    let get = |id: &str| {
        rpc!(admin, applications.get_resource_group(proto::GetResourceGroupRequest { resource_group_id: id.into() }))
    };
    t.case("GetResourceGroup missing id", Invalid("resource_group_id"), get(""));
    t.case("GetResourceGroup non-UUID id", Invalid("resource_group_id"), get("x"));
    t.case("GetResourceGroup unknown id", NotFound, get(&random_id()));

    let groups = |page_size: i32, page_token: &str, app: &str| proto::ListResourceGroupsRequest {
        page_size,
        page_token: page_token.into(),
        application_id: app.into(),
    };
    t.case(
        "ListResourceGroups negative page_size",
        Invalid("page_size"),
        rpc!(admin, applications.list_resource_groups(groups(-1, "", ""))),
    );
    t.case(
        "ListResourceGroups garbage page_token",
        Invalid("page_token"),
        rpc!(admin, applications.list_resource_groups(groups(0, "!", ""))),
    );
    t.case(
        "ListResourceGroups long application filter",
        Invalid("application_id"),
        rpc!(admin, applications.list_resource_groups(groups(0, "", &long(256)))),
    );

    let update = |id: &str, paths: &[&str], name: &str, description: &str| {
        let r = proto::UpdateResourceGroupRequest {
            resource_group_id: id.into(),
            name: name.into(),
            description: description.into(),
            update_mask: mask(paths),
        };
        rpc!(admin, applications.update_resource_group(r))
    };
    let g = s.group_id.as_str();
    t.case("UpdateResourceGroup no mask", Invalid("update_mask"), update(g, &[], "n", ""));
    t.case("UpdateResourceGroup unknown mask path", Invalid("update_mask"), update(g, &["members"], "n", ""));
    t.case("UpdateResourceGroup empty name", Invalid("name"), update(g, &["name"], "", ""));
    t.case("UpdateResourceGroup blank name", Invalid("name"), update(g, &["name"], "  ", ""));
    t.case(
        "UpdateResourceGroup long description",
        Invalid("description"),
        update(g, &["description"], "", &long(2001)),
    );
    t.case("UpdateResourceGroup non-UUID id", Invalid("resource_group_id"), update("x", &["name"], "n", ""));
    t.case("UpdateResourceGroup unknown id", NotFound, update(&random_id(), &["name"], "n", ""));

    let delete_group = |id: &str| {
        rpc!(
            admin,
            applications.delete_resource_group(proto::DeleteResourceGroupRequest { resource_group_id: id.into() })
        )
    };
    t.case("DeleteResourceGroup non-UUID id", Invalid("resource_group_id"), delete_group("x"));
    t.case("DeleteResourceGroup unknown id", NotFound, delete_group(&random_id()));
    t.case("DeleteResourceGroup routed from", Precondition, delete_group(g));

    let add = |id: &str, ids: Vec<String>| {
        let r = proto::AddGroupMembersRequest {
            resource_group_id: id.into(),
            application_ids: ids,
            register_missing: false,
        };
        rpc!(admin, applications.add_group_members(r))
    };
    t.case("AddGroupMembers no ids", Invalid("application_ids"), add(g, vec![]));
    t.case("AddGroupMembers empty id", Invalid("application_ids"), add(g, vec![String::new()]));
    t.case("AddGroupMembers unknown application", Invalid("application_ids"), add(g, vec!["ghost".into()]));
    t.case(
        "AddGroupMembers too many ids",
        Invalid("application_ids"),
        add(g, (0..1001).map(|i| format!("a{i}")).collect()),
    );
    t.case("AddGroupMembers non-UUID group", Invalid("resource_group_id"), add("x", vec![s.application_id.clone()]));
    t.case("AddGroupMembers unknown group", NotFound, add(&random_id(), vec![s.application_id.clone()]));

    let remove = |id: &str, ids: Vec<String>| {
        let r = proto::RemoveGroupMembersRequest { resource_group_id: id.into(), application_ids: ids };
        rpc!(admin, applications.remove_group_members(r))
    };
    t.case("RemoveGroupMembers no ids", Invalid("application_ids"), remove(g, vec![]));
    t.case("RemoveGroupMembers long id", Invalid("application_ids"), remove(g, vec![long(256)]));
    t.case(
        "RemoveGroupMembers non-UUID group",
        Invalid("resource_group_id"),
        remove("x", vec![s.application_id.clone()]),
    );
    t.case("RemoveGroupMembers unknown group", NotFound, remove(&random_id(), vec![s.application_id.clone()]));

    refused_and_nothing_stored(&s, t).await;
}

fn field(field_id: &str, value: proto::additional_field::Value) -> proto::AdditionalField {
    proto::AdditionalField { field_id: field_id.into(), value: Some(value) }
}

fn strings(values: impl IntoIterator<Item = String>) -> proto::StringList {
    proto::StringList { values: values.into_iter().collect() }
}

fn band(min_score: f64, priority: &str) -> proto::PriorityBand {
    proto::PriorityBand { min_score, priority: priority.into() }
}

#[tokio::test]
async fn configuration_calls_refuse_bad_input() {
    use proto::additional_field::Value as V;
    init_logging();
    let test = TestApp::start().await;
    let s = seed(&test, "acme", None).await;
    let admin = &s.admin;
    let mut t = Table::default();

    let good = proto::CreateConfigurationRequest {
        application_ids: vec![s.application_id.clone()],
        ..configuration("second", &s.credential_id, Trigger::Vulnerability)
    };
    // The rules every create and (through its mask) every update applies, as (case, field,
    // change to a valid request).
    type Change = Box<dyn Fn(&mut proto::CreateConfigurationRequest)>;
    let rules: Vec<(&str, &'static str, Change)> = vec![
        ("empty name", "name", Box::new(|r| r.name = String::new())),
        ("blank name", "name", Box::new(|r| r.name = "   ".into())),
        ("long name", "name", Box::new(|r| r.name = long(201))),
        ("missing credential", "credential_id", Box::new(|r| r.credential_id = String::new())),
        ("non-UUID credential", "credential_id", Box::new(|r| r.credential_id = "c".into())),
        ("unknown credential", "credential_id", Box::new(|r| r.credential_id = random_id())),
        ("no applications or groups", "application_ids", Box::new(|r| r.application_ids.clear())),
        ("unknown application", "application_ids", Box::new(|r| r.application_ids = vec!["ghost".into()])),
        ("empty application id", "application_ids", Box::new(|r| r.application_ids = vec![String::new()])),
        ("non-UUID group", "resource_group_ids", Box::new(|r| r.resource_group_ids = vec!["g".into()])),
        ("unknown group", "resource_group_ids", Box::new(|r| r.resource_group_ids = vec![random_id()])),
        ("missing project key", "jira_project_key", Box::new(|r| r.jira_project_key = String::new())),
        ("lower-case project key", "jira_project_key", Box::new(|r| r.jira_project_key = "sec".into())),
        ("long project key", "jira_project_key", Box::new(|r| r.jira_project_key = "ABCDEFGHIJK".into())),
        ("missing issue type", "default_issue_type", Box::new(|r| r.default_issue_type = String::new())),
        ("long issue type", "default_issue_type", Box::new(|r| r.default_issue_type = long(256))),
        ("long title prefix", "title_prefix", Box::new(|r| r.title_prefix = long(101))),
        ("two-line title prefix", "title_prefix", Box::new(|r| r.title_prefix = "a\nb".into())),
        ("NUL in title prefix", "title_prefix", Box::new(|r| r.title_prefix = "a\0b".into())),
        ("malformed epic key", "default_epic_key", Box::new(|r| r.default_epic_key = "not a key".into())),
        (
            "overlong epic key",
            "default_epic_key",
            Box::new(|r| r.default_epic_key = format!("SEC-{}", "9".repeat(300))),
        ),
        ("long assignee", "default_assignee_account_id", Box::new(|r| r.default_assignee_account_id = long(129))),
        ("NUL in assignee", "default_assignee_account_id", Box::new(|r| r.default_assignee_account_id = "a\0b".into())),
        (
            "too many additional fields",
            "additional_fields",
            Box::new(|r| {
                r.additional_fields =
                    (0..51).map(|i| field(&format!("customfield_{}", 10000 + i), V::Number(1.0))).collect()
            }),
        ),
        (
            "additional field twice",
            "additional_fields[1]",
            Box::new(|r| {
                r.additional_fields =
                    vec![field("customfield_1", V::Number(1.0)), field("customfield_1", V::Number(2.0))]
            }),
        ),
        (
            "unsupported additional field",
            "additional_fields[0]",
            Box::new(|r| r.additional_fields = vec![field("summary", V::Text("x".into()))]),
        ),
        (
            "additional field without a value",
            "additional_fields[0]",
            Box::new(|r| {
                r.additional_fields = vec![proto::AdditionalField { field_id: "customfield_10050".into(), value: None }]
            }),
        ),
        (
            "label with a space",
            "additional_fields[0]",
            Box::new(|r| r.additional_fields = vec![field("labels", V::Labels(strings(["a b".to_string()])))]),
        ),
        (
            "no labels",
            "additional_fields[0]",
            Box::new(|r| r.additional_fields = vec![field("labels", V::Labels(strings([])))]),
        ),
        (
            "too many labels",
            "additional_fields[0]",
            Box::new(|r| {
                r.additional_fields = vec![field("labels", V::Labels(strings((0..101).map(|i| format!("l{i}")))))]
            }),
        ),
        (
            "too many components",
            "additional_fields[0]",
            Box::new(|r| {
                r.additional_fields =
                    vec![field("components", V::Components(strings((0..101).map(|i| format!("c{i}")))))]
            }),
        ),
        (
            "long component",
            "additional_fields[0]",
            Box::new(|r| r.additional_fields = vec![field("components", V::Components(strings([long(256)])))]),
        ),
        (
            "NaN number",
            "additional_fields[0]",
            Box::new(|r| r.additional_fields = vec![field("customfield_1", V::Number(f64::NAN))]),
        ),
        (
            "infinite number",
            "additional_fields[0]",
            Box::new(|r| r.additional_fields = vec![field("customfield_1", V::Number(f64::INFINITY))]),
        ),
        (
            "empty text",
            "additional_fields[0]",
            Box::new(|r| r.additional_fields = vec![field("customfield_1", V::Text(String::new()))]),
        ),
        (
            "long text",
            "additional_fields[0]",
            Box::new(|r| r.additional_fields = vec![field("customfield_1", V::Text(long(32_001)))]),
        ),
        (
            "long option",
            "additional_fields[0]",
            Box::new(|r| r.additional_fields = vec![field("customfield_1", V::OptionValue(long(256)))]),
        ),
        (
            "too many options",
            "additional_fields[0]",
            Box::new(|r| {
                r.additional_fields =
                    vec![field("customfield_1", V::OptionValues(strings((0..101).map(|i| format!("o{i}")))))]
            }),
        ),
        ("UNSPECIFIED severity", "severities", Box::new(|r| r.severities = vec![0])),
        ("unknown severity", "severities", Box::new(|r| r.severities = vec![42])),
        (
            "repeated severity",
            "severities",
            Box::new(|r| r.severities = vec![Severity::High as i32, Severity::High as i32]),
        ),
        (
            "bands with a gap below",
            "priority_mapping",
            Box::new(|r| r.priority_mapping = vec![band(1.0, "Low"), band(5.0, "High")]),
        ),
        (
            "overlapping bands",
            "priority_mapping",
            Box::new(|r| r.priority_mapping = vec![band(0.0, "Low"), band(0.0, "High")]),
        ),
        (
            "band above 10.0",
            "priority_mapping",
            Box::new(|r| r.priority_mapping = vec![band(0.0, "Low"), band(10.5, "High")]),
        ),
        (
            "negative band",
            "priority_mapping",
            Box::new(|r| r.priority_mapping = vec![band(-0.1, "Low"), band(0.0, "High")]),
        ),
        (
            "NaN band",
            "priority_mapping",
            Box::new(|r| r.priority_mapping = vec![band(0.0, "Low"), band(f64::NAN, "High")]),
        ),
        (
            "infinite band",
            "priority_mapping",
            Box::new(|r| r.priority_mapping = vec![band(0.0, "Low"), band(f64::INFINITY, "High")]),
        ),
        ("band without priority", "priority_mapping", Box::new(|r| r.priority_mapping = vec![band(0.0, " ")])),
        ("band with long priority", "priority_mapping", Box::new(|r| r.priority_mapping = vec![band(0.0, &long(256))])),
        (
            "too many bands",
            "priority_mapping",
            Box::new(|r| r.priority_mapping = (0..21).map(|i| band(f64::from(i) * 0.4, "P")).collect()),
        ),
        ("unknown priority field", "priority_field", Box::new(|r| r.priority_field = "severity".into())),
        ("empty resolution", "status_mapping", Box::new(|r| r.status_mapping = vec![String::new()])),
        ("long resolution", "status_mapping", Box::new(|r| r.status_mapping = vec![long(256)])),
        (
            "too many resolutions",
            "status_mapping",
            Box::new(|r| r.status_mapping = (0..51).map(|i| format!("r{i}")).collect()),
        ),
        ("unknown recurrence policy", "recurrence_policy", Box::new(|r| r.recurrence_policy = 42)),
    ];
    for (i, (name, field, change)) in rules.iter().enumerate() {
        // A name of its own, so that a case wrongly accepted does not turn the next ones into
        // ALREADY_EXISTS.
        let mut r = proto::CreateConfigurationRequest { name: format!("second-{i}"), ..good.clone() };
        change(&mut r);
        t.case(
            format!("CreateConfiguration {name}"),
            Invalid(field),
            rpc!(admin, configurations.create_configuration(r)),
        );
    }
    t.case(
        "CreateConfiguration UNSPECIFIED trigger",
        Invalid("trigger"),
        rpc!(
            admin,
            configurations.create_configuration(proto::CreateConfigurationRequest { trigger: 0, ..good.clone() })
        ),
    );
    t.case(
        "CreateConfiguration unknown trigger",
        Invalid("trigger"),
        rpc!(
            admin,
            configurations.create_configuration(proto::CreateConfigurationRequest { trigger: 42, ..good.clone() })
        ),
    );

    // The same rules through UpdateConfiguration, each with its own field as the mask.
    for (name, field, change) in &rules {
        let mut changed = good.clone();
        change(&mut changed);
        let path = field.split('[').next().unwrap();
        let paths: &[&str] =
            if path == "application_ids" { &["application_ids", "resource_group_ids"] } else { &[path] };
        let r = proto::UpdateConfigurationRequest {
            configuration_id: s.configuration_id.clone(),
            name: changed.name,
            credential_id: changed.credential_id,
            application_ids: changed.application_ids,
            resource_group_ids: changed.resource_group_ids,
            jira_project_key: changed.jira_project_key,
            default_issue_type: changed.default_issue_type,
            title_prefix: changed.title_prefix,
            default_epic_key: changed.default_epic_key,
            default_assignee_account_id: changed.default_assignee_account_id,
            additional_fields: changed.additional_fields,
            severities: changed.severities,
            priority_mapping: changed.priority_mapping,
            priority_field: changed.priority_field,
            bidirectional: changed.bidirectional,
            enabled: changed.enabled,
            status_mapping: changed.status_mapping,
            recurrence_policy: changed.recurrence_policy,
            update_mask: mask(paths),
        };
        t.case(
            format!("UpdateConfiguration {name}"),
            Invalid(field),
            rpc!(admin, configurations.update_configuration(r)),
        );
    }
    let update = |id: &str, paths: &[&str]| proto::UpdateConfigurationRequest {
        configuration_id: id.into(),
        name: "renamed".into(),
        update_mask: mask(paths),
        ..Default::default()
    };
    let c = s.configuration_id.as_str();
    t.case(
        "UpdateConfiguration no mask",
        Invalid("update_mask"),
        rpc!(admin, configurations.update_configuration(update(c, &[]))),
    );
    t.case(
        "UpdateConfiguration trigger in mask",
        Invalid("update_mask"),
        rpc!(admin, configurations.update_configuration(update(c, &["trigger"]))),
    );
    t.case(
        "UpdateConfiguration unknown mask path",
        Invalid("update_mask"),
        rpc!(admin, configurations.update_configuration(update(c, &["bogus"]))),
    );
    t.case(
        "UpdateConfiguration non-UUID id",
        Invalid("configuration_id"),
        rpc!(admin, configurations.update_configuration(update("x", &["name"]))),
    );
    t.case(
        "UpdateConfiguration unknown id",
        NotFound,
        rpc!(admin, configurations.update_configuration(update(&random_id(), &["name"]))),
    );

    let get = |id: &str| {
        rpc!(admin, configurations.get_configuration(proto::GetConfigurationRequest { configuration_id: id.into() }))
    };
    t.case("GetConfiguration missing id", Invalid("configuration_id"), get(""));
    t.case("GetConfiguration non-UUID id", Invalid("configuration_id"), get("x"));
    t.case("GetConfiguration unknown id", NotFound, get(&random_id()));

    let list = |f: fn(&mut proto::ListConfigurationsRequest)| {
        let mut r = proto::ListConfigurationsRequest::default();
        f(&mut r);
        rpc!(admin, configurations.list_configurations(r))
    };
    t.case("ListConfigurations negative page_size", Invalid("page_size"), list(|r| r.page_size = -1));
    t.case("ListConfigurations garbage page_token", Invalid("page_token"), list(|r| r.page_token = "??".into()));
    t.case("ListConfigurations unknown trigger", Invalid("trigger"), list(|r| r.trigger = 42));
    t.case("ListConfigurations non-UUID credential", Invalid("credential_id"), list(|r| r.credential_id = "c".into()));
    t.case(
        "ListConfigurations non-UUID group",
        Invalid("resource_group_id"),
        list(|r| r.resource_group_id = "g".into()),
    );

    let delete = |id: &str| {
        rpc!(
            admin,
            configurations.delete_configuration(proto::DeleteConfigurationRequest { configuration_id: id.into() })
        )
    };
    t.case("DeleteConfiguration missing id", Invalid("configuration_id"), delete(""));
    t.case("DeleteConfiguration unknown id", NotFound, delete(&random_id()));

    let validate = |id: &str, draft: Option<proto::CreateConfigurationRequest>| {
        let r = proto::ValidateConfigurationRequest { configuration_id: id.into(), draft };
        rpc!(admin, configurations.validate_configuration(r))
    };
    t.case("ValidateConfiguration neither id nor draft", Invalid("configuration_id"), validate("", None));
    t.case("ValidateConfiguration both id and draft", Invalid("configuration_id"), validate(c, Some(good.clone())));
    t.case("ValidateConfiguration non-UUID id", Invalid("configuration_id"), validate("x", None));
    t.case("ValidateConfiguration unknown id", NotFound, validate(&random_id(), None));

    let preview = |event: Option<proto::SubmitEventRequest>| {
        rpc!(admin, configurations.preview_routing(proto::PreviewRoutingRequest { event }))
    };
    let event = vulnerability(&s.application_id, Severity::High);
    t.case("PreviewRouting no event", Invalid("event"), preview(None));
    t.case(
        "PreviewRouting UNSPECIFIED kind",
        Invalid("event.kind"),
        preview(Some(proto::SubmitEventRequest { kind: 0, ..event.clone() })),
    );
    t.case(
        "PreviewRouting unknown severity",
        Invalid("event.severity"),
        preview(Some(proto::SubmitEventRequest { severity: 42, ..event.clone() })),
    );
    t.case(
        "PreviewRouting risk score above 10",
        Invalid("event.risk_score"),
        preview(Some(proto::SubmitEventRequest { risk_score: Some(10.1), ..event.clone() })),
    );
    t.case(
        "PreviewRouting incident field on a vulnerability",
        Invalid("event.source_ips"),
        preview(Some(proto::SubmitEventRequest { source_ips: vec!["10.0.0.1".into()], ..event.clone() })),
    );

    let rotate = |id: &str| {
        rpc!(
            admin,
            configurations.rotate_webhook_secret(proto::RotateWebhookSecretRequest { configuration_id: id.into() })
        )
    };
    t.case("RotateWebhookSecret non-UUID id", Invalid("configuration_id"), rotate("x"));
    t.case("RotateWebhookSecret unknown id", NotFound, rotate(&random_id()));
    t.case("RotateWebhookSecret one-way configuration", Precondition, rotate(c));

    let register = |id: &str| {
        rpc!(
            admin,
            configurations.register_jira_webhook(proto::RegisterJiraWebhookRequest { configuration_id: id.into() })
        )
    };
    t.case("RegisterJiraWebhook missing id", Invalid("configuration_id"), register(""));
    t.case("RegisterJiraWebhook unknown id", NotFound, register(&random_id()));
    t.case("RegisterJiraWebhook one-way configuration", Precondition, register(c));

    refused_and_nothing_stored(&s, t).await;

    // A draft that breaks a static rule is a problem in the answer, not an error, and it names
    // the field inside the draft.
    let draft = proto::CreateConfigurationRequest { jira_project_key: "sec".into(), ..good.clone() };
    let result = admin
        .configurations()
        .validate_configuration(proto::ValidateConfigurationRequest { draft: Some(draft), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert!(!result.valid);
    assert_eq!(result.problems.len(), 1, "{:?}", result.problems);
    assert!(result.problems[0].field.ends_with("jira_project_key"), "{:?}", result.problems);
}

/// SubmitEvent cases, shared by SubmitEvent, SubmitEvents and (nested) PreviewRouting.
fn bad_events(application_id: &str, known_external_id: &str) -> Vec<(&'static str, Expect, proto::SubmitEventRequest)> {
    let vuln =
        proto::SubmitEventRequest { external_id: "new-vuln".into(), ..vulnerability(application_id, Severity::High) };
    let incident = proto::SubmitEventRequest {
        kind: Trigger::Incident as i32,
        external_id: "new-incident".into(),
        application_id: application_id.into(),
        title: "Exploit attempt".into(),
        severity: Severity::Critical as i32,
        incident_type: "SQL Injection".into(),
        source_ips: vec!["203.0.113.7".into()],
        request_urls: vec!["https://web.example/login".into()],
        ..Default::default()
    };
    let v = |f: fn(&mut proto::SubmitEventRequest)| {
        let mut r = vuln.clone();
        f(&mut r);
        r
    };
    let i = |f: fn(&mut proto::SubmitEventRequest)| {
        let mut r = incident.clone();
        f(&mut r);
        r
    };
    let mut cases = vec![
        ("UNSPECIFIED kind", Invalid("kind"), v(|r| r.kind = 0)),
        ("unknown kind", Invalid("kind"), v(|r| r.kind = 42)),
        ("missing external_id", Invalid("external_id"), v(|r| r.external_id = String::new())),
        ("blank external_id", Invalid("external_id"), v(|r| r.external_id = "  ".into())),
        ("long external_id", Invalid("external_id"), v(|r| r.external_id = long(256))),
        ("missing application_id", Invalid("application_id"), v(|r| r.application_id = String::new())),
        ("long application_id", Invalid("application_id"), v(|r| r.application_id = long(256))),
        ("missing title", Invalid("title"), v(|r| r.title = String::new())),
        ("blank title", Invalid("title"), v(|r| r.title = " \n ".into())),
        ("long title", Invalid("title"), v(|r| r.title = long(1001))),
        ("UNSPECIFIED severity", Invalid("severity"), v(|r| r.severity = 0)),
        ("unknown severity", Invalid("severity"), v(|r| r.severity = 42)),
        ("relative link", Invalid("link"), v(|r| r.link = "findings/1".into())),
        ("ftp link", Invalid("link"), v(|r| r.link = "ftp://northstar.example/1".into())),
        ("long link", Invalid("link"), v(|r| r.link = format!("https://northstar.example/{}", long(2049)))),
        ("detected in the future", Invalid("detected_at"), v(|r| r.detected_at = at(4_102_444_800))),
        ("detected after the year 9999", Invalid("detected_at"), v(|r| r.detected_at = at(253_402_300_800))),
        ("unknown status", Invalid("status"), v(|r| r.status = 42)),
        (
            "incident status on a vulnerability",
            Invalid("status"),
            v(|r| r.status = proto::EventStatus::Resolved as i32),
        ),
        ("risk score -0.1", Invalid("risk_score"), v(|r| r.risk_score = Some(-0.1))),
        ("risk score 10.1", Invalid("risk_score"), v(|r| r.risk_score = Some(10.1))),
        ("risk score NaN", Invalid("risk_score"), v(|r| r.risk_score = Some(f64::NAN))),
        ("risk score infinity", Invalid("risk_score"), v(|r| r.risk_score = Some(f64::INFINITY))),
        ("risk score -infinity", Invalid("risk_score"), v(|r| r.risk_score = Some(f64::NEG_INFINITY))),
        ("incident_type on a vulnerability", Invalid("incident_type"), v(|r| r.incident_type = "SQLi".into())),
        ("source_ips on a vulnerability", Invalid("source_ips"), v(|r| r.source_ips = vec!["10.0.0.1".into()])),
        (
            "request_urls on a vulnerability",
            Invalid("request_urls"),
            v(|r| r.request_urls = vec!["https://x.example".into()]),
        ),
        ("long vulnerability_type", Invalid("vulnerability_type"), v(|r| r.vulnerability_type = long(201))),
        ("long application_name", Invalid("application_name"), v(|r| r.application_name = long(201))),
        (
            "vulnerability_type on an incident",
            Invalid("vulnerability_type"),
            i(|r| r.vulnerability_type = "XSS".into()),
        ),
        ("risk_score on an incident", Invalid("risk_score"), i(|r| r.risk_score = Some(5.0))),
        (
            "vulnerability status on an incident",
            Invalid("status"),
            i(|r| r.status = proto::EventStatus::Remediated as i32),
        ),
        ("long incident_type", Invalid("incident_type"), i(|r| r.incident_type = long(201))),
        ("NUL in incident_type", Invalid("incident_type"), i(|r| r.incident_type = "a\0b".into())),
        ("malformed source IP", Invalid("source_ips"), i(|r| r.source_ips = vec!["not-an-ip".into()])),
        (
            "too many source IPs",
            Invalid("source_ips"),
            i(|r| r.source_ips = (0..101).map(|n| format!("10.0.0.{n}")).collect()),
        ),
        ("empty request URL", Invalid("request_urls"), i(|r| r.request_urls = vec![String::new()])),
        (
            "long request URL",
            Invalid("request_urls"),
            i(|r| r.request_urls = vec![format!("https://x.example/{}", long(2049))]),
        ),
        ("NUL in request URL", Invalid("request_urls"), i(|r| r.request_urls = vec!["https://x.example/\0".into()])),
        (
            "too many request URLs",
            Invalid("request_urls"),
            i(|r| r.request_urls = (0..101).map(|n| format!("https://x.example/{n}")).collect()),
        ),
    ];
    // A known event cannot change its kind or move to another application.
    let mut other_kind = incident.clone();
    other_kind.external_id = known_external_id.into();
    cases.push(("resubmission as another kind", Precondition, other_kind));
    let mut moved = vuln.clone();
    moved.external_id = known_external_id.into();
    moved.application_id = "another-app".into();
    cases.push(("resubmission for another application", Precondition, moved));
    cases
}

#[tokio::test]
async fn event_calls_refuse_bad_input() {
    init_logging();
    let test = TestApp::start().await;
    let s = seed(&test, "acme", None).await;
    let admin = &s.admin;
    let mut t = Table::default();

    let events = bad_events(&s.application_id, &s.external_id);
    for (name, expect, r) in &events {
        t.case(format!("SubmitEvent {name}"), *expect, rpc!(admin, events.submit_event(r.clone())));
    }
    for (name, expect, r) in &events {
        // PreviewRouting judges a known event like a new one, so only the field rules apply.
        if let Invalid(field) = expect {
            let nested: &'static str = format!("event.{field}").leak();
            let request = proto::PreviewRoutingRequest { event: Some(r.clone()) };
            t.case(
                format!("PreviewRouting {name}"),
                Invalid(nested),
                rpc!(admin, configurations.preview_routing(request)),
            );
        }
    }

    let get = |event_id: &str, external_id: &str| {
        let r = proto::GetEventRequest { event_id: event_id.into(), external_id: external_id.into() };
        rpc!(admin, events.get_event(r))
    };
    t.case("GetEvent neither id", Invalid("event_id"), get("", ""));
    t.case("GetEvent both ids", Invalid("event_id"), get(&s.event_id, &s.external_id));
    t.case("GetEvent non-UUID id", Invalid("event_id"), get("x", ""));
    t.case("GetEvent unknown id", NotFound, get(&random_id(), ""));
    t.case("GetEvent unknown external_id", NotFound, get("", "no-such-finding"));
    t.case("GetEvent overlong external_id", Invalid("external_id"), get("", &long(256)));
    t.case("GetEvent NUL in external_id", Invalid("external_id"), get("", "a\0b"));

    let list = |f: fn(&mut proto::ListEventsRequest)| {
        let mut r = proto::ListEventsRequest::default();
        f(&mut r);
        rpc!(admin, events.list_events(r))
    };
    t.case("ListEvents negative page_size", Invalid("page_size"), list(|r| r.page_size = -3));
    t.case("ListEvents garbage page_token", Invalid("page_token"), list(|r| r.page_token = "@@".into()));
    t.case("ListEvents unknown kind", Invalid("kind"), list(|r| r.kind = 42));
    t.case("ListEvents unknown status", Invalid("status"), list(|r| r.status = 42));
    t.case("ListEvents unknown severity", Invalid("severity"), list(|r| r.severity = 42));
    t.case("ListEvents start after the year 9999", Invalid("start_time"), list(|r| r.start_time = at(253_402_300_800)));
    t.case(
        "ListEvents end before start",
        Invalid("end_time"),
        list(|r| {
            r.start_time = at(1_700_000_000);
            r.end_time = at(1_600_000_000);
        }),
    );
    t.case(
        "ListEvents NUL in application filter",
        Invalid("application_id"),
        list(|r| r.application_id = "a\0".into()),
    );

    let status = |event_id: &str, external_id: &str, status: i32| {
        let r = proto::UpdateEventStatusRequest { event_id: event_id.into(), external_id: external_id.into(), status };
        rpc!(admin, events.update_event_status(r))
    };
    let remediated = proto::EventStatus::Remediated as i32;
    t.case("UpdateEventStatus UNSPECIFIED status", Invalid("status"), status("", &s.external_id, 0));
    t.case("UpdateEventStatus unknown status", Invalid("status"), status("", &s.external_id, 42));
    t.case(
        "UpdateEventStatus incident status on a vulnerability",
        Invalid("status"),
        status("", &s.external_id, proto::EventStatus::Resolved as i32),
    );
    t.case("UpdateEventStatus neither id", Invalid("event_id"), status("", "", remediated));
    t.case("UpdateEventStatus both ids", Invalid("event_id"), status(&s.event_id, &s.external_id, remediated));
    t.case("UpdateEventStatus non-UUID id", Invalid("event_id"), status("x", "", remediated));
    t.case("UpdateEventStatus unknown id", NotFound, status(&random_id(), "", remediated));
    t.case("UpdateEventStatus unknown external_id", NotFound, status("", "no-such-finding", remediated));

    let comment = |event_id: &str, external_id: &str, body: &str| {
        let r =
            proto::AddCommentRequest { event_id: event_id.into(), external_id: external_id.into(), body: body.into() };
        rpc!(admin, events.add_comment(r))
    };
    t.case("AddComment empty body", Invalid("body"), comment("", &s.external_id, ""));
    t.case("AddComment blank body", Invalid("body"), comment("", &s.external_id, " \n\t "));
    t.case("AddComment oversized body", Invalid("body"), comment("", &s.external_id, &long(32_001)));
    t.case("AddComment NUL in body", Invalid("body"), comment("", &s.external_id, "a\0b"));
    t.case("AddComment neither id", Invalid("event_id"), comment("", "", "hi"));
    t.case("AddComment both ids", Invalid("event_id"), comment(&s.event_id, &s.external_id, "hi"));
    t.case("AddComment non-UUID id", Invalid("event_id"), comment("x", "", "hi"));
    t.case("AddComment unknown id", NotFound, comment(&random_id(), "", "hi"));

    let delete = |event_id: &str, external_id: &str, comment_id: &str| {
        let r = proto::DeleteCommentRequest {
            event_id: event_id.into(),
            external_id: external_id.into(),
            comment_id: comment_id.into(),
        };
        rpc!(admin, events.delete_comment(r))
    };
    t.case("DeleteComment missing comment_id", Invalid("comment_id"), delete("", &s.external_id, ""));
    t.case("DeleteComment non-UUID comment_id", Invalid("comment_id"), delete("", &s.external_id, "x"));
    t.case("DeleteComment neither event id", Invalid("event_id"), delete("", "", &s.comment_id));
    t.case("DeleteComment both event ids", Invalid("event_id"), delete(&s.event_id, &s.external_id, &s.comment_id));
    t.case("DeleteComment unknown comment", NotFound, delete("", &s.external_id, &random_id()));
    t.case("DeleteComment unknown event", NotFound, delete(&random_id(), "", &s.comment_id));

    let watch = |f: fn(&mut proto::WatchEventChangesRequest)| {
        let mut r = proto::WatchEventChangesRequest::default();
        f(&mut r);
        rpc!(admin, events.watch_event_changes(r))
    };
    t.case("WatchEventChanges garbage cursor", Invalid("cursor"), watch(|r| r.cursor = "garbage!".into()));
    t.case(
        "WatchEventChanges cursor from the future",
        Invalid("cursor"),
        watch(|r| r.cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("c1:999999999999:1")),
    );
    t.case("WatchEventChanges unknown change type", Invalid("change_types"), watch(|r| r.change_types = vec![42]));
    t.case("WatchEventChanges unknown origin", Invalid("origin"), watch(|r| r.origin = 42));
    t.case("WatchEventChanges unknown kind", Invalid("kind"), watch(|r| r.kind = 42));

    refused_and_nothing_stored(&s, t).await;

    // The same items in one SubmitEvents stream: each is refused in its own result, with the
    // status SubmitEvent answers, and none is stored.
    let before = snapshot(admin).await;
    let chunks: Vec<proto::SubmitEventsRequest> = events
        .chunks(7)
        .map(|chunk| proto::SubmitEventsRequest { events: chunk.iter().map(|(_, _, r)| r.clone()).collect() })
        .collect();
    let response = admin.events().submit_events(tokio_stream::iter(chunks)).await.unwrap().into_inner();
    assert_eq!(response.accepted_count, 0, "{:?}", response.results);
    assert_eq!(response.rejected_count as usize, events.len());
    let mut failures = Vec::new();
    for ((name, expect, _), result) in events.iter().zip(&response.results) {
        if result.error_code != expect.code() as i32 {
            failures.push(format!(
                "SubmitEvents {name}: code {} for {expect:?}: {}",
                result.error_code, result.error_message
            ));
        } else if let Some(problem) = expect.mismatch(expect.code(), &result.error_message) {
            failures.push(format!("SubmitEvents {name}: {problem}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(before, snapshot(admin).await, "a refused stream item was stored");
}

#[tokio::test]
async fn delivery_metrics_and_audit_calls_refuse_bad_input() {
    init_logging();
    let sim = Simulator::start(SimConfig::default()).await;
    let test = TestApp::start().await;
    let s = seed(&test, "acme", Some(&sim)).await;
    let (admin, operator) = (&s.admin, &test.operator().await);
    let mut t = Table::default();

    let list = |f: fn(&mut proto::ListDeliveriesRequest)| {
        let mut r = proto::ListDeliveriesRequest::default();
        f(&mut r);
        rpc!(admin, deliveries.list_deliveries(r))
    };
    t.case("ListDeliveries negative page_size", Invalid("page_size"), list(|r| r.page_size = -1));
    t.case("ListDeliveries garbage page_token", Invalid("page_token"), list(|r| r.page_token = "~".into()));
    t.case("ListDeliveries unknown state", Invalid("state"), list(|r| r.state = 42));
    t.case("ListDeliveries unknown kind", Invalid("kind"), list(|r| r.kind = 42));
    t.case("ListDeliveries non-UUID event", Invalid("event_id"), list(|r| r.event_id = "e".into()));
    t.case(
        "ListDeliveries non-UUID configuration",
        Invalid("configuration_id"),
        list(|r| r.configuration_id = "c".into()),
    );
    t.case(
        "ListDeliveries both event ids",
        Invalid("event_id"),
        list(|r| {
            r.event_id = uuid::Uuid::new_v4().to_string();
            r.external_id = "x".into();
        }),
    );
    t.case("ListDeliveries NUL in external_id", Invalid("external_id"), list(|r| r.external_id = "a\0b".into()));

    let retry =
        |id: &str| rpc!(admin, deliveries.retry_delivery(proto::RetryDeliveryRequest { delivery_id: id.into() }));
    t.case("RetryDelivery missing id", Invalid("delivery_id"), retry(""));
    t.case("RetryDelivery non-UUID id", Invalid("delivery_id"), retry("d"));
    t.case("RetryDelivery unknown id", NotFound, retry(&random_id()));
    t.case("RetryDelivery succeeded delivery", Precondition, retry(s.delivery_id.as_deref().unwrap()));

    let window = |start: i64, end: i64| (at(start), at(end));
    let metrics = |client: &Client,
                   (start_time, end_time): (Option<prost_types::Timestamp>, Option<prost_types::Timestamp>),
                   tenant_id: &str| {
        let r = proto::GetMetricsRequest { start_time, end_time, tenant_id: tenant_id.into() };
        rpc!(client, metrics.get_metrics(r))
    };
    t.case(
        "GetMetrics end before start",
        Invalid("end_time"),
        metrics(admin, window(1_700_000_000, 1_600_000_000), ""),
    );
    t.case("GetMetrics empty window", Invalid("end_time"), metrics(admin, window(1_700_000_000, 1_700_000_000), ""));
    t.case(
        "GetMetrics start after the year 9999",
        Invalid("start_time"),
        metrics(admin, (at(253_402_300_800), None), ""),
    );
    t.case("GetMetrics end before the year 1", Invalid("end_time"), metrics(admin, (None, at(-62_135_596_801)), ""));
    t.case("GetMetrics non-UUID tenant", Invalid("tenant_id"), metrics(admin, (None, None), "t"));
    t.case("GetMetrics another tenant", NotFound, metrics(admin, (None, None), &random_id()));
    t.case("GetMetrics operator non-UUID tenant", Invalid("tenant_id"), metrics(operator, (None, None), "t"));
    t.case("GetMetrics operator unknown tenant", NotFound, metrics(operator, (None, None), &random_id()));
    t.case(
        "GetMetrics operator end before start",
        Invalid("end_time"),
        metrics(operator, window(1_700_000_000, 1_600_000_000), ""),
    );

    let stream = |f: fn(&mut proto::StreamMetricsRequest)| {
        let mut r = proto::StreamMetricsRequest::default();
        f(&mut r);
        rpc!(admin, metrics.stream_metrics(r))
    };
    t.case("StreamMetrics zero interval", Invalid("interval"), stream(|r| r.interval = seconds(0)));
    t.case("StreamMetrics negative interval", Invalid("interval"), stream(|r| r.interval = seconds(-5)));
    t.case("StreamMetrics interval over an hour", Invalid("interval"), stream(|r| r.interval = seconds(7200)));
    t.case(
        "StreamMetrics end before start",
        Invalid("end_time"),
        stream(|r| {
            r.start_time = at(1_700_000_000);
            r.end_time = at(1_600_000_000);
        }),
    );
    t.case("StreamMetrics non-UUID tenant", Invalid("tenant_id"), stream(|r| r.tenant_id = "t".into()));
    t.case("StreamMetrics another tenant", NotFound, stream(|r| r.tenant_id = uuid::Uuid::new_v4().to_string()));

    let audit = |f: fn(&mut proto::ListAuditEventsRequest)| {
        let mut r = proto::ListAuditEventsRequest::default();
        f(&mut r);
        rpc!(admin, audit.list_audit_events(r))
    };
    t.case("ListAuditEvents negative page_size", Invalid("page_size"), audit(|r| r.page_size = -1));
    t.case("ListAuditEvents garbage page_token", Invalid("page_token"), audit(|r| r.page_token = "*".into()));
    t.case("ListAuditEvents unknown resource type", Invalid("resource_type"), audit(|r| r.resource_type = 42));
    t.case("ListAuditEvents non-UUID key", Invalid("api_key_id"), audit(|r| r.api_key_id = "k".into()));
    t.case(
        "ListAuditEvents end before start",
        Invalid("end_time"),
        audit(|r| {
            r.start_time = at(1_700_000_000);
            r.end_time = at(1_600_000_000);
        }),
    );
    t.case("ListAuditEvents NUL in action", Invalid("action"), audit(|r| r.action = "Delete\0".into()));
    t.case("ListAuditEvents NUL in resource_id", Invalid("resource_id"), audit(|r| r.resource_id = "\0".into()));

    refused_and_nothing_stored(&s, t).await;
}

#[tokio::test]
async fn values_at_the_contracts_limits_are_accepted() {
    init_logging();
    let test = TestApp::start().await;
    let s = seed(&test, "acme", None).await;
    let admin = &s.admin;
    let app_id = long(255);
    admin
        .applications()
        .upsert_application(proto::UpsertApplicationRequest { application_id: app_id.clone(), name: long(200) })
        .await
        .unwrap();
    admin
        .applications()
        .create_resource_group(proto::CreateResourceGroupRequest {
            name: long(200),
            description: long(2000),
            application_ids: vec![app_id.clone()],
        })
        .await
        .unwrap();
    let vuln = proto::SubmitEventRequest {
        external_id: long(255),
        title: long(1000),
        link: format!("https://northstar.example/{}", long(2048 - "https://northstar.example/".len())),
        risk_score: Some(10.0),
        ..vulnerability(&app_id, Severity::High)
    };
    admin.events().submit_event(vuln).await.unwrap();
    let incident = proto::SubmitEventRequest {
        kind: Trigger::Incident as i32,
        external_id: "incident-at-limits".into(),
        application_id: app_id.clone(),
        title: "t".into(),
        severity: Severity::Low as i32,
        incident_type: long(200),
        source_ips: (0..100).map(|n| format!("10.0.0.{n}")).collect(),
        request_urls: (0..100)
            .map(|_| format!("https://x.example/{}", long(2048 - "https://x.example/".len())))
            .collect(),
        ..Default::default()
    };
    admin.events().submit_event(incident).await.unwrap();
    admin
        .events()
        .add_comment(proto::AddCommentRequest { external_id: long(255), body: long(32_000), ..Default::default() })
        .await
        .unwrap();
    let band = |s: f64, p: &str| proto::PriorityBand { min_score: s, priority: p.into() };
    admin
        .configurations()
        .create_configuration(proto::CreateConfigurationRequest {
            application_ids: vec![app_id],
            title_prefix: long(100),
            priority_mapping: vec![band(0.0, &long(255)), band(10.0, "Highest")],
            status_mapping: (0..50).map(|i| format!("Resolution {i}")).collect(),
            ..configuration("at-limits", &s.credential_id, Trigger::Vulnerability)
        })
        .await
        .unwrap();
}
