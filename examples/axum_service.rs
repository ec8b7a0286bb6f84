//! An axum service guarded by `SentinelLayer`, with four kinds of rules, each shown with a
//! burst of real HTTP requests on 127.0.0.1. Ends after about two seconds.
//!
//! ```text
//! cargo run --release --example axum_service
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{Method, StatusCode};
use axum::routing::get;
use sentinel_adapters::{Arg, SentinelLayer};
use sentinel_core::Sentinel;
use sentinel_core::flow::{ControlBehavior, FlowRule};
use sentinel_core::hotspot::{HotspotRule, MetricType};
use sentinel_core::isolation::IsolationRule;
use sentinel_examples::{HttpClient, LocalServer, http_client, status_of};

fn load_rules(sentinel: &Sentinel) -> Result<(), Box<dyn std::error::Error>> {
    sentinel.load_flow_rules(vec![
        FlowRule {
            resource: "GET /hello".into(),
            threshold: 10.0,
            ..Default::default()
        },
        FlowRule {
            resource: "GET /search".into(),
            threshold: 4.0, // one every 250 ms
            control_behavior: ControlBehavior::Throttling,
            max_queueing_time_ms: 1_000,
            ..Default::default()
        },
    ])?;
    sentinel.load_hotspot_rules(vec![HotspotRule {
        resource: "GET /users/{id}".into(),
        metric_type: MetricType::Qps,
        param_index: 0,
        threshold: 3, // per user, per second
        ..Default::default()
    }])?;
    sentinel.load_isolation_rules(vec![IsolationRule {
        resource: "GET /report".into(),
        threshold: 2, // in flight
        ..Default::default()
    }])?;
    Ok(())
}

fn app(sentinel: &Sentinel) -> Router {
    Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route("/users/{id}", get(|| async { "a user" }))
        .route("/search", get(|| async { "results" }))
        .route(
            "/report",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "a slow report"
            }),
        )
        // One layer for every route: resources are "GET /users/{id}", not "GET /users/7".
        .layer(SentinelLayer::new(sentinel.clone()).args(Arg::path_param("id")))
}

/// Sends `n` requests at once and tallies their statuses.
async fn burst(client: &HttpClient, url: &str, n: usize) -> BTreeMap<u16, usize> {
    let requests: Vec<_> = (0..n)
        .map(|_| {
            let (client, url) = (client.clone(), url.to_string());
            tokio::spawn(async move { status_of(&client, Method::GET, &url).await })
        })
        .collect();
    let mut tally = BTreeMap::new();
    for request in requests {
        let status = request.await.ok().flatten().map_or(0, |s| s.as_u16());
        *tally.entry(status).or_default() += 1;
    }
    tally
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sentinel = Sentinel::new();
    load_rules(&sentinel)?;
    let server = LocalServer::start(app(&sentinel)).await?;
    let client = http_client();
    println!("axum service on http://{}", server.addr);

    let hello = burst(&client, &server.url("/hello"), 20).await;
    println!("20 x GET /hello at once, flow limit 10/s:        {hello:?}");

    for user in [7, 8] {
        let url = server.url(&format!("/users/{user}"));
        let mut statuses = Vec::new();
        for _ in 0..5 {
            let status = status_of(&client, Method::GET, &url).await;
            statuses.push(status.map_or(0, |s| s.as_u16()));
        }
        println!("5 x GET /users/{user}, 3/s per user (hot parameter): {statuses:?}");
    }

    let report = burst(&client, &server.url("/report"), 6).await;
    println!("6 x GET /report at once, 2 in flight at most:     {report:?}");

    let started = Instant::now();
    let searches: Vec<_> = (0..5)
        .map(|_| {
            let (client, url) = (client.clone(), server.url("/search"));
            tokio::spawn(async move {
                let status = status_of(&client, Method::GET, &url).await;
                (status, started.elapsed().as_millis())
            })
        })
        .collect();
    let mut done = Vec::new();
    for search in searches {
        if let Ok((Some(StatusCode::OK), ms)) = search.await {
            done.push(ms);
        }
    }
    done.sort_unstable();
    println!("5 x GET /search at once, paced at 4/s: all 200, answered after {done:?} ms");

    Ok(())
}
