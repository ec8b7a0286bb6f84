//! gRPC status codes of blocks and the header names of gRPC responses.

use http::HeaderValue;
use http::header::HeaderName;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use sentinel_core::{BlockError, BlockType};

use crate::block::Refusal;

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
}
