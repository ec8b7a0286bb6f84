//! A file source inside a tokio runtime: it needs nothing from the runtime (its threads
//! are its own) and takes nothing from it (the runtime's one thread stays free for tasks).

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::PATIENCE;
use sentinel_core::Sentinel;
use sentinel_datasource::{FileSource, Flow, Pipeline};

#[tokio::test(flavor = "current_thread")]
async fn a_file_source_works_inside_a_single_threaded_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flow.yaml");
    fs::write(&path, "- {resource: r, threshold: 1}\n").unwrap();
    let sentinel = Sentinel::new();
    let source = FileSource::builder(&path)
        .debounce(Duration::from_millis(20))
        .start(Pipeline::for_kind::<Flow>(&sentinel))
        .unwrap();
    fs::write(&path, "- {resource: r, threshold: 2}\n").unwrap();
    // This task holds the runtime's only thread, yielding while it waits.
    let deadline = Instant::now() + PATIENCE;
    while sentinel.flow_rules()[0].threshold != 2.0 {
        assert!(Instant::now() < deadline, "the edit was not loaded");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(source);
}
