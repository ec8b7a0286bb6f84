//! Metric log behaviour with a manual clock and real files in a temporary directory.

use std::time::Duration;

use super::{MetricLine, MetricLogConfig, MetricSearcher};
use crate::flow::FlowRule;
use crate::{ManualClock, ResourceType, Sentinel, TrafficType};

/// 2026-01-01T00:00:00Z
const EPOCH: u64 = 1_767_225_600_000;

fn instance(dir: &std::path::Path, clock: &ManualClock, size: u64, files: usize) -> Sentinel {
    let s = Sentinel::builder()
        .clock(clock.clone())
        .metric_log(MetricLogConfig {
            max_file_size: size,
            max_files: files,
            ..MetricLogConfig::new(dir, "shop")
        })
        .build();
    s.load_flow_rules(vec![FlowRule {
        resource: "GET /items".into(),
        threshold: 3.0,
        ..Default::default()
    }])
    .unwrap();
    s
}

fn file_names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn known_traffic_gives_exactly_the_expected_lines() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let s = instance(dir.path(), &clock, 1 << 20, 5);
    // Second 0: 5 inbound calls, 3 pass (10 ms each, one failing), 2 blocked.
    for i in 0..5 {
        if let Ok(e) = s
            .entry("GET /items")
            .traffic(TrafficType::Inbound)
            .resource_type(ResourceType::Web)
            .try_enter()
        {
            if i == 0 {
                e.set_error("boom");
            }
            clock.advance(Duration::from_millis(10));
        }
    }
    // Second 1: one 300 µs call of another resource, and one still in flight at the end.
    clock.set(Duration::from_millis(1500));
    drop(
        s.entry("db")
            .resource_type(ResourceType::DbSql)
            .try_enter()
            .unwrap(),
    );
    clock.advance(Duration::from_micros(300));
    let held = s.entry("db").try_enter().unwrap();
    clock.set(Duration::from_millis(2000));
    s.flush_metrics();
    drop(held);

    let text = std::fs::read_to_string(dir.path().join("shop-metrics.log.2026-01-01")).unwrap();
    let expected = [
        "1767225600000|2026-01-01 00:00:00|GET /items|3|2|3|1|10|0|1|1",
        "1767225600000|2026-01-01 00:00:00|__total_inbound_traffic__|3|2|3|1|10|0|1|0",
        "1767225601000|2026-01-01 00:00:01|db|2|0|1|0|1|0|1|4",
    ];
    assert_eq!(text.lines().collect::<Vec<_>>(), expected);
    let totals = s.resource_totals("GET /items").unwrap();
    assert_eq!((totals.pass, totals.block, totals.error), (3, 2, 1));
    // Flushing again writes nothing twice.
    s.flush_metrics();
    let again = std::fs::read_to_string(dir.path().join("shop-metrics.log.2026-01-01")).unwrap();
    assert_eq!(again, text);
}

#[test]
fn files_roll_by_size_keep_a_bounded_count_and_are_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let s = instance(dir.path(), &clock, 150, 3);
    for _ in 0..10 {
        drop(s.entry("GET /items").try_enter());
        clock.advance(Duration::from_secs(1));
        s.flush_metrics();
    }
    // Each second's line is 64 bytes: a file of 150 bytes takes three seconds, so ten
    // seconds make four files, of which the newest three are kept.
    assert_eq!(
        file_names(dir.path()),
        [
            "shop-metrics.log.2026-01-01.1",
            "shop-metrics.log.2026-01-01.1.idx",
            "shop-metrics.log.2026-01-01.2",
            "shop-metrics.log.2026-01-01.2.idx",
            "shop-metrics.log.2026-01-01.3",
            "shop-metrics.log.2026-01-01.3.idx",
        ]
    );
    // The index finds the offset of the second written second of a file.
    let third = dir.path().join("shop-metrics.log.2026-01-01.2");
    let text = std::fs::read_to_string(&third).unwrap();
    let first_len = text.lines().next().unwrap().len() as u64 + 1;
    let first_second = MetricLine::parse(text.lines().next().unwrap())
        .unwrap()
        .timestamp_ms
        / 1000;
    assert_eq!(
        MetricSearcher::offset_of(&third, first_second as i64 + 1).unwrap(),
        Some(first_len)
    );
    // The reader returns the lines of a range, from the files still kept.
    let found = MetricSearcher::new(dir.path(), "shop")
        .find(EPOCH + 5000, EPOCH + 7000, Some("GET /items"))
        .unwrap();
    let seconds: Vec<u64> = found
        .iter()
        .map(|l| (l.timestamp_ms - EPOCH) / 1000)
        .collect();
    assert_eq!(seconds, [5, 6, 7]);
    assert!(found.iter().all(|l| l.pass_qps == 1));
}

#[test]
fn files_roll_by_day() {
    let dir = tempfile::tempdir().unwrap();
    // Two seconds before midnight.
    let clock = ManualClock::with_epoch_unix_ms(EPOCH + 86_400_000 - 2000);
    let s = instance(dir.path(), &clock, 1 << 20, 10);
    for _ in 0..4 {
        drop(s.entry("GET /items").try_enter());
        clock.advance(Duration::from_secs(1));
        s.flush_metrics();
    }
    assert_eq!(
        file_names(dir.path()),
        [
            "shop-metrics.log.2026-01-01",
            "shop-metrics.log.2026-01-01.idx",
            "shop-metrics.log.2026-01-02",
            "shop-metrics.log.2026-01-02.idx",
        ]
    );
    let all = MetricSearcher::new(dir.path(), "shop")
        .find(0, u64::MAX, None)
        .unwrap();
    assert_eq!(all.len(), 4);
    assert!(
        all.windows(2)
            .all(|w| w[0].timestamp_ms + 1000 == w[1].timestamp_ms)
    );
}
