//! Tower middleware for Sentinel: guard an axum or hyper server, a tonic server, or a
//! tower client (hyper's client, a tonic `Channel`) with one `.layer(...)`.
//!
//! ```
//! use axum::{Router, routing::get};
//! use sentinel_adapters::SentinelLayer;
//! use sentinel_core::Sentinel;
//! use sentinel_core::flow::FlowRule;
//!
//! async fn item() -> &'static str { "an item" }
//!
//! let sentinel = Sentinel::new();
//! sentinel.load_flow_rules(vec![FlowRule {
//!     resource: "GET /items/{id}".into(),   // one resource for every item
//!     threshold: 100.0,                     // per second
//!     ..Default::default()
//! }])?;
//! let app: Router = Router::new()
//!     .route("/items/{id}", get(item))
//!     .layer(SentinelLayer::new(sentinel.clone()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Servers: [`SentinelLayer`]
//!
//! Each request is an Inbound entry (so system rules apply), decided in `call`, never in
//! `poll_ready`, and every clone of the layer or service shares the one [`Sentinel`](sentinel_core::Sentinel)
//! (so the limit holds under axum, which clones services per request).
//!
//! - **Resource**: `"{METHOD} {route}"`, the route being axum's `MatchedPath`
//!   (`GET /items/{id}`) when the layer sits inside the router (`Router::layer`,
//!   `Router::route_layer`; a layer wrapped around a router warns once); requests the router
//!   matched to no route (404s, scans) are the one resource [`UNMATCHED_ROUTE`]; without a
//!   router, the URI path without the query ([`RouteName`]); replace it with
//!   [`SentinelLayer::resource`].
//! - **Hot-parameter arguments**: none by default; [`SentinelLayer::args`] takes path
//!   parameters, headers, query values or the client IP ([`Arg`]), or any
//!   [`RequestArgs`].
//! - **Blocked**: the service is not called; the answer is 429 Too Many Requests for flow
//!   and hot-parameter blocks, 503 Service Unavailable for breakers, system protection and
//!   isolation, with `Retry-After` set to the wait the refusing limiter reports (the flow
//!   window, the token bucket, the rest of a breaker's retry timeout; whole seconds, at
//!   least 1) ([`HttpBlockResponse`]); any [`BlockHandler`] can replace it
//!   ([`SentinelLayer::on_block`]).
//! - **Throttled**: the request waits on tokio's timer (a tokio runtime with time enabled
//!   is needed), never blocking a thread, then calls the service.
//! - **Exit**: the entry exits when the response future completes (its RT measured from
//!   admission, after any wait), when the service returns an error, and when the future is
//!   dropped first (the client went away, an outer timeout fired): the entry is then
//!   abandoned, so a half-open breaker's probe goes back to open. A panic in the service
//!   exits the entry as a failure. No path leaks in-flight concurrency.
//! - **Failures**: an `Err` from the service, or a response the classifier calls a
//!   failure (default: 5xx, [`ServerErrors`]; any [`Classify`]), marks the entry as an
//!   error: it feeds error statistics and circuit breakers.
//!
//! The entry ends with the response head: a streamed body is not part of its RT.
//!
//! ## gRPC
//!
//! [`SentinelLayer::grpc`] for `tonic::transport::Server::builder().layer(...)`: resources
//! are method paths (`/shop.Inventory/Reserve`), blocked calls get a trailers-only
//! response with `grpc-status` RESOURCE_EXHAUSTED (8) for flow and hot-parameter blocks
//! and UNAVAILABLE (14) for breakers, system protection and isolation, with the block in
//! `grpc-message` ([`GrpcBlockResponse`]); a non-OK `grpc-status` counts as a failure
//! ([`GrpcErrors`]). Building these responses needs no tonic; the `tonic` feature adds
//! [`block_status`], `From<ClientError<E>> for tonic::Status` and client IPs from tonic's
//! connection info.
//!
//! ## Clients: [`SentinelClientLayer`]
//!
//! Each call is an Outbound entry of the resource that names the dependency. A blocked
//! call fails with [`ClientError::Blocked`] without reaching the client, or gets a
//! fallback response ([`SentinelClientLayer::fallback`]; [`SentinelClientLayer::grpc`]
//! answers blocked gRPC calls with the gRPC status, which tonic clients return as a
//! `Status`). Errors and failed responses feed the dependency's breakers.
//!
//! Around hyper-util's pooled client (`hyper-util = { version = "0.1", features =
//! ["client-legacy", "http1", "tokio"] }`), with a breaker that opens when half the calls
//! fail:
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::Empty;
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//! use sentinel_adapters::{ClientError, SentinelClientLayer};
//! use sentinel_core::Sentinel;
//! use sentinel_core::circuit_breaker::{CircuitBreakerRule, Strategy};
//! use tower::{Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # // The dependency: a local server answering 503, stopped with the runtime.
//! # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! # let inventory_url = format!("http://{}/stock/7", listener.local_addr()?);
//! # let app = axum::Router::new().route(
//! #     "/stock/{id}",
//! #     axum::routing::get(|| async { http::StatusCode::SERVICE_UNAVAILABLE }),
//! # );
//! # tokio::spawn(async move { axum::serve(listener, app).await });
//! let sentinel = Sentinel::new();
//! sentinel.load_circuit_breaker_rules(vec![CircuitBreakerRule {
//!     id: "inventory-errors".into(),
//!     resource: "inventory".into(),
//!     strategy: Strategy::ErrorRatio,
//!     threshold: 0.5,            // half the calls failed (errors and 5xx) ...
//!     min_request_amount: 4,     // ... out of at least 4 ...
//!     stat_interval_ms: 10_000,  // ... within 10 s
//!     retry_timeout_ms: 5_000,   // then refuse for 5 s, and probe
//!     ..Default::default()
//! }])?;
//! let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
//! let inventory = SentinelClientLayer::new(sentinel.clone(), "inventory").layer(client);
//!
//! let (mut failed, mut refused) = (0, 0);
//! for _ in 0..6 {
//!     let request = http::Request::get(&inventory_url).body(Empty::new())?;
//!     match inventory.clone().oneshot(request).await {
//!         Ok(response) if response.status().is_success() => {}
//!         Ok(_) | Err(ClientError::Service(_)) => failed += 1, // 5xx, connection errors
//!         Err(ClientError::Blocked(block)) => {
//!             refused += 1; // not sent; answer from a cache, or fail fast
//!             assert!(block.retry_after().is_some());
//!         }
//!     }
//! }
//! assert_eq!((failed, refused), (4, 2));
//! # Ok(())
//! # }
//! ```
//!
//! ## reqwest: [`SentinelMiddleware`] (feature `reqwest`)
//!
//! For reqwest clients, a reqwest-middleware middleware: each request is an Outbound entry
//! of `"{METHOD} {host}{path}"` ([`MethodHostPath`]) or of the resource you name; a
//! refused request is not sent and fails with `reqwest_middleware::Error::Middleware`
//! holding the [`BlockError`](sentinel_core::BlockError) ([`SentinelMiddleware::block_of`]);
//! transport errors and 5xx responses count as failures for breakers.
//!
//! ```toml
//! sentinel-adapters = { version = "0.1", features = ["reqwest"] }
//! reqwest = "0.13"
//! reqwest-middleware = "0.5"
//! ```
//!
//! ```
//! # #[cfg(feature = "reqwest")]
//! # async fn charge(sentinel: sentinel_core::Sentinel) -> Result<(), Box<dyn std::error::Error>> {
//! use reqwest_middleware::ClientBuilder;
//! use sentinel_adapters::{FixedName, SentinelMiddleware};
//!
//! let payments = ClientBuilder::new(reqwest::Client::new())
//!     .with(SentinelMiddleware::new(sentinel).resource(FixedName::new("payments")))
//!     .build();
//! match payments.post("https://payments.example.com/charges").send().await {
//!     Ok(response) => println!("charged: {}", response.status()),
//!     Err(e) => match SentinelMiddleware::block_of(&e) {
//!         // Not sent: the breaker is open, or a limit refused it.
//!         Some(block) => println!("payments refused: retry after {:?}", block.retry_after()),
//!         None => println!("payments failed: {e}"), // counted as a failure
//!     },
//! }
//! # Ok(())
//! # }
//! ```
//!
//! ## Prometheus: the `/metrics` route (feature `prometheus`)
//!
//! [`metrics_router`] serves the instance's metrics (the collector of
//! `sentinel_core::prometheus`, whose `prometheus_client` is re-exported as
//! `sentinel_core::prometheus::client` for registries of your own) at `GET /metrics`.
//! Merge it after the Sentinel layer, so that scrapes are neither limited nor counted:
//!
//! ```toml
//! sentinel-adapters = { version = "0.1", features = ["prometheus"] }  # with "axum", the default
//! ```
//!
//! ```
//! # #[cfg(all(feature = "axum", feature = "prometheus"))]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use axum::{Router, body::Body, routing::get};
//! use http::Request;
//! use http_body_util::BodyExt;
//! use sentinel_adapters::{SentinelLayer, metrics_router};
//! use sentinel_core::Sentinel;
//! use tower::ServiceExt;
//!
//! let sentinel = Sentinel::new();
//! let app: Router = Router::new()
//!     .route("/items", get(|| async { "items" }))
//!     .layer(SentinelLayer::new(sentinel.clone()))
//!     .merge(metrics_router(&sentinel));
//!
//! app.clone().oneshot(Request::get("/items").body(Body::empty())?).await?;
//! let scrape = app.oneshot(Request::get("/metrics").body(Body::empty())?).await?;
//! let text = String::from_utf8(scrape.into_body().collect().await?.to_bytes().to_vec())?;
//! assert!(text.contains(r#"sentinel_entries_total{resource="GET /items",result="pass""#));
//! assert!(!text.contains("GET /metrics"), "scrapes are not Sentinel traffic");
//! # Ok(())
//! # }
//! # #[cfg(not(all(feature = "axum", feature = "prometheus")))]
//! # fn main() {}
//! ```
//!
//! ## Features
//!
//! - `axum` (default): `MatchedPath` routes, path parameters, `ConnectInfo` client IPs.
//! - `tonic`: `tonic::Status` conversions and tonic's connection info for client IPs.
//! - `prometheus`: [`metrics_router`], a ready axum `/metrics` route (with `axum`). It
//!   brings no HTTP server of its own (the standalone listener is sentinel-core's
//!   `prometheus-listener`).
//! - `reqwest`: [`SentinelMiddleware`] for reqwest-middleware clients (reqwest without
//!   default features: your own reqwest dependency chooses the TLS stack).
//!
//! Without a feature, its items are missing and the links above lead to their sections.
//!
#![cfg_attr(not(feature = "tonic"), doc = "\n[`block_status`]: #grpc")]
#![cfg_attr(
    not(feature = "reqwest"),
    doc = "\n[`SentinelMiddleware`]: #reqwest-sentinelmiddleware-feature-reqwest\n\
           [`SentinelMiddleware::block_of`]: #reqwest-sentinelmiddleware-feature-reqwest\n\
           [`MethodHostPath`]: #reqwest-sentinelmiddleware-feature-reqwest"
)]
//!
#![cfg_attr(
    not(all(feature = "axum", feature = "prometheus")),
    doc = "\n[`metrics_router`]: #prometheus-the-metrics-route-feature-prometheus"
)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![forbid(unsafe_code)]

mod admission;
mod args;
mod block;
mod classify;
mod client;
#[cfg(feature = "dashboard")]
pub mod dashboard;
mod grpc;
mod guarded;
#[cfg(all(feature = "axum", feature = "prometheus"))]
mod metrics;
mod refusal;
#[cfg(feature = "reqwest")]
mod reqwest_client;
mod resource;
mod server;

pub use args::{Arg, NoArgs, RequestArgs, TrustedProxies};
pub use block::{BlockHandler, HttpBlockResponse, http_status};
pub use classify::{Classify, GrpcErrors, ServerErrors};
pub use client::{ClientError, Fallback, NoFallback, SentinelClient, SentinelClientLayer};
#[cfg(feature = "tonic")]
pub use grpc::block_status;
pub use grpc::{GrpcBlockResponse, GrpcCode};
pub use guarded::{BlockMode, Guarded, Respond, ResponseFuture};
/// IP networks, for [`TrustedProxies::Networks`] (the `ipnet` crate's type).
pub use ipnet::IpNet;
#[cfg(all(feature = "axum", feature = "prometheus"))]
pub use metrics::metrics_router;
#[cfg(feature = "reqwest")]
pub use reqwest_client::{MethodHostPath, ReqwestName, SentinelMiddleware};
/// The reqwest-middleware crate [`SentinelMiddleware`] implements `Middleware` of (it
/// re-exports the matching `reqwest`).
#[cfg(feature = "reqwest")]
pub use reqwest_middleware;
pub use resource::{FixedName, PathName, ResourceName, RouteName, UNMATCHED_ROUTE};
pub use sentinel_core;
pub use server::{SentinelLayer, SentinelService};
