//! The engine: one `Sentinel` instance owns its clock, its rules and its statistics.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use crate::circuit_breaker::{
    CircuitBreakerKind, CircuitBreakerRule, EventHub, State, StateChange, StateListener,
};
use crate::clock::{Clock, RealClock};
pub use crate::engine::OVERFLOW_RESOURCE;
pub(crate) use crate::engine::{BuildEnv, Inner, Registry, RuleSets};
use crate::entry::{EntryBuilder, ResourceKey, SentinelRef};
use crate::flow::{FlowKind, FlowRule};
use crate::hotspot::{HotspotKind, HotspotRule};
use crate::isolation::{IsolationKind, IsolationRule};
use crate::metric_log::MetricLogConfig;
use crate::name_index::NameIndex;
use crate::observe::{Observer, Totals};
use crate::pipeline::{Check, Compiled};
pub(crate) use crate::resource_node::ResourceNode;
use crate::rules::RuleSetError;
use crate::stat::{Event, Span, StatNode, VIEW, default_stripes};
use crate::stats::{ResourceOverview, ResourceStats};
use crate::system::{ProcessMetrics, SystemKind, SystemMetricsSource, SystemRule};

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
/// clock.advance(Duration::from_millis(1100)); // no 1 s span holds the first two now
/// assert!(sentinel.entry("GET /items").try_enter().is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Sentinel {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Sentinel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sentinel")
            .field("clock", &self.inner.clock)
            .field("resources", &self.inner.registry.nodes.count())
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
}

impl SentinelBuilder {
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
        let nodes = boxcar::Vec::new();
        nodes.push(ResourceNode::new(
            OVERFLOW_RESOURCE.into(),
            self.stripes,
            Compiled::default(),
        ));
        let index = NameIndex::new(self.max_resources * 2 + 2);
        index.insert(OVERFLOW_RESOURCE, 0);
        let sentinel = Sentinel {
            inner: Arc::new(Inner {
                clock: self.clock.unwrap_or_else(|| Arc::new(RealClock::new())),
                registry: Registry {
                    index,
                    nodes,
                    max_resources: self.max_resources,
                    stripes: self.stripes,
                },
                inbound: StatNode::new(self.stripes),
                system: self
                    .system
                    .unwrap_or_else(|| Arc::new(ProcessMetrics::default())),
                check_panics: AtomicU64::new(0),
                probe_timeout_ns: self.probe_timeout.as_nanos().min(u64::MAX as u128) as u64,
                breaker_events: Arc::new(EventHub::default()),
                count_block_types: AtomicBool::new(false),
                observer: Observer::new(self.metric_log),
                rules: Mutex::new(RuleSets::default()),
            }),
        };
        if with_log {
            Observer::ensure_background(&sentinel.inner);
        }
        sentinel
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
    index: u32,
}

impl Resource {
    /// Starts an entry on this resource.
    pub fn entry(&self) -> EntryBuilder<'_> {
        EntryBuilder::new(
            SentinelRef::Borrowed(&self.sentinel),
            ResourceKey::Node(self.index),
        )
    }

    /// The resource name.
    pub fn name(&self) -> &str {
        &self
            .sentinel
            .inner
            .registry
            .node_or_overflow(self.index)
            .name
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
        }
    }

    /// Starts an entry on `resource`.
    pub fn entry<'a>(&'a self, resource: &'a str) -> EntryBuilder<'a> {
        EntryBuilder::new(SentinelRef::Borrowed(self), ResourceKey::Name(resource))
    }

    /// Starts an entry that holds its own handle on the instance (its guard is
    /// `'static`, for futures and spawned tasks).
    pub fn entry_owned<'a>(&self, resource: &'a str) -> EntryBuilder<'a> {
        EntryBuilder::new(
            SentinelRef::Owned(self.clone()),
            ResourceKey::Name(resource),
        )
    }

    /// Resolves a resource once, for entries that skip the name lookup.
    pub fn resource(&self, name: &str) -> Resource {
        Resource {
            sentinel: self.clone(),
            index: self.inner.registry_node(name).0,
        }
    }

    /// The instance's clock.
    pub fn clock(&self) -> &dyn Clock {
        self.inner.clock.as_ref()
    }

    /// Replaces all flow rules. The set is validated as a whole: if any rule is invalid,
    /// nothing changes and the error names every invalid rule. Rules equal to rules in
    /// force keep their state (warm-up tokens, pacing).
    pub fn load_flow_rules(&self, rules: Vec<FlowRule>) -> Result<(), RuleSetError> {
        self.inner.load::<FlowKind>(rules)
    }

    /// The flow rules in force.
    pub fn flow_rules(&self) -> Vec<FlowRule> {
        self.inner.rules.lock().flow.rules().to_vec()
    }

    /// Replaces all isolation (concurrency) rules; see [`Sentinel::load_flow_rules`].
    pub fn load_isolation_rules(&self, rules: Vec<IsolationRule>) -> Result<(), RuleSetError> {
        self.inner.load::<IsolationKind>(rules)
    }

    /// The isolation rules in force.
    pub fn isolation_rules(&self) -> Vec<IsolationRule> {
        self.inner.rules.lock().isolation.rules().to_vec()
    }

    /// Replaces all system rules; see [`Sentinel::load_flow_rules`]. System rules guard
    /// every resource's inbound entries.
    pub fn load_system_rules(&self, rules: Vec<SystemRule>) -> Result<(), RuleSetError> {
        self.inner.load::<SystemKind>(rules)
    }

    /// The system rules in force.
    pub fn system_rules(&self) -> Vec<SystemRule> {
        self.inner.rules.lock().system.rules().to_vec()
    }

    /// Replaces all hot-parameter rules; see [`Sentinel::load_flow_rules`]. Rules equal to
    /// rules in force keep their per-value state.
    pub fn load_hotspot_rules(&self, rules: Vec<HotspotRule>) -> Result<(), RuleSetError> {
        self.inner.load::<HotspotKind>(rules)
    }

    /// The hot-parameter rules in force.
    pub fn hotspot_rules(&self) -> Vec<HotspotRule> {
        self.inner.rules.lock().hotspot.rules().to_vec()
    }

    /// How many values each hot-parameter rule of `resource` tracks now, in rule order.
    pub fn hotspot_tracked_values(&self, resource: &str) -> Vec<usize> {
        let states = self.inner.rules.lock().hotspot.states_for(resource);
        states.iter().map(|h| h.tracked_values()).collect()
    }

    /// Replaces all circuit-breaker rules; see [`Sentinel::load_flow_rules`]. Breakers of
    /// rules equal to rules in force keep their state; listeners are told about breakers
    /// whose rules were removed.
    pub fn load_circuit_breaker_rules(
        &self,
        rules: Vec<CircuitBreakerRule>,
    ) -> Result<(), RuleSetError> {
        self.inner.load::<CircuitBreakerKind>(rules)
    }

    /// The circuit-breaker rules in force.
    pub fn circuit_breaker_rules(&self) -> Vec<CircuitBreakerRule> {
        self.inner.rules.lock().circuit_breaker.rules().to_vec()
    }

    /// The state of every breaker of `resource`, in rule order.
    pub fn circuit_breaker_states(&self, resource: &str) -> Vec<State> {
        self.inner
            .rules
            .lock()
            .circuit_breaker
            .states_for(resource)
            .iter()
            .map(|b| b.state())
            .collect()
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
        self.inner.breaker_events.add_listener(listener);
    }

    /// Adds a custom check to the pipeline of every resource, at its
    /// [`order`](Check::order).
    pub fn add_check(&self, check: Arc<dyn Check>) {
        let mut sets = self.inner.rules.lock();
        sets.custom.push(check);
        self.inner.recompile_all(&sets);
    }

    /// Processes every complete second not processed yet: lifetime totals for exporters and
    /// the metric log. A background thread does this once a second when the metric log or
    /// an exporter is enabled; call it to be up to date now (tests with a manual clock do).
    pub fn flush_metrics(&self) {
        self.inner.observer.tick(&self.inner);
    }

    /// How many rules of each kind are in force (cheap: nothing is copied).
    pub fn rule_counts(&self) -> RuleCounts {
        let sets = self.inner.rules.lock();
        RuleCounts {
            flow: sets.flow.len(),
            isolation: sets.isolation.len(),
            circuit_breaker: sets.circuit_breaker.len(),
            hotspot: sets.hotspot.len(),
            system: sets.system.len(),
        }
    }

    /// Lifetime totals of a resource, as of the last processed second (see
    /// [`Sentinel::flush_metrics`]); `None` if it was never entered.
    pub fn resource_totals(&self, resource: &str) -> Option<Totals> {
        let i = self.inner.registry.lookup(resource)?;
        Some(self.inner.observer.totals(i))
    }

    /// Lifetime totals of all inbound traffic, as of the last processed second.
    pub fn inbound_totals(&self) -> Totals {
        self.inner.observer.inbound_totals()
    }

    /// Seconds the metric log failed to write (each failure is also logged).
    pub fn metric_log_failures(&self) -> u64 {
        self.inner.observer.log_failures()
    }

    /// How many times a check panicked (each time, the check failed open).
    pub fn check_panics(&self) -> u64 {
        self.inner.check_panics.load(Ordering::Relaxed)
    }

    /// Figures of a resource over the 1 s view that rules check (the current bucket and
    /// the nine before it), `None` if the resource was never entered.
    pub fn resource_stats(&self, resource: &str) -> Option<ResourceStats> {
        self.stats_of(resource, Span::recent(self.inner.clock.now_nanos(), VIEW))
    }

    /// Figures of a resource over the last complete second of the clock, `None` if the
    /// resource was never entered. Steadier than [`Sentinel::resource_stats`] for display.
    pub fn last_second_stats(&self, resource: &str) -> Option<ResourceStats> {
        self.stats_of(resource, Span::last_second(self.inner.clock.now_nanos()))
    }

    fn stats_of(&self, resource: &str, span: Span) -> Option<ResourceStats> {
        let i = self.inner.registry.lookup(resource)?;
        let node = self.inner.registry.node(i)?;
        Some(ResourceStats::read(&node.name, &node.stats, span))
    }

    /// Figures of all inbound traffic over the 1 s view.
    pub fn inbound_stats(&self) -> ResourceStats {
        let span = Span::recent(self.inner.clock.now_nanos(), VIEW);
        ResourceStats::read("__inbound__", &self.inner.inbound, span)
    }

    /// Every resource entered so far (or named by a rule), sorted by name, with its figures
    /// for the last complete second and the rules that guard it: a dashboard's listing.
    pub fn resources(&self) -> Vec<ResourceOverview> {
        let span = Span::last_second(self.inner.clock.now_nanos());
        let sets = self.inner.rules.lock();
        let mut v: Vec<ResourceOverview> = self
            .inner
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
            .collect();
        v.sort_by(|a, b| a.stats.resource.cmp(&b.stats.resource));
        v
    }

    /// Current figures of every resource entered so far, sorted by name.
    pub fn all_resource_stats(&self) -> Vec<ResourceStats> {
        let span = Span::recent(self.inner.clock.now_nanos(), VIEW);
        let mut v: Vec<ResourceStats> = self
            .inner
            .registry
            .nodes
            .iter()
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
