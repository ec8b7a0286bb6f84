//! Errors of rule validation.

use std::fmt;

/// One invalid field of one rule.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// The field, in the JSON spelling users write (`warmUpPeriodSec`).
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl FieldError {
    /// An error for `field`.
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        FieldError {
            field,
            reason: reason.into(),
        }
    }
}

/// One rule of a set that failed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct InvalidRule {
    /// The rule kind (`flow`, `isolation`, ...).
    pub kind: &'static str,
    /// Position of the rule in the set that was loaded.
    pub index: usize,
    /// The rule's `id` (may be empty).
    pub id: String,
    /// The rule's resource (empty for system rules).
    pub resource: String,
    /// The offending field and why.
    pub error: FieldError,
}

impl fmt::Display for InvalidRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} rule #{}", self.kind, self.index)?;
        if !self.id.is_empty() {
            write!(f, " (id {:?})", self.id)?;
        }
        write!(
            f,
            " on resource {:?}: field `{}` {}",
            self.resource, self.error.field, self.error.reason
        )
    }
}

/// A rule set was rejected as a whole; the rules in force did not change.
///
/// ```
/// use sentinel_core::{Sentinel, flow::FlowRule};
/// let s = Sentinel::builder().build();
/// let bad = FlowRule { resource: "".into(), threshold: 1.0, ..Default::default() };
/// let err = s.load_flow_rules(vec![bad.clone(), bad]).unwrap_err();
/// assert_eq!(err.errors()[0].index, 0);
/// assert_eq!(err.errors()[0].error.field, "resource");
/// // One invalid rule a line; on one line for logs.
/// assert_eq!(err.to_string().lines().count(), 3);
/// assert_eq!(
///     err.one_line().to_string(),
///     "rejected the flow rule set (2 invalid rules); the rules in force are unchanged: \
///      flow rule #0 on resource \"\": field `resource` must not be empty; \
///      flow rule #1 on resource \"\": field `resource` must not be empty"
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSetError {
    kind: &'static str,
    errors: Vec<InvalidRule>,
}

impl RuleSetError {
    pub(crate) fn new(kind: &'static str, errors: Vec<InvalidRule>) -> Self {
        RuleSetError { kind, errors }
    }

    /// The rule kind of the rejected set.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// Every invalid rule of the set, in set order.
    pub fn errors(&self) -> &[InvalidRule] {
        &self.errors
    }

    /// The error on one line, for logs: the invalid rules separated by `; ` instead of
    /// one a line as `Display` writes them.
    pub fn one_line(&self) -> impl fmt::Display + '_ {
        struct OneLine<'a>(&'a RuleSetError);
        impl fmt::Display for OneLine<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.write(f, ": ", "; ")
            }
        }
        OneLine(self)
    }

    /// Writes the summary, then each invalid rule: after `first` the first, after `next`
    /// the others.
    fn write(&self, f: &mut fmt::Formatter<'_>, first: &str, next: &str) -> fmt::Result {
        write!(
            f,
            "rejected {} {} rule set ({} invalid rule{}); the rules in force are unchanged",
            if self.errors.len() == 1 { "a" } else { "the" },
            self.kind,
            self.errors.len(),
            if self.errors.len() == 1 { "" } else { "s" }
        )?;
        for (i, e) in self.errors.iter().enumerate() {
            write!(f, "{}{e}", if i == 0 { first } else { next })?;
        }
        Ok(())
    }
}

impl fmt::Display for RuleSetError {
    /// The summary, then one invalid rule a line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, "\n  - ", "\n  - ")
    }
}

impl std::error::Error for RuleSetError {}
