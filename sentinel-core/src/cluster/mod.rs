//! Cluster flow control: the contract between cluster flow rules and a backend that
//! shares their limits across a fleet (the `sentinel-cluster` crate's Redis backend is
//! one; this crate depends on none).
//!
//! A flow rule with `clusterMode: true` names a shared bucket (`clusterConfig.flowId`).
//! Its check never talks to the backend: it spends tokens from a local
//! [`ClusterLease`] (atomics only: no lock, no allocation, no waiting in any state) and
//! counts its demand there. The backend, attached with
//! [`SentinelBuilder::cluster_backend`](crate::SentinelBuilder::cluster_backend) or
//! [`Sentinel::attach_cluster`](crate::Sentinel::attach_cluster), reads the leases in
//! force ([`ClusterLeases`]) and refills them in the background.
//!
//! How an entry of a cluster rule is decided, by the lease's [`LeaseState`]:
//! * **Healthy**: it takes `batch` tokens from the lease, and is refused when the lease
//!   holds fewer (with the backend's retry hint, when it gave one);
//! * **Degraded** (the backend cannot reach its store): the rule limits locally, in its own
//!   window, at the fallback threshold ([`ClusterSpec::fallback_threshold`]); with
//!   `fallbackToLocalWhenFail: false` every entry passes while degraded, as in Sentinel
//!   Java;
//! * **Connecting** (the backend has not reached its store yet, and saw no failure): as
//!   Healthy, the lease's tokens only (it is empty until the first grant), so that a
//!   starting instance never admits a whole limit of its own;
//! * **NoBackend** (none attached): the rule limits locally at its fallback threshold,
//!   and says so once in a `tracing` warning.
//!
//! One backend serves one instance at a time: attaching another backend to an instance
//! detaches the one it replaces (its [`ClusterLeases`] go stale, so it stops refilling and
//! heartbeating for them), and a backend attached to a second instance detaches itself
//! from the first ([`ClusterLeases::detach`]), whose rules then limit locally.
//!
//! Rules that name the same `flowId` share one lease, and must agree on its limits: a set
//! where two of them differ is refused (naming `clusterConfig.flowId`). A refused entry takes nothing; an entry a later check refuses gives back what
//! it took.

mod config;
mod lease;

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

pub use config::{ClusterConfig, MAX_CLUSTER_RATE_PER_SEC, MAX_FLOW_ID_BYTES, ThresholdType};
pub(crate) use lease::Route;
pub use lease::{ClusterLease, ClusterSpec, LeaseState};

/// A store that shares cluster rules' limits across instances.
///
/// A backend is attached to one [`Sentinel`](crate::Sentinel); it keeps the leases of that
/// instance's cluster rules filled from its store, off the admission path.
pub trait ClusterBackend: Send + Sync + std::fmt::Debug + 'static {
    /// The instance's leases, to refill from now on (called once, when attached).
    fn attach(&self, leases: ClusterLeases);
    /// The state a lease made now starts in.
    fn state(&self) -> LeaseState;
    /// A rule load made a lease (called on the loading thread, never on the admission
    /// path): a backend fills it soon, since it starts empty. The default does nothing.
    fn lease_added(&self) {}
}

/// The leases of one instance's cluster rules, as its backend sees them.
///
/// Valid while the backend stays attached: once the instance is gone, another backend
/// replaced this one, or [`ClusterLeases::detach`] was called, it holds no leases and
/// [`ClusterLeases::is_alive`] is false, so that a replaced backend stops refilling them.
#[derive(Clone, Debug)]
pub struct ClusterLeases {
    hub: Weak<ClusterHub>,
    /// The hub's attachment these leases belong to.
    generation: u64,
}

impl ClusterLeases {
    /// The leases of the cluster rules in force (empty once no longer attached).
    pub fn leases(&self) -> Vec<Arc<ClusterLease>> {
        self.hub().map(|h| h.leases()).unwrap_or_default()
    }

    /// Whether the instance still exists and this attachment is still in force.
    pub fn is_alive(&self) -> bool {
        self.hub().is_some()
    }

    /// Whether both are the same attachment of the same instance.
    pub fn same_attachment(&self, other: &ClusterLeases) -> bool {
        Weak::ptr_eq(&self.hub, &other.hub) && self.generation == other.generation
    }

    /// The backend stops serving the instance (it was attached to another one): the
    /// instance forgets it, and its leases go to [`LeaseState::NoBackend`] (the local
    /// fallback) until a backend is attached again. Does nothing when no longer attached.
    pub fn detach(&self) {
        let Some(hub) = self.hub() else { return };
        let leases = {
            let mut inner = hub.inner.lock();
            if inner.generation != self.generation {
                return;
            }
            inner.generation += 1;
            inner.backend = None;
            inner
                .leases
                .values()
                .filter_map(Weak::upgrade)
                .collect::<Vec<_>>()
        };
        tracing::warn!(
            "cluster backend attached to another instance: this instance's cluster rules limit it alone, at their fallback thresholds"
        );
        for lease in leases {
            lease.set_state(LeaseState::NoBackend);
        }
    }

    fn hub(&self) -> Option<Arc<ClusterHub>> {
        self.hub
            .upgrade()
            .filter(|h| h.inner.lock().generation == self.generation)
    }
}

/// One instance's leases by flow id, and its backend.
#[derive(Default)]
pub(crate) struct ClusterHub {
    inner: Mutex<HubInner>,
}

#[derive(Default)]
struct HubInner {
    leases: HashMap<String, Weak<ClusterLease>>,
    backend: Option<Arc<dyn ClusterBackend>>,
    /// Counts attachments and detachments; [`ClusterLeases`] of an older one are stale.
    generation: u64,
}

impl ClusterHub {
    /// The lease of `spec.flow_id`, made on first use; a lease in force takes the new
    /// limits (so a raised threshold applies from the next refill).
    pub(crate) fn lease(&self, spec: ClusterSpec) -> Arc<ClusterLease> {
        let mut inner = self.inner.lock();
        if let Some(lease) = inner.leases.get(&spec.flow_id).and_then(Weak::upgrade) {
            lease.set_spec(spec);
            return lease;
        }
        let backend = inner.backend.clone();
        let state = match &backend {
            Some(b) => b.state(),
            None => {
                tracing::warn!(
                    flow_id = %crate::text::Escaped(&spec.flow_id),
                    fallback_threshold = spec.fallback_threshold(0),
                    "cluster rule without a cluster backend: it limits this instance alone, at its fallback threshold"
                );
                LeaseState::NoBackend
            }
        };
        let flow_id = spec.flow_id.clone();
        let lease = Arc::new(ClusterLease::new(spec, state));
        inner.leases.retain(|_, l| l.strong_count() > 0);
        inner.leases.insert(flow_id, Arc::downgrade(&lease));
        drop(inner);
        if let Some(b) = backend {
            b.lease_added();
        }
        lease
    }

    /// The attached backend's state (None without one) and the leases in force.
    pub(crate) fn overview(&self) -> (Option<LeaseState>, Vec<Arc<ClusterLease>>) {
        let backend = self.inner.lock().backend.clone();
        (backend.map(|b| b.state()), self.leases())
    }

    fn leases(&self) -> Vec<Arc<ClusterLease>> {
        let inner = self.inner.lock();
        let mut v: Vec<_> = inner.leases.values().filter_map(Weak::upgrade).collect();
        v.sort_by(|a, b| a.flow_id().cmp(b.flow_id()));
        v
    }

    /// Attaches `backend` (replacing any other, whose [`ClusterLeases`] go stale so that
    /// it stops refilling them): the leases in force take its state, and it is handed them.
    pub(crate) fn attach(hub: &Arc<ClusterHub>, backend: Arc<dyn ClusterBackend>) {
        let state = backend.state();
        let (leases, generation) = {
            let mut inner = hub.inner.lock();
            inner.generation += 1;
            inner.backend = Some(backend.clone());
            inner.leases.retain(|_, l| l.strong_count() > 0);
            let leases = inner
                .leases
                .values()
                .filter_map(Weak::upgrade)
                .collect::<Vec<_>>();
            (leases, inner.generation)
        };
        for lease in leases {
            lease.set_state(state);
        }
        backend.attach(ClusterLeases {
            hub: Arc::downgrade(hub),
            generation,
        });
    }
}

#[cfg(test)]
mod tests;
