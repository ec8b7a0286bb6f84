//! Rule kinds behind trait objects, so one pipeline can carry several kinds.

use std::any::Any;
use std::collections::HashMap;
use std::marker::PhantomData;

use sentinel_core::{RuleSetError, Sentinel};
use serde_json::{Map, Value};

use crate::decode::{UnknownFields, decode_rules};
use crate::error::{RuleProblem, RuleProblems};
use crate::export::EnumStyle;
use crate::kind::{CircuitBreaker, Flow, Hotspot, Isolation, RuleKind, System};

/// A rule kind without its type.
pub(crate) trait DynKind: Send + Sync {
    fn name(&self) -> &'static str;
    fn section(&self) -> &'static str;
    fn crd_kind(&self) -> &'static str;
    /// Decodes a document's list of rules of this kind; `first_index` is the position of
    /// its first rule among the document's rules of this kind.
    fn decode(
        &self,
        rules: Vec<Value>,
        from_crd: bool,
        unknown_fields: UnknownFields,
        first_index: usize,
    ) -> Result<Box<dyn RuleList>, RuleProblems>;
    /// An empty list.
    fn empty(&self) -> Box<dyn RuleList>;
    /// One list of the rules of `lists`, in order; lists of other kinds are skipped.
    fn concat(&self, lists: &[&dyn RuleList]) -> Box<dyn RuleList>;
    /// How many rules of this kind are in force.
    fn count(&self, sentinel: &Sentinel) -> usize;
    /// The rules in force as a document tree.
    fn export(&self, sentinel: &Sentinel, enums: EnumStyle) -> Result<Value, String>;
}

/// A decoded list of rules of one kind.
pub(crate) trait RuleList: Send {
    fn kind(&self) -> &'static str;
    fn len(&self) -> usize;
    /// Each rule's `id`, or its resource when it has none, for logs.
    fn keys(&self) -> Vec<String>;
    /// Every invalid rule of the list.
    fn problems(&self) -> RuleProblems;
    /// Whether exactly these rules are in force.
    fn in_force(&self, sentinel: &Sentinel) -> bool;
    /// How these rules differ from those in force.
    fn changes(&self, sentinel: &Sentinel) -> RuleChanges;
    /// The rules of this kind in force, to put back if a later kind of the same update
    /// fails.
    fn snapshot(&self, sentinel: &Sentinel) -> Box<dyn RuleList>;
    fn load(self: Box<Self>, sentinel: &Sentinel) -> Result<(), RuleSetError>;
    /// The list as `Any`, for [`DynKind::concat`].
    fn as_any(&self) -> &dyn Any;
}

struct Ops<K>(PhantomData<fn() -> K>);

struct List<K: RuleKind>(Vec<K::Rule>);

/// The type-erased operations of `K`.
pub(crate) fn ops<K: RuleKind>() -> &'static dyn DynKind {
    const { &Ops::<K>(PhantomData) }
}

/// Every rule kind this crate knows: the sections and custom resources a document may
/// name. A new kind is added here once it implements [`RuleKind`].
static KNOWN_KINDS: &[&dyn DynKind] = &[
    &Ops::<Flow>(PhantomData),
    &Ops::<Isolation>(PhantomData),
    &Ops::<CircuitBreaker>(PhantomData),
    &Ops::<Hotspot>(PhantomData),
    &Ops::<System>(PhantomData),
];

/// Every rule kind this crate knows.
pub(crate) fn known_kinds() -> &'static [&'static dyn DynKind] {
    KNOWN_KINDS
}

impl<K: RuleKind> DynKind for Ops<K> {
    fn name(&self) -> &'static str {
        K::NAME
    }
    fn section(&self) -> &'static str {
        K::SECTION
    }
    fn crd_kind(&self) -> &'static str {
        K::CRD_KIND
    }
    fn decode(
        &self,
        rules: Vec<Value>,
        from_crd: bool,
        unknown_fields: UnknownFields,
        first_index: usize,
    ) -> Result<Box<dyn RuleList>, RuleProblems> {
        decode_rules::<K>(rules, from_crd, unknown_fields, first_index)
            .map(|r| Box::new(List::<K>(r)) as Box<dyn RuleList>)
    }
    fn empty(&self) -> Box<dyn RuleList> {
        Box::new(List::<K>(Vec::new()))
    }
    fn concat(&self, lists: &[&dyn RuleList]) -> Box<dyn RuleList> {
        let rules = lists
            .iter()
            .filter_map(|l| l.as_any().downcast_ref::<List<K>>())
            .flat_map(|l| l.0.iter().cloned())
            .collect();
        Box::new(List::<K>(rules))
    }
    fn count(&self, sentinel: &Sentinel) -> usize {
        K::current(sentinel).len()
    }
    fn export(&self, sentinel: &Sentinel, enums: EnumStyle) -> Result<Value, String> {
        let default = serde_json::to_value(K::Rule::default()).map_err(|e| e.to_string())?;
        K::current(sentinel)
            .iter()
            .map(|rule| {
                let mut written = serde_json::to_value(rule).map_err(|e| e.to_string())?;
                let required = K::required_fields(rule);
                if let Value::Object(fields) = &mut written {
                    match enums {
                        EnumStyle::Names => {
                            drop_defaults(fields, &default, required, |_| true);
                            K::name_enums(rule, fields);
                        }
                        // Go reads a missing field as its zero value.
                        EnumStyle::Integers => drop_defaults(fields, &default, required, is_zero),
                    }
                }
                Ok(written)
            })
            .collect::<Result<Vec<Value>, String>>()
            .map(Value::Array)
    }
}

impl<K: RuleKind> RuleList for List<K> {
    fn kind(&self) -> &'static str {
        K::NAME
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn keys(&self) -> Vec<String> {
        let key = |rule| match K::id(rule) {
            "" => K::resource(rule),
            id => id,
        };
        self.0.iter().map(|rule| key(rule).to_string()).collect()
    }
    fn problems(&self) -> RuleProblems {
        self.0
            .iter()
            .enumerate()
            .filter_map(|(index, rule)| {
                K::validate(rule).err().map(|e| {
                    RuleProblem::new(
                        K::NAME,
                        index,
                        K::id(rule),
                        K::resource(rule),
                        e.field,
                        &e.reason,
                    )
                })
            })
            .collect()
    }
    fn in_force(&self, sentinel: &Sentinel) -> bool {
        K::current(sentinel) == self.0
    }
    fn changes(&self, sentinel: &Sentinel) -> RuleChanges {
        rule_changes::<K>(&K::current(sentinel), &self.0)
    }
    fn snapshot(&self, sentinel: &Sentinel) -> Box<dyn RuleList> {
        Box::new(List::<K>(K::current(sentinel)))
    }
    fn load(self: Box<Self>, sentinel: &Sentinel) -> Result<(), RuleSetError> {
        K::load(sentinel, self.0)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// How a new set of rules of one kind differs from the old one: rules added, removed and
/// changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct RuleChanges {
    pub added: usize,
    pub removed: usize,
    pub changed: usize,
}

/// Matches `new` against `old`: a rule equal to an old rule of the same key (its `id`, or
/// its resource when it has no id) is unchanged, wherever it moved; a rule left over is
/// changed if an old rule of its key is left over too (paired in order), else added; old
/// rules left over are removed.
pub(crate) fn rule_changes<K: RuleKind>(old: &[K::Rule], new: &[K::Rule]) -> RuleChanges {
    let key = |rule| match K::id(rule) {
        "" => (false, K::resource(rule)),
        id => (true, id),
    };
    let mut unmatched: HashMap<(bool, &str), Vec<&K::Rule>> = HashMap::new();
    for rule in old {
        unmatched.entry(key(rule)).or_default().push(rule);
    }
    let mut left = Vec::new();
    for rule in new {
        let same = unmatched.get_mut(&key(rule)).and_then(|olds| {
            let at = olds.iter().position(|old| *old == rule)?;
            Some(olds.remove(at))
        });
        if same.is_none() {
            left.push(rule);
        }
    }
    let mut changes = RuleChanges::default();
    for rule in left {
        match unmatched.get_mut(&key(rule)) {
            Some(olds) if !olds.is_empty() => {
                olds.remove(0);
                changes.changed += 1;
            }
            _ => changes.added += 1,
        }
    }
    changes.removed = unmatched.values().map(Vec::len).sum();
    changes
}

/// Removes the fields of a written rule whose value is its default and passes `droppable`,
/// except the `required` ones: read back, the rule is the same.
pub(crate) fn drop_defaults(
    fields: &mut Map<String, Value>,
    default: &Value,
    required: &[&str],
    droppable: impl Fn(&Value) -> bool,
) {
    fields.retain(|key, value| {
        required.contains(&key.as_str()) || !(droppable(value) && default.get(key) == Some(value))
    });
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::Flow;
    use sentinel_core::flow::FlowRule;
    use serde_json::json;

    #[test]
    fn changes_match_rules_by_id_or_resource_and_by_equality() {
        let rule = |id: &str, resource: &str, threshold: f64| FlowRule {
            id: id.into(),
            resource: resource.into(),
            threshold,
            ..Default::default()
        };
        let old = [
            rule("a", "r", 1.0),
            rule("", "b", 2.0),
            rule("", "c", 3.0),
            rule("", "c", 4.0),
        ];
        // a changed, b moved (unchanged), one c removed, one c kept, d added.
        let new = [
            rule("", "b", 2.0),
            rule("a", "r", 5.0),
            rule("", "c", 4.0),
            rule("", "d", 1.0),
        ];
        assert_eq!(
            rule_changes::<Flow>(&old, &new),
            RuleChanges {
                added: 1,
                removed: 1,
                changed: 1
            }
        );
        assert_eq!(rule_changes::<Flow>(&old, &old), RuleChanges::default());
        // A rule that moves to another id is removed and added.
        let moved = [rule("z", "r", 1.0)];
        let only_a = [rule("a", "r", 1.0)];
        assert_eq!(
            rule_changes::<Flow>(&only_a, &moved),
            RuleChanges {
                added: 1,
                removed: 1,
                changed: 0
            }
        );
    }

    #[test]
    fn defaults_are_left_out_all_or_only_zeros_and_never_required_fields() {
        let default = json!({"resource": "", "threshold": 0.0, "statIntervalInMs": 1000,
                             "strategy": -1, "items": []});
        let rule = json!({"resource": "r", "threshold": 0.0, "statIntervalInMs": 1000,
                          "strategy": -1, "items": []});
        let dropped = |required: &[&str], droppable: fn(&Value) -> bool| {
            let mut rule = rule.as_object().unwrap().clone();
            drop_defaults(&mut rule, &default, required, droppable);
            Value::Object(rule)
        };
        assert_eq!(dropped(&[], |_| true), json!({"resource": "r"}));
        assert_eq!(
            dropped(&[], is_zero),
            json!({"resource": "r", "statIntervalInMs": 1000, "strategy": -1})
        );
        assert_eq!(
            dropped(&["threshold"], |_| true),
            json!({"resource": "r", "threshold": 0.0})
        );
        let mut zero_but_not_default = json!({"statIntervalInMs": 0});
        drop_defaults(
            zero_but_not_default.as_object_mut().unwrap(),
            &default,
            &[],
            is_zero,
        );
        assert_eq!(zero_but_not_default, json!({"statIntervalInMs": 0}));
    }
}
