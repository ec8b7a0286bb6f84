//! The configuration: Lyft ratelimit YAML read into one matching tree per domain.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::proto::{Entry, Unit};

/// A configuration that could not be read. `origin` is the file (or what the text was
/// called), `path` where in the document the problem is (`descriptors[0].rate_limit.unit`,
/// `[1].domain` in a list of domains; empty for the whole document).
///
/// Displayed as ``<origin>: at `<path>`: <message>``, or `<origin>: <message>` for the
/// whole document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The file, or the name given to the text.
    pub origin: String,
    /// Where in the document.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.origin, self.message)
        } else {
            write!(f, "{}: at `{}`: {}", self.origin, self.path, self.message)
        }
    }
}

/// The YAML reader's message in this format's words (its own name the Rust types and
/// functions of the library).
fn plain(message: String) -> String {
    if message.contains("multiple YAML documents") {
        "more than one YAML document (`---`): write one domain per file, or a list of domains"
            .into()
    } else if message.contains("cannot deserialize null") {
        "null is not allowed here: give a value".into()
    } else if message.contains("invalid u32") {
        message.replace("invalid u32", "not a whole number from 0 to 4294967295")
    } else {
        message
    }
}

/// A limit: `requests_per_unit` per `unit`, with a burst tolerance of `burst` requests.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Limit {
    /// Requests allowed per unit (at least 1).
    pub requests_per_unit: u32,
    /// The unit (never [`Unit::Unknown`]).
    pub unit: Unit,
    /// Requests that may come at once: `requests_per_unit` unless the configuration sets
    /// `burst` (at least 1).
    pub burst: u32,
    /// The configured `name` (empty when none).
    pub name: String,
}

impl Limit {
    /// The length of one unit.
    pub fn unit_length(&self) -> Duration {
        unit_length(self.unit)
    }
}

/// The most requests per second a limit may allow: one per microsecond. Faster rates
/// are refused, as the buckets count time in whole nanoseconds per request.
pub const MAX_REQUESTS_PER_SECOND: u64 = 1_000_000;

/// Refuses `requests_per_unit` per `unit` when it exceeds [`MAX_REQUESTS_PER_SECOND`].
pub(crate) fn check_rate(requests_per_unit: u32, unit: Unit) -> Result<(), String> {
    let max = unit_length(unit).as_secs() * MAX_REQUESTS_PER_SECOND;
    if u64::from(requests_per_unit) > max {
        return Err(format!(
            "{requests_per_unit} per {} is faster than one request per microsecond \
             (at most {max})",
            format!("{unit:?}").to_ascii_lowercase()
        ));
    }
    Ok(())
}

/// The length of `unit`; zero for [`Unit::Unknown`].
pub(crate) fn unit_length(unit: Unit) -> Duration {
    Duration::from_secs(match unit {
        Unit::Unknown => 0,
        Unit::Second => 1,
        Unit::Minute => 60,
        Unit::Hour => 3600,
        Unit::Day => 86_400,
    })
}

/// What a configured path says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rule {
    /// A limit, enforced, or only counted in shadow mode.
    Limited { limit: Limit, shadow: bool },
    /// `unlimited: true`: always OK.
    Unlimited,
}

/// One configured descriptor level.
#[derive(Debug, Default)]
pub(crate) struct Node {
    /// The rule of the path ending here, if any.
    pub(crate) rule: Option<Rule>,
    /// `shadow_mode` of this level (also applied to an override sent in the request).
    pub(crate) shadow: bool,
    children: Branches,
}

/// The descriptors configured below one level, by key.
#[derive(Debug, Default)]
struct Branches(HashMap<String, KeyBranches>);

/// The descriptors of one key at one level.
#[derive(Debug, Default)]
struct KeyBranches {
    exact: HashMap<String, Node>,
    /// `value: prefix*`, longest prefix first.
    prefixes: Vec<(String, Node)>,
    /// The key without a value.
    any: Option<Node>,
}

impl KeyBranches {
    fn pick(&self, value: &str) -> Option<&Node> {
        self.exact
            .get(value)
            .or_else(|| {
                self.prefixes
                    .iter()
                    .find(|(p, _)| value.starts_with(p.as_str()))
                    .map(|(_, n)| n)
            })
            .or(self.any.as_ref())
    }
}

/// The rate limit configuration of every domain: what a
/// [`RateLimitService`](super::RateLimitService) enforces.
///
/// Read from the YAML of the reference (Lyft) service, one domain per document or a list
/// of domains; see the [module docs](super) for the format.
#[derive(Debug, Default)]
pub struct RlsConfig {
    domains: HashMap<String, Node>,
}

impl RlsConfig {
    /// Reads one YAML document: a domain (a mapping with `domain` and `descriptors`), or a
    /// list of them. `origin` names the text in errors (a file name).
    ///
    /// # Errors
    /// Invalid YAML, an unknown key, a key written twice, a missing or invalid value,
    /// `replaces`, a descriptor configured twice at one level, or a domain configured
    /// twice; the error names the place.
    pub fn from_yaml(text: &str, origin: &str) -> Result<RlsConfig, ConfigError> {
        let mut config = RlsConfig::default();
        config.add_yaml(text, origin)?;
        Ok(config)
    }

    /// Reads and merges files, each as [`from_yaml`](Self::from_yaml); a domain may be
    /// configured in one file only.
    ///
    /// # Errors
    /// A file that cannot be read, or any error of [`from_yaml`](Self::from_yaml).
    pub fn load<P: AsRef<Path>>(paths: &[P]) -> Result<RlsConfig, ConfigError> {
        let mut config = RlsConfig::default();
        for path in paths {
            let path = path.as_ref();
            let origin = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
                origin: origin.clone(),
                path: String::new(),
                message: format!("cannot read the file: {e}"),
            })?;
            config.add_yaml(&text, &origin)?;
        }
        Ok(config)
    }

    /// The configured domains, in no particular order.
    pub fn domains(&self) -> impl Iterator<Item = &str> {
        self.domains.keys().map(String::as_str)
    }

    fn add_yaml(&mut self, text: &str, origin: &str) -> Result<(), ConfigError> {
        let error = |path: String, message: String| ConfigError {
            origin: origin.to_string(),
            path,
            message,
        };
        let mut options = serde_saphyr::Options::default();
        // Derived structs then refuse a key written twice, and the path is known.
        options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
        // One line per error: the path and the line and column say where.
        options.with_snippet = false;
        let mut failed_at = None;
        let parsed = serde_saphyr::with_deserializer_from_str_with_options(text, options, |d| {
            serde_path_to_error::deserialize::<_, Document>(d).map_err(|e| {
                failed_at = Some(e.path().to_string());
                e.into_inner()
            })
        });
        let document = parsed.map_err(|e| {
            let mut path = failed_at.take().filter(|p| p != ".").unwrap_or_default();
            let message = plain(e.to_string());
            // serde names the struct of a field written twice; name the field.
            if let Some(field) = message
                .split_once("duplicate field `")
                .and_then(|(_, rest)| rest.split_once('`'))
                .map(|(field, _)| field)
            {
                path = if path.is_empty() {
                    field.to_string()
                } else {
                    format!("{path}.{field}")
                };
            }
            error(path, message)
        })?;
        let (docs, list) = match document {
            Document::One(d) => (vec![d], false),
            Document::Many(ds) => (ds, true),
        };
        for (i, doc) in docs.into_iter().enumerate() {
            let at = if list {
                format!("[{i}].")
            } else {
                String::new()
            };
            if doc.domain.is_empty() {
                return Err(error(format!("{at}domain"), "the domain is empty".into()));
            }
            if self.domains.contains_key(&doc.domain) {
                return Err(error(
                    format!("{at}domain"),
                    format!("domain `{}` is configured twice", doc.domain),
                ));
            }
            let mut root = Node::default();
            add_level(
                &mut root.children,
                doc.descriptors,
                &format!("{at}descriptors"),
            )
            .map_err(|(path, message)| error(path, message))?;
            self.domains.insert(doc.domain, root);
        }
        Ok(())
    }

    /// The configured node for `entries` in `domain`: the most specific branch at each
    /// level, all levels consumed (a shorter configured path never applies).
    pub(crate) fn find(&self, domain: &str, entries: &[Entry]) -> Option<&Node> {
        let mut node = self.domains.get(domain)?;
        for entry in entries {
            node = node.children.0.get(&entry.key)?.pick(&entry.value)?;
        }
        Some(node)
    }

    /// Whether `domain` is configured.
    pub(crate) fn has_domain(&self, domain: &str) -> bool {
        self.domains.contains_key(domain)
    }
}

/// A parse failure: (path, message).
type Refusal = (String, String);

fn add_level(branches: &mut Branches, docs: Vec<DescriptorDoc>, at: &str) -> Result<(), Refusal> {
    for (i, doc) in docs.into_iter().enumerate() {
        let at = format!("{at}[{i}]");
        if doc.replaces {
            return Err((
                format!("{at}.replaces"),
                "`replaces` is not supported by this service".into(),
            ));
        }
        if doc.key.is_empty() {
            return Err((format!("{at}.key"), "the key is empty".into()));
        }
        let mut node = Node {
            rule: doc
                .rate_limit
                .map(|r| r.into_rule(doc.shadow_mode, &format!("{at}.rate_limit")))
                .transpose()?,
            shadow: doc.shadow_mode,
            children: Branches::default(),
        };
        add_level(
            &mut node.children,
            doc.descriptors,
            &format!("{at}.descriptors"),
        )?;
        let key = doc.key;
        let twice = || {
            let value = doc
                .value
                .as_deref()
                .map_or(String::new(), |v| format!(" with value `{v}`"));
            (
                at.clone(),
                format!("key `{key}`{value} is configured twice at this level"),
            )
        };
        let slot = branches.0.entry(key.clone()).or_default();
        match doc.value.as_deref() {
            None => {
                if slot.any.is_some() {
                    return Err(twice());
                }
                slot.any = Some(node);
            }
            Some(v) => match v.strip_suffix('*') {
                Some(prefix) => {
                    if slot.prefixes.iter().any(|(p, _)| p == prefix) {
                        return Err(twice());
                    }
                    let at = slot
                        .prefixes
                        .partition_point(|(p, _)| p.len() >= prefix.len());
                    slot.prefixes.insert(at, (prefix.to_string(), node));
                }
                None => {
                    if slot.exact.contains_key(v) {
                        return Err(twice());
                    }
                    slot.exact.insert(v.to_string(), node);
                }
            },
        }
    }
    Ok(())
}

/// The top of a file: one domain, or a list.
enum Document {
    One(DomainDoc),
    Many(Vec<DomainDoc>),
}

impl<'de> Deserialize<'de> for Document {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Document;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a domain (`domain`, `descriptors`) or a list of domains")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Document, A::Error> {
                DomainDoc::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(Document::One)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Document, A::Error> {
                Vec::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Document::Many)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DomainDoc {
    domain: String,
    #[serde(default)]
    descriptors: Vec<DescriptorDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DescriptorDoc {
    key: String,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    rate_limit: Option<RateLimitDoc>,
    #[serde(default)]
    descriptors: Vec<DescriptorDoc>,
    #[serde(default)]
    shadow_mode: bool,
    /// Accepted for compatibility; this service's metrics do not depend on it.
    #[serde(default, rename = "detailed_metric")]
    _detailed_metric: bool,
    /// Present at all (even `null`): refused.
    #[serde(default, deserialize_with = "present")]
    replaces: bool,
}

/// `true` for any value, `null` included (a field absent is `false` by default).
fn present<'de, D: de::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(d).map(|_| true)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitDoc {
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    requests_per_unit: Option<u32>,
    #[serde(default)]
    burst: Option<u32>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    unlimited: bool,
}

impl RateLimitDoc {
    fn into_rule(self, shadow: bool, at: &str) -> Result<Rule, Refusal> {
        if self.unlimited {
            if self.unit.is_some() || self.requests_per_unit.is_some() || self.burst.is_some() {
                return Err((
                    at.to_string(),
                    "an unlimited rate limit takes no unit, requests_per_unit or burst".into(),
                ));
            }
            return Ok(Rule::Unlimited);
        }
        let unit_text = self.unit.ok_or_else(|| {
            (
                format!("{at}.unit"),
                "missing (second, minute, hour or day)".to_string(),
            )
        })?;
        let unit = parse_unit(&unit_text).ok_or_else(|| {
            (
                format!("{at}.unit"),
                format!("`{unit_text}` is not a unit (second, minute, hour or day)"),
            )
        })?;
        let requests_per_unit = match self.requests_per_unit {
            None => {
                return Err((format!("{at}.requests_per_unit"), "missing".into()));
            }
            Some(0) => {
                return Err((
                    format!("{at}.requests_per_unit"),
                    "must be at least 1 (write `unlimited: true` for no limit)".into(),
                ));
            }
            Some(n) => n,
        };
        check_rate(requests_per_unit, unit).map_err(|m| (format!("{at}.requests_per_unit"), m))?;
        let burst = match self.burst {
            Some(0) => return Err((format!("{at}.burst"), "must be at least 1".into())),
            Some(b) => b,
            None => requests_per_unit,
        };
        Ok(Rule::Limited {
            limit: Limit {
                requests_per_unit,
                unit,
                burst,
                name: self.name.unwrap_or_default(),
            },
            shadow,
        })
    }
}

fn parse_unit(text: &str) -> Option<Unit> {
    [
        ("second", Unit::Second),
        ("minute", Unit::Minute),
        ("hour", Unit::Hour),
        ("day", Unit::Day),
    ]
    .into_iter()
    .find(|(name, _)| text.eq_ignore_ascii_case(name))
    .map(|(_, unit)| unit)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn entries(pairs: &[(&str, &str)]) -> Vec<Entry> {
        pairs
            .iter()
            .map(|(k, v)| Entry {
                key: (*k).into(),
                value: (*v).into(),
            })
            .collect()
    }

    /// The requests per unit of the limit `pairs` find, if any.
    fn limit_of(config: &RlsConfig, pairs: &[(&str, &str)]) -> Option<u32> {
        match config.find("shop", &entries(pairs))?.rule.as_ref()? {
            Rule::Limited { limit, .. } => Some(limit.requests_per_unit),
            Rule::Unlimited => Some(0),
        }
    }

    #[test]
    fn bad_configurations_are_refused_naming_the_path() {
        for (text, path, says) in [
            (
                "domain: shop\ndescriptors:\n  - key: user\n    rate_limit: {unit: second, requests_per_unit: 3, unitt: 1}\n",
                "descriptors[0].rate_limit.unitt",
                "unknown field `unitt`",
            ),
            (
                "domain: shop\ndescriptors:\n  - key: user\n    key: x\n",
                "descriptors[0].key",
                "duplicate field `key`",
            ),
            (
                "domain: shop\ndomain: x\n",
                "domain",
                "duplicate field `domain`",
            ),
            (
                "- domain: a\n- domain: b\n  descriptors:\n    - key: user\n      bogus: 1\n",
                "[1].descriptors[0].bogus",
                "unknown field `bogus`",
            ),
            (
                "domain: shop\ndescriptors:\n  - key: a\n    descriptors:\n      - key: b\n        replaces: [{name: x}]\n",
                "descriptors[0].descriptors[0].replaces",
                "`replaces` is not supported",
            ),
            (
                "domain: null\n",
                "domain",
                "null is not allowed here: give a value",
            ),
            (
                "domain: a\n---\ndomain: b\n",
                "",
                "more than one YAML document (`---`): write one domain per file",
            ),
            (
                "domain: shop\ndescriptors:\n  - key: user\n    replaces: null\n",
                "descriptors[0].replaces",
                "`replaces` is not supported",
            ),
            (
                "domain: shop\ndescriptors:\n  - key: user\n    rate_limit: {unit: second, requests_per_unit: 1000001}\n",
                "descriptors[0].rate_limit.requests_per_unit",
                "1000001 per second is faster than one request per microsecond (at most 1000000)",
            ),
            (
                "domain: shop\ndescriptors:\n  - key: user\n    rate_limit: {unit: week, requests_per_unit: 3}\n",
                "descriptors[0].rate_limit.unit",
                "`week` is not a unit",
            ),
            (
                "domain: shop\ndescriptors:\n  - key: user\n    rate_limit: {unit: second}\n",
                "descriptors[0].rate_limit.requests_per_unit",
                "missing",
            ),
            (
                "domain: shop\ndescriptors:\n  - key: user\n    rate_limit: {unit: second, requests_per_unit: 0}\n",
                "descriptors[0].rate_limit.requests_per_unit",
                "at least 1",
            ),
            (
                "domain: shop\ndescriptors:\n  - key: user\n    rate_limit: {unit: second, requests_per_unit: -3}\n",
                "descriptors[0].rate_limit.requests_per_unit",
                "not a whole number from 0 to 4294967295",
            ),
            (
                "domain: shop\ndescriptors:\n  - key: user\n    rate_limit: {unlimited: true, unit: second}\n",
                "descriptors[0].rate_limit",
                "takes no unit",
            ),
            (
                "domain: shop\ndescriptors:\n  - key: user\n    rate_limit: {unit: second, requests_per_unit: 3, burst: 0}\n",
                "descriptors[0].rate_limit.burst",
                "at least 1",
            ),
            (
                "domain: shop\ndescriptors:\n  - {key: user, value: a}\n  - {key: user, value: a}\n",
                "descriptors[1]",
                "key `user` with value `a` is configured twice",
            ),
            (
                "domain: shop\ndescriptors:\n  - {key: user, value: a*}\n  - {key: user, value: a*}\n",
                "descriptors[1]",
                "configured twice",
            ),
            (
                "domain: shop\ndescriptors:\n  - {key: user}\n  - {key: user}\n",
                "descriptors[1]",
                "key `user` is configured twice",
            ),
            (
                "domain: shop\ndescriptors:\n  - {value: a}\n",
                "descriptors[0]",
                "missing field `key`",
            ),
            ("domain: ''\n", "domain", "empty"),
            (
                "- domain: a\n- domain: a\n",
                "[1].domain",
                "domain `a` is configured twice",
            ),
            ("- a\n", "[0]", "mapping"),
        ] {
            let e = RlsConfig::from_yaml(text, "rls.yaml").expect_err(text);
            assert_eq!(e.origin, "rls.yaml");
            assert_eq!(e.path, path, "{text}: {e}");
            assert!(e.message.contains(says), "{text}: {e}");
            assert!(!e.message.contains('\n'), "one line: {e}");
            let place = if path.is_empty() {
                String::new()
            } else {
                format!("at `{path}`: ")
            };
            assert!(
                e.to_string().starts_with(&format!("rls.yaml: {place}")),
                "{e}"
            );
            assert!(!e.to_string().contains("at ``"), "{e}");
        }
        let e = RlsConfig::load(&["/nonexistent/rls.yaml"]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/nonexistent/rls.yaml: cannot read the file: "),
            "{e}"
        );
    }

    #[test]
    fn a_domain_in_two_files_is_refused_and_units_read_in_any_case() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.yaml");
        let b = dir.path().join("b.yaml");
        std::fs::write(
            &a,
            "domain: shop\ndescriptors: [{key: user, rate_limit: {unit: SECOND, requests_per_unit: 3}}]\n",
        )
        .unwrap();
        std::fs::write(
            &b,
            "domain: mail\ndescriptors: [{key: to, rate_limit: {unit: Day, requests_per_unit: 9}}]\n",
        )
        .unwrap();
        let both = RlsConfig::load(&[&a, &b]).unwrap();
        let mut domains: Vec<&str> = both.domains().collect();
        domains.sort();
        assert_eq!(domains, ["mail", "shop"]);
        assert_eq!(limit_of(&both, &[("user", "x")]), Some(3));
        let e = RlsConfig::load(&[&a, &a]).unwrap_err();
        assert_eq!(e.origin, a.display().to_string());
        assert!(
            e.message.contains("domain `shop` is configured twice"),
            "{e}"
        );
        let e = RlsConfig::load(&[dir.path().join("missing.yaml")]).unwrap_err();
        assert!(e.message.contains("cannot read the file"), "{e}");
    }

    #[test]
    fn the_most_specific_path_of_the_same_depth_matches() {
        let config = RlsConfig::from_yaml(
            r"
domain: shop
descriptors:
  - key: user
    rate_limit: {unit: second, requests_per_unit: 1}
  - key: user
    value: bot-*
    rate_limit: {unit: second, requests_per_unit: 2}
  - key: user
    value: bot-big-*
    rate_limit: {unit: second, requests_per_unit: 3}
  - key: user
    value: bot-1
    rate_limit: {unit: second, requests_per_unit: 4}
  - key: user
    value: admin
    rate_limit: {unlimited: true}
  - key: path
    value: /checkout
    descriptors:
      - key: user
        rate_limit: {unit: minute, requests_per_unit: 5}
  - key: path
    descriptors:
      - key: user
        value: carol
        rate_limit: {unit: minute, requests_per_unit: 6}
  - key: path
    value: /nested
    descriptors:
      - key: path
        value: /nested
        rate_limit: {unit: minute, requests_per_unit: 7}
",
            "rls.yaml",
        )
        .unwrap();
        for (pairs, want) in [
            (&[("user", "alice")][..], Some(1)),
            (&[("user", "")][..], Some(1)),
            (&[("user", "bot-9")][..], Some(2)),
            (&[("user", "bot-big-1")][..], Some(3)),
            (&[("user", "bot-1")][..], Some(4)),
            (&[("user", "admin")][..], Some(0)),
            (&[("user", "ünïcødé ✓")][..], Some(1)),
            (&[("path", "/checkout"), ("user", "alice")][..], Some(5)),
            // Depth must match: the shorter path has no limit, a longer descriptor none.
            (&[("path", "/checkout")][..], None),
            (&[("user", "alice"), ("path", "/checkout")][..], None),
            // The key-only branch of `path`.
            (&[("path", "/other"), ("user", "carol")][..], Some(6)),
            (&[("path", "/other"), ("user", "dave")][..], None),
            // Once `/checkout` matched, no fall back to the key-only branch.
            (&[("path", "/checkout"), ("user", "carol")][..], Some(5)),
            (&[("path", "/nested"), ("user", "carol")][..], None),
            // The same key at two levels.
            (&[("path", "/nested"), ("path", "/nested")][..], Some(7)),
            (&[("other", "x")][..], None),
        ] {
            assert_eq!(limit_of(&config, pairs), want, "{pairs:?}");
        }
        assert!(config.find("mail", &entries(&[("user", "a")])).is_none());
    }

    /// A generated descriptor tree: (key, value, limit, children).
    #[derive(Debug, Clone)]
    struct Gen {
        key: String,
        value: Option<String>,
        limit: Option<u32>,
        children: Vec<Gen>,
    }

    fn tree() -> impl Strategy<Value = Vec<Gen>> {
        let leaf = (
            "[a-c]",
            proptest::option::of("[x-z]{1,2}"),
            proptest::option::of(1u32..1000),
        )
            .prop_map(|(key, value, limit)| Gen {
                key,
                value,
                limit,
                children: vec![],
            });
        let node = leaf.prop_recursive(3, 24, 3, |inner| {
            (
                "[a-c]",
                proptest::option::of("[x-z]{1,2}"),
                proptest::option::of(1u32..1000),
                proptest::collection::vec(inner, 0..3),
            )
                .prop_map(|(key, value, limit, children)| Gen {
                    key,
                    value,
                    limit,
                    children: dedup(children),
                })
        });
        proptest::collection::vec(node, 0..4).prop_map(dedup)
    }

    /// Drops siblings configured twice (same key and value).
    fn dedup(mut level: Vec<Gen>) -> Vec<Gen> {
        let mut seen = std::collections::HashSet::new();
        level.retain(|g| seen.insert((g.key.clone(), g.value.clone())));
        level
    }

    fn render(level: &[Gen], indent: usize, out: &mut String, bogus_at: Option<&mut usize>) {
        let pad = " ".repeat(indent);
        let mut bogus_at = bogus_at;
        for g in level {
            out.push_str(&format!("{pad}- key: {}\n", g.key));
            if let Some(v) = &g.value {
                out.push_str(&format!("{pad}  value: {v}\n"));
            }
            if let Some(n) = g.limit {
                out.push_str(&format!(
                    "{pad}  rate_limit:\n{pad}    unit: minute\n{pad}    requests_per_unit: {n}\n"
                ));
            }
            if let Some(countdown) = bogus_at.as_deref_mut() {
                if *countdown == 0 {
                    out.push_str(&format!("{pad}  bogus: 1\n"));
                }
                *countdown = countdown.wrapping_sub(1);
            }
            if !g.children.is_empty() {
                out.push_str(&format!("{pad}  descriptors:\n"));
                render(&g.children, indent + 4, out, bogus_at.as_deref_mut());
            }
        }
    }

    /// A configured path: its entries, its limit, and where it is in the YAML.
    type Configured = (Vec<(String, String)>, Option<u32>, String);

    /// Every configured path (key-only levels with the value "free"), in the order
    /// `render` writes them.
    fn paths(level: &[Gen], above: &[(String, String)], at: &str, out: &mut Vec<Configured>) {
        for (i, g) in level.iter().enumerate() {
            let mut here = above.to_vec();
            here.push((
                g.key.clone(),
                g.value.clone().unwrap_or_else(|| "free".into()),
            ));
            let at = format!("{at}[{i}]");
            out.push((here.clone(), g.limit, at.clone()));
            paths(&g.children, &here, &format!("{at}.descriptors"), out);
        }
    }

    proptest! {
        #[test]
        fn generated_configurations_read_back_and_an_unknown_key_is_named(level in tree(), pick in 0usize..64) {
            let mut text = String::from("domain: shop\ndescriptors:\n");
            render(&level, 2, &mut text, None);
            if level.is_empty() {
                text = "domain: shop\n".into();
            }
            let config = RlsConfig::from_yaml(&text, "gen.yaml").unwrap();
            let mut all = Vec::new();
            paths(&level, &[], "descriptors", &mut all);
            for (pairs, limit, _) in &all {
                let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                // Exact values find their own node; a key-only node is found by a value no
                // sibling names ("free").
                prop_assert_eq!(limit_of(&config, &pairs), *limit, "{:?}\n{}", pairs, text);
            }
            if !all.is_empty() {
                let target = pick % all.len();
                let mut countdown = target;
                let mut bad = String::from("domain: shop\ndescriptors:\n");
                render(&level, 2, &mut bad, Some(&mut countdown));
                let e = RlsConfig::from_yaml(&bad, "gen.yaml").unwrap_err();
                prop_assert_eq!(e.path, format!("{}.bogus", all[target].2), "{}", bad);
            }
        }
    }
}
