//! gRPC status codes of blocks and the header names of gRPC responses.

use http::header::CONTENT_TYPE;
use http::header::HeaderName;
use http::request::Parts;
use http::{HeaderValue, Response};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use sentinel_core::{BlockError, BlockType};

use crate::block::BlockHandler;
use crate::refusal::Refusal;

pub(crate) const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
pub(crate) const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");
pub(crate) const GRPC_RETRY_PUSHBACK: HeaderName =
    HeaderName::from_static("grpc-retry-pushback-ms");
pub(crate) const GRPC_CONTENT_TYPE: HeaderValue = HeaderValue::from_static("application/grpc");

/// `grpc-message` is percent-encoded: everything outside printable ASCII, and `%`.
const GRPC_MESSAGE_ESCAPES: &AsciiSet = &CONTROLS.add(b' ').add(b'%');

/// The gRPC status code a block answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GrpcCode {
    /// 7: an authority rule refused the caller.
    PermissionDenied = 7,
    /// 8: a flow or hot-parameter limit.
    ResourceExhausted = 8,
    /// 14: a circuit breaker, system protection, isolation or a custom check.
    Unavailable = 14,
}

impl GrpcCode {
    /// The code for a kind of block.
    ///
    /// ```
    /// use sentinel_adapters::GrpcCode;
    /// use sentinel_core::BlockType;
    /// assert_eq!(GrpcCode::of(BlockType::Flow), GrpcCode::ResourceExhausted);
    /// assert_eq!(GrpcCode::of(BlockType::System) as i32, 14);
    /// ```
    pub fn of(block_type: BlockType) -> Self {
        match Refusal::of(block_type) {
            Refusal::OverLimit => GrpcCode::ResourceExhausted,
            Refusal::Forbidden => GrpcCode::PermissionDenied,
            Refusal::Unavailable => GrpcCode::Unavailable,
        }
    }

    pub(crate) fn header_value(self) -> HeaderValue {
        HeaderValue::from(self as i32)
    }
}

/// The block as a percent-encoded `grpc-message`.
pub(crate) fn grpc_message(block: &BlockError) -> Option<HeaderValue> {
    let text = block.to_string();
    let encoded = utf8_percent_encode(&text, GRPC_MESSAGE_ESCAPES).to_string();
    HeaderValue::try_from(encoded).ok()
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
            // Rounded up: a client told to come back sooner would be refused again.
            let ms = u64::try_from(wait.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX);
            headers.insert(GRPC_RETRY_PUSHBACK, HeaderValue::from(ms));
        }
        response.extensions_mut().insert(block.clone());
        response
    }
}

/// The `tonic::Status` of a block (with the `tonic` feature): the code of [`GrpcCode::of`]
/// and the block as the message, for code that enters Sentinel by hand in a tonic handler.
///
/// ```
/// use sentinel_adapters::block_status;
/// use sentinel_core::{BlockError, BlockType};
/// let block = BlockError::new(BlockType::CircuitBreaking, "stock".into(), "breaker open");
/// assert_eq!(block_status(&block).code(), tonic::Code::Unavailable);
/// ```
#[cfg(feature = "tonic")]
pub fn block_status(block: &BlockError) -> tonic::Status {
    tonic::Status::new(
        tonic::Code::from_i32(GrpcCode::of(block.block_type()) as i32),
        block.to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_message_is_percent_encoded_printable_ascii_that_decodes_to_the_block() {
        let block = BlockError::new(BlockType::Flow, "/svc/M\r\n|x\0名".into(), "over the limit")
            .with_value(sentinel_core::ParamValue::from("v\n%20"));
        let header = grpc_message(&block).unwrap();
        let bytes = header.as_bytes();
        assert!(bytes.iter().all(|b| (0x20..0x7f).contains(b)), "{header:?}");
        let decoded = percent_encoding::percent_decode(bytes)
            .decode_utf8()
            .unwrap();
        assert_eq!(decoded, block.to_string());
        assert!(!decoded.chars().any(char::is_control), "{decoded:?}");
    }

    #[test]
    fn the_retry_pushback_is_never_shorter_than_the_wait() {
        let block = BlockError::new(BlockType::Flow, "/svc/M".into(), "over")
            .with_retry_after(std::time::Duration::from_micros(1500));
        let (parts, ()) = http::Request::post("/svc/M").body(()).unwrap().into_parts();
        let res: Response<()> = GrpcBlockResponse.block_response(&block, &parts);
        assert_eq!(res.headers()["grpc-retry-pushback-ms"], "2");
    }
}
