//! [`SentinelClient`]: the client-side middleware.

use std::task::{Context, Poll};

use http::Request;
use tower_service::Service;

use super::{ClientError, NoFallback, OnBlock, ResponseFuture};
use crate::admission::Admission;
use crate::args::{NoArgs, RequestArgs};
use crate::classify::{Classify, ServerErrors};
use crate::resource::{FixedName, ResourceName};

/// A client guarded by Sentinel; made by [`SentinelClientLayer`](super::SentinelClientLayer).
/// With the defaults of [`SentinelClientLayer::new`](super::SentinelClientLayer::new), its
/// type is `SentinelClient<S>`.
#[derive(Debug, Clone)]
pub struct SentinelClient<S, R = FixedName, A = NoArgs, C = ServerErrors, F = NoFallback> {
    inner: S,
    admission: Admission<R, A, C>,
    on_block: F,
}

impl<S, R, A, C, F> SentinelClient<S, R, A, C, F> {
    pub(crate) fn new(inner: S, admission: Admission<R, A, C>, on_block: F) -> Self {
        SentinelClient {
            inner,
            admission,
            on_block,
        }
    }

    /// The wrapped client.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped client, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapped client, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B, R, A, C, F> Service<Request<B>> for SentinelClient<S, R, A, C, F>
where
    S: Service<Request<B>> + Clone,
    R: ResourceName<B>,
    A: RequestArgs<B>,
    C: Classify<S::Response> + Clone,
    F: OnBlock<S::Response>,
{
    type Response = S::Response;
    type Error = ClientError<S::Error>;
    type Future = ResponseFuture<S, Request<B>, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(ClientError::Service)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        match self.admission.admit(&request) {
            Ok(entry) => {
                ResponseFuture::admitted(self.admission.call(&mut self.inner, request, entry))
            }
            Err(block) => {
                let (parts, _body) = request.into_parts();
                ResponseFuture::blocked(self.on_block.on_block(block, &parts))
            }
        }
    }
}
