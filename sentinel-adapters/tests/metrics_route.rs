//! The ready `/metrics` route, over real HTTP on loopback.

mod common;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::{TestServer, client, fetch};
use sentinel_adapters::{SentinelLayer, metrics_router};
use sentinel_core::Sentinel;
use sentinel_core::flow::FlowRule;

#[tokio::test]
async fn metrics_route_shows_the_traffic_of_the_service() {
    let sentinel = Sentinel::new();
    sentinel
        .load_flow_rules(vec![FlowRule {
            id: "hello-qps".into(),
            resource: "GET /hello".into(),
            threshold: 2.0,
            ..Default::default()
        }])
        .unwrap();
    let app = Router::new()
        .route("/hello", get(|| async { "hi" }))
        .layer(SentinelLayer::new(sentinel.clone()))
        .merge(metrics_router(&sentinel));
    let server = TestServer::start(app).await;
    let http = client();
    for _ in 0..4 {
        fetch(&http, &server.url("/hello")).await;
    }
    // Blocks by type are counted from the first scrape's collector on; totals follow the
    // per-second aggregation, so wait until the second with the traffic has been read.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let body = loop {
        sentinel.flush_metrics();
        let reply = fetch(&http, &server.url("/metrics")).await;
        assert_eq!(reply.status, 200);
        assert!(
            reply.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/openmetrics-text")
        );
        if reply.body.contains(
            "sentinel_entries_total{resource=\"GET /hello\",result=\"pass\",block_type=\"\"} 2",
        ) || std::time::Instant::now() > deadline
        {
            break reply.body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        body.contains(
            "sentinel_entries_total{resource=\"GET /hello\",result=\"pass\",block_type=\"\"} 2"
        ),
        "{body}"
    );
    assert!(
        body.contains("sentinel_flow_threshold{resource=\"GET /hello\",rule_id=\"hello-qps\"} 2"),
        "{body}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
}
