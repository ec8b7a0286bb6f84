//! Listeners of the per-second aggregation: each processed second once, in order, with
//! the lines the metric log writes; held weakly.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sentinel_core::metric_log::{SecondFigures, SecondListener};
use sentinel_core::{ManualClock, Sentinel, TrafficType};

/// One second as recorded: its start, each resource's passes, the inbound passes.
type Seen = (u64, Vec<(String, u64)>, Option<u64>);

#[derive(Default)]
struct Recorder(Mutex<Vec<Seen>>);

impl SecondListener for Recorder {
    fn on_second(&self, second: &SecondFigures<'_>) {
        let mut lines: Vec<(String, u64)> = second
            .resources
            .iter()
            .map(|l| (l.resource.clone(), l.pass_qps))
            .collect();
        lines.sort();
        let inbound = second.inbound.map(|l| l.pass_qps);
        self.0
            .lock()
            .unwrap()
            .push((second.unix_ms, lines, inbound));
    }
}

#[test]
fn each_second_arrives_once_in_order_with_its_active_resources_and_inbound_totals() {
    let clock = ManualClock::with_epoch_unix_ms(1_700_000_000_000);
    let sentinel = Sentinel::builder().clock(clock.clone()).build();
    let recorder = Arc::new(Recorder::default());
    sentinel.add_second_listener(recorder.clone());
    for second in 0..3u64 {
        for _ in 0..=second {
            drop(sentinel.entry("a").try_enter());
        }
        if second == 1 {
            drop(
                sentinel
                    .entry("in")
                    .traffic(TrafficType::Inbound)
                    .try_enter(),
            );
        }
        clock.advance(Duration::from_secs(1));
        sentinel.flush_metrics();
        sentinel.flush_metrics(); // nothing new: no second twice
    }
    let seen = recorder.0.lock().unwrap().clone();
    let a = |n| vec![("a".to_string(), n)];
    let in_and_a = vec![("a".to_string(), 2), ("in".to_string(), 1)];
    assert_eq!(
        seen,
        [
            (1_700_000_000_000, a(1), None),
            (1_700_000_001_000, in_and_a, Some(1)),
            (1_700_000_002_000, a(3), None),
        ]
    );
}

#[test]
fn a_listener_is_forgotten_once_its_owner_drops_it() {
    let clock = ManualClock::new();
    let sentinel = Sentinel::builder().clock(clock.clone()).build();
    let recorder = Arc::new(Recorder::default());
    sentinel.add_second_listener(recorder.clone());
    let weak = Arc::downgrade(&recorder);
    drop(recorder);
    drop(sentinel.entry("a").try_enter());
    clock.advance(Duration::from_secs(1));
    sentinel.flush_metrics();
    assert!(
        weak.upgrade().is_none(),
        "the instance does not keep it alive"
    );
}
