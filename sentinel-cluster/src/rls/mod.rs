//! # An Envoy Rate Limit Service (feature `rls`)
//!
//! Envoy (and so Istio) enforces global rate limits by asking an external gRPC service,
//! `envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit`, about each request and
//! answering 429 when told OVER_LIMIT. [`RateLimitService`] is that service, on the same
//! GCRA limiter as cluster flow rules: in process for one replica, in Redis (the same
//! script and key scheme) for several.
//!
//! ## Running it
//!
//! The binary `sentinel-rls` (built with `--features rls`):
//!
//! ```text
//! sentinel-rls --config rls.yaml [--config more.yaml ...] --listen 0.0.0.0:8081 \
//!     [--redis redis://redis:6379/] [--fail-closed] [--max-keys 100000] [--metrics 0.0.0.0:9090] \
//!     [--shutdown-grace 5]
//! ```
//!
//! It prints `listening on <addr>` once it accepts calls, reloads the files when they
//! change (a bad file is logged and the last good configuration stays), serves
//! Prometheus counters at `http://<metrics>/metrics`, and stops on SIGTERM or Ctrl-C:
//! calls in flight get `--shutdown-grace` seconds (default 5) to finish, then connections
//! still open are cut; a second signal exits at once. Each client connection has at most
//! 64 calls in flight. `RUST_LOG`-style filtering is not built in: logs go to stderr at info.
//!
//! Or mount the service on a tonic server of your own:
//!
//! ```no_run
//! use sentinel_cluster::rls::{RateLimitService, RlsConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = RlsConfig::from_yaml(
//!     "domain: shop\ndescriptors:\n  - key: user\n    rate_limit: {unit: second, requests_per_unit: 3}\n",
//!     "rls.yaml",
//! )?;
//! let service = RateLimitService::builder(config).build();
//! tonic::transport::Server::builder()
//!     .add_service(service)
//!     .serve("127.0.0.1:8081".parse()?)
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! [`ConfigWatcher`] keeps a mounted service's configuration in line with its files;
//! [`RateLimitService::set_config`] replaces it directly.
//!
//! ## Configuration
//!
//! The YAML of the reference (Lyft) service: one domain per file, or a list of domains
//! in one file, or several files (`--config` repeated; a domain in one file only).
//!
//! ```yaml
//! domain: shop
//! descriptors:
//!   - key: user                 # any value: one bucket per user
//!     rate_limit: {unit: second, requests_per_unit: 3}
//!   - key: user
//!     value: bot-*              # a prefix: one bucket per matching value
//!     rate_limit: {unit: minute, requests_per_unit: 10, name: bots}
//!   - key: user
//!     value: admin              # an exact value
//!     rate_limit: {unlimited: true}
//!   - key: path
//!     value: /checkout
//!     descriptors:              # nested: matches descriptors [path, user]
//!       - key: user
//!         rate_limit: {unit: hour, requests_per_unit: 100, burst: 10}
//!         shadow_mode: true     # counted, never refused
//! ```
//!
//! Keys: `domain`, `descriptors`, `key`, `value`, `rate_limit` (`unit`:
//! second/minute/hour/day in any case; `requests_per_unit` ≥ 1 and at most one per
//! microsecond, [`MAX_REQUESTS_PER_SECOND`] per second; `burst` ≥ 1, default
//! `requests_per_unit`; `name`; `unlimited`), `shadow_mode`, `detailed_metric` (accepted;
//! the counters are the same either way). `replaces` is refused (not supported yet),
//! even when `null`. Any
//! other key, a key written twice, a descriptor configured twice at one level and a
//! domain configured twice are refused with an error naming the file and the path
//! (``rls.yaml: at `descriptors[0].rate_limit.unit`: ...``).
//!
//! ## Semantics
//!
//! * **Matching.** A request descriptor (entries `[(k1, v1), …, (kn, vn)]`) matches a
//!   configured path of exactly n levels: at each level the branch with the entry's key
//!   and its exact value wins, then the longest `prefix*` matching the value, then the
//!   key alone; the choice is never revisited (a deeper level does not fall back to the
//!   key-only branch once a value matched). A shorter configured path does not apply to a
//!   longer descriptor, and a path without `rate_limit` limits nothing. A descriptor that
//!   matches nothing, has no entries or names an unknown domain is OK without a limit.
//! * **Buckets.** One per domain, request entries (values included, of any length and
//!   any UTF-8) and limit: a key without a value (or a prefix) has a bucket per distinct
//!   value.
//! * **GCRA.** `requests_per_unit` per unit, smoothed (no doubling at window
//!   boundaries), with a burst of `requests_per_unit` (a whole unit's quota at once, as
//!   the reference's fixed windows allow) unless `burst` is set.
//! * **Answer.** One status per descriptor in request order, with `current_limit`
//!   (requests, unit, name), `limit_remaining` (tokens left after this request) and
//!   `duration_until_reset` (until the budget is full again, rounded up to a whole
//!   second: Envoy keeps only whole seconds for `x-ratelimit-reset`, and a 0 there would
//!   say "now"), on OK and OVER_LIMIT alike.
//!   The overall code is OVER_LIMIT when any descriptor is.
//! * **Charging is all or nothing.** A request answered OVER_LIMIT spends nothing on any
//!   of its descriptors (their statuses report what is left unspent); a batch larger than
//!   what is left is refused whole. Descriptors naming the same bucket share its
//!   verdict (OVER_LIMIT for all when it cannot take their hits together) and report it
//!   as the request leaves it. Exact with the local store (one lock); with Redis,
//!   descriptors charged before the refusal are refunded.
//! * **`hits_addend`.** The request's (absent or 0 means 1) applies to each descriptor;
//!   a descriptor's own overrides it, and a descriptor's 0 checks without spending
//!   (OVER_LIMIT when no token is left).
//! * **Overrides.** A `limit` sent in a request descriptor (of a configured domain) is
//!   the descriptor's limit, in a bucket of its own (descriptor and limit), with the
//!   shadow mode of the configured path it matches, if any. An override with no unit,
//!   0 requests or a rate above [`MAX_REQUESTS_PER_SECOND`] is INVALID_ARGUMENT, in any
//!   domain (configured or not).
//! * **`unlimited: true`**: always OK, without `current_limit`.
//! * **Shadow mode**: counted (`limit_remaining` goes down to 0) but answered OK; the
//!   `shadow_over_limit` counter says how often it would have refused.
//! * **Odd requests.** An empty domain is INVALID_ARGUMENT; no descriptors is OK with no
//!   statuses; more than [`MAX_DESCRIPTORS`] (256) descriptors, or a descriptor with more
//!   than [`MAX_ENTRIES`] (64) entries, is INVALID_ARGUMENT naming the limit; a request
//!   larger than [`MAX_REQUEST_BYTES`] (256 KiB) is refused before it is read.
//!
//! ## The local store
//!
//! Without Redis the buckets live in process, read through a [`Clock`](sentinel_core::Clock)
//! (a `ManualClock` in tests), at most [`DEFAULT_MAX_KEYS`] of them unless
//! [`RateLimitServiceBuilder::max_keys`] says otherwise. When a new bucket finds the store
//! full, every bucket whose budget is full again is dropped (forgetting it changes
//! nothing). Eviction frees a batch of 1/64 of the store per pass, so its scan is paid
//! once per batch of new buckets: when too few budgets are full again, the rest of the
//! batch is taken among the least spent buckets that still have a token, and only then
//! among those with no token left (the least spent first). [`RlsStats::evictions`]
//! counts them.
//!
//! ## Several replicas: Redis
//!
//! With [`RateLimitServiceBuilder::redis`], every bucket is one GCRA arrival time in
//! Redis, run by the cluster rules' script on the Redis server's clock, under the key
//! `{<prefix length>:<prefix>:rls:<bucket>}:gcra`; replicas on the same Redis share the
//! limits. Each descriptor costs one script call (two when refunded; a failure partway
//! refunds, best effort, what the request had charged). `limit_remaining` is exact;
//! `duration_until_reset` is computed from it, so it is exact to within one token's
//! interval. On a Redis failure or timeout (the backend's request timeout, 20 ms by
//! default, below Envoy's own 20 ms call timeout) the answer is OK (fail-open, the default,
//! like Envoy's `failure_mode_deny: false`) with the limits, `limit_remaining` the
//! whole budget (nothing was counted) and no `duration_until_reset`, or `UNAVAILABLE`
//! with [`RateLimitServiceBuilder::fail_closed`]. A call that timed out may still have
//! been applied: a Redis that was only slow (say, under `CLIENT PAUSE`) runs the queued
//! script later, so tokens can be spent for a request that was answered fail-open.
//!
//! ## Envoy
//!
//! The HTTP filter (`envoy.filters.http.ratelimit`) needs `transport_api_version: V3`
//! and a cluster for this service with HTTP/2 (`envoy_grpc`); with
//! `enable_x_ratelimit_headers: DRAFT_VERSION_03` Envoy writes `x-ratelimit-limit`,
//! `-remaining` and `-reset` from the answer. See `GUIDE.md` for a whole configuration.

mod config;
pub mod proto;
mod service;
mod store;
mod watch;

pub use config::{ConfigError, Limit, MAX_REQUESTS_PER_SECOND, RlsConfig};
pub use service::{
    MAX_DESCRIPTORS, MAX_ENTRIES, MAX_REQUEST_BYTES, RateLimitService, RateLimitServiceBuilder,
    RlsStats,
};
pub use store::DEFAULT_MAX_KEYS;
pub use watch::{ConfigWatcher, RELOAD_DEBOUNCE};
