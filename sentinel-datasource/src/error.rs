//! What can go wrong on the way from a source's bytes to the rules in force.

use std::borrow::Cow;
use std::fmt;

use sentinel_core::InvalidRule;

use sentinel_core::text::Escaped;

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

impl RuleProblem {
    /// A problem with the rule at `index`; every text, taken from the document, is clipped
    /// to [`MAX_ECHO`] characters.
    pub(crate) fn new(
        kind: &'static str,
        index: usize,
        id: &str,
        resource: &str,
        field: &str,
        reason: &str,
    ) -> RuleProblem {
        RuleProblem {
            kind,
            index,
            id: clip(id).into_owned(),
            resource: clip(resource).into_owned(),
            field: clip(field).into_owned(),
            reason: clip(reason).into_owned(),
        }
    }
}

impl From<&InvalidRule> for RuleProblem {
    fn from(e: &InvalidRule) -> Self {
        RuleProblem::new(
            e.kind,
            e.index,
            &e.id,
            &e.resource,
            e.error.field,
            &e.error.reason,
        )
    }
}

/// Most problems an error reports in full; the others are only counted, so that a large
/// document of bad rules gives a short report.
pub const MAX_PROBLEMS: usize = 20;

/// Longest text (in characters) an error takes from a document: a key, a value, a
/// parser's message. Of longer text only the start and the end are kept, so that a huge
/// key is not echoed whole while a message's closing `at line 3 column 7` stays.
pub const MAX_ECHO: usize = 200;

/// Characters kept from the end of a clipped text.
const ECHO_TAIL: usize = 40;

/// `text`, cut to about [`MAX_ECHO`] characters: its start and its end, with a note of how
/// much was left out between them.
pub(crate) fn clip(text: &str) -> Cow<'_, str> {
    let chars = text.chars().count();
    if chars <= MAX_ECHO {
        return Cow::Borrowed(text);
    }
    let byte_at = |char_index: usize| {
        text.char_indices()
            .nth(char_index)
            .map_or(text.len(), |(i, _)| i)
    };
    let head = byte_at(MAX_ECHO - ECHO_TAIL);
    let tail = byte_at(chars - ECHO_TAIL);
    Cow::Owned(format!(
        "{} [... {} bytes left out ...] {}",
        &text[..head],
        tail - head,
        &text[tail..]
    ))
}

/// The problems of a rejected update: the first [`MAX_PROBLEMS`] in full, and how many
/// there were in all.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuleProblems {
    first: Vec<RuleProblem>,
    total: usize,
}

impl RuleProblems {
    /// The problems reported in full (at most [`MAX_PROBLEMS`]), in document order.
    pub fn first(&self) -> &[RuleProblem] {
        &self.first
    }

    /// How many problems there were, including those not reported in full.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Whether there is no problem.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Adds a problem: kept in full while fewer than [`MAX_PROBLEMS`] are, else counted.
    pub(crate) fn push(&mut self, problem: RuleProblem) {
        self.total += 1;
        if self.first.len() < MAX_PROBLEMS {
            self.first.push(problem);
        }
    }

    /// Adds every problem of `other`.
    pub(crate) fn append(&mut self, other: RuleProblems) {
        let counted_only = other.total - other.first.len();
        other.first.into_iter().for_each(|p| self.push(p));
        self.total += counted_only;
    }
}

impl FromIterator<RuleProblem> for RuleProblems {
    fn from_iter<I: IntoIterator<Item = RuleProblem>>(iter: I) -> Self {
        let mut problems = RuleProblems::default();
        iter.into_iter().for_each(|p| problems.push(p));
        problems
    }
}

impl Extend<RuleProblem> for RuleProblems {
    fn extend<I: IntoIterator<Item = RuleProblem>>(&mut self, iter: I) {
        iter.into_iter().for_each(|p| self.push(p));
    }
}

impl RuleProblems {
    /// Writes the report, one problem a line, or all on one line (for logs) with `; `
    /// between them.
    fn write(&self, f: &mut fmt::Formatter<'_>, one_line: bool) -> fmt::Result {
        let n = self.total;
        let (first, next) = if one_line {
            (": ", "; ")
        } else {
            ("\n  - ", "\n  - ")
        };
        write!(
            f,
            "{n} problem{} with the rules; the rules in force are unchanged",
            if n == 1 { "" } else { "s" }
        )?;
        for (i, p) in self.first.iter().enumerate() {
            write!(f, "{}{p}", if i == 0 { first } else { next })?;
        }
        let more = n - self.first.len();
        if more > 0 {
            let separator = if one_line { "; " } else { "\n  " };
            write!(
                f,
                "{separator}... and {more} more problem{}",
                if more == 1 { "" } else { "s" }
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for RuleProblems {
    /// The count, then one problem a line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, false)
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
        // Field names and reasons can quote the document: escaped, so that a key with a
        // newline cannot forge a log line.
        let reason = Escaped(&self.reason);
        if self.field.is_empty() {
            write!(f, ": {reason}")
        } else {
            write!(f, ": field `{}` {reason}", Escaped(&self.field))
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
    /// The path names something other than a regular file (a FIFO, a socket, a device, a
    /// directory). It is not opened, so that reading never blocks.
    #[error("{what} is {found}, not a regular file; it is not read")]
    NotAFile {
        /// The path.
        what: String,
        /// What it is (`a FIFO (named pipe)`, `a socket`, `a device`, `a directory`).
        found: &'static str,
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
    /// likely a file caught half-written. Write an explicit empty list (`[]`) to clear the
    /// rules of a one-kind source, an empty list per section (`flow: []`) for a multi-kind
    /// one.
    #[error(
        "the document is empty (a file caught half-written?); to clear the rules write `[]` \
         (a source of several kinds: an empty list per section, `flow: []`)"
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
    /// Some rules did not parse or are invalid; each is named (the first
    /// [`MAX_PROBLEMS`] in full, the others counted).
    #[error("{0}")]
    InvalidRules(RuleProblems),
    /// The source (file, key, resource) is gone; under the default
    /// [`DeletePolicy::KeepRules`](crate::DeletePolicy::KeepRules) its rules stay in force.
    #[error("{what} does not exist")]
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

/// An [`UpdateError`] written on one line, as logs want it
/// ([`UpdateError::one_line`]).
#[derive(Debug, Clone, Copy)]
pub struct OneLine<'a>(&'a UpdateError);

impl fmt::Display for OneLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            UpdateError::InvalidRules(problems) => problems.write(f, true),
            UpdateError::Document { name, error } => write!(f, "{name}: {}", error.one_line()),
            // Messages of parsers and clients: a line break in one is written as a space.
            other => other
                .to_string()
                .lines()
                .enumerate()
                .try_for_each(|(i, line)| {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    f.write_str(line.trim())
                }),
        }
    }
}

impl UpdateError {
    /// The error on one line, for logs: the problems of [`UpdateError::InvalidRules`] are
    /// separated by `; ` instead of line breaks (its `Display`, which the status keeps,
    /// writes one a line).
    ///
    /// ```
    /// use sentinel_core::Sentinel;
    /// use sentinel_datasource::{Flow, Format, Pipeline};
    ///
    /// let pipeline = Pipeline::for_kind::<Flow>(&Sentinel::new());
    /// let error = pipeline
    ///     .apply(b"[{resource: a, threshold: -1}, {resource: b}]", Format::Yaml)
    ///     .unwrap_err();
    /// assert_eq!(error.to_string().lines().count(), 3);
    /// assert_eq!(
    ///     error.one_line().to_string(),
    ///     "2 problems with the rules; the rules in force are unchanged: flow rule #0 on \
    ///      resource \"a\": field `threshold` must be a number from 0 to 1000000000000, got \
    ///      -1; flow rule #1 on resource \"b\": field `threshold` is required; write it, even \
    ///      as 0 (left out it would be 0, which blocks or disables the rule: is the document \
    ///      cut short?)"
    /// );
    /// ```
    pub fn one_line(&self) -> OneLine<'_> {
        OneLine(self)
    }

    /// The rule problems an [`UpdateError::InvalidRules`] reports in full (at most
    /// [`MAX_PROBLEMS`]; [`RuleProblems::total`] counts them all); empty for other errors.
    pub fn problems(&self) -> &[RuleProblem] {
        match self {
            UpdateError::InvalidRules(p) => p.first(),
            UpdateError::Document { error, .. } => error.problems(),
            _ => &[],
        }
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

/// A strict start failed: the source's first load did not succeed, so no source was
/// started (see [`FileSourceBuilder::start_strict`](crate::FileSourceBuilder::start_strict)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The source could not be started at all (as [`FileSourceBuilder::start`](crate::FileSourceBuilder::start) fails).
    #[error(transparent)]
    Watch(#[from] WatchError),
    /// The first load was rejected (a missing file or key, unreadable or invalid content,
    /// no custom resource): nothing from the source is in force.
    #[error("strict start of {what} failed: {error}")]
    FirstLoad {
        /// What the source reads.
        what: String,
        /// Why the first load was rejected.
        error: UpdateError,
    },
    /// The store did not answer the first read within the timeout (etcd or the API
    /// server unreachable).
    #[error("strict start of {what} failed: no first read within {timeout:?}{}", last_error.as_ref().map(|e| format!(" (last error: {e})")).unwrap_or_default())]
    TimedOut {
        /// What the source reads.
        what: String,
        /// How long the start waited.
        timeout: std::time::Duration,
        /// The last error the source met meanwhile (connection refused, ...), if any.
        last_error: Option<UpdateError>,
    },
}

impl StartError {
    /// The update error behind a failed first load ([`StartError::FirstLoad`], or the last
    /// error of [`StartError::TimedOut`]).
    pub fn update_error(&self) -> Option<&UpdateError> {
        match self {
            StartError::FirstLoad { error, .. } => Some(error),
            StartError::TimedOut { last_error, .. } => last_error.as_ref(),
            StartError::Watch(_) => None,
        }
    }
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
