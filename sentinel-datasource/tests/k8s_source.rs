//! The Kubernetes source: the real `kube` client and watcher against an in-test API server
//! that speaks the list/watch protocol (resource versions, 410 Gone, bookmarks, cut
//! streams, error Status bodies).
#![cfg(feature = "k8s")]

mod common;
#[path = "support/fake_api_server.rs"]
mod fake_api_server;

use std::time::Duration;

use common::{SERVER_PATIENCE, flow_rules, rules, wait_for_server};
use fake_api_server::FakeApiServer;
use sentinel_core::Sentinel;
use sentinel_datasource::kube::Config;
use sentinel_datasource::{
    DeletePolicy, Flow, KubeSource, KubeSourceBuilder, Pipeline, StartError, UpdateError,
};
use serde_json::{Value, json};

const NS: &str = "default";

/// A source of `pipeline` in namespace `default` of `server`, retrying quickly.
fn start(
    server: &FakeApiServer,
    pipeline: Pipeline,
    configure: impl FnOnce(KubeSourceBuilder) -> KubeSourceBuilder,
) -> KubeSource {
    let config = Config::new(server.url().parse().unwrap());
    let builder = KubeSource::namespace(NS)
        .config(config)
        .retry(Duration::from_millis(50), Duration::from_millis(500));
    let source = configure(builder).start(pipeline).unwrap();
    assert!(source.wait_synced(SERVER_PATIENCE), "the first list");
    source
}

/// A `spec` with one flow rule per `(resource, threshold)`.
fn flow_spec(rules: &[(&str, u32)]) -> Value {
    let rules: Vec<Value> = rules
        .iter()
        .map(|(r, t)| json!({"resource": r, "threshold": t}))
        .collect();
    json!({ "rules": rules })
}

fn last_error(source: &KubeSource) -> Option<UpdateError> {
    source.status().last_error.map(|e| e.error)
}

fn wait_for_rules(sentinel: &Sentinel, expected: &[(&str, f64)]) {
    let expected = rules(expected);
    wait_for_server(&format!("flow rules {expected:?}"), || {
        flow_rules(sentinel) == expected
    });
}

#[test]
fn objects_are_applied_merged_modified_and_deleted() {
    let server = FakeApiServer::start();
    server.apply(
        "FlowRules",
        NS,
        "a",
        &[],
        flow_spec(&[("a1", 1), ("a2", 2)]),
    );
    server.apply("FlowRules", "elsewhere", "x", &[], flow_spec(&[("x", 9)]));
    let sentinel = Sentinel::new();
    let source = start(&server, Pipeline::for_kind::<Flow>(&sentinel), |b| b);
    assert_eq!(flow_rules(&sentinel), rules(&[("a1", 1.0), ("a2", 2.0)]));

    server.apply("FlowRules", NS, "b", &[], flow_spec(&[("b", 3)]));
    wait_for_rules(&sentinel, &[("a1", 1.0), ("a2", 2.0), ("b", 3.0)]);

    server.apply("FlowRules", NS, "a", &[], flow_spec(&[("a1", 10)]));
    wait_for_rules(&sentinel, &[("a1", 10.0), ("b", 3.0)]);

    server.delete("FlowRules", NS, "a");
    wait_for_rules(&sentinel, &[("b", 3.0)]);
    assert!(source.status().is_healthy(), "{:?}", source.status());

    // The last object of the kind goes: its rules stay (default policy), and the status
    // says why.
    server.delete("FlowRules", NS, "b");
    wait_for_server("the deletion to be reported", || {
        matches!(last_error(&source), Some(UpdateError::Missing { .. }))
    });
    assert_eq!(flow_rules(&sentinel), rules(&[("b", 3.0)]));
}

#[test]
fn deleting_the_last_object_clears_the_rules_under_the_clear_policy() {
    let server = FakeApiServer::start();
    server.apply("FlowRules", NS, "a", &[], flow_spec(&[("a", 1)]));
    let sentinel = Sentinel::new();
    let pipeline = Pipeline::builder(&sentinel)
        .kind::<Flow>()
        .on_delete(DeletePolicy::ClearRules)
        .build();
    let _source = start(&server, pipeline, |b| b);
    assert_eq!(sentinel.flow_rules().len(), 1);
    server.delete("FlowRules", NS, "a");
    wait_for_rules(&sentinel, &[]);
}

#[test]
fn an_object_with_an_unknown_enum_value_is_rejected_without_dropping_the_others() {
    let server = FakeApiServer::start();
    server.apply(
        "FlowRules",
        NS,
        "good",
        &[],
        flow_spec(&[("g1", 1), ("g2", 2)]),
    );
    let bad =
        json!({"rules": [{"resource": "bad", "threshold": 5, "controlBehavior": "Sideways"}]});
    server.apply("FlowRules", NS, "bad", &[], bad);
    let sentinel = Sentinel::new();
    let source = start(&server, Pipeline::for_kind::<Flow>(&sentinel), |b| b);
    assert_eq!(flow_rules(&sentinel), rules(&[("g1", 1.0), ("g2", 2.0)]));
    let Some(UpdateError::Document { name, error }) = last_error(&source) else {
        panic!("{:?}", source.status())
    };
    assert_eq!(name, "FlowRules default/bad");
    let problem = &error.problems()[0];
    assert_eq!(problem.field, "controlBehavior");
    assert!(problem.reason.contains("Sideways"), "{problem}");
    assert!(!source.status().is_healthy());

    server.apply(
        "FlowRules",
        NS,
        "bad",
        &[],
        json!({"rules": [{"resource": "bad", "threshold": 5, "controlBehavior": "Throttling"}]}),
    );
    wait_for_rules(&sentinel, &[("bad", 5.0), ("g1", 1.0), ("g2", 2.0)]);
    assert!(source.status().is_healthy());
}

/// Changes the client misses (held back, then compacted away) before its stream is cut:
/// it must list again and apply them all.
fn gone_leads_to_a_relist(server: &FakeApiServer) {
    server.apply("FlowRules", NS, "a", &[], flow_spec(&[("a", 1)]));
    server.apply("FlowRules", NS, "b", &[], flow_spec(&[("b", 1)]));
    let sentinel = Sentinel::new();
    let source = start(server, Pipeline::for_kind::<Flow>(&sentinel), |b| b);
    assert_eq!(flow_rules(&sentinel), rules(&[("a", 1.0), ("b", 1.0)]));
    assert_eq!(server.lists("FlowRules"), 1);
    wait_for_server("the watch", || server.watches("FlowRules").len() == 1);

    server.hold();
    server.apply("FlowRules", NS, "a", &[], flow_spec(&[("a", 2)]));
    server.delete("FlowRules", NS, "b");
    server.apply("FlowRules", NS, "c", &[], flow_spec(&[("c", 1)]));
    server.compact();
    wait_for_rules(&sentinel, &[("a", 2.0), ("c", 1.0)]);
    assert_eq!(server.lists("FlowRules"), 2, "{:?}", server.requests());
    // 410 is the protocol working, not a failure.
    assert!(source.status().is_healthy(), "{:?}", source.status());

    server.apply("FlowRules", NS, "c", &[], flow_spec(&[("c", 2)]));
    wait_for_rules(&sentinel, &[("a", 2.0), ("c", 2.0)]);
}

#[test]
fn a_410_gone_event_leads_to_a_relist_with_no_lost_update() {
    gone_leads_to_a_relist(&FakeApiServer::start());
}

#[test]
fn an_http_410_gone_leads_to_a_relist_with_no_lost_update() {
    let server = FakeApiServer::start();
    server.gone_as_http_status();
    gone_leads_to_a_relist(&server);
}

#[test]
fn after_a_bookmark_a_cut_stream_resumes_without_a_relist() {
    let server = FakeApiServer::start();
    server.apply("FlowRules", NS, "a", &[], flow_spec(&[("a", 1)]));
    let sentinel = Sentinel::new();
    let source = start(&server, Pipeline::for_kind::<Flow>(&sentinel), |b| b);

    // Other resources change; a bookmark carries the store's version to the client. Then
    // the history up to that version is compacted away and the stream cut: resuming from
    // the bookmark works, resuming from the object's own older version would be 410 Gone.
    server.bump(5);
    server.bookmark("FlowRules", NS);
    wait_for_server("the bookmark to be sent", || server.bookmarks_sent() == 1);
    let bookmark = server.version().to_string();
    server.compact();
    server.apply("FlowRules", NS, "b", &[], flow_spec(&[("b", 1)]));
    wait_for_rules(&sentinel, &[("a", 1.0), ("b", 1.0)]);
    let watches = server.watches("FlowRules");
    assert_eq!(watches, ["1".to_string(), bookmark]);
    assert_eq!(
        server.lists("FlowRules"),
        1,
        "resumed without listing again"
    );
    assert!(source.status().is_healthy());
}

#[test]
fn a_cut_stream_resumes_from_the_last_version_and_misses_nothing() {
    let server = FakeApiServer::start();
    server.apply("FlowRules", NS, "a", &[], flow_spec(&[("a", 1)]));
    let sentinel = Sentinel::new();
    let _source = start(&server, Pipeline::for_kind::<Flow>(&sentinel), |b| b);
    let listed_at = server.version().to_string();
    wait_for_server("the watch", || server.watches("FlowRules").len() == 1);
    // A change the stream is cut before sending.
    server.hold();
    server.apply("FlowRules", NS, "a", &[], flow_spec(&[("a", 2)]));
    server.cut();
    server.release();
    wait_for_rules(&sentinel, &[("a", 2.0)]);
    let watches = server.watches("FlowRules");
    assert_eq!(
        watches,
        [listed_at.clone(), listed_at],
        "resumed from the last version seen"
    );
    assert_eq!(server.lists("FlowRules"), 1);
}

#[test]
fn an_api_server_outage_keeps_the_rules_and_changes_made_meanwhile_are_applied() {
    let server = FakeApiServer::start();
    server.apply("FlowRules", NS, "a", &[], flow_spec(&[("a", 1)]));
    server.apply("FlowRules", NS, "b", &[], flow_spec(&[("b", 1)]));
    let sentinel = Sentinel::new();
    let source = start(&server, Pipeline::for_kind::<Flow>(&sentinel), |b| b);

    server.outage(Some((503, "the apiserver is shutting down")));
    wait_for_server("the outage to show in the status", || {
        last_error(&source)
            .is_some_and(|e| e.to_string().contains("the apiserver is shutting down"))
    });
    assert!(matches!(
        last_error(&source),
        Some(UpdateError::Watch { .. })
    ));
    assert_eq!(flow_rules(&sentinel), rules(&[("a", 1.0), ("b", 1.0)]));

    server.apply("FlowRules", NS, "a", &[], flow_spec(&[("a", 2)]));
    server.delete("FlowRules", NS, "b");
    server.apply("FlowRules", NS, "c", &[], flow_spec(&[("c", 1)]));
    assert_eq!(flow_rules(&sentinel), rules(&[("a", 1.0), ("b", 1.0)]));

    server.outage(None);
    wait_for_rules(&sentinel, &[("a", 2.0), ("c", 1.0)]);
    wait_for_server("the status to be healthy", || source.status().is_healthy());
}

#[test]
fn a_name_or_a_label_selector_picks_the_objects() {
    let server = FakeApiServer::start();
    server.apply(
        "FlowRules",
        NS,
        "a",
        &[("app", "checkout")],
        flow_spec(&[("a", 1)]),
    );
    server.apply(
        "FlowRules",
        NS,
        "b",
        &[("app", "search")],
        flow_spec(&[("b", 1)]),
    );
    let by_name = Sentinel::new();
    let _named = start(&server, Pipeline::for_kind::<Flow>(&by_name), |b| {
        b.name("b")
    });
    let by_label = Sentinel::new();
    let _labelled = start(&server, Pipeline::for_kind::<Flow>(&by_label), |b| {
        b.labels("app=checkout")
    });
    assert_eq!(flow_rules(&by_name), rules(&[("b", 1.0)]));
    assert_eq!(flow_rules(&by_label), rules(&[("a", 1.0)]));

    server.apply(
        "FlowRules",
        NS,
        "c",
        &[("app", "checkout")],
        flow_spec(&[("c", 1)]),
    );
    server.apply(
        "FlowRules",
        NS,
        "b",
        &[("app", "search")],
        flow_spec(&[("b", 2)]),
    );
    wait_for_rules(&by_label, &[("a", 1.0), ("c", 1.0)]);
    wait_for_rules(&by_name, &[("b", 2.0)]);
}

#[test]
fn every_kind_is_watched_and_crd_percentages_become_ratios() {
    let server = FakeApiServer::start();
    server.apply("FlowRules", NS, "flow", &[], flow_spec(&[("a", 1)]));
    server.apply(
        "CircuitBreakerRules",
        NS,
        "breakers",
        &[],
        json!({"rules": [{"resource": "pay", "strategy": "ErrorRatio", "retryTimeoutMs": 1000, "threshold": 50}]}),
    );
    server.apply(
        "SystemRules",
        NS,
        "system",
        &[],
        json!({"rules": [{"metricType": "CpuUsage", "triggerCount": 80, "strategy": "BBR"}]}),
    );
    let sentinel = Sentinel::new();
    let source = start(
        &server,
        Pipeline::builder(&sentinel).all_kinds().build(),
        |b| b,
    );
    assert_eq!(sentinel.flow_rules().len(), 1);
    assert_eq!(sentinel.circuit_breaker_rules()[0].threshold, 0.5);
    assert_eq!(sentinel.system_rules()[0].trigger_count, 0.8);
    for kind in [
        "FlowRules",
        "IsolationRules",
        "CircuitBreakerRules",
        "HotspotRules",
        "SystemRules",
    ] {
        assert_eq!(server.lists(kind), 1, "{kind}");
    }
    server.apply(
        "IsolationRules",
        NS,
        "pools",
        &[],
        json!({"rules": [{"resource": "export", "threshold": 4}]}),
    );
    wait_for_server("the isolation rule", || {
        sentinel.isolation_rules().len() == 1
    });
    assert_eq!(sentinel.flow_rules().len(), 1);
    assert!(source.status().is_healthy(), "{:?}", source.status());
}

#[test]
fn an_object_missing_a_threshold_or_with_many_bad_rules_is_refused_briefly_by_name() {
    let server = FakeApiServer::start();
    server.apply("FlowRules", NS, "good", &[], flow_spec(&[("g", 1)]));
    server.apply(
        "FlowRules",
        NS,
        "cut",
        &[],
        json!({"rules": [{"resource": "c", "threshold": 2}, {"resource": "cut-short"}]}),
    );
    let sentinel = Sentinel::new();
    let source = start(&server, Pipeline::for_kind::<Flow>(&sentinel), |b| b);
    assert_eq!(flow_rules(&sentinel), rules(&[("g", 1.0)]));
    let Some(UpdateError::Document { name, error }) = last_error(&source) else {
        panic!("{:?}", source.status())
    };
    assert_eq!(name, "FlowRules default/cut");
    let problem = &error.problems()[0];
    assert_eq!(
        (problem.index, problem.field.as_str()),
        (1, "threshold"),
        "{problem}"
    );

    let many_bad: Vec<Value> = (0..3000)
        .map(|i| json!({"resource": format!("r{i}"), "threshold": -1}))
        .collect();
    server.apply("FlowRules", NS, "cut", &[], json!({ "rules": many_bad }));
    wait_for_server("the many bad rules reported", || {
        last_error(&source).is_some_and(|e| e.to_string().ends_with("... and 2980 more problems"))
    });
    assert!(last_error(&source).unwrap().to_string().len() < 8192);
    assert_eq!(flow_rules(&sentinel), rules(&[("g", 1.0)]));
}

#[test]
fn closing_the_source_stops_it_and_changes_nothing_in_the_cluster() {
    let server = FakeApiServer::start();
    server.apply("FlowRules", NS, "a", &[], flow_spec(&[("a", 1)]));
    let sentinel = Sentinel::new();
    let source = start(&server, Pipeline::for_kind::<Flow>(&sentinel), |b| b);
    drop(source);

    // A live source on another instance shows when a change could have arrived.
    let control = Sentinel::new();
    let _live = start(&server, Pipeline::for_kind::<Flow>(&control), |b| b);
    server.apply("FlowRules", NS, "a", &[], flow_spec(&[("a", 2)]));
    wait_for_rules(&control, &[("a", 2.0)]);
    assert_eq!(flow_rules(&sentinel), rules(&[("a", 1.0)]));

    let requests = server.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.method == "GET" && !r.plural.is_empty()),
        "{requests:?}"
    );
}

#[test]
fn a_strict_start_succeeds_on_good_objects_and_fails_on_none_or_a_bad_one() {
    let server = FakeApiServer::start();
    let strict = |sentinel: &Sentinel| {
        KubeSource::namespace(NS)
            .config(Config::new(server.url().parse().unwrap()))
            .retry(Duration::from_millis(50), Duration::from_millis(500))
            .start_strict(Pipeline::for_kind::<Flow>(sentinel), SERVER_PATIENCE)
    };
    let sentinel = Sentinel::new();
    let error = strict(&sentinel).unwrap_err();
    assert!(
        matches!(error.update_error(), Some(UpdateError::Missing { .. })),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("every object of custom resources in namespace default"),
        "{error}"
    );

    server.apply(
        "FlowRules",
        NS,
        "bad",
        &[],
        json!({"rules": [{"resource": "a"}]}),
    );
    let error = strict(&sentinel).unwrap_err();
    assert!(matches!(error, StartError::FirstLoad { .. }), "{error:?}");
    assert_eq!(
        error.update_error().unwrap().problems()[0].field,
        "threshold"
    );
    assert!(sentinel.flow_rules().is_empty());

    server.apply("FlowRules", NS, "bad", &[], flow_spec(&[("a", 4)]));
    let source = strict(&sentinel).unwrap();
    assert_eq!(flow_rules(&sentinel), rules(&[("a", 4.0)]));
    assert!(source.status().is_healthy());
}

#[test]
fn a_strict_start_fails_against_an_unreachable_api_server() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sentinel = Sentinel::new();
    let error = KubeSource::namespace(NS)
        .config(Config::new(
            format!("http://127.0.0.1:{port}").parse().unwrap(),
        ))
        .retry(Duration::from_millis(50), Duration::from_millis(500))
        .start_strict(
            Pipeline::for_kind::<Flow>(&sentinel),
            Duration::from_secs(2),
        )
        .unwrap_err();
    assert!(matches!(error, StartError::TimedOut { .. }), "{error:?}");
    assert!(
        error.to_string().starts_with(
            "strict start of custom resources in namespace default failed: no first read within 2s"
        ),
        "{error}"
    );
}
