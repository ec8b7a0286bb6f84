//! The client-side layer around hyper's client, calling a real HTTP dependency on
//! 127.0.0.1: typed blocks, failures feeding the dependency's breaker, fallbacks.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::routing::get;
use common::{TestServer, client, manual_sentinel};
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use sentinel_adapters::{ClientError, HttpBlockResponse, SentinelClientLayer};
use sentinel_core::circuit_breaker::{CircuitBreakerRule, State, Strategy};
use sentinel_core::flow::FlowRule;
use sentinel_core::{BlockType, Sentinel};
use tower::{Layer, ServiceBuilder, ServiceExt};

fn breaker(resource: &str, errors: f64) -> CircuitBreakerRule {
    CircuitBreakerRule {
        resource: resource.into(),
        strategy: Strategy::ErrorCount,
        threshold: errors,
        min_request_amount: 1,
        retry_timeout_ms: 1_000,
        stat_interval_ms: 10_000,
        ..Default::default()
    }
}

/// A dependency that answers `status` and counts its calls.
async fn dependency(status: StatusCode) -> (TestServer, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let app = Router::new().route(
        "/stock/{id}",
        get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async move { status }
        }),
    );
    (TestServer::start(app).await, calls)
}

fn request(url: String) -> Request<Empty<Bytes>> {
    Request::get(url).body(Empty::new()).unwrap()
}

#[tokio::test]
async fn failing_responses_trip_the_dependency_breaker_and_blocks_are_typed() {
    let (sentinel, clock) = manual_sentinel();
    sentinel
        .load_circuit_breaker_rules(vec![breaker("inventory", 2.0)])
        .unwrap();
    let (server, calls) = dependency(StatusCode::SERVICE_UNAVAILABLE).await;
    let inventory = SentinelClientLayer::new(sentinel.clone(), "inventory").layer(client());

    for _ in 0..2 {
        let response = inventory
            .clone()
            .oneshot(request(server.url("/stock/1")))
            .await
            .expect("the dependency answers");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
    assert_eq!(sentinel.circuit_breaker_states("inventory"), [State::Open]);
    match inventory
        .clone()
        .oneshot(request(server.url("/stock/1")))
        .await
    {
        Err(ClientError::Blocked(block)) => {
            assert_eq!(block.block_type(), BlockType::CircuitBreaking);
            assert_eq!(block.resource(), "inventory");
        }
        other => panic!("expected a block, got {other:?}"),
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "blocked calls are not made"
    );
    let stats = sentinel.resource_stats("inventory").unwrap();
    assert_eq!((stats.error_qps, stats.block_qps), (2.0, 1.0));
    clock.advance(Duration::from_secs(1));
    assert!(
        inventory
            .oneshot(request(server.url("/stock/1")))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn connection_errors_count_as_failures() {
    let (sentinel, _clock) = manual_sentinel();
    sentinel
        .load_circuit_breaker_rules(vec![breaker("payments", 1.0)])
        .unwrap();
    // A port nobody listens on any more.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/pay", closed.local_addr().unwrap());
    drop(closed);
    let payments = SentinelClientLayer::new(sentinel.clone(), "payments").layer(client());

    let first = payments.clone().oneshot(request(url.clone())).await;
    assert!(matches!(first, Err(ClientError::Service(_))), "{first:?}");
    let second = payments.oneshot(request(url)).await;
    assert!(second.as_ref().err().is_some_and(ClientError::is_blocked));
    assert_eq!(sentinel.resource_stats("payments").unwrap().error_qps, 1.0);
}

#[tokio::test]
async fn a_flow_limit_on_a_dependency_blocks_calls_beyond_it() {
    let (sentinel, _clock) = manual_sentinel();
    sentinel
        .load_flow_rules(vec![FlowRule {
            resource: "inventory".into(),
            threshold: 2.0,
            ..Default::default()
        }])
        .unwrap();
    let (server, calls) = dependency(StatusCode::OK).await;
    let inventory = SentinelClientLayer::new(sentinel.clone(), "inventory").layer(client());
    let mut blocked = 0;
    for _ in 0..5 {
        match inventory
            .clone()
            .oneshot(request(server.url("/stock/2")))
            .await
        {
            Ok(response) => assert_eq!(response.status(), StatusCode::OK),
            Err(ClientError::Blocked(block)) => {
                assert_eq!(block.block_type(), BlockType::Flow);
                blocked += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((calls.load(Ordering::SeqCst), blocked), (2, 3));
}

type Boxed = BoxBody<Bytes, hyper::Error>;

#[tokio::test]
async fn a_fallback_answers_blocked_calls_with_a_response() {
    let sentinel = Sentinel::new();
    sentinel
        .load_flow_rules(vec![FlowRule {
            resource: "recommendations".into(),
            threshold: 0.0,
            ..Default::default()
        }])
        .unwrap();
    let (server, calls) = dependency(StatusCode::OK).await;
    // The fallback builds the response type of the wrapped client, so box hyper's body.
    let recommendations = ServiceBuilder::new()
        .layer(
            SentinelClientLayer::new(sentinel, "recommendations")
                .fallback(HttpBlockResponse::default()),
        )
        .map_response(|r: Response<Incoming>| r.map(BodyExt::boxed))
        .service(client());
    let response: Response<Boxed> = recommendations
        .oneshot(request(server.url("/stock/3")))
        .await
        .expect("a fallback, not an error");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}
