//! The audit trail through ListAuditEvents: RPC names, newest first, before/after redacted,
//! filters, the key's name, ADMIN only, and one tenant's trail invisible to another.
use northstar_jira_client::proto::{self, AuditResourceType, Role};
use tonic::Code;

use crate::{routing::credential, support::TestApp};

#[tokio::test]
async fn admins_read_their_tenants_audit_trail_with_secrets_redacted() {
    let test = TestApp::start().await;
    let (_, admin) = test.tenant_with_key("acme", Role::Admin).await;
    let (_, other) = test.tenant_with_key("other", Role::Admin).await;
    let cred = credential(&admin, "https://acme.atlassian.net").await;
    admin
        .credentials()
        .update_credential(proto::UpdateCredentialRequest {
            credential_id: cred.clone(),
            api_token: "a-new-secret-token".into(),
            update_mask: Some(prost_types::FieldMask { paths: vec!["api_token".into()] }),
            ..Default::default()
        })
        .await
        .unwrap();
    let list = |client: &northstar_jira_client::Client, r: proto::ListAuditEventsRequest| {
        let client = client.clone();
        async move { client.audit().list_audit_events(r).await.map(|r| r.into_inner()) }
    };
    let all = list(&admin, Default::default()).await.unwrap().audit_events;
    let actions: Vec<&str> = all.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions[..2], ["UpdateCredential", "CreateCredential"], "newest first: {actions:?}");
    let update = &all[0];
    assert_eq!(update.resource_type(), AuditResourceType::Credential);
    assert_eq!(update.resource_id, cred);
    assert_eq!(update.actor_type(), proto::ActorType::ApiKey);
    assert!(!update.api_key_name.is_empty());
    assert!(update.before.is_some() && update.after.is_some());
    let text = format!("{all:?}");
    assert!(!text.contains("a-new-secret-token"), "a secret in the audit trail");

    let filtered = list(
        &admin,
        proto::ListAuditEventsRequest {
            resource_type: AuditResourceType::Credential as i32,
            action: "CreateCredential".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .audit_events;
    assert_eq!(filtered.len(), 1);
    assert!(list(&other, Default::default()).await.unwrap().audit_events.iter().all(|e| e.resource_id != cred));
    let writer = test.client(&test.create_key(&admin, "", Role::Writer).await).await;
    assert_eq!(list(&writer, Default::default()).await.unwrap_err().code(), Code::PermissionDenied);
    let bad = list(&admin, proto::ListAuditEventsRequest { api_key_id: "nope".into(), ..Default::default() }).await;
    assert_eq!(bad.unwrap_err().code(), Code::InvalidArgument);
}
