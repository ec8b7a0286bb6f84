//! The API promised in the project's engine issue, written exactly as users will write it.

use std::time::Duration;

use sentinel_core::flow::{ControlBehavior, FlowRule, RelationStrategy, TokenCalculateStrategy};
use sentinel_core::isolation::IsolationRule;
use sentinel_core::{BlockType, ManualClock, Sentinel, TrafficType};

#[test]
fn the_documented_api_works_as_written() -> Result<(), Box<dyn std::error::Error>> {
    let clock = ManualClock::new();
    let sentinel = Sentinel::builder().clock(clock.clone()).build();
    sentinel.load_flow_rules(vec![FlowRule {
        resource: "GET /items".into(),
        threshold: 10.0,
        control_behavior: ControlBehavior::Reject,
        ..Default::default()
    }])?;
    sentinel.load_isolation_rules(vec![IsolationRule {
        resource: "export".into(),
        threshold: 2,
        ..Default::default()
    }])?;
    let rules: Vec<FlowRule> = sentinel.flow_rules();
    assert_eq!(rules.len(), 1);

    let entry = sentinel
        .entry("GET /items")
        .traffic(TrafficType::Inbound)
        .batch(1)
        .arg("user-42")
        .attachment("tenant", "acme")
        .try_enter();
    match entry {
        Ok(e) => {
            let _w: Duration = e.wait();
            e.set_error("upstream failed");
            e.exit();
        }
        Err(b) => {
            assert_eq!(b.block_type(), BlockType::Flow);
            let _ = b.snapshot();
        }
    }
    let e = sentinel.entry("GET /items").enter()?;
    drop(e);
    clock.advance(Duration::from_millis(500));
    let stats = sentinel.resource_stats("GET /items").unwrap();
    let _ = (
        stats.pass_qps,
        stats.block_qps,
        stats.complete_qps,
        stats.error_qps,
        stats.avg_rt_ms,
        stats.concurrency,
    );
    assert_eq!(
        (stats.pass_qps, stats.error_qps, stats.concurrency),
        (2.0, 1.0, 0)
    );
    let global: &Sentinel = sentinel_core::global();
    let _ = global;
    let _real = Sentinel::new();
    Ok(())
}

fn assert_traits<T: Clone + Send + Sync>() {}
fn assert_send<T: Send>() {}
fn assert_traits_sync<T: Send + Sync>() {}
fn assert_rule<
    T: Default + Clone + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
>() {
}
fn assert_enum<T: std::fmt::Debug + Copy + PartialEq>() {}

#[test]
fn the_promised_traits_hold() {
    assert_traits::<Sentinel>();
    assert_send::<sentinel_core::Entry<'static>>();
    assert_traits_sync::<sentinel_core::Entry<'static>>();
    assert_rule::<FlowRule>();
    assert_rule::<IsolationRule>();
    assert_enum::<TokenCalculateStrategy>();
    assert_enum::<ControlBehavior>();
    assert_enum::<RelationStrategy>();
    assert_enum::<BlockType>();
    assert_enum::<TrafficType>();
    let _ = [
        BlockType::Flow,
        BlockType::Isolation,
        BlockType::CircuitBreaking,
        BlockType::System,
        BlockType::HotSpotParamFlow,
    ];
    let e: Box<dyn std::error::Error> = Box::new(sentinel_core::BlockError::new(
        BlockType::Flow,
        "r".into(),
        "x",
    ));
    assert!(e.to_string().contains("Flow"));
}
