//! The tower layer that authenticates every gRPC call and enforces the role table.
use std::{
    sync::Arc,
    task::{Context, Poll},
};

use futures_util::future::BoxFuture;
use secrecy::SecretString;
use tonic::Status;
use tracing::Instrument as _;

use super::{Caller, cache::KeyCache, keys, roles};
use crate::{db, error::ApiError};

/// Authenticates callers; shared by every connection.
pub struct Authenticator {
    pool: db::DbPool,
    keys: Arc<KeyCache>,
    bootstrap_token: Option<SecretString>,
}

impl Authenticator {
    /// An authenticator over the key table, with the operator token if one is configured.
    pub fn new(pool: db::DbPool, keys: Arc<KeyCache>, bootstrap_token: Option<SecretString>) -> Self {
        Self { pool, keys, bootstrap_token }
    }

    async fn authenticate(&self, headers: &http::HeaderMap) -> Result<Caller, ApiError> {
        let presented = bearer(headers)?;
        if let Some(prefix) = keys::parse_prefix(presented) {
            let key = self
                .keys
                .get_or_load(prefix.to_owned(), || async {
                    let mut conn = self.pool.get().await?;
                    Ok::<_, ApiError>(db::tenants::find_key_by_prefix(&mut conn, prefix).await?)
                })
                .await?;
            let key = key
                .filter(|k| keys::matches(presented, &k.secret_hash))
                .ok_or_else(|| ApiError::Unauthenticated("invalid API key".into()))?;
            if key.revoked_at.is_some() {
                return Err(ApiError::Unauthenticated("this API key was revoked".into()));
            }
            let role = roles::Role::parse(&key.role)
                .ok_or_else(|| ApiError::internal(format!("stored role {:?}", key.role)))?;
            if key.last_used_stale() {
                let mut conn = self.pool.get().await?;
                db::tenants::touch_key(&mut conn, key.id).await?;
                let now = chrono::Utc::now();
                self.keys.update(prefix, |k| k.last_used_at = Some(now));
            }
            return Ok(Caller::Tenant { tenant_id: key.tenant_id, api_key_id: key.id, role });
        }
        match &self.bootstrap_token {
            Some(token) if keys::matches_token(presented, token) => Ok(Caller::Operator),
            _ => Err(ApiError::Unauthenticated("invalid API key".into())),
        }
    }
}

fn bearer(headers: &http::HeaderMap) -> Result<&str, ApiError> {
    let missing = || ApiError::Unauthenticated("missing credentials: send `authorization: Bearer <api key>`".into());
    let value = headers.get(http::header::AUTHORIZATION).ok_or_else(missing)?;
    let value = value.to_str().map_err(|_| missing())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(missing());
    }
    Ok(token.trim())
}

/// Applies [`AuthService`] to the gRPC router.
#[derive(Clone)]
pub struct AuthLayer {
    auth: Arc<Authenticator>,
}

impl AuthLayer {
    /// A layer sharing one authenticator.
    pub fn new(auth: Authenticator) -> Self {
        Self { auth: Arc::new(auth) }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService { inner, auth: self.auth.clone() }
    }
}

/// Authenticates, authorizes, and opens the request's tracing span.
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    auth: Arc<Authenticator>,
}

impl<S, B> tower::Service<http::Request<B>> for AuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The clone that was polled ready is the one that must serve this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let auth = self.auth.clone();
        let path = request.uri().path().to_owned();
        let span = tracing::info_span!("rpc", method = %path, tenant = tracing::field::Empty);
        Box::pin(
            async move {
                let Some(access) = roles::access_for(&path) else {
                    // Health, reflection, and unknown paths (which the router answers UNIMPLEMENTED).
                    return inner.call(request).await;
                };
                let caller = match auth.authenticate(request.headers()).await {
                    Ok(caller) => caller,
                    Err(err) => return Ok(Status::from(err).into_http()),
                };
                if let Some(tenant) = caller.tenant_id() {
                    tracing::Span::current().record("tenant", tracing::field::display(tenant));
                }
                if let Err(reason) = roles::check(access, &caller) {
                    return Ok(Status::permission_denied(reason).into_http());
                }
                request.extensions_mut().insert(caller);
                inner.call(request).await
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_requires_the_scheme() {
        let mut headers = http::HeaderMap::new();
        assert!(bearer(&headers).is_err());
        headers.insert("authorization", "Basic abc".parse().unwrap());
        assert!(bearer(&headers).is_err());
        headers.insert("authorization", "bearer   ".parse().unwrap());
        assert!(bearer(&headers).is_err());
        headers.insert("authorization", "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&headers).unwrap(), "abc");
    }
}
