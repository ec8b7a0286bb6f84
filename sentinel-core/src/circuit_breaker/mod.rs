//! Circuit breakers: stop calling a failing or slow dependency, and find out with a few
//! probes when it is back.
//!
//! A [`CircuitBreakerRule`] trips its breaker when, over its own sliding window, the ratio
//! of slow completions ([`Strategy::SlowRequestRatio`]), the ratio of errors
//! ([`Strategy::ErrorRatio`]) or the number of errors ([`Strategy::ErrorCount`]) reaches
//! the threshold (`>=`) once the window holds at least `minRequestAmount` completions.
//!
//! States: [`State::Closed`] → [`State::Open`] (blocks for `retryTimeoutMs`) →
//! [`State::HalfOpen`]: the first caller after the timeout wins the switch and is a probe;
//! at most `max(1, probeNum)` probes go through per half-open round and everything else
//! is blocked (sentinel-golang lets all traffic through here; we don't). A failed probe
//! reopens the breaker with a fresh timeout; when all probes succeed it closes and its
//! window is cleared. A probe that a later check blocks, or that is abandoned
//! ([`Entry::abandon`](crate::Entry::abandon)), reopens the breaker at once so the next
//! caller may probe. A slow probe is still a probe: while it runs, however long, nobody
//! else is admitted beyond `max(1, probeNum)`, and its result decides the round. Only a
//! probe silent for longer than the instance's probe timeout
//! ([`SentinelBuilder::probe_timeout`](crate::SentinelBuilder::probe_timeout), default
//! 60 s) counts as leaked, and its round is given up so that a breaker never stays
//! half-open forever.
//!
//! A closed breaker judges the window after every completion, good or bad: old
//! completions leave the window, so a good one can find the ratio over the threshold.
//! A refusal carries [`BlockError::retry_after`](crate::BlockError::retry_after): the rest
//! of the retry timeout while open, the retry timeout while a probe runs.
//!
//! Completions feed the breaker: RT from the entry's own timing on the instance clock
//! (slow means strictly greater than `maxAllowedRtMs`), failure from
//! [`Entry::set_error`](crate::Entry::set_error). Probe results decide the round and are
//! not counted in the window. Several breakers may guard one resource; the first that
//! refuses blocks with [`BlockType::CircuitBreaking`](crate::BlockType::CircuitBreaking).
//!
//! Listeners ([`StateListener`]) hear every transition exactly once, in order, on a
//! dispatcher thread, never on the request path.

mod breaker;
mod events;
mod rule;

#[cfg(test)]
mod tests;

use std::sync::{Arc, Weak};

pub use events::{State, StateChange, StateListener};
pub use rule::{CircuitBreakerRule, MAX_BUCKETS, MAX_PROBES, Strategy};

pub(crate) use breaker::Breaker;
pub(crate) use events::EventHub;

use crate::pipeline::{BuildEnv, KindBuilder};

/// What every breaker of an instance shares: where its state changes go, and how long a
/// half-open probe may stay silent.
#[derive(Clone)]
pub(crate) struct BreakerShared {
    pub events: Weak<EventHub>,
    pub probe_timeout_ns: u64,
}

/// The circuit-breaker rule kind, for the generic rule manager.
pub(crate) struct CircuitBreakerKind;

impl KindBuilder for CircuitBreakerKind {
    type Rule = CircuitBreakerRule;

    type State = Breaker;
    type Shared = BreakerShared;
    fn build(
        rule: &CircuitBreakerRule,
        _env: &BuildEnv<'_>,
        shared: &BreakerShared,
        _siblings: &[&CircuitBreakerRule],
        _position: usize,
    ) -> Arc<Breaker> {
        Arc::new(Breaker::new(
            rule,
            shared.events.clone(),
            shared.probe_timeout_ns,
        ))
    }
    fn retired(_rule: &CircuitBreakerRule, state: &Arc<Breaker>) {
        state.retire();
    }
}

impl crate::rules::Rule for CircuitBreakerRule {
    const KIND: &'static str = "circuit breaker";
    fn id(&self) -> &str {
        &self.id
    }
    fn resource(&self) -> &str {
        self.resource.as_str()
    }
    fn validate(&self) -> Result<(), crate::rules::FieldError> {
        CircuitBreakerRule::validate(self)
    }
}
