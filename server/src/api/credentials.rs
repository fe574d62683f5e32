//! `CredentialService`: Jira credentials with write-only, encrypted API tokens.
use chrono::Utc;
use diesel_async::AsyncConnection as _;
use secrecy::SecretString;
use uuid::Uuid;

use super::{
    AppState, audit, convert,
    paging::{Cursor, Page},
};
use crate::{
    auth::Caller,
    db,
    domain::jira_url::{self, UrlProblem},
    error::{ApiError, ApiResult},
    jira::{JiraError, Site, TransportKind},
    proto::{self, ConnectionFailureReason as Reason},
};

const TOKEN_MAX: usize = 1024;

/// The credential service over the shared state.
pub struct Credentials {
    state: AppState,
}

impl Credentials {
    /// A service over `state`.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

fn to_proto(c: db::credentials::Credential) -> proto::Credential {
    proto::Credential {
        credential_id: c.id.to_string(),
        name: c.name,
        jira_url: c.jira_url,
        email: c.email,
        api_token_set: true,
        api_token_update_time: Some(convert::timestamp(c.token_updated_at)),
        create_time: Some(convert::timestamp(c.created_at)),
        update_time: Some(convert::timestamp(c.updated_at)),
    }
}

/// What the audit trail keeps: never the token, only that one is set.
fn audit_view(c: &db::credentials::Credential) -> serde_json::Value {
    serde_json::json!({
        "credential_id": c.id, "name": c.name, "jira_url": c.jira_url, "email": c.email,
        "api_token": "[REDACTED]", "api_token_update_time": c.token_updated_at,
    })
}

/// The token's associated data: a ciphertext only opens on its own row.
pub fn token_context(credential_id: Uuid) -> String {
    format!("credential:{credential_id}")
}

fn url(state: &AppState, value: &str, field: &str) -> ApiResult<String> {
    if value.trim().is_empty() {
        return Err(ApiError::invalid(field, "is required"));
    }
    jira_url::normalize(value, state.config.allow_insecure_jira).map_err(|p| ApiError::invalid(field, p.to_string()))
}

/// The Jira site of a stored credential, with its token decrypted for this call only.
pub fn site_of(state: &AppState, credential: &db::credentials::Credential) -> ApiResult<Site> {
    let token =
        state.cipher.open(&credential.sealed_token(), &token_context(credential.id)).map_err(ApiError::internal)?;
    Ok(Site {
        base_url: credential.jira_url.clone(),
        email: credential.email.clone(),
        token,
        limit_key: credential.id.to_string(),
    })
}

impl Credentials {
    async fn create(&self, caller: Caller, request: proto::CreateCredentialRequest) -> ApiResult<proto::Credential> {
        let tenant_id = caller.tenant_scope("", "tenant_id")?;
        let name = convert::label(&request.name, "name", 200)?;
        let jira_url = url(&self.state, &request.jira_url, "jira_url")?;
        let email = convert::email(&request.email, "email")?;
        convert::secret(&request.api_token, "api_token", TOKEN_MAX)?;
        let id = Uuid::now_v7();
        let sealed = self.state.cipher.seal(&request.api_token, &token_context(id));
        let mut conn = self.state.pool.get().await?;
        let credential = conn
            .transaction::<_, ApiError, _>(async |conn| {
                let credential = db::credentials::insert(
                    conn,
                    db::credentials::NewCredential {
                        id,
                        tenant_id,
                        name: &name,
                        jira_url: &jira_url,
                        email: &email,
                        token: &sealed,
                    },
                )
                .await?;
                audit(
                    conn,
                    &caller,
                    tenant_id,
                    "CreateCredential",
                    ("credential", id.to_string()),
                    None,
                    Some(audit_view(&credential)),
                )
                .await?;
                Ok(credential)
            })
            .await?;
        tracing::info!(credential_id = %credential.id, "credential created");
        Ok(to_proto(credential))
    }

    async fn get(&self, caller: Caller, request: proto::GetCredentialRequest) -> ApiResult<proto::Credential> {
        let tenant_id = caller.tenant_scope("", "tenant_id")?;
        let id = convert::uuid(&request.credential_id, "credential_id")?;
        let mut conn = self.state.pool.get().await?;
        let credential = db::credentials::find(&mut conn, tenant_id, id).await?.ok_or_else(not_found)?;
        Ok(to_proto(credential))
    }

    async fn list(
        &self,
        caller: Caller,
        request: proto::ListCredentialsRequest,
    ) -> ApiResult<proto::ListCredentialsResponse> {
        let tenant_id = caller.tenant_scope("", "tenant_id")?;
        let page = Page::parse(request.page_size, &request.page_token)?;
        let mut conn = self.state.pool.get().await?;
        let mut rows = db::credentials::list(&mut conn, tenant_id, page.after()?, page.fetch_limit()).await?;
        let next_page_token = page.finish(&mut rows, |c| Cursor::Id(c.id));
        Ok(proto::ListCredentialsResponse { credentials: rows.into_iter().map(to_proto).collect(), next_page_token })
    }

    async fn update(&self, caller: Caller, request: proto::UpdateCredentialRequest) -> ApiResult<proto::Credential> {
        let tenant_id = caller.tenant_scope("", "tenant_id")?;
        let id = convert::uuid(&request.credential_id, "credential_id")?;
        let paths = convert::mask_paths(request.update_mask.as_ref(), &["name", "jira_url", "email", "api_token"])?;
        let now = Utc::now();
        let mut changes = db::credentials::Changes { updated_at: Some(now), ..Default::default() };
        for path in &paths {
            match path.as_str() {
                "name" => changes.name = Some(convert::label(&request.name, "name", 200)?),
                "jira_url" => changes.jira_url = Some(url(&self.state, &request.jira_url, "jira_url")?),
                "email" => changes.email = Some(convert::email(&request.email, "email")?),
                "api_token" => {
                    convert::secret(&request.api_token, "api_token", TOKEN_MAX)?;
                    let sealed = self.state.cipher.seal(&request.api_token, &token_context(id));
                    changes.token_ciphertext = Some(sealed.ciphertext);
                    changes.token_nonce = Some(sealed.nonce);
                    changes.token_key_id = Some(sealed.key_id);
                    changes.token_updated_at = Some(now);
                }
                _ => unreachable!("mask_paths only returns allowed paths"),
            }
        }
        let mut conn = self.state.pool.get().await?;
        let credential = conn
            .transaction::<_, ApiError, _>(async |conn| {
                let before = db::credentials::find_for_update(conn, tenant_id, id).await?.ok_or_else(not_found)?;
                let after = db::credentials::update(conn, tenant_id, id, &changes).await?;
                audit(
                    conn,
                    &caller,
                    tenant_id,
                    "UpdateCredential",
                    ("credential", id.to_string()),
                    Some(audit_view(&before)),
                    Some(audit_view(&after)),
                )
                .await?;
                Ok(after)
            })
            .await?;
        tracing::info!(credential_id = %id, fields = ?paths, "credential updated");
        Ok(to_proto(credential))
    }

    async fn delete(&self, caller: Caller, request: proto::DeleteCredentialRequest) -> ApiResult<()> {
        let tenant_id = caller.tenant_scope("", "tenant_id")?;
        let id = convert::uuid(&request.credential_id, "credential_id")?;
        let mut conn = self.state.pool.get().await?;
        conn.transaction::<_, ApiError, _>(async |conn| {
            let before = db::credentials::find_for_update(conn, tenant_id, id).await?.ok_or_else(not_found)?;
            let users = db::configurations::names_using_credential(conn, tenant_id, id).await?;
            if !users.is_empty() {
                return Err(ApiError::FailedPrecondition(format!(
                    "the credential is used by configurations {}; point them at another credential or delete them first",
                    users.join(", ")
                )));
            }
            db::credentials::delete(conn, tenant_id, id).await?;
            audit(conn, &caller, tenant_id, "DeleteCredential", ("credential", id.to_string()), Some(audit_view(&before)), None)
            .await?;
            Ok(())
        })
        .await?;
        tracing::info!(credential_id = %id, "credential deleted");
        Ok(())
    }

    async fn test_connection(
        &self,
        caller: Caller,
        request: proto::TestConnectionRequest,
    ) -> ApiResult<proto::TestConnectionResponse> {
        let tenant_id = caller.tenant_scope("", "tenant_id")?;
        let inline = !request.jira_url.is_empty() || !request.email.is_empty() || !request.api_token.is_empty();
        let site = match (request.credential_id.is_empty(), inline) {
            (false, true) => {
                return Err(ApiError::invalid(
                    "credential_id",
                    "give either credential_id or jira_url, email and api_token, not both",
                ));
            }
            (true, false) => {
                return Err(ApiError::invalid("credential_id", "give credential_id, or jira_url, email and api_token"));
            }
            (false, false) => {
                let id = convert::uuid(&request.credential_id, "credential_id")?;
                let mut conn = self.state.pool.get().await?;
                let credential = db::credentials::find(&mut conn, tenant_id, id).await?.ok_or_else(not_found)?;
                site_of(&self.state, &credential)?
            }
            (true, true) => {
                if request.jira_url.trim().is_empty() {
                    return Err(ApiError::invalid("jira_url", "is required"));
                }
                let email = convert::email(&request.email, "email")?;
                convert::secret(&request.api_token, "api_token", TOKEN_MAX)?;
                let base_url = match jira_url::normalize(&request.jira_url, self.state.config.allow_insecure_jira) {
                    Ok(url) => url,
                    Err(problem @ UrlProblem::Insecure(_)) => {
                        return Ok(failed(&request.jira_url, Reason::InsecureUrl, format!("jira_url: {problem}")));
                    }
                    Err(problem) => return Err(ApiError::invalid("jira_url", problem.to_string())),
                };
                Site {
                    base_url,
                    email,
                    token: SecretString::from(request.api_token.clone()),
                    limit_key: format!("test:{}", Uuid::new_v4()),
                }
            }
        };
        let account = match self.state.jira.myself(&site).await {
            Ok(account) => account,
            Err(err) => return Ok(failed(&site.base_url, failure_reason(&err), failure_message(&err))),
        };
        let projects = match self.state.jira.all_projects(&site).await {
            Ok(projects) => projects,
            Err(err) => return Ok(failed(&site.base_url, failure_reason(&err), failure_message(&err))),
        };
        tracing::info!(jira_url = %site.base_url, projects = projects.len(), "connection test passed");
        Ok(proto::TestConnectionResponse {
            ok: true,
            account_id: account.account_id,
            display_name: account.display_name,
            project_count: i32::try_from(projects.len()).unwrap_or(i32::MAX),
            failure_reason: Reason::Unspecified as i32,
            message: format!("signed in as {}; {} projects visible", site.email, projects.len()),
            jira_url: site.base_url,
        })
    }
}

fn not_found() -> ApiError {
    ApiError::NotFound("credential".into())
}

fn failed(jira_url: &str, reason: Reason, message: String) -> proto::TestConnectionResponse {
    tracing::info!(jira_url, ?reason, "connection test failed");
    proto::TestConnectionResponse {
        ok: false,
        failure_reason: reason as i32,
        message,
        jira_url: jira_url.to_owned(),
        ..Default::default()
    }
}

fn failure_reason(err: &JiraError) -> Reason {
    match err {
        JiraError::Unauthorized => Reason::TokenRejected,
        JiraError::Forbidden(_) => Reason::NoPermission,
        JiraError::RateLimited { .. } => Reason::RateLimited,
        JiraError::Transport { kind: TransportKind::Tls, .. } => Reason::TlsError,
        JiraError::Transport { .. } => Reason::Unreachable,
        JiraError::NotJira { .. } | JiraError::NotFound(_) | JiraError::Permanent { .. } => Reason::NotJira,
        JiraError::Server { .. } | JiraError::Invalid { .. } => Reason::JiraError,
    }
}

fn failure_message(err: &JiraError) -> String {
    match err {
        JiraError::Unauthorized => {
            "Jira rejected the email and API token: the token is wrong, expired or revoked, or belongs to \
             another account. Create a new token at id.atlassian.com and update the credential."
                .into()
        }
        JiraError::NotFound(_) => "this URL answers, but not as a Jira Cloud site (no /rest/api/3/myself)".into(),
        other => other.to_string(),
    }
}

super::grpc_service! {
    credential_service_server::CredentialService for Credentials {
        create_credential(CreateCredentialRequest) -> CreateCredentialResponse =
            |s, c, r| s.create(c, r).await.map(|credential| proto::CreateCredentialResponse { credential: Some(credential) });
        get_credential(GetCredentialRequest) -> GetCredentialResponse =
            |s, c, r| s.get(c, r).await.map(|credential| proto::GetCredentialResponse { credential: Some(credential) });
        list_credentials(ListCredentialsRequest) -> ListCredentialsResponse = |s, c, r| s.list(c, r).await;
        update_credential(UpdateCredentialRequest) -> UpdateCredentialResponse =
            |s, c, r| s.update(c, r).await.map(|credential| proto::UpdateCredentialResponse { credential: Some(credential) });
        delete_credential(DeleteCredentialRequest) -> DeleteCredentialResponse =
            |s, c, r| s.delete(c, r).await.map(|()| proto::DeleteCredentialResponse {});
        test_connection(TestConnectionRequest) -> TestConnectionResponse = |s, c, r| s.test_connection(c, r).await;
    }
}
