//! Rule documents in sentinel-golang's JSON formats (fixtures of our own in those formats).

use sentinel_core::Sentinel;
use sentinel_core::flow::{ControlBehavior, FlowRule, RelationStrategy, TokenCalculateStrategy};
use sentinel_core::isolation::IsolationRule;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn go_integer_enums_parse_to_the_expected_rules() {
    let rules: Vec<FlowRule> = serde_json::from_str(&fixture("flow-go.json")).unwrap();
    assert_eq!(rules.len(), 5);
    assert_eq!(rules[0].threshold, 200.0);
    assert_eq!(rules[1].control_behavior, ControlBehavior::Throttling);
    assert_eq!(rules[1].max_queueing_time_ms, 250);
    assert_eq!(
        rules[2].token_calculate_strategy,
        TokenCalculateStrategy::WarmUp
    );
    assert_eq!(
        (rules[2].warm_up_period_sec, rules[2].warm_up_cold_factor),
        (20, 4)
    );
    assert_eq!(
        rules[3].relation_strategy,
        RelationStrategy::AssociatedResource
    );
    assert_eq!(rules[3].ref_resource, "insert-orders");
    assert_eq!(
        rules[4].token_calculate_strategy,
        TokenCalculateStrategy::MemoryAdaptive
    );
    assert_eq!(rules[4].mem_high_water_mark_bytes, 1 << 30);
    assert!(rules.iter().all(|r| r.stat_interval_in_ms == 1000));
    Sentinel::builder().build().load_flow_rules(rules).unwrap();
}

#[test]
fn named_enums_give_the_same_rules_as_integers() {
    let ints: Vec<FlowRule> = serde_json::from_str(&fixture("flow-go.json")).unwrap();
    let names: Vec<FlowRule> = serde_json::from_str(&fixture("flow-named.json")).unwrap();
    assert_eq!(ints, names);
}

#[test]
fn isolation_documents_parse() {
    let rules: Vec<IsolationRule> = serde_json::from_str(&fixture("isolation.json")).unwrap();
    assert_eq!(rules[0].id, "pdf-workers");
    assert_eq!(rules[0].threshold, 6);
    assert_eq!(rules[1].resource, "bulk-export");
    Sentinel::builder()
        .build()
        .load_isolation_rules(rules)
        .unwrap();
}

#[test]
fn an_invalid_document_names_each_bad_rule_and_changes_nothing() {
    let s = Sentinel::builder().build();
    let good: Vec<FlowRule> = serde_json::from_str(&fixture("flow-go.json")).unwrap();
    s.load_flow_rules(good.clone()).unwrap();
    let bad: Vec<FlowRule> = serde_json::from_str(&fixture("bad-flow.json")).unwrap();
    let err = s.load_flow_rules(bad).unwrap_err();
    let text = err.to_string();
    for needle in [
        "rule #1",
        "`resource`",
        "rule #2",
        "\"below-zero\"",
        "`threshold`",
        "rule #3",
        "`warmUpPeriodSec`",
        "rule #4",
        "`refResource`",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    assert!(
        !text.contains("rule #0"),
        "the valid rule is not blamed:\n{text}"
    );
    assert_eq!(s.flow_rules(), good);
}

#[test]
fn a_bad_enum_value_is_a_clear_parse_error() {
    let e = serde_json::from_str::<Vec<FlowRule>>(r#"[{"resource": "r", "controlBehavior": 9}]"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown ControlBehavior 9"), "{e}");
    assert!(e.contains("1 (Throttling)"), "{e}");
}

#[test]
fn rules_in_force_serialise_to_go_compatible_json() {
    let rules: Vec<FlowRule> = serde_json::from_str(&fixture("flow-named.json")).unwrap();
    let s = Sentinel::builder().build();
    s.load_flow_rules(rules.clone()).unwrap();
    let json = serde_json::to_value(s.flow_rules()).unwrap();
    assert_eq!(
        json[1]["controlBehavior"], 1,
        "enums are written as Go's integers"
    );
    let back: Vec<FlowRule> = serde_json::from_value(json).unwrap();
    assert_eq!(back, rules);
}

#[test]
fn circuit_breaker_documents_parse_to_the_expected_rules() {
    use sentinel_core::circuit_breaker::{CircuitBreakerRule, Strategy};
    let rules: Vec<CircuitBreakerRule> =
        serde_json::from_str(&fixture("circuitbreaker.json")).unwrap();
    assert_eq!(
        rules[0],
        CircuitBreakerRule {
            id: "pay-slow".into(),
            resource: "call-payment".into(),
            strategy: Strategy::SlowRequestRatio,
            retry_timeout_ms: 4000,
            min_request_amount: 20,
            stat_interval_ms: 10_000,
            stat_sliding_window_bucket_count: 5,
            max_allowed_rt_ms: 250,
            threshold: 0.4,
            probe_num: 2,
        }
    );
    assert_eq!(rules[1].strategy, Strategy::ErrorRatio);
    assert_eq!(rules[1].stat_sliding_window_bucket_count, 1, "default");
    assert_eq!(
        (rules[2].strategy, rules[2].threshold),
        (Strategy::ErrorCount, 8.0)
    );
    let s = Sentinel::builder().build();
    s.load_circuit_breaker_rules(rules.clone()).unwrap();
    assert_eq!(s.circuit_breaker_rules(), rules);
}

#[test]
fn hotspot_documents_parse_and_go_items_limit_by_value() {
    use sentinel_core::hotspot::{ControlBehavior, HotspotRule, MetricType};
    use sentinel_core::{ManualClock, ParamValue};
    let rules: Vec<HotspotRule> = serde_json::from_str(&fixture("hotspot.json")).unwrap();
    assert_eq!(rules[0].metric_type, MetricType::Qps);
    assert_eq!(rules[0].control_behavior, ControlBehavior::Reject);
    assert_eq!((rules[0].threshold, rules[0].burst_count), (30, 5));
    assert_eq!(rules[0].specific_items.len(), 4);
    assert_eq!(
        rules[0].specific_items[&ParamValue::from("console-x")],
        1000
    );
    assert_eq!(rules[0].specific_items[&ParamValue::from(true)], 7);
    assert_eq!(rules[0].specific_items[&ParamValue::from(1.5)], 3);
    assert_eq!(rules[1].metric_type, MetricType::Concurrency);
    assert_eq!(
        (rules[1].param_index, rules[1].param_key.as_str()),
        (-1, "tenant")
    );

    let s = Sentinel::builder().clock(ManualClock::new()).build();
    s.load_hotspot_rules(rules).unwrap();
    // {"valKind": 0, "valStr": "42", "threshold": 2} limits the integer argument 42 (plus
    // the rule's burst of 5) whatever its Rust type.
    let passed = (0..20)
        .filter(|i| {
            let e = if i % 2 == 0 {
                s.entry("GET /sku/{id}").arg(42u16).try_enter()
            } else {
                s.entry("GET /sku/{id}").arg(42i64).try_enter()
            };
            e.is_ok()
        })
        .count();
    assert_eq!(passed, 7);
    let other = (0..50)
        .filter(|_| s.entry("GET /sku/{id}").arg(43).try_enter().is_ok())
        .count();
    assert_eq!(other, 35, "other values get the rule's threshold + burst");
}

#[test]
fn system_documents_parse_with_go_integers_and_names() {
    use sentinel_core::system::{AdaptiveStrategy, SystemMetric, SystemRule};
    let rules: Vec<SystemRule> = serde_json::from_str(&fixture("system.json")).unwrap();
    let got: Vec<(SystemMetric, f64, AdaptiveStrategy)> = rules
        .iter()
        .map(|r| (r.metric_type, r.trigger_count, r.strategy))
        .collect();
    assert_eq!(
        got,
        [
            (SystemMetric::CpuUsage, 0.75, AdaptiveStrategy::Bbr),
            (SystemMetric::Load, 12.0, AdaptiveStrategy::Bbr),
            (
                SystemMetric::Concurrency,
                500.0,
                AdaptiveStrategy::NoAdaptive
            ),
            (
                SystemMetric::InboundQps,
                8000.0,
                AdaptiveStrategy::NoAdaptive
            ),
            (SystemMetric::AvgRt, 300.0, AdaptiveStrategy::NoAdaptive),
        ]
    );
    let s = Sentinel::builder().build();
    s.load_system_rules(rules.clone()).unwrap();
    assert_eq!(s.system_rules(), rules);
    assert_eq!(serde_json::to_value(&rules[2]).unwrap()["strategy"], -1);
}
