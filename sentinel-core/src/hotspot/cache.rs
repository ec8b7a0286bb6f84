//! Per-value state of one rule: a bounded LRU split into shards, each behind its own lock,
//! so that threads working on different values rarely meet.
//!
//! The cache is bounded in bytes, not only in values: a value longer than
//! [`MAX_KEPT_BYTES`] (a 100 KB header a client made up) is kept as a 128-bit digest of its
//! bytes, keyed with secrets drawn for each rule, so one value costs at most about 200
//! bytes whatever its size, and a rule holds at most `paramsMaxCapacity` × that. A client
//! cannot steer two values onto one digest without knowing the keys; by chance it happens
//! once in 2^64 pairs. Specific items match the exact value before any of this.

use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicUsize, Ordering};

use lru::LruCache;
use parking_lot::Mutex;

use crate::param::ParamValue;

/// The state of one value: one cell, so that its fields change together under the shard
/// lock (token bucket: tokens and refill time; pacing: last slot; concurrency: in flight).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Cell {
    pub a: u64,
    pub b: u64,
}

const MAX_SHARDS: usize = 16;
/// LRU candidates examined to find one without entries in flight before giving up.
const EVICTION_TRIES: usize = 8;

/// Values up to this many bytes are kept as they are; longer ones as a digest.
pub(crate) const MAX_KEPT_BYTES: usize = 64;

/// How a value is kept: itself, or the digest of a long one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Value(ParamValue),
    Digest(u128),
}

/// Keyed 128-bit digests of long values (two SipHash-1-3 with independent random keys).
struct Digester(std::hash::RandomState, std::hash::RandomState);

impl Digester {
    fn new() -> Self {
        Digester(std::hash::RandomState::new(), std::hash::RandomState::new())
    }

    fn key(&self, v: &ParamValue) -> Key {
        let long = match v {
            ParamValue::Str(s) if s.len() > MAX_KEPT_BYTES => Some(s.as_bytes()),
            ParamValue::Bytes(b) if b.len() > MAX_KEPT_BYTES => Some(&b[..]),
            _ => None,
        };
        match long {
            None => Key::Value(v.clone()),
            Some(bytes) => {
                // The variant is part of the digest: a string never meets equal bytes.
                let tag = matches!(v, ParamValue::Str(_));
                let a = self.0.hash_one((tag, bytes));
                let b = self.1.hash_one((tag, bytes));
                Key::Digest((u128::from(a) << 64) | u128::from(b))
            }
        }
    }
}

/// A bounded map from values to cells.
///
/// The capacity holds for the map as a whole: a value is evicted only when `capacity`
/// values are tracked, from the least recently used of its own shard (or, when that shard
/// is empty, of another shard that is free). The count can pass the capacity only while
/// every eviction candidate has entries in flight, or by one value per shard in a race.
pub(crate) struct ValueCache {
    shards: Box<[Mutex<LruCache<Key, Cell>>]>,
    digester: Digester,
    capacity: AtomicUsize,
    len: AtomicUsize,
    hasher: foldhash::fast::RandomState,
}

impl ValueCache {
    /// A cache holding at most `capacity` values (more only while every eviction candidate
    /// has entries in flight).
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        ValueCache {
            shards: (0..MAX_SHARDS.min(capacity))
                .map(|_| Mutex::new(LruCache::unbounded()))
                .collect(),
            capacity: AtomicUsize::new(capacity),
            digester: Digester::new(),
            len: AtomicUsize::new(0),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    fn shard_of(&self, v: &Key) -> usize {
        let mut h = self.hasher.build_hasher();
        v.hash(&mut h);
        (std::hash::Hasher::finish(&h) % self.shards.len() as u64) as usize
    }

    /// Evicts the least recently used value of `lru` that `busy` allows; whether one was.
    fn evict_one(&self, lru: &mut LruCache<Key, Cell>, busy: &impl Fn(&Cell) -> bool) -> bool {
        for _ in 0..EVICTION_TRIES.min(lru.len()) {
            let Some((key, cell)) = lru.peek_lru() else {
                break;
            };
            if busy(cell) {
                let key = key.clone();
                lru.promote(&key);
            } else {
                lru.pop_lru();
                self.len.fetch_sub(1, Ordering::Relaxed);
                return true;
            }
        }
        false
    }

    /// Runs `f` on the cell of `v` under its shard's lock; `f`'s flag says whether the
    /// value is new (its cell is the default). `busy` says whether a cell has entries in
    /// flight and must not be evicted.
    pub(crate) fn with<R>(
        &self,
        v: &ParamValue,
        busy: impl Fn(&Cell) -> bool,
        f: impl FnOnce(&mut Cell, bool) -> R,
    ) -> R {
        let key = self.digester.key(v);
        let i = self.shard_of(&key);
        let mut lru = self.shards[i].lock();
        if let Some(cell) = lru.get_mut(&key) {
            return f(cell, false);
        }
        if self.len.load(Ordering::Relaxed) >= self.capacity.load(Ordering::Relaxed)
            && !self.evict_one(&mut lru, &busy)
        {
            // Nothing to evict here: take the room from another shard that is free now
            // (never waiting for one, so two shards never wait for each other).
            for (j, other) in self.shards.iter().enumerate() {
                if j != i
                    && let Some(mut other) = other.try_lock()
                    && self.evict_one(&mut other, &busy)
                {
                    break;
                }
            }
        }
        let mut cell = Cell::default();
        let r = f(&mut cell, true);
        lru.put(key, cell);
        self.len.fetch_add(1, Ordering::Relaxed);
        r
    }

    /// Runs `f` on the cell of `v` if it is tracked.
    pub(crate) fn update_existing(&self, v: &ParamValue, f: impl FnOnce(&mut Cell)) {
        let key = self.digester.key(v);
        if let Some(cell) = self.shards[self.shard_of(&key)].lock().peek_mut(&key) {
            f(cell);
        }
    }

    /// Changes the capacity (a changed rule that keeps the values' in-flight counts); values
    /// over it are evicted as new ones arrive.
    pub(crate) fn set_capacity(&self, capacity: usize) {
        self.capacity.store(capacity.max(1), Ordering::Relaxed);
    }

    /// Values tracked now.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for ValueCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValueCache")
            .field("shards", &self.shards.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_at_most_its_capacity() {
        let c = ValueCache::new(100);
        for i in 0..10_000 {
            c.with(&ParamValue::from(i), |_| false, |cell, _| cell.a += 1);
        }
        assert_eq!(c.len(), 100);
    }

    #[test]
    fn no_value_is_evicted_below_the_capacity() {
        let c = ValueCache::new(1000);
        for i in 0..1000 {
            c.with(&ParamValue::from(i), |_| false, |cell, _| cell.a = 1);
        }
        assert_eq!(c.len(), 1000);
        let mut kept = 0;
        for i in 0..1000 {
            c.update_existing(&ParamValue::from(i), |cell| kept += cell.a);
        }
        assert_eq!(kept, 1000, "every value is still tracked");
        c.with(&ParamValue::from(1000), |_| false, |_, _| {});
        assert_eq!(c.len(), 1000, "one more evicts one");
    }

    #[test]
    fn long_values_are_kept_as_digests_and_still_told_apart() {
        let c = ValueCache::new(10);
        let long = |tail: u8| {
            let mut v = vec![b'x'; 100_000];
            v.push(tail);
            v
        };
        c.with(&ParamValue::from(long(1)), |_| false, |cell, _| cell.a = 1);
        c.with(&ParamValue::from(long(2)), |_| false, |cell, _| cell.a = 2);
        let as_text = ParamValue::from(String::from_utf8(long(1)).unwrap());
        c.with(&as_text, |_| false, |cell, _| cell.a = 3);
        let mut seen = Vec::new();
        for v in [
            ParamValue::from(long(1)),
            ParamValue::from(long(2)),
            as_text,
        ] {
            c.update_existing(&v, |cell| seen.push(cell.a));
        }
        assert_eq!(seen, [1, 2, 3], "each value has its own cell");
        let kept = c.shards.iter().flat_map(|s| {
            s.lock()
                .iter()
                .map(|(k, _)| matches!(k, Key::Digest(_)))
                .collect::<Vec<_>>()
        });
        assert!(
            kept.into_iter().all(|digest| digest),
            "no 100 KB value is held"
        );
    }

    #[test]
    fn busy_cells_survive_eviction_pressure() {
        let c = ValueCache::new(1);
        let hot = ParamValue::from("in-flight");
        c.with(&hot, |cell| cell.a > 0, |cell, _| cell.a = 1);
        for i in 0..100 {
            c.with(&ParamValue::from(i), |cell| cell.a > 0, |_, _| {});
        }
        let mut seen = 0;
        c.update_existing(&hot, |cell| seen = cell.a);
        assert_eq!(seen, 1, "the busy value kept its count");
    }
}
