//! What a source has done: the status a user can query.

use std::time::SystemTime;

use crate::error::UpdateError;

/// An error and when it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRecord {
    /// When the update failed.
    pub at: SystemTime,
    /// Why.
    pub error: UpdateError,
}

/// How many rules of one kind are in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindCount {
    /// The rule kind (`flow`).
    pub kind: &'static str,
    /// Rules of that kind in force on the instance.
    pub rules: usize,
}

/// The state of a source, as [`Pipeline::status`](crate::Pipeline::status) and
/// [`FileSource::status`](crate::FileSource::status) report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceStatus {
    /// The pipeline's label (what it loads, from where).
    pub label: String,
    /// When content from the source was last accepted (loaded, or found already in force).
    pub last_success: Option<SystemTime>,
    /// The last error, kept after later successes (compare [`ErrorRecord::at`] with
    /// [`SourceStatus::last_success`], or use [`SourceStatus::is_healthy`]).
    pub last_error: Option<ErrorRecord>,
    /// Rules in force on the instance, per kind the pipeline loads.
    pub rules_in_force: Vec<KindCount>,
    /// Rules of the pipeline's kinds that have applied to no entry: no entry has named
    /// their resource for the grace period while other resources had entries (a name that
    /// differs from the route, `POST /order` for `POST /orders`); see
    /// [`Sentinel::unmatched_rules`](sentinel_core::Sentinel::unmatched_rules).
    pub unmatched_rules: Vec<sentinel_core::UnmatchedRule>,
    /// Updates accepted.
    pub updates_applied: u64,
    /// Updates that failed (unreadable, unparsable, invalid, deleted source kept): each left
    /// the rules in force unchanged.
    pub updates_rejected: u64,
}

impl SourceStatus {
    /// Whether the last update succeeded (true before any update).
    pub fn is_healthy(&self) -> bool {
        match (&self.last_error, self.last_success) {
            (None, _) => true,
            (Some(e), Some(ok)) => ok >= e.at,
            (Some(_), None) => false,
        }
    }

    /// Rules in force of one kind, `None` if the pipeline does not load that kind.
    pub fn rules_of(&self, kind: &str) -> Option<usize> {
        self.rules_in_force
            .iter()
            .find(|c| c.kind == kind)
            .map(|c| c.rules)
    }

    /// Rules in force over all kinds the pipeline loads.
    pub fn total_rules(&self) -> usize {
        self.rules_in_force.iter().map(|c| c.rules).sum()
    }
}
