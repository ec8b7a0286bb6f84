//! The local lease of one shared bucket: what an entry spends, and what a backend fills.

use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU32, AtomicU64};
use std::time::Duration;

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use super::ThresholdType;

/// What a cluster rule needs its backend to know: the shared bucket and its limits.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSpec {
    /// The shared bucket.
    pub flow_id: String,
    /// Entries per `interval_ms`: the fleet's (Global) or each instance's (AvgLocal).
    pub threshold: f64,
    /// The interval of the threshold, in milliseconds (> 0).
    pub interval_ms: u32,
    /// Global or AvgLocal.
    pub threshold_type: ThresholdType,
    /// Burst tolerance as written (`None`: [`ClusterSpec::burst`] picks one).
    pub burst: Option<u64>,
    /// The local limit while the backend is unreachable, as written.
    pub fallback_threshold: Option<f64>,
    /// Whether an unreachable backend means a local limit (`true`) or no limit.
    pub fallback_to_local_when_fail: bool,
}

impl ClusterSpec {
    /// The fleet's rate in entries per second with `live` instances (AvgLocal multiplies
    /// by them, counting at least this one).
    pub fn fleet_rate_per_sec(&self, live: u32) -> f64 {
        let per_sec = self.threshold * 1000.0 / self.interval_ms.max(1) as f64;
        match self.threshold_type {
            ThresholdType::Global => per_sec,
            ThresholdType::AvgLocal => per_sec * live.max(1) as f64,
        }
    }

    /// The burst tolerance in tokens: as written, else a fifth of the threshold (at least
    /// 1), scaled like the rate for AvgLocal.
    pub fn burst(&self, live: u32) -> u64 {
        let base = self
            .burst
            .unwrap_or_else(|| (self.threshold / 5.0).ceil().max(1.0) as u64);
        match self.threshold_type {
            ThresholdType::Global => base,
            ThresholdType::AvgLocal => base.saturating_mul(live.max(1) as u64),
        }
    }

    /// This instance's local limit per interval while the backend cannot be used:
    /// `fallbackThreshold` if written, else the threshold for AvgLocal, else for Global the
    /// threshold divided by `live` (the instances last seen).
    ///
    /// A Global rule whose instance never saw the membership (`live` 0: no backend, or a
    /// store that failed before the first heartbeat) has no fleet size to divide by, and
    /// falls back to the whole threshold: each such instance may then admit the fleet's
    /// limit. A backend never falls back before a real failure (see
    /// [`LeaseState::Connecting`]); set `fallbackThreshold` on Global rules to bound what a
    /// fleet that cannot reach its store admits.
    pub fn fallback_threshold(&self, live: u32) -> f64 {
        match (self.fallback_threshold, self.threshold_type) {
            (Some(t), _) => t,
            (None, ThresholdType::AvgLocal) => self.threshold,
            (None, ThresholdType::Global) if live == 0 => self.threshold,
            (None, ThresholdType::Global) => self.threshold / live as f64,
        }
    }
}

/// Whether a lease's backend answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum LeaseState {
    /// No backend attached: the rule limits locally at its fallback threshold.
    NoBackend = 0,
    /// The backend answers: entries spend leased tokens.
    Healthy = 1,
    /// The backend does not answer: the local fallback (or no limit with
    /// `fallbackToLocalWhenFail: false`).
    Degraded = 2,
    /// The backend has not reached its store yet, and has seen no failure either (a new
    /// instance): entries spend leased tokens only, as when healthy, so that a starting
    /// instance admits nothing beyond what the fleet's bucket grants it. The backend fills
    /// the lease on its first successful call, or goes Degraded on a failure.
    Connecting = 3,
}

impl LeaseState {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => LeaseState::Healthy,
            2 => LeaseState::Degraded,
            3 => LeaseState::Connecting,
            _ => LeaseState::NoBackend,
        }
    }
}

/// How an entry of a cluster rule is decided now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Route {
    /// Spend tokens of the lease.
    Lease,
    /// Limit locally at this threshold per interval.
    Local(f64),
    /// Let it pass (degraded, `fallbackToLocalWhenFail: false`).
    Pass,
}

/// The tokens this instance has pre-paid for one shared bucket, and what its backend
/// needs to size the next lease.
///
/// Entries touch only atomics here: they spend tokens (or, when the backend cannot be
/// used, go to the rule's local window) and count their demand. A
/// [`ClusterBackend`](super::ClusterBackend) refills the tokens, takes back expired ones,
/// and sets the state, the retry hint and the number of live instances.
pub struct ClusterLease {
    flow_id: String,
    tokens: CachePadded<AtomicI64>,
    demand: CachePadded<AtomicU64>,
    state: AtomicU8,
    /// The fallback threshold per interval, as f64 bits.
    fallback: AtomicU64,
    /// Whether the rule passes everything while degraded.
    pass_when_degraded: AtomicU8,
    retry_after_ns: AtomicU64,
    live: AtomicU32,
    fallback_passed: AtomicU64,
    spec: Mutex<ClusterSpec>,
}

impl std::fmt::Debug for ClusterLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterLease")
            .field("flow_id", &self.flow_id)
            .field("tokens", &self.tokens())
            .field("state", &self.state())
            .field("live", &self.live.load(Relaxed))
            .finish_non_exhaustive()
    }
}

impl ClusterLease {
    pub(crate) fn new(spec: ClusterSpec, state: LeaseState) -> Self {
        let lease = ClusterLease {
            flow_id: spec.flow_id.clone(),
            tokens: CachePadded::new(AtomicI64::new(0)),
            demand: CachePadded::new(AtomicU64::new(0)),
            state: AtomicU8::new(state as u8),
            fallback: AtomicU64::new(0),
            pass_when_degraded: AtomicU8::new(0),
            retry_after_ns: AtomicU64::new(0),
            live: AtomicU32::new(0),
            fallback_passed: AtomicU64::new(0),
            spec: Mutex::new(spec),
        };
        lease.refresh_fallback();
        lease
    }

    // --- the hot path ---

    /// How an entry is decided now.
    #[inline]
    pub(crate) fn route(&self) -> Route {
        match LeaseState::from_u8(self.state.load(Acquire)) {
            LeaseState::Healthy | LeaseState::Connecting => Route::Lease,
            LeaseState::Degraded if self.pass_when_degraded.load(Relaxed) == 1 => Route::Pass,
            LeaseState::Degraded | LeaseState::NoBackend => {
                Route::Local(f64::from_bits(self.fallback.load(Relaxed)))
            }
        }
    }

    /// Counts `batch` entries asking (admitted or not), for lease sizing.
    #[inline]
    pub(crate) fn note_demand(&self, batch: u64) {
        self.demand.fetch_add(batch, Relaxed);
    }

    /// Spends `batch` tokens, or says when more are expected (`None`: unknown).
    #[inline]
    pub(crate) fn try_take(&self, batch: u64) -> Result<(), Option<u64>> {
        let want = batch as i64;
        let mut cur = self.tokens.load(Acquire);
        loop {
            if cur < want {
                let retry = self.retry_after_ns.load(Relaxed);
                return Err((retry > 0).then_some(retry));
            }
            match self
                .tokens
                .compare_exchange_weak(cur, cur - want, AcqRel, Acquire)
            {
                Ok(_) => return Ok(()),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Gives back tokens an entry spent (a later check refused it).
    #[inline]
    pub(crate) fn give_back(&self, batch: u64) {
        self.tokens.fetch_add(batch as i64, AcqRel);
    }

    /// Counts entries the local fallback admitted.
    #[inline]
    pub(crate) fn note_fallback_pass(&self, batch: u64) {
        self.fallback_passed.fetch_add(batch, Relaxed);
    }

    // --- for backends ---

    /// The shared bucket's id.
    pub fn flow_id(&self) -> &str {
        &self.flow_id
    }

    /// The rule's parameters now (a reloaded rule may change them).
    pub fn spec(&self) -> ClusterSpec {
        self.spec.lock().clone()
    }

    pub(crate) fn set_spec(&self, spec: ClusterSpec) {
        let changed = {
            let mut current = self.spec.lock();
            let changed = *current != spec;
            *current = spec;
            changed
        };
        if changed {
            self.refresh_fallback();
        }
    }

    /// Tokens held now.
    pub fn tokens(&self) -> i64 {
        self.tokens.load(Acquire)
    }

    /// Adds tokens a backend was granted.
    pub fn add_tokens(&self, n: u64) {
        self.tokens.fetch_add(n as i64, AcqRel);
    }

    /// Takes back up to `max` unspent tokens (expired ones); returns how many.
    pub fn take_tokens(&self, max: u64) -> u64 {
        let mut cur = self.tokens.load(Acquire);
        loop {
            let take = cur.clamp(0, max.min(i64::MAX as u64) as i64);
            if take == 0 {
                return 0;
            }
            match self
                .tokens
                .compare_exchange_weak(cur, cur - take, AcqRel, Acquire)
            {
                Ok(_) => return take as u64,
                Err(actual) => cur = actual,
            }
        }
    }

    /// The entries that asked since the last call (admitted or refused).
    pub fn take_demand(&self) -> u64 {
        self.demand.swap(0, AcqRel)
    }

    /// The entries that asked since the last [`ClusterLease::take_demand`], left counted.
    pub fn pending_demand(&self) -> u64 {
        self.demand.load(Acquire)
    }

    /// The entries the local fallback admitted since the last call.
    pub fn take_fallback_admissions(&self) -> u64 {
        self.fallback_passed.swap(0, AcqRel)
    }

    /// The state entries see.
    pub fn state(&self) -> LeaseState {
        LeaseState::from_u8(self.state.load(Acquire))
    }

    /// Sets the state entries see.
    pub fn set_state(&self, state: LeaseState) {
        self.state.store(state as u8, Release);
    }

    /// When the shared bucket has tokens again, told to entries refused for want of
    /// tokens (zero: unknown).
    pub fn set_retry_after(&self, d: Duration) {
        self.retry_after_ns
            .store(d.as_nanos().min(u64::MAX as u128) as u64, Relaxed);
    }

    /// The live instances last seen (0: never seen).
    pub fn live_instances(&self) -> u32 {
        self.live.load(Relaxed)
    }

    /// Sets the live instances seen, which the Global fallback share divides by.
    pub fn set_live_instances(&self, n: u32) {
        if self.live.swap(n, Relaxed) != n {
            self.refresh_fallback();
        }
    }

    /// The local limit per interval while degraded.
    pub fn fallback_threshold(&self) -> f64 {
        f64::from_bits(self.fallback.load(Relaxed))
    }

    fn refresh_fallback(&self) {
        let spec = self.spec.lock();
        let live = self.live.load(Relaxed);
        self.fallback
            .store(spec.fallback_threshold(live).to_bits(), Relaxed);
        self.pass_when_degraded
            .store(u8::from(!spec.fallback_to_local_when_fail), Relaxed);
    }
}
