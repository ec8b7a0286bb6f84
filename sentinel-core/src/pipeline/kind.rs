//! How a rule kind compiles its rules into checks, and what it may use while doing so.

use std::sync::Arc;

use super::Check;
use crate::cluster::ClusterHub;
use crate::rules::Rule;
use crate::stat::StatNode;
use crate::system_metrics::SystemMetricsSource;

/// Resource nodes as rule loads see them: resolved (and created) by name.
pub(crate) trait RuleNodes {
    /// The node index of a resource a rule names, creating the node if needed.
    fn node_index(&self, resource: &str) -> u32;
    /// The statistics of the node at `index`.
    fn stats_of(&self, index: u32) -> Option<&StatNode>;
}

/// What a rule kind may use while building a check: the time, the instance's system
/// metrics and inbound statistics, and other resources' nodes.
pub(crate) struct BuildEnv<'a> {
    /// The time of the load, nanoseconds on the instance clock.
    pub now_ns: u64,
    /// The instance's system metrics.
    pub system: &'a dyn SystemMetricsSource,
    /// The statistics of all inbound traffic.
    pub inbound: &'a StatNode,
    /// Resource nodes.
    pub nodes: &'a dyn RuleNodes,
    /// The leases of cluster rules.
    pub cluster: &'a ClusterHub,
}

impl BuildEnv<'_> {
    /// The node index of a resource a rule names, creating the node if needed.
    pub(crate) fn node_index(&self, resource: &str) -> u32 {
        self.nodes.node_index(resource)
    }

    /// The statistics of the node at `index`.
    pub(crate) fn node_stats(&self, index: u32) -> Option<&StatNode> {
        self.nodes.stats_of(index)
    }
}

/// One rule kind, as the generic rule manager sees it: how a valid rule becomes a check.
pub(crate) trait KindBuilder: 'static {
    /// The rule type.
    type Rule: Rule;
    /// Rules of this kind guard every resource (their `resource` is empty).
    const GLOBAL: bool = false;
    /// The compiled rule with its state.
    type State: Check;
    /// State the kind keeps for all its rules (the breakers' listeners), owned by the
    /// instance.
    type Shared: Clone + Send + Sync;
    /// Builds a fresh check for a valid rule. `siblings` are the rules of the new set that
    /// guard the same resource, in set order, and `position` is this rule's place among
    /// them: state that describes the world rather than the rule (passes counted, entries
    /// in flight per value) is kept in the kind's [`World`](super::World) under a key that
    /// the rule and its place among like siblings make, so that a changed rule, or one
    /// removed and added again, takes it over.
    fn build(
        rule: &Self::Rule,
        env: &BuildEnv<'_>,
        shared: &Self::Shared,
        siblings: &[&Self::Rule],
        position: usize,
    ) -> Arc<Self::State>;
    /// A rule left the set (its state is dropped once in-flight entries exit).
    fn retired(_rule: &Self::Rule, _state: &Arc<Self::State>) {}
}
