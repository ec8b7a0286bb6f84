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
//! * a rule with `relationStrategy: AssociatedResource` must use an interval the resource
//!   ring serves (a multiple of 100 ms up to 2 s);
//! * a `statIntervalInMs` the ring cannot serve (not a multiple of 100 ms, or longer than
//!   2 s) gives the rule a window of its own, counting the entries it admitted;
//! * a throttled entry's response time is measured from the end of its wait.

mod check;
mod rule;
pub(crate) mod throttle;
mod warm_up;

#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use rule::{
    ControlBehavior, FlowRule, MAX_COLD_FACTOR, MAX_STAT_INTERVAL_MS, RelationStrategy,
    TokenCalculateStrategy,
};

use crate::rules::set::{RuleKind, RuleSet};
use crate::sentinel::{BuildEnv, RuleSets};

/// The flow rule kind, for the generic rule manager.
pub(crate) struct FlowKind;

impl RuleKind for FlowKind {
    type Rule = FlowRule;

    type State = check::FlowCheck;
    fn build(
        rule: &FlowRule,
        env: &BuildEnv<'_>,
        prior: &mut Vec<Arc<check::FlowCheck>>,
    ) -> Arc<check::FlowCheck> {
        Arc::new(check::FlowCheck::new(rule, env, prior))
    }
    fn set(sets: &RuleSets) -> &RuleSet<Self> {
        &sets.flow
    }
    fn set_mut(sets: &mut RuleSets) -> &mut RuleSet<Self> {
        &mut sets.flow
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
