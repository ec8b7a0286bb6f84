//! `SentinelMiddleware` in a reqwest-middleware client calling a real axum server on
//! 127.0.0.1: a breaker on 5xx opens, refuses without sending, and closes again after a
//! probe; transport errors count; blocks carry their `BlockError`; a dropped call exits
//! its entry.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::{TestServer, concurrency, manual_sentinel, wait_until, within};
use http::StatusCode;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Error, Middleware};
use sentinel_adapters::{FixedName, SentinelMiddleware};
use sentinel_core::BlockType;
use sentinel_core::circuit_breaker::{CircuitBreakerRule, State, Strategy};
use sentinel_core::flow::FlowRule;
use tokio::sync::Notify;

const WAIT: Duration = Duration::from_secs(10);

fn error_count_breaker(resource: &str, errors: f64) -> CircuitBreakerRule {
    CircuitBreakerRule {
        id: "dependency-errors".into(),
        resource: resource.into(),
        strategy: Strategy::ErrorCount,
        threshold: errors,
        min_request_amount: 1,
        stat_interval_ms: 10_000,
        retry_timeout_ms: 1_000,
        ..Default::default()
    }
}

/// A dependency answering `GET /stock/{id}` with the status in `status`, counting calls.
struct Dependency {
    server: TestServer,
    status: Arc<AtomicU16>,
    calls: Arc<AtomicUsize>,
}

impl Dependency {
    async fn start(status: StatusCode) -> Self {
        let (status, calls) = (
            Arc::new(AtomicU16::new(status.as_u16())),
            Arc::new(AtomicUsize::new(0)),
        );
        let (answer, counter) = (status.clone(), calls.clone());
        let app = Router::new().route(
            "/stock/{id}",
            get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                let status = StatusCode::from_u16(answer.load(Ordering::SeqCst)).unwrap();
                async move { status }
            }),
        );
        Dependency {
            server: TestServer::start(app).await,
            status,
            calls,
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

/// A reqwest client through `middleware`; never through a proxy, so nothing leaves the
/// loopback interface.
fn client(middleware: impl Middleware) -> ClientWithMiddleware {
    let reqwest = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a reqwest client");
    ClientBuilder::new(reqwest).with(middleware).build()
}

#[tokio::test]
async fn a_breaker_on_5xx_opens_refuses_without_sending_and_recovers_after_a_probe() {
    let (sentinel, clock) = manual_sentinel();
    let dependency = Dependency::start(StatusCode::INTERNAL_SERVER_ERROR).await;
    // The default resource: method, host with port, path.
    let resource = format!("GET 127.0.0.1:{}/stock/7", dependency.server.addr.port());
    sentinel
        .load_circuit_breaker_rules(vec![error_count_breaker(&resource, 3.0)])
        .unwrap();
    let client = client(SentinelMiddleware::new(sentinel.clone()));
    let url = dependency.server.url("/stock/7?fresh=1");

    for _ in 0..3 {
        let response = client.get(&url).send().await.expect("the server answers");
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
    assert_eq!(sentinel.circuit_breaker_states(&resource), [State::Open]);

    let error = client
        .get(&url)
        .send()
        .await
        .expect_err("the breaker is open");
    let block = SentinelMiddleware::block_of(&error).expect("a block");
    assert_eq!(block.block_type(), BlockType::CircuitBreaking);
    assert_eq!(block.resource(), resource);
    assert_eq!(block.retry_after(), Some(Duration::from_secs(1)));
    assert!(matches!(error, Error::Middleware(_)), "{error:?}");
    assert!(
        error.to_string().contains("CircuitBreaking blocked"),
        "{error}"
    );
    assert_eq!(dependency.calls(), 3, "a refused call is not sent");
    let stats = sentinel.resource_stats(&resource).unwrap();
    assert_eq!((stats.error_qps, stats.block_qps), (3.0, 1.0));

    // The dependency recovers; after the retry timeout one probe is sent and closes it.
    dependency.status.store(200, Ordering::SeqCst);
    clock.advance(Duration::from_secs(1));
    let probe = client.get(&url).send().await.expect("the probe is sent");
    assert_eq!(probe.status(), StatusCode::OK);
    assert_eq!(dependency.calls(), 4);
    assert_eq!(sentinel.circuit_breaker_states(&resource), [State::Closed]);
    assert!(client.get(&url).send().await.is_ok());
    assert_eq!(concurrency(&sentinel, &resource), 0);
}

#[tokio::test]
async fn transport_errors_count_as_failures() {
    let (sentinel, _clock) = manual_sentinel();
    sentinel
        .load_circuit_breaker_rules(vec![error_count_breaker("payments", 1.0)])
        .unwrap();
    // A port nobody listens on any more.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/pay", closed.local_addr().unwrap());
    drop(closed);
    let client =
        client(SentinelMiddleware::new(sentinel.clone()).resource(FixedName::new("payments")));

    let first = client
        .post(&url)
        .send()
        .await
        .expect_err("connection refused");
    assert!(matches!(first, Error::Reqwest(_)), "{first:?}");
    assert!(SentinelMiddleware::block_of(&first).is_none());
    let second = client
        .post(&url)
        .send()
        .await
        .expect_err("the breaker is open");
    assert_eq!(
        SentinelMiddleware::block_of(&second).map(|b| b.block_type()),
        Some(BlockType::CircuitBreaking)
    );
    assert_eq!(sentinel.resource_stats("payments").unwrap().error_qps, 1.0);
}

#[tokio::test]
async fn classification_and_resource_names_are_configurable() {
    let (sentinel, _clock) = manual_sentinel();
    let dependency = Dependency::start(StatusCode::TOO_MANY_REQUESTS).await;
    sentinel
        .load_flow_rules(vec![FlowRule {
            resource: "stock".into(),
            threshold: 2.0,
            ..Default::default()
        }])
        .unwrap();
    let middleware = SentinelMiddleware::new(sentinel.clone())
        .resource(|request: &reqwest::Request| {
            let first = request.url().path_segments().and_then(|mut s| s.next());
            first.unwrap_or("").to_owned()
        })
        .classify(|response: &reqwest::Response| {
            response.status() == StatusCode::TOO_MANY_REQUESTS
        });
    let client = client(middleware);

    for id in [1, 2] {
        let url = dependency.server.url(&format!("/stock/{id}"));
        let response = client.get(&url).send().await.expect("sent");
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    let over = client
        .get(dependency.server.url("/stock/3"))
        .send()
        .await
        .expect_err("over the flow limit");
    let block = SentinelMiddleware::block_of(&over).expect("a block");
    assert_eq!(block.block_type(), BlockType::Flow);
    assert!(block.retry_after().is_some(), "{block}");
    let stats = sentinel.resource_stats("stock").unwrap();
    assert_eq!(
        (stats.pass_qps, stats.error_qps),
        (2.0, 2.0),
        "429s count as failures"
    );
}

#[tokio::test]
async fn a_dropped_call_exits_its_entry() {
    let (sentinel, _clock) = manual_sentinel();
    let arrived = Arc::new(Notify::new());
    let signal = arrived.clone();
    let app = Router::new().route(
        "/slow",
        get(move || {
            signal.notify_one();
            // Never answers: the caller gives up first.
            std::future::pending::<&'static str>()
        }),
    );
    let server = TestServer::start(app).await;
    let client = client(SentinelMiddleware::new(sentinel.clone()).resource(FixedName::new("slow")));

    let url = server.url("/slow");
    let call = tokio::spawn(async move { client.get(&url).send().await });
    within("the request reaches the server", WAIT, arrived.notified()).await;
    assert_eq!(concurrency(&sentinel, "slow"), 1);
    call.abort();
    wait_until("the entry exits", WAIT, || {
        concurrency(&sentinel, "slow") == 0
    })
    .await;
    let stats = sentinel.resource_stats("slow").unwrap();
    assert_eq!(stats.error_qps, 0.0, "an abandoned call is not a failure");
}

/// One instance guards every client built with the middleware.
#[tokio::test]
async fn clones_of_the_middleware_share_one_limit() {
    let (sentinel, _clock) = manual_sentinel();
    sentinel
        .load_flow_rules(vec![FlowRule {
            resource: "stock".into(),
            threshold: 1.0,
            ..Default::default()
        }])
        .unwrap();
    let dependency = Dependency::start(StatusCode::OK).await;
    let middleware = SentinelMiddleware::new(sentinel).resource(FixedName::new("stock"));
    let (a, b) = (client(middleware.clone()), client(middleware));
    let url = dependency.server.url("/stock/1");
    assert!(a.get(&url).send().await.is_ok());
    let refused = b.get(&url).send().await.expect_err("over the shared limit");
    assert!(SentinelMiddleware::block_of(&refused).is_some());
    assert_eq!(dependency.calls(), 1);
}
