//! The dashboard's API on a manual clock: what it reports, who may write, and the headers
//! of every answer.

mod common;

use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use common::{capture_events, manual_sentinel, next_second_frame};
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use sentinel_adapters::dashboard::{self, DashboardConfig, DashboardError, MAX_BODY_BYTES};
use sentinel_core::cluster::ClusterConfig;
use sentinel_core::flow::FlowRule;
use sentinel_core::{ManualClock, Sentinel};
use sentinel_datasource::{FileSource, Format, Pipeline};
use serde_json::Value;
use tower::ServiceExt;

const TOKEN: &str = "0123456789abcdef-token";

/// An instance on a manual clock with a flow rule of 3 per second on `GET /orders`.
fn busy_instance() -> (Sentinel, ManualClock) {
    let (sentinel, clock) = manual_sentinel();
    sentinel
        .load_flow_rules(vec![FlowRule {
            resource: "GET /orders".into(),
            threshold: 3.0,
            ..FlowRule::default()
        }])
        .unwrap();
    (sentinel, clock)
}

/// Five entries a second on `GET /orders`, two on `GET /items`, one on `POST /pay`, for
/// `seconds` seconds, each second recorded.
fn traffic(sentinel: &Sentinel, clock: &ManualClock, seconds: u64) {
    for _ in 0..seconds {
        for (resource, n) in [("GET /orders", 5), ("GET /items", 2), ("POST /pay", 1)] {
            for _ in 0..n {
                if let Ok(e) = sentinel.entry(resource).try_enter() {
                    clock.advance(Duration::from_millis(1));
                    drop(e);
                }
            }
        }
        let into_second = clock.elapsed().as_millis() as u64 % 1000;
        clock.advance(Duration::from_millis(1000 - into_second));
        sentinel.flush_metrics();
    }
}

async fn call(app: &Router, request: Request<Body>) -> (StatusCode, http::HeaderMap, Vec<u8>) {
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes().to_vec();
    (parts.status, parts.headers, bytes)
}

async fn get_json(app: &Router, path: &str) -> Value {
    let (status, _, body) = call(app, Request::get(path).body(Body::empty()).unwrap()).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{path}: {}",
        String::from_utf8_lossy(&body)
    );
    serde_json::from_slice(&body).unwrap()
}

/// A PUT of `body` with `If-Match: *` (whatever version is in force).
fn put(path: &str, token: Option<&str>, body: &str) -> Request<Body> {
    let mut r = Request::put(path)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::IF_MATCH, "*");
    if let Some(t) = token {
        r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    r.body(Body::from(body.to_string())).unwrap()
}

#[tokio::test]
async fn reports_status_resources_history_rules_and_system_from_recorded_seconds() {
    let (sentinel, clock) = busy_instance();
    let app = dashboard::router(&sentinel, DashboardConfig::new("shop").version("1.2.3")).unwrap();
    traffic(&sentinel, &clock, 5);

    let status = get_json(&app, "/api/v1/status").await;
    assert_eq!(status["app"], "shop");
    assert_eq!(status["version"], "1.2.3");
    assert_eq!(status["rules"]["flow"], 1);
    assert_eq!(status["writes"]["enabled"], false);
    assert_eq!(status["historySeconds"], 300);
    assert!(status["cluster"].is_null());

    let resources = get_json(&app, "/api/v1/resources").await;
    let rows = resources["resources"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["GET /items", "GET /orders", "POST /pay"]);
    let orders = &rows[1];
    let (pass, block) = (
        orders["pass"].as_u64().unwrap(),
        orders["block"].as_u64().unwrap(),
    );
    assert_eq!(pass + block, 5, "{orders}");
    assert!(pass <= 3, "the flow rule admits 3 a second: {orders}");
    assert_eq!(orders["rules"]["flow"], 1);
    assert_eq!(orders["kept"], true);
    let spark = orders["spark"].as_array().unwrap();
    assert_eq!(spark.len(), 60);
    assert_eq!(spark[59], 5, "the last second's pass + block");

    let history = get_json(&app, "/api/v1/history?resource=GET%20%2Forders").await;
    let seconds = history["seconds"].as_array().unwrap();
    assert_eq!(seconds.len(), 5, "{history}");
    let column = |name: &str| -> Vec<u64> {
        history[name]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect()
    };
    let (pass, block) = (column("pass"), column("block"));
    assert!(
        pass.iter().zip(&block).all(|(p, b)| p + b == 5 && *p <= 3),
        "{history}"
    );
    assert_eq!(column("complete"), pass, "every admitted entry completed");
    let third = seconds[2].as_u64().unwrap();
    let since = get_json(
        &app,
        &format!("/api/v1/history?resource=GET%20%2Forders&since={third}"),
    )
    .await;
    assert_eq!(since["seconds"].as_array().unwrap().len(), 2);
    let (missing, _, _) = call(
        &app,
        Request::get("/api/v1/history?resource=nope")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(missing, StatusCode::NOT_FOUND);

    let rules = get_json(&app, "/api/v1/rules").await;
    assert_eq!(rules["kinds"]["flow"][0]["resource"], "GET /orders");
    // Go's integers by default, which leave out only Go's zero values.
    assert_eq!(rules["kinds"]["flow"][0]["statIntervalInMs"], 1000);
    for kind in ["isolation", "circuitBreaker", "hotspot", "system"] {
        assert_eq!(rules["kinds"][kind], serde_json::json!([]), "{kind}");
    }
    let named = get_json(&app, "/api/v1/rules?enums=names").await;
    assert_eq!(named["kinds"]["flow"][0]["resource"], "GET /orders");
    assert!(
        named["kinds"]["flow"][0].get("statIntervalInMs").is_none(),
        "defaults left out"
    );
    let (status, _, _) = call(
        &app,
        Request::get("/api/v1/rules?enums=roman")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // A cluster rule without a backend: its lease limits this instance alone.
    let mut rules = sentinel.flow_rules();
    rules.push(FlowRule {
        resource: "POST /pay".into(),
        threshold: 100.0,
        cluster_mode: true,
        cluster_config: Some(ClusterConfig {
            flow_id: "payments".into(),
            ..ClusterConfig::default()
        }),
        ..FlowRule::default()
    });
    sentinel.load_flow_rules(rules).unwrap();
    drop(sentinel.entry("POST /pay").try_enter());
    let status = get_json(&app, "/api/v1/status").await;
    assert_eq!(
        status["cluster"],
        serde_json::json!({"state": "NoBackend", "leases": [{"flowId": "payments", "state": "NoBackend", "liveInstances": 0}]})
    );

    let system = get_json(&app, "/api/v1/system").await;
    assert!(system["rules"].as_array().unwrap().is_empty());
    assert!(system.get("cpuUsage").is_some());
}

#[tokio::test]
async fn writes_are_refused_when_off_without_the_token_and_for_bad_sets() {
    let (sentinel, _clock) = busy_instance();
    let good = r#"[{"resource": "GET /items", "threshold": 10}]"#;

    let read_only = dashboard::router(&sentinel, DashboardConfig::new("shop")).unwrap();
    let (status, headers, _) = call(&read_only, put("/api/v1/rules/flow", Some(TOKEN), good)).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers[header::ALLOW], "GET");

    let app =
        dashboard::router(&sentinel, DashboardConfig::new("shop").write_token(TOKEN)).unwrap();
    let (guard, events) = capture_events();
    for token in [
        None,
        Some("0123456789abcdef-tokeX"),
        Some("short"),
        Some("0123456789abcdef-toke"),
    ] {
        let (status, headers, _) = call(&app, put("/api/v1/rules/flow", token, good)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "token {token:?}");
        assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
    }
    drop(guard);
    let refusals = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.contains("without the right token"))
        .count();
    assert_eq!(refusals, 4, "each refused token is logged");
    assert_eq!(
        sentinel.flow_rules()[0].resource,
        "GET /orders",
        "nothing written"
    );

    let bad =
        r#"[{"resource": "GET /items", "threshold": 10}, {"resource": "GET /x", "threshold": -1}]"#;
    let (status, _, body) = call(&app, put("/api/v1/rules/flow", Some(TOKEN), bad)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = serde_json::from_slice(&body).unwrap();
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["rule"], "#1");
    assert_eq!(errors[0]["field"], "threshold");
    assert_eq!(errors[0]["resource"], "GET /x");
    assert_eq!(sentinel.flow_rules().len(), 1, "a bad set changes nothing");
    assert_eq!(sentinel.flow_rules()[0].resource, "GET /orders");

    let (status, _, _) = call(&app, put("/api/v1/rules/flows", Some(TOKEN), good)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_guard, events) = capture_events();
    let mut accepted = put("/api/v1/rules/flow", Some(TOKEN), good);
    let remote: SocketAddr = "127.0.0.7:40000".parse().unwrap();
    accepted.extensions_mut().insert(ConnectInfo(remote));
    let (status, _, body) = call(&app, accepted).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let events = events.lock().unwrap().clone();
    let line = events
        .iter()
        .find(|e| e.contains("dashboard write"))
        .expect("a log line");
    for part in ["kind=flow", "GET /items", "remote=127.0.0.7:40000"] {
        assert!(line.contains(part), "{part} in {line}");
    }
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (body["rules"].as_u64(), body["persisted"].as_bool()),
        (Some(1), Some(false))
    );
    assert_eq!(sentinel.flow_rules()[0].resource, "GET /items");
    let system = r#"[{"metricType": "InboundQPS", "triggerCount": 1000}]"#;
    let (status, _, body) = call(&app, put("/api/v1/rules/system", Some(TOKEN), system)).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let rules = get_json(&app, "/api/v1/system").await["rules"].clone();
    assert_eq!(rules.as_array().map(Vec::len), Some(1), "{rules}");
    assert_eq!(rules[0]["triggerCount"], 1000.0);
    let status = get_json(&app, "/api/v1/status").await;
    assert_eq!(
        status["writes"],
        serde_json::json!({"enabled": true, "persisted": false, "target": null})
    );
}

#[tokio::test]
async fn bodies_must_be_bounded_json_and_tokens_long() {
    let (sentinel, _clock) = busy_instance();
    let app =
        dashboard::router(&sentinel, DashboardConfig::new("shop").write_token(TOKEN)).unwrap();
    let mut not_json = put("/api/v1/rules/flow", Some(TOKEN), "[]");
    not_json
        .headers_mut()
        .insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
    assert_eq!(
        call(&app, not_json).await.0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    let huge = format!("[{}]", " ".repeat(MAX_BODY_BYTES));
    assert_eq!(
        call(&app, put("/api/v1/rules/flow", Some(TOKEN), &huge))
            .await
            .0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let (status, _, body) = call(&app, put("/api/v1/rules/flow", Some(TOKEN), "{not json")).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(sentinel.flow_rules()[0].resource, "GET /orders");

    let weak = dashboard::router(&sentinel, DashboardConfig::new("shop").write_token("short"));
    assert!(matches!(weak, Err(DashboardError::WeakToken { len: 5 })));
    for spaced in [
        "0123456789abcdef ",
        " 0123456789abcdef",
        "0123456789 abcdef",
        "0123456789abcdéf",
    ] {
        let refused =
            dashboard::router(&sentinel, DashboardConfig::new("shop").write_token(spaced));
        assert!(
            matches!(refused, Err(DashboardError::TokenCharacters)),
            "{spaced:?}"
        );
    }
    let remote = dashboard::serve(
        &sentinel,
        ([0, 0, 0, 0], 0).into(),
        DashboardConfig::new("shop"),
    )
    .await;
    let message = remote.unwrap_err().to_string();
    assert!(message.contains("beyond loopback"), "{message}");
}

#[tokio::test]
async fn every_answer_has_the_security_headers_and_no_cors() {
    let (sentinel, _clock) = busy_instance();
    let app =
        dashboard::router(&sentinel, DashboardConfig::new("shop").write_token(TOKEN)).unwrap();
    let requests = [
        Request::get("/").body(Body::empty()).unwrap(),
        Request::get("/assets/app.js").body(Body::empty()).unwrap(),
        Request::get("/api/v1/status")
            .header(header::ORIGIN, "https://evil.example")
            .body(Body::empty())
            .unwrap(),
        put("/api/v1/rules/flow", None, "[]"),
        Request::get("/assets/nope.js").body(Body::empty()).unwrap(),
    ];
    for request in requests {
        let path = request.uri().to_string();
        let (_, headers, _) = call(&app, request).await;
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
            "{path}"
        );
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{path}"
        );
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY", "{path}");
        assert!(
            headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none(),
            "{path}"
        );
        assert!(headers.get(header::SET_COOKIE).is_none(), "{path}");
    }
    let preflight = Request::options("/api/v1/rules/flow")
        .header(header::ORIGIN, "https://evil.example")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "PUT")
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = call(&app, preflight).await;
    assert!(
        !status.is_success(),
        "no CORS preflight is granted: {status}"
    );
    assert!(headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
}

#[tokio::test]
async fn the_page_is_served_under_a_prefix_with_small_assets_and_no_outside_links() {
    let (sentinel, _clock) = busy_instance();
    let app = Router::new().nest(
        "/ops/sentinel",
        dashboard::router(&sentinel, DashboardConfig::new("shop")).unwrap(),
    );
    // axum's `nest` serves the mount point without the trailing slash; the page's links
    // resolve under it through its `<base>`.
    let (status, headers, page) = call(
        &app,
        Request::get("/ops/sentinel").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains(r#"<base href="/ops/sentinel/">"#), "{page}");
    let mut gzipped = 0;
    for name in ["app.js", "app.css", "uplot.min.js", "uplot.min.css"] {
        let (status, _, bytes) = call(
            &app,
            Request::get(format!("/ops/sentinel/assets/{name}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{name}");
        let text = String::from_utf8_lossy(&bytes);
        for outside in ["http://", "https://", "//cdn", "fetch(\"/", "fetch('/"] {
            assert!(
                !text.contains(outside) || name.starts_with("uplot"),
                "{name} refers outside the page: {outside}"
            );
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&bytes).unwrap();
        gzipped += gz.finish().unwrap().len();
    }
    assert!(
        gzipped + page.len() <= 80 * 1024,
        "assets take {gzipped} bytes gzipped"
    );
    assert!(
        !page.contains("<script>") && !page.contains("style="),
        "no inline code or style"
    );
}

#[tokio::test]
async fn the_stream_sends_one_frame_per_recorded_second() {
    let (sentinel, clock) = busy_instance();
    let app = dashboard::router(&sentinel, DashboardConfig::new("shop")).unwrap();
    let response = app
        .clone()
        .oneshot(Request::get("/api/v1/stream").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    let mut body = response.into_body();
    for _ in 0..2 {
        traffic(&sentinel, &clock, 1);
        let (frame, names) = next_second_frame(&mut body).await;
        assert_eq!(names.len(), 3, "{frame}");
        assert!(frame["second"].as_u64().unwrap() > 0);
    }
}

#[tokio::test]
async fn writes_through_a_file_editor_are_saved_where_the_source_reads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.yaml");
    std::fs::write(&path, "flow:\n  - {resource: GET /orders, threshold: 3}\n").unwrap();
    let (sentinel, _clock) = manual_sentinel();
    let source = FileSource::builder(&path)
        .start_strict(Pipeline::builder(&sentinel).all_kinds().build())
        .unwrap();
    let config = DashboardConfig::new("shop")
        .write_token(TOKEN)
        .editor(source.editor());
    let app = dashboard::router(&sentinel, config).unwrap();

    let set = r#"[{"resource": "GET /items", "threshold": 10}, {"resource": "GET /orders", "threshold": 3}]"#;
    let (status, _, body) = call(&app, put("/api/v1/rules/flow", Some(TOKEN), set)).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let mut body: Value = serde_json::from_slice(&body).unwrap();
    let version = body.as_object_mut().unwrap().remove("version").unwrap();
    assert_eq!(
        body,
        serde_json::json!({"kind": "flow", "rules": 2, "added": 1, "removed": 0, "modified": 0, "persisted": true})
    );
    assert_eq!(
        get_json(&app, "/api/v1/rules").await["versions"]["flow"],
        version
    );
    // The file holds the new set: another instance loading it gets the same rules.
    let other = Sentinel::new();
    Pipeline::builder(&other)
        .all_kinds()
        .build()
        .apply(&std::fs::read(&path).unwrap(), Format::Auto)
        .unwrap();
    assert_eq!(other.flow_rules(), sentinel.flow_rules());

    let status = get_json(&app, "/api/v1/status").await;
    assert_eq!(status["writes"]["persisted"], true);
    assert!(
        status["writes"]["target"]
            .as_str()
            .unwrap()
            .contains("rules.yaml"),
        "{status}"
    );
    let sources = status["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 1, "the editor's source is shown: {status}");
    assert_eq!(sources[0]["rules"]["flow"], 2);
    drop(source);
}

#[tokio::test]
async fn writes_need_the_version_they_were_built_on() {
    let (sentinel, _clock) = busy_instance();
    let app =
        dashboard::router(&sentinel, DashboardConfig::new("shop").write_token(TOKEN)).unwrap();
    let (status, headers, body) = call(
        &app,
        Request::get("/api/v1/rules").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let read: Value = serde_json::from_slice(&body).unwrap();
    let version = read["versions"]["flow"].as_str().unwrap().to_string();
    let etag = headers[header::ETAG].to_str().unwrap().to_string();
    assert_eq!(version.len(), 16);
    assert_ne!(read["versions"]["flow"], read["versions"]["system"]);

    let with = |tag: Option<&str>, body: &str| {
        let mut r = Request::put("/api/v1/rules/flow")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
        if let Some(tag) = tag {
            r = r.header(header::IF_MATCH, tag);
        }
        r.body(Body::from(body.to_string())).unwrap()
    };
    let first = r#"[{"resource": "GET /orders", "threshold": 4}]"#;
    let (status, _, _) = call(&app, with(None, first)).await;
    assert_eq!(status, StatusCode::PRECONDITION_REQUIRED);

    // Saved on the version read (quoted, as an ETag): accepted, with the new version.
    let (status, _, body) = call(&app, with(Some(&format!("\"{version}\"")), first)).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let saved: Value = serde_json::from_slice(&body).unwrap();
    let new_version = saved["version"].as_str().unwrap().to_string();
    assert_ne!(new_version, version);
    let again = get_json(&app, "/api/v1/rules").await;
    assert_eq!(again["versions"]["flow"], new_version.as_str());

    // A second save built on what was read before the first: refused, nothing changed.
    for stale in [version.as_str(), etag.as_str()] {
        let (status, _, body) = call(
            &app,
            with(
                Some(stale),
                r#"[{"resource": "GET /orders", "threshold": 9}]"#,
            ),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::CONFLICT,
            "{}",
            String::from_utf8_lossy(&body)
        );
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["current"], new_version.as_str());
    }
    assert_eq!(sentinel.flow_rules()[0].threshold, 4.0);
    // The version of all kinds (the ETag) and `*` are accepted too.
    let etag = call(
        &app,
        Request::get("/api/v1/rules").body(Body::empty()).unwrap(),
    )
    .await
    .1[header::ETAG]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(call(&app, with(Some(&etag), first)).await.0, StatusCode::OK);
    assert_eq!(call(&app, with(Some("*"), first)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_loopback_server_answers_only_requests_addressed_to_loopback() {
    let (sentinel, _clock) = busy_instance();
    let board = common::dashboard_on_loopback(&sentinel, DashboardConfig::new("shop")).await;
    let port = board.local_addr().port();
    let client = common::client();
    for (host, expected) in [
        (format!("127.0.0.1:{port}"), StatusCode::OK),
        (format!("localhost:{port}"), StatusCode::OK),
        (
            format!("attacker.example:{port}"),
            StatusCode::MISDIRECTED_REQUEST,
        ),
        ("127.0.0.1".to_string(), StatusCode::MISDIRECTED_REQUEST),
    ] {
        let request = http::Request::get(format!("http://127.0.0.1:{port}/api/v1/rules"))
            .header(header::HOST, &host)
            .body(http_body_util::Empty::new())
            .unwrap();
        let reply = common::fetch_with(&client, request).await;
        assert_eq!(reply.status, expected, "Host: {host}");
    }
    // HTTP/2 names the host in the request's authority, not in a `Host` header.
    for (authority, expected) in [
        (format!("127.0.0.1:{port}"), StatusCode::OK),
        (
            format!("attacker.example:{port}"),
            StatusCode::MISDIRECTED_REQUEST,
        ),
    ] {
        let stream = tokio::net::TcpStream::connect(board.local_addr())
            .await
            .unwrap();
        let (mut sender, connection) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(stream),
        )
        .await
        .unwrap();
        tokio::spawn(connection);
        let request = http::Request::get(format!("http://{authority}/api/v1/rules"))
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), expected, "HTTP/2 authority {authority}");
    }
    board.shutdown().await.unwrap();
}
