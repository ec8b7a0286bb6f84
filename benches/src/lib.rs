//! Criterion benchmarks live in `benches/`; this library holds what several of them share.

use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Runs `work(thread, i)` for `i` in `0..per_thread` on each of `threads` threads, started
/// together; returns the wall time of the slowest thread (for `iter_custom` scaling benches).
pub fn run_on_threads(threads: u64, per_thread: u64, work: impl Fn(u64, u64) + Sync) -> Duration {
    let barrier = Barrier::new(threads as usize);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (barrier, work) = (&barrier, &work);
                scope.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    for i in 0..per_thread {
                        work(t, i);
                    }
                    start.elapsed()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a bench thread panicked"))
            .max()
            .unwrap_or_default()
    })
}

/// A flow rule of `threshold` per second on `resource` (Direct, Reject).
pub fn flow(resource: &str, threshold: f64) -> sentinel_core::flow::FlowRule {
    sentinel_core::flow::FlowRule {
        resource: resource.into(),
        threshold,
        ..Default::default()
    }
}

/// The instance of the entry benches: a rule every entry passes (`one-rule`, and
/// `GET /items/42` for the layer), one that blocks every entry (`blocked`), and a closed
/// circuit breaker (`closed-breaker`).
pub fn entry_bench_instance() -> sentinel_core::Sentinel {
    use sentinel_core::circuit_breaker::{CircuitBreakerRule, Strategy};
    let s = sentinel_core::Sentinel::new();
    s.load_flow_rules(vec![
        flow("one-rule", 1e12),
        flow("blocked", 0.0),
        flow("GET /items/42", 1e12),
    ])
    .expect("valid flow rules");
    s.load_circuit_breaker_rules(vec![CircuitBreakerRule {
        resource: "closed-breaker".into(),
        strategy: Strategy::ErrorRatio,
        retry_timeout_ms: 1000,
        min_request_amount: 10,
        threshold: 0.5,
        ..Default::default()
    }])
    .expect("valid breaker rule");
    s
}

/// Drives a future that needs no I/O or timer to completion on this thread.
pub fn run_ready<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}
