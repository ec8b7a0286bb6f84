//! Strict starts of the file source: the first load must succeed, or no source is started
//! and the error says why. (The etcd and Kubernetes sources' strict starts are tested
//! with their servers, in `etcd_source.rs` and `k8s_source.rs`.)

mod common;

use std::fs;

use sentinel_core::Sentinel;
use sentinel_datasource::{FileSource, Flow, Pipeline, StartError, UpdateError};

fn strict(path: &std::path::Path, sentinel: &Sentinel) -> Result<FileSource, StartError> {
    FileSource::builder(path).start_strict(Pipeline::for_kind::<Flow>(sentinel))
}

#[test]
fn a_missing_file_fails_a_strict_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flow.yaml");
    let sentinel = Sentinel::new();
    let error = strict(&path, &sentinel).unwrap_err();
    let StartError::FirstLoad { what, error: cause } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(what, &path.display().to_string());
    assert!(matches!(cause, UpdateError::Missing { .. }), "{cause:?}");
    assert_eq!(
        error.to_string(),
        format!(
            "strict start of {} failed: {} does not exist",
            path.display(),
            path.display()
        )
    );
    assert!(sentinel.flow_rules().is_empty());
}

#[test]
fn invalid_content_fails_a_strict_start_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flow.yaml");
    fs::write(&path, "- resource: GET /items\n").unwrap();
    let sentinel = Sentinel::new();
    let error = strict(&path, &sentinel).unwrap_err();
    let cause = error.update_error().unwrap();
    assert_eq!(cause.problems()[0].field, "threshold", "{error}");
    assert!(
        error.to_string().contains("field `threshold` is required"),
        "{error}"
    );
    assert!(sentinel.flow_rules().is_empty());
}

#[test]
fn a_good_file_starts_strictly_and_is_watched_as_usual() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flow.yaml");
    fs::write(&path, "- resource: GET /items\n  threshold: 7\n").unwrap();
    let sentinel = Sentinel::new();
    let source = strict(&path, &sentinel).unwrap();
    assert_eq!(sentinel.flow_rules()[0].threshold, 7.0);
    assert!(source.status().is_healthy());
    // Later mistakes are rejected as after a plain start: the rules in force stay.
    fs::write(&path, "- resource: GET /items\n  threshold: -1\n").unwrap();
    assert!(source.reload().is_err());
    assert_eq!(sentinel.flow_rules()[0].threshold, 7.0);
}
