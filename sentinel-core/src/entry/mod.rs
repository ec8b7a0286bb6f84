//! Entries: one admission each, from the builder to the guard that records the exit.

mod block;
mod guard;
mod param;

use std::borrow::Cow;

pub use block::{BlockError, BlockInfo, BlockType, BlockedRule};
pub use guard::Entry;
pub(crate) use guard::SentinelRef;
pub use param::ParamValue;

use crate::pipeline::CheckContext;

/// An entry's arguments: up to two are stored inline, so most entries with arguments do
/// not allocate for them.
pub(crate) type Args = smallvec::SmallVec<[ParamValue; 2]>;

/// Direction of the traffic an entry represents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TrafficType {
    /// A request this service receives. Counted on the instance's inbound node and
    /// checked by system rules.
    Inbound,
    /// A call this service makes (the default, as in sentinel-golang).
    #[default]
    Outbound,
}

/// What a resource is, for the metric log's classification column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ResourceType {
    /// Anything else (the default).
    #[default]
    Common = 0,
    /// An HTTP endpoint.
    Web = 1,
    /// An RPC method.
    Rpc = 2,
    /// An API gateway route.
    ApiGateway = 3,
    /// A database query.
    DbSql = 4,
    /// A cache call.
    Cache = 5,
    /// A message-queue operation.
    Mq = 6,
}

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
    spec: EntrySpec<'a>,
}

/// What an entry asks for, apart from the instance it asks.
struct EntrySpec<'a> {
    resource: ResourceKey<'a>,
    traffic: TrafficType,
    batch: u32,
    resource_type: ResourceType,
    args: Args,
    attachments: Vec<(Cow<'static, str>, ParamValue)>,
}

/// How the builder names its resource: by name, or by a pre-resolved node.
pub(crate) enum ResourceKey<'a> {
    Name(&'a str),
    Node(u32),
}

impl<'a> EntryBuilder<'a> {
    pub(crate) fn new(sentinel: SentinelRef<'a>, resource: ResourceKey<'a>) -> Self {
        EntryBuilder {
            sentinel,
            spec: EntrySpec {
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
    pub fn traffic(mut self, traffic: TrafficType) -> Self {
        self.spec.traffic = traffic;
        self
    }

    /// Tokens to acquire at once (default 1; 0 is treated as 1).
    pub fn batch(mut self, n: u32) -> Self {
        self.spec.batch = n.max(1);
        self
    }

    /// The resource's type, for the metric log.
    pub fn resource_type(mut self, t: ResourceType) -> Self {
        self.spec.resource_type = t;
        self
    }

    /// Appends an argument (for hot-parameter rules, by index).
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
    pub fn try_enter(self) -> Result<Entry<'a>, BlockError> {
        self.spec.admit(self.sentinel)
    }

    /// As [`EntryBuilder::try_enter`], with a guard that holds its own handle on the
    /// instance, for futures and spawned tasks (cheaper than
    /// [`Entry::into_owned`] on a borrowed guard).
    pub fn try_enter_owned(self) -> Result<Entry<'static>, BlockError> {
        let owned = match self.sentinel {
            SentinelRef::Owned(s) => s,
            SentinelRef::Borrowed(s) => s.clone(),
        };
        self.spec.admit(SentinelRef::Owned(owned))
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

impl EntrySpec<'_> {
    /// Runs admission for the instance `sentinel` and builds the guard in place.
    #[inline(always)]
    fn admit<'s>(self, sentinel: SentinelRef<'s>) -> Result<Entry<'s>, BlockError> {
        let EntrySpec {
            resource,
            traffic,
            batch,
            resource_type,
            args,
            attachments,
        } = self;
        let inner = sentinel.inner();
        let (index, node) = match resource {
            ResourceKey::Name(name) => inner.registry_node(name),
            ResourceKey::Node(i) => (i, inner.registry.node_or_overflow(i)),
        };
        node.note_type(resource_type);
        let now_ns = inner.clock.now_nanos();
        let mut tokens = Vec::new();
        let admitted: Result<_, BlockError> = node.with_checks(|compiled| {
            let Some(compiled) = compiled else {
                return Ok((0, None));
            };
            let ctx = CheckContext {
                inner,
                node,
                now_ns,
                batch,
                traffic,
                args: &args,
                attachments: &attachments,
            };
            let wait = compiled.admit(&ctx, &mut tokens)?;
            Ok((wait, compiled.has_exit_hooks().then(|| compiled.clone())))
        });
        let (wait_ns, hooks) = match admitted {
            Ok(a) => a,
            Err(e) => {
                node.stats.on_block(now_ns, batch);
                if inner
                    .count_block_types
                    .load(std::sync::atomic::Ordering::Relaxed)
                {
                    node.stats.count_block_type(e.block_type(), batch);
                }
                if traffic == TrafficType::Inbound {
                    inner.inbound.on_block(now_ns, batch);
                }
                return Err(e);
            }
        };
        let start_ns = now_ns.saturating_add(wait_ns);
        let stripe = node.stats.on_pass(now_ns, batch);
        if wait_ns > 0 {
            node.stats.count_throttled(stripe, wait_ns);
        }
        let inbound_stripe = if traffic == TrafficType::Inbound {
            inner.inbound.on_pass(now_ns, batch)
        } else {
            0
        };
        Ok(Entry::new(
            sentinel,
            guard::Admitted {
                node: index,
                stripe: stripe as u16,
                inbound_stripe: inbound_stripe as u16,
                traffic,
                batch,
                start_ns,
                wait_ns,
                hooks,
                args,
                extras: guard::Extras::boxed(attachments, tokens),
            },
        ))
    }
}
