//! Why an entry was refused.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// The kind of check that blocked an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockType {
    /// A flow rule (QPS, throttling, warm-up).
    Flow,
    /// A concurrency isolation rule.
    Isolation,
    /// An open (or half-open) circuit breaker.
    CircuitBreaking,
    /// System adaptive protection.
    System,
    /// A hot-parameter rule.
    HotSpotParamFlow,
    /// An allow/deny rule.
    Authority,
    /// A custom check's own type.
    Custom(u32),
}

impl fmt::Display for BlockType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockType::Flow => f.write_str("Flow"),
            BlockType::Isolation => f.write_str("Isolation"),
            BlockType::CircuitBreaking => f.write_str("CircuitBreaking"),
            BlockType::System => f.write_str("System"),
            BlockType::HotSpotParamFlow => f.write_str("HotSpotParamFlow"),
            BlockType::Authority => f.write_str("Authority"),
            BlockType::Custom(n) => write!(f, "Custom({n})"),
        }
    }
}

/// The rule that blocked an entry: its id and a readable description, prepared when the
/// rule was loaded so that blocking formats nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedRule {
    /// The rule's `id` (may be empty).
    pub id: String,
    /// A one-line description of the rule.
    pub description: String,
}

/// An entry was refused.
///
/// Building one allocates nothing: the resource and rule are shared, the message is static
/// or prepared at rule load, and the text is only formatted when displayed.
#[derive(Debug, Clone)]
pub struct BlockError {
    block_type: BlockType,
    resource: Arc<str>,
    rule: Option<Arc<BlockedRule>>,
    message: Cow<'static, str>,
    snapshot: Option<f64>,
}

impl BlockError {
    /// A block of `block_type` on `resource`.
    pub fn new(
        block_type: BlockType,
        resource: Arc<str>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        BlockError {
            block_type,
            resource,
            rule: None,
            message: message.into(),
            snapshot: None,
        }
    }

    /// Names the rule that blocked.
    pub fn with_rule(mut self, rule: Arc<BlockedRule>) -> Self {
        self.rule = Some(rule);
        self
    }

    /// Attaches the value that triggered the block.
    pub fn with_snapshot(mut self, value: f64) -> Self {
        self.snapshot = Some(value);
        self
    }

    /// The kind of check that blocked.
    pub fn block_type(&self) -> BlockType {
        self.block_type
    }
    /// The blocked resource.
    pub fn resource(&self) -> &str {
        &self.resource
    }
    /// The rule that blocked, if a rule did.
    pub fn rule(&self) -> Option<&BlockedRule> {
        self.rule.as_deref()
    }
    /// The blocking rule's id (empty if it has none).
    pub fn rule_id(&self) -> Option<&str> {
        self.rule.as_deref().map(|r| r.id.as_str())
    }
    /// Why the entry was blocked.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// The value that triggered the block: the window sum for a flow reject, the
    /// concurrency for isolation, the metric for system protection.
    pub fn snapshot(&self) -> Option<f64> {
        self.snapshot
    }
}

impl fmt::Display for BlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} blocked {:?}: {}",
            self.block_type, self.resource, self.message
        )?;
        if let Some(r) = &self.rule {
            if !r.id.is_empty() {
                write!(f, " (rule {:?}: {})", r.id, r.description)?;
            } else {
                write!(f, " (rule: {})", r.description)?;
            }
        }
        if let Some(v) = self.snapshot {
            write!(f, " [snapshot {v}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for BlockError {}
