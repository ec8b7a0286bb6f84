//! The pipeline: bytes from a source, parsed for the rule kinds it loads, loaded into a
//! [`Sentinel`] as whole sets, with every outcome recorded and traced.

use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::Mutex;
use sentinel_core::Sentinel;
use serde_json::{Map, Value};

use crate::decode::UnknownFields;
use crate::document::split;
use crate::erased::{DynKind, RuleChanges, RuleList, known_kinds, ops};
use crate::error::{ExportError, RuleProblem, RuleProblems, UpdateError};
use crate::export::ExportOptions;
use crate::format::Format;
use crate::kind::RuleKind;
use crate::status::{ErrorRecord, KindCount, SourceStatus};

/// What happens to the rules when their source (file, key, resource) is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DeletePolicy {
    /// Keep the last good rules in force (default); the status shows the source missing.
    #[default]
    KeepRules,
    /// Clear the rules of the pipeline's kinds.
    ClearRules,
}

/// The rules of one kind after an accepted update, and what the update changed.
///
/// Rules are matched old to new by key: a rule's `id`, or its resource when it has no id
/// (system rules without an id share one key). A new rule equal to an old rule of its key
/// is unchanged, wherever it moved in the list; of the rules left over, a new rule paired
/// (in order) with an old rule of its key is `modified`, the other new rules are `added`
/// and the other old rules `removed`. A rule whose id changes is removed and added; a set
/// only reordered is `changed` with every count 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindUpdate {
    /// The rule kind.
    pub kind: &'static str,
    /// Rules of that kind now in force.
    pub rules: usize,
    /// Whether the set changed (false: the same rules were already in force).
    pub changed: bool,
    /// Rules added (no rule of their key was in force).
    pub added: usize,
    /// Rules removed (no new rule has their key).
    pub removed: usize,
    /// Rules whose key was in force with other values.
    pub modified: usize,
}

impl std::fmt::Display for KindUpdate {
    /// `flow: +1 -0 ~2` (added, removed, modified).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: +{} -{} ~{}",
            self.kind, self.added, self.removed, self.modified
        )
    }
}

/// An accepted update: what it did per kind (kinds a multi-kind document left out are not
/// listed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// One entry per kind the update covered.
    pub kinds: Vec<KindUpdate>,
}

impl Applied {
    /// Whether any rule set changed.
    pub fn changed(&self) -> bool {
        self.kinds.iter().any(|k| k.changed)
    }
}

impl std::fmt::Display for Applied {
    /// Each kind's changes: `flow: +1 -0 ~2, isolation: +0 -0 ~0`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, kind) in self.kinds.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{kind}")?;
        }
        Ok(())
    }
}

/// Turns a source's bytes into rules in force on one [`Sentinel`].
///
/// Every update is all or nothing: content that cannot be read, parsed or validated (for
/// any kind of a multi-kind document) leaves every rule in force as it was, and is
/// reported as a `tracing` warning and in [`Pipeline::status`]. Updates are applied one
/// at a time, in the order they arrive. `Pipeline` is a cheap handle (`Clone`, `Send`,
/// `Sync`).
///
/// ```
/// use sentinel_core::Sentinel;
/// use sentinel_datasource::{Flow, Format, Pipeline};
///
/// let sentinel = Sentinel::new();
/// let pipeline = Pipeline::for_kind::<Flow>(&sentinel);
/// pipeline.apply(b"- resource: GET /items\n  threshold: 10\n", Format::Yaml)?;
/// assert_eq!(sentinel.flow_rules()[0].threshold, 10.0);
///
/// // A mistake keeps the rules in force and shows in the status.
/// assert!(pipeline.apply(b"- resource: GET /items\n  threshold: -1\n", Format::Yaml).is_err());
/// assert_eq!(sentinel.flow_rules()[0].threshold, 10.0);
/// let status = pipeline.status();
/// assert_eq!((status.updates_applied, status.updates_rejected), (1, 1));
/// assert!(status.last_error.unwrap().error.to_string().contains("field `threshold`"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<Inner>,
}

struct Inner {
    sentinel: Sentinel,
    kinds: Vec<&'static dyn DynKind>,
    label: String,
    on_delete: DeletePolicy,
    unknown_fields: UnknownFields,
    /// Held for the whole of an update, so updates apply (and are recorded) in order.
    updating: Mutex<()>,
    /// What the status reports; held only to read or record.
    log: Mutex<Log>,
}

#[derive(Default)]
struct Log {
    /// What the source reads (a file path, an etcd key), once a source has started.
    what: Option<String>,
    last_success: Option<SystemTime>,
    last_error: Option<ErrorRecord>,
    applied: u64,
    rejected: u64,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("label", &self.inner.label)
            .field("kinds", &self.kinds())
            .field("on_delete", &self.inner.on_delete)
            .finish()
    }
}

/// Configures a [`Pipeline`].
#[must_use]
pub struct PipelineBuilder {
    sentinel: Sentinel,
    kinds: Vec<&'static dyn DynKind>,
    label: Option<String>,
    on_delete: DeletePolicy,
    unknown_fields: UnknownFields,
}

impl std::fmt::Debug for PipelineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kinds: Vec<&str> = self.kinds.iter().map(|k| k.name()).collect();
        f.debug_struct("PipelineBuilder")
            .field("kinds", &kinds)
            .field("label", &self.label)
            .field("on_delete", &self.on_delete)
            .field("unknown_fields", &self.unknown_fields)
            .finish_non_exhaustive()
    }
}

impl PipelineBuilder {
    /// Adds a rule kind. A pipeline of one kind reads plain rule lists; one of several
    /// kinds reads multi-kind documents.
    pub fn kind<K: RuleKind>(mut self) -> Self {
        self.add(ops::<K>());
        self
    }

    /// Adds every rule kind this crate knows.
    pub fn all_kinds(mut self) -> Self {
        for k in known_kinds() {
            self.add(*k);
        }
        self
    }

    fn add(&mut self, kind: &'static dyn DynKind) {
        if !self.kinds.iter().any(|k| k.name() == kind.name()) {
            self.kinds.push(kind);
        }
    }

    /// A label for logs and status (default: the kinds, `flow rules`).
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// What a deleted source does to the rules (default [`DeletePolicy::KeepRules`]).
    pub fn on_delete(mut self, policy: DeletePolicy) -> Self {
        self.on_delete = policy;
        self
    }

    /// What to do with fields a rule kind does not have (default
    /// [`UnknownFields::Reject`]).
    pub fn unknown_fields(mut self, policy: UnknownFields) -> Self {
        self.unknown_fields = policy;
        self
    }

    /// Builds the pipeline; with no kind chosen, it loads every kind this crate knows.
    pub fn build(mut self) -> Pipeline {
        if self.kinds.is_empty() {
            self = self.all_kinds();
        }
        let label = self.label.unwrap_or_else(|| {
            let names: Vec<&str> = self.kinds.iter().map(|k| k.name()).collect();
            format!("{} rules", names.join(", "))
        });
        Pipeline {
            inner: Arc::new(Inner {
                sentinel: self.sentinel,
                kinds: self.kinds,
                label,
                on_delete: self.on_delete,
                unknown_fields: self.unknown_fields,
                updating: Mutex::new(()),
                log: Mutex::new(Log::default()),
            }),
        }
    }
}

impl Pipeline {
    /// Starts configuring a pipeline into `sentinel`.
    pub fn builder(sentinel: &Sentinel) -> PipelineBuilder {
        PipelineBuilder {
            sentinel: sentinel.clone(),
            kinds: Vec::new(),
            label: None,
            on_delete: DeletePolicy::default(),
            unknown_fields: UnknownFields::default(),
        }
    }

    /// A pipeline of one rule kind with default settings.
    pub fn for_kind<K: RuleKind>(sentinel: &Sentinel) -> Pipeline {
        Self::builder(sentinel).kind::<K>().build()
    }

    /// The instance the rules go to.
    pub fn sentinel(&self) -> &Sentinel {
        &self.inner.sentinel
    }

    /// The rule kinds this pipeline loads.
    pub fn kinds(&self) -> Vec<&'static str> {
        self.inner.kinds.iter().map(|k| k.name()).collect()
    }

    /// The pipeline's label.
    pub fn label(&self) -> &str {
        &self.inner.label
    }

    /// Parses `bytes` as a rule document and loads its rules, all or nothing.
    pub fn apply(&self, bytes: &[u8], format: Format) -> Result<Applied, UpdateError> {
        let _updating = self.inner.updating.lock();
        let result = self
            .parse(bytes, format)
            .and_then(|lists| self.install(lists));
        self.record(result)
    }

    /// Tells the pipeline its source was deleted; `what` names it. Under
    /// [`DeletePolicy::KeepRules`] the rules stay and the status shows
    /// [`UpdateError::Missing`]; under [`DeletePolicy::ClearRules`] the pipeline's kinds
    /// are cleared.
    pub fn source_deleted(&self, what: &str) -> Result<Applied, UpdateError> {
        let _updating = self.inner.updating.lock();
        let result = match self.inner.on_delete {
            DeletePolicy::KeepRules => Err(UpdateError::Missing {
                what: what.to_string(),
            }),
            DeletePolicy::ClearRules => {
                tracing::info!(source = %self.inner.label, what, "source deleted; clearing its rules");
                self.install(self.inner.kinds.iter().map(|k| k.empty()).collect())
            }
        };
        self.record(result)
    }

    /// Records an error a source met on its side (unreadable file, lost watch): the rules
    /// in force stay, the error shows in the status and as a `tracing` warning.
    pub fn report_error(&self, error: UpdateError) {
        let _updating = self.inner.updating.lock();
        // The error is returned to no one: the status and the log hold it.
        let _ = self.record(Err(error));
    }

    /// The pipeline's status; the rule counts are those in force now. An update in
    /// progress is waited for, so the status always agrees with the rules it loaded (a
    /// reader who sees new rules sees their success too).
    pub fn status(&self) -> SourceStatus {
        let _settled = self.inner.updating.lock();
        let log = self.inner.log.lock();
        SourceStatus {
            label: self.inner.label.clone(),
            what: log.what.clone(),
            last_success: log.last_success,
            last_error: log.last_error.clone(),
            rules_in_force: self
                .inner
                .kinds
                .iter()
                .map(|k| KindCount {
                    kind: k.name(),
                    rules: k.count(&self.inner.sentinel),
                })
                .collect(),
            unmatched_rules: self
                .inner
                .sentinel
                .unmatched_rules()
                .into_iter()
                .filter(|r| self.inner.kinds.iter().any(|k| k.name() == r.kind))
                .collect(),
            updates_applied: log.applied,
            updates_rejected: log.rejected,
        }
    }

    /// The rules in force of the pipeline's kinds as a document that loads back to the
    /// same rules: a list for one kind, sections for several. Enums are written by name
    /// (`"strategy": "ErrorRatio"`), and every field at its default is left out, except
    /// those a document must write ([`RuleKind::required_fields`]); [`Format::Auto`] writes
    /// YAML. For sentinel-golang's tools use [`Pipeline::export_with`] and
    /// [`EnumStyle::Integers`](crate::EnumStyle::Integers).
    ///
    /// ```
    /// use sentinel_core::Sentinel;
    /// use sentinel_datasource::{CircuitBreaker, Format, Pipeline};
    ///
    /// let pipeline = Pipeline::for_kind::<CircuitBreaker>(&Sentinel::new());
    /// pipeline.apply(
    ///     br#"[{"resource": "pay", "strategy": 1, "retryTimeoutMs": 3000, "threshold": 0.5,
    ///           "statIntervalMs": 1000}]"#,
    ///     Format::Json,
    /// )?;
    /// assert_eq!(
    ///     pipeline.export(Format::Yaml)?,
    ///     "- resource: pay\n  strategy: ErrorRatio\n  retryTimeoutMs: 3000\n  threshold: 0.5\n"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn export(&self, format: Format) -> Result<String, ExportError> {
        self.export_with(format, ExportOptions::default())
    }

    /// [`Pipeline::export`] with options:
    /// [`EnumStyle::Integers`](crate::EnumStyle::Integers) writes enums as sentinel-golang's
    /// integers (`"strategy": 1`) and leaves out only the defaults that are also Go's zero
    /// values (Go reads a missing field as zero, so a default of 1000 stays written), for
    /// documents that Go's tools read.
    ///
    /// ```
    /// use sentinel_core::Sentinel;
    /// use sentinel_datasource::{EnumStyle, ExportOptions, Flow, Format, Pipeline};
    ///
    /// let pipeline = Pipeline::for_kind::<Flow>(&Sentinel::new());
    /// pipeline.apply(b"[{resource: a, threshold: 5, controlBehavior: Throttling}]", Format::Yaml)?;
    /// let go = pipeline.export_with(Format::Json, ExportOptions::default().enums(EnumStyle::Integers))?;
    /// assert!(go.contains(r#""controlBehavior": 1"#) && go.contains(r#""statIntervalInMs": 1000"#));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn export_with(
        &self,
        format: Format,
        options: ExportOptions,
    ) -> Result<String, ExportError> {
        let error = |message| ExportError { format, message };
        let s = &self.inner.sentinel;
        let doc = match self.inner.kinds.as_slice() {
            [one] => one.export(s, options.enums).map_err(error)?,
            kinds => {
                let mut sections = Map::new();
                for k in kinds {
                    let rules = k.export(s, options.enums).map_err(error)?;
                    sections.insert(k.section().to_string(), rules);
                }
                Value::Object(sections)
            }
        };
        format.write(&doc).map_err(error)
    }

    /// Reads, splits and decodes a source's content into one list per kind it covers.
    pub(crate) fn parse(
        &self,
        bytes: &[u8],
        format: Format,
    ) -> Result<Vec<Box<dyn RuleList>>, UpdateError> {
        self.parse_documents(format.read(bytes)?)
    }

    /// Splits and decodes a document tree into one list per kind it covers.
    pub(crate) fn parse_tree(&self, doc: Value) -> Result<Vec<Box<dyn RuleList>>, UpdateError> {
        self.parse_documents(vec![doc])
    }

    /// Splits and decodes documents into one list per kind they cover, the rules of a kind
    /// in document order; every problem is reported (the first in full).
    fn parse_documents(
        &self,
        documents: Vec<Value>,
    ) -> Result<Vec<Box<dyn RuleList>>, UpdateError> {
        let kinds = &self.inner.kinds;
        let mut problems = RuleProblems::default();
        let mut lists = Vec::new();
        let mut parts = split(documents, kinds)?.into_iter().peekable();
        while let Some(first) = parts.next() {
            let kind = first.kind;
            let same_kind = std::iter::from_fn(|| parts.next_if(|p| p.kind == kind));
            // A part's rules are numbered on from the previous part's, as in the list
            // that is loaded.
            let mut next_index = 0;
            let mut decoded = Vec::new();
            for part in std::iter::once(first).chain(same_kind) {
                let count = part.rules.len();
                let unknown_fields = self.inner.unknown_fields;
                match kinds[kind].decode(part.rules, part.from_crd, unknown_fields, next_index) {
                    Ok(list) => decoded.push(list),
                    Err(p) => problems.append(p),
                }
                next_index += count;
            }
            lists.push(match decoded.pop() {
                Some(only) if decoded.is_empty() => only,
                last => {
                    decoded.extend(last);
                    let decoded: Vec<&dyn RuleList> = decoded.iter().map(|l| &**l).collect();
                    kinds[kind].concat(&decoded)
                }
            });
        }
        // Checked here, before any kind loads: several kinds load one after the other, and
        // the engine would log a refused set whole, however large.
        lists.iter().for_each(|l| problems.append(l.problems()));
        if problems.is_empty() {
            Ok(lists)
        } else {
            Err(UpdateError::InvalidRules(problems))
        }
    }

    /// The pipeline's rule kinds.
    pub(crate) fn dyn_kinds(&self) -> &[&'static dyn DynKind] {
        &self.inner.kinds
    }

    /// What a deleted source does to the rules.
    pub(crate) fn delete_policy(&self) -> DeletePolicy {
        self.inner.on_delete
    }

    /// Loads lists decoded by [`Pipeline::parse`] (merged from several documents, say) as
    /// one update, all or nothing, and records the outcome.
    pub(crate) fn install_lists(
        &self,
        lists: Vec<Box<dyn RuleList>>,
    ) -> Result<Applied, UpdateError> {
        let _updating = self.inner.updating.lock();
        let result = self.install(lists);
        self.record(result)
    }

    /// Records that the source is connected again and the rules in force are its content
    /// (after an outage, a resumed watch): the status is healthy again, no update is
    /// counted.
    #[cfg(any(feature = "etcd", feature = "k8s"))]
    pub(crate) fn report_in_sync(&self) {
        let _updating = self.inner.updating.lock();
        let mut log = self.inner.log.lock();
        log.last_success = Some(SystemTime::now());
        tracing::info!(source = %self.inner.label, "source reachable again; the rules in force are current");
    }

    /// Records what the source feeding this pipeline reads (a file path, an etcd key), for
    /// the status and the log; the latest source started on the pipeline names it.
    pub(crate) fn attach(&self, what: &str) {
        self.inner.log.lock().what = Some(what.to_string());
    }

    /// Holds off every other update until the guard is dropped (an edit takes it, then
    /// loads, writes and records under it).
    pub(crate) fn hold_updates(&self) -> parking_lot::MutexGuard<'_, ()> {
        self.inner.updating.lock()
    }

    /// Records an edit's update (the caller holds [`Pipeline::hold_updates`]): counted as
    /// applied, without the source's log line (the editor writes its own).
    pub(crate) fn record_edit(&self) {
        Self::count_success(&mut self.inner.log.lock());
    }

    fn count_success(log: &mut Log) {
        log.applied += 1;
        log.last_success = Some(SystemTime::now());
    }

    /// Loads the lists in order; if one is refused, the kinds loaded before it get their
    /// previous rules back.
    pub(crate) fn install(&self, lists: Vec<Box<dyn RuleList>>) -> Result<Applied, UpdateError> {
        let s = &self.inner.sentinel;
        let several = lists.len() > 1;
        let mut loaded: Vec<Box<dyn RuleList>> = Vec::new();
        let mut kinds = Vec::with_capacity(lists.len());
        for list in lists {
            let (kind, rules) = (list.kind(), list.len());
            let changed = !list.in_force(s);
            let changes = if changed {
                list.changes(s)
            } else {
                RuleChanges::default()
            };
            if changed {
                let previous = several.then(|| list.snapshot(s));
                if let Err(e) = list.load(s) {
                    self.roll_back(loaded);
                    return Err(UpdateError::InvalidRules(
                        e.errors().iter().map(RuleProblem::from).collect(),
                    ));
                }
                loaded.extend(previous);
            }
            kinds.push(KindUpdate {
                kind,
                rules,
                changed,
                added: changes.added,
                removed: changes.removed,
                modified: changes.changed,
            });
        }
        Ok(Applied { kinds })
    }

    /// Loads `previous` again, last first (rules saved with [`RuleList::snapshot`]).
    pub(crate) fn roll_back(&self, previous: Vec<Box<dyn RuleList>>) {
        for list in previous.into_iter().rev() {
            let kind = list.kind();
            if let Err(e) = list.load(&self.inner.sentinel) {
                tracing::error!(source = %self.inner.label, kind, error = %e.one_line(), "could not restore the previous rules");
            }
        }
    }

    fn record(&self, result: Result<Applied, UpdateError>) -> Result<Applied, UpdateError> {
        let now = SystemTime::now();
        let mut log = self.inner.log.lock();
        let label = &self.inner.label;
        let what = log.what.clone().unwrap_or_default();
        match &result {
            Ok(applied) => {
                Self::count_success(&mut log);
                let rules: usize = applied.kinds.iter().map(|k| k.rules).sum();
                if applied.changed() {
                    tracing::info!(source = %label, %what, changes = %applied, rules, "rules updated from source");
                } else {
                    tracing::debug!(source = %label, %what, rules, "source content unchanged");
                }
            }
            Err(error) => {
                log.rejected += 1;
                log.last_error = Some(ErrorRecord {
                    at: now,
                    error: error.clone(),
                });
                // One line: a log line per problem would split the report.
                let error = error.one_line();
                if log.applied == 0 {
                    tracing::warn!(source = %label, %what, %error, "rule update rejected; no rules are in force from this source yet");
                } else {
                    tracing::warn!(source = %label, %what, %error, "rule update rejected; the rules in force are kept");
                }
            }
        }
        result
    }
}
