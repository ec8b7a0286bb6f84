//! Per-second figures handed to listeners by the aggregation, for in-process consumers
//! such as a dashboard's history.

use super::MetricLine;

/// The figures of one processed second: what the metric log writes for it.
#[derive(Debug, Clone, Copy)]
pub struct SecondFigures<'a> {
    /// Start of the second, Unix milliseconds (the instance clock's).
    pub unix_ms: u64,
    /// One line per resource that saw anything in the second (entries, blocks,
    /// completions or concurrency), in no particular order; idle resources are left out.
    pub resources: &'a [MetricLine],
    /// The inbound totals of the second, when any inbound traffic was seen.
    pub inbound: Option<&'a MetricLine>,
}

/// Receives every second the per-second aggregation processes, in order, each once.
///
/// Registered with [`Sentinel::add_second_listener`](crate::Sentinel::add_second_listener).
/// It is called on the aggregation's thread (or the caller of
/// [`Sentinel::flush_metrics`](crate::Sentinel::flush_metrics)) while the aggregation is
/// busy, so it must be quick and must not call `flush_metrics` or the totals readers
/// ([`Sentinel::resource_totals`](crate::Sentinel::resource_totals) and the like) of the
/// same instance. Nothing of it runs on the admission path.
pub trait SecondListener: Send + Sync + 'static {
    /// Takes the figures of one second.
    fn on_second(&self, second: &SecondFigures<'_>);
}
