//! [`SentinelService`]: the server-side middleware.

use std::task::{Context, Poll};

use http::Request;
use tower_service::Service;

use super::ResponseFuture;
use crate::admission::Admission;
use crate::args::{NoArgs, RequestArgs};
use crate::block::{BlockHandler, HttpBlockResponse};
use crate::classify::{Classify, ServerErrors};
use crate::resource::{ResourceName, RouteName};

/// A service guarded by Sentinel; made by [`SentinelLayer`](super::SentinelLayer). With
/// the defaults of [`SentinelLayer::new`](super::SentinelLayer::new), its type is
/// `SentinelService<S>`.
#[derive(Debug, Clone)]
pub struct SentinelService<S, R = RouteName, A = NoArgs, C = ServerErrors, H = HttpBlockResponse> {
    inner: S,
    admission: Admission<R, A, C>,
    block: H,
}

impl<S, R, A, C, H> SentinelService<S, R, A, C, H> {
    pub(crate) fn new(inner: S, admission: Admission<R, A, C>, block: H) -> Self {
        SentinelService {
            inner,
            admission,
            block,
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

impl<S, B, R, A, C, H> Service<Request<B>> for SentinelService<S, R, A, C, H>
where
    S: Service<Request<B>> + Clone,
    R: ResourceName<B>,
    A: RequestArgs<B>,
    C: Classify<S::Response> + Clone,
    H: BlockHandler<S::Response>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S, Request<B>, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        match self.admission.admit(&request) {
            Ok(entry) => {
                ResponseFuture::admitted(self.admission.call(&mut self.inner, request, entry))
            }
            Err(block) => {
                let (parts, _body) = request.into_parts();
                ResponseFuture::blocked(self.block.block_response(&block, &parts))
            }
        }
    }
}
