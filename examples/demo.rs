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

use std::time::Instant;

use sentinel_adapters::dashboard::{self, DashboardConfig};
use sentinel_core::Sentinel;
use sentinel_examples::next_second;
use sentinel_examples::shop::{
    CHECKOUT, CYCLE, PAYMENT, PRODUCTS, Seen, load_rules, start_customers, start_shop,
};

const SECONDS: u64 = CYCLE;

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
    let shop = start_shop(&sentinel, start).await?;
    let board = dashboard::serve(
        &sentinel,
        ([127, 0, 0, 1], 0).into(),
        DashboardConfig::new("demo shop"),
    )
    .await?;

    println!(
        "Sentinel demo: a shop on http://{} under built-in traffic for {SECONDS} s.",
        shop.server.addr
    );
    println!("  {PRODUCTS:<19} flow 100/s; 40/s browsing, a 300/s burst from 4 s to 7 s");
    println!("  product 42          hot: +20/s; hot-parameter rule, 5/s per product id");
    println!("  {CHECKOUT:<19} 10/s, calls {PAYMENT} (down from 10 s to 14 s) behind a breaker");
    println!(
        "  dashboard:          {} (live while the demo runs; `--example dashboard` runs longer)",
        board.url()
    );
    println!();

    let seen = Seen::new();
    let drivers = start_customers(start, &shop.server, &seen);

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
