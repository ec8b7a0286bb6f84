//! [`ClientError`]: a call that was blocked, or that the wrapped client failed.

use std::fmt;

use sentinel_core::BlockError;

/// The error of a [`SentinelClient`](super::SentinelClient).
///
/// ```
/// use sentinel_adapters::ClientError;
/// use sentinel_core::{BlockError, BlockType};
///
/// fn describe(e: &ClientError<std::io::Error>) -> String {
///     match e {
///         ClientError::Blocked(block) => format!("not called: {}", block.block_type()),
///         ClientError::Service(io) => format!("failed: {io}"),
///     }
/// }
/// let blocked = ClientError::Blocked(BlockError::new(BlockType::CircuitBreaking, "stock".into(), "open"));
/// assert_eq!(describe(&blocked), "not called: CircuitBreaking");
/// ```
#[derive(Debug)]
pub enum ClientError<E> {
    /// Sentinel refused the call; the wrapped client was not called.
    Blocked(BlockError),
    /// The wrapped client returned this error (it counts as a failure).
    Service(E),
}

impl<E> ClientError<E> {
    /// The block, if Sentinel refused the call.
    pub fn block(&self) -> Option<&BlockError> {
        match self {
            ClientError::Blocked(block) => Some(block),
            ClientError::Service(_) => None,
        }
    }

    /// Whether Sentinel refused the call.
    pub fn is_blocked(&self) -> bool {
        self.block().is_some()
    }

    /// The wrapped client's error, if it failed.
    pub fn into_service_error(self) -> Option<E> {
        match self {
            ClientError::Blocked(_) => None,
            ClientError::Service(e) => Some(e),
        }
    }
}

impl<E: fmt::Display> fmt::Display for ClientError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Blocked(block) => write!(f, "call not made: {block}"),
            ClientError::Service(e) => e.fmt(f),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for ClientError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Blocked(block) => Some(block),
            ClientError::Service(_) => None,
        }
    }
}

/// A block becomes its gRPC status (see [`block_status`](crate::block_status)); a
/// client error becomes UNKNOWN with its message.
#[cfg(feature = "tonic")]
impl<E: fmt::Display> From<ClientError<E>> for tonic::Status {
    fn from(e: ClientError<E>) -> Self {
        match e {
            ClientError::Blocked(block) => crate::block_status(&block),
            ClientError::Service(e) => tonic::Status::unknown(e.to_string()),
        }
    }
}
