//! The hot-parameter rule: data, serde (sentinel-golang's JSON names, `specificItems` in
//! Go's `{valKind, valStr, threshold}` form) and validation.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::param::ParamValue;
use crate::rules::go_enum::go_enum;
use crate::rules::{FieldError, range};
pub use crate::shaping::ControlBehavior;

go_enum! {
    /// What a hot-parameter rule limits per value.
    pub enum MetricType {
        /// Entries in flight per value (the JSON zero value, as in Go).
        #[default]
        Concurrency = 0 => ["Concurrency"],
        /// Entries per `durationInSec` per value.
        Qps = 1 => ["QPS", "Qps"],
    }
}

/// The names of the value kinds, by `valKind` code (0 to 3), then the kind of bytes, which
/// documents cannot write.
pub(super) const KIND_NAMES: [&str; 5] = ["Int", "String", "Bool", "Float64", "Bytes"];

/// The kind of a value: its `valKind` code, or 4 for bytes.
pub(super) fn kind_of(value: &ParamValue) -> usize {
    match value {
        ParamValue::Int(_) | ParamValue::BigUint(_) => 0,
        ParamValue::Str(_) => 1,
        ParamValue::Bool(_) => 2,
        ParamValue::Float(_) => 3,
        ParamValue::Bytes(_) => 4,
    }
}

/// What the `valKind` codes mean, for error messages.
const KINDS_EXPECTED: &str = "expected 0 (Int), 1 (String), 2 (Bool) or 3 (Float64)";

/// Default LRU capacity of a concurrency rule.
pub const DEFAULT_CONCURRENCY_CAPACITY: usize = 4000;

/// The most values one rule may track (`paramsMaxCapacity`).
pub const MAX_CAPACITY: i64 = 1_000_000;

/// A limit per argument value of one resource.
///
/// # Specific items and value kinds
///
/// `specificItems` give particular values their own threshold. A value matches an item
/// only if it has the item's kind as well as its text: the integer 42 and the string
/// `"42"` are different values. In documents each item names its kind with `valKind`, as
/// sentinel-golang's integer or by name (any case, with or without a `Kind` prefix):
///
/// | `valKind` | Name                 | Matches                                          |
/// |-----------|----------------------|--------------------------------------------------|
/// | 0         | `Int`                | integers (`.arg(42)`, any integer type)          |
/// | 1         | `String`             | strings (`.arg("42")`, request text by default)  |
/// | 2         | `Bool`               | `true` / `false`                                 |
/// | 3         | `Float64` (`Float`)  | floating-point numbers                           |
///
/// `valStr` is the value written as text; a `valStr` that is not of its kind is an error
/// naming the item (`specificItems[1].valStr: "abc" is not an Int (valKind 0)`).
///
/// Values taken from HTTP requests (path parameters, headers, query values in
/// sentinel-adapters) are strings unless the argument asks for integers (`Arg::integer`
/// there): write their items with `valKind: 1`, or make the argument produce integers
/// for `valKind: 0`. When a value arrives that could be written as an item's kind but is
/// of another kind (the string `"42"` for items of kind Int), the rule warns once through
/// `tracing`; such values get the rule's `threshold`.
///
/// ```
/// use sentinel_core::ParamValue;
/// use sentinel_core::hotspot::{HotspotRule, MetricType};
/// let r: HotspotRule = serde_json::from_str(r#"{
///   "resource": "GET /items/{id}", "metricType": 1, "paramIndex": 0, "threshold": 50,
///   "specificItems": [{"valKind": 0, "valStr": "42", "threshold": 5}]
/// }"#).unwrap();
/// assert_eq!(r.metric_type, MetricType::Qps);
/// assert_eq!(r.specific_items[&ParamValue::from(42u8)], 5);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[doc(alias = "hot parameter")]
#[doc(alias = "param flow")]
#[doc(alias = "ParamFlowRule")]
pub struct HotspotRule {
    /// Optional identifier, shown in block errors and logs.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// The guarded resource.
    pub resource: String,
    /// QPS or concurrency. The default, as in sentinel-golang, is
    /// [`MetricType::Concurrency`]: a rule built with `..Default::default()` limits values
    /// in flight, not a rate, so write the metric out (documents must: a document without
    /// `metricType` is refused).
    pub metric_type: MetricType,
    /// QPS only: reject over the threshold, or pace.
    pub control_behavior: ControlBehavior,
    /// Which argument holds the value (negative counts from the end: -1 is the last).
    pub param_index: i32,
    /// An attachment key holding the value; tried before `param_index`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub param_key: String,
    /// Per value: entries per `duration_in_sec` (QPS) or in flight (concurrency).
    pub threshold: i64,
    /// QPS + Throttling: the longest an entry may be queued.
    pub max_queueing_time_ms: i64,
    /// QPS + Reject: extra tokens a value may spend in a burst.
    pub burst_count: i64,
    /// QPS: the period the threshold counts over (default 1).
    pub duration_in_sec: i64,
    /// Most values tracked at once (0: `min(20000, 4000 * duration_in_sec)` for QPS, 4000
    /// for concurrency).
    pub params_max_capacity: i64,
    /// Thresholds for particular values; a value matches only an item of its own kind
    /// (see [the kinds](HotspotRule#specific-items-and-value-kinds)).
    #[serde(with = "specific_items")]
    pub specific_items: HashMap<ParamValue, i64>,
}

impl Default for HotspotRule {
    fn default() -> Self {
        HotspotRule {
            id: String::new(),
            resource: String::new(),
            metric_type: MetricType::Concurrency,
            control_behavior: ControlBehavior::Reject,
            param_index: 0,
            param_key: String::new(),
            threshold: 0,
            max_queueing_time_ms: 0,
            burst_count: 0,
            duration_in_sec: 1,
            params_max_capacity: 0,
            specific_items: HashMap::new(),
        }
    }
}

impl HotspotRule {
    /// Values tracked at once.
    pub fn capacity(&self) -> usize {
        match (self.params_max_capacity, self.metric_type) {
            (c, _) if c > 0 => c as usize,
            (_, MetricType::Qps) => (4000 * self.duration_in_sec.max(1)).min(20_000) as usize,
            (_, MetricType::Concurrency) => DEFAULT_CONCURRENCY_CAPACITY,
        }
    }

    /// Checks the rule; the first problem found names its field.
    pub fn validate(&self) -> Result<(), FieldError> {
        let count = range::MAX_COUNT as i64;
        if self.resource.trim().is_empty() {
            return Err(FieldError::new("resource", "must not be empty"));
        }
        range::integer("threshold", self.threshold, 0, count)?;
        range::integer("burstCount", self.burst_count, 0, count)?;
        range::integer(
            "maxQueueingTimeMs",
            self.max_queueing_time_ms,
            0,
            u32::MAX as i64,
        )?;
        range::integer(
            "paramsMaxCapacity",
            self.params_max_capacity,
            0,
            MAX_CAPACITY,
        )?;
        let min_duration = match self.metric_type {
            MetricType::Qps => 1,
            MetricType::Concurrency => i64::MIN,
        };
        range::integer(
            "durationInSec",
            self.duration_in_sec,
            min_duration,
            range::MAX_PERIOD_SEC,
        )?;
        if let Some((v, t)) = self
            .specific_items
            .iter()
            .find(|(_, t)| !(0..=count).contains(*t))
        {
            return Err(FieldError::new(
                "specificItems",
                format!("threshold of value {v} must be from 0 to {count}, got {t}"),
            ));
        }
        Ok(())
    }

    /// A one-line description for block errors and logs.
    pub fn describe(&self) -> String {
        let arg = if self.param_key.is_empty() {
            format!("argument {}", self.param_index)
        } else {
            format!(
                "attachment {:?} (else argument {})",
                self.param_key, self.param_index
            )
        };
        match self.metric_type {
            MetricType::Concurrency => {
                format!("at most {} in flight per value of {arg}", self.threshold)
            }
            MetricType::Qps => format!(
                "{} {} per {} s per value of {arg}",
                self.control_behavior, self.threshold, self.duration_in_sec
            ),
        }
    }
}

/// `specificItems` as Go writes it: `[{"valKind": 0|1|2|3, "valStr": "...", "threshold": n}]`
/// (Int, String, Bool, Float64).
mod specific_items {
    use std::collections::HashMap;

    use serde::de::Error as _;
    use serde::ser::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{KIND_NAMES, KINDS_EXPECTED};
    use crate::param::ParamValue;

    /// An item as written.
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Item {
        #[serde(deserialize_with = "val_kind")]
        val_kind: i64,
        #[serde(deserialize_with = "val_str")]
        val_str: String,
        threshold: i64,
    }

    /// An item read, its value parsed: an error is reported at the item's place
    /// (`specificItems[1]`).
    #[derive(Deserialize)]
    #[serde(try_from = "Item")]
    struct Parsed {
        value: ParamValue,
        item: Item,
    }

    impl TryFrom<Item> for Parsed {
        type Error = String;

        fn try_from(item: Item) -> Result<Self, String> {
            Ok(Parsed {
                value: parse(&item)?,
                item,
            })
        }
    }

    /// `valKind` as Go's integer or as a name (`Int`, `String`, `Bool`, `Float64`, also
    /// with a `Kind` prefix, any case).
    fn val_kind<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Name(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(i) => Ok(i),
            Raw::Name(n) => {
                let lower = n.trim().to_ascii_lowercase();
                let name = lower.strip_prefix("kind").unwrap_or(&lower);
                match name {
                    "int" => Ok(0),
                    "string" => Ok(1),
                    "bool" => Ok(2),
                    "float64" | "float" => Ok(3),
                    _ => Err(D::Error::custom(format!(
                        "unknown valKind {n:?}; {KINDS_EXPECTED}"
                    ))),
                }
            }
        }
    }

    /// `valStr` as a string, or a whole number written without quotes (`valStr: 42` in
    /// YAML), taken as its digits.
    fn val_str<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        crate::rules::text_field::string_or_integer(
            d,
            "the value as a string (\"42\", \"vip\", \"true\")",
        )
    }

    /// The value of an item; an error names the field and the kind.
    fn parse(item: &Item) -> Result<ParamValue, String> {
        let s = item.val_str.trim();
        let bad = || {
            format!(
                "valStr {:?} is not {} {} (valKind {})",
                item.val_str,
                if item.val_kind == 0 { "an" } else { "a" },
                KIND_NAMES[item.val_kind as usize],
                item.val_kind
            )
        };
        Ok(match item.val_kind {
            0 => match s.parse::<i64>() {
                Ok(i) => ParamValue::Int(i),
                Err(_) => s.parse::<u64>().map(ParamValue::from).map_err(|_| bad())?,
            },
            1 => ParamValue::from(item.val_str.as_str()),
            2 => ParamValue::Bool(s.parse().map_err(|_| bad())?),
            3 => ParamValue::Float(s.parse().map_err(|_| bad())?),
            k => return Err(format!("unknown valKind {k}; {KINDS_EXPECTED}")),
        })
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<HashMap<ParamValue, i64>, D::Error> {
        let items = Option::<Vec<Parsed>>::deserialize(d)?.unwrap_or_default();
        let mut out: HashMap<ParamValue, (usize, i64)> = HashMap::with_capacity(items.len());
        for (i, Parsed { value, item }) in items.into_iter().enumerate() {
            if let Some((first, _)) = out.insert(value.clone(), (i, item.threshold)) {
                return Err(D::Error::custom(format!(
                    "items {first} and {i} are both for the value {value} \
                     (valKind {}, valStr {:?}); give each value one threshold",
                    item.val_kind, item.val_str
                )));
            }
        }
        Ok(out.into_iter().map(|(v, (_, t))| (v, t)).collect())
    }

    pub(super) fn serialize<S: Serializer>(
        items: &HashMap<ParamValue, i64>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut out: Vec<Item> = items
            .iter()
            .map(|(v, t)| {
                let (val_kind, val_str) = match v {
                    ParamValue::Int(i) => (0, i.to_string()),
                    ParamValue::BigUint(u) => (0, u.to_string()),
                    ParamValue::Str(s) => (1, s.to_string()),
                    ParamValue::Bool(b) => (2, b.to_string()),
                    ParamValue::Float(f) => (3, f.to_string()),
                    ParamValue::Bytes(_) => {
                        return Err(S::Error::custom(
                            "specificItems: byte values cannot be written in sentinel-golang's format",
                        ));
                    }
                };
                Ok(Item {
                    val_kind,
                    val_str,
                    threshold: *t,
                })
            })
            .collect::<Result<_, _>>()?;
        out.sort_by(|a, b| (a.val_kind, &a.val_str).cmp(&(b.val_kind, &b.val_str)));
        out.serialize(s)
    }
}
