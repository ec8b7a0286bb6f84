//! Reading a document's bytes into trees, in its format.

use serde::Deserialize;
use serde_json::Value;

use crate::error::{UpdateError, clip};
use crate::format::{Format, without_bom};
use crate::tree::Tree;

impl Format {
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
}

/// One JSON value, and nothing after it.
fn read_json(bytes: &[u8]) -> Result<Tree, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let tree = Tree::deserialize(&mut de)?;
    de.end()?;
    Ok(tree)
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
