//! Snapshots of statistics for dashboards and tests.

use crate::stat::{Event, StatNode, VIEW};

/// A resource's figures over the last second (the default 1 s view).
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceStats {
    /// The resource name.
    pub resource: String,
    /// Admitted entries per second.
    pub pass_qps: f64,
    /// Blocked entries per second.
    pub block_qps: f64,
    /// Completed entries per second.
    pub complete_qps: f64,
    /// Completed entries marked as failed, per second.
    pub error_qps: f64,
    /// Average response time of completed entries, milliseconds (0 without completions).
    pub avg_rt_ms: f64,
    /// Smallest response time, milliseconds, `None` without completions.
    pub min_rt_ms: Option<f64>,
    /// Entries in flight now.
    pub concurrency: u64,
    /// Highest concurrency during the last second.
    pub max_concurrency: u64,
}

impl ResourceStats {
    pub(crate) fn read(name: &str, node: &StatNode, now_ns: u64) -> Self {
        let sum = |e| node.sum(e, now_ns, VIEW) as f64;
        let complete = sum(Event::Complete);
        ResourceStats {
            resource: name.to_string(),
            pass_qps: sum(Event::Pass),
            block_qps: sum(Event::Block),
            complete_qps: complete,
            error_qps: sum(Event::Error),
            avg_rt_ms: if complete > 0.0 {
                sum(Event::RtSum) / complete / 1000.0
            } else {
                0.0
            },
            min_rt_ms: node.min_rt_us(now_ns).map(|us| us as f64 / 1000.0),
            concurrency: node.in_flight(),
            max_concurrency: node.max_concurrency(now_ns),
        }
    }
}
