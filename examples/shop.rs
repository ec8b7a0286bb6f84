//! The small online shop of the demo and the dashboard example: its routes, its rules, a
//! payment provider on a port of its own, and customers that repeat a 20-second story.
//!
//! Each cycle of [`CYCLE`] seconds: browsing at 40 requests a second with a burst of 300 a
//! second from 4 s to 7 s (a flow rule admits 100 a second); product 42 is hot (20 a second
//! on top, a hot-parameter rule admits 5 a second per product); checkouts call the payment
//! provider, which fails from 10 s to 14 s (a circuit breaker opens and probes).

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use http::{Method, StatusCode};
use sentinel_adapters::{Arg, ClientError, SentinelClient, SentinelClientLayer, SentinelLayer};
use sentinel_core::Sentinel;
use sentinel_core::circuit_breaker::{CircuitBreakerRule, Strategy};
use sentinel_core::flow::FlowRule;
use sentinel_core::hotspot::{HotspotRule, MetricType};
use tokio::task::JoinHandle;
use tower::{Layer, ServiceExt};

use crate::{HttpClient, LocalServer, http_client, request, status_of};

/// Seconds of one round of the customers' story.
pub const CYCLE: u64 = 20;
/// The browsing route's resource.
pub const PRODUCTS: &str = "GET /products/{id}";
/// The checkout route's resource.
pub const CHECKOUT: &str = "POST /checkout";
/// The outbound payment calls' resource.
pub const PAYMENT: &str = "payment-service";

/// The shop's rules: 100 browses a second, 5 a second per product, a breaker on payments.
///
/// # Errors
///
/// When a rule is refused (it is not).
pub fn load_rules(sentinel: &Sentinel) -> Result<(), Box<dyn std::error::Error>> {
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

/// The payment provider: down from 10 s to 14 s of every cycle.
fn payment_provider(start: Instant) -> Router {
    Router::new().route(
        "/pay",
        post(move || async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let down = (10..14).contains(&(start.elapsed().as_secs() % CYCLE));
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

/// The shop and its payment provider, served on loopback ports.
pub struct RunningShop {
    /// The shop.
    pub server: Arc<LocalServer>,
    /// The payment provider (kept to keep it serving).
    pub provider: LocalServer,
}

/// Starts the payment provider and the shop guarded by `sentinel` (rules from
/// [`load_rules`]); `start` is the story's time zero.
///
/// # Errors
///
/// When a loopback port cannot be bound.
pub async fn start_shop(sentinel: &Sentinel, start: Instant) -> std::io::Result<RunningShop> {
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
    Ok(RunningShop { server, provider })
}

/// One kind of customer: `rate` requests a second of `method path(n)` during `seconds` of
/// every cycle, whose statuses are recorded under `kind`.
struct Customers {
    kind: &'static str,
    rate: u32,
    seconds: Range<u64>,
    method: Method,
    path: fn(u64) -> String,
}

/// The shop's customers, each kind in the order the demo's table shows them.
fn customers() -> [Customers; 4] {
    // Products 1..=1000 in a scattered order, so each gets about one visit a second.
    let browse = |n: u64| format!("/products/{}", n * 7919 % 1000 + 1);
    [
        Customers {
            kind: "browse",
            rate: 40,
            seconds: 0..CYCLE,
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
            seconds: 0..CYCLE,
            method: Method::GET,
            path: |_| "/products/42".into(),
        },
        Customers {
            kind: "checkout",
            rate: 10,
            seconds: 0..CYCLE,
            method: Method::POST,
            path: |_| "/checkout".into(),
        },
    ]
}

impl Customers {
    /// Sends this kind's requests during its seconds of every cycle, until aborted.
    fn start(self, start: Instant, shop: &Arc<LocalServer>, seen: &Arc<Seen>) -> JoinHandle<()> {
        let (shop, client, seen) = (shop.clone(), http_client(), seen.clone());
        tokio::spawn(async move {
            let period = Duration::from_secs_f64(1.0 / f64::from(self.rate.max(1)));
            let mut tick = tokio::time::interval_at((start + period).into(), period);
            for n in 0.. {
                tick.tick().await;
                if !self.seconds.contains(&(start.elapsed().as_secs() % CYCLE)) {
                    continue;
                }
                let (client, seen, method) = (client.clone(), seen.clone(), self.method.clone());
                let (kind, url) = (self.kind, shop.url(&(self.path)(n)));
                tokio::spawn(
                    async move { seen.record(kind, status_of(&client, method, &url).await) },
                );
            }
        })
    }
}

/// Starts every kind of customer; abort the handles (or end the runtime) to stop them.
pub fn start_customers(
    start: Instant,
    shop: &Arc<LocalServer>,
    seen: &Arc<Seen>,
) -> Vec<JoinHandle<()>> {
    customers()
        .into_iter()
        .map(|c| c.start(start, shop, seen))
        .collect()
}

/// Statuses the customers saw, per kind of request, since the last [`Seen::take`].
#[derive(Default)]
pub struct Seen(HashMap<&'static str, [AtomicU64; 4]>);

impl Seen {
    /// Counters for the customers' kinds.
    pub fn new() -> Arc<Self> {
        Arc::new(Seen(
            ["browse", "item 42", "checkout"]
                .iter()
                .map(|k| (*k, Default::default()))
                .collect(),
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

    /// Counts of 200, 429, 503 and anything else of `kind`, reset to zero.
    pub fn take(&self, kind: &str) -> [u64; 4] {
        self.0[kind]
            .each_ref()
            .map(|c| c.swap(0, Ordering::Relaxed))
    }
}
