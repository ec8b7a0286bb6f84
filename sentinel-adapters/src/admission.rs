//! What the server and client layers share: naming a request, admitting it, and the
//! future that holds its entry until the service has answered.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Request;
use pin_project_lite::pin_project;
use sentinel_core::{BlockError, Entry, EntryBuilder, ResourceType, Sentinel, TrafficType};
use tokio::time::Sleep;
use tower_service::Service;

use crate::args::RequestArgs;
use crate::classify::Classify;
use crate::resource::ResourceName;

/// How requests become entries, and how their outcome is judged.
#[derive(Debug, Clone)]
pub(crate) struct Admission<R, A, C> {
    pub sentinel: Sentinel,
    pub resource: R,
    pub args: A,
    pub classify: C,
    pub traffic: TrafficType,
    pub resource_type: ResourceType,
}

impl<R, A, C> Admission<R, A, C> {
    pub(crate) fn with_resource<R2>(self, resource: R2) -> Admission<R2, A, C> {
        Admission {
            sentinel: self.sentinel,
            resource,
            args: self.args,
            classify: self.classify,
            traffic: self.traffic,
            resource_type: self.resource_type,
        }
    }

    pub(crate) fn with_args<A2>(self, args: A2) -> Admission<R, A2, C> {
        Admission {
            sentinel: self.sentinel,
            resource: self.resource,
            args,
            classify: self.classify,
            traffic: self.traffic,
            resource_type: self.resource_type,
        }
    }

    pub(crate) fn with_classify<C2>(self, classify: C2) -> Admission<R, A, C2> {
        Admission {
            sentinel: self.sentinel,
            resource: self.resource,
            args: self.args,
            classify,
            traffic: self.traffic,
            resource_type: self.resource_type,
        }
    }

    /// Admits or refuses a request; never sleeps (a throttled entry carries its wait).
    #[inline]
    pub(crate) fn admit<B>(&self, request: &Request<B>) -> Result<Entry<'static>, BlockError>
    where
        R: ResourceName<B>,
        A: RequestArgs<B>,
    {
        self.resource.with_name(request, |name| {
            self.args
                .add_args(request, self.entry(name))
                .try_enter_owned()
        })
    }

    /// An entry of resource `name` with this admission's traffic and resource type.
    #[inline]
    pub(crate) fn entry<'a>(&'a self, name: &'a str) -> EntryBuilder<'a> {
        self.sentinel
            .entry(name)
            .traffic(self.traffic)
            .resource_type(self.resource_type)
    }

    /// Calls `service` with an admitted request: now, or after the entry's throttling
    /// wait on tokio's timer. A deferred call takes the service that was polled ready and
    /// leaves a clone in its place.
    #[inline]
    pub(crate) fn call<S, Req>(
        &self,
        service: &mut S,
        request: Req,
        entry: Entry<'static>,
    ) -> AdmittedFuture<S, Req, C>
    where
        S: Service<Req> + Clone,
        C: Clone,
    {
        let wait = entry.wait();
        let mut entry = InFlight::new(entry);
        let state = if wait.is_zero() {
            State::Calling {
                future: entry.guard(|| service.call(request)),
            }
        } else {
            let ready = std::mem::replace(service, service.clone());
            State::Waiting {
                sleep: Box::pin(tokio::time::sleep(wait)),
                call: Some(Box::new((ready, request))),
            }
        };
        AdmittedFuture {
            state,
            entry,
            classify: self.classify.clone(),
        }
    }
}

/// An admitted entry while its call runs. Dropped before [`InFlight::finish`] (the caller
/// went away, an outer timeout fired) it abandons the entry, so a half-open breaker's
/// probe goes back to open instead of counting as a success.
pub(crate) struct InFlight(Option<Entry<'static>>);

impl InFlight {
    #[inline]
    pub(crate) fn new(entry: Entry<'static>) -> Self {
        InFlight(Some(entry))
    }

    /// Runs `f`, a call or a poll of the service: if it panics, the entry exits as failed.
    #[inline]
    pub(crate) fn guard<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let _guard = ExitOnPanic(&mut self.0);
        f()
    }

    /// Exits the entry with the call's outcome: failed when `failure` says why. The entry
    /// is dropped where it lies (taking it out of the option would copy the whole guard).
    #[inline]
    pub(crate) fn finish(&mut self, failure: Option<&'static str>) {
        if let Some(entry) = &self.0
            && let Some(why) = failure
        {
            entry.set_error(why);
        }
        self.0 = None;
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(entry) = self.0.take() {
            entry.abandon();
        }
    }
}

/// While alive, marks the entry as failed and exits it if the thread unwinds (the
/// service panicked while being called or polled).
struct ExitOnPanic<'a>(&'a mut Option<Entry<'static>>);

impl Drop for ExitOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(entry) = self.0.take()
        {
            entry.set_error("the service panicked");
        }
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, Req, F> {
        // Throttled: the call happens when the timer fires. Boxed, so that the common
        // case does not carry (and move) room for a request in every future.
        Waiting {
            sleep: Pin<Box<Sleep>>,
            call: Option<Box<(S, Req)>>,
        },
        Calling {
            #[pin]
            future: F,
        },
    }
}

pin_project! {
    /// An admitted request: resolves to the service's answer, and exits the entry when
    /// it does (marking it failed for an `Err` or a response the classifier calls a
    /// failure). Dropped before that, it abandons the entry ([`InFlight`]): the caller
    /// went away.
    pub(crate) struct AdmittedFuture<S, Req, C>
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<S, Req, S::Future>,
        entry: InFlight,
        classify: C,
    }
}

impl<S, Req, C> Future for AdmittedFuture<S, Req, C>
where
    S: Service<Req>,
    C: Classify<S::Response>,
{
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Waiting { sleep, call } => {
                    ready!(sleep.as_mut().poll(cx));
                    let (mut service, request) =
                        *call.take().expect("AdmittedFuture polled after completion");
                    let future = this.entry.guard(|| service.call(request));
                    this.state.set(State::Calling { future });
                }
                StateProj::Calling { future } => {
                    let result = ready!(this.entry.guard(|| future.poll(cx)));
                    this.entry.finish(match &result {
                        Ok(response) => this.classify.failure(response),
                        Err(_) => Some("the service returned an error"),
                    });
                    return Poll::Ready(result);
                }
            }
        }
    }
}
