//! Per-second aggregation, off the hot path: a background task reads the buckets of every
//! resource once per second, keeps lifetime totals for exporters, writes the metric log
//! and warns about rules that never apply.
//!
//! Each complete second of the instance clock is processed exactly once, whoever triggers
//! it (the background thread or [`Sentinel::flush_metrics`](crate::Sentinel::flush_metrics)).
//! A second must be processed while it is still in the statistics ring (3.2 s); seconds
//! that fell out of it before anyone looked are skipped.

use std::collections::HashMap;
use std::sync::{Arc, Once, Weak};
use std::time::Duration;

use parking_lot::Mutex;

use super::Engine;
use crate::metric_log::{
    MetricLine, MetricLogConfig, MetricLogWriter, SecondFigures, SecondListener,
};
use crate::stat::{BUCKET_MS, Event, RING, Span, StatNode, epoch};

/// Resource name of the inbound totals in the metric log (as in Sentinel).
pub(super) const INBOUND_RESOURCE: &str = "__total_inbound_traffic__";

/// Lifetime totals of one resource, accumulated second by second.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Entries admitted.
    pub pass: u64,
    /// Entries blocked.
    pub block: u64,
    /// Entries completed.
    pub complete: u64,
    /// Completed entries marked failed.
    pub error: u64,
}

impl Totals {
    fn add(&mut self, l: &MetricLine) {
        self.pass += l.pass_qps;
        self.block += l.block_qps;
        self.complete += l.complete_qps;
        self.error += l.error_qps;
    }
}

struct State {
    /// The next second (ms on the instance clock) to process.
    next_ms: Option<u64>,
    totals: HashMap<u32, Totals>,
    inbound: Totals,
    log: Option<MetricLogWriter>,
    log_failures: u64,
    /// Held weakly: a listener is dropped with its owner's last handle.
    listeners: Vec<Weak<dyn SecondListener>>,
}

/// The instance's aggregator.
pub(crate) struct Aggregator {
    state: Mutex<State>,
    started: Once,
}

/// The figures of one node for the second `[from, from + 1000)` ms.
fn line_of(name: &str, node: &StatNode, now_ns: u64, from: u64, classification: u8) -> MetricLine {
    let span = Span::between(now_ns, from, from + 1000);
    let sum = |e| node.sum_span(e, span);
    let complete = sum(Event::Complete);
    let avg_rt = if complete == 0 {
        0
    } else {
        ((sum(Event::RtSum) as f64 / complete as f64 / 1000.0).round() as u64).max(1)
    };
    MetricLine {
        timestamp_ms: from,
        resource: name.to_string(),
        pass_qps: sum(Event::Pass),
        block_qps: sum(Event::Block),
        complete_qps: complete,
        error_qps: sum(Event::Error),
        avg_rt,
        occupied_pass_qps: 0,
        concurrency: node.max_concurrency(span),
        classification,
    }
}

fn active(l: &MetricLine) -> bool {
    l.pass_qps + l.block_qps + l.complete_qps + l.error_qps + l.concurrency > 0
}

impl Aggregator {
    pub(crate) fn new(log: Option<MetricLogConfig>) -> Self {
        Aggregator {
            state: Mutex::new(State {
                next_ms: None,
                totals: HashMap::new(),
                inbound: Totals::default(),
                log: log.map(MetricLogWriter::new),
                log_failures: 0,
                listeners: Vec::new(),
            }),
            started: Once::new(),
        }
    }

    /// Processes every complete second not processed yet.
    pub(crate) fn tick(&self, inner: &Engine) {
        let mut st = self.state.lock();
        let now_ns = inner.clock.now_nanos();
        let now_ms = now_ns / 1_000_000;
        let current = now_ms - now_ms % 1000;
        let oldest_kept =
            ((epoch(now_ns) + 1).saturating_sub(RING as u64) * BUCKET_MS).div_ceil(1000) * 1000;
        let mut second = st.next_ms.unwrap_or(0).max(oldest_kept);
        while second < current {
            let mut lines: Vec<MetricLine> = Vec::new();
            for (i, node) in inner.registry.nodes() {
                let l = line_of(
                    &node.name,
                    &node.stats,
                    now_ns,
                    second,
                    node.classification(),
                );
                if active(&l) {
                    st.totals.entry(i as u32).or_default().add(&l);
                    lines.push(l);
                }
            }
            let inbound = line_of(INBOUND_RESOURCE, &inner.inbound, now_ns, second, 0);
            let inbound_active = active(&inbound);
            if inbound_active {
                st.inbound.add(&inbound);
                lines.push(inbound);
            }
            let unix_ms = inner.clock.epoch_unix_ms() + second;
            for l in &mut lines {
                l.timestamp_ms = unix_ms;
            }
            if let Some(log) = st.log.as_mut()
                && let Err(e) = log.write_second(unix_ms, &lines)
            {
                st.log_failures += 1;
                tracing::error!(error = %e, second = unix_ms, "cannot write the metric log");
            }
            if !st.listeners.is_empty() {
                let (resources, inbound) = match lines.split_last() {
                    Some((last, rest)) if inbound_active => (rest, Some(last)),
                    _ => (lines.as_slice(), None),
                };
                let figures = SecondFigures {
                    unix_ms,
                    resources,
                    inbound,
                };
                st.listeners.retain(|l| l.strong_count() > 0);
                for listener in st.listeners.iter().filter_map(Weak::upgrade) {
                    listener.on_second(&figures);
                }
            }
            second += 1000;
        }
        st.next_ms = Some(second.max(current));
        // Under the aggregation's lock, like the listeners: a tick that finds no warning
        // due, because a concurrent tick just marked it given, returns only once that
        // tick has logged it (`flush_metrics` then means "everything due is out").
        inner.warn_unmatched();
    }

    /// Adds a listener of processed seconds.
    pub(crate) fn add_listener(&self, listener: &Arc<dyn SecondListener>) {
        self.state.lock().listeners.push(Arc::downgrade(listener));
    }

    /// Lifetime totals of a node (as of the last processed second).
    pub(crate) fn totals(&self, node: u32) -> Totals {
        self.state
            .lock()
            .totals
            .get(&node)
            .copied()
            .unwrap_or_default()
    }

    /// Lifetime totals of inbound traffic.
    pub(crate) fn inbound_totals(&self) -> Totals {
        self.state.lock().inbound
    }

    /// Seconds the metric log failed to write.
    pub(crate) fn log_failures(&self) -> u64 {
        self.state.lock().log_failures
    }

    /// Starts the once-a-second background task (once); it ends when the instance is
    /// dropped.
    pub(crate) fn ensure_background(inner: &Arc<Engine>) {
        inner.aggregator.started.call_once(|| {
            let weak: Weak<Engine> = Arc::downgrade(inner);
            let spawned = std::thread::Builder::new()
                .name("sentinel-aggregation".into())
                .spawn(move || {
                    while let Some(inner) = weak.upgrade() {
                        inner.aggregator.tick(&inner);
                        let into_second = inner.clock.now_millis() % 1000;
                        drop(inner);
                        std::thread::sleep(Duration::from_millis(1000 - into_second + 20));
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start the per-second aggregation");
            }
        });
    }
}
