//! What can go wrong on the way from a source's bytes to the rules in force.

use std::fmt;

use sentinel_core::InvalidRule;

use crate::format::Format;

/// One problem with one rule of a document: it did not parse, or it is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleProblem {
    /// The rule kind (`flow`, `isolation`, ...).
    pub kind: &'static str,
    /// Position of the rule in its list (counting from 0).
    pub index: usize,
    /// The rule's `id`, if it has one.
    pub id: String,
    /// The rule's `resource`, if it has one.
    pub resource: String,
    /// The offending field in the document's spelling (`warmUpPeriodSec`,
    /// `specificItems.0.valKind`); empty when the rule as a whole is wrong.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

impl From<&InvalidRule> for RuleProblem {
    fn from(e: &InvalidRule) -> Self {
        RuleProblem {
            kind: e.kind,
            index: e.index,
            id: e.id.clone(),
            resource: e.resource.clone(),
            field: e.error.field.to_string(),
            reason: e.error.reason.clone(),
        }
    }
}

impl fmt::Display for RuleProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} rule #{}", self.kind, self.index)?;
        if !self.id.is_empty() {
            write!(f, " (id {:?})", self.id)?;
        }
        if !self.resource.is_empty() {
            write!(f, " on resource {:?}", self.resource)?;
        }
        if self.field.is_empty() {
            write!(f, ": {}", self.reason)
        } else {
            write!(f, ": field `{}` {}", self.field, self.reason)
        }
    }
}

/// Why an update from a source was not applied. The rules in force did not change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateError {
    /// The source could not be read.
    #[error("cannot read {what}: {message}")]
    Read {
        /// What was read (a file path, ...).
        what: String,
        /// The I/O error.
        message: String,
    },
    /// The content is larger than the source's limit.
    #[error("{what} is larger than the limit of {limit} bytes")]
    TooLarge {
        /// What was read.
        what: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// The content is empty (zero bytes, only whitespace or comments, or `null`): most
    /// likely a file caught half-written. Write an explicit empty list (`[]`) to clear.
    #[error(
        "the document is empty (a file caught half-written?); write an explicit `[]` to clear the rules"
    )]
    Empty,
    /// The content is not valid JSON or YAML.
    #[error("not valid {format}: {message}")]
    Syntax {
        /// The format the content was read as.
        format: Format,
        /// The parser's message, with line and column.
        message: String,
    },
    /// The content is valid JSON or YAML but not a rule document.
    #[error("not a rule document: {0}")]
    Shape(String),
    /// The document holds rules of another kind than the source loads.
    #[error("wrong rule kind: this source loads {expected}, the document holds {found}")]
    WrongKind {
        /// What the source loads.
        expected: String,
        /// What the document holds.
        found: String,
    },
    /// Some rules did not parse or are invalid; each is named.
    #[error("{}", InvalidRulesDisplay(.0))]
    InvalidRules(Vec<RuleProblem>),
    /// The source (file, key, resource) is gone; under the default
    /// [`DeletePolicy::KeepRules`](crate::DeletePolicy::KeepRules) its rules stay in force.
    #[error("{what} does not exist; the rules in force are kept")]
    Missing {
        /// What is missing.
        what: String,
    },
    /// The watch on the source failed (events may have been lost; the source re-reads).
    #[error("watch error on {what}: {message}")]
    Watch {
        /// What was watched.
        what: String,
        /// The watcher's message.
        message: String,
    },
    /// One document of a source that merges several (the keys under an etcd prefix, the
    /// custom resources of a namespace) was rejected. The rules of the other documents, and
    /// this document's last good rules, stay in force.
    #[error("{name}: {error}")]
    Document {
        /// The document (an etcd key, `FlowRules default/checkout`).
        name: String,
        /// Why it was rejected.
        error: Box<UpdateError>,
    },
}

impl UpdateError {
    /// The rule problems of an [`UpdateError::InvalidRules`]; empty for other errors.
    pub fn problems(&self) -> &[RuleProblem] {
        match self {
            UpdateError::InvalidRules(p) => p,
            UpdateError::Document { error, .. } => error.problems(),
            _ => &[],
        }
    }
}

struct InvalidRulesDisplay<'a>(&'a [RuleProblem]);

impl fmt::Display for InvalidRulesDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "{n} invalid rule{}; the rules in force are unchanged",
            if n == 1 { "" } else { "s" }
        )?;
        for p in self.0 {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

/// A source could not be started.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch {what}: {message}")]
pub struct WatchError {
    /// What was to be watched.
    pub what: String,
    /// Why it cannot be.
    pub message: String,
}

/// Rules in force could not be written out as a document.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the rules as {format}: {message}")]
pub struct ExportError {
    /// The requested format.
    pub format: Format,
    /// The serialiser's message.
    pub message: String,
}
