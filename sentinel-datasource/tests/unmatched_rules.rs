//! The status lists the rules of the pipeline's kinds that never applied.

use std::time::Duration;

use sentinel_core::{ManualClock, Sentinel};
use sentinel_datasource::{Flow, Format, Hotspot, Pipeline};

#[test]
fn the_status_lists_rules_of_its_kinds_whose_resource_no_entry_names() {
    let clock = ManualClock::new();
    let sentinel = Sentinel::builder().clock(clock.clone()).build();
    let flow = Pipeline::for_kind::<Flow>(&sentinel);
    let hotspot = Pipeline::for_kind::<Hotspot>(&sentinel);
    flow.apply(
        br#"[{"id": "orders", "resource": "POST /order", "threshold": 10}]"#,
        Format::Json,
    )
    .unwrap();
    hotspot
        .apply(
            br#"[{"id": "per-item", "resource": "GET /items/{id}", "metricType": 1, "threshold": 5}]"#,
            Format::Json,
        )
        .unwrap();
    assert!(flow.status().unmatched_rules.is_empty());

    drop(sentinel.entry("POST /orders").try_enter());
    drop(sentinel.entry("GET /items/{id}").try_enter());
    clock.advance(Duration::from_secs(300)); // the default grace period
    let unmatched = flow.status().unmatched_rules;
    let listed: Vec<(&str, &str, &str)> = unmatched
        .iter()
        .map(|r| (r.kind, r.id.as_str(), r.resource.as_str()))
        .collect();
    assert_eq!(listed, [("flow", "orders", "POST /order")]);
    assert!(
        hotspot.status().unmatched_rules.is_empty(),
        "the hot-parameter rule's resource had entries"
    );

    drop(sentinel.entry("POST /order").try_enter());
    assert!(flow.status().unmatched_rules.is_empty());
}
