//! What a blocked request gets instead of reaching the service.

use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::request::Parts;
use http::{HeaderValue, Response, StatusCode};
use sentinel_core::{BlockError, BlockType};

use std::time::Duration;

use crate::grpc::{
    GRPC_CONTENT_TYPE, GRPC_MESSAGE, GRPC_RETRY_PUSHBACK, GRPC_STATUS, GrpcCode, grpc_message,
};

/// Builds the response to a blocked request.
///
/// Closures `Fn(&BlockError, &Parts) -> Response<B>` are handlers:
///
/// ```
/// use http::{request::Parts, Response, StatusCode};
/// use sentinel_adapters::SentinelLayer;
/// use sentinel_core::{BlockError, Sentinel};
///
/// let layer = SentinelLayer::new(Sentinel::new()).on_block(|block: &BlockError, _: &Parts| {
///     let mut res = Response::new(format!("busy, try later ({})", block.block_type()));
///     *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
///     res
/// });
/// # drop(layer);
/// ```
pub trait BlockHandler<Res> {
    /// The response to a request (`request`: its head) that `block` refused.
    fn block_response(&self, block: &BlockError, request: &Parts) -> Res;
}

impl<Res, F> BlockHandler<Res> for F
where
    F: Fn(&BlockError, &Parts) -> Res,
{
    fn block_response(&self, block: &BlockError, request: &Parts) -> Res {
        self(block, request)
    }
}

/// The HTTP status of a block: 429 Too Many Requests for flow and hot-parameter limits,
/// 403 Forbidden for authority rules, 503 Service Unavailable for circuit breakers, system
/// protection, isolation and custom checks.
///
/// ```
/// use http::StatusCode;
/// use sentinel_adapters::http_status;
/// use sentinel_core::BlockType;
/// assert_eq!(http_status(BlockType::HotSpotParamFlow), StatusCode::TOO_MANY_REQUESTS);
/// assert_eq!(http_status(BlockType::CircuitBreaking), StatusCode::SERVICE_UNAVAILABLE);
/// ```
pub fn http_status(block_type: BlockType) -> StatusCode {
    match Refusal::of(block_type) {
        Refusal::OverLimit => StatusCode::TOO_MANY_REQUESTS,
        Refusal::Forbidden => StatusCode::FORBIDDEN,
        Refusal::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// What a block means to the caller, which both HTTP statuses and gRPC codes follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Over a flow or hot-parameter limit: slow down.
    OverLimit,
    /// An authority rule refused the caller.
    Forbidden,
    /// A breaker, system protection, isolation or a custom check: try later.
    Unavailable,
}

impl Refusal {
    pub(crate) fn of(block_type: BlockType) -> Self {
        match block_type {
            BlockType::Flow | BlockType::HotSpotParamFlow => Refusal::OverLimit,
            BlockType::Authority => Refusal::Forbidden,
            BlockType::CircuitBreaking
            | BlockType::System
            | BlockType::Isolation
            | BlockType::Custom(_) => Refusal::Unavailable,
        }
    }
}

/// The default HTTP answer to a block: the [`http_status`] of the block, an empty body,
/// `Retry-After` with the wait the refusing limiter reports
/// ([`BlockError::retry_after`]: a flow window, a token bucket, a pacing slot, the rest of
/// a breaker's retry timeout), in whole seconds rounded up and at least 1, and the
/// [`BlockError`] in the response's extensions for outer layers. A block whose limiter
/// cannot tell (a concurrency limit, a batch that never fits) gets no `Retry-After`
/// (SEMANTICS §11).
///
/// ```
/// use std::time::Duration;
/// use http::{Request, Response};
/// use sentinel_adapters::{BlockHandler, HttpBlockResponse};
/// use sentinel_core::{BlockError, BlockType};
///
/// let block = BlockError::new(BlockType::Flow, "GET /items".into(), "over the limit")
///     .with_retry_after(Duration::from_millis(42_300));
/// let (parts, ()) = Request::get("/items").body(()).unwrap().into_parts();
/// let res: Response<String> = HttpBlockResponse::default().block_response(&block, &parts);
/// assert_eq!(res.status(), 429);
/// assert_eq!(res.headers()["retry-after"], "43");
/// assert!(res.extensions().get::<BlockError>().is_some());
/// ```
#[derive(Debug, Clone, Default)]
pub struct HttpBlockResponse {
    /// A fixed `Retry-After` for every block, instead of the limiter's wait.
    fixed: Option<HeaderValue>,
}

impl HttpBlockResponse {
    /// Sends `Retry-After: secs` on every block, whatever the refusing limiter reports.
    pub fn retry_after_secs(secs: u32) -> Self {
        HttpBlockResponse {
            fixed: Some(HeaderValue::from(secs)),
        }
    }
}

/// A wait as `Retry-After` seconds: rounded up, at least 1.
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

impl<B: Default> BlockHandler<Response<B>> for HttpBlockResponse {
    fn block_response(&self, block: &BlockError, _request: &Parts) -> Response<B> {
        let mut response = Response::new(B::default());
        *response.status_mut() = http_status(block.block_type());
        let retry_after = match &self.fixed {
            Some(fixed) => Some(fixed.clone()),
            None => block
                .retry_after()
                .map(|wait| HeaderValue::from(retry_after_secs(wait))),
        };
        if let Some(value) = retry_after {
            response.headers_mut().insert(RETRY_AFTER, value);
        }
        response.extensions_mut().insert(block.clone());
        response
    }
}

/// The gRPC answer to a block: a trailers-only response (HTTP 200, `content-type:
/// application/grpc`, no body) whose `grpc-status` is RESOURCE_EXHAUSTED (8) for flow and
/// hot-parameter limits, PERMISSION_DENIED (7) for authority rules and UNAVAILABLE (14)
/// otherwise, with the block in `grpc-message` and, when the refusing limiter says when it
/// would admit, that wait in `grpc-retry-pushback-ms` (what gRPC clients' retry policies
/// honour).
///
/// ```
/// use http::{Request, Response};
/// use sentinel_adapters::{BlockHandler, GrpcBlockResponse};
/// use sentinel_core::{BlockError, BlockType};
///
/// let block = BlockError::new(BlockType::Flow, "/shop.Inventory/Reserve".into(), "over the limit");
/// let (parts, ()) = Request::post("/shop.Inventory/Reserve").body(()).unwrap().into_parts();
/// let res: Response<()> = GrpcBlockResponse.block_response(&block, &parts);
/// assert_eq!(res.status(), 200);
/// assert_eq!(res.headers()["grpc-status"], "8");
/// assert!(res.headers()["grpc-message"].to_str().unwrap().starts_with("Flow%20blocked"));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcBlockResponse;

impl<B: Default> BlockHandler<Response<B>> for GrpcBlockResponse {
    fn block_response(&self, block: &BlockError, _request: &Parts) -> Response<B> {
        let mut response = Response::new(B::default());
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, GRPC_CONTENT_TYPE);
        headers.insert(GRPC_STATUS, GrpcCode::of(block.block_type()).header_value());
        if let Some(message) = grpc_message(block) {
            headers.insert(GRPC_MESSAGE, message);
        }
        if let Some(wait) = block.retry_after() {
            let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
            headers.insert(GRPC_RETRY_PUSHBACK, HeaderValue::from(ms));
        }
        response.extensions_mut().insert(block.clone());
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds_of_at_least_one() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(100)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(43)), 43);
    }
}
