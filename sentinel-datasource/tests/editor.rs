//! Editing the rules of one kind as a whole set: in memory, and written back to a watched
//! file so that the edit survives a restart. (The etcd editor's tests are with the etcd
//! source's, in `etcd_source.rs`.)

mod common;

use std::fs;
use std::path::Path;
use std::time::Duration;

use common::{flow_rules, rules, wait_until};
use sentinel_core::Sentinel;
use sentinel_datasource::{
    EditError, FileSource, Flow, Format, KindUpdate, Pipeline, RuleEditor, UpdateError,
};

fn all_kinds(sentinel: &Sentinel) -> Pipeline {
    Pipeline::builder(sentinel).all_kinds().build()
}

const TWO_FLOW_RULES: &str =
    "flow:\n  - {id: a, resource: A, threshold: 10}\n  - {resource: B, threshold: 5}\n";

/// An instance with [`TWO_FLOW_RULES`] in force and an editor in memory.
fn in_memory_with_two_flow_rules() -> (Sentinel, Pipeline, RuleEditor) {
    let sentinel = Sentinel::new();
    let pipeline = all_kinds(&sentinel);
    pipeline
        .apply(TWO_FLOW_RULES.as_bytes(), Format::Yaml)
        .unwrap();
    let editor = RuleEditor::in_memory(&pipeline);
    (sentinel, pipeline, editor)
}

#[test]
fn a_valid_set_replaces_the_kind_and_says_what_changed() {
    let (sentinel, pipeline, editor) = in_memory_with_two_flow_rules();
    assert!(!editor.persisted());
    assert_eq!(editor.target(), None);
    assert_eq!(
        editor.kinds(),
        ["flow", "isolation", "circuitBreaker", "hotspot", "system"]
    );

    // a modified, B removed, C added.
    let applied = editor
        .replace(
            "flow",
            br#"[{"id": "a", "resource": "A", "threshold": 20}, {"resource": "C", "threshold": 1}]"#,
            Format::Json,
        )
        .unwrap();
    assert_eq!(
        applied.kinds,
        [KindUpdate {
            kind: "flow",
            rules: 2,
            changed: true,
            added: 1,
            removed: 1,
            modified: 1
        }]
    );
    assert_eq!(flow_rules(&sentinel), rules(&[("A", 20.0), ("C", 1.0)]));
    let status = pipeline.status();
    assert_eq!((status.updates_applied, status.updates_rejected), (2, 0));

    // A kind's display name works as well as its section; an empty list clears.
    let cleared = editor
        .replace("circuit breaker", b"[]", Format::Auto)
        .unwrap();
    assert_eq!(
        (cleared.kinds[0].kind, cleared.kinds[0].rules),
        ("circuit breaker", 0)
    );
}

#[test]
fn an_invalid_set_names_each_bad_rule_and_field_and_changes_nothing() {
    let (sentinel, pipeline, editor) = in_memory_with_two_flow_rules();
    let error = editor
        .replace(
            "flow",
            b"[{resource: A, threshold: 1}, {resource: GET /x, threshold: -1}, {resource: C, threshhold: 1}]",
            Format::Yaml,
        )
        .unwrap_err();
    let EditError::Invalid(problems) = &error else {
        panic!("{error:?}")
    };
    // Rule #2: a misspelt field, so the threshold is missing too.
    assert_eq!(problems.total(), 3, "{error}");
    let first = &problems.first()[0];
    assert_eq!(
        (first.index, first.resource.as_str(), first.field.as_str()),
        (1, "GET /x", "threshold")
    );
    assert!(first.reason.contains("got -1"), "{first}");
    let second = &problems.first()[1];
    assert_eq!((second.index, second.field.as_str()), (2, "threshhold"));
    assert_eq!(error.problems().len(), 3);
    assert_eq!(flow_rules(&sentinel), rules(&[("A", 10.0), ("B", 5.0)]));
    let status = pipeline.status();
    assert_eq!((status.updates_applied, status.updates_rejected), (1, 0));

    // Not a list of rules at all.
    for (body, format, text) in [
        (
            &b"flow: []"[..],
            Format::Yaml,
            "expected a list of flow rules, found a mapping",
        ),
        (b"[{", Format::Auto, "not valid JSON"),
        (b"", Format::Json, "the document is empty"),
        (b"[]\n---\n[]", Format::Yaml, "found 2 documents"),
    ] {
        let error = editor.replace("flow", body, format).unwrap_err();
        assert!(
            matches!(error, EditError::Unreadable(_)) && error.to_string().contains(text),
            "{error}"
        );
    }
    assert_eq!(flow_rules(&sentinel), rules(&[("A", 10.0), ("B", 5.0)]));
}

#[test]
fn an_unknown_kind_or_one_the_pipeline_does_not_load_is_refused() {
    let sentinel = Sentinel::new();
    let editor = RuleEditor::in_memory(&all_kinds(&sentinel));
    let error = editor.replace("flows", b"[]", Format::Json).unwrap_err();
    assert_eq!(
        error,
        EditError::UnknownKind {
            kind: "flows".into(),
            accepted: vec!["flow", "isolation", "circuitBreaker", "hotspot", "system"]
        }
    );
    assert_eq!(
        error.to_string(),
        "no rule kind \"flows\" to edit here; the kinds are flow, isolation, circuitBreaker, \
         hotspot, system"
    );

    let flow_only = RuleEditor::in_memory(&Pipeline::for_kind::<Flow>(&sentinel));
    let error = flow_only
        .replace("hotspot", b"[]", Format::Json)
        .unwrap_err();
    assert_eq!(
        error,
        EditError::UnknownKind {
            kind: "hotspot".into(),
            accepted: vec!["flow"]
        }
    );
}

/// A file of `content` in a new directory, watched by a source of every kind with
/// `debounce`.
fn watched(
    content: &str,
    debounce: Duration,
) -> (tempfile::TempDir, Sentinel, FileSource, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.yaml");
    fs::write(&path, content).unwrap();
    let sentinel = Sentinel::new();
    let source = FileSource::builder(&path)
        .debounce(debounce)
        .start_strict(all_kinds(&sentinel))
        .unwrap();
    (dir, sentinel, source, path)
}

/// The rules a new instance loads from the file, as a document.
fn reloaded(path: &Path) -> String {
    let pipeline = all_kinds(&Sentinel::new());
    pipeline
        .apply(&fs::read(path).unwrap(), Format::Yaml)
        .unwrap();
    pipeline.export(Format::Yaml).unwrap()
}

#[test]
fn an_edit_is_written_to_the_file_and_the_watcher_finds_it_in_force() {
    let (_dir, sentinel, source, path) = watched(TWO_FLOW_RULES, Duration::from_millis(20));
    let editor = source.editor();
    assert!(editor.persisted());
    assert_eq!(editor.target(), Some(format!("file {}", path.display())));
    editor
        .replace("flow", b"[{resource: A, threshold: 30}]", Format::Yaml)
        .unwrap();
    assert_eq!(flow_rules(&sentinel), rules(&[("A", 30.0)]));
    // What a restart would load: the same rules.
    assert_eq!(
        reloaded(&path),
        source.pipeline().export(Format::Yaml).unwrap()
    );
    assert_eq!(source.status().updates_applied, 2);
    wait_until("the watcher to read the written file", || {
        source.status().updates_applied >= 3
    });
    let status = source.status();
    assert!(status.is_healthy(), "{status}");
    assert_eq!(status.updates_rejected, 0);
    assert_eq!(flow_rules(&sentinel), rules(&[("A", 30.0)]));
    // No temporary file is left behind.
    assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
}

#[test]
fn replacing_one_kind_of_a_multi_kind_file_keeps_the_others() {
    let shop = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/shop.yaml")).unwrap();
    let (_dir, sentinel, source, path) = watched(&shop, Duration::from_secs(3600));
    let before = (
        sentinel.isolation_rules(),
        sentinel.circuit_breaker_rules(),
        sentinel.hotspot_rules(),
        sentinel.system_rules(),
    );
    assert_eq!(before.1.len(), 2);
    source
        .editor()
        .replace(
            "flow",
            b"[{resource: GET /items, threshold: 50}]",
            Format::Yaml,
        )
        .unwrap();

    let restarted = Sentinel::new();
    all_kinds(&restarted)
        .apply(&fs::read(&path).unwrap(), Format::Yaml)
        .unwrap();
    assert_eq!(flow_rules(&restarted), rules(&[("GET /items", 50.0)]));
    assert_eq!(
        (
            restarted.isolation_rules(),
            restarted.circuit_breaker_rules(),
            restarted.hotspot_rules(),
            restarted.system_rules(),
        ),
        before
    );
}

#[test]
fn a_hand_edit_not_loaded_yet_is_a_conflict_and_stays_in_the_file() {
    // The watcher waits an hour after an event: the hand edit is not loaded by itself.
    let (_dir, sentinel, source, path) = watched(TWO_FLOW_RULES, Duration::from_secs(3600));
    let editor = source.editor();
    let by_hand = "flow:\n  - {resource: H, threshold: 7}\n";
    fs::write(&path, by_hand).unwrap();
    let error = editor
        .replace("flow", b"[{resource: A, threshold: 30}]", Format::Yaml)
        .unwrap_err();
    assert!(
        matches!(&error, EditError::Conflict { what, .. } if *what == path.display().to_string()),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("changed since its rules were loaded"),
        "{error}"
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), by_hand);
    assert_eq!(flow_rules(&sentinel), rules(&[("A", 10.0), ("B", 5.0)]));

    // Content that was rejected is not overwritten either.
    fs::write(&path, "flow:\n  - {resource: H, threshold: -7}\n").unwrap();
    assert!(source.reload().is_err());
    let error = editor.replace("flow", b"[]", Format::Yaml).unwrap_err();
    assert!(matches!(error, EditError::Conflict { .. }), "{error:?}");

    // Once the file's content is in force, the edit goes through.
    fs::write(&path, by_hand).unwrap();
    source.reload().unwrap();
    editor
        .replace("flow", b"[{resource: A, threshold: 30}]", Format::Yaml)
        .unwrap();
    assert_eq!(
        reloaded(&path),
        source.pipeline().export(Format::Yaml).unwrap()
    );
}

#[test]
fn a_failed_write_puts_the_previous_rules_back() {
    let (_dir, sentinel, source, path) = watched(TWO_FLOW_RULES, Duration::from_secs(3600));
    // A directory where the editor's temporary file goes: creating it fails (even as
    // root).
    let temp = path.with_file_name(format!(".rules.yaml.{}.sentinel-edit", std::process::id()));
    fs::create_dir(&temp).unwrap();
    let error = source
        .editor()
        .replace("flow", b"[{resource: A, threshold: 30}]", Format::Yaml)
        .unwrap_err();
    let EditError::Write { what, message } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(*what, path.display().to_string());
    assert!(!message.is_empty());
    assert_eq!(flow_rules(&sentinel), rules(&[("A", 10.0), ("B", 5.0)]));
    assert_eq!(fs::read_to_string(&path).unwrap(), TWO_FLOW_RULES);
    assert_eq!(source.status().updates_applied, 1);
}

#[test]
fn a_document_the_editor_would_reshape_is_not_rewritten() {
    let custom_resource = "apiVersion: datasource.sentinel.io/v1alpha1\nkind: FlowRules\n\
                           metadata: {name: shop}\nspec:\n  rules:\n    - {resource: A, threshold: 10}\n";
    let (_dir, sentinel, source, path) = watched(custom_resource, Duration::from_secs(3600));
    let error = source
        .editor()
        .replace("flow", b"[{resource: A, threshold: 30}]", Format::Yaml)
        .unwrap_err();
    assert!(
        matches!(error, EditError::Write { .. }) && error.to_string().contains("custom resource"),
        "{error}"
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), custom_resource);
    assert_eq!(flow_rules(&sentinel), rules(&[("A", 10.0)]));
}

#[test]
fn a_missing_file_is_created_by_an_edit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flow.json");
    let sentinel = Sentinel::new();
    let source = FileSource::builder(&path)
        .debounce(Duration::from_secs(3600))
        .start(Pipeline::for_kind::<Flow>(&sentinel))
        .unwrap();
    assert!(matches!(
        source.status().last_error.map(|e| e.error),
        Some(UpdateError::Missing { .. })
    ));
    source
        .editor()
        .replace(
            "flow",
            br#"[{"resource": "A", "threshold": 3}]"#,
            Format::Json,
        )
        .unwrap();
    // JSON, by the file's extension: a plain list for a pipeline of one kind.
    let written = fs::read_to_string(&path).unwrap();
    assert!(written.starts_with('['), "{written}");
    let restarted = Sentinel::new();
    Pipeline::for_kind::<Flow>(&restarted)
        .apply(written.as_bytes(), Format::Json)
        .unwrap();
    assert_eq!(flow_rules(&restarted), rules(&[("A", 3.0)]));
    assert!(source.status().is_healthy());
}

#[test]
fn a_file_without_an_extension_keeps_the_format_of_its_content() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flow-rules");
    fs::write(&path, r#"[{"resource": "A", "threshold": 1}]"#).unwrap();
    let sentinel = Sentinel::new();
    let source = FileSource::builder(&path)
        .debounce(Duration::from_secs(3600))
        .start_strict(Pipeline::for_kind::<Flow>(&sentinel))
        .unwrap();
    source
        .editor()
        .replace("flow", b"[{resource: A, threshold: 2}]", Format::Yaml)
        .unwrap();
    let written = fs::read_to_string(&path).unwrap();
    assert_eq!(written, source.pipeline().export(Format::Json).unwrap());
}

#[test]
fn an_editor_is_a_cheap_handle_for_any_thread() {
    fn shareable<T: Clone + Send + Sync + std::fmt::Debug>(_: &T) {}
    let sentinel = Sentinel::new();
    let editor = RuleEditor::in_memory(&Pipeline::for_kind::<Flow>(&sentinel));
    shareable(&editor);
    let copy = editor.clone();
    std::thread::spawn(move || copy.replace("flow", b"[]", Format::Json).unwrap())
        .join()
        .unwrap();
    assert_eq!(editor.pipeline().status().updates_applied, 1);
}
