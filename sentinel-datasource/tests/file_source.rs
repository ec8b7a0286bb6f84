//! The file source on real files in a temporary directory: every way of saving, bad
//! content, deletion, bursts. Each test waits on a condition (with a timeout), never for
//! a fixed time.

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use common::{fixture, wait_until};
use sentinel_core::Sentinel;
use sentinel_datasource::{DeletePolicy, FileSource, Flow, Pipeline, SourceStatus, UpdateError};
use tempfile::TempDir;

/// The quiet time of the sources under test.
const DEBOUNCE: Duration = Duration::from_millis(30);

/// A flow document of one rule on `GET /items` with `threshold`.
fn rules(threshold: u32) -> String {
    format!("[{{\"resource\": \"GET /items\", \"threshold\": {threshold}}}]\n")
}

/// A watched rule file in a fresh temporary directory.
struct Watched {
    _dir: TempDir,
    path: PathBuf,
    sentinel: Sentinel,
    source: FileSource,
}

impl Watched {
    /// Watches `name` (written with `initial` first, unless `None`).
    fn new(name: &str, initial: Option<&str>, policy: DeletePolicy) -> Watched {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        if let Some(content) = initial {
            fs::write(&path, content).unwrap();
        }
        let sentinel = Sentinel::new();
        let pipeline = Pipeline::builder(&sentinel)
            .kind::<Flow>()
            .on_delete(policy)
            .build();
        let source = FileSource::builder(&path)
            .debounce(DEBOUNCE)
            .start(pipeline)
            .unwrap();
        Watched {
            _dir: dir,
            path,
            sentinel,
            source,
        }
    }

    /// Watches `flow.json`, starting with threshold 1 in force.
    fn with_threshold_one() -> Watched {
        let w = Watched::new("flow.json", Some(&rules(1)), DeletePolicy::KeepRules);
        assert_eq!(w.thresholds(), [1.0], "loaded at start");
        w
    }

    fn thresholds(&self) -> Vec<f64> {
        self.sentinel
            .flow_rules()
            .iter()
            .map(|r| r.threshold)
            .collect()
    }

    fn status(&self) -> SourceStatus {
        self.source.status()
    }

    fn wait_for_threshold(&self, threshold: u32) {
        wait_until(&format!("threshold {threshold} in force"), || {
            self.thresholds() == [f64::from(threshold)]
        });
    }

    /// Waits until one more update than `before` was rejected; returns its error.
    fn wait_for_rejection(&self, before: u64) -> UpdateError {
        wait_until("an update rejected", || {
            self.status().updates_rejected > before
        });
        self.status().last_error.unwrap().error
    }
}

#[test]
fn an_in_place_write_takes_effect() {
    let w = Watched::with_threshold_one();
    let mut file = OpenOptions::new().write(true).open(&w.path).unwrap();
    let content = rules(25);
    file.write_all(content.as_bytes()).unwrap();
    file.set_len(content.len() as u64).unwrap();
    drop(file);
    w.wait_for_threshold(25);
}

#[test]
fn truncate_then_write_takes_effect_and_the_empty_file_between_clears_nothing() {
    let w = Watched::with_threshold_one();
    let rejected = w.status().updates_rejected;
    let mut file = fs::File::create(&w.path).unwrap(); // truncates
    assert_eq!(w.wait_for_rejection(rejected), UpdateError::Empty);
    assert_eq!(w.thresholds(), [1.0], "a zero-length file clears nothing");
    file.write_all(rules(2).as_bytes()).unwrap();
    drop(file);
    w.wait_for_threshold(2);
}

#[test]
fn write_temp_then_rename_takes_effect() {
    let w = Watched::with_threshold_one();
    let temp = w.path.with_file_name(".flow.json.swp");
    fs::write(&temp, rules(3)).unwrap();
    fs::rename(&temp, &w.path).unwrap();
    w.wait_for_threshold(3);
    // And again, to show the watch survives the old file's replacement.
    fs::write(&temp, rules(4)).unwrap();
    fs::rename(&temp, &w.path).unwrap();
    w.wait_for_threshold(4);
}

#[test]
fn delete_keeps_the_rules_and_re_creation_is_picked_up() {
    let w = Watched::with_threshold_one();
    let rejected = w.status().updates_rejected;
    fs::remove_file(&w.path).unwrap();
    let error = w.wait_for_rejection(rejected);
    assert!(matches!(error, UpdateError::Missing { .. }), "{error}");
    assert_eq!(w.thresholds(), [1.0]);
    fs::write(&w.path, rules(5)).unwrap();
    w.wait_for_threshold(5);
    assert!(w.status().is_healthy());
}

#[test]
fn delete_clears_the_rules_under_the_clear_policy() {
    let w = Watched::new("flow.json", Some(&rules(1)), DeletePolicy::ClearRules);
    fs::remove_file(&w.path).unwrap();
    wait_until("rules cleared", || w.sentinel.flow_rules().is_empty());
    fs::write(&w.path, rules(6)).unwrap();
    w.wait_for_threshold(6);
}

#[test]
fn a_file_missing_at_start_is_loaded_when_it_appears() {
    let w = Watched::new("later.yaml", None, DeletePolicy::KeepRules);
    let status = w.status();
    assert!(matches!(
        status.last_error.map(|e| e.error),
        Some(UpdateError::Missing { .. })
    ));
    assert!(w.sentinel.flow_rules().is_empty());
    fs::write(&w.path, "- resource: GET /items\n  threshold: 7\n").unwrap();
    w.wait_for_threshold(7);
}

#[test]
fn an_explicit_empty_list_clears_the_rules() {
    let w = Watched::with_threshold_one();
    fs::write(&w.path, "[]").unwrap();
    wait_until("rules cleared", || w.sentinel.flow_rules().is_empty());
}

#[test]
fn bad_content_never_changes_the_rules_and_shows_in_the_status() {
    let w = Watched::with_threshold_one();
    let mut garbage = Vec::with_capacity(10 << 20);
    let mut x: u32 = 0x2545_f491;
    while garbage.len() < 10 << 20 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        garbage.extend_from_slice(&x.to_le_bytes());
    }
    type Check = fn(&UpdateError) -> bool;
    let cases: [(&str, Vec<u8>, Check); 5] = [
        (
            "not JSON",
            b"[{\"resource\": \"GET /items\", \"thresh".to_vec(),
            |e| matches!(e, UpdateError::Syntax { .. }),
        ),
        (
            "invalid rule",
            rules(1).replace('1', "-1").into_bytes(),
            |e| e.problems().first().is_some_and(|p| p.field == "threshold"),
        ),
        (
            "10 MB of garbage",
            garbage,
            // Random bytes are not UTF-8; the parser says so at once.
            |e| matches!(e, UpdateError::Syntax { message, .. } if message.contains("line 1")),
        ),
        ("isolation rules", fixture("isolation.json"), |e| {
            e.problems()
                .first()
                .is_some_and(|p| p.field == "metricType")
        }),
        ("a null document", b"null".to_vec(), |e| {
            *e == UpdateError::Empty
        }),
    ];
    let temp = w.path.with_file_name("flow.json.new");
    for (what, content, expected) in cases {
        // Written whole and renamed into place, so the file holds nothing but this content.
        fs::write(&temp, &content).unwrap();
        fs::rename(&temp, &w.path).unwrap();
        wait_until(&format!("{what} rejected"), || {
            w.status().last_error.is_some_and(|e| expected(&e.error))
        });
        assert_eq!(w.thresholds(), [1.0], "{what} changed the rules");
        assert_eq!(w.status().rules_of("flow"), Some(1));
    }
    fs::write(&w.path, rules(8)).unwrap();
    w.wait_for_threshold(8);
}

#[test]
fn a_file_over_the_size_limit_is_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flow.json");
    fs::write(&path, rules(1)).unwrap();
    let sentinel = Sentinel::new();
    let source = FileSource::builder(&path)
        .max_bytes(1024)
        .start(Pipeline::for_kind::<Flow>(&sentinel))
        .unwrap();
    let mut big = String::from("[");
    while big.len() < 2048 {
        big.push_str("{\"resource\": \"GET /items\", \"threshold\": 9},");
    }
    big.push_str("{\"resource\": \"x\", \"threshold\": 9}]");
    fs::write(&path, big).unwrap();
    wait_until("the big file rejected", || {
        matches!(
            source.status().last_error.map(|e| e.error),
            Some(UpdateError::TooLarge { limit: 1024, .. })
        )
    });
    assert_eq!(sentinel.flow_rules()[0].threshold, 1.0);
}

#[test]
fn a_burst_of_100_writes_ends_with_the_last_content_in_force() {
    let w = Watched::with_threshold_one();
    let temp = w.path.with_file_name("flow.json.tmp");
    for threshold in 2..=101 {
        if threshold % 2 == 0 {
            fs::write(&w.path, rules(threshold)).unwrap();
        } else {
            fs::write(&temp, rules(threshold)).unwrap();
            fs::rename(&temp, &w.path).unwrap();
        }
    }
    w.wait_for_threshold(101);
}

#[cfg(unix)]
#[test]
fn a_configmap_style_symlink_swap_takes_effect() {
    use std::os::unix::fs::symlink;
    // Kubernetes' atomic writer: flow.json -> ..data/flow.json, ..data -> ..v1; an update
    // writes ..v2 and renames a new ..data link over the old one.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir(root.join("..v1")).unwrap();
    fs::write(root.join("..v1/flow.json"), rules(1)).unwrap();
    symlink("..v1", root.join("..data")).unwrap();
    symlink("..data/flow.json", root.join("flow.json")).unwrap();
    let sentinel = Sentinel::new();
    let _source = FileSource::watch(
        root.join("flow.json"),
        Pipeline::for_kind::<Flow>(&sentinel),
    )
    .unwrap();
    assert_eq!(sentinel.flow_rules()[0].threshold, 1.0);
    fs::create_dir(root.join("..v2")).unwrap();
    fs::write(root.join("..v2/flow.json"), rules(9)).unwrap();
    symlink("..v2", root.join("..data_tmp")).unwrap();
    fs::rename(root.join("..data_tmp"), root.join("..data")).unwrap();
    wait_until("the swapped ConfigMap content in force", || {
        sentinel.flow_rules()[0].threshold == 9.0
    });
}

#[test]
fn an_idle_source_does_not_read_its_file_again() {
    let w = Watched::with_threshold_one();
    // Reading the file (an inotify IN_OPEN in the watched directory) must not cause a read.
    for _ in 0..3 {
        w.source.reload().unwrap();
    }
    let applied = w.status().updates_applied;
    assert_eq!(applied, 4, "the load at start and three reloads");
    // That nothing happens can only be seen over a span of time: 20 quiet times, in which
    // a source triggered by its own reads would have read the file about 20 times.
    std::thread::sleep(20 * DEBOUNCE);
    assert_eq!(w.status().updates_applied, applied);
}

#[test]
fn a_save_takes_effect_within_a_second_with_the_default_debounce() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flow.json");
    fs::write(&path, rules(1)).unwrap();
    let sentinel = Sentinel::new();
    let _source = FileSource::watch(&path, Pipeline::for_kind::<Flow>(&sentinel)).unwrap();
    let saved = std::time::Instant::now();
    fs::write(&path, rules(10)).unwrap();
    wait_until("threshold 10 in force", || {
        sentinel.flow_rules()[0].threshold == 10.0
    });
    let took = saved.elapsed();
    assert!(took < Duration::from_secs(1), "took {took:?}");
}

/// A source of flow rules watching `path` with the tests' quiet time.
fn watch_flow(path: &std::path::Path, sentinel: &Sentinel) -> FileSource {
    FileSource::builder(path)
        .debounce(DEBOUNCE)
        .start(Pipeline::for_kind::<Flow>(sentinel))
        .unwrap()
}

/// Runs `f` on a thread of its own and returns its result, failing the test if it takes
/// longer than [`common::PATIENCE`] (a call that blocks forever fails instead of hanging).
fn within_patience<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(common::PATIENCE)
        .unwrap_or_else(|_| panic!("{what} did not return within {:?}", common::PATIENCE))
}

/// Makes a FIFO at `path` with `mkfifo` (and waits for it to exit).
#[cfg(unix)]
fn mkfifo(path: &std::path::Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

#[cfg(unix)]
#[test]
fn a_fifo_at_the_rule_path_is_refused_without_blocking_and_the_source_drops_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.json");
    mkfifo(&path);
    let sentinel = Sentinel::new();
    let pipeline = Pipeline::for_kind::<Flow>(&sentinel);
    let source = within_patience("starting on a FIFO", {
        let path = path.clone();
        move || {
            FileSource::builder(path)
                .debounce(DEBOUNCE)
                .start(pipeline)
                .unwrap()
        }
    });
    let error = source.status().last_error.unwrap().error;
    assert_eq!(
        error,
        UpdateError::NotAFile {
            what: path.display().to_string(),
            found: "a FIFO (named pipe)"
        }
    );
    assert!(
        error
            .to_string()
            .contains("is a FIFO (named pipe), not a regular file")
    );
    assert!(matches!(
        within_patience("a reload", move || (source.reload(), source)),
        (Err(UpdateError::NotAFile { .. }), _)
    ));

    // Replaced by a regular file, it loads; a FIFO, a socket or a link to a device put in
    // its place later is refused and the rules stay.
    let w = Watched::with_threshold_one();
    let socket = |p: &std::path::Path| drop(std::os::unix::net::UnixListener::bind(p).unwrap());
    let device = |p: &std::path::Path| std::os::unix::fs::symlink("/dev/zero", p).unwrap();
    for make in [mkfifo as fn(&std::path::Path), socket, device] {
        let rejected = w.status().updates_rejected;
        fs::remove_file(&w.path).unwrap();
        make(&w.path);
        wait_until("the special file refused", || {
            w.status().updates_rejected > rejected
                && matches!(
                    w.status().last_error.map(|e| e.error),
                    Some(UpdateError::NotAFile { .. })
                )
        });
        assert_eq!(w.thresholds(), [1.0]);
    }
    let Watched {
        _dir, path, source, ..
    } = w;
    fs::remove_file(&path).unwrap();
    mkfifo(&path);
    within_patience("dropping a source watching a FIFO", move || drop(source));
    drop(_dir);
}

#[test]
fn the_watch_survives_its_directory_removed_and_created_again() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("deploy/rules");
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("flow.json");
    fs::write(&path, rules(1)).unwrap();
    let sentinel = Sentinel::new();
    let source = watch_flow(&path, &sentinel);
    let threshold = || sentinel.flow_rules()[0].threshold;
    assert_eq!(threshold(), 1.0);
    // The rule directory, then the directory above it too, as deploy scripts do.
    for (n, removed) in [
        (2, dir.clone()),
        (3, root.path().join("deploy")),
        (4, dir.clone()),
    ] {
        let rejected = source.status().updates_rejected;
        fs::remove_dir_all(&removed).unwrap();
        wait_until("the file reported missing", || {
            source.status().updates_rejected > rejected
        });
        assert!(matches!(
            source.status().last_error.map(|e| e.error),
            Some(UpdateError::Missing { .. })
        ));
        fs::create_dir_all(&dir).unwrap();
        fs::write(&path, rules(n)).unwrap();
        wait_until(&format!("threshold {n} from the new directory"), || {
            threshold() == f64::from(n)
        });
        assert!(source.status().is_healthy());
    }
    // And it still follows in-place edits.
    fs::write(&path, rules(5)).unwrap();
    wait_until("threshold 5", || threshold() == 5.0);
}

#[test]
fn a_directory_missing_at_start_is_watched_once_it_exists() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("not/yet");
    let path = dir.join("flow.json");
    let sentinel = Sentinel::new();
    let source = watch_flow(&path, &sentinel);
    assert!(matches!(
        source.status().last_error.map(|e| e.error),
        Some(UpdateError::Missing { .. })
    ));
    fs::create_dir_all(&dir).unwrap();
    fs::write(&path, rules(6)).unwrap();
    wait_until("the new file's rules", || {
        sentinel.flow_rules().first().map(|r| r.threshold) == Some(6.0)
    });
}

#[cfg(unix)]
#[test]
fn in_place_edits_of_a_symlinks_target_take_effect_and_the_link_is_followed_when_it_moves() {
    use std::os::unix::fs::symlink;
    let root = tempfile::tempdir().unwrap();
    let (watched, elsewhere) = (root.path().join("etc"), root.path().join("srv/rules"));
    fs::create_dir_all(&watched).unwrap();
    fs::create_dir_all(&elsewhere).unwrap();
    let (first, second) = (
        elsewhere.join("flow-v1.json"),
        elsewhere.join("flow-v2.json"),
    );
    fs::write(&first, rules(1)).unwrap();
    fs::write(&second, rules(2)).unwrap();
    let link = watched.join("flow.json");
    symlink(&first, &link).unwrap();
    let sentinel = Sentinel::new();
    let _source = watch_flow(&link, &sentinel);
    let threshold = || sentinel.flow_rules()[0].threshold;
    assert_eq!(threshold(), 1.0);
    let edit_in_place = |path: &std::path::Path, n: u32| {
        let mut file = OpenOptions::new().write(true).open(path).unwrap();
        let content = rules(n);
        file.write_all(content.as_bytes()).unwrap();
        file.set_len(content.len() as u64).unwrap();
    };
    edit_in_place(&first, 10);
    wait_until("the edited target in force", || threshold() == 10.0);
    // The link is moved to another target (a new link renamed over it): the new target is
    // read and its edits are followed.
    let temp = watched.join("flow.json.new");
    symlink(&second, &temp).unwrap();
    fs::rename(&temp, &link).unwrap();
    wait_until("the new target in force", || threshold() == 2.0);
    edit_in_place(&second, 20);
    wait_until("the new target's edit in force", || threshold() == 20.0);
    // A relative link through another link: both hops are followed.
    let hop = elsewhere.join("current.json");
    symlink("flow-v1.json", &hop).unwrap();
    symlink(&hop, &temp).unwrap();
    fs::rename(&temp, &link).unwrap();
    wait_until("the first file again, through two links", || {
        threshold() == 10.0
    });
    edit_in_place(&first, 30);
    wait_until("its edit in force", || threshold() == 30.0);
}

#[test]
fn two_writes_in_one_quiet_time_are_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flow.json");
    fs::write(&path, rules(1)).unwrap();
    let sentinel = Sentinel::new();
    // A quiet time long enough that the two writes below fall in it on a busy machine.
    let source = FileSource::builder(&path)
        .debounce(Duration::from_millis(500))
        .start(Pipeline::for_kind::<Flow>(&sentinel))
        .unwrap();
    let status = || source.status();
    // Two bad saves, one right after the other: one read, one rejection.
    fs::write(&path, rules(2).replace('2', "-2")).unwrap();
    fs::write(&path, rules(3).replace('3', "-3")).unwrap();
    wait_until("the rejection", || status().updates_rejected == 1);
    let error = status().last_error.unwrap().error;
    assert!(error.to_string().contains("got -3"), "{error}");
    // Events are handled in order: a second rejection would come before this.
    fs::write(&path, rules(4)).unwrap();
    wait_until("threshold 4 in force", || {
        sentinel.flow_rules().first().map(|r| r.threshold) == Some(4.0)
    });
    assert_eq!(status().updates_rejected, 1, "{:?}", status());
}
