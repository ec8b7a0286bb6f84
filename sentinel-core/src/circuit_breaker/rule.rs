//! The circuit-breaker rule: data, serde (sentinel-golang's JSON names) and validation.

use serde::{Deserialize, Serialize};

use crate::rules::go_enum::go_enum;
use crate::rules::{FieldError, range};

go_enum! {
    /// What makes a breaker trip.
    pub enum Strategy {
        /// The share of completions slower than `maxAllowedRtMs` reaches `threshold`.
        #[default]
        SlowRequestRatio = 0 => ["SlowRequestRatio", "SlowRtRatio"],
        /// The share of completions marked as errors reaches `threshold`.
        ErrorRatio = 1 => ["ErrorRatio"],
        /// The number of completions marked as errors reaches `threshold`.
        ErrorCount = 2 => ["ErrorCount"],
    }
}

/// Most buckets a breaker's window may have (`statSlidingWindowBucketCount`).
pub const MAX_BUCKETS: u32 = 1000;

/// Most probes one half-open round may admit.
pub const MAX_PROBES: u64 = 0xffff;

/// A circuit breaker on one resource. Field names follow sentinel-golang (`snake_case`
/// here, `camelCase` in JSON and YAML).
///
/// ```
/// use sentinel_core::circuit_breaker::{CircuitBreakerRule, Strategy};
/// let r: CircuitBreakerRule = serde_json::from_str(r#"{
///   "id": "coupon-errors", "resource": "call-coupon", "strategy": 2,
///   "retryTimeoutMs": 2000, "minRequestAmount": 1, "statIntervalMs": 1000, "threshold": 5
/// }"#).unwrap();
/// assert_eq!(r.strategy, Strategy::ErrorCount);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[doc(alias = "degrade")]
#[doc(alias = "DegradeRule")]
pub struct CircuitBreakerRule {
    /// Optional identifier, shown in block errors, events and logs.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// The guarded resource.
    pub resource: String,
    /// What makes the breaker trip.
    pub strategy: Strategy,
    /// How long an open breaker blocks before letting a probe through (> 0).
    pub retry_timeout_ms: u32,
    /// Completions the window must hold before the breaker may trip.
    pub min_request_amount: u64,
    /// Length of the breaker's statistic window (> 0).
    pub stat_interval_ms: u32,
    /// Buckets of that window (default 1; forced to 1 when it does not divide the
    /// interval).
    pub stat_sliding_window_bucket_count: u32,
    /// SlowRequestRatio: a completion is slow when its RT is strictly greater than this
    /// (milliseconds, > 0 for that strategy; ignored by the others).
    pub max_allowed_rt_ms: u64,
    /// A ratio in `[0, 1]` (ratio strategies) or a count (ErrorCount).
    pub threshold: f64,
    /// Probes a half-open round admits, and that must succeed to close (0 means 1).
    pub probe_num: u64,
}

impl Default for CircuitBreakerRule {
    fn default() -> Self {
        CircuitBreakerRule {
            id: String::new(),
            resource: String::new(),
            strategy: Strategy::SlowRequestRatio,
            retry_timeout_ms: 0,
            min_request_amount: 0,
            stat_interval_ms: 1000,
            stat_sliding_window_bucket_count: 1,
            max_allowed_rt_ms: 0,
            threshold: 0.0,
            probe_num: 0,
        }
    }
}

impl CircuitBreakerRule {
    /// Probes per half-open round: `max(1, probe_num)`.
    pub fn probes(&self) -> u64 {
        self.probe_num.clamp(1, MAX_PROBES)
    }

    /// Checks the rule; the first problem found names its field.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.resource.trim().is_empty() {
            return Err(FieldError::new("resource", "must not be empty"));
        }
        range::integer(
            "retryTimeoutMs",
            self.retry_timeout_ms as u64,
            1,
            range::MAX_PERIOD_MS,
        )?;
        range::integer(
            "statIntervalMs",
            self.stat_interval_ms as u64,
            1,
            range::MAX_PERIOD_MS,
        )?;
        range::integer(
            "statSlidingWindowBucketCount",
            self.stat_sliding_window_bucket_count,
            0,
            MAX_BUCKETS,
        )?;
        if self.strategy == Strategy::SlowRequestRatio && self.max_allowed_rt_ms == 0 {
            return Err(FieldError::new(
                "maxAllowedRtMs",
                "must be > 0 for SlowRequestRatio (a completion slower than this many ms is \
                 slow; with 0 every completion is, and the breaker trips at once), got 0",
            ));
        }
        range::integer(
            "maxAllowedRtMs",
            self.max_allowed_rt_ms,
            0,
            range::MAX_PERIOD_MS,
        )?;
        range::integer(
            "minRequestAmount",
            self.min_request_amount,
            0,
            range::MAX_COUNT as u64,
        )?;
        range::number("threshold", self.threshold, range::MAX_COUNT)?;
        if self.strategy != Strategy::ErrorCount && self.threshold > 1.0 {
            return Err(FieldError::new(
                "threshold",
                format!(
                    "must be a ratio in [0, 1] for {}, got {}",
                    self.strategy, self.threshold
                ),
            ));
        }
        if self.probe_num > MAX_PROBES {
            return Err(FieldError::new(
                "probeNum",
                format!("must be at most {MAX_PROBES}, got {}", self.probe_num),
            ));
        }
        Ok(())
    }

    /// A one-line description for block errors and logs.
    pub fn describe(&self) -> String {
        let what = match self.strategy {
            Strategy::SlowRequestRatio => format!(
                "slow (> {} ms) ratio >= {}",
                self.max_allowed_rt_ms, self.threshold
            ),
            Strategy::ErrorRatio => format!("error ratio >= {}", self.threshold),
            Strategy::ErrorCount => format!("errors >= {}", self.threshold),
        };
        format!(
            "{what} over {} ms (min {} requests), retry after {} ms",
            self.stat_interval_ms, self.min_request_amount, self.retry_timeout_ms
        )
    }
}
