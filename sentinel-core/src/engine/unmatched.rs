//! Rules that never apply: resources that rules name but no entry names (a rule for
//! `POST /order` while the route is `POST /orders`), found off the hot path from the
//! entry time each node keeps.
//!
//! A resource is followed from the load that gives it its first rule (of any kind) until
//! the load that takes its last one away. It is *unmatched* once the grace period has
//! passed since then, no entry has named it since then, and entries of other resources
//! have come since then (without any traffic, nothing can be told).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::node::ENTRY_UNIT_SHIFT;
use super::registry::Registry;

/// The resources that have rules, by node index.
#[derive(Default)]
pub(crate) struct Watch {
    ruled: HashMap<u32, Ruled>,
}

#[derive(Clone, Copy)]
struct Ruled {
    /// When the resource got its rules (ns on the instance clock).
    since_ns: u64,
    /// Whether the warning about it was given.
    warned: bool,
}

/// A resource whose rules have applied to no entry.
pub(crate) struct Unmatched {
    pub node: u32,
    pub since_ns: u64,
}

/// Whether an entry time (as nodes keep it) is at or after `since_ns` (to the unit: an
/// entry in the unit of the load counts as after it).
fn entered_since(last_entry_unit: u64, since_ns: u64) -> bool {
    last_entry_unit > since_ns >> ENTRY_UNIT_SHIFT
}

impl Watch {
    /// Follows the resources that have rules after a load at `now_ns`: a resource new to
    /// rules starts its grace period now, one that keeps rules keeps its start (and its
    /// warning given), one without rules any more is forgotten.
    pub(super) fn sync(&mut self, now_ns: u64, ruled: impl Iterator<Item = u32>) {
        let ruled: HashSet<u32> = ruled.collect();
        self.ruled.retain(|node, _| ruled.contains(node));
        for node in ruled {
            self.ruled.entry(node).or_insert(Ruled {
                since_ns: now_ns,
                warned: false,
            });
        }
    }

    /// The unmatched resources at `now_ns`, sorted by node index; with `unwarned`, only
    /// those not warned about yet, which are then marked warned.
    pub(super) fn unmatched(
        &mut self,
        registry: &Registry,
        now_ns: u64,
        grace_ns: u64,
        unwarned: bool,
    ) -> Vec<Unmatched> {
        let last_entry = |node: u32| registry.node(node).map_or(0, |n| n.last_entry_unit());
        let mut due: Vec<(&u32, &mut Ruled)> = self
            .ruled
            .iter_mut()
            .filter(|(node, r)| {
                !(unwarned && r.warned)
                    && now_ns.saturating_sub(r.since_ns) >= grace_ns
                    && !entered_since(last_entry(**node), r.since_ns)
            })
            .collect();
        if due.is_empty() {
            return Vec::new();
        }
        // The two latest entry times of all nodes, so that "another resource was entered"
        // is one comparison per resource.
        let (mut first, mut second) = ((0u64, u32::MAX), 0u64);
        for (i, node) in registry.nodes() {
            let t = node.last_entry_unit();
            if t > first.0 {
                second = first.0;
                first = (t, i as u32);
            } else if t > second {
                second = t;
            }
        }
        due.retain(|(node, r)| {
            let others = if first.1 == **node { second } else { first.0 };
            entered_since(others, r.since_ns)
        });
        let mut out: Vec<Unmatched> = due
            .into_iter()
            .map(|(node, r)| {
                r.warned |= unwarned;
                Unmatched {
                    node: *node,
                    since_ns: r.since_ns,
                }
            })
            .collect();
        out.sort_by_key(|u| u.node);
        out
    }
}

/// Up to three names of entered resources closest to `name` (same method first, then by
/// edit distance), for the hint of a warning; names too far from it to be a typo are left
/// out.
pub(super) fn closest_entered(registry: &Registry, name: &str) -> Vec<Arc<str>> {
    fn method(name: &str) -> &str {
        name.split(' ').next().unwrap_or_default()
    }
    let wanted: Vec<char> = name.chars().collect();
    let limit = (wanted.len() / 2).max(2);
    let mut near: Vec<(bool, usize, Arc<str>)> = registry
        .nodes()
        .filter(|(i, n)| *i != 0 && n.last_entry_unit() != 0 && &*n.name != name)
        .filter_map(|(_, n)| {
            let d = edit_distance(&wanted, &n.name);
            (d <= limit).then(|| (method(&n.name) != method(name), d, n.name.clone()))
        })
        .collect();
    near.sort();
    near.into_iter().take(3).map(|(_, _, n)| n).collect()
}

/// Levenshtein distance between `a` and `b`, in characters.
fn edit_distance(a: &[char], b: &str) -> usize {
    let mut row: Vec<usize> = (0..=a.len()).collect();
    for (j, cb) in b.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = j + 1;
        for (i, ca) in a.iter().enumerate() {
            let substitute = diagonal + usize::from(*ca != cb);
            diagonal = row[i + 1];
            row[i + 1] = substitute.min(row[i] + 1).min(diagonal + 1);
        }
    }
    row[a.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        let d = |a: &str, b: &str| edit_distance(&a.chars().collect::<Vec<_>>(), b);
        assert_eq!(d("POST /order", "POST /orders"), 1);
        assert_eq!(d("POST /orders", "POST /order"), 1);
        assert_eq!(d("GET /items/{id}", "GET /items/42"), 4);
        assert_eq!(d("", "abc"), 3);
        assert_eq!(d("same", "same"), 0);
    }

    #[test]
    fn an_entry_in_the_unit_of_the_load_counts_as_after_it() {
        let unit = 1u64 << ENTRY_UNIT_SHIFT;
        assert!(!entered_since(0, 0), "never entered");
        assert!(entered_since(1, 0), "entered in the first unit");
        assert!(entered_since(2, unit + 5));
        assert!(!entered_since(1, unit + 5));
    }
}
