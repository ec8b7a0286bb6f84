//! Traffic shaping shared by flow and hot-parameter rules: what a rule does over its
//! threshold ([`ControlBehavior`]) and pacing (leaky bucket): one slot per `cost`
//! nanoseconds, reserved with a CAS so that two callers never get the same slot.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::rules::go_enum::go_enum;

go_enum! {
    /// What a rule does with traffic over its threshold (flow and hot-parameter rules).
    pub enum ControlBehavior {
        /// Refuse it.
        #[default]
        Reject = 0 => ["Reject"],
        /// Queue it and let it through at an even pace (leaky bucket).
        Throttling = 1 => ["Throttling"],
    }
}

/// `last` value of a pacer that has admitted nothing yet.
pub(crate) const NEVER: u64 = u64::MAX;

/// The outcome of asking a pacer for a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pace {
    /// Go now.
    Now,
    /// A slot is reserved this many nanoseconds from now.
    After(u64),
    /// The wait would be this long, more than allowed: refused.
    TooLong(u64),
}

/// Reserves the next slot of a pacer whose last reserved slot is in `last`.
///
/// If `last + cost <= now`, the entry goes now and `last = now` (idle time earns no burst).
/// Otherwise it must wait `last + cost - now`; over `max_wait_ns` it is refused, else the slot
/// `last + cost` is reserved.
#[inline]
pub(crate) fn reserve(last: &AtomicU64, now_ns: u64, cost_ns: u64, max_wait_ns: u64) -> Pace {
    let mut cur = last.load(Ordering::Acquire);
    loop {
        let (outcome, slot) = next_slot(cur, now_ns, cost_ns, max_wait_ns);
        if slot == cur {
            return outcome;
        }
        match last.compare_exchange_weak(cur, slot, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return outcome,
            Err(actual) => cur = actual,
        }
    }
}

/// The pacing decision for a pacer whose last reserved slot is `last`: the outcome and
/// the new value of `last` (unchanged when refused).
#[inline]
pub(crate) fn next_slot(last: u64, now_ns: u64, cost_ns: u64, max_wait_ns: u64) -> (Pace, u64) {
    let next = if last == NEVER {
        now_ns
    } else {
        last.saturating_add(cost_ns)
    };
    if next <= now_ns {
        return (Pace::Now, now_ns);
    }
    let wait = next - now_ns;
    if wait > max_wait_ns {
        (Pace::TooLong(wait), last)
    } else {
        (Pace::After(wait), next)
    }
}

/// Gives back the slot `slot` (reserved at cost `cost_ns`) of an entry a later check
/// refused. When nothing was reserved after it, the pacer returns to a state equivalent to
/// the one before the reservation for every later decision (`slot - cost`, or `NEVER` for
/// the first slot); otherwise the slot stays a gap, which only ever slows the pace.
pub(crate) fn give_back(last: &AtomicU64, slot: u64, cost_ns: u64) {
    let before = slot.checked_sub(cost_ns).unwrap_or(NEVER);
    let _ = last.compare_exchange(slot, before, Ordering::AcqRel, Ordering::Acquire);
}

/// The cost of `batch` entries at `rate` entries per `interval_ns`, in nanoseconds, computed
/// in floating point so that rates above 1000/s keep their precision.
#[inline]
pub(crate) fn cost_ns(batch: u32, rate: f64, interval_ns: u64) -> u64 {
    (batch as f64 / rate * interval_ns as f64).round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paces_and_refuses_long_waits() {
        let last = AtomicU64::new(NEVER);
        let cost = cost_ns(1, 5000.0, 1_000_000_000);
        assert_eq!(cost, 200_000);
        assert_eq!(reserve(&last, 0, cost, 0), Pace::Now);
        assert_eq!(reserve(&last, 10_000, cost, 0), Pace::TooLong(190_000));
        assert_eq!(reserve(&last, 10_000, cost, 500_000), Pace::After(190_000));
        assert_eq!(reserve(&last, 10_000, cost, 500_000), Pace::After(390_000));
        assert_eq!(
            reserve(&last, 10_000_000, cost, 0),
            Pace::Now,
            "no burst credit"
        );
    }

    #[test]
    fn a_given_back_slot_is_reserved_again() {
        let last = AtomicU64::new(NEVER);
        let cost = 100_000_000;
        assert_eq!(reserve(&last, 0, cost, u64::MAX), Pace::Now);
        give_back(&last, 0, cost);
        assert_eq!(
            reserve(&last, 0, cost, u64::MAX),
            Pace::Now,
            "the first slot came back"
        );
        assert_eq!(reserve(&last, 0, cost, u64::MAX), Pace::After(cost));
        give_back(&last, cost, cost);
        assert_eq!(reserve(&last, 0, cost, u64::MAX), Pace::After(cost));
        assert_eq!(reserve(&last, 0, cost, u64::MAX), Pace::After(2 * cost));
        give_back(&last, cost, cost);
        assert_eq!(
            reserve(&last, 0, cost, u64::MAX),
            Pace::After(3 * cost),
            "a slot with a later one reserved after it stays a gap"
        );
    }
}
