//! Entry guards, the pipeline and statistics, through the public API.

use std::sync::Arc;
use std::time::Duration;

use sentinel_core::flow::FlowRule;
use sentinel_core::pipeline::{Check, CheckContext, ORDER_FLOW, Verdict};
use sentinel_core::{BlockType, ManualClock, Sentinel, TrafficType};

fn instance() -> (ManualClock, Sentinel) {
    let clock = ManualClock::new();
    (clock.clone(), Sentinel::builder().clock(clock).build())
}

#[test]
fn a_dropped_guard_exits_and_measures_rt_on_the_instance_clock() {
    let (clock, s) = instance();
    let e = s.entry("r").try_enter().unwrap();
    assert_eq!(s.resource_stats("r").unwrap().concurrency, 1);
    clock.advance(Duration::from_micros(300));
    drop(e);
    let st = s.resource_stats("r").unwrap();
    assert_eq!(st.concurrency, 0);
    assert_eq!(st.complete_qps, 1.0);
    assert_eq!(st.avg_rt_ms, 0.3, "sub-millisecond RT is kept");
    assert_eq!(st.min_rt_ms, Some(0.3));
    assert_eq!(st.max_concurrency, 1);
}

#[test]
fn a_blocked_entry_records_a_block_and_runs_no_exit() {
    let (_clock, s) = instance();
    s.load_flow_rules(vec![FlowRule {
        resource: "r".into(),
        threshold: 0.0,
        ..Default::default()
    }])
    .unwrap();
    let b = s.entry("r").batch(2).try_enter().unwrap_err();
    assert_eq!(b.block_type(), BlockType::Flow);
    let st = s.resource_stats("r").unwrap();
    assert_eq!(
        (st.pass_qps, st.block_qps, st.complete_qps),
        (0.0, 2.0, 0.0)
    );
    assert_eq!(st.concurrency, 0);
}

#[test]
fn errors_are_counted_on_exit() {
    let (_clock, s) = instance();
    let e = s.entry("r").try_enter().unwrap();
    e.set_error("upstream failed");
    assert_eq!(e.error().as_deref(), Some("upstream failed"));
    e.exit();
    drop(s.entry("r").try_enter().unwrap());
    let st = s.resource_stats("r").unwrap();
    assert_eq!((st.complete_qps, st.error_qps), (2.0, 1.0));
}

#[test]
fn inbound_entries_feed_the_inbound_node() {
    let (_clock, s) = instance();
    drop(
        s.entry("a")
            .traffic(TrafficType::Inbound)
            .try_enter()
            .unwrap(),
    );
    drop(
        s.entry("b")
            .traffic(TrafficType::Inbound)
            .try_enter()
            .unwrap(),
    );
    drop(s.entry("c").try_enter().unwrap());
    assert_eq!(s.inbound_stats().pass_qps, 2.0);
    assert_eq!(s.inbound_stats().complete_qps, 2.0);
}

#[test]
fn instances_do_not_share_anything() {
    let (_c1, a) = instance();
    let (_c2, b) = instance();
    a.load_flow_rules(vec![FlowRule {
        resource: "r".into(),
        threshold: 0.0,
        ..Default::default()
    }])
    .unwrap();
    assert!(a.entry("r").try_enter().is_err());
    assert!(b.entry("r").try_enter().is_ok());
    assert!(b.flow_rules().is_empty());
}

#[test]
fn owned_entries_outlive_the_borrow_and_exit_once() {
    let (_clock, s) = instance();
    let e = s.entry("r").try_enter().unwrap().into_owned();
    let handle = std::thread::spawn(move || drop(e));
    handle.join().unwrap();
    let e = s.entry_owned("r").try_enter().unwrap();
    drop(e);
    let name = String::from("r");
    let e: sentinel_core::Entry<'static> = s.entry(&name).try_enter_owned().unwrap();
    e.set_error("first");
    e.set_error("second");
    assert_eq!(e.error().as_deref(), Some("first"));
    drop(name);
    std::thread::spawn(move || drop(e)).join().unwrap();
    let st = s.resource_stats("r").unwrap();
    assert_eq!(
        (st.pass_qps, st.complete_qps, st.error_qps, st.concurrency),
        (3.0, 3.0, 1.0, 0)
    );
}

#[test]
fn resource_handles_skip_the_lookup_but_share_the_node() {
    let (_clock, s) = instance();
    let r = s.resource("r");
    assert_eq!(r.name(), "r");
    drop(r.entry().try_enter().unwrap());
    drop(s.entry("r").try_enter().unwrap());
    assert_eq!(s.resource_stats("r").unwrap().pass_qps, 2.0);
}

struct Panicky;
impl Check for Panicky {
    fn order(&self) -> u32 {
        ORDER_FLOW
    }
    fn check(&self, _ctx: &CheckContext<'_>) -> Verdict {
        panic!("bug in a custom check")
    }
}

#[test]
fn a_panicking_check_fails_open_and_is_counted() {
    let (_clock, s) = instance();
    s.add_check(Arc::new(Panicky));
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let results: Vec<bool> = (0..3).map(|_| s.entry("r").try_enter().is_ok()).collect();
    std::panic::set_hook(prev);
    assert_eq!(results, [true, true, true]);
    assert_eq!(s.check_panics(), 3);
}

#[test]
fn too_many_resources_share_the_overflow_node_but_ruled_ones_keep_their_own() {
    let s = Sentinel::builder()
        .clock(ManualClock::new())
        .max_resources(2)
        .build();
    for name in ["r1", "r2", "r4", "r5"] {
        drop(s.entry(name).try_enter().unwrap());
    }
    s.load_flow_rules(vec![FlowRule {
        resource: "r3".into(),
        threshold: 0.0,
        ..Default::default()
    }])
    .unwrap();
    assert!(s.resource_stats("r4").is_none(), "beyond the limit");
    assert_eq!(
        s.resource_stats(sentinel_core::OVERFLOW_RESOURCE)
            .unwrap()
            .pass_qps,
        2.0
    );
    assert!(
        s.entry("r3").try_enter().is_err(),
        "a ruled resource is always checked"
    );
    assert_eq!(s.resource_stats("r3").unwrap().block_qps, 1.0);
}

#[test]
fn counters_add_up_under_threads() {
    let (_clock, s) = instance();
    s.load_flow_rules(vec![FlowRule {
        resource: "r".into(),
        threshold: 10_000.0,
        ..Default::default()
    }])
    .unwrap();
    let (passed, blocked) = std::thread::scope(|scope| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    let (mut p, mut b) = (0u64, 0u64);
                    for i in 0..5000 {
                        match s.entry("r").try_enter() {
                            Ok(e) => {
                                if i % 10 == 0 {
                                    e.set_error("x");
                                }
                                p += 1
                            }
                            Err(_) => b += 1,
                        }
                    }
                    (p, b)
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap())
            .fold((0, 0), |a, x| (a.0 + x.0, a.1 + x.1))
    });
    assert_eq!(passed + blocked, 20_000);
    assert!(
        passed <= 10_000 + 4,
        "no overshoot beyond racing threads: {passed}"
    );
    let st = s.resource_stats("r").unwrap();
    assert_eq!(st.pass_qps as u64, passed);
    assert_eq!(st.block_qps as u64, blocked);
    assert_eq!(st.complete_qps as u64, passed);
    assert_eq!(st.concurrency, 0);
}

#[test]
fn last_second_stats_report_the_last_complete_second() {
    let (clock, s) = instance();
    clock.advance(Duration::from_millis(950));
    for _ in 0..4 {
        drop(s.entry("r").try_enter().unwrap());
    }
    assert_eq!(
        s.last_second_stats("r").unwrap().pass_qps,
        0.0,
        "second 0 still running"
    );
    clock.advance(Duration::from_millis(100));
    drop(s.entry("r").try_enter().unwrap());
    let last = s.last_second_stats("r").unwrap();
    assert_eq!((last.pass_qps, last.complete_qps), (4.0, 4.0));
    assert_eq!(
        s.resource_stats("r").unwrap().pass_qps,
        5.0,
        "the view spans both seconds"
    );
}

#[test]
fn resources_list_figures_and_the_rules_that_apply() {
    use sentinel_core::circuit_breaker::{CircuitBreakerRule, State, Strategy};
    let (clock, s) = instance();
    s.load_flow_rules(vec![FlowRule {
        resource: "a".into(),
        threshold: 10.0,
        ..Default::default()
    }])
    .unwrap();
    s.load_circuit_breaker_rules(vec![CircuitBreakerRule {
        resource: "b".into(),
        strategy: Strategy::ErrorCount,
        retry_timeout_ms: 100,
        threshold: 5.0,
        ..Default::default()
    }])
    .unwrap();
    for r in ["b", "a", "a"] {
        drop(s.entry(r).try_enter().unwrap());
    }
    clock.advance(Duration::from_secs(1));
    let list = s.resources();
    let names: Vec<&str> = list.iter().map(|r| r.stats.resource.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(list[0].stats.pass_qps, 2.0);
    assert_eq!(list[0].flow.len(), 1);
    assert!(list[0].circuit_breakers.is_empty());
    assert_eq!(list[1].circuit_breakers[0].1, State::Closed);
}
