//! A resource's node: name, statistics, and the checks compiled for it, with a per-thread
//! cache that keeps the admission path free of atomic read-modify-write and fences.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use arc_swap::ArcSwap;

use crate::pipeline::CheckList;
use crate::stat::StatNode;

/// Source of check-list versions: unique in the process, so a cached (node address,
/// version) pair can never match another node that later reuses the address.
static NEXT_VERSION: AtomicU64 = AtomicU64::new(1);

/// One resource: its name, statistics, and the checks compiled for it.
pub(crate) struct ResourceNode {
    pub name: Arc<str>,
    pub stats: StatNode,
    checks: ArcSwap<CheckList>,
    /// Version of `checks`; 0 when there are none (entries then skip every check).
    version: AtomicU64,
    /// The resource type entries declared (for the metric log), as `ResourceType as u8`.
    resource_type: AtomicU8,
    /// When an entry last named the resource, in `ENTRY_UNIT_SHIFT` units of the
    /// instance clock, plus one (0: never).
    entered: AtomicU64,
}

/// Entry times are kept in units of 2^30 ns (about 1.07 s): a node's entry time is written
/// at most once per unit, so entries of a busy resource do not contend on it.
pub(crate) const ENTRY_UNIT_SHIFT: u32 = 30;

const CACHE_SLOTS: usize = 32;

struct Slot {
    node: usize,
    version: u64,
    checks: Option<Arc<CheckList>>,
}

impl Slot {
    const EMPTY: Slot = Slot {
        node: 0,
        version: 0,
        checks: None,
    };
}

/// Per-thread cache of check lists. Loading through the `ArcSwap` costs a fence (about
/// 11 ns on the reference machine); a hit here costs a thread-local access and one relaxed
/// load. A slot holds its list until it is replaced, so an old list lives on for at most
/// as long as the thread does not touch that slot again.
struct ChecksCache {
    slots: [Slot; CACHE_SLOTS],
}

thread_local! {
    static CACHE: RefCell<ChecksCache> = const {
        RefCell::new(ChecksCache {
            slots: [const { Slot::EMPTY }; CACHE_SLOTS],
        })
    };
}

impl ResourceNode {
    pub(crate) fn new(name: Arc<str>, stripes: usize, checks: CheckList) -> Self {
        let version = if checks.is_empty() {
            0
        } else {
            NEXT_VERSION.fetch_add(1, Ordering::Relaxed)
        };
        ResourceNode {
            name,
            stats: StatNode::new(stripes),
            checks: ArcSwap::from_pointee(checks),
            version: AtomicU64::new(version),
            resource_type: AtomicU8::new(0),
            entered: AtomicU64::new(0),
        }
    }

    /// Remembers the resource type an entry declared (the latest non-default one wins).
    #[inline]
    pub(crate) fn note_type(&self, t: crate::traffic::ResourceType) {
        let t = t as u8;
        if t != 0 && self.resource_type.load(Ordering::Relaxed) != t {
            self.resource_type.store(t, Ordering::Relaxed);
        }
    }

    /// Records that an entry named the resource at `now_ns`: a relaxed load, and a store
    /// only in the first entry of a time unit.
    #[inline]
    pub(crate) fn note_entry(&self, now_ns: u64) {
        let unit = (now_ns >> ENTRY_UNIT_SHIFT) + 1;
        if self.entered.load(Ordering::Relaxed) != unit {
            self.entered.store(unit, Ordering::Relaxed);
        }
    }

    /// When an entry last named the resource: the time unit plus one, 0 if never.
    pub(crate) fn last_entry_unit(&self) -> u64 {
        self.entered.load(Ordering::Relaxed)
    }

    /// The resource type, as its metric-log classification number.
    pub(crate) fn classification(&self) -> u8 {
        self.resource_type.load(Ordering::Relaxed)
    }

    /// Runs `f` once with this resource's checks; returns `false`, without running `f`,
    /// when the resource has none.
    ///
    /// `f` is borrowed rather than moved and writes its outcome where its caller wants it:
    /// moving an admission's closure and its result through the thread-local access cost
    /// more than the access itself (perf showed the copies stalling on store forwarding).
    #[inline(always)]
    pub(crate) fn with_checks(&self, f: &mut impl FnMut(&Arc<CheckList>)) -> bool {
        let version = self.version.load(Ordering::Acquire);
        if version == 0 {
            return false;
        }
        let ran = CACHE
            .try_with(|cell| {
                // Busy when a check enters another resource from inside the pipeline:
                // that nested entry takes the uncached path below.
                let Ok(mut cache) = cell.try_borrow_mut() else {
                    return false;
                };
                let key = self as *const ResourceNode as usize;
                let slot = &mut cache.slots[(key >> 4).wrapping_mul(0x9E37_79B9) % CACHE_SLOTS];
                // A slot that names this node and version was filled with its list.
                if slot.node != key || slot.version != version {
                    self.fill(slot, key, version);
                }
                slot.checks.as_ref().map(&mut *f).is_some()
            })
            .unwrap_or(false);
        if !ran {
            f(&self.checks.load());
        }
        true
    }

    /// Points a cache slot at this node's current check list.
    #[cold]
    #[inline(never)]
    fn fill(&self, slot: &mut Slot, key: usize, version: u64) {
        *slot = Slot {
            node: key,
            version,
            checks: Some(self.checks.load_full()),
        };
    }

    /// Installs a new check list.
    pub(crate) fn set_checks(&self, checks: CheckList) {
        let empty = checks.is_empty();
        self.checks.store(Arc::new(checks));
        let version = if empty {
            0
        } else {
            NEXT_VERSION.fetch_add(1, Ordering::Relaxed)
        };
        self.version.store(version, Ordering::Release);
    }
}
