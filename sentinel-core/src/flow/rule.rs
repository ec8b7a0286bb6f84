//! The flow rule: data, serde (sentinel-golang's JSON names) and validation.

use serde::{Deserialize, Serialize};

use crate::cluster::ClusterConfig;
use crate::rules::go_enum::go_enum;
use crate::rules::{FieldError, range};
pub use crate::shaping::ControlBehavior;

go_enum! {
    /// How a flow rule computes its threshold.
    pub enum TokenCalculateStrategy {
        /// The threshold as written.
        #[default]
        Direct = 0 => ["Direct"],
        /// Starts at `threshold / coldFactor` and warms up to the threshold over
        /// `warmUpPeriodSec` of sustained traffic.
        WarmUp = 1 => ["WarmUp", "Warm_Up"],
        /// Moves between two thresholds with the process's memory use.
        MemoryAdaptive = 2 => ["MemoryAdaptive", "Memory_Adaptive"],
    }
}

go_enum! {
    /// Whose statistics a flow rule reads.
    pub enum RelationStrategy {
        /// The guarded resource's own.
        #[default]
        CurrentResource = 0 => ["CurrentResource", "Current"],
        /// Those of `refResource` (limit reads while writes are busy, say).
        AssociatedResource = 1 => ["AssociatedResource", "Associated"],
    }
}

/// A flow-control rule. Field names follow sentinel-golang (`snake_case` here,
/// `camelCase` in JSON and YAML).
///
/// ```
/// use sentinel_core::flow::{ControlBehavior, FlowRule};
/// let rules: Vec<FlowRule> = serde_json::from_str(r#"[
///   {"resource": "order-sync", "threshold": 100, "controlBehavior": 1, "maxQueueingTimeMs": 500}
/// ]"#).unwrap();
/// assert_eq!(rules[0].control_behavior, ControlBehavior::Throttling);
/// assert_eq!(rules[0].stat_interval_in_ms, 1000);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FlowRule {
    /// Optional identifier, shown in block errors and logs.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// The guarded resource.
    pub resource: String,
    /// How the threshold is computed.
    pub token_calculate_strategy: TokenCalculateStrategy,
    /// What happens over the threshold.
    pub control_behavior: ControlBehavior,
    /// Entries allowed per `stat_interval_in_ms` (for Throttling: the pace).
    pub threshold: f64,
    /// Whose statistics are read.
    pub relation_strategy: RelationStrategy,
    /// The resource whose statistics are read with `AssociatedResource`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ref_resource: String,
    /// Throttling: the longest an entry may be queued; longer waits block.
    pub max_queueing_time_ms: u32,
    /// WarmUp: seconds from cold to full threshold.
    pub warm_up_period_sec: u32,
    /// WarmUp: a cold system admits `threshold / cold_factor` (values ≤ 1 mean 3).
    pub warm_up_cold_factor: u32,
    /// The statistic interval of the threshold (default and 0: 1000 ms).
    pub stat_interval_in_ms: u32,
    /// MemoryAdaptive: threshold while memory is at or below `mem_low_water_mark_bytes`.
    pub low_mem_usage_threshold: i64,
    /// MemoryAdaptive: threshold while memory is at or above `mem_high_water_mark_bytes`.
    pub high_mem_usage_threshold: i64,
    /// MemoryAdaptive: the low memory water mark.
    pub mem_low_water_mark_bytes: i64,
    /// MemoryAdaptive: the high memory water mark.
    pub mem_high_water_mark_bytes: i64,
    /// Shares the threshold with the fleet through a cluster backend (see
    /// [`cluster`](crate::cluster)); needs `cluster_config`, Direct and Reject.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cluster_mode: bool,
    /// How the threshold is shared (read with `cluster_mode`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_config: Option<ClusterConfig>,
}

impl Default for FlowRule {
    fn default() -> Self {
        FlowRule {
            id: String::new(),
            resource: String::new(),
            token_calculate_strategy: TokenCalculateStrategy::Direct,
            control_behavior: ControlBehavior::Reject,
            threshold: 0.0,
            relation_strategy: RelationStrategy::CurrentResource,
            ref_resource: String::new(),
            max_queueing_time_ms: 0,
            warm_up_period_sec: 0,
            warm_up_cold_factor: 0,
            stat_interval_in_ms: 1000,
            low_mem_usage_threshold: 0,
            high_mem_usage_threshold: 0,
            mem_low_water_mark_bytes: 0,
            mem_high_water_mark_bytes: 0,
            cluster_mode: false,
            cluster_config: None,
        }
    }
}

/// Longest interval of an `AssociatedResource` rule: what the other resource's statistics
/// serve as whole 100 ms buckets with one bucket before them.
pub(super) const MAX_ASSOCIATED_INTERVAL_MS: u32 = 2000;

/// Largest warm-up cold factor.
pub const MAX_COLD_FACTOR: u32 = 1000;

/// Longest statistic interval a flow rule may use.
pub const MAX_STAT_INTERVAL_MS: u32 = 10 * 60 * 1000;

impl FlowRule {
    /// The statistic interval in force (0 means the default 1000 ms).
    pub fn interval_ms(&self) -> u32 {
        if self.stat_interval_in_ms == 0 {
            1000
        } else {
            self.stat_interval_in_ms
        }
    }

    /// The warm-up cold factor in force (values ≤ 1 mean 3).
    pub fn cold_factor(&self) -> u32 {
        if self.warm_up_cold_factor <= 1 {
            3
        } else {
            self.warm_up_cold_factor
        }
    }

    /// Checks the rule; the first problem found names its field.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.resource.trim().is_empty() {
            return Err(FieldError::new("resource", "must not be empty"));
        }
        let memory = self.token_calculate_strategy == TokenCalculateStrategy::MemoryAdaptive;
        if !memory {
            range::number("threshold", self.threshold, range::MAX_COUNT)?;
        }
        if self.stat_interval_in_ms > MAX_STAT_INTERVAL_MS {
            return Err(FieldError::new(
                "statIntervalInMs",
                format!(
                    "must be at most {MAX_STAT_INTERVAL_MS} (10 minutes), got {}",
                    self.stat_interval_in_ms
                ),
            ));
        }
        if self.relation_strategy == RelationStrategy::AssociatedResource {
            if self.ref_resource.trim().is_empty() {
                return Err(FieldError::new(
                    "refResource",
                    "is required when relationStrategy is AssociatedResource",
                ));
            }
            let i = self.interval_ms();
            if !i.is_multiple_of(crate::stat::BUCKET_MS as u32) || i > MAX_ASSOCIATED_INTERVAL_MS {
                return Err(FieldError::new(
                    "statIntervalInMs",
                    format!(
                        "must be a multiple of {} ms up to {} ms for AssociatedResource rules, got {i}",
                        crate::stat::BUCKET_MS,
                        MAX_ASSOCIATED_INTERVAL_MS
                    ),
                ));
            }
        }
        match self.token_calculate_strategy {
            TokenCalculateStrategy::Direct => {}
            TokenCalculateStrategy::WarmUp => {
                range::integer(
                    "warmUpPeriodSec",
                    self.warm_up_period_sec as i64,
                    1,
                    range::MAX_PERIOD_SEC,
                )?;
                range::integer(
                    "warmUpColdFactor",
                    self.warm_up_cold_factor,
                    0,
                    MAX_COLD_FACTOR,
                )?;
            }
            TokenCalculateStrategy::MemoryAdaptive => self.validate_memory()?,
        }
        if self.control_behavior == ControlBehavior::Throttling {
            self.validate_pace()?;
        }
        if self.cluster_mode {
            self.validate_cluster()?;
        }
        Ok(())
    }

    /// A cluster rule is Direct and Reject on its own resource, with a flow id.
    fn validate_cluster(&self) -> Result<(), FieldError> {
        let only = "must be Direct with clusterMode (cluster rules are Direct and Reject only)";
        if self.token_calculate_strategy != TokenCalculateStrategy::Direct {
            return Err(FieldError::new("tokenCalculateStrategy", only));
        }
        if self.control_behavior != ControlBehavior::Reject {
            return Err(FieldError::new(
                "controlBehavior",
                "must be Reject with clusterMode (cluster rules are Direct and Reject only)",
            ));
        }
        if self.relation_strategy != RelationStrategy::CurrentResource {
            return Err(FieldError::new(
                "relationStrategy",
                "must be CurrentResource with clusterMode",
            ));
        }
        match &self.cluster_config {
            None => Err(FieldError::new(
                "clusterConfig",
                "is required with clusterMode (at least its flowId)",
            )),
            Some(c) => c.validate(),
        }?;
        let per_sec = self.threshold * 1000.0 / self.interval_ms().max(1) as f64;
        if per_sec > crate::cluster::MAX_CLUSTER_RATE_PER_SEC {
            return Err(FieldError::new(
                "threshold",
                format!(
                    "is {per_sec} per second with clusterMode; at most {} (a shared bucket \
                     cannot space its tokens finer)",
                    crate::cluster::MAX_CLUSTER_RATE_PER_SEC
                ),
            ));
        }
        Ok(())
    }

    /// The cluster rule's parameters for its lease; `None` for a local rule.
    pub(crate) fn cluster_spec(&self) -> Option<crate::cluster::ClusterSpec> {
        let c = self.cluster_config.as_ref().filter(|_| self.cluster_mode)?;
        Some(crate::cluster::ClusterSpec {
            flow_id: c.flow_id.clone(),
            threshold: self.threshold,
            interval_ms: self.interval_ms(),
            threshold_type: c.threshold_type,
            burst: c.burst,
            fallback_threshold: c.fallback_threshold,
            fallback_to_local_when_fail: c.fallback_to_local_when_fail,
        })
    }

    /// A throttling rule paces one entry per `interval / threshold`: a threshold between 0
    /// and 1 per interval could never admit an entry (a batch over the threshold is
    /// blocked, as in sentinel-golang), and neither could a warm-up whose cold rate is.
    fn validate_pace(&self) -> Result<(), FieldError> {
        let lowest = match self.token_calculate_strategy {
            TokenCalculateStrategy::WarmUp => self.threshold / self.cold_factor() as f64,
            TokenCalculateStrategy::Direct => self.threshold,
            TokenCalculateStrategy::MemoryAdaptive => return Ok(()),
        };
        if self.threshold == 0.0 || lowest >= 1.0 {
            return Ok(());
        }
        let interval = self.interval_ms() as f64;
        let per = (interval / lowest).ceil();
        let field = match self.token_calculate_strategy {
            TokenCalculateStrategy::WarmUp => "warmUpColdFactor",
            _ => "threshold",
        };
        Err(FieldError::new(
            field,
            format!(
                "paces {lowest} entries per {interval} ms, less than one, so no entry could ever pass; \
                 Throttling needs at least 1 per statIntervalInMs: to pace one entry per {per} ms, \
                 set threshold 1 and statIntervalInMs {per}"
            ),
        ))
    }

    fn validate_memory(&self) -> Result<(), FieldError> {
        let max = range::MAX_COUNT as i64;
        range::integer("lowMemUsageThreshold", self.low_mem_usage_threshold, 0, max)?;
        range::integer(
            "highMemUsageThreshold",
            self.high_mem_usage_threshold,
            0,
            max,
        )?;
        if self.low_mem_usage_threshold <= 0 {
            return Err(FieldError::new(
                "lowMemUsageThreshold",
                "must be greater than 0",
            ));
        }
        if self.high_mem_usage_threshold <= 0 {
            return Err(FieldError::new(
                "highMemUsageThreshold",
                "must be greater than 0",
            ));
        }
        if self.high_mem_usage_threshold >= self.low_mem_usage_threshold {
            return Err(FieldError::new(
                "highMemUsageThreshold",
                "must be less than lowMemUsageThreshold (less traffic when memory is high)",
            ));
        }
        if self.mem_low_water_mark_bytes <= 0 {
            return Err(FieldError::new(
                "memLowWaterMarkBytes",
                "must be greater than 0",
            ));
        }
        if self.mem_high_water_mark_bytes <= self.mem_low_water_mark_bytes {
            return Err(FieldError::new(
                "memHighWaterMarkBytes",
                "must be greater than memLowWaterMarkBytes",
            ));
        }
        Ok(())
    }

    /// A one-line description for block errors and logs.
    pub fn describe(&self) -> String {
        let threshold = match self.token_calculate_strategy {
            TokenCalculateStrategy::MemoryAdaptive => format!(
                "{}..{}",
                self.high_mem_usage_threshold, self.low_mem_usage_threshold
            ),
            _ => self.threshold.to_string(),
        };
        let mut d = format!(
            "{}/{} {} per {} ms",
            self.token_calculate_strategy,
            self.control_behavior,
            threshold,
            self.interval_ms()
        );
        if self.relation_strategy == RelationStrategy::AssociatedResource {
            d.push_str(&format!(" of {}", self.ref_resource));
        }
        if let Some(c) = self.cluster_config.as_ref().filter(|_| self.cluster_mode) {
            d.push_str(&format!(
                " ({} cluster flow {})",
                c.threshold_type, c.flow_id
            ));
        }
        d
    }
}
