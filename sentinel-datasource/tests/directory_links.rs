//! Rule paths through directory links, as deploys lay them out (`current -> v1`, a
//! directory re-created as a link): repointing the link, re-creating its target and editing
//! the file through it all take effect. Found by a review of the file source.

mod common;

use std::fs;
use std::time::Duration;

use common::wait_until;
use sentinel_core::Sentinel;
use sentinel_datasource::*;

const V1: &str = "[{\"resource\": \"r\", \"threshold\": 1}]";

const V2: &str = "[{\"resource\": \"r\", \"threshold\": 2}]";

const V3: &str = "[{\"resource\": \"r\", \"threshold\": 3}]";

fn watch(path: &std::path::Path) -> (Sentinel, FileSource) {
    let s = Sentinel::new();
    let src = FileSource::builder(path)
        .format(Format::Json)
        .debounce(Duration::from_millis(30))
        .start(Pipeline::for_kind::<Flow>(&s))
        .unwrap();
    (s, src)
}

fn th(s: &Sentinel) -> Vec<f64> {
    s.flow_rules().iter().map(|r| r.threshold).collect()
}

fn wait_th(s: &Sentinel, src: &FileSource, want: f64, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while th(s) != [want] {
        if std::time::Instant::now() > deadline {
            panic!(
                "{what}: threshold {:?}, wanted {want}; status {:?}",
                th(s),
                src.status()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn swap_link(target: &std::path::Path, link: &std::path::Path) {
    let tmp = link.with_extension("swaptmp");
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).unwrap();
    fs::rename(&tmp, link).unwrap();
}

#[test]
fn file_dir_symlink_in_path_repointed() {
    // /root/current -> v1 ; rule path /root/current/flow.json (a deploy's `ln -sfn`)
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    for (v, c) in [("v1", V1), ("v2", V2)] {
        fs::create_dir(root.join(v)).unwrap();
        fs::write(root.join(v).join("flow.json"), c).unwrap();
    }
    std::os::unix::fs::symlink("v1", root.join("current")).unwrap();
    let (s, src) = watch(&root.join("current/flow.json"));
    assert_eq!(th(&s), [1.0]);
    swap_link(std::path::Path::new("v2"), &root.join("current"));
    wait_th(&s, &src, 2.0, "after repointing the directory link");
    // and an in-place edit in the new target
    fs::write(root.join("v2/flow.json"), V3).unwrap();
    wait_th(&s, &src, 3.0, "edit in new target");
}

#[test]
fn file_dir_symlink_target_removed_and_recreated() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    fs::create_dir(root.join("real")).unwrap();
    fs::write(root.join("real/flow.json"), V1).unwrap();
    std::os::unix::fs::symlink("real", root.join("link")).unwrap();
    let (s, src) = watch(&root.join("link/flow.json"));
    assert_eq!(th(&s), [1.0]);
    fs::remove_dir_all(root.join("real")).unwrap();
    wait_until("the removal seen", || src.status().last_error.is_some());
    fs::create_dir(root.join("real")).unwrap();
    fs::write(root.join("real/flow.json"), V2).unwrap();
    wait_th(
        &s,
        &src,
        2.0,
        "after re-creating the link's target directory",
    );
}

#[test]
fn file_dir_removed_and_recreated_as_symlink_then_repointed() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    fs::create_dir(root.join("rules")).unwrap();
    fs::write(root.join("rules/flow.json"), V1).unwrap();
    let (s, src) = watch(&root.join("rules/flow.json"));
    assert_eq!(th(&s), [1.0]);
    fs::remove_dir_all(root.join("rules")).unwrap();
    wait_until("the removal seen", || src.status().last_error.is_some());
    fs::create_dir(root.join("a")).unwrap();
    fs::write(root.join("a/flow.json"), V2).unwrap();
    std::os::unix::fs::symlink("a", root.join("rules")).unwrap();
    wait_th(&s, &src, 2.0, "dir re-created as a symlink");
    fs::write(root.join("a/flow.json"), V3).unwrap();
    wait_th(&s, &src, 3.0, "edit in place in the symlinked dir");
    fs::create_dir(root.join("b")).unwrap();
    fs::write(root.join("b/flow.json"), V1).unwrap();
    swap_link(std::path::Path::new("b"), &root.join("rules"));
    wait_th(&s, &src, 1.0, "dir symlink repointed");
}
