//! One line of the metric log, in Sentinel's format:
//!
//! ```text
//! timestampMs|yyyy-MM-dd HH:mm:ss|resource|passQps|blockQps|completeQps|errorQps|avgRt|occupiedPassQps|concurrency|classification
//! ```
//!
//! Times are written in UTC.

use std::fmt::Write as _;

/// One resource's figures for one second.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetricLine {
    /// Start of the second, Unix milliseconds.
    pub timestamp_ms: u64,
    /// The resource (written with control characters escaped and `|` replaced by `_`).
    pub resource: String,
    /// Entries admitted.
    pub pass_qps: u64,
    /// Entries blocked.
    pub block_qps: u64,
    /// Entries completed.
    pub complete_qps: u64,
    /// Completed entries marked failed.
    pub error_qps: u64,
    /// Average RT, milliseconds, rounded, at least 1 when anything completed.
    pub avg_rt: u64,
    /// Entries admitted against future windows (always 0: this library does not borrow
    /// from future windows).
    pub occupied_pass_qps: u64,
    /// Highest concurrency during the second.
    pub concurrency: u64,
    /// The resource type (0 common, 1 web, 2 RPC, 3 API gateway, 4 DB, 5 cache, 6 MQ).
    pub classification: u8,
}

/// Days since 1970-01-01 to a (year, month, day) civil date (proleptic Gregorian).
pub(crate) fn civil_date(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `yyyy-MM-dd` of a Unix millisecond time (UTC).
pub(crate) fn date_of(ms: u64) -> String {
    let (y, m, d) = civil_date((ms / 86_400_000) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `yyyy-MM-dd HH:mm:ss` of a Unix millisecond time (UTC).
pub(crate) fn date_time_of(ms: u64) -> String {
    let secs = ms / 1000;
    let (h, mi, s) = (secs / 3600 % 24, secs / 60 % 60, secs % 60);
    format!("{} {h:02}:{mi:02}:{s:02}", date_of(ms))
}

/// A resource name as the metric log writes it: control and invisible characters escaped
/// (a name cannot forge a line) and `|` written as `_` (as Sentinel does, so its tools
/// split the fields right).
pub(crate) fn log_name(resource: &str) -> String {
    crate::text::escape(resource).replace('|', "_")
}

impl MetricLine {
    /// The line as written to the log, without the newline.
    pub fn to_line(&self) -> String {
        let mut s = String::with_capacity(96 + self.resource.len());
        let _ = write!(
            s,
            "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
            self.timestamp_ms,
            date_time_of(self.timestamp_ms),
            log_name(&self.resource),
            self.pass_qps,
            self.block_qps,
            self.complete_qps,
            self.error_qps,
            self.avg_rt,
            self.occupied_pass_qps,
            self.concurrency,
            self.classification
        );
        s
    }

    /// Parses a line of the log; `None` if it is not one.
    pub fn parse(line: &str) -> Option<MetricLine> {
        let f: Vec<&str> = line.trim_end().split('|').collect();
        if f.len() < 10 {
            return None;
        }
        let n = |i: usize| f[i].trim().parse::<u64>().ok();
        Some(MetricLine {
            timestamp_ms: n(0)?,
            resource: f[2].to_string(),
            pass_qps: n(3)?,
            block_qps: n(4)?,
            complete_qps: n(5)?,
            error_qps: n(6)?,
            avg_rt: n(7)?,
            occupied_pass_qps: n(8)?,
            concurrency: n(9)?,
            classification: f.get(10).and_then(|c| c.trim().parse().ok()).unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn dates_are_utc_civil_dates() {
        assert_eq!(date_time_of(0), "1970-01-01 00:00:00");
        assert_eq!(date_time_of(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(date_time_of(1_767_225_599_000), "2025-12-31 23:59:59");
        assert_eq!(date_time_of(1_767_225_600_000), "2026-01-01 00:00:00");
        assert_eq!(date_of(4_107_542_400_000), "2100-03-01");
    }

    #[test]
    fn lines_have_sentinel_format_and_escape_separators() {
        let l = MetricLine {
            timestamp_ms: 1_767_225_601_000,
            resource: "GET /a|b".into(),
            pass_qps: 10,
            block_qps: 2,
            complete_qps: 9,
            error_qps: 1,
            avg_rt: 3,
            occupied_pass_qps: 0,
            concurrency: 4,
            classification: 1,
        };
        assert_eq!(
            l.to_line(),
            "1767225601000|2026-01-01 00:00:01|GET /a_b|10|2|9|1|3|0|4|1"
        );
        let back = MetricLine::parse(&l.to_line()).unwrap();
        assert_eq!(back.resource, "GET /a_b");
        assert_eq!(back.pass_qps, 10);
        assert_eq!(MetricLine::parse("garbage"), None);
    }

    proptest! {
        #[test]
        fn lines_round_trip(ts in 0u64..4_000_000_000_000, res in "[a-zA-Z0-9 /{}._-]{1,30}", v in proptest::array::uniform8(0u64..1_000_000), c in 0u8..7) {
            let l = MetricLine {
                timestamp_ms: ts, resource: res, pass_qps: v[0], block_qps: v[1], complete_qps: v[2],
                error_qps: v[3], avg_rt: v[4], occupied_pass_qps: v[5], concurrency: v[6], classification: c,
            };
            prop_assert_eq!(MetricLine::parse(&l.to_line()), Some(l));
        }

        #[test]
        fn civil_dates_advance_one_day_at_a_time(days in 0i64..100_000) {
            let (y, m, d) = civil_date(days);
            let (y2, m2, d2) = civil_date(days + 1);
            let next_is_valid = (y2, m2, d2) == (y, m, d + 1)
                || (d2 == 1 && ((m2 == m + 1 && y2 == y) || (m == 12 && m2 == 1 && y2 == y + 1)));
            prop_assert!(next_is_valid, "{:?} -> {:?}", (y, m, d), (y2, m2, d2));
        }
    }
}
