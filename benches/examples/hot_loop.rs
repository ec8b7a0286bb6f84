//! Runs one case of the entry and tower-layer benches in a plain loop, for instruction
//! counts that do not depend on the machine's load (criterion's wall-clock figures do).
//!
//! ```text
//! hot_loop <case> <iterations>
//! ```
//!
//! The loop runs inside [`measured`], so that callgrind can count it alone
//! (`--toggle-collect='*measured*'`): its total over the iterations is the cost of one
//! iteration, set-up (and the real clock's calibration) excluded. `scripts/instructions.sh`
//! does that for every case.

use std::convert::Infallible;
use std::hint::black_box;
use std::num::NonZeroU32;

use axum::body::Body;
use governor::{Quota, RateLimiter};
use http::{Request, Response};
use sentinel_adapters::SentinelLayer;
use sentinel_benches::{entry_bench_instance, run_ready};
use sentinel_core::TrafficType;
use tower::{Layer, Service, ServiceExt, service_fn};

/// The cases, as named on the command line.
const CASES: &[&str] = &[
    "governor_direct_check",
    "no_rules",
    "no_rules_resource_handle",
    "one_flow_rule_passing",
    "one_flow_rule_blocking",
    "one_closed_circuit_breaker",
    "inbound_no_rules",
    "tower_service_fn_plain",
    "tower_service_fn_sentinel",
];

/// Runs `work` `iterations` times: the only code callgrind counts. Prints the wall time
/// per iteration (a rough figure: criterion's are the ones to quote).
#[inline(never)]
fn measured(iterations: u64, mut work: impl FnMut()) {
    let start = std::time::Instant::now();
    for _ in 0..iterations {
        work();
    }
    let ns = start.elapsed().as_nanos() as f64 / iterations as f64;
    println!("{ns:.1} ns per iteration");
}

/// `iterations` oneshot requests through clones of `service`.
fn requests<S>(service: S, iterations: u64)
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone,
{
    measured(iterations, || {
        let request = Request::get("/items/42")
            .body(Body::empty())
            .expect("request");
        let response = run_ready(service.clone().oneshot(black_box(request)));
        black_box(response.expect("infallible").status());
    });
}

fn main() {
    let mut args = std::env::args().skip(1);
    let case = args.next().unwrap_or_default();
    let iterations: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    if !CASES.contains(&case.as_str()) || iterations == 0 {
        eprintln!(
            "usage: hot_loop <case> <iterations>; cases: {}",
            CASES.join(" ")
        );
        std::process::exit(2);
    }
    let s = entry_bench_instance();
    // Windows are shorter than their interval during the clock's first seconds (the
    // buckets before the epoch do not exist): wait until they are whole, as they are in
    // the criterion benches after warm-up, so that every run counts the same work.
    while s.clock().now_millis() < 2_100 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let entries = |resource: &str| {
        measured(iterations, || {
            drop(black_box(s.entry(black_box(resource)).try_enter()))
        })
    };
    match case.as_str() {
        "governor_direct_check" => {
            let limiter = RateLimiter::direct(Quota::per_second(NonZeroU32::MAX));
            measured(iterations, || {
                black_box(black_box(&limiter).check().is_ok());
            })
        }
        "no_rules" => entries("no-rules"),
        "no_rules_resource_handle" => {
            let handle = s.resource("no-rules-handle");
            measured(iterations, || drop(black_box(handle.entry().try_enter())))
        }
        "one_flow_rule_passing" => entries("one-rule"),
        "one_flow_rule_blocking" => entries("blocked"),
        "one_closed_circuit_breaker" => entries("closed-breaker"),
        "inbound_no_rules" => measured(iterations, || {
            drop(black_box(
                s.entry(black_box("GET /"))
                    .traffic(TrafficType::Inbound)
                    .try_enter(),
            ))
        }),
        "tower_service_fn_plain" | "tower_service_fn_sentinel" => {
            let hello = service_fn(|_: Request<Body>| async {
                Ok::<_, Infallible>(Response::new(Body::from("hello")))
            });
            if case.ends_with("plain") {
                requests(hello, iterations);
            } else {
                requests(SentinelLayer::new(s.clone()).layer(hello), iterations);
            }
        }
        _ => unreachable!("the case was checked above"),
    }
}
