//! The engine behind a `Sentinel` handle: the resource registry, the rule sets in force and
//! how they compile into each resource's check list.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};

use parking_lot::Mutex;

use crate::circuit_breaker::{CircuitBreakerKind, EventHub};
use crate::clock::Clock;
use crate::flow::FlowKind;
use crate::hotspot::HotspotKind;
use crate::isolation::IsolationKind;
use crate::name_index::NameIndex;
use crate::observe::Observer;
use crate::pipeline::{Check, Compiled};
pub(crate) use crate::resource_node::ResourceNode;
use crate::rules::RuleSetError;
use crate::rules::set::{RuleKind, RuleSet};
use crate::stat::StatNode;
use crate::system::{SystemKind, SystemMetricsSource};

/// Name of the node that takes the entries of resources beyond the resource limit.
pub const OVERFLOW_RESOURCE: &str = "__sentinel_overflow__";

/// Resource nodes: an append-only arena (nodes live as long as the instance, so guards can
/// refer to them by index without reference counting) and a name index swapped on insert.
pub(crate) struct Registry {
    pub(crate) index: NameIndex,
    pub(crate) nodes: boxcar::Vec<ResourceNode>,
    pub(crate) max_resources: usize,
    pub(crate) stripes: usize,
}

impl Registry {
    #[inline]
    pub fn lookup(&self, name: &str) -> Option<u32> {
        self.index.find(name, |i| &self.nodes[i as usize].name)
    }

    /// Every node with its index.
    pub fn nodes(&self) -> impl Iterator<Item = (usize, &ResourceNode)> {
        self.nodes.iter()
    }

    #[inline]
    pub fn node(&self, index: u32) -> Option<&ResourceNode> {
        self.nodes.get(index as usize)
    }

    /// The node at `index`, or the overflow node (index 0) for an index of another
    /// instance.
    #[inline]
    pub fn node_or_overflow(&self, index: u32) -> &ResourceNode {
        match self.nodes.get(index as usize) {
            Some(n) => n,
            None => &self.nodes[0],
        }
    }

    /// Creates the node for `name` (the caller holds the rules lock). Past the resource
    /// limit, entries of new resources share the overflow node, unless `ruled`: a resource
    /// that rules name always gets its own node (and so its checks), up to a second
    /// `max_resources` reserved for rule resources.
    pub(crate) fn create(&self, name: &str, sets: &RuleSets, ruled: bool) -> u32 {
        if let Some(i) = self.lookup(name) {
            return i;
        }
        let limit = if ruled {
            self.max_resources * 2
        } else {
            self.max_resources
        };
        if self.nodes.count() > limit {
            tracing::warn!(
                resource = %crate::text::Escaped(name),
                limit = self.max_resources,
                "resource limit reached; entries of new resources share the overflow node and are not checked"
            );
            return 0;
        }
        let name: Arc<str> = name.into();
        let compiled = sets.compile(&name);
        let index = self
            .nodes
            .push(ResourceNode::new(name, self.stripes, compiled)) as u32;
        self.index.insert(&self.nodes[index as usize].name, index);
        index
    }
}

/// The rules of every kind in force, plus custom checks. Guarded by the instance's rules
/// lock; the hot path never touches it.
#[derive(Default)]
pub(crate) struct RuleSets {
    pub system: RuleSet<SystemKind>,
    pub flow: RuleSet<FlowKind>,
    pub isolation: RuleSet<IsolationKind>,
    pub hotspot: RuleSet<HotspotKind>,
    pub circuit_breaker: RuleSet<CircuitBreakerKind>,
    pub custom: Vec<Arc<dyn Check>>,
}

impl RuleSets {
    /// The check list of one resource, in pipeline order.
    pub(crate) fn compile(&self, resource: &str) -> Compiled {
        let mut checks = Vec::new();
        self.system.checks_for("", &mut checks);
        self.flow.checks_for(resource, &mut checks);
        self.isolation.checks_for(resource, &mut checks);
        self.hotspot.checks_for(resource, &mut checks);
        self.circuit_breaker.checks_for(resource, &mut checks);
        checks.extend(self.custom.iter().cloned());
        Compiled::new(checks)
    }
}

/// What a rule kind may use while building a check: other resources' nodes and the
/// instance's clock and system metrics.
pub(crate) struct BuildEnv<'a> {
    pub inner: &'a Inner,
    pub(crate) sets: &'a RuleSets,
}

impl BuildEnv<'_> {
    /// The node index of a resource that a rule names, creating the node if needed.
    pub fn node_index(&self, resource: &str) -> u32 {
        self.inner.registry.create(resource, self.sets, true)
    }
}

pub(crate) struct Inner {
    pub clock: Arc<dyn Clock>,
    pub registry: Registry,
    pub inbound: StatNode,
    pub system: Arc<dyn SystemMetricsSource>,
    pub check_panics: AtomicU64,
    /// How long a half-open breaker's probe may stay silent before its round is given up.
    pub probe_timeout_ns: u64,
    pub breaker_events: Arc<EventHub>,
    /// Whether blocks are counted by type for the life of each node (exporters ask).
    pub count_block_types: AtomicBool,
    pub observer: Observer,
    pub(crate) rules: Mutex<RuleSets>,
}

impl Inner {
    /// The rule sets in force (for exporters; never on the hot path).
    #[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
    pub fn rules_lock(&self) -> parking_lot::MutexGuard<'_, RuleSets> {
        self.rules.lock()
    }

    /// The node of a resource, created on first use.
    #[inline(always)]
    pub fn registry_node(&self, name: &str) -> (u32, &ResourceNode) {
        let index = match self.registry.lookup(name) {
            Some(i) => i,
            None => self.registry.create(name, &self.rules.lock(), false),
        };
        (index, self.registry.node_or_overflow(index))
    }

    /// Validates and installs a set of one kind, then recompiles every resource whose
    /// checks may have changed.
    pub(crate) fn load<K: RuleKind>(&self, rules: Vec<K::Rule>) -> Result<(), RuleSetError> {
        if let Err(e) = RuleSet::<K>::validate(&rules) {
            tracing::warn!(kind = <K::Rule as crate::rules::Rule>::KIND, invalid = e.errors().len(), error = %e, "rule set rejected");
            return Err(e);
        }
        let count = rules.len();
        let mut sets = self.rules.lock();
        self.reserve_nodes::<K>(&rules, &sets)?;
        let new_set = K::set(&sets).rebuild(
            rules,
            &BuildEnv {
                inner: self,
                sets: &sets,
            },
        );
        let slot = K::set_mut(&mut sets);
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
        tracing::info!(
            kind = <K::Rule as crate::rules::Rule>::KIND,
            rules = count,
            "rules loaded"
        );
        Ok(())
    }

    /// Gives every resource the rules name a node of its own before they load, so that a
    /// full resource table never leaves a ruled resource unchecked; refuses a set that
    /// would need more nodes than the table keeps for rule resources.
    fn reserve_nodes<K: RuleKind>(
        &self,
        rules: &[K::Rule],
        sets: &RuleSets,
    ) -> Result<(), RuleSetError> {
        use crate::rules::{FieldError, InvalidRule, Rule as _};
        let mut missing: Vec<(usize, &K::Rule)> = rules
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                !r.resource().is_empty() && self.registry.lookup(r.resource()).is_none()
            })
            .collect();
        missing.sort_by_key(|(_, r)| r.resource());
        missing.dedup_by_key(|(_, r)| r.resource());
        let room =
            (self.registry.max_resources * 2 + 1).saturating_sub(self.registry.nodes.count());
        if let Some((index, rule)) = missing.get(room) {
            let error = FieldError::new(
                "resource",
                format!(
                    "the set names {} resources not seen before, but only {room} more fit (raise SentinelBuilder::max_resources, now {})",
                    missing.len(),
                    self.registry.max_resources
                ),
            );
            let e = RuleSetError::new(
                K::Rule::KIND,
                vec![InvalidRule {
                    kind: K::Rule::KIND,
                    index: *index,
                    id: rule.id().to_string(),
                    resource: rule.resource().to_string(),
                    error,
                }],
            );
            tracing::warn!(kind = K::Rule::KIND, error = %e, "rule set rejected");
            return Err(e);
        }
        for (_, rule) in missing {
            self.registry.create(rule.resource(), sets, true);
        }
        Ok(())
    }

    pub(crate) fn recompile_all(&self, sets: &RuleSets) {
        for (_, node) in self.registry.nodes.iter() {
            node.set_checks(sets.compile(&node.name));
        }
    }
}
