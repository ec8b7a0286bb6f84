//! Behaviour tests of circuit breakers, driven by a manual clock.

use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use super::{CircuitBreakerRule, State, StateChange, StateListener, Strategy};
use crate::pipeline::{Check, CheckContext, ORDER_CIRCUIT_BREAKER, Verdict};
use crate::{BlockError, BlockType, ManualClock, Sentinel};

const R: &str = "call-coupon";

fn instance(rules: Vec<CircuitBreakerRule>) -> (ManualClock, Sentinel) {
    let clock = ManualClock::new();
    let s = Sentinel::builder().clock(clock.clone()).build();
    s.load_circuit_breaker_rules(rules).unwrap();
    (clock, s)
}

fn rule(strategy: Strategy, threshold: f64, min: u64) -> CircuitBreakerRule {
    CircuitBreakerRule {
        id: "cb".into(),
        resource: R.into(),
        strategy,
        retry_timeout_ms: 1000,
        min_request_amount: min,
        stat_interval_ms: 10_000,
        threshold,
        max_allowed_rt_ms: 100,
        ..Default::default()
    }
}

/// Completes one call that fails or not.
fn call(s: &Sentinel, fail: bool) -> Result<(), BlockError> {
    let e = s.entry(R).try_enter()?;
    if fail {
        e.set_error("boom");
    }
    Ok(())
}

fn state(s: &Sentinel) -> State {
    s.circuit_breaker_states(R)[0]
}

#[test]
fn error_count_trips_exactly_at_the_threshold() {
    let (_c, s) = instance(vec![rule(Strategy::ErrorCount, 3.0, 1)]);
    call(&s, true).unwrap();
    call(&s, false).unwrap();
    call(&s, true).unwrap();
    assert_eq!(state(&s), State::Closed, "2 errors < 3");
    call(&s, true).unwrap();
    assert_eq!(state(&s), State::Open, "3 errors >= 3");
    let b = s.entry(R).try_enter().unwrap_err();
    assert_eq!(b.block_type(), BlockType::CircuitBreaking);
    assert_eq!(b.snapshot(), Some(3.0));
    assert_eq!(b.rule_id(), Some("cb"));
}

#[test]
fn nothing_trips_below_the_minimum_request_amount() {
    let (_c, s) = instance(vec![rule(Strategy::ErrorCount, 1.0, 5)]);
    for _ in 0..4 {
        call(&s, true).unwrap();
    }
    assert_eq!(
        state(&s),
        State::Closed,
        "4 completions < minRequestAmount 5"
    );
    call(&s, false).unwrap();
    assert_eq!(
        state(&s),
        State::Open,
        "the 5th completion reaches the minimum"
    );
}

#[test]
fn error_ratio_trips_exactly_at_the_threshold() {
    let (_c, s) = instance(vec![rule(Strategy::ErrorRatio, 0.5, 4)]);
    for fail in [true, false, false] {
        call(&s, fail).unwrap();
    }
    assert_eq!(state(&s), State::Closed, "below the minimum");
    call(&s, false).unwrap(); // 1/4
    call(&s, true).unwrap(); // 2/5
    assert_eq!(state(&s), State::Closed);
    call(&s, true).unwrap(); // 3/6 = 0.5
    assert_eq!(state(&s), State::Open);
}

#[test]
fn slow_means_strictly_slower_than_max_allowed_rt_on_the_instance_clock() {
    let (clock, s) = instance(vec![rule(Strategy::SlowRequestRatio, 0.5, 2)]);
    let slow_call = |d: Duration| {
        let e = s.entry(R).try_enter().unwrap();
        clock.advance(d);
        drop(e);
    };
    slow_call(Duration::from_millis(100)); // exactly the limit: not slow
    slow_call(Duration::from_millis(100));
    assert_eq!(state(&s), State::Closed, "0/2 slow");
    slow_call(Duration::from_micros(100_001)); // 1/3
    assert_eq!(state(&s), State::Closed);
    slow_call(Duration::from_millis(150)); // 2/4
    assert_eq!(state(&s), State::Open);
}

#[test]
fn the_window_forgets_old_completions() {
    let (clock, s) = instance(vec![CircuitBreakerRule {
        stat_interval_ms: 1000,
        ..rule(Strategy::ErrorCount, 2.0, 1)
    }]);
    call(&s, true).unwrap();
    clock.advance(Duration::from_millis(1000));
    call(&s, true).unwrap();
    assert_eq!(
        state(&s),
        State::Closed,
        "the first error left the 1 s window"
    );
    call(&s, true).unwrap();
    assert_eq!(state(&s), State::Open);
}

fn tripped(probe_num: u64) -> (ManualClock, Sentinel) {
    let (clock, s) = instance(vec![CircuitBreakerRule {
        probe_num,
        ..rule(Strategy::ErrorCount, 1.0, 1)
    }]);
    call(&s, true).unwrap();
    assert_eq!(state(&s), State::Open);
    (clock, s)
}

#[test]
fn open_blocks_until_the_retry_timeout_then_admits_exactly_the_probes() {
    for probe_num in [0, 1, 3] {
        let (clock, s) = tripped(probe_num);
        clock.advance(Duration::from_millis(999));
        assert!(s.entry(R).try_enter().is_err(), "still open at 999 ms");
        clock.advance(Duration::from_millis(1));
        let barrier = Barrier::new(8);
        let admitted = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    scope.spawn(|| {
                        let e = s.entry(R).try_enter();
                        barrier.wait(); // hold every probe until all 8 have tried
                        e.is_ok()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .filter(|ok| *ok)
                .count()
        });
        assert_eq!(admitted as u64, probe_num.max(1), "probeNum {probe_num}");
    }
}

#[test]
fn a_failed_probe_reopens_with_a_fresh_retry_timeout() {
    let (clock, s) = tripped(1);
    clock.advance(Duration::from_millis(1500));
    let probe = s.entry(R).try_enter().unwrap();
    assert_eq!(state(&s), State::HalfOpen);
    assert!(
        s.entry(R).try_enter().is_err(),
        "half-open blocks non-probes"
    );
    probe.set_error("still down");
    drop(probe);
    assert_eq!(state(&s), State::Open);
    clock.advance(Duration::from_millis(999));
    assert!(
        s.entry(R).try_enter().is_err(),
        "the timeout restarted at the probe"
    );
    clock.advance(Duration::from_millis(1));
    assert!(s.entry(R).try_enter().is_ok());
}

#[test]
fn enough_successful_probes_close_and_clear_the_window() {
    let (clock, s) = tripped(2);
    clock.advance(Duration::from_secs(1));
    let p1 = s.entry(R).try_enter().unwrap();
    let p2 = s.entry(R).try_enter().unwrap();
    assert!(s.entry(R).try_enter().is_err(), "only two probes");
    drop(p1);
    assert_eq!(state(&s), State::HalfOpen, "one success of two");
    drop(p2);
    assert_eq!(state(&s), State::Closed);
    // The window was cleared: one error trips again only now, not because of the old one.
    call(&s, false).unwrap();
    assert_eq!(state(&s), State::Closed);
    call(&s, true).unwrap();
    assert_eq!(state(&s), State::Open);
}

struct DenyAfterBreaker;
impl Check for DenyAfterBreaker {
    fn order(&self) -> u32 {
        ORDER_CIRCUIT_BREAKER + 1
    }
    fn check(&self, ctx: &CheckContext<'_>) -> Verdict {
        match ctx.attachment("deny") {
            Some(_) => Verdict::Block(BlockError::new(
                BlockType::Custom(9),
                ctx.resource_arc(),
                "denied",
            )),
            None => Verdict::Pass,
        }
    }
}

#[test]
fn a_probe_blocked_later_or_abandoned_does_not_leave_the_breaker_half_open() {
    let (clock, s) = tripped(1);
    s.add_check(Arc::new(DenyAfterBreaker));
    clock.advance(Duration::from_secs(1));
    let b = s.entry(R).attachment("deny", true).try_enter().unwrap_err();
    assert_eq!(b.block_type(), BlockType::Custom(9));
    assert_eq!(state(&s), State::Open, "back to open");
    // ... and the next caller may probe at once.
    let probe = s.entry(R).try_enter().unwrap();
    assert_eq!(state(&s), State::HalfOpen);
    probe.abandon();
    assert_eq!(state(&s), State::Open, "an abandoned probe reopens");
    let probe = s.entry(R).try_enter().unwrap();
    drop(probe);
    assert_eq!(state(&s), State::Closed);
}

#[test]
fn a_round_whose_probe_never_returns_is_given_up_after_the_probe_timeout() {
    let (clock, s) = tripped(1);
    clock.advance(Duration::from_secs(1));
    let leaked = s.entry(R).try_enter().unwrap();
    std::mem::forget(leaked);
    assert!(s.entry(R).try_enter().is_err());
    clock.advance(Duration::from_millis(59_999));
    assert!(s.entry(R).try_enter().is_err(), "still the round's probe");
    clock.advance(Duration::from_millis(1));
    assert!(s.entry(R).try_enter().is_ok(), "a new round starts");
}

type Transition = (State, State, Option<f64>);

struct Recorder {
    changes: parking_lot::Mutex<mpsc::Sender<Transition>>,
    removed: parking_lot::Mutex<mpsc::Sender<String>>,
}
impl StateListener for Recorder {
    fn on_change(&self, c: &StateChange) {
        let _ = self.changes.lock().send((c.from, c.to, c.snapshot));
    }
    fn on_removed(&self, rule: &CircuitBreakerRule) {
        let _ = self.removed.lock().send(rule.id.clone());
    }
}

#[test]
fn listeners_see_every_transition_once_in_order() {
    let (clock, s) = instance(vec![rule(Strategy::ErrorCount, 1.0, 1)]);
    s.on_circuit_breaker_state_change(|_| panic!("a broken listener"));
    let (tx, rx) = mpsc::channel();
    let (rtx, rrx) = mpsc::channel();
    s.add_circuit_breaker_listener(Arc::new(Recorder {
        changes: parking_lot::Mutex::new(tx),
        removed: parking_lot::Mutex::new(rtx),
    }));
    call(&s, true).unwrap(); // Closed -> Open
    clock.advance(Duration::from_secs(1));
    let p = s.entry(R).try_enter().unwrap(); // Open -> HalfOpen
    p.set_error("x");
    drop(p); // HalfOpen -> Open
    clock.advance(Duration::from_secs(1));
    drop(s.entry(R).try_enter().unwrap()); // Open -> HalfOpen -> Closed
    let expect = [
        (State::Closed, State::Open, Some(1.0)),
        (State::Open, State::HalfOpen, None),
        (State::HalfOpen, State::Open, Some(1.0)),
        (State::Open, State::HalfOpen, None),
        (State::HalfOpen, State::Closed, None),
    ];
    for e in expect {
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), e);
    }
    assert!(
        rx.recv_timeout(Duration::from_millis(50)).is_err(),
        "nothing more"
    );
    // Removing the rule drops the breaker and tells the listener.
    s.load_circuit_breaker_rules(vec![]).unwrap();
    assert_eq!(rrx.recv_timeout(Duration::from_secs(10)).unwrap(), "cb");
    assert!(s.circuit_breaker_states(R).is_empty());
    assert!(s.entry(R).try_enter().is_ok());
}

#[test]
fn concurrent_transitions_reach_listeners_in_order() {
    let (clock, s) = instance(vec![rule(Strategy::ErrorCount, 1.0, 1)]);
    let (tx, rx) = mpsc::channel();
    let tx = parking_lot::Mutex::new(tx);
    s.on_circuit_breaker_state_change(move |c| {
        let _ = tx.lock().send((c.from, c.to));
    });
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..200 {
                    let _ = call(&s, true);
                    clock.advance(Duration::from_millis(600));
                }
            });
        }
    });
    let mut last = State::Closed;
    let mut seen = 0;
    while let Ok((from, to)) = rx.recv_timeout(Duration::from_millis(500)) {
        assert_eq!(from, last, "event {seen} does not follow the previous one");
        last = to;
        seen += 1;
    }
    assert!(seen > 10, "{seen} transitions");
    assert_eq!(last, state(&s));
}

#[test]
fn reload_keeps_equal_breakers_and_replaces_changed_ones() {
    let (_clock, s) = tripped(1);
    s.load_circuit_breaker_rules(vec![
        CircuitBreakerRule {
            id: "other".into(),
            ..rule(Strategy::ErrorCount, 1.0, 1)
        },
        CircuitBreakerRule {
            probe_num: 1,
            ..rule(Strategy::ErrorCount, 1.0, 1)
        },
    ])
    .unwrap();
    assert_eq!(
        s.circuit_breaker_states(R),
        [State::Closed, State::Open],
        "the equal rule kept its open breaker; the new one starts closed"
    );
    assert_eq!(s.circuit_breaker_rules().len(), 2);
}

#[test]
fn invalid_rules_name_their_field() {
    let s = Sentinel::builder().build();
    let err = s
        .load_circuit_breaker_rules(vec![
            CircuitBreakerRule {
                retry_timeout_ms: 0,
                ..rule(Strategy::ErrorCount, 1.0, 1)
            },
            rule(Strategy::ErrorRatio, 1.5, 1),
            CircuitBreakerRule {
                stat_interval_ms: 0,
                ..rule(Strategy::ErrorCount, 1.0, 1)
            },
        ])
        .unwrap_err();
    let fields: Vec<&str> = err.errors().iter().map(|e| e.error.field).collect();
    assert_eq!(fields, ["retryTimeoutMs", "threshold", "statIntervalMs"]);
}

#[test]
fn a_slow_ratio_breaker_needs_a_positive_max_allowed_rt() {
    let zero = CircuitBreakerRule {
        max_allowed_rt_ms: 0,
        ..rule(Strategy::SlowRequestRatio, 0.5, 1)
    };
    let e = zero.validate().unwrap_err();
    assert_eq!(e.field, "maxAllowedRtMs");
    assert!(
        e.reason.starts_with("must be > 0 for SlowRequestRatio"),
        "{}",
        e.reason
    );
    // The error strategies do not read it.
    for strategy in [Strategy::ErrorRatio, Strategy::ErrorCount] {
        let rule = CircuitBreakerRule {
            strategy,
            ..zero.clone()
        };
        assert_eq!(rule.validate(), Ok(()), "{strategy}");
    }
}

/// Completes one call of `rt` on the instance clock, failing or not.
fn timed_call(clock: &ManualClock, s: &Sentinel, rt: Duration, fail: bool) {
    let e = s.entry(R).try_enter().unwrap();
    clock.advance(rt);
    if fail {
        e.set_error("boom");
    }
}

#[test]
fn a_good_completion_trips_a_ratio_breaker_when_old_ones_left_the_window() {
    for strategy in [Strategy::ErrorRatio, Strategy::SlowRequestRatio] {
        let (clock, s) = instance(vec![CircuitBreakerRule {
            stat_sliding_window_bucket_count: 10,
            ..rule(strategy, 0.5, 2)
        }]);
        let bad = |clock: &ManualClock, s: &Sentinel| match strategy {
            Strategy::ErrorRatio => timed_call(clock, s, Duration::ZERO, true),
            _ => timed_call(clock, s, Duration::from_millis(101), false),
        };
        for _ in 0..3 {
            timed_call(&clock, &s, Duration::ZERO, false);
        }
        clock.set(Duration::from_secs(5));
        bad(&clock, &s);
        bad(&clock, &s);
        assert_eq!(state(&s), State::Closed, "{strategy}: 2 of 5 is under 0.5");
        // The three good ones at 0 s leave the 10 s window; a good completion then finds
        // 2 bad of 3.
        clock.set(Duration::from_millis(10_500));
        timed_call(&clock, &s, Duration::ZERO, false);
        assert_eq!(state(&s), State::Open, "{strategy}: 2 of 3 is over 0.5");
    }
}

#[test]
fn a_slow_probe_holds_its_round_until_it_reports() {
    let (clock, s) = instance(vec![rule(Strategy::ErrorCount, 1.0, 1)]);
    call(&s, true).unwrap();
    clock.set(Duration::from_millis(1001));
    let probe = s.entry(R).try_enter().unwrap();
    clock.set(Duration::from_millis(2501));
    let b = s.entry(R).try_enter().unwrap_err();
    assert_eq!(
        b.block_type(),
        BlockType::CircuitBreaking,
        "the slow probe still runs"
    );
    assert_eq!(state(&s), State::HalfOpen);
    drop(probe);
    assert_eq!(state(&s), State::Closed, "its success decides the round");
}

#[test]
fn the_probe_timeout_is_configurable() {
    let clock = ManualClock::new();
    let s = Sentinel::builder()
        .clock(clock.clone())
        .probe_timeout(Duration::from_secs(5))
        .build();
    s.load_circuit_breaker_rules(vec![rule(Strategy::ErrorCount, 1.0, 1)])
        .unwrap();
    call(&s, true).unwrap();
    clock.advance(Duration::from_secs(1));
    std::mem::forget(s.entry(R).try_enter().unwrap());
    clock.advance(Duration::from_millis(4999));
    assert!(s.entry(R).try_enter().is_err());
    clock.advance(Duration::from_millis(1));
    assert!(s.entry(R).try_enter().is_ok(), "given up after 5 s");
}

#[test]
fn a_refusal_says_when_the_breaker_lets_a_probe_through() {
    let (clock, s) = tripped(1);
    clock.advance(Duration::from_millis(300));
    let b = s.entry(R).try_enter().unwrap_err();
    assert_eq!(b.retry_after(), Some(Duration::from_millis(700)));
    clock.advance(Duration::from_millis(700));
    let probe = s.entry(R).try_enter().unwrap();
    let b = s.entry(R).try_enter().unwrap_err();
    assert_eq!(
        b.retry_after(),
        Some(Duration::from_millis(1000)),
        "half-open: a failing probe reopens for the retry timeout"
    );
    drop(probe);
}
