//! The flow check: a threshold calculator (Direct, WarmUp, MemoryAdaptive) combined with a
//! control behaviour (Reject, Throttling), reading the statistics the rule names.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use super::rule::{ControlBehavior, FlowRule, RelationStrategy, TokenCalculateStrategy};
use super::warm_up::WarmUp;
use crate::block::{BlockError, BlockInfo, BlockType, BlockedRule};
use crate::cluster::{ClusterLease, Route};
use crate::pipeline::BuildEnv;
use crate::pipeline::{Check, CheckContext, ORDER_FLOW, Verdict};
use crate::shaping::{self as throttle, NEVER, Pace};
use crate::stat::pass_window::{
    MAX_CELLS, PassWindow, Standing, wait_until_admitted, within_limit,
};
use crate::stat::{BUCKET_MS, Event, Span, StatNode};
use crate::system_metrics::SystemMetricsSource;

/// Whose passes a Reject rule counts.
enum Counter {
    /// The guarded resource's, in the rule's own window: each pass is reserved there in
    /// the same atomic step as the decision (and given back when a later check refuses).
    Own(Arc<PassWindow>),
    /// Another resource's (`AssociatedResource`), read from its statistics over `buckets`
    /// 100 ms buckets: those passes are that resource's own, so they are only read.
    Ref { node: u32, buckets: usize },
}

enum Calculator {
    Direct(f64),
    WarmUp(WarmUp),
    Memory {
        low_threshold: f64,
        high_threshold: f64,
        low_mark: f64,
        high_mark: f64,
    },
}

enum Behavior {
    Reject(Counter),
    /// A cluster rule: spends from its lease; limits in `window` while the lease says so.
    Cluster {
        lease: Arc<ClusterLease>,
        window: Arc<PassWindow>,
    },
    Throttling {
        last: AtomicU64,
        max_wait_ns: u64,
    },
}

/// The compiled form of one flow rule, with its state.
pub(crate) struct FlowCheck {
    over_threshold: Arc<BlockInfo>,
    batch_too_large: Arc<BlockInfo>,
    queue_too_long: Arc<BlockInfo>,
    /// The resource whose history drives warm-up: `None` for the guarded one.
    history: Option<u32>,
    calculator: Calculator,
    behavior: Behavior,
    interval_ns: u64,
}

impl FlowCheck {
    /// Builds the check of a valid rule; a Reject rule on its own resource counts in
    /// `window`.
    pub(crate) fn new(
        rule: &FlowRule,
        env: &BuildEnv<'_>,
        window: Option<Arc<PassWindow>>,
    ) -> Self {
        let interval_ms = rule.interval_ms() as u64;
        let history = (rule.relation_strategy == RelationStrategy::AssociatedResource)
            .then(|| env.node_index(&rule.ref_resource));
        let calculator = match rule.token_calculate_strategy {
            TokenCalculateStrategy::Direct => Calculator::Direct(rule.threshold),
            TokenCalculateStrategy::WarmUp => Calculator::WarmUp(WarmUp::new(
                rule.threshold,
                rule.warm_up_period_sec,
                rule.cold_factor(),
            )),
            TokenCalculateStrategy::MemoryAdaptive => {
                env.system.ensure_started();
                Calculator::Memory {
                    low_threshold: rule.low_mem_usage_threshold as f64,
                    high_threshold: rule.high_mem_usage_threshold as f64,
                    low_mark: rule.mem_low_water_mark_bytes as f64,
                    high_mark: rule.mem_high_water_mark_bytes as f64,
                }
            }
        };
        // The window of a Reject rule on its own resource (a cluster rule's local fallback).
        let own = move || window.unwrap_or_else(|| Arc::new(PassWindow::for_interval(interval_ms)));
        let behavior = match (rule.control_behavior, history, rule.cluster_spec()) {
            (ControlBehavior::Reject, None, Some(spec)) => Behavior::Cluster {
                lease: env.cluster.lease(spec),
                window: own(),
            },
            (ControlBehavior::Throttling, _, _) => Behavior::Throttling {
                last: AtomicU64::new(NEVER),
                max_wait_ns: rule.max_queueing_time_ms as u64 * 1_000_000,
            },
            (ControlBehavior::Reject, Some(node), _) => Behavior::Reject(Counter::Ref {
                node,
                buckets: (interval_ms / BUCKET_MS) as usize,
            }),
            (ControlBehavior::Reject, None, None) => Behavior::Reject(Counter::Own(own())),
        };
        let info = |message: &'static str| {
            let blocked = BlockedRule {
                id: rule.id.clone(),
                description: rule.describe(),
            };
            BlockInfo::new(
                BlockType::Flow,
                rule.resource.as_str(),
                Some(blocked),
                message,
            )
        };
        FlowCheck {
            over_threshold: info("flow threshold exceeded"),
            batch_too_large: info("batch exceeds the throttling threshold"),
            queue_too_long: info("queueing time would exceed maxQueueingTimeMs"),
            history,
            calculator,
            behavior,
            interval_ns: interval_ms * 1_000_000,
        }
    }

    /// The statistics whose history drives warm-up.
    #[inline]
    fn history<'a>(&self, ctx: &CheckContext<'a>) -> Option<&'a StatNode> {
        match self.history {
            Some(node) => ctx.node_stats(node),
            None => Some(ctx.stats()),
        }
    }

    /// The threshold in force now.
    #[inline]
    fn threshold(&self, ctx: &CheckContext<'_>) -> f64 {
        match &self.calculator {
            Calculator::WarmUp(w) => self.history(ctx).map_or(0.0, |s| w.allowed(s, ctx.now_ns)),
            _ => self.current_threshold(ctx.system()),
        }
    }

    /// The threshold in force, read without side effects (for exporters): warm-up reports
    /// the rate its stored tokens allow.
    pub(crate) fn current_threshold(&self, system: &dyn SystemMetricsSource) -> f64 {
        match &self.calculator {
            Calculator::Direct(t) => *t,
            Calculator::WarmUp(w) => w.rate(),
            Calculator::Memory {
                low_threshold,
                high_threshold,
                low_mark,
                high_mark,
            } => {
                let rss = system.rss_bytes() as f64;
                if rss <= *low_mark {
                    *low_threshold
                } else if rss >= *high_mark {
                    *high_threshold
                } else {
                    low_threshold
                        + (high_threshold - low_threshold) * (rss - low_mark)
                            / (high_mark - low_mark)
                }
            }
        }
    }

    /// The lowest threshold the rule may come to (a cold warm-up, memory at its high mark),
    /// for a wait that is enough whatever the threshold does meanwhile.
    fn lowest_threshold(&self, current: f64) -> f64 {
        match &self.calculator {
            Calculator::Direct(_) => current,
            Calculator::WarmUp(w) => w.cold_rate().min(current),
            Calculator::Memory {
                low_threshold,
                high_threshold,
                ..
            } => low_threshold.min(*high_threshold).min(current),
        }
    }

    /// The rule's id.
    #[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
    pub(crate) fn rule_id(&self) -> &str {
        self.over_threshold
            .rule
            .as_ref()
            .map_or("", |r| r.id.as_str())
    }

    #[inline]
    fn block(info: &Arc<BlockInfo>, snapshot: f64, retry_after_ns: Option<u64>) -> Verdict {
        let e = BlockError::from_info(info.clone()).with_snapshot(snapshot);
        Verdict::Block(match retry_after_ns {
            Some(ns) => e.with_retry_after(Duration::from_nanos(ns)),
            None => e,
        })
    }

    /// Reject against another resource's passes (read only).
    fn check_ref(&self, ctx: &CheckContext<'_>, node: u32, n: usize, threshold: f64) -> Verdict {
        let Some(stats) = ctx.node_stats(node) else {
            return Verdict::Pass;
        };
        let now = ctx.now_ns;
        let in_view = stats.sum(Event::Pass, now, n);
        let before = stats.sum(Event::Pass, now, n + 1) - in_view;
        let batch = ctx.batch as u64;
        if within_limit(in_view, before, batch, threshold, n) {
            return Verdict::Pass;
        }
        let e = crate::stat::epoch(now);
        let mut counts = [0u64; MAX_CELLS];
        for (age, count) in counts.iter_mut().enumerate().take(n + 1) {
            if let Some(b) = e.checked_sub(age as u64) {
                *count = stats.sum_span(
                    Event::Pass,
                    Span {
                        start: b,
                        end: b + 1,
                    },
                );
            }
        }
        let at = Standing {
            counts: &counts[..=n],
            epoch: e,
            bucket_ns: BUCKET_MS * 1_000_000,
            all_old_at: &|_| None,
        };
        let retry = wait_until_admitted(&at, now, batch, threshold);
        Self::block(&self.over_threshold, in_view as f64, retry)
    }

    /// A cluster rule: the lease's tokens while its backend is healthy, else the local
    /// fallback limit (or nothing, when the rule passes while degraded).
    #[inline]
    fn check_cluster(
        &self,
        ctx: &CheckContext<'_>,
        lease: &ClusterLease,
        window: &PassWindow,
    ) -> Verdict {
        let batch = ctx.batch as u64;
        lease.note_demand(batch);
        match lease.route() {
            // The route taken is told to `on_cancel` without an allocation: `Pass` (no
            // token) for the lease, a wait of zero (token `Some(0)`) for the others.
            Route::Lease => match lease.try_take(batch) {
                Ok(()) => Verdict::Pass,
                Err(retry) => Self::block(&self.over_threshold, lease.tokens() as f64, retry),
            },
            Route::Local(threshold) => match window.try_acquire(ctx.now_ns, batch, threshold) {
                Ok(()) => {
                    lease.note_fallback_pass(batch);
                    Verdict::Wait(Duration::ZERO)
                }
                Err(r) => Self::block(&self.over_threshold, r.passed as f64, r.retry_after_ns),
            },
            Route::Pass => Verdict::Wait(Duration::ZERO),
        }
    }
}

impl Check for FlowCheck {
    fn order(&self) -> u32 {
        ORDER_FLOW
    }

    #[inline]
    fn check(&self, ctx: &CheckContext<'_>) -> Verdict {
        let threshold = self.threshold(ctx);
        match &self.behavior {
            Behavior::Reject(Counter::Own(window)) => {
                match window.try_acquire(ctx.now_ns, ctx.batch as u64, threshold) {
                    Ok(()) => Verdict::Pass,
                    Err(r) => {
                        let retry = match self.lowest_threshold(threshold) {
                            lowest if lowest < threshold => {
                                window.wait_for(ctx.now_ns, ctx.batch as u64, lowest)
                            }
                            _ => r.retry_after_ns,
                        };
                        Self::block(&self.over_threshold, r.passed as f64, retry)
                    }
                }
            }
            Behavior::Reject(Counter::Ref { node, buckets }) => {
                self.check_ref(ctx, *node, *buckets, threshold)
            }
            Behavior::Cluster { lease, window } => self.check_cluster(ctx, lease, window),
            Behavior::Throttling { last, max_wait_ns } => {
                if threshold <= 0.0 || ctx.batch as f64 > threshold {
                    return Self::block(&self.batch_too_large, threshold, None);
                }
                let cost = throttle::cost_ns(ctx.batch, threshold, self.interval_ns);
                match throttle::reserve(last, ctx.now_ns, cost, *max_wait_ns) {
                    Pace::Now => Verdict::Pass,
                    Pace::After(w) => Verdict::Wait(Duration::from_nanos(w)),
                    Pace::TooLong(w) => {
                        Self::block(&self.queue_too_long, w as f64 / 1e6, Some(w - max_wait_ns))
                    }
                }
            }
        }
    }

    fn needs_cancel(&self) -> bool {
        !matches!(self.behavior, Behavior::Reject(Counter::Ref { .. }))
    }

    /// When this rule would admit the entry (another check refused it).
    fn retry_hint(&self, ctx: &CheckContext<'_>) -> Option<Duration> {
        let batch = ctx.batch as u64;
        let ns = match &self.behavior {
            Behavior::Reject(Counter::Own(window)) => {
                let lowest = self.lowest_threshold(self.threshold(ctx));
                window.wait_for(ctx.now_ns, batch, lowest)?
            }
            Behavior::Reject(Counter::Ref { .. }) | Behavior::Cluster { .. } => return None,
            Behavior::Throttling { last, max_wait_ns } => {
                let threshold = self.threshold(ctx);
                let cost = throttle::cost_ns(ctx.batch, threshold, self.interval_ns);
                let current = last.load(std::sync::atomic::Ordering::Acquire);
                match throttle::next_slot(current, ctx.now_ns, cost, *max_wait_ns).0 {
                    Pace::TooLong(w) => w - max_wait_ns,
                    Pace::Now | Pace::After(_) => 0,
                }
            }
        };
        Some(Duration::from_nanos(ns))
    }

    /// A later check refused the entry: give back the reserved pass or pacing slot.
    fn on_cancel(&self, ctx: &CheckContext<'_>, token: Option<u64>) {
        match &self.behavior {
            Behavior::Reject(Counter::Own(window)) => window.release(ctx.now_ns, ctx.batch as u64),
            Behavior::Reject(Counter::Ref { .. }) => {}
            // Given back along the route the entry took (see `check_cluster`): a token
            // means the local window or no limit; which of those two is the route now
            // (they change only with a rule reload).
            Behavior::Cluster { lease, window } => match (token, lease.route()) {
                (None, _) => lease.give_back(ctx.batch as u64),
                (Some(_), Route::Pass) => {}
                (Some(_), Route::Lease | Route::Local(_)) => {
                    window.release(ctx.now_ns, ctx.batch as u64)
                }
            },
            Behavior::Throttling { last, .. } => {
                let cost = throttle::cost_ns(ctx.batch, self.threshold(ctx), self.interval_ns);
                throttle::give_back(last, ctx.now_ns.saturating_add(token.unwrap_or(0)), cost);
            }
        }
    }
}
