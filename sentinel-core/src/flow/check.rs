//! The flow check: a threshold calculator (Direct, WarmUp, MemoryAdaptive) combined with a
//! control behaviour (Reject, Throttling), reading the statistics the rule names.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use super::rule::{ControlBehavior, FlowRule, RelationStrategy, TokenCalculateStrategy};
use super::throttle::{self, NEVER, Pace};
use super::warm_up::WarmUp;
use crate::entry::{BlockError, BlockInfo, BlockType, BlockedRule};
use crate::pipeline::{Check, CheckContext, ORDER_FLOW, Verdict};
use crate::sentinel::BuildEnv;
use crate::stat::{BUCKET_MS, Event, LeapWindow, RING, StatNode};
use crate::system::SystemMetricsSource;

/// Where the rule's pass count comes from.
enum Stat {
    /// The guarded resource's ring, over its last `buckets` buckets.
    Own { buckets: usize },
    /// Another resource's ring.
    Ref { node: u32, buckets: usize },
    /// A window of the rule's own (an interval the ring cannot serve).
    Window(LeapWindow),
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
    Reject,
    Throttling { last: AtomicU64, max_wait_ns: u64 },
}

/// The compiled form of one flow rule, with its state.
pub(crate) struct FlowCheck {
    over_threshold: Arc<BlockInfo>,
    batch_too_large: Arc<BlockInfo>,
    queue_too_long: Arc<BlockInfo>,
    stat: Stat,
    calculator: Calculator,
    behavior: Behavior,
    interval_ns: u64,
}

impl FlowCheck {
    pub fn new(rule: &FlowRule, env: &BuildEnv<'_>) -> Self {
        let interval_ms = rule.interval_ms() as u64;
        let ring_serves =
            interval_ms.is_multiple_of(BUCKET_MS) && interval_ms <= RING as u64 * BUCKET_MS;
        let buckets = (interval_ms / BUCKET_MS) as usize;
        let stat = match rule.relation_strategy {
            RelationStrategy::AssociatedResource => Stat::Ref {
                node: env.node_index(&rule.ref_resource),
                buckets,
            },
            RelationStrategy::CurrentResource if ring_serves => Stat::Own { buckets },
            RelationStrategy::CurrentResource => {
                let n = [20, 10, 5, 4, 2]
                    .into_iter()
                    .find(|n| interval_ms.is_multiple_of(*n))
                    .unwrap_or(1);
                Stat::Window(LeapWindow::new(interval_ms, n as usize, 1))
            }
        };
        let calculator = match rule.token_calculate_strategy {
            TokenCalculateStrategy::Direct => Calculator::Direct(rule.threshold),
            TokenCalculateStrategy::WarmUp => Calculator::WarmUp(WarmUp::new(
                rule.threshold,
                rule.warm_up_period_sec,
                rule.cold_factor(),
            )),
            TokenCalculateStrategy::MemoryAdaptive => {
                env.inner.system.ensure_started();
                Calculator::Memory {
                    low_threshold: rule.low_mem_usage_threshold as f64,
                    high_threshold: rule.high_mem_usage_threshold as f64,
                    low_mark: rule.mem_low_water_mark_bytes as f64,
                    high_mark: rule.mem_high_water_mark_bytes as f64,
                }
            }
        };
        let behavior = match rule.control_behavior {
            ControlBehavior::Reject => Behavior::Reject,
            ControlBehavior::Throttling => Behavior::Throttling {
                last: AtomicU64::new(NEVER),
                max_wait_ns: rule.max_queueing_time_ms as u64 * 1_000_000,
            },
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
            stat,
            calculator,
            behavior,
            interval_ns: interval_ms * 1_000_000,
        }
    }

    /// The statistics whose history drives warm-up.
    #[inline]
    fn history<'a>(&self, ctx: &CheckContext<'a>) -> Option<&'a StatNode> {
        match &self.stat {
            Stat::Ref { node, .. } => ctx.node_stats(*node),
            _ => Some(ctx.stats()),
        }
    }

    /// Entries that passed during the rule's interval.
    #[inline]
    fn passed(&self, ctx: &CheckContext<'_>) -> u64 {
        match &self.stat {
            Stat::Own { buckets } => ctx.stats().sum(Event::Pass, ctx.now_ns, *buckets),
            Stat::Ref { node, buckets } => ctx
                .node_stats(*node)
                .map_or(0, |s| s.sum(Event::Pass, ctx.now_ns, *buckets)),
            Stat::Window(w) => w.sum(0, ctx.now_ns),
        }
    }

    /// The threshold in force now.
    #[inline]
    fn threshold(&self, ctx: &CheckContext<'_>) -> f64 {
        match &self.calculator {
            Calculator::WarmUp(w) => self.history(ctx).map_or(0.0, |s| w.allowed(s, ctx.now_ns)),
            _ => self.current_threshold(ctx.inner().system.as_ref()),
        }
    }

    /// The threshold in force, read without side effects (for exporters): warm-up reports
    /// the rate its stored tokens allow.
    pub fn current_threshold(&self, system: &dyn SystemMetricsSource) -> f64 {
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

    /// The rule's id.
    #[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
    pub fn rule_id(&self) -> &str {
        self.over_threshold
            .rule
            .as_ref()
            .map_or("", |r| r.id.as_str())
    }

    #[inline]
    fn block(info: &Arc<BlockInfo>, snapshot: f64) -> Verdict {
        Verdict::Block(BlockError::from_info(info.clone()).with_snapshot(snapshot))
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
            Behavior::Reject => {
                let passed = self.passed(ctx);
                if (passed + ctx.batch as u64) as f64 > threshold {
                    Self::block(&self.over_threshold, passed as f64)
                } else {
                    Verdict::Pass
                }
            }
            Behavior::Throttling { last, max_wait_ns } => {
                if threshold <= 0.0 || ctx.batch as f64 > threshold {
                    return Self::block(&self.batch_too_large, threshold);
                }
                let cost = throttle::cost_ns(ctx.batch, threshold, self.interval_ns);
                match throttle::reserve(last, ctx.now_ns, cost, *max_wait_ns) {
                    Pace::Now => Verdict::Pass,
                    Pace::After(w) => Verdict::Wait(Duration::from_nanos(w)),
                    Pace::TooLong(w) => Self::block(&self.queue_too_long, w as f64 / 1e6),
                }
            }
        }
    }

    fn needs_admitted(&self) -> bool {
        matches!(self.stat, Stat::Window(_))
    }

    fn on_admitted(&self, ctx: &CheckContext<'_>) {
        if let Stat::Window(w) = &self.stat {
            w.add(0, ctx.now_ns, ctx.batch as u64);
        }
    }
}
