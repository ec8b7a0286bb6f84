//! The resource-name index: a fixed-capacity, lock-free, open-addressing hash table.
//!
//! Resources are never removed and their number is capped, so the table never needs to grow
//! or reclaim anything: readers probe atomics without any guard or reference counting, and
//! the one writer (under the instance's rules lock) publishes a slot with a release store
//! after the node exists.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};

/// Maps resource names to node indexes.
pub(crate) struct NameIndex {
    /// Each slot: high 32 bits the name's hash, low 32 bits `node index + 1` (0 = empty).
    slots: Box<[AtomicU64]>,
    mask: usize,
    hasher: foldhash::fast::RandomState,
}

impl NameIndex {
    /// A table for up to `capacity` names (kept at most half full).
    pub(super) fn new(capacity: usize) -> Self {
        let n = (capacity.max(1) * 2).next_power_of_two();
        NameIndex {
            slots: (0..n).map(|_| AtomicU64::new(0)).collect(),
            mask: n - 1,
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    #[inline]
    fn hash(&self, name: &str) -> u64 {
        self.hasher.hash_one(name)
    }

    /// The index of `name` and its node; `node` gives the node of an index, `name_of` the
    /// name of a node.
    #[inline(always)]
    pub(super) fn find<'a, T>(
        &self,
        name: &str,
        node: impl Fn(u32) -> &'a T,
        name_of: impl Fn(&'a T) -> &'a str,
    ) -> Option<(u32, &'a T)> {
        let h = self.hash(name);
        let tag = h >> 32;
        let mut i = h as usize & self.mask;
        loop {
            let slot = self.slots[i].load(Ordering::Acquire);
            if slot == 0 {
                return None;
            }
            let index = (slot & 0xffff_ffff) as u32 - 1;
            if slot >> 32 == tag {
                let found = node(index);
                if same_name(name_of(found).as_bytes(), name.as_bytes()) {
                    return Some((index, found));
                }
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Publishes `name → index`. Only one thread inserts at a time (the caller holds the
    /// rules lock) and the table is never more than half full.
    pub(super) fn insert(&self, name: &str, index: u32) {
        let h = self.hash(name);
        let mut i = h as usize & self.mask;
        while self.slots[i].load(Ordering::Relaxed) != 0 {
            i = (i + 1) & self.mask;
        }
        self.slots[i].store(((h >> 32) << 32) | (index as u64 + 1), Ordering::Release);
    }
}

/// Whether two names are equal. Names of 4 to 32 bytes (most resource names) are compared
/// as two overlapping words from each end, without a call to `memcmp`.
#[inline(always)]
fn same_name(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    fn word<const N: usize>(s: &[u8], at: usize) -> [u8; N] {
        s.get(at..at + N)
            .and_then(|w| w.try_into().ok())
            .unwrap_or([0; N])
    }
    match n {
        4..=7 => word::<4>(a, 0) == word::<4>(b, 0) && word::<4>(a, n - 4) == word::<4>(b, n - 4),
        8..=16 => word::<8>(a, 0) == word::<8>(b, 0) && word::<8>(a, n - 8) == word::<8>(b, n - 8),
        17..=32 => {
            word::<16>(a, 0) == word::<16>(b, 0) && word::<16>(a, n - 16) == word::<16>(b, n - 16)
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_every_length_compare_equal_only_when_equal() {
        let long: String = (0..40).map(|i| char::from(b'a' + i % 26)).collect();
        for n in 0..=long.len() {
            let a = &long.as_bytes()[..n];
            assert!(same_name(a, a), "length {n}");
            for at in 0..n {
                let mut b = a.to_vec();
                b[at] ^= 1;
                assert!(!same_name(a, &b), "length {n}, byte {at} differs");
            }
            assert!(!same_name(a, &long.as_bytes()[..n.saturating_sub(1)]) || n == 0);
        }
    }

    #[test]
    fn finds_what_was_inserted_and_nothing_else() {
        let names: Vec<String> = (0..100).map(|i| format!("res-{i}")).collect();
        let idx = NameIndex::new(100);
        for (i, n) in names.iter().enumerate() {
            idx.insert(n, i as u32);
        }
        for (i, n) in names.iter().enumerate() {
            let found = idx.find(n, |j| &names[j as usize], String::as_str);
            assert_eq!(found, Some((i as u32, n)));
        }
        assert_eq!(
            idx.find("missing", |j| &names[j as usize], String::as_str),
            None
        );
    }
}
