//! Behaviour tests of system rules, with a manual clock and manual metrics.

use std::time::Duration;

use super::{AdaptiveStrategy, ManualSystemMetrics, SystemMetric, SystemRule};
use crate::{BlockType, Entry, ManualClock, Sentinel, TrafficType};

fn instance(rules: Vec<SystemRule>) -> (ManualClock, ManualSystemMetrics, Sentinel) {
    let clock = ManualClock::new();
    let metrics = ManualSystemMetrics::new();
    let s = Sentinel::builder()
        .clock(clock.clone())
        .system_metrics(metrics.clone())
        .build();
    s.load_system_rules(rules).unwrap();
    (clock, metrics, s)
}

fn rule(metric_type: SystemMetric, trigger_count: f64, strategy: AdaptiveStrategy) -> SystemRule {
    SystemRule {
        id: "sys".into(),
        metric_type,
        trigger_count,
        strategy,
    }
}

fn inbound<'a>(s: &'a Sentinel, r: &'a str) -> Result<Entry<'a>, crate::BlockError> {
    s.entry(r).traffic(TrafficType::Inbound).try_enter()
}

/// One second of history: in every 100 ms bucket, five concurrent calls of 10 ms.
/// Inbound statistics then show 50 completions per bucket (500/s) and a min RT of 10 ms,
/// so Little's law estimates 500 × 10 / 1000 = 5 entries in flight.
fn healthy_second(clock: &ManualClock, s: &Sentinel) {
    for _ in 0..10 {
        for _ in 0..10 {
            let batch: Vec<Entry<'_>> = (0..5).map(|_| inbound(s, "api").unwrap()).collect();
            clock.advance(Duration::from_millis(10));
            drop(batch);
        }
    }
}

#[test]
fn bbr_sheds_only_beyond_what_the_service_completes() {
    let (clock, metrics, s) = instance(vec![rule(
        SystemMetric::CpuUsage,
        0.8,
        AdaptiveStrategy::Bbr,
    )]);
    metrics.set_cpu_usage(0.5);
    healthy_second(&clock, &s);
    metrics.set_cpu_usage(0.95);
    // Entries pass while the in-flight count before them is within the estimate (5).
    let mut held = Vec::new();
    while let Ok(e) = inbound(&s, "api") {
        held.push(e);
        assert!(held.len() <= 10, "never shed");
    }
    assert_eq!(held.len(), 6, "admitted while in flight <= 5");
    let b = inbound(&s, "other-api").unwrap_err();
    assert_eq!(b.block_type(), BlockType::System);
    assert_eq!(b.resource(), "other-api");
    assert_eq!(b.snapshot(), Some(0.95));
    // Outbound entries are never checked.
    assert!(s.entry("api").try_enter().is_ok());
    // Completing work (as fast as before: 10 ms) makes room again.
    clock.advance(Duration::from_millis(10));
    held.pop();
    held.pop();
    assert!(inbound(&s, "api").is_ok());
    // Under the trigger nothing is shed.
    metrics.set_cpu_usage(0.7);
    let more: Vec<_> = (0..20).map(|_| inbound(&s, "api").unwrap()).collect();
    drop(more);
}

#[test]
fn bbr_on_load_and_without_history_sheds_nothing() {
    let (_clock, metrics, s) = instance(vec![rule(SystemMetric::Load, 2.0, AdaptiveStrategy::Bbr)]);
    metrics.set_load(8.0);
    // No completions yet: no estimate, so nothing to shed by.
    let held: Vec<_> = (0..50).map(|_| inbound(&s, "api").unwrap()).collect();
    drop(held);
}

#[test]
fn no_adaptive_blocks_whenever_the_metric_is_over_the_trigger() {
    let (_clock, metrics, s) = instance(vec![rule(
        SystemMetric::Load,
        2.0,
        AdaptiveStrategy::NoAdaptive,
    )]);
    metrics.set_load(2.0);
    assert!(inbound(&s, "api").is_ok(), "at the trigger, not over it");
    metrics.set_load(2.5);
    let b = inbound(&s, "api").unwrap_err();
    assert_eq!(b.snapshot(), Some(2.5));
    assert!(s.entry("api").try_enter().is_ok(), "outbound passes");
    metrics.set_load(1.0);
    assert!(
        inbound(&s, "api").is_ok(),
        "the very next entry sees the new value"
    );
}

#[test]
fn inbound_qps_blocks_at_its_trigger() {
    let (clock, _m, s) = instance(vec![rule(
        SystemMetric::InboundQps,
        10.0,
        AdaptiveStrategy::NoAdaptive,
    )]);
    let passed = (0..30)
        .filter(|i| inbound(&s, if i % 2 == 0 { "a" } else { "b" }).is_ok())
        .count();
    assert_eq!(passed, 10, "shared by every inbound resource");
    clock.advance(Duration::from_secs(1));
    assert!(inbound(&s, "a").is_ok());
}

#[test]
fn concurrency_blocks_at_its_trigger() {
    let (_clock, _m, s) = instance(vec![rule(
        SystemMetric::Concurrency,
        3.0,
        AdaptiveStrategy::NoAdaptive,
    )]);
    let held: Vec<_> = (0..3).map(|_| inbound(&s, "a").unwrap()).collect();
    let b = inbound(&s, "b").unwrap_err();
    assert_eq!(b.snapshot(), Some(3.0));
    drop(held);
    assert!(inbound(&s, "b").is_ok());
}

#[test]
fn avg_rt_blocks_at_its_trigger() {
    let (clock, _m, s) = instance(vec![rule(
        SystemMetric::AvgRt,
        50.0,
        AdaptiveStrategy::NoAdaptive,
    )]);
    let call = |ms| {
        let e = inbound(&s, "a").unwrap();
        clock.advance(Duration::from_millis(ms));
        drop(e);
    };
    call(40);
    assert!(inbound(&s, "a").is_ok(), "avg 40 ms");
    call(70); // the probe above completed at 0 ms: avg (40 + 0 + 70) / 3 < 50
    call(90); // avg (40 + 0 + 70 + 90) / 4 = 50
    let b = inbound(&s, "a").unwrap_err();
    assert_eq!(b.snapshot(), Some(50.0));
}

#[test]
fn rules_guard_resources_created_before_and_after_loading() {
    let (_clock, metrics, s) = instance(vec![]);
    metrics.set_cpu_usage(0.99);
    drop(inbound(&s, "early").unwrap());
    s.load_system_rules(vec![rule(
        SystemMetric::CpuUsage,
        0.9,
        AdaptiveStrategy::NoAdaptive,
    )])
    .unwrap();
    assert!(inbound(&s, "early").is_err());
    assert!(inbound(&s, "late").is_err());
    s.load_system_rules(vec![]).unwrap();
    assert!(inbound(&s, "early").is_ok());
    assert_eq!(s.system_rules(), vec![]);
}

#[test]
fn invalid_rules_name_their_field() {
    let (_c, _m, s) = instance(vec![]);
    let err = s
        .load_system_rules(vec![
            rule(SystemMetric::CpuUsage, 80.0, AdaptiveStrategy::Bbr),
            rule(SystemMetric::Load, -1.0, AdaptiveStrategy::Bbr),
        ])
        .unwrap_err();
    assert_eq!(err.errors().len(), 2);
    assert!(err.errors().iter().all(|e| e.error.field == "triggerCount"));
}
