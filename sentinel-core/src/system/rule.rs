//! The system rule: data, serde (sentinel-golang's JSON names) and validation.

use serde::{Deserialize, Serialize};

use crate::rules::go_enum::go_enum;
use crate::rules::{FieldError, range};

go_enum! {
    /// What a system rule watches.
    pub enum SystemMetric {
        /// The machine's 1-minute load average.
        #[default]
        Load = 0 => ["Load"],
        /// Average response time of inbound entries, milliseconds.
        AvgRt = 1 => ["AvgRT", "AvgRt"],
        /// Inbound entries in flight.
        Concurrency = 2 => ["Concurrency"],
        /// Inbound entries admitted per second.
        InboundQps = 3 => ["InboundQPS", "InboundQps"],
        /// CPU usage, a ratio in `[0, 1]` (against the container's limit).
        CpuUsage = 4 => ["CpuUsage", "CPUUsage"],
    }
}

go_enum! {
    /// How a Load or CpuUsage rule sheds load once its trigger is exceeded.
    pub enum AdaptiveStrategy {
        /// Block every inbound entry while the metric is over the trigger.
        #[default]
        NoAdaptive = -1 | 0 => ["NoAdaptive"],
        /// Block only the inbound entries beyond what the service has shown it can finish
        /// (BBR: in flight > max completions per second × min RT).
        Bbr = 1 => ["BBR", "Bbr"],
    }
}

/// An instance-wide adaptive protection rule, checked for Inbound entries only.
///
/// ```
/// use sentinel_core::system::{AdaptiveStrategy, SystemMetric, SystemRule};
/// let r: SystemRule = serde_json::from_str(
///     r#"{"id": "cpu-bbr", "metricType": 4, "triggerCount": 0.8, "strategy": 1}"#,
/// ).unwrap();
/// assert_eq!((r.metric_type, r.strategy), (SystemMetric::CpuUsage, AdaptiveStrategy::Bbr));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct SystemRule {
    /// Optional identifier, shown in block errors and logs.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// The metric watched. The default, as in sentinel-golang, is [`SystemMetric::Load`]:
    /// a rule built with `..Default::default()` watches the load average, so write the
    /// metric out (documents must: a document without `metricType` is refused).
    pub metric_type: SystemMetric,
    /// The trigger: load, milliseconds, entries, entries per second, or a CPU ratio.
    pub trigger_count: f64,
    /// What happens over the trigger (Load and CpuUsage only; other metrics always block
    /// at their trigger).
    pub strategy: AdaptiveStrategy,
}

impl SystemRule {
    /// Checks the rule; the first problem found names its field.
    pub fn validate(&self) -> Result<(), FieldError> {
        range::number("triggerCount", self.trigger_count, range::MAX_COUNT)?;
        if self.metric_type == SystemMetric::CpuUsage && self.trigger_count > 1.0 {
            return Err(FieldError::new(
                "triggerCount",
                format!(
                    "must be a ratio in [0, 1] for CpuUsage, got {}",
                    self.trigger_count
                ),
            ));
        }
        Ok(())
    }

    /// A one-line description for block errors and logs.
    pub fn describe(&self) -> String {
        match (self.metric_type, self.strategy) {
            (SystemMetric::Load | SystemMetric::CpuUsage, AdaptiveStrategy::Bbr) => format!(
                "{} over {}: shed inbound work beyond what completes (BBR)",
                self.metric_type, self.trigger_count
            ),
            _ => format!("inbound {} at {}", self.metric_type, self.trigger_count),
        }
    }
}
