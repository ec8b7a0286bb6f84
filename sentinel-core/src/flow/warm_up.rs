//! Warm-up ("smooth warming up", as in Guava): a token bucket that starts full (cold) and
//! drains as traffic flows, with an allowed rate that rises from `T / c` to `T`.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::stat::{Event, Span, StatNode};

const NEVER: u64 = u64::MAX;

/// Warm-up state of one rule.
#[derive(Debug)]
pub(crate) struct WarmUp {
    threshold: f64,
    cold_factor: f64,
    warning: f64,
    max: f64,
    slope: f64,
    /// Stored tokens, as `f64` bits.
    stored: AtomicU64,
    /// Start (ms) of the second of the last refill, `NEVER` before the first entry.
    last_filled_ms: AtomicU64,
}

impl WarmUp {
    pub(super) fn new(threshold: f64, period_sec: u32, cold_factor: u32) -> Self {
        let c = cold_factor as f64;
        let p = period_sec as f64;
        let warning = (p * threshold / (c - 1.0)).floor();
        let max = warning + (2.0 * p * threshold / (1.0 + c)).floor();
        let slope = if max > warning {
            (c - 1.0) / threshold / (max - warning)
        } else {
            0.0
        };
        WarmUp {
            threshold,
            cold_factor: c,
            warning,
            max,
            slope,
            stored: AtomicU64::new(max.to_bits()),
            last_filled_ms: AtomicU64::new(NEVER),
        }
    }

    fn stored(&self) -> f64 {
        f64::from_bits(self.stored.load(Ordering::Acquire))
    }

    /// The rate allowed now (entries per interval), after the once-a-second refill.
    pub(super) fn allowed(&self, stats: &StatNode, now_ns: u64) -> f64 {
        self.sync(stats, now_ns);
        self.rate()
    }

    /// The lowest rate warm-up ever allows (a cold system): `T / c`.
    pub(super) fn cold_rate(&self) -> f64 {
        self.threshold / self.cold_factor
    }

    /// The rate allowed by the tokens stored now (no refill: a read for exporters).
    pub(super) fn rate(&self) -> f64 {
        let stored = self.stored();
        if self.threshold <= 0.0 {
            return 0.0;
        }
        if stored >= self.warning {
            1.0 / ((stored - self.warning) * self.slope + 1.0 / self.threshold)
        } else {
            self.threshold
        }
    }

    /// Refills once per whole second: the first caller of a new second wins a CAS on the
    /// refill time and updates the tokens from the previous second's passes.
    fn sync(&self, stats: &StatNode, now_ns: u64) {
        let now_ms = now_ns / 1_000_000;
        let second = now_ms - now_ms % 1000;
        let last = self.last_filled_ms.load(Ordering::Acquire);
        if last != NEVER && second <= last {
            return;
        }
        if self
            .last_filled_ms
            .compare_exchange(last, second, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        if last == NEVER {
            return; // first traffic: the bucket is full (cold)
        }
        let passed = stats.sum_span(Event::Pass, Span::last_second(now_ns)) as f64;
        let old = self.stored();
        let refill = old < self.warning
            || (old > self.warning && passed < self.threshold.floor() / self.cold_factor);
        let mut new = if refill {
            old + (second - last) as f64 * self.threshold / 1000.0
        } else {
            old
        };
        new = new.min(self.max);
        new = (new - passed).max(0.0);
        self.stored.store(new.to_bits(), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_follow_the_formula() {
        let w = WarmUp::new(100.0, 10, 3);
        assert_eq!(w.warning, 500.0);
        assert_eq!(w.max, 1000.0);
        assert!((w.slope - 2.0 / 100.0 / 500.0).abs() < 1e-12);
        let stats = StatNode::new(1);
        let cold = w.allowed(&stats, 0);
        assert!(
            (cold - 100.0 / 3.0).abs() < 1e-9,
            "cold rate is T/c, got {cold}"
        );
    }
}
