//! Ranges of numeric rule fields: every number a rule holds stays inside bounds that keep
//! the arithmetic built on it exact (no overflow, no division by zero) and its memory
//! bounded, and a value outside them is an error naming the field.

use super::error::FieldError;

/// The largest threshold or count a rule may hold (the statistics count up to 2^40).
pub const MAX_COUNT: f64 = 1e12;
/// The longest period a rule may name, in seconds (one day).
pub const MAX_PERIOD_SEC: i64 = 86_400;
/// The longest period a rule may name, in milliseconds (one day).
pub const MAX_PERIOD_MS: u64 = MAX_PERIOD_SEC as u64 * 1000;

/// `value` must be a finite number in `0..=max`.
pub(crate) fn number(field: &'static str, value: f64, max: f64) -> Result<(), FieldError> {
    if value.is_finite() && (0.0..=max).contains(&value) {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("must be a number from 0 to {max}, got {value}"),
        ))
    }
}

/// `value` must lie in `min..=max`.
pub(crate) fn integer<T>(field: &'static str, value: T, min: T, max: T) -> Result<(), FieldError>
where
    T: PartialOrd + std::fmt::Display + Copy,
{
    if value >= min && value <= max {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("must be from {min} to {max}, got {value}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_inclusive_and_name_the_field() {
        assert!(number("threshold", MAX_COUNT, MAX_COUNT).is_ok());
        let e = number("threshold", f64::NAN, MAX_COUNT).unwrap_err();
        assert_eq!(e.field, "threshold");
        assert!(number("threshold", -0.5, MAX_COUNT).is_err());
        assert!(integer("durationInSec", 86_400i64, 1, MAX_PERIOD_SEC).is_ok());
        let e = integer("durationInSec", 1i64 << 62, 1, MAX_PERIOD_SEC).unwrap_err();
        assert!(e.reason.contains("4611686018427387904"), "{}", e.reason);
    }
}
