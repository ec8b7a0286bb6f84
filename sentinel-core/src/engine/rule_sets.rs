//! The rules of every kind in force: the one file that names every rule kind.

use std::sync::Arc;

use super::registry::Registry;
use super::rule_set::RuleSet;
use crate::circuit_breaker::{BreakerShared, CircuitBreakerKind};
use crate::flow::FlowKind;
use crate::hotspot::HotspotKind;
use crate::isolation::IsolationKind;
use crate::pipeline::{Check, CheckList, KindBuilder, RuleNodes};
use crate::rules::Rule;
use crate::stat::StatNode;
use crate::system::SystemKind;

/// The rules of every kind in force, plus custom checks. Guarded by the instance's rules
/// lock; the hot path never touches it.
pub(crate) struct RuleSets {
    pub system: RuleSet<SystemKind>,
    pub flow: RuleSet<FlowKind>,
    pub isolation: RuleSet<IsolationKind>,
    pub hotspot: RuleSet<HotspotKind>,
    pub circuit_breaker: RuleSet<CircuitBreakerKind>,
    pub custom: Vec<Arc<dyn Check>>,
}

impl RuleSets {
    /// No rules yet; breakers report to `breakers`.
    pub(crate) fn new(breakers: BreakerShared) -> Self {
        RuleSets {
            system: RuleSet::new(Arc::default()),
            flow: RuleSet::new(Arc::default()),
            isolation: RuleSet::new(()),
            hotspot: RuleSet::new(Arc::default()),
            circuit_breaker: RuleSet::new(breakers),
            custom: Vec::new(),
        }
    }

    /// The check list of one resource, in pipeline order.
    pub(crate) fn compile(&self, resource: &str) -> CheckList {
        let mut checks = Vec::new();
        self.system.checks_for("", &mut checks);
        self.flow.checks_for(resource, &mut checks);
        self.isolation.checks_for(resource, &mut checks);
        self.hotspot.checks_for(resource, &mut checks);
        self.circuit_breaker.checks_for(resource, &mut checks);
        checks.extend(self.custom.iter().cloned());
        CheckList::new(checks)
    }

    /// Every resource that rules of some kind name (system rules name none); a resource
    /// guarded by several kinds comes once per kind.
    pub(crate) fn ruled_resources(&self) -> impl Iterator<Item = &str> {
        self.flow
            .resources()
            .chain(self.isolation.resources())
            .chain(self.hotspot.resources())
            .chain(self.circuit_breaker.resources())
    }

    /// The rules guarding `resource`, in pipeline order: kind, place in the kind's set, id.
    pub(crate) fn rules_naming(&self, resource: &str) -> Vec<super::RuleRef> {
        fn of<K: KindBuilder>(
            set: &RuleSet<K>,
            resource: &str,
        ) -> impl Iterator<Item = super::RuleRef> {
            let kind = <K::Rule as Rule>::KIND;
            set.ids_for(resource)
                .into_iter()
                .map(move |(i, id)| (kind, i, id))
        }
        of(&self.flow, resource)
            .chain(of(&self.isolation, resource))
            .chain(of(&self.hotspot, resource))
            .chain(of(&self.circuit_breaker, resource))
            .collect()
    }
}

/// Where a kind's set lives among the instance's rule sets.
pub(crate) trait KindSlot: KindBuilder + Sized {
    fn slot(sets: &RuleSets) -> &RuleSet<Self>;
    fn slot_mut(sets: &mut RuleSets) -> &mut RuleSet<Self>;
}

macro_rules! kind_slots {
    ($($kind:ty => $field:ident),* $(,)?) => {$(
        impl KindSlot for $kind {
            fn slot(sets: &RuleSets) -> &RuleSet<Self> {
                &sets.$field
            }
            fn slot_mut(sets: &mut RuleSets) -> &mut RuleSet<Self> {
                &mut sets.$field
            }
        }
    )*};
}

kind_slots! {
    SystemKind => system,
    FlowKind => flow,
    IsolationKind => isolation,
    HotspotKind => hotspot,
    CircuitBreakerKind => circuit_breaker,
}

/// Resource nodes as a rule load sees them: rule resources get their nodes past the
/// resource limit.
pub(crate) struct LoadNodes<'a> {
    pub registry: &'a Registry,
    pub sets: &'a RuleSets,
}

impl RuleNodes for LoadNodes<'_> {
    fn node_index(&self, resource: &str) -> u32 {
        self.registry.create(resource, self.sets, true)
    }
    fn stats_of(&self, index: u32) -> Option<&StatNode> {
        self.registry.node(index).map(|n| &n.stats)
    }
}
