//! The pipeline's status, deletion policies, and kinds added by
//! implementing `RuleKind` outside the crate.

mod common;

use std::time::SystemTime;

use common::fixture;
use sentinel_core::flow::FlowRule;
use sentinel_core::{FieldError, RuleSetError, Sentinel};
use sentinel_datasource::{DeletePolicy, Flow, Format, Pipeline, RuleKind, UpdateError};

#[test]
fn the_status_counts_updates_and_keeps_the_last_error() {
    let sentinel = Sentinel::new();
    let pipeline = Pipeline::builder(&sentinel)
        .kind::<Flow>()
        .label("flow rules from a test")
        .build();
    let fresh = pipeline.status();
    assert_eq!(
        (
            fresh.last_success,
            fresh.updates_applied,
            fresh.updates_rejected
        ),
        (None, 0, 0)
    );
    assert!(fresh.is_healthy());

    let before = SystemTime::now();
    pipeline.apply(&fixture("flow.json"), Format::Json).unwrap();
    pipeline
        .apply(b"[{\"resource\": \"x\", \"threshold\": -1}]", Format::Json)
        .unwrap_err();
    let status = pipeline.status();
    assert_eq!(status.label, "flow rules from a test");
    assert_eq!((status.updates_applied, status.updates_rejected), (1, 1));
    assert!(status.last_success.unwrap() >= before);
    assert_eq!(status.rules_of("flow"), Some(4));
    assert_eq!(status.total_rules(), 4);
    let last = status.last_error.clone().unwrap();
    assert!(last.at >= status.last_success.unwrap());
    assert_eq!(last.error.problems()[0].field, "threshold");
    assert!(!status.is_healthy());

    // The same content again is accepted without reloading; the error stays on record.
    let again = pipeline.apply(&fixture("flow.json"), Format::Json).unwrap();
    assert!(!again.changed());
    let status = pipeline.status();
    assert_eq!((status.updates_applied, status.updates_rejected), (2, 1));
    assert!(status.is_healthy());
    assert_eq!(status.last_error, Some(last));
}

#[test]
fn a_deleted_source_keeps_its_rules_unless_the_policy_clears_them() {
    let sentinel = Sentinel::new();
    let keep = Pipeline::for_kind::<Flow>(&sentinel);
    keep.apply(&fixture("flow.json"), Format::Json).unwrap();
    assert_eq!(
        keep.source_deleted("flow.json"),
        Err(UpdateError::Missing {
            what: "flow.json".into()
        })
    );
    assert_eq!(sentinel.flow_rules().len(), 4);
    assert!(!keep.status().is_healthy());

    let clear = Pipeline::builder(&sentinel)
        .kind::<Flow>()
        .on_delete(DeletePolicy::ClearRules)
        .build();
    let applied = clear.source_deleted("flow.json").unwrap();
    assert!(applied.changed());
    assert!(sentinel.flow_rules().is_empty());
}

/// A rule kind defined outside the crate whose loads the engine always refuses (its
/// rules pass the per-rule check), to show that a refused kind puts back the kinds
/// loaded before it in the same update.
struct Refused;

impl RuleKind for Refused {
    type Rule = FlowRule;
    const NAME: &'static str = "refused";
    const SECTION: &'static str = "refused";
    const CRD_KIND: &'static str = "RefusedRules";

    fn load(_: &Sentinel, _: Vec<FlowRule>) -> Result<(), RuleSetError> {
        // A genuine engine error, from a rule the engine rejects.
        Err(Sentinel::new()
            .load_flow_rules(vec![FlowRule::default()])
            .unwrap_err())
    }
    fn current(_: &Sentinel) -> Vec<FlowRule> {
        Vec::new()
    }
    fn validate(_: &FlowRule) -> Result<(), FieldError> {
        Ok(())
    }
    fn id(rule: &FlowRule) -> &str {
        &rule.id
    }
    fn resource(rule: &FlowRule) -> &str {
        &rule.resource
    }
}

#[test]
fn a_kind_refused_by_the_engine_rolls_back_the_kinds_loaded_before_it() {
    let sentinel = Sentinel::new();
    let pipeline = Pipeline::builder(&sentinel)
        .kind::<Flow>()
        .kind::<Refused>()
        .build();
    pipeline
        .apply(
            b"{\"flow\": [{\"resource\": \"a\", \"threshold\": 1}]}",
            Format::Json,
        )
        .unwrap();
    let err = pipeline
        .apply(
            b"{\"flow\": [{\"resource\": \"b\", \"threshold\": 2}], \"refused\": [{\"resource\": \"c\"}]}",
            Format::Json,
        )
        .unwrap_err();
    assert_eq!(err.problems()[0].field, "resource", "{err}");
    assert_eq!(sentinel.flow_rules()[0].resource, "a");
    assert_eq!(sentinel.flow_rules().len(), 1);
}
