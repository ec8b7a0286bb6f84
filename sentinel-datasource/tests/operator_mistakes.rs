//! Rule files as operators and their tools get them wrong, on real files in a temporary
//! directory watched by a `FileSource`: a key written twice, a file cut off before a rule's
//! threshold, a custom resource of a version not served, a large document of bad rules.
//! Each is refused, named, and changes nothing; a YAML stream of several documents loads
//! as their union. Each test waits on a condition (with a timeout), never for a fixed time.

mod common;

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use common::{capture_events, wait_until};
use sentinel_core::Sentinel;
use sentinel_datasource::{FileSource, Flow, Format, MAX_PROBLEMS, Pipeline, UpdateError};
use tempfile::TempDir;

/// A watched rule file whose first content is in force.
struct RuleFile {
    _dir: TempDir,
    path: PathBuf,
    sentinel: Sentinel,
    source: FileSource,
}

impl RuleFile {
    /// Watches `name` with `pipeline`'s kinds, starting with `initial` in force.
    fn new(name: &str, initial: &str, pipeline: impl FnOnce(&Sentinel) -> Pipeline) -> RuleFile {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        fs::write(&path, initial).unwrap();
        let sentinel = Sentinel::new();
        let source = FileSource::builder(&path)
            .debounce(Duration::from_millis(30))
            .start(pipeline(&sentinel))
            .unwrap();
        assert!(source.status().is_healthy(), "{:?}", source.status());
        RuleFile {
            _dir: dir,
            path,
            sentinel,
            source,
        }
    }

    /// Watches `name` with a pipeline of every kind, starting with `initial` in force.
    fn all_kinds(name: &str, initial: &str) -> RuleFile {
        RuleFile::new(name, initial, |s| Pipeline::builder(s).all_kinds().build())
    }

    /// A flow file `flow.<ext>` with `GET /items` at threshold 1 in force.
    fn flow(ext: &str) -> RuleFile {
        let initial = "[{\"resource\": \"GET /items\", \"threshold\": 1}]";
        let file = RuleFile::new(&format!("flow.{ext}"), initial, Pipeline::for_kind::<Flow>);
        assert_eq!(file.thresholds(), [1.0]);
        file
    }

    fn thresholds(&self) -> Vec<f64> {
        let rules = self.sentinel.flow_rules();
        rules.iter().map(|r| r.threshold).collect()
    }

    /// Saves `content` (written beside the file and renamed over it, as editors do).
    fn save(&self, content: &str) {
        let temp = self.path.with_extension("tmp");
        fs::write(&temp, content).unwrap();
        fs::rename(&temp, &self.path).unwrap();
    }

    /// Saves `content`, waits for it to be refused, checks that the rules in force did not
    /// change, and returns the error.
    fn refused(&self, content: &str) -> UpdateError {
        let before = (self.sentinel.flow_rules(), self.status_rejected());
        self.save(content);
        wait_until("the update refused", || self.status_rejected() > before.1);
        assert_eq!(self.sentinel.flow_rules(), before.0, "the rules changed");
        self.source.status().last_error.unwrap().error
    }

    fn status_rejected(&self) -> u64 {
        self.source.status().updates_rejected
    }
}

#[test]
fn a_key_written_twice_is_refused_in_json_and_yaml_naming_it_and_where() {
    let json = RuleFile::flow("json");
    let yaml = RuleFile::flow("yaml");
    // Sections of a multi-kind file, and custom-resource fields, alike.
    let all = RuleFile::all_kinds("service.yaml", "flow: [{resource: a, threshold: 1}]\n");
    let custom_resource = "apiVersion: datasource.sentinel.io/v1alpha1\nkind: FlowRules\n\
        metadata: {name: a}\nspec:\n  rules:\n  - resource: a\n    resource: b\n    threshold: 1\n";
    for (file, content, key, at) in [
        (
            &json,
            r#"[{"resource":"api","threshold":10,"threshold":1000}]"#,
            "threshold",
            "[0].threshold",
        ),
        (
            &yaml,
            "- resource: api\n  threshold: 10\n  threshold: 1000\n",
            "threshold",
            "[0].threshold",
        ),
        (
            &all,
            "flow: [{resource: a, threshold: 2}]\nisolation: []\nflow: []\n",
            "flow",
            "flow",
        ),
        (&all, custom_resource, "resource", "spec.rules[0].resource"),
    ] {
        let error = file.refused(content);
        assert!(matches!(error, UpdateError::Syntax { .. }), "{error}");
        let text = error.to_string();
        let expected = format!("key `{key}` is written twice at `{at}`");
        assert!(text.contains(&expected), "{content:?}: {text}");
    }
}

#[test]
fn a_file_cut_off_before_a_threshold_is_refused_and_an_explicit_zero_is_not() {
    let file = RuleFile::flow("yaml");
    // A tool wrote the first rule and the start of the second, then stopped at a line end.
    let cut = "- resource: GET /items\n  threshold: 5\n- id: second\n  resource: POST /orders\n";
    let error = file.refused(cut);
    let [problem] = error.problems() else {
        panic!("{error}")
    };
    assert_eq!(
        (problem.index, problem.id.as_str(), problem.field.as_str()),
        (1, "second", "threshold")
    );
    assert!(
        error
            .to_string()
            .contains("flow rule #1 (id \"second\") on resource \"POST /orders\": field `threshold` is required"),
        "{error}"
    );
    file.save("- resource: GET /items\n  threshold: 0\n");
    wait_until("an explicit 0 in force", || file.thresholds() == [0.0]);
}

#[test]
fn every_kind_requires_the_fields_whose_default_changes_the_rule() {
    let all = RuleFile::all_kinds("service.yaml", "flow: [{resource: a, threshold: 1}]\n");
    let error = all.refused(
        "flow:\n\
         - {resource: a}\n\
         - {resource: m, tokenCalculateStrategy: MemoryAdaptive, lowMemUsageThreshold: 9, highMemUsageThreshold: 3, memLowWaterMarkBytes: 1}\n\
         isolation: [{resource: i}]\n\
         circuitBreaker:\n\
         - {resource: slow, threshold: 0.5, retryTimeoutMs: 10}\n\
         - {resource: errors, strategy: ErrorCount, threshold: 3}\n\
         hotspot: [{resource: h, paramIndex: 0}]\n\
         system: [{metricType: Concurrency}]\n",
    );
    let missing: Vec<(&str, usize, &str)> = error
        .problems()
        .iter()
        .map(|p| (p.kind, p.index, p.field.as_str()))
        .collect();
    assert_eq!(
        missing,
        [
            ("flow", 0, "threshold"),
            ("flow", 1, "memHighWaterMarkBytes"),
            ("isolation", 0, "threshold"),
            ("circuit breaker", 0, "strategy"),
            ("circuit breaker", 0, "maxAllowedRtMs"),
            ("circuit breaker", 1, "retryTimeoutMs"),
            ("hot parameter", 0, "metricType"),
            ("hot parameter", 0, "threshold"),
            ("system", 0, "triggerCount"),
        ],
        "{error}"
    );
}

#[test]
fn a_missing_threshold_in_a_custom_resource_is_refused_too() {
    let file = RuleFile::flow("yaml");
    let error = file.refused(
        "apiVersion: datasource.sentinel.io/v1alpha1\nkind: FlowRules\nmetadata: {name: a}\n\
         spec:\n  rules:\n  - resource: GET /items\n",
    );
    assert_eq!(error.problems()[0].field, "threshold", "{error}");
}

#[test]
fn only_the_served_custom_resource_version_is_read() {
    let file = RuleFile::flow("yaml");
    let resource = |api_version: &str| {
        format!(
            "apiVersion: {api_version}\nkind: FlowRules\nmetadata: {{name: a}}\n\
             spec:\n  rules:\n  - {{resource: GET /items, threshold: 7}}\n"
        )
    };
    for api_version in ["datasource.sentinel.io/v9", "datasource.sentinel.io"] {
        let text = file.refused(&resource(api_version)).to_string();
        assert!(
            text.contains(
                "needs `apiVersion: datasource.sentinel.io/v1alpha1` (the only version served)"
            ),
            "{text}"
        );
    }
    file.save(&resource("datasource.sentinel.io/v1alpha1"));
    wait_until("the served version in force", || file.thresholds() == [7.0]);
}

/// Checks that `error` reports `total` problems, the first [`MAX_PROBLEMS`] in full, in a
/// few KB of text, and returns the text.
fn short_report(error: &UpdateError, total: usize) -> String {
    let UpdateError::InvalidRules(problems) = error else {
        panic!("{error}")
    };
    assert_eq!(problems.total(), total);
    assert_eq!(problems.first().len(), MAX_PROBLEMS);
    let text = error.to_string();
    assert!(text.len() < 8192, "{} bytes of error text", text.len());
    assert!(
        text.starts_with(&format!("{total} problems with the rules")),
        "{text}"
    );
    let more = total - MAX_PROBLEMS;
    assert!(
        text.ends_with(&format!("... and {more} more problems")),
        "{text}"
    );
    text
}

#[test]
fn a_large_document_of_bad_rules_gives_a_short_report() {
    let file = RuleFile::flow("json");
    let document = |rule: &dyn Fn(usize) -> String| {
        let rules: Vec<String> = (0..20_000).map(rule).collect();
        format!("[{}]", rules.join(",\n"))
    };
    // About 2 MB of rules the engine refuses (negative thresholds) ...
    let invalid = document(&|i| {
        format!(r#"{{"id": "rule-{i:05}", "resource": "GET /r/{i}", "threshold": -{i}}}"#)
    });
    assert!(invalid.len() > 1 << 20);
    let error = file.refused(&invalid);
    let text = short_report(&error, 19_999);
    assert!(text.contains("(id \"rule-00001\")"), "{text}");
    // What is logged is as short (the engine is never handed the invalid set to refuse).
    let pipeline = Pipeline::for_kind::<Flow>(&file.sentinel);
    let (result, events) = capture_events(|| pipeline.apply(invalid.as_bytes(), Format::Json));
    assert!(result.is_err());
    let logged: usize = events.iter().map(String::len).sum();
    assert!(logged < 8192, "{logged} bytes logged");
    // ... and of rules that do not even decode, each echoing a long value.
    let long = "v".repeat(100);
    let undecodable = document(&|i| {
        format!(r#"{{"resource": "r{i}", "threshold": 1, "controlBehavior": "{long}{i}"}}"#)
    });
    let error = file.refused(&undecodable);
    short_report(&error, 20_000);
    // The status keeps the same short report.
    let status = format!("{:?}", file.source.status());
    assert!(status.len() < 16384, "{} bytes of status", status.len());

    // A single huge field name is cut, not echoed.
    let text = file
        .refused(&format!(
            r#"[{{"resource": "x", "threshold": 1, "{}": 1}}]"#,
            "k".repeat(1 << 20)
        ))
        .to_string();
    assert!(text.len() < 1024, "{} bytes of error text", text.len());
    assert!(text.contains("bytes left out"), "{text}");
}

#[test]
fn a_yaml_stream_of_several_documents_loads_as_their_union() {
    let all = RuleFile::all_kinds("rules.yaml", "flow: [{resource: old, threshold: 1}]\n");
    // As `kubectl get -o yaml` of single objects, or a generator, writes them.
    let stream = "---\n\
apiVersion: datasource.sentinel.io/v1alpha1\nkind: FlowRules\nmetadata: {name: a}\n\
spec:\n  rules:\n  - {resource: a, threshold: 1}\n\
---\n\
apiVersion: datasource.sentinel.io/v1alpha1\nkind: IsolationRules\nmetadata: {name: b}\n\
spec:\n  rules:\n  - {resource: b, threshold: 2}\n\
---\n\
apiVersion: datasource.sentinel.io/v1alpha1\nkind: FlowRules\nmetadata: {name: c}\n\
spec:\n  rules:\n  - {resource: c, threshold: 3}\n\
---\n";
    all.save(stream);
    wait_until("the union in force", || {
        all.sentinel.flow_rules().len() == 2 && all.sentinel.isolation_rules().len() == 1
    });
    let resources: Vec<String> = all
        .sentinel
        .flow_rules()
        .into_iter()
        .map(|r| r.resource)
        .collect();
    assert_eq!(resources, ["a", "c"]);

    // All or nothing: a bad rule in the third document changes no kind. Rules are numbered
    // through the file's rules of their kind.
    let error = all.refused(&stream.replace("{resource: c, threshold: 3}", "{resource: c}"));
    let [problem] = error.problems() else {
        panic!("{error}")
    };
    assert_eq!((problem.kind, problem.index), ("flow", 1));
    assert_eq!(all.sentinel.isolation_rules().len(), 1);

    // A Kubernetes List (`kubectl get flowrules -o yaml`) is the union of its items.
    let list = "apiVersion: v1\nkind: List\nitems:\n\
- apiVersion: datasource.sentinel.io/v1alpha1\n  kind: FlowRules\n  metadata: {name: a}\n  spec: {rules: [{resource: d, threshold: 4}]}\n\
- apiVersion: datasource.sentinel.io/v1alpha1\n  kind: FlowRules\n  metadata: {name: b}\n  spec: {rules: [{resource: e, threshold: 5}]}\n";
    all.save(list);
    wait_until("the List in force", || {
        all.sentinel
            .flow_rules()
            .iter()
            .map(|r| r.threshold)
            .eq([4.0, 5.0])
    });
}
