//! Regressions found by a review of the issue-12 fixes: variants of each fault kind in
//! other rule kinds, shapes and races.

mod common;

use common::{flow, instance, isolation, ms, tries};

use std::sync::Barrier;
use std::time::Duration;

use sentinel_core::circuit_breaker::{CircuitBreakerRule, State, Strategy};
use sentinel_core::flow::{ControlBehavior, FlowRule, RelationStrategy, TokenCalculateStrategy};
use sentinel_core::hotspot::{HotspotRule, MetricType};
use sentinel_core::isolation::IsolationRule;
use sentinel_core::system::{SystemMetric, SystemRule};
use sentinel_core::{BlockType, ManualClock, Sentinel, TrafficType};

// ---------------------------------------------------------------------------------------
// AssociatedResource with a valid statIntervalInMs above 2000 ms fails open (panic).

#[test]
fn associated_reject_intervals_are_those_the_other_statistics_serve() {
    let (_c, s) = instance();
    let rule = |interval| FlowRule {
        relation_strategy: RelationStrategy::AssociatedResource,
        ref_resource: "db".into(),
        stat_interval_in_ms: interval,
        ..flow("api", 1.0)
    };
    let e = s.load_flow_rules(vec![rule(3000)]).unwrap_err();
    assert_eq!(e.errors()[0].error.field, "statIntervalInMs");
    s.load_flow_rules(vec![rule(2000)]).unwrap();
    let _db = tries(&s, "db", 5);
    let r = s.entry("api").try_enter();
    assert_eq!(s.check_panics(), 0, "a check panicked");
    assert!(r.is_err());
}

// Custom statIntervalInMs windows keep the 1.1 T span bound whatever their length.

fn span_burst(interval: u32, first_ms: u64, second_ms: u64) -> (usize, usize) {
    let (clock, s) = instance();
    s.load_flow_rules(vec![FlowRule {
        stat_interval_in_ms: interval,
        ..flow("r", 100.0)
    }])
    .unwrap();
    clock.set(ms(first_ms));
    let a = tries(&s, "r", 300).len();
    clock.set(ms(second_ms));
    let b = tries(&s, "r", 300).len();
    (a, b)
}

#[test]
fn custom_interval_1001ms_keeps_the_span_bound() {
    // 1000 ms and 1001 ms lie 1 ms apart, inside one span of 1001 ms.
    let (a, b) = span_burst(1001, 1000, 1001);
    assert_eq!(a, 100);
    assert!(a + b <= 110, "{a} + {b} passes within 1 ms (limit 110)");
}

#[test]
fn custom_interval_1002ms_keeps_the_span_bound() {
    // 1002 ms -> 2 buckets of 501 ms: bound 1.5 T.
    let (a, b) = span_burst(1002, 500, 1002);
    assert!(a + b <= 110, "{a} + {b} passes within 502 ms (limit 110)");
}

// ---------------------------------------------------------------------------------------
// Steady overload under a threshold that is not a multiple of the bucket count gets
// less than T per interval.

fn steady(threshold: f64, secs: u64) -> usize {
    let (clock, s) = instance();
    s.load_flow_rules(vec![flow("r", threshold)]).unwrap();
    let mut passed = 0;
    for t in (0..secs * 1000).step_by(10) {
        clock.set(ms(t));
        for _ in 0..3 {
            if s.entry("r").try_enter().is_ok() {
                passed += 1;
            }
        }
    }
    passed
}

#[test]
fn steady_overload_gets_t_per_second_for_small_thresholds() {
    for t in [1.0, 5.0, 15.0, 100.0] {
        let got = steady(t, 100);
        let want = (t * 100.0) as usize;
        assert!(
            got * 100 >= want * 99,
            "threshold {t}/s under steady overload for 100 s: {got} passes, want ~{want}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// In-flight counts across "remove then re-add" and "add a rule next to an unchanged one".

#[test]
fn isolation_removed_and_readded_counts_entries_in_flight() {
    let (_c, s) = instance();
    s.load_isolation_rules(vec![isolation("r", 2)]).unwrap();
    let _held = tries(&s, "r", 2);
    s.load_isolation_rules(vec![]).unwrap();
    s.load_isolation_rules(vec![isolation("r", 2)]).unwrap();
    assert_eq!(tries(&s, "r", 5).len(), 0, "2 in flight under a limit of 2");
}

#[test]
fn a_stricter_isolation_rule_added_next_to_an_unchanged_one_counts_entries_in_flight() {
    let (_c, s) = instance();
    s.load_isolation_rules(vec![isolation("r", 5)]).unwrap();
    let _held = tries(&s, "r", 3);
    s.load_isolation_rules(vec![
        isolation("r", 5),
        IsolationRule {
            id: "strict".into(),
            ..isolation("r", 3)
        },
    ])
    .unwrap();
    assert_eq!(
        tries(&s, "r", 5).len(),
        0,
        "3 in flight under the new limit of 3"
    );
}

#[test]
fn isolation_added_while_entries_are_in_flight_counts_them() {
    // Go's isolation reads the resource's concurrency: entries already in flight count.
    let (_c, s) = instance();
    let _held = tries(&s, "r", 3);
    s.load_isolation_rules(vec![isolation("r", 3)]).unwrap();
    assert_eq!(tries(&s, "r", 5).len(), 0, "3 already in flight");
}

#[test]
fn system_concurrency_removed_and_readded_counts_entries_in_flight() {
    let (_c, s) = instance();
    let rule = SystemRule {
        metric_type: SystemMetric::Concurrency,
        trigger_count: 2.0,
        ..Default::default()
    };
    s.load_system_rules(vec![rule.clone()]).unwrap();
    let inbound = |s: &Sentinel| {
        s.entry_owned("r")
            .traffic(TrafficType::Inbound)
            .try_enter_owned()
    };
    let _held: Vec<_> = (0..2).map(|_| inbound(&s).unwrap()).collect();
    s.load_system_rules(vec![]).unwrap();
    s.load_system_rules(vec![rule]).unwrap();
    let more: Vec<_> = (0..5).filter_map(|_| inbound(&s).ok()).collect();
    assert_eq!(more.len(), 0, "2 inbound in flight under a trigger of 2");
}

#[test]
fn hot_concurrency_counts_follow_their_parameter_across_a_reload() {
    // Rule A limits argument 0, rule B argument 1. A is removed and B changed: B must keep
    // B's counts, not take over A's.
    let (_c, s) = instance();
    let hot = |param_index: i32, threshold: i64, id: &str| HotspotRule {
        id: id.into(),
        resource: "r".into(),
        metric_type: MetricType::Concurrency,
        param_index,
        threshold,
        ..Default::default()
    };
    s.load_hotspot_rules(vec![hot(0, 1, "by-user"), hot(1, 1, "by-tenant")])
        .unwrap();
    let _held = s.entry("r").arg("u1").arg("t1").try_enter().unwrap();
    s.load_hotspot_rules(vec![hot(1, 2, "by-tenant")]).unwrap();
    let more = (0..5)
        .filter_map(|i| {
            s.entry_owned("r")
                .arg(format!("u{}", i + 2))
                .arg("t1")
                .try_enter_owned()
                .ok()
        })
        .collect::<Vec<_>>();
    assert_eq!(more.len(), 1, "t1 has 1 in flight under a limit of 2");
}

// ---------------------------------------------------------------------------------------
// A Reject limit over a long window forgets what passed when its shape changes.

#[test]
fn a_per_minute_limit_changed_to_per_half_minute_counts_what_passed() {
    let (clock, s) = instance();
    s.load_flow_rules(vec![FlowRule {
        stat_interval_in_ms: 60_000,
        ..flow("r", 10.0)
    }])
    .unwrap();
    clock.set(ms(20_000));
    assert_eq!(tries(&s, "r", 10).len(), 10);
    clock.set(ms(25_000));
    // The 10 passes 5 s ago lie in every window of 30 s that ends now.
    s.load_flow_rules(vec![FlowRule {
        stat_interval_in_ms: 30_000,
        ..flow("r", 10.0)
    }])
    .unwrap();
    assert_eq!(tries(&s, "r", 10).len(), 0);
}

#[test]
fn a_per_minute_limit_removed_and_readded_counts_what_passed() {
    let (clock, s) = instance();
    let rule = FlowRule {
        stat_interval_in_ms: 60_000,
        ..flow("r", 10.0)
    };
    s.load_flow_rules(vec![rule.clone()]).unwrap();
    assert_eq!(tries(&s, "r", 10).len(), 10);
    clock.set(ms(5_000));
    s.load_flow_rules(vec![FlowRule {
        control_behavior: ControlBehavior::Throttling,
        ..rule.clone()
    }])
    .unwrap();
    s.load_flow_rules(vec![rule]).unwrap();
    assert_eq!(tries(&s, "r", 10).len(), 0);
}

// ---------------------------------------------------------------------------------------
// Half-open: a probe admitted late in a round holds its slot for the whole probe timeout.

/// An ErrorCount breaker (one error trips it, 1 s retry, 60 s probe timeout).
fn error_count_breaker(probe_num: u64) -> (ManualClock, Sentinel) {
    let clock = ManualClock::new();
    let s = Sentinel::builder()
        .clock(clock.clone())
        .probe_timeout(Duration::from_secs(60))
        .build();
    s.load_circuit_breaker_rules(vec![CircuitBreakerRule {
        resource: "r".into(),
        strategy: Strategy::ErrorCount,
        retry_timeout_ms: 1000,
        min_request_amount: 1,
        threshold: 1.0,
        probe_num,
        ..Default::default()
    }])
    .unwrap();
    (clock, s)
}

#[test]
fn a_fresh_probe_of_an_old_round_holds_its_slot() {
    let (clock, s) = error_count_breaker(2);
    let e = s.entry("r").try_enter().unwrap();
    e.set_error("boom");
    drop(e);
    assert_eq!(s.circuit_breaker_states("r"), vec![State::Open]);
    clock.set(ms(1_000));
    drop(s.entry("r").try_enter().expect("probe 1")); // succeeds, 1 of 2
    clock.set(ms(100_000));
    let _slow = s.entry("r").try_enter().expect("probe 2, in flight");
    clock.set(ms(100_001));
    let third = s.entry("r").try_enter();
    assert!(
        third.is_err(),
        "probe 2 has been silent for 1 ms, not for the 60 s probe timeout"
    );
}

// ---------------------------------------------------------------------------------------
// Retry-After: the advertised wait is enough and not much too long.

/// A small deterministic generator.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// The advertised wait is enough, and (`tight`) one millisecond less is not.
fn check_retry_after(rule: FlowRule, seed: u64, tight: bool) {
    let (clock, s) = instance();
    s.load_flow_rules(vec![rule.clone()]).unwrap();
    let mut rng = Lcg(seed);
    let mut now = 0u64;
    for _ in 0..400 {
        now += rng.next(150);
        clock.set(ms(now));
        let batch = 1 + rng.next(3) as u32;
        match s.entry("r").batch(batch).try_enter() {
            Ok(e) => drop(e),
            Err(b) => {
                let Some(wait) = b.retry_after() else {
                    continue;
                };
                let wait_ms = wait.as_nanos().div_ceil(1_000_000) as u64;
                if tight && wait_ms > 1 {
                    clock.set(ms(now + wait_ms - 1));
                    assert!(
                        s.entry("r").batch(batch).try_enter().is_err(),
                        "{rule:?}: at {now} ms told to wait {wait:?}, but 1 ms earlier passes"
                    );
                }
                now += wait_ms;
                clock.set(ms(now));
                assert!(
                    s.entry("r").batch(batch).try_enter().is_ok(),
                    "{rule:?}: told at {} ms to wait {wait:?} (batch {batch}), still blocked",
                    now - wait_ms
                );
            }
        }
    }
}

#[test]
fn retry_after_is_enough_and_tight_for_flow_windows() {
    for (t, interval) in [
        (5.0, 1000),
        (10.0, 1000),
        (7.0, 2000),
        (10.0, 60_000),
        (3.0, 1500),
    ] {
        for seed in 1..20 {
            check_retry_after(
                FlowRule {
                    stat_interval_in_ms: interval,
                    ..flow("r", t)
                },
                seed,
                true,
            );
        }
    }
}

#[test]
fn retry_after_is_enough_for_hot_token_buckets() {
    for (threshold, burst, duration) in [(3, 0, 1), (2, 1, 2), (5, 0, 10)] {
        for seed in 1..20 {
            let (clock, s) = instance();
            s.load_hotspot_rules(vec![HotspotRule {
                resource: "r".into(),
                metric_type: MetricType::Qps,
                threshold,
                burst_count: burst,
                duration_in_sec: duration,
                ..Default::default()
            }])
            .unwrap();
            let mut rng = Lcg(seed);
            let mut now = 0u64;
            for _ in 0..300 {
                now += rng.next(400);
                clock.set(Duration::from_micros(now * 1000 + rng.next(1000)));
                let batch = 1 + rng.next(2) as u32;
                if let Err(b) = s.entry("r").arg(1).batch(batch).try_enter() {
                    let Some(wait) = b.retry_after() else {
                        continue;
                    };
                    let at = clock.elapsed() + wait;
                    clock.set(at);
                    assert!(
                        s.entry("r").arg(1).batch(batch).try_enter().is_ok(),
                        "threshold {threshold} burst {burst} per {duration}s: waited {wait:?}, still blocked"
                    );
                    now = at.as_millis() as u64;
                }
            }
        }
    }
}

#[test]
fn retry_after_is_enough_for_warm_up() {
    for seed in 1..20 {
        check_retry_after(
            FlowRule {
                token_calculate_strategy: TokenCalculateStrategy::WarmUp,
                warm_up_period_sec: 5,
                ..flow("r", 20.0)
            },
            seed,
            // The wait holds for the coldest rate the rule may fall back to: enough, and
            // longer than needed while the rule stays warm.
            false,
        );
    }
}

// ---------------------------------------------------------------------------------------
// Races: many threads, several rule kinds, batches.

#[test]
fn racing_batches_never_overshoot_any_qps_limit() {
    let (clock, s) = instance();
    s.load_flow_rules(vec![
        flow("direct", 5.0),
        FlowRule {
            stat_interval_in_ms: 60_000,
            ..flow("minute", 5.0)
        },
        FlowRule {
            token_calculate_strategy: TokenCalculateStrategy::WarmUp,
            warm_up_period_sec: 10,
            ..flow("warm", 15.0)
        },
        // Two rules on one resource: the second refuses what the first admitted.
        flow("two", 5.0),
        flow("two", 3.0),
    ])
    .unwrap();
    s.load_isolation_rules(vec![isolation("iso", 3)]).unwrap();
    let barrier = Barrier::new(4);
    for round in 0..300u64 {
        clock.set(Duration::from_secs(200 * round));
        let passed: Vec<(u64, u64, u64, u64)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        barrier.wait();
                        let mut got = (0, 0, 0, 0);
                        for _ in 0..3 {
                            if s.entry("direct").batch(2).try_enter().is_ok() {
                                got.0 += 2;
                            }
                            if s.entry("minute").batch(2).try_enter().is_ok() {
                                got.1 += 2;
                            }
                            if s.entry("two").batch(2).try_enter().is_ok() {
                                got.2 += 2;
                            }
                            if let Ok(e) = s.entry("iso").batch(2).try_enter() {
                                got.3 += 2;
                                std::mem::forget(e); // keep in flight
                            }
                        }
                        got
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let sum = passed.iter().fold((0, 0, 0, 0), |a, b| {
            (a.0 + b.0, a.1 + b.1, a.2 + b.2, a.3 + b.3)
        });
        assert!(
            sum.0 <= 5 && sum.1 <= 5 && sum.2 <= 3,
            "round {round}: {sum:?}"
        );
        assert!(sum.3 <= 3, "round {round}: isolation {sum:?}");
        if round == 0 {
            assert!(sum.3 > 0);
        }
        s.load_isolation_rules(vec![]).unwrap();
        s.load_isolation_rules(vec![isolation("iso", 3)]).unwrap();
    }
    assert_eq!(s.check_panics(), 0);
}

// ---------------------------------------------------------------------------------------
// Reject -> Throttling -> Reject and QPS -> Concurrency on reload with entries in flight.

#[test]
fn reloads_that_change_kind_with_entries_in_flight_leak_nothing() {
    let (clock, s) = instance();
    let hot = |metric_type, threshold| HotspotRule {
        resource: "r".into(),
        metric_type,
        threshold,
        ..Default::default()
    };
    s.load_hotspot_rules(vec![hot(MetricType::Concurrency, 2)])
        .unwrap();
    s.load_isolation_rules(vec![isolation("r", 2)]).unwrap();
    s.load_flow_rules(vec![flow("r", 100.0)]).unwrap();
    let held: Vec<_> = (0..2)
        .map(|_| s.entry_owned("r").arg("v").try_enter_owned().unwrap())
        .collect();
    s.load_hotspot_rules(vec![hot(MetricType::Qps, 100)])
        .unwrap();
    s.load_flow_rules(vec![FlowRule {
        control_behavior: ControlBehavior::Throttling,
        max_queueing_time_ms: 1000,
        ..flow("r", 100.0)
    }])
    .unwrap();
    s.load_hotspot_rules(vec![hot(MetricType::Concurrency, 2)])
        .unwrap();
    drop(held);
    clock.advance(Duration::from_secs(2));
    let again: Vec<_> = (0..5)
        .filter_map(|_| s.entry_owned("r").arg("v").try_enter_owned().ok())
        .collect();
    assert_eq!(again.len(), 2, "the exits released everything");
    drop(again);
    assert_eq!(s.resource_stats("r").unwrap().concurrency, 0);
}

#[test]
fn panics_stay_zero() {
    // A sanity check that the probes above would see a failing-open panic.
    let (_c, s) = instance();
    assert_eq!(s.check_panics(), 0);
    let _ = BlockType::Flow;
}

#[test]
fn custom_interval_100ms_keeps_the_span_bound() {
    // 100 ms -> one bucket of 100 ms: bound 2 T. 99 ms and 100 ms lie 1 ms apart.
    let (clock, s) = instance();
    s.load_flow_rules(vec![FlowRule {
        stat_interval_in_ms: 100,
        ..flow("r", 10.0)
    }])
    .unwrap();
    clock.set(ms(99));
    let a = tries(&s, "r", 50).len();
    clock.set(ms(100));
    let b = tries(&s, "r", 50).len();
    assert!(
        a + b <= 11,
        "{a} + {b} passes within 1 ms under 10 per 100 ms"
    );
}

#[test]
fn warm_up_retry_after_is_enough_after_a_lull() {
    // Minimal case found by retry_after_is_enough_for_warm_up (seed 1).
    let (clock, s) = instance();
    s.load_flow_rules(vec![FlowRule {
        token_calculate_strategy: TokenCalculateStrategy::WarmUp,
        warm_up_period_sec: 5,
        ..flow("r", 20.0)
    }])
    .unwrap();
    let script: &[(u64, u32)] = &[
        (74, 1),
        (170, 1),
        (254, 3),
        (1000, 2),
        (1200, 2),
        (1323, 2),
        (1425, 1),
        (2100, 2),
        (2300, 3),
        (2400, 1),
    ];
    for &(t, batch) in script {
        clock.set(ms(t));
        drop(
            s.entry("r")
                .batch(batch)
                .try_enter()
                .expect("passes in the recorded run"),
        );
    }
    clock.set(ms(2527));
    let b = s.entry("r").batch(2).try_enter().unwrap_err();
    let wait = b.retry_after().unwrap();
    clock.set(ms(2527) + wait);
    assert!(
        s.entry("r").batch(2).try_enter().is_ok(),
        "told to wait {wait:?} at 2527 ms; still refused at {:?}",
        ms(2527) + wait
    );
}

#[test]
fn a_resource_handle_taken_while_the_table_was_full_is_checked_once_ruled() {
    let clock = ManualClock::new();
    let s = Sentinel::builder().clock(clock).max_resources(4).build();
    for i in 0..10 {
        drop(s.entry(&format!("scan-{i}")).try_enter().unwrap());
    }
    let handle = s.resource("checkout");
    s.load_flow_rules(vec![flow("checkout", 0.0)]).unwrap();
    assert!(s.entry("checkout").try_enter().is_err(), "by name: checked");
    assert!(
        handle.entry().try_enter().is_err(),
        "by handle ({}): a ruled resource must be checked",
        handle.name()
    );
}

#[test]
fn an_associated_ref_resource_gets_its_own_node_when_the_table_is_full() {
    let clock = ManualClock::new();
    let s = Sentinel::builder().clock(clock).max_resources(4).build();
    for i in 0..10 {
        drop(s.entry(&format!("scan-{i}")).try_enter().unwrap());
    }
    s.load_flow_rules(vec![
        FlowRule {
            relation_strategy: RelationStrategy::AssociatedResource,
            ref_resource: "db".into(),
            ..flow("api", 5.0)
        },
        flow("other", 100.0),
    ])
    .unwrap();
    // More scans: none of them is "db".
    for i in 10..20 {
        drop(s.entry(&format!("scan-{i}")).try_enter().unwrap());
    }
    assert!(
        s.entry("api").try_enter().is_ok(),
        "db has had no traffic; the scans are not db's passes"
    );
}

#[test]
fn retry_after_of_the_first_refusing_rule_ignores_a_saturated_later_rule() {
    let (clock, s) = instance();
    s.load_flow_rules(vec![
        flow("r", 1.0),
        FlowRule {
            stat_interval_in_ms: 60_000,
            ..flow("r", 2.0)
        },
    ])
    .unwrap();
    drop(s.entry("r").try_enter().unwrap());
    clock.set(ms(1100));
    drop(s.entry("r").try_enter().unwrap());
    clock.set(ms(1500));
    let b = s.entry("r").try_enter().unwrap_err();
    let wait = b.retry_after().unwrap();
    clock.set(ms(1500) + wait);
    let again = s.entry("r").try_enter();
    assert!(
        again.is_ok(),
        "told to wait {wait:?}; then refused again, now for {:?}",
        again.unwrap_err().retry_after()
    );
}

#[test]
fn a_failed_probe_reopens_for_the_retry_timeout_even_under_contention() {
    let (clock, s) = error_count_breaker(0);
    let fail = |s: &Sentinel| {
        if let Ok(e) = s.entry("r").try_enter() {
            e.set_error("boom");
            1
        } else {
            0
        }
    };
    assert_eq!(fail(&s), 1);
    let barrier = Barrier::new(4);
    let mut bad_rounds = Vec::new();
    let rounds: u64 = std::env::var("PROBE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    for round in 1..rounds {
        clock.set(Duration::from_secs(2 * round));
        let admitted: u32 = std::thread::scope(|scope| {
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        barrier.wait();
                        (0..20).map(|_| fail(&s)).sum::<u32>()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum()
        });
        // Time stands still: one probe, it fails, the breaker reopens for 1 s.
        let retry = s.entry("r").try_enter().unwrap_err().retry_after();
        if admitted != 1 || retry != Some(Duration::from_secs(1)) {
            bad_rounds.push((round, admitted, retry));
        }
    }
    assert!(
        bad_rounds.is_empty(),
        "{} bad rounds, first: {:?}",
        bad_rounds.len(),
        &bad_rounds[..bad_rounds.len().min(5)]
    );
}

#[test]
fn hot_concurrency_through_a_qps_rule_and_back_counts_entries_in_flight() {
    let (_c, s) = instance();
    let hot = |metric_type, threshold| HotspotRule {
        resource: "r".into(),
        metric_type,
        threshold,
        ..Default::default()
    };
    s.load_hotspot_rules(vec![hot(MetricType::Concurrency, 2)])
        .unwrap();
    let _held: Vec<_> = (0..2)
        .map(|_| s.entry_owned("r").arg("v").try_enter_owned().unwrap())
        .collect();
    s.load_hotspot_rules(vec![hot(MetricType::Qps, 100)])
        .unwrap();
    s.load_hotspot_rules(vec![hot(MetricType::Concurrency, 2)])
        .unwrap();
    let more: Vec<_> = (0..5)
        .filter_map(|_| s.entry_owned("r").arg("v").try_enter_owned().ok())
        .collect();
    assert_eq!(more.len(), 0, "v has 2 in flight under a limit of 2");
}
