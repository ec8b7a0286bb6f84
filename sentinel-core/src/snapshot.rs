//! Snapshots of statistics for dashboards and tests.

use crate::stat::{Event, Span, StatNode};

/// A resource's figures over a span of time: the current 1 s view that rules check
/// ([`Sentinel::resource_stats`](crate::Sentinel::resource_stats)) or the last complete
/// second ([`Sentinel::last_second_stats`](crate::Sentinel::last_second_stats)).
///
/// Rates are per second. The current view includes the bucket in progress, so under a
/// steady load its figures dip as old buckets leave before the new one fills; the last
/// complete second is the steadier figure for dashboards.
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
    /// Entries in flight now (a batch counts as its size, as isolation rules count).
    pub concurrency: u64,
    /// Highest concurrency during the last second.
    pub max_concurrency: u64,
}

impl ResourceStats {
    /// Reads a span of (at most) one second: its sums are the per-second rates.
    pub(crate) fn read(name: &str, node: &StatNode, span: Span) -> Self {
        let sum = |e| node.sum_span(e, span) as f64;
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
            min_rt_ms: node.min_rt_us(span).map(|us| us as f64 / 1000.0),
            concurrency: node.in_flight(),
            max_concurrency: node.max_concurrency(span),
        }
    }
}

/// A resource with its figures for the last complete second and the rules that guard it
/// (system rules guard every resource and are listed by
/// [`Sentinel::system_rules`](crate::Sentinel::system_rules)).
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceOverview {
    /// Figures of the last complete second.
    pub stats: ResourceStats,
    /// Flow rules.
    pub flow: Vec<crate::flow::FlowRule>,
    /// Isolation rules.
    pub isolation: Vec<crate::isolation::IsolationRule>,
    /// Hot-parameter rules.
    pub hotspot: Vec<crate::hotspot::HotspotRule>,
    /// Circuit-breaker rules with the current state of their breakers.
    pub circuit_breakers: Vec<(
        crate::circuit_breaker::CircuitBreakerRule,
        crate::circuit_breaker::State,
    )>,
}

/// A rule that has applied to no entry: no entry has named its resource since the resource
/// got its rules, for longer than the grace period
/// ([`SentinelBuilder::unmatched_rule_grace`](crate::SentinelBuilder::unmatched_rule_grace)),
/// while entries of other resources came. Usually a resource name that differs from the
/// names entries use (`POST /order` for the route `POST /orders`); listed by
/// [`Sentinel::unmatched_rules`](crate::Sentinel::unmatched_rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmatchedRule {
    /// The rule kind, as in [`InvalidRule::kind`](crate::InvalidRule::kind) (`flow`).
    pub kind: &'static str,
    /// The rule's place in its kind's set (0 for the first rule loaded).
    pub index: usize,
    /// The rule's id (may be empty).
    pub id: String,
    /// The resource the rule names.
    pub resource: String,
    /// When the resource got its rules (wall-clock time of the instance clock): no entry
    /// has named it since.
    pub since: std::time::SystemTime,
}

/// The cluster side of an instance ([`Sentinel::cluster_status`](crate::Sentinel::cluster_status)):
/// its backend's state and one line per cluster rule's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterStatus {
    /// The attached backend's state; `None` when no backend is attached (cluster rules then
    /// limit this instance alone, at their fallback thresholds).
    pub backend: Option<crate::cluster::LeaseState>,
    /// The leases of the cluster rules in force, by flow id.
    pub leases: Vec<LeaseStatus>,
}

/// One cluster rule's lease, as [`ClusterStatus`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseStatus {
    /// The rule's `clusterConfig.flowId`.
    pub flow_id: String,
    /// Whether its backend answers.
    pub state: crate::cluster::LeaseState,
    /// Instances the backend last saw sharing the flow id (0 before it has looked).
    pub live_instances: u32,
}
