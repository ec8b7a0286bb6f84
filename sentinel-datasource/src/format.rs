//! Document formats: JSON and YAML, read into one tree.

use std::fmt;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::UpdateError;

/// The format of a rule document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// Decide from the content: JSON if it starts with `[` or `{`, YAML otherwise.
    #[default]
    Auto,
    /// JSON.
    Json,
    /// YAML (1.2, read with serde-saphyr).
    Yaml,
}

impl Format {
    /// The format a file name implies: `.json` is JSON, `.yaml` and `.yml` are YAML, anything
    /// else is [`Format::Auto`].
    ///
    /// ```
    /// use sentinel_datasource::Format;
    /// assert_eq!(Format::from_path("rules/flow.yml".as_ref()), Format::Yaml);
    /// assert_eq!(Format::from_path("rules/flow".as_ref()), Format::Auto);
    /// ```
    pub fn from_path(path: &Path) -> Format {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext.eq_ignore_ascii_case("json") {
            Format::Json
        } else if ext.eq_ignore_ascii_case("yaml") || ext.eq_ignore_ascii_case("yml") {
            Format::Yaml
        } else {
            Format::Auto
        }
    }

    /// This format, with [`Format::Auto`] resolved from the content.
    pub fn resolve(self, bytes: &[u8]) -> Format {
        match self {
            Format::Auto => match without_bom(bytes).iter().find(|b| !b.is_ascii_whitespace()) {
                Some(b'[' | b'{') => Format::Json,
                _ => Format::Yaml,
            },
            f => f,
        }
    }

    /// Reads `bytes` into a tree. Empty content (no bytes, only whitespace or comments,
    /// `null`) is [`UpdateError::Empty`], never an empty rule list.
    pub(crate) fn read(self, bytes: &[u8]) -> Result<Value, UpdateError> {
        let format = self.resolve(bytes);
        let value = match format {
            Format::Yaml => {
                serde_saphyr::from_slice_with_options::<Value>(bytes, yaml_options(bytes))
                    .map_err(|e| e.to_string())
            }
            _ if without_bom(bytes).iter().all(u8::is_ascii_whitespace) => Ok(Value::Null),
            _ => serde_json::from_slice::<Value>(without_bom(bytes)).map_err(|e| e.to_string()),
        }
        .map_err(|message| UpdateError::Syntax { format, message })?;
        if value.is_null() {
            return Err(UpdateError::Empty);
        }
        Ok(value)
    }

    /// Whether the document is a plain list (JSON `[`, YAML `-` or `[` first); `self` is a
    /// resolved format.
    pub(crate) fn starts_with_list(self, bytes: &[u8]) -> bool {
        match self {
            Format::Yaml => yaml_starts_with_list(bytes),
            _ => without_bom(bytes)
                .iter()
                .find(|b| !b.is_ascii_whitespace())
                .is_some_and(|b| *b == b'['),
        }
    }

    /// Reads `bytes` straight into `T` (no intermediate tree), telling `unknown` about
    /// every field `T` does not have; `None` on any error. `self` is a resolved format.
    pub(crate) fn read_typed<T: DeserializeOwned>(
        self,
        bytes: &[u8],
        mut unknown: impl FnMut(serde_ignored::Path<'_>),
    ) -> Option<T> {
        match self {
            Format::Yaml => serde_saphyr::with_deserializer_from_slice_with_options(
                bytes,
                yaml_options(bytes),
                |de| serde_ignored::deserialize(de, &mut unknown),
            )
            .ok(),
            _ => {
                let mut de = serde_json::Deserializer::from_slice(without_bom(bytes));
                let value = serde_ignored::deserialize(&mut de, &mut unknown).ok()?;
                de.end().ok().map(|()| value)
            }
        }
    }

    /// Writes a tree in this format ([`Format::Auto`] writes YAML).
    pub(crate) fn write(self, value: &Value) -> Result<String, String> {
        match self {
            Format::Json => serde_json::to_string_pretty(value)
                .map(|mut s| {
                    s.push('\n');
                    s
                })
                .map_err(|e| e.to_string()),
            Format::Yaml | Format::Auto => {
                serde_saphyr::to_string(value).map_err(|e| e.to_string())
            }
        }
    }
}

/// Text without its UTF-8 byte-order mark (which some editors write; serde_json does not
/// accept it).
fn without_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// serde-saphyr's options with its node and event budgets grown with the input (its
/// defaults, 250,000 nodes, stop at about 8,000 fully written flow rules). A node takes at
/// least a byte of text unless it is an alias, and aliases keep their own default limits,
/// so the budget still stops documents that expand.
fn yaml_options(bytes: &[u8]) -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_nodes = budget.max_nodes.max(2 * bytes.len());
    budget.max_events = budget.max_events.max(4 * bytes.len());
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options
}

/// Whether a YAML document's first node is a sequence (a plain list of rules): its first
/// line that is not blank, a comment, a directive or `---` starts with `-` or `[`.
fn yaml_starts_with_list(bytes: &[u8]) -> bool {
    without_bom(bytes)
        .split(|b| *b == b'\n')
        .map(|line| line.trim_ascii())
        .find(|line| {
            !(line.is_empty()
                || line.starts_with(b"#")
                || line.starts_with(b"%")
                || line.starts_with(b"---"))
        })
        .is_some_and(|line| line.starts_with(b"-") || line.starts_with(b"["))
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Auto => "JSON or YAML",
            Format::Json => "JSON",
            Format::Yaml => "YAML",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_looks_at_the_first_character() {
        assert_eq!(Format::Auto.resolve(b"  \n[{}]"), Format::Json);
        assert_eq!(Format::Auto.resolve(b"\xEF\xBB\xBF{}"), Format::Json);
        assert_eq!(Format::Auto.resolve(b"- resource: a"), Format::Yaml);
        assert_eq!(Format::Auto.resolve(b""), Format::Yaml);
        assert_eq!(Format::Json.resolve(b"- a"), Format::Json);
    }

    #[test]
    fn empty_content_is_not_an_empty_list() {
        for (format, text) in [
            (Format::Json, ""),
            (Format::Json, " \n\t"),
            (Format::Json, "null"),
            (Format::Yaml, ""),
            (Format::Yaml, "# all rules commented out\n"),
            (Format::Yaml, "~"),
            (Format::Auto, ""),
        ] {
            assert_eq!(
                format.read(text.as_bytes()),
                Err(UpdateError::Empty),
                "{format:?} {text:?}"
            );
        }
        assert_eq!(Format::Json.read(b"[]"), Ok(Value::Array(vec![])));
        assert_eq!(
            Format::Json.read(b"\xEF\xBB\xBF[]"),
            Ok(Value::Array(vec![]))
        );
        assert_eq!(Format::Yaml.read(b"[]"), Ok(Value::Array(vec![])));
    }

    #[test]
    fn syntax_errors_name_the_format_and_position() {
        let e = Format::Json.read(b"[{\"resource\": }]").unwrap_err();
        let UpdateError::Syntax { format, message } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(*format, Format::Json);
        assert!(message.contains("column"), "{message}");
        let e = Format::Yaml.read(b"a: [1, 2").unwrap_err();
        assert!(e.to_string().starts_with("not valid YAML"), "{e}");
        assert!(e.to_string().contains("line 1"), "{e}");
    }

    #[test]
    fn large_yaml_documents_fit_the_budget_and_expanding_ones_do_not() {
        // 300,000 nodes: over serde-saphyr's default budget of 250,000.
        let big = "- {a: 1, b: 2, c: 3, d: 4, e: 5}\n".repeat(30_000);
        assert!(Format::Yaml.read(big.as_bytes()).is_ok());
        let mut laughs = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for (prev, name) in "abcdefgh".chars().zip("bcdefghi".chars()) {
            let refs = vec![format!("*{prev}"); 10].join(", ");
            laughs.push_str(&format!("{name}: &{name} [{refs}]\n"));
        }
        let e = Format::Yaml.read(laughs.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("budget"), "{e}");
    }

    #[test]
    fn a_yaml_list_is_recognised_by_its_first_line() {
        assert!(yaml_starts_with_list(b"# rules\n\n---\n- resource: a\n"));
        assert!(yaml_starts_with_list(b"  [{resource: a}]"));
        assert!(yaml_starts_with_list(b"\xEF\xBB\xBF- resource: a\n"));
        assert!(!yaml_starts_with_list(b"flow:\n  - resource: a\n"));
        assert!(!yaml_starts_with_list(b"apiVersion: v1\n"));
        assert!(!yaml_starts_with_list(b"# nothing\n"));
    }

    #[test]
    fn non_utf8_is_a_syntax_error() {
        let garbage = [b'-', b' ', 0x80, 0xc3, b'\n'];
        for f in [Format::Json, Format::Yaml] {
            assert!(matches!(f.read(&garbage), Err(UpdateError::Syntax { .. })));
        }
    }
}
