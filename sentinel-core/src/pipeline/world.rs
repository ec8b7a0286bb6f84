//! State that describes the world rather than a rule (passes counted in a window, entries
//! in flight per hot value), kept by a rule kind across rule loads.
//!
//! A rule that is changed, removed and added again, or replaced by a rule of another
//! behaviour and back, finds the same state under the same key: the passes already
//! counted and the entries still in flight are not forgotten, and entries admitted under
//! the old rule release what they hold in the same place when they exit.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use parking_lot::Mutex;

/// Keyed world state of one rule kind of one instance.
pub(crate) struct World<K, V> {
    map: Mutex<Kept<K, V>>,
}

struct Kept<K, V> {
    values: HashMap<K, Arc<V>>,
    /// Size after the last sweep: the map is swept again when it has doubled.
    swept_at: usize,
}

impl<K: Eq + Hash, V> Default for World<K, V> {
    fn default() -> Self {
        World {
            map: Mutex::new(Kept {
                values: HashMap::new(),
                swept_at: 0,
            }),
        }
    }
}

impl<K: Eq + Hash, V> World<K, V> {
    /// The state under `key`, made with `init` if there is none (`init` runs without the
    /// map's lock, so it may read other states).
    pub(crate) fn get_or(&self, key: K, init: impl FnOnce() -> V) -> Arc<V> {
        {
            let mut kept = self.map.lock();
            if kept.values.len() > 2 * kept.swept_at.max(16) {
                // Nobody holds it but the map: no rule uses it and no entry of an old rule
                // still refers to it.
                kept.values.retain(|_, v| Arc::strong_count(v) > 1);
                kept.swept_at = kept.values.len();
            }
            if let Some(v) = kept.values.get(&key) {
                return v.clone();
            }
        }
        let made = Arc::new(init());
        self.map.lock().values.entry(key).or_insert(made).clone()
    }

    /// Visits the states kept for which `pick` says yes (to seed a new state from them).
    pub(crate) fn find(&self, pick: impl Fn(&K) -> bool) -> Option<Arc<V>> {
        let kept = self.map.lock();
        kept.values
            .iter()
            .find(|(k, _)| pick(k))
            .map(|(_, v)| v.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_finds_its_state_again_and_unused_states_are_swept() {
        let w: World<u32, u32> = World::default();
        let a = w.get_or(1, || 10);
        assert!(Arc::ptr_eq(&a, &w.get_or(1, || 99)));
        for k in 100..200 {
            drop(w.get_or(k, || 0));
        }
        assert!(w.map.lock().values.len() < 100, "unused states are swept");
        assert_eq!(*w.get_or(1, || 99), 10, "a state in use is kept");
        let seeded = w.get_or(2, || *w.find(|k| *k == 1).unwrap() + 1);
        assert_eq!(*seeded, 11, "init may read other states");
    }
}
