//! gRPC through tonic over real HTTP/2 on 127.0.0.1: a limited tonic service answers
//! RESOURCE_EXHAUSTED, handler errors trip a breaker that answers UNAVAILABLE, and the
//! client layer around a tonic `Channel` turns blocks into gRPC statuses.
//!
//! The service and its messages are written by hand (prost derives, tonic's generic
//! `Grpc` server and client), so no `protoc` is needed.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http::uri::PathAndQuery;
use sentinel_adapters::{SentinelClientLayer, SentinelLayer};
use sentinel_core::circuit_breaker::{CircuitBreakerRule, State, Strategy};
use sentinel_core::flow::FlowRule;
use sentinel_core::{ManualClock, Sentinel};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::body::Body;
use tonic::client::GrpcService;
use tonic::server::NamedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Code, Status};
use tonic_prost::ProstCodec;
use tower::{Layer, Service};

#[derive(Clone, PartialEq, prost::Message)]
struct Say {
    #[prost(string, tag = "1")]
    text: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Reply {
    #[prost(string, tag = "1")]
    text: String,
}

const SAY: &str = "/test.Echo/Say";

/// `test.Echo/Say`: echoes the text, or fails with INTERNAL while `failing` is set.
#[derive(Clone, Default)]
struct Echo {
    failing: Arc<AtomicBool>,
    calls: Arc<AtomicUsize>,
}

impl NamedService for Echo {
    const NAME: &'static str = "test.Echo";
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl Service<http::Request<Body>> for Echo {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        if request.uri().path() != SAY {
            return Box::pin(async { Ok(Status::unimplemented("no such method").into_http()) });
        }
        let echo = self.clone();
        let say = tower::service_fn(move |request: tonic::Request<Say>| {
            echo.calls.fetch_add(1, Ordering::SeqCst);
            let failing = echo.failing.load(Ordering::SeqCst);
            async move {
                if failing {
                    return Err(Status::internal("echo is broken"));
                }
                let text = request.into_inner().text;
                Ok(tonic::Response::new(Reply { text }))
            }
        });
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(ProstCodec::<Reply, Say>::default());
            Ok(grpc.unary(say, request).await)
        })
    }
}

/// A tonic server on a loopback port; stopped when dropped.
struct GrpcServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl GrpcServer {
    async fn start(sentinel: &Sentinel, echo: Echo) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Server::builder()
            .layer(SentinelLayer::grpc(sentinel.clone()))
            .add_service(echo);
        let task = tokio::spawn(async move {
            server
                .serve_with_incoming(TcpIncoming::from(listener))
                .await
                .expect("serve");
        });
        GrpcServer { addr, task }
    }

    async fn channel(&self) -> Channel {
        Endpoint::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .expect("connect")
    }
}

impl Drop for GrpcServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Calls `test.Echo/Say` through any gRPC client service.
async fn say<T>(client: T, text: &str) -> Result<String, Status>
where
    T: GrpcService<Body>,
    T::Error: Into<tonic::codegen::StdError>,
    T::ResponseBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    <T::ResponseBody as http_body::Body>::Error: Into<tonic::codegen::StdError>,
{
    let mut grpc = tonic::client::Grpc::new(client);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.into().to_string()))?;
    let request = tonic::Request::new(Say { text: text.into() });
    let codec = ProstCodec::<Say, Reply>::default();
    let reply = grpc
        .unary(request, PathAndQuery::from_static(SAY), codec)
        .await?;
    Ok(reply.into_inner().text)
}

fn manual_sentinel() -> (Sentinel, ManualClock) {
    let clock = ManualClock::new();
    (Sentinel::builder().clock(clock.clone()).build(), clock)
}

fn one_per_second(resource: &str) -> FlowRule {
    FlowRule {
        resource: resource.into(),
        threshold: 1.0,
        ..Default::default()
    }
}

fn breaker(resource: &str) -> CircuitBreakerRule {
    CircuitBreakerRule {
        resource: resource.into(),
        strategy: Strategy::ErrorCount,
        threshold: 2.0,
        min_request_amount: 1,
        retry_timeout_ms: 1_000,
        stat_interval_ms: 10_000,
        ..Default::default()
    }
}

#[tokio::test]
async fn a_limited_tonic_service_answers_resource_exhausted() {
    let (sentinel, clock) = manual_sentinel();
    sentinel.load_flow_rules(vec![one_per_second(SAY)]).unwrap();
    let echo = Echo::default();
    let server = GrpcServer::start(&sentinel, echo.clone()).await;
    let channel = server.channel().await;

    assert_eq!(say(channel.clone(), "hello").await.unwrap(), "hello");
    let status = say(channel.clone(), "again").await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("Flow blocked"), "{status:?}");
    assert_eq!(
        status.metadata().get("grpc-retry-pushback-ms").unwrap(),
        "1000",
        "the limiter's wait, for the client's retry policy"
    );
    assert_eq!(echo.calls.load(Ordering::SeqCst), 1);

    clock.advance(Duration::from_millis(1100));
    assert_eq!(say(channel, "later").await.unwrap(), "later");
}

#[tokio::test]
async fn grpc_errors_trip_a_breaker_that_answers_unavailable() {
    let (sentinel, _clock) = manual_sentinel();
    sentinel
        .load_circuit_breaker_rules(vec![breaker(SAY)])
        .unwrap();
    let echo = Echo::default();
    echo.failing.store(true, Ordering::SeqCst);
    let server = GrpcServer::start(&sentinel, echo.clone()).await;
    let channel = server.channel().await;

    for _ in 0..2 {
        let status = say(channel.clone(), "x").await.unwrap_err();
        assert_eq!(status.code(), Code::Internal);
    }
    assert_eq!(sentinel.circuit_breaker_states(SAY), [State::Open]);
    let status = say(channel, "x").await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(echo.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_client_layer_answers_blocked_calls_with_their_grpc_status() {
    let server_sentinel = Sentinel::new();
    let echo = Echo::default();
    let server = GrpcServer::start(&server_sentinel, echo.clone()).await;
    let (sentinel, _clock) = manual_sentinel();
    sentinel
        .load_flow_rules(vec![one_per_second("echo")])
        .unwrap();
    sentinel
        .load_circuit_breaker_rules(vec![breaker("echo")])
        .unwrap();
    let client = SentinelClientLayer::grpc(sentinel.clone(), "echo").layer(server.channel().await);

    assert_eq!(say(client.clone(), "one").await.unwrap(), "one");
    let status = say(client.clone(), "two").await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(
        echo.calls.load(Ordering::SeqCst),
        1,
        "the blocked call was not sent"
    );

    // Non-OK statuses from the server feed the client's breaker.
    sentinel.load_flow_rules(vec![]).unwrap();
    echo.failing.store(true, Ordering::SeqCst);
    for _ in 0..2 {
        assert_eq!(
            say(client.clone(), "x").await.unwrap_err().code(),
            Code::Internal
        );
    }
    assert_eq!(sentinel.circuit_breaker_states("echo"), [State::Open]);
    let status = say(client, "x").await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(echo.calls.load(Ordering::SeqCst), 3);
}

#[test]
fn blocks_convert_to_tonic_statuses() {
    use sentinel_adapters::{ClientError, block_status};
    use sentinel_core::{BlockError, BlockType};
    let block = BlockError::new(BlockType::HotSpotParamFlow, "echo".into(), "hot value");
    assert_eq!(block_status(&block).code(), Code::ResourceExhausted);
    let status: Status = ClientError::<std::io::Error>::Blocked(block).into();
    assert_eq!(status.code(), Code::ResourceExhausted);
}
