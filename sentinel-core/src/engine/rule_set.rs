//! The generic rule manager: a validated set of one rule kind, with the check (and its
//! state) built for every rule.

use std::collections::HashMap;

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
use std::sync::Arc;

use crate::pipeline::{BuildEnv, Check, KindBuilder};
use crate::rules::{Rule, RuleSetError, validate_set};

/// The rules of one kind in force, with their checks.
pub(crate) struct RuleSet<K: KindBuilder> {
    /// The kind's own state for all its rules.
    pub shared: K::Shared,
    rules: Vec<K::Rule>,
    checks: Vec<Arc<K::State>>,
    by_resource: FastMap<String, Vec<usize>>,
}

impl<K: KindBuilder> RuleSet<K> {
    /// An empty set with the kind's shared state.
    pub(crate) fn new(shared: K::Shared) -> Self {
        RuleSet {
            shared,
            rules: Vec::new(),
            checks: Vec::new(),
            by_resource: FastMap::default(),
        }
    }
}

impl<K: KindBuilder> RuleSet<K> {
    /// Validates a whole set, naming every invalid rule.
    pub(crate) fn validate(rules: &[K::Rule]) -> Result<(), RuleSetError> {
        validate_set(rules)
    }

    /// A new set for `rules` (already validated). A rule equal to one in force keeps that
    /// rule's check, and so its state (warm-up tokens, pacing, breaker state...).
    pub(crate) fn rebuild(&self, rules: Vec<K::Rule>, env: &BuildEnv<'_>) -> Self {
        let mut reusable: FastMap<&str, Vec<usize>> = self
            .by_resource
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        let mut by_resource: FastMap<String, Vec<usize>> = FastMap::default();
        for (i, rule) in rules.iter().enumerate() {
            by_resource
                .entry(rule.resource().to_string())
                .or_default()
                .push(i);
        }
        let checks = rules
            .iter()
            .map(|rule| {
                // A rule equal to one in force keeps its check; the others are built.
                let reused = reusable.get_mut(rule.resource()).and_then(|candidates| {
                    let pos = candidates.iter().position(|&j| self.rules[j] == *rule)?;
                    Some(self.checks[candidates.remove(pos)].clone())
                });
                reused.unwrap_or_else(|| {
                    let same = &by_resource[rule.resource()];
                    let siblings: Vec<&K::Rule> = same.iter().map(|&j| &rules[j]).collect();
                    let position = same
                        .iter()
                        .position(|&j| std::ptr::eq(&rules[j], rule))
                        .unwrap_or_default();
                    K::build(rule, env, &self.shared, &siblings, position)
                })
            })
            .collect();
        for candidates in reusable.values() {
            for &j in candidates {
                K::retired(&self.rules[j], &self.checks[j]);
            }
        }
        RuleSet {
            shared: self.shared.clone(),
            rules,
            checks,
            by_resource,
        }
    }

    /// Appends the checks that guard `resource`, in rule order.
    pub(crate) fn checks_for(&self, resource: &str, out: &mut Vec<Arc<dyn Check>>) {
        if let Some(idx) = self.by_resource.get(resource) {
            out.extend(
                idx.iter()
                    .map(|&i| self.checks[i].clone() as Arc<dyn Check>),
            );
        }
    }

    /// The rules guarding `resource`, in rule order.
    pub(crate) fn rules_for(&self, resource: &str) -> Vec<K::Rule> {
        self.by_resource
            .get(resource)
            .map(|idx| idx.iter().map(|&i| self.rules[i].clone()).collect())
            .unwrap_or_default()
    }

    /// The place in the set and the id of every rule guarding `resource`, in rule order.
    pub(crate) fn ids_for(&self, resource: &str) -> Vec<(usize, String)> {
        self.by_resource
            .get(resource)
            .map(|idx| {
                idx.iter()
                    .map(|&i| (i, self.rules[i].id().to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The states of the rules guarding `resource`, in rule order.
    pub(crate) fn states_for(&self, resource: &str) -> Vec<Arc<K::State>> {
        self.by_resource
            .get(resource)
            .map(|idx| idx.iter().map(|&i| self.checks[i].clone()).collect())
            .unwrap_or_default()
    }

    /// The resources that have at least one rule.
    pub(crate) fn resources(&self) -> impl Iterator<Item = &str> {
        self.by_resource.keys().map(String::as_str)
    }

    /// How many rules are in force.
    pub(crate) fn len(&self) -> usize {
        self.rules.len()
    }

    /// The rules in force, in load order.
    pub(crate) fn rules(&self) -> &[K::Rule] {
        &self.rules
    }
}
