//! Why an entry was refused.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::ParamValue;
use crate::text::{Clipped, Escaped};

/// Characters of a resource name or value a block's text shows (it reaches headers and
/// logs; the value may be whatever a client sent).
const MAX_TEXT: usize = 200;

/// The kind of check that blocked an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
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

/// What a block says, prepared once per rule and reason so that blocking an entry only
/// bumps a reference count.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockInfo {
    /// The kind of check that blocks.
    pub block_type: BlockType,
    /// The blocked resource.
    pub resource: Arc<str>,
    /// The rule that blocks, if a rule does.
    pub rule: Option<BlockedRule>,
    /// Why.
    pub message: Cow<'static, str>,
}

impl BlockInfo {
    /// Prepares a block description.
    pub fn new(
        block_type: BlockType,
        resource: impl Into<Arc<str>>,
        rule: Option<BlockedRule>,
        message: impl Into<Cow<'static, str>>,
    ) -> Arc<Self> {
        Arc::new(BlockInfo {
            block_type,
            resource: resource.into(),
            rule,
            message: message.into(),
        })
    }
}

/// An entry was refused.
///
/// Built-in checks prepare the [`BlockInfo`] when rules load, so blocking allocates and
/// formats nothing; the text is only formatted when displayed.
///
/// The refusal is kept small (56 bytes on 64-bit targets), since it travels back through
/// every layer of the admission path: the optional parts are stored without the room
/// `Option`s would take.
#[derive(Clone)]
pub struct BlockError {
    info: Arc<BlockInfo>,
    /// The value that triggered the block, when `has_snapshot`.
    snapshot: f64,
    /// Whole seconds of the retry-after time.
    retry_secs: u64,
    /// Nanoseconds of the retry-after time below a second; [`NO_RETRY`] when there is none.
    retry_nanos: u32,
    has_snapshot: bool,
    detail: Detail,
}

/// `BlockError::retry_nanos` when the refusal does not say when to retry (a `Duration`'s
/// nanoseconds are always below a second).
const NO_RETRY: u32 = u32::MAX;

/// The parts of a refusal only some checks give: the limited argument value (hot-parameter
/// rules) and the blocked resource (prepared infos shared by every resource).
#[derive(Clone)]
enum Detail {
    None,
    Value(ParamValue),
    Resource(Arc<str>),
    /// Both (no built-in check gives both, so only this rare form is boxed).
    Both(Box<(ParamValue, Arc<str>)>),
}

impl BlockError {
    /// A block of `block_type` on `resource` (allocates; checks that block often should
    /// prepare a [`BlockInfo`] and use [`BlockError::from_info`]).
    pub fn new(
        block_type: BlockType,
        resource: Arc<str>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::from_info(BlockInfo::new(block_type, resource, None, message))
    }

    /// A block described by prepared information.
    #[inline]
    pub fn from_info(info: Arc<BlockInfo>) -> Self {
        BlockError {
            info,
            snapshot: 0.0,
            retry_secs: 0,
            retry_nanos: NO_RETRY,
            has_snapshot: false,
            detail: Detail::None,
        }
    }

    /// Says when the refusing limiter would admit the entry (if nothing else passed
    /// meanwhile): a window's oldest passes leaving it, a token bucket refilling, a pacing
    /// slot coming within the queueing limit, a breaker's retry timeout running out.
    #[inline]
    pub fn with_retry_after(mut self, wait: Duration) -> Self {
        self.retry_secs = wait.as_secs();
        self.retry_nanos = wait.subsec_nanos();
        self
    }

    /// How long to wait before trying again: the time until the limiter that refused would
    /// admit the entry, `None` when it cannot tell (a concurrency limit frees up when
    /// entries exit; a batch larger than the threshold never passes). Adapters turn it
    /// into `Retry-After` (SEMANTICS §11).
    #[inline]
    pub fn retry_after(&self) -> Option<Duration> {
        (self.retry_nanos != NO_RETRY).then(|| Duration::new(self.retry_secs, self.retry_nanos))
    }

    /// Attaches the value that triggered the block.
    #[inline]
    pub fn with_snapshot(mut self, value: f64) -> Self {
        self.snapshot = value;
        self.has_snapshot = true;
        self
    }

    /// Names the argument value that was limited (hot-parameter rules).
    #[inline]
    pub fn with_value(mut self, value: ParamValue) -> Self {
        self.detail = match std::mem::replace(&mut self.detail, Detail::None) {
            Detail::None | Detail::Value(_) => Detail::Value(value),
            Detail::Resource(r) => Detail::Both(Box::new((value, r))),
            Detail::Both(both) => Detail::Both(Box::new((value, both.1))),
        };
        self
    }
    /// Names the blocked resource (for prepared infos shared by every resource).
    #[inline]
    pub fn with_resource(mut self, resource: Arc<str>) -> Self {
        self.detail = match std::mem::replace(&mut self.detail, Detail::None) {
            Detail::None | Detail::Resource(_) => Detail::Resource(resource),
            Detail::Value(v) => Detail::Both(Box::new((v, resource))),
            Detail::Both(both) => Detail::Both(Box::new((both.0, resource))),
        };
        self
    }

    /// The argument value that was limited, for hot-parameter blocks.
    pub fn value(&self) -> Option<&ParamValue> {
        match &self.detail {
            Detail::Value(v) => Some(v),
            Detail::Both(both) => Some(&both.0),
            Detail::None | Detail::Resource(_) => None,
        }
    }

    /// The kind of check that blocked.
    #[inline]
    pub fn block_type(&self) -> BlockType {
        self.info.block_type
    }
    /// The blocked resource.
    pub fn resource(&self) -> &str {
        match &self.detail {
            Detail::Resource(r) => r,
            Detail::Both(both) => &both.1,
            Detail::None | Detail::Value(_) => &self.info.resource,
        }
    }
    /// The rule that blocked, if a rule did.
    pub fn rule(&self) -> Option<&BlockedRule> {
        self.info.rule.as_ref()
    }
    /// The blocking rule's id (empty if it has none).
    pub fn rule_id(&self) -> Option<&str> {
        self.info.rule.as_ref().map(|r| r.id.as_str())
    }
    /// Why the entry was blocked.
    pub fn message(&self) -> &str {
        &self.info.message
    }
    /// The value that triggered the block: the window sum for a flow reject, the
    /// concurrency for isolation, the metric for system protection.
    #[inline]
    pub fn snapshot(&self) -> Option<f64> {
        self.has_snapshot.then_some(self.snapshot)
    }

    /// The blocked resource when it is not the prepared info's.
    fn resource_override(&self) -> Option<&Arc<str>> {
        match &self.detail {
            Detail::Resource(r) => Some(r),
            Detail::Both(both) => Some(&both.1),
            Detail::None | Detail::Value(_) => None,
        }
    }
}

impl fmt::Debug for BlockError {
    /// The fields a refusal says, as when each was an `Option`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockError")
            .field("info", &self.info)
            .field("snapshot", &self.snapshot())
            .field("value", &self.value())
            .field("resource", &self.resource_override())
            .field("retry_after", &self.retry_after())
            .finish()
    }
}

impl fmt::Display for BlockError {
    /// One line: the request-derived parts (resource, value) are written with control
    /// characters escaped, cut to 200 characters ([`Clipped`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.info;
        write!(
            f,
            "{} blocked \"{}\": {}",
            i.block_type,
            Clipped(self.resource(), MAX_TEXT),
            i.message
        )?;
        if let Some(r) = &i.rule {
            if !r.id.is_empty() {
                write!(
                    f,
                    " (rule \"{}\": {})",
                    Escaped(&r.id),
                    Escaped(&r.description)
                )?;
            } else {
                write!(f, " (rule: {})", Escaped(&r.description))?;
            }
        }
        if let Some(v) = self.value() {
            write!(f, " [value {}]", Clipped(&v.to_string(), MAX_TEXT))?;
        }
        if let Some(v) = self.snapshot() {
            write!(f, " [snapshot {v}]")?;
        }
        if let Some(d) = self.retry_after() {
            write!(f, " [retry after {d:?}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for BlockError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_refusal_stays_small() {
        assert_eq!(size_of::<BlockError>(), 56);
    }

    #[test]
    fn a_refusal_keeps_each_part_it_is_given() {
        let e = BlockError::new(BlockType::System, "shared".into(), "why");
        assert_eq!(e.snapshot(), None);
        assert_eq!(e.retry_after(), None);
        assert_eq!(e.value(), None);
        assert_eq!(e.resource(), "shared");
        let e = e
            .with_snapshot(f64::NAN)
            .with_retry_after(Duration::ZERO)
            .with_resource("mine".into())
            .with_value(ParamValue::from(7));
        assert!(e.snapshot().is_some_and(f64::is_nan));
        assert_eq!(e.retry_after(), Some(Duration::ZERO));
        assert_eq!(e.value(), Some(&ParamValue::from(7)));
        assert_eq!(e.resource(), "mine");
        let e = e
            .with_value(ParamValue::from(8))
            .with_resource("other".into());
        assert_eq!(e.value(), Some(&ParamValue::from(8)));
        assert_eq!(e.resource(), "other");
        let long = Duration::new(u64::MAX, 999_999_999);
        assert_eq!(e.with_retry_after(long).retry_after(), Some(long));
    }
}
