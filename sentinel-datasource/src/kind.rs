//! Rule kinds: what a source can load, and how.
//!
//! A rule kind is one implementation of [`RuleKind`]: its rule type (serde, with
//! sentinel-golang's field names), its names in documents, and how to load and read back a
//! whole set on a [`Sentinel`]. Everything else (formats, documents, sources, status) is
//! generic over it.

use std::fmt::Debug;

use sentinel_core::circuit_breaker::{CircuitBreakerRule, Strategy};
use sentinel_core::flow::{FlowRule, TokenCalculateStrategy};
use sentinel_core::hotspot::{HotspotRule, MetricType};
use sentinel_core::isolation::IsolationRule;
use sentinel_core::system::{SystemMetric, SystemRule};
use sentinel_core::{FieldError, RuleSetError, Sentinel};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// A kind of rule that documents hold and sources load.
///
/// ```
/// use sentinel_core::Sentinel;
/// use sentinel_datasource::{Flow, RuleKind};
///
/// let sentinel = Sentinel::new();
/// let rules: Vec<<Flow as RuleKind>::Rule> =
///     serde_json::from_str(r#"[{"resource": "GET /items", "threshold": 10}]"#)?;
/// Flow::load(&sentinel, rules.clone())?;
/// assert_eq!(Flow::current(&sentinel), rules);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait RuleKind: Send + Sync + 'static {
    /// The rule type. Fields missing from a document take their `Default` values, except
    /// those [`RuleKind::required_fields`] names, which must be written;
    /// [`Pipeline::export`](crate::Pipeline::export) leaves out the other fields at their
    /// default values.
    type Rule: Serialize
        + DeserializeOwned
        + Default
        + Clone
        + PartialEq
        + Debug
        + Send
        + Sync
        + 'static;
    /// The kind's name in errors, logs and status (`flow`), as in
    /// [`InvalidRule::kind`](sentinel_core::InvalidRule::kind).
    const NAME: &'static str;
    /// The key of this kind's section in a multi-kind document (`circuitBreaker`).
    const SECTION: &'static str;
    /// The `kind` of this kind's Kubernetes custom resource (`FlowRules`).
    const CRD_KIND: &'static str;

    /// Replaces the whole set of this kind on `sentinel` (validated as a whole).
    fn load(sentinel: &Sentinel, rules: Vec<Self::Rule>) -> Result<(), RuleSetError>;
    /// The rules of this kind in force on `sentinel`.
    fn current(sentinel: &Sentinel) -> Vec<Self::Rule>;
    /// Checks one rule as [`RuleKind::load`] would, so that a multi-kind document is
    /// checked as a whole before any kind is loaded.
    fn validate(rule: &Self::Rule) -> Result<(), FieldError>;
    /// The rule's `id` (may be empty), for error messages.
    fn id(rule: &Self::Rule) -> &str;
    /// The rule's resource (empty for instance-wide rules), for error messages.
    fn resource(rule: &Self::Rule) -> &str;
    /// The fields a document must write for `rule` (decoded with defaults for whatever is
    /// missing): those whose default would change what the rule means. That is a zero that
    /// would block all traffic or switch the rule off (so that a file cut off before
    /// `threshold:`, an editor or a tool caught mid-write, is an error instead of a rule
    /// that blocks everything; an explicit 0 stays allowed, [`RuleKind::validate`] judges
    /// the value), and an enum whose default picks another kind of limit (a breaker without
    /// `strategy` would count slow calls, a hot-parameter rule without `metricType` would
    /// limit concurrency instead of a rate). A missing field is reported with what it
    /// accepts ([`RuleKind::accepted_values`]). Adding a field is adding it to the list.
    /// The default requires nothing.
    ///
    /// The kinds of this crate require:
    ///
    /// | kind | required fields |
    /// |------|-----------------|
    /// | flow | `threshold`; for `MemoryAdaptive` instead `lowMemUsageThreshold`, `highMemUsageThreshold`, `memLowWaterMarkBytes`, `memHighWaterMarkBytes` |
    /// | isolation | `threshold` |
    /// | circuit breaker | `strategy`, `retryTimeoutMs`, `threshold`; for `SlowRequestRatio` also `maxAllowedRtMs` (> 0) |
    /// | hot parameter | `metricType`, `threshold` |
    /// | system | `metricType`, `triggerCount` |
    ///
    /// Left optional, because their defaults are the plain behaviour sentinel-golang
    /// documents: flow `tokenCalculateStrategy` (Direct), `controlBehavior` (Reject),
    /// `relationStrategy` (CurrentResource), `statIntervalInMs` (1000), `maxQueueingTimeMs`
    /// (0: Throttling paces without a queue); breaker `minRequestAmount` (0),
    /// `statIntervalMs` (1000), `probeNum` (1); hot-parameter `controlBehavior` (Reject),
    /// `paramIndex` (0: the first argument), `durationInSec` (1); system `strategy`
    /// (NoAdaptive).
    fn required_fields(rule: &Self::Rule) -> &'static [&'static str] {
        let _ = rule;
        &[]
    }
    /// What a required `field` accepts, for the error when it is missing (`one of
    /// SlowRequestRatio (0), ErrorRatio (1), ErrorCount (2)`); `None` for a number whose 0
    /// is allowed (the error then says to write it, even as 0). The default knows no field.
    fn accepted_values(field: &str) -> Option<String> {
        let _ = field;
        None
    }
    /// Writes the enums of `rule`, as [`Pipeline::export`](crate::Pipeline::export) wrote
    /// it (`fields`: the rule serialised, enums as sentinel-golang's integers, fields at
    /// their defaults left out), by name: `"strategy": "ErrorRatio"`. Only fields present
    /// in `fields` are rewritten. The default changes nothing.
    fn name_enums(rule: &Self::Rule, fields: &mut Map<String, Value>) {
        let _ = (rule, fields);
    }
    /// Rewrites a rule written in Sentinel Java's form (its field names and integers) to
    /// this kind's, before it is decoded; a rule in sentinel-golang's form is left alone.
    /// Flow rules read Java's `FlowRule` (see [`Flow`]); the default changes nothing.
    ///
    /// # Errors
    ///
    /// A Java field or value without a meaning here, naming the field.
    fn from_java(rule: &mut Value) -> Result<(), FieldError> {
        let _ = rule;
        Ok(())
    }
    /// Converts a rule read from a Kubernetes custom resource, where some thresholds are
    /// integer percentages, to the rule's own units. The default changes nothing.
    ///
    /// # Errors
    ///
    /// A percentage that is not a whole number from 0 (a ratio written in the rule's own
    /// units, `0.5` for 50 %, would silently mean 0.5 %).
    fn from_crd(rule: &mut Self::Rule) -> Result<(), FieldError> {
        let _ = rule;
        Ok(())
    }
}

/// Flow-control rules ([`FlowRule`]): section `flow`, custom resource `FlowRules`.
///
/// Sentinel Java's flow rules load too: a rule with one of Java's own fields (`count`,
/// `grade`, `limitApp`, `strategy`) is read as Java writes it, `count` as the threshold,
/// `controlBehavior` 0–3 as Java's default / warm up / rate limiter / both, `strategy` as
/// the relation strategy, cluster fields as they are, the fields of Java's token server
/// ignored. What has no meaning here (thread-count grade, chain strategy, a named
/// `limitApp`) is refused, naming the field.
///
/// ```
/// use sentinel_core::Sentinel;
/// use sentinel_core::flow::{ControlBehavior, TokenCalculateStrategy};
/// use sentinel_datasource::{Flow, Format, Pipeline};
///
/// let sentinel = Sentinel::new();
/// Pipeline::for_kind::<Flow>(&sentinel).apply(
///     br#"[{"resource": "POST /checkout", "limitApp": "default", "grade": 1, "count": 1000,
///           "strategy": 0, "controlBehavior": 1, "warmUpPeriodSec": 10}]"#,
///     Format::Json,
/// )?;
/// let rule = &sentinel.flow_rules()[0];
/// assert_eq!(rule.threshold, 1000.0);
/// assert_eq!(rule.token_calculate_strategy, TokenCalculateStrategy::WarmUp);
/// assert_eq!(rule.control_behavior, ControlBehavior::Reject);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Flow;

impl RuleKind for Flow {
    type Rule = FlowRule;
    const NAME: &'static str = "flow";
    const SECTION: &'static str = "flow";
    const CRD_KIND: &'static str = "FlowRules";

    fn load(sentinel: &Sentinel, rules: Vec<FlowRule>) -> Result<(), RuleSetError> {
        sentinel.load_flow_rules(rules)
    }
    fn current(sentinel: &Sentinel) -> Vec<FlowRule> {
        sentinel.flow_rules()
    }
    fn validate(rule: &FlowRule) -> Result<(), FieldError> {
        rule.validate()
    }
    fn id(rule: &FlowRule) -> &str {
        &rule.id
    }
    fn resource(rule: &FlowRule) -> &str {
        &rule.resource
    }
    fn required_fields(rule: &FlowRule) -> &'static [&'static str] {
        match rule.token_calculate_strategy {
            // The threshold moves between these two with memory use.
            TokenCalculateStrategy::MemoryAdaptive => &[
                "lowMemUsageThreshold",
                "highMemUsageThreshold",
                "memLowWaterMarkBytes",
                "memHighWaterMarkBytes",
            ],
            TokenCalculateStrategy::Direct | TokenCalculateStrategy::WarmUp => &["threshold"],
        }
    }
    fn from_java(rule: &mut Value) -> Result<(), FieldError> {
        crate::java::flow_rule(rule)
    }
    fn name_enums(rule: &FlowRule, fields: &mut Map<String, Value>) {
        let names = [
            (
                "tokenCalculateStrategy",
                rule.token_calculate_strategy.name(),
            ),
            ("controlBehavior", rule.control_behavior.name()),
            ("relationStrategy", rule.relation_strategy.name()),
        ];
        write_names(fields, names);
        if let (Some(config), Some(Value::Object(written))) =
            (&rule.cluster_config, fields.get_mut("clusterConfig"))
        {
            write_names(written, [("thresholdType", config.threshold_type.name())]);
        }
    }
}

/// Concurrency-isolation rules ([`IsolationRule`]): section `isolation`, custom resource
/// `IsolationRules`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Isolation;

impl RuleKind for Isolation {
    type Rule = IsolationRule;
    const NAME: &'static str = "isolation";
    const SECTION: &'static str = "isolation";
    const CRD_KIND: &'static str = "IsolationRules";

    fn load(sentinel: &Sentinel, rules: Vec<IsolationRule>) -> Result<(), RuleSetError> {
        sentinel.load_isolation_rules(rules)
    }
    fn current(sentinel: &Sentinel) -> Vec<IsolationRule> {
        sentinel.isolation_rules()
    }
    fn validate(rule: &IsolationRule) -> Result<(), FieldError> {
        rule.validate()
    }
    fn id(rule: &IsolationRule) -> &str {
        &rule.id
    }
    fn resource(rule: &IsolationRule) -> &str {
        &rule.resource
    }
    fn required_fields(_: &IsolationRule) -> &'static [&'static str] {
        &["threshold"]
    }
    fn name_enums(rule: &IsolationRule, fields: &mut Map<String, Value>) {
        write_names(fields, [("metricType", rule.metric_type.name())]);
    }
}

/// Circuit-breaker rules ([`CircuitBreakerRule`]): section `circuitBreaker`, custom resource
/// `CircuitBreakerRules`. In the custom resource, the threshold of the ratio strategies is
/// an integer percentage (`50` is a ratio of 0.5), as in sentinel-golang's CRDs.
#[derive(Debug, Clone, Copy, Default)]
#[doc(alias = "degrade")]
pub struct CircuitBreaker;

impl RuleKind for CircuitBreaker {
    type Rule = CircuitBreakerRule;
    const NAME: &'static str = "circuit breaker";
    const SECTION: &'static str = "circuitBreaker";
    const CRD_KIND: &'static str = "CircuitBreakerRules";

    fn load(sentinel: &Sentinel, rules: Vec<CircuitBreakerRule>) -> Result<(), RuleSetError> {
        sentinel.load_circuit_breaker_rules(rules)
    }
    fn current(sentinel: &Sentinel) -> Vec<CircuitBreakerRule> {
        sentinel.circuit_breaker_rules()
    }
    fn validate(rule: &CircuitBreakerRule) -> Result<(), FieldError> {
        rule.validate()
    }
    fn id(rule: &CircuitBreakerRule) -> &str {
        &rule.id
    }
    fn resource(rule: &CircuitBreakerRule) -> &str {
        &rule.resource
    }
    fn required_fields(rule: &CircuitBreakerRule) -> &'static [&'static str] {
        match rule.strategy {
            // With 0 ms every completion is slow: the breaker opens at once.
            Strategy::SlowRequestRatio => {
                &["strategy", "retryTimeoutMs", "threshold", "maxAllowedRtMs"]
            }
            Strategy::ErrorRatio | Strategy::ErrorCount => {
                &["strategy", "retryTimeoutMs", "threshold"]
            }
        }
    }
    fn accepted_values(field: &str) -> Option<String> {
        match field {
            "strategy" => Some(one_of(Strategy::ALL, Strategy::name, Strategy::go_value)),
            "maxAllowedRtMs" => Some(
                "milliseconds > 0 (with SlowRequestRatio, the strategy when none is written, \
                 a completion slower than this is slow)"
                    .into(),
            ),
            _ => None,
        }
    }
    fn name_enums(rule: &CircuitBreakerRule, fields: &mut Map<String, Value>) {
        write_names(fields, [("strategy", rule.strategy.name())]);
    }
    fn from_crd(rule: &mut CircuitBreakerRule) -> Result<(), FieldError> {
        if rule.strategy != Strategy::ErrorCount {
            rule.threshold = percentage("threshold", rule.threshold, Some(100.0))?;
        }
        Ok(())
    }
}

/// Hot-parameter rules ([`HotspotRule`]): section `hotspot`, custom resource
/// `HotspotRules`; `specificItems` in sentinel-golang's `{valKind, valStr, threshold}` form.
#[derive(Debug, Clone, Copy, Default)]
#[doc(alias = "hot parameter")]
#[doc(alias = "param flow")]
pub struct Hotspot;

impl RuleKind for Hotspot {
    type Rule = HotspotRule;
    const NAME: &'static str = "hot parameter";
    const SECTION: &'static str = "hotspot";
    const CRD_KIND: &'static str = "HotspotRules";

    fn load(sentinel: &Sentinel, rules: Vec<HotspotRule>) -> Result<(), RuleSetError> {
        sentinel.load_hotspot_rules(rules)
    }
    fn current(sentinel: &Sentinel) -> Vec<HotspotRule> {
        sentinel.hotspot_rules()
    }
    fn validate(rule: &HotspotRule) -> Result<(), FieldError> {
        rule.validate()
    }
    fn id(rule: &HotspotRule) -> &str {
        &rule.id
    }
    fn resource(rule: &HotspotRule) -> &str {
        &rule.resource
    }
    fn required_fields(_: &HotspotRule) -> &'static [&'static str] {
        &["metricType", "threshold"]
    }
    fn accepted_values(field: &str) -> Option<String> {
        (field == "metricType")
            .then(|| one_of(MetricType::ALL, MetricType::name, MetricType::go_value))
    }
    fn name_enums(rule: &HotspotRule, fields: &mut Map<String, Value>) {
        let names = [
            ("metricType", rule.metric_type.name()),
            ("controlBehavior", rule.control_behavior.name()),
        ];
        write_names(fields, names);
        // `specificItems`: `valKind` 0, 1, 2, 3 are Int, String, Bool, Float64.
        let items = fields
            .get_mut("specificItems")
            .and_then(Value::as_array_mut);
        for item in items.into_iter().flatten() {
            let kind = item.get("valKind").and_then(Value::as_i64);
            let name = kind
                .and_then(|k| usize::try_from(k).ok())
                .and_then(|k| ["Int", "String", "Bool", "Float64"].get(k));
            if let (Some(name), Some(item)) = (name, item.as_object_mut()) {
                item.insert("valKind".into(), Value::from(*name));
            }
        }
    }
}

/// System adaptive-protection rules ([`SystemRule`]): section `system`, custom resource
/// `SystemRules`. In the custom resource, Load and CpuUsage triggers are integer
/// percentages (`80` is 0.8), as in sentinel-golang's CRDs.
#[derive(Debug, Clone, Copy, Default)]
pub struct System;

impl RuleKind for System {
    type Rule = SystemRule;
    const NAME: &'static str = "system";
    const SECTION: &'static str = "system";
    const CRD_KIND: &'static str = "SystemRules";

    fn load(sentinel: &Sentinel, rules: Vec<SystemRule>) -> Result<(), RuleSetError> {
        sentinel.load_system_rules(rules)
    }
    fn current(sentinel: &Sentinel) -> Vec<SystemRule> {
        sentinel.system_rules()
    }
    fn validate(rule: &SystemRule) -> Result<(), FieldError> {
        rule.validate()
    }
    fn id(rule: &SystemRule) -> &str {
        &rule.id
    }
    fn resource(_: &SystemRule) -> &str {
        ""
    }
    fn required_fields(_: &SystemRule) -> &'static [&'static str] {
        &["metricType", "triggerCount"]
    }
    fn accepted_values(field: &str) -> Option<String> {
        (field == "metricType").then(|| {
            one_of(
                SystemMetric::ALL,
                SystemMetric::name,
                SystemMetric::go_value,
            )
        })
    }
    fn name_enums(rule: &SystemRule, fields: &mut Map<String, Value>) {
        let names = [
            ("metricType", rule.metric_type.name()),
            ("strategy", rule.strategy.name()),
        ];
        write_names(fields, names);
    }
    fn from_crd(rule: &mut SystemRule) -> Result<(), FieldError> {
        let most = match rule.metric_type {
            SystemMetric::Load => None,
            SystemMetric::CpuUsage => Some(100.0),
            _ => return Ok(()),
        };
        rule.trigger_count = percentage("triggerCount", rule.trigger_count, most)?;
        Ok(())
    }
}

/// A custom resource's integer percentage (`50`) as a ratio (`0.5`).
fn percentage(field: &'static str, percent: f64, most: Option<f64>) -> Result<f64, FieldError> {
    let whole = percent.fract() == 0.0 && percent >= 0.0;
    if !whole || most.is_some_and(|most| percent > most) {
        let range = most.map_or("0 or more".to_string(), |m| format!("0 to {m}"));
        return Err(FieldError::new(
            field,
            format!(
                "{percent} is not a percentage: custom resources write this field as a whole \
                 percent, {range} (50 for a ratio of 0.5)"
            ),
        ));
    }
    Ok(percent / 100.0)
}

/// `one of A (0), B (1)`: the names and sentinel-golang's integers of an enum's values.
fn one_of<E: Copy>(all: &[E], name: fn(E) -> &'static str, value: fn(E) -> i64) -> String {
    let values: Vec<String> = all
        .iter()
        .map(|v| format!("{} ({})", name(*v), value(*v)))
        .collect();
    format!("one of {}", values.join(", "))
}

/// Replaces each field of `names` present in `fields` with the name given.
fn write_names<const N: usize>(fields: &mut Map<String, Value>, names: [(&str, &'static str); N]) {
    for (field, name) in names {
        if let Some(value) = fields.get_mut(field) {
            *value = Value::from(name);
        }
    }
}
