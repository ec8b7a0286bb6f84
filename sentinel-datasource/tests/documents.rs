//! Rule documents in sentinel-golang's formats (fixtures of our own in those formats) and
//! the shapes this crate adds: custom resources and multi-kind documents.

mod common;

use common::fixture;
use sentinel_core::circuit_breaker::{CircuitBreakerRule, Strategy};
use sentinel_core::flow::{ControlBehavior, FlowRule, RelationStrategy, TokenCalculateStrategy};
use sentinel_core::hotspot::{self, HotspotRule, MetricType};
use sentinel_core::isolation::IsolationRule;
use sentinel_core::system::{AdaptiveStrategy, SystemMetric, SystemRule};
use sentinel_core::{ParamValue, Sentinel};
use sentinel_datasource::{
    CircuitBreaker, EnumStyle, ExportOptions, Flow, Format, Hotspot, Isolation, Pipeline, System,
    UnknownFields, UpdateError,
};

fn expected_flow_rules() -> Vec<FlowRule> {
    vec![
        FlowRule {
            id: "search-qps".into(),
            resource: "GET /search".into(),
            threshold: 300.0,
            ..Default::default()
        },
        FlowRule {
            id: "paced-webhooks".into(),
            resource: "POST /webhooks".into(),
            control_behavior: ControlBehavior::Throttling,
            threshold: 20.0,
            max_queueing_time_ms: 800,
            ..Default::default()
        },
        FlowRule {
            id: "warm-catalog".into(),
            resource: "GET /catalog/{sku}".into(),
            token_calculate_strategy: TokenCalculateStrategy::WarmUp,
            threshold: 150.0,
            warm_up_period_sec: 15,
            warm_up_cold_factor: 4,
            ..Default::default()
        },
        FlowRule {
            id: "reports-yield-to-writes".into(),
            resource: "read-reports".into(),
            threshold: 40.0,
            relation_strategy: RelationStrategy::AssociatedResource,
            ref_resource: "write-reports".into(),
            ..Default::default()
        },
    ]
}

fn expected_breakers() -> Vec<CircuitBreakerRule> {
    vec![
        CircuitBreakerRule {
            id: "shipping-slow".into(),
            resource: "call-shipping-quote".into(),
            strategy: Strategy::SlowRequestRatio,
            retry_timeout_ms: 4000,
            min_request_amount: 12,
            stat_interval_ms: 6000,
            stat_sliding_window_bucket_count: 6,
            max_allowed_rt_ms: 250,
            threshold: 0.4,
            probe_num: 2,
        },
        CircuitBreakerRule {
            id: "tax-errors".into(),
            resource: "call-tax-service".into(),
            strategy: Strategy::ErrorRatio,
            retry_timeout_ms: 8000,
            min_request_amount: 30,
            stat_interval_ms: 20000,
            threshold: 0.25,
            ..Default::default()
        },
        CircuitBreakerRule {
            id: "mailer-error-count".into(),
            resource: "send-mail".into(),
            strategy: Strategy::ErrorCount,
            retry_timeout_ms: 1500,
            min_request_amount: 1,
            stat_interval_ms: 1000,
            threshold: 8.0,
            ..Default::default()
        },
    ]
}

/// The (index, field) of every rule an error blames.
fn blamed(err: &UpdateError) -> Vec<(usize, &str)> {
    err.problems()
        .iter()
        .map(|p| (p.index, p.field.as_str()))
        .collect()
}

/// Loads a fixture through a fresh pipeline of one kind and returns the instance.
fn load<K: sentinel_datasource::RuleKind>(name: &str) -> Sentinel {
    let sentinel = Sentinel::new();
    Pipeline::for_kind::<K>(&sentinel)
        .apply(&fixture(name), Format::from_path(name.as_ref()))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    sentinel
}

#[test]
fn go_flow_json_parses_to_the_rules_it_describes() {
    assert_eq!(
        load::<Flow>("flow.json").flow_rules(),
        expected_flow_rules()
    );
}

#[test]
fn a_byte_order_mark_is_accepted() {
    for (name, format) in [("flow.json", Format::Json), ("flow.yaml", Format::Yaml)] {
        let mut text = b"\xEF\xBB\xBF".to_vec();
        text.extend(fixture(name));
        let sentinel = Sentinel::new();
        Pipeline::for_kind::<Flow>(&sentinel)
            .apply(&text, format)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(sentinel.flow_rules(), expected_flow_rules(), "{name}");
    }
}

#[test]
fn yaml_named_enums_and_custom_resource_forms_give_the_same_flow_rules() {
    for name in ["flow.yaml", "flow-named-enums.json", "crd-flowrules.yaml"] {
        assert_eq!(
            load::<Flow>(name).flow_rules(),
            expected_flow_rules(),
            "{name}"
        );
    }
}

#[test]
fn isolation_json_parses_to_the_rules_it_describes() {
    let expected = vec![
        IsolationRule {
            id: "thumbnail-workers".into(),
            resource: "render-thumbnail".into(),
            threshold: 4,
            ..Default::default()
        },
        IsolationRule {
            resource: "GET /export.csv".into(),
            threshold: 2,
            ..Default::default()
        },
    ];
    assert_eq!(
        load::<Isolation>("isolation.json").isolation_rules(),
        expected
    );
}

#[test]
fn circuit_breaker_json_and_its_percent_custom_resource_give_the_same_rules() {
    assert_eq!(
        load::<CircuitBreaker>("circuitbreaker.json").circuit_breaker_rules(),
        expected_breakers()
    );
    assert_eq!(
        load::<CircuitBreaker>("crd-circuitbreakerrules.yaml").circuit_breaker_rules(),
        expected_breakers()
    );
}

#[test]
fn hotspot_json_and_yaml_parse_to_the_rules_they_describe() {
    let expected = vec![
        HotspotRule {
            id: "hot-skus".into(),
            resource: "GET /sku/{id}".into(),
            metric_type: MetricType::Qps,
            control_behavior: hotspot::ControlBehavior::Reject,
            param_index: 0,
            threshold: 80,
            burst_count: 5,
            duration_in_sec: 2,
            params_max_capacity: 5000,
            specific_items: [
                (ParamValue::from("gift-card"), 1000),
                (ParamValue::Int(7), 3),
                (ParamValue::Bool(true), 1),
            ]
            .into_iter()
            .collect(),
            ..Default::default()
        },
        HotspotRule {
            id: "uploads-per-tenant".into(),
            resource: "POST /upload".into(),
            metric_type: MetricType::Concurrency,
            param_index: -1,
            threshold: 3,
            ..Default::default()
        },
    ];
    for name in ["hotspot.json", "hotspot.yaml"] {
        assert_eq!(load::<Hotspot>(name).hotspot_rules(), expected, "{name}");
    }
}

#[test]
fn system_json_and_its_percent_custom_resource_give_the_same_rules() {
    let rule = |id: &str, metric_type, trigger_count, strategy| SystemRule {
        id: id.into(),
        metric_type,
        trigger_count,
        strategy,
    };
    let expected = vec![
        rule(
            "cpu-shed",
            SystemMetric::CpuUsage,
            0.7,
            AdaptiveStrategy::Bbr,
        ),
        rule("load-shed", SystemMetric::Load, 6.5, AdaptiveStrategy::Bbr),
        rule(
            "inflight-ceiling",
            SystemMetric::Concurrency,
            1200.0,
            AdaptiveStrategy::NoAdaptive,
        ),
        rule(
            "edge-qps",
            SystemMetric::InboundQps,
            15000.0,
            AdaptiveStrategy::NoAdaptive,
        ),
        rule(
            "rt-ceiling",
            SystemMetric::AvgRt,
            250.0,
            AdaptiveStrategy::NoAdaptive,
        ),
    ];
    for name in ["system.json", "crd-systemrules.yaml"] {
        assert_eq!(load::<System>(name).system_rules(), expected, "{name}");
    }
}

#[test]
fn a_bad_set_is_rejected_naming_each_bad_rule_and_the_old_rules_stay() {
    let sentinel = load::<Flow>("flow.json");
    let pipeline = Pipeline::for_kind::<Flow>(&sentinel);
    let err = pipeline
        .apply(&fixture("bad-flow-rules.json"), Format::Json)
        .unwrap_err();
    assert_eq!(
        blamed(&err),
        [
            (1, "resource"),
            (2, "threshold"),
            (3, "warmUpPeriodSec"),
            (4, "refResource")
        ]
    );
    let text = err.to_string();
    assert!(
        text.contains("flow rule #2 (id \"below-zero\") on resource \"minus\": field `threshold`"),
        "{text}"
    );
    assert_eq!(sentinel.flow_rules(), expected_flow_rules());
    let status = pipeline.status();
    assert_eq!(status.last_error.as_ref().unwrap().error, err);
    assert_eq!(status.rules_of("flow"), Some(4));
}

#[test]
fn a_document_of_another_kind_is_refused_and_changes_nothing() {
    let sentinel = load::<Flow>("flow.json");
    let pipeline = Pipeline::for_kind::<Flow>(&sentinel);
    let err = pipeline
        .apply(&fixture("isolation.json"), Format::Json)
        .unwrap_err();
    assert_eq!(err.problems()[0].field, "metricType", "{err}");
    assert!(err.to_string().contains("another rule kind"), "{err}");
    let err = pipeline
        .apply(&fixture("circuitbreaker.json"), Format::Json)
        .unwrap_err();
    assert!(matches!(err, UpdateError::InvalidRules(_)), "{err}");
    let err = pipeline
        .apply(&fixture("crd-circuitbreakerrules.yaml"), Format::Yaml)
        .unwrap_err();
    assert_eq!(
        err,
        UpdateError::WrongKind {
            expected: "FlowRules".into(),
            found: "CircuitBreakerRules".into()
        }
    );
    assert_eq!(sentinel.flow_rules(), expected_flow_rules());
    assert_eq!(pipeline.status().updates_rejected, 3);
}

#[test]
fn yaml_and_json_lists_report_the_same_problems() {
    let json = br#"[
        {"resource": "a", "threshold": 1},
        {"id": "typo", "resource": "b", "threshhold": 2},
        {"resource": "c", "threshold": "three"},
        {"resource": "d", "controlBehavior": "Queue"}
    ]"#;
    let yaml = b"- {resource: a, threshold: 1}\n\
- {id: typo, resource: b, threshhold: 2}\n\
- {resource: c, threshold: three}\n\
- {resource: d, controlBehavior: Queue}\n";
    let sentinel = Sentinel::new();
    let pipeline = Pipeline::for_kind::<Flow>(&sentinel);
    let from_json = pipeline.apply(json, Format::Json).unwrap_err();
    let from_yaml = pipeline.apply(yaml, Format::Yaml).unwrap_err();
    let blamed: Vec<(usize, &str)> = from_yaml
        .problems()
        .iter()
        .map(|p| (p.index, p.field.as_str()))
        .collect();
    assert_eq!(
        blamed,
        [
            (1, "threshhold"),
            (1, "threshold"),
            (2, "threshold"),
            (3, "controlBehavior")
        ]
    );
    assert_eq!(from_yaml.problems()[0].id, "typo");
    let same_fields = |e: &UpdateError| {
        e.problems()
            .iter()
            .map(|p| p.field.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(same_fields(&from_json), same_fields(&from_yaml));
    assert!(sentinel.flow_rules().is_empty());
}

#[test]
fn a_misspelt_field_is_an_error_and_ignoring_unknown_fields_does_not_default_the_threshold() {
    let misspelt = br#"[{"resource": "GET /search", "threshhold": 10}]"#;
    let sentinel = Sentinel::new();
    let err = Pipeline::for_kind::<Flow>(&sentinel)
        .apply(misspelt, Format::Json)
        .unwrap_err();
    assert_eq!(blamed(&err), [(0, "threshhold"), (0, "threshold")]);
    assert!(sentinel.flow_rules().is_empty());
    let lenient = Pipeline::builder(&sentinel)
        .kind::<Flow>()
        .unknown_fields(UnknownFields::Ignore)
        .build();
    let err = lenient.apply(misspelt, Format::Json).unwrap_err();
    assert_eq!(blamed(&err), [(0, "threshold")], "{err}");
    assert!(sentinel.flow_rules().is_empty());
    lenient
        .apply(
            br#"[{"resource": "GET /search", "threshold": 10, "note": "Go ignores this"}]"#,
            Format::Json,
        )
        .unwrap();
    assert_eq!(sentinel.flow_rules().len(), 1);
}

#[test]
fn an_empty_document_keeps_the_rules_and_an_explicit_empty_list_clears_them() {
    let sentinel = load::<Flow>("flow.json");
    let pipeline = Pipeline::for_kind::<Flow>(&sentinel);
    for empty in [&b""[..], b"\n\n", b"# nothing yet\n", b"null"] {
        assert_eq!(
            pipeline.apply(empty, Format::Auto),
            Err(UpdateError::Empty),
            "{empty:?}"
        );
        assert_eq!(sentinel.flow_rules().len(), 4);
    }
    pipeline.apply(b"[]", Format::Json).unwrap();
    assert!(sentinel.flow_rules().is_empty());
}

#[test]
fn a_multi_kind_document_loads_every_section() {
    let sentinel = Sentinel::new();
    let pipeline = Pipeline::builder(&sentinel).all_kinds().build();
    let applied = pipeline
        .apply(&fixture("service.yaml"), Format::Yaml)
        .unwrap();
    assert!(applied.changed());
    assert_eq!(sentinel.flow_rules().len(), 2);
    assert_eq!(
        sentinel.flow_rules()[1].control_behavior,
        ControlBehavior::Throttling
    );
    assert_eq!(sentinel.isolation_rules()[0].threshold, 4);
    assert_eq!(
        sentinel.circuit_breaker_rules()[0].strategy,
        Strategy::ErrorCount
    );
    assert_eq!(
        sentinel.hotspot_rules()[0].specific_items[&ParamValue::from("gift-card")],
        1000
    );
    assert_eq!(sentinel.system_rules()[0].strategy, AdaptiveStrategy::Bbr);
    // A single-kind pipeline takes its own section of the same document.
    let other = Sentinel::new();
    Pipeline::for_kind::<Isolation>(&other)
        .apply(&fixture("service.yaml"), Format::Yaml)
        .unwrap();
    assert_eq!(other.isolation_rules(), sentinel.isolation_rules());
    assert!(other.flow_rules().is_empty());
}

#[test]
fn one_bad_section_leaves_every_kind_as_it_was() {
    let sentinel = Sentinel::new();
    let pipeline = Pipeline::builder(&sentinel).all_kinds().build();
    pipeline
        .apply(&fixture("service.yaml"), Format::Yaml)
        .unwrap();
    let before = (
        sentinel.flow_rules(),
        sentinel.isolation_rules(),
        sentinel.circuit_breaker_rules(),
    );
    let doc = b"flow:\n  - resource: changed\n    threshold: 1\n\
isolation: []\n\
circuitBreaker:\n  - resource: send-mail\n    strategy: ErrorRatio\n    retryTimeoutMs: 100\n    threshold: 2\n";
    let err = pipeline.apply(doc, Format::Yaml).unwrap_err();
    assert_eq!(err.problems().len(), 1, "{err}");
    assert_eq!(err.problems()[0].kind, "circuit breaker");
    assert_eq!(err.problems()[0].field, "threshold");
    let after = (
        sentinel.flow_rules(),
        sentinel.isolation_rules(),
        sentinel.circuit_breaker_rules(),
    );
    assert_eq!(after, before);
}

#[test]
fn a_kind_without_a_section_keeps_its_rules() {
    let sentinel = Sentinel::new();
    let pipeline = Pipeline::builder(&sentinel).all_kinds().build();
    pipeline
        .apply(&fixture("service.yaml"), Format::Yaml)
        .unwrap();
    let applied = pipeline
        .apply(b"{\"isolation\": []}", Format::Json)
        .unwrap();
    assert_eq!(applied.kinds.len(), 1);
    assert!(sentinel.isolation_rules().is_empty());
    assert_eq!(sentinel.flow_rules().len(), 2);
    assert_eq!(sentinel.circuit_breaker_rules().len(), 1);
}

/// An instance with the rules of every kind's fixture.
fn every_kind() -> Sentinel {
    let sentinel = Sentinel::new();
    let load = |name: &str, pipeline: Pipeline| {
        pipeline
            .apply(&fixture(name), Format::Json)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    };
    load("flow.json", Pipeline::for_kind::<Flow>(&sentinel));
    load("isolation.json", Pipeline::for_kind::<Isolation>(&sentinel));
    load(
        "circuitbreaker.json",
        Pipeline::for_kind::<CircuitBreaker>(&sentinel),
    );
    load("hotspot.json", Pipeline::for_kind::<Hotspot>(&sentinel));
    load("system.json", Pipeline::for_kind::<System>(&sentinel));
    sentinel
}

#[test]
fn exports_of_every_kind_in_both_enum_styles_and_formats_load_to_the_same_rules() {
    let all = every_kind();
    let pipeline = Pipeline::builder(&all).all_kinds().build();
    for enums in [EnumStyle::Names, EnumStyle::Integers] {
        for format in [Format::Json, Format::Yaml] {
            let text = pipeline
                .export_with(format, ExportOptions::default().enums(enums))
                .unwrap();
            let copy = Sentinel::new();
            Pipeline::builder(&copy)
                .all_kinds()
                .build()
                .apply(text.as_bytes(), format)
                .unwrap_or_else(|e| panic!("{enums:?} {format}: {e}\n{text}"));
            let what = format!("{enums:?} {format}:\n{text}");
            assert_eq!(copy.flow_rules(), all.flow_rules(), "{what}");
            assert_eq!(copy.isolation_rules(), all.isolation_rules(), "{what}");
            assert_eq!(
                copy.circuit_breaker_rules(),
                all.circuit_breaker_rules(),
                "{what}"
            );
            assert_eq!(copy.hotspot_rules(), all.hotspot_rules(), "{what}");
            assert_eq!(copy.system_rules(), all.system_rules(), "{what}");
        }
    }
}

#[test]
fn exports_write_enum_names_and_leave_out_defaults_or_integers_for_go() {
    let all = every_kind();
    let pipeline = Pipeline::builder(&all).all_kinds().build();
    let names = pipeline.export(Format::Json).unwrap();
    for written in [
        r#""controlBehavior": "Throttling""#,
        r#""tokenCalculateStrategy": "WarmUp""#,
        r#""strategy": "ErrorRatio""#,
        r#""metricType": "QPS""#,
        r#""valKind": "String""#,
        r#""metricType": "CpuUsage""#,
        r#""strategy": "BBR""#,
    ] {
        assert!(names.contains(written), "{written} in\n{names}");
    }
    // Defaults are left out, but never a required field: the error-count breaker's
    // strategy and an explicit zero threshold stay.
    for left_out in [
        r#""statIntervalInMs": 1000"#,
        r#""statIntervalMs": 1000"#,
        r#""controlBehavior": "Reject""#,
    ] {
        assert!(!names.contains(left_out), "{left_out} in\n{names}");
    }
    assert!(names.contains(r#""strategy": "ErrorCount""#), "{names}");
    assert!(
        names.find(r#""id": "search-qps""#) < names.find(r#""threshold": 300"#),
        "fields keep their order:\n{names}"
    );

    let go = pipeline
        .export_with(
            Format::Json,
            ExportOptions::default().enums(EnumStyle::Integers),
        )
        .unwrap();
    for written in [
        r#""controlBehavior": 1"#,
        r#""strategy": 1"#,
        r#""statIntervalInMs": 1000"#,
        r#""valKind": 1"#,
    ] {
        assert!(go.contains(written), "{written} in\n{go}");
    }
    assert!(!go.contains("\"Throttling\""), "{go}");
}

#[test]
fn a_custom_resource_must_write_the_fields_a_document_must() {
    let sentinel = Sentinel::new();
    let pipeline = Pipeline::builder(&sentinel).all_kinds().build();
    let err = pipeline
        .apply(
            b"apiVersion: datasource.sentinel.io/v1alpha1\nkind: CircuitBreakerRules\n\
              metadata: {name: b}\nspec:\n  rules:\n  - {resource: pay, retryTimeoutMs: 1000, threshold: 50}\n\
              ---\napiVersion: datasource.sentinel.io/v1alpha1\nkind: HotspotRules\n\
              metadata: {name: h}\nspec:\n  rules:\n  - {resource: item, threshold: 5}\n",
            Format::Yaml,
        )
        .unwrap_err();
    let fields: Vec<(&str, &str)> = err
        .problems()
        .iter()
        .map(|p| (p.kind, p.field.as_str()))
        .collect();
    assert_eq!(
        fields,
        [
            ("circuit breaker", "strategy"),
            ("circuit breaker", "maxAllowedRtMs"),
            ("hot parameter", "metricType")
        ],
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("field `strategy` is required: one of SlowRequestRatio (0), ErrorRatio (1), ErrorCount (2)"),
        "{err}"
    );
}

/// A custom resource writes ratios as whole percentages; a ratio in the rule's own units
/// (`0.5`) would mean 0.5 % and is refused, naming the field, whatever the source.
#[test]
fn custom_resource_percentages_must_be_whole_percents() {
    let cr = |kind: &str, rule: &str| {
        format!(
            "apiVersion: datasource.sentinel.io/v1alpha1\nkind: {kind}\nmetadata: {{name: x}}\n\
             spec:\n  rules:\n  - {rule}\n"
        )
    };
    let sentinel = Sentinel::new();
    let pipeline = Pipeline::builder(&sentinel).all_kinds().build();
    for (doc, kind, field) in [
        (
            cr(
                "CircuitBreakerRules",
                "{resource: pay, strategy: ErrorRatio, retryTimeoutMs: 1000, threshold: 0.5}",
            ),
            "circuit breaker",
            "threshold",
        ),
        (
            cr(
                "CircuitBreakerRules",
                "{resource: pay, strategy: ErrorRatio, retryTimeoutMs: 1000, threshold: 150}",
            ),
            "circuit breaker",
            "threshold",
        ),
        (
            cr("SystemRules", "{metricType: Load, triggerCount: 0.8}"),
            "system",
            "triggerCount",
        ),
        (
            cr("SystemRules", "{metricType: CpuUsage, triggerCount: 180}"),
            "system",
            "triggerCount",
        ),
    ] {
        let err = pipeline.apply(doc.as_bytes(), Format::Yaml).unwrap_err();
        let problems = err.problems();
        assert_eq!(problems.len(), 1, "{err}");
        assert_eq!(
            (problems[0].kind, problems[0].field.as_str()),
            (kind, field)
        );
        assert!(problems[0].reason.contains("whole"), "{err}");
    }
    assert!(sentinel.circuit_breaker_rules().is_empty());
    assert!(sentinel.system_rules().is_empty());

    pipeline
        .apply(
            cr(
                "CircuitBreakerRules",
                "{resource: pay, strategy: ErrorRatio, retryTimeoutMs: 1000, threshold: 50}",
            )
            .as_bytes(),
            Format::Yaml,
        )
        .unwrap();
    assert_eq!(sentinel.circuit_breaker_rules()[0].threshold, 0.5);
}

/// Errors inside `specificItems` name the item once, by its place; problems are listed in
/// rule order.
#[test]
fn specific_item_errors_name_their_place_once_and_problems_keep_rule_order() {
    let sentinel = Sentinel::new();
    let pipeline = Pipeline::for_kind::<Hotspot>(&sentinel);
    let err = pipeline
        .apply(
            b"- {resource: a, metricType: QPS, threshold: 5}\n\
              - {resource: b, metricType: QPS, threshold: -1}\n\
              - {resource: c, metricType: QPS, threshold: 5, specificItems: [{valKind: Int, valStr: abc, threshold: 1}]}\n\
              - {resource: d, metricType: QPS, threshold: 5, specificItems: [{valKind: 1, valStr: x, threshold: 1}, {valKind: 9, valStr: '1', threshold: 1}]}\n",
            Format::Yaml,
        )
        .unwrap_err();
    let listed: Vec<(usize, &str)> = err
        .problems()
        .iter()
        .map(|p| (p.index, p.field.as_str()))
        .collect();
    assert_eq!(
        listed,
        [
            (1, "threshold"),
            (2, "specificItems[0]"),
            (3, "specificItems[1]")
        ],
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains(r#"field `specificItems[0]` valStr "abc" is not an Int (valKind 0)"#),
        "{text}"
    );
    assert!(
        text.contains("field `specificItems[1]` unknown valKind 9; expected 0 (Int)"),
        "{text}"
    );
    // A whole number may be written without quotes.
    pipeline
        .apply(
            b"- {resource: c, metricType: QPS, threshold: 5, specificItems: [{valKind: Int, valStr: 42, threshold: 1}]}\n",
            Format::Yaml,
        )
        .unwrap();
    assert_eq!(
        sentinel.hotspot_rules()[0].specific_items[&ParamValue::from(42)],
        1
    );
}
