//! [`ResponseFuture`] of a [`Guarded`](super::Guarded) service.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tower_service::Service;

use super::BlockMode;
use crate::admission::AdmittedFuture;
use crate::classify::Classify;

pin_project! {
    #[project = KindProj]
    enum Kind<S, Req, C, M>
    where
        S: Service<Req>,
        M: BlockMode<S::Response, S::Error>,
    {
        Blocked { result: Option<Result<S::Response, M::Error>> },
        Admitted {
            #[pin]
            future: AdmittedFuture<S, Req, C>,
        },
    }
}

pin_project! {
    /// The response of a [`Guarded`](super::Guarded) service: what its [`BlockMode`]
    /// answered for a blocked request, else the wrapped service's answer.
    pub struct ResponseFuture<S, Req, C, M>
    where
        S: Service<Req>,
        M: BlockMode<S::Response, S::Error>,
    {
        #[pin]
        kind: Kind<S, Req, C, M>,
    }
}

impl<S, Req, C, M> ResponseFuture<S, Req, C, M>
where
    S: Service<Req>,
    M: BlockMode<S::Response, S::Error>,
{
    pub(crate) fn blocked(result: Result<S::Response, M::Error>) -> Self {
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

impl<S, Req, C, M> Future for ResponseFuture<S, Req, C, M>
where
    S: Service<Req>,
    C: Classify<S::Response>,
    M: BlockMode<S::Response, S::Error>,
{
    type Output = Result<S::Response, M::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Blocked { result } => Poll::Ready(
                result
                    .take()
                    .expect("ResponseFuture polled after completion"),
            ),
            KindProj::Admitted { future } => future.poll(cx).map_err(M::service_error),
        }
    }
}
