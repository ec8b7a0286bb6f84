//! Replacing the rules of one kind as a whole set (from a dashboard, an admin endpoint),
//! and writing the result back to the source so that the edit survives a restart.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::document::type_name;
use crate::erased::RuleList;
use crate::error::{RuleProblem, RuleProblems, UpdateError, clip};
use crate::export::ExportOptions;
use crate::format::Format;
use crate::pipeline::{Applied, Pipeline};

/// Why [`RuleEditor::replace`] changed nothing.
///
/// For an HTTP layer: [`EditError::UnknownKind`] is a 404, [`EditError::Unreadable`] and
/// [`EditError::Invalid`] are a 422 (each [`RuleProblem`] gives the rule's index, resource,
/// field and reason), [`EditError::Conflict`] is a 409 and [`EditError::Write`] a 500.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EditError {
    /// The kind is not one the pipeline loads (or no kind at all).
    #[error("no rule kind {kind:?} to edit here; the kinds are {}", accepted.join(", "))]
    UnknownKind {
        /// The kind asked for (clipped to [`MAX_ECHO`](crate::MAX_ECHO) characters).
        kind: String,
        /// The kinds the editor accepts, by section name (`flow`, `circuitBreaker`).
        accepted: Vec<&'static str>,
    },
    /// The body is not a list of rules: not valid JSON or YAML ([`UpdateError::Syntax`]),
    /// empty ([`UpdateError::Empty`]) or not a list ([`UpdateError::Shape`]).
    #[error("{0}")]
    Unreadable(UpdateError),
    /// Some rules did not decode or are invalid, each named (the first
    /// [`MAX_PROBLEMS`](crate::MAX_PROBLEMS) in full, all counted); the set is refused
    /// whole.
    #[error("{0}")]
    Invalid(RuleProblems),
    /// The stored document is not the one whose rules are in force: edited since it was
    /// loaded (by hand, by another instance) and not loaded yet, or holding content that
    /// was rejected. Nothing was written; the rules in force are unchanged.
    #[error("{what} changed since its rules were loaded: {detail}")]
    Conflict {
        /// What holds the document (`rules/shop.yaml`, `etcd key /sentinel/rules`).
        what: String,
        /// What differs.
        detail: String,
    },
    /// The document could not be written (I/O, etcd unreachable, a document the editor
    /// cannot rewrite whole); the previous rules were put back.
    #[error("cannot write {what}: {message}")]
    Write {
        /// What holds the document.
        what: String,
        /// Why.
        message: String,
    },
}

impl EditError {
    /// The rule problems of [`EditError::Invalid`] reported in full; empty for other
    /// errors.
    pub fn problems(&self) -> &[RuleProblem] {
        match self {
            EditError::Invalid(problems) => problems.first(),
            _ => &[],
        }
    }
}

impl From<UpdateError> for EditError {
    /// [`UpdateError::InvalidRules`] is [`EditError::Invalid`]; any other error of reading
    /// a body is [`EditError::Unreadable`].
    fn from(error: UpdateError) -> Self {
        match error {
            UpdateError::InvalidRules(problems) => EditError::Invalid(problems),
            other => EditError::Unreadable(other),
        }
    }
}

/// Where an editor writes the document: a source that can store what it reads.
pub(crate) trait Store: Send + Sync {
    /// What holds the document, as errors name it: `rules/shop.yaml`, `etcd key /rules`.
    fn what(&self) -> &str;
    /// What the document is, for status and logs: `file rules/shop.yaml`, `etcd key /rules`.
    fn target(&self) -> String;
    /// Holds off the source's own updates until the guard is dropped, so that what it
    /// last loaded stays what is in force during the edit.
    fn hold(&self) -> Box<dyn Held + '_>;
}

/// A [`Store`] held for one edit.
pub(crate) trait Held {
    /// Checks that the stored document is the one whose rules are in force and that the
    /// pipeline's export can replace it whole; the format to write it in.
    fn check(&mut self, pipeline: &Pipeline) -> Result<Format, EditError>;
    /// Stores `document`, whose rules are now in force.
    fn write(&mut self, document: &str) -> Result<(), EditError>;
}

/// Replaces the rules of one kind as a whole set, all or nothing, and writes the
/// pipeline's whole document back to its source so that the edit survives a restart.
///
/// Made by [`RuleEditor::in_memory`] (nothing is written: the edit lasts until the source
/// loads again or the process ends), [`FileSource::editor`](crate::FileSource::editor)
/// and, with the `etcd` feature, `EtcdSource::editor` (single-key sources). A cheap handle
/// (`Clone`, `Send`, `Sync`).
///
/// ```
/// use sentinel_core::Sentinel;
/// use sentinel_datasource::{EditError, Format, Pipeline, RuleEditor};
///
/// let sentinel = Sentinel::new();
/// let editor = RuleEditor::in_memory(&Pipeline::builder(&sentinel).all_kinds().build());
/// let applied = editor.replace("flow", br#"[{"resource": "GET /items", "threshold": 10}]"#, Format::Json)?;
/// assert_eq!((applied.kinds[0].rules, applied.kinds[0].added), (1, 1));
///
/// // An invalid set changes nothing and names each bad rule and field.
/// let error = editor
///     .replace("flow", b"[{resource: GET /items, threshold: -1}]", Format::Yaml)
///     .unwrap_err();
/// let problem = &error.problems()[0];
/// assert_eq!((problem.index, problem.field.as_str()), (0, "threshold"));
/// assert_eq!(sentinel.flow_rules()[0].threshold, 10.0);
/// assert!(matches!(editor.replace("flows", b"[]", Format::Json), Err(EditError::UnknownKind { .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct RuleEditor {
    pipeline: Pipeline,
    store: Option<Arc<dyn Store>>,
    export: ExportOptions,
}

impl std::fmt::Debug for RuleEditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleEditor")
            .field("pipeline", &self.pipeline)
            .field("target", &self.target())
            .field("export", &self.export)
            .finish()
    }
}

impl RuleEditor {
    /// An editor that only changes the rules in force: [`RuleEditor::persisted`] is false,
    /// and an edit is lost when the process ends (or when a source of the pipeline loads
    /// again).
    pub fn in_memory(pipeline: &Pipeline) -> RuleEditor {
        RuleEditor {
            pipeline: pipeline.clone(),
            store: None,
            export: ExportOptions::default(),
        }
    }

    pub(crate) fn stored(pipeline: &Pipeline, store: Arc<dyn Store>) -> RuleEditor {
        RuleEditor {
            store: Some(store),
            ..Self::in_memory(pipeline)
        }
    }

    /// How the document is written (default: enums by name, as
    /// [`Pipeline::export`]); [`EnumStyle::Integers`](crate::EnumStyle::Integers) when
    /// sentinel-golang's tools read the same document.
    #[must_use]
    pub fn export_options(mut self, options: ExportOptions) -> RuleEditor {
        self.export = options;
        self
    }

    /// Whether an edit is written to the rule source (and survives a restart).
    pub fn persisted(&self) -> bool {
        self.store.is_some()
    }

    /// What an edit is written to (`file rules/shop.yaml`, `etcd key /sentinel/rules`);
    /// `None` for an editor in memory.
    pub fn target(&self) -> Option<String> {
        self.store.as_ref().map(|s| s.target())
    }

    /// The pipeline whose rules are edited.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// The kinds [`RuleEditor::replace`] accepts, by section name (`flow`,
    /// `circuitBreaker`), in the pipeline's order.
    pub fn kinds(&self) -> Vec<&'static str> {
        self.pipeline
            .dyn_kinds()
            .iter()
            .map(|k| k.section())
            .collect()
    }

    /// Replaces every rule of `kind` with the rules of `body`, a plain list of rules of
    /// that kind in `format` (sentinel-golang's JSON or YAML, enums as integers or names;
    /// [`Format::Auto`] decides from the content), read as a source's document is read.
    /// `kind` is a section name (`flow`, `isolation`, `circuitBreaker`, `hotspot`,
    /// `system`) or a kind's name (`circuit breaker`, `hot parameter`).
    ///
    /// In order, with the source's own updates and the pipeline's other updates held off:
    /// the stored document is checked to be the one in force; the set is decoded and
    /// loaded (validated whole by the engine); the pipeline's whole document (every kind
    /// it loads) is exported and written to the source; if writing fails, the previous
    /// rules of the kind are loaded again. A success counts as an applied update in the
    /// pipeline's status and is logged on one `tracing` info line with the kind, what it
    /// changed, the rules' ids and where the document was written (run the call in a span
    /// to add, say, the remote address). Blocks while it writes (file I/O, an etcd
    /// round trip): from async code, call it in `spawn_blocking`.
    ///
    /// # Errors
    ///
    /// Nothing changed in each case: [`EditError::UnknownKind`] for a kind the pipeline
    /// does not load, [`EditError::Unreadable`] for a body that is not a list of rules,
    /// [`EditError::Invalid`] naming each bad rule and field, [`EditError::Conflict`] when
    /// the stored document changed since it was loaded, [`EditError::Write`] when it could
    /// not be written.
    pub fn replace(&self, kind: &str, body: &[u8], format: Format) -> Result<Applied, EditError> {
        let kinds = self.pipeline.dyn_kinds();
        let Some(found) = kinds
            .iter()
            .find(|k| k.section() == kind || k.name() == kind)
        else {
            return Err(EditError::UnknownKind {
                kind: clip(kind).into_owned(),
                accepted: self.kinds(),
            });
        };
        let list = self.decode(found.section(), body, format)?;
        let keys = list.keys();
        let mut held = self.store.as_ref().map(|s| s.hold());
        let write_format = match &mut held {
            Some(held) => Some(held.check(&self.pipeline)?),
            None => None,
        };
        let _updating = self.pipeline.hold_updates();
        let previous = list.snapshot(self.pipeline.sentinel());
        let applied = self.pipeline.install(vec![list])?;
        if let (Some(store), Some(held), Some(write_format)) =
            (&self.store, &mut held, write_format)
        {
            let written = self
                .pipeline
                .export_with(write_format, self.export)
                .map_err(|e| EditError::Write {
                    what: store.what().to_string(),
                    message: e.to_string(),
                })
                .and_then(|document| held.write(&document));
            if let Err(error) = written {
                self.pipeline.roll_back(vec![previous]);
                return Err(error);
            }
        }
        self.pipeline.record_edit();
        let target = self.target().unwrap_or_else(|| "memory only".into());
        tracing::info!(
            source = %self.pipeline.label(),
            kind = found.section(),
            changes = %applied,
            ids = ?keys,
            written_to = %target,
            "rules replaced by an edit"
        );
        Ok(applied)
    }

    /// Decodes `body` as a plain list of the kind of `section`.
    fn decode(
        &self,
        section: &str,
        body: &[u8],
        format: Format,
    ) -> Result<Box<dyn RuleList>, EditError> {
        let list = match <[Value; 1]>::try_from(format.read(body)?) {
            Ok([Value::Array(rules)]) => Value::Array(rules),
            Ok([other]) => {
                return Err(EditError::Unreadable(UpdateError::Shape(format!(
                    "expected a list of {section} rules, found {}",
                    type_name(&other)
                ))));
            }
            Err(documents) => {
                return Err(EditError::Unreadable(UpdateError::Shape(format!(
                    "expected one list of {section} rules, found {} documents",
                    documents.len()
                ))));
            }
        };
        // As the section of a document, so that it is read and checked as one.
        let document = Value::Object(Map::from_iter([(section.to_string(), list)]));
        let mut lists = self.pipeline.parse_tree(document)?;
        Ok(lists.remove(0))
    }
}

/// Whether writing the pipeline's export over `current` (the stored document, in force)
/// loses nothing it holds: it must be a plain list, or a mapping of sections of kinds the
/// pipeline loads. A custom resource, a YAML stream, a Kubernetes `List` or sections of
/// other kinds would be rewritten as something else; the editor refuses them.
pub(crate) fn rewritable(
    pipeline: &Pipeline,
    current: &[u8],
    format: Format,
) -> Result<(), String> {
    let documents = format.read(current).map_err(|e| e.one_line().to_string())?;
    let sections: Vec<&str> = pipeline.dyn_kinds().iter().map(|k| k.section()).collect();
    match documents.as_slice() {
        [Value::Array(_)] => Ok(()),
        [Value::Object(map)] if !map.contains_key("apiVersion") && !map.contains_key("kind") => {
            let others: Vec<&str> = map
                .keys()
                .map(String::as_str)
                .filter(|key| !sections.contains(key))
                .collect();
            if others.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "it holds sections this pipeline does not load ({}); writing its rules \
                     would drop them",
                    others.join(", ")
                ))
            }
        }
        _ => Err(
            "it is not a plain list of rules or a mapping of sections (a custom \
                  resource, a YAML stream, a Kubernetes List); the editor would rewrite it as \
                  one, losing its shape"
                .into(),
        ),
    }
}
