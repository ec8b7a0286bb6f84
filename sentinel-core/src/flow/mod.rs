//! Flow control: limit how many entries a resource admits per interval.
//!
//! A [`FlowRule`] combines a threshold calculation ([`TokenCalculateStrategy`]: Direct,
//! WarmUp, MemoryAdaptive) with a behaviour over the threshold ([`ControlBehavior`]: Reject,
//! Throttling), read over the resource's own statistics or those of a `refResource`
//! ([`RelationStrategy`]). The exact semantics are those of sentinel-golang with two
//! deliberate improvements: the default 1 s window uses ten 100 ms buckets (Go: two of
//! 500 ms, which lets up to twice the threshold through at a bucket boundary), and
//! throttling paces in floating-point nanoseconds (so thresholds above 1000/s pace
//! correctly).
//!
//! Decisions where sentinel-golang is silent or differs:
//! * a Reject rule counts the passes of its resource in a window of its own, and an entry
//!   *reserves* its batch there in the same atomic step as the decision (given back when a
//!   later check refuses the entry): two threads released together under threshold 1 never
//!   both pass, which Go and Java allow;
//! * no span of one interval holds more than `T × (n + 1) / n` passes (`1.1 T` with the
//!   default ten buckets): an entry passes when the last `n` buckets hold at most `T` and
//!   the `n + 1` buckets overlapping the interval at most `T × (n + 1) / n`. A burst into
//!   an idle resource still gets `T`, steady overload still gets `T` per interval, but two
//!   bursts 901 ms apart no longer get `2T`;
//! * a changed rule keeps counting what already passed (it takes over the window of the
//!   rule it replaces, or starts from the resource's statistics); a rule equal to one in
//!   force keeps all its state;
//! * the window uses 100 ms buckets for intervals up to 2 s, else 20, 10, 5, 4 or 2
//!   buckets (the largest that divides the interval);
//! * a rule with `relationStrategy: AssociatedResource` reads the other resource's
//!   statistics (it cannot reserve there) and must use an interval they serve (a multiple
//!   of 100 ms up to 2 s);
//! * Throttling needs a threshold of at least 1 per interval (or exactly 0, which blocks
//!   everything): a slower pace is written as 1 per a longer `statIntervalInMs`;
//! * a refusal says when the rule would admit the entry
//!   ([`BlockError::retry_after`](crate::BlockError::retry_after));
//! * a throttled entry's response time is measured from the end of its wait;
//! * a rule with `clusterMode: true` (Direct and Reject only) spends tokens of its cluster
//!   lease instead (see [`cluster`](crate::cluster)); its own window serves the local
//!   fallback while the cluster backend is degraded or absent.

mod check;
mod rule;
mod warm_up;

#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use rule::{
    ControlBehavior, FlowRule, MAX_COLD_FACTOR, MAX_STAT_INTERVAL_MS, RelationStrategy,
    TokenCalculateStrategy,
};

use crate::pipeline::{BuildEnv, KindBuilder, World};
use crate::stat::pass_window::PassWindow;

/// The flow rule kind, for the generic rule manager.
pub(crate) struct FlowKind;

impl KindBuilder for FlowKind {
    type Rule = FlowRule;

    type State = check::FlowCheck;
    type Shared = Arc<World<WindowKey, PassWindow>>;
    fn build(
        rule: &FlowRule,
        env: &BuildEnv<'_>,
        windows: &Self::Shared,
        siblings: &[&FlowRule],
        position: usize,
    ) -> Arc<check::FlowCheck> {
        let counts_own = |r: &FlowRule| {
            r.control_behavior == ControlBehavior::Reject
                && r.relation_strategy == RelationStrategy::CurrentResource
        };
        // The passes a Reject rule counts are the world's: kept across loads under the
        // resource, the interval and the rule's place among the resource's Reject rules of
        // that interval, and started from what already passed.
        let window = counts_own(rule).then(|| {
            let interval = rule.interval_ms() as u64;
            let nth = siblings[..position]
                .iter()
                .filter(|r| counts_own(r) && r.interval_ms() == rule.interval_ms())
                .count();
            let key = (rule.resource.clone(), interval, nth);
            windows.get_or(key, || {
                let fresh = PassWindow::for_interval(interval);
                let longer = windows.find(|(resource, other, _)| {
                    *resource == rule.resource && *other > SEEDED_FROM_STATS_MS
                });
                match longer {
                    Some(other) => fresh.seed_from(env.now_ns, &other),
                    None => {
                        let node = env.node_index(&rule.resource);
                        if let Some(stats) = env.node_stats(node) {
                            fresh.seed_from_stats(env.now_ns, stats);
                        }
                    }
                }
                fresh
            })
        });
        Arc::new(check::FlowCheck::new(rule, env, window))
    }
}

/// Where a Reject rule's pass window is kept: resource, interval (ms), place among the
/// resource's Reject rules of that interval.
type WindowKey = (String, u64, usize);

/// History the resource statistics keep: a new window of a longer interval starts from
/// another window of the resource instead.
const SEEDED_FROM_STATS_MS: u64 = crate::stat::RING as u64 * crate::stat::BUCKET_MS;

impl crate::rules::Rule for FlowRule {
    const KIND: &'static str = "flow";
    fn id(&self) -> &str {
        &self.id
    }
    fn resource(&self) -> &str {
        self.resource.as_str()
    }
    fn validate(&self) -> Result<(), crate::rules::FieldError> {
        FlowRule::validate(self)
    }
    /// Cluster rules naming one `flowId` share one bucket: they must agree on its limits.
    fn validate_in_set(&self, earlier: &[Self]) -> Result<(), crate::rules::FieldError> {
        let Some(spec) = self.cluster_spec() else {
            return Ok(());
        };
        let conflict = earlier.iter().position(|r| {
            r.cluster_spec()
                .is_some_and(|other| other.flow_id == spec.flow_id && other != spec)
        });
        match conflict {
            None => Ok(()),
            Some(i) => Err(crate::rules::FieldError::new(
                "clusterConfig.flowId",
                format!(
                    "names the bucket of flow rule #{i} with other limits (threshold, \
                     statIntervalInMs, thresholdType, burst, fallbackThreshold and \
                     fallbackToLocalWhenFail must agree for one flowId)"
                ),
            )),
        }
    }
    fn ref_resource(&self) -> Option<&str> {
        (self.relation_strategy == RelationStrategy::AssociatedResource)
            .then_some(self.ref_resource.as_str())
    }
}
