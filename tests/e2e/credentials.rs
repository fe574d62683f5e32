//! Credentials: write-only encrypted tokens, validation, tenant scoping, connection tests.
use northstar_jira_client::proto::{self, ConnectionFailureReason as Reason, Role};
use tonic::Code;

use crate::support::{TestApp, init_logging};

pub const TOKEN: &str = "ATATT3xFfGF0-super-secret-token-value";

pub fn new_credential(name: &str, jira_url: &str) -> proto::CreateCredentialRequest {
    proto::CreateCredentialRequest {
        name: name.into(),
        jira_url: jira_url.into(),
        email: "bot@acme.example".into(),
        api_token: TOKEN.into(),
    }
}

#[tokio::test]
async fn credentials_round_trip_without_their_token() {
    init_logging();
    let app = TestApp::start().await;
    let (_, admin) = app.tenant_with_key("acme", Role::Admin).await;
    let created = admin
        .credentials()
        .create_credential(new_credential("bot", "https://Acme.atlassian.net/"))
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap();
    assert_eq!(created.jira_url, "https://acme.atlassian.net");
    assert!(created.api_token_set);
    assert!(!format!("{created:?}").contains(TOKEN));

    let got = admin
        .credentials()
        .get_credential(proto::GetCredentialRequest { credential_id: created.credential_id.clone() })
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap();
    assert_eq!(got, created);

    let dup =
        admin.credentials().create_credential(new_credential("bot", "https://acme.atlassian.net")).await.unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists);
    assert_eq!(dup.message(), "credential with this name already exists");

    // Rotation: a new token, a new update time, the rest unchanged.
    let rotated = admin
        .credentials()
        .update_credential(proto::UpdateCredentialRequest {
            credential_id: created.credential_id.clone(),
            api_token: "rotated-token-value".into(),
            update_mask: Some(prost_types::FieldMask { paths: vec!["api_token".into()] }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap();
    assert_eq!(rotated.name, "bot");
    let secs = |t: &Option<prost_types::Timestamp>| t.as_ref().map(|t| (t.seconds, t.nanos)).unwrap();
    assert!(secs(&rotated.api_token_update_time) > secs(&created.api_token_update_time));

    let listed =
        admin.credentials().list_credentials(proto::ListCredentialsRequest::default()).await.unwrap().into_inner();
    assert_eq!(listed.credentials.len(), 1);

    admin
        .credentials()
        .delete_credential(proto::DeleteCredentialRequest { credential_id: created.credential_id.clone() })
        .await
        .unwrap();
    let gone = admin
        .credentials()
        .get_credential(proto::GetCredentialRequest { credential_id: created.credential_id })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
}

#[tokio::test]
async fn bad_credentials_name_the_field_and_store_nothing() {
    let app = TestApp::start_with(crate::support::TestDb::new().await, |c| c.allow_insecure_jira = false).await;
    let (_, admin) = app.tenant_with_key("acme", Role::Admin).await;
    let ok = new_credential("bot", "https://acme.atlassian.net");
    let cases: Vec<(proto::CreateCredentialRequest, &str)> = vec![
        (proto::CreateCredentialRequest { name: "".into(), ..ok.clone() }, "name"),
        (proto::CreateCredentialRequest { jira_url: "acme.atlassian.net".into(), ..ok.clone() }, "jira_url"),
        (proto::CreateCredentialRequest { jira_url: "http://acme.atlassian.net".into(), ..ok.clone() }, "jira_url"),
        (proto::CreateCredentialRequest { jira_url: "https://127.0.0.1:8090".into(), ..ok.clone() }, "jira_url"),
        (proto::CreateCredentialRequest { jira_url: "https://10.0.0.5".into(), ..ok.clone() }, "jira_url"),
        (proto::CreateCredentialRequest { email: "not an email".into(), ..ok.clone() }, "email"),
        (proto::CreateCredentialRequest { api_token: "".into(), ..ok.clone() }, "api_token"),
        (proto::CreateCredentialRequest { api_token: "x".repeat(2000), ..ok.clone() }, "api_token"),
    ];
    for (request, field) in cases {
        let err = admin.credentials().create_credential(request).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{field}: {err:?}");
        assert!(err.message().starts_with(&format!("{field}:")), "{}", err.message());
        assert!(!err.message().contains(TOKEN));
    }
    let err = admin
        .credentials()
        .update_credential(proto::UpdateCredentialRequest {
            credential_id: uuid::Uuid::now_v7().to_string(),
            update_mask: Some(prost_types::FieldMask { paths: vec!["secret".into()] }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(err.message().starts_with("update_mask:"), "{}", err.message());
    let listed =
        admin.credentials().list_credentials(proto::ListCredentialsRequest::default()).await.unwrap().into_inner();
    assert!(listed.credentials.is_empty());
}

#[tokio::test]
async fn credentials_of_another_tenant_are_not_found() {
    let app = TestApp::start().await;
    let (_, admin_a) = app.tenant_with_key("a", Role::Admin).await;
    let (_, admin_b) = app.tenant_with_key("b", Role::Admin).await;
    let theirs = admin_b
        .credentials()
        .create_credential(new_credential("b-bot", "https://b.atlassian.net"))
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap();
    let id = theirs.credential_id.clone();
    let err = admin_a
        .credentials()
        .get_credential(proto::GetCredentialRequest { credential_id: id.clone() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = admin_a
        .credentials()
        .delete_credential(proto::DeleteCredentialRequest { credential_id: id.clone() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = admin_a
        .credentials()
        .test_connection(proto::TestConnectionRequest { credential_id: id.clone(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    // Still there for its owner.
    admin_b.credentials().get_credential(proto::GetCredentialRequest { credential_id: id }).await.unwrap();
}

#[tokio::test]
async fn connection_tests_say_what_went_wrong() {
    let app = TestApp::start_with(crate::support::TestDb::new().await, |c| c.allow_insecure_jira = false).await;
    let (_, admin) = app.tenant_with_key("acme", Role::Admin).await;
    let inline = |url: &str| proto::TestConnectionRequest {
        jira_url: url.into(),
        email: "bot@acme.example".into(),
        api_token: TOKEN.into(),
        ..Default::default()
    };
    let insecure = admin.credentials().test_connection(inline("http://127.0.0.1:9")).await.unwrap().into_inner();
    assert!(!insecure.ok);
    assert_eq!(insecure.failure_reason(), Reason::InsecureUrl);
    assert!(insecure.message.contains("NORTHSTAR_ALLOW_INSECURE_JIRA"), "{}", insecure.message);

    let err = admin.credentials().test_connection(proto::TestConnectionRequest::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let app = TestApp::start().await;
    let (_, admin) = app.tenant_with_key("acme", Role::Admin).await;
    // Bind then drop: a loopback port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let result = admin
        .credentials()
        .test_connection(proto::TestConnectionRequest {
            jira_url: format!("http://127.0.0.1:{port}"),
            email: "bot@acme.example".into(),
            api_token: TOKEN.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!result.ok);
    assert_eq!(result.failure_reason(), Reason::Unreachable, "{}", result.message);
}

#[tokio::test]
async fn the_token_is_stored_encrypted() {
    let app = TestApp::start().await;
    let (_, admin) = app.tenant_with_key("acme", Role::Admin).await;
    admin.credentials().create_credential(new_credential("bot", "https://acme.atlassian.net")).await.unwrap();
    let output = tokio::process::Command::new("pg_dump")
        .arg("--data-only")
        .arg(&app.db.url)
        .output()
        .await
        .expect("pg_dump runs (install the PostgreSQL client)");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let dump = String::from_utf8_lossy(&output.stdout);
    assert!(dump.contains("bot@acme.example"), "the dump holds the credential");
    assert!(!dump.contains(TOKEN), "the token is in the dump in clear");
    assert!(!dump.contains(&hex::encode(TOKEN)), "the token is in the dump as hex");
}

fn sim_credential(sim: &jira_sim::Simulator, token: &str) -> proto::CreateCredentialRequest {
    proto::CreateCredentialRequest {
        name: "sim".into(),
        jira_url: sim.base_url().to_owned(),
        email: jira_sim::DEFAULT_EMAIL.into(),
        api_token: token.into(),
    }
}

#[tokio::test]
async fn connection_tests_against_jira() {
    let sim = jira_sim::Simulator::start(jira_sim::SimConfig::default().with_projects(["SEC", "OPS"])).await;
    let app = TestApp::start().await;
    let (_, admin) = app.tenant_with_key("acme", Role::Admin).await;
    let good = admin.credentials().create_credential(sim_credential(&sim, jira_sim::DEFAULT_TOKEN)).await.unwrap();
    let id = good.into_inner().credential.unwrap().credential_id;
    let ok = admin
        .credentials()
        .test_connection(proto::TestConnectionRequest { credential_id: id.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert!(ok.ok, "{}", ok.message);
    assert_eq!(ok.display_name, "Sim Integration");
    assert_eq!(ok.project_count, 2);

    let inline = sim_credential(&sim, "expired-token");
    let rejected = admin
        .credentials()
        .test_connection(proto::TestConnectionRequest {
            jira_url: inline.jira_url,
            email: inline.email,
            api_token: inline.api_token,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!rejected.ok);
    assert_eq!(rejected.failure_reason(), Reason::TokenRejected);
    assert!(rejected.message.contains("token"), "{}", rejected.message);

    // Token rotation takes effect on the next call.
    admin
        .credentials()
        .update_credential(proto::UpdateCredentialRequest {
            credential_id: id.clone(),
            api_token: "revoked".into(),
            update_mask: Some(prost_types::FieldMask { paths: vec!["api_token".into()] }),
            ..Default::default()
        })
        .await
        .unwrap();
    let after = admin
        .credentials()
        .test_connection(proto::TestConnectionRequest { credential_id: id, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.failure_reason(), Reason::TokenRejected);
}

/// A current-thread runtime runs the server's tasks on this thread, so a thread-local
/// subscriber at TRACE sees all of them, whatever else the process installed.
#[tokio::test(flavor = "current_thread")]
async fn trace_logs_never_contain_the_token() {
    let (captured, _guard) = crate::support::capture_trace();
    let sim = jira_sim::Simulator::start(jira_sim::SimConfig::default()).await;
    let app = TestApp::start().await;
    let (_, admin) = app.tenant_with_key("acme", Role::Admin).await;
    let secret = "ATATT-trace-secret-token-0123456789";
    sim.set_api_token(jira_sim::DEFAULT_EMAIL, Some(secret)).unwrap();
    let id = admin
        .credentials()
        .create_credential(sim_credential(&sim, secret))
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap()
        .credential_id;
    admin
        .credentials()
        .test_connection(proto::TestConnectionRequest { credential_id: id, ..Default::default() })
        .await
        .unwrap();
    let inline = sim_credential(&sim, secret);
    admin
        .credentials()
        .test_connection(proto::TestConnectionRequest {
            jira_url: inline.jira_url,
            email: inline.email,
            api_token: secret.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let logs = String::from_utf8(captured.contents()).unwrap();
    assert!(logs.contains("connection test passed"), "the capture saw the server's logs");
    assert!(!logs.contains(secret), "the token appears in the trace log");
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:{secret}", jira_sim::DEFAULT_EMAIL));
    assert!(!logs.contains(&basic), "the Basic header appears in the trace log");
}
