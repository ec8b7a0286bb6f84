//! Helpers shared by the integration tests.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing::span;

/// The bytes of a fixture under `tests/fixtures/`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// How long a condition may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Polls `condition` every few milliseconds until it holds; fails the test after
/// [`PATIENCE`], saying what was awaited.
pub fn wait_until(what: &str, condition: impl FnMut() -> bool) {
    wait_within(PATIENCE, what, condition);
}

/// How long a condition involving a server (etcd, an API server) may take: reconnecting
/// after an outage waits for a retry delay, and the machine may be busy.
pub const SERVER_PATIENCE: Duration = Duration::from_secs(60);

/// [`wait_until`] with [`SERVER_PATIENCE`].
pub fn wait_for_server(what: &str, condition: impl FnMut() -> bool) {
    wait_within(SERVER_PATIENCE, what, condition);
}

fn wait_within(patience: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + patience;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {patience:?} waiting for: {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The flow rules in force as `(resource, threshold)`, in order.
pub fn flow_rules(sentinel: &sentinel_core::Sentinel) -> Vec<(String, f64)> {
    sentinel
        .flow_rules()
        .into_iter()
        .map(|r| (r.resource, r.threshold))
        .collect()
}

/// `(resource, threshold)` pairs, to compare with [`flow_rules`].
pub fn rules(list: &[(&str, f64)]) -> Vec<(String, f64)> {
    list.iter().map(|(r, t)| (r.to_string(), *t)).collect()
}

/// Makes every `tracing` call site of the process ask the current subscriber whether it
/// is enabled, so that a test's thread-local capture sees its events. Without a global
/// subscriber, a call site first hit on another thread (a source's watcher, another
/// test) at the moment a capture registers can cache "nobody listens" for good. Call it
/// first in a test that creates sources before capturing.
pub fn listen_everywhere() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Fails only if a global subscriber is set already, which then decides.
        let _ = tracing::subscriber::set_global_default(Silent);
    });
}

/// The global subscriber of [`listen_everywhere`]: interested in every call site
/// ("sometimes", asked per event), recording nothing.
struct Silent;

impl tracing::Subscriber for Silent {
    fn register_callsite(
        &self,
        _: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        false
    }
    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }
    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, _: &span::Id) {}
    fn exit(&self, _: &span::Id) {}
}

/// Runs `f` with a subscriber that records every `tracing` event on this thread as
/// `LEVEL field=value ...`.
pub fn capture_events<R>(f: impl FnOnce() -> R) -> (R, Vec<String>) {
    listen_everywhere();
    let events = Arc::new(Mutex::new(Vec::new()));
    let result = tracing::subscriber::with_default(Capture(events.clone()), f);
    let events = events.lock().unwrap().clone();
    (result, events)
}

struct Capture(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }
    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(event.metadata().level().to_string());
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
    fn enter(&self, _: &span::Id) {}
    fn exit(&self, _: &span::Id) {}
}
