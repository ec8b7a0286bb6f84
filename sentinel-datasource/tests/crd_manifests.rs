//! The CRD manifests under `deploy/crds/` and the RBAC sample under `deploy/` are what the
//! Rust types generate; custom resources written from the types load, and validate against
//! the generated schemas.
//!
//! After changing the types, regenerate the manifests with
//! `UPDATE_CRDS=1 cargo test -p sentinel-datasource --features k8s --test crd_manifests`.
#![cfg(feature = "k8s")]

mod common;
#[path = "support/openapi_check.rs"]
mod openapi_check;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use openapi_check::{check, schema_of};
use sentinel_core::Sentinel;
use sentinel_core::circuit_breaker::Strategy;
use sentinel_core::flow::ControlBehavior;
use sentinel_core::system::{AdaptiveStrategy, SystemMetric};
use sentinel_datasource::crd::{self, FlowRule, FlowRules, FlowRulesSpec};
use sentinel_datasource::kube::api::ObjectMeta;
use sentinel_datasource::{Format, Pipeline, UnknownFields};
use serde_json::{Value, json};

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn crd_path(definition: &CustomResourceDefinition) -> PathBuf {
    let name = definition
        .metadata
        .name
        .as_deref()
        .expect("a CRD has a name");
    deploy().join("crds").join(format!("{name}.yaml"))
}

#[test]
fn the_committed_crds_are_the_ones_the_types_generate() {
    let update = std::env::var_os("UPDATE_CRDS").is_some();
    let mut expected = BTreeSet::new();
    for definition in crd::definitions() {
        let path = crd_path(&definition);
        let generated = crd::manifest(&definition);
        if update {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{} differs from the CRD the Rust types generate; regenerate with \
             UPDATE_CRDS=1 cargo test -p sentinel-datasource --features k8s --test crd_manifests",
            path.display()
        );
        expected.insert(path.file_name().unwrap().to_owned());
    }
    let present: BTreeSet<_> = std::fs::read_dir(deploy().join("crds"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        present, expected,
        "deploy/crds/ holds a CRD no type generates"
    );
}

#[test]
fn the_crds_name_the_group_version_kinds_and_plurals_the_source_watches() {
    let kinds: Vec<(String, String, String, String)> = crd::definitions()
        .iter()
        .map(|d| {
            let version = &d.spec.versions[0];
            (
                d.spec.group.clone(),
                version.name.clone(),
                d.spec.names.kind.clone(),
                d.spec.names.plural.clone(),
            )
        })
        .collect();
    for (group, version, kind, plural) in &kinds {
        assert_eq!(group, "datasource.sentinel.io");
        assert_eq!(version, crd::CRD_VERSION);
        assert_eq!(
            plural,
            &kind.to_ascii_lowercase(),
            "the source watches this plural"
        );
    }
    let names: Vec<&str> = kinds.iter().map(|k| k.2.as_str()).collect();
    assert_eq!(
        names,
        [
            "FlowRules",
            "IsolationRules",
            "CircuitBreakerRules",
            "HotspotRules",
            "SystemRules"
        ]
    );
    for d in crd::definitions() {
        assert_eq!(d.spec.scope, "Namespaced");
    }
}

#[test]
fn the_sample_role_grants_reading_every_kind_and_nothing_else() {
    let text = std::fs::read_to_string(deploy().join("rbac.yaml")).unwrap();
    let documents: Vec<Value> = text
        .split("\n---\n")
        .map(|doc| serde_saphyr::from_str(doc).unwrap())
        .collect();
    let role = documents
        .iter()
        .find(|d| d["kind"] == "Role")
        .expect("a Role");
    let plurals: BTreeSet<String> = crd::definitions()
        .iter()
        .map(|d| d.spec.names.plural.clone())
        .collect();
    let rules = role["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert_eq!(rules[0]["apiGroups"], json!(["datasource.sentinel.io"]));
    let granted: BTreeSet<String> = serde_json::from_value(rules[0]["resources"].clone()).unwrap();
    assert_eq!(granted, plurals);
    assert_eq!(rules[0]["verbs"], json!(["get", "list", "watch"]));
    let binding = documents
        .iter()
        .find(|d| d["kind"] == "RoleBinding")
        .expect("a RoleBinding");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    let account = documents
        .iter()
        .find(|d| d["kind"] == "ServiceAccount")
        .expect("a ServiceAccount");
    assert_eq!(binding["subjects"][0]["name"], account["metadata"]["name"]);
}

/// A resource of every kind, with every field set, written from the Rust types.
fn full_resources() -> Vec<Value> {
    let meta = |name: &str| ObjectMeta {
        name: Some(name.into()),
        namespace: Some("default".into()),
        ..Default::default()
    };
    let flow = FlowRules::new(
        "flow",
        FlowRulesSpec {
            rules: vec![
                FlowRule {
                    id: Some("f1".into()),
                    resource: "GET /items".into(),
                    token_calculate_strategy: Some(
                        sentinel_core::flow::TokenCalculateStrategy::WarmUp,
                    ),
                    control_behavior: Some(ControlBehavior::Throttling),
                    threshold: 100.0,
                    relation_strategy: Some(
                        sentinel_core::flow::RelationStrategy::AssociatedResource,
                    ),
                    ref_resource: Some("POST /items".into()),
                    max_queueing_time_ms: Some(500),
                    warm_up_period_sec: Some(10),
                    warm_up_cold_factor: Some(3),
                    stat_interval_in_ms: Some(1000),
                    low_mem_usage_threshold: Some(1),
                    high_mem_usage_threshold: Some(2),
                    mem_low_water_mark_bytes: Some(3),
                    mem_high_water_mark_bytes: Some(4),
                    cluster_mode: None,
                    cluster_config: None,
                },
                FlowRule {
                    id: Some("f2".into()),
                    resource: "POST /checkout".into(),
                    threshold: 1000.0,
                    cluster_mode: Some(true),
                    cluster_config: Some(crd::ClusterConfig {
                        flow_id: "checkout".into(),
                        threshold_type: Some(sentinel_core::cluster::ThresholdType::Global),
                        fallback_to_local_when_fail: Some(true),
                        fallback_threshold: Some(250.0),
                        burst: Some(100),
                    }),
                    ..Default::default()
                },
            ],
        },
    );
    let isolation = crd::IsolationRules {
        metadata: meta("pools"),
        spec: crd::IsolationRulesSpec {
            rules: vec![crd::IsolationRule {
                id: Some("i1".into()),
                resource: "export".into(),
                metric_type: Some(sentinel_core::isolation::IsolationMetric::Concurrency),
                threshold: 8,
            }],
        },
    };
    let breaker = crd::CircuitBreakerRules {
        metadata: meta("breakers"),
        spec: crd::CircuitBreakerRulesSpec {
            rules: vec![crd::CircuitBreakerRule {
                id: Some("c1".into()),
                resource: "call-payment".into(),
                strategy: Strategy::ErrorRatio,
                retry_timeout_ms: 3000,
                min_request_amount: Some(10),
                stat_interval_ms: Some(5000),
                stat_sliding_window_bucket_count: Some(5),
                max_allowed_rt_ms: Some(200),
                threshold: 50,
                probe_num: Some(2),
            }],
        },
    };
    let hotspot = crd::HotspotRules {
        metadata: meta("hot"),
        spec: crd::HotspotRulesSpec {
            rules: vec![crd::HotspotRule {
                id: Some("h1".into()),
                resource: "GET /items/{id}".into(),
                metric_type: sentinel_core::hotspot::MetricType::Qps,
                control_behavior: Some(ControlBehavior::Reject),
                param_index: Some(0),
                param_key: Some("item".into()),
                threshold: 50,
                max_queueing_time_ms: Some(0),
                burst_count: Some(5),
                duration_in_sec: Some(1),
                params_max_capacity: Some(1000),
                specific_items: Some(vec![crd::SpecificItem {
                    val_kind: crd::ValKind::KindInt,
                    val_str: "42".into(),
                    threshold: 5,
                }]),
            }],
        },
    };
    let system = crd::SystemRules {
        metadata: meta("system"),
        spec: crd::SystemRulesSpec {
            rules: vec![crd::SystemRule {
                id: Some("s1".into()),
                metric_type: SystemMetric::CpuUsage,
                trigger_count: 80,
                strategy: Some(AdaptiveStrategy::Bbr),
            }],
        },
    };
    let mut flow = serde_json::to_value(&flow).unwrap();
    flow["metadata"]["namespace"] = json!("default");
    vec![
        flow,
        serde_json::to_value(&isolation).unwrap(),
        serde_json::to_value(&breaker).unwrap(),
        serde_json::to_value(&hotspot).unwrap(),
        serde_json::to_value(&system).unwrap(),
    ]
}

#[test]
fn resources_written_from_the_types_validate_against_the_crds_and_round_trip_as_yaml() {
    let definitions = crd::definitions();
    for resource in full_resources() {
        let kind = resource["kind"].as_str().unwrap();
        let definition = definitions
            .iter()
            .find(|d| d.spec.names.kind == kind)
            .unwrap();
        let yaml = serde_saphyr::to_string(&resource).unwrap();
        let reread: Value = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(reread, resource, "{yaml}");
        let problems = check(&schema_of(definition), &reread);
        assert!(problems.is_empty(), "{kind}: {problems:#?}\n{yaml}");
        // Enums are written by name, as sentinel-golang's CRDs have them.
        if kind == "FlowRules" {
            assert_eq!(reread["spec"]["rules"][0]["controlBehavior"], "Throttling");
        }
    }
}

#[test]
fn every_field_of_every_rule_is_in_the_crds_and_loads_into_the_engine() {
    let sentinel = Sentinel::new();
    // Rejecting unknown fields: a CRD field the engine's rules lack would fail here.
    let pipeline = Pipeline::builder(&sentinel)
        .all_kinds()
        .unknown_fields(UnknownFields::Reject)
        .build();
    for resource in full_resources() {
        let text = serde_json::to_vec(&resource).unwrap();
        pipeline
            .apply(&text, Format::Json)
            .unwrap_or_else(|e| panic!("{}: {e}", resource["kind"]));
    }
    assert_eq!(
        sentinel.flow_rules()[0].control_behavior,
        ControlBehavior::Throttling
    );
    // Integer percentages in the resources, ratios in the engine.
    assert_eq!(sentinel.circuit_breaker_rules()[0].threshold, 0.5);
    assert_eq!(sentinel.system_rules()[0].trigger_count, 0.8);
    assert_eq!(sentinel.hotspot_rules()[0].specific_items.len(), 1);

    // And the other way: every field the engine's rules have is in the CRD's schema, so
    // that the API server does not prune it.
    let exported: Value = serde_saphyr::from_str(&pipeline.export(Format::Yaml).unwrap()).unwrap();
    let definitions = crd::definitions();
    let sections = [
        ("flow", "FlowRules"),
        ("isolation", "IsolationRules"),
        ("circuitBreaker", "CircuitBreakerRules"),
        ("hotspot", "HotspotRules"),
        ("system", "SystemRules"),
    ];
    for (section, kind) in sections {
        let definition = definitions
            .iter()
            .find(|d| d.spec.names.kind == kind)
            .unwrap();
        let schema = schema_of(definition);
        let properties =
            &schema["properties"]["spec"]["properties"]["rules"]["items"]["properties"];
        for rule in exported[section].as_array().unwrap() {
            for field in rule.as_object().unwrap().keys() {
                assert!(
                    properties.get(field).is_some(),
                    "{kind}: the engine's field `{field}` is missing from the CRD schema"
                );
            }
            // The fields of a cluster rule's clusterConfig too.
            for field in rule["clusterConfig"]
                .as_object()
                .into_iter()
                .flat_map(|c| c.keys())
            {
                assert!(
                    properties["clusterConfig"]["properties"]
                        .get(field)
                        .is_some(),
                    "{kind}: the engine's field `clusterConfig.{field}` is missing from the CRD schema"
                );
            }
        }
    }
}

#[test]
fn sentinel_golang_manifests_parse_as_the_types_and_validate() {
    let definitions = crd::definitions();
    for name in [
        "crd-flowrules.yaml",
        "crd-circuitbreakerrules.yaml",
        "crd-systemrules.yaml",
    ] {
        let text = common::fixture(name);
        let resource: Value = serde_saphyr::from_slice(&text).unwrap();
        let kind = resource["kind"].as_str().unwrap();
        let definition = definitions
            .iter()
            .find(|d| d.spec.names.kind == kind)
            .unwrap();
        let problems = check(&schema_of(definition), &resource);
        assert!(problems.is_empty(), "{name}: {problems:#?}");
    }
    let flow: FlowRules = serde_saphyr::from_slice(&common::fixture("crd-flowrules.yaml")).unwrap();
    assert_eq!(flow.spec.rules.len(), 4);
    assert_eq!(
        flow.spec.rules[1].control_behavior,
        Some(ControlBehavior::Throttling)
    );
    let breakers: crd::CircuitBreakerRules =
        serde_saphyr::from_slice(&common::fixture("crd-circuitbreakerrules.yaml")).unwrap();
    assert_eq!(breakers.spec.rules[0].threshold, 40);
}

#[test]
fn the_schema_check_rejects_what_the_api_server_would() {
    let definitions = crd::definitions();
    let flow = definitions
        .iter()
        .find(|d| d.spec.names.kind == "FlowRules")
        .unwrap();
    let schema = schema_of(flow);
    let resource = |rule: Value| {
        json!({"apiVersion": "datasource.sentinel.io/v1alpha1", "kind": "FlowRules",
               "metadata": {"name": "x"}, "spec": {"rules": [rule]}})
    };
    let bad = [
        (
            json!({"resource": "r", "threshold": 1, "controlBehavior": "Sideways"}),
            "controlBehavior",
        ),
        (json!({"resource": "r", "threshold": "ten"}), "threshold"),
        (json!({"threshold": 1}), "resource"),
        (
            json!({"resource": "r", "threshold": 1, "threshhold": 2}),
            "threshhold",
        ),
        (
            json!({"resource": "r", "threshold": 1, "maxQueueingTimeMs": 1.5}),
            "maxQueueingTimeMs",
        ),
    ];
    for (rule, field) in bad {
        let problems = check(&schema, &resource(rule.clone()));
        assert!(
            problems.iter().any(|p| p.contains(field)),
            "{rule}: {problems:?}"
        );
    }
    assert!(check(&schema, &resource(json!({"resource": "r", "threshold": 1}))).is_empty());
}

#[test]
fn the_sample_resources_validate_and_load() {
    let definitions = crd::definitions();
    let sentinel = Sentinel::new();
    let pipeline = Pipeline::builder(&sentinel).all_kinds().build();
    let mut samples = 0;
    for entry in std::fs::read_dir(deploy().join("samples")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read(&path).unwrap();
        let resource: Value = serde_saphyr::from_slice(&text).unwrap();
        let kind = resource["kind"].as_str().unwrap();
        let definition = definitions
            .iter()
            .find(|d| d.spec.names.kind == kind)
            .unwrap_or_else(|| panic!("{}: no CRD for {kind}", path.display()));
        let problems = check(&schema_of(definition), &resource);
        assert!(problems.is_empty(), "{}: {problems:#?}", path.display());
        pipeline
            .apply(&text, Format::Yaml)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        samples += 1;
    }
    assert!(samples >= 2);
    assert_eq!(sentinel.circuit_breaker_rules()[0].threshold, 0.4);
}

#[test]
fn cluster_configs_take_java_integers_and_the_schema_bounds_their_numbers() {
    let definitions = crd::definitions();
    let definition = definitions
        .iter()
        .find(|d| d.spec.names.kind == "FlowRules")
        .unwrap();
    let schema = schema_of(definition);
    let resource = |config: Value| {
        json!({
            "apiVersion": "datasource.sentinel.io/v1alpha1",
            "kind": "FlowRules",
            "metadata": {"name": "cluster"},
            "spec": {"rules": [{"resource": "checkout", "threshold": 100.0,
                                "clusterMode": true, "clusterConfig": config}]}
        })
    };
    let java = resource(json!({"flowId": 111, "thresholdType": 1}));
    assert_eq!(check(&schema, &java), Vec::<String>::new());
    let parsed: FlowRules = serde_json::from_value(java).unwrap();
    let config = parsed.spec.rules[0].cluster_config.clone().unwrap();
    assert_eq!(config.flow_id, "111");
    assert_eq!(
        config.threshold_type,
        Some(sentinel_core::cluster::ThresholdType::Global)
    );
    let named = resource(json!({"flowId": "orders", "thresholdType": "AvgLocal"}));
    assert_eq!(check(&schema, &named), Vec::<String>::new());
    assert!(
        !check(
            &schema,
            &resource(json!({"flowId": "f", "thresholdType": 2}))
        )
        .is_empty()
    );
    let config = &schema["properties"]["spec"]["properties"]["rules"]["items"]["properties"]["clusterConfig"]
        ["properties"];
    assert_eq!(config["flowId"]["x-kubernetes-int-or-string"], true);
    assert_eq!(config["thresholdType"]["x-kubernetes-int-or-string"], true);
    assert_eq!(config["burst"]["minimum"], 1.0);
    assert_eq!(config["fallbackThreshold"]["minimum"], 0.0);
}
