//! A structural check of a document against a CRD's OpenAPI v3 schema, as the API server
//! (and `kubectl apply --validate=strict`) applies it: types, required fields, enums, and
//! no field the schema does not declare (the API server would prune it).
// Each user needs a different subset of these functions.
#![allow(dead_code)]

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;

/// The OpenAPI schema of the CRD's first version, as JSON.
pub fn schema_of(definition: &CustomResourceDefinition) -> Value {
    let version = &definition.spec.versions[0];
    let schema = version
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .expect("the CRD has an OpenAPI schema");
    serde_json::to_value(schema).unwrap()
}

/// Every problem of `doc` under `schema`, each naming its path; empty if it validates.
pub fn check(schema: &Value, doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    check_at("", schema, doc, &mut problems);
    problems
}

fn check_at(path: &str, schema: &Value, doc: &Value, problems: &mut Vec<String>) {
    if doc.is_null() {
        if schema["nullable"] != Value::Bool(true) {
            problems.push(format!("{path}: null where the schema does not allow it"));
        }
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(doc)
    {
        problems.push(format!("{path}: {doc} is not one of {allowed:?}"));
    }
    let declared = schema.get("type").and_then(Value::as_str);
    let fits = match declared {
        None => true,
        Some("object") => doc.is_object(),
        Some("array") => doc.is_array(),
        Some("string") => doc.is_string(),
        Some("boolean") => doc.is_boolean(),
        Some("integer") => doc.is_i64() || doc.is_u64(),
        Some("number") => doc.is_number(),
        Some(other) => {
            problems.push(format!("{path}: the schema has an unknown type {other}"));
            return;
        }
    };
    if !fits {
        problems.push(format!(
            "{path}: {doc} is not of type {}",
            declared.unwrap_or("")
        ));
        return;
    }
    if let (Some(items), Some(list)) = (schema.get("items"), doc.as_array()) {
        for (i, item) in list.iter().enumerate() {
            check_at(&format!("{path}[{i}]"), items, item, problems);
        }
    }
    let Some(fields) = doc.as_object() else {
        return;
    };
    for required in schema["required"].as_array().into_iter().flatten() {
        let name = required.as_str().unwrap_or_default();
        if !fields.contains_key(name) {
            problems.push(format!("{path}.{name}: required but missing"));
        }
    }
    let preserve = schema["x-kubernetes-preserve-unknown-fields"] == Value::Bool(true);
    let properties = schema.get("properties").and_then(Value::as_object);
    for (name, value) in fields {
        let at = format!("{path}.{name}");
        match properties.and_then(|p| p.get(name)) {
            Some(field_schema) => check_at(&at, field_schema, value, problems),
            // The API server fills and checks these itself.
            None if path.is_empty()
                && ["apiVersion", "kind", "metadata"].contains(&name.as_str()) => {}
            None if preserve => {}
            None => match schema.get("additionalProperties") {
                Some(extra) if extra.is_object() => check_at(&at, extra, value, problems),
                _ => problems.push(format!("{at}: not a field of the schema")),
            },
        }
    }
}
