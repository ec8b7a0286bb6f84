use criterion::{Criterion, criterion_group, criterion_main};
use sentinel_core::{Clock, RealClock};
use std::hint::black_box;
fn parts(c: &mut Criterion) {
    let clock = RealClock::new();
    c.bench_function("real_clock", |b| b.iter(|| black_box(clock.now_nanos())));
    c.bench_function("instant_now", |b| {
        b.iter(|| black_box(std::time::Instant::now()))
    });
    let q = quanta::Clock::new();
    c.bench_function("quanta_raw", |b| b.iter(|| black_box(q.raw())));
    let a = std::sync::atomic::AtomicU64::new(0);
    c.bench_function("fetch_add", |b| {
        b.iter(|| black_box(a.fetch_add(1, std::sync::atomic::Ordering::Relaxed)))
    });
    let s = arc_swap::ArcSwap::from_pointee(5u64);
    c.bench_function("arcswap_load", |b| b.iter(|| black_box(**s.load())));
}
criterion_group! {name=benches; config=Criterion::default().warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(1)); targets=parts}
criterion_main!(benches);
