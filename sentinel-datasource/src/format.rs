//! Document formats: JSON and YAML, read into one tree.

use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::error::{UpdateError, clip};
use crate::tree::Tree;

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

    /// Reads `bytes` into its documents' trees: one for JSON, one per `---` document for
    /// YAML (empty YAML documents are left out). No document (no bytes, only whitespace or
    /// comments, `null`) is [`UpdateError::Empty`], never an empty rule list. A key written
    /// twice in a mapping is a syntax error naming the key and where it is.
    pub(crate) fn read(self, bytes: &[u8]) -> Result<Vec<Value>, UpdateError> {
        let format = self.resolve(bytes);
        let documents = match format {
            // The message without its snippet of the document: one line, and no long
            // stretch of the document echoed.
            Format::Yaml => {
                serde_saphyr::from_slice_multiple_with_options::<Tree>(bytes, yaml_options(bytes))
                    .map_err(|e| e.without_snippet().to_string())
            }
            _ if without_bom(bytes).iter().all(u8::is_ascii_whitespace) => Ok(Vec::new()),
            _ => read_json(without_bom(bytes))
                .map(|tree| vec![tree])
                .map_err(|e| e.to_string()),
        }
        .map_err(|message| UpdateError::Syntax {
            format,
            message: clip(&message).into_owned(),
        })?;
        let documents: Vec<Value> = documents
            .into_iter()
            .map(|Tree(doc)| doc)
            .filter(|doc| !doc.is_null())
            .collect();
        if documents.is_empty() {
            return Err(UpdateError::Empty);
        }
        Ok(documents)
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

/// One JSON value, and nothing after it.
fn read_json(bytes: &[u8]) -> Result<Tree, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let tree = Tree::deserialize(&mut de)?;
    de.end()?;
    Ok(tree)
}

/// Text without its UTF-8 byte-order mark (which some editors write; serde_json does not
/// accept it).
fn without_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// serde-saphyr's options with its node and event budgets grown with the input (its
/// defaults, 250,000 nodes, stop at about 8,000 fully written flow rules). A node takes at
/// least a byte of text unless it is an alias, and aliases keep their own default limits,
/// so the budget still stops documents that expand. Duplicate keys are passed on to
/// [`Tree`], which refuses them naming where they are, as for JSON.
fn yaml_options(bytes: &[u8]) -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_nodes = budget.max_nodes.max(2 * bytes.len());
    budget.max_events = budget.max_events.max(4 * bytes.len());
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
    options
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
        let empty_list = Ok(vec![Value::Array(vec![])]);
        assert_eq!(Format::Json.read(b"[]"), empty_list);
        assert_eq!(Format::Json.read(b"\xEF\xBB\xBF[]"), empty_list);
        assert_eq!(Format::Yaml.read(b"[]"), empty_list);
        assert_eq!(Format::Yaml.read(b"---\n---\n[]\n---\n"), empty_list);
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
    fn non_utf8_is_a_syntax_error() {
        let garbage = [b'-', b' ', 0x80, 0xc3, b'\n'];
        for f in [Format::Json, Format::Yaml] {
            assert!(matches!(f.read(&garbage), Err(UpdateError::Syntax { .. })));
        }
    }
}
