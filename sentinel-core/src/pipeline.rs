//! The admission pipeline: which checks run, in which order, and what they may do.
//!
//! Every rule kind compiles its rules into [`Check`]s. For each resource, the checks of
//! all kinds (plus any custom check added with
//! [`Sentinel::add_check`](crate::Sentinel::add_check)) are merged into one list sorted by
//! [`Check::order`], rebuilt whenever rules change, and swapped atomically into the
//! resource's node. Admission walks that list: the first check that refuses blocks the
//! entry. Built-in orders follow Sentinel: system → authority → flow → isolation →
//! hotspot → circuit breaker.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::entry::{BlockError, ParamValue, TrafficType};
use crate::sentinel::{Inner, ResourceNode};
use crate::stat::StatNode;

/// Order of system protection checks.
pub const ORDER_SYSTEM: u32 = 1000;
/// Order of authority (allow/deny list) checks.
pub const ORDER_AUTHORITY: u32 = 2000;
/// Order of flow-control checks.
pub const ORDER_FLOW: u32 = 3000;
/// Order of concurrency isolation checks.
pub const ORDER_ISOLATION: u32 = 4000;
/// Order of hot-parameter checks.
pub const ORDER_HOTSPOT: u32 = 5000;
/// Order of circuit-breaker checks.
pub const ORDER_CIRCUIT_BREAKER: u32 = 6000;

/// The outcome of one check.
#[derive(Debug)]
pub enum Verdict {
    /// Admit (as far as this check is concerned).
    Pass,
    /// Admit, and hand this token back to [`Check::on_cancel`] and [`Check::on_exit`] of
    /// this entry (a circuit breaker marks its probes this way). Storing a token costs the
    /// entry one small allocation.
    PassWith(u64),
    /// Admit after waiting this long (a throttling check has reserved a slot).
    Wait(Duration),
    /// Refuse.
    Block(BlockError),
}

/// What a check is told about the entry being admitted.
pub struct CheckContext<'a> {
    pub(crate) inner: &'a Inner,
    pub(crate) node: &'a ResourceNode,
    pub(crate) now_ns: u64,
    pub(crate) batch: u32,
    pub(crate) traffic: TrafficType,
    pub(crate) args: &'a [ParamValue],
    pub(crate) attachments: &'a [(std::borrow::Cow<'static, str>, ParamValue)],
}

impl<'a> CheckContext<'a> {
    /// The resource name.
    pub fn resource(&self) -> &str {
        &self.node.name
    }
    /// The resource name, shareable (for a [`BlockError`]).
    pub fn resource_arc(&self) -> Arc<str> {
        self.node.name.clone()
    }
    /// The admission time, nanoseconds on the instance clock.
    pub fn now_nanos(&self) -> u64 {
        self.now_ns
    }
    /// Tokens the entry asks for.
    pub fn batch(&self) -> u32 {
        self.batch
    }
    /// Inbound or outbound.
    pub fn traffic(&self) -> TrafficType {
        self.traffic
    }
    /// The entry's arguments.
    pub fn args(&self) -> &'a [ParamValue] {
        self.args
    }
    /// The attachment stored under `key`.
    pub fn attachment(&self, key: &str) -> Option<&'a ParamValue> {
        self.attachments
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
    /// The statistics of the resource.
    pub fn stats(&self) -> &'a StatNode {
        &self.node.stats
    }
    /// The statistics of all inbound traffic of the instance.
    pub fn inbound_stats(&self) -> &'a StatNode {
        &self.inner.inbound
    }
    pub(crate) fn node_stats(&self, index: u32) -> Option<&'a StatNode> {
        self.inner.registry.node(index).map(|n| &n.stats)
    }
    pub(crate) fn inner(&self) -> &'a Inner {
        self.inner
    }
}

/// What a check is told when an entry it admitted exits.
pub struct ExitContext<'a> {
    pub(crate) check: CheckContext<'a>,
    pub(crate) rt_ns: u64,
    pub(crate) error: bool,
    pub(crate) abandoned: bool,
    pub(crate) token: Option<u64>,
}

impl<'a> ExitContext<'a> {
    /// The entry as it was admitted (its `now_nanos` is the exit time).
    pub fn entry(&self) -> &CheckContext<'a> {
        &self.check
    }
    /// Response time, from admission (after any throttling wait) to exit.
    pub fn rt(&self) -> Duration {
        Duration::from_nanos(self.rt_ns)
    }
    /// Whether the entry was marked failed with `set_error`.
    pub fn is_error(&self) -> bool {
        self.error
    }
    /// Whether the entry exited without a result ([`Entry::abandon`](crate::Entry::abandon):
    /// the caller went away before the work finished).
    pub fn is_abandoned(&self) -> bool {
        self.abandoned
    }
    /// The token this check returned with [`Verdict::PassWith`] for this entry.
    pub fn token(&self) -> Option<u64> {
        self.token
    }
}

/// Tokens that checks attached to one entry: (position of the check, token).
pub(crate) type Tokens = Vec<(u32, u64)>;

fn token_of(tokens: &[(u32, u64)], index: usize) -> Option<u64> {
    tokens
        .iter()
        .find(|(i, _)| *i as usize == index)
        .map(|(_, t)| *t)
}

/// One admission check. Implement it to add a custom rule to every resource with
/// [`Sentinel::add_check`](crate::Sentinel::add_check).
///
/// A check must be cheap and must not block: it runs on the caller's thread for every
/// entry. A panic inside a check does not reach the caller: the check fails open (the entry
/// passes it), and the panic is logged and counted
/// ([`Sentinel::check_panics`](crate::Sentinel::check_panics)).
///
/// ```
/// use std::sync::Arc;
/// use sentinel_core::{BlockError, BlockType, Sentinel};
/// use sentinel_core::pipeline::{Check, CheckContext, Verdict};
///
/// /// Refuses every entry of a resource named "forbidden".
/// struct Deny;
/// impl Check for Deny {
///     fn order(&self) -> u32 { sentinel_core::pipeline::ORDER_AUTHORITY }
///     fn check(&self, ctx: &CheckContext<'_>) -> Verdict {
///         if ctx.resource() == "forbidden" {
///             Verdict::Block(BlockError::new(BlockType::Custom(1), ctx.resource_arc(), "denied"))
///         } else {
///             Verdict::Pass
///         }
///     }
/// }
/// let s = Sentinel::builder().build();
/// s.add_check(Arc::new(Deny));
/// assert!(s.entry("forbidden").try_enter().is_err());
/// assert!(s.entry("allowed").try_enter().is_ok());
/// ```
pub trait Check: Send + Sync + 'static {
    /// Position in the pipeline (see the `ORDER_*` constants).
    fn order(&self) -> u32;

    /// Decides on one entry.
    fn check(&self, ctx: &CheckContext<'_>) -> Verdict;

    /// Whether this check needs [`Check::on_exit`] and [`Check::on_cancel`] (because it
    /// acquires something on admission). Checks that return `false` cost nothing at exit.
    fn needs_exit(&self) -> bool {
        false
    }

    /// Whether this check takes something at admission that it must give back when a later
    /// check refuses the entry ([`Check::on_cancel`]): a reserved pass, a pacing slot,
    /// tokens, an in-flight slot. Defaults to [`Check::needs_exit`].
    fn needs_cancel(&self) -> bool {
        self.needs_exit()
    }

    /// Whether this check must see every admitted entry ([`Check::on_admitted`]).
    fn needs_admitted(&self) -> bool {
        false
    }

    /// The entry passed every check and was admitted.
    fn on_admitted(&self, _ctx: &CheckContext<'_>) {}

    /// This check passed the entry, but a later check blocked it: give back what was taken.
    /// `token` is what this check returned with [`Verdict::PassWith`], or the wait in
    /// nanoseconds it returned with [`Verdict::Wait`]; `None` after [`Verdict::Pass`].
    fn on_cancel(&self, _ctx: &CheckContext<'_>, _token: Option<u64>) {}

    /// An entry this check passed has exited.
    fn on_exit(&self, _ctx: &ExitContext<'_>) {}
}

/// The checks of one resource, in pipeline order, with their hook needs precomputed.
#[derive(Default)]
pub(crate) struct Compiled {
    checks: Box<[Arc<dyn Check>]>,
    exit_hooks: bool,
    cancel_hooks: bool,
    admitted_hooks: bool,
}

impl Compiled {
    pub fn new(mut checks: Vec<Arc<dyn Check>>) -> Self {
        checks.sort_by_key(|c| c.order());
        Compiled {
            exit_hooks: checks.iter().any(|c| c.needs_exit()),
            cancel_hooks: checks.iter().any(|c| c.needs_cancel()),
            admitted_hooks: checks.iter().any(|c| c.needs_admitted()),
            checks: checks.into(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.checks.is_empty()
    }

    /// Whether admitted entries must keep this list to run exit hooks.
    pub fn has_exit_hooks(&self) -> bool {
        self.exit_hooks
    }

    /// Runs the checks in order. Returns the wait (nanoseconds) of an admitted entry;
    /// tokens checks attach to it are pushed onto `tokens`.
    #[inline(always)]
    pub fn admit(&self, ctx: &CheckContext<'_>, tokens: &mut Tokens) -> Result<u64, BlockError> {
        let mut wait = 0u64;
        // The waits of throttling checks, for their `on_cancel` if a later check refuses.
        let mut waits: smallvec::SmallVec<[(u32, u64); 2]> = smallvec::SmallVec::new();
        for (i, c) in self.checks.iter().enumerate() {
            match guarded(ctx.inner, || c.check(ctx)) {
                Some(Verdict::Pass) | None => {}
                Some(Verdict::PassWith(t)) => tokens.push((i as u32, t)),
                Some(Verdict::Wait(d)) => {
                    let ns = d.as_nanos().min(u64::MAX as u128) as u64;
                    wait = wait.max(ns);
                    if self.cancel_hooks {
                        waits.push((i as u32, ns));
                    }
                }
                Some(Verdict::Block(e)) => {
                    if self.cancel_hooks {
                        self.cancel(ctx, &self.checks[..i], tokens, &waits);
                    }
                    return Err(e);
                }
            }
        }
        if self.admitted_hooks {
            for c in self.checks.iter().filter(|c| c.needs_admitted()) {
                guarded(ctx.inner, || c.on_admitted(ctx));
            }
        }
        Ok(wait)
    }

    /// Lets the checks that passed a refused entry give back what they took, latest first.
    #[cold]
    fn cancel(
        &self,
        ctx: &CheckContext<'_>,
        passed: &[Arc<dyn Check>],
        tokens: &[(u32, u64)],
        waits: &[(u32, u64)],
    ) {
        for (j, earlier) in passed.iter().enumerate().rev() {
            if earlier.needs_cancel() {
                let token = token_of(tokens, j).or_else(|| token_of(waits, j));
                guarded(ctx.inner, || earlier.on_cancel(ctx, token));
            }
        }
    }

    /// Runs the exit hooks of an admitted entry.
    pub fn exit(&self, ctx: &mut ExitContext<'_>, tokens: &[(u32, u64)]) {
        for (i, c) in self.checks.iter().enumerate() {
            if c.needs_exit() {
                ctx.token = token_of(tokens, i);
                let ctx = &*ctx;
                guarded(ctx.check.inner, || c.on_exit(ctx));
            }
        }
    }
}

/// Runs a hook of a check; a panic is counted, logged, and treated as "no objection".
#[inline]
fn guarded<R>(inner: &Inner, f: impl FnOnce() -> R) -> Option<R> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => Some(r),
        Err(payload) => {
            inner.check_panics.fetch_add(1, Ordering::Relaxed);
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".into());
            tracing::error!(panic = %crate::text::Escaped(&msg), "a sentinel check panicked; failing open");
            None
        }
    }
}
