//! How a request is named: the Sentinel resource its entry is made on.

use std::cell::RefCell;
use std::sync::Arc;

use http::Request;

/// Names the resource of a request.
///
/// The name is lent to a closure rather than returned, so the default namer can build
/// `"{METHOD} {route}"` in a reused buffer instead of allocating a string per request.
///
/// Closures `Fn(&Request<B>) -> N` where `N: AsRef<str>` (a `String`, a `&'static str`)
/// are namers:
///
/// ```
/// use http::Request;
/// use sentinel_adapters::ResourceName;
///
/// let by_tenant = |req: &Request<()>| match req.headers().get("x-tenant") {
///     Some(_) => "tenant traffic",
///     None => "anonymous traffic",
/// };
/// let req = Request::get("/").header("x-tenant", "acme").body(()).unwrap();
/// assert_eq!(by_tenant.with_name(&req, str::to_owned), "tenant traffic");
/// ```
pub trait ResourceName<B> {
    /// Calls `f` with the resource name of `request` and returns what `f` returns.
    fn with_name<T>(&self, request: &Request<B>, f: impl FnOnce(&str) -> T) -> T;
}

impl<B, F, N> ResourceName<B> for F
where
    F: Fn(&Request<B>) -> N,
    N: AsRef<str>,
{
    fn with_name<T>(&self, request: &Request<B>, f: impl FnOnce(&str) -> T) -> T {
        f(self(request).as_ref())
    }
}

/// The default server-side namer: `"{METHOD} {route}"`.
///
/// The route is axum's [`MatchedPath`](axum::extract::MatchedPath) when the request has
/// one (with the `axum` feature; the layer must sit inside the `Router`, as
/// `Router::layer` puts it), so `/items/42` and `/items/43` are one resource
/// `GET /items/{id}`. Otherwise it is the URI path without the query.
///
/// Without a matched path every distinct path is its own resource. Sentinel caps the
/// number of resources (`SentinelBuilder::max_resources`), so paths chosen by clients
/// cannot exhaust memory, but rules are written for routes: keep the layer inside the
/// router, or name resources yourself.
///
/// ```
/// use http::Request;
/// use sentinel_adapters::{ResourceName, RouteName};
///
/// let req = Request::get("/items/42?full=1").body(()).unwrap();
/// assert_eq!(RouteName.with_name(&req, str::to_owned), "GET /items/42");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct RouteName;

impl<B> ResourceName<B> for RouteName {
    fn with_name<T>(&self, request: &Request<B>, f: impl FnOnce(&str) -> T) -> T {
        thread_local! {
            static NAME: RefCell<String> = const { RefCell::new(String::new()) };
        }
        let method = request.method().as_str();
        let route = route_of(request);
        NAME.with(|buffer| match buffer.try_borrow_mut() {
            Ok(mut name) => {
                name.clear();
                push_name(&mut name, method, route);
                f(&name)
            }
            // Only reached if `f` names another request on this thread.
            Err(_) => {
                let mut name = String::new();
                push_name(&mut name, method, route);
                f(&name)
            }
        })
    }
}

fn push_name(name: &mut String, method: &str, route: &str) {
    name.push_str(method);
    name.push(' ');
    name.push_str(route);
}

/// The route of a request: axum's matched path if there is one, else the URI path.
pub(crate) fn route_of<B>(request: &Request<B>) -> &str {
    matched_path(request).unwrap_or_else(|| request.uri().path())
}

/// axum's matched route template (`/items/{id}`), if the request went through a router.
#[cfg(feature = "axum")]
pub(crate) fn matched_path<B>(request: &Request<B>) -> Option<&str> {
    request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(axum::extract::MatchedPath::as_str)
}

/// Without the `axum` feature no request has a matched path.
#[cfg(not(feature = "axum"))]
pub(crate) fn matched_path<B>(_request: &Request<B>) -> Option<&str> {
    None
}

/// Names a request by its URI path alone (`/shop.Inventory/Reserve`): the gRPC method,
/// since every gRPC call is a `POST`. The namer of [`SentinelLayer::grpc`](crate::SentinelLayer::grpc).
///
/// ```
/// use http::Request;
/// use sentinel_adapters::{PathName, ResourceName};
///
/// let req = Request::post("/shop.Inventory/Reserve").body(()).unwrap();
/// assert_eq!(PathName.with_name(&req, str::to_owned), "/shop.Inventory/Reserve");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct PathName;

impl<B> ResourceName<B> for PathName {
    fn with_name<T>(&self, request: &Request<B>, f: impl FnOnce(&str) -> T) -> T {
        f(request.uri().path())
    }
}

/// One name for every request: the dependency a client calls (the default of
/// [`SentinelClientLayer`](crate::SentinelClientLayer)).
///
/// ```
/// use http::Request;
/// use sentinel_adapters::{FixedName, ResourceName};
///
/// let req = Request::get("http://inventory.internal/stock/7").body(()).unwrap();
/// assert_eq!(FixedName::new("inventory").with_name(&req, str::to_owned), "inventory");
/// ```
#[derive(Debug, Clone)]
pub struct FixedName(Arc<str>);

impl FixedName {
    /// A namer that always answers `name`.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        FixedName(name.into())
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<B> ResourceName<B> for FixedName {
    fn with_name<T>(&self, _request: &Request<B>, f: impl FnOnce(&str) -> T) -> T {
        f(&self.0)
    }
}
