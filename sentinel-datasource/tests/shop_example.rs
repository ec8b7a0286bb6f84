//! The multi-kind example of the crate docs (`docs/shop.yaml`) loads through a pipeline of
//! every kind as the rules its comments describe, and writes out every field that decides
//! what a rule means, so that it cannot rot.

use sentinel_core::circuit_breaker::Strategy;
use sentinel_core::flow::ControlBehavior;
use sentinel_core::hotspot::MetricType;
use sentinel_core::system::{AdaptiveStrategy, SystemMetric};
use sentinel_core::{ParamValue, RuleCounts, Sentinel};
use sentinel_datasource::{Format, Pipeline};

const SHOP: &str = include_str!("../docs/shop.yaml");

#[test]
fn the_shop_example_loads_every_kind() {
    let sentinel = Sentinel::new();
    let pipeline = Pipeline::builder(&sentinel).all_kinds().build();
    pipeline
        .apply(SHOP.as_bytes(), Format::Yaml)
        .unwrap_or_else(|e| panic!("docs/shop.yaml does not load: {e}"));
    assert_eq!(
        sentinel.rule_counts(),
        RuleCounts {
            flow: 2,
            isolation: 1,
            circuit_breaker: 2,
            hotspot: 2,
            system: 1,
        }
    );

    let flow = sentinel.flow_rules();
    assert_eq!(
        (flow[0].resource.as_str(), flow[0].threshold),
        ("GET /items", 200.0)
    );
    assert_eq!(flow[1].control_behavior, ControlBehavior::Throttling);
    assert_eq!(sentinel.isolation_rules()[0].threshold, 8);

    let breakers = sentinel.circuit_breaker_rules();
    assert_eq!(breakers[0].strategy, Strategy::SlowRequestRatio);
    assert_eq!(breakers[0].max_allowed_rt_ms, 800);
    assert_eq!(breakers[1].strategy, Strategy::ErrorCount);
    assert!(breakers.iter().all(|b| b.resource == "payments"));

    let hot = sentinel.hotspot_rules();
    assert_eq!(
        (hot[0].metric_type, hot[0].param_index),
        (MetricType::Qps, 0)
    );
    assert_eq!(hot[0].specific_items[&ParamValue::Int(42)], 100);
    assert_eq!(
        (hot[1].metric_type, hot[1].param_key.as_str()),
        (MetricType::Concurrency, "user")
    );
    assert_eq!(hot[1].specific_items[&ParamValue::from("load-tester")], 50);

    let system = sentinel.system_rules();
    assert_eq!(
        (system[0].metric_type, system[0].strategy),
        (SystemMetric::CpuUsage, AdaptiveStrategy::Bbr)
    );
}

/// The fields whose default would change what a rule does are written in every rule of
/// the example, whatever the crate requires today.
#[test]
fn the_shop_example_writes_every_meaningful_field() {
    let doc: serde_json::Value = serde_saphyr::from_str(SHOP).expect("YAML");
    let must_have = |section: &str, fields: &[&str]| {
        let rules = doc[section]
            .as_array()
            .unwrap_or_else(|| panic!("no {section}"));
        assert!(!rules.is_empty(), "{section} is empty");
        for (n, rule) in rules.iter().enumerate() {
            for field in fields {
                assert!(
                    rule.get(field).is_some(),
                    "{section}[{n}] leaves out {field}"
                );
            }
        }
        rules.clone()
    };
    must_have(
        "flow",
        &[
            "id",
            "resource",
            "tokenCalculateStrategy",
            "controlBehavior",
            "threshold",
        ],
    );
    must_have("isolation", &["id", "resource", "metricType", "threshold"]);
    let breakers = must_have(
        "circuitBreaker",
        &[
            "id",
            "resource",
            "strategy",
            "threshold",
            "retryTimeoutMs",
            "minRequestAmount",
            "statIntervalMs",
        ],
    );
    for b in &breakers {
        if b["strategy"] == "SlowRequestRatio" {
            assert!(b["maxAllowedRtMs"].as_u64().is_some_and(|ms| ms > 0), "{b}");
        }
    }
    let hot = must_have(
        "hotspot",
        &["id", "resource", "metricType", "threshold", "specificItems"],
    );
    for h in &hot {
        assert!(
            h.get("paramIndex").is_some() || h.get("paramKey").is_some(),
            "{h}"
        );
        for item in h["specificItems"].as_array().unwrap() {
            assert!(item["valKind"].is_string(), "valKind by name: {item}");
        }
    }
    must_have("system", &["id", "metricType", "triggerCount", "strategy"]);
}

/// The rules file of the README's production example loads as the README says.
#[test]
fn the_readme_rules_file_loads() {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("```yaml\n")
        .expect("the README shows a rules file")
        + "```yaml\n".len();
    let end = start + readme[start..].find("```").expect("the YAML block ends");
    let sentinel = Sentinel::new();
    Pipeline::builder(&sentinel)
        .all_kinds()
        .build()
        .apply(&readme.as_bytes()[start..end], Format::Yaml)
        .unwrap_or_else(|e| panic!("the README's rules file does not load: {e}"));
    let counts = sentinel.rule_counts();
    assert_eq!(
        (counts.flow, counts.hotspot, counts.circuit_breaker),
        (1, 1, 1)
    );
    let hot = &sentinel.hotspot_rules()[0];
    assert_eq!(hot.metric_type, MetricType::Qps);
    assert_eq!(hot.specific_items.get(&ParamValue::from(42)), Some(&100));
    assert_eq!(
        sentinel.circuit_breaker_rules()[0].strategy,
        Strategy::ErrorRatio
    );
}
