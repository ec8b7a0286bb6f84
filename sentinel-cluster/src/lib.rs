//! # Cluster flow control on Redis
//!
//! One limit for a whole fleet ("1,000 checkouts a second for the whole shop"), kept in
//! Redis, with a local fallback that never waits. A flow rule with `clusterMode: true`
//! names a shared bucket (`clusterConfig.flowId`); a [`RedisBackend`] attached to the
//! instance keeps that bucket's tokens flowing to it.
//!
//! ```no_run
//! use sentinel_core::Sentinel;
//! use sentinel_core::cluster::{ClusterConfig, ThresholdType};
//! use sentinel_core::flow::FlowRule;
//! use sentinel_cluster::RedisBackend;
//!
//! let backend = RedisBackend::builder("redis://127.0.0.1:6379/").build()?;
//! let sentinel = Sentinel::builder().cluster_backend(backend.clone()).build();
//! sentinel.load_flow_rules(vec![FlowRule {
//!     resource: "POST /checkout".into(),
//!     threshold: 1000.0, // per second, for the whole fleet
//!     cluster_mode: true,
//!     cluster_config: Some(ClusterConfig {
//!         flow_id: "checkout".into(),
//!         threshold_type: ThresholdType::Global,
//!         ..Default::default()
//!     }),
//!     ..Default::default()
//! }])?;
//! match sentinel.entry("POST /checkout").try_enter() {
//!     Ok(_entry) => { /* serve */ }
//!     Err(blocked) => println!("busy, retry after {:?}", blocked.retry_after()),
//! }
//! println!("{:?}", backend.status());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## How it works
//!
//! * **Leases.** An entry never talks to Redis: it spends a token from a local lease (an
//!   atomic counter; see [`sentinel_core::cluster`]). One refill task per backend (on a
//!   thread of its own, or on the runtime given to
//!   [`RedisBackendBuilder::runtime`]) tops up the leases of all cluster rules every
//!   quarter horizon (at most 250 ms apart) when they are due: a lease is sized from the instance's own demand
//!   (admitted and refused entries) over the lease horizon (default 100 ms), at least the
//!   instance's share of a quarter of the burst (burst / 4 / live instances, at least one
//!   token: a quiet or new rule admits its first entries at once), and is renewed once a horizon (every three quarters of one while the shared
//!   bucket is dry), so a steady rule costs about 1000 / horizon-in-ms Redis calls a
//!   second per instance (about 13 at the default horizon for a fleet over its limit). Leased tokens expire after
//!   two horizons (configurable); unspent expired tokens are refunded to Redis, best
//!   effort, with the next call.
//! * **GCRA in Redis.** Each bucket is one theoretical arrival time in µs of the Redis
//!   server's own clock (`TIME`), so the instances' clocks do not matter. Rate: the
//!   threshold per `statIntervalInMs` (for AvgLocal, times the live instances); burst:
//!   `clusterConfig.burst` (default a fifth of the threshold, at least 1). A lease call
//!   is one Lua script (`EVALSHA`, reloaded when Redis answers NOSCRIPT) that grants
//!   `min(want, available)` atomically and says how long until the next token. Keys
//!   carry the hash tag `{<prefix length>:<prefix>:<flowId>}` (unambiguous whatever the
//!   prefix and flow id hold), so a Redis Cluster keeps each bucket's
//!   keys on one slot.
//! * **Membership.** Every instance heartbeats each second into a sorted set per flow
//!   id; an instance is live when seen within the last 3 s. The count sets the fleet rate
//!   of AvgLocal rules and the fallback share of Global rules.
//!
//! ## Accuracy
//!
//! Tokens are paid for in Redis when they are leased, so the fleet can exceed the limit
//! only by what is leased and not yet spent: in any window of length W,
//! **admitted ≤ rate × W + burst + the tokens outstanding in leases**. Leases hold about
//! one horizon of each instance's demand and expire after two horizons, which bounds the
//! last term (about rate × 2 horizons for a saturated fleet). The bound counts only what
//! leases admitted: a window that spans a change of state (an instance degraded, or
//! healthy again) also includes what local fallbacks admitted in it, up to each degraded
//! instance's fallback threshold per interval.
//!
//! The other way, a saturated fleet admits slightly less than the rate when the burst is
//! below what the rate brings in three quarters of a horizon: between two renewals the
//! bucket would fill past its burst and lose the excess. The default burst, a fifth of the
//! threshold, is two horizons at a 1 s interval.
//!
//! ## When Redis fails
//!
//! * A backend starts **Connecting**: until its first successful Redis call, cluster
//!   rules spend leased tokens only (none yet), so a starting instance admits nothing
//!   beyond what the shared bucket grants it; the first success fills the leases at once.
//! * Every Redis call times out after 20 ms (configurable). After
//!   [`FAILURES_TO_DEGRADE`] consecutive failures, or at once when the connection is
//!   refused, the backend is **Degraded**: cluster rules limit each instance locally, at
//!   `fallbackThreshold` if written, else at the threshold for AvgLocal, else for Global at
//!   the threshold divided by the live instances last seen. An instance that never saw
//!   the membership (Redis failed since its start) knows no fleet size: a Global rule
//!   without `fallbackThreshold` then falls back to the whole threshold, with a warning, so
//!   write `fallbackThreshold` on Global rules. The backend probes Redis with backoff
//!   (50 ms doubling to 500 ms) with its real calls (heartbeats and lease scripts, not a
//!   PING): one success makes it **Healthy** again, and a Redis that answers PING but
//!   refuses scripts (a read-only replica, `maxmemory` reached) keeps it degraded.
//! * With `fallbackToLocalWhenFail: false`, a degraded rule **lets every entry pass**
//!   (as in Sentinel Java): choose it only where an unlimited fleet is better than a
//!   locally limited one.
//! * So with Redis down, a fleet of N instances running a Global rule admits about the
//!   global limit in total (each its share), not N times it; nothing ever waits for Redis.
//! * Without a backend attached, a cluster rule limits its instance alone at the fallback
//!   threshold, with a `tracing` warning.
//!
//! ## Observability
//!
//! [`RedisBackend::status`] reports health, the last error, live instances, lease calls
//! per second, Redis latency and counters (errors, tokens granted, fallback
//! admissions). State changes are logged at warn/info, failed calls and fallback
//! admissions at debug, leases at trace (`tracing`). With the feature `prometheus`,
//! `ClusterCollector` exports the same figures into the `prometheus-client` registry that
//! holds sentinel-core's `SentinelCollector` (sentinel-core's own `/metrics` listener
//! serves only its collector).
//!
//! ## Envoy and Istio
//!
//! With the feature `rls`, the [`rls`] module is an Envoy Rate Limit Service on the same
//! limiter (and the `sentinel-rls` binary runs it).

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![forbid(unsafe_code)]

mod backend;
#[cfg(feature = "prometheus")]
mod metrics;
#[cfg(feature = "rls")]
pub mod rls;
mod scripts;

pub use backend::{
    ClusterError, FAILURES_TO_DEGRADE, FIRST_PROBE_BACKOFF, HEARTBEAT_EVERY, Health, LIVE_WINDOW,
    MAX_PROBE_BACKOFF, RedisBackend, RedisBackendBuilder, Status,
};
#[cfg(feature = "prometheus")]
pub use metrics::ClusterCollector;
pub use scripts::Grant;
