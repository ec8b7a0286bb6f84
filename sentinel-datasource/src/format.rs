//! Document formats: JSON and YAML (reading them is `read`'s).

use std::fmt;
use std::path::Path;

use serde_json::Value;

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
pub(crate) fn without_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
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
