//! A document read into a tree, with every key written twice refused.
//!
//! serde_json's `Value` keeps the last of two equal keys (`{"threshold": 10, "threshold":
//! 1000}` reads as 1000) and YAML parsers differ; a rule file with a key twice is a mistake
//! whichever value was meant. [`Tree`] builds the same `Value` but fails on the second
//! occurrence of a key in one object or mapping, at any depth, naming the key and where it
//! is (`[0].threshold`, `flow[2].resource`, `spec.rules[0].threshold`). Both formats read
//! through it, so the check is the same for every source.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Number, Value};

use crate::error::clip;

/// A document tree in which no mapping has a key twice.
pub(crate) struct Tree(pub Value);

impl<'de> Deserialize<'de> for Tree {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Node { at: &At::Root }.deserialize(deserializer).map(Tree)
    }
}

/// Where a node is in the document, as a chain of keys and indexes up to the root.
#[derive(Clone, Copy)]
enum At<'a> {
    Root,
    Key(&'a At<'a>, &'a str),
    Index(&'a At<'a>, usize),
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Root => Ok(()),
            At::Key(At::Root, key) => f.write_str(&clip(key)),
            At::Key(parent, key) => write!(f, "{parent}.{}", clip(key)),
            At::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

/// Reads the node at `at`.
#[derive(Clone, Copy)]
struct Node<'a> {
    at: &'a At<'a>,
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON or YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Number::deserialize(de::value::I128Deserializer::<E>::new(v)).map(Value::Number)
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        Number::deserialize(de::value::U128Deserializer::<E>::new(v)).map(Value::Number)
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // As serde_json: a non-finite number has no JSON form.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        loop {
            let at = At::Index(self.at, items.len());
            match seq.next_element_seed(Node { at: &at })? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let slot = match entries.entry(key) {
                Entry::Vacant(slot) => slot,
                Entry::Occupied(taken) => {
                    let key = taken.key();
                    return Err(de::Error::custom(format_args!(
                        "key `{}` is written twice at `{}` (a key may appear once in a mapping)",
                        clip(key),
                        At::Key(self.at, key)
                    )));
                }
            };
            let value = map.next_value_seed(Node {
                at: &At::Key(self.at, slot.key()),
            })?;
            slot.insert(value);
        }
        Ok(Value::Object(entries))
    }
}

#[cfg(test)]
mod tests {
    use crate::error::UpdateError;
    use crate::format::Format;

    /// The message of the syntax error `text` gives in `format`.
    fn refusal(format: Format, text: &str) -> String {
        match format.read(text.as_bytes()) {
            Err(UpdateError::Syntax { message, .. }) => message,
            other => panic!("{format} {text:?}: {other:?}"),
        }
    }

    #[test]
    fn a_key_twice_is_refused_at_any_depth_in_both_formats_naming_where() {
        for (format, text, key, at) in [
            (
                Format::Json,
                r#"[{"resource": "api", "threshold": 10, "threshold": 1000}]"#,
                "threshold",
                "[0].threshold",
            ),
            (
                Format::Yaml,
                "- resource: api\n  threshold: 10\n  threshold: 1000\n",
                "threshold",
                "[0].threshold",
            ),
            (
                Format::Json,
                r#"{"flow": [{}, {}, {"resource": "a", "resource": "b"}]}"#,
                "resource",
                "flow[2].resource",
            ),
            (
                Format::Yaml,
                "flow: []\nisolation: []\nflow: [{resource: a, threshold: 1}]\n",
                "flow",
                "flow",
            ),
            (
                Format::Yaml,
                "kind: FlowRules\nspec:\n  rules:\n  - {resource: a, threshold: 1, threshold: 2}\n",
                "threshold",
                "spec.rules[0].threshold",
            ),
            (
                Format::Json,
                r#"[{"resource": "h", "specificItems": [{"valStr": "a", "valStr": "b"}]}]"#,
                "valStr",
                "[0].specificItems[0].valStr",
            ),
            (
                Format::Yaml,
                "---\n- {resource: a, threshold: 1}\n---\n- {resource: b, x: 1, x: 2}\n",
                "x",
                "[0].x",
            ),
        ] {
            let message = refusal(format, text);
            assert!(
                message.contains(&format!("key `{key}` is written twice at `{at}`")),
                "{format} {text:?}: {message}"
            );
        }
    }

    #[test]
    fn equal_keys_in_different_mappings_are_fine() {
        let text = r#"[{"resource": "a", "threshold": 1}, {"resource": "b", "threshold": 2}]"#;
        assert!(Format::Json.read(text.as_bytes()).is_ok());
    }

    #[test]
    fn a_huge_key_written_twice_is_not_echoed_whole() {
        let key = "k".repeat(1 << 20);
        let text = format!(r#"{{"{key}": 1, "{key}": 2}}"#);
        let message = refusal(Format::Json, &text);
        assert!(message.len() < 1000, "{} bytes", message.len());
        assert!(message.contains("bytes left out"), "{message}");
        assert!(message.contains("at line 1 column "), "{message}");
    }
}
