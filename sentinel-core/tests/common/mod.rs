//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::time::Duration;

use sentinel_core::flow::FlowRule;
use sentinel_core::isolation::IsolationRule;
use sentinel_core::{Entry, ManualClock, Sentinel};

/// An instance on a manual clock.
pub fn instance() -> (ManualClock, Sentinel) {
    let clock = ManualClock::new();
    (clock.clone(), Sentinel::builder().clock(clock).build())
}

/// A Direct/Reject flow rule.
pub fn flow(resource: &str, threshold: f64) -> FlowRule {
    FlowRule {
        resource: resource.into(),
        threshold,
        ..Default::default()
    }
}

/// An isolation rule.
pub fn isolation(resource: &str, threshold: u32) -> IsolationRule {
    IsolationRule {
        resource: resource.into(),
        threshold,
        ..Default::default()
    }
}

/// Tries `n` entries and keeps those admitted (in flight until dropped).
pub fn tries(s: &Sentinel, resource: &str, n: usize) -> Vec<Entry<'static>> {
    (0..n)
        .filter_map(|_| s.entry_owned(resource).try_enter_owned().ok())
        .collect()
}

/// Milliseconds.
pub fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}
