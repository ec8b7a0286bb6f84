//! `tracing` events: system shedding is reported once per episode, with fields.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sentinel_core::system::{AdaptiveStrategy, ManualSystemMetrics, SystemMetric, SystemRule};
use sentinel_core::{ManualClock, Sentinel, TrafficType};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Counts events whose message contains a needle.
struct Counter {
    started: AtomicUsize,
    stopped: AtomicUsize,
}

struct Message(String);
impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

struct Listen(Arc<Counter>);
impl Subscriber for Listen {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut m = Message(String::new());
        event.record(&mut m);
        if m.0.contains("started shedding") {
            self.0.started.fetch_add(1, Ordering::SeqCst);
        } else if m.0.contains("stopped shedding") {
            self.0.stopped.fetch_add(1, Ordering::SeqCst);
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn shedding_is_reported_once_per_episode() {
    let counter = Arc::new(Counter {
        started: AtomicUsize::new(0),
        stopped: AtomicUsize::new(0),
    });
    tracing::subscriber::set_global_default(Listen(counter.clone())).unwrap();
    let metrics = ManualSystemMetrics::new();
    let s = Sentinel::builder()
        .clock(ManualClock::new())
        .system_metrics(metrics.clone())
        .build();
    s.load_system_rules(vec![SystemRule {
        metric_type: SystemMetric::Load,
        trigger_count: 2.0,
        strategy: AdaptiveStrategy::NoAdaptive,
        ..Default::default()
    }])
    .unwrap();
    let inbound = || {
        s.entry("api")
            .traffic(TrafficType::Inbound)
            .try_enter()
            .is_ok()
    };
    for episode in 1..=2 {
        metrics.set_load(5.0);
        for _ in 0..100 {
            assert!(!inbound());
        }
        metrics.set_load(1.0);
        for _ in 0..100 {
            assert!(inbound());
        }
        assert_eq!(counter.started.load(Ordering::SeqCst), episode);
        assert_eq!(counter.stopped.load(Ordering::SeqCst), episode);
    }
}
