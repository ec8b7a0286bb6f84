//! [`ResponseFuture`] of the client-side middleware.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use sentinel_core::BlockError;
use tower_service::Service;

use super::ClientError;
use crate::admission::AdmittedFuture;
use crate::classify::Classify;

pin_project! {
    #[project = KindProj]
    enum Kind<S, Req, C>
    where
        S: Service<Req>,
    {
        Blocked { result: Option<Result<S::Response, BlockError>> },
        Admitted {
            #[pin]
            future: AdmittedFuture<S, Req, C>,
        },
    }
}

pin_project! {
    /// The response of a [`SentinelClient`](super::SentinelClient): the wrapped client's,
    /// a fallback response, or [`ClientError::Blocked`].
    pub struct ResponseFuture<S, Req, C>
    where
        S: Service<Req>,
    {
        #[pin]
        kind: Kind<S, Req, C>,
    }
}

impl<S: Service<Req>, Req, C> ResponseFuture<S, Req, C> {
    pub(crate) fn blocked(result: Result<S::Response, BlockError>) -> Self {
        ResponseFuture {
            kind: Kind::Blocked {
                result: Some(result),
            },
        }
    }

    pub(crate) fn admitted(future: AdmittedFuture<S, Req, C>) -> Self {
        ResponseFuture {
            kind: Kind::Admitted { future },
        }
    }
}

impl<S, Req, C> Future for ResponseFuture<S, Req, C>
where
    S: Service<Req>,
    C: Classify<S::Response>,
{
    type Output = Result<S::Response, ClientError<S::Error>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Blocked { result } => Poll::Ready(
                result
                    .take()
                    .expect("ResponseFuture polled after completion")
                    .map_err(ClientError::Blocked),
            ),
            KindProj::Admitted { future } => future.poll(cx).map_err(ClientError::Service),
        }
    }
}
