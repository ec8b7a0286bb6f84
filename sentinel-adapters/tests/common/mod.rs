//! Test support: a real axum server on 127.0.0.1:0, a real HTTP client, and waiting on a
//! condition with a deadline.
#![allow(dead_code)] // each test binary uses its own part of this module

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sentinel_core::{ManualClock, Sentinel};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A Sentinel instance on a manual clock: time stands still unless the test moves it, so
/// a one-second window cannot roll over mid-test.
pub fn manual_sentinel() -> (Sentinel, ManualClock) {
    let clock = ManualClock::new();
    let sentinel = Sentinel::builder().clock(clock.clone()).build();
    (sentinel, clock)
}

/// An axum app served on a loopback port; stopped when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl TestServer {
    pub async fn start(app: Router) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local address");
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        TestServer { addr, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub type HttpClient = Client<HttpConnector, Empty<Bytes>>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// What a test looks at in a response.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

pub async fn fetch(client: &HttpClient, url: &str) -> Reply {
    fetch_with(
        client,
        Request::get(url).body(Empty::new()).expect("request"),
    )
    .await
}

pub async fn fetch_with(client: &HttpClient, request: Request<Empty<Bytes>>) -> Reply {
    let response = client.request(request).await.expect("HTTP request");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("response body").to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// Polls `condition` until it holds, failing the test after `timeout`.
pub async fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The in-flight count of a resource (0 if it was never entered).
pub fn concurrency(sentinel: &Sentinel, resource: &str) -> u64 {
    sentinel
        .resource_stats(resource)
        .map_or(0, |s| s.concurrency)
}

/// Runs `future` with a deadline, failing the test if it takes longer.
pub async fn within<T>(what: &str, timeout: Duration, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(timeout, future)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// Events recorded by [`capture_events`], one line each: `LEVEL field=value ...`.
pub type Events = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// Records every `tracing` event of this thread until the guard is dropped (a
/// current-thread runtime runs the server on the test's thread, so its events are seen).
pub fn capture_events() -> (tracing::subscriber::DefaultGuard, Events) {
    let events = Events::default();
    let guard = tracing::subscriber::set_default(Capture(events.clone()));
    (guard, events)
}

struct Capture(Events);

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(event.metadata().level().to_string());
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// The next `event: second` frame of a dashboard's event stream, its data as JSON, and
/// the names of the resources it lists; waits up to 10 s.
pub async fn next_second_frame(body: &mut axum::body::Body) -> (serde_json::Value, Vec<String>) {
    let text = within("a frame", Duration::from_secs(10), async {
        loop {
            let frame = body.frame().await.unwrap().unwrap();
            if let Ok(data) = frame.into_data() {
                let text = String::from_utf8(data.to_vec()).unwrap();
                if text.contains("event: second") {
                    return text;
                }
            }
        }
    })
    .await;
    let data = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
    let frame: serde_json::Value = serde_json::from_str(data).unwrap();
    let names = frame["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    (frame, names)
}

/// The dashboard of `sentinel` on a loopback port.
#[cfg(feature = "dashboard")]
pub async fn dashboard_on_loopback(
    sentinel: &Sentinel,
    config: sentinel_adapters::dashboard::DashboardConfig,
) -> sentinel_adapters::dashboard::DashboardServer {
    sentinel_adapters::dashboard::serve(sentinel, ([127, 0, 0, 1], 0).into(), config)
        .await
        .unwrap()
}
