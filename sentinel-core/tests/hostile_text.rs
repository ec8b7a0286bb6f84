//! Resource names and hot values chosen by clients (a custom resource namer, a header) never
//! forge lines or labels in any text output: the metric log, Prometheus exposition,
//! `tracing` events and block errors.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sentinel_core::hotspot::{HotspotRule, MetricType};
use sentinel_core::metric_log::{MetricLine, MetricLogConfig};
use sentinel_core::{ManualClock, Sentinel};

/// Names with a newline, a carriage return, the metric log's separator, NUL, an escape
/// sequence, a bidi override and text outside ASCII.
const NASTY: [&str; 4] = [
    "GET /a\n1767225600000|2026-01-01 00:00:00|forged|9|9|9|9|9|0|9|0",
    "x\ry\0z",
    "名前|ü\u{1b}[2J",
    "admin\u{202e}nimda",
];

fn bad_char(c: char) -> bool {
    c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c)
}

#[test]
fn the_metric_log_keeps_one_line_of_eleven_fields_per_resource() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::with_epoch_unix_ms(1_767_225_600_000);
    let s = Sentinel::builder()
        .clock(clock.clone())
        .metric_log(MetricLogConfig::new(dir.path(), "shop"))
        .build();
    for name in NASTY {
        drop(s.entry(name).try_enter().unwrap());
    }
    clock.advance(Duration::from_secs(2));
    s.flush_metrics();
    let mut lines = Vec::new();
    for file in std::fs::read_dir(dir.path()).unwrap() {
        let path = file.unwrap().path();
        if !path.to_string_lossy().ends_with(".idx") {
            lines.extend(
                std::fs::read_to_string(path)
                    .unwrap()
                    .lines()
                    .map(str::to_owned),
            );
        }
    }
    assert_eq!(lines.len(), NASTY.len(), "{lines:#?}");
    for line in &lines {
        assert_eq!(line.split('|').count(), 11, "{line}");
        assert!(!line.chars().any(bad_char), "{line:?}");
        let parsed = MetricLine::parse(line).unwrap();
        assert_eq!(parsed.pass_qps, 1, "{line}");
    }
    assert!(
        lines.iter().any(|l| l.contains(r"GET /a\n1767225600000_")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("名前_ü")),
        "non-ASCII text stays readable"
    );
    // The reader finds each resource by the name it was entered under.
    let searcher = sentinel_core::metric_log::MetricSearcher::new(dir.path(), "shop");
    for name in NASTY {
        let found = searcher.find(0, u64::MAX, Some(name)).unwrap();
        assert_eq!(found.len(), 1, "{name:?}");
    }
}

#[test]
fn prometheus_labels_stay_on_their_line() {
    let s = Sentinel::builder().clock(ManualClock::new()).build();
    for name in NASTY {
        drop(s.entry(name).try_enter().unwrap());
    }
    let text = sentinel_core::prometheus::render(&s);
    for line in text.lines() {
        assert!(
            line.starts_with('#') || line.starts_with("sentinel_"),
            "a forged line: {line:?}"
        );
        assert!(!line.chars().any(bad_char), "{line:?}");
    }
    assert!(text.contains(r#"resource="x\\ry\\0z""#), "{text}");
}

/// A `tracing` writer that keeps what is written.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn tracing_events_and_block_errors_stay_on_one_line() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let s = Sentinel::builder()
        .clock(ManualClock::new())
        .max_resources(1)
        .build();
    tracing::subscriber::with_default(subscriber, || {
        drop(s.entry("first").try_enter().unwrap());
        // Past the resource limit: the warning names the resource.
        for name in NASTY {
            drop(s.entry(name).try_enter().unwrap());
        }
    });
    let out = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let events = out
        .lines()
        .filter(|l| l.contains("resource limit reached"))
        .count();
    assert_eq!(events, NASTY.len(), "one line per event:\n{out}");
    assert_eq!(out.lines().count(), NASTY.len(), "no forged line:\n{out}");
    assert!(!out.chars().any(|c| c != '\n' && bad_char(c)), "{out:?}");

    // A hot value from a header, in a block error's text.
    let s = Sentinel::builder().clock(ManualClock::new()).build();
    s.load_hotspot_rules(vec![HotspotRule {
        resource: NASTY[0].into(),
        metric_type: MetricType::Qps,
        threshold: 0,
        ..Default::default()
    }])
    .unwrap();
    let block = s.entry(NASTY[0]).arg(NASTY[1]).try_enter().unwrap_err();
    let text = block.to_string();
    assert!(!text.chars().any(bad_char), "{text:?}");
    assert!(text.contains(r"[value x\ry\0z]"), "{text}");
    // A huge value does not make a huge text (it reaches headers and logs).
    let long = "\u{1b}".repeat(50_000);
    let block = s
        .entry(NASTY[0])
        .arg(long.as_str())
        .try_enter()
        .unwrap_err();
    assert!(
        block.to_string().len() < 2_000,
        "{}",
        block.to_string().len()
    );
}
