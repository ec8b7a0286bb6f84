//! [`ResponseFuture`] of the server-side middleware.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tower_service::Service;

use crate::admission::AdmittedFuture;
use crate::classify::Classify;

pin_project! {
    #[project = KindProj]
    enum Kind<S, Req, C>
    where
        S: Service<Req>,
    {
        Blocked { response: Option<S::Response> },
        Admitted {
            #[pin]
            future: AdmittedFuture<S, Req, C>,
        },
    }
}

pin_project! {
    /// The response of a [`SentinelService`](super::SentinelService): the block handler's
    /// response for a blocked request, else the wrapped service's.
    pub struct ResponseFuture<S, Req, C>
    where
        S: Service<Req>,
    {
        #[pin]
        kind: Kind<S, Req, C>,
    }
}

impl<S: Service<Req>, Req, C> ResponseFuture<S, Req, C> {
    pub(crate) fn blocked(response: S::Response) -> Self {
        ResponseFuture {
            kind: Kind::Blocked {
                response: Some(response),
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
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Blocked { response } => Poll::Ready(Ok(response
                .take()
                .expect("ResponseFuture polled after completion"))),
            KindProj::Admitted { future } => future.poll(cx),
        }
    }
}
