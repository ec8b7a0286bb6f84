//! How a request is named: the Sentinel resource its entry is made on.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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

/// The resource of requests that went through an axum router but matched none of its
/// routes (404s, scans of unknown paths): one resource, whatever the paths and methods
/// clients try, so a scan can neither fill the resource table nor dilute its statistics.
pub const UNMATCHED_ROUTE: &str = "(unmatched route)";

/// The default server-side namer: `"{METHOD} {route}"`.
///
/// The route is axum's [`MatchedPath`](axum::extract::MatchedPath) when the request has
/// one (with the `axum` feature; the layer must sit inside the `Router`, as
/// `Router::layer` puts it), so `/items/42` and `/items/43` are one resource
/// `GET /items/{id}` (a layer wrapped around a router from outside sees no `MatchedPath`
/// and warns once, unless the router is hidden behind a boxed service such as
/// `BoxCloneService`, whose type no longer names it). A request the router saw but matched to no route is the one resource
/// [`UNMATCHED_ROUTE`] (SEMANTICS §11). A request that went through no axum router (a
/// plain hyper or tower service) is named by its URI path without the query.
///
/// The method is one of the standard ones, or `OTHER` for any extension method a client
/// makes up (axum routes only the standard ones), so the names a route can take are
/// bounded; `HEAD` counts as `GET`, whose handler answers it.
///
/// Services nested with `Router::nest_service` or `fallback_service` (static files, say)
/// get no `MatchedPath` from axum, so their requests count as [`UNMATCHED_ROUTE`] too:
/// name them with [`SentinelLayer::resource`](crate::SentinelLayer::resource) or put a
/// layer of their own on them if they need rules apart from scans.
///
/// Without a router every distinct path is its own resource. Sentinel caps the number of
/// resources (`SentinelBuilder::max_resources`), so paths chosen by clients cannot exhaust
/// memory, and resources that rules name are always checked, but rules are written for
/// routes: keep the layer inside the router, or name resources yourself.
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
        let route = match route_of(request) {
            Route::Unmatched => return f(UNMATCHED_ROUTE),
            Route::Matched(route) | Route::Path(route) => route,
        };
        with_joined_name([method_name(request.method()), " ", route], f)
    }
}

/// Longest name [`with_joined_name`] builds on the stack.
const NAME_ON_STACK: usize = 128;

/// Calls `f` with the concatenation of `parts`, built on the stack when it fits in
/// [`NAME_ON_STACK`] bytes (most routes), else in the thread's reused buffer. Neither
/// allocates per request; the stack keeps the entry `f` returns out of a thread-local
/// closure, which would copy the whole guard on its way out. The stack buffer is an
/// `ArrayString`: joining strings needs neither zeroed bytes nor a UTF-8 check.
#[inline]
pub(crate) fn with_joined_name<T>(parts: [&str; 3], f: impl FnOnce(&str) -> T) -> T {
    let len: usize = parts.iter().map(|part| part.len()).sum();
    if len <= NAME_ON_STACK {
        let mut name = arrayvec::ArrayString::<NAME_ON_STACK>::new();
        if parts.iter().all(|part| name.try_push_str(part).is_ok()) {
            return f(&name);
        }
    }
    with_built_name(|name| parts.iter().for_each(|part| name.push_str(part)), f)
}

/// Calls `f` with the name `build` writes into a buffer of this thread, reused from one
/// request to the next, so that naming allocates nothing per request.
pub(crate) fn with_built_name<T>(build: impl FnOnce(&mut String), f: impl FnOnce(&str) -> T) -> T {
    thread_local! {
        static NAME: RefCell<String> = const { RefCell::new(String::new()) };
    }
    NAME.with(|buffer| match buffer.try_borrow_mut() {
        Ok(mut name) => {
            name.clear();
            build(&mut name);
            f(&name)
        }
        // Only reached if `f` names another request on this thread.
        Err(_) => {
            let mut name = String::new();
            build(&mut name);
            f(&name)
        }
    })
}

/// A standard method's name, or `OTHER`; `HEAD` is `GET` (axum, like most servers, answers
/// HEAD with the GET handler, so the GET route's rules must hold for it).
pub(crate) fn method_name(method: &http::Method) -> &str {
    use http::Method;
    match *method {
        Method::HEAD => "GET",
        Method::GET
        | Method::POST
        | Method::PUT
        | Method::DELETE
        | Method::OPTIONS
        | Method::CONNECT
        | Method::PATCH
        | Method::TRACE => method.as_str(),
        _ => "OTHER",
    }
}

/// Where a request's route comes from.
enum Route<'a> {
    /// axum matched it to this route template.
    Matched(&'a str),
    /// axum's router saw it and matched no route.
    Unmatched,
    /// No router saw it: its URI path.
    Path(&'a str),
}

/// The route of a request.
fn route_of<B>(request: &Request<B>) -> Route<'_> {
    match matched_path(request) {
        Some(route) => Route::Matched(route),
        None if routed(request) => Route::Unmatched,
        None => Route::Path(request.uri().path()),
    }
}

/// Whether an axum router saw the request (it records the original URI before routing).
#[cfg(feature = "axum")]
fn routed<B>(request: &Request<B>) -> bool {
    request
        .extensions()
        .get::<axum::extract::OriginalUri>()
        .is_some()
}

/// Without the `axum` feature no request went through a router.
#[cfg(not(feature = "axum"))]
fn routed<B>(_request: &Request<B>) -> bool {
    false
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

/// Watches a layer that names requests by their route ([`RouteName`]) but guards an axum
/// `Router` from outside (`SentinelLayer::new(..).layer(router)`, or a `ServiceBuilder`
/// stack around a router): requests reach it before routing, without a `MatchedPath`, so
/// they are named by their raw paths (`GET /items/42`) and rules written for routes never
/// apply. The first such request is warned about, once per layer. A router behind a
/// type-erased service (`BoxCloneService`, `BoxService`) cannot be recognised and gets no
/// warning.
#[derive(Debug, Default)]
pub(crate) struct RouterOutside {
    warned: AtomicBool,
}

impl RouterOutside {
    /// Whether a layer naming requests with `R` around a service `S` must be watched: `R`
    /// is [`RouteName`] and `S` an axum `Router` or a service wrapping one. Judged by type
    /// names (layers impose no `'static` on services, so type ids are out of reach),
    /// which is enough for a warning: a router has `axum::routing::Router` in its type
    /// name, a route inside one (where `Router::layer` puts the layer) does not.
    pub(crate) fn applies<S, R>() -> bool {
        cfg!(feature = "axum")
            && std::any::type_name::<R>() == std::any::type_name::<RouteName>()
            && std::any::type_name::<S>().contains("axum::routing::Router")
    }

    /// Warns if `request` came without a matched route and no warning was given yet (one
    /// relaxed load once it was).
    #[inline]
    pub(crate) fn check<B>(&self, request: &Request<B>) {
        if !self.warned.load(Ordering::Relaxed) && matched_path(request).is_none() {
            self.warn(request);
        }
    }

    #[cold]
    #[inline(never)]
    fn warn<B>(&self, request: &Request<B>) {
        if self.warned.swap(true, Ordering::Relaxed) {
            return;
        }
        RouteName.with_name(request, |name| {
            let name = sentinel_core::text::Escaped(name);
            if name.0 == UNMATCHED_ROUTE {
                tracing::warn!(
                    resource = %name,
                    "SentinelLayer guards an axum Router that sees no MatchedPath (a router \
                     nested with Router::nest_service, or a fallback service): every request \
                     is the one resource (unmatched route), and rules written for routes \
                     (\"GET /items/{{id}}\") never apply; nest with Router::nest and put the \
                     layer inside the router (Router::layer or Router::route_layer)"
                );
            } else {
                tracing::warn!(
                    resource = %name,
                    "SentinelLayer guards an axum Router from outside: requests reach it \
                     before routing, without a MatchedPath, so they are named by their paths \
                     (as this resource) and rules written for routes (\"GET /items/{{id}}\") \
                     never apply; apply the layer inside the router: Router::layer or \
                     Router::route_layer"
                );
            }
        });
    }
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

#[cfg(all(test, feature = "axum"))]
mod tests {
    use super::*;

    #[test]
    fn names_are_joined_on_the_stack_or_in_the_buffer_alike() {
        let short = Request::get("/items/42").body(()).unwrap();
        assert_eq!(RouteName.with_name(&short, str::to_owned), "GET /items/42");
        let long_path = format!("/{}", "a".repeat(NAME_ON_STACK));
        let long = Request::post(long_path.as_str()).body(()).unwrap();
        assert_eq!(
            RouteName.with_name(&long, str::to_owned),
            format!("POST {long_path}"),
            "a name longer than the stack buffer is built in the thread's buffer"
        );
    }

    #[test]
    fn a_router_or_a_stack_around_one_is_watched_and_a_route_is_not() {
        type Stack = tower::timeout::Timeout<axum::Router>;
        assert!(RouterOutside::applies::<axum::Router, RouteName>());
        assert!(RouterOutside::applies::<Stack, RouteName>());
        assert!(RouterOutside::applies::<
            axum::routing::RouterIntoService<()>,
            RouteName,
        >());
        assert!(!RouterOutside::applies::<axum::routing::Route, RouteName>());
        assert!(
            !RouterOutside::applies::<axum::Router, PathName>(),
            "names its own way"
        );
    }
}
