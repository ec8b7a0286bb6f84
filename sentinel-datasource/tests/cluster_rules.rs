//! Cluster flow rules (`clusterMode`, `clusterConfig`) in rule documents: JSON with Sentinel
//! Java's cluster fields, YAML with names, and errors that name the field.

use sentinel_core::Sentinel;
use sentinel_core::cluster::ThresholdType;
use sentinel_datasource::{EnumStyle, ExportOptions, Flow, Format, Pipeline, UnknownFields};

fn flow_pipeline(sentinel: &Sentinel, unknown: UnknownFields) -> Pipeline {
    Pipeline::builder(sentinel)
        .kind::<Flow>()
        .unknown_fields(unknown)
        .build()
}

#[test]
fn a_json_document_with_java_cluster_fields_loads() {
    let sentinel = Sentinel::new();
    let pipeline = flow_pipeline(&sentinel, UnknownFields::Reject);
    let doc = br#"[{"resource": "POST /checkout", "threshold": 1000, "clusterMode": true,
                   "clusterConfig": {"flowId": 111, "thresholdType": 1,
                                     "fallbackToLocalWhenFail": true, "fallbackThreshold": 250}}]"#;
    pipeline.apply(doc, Format::Json).unwrap();
    let rule = &sentinel.flow_rules()[0];
    assert!(rule.cluster_mode);
    let c = rule.cluster_config.as_ref().unwrap();
    assert_eq!(c.flow_id, "111");
    assert_eq!(c.threshold_type, ThresholdType::Global);
    assert_eq!(c.fallback_threshold, Some(250.0));
}

#[test]
fn java_only_cluster_fields_load_when_unknown_fields_are_ignored() {
    // Fields of Java's ClusterFlowConfig that have no meaning here (its token server's
    // sampling and timeouts).
    let doc = br#"[{"resource": "r", "threshold": 10, "clusterMode": true,
                   "clusterConfig": {"flowId": 7, "thresholdType": 0, "sampleCount": 10,
                                     "windowIntervalMs": 1000, "strategy": 0}}]"#;
    let sentinel = Sentinel::new();
    let strict = flow_pipeline(&sentinel, UnknownFields::Reject);
    let e = strict.apply(doc, Format::Json).unwrap_err().to_string();
    assert!(e.contains("field `clusterConfig.sampleCount`"), "{e}");
    let lenient = flow_pipeline(&sentinel, UnknownFields::Ignore);
    lenient.apply(doc, Format::Json).unwrap();
    let c = sentinel.flow_rules()[0].cluster_config.clone().unwrap();
    assert_eq!(
        (c.flow_id.as_str(), c.threshold_type),
        ("7", ThresholdType::AvgLocal)
    );
}

#[test]
fn a_yaml_document_with_names_loads() {
    let sentinel = Sentinel::new();
    let pipeline = flow_pipeline(&sentinel, UnknownFields::Reject);
    let doc = b"- resource: POST /checkout
  threshold: 1000
  clusterMode: true
  clusterConfig:
    flowId: checkout
    thresholdType: Global
    fallbackToLocalWhenFail: false
    burst: 100
";
    pipeline.apply(doc, Format::Yaml).unwrap();
    let c = sentinel.flow_rules()[0].cluster_config.clone().unwrap();
    assert_eq!(c.flow_id, "checkout");
    assert_eq!(c.burst, Some(100));
    assert!(!c.fallback_to_local_when_fail);
}

#[test]
fn an_invalid_cluster_rule_is_reported_by_field() {
    let sentinel = Sentinel::new();
    let pipeline = flow_pipeline(&sentinel, UnknownFields::Reject);
    for (doc, field) in [
        (
            &br#"[{"resource": "r", "threshold": 10, "clusterMode": true}]"#[..],
            "clusterConfig",
        ),
        (
            br#"[{"resource": "r", "threshold": 10, "clusterMode": true, "clusterConfig": {}}]"#,
            "clusterConfig.flowId",
        ),
        (
            br#"[{"resource": "r", "threshold": 10, "controlBehavior": "Throttling",
                  "clusterMode": true, "clusterConfig": {"flowId": "f"}}]"#,
            "controlBehavior",
        ),
        (
            br#"[{"resource": "r", "threshold": 10, "clusterMode": true,
                  "clusterConfig": {"flowId": "f", "thresholdType": 5}}]"#,
            "thresholdType",
        ),
    ] {
        let e = pipeline.apply(doc, Format::Json).unwrap_err().to_string();
        assert!(e.contains(field), "{field}: {e}");
    }
    assert!(sentinel.flow_rules().is_empty());
}

#[test]
fn exports_write_the_threshold_type_by_name_or_as_java_integer_and_load_back() {
    let sentinel = Sentinel::new();
    let pipeline = flow_pipeline(&sentinel, UnknownFields::Reject);
    let doc = br#"[{"resource": "POST /checkout", "threshold": 1000, "clusterMode": true,
                   "clusterConfig": {"flowId": "checkout", "thresholdType": "Global"}}]"#;
    pipeline.apply(doc, Format::Json).unwrap();
    for (options, written) in [
        (ExportOptions::default(), r#""thresholdType": "Global""#),
        (
            ExportOptions::default().enums(EnumStyle::Integers),
            r#""thresholdType": 1"#,
        ),
    ] {
        let text = pipeline.export_with(Format::Json, options).unwrap();
        assert!(text.contains(written), "{written} in\n{text}");
        let copy = Sentinel::new();
        flow_pipeline(&copy, UnknownFields::Reject)
            .apply(text.as_bytes(), Format::Json)
            .unwrap();
        assert_eq!(copy.flow_rules(), sentinel.flow_rules(), "{text}");
    }
}

/// A cluster flow rule as Sentinel Java's dashboard and data sources write it.
#[test]
fn a_java_flow_rule_document_with_cluster_fields_loads() {
    let doc = br#"[{
        "id": 3, "resource": "POST /checkout", "limitApp": "default", "grade": 1,
        "count": 1000, "strategy": 0, "controlBehavior": 0, "clusterMode": true,
        "clusterConfig": {"flowId": 111, "thresholdType": 1, "fallbackToLocalWhenFail": true,
                          "strategy": 0, "sampleCount": 10, "windowIntervalMs": 1000,
                          "resourceTimeout": 2000, "resourceTimeoutStrategy": 0,
                          "acquireRefuseStrategy": 0, "clientOfflineTime": 2000}
    }]"#;
    let sentinel = Sentinel::new();
    flow_pipeline(&sentinel, UnknownFields::Reject)
        .apply(doc, Format::Json)
        .unwrap_or_else(|e| panic!("{e}"));
    let rule = &sentinel.flow_rules()[0];
    assert_eq!((rule.id.as_str(), rule.threshold), ("3", 1000.0));
    assert!(rule.cluster_mode);
    let c = rule.cluster_config.as_ref().unwrap();
    assert_eq!(
        (c.flow_id.as_str(), c.threshold_type),
        ("111", ThresholdType::Global)
    );

    // Java meanings without one here are refused, naming the field.
    let thread_grade = br#"[{"resource": "r", "grade": 0, "count": 5}]"#;
    let e = flow_pipeline(&sentinel, UnknownFields::Reject)
        .apply(thread_grade, Format::Json)
        .unwrap_err()
        .to_string();
    assert!(e.contains("field `grade` 0 (thread count)"), "{e}");
    assert_eq!(
        sentinel.flow_rules()[0].threshold,
        1000.0,
        "rules in force kept"
    );
}
