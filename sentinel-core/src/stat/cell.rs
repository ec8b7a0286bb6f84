//! Self-resetting counters: the building block of every sliding window.
//!
//! A cell is one `AtomicU64` holding a *written* flag (bit 63), the bucket it counts for
//! (its *epoch*, the bucket number `time / bucket_len`, in bits 40..63) and the count (low 40
//! bits). A writer that finds an older epoch replaces the whole word with one
//! compare-and-swap, so a bucket is reset and written in a single atomic step: no lock, no
//! separate "start" field that could disagree with the counters, and no increment lost to a
//! reset racing with it. A writer whose time is slightly behind the cell's (a thread that
//! read the clock, then was descheduled) drops its write: that bucket is gone.
//!
//! The 23-bit epoch wraps after 2^23 buckets (9.7 days with 100 ms buckets); a cell is only
//! misread if it was last written an exact multiple of that long ago, which readers' range
//! checks make harmless in practice.

use std::sync::atomic::{
    AtomicU64,
    Ordering::{Relaxed, SeqCst},
};

const VALUE_BITS: u32 = 40;
const VALUE_MASK: u64 = (1 << VALUE_BITS) - 1;
const EPOCH_BITS: u32 = 23;
const EPOCH_MASK: u64 = (1 << EPOCH_BITS) - 1;
const WRITTEN: u64 = 1 << 63;
/// How far behind a cell's epoch a write may be and still be recognised as late (and
/// dropped) rather than as the cell being stale.
const MAX_LAG: u64 = 1024;

#[inline]
fn pack(epoch: u64, value: u64) -> u64 {
    WRITTEN | ((epoch & EPOCH_MASK) << VALUE_BITS) | value.min(VALUE_MASK)
}

#[inline]
fn epoch_of(word: u64) -> u64 {
    (word >> VALUE_BITS) & EPOCH_MASK
}

#[inline]
fn value_of(word: u64) -> u64 {
    word & VALUE_MASK
}

/// Whether a write for epoch `e` into a cell holding `word` comes too late (the cell
/// already counts for a slightly newer bucket).
#[inline]
fn is_late(e: u64, word: u64) -> bool {
    if word & WRITTEN == 0 {
        return false;
    }
    let ahead = epoch_of(word).wrapping_sub(e) & EPOCH_MASK;
    ahead != 0 && ahead < MAX_LAG
}

/// The written flag and epoch bits a cell holds while it counts for (masked) epoch `e`.
#[inline]
fn tag(e: u64) -> u64 {
    WRITTEN | (e << VALUE_BITS)
}

/// Whether a cell holding `word` counts for (masked) epoch `e`: one comparison of the
/// flag and epoch bits.
#[inline]
fn holds(word: u64, e: u64) -> bool {
    word & !VALUE_MASK == tag(e)
}

/// Adds `v` to the cell's count for `epoch`, resetting it first if it holds an older epoch.
/// A write for an epoch older than the cell's is dropped: that bucket is already gone.
///
/// Returns the count for `epoch` right after the add, or 0 when the write was dropped or
/// the cell moved on to another bucket meanwhile (callers that ignore it pay nothing).
#[inline]
pub(crate) fn add(cell: &AtomicU64, epoch: u64, v: u64) -> u64 {
    let e = epoch & EPOCH_MASK;
    let mut cur = cell.load(Relaxed);
    loop {
        if holds(cur, e) {
            let v = v.min(VALUE_MASK - value_of(cur));
            let old = cell.fetch_add(v, Relaxed);
            return if holds(old, e) { value_of(old) + v } else { 0 };
        }
        if is_late(e, cur) {
            return 0;
        }
        match cell.compare_exchange_weak(cur, pack(e, v), Relaxed, Relaxed) {
            Ok(_) => return v.min(VALUE_MASK),
            Err(now) => cur = now,
        }
    }
}

/// Keeps in the cell the smallest (`keep_min`) or largest value seen during `epoch`.
#[inline]
fn update_extreme(cell: &AtomicU64, epoch: u64, v: u64, keep_min: bool) {
    let e = epoch & EPOCH_MASK;
    let v = v.min(VALUE_MASK);
    let mut cur = cell.load(Relaxed);
    loop {
        let replace = if holds(cur, e) {
            let old = value_of(cur);
            if keep_min { v < old } else { v > old }
        } else {
            !is_late(e, cur)
        };
        if !replace {
            return;
        }
        match cell.compare_exchange_weak(cur, pack(e, v), Relaxed, Relaxed) {
            Ok(_) => return,
            Err(now) => cur = now,
        }
    }
}

/// Adds `v` to the count for `epoch` and returns the epoch the count landed in (`epoch`,
/// or a newer one when the cell already moved on: a late reservation counts in the newest
/// bucket rather than being lost) with the count there after the add.
#[inline]
pub(crate) fn reserve(cell: &AtomicU64, epoch: u64, v: u64) -> (u64, u64) {
    let mut e = epoch;
    let mut cur = cell.load(Relaxed);
    loop {
        let masked = e & EPOCH_MASK;
        if is_late(masked, cur) {
            e += epoch_of(cur).wrapping_sub(masked) & EPOCH_MASK;
            continue;
        }
        let next = if holds(cur, masked) {
            pack(masked, value_of(cur).saturating_add(v))
        } else {
            pack(masked, v)
        };
        // Sequentially consistent (the same instruction as a relaxed one on x86-64): a
        // pass window's cached sum of its closed buckets relies on a reservation and its
        // following read of the cache being ordered against the cache's mark and sum.
        match cell.compare_exchange_weak(cur, next, SeqCst, Relaxed) {
            Ok(_) => return (e, value_of(next)),
            Err(now) => cur = now,
        }
    }
}

/// The value a cell word holds for `epoch`, if it holds that bucket.
#[inline]
pub(crate) fn value_for(word: u64, epoch: u64) -> Option<u64> {
    holds(word, epoch & EPOCH_MASK).then_some(value_of(word))
}

/// How many buckets a cell word is ahead of `epoch` (0 when it holds `epoch`, an older
/// bucket, or nothing).
#[inline]
pub(crate) fn ahead_of(word: u64, epoch: u64) -> u64 {
    if is_late(epoch & EPOCH_MASK, word) {
        epoch_of(word).wrapping_sub(epoch & EPOCH_MASK) & EPOCH_MASK
    } else {
        0
    }
}

/// A cell word holding `value` for `epoch`.
#[inline]
pub(crate) fn word(epoch: u64, value: u64) -> u64 {
    pack(epoch & EPOCH_MASK, value)
}

/// The largest value a cell holds.
pub(crate) const MAX_VALUE: u64 = VALUE_MASK;

/// Takes back `v` from the count for `epoch` (a reservation that was refused); nothing
/// happens when the cell already counts for another bucket.
#[inline]
pub(crate) fn release(cell: &AtomicU64, epoch: u64, v: u64) {
    let e = epoch & EPOCH_MASK;
    let mut cur = cell.load(Relaxed);
    while holds(cur, e) {
        let next = pack(e, value_of(cur).saturating_sub(v));
        match cell.compare_exchange_weak(cur, next, Relaxed, Relaxed) {
            Ok(_) => return,
            Err(now) => cur = now,
        }
    }
}

/// Keeps the minimum of the values recorded during `epoch`.
#[inline]
pub(crate) fn min(cell: &AtomicU64, epoch: u64, v: u64) {
    update_extreme(cell, epoch, v, true);
}

/// Keeps the maximum of the values recorded during `epoch`.
#[inline]
pub(crate) fn max(cell: &AtomicU64, epoch: u64, v: u64) {
    update_extreme(cell, epoch, v, false);
}

/// The cell's value if it counts for `epoch`, else `None` (stale or never written).
#[inline]
pub(crate) fn read(cell: &AtomicU64, epoch: u64) -> Option<u64> {
    let w = cell.load(Relaxed);
    holds(w, epoch & EPOCH_MASK).then_some(value_of(w))
}

/// The cell's value if it counts for `epoch`, else 0 (without a branch, for sums).
#[inline]
pub(crate) fn read_or_zero(cell: &AtomicU64, epoch: u64) -> u64 {
    or_zero(cell.load(Relaxed), epoch)
}

/// [`read_or_zero`] in the single total order of sequentially consistent operations
/// (the same instruction as a relaxed load on x86-64).
#[inline]
pub(crate) fn read_or_zero_seq_cst(cell: &AtomicU64, epoch: u64) -> u64 {
    or_zero(cell.load(SeqCst), epoch)
}

/// The value of a cell word if it holds `epoch`, else 0 (without a branch).
#[inline]
fn or_zero(word: u64, epoch: u64) -> u64 {
    value_of(word) * u64::from(holds(word, epoch & EPOCH_MASK))
}

/// Forgets everything the cell holds.
pub(crate) fn clear(cell: &AtomicU64) {
    cell.store(0, Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn add_returns_the_count_it_made() {
        let c = AtomicU64::new(0);
        assert_eq!(add(&c, 5, 3), 3);
        assert_eq!(add(&c, 5, 4), 7);
        assert_eq!(add(&c, 6, 2), 2, "a newer bucket starts over");
        assert_eq!(add(&c, 5, 1), 0, "a late write is dropped");
        assert_eq!(read(&c, 6), Some(2));
    }

    #[test]
    fn add_resets_on_newer_epoch_and_ignores_older() {
        let c = AtomicU64::new(0);
        add(&c, 5, 3);
        add(&c, 5, 4);
        assert_eq!(read(&c, 5), Some(7));
        add(&c, 25, 1);
        assert_eq!(read(&c, 5), None);
        assert_eq!(read(&c, 25), Some(1));
        add(&c, 5, 100);
        assert_eq!(
            read(&c, 25),
            Some(1),
            "a late write for a gone bucket is dropped"
        );
        add(&c, 25 + 5000, 2);
        assert_eq!(read(&c, 5025), Some(2), "a long-stale cell is reset");
    }

    #[test]
    fn min_and_max_track_extremes_per_epoch() {
        let lo = AtomicU64::new(0);
        let hi = AtomicU64::new(0);
        for v in [30, 10, 20] {
            min(&lo, 7, v);
            max(&hi, 7, v);
        }
        assert_eq!(read(&lo, 7), Some(10));
        assert_eq!(read(&hi, 7), Some(30));
        min(&lo, 8, 50);
        assert_eq!(read(&lo, 8), Some(50), "a new epoch starts fresh");
        let fresh = AtomicU64::new(0);
        assert_eq!(read(&fresh, 0), None, "a never-written cell holds nothing");
        min(&fresh, 0, 300);
        assert_eq!(read(&fresh, 0), Some(300));
    }

    #[test]
    fn reserve_returns_the_count_and_release_takes_it_back() {
        let c = AtomicU64::new(0);
        assert_eq!(reserve(&c, 9, 2), (9, 2));
        assert_eq!(reserve(&c, 9, 3), (9, 5));
        release(&c, 9, 3);
        assert_eq!(read(&c, 9), Some(2));
        assert_eq!(reserve(&c, 12, 1), (12, 1), "a newer epoch resets the cell");
        assert_eq!(
            reserve(&c, 10, 4),
            (12, 5),
            "a late reservation counts in the newest bucket"
        );
        release(&c, 9, 1);
        assert_eq!(
            read(&c, 12),
            Some(5),
            "releasing a gone bucket changes nothing"
        );
    }

    #[test]
    fn epochs_wrap_around() {
        let c = AtomicU64::new(0);
        let last = EPOCH_MASK;
        add(&c, last, 2);
        add(&c, last + 1, 3);
        assert_eq!(read(&c, last + 1), Some(3));
    }

    proptest! {
        #[test]
        fn sums_within_one_epoch_are_exact(vals in proptest::collection::vec(0u64..1_000_000, 0..50), epoch in 0u64..u64::MAX / 2) {
            let c = AtomicU64::new(0);
            for v in &vals {
                add(&c, epoch, *v);
            }
            let expect: u64 = vals.iter().sum();
            prop_assert_eq!(read(&c, epoch).unwrap_or(0), expect);
        }

        #[test]
        fn only_the_latest_epoch_survives(epochs in proptest::collection::vec(0u64..1000, 1..40)) {
            let c = AtomicU64::new(0);
            for e in &epochs {
                add(&c, *e, 1);
            }
            let latest = *epochs.iter().max().unwrap();
            let expect = epochs.iter().filter(|e| **e == latest).count() as u64;
            // writes for (slightly) older epochs after the latest one are dropped, so the
            // count of the latest epoch is the number of its writes.
            prop_assert_eq!(read(&c, latest), Some(expect));
        }
    }
}
