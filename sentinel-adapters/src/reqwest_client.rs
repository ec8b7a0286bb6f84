//! [`SentinelMiddleware`]: outbound reqwest calls through reqwest-middleware (feature
//! `reqwest`).

use std::fmt::Write as _;
use std::future::Future;

use http::Extensions;
use reqwest::{Request, Response};
use reqwest_middleware::{Error, Middleware, Next};
use sentinel_core::{BlockError, ResourceType, Sentinel, TrafficType};

use crate::admission::{Admission, InFlight};
use crate::args::NoArgs;
use crate::classify::{Classify, ServerErrors};
use crate::resource::{FixedName, method_name, with_built_name};

/// Guards the calls of a reqwest client made with reqwest-middleware: each request is an
/// Outbound entry of its resource, made when the request is sent.
///
/// - **Resource**: `"{METHOD} {host}{path}"` by default ([`MethodHostPath`]); one
///   resource per dependency with [`FixedName`], or any [`ReqwestName`] (a closure
///   `Fn(&reqwest::Request) -> impl AsRef<str>`) through
///   [`SentinelMiddleware::resource`].
/// - **Blocked**: the request is not sent; the call fails with
///   `reqwest_middleware::Error::Middleware` holding the [`BlockError`] (its
///   [`retry_after`](BlockError::retry_after) says when the refusing limiter would admit
///   it); [`SentinelMiddleware::block_of`] finds it.
/// - **Throttled**: the request waits on tokio's timer, then is sent.
/// - **Failures**: an `Err` from the rest of the chain (connection refused, timeout, a
///   later middleware's error) and a response the classifier calls a failure (default:
///   5xx, [`ServerErrors`]; any [`Classify`] of `reqwest::Response`, such as a closure
///   `Fn(&reqwest::Response) -> bool`) mark the entry as an error, which feeds circuit
///   breakers. A call dropped before its response abandons its entry.
///
/// The entry ends with the response head; reading the body is not part of its RT.
///
/// ```
/// use reqwest_middleware::ClientBuilder;
/// use sentinel_adapters::{FixedName, SentinelMiddleware};
/// use sentinel_core::Sentinel;
///
/// let sentinel = Sentinel::new();
/// let client = ClientBuilder::new(reqwest::Client::new())
///     // Every call is an entry of "payments", whatever its URL.
///     .with(SentinelMiddleware::new(sentinel.clone()).resource(FixedName::new("payments")))
///     .build();
/// # drop(client);
/// ```
#[derive(Debug, Clone)]
pub struct SentinelMiddleware<N = MethodHostPath, C = ServerErrors> {
    admission: Admission<N, NoArgs, C>,
}

impl SentinelMiddleware {
    /// A middleware of `sentinel`: resources `"{METHOD} {host}{path}"`
    /// ([`MethodHostPath`]), errors and 5xx responses count as failures
    /// ([`ServerErrors`]), resource type Common.
    pub fn new(sentinel: Sentinel) -> Self {
        SentinelMiddleware {
            admission: Admission {
                sentinel,
                resource: MethodHostPath,
                args: NoArgs,
                classify: ServerErrors,
                traffic: TrafficType::Outbound,
                resource_type: ResourceType::Common,
            },
        }
    }

    /// The [`BlockError`] in `error`, if Sentinel refused the call (the request was not
    /// sent).
    ///
    /// ```
    /// use sentinel_adapters::SentinelMiddleware;
    /// use sentinel_core::{BlockError, BlockType};
    ///
    /// let block = BlockError::new(BlockType::CircuitBreaking, "payments".into(), "open");
    /// let error = reqwest_middleware::Error::middleware(block);
    /// let found = SentinelMiddleware::block_of(&error).unwrap();
    /// assert_eq!(found.block_type(), BlockType::CircuitBreaking);
    /// ```
    pub fn block_of(error: &Error) -> Option<&BlockError> {
        match error {
            Error::Middleware(e) => e.downcast_ref::<BlockError>(),
            Error::Reqwest(_) => None,
        }
    }
}

impl<N, C> SentinelMiddleware<N, C> {
    /// Names resources with `resource` (a [`ReqwestName`]): [`FixedName`] for one
    /// resource per dependency, or a closure.
    pub fn resource<N2>(self, resource: N2) -> SentinelMiddleware<N2, C> {
        SentinelMiddleware {
            admission: self.admission.with_resource(resource),
        }
    }

    /// Judges responses with `classify` (a [`Classify`] of `reqwest::Response`).
    pub fn classify<C2>(self, classify: C2) -> SentinelMiddleware<N, C2> {
        SentinelMiddleware {
            admission: self.admission.with_classify(classify),
        }
    }

    /// The resource type recorded with entries (for the metric log).
    pub fn resource_type(mut self, resource_type: ResourceType) -> Self {
        self.admission.resource_type = resource_type;
        self
    }

    /// The instance the middleware admits calls with.
    pub fn sentinel(&self) -> &Sentinel {
        &self.admission.sentinel
    }
}

#[async_trait::async_trait]
impl<N, C> Middleware for SentinelMiddleware<N, C>
where
    N: ReqwestName + Send + Sync + 'static,
    C: Classify<Response> + Send + Sync + 'static,
{
    async fn handle(
        &self,
        request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let admission = &self.admission;
        let entry = admission
            .resource
            .with_name(&request, |name| admission.entry(name).try_enter_owned())
            .map_err(Error::middleware)?;
        let wait = entry.wait();
        // From here on, a dropped call abandons the entry.
        let mut entry = InFlight::new(entry);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let mut call = std::pin::pin!(next.run(request, extensions));
        let result = std::future::poll_fn(|cx| entry.guard(|| call.as_mut().poll(cx))).await;
        entry.finish(match &result {
            Ok(response) => admission.classify.failure(response),
            Err(_) => Some("the request failed"),
        });
        result
    }
}

/// Names the resource of an outbound reqwest request: the counterpart of
/// [`ResourceName`](crate::ResourceName) for `reqwest::Request`.
///
/// Closures `Fn(&reqwest::Request) -> N` where `N: AsRef<str>` are namers:
///
/// ```
/// use sentinel_adapters::ReqwestName;
///
/// let by_host = |req: &reqwest::Request| req.url().host_str().unwrap_or("").to_owned();
/// let req = reqwest::Request::new(
///     reqwest::Method::GET,
///     "http://stock.internal/items/7".parse().unwrap(),
/// );
/// assert_eq!(by_host.with_name(&req, str::to_owned), "stock.internal");
/// ```
pub trait ReqwestName {
    /// Calls `f` with the resource name of `request` and returns what `f` returns.
    fn with_name<T>(&self, request: &Request, f: impl FnOnce(&str) -> T) -> T;
}

impl<F, N> ReqwestName for F
where
    F: Fn(&Request) -> N,
    N: AsRef<str>,
{
    fn with_name<T>(&self, request: &Request, f: impl FnOnce(&str) -> T) -> T {
        f(self(request).as_ref())
    }
}

/// One resource for every call (a dependency's name).
impl ReqwestName for FixedName {
    fn with_name<T>(&self, _request: &Request, f: impl FnOnce(&str) -> T) -> T {
        f(self.as_str())
    }
}

/// The default namer of [`SentinelMiddleware`]: `"{METHOD} {host}{path}"`, the host with
/// `:{port}` when the URL names a port other than its scheme's default, the path without
/// the query (`GET api.example.com/items/7`, `POST 127.0.0.1:8080/orders`). Methods are
/// named as on the server side: the standard ones, `HEAD` as `GET`, any other as `OTHER`.
///
/// Each distinct path is a resource of its own: when paths carry ids, name calls with
/// [`FixedName`] or a closure so that rules can name them (Sentinel caps the number of
/// resources, `SentinelBuilder::max_resources`, so URLs cannot exhaust memory).
///
/// ```
/// use sentinel_adapters::{MethodHostPath, ReqwestName};
///
/// let url = "https://api.example.com:8443/items?page=2".parse().unwrap();
/// let req = reqwest::Request::new(reqwest::Method::GET, url);
/// assert_eq!(MethodHostPath.with_name(&req, str::to_owned), "GET api.example.com:8443/items");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct MethodHostPath;

impl ReqwestName for MethodHostPath {
    fn with_name<T>(&self, request: &Request, f: impl FnOnce(&str) -> T) -> T {
        let url = request.url();
        with_built_name(
            |name| {
                name.push_str(method_name(request.method()));
                name.push(' ');
                name.push_str(url.host_str().unwrap_or_default());
                if let Some(port) = url.port() {
                    // Writing into a String cannot fail.
                    let _ = write!(name, ":{port}");
                }
                name.push_str(url.path());
            },
            f,
        )
    }
}

/// HTTP through reqwest: a 5xx status is a failure (the default).
impl Classify<Response> for ServerErrors {
    #[inline]
    fn failure(&self, response: &Response) -> Option<&'static str> {
        response
            .status()
            .is_server_error()
            .then_some("5xx response")
    }
}

/// Closures `Fn(&reqwest::Response) -> bool` are classifiers (`true`: a failure).
impl<F> Classify<Response> for F
where
    F: Fn(&Response) -> bool,
{
    fn failure(&self, response: &Response) -> Option<&'static str> {
        self(response).then_some("response classified as a failure")
    }
}
