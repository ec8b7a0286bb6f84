//! The system check: instance-wide, inbound entries only.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::rule::{AdaptiveStrategy, SystemMetric, SystemRule};
use crate::entry::{BlockError, BlockInfo, BlockType, BlockedRule, TrafficType};
use crate::pipeline::{Check, CheckContext, ORDER_SYSTEM, Verdict};
use crate::stat::{Event, Span, StatNode, VIEW};

/// The compiled form of one system rule.
pub(crate) struct SystemCheck {
    id: String,
    metric: SystemMetric,
    trigger: f64,
    bbr: bool,
    info: Arc<BlockInfo>,
    /// Whether this rule is shedding: logged once when an episode starts and once when it
    /// ends, not once per blocked entry.
    shedding: AtomicBool,
}

impl SystemCheck {
    pub fn new(rule: &SystemRule) -> Self {
        SystemCheck {
            id: rule.id.clone(),
            shedding: AtomicBool::new(false),
            metric: rule.metric_type,
            trigger: rule.trigger_count,
            bbr: rule.strategy == AdaptiveStrategy::Bbr,
            info: BlockInfo::new(
                BlockType::System,
                "",
                Some(BlockedRule {
                    id: rule.id.clone(),
                    description: rule.describe(),
                }),
                "system protection",
            ),
        }
    }

    /// Whether this rule reads the sampled system metrics.
    pub fn needs_sampling(rule: &SystemRule) -> bool {
        matches!(
            rule.metric_type,
            SystemMetric::Load | SystemMetric::CpuUsage
        )
    }
}

/// BBR: more work in flight than the service has shown it can finish. Little's law with
/// the highest completion rate of the last second and the smallest RT (1 ms floor); without
/// completions there is no estimate and nothing is shed.
pub(crate) fn over_capacity(inbound: &StatNode, now_ns: u64) -> bool {
    let in_flight = inbound.in_flight() as f64;
    if in_flight <= 1.0 {
        return false;
    }
    let span = Span::recent(now_ns, VIEW);
    let Some(min_rt_us) = inbound.min_rt_us(span) else {
        return false;
    };
    let min_rt_ms = (min_rt_us as f64 / 1000.0).max(1.0);
    let max_complete = inbound.max_bucket_rate(Event::Complete, span);
    in_flight > max_complete * min_rt_ms / 1000.0
}

impl Check for SystemCheck {
    fn order(&self) -> u32 {
        ORDER_SYSTEM
    }

    #[inline]
    fn check(&self, ctx: &CheckContext<'_>) -> Verdict {
        if ctx.traffic() != TrafficType::Inbound {
            return Verdict::Pass;
        }
        let inbound = ctx.inbound_stats();
        let now = ctx.now_nanos();
        let (value, blocked) = match self.metric {
            SystemMetric::InboundQps => {
                let qps = inbound.sum(Event::Pass, now, VIEW) as f64;
                (qps, qps + ctx.batch() as f64 > self.trigger)
            }
            SystemMetric::Concurrency => {
                let n = inbound.in_flight() as f64;
                (n, n >= self.trigger)
            }
            SystemMetric::AvgRt => {
                let span = Span::recent(now, VIEW);
                let done = inbound.sum_span(Event::Complete, span);
                let rt = if done == 0 {
                    0.0
                } else {
                    inbound.sum_span(Event::RtSum, span) as f64 / done as f64 / 1000.0
                };
                (rt, done > 0 && rt >= self.trigger)
            }
            SystemMetric::Load | SystemMetric::CpuUsage => {
                let system = &ctx.inner().system;
                let v = if self.metric == SystemMetric::Load {
                    system.load1()
                } else {
                    system.cpu_usage()
                };
                let over = v > self.trigger;
                (v, over && (!self.bbr || over_capacity(inbound, now)))
            }
        };
        if blocked {
            if !self.shedding.swap(true, Ordering::Relaxed) {
                tracing::warn!(rule_id = %self.id, metric = %self.metric, value, trigger = self.trigger, "system protection started shedding inbound traffic");
            }
            Verdict::Block(
                BlockError::from_info(self.info.clone())
                    .with_resource(ctx.resource_arc())
                    .with_snapshot(value),
            )
        } else {
            if self.shedding.load(Ordering::Relaxed) && self.shedding.swap(false, Ordering::Relaxed)
            {
                tracing::info!(rule_id = %self.id, metric = %self.metric, value, trigger = self.trigger, "system protection stopped shedding");
            }
            Verdict::Pass
        }
    }
}
