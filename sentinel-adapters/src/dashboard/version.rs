//! Versions of the rules in force, for optimistic concurrency: `GET api/v1/rules` tells
//! them (`versions` per kind, `ETag` for all), a `PUT` names the one it was built on
//! (`If-Match`), and a save over rules that changed since is refused.

use std::hash::{DefaultHasher, Hash, Hasher};

use sentinel_datasource::{EnumStyle, ExportOptions, Format};
use serde_json::{Map, Value};

use super::Dashboard;

/// The versions of the rules in force: of every kind together, and of each kind.
pub(super) struct Versions {
    pub(super) all: String,
    pub(super) kinds: Map<String, Value>,
}

/// A version: 16 hex digits of a hash of the rules' canonical export (sentinel-golang's
/// JSON with Go's integers): the same for the same rules in a process, and in processes
/// built with the same Rust release (std's hasher may change between releases).
fn version_of(text: &str) -> String {
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    format!("{:016x}", h.finish())
}

impl Versions {
    /// The versions of the rules in force now.
    pub(super) fn now(d: &Dashboard) -> Result<Versions, String> {
        let text = d
            .all_kinds
            .export_with(
                Format::Json,
                ExportOptions::default().enums(EnumStyle::Integers),
            )
            .map_err(|e| e.to_string())?;
        let doc: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        let kinds = doc
            .as_object()
            .into_iter()
            .flatten()
            .map(|(kind, rules)| (kind.clone(), version_of(&rules.to_string()).into()))
            .collect();
        Ok(Versions {
            all: version_of(&text),
            kinds,
        })
    }

    /// The version of one kind (its section name), if the dashboard knows the kind.
    pub(super) fn of(&self, section: &str) -> Option<&str> {
        self.kinds.get(section).and_then(Value::as_str)
    }

    /// The `ETag` of all kinds, quoted.
    pub(super) fn etag(&self) -> String {
        format!("\"{}\"", self.all)
    }

    /// Whether `If-Match` (its header lines, read as one list) names the rules of `section`
    /// in force: `*` alone, or a tag that is the kind's version or all kinds' version,
    /// compared strongly as HTTP asks (a weak `W/"..."` tag never matches); tags may be
    /// written without their quotes.
    pub(super) fn matches(&self, section: &str, if_match: &[&str]) -> bool {
        if let [only] = if_match
            && only.trim() == "*"
        {
            return true;
        }
        if_match
            .iter()
            .flat_map(|line| line.split(','))
            .map(str::trim)
            .filter(|tag| !tag.starts_with("W/"))
            .map(|tag| {
                tag.strip_prefix('"')
                    .and_then(|t| t.strip_suffix('"'))
                    .unwrap_or(tag)
            })
            .any(|tag| tag == self.all || Some(tag) == self.of(section))
    }
}
