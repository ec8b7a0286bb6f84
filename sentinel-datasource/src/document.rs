//! The shapes of a rule document, and which rules of which kind it holds.
//!
//! * a list of rules, as sentinel-golang reads and writes them: `[{...}, {...}]`;
//! * a Kubernetes custom resource (`apiVersion: datasource.sentinel.io/v1alpha1`,
//!   `kind: FlowRules`, rules under `spec.rules`);
//! * a multi-kind document, one section per kind: `{"flow": [...], "isolation": [...]}`.

use serde_json::{Map, Value};

use crate::erased::{DynKind, known_kinds};
use crate::error::UpdateError;

/// The API group of sentinel's Kubernetes custom resources.
pub const CRD_GROUP: &str = "datasource.sentinel.io";

/// The rules of one kind found in a document.
#[derive(Debug)]
pub(crate) struct Part {
    /// Index of the kind among the kinds the document was split for.
    pub kind: usize,
    pub rules: Vec<Value>,
    /// Read from a custom resource (some thresholds are percentages there).
    pub from_crd: bool,
}

/// Splits a document into the lists of the `kinds` a source loads.
///
/// With one kind, the document may be a list, a custom resource of that kind, or a
/// multi-kind document with that kind's section. With several kinds, it is a custom
/// resource of one of them or a multi-kind document; kinds without a section are left
/// out (their rules in force are kept).
pub(crate) fn split(doc: Value, kinds: &[&'static dyn DynKind]) -> Result<Vec<Part>, UpdateError> {
    match doc {
        Value::Null => Err(UpdateError::Empty),
        Value::Array(rules) if kinds.len() == 1 => Ok(vec![Part {
            kind: 0,
            rules,
            from_crd: false,
        }]),
        Value::Array(_) => Err(UpdateError::Shape(format!(
            "a plain list of rules fits a source of one rule kind; this source loads {}, so \
             put the rules under sections ({})",
            names(kinds, |k| k.name()),
            names(kinds, |k| k.section()),
        ))),
        Value::Object(map) if map.contains_key("apiVersion") || map.contains_key("kind") => {
            split_custom_resource(map, kinds)
        }
        Value::Object(map) => split_sections(map, kinds),
        other => Err(UpdateError::Shape(format!(
            "expected a list of {} rules, found {}",
            names(kinds, |k| k.name()),
            type_name(&other)
        ))),
    }
}

fn split_custom_resource(
    mut map: Map<String, Value>,
    kinds: &[&'static dyn DynKind],
) -> Result<Vec<Part>, UpdateError> {
    let api_version = map.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if api_version.split('/').next() != Some(CRD_GROUP) {
        return Err(UpdateError::Shape(format!(
            "a custom resource needs `apiVersion: {CRD_GROUP}/v1alpha1`, found {api_version:?}"
        )));
    }
    let found = map
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let Some(kind) = kinds.iter().position(|k| k.crd_kind() == found.as_str()) else {
        let known = known_kinds().iter().any(|k| k.crd_kind() == found.as_str());
        return Err(if known {
            UpdateError::WrongKind {
                expected: names(kinds, |k| k.crd_kind()),
                found,
            }
        } else {
            UpdateError::Shape(format!(
                "unknown custom resource kind {found:?}; expected {}",
                names(known_kinds(), |k| k.crd_kind())
            ))
        });
    };
    let rules = match map
        .get_mut("spec")
        .and_then(|spec| spec.get_mut("rules"))
        .map(Value::take)
    {
        Some(Value::Array(rules)) => rules,
        Some(Value::Null) | None => {
            return Err(UpdateError::Shape(format!(
                "the {found} resource has no `spec.rules` (write `rules: []` to clear the rules)"
            )));
        }
        Some(other) => {
            return Err(UpdateError::Shape(format!(
                "`spec.rules` of the {found} resource must be a list, found {}",
                type_name(&other)
            )));
        }
    };
    Ok(vec![Part {
        kind,
        rules,
        from_crd: true,
    }])
}

fn split_sections(
    map: Map<String, Value>,
    kinds: &[&'static dyn DynKind],
) -> Result<Vec<Part>, UpdateError> {
    let mut parts = Vec::new();
    for (key, value) in map {
        let Some(kind) = kinds.iter().position(|k| k.section() == key) else {
            if known_kinds().iter().any(|k| k.section() == key) {
                continue; // rules of a kind this source does not load
            }
            return Err(UpdateError::Shape(format!(
                "unknown section `{key}`; the sections are {}",
                names(known_kinds(), |k| k.section())
            )));
        };
        match value {
            Value::Array(rules) => parts.push(Part {
                kind,
                rules,
                from_crd: false,
            }),
            Value::Null => {
                return Err(UpdateError::Shape(format!(
                    "section `{key}` is empty; write `{key}: []` to clear the {key} rules"
                )));
            }
            other => {
                return Err(UpdateError::Shape(format!(
                    "section `{key}` must be a list of rules, found {}",
                    type_name(&other)
                )));
            }
        }
    }
    if parts.is_empty() {
        return Err(UpdateError::WrongKind {
            expected: format!("{} rules", names(kinds, |k| k.section())),
            found: "no section for them".to_string(),
        });
    }
    parts.sort_by_key(|p| p.kind);
    Ok(parts)
}

/// Removes the fields of a written rule whose value is its default and a zero value (0,
/// `""`, `false`, empty): read back, here or by sentinel-golang (which starts from zero
/// values), the rule is the same. Defaults that are not zero (`statIntervalInMs: 1000`)
/// stay written.
pub(crate) fn drop_zero_defaults(rule: &mut Value, default: &Value) {
    if let (Value::Object(fields), Value::Object(defaults)) = (rule, default) {
        fields.retain(|key, value| !(is_zero(value) && defaults.get(key) == Some(value)));
    }
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

fn names(kinds: &[&'static dyn DynKind], name: impl Fn(&dyn DynKind) -> &'static str) -> String {
    kinds
        .iter()
        .map(|k| name(*k))
        .collect::<Vec<_>>()
        .join(", ")
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::erased::ops;
    use crate::kind::{Flow, Isolation};
    use serde_json::json;

    fn kinds_of(parts: &[Part]) -> Vec<(usize, usize, bool)> {
        parts
            .iter()
            .map(|p| (p.kind, p.rules.len(), p.from_crd))
            .collect()
    }

    #[test]
    fn a_list_fits_one_kind_only() {
        let flow = [ops::<Flow>()];
        let parts = split(json!([{}, {}]), &flow).unwrap();
        assert_eq!(kinds_of(&parts), [(0, 2, false)]);
        let both = [ops::<Flow>(), ops::<Isolation>()];
        let e = split(json!([{}]), &both).unwrap_err();
        assert!(e.to_string().contains("sections (flow, isolation)"), "{e}");
    }

    #[test]
    fn custom_resources_are_matched_by_kind() {
        let flow = [ops::<Flow>()];
        let doc = |kind: &str| {
            json!({"apiVersion": "datasource.sentinel.io/v1alpha1", "kind": kind,
                   "metadata": {"name": "x"}, "spec": {"rules": [{}]}})
        };
        assert_eq!(
            kinds_of(&split(doc("FlowRules"), &flow).unwrap()),
            [(0, 1, true)]
        );
        assert_eq!(
            split(doc("IsolationRules"), &flow).unwrap_err(),
            UpdateError::WrongKind {
                expected: "FlowRules".into(),
                found: "IsolationRules".into()
            }
        );
        let e = split(doc("Deployment"), &flow).unwrap_err().to_string();
        assert!(
            e.contains("unknown custom resource kind \"Deployment\""),
            "{e}"
        );
        let e = split(json!({"apiVersion": "v1", "kind": "FlowRules"}), &flow).unwrap_err();
        assert!(
            e.to_string().contains("datasource.sentinel.io/v1alpha1"),
            "{e}"
        );
        let e = split(
            json!({"apiVersion": "datasource.sentinel.io/v1alpha1", "kind": "FlowRules", "spec": {}}),
            &flow,
        )
        .unwrap_err();
        assert!(e.to_string().contains("no `spec.rules`"), "{e}");
    }

    #[test]
    fn sections_pick_the_kinds_of_the_source() {
        let both = [ops::<Flow>(), ops::<Isolation>()];
        let parts = split(json!({"isolation": [{}], "flow": [{}, {}]}), &both).unwrap();
        assert_eq!(kinds_of(&parts), [(0, 2, false), (1, 1, false)]);
        let isolation = [ops::<Isolation>()];
        let parts = split(json!({"isolation": [{}], "flow": [{}, {}]}), &isolation).unwrap();
        assert_eq!(kinds_of(&parts), [(0, 1, false)]);
        let flow = [ops::<Flow>()];
        assert!(matches!(
            split(json!({"isolation": []}), &flow),
            Err(UpdateError::WrongKind { .. })
        ));
        let e = split(json!({"flows": []}), &flow).unwrap_err().to_string();
        assert!(e.contains("unknown section `flows`"), "{e}");
        let e = split(json!({"flow": null}), &flow).unwrap_err().to_string();
        assert!(e.contains("write `flow: []`"), "{e}");
    }

    #[test]
    fn only_fields_both_default_and_zero_are_left_out() {
        let default = json!({"resource": "", "threshold": 0.0, "statIntervalInMs": 1000,
                             "strategy": -1, "items": []});
        let mut rule = json!({"resource": "r", "threshold": 0.0, "statIntervalInMs": 1000,
                              "strategy": -1, "items": []});
        drop_zero_defaults(&mut rule, &default);
        assert_eq!(
            rule,
            json!({"resource": "r", "statIntervalInMs": 1000, "strategy": -1})
        );
        let mut zero_but_not_default = json!({"statIntervalInMs": 0});
        drop_zero_defaults(&mut zero_but_not_default, &default);
        assert_eq!(zero_but_not_default, json!({"statIntervalInMs": 0}));
    }

    #[test]
    fn scalars_are_not_documents() {
        let flow = [ops::<Flow>()];
        let e = split(json!("abc"), &flow).unwrap_err();
        assert_eq!(
            e,
            UpdateError::Shape("expected a list of flow rules, found a string".into())
        );
    }
}
