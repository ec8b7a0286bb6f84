//! A client calling a flaky dependency through `SentinelClientLayer` with a circuit
//! breaker. The inventory service (a real HTTP server on 127.0.0.1) fails from 2 s to 4 s;
//! the breaker opens, calls stop reaching it and the client answers from its last good
//! value; probes find out when it is back. Ends after about seven seconds.
//!
//! ```text
//! cargo run --release --example http_client
//! ```

use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{Method, StatusCode};
use axum::routing::get;
use sentinel_adapters::{ClientError, SentinelClient, SentinelClientLayer};
use sentinel_core::Sentinel;
use sentinel_core::circuit_breaker::{CircuitBreakerRule, Strategy};
use sentinel_examples::{HttpClient, LocalServer, http_client, print_breaker_changes, request};
use tower::{Layer, ServiceExt};

const SECONDS: u64 = 7;

/// The dependency: answers 500 from 2 s to 4 s after `start`.
fn inventory(start: Instant) -> Router {
    Router::new().route(
        "/stock",
        get(move || async move {
            tokio::time::sleep(Duration::from_millis(3)).await;
            match start.elapsed().as_secs() {
                2 | 3 => Err(StatusCode::INTERNAL_SERVER_ERROR),
                _ => Ok("17"),
            }
        }),
    )
}

#[derive(Default, Debug)]
struct Outcomes {
    ok: u32,
    failed: u32,
    blocked: u32,
}

/// One call; a blocked call costs nothing and the caller falls back.
async fn stock(client: SentinelClient<HttpClient>, url: &str, outcomes: &mut Outcomes) {
    match client.oneshot(request(Method::GET, url)).await {
        Ok(response) if response.status().is_success() => outcomes.ok += 1,
        Ok(_) | Err(ClientError::Service(_)) => outcomes.failed += 1,
        Err(ClientError::Blocked(_)) => outcomes.blocked += 1, // serve the cached stock
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sentinel = Sentinel::new();
    sentinel.load_circuit_breaker_rules(vec![CircuitBreakerRule {
        id: "inventory-errors".into(),
        resource: "inventory".into(),
        strategy: Strategy::ErrorRatio,
        threshold: 0.5,
        min_request_amount: 5,
        stat_interval_ms: 1000,
        retry_timeout_ms: 500,
        probe_num: 2,
        ..Default::default()
    }])?;
    let start = Instant::now();
    print_breaker_changes(&sentinel, start);
    let server = LocalServer::start(inventory(start)).await?;
    let url = server.url("/stock");
    let client = SentinelClientLayer::new(sentinel.clone(), "inventory").layer(http_client());

    println!("Calling inventory (down from 2 s to 4 s) 40 times a second for {SECONDS} s:");
    let mut tick = tokio::time::interval(Duration::from_millis(25));
    let mut second = Outcomes::default();
    let mut reported = 0;
    while start.elapsed() < Duration::from_secs(SECONDS) {
        tick.tick().await;
        stock(client.clone(), &url, &mut second).await;
        let now = start.elapsed().as_secs();
        if now > reported {
            println!("{reported}-{now} s: {second:?}");
            second = Outcomes::default();
            reported = now;
        }
    }
    Ok(())
}
