//! Tenants, API keys, authentication and the role table.
use northstar_jira_client::proto::{self, Role};
use tonic::Code;

use crate::support::{TestApp, init_logging};

#[tokio::test]
async fn the_operator_creates_tenants_and_keys_shown_once() {
    init_logging();
    let app = TestApp::start().await;
    let operator = app.operator().await;
    let tenant = operator
        .tenants()
        .create_tenant(proto::CreateTenantRequest { name: " Acme Security ".into() })
        .await
        .unwrap()
        .into_inner()
        .tenant
        .unwrap();
    assert_eq!(tenant.name, "Acme Security");
    let dup = operator
        .tenants()
        .create_tenant(proto::CreateTenantRequest { name: "Acme Security".into() })
        .await
        .unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists);

    let created = operator
        .tenants()
        .create_api_key(proto::CreateApiKeyRequest {
            tenant_id: tenant.tenant_id.clone(),
            name: "ci".into(),
            role: Role::Admin as i32,
        })
        .await
        .unwrap()
        .into_inner();
    let key = created.key.clone().unwrap();
    assert!(created.api_key.starts_with(&format!("nsj_{}_", key.prefix)));
    assert!(!format!("{created:?}").contains(&created.api_key), "Debug leaks the key");

    // The secret is stored only as a hash.
    use diesel::{QueryableByName, sql_types::Bytea};
    use diesel_async::RunQueryDsl as _;
    #[derive(QueryableByName)]
    struct Hash {
        #[diesel(sql_type = Bytea)]
        secret_hash: Vec<u8>,
    }
    let mut conn = app.db.connect().await;
    let stored: Vec<Hash> = diesel::sql_query("SELECT secret_hash FROM api_keys").load(&mut conn).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0].secret_hash, created.api_key.as_bytes());

    let admin = app.client(&created.api_key).await;
    let listed = admin.tenants().list_api_keys(proto::ListApiKeysRequest::default()).await.unwrap().into_inner();
    assert_eq!(listed.api_keys.len(), 1);
    assert_eq!(listed.api_keys[0].api_key_id, key.api_key_id);
    let mine = admin.tenants().list_tenants(proto::ListTenantsRequest::default()).await.unwrap().into_inner();
    assert_eq!(mine.tenants.len(), 1);
}

#[tokio::test]
async fn bad_or_missing_credentials_are_unauthenticated() {
    let app = TestApp::start().await;
    let (_, admin) = app.tenant_with_key("t", Role::Admin).await;
    admin.tenants().list_api_keys(proto::ListApiKeysRequest::default()).await.unwrap();

    let anonymous = app.anonymous().await;
    let err = anonymous.tenants().list_tenants(proto::ListTenantsRequest::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    // Even RPCs not built yet authenticate first.
    let err = anonymous.events().get_event(proto::GetEventRequest::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);

    for garbled in ["nsj_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "garbage", "x"] {
        let client = app.client(garbled).await;
        let err = client.tenants().list_tenants(proto::ListTenantsRequest::default()).await.unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "{garbled}");
    }
}

#[tokio::test]
async fn a_revoked_key_fails_at_once() {
    let app = TestApp::start().await;
    let (tenant_id, admin) = app.tenant_with_key("t", Role::Admin).await;
    let reader_key = app.create_key(&admin, &tenant_id, Role::Reader).await;
    let reader = app.client(&reader_key).await;
    reader.tenants().list_api_keys(proto::ListApiKeysRequest::default()).await.unwrap();

    let keys = admin.tenants().list_api_keys(proto::ListApiKeysRequest::default()).await.unwrap().into_inner();
    let reader_id = keys.api_keys.iter().find(|k| k.role == Role::Reader as i32).unwrap().api_key_id.clone();
    let revoked = admin
        .tenants()
        .revoke_api_key(proto::RevokeApiKeyRequest { tenant_id: String::new(), api_key_id: reader_id })
        .await
        .unwrap()
        .into_inner()
        .key
        .unwrap();
    assert!(revoked.revoke_time.is_some());

    let err = reader.tenants().list_api_keys(proto::ListApiKeysRequest::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let active = admin.tenants().list_api_keys(proto::ListApiKeysRequest::default()).await.unwrap().into_inner();
    assert_eq!(active.api_keys.len(), 1);
    let all = admin
        .tenants()
        .list_api_keys(proto::ListApiKeysRequest { include_revoked: true, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.api_keys.len(), 2);
}

#[tokio::test]
async fn a_key_revoked_through_one_replica_fails_on_the_others() {
    let app = TestApp::start().await;
    let (tenant_id, admin) = app.tenant_with_key("t", Role::Admin).await;
    let reader_key = app.create_key(&admin, &tenant_id, Role::Reader).await;
    let other = northstar_jira::Server::start(crate::support::test_config(&app.db.url)).await.unwrap();
    let reader =
        northstar_jira_client::Client::connect(format!("http://{}", other.grpc_addr), &reader_key).await.unwrap();
    // The other replica has verified the key and holds it.
    reader.tenants().list_api_keys(proto::ListApiKeysRequest::default()).await.unwrap();
    let keys = admin.tenants().list_api_keys(proto::ListApiKeysRequest::default()).await.unwrap().into_inner();
    let reader_id = keys.api_keys.iter().find(|k| k.role == Role::Reader as i32).unwrap().api_key_id.clone();
    admin
        .tenants()
        .revoke_api_key(proto::RevokeApiKeyRequest { tenant_id: String::new(), api_key_id: reader_id })
        .await
        .unwrap();
    // It hears of the revocation through the database, within moments.
    let mut refused = false;
    for _ in 0..100 {
        match reader.tenants().list_api_keys(proto::ListApiKeysRequest::default()).await {
            Err(err) if err.code() == Code::Unauthenticated => {
                refused = true;
                break;
            }
            _ => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    }
    assert!(refused, "the other replica still accepts the revoked key");
    other.shutdown().await.unwrap();
}

#[tokio::test]
async fn roles_are_enforced_for_every_kind_of_call() {
    let app = TestApp::start().await;
    let (tenant_id, admin) = app.tenant_with_key("t", Role::Admin).await;
    let reader = app.client(&app.create_key(&admin, &tenant_id, Role::Reader).await).await;
    let writer = app.client(&app.create_key(&admin, &tenant_id, Role::Writer).await).await;

    let new_key =
        || proto::CreateApiKeyRequest { tenant_id: String::new(), name: "k".into(), role: Role::Reader as i32 };
    let err = reader.tenants().create_api_key(new_key()).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(err.message().contains("ADMIN"), "{}", err.message());
    let err = writer.tenants().create_api_key(new_key()).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = admin.tenants().create_tenant(proto::CreateTenantRequest { name: "other".into() }).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    // The role table applies before a not-yet-built RPC answers UNIMPLEMENTED.
    let err = reader.credentials().create_credential(proto::CreateCredentialRequest::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = reader.events().submit_event(proto::SubmitEventRequest::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    // The operator token is not a tenant key.
    let operator = app.operator().await;
    let err = operator.credentials().list_credentials(proto::ListCredentialsRequest::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = operator.tenants().create_api_key(new_key()).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("tenant_id"), "{}", err.message());
}

#[tokio::test]
async fn validation_names_the_field() {
    let app = TestApp::start().await;
    let (_, admin) = app.tenant_with_key("t", Role::Admin).await;
    let cases = [
        (proto::CreateApiKeyRequest { tenant_id: String::new(), name: " ".into(), role: Role::Reader as i32 }, "name"),
        (proto::CreateApiKeyRequest { tenant_id: String::new(), name: "k".into(), role: 0 }, "role"),
        (proto::CreateApiKeyRequest { tenant_id: String::new(), name: "k".into(), role: 42 }, "role"),
        (proto::CreateApiKeyRequest { tenant_id: "not-a-uuid".into(), name: "k".into(), role: 1 }, "tenant_id"),
    ];
    for (request, field) in cases {
        let err = admin.tenants().create_api_key(request).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().starts_with(&format!("{field}:")), "{}", err.message());
    }
    let err = admin
        .tenants()
        .list_api_keys(proto::ListApiKeysRequest { page_token: "!!".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert!(err.message().starts_with("page_token:"), "{}", err.message());
    // Nothing was stored by the refused calls.
    let keys = admin.tenants().list_api_keys(proto::ListApiKeysRequest::default()).await.unwrap().into_inner();
    assert_eq!(keys.api_keys.len(), 1);
}

#[tokio::test]
async fn a_key_of_tenant_a_cannot_see_or_touch_tenant_b() {
    let app = TestApp::start().await;
    let (_tenant_a, admin_a) = app.tenant_with_key("a", Role::Admin).await;
    let (tenant_b, admin_b) = app.tenant_with_key("b", Role::Admin).await;
    let keys_b = admin_b.tenants().list_api_keys(proto::ListApiKeysRequest::default()).await.unwrap().into_inner();
    let key_b = keys_b.api_keys[0].api_key_id.clone();

    let err = admin_a
        .tenants()
        .list_api_keys(proto::ListApiKeysRequest { tenant_id: tenant_b.clone(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = admin_a
        .tenants()
        .create_api_key(proto::CreateApiKeyRequest { tenant_id: tenant_b.clone(), name: "x".into(), role: 3 })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    // B's key id through A's own tenant: not found, as if it did not exist.
    let err = admin_a
        .tenants()
        .revoke_api_key(proto::RevokeApiKeyRequest { tenant_id: String::new(), api_key_id: key_b.clone() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let listed = admin_a.tenants().list_tenants(proto::ListTenantsRequest::default()).await.unwrap().into_inner();
    assert!(listed.tenants.iter().all(|t| t.tenant_id != tenant_b));

    // B's key still works and still belongs to B alone.
    let keys_b = admin_b.tenants().list_api_keys(proto::ListApiKeysRequest::default()).await.unwrap().into_inner();
    assert_eq!(keys_b.api_keys.len(), 1);
    assert!(keys_b.api_keys[0].revoke_time.is_none());
}

#[tokio::test]
async fn lists_page_with_tokens() {
    let app = TestApp::start().await;
    let operator = app.operator().await;
    for i in 0..5 {
        operator.tenants().create_tenant(proto::CreateTenantRequest { name: format!("t{i}") }).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = operator
            .tenants()
            .list_tenants(proto::ListTenantsRequest { page_size: 2, page_token: token })
            .await
            .unwrap()
            .into_inner();
        assert!(page.tenants.len() <= 2);
        seen.extend(page.tenants.into_iter().map(|t| t.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, ["t0", "t1", "t2", "t3", "t4"]);
}
