//! Rules that never apply: a rule whose resource no entry names is listed by
//! `Sentinel::unmatched_rules` and warned about once, after a grace period with traffic.
//!
//! The warning comes from the per-second aggregation, which runs on a background thread
//! as well as in `flush_metrics`, so events are captured by a process-wide subscriber (in
//! a test binary of its own) and each test looks at the events naming its own resources.

use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, UNIX_EPOCH};

use sentinel_core::circuit_breaker::{CircuitBreakerRule, Strategy};
use sentinel_core::flow::FlowRule;
use sentinel_core::hotspot::{HotspotRule, MetricType};
use sentinel_core::{Clock, ManualClock, Sentinel, UnmatchedRule};
use tracing::field::{Field, Visit};
use tracing::span;

static EVENTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

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
        EVENTS.lock().unwrap().push(fields.0);
    }
    fn enter(&self, _: &span::Id) {}
    fn exit(&self, _: &span::Id) {}
}

/// The warnings about rules of `resource` that never applied, captured so far.
fn warnings_about(resource: &str) -> Vec<String> {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| tracing::subscriber::set_global_default(Capture).unwrap());
    let field = format!(" resource={resource} rules=");
    EVENTS
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.starts_with("WARN") && e.contains(&field) && e.contains("not applied yet"))
        .cloned()
        .collect()
}

fn instance() -> (ManualClock, Sentinel) {
    warnings_about(""); // installs the subscriber before anything is logged
    let clock = ManualClock::new();
    let sentinel = Sentinel::builder()
        .clock(clock.clone())
        .unmatched_rule_grace(secs(60))
        .build();
    (clock, sentinel)
}

fn flow(id: &str, resource: &str) -> FlowRule {
    FlowRule {
        id: id.into(),
        resource: resource.into(),
        threshold: 100.0,
        ..Default::default()
    }
}

fn enter(s: &Sentinel, resource: &str) {
    drop(s.entry(resource).try_enter());
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn a_rule_for_a_route_that_traffic_never_names_is_warned_about_once() {
    let (clock, s) = instance();
    s.load_flow_rules(vec![flow("order-limit", "POST /order")])
        .unwrap();
    enter(&s, "POST /orders");
    enter(&s, "GET /catalog");
    clock.advance(secs(59));
    enter(&s, "POST /orders");
    s.flush_metrics();
    assert!(
        warnings_about("POST /order").is_empty(),
        "within the grace period"
    );
    assert!(s.unmatched_rules().is_empty());

    clock.advance(secs(2));
    s.flush_metrics();
    let warnings = warnings_about("POST /order");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let w = &warnings[0];
    assert!(w.contains("rules=flow rule 0 (id order-limit)"), "{w}");
    assert!(w.contains("closest_entered=POST /orders"), "{w}");
    assert!(
        !w.contains("GET /catalog"),
        "another method is too far: {w}"
    );
    assert_eq!(
        s.unmatched_rules(),
        vec![UnmatchedRule {
            kind: "flow",
            index: 0,
            id: "order-limit".into(),
            resource: "POST /order".into(),
            since: UNIX_EPOCH + Duration::from_millis(clock.epoch_unix_ms()),
        }]
    );

    // Once: later seconds with more traffic add no warning, the listing stays.
    for _ in 0..3 {
        clock.advance(secs(30));
        enter(&s, "POST /orders");
        s.flush_metrics();
    }
    assert_eq!(warnings_about("POST /order").len(), 1);
    assert_eq!(s.unmatched_rules().len(), 1);

    // An entry at last: the rule applies, and is no longer listed.
    enter(&s, "POST /order");
    assert!(s.unmatched_rules().is_empty());
}

#[test]
fn no_warning_for_a_resource_that_entries_name() {
    let (clock, s) = instance();
    s.load_flow_rules(vec![flow("", "GET /entered")]).unwrap();
    enter(&s, "GET /entered");
    enter(&s, "GET /other");
    clock.advance(secs(120));
    enter(&s, "GET /other");
    s.flush_metrics();
    assert!(warnings_about("GET /entered").is_empty());
    assert!(s.unmatched_rules().is_empty());
}

#[test]
fn without_any_traffic_nothing_is_reported() {
    let (clock, s) = instance();
    s.load_flow_rules(vec![flow("", "GET /idle")]).unwrap();
    clock.advance(secs(600));
    s.flush_metrics();
    assert!(warnings_about("GET /idle").is_empty());
    assert!(s.unmatched_rules().is_empty());
}

#[test]
fn a_blocked_entry_counts_as_an_entry() {
    let (clock, s) = instance();
    let mut closed = flow("", "GET /closed");
    closed.threshold = 0.0;
    s.load_flow_rules(vec![closed]).unwrap();
    assert!(s.entry("GET /closed").try_enter().is_err());
    enter(&s, "GET /open");
    clock.advance(secs(120));
    s.flush_metrics();
    assert!(warnings_about("GET /closed").is_empty());
    assert!(s.unmatched_rules().is_empty());
}

#[test]
fn every_rule_of_the_resource_is_listed_in_pipeline_order() {
    let (clock, s) = instance();
    s.load_circuit_breaker_rules(vec![CircuitBreakerRule {
        resource: "GET /item".into(),
        strategy: Strategy::ErrorCount,
        retry_timeout_ms: 1000,
        threshold: 5.0,
        ..Default::default()
    }])
    .unwrap();
    s.load_hotspot_rules(vec![HotspotRule {
        id: "per-item".into(),
        resource: "GET /item".into(),
        metric_type: MetricType::Qps,
        threshold: 5,
        ..Default::default()
    }])
    .unwrap();
    enter(&s, "GET /items/{id}");
    clock.advance(secs(60));
    let listed: Vec<(&str, usize, String)> = s
        .unmatched_rules()
        .into_iter()
        .map(|u| (u.kind, u.index, u.id))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("hot parameter", 0, "per-item".to_string()),
            ("circuit breaker", 0, String::new())
        ]
    );
    s.flush_metrics();
    let warnings = warnings_about("GET /item");
    assert_eq!(warnings.len(), 1, "one warning per resource: {warnings:?}");
    assert!(
        warnings[0].contains("rules=hot parameter rule 0 (id per-item), circuit breaker rule 0"),
        "{}",
        warnings[0]
    );
}

#[test]
fn reloads_keep_the_grace_period_and_removal_forgets_it() {
    let (clock, s) = instance();
    s.load_flow_rules(vec![flow("a", "GET /reloaded")]).unwrap();
    enter(&s, "GET /elsewhere");
    clock.advance(secs(50));
    // The same resource, reloaded with a changed rule and a second one: not a new start.
    let mut changed = flow("a", "GET /reloaded");
    changed.threshold = 5.0;
    s.load_flow_rules(vec![changed, flow("b", "GET /reloaded")])
        .unwrap();
    enter(&s, "GET /elsewhere");
    clock.advance(secs(10));
    s.flush_metrics();
    assert_eq!(warnings_about("GET /reloaded").len(), 1);
    let ids: Vec<String> = s.unmatched_rules().into_iter().map(|u| u.id).collect();
    assert_eq!(ids, ["a", "b"]);

    // Reloading after the warning does not repeat it.
    s.load_flow_rules(vec![flow("a", "GET /reloaded")]).unwrap();
    clock.advance(secs(10));
    enter(&s, "GET /elsewhere");
    s.flush_metrics();
    assert_eq!(warnings_about("GET /reloaded").len(), 1);

    // Without rules the resource is forgotten; rules naming it again start over.
    s.load_flow_rules(Vec::new()).unwrap();
    assert!(s.unmatched_rules().is_empty());
    s.load_flow_rules(vec![flow("a", "GET /reloaded")]).unwrap();
    enter(&s, "GET /elsewhere");
    clock.advance(secs(59));
    s.flush_metrics();
    assert!(s.unmatched_rules().is_empty(), "a new grace period");
    clock.advance(secs(1));
    s.flush_metrics();
    assert_eq!(s.unmatched_rules().len(), 1);
    assert_eq!(warnings_about("GET /reloaded").len(), 2);
}

#[test]
fn the_grace_period_is_configurable_and_can_be_turned_off() {
    warnings_about("");
    let clock = ManualClock::new();
    let quick = Sentinel::builder()
        .clock(clock.clone())
        .unmatched_rule_grace(secs(5))
        .build();
    quick.load_flow_rules(vec![flow("", "GET /quick")]).unwrap();
    let off = Sentinel::builder()
        .clock(clock.clone())
        .unmatched_rule_grace(Duration::MAX)
        .build();
    off.load_flow_rules(vec![flow("", "GET /never-told")])
        .unwrap();
    enter(&quick, "GET /x");
    enter(&off, "GET /x");
    clock.advance(secs(5));
    quick.flush_metrics();
    clock.advance(secs(3600));
    off.flush_metrics();
    assert_eq!(warnings_about("GET /quick").len(), 1);
    assert!(warnings_about("GET /never-told").is_empty());
    assert!(off.unmatched_rules().is_empty());
}

#[test]
fn the_warning_comes_without_anyone_flushing() {
    warnings_about("");
    let s = Sentinel::builder()
        .unmatched_rule_grace(Duration::ZERO)
        .build();
    s.load_flow_rules(vec![flow("", "GET /background")])
        .unwrap();
    enter(&s, "GET /foreground");
    // The load started the per-second aggregation on its own thread (real clock).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while warnings_about("GET /background").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no warning from the background aggregation within 10 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(warnings_about("GET /background").len(), 1);
}
