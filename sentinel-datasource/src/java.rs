//! Sentinel Java's flow rules (`FlowRule` as its dashboard and data sources write it), read
//! as this crate's flow rules.
//!
//! A flow rule object is taken as Java's when it has one of Java's own fields (`count`,
//! `grade`, `limitApp`, `strategy`); sentinel-golang's rules have none of them. Its fields
//! are then rewritten, before decoding, to the ones they mean here:
//!
//! | Java | here |
//! |---|---|
//! | `count` | `threshold` |
//! | `grade` 1 (QPS, the default) | a flow rule; 0 (thread count) is refused: an isolation rule limits entries in flight |
//! | `strategy` 0 (direct), 1 (relate) | `relationStrategy` CurrentResource, AssociatedResource (with `refResource`); 2 (chain) is refused |
//! | `controlBehavior` 0, 1, 2, 3 | Reject; WarmUp; Throttling; WarmUp with Throttling (`tokenCalculateStrategy` and `controlBehavior`) |
//! | `limitApp` `default` | nothing (every caller); a named origin is refused |
//! | `id` (a number) | `id` (its digits) |
//! | `clusterConfig` | the same, without the fields of Java's token server (`sampleCount`, `windowIntervalMs`, `strategy`, `resourceTimeout`, `resourceTimeoutStrategy`, `acquireRefuseStrategy`, `clientOfflineTime`) |
//!
//! `resource`, `refResource`, `warmUpPeriodSec`, `maxQueueingTimeMs` and `clusterMode` have
//! the same names and meanings. Any other field is left as written, so that an unknown one
//! is reported as usual.

use sentinel_core::FieldError;
use serde_json::{Map, Value};

/// Fields only Java's flow rules have: one of them marks a rule as Java's.
const JAVA_ONLY: [&str; 4] = ["count", "grade", "limitApp", "strategy"];

/// Fields of Java's `ClusterFlowConfig` that configure its token server, not the limit.
const TOKEN_SERVER_ONLY: [&str; 7] = [
    "sampleCount",
    "windowIntervalMs",
    "strategy",
    "resourceTimeout",
    "resourceTimeoutStrategy",
    "acquireRefuseStrategy",
    "clientOfflineTime",
];

/// Rewrites `rule` in place when it is a Java flow rule (see the module docs); other rules
/// are left alone.
///
/// # Errors
///
/// A Java field whose meaning this crate does not have (thread-count grade, chain
/// strategy, a named `limitApp`), an unknown Java value, or `count` written together with
/// `threshold`.
pub(crate) fn flow_rule(rule: &mut Value) -> Result<(), FieldError> {
    let Value::Object(fields) = rule else {
        return Ok(());
    };
    if !JAVA_ONLY.iter().any(|f| fields.contains_key(*f)) {
        return Ok(());
    }
    if let Some(count) = fields.remove("count") {
        if fields.contains_key("threshold") {
            return Err(FieldError::new(
                "count",
                "is Sentinel Java's name for `threshold`: write one of them",
            ));
        }
        fields.insert("threshold".into(), count);
    }
    match integer(fields.remove("grade"), "grade")? {
        None | Some(1) => {}
        Some(0) => {
            return Err(FieldError::new(
                "grade",
                "0 (thread count) limits entries in flight: write an isolation rule; flow \
                 rules take grade 1 (QPS)",
            ));
        }
        Some(g) => return Err(unknown("grade", g, "0 (thread count) or 1 (QPS)")),
    }
    relation(fields)?;
    behavior(fields)?;
    match fields.remove("limitApp") {
        None => {}
        Some(Value::String(app)) if app == "default" => {}
        Some(other) => {
            return Err(FieldError::new(
                "limitApp",
                format!(
                    "{other} names a caller (origin); limits per caller are not supported, \
                     only \"default\" (every caller)"
                ),
            ));
        }
    }
    if let Some(Value::Number(id)) = fields.get("id") {
        let id = id.to_string();
        fields.insert("id".into(), Value::String(id));
    }
    if let Some(Value::Object(config)) = fields.get_mut("clusterConfig") {
        for field in TOKEN_SERVER_ONLY {
            config.remove(field);
        }
    }
    Ok(())
}

/// Java's `strategy` (which statistics the rule reads) as `relationStrategy`.
fn relation(fields: &mut Map<String, Value>) -> Result<(), FieldError> {
    let relation = match integer(fields.remove("strategy"), "strategy")? {
        None | Some(0) => return Ok(()),
        Some(1) => "AssociatedResource",
        Some(2) => {
            return Err(FieldError::new(
                "strategy",
                "2 (chain: limits by the calling entrance) is not supported; 0 (direct) or \
                 1 (relate, with refResource)",
            ));
        }
        Some(s) => {
            return Err(unknown(
                "strategy",
                s,
                "0 (direct), 1 (relate) or 2 (chain)",
            ));
        }
    };
    fields.insert("relationStrategy".into(), relation.into());
    Ok(())
}

/// Java's `controlBehavior` as the token strategy and control behavior it combines.
fn behavior(fields: &mut Map<String, Value>) -> Result<(), FieldError> {
    let (tokens, behavior) = match integer(fields.remove("controlBehavior"), "controlBehavior")? {
        None | Some(0) => ("Direct", "Reject"),
        Some(1) => ("WarmUp", "Reject"),
        Some(2) => ("Direct", "Throttling"),
        Some(3) => ("WarmUp", "Throttling"),
        Some(b) => {
            return Err(unknown(
                "controlBehavior",
                b,
                "0 (default), 1 (warm up), 2 (rate limiter) or 3 (warm up + rate limiter)",
            ));
        }
    };
    fields.insert("tokenCalculateStrategy".into(), tokens.into());
    fields.insert("controlBehavior".into(), behavior.into());
    Ok(())
}

/// A Java enum field, which Java writes as an integer.
fn integer(value: Option<Value>, field: &'static str) -> Result<Option<i64>, FieldError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.as_i64().is_some() => Ok(n.as_i64()),
        Some(other) => Err(FieldError::new(
            field,
            format!("{other} is not one of Sentinel Java's integers for this field"),
        )),
    }
}

fn unknown(field: &'static str, value: i64, expected: &str) -> FieldError {
    FieldError::new(
        field,
        format!("unknown Sentinel Java value {value}; expected {expected}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn translated(mut rule: Value) -> Result<Value, FieldError> {
        flow_rule(&mut rule).map(|()| rule)
    }

    #[test]
    fn go_rules_are_left_alone() {
        let go = json!({"resource": "r", "threshold": 5, "controlBehavior": 1});
        assert_eq!(translated(go.clone()).unwrap(), go);
    }

    #[test]
    fn java_fields_become_theirs_here() {
        let java = json!({
            "id": 7, "resource": "r", "limitApp": "default", "grade": 1, "count": 20,
            "strategy": 1, "refResource": "db", "controlBehavior": 3,
            "warmUpPeriodSec": 10, "maxQueueingTimeMs": 500
        });
        assert_eq!(
            translated(java).unwrap(),
            json!({
                "id": "7", "resource": "r", "threshold": 20,
                "relationStrategy": "AssociatedResource", "refResource": "db",
                "tokenCalculateStrategy": "WarmUp", "controlBehavior": "Throttling",
                "warmUpPeriodSec": 10, "maxQueueingTimeMs": 500
            })
        );
    }

    #[test]
    fn java_meanings_this_crate_lacks_are_refused_by_field() {
        for (rule, field) in [
            (json!({"resource": "r", "grade": 0, "count": 5}), "grade"),
            (
                json!({"resource": "r", "strategy": 2, "count": 5}),
                "strategy",
            ),
            (
                json!({"resource": "r", "limitApp": "app-a", "count": 5}),
                "limitApp",
            ),
            (
                json!({"resource": "r", "count": 5, "threshold": 5}),
                "count",
            ),
            (
                json!({"resource": "r", "count": 5, "controlBehavior": 9}),
                "controlBehavior",
            ),
            (
                json!({"resource": "r", "count": 5, "grade": "QPS"}),
                "grade",
            ),
        ] {
            let e = translated(rule.clone()).unwrap_err();
            assert_eq!(e.field, field, "{rule}: {}", e.reason);
        }
    }
}
