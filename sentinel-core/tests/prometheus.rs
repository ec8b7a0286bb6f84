//! Prometheus exposition: a scrape of known traffic parses line by line and shows the
//! expected values, including a breaker state change and blocks by type; system gauges
//! appear only once measured; the standalone listener (feature `prometheus-listener`).

use std::time::Duration;

use sentinel_core::circuit_breaker::{CircuitBreakerRule, Strategy};
use sentinel_core::flow::FlowRule;
use sentinel_core::prometheus::Exposition;
use sentinel_core::system::{ProcessMetrics, SystemMetric, SystemRule};
use sentinel_core::{ManualClock, Sentinel};

/// A strict check of the OpenMetrics text format: every line is a comment of a known kind,
/// `# EOF` last, or `name{labels} value` with a valid name, quoted label values and a
/// numeric value. Returns the samples.
fn parse(text: &str) -> Vec<(String, f64)> {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.last(),
        Some(&"# EOF"),
        "the exposition ends with # EOF"
    );
    let mut samples = Vec::new();
    for line in &lines[..lines.len() - 1] {
        if let Some(rest) = line.strip_prefix("# ") {
            let kind = rest.split(' ').next().unwrap();
            assert!(
                ["HELP", "TYPE", "UNIT"].contains(&kind),
                "bad comment: {line}"
            );
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad metric name: {line}"
        );
        assert!(name.starts_with("sentinel_"), "not ours: {line}");
        if name_end < series.len() {
            let labels = &series[name_end..];
            assert!(
                labels.starts_with('{') && labels.ends_with('}'),
                "bad labels: {line}"
            );
            for pair in labels[1..labels.len() - 1]
                .split("\",")
                .filter(|p| !p.is_empty())
            {
                let (k, v) = pair
                    .split_once('=')
                    .unwrap_or_else(|| panic!("bad label: {line}"));
                assert!(
                    k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{line}"
                );
                assert!(v.starts_with('"'), "unquoted label value: {line}");
            }
        }
        samples.push((series.to_string(), value));
    }
    samples
}

fn value(samples: &[(String, f64)], series: &str) -> f64 {
    samples
        .iter()
        .find(|(s, _)| s == series)
        .unwrap_or_else(|| panic!("{series} missing from {samples:#?}"))
        .1
}

#[test]
fn a_scrape_shows_known_traffic() {
    let clock = ManualClock::new();
    let s = Sentinel::builder().clock(clock.clone()).build();
    s.load_flow_rules(vec![FlowRule {
        id: "items-qps".into(),
        resource: "GET /items".into(),
        threshold: 3.0,
        ..Default::default()
    }])
    .unwrap();
    s.load_circuit_breaker_rules(vec![CircuitBreakerRule {
        id: "pay-errors".into(),
        resource: "pay".into(),
        strategy: Strategy::ErrorCount,
        retry_timeout_ms: 1000,
        threshold: 1.0,
        ..Default::default()
    }])
    .unwrap();
    let exposition = Exposition::new(&s);
    for _ in 0..5 {
        let _ = s.entry("GET /items").try_enter();
    }
    s.entry("pay").try_enter().unwrap().set_error("declined");
    assert!(s.entry("pay").try_enter().is_err(), "the breaker opened");
    clock.advance(Duration::from_millis(1000));
    s.flush_metrics();

    // The breaker transition reaches the collector through the dispatcher thread.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let samples = loop {
        let samples = parse(&exposition.render());
        let transitions = samples
            .iter()
            .any(|(s, _)| s.starts_with("sentinel_circuit_breaker_transitions_total"));
        if transitions || std::time::Instant::now() > deadline {
            break samples;
        }
        std::thread::yield_now();
    };
    let items = "resource=\"GET /items\"";
    assert_eq!(
        value(
            &samples,
            &format!("sentinel_entries_total{{{items},result=\"pass\",block_type=\"\"}}")
        ),
        3.0
    );
    assert_eq!(
        value(
            &samples,
            &format!("sentinel_entries_total{{{items},result=\"block\",block_type=\"Flow\"}}")
        ),
        2.0
    );
    assert_eq!(
        value(
            &samples,
            "sentinel_entries_total{resource=\"pay\",result=\"block\",block_type=\"CircuitBreaking\"}"
        ),
        1.0
    );
    assert_eq!(
        value(&samples, "sentinel_errors_total{resource=\"pay\"}"),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            &format!("sentinel_flow_threshold{{{items},rule_id=\"items-qps\"}}")
        ),
        3.0
    );
    assert_eq!(
        value(
            &samples,
            "sentinel_circuit_breaker_state{resource=\"pay\",rule_id=\"pay-errors\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "sentinel_circuit_breaker_transitions_total{resource=\"pay\",rule_id=\"pay-errors\",from=\"Closed\",to=\"Open\"}"
        ),
        1.0
    );
    assert_eq!(
        value(&samples, &format!("sentinel_in_flight{{{items}}}")),
        0.0
    );
}

#[test]
fn system_gauges_are_exported_only_once_measured() {
    // The machine as a directory: a load average, and no CPU figures at all.
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("proc")).unwrap();
    std::fs::write(
        root.path().join("proc/loadavg"),
        "3.25 2.00 1.00 1/90 4242\n",
    )
    .unwrap();
    let s = Sentinel::builder()
        .system_metrics(
            ProcessMetrics::with_interval(Duration::from_secs(3600)).with_root(root.path()),
        )
        .build();
    let exposition = Exposition::new(&s);
    let names = |text: &str| -> Vec<String> {
        parse(text)
            .into_iter()
            .map(|(series, _)| series)
            .filter(|series| series.starts_with("sentinel_system_"))
            .collect()
    };

    // No system rule: nothing samples the machine, so no system gauge reads a false 0.
    let before = exposition.render();
    assert_eq!(names(&before), Vec::<String>::new(), "{before}");
    assert!(!before.contains("sentinel_system_load1"), "{before}");
    assert_eq!(value(&parse(&before), "sentinel_inbound_pass_qps"), 0.0);

    // A load rule starts the sampler: the load is measured; CPU usage, with no figures to
    // read, stays out.
    s.load_system_rules(vec![SystemRule {
        metric_type: SystemMetric::Load,
        trigger_count: 100.0,
        ..Default::default()
    }])
    .unwrap();
    let after = exposition.render();
    assert_eq!(names(&after), ["sentinel_system_load1"], "{after}");
    assert_eq!(value(&parse(&after), "sentinel_system_load1"), 3.25);
}

#[cfg(feature = "prometheus-listener")]
#[test]
fn the_standalone_listener_serves_metrics_on_loopback() {
    use sentinel_core::prometheus::serve;
    use std::io::{Read, Write};

    let s = Sentinel::new();
    drop(s.entry("ping").try_enter().unwrap());
    let server = serve(&s, "127.0.0.1:0").unwrap();
    let mut conn = std::net::TcpStream::connect(server.local_addr()).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("openmetrics-text"), "{response}");
    let body = response.split("\r\n\r\n").nth(1).unwrap();
    let samples = parse(body);
    assert!(
        samples
            .iter()
            .any(|(s, _)| s.starts_with("sentinel_in_flight{resource=\"ping\"}"))
    );
    drop(server);
}
