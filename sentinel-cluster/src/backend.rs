//! The Redis backend: configuration, the refill task, health, membership and status.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use sentinel_core::cluster::{
    ClusterBackend, ClusterLease, ClusterLeases, ClusterSpec, LeaseState,
};
use tokio::time::Instant;

use crate::scripts::{Grant, Scripts};

/// Consecutive failed calls (errors or timeouts) that make a healthy backend degraded; a
/// refused connection degrades it at once.
pub const FAILURES_TO_DEGRADE: u32 = 2;
/// Heartbeats are written this often.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// An instance is live when its last heartbeat is at most this old.
pub const LIVE_WINDOW: Duration = Duration::from_secs(3);
/// The first wait before probing a degraded Redis again; it doubles up to
/// [`MAX_PROBE_BACKOFF`].
pub const FIRST_PROBE_BACKOFF: Duration = Duration::from_millis(50);
/// The longest wait between two probes of a degraded Redis.
pub const MAX_PROBE_BACKOFF: Duration = Duration::from_millis(500);

/// Errors of the backend.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The Redis URL does not parse.
    #[error("invalid Redis URL: {0}")]
    Url(#[source] redis::RedisError),
    /// Redis answered with an error, or the connection failed.
    #[error("Redis error: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis did not answer within the request timeout.
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    /// A rate that is not a positive number.
    #[error("the rate must be a positive number of tokens per second, got {0}")]
    Rate(f64),
    /// The backend's own runtime thread could not start.
    #[error("could not start the refill thread: {0}")]
    Thread(#[source] std::io::Error),
}

impl ClusterError {
    fn refused(&self) -> bool {
        matches!(self, ClusterError::Redis(e) if e.is_connection_refusal())
    }
}

/// Whether the backend can use Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Redis answers: cluster rules spend leased tokens.
    Healthy = 0,
    /// Redis does not answer (or answers the scripts with errors): cluster rules limit
    /// locally (or pass, with `fallbackToLocalWhenFail: false`) while the backend probes
    /// with backoff. Only a successful lease or membership call makes it healthy again.
    Degraded = 1,
    /// Not attached yet, or attached and not yet through its first Redis call, with no
    /// failure seen: cluster rules spend leased tokens only (none yet), so that a
    /// starting instance admits nothing of its own before Redis grants it tokens. The
    /// first successful call fills the leases; the first failure makes it degraded.
    Connecting = 2,
}

/// A snapshot of the backend, for dashboards and health checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// Connecting, healthy or degraded.
    pub health: Health,
    /// The last Redis error (or timeout), if any since the start.
    pub last_error: Option<String>,
    /// Live instances per flow id, as last seen (empty before the first heartbeat).
    pub live_instances: Vec<(String, u32)>,
    /// Lease calls to Redis in the last second.
    pub leases_per_second: u32,
    /// Round-trip time of the last successful Redis call.
    pub redis_latency: Option<Duration>,
    /// Redis errors and timeouts since the start.
    pub redis_errors: u64,
    /// Entries admitted by local fallback limits since the start.
    pub fallback_admissions: u64,
    /// Tokens granted by Redis since the start.
    pub tokens_granted: u64,
}

/// Configures a [`RedisBackend`].
#[derive(Clone)]
#[must_use]
pub struct RedisBackendBuilder {
    url: String,
    request_timeout: Duration,
    horizon: Duration,
    expiry: Option<Duration>,
    key_prefix: String,
    instance_id: Option<String>,
    runtime: Option<tokio::runtime::Handle>,
    manual_refill: bool,
    script_clock: Option<ScriptClock>,
}

/// A "now" for the scripts, in µs, instead of the Redis server's clock.
type ScriptClock = Arc<dyn Fn() -> Duration + Send + Sync>;

impl std::fmt::Debug for RedisBackendBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackendBuilder")
            .field("url", &self.url)
            .field("request_timeout", &self.request_timeout)
            .field("horizon", &self.horizon)
            .field("expiry", &self.expiry)
            .field("key_prefix", &self.key_prefix)
            .field("instance_id", &self.instance_id)
            .field("manual_refill", &self.manual_refill)
            .finish_non_exhaustive()
    }
}

impl RedisBackendBuilder {
    /// How long one Redis call may take before it counts as failed (default 20 ms).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The lease horizon (default 100 ms): a lease holds about what the instance's own
    /// demand spends in this long, and leases are renewed about this often. The refill
    /// task wakes every quarter horizon, and at least every 250 ms, so that heartbeats keep
    /// their 1 s cadence (within the 3 s live window) however long the horizon.
    pub fn lease_horizon(mut self, horizon: Duration) -> Self {
        self.horizon = horizon.max(Duration::from_millis(4));
        self
    }

    /// How long leased tokens stay spendable (default two horizons); unspent tokens are
    /// then taken back and refunded to Redis.
    pub fn lease_expiry(mut self, expiry: Duration) -> Self {
        self.expiry = Some(expiry);
        self
    }

    /// The prefix of the Redis keys (default `sentinel`): a rule's keys are
    /// `{<n>:<prefix>:<flowId>}:gcra` and `{<n>:<prefix>:<flowId>}:members`, where `<n>`
    /// is the prefix's length in bytes (so that prefix `a:b` with flow id `c` and prefix `a`
    /// with flow id `b:c` name different buckets); the hash tag keeps both keys on one
    /// slot of a Redis Cluster.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// This instance's id in the membership sets (default: host name, process id and a
    /// counter, unique per backend in the process).
    pub fn instance_id(mut self, id: impl Into<String>) -> Self {
        self.instance_id = Some(id.into());
        self
    }

    /// Runs the refill task on this tokio runtime (default: a thread of its own with a
    /// single-threaded runtime).
    pub fn runtime(mut self, handle: tokio::runtime::Handle) -> Self {
        self.runtime = Some(handle);
        self
    }

    /// No refill task: leases are refilled only by [`RedisBackend::refill_now`] (for
    /// tests and simulations that step time themselves).
    pub fn manual_refill(mut self, manual: bool) -> Self {
        self.manual_refill = manual;
        self
    }

    /// The scripts use this time (since the Unix epoch) instead of the Redis server's
    /// clock. For tests of the grant arithmetic: every instance sharing a bucket must use
    /// the same clock.
    pub fn script_clock(mut self, now: impl Fn() -> Duration + Send + Sync + 'static) -> Self {
        self.script_clock = Some(Arc::new(now));
        self
    }

    /// Builds the backend; nothing connects until it is attached (or called).
    ///
    /// Fails only when the URL does not parse.
    pub fn build(self) -> Result<RedisBackend, ClusterError> {
        let client = redis::Client::open(self.url.as_str()).map_err(ClusterError::Url)?;
        let id = self.instance_id.unwrap_or_else(default_instance_id);
        Ok(RedisBackend {
            inner: Arc::new(Inner {
                client,
                config: Config {
                    request_timeout: self.request_timeout,
                    horizon: self.horizon,
                    expiry: self.expiry.unwrap_or(self.horizon * 2),
                    key_prefix: self.key_prefix,
                    instance_id: id,
                    manual_refill: self.manual_refill,
                    script_clock: self.script_clock,
                },
                runtime: self.runtime,
                health: AtomicU8::new(Health::Connecting as u8),
                stopped: AtomicBool::new(false),
                task_started: AtomicBool::new(false),
                wake: tokio::sync::Notify::new(),
                leases: Mutex::new(None),
                status: Mutex::new(StatusBook::default()),
                fallback_admissions: AtomicU64::new(0),
                refill: tokio::sync::Mutex::new(RefillState::default()),
                scripts: Scripts::new(),
            }),
        })
    }
}

fn default_instance_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    format!(
        "{host}:{}:{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

struct Config {
    request_timeout: Duration,
    horizon: Duration,
    expiry: Duration,
    key_prefix: String,
    instance_id: String,
    manual_refill: bool,
    script_clock: Option<ScriptClock>,
}

/// A [`ClusterBackend`] keeping cluster rules' shared buckets in Redis.
///
/// Cheap to clone (clones share one backend). Attach it to one
/// [`Sentinel`](sentinel_core::Sentinel): attached to another one, it serves only the
/// last, and the cluster rules of the one before limit locally at their fallback
/// thresholds (their leases go [`LeaseState::NoBackend`]). Attached again after its
/// instance was dropped, or after [`RedisBackend::shutdown`], it starts over (Connecting,
/// then healthy or degraded). See the [crate docs](crate) for the model.
#[derive(Clone)]
pub struct RedisBackend {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("instance_id", &self.inner.config.instance_id)
            .field("health", &self.inner.health())
            .finish_non_exhaustive()
    }
}

struct Inner {
    client: redis::Client,
    config: Config,
    runtime: Option<tokio::runtime::Handle>,
    health: AtomicU8,
    stopped: AtomicBool,
    task_started: AtomicBool,
    wake: tokio::sync::Notify,
    leases: Mutex<Option<ClusterLeases>>,
    status: Mutex<StatusBook>,
    fallback_admissions: AtomicU64,
    /// The refill state; one refill at a time (the task's, or `refill_now`'s).
    refill: tokio::sync::Mutex<RefillState>,
    scripts: Scripts,
}

#[derive(Default)]
struct StatusBook {
    last_error: Option<String>,
    live: HashMap<String, u32>,
    lease_calls: VecDeque<Instant>,
    latency: Option<Duration>,
    errors: u64,
    granted: u64,
}

#[derive(Default)]
struct RefillState {
    conn: Option<ConnectionManager>,
    books: HashMap<String, Book>,
    failures: u32,
    next_probe: Option<Instant>,
    backoff: Duration,
    last_heartbeat: Option<Instant>,
}

/// What the backend remembers of one lease.
struct Book {
    /// Grants still (partly) unspent, oldest first: (granted at, tokens).
    grants: VecDeque<(Instant, u64)>,
    last_call: Instant,
    /// The last call got less than it asked for (the shared bucket ran dry): no early
    /// refill before the horizon, however hungry the lease.
    short: bool,
}

impl RedisBackend {
    /// Starts configuring a backend for the Redis at `url` (`redis://host:port/db`).
    pub fn builder(url: impl Into<String>) -> RedisBackendBuilder {
        RedisBackendBuilder {
            url: url.into(),
            request_timeout: Duration::from_millis(20),
            horizon: Duration::from_millis(100),
            expiry: None,
            key_prefix: "sentinel".into(),
            instance_id: None,
            runtime: None,
            manual_refill: false,
            script_clock: None,
        }
    }

    /// This instance's id in the membership sets.
    pub fn instance_id(&self) -> &str {
        &self.inner.config.instance_id
    }

    /// The backend's state, errors, membership and traffic.
    pub fn status(&self) -> Status {
        let book = self.inner.status.lock();
        let second_ago = Instant::now().checked_sub(Duration::from_secs(1));
        let mut live: Vec<(String, u32)> = book.live.iter().map(|(k, v)| (k.clone(), *v)).collect();
        live.sort();
        Status {
            health: self.inner.health(),
            last_error: book.last_error.clone(),
            live_instances: live,
            leases_per_second: book
                .lease_calls
                .iter()
                .filter(|t| second_ago.is_none_or(|s| **t >= s))
                .count() as u32,
            redis_latency: book.latency,
            redis_errors: book.errors,
            fallback_admissions: self.inner.fallback_admissions.load(Ordering::Relaxed),
            tokens_granted: book.granted,
        }
    }

    /// Runs one refill now and waits for it: probes Redis if degraded, heartbeats when
    /// due, takes back expired tokens and asks for leases sized from demand. The refill
    /// task does the same every quarter horizon; tests with
    /// [`RedisBackendBuilder::manual_refill`] call this instead.
    pub async fn refill_now(&self) {
        self.inner.cycle(true).await;
    }

    /// Stops the refill task (no more leases or heartbeats: after the live window, the
    /// other instances stop counting this one) and gives unspent tokens back. Cluster rules
    /// of the instance fall back to their local limits. Attaching the backend again starts
    /// it again.
    pub async fn shutdown(&self) {
        self.inner.stopped.store(true, Ordering::Release);
        self.inner.wake.notify_one();
        self.inner.give_everything_back().await;
        self.inner.set_health(Health::Degraded, None);
    }

    /// One raw GCRA call on the bucket of `flow_id`: gives back `refund` tokens, then
    /// grants up to `want` at `rate_per_sec` with `burst` tokens of tolerance. `now` (since
    /// the Unix epoch) replaces the Redis clock, for tests; `None` uses it.
    ///
    /// # Errors
    /// A rate that is not positive, a Redis error, or no answer within the request
    /// timeout.
    pub async fn grant(
        &self,
        flow_id: &str,
        rate_per_sec: f64,
        burst: u64,
        want: u64,
        refund: u64,
        now: Option<Duration>,
    ) -> Result<Grant, ClusterError> {
        if !(rate_per_sec.is_finite() && rate_per_sec > 0.0) {
            return Err(ClusterError::Rate(rate_per_sec));
        }
        let mut conn = self
            .inner
            .connection(&mut self.inner.refill.lock().await.conn)?;
        let interval = 1e6 / rate_per_sec;
        let now_us = now.map_or(0, |d| d.as_micros() as u64);
        self.inner
            .bounded(self.inner.scripts.lease(
                &mut conn,
                &self.inner.key(flow_id, "gcra"),
                interval,
                interval * burst as f64,
                want,
                refund,
                now_us,
            ))
            .await
    }
}

impl ClusterBackend for RedisBackend {
    fn attach(&self, leases: ClusterLeases) {
        let before = self.inner.leases.lock().replace(leases.clone());
        if let Some(before) = before.filter(|b| !b.same_attachment(&leases)) {
            before.detach();
        }
        self.inner.stopped.store(false, Ordering::Release);
        if self.inner.health() != Health::Healthy {
            // A fresh start: no failure seen yet for this instance.
            self.inner.set_health(Health::Connecting, None);
        }
        self.inner.wake.notify_one();
        self.inner.start_task();
    }

    /// Wakes the refill task, so that a new rule's lease is filled at once.
    fn lease_added(&self) {
        self.inner.wake.notify_one();
    }

    fn state(&self) -> LeaseState {
        self.inner.health().lease_state()
    }
}

impl Health {
    fn lease_state(self) -> LeaseState {
        match self {
            Health::Healthy => LeaseState::Healthy,
            Health::Degraded => LeaseState::Degraded,
            Health::Connecting => LeaseState::Connecting,
        }
    }
}

impl Inner {
    /// Starts the refill task unless it runs (one task per backend: attached again, it
    /// refills the new instance's leases).
    fn start_task(self: &Arc<Self>) {
        if self.config.manual_refill || self.task_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = self.clone();
        match &self.runtime {
            Some(handle) => {
                handle.spawn(inner.run());
            }
            None => {
                let started = std::thread::Builder::new()
                    .name("sentinel-cluster".into())
                    .spawn(move || {
                        match tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                        {
                            Ok(rt) => rt.block_on(inner.run()),
                            Err(e) => tracing::error!(error = %e, "sentinel-cluster: no runtime"),
                        }
                    });
                if let Err(e) = started {
                    self.task_started.store(false, Ordering::Release);
                    tracing::error!(error = %ClusterError::Thread(e), "sentinel-cluster: leases will not be refilled");
                }
            }
        }
    }

    fn health(&self) -> Health {
        match self.health.load(Ordering::Acquire) {
            0 => Health::Healthy,
            1 => Health::Degraded,
            _ => Health::Connecting,
        }
    }

    /// Whether the refill task has work: not stopped, and attached to a live instance.
    fn should_run(&self) -> bool {
        !self.stopped.load(Ordering::Acquire) && self.leases().is_some_and(|l| l.is_alive())
    }

    fn leases(&self) -> Option<ClusterLeases> {
        self.leases.lock().clone()
    }

    /// Sets the health and the state of every lease; logs changes.
    fn set_health(&self, health: Health, error: Option<&ClusterError>) {
        let before = self.health.swap(health as u8, Ordering::AcqRel);
        let leases = self.leases().map(|l| l.leases()).unwrap_or_default();
        let state = health.lease_state();
        for lease in &leases {
            lease.set_state(state);
        }
        if before != health as u8 {
            if health == Health::Degraded {
                for lease in leases.iter().filter(|l| {
                    let spec = l.spec();
                    spec.threshold_type == sentinel_core::cluster::ThresholdType::Global
                        && spec.fallback_threshold.is_none()
                        && l.live_instances() == 0
                }) {
                    tracing::warn!(
                        flow_id = lease.flow_id(),
                        "sentinel-cluster: no live instances were ever seen, so this instance falls back to the whole global threshold"
                    );
                }
            }
            match (health, error) {
                (Health::Degraded, Some(e)) => tracing::warn!(
                    instance = %self.config.instance_id,
                    error = %e,
                    "sentinel-cluster: Redis unusable, cluster rules limit locally"
                ),
                (Health::Degraded, None) => tracing::info!(
                    instance = %self.config.instance_id,
                    "sentinel-cluster: stopped, cluster rules limit locally"
                ),
                (Health::Healthy, _) => tracing::info!(
                    instance = %self.config.instance_id,
                    "sentinel-cluster: Redis answers, cluster rules share their limits"
                ),
                (Health::Connecting, _) => tracing::debug!(
                    instance = %self.config.instance_id,
                    "sentinel-cluster: connecting, cluster rules spend leased tokens only"
                ),
            }
        }
    }

    /// The key of `what` for `flow_id`; see [`RedisBackendBuilder::key_prefix`].
    fn key(&self, flow_id: &str, what: &str) -> String {
        let prefix = &self.config.key_prefix;
        format!("{{{}:{prefix}:{flow_id}}}:{what}", prefix.len())
    }

    fn script_now_us(&self) -> u64 {
        self.config
            .script_clock
            .as_ref()
            .map_or(0, |now| now().as_micros() as u64)
    }

    /// The connection, made (lazily, without waiting) on first use; fails only outside a
    /// tokio runtime.
    fn connection(
        &self,
        slot: &mut Option<ConnectionManager>,
    ) -> Result<ConnectionManager, ClusterError> {
        if let Some(c) = slot {
            return Ok(c.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(
                self.config.request_timeout.max(Duration::from_millis(100)),
            ))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(100));
        let c = ConnectionManager::new_lazy_with_config(self.client.clone(), config)?;
        *slot = Some(c.clone());
        Ok(c)
    }

    /// A Redis call bounded by the request timeout, with its latency recorded.
    async fn bounded<T>(
        &self,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, ClusterError> {
        let started = Instant::now();
        let result = match tokio::time::timeout(self.config.request_timeout, call).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(ClusterError::Redis(e)),
            Err(_) => Err(ClusterError::Timeout(self.config.request_timeout)),
        };
        let mut book = self.status.lock();
        match &result {
            Ok(_) => book.latency = Some(started.elapsed()),
            Err(e) => {
                book.errors += 1;
                book.last_error = Some(e.to_string());
            }
        }
        result
    }

    /// The refill task: a cycle every quarter horizon (at most [`HEARTBEAT_EVERY`] / 4
    /// apart, so that heartbeats keep their cadence with a long horizon), or at the next
    /// probe, until the instance is gone, the backend is detached, or it stops. Ending, it
    /// lets a later attach start a task again.
    async fn run(self: Arc<Self>) {
        let tick = (self.config.horizon / 4).min(HEARTBEAT_EVERY / 4);
        loop {
            while self.should_run() {
                self.cycle(false).await;
                tokio::select! {
                    () = tokio::time::sleep(tick) => {}
                    () = self.wake.notified() => {}
                }
            }
            self.task_started.store(false, Ordering::Release);
            // An attach between the last check and now found the task running: go on.
            if !self.should_run() || self.task_started.swap(true, Ordering::AcqRel) {
                break;
            }
        }
        tracing::debug!(instance = %self.config.instance_id, "sentinel-cluster: refill task ended");
    }

    /// One refill of every lease. `all`: every lease asks now (else only those due).
    async fn cycle(&self, all: bool) {
        let Some(leases) = self.leases() else { return };
        let leases = leases.leases();
        let mut st = self.refill.lock().await;
        let now = Instant::now();
        self.note_fallback(&leases);
        let health = self.health();
        if health != Health::Healthy {
            if health == Health::Degraded && !all && st.next_probe.is_some_and(|at| now < at) {
                return;
            }
            // The probe is the real work (heartbeats and lease calls; PING only without
            // leases): a Redis that answers PING but refuses scripts (a read-only replica,
            // out of memory) stays degraded, and a success fills the leases at once.
            st.last_heartbeat = None;
            let probe = if leases.is_empty() {
                match self.connection(&mut st.conn) {
                    Ok(mut conn) => {
                        self.bounded(async {
                            redis::cmd("PING").query_async::<()>(&mut conn).await
                        })
                        .await
                    }
                    Err(e) => Err(e),
                }
            } else {
                self.refill(&mut st, &leases, now, true).await
            };
            match probe {
                Ok(()) => {
                    st.failures = 0;
                    st.backoff = FIRST_PROBE_BACKOFF;
                    st.next_probe = None;
                    self.set_health(Health::Healthy, None);
                }
                Err(e) => {
                    st.backoff = (st.backoff * 2).clamp(FIRST_PROBE_BACKOFF, MAX_PROBE_BACKOFF);
                    st.next_probe = Some(now + st.backoff);
                    tracing::debug!(error = %e, next_probe_in = ?st.backoff, "sentinel-cluster: probe failed");
                    // Connecting, the first call may also pay for the connection: degraded
                    // after as many failures as a healthy backend (or a refusal).
                    st.failures += 1;
                    if health == Health::Connecting
                        && (e.refused() || st.failures >= FAILURES_TO_DEGRADE)
                    {
                        self.set_health(Health::Degraded, Some(&e));
                    }
                }
            }
            return;
        }
        // After a failed call, every lease asks again at once: a second failure in a row
        // degrades the backend within a quarter horizon or so.
        let all = all || st.failures > 0;
        let result = self.refill(&mut st, &leases, now, all).await;
        match result {
            Ok(()) => st.failures = 0,
            Err(e) => {
                st.failures += 1;
                tracing::debug!(error = %e, failures = st.failures, "sentinel-cluster: Redis call failed");
                if e.refused() || st.failures >= FAILURES_TO_DEGRADE {
                    st.backoff = FIRST_PROBE_BACKOFF;
                    st.next_probe = Some(now + st.backoff);
                    self.set_health(Health::Degraded, Some(&e));
                }
            }
        }
    }

    /// Counts (and logs once a cycle) what local fallbacks admitted.
    fn note_fallback(&self, leases: &[Arc<ClusterLease>]) {
        for lease in leases {
            let n = lease.take_fallback_admissions();
            if n > 0 {
                self.fallback_admissions.fetch_add(n, Ordering::Relaxed);
                tracing::debug!(
                    flow_id = lease.flow_id(),
                    admitted = n,
                    "sentinel-cluster: local fallback admissions"
                );
            }
        }
    }

    /// Heartbeats when due, then a lease call for each lease that is due.
    async fn refill(
        &self,
        st: &mut RefillState,
        leases: &[Arc<ClusterLease>],
        now: Instant,
        all: bool,
    ) -> Result<(), ClusterError> {
        let mut conn = self.connection(&mut st.conn)?;
        let script_now = self.script_now_us();
        if st
            .last_heartbeat
            .is_none_or(|at| now >= at + HEARTBEAT_EVERY)
        {
            for lease in leases {
                let live = self
                    .bounded(self.scripts.heartbeat(
                        &mut conn,
                        &self.key(lease.flow_id(), "members"),
                        &self.config.instance_id,
                        LIVE_WINDOW,
                        script_now,
                    ))
                    .await?;
                lease.set_live_instances(live);
                self.status
                    .lock()
                    .live
                    .insert(lease.flow_id().to_string(), live);
            }
            st.last_heartbeat = Some(now);
        }
        // Flow ids no rule names any more leave the books and the status.
        let in_force = |id: &String| leases.iter().any(|l| l.flow_id() == id);
        st.books.retain(|id, _| in_force(id));
        self.status.lock().live.retain(|id, _| in_force(id));
        for lease in leases {
            let book = st.books.entry(lease.flow_id().to_string()).or_insert(Book {
                grants: VecDeque::new(),
                last_call: now.checked_sub(self.config.horizon).unwrap_or(now),
                short: false,
            });
            let Some(ask) = self.sizing(lease, book, now, all) else {
                continue;
            };
            let grant = self
                .bounded(self.scripts.lease(
                    &mut conn,
                    &self.key(lease.flow_id(), "gcra"),
                    ask.interval_us,
                    ask.tau_us,
                    ask.want,
                    ask.refund,
                    script_now,
                ))
                .await?;
            lease.add_tokens(grant.granted);
            lease.set_retry_after(grant.retry_after);
            book.short = grant.granted < ask.want;
            if grant.granted > 0 {
                book.grants.push_back((now, grant.granted));
            }
            let mut status = self.status.lock();
            status.granted += grant.granted;
            status.lease_calls.push_back(now);
            while status
                .lease_calls
                .front()
                .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(1))
            {
                status.lease_calls.pop_front();
            }
            tracing::trace!(
                flow_id = lease.flow_id(),
                want = ask.want,
                granted = grant.granted,
                refunded = ask.refund,
                "sentinel-cluster: lease"
            );
        }
        Ok(())
    }

    /// What to ask Redis for one lease now, or `None` when it is not due: expired tokens
    /// are taken back for a refund, and the lease is topped up to what its demand spends
    /// in one horizon (at least the instance's share of a quarter of the burst, and one
    /// token, so that a quiet or new rule still admits at once).
    /// A lease is due once a horizon, after three quarters of one while the shared bucket
    /// is dry (a fleet over its limit: about 13 calls a second per instance and rule at
    /// the default horizon), or after a quarter horizon when it ran empty while the bucket
    /// still had tokens (demand grew).
    fn sizing(
        &self,
        lease: &ClusterLease,
        book: &mut Book,
        now: Instant,
        all: bool,
    ) -> Option<Ask> {
        let horizon = self.config.horizon;
        let held = lease.tokens().max(0) as u64;
        // Spent tokens leave the oldest grants first.
        let mut spent = book
            .grants
            .iter()
            .map(|g| g.1)
            .sum::<u64>()
            .saturating_sub(held);
        while let Some(front) = book.grants.front_mut() {
            if spent == 0 {
                break;
            }
            let used = front.1.min(spent);
            front.1 -= used;
            spent -= used;
            if front.1 == 0 {
                book.grants.pop_front();
            }
        }
        let mut expired = 0;
        while let Some(&(at, n)) = book.grants.front() {
            if now.duration_since(at) < self.config.expiry {
                break;
            }
            expired += n;
            book.grants.pop_front();
        }
        let refund = lease.take_tokens(expired);
        let since = now.duration_since(book.last_call);
        let hungry = held == 0 && lease.pending_demand() > 0 && !book.short;
        // Cycles come every quarter horizon, and a lease is renewed at the cycle nearest
        // its renewal time: once a horizon, or every three quarters of one while the
        // shared bucket is dry, so that some instance asks at least that often and the
        // bucket does not fill past its burst (losing tokens) between two asks.
        let renew_after = if book.short { horizon * 3 / 4 } else { horizon };
        let due = all
            || refund > 0
            || since + horizon / 8 >= renew_after
            || (hungry && since >= horizon / 4);
        if !due {
            return None;
        }
        let spec: ClusterSpec = lease.spec();
        let live = lease.live_instances();
        let rate = spec.fleet_rate_per_sec(live);
        let held = lease.tokens().max(0) as u64;
        let demand = lease.take_demand();
        book.last_call = now;
        let per_horizon =
            demand as f64 * horizon.as_secs_f64() / since.max(horizon / 4).as_secs_f64();
        // A quiet (or new) lease still holds this instance's share of a quarter of the
        // burst, so that its first entries pass at once; unspent, those tokens expire and
        // are refunded like any others.
        let least = (spec.burst(live) / (4 * u64::from(live.max(1)))).max(1);
        let want = (per_horizon.ceil() as u64).max(least).saturating_sub(held);
        if rate <= 0.0 || (want == 0 && refund == 0) {
            return None;
        }
        let interval_us = 1e6 / rate;
        Some(Ask {
            interval_us,
            tau_us: interval_us * spec.burst(live) as f64,
            want,
            refund,
        })
    }

    /// Takes every unspent token back and refunds it (on shutdown; best effort).
    async fn give_everything_back(&self) {
        let Some(leases) = self.leases() else { return };
        let mut st = self.refill.lock().await;
        let Ok(mut conn) = self.connection(&mut st.conn) else {
            return;
        };
        for lease in leases.leases() {
            let refund = lease.take_tokens(u64::MAX);
            let spec = lease.spec();
            let rate = spec.fleet_rate_per_sec(lease.live_instances());
            if refund == 0 || rate <= 0.0 {
                continue;
            }
            let interval = 1e6 / rate;
            let tau = interval * spec.burst(lease.live_instances()) as f64;
            let key = self.key(lease.flow_id(), "gcra");
            let now = self.script_now_us();
            if let Err(e) = self
                .bounded(
                    self.scripts
                        .lease(&mut conn, &key, interval, tau, 0, refund, now),
                )
                .await
            {
                tracing::debug!(error = %e, "sentinel-cluster: refund on shutdown failed");
            }
        }
        st.books.clear();
    }
}

/// One lease call's arguments.
struct Ask {
    interval_us: f64,
    tau_us: f64,
    want: u64,
    refund: u64,
}
