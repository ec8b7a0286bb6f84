//! Concurrency isolation: cap how many entries of a resource are in flight.
//!
//! What is limited is the resource's entries in flight, as its statistics count them (a
//! batch counts as its size): the world, not the rule. So a rule changed, removed and
//! added again, or loaded while entries are in flight counts every entry in flight, as
//! sentinel-golang does, and no rule keeps a count that could drift.
//!
//! Unlike sentinel-golang, concurrent entrants never overshoot: an entrant first reserves
//! its batch in the rule's count of entries being admitted, then decides on the entries in
//! flight plus those being admitted, and gives the reservation back once it is counted in
//! flight (or at once if it is refused, here or by a later check).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::block::{BlockError, BlockInfo, BlockType, BlockedRule};
use crate::pipeline::{BuildEnv, KindBuilder};
use crate::pipeline::{Check, CheckContext, ORDER_ISOLATION, Verdict};
use crate::rules::FieldError;
use crate::rules::go_enum::go_enum;

go_enum! {
    /// What an isolation rule counts (sentinel-golang has only concurrency).
    pub enum IsolationMetric {
        /// Entries in flight.
        #[default]
        Concurrency = 0 => ["Concurrency"],
    }
}

/// A concurrency limit on one resource.
///
/// ```
/// use sentinel_core::isolation::IsolationRule;
/// let r: IsolationRule = serde_json::from_str(
///     r#"{"id": "report-pool", "resource": "export-report", "metricType": 0, "threshold": 8}"#,
/// ).unwrap();
/// assert_eq!(r.threshold, 8);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct IsolationRule {
    /// Optional identifier.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// The guarded resource.
    pub resource: String,
    /// What is counted.
    pub metric_type: IsolationMetric,
    /// Most entries (by batch) in flight at once; must be > 0.
    pub threshold: u32,
}

impl IsolationRule {
    /// Checks the rule; the first problem found names its field.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.resource.trim().is_empty() {
            return Err(FieldError::new("resource", "must not be empty"));
        }
        if self.threshold == 0 {
            return Err(FieldError::new("threshold", "must be greater than 0"));
        }
        Ok(())
    }
}

/// The compiled rule: its count of entries being admitted.
pub(crate) struct IsolationCheck {
    full: Arc<BlockInfo>,
    threshold: u64,
    /// Batches reserved by entrants between their decision and their being counted in the
    /// resource's statistics.
    admitting: AtomicU64,
}

impl Check for IsolationCheck {
    fn order(&self) -> u32 {
        ORDER_ISOLATION
    }

    fn check(&self, ctx: &CheckContext<'_>) -> Verdict {
        let batch = ctx.batch() as u64;
        // The reservation comes first: an entrant that saw another's reservation released
        // also sees that entry counted in flight (the release follows the count).
        let admitting = self.admitting.fetch_add(batch, Ordering::AcqRel) + batch;
        let now = ctx.stats().in_flight() + admitting;
        if now > self.threshold {
            self.admitting.fetch_sub(batch, Ordering::AcqRel);
            return Verdict::Block(
                BlockError::from_info(self.full.clone()).with_snapshot((now - batch) as f64),
            );
        }
        Verdict::Pass
    }

    fn needs_cancel(&self) -> bool {
        true
    }

    fn needs_admitted(&self) -> bool {
        true
    }

    /// The entry is now counted in flight: its reservation is no longer needed.
    fn on_admitted(&self, ctx: &CheckContext<'_>) {
        self.admitting
            .fetch_sub(ctx.batch() as u64, Ordering::AcqRel);
    }

    fn on_cancel(&self, ctx: &CheckContext<'_>, _token: Option<u64>) {
        self.admitting
            .fetch_sub(ctx.batch() as u64, Ordering::AcqRel);
    }
}

/// The isolation rule kind, for the generic rule manager.
pub(crate) struct IsolationKind;

impl KindBuilder for IsolationKind {
    type Rule = IsolationRule;

    type State = IsolationCheck;
    type Shared = ();
    fn build(
        rule: &IsolationRule,
        _env: &BuildEnv<'_>,
        _shared: &(),
        _siblings: &[&IsolationRule],
        _position: usize,
    ) -> Arc<IsolationCheck> {
        Arc::new(IsolationCheck {
            full: BlockInfo::new(
                BlockType::Isolation,
                rule.resource.as_str(),
                Some(BlockedRule {
                    id: rule.id.clone(),
                    description: format!("at most {} in flight", rule.threshold),
                }),
                "concurrency limit reached",
            ),
            threshold: rule.threshold as u64,
            admitting: AtomicU64::new(0),
        })
    }
}

impl crate::rules::Rule for IsolationRule {
    const KIND: &'static str = "isolation";
    fn id(&self) -> &str {
        &self.id
    }
    fn resource(&self) -> &str {
        self.resource.as_str()
    }
    fn validate(&self) -> Result<(), crate::rules::FieldError> {
        IsolationRule::validate(self)
    }
}

#[cfg(test)]
mod tests {
    use super::IsolationRule;
    use crate::{BlockType, ManualClock, Sentinel};
    use std::sync::atomic::{AtomicU64, Ordering};

    fn limited(threshold: u32) -> Sentinel {
        let s = Sentinel::builder().clock(ManualClock::new()).build();
        s.load_isolation_rules(vec![IsolationRule {
            resource: "export".into(),
            threshold,
            ..Default::default()
        }])
        .unwrap();
        s
    }

    #[test]
    fn eight_threads_never_exceed_the_limit() {
        let s = limited(4);
        let in_flight = AtomicU64::new(0);
        let peak = AtomicU64::new(0);
        let passed = AtomicU64::new(0);
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..20_000 {
                        if let Ok(e) = s.entry("export").try_enter() {
                            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            passed.fetch_add(1, Ordering::Relaxed);
                            std::hint::spin_loop();
                            in_flight.fetch_sub(1, Ordering::SeqCst);
                            drop(e);
                        }
                    }
                });
            }
        });
        assert!(
            peak.load(Ordering::SeqCst) <= 4,
            "peak {}",
            peak.load(Ordering::SeqCst)
        );
        assert!(passed.load(Ordering::Relaxed) > 0);
        assert_eq!(s.resource_stats("export").unwrap().concurrency, 0);
    }

    #[test]
    fn a_batch_counts_as_its_size() {
        let s = limited(4);
        let a = s.entry("export").batch(3).try_enter().unwrap();
        let b = s.entry("export").batch(2).try_enter().unwrap_err();
        assert_eq!(b.block_type(), BlockType::Isolation);
        assert_eq!(b.snapshot(), Some(3.0));
        let c = s.entry("export").batch(1).try_enter().unwrap();
        drop(a);
        let d = s.entry("export").batch(3).try_enter().unwrap();
        drop((c, d));
        assert!(s.entry("export").batch(4).try_enter().is_ok());
    }

    #[test]
    fn a_slot_taken_before_a_later_block_is_released() {
        let s = limited(1);
        // A flow rule runs before isolation; use a custom check after it that always blocks.
        struct Deny;
        impl crate::pipeline::Check for Deny {
            fn order(&self) -> u32 {
                crate::pipeline::ORDER_CIRCUIT_BREAKER
            }
            fn check(&self, ctx: &crate::pipeline::CheckContext<'_>) -> crate::pipeline::Verdict {
                crate::pipeline::Verdict::Block(crate::BlockError::new(
                    BlockType::Custom(7),
                    ctx.resource_arc(),
                    "no",
                ))
            }
        }
        s.add_check(std::sync::Arc::new(Deny));
        for _ in 0..3 {
            let e = s.entry("export").try_enter().unwrap_err();
            assert_eq!(
                e.block_type(),
                BlockType::Custom(7),
                "isolation slot was released"
            );
        }
    }

    #[test]
    fn zero_threshold_is_invalid() {
        let s = Sentinel::builder().build();
        let e = s
            .load_isolation_rules(vec![IsolationRule {
                resource: "x".into(),
                ..Default::default()
            }])
            .unwrap_err();
        assert_eq!(e.errors()[0].error.field, "threshold");
    }
}
