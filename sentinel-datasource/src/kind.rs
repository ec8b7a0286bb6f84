//! Rule kinds: what a source can load, and how.
//!
//! A rule kind is one implementation of [`RuleKind`]: its rule type (serde, with
//! sentinel-golang's field names), its names in documents, and how to load and read back a
//! whole set on a [`Sentinel`]. Everything else (formats, documents, sources, status) is
//! generic over it.

use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sentinel_core::flow::FlowRule;
use sentinel_core::isolation::IsolationRule;
use sentinel_core::{FieldError, RuleSetError, Sentinel};

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
    /// The rule type.
    type Rule: Serialize + DeserializeOwned + Clone + PartialEq + Debug + Send + Sync + 'static;
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
    /// Converts a rule read from a Kubernetes custom resource, where some thresholds are
    /// integer percentages, to the rule's own units. The default changes nothing.
    fn from_crd(rule: &mut Self::Rule) {
        let _ = rule;
    }
}

/// Flow-control rules ([`FlowRule`]): section `flow`, custom resource `FlowRules`.
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
}
