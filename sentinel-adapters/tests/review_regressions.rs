//! Review probes (issue 12, adapters).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use sentinel_adapters::{BlockHandler, GrpcBlockResponse, SentinelLayer};
use sentinel_core::flow::FlowRule;
use sentinel_core::{BlockError, BlockType, ManualClock, Sentinel};
use tower::ServiceExt;

fn sentinel(max_resources: usize) -> Sentinel {
    Sentinel::builder()
        .clock(ManualClock::new())
        .max_resources(max_resources)
        .build()
}

fn names(s: &Sentinel) -> Vec<String> {
    s.all_resource_stats()
        .into_iter()
        .map(|r| r.resource)
        .collect()
}

async fn call(app: &Router, method: &str, path: &str) -> StatusCode {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
        .unwrap();
    app.clone().oneshot(req).await.unwrap().status()
}

#[tokio::test]
async fn a_scan_under_a_nested_router_is_one_resource() {
    let s = sentinel(8);
    let api = Router::new().route("/items", get(|| async { "items" }));
    let app = Router::new()
        .nest("/api", api)
        .route("/", get(|| async { "home" }))
        .layer(SentinelLayer::new(s.clone()));
    for i in 0..50 {
        assert_eq!(
            call(&app, "GET", &format!("/api/x{i}")).await,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            call(&app, "GET", &format!("/y{i}")).await,
            StatusCode::NOT_FOUND
        );
    }
    let n = names(&s);
    assert!(
        n.iter().all(|n| !n.contains("/x") && !n.contains("/y")),
        "{n:?}"
    );
}

#[tokio::test]
async fn a_scan_with_a_fallback_handler_is_one_resource() {
    let s = sentinel(8);
    let app = Router::new()
        .route("/", get(|| async { "home" }))
        .fallback(|| async { (StatusCode::NOT_FOUND, "nothing here") })
        .layer(SentinelLayer::new(s.clone()));
    for i in 0..50 {
        assert_eq!(
            call(&app, "GET", &format!("/y{i}")).await,
            StatusCode::NOT_FOUND
        );
    }
    let n = names(&s);
    assert!(n.iter().all(|n| !n.contains("/y")), "{n:?}");
}

#[tokio::test]
async fn a_layer_on_a_nested_router_names_its_unmatched_paths_once() {
    let s = sentinel(8);
    let api = Router::new()
        .route("/items", get(|| async { "items" }))
        .layer(SentinelLayer::new(s.clone()));
    let app = Router::new().nest("/api", api);
    for i in 0..50 {
        call(&app, "GET", &format!("/api/x{i}")).await;
    }
    let n = names(&s);
    assert!(n.iter().all(|n| !n.contains("/x")), "{n:?}");
}

#[tokio::test]
async fn head_requests_run_a_get_handler_past_its_rule() {
    let s = sentinel(8);
    s.load_flow_rules(vec![FlowRule {
        resource: "GET /admin".into(),
        threshold: 0.0,
        ..Default::default()
    }])
    .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let app = Router::new()
        .route(
            "/admin",
            get(move || {
                c.fetch_add(1, Ordering::SeqCst);
                async { "admin" }
            }),
        )
        .layer(SentinelLayer::new(s.clone()));
    assert_eq!(
        call(&app, "GET", "/admin").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let head = call(&app, "HEAD", "/admin").await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "HEAD /admin ran the GET handler ({head}) although GET /admin allows nothing"
    );
}

#[test]
fn grpc_pushback_is_not_shorter_than_the_wait() {
    let block = BlockError::new(BlockType::Flow, "/svc/M".into(), "over")
        .with_retry_after(Duration::from_micros(1500));
    let (parts, ()) = Request::post("/svc/M").body(()).unwrap().into_parts();
    let res: http::Response<()> = GrpcBlockResponse.block_response(&block, &parts);
    let ms: u64 = res.headers()["grpc-retry-pushback-ms"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        ms as u128 * 1000 >= 1500,
        "pushback {ms} ms is shorter than the 1.5 ms the limiter needs"
    );
}
