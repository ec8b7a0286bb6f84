//! The engine behind a `Sentinel` handle: the resource registry, the rule sets in force,
//! how they compile into each resource's check list, the admission path and the
//! per-second aggregation. Private: the facade (`Sentinel`, `Entry`, snapshots, the
//! Prometheus collector) reads it through the methods here.

pub(crate) mod admission;
mod aggregation;
mod name_index;
mod node;
mod registry;
mod rule_set;
mod rule_sets;
mod unmatched;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};

use parking_lot::Mutex;

pub(crate) use aggregation::Aggregator;
pub use aggregation::Totals;
pub(crate) use node::ResourceNode;
pub use registry::OVERFLOW_RESOURCE;
pub(crate) use registry::Registry;
pub(crate) use rule_sets::{KindSlot, RuleSets};
pub(crate) use unmatched::Unmatched;

use crate::circuit_breaker::{BreakerShared, EventHub};
use crate::clock::{Clock, RealClock};
use crate::cluster::ClusterHub;
use crate::metric_log::MetricLogConfig;
use crate::pipeline::{BuildEnv, Check, KindBuilder};
use crate::rules::{FieldError, InvalidRule, Rule, RuleSetError};
use crate::stat::StatNode;
use crate::system_metrics::SystemMetricsSource;
use rule_set::RuleSet;
use rule_sets::LoadNodes;
use unmatched::Watch;

/// A rule as reports name it: its kind, its place in the kind's set, its id.
pub(crate) type RuleRef = (&'static str, usize, String);

/// How an engine is built (from `SentinelBuilder`).
pub(crate) struct Settings {
    pub clock: Arc<dyn Clock>,
    /// The same clock when it is the default real clock (read without a virtual call on
    /// the admission path).
    pub real_clock: Option<RealClock>,
    pub system: Arc<dyn SystemMetricsSource>,
    pub max_resources: usize,
    pub stripes: usize,
    pub metric_log: Option<MetricLogConfig>,
    pub probe_timeout_ns: u64,
    /// How long a resource with rules may go without entries, while others have some,
    /// before its rules are reported as never applying (`u64::MAX`: never).
    pub unmatched_grace_ns: u64,
}

/// One instance's clock, resources, rules and statistics.
pub(crate) struct Engine {
    pub clock: Arc<dyn Clock>,
    /// `clock` itself when it is the default real clock: see [`Engine::now_nanos`].
    real_clock: Option<RealClock>,
    pub registry: Registry,
    pub inbound: StatNode,
    pub system: Arc<dyn SystemMetricsSource>,
    pub check_panics: AtomicU64,
    pub breaker_events: Arc<EventHub>,
    /// Whether blocks are counted by type for the life of each node (exporters ask).
    pub count_block_types: AtomicBool,
    pub aggregator: Aggregator,
    pub unmatched_grace_ns: u64,
    /// The leases of cluster rules, and the backend that fills them.
    pub cluster: Arc<ClusterHub>,
    rules: Mutex<RuleSets>,
    /// The resources that have rules, for the report of rules that never apply. Locked
    /// after `rules` when both are held.
    watch: Mutex<Watch>,
}

impl Engine {
    pub(crate) fn new(settings: Settings) -> Self {
        let breaker_events = Arc::new(EventHub::default());
        let breakers = BreakerShared {
            events: Arc::downgrade(&breaker_events),
            probe_timeout_ns: settings.probe_timeout_ns,
        };
        Engine {
            clock: settings.clock,
            real_clock: settings.real_clock,
            registry: Registry::new(settings.max_resources, settings.stripes),
            inbound: StatNode::new(settings.stripes),
            system: settings.system,
            check_panics: AtomicU64::new(0),
            breaker_events,
            count_block_types: AtomicBool::new(false),
            aggregator: Aggregator::new(settings.metric_log),
            unmatched_grace_ns: settings.unmatched_grace_ns,
            cluster: Arc::default(),
            rules: Mutex::new(RuleSets::new(breakers)),
            watch: Mutex::new(Watch::default()),
        }
    }

    /// Every resource's node with its index (the overflow node left out), for exporters.
    #[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
    pub(crate) fn resource_nodes(&self) -> Vec<(u32, &ResourceNode)> {
        self.registry
            .nodes()
            .filter(|(i, _)| *i != 0)
            .map(|(i, n)| (i as u32, n))
            .collect()
    }

    /// Starts what exporters read: blocks counted by type, and the per-second aggregation.
    #[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
    pub(crate) fn start_exporting(engine: &Arc<Engine>) {
        engine
            .count_block_types
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Aggregator::ensure_background(engine);
    }

    /// Reads the rule sets in force (never on the hot path).
    pub(crate) fn with_rules<R>(&self, f: impl FnOnce(&RuleSets) -> R) -> R {
        f(&self.rules.lock())
    }

    /// The instance clock's time: the default real clock is read in line (the admission
    /// path reads the clock twice per entry), any other through the `Clock` trait.
    #[inline(always)]
    pub(crate) fn now_nanos(&self) -> u64 {
        match &self.real_clock {
            Some(clock) => clock.now_nanos(),
            None => self.clock.now_nanos(),
        }
    }

    /// The node of a resource, created on first use.
    #[inline(always)]
    pub(crate) fn node_of(&self, name: &str) -> (u32, &ResourceNode) {
        if let Some(found) = self.registry.find(name) {
            return found;
        }
        let index = self.registry.create(name, &self.rules.lock(), false);
        (index, self.registry.node_or_overflow(index))
    }

    /// Validates and installs a set of one kind, then recompiles every resource whose
    /// checks may have changed.
    pub(crate) fn load<K: KindSlot>(&self, rules: Vec<K::Rule>) -> Result<(), RuleSetError> {
        let kind = <K::Rule as Rule>::KIND;
        if let Err(e) = RuleSet::<K>::validate(&rules) {
            tracing::warn!(kind, invalid = e.errors().len(), error = %e.one_line(), "rule set rejected");
            return Err(e);
        }
        let count = rules.len();
        let mut sets = self.rules.lock();
        self.reserve_nodes::<K>(&rules, &sets)?;
        let now_ns = self.clock.now_nanos();
        let env = BuildEnv {
            now_ns,
            system: self.system.as_ref(),
            inbound: &self.inbound,
            nodes: &LoadNodes {
                registry: &self.registry,
                sets: &sets,
            },
            cluster: &self.cluster,
        };
        let new_set = K::slot(&sets).rebuild(rules, &env);
        let slot = K::slot_mut(&mut sets);
        let mut affected: Vec<String> = slot.resources().map(str::to_string).collect();
        *slot = new_set;
        affected.extend(slot.resources().map(str::to_string));
        affected.sort();
        affected.dedup();
        if K::GLOBAL {
            self.recompile_all(&sets);
        } else {
            for name in &affected {
                if let Some(node) = self
                    .registry
                    .lookup(name)
                    .and_then(|i| self.registry.node(i))
                {
                    node.set_checks(sets.compile(name));
                }
            }
        }
        let ruled = sets
            .ruled_resources()
            .filter_map(|name| self.registry.lookup(name));
        self.watch.lock().sync(now_ns, ruled);
        tracing::debug!(kind, rules = count, "rules loaded");
        Ok(())
    }

    /// Gives every resource the rules name a node of its own before they load, so that a
    /// full resource table never leaves a ruled resource unchecked; refuses a set that
    /// would need more nodes than the table keeps for rule resources.
    fn reserve_nodes<K: KindBuilder>(
        &self,
        rules: &[K::Rule],
        sets: &RuleSets,
    ) -> Result<(), RuleSetError> {
        let kind = <K::Rule as Rule>::KIND;
        let mut missing: Vec<(usize, &K::Rule, &str)> = rules
            .iter()
            .enumerate()
            .flat_map(|(i, r)| [Some(r.resource()), r.ref_resource()].map(|n| (i, r, n)))
            .filter_map(|(i, r, name)| Some((i, r, name?)))
            .filter(|(_, _, name)| !name.is_empty() && self.registry.lookup(name).is_none())
            .collect();
        missing.sort_by_key(|(_, _, name)| *name);
        missing.dedup_by_key(|(_, _, name)| *name);
        let max = self.registry.max_resources();
        let room = (max * 2 + 1).saturating_sub(self.registry.count());
        if let Some((index, rule, _)) = missing.get(room) {
            let error = FieldError::new(
                "resource",
                format!(
                    "the set names {} resources not seen before, but only {room} more fit (raise SentinelBuilder::max_resources, now {max})",
                    missing.len(),
                ),
            );
            let e = RuleSetError::new(
                kind,
                vec![InvalidRule {
                    kind,
                    index: *index,
                    id: rule.id().to_string(),
                    resource: rule.resource().to_string(),
                    error,
                }],
            );
            tracing::warn!(kind, error = %e.one_line(), "rule set rejected");
            return Err(e);
        }
        for (_, _, name) in missing {
            self.registry.create(name, sets, true);
        }
        Ok(())
    }

    /// The resources whose rules have applied to no entry (see the `unmatched` module),
    /// each with its rules (kind, place in the kind's set, id), sorted by name.
    pub(crate) fn unmatched_rules(&self) -> Vec<(Unmatched, Arc<str>, Vec<RuleRef>)> {
        let sets = self.rules.lock();
        let found = self.watch.lock().unmatched(
            &self.registry,
            self.clock.now_nanos(),
            self.unmatched_grace_ns,
            false,
        );
        let mut out = self.with_rules_of(&sets, found);
        out.sort_by(|a, b| a.1.cmp(&b.1));
        out
    }

    /// Warns once about each resource whose rules have applied to no entry (run by the
    /// per-second aggregation, never on the hot path). Neither the rules nor the watch lock
    /// is held while the warnings are logged: a subscriber may enter resources or load rules.
    pub(crate) fn warn_unmatched(&self) {
        if self.unmatched_grace_ns == u64::MAX {
            return;
        }
        let now_ns = self.clock.now_nanos();
        let found =
            self.watch
                .lock()
                .unmatched(&self.registry, now_ns, self.unmatched_grace_ns, true);
        if found.is_empty() {
            return;
        }
        let found = self.with_rules_of(&self.rules.lock(), found);
        for (u, name, rules) in found {
            let rules: Vec<String> = rules
                .iter()
                .map(|(kind, index, id)| match id.as_str() {
                    "" => format!("{kind} rule {index}"),
                    id => format!("{kind} rule {index} (id {})", crate::text::Escaped(id)),
                })
                .collect();
            let closest: Vec<String> = unmatched::closest_entered(&self.registry, &name)
                .iter()
                .map(|n| crate::text::Escaped(n).to_string())
                .collect();
            tracing::warn!(
                resource = %crate::text::Escaped(&name),
                rules = %rules.join(", "),
                without_entries_s = now_ns.saturating_sub(u.since_ns) / 1_000_000_000,
                closest_entered = %closest.join(", "),
                "rules not applied yet: no entry has named their resource since they were \
                 loaded, while other resources had entries; if the resource is called rarely \
                 (a dependency of one route), this is expected; otherwise check its name \
                 (closest entered names in closest_entered) and where the middleware names \
                 resources"
            );
        }
    }

    /// Pairs unmatched resources with their names and rules (those that lost their rules
    /// since are left out).
    fn with_rules_of(
        &self,
        sets: &RuleSets,
        found: Vec<Unmatched>,
    ) -> Vec<(Unmatched, Arc<str>, Vec<RuleRef>)> {
        found
            .into_iter()
            .filter_map(|u| {
                let name = self.registry.node(u.node)?.name.clone();
                let rules = sets.rules_naming(&name);
                (!rules.is_empty()).then_some((u, name, rules))
            })
            .collect()
    }

    /// Adds a custom check to every resource's list.
    pub(crate) fn add_check(&self, check: Arc<dyn Check>) {
        let mut sets = self.rules.lock();
        sets.custom.push(check);
        self.recompile_all(&sets);
    }

    fn recompile_all(&self, sets: &RuleSets) {
        for (_, node) in self.registry.nodes() {
            node.set_checks(sets.compile(&node.name));
        }
    }
}
