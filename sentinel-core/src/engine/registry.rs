//! Resource nodes: an append-only arena (nodes live as long as the instance, so guards
//! refer to them by index without reference counting) and a lock-free name index.

use std::sync::Arc;

use super::name_index::NameIndex;
use super::node::ResourceNode;
use super::rule_sets::RuleSets;
use crate::pipeline::{CheckList, NodeStats};
use crate::stat::StatNode;

/// Name of the node that takes the entries of resources beyond the resource limit.
pub const OVERFLOW_RESOURCE: &str = "__sentinel_overflow__";

/// The resource nodes of one instance.
pub(crate) struct Registry {
    index: NameIndex,
    nodes: boxcar::Vec<ResourceNode>,
    max_resources: usize,
    stripes: usize,
}

impl Registry {
    /// A registry holding the overflow node (index 0), with room for `max_resources`
    /// resources entered by traffic and as many more named by rules.
    pub(crate) fn new(max_resources: usize, stripes: usize) -> Self {
        let nodes = boxcar::Vec::new();
        nodes.push(ResourceNode::new(
            OVERFLOW_RESOURCE.into(),
            stripes,
            CheckList::default(),
        ));
        let index = NameIndex::new(max_resources * 2 + 2);
        index.insert(OVERFLOW_RESOURCE, 0);
        Registry {
            index,
            nodes,
            max_resources,
            stripes,
        }
    }

    /// The resource limit this registry was built with.
    pub(crate) fn max_resources(&self) -> usize {
        self.max_resources
    }

    /// Nodes created so far, the overflow node included.
    pub(crate) fn count(&self) -> usize {
        self.nodes.count()
    }

    #[inline]
    pub(crate) fn lookup(&self, name: &str) -> Option<u32> {
        self.find(name).map(|(index, _)| index)
    }

    /// The index and node of `name`, if it has one.
    #[inline(always)]
    pub(crate) fn find(&self, name: &str) -> Option<(u32, &ResourceNode)> {
        self.index
            .find(name, |i| &self.nodes[i as usize], |node| &node.name)
    }

    /// Every node with its index.
    pub(crate) fn nodes(&self) -> impl Iterator<Item = (usize, &ResourceNode)> {
        self.nodes.iter()
    }

    #[inline]
    pub(crate) fn node(&self, index: u32) -> Option<&ResourceNode> {
        self.nodes.get(index as usize)
    }

    /// The node at `index`, or the overflow node (index 0) for an index of another
    /// instance.
    #[inline]
    pub(crate) fn node_or_overflow(&self, index: u32) -> &ResourceNode {
        match self.nodes.get(index as usize) {
            Some(n) => n,
            None => &self.nodes[0],
        }
    }

    /// Creates the node for `name` (the caller holds the rules lock). Past the resource
    /// limit, entries of new resources share the overflow node, unless `ruled`: a resource
    /// that rules name always gets its own node (and so its checks), up to a second
    /// `max_resources` kept for rule resources.
    pub(crate) fn create(&self, name: &str, sets: &RuleSets, ruled: bool) -> u32 {
        if let Some(i) = self.lookup(name) {
            return i;
        }
        let limit = if ruled {
            self.max_resources * 2
        } else {
            self.max_resources
        };
        if self.nodes.count() > limit {
            tracing::warn!(
                resource = %crate::text::Escaped(name),
                limit = self.max_resources,
                "resource limit reached; entries of new resources share the overflow node and are not checked"
            );
            return 0;
        }
        let name: Arc<str> = name.into();
        let checks = sets.compile(&name);
        let index = self
            .nodes
            .push(ResourceNode::new(name, self.stripes, checks)) as u32;
        self.index.insert(&self.nodes[index as usize].name, index);
        index
    }
}

impl NodeStats for Registry {
    fn stats_of(&self, index: u32) -> Option<&StatNode> {
        self.node(index).map(|n| &n.stats)
    }
}
