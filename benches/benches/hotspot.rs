//! Entry + exit with one QPS hot-parameter rule, values in rotation; governor's keyed
//! limiter as a reference point.
//!
//! Run: `cargo bench -p sentinel-benches --bench hotspot`

use std::hint::black_box;
use std::num::NonZeroU32;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use governor::{Quota, RateLimiter};
use sentinel_benches::run_on_threads;
use sentinel_core::hotspot::{HotspotRule, MetricType};
use sentinel_core::{ParamValue, Sentinel};

const VALUES: u64 = 100_000;

fn sentinel(capacity: i64) -> Sentinel {
    let s = Sentinel::new();
    s.load_hotspot_rules(vec![HotspotRule {
        resource: "GET /items/{id}".into(),
        metric_type: MetricType::Qps,
        threshold: 1_000_000_000,
        params_max_capacity: capacity,
        ..Default::default()
    }])
    .unwrap();
    s
}

fn single_thread(c: &mut Criterion) {
    let values: Vec<ParamValue> = (0..VALUES).map(ParamValue::from).collect();
    let mut g = c.benchmark_group("hotspot_100k_values");
    for (name, capacity) in [
        ("capacity_200k", 200_000),
        ("capacity_10k_evicting", 10_000),
    ] {
        let s = sentinel(capacity);
        let mut i = 0usize;
        g.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % values.len();
                drop(black_box(
                    s.entry("GET /items/{id}")
                        .arg(values[i].clone())
                        .try_enter(),
                ))
            })
        });
    }
    let keyed = RateLimiter::keyed(Quota::per_second(NonZeroU32::MAX));
    let mut i = 0u64;
    g.bench_function("governor_keyed_check", |b| {
        b.iter(|| {
            i = (i + 1) % VALUES;
            black_box(keyed.check_key(&i)).is_ok()
        })
    });
    g.finish();
}

fn run_threads(s: &Sentinel, threads: u64, per_thread: u64) -> Duration {
    // Each thread works on its own share of the values.
    let span = VALUES / threads;
    run_on_threads(threads, per_thread, |t, n| {
        let v = ParamValue::from(t * span + n % span);
        drop(black_box(s.entry("GET /items/{id}").arg(v).try_enter()));
    })
}

fn two_threads(c: &mut Criterion) {
    let s = sentinel(200_000);
    let mut g = c.benchmark_group("hotspot_scaling");
    g.throughput(Throughput::Elements(2));
    g.bench_function("one_thread", |b| {
        b.iter_custom(|iters| run_threads(&s, 1, 2 * iters))
    });
    g.bench_function("two_threads", |b| {
        b.iter_custom(|iters| run_threads(&s, 2, iters))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = single_thread, two_threads
}
criterion_main!(benches);
