//! The server-side layer over real HTTP on 127.0.0.1: limits, resource naming, argument
//! extraction, hot-parameter rules, breakers and throttling.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::{TestServer, client, fetch, fetch_with, manual_sentinel, within};
use http::request::Parts;
use http::{HeaderName, Request, Response, StatusCode};
use http_body_util::Empty;
use sentinel_adapters::{Arg, SentinelLayer};
use sentinel_core::circuit_breaker::{CircuitBreakerRule, State, Strategy};
use sentinel_core::flow::{ControlBehavior, FlowRule};
use sentinel_core::hotspot::{HotspotRule, MetricType};
use sentinel_core::{BlockError, ParamValue};

fn flow(resource: &str, threshold: f64) -> FlowRule {
    FlowRule {
        resource: resource.into(),
        threshold,
        ..Default::default()
    }
}

/// A handler that counts its calls.
fn counted(
    calls: &Arc<AtomicUsize>,
) -> impl Fn() -> std::future::Ready<&'static str> + Clone + use<> {
    let calls = calls.clone();
    move || {
        calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready("ok")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_requests_under_a_limit_of_five_get_five_200_and_forty_five_429() {
    let (sentinel, _clock) = manual_sentinel();
    sentinel
        .load_flow_rules(vec![flow("GET /items/{id}", 5.0)])
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route("/items/{id}", get(counted(&calls)))
        .layer(SentinelLayer::new(sentinel.clone()));
    let server = TestServer::start(app).await;
    let client = client();

    let requests: Vec<_> = (0..50)
        .map(|i| {
            let (client, url) = (client.clone(), server.url(&format!("/items/{i}")));
            tokio::spawn(async move { fetch(&client, &url).await })
        })
        .collect();
    let mut by_status: HashMap<u16, usize> = HashMap::new();
    for request in requests {
        let reply = within("a request", Duration::from_secs(10), request)
            .await
            .unwrap();
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            // The passes at 0 ms leave every 1 s span at 1 s.
            assert_eq!(reply.headers["retry-after"], "1", "429 carries Retry-After");
        }
        *by_status.entry(reply.status.as_u16()).or_default() += 1;
    }
    assert_eq!(by_status, HashMap::from([(200, 5), (429, 45)]));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        5,
        "blocked requests never reach the handler"
    );
    let stats = sentinel.resource_stats("GET /items/{id}").unwrap();
    assert_eq!((stats.pass_qps, stats.block_qps), (5.0, 45.0));
}

#[tokio::test]
async fn requests_are_grouped_by_their_matched_route() {
    let (sentinel, _clock) = manual_sentinel();
    let app = Router::new()
        .route("/items/{id}", get(|| async { "item" }))
        .nest(
            "/shops/{shop}",
            Router::new().route("/orders", get(|| async { "orders" })),
        )
        .layer(SentinelLayer::new(sentinel.clone()));
    let server = TestServer::start(app).await;
    let client = client();
    for path in [
        "/items/1",
        "/items/2",
        "/items/3?full=true",
        "/shops/a/orders",
    ] {
        assert_eq!(
            fetch(&client, &server.url(path)).await.status,
            StatusCode::OK
        );
    }
    let passed = |r: &str| sentinel.resource_stats(r).map(|s| s.pass_qps);
    assert_eq!(passed("GET /items/{id}"), Some(3.0));
    assert_eq!(passed("GET /shops/{shop}/orders"), Some(1.0));
    assert_eq!(
        passed("GET /items/1"),
        None,
        "no resource per concrete path"
    );
}

#[tokio::test]
async fn a_custom_resource_extractor_names_the_resource() {
    let (sentinel, _clock) = manual_sentinel();
    sentinel
        .load_flow_rules(vec![flow("tenant acme", 1.0)])
        .unwrap();
    let by_tenant = |req: &Request<Body>| {
        let tenant = req.headers().get("x-tenant").and_then(|v| v.to_str().ok());
        format!("tenant {}", tenant.unwrap_or("none"))
    };
    let app = Router::new()
        .route("/report", get(|| async { "report" }))
        .layer(SentinelLayer::new(sentinel.clone()).resource(by_tenant));
    let server = TestServer::start(app).await;
    let client = client();
    let as_tenant = |tenant: &str| {
        Request::get(server.url("/report"))
            .header("x-tenant", tenant)
            .body(Empty::new())
            .unwrap()
    };
    let statuses = [
        fetch_with(&client, as_tenant("acme")).await.status,
        fetch_with(&client, as_tenant("acme")).await.status,
        fetch_with(&client, as_tenant("globex")).await.status,
    ];
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::OK
        ]
    );
    assert!(sentinel.resource_stats("tenant globex").is_some());
}

#[tokio::test]
async fn a_custom_argument_extractor_feeds_hot_parameter_rules() {
    let (sentinel, _clock) = manual_sentinel();
    sentinel
        .load_hotspot_rules(vec![HotspotRule {
            resource: "GET /feed".into(),
            metric_type: MetricType::Qps,
            param_index: 0,
            threshold: 1,
            ..Default::default()
        }])
        .unwrap();
    // The user id, lower-cased: a closure is an argument extractor.
    let user = |req: &Request<Body>| {
        let user = req.headers().get("x-user")?.to_str().ok()?;
        Some(ParamValue::from(user.to_ascii_lowercase()))
    };
    let app = Router::new()
        .route("/feed", get(|| async { "feed" }))
        .layer(SentinelLayer::new(sentinel.clone()).args(user));
    let server = TestServer::start(app).await;
    let client = client();
    let as_user = |user: &str| {
        Request::get(server.url("/feed"))
            .header("x-user", user)
            .body(Empty::new())
            .unwrap()
    };
    let mut statuses = Vec::new();
    for user in ["ann", "ANN", "bob", "bob"] {
        statuses.push(fetch_with(&client, as_user(user)).await.status.as_u16());
    }
    assert_eq!(statuses, [200, 429, 200, 429]);
}

#[tokio::test]
async fn a_hot_parameter_rule_on_a_path_parameter_limits_one_item_and_not_the_others() {
    let (sentinel, _clock) = manual_sentinel();
    sentinel
        .load_hotspot_rules(vec![HotspotRule {
            resource: "GET /items/{id}".into(),
            metric_type: MetricType::Qps,
            param_index: 0,
            threshold: 100,
            // Item 7 is hot: 2 a second. Integer values match `{valKind: 0}` items.
            specific_items: HashMap::from([(ParamValue::from(7), 2)]),
            ..Default::default()
        }])
        .unwrap();
    let layer = SentinelLayer::new(sentinel.clone()).args(Arg::path_param("id").integer());
    let app = Router::new()
        .route("/items/{id}", get(|| async { "item" }))
        .layer(layer);
    let server = TestServer::start(app).await;
    let client = client();
    let mut hot = Vec::new();
    for _ in 0..5 {
        hot.push(
            fetch(&client, &server.url("/items/7"))
                .await
                .status
                .as_u16(),
        );
    }
    assert_eq!(hot, [200, 200, 429, 429, 429]);
    for id in [8, 9, 70, 8, 8, 8] {
        let reply = fetch(&client, &server.url(&format!("/items/{id}"))).await;
        assert_eq!(reply.status, StatusCode::OK, "item {id} is not limited");
    }
}

#[tokio::test]
async fn a_breaker_trips_on_server_errors_and_answers_503_while_open() {
    let (sentinel, clock) = manual_sentinel();
    sentinel
        .load_circuit_breaker_rules(vec![CircuitBreakerRule {
            resource: "GET /stock".into(),
            strategy: Strategy::ErrorCount,
            threshold: 3.0,
            min_request_amount: 1,
            retry_timeout_ms: 5_000,
            stat_interval_ms: 10_000,
            ..Default::default()
        }])
        .unwrap();
    let failing = Arc::new(AtomicBool::new(true));
    let calls = Arc::new(AtomicUsize::new(0));
    let handler = {
        let (failing, calls) = (failing.clone(), calls.clone());
        move || {
            calls.fetch_add(1, Ordering::SeqCst);
            let status = if failing.load(Ordering::SeqCst) {
                StatusCode::BAD_GATEWAY
            } else {
                StatusCode::OK
            };
            async move { status }
        }
    };
    let app = Router::new()
        .route("/stock", get(handler))
        .layer(SentinelLayer::new(sentinel.clone()));
    let server = TestServer::start(app).await;
    let client = client();
    let url = server.url("/stock");

    for _ in 0..3 {
        assert_eq!(fetch(&client, &url).await.status, StatusCode::BAD_GATEWAY);
    }
    assert_eq!(sentinel.circuit_breaker_states("GET /stock"), [State::Open]);
    for _ in 0..3 {
        let reply = fetch(&client, &url).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            reply.headers["retry-after"], "5",
            "the rest of the retry timeout"
        );
    }
    clock.advance(Duration::from_millis(3_500));
    let reply = fetch(&client, &url).await;
    assert_eq!(reply.headers["retry-after"], "2", "1.5 s left, rounded up");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "an open breaker shields the handler"
    );

    failing.store(false, Ordering::SeqCst);
    clock.advance(Duration::from_millis(1_500));
    assert_eq!(
        fetch(&client, &url).await.status,
        StatusCode::OK,
        "the probe"
    );
    assert_eq!(
        sentinel.circuit_breaker_states("GET /stock"),
        [State::Closed]
    );
}

#[tokio::test]
async fn a_custom_block_handler_builds_the_response() {
    let (sentinel, _clock) = manual_sentinel();
    sentinel
        .load_flow_rules(vec![flow("GET /quote", 0.0)])
        .unwrap();
    let handler = |block: &BlockError, request: &Parts| {
        Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .header("content-type", "application/json")
            .body(Body::from(format!(
                r#"{{"blocked":"{}","path":"{}"}}"#,
                block.block_type(),
                request.uri.path()
            )))
            .unwrap()
    };
    let app = Router::new()
        .route("/quote", get(|| async { "quote" }))
        .layer(SentinelLayer::new(sentinel.clone()).on_block(handler));
    let server = TestServer::start(app).await;
    let reply = fetch(&client(), &server.url("/quote")).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.body, r#"{"blocked":"Flow","path":"/quote"}"#);
}

#[tokio::test]
async fn the_client_ip_can_be_a_hot_parameter() {
    let (sentinel, _clock) = manual_sentinel();
    sentinel
        .load_hotspot_rules(vec![HotspotRule {
            resource: "GET /login".into(),
            metric_type: MetricType::Qps,
            param_key: "ip".into(),
            threshold: 100,
            specific_items: HashMap::from([(ParamValue::from("127.0.0.1"), 1)]),
            ..Default::default()
        }])
        .unwrap();
    let layer = SentinelLayer::new(sentinel.clone()).args((
        Arg::header(HeaderName::from_static("x-user")),
        Arg::client_ip().attachment("ip"),
    ));
    let app = Router::new()
        .route("/login", get(|| async { "welcome" }))
        .layer(layer);
    let server = TestServer::start(app).await;
    let client = client();
    let first = fetch(&client, &server.url("/login")).await.status;
    let second = fetch(&client, &server.url("/login")).await.status;
    assert_eq!(
        (first, second),
        (StatusCode::OK, StatusCode::TOO_MANY_REQUESTS)
    );
}

/// One thread runs the server, the client and this test: if a throttled request blocked
/// it while waiting for its slot, nothing else could be served meanwhile.
#[tokio::test(flavor = "current_thread")]
async fn a_throttled_request_waits_without_blocking_the_only_thread() {
    let (sentinel, _clock) = manual_sentinel();
    sentinel
        .load_flow_rules(vec![FlowRule {
            resource: "GET /slow".into(),
            threshold: 1.0, // one a second
            control_behavior: ControlBehavior::Throttling,
            max_queueing_time_ms: 2_000,
            ..Default::default()
        }])
        .unwrap();
    let app = Router::new()
        .route("/slow", get(|| async { "paced" }))
        .route("/fast", get(|| async { "fast" }))
        .layer(SentinelLayer::new(sentinel.clone()));
    let server = TestServer::start(app).await;
    let client = client();
    let slow_url = server.url("/slow");

    assert_eq!(fetch(&client, &slow_url).await.status, StatusCode::OK);
    let started = Instant::now();
    let queued = tokio::spawn({
        let (client, url) = (client.clone(), slow_url.clone());
        async move { fetch(&client, &url).await }
    });
    for _ in 0..5 {
        let reply = fetch(&client, &server.url("/fast")).await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    let fast_done = started.elapsed();
    assert!(
        !queued.is_finished(),
        "the queued request still waits for its slot"
    );
    let reply = within("the queued request", Duration::from_secs(5), queued)
        .await
        .unwrap();
    let slow_done = started.elapsed();
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        fast_done < Duration::from_millis(800),
        "other requests were served during the wait ({fast_done:?})"
    );
    assert!(
        slow_done >= Duration::from_millis(950),
        "the queued request waited for its slot ({slow_done:?})"
    );
}

#[tokio::test]
async fn retry_after_is_the_wait_of_the_limiter_that_refused() {
    let (sentinel, clock) = manual_sentinel();
    sentinel
        .load_flow_rules(vec![FlowRule {
            stat_interval_in_ms: 60_000,
            ..flow("GET /report", 10.0)
        }])
        .unwrap();
    sentinel
        .load_hotspot_rules(vec![HotspotRule {
            resource: "GET /items/{id}".into(),
            metric_type: MetricType::Qps,
            threshold: 1,
            duration_in_sec: 60,
            ..Default::default()
        }])
        .unwrap();
    let app = Router::new()
        .route("/report", get(|| async { "report" }))
        .route("/items/{id}", get(|| async { "item" }))
        .layer(SentinelLayer::new(sentinel.clone()).args(Arg::path_param("id")));
    let server = TestServer::start(app).await;
    let client = client();
    for _ in 0..10 {
        assert_eq!(
            fetch(&client, &server.url("/report")).await.status,
            StatusCode::OK
        );
    }
    clock.advance(Duration::from_secs(20));
    let reply = fetch(&client, &server.url("/report")).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    // 10 per minute: the passes at 0 s leave every 60 s span at 60 s, 40 s from now. A
    // client that honours `Retry-After: 1` would be refused 40 times.
    assert_eq!(reply.headers["retry-after"], "40");
    assert_eq!(
        fetch(&client, &server.url("/items/7")).await.status,
        StatusCode::OK
    );
    clock.advance(Duration::from_secs(15));
    let reply = fetch(&client, &server.url("/items/7")).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        reply.headers["retry-after"], "45",
        "one token per 60 s, 15 s spent"
    );
}

#[tokio::test]
async fn a_scan_of_unknown_paths_is_one_resource_and_never_switches_routes_off() {
    let clock = sentinel_core::ManualClock::new();
    let sentinel = sentinel_core::Sentinel::builder()
        .clock(clock)
        .max_resources(8)
        .build();
    sentinel
        .load_flow_rules(vec![flow("GET /admin", 0.0)])
        .unwrap();
    let app = Router::new()
        .route("/admin", get(|| async { "admin" }))
        .route("/", get(|| async { "home" }))
        .layer(SentinelLayer::new(sentinel.clone()));
    let server = TestServer::start(app).await;
    let client = client();
    for i in 0..100 {
        let reply = fetch(&client, &server.url(&format!("/wp-admin/{i}.php"))).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
    }
    let odd = Request::builder()
        .method("PROPFIND")
        .uri(server.url("/"))
        .body(Empty::new())
        .unwrap();
    fetch_with(&client, odd).await;
    assert_eq!(
        fetch(&client, &server.url("/admin")).await.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the route keeps its rule"
    );
    let unmatched = sentinel
        .resource_stats(sentinel_adapters::UNMATCHED_ROUTE)
        .expect("unmatched requests share one resource");
    assert_eq!(unmatched.pass_qps, 100.0);
    let names: Vec<String> = sentinel
        .all_resource_stats()
        .into_iter()
        .map(|s| s.resource)
        .collect();
    assert!(
        names.iter().all(|n| !n.contains("wp-admin")),
        "no resource per raw path: {names:?}"
    );
    assert!(names.contains(&"OTHER /".to_string()), "{names:?}");
}

/// GET `path` with these headers.
async fn fetch_headers(
    client: &common::HttpClient,
    url: &str,
    headers: &[(&'static str, String)],
) -> StatusCode {
    let mut request = Request::get(url);
    for (name, value) in headers {
        request = request.header(*name, value.as_str());
    }
    fetch_with(client, request.body(Empty::new()).unwrap())
        .await
        .status
}

/// Two logins a second per client address.
fn login_limit() -> HotspotRule {
    HotspotRule {
        resource: "GET /login".into(),
        metric_type: MetricType::Qps,
        threshold: 2,
        ..Default::default()
    }
}

#[tokio::test]
async fn a_client_forging_forwarding_headers_gets_no_more_than_its_limit() {
    use sentinel_adapters::{IpNet, TrustedProxies};
    let (sentinel, _clock) = manual_sentinel();
    sentinel.load_hotspot_rules(vec![login_limit()]).unwrap();
    let xff = HeaderName::from_static("x-forwarded-for");
    let arg = |path: &str| match path {
        "/hops0" => Arg::client_ip()
            .forwarded_by(xff.clone())
            .trusted_proxies(TrustedProxies::Hops(0)),
        "/hops1" => Arg::client_ip().forwarded_by(xff.clone()),
        "/rfc7239" => Arg::client_ip().forwarded(),
        _ => Arg::client_ip().trusted_proxies(TrustedProxies::Networks(vec![
            "127.0.0.0/8".parse::<IpNet>().unwrap(),
        ])),
    };
    for path in ["/hops0", "/hops1", "/rfc7239", "/networks"] {
        let app = Router::new()
            .route(path, get(|| async { "welcome" }))
            .layer(
                SentinelLayer::new(sentinel.clone())
                    .resource(|_: &Request<Body>| "GET /login")
                    .args(arg(path)),
            );
        let server = TestServer::start(app).await;
        let client = client();
        // The test client plays the nearest proxy (the socket peer, 127.0.0.1): it appends
        // the real client 198.51.100.7 after whatever the client wrote.
        let mut statuses = Vec::new();
        for i in 0..6 {
            let forged = format!("203.0.113.{i}");
            let header = match path {
                "/rfc7239" => ("forwarded", format!("for={forged}, for=198.51.100.7")),
                _ => ("x-forwarded-for", format!("{forged}, 198.51.100.7")),
            };
            statuses.push(fetch_headers(&client, &server.url(path), &[header]).await);
        }
        let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        assert_eq!(ok, 2, "{path}: {statuses:?}");
        // The other client (and, with Hops(0), everyone: the header is ignored) has its own
        // budget, or none left.
        let other = fetch_headers(
            &client,
            &server.url(path),
            &[("x-forwarded-for", "192.0.2.1".into())],
        )
        .await;
        let expect = if path == "/hops0" {
            StatusCode::TOO_MANY_REQUESTS // the header is ignored: the peer 127.0.0.1 again
        } else {
            StatusCode::OK
        };
        assert_eq!(other, expect, "{path}");
        sentinel.load_hotspot_rules(vec![]).unwrap();
        sentinel.load_hotspot_rules(vec![login_limit()]).unwrap();
    }
}
