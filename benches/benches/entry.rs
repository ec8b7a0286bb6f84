//! Entry + exit on the hot path, single thread and two threads, with governor's direct
//! limiter as a reference point.
//!
//! Run: `cargo bench -p sentinel-benches --bench entry`

use std::hint::black_box;
use std::num::NonZeroU32;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use governor::{Quota, RateLimiter};
use sentinel_benches::{entry_bench_instance, run_on_threads};
use sentinel_core::metric_log::MetricLogConfig;
use sentinel_core::prometheus::Exposition;
use sentinel_core::system::{AdaptiveStrategy, SystemMetric, SystemRule};
use sentinel_core::{Sentinel, TrafficType};

fn single_thread(c: &mut Criterion) {
    let s = entry_bench_instance();
    let mut g = c.benchmark_group("entry_exit");
    g.bench_function("no_rules", |b| {
        b.iter(|| drop(black_box(s.entry(black_box("no-rules")).try_enter())))
    });
    let handle = s.resource("no-rules-handle");
    g.bench_function("no_rules_resource_handle", |b| {
        b.iter(|| drop(black_box(handle.entry().try_enter())))
    });
    g.bench_function("one_flow_rule_passing", |b| {
        b.iter(|| drop(black_box(s.entry(black_box("one-rule")).try_enter())))
    });
    g.bench_function("one_flow_rule_blocking", |b| {
        b.iter(|| black_box(s.entry(black_box("blocked")).try_enter()).is_err())
    });
    g.bench_function("one_closed_circuit_breaker", |b| {
        b.iter(|| drop(black_box(s.entry(black_box("closed-breaker")).try_enter())))
    });
    // The same entry with every exporter on: the metric log and a Prometheus collector.
    let log_dir = std::env::temp_dir().join(format!("sentinel-bench-{}", std::process::id()));
    let observed = Sentinel::builder()
        .metric_log(MetricLogConfig::new(&log_dir, "bench"))
        .build();
    let exposition = Exposition::new(&observed);
    g.bench_function("no_rules_metrics_and_log_enabled", |b| {
        b.iter(|| drop(black_box(observed.entry(black_box("no-rules")).try_enter())))
    });
    black_box(exposition.render());
    let _ = std::fs::remove_dir_all(&log_dir);
    let inbound = Sentinel::new();
    let with_bbr = Sentinel::new();
    with_bbr
        .load_system_rules(vec![SystemRule {
            metric_type: SystemMetric::CpuUsage,
            trigger_count: 0.8,
            strategy: AdaptiveStrategy::Bbr,
            ..Default::default()
        }])
        .unwrap();
    for (name, s) in [
        ("inbound_no_rules", &inbound),
        ("inbound_one_bbr_system_rule", &with_bbr),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                drop(black_box(
                    s.entry(black_box("GET /"))
                        .traffic(TrafficType::Inbound)
                        .try_enter(),
                ))
            })
        });
    }
    let limiter = RateLimiter::direct(Quota::per_second(NonZeroU32::MAX));
    g.bench_function("governor_direct_check", |b| {
        b.iter(|| black_box(limiter.check()).is_ok())
    });
    g.finish();
}

/// Runs `per_thread` entry + exit pairs on each of `threads` threads at once; returns the
/// wall time of the slowest.
fn run_threads(s: &Sentinel, resource: &str, threads: u64, per_thread: u64) -> Duration {
    run_on_threads(threads, per_thread, |_, _| {
        drop(black_box(s.entry(resource).try_enter()));
    })
}

fn two_threads(c: &mut Criterion) {
    let s = entry_bench_instance();
    for resource in ["no-rules", "one-rule"] {
        let mut g = c.benchmark_group(format!("scaling_{resource}"));
        // Each sample does 2 × iters entries: on one thread, or split over two.
        g.throughput(Throughput::Elements(2));
        g.bench_function("one_thread", |b| {
            b.iter_custom(|iters| run_threads(&s, resource, 1, 2 * iters))
        });
        g.bench_function("two_threads", |b| {
            b.iter_custom(|iters| run_threads(&s, resource, 2, iters))
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = single_thread, two_threads
}
criterion_main!(benches);
