//! What a client call gets when Sentinel blocks it: an error, or a fallback response.

use http::request::Parts;
use sentinel_core::BlockError;

use super::ClientError;
use crate::block::BlockHandler;
use crate::guarded::BlockMode;

/// Blocked calls fail with [`ClientError::Blocked`] (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFallback;

impl<Res, E> BlockMode<Res, E> for NoFallback {
    type Error = ClientError<E>;

    fn on_block(&self, block: BlockError, _request: &Parts) -> Result<Res, ClientError<E>> {
        Err(ClientError::Blocked(block))
    }

    #[inline]
    fn service_error(error: E) -> ClientError<E> {
        ClientError::Service(error)
    }
}

/// Blocked calls succeed with the response of a [`BlockHandler`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Fallback<H>(pub H);

impl<Res, E, H: BlockHandler<Res>> BlockMode<Res, E> for Fallback<H> {
    type Error = ClientError<E>;

    fn on_block(&self, block: BlockError, request: &Parts) -> Result<Res, ClientError<E>> {
        Ok(self.0.block_response(&block, request))
    }

    #[inline]
    fn service_error(error: E) -> ClientError<E> {
        ClientError::Service(error)
    }
}
