//! System adaptive protection: the last line of defence when nobody knows a service's true
//! capacity.
//!
//! [`SystemRule`]s apply to every resource of the instance but check only
//! [`Inbound`](crate::TrafficType::Inbound) entries, against the instance's inbound
//! statistics:
//!
//! * `InboundQps`: block when inbound passes in the last second + batch > trigger;
//! * `Concurrency`: block when inbound entries in flight >= trigger;
//! * `AvgRt`: block when the inbound average RT (ms) >= trigger;
//! * `Load`, `CpuUsage`: when the metric is over the trigger, block outright
//!   ([`AdaptiveStrategy::NoAdaptive`]) or, with [`AdaptiveStrategy::Bbr`], only when
//!   `in_flight > 1 && in_flight > max_complete_per_sec * min_rt_ms / 1000`: admit only as
//!   much work as the service has shown it can finish (Little's law), so it keeps running
//!   at its best throughput instead of collapsing.
//!
//! The metrics come from a [`SystemMetricsSource`]: by default [`ProcessMetrics`], which
//! samples load, container-aware CPU usage ([`CpuSource`]) and memory on a background
//! thread started by the first rule that needs it; in tests [`ManualSystemMetrics`], whose
//! values apply to the very next entry. Reading them on the hot path is an atomic load.

mod check;
mod rule;

#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use crate::system_metrics::{
    CpuSampler, CpuSource, ManualSystemMetrics, ProcessMetrics, SystemMetricsSource, SystemReading,
};
pub use rule::{AdaptiveStrategy, SystemMetric, SystemRule};

pub(crate) use check::SystemCheck;

use crate::pipeline::{BuildEnv, KindBuilder, World};
use crate::stat::pass_window::PassWindow;

/// The system rule kind, for the generic rule manager.
pub(crate) struct SystemKind;

impl KindBuilder for SystemKind {
    type Rule = SystemRule;
    const GLOBAL: bool = true;

    type State = SystemCheck;
    type Shared = Arc<World<usize, PassWindow>>;
    fn build(
        rule: &SystemRule,
        env: &BuildEnv<'_>,
        windows: &Self::Shared,
        siblings: &[&SystemRule],
        position: usize,
    ) -> Arc<SystemCheck> {
        if SystemCheck::needs_sampling(rule) {
            env.system.ensure_started();
        }
        // The inbound passes an InboundQps rule counts are kept across loads, per place
        // among the InboundQps rules.
        let window = (rule.metric_type == SystemMetric::InboundQps).then(|| {
            let nth = siblings[..position]
                .iter()
                .filter(|r| r.metric_type == SystemMetric::InboundQps)
                .count();
            windows.get_or(nth, || {
                let w = PassWindow::for_interval(1000);
                w.seed_from_stats(env.now_ns, env.inbound);
                w
            })
        });
        Arc::new(SystemCheck::new(rule, window))
    }
}

impl crate::rules::Rule for SystemRule {
    const KIND: &'static str = "system";
    fn id(&self) -> &str {
        &self.id
    }
    fn resource(&self) -> &str {
        ""
    }
    fn validate(&self) -> Result<(), crate::rules::FieldError> {
        SystemRule::validate(self)
    }
}
