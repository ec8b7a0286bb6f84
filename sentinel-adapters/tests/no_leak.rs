//! No path leaks an entry: after requests that succeed, fail, panic, time out or are
//! cancelled by the client, the resource's in-flight count is back to 0. Over real HTTP on
//! 127.0.0.1.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::{TestServer, client, concurrency, fetch, manual_sentinel, wait_until};
use http::StatusCode;
use sentinel_adapters::SentinelLayer;
use sentinel_core::Sentinel;
use sentinel_core::circuit_breaker::{CircuitBreakerRule, State, Strategy};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;

const SETTLE: Duration = Duration::from_secs(5);

/// A breaker that opens on the first error of `resource`.
fn trip_on_first_error(sentinel: &Sentinel, resource: &str) {
    sentinel
        .load_circuit_breaker_rules(vec![CircuitBreakerRule {
            resource: resource.into(),
            strategy: Strategy::ErrorCount,
            threshold: 1.0,
            min_request_amount: 1,
            retry_timeout_ms: 1_000,
            stat_interval_ms: 10_000,
            ..Default::default()
        }])
        .unwrap();
}

#[tokio::test]
async fn succeeded_and_failed_requests_exit_their_entries() {
    let (sentinel, _clock) = manual_sentinel();
    let app = Router::new()
        .route("/ok", get(|| async { "fine" }))
        .route("/fail", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .layer(SentinelLayer::new(sentinel.clone()));
    let server = TestServer::start(app).await;
    let client = client();
    for _ in 0..3 {
        assert_eq!(fetch(&client, &server.url("/ok")).await.status, 200);
        assert_eq!(fetch(&client, &server.url("/fail")).await.status, 500);
    }
    for resource in ["GET /ok", "GET /fail"] {
        wait_until(resource, SETTLE, || concurrency(&sentinel, resource) == 0).await;
        let stats = sentinel.resource_stats(resource).unwrap();
        assert_eq!(stats.complete_qps, 3.0, "{resource}");
    }
    let errors = |r| sentinel.resource_stats(r).unwrap().error_qps;
    assert_eq!((errors("GET /ok"), errors("GET /fail")), (0.0, 3.0));
}

#[tokio::test]
async fn a_panicking_handler_exits_its_entry_as_a_failure() {
    let (sentinel, _clock) = manual_sentinel();
    trip_on_first_error(&sentinel, "GET /panic");
    let app = Router::new()
        .route(
            "/panic",
            get(|| async {
                if true {
                    panic!("handler bug");
                }
                "unreachable"
            }),
        )
        .layer(SentinelLayer::new(sentinel.clone()))
        // Outside the Sentinel layer: the panic unwinds through it.
        .layer(CatchPanicLayer::new());
    let server = TestServer::start(app).await;
    let reply = fetch(&client(), &server.url("/panic")).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    wait_until("exit", SETTLE, || concurrency(&sentinel, "GET /panic") == 0).await;
    assert_eq!(
        sentinel.circuit_breaker_states("GET /panic"),
        [State::Open],
        "the panic counted as a failure"
    );
}

#[tokio::test]
async fn a_request_cut_short_by_an_outer_timeout_is_abandoned() {
    let (sentinel, _clock) = manual_sentinel();
    trip_on_first_error(&sentinel, "GET /slow");
    let app = Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "too late"
            }),
        )
        .layer(SentinelLayer::new(sentinel.clone()))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_millis(100),
        ));
    let server = TestServer::start(app).await;
    let reply = fetch(&client(), &server.url("/slow")).await;
    assert_eq!(reply.status, StatusCode::REQUEST_TIMEOUT);
    wait_until("exit", SETTLE, || concurrency(&sentinel, "GET /slow") == 0).await;
    let stats = sentinel.resource_stats("GET /slow").unwrap();
    assert_eq!((stats.complete_qps, stats.error_qps), (1.0, 0.0));
    assert_eq!(
        sentinel.circuit_breaker_states("GET /slow"),
        [State::Closed]
    );
}

/// A handler that says when it has started, then never finishes.
fn hanging(started: &Arc<Notify>) -> Router<()> {
    let started = started.clone();
    Router::new().route(
        "/hang",
        get(move || {
            started.notify_one();
            std::future::pending::<&'static str>()
        }),
    )
}

/// Sends `GET path` on a raw connection and returns the connection, to be dropped.
async fn send_and_keep(server: &TestServer, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: {}\r\n\r\n", server.addr);
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

#[tokio::test]
async fn a_request_the_client_cancels_mid_flight_is_abandoned() {
    let (sentinel, _clock) = manual_sentinel();
    let started = Arc::new(Notify::new());
    let app = hanging(&started).layer(SentinelLayer::new(sentinel.clone()));
    let server = TestServer::start(app).await;

    let connection = send_and_keep(&server, "/hang").await;
    started.notified().await;
    assert_eq!(concurrency(&sentinel, "GET /hang"), 1);
    drop(connection);
    wait_until("exit", SETTLE, || concurrency(&sentinel, "GET /hang") == 0).await;
}

/// The case abandonment exists for: a half-open breaker's probe whose client goes away
/// must not close the breaker (it proved nothing) nor leave it half-open for ever.
#[tokio::test]
async fn a_cancelled_half_open_probe_returns_the_breaker_to_open() {
    let (sentinel, clock) = manual_sentinel();
    trip_on_first_error(&sentinel, "GET /hang");
    let started = Arc::new(Notify::new());
    let app = hanging(&started)
        .route("/hang-fail", get(|| async { StatusCode::BAD_GATEWAY }))
        .layer(
            SentinelLayer::new(sentinel.clone())
                // Both routes are one resource, so the failing one trips its breaker.
                .resource(|_: &http::Request<axum::body::Body>| "GET /hang"),
        );
    let server = TestServer::start(app).await;
    let client = client();
    assert_eq!(fetch(&client, &server.url("/hang-fail")).await.status, 502);
    assert_eq!(sentinel.circuit_breaker_states("GET /hang"), [State::Open]);

    clock.advance(Duration::from_secs(1));
    let probe = send_and_keep(&server, "/hang").await;
    started.notified().await;
    assert_eq!(
        sentinel.circuit_breaker_states("GET /hang"),
        [State::HalfOpen]
    );
    drop(probe);
    wait_until("the probe's exit", SETTLE, || {
        concurrency(&sentinel, "GET /hang") == 0
    })
    .await;
    wait_until("the breaker to reopen", SETTLE, || {
        sentinel.circuit_breaker_states("GET /hang") == [State::Open]
    })
    .await;
}
