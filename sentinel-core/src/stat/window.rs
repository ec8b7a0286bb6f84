//! A sliding window with run-time bucket length and count, for rules that keep their own
//! statistics (a flow rule with its own `statIntervalInMs`, a circuit breaker).

use std::sync::atomic::AtomicU64;

use super::cell;
use super::divisor::Divisor;

/// A leap array of `buckets` buckets covering `interval_ms`, counting `events` kinds of
/// event. Built on the same self-resetting cells as the resource statistics.
#[derive(Debug)]
pub struct LeapWindow {
    bucket_ns: Divisor,
    buckets: usize,
    cells: Box<[AtomicU64]>,
}

impl LeapWindow {
    /// A window of `interval_ms` split into `buckets` buckets (forced to one bucket when it
    /// does not divide the interval), for `events` kinds of event.
    pub fn new(interval_ms: u64, buckets: usize, events: usize) -> Self {
        let interval_ms = interval_ms.max(1);
        let buckets = if buckets == 0 || !interval_ms.is_multiple_of(buckets as u64) {
            1
        } else {
            buckets
        };
        LeapWindow {
            bucket_ns: Divisor::new(interval_ms / buckets as u64 * 1_000_000),
            buckets,
            cells: (0..buckets * events.max(1))
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }

    /// The cell of `event` in bucket `epoch`. Bucket counts that are powers of two (one,
    /// by default) take a mask instead of a division.
    #[inline]
    fn slot(&self, event: usize, epoch: u64) -> &AtomicU64 {
        let buckets = self.buckets as u64;
        let bucket = if buckets.is_power_of_two() {
            epoch & (buckets - 1)
        } else {
            epoch % buckets
        };
        &self.cells[event * self.buckets + bucket as usize]
    }

    /// The bucket number of a time (one multiplication by the prepared reciprocal of the
    /// bucket length: callers that add and sum at the same time compute it once).
    #[inline]
    pub fn epoch(&self, now_ns: u64) -> u64 {
        self.bucket_ns.divide(now_ns)
    }

    /// Adds `v` to `event` at `now_ns`.
    #[inline]
    pub fn add(&self, event: usize, now_ns: u64, v: u64) {
        self.add_at(event, self.epoch(now_ns), v);
    }

    /// Adds `v` to `event` in bucket `epoch`.
    #[inline]
    pub fn add_at(&self, event: usize, epoch: u64, v: u64) {
        cell::add(self.slot(event, epoch), epoch, v);
    }

    /// Adds `v` to `event` in bucket `epoch` and returns that bucket's count of `event`
    /// right after the add (0 when the add came too late for the bucket): a lower bound of
    /// the window's sum that costs no read.
    #[inline]
    pub(crate) fn add_counted(&self, event: usize, epoch: u64, v: u64) -> u64 {
        cell::add(self.slot(event, epoch), epoch, v)
    }

    /// Sum of `event` over the whole window ending at `now_ns`.
    #[inline]
    pub fn sum(&self, event: usize, now_ns: u64) -> u64 {
        self.sum_at(event, self.epoch(now_ns))
    }

    /// Sum of `event` over the whole window ending with bucket `epoch`.
    #[inline]
    pub fn sum_at(&self, event: usize, epoch: u64) -> u64 {
        let from = (epoch + 1).saturating_sub(self.buckets as u64);
        (from..epoch + 1)
            .map(|b| cell::read_or_zero(self.slot(event, b), b))
            .sum()
    }

    /// Forgets all counts.
    pub fn clear(&self) {
        self.cells.iter().for_each(cell::clear);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const MS: u64 = 1_000_000;

    #[test]
    fn counts_over_its_own_interval() {
        let w = LeapWindow::new(5000, 10, 2);
        w.add(0, 0, 1);
        w.add(1, 100 * MS, 4);
        w.add(0, 4900 * MS, 2);
        assert_eq!(w.sum(0, 4999 * MS), 3);
        assert_eq!(w.sum(1, 4999 * MS), 4);
        assert_eq!(w.sum(0, 5000 * MS), 2, "first bucket expired");
        w.clear();
        assert_eq!(w.sum(0, 5000 * MS), 0);
    }

    #[test]
    fn indivisible_bucket_count_falls_back_to_one() {
        let w = LeapWindow::new(1000, 3, 1);
        w.add(0, 10 * MS, 1);
        w.add(0, 990 * MS, 1);
        assert_eq!(w.sum(0, 999 * MS), 2);
        assert_eq!(w.sum(0, 1000 * MS), 0);
    }
}
