//! Behaviour tests of flow rules, driven by a manual clock.

use std::time::Duration;

use super::{ControlBehavior, FlowRule, RelationStrategy, TokenCalculateStrategy};
use crate::system_metrics::ManualSystemMetrics;
use crate::{BlockType, ManualClock, Sentinel};

fn instance() -> (ManualClock, Sentinel) {
    let clock = ManualClock::new();
    let s = Sentinel::builder().clock(clock.clone()).build();
    (clock, s)
}

fn rule(resource: &str, threshold: f64) -> FlowRule {
    FlowRule {
        resource: resource.into(),
        threshold,
        ..Default::default()
    }
}

/// Offers `per_ms` entries every millisecond for `ms` milliseconds; returns the time (ms,
/// from the start of the run) of every admission.
fn overdrive(s: &Sentinel, clock: &ManualClock, resource: &str, ms: u64, per_ms: u32) -> Vec<u64> {
    let start = clock.elapsed().as_millis() as u64;
    let mut passes = Vec::new();
    for _ in 0..ms {
        for _ in 0..per_ms {
            if let Ok(e) = s.entry(resource).try_enter() {
                passes.push(clock.elapsed().as_millis() as u64 - start);
                drop(e);
            }
        }
        clock.advance(Duration::from_millis(1));
    }
    passes
}

fn max_in_any_span(passes: &[u64], span_ms: u64) -> usize {
    let mut best = 0;
    let mut j = 0;
    for i in 0..passes.len() {
        while passes[j] + span_ms <= passes[i] {
            j += 1;
        }
        best = best.max(i - j + 1);
    }
    best
}

#[test]
fn reject_never_passes_more_than_ten_percent_over_in_any_second() {
    let (clock, s) = instance();
    s.load_flow_rules(vec![rule("r", 100.0)]).unwrap();
    let passes = overdrive(&s, &clock, "r", 10_000, 5);
    let worst = max_in_any_span(&passes, 1000);
    assert!(worst <= 110, "{worst} passes in one 1000 ms span");
    assert!(
        (1000..=1100).contains(&passes.len()),
        "{} passes in 10 s of overload",
        passes.len()
    );
}

#[test]
fn reject_blocks_with_the_window_sum_as_snapshot() {
    let (clock, s) = instance();
    s.load_flow_rules(vec![FlowRule {
        id: "qps".into(),
        ..rule("r", 3.0)
    }])
    .unwrap();
    for _ in 0..3 {
        drop(s.entry("r").try_enter().unwrap());
    }
    let b = s.entry("r").try_enter().unwrap_err();
    assert_eq!(b.block_type(), BlockType::Flow);
    assert_eq!(b.snapshot(), Some(3.0));
    assert_eq!(b.rule_id(), Some("qps"));
    assert!(b.to_string().contains("qps"), "{b}");
    // A batch counts as its size (1.1 s later: no 1000 ms span then holds both bursts).
    clock.advance(Duration::from_millis(1100));
    assert!(s.entry("r").batch(4).try_enter().is_err());
    assert!(s.entry("r").batch(3).try_enter().is_ok());
}

#[test]
fn several_rules_on_one_resource_all_apply() {
    let (_clock, s) = instance();
    s.load_flow_rules(vec![rule("r", 5.0), rule("r", 2.0)])
        .unwrap();
    let passed = (0..10).filter(|_| s.entry("r").try_enter().is_ok()).count();
    assert_eq!(passed, 2);
}

#[test]
fn custom_interval_counts_over_its_own_window() {
    let (clock, s) = instance();
    // 500 ms: served by the resource ring.
    s.load_flow_rules(vec![FlowRule {
        stat_interval_in_ms: 500,
        ..rule("half", 5.0)
    }])
    .unwrap();
    let passes = overdrive(&s, &clock, "half", 2000, 2);
    assert_eq!(passes.len(), 20, "5 per 500 ms over 2 s");
    // 5 s: a window of the rule's own.
    let (clock, s) = instance();
    s.load_flow_rules(vec![FlowRule {
        stat_interval_in_ms: 5000,
        ..rule("long", 10.0)
    }])
    .unwrap();
    let passes = overdrive(&s, &clock, "long", 10_000, 1);
    assert_eq!(passes.len(), 20, "10 per 5 s over 10 s");
    assert!(max_in_any_span(&passes, 5000) <= 11);
}

#[test]
fn associated_resource_limits_by_the_other_resource() {
    let (clock, s) = instance();
    s.load_flow_rules(vec![FlowRule {
        relation_strategy: RelationStrategy::AssociatedResource,
        ref_resource: "write-db".into(),
        ..rule("read-db", 3.0)
    }])
    .unwrap();
    // No statistics of write-db yet: reads pass.
    assert!(s.entry("read-db").try_enter().is_ok());
    for _ in 0..3 {
        drop(s.entry("write-db").try_enter().unwrap());
    }
    assert!(s.entry("read-db").try_enter().is_err(), "writes are busy");
    assert!(
        s.entry("write-db").try_enter().is_ok(),
        "the rule guards only reads"
    );
    clock.advance(Duration::from_millis(1100));
    assert!(s.entry("read-db").try_enter().is_ok());
}

fn throttling(resource: &str, threshold: f64, max_queue_ms: u32) -> FlowRule {
    FlowRule {
        control_behavior: ControlBehavior::Throttling,
        max_queueing_time_ms: max_queue_ms,
        ..rule(resource, threshold)
    }
}

#[test]
fn throttling_at_5000_per_second_admits_one_per_200_micros() {
    let (clock, s) = instance();
    s.load_flow_rules(vec![throttling("t", 5000.0, 0)]).unwrap();
    let mut times = Vec::new();
    for _ in 0..10_000 {
        if s.entry("t").try_enter().is_ok() {
            times.push(clock.now_micros());
        }
        clock.advance(Duration::from_micros(10));
    }
    assert_eq!(times.len(), 500, "100 ms at 5000/s");
    assert!(
        times.windows(2).all(|w| w[1] - w[0] == 200),
        "{:?}",
        &times[..5]
    );
}

trait Micros {
    fn now_micros(&self) -> u64;
}
impl Micros for ManualClock {
    fn now_micros(&self) -> u64 {
        self.elapsed().as_micros() as u64
    }
}

#[test]
fn throttling_above_1000_per_second_paces_exactly() {
    // Costs of 400, 50 and 20 µs: multiples of the 10 µs arrival step, so every slot is met
    // exactly (an arrival after its slot restarts the pace from then, as in Sentinel).
    for rate in [2500.0, 20_000.0, 50_000.0] {
        let (clock, s) = instance();
        s.load_flow_rules(vec![throttling("t", rate, 0)]).unwrap();
        let mut passed = 0;
        for _ in 0..100_000 {
            if s.entry("t").try_enter().is_ok() {
                passed += 1;
            }
            clock.advance(Duration::from_micros(10)); // 1 s in all
        }
        assert_eq!(passed, rate as u64, "rate {rate}: {passed} passes in 1 s");
    }
}

#[test]
fn throttling_queues_up_to_max_queueing_time() {
    let (clock, s) = instance();
    s.load_flow_rules(vec![throttling("t", 10.0, 500)]).unwrap();
    let waits: Vec<Option<Duration>> = (0..8)
        .map(|_| s.entry("t").try_enter().ok().map(|e| e.wait()))
        .collect();
    let ms = |n| Some(Duration::from_millis(n));
    assert_eq!(
        waits,
        [
            ms(0),
            ms(100),
            ms(200),
            ms(300),
            ms(400),
            ms(500),
            None,
            None
        ]
    );
    // enter() sleeps through the clock.
    let before = clock.elapsed();
    let e = s.entry("t").enter();
    assert!(e.is_err(), "the queue is still full");
    clock.advance(Duration::from_millis(200));
    let e = s.entry("t").enter().unwrap();
    assert_eq!(
        clock.elapsed() - before,
        Duration::from_millis(200) + e.wait()
    );
}

#[test]
fn throttling_edge_cases_block() {
    let (_clock, s) = instance();
    s.load_flow_rules(vec![
        throttling("zero", 0.0, 1000),
        throttling("small", 2.0, 1000),
    ])
    .unwrap();
    assert!(s.entry("zero").try_enter().is_err());
    assert!(
        s.entry("small").batch(3).try_enter().is_err(),
        "batch above threshold"
    );
    assert!(s.entry("small").batch(2).try_enter().is_ok());
}

#[test]
fn throttling_never_hands_one_slot_to_two_threads() {
    let (_clock, s) = instance();
    s.load_flow_rules(vec![throttling("t", 1000.0, 60_000)])
        .unwrap();
    let waits: Vec<u128> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    (0..2000)
                        .map(|_| s.entry("t").try_enter().unwrap().wait().as_millis())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let mut sorted = waits.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        (0..8000).collect::<Vec<u128>>(),
        "every slot exactly once"
    );
}

/// The per-second passes a warm-up rule allows, computed straight from the formula.
fn warm_up_model(t: f64, p: f64, c: f64, seconds: usize) -> Vec<u64> {
    let warning = (p * t / (c - 1.0)).floor();
    let max = warning + (2.0 * p * t / (1.0 + c)).floor();
    let slope = (c - 1.0) / t / (max - warning);
    let mut stored = max;
    let mut out = Vec::new();
    let mut prev = 0.0;
    for s in 0..seconds {
        if s > 0 {
            let refill = stored < warning || (stored > warning && prev < t.floor() / c);
            if refill {
                stored += t;
            }
            stored = (stored.min(max) - prev).max(0.0);
        }
        let rate = if stored >= warning {
            1.0 / ((stored - warning) * slope + 1.0 / t)
        } else {
            t
        };
        let passes = rate.floor();
        out.push(passes as u64);
        prev = passes;
    }
    out
}

fn per_second(passes: &[u64], seconds: usize) -> Vec<u64> {
    let mut v = vec![0; seconds];
    for p in passes {
        v[(*p / 1000) as usize] += 1;
    }
    v
}

fn warm_up_rule(resource: &str) -> FlowRule {
    FlowRule {
        token_calculate_strategy: TokenCalculateStrategy::WarmUp,
        warm_up_period_sec: 10,
        warm_up_cold_factor: 3,
        ..rule(resource, 100.0)
    }
}

#[test]
fn warm_up_ramps_from_a_third_to_the_threshold() {
    let (clock, s) = instance();
    s.load_flow_rules(vec![warm_up_rule("w")]).unwrap();
    let got = per_second(&overdrive(&s, &clock, "w", 30_000, 1), 30);
    let model = warm_up_model(100.0, 10.0, 3.0, 30);
    assert_eq!(got[0], 33, "cold: T/c");
    for (sec, (g, m)) in got.iter().zip(&model).enumerate() {
        assert!(
            g.abs_diff(*m) <= 1,
            "second {sec}: got {g}, formula {m}\n{got:?}\n{model:?}"
        );
    }
    assert!(
        got.windows(2).all(|w| w[1] + 1 >= w[0]),
        "the ramp never falls: {got:?}"
    );
    let warm_at = got.iter().position(|p| *p >= 99).expect("reaches T");
    assert!(
        (8..=20).contains(&warm_at),
        "warm after {warm_at} s: {got:?}"
    );
}

#[test]
fn warm_up_with_throttling_paces_at_the_warm_up_rate() {
    let (clock, s) = instance();
    s.load_flow_rules(vec![FlowRule {
        control_behavior: ControlBehavior::Throttling,
        ..warm_up_rule("w")
    }])
    .unwrap();
    let got = per_second(&overdrive(&s, &clock, "w", 30_000, 1), 30);
    assert!((32..=34).contains(&got[0]), "cold pace ≈ T/c: {got:?}");
    assert!(got[29] >= 95, "warm pace ≈ T: {got:?}");
}

#[test]
fn reload_keeps_the_state_of_equal_rules() {
    let (clock, s) = instance();
    s.load_flow_rules(vec![warm_up_rule("w")]).unwrap();
    let warm = per_second(&overdrive(&s, &clock, "w", 25_000, 1), 25);
    assert!(warm[24] >= 99, "{warm:?}");
    // The same rule again (plus another): still warm.
    s.load_flow_rules(vec![rule("other", 1.0), warm_up_rule("w")])
        .unwrap();
    let after = per_second(&overdrive(&s, &clock, "w", 1000, 1), 1);
    assert!(after[0] >= 99, "equal rule kept its tokens: {after:?}");
    // A changed rule starts cold.
    s.load_flow_rules(vec![FlowRule {
        id: "changed".into(),
        ..warm_up_rule("w")
    }])
    .unwrap();
    clock.advance(Duration::from_secs(1));
    let cold = per_second(&overdrive(&s, &clock, "w", 1000, 1), 1);
    assert_eq!(cold[0], 33, "a new rule is cold again");
}

#[test]
fn memory_adaptive_threshold_follows_rss() {
    let clock = ManualClock::new();
    let mem = ManualSystemMetrics::new();
    let s = Sentinel::builder()
        .clock(clock.clone())
        .system_metrics(mem.clone())
        .build();
    s.load_flow_rules(vec![FlowRule {
        token_calculate_strategy: TokenCalculateStrategy::MemoryAdaptive,
        low_mem_usage_threshold: 100,
        high_mem_usage_threshold: 10,
        mem_low_water_mark_bytes: 1000,
        mem_high_water_mark_bytes: 2000,
        ..rule("m", 0.0)
    }])
    .unwrap();
    let passes_at = |rss: u64| {
        mem.set_rss_bytes(rss);
        clock.advance(Duration::from_secs(2));
        (0..200)
            .filter(|_| s.entry("m").try_enter().is_ok())
            .count()
    };
    assert_eq!(passes_at(500), 100);
    assert_eq!(passes_at(1500), 55);
    assert_eq!(passes_at(5000), 10);
}

#[test]
fn invalid_sets_change_nothing_and_name_every_bad_rule() {
    let (_clock, s) = instance();
    s.load_flow_rules(vec![rule("kept", 1.0)]).unwrap();
    let bad = vec![
        rule("ok-rule", 10.0),
        rule("", 10.0),
        rule("negative", -1.0),
        FlowRule {
            token_calculate_strategy: TokenCalculateStrategy::WarmUp,
            ..rule("warm", 10.0)
        },
        FlowRule {
            relation_strategy: RelationStrategy::AssociatedResource,
            ..rule("assoc", 10.0)
        },
    ];
    let err = s.load_flow_rules(bad).unwrap_err();
    let named: Vec<(usize, &str)> = err
        .errors()
        .iter()
        .map(|e| (e.index, e.error.field))
        .collect();
    assert_eq!(
        named,
        [
            (1, "resource"),
            (2, "threshold"),
            (3, "warmUpPeriodSec"),
            (4, "refResource")
        ]
    );
    let text = err.to_string();
    assert!(
        text.contains("rule #3") && text.contains("\"warm\""),
        "{text}"
    );
    assert_eq!(s.flow_rules(), vec![rule("kept", 1.0)]);
}

#[test]
fn rules_round_trip_through_json() {
    let rules = vec![
        warm_up_rule("w"),
        throttling("t", 5.0, 100),
        FlowRule {
            relation_strategy: RelationStrategy::AssociatedResource,
            ref_resource: "x".into(),
            ..rule("a", 1.0)
        },
    ];
    let json = serde_json::to_string(&rules).unwrap();
    let back: Vec<FlowRule> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, rules);
}
