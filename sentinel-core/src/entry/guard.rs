//! The entry guard.

use std::borrow::Cow;
use std::sync::OnceLock;
use std::time::Duration;

use crate::Sentinel;
use crate::engine::Engine;
use crate::engine::admission::{self, Admitted, HoldsEngine};
use crate::param::ParamValue;

/// A borrowed or owned handle on the instance an entry belongs to.
pub(crate) enum SentinelRef<'a> {
    Borrowed(&'a Sentinel),
    Owned(Sentinel),
}

impl SentinelRef<'_> {
    #[inline]
    pub(crate) fn sentinel(&self) -> &Sentinel {
        match self {
            SentinelRef::Borrowed(s) => s,
            SentinelRef::Owned(s) => s,
        }
    }
    #[inline]
    pub(crate) fn engine(&self) -> &Engine {
        HoldsEngine::engine(self)
    }
}

impl HoldsEngine for SentinelRef<'_> {
    #[inline]
    fn engine(&self) -> &Engine {
        &self.sentinel().engine
    }
}

/// An admitted entry. Dropping it (or calling [`Entry::exit`]) records the exit: the
/// completion, its response time (measured on the instance clock from admission, after any
/// throttling wait), whether it failed, and the release of what checks acquired
/// (isolation slots, breaker probes).
///
/// The guard borrows its [`Sentinel`] (which keeps the hot path free of reference
/// counting); [`Entry::into_owned`] gives a `'static` guard for futures and tasks.
#[must_use = "dropping an entry exits it at once"]
pub struct Entry<'a> {
    sentinel: SentinelRef<'a>,
    state: Admitted,
    /// Set once by [`Entry::set_error`] (the first message is kept).
    error: OnceLock<Cow<'static, str>>,
    /// Set by [`Entry::abandon`]: the entry exits without a result.
    abandoned: bool,
    /// Set when the state moved to another guard ([`Entry::into_owned`]).
    moved: bool,
}

impl<'a> Entry<'a> {
    #[inline]
    pub(crate) fn new(sentinel: SentinelRef<'a>, state: Admitted) -> Self {
        Entry {
            sentinel,
            state,
            error: OnceLock::new(),
            abandoned: false,
            moved: false,
        }
    }

    /// How long the caller must wait before doing the work (zero unless a throttling rule
    /// queued the entry). [`EntryBuilder::enter`](super::EntryBuilder::enter) has already
    /// waited.
    pub fn wait(&self) -> Duration {
        Duration::from_nanos(self.state.wait_ns)
    }

    /// Marks the call as failed: it counts as an error on exit (error statistics, circuit
    /// breakers). Calling it again keeps the first message.
    pub fn set_error(&self, message: impl Into<Cow<'static, str>>) {
        let _ = self.error.set(message.into());
    }

    /// The message given to [`Entry::set_error`], if any.
    pub fn error(&self) -> Option<String> {
        self.error.get().map(|m| m.to_string())
    }

    /// The entry's arguments.
    pub fn args(&self) -> &[ParamValue] {
        self.state.args.as_deref().unwrap_or_default()
    }

    /// The resource name.
    pub fn resource(&self) -> &str {
        &self
            .engine()
            .registry
            .node_or_overflow(self.state.node)
            .name
    }

    /// The instance this entry belongs to.
    pub fn sentinel(&self) -> &Sentinel {
        self.sentinel.sentinel()
    }

    fn engine(&self) -> &Engine {
        self.sentinel.engine()
    }

    /// Records the exit now (the same as dropping the entry).
    pub fn exit(self) {}

    /// Exits without a result: the caller went away before the work finished (a dropped
    /// request future, say). Statistics count the exit; circuit breakers do not count it
    /// as a success or a failure, and a half-open breaker whose probe is abandoned goes
    /// back to open so that the next caller can probe.
    pub fn abandon(mut self) {
        self.abandoned = true;
    }

    /// The same entry, holding its own handle on the instance, so it can live in a
    /// spawned task or a `'static` future.
    pub fn into_owned(mut self) -> Entry<'static> {
        let sentinel = self.sentinel.sentinel().clone();
        let state = std::mem::replace(&mut self.state, Admitted::moved_out());
        let error = std::mem::take(&mut self.error);
        self.moved = true;
        Entry {
            sentinel: SentinelRef::Owned(sentinel),
            state,
            error,
            abandoned: self.abandoned,
            moved: false,
        }
    }
}

impl std::fmt::Debug for Entry<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("resource", &self.resource())
            .field("batch", &self.state.batch)
            .field("traffic", &self.state.traffic)
            .field("wait", &self.wait())
            .field("error", &self.error())
            .finish()
    }
}

impl Drop for Entry<'_> {
    #[inline]
    fn drop(&mut self) {
        if !self.moved {
            let error = self.error.get().is_some();
            admission::exit(self.sentinel.engine(), &self.state, error, self.abandoned);
        }
    }
}
