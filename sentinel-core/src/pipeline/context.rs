//! What a check is lent: the entry being admitted (or exiting) and the statistics it may
//! read, never the engine itself.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use crate::param::ParamValue;
use crate::stat::StatNode;
use crate::system_metrics::SystemMetricsSource;
use crate::traffic::TrafficType;

/// Reads the statistics of other resources by node index (a flow rule on an associated
/// resource reads that resource's passes).
pub(crate) trait NodeStats: Sync {
    /// The statistics of the node at `index`, if there is one.
    fn stats_of(&self, index: u32) -> Option<&StatNode>;
}

/// What a check is told about the entry being admitted.
pub struct CheckContext<'a> {
    pub(crate) resource: &'a Arc<str>,
    pub(crate) stats: &'a StatNode,
    pub(crate) inbound: &'a StatNode,
    pub(crate) nodes: &'a dyn NodeStats,
    pub(crate) system: &'a dyn SystemMetricsSource,
    /// Counts checks that panicked (they fail open).
    pub(crate) panics: &'a AtomicU64,
    pub(crate) now_ns: u64,
    pub(crate) batch: u32,
    pub(crate) traffic: TrafficType,
    pub(crate) args: &'a [ParamValue],
    pub(crate) attachments: &'a [(Cow<'static, str>, ParamValue)],
}

impl<'a> CheckContext<'a> {
    /// The resource name.
    pub fn resource(&self) -> &str {
        self.resource
    }
    /// The resource name, shareable (for a [`BlockError`](crate::BlockError)).
    pub fn resource_arc(&self) -> Arc<str> {
        self.resource.clone()
    }
    /// The admission time, nanoseconds on the instance clock.
    pub fn now_nanos(&self) -> u64 {
        self.now_ns
    }
    /// Tokens the entry asks for.
    pub fn batch(&self) -> u32 {
        self.batch
    }
    /// Inbound or outbound.
    pub fn traffic(&self) -> TrafficType {
        self.traffic
    }
    /// The entry's arguments.
    pub fn args(&self) -> &'a [ParamValue] {
        self.args
    }
    /// The attachment stored under `key`.
    pub fn attachment(&self, key: &str) -> Option<&'a ParamValue> {
        self.attachments
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
    /// The statistics of the resource.
    pub fn stats(&self) -> &'a StatNode {
        self.stats
    }
    /// The statistics of all inbound traffic of the instance.
    pub fn inbound_stats(&self) -> &'a StatNode {
        self.inbound
    }
    /// The statistics of another resource, by the node index a rule resolved at load.
    pub(crate) fn node_stats(&self, index: u32) -> Option<&'a StatNode> {
        self.nodes.stats_of(index)
    }
    /// The instance's system metrics.
    pub(crate) fn system(&self) -> &'a dyn SystemMetricsSource {
        self.system
    }
}

/// What a check is told when an entry it admitted exits.
pub struct ExitContext<'a> {
    pub(crate) check: CheckContext<'a>,
    pub(crate) rt_ns: u64,
    pub(crate) error: bool,
    pub(crate) abandoned: bool,
    pub(crate) token: Option<u64>,
}

impl<'a> ExitContext<'a> {
    /// The entry as it was admitted (its `now_nanos` is the exit time).
    pub fn entry(&self) -> &CheckContext<'a> {
        &self.check
    }
    /// Response time, from admission (after any throttling wait) to exit.
    pub fn rt(&self) -> Duration {
        Duration::from_nanos(self.rt_ns)
    }
    /// Whether the entry was marked failed with `set_error`.
    pub fn is_error(&self) -> bool {
        self.error
    }
    /// Whether the entry exited without a result ([`Entry::abandon`](crate::Entry::abandon):
    /// the caller went away before the work finished).
    pub fn is_abandoned(&self) -> bool {
        self.abandoned
    }
    /// The token this check returned with [`Verdict::PassWith`](super::Verdict::PassWith) for
    /// this entry.
    pub fn token(&self) -> Option<u64> {
        self.token
    }
}

impl std::fmt::Debug for CheckContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckContext")
            .field("resource", &self.resource)
            .field("now_ns", &self.now_ns)
            .field("batch", &self.batch)
            .field("traffic", &self.traffic)
            .field("args", &self.args)
            .field("attachments", &self.attachments)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ExitContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExitContext")
            .field("entry", &self.check)
            .field("rt_ns", &self.rt_ns)
            .field("error", &self.error)
            .field("abandoned", &self.abandoned)
            .field("token", &self.token)
            .finish()
    }
}
