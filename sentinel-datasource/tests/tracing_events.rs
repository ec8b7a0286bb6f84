//! The pipeline's `tracing` events. In a test binary of its own: `tracing` caches per
//! call site whether anyone listens, and other tests' threads hitting the same call sites
//! while this test's thread-local subscriber registers would race with it.

mod common;

use common::{capture_events, fixture};
use sentinel_core::Sentinel;
use std::fs;

use sentinel_datasource::{FileSource, Flow, Format, Pipeline};

#[test]
fn rejections_and_loads_are_traced() {
    let sentinel = Sentinel::new();
    let pipeline = Pipeline::for_kind::<Flow>(&sentinel);
    let (_, events) = capture_events(|| {
        pipeline.apply(&fixture("flow.json"), Format::Json).unwrap();
        pipeline.apply(b"[{]", Format::Json).unwrap_err();
    });
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("INFO") && e.contains("rules updated from source")),
        "{events:#?}"
    );
    let warning = events
        .iter()
        .find(|e| e.starts_with("WARN") && e.contains("rule update rejected"))
        .unwrap_or_else(|| panic!("no warning in {events:#?}"));
    assert!(warning.contains("not valid JSON"), "{warning}");
    assert!(warning.contains("source=flow rules"), "{warning}");
}

#[test]
fn the_warning_of_a_plain_start_says_when_no_rules_are_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flow.yaml");
    let sentinel = Sentinel::new();
    let pipeline = Pipeline::for_kind::<Flow>(&sentinel);
    let (source, events) = capture_events(|| FileSource::watch(&path, pipeline.clone()).unwrap());
    let warning = events
        .iter()
        .find(|e| e.starts_with("WARN"))
        .unwrap_or_else(|| panic!("no warning in {events:#?}"));
    assert!(
        warning.contains("no rules are in force from this source yet"),
        "{warning}"
    );
    assert!(!warning.contains("kept"), "{warning}");
    fs::write(&path, "- resource: GET /items\n  threshold: 7\n").unwrap();
    source.reload().unwrap();
    fs::write(&path, "- resource: GET /items\n  threshold: -7\n").unwrap();
    let (_, events) = capture_events(|| source.reload().unwrap_err());
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("WARN") && e.contains("the rules in force are kept")),
        "{events:#?}"
    );
}
