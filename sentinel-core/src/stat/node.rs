//! Per-resource statistics: a striped ring of 100 ms buckets.
//!
//! Each resource keeps 32 buckets of 100 ms (3.2 s of history). The default read view is the
//! last 10 buckets (1 s). Limits count their own passes in a
//! pass window of their own (`pass_window`) so that deciding and counting are one step; these
//! statistics are what the metric log, exporters, warm-up and system protection read.
//!
//! Counters are striped: every thread writes the stripe picked by its thread index, so two
//! threads on one resource do not fight over cache lines. Reads sum the stripes.

use std::cell::Cell;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering::Relaxed};

use crossbeam_utils::CachePadded;

use super::cell;

/// Length of one statistics bucket.
pub const BUCKET_MS: u64 = 100;
/// Length of one statistics bucket, nanoseconds.
pub(crate) const BUCKET_NS: u64 = BUCKET_MS * 1_000_000;
/// Buckets kept (3.2 s of history; a power of two so that indexing is a mask).
pub const RING: usize = 32;
/// Buckets in the default 1 s view.
pub const VIEW: usize = 10;

/// What a statistics cell counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Event {
    /// Admitted entries (by batch count).
    Pass = 0,
    /// Blocked entries (by batch count).
    Block,
    /// Completed entries (by batch count).
    Complete,
    /// Completed entries marked as failed (by batch count).
    Error,
    /// Sum of response times, microseconds (weighted by batch count).
    RtSum,
}
const SUMMED_EVENTS: usize = 5;
const MIN_RT: usize = SUMMED_EVENTS;
const MAX_CONCURRENCY: usize = SUMMED_EVENTS + 1;
const CELLS: usize = SUMMED_EVENTS + 2;

/// A run of whole buckets: epochs `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// First bucket.
    pub start: u64,
    /// One past the last bucket.
    pub end: u64,
}

impl Span {
    /// The last `buckets` buckets up to and including the current one (the view rules
    /// check; its oldest part may be up to one bucket short of the full interval).
    #[inline]
    pub fn recent(now_ns: u64, buckets: usize) -> Span {
        let e = epoch(now_ns);
        Span {
            start: (e + 1).saturating_sub(buckets.min(RING) as u64),
            end: e + 1,
        }
    }

    /// The buckets starting in `[from_ms, to_ms)`, clipped to those still kept at `now_ns`.
    pub fn between(now_ns: u64, from_ms: u64, to_ms: u64) -> Span {
        let e = epoch(now_ns);
        let start = (from_ms / BUCKET_MS).max((e + 1).saturating_sub(RING as u64));
        let end = (to_ms / BUCKET_MS).min(e + 1);
        Span {
            start,
            end: end.max(start),
        }
    }

    /// The last complete whole second (aligned to the clock's seconds).
    pub fn last_second(now_ns: u64) -> Span {
        let now_ms = now_ns / 1_000_000;
        let second = now_ms - now_ms % 1000;
        Self::between(now_ns, second.saturating_sub(1000), second)
    }

    /// Length of the span in milliseconds.
    pub fn millis(&self) -> u64 {
        (self.end - self.start) * BUCKET_MS
    }
}

/// The bucket number of a time.
#[inline]
pub fn epoch(now_ns: u64) -> u64 {
    now_ns / BUCKET_NS
}

/// Counters kept for the life of a node (not windowed), read by metrics exporters.
#[derive(Default)]
struct Lifetime {
    /// Blocks by [`BLOCK_TYPES`] index; counted only while exporters ask for them.
    blocked: [AtomicU64; BLOCK_TYPES],
    /// Entries admitted with a throttling wait, and the sum of their waits.
    throttled: AtomicU64,
    throttle_wait_ns: AtomicU64,
}

/// Number of block type counters: Flow, Isolation, CircuitBreaking, System,
/// HotSpotParamFlow, Authority, and custom types together.
pub const BLOCK_TYPES: usize = 7;

/// The index of a block type among the lifetime counters.
pub fn block_type_index(t: crate::block::BlockType) -> usize {
    use crate::block::BlockType::*;
    match t {
        Flow => 0,
        Isolation => 1,
        CircuitBreaking => 2,
        System => 3,
        HotSpotParamFlow => 4,
        Authority => 5,
        Custom(_) => 6,
    }
}

/// Lifetime figures of a node, summed over stripes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LifetimeCounts {
    /// Blocks by [`block_type_index`] (only while counting was enabled).
    pub blocked: [u64; BLOCK_TYPES],
    /// Entries admitted after a throttling wait.
    pub throttled: u64,
    /// Sum of those waits, nanoseconds.
    pub throttle_wait_ns: u64,
}

#[derive(Default)]
struct Stripe {
    cells: [[AtomicU64; RING]; CELLS],
    in_flight: CachePadded<AtomicI64>,
    /// The newest bucket any cell of this stripe was written for: readers skip a stripe
    /// that has not been written during the buckets they read. On a line of its own: it
    /// changes once per bucket, while `in_flight` changes on every entry.
    latest: CachePadded<AtomicU64>,
    lifetime: CachePadded<Lifetime>,
}

impl Stripe {
    #[inline]
    fn touch(&self, e: u64) {
        if self.latest.load(Relaxed) < e {
            self.latest.fetch_max(e, Relaxed);
        }
    }
}

#[inline]
fn slot(e: u64) -> usize {
    (e as usize) & (RING - 1)
}

/// Statistics of one resource (or of all inbound traffic).
pub struct StatNode {
    stripes: Box<[CachePadded<Stripe>]>,
}

static NEXT_THREAD: AtomicU32 = AtomicU32::new(0);
thread_local! {
    static THREAD_INDEX: Cell<u32> = const { Cell::new(u32::MAX) };
}

#[inline]
fn thread_index() -> usize {
    THREAD_INDEX.with(|c| {
        let mut i = c.get();
        if i == u32::MAX {
            i = NEXT_THREAD.fetch_add(1, Relaxed) & 0x7fff_ffff;
            c.set(i);
        }
        i as usize
    })
}

/// Number of stripes for a machine: its parallelism rounded up to a power of two, 1 to 8.
pub fn default_stripes() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8)
        .next_power_of_two()
}

impl StatNode {
    /// A node with `stripes` stripes (rounded up to a power of two, at least one).
    pub fn new(stripes: usize) -> Self {
        let n = stripes.max(1).next_power_of_two();
        StatNode {
            stripes: (0..n)
                .map(|_| CachePadded::new(Stripe::default()))
                .collect(),
        }
    }

    /// The stripe index the calling thread writes to.
    #[inline]
    pub fn stripe_of_current_thread(&self) -> usize {
        thread_index() & (self.stripes.len() - 1)
    }

    /// Records an admission of `batch` tokens; returns the stripe to pass to
    /// [`StatNode::on_complete`].
    #[inline]
    pub fn on_pass(&self, now_ns: u64, batch: u32) -> usize {
        let s = self.stripe_of_current_thread();
        let stripe = &self.stripes[s];
        let e = epoch(now_ns);
        let i = slot(e);
        stripe.touch(e);
        cell::add(&stripe.cells[Event::Pass as usize][i], e, batch as u64);
        let in_flight = stripe.in_flight.fetch_add(batch as i64, Relaxed) + batch as i64;
        cell::max(
            &stripe.cells[MAX_CONCURRENCY][i],
            e,
            in_flight.max(0) as u64,
        );
        s
    }

    /// Records a blocked entry of `batch` tokens.
    #[inline]
    pub fn on_block(&self, now_ns: u64, batch: u32) {
        self.add(Event::Block, now_ns, batch as u64);
    }

    /// Records the exit of an entry admitted on `stripe`.
    #[inline]
    pub fn on_complete(&self, stripe: usize, now_ns: u64, batch: u32, rt_us: u64, error: bool) {
        let stripe = &self.stripes[stripe & (self.stripes.len() - 1)];
        let e = epoch(now_ns);
        let i = slot(e);
        stripe.touch(e);
        let batch = batch as u64;
        cell::add(&stripe.cells[Event::Complete as usize][i], e, batch);
        cell::add(
            &stripe.cells[Event::RtSum as usize][i],
            e,
            rt_us.saturating_mul(batch),
        );
        cell::min(&stripe.cells[MIN_RT][i], e, rt_us);
        if error {
            cell::add(&stripe.cells[Event::Error as usize][i], e, batch);
        }
        stripe.in_flight.fetch_sub(batch as i64, Relaxed);
    }

    /// Counts a block of `block_type` for the life of the node (exporters' figures).
    #[inline]
    pub fn count_block_type(&self, block_type: crate::block::BlockType, batch: u32) {
        let stripe = &self.stripes[self.stripe_of_current_thread()];
        stripe.lifetime.blocked[block_type_index(block_type)].fetch_add(batch as u64, Relaxed);
    }

    /// Counts an entry admitted after a throttling wait.
    #[inline]
    pub fn count_throttled(&self, stripe: usize, wait_ns: u64) {
        let l = &self.stripes[stripe & (self.stripes.len() - 1)].lifetime;
        l.throttled.fetch_add(1, Relaxed);
        l.throttle_wait_ns.fetch_add(wait_ns, Relaxed);
    }

    /// The node's lifetime counters.
    pub fn lifetime(&self) -> LifetimeCounts {
        let mut c = LifetimeCounts::default();
        for s in self.stripes.iter() {
            for (total, b) in c.blocked.iter_mut().zip(&s.lifetime.blocked) {
                *total += b.load(Relaxed);
            }
            c.throttled += s.lifetime.throttled.load(Relaxed);
            c.throttle_wait_ns += s.lifetime.throttle_wait_ns.load(Relaxed);
        }
        c
    }

    /// Adds `v` to `event` in the current thread's stripe.
    #[inline]
    pub fn add(&self, event: Event, now_ns: u64, v: u64) {
        let stripe = &self.stripes[self.stripe_of_current_thread()];
        let e = epoch(now_ns);
        stripe.touch(e);
        cell::add(&stripe.cells[event as usize][slot(e)], e, v);
    }

    /// Visits the value of cell kind `kind` of every stripe for each bucket of `epochs`.
    #[inline]
    fn fold<F: FnMut(u64)>(&self, kind: usize, epochs: std::ops::Range<u64>, mut f: F) {
        for stripe in self.stripes.iter() {
            if stripe.latest.load(Relaxed) < epochs.start {
                continue;
            }
            let cells = &stripe.cells[kind];
            for e in epochs.clone() {
                if let Some(v) = cell::read(&cells[slot(e)], e) {
                    f(v);
                }
            }
        }
    }

    /// Sum of `event` over the last `buckets` buckets (the default view is [`VIEW`]).
    #[inline]
    pub fn sum(&self, event: Event, now_ns: u64, buckets: usize) -> u64 {
        self.sum_span(event, Span::recent(now_ns, buckets))
    }

    /// Sum of `event` over a span of buckets.
    #[inline]
    pub fn sum_span(&self, event: Event, span: Span) -> u64 {
        let mut total = 0;
        self.fold(event as usize, span.start..span.end, |v| total += v);
        total
    }

    /// Smallest RT (µs) in a span, `None` without completions.
    pub fn min_rt_us(&self, span: Span) -> Option<u64> {
        let mut m: Option<u64> = None;
        self.fold(MIN_RT, span.start..span.end, |v| {
            m = Some(m.map_or(v, |x| x.min(v)))
        });
        m
    }

    /// Highest concurrency seen in a span. With several threads this is the sum of each
    /// stripe's highest in-flight count: an upper bound, exact for one thread.
    pub fn max_concurrency(&self, span: Span) -> u64 {
        self.stripes
            .iter()
            .map(|s| {
                (span.start..span.end)
                    .filter_map(|e| cell::read(&s.cells[MAX_CONCURRENCY][slot(e)], e))
                    .max()
                    .unwrap_or(0)
            })
            .sum()
    }

    /// The highest per-second rate of `event` in a single bucket of a span.
    pub fn max_bucket_rate(&self, event: Event, span: Span) -> f64 {
        let best = (span.start..span.end)
            .map(|e| {
                self.sum_span(
                    event,
                    Span {
                        start: e,
                        end: e + 1,
                    },
                )
            })
            .max()
            .unwrap_or(0);
        best as f64 * 1000.0 / BUCKET_MS as f64
    }

    /// Entries admitted and not yet exited (a batch counts as its size).
    #[inline]
    pub fn in_flight(&self) -> u64 {
        self.stripes
            .iter()
            .map(|s| s.in_flight.load(std::sync::atomic::Ordering::Acquire))
            .sum::<i64>()
            .max(0) as u64
    }
}

impl std::fmt::Debug for StatNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatNode")
            .field("stripes", &self.stripes.len())
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn view_covers_last_second_only() {
        let n = StatNode::new(2);
        n.on_pass(0, 3);
        n.on_pass(450 * MS, 2);
        assert_eq!(n.sum(Event::Pass, 950 * MS, VIEW), 5);
        assert_eq!(
            n.sum(Event::Pass, 1050 * MS, VIEW),
            2,
            "bucket 0 left the view"
        );
        assert_eq!(n.sum_span(Event::Pass, Span::last_second(1050 * MS)), 5);
        assert_eq!(n.sum(Event::Pass, 2500 * MS, VIEW), 0);
        assert_eq!(
            n.sum_span(Event::Pass, Span::between(1999 * MS, 0, 1000)),
            5
        );
        assert_eq!(
            n.sum_span(Event::Pass, Span::between(5000 * MS, 0, 1000)),
            0,
            "gone"
        );
    }

    #[test]
    fn completion_records_rt_errors_and_concurrency() {
        let n = StatNode::new(1);
        let s1 = n.on_pass(0, 1);
        let s2 = n.on_pass(MS, 1);
        assert_eq!(n.in_flight(), 2);
        n.on_complete(s1, 2 * MS, 1, 300, false);
        n.on_complete(s2, 3 * MS, 1, 900, true);
        assert_eq!(n.in_flight(), 0);
        assert_eq!(n.sum(Event::Complete, 3 * MS, VIEW), 2);
        assert_eq!(n.sum(Event::Error, 3 * MS, VIEW), 1);
        assert_eq!(n.sum(Event::RtSum, 3 * MS, VIEW), 1200);
        assert_eq!(n.min_rt_us(Span::recent(3 * MS, VIEW)), Some(300));
        assert_eq!(n.max_concurrency(Span::recent(3 * MS, VIEW)), 2);
        assert_eq!(n.min_rt_us(Span::recent(5000 * MS, VIEW)), None);
    }

    #[test]
    fn max_bucket_rate_scales_a_bucket_to_a_second() {
        let n = StatNode::new(1);
        n.add(Event::Complete, 0, 4);
        n.add(Event::Complete, 150 * MS, 7);
        assert_eq!(
            n.max_bucket_rate(Event::Complete, Span::recent(200 * MS, VIEW)),
            70.0
        );
    }

    #[test]
    fn threads_add_up() {
        let n = std::sync::Arc::new(StatNode::new(4));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let n = n.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        let s = n.on_pass(10 * MS, 1);
                        n.on_complete(s, 10 * MS, 1, 5, false);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(n.sum(Event::Pass, 10 * MS, VIEW), 40_000);
        assert_eq!(n.sum(Event::Complete, 10 * MS, VIEW), 40_000);
        assert_eq!(n.sum(Event::RtSum, 10 * MS, VIEW), 200_000);
        assert_eq!(n.in_flight(), 0);
    }

    proptest! {
        // The view sum equals a naive count of the events whose bucket lies in the view.
        #[test]
        fn view_sum_matches_naive_model(times in proptest::collection::vec(0u64..5_000, 1..200), read_at in 0u64..6_000) {
            let mut times = times;
            times.sort();
            let n = StatNode::new(2);
            for t in &times {
                n.add(Event::Pass, t * MS, 1);
            }
            let now = read_at.max(*times.last().unwrap());
            let cur = now / BUCKET_MS;
            let expect = times.iter().filter(|t| *t / BUCKET_MS + VIEW as u64 > cur).count() as u64;
            prop_assert_eq!(n.sum(Event::Pass, now * MS, VIEW), expect);
        }
    }
}
