//! Argument values of entries, for hot-parameter rules.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// A value passed with an entry (`.arg(...)`, `.attachment(...)`).
///
/// Values compare by value, not by Rust type: every integer type maps to one
/// representation, so `5i32`, `5u64` and `5i64` are the same key.
///
/// ```
/// use sentinel_core::ParamValue;
/// assert_eq!(ParamValue::from(5i32), ParamValue::from(5u64));
/// assert_eq!(ParamValue::from("a"), ParamValue::from(String::from("a")));
/// assert_ne!(ParamValue::from(5), ParamValue::from("5"));
/// ```
#[derive(Clone, Debug)]
pub enum ParamValue {
    /// Any integer that fits in `i64`.
    Int(i64),
    /// An unsigned integer above `i64::MAX`.
    BigUint(u64),
    /// A float (`-0.0` equals `0.0`; all NaNs are one key).
    Float(f64),
    /// A string.
    Str(Arc<str>),
    /// A boolean.
    Bool(bool),
    /// Raw bytes.
    Bytes(Arc<[u8]>),
}

impl ParamValue {
    fn float_key(f: f64) -> u64 {
        if f.is_nan() {
            f64::NAN.to_bits()
        } else if f == 0.0 {
            0
        } else {
            f.to_bits()
        }
    }
}

impl PartialEq for ParamValue {
    fn eq(&self, other: &Self) -> bool {
        use ParamValue::*;
        match (self, other) {
            (Int(a), Int(b)) => a == b,
            (BigUint(a), BigUint(b)) => a == b,
            (Float(a), Float(b)) => Self::float_key(*a) == Self::float_key(*b),
            (Str(a), Str(b)) => a == b,
            (Bool(a), Bool(b)) => a == b,
            (Bytes(a), Bytes(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for ParamValue {}

impl Hash for ParamValue {
    fn hash<H: Hasher>(&self, h: &mut H) {
        std::mem::discriminant(self).hash(h);
        match self {
            ParamValue::Int(v) => v.hash(h),
            ParamValue::BigUint(v) => v.hash(h),
            ParamValue::Float(v) => Self::float_key(*v).hash(h),
            ParamValue::Str(v) => v.hash(h),
            ParamValue::Bool(v) => v.hash(h),
            ParamValue::Bytes(v) => v.hash(h),
        }
    }
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Int(v) => write!(f, "{v}"),
            ParamValue::BigUint(v) => write!(f, "{v}"),
            ParamValue::Float(v) => write!(f, "{v}"),
            ParamValue::Str(v) => f.write_str(v),
            ParamValue::Bool(v) => write!(f, "{v}"),
            ParamValue::Bytes(v) => {
                for b in v.iter() {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }
    }
}

macro_rules! from_signed {
    ($($t:ty),*) => {$(
        impl From<$t> for ParamValue {
            fn from(v: $t) -> Self { ParamValue::Int(v as i64) }
        }
    )*};
}
from_signed!(i8, i16, i32, i64, u8, u16, u32);

macro_rules! from_wide {
    ($($t:ty),*) => {$(
        impl From<$t> for ParamValue {
            fn from(v: $t) -> Self {
                match i64::try_from(v) {
                    Ok(i) => ParamValue::Int(i),
                    Err(_) => match u64::try_from(v) {
                        Ok(u) => ParamValue::BigUint(u),
                        Err(_) => ParamValue::Float(v as f64),
                    },
                }
            }
        }
    )*};
}
from_wide!(u64, usize, isize, i128, u128);

impl From<f64> for ParamValue {
    fn from(v: f64) -> Self {
        ParamValue::Float(v)
    }
}
impl From<f32> for ParamValue {
    fn from(v: f32) -> Self {
        ParamValue::Float(v as f64)
    }
}
impl From<bool> for ParamValue {
    fn from(v: bool) -> Self {
        ParamValue::Bool(v)
    }
}
impl From<&str> for ParamValue {
    fn from(v: &str) -> Self {
        ParamValue::Str(v.into())
    }
}
impl From<String> for ParamValue {
    fn from(v: String) -> Self {
        ParamValue::Str(v.into())
    }
}
impl From<Arc<str>> for ParamValue {
    fn from(v: Arc<str>) -> Self {
        ParamValue::Str(v)
    }
}
impl From<&[u8]> for ParamValue {
    fn from(v: &[u8]) -> Self {
        ParamValue::Bytes(v.into())
    }
}
impl From<Vec<u8>> for ParamValue {
    fn from(v: Vec<u8>) -> Self {
        ParamValue::Bytes(v.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn integers_of_every_width_are_one_key() {
        let set: HashSet<ParamValue> = [
            ParamValue::from(5i8),
            ParamValue::from(5u16),
            ParamValue::from(5i32),
            ParamValue::from(5u64),
            ParamValue::from(5usize),
            ParamValue::from(5i128),
        ]
        .into_iter()
        .collect();
        assert_eq!(set.len(), 1);
        assert_eq!(ParamValue::from(u64::MAX), ParamValue::BigUint(u64::MAX));
        assert_eq!(ParamValue::from(-0.0), ParamValue::from(0.0));
        assert_eq!(ParamValue::from(vec![1u8, 255]).to_string(), "01ff");
    }
}
