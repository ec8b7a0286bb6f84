//! Prometheus exposition (feature `prometheus`): a [`SentinelCollector`] to register in your
//! own `prometheus_client` registry, and [`Exposition`] (or [`render`]) for a ready text
//! page to answer `/metrics` with from your HTTP framework (sentinel-adapters has an axum
//! route). Feature `prometheus-listener` adds `serve`, a standalone `/metrics` listener
//! on a port of its own for services without an HTTP server (it brings the `tiny_http`
//! server, which `prometheus` alone does not).
//!
//! Every value is read from the statistics at scrape time (lifetime totals come from the
//! per-second aggregation, which a collector starts); nothing is counted twice on the hot
//! path. Label values are resource names and rule ids only, so cardinality is bounded by
//! the number of resources (see
//! [`SentinelBuilder::max_resources`](crate::SentinelBuilder::max_resources)) and rules.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `sentinel_entries_total` | counter | `resource`, `result` (pass/block), `block_type` |
//! | `sentinel_completed_total`, `sentinel_errors_total` | counter | `resource` |
//! | `sentinel_throttled_total`, `sentinel_throttle_wait_seconds_total` | counter | `resource` |
//! | `sentinel_in_flight` | gauge | `resource` |
//! | `sentinel_avg_rt_seconds`, `sentinel_min_rt_seconds` (last complete second) | gauge | `resource` |
//! | `sentinel_flow_threshold` | gauge | `resource`, `rule_id` |
//! | `sentinel_circuit_breaker_state` (0 closed, 1 open, 2 half-open) | gauge | `resource`, `rule_id` |
//! | `sentinel_circuit_breaker_transitions_total` | counter | `resource`, `rule_id`, `from`, `to` |
//! | `sentinel_inbound_pass_qps` | gauge | |
//! | `sentinel_system_cpu_usage` (ratio), `sentinel_system_load1` (only once measured) | gauge | |
//!
//! The system gauges are exported only once their value has been measured
//! ([`SystemMetricsSource::reading`](crate::system::SystemMetricsSource::reading)): the
//! default source samples the machine only while a system rule on `Load` or `CpuUsage`
//! is loaded (CPU usage from its second sample on), so an instance without such rules
//! exports no `sentinel_system_*` series rather than a misleading 0.
//!
//! ```
//! use sentinel_core::Sentinel;
//! use sentinel_core::prometheus::SentinelCollector;
//! // The prometheus-client crate this module encodes with, re-exported.
//! use sentinel_core::prometheus::client::{encoding::text::encode, registry::Registry};
//!
//! let sentinel = Sentinel::new();
//! let mut registry = Registry::default();
//! registry.register_collector(Box::new(SentinelCollector::new(&sentinel)));
//! let mut text = String::new();
//! encode(&mut text, &registry).unwrap();
//! assert!(text.contains("sentinel_inbound_pass_qps"));
//! assert!(!text.contains("sentinel_system_load1"), "no system rule, nothing sampled");
//! ```

#[cfg(feature = "prometheus-listener")]
mod listener;
#[cfg(feature = "prometheus-listener")]
pub use listener::{MetricsServer, serve};

/// The `prometheus-client` crate this module encodes with, so that a registry of the
/// matching version is at hand (`sentinel_core::prometheus::client::registry::Registry`).
pub use prometheus_client as client;

use std::collections::BTreeMap;
use std::fmt::Error;
use std::sync::Arc;

use parking_lot::Mutex;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::circuit_breaker::{State, StateChange};
use crate::stat::{Event, Span};
use crate::{BlockType, Sentinel};

type Labels = Vec<(&'static str, String)>;
type TransitionKey = (String, String, State, State);

/// Reads a [`Sentinel`] instance's statistics at every scrape.
pub struct SentinelCollector {
    sentinel: Sentinel,
    transitions: Arc<Mutex<BTreeMap<TransitionKey, u64>>>,
}

impl std::fmt::Debug for SentinelCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentinelCollector").finish_non_exhaustive()
    }
}

const BLOCK_TYPE_NAMES: [&str; crate::stat::BLOCK_TYPES] = [
    "Flow",
    "Isolation",
    "CircuitBreaking",
    "System",
    "HotSpotParamFlow",
    "Authority",
    "Custom",
];

fn state_value(s: State) -> i64 {
    match s {
        State::Closed => 0,
        State::Open => 1,
        State::HalfOpen => 2,
    }
}

impl SentinelCollector {
    /// A collector for `sentinel`. Creating it starts the per-second aggregation, counting
    /// blocks by type, and counting breaker transitions.
    pub fn new(sentinel: &Sentinel) -> Self {
        crate::engine::Engine::start_exporting(&sentinel.engine);
        let transitions: Arc<Mutex<BTreeMap<TransitionKey, u64>>> = Arc::default();
        let sink = transitions.clone();
        sentinel.on_circuit_breaker_state_change(move |c: &StateChange| {
            *sink
                .lock()
                .entry((c.resource.clone(), c.rule_id.clone(), c.from, c.to))
                .or_default() += 1;
        });
        SentinelCollector {
            sentinel: sentinel.clone(),
            transitions,
        }
    }
}

/// Encodes one metric family from (labels, metric) pairs.
fn family<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    rows: Vec<(Labels, M)>,
) -> Result<(), Error> {
    let Some(kind) = rows.first().map(|(_, m)| m.metric_type()) else {
        return Ok(());
    };
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, m) in &rows {
        m.encode(metric.encode_family(labels)?)?;
    }
    Ok(())
}

/// A label value from text users or requests choose, with control characters escaped.
fn text_label(text: &str) -> String {
    crate::text::escape(text).into_owned()
}

fn resource(name: &str) -> Labels {
    vec![("resource", text_label(name))]
}

impl Collector for SentinelCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), Error> {
        let engine = &self.sentinel.engine;
        let last_second = Span::last_second(engine.clock.now_nanos());
        let nodes = engine.resource_nodes();

        let mut entries = Vec::new();
        let (mut completed, mut errors, mut throttled, mut waited) =
            (vec![], vec![], vec![], vec![]);
        let (mut in_flight, mut avg_rt, mut min_rt) = (vec![], vec![], vec![]);
        for (i, n) in &nodes {
            let totals = engine.aggregator.totals(*i);
            let life = n.stats.lifetime();
            let mut pass = resource(&n.name);
            pass.extend([("result", "pass".into()), ("block_type", "".into())]);
            entries.push((pass, ConstCounter::new(totals.pass)));
            for (t, count) in BLOCK_TYPE_NAMES.iter().zip(life.blocked) {
                if count > 0 {
                    let mut l = resource(&n.name);
                    l.extend([("result", "block".into()), ("block_type", (*t).into())]);
                    entries.push((l, ConstCounter::new(count)));
                }
            }
            completed.push((resource(&n.name), ConstCounter::new(totals.complete)));
            errors.push((resource(&n.name), ConstCounter::new(totals.error)));
            throttled.push((resource(&n.name), ConstCounter::new(life.throttled)));
            waited.push((
                resource(&n.name),
                ConstCounter::new(life.throttle_wait_ns as f64 / 1e9),
            ));
            in_flight.push((
                resource(&n.name),
                ConstGauge::new(n.stats.in_flight() as i64),
            ));
            let done = n.stats.sum_span(Event::Complete, last_second);
            let avg = if done == 0 {
                0.0
            } else {
                n.stats.sum_span(Event::RtSum, last_second) as f64 / done as f64 / 1e6
            };
            avg_rt.push((resource(&n.name), ConstGauge::new(avg)));
            if let Some(us) = n.stats.min_rt_us(last_second) {
                min_rt.push((resource(&n.name), ConstGauge::new(us as f64 / 1e6)));
            }
        }
        family(
            &mut encoder,
            "sentinel_entries",
            "Entries handled, by result and block type.",
            entries,
        )?;
        family(
            &mut encoder,
            "sentinel_completed",
            "Entries that exited.",
            completed,
        )?;
        family(
            &mut encoder,
            "sentinel_errors",
            "Exited entries marked as failed.",
            errors,
        )?;
        family(
            &mut encoder,
            "sentinel_throttled",
            "Entries admitted after a throttling wait.",
            throttled,
        )?;
        family(
            &mut encoder,
            "sentinel_throttle_wait_seconds",
            "Total throttling wait.",
            waited,
        )?;
        family(
            &mut encoder,
            "sentinel_in_flight",
            "Entries in flight now.",
            in_flight,
        )?;
        family(
            &mut encoder,
            "sentinel_avg_rt_seconds",
            "Average response time, last complete second.",
            avg_rt,
        )?;
        family(
            &mut encoder,
            "sentinel_min_rt_seconds",
            "Smallest response time, last complete second.",
            min_rt,
        )?;

        let (mut thresholds, mut states) = (vec![], vec![]);
        engine.with_rules(|sets| {
            for (_, n) in &nodes {
                for f in sets.flow.states_for(&n.name) {
                    let mut l = resource(&n.name);
                    l.push(("rule_id", text_label(f.rule_id())));
                    thresholds.push((
                        l,
                        ConstGauge::new(f.current_threshold(engine.system.as_ref())),
                    ));
                }
                for b in sets.circuit_breaker.states_for(&n.name) {
                    let mut l = resource(&n.name);
                    l.push(("rule_id", text_label(&b.rule().id)));
                    states.push((l, ConstGauge::new(state_value(b.state()))));
                }
            }
        });
        family(
            &mut encoder,
            "sentinel_flow_threshold",
            "The flow threshold in force (warm-up moves it).",
            thresholds,
        )?;
        family(
            &mut encoder,
            "sentinel_circuit_breaker_state",
            "Circuit breaker state: 0 closed, 1 open, 2 half-open.",
            states,
        )?;
        let transitions: Vec<(Labels, ConstCounter)> = self
            .transitions
            .lock()
            .iter()
            .map(|((r, id, from, to), n)| {
                let labels = vec![
                    ("resource", text_label(r)),
                    ("rule_id", text_label(id)),
                    ("from", from.to_string()),
                    ("to", to.to_string()),
                ];
                (labels, ConstCounter::new(*n))
            })
            .collect();
        family(
            &mut encoder,
            "sentinel_circuit_breaker_transitions",
            "Circuit breaker state changes.",
            transitions,
        )?;

        let measured = engine.system.reading();
        let inbound_qps = engine.inbound.sum_span(Event::Pass, last_second) as f64;
        for (name, help, value) in [
            (
                "sentinel_inbound_pass_qps",
                "Inbound entries admitted, last complete second.",
                Some(inbound_qps),
            ),
            (
                "sentinel_system_cpu_usage",
                "CPU usage ratio, against the container limit.",
                measured.cpu_usage,
            ),
            (
                "sentinel_system_load1",
                "1-minute load average.",
                measured.load1,
            ),
        ] {
            // An unmeasured value has no row, so `family` writes nothing for it.
            let rows = value.map(|v| (Labels::new(), ConstGauge::new(v)));
            family(&mut encoder, name, help, rows.into_iter().collect())?;
        }
        Ok(())
    }
}

/// The text exposition of a registry holding only `sentinel`'s collector (for a
/// `/metrics` handler). Build the collector once and reuse it: see [`Exposition`].
#[derive(Debug)]
pub struct Exposition {
    registry: Registry,
}

impl Exposition {
    /// A registry with a collector for `sentinel`.
    pub fn new(sentinel: &Sentinel) -> Self {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(SentinelCollector::new(sentinel)));
        Exposition { registry }
    }

    /// The current text (OpenMetrics text format, which Prometheus reads).
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The content type of [`Exposition::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// One-off rendering of `sentinel`'s metrics (creates a collector each call; prefer
/// [`Exposition`] for repeated scrapes).
pub fn render(sentinel: &Sentinel) -> String {
    Exposition::new(sentinel).render()
}

/// The label value of a block type.
pub fn block_type_label(t: BlockType) -> &'static str {
    BLOCK_TYPE_NAMES[crate::stat::block_type_index(t)]
}
