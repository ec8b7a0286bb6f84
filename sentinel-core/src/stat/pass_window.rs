//! The pass counter of a QPS limit: reserve first, count and decide in one atomic step.
//!
//! A limit that reads a window and counts the pass afterwards lets two threads that read
//! together both pass (threshold 1, two passes in one window). Here an entry *reserves*
//! its batch in the current bucket (one compare-and-swap that also returns the count it
//! made), decides on the count it made, and takes the reservation back when refused, so
//! concurrent entrants are ordered by their reservations and never overshoot.
//!
//! The decision ([`within_limit`]) bounds every span of one interval, not only the view:
//! with `n` buckets per interval, an entry passes when the last `n` buckets hold at most
//! `T` and the `n + 1` buckets that overlap `[now - interval, now]` hold at most
//! `T × (n + 1) / n`. A plain `n`-bucket view lets `2T` through 901 ms apart (a burst at the
//! end of a bucket and one just after that bucket left the view); this keeps every span of
//! one interval at or below `1.1 T` with ten buckets, a burst into an idle resource still
//! gets exactly `T`, and steady overload still gets `T` per interval.

use std::sync::atomic::AtomicU64;

use super::cell;
use super::node::BUCKET_MS;

/// Why a reservation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// Passes in the view before this entry.
    pub passed: u64,
    /// When the limit would admit the entry if nothing else passed meanwhile
    /// (nanoseconds from now); `None` when it never would (batch over the threshold).
    pub retry_after_ns: Option<u64>,
}

/// Whether `batch` more passes keep a limit of `threshold` per `n` buckets, given the passes
/// in the last `n` buckets (`in_view`) and in the bucket just before them (`before`).
#[inline]
pub(crate) fn within_limit(
    in_view: u64,
    before: u64,
    batch: u64,
    threshold: f64,
    n: usize,
) -> bool {
    let in_view = in_view.saturating_add(batch) as f64;
    in_view <= threshold && in_view + before as f64 <= threshold * (n as f64 + 1.0) / n as f64
}

/// The number of buckets to wait until [`within_limit`] would admit `batch` if nothing else
/// passed; `counts[k]` is the count of the bucket `k` buckets before the current one
/// (`k` in `0..=n`). `None` when no wait is enough.
pub(crate) fn buckets_until_admitted(counts: &[u64], batch: u64, threshold: f64) -> Option<u64> {
    let n = counts.len() - 1;
    if batch as f64 > threshold {
        return None;
    }
    // After waiting `j` buckets, the buckets of age `0..n - j` are still in the view and the
    // one of age `n - j` is just before it.
    let mut in_view: u64 = counts[..n].iter().sum();
    (1..=n + 1).find_map(|j| {
        let before = if j <= n {
            in_view -= counts[n - j];
            counts[n - j]
        } else {
            0
        };
        within_limit(in_view, before, batch, threshold, n).then_some(j as u64)
    })
}

/// Most buckets a window has (its view and the bucket before it).
pub(crate) const MAX_CELLS: usize = MAX_FINE_BUCKETS as usize + 1;

/// Passes over a sliding window of `n` buckets, reserved atomically by admissions.
#[derive(Debug)]
pub(crate) struct PassWindow {
    bucket_ns: u64,
    n: usize,
    /// `n + 1` cells: the view and the bucket just before it.
    cells: Box<[AtomicU64]>,
}

/// Most buckets a window of the default bucket length may have (2 s of 100 ms buckets).
const MAX_FINE_BUCKETS: u64 = 20;

impl PassWindow {
    /// A window for an interval: 100 ms buckets when the interval is a multiple of 100 ms up
    /// to 2 s (the resource statistics' own buckets, so the window can be seeded from
    /// them), else the largest of 20, 10, 5, 4, 2 buckets that divides it (or one).
    pub fn for_interval(interval_ms: u64) -> Self {
        let interval_ms = interval_ms.max(1);
        let n = if interval_ms.is_multiple_of(BUCKET_MS)
            && interval_ms / BUCKET_MS <= MAX_FINE_BUCKETS
        {
            interval_ms / BUCKET_MS
        } else {
            [20, 10, 5, 4, 2]
                .into_iter()
                .find(|n| interval_ms.is_multiple_of(*n))
                .unwrap_or(1)
        };
        PassWindow {
            bucket_ns: interval_ms / n * 1_000_000,
            n: n as usize,
            cells: (0..=n).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Whether the window has the resource statistics' bucket length (it can be seeded
    /// from them).
    pub fn has_stat_buckets(&self) -> bool {
        self.bucket_ns == BUCKET_MS * 1_000_000
    }

    /// Buckets in the view.
    #[cfg(test)]
    pub fn buckets(&self) -> usize {
        self.n
    }

    /// Whether two windows count over the same buckets (a changed rule may take over the
    /// other's counts).
    pub fn same_shape(&self, other: &PassWindow) -> bool {
        self.bucket_ns == other.bucket_ns && self.n == other.n
    }

    #[inline]
    fn cell(&self, epoch: u64) -> &AtomicU64 {
        &self.cells[(epoch % self.cells.len() as u64) as usize]
    }

    /// The counts of the buckets `0..=n` buckets before bucket `e` (the view and the
    /// bucket before it), newest first, with `current` as the count of bucket `e`.
    #[inline]
    fn counts(&self, e: u64, current: u64) -> [u64; MAX_CELLS] {
        let mut counts = [0u64; MAX_CELLS];
        counts[0] = current;
        let len = self.cells.len();
        let mut slot = (e % len as u64) as usize;
        for (age, count) in counts.iter_mut().enumerate().take(self.n + 1).skip(1) {
            slot = if slot == 0 { len - 1 } else { slot - 1 };
            if let Some(epoch) = e.checked_sub(age as u64) {
                *count = cell::read(&self.cells[slot], epoch).unwrap_or(0);
            }
        }
        counts
    }

    /// Reserves `batch` passes at `now_ns` under a limit of `threshold` per interval.
    #[inline]
    pub fn try_acquire(&self, now_ns: u64, batch: u64, threshold: f64) -> Result<(), Refusal> {
        let epoch = now_ns / self.bucket_ns;
        let (e, current) = cell::reserve(self.cell(epoch), epoch, batch);
        let counts = self.counts(e, current);
        let in_view: u64 = counts[..self.n].iter().sum();
        if within_limit(in_view - batch, counts[self.n], batch, threshold, self.n) {
            return Ok(());
        }
        self.refuse(e, now_ns, counts, batch, threshold)
    }

    /// Takes a refused reservation back and says when the limit would admit it.
    #[cold]
    fn refuse(
        &self,
        e: u64,
        now_ns: u64,
        mut counts: [u64; MAX_CELLS],
        batch: u64,
        threshold: f64,
    ) -> Result<(), Refusal> {
        cell::release(self.cell(e), e, batch);
        counts[0] -= batch;
        let retry_after_ns = buckets_until_admitted(&counts[..=self.n], batch, threshold)
            .map(|j| ((e + j) * self.bucket_ns).saturating_sub(now_ns));
        Err(Refusal {
            passed: counts[..self.n].iter().sum(),
            retry_after_ns,
        })
    }

    /// Takes back a reservation made at `now_ns` (a later check refused the entry).
    #[inline]
    pub fn release(&self, now_ns: u64, batch: u64) {
        let e = now_ns / self.bucket_ns;
        cell::release(self.cell(e), e, batch);
    }

    /// Passes in the view at `now_ns`.
    #[cfg(test)]
    pub fn passed(&self, now_ns: u64) -> u64 {
        let e = now_ns / self.bucket_ns;
        let current = cell::read(self.cell(e), e).unwrap_or(0);
        self.counts(e, current)[..self.n].iter().sum()
    }

    /// Fills the window from counts kept elsewhere (`count(epoch)`, in this window's
    /// epochs), for a limit that starts while traffic flows.
    pub fn seed(&self, now_ns: u64, count: impl Fn(u64) -> u64) {
        let e = now_ns / self.bucket_ns;
        for age in 0..=self.n as u64 {
            let Some(epoch) = e.checked_sub(age) else {
                break;
            };
            let c = count(epoch);
            if c > 0 {
                cell::reserve(self.cell(epoch), epoch, c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: u64 = 1_000_000;

    fn admit_all(w: &PassWindow, at_ms: u64, tries: u64, threshold: f64) -> u64 {
        (0..tries)
            .filter(|_| w.try_acquire(at_ms * MS, 1, threshold).is_ok())
            .count() as u64
    }

    #[test]
    fn a_burst_after_a_bucket_left_the_view_is_held_to_a_tenth() {
        let w = PassWindow::for_interval(1000);
        assert_eq!(admit_all(&w, 1099, 500, 100.0), 100);
        assert_eq!(
            admit_all(&w, 2000, 500, 100.0),
            10,
            "1099 ms and 2000 ms lie within one 1000 ms span"
        );
        assert_eq!(admit_all(&w, 2100, 500, 100.0), 90);
    }

    #[test]
    fn refusal_says_when_the_limit_admits_again() {
        let w = PassWindow::for_interval(1000);
        assert_eq!(admit_all(&w, 250, 10, 10.0), 10);
        let r = w.try_acquire(700 * MS, 1, 10.0).unwrap_err();
        assert_eq!(r.passed, 10);
        // The bucket [200, 300) leaves the view at 1200 ms, and the 11-bucket span then
        // still holds 10 < 11.
        assert_eq!(r.retry_after_ns, Some(500 * MS));
        assert!(w.try_acquire(1199 * MS, 1, 10.0).is_err());
        assert!(w.try_acquire(1200 * MS, 1, 10.0).is_ok());
        let too_big = w.try_acquire(1200 * MS, 11, 10.0).unwrap_err();
        assert_eq!(too_big.retry_after_ns, None);
    }

    #[test]
    fn release_gives_the_reservation_back() {
        let w = PassWindow::for_interval(1000);
        w.try_acquire(0, 3, 3.0).unwrap();
        w.release(0, 3);
        assert_eq!(w.passed(0), 0);
        assert_eq!(admit_all(&w, 0, 5, 3.0), 3);
    }

    #[test]
    fn two_threads_never_both_pass_a_threshold_of_one() {
        use std::sync::{Arc, Barrier};
        for round in 0..2000u64 {
            let w = Arc::new(PassWindow::for_interval(1000));
            let barrier = Arc::new(Barrier::new(2));
            let now = round * 1000 * MS;
            let passed: u64 = (0..2)
                .map(|_| {
                    let (w, barrier) = (w.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        u64::from(w.try_acquire(now, 1, 1.0).is_ok())
                    })
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|h| h.join().unwrap())
                .sum();
            assert_eq!(passed, 1, "round {round}");
        }
    }

    #[test]
    fn custom_intervals_choose_their_buckets() {
        assert_eq!(PassWindow::for_interval(2000).buckets(), 20);
        assert!(PassWindow::for_interval(2000).has_stat_buckets());
        assert_eq!(PassWindow::for_interval(60_000).buckets(), 20);
        assert!(!PassWindow::for_interval(60_000).has_stat_buckets());
        assert_eq!(PassWindow::for_interval(7).buckets(), 1);
    }

    proptest! {
        // Under any arrival pattern, no span of one interval holds more than T (n+1)/n, and
        // no view holds more than T.
        #[test]
        fn no_span_of_one_interval_exceeds_the_bound(
            arrivals in proptest::collection::vec((0u64..5_000, 1u64..4), 1..400),
            threshold in 1u64..40,
        ) {
            let mut arrivals = arrivals;
            arrivals.sort();
            let w = PassWindow::for_interval(1000);
            let mut admitted = Vec::new();
            for (t, batch) in arrivals {
                if w.try_acquire(t * MS, batch, threshold as f64).is_ok() {
                    admitted.push((t, batch));
                }
            }
            let limit = threshold as f64 * 1.1;
            for &(start, _) in &admitted {
                let in_span: u64 = admitted
                    .iter()
                    .filter(|(t, _)| *t >= start && *t < start + 1000)
                    .map(|(_, b)| b)
                    .sum();
                prop_assert!(in_span as f64 <= limit + 1e-9, "{in_span} from {start}");
            }
        }
    }
}
