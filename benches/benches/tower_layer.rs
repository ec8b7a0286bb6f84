//! The cost of `SentinelLayer` on a request: the same in-process service called with
//! `ServiceExt::oneshot`, with and without the layer (one flow rule that passes), as a
//! bare `service_fn` and as an axum `Router` (where resources come from `MatchedPath`).
//!
//! A reference point prices what any adapter pays the engine per request today: an Inbound
//! entry and exit with the rule, made `'static` with `Entry::into_owned` so that a response
//! future can hold it.
//!
//! Run: `cargo bench -p sentinel-benches --bench tower_layer`

use std::convert::Infallible;
use std::hint::black_box;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use sentinel_adapters::SentinelLayer;
use sentinel_benches::run_ready;
use sentinel_core::flow::FlowRule;
use sentinel_core::{Entry, Sentinel, TrafficType};
use tower::util::MapRequestLayer;
use tower::{Layer, Service, ServiceExt, service_fn};

/// A Sentinel with one flow rule on `resource` that every request passes.
fn passing_rule(resource: &str) -> Sentinel {
    let sentinel = Sentinel::new();
    sentinel
        .load_flow_rules(vec![FlowRule {
            resource: resource.into(),
            threshold: 1e12,
            ..Default::default()
        }])
        .expect("valid rule");
    sentinel
}

fn request() -> Request<Body> {
    Request::get("/items/42")
        .body(Body::empty())
        .expect("request")
}

/// Times one `oneshot` request through a clone of `service`.
fn bench<S>(c: &mut Criterion, name: &str, service: S)
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone,
{
    c.bench_function(name, |b| {
        b.iter(|| {
            let response = run_ready(service.clone().oneshot(black_box(request())));
            black_box(response.expect("infallible").status())
        })
    });
}

fn service_fn_layer(c: &mut Criterion) {
    let hello = service_fn(|_: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Body::from("hello")))
    });
    bench(c, "tower_layer/service_fn/plain", hello);
    let layer = SentinelLayer::new(passing_rule("GET /items/42"));
    bench(c, "tower_layer/service_fn/sentinel", layer.layer(hello));
}

fn axum_router(c: &mut Criterion) {
    let app = || Router::new().route("/items/{id}", get(|| async { "hello" }));
    bench(c, "tower_layer/axum_router/plain", app());
    // What axum charges for any layer (a boxed clone and a boxed future per request).
    let pass_through = MapRequestLayer::new(|request: Request<Body>| request);
    bench(
        c,
        "tower_layer/axum_router/pass_through_layer",
        app().layer(pass_through),
    );
    let layer = SentinelLayer::new(passing_rule("GET /items/{id}"));
    bench(c, "tower_layer/axum_router/sentinel", app().layer(layer));
}

fn engine_reference(c: &mut Criterion) {
    let sentinel = passing_rule("GET /items/42");
    c.bench_function("tower_layer/reference/inbound_entry_into_owned", |b| {
        b.iter(|| {
            let entry = sentinel
                .entry(black_box("GET /items/42"))
                .traffic(TrafficType::Inbound)
                .try_enter()
                .map(Entry::into_owned);
            drop(black_box(entry))
        })
    });
}

criterion_group!(benches, service_fn_layer, axum_router, engine_reference);
criterion_main!(benches);
