//! Per-value state of one rule: a bounded LRU split into shards, each behind its own lock,
//! so that threads working on different values rarely meet.

use std::hash::{BuildHasher, Hash};

use lru::LruCache;
use parking_lot::Mutex;

use crate::ParamValue;

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

/// A bounded map from values to cells.
pub(crate) struct ValueCache {
    shards: Box<[Mutex<LruCache<ParamValue, Cell>>]>,
    capacity: Box<[usize]>,
    hasher: foldhash::fast::RandomState,
}

impl ValueCache {
    /// A cache holding at most `capacity` values (more only while every eviction candidate
    /// has entries in flight).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let n = MAX_SHARDS.min(capacity);
        let per: Box<[usize]> = (0..n)
            .map(|i| capacity / n + usize::from(i < capacity % n))
            .collect();
        ValueCache {
            shards: (0..n).map(|_| Mutex::new(LruCache::unbounded())).collect(),
            capacity: per,
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    fn shard_of(&self, v: &ParamValue) -> usize {
        let mut h = self.hasher.build_hasher();
        v.hash(&mut h);
        (std::hash::Hasher::finish(&h) % self.shards.len() as u64) as usize
    }

    /// Runs `f` on the cell of `v` under its shard's lock; `f`'s flag says whether the
    /// value is new (its cell is the default). `busy` says whether a cell has entries in
    /// flight and must not be evicted.
    pub fn with<R>(
        &self,
        v: &ParamValue,
        busy: impl Fn(&Cell) -> bool,
        f: impl FnOnce(&mut Cell, bool) -> R,
    ) -> R {
        let i = self.shard_of(v);
        let mut lru = self.shards[i].lock();
        if let Some(cell) = lru.get_mut(v) {
            return f(cell, false);
        }
        if lru.len() >= self.capacity[i] {
            for _ in 0..EVICTION_TRIES {
                let Some((key, cell)) = lru.peek_lru() else {
                    break;
                };
                if busy(cell) {
                    let key = key.clone();
                    lru.promote(&key);
                } else {
                    lru.pop_lru();
                    break;
                }
            }
        }
        let mut cell = Cell::default();
        let r = f(&mut cell, true);
        lru.put(v.clone(), cell);
        r
    }

    /// Runs `f` on the cell of `v` if it is tracked.
    pub fn update_existing(&self, v: &ParamValue, f: impl FnOnce(&mut Cell)) {
        if let Some(cell) = self.shards[self.shard_of(v)].lock().peek_mut(v) {
            f(cell);
        }
    }

    /// Values tracked now.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
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
