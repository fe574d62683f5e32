//! Secrets: API tokens, webhook secrets, API keys and the master key never appear in
//! responses, logs at any level, error messages or the database in clear; a master key
//! rotation re-seals every stored secret while the service keeps working.
use diesel::{QueryableByName, sql_types::Text};
use diesel_async::RunQueryDsl as _;
use jira_sim::{SimConfig, Simulator, WebhookSpec};
use northstar_jira::{config::MasterKey, crypto::SecretCipher, domain::webhook};
use northstar_jira_client::{
    Client,
    proto::{self, Role, Trigger},
};

use crate::{
    routing::configuration,
    support::{OPERATOR_TOKEN, TEST_MASTER_KEY, TestApp, TestDb, eventually, sim_credential, test_config},
};

/// A bidirectional configuration for app `web` through a simulator credential; its id, webhook
/// URL and secret.
async fn bidirectional(admin: &Client, sim: &Simulator) -> (String, String, String) {
    crate::routing::app(admin, "web").await;
    let credential = sim_credential(admin, sim).await;
    let created = admin
        .configurations()
        .create_configuration(proto::CreateConfigurationRequest {
            application_ids: vec!["web".into()],
            jira_project_key: "SIM".into(),
            bidirectional: true,
            ..configuration("sync", &credential, Trigger::Vulnerability)
        })
        .await
        .unwrap()
        .into_inner();
    (created.configuration.unwrap().configuration_id, created.webhook_url, created.webhook_secret)
}

async fn dump(url: &str) -> String {
    let output = tokio::process::Command::new("pg_dump")
        .arg("--data-only")
        .arg(url)
        .output()
        .await
        .expect("pg_dump runs (install the PostgreSQL client)");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A current-thread runtime runs the server's tasks on this thread, so a thread-local
/// subscriber at TRACE sees all of them.
#[tokio::test(flavor = "current_thread")]
async fn no_secret_appears_in_responses_logs_errors_or_the_database() {
    let (captured, _guard) = crate::support::capture_trace();
    let sim = Simulator::start(SimConfig::default()).await;
    let app = TestApp::start().await;
    let operator = app.operator().await;
    let tenant = crate::support::create_tenant(&operator, "acme").await;
    let api_key = app.create_key(&operator, &tenant.tenant_id, Role::Admin).await;
    let admin = app.client(&api_key).await;
    let (configuration_id, url, first_secret) = bidirectional(&admin, &sim).await;
    let rotated = admin
        .configurations()
        .rotate_webhook_secret(proto::RotateWebhookSecretRequest { configuration_id: configuration_id.clone() })
        .await
        .unwrap()
        .into_inner();
    let secret = rotated.webhook_secret.clone();
    assert!(!secret.is_empty() && secret != first_secret);
    let mut responses = format!("{rotated:?}");

    // Every path that handles a secret: webhooks signed, by query, forged; connection tests
    // passing and failing; reads of everything.
    let http = reqwest::Client::new();
    let body = crate::limits::unlinked_issue_update().into_bytes();
    let signed = http
        .post(&url)
        .header("X-Hub-Signature", webhook::sign(secret.as_bytes(), &body))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 204);
    let by_query = http.post(format!("{url}?secret={secret}")).body(body.clone()).send().await.unwrap();
    assert_eq!(by_query.status(), 204);
    let old = http.post(format!("{url}?secret={first_secret}")).body(body.clone()).send().await.unwrap();
    assert_eq!(old.status(), 401, "the rotated-out secret no longer works");
    responses.push_str(&old.text().await.unwrap());
    let credentials = admin.credentials().list_credentials(proto::ListCredentialsRequest::default()).await.unwrap();
    let credential_id = credentials.get_ref().credentials[0].credential_id.clone();
    responses.push_str(&format!("{credentials:?}"));
    let tested = admin
        .credentials()
        .test_connection(proto::TestConnectionRequest { credential_id: credential_id.clone(), ..Default::default() })
        .await
        .unwrap();
    assert!(tested.get_ref().ok);
    responses.push_str(&format!("{tested:?}"));
    let refused = admin
        .credentials()
        .test_connection(proto::TestConnectionRequest {
            jira_url: sim.base_url().into(),
            email: jira_sim::DEFAULT_EMAIL.into(),
            api_token: "ATATT-a-wrong-token-0123456789".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    responses.push_str(&format!("{refused:?}"));
    let bad = admin
        .credentials()
        .create_credential(proto::CreateCredentialRequest {
            name: "bad".into(),
            jira_url: format!("https://someone:{}@acme.atlassian.net", jira_sim::DEFAULT_TOKEN),
            email: "a@b.c".into(),
            api_token: jira_sim::DEFAULT_TOKEN.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    responses.push_str(&format!("{bad:?}"));
    for call in [
        format!("{:?}", admin.configurations().list_configurations(proto::ListConfigurationsRequest::default()).await),
        format!("{:?}", admin.tenants().list_api_keys(proto::ListApiKeysRequest::default()).await),
        format!("{:?}", admin.audit().list_audit_events(proto::ListAuditEventsRequest::default()).await),
        format!("{:?}", operator.tenants().list_tenants(proto::ListTenantsRequest::default()).await),
    ] {
        responses.push_str(&call);
    }
    let config = format!("{:?}", test_config(&app.db.url));

    let dump = dump(&app.db.url).await;
    assert!(dump.contains("alice@example.com") || dump.contains(jira_sim::DEFAULT_EMAIL), "the dump holds rows");
    let logs = String::from_utf8(captured.contents()).unwrap();
    assert!(logs.contains("connection test passed"), "the capture saw the server's logs");
    let secrets = [
        ("the API key", api_key.as_str()),
        ("the Jira API token", jira_sim::DEFAULT_TOKEN),
        ("the webhook secret", secret.as_str()),
        ("the first webhook secret", first_secret.as_str()),
        ("the master key", TEST_MASTER_KEY),
        ("the operator token", OPERATOR_TOKEN),
    ];
    for (what, secret) in secrets {
        assert!(!responses.contains(secret), "{what} appears in a response or error");
        assert!(!logs.contains(secret), "{what} appears in the TRACE log");
        assert!(!dump.contains(secret), "{what} is in the database in clear");
        assert!(!dump.contains(&hex::encode(secret)), "{what} is in the database as hex");
        assert!(!config.contains(secret), "{what} appears in the configuration's Debug output");
    }
}

#[derive(QueryableByName)]
struct KeyId {
    #[diesel(sql_type = Text)]
    key_id: String,
}

/// The master key ids every stored secret is sealed under.
async fn key_ids(db: &TestDb) -> Vec<String> {
    let mut conn = db.connect().await;
    let mut ids: Vec<String> = diesel::sql_query(
        "SELECT token_key_id AS key_id FROM credentials \
         UNION SELECT webhook_secret_key_id FROM configurations WHERE webhook_secret_key_id IS NOT NULL",
    )
    .load::<KeyId>(&mut conn)
    .await
    .unwrap()
    .into_iter()
    .map(|k| k.key_id)
    .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_master_key_rotation_reseals_every_secret_while_serving() {
    let sim = Simulator::start(SimConfig::default()).await;
    let app = TestApp::start().await;
    let (_, admin) = app.tenant_with_key("acme", Role::Admin).await;
    let (_, url, secret) = bidirectional(&admin, &sim).await;
    sim.register_webhook(WebhookSpec::new(url.clone()).with_secret(secret.clone())).unwrap();
    let credential_id = admin.credentials().list_credentials(proto::ListCredentialsRequest::default()).await.unwrap();
    let credential_id = credential_id.into_inner().credentials[0].credential_id.clone();
    let old_id = SecretCipher::new(&MasterKey::from_base64(TEST_MASTER_KEY).unwrap()).key_id().to_owned();
    assert_eq!(key_ids(&app.db).await, [old_id]);

    // Step 1 of the operator guide: the replicas learn the new key, still sealing under the old.
    let new_key = MasterKey::generate();
    let new_base64 = new_key.to_base64();
    let new_id = SecretCipher::new(&new_key).key_id().to_owned();
    let mut config = test_config(&app.db.url);
    config.previous_master_keys = vec![MasterKey::from_base64(&new_base64).unwrap()];
    let step_one = northstar_jira::Server::start(config).await.unwrap();

    // Step 2: a replica with the new key, the old one still accepted, re-sealing: it serves at
    // once, re-sealing behind the scenes.
    let mut config = test_config(&app.db.url);
    config.master_key = MasterKey::from_base64(&new_base64).unwrap();
    config.previous_master_keys = vec![MasterKey::from_base64(TEST_MASTER_KEY).unwrap()];
    config.reseal_secrets = true;
    let rotating = northstar_jira::Server::start(config).await.unwrap();
    let key = app.create_key(&admin, "", Role::Admin).await;
    let through_rotating = Client::connect(format!("http://{}", rotating.grpc_addr), &key).await.unwrap();
    let test_connection = |client: Client, id: String| async move {
        client
            .credentials()
            .test_connection(proto::TestConnectionRequest { credential_id: id, ..Default::default() })
            .await
            .unwrap()
            .into_inner()
            .ok
    };
    assert!(test_connection(through_rotating.clone(), credential_id.clone()).await);
    eventually("every secret re-sealed under the new key", async || key_ids(&app.db).await == [new_id.clone()]).await;
    assert!(test_connection(through_rotating, credential_id.clone()).await);
    // A replica of step 1 not yet restarted opens what was re-sealed under the new key.
    let through_step_one = Client::connect(format!("http://{}", step_one.grpc_addr), &key).await.unwrap();
    assert!(test_connection(through_step_one, credential_id.clone()).await);
    step_one.shutdown().await.unwrap();
    rotating.shutdown().await.unwrap();

    // The old key retired: a replica with only the new one opens every secret.
    let mut config = test_config(&app.db.url);
    config.master_key = MasterKey::from_base64(&new_base64).unwrap();
    let after = northstar_jira::Server::start(config).await.unwrap();
    let client = Client::connect(format!("http://{}", after.grpc_addr), &key).await.unwrap();
    assert!(test_connection(client, credential_id).await);
    let webhook_url = url.replace(&app.http_url.replace("http://", ""), &after.http_addr.to_string());
    let body = crate::limits::unlinked_issue_update().into_bytes();
    let response = reqwest::Client::new()
        .post(webhook_url)
        .header("X-Hub-Signature", webhook::sign(secret.as_bytes(), &body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204, "the webhook secret opens under the new key");
    after.shutdown().await.unwrap();
}
