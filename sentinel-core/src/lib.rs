//! # Sentinel for Rust
//!
//! Flow control, traffic shaping, concurrency isolation, circuit breaking, hot-parameter
//! limits and adaptive system protection, embedded in your service.
//!
//! Every [`Sentinel`] instance owns its [`Clock`], its rules and its statistics, so several
//! instances live side by side and tests run deterministically with a [`ManualClock`]. A
//! process-wide instance ([`global()`]) is there for code in Sentinel's classic global style.
//!
//! ```
//! use std::time::Duration;
//! use sentinel_core::{BlockType, ManualClock, Sentinel, TrafficType};
//! use sentinel_core::flow::{ControlBehavior, FlowRule};
//!
//! let clock = ManualClock::new();
//! let sentinel = Sentinel::builder().clock(clock.clone()).build();
//! sentinel.load_flow_rules(vec![FlowRule {
//!     resource: "GET /items".into(),
//!     threshold: 10.0,
//!     control_behavior: ControlBehavior::Reject,
//!     ..Default::default()
//! }])?;
//!
//! let mut passed = 0;
//! for _ in 0..15 {
//!     match sentinel.entry("GET /items").traffic(TrafficType::Inbound).try_enter() {
//!         Ok(entry) => { passed += 1; drop(entry) }         // exit on drop
//!         Err(block) => assert_eq!(block.block_type(), BlockType::Flow),
//!     }
//! }
//! assert_eq!(passed, 10);
//! clock.advance(Duration::from_millis(500));
//! let stats = sentinel.resource_stats("GET /items").unwrap();
//! assert_eq!((stats.pass_qps, stats.block_qps), (10.0, 5.0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Admission
//!
//! [`Sentinel::entry`] starts an [`EntryBuilder`]; [`EntryBuilder::try_enter`] never
//! sleeps (a throttled entry comes back with [`Entry::wait`] set), [`EntryBuilder::enter`]
//! sleeps through the instance clock. Checks run in Sentinel's order (system, authority,
//! flow, isolation, hot parameter, circuit breaker; see [`pipeline`]); the first refusal returns a
//! [`BlockError`]. The hot path takes no lock and allocates nothing for an entry without
//! arguments.
//!
//! ## Rules
//!
//! Each kind is loaded as a whole set ([`Sentinel::load_flow_rules`],
//! [`Sentinel::load_isolation_rules`], [`Sentinel::load_circuit_breaker_rules`],
//! [`Sentinel::load_hotspot_rules`], [`Sentinel::load_system_rules`]; free functions of the
//! same names load into [`global()`]); an invalid set changes nothing and the
//! [`RuleSetError`] names every invalid rule and field. Rules (de)serialise with
//! sentinel-golang's JSON names; enums accept Go's integers and names.
//!
//! ## Layers
//!
//! The modules import only their own layer or lower ones (`scripts/layers.py` checks it):
//! leaves ([`clock`], [`stat`], [`metric_log`], [`text`], block types, argument values,
//! system metrics) → rule plumbing ([`rules`], shaping) → the pipeline's contracts
//! ([`pipeline`]: what a check is lent, nothing of the engine; [`cluster`]: what a cluster
//! backend is lent) → rule kinds ([`flow`],
//! [`isolation`], [`hotspot`], [`circuit_breaker`], [`system`]; none imports another) →
//! the engine (registry, rule sets, the admission path, per-second aggregation; private)
//! → the facade ([`Sentinel`], [`entry`](mod@entry), snapshots, Prometheus).

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![forbid(unsafe_code)]

// Layer 0, leaves.
mod block;
pub mod clock;
pub mod metric_log;
mod param;
pub mod stat;
mod system_metrics;
pub mod text;
mod traffic;
// Layer 1, rule plumbing.
pub mod rules;
mod shaping;
// Layer 2, the pipeline's contracts.
pub mod cluster;
pub mod pipeline;
// Layer 3, rule kinds.
pub mod circuit_breaker;
pub mod flow;
pub mod hotspot;
pub mod isolation;
pub mod system;
// Layer 4, the engine.
mod engine;
// Layer 5, the facade.
pub mod entry;
#[cfg(feature = "prometheus")]
pub mod prometheus;
mod sentinel;
mod snapshot;

/// Lifetime totals kept by the per-second aggregation.
pub mod observe {
    pub use crate::engine::Totals;
}

pub use clock::{Clock, ManualClock, RealClock};
pub use entry::{
    BlockError, BlockInfo, BlockType, BlockedRule, Entry, EntryBuilder, ParamValue, ResourceType,
    TrafficType,
};
pub use rules::{FieldError, InvalidRule, RuleSetError};
pub use sentinel::{
    OVERFLOW_RESOURCE, Resource, RuleCounts, Sentinel, SentinelBuilder, entry, global,
    load_circuit_breaker_rules, load_flow_rules, load_hotspot_rules, load_isolation_rules,
    load_system_rules,
};
pub use snapshot::{ClusterStatus, LeaseStatus, ResourceOverview, ResourceStats, UnmatchedRule};
