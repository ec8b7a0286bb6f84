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
//! * a throttled entry's response time is measured from the end of its wait.

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

use crate::pipeline::{BuildEnv, KindBuilder};

/// The flow rule kind, for the generic rule manager.
pub(crate) struct FlowKind;

impl KindBuilder for FlowKind {
    type Rule = FlowRule;

    type State = check::FlowCheck;
    type Shared = ();
    fn build(
        rule: &FlowRule,
        env: &BuildEnv<'_>,
        _shared: &(),
        prior: &mut Vec<Arc<check::FlowCheck>>,
    ) -> Arc<check::FlowCheck> {
        Arc::new(check::FlowCheck::new(rule, env, prior))
    }
}

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
}
