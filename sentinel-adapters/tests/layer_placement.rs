//! Where the layer sits: inside an axum router it names requests by route; around a router
//! it sees them before routing, names them by raw path, and warns once.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::extract::Request;
use axum::response::Response;
use axum::routing::get;
use axum::{Router, ServiceExt};
use common::{Events, TestServer, capture_events, client, fetch, manual_sentinel};
use http::StatusCode;
use sentinel_adapters::SentinelLayer;
use sentinel_core::Sentinel;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower_layer::Layer as _;
use tower_service::Service;

fn routes() -> Router {
    Router::new().route("/items/{id}", get(|| async { "item" }))
}

fn placement_warnings(events: &Events) -> Vec<String> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.contains("SentinelLayer guards an axum Router"))
        .cloned()
        .collect()
}

/// Serves a service (not a router) on a loopback port.
async fn serve<S>(service: S) -> (SocketAddr, JoinHandle<()>)
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let make = ServiceExt::<Request>::into_make_service(service);
    let server = tokio::spawn(async move { axum::serve(listener, make).await.unwrap() });
    (addr, server)
}

fn passed(sentinel: &Sentinel, resource: &str) -> Option<f64> {
    sentinel.resource_stats(resource).map(|s| s.pass_qps)
}

#[tokio::test(flavor = "current_thread")]
async fn a_layer_around_the_router_warns_once_that_requests_have_no_route() {
    let (_guard, events) = capture_events();
    let (sentinel, _clock) = manual_sentinel();
    let guarded = SentinelLayer::new(sentinel.clone()).layer(routes());
    let (addr, server) = serve(guarded).await;
    let client = client();
    for path in ["/items/1", "/items/2", "/nowhere"] {
        fetch(&client, &format!("http://{addr}{path}")).await;
    }
    server.abort();

    assert_eq!(passed(&sentinel, "GET /items/1"), Some(1.0), "raw paths");
    assert_eq!(passed(&sentinel, "GET /items/{id}"), None);
    let warnings = placement_warnings(&events);
    assert_eq!(warnings.len(), 1, "once per layer: {warnings:?}");
    assert!(warnings[0].starts_with("WARN"), "{}", warnings[0]);
    assert!(
        warnings[0].contains("resource=GET /items/1"),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[0].contains("Router::layer or Router::route_layer"),
        "{}",
        warnings[0]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_layer_inside_the_router_is_silent_even_for_unmatched_requests() {
    let (_guard, events) = capture_events();
    let (sentinel, _clock) = manual_sentinel();
    let layered = routes().layer(SentinelLayer::new(sentinel.clone()));
    let route_layered = routes().route_layer(SentinelLayer::new(sentinel.clone()));
    for app in [layered, route_layered] {
        let server = TestServer::start(app).await;
        let client = client();
        assert_eq!(
            fetch(&client, &server.url("/items/1")).await.status,
            StatusCode::OK
        );
        assert_eq!(
            fetch(&client, &server.url("/nowhere")).await.status,
            StatusCode::NOT_FOUND
        );
    }
    assert_eq!(passed(&sentinel, "GET /items/{id}"), Some(2.0));
    assert!(
        placement_warnings(&events).is_empty(),
        "{:?}",
        events.lock().unwrap()
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_layer_that_names_resources_itself_is_not_warned_about_outside_a_router() {
    let (_guard, events) = capture_events();
    let (sentinel, _clock) = manual_sentinel();
    let guarded = SentinelLayer::new(sentinel.clone())
        .resource(sentinel_adapters::PathName)
        .layer(routes());
    let (addr, server) = serve(guarded).await;
    fetch(&client(), &format!("http://{addr}/items/1")).await;
    server.abort();
    assert_eq!(passed(&sentinel, "/items/1"), Some(1.0));
    assert!(placement_warnings(&events).is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn a_layered_router_nested_as_a_service_warns_that_every_request_is_unmatched() {
    let (_guard, events) = capture_events();
    let (sentinel, _clock) = manual_sentinel();
    let app =
        Router::new().nest_service("/api", SentinelLayer::new(sentinel.clone()).layer(routes()));
    let server = TestServer::start(app).await;
    fetch(&client(), &server.url("/api/items/1")).await;
    assert_eq!(
        passed(&sentinel, sentinel_adapters::UNMATCHED_ROUTE),
        Some(1.0)
    );
    let warnings = placement_warnings(&events);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("every request is the one resource (unmatched route)")
            && warnings[0].contains("Router::nest"),
        "{}",
        warnings[0]
    );
    assert!(
        !warnings[0].contains("named by their paths"),
        "{}",
        warnings[0]
    );
}
