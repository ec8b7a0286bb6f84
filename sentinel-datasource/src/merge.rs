//! Several documents whose rules are merged per kind: the keys under an etcd prefix, the
//! custom resources of a namespace.
//!
//! Each document is parsed and checked on its own, so a bad one is rejected by name while
//! the others (and its own last good version) stay in force; the rules of each kind in
//! force are then the concatenation, in document-name order, of that kind's rules in
//! every accepted document.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::erased::RuleList;
use crate::error::{UpdateError, clip};
use crate::format::Format;
use crate::pipeline::{Applied, DeletePolicy, Pipeline};

/// The content of one document: bytes in a [`Format`], or a tree already parsed (a
/// Kubernetes object). Bytes are read with every check of a file (a key written twice is
/// refused); a tree was parsed by its producer, so a key written twice can no longer be
/// seen in it (the Kubernetes API server refuses one on write under `kubectl`'s default
/// strict field validation), while every other check applies.
#[derive(Debug, Clone, PartialEq)]
pub struct Document(Content);

#[derive(Debug, Clone, PartialEq)]
enum Content {
    Bytes { bytes: Vec<u8>, format: Format },
    Tree(Value),
}

impl Document {
    /// A document to read in `format`.
    pub fn bytes(bytes: impl Into<Vec<u8>>, format: Format) -> Document {
        Document(Content::Bytes {
            bytes: bytes.into(),
            format,
        })
    }

    /// A document already parsed: a list, a custom resource or a multi-kind document.
    pub fn tree(doc: Value) -> Document {
        Document(Content::Tree(doc))
    }
}

/// One change to a [`DocumentSet`].
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A document was created or changed.
    Put {
        /// Its name (an etcd key, `FlowRules default/checkout`).
        name: String,
        /// Its new content.
        document: Document,
    },
    /// A document was deleted.
    Remove {
        /// Its name.
        name: String,
    },
}

/// What a batch of changes did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MergeOutcome {
    /// The merged update, if the batch changed the rules of any kind (`None` when every
    /// change was rejected or changed nothing).
    pub applied: Option<Applied>,
    /// Every error, each recorded in the pipeline's status as well: rejected documents
    /// ([`UpdateError::Document`]), rules kept after a deletion ([`UpdateError::Missing`]).
    pub errors: Vec<UpdateError>,
}

impl MergeOutcome {
    /// Whether the batch met no error.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// A document whose rules are in force.
struct Accepted {
    document: Document,
    lists: Vec<Box<dyn RuleList>>,
}

impl Accepted {
    fn kinds(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.lists.iter().map(|l| l.kind())
    }
}

/// Named documents whose rules are merged, per kind, into one [`Pipeline`].
///
/// * A document that does not parse or holds an invalid rule is rejected alone: the other
///   documents' rules stay, and so do its own last good rules.
/// * Deleting a document removes its rules from the merge. When the last document of a
///   kind is deleted, the pipeline's [`DeletePolicy`] decides: the rules stay in force
///   ([`DeletePolicy::KeepRules`], the status shows [`UpdateError::Missing`]) or are
///   cleared.
/// * A kind no document has ever held is left alone.
///
/// The etcd and Kubernetes sources use one; any other store of several documents can.
///
/// ```
/// use sentinel_core::Sentinel;
/// use sentinel_datasource::{Change, Document, DocumentSet, Flow, Format, Pipeline};
///
/// let sentinel = Sentinel::new();
/// let mut set = DocumentSet::new(Pipeline::for_kind::<Flow>(&sentinel));
/// let put = |name: &str, text: &str| Change::Put {
///     name: name.into(),
///     document: Document::bytes(text, Format::Yaml),
/// };
/// set.apply([put("a", "[{resource: a, threshold: 1}]"), put("b", "[{resource: b, threshold: 2}]")]);
/// assert_eq!(sentinel.flow_rules().len(), 2);
///
/// let outcome = set.apply([put("b", "[{resource: b, threshold: -1}]")]);
/// assert!(!outcome.is_ok()); // rejected: a and the last good b stay
/// assert_eq!(sentinel.flow_rules().len(), 2);
///
/// set.apply([Change::Remove { name: "a".into() }]);
/// assert_eq!(sentinel.flow_rules()[0].resource, "b");
/// ```
pub struct DocumentSet {
    pipeline: Pipeline,
    docs: BTreeMap<String, Accepted>,
}

impl std::fmt::Debug for DocumentSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentSet")
            .field("pipeline", &self.pipeline)
            .field("documents", &self.docs.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl DocumentSet {
    /// An empty set feeding `pipeline`.
    pub fn new(pipeline: Pipeline) -> DocumentSet {
        DocumentSet {
            pipeline,
            docs: BTreeMap::new(),
        }
    }

    /// The pipeline the documents feed.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// The names of the documents whose rules are in force, in merge order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.docs.keys().map(String::as_str)
    }

    /// Applies a batch of changes (one etcd transaction, one watch event) as one update.
    pub fn apply(&mut self, changes: impl IntoIterator<Item = Change>) -> MergeOutcome {
        let before = self.coverage();
        let mut batch = Batch::default();
        for change in changes {
            match change {
                Change::Put { name, document } => self.put(name, document, &mut batch),
                Change::Remove { name } => self.remove(name, &mut batch),
            }
        }
        self.finish(before, batch)
    }

    /// Replaces every document with `documents` (a fresh read of the whole store, after a
    /// reconnection or a relist): documents not listed are deleted; a listed document that
    /// is now bad keeps its last good rules.
    pub fn replace_all(
        &mut self,
        documents: impl IntoIterator<Item = (String, Document)>,
    ) -> MergeOutcome {
        let listed: BTreeMap<String, Document> = documents.into_iter().collect();
        let gone: Vec<String> = self
            .docs
            .keys()
            .filter(|name| !listed.contains_key(*name))
            .cloned()
            .collect();
        let changes = gone.into_iter().map(|name| Change::Remove { name });
        let puts = listed
            .into_iter()
            .map(|(name, document)| Change::Put { name, document });
        self.apply(changes.chain(puts).collect::<Vec<_>>())
    }

    fn put(&mut self, name: String, document: Document, batch: &mut Batch) {
        if self.docs.get(&name).is_some_and(|a| a.document == document) {
            return;
        }
        match self.decode(&document) {
            Ok(lists) => {
                let new = Accepted { document, lists };
                batch.touched.extend(new.kinds());
                let old = self.docs.insert(name.clone(), new);
                batch.touched.extend(old.iter().flat_map(Accepted::kinds));
                batch.undo.push((name, old));
            }
            Err(error) => batch.errors.push(UpdateError::Document {
                name: clip(&name).into_owned(),
                error: Box::new(error),
            }),
        }
    }

    fn remove(&mut self, name: String, batch: &mut Batch) {
        if let Some(old) = self.docs.remove(&name) {
            batch.touched.extend(old.kinds());
            batch.deleted.push(name.clone());
            batch.undo.push((name, Some(old)));
        }
    }

    /// Parses and checks one document on its own, so that its errors name this document
    /// rather than a place in the merged list.
    fn decode(&self, document: &Document) -> Result<Vec<Box<dyn RuleList>>, UpdateError> {
        match &document.0 {
            Content::Bytes { bytes, format } => self.pipeline.parse(bytes, *format),
            Content::Tree(tree) => self.pipeline.parse_tree(tree.clone()),
        }
    }

    /// The kinds some document holds.
    fn coverage(&self) -> BTreeSet<&'static str> {
        self.docs.values().flat_map(Accepted::kinds).collect()
    }

    /// Loads the merged rules of the kinds the batch touched, then records the errors.
    fn finish(&mut self, before: BTreeSet<&'static str>, mut batch: Batch) -> MergeOutcome {
        let after = self.coverage();
        let mut lists = Vec::new();
        let mut kept = Vec::new();
        for kind in self.pipeline.dyn_kinds() {
            let name = kind.name();
            if !batch.touched.contains(name) {
                continue;
            }
            if after.contains(name) {
                let parts: Vec<&dyn RuleList> = self
                    .docs
                    .values()
                    .flat_map(|a| a.lists.iter().map(|l| &**l))
                    .collect();
                lists.push(kind.concat(&parts));
            } else if before.contains(name) {
                match self.pipeline.delete_policy() {
                    DeletePolicy::ClearRules => lists.push(kind.empty()),
                    DeletePolicy::KeepRules => kept.push(name),
                }
            }
        }
        let mut outcome = MergeOutcome::default();
        if !lists.is_empty() {
            match self.pipeline.install_lists(lists) {
                Ok(applied) => outcome.applied = Some(applied),
                Err(error) => {
                    // Nothing was loaded: the documents are as they were.
                    for (name, old) in batch.undo.drain(..).rev() {
                        match old {
                            Some(old) => self.docs.insert(name, old),
                            None => self.docs.remove(&name),
                        };
                    }
                    outcome.errors.push(error);
                }
            }
        }
        if !kept.is_empty() {
            batch.errors.push(UpdateError::Missing {
                what: format!(
                    "{} (the last source of the {} rules)",
                    batch.deleted.join(", "),
                    kept.join(", ")
                ),
            });
        }
        for error in batch.errors {
            self.pipeline.report_error(error.clone());
            outcome.errors.push(error);
        }
        outcome
    }
}

/// What a batch of changes has done so far.
#[derive(Default)]
struct Batch {
    /// Kinds of the documents changed (old and new versions).
    touched: BTreeSet<&'static str>,
    /// Documents deleted.
    deleted: Vec<String>,
    /// How to put the documents back: each changed name and its previous version.
    undo: Vec<(String, Option<Accepted>)>,
    /// Documents rejected, and rules kept after a deletion.
    errors: Vec<UpdateError>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::{Flow, Isolation};
    use sentinel_core::Sentinel;

    fn put(name: &str, text: &str) -> Change {
        Change::Put {
            name: name.into(),
            document: Document::bytes(text, Format::Yaml),
        }
    }

    fn remove(name: &str) -> Change {
        Change::Remove { name: name.into() }
    }

    fn resources(s: &Sentinel) -> Vec<String> {
        s.flow_rules().into_iter().map(|r| r.resource).collect()
    }

    #[test]
    fn documents_merge_in_name_order_and_a_deletion_removes_only_its_rules() {
        let s = Sentinel::new();
        let mut set = DocumentSet::new(Pipeline::for_kind::<Flow>(&s));
        let outcome = set.apply([
            put(
                "b",
                "[{resource: b1, threshold: 1}, {resource: b2, threshold: 1}]",
            ),
            put("a", "[{resource: a, threshold: 1}]"),
        ]);
        assert!(outcome.is_ok(), "{outcome:?}");
        assert_eq!(resources(&s), ["a", "b1", "b2"]);
        assert_eq!(s.flow_rules().len(), 3);
        set.apply([remove("a")]);
        assert_eq!(resources(&s), ["b1", "b2"]);
        assert_eq!(set.names().collect::<Vec<_>>(), ["b"]);
    }

    #[test]
    fn a_bad_document_is_rejected_by_name_and_keeps_its_last_good_rules() {
        let s = Sentinel::new();
        let pipeline = Pipeline::for_kind::<Flow>(&s);
        let mut set = DocumentSet::new(pipeline.clone());
        set.apply([
            put("a", "[{resource: a, threshold: 1}]"),
            put("b", "[{resource: b, threshold: 1}]"),
        ]);
        let outcome = set.apply([
            put("a", "[{resource: a, threshold: 5}]"),
            put("b", "[{resource: b, threshold: -1}]"),
        ]);
        assert_eq!(outcome.applied.as_ref().map(Applied::changed), Some(true));
        let [UpdateError::Document { name, error }] = outcome.errors.as_slice() else {
            panic!("{outcome:?}")
        };
        assert_eq!(name, "b");
        assert_eq!(error.problems()[0].field, "threshold");
        let thresholds: Vec<f64> = s.flow_rules().iter().map(|r| r.threshold).collect();
        assert_eq!(thresholds, [5.0, 1.0]);
        let status = pipeline.status();
        assert!(!status.is_healthy());
        assert!(
            status
                .last_error
                .unwrap()
                .error
                .to_string()
                .starts_with("b: ")
        );
    }

    #[test]
    fn deleting_the_last_document_follows_the_delete_policy() {
        let s = Sentinel::new();
        let mut keep = DocumentSet::new(Pipeline::for_kind::<Flow>(&s));
        keep.apply([put("k", "[{resource: a, threshold: 1}]")]);
        let outcome = keep.apply([remove("k")]);
        assert!(matches!(outcome.errors[..], [UpdateError::Missing { .. }]));
        assert_eq!(resources(&s), ["a"]);

        let pipeline = Pipeline::builder(&s)
            .kind::<Flow>()
            .on_delete(DeletePolicy::ClearRules)
            .build();
        let mut clear = DocumentSet::new(pipeline);
        clear.apply([put("k", "[{resource: a, threshold: 1}]")]);
        let outcome = clear.apply([remove("k")]);
        assert!(outcome.is_ok(), "{outcome:?}");
        assert!(s.flow_rules().is_empty());
    }

    #[test]
    fn replace_all_deletes_what_is_not_listed_and_skips_what_is_unchanged() {
        let s = Sentinel::new();
        let mut set = DocumentSet::new(Pipeline::for_kind::<Flow>(&s));
        set.apply([
            put("a", "[{resource: a, threshold: 1}]"),
            put("b", "[{resource: b, threshold: 1}]"),
        ]);
        let same = set.replace_all([
            (
                "a".to_string(),
                Document::bytes("[{resource: a, threshold: 1}]", Format::Yaml),
            ),
            (
                "b".to_string(),
                Document::bytes("[{resource: b, threshold: 1}]", Format::Yaml),
            ),
        ]);
        assert_eq!(same, MergeOutcome::default());
        set.replace_all([(
            "b".to_string(),
            Document::bytes("[{resource: b, threshold: 2}]", Format::Yaml),
        )]);
        assert_eq!(resources(&s), ["b"]);
        assert_eq!(s.flow_rules()[0].threshold, 2.0);
    }

    #[test]
    fn kinds_no_document_holds_are_left_alone() {
        let s = Sentinel::new();
        s.load_isolation_rules(vec![sentinel_core::isolation::IsolationRule {
            resource: "pool".into(),
            threshold: 3,
            ..Default::default()
        }])
        .unwrap();
        let pipeline = Pipeline::builder(&s)
            .kind::<Flow>()
            .kind::<Isolation>()
            .build();
        let mut set = DocumentSet::new(pipeline);
        let flow = serde_json::json!({
            "apiVersion": "datasource.sentinel.io/v1alpha1", "kind": "FlowRules",
            "spec": {"rules": [{"resource": "a", "threshold": 1}]}
        });
        let outcome = set.apply([Change::Put {
            name: "FlowRules ns/a".into(),
            document: Document::tree(flow),
        }]);
        assert!(outcome.is_ok(), "{outcome:?}");
        assert_eq!(resources(&s), ["a"]);
        assert_eq!(s.isolation_rules().len(), 1);
    }
}
