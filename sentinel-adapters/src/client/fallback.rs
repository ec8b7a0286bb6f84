//! What a client call gets when Sentinel blocks it: an error, or a fallback response.

use http::request::Parts;
use sentinel_core::BlockError;

use crate::block::BlockHandler;

/// Turns a blocked call into its result: `Err(block)` (the caller sees
/// [`ClientError::Blocked`](super::ClientError::Blocked)) or a fallback response.
pub trait OnBlock<Res> {
    /// The result of a call (`request`: its head) that `block` refused.
    fn on_block(&self, block: BlockError, request: &Parts) -> Result<Res, BlockError>;
}

/// Blocked calls fail with [`ClientError::Blocked`](super::ClientError::Blocked) (the
/// default).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFallback;

impl<Res> OnBlock<Res> for NoFallback {
    #[inline]
    fn on_block(&self, block: BlockError, _request: &Parts) -> Result<Res, BlockError> {
        Err(block)
    }
}

/// Blocked calls succeed with the response of a [`BlockHandler`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Fallback<H>(pub H);

impl<Res, H: BlockHandler<Res>> OnBlock<Res> for Fallback<H> {
    fn on_block(&self, block: BlockError, request: &Parts) -> Result<Res, BlockError> {
        Ok(self.0.block_response(&block, request))
    }
}
