//! The shapes of a rule document, and which rules of which kind it holds.
//!
//! * a list of rules, as sentinel-golang reads and writes them: `[{...}, {...}]`;
//! * a Kubernetes custom resource (`apiVersion: datasource.sentinel.io/v1alpha1`,
//!   `kind: FlowRules`, rules under `spec.rules`);
//! * a multi-kind document, one section per kind: `{"flow": [...], "isolation": [...]}`;
//! * several of these: the documents of a YAML stream (`---`), or the items of a
//!   Kubernetes `List` (what `kubectl get -o yaml` writes for several objects).

use serde_json::{Map, Value};

use crate::erased::{DynKind, known_kinds};
use crate::error::{UpdateError, clip};

/// The API group of sentinel's Kubernetes custom resources.
pub const CRD_GROUP: &str = "datasource.sentinel.io";

/// The API version of sentinel's Kubernetes custom resources: the only one served and read.
pub const CRD_VERSION: &str = "v1alpha1";

/// The rules of one kind found in a document.
#[derive(Debug)]
pub(crate) struct Part {
    /// Index of the kind among the kinds the document was split for.
    pub kind: usize,
    pub rules: Vec<Value>,
    /// Read from a custom resource (some thresholds are percentages there).
    pub from_crd: bool,
}

/// Splits the documents of a source's content into the lists of the `kinds` it loads,
/// sorted by kind (parts of one kind in document order).
///
/// One document may be a list (for a source of one kind), a custom resource of a kind the
/// source loads, or a multi-kind document with a section for at least one of them;
/// kinds without a section are left out (their rules in force are kept). Several
/// documents are a union: each is read as above, except that one holding only kinds the
/// source does not load is skipped, as a section would be; at least one must hold a kind
/// the source loads.
pub(crate) fn split(
    documents: Vec<Value>,
    kinds: &[&'static dyn DynKind],
) -> Result<Vec<Part>, UpdateError> {
    match <[Value; 1]>::try_from(documents) {
        Ok([doc]) => split_one(doc, kinds),
        Err(documents) => split_several(
            documents
                .into_iter()
                .enumerate()
                .map(|(i, doc)| (format!("document {}", i + 1), doc)),
            kinds,
        ),
    }
}

fn split_one(doc: Value, kinds: &[&'static dyn DynKind]) -> Result<Vec<Part>, UpdateError> {
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
        Value::Object(map) if is_kubernetes_list(&map) => split_kubernetes_list(map, kinds),
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

/// The union of several documents, each named by `label` in errors.
fn split_several(
    documents: impl Iterator<Item = (String, Value)>,
    kinds: &[&'static dyn DynKind],
) -> Result<Vec<Part>, UpdateError> {
    let mut parts = Vec::new();
    for (label, doc) in documents {
        match split_one(doc, kinds) {
            Ok(found) => parts.extend(found),
            // Only rules of kinds this source does not load, like such a section.
            Err(UpdateError::WrongKind { .. }) => {}
            Err(UpdateError::Shape(message)) => {
                return Err(UpdateError::Shape(format!("{label}: {message}")));
            }
            Err(other) => return Err(other),
        }
    }
    by_kind(
        parts,
        names(kinds, |k| k.name()),
        "no document holding them",
    )
}

/// Whether a mapping is a Kubernetes `List` (`apiVersion: v1`, `kind: List`, `items`).
fn is_kubernetes_list(map: &Map<String, Value>) -> bool {
    map.get("apiVersion").and_then(Value::as_str) == Some("v1")
        && map.get("kind").and_then(Value::as_str) == Some("List")
}

fn split_kubernetes_list(
    mut map: Map<String, Value>,
    kinds: &[&'static dyn DynKind],
) -> Result<Vec<Part>, UpdateError> {
    match map.remove("items") {
        Some(Value::Array(items)) => split_several(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| (format!("items[{i}]"), item)),
            kinds,
        ),
        other => Err(UpdateError::Shape(format!(
            "the `items` of a List must be a list of custom resources, found {}",
            type_name(other.as_ref().unwrap_or(&Value::Null))
        ))),
    }
}

fn split_custom_resource(
    mut map: Map<String, Value>,
    kinds: &[&'static dyn DynKind],
) -> Result<Vec<Part>, UpdateError> {
    let api_version = map.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if api_version.split_once('/') != Some((CRD_GROUP, CRD_VERSION)) {
        return Err(UpdateError::Shape(format!(
            "a custom resource needs `apiVersion: {CRD_GROUP}/{CRD_VERSION}` (the only version \
             served), found {:?}",
            clip(api_version)
        )));
    }
    let found = clip(map.get("kind").and_then(Value::as_str).unwrap_or("")).into_owned();
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
                "unknown section `{}`; the sections are {}",
                clip(&key),
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
    by_kind(parts, names(kinds, |k| k.section()), "no section for them")
}

/// `parts` sorted by kind (those of one kind keep their order), or
/// [`UpdateError::WrongKind`] if there is none: the document has no rules of the `kinds`
/// the source loads, only what `found` says.
fn by_kind(mut parts: Vec<Part>, kinds: String, found: &str) -> Result<Vec<Part>, UpdateError> {
    if parts.is_empty() {
        return Err(UpdateError::WrongKind {
            expected: format!("{kinds} rules"),
            found: found.to_string(),
        });
    }
    parts.sort_by_key(|p| p.kind);
    Ok(parts)
}

fn names(kinds: &[&'static dyn DynKind], name: impl Fn(&dyn DynKind) -> &'static str) -> String {
    kinds
        .iter()
        .map(|k| name(*k))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn type_name(v: &Value) -> &'static str {
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

    /// A custom resource of `kind` with `rules` empty rules.
    fn custom_resource(kind: &str, rules: usize) -> Value {
        json!({"apiVersion": "datasource.sentinel.io/v1alpha1", "kind": kind,
               "metadata": {"name": "x"}, "spec": {"rules": vec![json!({}); rules]}})
    }

    fn kinds_of(parts: &[Part]) -> Vec<(usize, usize, bool)> {
        parts
            .iter()
            .map(|p| (p.kind, p.rules.len(), p.from_crd))
            .collect()
    }

    #[test]
    fn a_list_fits_one_kind_only() {
        let flow = [ops::<Flow>()];
        let parts = split_one(json!([{}, {}]), &flow).unwrap();
        assert_eq!(kinds_of(&parts), [(0, 2, false)]);
        let both = [ops::<Flow>(), ops::<Isolation>()];
        let e = split_one(json!([{}]), &both).unwrap_err();
        assert!(e.to_string().contains("sections (flow, isolation)"), "{e}");
    }

    #[test]
    fn custom_resources_are_matched_by_kind() {
        let flow = [ops::<Flow>()];
        let doc = |kind: &str| custom_resource(kind, 1);
        assert_eq!(
            kinds_of(&split_one(doc("FlowRules"), &flow).unwrap()),
            [(0, 1, true)]
        );
        assert_eq!(
            split_one(doc("IsolationRules"), &flow).unwrap_err(),
            UpdateError::WrongKind {
                expected: "FlowRules".into(),
                found: "IsolationRules".into()
            }
        );
        let e = split_one(doc("Deployment"), &flow).unwrap_err().to_string();
        assert!(
            e.contains("unknown custom resource kind \"Deployment\""),
            "{e}"
        );
        for api_version in [
            "v1",
            "datasource.sentinel.io/v9",
            "datasource.sentinel.io",
            "datasource.sentinel.io/",
            "datasource.sentinel.io/v1alpha1/x",
            "other.io/v1alpha1",
        ] {
            let e = split_one(
                json!({"apiVersion": api_version, "kind": "FlowRules",
                                     "spec": {"rules": []}}),
                &flow,
            )
            .unwrap_err()
            .to_string();
            assert!(
                e.contains(
                    "needs `apiVersion: datasource.sentinel.io/v1alpha1` (the only version served)"
                ) && e.contains(&format!("found {api_version:?}")),
                "{api_version}: {e}"
            );
        }
        let e = split_one(
            json!({"apiVersion": "datasource.sentinel.io/v1alpha1", "kind": "FlowRules", "spec": {}}),
            &flow,
        )
        .unwrap_err();
        assert!(e.to_string().contains("no `spec.rules`"), "{e}");
    }

    #[test]
    fn sections_pick_the_kinds_of_the_source() {
        let both = [ops::<Flow>(), ops::<Isolation>()];
        let parts = split_one(json!({"isolation": [{}], "flow": [{}, {}]}), &both).unwrap();
        assert_eq!(kinds_of(&parts), [(0, 2, false), (1, 1, false)]);
        let isolation = [ops::<Isolation>()];
        let parts = split_one(json!({"isolation": [{}], "flow": [{}, {}]}), &isolation).unwrap();
        assert_eq!(kinds_of(&parts), [(0, 1, false)]);
        let flow = [ops::<Flow>()];
        assert!(matches!(
            split_one(json!({"isolation": []}), &flow),
            Err(UpdateError::WrongKind { .. })
        ));
        let e = split_one(json!({"flows": []}), &flow)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown section `flows`"), "{e}");
        let e = split_one(json!({"flow": null}), &flow)
            .unwrap_err()
            .to_string();
        assert!(e.contains("write `flow: []`"), "{e}");
    }

    #[test]
    fn scalars_are_not_documents() {
        let flow = [ops::<Flow>()];
        let e = split_one(json!("abc"), &flow).unwrap_err();
        assert_eq!(
            e,
            UpdateError::Shape("expected a list of flow rules, found a string".into())
        );
    }

    #[test]
    fn several_documents_are_a_union_sorted_by_kind() {
        let both = [ops::<Flow>(), ops::<Isolation>()];
        let cr = custom_resource;
        let docs = vec![
            cr("FlowRules", 1),
            json!({"isolation": [{}], "flow": [{}, {}]}),
            cr("IsolationRules", 3),
            cr("SystemRules", 1),
        ];
        let parts = split(docs, &both).unwrap();
        assert_eq!(
            kinds_of(&parts),
            [(0, 1, true), (0, 2, false), (1, 1, false), (1, 3, true)]
        );
        let flow = [ops::<Flow>()];
        let e = split(vec![cr("SystemRules", 1), cr("IsolationRules", 1)], &flow).unwrap_err();
        assert_eq!(
            e,
            UpdateError::WrongKind {
                expected: "flow rules".into(),
                found: "no document holding them".into()
            }
        );
        let e = split(vec![cr("FlowRules", 1), json!({"flows": []})], &flow).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("not a rule document: document 2: unknown section `flows`"),
            "{e}"
        );
        let e = split(vec![json!([{}]), cr("Deployment", 0)], &flow).unwrap_err();
        assert!(
            e.to_string()
                .contains("document 2: unknown custom resource kind"),
            "{e}"
        );
    }

    #[test]
    fn a_kubernetes_list_is_the_union_of_its_items() {
        let flow = [ops::<Flow>()];
        let item = |kind: &str| custom_resource(kind, 1);
        let list = json!({"apiVersion": "v1", "kind": "List", "metadata": {},
                          "items": [item("FlowRules"), item("IsolationRules"), item("FlowRules")]});
        assert_eq!(
            kinds_of(&split(vec![list], &flow).unwrap()),
            [(0, 1, true), (0, 1, true)]
        );
        let bad = json!({"apiVersion": "v1", "kind": "List",
                         "items": [item("FlowRules"), {"apiVersion": "datasource.sentinel.io/v2", "kind": "FlowRules"}]});
        let e = split(vec![bad], &flow).unwrap_err().to_string();
        assert!(e.contains("items[1]: a custom resource needs"), "{e}");
        let e = split_one(json!({"apiVersion": "v1", "kind": "List"}), &flow).unwrap_err();
        assert!(e.to_string().contains("`items` of a List"), "{e}");
    }
}
