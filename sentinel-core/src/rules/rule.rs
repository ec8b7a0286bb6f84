//! What every rule type has in common.

use super::error::{FieldError, InvalidRule, RuleSetError};

/// A rule of one kind (flow, isolation, circuit breaker, hot parameter, system).
///
/// [`validate_set`] checks a set the way the `load_*_rules` methods do, without loading
/// it (data sources check a multi-kind document as a whole before loading any kind).
pub trait Rule: Clone + PartialEq + Send + Sync + 'static {
    /// The kind's name in errors and logs (`flow`).
    const KIND: &'static str;
    /// The rule's `id` (may be empty).
    fn id(&self) -> &str;
    /// The guarded resource (empty for instance-wide system rules).
    fn resource(&self) -> &str;
    /// Checks the rule; the first problem found names its field.
    fn validate(&self) -> Result<(), FieldError>;
    /// Another resource whose statistics the rule reads (a flow rule's `refResource`).
    fn ref_resource(&self) -> Option<&str> {
        None
    }
    /// Checks the (valid) rule against the rules before it in its set, for what only a
    /// set can get wrong (two cluster flow rules naming one bucket with different limits);
    /// the default finds nothing.
    fn validate_in_set(&self, _earlier: &[Self]) -> Result<(), FieldError> {
        Ok(())
    }
}

/// Checks a whole set, naming every invalid rule with its index, id, resource and field.
///
/// ```
/// use sentinel_core::flow::FlowRule;
/// use sentinel_core::rules::validate_set;
/// let bad = vec![FlowRule { resource: "r".into(), threshold: -1.0, ..Default::default() }];
/// let err = validate_set(&bad).unwrap_err();
/// assert_eq!(err.errors()[0].error.field, "threshold");
/// ```
pub fn validate_set<R: Rule>(rules: &[R]) -> Result<(), RuleSetError> {
    let errors: Vec<InvalidRule> = rules
        .iter()
        .enumerate()
        .filter_map(|(index, r)| {
            let checked = r
                .validate()
                .and_then(|()| r.validate_in_set(&rules[..index]));
            checked.err().map(|error| InvalidRule {
                kind: R::KIND,
                index,
                id: r.id().to_string(),
                resource: r.resource().to_string(),
                error,
            })
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(RuleSetError::new(R::KIND, errors))
    }
}
