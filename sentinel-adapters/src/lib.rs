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
//! ## Features
//!
//! - `axum` (default): `MatchedPath` routes, path parameters, `ConnectInfo` client IPs.
//! - `tonic`: `tonic::Status` conversions and tonic's connection info for client IPs.
//! - `prometheus`: [`metrics_router`], a ready axum `/metrics` route (with `axum`).

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![forbid(unsafe_code)]

mod admission;
mod args;
mod block;
mod classify;
mod client;
mod grpc;
mod guarded;
#[cfg(all(feature = "axum", feature = "prometheus"))]
mod metrics;
mod refusal;
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
pub use resource::{FixedName, PathName, ResourceName, RouteName, UNMATCHED_ROUTE};
pub use sentinel_core;
pub use server::{SentinelLayer, SentinelService};
