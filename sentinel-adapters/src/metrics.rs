//! A ready `/metrics` route for axum (features `axum` and `prometheus`).

use std::sync::Arc;

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use sentinel_core::Sentinel;
use sentinel_core::prometheus::{CONTENT_TYPE as OPENMETRICS, Exposition};

/// A router serving `sentinel`'s Prometheus metrics at `GET /metrics`; merge it into your
/// app. Scrapes read the statistics at scrape time (see `sentinel_core::prometheus`).
///
/// ```
/// use axum::{Router, routing::get};
/// let sentinel = sentinel_core::Sentinel::new();
/// let app: Router = Router::new()
///     .route("/", get(|| async { "hello" }))
///     .merge(sentinel_adapters::metrics_router(&sentinel));
/// ```
pub fn metrics_router<S>(sentinel: &Sentinel) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let exposition = Arc::new(Exposition::new(sentinel));
    Router::new().route(
        "/metrics",
        get(move || {
            let exposition = exposition.clone();
            async move { ([(CONTENT_TYPE, OPENMETRICS)], exposition.render()) }
        }),
    )
}
