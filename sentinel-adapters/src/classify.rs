//! Which responses count as failures: they mark their entry as an error, which feeds error
//! statistics and circuit breakers. An `Err` from the wrapped service always counts.

use http::Response;

use crate::grpc::GRPC_STATUS;

/// Decides whether a response is a failure.
///
/// Closures `Fn(&Response<B>) -> bool` are classifiers (`true`: a failure):
///
/// ```
/// use http::{Response, StatusCode};
/// use sentinel_adapters::Classify;
///
/// let slow_down_is_failure = |r: &Response<()>| r.status() == StatusCode::TOO_MANY_REQUESTS;
/// let mut res = Response::new(());
/// *res.status_mut() = StatusCode::TOO_MANY_REQUESTS;
/// assert!(slow_down_is_failure.failure(&res).is_some());
/// ```
pub trait Classify<Res> {
    /// Why `response` is a failure, or `None` if it is not.
    fn failure(&self, response: &Res) -> Option<&'static str>;
}

impl<B, F> Classify<Response<B>> for F
where
    F: Fn(&Response<B>) -> bool,
{
    fn failure(&self, response: &Response<B>) -> Option<&'static str> {
        self(response).then_some("response classified as a failure")
    }
}

/// HTTP: a 5xx status is a failure (the default).
///
/// ```
/// use http::{Response, StatusCode};
/// use sentinel_adapters::{Classify, ServerErrors};
///
/// let mut res = Response::new(());
/// assert!(ServerErrors.failure(&res).is_none());
/// *res.status_mut() = StatusCode::BAD_GATEWAY;
/// assert!(ServerErrors.failure(&res).is_some());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerErrors;

impl<B> Classify<Response<B>> for ServerErrors {
    #[inline]
    fn failure(&self, response: &Response<B>) -> Option<&'static str> {
        response
            .status()
            .is_server_error()
            .then_some("5xx response")
    }
}

/// gRPC: a non-OK `grpc-status` in the response head (a trailers-only response, which is
/// how servers answer a call that fails before any message) or an HTTP status other than
/// 2xx is a failure.
///
/// The entry ends with the response head, so a status sent in trailers after streamed
/// messages is not seen.
///
/// ```
/// use http::Response;
/// use sentinel_adapters::{Classify, GrpcErrors};
///
/// let mut res = Response::new(());
/// assert!(GrpcErrors.failure(&res).is_none());
/// res.headers_mut().insert("grpc-status", "0".parse().unwrap());
/// assert!(GrpcErrors.failure(&res).is_none());
/// res.headers_mut().insert("grpc-status", "13".parse().unwrap());
/// assert!(GrpcErrors.failure(&res).is_some());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcErrors;

impl<B> Classify<Response<B>> for GrpcErrors {
    fn failure(&self, response: &Response<B>) -> Option<&'static str> {
        if !response.status().is_success() {
            return Some("non-2xx HTTP status of a gRPC call");
        }
        match response.headers().get(GRPC_STATUS) {
            Some(status) if status.as_bytes() != b"0" => Some("non-OK grpc-status"),
            _ => None,
        }
    }
}
