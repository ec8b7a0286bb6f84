//! Where the buckets live: in process (a bounded map of GCRA arrival times, read through
//! a [`Clock`]) or in Redis (the cluster rules' GCRA script, through
//! [`RedisBackend::grant`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use sentinel_core::Clock;

use super::config::Limit;
use crate::{ClusterError, RedisBackend};

/// Default number of buckets the local store keeps.
pub const DEFAULT_MAX_KEYS: usize = 100_000;

/// One descriptor to charge.
#[derive(Debug)]
pub(crate) struct Charge<'a> {
    /// The bucket's key (domain, entries and limit).
    pub(crate) bucket: String,
    pub(crate) limit: &'a Limit,
    /// Hits to spend; 0 checks without spending.
    pub(crate) hits: u64,
    /// Shadow mode: an over-limit descriptor does not refuse the request.
    pub(crate) shadow: bool,
}

/// What one descriptor's bucket says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Too few tokens for the hits (for 0 hits: none at all).
    pub(crate) over: bool,
    /// Tokens left once the request is answered.
    pub(crate) remaining: u64,
    /// Time until the bucket is full again.
    pub(crate) reset: Duration,
}

/// GCRA parameters of a limit, in ns.
#[derive(Debug, Clone, Copy)]
struct Gcra {
    interval: u64,
    tau: u64,
}

impl Gcra {
    fn of(limit: &Limit) -> Gcra {
        let interval =
            (limit.unit_length().as_nanos() as u64 / u64::from(limit.requests_per_unit)).max(1);
        Gcra {
            interval,
            tau: interval.saturating_mul(u64::from(limit.burst)),
        }
    }

    /// Tokens available at `now` for a bucket whose arrival time is `tat`.
    fn available(self, tat: u64, now: u64) -> u64 {
        (now.saturating_add(self.tau).saturating_sub(tat.max(now))) / self.interval
    }
}

/// Whether a bucket may be charged `hits` when `available` tokens are left.
fn is_over(hits: u64, available: u64) -> bool {
    if hits == 0 {
        available == 0
    } else {
        available < hits
    }
}

/// Over per descriptor, shared by every descriptor naming the same bucket: a bucket that
/// cannot take all the hits a request asks of it is over for each of them.
fn over_by_bucket(charges: &[Charge<'_>], over: &[bool]) -> Vec<bool> {
    let mut buckets: HashMap<&str, bool> = HashMap::new();
    for (c, &o) in charges.iter().zip(over) {
        *buckets.entry(c.bucket.as_str()).or_default() |= o;
    }
    charges.iter().map(|c| buckets[c.bucket.as_str()]).collect()
}

/// Whether any descriptor refuses the request.
fn refused(charges: &[Charge<'_>], over: impl Fn(usize) -> bool) -> bool {
    charges
        .iter()
        .enumerate()
        .any(|(i, c)| !c.shadow && over(i))
}

/// The in-process store: one arrival time per bucket, at most `max_keys` buckets.
pub(crate) struct LocalStore {
    clock: Arc<dyn Clock>,
    max_keys: usize,
    buckets: Mutex<HashMap<Box<str>, Slot>>,
    evictions: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    /// Theoretical arrival time, ns of the clock.
    tat: u64,
    gcra: Gcra,
}

impl Slot {
    /// The part of the budget spent at `now`: 0 full, 1 empty.
    fn spent(self, now: u64) -> f64 {
        self.tat.saturating_sub(now) as f64 / self.gcra.tau.max(1) as f64
    }
}

impl std::fmt::Debug for LocalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStore")
            .field("max_keys", &self.max_keys)
            .field("keys", &self.buckets.lock().len())
            .field("evictions", &self.evictions.load(Ordering::Relaxed))
            .finish()
    }
}

impl LocalStore {
    pub(crate) fn new(clock: Arc<dyn Clock>, max_keys: usize) -> Self {
        LocalStore {
            clock,
            max_keys: max_keys.max(1),
            buckets: Mutex::new(HashMap::new()),
            evictions: AtomicU64::new(0),
        }
    }

    pub(crate) fn keys(&self) -> usize {
        self.buckets.lock().len()
    }

    pub(crate) fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    /// Charges every descriptor, or none when one (not in shadow mode) is over.
    pub(crate) fn charge(&self, charges: &[Charge<'_>]) -> Vec<Outcome> {
        let now = self.clock.now_nanos();
        let mut buckets = self.buckets.lock();
        // Arrival times as they would be after charging, per bucket (a bucket may be named
        // by two descriptors of one request).
        let mut staged: HashMap<&str, u64> = HashMap::new();
        let mut steps = Vec::with_capacity(charges.len());
        for c in charges {
            let gcra = Gcra::of(c.limit);
            let before = staged
                .get(c.bucket.as_str())
                .copied()
                .or_else(|| buckets.get(c.bucket.as_str()).map(|s| s.tat))
                .unwrap_or(now)
                .max(now);
            let available = gcra.available(before, now);
            let over = is_over(c.hits, available);
            let after = if over {
                before
            } else {
                before.saturating_add(c.hits.saturating_mul(gcra.interval))
            };
            staged.insert(c.bucket.as_str(), after);
            steps.push((gcra, after, over));
        }
        let over: Vec<bool> = steps.iter().map(|s| s.2).collect();
        let over = over_by_bucket(charges, &over);
        let refuse = refused(charges, |i| over[i]);
        // Each descriptor reports its bucket as the request leaves it: untouched when
        // refused, else with every charge of the request on it.
        let outcomes = charges
            .iter()
            .zip(&steps)
            .zip(&over)
            .map(|((c, &(gcra, ..)), &over)| {
                let bucket = c.bucket.as_str();
                let tat = if refuse {
                    buckets.get(bucket).map_or(now, |s| s.tat).max(now)
                } else {
                    staged[bucket]
                };
                Outcome {
                    over,
                    remaining: gcra.available(tat, now),
                    reset: Duration::from_nanos(tat - now),
                }
            })
            .collect();
        if !refuse {
            for (c, &(gcra, after, _)) in charges.iter().zip(&steps) {
                if after > now && !buckets.contains_key(c.bucket.as_str()) {
                    self.make_room(&mut buckets, now);
                }
                if after > now {
                    buckets.insert(c.bucket.as_str().into(), Slot { tat: after, gcra });
                }
            }
        }
        outcomes
    }

    /// Frees places when the map is full, a batch at a time (1/64 of the map, at least
    /// one) so that the scan is paid once per batch of new buckets, not per bucket: first
    /// every bucket whose budget is full again; if that frees less than a batch, the rest
    /// of the batch among the least spent buckets that still have a token, then among the
    /// least spent with no token left.
    fn make_room(&self, buckets: &mut HashMap<Box<str>, Slot>, now: u64) {
        if buckets.len() < self.max_keys {
            return;
        }
        let before = buckets.len();
        buckets.retain(|_, s| s.tat > now);
        let batch = (self.max_keys / 64).max(1);
        let need = batch
            .saturating_sub(before - buckets.len())
            .min(buckets.len());
        if need > 0 {
            let mut order: Vec<(bool, f64, &str)> = buckets
                .iter()
                .map(|(k, s)| (s.gcra.available(s.tat, now) == 0, s.spent(now), k.as_ref()))
                .collect();
            // Buckets with a token left first, the least spent first.
            let by_preference = |a: &(bool, f64, &str), b: &(bool, f64, &str)| {
                a.0.cmp(&b.0).then(a.1.total_cmp(&b.1))
            };
            if need < order.len() {
                order.select_nth_unstable_by(need - 1, by_preference);
            }
            let victims: Vec<Box<str>> =
                order[..need].iter().map(|(_, _, k)| (*k).into()).collect();
            for k in victims {
                buckets.remove(&k);
            }
        }
        self.evictions
            .fetch_add((before - buckets.len()) as u64, Ordering::Relaxed);
    }
}

/// The Redis store: the same GCRA script and keys as cluster rules
/// (`{<prefix length>:<prefix>:rls:<bucket>}:gcra`).
#[derive(Debug, Clone)]
pub(crate) struct RedisStore {
    pub(crate) backend: RedisBackend,
}

impl RedisStore {
    /// Charges every descriptor in turn; when one (not in shadow mode) is over, the rest
    /// are only checked and what was charged is given back. On a failure, what was
    /// charged is given back (best effort) before the error is returned.
    pub(crate) async fn charge(
        &self,
        charges: &[Charge<'_>],
    ) -> Result<Vec<Outcome>, ClusterError> {
        let mut granted = vec![0u64; charges.len()];
        let mut over = vec![false; charges.len()];
        // Per bucket: the tokens it had before this request, and after its last charge.
        let mut first: HashMap<&str, u64> = HashMap::new();
        let mut last: HashMap<&str, u64> = HashMap::new();
        let mut refusing = false;
        for (i, c) in charges.iter().enumerate() {
            let want = if refusing { 0 } else { c.hits };
            let g = match self.grant(c, want, 0).await {
                Ok(g) => g,
                Err(e) => {
                    self.refund_all(charges, &granted).await;
                    return Err(e);
                }
            };
            let available = g.granted + g.left;
            over[i] = is_over(c.hits, available);
            granted[i] = g.granted;
            let mut left = g.left;
            if over[i] && g.granted > 0 {
                // A partial grant: give it back at once.
                self.refund(c, g.granted).await;
                granted[i] = 0;
                left = available;
            }
            first.entry(c.bucket.as_str()).or_insert(available);
            last.insert(c.bucket.as_str(), left);
            refusing |= over[i] && !c.shadow;
        }
        let over = over_by_bucket(charges, &over);
        let refuse = refused(charges, |i| over[i]);
        if refuse {
            self.refund_all(charges, &granted).await;
        }
        // Each descriptor reports its bucket as the request leaves it (as in the local
        // store): as it was before the request when refused.
        let seen = if refuse { &first } else { &last };
        let mut outcomes: Vec<Outcome> = charges
            .iter()
            .zip(&over)
            .map(|(c, &over)| Outcome {
                over,
                remaining: seen[c.bucket.as_str()],
                reset: Duration::ZERO,
            })
            .collect();
        for (o, c) in outcomes.iter_mut().zip(charges) {
            // The script reports tokens, not its arrival time: the budget is full again
            // after the missing tokens come back (exact to within one token's interval).
            let gcra = Gcra::of(c.limit);
            let missing = u64::from(c.limit.burst).saturating_sub(o.remaining);
            o.reset = Duration::from_nanos(missing.saturating_mul(gcra.interval));
        }
        Ok(outcomes)
    }

    async fn grant(
        &self,
        c: &Charge<'_>,
        want: u64,
        refund: u64,
    ) -> Result<crate::Grant, ClusterError> {
        let rate = f64::from(c.limit.requests_per_unit) / c.limit.unit_length().as_secs_f64();
        self.backend
            .grant(
                &format!("rls:{}", c.bucket),
                rate,
                u64::from(c.limit.burst),
                want,
                refund,
                None,
            )
            .await
    }

    /// Gives back what each charge was granted, best effort.
    async fn refund_all(&self, charges: &[Charge<'_>], granted: &[u64]) {
        for (c, &tokens) in charges.iter().zip(granted) {
            if tokens > 0 {
                self.refund(c, tokens).await;
            }
        }
    }

    /// Gives tokens back, best effort (a failure is logged: the bucket then fills up with
    /// time as usual).
    async fn refund(&self, c: &Charge<'_>, tokens: u64) {
        if let Err(e) = self.grant(c, 0, tokens).await {
            tracing::debug!(error = %e, bucket = %c.bucket, "sentinel-rls: refund failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use sentinel_core::ManualClock;

    use super::*;
    use crate::rls::proto::Unit;

    fn per_second(n: u32) -> Limit {
        Limit {
            requests_per_unit: n,
            unit: Unit::Second,
            burst: n,
            name: String::new(),
        }
    }

    fn charge<'a>(bucket: &str, limit: &'a Limit, hits: u64) -> Charge<'a> {
        Charge {
            bucket: bucket.into(),
            limit,
            hits,
            shadow: false,
        }
    }

    fn spend(store: &LocalStore, bucket: &str, limit: &Limit, hits: u64) -> Outcome {
        store.charge(&[charge(bucket, limit, hits)])[0]
    }

    #[test]
    fn gcra_spends_refills_smoothly_and_reports_the_reset() {
        let clock = ManualClock::new();
        let store = LocalStore::new(Arc::new(clock.clone()), 10);
        let three = per_second(3);
        let o = spend(&store, "a", &three, 3);
        assert_eq!((o.over, o.remaining), (false, 0));
        assert_eq!(o.reset, Duration::from_nanos(999_999_999));
        let o = spend(&store, "a", &three, 1);
        assert_eq!((o.over, o.remaining), (true, 0));
        // One token every third of a second, not the whole quota at a window boundary.
        clock.advance(Duration::from_millis(334));
        let o = spend(&store, "a", &three, 1);
        assert_eq!((o.over, o.remaining), (false, 0));
        clock.advance(Duration::from_secs(5));
        let o = spend(&store, "a", &three, 0);
        assert_eq!((o.over, o.remaining, o.reset), (false, 3, Duration::ZERO));
    }

    #[test]
    fn a_refused_request_spends_nothing_and_a_bucket_named_twice_counts_both() {
        let store = LocalStore::new(Arc::new(ManualClock::new()), 10);
        let (three, one) = (per_second(3), per_second(1));
        spend(&store, "b", &one, 1);
        let o = store.charge(&[charge("a", &three, 1), charge("b", &one, 1)]);
        assert!(!o[0].over && o[1].over);
        assert_eq!(o[0].remaining, 3, "nothing spent on `a`");
        // One bucket named twice: 2 + 2 > 3, both descriptors say so and report the
        // bucket as it stays, untouched.
        let o = store.charge(&[charge("a", &three, 2), charge("a", &three, 2)]);
        assert!(o[0].over && o[1].over, "{o:?}");
        assert_eq!((o[0].remaining, o[1].remaining), (3, 3));
        assert_eq!(spend(&store, "a", &three, 0).remaining, 3);
        // Accepted: both report the bucket after the whole request.
        let o = store.charge(&[charge("a", &three, 1), charge("a", &three, 1)]);
        assert!(!o[0].over && !o[1].over);
        assert_eq!((o[0].remaining, o[1].remaining), (1, 1));
    }

    #[test]
    fn eviction_takes_full_buckets_first_and_limited_ones_last() {
        let clock = ManualClock::new();
        let store = LocalStore::new(Arc::new(clock.clone()), 3);
        let (fast, slow) = (
            per_second(10),
            Limit {
                unit: Unit::Hour,
                ..per_second(2)
            },
        );
        spend(&store, "fast", &fast, 1); // full again after 100 ms
        spend(&store, "limited", &slow, 2); // no token left for an hour
        spend(&store, "half", &slow, 1);
        clock.advance(Duration::from_millis(200));
        spend(&store, "new1", &slow, 1);
        assert_eq!(store.evictions(), 1, "only the full bucket went");
        assert_eq!(store.keys(), 3);
        // Now every bucket is partly spent: the least spent with a token goes.
        spend(&store, "new2", &slow, 1);
        assert_eq!(store.evictions(), 2);
        assert!(
            spend(&store, "limited", &slow, 1).over,
            "the limited bucket is kept"
        );
        // Only limited buckets: one goes, alone.
        let tiny = LocalStore::new(Arc::new(clock.clone()), 2);
        spend(&tiny, "x", &slow, 2);
        spend(&tiny, "y", &slow, 2);
        spend(&tiny, "z", &slow, 2);
        assert_eq!((tiny.evictions(), tiny.keys()), (1, 2));
    }

    #[test]
    fn a_full_store_of_spent_buckets_evicts_a_batch_per_pass() {
        let clock = ManualClock::new();
        let store = LocalStore::new(Arc::new(clock.clone()), 640);
        let slow = Limit {
            unit: Unit::Hour,
            ..per_second(1)
        };
        for i in 0..640 {
            spend(&store, &format!("k{i}"), &slow, 1);
        }
        assert_eq!((store.keys(), store.evictions()), (640, 0));
        // One pass frees a batch of 10 (1/64): the next 9 new buckets need no scan.
        spend(&store, "new0", &slow, 1);
        assert_eq!((store.keys(), store.evictions()), (631, 10));
        for i in 1..10 {
            spend(&store, &format!("new{i}"), &slow, 1);
        }
        assert_eq!((store.keys(), store.evictions()), (640, 10));
        // Twice the capacity of new spent buckets: one pass per 10 buckets.
        for i in 0..1280 {
            spend(&store, &format!("more{i}"), &slow, 1);
        }
        assert_eq!(store.evictions(), 10 + 1280);
        assert!(store.keys() > 630);
        assert!(
            spend(&store, "more1279", &slow, 1).over,
            "the newest is kept"
        );
    }
}
