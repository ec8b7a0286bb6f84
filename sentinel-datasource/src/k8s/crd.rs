//! The custom resources: group `datasource.sentinel.io`, version `v1alpha1`, namespaced
//! kinds `FlowRules`, `IsolationRules`, `CircuitBreakerRules`, `HotspotRules` and
//! `SystemRules`, each with its rules under `spec.rules`, as sentinel-golang's CRDs have
//! them: enums are written by name (`controlBehavior: Throttling`), and the thresholds of
//! ratio circuit breakers and of Load and CpuUsage system rules are integer percentages
//! (`50` is a ratio of 0.5).
//!
//! These types give the CRDs' OpenAPI schemas ([`definitions`]; the manifests under
//! `deploy/crds/` are generated from them) and let a program write resources. The
//! [`KubeSource`](crate::KubeSource) reads objects through the rule documents' own parser,
//! so that an object with a mistake is rejected and reported by rule and field.

use std::borrow::Cow;
use std::marker::PhantomData;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResource;
use kube::core::ApiResource;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use sentinel_core::circuit_breaker::Strategy;
use sentinel_core::cluster::ThresholdType;
use sentinel_core::flow::{ControlBehavior, RelationStrategy, TokenCalculateStrategy};
use sentinel_core::hotspot::MetricType;
use sentinel_core::isolation::IsolationMetric;
use sentinel_core::system::{AdaptiveStrategy, SystemMetric};
use serde::{Deserialize, Serialize};

use crate::document::CRD_GROUP;

pub use crate::document::CRD_VERSION;

/// Declares one custom resource kind: its spec (a list of rules) and, through kube's
/// derive, the resource type named after the kind.
macro_rules! rules_resource {
    ($(#[$doc:meta])* $spec:ident, $kind:literal, $plural:literal, $rule:ty, $resource_doc:literal) => {
        $(#[$doc])*
        #[derive(CustomResource, Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
        #[kube(
            group = "datasource.sentinel.io",
            version = "v1alpha1",
            kind = $kind,
            plural = $plural,
            namespaced,
            doc = $resource_doc
        )]
        pub struct $spec {
            /// The rules. The instance loads the rules of every matching object of this kind.
            pub rules: Vec<$rule>,
        }
    };
}

rules_resource!(
    /// The spec of a `FlowRules` resource.
    FlowRulesSpec,
    "FlowRules",
    "flowrules",
    FlowRule,
    "FlowRules: rules in force on every instance that watches this namespace."
);
rules_resource!(
    /// The spec of an `IsolationRules` resource.
    IsolationRulesSpec,
    "IsolationRules",
    "isolationrules",
    IsolationRule,
    "IsolationRules: rules in force on every instance that watches this namespace."
);
rules_resource!(
    /// The spec of a `CircuitBreakerRules` resource.
    CircuitBreakerRulesSpec,
    "CircuitBreakerRules",
    "circuitbreakerrules",
    CircuitBreakerRule,
    "CircuitBreakerRules: rules in force on every instance that watches this namespace."
);
rules_resource!(
    /// The spec of a `HotspotRules` resource.
    HotspotRulesSpec,
    "HotspotRules",
    "hotspotrules",
    HotspotRule,
    "HotspotRules: rules in force on every instance that watches this namespace."
);
rules_resource!(
    /// The spec of a `SystemRules` resource.
    SystemRulesSpec,
    "SystemRules",
    "systemrules",
    SystemRule,
    "SystemRules: rules in force on every instance that watches this namespace."
);

/// A flow-control rule of a `FlowRules` resource (the engine's `FlowRule`).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FlowRule {
    /// Optional identifier, shown in block errors and logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The guarded resource.
    pub resource: String,
    /// How the threshold is computed (default Direct).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "by_name::option"
    )]
    #[schemars(with = "Named<TokenCalculateStrategy, true>")]
    pub token_calculate_strategy: Option<TokenCalculateStrategy>,
    /// What happens over the threshold (default Reject).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "by_name::option"
    )]
    #[schemars(with = "Named<ControlBehavior, true>")]
    pub control_behavior: Option<ControlBehavior>,
    /// Entries allowed per statistic interval.
    pub threshold: f64,
    /// Whose statistics are read (default CurrentResource).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "by_name::option"
    )]
    #[schemars(with = "Named<RelationStrategy, true>")]
    pub relation_strategy: Option<RelationStrategy>,
    /// The resource whose statistics are read with AssociatedResource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ref_resource: Option<String>,
    /// Throttling: the longest an entry may be queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_queueing_time_ms: Option<u32>,
    /// WarmUp: seconds from cold to full threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_up_period_sec: Option<u32>,
    /// WarmUp: a cold system admits threshold / coldFactor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_up_cold_factor: Option<u32>,
    /// The statistic interval of the threshold (default 1000 ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stat_interval_in_ms: Option<u32>,
    /// MemoryAdaptive: threshold at or below the low water mark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low_mem_usage_threshold: Option<i64>,
    /// MemoryAdaptive: threshold at or above the high water mark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_mem_usage_threshold: Option<i64>,
    /// MemoryAdaptive: the low memory water mark, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_low_water_mark_bytes: Option<i64>,
    /// MemoryAdaptive: the high memory water mark, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_high_water_mark_bytes: Option<i64>,
    /// Shares the threshold with the fleet through a cluster backend (Direct and Reject
    /// rules only; needs clusterConfig).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_mode: Option<bool>,
    /// How a cluster rule shares its threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_config: Option<ClusterConfig>,
}

/// The `clusterConfig` of a cluster flow rule (the engine's `ClusterConfig`).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterConfig {
    /// Names the bucket the fleet shares: a string, or Sentinel Java's integer.
    #[serde(deserialize_with = "string_or_integer")]
    #[schemars(with = "IntOrString")]
    pub flow_id: String,
    /// Global (the fleet's threshold) or AvgLocal (each instance's; the default); by name
    /// or Sentinel Java's integer (0 AvgLocal, 1 Global). Written by name.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "by_name::option::serialize"
    )]
    #[schemars(with = "NamedOrCode<ThresholdType>")]
    pub threshold_type: Option<ThresholdType>,
    /// While the backend is unreachable: limit locally (true, the default) or pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_to_local_when_fail: Option<bool>,
    /// The local limit while the backend is unreachable (at least 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub fallback_threshold: Option<f64>,
    /// Tokens the fleet may spend at once after an idle spell (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub burst: Option<u64>,
}

/// A string or an integer, read as a string.
fn string_or_integer<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Text(String),
        Integer(i64),
    }
    Ok(match Either::deserialize(d)? {
        Either::Text(s) => s,
        Either::Integer(i) => i.to_string(),
    })
}

/// The schema of a string-or-integer field (`x-kubernetes-int-or-string`).
struct IntOrString;

impl JsonSchema for IntOrString {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("IntOrString")
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "x-kubernetes-int-or-string": true })
    }
}

/// The schema of an optional [`NamedEnum`] written by name or by its integer code (the
/// position among the names, as Sentinel Java numbers them).
struct NamedOrCode<E>(PhantomData<E>);

impl<E: NamedEnum> JsonSchema for NamedOrCode<E> {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed(E::TYPE)
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let names = E::all().iter().map(|v| serde_json::Value::from(v.name()));
        let codes = (0..E::all().len()).map(serde_json::Value::from);
        let allowed: Vec<serde_json::Value> = names.chain(codes).collect();
        json_schema!({ "x-kubernetes-int-or-string": true, "enum": allowed, "nullable": true })
    }
}

/// A concurrency limit of an `IsolationRules` resource (the engine's `IsolationRule`).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IsolationRule {
    /// Optional identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The guarded resource.
    pub resource: String,
    /// What is counted (only Concurrency).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "by_name::option"
    )]
    #[schemars(with = "Named<IsolationMetric, true>")]
    pub metric_type: Option<IsolationMetric>,
    /// Most entries in flight at once (> 0).
    pub threshold: u32,
}

/// A circuit breaker of a `CircuitBreakerRules` resource (the engine's
/// `CircuitBreakerRule`).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CircuitBreakerRule {
    /// Optional identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The guarded resource.
    pub resource: String,
    /// What makes the breaker trip (required: its default would change what the rule
    /// means).
    #[serde(with = "by_name")]
    #[schemars(with = "Named<Strategy>")]
    pub strategy: Strategy,
    /// How long an open breaker blocks before a probe (> 0).
    pub retry_timeout_ms: u32,
    /// Completions the window must hold before the breaker may trip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_request_amount: Option<u64>,
    /// Length of the statistic window (default 1000 ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stat_interval_ms: Option<u32>,
    /// Buckets of the statistic window (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stat_sliding_window_bucket_count: Option<u32>,
    /// SlowRequestRatio: a completion slower than this is slow (required, > 0, for that
    /// strategy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_allowed_rt_ms: Option<u64>,
    /// Percent (0–100) for the ratio strategies, a count for ErrorCount.
    pub threshold: i64,
    /// Probes a half-open round admits (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_num: Option<u64>,
}

/// A limit per argument value of a `HotspotRules` resource (the engine's `HotspotRule`).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HotspotRule {
    /// Optional identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The guarded resource.
    pub resource: String,
    /// QPS (a rate per value) or Concurrency (entries in flight per value); required.
    #[serde(with = "by_name")]
    #[schemars(with = "Named<MetricType>")]
    pub metric_type: MetricType,
    /// QPS only: Reject over the threshold, or Throttling.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "by_name::option"
    )]
    #[schemars(with = "Named<ControlBehavior, true>")]
    pub control_behavior: Option<ControlBehavior>,
    /// Which argument holds the value (negative counts from the end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param_index: Option<i32>,
    /// An attachment key holding the value; tried before paramIndex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param_key: Option<String>,
    /// Per value: entries per durationInSec (QPS) or in flight (Concurrency).
    pub threshold: i64,
    /// QPS and Throttling: the longest an entry may be queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_queueing_time_ms: Option<i64>,
    /// QPS and Reject: extra tokens a value may spend in a burst.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst_count: Option<i64>,
    /// QPS: the period the threshold counts over (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_in_sec: Option<i64>,
    /// Most values tracked at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params_max_capacity: Option<i64>,
    /// Thresholds for particular values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub specific_items: Option<Vec<SpecificItem>>,
}

/// A threshold for one value of a hot parameter.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SpecificItem {
    /// The value's type.
    pub val_kind: ValKind,
    /// The value, as text.
    pub val_str: String,
    /// Its threshold.
    pub threshold: i64,
}

/// The type of a hot parameter's value, as sentinel-golang's CRDs write it.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValKind {
    /// A signed or unsigned integer.
    KindInt,
    /// A string.
    KindString,
    /// `true` or `false`.
    KindBool,
    /// A floating-point number.
    KindFloat64,
}

/// An instance-wide adaptive protection rule of a `SystemRules` resource (the engine's
/// `SystemRule`).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SystemRule {
    /// Optional identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The metric watched.
    #[serde(with = "by_name")]
    #[schemars(with = "Named<SystemMetric>")]
    pub metric_type: SystemMetric,
    /// The trigger: percent for Load and CpuUsage (80 is a load of 0.8, 80 % CPU),
    /// milliseconds for AvgRT, entries for Concurrency, entries per second for InboundQPS.
    pub trigger_count: i64,
    /// Load and CpuUsage: NoAdaptive (default) or BBR.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "by_name::option"
    )]
    #[schemars(with = "Named<AdaptiveStrategy, true>")]
    pub strategy: Option<AdaptiveStrategy>,
}

/// The CustomResourceDefinitions of the five kinds, with OpenAPI schemas from these
/// types; `deploy/crds/` holds them as YAML ([`manifest`]).
pub fn definitions() -> Vec<CustomResourceDefinition> {
    use kube::CustomResourceExt;
    vec![
        FlowRules::crd(),
        IsolationRules::crd(),
        CircuitBreakerRules::crd(),
        HotspotRules::crd(),
        SystemRules::crd(),
    ]
}

/// A CustomResourceDefinition as a YAML manifest for `kubectl apply -f`.
pub fn manifest(definition: &CustomResourceDefinition) -> String {
    // Serialising a CRD cannot fail: it is plain data with string keys.
    serde_saphyr::to_string(definition).unwrap_or_default()
}

/// The API resource of a rule kind's custom resource, from its kind name (`FlowRules`,
/// plural `flowrules`), so that a kind added with [`RuleKind`](crate::RuleKind) can be
/// watched once its CRD is installed.
pub(crate) fn api_resource(kind: &str) -> ApiResource {
    ApiResource {
        group: CRD_GROUP.to_string(),
        version: CRD_VERSION.to_string(),
        api_version: format!("{CRD_GROUP}/{CRD_VERSION}"),
        kind: kind.to_string(),
        plural: kind.to_ascii_lowercase(),
    }
}

/// A rule enum of sentinel-core, written by its name in custom resources.
trait NamedEnum: Copy + std::str::FromStr<Err = String> + 'static {
    const TYPE: &'static str;
    fn all() -> &'static [Self];
    fn name(self) -> &'static str;
}

macro_rules! named_enums {
    ($($t:ident),+) => {
        $(impl NamedEnum for $t {
            const TYPE: &'static str = stringify!($t);
            fn all() -> &'static [Self] {
                $t::ALL
            }
            fn name(self) -> &'static str {
                $t::name(self)
            }
        })+
    };
}

named_enums!(
    TokenCalculateStrategy,
    ControlBehavior,
    RelationStrategy,
    IsolationMetric,
    Strategy,
    MetricType,
    SystemMetric,
    AdaptiveStrategy,
    ThresholdType
);

/// The schema of a [`NamedEnum`]: a string, one of the names; `OPTIONAL` for an optional
/// field (nullable, as kube writes optional fields).
struct Named<E, const OPTIONAL: bool = false>(PhantomData<E>);

impl<E: NamedEnum, const OPTIONAL: bool> JsonSchema for Named<E, OPTIONAL> {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed(E::TYPE)
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let names: Vec<&str> = E::all().iter().map(|v| v.name()).collect();
        let mut schema = json_schema!({ "type": "string", "enum": names });
        if OPTIONAL {
            schema.insert("nullable".into(), true.into());
        }
        schema
    }
}

/// serde for a [`NamedEnum`] written by name (any of sentinel-core's spellings is read).
mod by_name {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use super::NamedEnum;

    pub(super) fn serialize<E: NamedEnum, S: Serializer>(
        value: &E,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(value.name())
    }

    pub(super) fn deserialize<'de, E: NamedEnum, D: Deserializer<'de>>(
        d: D,
    ) -> Result<E, D::Error> {
        String::deserialize(d)?.parse().map_err(D::Error::custom)
    }

    /// The same for an optional field.
    pub(super) mod option {
        use serde::{Deserialize, Deserializer, Serializer};

        use super::super::NamedEnum;

        pub(crate) fn serialize<E: NamedEnum, S: Serializer>(
            value: &Option<E>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match value {
                Some(v) => super::serialize(v, s),
                None => s.serialize_none(),
            }
        }

        pub(crate) fn deserialize<'de, E: NamedEnum, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<E>, D::Error> {
            #[derive(Deserialize)]
            struct Wrapped<E: NamedEnum>(#[serde(with = "super")] E);
            Ok(Option::<Wrapped<E>>::deserialize(d)?.map(|w| w.0))
        }
    }
}
