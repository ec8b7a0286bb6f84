//! A reqwest client guarded by `SentinelMiddleware` (sentinel-adapters feature `reqwest`)
//! calling a payment service that fails for a while. The payment service (a real HTTP
//! server on 127.0.0.1) answers 500 from 1 s to 3 s; the breaker opens on the errors,
//! calls stop being sent, and a probe closes it once the service is back. Ends after five
//! seconds.
//!
//! ```text
//! cargo run --release --example reqwest_client
//! ```

use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use sentinel_adapters::{FixedName, SentinelMiddleware};
use sentinel_core::Sentinel;
use sentinel_core::circuit_breaker::{CircuitBreakerRule, Strategy};
use sentinel_examples::{LocalServer, print_breaker_changes};

const SECONDS: u64 = 5;

/// The payment service: answers 500 from 1 s to 3 s after `start`.
fn payments(start: Instant) -> Router {
    Router::new().route(
        "/charges",
        post(move || async move {
            match start.elapsed().as_secs() {
                1 | 2 => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::CREATED,
            }
        }),
    )
}

#[derive(Default, Debug)]
struct Outcomes {
    charged: u32,
    failed: u32,
    refused: u32,
}

/// One charge; a refused charge was not sent, and says when to try again.
async fn charge(client: &ClientWithMiddleware, url: &str, outcomes: &mut Outcomes) {
    match client.post(url).send().await {
        Ok(response) if response.status().is_success() => outcomes.charged += 1,
        Ok(_) => outcomes.failed += 1,
        Err(e) => match SentinelMiddleware::block_of(&e) {
            Some(_) => outcomes.refused += 1,
            None => outcomes.failed += 1,
        },
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sentinel = Sentinel::new();
    sentinel.load_circuit_breaker_rules(vec![CircuitBreakerRule {
        id: "payments-errors".into(),
        resource: "payments".into(),
        strategy: Strategy::ErrorRatio,
        threshold: 0.5,
        min_request_amount: 5,
        stat_interval_ms: 1000,
        retry_timeout_ms: 500,
        ..Default::default()
    }])?;
    let start = Instant::now();
    print_breaker_changes(&sentinel, start);
    let server = LocalServer::start(payments(start)).await?;
    let url = server.url("/charges");
    // Loopback only: no proxy from the environment.
    let reqwest = reqwest::Client::builder().no_proxy().build()?;
    let client = ClientBuilder::new(reqwest)
        .with(SentinelMiddleware::new(sentinel.clone()).resource(FixedName::new("payments")))
        .build();

    println!("Charging (payments down from 1 s to 3 s) 40 times a second for {SECONDS} s:");
    let mut tick = tokio::time::interval(Duration::from_millis(25));
    let mut second = Outcomes::default();
    let mut reported = 0;
    while start.elapsed() < Duration::from_secs(SECONDS) {
        tick.tick().await;
        charge(&client, &url, &mut second).await;
        let now = start.elapsed().as_secs();
        if now > reported {
            println!("{reported}-{now} s: {second:?}");
            second = Outcomes::default();
            reported = now;
        }
    }
    Ok(())
}
