//! Typed rules from a document tree, with each problem named by rule and field.

use sentinel_core::FieldError;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{RuleProblem, RuleProblems};
use crate::kind::RuleKind;

/// What to do with fields a rule kind does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum UnknownFields {
    /// Reject the rule (default): a misspelt field would otherwise silently take its
    /// default (`threshhold: 10` would give a threshold of 0, blocking everything), and a
    /// document of another rule kind would load as rules of this one.
    #[default]
    Reject,
    /// Ignore them, as sentinel-golang's JSON reader does.
    Ignore,
}

/// Decodes a list of rules of kind `K` whose first rule is rule `first_index` of the
/// kind's list in the document; every rule that does not decode is reported, not only the
/// first.
pub(crate) fn decode_rules<K: RuleKind>(
    values: Vec<Value>,
    from_crd: bool,
    unknown_fields: UnknownFields,
    first_index: usize,
) -> Result<Vec<K::Rule>, RuleProblems> {
    let mut rules = Vec::with_capacity(values.len());
    // Every problem in rule order. Rules that decode but are invalid are reported here only
    // when some rule does not decode (otherwise the whole list is validated later), so one
    // report names them all.
    let mut problems = RuleProblems::default();
    // Whether some rule did not decode or convert: only then are the problems reported here.
    let mut refused = false;
    for (index, mut value) in (first_index..).zip(values) {
        let field_problem = |id: &str, resource: &str, e: FieldError| {
            RuleProblem::new(K::NAME, index, id, resource, e.field, &e.reason)
        };
        if let Err(e) = K::from_java(&mut value) {
            let text = |key: &str| value.get(key).and_then(Value::as_str).unwrap_or_default();
            problems.push(field_problem(text("id"), text("resource"), e));
            refused = true;
            continue;
        }
        match decode_rule::<K>(index, &value, unknown_fields) {
            Ok(mut rule) => {
                let converted = if from_crd {
                    K::from_crd(&mut rule)
                } else {
                    Ok(())
                };
                refused |= converted.is_err();
                if let Err(e) = converted.and_then(|()| K::validate(&rule)) {
                    problems.push(field_problem(K::id(&rule), K::resource(&rule), e));
                }
                rules.push(rule);
            }
            Err(p) => {
                refused = true;
                problems.extend(p);
            }
        }
    }
    if refused { Err(problems) } else { Ok(rules) }
}

fn decode_rule<K: RuleKind>(
    index: usize,
    value: &Value,
    unknown_fields: UnknownFields,
) -> Result<K::Rule, Vec<RuleProblem>> {
    let text = |key: &str| value.get(key).and_then(Value::as_str).unwrap_or_default();
    let problem = |field: &str, reason: &str| {
        RuleProblem::new(K::NAME, index, text("id"), text("resource"), field, reason)
    };
    let mut unknown = Vec::new();
    // serde_ignored writes an optional field's `Some` as `?`: `clusterConfig.?.sampleCount`.
    let mut note = |path: serde_ignored::Path<'_>| unknown.push(path.to_string().replace(".?", ""));
    // Tracking the path costs more than the decoding: only a rule that fails is decoded
    // again to name the field.
    let rule = match K::Rule::deserialize(serde_ignored::Deserializer::new(value, &mut note)) {
        Ok(rule) => rule,
        Err(error) => {
            let (field, reason) = match serde_path_to_error::deserialize::<_, K::Rule>(value) {
                Err(e) if e.path().iter().next().is_some() => {
                    (e.path().to_string(), e.into_inner().to_string())
                }
                Err(e) => (String::new(), e.into_inner().to_string()),
                Ok(_) => (String::new(), error.to_string()),
            };
            return Err(vec![problem(&field, &reason)]);
        }
    };
    let mut problems = Vec::new();
    if unknown_fields == UnknownFields::Reject {
        let reason = format!(
            "is not a field of {} rules (misspelt, or a document of another rule kind?)",
            K::NAME
        );
        problems.extend(unknown.iter().map(|field| problem(field, &reason)));
    }
    // Written, not defaulted: a rule cut off before its threshold must not mean 0.
    let written = |field: &&str| value.get(*field).is_some();
    problems.extend(
        K::required_fields(&rule)
            .iter()
            .filter(|field| !written(field))
            .map(|field| problem(field, &missing(K::accepted_values(field)))),
    );
    if problems.is_empty() {
        Ok(rule)
    } else {
        Err(problems)
    }
}

/// Why a required field that is missing must be written, with what it accepts.
fn missing(accepted: Option<String>) -> String {
    match accepted {
        Some(values) => format!("is required: {values}"),
        None => "is required; write it, even as 0 (left out it would be 0, which blocks or \
                 disables the rule: is the document cut short?)"
            .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::Flow;
    use serde_json::json;

    fn decode_with(
        v: &Value,
        unknown_fields: UnknownFields,
    ) -> Result<Vec<sentinel_core::flow::FlowRule>, Vec<RuleProblem>> {
        decode_rules::<Flow>(v.as_array().unwrap().clone(), false, unknown_fields, 0)
            .map_err(|p| p.first().to_vec())
    }

    fn decode(v: Value) -> Result<Vec<sentinel_core::flow::FlowRule>, Vec<RuleProblem>> {
        decode_with(&v, UnknownFields::Reject)
    }

    #[test]
    fn every_bad_rule_is_named_with_its_field() {
        let problems = decode(json!([
            {"resource": "ok", "threshold": 1},
            {"id": "typed", "resource": "r", "threshold": "ten"},
            {"resource": "enum", "controlBehavior": 9},
            "not an object"
        ]))
        .unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert_eq!(
            (
                problems[0].index,
                problems[0].id.as_str(),
                problems[0].field.as_str()
            ),
            (1, "typed", "threshold")
        );
        assert!(problems[0].reason.contains("expected f64"), "{problems:?}");
        assert_eq!(
            (problems[1].index, problems[1].field.as_str()),
            (2, "controlBehavior")
        );
        assert!(problems[1].reason.contains("unknown ControlBehavior 9"));
        assert_eq!((problems[2].index, problems[2].field.as_str()), (3, ""));
        assert_eq!(
            problems[1].to_string(),
            "flow rule #2 on resource \"enum\": field `controlBehavior` unknown ControlBehavior 9; \
             expected one of 0 (Reject), 1 (Throttling)"
        );
    }

    #[test]
    fn invalid_rules_are_named_with_rules_that_do_not_decode() {
        let problems = decode(json!([
            {"resource": "x", "threshold": -1},
            {"resource": "r", "threshold": "ten"}
        ]))
        .unwrap_err();
        let fields: Vec<(usize, &str)> = problems
            .iter()
            .map(|p| (p.index, p.field.as_str()))
            .collect();
        // In rule order.
        assert_eq!(fields, [(0, "threshold"), (1, "threshold")], "{problems:?}");
    }

    #[test]
    fn unknown_fields_are_rejected_or_ignored_as_asked() {
        let doc = json!([{"resource": "r", "threshold": 10, "comment": "x"}]);
        let problems = decode(doc.clone()).unwrap_err();
        assert_eq!(problems[0].field, "comment");
        assert!(problems[0].reason.contains("not a field of flow rules"));
        let rules = decode_with(&doc, UnknownFields::Ignore).unwrap();
        assert_eq!(rules[0].threshold, 10.0);
    }

    #[test]
    fn a_missing_threshold_is_an_error_and_an_explicit_zero_is_not() {
        for unknown_fields in [UnknownFields::Reject, UnknownFields::Ignore] {
            let misspelt =
                json!([{"resource": "r", "threshold": 0}, {"resource": "r", "threshhold": 10}]);
            let problems = decode_with(&misspelt, unknown_fields).unwrap_err();
            let missing = problems.last().unwrap();
            assert_eq!((missing.index, missing.field.as_str()), (1, "threshold"));
            assert!(
                missing.reason.starts_with("is required; write it"),
                "{missing}"
            );
        }
        let memory = json!([{"resource": "m", "tokenCalculateStrategy": "MemoryAdaptive",
            "lowMemUsageThreshold": 10, "highMemUsageThreshold": 5, "memLowWaterMarkBytes": 1}]);
        let problems = decode(memory).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].field, "memHighWaterMarkBytes");
    }

    #[test]
    fn fields_whose_default_changes_the_rule_are_required_with_their_values_listed() {
        use crate::kind::{CircuitBreaker, Hotspot, System};
        fn problems<K: RuleKind>(doc: Value) -> Vec<String> {
            decode_rules::<K>(
                doc.as_array().unwrap().clone(),
                false,
                UnknownFields::Reject,
                0,
            )
            .unwrap_err()
            .first()
            .iter()
            .map(ToString::to_string)
            .collect()
        }
        let breaker = problems::<CircuitBreaker>(json!([
            {"resource": "pay", "retryTimeoutMs": 1000, "threshold": 0.5},
            {"resource": "slow", "strategy": "SlowRequestRatio", "retryTimeoutMs": 1000,
             "threshold": 0.5}
        ]));
        assert_eq!(
            breaker,
            [
                "circuit breaker rule #0 on resource \"pay\": field `strategy` is required: one of \
                 SlowRequestRatio (0), ErrorRatio (1), ErrorCount (2)",
                "circuit breaker rule #0 on resource \"pay\": field `maxAllowedRtMs` is required: \
                 milliseconds > 0 (with SlowRequestRatio, the strategy when none is written, a \
                 completion slower than this is slow)",
                "circuit breaker rule #1 on resource \"slow\": field `maxAllowedRtMs` is required: \
                 milliseconds > 0 (with SlowRequestRatio, the strategy when none is written, a \
                 completion slower than this is slow)",
            ]
        );
        let hot = problems::<Hotspot>(json!([{"resource": "h", "threshold": 5}]));
        assert_eq!(
            hot,
            [
                "hot parameter rule #0 on resource \"h\": field `metricType` is required: one of \
              Concurrency (0), QPS (1)"
            ]
        );
        let system = problems::<System>(json!([{"triggerCount": 5}]));
        assert_eq!(
            system,
            [
                "system rule #0: field `metricType` is required: one of Load (0), AvgRT (1), \
              Concurrency (2), InboundQPS (3), CpuUsage (4)"
            ]
        );
    }

    #[test]
    fn rules_are_numbered_from_the_first_index() {
        let doc = json!([{"resource": "a", "threshold": 1}, {"resource": "b"}]);
        let problems = decode_rules::<Flow>(
            doc.as_array().unwrap().clone(),
            false,
            UnknownFields::Reject,
            5,
        )
        .unwrap_err();
        assert_eq!(problems.first()[0].index, 6);
    }
}
