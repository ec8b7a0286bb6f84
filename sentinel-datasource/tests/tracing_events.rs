//! The pipeline's `tracing` events. In a test binary of its own: `tracing` caches per
//! call site whether anyone listens, and other tests' threads hitting the same call sites
//! while this test's thread-local subscriber registers would race with it.

mod common;

use common::{capture_events, fixture, listen_everywhere};
use sentinel_core::Sentinel;
use std::fs;

use sentinel_datasource::{FileSource, Flow, Format, Pipeline};

#[test]
fn rejections_and_loads_are_traced() {
    listen_everywhere();
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
    listen_everywhere();
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

#[test]
fn each_update_is_one_line_saying_what_changed_per_kind_and_from_where() {
    listen_everywhere();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.yaml");
    fs::write(
        &path,
        "flow:\n- {id: a, resource: r, threshold: 1}\n- {resource: b, threshold: 2}\n\
         isolation: [{resource: pool, threshold: 3}]\n",
    )
    .unwrap();
    let sentinel = Sentinel::new();
    let pipeline = Pipeline::builder(&sentinel)
        .kind::<Flow>()
        .kind::<sentinel_datasource::Isolation>()
        .build();
    let source = FileSource::watch(&path, pipeline).unwrap();
    assert_eq!(
        source.status().what.as_deref(),
        Some(path.to_str().unwrap())
    );
    // a changes, b goes, c comes; isolation unchanged.
    fs::write(
        &path,
        "flow:\n- {id: a, resource: r, threshold: 5}\n- {resource: c, threshold: 2}\n\
         isolation: [{resource: pool, threshold: 3}]\n",
    )
    .unwrap();
    let (applied, events) = capture_events(|| source.reload().unwrap());
    assert_eq!(applied.to_string(), "flow: +1 -1 ~1, isolation: +0 -0 ~0");
    let flow = applied.kinds[0];
    assert_eq!((flow.added, flow.removed, flow.modified), (1, 1, 1));
    let info: Vec<&String> = events
        .iter()
        .filter(|e| e.starts_with("INFO") && e.contains("source="))
        .collect();
    assert_eq!(info.len(), 1, "{events:#?}");
    assert!(
        info[0].contains("changes=flow: +1 -1 ~1, isolation: +0 -0 ~0"),
        "{}",
        info[0]
    );
    assert!(
        info[0].contains(&format!("what={}", path.display())),
        "{}",
        info[0]
    );

    // Several problems: one line in the log, one a line in the status.
    fs::write(
        &path,
        "flow: [{resource: a, threshold: -1}, {resource: b}]\n",
    )
    .unwrap();
    let (error, events) = capture_events(|| source.reload().unwrap_err());
    let warning = events
        .iter()
        .find(|e| e.starts_with("WARN"))
        .unwrap_or_else(|| panic!("no warning in {events:#?}"));
    assert!(!warning.contains('\n'), "{warning}");
    assert!(
        warning
            .contains("2 problems with the rules; the rules in force are unchanged: flow rule #0"),
        "{warning}"
    );
    assert!(
        warning.contains(&format!("what={}", path.display())),
        "{warning}"
    );
    assert_eq!(error.to_string().lines().count(), 3, "{error}");
    let status = source.status();
    assert_eq!(status.last_error.unwrap().error, error);
}

#[test]
fn an_edit_is_logged_on_one_info_line_with_its_kind_ids_and_target() {
    listen_everywhere();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flow.yaml");
    fs::write(&path, "- {id: old, resource: A, threshold: 1}\n").unwrap();
    let sentinel = Sentinel::new();
    let source = FileSource::builder(&path)
        .debounce(std::time::Duration::from_secs(3600))
        .start_strict(Pipeline::for_kind::<Flow>(&sentinel))
        .unwrap();
    let editor = source.editor();
    let (_, events) = capture_events(|| {
        editor
            .replace(
                "flow",
                b"[{id: new, resource: A, threshold: 2}, {resource: B, threshold: 3}]",
                Format::Yaml,
            )
            .unwrap()
    });
    let loud = |events: &[String]| -> Vec<String> {
        let quiet = ["DEBUG", "TRACE"];
        events
            .iter()
            .filter(|e| !quiet.iter().any(|level| e.starts_with(level)))
            .cloned()
            .collect()
    };
    let lines = loud(&events);
    assert_eq!(lines.len(), 1, "{events:#?}");
    let line = &lines[0];
    assert!(
        line.starts_with("INFO")
            && line.contains("rules replaced by an edit")
            && line.contains(r#"kind="flow""#)
            && line.contains(r#"ids=["new", "B"]"#)
            && line.contains("changes=flow: +2 -1 ~0")
            && line.contains(&format!("written_to=file {}", path.display())),
        "{line}"
    );
    // A refused edit changes nothing and logs nothing above debug: the caller has the
    // error.
    let (_, events) = capture_events(|| editor.replace("flow", b"[{}]", Format::Yaml).unwrap_err());
    assert!(loud(&events).is_empty(), "{events:#?}");
}
