//! What a source has done: the status a user can query.

use std::fmt;
use std::time::{Duration, SystemTime};

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
    /// The pipeline's label (what it loads).
    pub label: String,
    /// What the source reads: the file path (as given), `etcd key /sentinel/flow`,
    /// `custom resources in namespace shop`; `None` for a pipeline no source has started
    /// on (fed with [`Pipeline::apply`](crate::Pipeline::apply)).
    pub what: Option<String>,
    /// When content from the source was last accepted (loaded, or found already in force).
    pub last_success: Option<SystemTime>,
    /// The last error, kept after later successes ([`SourceStatus::error_is_current`]
    /// tells whether it is newer than the last success; `Display` shows both times).
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

    /// Whether the last error is newer than the last success (or there was no success):
    /// the source's current content is not in force. `false` without an error.
    pub fn error_is_current(&self) -> bool {
        !self.is_healthy()
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

impl fmt::Display for SourceStatus {
    /// One line: what is loaded from where, rules in force per kind, updates, and the last
    /// success and last error with their times (how long ago, and the error's against the
    /// success), the error on one line:
    ///
    /// `flow rules from rules/flow.yaml: rules in force 3 (flow 3); updates applied 4,
    /// rejected 1; last success 12.0 s ago; last error 3.1 s after the last success
    /// (current): not valid YAML: ...`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.label)?;
        if let Some(what) = &self.what {
            write!(f, " from {what}")?;
        }
        let counts: Vec<String> = self
            .rules_in_force
            .iter()
            .map(|c| format!("{} {}", c.kind, c.rules))
            .collect();
        write!(
            f,
            ": rules in force {} ({}); updates applied {}, rejected {}",
            self.total_rules(),
            counts.join(", "),
            self.updates_applied,
            self.updates_rejected
        )?;
        if !self.unmatched_rules.is_empty() {
            let resources: std::collections::BTreeSet<&str> = self
                .unmatched_rules
                .iter()
                .map(|r| r.resource.as_str())
                .collect();
            let resources: Vec<String> = resources
                .into_iter()
                .map(|r| format!("`{}`", sentinel_core::text::Clipped(r, 80)))
                .collect();
            write!(
                f,
                "; rules not applied yet {} (no entry has named {})",
                self.unmatched_rules.len(),
                resources.join(", ")
            )?;
        }
        let now = SystemTime::now();
        match self.last_success {
            Some(at) => write!(f, "; last success {} ago", seconds(elapsed(at, now)))?,
            None => f.write_str("; no success yet")?,
        }
        if let Some(error) = &self.last_error {
            let current = if self.error_is_current() {
                "current"
            } else {
                "resolved since"
            };
            match self.last_success {
                Some(ok) if error.at >= ok => write!(
                    f,
                    "; last error {} after the last success ({current})",
                    seconds(elapsed(ok, error.at))
                )?,
                Some(ok) => write!(
                    f,
                    "; last error {} before the last success ({current})",
                    seconds(elapsed(error.at, ok))
                )?,
                None => write!(
                    f,
                    "; last error {} ago ({current})",
                    seconds(elapsed(error.at, now))
                )?,
            }
            write!(f, ": {}", error.error.one_line())?;
        }
        Ok(())
    }
}

/// Time from `earlier` to `later` (zero if the clock went back).
fn elapsed(earlier: SystemTime, later: SystemTime) -> Duration {
    later.duration_since(earlier).unwrap_or_default()
}

/// `3.1 s`.
fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(success: Option<u64>, error: Option<u64>) -> SourceStatus {
        let at = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        SourceStatus {
            label: "flow rules".into(),
            what: Some("rules/flow.yaml".into()),
            last_success: success.map(at),
            last_error: error.map(|s| ErrorRecord {
                at: at(s),
                error: UpdateError::Empty,
            }),
            rules_in_force: vec![KindCount {
                kind: "flow",
                rules: 3,
            }],
            unmatched_rules: Vec::new(),
            updates_applied: 4,
            updates_rejected: 1,
        }
    }

    #[test]
    fn the_last_error_is_shown_against_the_last_success() {
        let newer = status(Some(100), Some(103));
        assert!(newer.error_is_current());
        let text = newer.to_string();
        assert!(
            text.starts_with(
                "flow rules from rules/flow.yaml: rules in force 3 (flow 3); updates applied 4, \
                 rejected 1; last success "
            ),
            "{text}"
        );
        assert!(
            text.ends_with(
                " ago; last error 3.0 s after the last success (current): the document is empty \
                 (a file caught half-written?); to clear the rules write `[]` (a source of \
                 several kinds: an empty list per section, `flow: []`)"
            ),
            "{text}"
        );
        let older = status(Some(100), Some(98));
        assert!(!older.error_is_current());
        assert!(
            older
                .to_string()
                .contains("; last error 2.0 s before the last success (resolved since): "),
            "{older}"
        );
        let never = status(None, Some(98));
        assert!(never.error_is_current());
        assert!(
            never.to_string().contains("; no success yet; last error "),
            "{never}"
        );
        let fine = status(Some(100), None);
        assert!(!fine.error_is_current());
        assert!(!fine.to_string().contains("error"), "{fine}");
        assert!(!fine.to_string().contains("not applied yet"), "{fine}");
    }

    #[test]
    fn rules_that_never_applied_are_named_once_per_resource() {
        let mut status = status(Some(100), None);
        let rule = |index: usize, resource: &str| sentinel_core::UnmatchedRule {
            kind: "flow",
            index,
            id: String::new(),
            resource: resource.into(),
            since: SystemTime::UNIX_EPOCH,
        };
        status.unmatched_rules = vec![rule(0, "POST /order"), rule(1, "POST /order\n")];
        status.unmatched_rules.push(rule(2, "POST /order"));
        let text = status.to_string();
        assert!(
            text.contains(
                "; rules not applied yet 3 (no entry has named `POST /order`, `POST /order\\n`)"
            ),
            "{text}"
        );
    }
}
