//! Division by a length fixed when a window is built, without a division instruction.
//!
//! A 64-bit division costs tens of cycles; windows divide the clock by their bucket length
//! on every entry or exit. A [`Divisor`] prepares the reciprocal once and divides with a
//! multiplication, a shift and one correction step.

/// A divisor prepared for fast exact division.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Divisor {
    d: u64,
    /// `floor(2^(63 + k) / d)`, with `2^(k - 1) < d <= 2^k` (unused for powers of two).
    m: u64,
    /// `k - 1`, or the shift of a power of two.
    shift: u32,
    power_of_two: bool,
}

impl Divisor {
    /// Prepares division by `d` (at least 1).
    pub(crate) fn new(d: u64) -> Self {
        let d = d.max(1);
        if d.is_power_of_two() {
            return Divisor {
                d,
                m: 0,
                shift: d.trailing_zeros(),
                power_of_two: true,
            };
        }
        // d is not a power of two, so d > 2^(k - 1) and the quotient fits in 64 bits.
        let k = 64 - (d - 1).leading_zeros();
        Divisor {
            d,
            m: ((1u128 << (63 + k)) / d as u128) as u64,
            shift: k - 1,
            power_of_two: false,
        }
    }

    /// `n / d`, exactly.
    #[inline]
    pub(crate) fn divide(&self, n: u64) -> u64 {
        if self.power_of_two {
            return n >> self.shift;
        }
        // The estimate is the quotient or one less: m is below 2^(63 + k) / d by less than
        // one, which moves n·m / 2^(63 + k) by less than n / 2^(63 + k) <= 1.
        let q = ((n as u128 * self.m as u128) >> 64) as u64 >> self.shift;
        let r = n - q * self.d;
        q + u64::from(r >= self.d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn divides_edge_values_exactly() {
        for d in [
            1,
            2,
            3,
            7,
            10,
            1_000_000,
            100_000_000,
            1_000_000_000,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let div = Divisor::new(d);
            for n in [
                0,
                1,
                d - 1,
                d,
                d.saturating_add(1),
                u64::MAX / 2,
                u64::MAX - 1,
                u64::MAX,
            ] {
                assert_eq!(div.divide(n), n / d, "{n} / {d}");
            }
        }
    }

    proptest! {
        #[test]
        fn divides_like_the_division_instruction(n in any::<u64>(), d in 1u64..) {
            prop_assert_eq!(Divisor::new(d).divide(n), n / d);
        }

        #[test]
        fn divides_clock_times_by_bucket_lengths(n in any::<u64>(), ms in 1u64..100_000) {
            let d = ms * 1_000_000;
            prop_assert_eq!(Divisor::new(d).divide(n), n / d);
        }
    }
}
