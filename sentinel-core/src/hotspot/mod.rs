//! Hot-parameter limiting: limits per argument value, found among any number of values,
//! with memory that stays bounded.
//!
//! A [`HotspotRule`] takes one value from each entry: the attachment named `paramKey` if
//! the entry has it, else the argument at `paramIndex` (negative counts from the end); an
//! entry without the value skips the rule. Values match by value and kind, not by Rust
//! type ([`ParamValue`](crate::ParamValue)): `5i32`, `5u64` and the JSON item
//! `{"valKind": 0, "valStr": "5"}` are one key, the string `"5"` is another (the `valKind`
//! codes, and the warning for values of a kind no item has, are described on
//! [`HotspotRule`]). Per value:
//!
//! * QPS + Reject: a token bucket holding `threshold + burstCount` tokens, refilled with
//!   `threshold` tokens per `durationInSec`; a new value starts full;
//! * QPS + Throttling: pacing at `threshold` per `durationInSec` in floating-point
//!   nanoseconds (so thresholds above 1000/s pace correctly), queueing up to
//!   `maxQueueingTimeMs`;
//! * Concurrency: at most `threshold` entries in flight.
//!
//! `specificItems` give particular values their own threshold (two items for one value are
//! an error). Values live in a bounded LRU (`paramsMaxCapacity`, at most
//! [`MAX_CAPACITY`]), split into shards with a lock each; each value's state is one cell
//! changed under its shard's lock. The capacity is the rule's as a whole: nothing is
//! evicted while fewer values are tracked, however they spread over the shards. An evicted
//! value starts fresh, but a value with entries in flight is passed over by eviction, so
//! its count is released correctly; a changed concurrency rule keeps the in-flight counts
//! of the rule it replaces. Tokens, pacing slots and in-flight slots taken for an entry
//! that a later check refuses are given back, and a refusal says when the value's bucket
//! would admit it ([`BlockError::retry_after`](crate::BlockError::retry_after)).

mod cache;
mod check;
mod rule;

#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use rule::{
    ControlBehavior, DEFAULT_CONCURRENCY_CAPACITY, HotspotRule, MAX_CAPACITY, MetricType,
};

pub(crate) use check::HotspotCheck;

use crate::pipeline::{BuildEnv, KindBuilder, World};
use cache::ValueCache;

/// The hot-parameter rule kind, for the generic rule manager.
pub(crate) struct HotspotKind;

impl KindBuilder for HotspotKind {
    type Rule = HotspotRule;

    type State = HotspotCheck;
    type Shared = Arc<World<ValuesKey, ValueCache>>;
    fn build(
        rule: &HotspotRule,
        _env: &BuildEnv<'_>,
        kept: &Self::Shared,
        siblings: &[&HotspotRule],
        position: usize,
    ) -> Arc<HotspotCheck> {
        // A concurrency rule's in-flight counts per value are kept across loads under the
        // resource, the argument it reads and its place among the resource's concurrency
        // rules on that argument; other modes start fresh.
        let same = |r: &HotspotRule| {
            r.metric_type == MetricType::Concurrency
                && (r.param_index, &r.param_key) == (rule.param_index, &rule.param_key)
        };
        let values = if rule.metric_type == MetricType::Concurrency {
            let nth = siblings[..position].iter().filter(|r| same(r)).count();
            let key = (
                rule.resource.clone(),
                rule.param_index,
                rule.param_key.clone(),
                nth,
            );
            let values = kept.get_or(key, || ValueCache::new(rule.capacity()));
            values.set_capacity(rule.capacity());
            values
        } else {
            Arc::new(ValueCache::new(rule.capacity()))
        };
        Arc::new(HotspotCheck::new(rule, values))
    }
}

/// Where a concurrency rule's per-value counts are kept: resource, `paramIndex`,
/// `paramKey`, place among the resource's concurrency rules on that argument.
type ValuesKey = (String, i32, String, usize);

impl crate::rules::Rule for HotspotRule {
    const KIND: &'static str = "hot parameter";
    fn id(&self) -> &str {
        &self.id
    }
    fn resource(&self) -> &str {
        self.resource.as_str()
    }
    fn validate(&self) -> Result<(), crate::rules::FieldError> {
        HotspotRule::validate(self)
    }
}
