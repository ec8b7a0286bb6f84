//! The dashboard's costs: entry + exit with and without a dashboard attached (side by
//! side: its history is fed off the hot path), the per-second history update for 1,000
//! active resources alone and with the aggregation that feeds it, and
//! `GET api/v1/resources` with 500 resources.
//!
//! Run: `cargo bench -p sentinel-benches --bench dashboard`

use std::hint::black_box;

use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use sentinel_adapters::dashboard::{self, DashboardConfig, History};
use sentinel_core::metric_log::{MetricLine, SecondFigures, SecondListener};
use sentinel_core::{ManualClock, Sentinel};
use tower::ServiceExt;

fn entry_with_and_without_dashboard(c: &mut Criterion) {
    let plain = Sentinel::new();
    let watched = Sentinel::new();
    let _router = dashboard::router(&watched, DashboardConfig::new("bench")).unwrap();
    let mut g = c.benchmark_group("entry_exit_dashboard");
    g.bench_function("no_rules", |b| {
        b.iter(|| drop(black_box(plain.entry(black_box("no-rules")).try_enter())))
    });
    g.bench_function("no_rules_dashboard_attached", |b| {
        b.iter(|| drop(black_box(watched.entry(black_box("no-rules")).try_enter())))
    });
    g.finish();
}

fn history_update(c: &mut Criterion) {
    let lines: Vec<MetricLine> = (0..1000)
        .map(|i| MetricLine {
            resource: format!("GET /resource/{i}"),
            pass_qps: 100 + i,
            block_qps: i % 7,
            complete_qps: 100 + i,
            avg_rt: 3,
            concurrency: 2,
            ..MetricLine::default()
        })
        .collect();
    let history = History::new(300, 1000);
    let mut second = 1_700_000_000u64;
    c.bench_function("dashboard_history_second_1000_resources", |b| {
        b.iter(|| {
            second += 1;
            history.on_second(&SecondFigures {
                unix_ms: second * 1000,
                resources: black_box(&lines),
                inbound: None,
            });
        })
    });
}

/// The whole per-second pass with a dashboard attached: the aggregation reads 1,000 active
/// resources' buckets and hands their lines to the dashboard's history (setup, not
/// measured: one entry on each resource in the second).
fn aggregation_second(c: &mut Criterion) {
    let clock = ManualClock::new();
    let sentinel = Sentinel::builder().clock(clock.clone()).build();
    let _router =
        dashboard::router(&sentinel, DashboardConfig::new("bench").max_resources(1000)).unwrap();
    let names: Vec<String> = (0..1000).map(|i| format!("GET /resource/{i}")).collect();
    c.bench_function("dashboard_aggregation_second_1000_resources", |b| {
        b.iter_batched(
            || {
                for name in &names {
                    drop(sentinel.entry(name).try_enter());
                }
                clock.advance(Duration::from_secs(1));
            },
            |()| sentinel.flush_metrics(),
            BatchSize::PerIteration,
        )
    });
}

fn resources_api(c: &mut Criterion) {
    let sentinel = Sentinel::new();
    for i in 0..500 {
        drop(sentinel.entry(&format!("GET /resource/{i}")).try_enter());
    }
    let app = dashboard::router(&sentinel, DashboardConfig::new("bench")).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    c.bench_function("dashboard_api_resources_500", |b| {
        b.iter(|| {
            let request = http::Request::get("/api/v1/resources")
                .body(axum::body::Body::empty())
                .unwrap();
            let response = runtime.block_on(app.clone().oneshot(request)).unwrap();
            assert!(response.status().is_success());
            black_box(response)
        })
    });
}

criterion_group!(
    benches,
    entry_with_and_without_dashboard,
    history_update,
    aggregation_second,
    resources_api
);
criterion_main!(benches);
