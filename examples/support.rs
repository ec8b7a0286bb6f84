//! Plumbing shared by the tower/axum examples and the demo: serving an axum app on a
//! loopback port, a small HTTP client, and a driver that sends requests at a steady rate
//! so every example makes its own traffic and ends by itself.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sentinel_core::Sentinel;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

#[path = "shop.rs"]
pub mod shop;

/// An app served on 127.0.0.1 (a free port); stopped when dropped.
pub struct LocalServer {
    /// Where it listens.
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl LocalServer {
    /// Serves `app` on a free loopback port, with the peer address in each request
    /// (for client-IP arguments).
    pub async fn start(app: Router) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("server on {addr} stopped: {e}");
            }
        });
        Ok(LocalServer { addr, task })
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// hyper's pooled HTTP/1 client, for requests without a body.
pub type HttpClient = Client<HttpConnector, Empty<Bytes>>;

/// A new client.
pub fn http_client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// A request without a body.
pub fn request(method: Method, url: &str) -> Request<Empty<Bytes>> {
    let mut request = Request::new(Empty::new());
    *request.method_mut() = method;
    *request.uri_mut() = url.parse().unwrap_or_default();
    request
}

/// Sends a request and returns its status (`None` if it failed on the way).
pub async fn status_of(client: &HttpClient, method: Method, url: &str) -> Option<StatusCode> {
    client
        .request(request(method, url))
        .await
        .ok()
        .map(|r| r.status())
}

/// From `from` until `until` after `start`, starts `rate` requests a second, each on its
/// own task (`send(n)` builds the n-th). Returns when `until` has passed.
pub fn drive<F, Fut>(
    start: Instant,
    from: Duration,
    until: Duration,
    rate: u32,
    mut send: F,
) -> JoinHandle<()>
where
    F: FnMut(u64) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        tokio::time::sleep_until((start + from).into()).await;
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
        let mut n = 0;
        while start.elapsed() < until {
            tick.tick().await;
            tokio::spawn(send(n));
            n += 1;
        }
    })
}

/// Sleeps until just after the next whole second of the instance's clock (when
/// `last_second_stats` has a new complete second to show), and returns that second.
pub async fn next_second(sentinel: &Sentinel) -> u64 {
    let now_ms = sentinel.clock().now_millis();
    let second = now_ms / 1000 + 1;
    tokio::time::sleep(Duration::from_millis(second * 1000 + 20 - now_ms)).await;
    second
}

/// Prints `line()` whenever it changes (checked five times a second), until the process is
/// stopped: the "follow your own store" mode of the rule-source examples.
pub fn print_changes(mut line: impl FnMut() -> String) -> ! {
    let mut last = String::new();
    loop {
        let now = line();
        if now != last {
            println!("{now}");
            last = now;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Prints every circuit-breaker state change as it happens, with the time since `start`.
pub fn print_breaker_changes(sentinel: &Sentinel, start: Instant) {
    sentinel.on_circuit_breaker_state_change(move |change| {
        let at = start.elapsed().as_secs_f64();
        println!(
            "  [{at:5.2} s] breaker {}: {} -> {}",
            change.resource, change.from, change.to
        );
    });
}

/// The README's Rust blocks, compiled and run as doc tests so that they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDocTests;

/// The guide's Rust blocks, compiled as doc tests (its rule-source block needs the `etcd`
/// and `k8s` features, which `scripts/test.sh` enables with `--all-features`).
#[cfg(all(doctest, feature = "etcd", feature = "k8s"))]
#[doc = include_str!("../GUIDE.md")]
struct GuideDocTests;
