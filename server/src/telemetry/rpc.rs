//! The tower layer that counts gRPC calls by method and status code, and times them.
//!
//! It sits outside the authentication layer so that refusals are counted too. A call ends with
//! its `grpc-status`: in the response headers of a trailers-only response (every error tonic
//! returns before a message), otherwise in the trailers after the last message, so the body is
//! wrapped to see them. A streaming call is therefore counted and timed when its stream ends,
//! and a call abandoned before its status as `Canceled`.
use std::{
    borrow::Cow,
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
};

use futures_util::future::BoxFuture;
use http_body::{Body, Frame, SizeHint};
use tonic::Code;

/// Applies [`RpcMetrics`] to the gRPC router.
#[derive(Debug, Clone, Copy, Default)]
pub struct RpcMetricsLayer;

impl<S> tower::Layer<S> for RpcMetricsLayer {
    type Service = RpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcMetrics { inner }
    }
}

/// Counts `northstar_grpc_requests_total{method, code}` and times
/// `northstar_grpc_request_seconds{method}`.
#[derive(Debug, Clone)]
pub struct RpcMetrics<S> {
    inner: S,
}

impl<S, B, ResBody> tower::Service<http::Request<B>> for RpcMetrics<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: Body + Unpin,
{
    type Response = http::Response<MeteredBody<ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let mut call = Call { method: method_label(request.uri().path()), started: Instant::now(), done: false };
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = match response.await {
                Ok(response) => response,
                Err(err) => {
                    call.finish(Code::Unknown);
                    return Err(err);
                }
            };
            let (parts, body) = response.into_parts();
            if let Some(code) = status_code(&parts.headers) {
                call.finish(code);
            }
            Ok(http::Response::from_parts(parts, MeteredBody { inner: body, call }))
        })
    }
}

/// A call, recorded once with the first outcome known.
struct Call {
    method: Cow<'static, str>,
    started: Instant,
    done: bool,
}

impl Call {
    fn finish(&mut self, code: Code) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        metrics::counter!("northstar_grpc_requests_total", "method" => self.method.clone(), "code" => code_label(code))
            .increment(1);
        metrics::histogram!("northstar_grpc_request_seconds", "method" => self.method.clone())
            .record(self.started.elapsed().as_secs_f64());
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        // Dropped before a status was sent: the client went away (or its deadline passed), or
        // the server is stopping.
        self.finish(Code::Cancelled);
    }
}

/// A response body that records its call's outcome when the trailers pass, or when it ends or
/// is dropped without them.
pub struct MeteredBody<B> {
    inner: B,
    call: Call,
}

impl<B: Body + Unpin> Body for MeteredBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let code = match &polled {
            Poll::Pending => return polled,
            Poll::Ready(Some(Ok(frame))) => {
                frame.trailers_ref().map(|trailers| status_code(trailers).unwrap_or(Code::Unknown))
            }
            // A gRPC response must end with a status; one that does not reads as UNKNOWN to clients.
            Poll::Ready(Some(Err(_)) | None) => Some(Code::Unknown),
        };
        if let Some(code) = code {
            self.call.finish(code);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn status_code(headers: &http::HeaderMap) -> Option<Code> {
    let value = headers.get("grpc-status")?.to_str().ok()?.trim().parse::<i32>().ok()?;
    Some(Code::from_i32(value))
}

/// Known methods by their full name; anything else (a probe, a typo) shares one label, so that
/// callers cannot mint series.
fn method_label(path: &str) -> Cow<'static, str> {
    const INFRASTRUCTURE: &[&str] = &[
        "/grpc.health.v1.Health/Check",
        "/grpc.health.v1.Health/Watch",
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    ];
    if let Some(known) = INFRASTRUCTURE.iter().find(|m| **m == path) {
        Cow::Borrowed(known)
    } else if crate::auth::access_for(path).is_some() {
        // The role table names exactly the contract's methods.
        Cow::Owned(path.to_owned())
    } else {
        Cow::Borrowed("unknown")
    }
}

/// The canonical names of gRPC status codes (as other gRPC servers export them, so dashboards
/// written for those work here).
fn code_label(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_methods_get_their_own_label() {
        let create = "/northstar.jira.v1.TenantService/CreateTenant";
        assert_eq!(method_label(create), create);
        assert_eq!(method_label("/grpc.health.v1.Health/Check"), "/grpc.health.v1.Health/Check");
        assert_eq!(method_label("/northstar.jira.v1.TenantService/DropTables"), "unknown");
        assert_eq!(method_label("/x.Y/Z-4711"), "unknown");
    }

    #[test]
    fn the_status_is_read_from_headers_or_trailers() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(status_code(&headers), None);
        headers.insert("grpc-status", "7".parse().unwrap());
        assert_eq!(status_code(&headers).map(code_label), Some("PermissionDenied"));
        headers.insert("grpc-status", "0".parse().unwrap());
        assert_eq!(status_code(&headers).map(code_label), Some("OK"));
    }
}
