//! [`BlockMode`]: how a guarded service answers a blocked request, and its error type.

use http::request::Parts;
use sentinel_core::BlockError;

use crate::block::BlockHandler;

/// How a [`Guarded`](super::Guarded) service answers a request Sentinel blocked, and what
/// its error type is. Servers answer with a response ([`Respond`]) and keep the wrapped
/// service's error type; clients fail with
/// [`ClientError`](crate::ClientError) ([`NoFallback`](crate::NoFallback)) or answer with a
/// fallback response ([`Fallback`](crate::Fallback)).
pub trait BlockMode<Res, E> {
    /// The guarded service's error type.
    type Error;

    /// The result of a request (`request`: its head) that `block` refused.
    fn on_block(&self, block: BlockError, request: &Parts) -> Result<Res, Self::Error>;

    /// The guarded service's error for an error of the wrapped service.
    fn service_error(error: E) -> Self::Error;
}

/// Blocked requests get the response of a [`BlockHandler`]; errors are the wrapped
/// service's own (the mode of [`SentinelLayer`](crate::SentinelLayer)).
#[derive(Debug, Clone, Copy, Default)]
pub struct Respond<H>(pub H);

impl<Res, E, H: BlockHandler<Res>> BlockMode<Res, E> for Respond<H> {
    type Error = E;

    fn on_block(&self, block: BlockError, request: &Parts) -> Result<Res, E> {
        Ok(self.0.block_response(&block, request))
    }

    #[inline]
    fn service_error(error: E) -> E {
        error
    }
}
