//! A client calling a flaky dependency through a circuit breaker: the dependency fails
//! for a while, the breaker opens and the client answers from a fallback, probes find out
//! when the dependency is back, and the breaker closes. Every state change is printed.
//!
//! ```text
//! cargo run --release --example circuit_breaker
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use sentinel_core::Sentinel;
use sentinel_core::circuit_breaker::{CircuitBreakerRule, Strategy};

/// The coupon service: down between 2 s and 6 s after start.
struct CouponService {
    start: Instant,
}

impl CouponService {
    fn call(&self, user: u64) -> Result<String, String> {
        thread::sleep(Duration::from_millis(5));
        let t = self.start.elapsed();
        if t > Duration::from_secs(2) && t < Duration::from_secs(6) {
            Err("503 from coupon-service".into())
        } else {
            Ok(format!("coupon for user {user}"))
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sentinel = Sentinel::new();
    sentinel.load_circuit_breaker_rules(vec![CircuitBreakerRule {
        id: "coupon-errors".into(),
        resource: "call-coupon".into(),
        strategy: Strategy::ErrorRatio,
        retry_timeout_ms: 1000,
        min_request_amount: 5,
        stat_interval_ms: 1000,
        threshold: 0.5,
        probe_num: 2,
        ..Default::default()
    }])?;
    let started = Instant::now();
    sentinel.on_circuit_breaker_state_change(move |c| {
        println!(
            "[{:>5.2}s] breaker {:?} on {}: {:?} -> {:?} (snapshot {:?})",
            started.elapsed().as_secs_f64(),
            c.rule_id,
            c.resource,
            c.from,
            c.to,
            c.snapshot
        );
    });

    let service = Arc::new(CouponService { start: started });
    let (ok, failed, fallback) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let done = AtomicBool::new(false);
    thread::scope(|scope| {
        for worker in 0..4u64 {
            let (s, service, ok, failed, fallback, done) =
                (&sentinel, &service, &ok, &failed, &fallback, &done);
            scope.spawn(move || {
                let mut user = worker;
                while !done.load(Ordering::Relaxed) {
                    user += 4;
                    match s.entry("call-coupon").try_enter() {
                        Ok(entry) => match service.call(user) {
                            Ok(_) => {
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => {
                                entry.set_error(e);
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                        },
                        Err(_blocked) => {
                            // Fallback: no coupon this time, answered at once.
                            fallback.fetch_add(1, Ordering::Relaxed);
                            thread::sleep(Duration::from_millis(5));
                        }
                    }
                }
            });
        }
        for sec in 1..=8 {
            thread::sleep(
                (started + Duration::from_secs(sec)).saturating_duration_since(Instant::now()),
            );
            println!(
                "[{:>5.2}s] last second: {:>4} ok, {:>4} failed calls, {:>4} fallback answers; breaker {:?}",
                started.elapsed().as_secs_f64(),
                ok.swap(0, Ordering::Relaxed),
                failed.swap(0, Ordering::Relaxed),
                fallback.swap(0, Ordering::Relaxed),
                sentinel.circuit_breaker_states("call-coupon")
            );
        }
        done.store(true, Ordering::Relaxed);
    });
    Ok(())
}
