//! The hot-parameter check: find the value, then apply a per-value token bucket (QPS +
//! Reject), pacing (QPS + Throttling) or in-flight limit (concurrency).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::cache::{Cell, ValueCache};
use super::rule::{ControlBehavior, HotspotRule, KIND_NAMES, MetricType, kind_of};
use crate::block::{BlockError, BlockInfo, BlockType, BlockedRule};
use crate::param::ParamValue;
use crate::pipeline::{Check, CheckContext, ExitContext, ORDER_HOTSPOT, Verdict};
use crate::shaping::{self as throttle, NEVER, Pace};

enum Mode {
    /// Token bucket: cell `a` = tokens, `b` = time (ms) the tokens were last refilled to.
    TokenBucket { burst: u64, duration_ms: u64 },
    /// Pacing: cell `a` = the last reserved slot (ns).
    Pacing { duration_ns: u64, max_wait_ns: u64 },
    /// Cell `a` = entries in flight.
    Concurrency,
}

/// The compiled form of one hot-parameter rule, with its per-value state.
pub(crate) struct HotspotCheck {
    param_key: String,
    param_index: i32,
    threshold: u64,
    specific: HashMap<ParamValue, u64>,
    mode: Mode,
    /// Per-value state. A concurrency rule's is kept across loads (entries in flight per
    /// value describe the world, not the rule).
    values: Arc<ValueCache>,
    over: Arc<BlockInfo>,
    queue_too_long: Arc<BlockInfo>,
    /// The kinds of the specific items' values, one bit per kind (see `kind_of`); 0
    /// without items.
    item_kinds: u8,
    /// Whether the warning about a value of a kind no item has was given.
    kind_warned: AtomicBool,
}

impl HotspotCheck {
    /// Builds the check of a valid rule, keeping its per-value state in `values`.
    pub(crate) fn new(rule: &HotspotRule, values: Arc<ValueCache>) -> Self {
        let info = |message: &'static str| {
            BlockInfo::new(
                BlockType::HotSpotParamFlow,
                rule.resource.as_str(),
                Some(BlockedRule {
                    id: rule.id.clone(),
                    description: rule.describe(),
                }),
                message,
            )
        };
        let duration_ms = rule.duration_in_sec.max(1) as u64 * 1000;
        let mode = match (rule.metric_type, rule.control_behavior) {
            (MetricType::Concurrency, _) => Mode::Concurrency,
            (MetricType::Qps, ControlBehavior::Reject) => Mode::TokenBucket {
                burst: rule.burst_count as u64,
                duration_ms,
            },
            (MetricType::Qps, ControlBehavior::Throttling) => Mode::Pacing {
                duration_ns: duration_ms * 1_000_000,
                max_wait_ns: rule.max_queueing_time_ms as u64 * 1_000_000,
            },
        };
        HotspotCheck {
            param_key: rule.param_key.clone(),
            param_index: rule.param_index,
            threshold: rule.threshold as u64,
            specific: rule
                .specific_items
                .iter()
                .map(|(v, t)| (v.clone(), *t as u64))
                .collect(),
            values,
            mode,
            over: info("hot parameter value over its threshold"),
            queue_too_long: info("hot parameter value would queue longer than maxQueueingTimeMs"),
            item_kinds: rule
                .specific_items
                .keys()
                .fold(0, |kinds, v| kinds | 1 << kind_of(v)),
            kind_warned: AtomicBool::new(false),
        }
    }

    /// Notes a value of a kind none of the specific items has (the string `"42"` for
    /// items of kind Int): once per rule, a warning if the value could have been written
    /// as an item's kind. After the warning, one relaxed load per such value.
    #[inline]
    fn note_kind(&self, value: &ParamValue) {
        if self.item_kinds & (1 << kind_of(value)) == 0
            && self.item_kinds != 0
            && !self.kind_warned.load(Ordering::Relaxed)
        {
            self.warn_kind(value);
        }
    }

    #[cold]
    #[inline(never)]
    fn warn_kind(&self, value: &ParamValue) {
        let kinds = (0..KIND_NAMES.len()).filter(|k| self.item_kinds & (1 << k) != 0);
        // A string that reads as none of the items' kinds could not match any of them
        // whatever its kind (`/items/abc` from an argument that makes integers of digits):
        // it says nothing about the rule.
        if !kinds.clone().any(|k| could_be(value, k))
            || self.kind_warned.swap(true, Ordering::Relaxed)
        {
            return;
        }
        let item_kinds: Vec<&str> = kinds.map(|k| KIND_NAMES[k]).collect();
        tracing::warn!(
            resource = %crate::text::Escaped(&self.over.resource),
            rule_id = %crate::text::Escaped(self.over.rule.as_ref().map_or("", |r| &r.id)),
            param_index = self.param_index,
            param_key = %crate::text::Escaped(&self.param_key),
            value = %crate::text::Clipped(&value.to_string(), 64),
            value_kind = KIND_NAMES[kind_of(value)],
            item_kinds = %item_kinds.join(", "),
            "hot-parameter rule: a value of a kind none of its specificItems has; items match \
             only values of their own kind (valKind), so such values get the rule's threshold: \
             write the items with the argument's kind, or make the argument produce the items' \
             kind (sentinel-adapters: Arg::integer)"
        );
    }

    /// The value this rule limits for an entry: the attachment `paramKey` if present, else
    /// the argument at `paramIndex` (negative from the end); `None` skips the rule.
    fn value<'a>(&self, ctx: &CheckContext<'a>) -> Option<&'a ParamValue> {
        if !self.param_key.is_empty()
            && let Some(v) = ctx.attachment(&self.param_key)
        {
            return Some(v);
        }
        let args = ctx.args();
        let i = if self.param_index < 0 {
            args.len()
                .checked_sub(self.param_index.unsigned_abs() as usize)?
        } else {
            self.param_index as usize
        };
        args.get(i)
    }

    /// Values tracked now.
    pub(crate) fn tracked_values(&self) -> usize {
        self.values.len()
    }

    fn block(
        &self,
        info: &Arc<BlockInfo>,
        value: &ParamValue,
        snapshot: f64,
        retry_after_ns: Option<u64>,
    ) -> Verdict {
        let e = BlockError::from_info(info.clone())
            .with_value(value.clone())
            .with_snapshot(snapshot);
        Verdict::Block(match retry_after_ns {
            Some(ns) => e.with_retry_after(Duration::from_nanos(ns)),
            None => e,
        })
    }

    /// The threshold of a value: its specific item's, else the rule's.
    fn threshold_of(&self, value: &ParamValue) -> u64 {
        self.specific.get(value).copied().unwrap_or(self.threshold)
    }

    fn release(&self, value: &ParamValue, batch: u32) {
        self.values
            .update_existing(value, |cell| cell.a = cell.a.saturating_sub(batch as u64));
    }
}

/// Whether `value` could be written as a value of kind `kind` (a `valKind` code): a
/// string if it parses as that kind; any other value always (an integer given to a rule
/// whose items are strings is a mistake of kind whatever its digits).
fn could_be(value: &ParamValue, kind: usize) -> bool {
    let ParamValue::Str(s) = value else {
        return true;
    };
    let s = s.trim();
    match kind {
        0 => s.parse::<i64>().is_ok() || s.parse::<u64>().is_ok(),
        2 => s.parse::<bool>().is_ok(),
        3 => s.parse::<f64>().is_ok(),
        _ => false,
    }
}

/// A token bucket of `capacity` tokens refilled with `rate` tokens per `duration_ms`.
struct Bucket {
    capacity: u64,
    rate: u64,
    duration_ms: u64,
}

impl Bucket {
    /// Takes `batch` tokens from the bucket in `cell` (`a` = tokens, `b` = the time they
    /// were refilled to). The refill time advances only by what the added tokens are worth,
    /// so no fraction of a token is lost; a new value starts full. A refusal says how many
    /// milliseconds until enough tokens are back (`None`: never, the batch is larger than
    /// the bucket or nothing refills it).
    fn take(
        &self,
        cell: &mut Cell,
        fresh: bool,
        now_ms: u64,
        batch: u64,
    ) -> Result<(), Option<u64>> {
        if fresh {
            cell.a = self.capacity;
            cell.b = now_ms;
        } else if self.rate > 0 {
            let elapsed = now_ms.saturating_sub(cell.b) as u128;
            let add = elapsed * self.rate as u128 / self.duration_ms as u128;
            if cell.a as u128 + add >= self.capacity as u128 {
                cell.a = self.capacity;
                cell.b = now_ms;
            } else if add > 0 {
                cell.a += add as u64;
                cell.b += (add * self.duration_ms as u128 / self.rate as u128) as u64;
            }
        }
        if cell.a >= batch {
            cell.a -= batch;
            return Ok(());
        }
        if batch > self.capacity || self.rate == 0 {
            return Err(None);
        }
        let missing = (batch - cell.a) as u128;
        let refilled_at =
            cell.b as u128 + (missing * self.duration_ms as u128).div_ceil(self.rate as u128);
        Err(Some((refilled_at as u64).saturating_sub(now_ms)))
    }

    /// Puts back `batch` tokens taken from the bucket in `cell`.
    fn refund(&self, cell: &mut Cell, batch: u64) {
        cell.a = cell.a.saturating_add(batch).min(self.capacity);
    }
}

impl HotspotCheck {
    /// The token bucket of a value with threshold `threshold`.
    fn bucket(&self, threshold: u64) -> Option<Bucket> {
        match self.mode {
            Mode::TokenBucket { burst, duration_ms } => Some(Bucket {
                capacity: threshold.saturating_add(burst),
                rate: threshold,
                duration_ms,
            }),
            _ => None,
        }
    }
}

impl Check for HotspotCheck {
    fn order(&self) -> u32 {
        ORDER_HOTSPOT
    }

    fn check(&self, ctx: &CheckContext<'_>) -> Verdict {
        let Some(value) = self.value(ctx) else {
            return Verdict::Pass;
        };
        self.note_kind(value);
        let threshold = self.threshold_of(value);
        let batch = ctx.batch() as u64;
        let now_ns = ctx.now_nanos();
        match &self.mode {
            Mode::TokenBucket { .. } => {
                let Some(bucket) = self.bucket(threshold) else {
                    return Verdict::Pass;
                };
                let taken = self.values.with(
                    value,
                    |_| false,
                    |cell, fresh| bucket.take(cell, fresh, now_ns / 1_000_000, batch),
                );
                match taken {
                    Ok(()) => Verdict::Pass,
                    Err(wait_ms) => self.block(
                        &self.over,
                        value,
                        threshold as f64,
                        wait_ms.map(|ms| ms.saturating_mul(1_000_000)),
                    ),
                }
            }
            Mode::Pacing {
                duration_ns,
                max_wait_ns,
            } => {
                if threshold == 0 || batch > threshold {
                    return self.block(&self.over, value, threshold as f64, None);
                }
                let cost = throttle::cost_ns(ctx.batch(), threshold as f64, *duration_ns);
                let pace = self.values.with(
                    value,
                    |_| false,
                    |cell, fresh| {
                        let last = if fresh { NEVER } else { cell.a };
                        let (pace, slot) = throttle::next_slot(last, now_ns, cost, *max_wait_ns);
                        cell.a = slot;
                        pace
                    },
                );
                match pace {
                    Pace::Now => Verdict::Pass,
                    Pace::After(w) => Verdict::Wait(Duration::from_nanos(w)),
                    Pace::TooLong(w) => self.block(
                        &self.queue_too_long,
                        value,
                        w as f64 / 1e6,
                        Some(w - max_wait_ns),
                    ),
                }
            }
            Mode::Concurrency => {
                let admitted = self.values.with(
                    value,
                    |cell| cell.a > 0,
                    |cell, _| {
                        if cell.a.saturating_add(batch) <= threshold {
                            cell.a += batch;
                            Ok(())
                        } else {
                            Err(cell.a)
                        }
                    },
                );
                match admitted {
                    Ok(()) => Verdict::Pass,
                    Err(in_flight) => self.block(&self.over, value, in_flight as f64, None),
                }
            }
        }
    }

    fn needs_exit(&self) -> bool {
        matches!(self.mode, Mode::Concurrency)
    }

    fn needs_cancel(&self) -> bool {
        true
    }

    /// A later check refused the entry: give back its tokens, pacing slot or in-flight slot.
    fn on_cancel(&self, ctx: &CheckContext<'_>, token: Option<u64>) {
        let Some(value) = self.value(ctx) else {
            return;
        };
        let batch = ctx.batch();
        match &self.mode {
            Mode::TokenBucket { .. } => {
                if let Some(bucket) = self.bucket(self.threshold_of(value)) {
                    self.values
                        .update_existing(value, |cell| bucket.refund(cell, batch as u64));
                }
            }
            Mode::Pacing { duration_ns, .. } => {
                let cost = throttle::cost_ns(batch, self.threshold_of(value) as f64, *duration_ns);
                let slot = ctx.now_nanos().saturating_add(token.unwrap_or(0));
                self.values.update_existing(value, |cell| {
                    if cell.a == slot {
                        cell.a = slot.checked_sub(cost).unwrap_or(NEVER);
                    }
                });
            }
            Mode::Concurrency => self.release(value, batch),
        }
    }

    fn on_exit(&self, ctx: &ExitContext<'_>) {
        if let Some(v) = self.value(ctx.entry()) {
            self.release(v, ctx.entry().batch());
        }
    }
}
