//! The service: `ShouldRateLimit` over the configuration and a store, as a tonic
//! service.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwap;
use sentinel_core::{Clock, RealClock};
use tonic::Status;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic_prost::ProstCodec;

use super::config::{Limit, RlsConfig, Rule, check_rate, unit_length};
use super::proto::{
    Code, DescriptorStatus, Entry, RateLimit, RateLimitDescriptor, RateLimitRequest,
    RateLimitResponse, SHOULD_RATE_LIMIT, Unit,
};
use super::store::{Charge, DEFAULT_MAX_KEYS, LocalStore, Outcome, RedisStore};
use crate::RedisBackend;

/// The most descriptors one `ShouldRateLimit` request may carry; a request with more is
/// answered `INVALID_ARGUMENT`. Bounds the work (and memory) one request costs.
pub const MAX_DESCRIPTORS: usize = 256;

/// The most entries one descriptor may carry; more is `INVALID_ARGUMENT`.
pub const MAX_ENTRIES: usize = 64;

/// The largest `ShouldRateLimit` request accepted, in bytes (encoded); a larger one is
/// refused by gRPC (`OUT_OF_RANGE`) before it is decoded.
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// Configures a [`RateLimitService`].
#[must_use]
pub struct RateLimitServiceBuilder {
    config: RlsConfig,
    clock: Arc<dyn Clock>,
    max_keys: usize,
    redis: Option<RedisBackend>,
    fail_closed: bool,
}

impl std::fmt::Debug for RateLimitServiceBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitServiceBuilder")
            .field("max_keys", &self.max_keys)
            .field("redis", &self.redis)
            .field("fail_closed", &self.fail_closed)
            .finish_non_exhaustive()
    }
}

impl RateLimitServiceBuilder {
    /// The clock of the local store (default a [`RealClock`]); tests pass a
    /// [`ManualClock`](sentinel_core::ManualClock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The most buckets the local store keeps (default 100,000); see the
    /// [module docs](super#the-local-store).
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys;
        self
    }

    /// Keeps the buckets in Redis, shared by every replica using the same Redis and key
    /// prefix, instead of in process. Give the service a backend of its own (not one
    /// attached to a `Sentinel`, whose refills would queue with these calls); its request
    /// timeout bounds each Redis call.
    pub fn redis(mut self, backend: RedisBackend) -> Self {
        self.redis = Some(backend);
        self
    }

    /// On a Redis failure, answer `UNAVAILABLE` instead of OK (default: OK, fail-open).
    pub fn fail_closed(mut self, closed: bool) -> Self {
        self.fail_closed = closed;
        self
    }

    /// Builds the service.
    pub fn build(self) -> RateLimitService {
        let store = match self.redis {
            Some(backend) => Store::Redis(RedisStore { backend }),
            None => Store::Local(LocalStore::new(self.clock, self.max_keys)),
        };
        RateLimitService {
            inner: Arc::new(Inner {
                config: ArcSwap::from_pointee(self.config),
                store,
                fail_closed: self.fail_closed,
                stats: Counters::default(),
            }),
        }
    }
}

/// Envoy's `envoy.service.ratelimit.v3.RateLimitService`: answers `ShouldRateLimit`
/// from an [`RlsConfig`], with buckets in process or in Redis.
///
/// It is a tonic service: mount it on a tonic server with
/// `Server::builder().add_service(service)`. Cheap to clone (clones share everything).
#[derive(Clone)]
pub struct RateLimitService {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RateLimitService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitService")
            .field("store", &self.inner.store)
            .field("fail_closed", &self.inner.fail_closed)
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: ArcSwap<RlsConfig>,
    store: Store,
    fail_closed: bool,
    stats: Counters,
}

#[derive(Debug)]
enum Store {
    Local(LocalStore),
    Redis(RedisStore),
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    over_limit: AtomicU64,
    shadow_over_limit: AtomicU64,
    invalid: AtomicU64,
    redis_failures: AtomicU64,
    reloads: AtomicU64,
}

/// Counters of a [`RateLimitService`] since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RlsStats {
    /// `ShouldRateLimit` calls answered (OK, OVER_LIMIT or an error).
    pub requests: u64,
    /// Calls answered OVER_LIMIT.
    pub over_limit: u64,
    /// Descriptors over their limit in shadow mode (answered OK).
    pub shadow_over_limit: u64,
    /// Calls refused as invalid (an empty domain, a bad override).
    pub invalid: u64,
    /// Calls that met a Redis failure (answered OK when fail-open).
    pub redis_failures: u64,
    /// Configurations put in force after the first.
    pub reloads: u64,
    /// Buckets held by the local store (0 with Redis).
    pub keys: u64,
    /// Buckets the local store evicted to stay within its bound.
    pub evictions: u64,
}

impl RlsStats {
    /// The counters in the Prometheus text format (`sentinel_rls_*`).
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        for (name, kind, help, value) in [
            (
                "requests_total",
                "counter",
                "ShouldRateLimit calls answered",
                self.requests,
            ),
            (
                "over_limit_total",
                "counter",
                "Calls answered OVER_LIMIT",
                self.over_limit,
            ),
            (
                "shadow_over_limit_total",
                "counter",
                "Descriptors over their limit in shadow mode",
                self.shadow_over_limit,
            ),
            (
                "invalid_total",
                "counter",
                "Calls refused as invalid",
                self.invalid,
            ),
            (
                "redis_failures_total",
                "counter",
                "Calls that met a Redis failure",
                self.redis_failures,
            ),
            (
                "config_reloads_total",
                "counter",
                "Configurations put in force after the first",
                self.reloads,
            ),
            ("keys", "gauge", "Buckets in the local store", self.keys),
            (
                "evictions_total",
                "counter",
                "Buckets evicted from the local store",
                self.evictions,
            ),
        ] {
            let _ = writeln!(out, "# HELP sentinel_rls_{name} {help}.");
            let _ = writeln!(out, "# TYPE sentinel_rls_{name} {kind}");
            let _ = writeln!(out, "sentinel_rls_{name} {value}");
        }
        out
    }
}

impl RateLimitService {
    /// Starts configuring a service that enforces `config`.
    pub fn builder(config: RlsConfig) -> RateLimitServiceBuilder {
        RateLimitServiceBuilder {
            config,
            clock: Arc::new(RealClock::new()),
            max_keys: DEFAULT_MAX_KEYS,
            redis: None,
            fail_closed: false,
        }
    }

    /// Puts a new configuration in force for the next calls. Buckets are kept: a
    /// descriptor whose limit did not change keeps what it spent (one whose limit changed
    /// starts with a full budget, as buckets are per limit).
    pub fn set_config(&self, config: RlsConfig) {
        self.inner.config.store(Arc::new(config));
        self.inner.stats.reloads.fetch_add(1, Ordering::Relaxed);
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<RlsConfig> {
        self.inner.config.load_full()
    }

    /// The counters.
    pub fn stats(&self) -> RlsStats {
        let c = &self.inner.stats;
        let (keys, evictions) = match &self.inner.store {
            Store::Local(l) => (l.keys() as u64, l.evictions()),
            Store::Redis(_) => (0, 0),
        };
        RlsStats {
            requests: c.requests.load(Ordering::Relaxed),
            over_limit: c.over_limit.load(Ordering::Relaxed),
            shadow_over_limit: c.shadow_over_limit.load(Ordering::Relaxed),
            invalid: c.invalid.load(Ordering::Relaxed),
            redis_failures: c.redis_failures.load(Ordering::Relaxed),
            reloads: c.reloads.load(Ordering::Relaxed),
            keys,
            evictions,
        }
    }

    /// Answers one `ShouldRateLimit` call.
    ///
    /// # Errors
    /// `INVALID_ARGUMENT` for an empty domain, more than [`MAX_DESCRIPTORS`] descriptors,
    /// a descriptor with more than [`MAX_ENTRIES`] entries, or an override without a unit
    /// or requests;
    /// `UNAVAILABLE` on a Redis failure when fail-closed.
    pub async fn should_rate_limit(
        &self,
        request: RateLimitRequest,
    ) -> Result<RateLimitResponse, Status> {
        let stats = &self.inner.stats;
        stats.requests.fetch_add(1, Ordering::Relaxed);
        let answer = self.decide(&request).await;
        match &answer {
            Ok(r) if r.overall_code == Code::OverLimit as i32 => {
                stats.over_limit.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(s) if s.code() == tonic::Code::InvalidArgument => {
                stats.invalid.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {}
        }
        answer
    }

    async fn decide(&self, request: &RateLimitRequest) -> Result<RateLimitResponse, Status> {
        if request.domain.is_empty() {
            return Err(Status::invalid_argument("the domain is empty"));
        }
        if request.descriptors.len() > MAX_DESCRIPTORS {
            return Err(Status::invalid_argument(format!(
                "{} descriptors: at most {MAX_DESCRIPTORS} per request",
                request.descriptors.len()
            )));
        }
        if let Some((i, d)) = request
            .descriptors
            .iter()
            .enumerate()
            .find(|(_, d)| d.entries.len() > MAX_ENTRIES)
        {
            return Err(Status::invalid_argument(format!(
                "descriptors[{i}]: {} entries, at most {MAX_ENTRIES} per descriptor",
                d.entries.len()
            )));
        }
        let config = self.inner.config.load();
        let hits = match request.hits_addend {
            0 => 1,
            n => u64::from(n),
        };
        // The rule of each descriptor (None: OK without a limit), then the charges.
        let mut rules: Vec<Option<(Limit, bool)>> = Vec::with_capacity(request.descriptors.len());
        for (i, d) in request.descriptors.iter().enumerate() {
            rules.push(
                rule_of(&config, &request.domain, d).map_err(|m| {
                    Status::invalid_argument(format!("descriptors[{i}].limit: {m}"))
                })?,
            );
        }
        let charges: Vec<Charge<'_>> = rules
            .iter()
            .zip(&request.descriptors)
            .filter_map(|(rule, d)| {
                let (limit, shadow) = rule.as_ref()?;
                Some(Charge {
                    bucket: bucket_key(&request.domain, &d.entries, limit),
                    limit,
                    hits: d.hits_addend.unwrap_or(hits),
                    shadow: *shadow,
                })
            })
            .collect();
        let outcomes = match &self.inner.store {
            Store::Local(l) => Some(l.charge(&charges)),
            Store::Redis(r) => match r.charge(&charges).await {
                Ok(o) => Some(o),
                Err(e) => {
                    self.inner
                        .stats
                        .redis_failures
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, fail_closed = self.inner.fail_closed, "sentinel-rls: Redis failed");
                    if self.inner.fail_closed {
                        return Err(Status::unavailable(format!("rate limit store: {e}")));
                    }
                    None
                }
            },
        };
        let mut outcomes = outcomes.map(Vec::into_iter);
        let mut overall = Code::Ok;
        let statuses = rules
            .iter()
            .map(|rule| {
                let Some((limit, shadow)) = rule else {
                    return ok_without_limit();
                };
                let current_limit = Some(RateLimit {
                    requests_per_unit: limit.requests_per_unit,
                    unit: limit.unit as i32,
                    name: limit.name.clone(),
                });
                // Fail-open: no outcome, OK with the limit and its whole budget (nothing
                // was counted), without a reset.
                let Some(Outcome {
                    over,
                    remaining,
                    reset,
                }) = outcomes.as_mut().and_then(Iterator::next)
                else {
                    return DescriptorStatus {
                        code: Code::Ok as i32,
                        current_limit,
                        limit_remaining: limit.burst,
                        ..Default::default()
                    };
                };
                let code = match (over, shadow) {
                    (false, _) => Code::Ok,
                    (true, true) => {
                        self.inner
                            .stats
                            .shadow_over_limit
                            .fetch_add(1, Ordering::Relaxed);
                        Code::Ok
                    }
                    (true, false) => {
                        overall = Code::OverLimit;
                        Code::OverLimit
                    }
                };
                DescriptorStatus {
                    code: code as i32,
                    current_limit,
                    limit_remaining: remaining.min(u64::from(u32::MAX)) as u32,
                    duration_until_reset: Some(whole_seconds_up(reset).into()),
                }
            })
            .collect();
        if overall == Code::OverLimit {
            tracing::debug!(domain = %request.domain, "sentinel-rls: over limit");
        }
        Ok(RateLimitResponse {
            overall_code: overall as i32,
            statuses,
            ..Default::default()
        })
    }
}

/// `d` rounded up to whole seconds: Envoy keeps only the seconds of
/// `duration_until_reset` (for `x-ratelimit-reset`), so 0.3 s must read 1, not 0.
fn whole_seconds_up(d: Duration) -> Duration {
    let up = u64::from(d.subsec_nanos() > 0);
    Duration::from_secs(d.as_secs().saturating_add(up))
}

fn ok_without_limit() -> DescriptorStatus {
    DescriptorStatus {
        code: Code::Ok as i32,
        ..Default::default()
    }
}

/// The limit of one request descriptor and its shadow mode; `Ok(None)` when none applies
/// (unknown domain, no entries, unmatched, no limit on the path, unlimited).
fn rule_of(
    config: &RlsConfig,
    domain: &str,
    d: &RateLimitDescriptor,
) -> Result<Option<(Limit, bool)>, String> {
    // A bad override is refused whatever the domain, configured or not.
    let limit = d
        .limit
        .map(|o| {
            let unit = Unit::try_from(o.unit).unwrap_or(Unit::Unknown);
            if unit == Unit::Unknown || unit_length(unit).is_zero() {
                return Err(format!(
                    "unit {} is not SECOND, MINUTE, HOUR or DAY",
                    o.unit
                ));
            }
            if o.requests_per_unit == 0 {
                return Err("requests_per_unit is 0".into());
            }
            check_rate(o.requests_per_unit, unit)?;
            Ok(Limit {
                requests_per_unit: o.requests_per_unit,
                unit,
                burst: o.requests_per_unit,
                name: String::new(),
            })
        })
        .transpose()?;
    if d.entries.is_empty() || !config.has_domain(domain) {
        return Ok(None);
    }
    let node = config.find(domain, &d.entries);
    if let Some(limit) = limit {
        return Ok(Some((limit, node.is_some_and(|n| n.shadow))));
    }
    Ok(match node.and_then(|n| n.rule.as_ref()) {
        Some(Rule::Limited { limit, shadow }) => Some((limit.clone(), *shadow)),
        Some(Rule::Unlimited) | None => None,
    })
}

/// A bucket per domain, request entries and limit; every part is length-prefixed, so no
/// two different descriptors share a key whatever their values hold.
fn bucket_key(domain: &str, entries: &[Entry], limit: &Limit) -> String {
    let mut key = String::with_capacity(32 + domain.len());
    let _ = write!(key, "{}:{domain}", domain.len());
    for e in entries {
        let _ = write!(
            key,
            "|{}:{}{}:{}",
            e.key.len(),
            e.key,
            e.value.len(),
            e.value
        );
    }
    let _ = write!(
        key,
        "|{}/{}s/{}",
        limit.requests_per_unit,
        limit.unit_length().as_secs(),
        limit.burst
    );
    key
}

impl NamedService for RateLimitService {
    const NAME: &'static str = "envoy.service.ratelimit.v3.RateLimitService";
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl tower_service::Service<http::Request<Body>> for RateLimitService {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        if request.uri().path() != SHOULD_RATE_LIMIT {
            return Box::pin(async { Ok(Status::unimplemented("no such method").into_http()) });
        }
        let service = self.clone();
        let method = tower::service_fn(move |request: tonic::Request<RateLimitRequest>| {
            let service = service.clone();
            async move {
                service
                    .should_rate_limit(request.into_inner())
                    .await
                    .map(tonic::Response::new)
            }
        });
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(ProstCodec::<
                RateLimitResponse,
                RateLimitRequest,
            >::default())
            .max_decoding_message_size(MAX_REQUEST_BYTES);
            Ok(grpc.unary(method, request).await)
        })
    }
}
