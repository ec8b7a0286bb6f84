//! What a blocked request gets instead of reaching the service.

use http::header::RETRY_AFTER;
use http::request::Parts;
use http::{HeaderValue, Response, StatusCode};
use sentinel_core::{BlockError, BlockType};

use std::time::Duration;

use crate::refusal::Refusal;

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
