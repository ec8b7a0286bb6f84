//! Entries: one admission each, from the builder to the guard that records the exit.

mod guard;

use std::borrow::Cow;

pub use crate::block::{BlockError, BlockInfo, BlockType, BlockedRule};
pub use crate::param::ParamValue;
pub use crate::traffic::{ResourceType, TrafficType};
pub use guard::Entry;
pub(crate) use guard::SentinelRef;

use crate::engine::admission::{self, Args, NodeKey, Request};

/// Options of one entry; finish with [`EntryBuilder::try_enter`] or [`EntryBuilder::enter`].
///
/// ```
/// use sentinel_core::{Sentinel, TrafficType};
/// let s = Sentinel::builder().build();
/// let e = s.entry("GET /items")
///     .traffic(TrafficType::Inbound)
///     .batch(2)
///     .arg(42)
///     .attachment("tenant", "acme")
///     .try_enter()
///     .expect("no rules, so nothing blocks");
/// e.exit();
/// ```
#[must_use = "an entry builder does nothing until try_enter() or enter()"]
pub struct EntryBuilder<'a> {
    sentinel: SentinelRef<'a>,
    spec: Request<'a>,
}

impl<'a> EntryBuilder<'a> {
    #[inline]
    pub(crate) fn new(sentinel: SentinelRef<'a>, resource: NodeKey<'a>) -> Self {
        EntryBuilder {
            sentinel,
            spec: Request {
                resource,
                traffic: TrafficType::Outbound,
                batch: 1,
                resource_type: ResourceType::Common,
                args: Args::new(),
                attachments: Vec::new(),
            },
        }
    }

    /// Inbound or outbound (default outbound).
    #[inline]
    pub fn traffic(mut self, traffic: TrafficType) -> Self {
        self.spec.traffic = traffic;
        self
    }

    /// Tokens to acquire at once (default 1; 0 is treated as 1).
    #[inline]
    pub fn batch(mut self, n: u32) -> Self {
        self.spec.batch = n.max(1);
        self
    }

    /// The resource's type, for the metric log.
    #[inline]
    pub fn resource_type(mut self, t: ResourceType) -> Self {
        self.spec.resource_type = t;
        self
    }

    /// Appends an argument (for hot-parameter rules, by index).
    #[inline]
    pub fn arg(mut self, v: impl Into<ParamValue>) -> Self {
        self.spec.args.push(v.into());
        self
    }

    /// Replaces the arguments.
    pub fn args(mut self, args: impl IntoIterator<Item = ParamValue>) -> Self {
        self.spec.args = args.into_iter().collect();
        self
    }

    /// Attaches a keyed value (for hot-parameter rules, by `paramKey`).
    pub fn attachment(
        mut self,
        key: impl Into<Cow<'static, str>>,
        v: impl Into<ParamValue>,
    ) -> Self {
        self.spec.attachments.push((key.into(), v.into()));
        self
    }

    /// Admits or refuses the entry without ever sleeping. A throttled entry is admitted
    /// with [`Entry::wait`] set: the caller must wait that long before doing the work
    /// (the tower layer awaits an async timer).
    #[inline]
    pub fn try_enter(self) -> Result<Entry<'a>, BlockError> {
        admit(self.spec, self.sentinel)
    }

    /// As [`EntryBuilder::try_enter`], with a guard that holds its own handle on the
    /// instance, for futures and spawned tasks (cheaper than
    /// [`Entry::into_owned`] on a borrowed guard).
    #[inline]
    pub fn try_enter_owned(self) -> Result<Entry<'static>, BlockError> {
        let owned = match self.sentinel {
            SentinelRef::Owned(s) => s,
            SentinelRef::Borrowed(s) => s.clone(),
        };
        admit(self.spec, SentinelRef::Owned(owned))
    }

    /// Admits or refuses the entry; a throttled entry sleeps through the instance clock
    /// before this returns. Do not call it on an async executor: use
    /// [`EntryBuilder::try_enter`] and an async timer there.
    pub fn enter(self) -> Result<Entry<'a>, BlockError> {
        let e = self.try_enter()?;
        if !e.wait().is_zero() {
            e.sentinel().clock().sleep(e.wait());
        }
        Ok(e)
    }
}

/// Runs admission for the instance `sentinel` and builds the guard in place.
#[inline(always)]
fn admit<'s>(request: Request<'_>, sentinel: SentinelRef<'s>) -> Result<Entry<'s>, BlockError> {
    admission::admit(sentinel, request, Entry::new)
}

impl std::fmt::Debug for EntryBuilder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntryBuilder")
            .field("traffic", &self.spec.traffic)
            .field("batch", &self.spec.batch)
            .field("resource_type", &self.spec.resource_type)
            .field("args", &self.spec.args)
            .finish_non_exhaustive()
    }
}
