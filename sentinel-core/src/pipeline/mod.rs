//! The admission pipeline: which checks run, in which order, and what they may do.
//!
//! Every rule kind compiles its rules into [`Check`]s. For each resource, the checks of
//! all kinds (plus any custom check added with
//! [`Sentinel::add_check`](crate::Sentinel::add_check)) are merged into one list sorted by
//! [`Check::order`], rebuilt whenever rules change, and swapped atomically into the
//! resource's node. Admission walks that list: the first check that refuses blocks the
//! entry. Built-in orders follow Sentinel: system → authority → flow → isolation →
//! hot parameter → circuit breaker. This is Sentinel's "slot chain" contract: it imports no rule
//! kind, and a check sees only what its [`CheckContext`] lends it.

mod check_list;
mod context;
mod kind;
mod world;

use std::time::Duration;

pub(crate) use check_list::{CheckList, Tokens};
pub(crate) use context::NodeStats;
pub use context::{CheckContext, ExitContext};
pub(crate) use kind::{BuildEnv, KindBuilder, RuleNodes};
pub(crate) use world::World;

use crate::block::BlockError;

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
#[non_exhaustive]
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

    /// The entry passed every check, and was counted as passed and in flight in the
    /// statistics.
    fn on_admitted(&self, _ctx: &CheckContext<'_>) {}

    /// This check passed the entry, but a later check blocked it: give back what was taken.
    /// `token` is what this check returned with [`Verdict::PassWith`], or the wait in
    /// nanoseconds it returned with [`Verdict::Wait`]; `None` after [`Verdict::Pass`].
    fn on_cancel(&self, _ctx: &CheckContext<'_>, _token: Option<u64>) {}

    /// An entry this check passed has exited.
    fn on_exit(&self, _ctx: &ExitContext<'_>) {}

    /// When this check would admit the entry if nothing else passed meanwhile, asked when
    /// another check refused it: the refusal's [`BlockError::retry_after`] is the longest
    /// wait of all, so that a client that waits as told is not refused by the next limit
    /// at once. `None`: no opinion (or never).
    fn retry_hint(&self, _ctx: &CheckContext<'_>) -> Option<Duration> {
        None
    }
}
