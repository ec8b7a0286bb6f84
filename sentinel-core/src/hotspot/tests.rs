//! Behaviour tests of hot-parameter rules, driven by a manual clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{ControlBehavior, HotspotRule, MetricType};
use crate::{BlockType, ManualClock, ParamValue, Sentinel};

const R: &str = "GET /items/{id}";

fn instance(rules: Vec<HotspotRule>) -> (ManualClock, Sentinel) {
    let clock = ManualClock::new();
    let s = Sentinel::builder().clock(clock.clone()).build();
    s.load_hotspot_rules(rules).unwrap();
    (clock, s)
}

fn qps(threshold: i64, burst: i64) -> HotspotRule {
    HotspotRule {
        id: "hot-items".into(),
        resource: R.into(),
        metric_type: MetricType::Qps,
        threshold,
        burst_count: burst,
        ..Default::default()
    }
}

fn passes(s: &Sentinel, v: impl Into<ParamValue> + Clone, tries: usize) -> usize {
    (0..tries)
        .filter(|_| s.entry(R).arg(v.clone()).try_enter().is_ok())
        .count()
}

#[test]
fn qps_with_burst_admits_the_burst_then_the_rate() {
    let (clock, s) = instance(vec![HotspotRule {
        specific_items: [(ParamValue::from("iphone-17"), 100)].into_iter().collect(),
        ..qps(5, 2)
    }]);
    assert_eq!(
        passes(&s, "sku-1", 20),
        7,
        "threshold + burst for a fresh value"
    );
    assert_eq!(passes(&s, "sku-2", 20), 7, "values are independent");
    assert_eq!(
        passes(&s, "iphone-17", 200),
        102,
        "a specific item has its own threshold"
    );
    for _ in 0..3 {
        clock.advance(Duration::from_secs(1));
        assert_eq!(passes(&s, "sku-1", 20), 5, "then 5 per second");
    }
    clock.advance(Duration::from_millis(200));
    assert_eq!(passes(&s, "sku-1", 20), 1, "tokens come back continuously");
    clock.advance(Duration::from_secs(10));
    assert_eq!(
        passes(&s, "sku-1", 20),
        7,
        "never more than the bucket holds"
    );
}

#[test]
fn blocks_name_the_limited_value() {
    let (_clock, s) = instance(vec![qps(1, 0)]);
    assert!(s.entry(R).arg(42).try_enter().is_ok());
    let b = s.entry(R).arg(42).try_enter().unwrap_err();
    assert_eq!(b.block_type(), BlockType::HotSpotParamFlow);
    assert_eq!(b.value(), Some(&ParamValue::from(42)));
    assert!(b.to_string().contains("value 42"), "{b}");
    assert_eq!(b.rule_id(), Some("hot-items"));
}

#[test]
fn integers_of_any_width_share_a_key() {
    let (_clock, s) = instance(vec![qps(3, 0)]);
    assert!(s.entry(R).arg(5i32).try_enter().is_ok());
    assert!(s.entry(R).arg(5u64).try_enter().is_ok());
    assert!(s.entry(R).arg(5i64).try_enter().is_ok());
    assert!(s.entry(R).arg(5u8).try_enter().is_err());
}

#[test]
fn the_value_comes_from_the_key_then_the_index() {
    let (_clock, s) = instance(vec![HotspotRule {
        param_key: "user".into(),
        param_index: -1,
        ..qps(1, 0)
    }]);
    // The attachment wins over the arguments.
    assert!(
        s.entry(R)
            .arg("a")
            .attachment("user", "u1")
            .try_enter()
            .is_ok()
    );
    assert!(
        s.entry(R)
            .arg("b")
            .attachment("user", "u1")
            .try_enter()
            .is_err()
    );
    // Without it, the last argument.
    assert!(s.entry(R).arg("x").arg("last").try_enter().is_ok());
    assert!(s.entry(R).arg("y").arg("last").try_enter().is_err());
    // Without any, the rule is skipped.
    for _ in 0..5 {
        assert!(s.entry(R).try_enter().is_ok());
    }
}

#[test]
fn throttling_paces_each_value_at_200_micros_for_5000_per_second() {
    let (clock, s) = instance(vec![HotspotRule {
        control_behavior: ControlBehavior::Throttling,
        ..qps(5000, 0)
    }]);
    let mut times = Vec::new();
    for _ in 0..10_000 {
        if s.entry(R).arg("sku").try_enter().is_ok() {
            times.push(clock.elapsed().as_micros());
        }
        clock.advance(Duration::from_micros(10));
    }
    assert_eq!(times.len(), 500);
    assert!(
        times.windows(2).all(|w| w[1] - w[0] == 200),
        "{:?}",
        &times[..4]
    );
}

#[test]
fn throttling_queues_up_to_max_queueing_time() {
    let (_clock, s) = instance(vec![HotspotRule {
        control_behavior: ControlBehavior::Throttling,
        max_queueing_time_ms: 300,
        ..qps(10, 0)
    }]);
    let waits: Vec<Option<u128>> = (0..6)
        .map(|_| {
            s.entry(R)
                .arg(1)
                .try_enter()
                .ok()
                .map(|e| e.wait().as_millis())
        })
        .collect();
    assert_eq!(
        waits,
        [Some(0), Some(100), Some(200), Some(300), None, None]
    );
}

fn concurrency(threshold: i64, capacity: i64) -> HotspotRule {
    HotspotRule {
        resource: R.into(),
        metric_type: MetricType::Concurrency,
        threshold,
        params_max_capacity: capacity,
        ..Default::default()
    }
}

#[test]
fn concurrency_per_value_holds_under_eight_threads() {
    let (_clock, s) = instance(vec![concurrency(2, 0)]);
    let in_flight = AtomicU64::new(0);
    let peak = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..10_000 {
                    if let Ok(e) = s.entry(R).arg("hot").try_enter() {
                        let n = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(n, Ordering::SeqCst);
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        drop(e);
                    }
                }
            });
        }
    });
    assert!(peak.load(Ordering::SeqCst) <= 2);
    assert!(peak.load(Ordering::SeqCst) >= 1);
    // Everything was released: two more fit again.
    let a = s.entry(R).arg("hot").try_enter().unwrap();
    let b = s.entry(R).arg("hot").try_enter().unwrap();
    assert!(s.entry(R).arg("hot").try_enter().is_err());
    drop((a, b));
}

#[test]
fn a_value_in_flight_keeps_its_count_under_eviction_pressure() {
    let (_clock, s) = instance(vec![concurrency(1, 16)]);
    let held = s.entry(R).arg("held").try_enter().unwrap();
    for i in 0..10_000 {
        drop(s.entry(R).arg(i).try_enter().unwrap());
    }
    assert!(
        s.entry(R).arg("held").try_enter().is_err(),
        "still one in flight"
    );
    drop(held);
    let again = s.entry(R).arg("held").try_enter().unwrap();
    assert!(
        s.entry(R).arg("held").try_enter().is_err(),
        "count is 1, not negative"
    );
    drop(again);
    assert!(s.hotspot_tracked_values(R)[0] <= 17);
}

#[test]
fn a_million_values_stay_within_the_capacity() {
    let (_clock, s) = instance(vec![HotspotRule {
        params_max_capacity: 10_000,
        ..qps(5, 0)
    }]);
    for i in 0..1_000_000u64 {
        drop(s.entry(R).arg(i).try_enter());
    }
    assert_eq!(s.hotspot_tracked_values(R), [10_000]);
}

#[test]
fn invalid_rules_name_their_field() {
    let s = Sentinel::builder().build();
    let err = s
        .load_hotspot_rules(vec![
            qps(-1, 0),
            HotspotRule {
                duration_in_sec: 0,
                ..qps(1, 0)
            },
            HotspotRule {
                specific_items: [(ParamValue::from(1), -5)].into_iter().collect(),
                ..qps(1, 0)
            },
        ])
        .unwrap_err();
    let fields: Vec<&str> = err.errors().iter().map(|e| e.error.field).collect();
    assert_eq!(fields, ["threshold", "durationInSec", "specificItems"]);
}

#[test]
fn specific_items_round_trip_through_go_json() {
    let rule = HotspotRule {
        specific_items: [
            (ParamValue::from(42), 5),
            (ParamValue::from("vip"), 100),
            (ParamValue::from(true), 1),
            (ParamValue::from(2.5), 9),
        ]
        .into_iter()
        .collect(),
        ..qps(50, 10)
    };
    let json = serde_json::to_value(&rule).unwrap();
    assert_eq!(json["specificItems"][0]["valKind"], 0);
    assert_eq!(json["specificItems"][0]["valStr"], "42");
    let back: HotspotRule = serde_json::from_value(json).unwrap();
    assert_eq!(back, rule);
    let bad = serde_json::from_str::<HotspotRule>(
        r#"{"resource": "r", "specificItems": [{"valKind": 0, "valStr": "x", "threshold": 1}]}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(
        bad.contains(r#"valStr "x" is not an Int (valKind 0)"#),
        "{bad}"
    );
    for (item, error) in [
        (
            r#"{"valKind": "Bool", "valStr": "yes", "threshold": 1}"#,
            r#"valStr "yes" is not a Bool (valKind 2)"#,
        ),
        (
            r#"{"valKind": 3, "valStr": "1,5", "threshold": 1}"#,
            r#"valStr "1,5" is not a Float64 (valKind 3)"#,
        ),
        (
            r#"{"valKind": 7, "valStr": "1", "threshold": 1}"#,
            "unknown valKind 7; expected 0 (Int), 1 (String), 2 (Bool) or 3 (Float64)",
        ),
    ] {
        let doc = format!(
            r#"{{"resource": "r", "specificItems": [{{"valKind": 1, "valStr": "a", "threshold": 1}}, {item}]}}"#
        );
        let bad = serde_json::from_str::<HotspotRule>(&doc)
            .unwrap_err()
            .to_string();
        assert!(bad.contains(error), "{bad}");
    }
    let named: HotspotRule = serde_json::from_str(
        r#"{"resource": "r", "specificItems": [{"valKind": "KindString", "valStr": "vip", "threshold": 3}, {"valKind": "int", "valStr": "7", "threshold": 1}]}"#,
    )
    .unwrap();
    assert_eq!(named.specific_items[&ParamValue::from("vip")], 3);
    assert_eq!(named.specific_items[&ParamValue::from(7)], 1);
    // A whole number without quotes is its digits; other unquoted values are refused.
    let bare: HotspotRule = serde_json::from_str(
        r#"{"resource": "r", "specificItems": [{"valKind": 0, "valStr": 42, "threshold": 3}]}"#,
    )
    .unwrap();
    assert_eq!(bare.specific_items[&ParamValue::from(42)], 3);
    let bad = serde_json::from_str::<HotspotRule>(
        r#"{"resource": "r", "specificItems": [{"valKind": 2, "valStr": true, "threshold": 3}]}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(bad.contains("expected the value as a string"), "{bad}");
}

/// Runs `f` with a subscriber that keeps every `tracing` event of this thread, one line
/// each.
fn logged(f: impl FnOnce()) -> Vec<String> {
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let out = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    out.lines().map(str::to_string).collect()
}

fn kind_warnings(lines: &[String]) -> Vec<&String> {
    lines
        .iter()
        .filter(|l| l.contains("none of its specificItems has"))
        .collect()
}

#[test]
fn a_string_against_int_items_warns_once_and_gets_the_rule_threshold() {
    let (clock, s) = instance(vec![HotspotRule {
        specific_items: [(ParamValue::from(42), 5)].into_iter().collect(),
        ..qps(2, 0)
    }]);
    let lines = logged(|| {
        assert_eq!(
            passes(&s, 42, 10),
            5,
            "the integer 42 gets its item's threshold"
        );
        assert_eq!(passes(&s, "abc", 10), 2);
    });
    assert!(
        kind_warnings(&lines).is_empty(),
        "integers match the items, and a string that is no integer could match none: {lines:?}"
    );

    let lines = logged(|| {
        assert_eq!(
            passes(&s, "42", 10),
            2,
            "the string \"42\" gets the rule's threshold"
        );
        clock.advance(Duration::from_secs(1));
        assert_eq!(passes(&s, "42", 10), 2);
        assert_eq!(passes(&s, "7", 10), 2);
    });
    let warnings = kind_warnings(&lines);
    assert_eq!(warnings.len(), 1, "once per rule: {lines:?}");
    let w = warnings[0];
    for field in [
        "WARN",
        "resource=GET /items/{id}",
        "rule_id=hot-items",
        "param_index=0",
        "value=42",
        "value_kind=\"String\"",
        "item_kinds=Int",
    ] {
        assert!(w.contains(field), "{field} in {w}");
    }
}

#[test]
fn values_of_the_items_kind_or_rules_without_items_never_warn() {
    let (_, s) = instance(vec![
        HotspotRule {
            specific_items: [(ParamValue::from("vip"), 5)].into_iter().collect(),
            ..qps(2, 0)
        },
        HotspotRule {
            id: "no items".into(),
            param_index: 1,
            ..qps(2, 0)
        },
    ]);
    let lines = logged(|| {
        for v in ["vip", "42", "x"] {
            drop(s.entry(R).arg(v).arg(42).try_enter());
        }
    });
    assert!(kind_warnings(&lines).is_empty(), "{lines:?}");
    let lines = logged(|| drop(s.entry(R).arg(42).try_enter()));
    assert_eq!(
        kind_warnings(&lines).len(),
        1,
        "an integer for string items: {lines:?}"
    );
}
