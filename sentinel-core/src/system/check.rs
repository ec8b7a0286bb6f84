//! The system check: instance-wide, inbound entries only.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::rule::{AdaptiveStrategy, SystemMetric, SystemRule};
use crate::block::{BlockError, BlockInfo, BlockType, BlockedRule};
use crate::pipeline::{Check, CheckContext, ORDER_SYSTEM, Verdict};
use crate::stat::pass_window::PassWindow;
use crate::stat::{Event, Span, StatNode, VIEW};
use crate::text::Escaped;
use crate::traffic::TrafficType;

/// What a rule counts itself, so that its decision and its count are one atomic step.
enum Counter {
    /// Nothing (the metric is read).
    None,
    /// InboundQps: inbound passes, reserved in a window kept across rule loads.
    Passes(Arc<PassWindow>),
    /// Concurrency: batches reserved by inbound entrants between their decision and their
    /// being counted in flight in the inbound statistics (which are the world's count).
    Admitting(AtomicU64),
}

/// The compiled form of one system rule.
pub(crate) struct SystemCheck {
    id: String,
    metric: SystemMetric,
    trigger: f64,
    bbr: bool,
    counter: Counter,
    info: Arc<BlockInfo>,
    /// Whether this rule is shedding: logged once when an episode starts and once when it
    /// ends, not once per blocked entry.
    shedding: AtomicBool,
}

impl SystemCheck {
    /// Builds the check of a valid rule; an InboundQps rule counts in `window`.
    pub(crate) fn new(rule: &SystemRule, window: Option<Arc<PassWindow>>) -> Self {
        let counter = match (rule.metric_type, window) {
            (SystemMetric::InboundQps, Some(w)) => Counter::Passes(w),
            (SystemMetric::Concurrency, _) => Counter::Admitting(AtomicU64::new(0)),
            _ => Counter::None,
        };
        SystemCheck {
            id: rule.id.clone(),
            shedding: AtomicBool::new(false),
            metric: rule.metric_type,
            trigger: rule.trigger_count,
            bbr: rule.strategy == AdaptiveStrategy::Bbr,
            counter,
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
    pub(crate) fn needs_sampling(rule: &SystemRule) -> bool {
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
        let mut retry_after = None;
        let (value, blocked) = match (&self.counter, self.metric) {
            (Counter::Passes(window), _) => {
                match window.try_acquire(now, ctx.batch() as u64, self.trigger) {
                    Ok(()) => (0.0, false),
                    Err(r) => {
                        retry_after = r.retry_after_ns;
                        (r.passed as f64, true)
                    }
                }
            }
            (Counter::Admitting(n), _) => {
                let batch = ctx.batch() as u64;
                let before = n.fetch_add(batch, Ordering::AcqRel) + inbound.in_flight();
                let over = before as f64 >= self.trigger;
                if over {
                    n.fetch_sub(batch, Ordering::AcqRel);
                }
                (before as f64, over)
            }
            (Counter::None, SystemMetric::AvgRt) => {
                let span = Span::recent(now, VIEW);
                let done = inbound.sum_span(Event::Complete, span);
                let rt = if done == 0 {
                    0.0
                } else {
                    inbound.sum_span(Event::RtSum, span) as f64 / done as f64 / 1000.0
                };
                (rt, done > 0 && rt >= self.trigger)
            }
            (Counter::None, _) => {
                let system = ctx.system();
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
                tracing::warn!(rule_id = %Escaped(&self.id), metric = %self.metric, value, trigger = self.trigger, "system protection started shedding inbound traffic");
            }
            let e = BlockError::from_info(self.info.clone())
                .with_resource(ctx.resource_arc())
                .with_snapshot(value);
            Verdict::Block(match retry_after {
                Some(ns) => e.with_retry_after(Duration::from_nanos(ns)),
                None => e,
            })
        } else {
            if self.shedding.load(Ordering::Relaxed) && self.shedding.swap(false, Ordering::Relaxed)
            {
                tracing::info!(rule_id = %Escaped(&self.id), metric = %self.metric, value, trigger = self.trigger, "system protection stopped shedding");
            }
            Verdict::Pass
        }
    }

    fn needs_cancel(&self) -> bool {
        !matches!(self.counter, Counter::None)
    }

    fn needs_admitted(&self) -> bool {
        matches!(self.counter, Counter::Admitting(_))
    }

    /// The entry is counted in flight: its reservation is no longer needed.
    fn on_admitted(&self, ctx: &CheckContext<'_>) {
        if let Counter::Admitting(n) = &self.counter
            && ctx.traffic() == TrafficType::Inbound
        {
            n.fetch_sub(ctx.batch() as u64, Ordering::AcqRel);
        }
    }

    /// A later check refused the entry: give back the reserved pass or in-flight slot.
    fn on_cancel(&self, ctx: &CheckContext<'_>, _token: Option<u64>) {
        if ctx.traffic() != TrafficType::Inbound {
            return;
        }
        match &self.counter {
            Counter::Passes(w) => w.release(ctx.now_nanos(), ctx.batch() as u64),
            Counter::Admitting(n) => {
                n.fetch_sub(ctx.batch() as u64, Ordering::AcqRel);
            }
            Counter::None => {}
        }
    }
}
