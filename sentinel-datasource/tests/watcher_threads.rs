//! Dropping a file source stops its threads. In a test binary of its own, so that no
//! other test's watcher threads are counted. Linux: threads are listed from /proc.
#![cfg(target_os = "linux")]

mod common;

use std::fs;
use std::time::Duration;

use common::wait_until;
use sentinel_core::Sentinel;
use sentinel_datasource::{FileSource, Flow, Pipeline};

/// Threads of this process whose name starts with `prefix`.
fn threads_named(prefix: &str) -> usize {
    fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}

#[test]
fn dropping_the_source_stops_its_threads_and_its_updates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flow.json");
    fs::write(&path, r#"[{"resource": "r", "threshold": 1}]"#).unwrap();
    let sentinel = Sentinel::new();
    assert_eq!(threads_named("notify-rs"), 0);

    let source = FileSource::builder(&path)
        .debounce(Duration::from_millis(20))
        .start(Pipeline::for_kind::<Flow>(&sentinel))
        .unwrap();
    // notify's inotify thread and the debouncer's thread (each names itself as it starts).
    wait_until("two watcher threads", || threads_named("notify-rs") == 2);
    fs::write(&path, r#"[{"resource": "r", "threshold": 2}]"#).unwrap();
    wait_until("the watch works", || {
        sentinel.flow_rules()[0].threshold == 2.0
    });
    let pipeline = source.pipeline().clone();

    drop(source);
    wait_until("the watcher threads gone", || {
        threads_named("notify-rs") == 0
    });
    // No thread is left to read the file: an edit now reaches nothing.
    let seen = pipeline.status();
    fs::write(&path, r#"[{"resource": "r", "threshold": 3}]"#).unwrap();
    assert_eq!(threads_named("notify-rs"), 0);
    assert_eq!(pipeline.status(), seen);
    assert_eq!(sentinel.flow_rules()[0].threshold, 2.0);
}
