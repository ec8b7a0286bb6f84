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

use std::sync::atomic::{
    AtomicU64,
    Ordering::{Relaxed, SeqCst},
};

use super::cell;
use super::divisor::Divisor;
use super::node::{BUCKET_MS, BUCKET_NS, Event, RING, Span, StatNode, epoch};

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
    // `in_view + before <= threshold × (n + 1) / n`, multiplied out (a division takes
    // several times as long as a multiplication).
    in_view <= threshold && (in_view + before as f64) * n as f64 <= threshold * (n as f64 + 1.0)
}

/// Where a window stands at a refusal: the counts of its buckets by age (`counts[k]`, the
/// bucket `k` buckets before the current bucket `epoch`, `k` in `0..=n`) and, per age, the
/// time from which that bucket's passes all lie a whole interval back (`None`: unknown).
pub(crate) struct Standing<'a> {
    pub counts: &'a [u64],
    pub epoch: u64,
    pub bucket_ns: u64,
    pub all_old_at: &'a dyn Fn(usize) -> Option<u64>,
}

/// How long after `now_ns` [`within_limit`] would admit `batch` if nothing else passed;
/// `None` when no wait is enough (a batch over the threshold).
pub(crate) fn wait_until_admitted(
    at: &Standing<'_>,
    now_ns: u64,
    batch: u64,
    threshold: f64,
) -> Option<u64> {
    let counts = at.counts;
    let n = counts.len() - 1;
    if batch as f64 > threshold {
        return None;
    }
    // After waiting `j` buckets, the buckets of age `0..n - j` are still in the view and the
    // one of age `n - j` is just before it: it stops counting once all its passes are a
    // whole interval old.
    let mut in_view: u64 = counts[..n].iter().sum();
    (0..=n + 1)
        .find_map(|j| {
            let start = match j {
                0 => now_ns,
                _ => (at.epoch + j as u64) * at.bucket_ns,
            };
            let before = match j {
                0 => counts[n],
                j if j <= n => {
                    in_view -= counts[n - j];
                    counts[n - j]
                }
                _ => 0,
            };
            if within_limit(in_view, before, batch, threshold, n) {
                return Some(start);
            }
            let end = (at.epoch + j as u64 + 1) * at.bucket_ns;
            let dated = (at.all_old_at)(n.checked_sub(j)?)?;
            (within_limit(in_view, 0, batch, threshold, n) && dated < end)
                .then_some(dated.max(start))
        })
        .map(|t| t.saturating_sub(now_ns))
}

/// Most buckets a window has (its view and the bucket before it).
pub(crate) const MAX_CELLS: usize = MAX_FINE_BUCKETS as usize + 1;

/// Passes over a sliding window of `n` buckets, reserved atomically by admissions.
#[derive(Debug)]
pub(crate) struct PassWindow {
    bucket_ns: u64,
    /// Division by `bucket_ns` (for bucket lengths other than the statistics' own).
    per_bucket: Divisor,
    n: usize,
    /// The view and the bucket just before it, in a ring of a power of two slots (at
    /// least `n + 1`, at most [`MAX_RING`]), so that a bucket's slot is a mask away. The
    /// array always has [`MAX_RING`] slots, so that indexing needs no bounds check.
    slots: Box<[Slot; MAX_RING]>,
    mask: usize,
    /// The sum of the view's older buckets (all but the newest two) for one bucket, as a
    /// cell word: written by the first reservation of a bucket, read by the others, so that
    /// a reservation reads three counts instead of `n`. [`PENDING`] while being summed.
    /// The bucket just closed is always read as it is: entries that reserved in it may
    /// still take their reservation back, and late ones may still land in it.
    closed: AtomicU64,
}

/// The value of [`PassWindow::closed`] while its sum is being taken.
const PENDING: u64 = cell::MAX_VALUE;

/// Slots of the largest ring: the smallest power of two that holds [`MAX_CELLS`].
const MAX_RING: usize = MAX_CELLS.next_power_of_two();

/// One bucket of a [`PassWindow`]: its count, and the time of its latest pass next to it
/// (a pass writes both, so they share a cache line).
#[derive(Debug, Default)]
struct Slot {
    count: AtomicU64,
    /// The time of the latest pass counted here (nanoseconds): when every pass of the
    /// bucket before the view is a whole interval old, it lies outside the span that ends
    /// now, so a limit of `T` admits exactly `T` per interval under steady overload even
    /// when `T` is small.
    latest: AtomicU64,
}

/// Most buckets a window of the default bucket length may have (2 s of 100 ms buckets).
const MAX_FINE_BUCKETS: u64 = 20;

impl PassWindow {
    /// A window for an interval. Intervals of 1 to 2 s in whole 100 ms use the resource
    /// statistics' own 100 ms buckets (10 to 20 of them); other intervals up to 2 s use 10
    /// buckets, longer ones 20, of `interval / n` (whole nanoseconds). At least 10 buckets
    /// keep every span of one interval within `1.1 T`.
    pub(crate) fn for_interval(interval_ms: u64) -> Self {
        let interval_ms = interval_ms.max(1);
        let interval_ns = interval_ms * 1_000_000;
        let fine = interval_ms.is_multiple_of(BUCKET_MS)
            && (10..=MAX_FINE_BUCKETS).contains(&(interval_ms / BUCKET_MS));
        let n = if fine {
            interval_ms / BUCKET_MS
        } else if interval_ms <= MAX_FINE_BUCKETS * BUCKET_MS {
            10
        } else {
            20
        };
        let ring = (n as usize + 1).next_power_of_two();
        PassWindow {
            bucket_ns: interval_ns / n,
            per_bucket: Divisor::new(interval_ns / n),
            n: n as usize,
            slots: Box::new(std::array::from_fn(|_| Slot::default())),
            mask: ring - 1,
            closed: AtomicU64::new(0),
        }
    }

    /// Buckets in the view.
    #[cfg(test)]
    pub(crate) fn buckets(&self) -> usize {
        self.n
    }

    /// The slot of bucket `epoch` (the mask is below [`MAX_RING`]; the remainder says so
    /// to the compiler, and costs nothing as [`MAX_RING`] is a power of two).
    #[inline]
    fn slot(&self, epoch: u64) -> &Slot {
        &self.slots[(epoch as usize & self.mask) % MAX_RING]
    }

    #[inline]
    fn cell(&self, epoch: u64) -> &AtomicU64 {
        &self.slot(epoch).count
    }

    /// The time of the latest pass of bucket `epoch`.
    #[inline]
    fn latest(&self, epoch: u64) -> &AtomicU64 {
        &self.slot(epoch).latest
    }

    /// The bucket of a time. The statistics' 100 ms buckets divide by a constant, which
    /// compiles to a multiplication; other lengths multiply by a prepared reciprocal.
    #[inline]
    fn epoch(&self, now_ns: u64) -> u64 {
        if self.bucket_ns == BUCKET_NS {
            now_ns / BUCKET_NS
        } else {
            self.per_bucket.divide(now_ns)
        }
    }

    /// Whether every pass of bucket `bucket` lies a whole interval before `now_ns` (then it
    /// is outside the span that ends now).
    #[inline]
    fn all_old(&self, bucket: u64, now_ns: u64) -> bool {
        let latest = self.latest(bucket).load(Relaxed);
        latest >= bucket * self.bucket_ns
            && latest.saturating_add(self.bucket_ns * self.n as u64) <= now_ns
    }

    /// The counts of the buckets `0..=n` buckets before bucket `e` (the view and the
    /// bucket before it), newest first, with `current` as the count of bucket `e`. The
    /// bucket before the view counts 0 when all its passes are a whole interval before
    /// `now_ns`.
    #[inline]
    fn counts(&self, now_ns: u64, e: u64, current: u64) -> [u64; MAX_CELLS] {
        let mut counts = [0u64; MAX_CELLS];
        counts[0] = current;
        for (age, count) in counts.iter_mut().enumerate().take(self.n + 1).skip(1) {
            if let Some(b) = e.checked_sub(age as u64) {
                *count = cell::read(self.cell(b), b).unwrap_or(0);
            }
        }
        if let Some(b) = e.checked_sub(self.n as u64)
            && self.all_old(b, now_ns)
        {
            counts[self.n] = 0;
        }
        counts
    }

    /// Reserves `batch` passes at `now_ns` under a limit of `threshold` per interval.
    #[inline]
    pub(crate) fn try_acquire(
        &self,
        now_ns: u64,
        batch: u64,
        threshold: f64,
    ) -> Result<(), Refusal> {
        let epoch = self.epoch(now_ns);
        if batch as f64 > threshold {
            // Never passes (threshold 0 blocks everything): nothing to reserve or wait for.
            let current = cell::read(self.cell(epoch), epoch).unwrap_or(0);
            return Err(Refusal {
                passed: current + self.closed_sum(epoch, self.closed.load(SeqCst)),
                retry_after_ns: None,
            });
        }
        let (e, current) = cell::reserve(self.cell(epoch), epoch, batch);
        let word = self.after_late_reservation(e, self.closed.load(SeqCst));
        let in_view = current + self.closed_sum(e, word);
        let before = match e.checked_sub(self.n as u64) {
            Some(b) if !self.all_old(b, now_ns) => cell::read(self.cell(b), b).unwrap_or(0),
            _ => 0,
        };
        if within_limit(in_view - batch, before, batch, threshold, self.n) {
            let latest = self.latest(e);
            if latest.load(Relaxed) < now_ns {
                latest.store(now_ns, Relaxed);
            }
            return Ok(());
        }
        self.refuse(e, now_ns, self.counts(now_ns, e, current), batch, threshold)
    }

    /// Clears the cached sum (`word`, as read after a reservation in bucket `e`) when it is
    /// the sum of a newer bucket whose older buckets include `e`: the reservation's clock
    /// was read two or more buckets ago, and the sum may have been taken without it. The
    /// next reservation sums again. Returns the cache as it now stands.
    #[inline]
    fn after_late_reservation(&self, e: u64, mut word: u64) -> u64 {
        while (2..self.n as u64).contains(&cell::ahead_of(word, e)) {
            match self.closed.compare_exchange(word, 0, SeqCst, SeqCst) {
                Ok(_) => return 0,
                Err(now) => word = now,
            }
        }
        word
    }

    /// The sum of the view's closed buckets when bucket `e` is the newest: the bucket just
    /// closed as it is, the older ones from the cached `word` when it holds their sum.
    #[inline]
    fn closed_sum(&self, e: u64, word: u64) -> u64 {
        let last = e
            .checked_sub(1)
            .map_or(0, |b| cell::read_or_zero(self.cell(b), b));
        let older = match cell::value_for(word, e) {
            Some(sum) if sum != PENDING => sum,
            _ => self.sum_older(e, word),
        };
        last + older
    }

    /// Sums the view's older buckets (all but the newest two) for bucket `e`, and caches
    /// the sum unless another reservation does or did for `e` or a later bucket (`seen`:
    /// the cache as last read).
    ///
    /// The cache is marked [`PENDING`] before the buckets are read, and reservations read
    /// the cache after their own count (all sequentially consistent): so a late
    /// reservation into an older bucket either lands before the sum reads that bucket, or
    /// sees the mark (or the sum) and clears it ([`PassWindow::after_late_reservation`]).
    /// A late reservation stays in its own bucket, where the views of entries as late as
    /// it see it. A reservation taken back more than a bucket after it was made (its entry
    /// stalled that long between two checks) stays in the sum until the next bucket: the
    /// limit then errs on the side of refusing.
    #[inline(never)]
    fn sum_older(&self, e: u64, mut seen: u64) -> u64 {
        let sum = || -> u64 {
            (e.saturating_sub(self.n as u64 - 1)..e.saturating_sub(1))
                .map(|b| cell::read_or_zero_seq_cst(self.cell(b), b))
                .sum()
        };
        // Marks the cache for `e` while it holds an older bucket (a late reservation may
        // have marked it for one meanwhile: that mark is replaced, not obeyed).
        loop {
            let older = cell::value_for(seen, e).is_none() && cell::ahead_of(seen, e) == 0;
            if !older {
                return sum();
            }
            match self
                .closed
                .compare_exchange(seen, cell::word(e, PENDING), SeqCst, SeqCst)
            {
                Ok(_) => break,
                Err(now) => seen = now,
            }
        }
        let total = sum().min(PENDING - 1);
        let _ = self.closed.compare_exchange(
            cell::word(e, PENDING),
            cell::word(e, total),
            SeqCst,
            Relaxed,
        );
        total
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
        let retry_after_ns = self.wait(e, now_ns, &counts, batch, threshold);
        Err(Refusal {
            passed: counts[..self.n].iter().sum(),
            retry_after_ns,
        })
    }

    /// How long until `batch` more passes would be admitted at `threshold` if nothing else
    /// passed (zero when they would be now); `None` when never. Reserves nothing.
    pub(crate) fn wait_for(&self, now_ns: u64, batch: u64, threshold: f64) -> Option<u64> {
        let e = self.epoch(now_ns);
        let current = cell::read(self.cell(e), e).unwrap_or(0);
        let counts = self.counts(now_ns, e, current);
        let in_view: u64 = counts[..self.n].iter().sum();
        if within_limit(in_view, counts[self.n], batch, threshold, self.n) {
            return Some(0);
        }
        self.wait(e, now_ns, &counts, batch, threshold)
    }

    /// The wait until `batch` more would pass, from bucket `e` with these counts.
    fn wait(
        &self,
        e: u64,
        now_ns: u64,
        counts: &[u64; MAX_CELLS],
        batch: u64,
        threshold: f64,
    ) -> Option<u64> {
        let interval = self.bucket_ns * self.n as u64;
        let all_old_at = |age: usize| {
            let bucket = e.checked_sub(age as u64)?;
            let latest = self.latest(bucket).load(Relaxed);
            (latest >= bucket * self.bucket_ns).then(|| latest.saturating_add(interval))
        };
        let at = Standing {
            counts: &counts[..=self.n],
            epoch: e,
            bucket_ns: self.bucket_ns,
            all_old_at: &all_old_at,
        };
        wait_until_admitted(&at, now_ns, batch, threshold)
    }

    /// Takes back a reservation made at `now_ns` (a later check refused the entry).
    #[inline]
    pub(crate) fn release(&self, now_ns: u64, batch: u64) {
        let e = self.epoch(now_ns);
        cell::release(self.cell(e), e, batch);
    }

    /// Passes in the view at `now_ns`.
    #[cfg(test)]
    pub(crate) fn passed(&self, now_ns: u64) -> u64 {
        let e = self.epoch(now_ns);
        let current = cell::read(self.cell(e), e).unwrap_or(0);
        self.counts(now_ns, e, current)[..self.n].iter().sum()
    }

    /// Adds counts kept elsewhere, each given with the start of the bucket it was counted
    /// in (nanoseconds), to the bucket of this window holding that time, for those that fall
    /// in the view or the bucket before it at `now_ns`: a limit that starts (or changes its
    /// interval) while traffic flows counts what already passed.
    fn absorb(&self, now_ns: u64, counts: impl Iterator<Item = (u64, u64)>) {
        let e = self.epoch(now_ns);
        let oldest = e.saturating_sub(self.n as u64);
        for (start_ns, count) in counts {
            let epoch = self.epoch(start_ns);
            if count > 0 && (oldest..=e).contains(&epoch) {
                cell::reserve(self.cell(epoch), epoch, count);
            }
        }
        // The counts may have gone into closed buckets: their cached sum is out of date.
        cell::clear(&self.closed);
    }

    /// Seeds the window with the passes of resource statistics (their last 3.2 s).
    pub(crate) fn seed_from_stats(&self, now_ns: u64, stats: &StatNode) {
        let e = epoch(now_ns);
        let buckets = (e + 1).saturating_sub(RING as u64)..=e;
        self.absorb(
            now_ns,
            buckets.map(|b| {
                let count = stats.sum_span(
                    Event::Pass,
                    Span {
                        start: b,
                        end: b + 1,
                    },
                );
                (b * BUCKET_MS * 1_000_000, count)
            }),
        );
    }

    /// Seeds the window with the passes another window counted (a limit whose interval
    /// changed).
    pub(crate) fn seed_from(&self, now_ns: u64, other: &PassWindow) {
        let e = other.epoch(now_ns);
        let current = cell::read(other.cell(e), e).unwrap_or(0);
        let counts = other.counts(now_ns, e, current);
        self.absorb(
            now_ns,
            (0..=other.n).filter_map(|age| {
                let b = e.checked_sub(age as u64)?;
                Some((b * other.bucket_ns, counts[age]))
            }),
        );
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
    fn a_late_reservation_counts_where_every_reservation_sees_it() {
        let w = PassWindow::for_interval(1000);
        assert_eq!(admit_all(&w, 2_050, 5, 10.0), 5);
        // The first pass of bucket 22 caches the sum of its older buckets (5, bucket 20).
        assert_eq!(admit_all(&w, 2_250, 1, 10.0), 1);
        // An entry that read the clock in bucket 20 reserves after that: it counts there,
        // and the cached sum, taken without it, is summed again.
        assert!(w.try_acquire(2_099 * MS, 1, 10.0).is_ok());
        assert_eq!(cell::read(w.cell(20), 20), Some(6));
        assert_eq!(cell::read(w.cell(22), 22), Some(1));
        // One late by a single bucket: the bucket just closed is always read.
        assert!(w.try_acquire(2_199 * MS, 1, 10.0).is_ok());
        assert_eq!(cell::read(w.cell(21), 21), Some(1));
        assert_eq!(
            admit_all(&w, 2_250, 10, 10.0),
            2,
            "the view holds exactly 10"
        );
    }

    #[test]
    fn entries_late_by_two_buckets_and_by_one_share_one_limit() {
        let w = PassWindow::for_interval(1000);
        // A refusal at 10 250 ms caches bucket 102's sum of the older buckets.
        assert!(w.try_acquire(10_250 * MS, 11, 10.0).is_err());
        // Entries whose clocks read 10 050 ms, then entries whose clocks read 10 150 ms:
        // the second see the first, as entries of their own time would.
        assert_eq!(admit_all(&w, 10_050, 20, 10.0), 10);
        assert_eq!(admit_all(&w, 10_150, 20, 10.0), 0);
        assert_eq!(admit_all(&w, 10_250, 20, 10.0), 0);
    }

    #[test]
    fn a_refusal_in_flight_at_a_bucket_start_is_not_kept_in_the_cached_sum() {
        let w = PassWindow::for_interval(1000);
        assert_eq!(admit_all(&w, 2_050, 9, 10.0), 9);
        // A refused entry's reservation is still counted in bucket 20 when bucket 21's
        // first reservation sums the window...
        let (e, _) = cell::reserve(w.cell(20), 20, 1);
        assert!(w.try_acquire(2_150 * MS, 1, 10.0).is_err());
        cell::release(w.cell(e), e, 1);
        // ...and is not any more once taken back: the tenth pass of the interval goes in.
        assert_eq!(admit_all(&w, 2_150, 5, 10.0), 1);
    }

    #[test]
    fn late_reservations_racing_with_the_cached_sum_are_never_missing_from_it() {
        use std::sync::{Arc, Barrier};
        for round in 0..1000u64 {
            let w = Arc::new(PassWindow::for_interval(1000));
            let base = (round + 3) * 1000;
            assert_eq!(admit_all(&w, base + 50, 6, 10.0), 6);
            let barrier = Arc::new(Barrier::new(4));
            // Entries of bucket `base + 200` and entries whose clock was read one and two
            // buckets before it, all reserving at once; each decides on its own time's view.
            [base + 99, base + 199, base + 250, base + 250]
                .into_iter()
                .map(|at_ms| {
                    let (w, barrier) = (w.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        let _ = w.try_acquire(at_ms * MS, 1, 10.0);
                    })
                })
                .collect::<Vec<_>>()
                .into_iter()
                .for_each(|h| h.join().unwrap());
            // Whatever passed, later entries of the bucket see it all: the cached sum and
            // the buckets read one by one agree.
            let counted = w.passed((base + 250) * MS);
            assert_eq!(
                admit_all(&w, base + 260, 20, 10.0),
                10u64.saturating_sub(counted),
                "round {round}"
            );
        }
    }

    #[test]
    fn every_interval_gets_at_least_ten_buckets() {
        assert_eq!(PassWindow::for_interval(2000).buckets(), 20);
        assert_eq!(PassWindow::for_interval(60_000).buckets(), 20);
        for interval in [7, 100, 500, 999, 1001, 1002, 2100] {
            assert!(
                PassWindow::for_interval(interval).buckets() >= 10,
                "{interval}"
            );
        }
    }

    #[test]
    fn odd_intervals_keep_the_span_bound() {
        for (interval, a_ms, b_ms, t) in [
            (1001, 1000, 1001, 100.0),
            (1002, 500, 1002, 100.0),
            (100, 99, 100, 10.0),
        ] {
            let w = PassWindow::for_interval(interval);
            let a = admit_all(&w, a_ms, 300, t);
            let b = admit_all(&w, b_ms, 300, t);
            assert!((a + b) as f64 <= t * 1.1, "{interval} ms: {a} + {b}");
        }
    }

    #[test]
    fn a_window_of_another_interval_takes_over_the_counts() {
        let minute = PassWindow::for_interval(60_000);
        assert_eq!(admit_all(&minute, 20_000, 10, 10.0), 10);
        let half = PassWindow::for_interval(30_000);
        half.seed_from(25_000 * MS, &minute);
        assert_eq!(half.passed(25_000 * MS), 10);
        assert_eq!(admit_all(&half, 25_000, 10, 10.0), 0);
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
