//! Memory stays bounded: one million distinct values through a hot-parameter rule with
//! capacity 10,000. Prints the values tracked and the growth of the process's resident
//! memory (Linux: from /proc/self/status).
//!
//! ```text
//! cargo run --release --example hotspot_memory
//! ```

use sentinel_core::hotspot::{HotspotRule, MetricType};
use sentinel_core::{ManualClock, Sentinel};

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sentinel = Sentinel::builder().clock(ManualClock::new()).build();
    sentinel.load_hotspot_rules(vec![HotspotRule {
        resource: "GET /users/{id}".into(),
        metric_type: MetricType::Qps,
        threshold: 5,
        params_max_capacity: 10_000,
        ..Default::default()
    }])?;
    let before = rss_kib();
    for i in 0..1_000_000u64 {
        // Strings, so every value owns a heap allocation while tracked.
        let id = format!("user-{i:08}");
        drop(sentinel.entry("GET /users/{id}").arg(id).try_enter());
    }
    let after = rss_kib();
    println!(
        "values tracked after 1,000,000 distinct values: {:?} (capacity 10,000)",
        sentinel.hotspot_tracked_values("GET /users/{id}")
    );
    match (before, after) {
        (Some(b), Some(a)) => println!(
            "resident memory: {:.1} MiB before, {:.1} MiB after, grew {:.1} MiB",
            b as f64 / 1024.0,
            a as f64 / 1024.0,
            a.saturating_sub(b) as f64 / 1024.0
        ),
        _ => println!("resident memory: not available on this platform"),
    }
    Ok(())
}
