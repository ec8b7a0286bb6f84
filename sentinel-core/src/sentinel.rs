//! The engine: one `Sentinel` instance owns its clock, its rules and its statistics.

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use crate::circuit_breaker::{
    CircuitBreakerKind, CircuitBreakerRule, State, StateChange, StateListener,
};
use crate::clock::{Clock, RealClock};
use crate::cluster::{ClusterBackend, ClusterHub};
pub use crate::engine::OVERFLOW_RESOURCE;
use crate::engine::admission::NodeKey;
use crate::engine::{Aggregator, Engine, KindSlot, Settings, Totals};
use crate::entry::{EntryBuilder, SentinelRef};
use crate::flow::{FlowKind, FlowRule};
use crate::hotspot::{HotspotKind, HotspotRule};
use crate::isolation::{IsolationKind, IsolationRule};
use crate::metric_log::{MetricLogConfig, SecondListener};
use crate::pipeline::Check;
use crate::rules::RuleSetError;
use crate::snapshot::{ClusterStatus, LeaseStatus, ResourceOverview, ResourceStats, UnmatchedRule};
use crate::stat::{Event, Span, VIEW, default_stripes};
use crate::system::{SystemKind, SystemRule};
use crate::system_metrics::{ProcessMetrics, SystemMetricsSource, SystemReading};

/// A Sentinel instance: clock, rules and statistics.
///
/// `Sentinel` is a cheap handle (`Clone`, `Send`, `Sync`); clones share one engine.
///
/// ```
/// use std::time::Duration;
/// use sentinel_core::{ManualClock, Sentinel};
/// use sentinel_core::flow::FlowRule;
///
/// let clock = ManualClock::new();
/// let sentinel = Sentinel::builder().clock(clock.clone()).build();
/// sentinel.load_flow_rules(vec![FlowRule {
///     resource: "GET /items".into(),
///     threshold: 2.0,
///     ..Default::default()
/// }])?;
/// assert!(sentinel.entry("GET /items").try_enter().is_ok());
/// assert!(sentinel.entry("GET /items").try_enter().is_ok());
/// assert!(sentinel.entry("GET /items").try_enter().is_err()); // third in one second
/// clock.advance(Duration::from_secs(1));
/// assert!(sentinel.entry("GET /items").try_enter().is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Sentinel {
    pub(crate) engine: Arc<Engine>,
}

impl std::fmt::Debug for Sentinel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sentinel")
            .field("clock", &self.engine.clock)
            .field("resources", &self.engine.registry.count())
            .finish()
    }
}

impl Default for Sentinel {
    fn default() -> Self {
        Self::new()
    }
}

/// Configures a [`Sentinel`].
#[must_use]
pub struct SentinelBuilder {
    clock: Option<Arc<dyn Clock>>,
    system: Option<Arc<dyn SystemMetricsSource>>,
    max_resources: usize,
    stripes: usize,
    metric_log: Option<MetricLogConfig>,
    probe_timeout: std::time::Duration,
    unmatched_rule_grace: std::time::Duration,
    cluster: Option<Arc<dyn ClusterBackend>>,
}

impl SentinelBuilder {
    /// Shares the limits of cluster flow rules (`clusterMode: true`) through `backend`
    /// (see [`cluster`](crate::cluster)); without one, cluster rules limit each instance
    /// alone at their fallback threshold.
    pub fn cluster_backend(mut self, backend: impl ClusterBackend) -> Self {
        self.cluster = Some(Arc::new(backend));
        self
    }

    /// Writes Sentinel's metric log (one line per resource per second, rolled by day and
    /// size) with a background thread; off unless set.
    pub fn metric_log(mut self, config: MetricLogConfig) -> Self {
        self.metric_log = Some(config);
        self
    }

    /// The instance's clock (default: [`RealClock`]).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Where system metrics (process memory, ...) come from (default: sampled from the
    /// operating system by a background thread, started when a rule first needs it).
    pub fn system_metrics(mut self, source: impl SystemMetricsSource) -> Self {
        self.system = Some(Arc::new(source));
        self
    }

    /// How long a half-open circuit breaker waits for a silent probe (default 60 s). A
    /// probe that runs long is still the round's probe: nobody else is admitted and its
    /// result decides. Only past this bound is it taken for leaked (a guard that is never
    /// dropped), and the round is given up so that the next caller may probe.
    pub fn probe_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.probe_timeout = timeout;
        self
    }

    /// How long a resource that rules name may go without a single entry, while entries of
    /// other resources come, before its rules are reported as not applied (default 5
    /// minutes of the instance clock: long enough for most routes and dependencies to be
    /// called once after a deploy; a resource called more rarely is reported too). Past it, the rules are listed by
    /// [`Sentinel::unmatched_rules`] and a `tracing` warning names the resource, its rules
    /// and the entered resource names closest to it, once. The check runs in the
    /// per-second aggregation, which a load of rules that name resources starts (a
    /// background thread, see [`Sentinel::flush_metrics`]). `Duration::MAX` turns the
    /// report off.
    pub fn unmatched_rule_grace(mut self, grace: std::time::Duration) -> Self {
        self.unmatched_rule_grace = grace;
        self
    }

    /// How many distinct resources get their own statistics and rules (default 10,000).
    /// Entries of further resources share an overflow node and are not checked, so a
    /// resource name built from unbounded input cannot exhaust memory. A resource that
    /// rules name always has a node of its own and is always checked: rule loads create
    /// nodes for their resources, in up to `n` more places kept for them.
    pub fn max_resources(mut self, n: usize) -> Self {
        self.max_resources = n.max(1);
        self
    }

    /// Counter stripes per resource (default: the machine's parallelism, 1 to 8). More
    /// stripes let more threads write one resource's statistics without contention.
    pub fn stat_stripes(mut self, n: usize) -> Self {
        self.stripes = n.clamp(1, 64);
        self
    }

    /// Builds the instance.
    pub fn build(self) -> Sentinel {
        let with_log = self.metric_log.is_some();
        let (clock, real_clock): (Arc<dyn Clock>, _) = match self.clock {
            Some(clock) => (clock, None),
            None => {
                let real = RealClock::new();
                (Arc::new(real.clone()), Some(real))
            }
        };
        let sentinel = Sentinel {
            engine: Arc::new(Engine::new(Settings {
                clock,
                real_clock,
                system: self
                    .system
                    .unwrap_or_else(|| Arc::new(ProcessMetrics::default())),
                max_resources: self.max_resources,
                stripes: self.stripes,
                metric_log: self.metric_log,
                probe_timeout_ns: self.probe_timeout.as_nanos().min(u64::MAX as u128) as u64,
                unmatched_grace_ns: self.unmatched_rule_grace.as_nanos().min(u64::MAX as u128)
                    as u64,
            })),
        };
        if with_log {
            Aggregator::ensure_background(&sentinel.engine);
        }
        if let Some(backend) = self.cluster {
            ClusterHub::attach(&sentinel.engine.cluster, backend);
        }
        sentinel
    }
}

impl std::fmt::Debug for SentinelBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentinelBuilder")
            .field("clock", &self.clock)
            .field("max_resources", &self.max_resources)
            .field("stripes", &self.stripes)
            .field("metric_log", &self.metric_log)
            .field("probe_timeout", &self.probe_timeout)
            .field("unmatched_rule_grace", &self.unmatched_rule_grace)
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

/// How many rules of each kind are in force.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleCounts {
    /// Flow rules.
    pub flow: usize,
    /// Isolation rules.
    pub isolation: usize,
    /// Circuit-breaker rules.
    pub circuit_breaker: usize,
    /// Hot-parameter rules.
    pub hotspot: usize,
    /// System rules.
    pub system: usize,
}

/// A resolved resource: entries made through it skip the name lookup.
///
/// ```
/// let s = sentinel_core::Sentinel::builder().build();
/// let items = s.resource("GET /items");
/// let e = items.entry().try_enter().unwrap();
/// drop(e);
/// ```
#[derive(Clone, Debug)]
pub struct Resource {
    sentinel: Sentinel,
    /// The node resolved when the handle was made; 0 (the overflow node) while the table
    /// was full, and then looked up by name again on every entry.
    index: u32,
    name: Arc<str>,
}

impl Resource {
    /// Starts an entry on this resource.
    #[inline]
    pub fn entry(&self) -> EntryBuilder<'_> {
        // A handle made while the table was full finds the resource's own node once rules
        // give it one.
        let key = match self.index {
            0 => NodeKey::Name(&self.name),
            index => NodeKey::Node(index),
        };
        EntryBuilder::new(SentinelRef::Borrowed(&self.sentinel), key)
    }

    /// The resource name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Sentinel {
    /// An instance with the real clock and default settings.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Starts configuring an instance.
    pub fn builder() -> SentinelBuilder {
        SentinelBuilder {
            clock: None,
            system: None,
            max_resources: 10_000,
            stripes: default_stripes(),
            metric_log: None,
            probe_timeout: std::time::Duration::from_secs(60),
            unmatched_rule_grace: std::time::Duration::from_secs(300),
            cluster: None,
        }
    }

    /// Attaches a cluster backend (replacing any other); see
    /// [`SentinelBuilder::cluster_backend`]. The leases of cluster rules in force take the
    /// backend's state at once.
    pub fn attach_cluster(&self, backend: impl ClusterBackend) {
        ClusterHub::attach(&self.engine.cluster, Arc::new(backend));
    }

    /// The cluster backend's state and the leases of the cluster rules in force; `None`
    /// when there is neither a backend nor a cluster rule.
    pub fn cluster_status(&self) -> Option<ClusterStatus> {
        let (backend, leases) = self.engine.cluster.overview();
        (backend.is_some() || !leases.is_empty()).then(|| ClusterStatus {
            backend,
            leases: leases
                .iter()
                .map(|l| LeaseStatus {
                    flow_id: l.flow_id().to_string(),
                    state: l.state(),
                    live_instances: l.live_instances(),
                })
                .collect(),
        })
    }

    /// Starts an entry on `resource`.
    #[inline]
    pub fn entry<'a>(&'a self, resource: &'a str) -> EntryBuilder<'a> {
        EntryBuilder::new(SentinelRef::Borrowed(self), NodeKey::Name(resource))
    }

    /// Starts an entry that holds its own handle on the instance (its guard is
    /// `'static`, for futures and spawned tasks).
    pub fn entry_owned<'a>(&self, resource: &'a str) -> EntryBuilder<'a> {
        EntryBuilder::new(SentinelRef::Owned(self.clone()), NodeKey::Name(resource))
    }

    /// Resolves a resource once, for entries that skip the name lookup.
    pub fn resource(&self, name: &str) -> Resource {
        Resource {
            sentinel: self.clone(),
            index: self.engine.node_of(name).0,
            name: name.into(),
        }
    }

    /// The instance's clock.
    pub fn clock(&self) -> &dyn Clock {
        self.engine.clock.as_ref()
    }

    /// Loads a set of one kind; a set that names resources starts the per-second
    /// aggregation, which reports rules that never apply.
    fn load<K: KindSlot>(&self, rules: Vec<K::Rule>) -> Result<(), RuleSetError> {
        let names_resources = !K::GLOBAL && !rules.is_empty();
        self.engine.load::<K>(rules)?;
        if names_resources && self.engine.unmatched_grace_ns != u64::MAX {
            Aggregator::ensure_background(&self.engine);
        }
        Ok(())
    }

    /// Replaces all flow rules. The set is validated as a whole: if any rule is invalid,
    /// nothing changes and the error names every invalid rule. Rules equal to rules in
    /// force keep their state (warm-up tokens, pacing).
    pub fn load_flow_rules(&self, rules: Vec<FlowRule>) -> Result<(), RuleSetError> {
        self.load::<FlowKind>(rules)
    }

    /// The flow rules in force.
    pub fn flow_rules(&self) -> Vec<FlowRule> {
        self.engine.with_rules(|sets| sets.flow.rules().to_vec())
    }

    /// Replaces all isolation (concurrency) rules; see [`Sentinel::load_flow_rules`].
    pub fn load_isolation_rules(&self, rules: Vec<IsolationRule>) -> Result<(), RuleSetError> {
        self.load::<IsolationKind>(rules)
    }

    /// The isolation rules in force.
    pub fn isolation_rules(&self) -> Vec<IsolationRule> {
        self.engine
            .with_rules(|sets| sets.isolation.rules().to_vec())
    }

    /// Replaces all system rules; see [`Sentinel::load_flow_rules`]. System rules guard
    /// every resource's inbound entries.
    pub fn load_system_rules(&self, rules: Vec<SystemRule>) -> Result<(), RuleSetError> {
        self.load::<SystemKind>(rules)
    }

    /// The system rules in force.
    pub fn system_rules(&self) -> Vec<SystemRule> {
        self.engine.with_rules(|sets| sets.system.rules().to_vec())
    }

    /// Replaces all hot-parameter rules; see [`Sentinel::load_flow_rules`]. Rules equal to
    /// rules in force keep their per-value state.
    pub fn load_hotspot_rules(&self, rules: Vec<HotspotRule>) -> Result<(), RuleSetError> {
        self.load::<HotspotKind>(rules)
    }

    /// The hot-parameter rules in force.
    pub fn hotspot_rules(&self) -> Vec<HotspotRule> {
        self.engine.with_rules(|sets| sets.hotspot.rules().to_vec())
    }

    /// How many values each hot-parameter rule of `resource` tracks now, in rule order.
    pub fn hotspot_tracked_values(&self, resource: &str) -> Vec<usize> {
        self.engine.with_rules(|sets| {
            sets.hotspot
                .states_for(resource)
                .iter()
                .map(|h| h.tracked_values())
                .collect()
        })
    }

    /// Replaces all circuit-breaker rules; see [`Sentinel::load_flow_rules`]. Breakers of
    /// rules equal to rules in force keep their state; listeners are told about breakers
    /// whose rules were removed.
    pub fn load_circuit_breaker_rules(
        &self,
        rules: Vec<CircuitBreakerRule>,
    ) -> Result<(), RuleSetError> {
        self.load::<CircuitBreakerKind>(rules)
    }

    /// The circuit-breaker rules in force.
    pub fn circuit_breaker_rules(&self) -> Vec<CircuitBreakerRule> {
        self.engine
            .with_rules(|sets| sets.circuit_breaker.rules().to_vec())
    }

    /// The state of every breaker of `resource`, in rule order.
    pub fn circuit_breaker_states(&self, resource: &str) -> Vec<State> {
        self.engine.with_rules(|sets| {
            sets.circuit_breaker
                .states_for(resource)
                .iter()
                .map(|b| b.state())
                .collect()
        })
    }

    /// Calls `f` on every breaker state change (on a dispatcher thread, in order).
    ///
    /// ```
    /// let s = sentinel_core::Sentinel::builder().build();
    /// s.on_circuit_breaker_state_change(|c| println!("{} {:?} -> {:?}", c.resource, c.from, c.to));
    /// ```
    pub fn on_circuit_breaker_state_change(
        &self,
        f: impl Fn(&StateChange) + Send + Sync + 'static,
    ) {
        self.add_circuit_breaker_listener(Arc::new(f));
    }

    /// Registers a listener for breaker state changes and removals.
    pub fn add_circuit_breaker_listener(&self, listener: Arc<dyn StateListener>) {
        self.engine.breaker_events.add_listener(listener);
    }

    /// Adds a custom check to the pipeline of every resource, at its
    /// [`order`](Check::order).
    pub fn add_check(&self, check: Arc<dyn Check>) {
        self.engine.add_check(check);
    }

    /// Processes every complete second not processed yet: lifetime totals for exporters,
    /// the metric log, and the warning about rules that never apply
    /// ([`Sentinel::unmatched_rules`]). A background thread does this once a second when
    /// the metric log or an exporter is enabled, or once rules that name resources are
    /// loaded; call it to be up to date now (tests with a manual clock do).
    pub fn flush_metrics(&self) {
        self.engine.aggregator.tick(&self.engine);
    }

    /// Hands every processed second's figures to `listener` from now on (a dashboard's
    /// history, say), and starts the once-a-second background aggregation. Costs nothing
    /// on the admission path: the listener reads what the aggregation computes anyway.
    /// The instance holds the listener weakly: it is called while someone else holds it,
    /// and forgotten once its last `Arc` is dropped.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use sentinel_core::metric_log::{SecondFigures, SecondListener};
    /// use sentinel_core::{ManualClock, Sentinel};
    ///
    /// #[derive(Default)]
    /// struct Passes(Mutex<Vec<(u64, u64)>>);
    /// impl SecondListener for Passes {
    ///     fn on_second(&self, second: &SecondFigures<'_>) {
    ///         let pass = second.resources.iter().map(|l| l.pass_qps).sum();
    ///         self.0.lock().unwrap().push((second.unix_ms, pass));
    ///     }
    /// }
    ///
    /// let clock = ManualClock::with_epoch_unix_ms(1_700_000_000_000);
    /// let sentinel = Sentinel::builder().clock(clock.clone()).build();
    /// let passes = Arc::new(Passes::default());
    /// sentinel.add_second_listener(passes.clone());
    /// drop(sentinel.entry("report").try_enter());
    /// clock.advance(Duration::from_secs(1));
    /// sentinel.flush_metrics();
    /// assert_eq!(*passes.0.lock().unwrap(), [(1_700_000_000_000, 1)]);
    /// ```
    pub fn add_second_listener(&self, listener: Arc<dyn SecondListener>) {
        self.engine.aggregator.add_listener(&listener);
        Aggregator::ensure_background(&self.engine);
    }

    /// What the instance's system metrics source has measured (CPU usage, load, RSS): the
    /// figures system rules check; `None` for what it has not measured yet.
    pub fn system_reading(&self) -> SystemReading {
        self.engine.system.reading()
    }

    /// How many rules of each kind are in force (cheap: nothing is copied).
    pub fn rule_counts(&self) -> RuleCounts {
        self.engine.with_rules(|sets| RuleCounts {
            flow: sets.flow.len(),
            isolation: sets.isolation.len(),
            circuit_breaker: sets.circuit_breaker.len(),
            hotspot: sets.hotspot.len(),
            system: sets.system.len(),
        })
    }

    /// Lifetime totals of a resource, as of the last processed second (see
    /// [`Sentinel::flush_metrics`]); `None` if it was never entered.
    pub fn resource_totals(&self, resource: &str) -> Option<Totals> {
        let i = self.engine.registry.lookup(resource)?;
        Some(self.engine.aggregator.totals(i))
    }

    /// Lifetime totals of all inbound traffic, as of the last processed second.
    pub fn inbound_totals(&self) -> Totals {
        self.engine.aggregator.inbound_totals()
    }

    /// Seconds the metric log failed to write (each failure is also logged).
    pub fn metric_log_failures(&self) -> u64 {
        self.engine.aggregator.log_failures()
    }

    /// How many times a check panicked (each time, the check failed open).
    pub fn check_panics(&self) -> u64 {
        self.engine.check_panics.load(Ordering::Relaxed)
    }

    /// Figures of a resource over the 1 s view that rules check (the current bucket and
    /// the nine before it), `None` if the resource was never entered.
    pub fn resource_stats(&self, resource: &str) -> Option<ResourceStats> {
        self.stats_of(resource, Span::recent(self.engine.clock.now_nanos(), VIEW))
    }

    /// Figures of a resource over the last complete second of the clock, `None` if the
    /// resource was never entered. Steadier than [`Sentinel::resource_stats`] for display.
    pub fn last_second_stats(&self, resource: &str) -> Option<ResourceStats> {
        self.stats_of(resource, Span::last_second(self.engine.clock.now_nanos()))
    }

    fn stats_of(&self, resource: &str, span: Span) -> Option<ResourceStats> {
        let i = self.engine.registry.lookup(resource)?;
        let node = self.engine.registry.node(i)?;
        Some(ResourceStats::read(&node.name, &node.stats, span))
    }

    /// Figures of all inbound traffic over the 1 s view.
    pub fn inbound_stats(&self) -> ResourceStats {
        let span = Span::recent(self.engine.clock.now_nanos(), VIEW);
        ResourceStats::read("__inbound__", &self.engine.inbound, span)
    }

    /// The rules that have applied to no entry: no entry has named their resource since
    /// it got its rules, for longer than the grace period
    /// ([`SentinelBuilder::unmatched_rule_grace`], default 5 minutes), while entries of other
    /// resources came. Sorted by resource, then in pipeline order (flow, isolation,
    /// hotspot, circuit breaker). Entries count whether admitted or blocked. Without any
    /// traffic nothing is listed: an idle service tells nothing about its names.
    ///
    /// The grace period of a resource starts with the load that gives it its first rule
    /// (of any kind) and holds while it keeps at least one: reloading, changing or adding
    /// rules for it neither restarts the period nor repeats the warning. A resource whose
    /// last rule is removed is forgotten; rules that name it later start a new period.
    /// Entry times are kept to about a second, and an entry in the second of a load counts
    /// as after it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sentinel_core::{ManualClock, Sentinel};
    /// use sentinel_core::flow::FlowRule;
    ///
    /// let clock = ManualClock::new();
    /// let sentinel = Sentinel::builder().clock(clock.clone()).build();
    /// sentinel.load_flow_rules(vec![FlowRule {
    ///     id: "order-limit".into(),
    ///     resource: "POST /order".into(), // the route is POST /orders
    ///     threshold: 10.0,
    ///     ..Default::default()
    /// }])?;
    /// drop(sentinel.entry("POST /orders").try_enter());
    /// clock.advance(Duration::from_secs(299));
    /// assert!(sentinel.unmatched_rules().is_empty()); // the grace period: 5 minutes
    /// clock.advance(Duration::from_secs(1));
    /// let unmatched = sentinel.unmatched_rules();
    /// assert_eq!((unmatched[0].kind, unmatched[0].id.as_str()), ("flow", "order-limit"));
    /// assert_eq!(unmatched[0].resource, "POST /order");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unmatched_rules(&self) -> Vec<UnmatchedRule> {
        let epoch = std::time::UNIX_EPOCH
            + std::time::Duration::from_millis(self.engine.clock.epoch_unix_ms());
        self.engine
            .unmatched_rules()
            .into_iter()
            .flat_map(|(u, name, rules)| {
                let since = epoch + std::time::Duration::from_nanos(u.since_ns);
                rules
                    .into_iter()
                    .map(move |(kind, index, id)| UnmatchedRule {
                        kind,
                        index,
                        id,
                        resource: name.to_string(),
                        since,
                    })
            })
            .collect()
    }

    /// Every resource entered so far (or named by a rule), sorted by name, with its figures
    /// for the last complete second and the rules that guard it: a dashboard's listing.
    pub fn resources(&self) -> Vec<ResourceOverview> {
        let span = Span::last_second(self.engine.clock.now_nanos());
        let mut v: Vec<ResourceOverview> = self.engine.with_rules(|sets| {
            self.engine
                .registry
                .nodes()
                .filter(|(i, _)| *i != 0)
                .map(|(_, n)| {
                    let breakers = sets.circuit_breaker.states_for(&n.name);
                    ResourceOverview {
                        stats: ResourceStats::read(&n.name, &n.stats, span),
                        flow: sets.flow.rules_for(&n.name),
                        isolation: sets.isolation.rules_for(&n.name),
                        hotspot: sets.hotspot.rules_for(&n.name),
                        circuit_breakers: sets
                            .circuit_breaker
                            .rules_for(&n.name)
                            .into_iter()
                            .zip(breakers.iter().map(|b| b.state()))
                            .collect(),
                    }
                })
                .collect()
        });
        v.sort_by(|a, b| a.stats.resource.cmp(&b.stats.resource));
        v
    }

    /// Current figures of every resource entered so far, sorted by name.
    pub fn all_resource_stats(&self) -> Vec<ResourceStats> {
        let span = Span::recent(self.engine.clock.now_nanos(), VIEW);
        let mut v: Vec<ResourceStats> = self
            .engine
            .registry
            .nodes()
            .filter(|(i, n)| *i != 0 || n.stats.sum_span(Event::Pass, span) > 0)
            .map(|(_, n)| ResourceStats::read(&n.name, &n.stats, span))
            .collect();
        v.sort_by(|a, b| a.resource.cmp(&b.resource));
        v
    }
}

static GLOBAL: OnceLock<Sentinel> = OnceLock::new();

/// The process-wide default instance (real clock, default settings), created on first use.
///
/// A convenience for code written in Sentinel's classic global style; libraries and tests
/// should prefer their own instances.
///
/// ```
/// let e = sentinel_core::global().entry("report").try_enter().unwrap();
/// drop(e);
/// ```
pub fn global() -> &'static Sentinel {
    GLOBAL.get_or_init(Sentinel::new)
}

/// Starts an entry on the [`global`] instance.
pub fn entry(resource: &str) -> EntryBuilder<'_> {
    global().entry(resource)
}

/// Replaces the flow rules of the [`global`] instance.
pub fn load_flow_rules(rules: Vec<FlowRule>) -> Result<(), RuleSetError> {
    global().load_flow_rules(rules)
}

/// Replaces the isolation rules of the [`global`] instance.
pub fn load_isolation_rules(rules: Vec<IsolationRule>) -> Result<(), RuleSetError> {
    global().load_isolation_rules(rules)
}

/// Replaces the circuit-breaker rules of the [`global`] instance.
pub fn load_circuit_breaker_rules(rules: Vec<CircuitBreakerRule>) -> Result<(), RuleSetError> {
    global().load_circuit_breaker_rules(rules)
}

/// Replaces the hot-parameter rules of the [`global`] instance.
pub fn load_hotspot_rules(rules: Vec<HotspotRule>) -> Result<(), RuleSetError> {
    global().load_hotspot_rules(rules)
}

/// Replaces the system rules of the [`global`] instance.
pub fn load_system_rules(rules: Vec<SystemRule>) -> Result<(), RuleSetError> {
    global().load_system_rules(rules)
}
