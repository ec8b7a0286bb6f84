//! The main demo: an online shop served by axum on 127.0.0.1, protected by
//! `SentinelLayer`, with built-in customers. For about 20 seconds it prints what Sentinel
//! did each second, then exits. Nothing to set up.
//!
//! ```text
//! cargo run --release --example demo
//! ```
//!
//! What happens:
//! - browsing `GET /products/{id}` runs at 40 requests a second, with an overload burst
//!   of 300 a second from 4 s to 7 s; a flow rule admits 100 a second (429 for the rest);
//! - product 42 is hot (20 a second on top): a hot-parameter rule on the `{id}` path
//!   parameter admits 5 a second per product, so only 42 is limited;
//! - `POST /checkout` calls the payment provider through the client layer; the provider
//!   fails from 10 s to 14 s, a circuit breaker on `payment-service` opens, checkout
//!   answers 503 at once instead of waiting on a dead dependency, and probes close the
//!   breaker once the provider is back.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::routing::{get, post};
use sentinel_adapters::{Arg, ClientError, SentinelClient, SentinelClientLayer, SentinelLayer};
use sentinel_core::Sentinel;
use sentinel_core::circuit_breaker::{CircuitBreakerRule, Strategy};
use sentinel_core::flow::FlowRule;
use sentinel_core::hotspot::{HotspotRule, MetricType};
use sentinel_examples::{
    HttpClient, LocalServer, drive, http_client, next_second, request, status_of,
};
use tokio::task::JoinHandle;
use tower::{Layer, ServiceExt};

const SECONDS: u64 = 20;
const PRODUCTS: &str = "GET /products/{id}";
const CHECKOUT: &str = "POST /checkout";
const PAYMENT: &str = "payment-service";

fn load_rules(sentinel: &Sentinel) -> Result<(), Box<dyn std::error::Error>> {
    sentinel.load_flow_rules(vec![FlowRule {
        id: "browse-capacity".into(),
        resource: PRODUCTS.into(),
        threshold: 100.0,
        ..Default::default()
    }])?;
    sentinel.load_hotspot_rules(vec![HotspotRule {
        id: "per-product".into(),
        resource: PRODUCTS.into(),
        metric_type: MetricType::Qps,
        param_index: 0, // the {id} path parameter
        threshold: 5,
        ..Default::default()
    }])?;
    sentinel.load_circuit_breaker_rules(vec![CircuitBreakerRule {
        id: "payment-errors".into(),
        resource: PAYMENT.into(),
        strategy: Strategy::ErrorRatio,
        threshold: 0.5,
        min_request_amount: 5,
        stat_interval_ms: 1000,
        retry_timeout_ms: 2000,
        probe_num: 1,
        ..Default::default()
    }])?;
    Ok(())
}

/// The payment provider, on its own port: down from 10 s to 14 s.
fn payment_provider(start: Instant) -> Router {
    Router::new().route(
        "/pay",
        post(move || async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let down = (10..14).contains(&start.elapsed().as_secs());
            if down {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::OK
            }
        }),
    )
}

/// What the shop's handlers share: the guarded payment client and where it points.
#[derive(Clone)]
struct Shop {
    payments: SentinelClient<HttpClient>,
    payment_url: String,
}

async fn product() -> &'static str {
    "a product"
}

async fn checkout(State(shop): State<Shop>) -> StatusCode {
    let call = request(Method::POST, &shop.payment_url);
    match shop.payments.oneshot(call).await {
        Ok(paid) if paid.status().is_success() => StatusCode::OK,
        // The breaker is open: fail fast instead of waiting on a broken provider.
        Err(ClientError::Blocked(_)) => StatusCode::SERVICE_UNAVAILABLE,
        Ok(_) | Err(ClientError::Service(_)) => StatusCode::BAD_GATEWAY,
    }
}

/// One kind of customer: `rate` requests a second of `method path(n)` during `seconds`,
/// whose statuses are recorded under `kind`.
struct Customers {
    kind: &'static str,
    rate: u32,
    seconds: Range<u64>,
    method: Method,
    path: fn(u64) -> String,
}

impl Customers {
    fn start(
        self,
        start: Instant,
        shop: &Arc<LocalServer>,
        client: &HttpClient,
        seen: &Arc<Seen>,
    ) -> JoinHandle<()> {
        let (shop, client, seen) = (shop.clone(), client.clone(), seen.clone());
        let (from, until) = (
            Duration::from_secs(self.seconds.start),
            Duration::from_secs(self.seconds.end),
        );
        drive(start, from, until, self.rate, move |n| {
            let (client, seen, method) = (client.clone(), seen.clone(), self.method.clone());
            let url = shop.url(&(self.path)(n));
            async move { seen.record(self.kind, status_of(&client, method, &url).await) }
        })
    }
}

/// A resource's figures over the last complete second (zeros before its first entry).
#[derive(Default)]
struct Second {
    pass: f64,
    block: f64,
    errors: f64,
    avg_rt_ms: f64,
}

fn last_second(sentinel: &Sentinel, resource: &str) -> Second {
    sentinel
        .last_second_stats(resource)
        .map_or_else(Second::default, |s| Second {
            pass: s.pass_qps,
            block: s.block_qps,
            errors: s.error_qps,
            avg_rt_ms: s.avg_rt_ms,
        })
}

/// Statuses the customers saw, per kind of request, since the last report.
#[derive(Default)]
struct Seen(HashMap<&'static str, [AtomicU64; 4]>);

impl Seen {
    fn new(kinds: &[&'static str]) -> Arc<Self> {
        Arc::new(Seen(
            kinds.iter().map(|k| (*k, Default::default())).collect(),
        ))
    }

    fn record(&self, kind: &str, status: Option<StatusCode>) {
        let slot = match status.map(|s| s.as_u16()) {
            Some(200) => 0,
            Some(429) => 1,
            Some(503) => 2,
            _ => 3,
        };
        self.0[kind][slot].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts of 200, 429, 503 and anything else, reset to zero.
    fn take(&self, kind: &str) -> [u64; 4] {
        self.0[kind]
            .each_ref()
            .map(|c| c.swap(0, Ordering::Relaxed))
    }
}

/// One line of the table: what Sentinel did in the last complete second, and what the
/// customers saw.
fn print_second(second: u64, sentinel: &Sentinel, seen: &Seen) {
    let products = last_second(sentinel, PRODUCTS);
    let checkout = last_second(sentinel, CHECKOUT);
    let payment = last_second(sentinel, PAYMENT);
    let [_, browsing_429, ..] = seen.take("browse");
    let [hot_200, hot_429, ..] = seen.take("item 42");
    let [paid, _, fail_fast, failed] = seen.take("checkout");
    let breaker = sentinel.circuit_breaker_states(PAYMENT);
    let breaker = breaker.first().map(ToString::to_string).unwrap_or_default();
    println!(
        "{second:>3} | {:>6} {:>6} {browsing_429:>12} | {hot_200:>7} {hot_429:>7} | \
         {paid:>5} {fail_fast:>5} {failed:>5} {:>3.0}ms | {:>5} {:>5} {:>5} {breaker:>9}",
        products.pass,
        products.block,
        checkout.avg_rt_ms,
        payment.pass,
        payment.block,
        payment.errors,
    );
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sentinel = Sentinel::new();
    load_rules(&sentinel)?;
    let start = Instant::now();

    let provider = LocalServer::start(payment_provider(start)).await?;
    let shop = Shop {
        payments: SentinelClientLayer::new(sentinel.clone(), PAYMENT).layer(http_client()),
        payment_url: provider.url("/pay"),
    };
    let app = Router::new()
        .route("/products/{id}", get(product))
        .route("/checkout", post(checkout))
        .with_state(shop)
        .layer(SentinelLayer::new(sentinel.clone()).args(Arg::path_param("id").integer()));
    let server = Arc::new(LocalServer::start(app).await?);

    println!(
        "Sentinel demo: a shop on http://{} under built-in traffic for {SECONDS} s.",
        server.addr
    );
    println!("  {PRODUCTS:<19} flow 100/s; 40/s browsing, a 300/s burst from 4 s to 7 s");
    println!("  product 42          hot: +20/s; hot-parameter rule, 5/s per product id");
    println!("  {CHECKOUT:<19} 10/s, calls {PAYMENT} (down from 10 s to 14 s) behind a breaker");
    println!();

    // Products 1..=1000 in a scattered order, so each gets about one visit a second.
    let browse = |n: u64| format!("/products/{}", n * 7919 % 1000 + 1);
    let customers = [
        Customers {
            kind: "browse",
            rate: 40,
            seconds: 0..SECONDS,
            method: Method::GET,
            path: browse,
        },
        Customers {
            kind: "browse",
            rate: 260,
            seconds: 4..7,
            method: Method::GET,
            path: browse,
        },
        Customers {
            kind: "item 42",
            rate: 20,
            seconds: 0..SECONDS,
            method: Method::GET,
            path: |_| "/products/42".into(),
        },
        Customers {
            kind: "checkout",
            rate: 10,
            seconds: 0..SECONDS,
            method: Method::POST,
            path: |_| "/checkout".into(),
        },
    ];
    let (client, seen) = (http_client(), Seen::new(&["browse", "item 42", "checkout"]));
    let drivers: Vec<_> = customers
        .into_iter()
        .map(|c| c.start(start, &server, &client, &seen))
        .collect();

    println!(
        "{:>3} | {:^26} | {:^15} | {:^23} | {:^27}",
        "s", PRODUCTS, "item 42 seen", "POST /checkout seen", "payment-service (outbound)"
    );
    println!(
        "{:>3} | {:>6} {:>6} {:>12} | {:>7} {:>7} | {:>5} {:>5} {:>5} {:>5} | {:>5} {:>5} {:>5} {:>9}",
        "",
        "pass",
        "block",
        "browsing 429",
        "200",
        "429",
        "200",
        "503",
        "502",
        "RT",
        "pass",
        "block",
        "error",
        "breaker"
    );
    loop {
        let second = next_second(&sentinel).await;
        if second > SECONDS {
            break;
        }
        print_second(second, &sentinel, &seen);
    }
    for driver in drivers {
        driver.abort();
    }
    println!();
    println!("What to look for:");
    println!("  - 4-7 s: the burst is capped at 100 passes a second; the rest gets 429 at once;");
    println!(
        "  - item 42 gets 5 of its 20 requests a second through, other products are not limited;"
    );
    println!("  - 10-14 s: payments fail, the breaker opens, checkout answers 503 in well under a");
    println!(
        "    millisecond instead of 502 after a round trip; a probe every 2 s tests the provider,"
    );
    println!("    and once it is back the breaker closes and checkouts succeed again.");
    Ok(())
}
