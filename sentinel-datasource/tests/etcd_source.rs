//! The etcd source against a real etcd (Debian's etcd-server) on loopback: each test starts
//! its own server with a temporary data directory and kills it when done.
#![cfg(feature = "etcd")]

mod common;
#[path = "support/etcd_server.rs"]
mod etcd_server;
#[path = "support/tcp_proxy.rs"]
mod tcp_proxy;

use std::time::Duration;

use common::{flow_rules, rules, wait_for_server};
use etcd_server::{EtcdServer, etcd_available};
use sentinel_core::Sentinel;
use sentinel_datasource::etcd_client::{Client, CompactionOptions, GetOptions};
use sentinel_datasource::{
    DeletePolicy, EditError, EtcdSource, EtcdSourceBuilder, Flow, Format, Isolation, Pipeline,
    StartError, UpdateError,
};
use tcp_proxy::TcpProxy;

/// A second etcd client, as the people or tools that change the rules.
struct Writer {
    rt: tokio::runtime::Runtime,
    client: Client,
}

impl Writer {
    fn connect(endpoint: &str) -> Writer {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = rt
            .block_on(Client::connect([endpoint], None))
            .expect("writer cannot connect to etcd");
        Writer { rt, client }
    }

    /// Puts `value` and returns the store's revision after it.
    fn put(&mut self, key: &str, value: &str) -> i64 {
        let response = self.rt.block_on(self.client.put(key, value, None)).unwrap();
        response.header().unwrap().revision()
    }

    /// The key's value, `None` if it does not exist.
    fn get(&mut self, key: &str) -> Option<String> {
        let response = self.rt.block_on(self.client.get(key, None)).unwrap();
        let value = response.kvs().first()?.value_str().unwrap().to_string();
        Some(value)
    }

    fn delete(&mut self, key: &str) {
        self.rt.block_on(self.client.delete(key, None)).unwrap();
    }

    fn revision(&mut self) -> i64 {
        let response = self
            .rt
            .block_on(self.client.get("/", Some(GetOptions::new().with_prefix())))
            .unwrap();
        response.header().unwrap().revision()
    }

    fn compact(&mut self, revision: i64) {
        let options = CompactionOptions::new().with_physical();
        self.rt
            .block_on(self.client.compact(revision, Some(options)))
            .unwrap();
    }
}

fn flow(resource: &str, threshold: u32) -> String {
    format!(r#"[{{"resource": "{resource}", "threshold": {threshold}}}]"#)
}

/// Quick retries, so that reconnecting takes a fraction of a second.
fn quick(builder: EtcdSourceBuilder) -> EtcdSourceBuilder {
    builder.retry(Duration::from_millis(50), Duration::from_millis(500))
}

fn last_error(source: &EtcdSource) -> Option<UpdateError> {
    source.status().last_error.map(|e| e.error)
}

#[test]
fn a_key_is_followed_through_updates_bad_values_deletion_and_return() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = EtcdServer::start(dir.path());
    let mut writer = Writer::connect(&etcd.endpoint());
    writer.put("/rules/flow", &flow("checkout", 10));
    let sentinel = Sentinel::new();
    let source = quick(EtcdSource::key([etcd.endpoint()], "/rules/flow"))
        .start(Pipeline::for_kind::<Flow>(&sentinel))
        .unwrap();
    assert!(source.wait_synced(common::SERVER_PATIENCE));
    assert_eq!(flow_rules(&sentinel), rules(&[("checkout", 10.0)]));

    writer.put("/rules/flow", &flow("checkout", 20));
    wait_for_server("the update", || {
        flow_rules(&sentinel) == rules(&[("checkout", 20.0)])
    });

    // Another key, even one sharing the prefix, is not this source's.
    writer.put("/rules/flow-other", &flow("other", 1));
    writer.put(
        "/rules/flow",
        r#"[{"resource": "checkout", "threshold": -1}]"#,
    );
    wait_for_server("the invalid value to be reported", || {
        last_error(&source).is_some_and(|e| e.to_string().contains("field `threshold`"))
    });
    assert_eq!(flow_rules(&sentinel), rules(&[("checkout", 20.0)]));
    assert!(!source.status().is_healthy());

    writer.put("/rules/flow", "");
    wait_for_server("the empty value to be reported", || {
        last_error(&source).is_some_and(|e| e.to_string().contains("empty"))
    });
    writer.delete("/rules/flow");
    wait_for_server("the deletion to be reported", || {
        matches!(last_error(&source), Some(UpdateError::Missing { .. }))
    });
    assert_eq!(flow_rules(&sentinel), rules(&[("checkout", 20.0)]));

    writer.put("/rules/flow", &flow("checkout", 30));
    wait_for_server("the key to come back", || {
        flow_rules(&sentinel) == rules(&[("checkout", 30.0)])
    });
    assert!(source.status().is_healthy());
    assert_eq!(source.status().updates_applied, 3);
}

#[test]
fn a_deleted_key_clears_the_rules_under_the_clear_policy() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = EtcdServer::start(dir.path());
    let mut writer = Writer::connect(&etcd.endpoint());
    writer.put("/rules/flow", &flow("checkout", 10));
    let sentinel = Sentinel::new();
    let pipeline = Pipeline::builder(&sentinel)
        .kind::<Flow>()
        .on_delete(DeletePolicy::ClearRules)
        .build();
    let source = quick(EtcdSource::key([etcd.endpoint()], "/rules/flow"))
        .start(pipeline)
        .unwrap();
    assert!(source.wait_synced(common::SERVER_PATIENCE));
    assert_eq!(sentinel.flow_rules().len(), 1);
    writer.delete("/rules/flow");
    wait_for_server("the rules to be cleared", || {
        sentinel.flow_rules().is_empty()
    });
    assert!(source.status().is_healthy());
}

#[test]
fn a_missing_key_is_reported_and_loaded_when_it_appears() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = EtcdServer::start(dir.path());
    let sentinel = Sentinel::new();
    let source = quick(EtcdSource::key([etcd.endpoint()], "/rules/flow"))
        .start(Pipeline::for_kind::<Flow>(&sentinel))
        .unwrap();
    assert!(source.wait_synced(common::SERVER_PATIENCE));
    let Some(UpdateError::Missing { what }) = last_error(&source) else {
        panic!("{:?}", source.status())
    };
    assert_eq!(what, "etcd key /rules/flow");
    Writer::connect(&etcd.endpoint()).put("/rules/flow", &flow("late", 1));
    wait_for_server("the new key", || {
        flow_rules(&sentinel) == rules(&[("late", 1.0)])
    });
}

#[test]
fn every_key_under_a_prefix_is_one_document_merged_per_kind() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = EtcdServer::start(dir.path());
    let mut writer = Writer::connect(&etcd.endpoint());
    writer.put("/svc/a", &flow("a", 1));
    writer.put(
        "/svc/b",
        "- {resource: b1, threshold: 2}\n- {resource: b2, threshold: 3}\n",
    );
    writer.put(
        "/svc/pools",
        "isolation:\n  - {resource: pool, threshold: 4}\n",
    );
    writer.put("/svcX", &flow("not under the prefix", 1));
    let sentinel = Sentinel::new();
    let pipeline = Pipeline::builder(&sentinel)
        .kind::<Flow>()
        .kind::<Isolation>()
        .build();
    let source = quick(EtcdSource::prefix([etcd.endpoint()], "/svc/"))
        .start(pipeline)
        .unwrap();
    assert!(source.wait_synced(common::SERVER_PATIENCE));
    // A plain list fits a source of one kind only; this one loads two.
    let Some(UpdateError::Document { name, .. }) = last_error(&source) else {
        panic!("{:?}", source.status())
    };
    assert!(name == "/svc/a" || name == "/svc/b", "{name}");
    assert_eq!(sentinel.isolation_rules().len(), 1);

    writer.put("/svc/a", "flow: [{resource: a, threshold: 1}]");
    writer.put(
        "/svc/b",
        "flow:\n  - {resource: b1, threshold: 2}\n  - {resource: b2, threshold: 3}\n",
    );
    wait_for_server("both flow documents", || sentinel.flow_rules().len() == 3);
    assert_eq!(
        flow_rules(&sentinel),
        rules(&[("a", 1.0), ("b1", 2.0), ("b2", 3.0)])
    );

    writer.put(
        "/svc/c",
        "flow: [{resource: c, threshold: 0, controlBehavior: Sideways}]",
    );
    wait_for_server(
        "the bad document to be reported",
        || matches!(last_error(&source), Some(UpdateError::Document { name, .. }) if name == "/svc/c"),
    );
    assert_eq!(sentinel.flow_rules().len(), 3);

    writer.delete("/svc/a");
    wait_for_server("a's rules to go", || {
        flow_rules(&sentinel) == rules(&[("b1", 2.0), ("b2", 3.0)])
    });
    assert_eq!(sentinel.isolation_rules().len(), 1);
}

#[test]
fn rules_stay_while_etcd_is_down_and_an_update_after_its_restart_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let mut etcd = EtcdServer::start(dir.path());
    Writer::connect(&etcd.endpoint()).put("/rules/flow", &flow("checkout", 10));
    let sentinel = Sentinel::new();
    let source = quick(EtcdSource::key([etcd.endpoint()], "/rules/flow"))
        .start(Pipeline::for_kind::<Flow>(&sentinel))
        .unwrap();
    assert!(source.wait_synced(common::SERVER_PATIENCE));

    etcd.kill();
    wait_for_server("the outage to show in the status", || {
        matches!(last_error(&source), Some(UpdateError::Watch { .. }))
    });
    assert!(!source.status().is_healthy());
    assert_eq!(flow_rules(&sentinel), rules(&[("checkout", 10.0)]));

    etcd.start_again();
    Writer::connect(&etcd.endpoint()).put("/rules/flow", &flow("checkout", 20));
    wait_for_server("the update after the restart", || {
        flow_rules(&sentinel) == rules(&[("checkout", 20.0)])
    });
    wait_for_server("the status to be healthy", || source.status().is_healthy());
}

#[test]
fn updates_written_while_the_watch_was_broken_are_not_missed() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = EtcdServer::start(dir.path());
    let proxy = TcpProxy::start(&etcd.address());
    let mut writer = Writer::connect(&etcd.endpoint());
    writer.put("/rules/flow", &flow("checkout", 10));
    let sentinel = Sentinel::new();
    let source = quick(EtcdSource::key([proxy.endpoint()], "/rules/flow"))
        .start(Pipeline::for_kind::<Flow>(&sentinel))
        .unwrap();
    assert!(source.wait_synced(common::SERVER_PATIENCE));

    proxy.cut();
    wait_for_server("the broken watch to show in the status", || {
        matches!(last_error(&source), Some(UpdateError::Watch { .. }))
    });
    writer.put("/rules/flow", &flow("checkout", 20));
    writer.put("/rules/other", &flow("other", 1));
    assert!(
        !source.status().is_healthy(),
        "the source must still be cut off"
    );
    assert_eq!(flow_rules(&sentinel), rules(&[("checkout", 10.0)]));

    proxy.resume();
    wait_for_server("the update made during the outage", || {
        flow_rules(&sentinel) == rules(&[("checkout", 20.0)])
    });
    assert!(source.status().is_healthy());
}

#[test]
fn a_compacted_revision_is_read_again_after_reconnecting() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = EtcdServer::start(dir.path());
    let proxy = TcpProxy::start(&etcd.address());
    let mut writer = Writer::connect(&etcd.endpoint());
    writer.put("/svc/a", &flow("a", 1));
    writer.put("/svc/b", &flow("b", 1));
    let sentinel = Sentinel::new();
    let source = quick(EtcdSource::prefix([proxy.endpoint()], "/svc/"))
        .start(Pipeline::for_kind::<Flow>(&sentinel))
        .unwrap();
    assert!(source.wait_synced(common::SERVER_PATIENCE));
    assert_eq!(flow_rules(&sentinel), rules(&[("a", 1.0), ("b", 1.0)]));

    proxy.cut();
    wait_for_server("the broken watch to show in the status", || {
        matches!(last_error(&source), Some(UpdateError::Watch { .. }))
    });
    writer.delete("/svc/a");
    let revision = writer.put("/svc/b", &flow("b", 2));
    writer.compact(revision);

    proxy.resume();
    wait_for_server("the state after the compaction", || {
        flow_rules(&sentinel) == rules(&[("b", 2.0)])
    });
    assert!(source.status().is_healthy());
}

#[test]
fn dropping_the_source_stops_it_and_nothing_is_written_to_etcd() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = EtcdServer::start(dir.path());
    let mut writer = Writer::connect(&etcd.endpoint());
    writer.put("/rules/flow", &flow("checkout", 10));
    let revision = writer.revision();
    let sentinel = Sentinel::new();
    let source = quick(EtcdSource::key([etcd.endpoint()], "/rules/flow"))
        .start(Pipeline::for_kind::<Flow>(&sentinel))
        .unwrap();
    assert!(source.wait_synced(common::SERVER_PATIENCE));
    let pipeline = source.pipeline().clone();
    drop(source);
    assert_eq!(writer.revision(), revision, "the source wrote to etcd");

    // A live source on a second instance shows when the updates could have arrived.
    let control = Sentinel::new();
    let _live = quick(EtcdSource::key([etcd.endpoint()], "/rules/flow"))
        .start(Pipeline::for_kind::<Flow>(&control))
        .unwrap();
    writer.put("/rules/flow", &flow("checkout", 20));
    wait_for_server("the live source to see the update", || {
        flow_rules(&control) == rules(&[("checkout", 20.0)])
    });
    assert_eq!(flow_rules(&sentinel), rules(&[("checkout", 10.0)]));
    assert_eq!(pipeline.status().updates_applied, 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_source_runs_on_the_callers_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = EtcdServer::start(dir.path());
    let mut client = Client::connect([etcd.endpoint()], None).await.unwrap();
    client
        .put("/rules/flow", flow("checkout", 10), None)
        .await
        .unwrap();
    let sentinel = Sentinel::new();
    let source = quick(EtcdSource::key([etcd.endpoint()], "/rules/flow"))
        .runtime(tokio::runtime::Handle::current())
        .start(Pipeline::for_kind::<Flow>(&sentinel))
        .unwrap();
    tokio::time::timeout(common::SERVER_PATIENCE, source.synced())
        .await
        .expect("the first read");
    assert_eq!(flow_rules(&sentinel), rules(&[("checkout", 10.0)]));
    client
        .put("/rules/flow", flow("checkout", 20), None)
        .await
        .unwrap();
    tokio::time::timeout(common::SERVER_PATIENCE, async {
        while flow_rules(&sentinel) != rules(&[("checkout", 20.0)]) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the update");
    drop(source);
}

#[test]
fn values_with_a_key_twice_a_missing_threshold_or_an_unserved_version_are_refused_briefly() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = EtcdServer::start(dir.path());
    let mut writer = Writer::connect(&etcd.endpoint());
    writer.put("/rules/flow", &flow("checkout", 10));
    let sentinel = Sentinel::new();
    let source = quick(EtcdSource::key([etcd.endpoint()], "/rules/flow"))
        .start(Pipeline::for_kind::<Flow>(&sentinel))
        .unwrap();
    assert!(source.wait_synced(common::SERVER_PATIENCE));
    let many_bad: Vec<String> = (0..5000)
        .map(|i| format!(r#"{{"resource": "r{i}", "threshold": "x{i}"}}"#))
        .collect();
    let many_bad = format!("[{}]", many_bad.join(","));
    let unserved = "apiVersion: datasource.sentinel.io/v9\nkind: FlowRules\n\
                    spec: {rules: [{resource: checkout, threshold: 1}]}\n";
    for (value, expected) in [
        (
            r#"[{"resource":"checkout","threshold":10,"threshold":1000}]"#,
            "key `threshold` is written twice at `[0].threshold`",
        ),
        (
            "- resource: checkout\n  threshold: 5\n- resource: cut-short\n",
            "flow rule #1 on resource \"cut-short\": field `threshold` is required",
        ),
        (unserved, "(the only version served)"),
        (&many_bad, "... and 4980 more problems"),
    ] {
        writer.put("/rules/flow", value);
        wait_for_server(&format!("{expected} reported"), || {
            last_error(&source).is_some_and(|e| e.to_string().contains(expected))
        });
        assert!(last_error(&source).unwrap().to_string().len() < 8192);
        assert_eq!(flow_rules(&sentinel), rules(&[("checkout", 10.0)]));
    }
    // A YAML stream of documents is their union.
    writer.put(
        "/rules/flow",
        "---\n- {resource: a, threshold: 1}\n---\n- {resource: b, threshold: 2}\n",
    );
    wait_for_server("the union", || {
        flow_rules(&sentinel) == rules(&[("a", 1.0), ("b", 2.0)])
    });
}

#[test]
fn a_strict_start_fails_against_an_unreachable_etcd() {
    let endpoint = format!("http://127.0.0.1:{}", etcd_server::free_port());
    let sentinel = Sentinel::new();
    let error = quick(EtcdSource::key([endpoint], "/rules/flow"))
        .start_strict(
            Pipeline::for_kind::<Flow>(&sentinel),
            Duration::from_secs(2),
        )
        .unwrap_err();
    assert!(matches!(error, StartError::TimedOut { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .starts_with("strict start of etcd key /rules/flow failed: no first read within 2s"),
        "{error}"
    );
    assert!(sentinel.flow_rules().is_empty());
}

#[test]
fn a_strict_start_succeeds_on_good_rules_and_fails_on_a_missing_or_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = EtcdServer::start(dir.path());
    let mut writer = Writer::connect(&etcd.endpoint());
    writer.put("/rules/flow", &flow("checkout", 10));
    writer.put(
        "/rules/bad",
        r#"[{"resource": "checkout", "threshold": -1}]"#,
    );
    let strict = |key: &str, sentinel: &Sentinel| {
        quick(EtcdSource::key([etcd.endpoint()], key)).start_strict(
            Pipeline::for_kind::<Flow>(sentinel),
            common::SERVER_PATIENCE,
        )
    };
    let sentinel = Sentinel::new();
    let source = strict("/rules/flow", &sentinel).unwrap();
    assert_eq!(flow_rules(&sentinel), rules(&[("checkout", 10.0)]));
    assert!(source.status().is_healthy());

    let sentinel = Sentinel::new();
    let error = strict("/rules/none", &sentinel).unwrap_err();
    assert!(
        matches!(error.update_error(), Some(UpdateError::Missing { .. })),
        "{error:?}"
    );
    let error = strict("/rules/bad", &sentinel).unwrap_err();
    assert!(matches!(error, StartError::FirstLoad { .. }), "{error:?}");
    assert_eq!(
        error.update_error().unwrap().problems()[0].field,
        "threshold",
        "{error}"
    );
    assert!(sentinel.flow_rules().is_empty());
}

/// Whether no etcd can run here (the reason printed: the test is skipped).
fn skip_without_etcd() -> bool {
    let missing = !etcd_available();
    if missing {
        eprintln!("skipped: no `etcd` binary on the PATH (Debian: etcd-server)");
    }
    missing
}

/// A key `/rules/flow` holding one flow rule (`checkout`, 10) and a source of flow rules
/// following it (on `rt` if given), its first read done; `None` (the reason printed) where
/// no etcd can run. Dropped source first.
struct FollowedKey {
    source: EtcdSource,
    sentinel: Sentinel,
    writer: Writer,
    etcd: EtcdServer,
    _dir: tempfile::TempDir,
}

impl FollowedKey {
    fn start(rt: Option<&tokio::runtime::Runtime>) -> Option<FollowedKey> {
        if skip_without_etcd() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let etcd = EtcdServer::start(dir.path());
        let mut writer = Writer::connect(&etcd.endpoint());
        writer.put("/rules/flow", &flow("checkout", 10));
        let sentinel = Sentinel::new();
        let mut builder = quick(EtcdSource::key([etcd.endpoint()], "/rules/flow"));
        if let Some(rt) = rt {
            builder = builder.runtime(rt.handle().clone());
        }
        let source = builder
            .start(Pipeline::for_kind::<Flow>(&sentinel))
            .unwrap();
        let synced = match rt {
            Some(rt) => rt.block_on(async {
                tokio::time::timeout(common::SERVER_PATIENCE, source.synced())
                    .await
                    .is_ok()
            }),
            None => source.wait_synced(common::SERVER_PATIENCE),
        };
        assert!(synced, "the first read");
        Some(FollowedKey {
            source,
            sentinel,
            writer,
            etcd,
            _dir: dir,
        })
    }
}

#[test]
fn an_edit_is_put_on_the_key_and_a_second_instance_loads_it() {
    let Some(FollowedKey {
        source,
        sentinel,
        mut writer,
        etcd,
        _dir,
    }) = FollowedKey::start(None)
    else {
        return;
    };
    let editor = source.editor().expect("a key source has an editor");
    assert!(editor.persisted());
    assert_eq!(editor.target().as_deref(), Some("etcd key /rules/flow"));

    editor
        .replace("flow", flow("checkout", 25).as_bytes(), Format::Json)
        .unwrap();
    assert_eq!(flow_rules(&sentinel), rules(&[("checkout", 25.0)]));
    // The value is the document in force, in the format of the value it replaced.
    let value = writer.get("/rules/flow").unwrap();
    assert_eq!(value, source.pipeline().export(Format::Json).unwrap());
    let restarted = Sentinel::new();
    let _second = quick(EtcdSource::key([etcd.endpoint()], "/rules/flow"))
        .start_strict(
            Pipeline::for_kind::<Flow>(&restarted),
            common::SERVER_PATIENCE,
        )
        .unwrap();
    assert_eq!(flow_rules(&restarted), rules(&[("checkout", 25.0)]));

    // A second edit at once: the source's watch skips the puts of its editor (their rules
    // are in force already), and follows the key as before.
    editor
        .replace("flow", flow("checkout", 30).as_bytes(), Format::Json)
        .unwrap();
    assert!(writer.get("/rules/flow").unwrap().contains("30"));
    writer.put("/rules/flow", &flow("checkout", 35));
    wait_for_server("a later put to be applied", || {
        flow_rules(&sentinel) == rules(&[("checkout", 35.0)])
    });
    let status = source.status();
    assert!(status.is_healthy(), "{status}");
    assert_eq!((status.updates_applied, status.updates_rejected), (4, 0));
}

#[test]
fn a_put_the_source_has_not_applied_is_a_conflict_and_stays_in_etcd() {
    // The source runs on this runtime, only while the test drives it: a put made
    // meanwhile is not applied until then.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some(FollowedKey {
        source,
        sentinel,
        mut writer,
        // Bound, so that etcd runs until the end of the test.
        etcd: _etcd,
        _dir,
    }) = FollowedKey::start(Some(&rt))
    else {
        return;
    };
    let concurrent = flow("checkout", 40);
    writer.put("/rules/flow", &concurrent);

    let editor = source.editor().unwrap();
    let edit = flow("checkout", 25);
    let error = editor
        .replace("flow", edit.as_bytes(), Format::Json)
        .unwrap_err();
    assert!(
        matches!(&error, EditError::Conflict { what, .. } if what == "etcd key /rules/flow"),
        "{error:?}"
    );
    assert_eq!(writer.get("/rules/flow").unwrap(), concurrent);
    assert_eq!(flow_rules(&sentinel), rules(&[("checkout", 10.0)]));

    // Once the source has applied the put, an edit goes through.
    let applied = async {
        while flow_rules(&sentinel) != rules(&[("checkout", 40.0)]) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    rt.block_on(async { tokio::time::timeout(common::SERVER_PATIENCE, applied).await })
        .expect("the concurrent put to be applied");
    editor
        .replace("flow", edit.as_bytes(), Format::Json)
        .unwrap();
    assert_eq!(
        writer.get("/rules/flow").unwrap(),
        source.pipeline().export(Format::Json).unwrap()
    );
    drop(source);
}

#[test]
fn a_missing_key_is_created_by_an_edit_and_a_prefix_has_no_editor() {
    if skip_without_etcd() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let etcd = EtcdServer::start(dir.path());
    let mut writer = Writer::connect(&etcd.endpoint());
    let sentinel = Sentinel::new();
    let source = quick(EtcdSource::key([etcd.endpoint()], "/rules/flow"))
        .start(Pipeline::for_kind::<Flow>(&sentinel))
        .unwrap();
    assert!(source.wait_synced(common::SERVER_PATIENCE));
    source
        .editor()
        .unwrap()
        .replace("flow", flow("checkout", 5).as_bytes(), Format::Json)
        .unwrap();
    let value = writer.get("/rules/flow").expect("the key created");
    assert!(value.starts_with('['), "JSON for a new key: {value}");

    let prefix = quick(EtcdSource::prefix([etcd.endpoint()], "/rules/"))
        .start(Pipeline::for_kind::<Flow>(&Sentinel::new()))
        .unwrap();
    assert!(prefix.editor().is_none());
}
