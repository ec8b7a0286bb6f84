//! [`Guarded`]: the middleware service of both layers.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::Request;
use sentinel_core::BlockError;
use tower_service::Service;

use super::{BlockMode, ResponseFuture};
use crate::admission::Admission;
use crate::args::RequestArgs;
use crate::classify::Classify;
use crate::resource::{ResourceName, RouterOutside};

/// A service guarded by Sentinel, made by [`SentinelLayer`](crate::SentinelLayer) (as a
/// [`SentinelService`](crate::SentinelService)) or
/// [`SentinelClientLayer`](crate::SentinelClientLayer) (as a
/// [`SentinelClient`](crate::SentinelClient)). Each request is admitted in `call`; a
/// blocked one is answered as the [`BlockMode`] `M` says without reaching the wrapped
/// service.
#[derive(Debug, Clone)]
pub struct Guarded<S, R, A, C, M> {
    inner: S,
    admission: Admission<R, A, C>,
    mode: M,
    /// Set when a server layer guards an axum router from outside.
    outside: Option<Arc<RouterOutside>>,
}

impl<S, R, A, C, M> Guarded<S, R, A, C, M> {
    pub(crate) fn new(
        inner: S,
        admission: Admission<R, A, C>,
        mode: M,
        outside: Option<Arc<RouterOutside>>,
    ) -> Self {
        Guarded {
            inner,
            admission,
            mode,
            outside,
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapped service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B, R, A, C, M> Service<Request<B>> for Guarded<S, R, A, C, M>
where
    S: Service<Request<B>> + Clone,
    R: ResourceName<B>,
    A: RequestArgs<B>,
    C: Classify<S::Response> + Clone,
    M: BlockMode<S::Response, S::Error>,
{
    type Response = S::Response;
    type Error = M::Error;
    type Future = ResponseFuture<S, Request<B>, C, M>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(M::service_error)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if let Some(outside) = &self.outside {
            outside.check(&request);
        }
        match self.admission.admit(&request) {
            Ok(entry) => {
                ResponseFuture::admitted(self.admission.call(&mut self.inner, request, entry))
            }
            Err(block) => blocked(&self.mode, block, request),
        }
    }
}

/// Answers a blocked request (kept out of line: the admitted path is the hot one).
#[cold]
#[inline(never)]
fn blocked<S, B, C, M>(
    mode: &M,
    block: BlockError,
    request: Request<B>,
) -> ResponseFuture<S, Request<B>, C, M>
where
    S: Service<Request<B>>,
    M: BlockMode<S::Response, S::Error>,
{
    let (parts, _body) = request.into_parts();
    ResponseFuture::blocked(mode.on_block(block, &parts))
}
