//! The cluster fields of a flow rule, as Sentinel Java writes them.

use serde::{Deserialize, Serialize};

use crate::rules::go_enum::go_enum;
use crate::rules::{FieldError, range};

go_enum! {
    /// Whose limit a cluster rule's threshold is. Sentinel Java's integers: `0` is
    /// AvgLocal (its default), `1` is Global.
    pub enum ThresholdType {
        /// Per instance: the fleet's limit is the threshold times the live instances.
        #[default]
        AvgLocal = 0 => ["AvgLocal", "Avg_Local"],
        /// For the whole fleet.
        Global = 1 => ["Global"],
    }
}

/// The longest `clusterConfig.flowId`, in bytes.
pub const MAX_FLOW_ID_BYTES: usize = 256;

/// The highest fleet rate a cluster rule may have, in entries per second (its threshold
/// per second; for AvgLocal, per instance): a shared bucket spaces its tokens by
/// `1 / rate` in µs, which must stay well above the resolution of the store's clock
/// arithmetic.
pub const MAX_CLUSTER_RATE_PER_SEC: f64 = 100_000.0;

/// How a flow rule with `clusterMode: true` shares its limit (Sentinel Java's
/// `clusterConfig`).
///
/// ```
/// use sentinel_core::cluster::{ClusterConfig, ThresholdType};
/// let c: ClusterConfig = serde_json::from_str(
///     r#"{"flowId": 111, "thresholdType": 1, "fallbackThreshold": 250}"#,
/// ).unwrap();
/// assert_eq!(c.flow_id, "111");
/// assert_eq!(c.threshold_type, ThresholdType::Global);
/// assert!(c.fallback_to_local_when_fail, "on by default");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClusterConfig {
    /// Names the bucket the fleet shares (a string, or Java's number); required.
    #[serde(deserialize_with = "flow_id")]
    pub flow_id: String,
    /// Global (the threshold is the fleet's) or AvgLocal (per instance; the default, as
    /// in Java).
    pub threshold_type: ThresholdType,
    /// While the backend is unreachable: `true` (default) limits locally, `false` lets
    /// every entry pass (Java's meaning).
    pub fallback_to_local_when_fail: bool,
    /// The local limit (per `statIntervalInMs`) while the backend is unreachable or
    /// absent; default: the threshold for AvgLocal, the threshold divided by the live
    /// instances last seen for Global.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_threshold: Option<f64>,
    /// Tokens the fleet may spend at once after an idle spell (GCRA burst tolerance);
    /// default: a fifth of the threshold (at least 1), which at a 1 s interval is two
    /// lease horizons of 100 ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burst: Option<u64>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            flow_id: String::new(),
            threshold_type: ThresholdType::AvgLocal,
            fallback_to_local_when_fail: true,
            fallback_threshold: None,
            burst: None,
        }
    }
}

impl ClusterConfig {
    /// Checks the fields; errors name them as `clusterConfig.<field>`.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.flow_id.trim().is_empty() {
            return Err(FieldError::new(
                "clusterConfig.flowId",
                "is required with clusterMode (it names the bucket the fleet shares)",
            ));
        }
        if self.flow_id.len() > MAX_FLOW_ID_BYTES {
            return Err(FieldError::new(
                "clusterConfig.flowId",
                format!(
                    "is {} bytes long; at most {MAX_FLOW_ID_BYTES} (it is part of store keys)",
                    self.flow_id.len()
                ),
            ));
        }
        if let Some(t) = self.fallback_threshold {
            range::number("clusterConfig.fallbackThreshold", t, range::MAX_COUNT)?;
        }
        if let Some(b) = self.burst {
            range::integer("clusterConfig.burst", b, 1, range::MAX_COUNT as u64)?;
        }
        Ok(())
    }
}

/// A flow id written as a string or as Java's integer.
fn flow_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    crate::rules::text_field::string_or_integer(d, "a flow id: a string or an integer")
}
