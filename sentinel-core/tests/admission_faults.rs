//! Faults found by testing the engine as users would (reloads under load, racing threads,
//! bursts at bucket edges, full resource tables, odd numbers), each kind checked in every
//! rule kind it can reach. SEMANTICS §2–§8.

mod common;

use common::{flow, instance, isolation, tries};

use std::sync::{Arc, Barrier};
use std::time::Duration;

use sentinel_core::circuit_breaker::{CircuitBreakerRule, Strategy};
use sentinel_core::flow::{ControlBehavior, FlowRule, TokenCalculateStrategy};
use sentinel_core::hotspot::{HotspotRule, MetricType};
use sentinel_core::isolation::IsolationRule;
use sentinel_core::pipeline::{Check, CheckContext, ORDER_CIRCUIT_BREAKER, Verdict};
use sentinel_core::system::{SystemMetric, SystemRule};
use sentinel_core::{BlockError, BlockType, ManualClock, Sentinel, TrafficType};

fn hot(metric_type: MetricType, threshold: i64) -> HotspotRule {
    HotspotRule {
        resource: "r".into(),
        metric_type,
        threshold,
        ..Default::default()
    }
}

// 1. In-flight counts describe the world, not the rule.

#[test]
fn raising_an_isolation_limit_counts_the_entries_in_flight() {
    let (_c, s) = instance();
    s.load_isolation_rules(vec![isolation("r", 2)]).unwrap();
    let _held = tries(&s, "r", 2);
    s.load_isolation_rules(vec![isolation("r", 3)]).unwrap();
    assert_eq!(
        tries(&s, "r", 5).len(),
        1,
        "exactly one more under a limit of 3"
    );
}

#[test]
fn lowering_an_isolation_limit_admits_nothing_until_entries_exit() {
    let (_c, s) = instance();
    s.load_isolation_rules(vec![isolation("r", 3)]).unwrap();
    let mut held = tries(&s, "r", 3);
    s.load_isolation_rules(vec![IsolationRule {
        id: "lowered".into(),
        ..isolation("r", 2)
    }])
    .unwrap();
    assert!(tries(&s, "r", 3).is_empty());
    held.pop();
    assert!(
        tries(&s, "r", 3).is_empty(),
        "2 still in flight under a limit of 2"
    );
    held.pop();
    assert_eq!(tries(&s, "r", 3).len(), 1);
    drop(held);
}

#[test]
fn hot_value_concurrency_survives_a_rule_change() {
    let (_c, s) = instance();
    s.load_hotspot_rules(vec![hot(MetricType::Concurrency, 2)])
        .unwrap();
    let held: Vec<_> = (0..2)
        .map(|_| s.entry("r").arg("sku-1").try_enter().unwrap())
        .collect();
    s.load_hotspot_rules(vec![hot(MetricType::Concurrency, 3)])
        .unwrap();
    let more: Vec<_> = (0..5)
        .filter_map(|_| s.entry("r").arg("sku-1").try_enter().ok())
        .collect();
    assert_eq!(more.len(), 1);
    drop((held, more));
    let after: Vec<_> = (0..5)
        .filter_map(|_| s.entry("r").arg("sku-1").try_enter().ok())
        .collect();
    assert_eq!(
        after.len(),
        3,
        "exits through the old rule released the shared counts"
    );
}

#[test]
fn system_concurrency_survives_a_rule_change() {
    let (_c, s) = instance();
    let rule = |trigger: f64| SystemRule {
        metric_type: SystemMetric::Concurrency,
        trigger_count: trigger,
        ..Default::default()
    };
    s.load_system_rules(vec![rule(2.0)]).unwrap();
    let inbound = |s: &Sentinel| {
        s.entry_owned("r")
            .traffic(TrafficType::Inbound)
            .try_enter_owned()
    };
    let held: Vec<_> = (0..2).map(|_| inbound(&s).unwrap()).collect();
    s.load_system_rules(vec![rule(3.0)]).unwrap();
    let more: Vec<_> = (0..5).filter_map(|_| inbound(&s).ok()).collect();
    assert_eq!(more.len(), 1);
    drop((held, more));
}

#[test]
fn a_changed_qps_limit_counts_what_already_passed() {
    let (_c, s) = instance();
    s.load_flow_rules(vec![flow("r", 10.0)]).unwrap();
    let passed = tries(&s, "r", 10).len();
    s.load_flow_rules(vec![flow("r", 20.0)]).unwrap();
    assert_eq!(passed + tries(&s, "r", 50).len(), 20);
    // A rule that starts while traffic flows counts the passes already in the window.
    let (_c, s) = instance();
    assert_eq!(tries(&s, "fresh", 7).len(), 7);
    s.load_flow_rules(vec![flow("fresh", 10.0)]).unwrap();
    assert_eq!(tries(&s, "fresh", 50).len(), 3);
}

// 2. The check and the count are one step.

#[test]
fn two_threads_released_together_never_both_pass_a_threshold_of_one() {
    let (clock, s) = instance();
    s.load_flow_rules(vec![flow("r", 1.0)]).unwrap();
    let sys = Sentinel::builder().clock(clock.clone()).build();
    sys.load_system_rules(vec![SystemRule {
        metric_type: SystemMetric::InboundQps,
        trigger_count: 1.0,
        ..Default::default()
    }])
    .unwrap();
    let barrier = Barrier::new(2);
    for window in 0..2000u64 {
        clock.set(Duration::from_secs(2 * window));
        let passed = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    scope.spawn(|| {
                        barrier.wait();
                        let a = s.entry("r").try_enter().is_ok();
                        let b = sys
                            .entry("r")
                            .traffic(TrafficType::Inbound)
                            .try_enter()
                            .is_ok();
                        (u32::from(a), u32::from(b))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .fold((0, 0), |x, y| (x.0 + y.0, x.1 + y.1))
        });
        assert_eq!(passed, (1, 1), "window {window}: flow, system inbound QPS");
    }
}

// 3. Reservations come back when a later check refuses.

/// Blocks every entry that carries the attachment `deny`.
struct DenyLast;
impl Check for DenyLast {
    fn order(&self) -> u32 {
        ORDER_CIRCUIT_BREAKER + 1
    }
    fn check(&self, ctx: &CheckContext<'_>) -> Verdict {
        match ctx.attachment("deny") {
            Some(_) => Verdict::Block(BlockError::new(
                BlockType::Custom(1),
                ctx.resource_arc(),
                "denied",
            )),
            None => Verdict::Pass,
        }
    }
}

#[test]
fn a_pacing_slot_taken_by_a_refused_entry_is_given_back() {
    let (_c, s) = instance();
    s.load_flow_rules(vec![FlowRule {
        control_behavior: ControlBehavior::Throttling,
        max_queueing_time_ms: 10_000,
        ..flow("r", 10.0)
    }])
    .unwrap();
    s.load_isolation_rules(vec![isolation("r", 1)]).unwrap();
    let held = s.entry("r").try_enter().unwrap();
    for _ in 0..5 {
        let b = s.entry("r").try_enter().unwrap_err();
        assert_eq!(b.block_type(), BlockType::Isolation);
    }
    drop(held);
    let next = s.entry("r").try_enter().unwrap();
    assert_eq!(
        next.wait(),
        Duration::from_millis(100),
        "one slot after the held one"
    );
}

#[test]
fn every_check_gives_back_what_it_took_when_a_later_one_refuses() {
    let (clock, s) = instance();
    s.add_check(Arc::new(DenyLast));
    s.load_flow_rules(vec![flow("r", 3.0)]).unwrap();
    s.load_isolation_rules(vec![isolation("r", 1)]).unwrap();
    s.load_hotspot_rules(vec![
        HotspotRule {
            control_behavior: ControlBehavior::Reject,
            ..hot(MetricType::Qps, 3)
        },
        HotspotRule {
            param_index: 1,
            control_behavior: ControlBehavior::Throttling,
            max_queueing_time_ms: 0,
            ..hot(MetricType::Qps, 1)
        },
        HotspotRule {
            param_index: 2,
            ..hot(MetricType::Concurrency, 1)
        },
    ])
    .unwrap();
    s.load_system_rules(vec![SystemRule {
        metric_type: SystemMetric::InboundQps,
        trigger_count: 3.0,
        ..Default::default()
    }])
    .unwrap();
    let entry = |deny: bool| {
        let b =
            s.entry("r")
                .traffic(TrafficType::Inbound)
                .args(["a".into(), "b".into(), "c".into()]);
        if deny { b.attachment("deny", true) } else { b }.try_enter()
    };
    for _ in 0..10 {
        assert_eq!(entry(true).unwrap_err().block_type(), BlockType::Custom(1));
    }
    // Nothing was taken by the refused entries: the first real one passes everything.
    let e = entry(false).expect("every reservation was given back");
    drop(e);
    clock.advance(Duration::from_secs(1));
    assert!(entry(false).is_ok());
}

// 4. No span of one interval holds more than 1.1 T.

#[test]
fn bursts_at_bucket_edges_stay_within_a_tenth_over_the_threshold() {
    let (clock, s) = instance();
    s.load_flow_rules(vec![flow("r", 100.0)]).unwrap();
    clock.set(Duration::from_millis(1099));
    assert_eq!(tries(&s, "r", 300).len(), 100);
    clock.set(Duration::from_millis(2000));
    assert_eq!(
        tries(&s, "r", 300).len(),
        10,
        "1099 ms and 2000 ms are 901 ms apart"
    );
}

#[test]
fn custom_windows_and_system_inbound_qps_obey_the_same_bound() {
    // A rule over 2 s: bursts 1.9 s apart share one span of 2 s.
    let (clock, s) = instance();
    s.load_flow_rules(vec![FlowRule {
        stat_interval_in_ms: 2000,
        ..flow("r", 100.0)
    }])
    .unwrap();
    clock.set(Duration::from_millis(2099));
    assert_eq!(tries(&s, "r", 300).len(), 100);
    clock.set(Duration::from_millis(4000));
    assert!(tries(&s, "r", 300).len() <= 10);
    // A rule over 60 s (buckets of 3 s).
    let (clock, s) = instance();
    s.load_flow_rules(vec![FlowRule {
        stat_interval_in_ms: 60_000,
        ..flow("r", 100.0)
    }])
    .unwrap();
    clock.set(Duration::from_millis(62_999));
    assert_eq!(tries(&s, "r", 300).len(), 100);
    clock.set(Duration::from_millis(120_000));
    assert!(tries(&s, "r", 300).len() <= 10);
    // The system rule's inbound QPS.
    let (clock, s) = instance();
    s.load_system_rules(vec![SystemRule {
        metric_type: SystemMetric::InboundQps,
        trigger_count: 100.0,
        ..Default::default()
    }])
    .unwrap();
    let inbound = |s: &Sentinel| {
        (0..300)
            .filter(|_| {
                s.entry("r")
                    .traffic(TrafficType::Inbound)
                    .try_enter()
                    .is_ok()
            })
            .count()
    };
    clock.set(Duration::from_millis(1099));
    assert_eq!(inbound(&s), 100);
    clock.set(Duration::from_millis(2000));
    assert_eq!(inbound(&s), 10);
}

#[test]
fn steady_overload_still_gets_the_threshold_per_second() {
    let (clock, s) = instance();
    s.load_flow_rules(vec![flow("r", 100.0)]).unwrap();
    let mut passes = Vec::new();
    for ms in (0..20_000u64).step_by(5) {
        clock.set(Duration::from_millis(ms));
        for _ in 0..3 {
            if s.entry("r").try_enter().is_ok() {
                passes.push(ms);
            }
        }
    }
    let max_span = passes
        .iter()
        .map(|&start| {
            passes
                .iter()
                .filter(|&&t| t >= start && t < start + 1000)
                .count()
        })
        .max()
        .unwrap();
    assert!(max_span <= 110, "{max_span} in one span");
    // Over 20 s, on average exactly T per second.
    assert!((1950..=2000).contains(&passes.len()), "{}", passes.len());
}

// 7. A resource with rules is always checked.

#[test]
fn a_full_resource_table_never_switches_rules_off() {
    let clock = ManualClock::new();
    let s = Sentinel::builder().clock(clock).max_resources(10).build();
    for i in 0..20 {
        drop(s.entry(&format!("scan-{i}")).try_enter().unwrap());
    }
    s.load_flow_rules(vec![flow("late", 0.0)]).unwrap();
    s.load_isolation_rules(vec![isolation("late-iso", 1)])
        .unwrap();
    assert_eq!(
        s.entry("late").try_enter().unwrap_err().block_type(),
        BlockType::Flow
    );
    let _held = s.entry("late-iso").try_enter().unwrap();
    assert!(s.entry("late-iso").try_enter().is_err());
    assert_eq!(s.resource_stats("late").unwrap().block_qps, 1.0);
    // More rule resources than the table keeps for them: refused, naming the field.
    let many: Vec<FlowRule> = (0..30).map(|i| flow(&format!("ruled-{i}"), 1.0)).collect();
    let e = s.load_flow_rules(many).unwrap_err();
    assert_eq!(e.errors()[0].error.field, "resource");
    assert!(e.to_string().contains("max_resources"), "{e}");
}

// 8. The hot-parameter capacity is the rule's.

#[test]
fn a_rule_tracks_its_whole_capacity() {
    let (_c, s) = instance();
    s.load_hotspot_rules(vec![HotspotRule {
        params_max_capacity: 1000,
        ..hot(MetricType::Qps, 1)
    }])
    .unwrap();
    for i in 0..1000 {
        assert!(s.entry("r").arg(i).try_enter().is_ok());
    }
    let again = (0..1000)
        .filter(|i| s.entry("r").arg(*i).try_enter().is_ok())
        .count();
    assert_eq!(again, 0, "no value was evicted and started over");
    assert_eq!(s.hotspot_tracked_values("r"), vec![1000]);
}

// 9. Numbers without bounds.

fn field_of(e: sentinel_core::RuleSetError) -> &'static str {
    e.errors()[0].error.field
}

#[test]
fn every_numeric_field_has_a_range() {
    let (_c, s) = instance();
    let hot_bad = |f: fn(&mut HotspotRule)| {
        let mut r = hot(MetricType::Qps, 1);
        f(&mut r);
        field_of(s.load_hotspot_rules(vec![r]).unwrap_err())
    };
    assert_eq!(hot_bad(|r| r.duration_in_sec = 1 << 62), "durationInSec");
    assert_eq!(hot_bad(|r| r.threshold = i64::MAX), "threshold");
    assert_eq!(hot_bad(|r| r.burst_count = i64::MAX), "burstCount");
    assert_eq!(
        hot_bad(|r| r.params_max_capacity = i64::MAX),
        "paramsMaxCapacity"
    );
    assert_eq!(
        hot_bad(|r| r.max_queueing_time_ms = i64::MAX),
        "maxQueueingTimeMs"
    );
    let cb = CircuitBreakerRule {
        resource: "r".into(),
        strategy: Strategy::ErrorCount,
        retry_timeout_ms: 1000,
        stat_interval_ms: u32::MAX,
        stat_sliding_window_bucket_count: u32::MAX,
        threshold: 1.0,
        ..Default::default()
    };
    let e = s.load_circuit_breaker_rules(vec![cb.clone()]).unwrap_err();
    assert_eq!(field_of(e), "statIntervalMs");
    let e = s
        .load_circuit_breaker_rules(vec![CircuitBreakerRule {
            stat_interval_ms: 1000,
            ..cb.clone()
        }])
        .unwrap_err();
    assert_eq!(field_of(e), "statSlidingWindowBucketCount");
    let e = s
        .load_circuit_breaker_rules(vec![CircuitBreakerRule {
            stat_interval_ms: 1000,
            stat_sliding_window_bucket_count: 10,
            threshold: f64::MAX,
            ..cb
        }])
        .unwrap_err();
    assert_eq!(field_of(e), "threshold");
    let e = s.load_flow_rules(vec![flow("r", 1e300)]).unwrap_err();
    assert_eq!(field_of(e), "threshold");
    let e = s
        .load_flow_rules(vec![FlowRule {
            token_calculate_strategy: TokenCalculateStrategy::WarmUp,
            warm_up_period_sec: u32::MAX,
            ..flow("r", 10.0)
        }])
        .unwrap_err();
    assert_eq!(field_of(e), "warmUpPeriodSec");
    let e = s
        .load_system_rules(vec![SystemRule {
            metric_type: SystemMetric::InboundQps,
            trigger_count: f64::INFINITY,
            ..Default::default()
        }])
        .unwrap_err();
    assert_eq!(field_of(e), "triggerCount");
    assert_eq!(s.rule_counts(), Default::default(), "nothing loaded");
}

#[test]
fn the_largest_valid_values_neither_overflow_nor_fail_open() {
    let (clock, s) = instance();
    s.load_hotspot_rules(vec![HotspotRule {
        duration_in_sec: 86_400,
        burst_count: 1_000_000_000_000,
        ..hot(MetricType::Qps, 1_000_000_000_000)
    }])
    .unwrap();
    assert!(s.entry("r").arg(1).batch(u32::MAX).try_enter().is_ok());
    s.load_hotspot_rules(vec![HotspotRule {
        duration_in_sec: 86_400,
        ..hot(MetricType::Qps, 1)
    }])
    .unwrap();
    assert!(s.entry("r").arg(1).try_enter().is_ok());
    clock.advance(Duration::from_secs(3600));
    assert!(s.entry("r").arg(1).try_enter().is_err(), "one per day");
    // RT × batch saturates instead of wrapping.
    let e = s.entry("big").batch(u32::MAX).try_enter().unwrap();
    clock.advance(Duration::from_secs(86_400 * 365));
    drop(e);
    assert!(s.resource_stats("big").unwrap().avg_rt_ms > 0.0);
}

// 10. Duplicate specific items.

#[test]
fn two_specific_items_for_one_value_are_an_error() {
    let doc = r#"{"resource": "r", "metricType": 1, "threshold": 10, "specificItems": [
        {"valKind": 0, "valStr": "42", "threshold": 5},
        {"valKind": "Int", "valStr": " 42", "threshold": 50}]}"#;
    let e = serde_json::from_str::<HotspotRule>(doc)
        .unwrap_err()
        .to_string();
    assert!(e.contains("items 0 and 1") && e.contains("42"), "{e}");
}

// 12. A block says when to come back.

#[test]
fn blocks_say_when_the_refusing_limiter_admits_again() {
    let (clock, s) = instance();
    s.load_flow_rules(vec![
        FlowRule {
            stat_interval_in_ms: 60_000,
            ..flow("per-minute", 10.0)
        },
        FlowRule {
            control_behavior: ControlBehavior::Throttling,
            max_queueing_time_ms: 500,
            ..flow("paced", 1.0)
        },
    ])
    .unwrap();
    assert_eq!(tries(&s, "per-minute", 10).len(), 10);
    clock.advance(Duration::from_secs(20));
    let b = s.entry("per-minute").try_enter().unwrap_err();
    // The passes at 0 s leave every 60 s span that ends later than 60 s: 40 s from now.
    assert_eq!(b.retry_after(), Some(Duration::from_secs(40)));
    drop(s.entry("paced").try_enter().unwrap());
    let b = s.entry("paced").try_enter().unwrap_err();
    assert_eq!(
        b.retry_after(),
        Some(Duration::from_millis(500)),
        "then the wait fits"
    );
    s.load_hotspot_rules(vec![HotspotRule {
        duration_in_sec: 60,
        ..hot(MetricType::Qps, 2)
    }])
    .unwrap();
    assert!(s.entry("r").arg(7).try_enter().is_ok());
    assert!(s.entry("r").arg(7).try_enter().is_ok());
    let b = s.entry("r").arg(7).try_enter().unwrap_err();
    assert_eq!(
        b.retry_after(),
        Some(Duration::from_secs(30)),
        "one token per 30 s"
    );
    s.load_isolation_rules(vec![isolation("iso", 1)]).unwrap();
    let _held = s.entry("iso").try_enter().unwrap();
    assert_eq!(s.entry("iso").try_enter().unwrap_err().retry_after(), None);
}

// 14. A throttling threshold the rule can never meet.

#[test]
fn a_throttling_threshold_under_one_per_interval_is_refused_with_advice() {
    let (_c, s) = instance();
    let e = s
        .load_flow_rules(vec![FlowRule {
            control_behavior: ControlBehavior::Throttling,
            ..flow("r", 0.5)
        }])
        .unwrap_err();
    let text = e.to_string();
    assert_eq!(field_of(e), "threshold");
    assert!(text.contains("statIntervalInMs 2000"), "{text}");
    // One per 2000 ms is what the advice gives, and it paces.
    s.load_flow_rules(vec![FlowRule {
        control_behavior: ControlBehavior::Throttling,
        stat_interval_in_ms: 2000,
        ..flow("r", 1.0)
    }])
    .unwrap();
    assert!(s.entry("r").try_enter().is_ok());
    // Explicit 0 still blocks everything; a cold warm-up under 1 per interval is refused.
    s.load_flow_rules(vec![FlowRule {
        control_behavior: ControlBehavior::Throttling,
        ..flow("r", 0.0)
    }])
    .unwrap();
    assert!(s.entry("r").try_enter().is_err());
    let e = s
        .load_flow_rules(vec![FlowRule {
            control_behavior: ControlBehavior::Throttling,
            token_calculate_strategy: TokenCalculateStrategy::WarmUp,
            warm_up_period_sec: 10,
            ..flow("r", 2.0)
        }])
        .unwrap_err();
    assert_eq!(field_of(e), "warmUpColdFactor");
}
